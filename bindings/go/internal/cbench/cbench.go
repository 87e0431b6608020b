// Package cbench runs the benchmark loops of package tsdb in C, so that the benchmarks can
// show the C API's figure next to the Go binding's: the Go/C ratio is the binding's cost.
// It is internal: only tsdb's tests use it. Handles are passed as unsafe.Pointer because
// cgo types are not shared between packages.
package cbench

/*
#cgo !tsdb_static,!tsdb_pkgconfig LDFLAGS: -ltsdb
#cgo tsdb_static,!tsdb_pkgconfig LDFLAGS: -l:libtsdb.a -lm -ldl -lpthread
#cgo tsdb_pkgconfig pkg-config: tsdb
#include <stdint.h>
#include <stdlib.h>
#include <tsdb.h>

// Write rounds batches of n points with ascending timestamps from *next, as tsdb's
// BenchmarkInsertBatch does in Go: fill the arrays, one ts_insert_batch per batch.
static ts_status insert_batches(ts_db *db, uint64_t id, int64_t *next, size_t n, int64_t rounds,
                                int64_t *ts, double *v) {
  for (int64_t r = 0; r < rounds; r++) {
    for (size_t i = 0; i < n; i++) {
      ts[i] = *next;
      v[i] = (double)*next * 0.5;
      (*next)++;
    }
    ts_status st = ts_insert_batch(db, id, ts, v, n);
    if (st != TS_OK) return st;
  }
  return TS_OK;
}

// Write n single points, one ts_insert each, as BenchmarkInsert does in Go.
static ts_status insert_points(ts_db *db, uint64_t id, int64_t *next, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    ts_status st = ts_insert(db, id, *next, (double)*next * 0.5);
    if (st != TS_OK) return st;
    (*next)++;
  }
  return TS_OK;
}

// Scan [from, until) of metric id through a fresh snapshot with next_batch into buffers of
// cap points; *count receives the points read.
static ts_status scan(ts_db *db, uint64_t id, int64_t from, int64_t until, int64_t *ts, double *v,
                      size_t cap, int64_t *count) {
  ts_txn *txn;
  ts_cursor *c;
  ts_status st = ts_txn_begin(db, &txn);
  if (st != TS_OK) return st;
  st = ts_scan_range(txn, id, from, until, &c);
  ts_txn_release(txn);
  if (st != TS_OK) return st;
  size_t n;
  int64_t total = 0;
  while ((st = ts_cursor_next_batch(c, ts, v, cap, &n)) == TS_OK) total += (int64_t)n;
  ts_cursor_free(c);
  *count = total;
  return st == TS_DONE ? TS_OK : st;
}

// Commit rounds atomic batches of n_ids * per points, per points of each metric added with
// one ts_batch_add_many, as tsdb's BenchmarkBatchCommit1000 does in Go.
static ts_status batch_commits(ts_db *db, const uint64_t *ids, size_t n_ids, size_t per,
                               int64_t *next, int64_t rounds, int64_t *ts, double *v) {
  ts_batch *b = ts_batch_new();
  if (b == NULL) return TS_INTERNAL;
  ts_status st = TS_OK;
  for (int64_t r = 0; r < rounds && st == TS_OK; r++) {
    for (size_t i = 0; i < per; i++) {
      ts[i] = *next + (int64_t)i;
      v[i] = (double)ts[i];
    }
    *next += (int64_t)per;
    for (size_t k = 0; k < n_ids && st == TS_OK; k++) {
      st = ts_batch_add_many(b, ids[k], ts, v, per);
    }
    if (st == TS_OK) st = ts_batch_commit(db, b);
  }
  ts_batch_free(b);
  return st;
}

// Aggregate [from, until) of metric id in buckets through a fresh snapshot, cap buckets per
// ts_aggregate call, continuing as tsdb.h says; *buckets and *points receive the totals.
static ts_status aggregate(ts_db *db, uint64_t id, int64_t from, int64_t until, int64_t bucket,
                           ts_agg *out, size_t cap, int64_t *buckets, int64_t *points) {
  ts_txn *txn;
  ts_status st = ts_txn_begin(db, &txn);
  if (st != TS_OK) return st;
  *buckets = 0;
  *points = 0;
  for (;;) {
    size_t n;
    st = ts_aggregate(txn, id, from, until, bucket, out, cap, &n);
    if (st != TS_OK) break;
    *buckets += (int64_t)n;
    for (size_t i = 0; i < n; i++) *points += (int64_t)out[i].count;
    if (n < cap) break;
    int64_t last = out[n - 1].start;
    if (last > INT64_MAX - bucket || last + bucket >= until) break; // no bucket can follow
    from = last + bucket;
  }
  ts_txn_release(txn);
  return st;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

func fail(op string, st C.ts_status) error {
	// The status is enough for a benchmark helper (no ts_errmsg: see tsdb's shim.h for why
	// reading it here, in a second cgo call, could show another thread's message).
	return fmt.Errorf("cbench %s: status %d", op, int(st))
}

// InsertBatches writes rounds batches of n points into metric id of db (a *ts_db), with
// timestamps *next, *next+1, ...; *next is advanced.
func InsertBatches(db unsafe.Pointer, id uint64, next *int64, n, rounds int) error {
	ts := make([]int64, n)
	v := make([]float64, n)
	var nx C.int64_t = C.int64_t(*next)
	st := C.insert_batches((*C.ts_db)(db), C.uint64_t(id), &nx, C.size_t(n), C.int64_t(rounds),
		(*C.int64_t)(unsafe.Pointer(&ts[0])), (*C.double)(unsafe.Pointer(&v[0])))
	*next = int64(nx)
	if st != C.TS_OK {
		return fail("insert_batches", st)
	}
	return nil
}

// InsertPoints writes n single points, one ts_insert each.
func InsertPoints(db unsafe.Pointer, id uint64, next *int64, n int) error {
	var nx C.int64_t = C.int64_t(*next)
	st := C.insert_points((*C.ts_db)(db), C.uint64_t(id), &nx, C.int64_t(n))
	*next = int64(nx)
	if st != C.TS_OK {
		return fail("insert_points", st)
	}
	return nil
}

// Scan reads metric id's points in [from, until) with ts_cursor_next_batch into buffers of
// bufPoints points and returns how many it read.
func Scan(db unsafe.Pointer, id uint64, from, until int64, bufPoints int) (int64, error) {
	ts := make([]int64, bufPoints)
	v := make([]float64, bufPoints)
	var count C.int64_t
	st := C.scan((*C.ts_db)(db), C.uint64_t(id), C.int64_t(from), C.int64_t(until),
		(*C.int64_t)(unsafe.Pointer(&ts[0])), (*C.double)(unsafe.Pointer(&v[0])), C.size_t(bufPoints), &count)
	if st != C.TS_OK {
		return 0, fail("scan", st)
	}
	return int64(count), nil
}

// BatchCommits commits rounds batches, each of per points for every metric of ids (one
// ts_batch_add_many per metric), with timestamps *next, *next+1, ...; *next is advanced.
func BatchCommits(db unsafe.Pointer, ids []uint64, per int, next *int64, rounds int) error {
	ts := make([]int64, per)
	v := make([]float64, per)
	var nx C.int64_t = C.int64_t(*next)
	st := C.batch_commits((*C.ts_db)(db), (*C.uint64_t)(unsafe.Pointer(&ids[0])), C.size_t(len(ids)),
		C.size_t(per), &nx, C.int64_t(rounds), (*C.int64_t)(unsafe.Pointer(&ts[0])),
		(*C.double)(unsafe.Pointer(&v[0])))
	*next = int64(nx)
	if st != C.TS_OK {
		return fail("batch_commits", st)
	}
	return nil
}

// Aggregate aggregates metric id's [from, until) in buckets through a fresh snapshot, with
// up to capBuckets buckets per ts_aggregate call, and returns the buckets and the points
// they counted.
func Aggregate(db unsafe.Pointer, id uint64, from, until, bucket int64, capBuckets int) (buckets, points int64, err error) {
	out := make([]C.ts_agg, capBuckets)
	var nb, np C.int64_t
	st := C.aggregate((*C.ts_db)(db), C.uint64_t(id), C.int64_t(from), C.int64_t(until), C.int64_t(bucket),
		&out[0], C.size_t(capBuckets), &nb, &np)
	if st != C.TS_OK {
		return 0, 0, fail("aggregate", st)
	}
	return int64(nb), int64(np), nil
}
