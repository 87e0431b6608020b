// Package tsdb is the Go binding of libtsdb, an embeddable time-series storage engine.
//
// A database is a directory of metrics; a metric has a unique name and a uint64 id; a point
// is an (int64 timestamp, float64 value) pair. Write through a *DB (Insert, InsertBatch, or
// an atomic multi-metric Batch; DeleteRange removes points); read through a snapshot
// (DB.Begin returns a *Txn): its cursors (Txn.Scan), bucketed aggregates (Txn.Aggregate,
// Txn.AggregateIter) and metric listings (Txn.Metrics). DB.Stats reports what the database
// holds; Options.Retention, DB.SetRetention and DB.EnforceRetention bound how long it keeps
// points. See tsdb.h for the full semantics, which this package keeps.
//
// # Handles
//
// DB, Txn, Cursor and MetricIter wrap C handles. Free them deterministically with DB.Close,
// Txn.Release, Cursor.Close and MetricIter.Close; a handle that is dropped without that is
// freed by a finalizer when the garbage collector finds it. A Txn, Cursor or MetricIter
// keeps its DB reachable, so a DB is never finalized before its children. DB.Close fails
// with ErrBusy while a Txn, Cursor or MetricIter of it is live (unreleased), as ts_close
// does, and the DB stays usable. Calls on a closed or released handle return an error that
// errors.Is(err, ErrClosed); they never crash.
//
// # Goroutines
//
// A DB may be used from any number of goroutines at once, and so may a Txn. A Cursor,
// AggIter or MetricIter is meant for one goroutine at a time; concurrent calls are
// serialised, never unsafe. Close
// and Release may be called concurrently with anything: they wait for calls in progress.
//
// # Errors
//
// Every error is an *Error carrying the library's status and its message, read in the same
// C call that failed (ts_errmsg is thread-local and goroutines move between threads). Test
// with errors.Is against ErrNotFound, ErrExists, ErrInvalidArgument, ErrBusy, ErrIOError,
// ErrCorruption, ErrClosed and ErrInternal.
//
// # Linking
//
// By default the package links -ltsdb (the shared library): set CGO_CFLAGS=-I<dir of
// tsdb.h> and CGO_LDFLAGS="-L<dir of libtsdb.so> -Wl,-rpath,<same dir>" unless they are
// installed where the compiler looks anyway. Build with -tags tsdb_static to link
// libtsdb.a instead (-l:libtsdb.a -lm -ldl -lpthread; CGO_LDFLAGS=-L<dir of libtsdb.a>), or
// with -tags tsdb_pkgconfig to take every flag from `pkg-config tsdb`.
package tsdb

/*
#cgo !tsdb_static,!tsdb_pkgconfig LDFLAGS: -ltsdb
#cgo tsdb_static,!tsdb_pkgconfig LDFLAGS: -l:libtsdb.a -lm -ldl -lpthread
#cgo tsdb_pkgconfig pkg-config: tsdb
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

const (
	// MaxTimestamp is the largest timestamp a point may have (TS_MAX_TIMESTAMP): scans end
	// before an exclusive until, so math.MaxInt64 itself is rejected.
	MaxTimestamp int64 = math.MaxInt64 - 1
	// MaxNameLen is the longest metric name, in bytes of UTF-8 (TS_MAX_NAME_LEN).
	MaxNameLen = 1024
	// MaxPartitionPoints is the largest Options.PartitionPoints (TS_MAX_PARTITION_POINTS).
	MaxPartitionPoints = 524288
)

// HeaderVersion is the version of the tsdb.h this package was compiled against.
var HeaderVersion = strconv.Itoa(C.TS_VERSION_MAJOR) + "." + strconv.Itoa(C.TS_VERSION_MINOR) +
	"." + strconv.Itoa(C.TS_VERSION_PATCH)

// Version returns the version of the linked library, "MAJOR.MINOR.PATCH" (ts_version).
func Version() string { return C.GoString(C.ts_version()) }

// SyncMode says when acknowledged writes are forced to stable storage. Every write is in
// the write-ahead log when its call returns, so a crash of the process loses nothing under
// any mode; the mode decides what a power loss may lose.
type SyncMode int

const (
	// SyncInterval fsyncs from a background thread every Options.SyncInterval (default
	// 100 ms): a power loss loses at most about that much. The default (zero value).
	SyncInterval SyncMode = iota
	// SyncAlways fsyncs before each write returns (concurrent writers share one fsync).
	SyncAlways
	// SyncNone never fsyncs explicitly; the OS writes back in its own time.
	SyncNone
)

// Options configure Open. The zero value (and a nil *Options) means the library's
// defaults; every zero field keeps its default. See the ts_options_set_* functions of
// tsdb.h for the meaning and the allowed ranges; values out of range make Open fail with
// ErrInvalidArgument.
type Options struct {
	// ErrorIfMissing makes Open fail with ErrNotFound when the directory does not exist,
	// instead of creating it (create_if_missing = false).
	ErrorIfMissing bool
	// PartitionPoints: points at which a head partition is sealed (default 4096; 2..=524288).
	PartitionPoints uint32
	// HeadRunPoints: newest head points kept uncompressed (default 16; 1..=524288).
	HeadRunPoints uint32
	// RawHeadBudget: bytes of uncompressed head points in all. 0 means the default
	// (64 MiB); a negative value sets 0 bytes, which compresses every head.
	RawHeadBudget int64
	// Sync is the sync mode (default SyncInterval).
	Sync SyncMode
	// SyncInterval is the fsync period for SyncInterval, in whole milliseconds from 1 ms to
	// 60 s (default 100 ms). Ignored by the other modes.
	SyncInterval time.Duration
	// CheckpointBytes: log bytes written between background checkpoints (default 64 MiB;
	// at least 4096).
	CheckpointBytes uint64
	// Retention is the default retention span, in timestamp units: a sealed partition
	// whose points are all older than its metric's newest sealed timestamp minus the span
	// is dropped by background work (see DB.SetRetention for a metric's own span, and
	// DB.EnforceRetention). 0 keeps everything (the default); negative values are rejected.
	Retention int64
}

func (o *Options) toC(c *C.tsgo_options) {
	if o.ErrorIfMissing {
		c.set_create_if_missing = 1
		c.create_if_missing = 0
	}
	c.partition_points = C.uint32_t(o.PartitionPoints)
	c.head_run_points = C.uint32_t(o.HeadRunPoints)
	if o.RawHeadBudget != 0 {
		c.set_raw_head_budget = 1
		if o.RawHeadBudget > 0 {
			c.raw_head_budget = C.uint64_t(o.RawHeadBudget)
		}
	}
	if o.Sync != SyncInterval || o.SyncInterval != 0 {
		c.set_sync = 1
		switch o.Sync {
		case SyncInterval:
			c.sync_mode = C.TS_SYNC_INTERVAL
		case SyncAlways:
			c.sync_mode = C.TS_SYNC_ALWAYS
		case SyncNone:
			c.sync_mode = C.TS_SYNC_NONE
		default:
			c.sync_mode = math.MaxUint32 // not a ts_sync value: the library rejects it
		}
		ms := int64(100)
		if o.SyncInterval != 0 {
			ms = int64(o.SyncInterval / time.Millisecond)
			if ms < 0 || o.SyncInterval%time.Millisecond != 0 {
				ms = 0 // out of range: the library rejects it with its message
			}
			if ms > math.MaxUint32 {
				ms = math.MaxUint32
			}
		}
		c.sync_interval_ms = C.uint32_t(ms)
	}
	c.checkpoint_bytes = C.uint64_t(o.CheckpointBytes)
	c.retention = C.int64_t(o.Retention) // a negative span: the library rejects it
}

// DB is an open database. Its methods may be called from any number of goroutines.
type DB struct {
	// mu is held for reading by every call into the library on this database or on one of
	// its Txns and Cursors, and for writing by Close: ts_close must not overlap any of them.
	mu sync.RWMutex
	p  *C.ts_db // nil once closed
}

// Open opens (by default creating) the database in directory path; opts may be nil.
//
// It fails with ErrBusy if the database is open already, in this process or another;
// ErrNotFound if the directory is missing and opts.ErrorIfMissing is set; ErrIOError or
// ErrCorruption if its files cannot be read or fail their checks; ErrInvalidArgument for a
// bad option or a path that is not a directory.
func Open(path string, opts *Options) (*DB, error) {
	const op = "Open"
	if strings.IndexByte(path, 0) >= 0 {
		return nil, newError(op, StatusInvalidArgument, "path contains a NUL byte")
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var copts *C.tsgo_options // nil: the defaults
	if opts != nil {
		copts = new(C.tsgo_options)
		opts.toC(copts)
	}
	var p *C.ts_db
	if err := check(op, C.tsgo_open(cpath, copts, &p)); err != nil {
		return nil, err
	}
	db := &DB{p: p}
	runtime.SetFinalizer(db, (*DB).finalize)
	return db, nil
}

// Close closes the database: it stops the background work, writes a final checkpoint and
// frees the handle. It waits for calls in progress on other goroutines.
//
// With live snapshots or cursors (a Txn not released, a Cursor not closed or exhausted) it
// returns ErrBusy and the database stays open and usable. ErrIOError means the final
// checkpoint could not be written; the database is closed anyway and nothing is lost (the
// next Open replays the log). Closing a closed DB returns ErrClosed.
func (db *DB) Close() error {
	const op = "DB.Close"
	if db == nil {
		return closedError(op, "database (nil *DB)")
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.p == nil {
		return closedError(op, "database")
	}
	r := C.tsgo_close(db.p)
	if Status(r.status) == StatusBusy {
		return resultError(op, r) // still open, same handle
	}
	db.p = nil
	runtime.SetFinalizer(db, nil)
	return check(op, r)
}

func (db *DB) finalize() {
	db.Close() // ErrBusy is impossible here: live Txns and Cursors keep db reachable.
}

// acquire read-locks db for one call into the library and returns its handle, or an
// ErrClosed error (and no lock) if db is closed. The caller calls db.mu.RUnlock.
func (db *DB) acquire(op string) (*C.ts_db, error) {
	if db == nil {
		return nil, closedError(op, "database (nil *DB)")
	}
	db.mu.RLock()
	if db.p == nil {
		db.mu.RUnlock()
		return nil, closedError(op, "database")
	}
	return db.p, nil
}

// Checkpoint moves every acknowledged write into the data files and the manifest now, and
// deletes the write-ahead log before it, so the next Open replays less (ts_checkpoint).
func (db *DB) Checkpoint() error {
	const op = "DB.Checkpoint"
	p, err := db.acquire(op)
	if err != nil {
		return err
	}
	r := C.tsgo_checkpoint(p)
	db.mu.RUnlock()
	return check(op, r)
}

// check turns a wrapper's result into nil (TS_OK) or an *Error, freeing the message.
func check(op string, r C.tsgo_result) error {
	if r.status == C.TS_OK {
		return nil
	}
	return resultError(op, r)
}

func resultError(op string, r C.tsgo_result) *Error {
	msg := "(the error message could not be copied: out of memory)"
	if r.msg != nil {
		msg = C.GoString(r.msg)
		C.free(unsafe.Pointer(r.msg))
	}
	return &Error{Status: Status(r.status), Op: op, Msg: msg}
}

// cString converts a metric name for C; names holding a NUL byte are rejected here, as C
// would silently cut them short. The caller frees the result.
func cString(op, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, newError(op, StatusInvalidArgument, "name contains a NUL byte: "+strconv.Quote(s))
	}
	return C.CString(s), nil
}
