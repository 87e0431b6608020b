//! `ts_txn`: snapshots (read transactions) and name lookup.
use std::ffi::c_char;
use std::mem::ManuallyDrop;
use std::sync::Arc;

use super::boundary::{boundary, boundary_void};
use super::db::ts_db;
use super::handle::{c_str, handle_ref, out_ptr};
use super::status::ts_status;
use crate::Snapshot;

/// A snapshot: a consistent, read-only view of the whole database at one instant.
///
/// It sees every write whose call returned before `ts_txn_begin` was called and nothing
/// that started after it; repeated scans on it return identical results while writers,
/// seals and drops run. A dropped metric stays readable in snapshots older than the drop.
///
/// Threads: a `ts_txn` may be shared by any number of threads for reading at once (more
/// permissive than LMDB, whose read transactions belong to one thread).
///
/// Caveat: a live snapshot keeps every partition it can see in memory (and, later, on
/// disk). Release snapshots promptly; avoid long-lived ones.
pub struct ts_txn {
    _private: [u8; 0],
}

/// Borrow the snapshot behind a `ts_txn` pointer without taking its reference.
///
/// # Safety
/// `txn` is NULL or a pointer returned by `ts_txn_begin` and not yet released.
pub(crate) unsafe fn snapshot(txn: *const ts_txn) -> Result<ManuallyDrop<Arc<Snapshot>>, crate::Error> {
    // SAFETY: checks NULL; the pointer is valid per the caller's contract.
    unsafe { handle_ref(txn, "txn")? };
    // SAFETY: `txn` came from `Arc::into_raw` in `ts_txn_begin` and its reference is still
    // held by the caller; ManuallyDrop keeps us from releasing it.
    Ok(ManuallyDrop::new(unsafe { Arc::from_raw(txn.cast::<Snapshot>()) }))
}

/// Begin a snapshot of `db`.
///
/// O(1): takes no lock and never waits for writers, whatever the number of metrics.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `db` or `out` is NULL.
///
/// The caller owns `*out` and must release it with `ts_txn_release`. Cursors opened on it
/// hold their own reference, so releasing the snapshot while cursors are open is safe.
/// `ts_close` returns `TS_BUSY` while any snapshot or cursor is alive.
///
/// Threads: safe from any number of threads on the same `db`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_txn_begin(db: *mut ts_db, out: *mut *mut ts_txn) -> ts_status {
    boundary("ts_txn_begin", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let db = unsafe { handle_ref(db, "db")? };
        let out = out_ptr(out, "out")?;
        let snap = db.db.begin();
        // SAFETY: `out` is non-NULL (checked) and points to writable storage for a pointer.
        unsafe { out.write(Arc::into_raw(snap).cast_mut().cast::<ts_txn>()) };
        Ok(ts_status::TS_OK)
    })
}

/// Release a snapshot. Its memory (and the data only it still references) is freed once its
/// last cursor is freed too. Calling with NULL is a harmless no-op. Must not be called twice
/// with the same pointer.
///
/// Never fails and never aborts: a panic while freeing what only this snapshot kept alive
/// (a bug in libtsdb) is caught by the library's panic boundary and recorded for
/// `ts_errmsg()` ("ts_txn_release: internal error ..."); the call returns normally, the
/// snapshot is released, and whatever was not freed yet is leaked.
///
/// Threads: safe from any thread, once no other thread uses `txn`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_txn_release(txn: *mut ts_txn) {
    boundary_void("ts_txn_release", || {
        if !txn.is_null() {
            // SAFETY: `txn` came from `Arc::into_raw` in `ts_txn_begin`; this gives back the
            // caller's one reference, exactly once.
            drop(unsafe { Arc::from_raw(txn.cast_const().cast::<Snapshot>()) });
        }
    })
}

/// Look up the id of the metric called `name` as of snapshot `txn`.
///
/// Returns `TS_OK`; `TS_NOT_FOUND` if no metric has that name in this snapshot (e.g. created
/// after it began); `TS_INVALID_ARGUMENT` if `txn`, `name` or `id_out` is NULL or `name` is
/// not 1..=1024 bytes of UTF-8.
///
/// Threads: safe from any number of threads sharing `txn`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_metric_lookup(
    txn: *const ts_txn,
    name: *const c_char,
    id_out: *mut u64,
) -> ts_status {
    boundary("ts_metric_lookup", || {
        // SAFETY: `txn` is NULL (checked) or a live snapshot from `ts_txn_begin`.
        let snap = unsafe { snapshot(txn)? };
        // SAFETY: `name` is NULL (checked) or a NUL-terminated string.
        let name = unsafe { c_str(name, "name")? };
        let id_out = out_ptr(id_out, "id_out")?;
        let id = snap.lookup(name)?;
        // SAFETY: `id_out` is non-NULL (checked) and points to writable storage.
        unsafe { id_out.write(id.0) };
        Ok(ts_status::TS_OK)
    })
}

/// The number of live metrics in snapshot `txn`, in `*n_out`.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `txn` or `n_out` is NULL.
///
/// Threads: safe from any number of threads sharing `txn`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_txn_metric_count(txn: *const ts_txn, n_out: *mut u64) -> ts_status {
    boundary("ts_txn_metric_count", || {
        // SAFETY: `txn` is NULL (checked) or a live snapshot from `ts_txn_begin`.
        let snap = unsafe { snapshot(txn)? };
        let n_out = out_ptr(n_out, "n_out")?;
        // SAFETY: `n_out` is non-NULL (checked) and points to writable storage.
        unsafe { n_out.write(snap.metric_count()) };
        Ok(ts_status::TS_OK)
    })
}
