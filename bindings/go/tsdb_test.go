package tsdb

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestVersion(t *testing.T) {
	if Version() != HeaderVersion {
		t.Fatalf("library version %q, header version %q", Version(), HeaderVersion)
	}
}

func TestOpenInsertScan(t *testing.T) {
	db, _ := openTemp(t, nil)
	id := mustCreate(t, db, "cpu.user")
	if id != 1 {
		t.Fatalf("first id = %d, want 1", id)
	}
	id2 := mustCreate(t, db, "cpu.system")
	if id2 == id {
		t.Fatalf("second metric got the same id %d", id2)
	}

	// Single points out of order, a batch, and an overwrite: last write wins.
	must(t, db.Insert(id, 30, 3.0))
	must(t, db.Insert(id, 10, 1.0))
	must(t, db.InsertBatch(id, []int64{20, 40, 50, 20}, []float64{2.0, 4.0, 5.0, 2.5}))
	must(t, db.Insert(id, 40, 4.5))
	must(t, db.Insert(id2, 10, -1))

	txn := mustBegin(t, db)
	defer txn.Release()
	ts, vs := scanAll(t, txn, id, math.MinInt64, MaxTimestamp+1)
	if want := []int64{10, 20, 30, 40, 50}; !reflect.DeepEqual(ts, want) {
		t.Fatalf("timestamps %v, want %v", ts, want)
	}
	if want := []float64{1.0, 2.5, 3.0, 4.5, 5.0}; !reflect.DeepEqual(vs, want) {
		t.Fatalf("values %v, want %v", vs, want)
	}
	// from is inclusive, until exclusive; from == until is empty.
	if ts, _ := scanAll(t, txn, id, 20, 40); !reflect.DeepEqual(ts, []int64{20, 30}) {
		t.Fatalf("[20, 40) gave %v", ts)
	}
	if ts, _ := scanAll(t, txn, id, 30, 30); len(ts) != 0 {
		t.Fatalf("[30, 30) gave %v", ts)
	}
	if ts, vs := scanAll(t, txn, id2, 0, 100); !reflect.DeepEqual(ts, []int64{10}) || vs[0] != -1 {
		t.Fatalf("metric 2: %v %v", ts, vs)
	}

	got, err := txn.Lookup("cpu.system")
	must(t, err)
	if got != id2 {
		t.Fatalf("Lookup = %d, want %d", got, id2)
	}
	n, err := txn.MetricCount()
	must(t, err)
	if n != 2 {
		t.Fatalf("MetricCount = %d, want 2", n)
	}
}

func TestExtremeValuesAndTimestamps(t *testing.T) {
	db, _ := openTemp(t, nil)
	id := mustCreate(t, db, "extremes")
	nanPayload := math.Float64frombits(0x7ff8_dead_beef_0001)
	negZero := math.Copysign(0, -1)
	ts := []int64{math.MinInt64, -1, 0, 1, MaxTimestamp}
	vs := []float64{nanPayload, math.Inf(1), negZero, math.Inf(-1), math.MaxFloat64}
	must(t, db.InsertBatch(id, ts, vs))
	txn := mustBegin(t, db)
	defer txn.Release()
	gotTS, gotVS := scanAll(t, txn, id, math.MinInt64, math.MaxInt64)
	if !reflect.DeepEqual(gotTS, ts) {
		t.Fatalf("timestamps %v, want %v", gotTS, ts)
	}
	for i := range vs {
		if math.Float64bits(gotVS[i]) != math.Float64bits(vs[i]) {
			t.Errorf("value %d: bits %#x, want %#x", i, math.Float64bits(gotVS[i]), math.Float64bits(vs[i]))
		}
	}
}

// TestScanBlocks reads many partitions' worth of points with Next, NextBatch (with small
// buffers, with either column skipped, and mixed with Next) and All.
func TestScanBlocks(t *testing.T) {
	db, _ := openTemp(t, &Options{PartitionPoints: 64})
	id := mustCreate(t, db, "m")
	const total = 20000 // several Next refills, several hundred partitions
	ts := make([]int64, total)
	vs := make([]float64, total)
	for i := range ts {
		ts[i] = int64(i) * 10
		vs[i] = float64(i) / 4
	}
	for i := 0; i < total; i += 1000 {
		must(t, db.InsertBatch(id, ts[i:i+1000], vs[i:i+1000]))
	}
	must(t, db.Checkpoint()) // the points now come from sealed partitions on disk too
	txn := mustBegin(t, db)
	defer txn.Release()

	gotTS, gotVS := scanAll(t, txn, id, 0, math.MaxInt64)
	if !reflect.DeepEqual(gotTS, ts) || !reflect.DeepEqual(gotVS, vs) {
		t.Fatalf("Next/At: %d points, want %d, or different contents", len(gotTS), total)
	}

	// NextBatch with a 7-point buffer, timestamps only, then values only.
	for _, mode := range []string{"both", "ts", "values"} {
		c, err := txn.Scan(id, 0, math.MaxInt64)
		must(t, err)
		var bt []int64
		var bv []float64
		tb, vb := make([]int64, 7), make([]float64, 7)
		switch mode {
		case "ts":
			vb = nil
		case "values":
			tb = nil
		}
		for {
			n, err := c.NextBatch(tb, vb)
			if err == io.EOF {
				if n != 0 {
					t.Fatalf("%s: io.EOF with n = %d", mode, n)
				}
				break
			}
			must(t, err)
			if n < 1 || n > 7 {
				t.Fatalf("%s: NextBatch returned %d points", mode, n)
			}
			if tb != nil {
				bt = append(bt, tb[:n]...)
			}
			if vb != nil {
				bv = append(bv, vb[:n]...)
			}
		}
		if (mode != "values" && !reflect.DeepEqual(bt, ts)) || (mode != "ts" && !reflect.DeepEqual(bv, vs)) {
			t.Fatalf("%s: NextBatch gave %d timestamps and %d values, want %d", mode, len(bt), len(bv), total)
		}
		// Exhausted: TS_DONE is sticky, and Close after the end is a no-op.
		if n, err := c.NextBatch(tb, vb); n != 0 || err != io.EOF {
			t.Fatalf("after the end: %d, %v", n, err)
		}
		if c.Next() || c.Err() != nil {
			t.Fatalf("Next after the end: true or %v", c.Err())
		}
		must(t, c.Close())
	}

	// Next, then NextBatch: the points Next read ahead come first, none is lost.
	c, err := txn.Scan(id, 0, math.MaxInt64)
	must(t, err)
	var mixed []int64
	for i := 0; i < 3 && c.Next(); i++ {
		ts, _ := c.At()
		mixed = append(mixed, ts)
	}
	big := make([]int64, 5000)
	for {
		n, err := c.NextBatch(big, nil)
		if err == io.EOF {
			break
		}
		must(t, err)
		mixed = append(mixed, big[:n]...)
	}
	must(t, c.Close())
	if !reflect.DeepEqual(mixed, ts) {
		t.Fatalf("Next then NextBatch: %d points, want %d", len(mixed), total)
	}

	// All, stopped early, then resumed by Next.
	c, err = txn.Scan(id, 0, math.MaxInt64)
	must(t, err)
	defer c.Close()
	var first []int64
	c.All()(func(ts int64, v float64) bool {
		if v != float64(ts/10)/4 {
			t.Fatalf("All: point (%d, %v)", ts, v)
		}
		first = append(first, ts)
		return len(first) < 5
	})
	if !reflect.DeepEqual(first, ts[:5]) {
		t.Fatalf("All: %v", first)
	}
	if !c.Next() {
		t.Fatal("Next after breaking out of All")
	}
	if ts, _ := c.At(); ts != 50 {
		t.Fatalf("Next after All gave %d, want 50", ts)
	}
	rest := 0
	c.All()(func(int64, float64) bool { rest++; return true })
	if rest != total-6 || c.Err() != nil {
		t.Fatalf("All after Next: %d points (want %d), err %v", rest, total-6, c.Err())
	}
}

func TestCreateExistsDrop(t *testing.T) {
	db, _ := openTemp(t, nil)
	id := mustCreate(t, db, "temp")
	again, err := db.CreateMetric("temp")
	wantErr(t, "CreateMetric twice", err, ErrExists, "ts_metric_create")
	if again != id {
		t.Fatalf("CreateMetric of an existing name returned id %d, want %d", again, id)
	}
	must(t, db.Insert(id, 1, 1))
	before := mustBegin(t, db)
	defer before.Release()

	must(t, db.DropMetric(id))
	wantErr(t, "DropMetric twice", db.DropMetric(id), ErrNotFound, "ts_metric_drop")
	wantErr(t, "Insert into a dropped metric", db.Insert(id, 2, 2), ErrNotFound)

	// The older snapshot still reads the dropped metric; a new one does not see it.
	if ts, _ := scanAll(t, before, id, 0, 10); !reflect.DeepEqual(ts, []int64{1}) {
		t.Fatalf("old snapshot reads %v", ts)
	}
	after := mustBegin(t, db)
	defer after.Release()
	_, err = after.Lookup("temp")
	wantErr(t, "Lookup of a dropped metric", err, ErrNotFound, "ts_metric_lookup")
	_, err = after.Scan(id, 0, 10)
	wantErr(t, "Scan of a dropped metric", err, ErrNotFound, "ts_scan_range")

	// The name is free again, with a new id.
	reused := mustCreate(t, db, "temp")
	if reused == id {
		t.Fatalf("a dropped id was reused: %d", id)
	}
}

// TestBatch: Batch commits points of several metrics atomically; a failed commit writes
// nothing and keeps the batch.
func TestBatch(t *testing.T) {
	db, _ := openTemp(t, nil)
	a := mustCreate(t, db, "a")
	b := mustCreate(t, db, "b")

	var batch Batch
	wantErr(t, "Commit of an empty batch", db.Commit(&batch), ErrInvalidArgument)
	batch.Add(a, 1, 1.5)
	batch.Add(b, 1, 2.5)
	batch.Add(a, 2, 3.5)
	batch.Add(a, 1, 9.5) // later add wins
	batch.Add(999, 1, 0) // no such metric: nothing is written
	wantErr(t, "Commit with an unknown id", db.Commit(&batch), ErrNotFound, "999")
	if batch.Len() != 5 {
		t.Fatalf("a failed Commit changed the batch: Len = %d", batch.Len())
	}
	txn := mustBegin(t, db)
	if countPoints(t, txn, a)+countPoints(t, txn, b) != 0 {
		t.Fatal("a failed Commit wrote points")
	}
	txn.Release()

	batch.Reset()
	batch.Add(a, 1, 1.5)
	batch.Add(b, 1, 2.5)
	batch.Add(a, 2, 3.5)
	batch.Add(a, 1, 9.5)
	must(t, db.Commit(&batch))
	if batch.Len() != 0 {
		t.Fatalf("Commit did not empty the batch: Len = %d", batch.Len())
	}
	txn = mustBegin(t, db)
	defer txn.Release()
	if ts, vs := scanAll(t, txn, a, 0, 10); !reflect.DeepEqual(ts, []int64{1, 2}) || !reflect.DeepEqual(vs, []float64{9.5, 3.5}) {
		t.Fatalf("metric a: %v %v", ts, vs)
	}
	if ts, vs := scanAll(t, txn, b, 0, 10); !reflect.DeepEqual(ts, []int64{1}) || vs[0] != 2.5 {
		t.Fatalf("metric b: %v %v", ts, vs)
	}

	batch.Add(a, math.MaxInt64, 0)
	wantErr(t, "Commit with math.MaxInt64", db.Commit(&batch), ErrInvalidArgument)
	wantErr(t, "Commit(nil)", db.Commit(nil), ErrInvalidArgument)
}

// TestBatchAtomicUnderReaders: every snapshot taken while a writer commits two-metric
// batches sees both metrics' halves of every batch or of none, and so do InsertBatch calls.
func TestBatchAtomicUnderReaders(t *testing.T) {
	db, _ := openTemp(t, &Options{PartitionPoints: 128})
	a := mustCreate(t, db, "a")
	b := mustCreate(t, db, "b")
	c := mustCreate(t, db, "c")
	const rounds, per = 200, 50
	done := make(chan struct{})
	var werr error
	go func() {
		defer close(done)
		var batch Batch
		ts := make([]int64, per)
		vs := make([]float64, per)
		for r := 0; r < rounds; r++ {
			for i := 0; i < per; i++ {
				p := int64(r*per + i)
				batch.Add(a, p, float64(p))
				batch.Add(b, p, -float64(p))
				ts[i], vs[i] = p, float64(p)
			}
			if werr = db.Commit(&batch); werr != nil {
				return
			}
			if werr = db.InsertBatch(c, ts, vs); werr != nil {
				return
			}
		}
	}()
	snapshots := 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		txn := mustBegin(t, db)
		na, nb, nc := countPoints(t, txn, a), countPoints(t, txn, b), countPoints(t, txn, c)
		txn.Release()
		if na != nb || na%per != 0 || nc%per != 0 {
			t.Fatalf("snapshot sees %d points of a, %d of b, %d of c: a batch was split", na, nb, nc)
		}
		snapshots++
	}
	must(t, werr)
	txn := mustBegin(t, db)
	defer txn.Release()
	if n := countPoints(t, txn, a); n != rounds*per {
		t.Fatalf("after the writer: %d points, want %d", n, rounds*per)
	}
	t.Logf("%d snapshots checked while writing", snapshots)
}

// TestSnapshotIsolation: a snapshot begun while a writer goroutine is paused sees exactly
// the writes before it, however many scans it does while the writer carries on; a snapshot
// begun afterwards sees everything.
func TestSnapshotIsolation(t *testing.T) {
	db, _ := openTemp(t, &Options{PartitionPoints: 256})
	id := mustCreate(t, db, "series")
	const batch, pauseAt, batches = 500, 10, 60
	paused := make(chan struct{})
	resume := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		ts := make([]int64, batch)
		vs := make([]float64, batch)
		for k := 0; k < batches; k++ {
			for i := range ts {
				ts[i] = int64(k*batch + i)
				vs[i] = float64(ts[i]) * 2
			}
			if err := db.InsertBatch(id, ts, vs); err != nil {
				done <- err
				return
			}
			if k == pauseAt-1 {
				if _, err := db.CreateMetric("created-before"); err != nil {
					done <- err
					return
				}
				paused <- struct{}{}
				<-resume
				if _, err := db.CreateMetric("created-after"); err != nil {
					done <- err
					return
				}
			}
			if k%10 == 0 {
				if err := db.Checkpoint(); err != nil { // seals and flushes run meanwhile
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	<-paused
	old := mustBegin(t, db)
	defer old.Release()
	close(resume)

	check := func() {
		ts, vs := scanAll(t, old, id, 0, math.MaxInt64)
		if len(ts) != pauseAt*batch {
			t.Fatalf("old snapshot sees %d points, want %d", len(ts), pauseAt*batch)
		}
		for i := range ts {
			if ts[i] != int64(i) || vs[i] != float64(i)*2 {
				t.Fatalf("old snapshot point %d = (%d, %v)", i, ts[i], vs[i])
			}
		}
	}
	var werr error
	scans := 0
	for running := true; running; scans++ {
		select {
		case werr = <-done:
			running = false
		default:
		}
		check()
	}
	must(t, werr)
	check()
	if _, err := old.Lookup("created-before"); err != nil {
		t.Fatalf("old snapshot: Lookup of a metric created before it: %v", err)
	}
	_, err := old.Lookup("created-after")
	wantErr(t, "old snapshot: Lookup of a metric created after it", err, ErrNotFound)

	fresh := mustBegin(t, db)
	defer fresh.Release()
	if n := countPoints(t, fresh, id); n != batches*batch {
		t.Fatalf("new snapshot sees %d points, want %d", n, batches*batch)
	}
	if _, err := fresh.Lookup("created-after"); err != nil {
		t.Fatalf("new snapshot: %v", err)
	}
	t.Logf("old snapshot scanned %d times while the writer ran", scans)
}

func TestReopenDurability(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir, &Options{PartitionPoints: 100, Sync: SyncAlways})
	must(t, err)
	id := mustCreate(t, db, "kept")
	dropped := mustCreate(t, db, "dropped")
	for i := int64(0); i < 250; i++ {
		must(t, db.Insert(id, i, float64(i)))
	}
	must(t, db.Checkpoint())
	must(t, db.InsertBatch(id, []int64{1000, 1001}, []float64{1, 2})) // in the log only
	must(t, db.DropMetric(dropped))
	must(t, db.Close())

	db, err = Open(dir, &Options{ErrorIfMissing: true})
	must(t, err)
	defer db.Close()
	txn := mustBegin(t, db)
	defer txn.Release()
	got, err := txn.Lookup("kept")
	must(t, err)
	if got != id {
		t.Fatalf("id after reopen %d, want %d", got, id)
	}
	if n := countPoints(t, txn, id); n != 252 {
		t.Fatalf("%d points after reopen, want 252", n)
	}
	_, err = txn.Lookup("dropped")
	wantErr(t, "dropped metric after reopen", err, ErrNotFound)
	if n, _ := txn.MetricCount(); n != 1 {
		t.Fatalf("MetricCount after reopen = %d, want 1", n)
	}
	if next, err := db.CreateMetric("new"); err != nil || next <= dropped {
		t.Fatalf("id after reopen: %d, %v (ids are never reused)", next, err)
	}
}

func TestOptions(t *testing.T) {
	good := []Options{
		{},
		{Sync: SyncAlways},
		{Sync: SyncNone},
		{Sync: SyncInterval, SyncInterval: 5000000}, // 5 ms
		{PartitionPoints: 2, HeadRunPoints: 1, RawHeadBudget: -1, CheckpointBytes: 4096},
		{PartitionPoints: MaxPartitionPoints, HeadRunPoints: MaxPartitionPoints, RawHeadBudget: 1 << 20},
	}
	for i, o := range good {
		o := o
		db, _ := openTemp(t, &o)
		id := mustCreate(t, db, "m")
		pts := make([]int64, 5000)
		for j := range pts {
			pts[j] = int64(j)
		}
		must(t, db.InsertBatch(id, pts, make([]float64, len(pts))))
		txn := mustBegin(t, db)
		if n := countPoints(t, txn, id); n != len(pts) {
			t.Errorf("options %d: %d points", i, n)
		}
		txn.Release()
		must(t, db.Close())
	}
	bad := map[string]Options{
		"partition_points 1":     {PartitionPoints: 1},
		"partition_points max+1": {PartitionPoints: MaxPartitionPoints + 1},
		"head_run_points max+1":  {HeadRunPoints: MaxPartitionPoints + 1},
		"sync mode 7":            {Sync: 7},
		"interval 61 s":          {SyncInterval: 61e9},
		"interval 1.5 ms":        {SyncInterval: 1500000},
		"interval -1 ms":         {SyncInterval: -1000000},
		"checkpoint_bytes 4095":  {CheckpointBytes: 4095},
	}
	for what, o := range bad {
		o := o
		db, err := Open(filepath.Join(t.TempDir(), "db"), &o)
		wantErr(t, what, err, ErrInvalidArgument, "ts_options_set_")
		if db != nil {
			t.Errorf("%s: Open returned a DB with an error", what)
		}
	}
}

// TestErrors provokes every status the binding can meet and checks errors.Is and the
// library's message (read in the same C call that failed).
func TestErrors(t *testing.T) {
	db, dir := openTemp(t, nil)
	id := mustCreate(t, db, "m")
	txn := mustBegin(t, db)

	// TS_NOT_FOUND
	_, err := txn.Lookup("missing")
	wantErr(t, "Lookup of a missing name", err, ErrNotFound, "ts_metric_lookup")
	wantErr(t, "DropMetric of an unknown id", db.DropMetric(777), ErrNotFound, "ts_metric_drop", "777")
	wantErr(t, "Insert into an unknown id", db.Insert(777, 1, 1), ErrNotFound, "ts_insert")
	wantErr(t, "InsertBatch into an unknown id", db.InsertBatch(777, []int64{1}, []float64{1}), ErrNotFound, "ts_insert_batch")
	_, err = txn.Scan(777, 0, 1)
	wantErr(t, "Scan of an unknown id", err, ErrNotFound, "ts_scan_range")
	_, err = Open(filepath.Join(t.TempDir(), "missing"), &Options{ErrorIfMissing: true})
	wantErr(t, "Open of a missing directory with ErrorIfMissing", err, ErrNotFound, "ts_open")

	// TS_EXISTS
	_, err = db.CreateMetric("m")
	wantErr(t, "CreateMetric of an existing name", err, ErrExists, "ts_metric_create")

	// TS_INVALID_ARGUMENT, from the library and from the binding's own checks
	_, err = txn.Scan(id, 20, 10)
	wantErr(t, "Scan with from > until", err, ErrInvalidArgument, "ts_scan_range", "from > until")
	_, err = db.CreateMetric("")
	wantErr(t, "CreateMetric with an empty name", err, ErrInvalidArgument, "ts_metric_create")
	_, err = db.CreateMetric(strings.Repeat("x", MaxNameLen+1))
	wantErr(t, "CreateMetric with a long name", err, ErrInvalidArgument, "ts_metric_create")
	if _, err := db.CreateMetric(strings.Repeat("x", MaxNameLen)); err != nil {
		t.Errorf("CreateMetric with a %d-byte name: %v", MaxNameLen, err)
	}
	_, err = db.CreateMetric("\xff\xfe")
	wantErr(t, "CreateMetric with a name that is not UTF-8", err, ErrInvalidArgument)
	_, err = db.CreateMetric("a\x00b")
	wantErr(t, "CreateMetric with a NUL byte", err, ErrInvalidArgument, "NUL")
	_, err = txn.Lookup("")
	wantErr(t, "Lookup of an empty name", err, ErrInvalidArgument, "ts_metric_lookup")
	wantErr(t, "Insert at math.MaxInt64", db.Insert(id, math.MaxInt64, 0), ErrInvalidArgument, "ts_insert")
	wantErr(t, "InsertBatch with math.MaxInt64", db.InsertBatch(id, []int64{1, math.MaxInt64}, []float64{0, 0}), ErrInvalidArgument, "ts_insert_batch")
	wantErr(t, "InsertBatch with different lengths", db.InsertBatch(id, []int64{1, 2}, []float64{0}), ErrInvalidArgument, "len")
	wantErr(t, "InsertBatch with no points", db.InsertBatch(id, nil, nil), ErrInvalidArgument, "empty")
	_, err = Open("bad\x00path", nil)
	wantErr(t, "Open of a path with a NUL byte", err, ErrInvalidArgument, "NUL")
	file := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(file, nil, 0o644))
	_, err = Open(file, nil)
	wantErr(t, "Open of a file", err, ErrInvalidArgument, "ts_open", "not a directory")
	c, err := txn.Scan(id, 0, 10)
	must(t, err)
	_, err = c.NextBatch(nil, nil)
	wantErr(t, "NextBatch with no buffers", err, ErrInvalidArgument)
	must(t, c.Close())
	if txn2 := mustBegin(t, db); countPoints(t, txn2, id) != 0 {
		t.Error("a rejected write wrote points")
	} else {
		txn2.Release()
	}

	// TS_BUSY: a second Open; Close with a live snapshot, then with a live cursor.
	_, err = Open(dir, nil)
	wantErr(t, "second Open", err, ErrBusy, "ts_open")
	wantErr(t, "Close with a live Txn", db.Close(), ErrBusy, "ts_close")
	c, err = txn.Scan(id, 0, 10)
	must(t, err)
	txn.Release() // the cursor still pins the snapshot
	wantErr(t, "Close with a live Cursor", db.Close(), ErrBusy, "ts_close")
	must(t, db.Insert(id, 5, 5)) // still open and usable after TS_BUSY
	must(t, c.Close())

	// TS_IO_ERROR
	_, err = Open(filepath.Join(file, "db"), nil)
	wantErr(t, "Open below a file", err, ErrIOError, "ts_open")
	_, err = Open(filepath.Join(t.TempDir(), "no", "parent"), nil)
	wantErr(t, "Open without a parent directory", err, ErrIOError, "ts_open")

	must(t, db.Close())
	// TS_CLOSED is covered by TestUseAfterClose, TS_CORRUPTION by TestCorruption.
}

// TestCorruption damages a data segment: the cursor reading it fails with ErrCorruption
// naming the file and offset, and frees itself so that the database can still be closed.
func TestCorruption(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir, &Options{PartitionPoints: 64})
	must(t, err)
	id := mustCreate(t, db, "m")
	ts := make([]int64, 10000)
	vs := make([]float64, len(ts))
	for i := range ts {
		ts[i], vs[i] = int64(i), float64(i)*1.5
	}
	must(t, db.InsertBatch(id, ts, vs))
	must(t, db.Close())

	// The one data segment (its number depends on how often checkpoints compacted).
	segs, err := filepath.Glob(filepath.Join(dir, "data", "*.seg"))
	if err != nil || len(segs) != 1 {
		t.Fatalf("data segments: %v, %v", segs, err)
	}
	seg := segs[0]
	data, err := os.ReadFile(seg)
	must(t, err)
	for i := len(data) / 2; i < len(data)/2+16; i++ {
		data[i] ^= 0xff
	}
	must(t, os.WriteFile(seg, data, 0o644))

	db, err = Open(dir, nil) // blocks are checked when read, not on open
	must(t, err)
	defer db.Close()
	txn := mustBegin(t, db)
	c, err := txn.Scan(id, 0, math.MaxInt64)
	must(t, err)
	txn.Release()
	n := 0
	for c.Next() {
		n++
	}
	wantErr(t, "scan of a damaged segment", c.Err(), ErrCorruption, "ts_cursor_next_batch", filepath.Base(seg), "offset")
	if n >= len(ts) {
		t.Fatalf("read all %d points of a damaged segment", n)
	}
	if _, err := c.NextBatch(make([]int64, 10), nil); !errors.Is(err, ErrCorruption) {
		t.Fatalf("NextBatch after the failure: %v", err)
	}
	must(t, db.Close()) // the failed cursor released its snapshot
}

// TestErrorMessagesPerCall: goroutines failing in different ways at once each get their
// own call's message, although ts_errmsg is per OS thread and goroutines move between them.
func TestErrorMessagesPerCall(t *testing.T) {
	db, _ := openTemp(t, nil)
	id := mustCreate(t, db, "m")
	txn := mustBegin(t, db)
	defer txn.Release()
	kinds := []struct {
		fragment string
		call     func() error
	}{
		{"from > until", func() error { _, err := txn.Scan(id, 9, 1); return err }},
		{"ts_metric_lookup", func() error { _, err := txn.Lookup("nope"); return err }},
		{"ts_metric_drop", func() error { return db.DropMetric(12345) }},
		{"ts_insert", func() error { return db.Insert(12345, 1, 1) }},
		{"ts_aggregate", func() error { _, err := txn.Aggregate(id, 0, 10, 0); return err }},
		{"ts_delete_range", func() error { return db.DeleteRange(12345, 0, 1) }},
		{"ts_metric_list_open", func() error { _, err := txn.Metrics("\xff"); return err }},
	}
	var wg sync.WaitGroup
	for g := 0; g < 2*len(kinds); g++ {
		k := kinds[g%len(kinds)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				err := k.call()
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(e.Msg, k.fragment) {
					t.Errorf("want a message with %q, got %v", k.fragment, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestUseAfterClose(t *testing.T) {
	db, _ := openTemp(t, nil)
	id := mustCreate(t, db, "m")
	must(t, db.InsertBatch(id, []int64{1, 2, 3}, []float64{1, 2, 3}))

	// A released Txn.
	txn := mustBegin(t, db)
	txn.Release()
	txn.Release() // a no-op
	_, err := txn.Lookup("m")
	wantErr(t, "Lookup after Release", err, ErrClosed)
	_, err = txn.MetricCount()
	wantErr(t, "MetricCount after Release", err, ErrClosed)
	_, err = txn.Scan(id, 0, 10)
	wantErr(t, "Scan after Release", err, ErrClosed)

	// A closed Cursor.
	txn = mustBegin(t, db)
	c, err := txn.Scan(id, 0, 10)
	must(t, err)
	txn.Release()
	if !c.Next() {
		t.Fatal("Next")
	}
	must(t, c.Close())
	must(t, c.Close()) // idempotent
	if c.Next() {
		t.Fatal("Next after Close returned true")
	}
	wantErr(t, "Err after Close", c.Err(), ErrClosed)
	_, err = c.NextBatch(make([]int64, 4), nil)
	wantErr(t, "NextBatch after Close", err, ErrClosed)

	// A closed DB.
	must(t, db.Close())
	wantErr(t, "Close twice", db.Close(), ErrClosed)
	wantErr(t, "Insert", db.Insert(id, 4, 4), ErrClosed)
	wantErr(t, "InsertBatch", db.InsertBatch(id, []int64{4}, []float64{4}), ErrClosed)
	_, err = db.CreateMetric("x")
	wantErr(t, "CreateMetric", err, ErrClosed)
	wantErr(t, "DropMetric", db.DropMetric(id), ErrClosed)
	wantErr(t, "Checkpoint", db.Checkpoint(), ErrClosed)
	var b Batch
	b.Add(id, 5, 5)
	wantErr(t, "Commit", db.Commit(&b), ErrClosed)
	_, err = db.Begin()
	wantErr(t, "Begin", err, ErrClosed)

	// nil handles.
	var ndb *DB
	var ntxn *Txn
	var nc *Cursor
	wantErr(t, "nil DB Close", ndb.Close(), ErrClosed)
	wantErr(t, "nil DB Insert", ndb.Insert(1, 1, 1), ErrClosed)
	_, err = ntxn.Lookup("m")
	wantErr(t, "nil Txn Lookup", err, ErrClosed)
	ntxn.Release()
	if nc.Next() || nc.Close() != nil {
		t.Fatal("nil Cursor")
	}
	wantErr(t, "nil Cursor Err", nc.Err(), ErrClosed)
}

// TestConcurrentClose: goroutines closing the DB while others write and read: exactly one
// Close succeeds, every other call returns ErrClosed or succeeds, nothing crashes.
func TestConcurrentClose(t *testing.T) {
	for round := 0; round < 20; round++ {
		db, _ := openTemp(t, nil)
		id := mustCreate(t, db, "m")
		start := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		closes := 0
		for g := 0; g < 4; g++ {
			wg.Add(2)
			go func(g int) { // writer and reader
				defer wg.Done()
				<-start
				for i := 0; i < 200; i++ {
					err := db.Insert(id, int64(g*1000+i), 1)
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Insert: %v", err)
						}
						return
					}
					txn, err := db.Begin()
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Begin: %v", err)
						}
						return
					}
					c, err := txn.Scan(id, 0, 10)
					txn.Release()
					if err != nil {
						t.Errorf("Scan: %v", err)
						return
					}
					for c.Next() {
					}
					c.Close()
				}
			}(g)
			go func() {
				defer wg.Done()
				<-start
				for {
					err := db.Close()
					if err == nil {
						mu.Lock()
						closes++
						mu.Unlock()
						return
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if !errors.Is(err, ErrBusy) { // a reader's snapshot was live: retry
						t.Errorf("Close: %v", err)
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		if closes != 1 {
			t.Fatalf("round %d: %d Close calls succeeded, want 1", round, closes)
		}
	}
}
