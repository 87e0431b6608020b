//! `ts_batch`: atomic writes across many metrics.
use super::boundary::{boundary, boundary_void};
use super::db::ts_db;
use super::handle::{handle_mut, handle_ref, slice};
use super::status::ts_status;
use crate::{Batch, MetricId};

/// Points for any number of metrics, committed atomically by `ts_batch_commit`: a snapshot
/// sees all of them or none.
///
/// Threads: not thread-safe; use from one thread at a time (it may move between threads).
pub struct ts_batch {
    batch: Batch,
}

/// Unit tests inject a panic into the handle's own drop (`boundary::injected_panic`).
#[cfg(test)]
impl Drop for ts_batch {
    fn drop(&mut self) {
        super::boundary::injected_panic("ts_batch::drop");
    }
}

/// Create an empty batch. The caller owns it and must free it with `ts_batch_free`; it may
/// be committed and refilled any number of times. Returns NULL only if memory is exhausted.
///
/// Threads: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ts_batch_new() -> *mut ts_batch {
    std::panic::catch_unwind(|| Box::into_raw(Box::new(ts_batch { batch: Batch::new() })))
        .unwrap_or(std::ptr::null_mut())
}

/// Add point `(ts, value)` for metric `id` to the batch. The id is checked at commit.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `batch` is NULL.
///
/// Threads: not concurrently with any other use of `batch`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_batch_add(batch: *mut ts_batch, id: u64, ts: i64, value: f64) -> ts_status {
    boundary("ts_batch_add", || {
        // SAFETY: `batch` is NULL (checked) or a live handle from `ts_batch_new`, used by
        // this thread only.
        let b = unsafe { handle_mut(batch, "batch")? };
        b.batch.add(MetricId(id), ts, value);
        Ok(ts_status::TS_OK)
    })
}

/// Add `n` points `(ts[i], values[i])` for metric `id` to the batch in one call (the form
/// for bindings that cannot loop in C). The id is checked at commit. `n == 0` adds nothing.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `batch` is NULL, or `ts` or `values` is NULL
/// while `n > 0`.
///
/// Threads: not concurrently with any other use of `batch`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_batch_add_many(
    batch: *mut ts_batch,
    id: u64,
    ts: *const i64,
    values: *const f64,
    n: usize,
) -> ts_status {
    boundary("ts_batch_add_many", || {
        // SAFETY: `batch` is NULL (checked) or a live handle from `ts_batch_new`, used by
        // this thread only.
        let b = unsafe { handle_mut(batch, "batch")? };
        if n == 0 {
            return Ok(ts_status::TS_OK);
        }
        // SAFETY: `ts` and `values` are NULL (checked) or point to `n` elements each, which
        // the caller does not change during the call (the header's contract).
        let (ts, values) = unsafe { (slice(ts, n, "ts")?, slice(values, n, "values")?) };
        b.batch.add_many(MetricId(id), ts, values);
        Ok(ts_status::TS_OK)
    })
}

/// Remove every point from the batch (keeping its memory for reuse).
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `batch` is NULL.
///
/// Threads: not concurrently with any other use of `batch`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_batch_clear(batch: *mut ts_batch) -> ts_status {
    boundary("ts_batch_clear", || {
        // SAFETY: `batch` is NULL (checked) or a live handle from `ts_batch_new`.
        let b = unsafe { handle_mut(batch, "batch")? };
        b.batch.clear();
        Ok(ts_status::TS_OK)
    })
}

/// Write every point of `batch` atomically: a snapshot sees all of them or none. Within a
/// metric, a later add wins over an earlier one with the same timestamp. On `TS_OK` the
/// batch is emptied, ready for reuse; on failure nothing is written and the batch is kept.
///
/// Returns `TS_OK`; `TS_NOT_FOUND` if any id names no live metric (nothing is written);
/// `TS_INVALID_ARGUMENT` if `db` or `batch` is NULL, the batch is empty, holds more than
/// `TS_MAX_BATCH_POINTS` points or a timestamp of INT64_MAX (nothing is written);
/// `TS_IO_ERROR` if the log cannot be written or synced; while the database is in its
/// failed state, the status `ts_db_health` returns (nothing is written).
///
/// Threads: safe from any number of threads on the same `db`, each with its own batch.
/// This is the fast path for writing many metrics at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_batch_commit(db: *mut ts_db, batch: *mut ts_batch) -> ts_status {
    boundary("ts_batch_commit", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let db = unsafe { handle_ref(db, "db")? };
        // SAFETY: `batch` is NULL (checked) or a live handle from `ts_batch_new`.
        let b = unsafe { handle_mut(batch, "batch")? };
        db.db.commit(&mut b.batch)?;
        Ok(ts_status::TS_OK)
    })
}

/// Free a batch (uncommitted points are discarded). Calling with NULL is a harmless no-op.
/// Must not be called twice with the same pointer.
///
/// Never fails and never aborts: a panic while freeing (a bug in libtsdb) is caught by the
/// library's panic boundary and recorded for `ts_errmsg()` ("ts_batch_free: internal error
/// ..."); the call returns normally.
///
/// Threads: not concurrently with any other use of `batch`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_batch_free(batch: *mut ts_batch) {
    boundary_void("ts_batch_free", || {
        if !batch.is_null() {
            // SAFETY: non-NULL `batch` came from `ts_batch_new` (Box::into_raw), freed once.
            drop(unsafe { Box::from_raw(batch) });
        }
    })
}
