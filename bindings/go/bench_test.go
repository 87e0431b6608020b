package tsdb

import (
	"io"
	"math"
	"path/filepath"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/libtsdb/tsdb/bindings/go/internal/cbench"
)

// The benchmarks report points/s for the Go binding and, under the same name with /C, for
// the same loop written in C against the same database (internal/cbench), so the Go/C
// ratio (the binding's cost) is visible. They use the default options (SyncInterval).

func benchDB(b *testing.B) (*DB, uint64) {
	b.Helper()
	db, err := Open(filepath.Join(b.TempDir(), "db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	id, err := db.CreateMetric("bench")
	if err != nil {
		b.Fatal(err)
	}
	return db, id
}

// report stops the timer and reports points/s; Go 1.19 has no b.Elapsed.
func report(b *testing.B, start time.Time, points int) {
	b.StopTimer()
	b.ReportMetric(float64(points)/time.Since(start).Seconds(), "points/s")
}

func closeBench(b *testing.B, db *DB) {
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkInsertBatch1000: one op is one 1,000-point batch of one metric, timestamps
// ascending, the arrays refilled for every batch.
func BenchmarkInsertBatch1000(b *testing.B) {
	const n = 1000
	b.Run("Go", func(b *testing.B) {
		db, id := benchDB(b)
		defer closeBench(b, db)
		ts := make([]int64, n)
		vs := make([]float64, n)
		next := int64(0)
		b.ResetTimer()
		start := time.Now()
		for r := 0; r < b.N; r++ {
			for i := range ts {
				ts[i] = next
				vs[i] = float64(next) * 0.5
				next++
			}
			if err := db.InsertBatch(id, ts, vs); err != nil {
				b.Fatal(err)
			}
		}
		report(b, start, b.N*n)
	})
	b.Run("C", func(b *testing.B) {
		db, id := benchDB(b)
		defer closeBench(b, db)
		next := int64(0)
		b.ResetTimer()
		start := time.Now()
		if err := cbench.InsertBatches(unsafe.Pointer(db.p), id, &next, n, b.N); err != nil {
			b.Fatal(err)
		}
		report(b, start, b.N*n)
	})
}

// BenchmarkBatchCommit1000: one op is an atomic Batch of 1,000 points over 10 metrics,
// 100 each. GoAdd adds them round-robin (each Add starts a new run: one ts_batch_add_many
// per point inside Commit's single cgo call); GoAddRuns adds them metric by metric and
// GoAddMany with one AddMany per metric (one ts_batch_add_many per metric); C is the
// GoAddMany loop in C.
func BenchmarkBatchCommit1000(b *testing.B) {
	const metrics, per = 10, 100
	setup := func(b *testing.B) (*DB, []uint64) {
		db, _ := benchDB(b)
		ids := make([]uint64, metrics)
		for i := range ids {
			id, err := db.CreateMetric("m" + string(rune('0'+i)))
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = id
		}
		return db, ids
	}
	goLoop := func(fill func(batch *Batch, ids []uint64, next int64, ts []int64, vs []float64)) func(b *testing.B) {
		return func(b *testing.B) {
			db, ids := setup(b)
			defer closeBench(b, db)
			var batch Batch
			ts := make([]int64, per)
			vs := make([]float64, per)
			next := int64(0)
			b.ResetTimer()
			start := time.Now()
			for r := 0; r < b.N; r++ {
				fill(&batch, ids, next, ts, vs)
				next += per
				if err := db.Commit(&batch); err != nil {
					b.Fatal(err)
				}
			}
			report(b, start, b.N*metrics*per)
		}
	}
	b.Run("GoAdd", goLoop(func(batch *Batch, ids []uint64, next int64, _ []int64, _ []float64) {
		for i := int64(0); i < per; i++ {
			for _, id := range ids {
				batch.Add(id, next+i, float64(next+i))
			}
		}
	}))
	b.Run("GoAddRuns", goLoop(func(batch *Batch, ids []uint64, next int64, _ []int64, _ []float64) {
		for _, id := range ids {
			for i := int64(0); i < per; i++ {
				batch.Add(id, next+i, float64(next+i))
			}
		}
	}))
	b.Run("GoAddMany", goLoop(func(batch *Batch, ids []uint64, next int64, ts []int64, vs []float64) {
		for i := range ts {
			ts[i] = next + int64(i)
			vs[i] = float64(ts[i])
		}
		for _, id := range ids {
			if err := batch.AddMany(id, ts, vs); err != nil {
				panic(err)
			}
		}
	}))
	b.Run("C", func(b *testing.B) {
		db, ids := setup(b)
		defer closeBench(b, db)
		next := int64(0)
		b.ResetTimer()
		start := time.Now()
		if err := cbench.BatchCommits(unsafe.Pointer(db.p), ids, per, &next, b.N); err != nil {
			b.Fatal(err)
		}
		report(b, start, b.N*metrics*per)
	})
}

// BenchmarkInsert: one op is one single-point Insert (one cgo call, one log record).
func BenchmarkInsert(b *testing.B) {
	b.Run("Go", func(b *testing.B) {
		db, id := benchDB(b)
		defer closeBench(b, db)
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := db.Insert(id, int64(i), float64(i)*0.5); err != nil {
				b.Fatal(err)
			}
		}
		report(b, start, b.N)
	})
	b.Run("C", func(b *testing.B) {
		db, id := benchDB(b)
		defer closeBench(b, db)
		next := int64(0)
		b.ResetTimer()
		start := time.Now()
		if err := cbench.InsertPoints(unsafe.Pointer(db.p), id, &next, b.N); err != nil {
			b.Fatal(err)
		}
		report(b, start, b.N)
	})
}

// BenchmarkScan: one op is a full scan of a 1,000,000-point metric (checkpointed, so from
// sealed partitions) through a fresh snapshot.
func BenchmarkScan(b *testing.B) {
	const total = 1_000_000
	db, id := benchDB(b)
	defer closeBench(b, db)
	ts := make([]int64, 10000)
	vs := make([]float64, len(ts))
	for k := 0; k < total/len(ts); k++ {
		for i := range ts {
			ts[i] = int64(k*len(ts) + i)
			vs[i] = float64(ts[i]) * 0.5
		}
		if err := db.InsertBatch(id, ts, vs); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Checkpoint(); err != nil {
		b.Fatal(err)
	}
	scan := func(b *testing.B, read func(c *Cursor) int) {
		b.ResetTimer()
		start := time.Now()
		for r := 0; r < b.N; r++ {
			txn, err := db.Begin()
			if err != nil {
				b.Fatal(err)
			}
			c, err := txn.Scan(id, math.MinInt64, math.MaxInt64)
			txn.Release()
			if err != nil {
				b.Fatal(err)
			}
			if n := read(c); n != total {
				b.Fatalf("scanned %d points, want %d", n, total)
			}
			c.Close()
		}
		report(b, start, b.N*total)
	}
	b.Run("GoNext", func(b *testing.B) {
		scan(b, func(c *Cursor) int {
			n := 0
			sum := 0.0
			for c.Next() {
				_, v := c.At()
				sum += v
				n++
			}
			if c.Err() != nil {
				b.Fatal(c.Err())
			}
			return n
		})
	})
	b.Run("GoNextBatch", func(b *testing.B) {
		bt := make([]int64, 4096)
		bv := make([]float64, 4096)
		scan(b, func(c *Cursor) int {
			n := 0
			for {
				k, err := c.NextBatch(bt, bv)
				if err == io.EOF {
					return n
				}
				if err != nil {
					b.Fatal(err)
				}
				n += k
			}
		})
	})
	b.Run("C", func(b *testing.B) {
		b.ResetTimer()
		start := time.Now()
		for r := 0; r < b.N; r++ {
			n, err := cbench.Scan(unsafe.Pointer(db.p), id, math.MinInt64, math.MaxInt64, 4096)
			if err != nil {
				b.Fatal(err)
			}
			if n != total {
				b.Fatalf("scanned %d points, want %d", n, total)
			}
		}
		report(b, start, b.N*total)
	})
}

// BenchmarkAggregate: one op aggregates a 1,000,000-point metric (checkpointed, so from
// sealed partitions) through a fresh snapshot, in 1,000 buckets of 1,000 points (most
// blocks answered from their stored summaries) or in 100,000 buckets of 10 points (every
// block decoded). points/s counts the points aggregated.
func BenchmarkAggregate(b *testing.B) {
	const total = 1_000_000
	db, id := benchDB(b)
	defer closeBench(b, db)
	ts := make([]int64, 10000)
	vs := make([]float64, len(ts))
	for k := 0; k < total/len(ts); k++ {
		for i := range ts {
			ts[i] = int64(k*len(ts) + i)
			vs[i] = float64((ts[i]*7919)%1000) * 0.5
		}
		if err := db.InsertBatch(id, ts, vs); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Checkpoint(); err != nil {
		b.Fatal(err)
	}
	for _, bucket := range []int64{1000, 10} {
		buckets := total / int(bucket)
		name := "Buckets" + strconv.Itoa(buckets)
		run := func(b *testing.B, agg func(txn *Txn) (int, uint64)) {
			b.ResetTimer()
			start := time.Now()
			for r := 0; r < b.N; r++ {
				txn, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				n, points := agg(txn)
				txn.Release()
				if n != buckets || points != total {
					b.Fatalf("%d buckets of %d points, want %d of %d", n, points, buckets, total)
				}
			}
			report(b, start, b.N*total)
		}
		b.Run(name+"/Go", func(b *testing.B) {
			run(b, func(txn *Txn) (int, uint64) {
				aggs, err := txn.Aggregate(id, 0, total, bucket)
				if err != nil {
					b.Fatal(err)
				}
				points := uint64(0)
				for _, a := range aggs {
					points += a.Count
				}
				return len(aggs), points
			})
		})
		b.Run(name+"/GoIter", func(b *testing.B) {
			run(b, func(txn *Txn) (int, uint64) {
				it, err := txn.AggregateIter(id, 0, total, bucket)
				if err != nil {
					b.Fatal(err)
				}
				n, points := 0, uint64(0)
				for it.Next() {
					n++
					points += it.At().Count
				}
				if it.Err() != nil {
					b.Fatal(it.Err())
				}
				return n, points
			})
		})
		b.Run(name+"/C", func(b *testing.B) {
			b.ResetTimer()
			start := time.Now()
			for r := 0; r < b.N; r++ {
				n, points, err := cbench.Aggregate(unsafe.Pointer(db.p), id, 0, total, bucket, aggBlock)
				if err != nil {
					b.Fatal(err)
				}
				if n != int64(buckets) || points != total {
					b.Fatalf("%d buckets of %d points", n, points)
				}
			}
			report(b, start, b.N*total)
		})
	}
}
