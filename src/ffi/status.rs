//! Status codes, error messages and the library version.
use std::ffi::c_char;

use super::boundary::last_message;

/// Major version of this header; `ts_version()` reports the library's.
pub const TS_VERSION_MAJOR: u32 = 0;
/// Minor version of this header.
pub const TS_VERSION_MINOR: u32 = 1;
/// Patch version of this header.
pub const TS_VERSION_PATCH: u32 = 0;

/// Longest metric name accepted, in bytes of UTF-8 (not counting the terminating NUL).
pub const TS_MAX_NAME_LEN: u32 = 1024;

/// Most points one write may carry: `ts_insert_batch`'s `n`, and the points added to a
/// `ts_batch` before `ts_batch_commit`. Each write is one log record; a larger one is
/// refused with `TS_INVALID_ARGUMENT` (split it into several writes).
pub const TS_MAX_BATCH_POINTS: u64 = 134_217_728;

/// Largest timestamp a point may have (INT64_MAX - 1): scans end before an exclusive
/// `until`, so a point at INT64_MAX could never be read; writes of it are rejected.
pub const TS_MAX_TIMESTAMP: i64 = 9_223_372_036_854_775_806;

/// The result of every fallible function. `TS_OK` (0) is success; `TS_DONE` is not an error.
///
/// The numbers are fixed forever: codes are never renumbered or reused, and new codes may
/// be added in later versions, so bindings should map an unknown code to a generic error.
/// After any status other than `TS_OK` and `TS_DONE`, `ts_errmsg()` says what exactly failed.
#[repr(u32)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ts_status {
    /// Success.
    #[default]
    TS_OK = 0,
    /// A cursor is exhausted; not an error. It keeps returning `TS_DONE`.
    TS_DONE = 1,
    /// No live metric with that id or name (in this snapshot, for reads), or a missing
    /// database directory with create_if_missing off.
    TS_NOT_FOUND = 2,
    /// `ts_metric_create`: a metric with that name exists (its id is returned too).
    TS_EXISTS = 3,
    /// A NULL pointer, an empty batch, `from > until`, a bad name or option value.
    TS_INVALID_ARGUMENT = 4,
    /// The operation conflicts with live handles, e.g. `ts_close` with live snapshots.
    TS_BUSY = 5,
    /// A file operation failed; the message names the path and the operation.
    TS_IO_ERROR = 6,
    /// Stored data failed its checksum or structure checks; the message names file and offset.
    TS_CORRUPTION = 7,
    /// The database is closed (reported by bindings for calls on a closed handle; the C API
    /// frees the handle in `ts_close`, after which it must not be used at all).
    TS_CLOSED = 8,
    /// A bug in libtsdb (the message says where); a database where one happened is in its
    /// failed state (see `ts_db_health`): close and reopen it.
    TS_INTERNAL = 9,
}

/// A static, human-readable name for `status` (e.g. "TS_NOT_FOUND"); "TS_UNKNOWN_STATUS" for
/// numbers this version does not know. Never NULL; never free it.
///
/// Threads: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ts_status_str(status: u32) -> *const c_char {
    let s: &'static [u8] = match status {
        0 => b"TS_OK\0",
        1 => b"TS_DONE\0",
        2 => b"TS_NOT_FOUND\0",
        3 => b"TS_EXISTS\0",
        4 => b"TS_INVALID_ARGUMENT\0",
        5 => b"TS_BUSY\0",
        6 => b"TS_IO_ERROR\0",
        7 => b"TS_CORRUPTION\0",
        8 => b"TS_CLOSED\0",
        9 => b"TS_INTERNAL\0",
        _ => b"TS_UNKNOWN_STATUS\0",
    };
    s.as_ptr().cast()
}

/// This thread's last error message, e.g.
/// "ts_scan_range: from > until (from=20, until=10)".
///
/// Meaningful only right after a call on this thread returned a status other than `TS_OK`
/// or `TS_DONE` (successful calls leave it unchanged). The string is owned by the library
/// and stays valid until this thread's next failing call into the library; copy it to keep
/// it. Never NULL (empty when there was no error); never free it.
///
/// Threads: each thread has its own message.
#[unsafe(no_mangle)]
pub extern "C" fn ts_errmsg() -> *const c_char {
    last_message()
}

/// The library's version as "MAJOR.MINOR.PATCH", equal to the `TS_VERSION_*` macros of the
/// header it was built with. Static; never free it.
///
/// Threads: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ts_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
