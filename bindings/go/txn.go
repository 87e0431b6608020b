package tsdb

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Txn is a snapshot: a consistent, read-only view of the whole database at one instant.
// It sees every write whose call returned before DB.Begin was called and nothing that
// started after it; repeated scans return identical results while writers run. A dropped
// metric stays readable in snapshots older than the drop.
//
// A Txn may be used by any number of goroutines at once. Release it promptly: a live
// snapshot keeps every partition it can see in memory, and DB.Close fails with ErrBusy
// while it is live.
type Txn struct {
	db *DB // keeps the DB reachable (and unfinalized) while the snapshot is live
	mu sync.RWMutex
	p  *C.ts_txn // nil once released
}

// Begin starts a snapshot of db (ts_txn_begin: O(1), takes no lock, never waits for
// writers). Release it when done.
func (db *DB) Begin() (*Txn, error) {
	const op = "DB.Begin"
	p, err := db.acquire(op)
	if err != nil {
		return nil, err
	}
	var tp *C.ts_txn
	r := C.tsgo_txn_begin(p, &tp)
	db.mu.RUnlock()
	if err := check(op, r); err != nil {
		return nil, err
	}
	t := &Txn{db: db, p: tp}
	runtime.SetFinalizer(t, (*Txn).finalize)
	return t, nil
}

// Release unpins the snapshot. Cursors opened on it stay valid (each holds its own
// reference) until they are closed. Releasing twice is a no-op; any other call on a
// released Txn returns ErrClosed.
func (t *Txn) Release() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p == nil {
		return
	}
	t.db.mu.RLock()
	C.ts_txn_release(t.p)
	t.db.mu.RUnlock()
	t.p = nil
	runtime.SetFinalizer(t, nil)
}

func (t *Txn) finalize() {
	t.Release()
}

// acquire read-locks t and its DB for one call into the library; the caller calls
// t.releaseLocks.
func (t *Txn) acquire(op string) (*C.ts_txn, error) {
	if t == nil {
		return nil, closedError(op, "snapshot (nil *Txn)")
	}
	t.mu.RLock()
	if t.p == nil {
		t.mu.RUnlock()
		return nil, closedError(op, "snapshot")
	}
	t.db.mu.RLock() // never closed under a live snapshot: ts_close would say TS_BUSY
	return t.p, nil
}

func (t *Txn) releaseLocks() {
	t.db.mu.RUnlock()
	t.mu.RUnlock()
}

// Lookup returns the id of the metric called name as of this snapshot; ErrNotFound if no
// metric has that name in it (e.g. one created after the snapshot began).
func (t *Txn) Lookup(name string) (uint64, error) {
	const op = "Txn.Lookup"
	cname, err := cString(op, name)
	if err != nil {
		return 0, err
	}
	defer C.free(unsafe.Pointer(cname))
	p, err := t.acquire(op)
	if err != nil {
		return 0, err
	}
	var id C.uint64_t
	r := C.tsgo_metric_lookup(p, cname, &id)
	t.releaseLocks()
	if err := check(op, r); err != nil {
		return 0, err
	}
	return uint64(id), nil
}

// MetricCount returns the number of live metrics in this snapshot.
func (t *Txn) MetricCount() (uint64, error) {
	const op = "Txn.MetricCount"
	p, err := t.acquire(op)
	if err != nil {
		return 0, err
	}
	var n C.uint64_t
	r := C.tsgo_txn_metric_count(p, &n)
	t.releaseLocks()
	if err := check(op, r); err != nil {
		return 0, err
	}
	return uint64(n), nil
}

// Scan opens a cursor over metric id's points with from <= ts < until as of this snapshot,
// in ascending timestamp order. from == until gives an empty cursor. ErrNotFound if id
// names no metric in the snapshot; ErrInvalidArgument if from > until.
//
// The cursor holds its own reference to the snapshot, so t may be released first. Close the
// cursor when done (it is closed automatically once exhausted or failed).
func (t *Txn) Scan(id uint64, from, until int64) (*Cursor, error) {
	const op = "Txn.Scan"
	p, err := t.acquire(op)
	if err != nil {
		return nil, err
	}
	var cp *C.ts_cursor
	r := C.tsgo_scan_range(p, C.uint64_t(id), C.int64_t(from), C.int64_t(until), &cp)
	t.releaseLocks()
	if err := check(op, r); err != nil {
		return nil, err
	}
	c := &Cursor{db: t.db, p: cp}
	runtime.SetFinalizer(c, (*Cursor).finalize)
	return c, nil
}
