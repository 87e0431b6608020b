//! Writing points to one metric.
use super::boundary::boundary;
use super::db::ts_db;
use super::handle::{handle_ref, slice};
use super::status::ts_status;
use crate::{Error, MetricId};

/// Insert one point `(ts, value)` into metric `id`.
///
/// Timestamps are unit-free (pick ms or ns) and may arrive in any order. A second write of
/// the same (`id`, `ts`) replaces the first (last write wins). `value` is stored bit-exactly
/// (NaN payloads, infinities, -0.0). The point is visible to every snapshot begun after this
/// returns `TS_OK`.
///
/// Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no live metric; `TS_INVALID_ARGUMENT` if
/// `db` is NULL or `ts` is INT64_MAX (see `TS_MAX_TIMESTAMP`); `TS_IO_ERROR` if the log
/// cannot be written or synced; while the database is in its failed state, the status
/// `ts_db_health` returns (nothing is written).
///
/// Threads: safe from any number of threads on the same `db`.
/// Prefer `ts_insert_batch` (or a `ts_batch`) for more than a few points: each call crosses
/// the boundary and takes the metric's lock once, so batches are the fast path.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_insert(db: *mut ts_db, id: u64, ts: i64, value: f64) -> ts_status {
    boundary("ts_insert", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let db = unsafe { handle_ref(db, "db")? };
        db.db.insert(MetricId(id), ts, value)?;
        Ok(ts_status::TS_OK)
    })
}

/// Insert `n` points `(ts[i], values[i])` into metric `id`, atomically: a snapshot sees all
/// of them or none. Within the batch a later element wins over an earlier one with the same
/// timestamp; any order is accepted (ascending order is fastest).
///
/// @param[in] ts      `n` timestamps; the caller keeps ownership (copied before returning).
/// @param[in] values  `n` values.
/// @param[in] n       number of points, at least 1.
///
/// Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no live metric (nothing is written);
/// `TS_INVALID_ARGUMENT` if `db`, `ts` or `values` is NULL, `n` is 0 or more than
/// `TS_MAX_BATCH_POINTS`, or a timestamp is INT64_MAX (nothing is written); `TS_IO_ERROR` if
/// the log cannot be written or synced; while the database is in its failed state, the
/// status `ts_db_health` returns (nothing is written).
///
/// Threads: safe from any number of threads on the same `db`.
/// This is the fast path for one metric: one boundary crossing and one lock per call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_insert_batch(
    db: *mut ts_db,
    id: u64,
    ts: *const i64,
    values: *const f64,
    n: usize,
) -> ts_status {
    boundary("ts_insert_batch", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let db = unsafe { handle_ref(db, "db")? };
        if n == 0 {
            return Err(Error::InvalidArgument("empty batch (n=0)".into()));
        }
        // SAFETY: `ts` and `values` are NULL (checked) or point to `n` elements each, which
        // the caller does not change during the call (the header's contract).
        let (ts, values) = unsafe { (slice(ts, n, "ts")?, slice(values, n, "values")?) };
        db.db.insert_batch(MetricId(id), ts, values)?;
        Ok(ts_status::TS_OK)
    })
}

/// Delete metric `id`'s points with `from <= ts < until`, atomically (a snapshot sees all
/// of them gone or none) and durably (the delete is in the write-ahead log like a write).
///
/// Copy-on-write: only the partitions holding points in the range are replaced (those wholly
/// inside are let go, the two across its ends rewritten). Snapshots begun before the delete
/// still read the points; their disk space returns when the last of those snapshots (and
/// their cursors) is released. Points written after the call returns are kept, whatever their
/// timestamps. `from == until` deletes nothing.
///
/// Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no live metric; `TS_INVALID_ARGUMENT` if
/// `db` is NULL or `from > until`; `TS_IO_ERROR` if the log or a rewritten partition cannot
/// be written. When the rewrite fails after the delete was logged (a full disk), the database
/// turns failed until it is reopened: writes are refused (`ts_db_health`), reads go on, and
/// reopening applies the delete.
///
/// Threads: safe from any number of threads on the same `db`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_delete_range(db: *mut ts_db, id: u64, from: i64, until: i64) -> ts_status {
    boundary("ts_delete_range", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let db = unsafe { handle_ref(db, "db")? };
        db.db.delete_range(MetricId(id), from, until)?;
        Ok(ts_status::TS_OK)
    })
}
