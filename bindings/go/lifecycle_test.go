package tsdb

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// reopenAfterGC runs the garbage collector until the finalizers of a forgotten DB (and of
// its forgotten Txns and Cursors, which run first) have closed it, so that Open succeeds.
func reopenAfterGC(t *testing.T, dir string) *DB {
	t.Helper()
	for i := 0; i < 500; i++ {
		runtime.GC()
		db, err := Open(dir, nil)
		if err == nil {
			return db
		}
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("Open: %v", err)
		}
		time.Sleep(2 * time.Millisecond) // let the finalizer goroutine run; not a timing assertion
	}
	t.Fatal("the forgotten DB was never finalized: Open still returns ErrBusy")
	return nil
}

// TestFinalizers: handles dropped without Close/Release (a DB, Txns, a Cursor, a
// MetricIter) are freed by finalizers, children first; a live child keeps its DB open.
func TestFinalizers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	var txn *Txn
	var id uint64
	func() {
		db, err := Open(dir, nil)
		must(t, err)
		id = mustCreate(t, db, "m")
		must(t, db.InsertBatch(id, []int64{1, 2, 3}, []float64{1, 2, 3}))
		txn = mustBegin(t, db)
		// A forgotten cursor, partly read, and a forgotten second snapshot.
		c, err := txn.Scan(id, 0, 10)
		must(t, err)
		if !c.Next() {
			t.Fatal("Next")
		}
		_ = mustBegin(t, db)
		// A forgotten metric listing, partly read: it pins its snapshot too.
		l, err := txn.Metrics("")
		must(t, err)
		if !l.Next() {
			t.Fatal("MetricIter.Next")
		}
	}()

	// The DB is unreachable except through txn: the collector must not close it.
	for i := 0; i < 5; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if db, err := Open(dir, nil); !errors.Is(err, ErrBusy) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("Open while a live Txn holds the DB: %v, want ErrBusy", err)
	}
	if n := countPoints(t, txn, id); n != 3 {
		t.Fatalf("the snapshot reads %d points", n)
	}

	txn = nil // now everything is garbage
	db := reopenAfterGC(t, dir)
	defer db.Close()
	txn2 := mustBegin(t, db)
	defer txn2.Release()
	if n := countPoints(t, txn2, id); n != 3 {
		t.Fatalf("after the finalizers' close and a reopen: %d points, want 3", n)
	}
}

// TestFinalizerManyForgottenDBs: a DB whose children were released and which is itself
// forgotten is closed by its finalizer (with its final checkpoint), again and again.
func TestFinalizerManyForgottenDBs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	for i := 0; i < 5; i++ {
		func() {
			db := reopenAfterGC(t, dir) // the first time, Open succeeds at once
			if _, err := db.CreateMetric(fmt.Sprintf("m%d", i)); err != nil {
				t.Fatal(err)
			}
			txn := mustBegin(t, db)
			txn.Release()
			// db is forgotten here
		}()
	}
	db := reopenAfterGC(t, dir)
	defer db.Close()
	txn := mustBegin(t, db)
	defer txn.Release()
	if n, _ := txn.MetricCount(); n != 5 {
		t.Fatalf("%d metrics, want 5", n)
	}
}

const crashChildEnv = "TSDB_GO_CRASH_CHILD_DIR"

// TestCrashDurability: a child process writes and is killed with SIGKILL, so it never
// closes the database; every write it acknowledged is there after reopening.
func TestCrashDurability(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := filepath.Join(t.TempDir(), "db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "written\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	must(t, cmd.Process.Kill()) // SIGKILL: no Close, no finalizer, no checkpoint
	cmd.Wait()

	db, err := Open(dir, &Options{ErrorIfMissing: true})
	must(t, err)
	defer db.Close()
	txn := mustBegin(t, db)
	defer txn.Release()
	a, err := txn.Lookup("batched")
	must(t, err)
	b, err := txn.Lookup("single")
	must(t, err)
	ts, vs := scanAll(t, txn, a, math.MinInt64, math.MaxInt64)
	if len(ts) != 50000 || ts[0] != 0 || ts[49999] != 49999 || vs[49999] != 49999*0.25 {
		t.Fatalf("batched metric: %d points after the crash, want 50000", len(ts))
	}
	if n := countPoints(t, txn, b); n != 1000 {
		t.Fatalf("single-point metric: %d points after the crash, want 1000", n)
	}
	if n := countPoints(t, txn, mustLookup(t, txn, "atomic")); n != 100 {
		t.Fatalf("Batch metric: %d points after the crash, want 100", n)
	}
}

func mustLookup(t *testing.T, txn *Txn, name string) uint64 {
	t.Helper()
	id, err := txn.Lookup(name)
	must(t, err)
	return id
}

func crashChild(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	db, err := Open(dir, &Options{CheckpointBytes: 1 << 20}) // some data checkpointed, some only logged
	if err != nil {
		fail(err)
	}
	a, err := db.CreateMetric("batched")
	if err != nil {
		fail(err)
	}
	b, err := db.CreateMetric("single")
	if err != nil {
		fail(err)
	}
	c, err := db.CreateMetric("atomic")
	if err != nil {
		fail(err)
	}
	ts := make([]int64, 1000)
	vs := make([]float64, 1000)
	for k := 0; k < 50; k++ {
		for i := range ts {
			ts[i] = int64(k*1000 + i)
			vs[i] = float64(ts[i]) * 0.25
		}
		if err := db.InsertBatch(a, ts, vs); err != nil {
			fail(err)
		}
	}
	for i := 0; i < 1000; i++ {
		if err := db.Insert(b, int64(i), 1); err != nil {
			fail(err)
		}
	}
	var batch Batch
	for i := 0; i < 100; i++ {
		batch.Add(c, int64(i), 2)
	}
	if err := db.Commit(&batch); err != nil {
		fail(err)
	}
	fmt.Println("written")
	time.Sleep(time.Hour) // wait for SIGKILL
}

// TestExhaustedCursorFreesItself: a cursor read to its end releases its snapshot without
// Close, so DB.Close succeeds; one stopped early keeps it pinned until closed.
func TestExhaustedCursorFreesItself(t *testing.T) {
	db, _ := openTemp(t, nil)
	id := mustCreate(t, db, "m")
	must(t, db.InsertBatch(id, []int64{1, 2, 3}, []float64{1, 2, 3}))
	txn := mustBegin(t, db)
	full, err := txn.Scan(id, 0, 10)
	must(t, err)
	early, err := txn.Scan(id, 0, 10)
	must(t, err)
	txn.Release()
	for full.Next() {
	}
	if !early.Next() {
		t.Fatal("Next")
	}
	wantErr(t, "Close with a cursor stopped early", db.Close(), ErrBusy)
	must(t, early.Close())
	must(t, db.Close()) // full was never closed: it freed itself at the end
	must(t, full.Close())
}
