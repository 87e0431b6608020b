"""The C handles behind the public objects, and the rules that keep them safe.

Each public object (DB, Snapshot, Cursor, Batch) owns one handle object from here. The
handle, not the public object, is what its ``weakref.finalize`` holds, so a finalizer can
free the C handle after the public object is gone. The rules:

* Never free under a running call. ``ts_db`` and ``ts_txn`` may be used by many threads
  at once, so a call brackets itself with ``enter()``/``leave()`` and ``close``/``release``
  waits until no call is in flight (``SharedHandle``). ``ts_cursor`` and ``ts_batch`` are
  one-thread-at-a-time handles: each call holds the handle's lock (``ExclusiveHandle``),
  which also serialises threads that share one by mistake, instead of corrupting it.
* Never use after free: a freed handle's ``ptr`` is None, and every call checks it under
  the lock, raising ``Closed``.
* Close a database after its children. ``ts_close`` is TS_BUSY while a snapshot or cursor
  is alive. A child's public object keeps its DB object alive, and the DB handle counts
  its live children: a DB that was collected (or left by ``with`` on an exception) while
  children live is marked ``closing`` and is closed by whichever child goes last. This holds
  whatever order the garbage collector runs the finalizers of one cycle in.

Locks are reentrant because a finalizer can run in any thread at any allocation, possibly
in a thread that is inside one of these short critical sections.
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
    """A handle many threads may call at once (``ts_db``, ``ts_txn``)."""

    __slots__ = ("ptr", "lib", "lock", "_idle", "_users", "_waiting", "what", "closed_message")

    def __init__(self, lib, ptr, what, closed_message):
        self.lib = lib
        self.ptr = ptr
        self.lock = threading.RLock()
        self._idle = threading.Condition(self.lock)
        self._users = 0
        self._waiting = 0
        self.what = what
        self.closed_message = closed_message

    def _refuse(self):
        """Whether new calls are refused (called with the lock held)."""
        return self.ptr is None

    def enter(self):
        """Start a call: returns the C pointer, or raises Closed."""
        with self.lock:
            if self._refuse():
                raise errors.Closed(self.closed_message())
            self._users += 1
            return self.ptr

    def leave(self):
        """End a call started by ``enter``."""
        with self.lock:
            self._users -= 1
            if self._waiting and not self._users:
                self._idle.notify_all()

    def _wait_idle(self):
        """Wait (lock held) until no call is in flight on another thread."""
        while self._users:
            self._waiting += 1
            try:
                self._idle.wait()
            finally:
                self._waiting -= 1


class DBHandle(SharedHandle):
    """``ts_db``: counts its live children (snapshots, cursors) for ordered closing."""

    __slots__ = ("children", "closing", "path")

    def __init__(self, lib, ptr, path):
        super().__init__(lib, ptr, "database", self._closed_message)
        self.children = 0
        self.closing = False
        self.path = path

    def _closed_message(self):
        if self.ptr is not None:
            return (f"database {self.path!r} is closing: it closes when its last snapshot "
                    "or cursor is released")
        return f"database {self.path!r} is closed"

    def _refuse(self):
        return self.ptr is None or self.closing

    def add_child(self):
        """Count a new snapshot or cursor (called while a call on the DB or on a live
        snapshot is in flight, so the database cannot close meanwhile)."""
        with self.lock:
            self.children += 1

    def child_gone(self):
        """A snapshot or cursor was freed; close the database if it waits for that."""
        with self.lock:
            self.children -= 1
            if not self.children and self.closing and self.ptr is not None:
                self._close_quietly()

    def close(self):
        """Explicit close: waits for calls in flight; TS_BUSY leaves the database open."""
        with self.lock:
            ptr = self.ptr
            if ptr is None:
                return
            self._wait_idle()
            rc = self.lib.ts_close(ptr)
            if rc == _BUSY:
                raise error(self.lib, rc)
            # Whatever the status, the handle is gone now (tsdb.h, ts_close).
            self.ptr = None
            self.closing = False
            if rc != _OK:
                raise error(self.lib, rc)

    def close_when_idle(self):
        """Refuse new calls and close as soon as the last child is freed (now if none)."""
        with self.lock:
            if self.ptr is None:
                return
            self._wait_idle()  # after this, no call can start: none is left in flight
            self.closing = True
            if not self.children:
                self._close_quietly()

    def collect(self):
        """Finalizer of a DB object that was not closed."""
        with self.lock:
            if self.ptr is None:
                return
            self.closing = True
            if not self.children:
                self._close_quietly()
        warnings.warn(f"tsdb: database {self.path!r} was not closed; its finalizer closes it "
                      "(use `with tsdb.open(...)` or close())", ResourceWarning, stacklevel=2)

    def _close_quietly(self):
        """Close from a finalizer or a deferred close (lock held): nowhere to raise to."""
        rc = self.lib.ts_close(self.ptr)
        if rc == _BUSY:
            # A C-level snapshot this package does not know of: cannot happen unless an
            # interrupt fell between ts_txn_begin and its bookkeeping. Keep the handle.
            message = self.lib.ts_errmsg().decode("utf-8", "replace")
            self.closing = False
            warnings.warn(f"tsdb: could not close {self.path!r}: {message}", RuntimeWarning)
            return
        self.ptr = None
        if rc != _OK:
            message = self.lib.ts_errmsg().decode("utf-8", "replace")
            warnings.warn(f"tsdb: closing {self.path!r}: {message}", RuntimeWarning)


class SnapshotHandle(SharedHandle):
    """``ts_txn``: a child of its database."""

    __slots__ = ("parent",)

    def __init__(self, lib, ptr, parent):
        super().__init__(lib, ptr, "snapshot", lambda: "snapshot is released")
        self.parent = parent

    def release(self):
        """Explicit release: waits for calls in flight on other threads."""
        with self.lock:
            ptr = self.ptr
            if ptr is None:
                return
            self._wait_idle()
            self.ptr = None
            self.lib.ts_txn_release(ptr)
        self.parent.child_gone()

    def collect(self):
        """Finalizer: nothing can be in flight on an unreachable snapshot."""
        with self.lock:
            ptr = self.ptr
            if ptr is None:
                return
            self.ptr = None
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
        self.lock = threading.RLock()
        self.free = free
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
