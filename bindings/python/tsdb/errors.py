"""Status codes and exceptions: one exception class per ``ts_status`` of include/tsdb.h."""

import enum

__all__ = [
    "Status", "Error", "NotFound", "AlreadyExists", "InvalidArgument", "Busy", "IoError",
    "Corruption", "Closed", "Internal",
]


class Status(enum.IntEnum):
    """``ts_status``: the numbers are fixed forever; new ones may be added."""

    OK = 0
    DONE = 1
    NOT_FOUND = 2
    EXISTS = 3
    INVALID_ARGUMENT = 4
    BUSY = 5
    IO_ERROR = 6
    CORRUPTION = 7
    CLOSED = 8
    INTERNAL = 9


class Error(Exception):
    """Base of every libtsdb error.

    ``status`` is the ``ts_status`` number, ``status_name`` its C name (e.g.
    ``"TS_NOT_FOUND"``) and ``message`` what failed (``ts_errmsg()`` for errors from the
    library, e.g. ``"ts_scan_range: from > until (from=20, until=10)"``). Codes this
    package does not know raise this class itself.
    """

    #: The status a subclass stands for (None on the base class).
    default_status = None

    def __init__(self, message, status=None, status_name=None):
        super().__init__(message)
        self.message = message
        if status is None:
            status = self.default_status
        self.status = status
        if status_name is None:
            try:
                status_name = "TS_" + Status(status).name
            except ValueError:
                status_name = "TS_UNKNOWN_STATUS"
        self.status_name = status_name

    def __str__(self):
        return self.message

    def __reduce__(self):
        return (self.__class__, (self.message, self.status, self.status_name))


class NotFound(Error, LookupError):
    """TS_NOT_FOUND: no live metric with that id or name (in this snapshot, for reads), or a
    missing database directory with ``create_if_missing=False``."""

    default_status = Status.NOT_FOUND


class AlreadyExists(Error):
    """TS_EXISTS: ``create_metric`` of a name that a live metric has; ``metric_id`` is that
    metric's id (or pass ``exist_ok=True`` to get it returned instead)."""

    default_status = Status.EXISTS

    def __init__(self, message, status=None, status_name=None, metric_id=None):
        super().__init__(message, status, status_name)
        self.metric_id = metric_id

    def __reduce__(self):
        return (self.__class__, (self.message, self.status, self.status_name, self.metric_id))


class InvalidArgument(Error, ValueError):
    """TS_INVALID_ARGUMENT: an empty batch, ``from_ts > until_ts``, a bad name or option
    value, a timestamp out of range, arrays of different lengths."""

    default_status = Status.INVALID_ARGUMENT


class Busy(Error):
    """TS_BUSY: the operation conflicts with live handles: closing a database while
    snapshots or cursors are alive, or opening a database that is already open."""

    default_status = Status.BUSY


class IoError(Error):
    """TS_IO_ERROR: a file operation failed; the message names the path and the operation."""

    default_status = Status.IO_ERROR


class Corruption(Error):
    """TS_CORRUPTION: stored data failed its checks; the message names file and offset."""

    default_status = Status.CORRUPTION


class Closed(Error):
    """TS_CLOSED: a call on a closed database, a released snapshot, or a closed cursor or
    batch."""

    default_status = Status.CLOSED


class Internal(Error):
    """TS_INTERNAL: a bug in libtsdb, or a database in a failed state after an earlier
    error (the message says which); close and reopen the database."""

    default_status = Status.INTERNAL


_BY_STATUS = {
    cls.default_status: cls
    for cls in (NotFound, AlreadyExists, InvalidArgument, Busy, IoError, Corruption, Closed,
                Internal)
}


def from_status(status, message, status_name=None):
    """The exception for ``status``: its class, or the base ``Error`` for unknown codes."""
    return _BY_STATUS.get(status, Error)(message, status, status_name)
