"""The C handles behind the public objects, and the rules that keep them safe.

Each public object (DB, Snapshot, Cursor, Batch) owns one handle object from here. The
handle, not the public object, is what its ``weakref.finalize`` holds, so a finalizer can
free the C handle after the public object is gone. The rules:

* Never free under a running call. ``ts_db`` and ``ts_txn`` may be used by many threads
  at once, so each call registers itself in ``calls`` while it runs, and
  ``close``/``release`` first refuses new calls, then waits until none is in flight
  (``SharedHandle``).
  ``ts_cursor`` and ``ts_batch`` are one-thread-at-a-time handles: each call holds the
  handle's lock (``ExclusiveHandle``), which also serialises threads that share one by
  mistake, instead of corrupting it.
* Never use after free: a call reads ``ptr`` after registering itself, and ``ptr`` is
  None once the handle is freed or being freed, so the call raises ``Closed``.
* Close a database after its children. ``ts_close`` is TS_BUSY while a snapshot or cursor
  is alive. A child's public object keeps its DB object alive, and the DB handle counts
  its live children: a DB that was collected (or left by ``with`` on an exception) while
  children live is marked ``closing`` and is closed by whichever child goes last. This holds
  whatever order the garbage collector runs the finalizers of one cycle in.

The hot path (registering calls, counting children) takes no lock: it relies on
``list.append``/``list.pop`` being atomic, and on the order "register, then read the
state" on one side and "publish the state, then read the registrations" on the other,
so that of two racing threads at least one sees the other. Locks serialise only closers
and finalizers, and are reentrant because a finalizer can run in any thread at any
allocation, possibly inside one of those critical sections.
"""

import threading
import warnings

from . import errors
from .errors import Status

_OK = Status.OK
_BUSY = Status.BUSY


def error(lib, rc):
    """The exception for status ``rc``; must be called right after the failing call, on the
    same thread, since ``ts_errmsg()`` is the thread's last error."""
    message = lib.ts_errmsg().decode("utf-8", "replace")
    name = lib.ts_status_str(rc).decode("ascii", "replace")
    return errors.from_status(rc, message, name)


class SharedHandle:
    """A handle many threads may call at once (``ts_db``, ``ts_txn``).

    ``ptr`` is the pointer new calls use: None once closing starts. ``_ptr`` is the live
    C handle until it is freed.
    """

    __slots__ = ("ptr", "_ptr", "lib", "lock", "calls", "draining", "_idle", "what")

    def __init__(self, lib, ptr, what):
        self.lib = lib
        self.ptr = self._ptr = ptr
        self.lock = threading.RLock()  # serialises closers and finalizers, not calls
        self.calls = []  # one entry per call in flight (append/pop are atomic)
        self.draining = False
        self._idle = threading.Condition(threading.Lock())
        self.what = what

    def closed_message(self):
        return f"{self.what} is closed"

    # Every call on the handle is bracketed like this (inlined where a method needs more
    # than one C call inside the bracket):
    #
    #     calls = h.calls
    #     try:
    #         calls.append(None)  # register (inside the try: an interrupt raised when
    #         ptr = h.ptr         # the append returns still pops it), then read the state
    #         if ptr is None: raise Closed(...)
    #         ... the C call ...
    #     finally:
    #         h.leave()
    #
    # A registration left behind would make close() wait forever, hence the care.

    def call(self, fn, *args):
        """Call ``fn(ptr, *args)`` inside the bracket; raise the error for a status other
        than TS_OK (read at once, on this thread)."""
        calls = self.calls
        try:
            calls.append(None)
            ptr = self.ptr
            if ptr is None:
                raise errors.Closed(self.closed_message())
            rc = fn(ptr, *args)
            if rc:
                raise error(self.lib, rc)
        finally:
            calls.pop()
            if self.draining:
                self.wake_drainer()

    def leave(self):
        """End a call whose bracket is inlined (see above)."""
        self.calls.pop()
        if self.draining:
            self.wake_drainer()

    def wake_drainer(self):
        with self._idle:
            self._idle.notify_all()

    def _drain(self):
        """Wait until no call is in flight (lock held, ``ptr`` already None)."""
        self.draining = True  # publish first ...
        try:
            with self._idle:
                while self.calls:  # ... then read the registrations
                    self._idle.wait(0.05)  # (the timeout only bounds a lost wakeup)
        finally:
            self.draining = False


class DBHandle(SharedHandle):
    """``ts_db``: counts its live children (snapshots, cursors) for ordered closing."""

    __slots__ = ("_children", "closing", "path")

    def __init__(self, lib, ptr, path):
        super().__init__(lib, ptr, "database")
        self._children = []  # one entry per live snapshot or cursor
        self.closing = False  # close as soon as the last child goes
        self.path = path

    def closed_message(self):
        if self.closing:
            return (f"database {self.path!r} is closing: it closes when its last snapshot "
                    "or cursor is released")
        return f"database {self.path!r} is closed"

    @property
    def children(self):
        return len(self._children)

    def add_child(self):
        """Count a new snapshot or cursor (called while a call on the DB or on a live
        snapshot is in flight, so the database cannot close meanwhile)."""
        self._children.append(None)

    def child_gone(self):
        """A snapshot or cursor was freed; close the database if it waits for that."""
        self._children.pop()  # first, then read `closing` (collect() does the reverse)
        if self.closing and not self._children:
            with self.lock:
                if self.closing and not self._children and self._ptr is not None:
                    self._close_quietly()

    def _busy(self):
        n = len(self._children)
        return errors.Busy(
            f"ts_close: {n} snapshot(s) or cursor(s) of this database are still alive; "
            "release every snapshot and close every cursor first")

    def close(self):
        """Explicit close: waits for calls in flight; Busy leaves the database open."""
        with self.lock:
            ptr = self._ptr
            if ptr is None:
                return
            if self._children:
                raise self._busy()  # before refusing calls: others carry on undisturbed
            self.ptr = None
            self._drain()
            if self._children:  # a snapshot() that was in flight made one
                self.ptr = ptr
                raise self._busy()
            rc = self.lib.ts_close(ptr)
            if rc == _BUSY:
                self.ptr = ptr
                raise error(self.lib, rc)
            # Whatever the status, the handle is gone now (tsdb.h, ts_close).
            self._ptr = None
            self.closing = False
            if rc != _OK:
                raise error(self.lib, rc)

    def close_when_idle(self):
        """Refuse new calls and close as soon as the last child is freed (now if none)."""
        with self.lock:
            if self._ptr is None:
                return
            self.ptr = None
            self._drain()
            self.closing = True  # first, then read the children (child_gone: the reverse)
            if not self._children:
                self._close_quietly()

    def collect(self):
        """Finalizer of a DB object that was not closed (no call can be in flight)."""
        with self.lock:
            if self._ptr is None:
                return
            self.ptr = None
            self.closing = True
            if not self._children:
                self._close_quietly()
        warnings.warn(f"tsdb: database {self.path!r} was not closed; its finalizer closes it "
                      "(use `with tsdb.open(...)` or close())", ResourceWarning, stacklevel=2)

    def _close_quietly(self):
        """Close from a finalizer or a deferred close (lock held): nowhere to raise to."""
        rc = self.lib.ts_close(self._ptr)
        if rc == _BUSY:
            # A C-level snapshot this package does not know of: cannot happen unless an
            # interrupt fell between ts_txn_begin and its bookkeeping. Keep the handle.
            message = self.lib.ts_errmsg().decode("utf-8", "replace")
            warnings.warn(f"tsdb: could not close {self.path!r}: {message}", RuntimeWarning)
            return
        self._ptr = None
        self.closing = False
        if rc != _OK:
            message = self.lib.ts_errmsg().decode("utf-8", "replace")
            warnings.warn(f"tsdb: closing {self.path!r}: {message}", RuntimeWarning)


class SnapshotHandle(SharedHandle):
    """``ts_txn``: a child of its database."""

    __slots__ = ("parent",)

    def __init__(self, lib, ptr, parent):
        super().__init__(lib, ptr, "snapshot")
        self.parent = parent

    def closed_message(self):
        return "snapshot is released"

    def release(self):
        """Explicit release: waits for calls in flight on other threads."""
        with self.lock:
            ptr = self._ptr
            if ptr is None:
                return
            self.ptr = None
            self._drain()
            self._ptr = None
            self.lib.ts_txn_release(ptr)
        self.parent.child_gone()

    def collect(self):
        """Finalizer: nothing can be in flight on an unreachable snapshot."""
        with self.lock:
            ptr = self._ptr
            if ptr is None:
                return
            self.ptr = self._ptr = None
            self.lib.ts_txn_release(ptr)
        self.parent.child_gone()


class ExclusiveHandle:
    """A one-thread-at-a-time handle (``ts_cursor``, ``ts_batch``): each call holds ``lock``.

    ``free`` is the C destroyer; ``parent`` (a DBHandle or None) is told when it is freed.
    """

    __slots__ = ("ptr", "lib", "lock", "free", "parent", "closed_message")

    def __init__(self, lib, ptr, free, parent, closed_message):
        self.lib = lib
        self.ptr = ptr
        self.lock = threading.Lock()  # held by each call; a finalizer runs only when
        self.free = free                # the object is unreachable, so never inside one
        self.parent = parent
        self.closed_message = closed_message

    def get(self):
        """The C pointer, or raise Closed (call with the lock held)."""
        ptr = self.ptr
        if ptr is None:
            raise errors.Closed(self.closed_message)
        return ptr

    def close(self):
        """Free the handle (waits for a call in flight on another thread); idempotent."""
        with self.lock:
            ptr = self.ptr
            if ptr is None:
                return
            self.ptr = None
            self.free(ptr)
        if self.parent is not None:
            self.parent.child_gone()

    collect = close
