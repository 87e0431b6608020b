"""The query API: aggregates, range deletes, metric listings, stats and retention."""
import dataclasses
import gc
import math
import random
import threading
from array import array

import pytest
from conftest import scan_all

import tsdb

NAN = math.nan
INF = math.inf


# -- aggregates ----------------------------------------------------------------------------
def fold(points, from_ts, until_ts, bucket):
    """What ts_aggregate must return, computed from scanned points: the NaN rule of tsdb.h
    (count counts NaN values; min/max/sum skip them and are NaN when all are NaN; first and
    last are the values at first_ts/last_ts, NaN or not)."""
    groups = {}
    for ts, v in points:
        if from_ts <= ts < until_ts:
            groups.setdefault((ts - from_ts) // bucket, []).append((ts, v))
    out = []
    for k in sorted(groups):
        pts = groups[k]
        valued = [v for _, v in pts if not math.isnan(v)]
        out.append(tsdb.Bucket(
            start=from_ts + k * bucket, count=len(pts),
            min=min(valued) if valued else NAN, max=max(valued) if valued else NAN,
            sum=math.fsum(valued) if valued else NAN,
            first=pts[0][1], last=pts[-1][1], first_ts=pts[0][0], last_ts=pts[-1][0]))
    return out


def comparable(buckets):
    """Buckets with NaN made comparable (NaN != NaN), keeping -0.0 apart from 0.0."""
    return [tuple("nan" if isinstance(x, float) and math.isnan(x) else
                  (x, math.copysign(1, x)) if isinstance(x, float) else x for x in b)
            for b in buckets]


@pytest.fixture
def sealed_db(path):
    """A database with small partitions (so data seals into many blocks) holding metric
    "m": 3,000 points written out of order in several batches, some overwritten, values
    multiples of 0.25 (so every sum is exact in any order), NaN at every 13th timestamp, a
    stretch where every value is NaN, and gaps (empty buckets); partly checkpointed and
    partly still in the head."""
    db = tsdb.open(path, partition_points=64)
    m = db.create_metric("m")
    rng = random.Random(6)

    def value(ts):
        if ts % 13 == 0 or 1200 <= ts < 1300:
            return NAN
        return (ts % 37) * 0.25 - 4.0

    stamps = [ts for ts in range(-500, 3000) if not 400 <= ts < 900]  # a gap
    rng.shuffle(stamps)
    for i in range(0, len(stamps), 700):
        chunk = stamps[i:i + 700]
        db.insert_batch(m, chunk, [value(ts) for ts in chunk])
    db.insert_batch(m, range(0, 3000, 7), [1.5] * len(range(0, 3000, 7)))  # overwrites
    db.checkpoint()
    db.insert_batch(m, range(3000, 3040), [value(ts) for ts in range(3000, 3040)])  # head
    yield db, m
    gc.collect()
    db.close()


@pytest.mark.parametrize("from_ts,until_ts,bucket", [
    (-500, 3040, 100),  # aligned buckets, every point
    (-1000, 5000, 250),  # range wider than the data
    (-17, 2999, 64),  # unaligned start, the last bucket clipped
    (1200, 1300, 10),  # every value NaN
    (0, 3040, 1),  # one point per bucket
    (-(1 << 63), tsdb.MAX_TIMESTAMP, 1 << 40),  # one bucket for everything
    (350, 950, 50),  # buckets in the gap are left out
])
def test_aggregate_matches_a_fold_over_the_scanned_points(sealed_db, from_ts, until_ts, bucket):
    db, m = sealed_db
    with db.snapshot() as snap:
        points = list(snap.scan(m))
        expected = fold(points, from_ts, until_ts, bucket)
        assert expected  # the case is not vacuous
        got = snap.aggregate(m, from_ts, until_ts, bucket)
        assert comparable(got) == comparable(expected)
        assert all(type(b) is tsdb.Bucket for b in got)
        # Cap-sized calls continue where the last one stopped: same answer in any size.
        for batch_size in (1, 3, len(expected), len(expected) + 1):
            again = snap.aggregate(m, from_ts, until_ts, bucket, batch_size=batch_size)
            assert comparable(again) == comparable(expected)


def test_aggregate_nan_rule(db):
    m = db.create_metric("m")
    db.insert_batch(m, [0, 1, 2, 10, 11, 20, 21, 22],
                    [NAN, 2.0, NAN, NAN, NAN, INF, -INF, 5.0])
    with db.snapshot() as snap:
        b0, b1, b2 = snap.aggregate(m, 0, 30, 10)
    assert (b0.count, b0.min, b0.max, b0.sum, b0.first_ts, b0.last_ts) == (3, 2.0, 2.0, 2.0, 0, 2)
    assert math.isnan(b0.first) and math.isnan(b0.last)  # the values at first/last_ts
    assert b1.count == 2 and all(math.isnan(x) for x in (b1.min, b1.max, b1.sum))
    assert (b2.count, b2.min, b2.max, b2.first, b2.last) == (3, -INF, INF, INF, 5.0)
    assert math.isnan(b2.sum)  # inf + -inf


def test_aggregate_is_as_of_the_snapshot(db):
    m = db.create_metric("m")
    db.insert_batch(m, range(10), [1.0] * 10)
    with db.snapshot() as snap:
        db.insert_batch(m, range(10, 20), [2.0] * 10)
        db.delete_range(m, 0, 5)
        assert [(b.start, b.count, b.sum) for b in snap.aggregate(m, 0, 100, 10)] == \
            [(0, 10, 10.0)]
    with db.snapshot() as snap:
        assert [(b.start, b.count, b.sum) for b in snap.aggregate(m, 0, 100, 10)] == \
            [(0, 5, 5.0), (10, 10, 20.0)]


def test_aggregate_continues_up_to_the_largest_timestamp(db):
    m = db.create_metric("m")
    top = tsdb.MAX_TIMESTAMP
    db.insert_batch(m, [top - 2, top - 1, top], [1.0, 2.0, 3.0])
    with db.snapshot() as snap:
        got = snap.aggregate(m, top - 2, top + 1, 1, batch_size=1)
        assert [(b.start, b.count, b.sum) for b in got] == \
            [(top - 2, 1, 1.0), (top - 1, 1, 2.0), (top, 1, 3.0)]
        # The last bucket ends past INT64_MAX: the continuation must stop, not overflow.
        got = snap.aggregate(m, top - 2, top + 1, 1 << 62, batch_size=1)
        assert [(b.start, b.count) for b in got] == [(top - 2, 3)]


def test_aggregate_errors(db):
    m = db.create_metric("m")
    db.insert(m, 1, 1.0)
    with db.snapshot() as snap:
        assert snap.aggregate(m, 5, 5, 10) == []  # from == until: nothing
        assert snap.aggregate(m, 2, 100, 10) == []  # no point in range
        with pytest.raises(tsdb.InvalidArgument, match="bucket must be > 0"):
            snap.aggregate(m, 0, 10, 0)
        with pytest.raises(tsdb.InvalidArgument, match="bucket must be > 0"):
            snap.aggregate(m, 0, 10, -5)
        with pytest.raises(tsdb.InvalidArgument, match="from > until"):
            snap.aggregate(m, 10, 0, 1)
        with pytest.raises(tsdb.NotFound) as ei:
            snap.aggregate(m + 1, 0, 10, 1)
        assert ei.value.message.startswith("ts_aggregate")
        with pytest.raises(tsdb.InvalidArgument, match="batch_size out of range"):
            snap.aggregate(m, 0, 10, 1, batch_size=0)
        with pytest.raises(tsdb.InvalidArgument, match="bucket out of range"):
            snap.aggregate(m, 0, 10, 1 << 63)
        with pytest.raises(TypeError, match="bucket must be an int"):
            snap.aggregate(m, 0, 10, 1.5)
        with pytest.raises(TypeError):
            snap.aggregate(m, 0, 10)  # bucket is required
    with pytest.raises(tsdb.Closed, match="snapshot is released"):
        snap.aggregate(m, 0, 10, 1)


def test_aggregate_from_threads_sharing_a_snapshot(sealed_db):
    db, m = sealed_db
    with db.snapshot() as snap:
        expected = comparable(snap.aggregate(m, -500, 3040, 33))
        results = []

        def work():
            for _ in range(20):
                results.append(comparable(snap.aggregate(m, -500, 3040, 33, batch_size=16)))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 80 and all(r == expected for r in results)


# -- range deletes -------------------------------------------------------------------------
def test_delete_range_is_seen_by_new_snapshots_not_by_older_ones(path):
    with tsdb.open(path, partition_points=16) as db:
        m, other = db.create_metric("m"), db.create_metric("other")
        db.insert_batch(m, range(300), [float(i) for i in range(300)])
        db.insert_batch(other, range(300), [1.0] * 300)
        db.checkpoint()  # some of it in sealed partitions on disk
        before = db.snapshot()
        db.delete_range(m, 50, 250)  # across partitions: some dropped, two rewritten
        db.delete_range(m, 10, 10)  # from == until: nothing
        after = db.snapshot()
        db.insert_batch(m, [100, 120], [-1.0, -2.0])  # written after: kept
        kept = [(t, float(t)) for t in range(300) if not 50 <= t < 250]
        assert list(after.scan(m)) == kept
        assert list(before.scan(m)) == [(t, float(t)) for t in range(300)]
        assert before.aggregate(m, 0, 300, 300)[0].count == 300
        assert after.aggregate(m, 0, 300, 300)[0].count == 100
        assert scan_all(db, m) == sorted(kept + [(100, -1.0), (120, -2.0)])
        assert len(scan_all(db, other)) == 300  # other metrics untouched
        before.release()
        after.release()
    with tsdb.open(path) as db:  # durable
        assert scan_all(db, m) == sorted(kept + [(100, -1.0), (120, -2.0)])


def test_delete_range_errors(db):
    m = db.create_metric("m")
    with pytest.raises(tsdb.InvalidArgument, match="from > until"):
        db.delete_range(m, 10, 0)
    with pytest.raises(tsdb.NotFound, match="ts_delete_range"):
        db.delete_range(m + 1, 0, 10)
    with pytest.raises(TypeError):
        db.delete_range(m, "0", 10)
    with pytest.raises(tsdb.InvalidArgument, match="until_ts out of range"):
        db.delete_range(m, 0, 1 << 63)
    db.delete_range(m, -(1 << 63), (1 << 63) - 1)  # the whole range of an empty metric


# -- metric listings -----------------------------------------------------------------------
def test_metrics_lists_every_metric_across_several_batches(db):
    expected = []
    for i in range(2500):  # more than one batch of the default 1024
        name = f"cpu.{i}" if i % 2 == 0 else f"mem.{i}"
        expected.append(tsdb.Metric(db.create_metric(name), name))
    expected.append(tsdb.Metric(db.create_metric("cpu.température"), "cpu.température"))
    with db.snapshot() as snap:
        listed = list(snap.metrics())
        assert listed == expected and all(type(x) is tsdb.Metric for x in listed)
        assert list(snap.metrics(batch_size=7)) == expected
        assert list(snap.metrics("")) == expected
        cpu = [x for x in expected if x.name.startswith("cpu.")]
        assert len(cpu) == 1251
        assert list(snap.metrics("cpu.")) == cpu
        assert list(snap.metrics(b"cpu.", batch_size=100)) == cpu
        assert list(snap.metrics("cpu.temp")) == [expected[-1]]
        assert list(snap.metrics("zzz")) == []
        assert dict(snap.metrics("mem.1"))[expected[1].id] == "mem.1"
        assert snap.metric_count() == len(expected)


def test_metrics_are_as_of_the_snapshot(db):
    a, b = db.create_metric("a"), db.create_metric("b")
    old = db.snapshot()
    db.drop_metric(a)
    c = db.create_metric("c")
    with db.snapshot() as new:
        assert list(new.metrics()) == [(b, "b"), (c, "c")]
    assert list(old.metrics()) == [(a, "a"), (b, "b")]
    old.release()


def test_metric_listing_lifetime(path):
    db = tsdb.open(path)
    for i in range(10):
        db.create_metric(f"m{i}")
    snap = db.snapshot()
    listing = snap.metrics(batch_size=3)
    snap.release()  # the listing keeps its own reference to the snapshot
    assert next(listing) == (1, "m0")
    with pytest.raises(tsdb.Busy):
        db.close()  # a live listing keeps its snapshot alive
    assert db.stats().live_snapshots == 1
    assert [x.id for x in listing] == list(range(2, 11))
    assert listing.closed  # exhausted: freed at once
    with pytest.raises(StopIteration):
        next(listing)
    assert db.stats().live_snapshots == 0

    with db.snapshot() as snap:
        listing = snap.metrics()
        with listing:
            next(listing)
    assert listing.closed
    with pytest.raises(tsdb.Closed, match="metric listing is closed"):
        next(listing)  # closed before its end
    assert "closed" in repr(listing)

    with db.snapshot() as snap:
        forgotten = snap.metrics()
        next(forgotten)
    del forgotten  # its finalizer frees it
    gc.collect()
    db.close()  # nothing alive any more


def test_metric_listing_errors(db):
    with db.snapshot() as snap:
        with pytest.raises(tsdb.InvalidArgument, match="prefix contains a NUL byte"):
            snap.metrics("a\0b")
        with pytest.raises(TypeError, match="prefix must be str or bytes"):
            snap.metrics(5)
        with pytest.raises(tsdb.InvalidArgument, match="batch_size"):
            snap.metrics(batch_size=0)
    with pytest.raises(tsdb.Closed, match="snapshot is released"):
        snap.metrics()


# -- stats ---------------------------------------------------------------------------------
def test_stats(path):
    with tsdb.open(path, partition_points=32) as db:
        s = db.stats()
        assert isinstance(s, tsdb.Stats)
        assert (s.metrics, s.points, s.partitions, s.live_snapshots,
                s.oldest_snapshot_age_ms, s.old_snapshot_bytes,
                s.background_errors, s.failure) == (0, 0, 0, 0, 0, 0, 0, 0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.metrics = 5
        ids = [db.create_metric(f"m{i}") for i in range(3)]
        for m in ids:
            db.insert_batch(m, range(200), [0.5] * 200)
        s = db.stats()
        assert (s.metrics, s.points) == (3, 600)
        assert s.partitions >= 3  # 200 points per metric seal at 32
        assert s.disk_bytes > 0 and s.wal_bytes > 0
        assert all(type(getattr(s, f.name)) is int for f in dataclasses.fields(s))

        snap = db.snapshot()
        assert db.stats().live_snapshots == 1
        cursor = snap.scan(ids[0])
        snap2 = db.snapshot()
        assert db.stats().live_snapshots == 2
        snap.release()
        assert db.stats().live_snapshots == 2  # the cursor keeps its snapshot alive
        cursor.close()
        assert db.stats().live_snapshots == 1

        db.checkpoint()
        assert db.stats().wal_bytes == 0  # nothing written since the checkpoint
        db.delete_range(ids[0], 0, 200)
        db.checkpoint()
        s = db.stats()
        assert (s.metrics, s.points) == (3, 400)
        assert s.old_snapshot_bytes > 0  # snap2 still reads the deleted points
        snap2.release()
        s = db.stats()
        assert (s.live_snapshots, s.oldest_snapshot_age_ms, s.old_snapshot_bytes) == (0, 0, 0)
        db.drop_metric(ids[1])
        assert db.stats().metrics == 2
    with pytest.raises(tsdb.Closed):
        db.stats()


# -- retention -----------------------------------------------------------------------------
def assert_suffix_kept(points, written, newest, span):
    """After retention: what is left is a suffix of what was written, holding at least
    every point within `span` of the newest, and the oldest points are gone."""
    assert points == written[len(written) - len(points):]
    assert points[0][0] > written[0][0]
    assert points[0][0] <= newest - span


def test_default_retention_option_and_enforce(path):
    written = [(t, float(t)) for t in range(2000)]
    with tsdb.open(path, partition_points=16, retention=300) as db:
        m = db.create_metric("m")
        keep = db.create_metric("keep")
        db.set_retention(keep, -1)  # keeps everything whatever the default
        old = db.snapshot()  # before any point: retention does not change what it sees
        for i in range(0, 2000, 100):  # seals many partitions
            db.insert_batch(m, range(i, i + 100), [float(t) for t in range(i, i + 100)])
            db.insert_batch(keep, range(i, i + 100), [1.0] * 100)
        before = db.snapshot()
        dropped = db.enforce_retention()  # background work may have dropped some already
        assert isinstance(dropped, int) and dropped >= 0
        assert db.enforce_retention() == 0  # nothing left past retention
        assert_suffix_kept(scan_all(db, m), written, 1999, 300)
        assert len(scan_all(db, keep)) == 2000
        assert len(list(before.scan(m))) == 2000  # an older snapshot still reads it all
        assert list(old.scan(m)) == []
        s = db.stats()
        assert s.points < 4000
        old.release()
        before.release()


def test_metric_retention_is_durable_and_enforced(path):
    written = [(t, float(t)) for t in range(1000)]
    with tsdb.open(path, partition_points=16) as db:
        m, other = db.create_metric("m"), db.create_metric("other")
        db.insert_batch(m, range(1000), [float(t) for t in range(1000)])
        db.insert_batch(other, range(1000), [float(t) for t in range(1000)])
        partitions = db.stats().partitions
        assert db.enforce_retention() == 0  # no retention by default
        db.set_retention(m, 100)
        dropped = db.enforce_retention()  # background work may have dropped some already
        assert db.stats().partitions <= partitions - dropped
        assert db.stats().partitions < partitions
        assert_suffix_kept(scan_all(db, m), written, 999, 100)
        assert scan_all(db, other) == written
    with tsdb.open(path, partition_points=16) as db:  # the setting survives a reopen
        db.insert_batch(m, range(1000, 3000), [float(t) for t in range(1000, 3000)])
        db.enforce_retention()
        assert_suffix_kept(scan_all(db, m), written + [(t, float(t)) for t in range(1000, 3000)],
                           2999, 100)
        db.set_retention(m, 0)  # back to the database's default: keep everything
        n = len(scan_all(db, m))
        db.insert_batch(m, range(3000, 4000), [1.0] * 1000)
        assert db.enforce_retention() == 0
        assert len(scan_all(db, m)) == n + 1000


def test_retention_errors(path, db):
    m = db.create_metric("m")
    with pytest.raises(tsdb.NotFound, match="ts_metric_set_retention"):
        db.set_retention(m + 1, 10)
    with pytest.raises(TypeError, match="span must be an int"):
        db.set_retention(m, 1.5)
    with pytest.raises(tsdb.InvalidArgument, match="span out of range"):
        db.set_retention(m, 1 << 63)
    other = path + "-other"
    with pytest.raises(tsdb.InvalidArgument, match="ts_options_set_retention"):
        tsdb.open(other, retention=-1)
    with pytest.raises(TypeError, match="retention must be an int"):
        tsdb.open(other, retention="1d")
    db.close()
    for call in [lambda: db.set_retention(m, 1), db.enforce_retention,
                 lambda: db.delete_range(m, 0, 1), db.stats]:
        with pytest.raises(tsdb.Closed, match="is closed"):
            call()


# -- Batch.extend: one call per metric -----------------------------------------------------
def test_batch_extend_is_one_library_call(db, monkeypatch):
    a, b = db.create_metric("a"), db.create_metric("b")
    lib = tsdb._native.lib()
    calls = []
    real = lib.ts_batch_add_many

    def add_many(*args):
        calls.append(args[1:2] + args[4:])
        return real(*args)

    monkeypatch.setattr(lib, "ts_batch_add_many", add_many)
    monkeypatch.setattr(lib, "ts_batch_add", None)  # a per-point call would fail
    with db.batch() as batch:
        batch.extend(a, array("q", range(5000)), array("d", [0.5] * 5000))
        batch.extend(b, [3, 1, 2], (3.0, 1.0, 2.0))
        batch.extend(b, [], [])  # nothing
        assert len(batch) == 5003
    assert calls == [(a, 5000), (b, 3)]
    assert scan_all(db, a) == [(t, 0.5) for t in range(5000)]
    assert scan_all(db, b) == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_batch_extend_without_add_many_falls_back_to_one_call_per_point(db, monkeypatch):
    a = db.create_metric("a")
    monkeypatch.setattr(tsdb._native.lib(), "ts_batch_add_many", None)
    with db.batch() as batch:
        batch.extend(a, memoryview(array("q", [2, 1])), [2.5, 1.5])
        assert len(batch) == 2
    assert scan_all(db, a) == [(1, 1.5), (2, 2.5)]


def test_functions_missing_from_an_older_library_raise_not_implemented(db, monkeypatch):
    lib = tsdb._native.lib()
    m = db.create_metric("m")
    for name, call in [("ts_aggregate", lambda s: s.aggregate(m, 0, 1, 1)),
                       ("ts_metric_list_open", lambda s: s.metrics()),
                       ("ts_db_stats", lambda s: db.stats()),
                       ("ts_delete_range", lambda s: db.delete_range(m, 0, 1)),
                       ("ts_enforce_retention", lambda s: db.enforce_retention())]:
        with monkeypatch.context() as mp, db.snapshot() as snap:
            mp.setattr(lib, name, None)
            with pytest.raises(NotImplementedError, match=f"does not export {name}"):
                call(snap)
