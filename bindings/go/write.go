package tsdb

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"strconv"
	"sync"
	"unsafe"
)

// CreateMetric creates a metric called name (1..=1024 bytes of UTF-8) and returns its id.
// Ids start at 1 and are never reused, even after a drop.
//
// If a live metric has this name already, it returns that metric's id together with an
// error that errors.Is(err, ErrExists), so "create or get" is one call:
//
//	id, err := db.CreateMetric("cpu")
//	if err != nil && !errors.Is(err, tsdb.ErrExists) { ... }
func (db *DB) CreateMetric(name string) (uint64, error) {
	const op = "DB.CreateMetric"
	cname, err := cString(op, name)
	if err != nil {
		return 0, err
	}
	defer C.free(unsafe.Pointer(cname))
	p, err := db.acquire(op)
	if err != nil {
		return 0, err
	}
	var id C.uint64_t
	r := C.tsgo_metric_create(p, cname, &id)
	db.mu.RUnlock()
	if r.status == C.TS_OK || r.status == C.TS_EXISTS {
		return uint64(id), check(op, r)
	}
	return 0, check(op, r)
}

// DropMetric drops metric id: it disappears from new snapshots, while snapshots begun
// before stay able to read it. Its name may be reused by a new metric (with a new id).
// ErrNotFound if id names no live metric.
func (db *DB) DropMetric(id uint64) error {
	const op = "DB.DropMetric"
	p, err := db.acquire(op)
	if err != nil {
		return err
	}
	r := C.tsgo_metric_drop(p, C.uint64_t(id))
	db.mu.RUnlock()
	return check(op, r)
}

// Insert writes one point into metric id; a second write of the same (id, ts) replaces
// the first. Prefer InsertBatch or a Batch for more than a few points: each Insert is one
// cgo call and one log record. ErrNotFound if id names no live metric; ErrInvalidArgument
// if ts is math.MaxInt64.
func (db *DB) Insert(id uint64, ts int64, value float64) error {
	const op = "DB.Insert"
	p, err := db.acquire(op)
	if err != nil {
		return err
	}
	r := C.tsgo_insert(p, C.uint64_t(id), C.int64_t(ts), C.double(value))
	db.mu.RUnlock()
	return check(op, r)
}

// InsertBatch writes the points (ts[i], values[i]) into metric id atomically: a snapshot
// sees all of them or none. It crosses into C once for the whole batch, the fast path for
// one metric. Within the batch a later point wins over an earlier one with the same
// timestamp; ascending order is fastest. The slices must have the same, non-zero length.
func (db *DB) InsertBatch(id uint64, ts []int64, values []float64) error {
	const op = "DB.InsertBatch"
	if len(ts) != len(values) {
		return newError(op, StatusInvalidArgument, "len(ts) = "+strconv.Itoa(len(ts))+
			" but len(values) = "+strconv.Itoa(len(values)))
	}
	if len(ts) == 0 {
		return newError(op, StatusInvalidArgument, "empty batch: give at least one point")
	}
	p, err := db.acquire(op)
	if err != nil {
		return err
	}
	r := C.tsgo_insert_batch(p, C.uint64_t(id), (*C.int64_t)(unsafe.Pointer(&ts[0])),
		(*C.double)(unsafe.Pointer(&values[0])), C.size_t(len(ts)))
	db.mu.RUnlock()
	return check(op, r)
}

// DeleteRange deletes metric id's points with from <= ts < until, atomically (a snapshot
// sees all of them gone or none) and durably (logged like a write). Snapshots begun before
// still read the points; their disk space returns once those are released. Points written
// after DeleteRange returns are kept, whatever their timestamps. from == until deletes
// nothing.
//
// ErrNotFound if id names no live metric; ErrInvalidArgument if from > until; ErrIOError
// if the log or a rewritten partition cannot be written (when the rewrite fails after the
// delete was logged, on a full disk, the database turns failed: writes return ErrInternal,
// reads go on, and reopening applies the delete).
func (db *DB) DeleteRange(id uint64, from, until int64) error {
	const op = "DB.DeleteRange"
	p, err := db.acquire(op)
	if err != nil {
		return err
	}
	r := C.tsgo_delete_range(p, C.uint64_t(id), C.int64_t(from), C.int64_t(until))
	db.mu.RUnlock()
	return check(op, r)
}

// Batch gathers points for any number of metrics, written atomically by DB.Commit: a
// snapshot sees all of them or none. The zero value is an empty batch ready to use. Points
// are kept in Go memory until Commit, which crosses into C once for the whole batch and
// hands the library each run of points of one metric at once (ts_batch_add_many): points
// added metric by metric (AddMany, or consecutive Adds of one id) cost one library call per
// run rather than per point. A Batch may be filled from several goroutines at once; it must
// not be copied.
type Batch struct {
	mu      sync.Mutex
	runIDs  []uint64 // run r: runLens[r] consecutive points of ts/vals, all for runIDs[r]
	runLens []uint64
	ts      []int64
	vals    []float64
}

// Add appends point (ts, value) for metric id. The id is checked by Commit.
func (b *Batch) Add(id uint64, ts int64, value float64) {
	b.mu.Lock()
	b.extend(id, 1)
	b.ts = append(b.ts, ts)
	b.vals = append(b.vals, value)
	b.mu.Unlock()
}

// AddMany appends the points (ts[i], values[i]) for metric id: the form of Add for points
// of one metric. The id is checked by Commit. The slices must have the same length (else
// it returns ErrInvalidArgument and adds nothing); they are copied, so the caller may reuse
// them at once. Empty slices add nothing.
func (b *Batch) AddMany(id uint64, ts []int64, values []float64) error {
	if len(ts) != len(values) {
		return newError("Batch.AddMany", StatusInvalidArgument, "len(ts) = "+strconv.Itoa(len(ts))+
			" but len(values) = "+strconv.Itoa(len(values)))
	}
	if len(ts) == 0 {
		return nil
	}
	b.mu.Lock()
	b.extend(id, len(ts))
	b.ts = append(b.ts, ts...)
	b.vals = append(b.vals, values...)
	b.mu.Unlock()
	return nil
}

// extend accounts n more points of metric id (b.mu held): they join the last run if it
// is id's.
func (b *Batch) extend(id uint64, n int) {
	if k := len(b.runIDs) - 1; k >= 0 && b.runIDs[k] == id {
		b.runLens[k] += uint64(n)
		return
	}
	b.runIDs = append(b.runIDs, id)
	b.runLens = append(b.runLens, uint64(n))
}

// Len returns the number of points added since the last successful Commit or Reset.
func (b *Batch) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ts)
}

// Reset removes every point, keeping the memory for reuse.
func (b *Batch) Reset() {
	b.mu.Lock()
	b.reset()
	b.mu.Unlock()
}

func (b *Batch) reset() {
	b.runIDs, b.runLens = b.runIDs[:0], b.runLens[:0]
	b.ts, b.vals = b.ts[:0], b.vals[:0]
}

// Commit writes every point of b atomically (ts_batch_commit). Within a metric a later
// point wins over an earlier one with the same timestamp. On success b is emptied, ready
// for reuse; on failure nothing is written and b keeps its points. ErrNotFound if any id
// names no live metric; ErrInvalidArgument if b is empty or holds math.MaxInt64.
func (db *DB) Commit(b *Batch) error {
	const op = "DB.Commit"
	if b == nil {
		return newError(op, StatusInvalidArgument, "nil *Batch")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ts) == 0 {
		return newError(op, StatusInvalidArgument, "empty batch: add at least one point")
	}
	p, err := db.acquire(op)
	if err != nil {
		return err
	}
	r := C.tsgo_batch_commit(p, (*C.uint64_t)(unsafe.Pointer(&b.runIDs[0])),
		(*C.uint64_t)(unsafe.Pointer(&b.runLens[0])), C.size_t(len(b.runIDs)),
		(*C.int64_t)(unsafe.Pointer(&b.ts[0])), (*C.double)(unsafe.Pointer(&b.vals[0])))
	db.mu.RUnlock()
	if err := check(op, r); err != nil {
		return err
	}
	b.reset()
	return nil
}
