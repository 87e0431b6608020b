//! `ts_options`: the options object and its setters.
use super::boundary::{boundary, boundary_void};
use super::handle::handle_mut;
use super::status::ts_status;
use crate::{Options, SyncPolicy};

/// Largest value `ts_options_set_partition_points` accepts.
pub const TS_MAX_PARTITION_POINTS: u32 = 524_288;

/// Options for `ts_open`. Create with `ts_options_new`, change with the `ts_options_set_*`
/// setters, pass to `ts_open` (which copies it) and free with `ts_options_free`; it may be
/// freed right after `ts_open` returns.
///
/// Threads: not thread-safe; use from one thread at a time.
pub struct ts_options {
    pub(crate) opts: Options,
}

/// Unit tests inject a panic into the handle's own drop (`boundary::injected_panic`).
#[cfg(test)]
impl Drop for ts_options {
    fn drop(&mut self) {
        super::boundary::injected_panic("ts_options::drop");
    }
}

/// Create an options object holding the defaults: create_if_missing = true,
/// partition_points = 4096, head_run_points = 16, raw_head_budget = 64 MiB,
/// sync = TS_SYNC_INTERVAL every 100 ms, checkpoint_bytes = 64 MiB.
///
/// The caller owns the result and must free it with `ts_options_free`. Returns NULL only if
/// memory is exhausted.
///
/// Threads: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ts_options_new() -> *mut ts_options {
    std::panic::catch_unwind(|| Box::into_raw(Box::new(ts_options { opts: Options::default() })))
        .unwrap_or(std::ptr::null_mut())
}

/// Free an options object. Calling with NULL is a harmless no-op. Must not be called twice
/// with the same pointer.
///
/// Never fails and never aborts: like every function, it runs under the library's panic
/// boundary, so a panic while freeing (a bug in libtsdb) is caught, recorded for
/// `ts_errmsg()` ("ts_options_free: internal error ..."), and the call returns normally.
///
/// Threads: not concurrently with any other use of `opts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_options_free(opts: *mut ts_options) {
    boundary_void("ts_options_free", || {
        if !opts.is_null() {
            // SAFETY: non-NULL `opts` came from `ts_options_new` (Box::into_raw) and is freed once.
            drop(unsafe { Box::from_raw(opts) });
        }
    })
}

/// Whether `ts_open` creates a missing database directory (its parent must exist).
/// Default: true. When false, opening a missing directory returns `TS_NOT_FOUND`.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL.
///
/// Threads: not concurrently with any other use of `opts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_options_set_create_if_missing(opts: *mut ts_options, create: bool) -> ts_status {
    boundary("ts_options_set_create_if_missing", || {
        // SAFETY: `opts` is NULL (checked) or a live handle from `ts_options_new`.
        let o = unsafe { handle_mut(opts, "opts")? };
        o.opts.create_if_missing = create;
        Ok(ts_status::TS_OK)
    })
}

/// The number of points at which a metric's in-memory head partition is sealed into an
/// immutable partition; sealed partitions hold up to twice this many points, except that a
/// partition of data coding to under a quarter byte per point (a constant series) keeps
/// taking the next seals' points, up to 16 times this many. Larger values mean fewer,
/// larger partitions and more memory per actively written metric.
/// Default: 4096; allowed: 2 ..= `TS_MAX_PARTITION_POINTS` (524288).
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL or `n` is out of range.
///
/// Threads: not concurrently with any other use of `opts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_options_set_partition_points(opts: *mut ts_options, n: u32) -> ts_status {
    boundary("ts_options_set_partition_points", || {
        // SAFETY: `opts` is NULL (checked) or a live handle from `ts_options_new`.
        let o = unsafe { handle_mut(opts, "opts")? };
        o.opts.set_partition_points(n)?;
        Ok(ts_status::TS_OK)
    })
}

/// How many of a metric's newest head points stay uncompressed (24 bytes each) before they
/// are compressed into a run of a few bytes per point. A head keeps room for its next run
/// (`n` raw points, 24 bytes each) between runs, so that writes do not allocate. Lower values
/// save memory when many metrics hold partly filled heads, at some CPU per write; a head
/// about to be sealed is
/// never compressed, nor is one that fits in the raw-head budget (see
/// `ts_options_set_raw_head_budget`). Default: 16; allowed: 1 ..= `TS_MAX_PARTITION_POINTS`.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL or `n` is out of range.
///
/// Threads: not concurrently with any other use of `opts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_options_set_head_run_points(opts: *mut ts_options, n: u32) -> ts_status {
    boundary("ts_options_set_head_run_points", || {
        // SAFETY: `opts` is NULL (checked) or a live handle from `ts_options_new`.
        let o = unsafe { handle_mut(opts, "opts")? };
        o.opts.set_head_run_points(n)?;
        Ok(ts_status::TS_OK)
    })
}

/// Bytes of uncompressed head points (24 bytes each) the database may hold in all. Within
/// the budget, heads stay raw until sealed: no compression work on the write path, the
/// fastest ingest. Beyond it, each head compresses its newest points into runs once
/// `head_run_points` have gathered, so a million partly filled heads cost a few bytes per
/// point instead of 24. Counted in whole heads (`partition_points` x 24 bytes each).
/// Default: 67108864 (64 MiB); 0 compresses every head.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL.
///
/// Threads: not concurrently with any other use of `opts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_options_set_raw_head_budget(opts: *mut ts_options, bytes: u64) -> ts_status {
    boundary("ts_options_set_raw_head_budget", || {
        // SAFETY: `opts` is NULL (checked) or a live handle from `ts_options_new`.
        let o = unsafe { handle_mut(opts, "opts")? };
        o.opts.raw_head_budget = bytes;
        Ok(ts_status::TS_OK)
    })
}

/// When acknowledged writes are forced to stable storage (see `ts_options_set_sync`).
/// Every acknowledged write is in the write-ahead log when its call returns, so a crash of
/// the process loses nothing under any mode; the mode decides what a power loss may lose.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ts_sync {
    /// Never fsync explicitly; the OS writes back in its own time (`ts_close` still syncs).
    TS_SYNC_NONE = 0,
    /// fsync from a background thread at most every `interval_ms`: a power loss loses at
    /// most about that much. The default, with 100 ms.
    TS_SYNC_INTERVAL = 1,
    /// fsync before each write returns; concurrent writers share one fsync (group commit).
    /// Power-loss safe, and the slowest.
    TS_SYNC_ALWAYS = 2,
}

/// Set the sync mode; `interval_ms` (1 ..= 60000) is read only for `TS_SYNC_INTERVAL`.
/// Default: `TS_SYNC_INTERVAL` with 100 ms.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL, `mode` is not a `ts_sync`
/// value, or the interval is out of range.
///
/// Threads: not concurrently with any other use of `opts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_options_set_sync(
    opts: *mut ts_options,
    mode: u32,
    interval_ms: u32,
) -> ts_status {
    boundary("ts_options_set_sync", || {
        // SAFETY: `opts` is NULL (checked) or a live handle from `ts_options_new`.
        let o = unsafe { handle_mut(opts, "opts")? };
        o.opts.sync = match mode {
            0 => SyncPolicy::None,
            1 if (1..=60_000).contains(&interval_ms) => SyncPolicy::Interval(interval_ms),
            1 => {
                return Err(crate::Error::InvalidArgument(format!(
                    "interval_ms out of range (got {interval_ms}, allowed 1..=60000)"
                )));
            }
            2 => SyncPolicy::Always,
            m => {
                return Err(crate::Error::InvalidArgument(format!(
                    "unknown sync mode {m} (TS_SYNC_NONE 0, TS_SYNC_INTERVAL 1, TS_SYNC_ALWAYS 2)"
                )));
            }
        };
        Ok(ts_status::TS_OK)
    })
}

/// Run a checkpoint (in the background) once this many bytes of write-ahead log have been
/// written since the last one. Open replays about this much log at most: smaller values
/// mean faster opens and more checkpoint work. Default: 67108864 (64 MiB); at least 4096.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL or `bytes` < 4096.
///
/// Threads: not concurrently with any other use of `opts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_options_set_checkpoint_bytes(opts: *mut ts_options, bytes: u64) -> ts_status {
    boundary("ts_options_set_checkpoint_bytes", || {
        // SAFETY: `opts` is NULL (checked) or a live handle from `ts_options_new`.
        let o = unsafe { handle_mut(opts, "opts")? };
        if bytes < 4096 {
            return Err(crate::Error::InvalidArgument(format!("checkpoint_bytes below 4096 (got {bytes})")));
        }
        o.opts.checkpoint_bytes = bytes;
        Ok(ts_status::TS_OK)
    })
}

/// Keep each metric's points for `span` timestamp units (0: keep everything, the default).
/// A sealed partition whose points are all older than its metric's newest sealed timestamp
/// minus the span is dropped by background work, logged like a `ts_delete_range` (snapshots
/// begun before still read it; its space returns when they are released). A metric's own
/// setting (`ts_metric_set_retention`) overrides this default. Older sealed partitions are
/// joined into larger ones (up to 2^20 points, so memory does not grow with the points);
/// under retention a joined partition spans at most a quarter of the span, so retention
/// keeps at most about a quarter more than the span.
///
/// Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL or `span` < 0.
///
/// Threads: not concurrently with any other use of `opts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_options_set_retention(opts: *mut ts_options, span: i64) -> ts_status {
    boundary("ts_options_set_retention", || {
        // SAFETY: `opts` is NULL (checked) or a live handle from `ts_options_new`.
        let o = unsafe { handle_mut(opts, "opts")? };
        if span < 0 {
            return Err(crate::Error::InvalidArgument(format!("retention span below 0 (got {span})")));
        }
        o.opts.retention = span;
        Ok(ts_status::TS_OK)
    })
}
