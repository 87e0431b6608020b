package tsdb_test

import (
	"fmt"
	"log"
	"math"
	"os"

	tsdb "github.com/libtsdb/tsdb/bindings/go"
)

func ExampleTxn_Aggregate() {
	dir, _ := os.MkdirTemp("", "tsdb-example")
	defer os.RemoveAll(dir)
	db, err := tsdb.Open(dir+"/db", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	id, _ := db.CreateMetric("cpu.user")
	db.CreateMetric("cpu.system")
	db.CreateMetric("mem.free")
	ts := []int64{0, 10, 20, 30, 60, 70}
	if err := db.InsertBatch(id, ts, []float64{1, 2, math.NaN(), 4, 5, 6}); err != nil {
		log.Fatal(err)
	}
	txn, _ := db.Begin()
	defer txn.Release()
	if err := db.DeleteRange(id, 70, 80); err != nil { // newer snapshots no longer see ts 70
		log.Fatal(err)
	}

	// Buckets [0,30), [30,60), [60,90), [90,100): empty ones are left out. The NaN
	// counts as a point but takes no part in min, max and sum.
	aggs, err := txn.Aggregate(id, 0, 100, 30)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range aggs {
		fmt.Printf("[%d,%d): %d points, min %g, max %g, sum %g, last %g\n",
			a.Start, a.Start+30, a.Count, a.Min, a.Max, a.Sum, a.Last)
	}

	metrics, err := txn.Metrics("cpu.") // "" lists every metric
	if err != nil {
		log.Fatal(err)
	}
	defer metrics.Close()
	for metrics.Next() {
		id, name := metrics.At()
		fmt.Println(id, name)
	}
	if err := metrics.Err(); err != nil {
		log.Fatal(err)
	}

	s, _ := db.Stats()
	fmt.Println("metrics:", s.Metrics, "points:", s.Points, "live snapshots:", s.LiveSnapshots)
	// Output:
	// [0,30): 3 points, min 1, max 2, sum 3, last NaN
	// [30,60): 1 points, min 4, max 4, sum 4, last 4
	// [60,90): 2 points, min 5, max 6, sum 11, last 6
	// 1 cpu.user
	// 2 cpu.system
	// metrics: 3 points: 5 live snapshots: 1
}
