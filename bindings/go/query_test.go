package tsdb

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"testing"
)

// refAggregate folds the points ts/vs (ascending) into buckets of [from, until) by the
// NaN rule of ts_agg: the reference Aggregate is checked against.
func refAggregate(ts []int64, vs []float64, from, until, bucket int64) []Agg {
	var out []Agg
	var valued []int
	for i, t := range ts {
		if t < from || t >= until {
			continue
		}
		k := (uint64(t) - uint64(from)) / uint64(bucket) // no overflow at extreme ranges
		start := from + int64(k*uint64(bucket))
		if len(out) == 0 || out[len(out)-1].Start != start {
			out = append(out, Agg{Start: start, Min: math.Inf(1), Max: math.Inf(-1), First: vs[i], FirstTS: t})
			valued = append(valued, 0)
		}
		a := &out[len(out)-1]
		a.Count++
		a.Last, a.LastTS = vs[i], t
		if v := vs[i]; !math.IsNaN(v) {
			a.Min = math.Min(a.Min, v)
			a.Max = math.Max(a.Max, v)
			a.Sum += v
			valued[len(valued)-1]++
		}
	}
	for i := range out {
		if valued[i] == 0 {
			out[i].Min, out[i].Max, out[i].Sum = math.NaN(), math.NaN(), math.NaN()
		}
	}
	return out
}

// sameFloat: equal bits, or both NaN (a NaN the library computes need not have our bits).
func sameFloat(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

// checkAggs compares got with the reference: exact but for Sum, whose per-block order of
// addition may change its last bits (scale bounds the rounding error).
func checkAggs(t *testing.T, what string, got, want []Agg, scale float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d buckets, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		sumOK := sameFloat(g.Sum, w.Sum) || math.Abs(g.Sum-w.Sum) <= 1e-12*scale
		if g.Start != w.Start || g.Count != w.Count || g.FirstTS != w.FirstTS || g.LastTS != w.LastTS ||
			!sameFloat(g.Min, w.Min) || !sameFloat(g.Max, w.Max) || !sameFloat(g.First, w.First) ||
			!sameFloat(g.Last, w.Last) || !sumOK {
			t.Fatalf("%s: bucket %d\n got %+v\nwant %+v", what, i, g, w)
		}
	}
}

// identicalAggs: bit-for-bit equal, NaN payloads included.
func identicalAggs(a, b []Agg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Start != y.Start || x.Count != y.Count || x.FirstTS != y.FirstTS || x.LastTS != y.LastTS {
			return false
		}
		for _, p := range [][2]float64{{x.Min, y.Min}, {x.Max, y.Max}, {x.Sum, y.Sum}, {x.First, y.First}, {x.Last, y.Last}} {
			if math.Float64bits(p[0]) != math.Float64bits(p[1]) {
				return false
			}
		}
	}
	return true
}

func iterAggs(t *testing.T, txn *Txn, id uint64, from, until, bucket int64) []Agg {
	t.Helper()
	it, err := txn.AggregateIter(id, from, until, bucket)
	must(t, err)
	var out []Agg
	for it.Next() {
		out = append(out, it.At())
	}
	must(t, it.Err())
	if it.Next() {
		t.Fatal("AggIter.Next after the end returned true")
	}
	return out
}

// TestAggregate checks Aggregate and AggregateIter against a fold over the scanned points:
// sealed partitions on disk and in memory plus a head, overwrites, a gap, NaN values (one
// bucket holding only NaN), infinities, many bucket widths, and continuation over
// cap-sized calls giving the same answer as one call.
func TestAggregate(t *testing.T) {
	db, _ := openTemp(t, &Options{PartitionPoints: 64})
	id := mustCreate(t, db, "m")
	var ts []int64
	var vs []float64
	for i := int64(0); i < 6000; i++ {
		if i >= 2000 && i < 2300 { // a gap: empty buckets are left out
			continue
		}
		v := float64((i*7919)%1000)/7 - 50
		switch {
		case i%97 == 0:
			v = math.NaN()
		case i >= 3331 && i < 3364: // every point of [9993, 10093) with bucket 100 from -7
			v = math.Float64frombits(0x7ff8_0000_0000_0abc) // a NaN with a payload
		case i == 4444:
			v = math.Inf(1)
		case i == 5555:
			v = math.Inf(-1)
		}
		ts = append(ts, i*3)
		vs = append(vs, v)
	}
	for k := 0; k < len(ts); k += 500 {
		end := k + 500
		if end > len(ts) {
			end = len(ts)
		}
		must(t, db.InsertBatch(id, ts[k:end], vs[k:end]))
		if k == 2500 {
			must(t, db.Checkpoint()) // the first partitions come from disk
		}
	}
	// Overwrites of sealed points (last write wins) land in the head.
	must(t, db.InsertBatch(id, []int64{30, 31, 3000}, []float64{1e6, -1e6, 42}))

	txn := mustBegin(t, db)
	defer txn.Release()
	pts, pvs := scanAll(t, txn, id, math.MinInt64, math.MaxInt64)
	if len(pts) != len(ts)+1 { // ts 31 is new; 30 and 3000 were overwritten
		t.Fatalf("scanned %d points, want %d", len(pts), len(ts)+1)
	}
	scale := 0.0
	for _, v := range pvs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			scale += math.Abs(v)
		}
	}

	nanBucket := false
	cases := []struct{ from, until, bucket int64 }{
		{-7, 20000, 100},
		{0, 18000, 1}, // one point per bucket, about 5,700 buckets: several calls into C
		{1, 17000, 3},
		{-3, 1_000_000, 192}, // whole blocks inside buckets: answered from their summaries
		{100, 12345, 5000},
		{0, 18000, 1 << 40},
		{math.MinInt64, math.MaxInt64, math.MaxInt64},
		{math.MinInt64, math.MaxInt64, 1 << 62},
		{9000, 9000, 10}, // from == until: no buckets
		{50000, 60000, 10},
	}
	for _, c := range cases {
		what := fmt.Sprintf("Aggregate(%d, %d, %d)", c.from, c.until, c.bucket)
		got, err := txn.Aggregate(id, c.from, c.until, c.bucket)
		must(t, err)
		want := refAggregate(pts, pvs, c.from, c.until, c.bucket)
		checkAggs(t, what, got, want, scale)
		for _, a := range got {
			if a.Count > 0 && math.IsNaN(a.Min) && math.IsNaN(a.Max) && math.IsNaN(a.Sum) {
				nanBucket = true
				if a.Start == 9993 && math.Float64bits(a.First) != 0x7ff8_0000_0000_0abc {
					t.Fatalf("%s: First of the NaN bucket has bits %#x, want the stored payload", what, math.Float64bits(a.First))
				}
			}
		}
		// The streaming form and every chunk size give the very same buckets.
		if it := iterAggs(t, txn, id, c.from, c.until, c.bucket); !identicalAggs(it, got) {
			t.Fatalf("%s: AggregateIter gave %d buckets, different from Aggregate's %d", what, len(it), len(got))
		}
		for _, chunk := range []int{1, 2, 7, 64} {
			small, err := txn.aggregate("test", id, c.from, c.until, c.bucket, chunk)
			must(t, err)
			if !identicalAggs(small, got) {
				t.Fatalf("%s in calls of %d buckets: %d buckets, different from one call's %d", what, chunk, len(small), len(got))
			}
		}
	}
	if !nanBucket {
		t.Fatal("no case met the bucket holding only NaN values")
	}

	// The iterator's All, stopped early then resumed by Next.
	it, err := txn.AggregateIter(id, 0, 18000, 1)
	must(t, err)
	var first []Agg
	it.All()(func(a Agg) bool { first = append(first, a); return len(first) < 3 })
	if !it.Next() || it.At().Start != first[2].Start+3 {
		t.Fatalf("Next after All: %+v (All gave %+v)", it.At(), first)
	}
}

// TestAggregateSnapshotAndErrors: an aggregate reads its snapshot (not later writes or
// deletes); bad arguments, unknown ids and released snapshots give errors, never a crash.
func TestAggregateSnapshotAndErrors(t *testing.T) {
	db, _ := openTemp(t, nil)
	id := mustCreate(t, db, "m")
	must(t, db.InsertBatch(id, []int64{10, 11, 20}, []float64{1, math.NaN(), 3}))
	txn := mustBegin(t, db)
	must(t, db.InsertBatch(id, []int64{12, 21}, []float64{100, 200}))
	must(t, db.DeleteRange(id, 20, 21))
	got, err := txn.Aggregate(id, 5, 100, 10)
	must(t, err)
	if len(got) != 2 || got[0].Start != 5 || got[0].Count != 2 || got[0].Min != 1 || got[0].Max != 1 ||
		got[0].Sum != 1 || got[0].First != 1 || !math.IsNaN(got[0].Last) || got[0].LastTS != 11 ||
		got[1].Start != 15 || got[1].Count != 1 || got[1].Sum != 3 {
		t.Fatalf("the old snapshot's buckets: %+v", got)
	}
	fresh := mustBegin(t, db)
	got, err = fresh.Aggregate(id, 5, 100, 10)
	must(t, err)
	if len(got) != 2 || got[0].Count != 3 || got[0].Max != 100 || got[1].Count != 1 || got[1].First != 200 {
		t.Fatalf("the new snapshot's buckets: %+v", got)
	}
	fresh.Release()

	for what, call := range map[string]func() error{
		"Aggregate": func() error { _, err := txn.Aggregate(id, 0, 100, 0); return err },
		"AggregateIter": func() error {
			it, err := txn.AggregateIter(id, 0, 100, 0)
			if it != nil {
				t.Errorf("AggregateIter returned an iterator with an error")
			}
			return err
		},
	} {
		wantErr(t, what+" with bucket 0", call(), ErrInvalidArgument, "ts_aggregate")
	}
	_, err = txn.Aggregate(id, 0, 100, -5)
	wantErr(t, "Aggregate with a negative bucket", err, ErrInvalidArgument, "ts_aggregate")
	_, err = txn.Aggregate(id, 100, 0, 10)
	wantErr(t, "Aggregate with from > until", err, ErrInvalidArgument, "ts_aggregate")
	_, err = txn.Aggregate(999, 0, 100, 10)
	wantErr(t, "Aggregate of an unknown id", err, ErrNotFound, "ts_aggregate")
	_, err = txn.AggregateIter(999, 0, 100, 10)
	wantErr(t, "AggregateIter of an unknown id", err, ErrNotFound, "ts_aggregate")
	if got, err := txn.Aggregate(id, 7, 7, 10); err != nil || len(got) != 0 {
		t.Fatalf("from == until: %v, %v", got, err)
	}

	// An iterator whose Txn is released before its end stops with ErrClosed.
	ts := make([]int64, 3000)
	for i := range ts {
		ts[i] = int64(1000 + i)
	}
	must(t, db.InsertBatch(id, ts, make([]float64, len(ts))))
	txn.Release()
	txn = mustBegin(t, db)
	it, err := txn.AggregateIter(id, 1000, 4000, 1) // 3,000 buckets: more than one block
	must(t, err)
	n := 0
	for ; n < 10 && it.Next(); n++ {
	}
	txn.Release()
	for it.Next() {
		n++
	}
	wantErr(t, "AggIter after its Txn was released", it.Err(), ErrClosed)
	if n != aggBlock {
		t.Fatalf("read %d buckets before the error, want the first block's %d", n, aggBlock)
	}
	_, err = txn.Aggregate(id, 0, 10, 1)
	wantErr(t, "Aggregate after Release", err, ErrClosed)
	_, err = txn.AggregateIter(id, 0, 10, 1)
	wantErr(t, "AggregateIter after Release", err, ErrClosed)
	var nit *AggIter
	if nit.Next() {
		t.Fatal("nil AggIter Next")
	}
	wantErr(t, "nil AggIter Err", nit.Err(), ErrClosed)
}

// TestDeleteRange: a delete is seen by new snapshots but not by one begun before; points
// written after it are kept; it survives a reopen.
func TestDeleteRange(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir, &Options{PartitionPoints: 64})
	must(t, err)
	id := mustCreate(t, db, "m")
	other := mustCreate(t, db, "other")
	ts := make([]int64, 1000)
	vs := make([]float64, len(ts))
	for i := range ts {
		ts[i], vs[i] = int64(i), float64(i)
	}
	must(t, db.InsertBatch(id, ts[:900], vs[:900]))
	must(t, db.Checkpoint()) // sealed partitions on disk; the rest in memory and the head
	must(t, db.InsertBatch(id, ts[900:], vs[900:]))
	must(t, db.InsertBatch(other, ts, vs))

	old := mustBegin(t, db)
	must(t, db.DeleteRange(id, 100, 300)) // across partition edges, sealed on disk
	must(t, db.DeleteRange(id, 950, 980)) // in the head
	must(t, db.DeleteRange(id, 500, 500)) // deletes nothing
	must(t, db.Insert(id, 150, -1))       // written after the delete: kept

	fresh := mustBegin(t, db)
	gotTS, gotVS := scanAll(t, fresh, id, math.MinInt64, math.MaxInt64)
	var wantTS []int64
	var wantVS []float64
	for i := range ts {
		switch {
		case ts[i] == 150:
			wantTS, wantVS = append(wantTS, 150), append(wantVS, -1)
		case ts[i] >= 100 && ts[i] < 300, ts[i] >= 950 && ts[i] < 980:
		default:
			wantTS, wantVS = append(wantTS, ts[i]), append(wantVS, vs[i])
		}
	}
	if !reflect.DeepEqual(gotTS, wantTS) || !reflect.DeepEqual(gotVS, wantVS) {
		t.Fatalf("after the deletes a new snapshot reads %d points, want %d", len(gotTS), len(wantTS))
	}
	if aggs, err := fresh.Aggregate(id, 0, 1000, 1000); err != nil || len(aggs) != 1 || aggs[0].Count != uint64(len(wantTS)) {
		t.Fatalf("Aggregate after the deletes: %+v, %v", aggs, err)
	}
	if gotTS, gotVS := scanAll(t, old, id, math.MinInt64, math.MaxInt64); !reflect.DeepEqual(gotTS, ts) || !reflect.DeepEqual(gotVS, vs) {
		t.Fatalf("the snapshot begun before the deletes reads %d points, want all %d", len(gotTS), len(ts))
	}
	if n := countPoints(t, fresh, other); n != len(ts) {
		t.Fatalf("the other metric lost points: %d", n)
	}
	old.Release()
	fresh.Release()

	wantErr(t, "DeleteRange with from > until", db.DeleteRange(id, 10, 5), ErrInvalidArgument, "ts_delete_range")
	wantErr(t, "DeleteRange of an unknown id", db.DeleteRange(999, 0, 10), ErrNotFound, "ts_delete_range")

	must(t, db.Close())
	db, err = Open(dir, nil)
	must(t, err)
	defer db.Close()
	txn := mustBegin(t, db)
	if gotTS, _ := scanAll(t, txn, id, math.MinInt64, math.MaxInt64); !reflect.DeepEqual(gotTS, wantTS) {
		t.Fatalf("after a reopen: %d points, want %d", len(gotTS), len(wantTS))
	}
	txn.Release()
	must(t, db.DeleteRange(id, math.MinInt64, math.MaxInt64))
	txn = mustBegin(t, db)
	defer txn.Release()
	if n := countPoints(t, txn, id); n != 0 {
		t.Fatalf("after deleting everything: %d points", n)
	}
}

type metricEntry struct {
	id   uint64
	name string
}

func listMetrics(t *testing.T, txn *Txn, prefix string) []metricEntry {
	t.Helper()
	it, err := txn.Metrics(prefix)
	must(t, err)
	defer it.Close()
	var out []metricEntry
	for it.Next() {
		id, name := it.At()
		out = append(out, metricEntry{id, name})
	}
	must(t, it.Err())
	return out
}

// TestMetrics lists more metrics than one block, with and without a prefix, as of a
// snapshot: dropped metrics and those created after it are left out.
func TestMetrics(t *testing.T) {
	db, _ := openTemp(t, nil)
	var all, cpu []metricEntry
	for i := 0; i < 3*metricBlock; i++ {
		name := fmt.Sprintf("%s.%d", []string{"cpu", "mem", "disk"}[i%3], i)
		if i == 7 {
			name = "cpu.温度.α" // UTF-8 names round-trip
		}
		id := mustCreate(t, db, name)
		if i%3 == 0 && i%30 == 3 {
			must(t, db.DropMetric(id))
			continue
		}
		all = append(all, metricEntry{id, name})
		if i%3 == 0 || i == 7 {
			cpu = append(cpu, metricEntry{id, name})
		}
	}
	txn := mustBegin(t, db)
	defer txn.Release()
	mustCreate(t, db, "cpu.late") // after the snapshot began

	if got := listMetrics(t, txn, ""); !reflect.DeepEqual(got, all) {
		t.Fatalf("Metrics(\"\"): %d metrics, want %d in id order", len(got), len(all))
	}
	if got := listMetrics(t, txn, "cpu."); !reflect.DeepEqual(got, cpu) || len(cpu) <= metricBlock/2 {
		t.Fatalf("Metrics(\"cpu.\"): %d metrics, want %d", len(got), len(cpu))
	}
	if got := listMetrics(t, txn, "cpu.温"); len(got) != 1 || got[0].name != "cpu.温度.α" {
		t.Fatalf("Metrics(\"cpu.温\"): %v", got)
	}
	if got := listMetrics(t, txn, "nothing"); len(got) != 0 {
		t.Fatalf("Metrics(\"nothing\"): %v", got)
	}
	fresh := mustBegin(t, db)
	if got := listMetrics(t, fresh, "cpu.late"); len(got) != 1 {
		t.Fatalf("a new snapshot lists %v", got)
	}
	fresh.Release()

	// All, stopped early, resumed by Next; a listing outlives its Txn and keeps the
	// database from closing until it is closed or exhausted.
	all = append(all, metricEntry{all[len(all)-1].id + 1, "cpu.late"})
	txn2 := mustBegin(t, db)
	it, err := txn2.Metrics("")
	must(t, err)
	txn2.Release()
	var first []metricEntry
	it.All()(func(id uint64, name string) bool {
		first = append(first, metricEntry{id, name})
		return len(first) < 3
	})
	if !reflect.DeepEqual(first, all[:3]) || !it.Next() {
		t.Fatalf("All: %v", first)
	}
	if id, name := it.At(); id != all[3].id || name != all[3].name {
		t.Fatalf("Next after All: %d %q, want %v", id, name, all[3])
	}
	txn.Release()
	wantErr(t, "Close with a live listing", db.Close(), ErrBusy, "ts_close")
	var rest []metricEntry
	it.All()(func(id uint64, name string) bool { rest = append(rest, metricEntry{id, name}); return true })
	if !reflect.DeepEqual(rest, all[4:]) || it.Err() != nil {
		t.Fatalf("the rest: %d metrics (want %d), %v", len(rest), len(all)-4, it.Err())
	}
	must(t, db.Close()) // the exhausted listing freed itself
	must(t, it.Close())
}

func TestMetricsErrors(t *testing.T) {
	db, _ := openTemp(t, nil)
	mustCreate(t, db, "a")
	mustCreate(t, db, "b")
	txn := mustBegin(t, db)
	_, err := txn.Metrics("\xff")
	wantErr(t, "Metrics with a prefix that is not UTF-8", err, ErrInvalidArgument, "ts_metric_list_open")
	_, err = txn.Metrics("a\x00")
	wantErr(t, "Metrics with a NUL byte", err, ErrInvalidArgument, "NUL")

	it, err := txn.Metrics("")
	must(t, err)
	if !it.Next() {
		t.Fatal("Next")
	}
	must(t, it.Close())
	must(t, it.Close()) // idempotent
	if it.Next() {
		t.Fatal("Next after Close returned true")
	}
	wantErr(t, "Err after Close", it.Err(), ErrClosed)
	txn.Release()
	_, err = txn.Metrics("")
	wantErr(t, "Metrics after Release", err, ErrClosed)
	var nit *MetricIter
	if nit.Next() || nit.Close() != nil {
		t.Fatal("nil MetricIter")
	}
	wantErr(t, "nil MetricIter Err", nit.Err(), ErrClosed)
}

// TestStats: the figures follow writes, deletes, snapshots and checkpoints.
func TestStats(t *testing.T) {
	db, _ := openTemp(t, &Options{PartitionPoints: 100})
	s, err := db.Stats()
	must(t, err)
	if s.Metrics != 0 || s.Points != 0 || s.Partitions != 0 || s.LiveSnapshots != 0 || s.OldestSnapshotAge != 0 || s.OldSnapshotBytes != 0 || s.BackgroundErrors != 0 || s.Failure != StatusOK {
		t.Fatalf("an empty database: %+v", s)
	}
	a := mustCreate(t, db, "a")
	b := mustCreate(t, db, "b")
	must(t, db.DropMetric(mustCreate(t, db, "dropped")))
	ts := make([]int64, 10050)
	vs := make([]float64, len(ts))
	for i := range ts {
		ts[i], vs[i] = int64(i), float64((i*7919)%10007)/7
	}
	must(t, db.InsertBatch(a, ts, vs))
	must(t, db.InsertBatch(b, ts[:250], vs[:250]))
	s, err = db.Stats()
	must(t, err)
	if s.Metrics != 2 || s.Points != 10300 || s.LiveSnapshots != 0 || s.OldSnapshotBytes != 0 {
		t.Fatalf("after writes: %+v", s)
	}
	// A metric of n points holds about n/100 sealed partitions' worth, joined by tier (four
	// of one tier into one of the next): 10,000 points in a handful.
	if s.Partitions < 3 || s.Partitions > 20 || s.DiskBytes == 0 || s.WALBytes == 0 {
		t.Fatalf("after writes, partitions, disk or log: %+v", s)
	}
	must(t, db.Checkpoint())
	if s2, err := db.Stats(); err != nil || s2.WALBytes >= s.WALBytes || s2.Points != s.Points {
		t.Fatalf("after a checkpoint: %+v (before: %+v), %v", s2, s, err)
	}

	old := mustBegin(t, db)
	c, err := old.Scan(a, 0, 10)
	must(t, err)
	old.Release() // the cursor keeps the snapshot live
	if s, _ = db.Stats(); s.LiveSnapshots != 1 {
		t.Fatalf("with a cursor: %+v", s)
	}
	must(t, db.DeleteRange(a, 0, 9000))
	s, err = db.Stats()
	must(t, err)
	if s.Points != 1300 || s.OldSnapshotBytes < 10000 {
		t.Fatalf("after a delete under an old snapshot: %+v", s)
	}
	newer := mustBegin(t, db)
	it, err := newer.Metrics("")
	must(t, err)
	newer.Release()
	if s, _ = db.Stats(); s.LiveSnapshots != 2 {
		t.Fatalf("with a cursor and a listing: %+v", s)
	}
	must(t, c.Close())
	if s, _ = db.Stats(); s.LiveSnapshots != 1 || s.OldSnapshotBytes != 0 {
		t.Fatalf("after releasing the old snapshot: %+v", s)
	}
	must(t, it.Close())
	if s, _ = db.Stats(); s.LiveSnapshots != 0 || s.OldestSnapshotAge != 0 {
		t.Fatalf("with no snapshot: %+v", s)
	}
}

// TestRetention: a default span and per-metric spans; EnforceRetention drops the old
// sealed partitions (with any the background work dropped first, exactly those), keeps a
// metric set to keep everything, and a snapshot from before still reads everything.
func TestRetention(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir, &Options{PartitionPoints: 100, Retention: 1000})
	must(t, err)
	defer db.Close()            // last: after the snapshots' Release
	a := mustCreate(t, db, "a") // the default: about the newest 1,000
	b := mustCreate(t, db, "b")
	c := mustCreate(t, db, "c")
	must(t, db.SetRetention(b, RetentionKeepAll))
	must(t, db.SetRetention(c, 5000))
	ts := make([]int64, 10000)
	vs := make([]float64, len(ts))
	for i := range ts {
		ts[i], vs[i] = int64(i), float64(i)
	}
	var before *Txn
	for _, id := range []uint64{a, b, c} {
		for k := 0; k < len(ts); k += 500 {
			must(t, db.InsertBatch(id, ts[k:k+500], vs[k:k+500]))
		}
	}
	before = mustBegin(t, db)
	defer before.Release()
	dropped, err := db.EnforceRetention()
	must(t, err)
	// The newest sealed point is 9,999 or a little less (the head holds the rest); every
	// partition older than it minus the span went, the others stayed.
	txn := mustBegin(t, db)
	first := func(id uint64) (int64, int) {
		got, _ := scanAll(t, txn, id, math.MinInt64, math.MaxInt64)
		for i, p := range got { // no gaps after the cut
			if p != got[0]+int64(i) {
				return -1, 0
			}
		}
		return got[0], len(got)
	}
	fa, na := first(a)
	fb, nb := first(b)
	fc, nc := first(c)
	if fa < 8800 || fa > 9000 || fa%100 != 0 || na != 10000-int(fa) {
		t.Fatalf("a keeps from %d (%d points), want about the newest 1,000", fa, na)
	}
	if fb != 0 || nb != 10000 {
		t.Fatalf("b (RetentionKeepAll) keeps %d points from %d", nb, fb)
	}
	// Under retention, joined partitions span at most a quarter of the span.
	if fc < 3750 || fc > 5000 || fc%100 != 0 || nc != 10000-int(fc) {
		t.Fatalf("c keeps from %d (%d points), want about the newest 5,000", fc, nc)
	}
	if dropped > uint64(fa/100+fc/100) {
		t.Fatalf("EnforceRetention dropped %d partitions, more than the %d gone", dropped, fa/100+fc/100)
	}
	if n := countPoints(t, before, a); n != 10000 {
		t.Fatalf("a snapshot from before reads %d points of a", n)
	}
	if again, err := db.EnforceRetention(); err != nil || again != 0 {
		t.Fatalf("a second EnforceRetention: %d, %v", again, err)
	}
	txn.Release()

	// b back to the default: its old partitions go too.
	must(t, db.SetRetention(b, RetentionDefault))
	_, err = db.EnforceRetention()
	must(t, err)
	txn = mustBegin(t, db)
	// b's partitions were joined by tier while it kept everything: retention set later
	// drops whole partitions, so it keeps at least the span and maybe more.
	if fb, nb = first(b); fb > 9000 || nb != 10000-int(fb) {
		t.Fatalf("b with the default keeps from %d (%d points)", fb, nb)
	}
	txn.Release()
	s, err := db.Stats()
	must(t, err)
	if left := uint64(na + nb + nc); s.Points != left || s.Partitions > left/100+3 || s.Partitions < 3 {
		t.Fatalf("stats after retention: %+v, want %d points in about %d partitions", s, left, left/100)
	}
	t.Logf("EnforceRetention dropped %d partitions (the background work the rest)", dropped)

	wantErr(t, "SetRetention of an unknown id", db.SetRetention(999, 10), ErrNotFound, "ts_metric_set_retention")
	_, err = Open(filepath.Join(t.TempDir(), "db"), &Options{Retention: -1})
	wantErr(t, "Open with a negative Retention", err, ErrInvalidArgument, "ts_options_set_retention")
}

// TestBatchAddMany: a Batch mixing AddMany and Add over several metrics, in runs and
// interleaved, commits atomically with the last write winning within a metric.
func TestBatchAddMany(t *testing.T) {
	db, _ := openTemp(t, nil)
	a := mustCreate(t, db, "a")
	b := mustCreate(t, db, "b")
	var batch Batch
	must(t, batch.AddMany(a, []int64{1, 2, 3}, []float64{1, 2, 3}))
	must(t, batch.AddMany(a, nil, nil)) // adds nothing
	batch.Add(a, 4, 4)                  // joins a's run
	batch.Add(b, 1, 10)
	batch.Add(a, 2, 20) // a later add wins, across runs too
	ts, vs := []int64{2, 3}, []float64{30, 40}
	must(t, batch.AddMany(b, ts, vs))
	ts[0], vs[0] = 99, 99 // AddMany copied them
	wantErr(t, "AddMany with different lengths", batch.AddMany(a, []int64{1}, nil), ErrInvalidArgument, "len")
	if batch.Len() != 8 {
		t.Fatalf("Len = %d, want 8", batch.Len())
	}
	batch.Add(777, 1, 1)
	wantErr(t, "Commit with an unknown id", db.Commit(&batch), ErrNotFound, "777")
	txn := mustBegin(t, db)
	if countPoints(t, txn, a)+countPoints(t, txn, b) != 0 {
		t.Fatal("a failed Commit wrote points")
	}
	txn.Release()
	if batch.Len() != 9 {
		t.Fatalf("a failed Commit changed the batch: Len = %d", batch.Len())
	}

	batch.Reset()
	for i := 0; i < 3; i++ {
		batch.Add(a, int64(10+i), float64(i))
		batch.Add(b, int64(10+i), -float64(i))
	}
	must(t, batch.AddMany(a, []int64{1, 2, 3}, []float64{1, 2, 3}))
	batch.Add(a, 2, 20)
	must(t, db.Commit(&batch))
	if batch.Len() != 0 {
		t.Fatalf("Commit left %d points", batch.Len())
	}
	txn = mustBegin(t, db)
	defer txn.Release()
	if ts, vs := scanAll(t, txn, a, 0, 100); !reflect.DeepEqual(ts, []int64{1, 2, 3, 10, 11, 12}) ||
		!reflect.DeepEqual(vs, []float64{1, 20, 3, 0, 1, 2}) {
		t.Fatalf("a: %v %v", ts, vs)
	}
	if ts, vs := scanAll(t, txn, b, 0, 100); !reflect.DeepEqual(ts, []int64{10, 11, 12}) ||
		!reflect.DeepEqual(vs, []float64{0, -1, -2}) {
		t.Fatalf("b: %v %v", ts, vs)
	}
}

// TestQueryUseAfterClose: the new DB methods on a closed or nil DB return ErrClosed.
func TestQueryUseAfterClose(t *testing.T) {
	db, _ := openTemp(t, nil)
	id := mustCreate(t, db, "m")
	must(t, db.Close())
	wantErr(t, "DeleteRange", db.DeleteRange(id, 0, 10), ErrClosed)
	wantErr(t, "SetRetention", db.SetRetention(id, 10), ErrClosed)
	_, err := db.EnforceRetention()
	wantErr(t, "EnforceRetention", err, ErrClosed)
	_, err = db.Stats()
	wantErr(t, "Stats", err, ErrClosed)
	var ndb *DB
	_, err = ndb.Stats()
	wantErr(t, "nil DB Stats", err, ErrClosed)
	var ntxn *Txn
	_, err = ntxn.Aggregate(1, 0, 1, 1)
	wantErr(t, "nil Txn Aggregate", err, ErrClosed)
	_, err = ntxn.Metrics("")
	wantErr(t, "nil Txn Metrics", err, ErrClosed)
	if !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}
