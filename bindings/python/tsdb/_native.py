"""Finding, loading and declaring libtsdb through ctypes.

Every C function the package calls is declared once, in ``_SIGNATURES``, with the types of
include/tsdb.h. To bind a function added to the C API later, add one line there (``optional``
ones may be missing from older libraries: their attribute is then None).
"""

import ctypes
import ctypes.util
import os
import sys
import threading

# The header version this package was written against (tsdb.h TS_VERSION_MAJOR/MINOR).
# A library of the same major version and at least this minor version is accepted.
REQUIRED_VERSION = (0, 1)

c_status = ctypes.c_uint32  # ts_status: a uint32_t in C (tsdb.h, "ts_status")
c_handle = ctypes.c_void_p  # every opaque handle (ts_db *, ts_txn *, ...)
c_handle_p = ctypes.POINTER(ctypes.c_void_p)


class ts_agg(ctypes.Structure):
    """One bucket of ``ts_aggregate`` (tsdb.h, ``struct ts_agg``)."""

    _fields_ = [
        ("start", ctypes.c_int64),
        ("count", ctypes.c_uint64),
        ("min", ctypes.c_double),
        ("max", ctypes.c_double),
        ("sum", ctypes.c_double),
        ("first", ctypes.c_double),
        ("last", ctypes.c_double),
        ("first_ts", ctypes.c_int64),
        ("last_ts", ctypes.c_int64),
    ]


class ts_stats(ctypes.Structure):
    """What ``ts_db_stats`` reports (tsdb.h, ``struct ts_stats``)."""

    _fields_ = [
        ("metrics", ctypes.c_uint64),
        ("points", ctypes.c_uint64),
        ("partitions", ctypes.c_uint64),
        ("disk_bytes", ctypes.c_uint64),
        ("wal_bytes", ctypes.c_uint64),
        ("live_snapshots", ctypes.c_uint64),
        ("oldest_snapshot_age_ms", ctypes.c_uint64),
        ("old_snapshot_bytes", ctypes.c_uint64),
        ("background_errors", ctypes.c_uint64),
        ("failure", ctypes.c_uint64),
    ]


# name: (restype, argtypes[, "optional"])
_SIGNATURES = {
    "ts_status_str": (ctypes.c_char_p, [ctypes.c_uint32]),
    "ts_errmsg": (ctypes.c_char_p, []),
    "ts_version": (ctypes.c_char_p, []),
    # options
    "ts_options_new": (c_handle, []),
    "ts_options_free": (None, [c_handle]),
    "ts_options_set_create_if_missing": (c_status, [c_handle, ctypes.c_bool]),
    "ts_options_set_partition_points": (c_status, [c_handle, ctypes.c_uint32]),
    "ts_options_set_head_run_points": (c_status, [c_handle, ctypes.c_uint32]),
    "ts_options_set_raw_head_budget": (c_status, [c_handle, ctypes.c_uint64]),
    "ts_options_set_sync": (c_status, [c_handle, ctypes.c_uint32, ctypes.c_uint32]),
    "ts_options_set_checkpoint_bytes": (c_status, [c_handle, ctypes.c_uint64]),
    "ts_options_set_retention": (c_status, [c_handle, ctypes.c_int64], "optional"),
    # database
    "ts_open": (c_status, [ctypes.c_char_p, c_handle, c_handle_p]),
    "ts_close": (c_status, [c_handle]),
    "ts_checkpoint": (c_status, [c_handle]),
    "ts_db_stats": (c_status, [c_handle, ctypes.POINTER(ts_stats)], "optional"),
    # metrics
    "ts_metric_create": (c_status, [c_handle, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64)]),
    "ts_metric_drop": (c_status, [c_handle, ctypes.c_uint64]),
    "ts_metric_set_retention": (
        c_status, [c_handle, ctypes.c_uint64, ctypes.c_int64], "optional"),
    "ts_enforce_retention": (
        c_status, [c_handle, ctypes.POINTER(ctypes.c_uint64)], "optional"),
    # writes
    "ts_insert": (c_status, [c_handle, ctypes.c_uint64, ctypes.c_int64, ctypes.c_double]),
    "ts_insert_batch": (
        c_status,
        [c_handle, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t],
    ),
    "ts_delete_range": (
        c_status, [c_handle, ctypes.c_uint64, ctypes.c_int64, ctypes.c_int64], "optional"),
    # batches
    "ts_batch_new": (c_handle, []),
    "ts_batch_add": (c_status, [c_handle, ctypes.c_uint64, ctypes.c_int64, ctypes.c_double]),
    "ts_batch_add_many": (
        c_status,
        [c_handle, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t],
        "optional",
    ),
    "ts_batch_clear": (c_status, [c_handle]),
    "ts_batch_commit": (c_status, [c_handle, c_handle]),
    "ts_batch_free": (None, [c_handle]),
    # snapshots
    "ts_txn_begin": (c_status, [c_handle, c_handle_p]),
    "ts_txn_release": (None, [c_handle]),
    "ts_metric_lookup": (c_status, [c_handle, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64)]),
    "ts_txn_metric_count": (c_status, [c_handle, ctypes.POINTER(ctypes.c_uint64)]),
    # cursors
    "ts_scan_range": (
        c_status,
        [c_handle, ctypes.c_uint64, ctypes.c_int64, ctypes.c_int64, c_handle_p],
    ),
    "ts_cursor_next": (
        c_status,
        [c_handle, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_double)],
    ),
    "ts_cursor_next_batch": (
        c_status,
        [c_handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
         ctypes.POINTER(ctypes.c_size_t)],
    ),
    "ts_cursor_free": (None, [c_handle]),
    # queries
    "ts_aggregate": (
        c_status,
        [c_handle, ctypes.c_uint64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
         ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)],
        "optional",
    ),
    "ts_metric_list_open": (c_status, [c_handle, ctypes.c_char_p, c_handle_p], "optional"),
    "ts_metric_list_next": (
        c_status,
        [c_handle, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_char_p),
         ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)],
        "optional",
    ),
    "ts_metric_list_free": (None, [c_handle], "optional"),
}


class LibraryNotFound(ImportError):
    """libtsdb could not be found or loaded; the message says what to set."""


class Lib:
    """The loaded library: one attribute per declared C function, plus ``path``.

    An optional function the library lacks is None; ``need(name)`` returns it or raises
    ``NotImplementedError`` naming the library and the function.
    """

    def __init__(self, cdll, path):
        self.path = path
        self._cdll = cdll
        for name, sig in _SIGNATURES.items():
            restype, argtypes = sig[0], sig[1]
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                if len(sig) > 2 and sig[2] == "optional":
                    setattr(self, name, None)
                    continue
                raise LibraryNotFound(
                    f"{path} does not export {name}: it is not a libtsdb matching this "
                    f"package (needs {REQUIRED_VERSION[0]}.{REQUIRED_VERSION[1]}.x)"
                ) from None
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        self.version = self.ts_version().decode("ascii", "replace")
        try:
            major, minor = (int(x) for x in self.version.split(".")[:2])
        except ValueError:
            raise LibraryNotFound(f"{path}: unexpected ts_version() {self.version!r}") from None
        if major != REQUIRED_VERSION[0] or minor < REQUIRED_VERSION[1]:
            raise LibraryNotFound(
                f"{path} is libtsdb {self.version}; this package needs "
                f"{REQUIRED_VERSION[0]}.{REQUIRED_VERSION[1]} or a later "
                f"{REQUIRED_VERSION[0]}.x"
            )

    def need(self, name):
        """The C function ``name``, or NotImplementedError if this library predates it."""
        fn = getattr(self, name)
        if fn is None:
            raise NotImplementedError(
                f"{self.path} (libtsdb {self.version}) does not export {name}: it predates "
                "this feature; build a newer libtsdb (cargo build --release --lib)")
        return fn


def _shared_name():
    if sys.platform == "darwin":
        return "libtsdb.dylib"
    if sys.platform == "win32":
        return "tsdb.dll"
    return "libtsdb.so"


def _candidates():
    """(path, where-it-came-from) pairs to try, in order; explicit settings are final."""
    lib = os.environ.get("TSDB_LIB")
    if lib:
        return [(lib, "TSDB_LIB")], True
    libdir = os.environ.get("TSDB_LIB_DIR")
    if libdir:
        return [(os.path.join(libdir, _shared_name()), "TSDB_LIB_DIR")], True
    found = []
    # A checkout of the repository: bindings/python/tsdb/ -> ../../../target/release
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    repo_lib = os.path.join(root, "target", "release", _shared_name())
    if os.path.exists(repo_lib):
        found.append((repo_lib, "the repository's target/release"))
    system = ctypes.util.find_library("tsdb")
    if system:
        found.append((system, "the system library path"))
    return found, False


_lock = threading.Lock()
_lib = None


def lib():
    """The loaded library (loaded on first use, then cached)."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            _lib = _load()
    return _lib


def _load():
    candidates, explicit = _candidates()
    errors = []
    for path, origin in candidates:
        if explicit and not os.path.exists(path):
            raise LibraryNotFound(f"{origin} is set, but {path} does not exist")
        try:
            cdll = ctypes.CDLL(path)
        except OSError as e:
            if explicit:
                raise LibraryNotFound(f"cannot load {path} (from {origin}): {e}") from None
            errors.append(f"{path} ({origin}): {e}")
            continue
        return Lib(cdll, path)
    tried = "; ".join(errors) if errors else "nothing found"
    raise LibraryNotFound(
        "libtsdb not found (" + tried + "). Set TSDB_LIB to the full path of "
        f"{_shared_name()}, or TSDB_LIB_DIR to the directory holding it, or build it in the "
        "repository with `cargo build --release --lib` (target/release), or install it where "
        "the dynamic linker finds it."
    )
