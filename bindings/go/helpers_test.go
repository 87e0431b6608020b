package tsdb

import (
	"errors"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// openTemp opens a new database in a fresh temporary directory and closes it at cleanup
// (if the test has not).
func openTemp(t testing.TB, opts *Options) (*DB, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("cleanup Close: %v", err)
		}
	})
	return db, dir
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustCreate(t testing.TB, db *DB, name string) uint64 {
	t.Helper()
	id, err := db.CreateMetric(name)
	if err != nil {
		t.Fatalf("CreateMetric(%q): %v", name, err)
	}
	return id
}

func mustBegin(t testing.TB, db *DB) *Txn {
	t.Helper()
	txn, err := db.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return txn
}

// scanAll reads metric id's points in [from, until) through txn with Next/At.
func scanAll(t testing.TB, txn *Txn, id uint64, from, until int64) ([]int64, []float64) {
	t.Helper()
	c, err := txn.Scan(id, from, until)
	if err != nil {
		t.Fatalf("Scan(%d, %d, %d): %v", id, from, until, err)
	}
	defer c.Close()
	var ts []int64
	var vs []float64
	for c.Next() {
		t, v := c.At()
		ts = append(ts, t)
		vs = append(vs, v)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("cursor: %v", err)
	}
	return ts, vs
}

// countPoints scans metric id completely with NextBatch and returns the number of points.
func countPoints(t testing.TB, txn *Txn, id uint64) int {
	t.Helper()
	c, err := txn.Scan(id, math.MinInt64, MaxTimestamp+1)
	if err != nil {
		t.Fatalf("Scan(%d): %v", id, err)
	}
	defer c.Close()
	buf := make([]int64, 1000)
	total := 0
	for {
		n, err := c.NextBatch(buf, nil)
		if err != nil {
			if err == io.EOF {
				return total
			}
			t.Fatalf("NextBatch: %v", err)
		}
		total += n
	}
}

// wantErr fails unless err is an *Error of status want whose message contains every
// fragment.
func wantErr(t testing.TB, what string, err error, want *Error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %v", what, want.Status)
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want status %v", what, err, want.Status)
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: %T is not an *Error", what, err)
		return
	}
	for _, f := range fragments {
		if !strings.Contains(e.Msg, f) {
			t.Errorf("%s: message %q does not contain %q", what, e.Msg, f)
		}
	}
	if e.Op == "" || e.Msg == "" {
		t.Errorf("%s: Op %q or Msg %q is empty", what, e.Op, e.Msg)
	}
}
