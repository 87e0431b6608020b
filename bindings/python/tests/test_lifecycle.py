"""Handle lifetimes: finalizers, their order, deferred closing, and process exit."""
import gc
import os
import subprocess
import sys
import textwrap

import pytest

import tsdb

PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def reopen_and_count(path, name="m"):
    """Open `path` again (fails with Busy if a forgotten handle still holds it) and return
    the number of points of metric `name`."""
    with tsdb.open(path, create_if_missing=False) as db, db.snapshot() as snap:
        return len(snap.scan_arrays(snap.lookup(name))[0])


def test_forgotten_handles_are_freed_and_the_database_closed(path):
    db = tsdb.open(path)
    m = db.create_metric("m")
    db.insert_batch(m, range(100), range(100))
    snap = db.snapshot()
    cursor = snap.scan(m)
    next(cursor)
    batch = db.batch()
    batch.add(m, 1000, 1.0)  # never committed
    with pytest.warns(ResourceWarning, match="was not closed"):
        del db, snap, cursor, batch
        gc.collect()
    assert reopen_and_count(path) == 100


def test_finalizers_in_one_garbage_cycle_close_children_first(path):
    """The collector runs the finalizers of one cycle in any order; the DB's, if first,
    must wait for its snapshots and cursors instead of failing with Busy."""
    for round_ in range(3):
        db = tsdb.open(path)
        m = db.create_metric("m", exist_ok=True)
        db.insert(m, round_, 1.0)
        snaps = [db.snapshot() for _ in range(3)]
        cycle = {"db": db, "snaps": snaps, "cursors": [s.scan(m) for s in snaps]}
        cycle["self"] = cycle
        snaps[0].release()  # a mix of released and live children
        with pytest.warns(ResourceWarning):
            del db, snaps, cycle
            gc.collect()
        assert reopen_and_count(path) == round_ + 1


def test_db_finalizer_before_its_children_defers_the_close(path):
    db = tsdb.open(path)
    m = db.create_metric("m")
    db.insert(m, 1, 1.0)
    snap = db.snapshot()
    cursor = snap.scan(m)
    with pytest.warns(ResourceWarning):
        db._fin()  # run the DB's finalizer now, as a collector may before the others
    assert db.closed
    with pytest.raises(tsdb.Closed, match="closing"):
        db.insert(m, 2, 2.0)  # no new calls on a closing database
    with pytest.raises(tsdb.Busy):
        tsdb.open(path)  # still open: its snapshot lives
    assert snap.lookup("m") == m and list(cursor) == [(1, 1.0)]  # children still work
    snap.release()
    with pytest.raises(tsdb.Busy):
        tsdb.open(path)  # the cursor keeps it open
    cursor.close()  # the last child: the database closes now
    assert reopen_and_count(path) == 1


def test_children_keep_their_database_object_alive(path):
    with pytest.warns(ResourceWarning):
        snap = tsdb.open(path).snapshot()  # the DB object is referenced by nothing else
        gc.collect()
        assert snap.metric_count() == 0  # still usable
        snap.release()
        del snap  # the last reference to the DB object goes with it
        gc.collect()
    with tsdb.open(path):
        pass


def test_with_block_left_by_an_exception_closes_after_the_last_child(path):
    with pytest.raises(RuntimeError, match="boom"):  # not hidden behind Busy
        with tsdb.open(path) as db:
            m = db.create_metric("m")
            db.insert(m, 1, 1.0)
            snap = db.snapshot()
            raise RuntimeError("boom")
    assert db.closed
    with pytest.raises(tsdb.Closed):
        db.create_metric("n")
    assert list(snap.scan(m)) == [(1, 1.0)]
    gc.collect()
    snap.release()
    assert reopen_and_count(path) == 1
    db.close()  # a no-op now


def test_with_block_left_normally_with_a_live_snapshot_raises_busy(path):
    with pytest.raises(tsdb.Busy):
        with tsdb.open(path) as db:
            snap = db.snapshot()
    assert not db.closed
    snap.release()
    db.close()


def test_context_managers_free_everything(path):
    with tsdb.open(path) as db:
        m = db.create_metric("m")
        with db.batch() as batch:
            batch.add(m, 1, 1.0)
        with db.snapshot() as snap, snap.scan(m) as cursor:
            assert list(cursor) == [(1, 1.0)]
    assert db.closed and batch.closed and snap.released and cursor.closed
    assert reopen_and_count(path) == 1


def test_cursor_outlives_its_released_snapshot(db):
    m = db.create_metric("m")
    db.insert_batch(m, range(5), range(5))
    snap = db.snapshot()
    cursor = snap.scan(m)
    snap.release()
    assert [t for t, _ in cursor] == list(range(5))
    cursor.close()


def test_repr(db):
    assert repr(db).startswith("<tsdb.DB ") and "open" in repr(db)
    m = db.create_metric("m")
    with db.snapshot() as snap:
        assert "live" in repr(snap)
        with snap.scan(m) as cursor:
            assert "open" in repr(cursor)
    assert "released" in repr(snap) and "closed" in repr(cursor)
    with db.batch() as batch:
        assert "0 points" in repr(batch)


def test_process_exit_with_open_handles_closes_the_database(path):
    """Handles still open at interpreter exit are freed, children first, and the database
    is closed properly (its final checkpoint leaves no log behind)."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {PKG_ROOT!r})
        import tsdb
        db = tsdb.open({path!r})
        m = db.create_metric("m")
        db.insert_batch(m, range(5000), range(5000))
        snap = db.snapshot()
        cursor = snap.scan(m)
        next(cursor)
        batch = db.batch()
        batch.add(m, 99999, 1.0)
        cycle = [db, snap, cursor]
        cycle.append(cycle)
        print("exiting")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "exiting\n" and proc.stderr == ""
    wal = os.path.join(path, "wal")
    assert not os.path.exists(wal) or os.listdir(wal) == []  # closed by ts_close
    assert reopen_and_count(path) == 5000
