package tsdb

/*
#include "shim.h"
*/
import "C"

import "time"

// Stats are figures about a database (ts_db_stats): what it holds and what keeps space
// alive. A forgotten Txn, Cursor or MetricIter shows as a large OldestSnapshotAge and a
// growing OldSnapshotBytes: find it before the disk fills.
type Stats struct {
	// Metrics: live metrics.
	Metrics uint64
	// Points stored: in sealed partitions, plus those in heads not yet sealed (counted as
	// written: a head point that overwrites another counts twice until sealed).
	Points uint64
	// Partitions: sealed partitions.
	Partitions uint64
	// DiskBytes: bytes the database's files take on disk, as du counts them (allocated
	// blocks; the write-ahead log's preallocated segments included).
	DiskBytes uint64
	// WALBytes: bytes of write-ahead log written since the last checkpoint began (at most
	// what a reopen would replay).
	WALBytes uint64
	// LiveSnapshots: snapshots not yet released (a Cursor or MetricIter keeps its snapshot
	// live after its Txn is released).
	LiveSnapshots uint64
	// OldestSnapshotAge: age of the oldest live snapshot, to the second; 0 when none.
	OldestSnapshotAge time.Duration
	// OldSnapshotBytes: bytes of data blocks kept alive only by snapshots older than the
	// current state: the disk space their release gives back (at the next checkpoints).
	OldSnapshotBytes uint64
	// BackgroundErrors: failures of background work (syncs of the log, checkpoints,
	// retention) since open.
	BackgroundErrors uint64
	// Failure: StatusOK while the database takes writes; otherwise the status writes get
	// (the next write's error says what failed).
	Failure Status
}

// Stats returns figures about db (ts_db_stats). It walks the current state, in time
// proportional to the number of metrics and partitions; writers and readers go on
// meanwhile. ErrIOError if the directory cannot be listed.
func (db *DB) Stats() (Stats, error) {
	const op = "DB.Stats"
	p, err := db.acquire(op)
	if err != nil {
		return Stats{}, err
	}
	var s C.ts_stats
	r := C.tsgo_db_stats(p, &s)
	db.mu.RUnlock()
	if err := check(op, r); err != nil {
		return Stats{}, err
	}
	return Stats{
		Metrics:           uint64(s.metrics),
		Points:            uint64(s.points),
		Partitions:        uint64(s.partitions),
		DiskBytes:         uint64(s.disk_bytes),
		WALBytes:          uint64(s.wal_bytes),
		LiveSnapshots:     uint64(s.live_snapshots),
		OldestSnapshotAge: time.Duration(s.oldest_snapshot_age_ms) * time.Millisecond,
		OldSnapshotBytes:  uint64(s.old_snapshot_bytes),
		BackgroundErrors:  uint64(s.background_errors),
		Failure:           Status(s.failure),
	}, nil
}

// Retention spans with a special meaning for DB.SetRetention.
const (
	// RetentionDefault returns a metric to the database's default (Options.Retention).
	RetentionDefault int64 = 0
	// RetentionKeepAll keeps every point of a metric, whatever the default (any negative
	// span does).
	RetentionKeepAll int64 = -1
)

// SetRetention sets metric id's own retention span, in timestamp units: its sealed
// partitions whose points are all older than its newest sealed timestamp minus span are
// dropped by background work (or at once by EnforceRetention). RetentionDefault (0)
// returns it to Options.Retention; RetentionKeepAll (any negative span) keeps everything.
// Durable like a write. ErrNotFound if id names no live metric.
//
// Retention drops whole sealed partitions (Options.PartitionPoints points each); points
// in the head, not yet sealed, are never dropped. As with DeleteRange, snapshots begun
// before a drop still read the dropped points.
func (db *DB) SetRetention(id uint64, span int64) error {
	const op = "DB.SetRetention"
	p, err := db.acquire(op)
	if err != nil {
		return err
	}
	r := C.tsgo_metric_set_retention(p, C.uint64_t(id), C.int64_t(span))
	db.mu.RUnlock()
	return check(op, r)
}

// EnforceRetention applies retention to every metric now, rather than waiting for the
// background work (which checks a metric when it seals a partition, and every metric at
// open), and returns how many partitions it dropped: partitions the background work
// dropped first are not counted. Each metric's drop is logged as a range delete below its
// first partition kept. ErrIOError if the log cannot be written.
func (db *DB) EnforceRetention() (dropped uint64, err error) {
	const op = "DB.EnforceRetention"
	p, err := db.acquire(op)
	if err != nil {
		return 0, err
	}
	var n C.uint64_t
	r := C.tsgo_enforce_retention(p, &n)
	db.mu.RUnlock()
	if err := check(op, r); err != nil {
		return 0, err
	}
	return uint64(n), nil
}
