package tsdb

/*
#include "shim.h"
*/
import "C"

import (
	"sync"
	"unsafe"
)

// Agg is one bucket of an aggregate (ts_agg): the points of one metric with
// Start <= ts < Start+bucket (the last bucket clipped to the query's until).
//
// NaN rule: Count counts every point, NaN values included; Min, Max and Sum are over the
// non-NaN values and are NaN when every value of the bucket is NaN; First and Last are the
// values at FirstTS and LastTS, NaN or not. Infinities take part as IEEE arithmetic says
// (+Inf + -Inf is NaN). Sum adds per-block sums, so its last bits may differ from a
// point-by-point sum in timestamp order.
type Agg struct {
	Start           int64   // the bucket's start: from + k*bucket
	Count           uint64  // points in the bucket, at least 1
	Min, Max, Sum   float64 // over the non-NaN values
	First, Last     float64 // the values at FirstTS and LastTS
	FirstTS, LastTS int64   // timestamps of the bucket's first and last points
}

// Agg has the layout of ts_agg, so the library writes buckets straight into []Agg (Go
// memory holding no Go pointers, which cgo allows). These declarations fail to compile if
// a size or an offset ever differs.
var (
	_ [unsafe.Sizeof(Agg{})]byte              = [unsafe.Sizeof(C.ts_agg{})]byte{}
	_ [unsafe.Offsetof(Agg{}.Count)]byte      = [unsafe.Offsetof(C.ts_agg{}.count)]byte{}
	_ [unsafe.Offsetof(Agg{}.Min)]byte        = [unsafe.Offsetof(C.ts_agg{}.min)]byte{}
	_ [unsafe.Offsetof(Agg{}.Max)]byte        = [unsafe.Offsetof(C.ts_agg{}.max)]byte{}
	_ [unsafe.Offsetof(Agg{}.Sum)]byte        = [unsafe.Offsetof(C.ts_agg{}.sum)]byte{}
	_ [unsafe.Offsetof(Agg{}.First)]byte      = [unsafe.Offsetof(C.ts_agg{}.first)]byte{}
	_ [unsafe.Offsetof(Agg{}.Last)]byte       = [unsafe.Offsetof(C.ts_agg{}.last)]byte{}
	_ [unsafe.Offsetof(Agg{}.FirstTS)]byte    = [unsafe.Offsetof(C.ts_agg{}.first_ts)]byte{}
	_ [unsafe.Offsetof(Agg{}.LastTS)]byte     = [unsafe.Offsetof(C.ts_agg{}.last_ts)]byte{}
	_ [unsafe.Offsetof(C.ts_agg{}.start)]byte = [0]byte{}
)

// aggBlock is the most buckets one call into C returns: AggIter's buffer and the first
// chunk of Aggregate's result (72 KiB).
const aggBlock = 1024

// aggEstimate returns an upper bound on the number of buckets of [from, until) (1 when
// the arguments are invalid: the library rejects them with its message).
func aggEstimate(from, until, bucket int64) uint64 {
	if bucket <= 0 || from > until {
		return 1
	}
	return (uint64(until)-uint64(from))/uint64(bucket) + 1 // two's complement: exact
}

// aggNext returns where to continue after a full chunk whose last bucket starts at start,
// and false when no bucket can follow (the next start would pass until, or overflow).
func aggNext(start, bucket, until int64) (int64, bool) {
	next := start + bucket // bucket > 0: wraps below start on overflow
	if next < start || next >= until {
		return 0, false
	}
	return next, true
}

// aggregateInto makes one ts_aggregate call writing at most len(dst) buckets (p live,
// locks held) and returns how many it wrote.
func aggregateInto(op string, p *C.ts_txn, id uint64, from, until, bucket int64, dst []Agg) (int, error) {
	var n C.size_t
	r := C.tsgo_aggregate(p, C.uint64_t(id), C.int64_t(from), C.int64_t(until), C.int64_t(bucket),
		(*C.ts_agg)(unsafe.Pointer(&dst[0])), C.size_t(len(dst)), &n)
	if err := check(op, r); err != nil {
		return 0, err
	}
	return int(n), nil
}

// Aggregate returns metric id's points in [from, until) as of this snapshot, folded into
// buckets [from + k*bucket, from + (k+1)*bucket), the last one clipped to until: one Agg
// per non-empty bucket, in ascending order (empty buckets are left out). from == until
// gives no buckets.
//
// Sealed blocks lying wholly inside one bucket are answered from their stored summaries
// without decoding their points, so wide buckets over many points are cheap. The result
// is gathered in calls of up to a few thousand buckets each (the snapshot makes them one
// consistent answer); use AggregateIter to stream a result too big to hold.
//
// ErrNotFound if id names no metric in the snapshot; ErrInvalidArgument if bucket <= 0 or
// from > until; ErrCorruption if a block fails its checksum.
func (t *Txn) Aggregate(id uint64, from, until, bucket int64) ([]Agg, error) {
	return t.aggregate("Txn.Aggregate", id, from, until, bucket, 0)
}

// aggregate is Aggregate with at most chunk buckets per call into C (0: no limit but the
// slice's capacity); tests use small chunks to exercise the continuation.
func (t *Txn) aggregate(op string, id uint64, from, until, bucket int64, chunk int) ([]Agg, error) {
	p, err := t.acquire(op)
	if err != nil {
		return nil, err
	}
	defer t.releaseLocks()
	est := aggEstimate(from, until, bucket)
	if est > aggBlock {
		est = aggBlock
	}
	out := make([]Agg, 0, int(est))
	for {
		if len(out) == cap(out) {
			grow := uint64(len(out)) // double, but never beyond the buckets that remain
			if rest := aggEstimate(from, until, bucket); grow > rest {
				grow = rest
			}
			grown := make([]Agg, len(out), len(out)+int(grow))
			copy(grown, out)
			out = grown
		}
		room := out[len(out):cap(out)]
		if chunk > 0 && len(room) > chunk {
			room = room[:chunk]
		}
		n, err := aggregateInto(op, p, id, from, until, bucket, room)
		if err != nil {
			return nil, err
		}
		out = out[:len(out)+n]
		if n < len(room) {
			return out, nil
		}
		next, ok := aggNext(out[len(out)-1].Start, bucket, until)
		if !ok {
			return out, nil
		}
		from = next
	}
}

// AggIter streams the buckets of an aggregate (see Txn.Aggregate), reading up to 1024
// buckets per call into C:
//
//	it, err := txn.AggregateIter(id, from, until, bucket)
//	if err != nil { ... }
//	for it.Next() {
//		a := it.At()
//		...
//	}
//	if err := it.Err(); err != nil { ... }
//
// It holds no C resource of its own and needs no Close: it reads through its Txn, which
// must stay unreleased until the iteration ends (Err then returns ErrClosed).
//
// An AggIter is for one goroutine at a time; concurrent calls are serialised, never unsafe.
type AggIter struct {
	txn                 *Txn
	id                  uint64
	from, until, bucket int64 // from: where the next call into C starts

	mu   sync.Mutex
	buf  []Agg
	pos  int  // next buffered bucket
	n    int  // buffered buckets
	more bool // another call into C may find buckets
	cur  Agg  // the bucket of the last successful Next
	err  error
}

// AggregateIter is the streaming form of Aggregate: the same buckets, read block by block
// as Next advances. The first block is read at once, so that an unknown id or bad
// arguments fail here, with the errors of Aggregate.
func (t *Txn) AggregateIter(id uint64, from, until, bucket int64) (*AggIter, error) {
	it := &AggIter{txn: t, id: id, from: from, until: until, bucket: bucket, more: true}
	est := aggEstimate(from, until, bucket)
	if est > aggBlock {
		est = aggBlock
	}
	it.buf = make([]Agg, int(est))
	if err := it.fill("Txn.AggregateIter"); err != nil {
		return nil, err
	}
	return it, nil
}

// fill reads the next block of buckets (it.mu held, it.more set).
func (it *AggIter) fill(op string) error {
	p, err := it.txn.acquire(op)
	if err != nil {
		return err
	}
	n, err := aggregateInto(op, p, it.id, it.from, it.until, it.bucket, it.buf)
	it.txn.releaseLocks()
	if err != nil {
		it.more = false
		return err
	}
	it.pos, it.n = 0, n
	if n < len(it.buf) {
		it.more = false
	} else if it.from, it.more = aggNext(it.buf[n-1].Start, it.bucket, it.until); !it.more {
		it.from = it.until
	}
	return nil
}

// Next advances to the next bucket, which At then returns. It returns false at the end or
// after a failure; Err tells which.
func (it *AggIter) Next() bool {
	if it == nil {
		return false
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.pos == it.n {
		if !it.more || it.err != nil {
			return false
		}
		if err := it.fill("AggIter.Next"); err != nil {
			it.err = err
			return false
		}
		if it.n == 0 {
			return false
		}
	}
	it.cur = it.buf[it.pos]
	it.pos++
	return true
}

// At returns the bucket the last successful Next moved to.
func (it *AggIter) At() Agg {
	return it.cur
}

// Err returns the error that stopped Next: nil at the normal end, ErrClosed if the Txn was
// released before the end, ErrCorruption if a block failed its checksum.
func (it *AggIter) Err() error {
	if it == nil {
		return closedError("AggIter.Err", "aggregate iterator (nil *AggIter)")
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.err
}

// All returns an iterator over the remaining buckets, for range-over-func (Go 1.23 and
// later: `for a := range it.All() { ... }`; it has the type of iter.Seq[Agg]) or to call
// with a yield function in older Go. Check Err after the loop.
func (it *AggIter) All() func(yield func(Agg) bool) {
	return func(yield func(Agg) bool) {
		for it.Next() {
			if !yield(it.cur) {
				return
			}
		}
	}
}
