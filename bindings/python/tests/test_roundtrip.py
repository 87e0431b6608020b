"""Writes, scans and reopening: the data model of tsdb.h as seen from Python."""
import math
import os
import struct
from array import array

import pytest
from conftest import scan_all

import tsdb

I64_MIN = -(1 << 63)


def test_insert_and_scan_round_trip(db):
    cpu = db.create_metric("cpu.user")
    assert cpu >= 1
    db.insert(cpu, 1000, 0.25)
    db.insert_batch(cpu, array("q", [4000, 2000, 3000]), array("d", [0.125, 0.5, 0.75]))
    db.insert(cpu, 3000, 0.7)  # same timestamp again: last write wins
    assert scan_all(db, cpu) == [(1000, 0.25), (2000, 0.5), (3000, 0.7), (4000, 0.125)]


def test_scan_range_is_half_open(db):
    m = db.create_metric("m")
    db.insert_batch(m, list(range(10)), [float(i) for i in range(10)])
    with db.snapshot() as snap:
        with snap.scan(m, 3, 7) as cursor:
            assert [ts for ts, _ in cursor] == [3, 4, 5, 6]
        with snap.scan(m, 5, 5) as cursor:  # from == until: empty
            assert list(cursor) == []
        ts, vs = snap.scan_arrays(m, until_ts=2)
        assert (list(ts), list(vs)) == ([0, 1], [0.0, 1.0])


def test_extreme_timestamps_and_values_round_trip_bit_exactly(db):
    m = db.create_metric("edge")
    nan_payload = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_DEAD_BEEF))[0]
    points = [(I64_MIN, -0.0), (-1, math.inf), (0, -math.inf), (1, nan_payload),
              (tsdb.MAX_TIMESTAMP, 5e-324)]
    db.insert_batch(m, [p[0] for p in points], [p[1] for p in points])
    ts, vs = db.snapshot().scan_arrays(m)
    assert list(ts) == [p[0] for p in points]
    assert vs.tobytes() == array("d", [p[1] for p in points]).tobytes()  # bits, NaN too


def test_read_batch_fills_arrays_in_chunks(db):
    m = db.create_metric("m")
    n = 10_000
    db.insert_batch(m, array("q", range(n)), array("d", (i * 0.5 for i in range(n))))
    with db.snapshot() as snap, snap.scan(m) as cursor:
        chunks = []
        while True:
            ts, vs = cursor.read_batch(3000)
            assert isinstance(ts, array) and ts.typecode == "q"
            assert isinstance(vs, array) and vs.typecode == "d"
            assert len(ts) == len(vs) <= 3000
            if not ts:
                break
            chunks.append((ts, vs))
        assert cursor.read_batch(10) == (array("q"), array("d"))  # TS_DONE is sticky
    assert [t for ts, _ in chunks for t in ts] == list(range(n))
    assert [v for _, vs in chunks for v in vs] == [i * 0.5 for i in range(n)]


def test_read_all_and_scan_arrays_grow_past_one_block(db):
    m = db.create_metric("m")
    n = 50_000  # several read blocks and several sealed partitions
    db.insert_batch(m, array("q", range(n, 0, -1)), array("d", range(n)))  # descending
    ts, vs = db.snapshot().scan_arrays(m)
    assert list(ts) == list(range(1, n + 1))
    assert list(vs) == [float(n - t) for t in range(1, n + 1)]
    with db.snapshot() as snap, snap.scan(m, 100) as cursor:
        first = next(cursor)
        rest_ts, _ = cursor.read_all()
    assert first[0] == 100 and list(rest_ts) == list(range(101, n + 1))


def test_iteration_mixes_with_read_batch(db):
    m = db.create_metric("m")
    db.insert_batch(m, range(10), range(10))
    with db.snapshot() as snap, snap.scan(m) as cursor:
        assert next(cursor) == (0, 0.0)
        ts, _ = cursor.read_batch(3)  # continues right after the point iteration returned
        rest = list(cursor)
    assert list(ts) == [1, 2, 3]
    assert rest == [(t, float(t)) for t in range(4, 10)]


def test_metric_ids_lookup_count_and_drop(db):
    a = db.create_metric("a")
    b = db.create_metric("b")
    assert a != b
    assert db.create_metric("a", exist_ok=True) == a
    with db.snapshot() as snap:
        assert snap.lookup("a") == a and snap.lookup(b"b") == b
        assert snap.metric_count() == 2
    db.insert(b, 1, 1.0)
    old = db.snapshot()
    db.drop_metric(b)
    with db.snapshot() as snap:
        assert snap.metric_count() == 1
        with pytest.raises(tsdb.NotFound):
            snap.lookup("b")
    # an older snapshot still reads the dropped metric
    assert old.lookup("b") == b and list(old.scan(b)) == [(1, 1.0)]
    old.release()
    c = db.create_metric("b")  # the name is reusable, the id is new
    assert c not in (a, b)


def test_unicode_names(db):
    m = db.create_metric("température.°C/ñ")
    with db.snapshot() as snap:
        assert snap.lookup("température.°C/ñ") == m
    db.create_metric("x" * tsdb.MAX_NAME_LEN)


def test_checkpoint_and_reopen_keep_data(path):
    with tsdb.open(path) as db:
        m = db.create_metric("kept")
        db.insert_batch(m, range(1000), [i / 4 for i in range(1000)])
        db.checkpoint()
        db.insert(m, 5000, 1.5)  # after the checkpoint: replayed from the log
    with tsdb.open(path, create_if_missing=False) as db:
        with db.snapshot() as snap:
            m2 = snap.lookup("kept")
            ts, vs = snap.scan_arrays(m2)
    assert m2 == m
    assert list(ts) == list(range(1000)) + [5000]
    assert list(vs) == [i / 4 for i in range(1000)] + [1.5]


def test_every_option_is_accepted(path):
    with tsdb.open(path, create_if_missing=True, partition_points=128, head_run_points=8,
                   raw_head_budget=0, sync="always", checkpoint_bytes=4096) as db:
        m = db.create_metric("m")
        db.insert_batch(m, range(1000), range(1000))  # several seals and checkpoints
        assert len(db.snapshot().scan_arrays(m)[0]) == 1000
    for sync in ("none", "interval"):
        with tsdb.open(path, sync=sync) as db:
            pass
    with tsdb.open(path, interval_ms=20) as db:  # sync="interval" implied
        pass
    with tsdb.open(os.fsencode(path)) as db:  # bytes and PathLike paths
        pass
    import pathlib
    with tsdb.open(pathlib.Path(path)) as db:
        assert db.path == path


def test_library_version_matches_package():
    assert tsdb.library_version().split(".")[:2] == tsdb.__version__.split(".")[:2]
    assert os.path.exists(tsdb.library_path())
