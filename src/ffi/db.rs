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
///
/// Processes: a `ts_db` belongs to the process that opened it; a `fork()`ed child must not
/// use it (see `ts_open`).
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
/// names a file that is not a directory, or the directory holds other files and no database
/// ("not a libtsdb database": nothing is created in it); `TS_NOT_FOUND` if the directory is
/// missing and create_if_missing is off; `TS_BUSY` if the database is already open, in this
/// process or another (the directory and DIR/LOCK are locked while it is open);
/// `TS_IO_ERROR` if the directory or one of its files cannot be created or read;
/// `TS_CORRUPTION` if a file fails its checks (the message names the file and offset).
///
/// Opening loads the last checkpoint and replays the write-ahead log after it (open time
/// grows with the log, not with the database). It checks everything before it changes
/// anything: the manifest, the data segments it names and the whole log; a failed open
/// leaves the directory as it was. A crash never leaves a database that fails to open: a
/// torn last log record (a write that was never acknowledged) is cleared. Any other damage
/// is `TS_CORRUPTION`, never an open with less data: a missing or empty MANIFEST beside
/// data or log files, a log segment missing, cut short or damaged anywhere but at the very
/// end of the log, a gap in the log's sequence numbers (docs/format.md, "Opening").
///
/// The caller owns `*out` and must close it with `ts_close`.
///
/// Processes: the handle belongs to this process. A child made by `fork()` inherits a copy
/// of it but none of its threads, and must not use it: its writes would be lost, and a
/// checkpoint or close of its copy would damage the parent's database. So in a forked
/// child every function that writes, checkpoints, closes or reads the files through the
/// inherited `ts_db` (`ts_insert`, `ts_insert_batch`, `ts_batch_commit`,
/// `ts_metric_create`, `ts_metric_drop`, `ts_delete_range`, `ts_metric_set_retention`,
/// `ts_enforce_retention`, `ts_checkpoint`, `ts_db_stats`, `ts_check`, `ts_close`) returns
/// `TS_INVALID_ARGUMENT`, touching nothing, with the message "this database handle was
/// opened by process N, and this is process M (a forked child): ...". What is allowed
/// there: reading through snapshots and cursors (those begun before the fork, and new ones
/// from `ts_txn_begin`) see the state inherited at the fork, through the inherited memory
/// maps; freeing them. To use the database in the child, open it again there, after the
/// parent has closed it (`ts_close` in the child gives up its copy of the lock). As after
/// any fork of a threaded process, a child that does more than that may block: a read
/// needs a metric's lock, which another thread of the parent may have held at the fork.
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

/// Close a database and free its handle: stop the background work, write a final
/// checkpoint and delete the write-ahead log, so the directory holds just the data.
///
/// Fails with `TS_BUSY`, leaving the database open and usable, while snapshots are live:
/// release every `ts_txn` and free every `ts_cursor` first (a cursor keeps its snapshot
/// alive). Otherwise the handle is gone when this returns, whatever the status: using it
/// again is undefined behaviour. Calling with NULL is a harmless no-op returning `TS_OK`.
///
/// Returns `TS_OK`; `TS_BUSY` with live snapshots; `TS_IO_ERROR` if the final checkpoint
/// could not be written (the database is closed anyway and nothing is lost: the log is kept
/// and the next `ts_open` replays it); when the database is in a failed state that only a
/// reopen mends (see `ts_db_health`), the status `ts_db_health` returns, with a message
/// starting "closed without a final checkpoint": it is closed, the log is kept and the next
/// `ts_open` replays it; `TS_INVALID_ARGUMENT` in a forked child (see `ts_open`).
///
/// In a forked child the handle is not the child's to close: `ts_close` writes no
/// checkpoint, deletes and truncates no file, and does not wait for the background thread
/// (the fork did not copy it). It closes only the child's copy of the lock file's
/// descriptor, so that the child can open the database itself once the parent has closed
/// it, and leaks the rest: the handle stays allocated, and later calls on it are refused
/// the same way.
///
/// Threads: no other thread may be using `db` during or after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_close(db: *mut ts_db) -> ts_status {
    boundary("ts_close", || {
        if db.is_null() {
            return Ok(ts_status::TS_OK);
        }
        // SAFETY: non-NULL `db` is a live handle from `ts_open`; no other thread uses it.
        let handle = unsafe { super::handle::handle_mut(db, "db")? };
        let result = handle.db.close_in_place();
        if let Err(e @ crate::Error::Busy(_)) = result {
            return Err(e); // still open, same handle
        }
        if result.is_err() && handle.db.check_process().is_err() {
            // A forked child: nothing was done, and freeing the handle here could touch the
            // parent's files; it is left allocated (leaked), and refuses calls as before.
            return result.map(|()| ts_status::TS_OK);
        }
        // SAFETY: `db` came from `ts_open` (Box::into_raw); no other thread uses it (contract),
        // and it is freed exactly once, here.
        drop(unsafe { Box::from_raw(db) });
        result.map(|()| ts_status::TS_OK)
    })
}
/// Write a checkpoint now: every acknowledged write is moved into the data files and the
/// manifest, and the write-ahead log before it is deleted, so the next `ts_open` replays
/// less. Writers and readers carry on meanwhile. Checkpoints also run in the background
/// (see `ts_options_set_checkpoint_bytes`) and in `ts_close`; call this to bound recovery
/// time at a moment of your choosing (e.g. after a bulk load).
///
/// A checkpoint that succeeds also ends a failed state caused by a failed checkpoint or
/// log sync (see `ts_db_health`): once the disk has room again, this lets writes go on
/// without waiting for the background thread's retry.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `db` is NULL (or in a forked child);
/// `TS_IO_ERROR` if a file cannot be written or synced (nothing is lost: the log is kept,
/// and nothing left behind blocks the next attempt); when the database is in a failed state
/// that only a reopen mends, the status `ts_db_health` returns.
///
/// Threads: safe from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_checkpoint(db: *mut ts_db) -> ts_status {
    boundary("ts_checkpoint", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let handle = unsafe { handle_ref(db, "db")? };
        handle.db.checkpoint()?;
        Ok(ts_status::TS_OK)
    })
}

/// What `ts_db_stats` reports. A forgotten `ts_txn` shows as a large
/// `oldest_snapshot_age_ms` and a growing `old_snapshot_bytes`: find it before the disk fills.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ts_stats {
    /// Live metrics.
    pub metrics: u64,
    /// Points stored: in sealed partitions, plus those in heads not yet sealed (counted as
    /// written: a head point that overwrites another counts twice until sealed).
    pub points: u64,
    /// Sealed partitions.
    pub partitions: u64,
    /// Bytes the database's files take on disk, as `du` counts them (allocated blocks; the
    /// write-ahead log's preallocated segments included).
    pub disk_bytes: u64,
    /// Bytes of write-ahead log written since the last checkpoint began (at most what a
    /// reopen would replay).
    pub wal_bytes: u64,
    /// Snapshots not yet released (a cursor or metric listing keeps its snapshot live).
    pub live_snapshots: u64,
    /// Age of the oldest live snapshot in milliseconds, to the second; 0 when none.
    pub oldest_snapshot_age_ms: u64,
    /// Bytes of data blocks kept alive only by snapshots older than the current state: the
    /// disk space their release gives back (at the next checkpoints).
    pub old_snapshot_bytes: u64,
    /// Failures of background work (syncs of the log, checkpoints, retention) since open.
    pub background_errors: u64,
    /// 0 (`TS_OK`) while the database takes writes; otherwise the `ts_status` writes get
    /// (see `ts_db_health`, whose message says what failed). 64 bits wide, like every field
    /// here, so that bindings read the struct as an array of 64-bit words.
    pub failure: u64,
}

/// Fill `*out` with figures about `db`: what it holds and what keeps space alive.
///
/// Walks the current state (O(metrics + partitions)); writers and readers go on meanwhile.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `db` or `out` is NULL; `TS_IO_ERROR` if the
/// directory cannot be listed.
///
/// Threads: safe from any number of threads on the same `db`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_db_stats(db: *mut ts_db, out: *mut ts_stats) -> ts_status {
    boundary("ts_db_stats", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let handle = unsafe { handle_ref(db, "db")? };
        let out = out_ptr(out, "out")?;
        let s = handle.db.stats()?;
        let c = ts_stats {
            metrics: s.metrics,
            points: s.points,
            partitions: s.partitions,
            disk_bytes: s.disk_bytes,
            wal_bytes: s.wal_bytes,
            live_snapshots: s.live_snapshots,
            oldest_snapshot_age_ms: s.oldest_snapshot_age_ms,
            old_snapshot_bytes: s.old_snapshot_bytes,
            background_errors: s.background_errors,
            failure: match handle.db.health() {
                Ok(()) => ts_status::TS_OK as u64,
                Err(e) => super::boundary::map_error(&e) as u64,
            },
        };
        // SAFETY: `out` is non-NULL (checked) and points to writable storage.
        unsafe { out.write(c) };
        Ok(ts_status::TS_OK)
    })
}

/// Whether `db` takes writes. `TS_OK` while it does; otherwise the status every write gets
/// (`TS_IO_ERROR` after a failed checkpoint or sync of the log, `TS_CORRUPTION` after damage
/// found by one, `TS_INTERNAL` after a bug), with `ts_errmsg()` saying what failed and what
/// ends it:
///
/// - a checkpoint or log sync that failed (in the background too: a full disk, an I/O
///   error): reads go on, writes are refused, and a checkpoint that succeeds ends it (the
///   database retries one every second; `ts_checkpoint` tries at once);
/// - a change that stopped half way (a bug, or a range delete whose rewrite failed after it
///   was logged): only closing and reopening helps; `ts_close` then writes no checkpoint
///   and says so, and the next `ts_open` replays the log (nothing acknowledged is lost).
///
/// `ts_db_stats` shows the same (`failure`), and counts background failures.
///
/// Returns the status as above; `TS_INVALID_ARGUMENT` if `db` is NULL.
///
/// Threads: safe from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_db_health(db: *mut ts_db) -> ts_status {
    boundary("ts_db_health", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let handle = unsafe { handle_ref(db, "db")? };
        handle.db.health()?;
        Ok(ts_status::TS_OK)
    })
}
