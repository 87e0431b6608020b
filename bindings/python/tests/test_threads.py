"""Threads: snapshot isolation under a concurrent writer, a shared DB and snapshot, a
cursor shared by mistake, and closing while other threads are inside calls."""
import queue
import threading
from array import array

from conftest import scan_all

import tsdb

WAIT = 60  # seconds: only a guard against hanging, never an assertion on speed


def run_threads(targets):
    """Run callables in threads; re-raise the first exception any of them raised."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - handed to the test thread
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]


def test_snapshot_isolation_while_another_thread_writes(db):
    m = db.create_metric("m")
    batches, per = 40, 250
    acked = queue.Queue()  # batch numbers whose insert_batch call returned
    go_on = threading.Event()

    def writer():
        for r in range(batches):
            db.insert_batch(m, array("q", range(r * per, (r + 1) * per)),
                            array("d", [float(r)] * per))
            acked.put(r)
            if r == 9:
                assert go_on.wait(WAIT)  # let the reader take its snapshot meanwhile

    t = threading.Thread(target=writer)
    t.start()
    for _ in range(10):
        acked.get(timeout=WAIT)
    before = db.snapshot()  # begun after 10 batches returned, while the writer waits
    go_on.set()
    first = before.scan_arrays(m)
    assert len(first[0]) == 10 * per  # every write that returned before it, nothing after
    repeats = 0
    while t.is_alive() or repeats == 0:  # the writer carries on meanwhile
        again = before.scan_arrays(m)
        assert again == first  # repeated scans never change
        with db.snapshot() as snap:
            n = len(snap.scan_arrays(m)[0])
        assert n % per == 0 and n >= 10 * per  # whole batches only
        repeats += 1
    t.join(WAIT)
    assert before.scan_arrays(m) == first  # still unchanged after the writer finished
    before.release()
    with db.snapshot() as snap:  # a new snapshot sees everything
        ts, vs = snap.scan_arrays(m)
    assert list(ts) == list(range(batches * per))
    assert vs[-1] == float(batches - 1)


def test_many_threads_share_one_db_and_one_snapshot(db):
    ids = [db.create_metric(f"m{i}") for i in range(4)]

    def writer(m):
        def run():
            for r in range(50):
                db.insert_batch(m, range(r * 100, (r + 1) * 100), [float(m)] * 100)
                db.insert(m, 10_000 + r, 1.0)
        return run

    run_threads([writer(m) for m in ids])
    with db.snapshot() as snap:
        expected = {m: snap.scan_arrays(m) for m in ids}

        def reader():
            for _ in range(20):
                for m in ids:
                    assert snap.scan_arrays(m) == expected[m]
                    assert snap.lookup(f"m{ids.index(m)}") == m

        run_threads([reader] * 4)
    assert all(len(expected[m][0]) == 50 * 100 + 50 for m in ids)


def test_cursor_used_from_two_threads_is_serialised(db):
    m = db.create_metric("m")
    n = 20_000
    db.insert_batch(m, range(n), range(n))
    got = [[], []]
    with db.snapshot() as snap, snap.scan(m) as cursor:
        def reader(i):
            def run():
                while True:
                    ts, _ = cursor.read_batch(7)
                    if not ts:
                        return
                    got[i].extend(ts)
            return run

        run_threads([reader(0), reader(1)])
    assert sorted(got[0] + got[1]) == list(range(n))  # every point once, none lost
    assert got[0] == sorted(got[0]) and got[1] == sorted(got[1])


def test_close_waits_for_calls_in_flight_on_other_threads(path):
    """Closing while other threads insert never frees the handle under a running call:
    each call either completes (and its points are durable) or raises Closed."""
    db = tsdb.open(path)
    ids = [db.create_metric(f"m{i}") for i in range(3)]
    batch_acked = {m: False for m in ids}  # each batch writes the same 50,000 points
    singles_acked = {m: 0 for m in ids}  # each single insert a new one
    started = threading.Barrier(len(ids) + 1)

    def writer(m):
        def run():
            started.wait()
            ts = array("q", range(50_000))
            vs = array("d", range(50_000))
            r = 0
            while True:
                try:
                    db.insert_batch(m, ts, vs)
                    batch_acked[m] = True
                    db.insert(m, 10**9 + r, 1.0)
                    singles_acked[m] += 1
                except tsdb.Closed:
                    return
                r += 1
        return run

    threads = [threading.Thread(target=writer(m)) for m in ids]
    for t in threads:
        t.start()
    started.wait()
    db.close()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
    with tsdb.open(path) as db2, db2.snapshot() as snap:
        for m in ids:
            n = len(snap.scan_arrays(m)[0])
            assert n == (50_000 if batch_acked[m] else 0) + singles_acked[m]


def test_release_waits_for_scans_in_flight(db):
    m = db.create_metric("m")
    db.insert_batch(m, range(100_000), range(100_000))
    snap = db.snapshot()
    started = threading.Barrier(3)
    outcomes = []

    def reader():
        started.wait()
        while True:
            try:
                ts, _ = snap.scan_arrays(m)
            except tsdb.Closed:
                return
            outcomes.append(len(ts))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait()
    snap.release()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
    assert all(n == 100_000 for n in outcomes)  # each scan complete, never torn


def test_batch_used_from_two_threads_is_serialised(db):
    m = db.create_metric("m")
    with db.batch() as batch:
        def adder(base):
            def run():
                for i in range(2000):
                    batch.add(m, base + i, 1.0)
            return run

        run_threads([adder(0), adder(10_000)])
        assert len(batch) == 4000
    assert len(scan_all(db, m)) == 4000
