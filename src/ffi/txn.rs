//! `ts_txn`: snapshots (read transactions) and name lookup.
use std::cell::RefCell;
use std::ffi::c_char;
use std::mem::{ManuallyDrop, MaybeUninit};
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

thread_local! {
    /// Allocations of released snapshots, for this thread's next `ts_txn_begin`s: a begin
    /// and a release then cost no `malloc` and `free` (and a release one reference-count
    /// operation less). Each holds no snapshot any more (its contents were dropped), has a
    /// reference count of 1 and is referenced from nowhere else.
    static SPARE: RefCell<Vec<Arc<MaybeUninit<Snapshot>>>> = const { RefCell::new(Vec::new()) };
}

/// Spare allocations a thread keeps (56 bytes each).
const MAX_SPARE: usize = 8;

/// A `ts_txn` pointer owning `snap`: `Arc::into_raw` of an `Arc<Snapshot>`, in `spare` (an
/// allocation taken from SPARE) when there is one.
#[inline]
fn into_handle(spare: Option<Arc<MaybeUninit<Snapshot>>>, snap: Snapshot) -> *mut ts_txn {
    match spare {
        Some(spare) => {
            let p = Arc::into_raw(spare).cast_mut();
            // SAFETY: a spare's only reference was the one in SPARE (see there), so nothing
            // else reads or writes its contents, which are uninitialised; `MaybeUninit<T>`
            // has `T`'s layout, so the allocation is now that of an `Arc<Snapshot>` with
            // reference count 1, as `Arc::into_raw(Arc::new(snap))` would give.
            unsafe { p.write(MaybeUninit::new(snap)) };
            p.cast::<ts_txn>()
        }
        None => Arc::into_raw(Arc::new(snap)).cast_mut().cast::<ts_txn>(),
    }
}

/// Give back the reference a `ts_txn` pointer owns. When it was the last (no cursor or
/// listing shares the snapshot), the snapshot is dropped in place and its allocation kept
/// in SPARE, if there is room.
///
/// # Safety
/// `txn` is a non-NULL pointer returned by `ts_txn_begin` and not yet released.
unsafe fn release(txn: *mut ts_txn) {
    // SAFETY: `txn` came from `Arc::into_raw` (`into_handle`) of an `Arc<Snapshot>` whose
    // reference the caller owns; this takes it back, once.
    let mut snap = unsafe { Arc::from_raw(txn.cast_const().cast::<Snapshot>()) };
    let room = SPARE.try_with(|s| s.borrow().len() < MAX_SPARE).unwrap_or(false);
    if !room || Arc::get_mut(&mut snap).is_none() {
        drop(snap);
        return;
    }
    let p = Arc::into_raw(snap).cast_mut();
    // SAFETY: `get_mut` proved this the only reference (no Weak exists either), so nothing
    // else can read the snapshot; it is dropped here, once. If its drop panics (a bug), the
    // allocation is leaked, as `ts_txn_release` documents.
    unsafe { std::ptr::drop_in_place(p) };
    // SAFETY: `p` came from `Arc::into_raw` of an `Arc<Snapshot>`, and `MaybeUninit<Snapshot>`
    // has the same size and alignment, as `Arc::from_raw` requires; the contents are now
    // uninitialised, which `MaybeUninit` allows (dropping it frees only the allocation).
    let spare = unsafe { Arc::from_raw(p.cast_const().cast::<MaybeUninit<Snapshot>>()) };
    // `room` was checked above and nothing on this thread ran since but the drop, which
    // does not begin or release snapshots.
    let _ = SPARE.try_with(|s| s.borrow_mut().push(spare));
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
        let snap = db.db.begin_unshared();
        // (Not while this thread exits, when SPARE may be gone: then a new allocation.)
        let txn = into_handle(SPARE.try_with(|s| s.borrow_mut().pop()).ok().flatten(), snap);
        // SAFETY: `out` is non-NULL (checked) and points to writable storage for a pointer.
        unsafe { out.write(txn) };
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
            // SAFETY: `txn` came from `ts_txn_begin`; the caller releases it exactly once.
            unsafe { release(txn) };
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
