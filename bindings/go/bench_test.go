package tsdb

import (
	"io"
	"math"
	"path/filepath"
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

// BenchmarkBatchCommit1000: one op is an atomic Batch of 1,000 points over 10 metrics.
func BenchmarkBatchCommit1000(b *testing.B) {
	db, _ := benchDB(b)
	defer closeBench(b, db)
	var ids [10]uint64
	for i := range ids {
		id, err := db.CreateMetric("m" + string(rune('0'+i)))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	var batch Batch
	next := int64(0)
	b.ResetTimer()
	start := time.Now()
	for r := 0; r < b.N; r++ {
		for i := 0; i < 100; i++ {
			for _, id := range ids {
				batch.Add(id, next, float64(next))
			}
			next++
		}
		if err := db.Commit(&batch); err != nil {
			b.Fatal(err)
		}
	}
	report(b, start, b.N*1000)
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
