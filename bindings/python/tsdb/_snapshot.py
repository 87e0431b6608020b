"""Snapshots (``ts_txn``), cursors (``ts_cursor``) and metric listings (``ts_metric_list``)."""

import array
import ctypes
import itertools
import struct
import weakref

from . import _convert, _native, errors
from ._handles import ExclusiveHandle, SnapshotHandle, error
from ._types import Bucket, Metric
from .errors import Status

_DONE = Status.DONE
# struct ts_agg as the struct module reads it: nine 8-byte fields, no padding.
_AGG = struct.Struct("@qQdddddqq")
assert _AGG.size == ctypes.sizeof(_native.ts_agg)
_AGG_WORDS = _AGG.size // 8
_make_bucket = Bucket._make
DEFAULT_QUERY_BATCH = 1024  # buckets per ts_aggregate call, metrics per ts_metric_list_next
_ZEROS_Q = array.array("q", [0])
_ZEROS_D = array.array("d", [0.0])
_NOTHING = iter(())  # no points read ahead by iteration


class Snapshot:
    """A consistent, read-only view of the whole database at one instant (``ts_txn``).

    It sees every write that returned before ``DB.snapshot()`` was called and nothing
    after; repeated scans return identical results while writers run. Share it between
    threads freely. Release it promptly (``release()`` or ``with``): a live snapshot keeps
    what it can see alive in memory and on disk, and ``DB.close()`` raises ``Busy`` while
    it lives. Its cursors stay valid after it is released.
    """

    __slots__ = ("_h", "_db", "_fin", "__weakref__")

    def __init__(self, db, handle):
        self._db = db  # keeps the DB object alive while this snapshot is
        self._h = handle
        self._fin = weakref.finalize(self, handle.collect)

    # -- lifetime --------------------------------------------------------------------
    def release(self):
        """Release the snapshot (idempotent); later calls on it raise ``Closed``."""
        self._h.release()
        self._fin.detach()

    close = release

    @property
    def released(self):
        return self._h.ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        state = "released" if self.released else "live"
        return f"<tsdb.Snapshot of {self._db.path!r} {state}>"

    # -- reads -----------------------------------------------------------------------
    def lookup(self, name):
        """The id of the metric called ``name`` in this snapshot; ``NotFound`` if none."""
        b = _convert.name(name)
        h = self._h
        out = ctypes.c_uint64()
        h.call(h.lib.ts_metric_lookup, b, ctypes.byref(out))
        return out.value

    def metric_count(self):
        """The number of live metrics in this snapshot."""
        h = self._h
        out = ctypes.c_uint64()
        h.call(h.lib.ts_txn_metric_count, ctypes.byref(out))
        return out.value

    def scan(self, metric_id, from_ts=_convert.I64_MIN, until_ts=_convert.I64_MAX):
        """A ``Cursor`` over the metric's points with ``from_ts <= ts < until_ts``, in
        ascending timestamp order. The defaults cover every timestamp."""
        metric_id = _convert.metric_id(metric_id)
        from_ts = _convert.timestamp(from_ts, "from_ts")
        until_ts = _convert.timestamp(until_ts, "until_ts")
        h = self._h
        out = ctypes.c_void_p()
        try:
            h.calls.append(None)  # the call bracket, inlined (see _handles.py)
            ptr = h.ptr
            if ptr is None:
                raise errors.Closed(h.closed_message())
            rc = h.lib.ts_scan_range(ptr, metric_id, from_ts, until_ts, ctypes.byref(out))
            if rc:
                raise error(h.lib, rc)
            # Counted while the snapshot is held, so its database cannot close meanwhile.
            h.parent.add_child()
            return Cursor(self._db, ExclusiveHandle(
                h.lib, out.value, h.lib.ts_cursor_free, h.parent, "cursor is closed"))
        finally:
            h.leave()

    def scan_arrays(self, metric_id, from_ts=_convert.I64_MIN, until_ts=_convert.I64_MAX):
        """Every point of ``scan(...)`` as two arrays, ``(array('q'), array('d'))``, filled
        by the library directly (no Python work per point)."""
        with self.scan(metric_id, from_ts, until_ts) as cursor:
            return cursor.read_all()

    def aggregate(self, metric_id, from_ts, until_ts, bucket, *, batch_size=DEFAULT_QUERY_BATCH):
        """The metric's points in ``[from_ts, until_ts)`` summarised per bucket
        ``[from_ts + k*bucket, from_ts + (k+1)*bucket)`` (the last one clipped to
        ``until_ts``): a list of ``Bucket`` (start, count, min, max, sum, first, last,
        first_ts, last_ts), ascending, non-empty buckets only. See ``Bucket`` for NaN.

        The library answers sealed blocks lying inside one bucket from their stored
        summaries, without decoding them. ``batch_size`` buckets come per library call;
        the calls continue until every bucket is read (the snapshot makes them one answer).
        """
        metric_id = _convert.metric_id(metric_id)
        from_ts = _convert.timestamp(from_ts, "from_ts")
        until_ts = _convert.timestamp(until_ts, "until_ts")
        bucket = _convert.timestamp(bucket, "bucket")
        cap = _convert.integer(batch_size, "batch_size", 1, 1 << 32)
        if bucket > 0 and until_ts > from_ts:  # no larger than the buckets there can be
            cap = min(cap, -(-(until_ts - from_ts) // bucket))
        h = self._h
        fn = h.lib.need("ts_aggregate")
        # ts_agg[cap] in an int64 array (8-aligned), which the struct module reads fast.
        buf = _ZEROS_Q * (cap * _AGG_WORDS)
        address = buf.buffer_info()[0]
        view = memoryview(buf).cast("B")
        n = ctypes.c_size_t()
        n_ref = ctypes.byref(n)
        out = []
        try:
            h.calls.append(None)  # the call bracket, inlined (see _handles.py)
            ptr = h.ptr
            if ptr is None:
                raise errors.Closed(h.closed_message())
            while True:
                rc = fn(ptr, metric_id, from_ts, until_ts, bucket, address, cap, n_ref)
                if rc:
                    raise error(h.lib, rc)
                got = n.value
                out.extend(map(_make_bucket, _AGG.iter_unpack(view[:got * _AGG.size])))
                if got < cap:
                    break
                # More may remain: continue after the last bucket (tsdb.h, ts_aggregate).
                from_ts = out[-1].start + bucket
                if from_ts >= until_ts:
                    break
        finally:
            h.leave()
        return out

    def metrics(self, prefix=None, *, batch_size=DEFAULT_QUERY_BATCH):
        """A ``MetricList``: iterate it for ``Metric(id, name)`` of every metric of this
        snapshot (or those whose name starts with ``prefix``), ascending id, read
        ``batch_size`` at a time. It frees itself once exhausted; close it (or use
        ``with``) if you stop early, since it keeps the snapshot alive meanwhile."""
        c_prefix = None if prefix is None else _convert.name(prefix, "prefix")  # "" is all
        cap = _convert.integer(batch_size, "batch_size", 1, 1 << 32)
        h = self._h
        fn = h.lib.need("ts_metric_list_open")
        out = ctypes.c_void_p()
        try:
            h.calls.append(None)  # the call bracket, inlined (see _handles.py)
            ptr = h.ptr
            if ptr is None:
                raise errors.Closed(h.closed_message())
            rc = fn(ptr, c_prefix, ctypes.byref(out))
            if rc:
                raise error(h.lib, rc)
            # Counted while the snapshot is held, so its database cannot close meanwhile.
            h.parent.add_child()
            return MetricList(self._db, ExclusiveHandle(
                h.lib, out.value, h.lib.ts_metric_list_free, h.parent,
                "metric listing is closed"), cap)
        finally:
            h.leave()


class MetricList:
    """An iterator over a snapshot's metrics (``ts_metric_list``): ``Metric(id, name)``
    tuples in ascending id, read from the library ``batch_size`` at a time.

    It holds its snapshot alive (``DB.close()`` raises ``Busy`` meanwhile) until it is
    exhausted, which frees it, or closed (``close()``, ``with``). It stays valid after its
    snapshot is released. Use it from one thread at a time (calls are serialised).
    """

    __slots__ = ("_h", "_db", "_fin", "_pending", "_ids", "_names", "_cap", "_n",
                 "_exhausted", "__weakref__")

    def __init__(self, db, handle, cap):
        self._db = db  # keeps the DB object alive while this listing is
        self._h = handle
        self._fin = weakref.finalize(self, handle.collect)
        self._pending = _NOTHING
        self._cap = cap
        self._ids = (ctypes.c_uint64 * cap)()
        self._names = (ctypes.c_char_p * cap)()
        self._n = ctypes.c_size_t()
        self._exhausted = False

    def close(self):
        """Free the listing (idempotent); later reads raise ``Closed``, unless it was
        exhausted (then they end the iteration)."""
        self._pending = _NOTHING
        self._h.close()
        self._fin.detach()

    @property
    def closed(self):
        return self._h.ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"<tsdb.MetricList of {self._db.path!r} "
                f"{'closed' if self.closed else 'open'}>")

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._pending)
        except StopIteration:
            pass
        self._pending = _NOTHING
        if self._exhausted:
            raise StopIteration
        h = self._h
        with h.lock:
            rc = h.lib.ts_metric_list_next(h.get(), self._ids, self._names, self._cap,
                                           ctypes.byref(self._n))
            if rc > _DONE:
                raise error(h.lib, rc)
            got = self._n.value
            # Copied now: the library's name strings live until its next call.
            names = [b.decode("utf-8") for b in self._names[:got]]
            ids = self._ids[:got]
        if rc == _DONE:
            self._exhausted = True
            self.close()  # let go of the snapshot at once
            raise StopIteration
        self._pending = map(Metric._make, zip(ids, names))
        return next(self._pending)


class Cursor:
    """An ascending iterator over one metric's points as of a snapshot (``ts_cursor``).

    Iterate it for ``(ts, value)`` tuples (read from the library a block at a time), or
    call ``read_batch(n)`` / ``read_all()`` for ``array('q')`` and ``array('d')`` columns
    filled by the library. Close it (``close()`` or ``with``) to free it promptly; use it
    from one thread at a time (calls from several threads are serialised).
    """

    __slots__ = ("_h", "_db", "_fin", "_pending", "_block", "_n", "_n_ref", "__weakref__")

    def __init__(self, db, handle):
        self._db = db  # keeps the DB object alive while this cursor is
        self._h = handle
        self._fin = weakref.finalize(self, handle.collect)
        self._pending = _NOTHING  # the rest of the block iteration reads ahead
        self._block = db._read_block
        self._n = ctypes.c_size_t()
        self._n_ref = ctypes.byref(self._n)

    # -- lifetime --------------------------------------------------------------------
    def close(self):
        """Free the cursor (idempotent); later reads raise ``Closed``."""
        self._pending = _NOTHING
        self._h.close()
        self._fin.detach()

    @property
    def closed(self):
        return self._h.ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<tsdb.Cursor of {self._db.path!r} {'closed' if self.closed else 'open'}>"

    # -- reads -----------------------------------------------------------------------
    def _fill(self, ts_address, values_address, cap):
        """One ts_cursor_next_batch into caller memory; the number of points (0: done).
        The caller holds the handle's lock."""
        h = self._h
        rc = h.lib.ts_cursor_next_batch(h.get(), ts_address, values_address, cap,
                                        self._n_ref)
        if rc > _DONE:
            raise error(h.lib, rc)
        return self._n.value

    def _take_pending(self, n):
        """Up to ``n`` points that iteration read ahead, as two lists (so that reads of
        any kind continue exactly where the previous one stopped)."""
        took = list(itertools.islice(self._pending, n))
        if len(took) < n:
            self._pending = _NOTHING
        return [t for t, _ in took], [v for _, v in took]

    def read_batch(self, n=None):
        """Up to ``n`` next points (default: one partition's worth, at least 4096) as
        ``(array('q') timestamps, array('d') values)``; both empty when the cursor is
        exhausted. Fewer than ``n`` may come before the end."""
        if n is None:
            n = self._block
        else:
            n = _convert.integer(n, "n", 1, _convert.I64_MAX)
        if self._pending is not _NOTHING:
            ts, vs = self._take_pending(n)
            if ts:
                return array.array("q", ts), array.array("d", vs)
        ts = _ZEROS_Q * n
        vs = _ZEROS_D * n
        with self._h.lock:
            got = self._fill(ts.buffer_info()[0], vs.buffer_info()[0], n)
        if got < n:
            del ts[got:]
            del vs[got:]
        return ts, vs

    def read_all(self):
        """Every remaining point as ``(array('q'), array('d'))``."""
        cap = self._block
        ts = _ZEROS_Q * cap
        vs = _ZEROS_D * cap
        filled = 0
        if self._pending is not _NOTHING:
            ahead_ts, ahead_vs = self._take_pending(cap)
            filled = len(ahead_ts)
            ts[:filled] = array.array("q", ahead_ts)
            vs[:filled] = array.array("d", ahead_vs)
        h = self._h
        with h.lock:  # once for the whole read
            while True:
                if filled == cap:
                    ts.extend(_ZEROS_Q * cap)
                    vs.extend(_ZEROS_D * cap)
                    cap *= 2
                got = self._fill(ts.buffer_info()[0] + 8 * filled,
                                 vs.buffer_info()[0] + 8 * filled, cap - filled)
                if not got:
                    break
                filled += got
        del ts[filled:]
        del vs[filled:]
        return ts, vs

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._pending)
        except StopIteration:
            pass
        self._pending = _NOTHING
        ts = _ZEROS_Q * self._block
        vs = _ZEROS_D * self._block
        with self._h.lock:
            got = self._fill(ts.buffer_info()[0], vs.buffer_info()[0], self._block)
        if not got:
            raise StopIteration
        if got < self._block:
            del ts[got:]
            del vs[got:]
        self._pending = zip(ts, vs)
        return next(self._pending)
