"""Databases (``ts_db``), options and write batches (``ts_batch``)."""

import ctypes
import os
import weakref

from . import _convert, _native
from ._handles import DBHandle, ExclusiveHandle, SnapshotHandle, error
from ._snapshot import Snapshot
from ._types import Stats
from .errors import AlreadyExists, Closed, InvalidArgument, Status

_EXISTS = Status.EXISTS
_U64_MAX = _convert.U64_MAX
_I64_MIN = _convert.I64_MIN
_I64_MAX = _convert.I64_MAX

SYNC_MODES = {"none": 0, "interval": 1, "always": 2}  # ts_sync
DEFAULT_READ_BLOCK = 4096  # points per ts_cursor_next_batch when iterating


def _set_options(lib, opts, create_if_missing, partition_points, head_run_points,
                 raw_head_budget, sync, interval_ms, checkpoint_bytes, retention):
    """Apply the keyword options to a ts_options (each through its ts_options_set_*)."""
    calls = []
    if create_if_missing is not None:
        if not isinstance(create_if_missing, bool):
            raise TypeError("create_if_missing must be a bool, not "
                            f"{type(create_if_missing).__name__}")
        calls.append((lib.ts_options_set_create_if_missing, create_if_missing))
    if partition_points is not None:
        calls.append((lib.ts_options_set_partition_points,
                      _convert.integer(partition_points, "partition_points", 0,
                                       _convert.U32_MAX)))
    if head_run_points is not None:
        calls.append((lib.ts_options_set_head_run_points,
                      _convert.integer(head_run_points, "head_run_points", 0,
                                       _convert.U32_MAX)))
    if raw_head_budget is not None:
        calls.append((lib.ts_options_set_raw_head_budget,
                      _convert.integer(raw_head_budget, "raw_head_budget", 0, _U64_MAX)))
    if sync is not None or interval_ms is not None:
        if sync is None:
            sync = "interval"
        if not isinstance(sync, str):
            raise TypeError(f"sync must be one of {sorted(SYNC_MODES)}, not "
                            f"{type(sync).__name__}")
        if sync not in SYNC_MODES:
            raise InvalidArgument(f"sync must be one of {sorted(SYNC_MODES)}, not {sync!r}")
        if interval_ms is not None and sync != "interval":
            raise InvalidArgument(f"interval_ms applies to sync='interval' only, not {sync!r}")
        ms = 100 if interval_ms is None else _convert.integer(interval_ms, "interval_ms", 0,
                                                              _convert.U32_MAX)
        calls.append((lib.ts_options_set_sync, SYNC_MODES[sync], ms))
    if checkpoint_bytes is not None:
        calls.append((lib.ts_options_set_checkpoint_bytes,
                      _convert.integer(checkpoint_bytes, "checkpoint_bytes", 0, _U64_MAX)))
    if retention is not None:
        calls.append((lib.need("ts_options_set_retention"),
                      _convert.integer(retention, "retention", _I64_MIN, _I64_MAX)))
    for fn, *args in calls:
        rc = fn(opts, *args)
        if rc:
            raise error(lib, rc)


class DB:
    """An open database (``ts_db``). Create with ``tsdb.open(path, **options)``.

    Share it between threads freely. Close it with ``close()`` or ``with``; ``close()``
    raises ``Busy`` (and leaves it open) while snapshots or cursors of it are alive. A DB
    that is forgotten is closed by its finalizer once its snapshots and cursors are gone.
    """

    __slots__ = ("_h", "_fin", "path", "_read_block", "_ts_insert", "__weakref__")

    def __init__(self, path, *, create_if_missing=None, partition_points=None,
                 head_run_points=None, raw_head_budget=None, sync=None, interval_ms=None,
                 checkpoint_bytes=None, retention=None):
        lib = _native.lib()
        c_path = _convert.path(path)
        self.path = os.fsdecode(c_path)
        opts = lib.ts_options_new()
        if not opts:
            raise MemoryError("ts_options_new returned NULL")
        out = ctypes.c_void_p()
        try:
            _set_options(lib, opts, create_if_missing, partition_points, head_run_points,
                         raw_head_budget, sync, interval_ms, checkpoint_bytes, retention)
            rc = lib.ts_open(c_path, opts, ctypes.byref(out))
            if rc:
                raise error(lib, rc)
        finally:
            lib.ts_options_free(opts)
        self._h = DBHandle(lib, out.value, self.path)
        self._ts_insert = lib.ts_insert
        self._fin = weakref.finalize(self, self._h.collect)
        # Reads of at least partition_points points decode whole partitions in place.
        self._read_block = max(DEFAULT_READ_BLOCK, partition_points or 0)

    # -- lifetime --------------------------------------------------------------------
    def close(self):
        """Close the database: write a final checkpoint and free it (idempotent).

        Waits for calls in flight on other threads. Raises ``Busy``, leaving the database
        open and usable, while snapshots or cursors of it are alive.
        """
        self._h.close()
        self._fin.detach()

    @property
    def closed(self):
        """True once closed (or closing: left by ``with`` on an exception while its
        snapshots or cursors live)."""
        return self._h.ptr is None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
            return
        # An exception is leaving the block. Do not hide it behind Busy: if snapshots or
        # cursors still live, close as soon as the last of them is released.
        self._h.close_when_idle()
        self._fin.detach()  # the last child closes it, if any lives

    def __repr__(self):
        return f"<tsdb.DB {self.path!r} {'closed' if self.closed else 'open'}>"

    # -- metrics ---------------------------------------------------------------------
    def create_metric(self, name, *, exist_ok=False):
        """Create a metric and return its id (ids start at 1 and are never reused).

        A live metric with that name raises ``AlreadyExists`` (its ``metric_id`` is the
        existing id), unless ``exist_ok`` is true: then the existing id is returned.
        """
        b = _convert.name(name)
        h = self._h
        out = ctypes.c_uint64()
        try:
            h.calls.append(None)
            ptr = h.ptr
            if ptr is None:
                raise Closed(h.closed_message())
            rc = h.lib.ts_metric_create(ptr, b, ctypes.byref(out))
            if rc == _EXISTS:
                if exist_ok:
                    return out.value
                e = error(h.lib, rc)
                raise AlreadyExists(e.message, e.status, e.status_name, metric_id=out.value)
            if rc:
                raise error(h.lib, rc)
        finally:
            h.leave()
        return out.value

    def drop_metric(self, metric_id):
        """Drop a metric: gone from new snapshots, still readable in older ones."""
        h = self._h
        h.call(h.lib.ts_metric_drop, _convert.metric_id(metric_id))

    def set_retention(self, metric_id, span):
        """Keep metric ``metric_id``'s points for ``span`` timestamp units: its sealed
        partitions whose points are all older than its newest sealed timestamp minus
        ``span`` are dropped by background work (or now, by ``enforce_retention()``).
        ``0`` returns the metric to the database's default (``open(..., retention=)``); a
        negative span keeps everything whatever the default. Durable like a write."""
        h = self._h
        h.call(h.lib.need("ts_metric_set_retention"), _convert.metric_id(metric_id),
               _convert.integer(span, "span", _I64_MIN, _I64_MAX))

    def enforce_retention(self):
        """Apply retention to every metric now, rather than waiting for the background
        work; returns how many sealed partitions were dropped. Snapshots begun before
        still read what was dropped."""
        h = self._h
        out = ctypes.c_uint64()
        h.call(h.lib.need("ts_enforce_retention"), ctypes.byref(out))
        return out.value

    # -- writes ----------------------------------------------------------------------
    def insert(self, metric_id, ts, value):
        """Insert one point. Prefer ``insert_batch`` for more than a few points."""
        if type(metric_id) is not int or not 0 <= metric_id <= _U64_MAX:
            metric_id = _convert.metric_id(metric_id)
        if type(ts) is not int or not _I64_MIN <= ts <= _I64_MAX:
            ts = _convert.timestamp(ts)
        if type(value) is not float:
            value = _convert.value(value)
        # the call bracket (see _handles.py), inlined: this is the per-point path
        h = self._h
        calls = h.calls
        try:
            calls.append(None)
            ptr = h.ptr
            if ptr is None:
                raise Closed(h.closed_message())
            rc = self._ts_insert(ptr, metric_id, ts, value)
            if rc:
                raise error(h.lib, rc)
        finally:
            calls.pop()
            if h.draining:
                h.wake_drainer()

    def insert_batch(self, metric_id, timestamps, values):
        """Insert ``len(timestamps)`` points into one metric, atomically, in one call.

        ``timestamps``: ``array('q')`` or any int64 buffer (numpy int64 arrays included)
        or a sequence of ints. ``values``: ``array('d')`` or any double buffer, or a
        sequence of numbers. Buffers of those formats are passed to the library without
        copying; other inputs are converted first. Lengths must match.
        """
        metric_id = _convert.metric_id(metric_id)
        ts_keep, ts_address, n = _convert.timestamps(timestamps)
        v_keep, v_address, m = _convert.values(values)
        if n != m:
            raise InvalidArgument(
                f"insert_batch: timestamps and values differ in length ({n} != {m})")
        h = self._h
        h.call(h.lib.ts_insert_batch, metric_id, ts_address, v_address, n)
        del ts_keep, v_keep  # the buffers had to stay exported until here

    def delete_range(self, metric_id, from_ts, until_ts):
        """Delete the metric's points with ``from_ts <= ts < until_ts``, atomically and
        durably. Snapshots begun before still read them (their space returns when the last
        of those is released); points written after this returns are kept, whatever their
        timestamps. ``from_ts == until_ts`` deletes nothing."""
        h = self._h
        h.call(h.lib.need("ts_delete_range"), _convert.metric_id(metric_id),
               _convert.timestamp(from_ts, "from_ts"), _convert.timestamp(until_ts, "until_ts"))

    def batch(self):
        """A new ``Batch``: points of any metrics, committed atomically."""
        return Batch(self)

    def checkpoint(self):
        """Move every acknowledged write into the data files now (bounds the next open's
        replay); writers and readers carry on meanwhile."""
        h = self._h
        h.call(h.lib.ts_checkpoint)

    def stats(self):
        """A ``Stats``: what the database holds (metrics, points, partitions, bytes on disk
        and in the log) and what keeps space alive (live snapshots, the oldest one's age,
        the bytes only old snapshots hold). O(metrics + partitions)."""
        h = self._h
        out = _native.ts_stats()
        h.call(h.lib.need("ts_db_stats"), ctypes.byref(out))
        return Stats(*(getattr(out, f) for f, _ in _native.ts_stats._fields_))

    # -- reads -----------------------------------------------------------------------
    def snapshot(self):
        """A new ``Snapshot``: O(1), never waits for writers."""
        h = self._h
        out = ctypes.c_void_p()
        try:
            h.calls.append(None)
            ptr = h.ptr
            if ptr is None:
                raise Closed(h.closed_message())
            rc = h.lib.ts_txn_begin(ptr, ctypes.byref(out))
            if rc:
                raise error(h.lib, rc)
            # Counted before leave(), so close() cannot run between begin and bookkeeping.
            h.add_child()
            return Snapshot(self, SnapshotHandle(h.lib, out.value, h))
        finally:
            h.leave()


def open(path, **options):  # noqa: A001 - the module's entry point, as in dbm.open
    """Open (by default creating) the database in directory ``path``; returns a ``DB``.

    Options (keywords; unset ones keep the library's defaults):
      create_if_missing (bool, True), partition_points (int, 4096),
      head_run_points (int, 16), raw_head_budget (bytes, 64 MiB),
      sync ("always" | "interval" | "none"; "interval") with interval_ms (int, 100),
      checkpoint_bytes (bytes, 64 MiB),
      retention (timestamp units, 0 = keep everything): the default retention span of
      every metric (``DB.set_retention`` overrides it per metric).
    Raises ``Busy`` if the database is open already (in this process or another),
    ``NotFound`` if it is missing and create_if_missing is False.
    """
    return DB(path, **options)


class Batch:
    """Points for any number of metrics, written atomically by ``commit()`` (``ts_batch``).

    As a context manager it commits on a normal exit (when it holds points) and discards
    the points on an exception; either way it is freed. Use it from one thread at a time.
    Each ``add`` is one call into the library; ``extend`` adds many points of one metric
    in one call.
    """

    __slots__ = ("_h", "_db", "_fin", "_count", "__weakref__")

    def __init__(self, db):
        if not isinstance(db, DB):
            raise TypeError(f"Batch needs a tsdb.DB, not {type(db).__name__}")
        lib = db._h.lib
        if db._h.ptr is None:
            raise Closed(db._h.closed_message())
        ptr = lib.ts_batch_new()
        if not ptr:
            raise MemoryError("ts_batch_new returned NULL")
        self._db = db
        self._h = ExclusiveHandle(lib, ptr, lib.ts_batch_free, None, "batch is closed")
        self._fin = weakref.finalize(self, self._h.collect)
        self._count = 0

    def add(self, metric_id, ts, value):
        """Add one point; the metric id is checked at commit."""
        if type(metric_id) is not int or not 0 <= metric_id <= _U64_MAX:
            metric_id = _convert.metric_id(metric_id)
        if type(ts) is not int or not _I64_MIN <= ts <= _I64_MAX:
            ts = _convert.timestamp(ts)
        if type(value) is not float:
            value = _convert.value(value)
        h = self._h
        with h.lock:
            rc = h.lib.ts_batch_add(h.get(), metric_id, ts, value)
            if rc:
                raise error(h.lib, rc)
            self._count += 1

    def extend(self, metric_id, timestamps, values):
        """Add many points of one metric in one library call (``ts_batch_add_many``); the
        inputs are those of ``DB.insert_batch`` (buffers are read in place, other inputs
        converted). The metric id is checked at commit."""
        metric_id = _convert.metric_id(metric_id)
        ts_keep, ts_address, n = _convert.timestamps(timestamps)
        v_keep, v_address, m = _convert.values(values)
        if n != m:
            raise InvalidArgument(
                f"extend: timestamps and values differ in length ({n} != {m})")
        if n == 0:
            return
        h = self._h
        with h.lock:
            ptr = h.get()
            add_many = h.lib.ts_batch_add_many
            if add_many is not None:
                rc = add_many(ptr, metric_id, ts_address, v_address, n)
                if rc:
                    raise error(h.lib, rc)
                self._count += n
            else:  # a library older than ts_batch_add_many: one call per point
                add = h.lib.ts_batch_add
                ts_column = (ctypes.c_int64 * n).from_address(ts_address)
                v_column = (ctypes.c_double * n).from_address(v_address)
                for ts, value in zip(ts_column, v_column):
                    rc = add(ptr, metric_id, ts, value)
                    if rc:
                        raise error(h.lib, rc)
                    self._count += 1
        del ts_keep, v_keep  # the buffers had to stay exported until here

    def commit(self):
        """Write every point atomically; on success the batch is empty, ready for reuse.
        On failure (e.g. ``NotFound`` for an unknown id) nothing is written and the points
        stay in the batch."""
        h = self._h
        db = self._db._h
        with h.lock:
            db.call(h.lib.ts_batch_commit, h.get())
            self._count = 0

    def clear(self):
        """Remove every point (the memory is kept for reuse)."""
        h = self._h
        with h.lock:
            rc = h.lib.ts_batch_clear(h.get())
            if rc:
                raise error(h.lib, rc)
            self._count = 0

    def __len__(self):
        """Points added since the last successful commit or clear."""
        return self._count

    def close(self):
        """Free the batch, discarding uncommitted points (idempotent)."""
        self._h.close()
        self._fin.detach()

    @property
    def closed(self):
        return self._h.ptr is None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None and self._count:
                self.commit()
        finally:
            self.close()

    def __repr__(self):
        state = "closed" if self.closed else f"{self._count} points"
        return f"<tsdb.Batch for {self._db.path!r} {state}>"
