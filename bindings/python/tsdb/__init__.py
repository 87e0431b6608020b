"""tsdb: Python binding of libtsdb, an embeddable time-series storage engine.

    import tsdb
    with tsdb.open("/tmp/metrics") as db:
        cpu = db.create_metric("cpu.user", exist_ok=True)
        db.insert_batch(cpu, array("q", [1000, 2000]), array("d", [0.5, 0.25]))
        with db.snapshot() as snap, snap.scan(cpu) as cursor:
            for ts, value in cursor:
                print(ts, value)

The library is loaded through ctypes on first use (see ``library_path()`` for how it is
found: TSDB_LIB, TSDB_LIB_DIR, the repository's target/release, the system paths).
include/tsdb.h is the reference for the semantics; this package maps it one to one.
"""

from . import _native
from ._convert import I64_MAX as _I64_MAX
from ._db import DB, Batch, open
from ._native import LibraryNotFound
from ._snapshot import Cursor, MetricList, Snapshot
from ._types import Bucket, Metric, Stats
from .errors import (
    AlreadyExists,
    Busy,
    Closed,
    Corruption,
    Error,
    Internal,
    InvalidArgument,
    IoError,
    NotFound,
    Status,
)

__version__ = "0.1.0"

#: Largest timestamp a point may have (INT64_MAX - 1): scans end before an exclusive until.
MAX_TIMESTAMP = _I64_MAX - 1
#: Longest metric name, in bytes of UTF-8.
MAX_NAME_LEN = 1024
#: Largest partition_points option.
MAX_PARTITION_POINTS = 524288

__all__ = [
    "open", "DB", "Batch", "Snapshot", "Cursor", "MetricList", "Bucket", "Metric", "Stats",
    "Error", "NotFound", "AlreadyExists", "InvalidArgument", "Busy", "IoError",
    "Corruption", "Closed", "Internal", "Status", "LibraryNotFound",
    "library_version", "library_path", "MAX_TIMESTAMP", "MAX_NAME_LEN",
    "MAX_PARTITION_POINTS",
]


def library_version():
    """The loaded libtsdb's version, e.g. "0.1.0" (``ts_version()``)."""
    return _native.lib().version


def library_path():
    """The path of the loaded libtsdb (loading it if needed)."""
    return _native.lib().path
