package tsdb

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// metricBlock is the number of metrics MetricIter reads per call into C.
const metricBlock = 256

// MetricIter lists the metrics of a snapshot in ascending id order, like a Cursor lists
// points:
//
//	it, err := txn.Metrics("cpu.") // "" lists every metric
//	if err != nil { ... }
//	defer it.Close()
//	for it.Next() {
//		id, name := it.At()
//		...
//	}
//	if err := it.Err(); err != nil { ... }
//
// It reads 256 metrics (ids and names) per call into C. It holds its own reference to the
// snapshot (DB.Close returns ErrBusy while it is live), which it frees as soon as it is
// exhausted or fails, so Close is then a no-op; Close it anyway when stopping early.
//
// A MetricIter is for one goroutine at a time; concurrent calls are serialised, never
// unsafe.
type MetricIter struct {
	db *DB // keeps the DB reachable (and unfinalized) while the listing is live
	mu sync.Mutex
	p  *C.ts_metric_list // nil once closed, exhausted or failed

	ids   []uint64  // the block read by the last call, allocated on first use
	cptrs []*C.char // its names as C strings, owned by the listing; nil between calls
	names []string  // the same names, copied
	pos   int       // next buffered metric
	n     int       // buffered metrics

	curID   uint64 // the metric of the last successful Next
	curName string

	err    error // sticky: a failure, or ErrClosed after Close
	closed bool  // Close was called
}

// Metrics lists the metrics of this snapshot whose name starts with prefix ("" lists them
// all), in ascending id order; dropped metrics are left out, and so are those created
// after the snapshot began. Listing takes time proportional to the number of metrics in
// the snapshot, whatever the prefix.
//
// The listing holds its own reference to the snapshot, so t may be released first. Close
// it when done (it is closed automatically once exhausted or failed). ErrInvalidArgument
// if prefix is not UTF-8 or holds a NUL byte.
func (t *Txn) Metrics(prefix string) (*MetricIter, error) {
	const op = "Txn.Metrics"
	if strings.IndexByte(prefix, 0) >= 0 {
		return nil, newError(op, StatusInvalidArgument, "prefix contains a NUL byte: "+strconv.Quote(prefix))
	}
	var cprefix *C.char // NULL: every metric
	if prefix != "" {
		cprefix = C.CString(prefix)
		defer C.free(unsafe.Pointer(cprefix))
	}
	p, err := t.acquire(op)
	if err != nil {
		return nil, err
	}
	var lp *C.ts_metric_list
	r := C.tsgo_metric_list_open(p, cprefix, &lp)
	t.releaseLocks()
	if err := check(op, r); err != nil {
		return nil, err
	}
	it := &MetricIter{db: t.db, p: lp}
	runtime.SetFinalizer(it, (*MetricIter).finalize)
	return it, nil
}

// Next advances to the next metric, which At then returns. It returns false when the
// listing is exhausted, failed or closed; Err tells which.
func (it *MetricIter) Next() bool {
	if it == nil {
		return false
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.pos == it.n && !it.fill() {
		return false
	}
	it.curID, it.curName = it.ids[it.pos], it.names[it.pos]
	it.pos++
	return true
}

// fill reads the next block (it.mu held); false at the end, after a failure, or when
// closed. On TS_DONE or a failure it frees the C listing, releasing its snapshot.
func (it *MetricIter) fill() bool {
	const op = "MetricIter.Next"
	if it.p == nil {
		if it.closed && it.err == nil {
			it.err = closedError(op, "metric listing")
		}
		return false
	}
	if it.ids == nil {
		it.ids = make([]uint64, metricBlock)
		it.cptrs = make([]*C.char, metricBlock)
		it.names = make([]string, metricBlock)
	}
	var n C.size_t
	it.db.mu.RLock() // never closed under a live listing: ts_close would say TS_BUSY
	r := C.tsgo_metric_list_next(it.p, (*C.uint64_t)(unsafe.Pointer(&it.ids[0])),
		&it.cptrs[0], C.size_t(metricBlock), &n)
	if r.status == C.TS_OK {
		for i := 0; i < int(n); i++ {
			// Copied now: the listing frees its strings at its next call. The pointer is
			// cleared so that no dangling C pointer stays in Go memory.
			it.names[i] = C.GoString(it.cptrs[i])
			it.cptrs[i] = nil
		}
	} else {
		C.ts_metric_list_free(it.p)
		it.p = nil
		runtime.SetFinalizer(it, nil)
	}
	it.db.mu.RUnlock()
	it.pos, it.n = 0, 0
	switch r.status {
	case C.TS_OK:
		it.n = int(n)
		return it.n > 0
	case C.TS_DONE:
		return false
	default:
		it.err = resultError(op, r)
		return false
	}
}

// At returns the id and name of the metric the last successful Next moved to.
func (it *MetricIter) At() (id uint64, name string) {
	return it.curID, it.curName
}

// Err returns the error that stopped Next: nil at the normal end, or ErrClosed if the
// listing was closed.
func (it *MetricIter) Err() error {
	if it == nil {
		return closedError("MetricIter.Err", "metric listing (nil *MetricIter)")
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.err
}

// All returns an iterator over the remaining metrics, for range-over-func (Go 1.23 and
// later: `for id, name := range it.All() { ... }`; it has the type of
// iter.Seq2[uint64, string]) or to call with a yield function in older Go. Check Err
// after the loop.
func (it *MetricIter) All() func(yield func(id uint64, name string) bool) {
	return func(yield func(uint64, string) bool) {
		for it.Next() {
			if !yield(it.curID, it.curName) {
				return
			}
		}
	}
}

// Close frees the listing and its reference to the snapshot. It is idempotent and never
// fails (the error return is for io.Closer); after Close, Next returns false and Err
// returns ErrClosed.
func (it *MetricIter) Close() error {
	if it == nil {
		return nil
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	it.closed = true
	it.pos, it.n = 0, 0
	if it.p != nil {
		it.db.mu.RLock()
		C.ts_metric_list_free(it.p)
		it.db.mu.RUnlock()
		it.p = nil
		runtime.SetFinalizer(it, nil)
	}
	return nil
}

func (it *MetricIter) finalize() {
	it.Close()
}
