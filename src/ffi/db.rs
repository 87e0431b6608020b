//! `ts_db`: opening and closing a database.
use std::ffi::c_char;

use super::boundary::boundary;
use super::handle::{c_str, handle_ref, out_ptr};
use super::options::ts_options;
use super::status::ts_status;
use crate::{Database, Options};

/// An open database.
///
/// Threads: a `ts_db` may be used from any number of threads at once (all functions taking
/// a `ts_db *` are thread-safe), except `ts_close`, which must be the last call on it.
pub struct ts_db {
    pub(crate) db: Database,
}

/// Open the database in directory `path`, creating the directory when it does not exist
/// (its parent must exist) unless create_if_missing is off.
///
/// @param[in] path  the database directory, NUL-terminated UTF-8.
/// @param[in] opts  options, or NULL for the defaults; copied, so it may be freed right after.
/// @param[out] out  receives the new handle on `TS_OK`.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `path` or `out` is NULL, `path` is not UTF-8 or
/// names a file that is not a directory; `TS_NOT_FOUND` if the directory is missing and
/// create_if_missing is off; `TS_BUSY` if the database is already open, in this process or
/// another (a lock file, DIR/LOCK, is held while it is open); `TS_IO_ERROR` if the directory
/// or its lock file cannot be created or read.
///
/// The caller owns `*out` and must close it with `ts_close`.
/// In this release data is kept in memory only; durability comes with the storage layer.
///
/// Threads: safe from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_open(
    path: *const c_char,
    opts: *const ts_options,
    out: *mut *mut ts_db,
) -> ts_status {
    boundary("ts_open", || {
        // SAFETY: `path` is NULL (checked) or a NUL-terminated string, per the contract above.
        let path = unsafe { c_str(path, "path")? };
        let out = out_ptr(out, "out")?;
        let defaults = Options::default();
        let opts = if opts.is_null() {
            &defaults
        } else {
            // SAFETY: non-NULL `opts` is a live handle from `ts_options_new`.
            unsafe { &handle_ref(opts, "opts")?.opts }
        };
        let db = Database::open(path, opts)?;
        // SAFETY: `out` is non-NULL (checked) and points to writable storage for a pointer.
        unsafe { out.write(Box::into_raw(Box::new(ts_db { db }))) };
        Ok(ts_status::TS_OK)
    })
}

/// Close a database and free its handle.
///
/// Fails with `TS_BUSY`, leaving the database open and usable, while snapshots are live:
/// release every `ts_txn` and free every `ts_cursor` first (a cursor keeps its snapshot
/// alive). After `TS_OK` the handle is gone: using it again is undefined behaviour.
/// Calling with NULL is a harmless no-op returning `TS_OK`.
///
/// Returns `TS_OK`; `TS_BUSY` with live snapshots.
///
/// Threads: no other thread may be using `db` during or after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_close(db: *mut ts_db) -> ts_status {
    boundary("ts_close", || {
        if db.is_null() {
            return Ok(ts_status::TS_OK);
        }
        // SAFETY: non-NULL `db` is a live handle from `ts_open`.
        let handle = unsafe { handle_ref(db, "db")? };
        handle.db.ensure_closable()?;
        // SAFETY: `db` came from `ts_open` (Box::into_raw); no other thread uses it (contract),
        // and it is freed exactly once, here.
        drop(unsafe { Box::from_raw(db) });
        Ok(ts_status::TS_OK)
    })
}
