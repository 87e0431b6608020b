"""Every error class the C API can be made to return, with its status and ts_errmsg()."""
import os
import pickle
import shutil
import threading

import pytest
from conftest import scan_all

import tsdb
from tsdb.errors import from_status


def check(excinfo, cls, status, function=None):
    """The exception is `cls` with `status`, and its message is ts_errmsg()'s, naming the
    failing C function when it came from the library."""
    e = excinfo.value
    assert type(e) is cls
    assert isinstance(e, tsdb.Error)
    assert e.status == status and e.status_name == "TS_" + tsdb.Status(status).name
    assert str(e) == e.message and e.message
    if function:
        assert e.message.startswith(function + ": "), e.message


def test_hierarchy():
    for cls, status in [(tsdb.NotFound, 2), (tsdb.AlreadyExists, 3),
                        (tsdb.InvalidArgument, 4), (tsdb.Busy, 5), (tsdb.IoError, 6),
                        (tsdb.Corruption, 7), (tsdb.Closed, 8), (tsdb.Internal, 9)]:
        assert issubclass(cls, tsdb.Error) and cls.default_status == status
        assert type(from_status(status, "m")) is cls
    assert issubclass(tsdb.InvalidArgument, ValueError)
    assert issubclass(tsdb.NotFound, LookupError)
    unknown = from_status(77, "from a newer library", "TS_UNKNOWN_STATUS")
    assert type(unknown) is tsdb.Error and unknown.status == 77
    assert unknown.status_name == "TS_UNKNOWN_STATUS"
    e = pickle.loads(pickle.dumps(tsdb.AlreadyExists("x", metric_id=5)))
    assert (type(e), e.message, e.status, e.metric_id) == (tsdb.AlreadyExists, "x", 3, 5)


def test_not_found(db, path):
    m = db.create_metric("m")
    with db.snapshot() as snap:
        with pytest.raises(tsdb.NotFound) as ei:
            snap.lookup("missing")
        check(ei, tsdb.NotFound, 2, "ts_metric_lookup")
        assert "missing" in ei.value.message
        with pytest.raises(tsdb.NotFound) as ei:
            snap.scan(m + 1)
        check(ei, tsdb.NotFound, 2, "ts_scan_range")
    db.drop_metric(m)
    with pytest.raises(tsdb.NotFound) as ei:
        db.drop_metric(m)  # drop twice
    check(ei, tsdb.NotFound, 2, "ts_metric_drop")
    with pytest.raises(tsdb.NotFound) as ei:
        db.insert(m, 1, 1.0)
    check(ei, tsdb.NotFound, 2, "ts_insert")
    with pytest.raises(tsdb.NotFound) as ei:
        tsdb.open(path + "-missing", create_if_missing=False)
    check(ei, tsdb.NotFound, 2, "ts_open")
    assert not os.path.exists(path + "-missing")


def test_already_exists_carries_the_existing_id(db):
    m = db.create_metric("m")
    with pytest.raises(tsdb.AlreadyExists) as ei:
        db.create_metric("m")
    check(ei, tsdb.AlreadyExists, 3, "ts_metric_create")
    assert ei.value.metric_id == m
    assert db.create_metric("m", exist_ok=True) == m


def test_invalid_argument_from_the_library(db, path, tmp_path):
    m = db.create_metric("m")
    cases = [
        (lambda: db.create_metric(""), "ts_metric_create"),
        (lambda: db.create_metric("x" * (tsdb.MAX_NAME_LEN + 1)), "ts_metric_create"),
        (lambda: db.create_metric(b"\xff\xfe"), "ts_metric_create"),  # not UTF-8
        (lambda: db.insert(m, (1 << 63) - 1, 1.0), "ts_insert"),
        (lambda: db.insert_batch(m, [], []), "ts_insert_batch"),
        (lambda: db.snapshot().scan(m, 20, 10), "ts_scan_range"),
        (lambda: db.snapshot().lookup(""), "ts_metric_lookup"),
        (lambda: tsdb.open(path + "x", partition_points=1), "ts_options_set_partition_points"),
        (lambda: tsdb.open(path + "x", head_run_points=0), "ts_options_set_head_run_points"),
        (lambda: tsdb.open(path + "x", interval_ms=0), "ts_options_set_sync"),
        (lambda: tsdb.open(path + "x", checkpoint_bytes=4095), "ts_options_set_checkpoint_bytes"),
    ]
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    cases.append((lambda: tsdb.open(not_a_dir), "ts_open"))
    for call, function in cases:
        with pytest.raises(tsdb.InvalidArgument) as ei:
            call()
        check(ei, tsdb.InvalidArgument, 4, function)
    import gc
    gc.collect()  # the snapshots made inline above
    assert scan_all(db, m) == []


def test_invalid_argument_checked_in_python(db, path):
    """Values ctypes would truncate or cut silently are refused before reaching C."""
    m = db.create_metric("m")
    cases = [
        lambda: db.insert(-1, 1, 1.0),  # ids are uint64
        lambda: db.insert(1 << 64, 1, 1.0),
        lambda: db.insert(m, 1 << 63, 1.0),  # timestamps are int64
        lambda: db.insert(m, -(1 << 63) - 1, 1.0),
        lambda: db.insert(m, 1, 10 ** 400),  # too large for a double
        lambda: db.create_metric("a\0b"),  # would be cut at the NUL
        lambda: db.snapshot().lookup("m\0"),
        lambda: tsdb.open(path + "\0x"),
        lambda: tsdb.open(path + "x", sync="sometimes"),
        lambda: tsdb.open(path + "x", sync="always", interval_ms=10),
        lambda: tsdb.open(path + "x", partition_points=1 << 32),
        lambda: tsdb.open(path + "x", checkpoint_bytes=-1),
        lambda: db.snapshot().scan(m).read_batch(0),
    ]
    for call in cases:
        with pytest.raises(tsdb.InvalidArgument) as ei:
            call()
        assert ei.value.status == tsdb.Status.INVALID_ARGUMENT
    import gc
    gc.collect()
    assert scan_all(db, m) == [] and not os.path.exists(path + "x")


def test_wrong_types_raise_type_error(db, path):
    m = db.create_metric("m")
    cases = [
        lambda: db.insert("m", 1, 1.0),
        lambda: db.insert(1.0, 1, 1.0),
        lambda: db.insert(m, 1.5, 1.0),
        lambda: db.insert(m, "1", 1.0),
        lambda: db.insert(m, 1, "1.0"),
        lambda: db.insert(m, 1, None),
        lambda: db.create_metric(5),
        lambda: db.create_metric(None),
        lambda: db.drop_metric("m"),
        lambda: db.snapshot().lookup(1),
        lambda: db.snapshot().scan("m"),
        lambda: db.snapshot().scan(m, 0.5),
        lambda: db.snapshot().scan(m).read_batch("10"),
        lambda: tsdb.open(123),
        lambda: tsdb.open(path, create_if_missing=1),
        lambda: tsdb.open(path, sync=2),
        lambda: tsdb.open(path, partition_points="4096"),
        lambda: tsdb.open(path, no_such_option=True),
    ]
    for call in cases:
        with pytest.raises(TypeError):
            call()
    import gc
    gc.collect()


def test_busy(path):
    db = tsdb.open(path)
    with pytest.raises(tsdb.Busy) as ei:
        tsdb.open(path)  # second open of the same directory
    check(ei, tsdb.Busy, 5, "ts_open")

    snap = db.snapshot()
    with pytest.raises(tsdb.Busy) as ei:
        db.close()  # close with a live snapshot
    check(ei, tsdb.Busy, 5, "ts_close")
    m = db.create_metric("still-open")  # Busy left it open and usable
    snap.release()
    snap = db.snapshot()
    cursor = snap.scan(m)
    snap.release()
    with pytest.raises(tsdb.Busy):
        db.close()  # a cursor keeps its snapshot alive
    cursor.close()
    db.close()
    with tsdb.open(path):  # the lock is free again
        pass


def test_io_error(tmp_path):
    with pytest.raises(tsdb.IoError) as ei:
        tsdb.open(tmp_path / "no" / "such" / "parent")
    check(ei, tsdb.IoError, 6, "ts_open")
    assert "parent" in ei.value.message  # names the path


def damaged_copy(src, dst, offset):
    """A copy of database `src` whose first data segment has the byte at `offset` flipped."""
    shutil.copytree(src, dst)
    seg = os.path.join(dst, "data", "00000001.seg")
    with open(seg, "r+b") as f:
        f.seek(offset, os.SEEK_SET if offset >= 0 else os.SEEK_END)
        byte = f.read(1)[0]
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte ^ 0xFF]))
    return dst


def test_corruption(tmp_path):
    src = str(tmp_path / "good")
    with tsdb.open(src) as db:
        m = db.create_metric("m")
        db.insert_batch(m, range(10_000), [i * 1.37 for i in range(10_000)])

    # A damaged segment header: found when the database opens.
    with pytest.raises(tsdb.Corruption) as ei:
        tsdb.open(damaged_copy(src, str(tmp_path / "header"), 10))
    check(ei, tsdb.Corruption, 7, "ts_open")
    assert "data/00000001.seg offset 0" in ei.value.message  # names file and offset

    # A damaged block: found when it is read, by every kind of read.
    with tsdb.open(damaged_copy(src, str(tmp_path / "block"), -9)) as db:
        with db.snapshot() as snap:
            with pytest.raises(tsdb.Corruption) as ei:
                snap.scan_arrays(m)
            check(ei, tsdb.Corruption, 7, "ts_cursor_next_batch")
            assert "data/00000001.seg offset" in ei.value.message
            with snap.scan(m) as cursor, pytest.raises(tsdb.Corruption):
                list(cursor)


def test_closed_after_close_and_release(db):
    m = db.create_metric("m")
    snap = db.snapshot()
    cursor = snap.scan(m)
    batch = db.batch()
    snap.release()
    snap.release()  # idempotent
    for call in [lambda: snap.lookup("m"), snap.metric_count, lambda: snap.scan(m),
                 lambda: snap.scan_arrays(m)]:
        with pytest.raises(tsdb.Closed, match="snapshot is released"):
            call()
    cursor.close()
    cursor.close()
    for call in [cursor.read_batch, cursor.read_all, lambda: next(cursor)]:
        with pytest.raises(tsdb.Closed, match="cursor is closed"):
            call()
    batch.close()
    for call in [lambda: batch.add(m, 1, 1.0), batch.commit, batch.clear,
                 lambda: batch.extend(m, [1], [1.0])]:
        with pytest.raises(tsdb.Closed, match="batch is closed"):
            call()
    db.close()
    db.close()  # idempotent
    assert db.closed and snap.released and cursor.closed and batch.closed
    for call in [lambda: db.create_metric("x"), lambda: db.drop_metric(m),
                 lambda: db.insert(m, 1, 1.0), lambda: db.insert_batch(m, [1], [1.0]),
                 db.checkpoint, db.snapshot, db.batch]:
        with pytest.raises(tsdb.Closed, match="is closed") as ei:
            call()
        assert ei.value.status == tsdb.Status.CLOSED and ei.value.status_name == "TS_CLOSED"


def test_errmsg_is_read_on_the_failing_thread(db):
    """ts_errmsg() is per thread: each thread's exception carries its own call's message."""
    barrier = threading.Barrier(4)
    results = {}

    def fail(i):
        barrier.wait()
        for _ in range(200):
            try:
                db.drop_metric(1000 + i)
            except tsdb.NotFound as e:
                results.setdefault(i, set()).add(e.message)

    threads = [threading.Thread(target=fail, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert results[i] == {f"ts_metric_drop: no live metric with this id (id={1000 + i})"}
