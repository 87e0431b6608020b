package tsdb

/*
#include "shim.h"
*/
import "C"

import (
	"io"
	"runtime"
	"sync"
	"unsafe"
)

// cursorBlock is the number of points Next reads per call into C: the default
// partition_points, so whole sealed partitions decode straight into the buffer.
const cursorBlock = 4096

// Cursor iterates over one metric's points in [from, until) as of a snapshot, in ascending
// timestamp order. Use it like bufio.Scanner or sql.Rows:
//
//	c, err := txn.Scan(id, from, until)
//	if err != nil { ... }
//	defer c.Close()
//	for c.Next() {
//		ts, v := c.At()
//		...
//	}
//	if err := c.Err(); err != nil { ... }
//
// or read whole blocks with NextBatch. Next reads 4096 points per call into C. The cursor
// frees its C handle (and its reference to the snapshot) as soon as it is exhausted or
// fails, so Close is then a no-op; Close it anyway when stopping early.
//
// A Cursor is for one goroutine at a time; concurrent calls are serialised, never unsafe.
type Cursor struct {
	db *DB // keeps the DB reachable (and unfinalized) while the cursor is live
	mu sync.Mutex
	p  *C.ts_cursor // nil once closed, exhausted or failed

	ts   []int64 // Next's buffer, allocated on first use
	vals []float64
	pos  int // next buffered point
	n    int // buffered points

	curTS  int64 // the point of the last successful Next
	curVal float64

	err    error // sticky: a failure, or ErrClosed after Close
	closed bool  // Close was called
}

// Next advances to the next point, which At then returns. It returns false when the cursor
// is exhausted, failed or closed; Err tells which.
func (c *Cursor) Next() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pos == c.n && !c.fill() {
		return false
	}
	c.curTS, c.curVal = c.ts[c.pos], c.vals[c.pos]
	c.pos++
	return true
}

// fill refills Next's buffer; false at the end, after a failure, or when closed.
func (c *Cursor) fill() bool {
	if c.p == nil {
		if c.closed && c.err == nil {
			c.err = closedError("Cursor.Next", "cursor")
		}
		return false
	}
	if c.ts == nil {
		c.ts = make([]int64, cursorBlock)
		c.vals = make([]float64, cursorBlock)
	}
	n, err := c.read("Cursor.Next", unsafe.Pointer(&c.ts[0]), unsafe.Pointer(&c.vals[0]), cursorBlock)
	c.pos, c.n = 0, n
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n > 0
}

// read calls ts_cursor_next_batch once (c.mu held, c.p live). On TS_DONE or a failure it
// frees the C cursor, releasing its snapshot, and returns io.EOF or the error.
func (c *Cursor) read(op string, ts, vals unsafe.Pointer, capacity int) (int, error) {
	var n C.size_t
	c.db.mu.RLock() // never closed under a live cursor: ts_close would say TS_BUSY
	r := C.tsgo_cursor_next_batch(c.p, (*C.int64_t)(ts), (*C.double)(vals), C.size_t(capacity), &n)
	if r.status != C.TS_OK {
		C.ts_cursor_free(c.p)
		c.p = nil
		runtime.SetFinalizer(c, nil)
	}
	c.db.mu.RUnlock()
	switch r.status {
	case C.TS_OK:
		return int(n), nil
	case C.TS_DONE:
		return 0, io.EOF
	default:
		return 0, resultError(op, r)
	}
}

// At returns the point the last successful Next moved to.
func (c *Cursor) At() (ts int64, value float64) {
	return c.curTS, c.curVal
}

// Err returns the error that stopped Next: nil at the normal end, an ErrCorruption error
// if a block on disk failed its checksum, or ErrClosed if the cursor was closed.
func (c *Cursor) Err() error {
	if c == nil {
		return closedError("Cursor.Err", "cursor (nil *Cursor)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// NextBatch reads up to min(len(ts), len(values)) points into ts and values and returns how
// many it wrote (at least 1), continuing where Next or the previous NextBatch stopped; it
// may return fewer points before the end. At the end it returns 0, io.EOF. Either slice may
// be empty to skip that column (not both): the count is then the other's length. With
// slices of at least 4096 points (partition_points), whole sealed partitions are decoded
// straight into them.
func (c *Cursor) NextBatch(ts []int64, values []float64) (int, error) {
	const op = "Cursor.NextBatch"
	if c == nil {
		return 0, closedError(op, "cursor (nil *Cursor)")
	}
	capacity := len(ts)
	if len(values) > 0 && (capacity == 0 || len(values) < capacity) {
		capacity = len(values)
	}
	if capacity == 0 {
		return 0, newError(op, StatusInvalidArgument, "both slices are empty")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, closedError(op, "cursor")
	}
	if c.pos < c.n { // points Next read ahead come first
		k := c.n - c.pos
		if k > capacity {
			k = capacity
		}
		if len(ts) > 0 {
			copy(ts[:k], c.ts[c.pos:])
		}
		if len(values) > 0 {
			copy(values[:k], c.vals[c.pos:])
		}
		c.pos += k
		return k, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.p == nil {
		return 0, io.EOF
	}
	var tp, vp unsafe.Pointer
	if len(ts) > 0 {
		tp = unsafe.Pointer(&ts[0])
	}
	if len(values) > 0 {
		vp = unsafe.Pointer(&values[0])
	}
	n, err := c.read(op, tp, vp, capacity)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// All returns an iterator over the remaining points, for range-over-func (Go 1.23 and
// later: `for ts, v := range c.All() { ... }`; it has the type of iter.Seq2[int64, float64])
// or to call with a yield function in older Go. Check Err after the loop.
func (c *Cursor) All() func(yield func(ts int64, value float64) bool) {
	return func(yield func(int64, float64) bool) {
		for c.Next() {
			if !yield(c.curTS, c.curVal) {
				return
			}
		}
	}
}

// Close frees the cursor and its reference to the snapshot. It is idempotent and never
// fails (the error return is for io.Closer); after Close, Next returns false and Err and
// NextBatch return ErrClosed.
func (c *Cursor) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.pos, c.n = 0, 0
	if c.p != nil {
		c.db.mu.RLock()
		C.ts_cursor_free(c.p)
		c.db.mu.RUnlock()
		c.p = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

func (c *Cursor) finalize() {
	c.Close()
}
