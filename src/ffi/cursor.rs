//! `ts_cursor`: range scans.
use super::boundary::{boundary, boundary_void};
use super::handle::{handle_mut, out_ptr};
use super::status::ts_status;
use super::txn::{snapshot, ts_txn};
use crate::{Cursor, Error, MetricId};

/// An ascending iterator over one metric's points in `[from, until)` as of a snapshot.
///
/// Threads: one thread at a time; a cursor may move between threads. It holds a reference
/// to its snapshot, so the `ts_txn` may be released before the cursor is freed.
pub struct ts_cursor {
    cursor: Cursor,
}

/// Open a cursor over metric `id`'s points with `from <= ts < until` as of snapshot `txn`.
/// Points come in ascending timestamp order, one per timestamp (the last write wins).
/// `from == until` gives an empty cursor.
///
/// Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no metric in this snapshot;
/// `TS_INVALID_ARGUMENT` if `txn` or `out` is NULL or `from > until`.
///
/// The caller owns `*out` and must free it with `ts_cursor_free`.
///
/// Threads: safe from any number of threads sharing `txn`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_scan_range(
    txn: *const ts_txn,
    id: u64,
    from: i64,
    until: i64,
    out: *mut *mut ts_cursor,
) -> ts_status {
    boundary("ts_scan_range", || {
        // SAFETY: `txn` is NULL (checked) or a live snapshot from `ts_txn_begin`.
        let snap = unsafe { snapshot(txn)? };
        let out = out_ptr(out, "out")?;
        let cursor = snap.scan(MetricId(id), from, until)?;
        // SAFETY: `out` is non-NULL (checked) and points to writable storage for a pointer.
        unsafe { out.write(Box::into_raw(Box::new(ts_cursor { cursor }))) };
        Ok(ts_status::TS_OK)
    })
}

/// Read the next point into `*ts` and `*value`.
///
/// Returns `TS_OK` with a point; `TS_DONE` when the cursor is exhausted (not an error; it
/// keeps returning `TS_DONE`, and `*ts`/`*value` are not written); `TS_INVALID_ARGUMENT` if
/// `c`, `ts` or `value` is NULL; `TS_CORRUPTION` if a block on disk fails its checksum
/// (the message names the file and offset).
///
/// Threads: not concurrently with any other use of `c`.
/// Prefer `ts_cursor_next_batch`: it crosses the boundary once per batch.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_cursor_next(c: *mut ts_cursor, ts: *mut i64, value: *mut f64) -> ts_status {
    boundary("ts_cursor_next", || {
        // SAFETY: `c` is NULL (checked) or a live handle from `ts_scan_range`.
        let c = unsafe { handle_mut(c, "c")? };
        let ts = out_ptr(ts, "ts")?;
        let value = out_ptr(value, "value")?;
        match c.cursor.next().transpose()? {
            Some((t, v)) => {
                // SAFETY: both are non-NULL (checked) and point to writable storage.
                unsafe {
                    ts.write(t);
                    value.write(v);
                }
                Ok(ts_status::TS_OK)
            }
            None => Ok(ts_status::TS_DONE),
        }
    })
}

/// Read up to `cap` points into the caller's arrays `ts[0..cap)` and `values[0..cap)`;
/// `*n_out` receives how many were written.
///
/// Either array may be NULL to skip that column (not both). The points continue where the
/// previous call stopped; a call may return fewer than `cap` points before the end.
///
/// Returns `TS_OK` with `*n_out >= 1`; `TS_DONE` with `*n_out = 0` when the cursor is
/// exhausted (it keeps returning `TS_DONE`); `TS_INVALID_ARGUMENT` if `c` or `n_out` is
/// NULL, both arrays are NULL, or `cap` is 0; `TS_CORRUPTION` (with `*n_out = 0`) if a
/// block on disk fails its checksum: the message names the file and offset, and the
/// cursor should be freed.
///
/// Threads: not concurrently with any other use of `c`.
/// This is the fast path for reading: one boundary crossing per batch. With buffers of at
/// least 4,096 points (and at least `partition_points`, 4096 by default), whole sealed
/// partitions, and 4,096-point windows of the large partitions older data is joined into,
/// are decoded straight into them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_cursor_next_batch(
    c: *mut ts_cursor,
    ts: *mut i64,
    values: *mut f64,
    cap: usize,
    n_out: *mut usize,
) -> ts_status {
    boundary("ts_cursor_next_batch", || {
        // SAFETY: `c` is NULL (checked) or a live handle from `ts_scan_range`.
        let c = unsafe { handle_mut(c, "c")? };
        let n_out = out_ptr(n_out, "n_out")?;
        if ts.is_null() && values.is_null() {
            return Err(Error::InvalidArgument("ts and values are both NULL".into()));
        }
        if cap == 0 {
            return Err(Error::InvalidArgument("cap is 0".into()));
        }
        if cap > isize::MAX as usize / 8 {
            return Err(Error::InvalidArgument(format!("cap is too large (cap={cap})")));
        }
        // SAFETY: non-NULL arrays have room for `cap` elements per the contract above, and
        // nothing else accesses them during the call.
        let ts = (!ts.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(ts, cap) });
        // SAFETY: as above.
        let values = (!values.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(values, cap) });
        // SAFETY: `n_out` is non-NULL (checked) and points to writable storage.
        unsafe { n_out.write(0) };
        let n = c.cursor.next_batch(ts, values)?;
        // SAFETY: as above.
        unsafe { n_out.write(n) };
        Ok(if n == 0 { ts_status::TS_DONE } else { ts_status::TS_OK })
    })
}

/// Free a cursor (and, if it was the last reference, its snapshot). Calling with NULL is a
/// harmless no-op. Must not be called twice with the same pointer.
///
/// Never fails and never aborts: freeing the last reference to a snapshot frees what only
/// it kept alive (partitions, space in data files), and a panic anywhere in that (a bug in
/// libtsdb) is caught by the library's panic boundary and recorded for `ts_errmsg()`
/// ("ts_cursor_free: internal error ..."); the call returns normally, and whatever was not
/// freed yet is leaked.
///
/// Threads: not concurrently with any other use of `c`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_cursor_free(c: *mut ts_cursor) {
    boundary_void("ts_cursor_free", || {
        if !c.is_null() {
            // SAFETY: non-NULL `c` came from `ts_scan_range` (Box::into_raw), freed once.
            drop(unsafe { Box::from_raw(c) });
        }
    })
}
