//! Creating and dropping metrics.
use std::ffi::c_char;

use super::boundary::{boundary, fail};
use super::db::ts_db;
use super::handle::{c_str, handle_ref, out_ptr};
use super::status::ts_status;
use crate::{Error, MetricId};

/// Create a metric called `name` and return its id in `*id_out`.
///
/// Names are 1..=1024 bytes of UTF-8 and unique among live metrics. Ids are assigned at
/// creation, start at 1, and are never reused, even after a drop.
///
/// Returns `TS_OK`; `TS_EXISTS` if a live metric has this name — and then, as the one
/// deliberate exception to "out-params are written only on `TS_OK`", `*id_out` receives the
/// existing metric's id, so "create or get" is one call; `TS_INVALID_ARGUMENT` if `db`,
/// `name` or `id_out` is NULL or the name is empty, longer than 1024 bytes or not UTF-8.
///
/// Cost: O(log n) in the number of metrics (a new global version shares all but one path).
///
/// Threads: safe from any number of threads on the same `db`; creates are serialised.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_metric_create(
    db: *mut ts_db,
    name: *const c_char,
    id_out: *mut u64,
) -> ts_status {
    boundary("ts_metric_create", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let db = unsafe { handle_ref(db, "db")? };
        // SAFETY: `name` is NULL (checked) or a NUL-terminated string.
        let name = unsafe { c_str(name, "name")? };
        let id_out = out_ptr(id_out, "id_out")?;
        let (id, status) = match db.db.create_metric(name) {
            Ok(id) => (id, ts_status::TS_OK),
            Err(e @ Error::Exists { id, .. }) => (id, fail("ts_metric_create", &e)),
            Err(e) => return Err(e),
        };
        // SAFETY: `id_out` is non-NULL (checked) and points to writable storage.
        unsafe { id_out.write(id.0) };
        Ok(status)
    })
}

/// Drop metric `id`: it disappears from new snapshots; snapshots begun before the drop still
/// read it, and its memory is freed when the last of them is released. Its name may be
/// reused by a new metric (which gets a new id).
///
/// Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no live metric; `TS_INVALID_ARGUMENT` if
/// `db` is NULL.
///
/// Threads: safe from any number of threads on the same `db`. A write racing with the drop
/// of its metric either lands before the drop or fails with `TS_NOT_FOUND`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_metric_drop(db: *mut ts_db, id: u64) -> ts_status {
    boundary("ts_metric_drop", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let db = unsafe { handle_ref(db, "db")? };
        db.db.drop_metric(MetricId(id))?;
        Ok(ts_status::TS_OK)
    })
}

/// Set metric `id`'s own retention span, in timestamp units: its sealed partitions whose
/// points are all older than its newest sealed timestamp minus `span` are dropped by
/// background work. 0 returns it to the database's default (`ts_options_set_retention`);
/// a negative span keeps everything whatever the default. Durable like a write. When it
/// returns, no background drop chosen under the previous setting is still in progress.
/// Partitions joined from then on span at most a quarter of the span (see
/// `ts_options_set_retention`).
///
/// Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no live metric; `TS_INVALID_ARGUMENT` if
/// `db` is NULL.
///
/// Threads: safe from any number of threads on the same `db`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_metric_set_retention(db: *mut ts_db, id: u64, span: i64) -> ts_status {
    boundary("ts_metric_set_retention", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let db = unsafe { handle_ref(db, "db")? };
        db.db.set_retention(MetricId(id), span)?;
        Ok(ts_status::TS_OK)
    })
}

/// Apply retention now to every metric, rather than waiting for the background work (which
/// checks a metric when it seals a partition, and every metric at open). `*dropped_out`
/// (unless NULL) receives how many partitions this call dropped (the background work's
/// drops are not counted; the two never drop the same partitions). Each metric's drop is
/// logged as a range delete below its first partition kept.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `db` is NULL; `TS_IO_ERROR` if the log cannot
/// be written.
///
/// Threads: safe from any number of threads on the same `db`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_enforce_retention(db: *mut ts_db, dropped_out: *mut u64) -> ts_status {
    boundary("ts_enforce_retention", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let db = unsafe { handle_ref(db, "db")? };
        let n = db.db.enforce_retention()?;
        if !dropped_out.is_null() {
            // SAFETY: non-NULL `dropped_out` points to writable storage per the contract.
            unsafe { dropped_out.write(n) };
        }
        Ok(ts_status::TS_OK)
    })
}
