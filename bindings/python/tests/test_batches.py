"""insert_batch from every kind of input, and atomic multi-metric batches (ts_batch)."""
import ctypes
import threading
from array import array

import pytest
from conftest import scan_all

import tsdb

TS = [30, 10, 20]
VS = [3.5, 1.5, 2.5]
EXPECTED = [(10, 1.5), (20, 2.5), (30, 3.5)]


def as_native_bytes(code, items):
    return array(code, items).tobytes()


INPUTS = {
    "array": lambda: (array("q", TS), array("d", VS)),
    "array_l": lambda: (array("l", TS), array("d", VS)),  # 'l' is int64 on LP64
    "memoryview": lambda: (memoryview(array("q", TS)), memoryview(array("d", VS))),
    "readonly_memoryview": lambda: (memoryview(as_native_bytes("q", TS)).cast("q"),
                                    memoryview(as_native_bytes("d", VS)).cast("d")),
    "bytearray_cast": lambda: (memoryview(bytearray(as_native_bytes("q", TS))).cast("q"),
                               memoryview(bytearray(as_native_bytes("d", VS))).cast("d")),
    "ctypes_array": lambda: ((ctypes.c_int64 * 3)(*TS), (ctypes.c_double * 3)(*VS)),
    "list": lambda: (list(TS), list(VS)),
    "tuple": lambda: (tuple(TS), tuple(VS)),
    "ints_as_values": lambda: (TS, [3, 1, 2.5]),  # ints are numbers too
    "generator": lambda: ((t for t in TS), (v for v in VS)),
    "int32_array": lambda: (array("i", TS), array("f", VS)),  # converted: other formats
    "strided": lambda: (memoryview(array("q", [30, 0, 10, 0, 20, 0]))[::2],
                        memoryview(array("d", [3.5, 0, 1.5, 0, 2.5, 0]))[::2]),
}


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_insert_batch_accepts(db, kind):
    m = db.create_metric("m")
    ts, vs = INPUTS[kind]()
    if kind == "ints_as_values":
        expected = [(10, 1.0), (20, 2.5), (30, 3.0)]
    else:
        expected = EXPECTED
    db.insert_batch(m, ts, vs)
    assert scan_all(db, m) == expected


def test_insert_batch_converts_big_endian_buffers(db):
    m = db.create_metric("m")
    ts = (ctypes.c_int64.__ctype_be__ * 3)(*TS)  # buffer format '>q'
    vs = (ctypes.c_double.__ctype_be__ * 3)(*VS)
    db.insert_batch(m, ts, vs)
    assert scan_all(db, m) == EXPECTED


def test_insert_batch_with_numpy_if_installed(db):
    np = pytest.importorskip("numpy")
    m = db.create_metric("m")
    db.insert_batch(m, np.array(TS, dtype=np.int64), np.array(VS, dtype=np.float64))
    db.insert_batch(m, np.array([40, 50], dtype=">i8"), np.array([4, 5], dtype=np.float32))
    ro = np.array([60], dtype=np.int64)
    ro.setflags(write=False)
    db.insert_batch(m, ro, np.array([6.0]))
    assert scan_all(db, m) == EXPECTED + [(40, 4.0), (50, 5.0), (60, 6.0)]


def test_buffers_are_passed_in_place_and_pinned_during_the_call():
    """The library gets the buffer's own memory (no copy, no per-point work), and the
    buffer cannot be resized (moved) while the call holds it."""
    from tsdb import _convert
    ts = array("q", range(1000))
    keep, address, n = _convert.timestamps(ts)
    assert (address, n) == (ts.buffer_info()[0], 1000)
    with pytest.raises(BufferError):
        ts.append(1)  # another thread could not move it during the call either
    del keep
    ts.append(1)  # released after the call

    cvals = (ctypes.c_double * 3)(*VS)
    keep, address, n = _convert.values(memoryview(cvals))
    assert (address, n) == (ctypes.addressof(cvals), 3)

    ro = memoryview(array("d", VS).tobytes()).cast("d")  # read-only: copied once
    keep, address, n = _convert.values(ro)
    assert n == 3 and bytes((ctypes.c_double * 3).from_address(address)) == ro.tobytes()


def test_insert_batch_rejects_wrong_types(db):
    m = db.create_metric("m")
    with pytest.raises(TypeError, match="timestamps"):
        db.insert_batch(m, [1.5, 2.5], [1.0, 2.0])  # float timestamps
    with pytest.raises(TypeError, match="timestamps"):
        db.insert_batch(m, array("d", [1.0]), array("d", [1.0]))
    with pytest.raises(TypeError, match="values"):
        db.insert_batch(m, [1, 2], ["a", "b"])
    with pytest.raises(TypeError):
        db.insert_batch(m, 5, [1.0])
    with pytest.raises(TypeError, match="bytes"):
        db.insert_batch(m, bytes(8), [1.0])  # raw bytes are ambiguous: refused
    with pytest.raises(TypeError, match="cast"):
        db.insert_batch(m, memoryview(bytes(8)), [1.0])
    with pytest.raises(TypeError, match="dimensional"):
        db.insert_batch(m, memoryview(array("q", [1, 2])).cast("B").cast("q", (1, 2)), [1.0])
    with pytest.raises(TypeError, match="metric id"):
        db.insert_batch("m", [1], [1.0])
    assert scan_all(db, m) == []


def test_insert_batch_rejects_bad_values(db):
    m = db.create_metric("m")
    with pytest.raises(tsdb.InvalidArgument, match="differ in length"):
        db.insert_batch(m, [1, 2, 3], [1.0, 2.0])
    with pytest.raises(tsdb.InvalidArgument, match="empty batch"):
        db.insert_batch(m, [], [])  # the library's own message
    with pytest.raises(tsdb.InvalidArgument, match="out of range"):
        db.insert_batch(m, [1 << 63], [1.0])
    with pytest.raises(tsdb.InvalidArgument, match="INT64_MAX"):
        db.insert_batch(m, [1, (1 << 63) - 1], [1.0, 2.0])  # nothing is written
    with pytest.raises(tsdb.NotFound, match="ts_insert_batch"):
        db.insert_batch(m + 100, [1], [1.0])
    assert scan_all(db, m) == []


def test_batch_commits_many_metrics_atomically(db):
    a, b = db.create_metric("a"), db.create_metric("b")
    batch = db.batch()
    batch.add(a, 1, 1.0)
    batch.add(b, 2, 2.0)
    batch.extend(a, array("q", [3, 4]), [3.0, 4.0])
    assert len(batch) == 4
    before = db.snapshot()
    batch.commit()
    assert len(batch) == 0  # emptied, reusable
    assert scan_all(db, a) == [(1, 1.0), (3, 3.0), (4, 4.0)]
    assert scan_all(db, b) == [(2, 2.0)]
    assert list(before.scan(a)) == []  # an older snapshot sees none of it
    before.release()
    batch.add(b, 5, 5.0)
    batch.commit()
    assert scan_all(db, b) == [(2, 2.0), (5, 5.0)]
    batch.close()


def test_batch_with_unknown_metric_writes_nothing_and_keeps_points(db):
    a = db.create_metric("a")
    with db.batch() as batch:
        batch.add(a, 1, 1.0)
        batch.add(a + 100, 1, 1.0)
        with pytest.raises(tsdb.NotFound, match="ts_batch_commit"):
            batch.commit()
        assert len(batch) == 2 and scan_all(db, a) == []
        batch.clear()
        assert len(batch) == 0
        with pytest.raises(tsdb.InvalidArgument, match="ts_batch_commit"):
            batch.commit()  # empty
        batch.add(a, 7, 7.0)
    assert scan_all(db, a) == [(7, 7.0)]  # committed by the with block


def test_batch_context_manager_discards_on_exception(db):
    a = db.create_metric("a")
    with pytest.raises(RuntimeError):
        with db.batch() as batch:
            batch.add(a, 1, 1.0)
            raise RuntimeError("boom")
    assert batch.closed and scan_all(db, a) == []
    with db.batch():
        pass  # empty: nothing to commit, no error


def test_batch_rejects_wrong_types_and_values(db):
    a = db.create_metric("a")
    with db.batch() as batch:
        with pytest.raises(TypeError):
            batch.add(a, "1", 1.0)
        with pytest.raises(TypeError):
            batch.add(a, 1, "1.0")
        with pytest.raises(tsdb.InvalidArgument):
            batch.add(-1, 1, 1.0)
        with pytest.raises(tsdb.InvalidArgument, match="differ in length"):
            batch.extend(a, [1, 2], [1.0])
        assert len(batch) == 0
    with pytest.raises(TypeError):
        tsdb.Batch("not a db")


def test_concurrent_snapshots_see_batches_whole_or_not_at_all(db):
    a, b = db.create_metric("a"), db.create_metric("b")
    rounds, per = 200, 50
    done = threading.Event()
    errors = []

    def writer():
        try:
            for r in range(rounds):
                with db.batch() as batch:
                    batch.extend(a, range(r * per, (r + 1) * per), [1.0] * per)
                    batch.extend(b, range(r * per, (r + 1) * per), [2.0] * per)
                db.insert_batch(a, array("q", [10**9 + r, 10**9 + r + 1]), [0.0, 0.0])
                db.insert_batch(b, array("q", [10**9 + r, 10**9 + r + 1]), [0.0, 0.0])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=writer)
    t.start()
    checks = 0
    while not done.is_set() or checks == 0:
        with db.snapshot() as snap:
            na = len(snap.scan_arrays(a, 0, 10**9)[0])
            nb = len(snap.scan_arrays(b, 0, 10**9)[0])
        assert na == nb and na % per == 0  # never a part of a batch
        checks += 1
    t.join()
    assert not errors
    assert len(scan_all(db, a)) == rounds * per + rounds + 1
