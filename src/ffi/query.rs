//! Aggregates (`ts_aggregate`) and metric listing (`ts_metric_list`).
use std::ffi::{CString, c_char};
use std::sync::Arc;

use super::boundary::{boundary, boundary_void};
use super::handle::{c_str, handle_mut, out_ptr};
use super::status::ts_status;
use super::txn::{snapshot, ts_txn};
use crate::{Agg, Error, MetricId, Snapshot};

/// One bucket of `ts_aggregate`.
///
/// NaN rule (the same whether a block was answered from its stored summary or decoded):
/// `count` counts every point, NaN values included; `min`, `max` and `sum` are over the
/// non-NaN values and are NaN when every value in the bucket is NaN; `first` and `last`
/// are the values at `first_ts` and `last_ts`, NaN or not. Infinities take part as IEEE
/// arithmetic says (`+inf + -inf` is NaN). `sum` adds per-block sums, so its last bits may
/// differ from a point-by-point sum in timestamp order.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ts_agg {
    /// The bucket's start: `from + k * bucket`.
    pub start: i64,
    /// Points in the bucket (at least 1).
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub first: f64,
    pub last: f64,
    /// Timestamps of the bucket's first and last points.
    pub first_ts: i64,
    pub last_ts: i64,
}

impl From<&Agg> for ts_agg {
    fn from(a: &Agg) -> ts_agg {
        ts_agg {
            start: a.start,
            count: a.count,
            min: a.min,
            max: a.max,
            sum: a.sum,
            first: a.first,
            last: a.last,
            first_ts: a.first_ts,
            last_ts: a.last_ts,
        }
    }
}

/// Aggregate metric `id`'s points in `[from, until)` as of snapshot `txn`, in buckets
/// `[from + k*bucket, from + (k+1)*bucket)` (the last one clipped to `until`).
///
/// Writes only non-empty buckets, ascending, at most `cap` of them, to `out[0..*n_out)`.
/// When `*n_out == cap`, more buckets may remain: call again with `from` set to
/// `out[cap-1].start + bucket`, unless that reaches `until` or overflows INT64_MAX (then
/// none remain); the snapshot guarantees the same answer as one big call. `from == until`
/// writes nothing.
///
/// Fast: a sealed block lying wholly inside one bucket is answered from the summary stored
/// in its header without decoding its points, and a block crossing a bucket edge from the
/// summaries of its 256-point pages; only the pages crossing an edge (and the pages whose
/// first or last value a bucket reports) are decoded.
///
/// Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no metric in this snapshot;
/// `TS_INVALID_ARGUMENT` if `txn`, `out` or `n_out` is NULL, `bucket <= 0` or
/// `from > until`; `TS_CORRUPTION` if a block fails its checksum (the message names the
/// file and offset). `*n_out` is 0 unless `TS_OK`.
///
/// Threads: safe from any number of threads sharing `txn`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_aggregate(
    txn: *const ts_txn,
    id: u64,
    from: i64,
    until: i64,
    bucket: i64,
    out: *mut ts_agg,
    cap: usize,
    n_out: *mut usize,
) -> ts_status {
    boundary("ts_aggregate", || {
        // SAFETY: `txn` is NULL (checked) or a live snapshot from `ts_txn_begin`.
        let snap = unsafe { snapshot(txn)? };
        let n_out = out_ptr(n_out, "n_out")?;
        // SAFETY: `n_out` is non-NULL (checked) and points to writable storage.
        unsafe { n_out.write(0) };
        let out = out_ptr(out, "out")?;
        if cap > isize::MAX as usize / size_of::<ts_agg>() {
            return Err(Error::InvalidArgument(format!("cap is too large (cap={cap})")));
        }
        let mut aggs = Vec::new();
        snap.aggregate(MetricId(id), from, until, bucket, cap, &mut aggs)?;
        // SAFETY: `out` is non-NULL (checked) with room for `cap >= aggs.len()` elements per
        // the contract above; nothing else accesses it during the call.
        let dst = unsafe { std::slice::from_raw_parts_mut(out, aggs.len()) };
        for (d, a) in dst.iter_mut().zip(&aggs) {
            *d = a.into();
        }
        // SAFETY: as above.
        unsafe { n_out.write(aggs.len()) };
        Ok(ts_status::TS_OK)
    })
}

/// A listing of the metrics of a snapshot, ascending id, optionally those whose name
/// starts with a prefix.
///
/// Threads: one thread at a time; it may move between threads. It holds a reference to its
/// snapshot, so the `ts_txn` may be released before the listing is freed.
pub struct ts_metric_list {
    snap: Arc<Snapshot>,
    prefix: String,
    /// The next id to look at.
    next: u64,
    done: bool,
    /// The names of the last batch, NUL-terminated, handed out by pointer.
    names: Vec<CString>,
}

/// Start listing the metrics of snapshot `txn` whose name starts with `prefix` (NULL or
/// "" lists every metric), ascending id. Read them with `ts_metric_list_next`.
///
/// Listing every metric takes time proportional to the number of metrics in the snapshot
/// (a prefix filters while walking them): it is for tools and bindings enumerating a
/// database, one call per batch, never per metric.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `txn` or `out` is NULL or `prefix` is not
/// UTF-8. The caller owns `*out` and must free it with `ts_metric_list_free`.
///
/// Threads: safe from any number of threads sharing `txn`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_metric_list_open(
    txn: *const ts_txn,
    prefix: *const c_char,
    out: *mut *mut ts_metric_list,
) -> ts_status {
    boundary("ts_metric_list_open", || {
        // SAFETY: `txn` is NULL (checked) or a live snapshot from `ts_txn_begin`.
        let snap = unsafe { snapshot(txn)? };
        let prefix = if prefix.is_null() {
            ""
        } else {
            // SAFETY: `prefix` is a NUL-terminated string per the contract.
            unsafe { c_str(prefix, "prefix")? }
        };
        let out = out_ptr(out, "out")?;
        let list = ts_metric_list {
            snap: Arc::clone(&snap),
            prefix: prefix.to_owned(),
            next: 0,
            done: false,
            names: Vec::new(),
        };
        // SAFETY: `out` is non-NULL (checked) and points to writable storage for a pointer.
        unsafe { out.write(Box::into_raw(Box::new(list))) };
        Ok(ts_status::TS_OK)
    })
}

/// Read up to `cap` metrics: ids into `ids[0..cap)` and, unless `names` is NULL, their
/// NUL-terminated names into `names[0..cap)`. `*n_out` receives how many were written.
///
/// The name strings belong to the listing and stay valid until its next
/// `ts_metric_list_next` or `ts_metric_list_free`; copy them to keep them.
///
/// Returns `TS_OK` with `*n_out >= 1`; `TS_DONE` with `*n_out = 0` when every metric was
/// listed (it keeps returning `TS_DONE`); `TS_INVALID_ARGUMENT` if `list`, `ids` or `n_out`
/// is NULL or `cap` is 0.
///
/// Threads: not concurrently with any other use of `list`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_metric_list_next(
    list: *mut ts_metric_list,
    ids: *mut u64,
    names: *mut *const c_char,
    cap: usize,
    n_out: *mut usize,
) -> ts_status {
    boundary("ts_metric_list_next", || {
        // SAFETY: `list` is NULL (checked) or a live handle from `ts_metric_list_open`.
        let list = unsafe { handle_mut(list, "list")? };
        let n_out = out_ptr(n_out, "n_out")?;
        let ids = out_ptr(ids, "ids")?;
        if cap == 0 {
            return Err(Error::InvalidArgument("cap is 0".into()));
        }
        if cap > isize::MAX as usize / 8 {
            return Err(Error::InvalidArgument(format!("cap is too large (cap={cap})")));
        }
        // SAFETY: `n_out` is non-NULL (checked) and points to writable storage.
        unsafe { n_out.write(0) };
        list.names.clear();
        let mut n = 0;
        if !list.done {
            let snap = Arc::clone(&list.snap);
            let matching =
                snap.metrics(MetricId(list.next)).filter(|(_, name)| name.starts_with(&list.prefix));
            for (id, name) in matching.take(cap) {
                // SAFETY: `ids` has room for `cap` elements per the contract, `n < cap`.
                unsafe { ids.add(n).write(id.0) };
                if !names.is_null() {
                    // Names are UTF-8 without NUL bytes (checked at creation).
                    list.names.push(CString::new(name).map_err(|_| Error::Internal("NUL in a name".into()))?);
                    // SAFETY: `names` has room for `cap` elements per the contract; the
                    // string lives in `list.names` until the next call.
                    unsafe { names.add(n).write(list.names[n].as_ptr()) };
                }
                list.next = id.0 + 1;
                n += 1;
            }
            if n < cap {
                list.done = true;
            }
        }
        // SAFETY: as above.
        unsafe { n_out.write(n) };
        Ok(if n == 0 { ts_status::TS_DONE } else { ts_status::TS_OK })
    })
}

/// Free a listing (and, if it was the last reference, its snapshot). Calling with NULL is
/// a harmless no-op. Must not be called twice with the same pointer.
///
/// Never fails and never aborts: a panic while freeing (a bug in libtsdb, e.g. while
/// freeing what only its snapshot kept alive) is caught by the library's panic boundary
/// and recorded for `ts_errmsg()` ("ts_metric_list_free: internal error ..."); the call
/// returns normally, and whatever was not freed yet is leaked.
///
/// Threads: not concurrently with any other use of `list`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_metric_list_free(list: *mut ts_metric_list) {
    boundary_void("ts_metric_list_free", || {
        if !list.is_null() {
            // SAFETY: non-NULL `list` came from `ts_metric_list_open` (Box::into_raw), freed once.
            drop(unsafe { Box::from_raw(list) });
        }
    })
}
