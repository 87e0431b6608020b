package tsdb_test

import (
	"fmt"
	"log"
	"os"

	tsdb "github.com/libtsdb/tsdb/bindings/go"
)

func Example() {
	dir, _ := os.MkdirTemp("", "tsdb-example")
	defer os.RemoveAll(dir)
	db, err := tsdb.Open(dir+"/db", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	id, _ := db.CreateMetric("cpu.user")
	if err := db.InsertBatch(id, []int64{10, 20, 30}, []float64{0.5, 0.25, 0.75}); err != nil {
		log.Fatal(err)
	}
	txn, _ := db.Begin() // a snapshot: sees every write that returned before it
	defer txn.Release()
	c, _ := txn.Scan(id, 0, 25) // from <= ts < until
	defer c.Close()
	for c.Next() {
		ts, v := c.At()
		fmt.Println(ts, v)
	}
	if err := c.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 10 0.5
	// 20 0.25
}
