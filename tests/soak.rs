//! Soak: everything at once, for a bounded time, against exact models.
//!
//! WHAT RUNS
//!   For `TSDB_SOAK_SECS` seconds, in cycles of `TSDB_SOAK_CYCLE_SECS`, on one database:
//!   - writer threads (`TSDB_SOAK_WRITERS`), each owning its metrics and keeping an exact
//!     model of them: single inserts, `insert_batch` with out-of-order and duplicate
//!     timestamps (late points into sealed partitions, extreme timestamps, NaN payloads,
//!     infinities, -0.0), atomic multi-metric batch commits, range deletes, drops and
//!     re-creates under the same name, retention windows (per-metric span set, in-order
//!     writes that seal, `enforce_retention` or the background pass, span reset; the cut is
//!     read off a fresh snapshot and must drop only points past the span), read-backs, and
//!     the error paths (unknown ids, existing names, bad arguments). After every op a writer
//!     appends the op's number to its heartbeat metric and publishes it as acknowledged.
//!     Now and then a writer begins a snapshot and hands it, with a copy of its model, to
//!     the readers.
//!   - reader threads (`TSDB_SOAK_READERS`): check the handed-over snapshots against the
//!     writer's model exactly (names, ids, listing, every point bit-exact), again later
//!     while everything else runs; and begin their own snapshots, which must see every
//!     heartbeat acknowledged before they began and none not yet started, contiguous, both
//!     twins of every writer's atomic batches equal, scans ascending with unique timestamps,
//!     range scans equal to the full scan's slice, aggregates (with their continuation)
//!     equal to a fold of the scanned points, and the same answers when scanned again later.
//!   - a maintenance thread: explicit checkpoints beside the background ones, retention
//!     passes, stats, and `check` while all of this runs (it must find no damage).
//!
//!   Options are small (partitions of 8..1100 points, checkpoints every few KiB of log), so
//!   seals, late-point merges, extents, checkpoints, compaction and log rotation happen all
//!   the time. They change at every reopen, as does the API: even cycles use the Rust API
//!   (`Database`), odd ones the C API (`tsdb::ffi`, every call through raw pointers), so a
//!   build with AddressSanitizer checks the unsafe boundary too.
//!
//!   Between cycles the workers stop, every snapshot is released (a close with one still
//!   alive must be `Busy` and leave the database usable), the database is closed (or, in
//!   some Rust cycles, dropped without `close`) and reopened, and then it must equal the
//!   union of the writers' models exactly and `check` must report no damage.
//!
//!   At the end a summary of what ran and what was verified is printed.
//!
//! ENV KNOBS
//!   TSDB_SOAK_SECS        duration of the work (default 15; `./run soak` runs 600)
//!   TSDB_SOAK_SEED        seed of every random choice (default 1: the short run checks the
//!                         same things every time; timing still varies). Printed.
//!   TSDB_SOAK_CYCLE_SECS  seconds between reopens (default 3)
//!   TSDB_SOAK_WRITERS     writer threads (default 3)
//!   TSDB_SOAK_READERS     reader threads (default 2)
//!   TSDB_SOAK_KEEP=1      keep the database directory even when the run passes
//!
//! On a failure the seed, the cycle and the kept database directory are printed.
//!
//! Run: `cargo test --release --test soak -- --nocapture`; `./run soak [SECS]` for a long
//! run, `./run soak-asan [SECS]` for the same under AddressSanitizer (docs/testing.md).
#![cfg(unix)]

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{CStr, CString};
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tsdb::codec::shapes::Rng;
use tsdb::ffi::batch::{
    ts_batch, ts_batch_add, ts_batch_add_many, ts_batch_clear, ts_batch_commit, ts_batch_free, ts_batch_new,
};
use tsdb::ffi::cursor::{ts_cursor, ts_cursor_free, ts_cursor_next, ts_cursor_next_batch, ts_scan_range};
use tsdb::ffi::db::{ts_checkpoint, ts_close, ts_db, ts_db_stats, ts_open, ts_stats};
use tsdb::ffi::inspect::{ts_check, ts_check_report};
use tsdb::ffi::metric::{ts_enforce_retention, ts_metric_create, ts_metric_drop, ts_metric_set_retention};
use tsdb::ffi::options::{
    ts_options_free, ts_options_new, ts_options_set_checkpoint_bytes, ts_options_set_head_run_points,
    ts_options_set_partition_points, ts_options_set_raw_head_budget, ts_options_set_sync,
};
use tsdb::ffi::query::{
    ts_agg, ts_aggregate, ts_metric_list, ts_metric_list_free, ts_metric_list_next, ts_metric_list_open,
};
use tsdb::ffi::status::ts_errmsg;
use tsdb::ffi::ts_status::{self, *};
use tsdb::ffi::txn::{ts_metric_lookup, ts_txn, ts_txn_begin, ts_txn_metric_count, ts_txn_release};
use tsdb::ffi::write::{ts_delete_range, ts_insert, ts_insert_batch};
use tsdb::{Agg, Batch, Database, Error, MAX_TIMESTAMP, MetricId, Options, Snapshot, SyncPolicy};

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// Data metrics per writer (besides its heartbeat and its two twins).
const SLOTS: usize = 4;
/// A data metric whose model grows past this many points loses its older half (a delete).
const MAX_POINTS: usize = 6000;
/// Twin metrics take timestamps in `0..TWIN_SPAN`: overwrites keep them bounded.
const TWIN_SPAN: u64 = 4096;
/// Heartbeat points kept: every `HB_TRIM` ops the older ones are deleted.
const HB_KEEP: u64 = 512;
const HB_TRIM: u64 = 1024;
/// Timestamps that must round-trip like any other.
const EXTREMES: [i64; 5] = [i64::MIN, i64::MIN + 1, -1, 0, MAX_TIMESTAMP];

struct Config {
    secs: u64,
    seed: u64,
    cycle: Duration,
    writers: usize,
    readers: usize,
    keep: bool,
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        _ => default,
    }
}

impl Config {
    fn from_env() -> Config {
        Config {
            secs: env_u64("TSDB_SOAK_SECS", 15),
            seed: env_u64("TSDB_SOAK_SEED", 1),
            cycle: Duration::from_millis(env_u64("TSDB_SOAK_CYCLE_SECS", 3).max(1) * 1000),
            writers: env_u64("TSDB_SOAK_WRITERS", 3).max(1) as usize,
            readers: env_u64("TSDB_SOAK_READERS", 2).max(1) as usize,
            keep: env_u64("TSDB_SOAK_KEEP", 0) != 0,
        }
    }
}

/// The options and API of one open.
#[derive(Clone, Debug)]
struct OpenCfg {
    c_api: bool,
    partition_points: u32,
    head_run_points: u32,
    raw_head_budget: u64,
    checkpoint_bytes: u64,
    wal_segment_bytes: u64,
    sync: SyncPolicy,
}

impl OpenCfg {
    fn pick(rng: &mut Rng, c_api: bool) -> OpenCfg {
        // 1100: sealed blocks of more than 1,024 points are paged (docs/codec.md).
        let partition_points = [8, 24, 64, 200, 1100][rng.below(5) as usize];
        let sync = match rng.below(8) {
            0 => SyncPolicy::Always,
            1..=3 => SyncPolicy::None,
            _ => SyncPolicy::Interval(1 + rng.below(100) as u32),
        };
        OpenCfg {
            c_api,
            partition_points,
            head_run_points: 1 + rng.below(64) as u32,
            // No raw heads, room for two, or every head raw.
            raw_head_budget: [0, 2 * 24 * u64::from(partition_points), u64::MAX][rng.below(3) as usize],
            checkpoint_bytes: [4096, 32 << 10, 256 << 10, 4 << 20][rng.below(4) as usize],
            // The C API has no setter for it: the default there.
            wal_segment_bytes: if c_api { 0 } else { [0, 4096, 64 << 10][rng.below(3) as usize] },
            sync,
        }
    }

    fn options(&self) -> Options {
        let mut o = Options {
            raw_head_budget: self.raw_head_budget,
            checkpoint_bytes: self.checkpoint_bytes,
            wal_segment_bytes: self.wal_segment_bytes,
            sync: self.sync,
            ..Options::default()
        };
        o.set_partition_points(self.partition_points).unwrap();
        o.set_head_run_points(self.head_run_points).unwrap();
        o
    }

    fn describe(&self) -> String {
        format!(
            "{} API, partition_points {}, head_run_points {}, raw_head_budget {}, checkpoint_bytes {}, \
             wal_segment_bytes {}, sync {:?}",
            if self.c_api { "C" } else { "Rust" },
            self.partition_points,
            self.head_run_points,
            if self.raw_head_budget == u64::MAX {
                "max".to_string()
            } else {
                self.raw_head_budget.to_string()
            },
            self.checkpoint_bytes,
            self.wal_segment_bytes,
            self.sync
        )
    }
}

// ---------------------------------------------------------------------------------------
// Counters for the summary
// ---------------------------------------------------------------------------------------

macro_rules! counters {
    ($($name:ident: $label:literal,)*) => {
        #[derive(Default)]
        struct Counters {
            $($name: AtomicU64,)*
        }
        impl Counters {
            fn lines(&self) -> Vec<(&'static str, u64)> {
                vec![$(($label, self.$name.load(Relaxed)),)*]
            }
        }
    };
}

counters! {
    ops_rust: "writer ops through the Rust API",
    ops_c: "writer ops through the C API",
    inserts: "single inserts (data metrics)",
    heartbeats: "heartbeat inserts",
    batch_inserts: "insert_batch calls",
    commits: "multi-metric batch commits",
    commits_refused: "batch commits naming a dropped metric (refused whole)",
    creates: "metric creates",
    drops: "metric drops",
    deletes: "range deletes (random)",
    trims: "range deletes (bounding a model or a heartbeat)",
    error_checks: "error paths checked (unknown id, existing name, bad argument)",
    rests: "quiet periods of a data metric (no writes for 50..3,000 ops)",
    retention_windows: "retention windows",
    retention_cut: "retention windows that dropped points",
    retention_points: "points dropped by retention",
    retention_partitions: "partitions dropped by enforce_retention calls",
    enforce_calls: "enforce_retention calls",
    checkpoints: "explicit checkpoints",
    live_checks: "checks while writers run (no damage)",
    stats_calls: "stats calls",
    points_written: "points written (acknowledged)",
    readbacks: "writer read-backs (fresh snapshot = model)",
    handoffs: "writer snapshots handed to readers",
    handoffs_verified: "handed-over snapshots verified against the model",
    handoffs_reverified: "handed-over snapshots verified again later",
    reader_snapshots: "reader snapshots checked",
    reader_rescans: "reader snapshots scanned again (identical)",
    heartbeat_checks: "heartbeat checks (sees every acknowledged op)",
    twin_checks: "twin checks (atomic batches seen whole)",
    scans: "scans",
    range_scans: "range scans checked against the full scan",
    aggregates: "aggregates checked against a fold",
    points_verified: "points verified against a model",
    points_scanned: "points scanned for consistency checks",
    reopens: "reopen cycles (each verified exactly, then checked)",
    reopens_c: "of them opened through the C API",
    busy_closes: "closes refused with a snapshot alive (Busy)",
    dropped_not_closed: "databases dropped without close",
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}

// ---------------------------------------------------------------------------------------
// One interface over both APIs
// ---------------------------------------------------------------------------------------

/// An error from either API, by kind.
#[derive(Debug, Clone, PartialEq)]
enum Fail {
    NotFound(String),
    Exists(u64),
    Invalid(String),
    Busy(String),
    Other(String),
}

type R<T> = Result<T, Fail>;

fn from_rust(e: Error) -> Fail {
    match e {
        Error::NotFound(m) => Fail::NotFound(m),
        Error::Exists { id, .. } => Fail::Exists(id.0),
        Error::InvalidArgument(m) => Fail::Invalid(m),
        Error::Busy(m) => Fail::Busy(m),
        e => Fail::Other(format!("{e:?}")),
    }
}

fn errmsg() -> String {
    // SAFETY: ts_errmsg never returns NULL; the string lives until this thread's next failure.
    unsafe { CStr::from_ptr(ts_errmsg()) }.to_string_lossy().into_owned()
}

fn c_ok(st: ts_status) -> R<()> {
    match st {
        TS_OK => Ok(()),
        TS_NOT_FOUND => Err(Fail::NotFound(errmsg())),
        TS_INVALID_ARGUMENT => Err(Fail::Invalid(errmsg())),
        TS_BUSY => Err(Fail::Busy(errmsg())),
        st => Err(Fail::Other(format!("{st:?}: {}", errmsg()))),
    }
}

/// Unwrap, naming what failed.
#[track_caller]
fn must<T>(r: R<T>, what: impl FnOnce() -> String) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{}: {e:?}", what()),
    }
}

#[track_caller]
fn must_fail<T: Debug>(r: R<T>, want: fn(&Fail) -> bool, what: impl FnOnce() -> String) {
    match r {
        Err(e) if want(&e) => {}
        other => panic!("{}: unexpected result {other:?}", what()),
    }
}

fn cstring(s: &str) -> CString {
    CString::new(s).expect("no NUL in names")
}

/// A `ts_db *` that threads share.
struct CDb(*mut ts_db);
// SAFETY: a `ts_db` may be used from any number of threads at once (tsdb.h); `ts_close`,
// the exception, is called only through `Db::close`, which owns the handle.
unsafe impl Send for CDb {}
// SAFETY: as above.
unsafe impl Sync for CDb {}

/// A `ts_txn *`, released when dropped.
struct CTxn(*mut ts_txn);
// SAFETY: a `ts_txn` may be shared by any number of threads for reading (tsdb.h); it is
// released once, in `drop`, when no thread uses it any more.
unsafe impl Send for CTxn {}
// SAFETY: as above.
unsafe impl Sync for CTxn {}

impl Drop for CTxn {
    fn drop(&mut self) {
        // SAFETY: the handle came from ts_txn_begin and is released exactly once, here.
        unsafe { ts_txn_release(self.0) }
    }
}

/// A `ts_batch *` of one writer thread, freed when dropped.
struct CBatch(*mut ts_batch);

impl CBatch {
    fn new() -> CBatch {
        let b = ts_batch_new();
        assert!(!b.is_null(), "ts_batch_new returned NULL");
        CBatch(b)
    }
}

impl Drop for CBatch {
    fn drop(&mut self) {
        // SAFETY: the handle came from ts_batch_new and is freed exactly once, here.
        unsafe { ts_batch_free(self.0) }
    }
}

enum Db {
    Rust(Database),
    C(CDb),
}

/// Counts of a `check` that found no damage.
#[derive(Clone, Copy, Debug, Default)]
struct Checked {
    metrics: u64,
    partitions: u64,
    extents: u64,
    points: u64,
    segments: u64,
}

impl Db {
    fn open(dir: &Path, o: &OpenCfg) -> Db {
        if !o.c_api {
            return Db::Rust(
                Database::open(dir, &o.options()).unwrap_or_else(|e| panic!("open {}: {e:?}", dir.display())),
            );
        }
        let opts = ts_options_new();
        assert!(!opts.is_null(), "ts_options_new returned NULL");
        let (mode, ms) = match o.sync {
            SyncPolicy::None => (0, 0),
            SyncPolicy::Interval(ms) => (1, ms),
            SyncPolicy::Always => (2, 0),
        };
        // SAFETY (each call below): `opts` is a live handle from ts_options_new, used by this
        // thread only, freed after ts_open (which copies it).
        must(c_ok(unsafe { ts_options_set_partition_points(opts, o.partition_points) }), || "pp".into());
        // SAFETY: as above.
        must(c_ok(unsafe { ts_options_set_head_run_points(opts, o.head_run_points) }), || "hrp".into());
        // SAFETY: as above.
        must(c_ok(unsafe { ts_options_set_raw_head_budget(opts, o.raw_head_budget) }), || "raw".into());
        // SAFETY: as above.
        must(c_ok(unsafe { ts_options_set_checkpoint_bytes(opts, o.checkpoint_bytes) }), || "cp".into());
        // SAFETY: as above.
        must(c_ok(unsafe { ts_options_set_sync(opts, mode, ms) }), || "sync".into());
        let path = cstring(dir.to_str().expect("temp dir is UTF-8"));
        let mut db = null_mut();
        // SAFETY: NUL-terminated path, live options, valid out-pointer.
        let st = unsafe { ts_open(path.as_ptr(), opts, &mut db) };
        // SAFETY: `opts` is live and used no more (ts_open copied it); freed once.
        unsafe { ts_options_free(opts) };
        must(c_ok(st), || format!("ts_open {}", dir.display()));
        Db::C(CDb(db))
    }

    fn is_c(&self) -> bool {
        matches!(self, Db::C(_))
    }

    fn create(&self, name: &str) -> R<u64> {
        match self {
            Db::Rust(db) => db.create_metric(name).map(|m| m.0).map_err(from_rust),
            Db::C(db) => {
                let c = cstring(name);
                let mut id = 0;
                // SAFETY: live db, NUL-terminated name, valid out-pointer.
                match unsafe { ts_metric_create(db.0, c.as_ptr(), &mut id) } {
                    TS_EXISTS => Err(Fail::Exists(id)),
                    st => c_ok(st).map(|()| id),
                }
            }
        }
    }

    fn drop_metric(&self, id: u64) -> R<()> {
        match self {
            Db::Rust(db) => db.drop_metric(MetricId(id)).map_err(from_rust),
            // SAFETY: live db.
            Db::C(db) => c_ok(unsafe { ts_metric_drop(db.0, id) }),
        }
    }

    fn insert(&self, id: u64, t: i64, v: f64) -> R<()> {
        match self {
            Db::Rust(db) => db.insert(MetricId(id), t, v).map_err(from_rust),
            // SAFETY: live db.
            Db::C(db) => c_ok(unsafe { ts_insert(db.0, id, t, v) }),
        }
    }

    fn insert_batch(&self, id: u64, ts: &[i64], vs: &[f64]) -> R<()> {
        assert_eq!(ts.len(), vs.len());
        match self {
            Db::Rust(db) => db.insert_batch(MetricId(id), ts, vs).map_err(from_rust),
            // SAFETY: live db; `ts` and `vs` hold `ts.len()` elements each (non-NULL even
            // when empty: a Vec's pointer is dangling, never NULL).
            Db::C(db) => c_ok(unsafe { ts_insert_batch(db.0, id, ts.as_ptr(), vs.as_ptr(), ts.len()) }),
        }
    }

    /// Commit `adds` atomically; `many` adds runs of one metric with one call.
    fn commit(&self, adds: &[(u64, i64, f64)], many: bool, cb: &mut Option<CBatch>) -> R<()> {
        let runs = runs_of(adds);
        match self {
            Db::Rust(db) => {
                let mut b = Batch::new();
                for r in &runs {
                    let (id, ts, vs) = split(&adds[r.clone()]);
                    if many {
                        b.add_many(MetricId(id), &ts, &vs);
                    } else {
                        ts.iter().zip(&vs).for_each(|(t, v)| b.add(MetricId(id), *t, *v));
                    }
                }
                assert_eq!(b.len(), adds.len());
                let res = db.commit(&mut b).map_err(from_rust);
                // Emptied on success, kept on failure.
                assert_eq!(b.len(), if res.is_ok() { 0 } else { adds.len() }, "batch after commit: {res:?}");
                res
            }
            Db::C(db) => {
                let b = cb.get_or_insert_with(CBatch::new);
                for r in &runs {
                    let (id, ts, vs) = split(&adds[r.clone()]);
                    if many {
                        // SAFETY: live batch of this thread; `ts` and `vs` hold `ts.len()` elements.
                        must(
                            c_ok(unsafe { ts_batch_add_many(b.0, id, ts.as_ptr(), vs.as_ptr(), ts.len()) }),
                            || "ts_batch_add_many".into(),
                        );
                    } else {
                        for (t, v) in ts.iter().zip(&vs) {
                            // SAFETY: live batch of this thread.
                            must(c_ok(unsafe { ts_batch_add(b.0, id, *t, *v) }), || "ts_batch_add".into());
                        }
                    }
                }
                // SAFETY: live db and batch, the batch used by this thread only.
                let res = c_ok(unsafe { ts_batch_commit(db.0, b.0) });
                if res.is_err() {
                    // The batch is kept on failure: empty it for the next commit.
                    // SAFETY: live batch of this thread.
                    must(c_ok(unsafe { ts_batch_clear(b.0) }), || "ts_batch_clear".into());
                }
                res
            }
        }
    }

    fn delete_range(&self, id: u64, from: i64, until: i64) -> R<()> {
        match self {
            Db::Rust(db) => db.delete_range(MetricId(id), from, until).map_err(from_rust),
            // SAFETY: live db.
            Db::C(db) => c_ok(unsafe { ts_delete_range(db.0, id, from, until) }),
        }
    }

    fn set_retention(&self, id: u64, span: i64) -> R<()> {
        match self {
            Db::Rust(db) => db.set_retention(MetricId(id), span).map_err(from_rust),
            // SAFETY: live db.
            Db::C(db) => c_ok(unsafe { ts_metric_set_retention(db.0, id, span) }),
        }
    }

    fn enforce_retention(&self) -> R<u64> {
        match self {
            Db::Rust(db) => db.enforce_retention().map_err(from_rust),
            Db::C(db) => {
                let mut n = 0;
                // SAFETY: live db, valid out-pointer.
                c_ok(unsafe { ts_enforce_retention(db.0, &mut n) }).map(|()| n)
            }
        }
    }

    fn checkpoint(&self) -> R<()> {
        match self {
            Db::Rust(db) => db.checkpoint().map_err(from_rust),
            // SAFETY: live db.
            Db::C(db) => c_ok(unsafe { ts_checkpoint(db.0) }),
        }
    }

    /// The stats call (its figures move with every write: only that it answers is checked).
    fn stats(&self) -> R<()> {
        match self {
            Db::Rust(db) => db.stats().map(|_| ()).map_err(from_rust),
            Db::C(db) => {
                let mut s = ts_stats::default();
                // SAFETY: live db, valid out-pointer.
                c_ok(unsafe { ts_db_stats(db.0, &mut s) })
            }
        }
    }

    /// `check`; `Err` names the damage (or why it could not run).
    fn check(&self) -> Result<Checked, String> {
        match self {
            Db::Rust(db) => {
                let r = db.check().map_err(|e| format!("check could not run: {e:?}"))?;
                if !r.is_ok() {
                    return Err(format!("{} problem(s):\n  {}", r.damage.len(), r.damage.join("\n  ")));
                }
                Ok(Checked {
                    metrics: r.metrics,
                    partitions: r.partitions,
                    extents: r.extents,
                    points: r.points,
                    segments: r.segments,
                })
            }
            Db::C(db) => {
                let mut r = ts_check_report::default();
                // SAFETY: live db, valid out-pointer.
                c_ok(unsafe { ts_check(db.0, &mut r) }).map_err(|e| format!("ts_check: {e:?}"))?;
                Ok(Checked {
                    metrics: r.metrics,
                    partitions: r.partitions,
                    extents: r.extents,
                    points: r.points,
                    segments: r.segments,
                })
            }
        }
    }

    fn begin(&self) -> Snap {
        match self {
            Db::Rust(db) => Snap::Rust(db.begin()),
            Db::C(db) => {
                let mut txn = null_mut();
                // SAFETY: live db, valid out-pointer.
                must(c_ok(unsafe { ts_txn_begin(db.0, &mut txn) }), || "ts_txn_begin".into());
                Snap::C(CTxn(txn))
            }
        }
    }

    /// Every point of metric `id` in a snapshot begun now and released before the cursor
    /// is read (the cursor keeps it alive).
    fn scan_fresh(&self, id: u64, batch: usize) -> R<Vec<(i64, u64)>> {
        match self {
            Db::Rust(db) => {
                let cursor = db.begin().scan(MetricId(id), i64::MIN, i64::MAX).map_err(from_rust)?;
                rust_drain(cursor, batch, false)
            }
            Db::C(db) => {
                let mut txn = null_mut();
                // SAFETY: live db, valid out-pointer.
                must(c_ok(unsafe { ts_txn_begin(db.0, &mut txn) }), || "ts_txn_begin".into());
                let txn = CTxn(txn);
                let mut cur: *mut ts_cursor = null_mut();
                // SAFETY: live snapshot, valid out-pointer.
                let st = unsafe { ts_scan_range(txn.0, id, i64::MIN, i64::MAX, &mut cur) };
                drop(txn); // released before the cursor is read
                c_ok(st)?;
                let out = c_drain(cur, batch, false);
                // SAFETY: the cursor came from ts_scan_range and is freed exactly once, here.
                unsafe { ts_cursor_free(cur) };
                out
            }
        }
    }

    /// Close; on failure, the database if it is still open (a live snapshot: `Busy`).
    fn close(self) -> Result<(), (Option<Db>, Fail)> {
        match self {
            Db::Rust(db) => db.close().map_err(|(db, e)| (db.map(Db::Rust), from_rust(e))),
            Db::C(db) => {
                // SAFETY: live db that no other thread uses any more (all workers joined).
                match unsafe { ts_close(db.0) } {
                    TS_BUSY => Err((Some(Db::C(db)), Fail::Busy(errmsg()))),
                    st => c_ok(st).map_err(|e| (None, e)),
                }
            }
        }
    }
}

/// Ranges of `adds` with one metric id each.
fn runs_of(adds: &[(u64, i64, f64)]) -> Vec<std::ops::Range<usize>> {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, a) in adds.iter().enumerate() {
        match runs.last_mut() {
            Some(r) if adds[r.start].0 == a.0 => r.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs
}

fn split(adds: &[(u64, i64, f64)]) -> (u64, Vec<i64>, Vec<f64>) {
    (adds[0].0, adds.iter().map(|a| a.1).collect(), adds.iter().map(|a| a.2).collect())
}

enum Snap {
    Rust(Arc<Snapshot>),
    C(CTxn),
}

impl Snap {
    fn lookup(&self, name: &str) -> R<u64> {
        match self {
            Snap::Rust(s) => s.lookup(name).map(|m| m.0).map_err(from_rust),
            Snap::C(t) => {
                let c = cstring(name);
                let mut id = 0;
                // SAFETY: live snapshot, NUL-terminated name, valid out-pointer.
                c_ok(unsafe { ts_metric_lookup(t.0, c.as_ptr(), &mut id) }).map(|()| id)
            }
        }
    }

    fn metric_count(&self) -> u64 {
        match self {
            Snap::Rust(s) => s.metric_count(),
            Snap::C(t) => {
                let mut n = 0;
                // SAFETY: live snapshot, valid out-pointer.
                must(c_ok(unsafe { ts_txn_metric_count(t.0, &mut n) }), || "ts_txn_metric_count".into());
                n
            }
        }
    }

    /// The metrics whose name starts with `prefix`, ascending id, read `cap` at a time.
    fn list(&self, prefix: &str, cap: usize) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        match self {
            Snap::Rust(s) => {
                let mut from = 0;
                loop {
                    let page: Vec<(u64, String)> = s
                        .metrics(MetricId(from))
                        .filter(|(_, n)| n.starts_with(prefix))
                        .take(cap)
                        .map(|(id, n)| (id.0, n.to_owned()))
                        .collect();
                    let Some(last) = page.last() else { break };
                    from = last.0 + 1;
                    out.extend(page);
                }
            }
            Snap::C(t) => {
                let p = cstring(prefix);
                let mut list: *mut ts_metric_list = null_mut();
                // SAFETY: live snapshot; NULL (every metric) or a NUL-terminated prefix;
                // valid out-pointer.
                let st = unsafe {
                    ts_metric_list_open(t.0, if prefix.is_empty() { null() } else { p.as_ptr() }, &mut list)
                };
                must(c_ok(st), || "ts_metric_list_open".into());
                let mut ids = vec![0u64; cap];
                let mut names = vec![null(); cap];
                loop {
                    let mut n = usize::MAX;
                    // SAFETY: live listing of this thread; `ids` and `names` hold `cap` elements.
                    let st = unsafe {
                        ts_metric_list_next(list, ids.as_mut_ptr(), names.as_mut_ptr(), cap, &mut n)
                    };
                    if st == TS_DONE {
                        assert_eq!(n, 0, "TS_DONE with *n_out = 0");
                        break;
                    }
                    must(c_ok(st), || "ts_metric_list_next".into());
                    assert!((1..=cap).contains(&n), "ts_metric_list_next gave {n} of at most {cap}");
                    for i in 0..n {
                        // SAFETY: the listing wrote `n` NUL-terminated names, valid until its
                        // next call; copied here.
                        let name =
                            unsafe { CStr::from_ptr(names[i]) }.to_str().expect("UTF-8 name").to_owned();
                        out.push((ids[i], name));
                    }
                }
                let mut n = usize::MAX;
                // SAFETY: as above.
                let st =
                    unsafe { ts_metric_list_next(list, ids.as_mut_ptr(), names.as_mut_ptr(), cap, &mut n) };
                assert_eq!((st, n), (TS_DONE, 0), "an exhausted listing stays exhausted");
                // SAFETY: the listing came from ts_metric_list_open and is freed exactly once.
                unsafe { ts_metric_list_free(list) };
            }
        }
        out
    }

    /// Metric `id`'s points in `[from, until)`, read `batch` at a time (or one by one).
    fn scan(&self, id: u64, from: i64, until: i64, batch: usize, one_by_one: bool) -> R<Vec<(i64, u64)>> {
        match self {
            Snap::Rust(s) => {
                rust_drain(s.scan(MetricId(id), from, until).map_err(from_rust)?, batch, one_by_one)
            }
            Snap::C(t) => {
                let mut cur: *mut ts_cursor = null_mut();
                // SAFETY: live snapshot, valid out-pointer.
                c_ok(unsafe { ts_scan_range(t.0, id, from, until, &mut cur) })?;
                let out = c_drain(cur, batch, one_by_one);
                // SAFETY: the cursor came from ts_scan_range and is freed exactly once, here.
                unsafe { ts_cursor_free(cur) };
                out
            }
        }
    }

    /// Every non-empty bucket of metric `id` over `[from, until)`, asked `cap` at a time and
    /// continued from the last bucket's end as the API says.
    fn aggregate(&self, id: u64, from: i64, until: i64, bucket: i64, cap: usize) -> R<Vec<Agg>> {
        let mut out: Vec<Agg> = Vec::new();
        let mut f = from;
        loop {
            let got = match self {
                Snap::Rust(s) => {
                    let mut v = Vec::new();
                    s.aggregate(MetricId(id), f, until, bucket, cap, &mut v).map_err(from_rust)?;
                    v
                }
                Snap::C(t) => {
                    let zero = ts_agg {
                        start: 0,
                        count: 0,
                        min: 0.0,
                        max: 0.0,
                        sum: 0.0,
                        first: 0.0,
                        last: 0.0,
                        first_ts: 0,
                        last_ts: 0,
                    };
                    let mut v = vec![zero; cap];
                    let mut n = usize::MAX;
                    // SAFETY: live snapshot; `v` holds `cap` elements; valid out-pointer.
                    let st = unsafe { ts_aggregate(t.0, id, f, until, bucket, v.as_mut_ptr(), cap, &mut n) };
                    if st != TS_OK {
                        assert_eq!(n, 0, "ts_aggregate: *n_out is 0 unless TS_OK");
                    }
                    c_ok(st)?;
                    v[..n]
                        .iter()
                        .map(|a| Agg {
                            start: a.start,
                            count: a.count,
                            min: a.min,
                            max: a.max,
                            sum: a.sum,
                            first: a.first,
                            last: a.last,
                            first_ts: a.first_ts,
                            last_ts: a.last_ts,
                        })
                        .collect()
                }
            };
            assert!(got.len() <= cap, "aggregate gave {} buckets of at most {cap}", got.len());
            let full = got.len() == cap;
            out.extend(got);
            if !full {
                break;
            }
            match out.last().and_then(|a| a.start.checked_add(bucket)) {
                Some(next) if next < until => f = next,
                _ => break,
            }
        }
        Ok(out)
    }
}

fn rust_drain(mut c: tsdb::Cursor, batch: usize, one_by_one: bool) -> R<Vec<(i64, u64)>> {
    let mut out = Vec::new();
    if one_by_one {
        for p in c.by_ref() {
            let (t, v) = p.map_err(from_rust)?;
            out.push((t, v.to_bits()));
        }
    } else {
        let (mut ts, mut vs) = (vec![0i64; batch], vec![0f64; batch]);
        loop {
            let n = c.next_batch(Some(&mut ts), Some(&mut vs)).map_err(from_rust)?;
            if n == 0 {
                break;
            }
            assert!(n <= batch);
            out.extend(ts[..n].iter().zip(&vs[..n]).map(|(t, v)| (*t, v.to_bits())));
        }
    }
    let (mut t, mut v) = ([0i64; 4], [0f64; 4]);
    assert_eq!(c.next_batch(Some(&mut t), Some(&mut v)), Ok(0), "an exhausted cursor stays exhausted");
    Ok(out)
}

fn c_drain(cur: *mut ts_cursor, batch: usize, one_by_one: bool) -> R<Vec<(i64, u64)>> {
    let mut out = Vec::new();
    let (mut ts, mut vs) = (vec![0i64; batch], vec![0f64; batch]);
    loop {
        if one_by_one {
            let (mut t, mut v) = (0i64, 0f64);
            // SAFETY: live cursor of this thread, valid out-pointers.
            match unsafe { ts_cursor_next(cur, &mut t, &mut v) } {
                TS_OK => out.push((t, v.to_bits())),
                TS_DONE => break,
                st => return Err(c_ok(st).unwrap_err()),
            }
        } else {
            let mut n = usize::MAX;
            // SAFETY: live cursor of this thread; `ts` and `vs` hold `batch` elements each.
            match unsafe { ts_cursor_next_batch(cur, ts.as_mut_ptr(), vs.as_mut_ptr(), batch, &mut n) } {
                TS_OK => {
                    assert!((1..=batch).contains(&n), "ts_cursor_next_batch gave {n} of at most {batch}");
                    out.extend(ts[..n].iter().zip(&vs[..n]).map(|(t, v)| (*t, v.to_bits())));
                }
                TS_DONE => {
                    assert_eq!(n, 0, "TS_DONE with *n_out = 0");
                    break;
                }
                st => return Err(c_ok(st).unwrap_err()),
            }
        }
    }
    let mut n = usize::MAX;
    // SAFETY: as above.
    let st = unsafe { ts_cursor_next_batch(cur, ts.as_mut_ptr(), vs.as_mut_ptr(), batch, &mut n) };
    assert_eq!((st, n), (TS_DONE, 0), "an exhausted cursor stays exhausted");
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Checks shared by readers, writers and reopens
// ---------------------------------------------------------------------------------------

type Points = Vec<(i64, u64)>;

fn ascending_unique(pts: &[(i64, u64)]) -> bool {
    pts.windows(2).all(|w| w[0].0 < w[1].0)
}

/// The points of `pts` (ascending) with `from <= ts < until`.
fn slice_of(pts: &[(i64, u64)], from: i64, until: i64) -> &[(i64, u64)] {
    let a = pts.partition_point(|p| p.0 < from);
    let b = pts.partition_point(|p| p.0 < until);
    &pts[a..b.max(a)]
}

/// A random scan range, mostly around the points of `pts`.
fn pick_range(rng: &mut Rng, pts: &[(i64, u64)]) -> (i64, i64) {
    if pts.is_empty() || rng.below(8) == 0 {
        return match rng.below(3) {
            0 => (i64::MIN, i64::MAX),
            1 => (0, 0),
            _ => (i64::MIN, i64::MIN + 2),
        };
    }
    let a = pts[rng.below(pts.len() as u64) as usize].0;
    let b = pts[rng.below(pts.len() as u64) as usize].0;
    let (lo, hi) = (a.min(b), a.max(b));
    let from = lo.saturating_sub(rng.below(3) as i64);
    let until = match rng.below(4) {
        0 => from,                                   // empty
        1 => i64::MAX,                               // to the end
        _ => hi.saturating_add(rng.below(3) as i64), // inclusive or not of `hi`
    };
    (from, until)
}

const BATCHES: [usize; 7] = [1, 2, 7, 64, 255, 1000, 5000];

fn pick_batch(rng: &mut Rng) -> usize {
    BATCHES[rng.below(BATCHES.len() as u64) as usize]
}

/// One bucket of a fold over points.
#[derive(Default)]
struct Fold {
    start: i64,
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
    first: u64,
    last: u64,
    first_ts: i64,
    last_ts: i64,
    /// Non-NaN values, and the sum of their magnitudes.
    valued: u64,
    magnitude: f64,
}

/// `aggs` equals a fold of `pts` (all of a metric's points, ascending) over `[from, until)`
/// by `bucket`, sums to rounding (they add per block).
fn check_aggregate(aggs: &[Agg], pts: &[(i64, u64)], from: i64, until: i64, bucket: i64, ctx: &str) {
    let mut want: Vec<Fold> = Vec::new();
    for &(t, bits) in slice_of(pts, from, until) {
        let v = f64::from_bits(bits);
        let start = (i128::from(from)
            + (i128::from(t) - i128::from(from)) / i128::from(bucket) * i128::from(bucket))
            as i64;
        if want.last().is_none_or(|w| w.start != start) {
            want.push(Fold {
                start,
                first: bits,
                first_ts: t,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                ..Fold::default()
            });
        }
        let w = want.last_mut().unwrap();
        w.count += 1;
        (w.last, w.last_ts) = (bits, t);
        if !v.is_nan() {
            (w.min, w.max, w.sum, w.valued, w.magnitude) =
                (w.min.min(v), w.max.max(v), w.sum + v, w.valued + 1, w.magnitude + v.abs());
        }
    }
    let ctx = format!("{ctx}: aggregate over [{from}, {until}) by {bucket}");
    assert_eq!(aggs.len(), want.len(), "{ctx}: buckets");
    let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a == b;
    for (g, w) in aggs.iter().zip(&want) {
        let (min, max, sum) =
            if w.valued == 0 { (f64::NAN, f64::NAN, f64::NAN) } else { (w.min, w.max, w.sum) };
        assert_eq!(
            (g.start, g.count, g.first_ts, g.last_ts),
            (w.start, w.count, w.first_ts, w.last_ts),
            "{ctx}"
        );
        assert_eq!((g.first.to_bits(), g.last.to_bits()), (w.first, w.last), "{ctx}: first/last");
        assert!(same(g.min, min) && same(g.max, max), "{ctx}: min/max {g:?} vs {min} {max}");
        if w.magnitude.is_finite() {
            let close = same(g.sum, sum) || (g.sum - sum).abs() <= 1e-9 * w.magnitude;
            assert!(close, "{ctx}: sum {} vs {sum}", g.sum);
        }
    }
}

/// Full scan, a range scan against it and sometimes an aggregate: the scan must be
/// ascending and unique, and equal `want` when given. Returns the full scan.
fn check_metric(
    snap: &Snap,
    id: u64,
    want: Option<&[(i64, u64)]>,
    rng: &mut Rng,
    c: &Counters,
    ctx: &str,
) -> Points {
    let pts = must(snap.scan(id, i64::MIN, i64::MAX, pick_batch(rng), rng.below(16) == 0), || {
        format!("{ctx}: scan of id {id}")
    });
    add(&c.scans, 1);
    assert!(ascending_unique(&pts), "{ctx}: scan of id {id} is not ascending and unique");
    match want {
        Some(w) => {
            if pts != w {
                panic!("{ctx}: id {id} differs from the model: {}", first_difference(&pts, w));
            }
            add(&c.points_verified, pts.len() as u64);
        }
        None => add(&c.points_scanned, pts.len() as u64),
    }
    for _ in 0..1 + rng.below(2) {
        let (from, until) = pick_range(rng, &pts);
        let got = must(snap.scan(id, from, until, pick_batch(rng), false), || {
            format!("{ctx}: range scan of id {id} over [{from}, {until})")
        });
        assert_eq!(got, slice_of(&pts, from, until), "{ctx}: range scan of id {id} over [{from}, {until})");
        add(&c.range_scans, 1);
    }
    if rng.below(3) == 0 {
        let (from, until) = pick_range(rng, &pts);
        let bucket = [1, 7, 64, 1000, 100_000, i64::MAX][rng.below(6) as usize];
        let cap = [1, 3, 64, 4096][rng.below(4) as usize];
        let aggs = must(snap.aggregate(id, from, until, bucket, cap), || {
            format!("{ctx}: aggregate of id {id} over [{from}, {until}) by {bucket}")
        });
        check_aggregate(&aggs, &pts, from, until, bucket, &format!("{ctx}: id {id}"));
        add(&c.aggregates, 1);
    }
    pts
}

fn first_difference(got: &[(i64, u64)], want: &[(i64, u64)]) -> String {
    let show = |p: Option<&(i64, u64)>| match p {
        Some((t, v)) => format!("({t}, {:?} = {v:#018x})", f64::from_bits(*v)),
        None => "nothing".to_string(),
    };
    let i = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    format!(
        "{} points, {} expected; first difference at index {i}: got {}, expected {}",
        got.len(),
        want.len(),
        show(got.get(i)),
        show(want.get(i))
    )
}

/// One writer's metrics as its model has them: name and, when live, id and points.
#[derive(Clone)]
struct View {
    w: usize,
    metrics: Vec<(String, Option<(u64, Points)>)>,
}

/// `snap` holds exactly `view`'s metrics: names resolve to the ids, dropped names to
/// nothing, the writer's listing is the live ones, every point is the model's.
fn check_view(snap: &Snap, view: &View, rng: &mut Rng, c: &Counters, ctx: &str) {
    for (name, cur) in &view.metrics {
        match cur {
            Some((id, pts)) => {
                let got = must(snap.lookup(name), || format!("{ctx}: lookup of {name}"));
                assert_eq!(got, *id, "{ctx}: {name} resolves to another id");
                check_metric(snap, *id, Some(pts.as_slice()), rng, c, &format!("{ctx}: {name}"));
            }
            None => must_fail(
                snap.lookup(name),
                |e| matches!(e, Fail::NotFound(_)),
                || format!("{ctx}: lookup of dropped {name}"),
            ),
        }
    }
    let mut live: Vec<(u64, String)> =
        view.metrics.iter().filter_map(|(n, cur)| cur.as_ref().map(|(id, _)| (*id, n.clone()))).collect();
    live.sort();
    let listed = snap.list(&format!("w{}.", view.w), 1 + rng.below(8) as usize);
    assert_eq!(listed, live, "{ctx}: listing of writer {}'s metrics", view.w);
}

// ---------------------------------------------------------------------------------------
// Shared state of one cycle
// ---------------------------------------------------------------------------------------

/// What a writer publishes for readers; lives across cycles.
#[derive(Default)]
struct Beat {
    /// Ids of its heartbeat and twin metrics (0 until created).
    hb_id: AtomicU64,
    twins: [AtomicU64; 2],
    /// The last heartbeat number whose write was started, and acknowledged.
    started: AtomicU64,
    acked: AtomicU64,
}

/// A snapshot a writer began, with its model at that instant.
struct Handoff {
    snap: Snap,
    view: View,
}

struct Ctx {
    db: Db,
    cfg: OpenCfg,
    stop: AtomicBool,
    /// Writers stop first: the cycle's quiet tail has checkpoints and readers only.
    writers_stop: AtomicBool,
    beats: Arc<Vec<Beat>>,
    counters: Arc<Counters>,
    /// Snapshots handed from writers to readers, and those verified once, kept to verify
    /// again (by any reader: threads share them) while everything else runs.
    handoffs: Mutex<VecDeque<Arc<Handoff>>>,
    verified: Mutex<VecDeque<Arc<Handoff>>>,
}

/// Sets `stop` if its thread unwinds, so the others end their cycle at once.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, SeqCst);
        }
    }
}

fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Relaxed) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        thread::sleep((end - now).min(Duration::from_millis(5)));
    }
}

// ---------------------------------------------------------------------------------------
// Writers
// ---------------------------------------------------------------------------------------

type Model = BTreeMap<i64, u64>;

struct Slot {
    name: String,
    /// Id and points while the metric is live.
    cur: Option<(u64, Model)>,
    /// Newest "in-order" timestamp written; goes on across re-creates.
    clock: i64,
    /// Left alone (not written, deleted, dropped or created) until this heartbeat number:
    /// quiet metrics while checkpoints go on, changed last maybe just as one began.
    rest_until: u64,
}

struct WriterState {
    w: usize,
    rng: Rng,
    hb_name: String,
    hb_id: u64,
    /// Heartbeat points `hb_floor..hb_next` are in the database.
    hb_floor: u64,
    hb_next: u64,
    twin_names: [String; 2],
    twin_ids: [u64; 2],
    twins: Model,
    slots: Vec<Slot>,
    /// Ids this writer dropped (the latest few).
    dead: Vec<u64>,
    last_id: u64,
}

fn next_value(rng: &mut Rng, clock: i64) -> f64 {
    match rng.below(24) {
        0 => f64::from_bits(0x7ff8_0000_0000_0000 | rng.below(1 << 50)), // quiet NaN payloads
        1 => f64::from_bits(0xfff0_0000_0000_0000 | (1 + rng.below((1 << 51) - 1))), // signalling
        2 => f64::INFINITY,
        3 => f64::NEG_INFINITY,
        4 => -0.0,
        5 | 6 => f64::from_bits(rng.next_u64()),
        7..=14 => (rng.below(100_000) as f64) / 100.0, // two decimals
        15..=18 => ((clock % 1000) as f64 * 0.01).sin() * 50.0 + 50.0,
        _ => (clock / 7) as f64, // runs of equal values
    }
}

/// A timestamp near `clock`: mostly ascending, some late, duplicate, far in the past or
/// extreme.
fn next_ts(rng: &mut Rng, clock: &mut i64) -> i64 {
    match rng.below(1000) {
        0 => EXTREMES[rng.below(EXTREMES.len() as u64) as usize],
        1..=599 => {
            *clock += 1 + rng.below(3) as i64;
            *clock
        }
        600..=799 => *clock - rng.below(64) as i64, // late or duplicate
        800..=899 => *clock - rng.below(6000) as i64, // into sealed partitions
        900..=949 => rng.below(4000) as i64 - 2000, // far in the past
        _ => *clock,                                // duplicate of the newest
    }
}

impl WriterState {
    fn new(w: usize, seed: u64) -> WriterState {
        WriterState {
            w,
            rng: Rng::new(seed, 100 + w as u64),
            hb_name: format!("w{w}.hb"),
            hb_id: 0,
            hb_floor: 1,
            hb_next: 1,
            twin_names: [format!("w{w}.pa"), format!("w{w}.pb")],
            twin_ids: [0, 0],
            twins: Model::new(),
            slots: (0..SLOTS)
                .map(|j| Slot { name: format!("w{w}.m{j}"), cur: None, clock: 1_000_000, rest_until: 0 })
                .collect(),
            dead: Vec::new(),
            last_id: 0,
        }
    }

    fn view(&self) -> View {
        let hb = (self.hb_floor..self.hb_next).map(|k| (k as i64, (k as f64).to_bits())).collect();
        let mut metrics = vec![(self.hb_name.clone(), Some((self.hb_id, hb)))];
        let twins: Points = self.twins.iter().map(|(t, v)| (*t, *v)).collect();
        for i in 0..2 {
            metrics.push((self.twin_names[i].clone(), Some((self.twin_ids[i], twins.clone()))));
        }
        for s in &self.slots {
            metrics.push((
                s.name.clone(),
                s.cur.as_ref().map(|(id, m)| (*id, m.iter().map(|(t, v)| (*t, *v)).collect())),
            ));
        }
        View { w: self.w, metrics }
    }

    /// Create `name`, which must be new: ids only grow.
    fn create(&mut self, ctx: &Ctx, name: &str) -> u64 {
        let id = must(ctx.db.create(name), || format!("w{}: create {name}", self.w));
        assert!(
            id > self.last_id,
            "w{}: {name} got id {id}, not above {} created earlier",
            self.w,
            self.last_id
        );
        self.last_id = id;
        add(&ctx.counters.creates, 1);
        id
    }

    fn setup(&mut self, ctx: &Ctx) {
        let beat = &ctx.beats[self.w];
        self.hb_id = self.create(ctx, &self.hb_name.clone());
        for i in 0..2 {
            self.twin_ids[i] = self.create(ctx, &self.twin_names[i].clone());
            beat.twins[i].store(self.twin_ids[i], SeqCst);
        }
        beat.hb_id.store(self.hb_id, SeqCst);
        for j in 0..SLOTS {
            let id = self.create(ctx, &self.slots[j].name.clone());
            self.slots[j].cur = Some((id, Model::new()));
        }
    }

    fn run(&mut self, ctx: &Ctx) {
        let _guard = StopOnPanic(&ctx.stop);
        if self.hb_id == 0 {
            self.setup(ctx);
        }
        let mut cb = None;
        while !ctx.stop.load(Relaxed) && !ctx.writers_stop.load(Relaxed) {
            self.step(ctx, &mut cb);
        }
    }

    /// One op, then its heartbeat.
    fn step(&mut self, ctx: &Ctx, cb: &mut Option<CBatch>) {
        let c = &*ctx.counters;
        add(if ctx.db.is_c() { &c.ops_c } else { &c.ops_rust }, 1);
        let k = self.hb_next;
        let beat = &ctx.beats[self.w];
        let mut hb_written = false;
        if self.rng.below(150) == 0 {
            let j = self.rng.below(SLOTS as u64) as usize;
            self.slots[j].rest_until = k + 50 + self.rng.below(3000);
            add(&c.rests, 1);
        }
        match self.rng.below(1000) {
            0..=249 => self.op_insert(ctx),
            250..=529 => self.op_insert_batch(ctx),
            530..=679 => hb_written = self.op_commit(ctx, cb, k),
            680..=729 => self.op_delete(ctx),
            730..=749 => self.op_drop_or_create(ctx),
            750..=757 => self.op_retention_window(ctx),
            758..=799 => self.op_handoff(ctx),
            800..=824 => self.op_readback(ctx),
            825..=849 => self.op_errors(ctx),
            _ => self.op_insert_batch(ctx),
        }
        if !hb_written {
            beat.started.store(k, SeqCst);
            must(ctx.db.insert(self.hb_id, k as i64, k as f64), || format!("w{}: heartbeat {k}", self.w));
            add(&c.heartbeats, 1);
            add(&c.points_written, 1);
        }
        self.hb_next = k + 1;
        beat.acked.store(k, SeqCst);
        if k.is_multiple_of(HB_TRIM) && k > HB_KEEP {
            let floor = k + 1 - HB_KEEP;
            must(ctx.db.delete_range(self.hb_id, i64::MIN, floor as i64), || {
                format!("w{}: heartbeat trim", self.w)
            });
            self.hb_floor = self.hb_floor.max(floor);
            add(&c.trims, 1);
        }
    }

    fn resting(&self, j: usize) -> bool {
        self.hb_next < self.slots[j].rest_until
    }

    /// A live slot, or `None` after re-creating a dropped one or finding it resting (the op
    /// is then spent).
    fn live_slot(&mut self, ctx: &Ctx) -> Option<usize> {
        let j = self.rng.below(SLOTS as u64) as usize;
        if self.resting(j) {
            return None;
        }
        if self.slots[j].cur.is_some() {
            return Some(j);
        }
        let id = self.create(ctx, &self.slots[j].name.clone());
        self.slots[j].cur = Some((id, Model::new()));
        None
    }

    fn op_insert(&mut self, ctx: &Ctx) {
        let Some(j) = self.live_slot(ctx) else { return };
        let s = &mut self.slots[j];
        let t = next_ts(&mut self.rng, &mut s.clock);
        let v = next_value(&mut self.rng, t);
        let (id, m) = s.cur.as_mut().unwrap();
        must(ctx.db.insert(*id, t, v), || format!("w{}: insert into {} ({t})", self.w, s.name));
        m.insert(t, v.to_bits());
        add(&ctx.counters.inserts, 1);
        add(&ctx.counters.points_written, 1);
        self.bound(ctx, j);
    }

    fn op_insert_batch(&mut self, ctx: &Ctx) {
        let Some(j) = self.live_slot(ctx) else { return };
        let n = match self.rng.below(10) {
            0 => 1 + self.rng.below(1500) as usize,
            _ => 1 + self.rng.below(100) as usize,
        };
        let s = &mut self.slots[j];
        let mut ts = Vec::with_capacity(n);
        for i in 0..n {
            // Duplicates within the call: the later one wins.
            let t = if i > 0 && self.rng.below(10) == 0 {
                ts[self.rng.below(i as u64) as usize]
            } else {
                next_ts(&mut self.rng, &mut s.clock)
            };
            ts.push(t);
        }
        let vs: Vec<f64> = ts.iter().map(|t| next_value(&mut self.rng, *t)).collect();
        let (id, m) = s.cur.as_mut().unwrap();
        must(ctx.db.insert_batch(*id, &ts, &vs), || {
            format!("w{}: insert_batch into {} ({n} points)", self.w, s.name)
        });
        for (t, v) in ts.iter().zip(&vs) {
            m.insert(*t, v.to_bits());
        }
        add(&ctx.counters.batch_inserts, 1);
        add(&ctx.counters.points_written, n as u64);
        self.bound(ctx, j);
    }

    /// A multi-metric batch: some data metrics, the twins (the same points in both) and
    /// the heartbeat; sometimes also a dropped metric, and then nothing may be written.
    /// Returns whether the heartbeat went in with it.
    fn op_commit(&mut self, ctx: &Ctx, cb: &mut Option<CBatch>, k: u64) -> bool {
        let mut adds: Vec<(u64, i64, f64)> = Vec::new();
        let mut touched: Vec<usize> = Vec::new();
        for j in 0..SLOTS {
            if self.slots[j].cur.is_some() && !self.resting(j) && self.rng.below(2) == 0 {
                touched.push(j);
                let s = &mut self.slots[j];
                let id = s.cur.as_ref().unwrap().0;
                for _ in 0..1 + self.rng.below(30) {
                    let t = next_ts(&mut self.rng, &mut s.clock);
                    adds.push((id, t, next_value(&mut self.rng, t)));
                }
            }
        }
        let mut twin_pts = Vec::new();
        for _ in 0..1 + self.rng.below(20) {
            let t = self.rng.below(TWIN_SPAN) as i64;
            twin_pts.push((t, next_value(&mut self.rng, t)));
        }
        if self.rng.below(4) == 0 && !twin_pts.is_empty() {
            twin_pts.push(twin_pts[0]); // a duplicate within the batch
            twin_pts.last_mut().unwrap().1 = -1.5;
        }
        let twins: Vec<(u64, i64, f64)> =
            self.twin_ids.iter().flat_map(|&id| twin_pts.iter().map(move |&(t, v)| (id, t, v))).collect();
        adds.extend(twins);
        adds.push((self.hb_id, k as i64, k as f64));
        let refused = !self.dead.is_empty() && self.rng.below(10) == 0;
        if refused {
            let dead = self.dead[self.rng.below(self.dead.len() as u64) as usize];
            let at = self.rng.below(adds.len() as u64 + 1) as usize;
            adds.insert(at, (dead, 5, 5.0));
        } else if self.rng.below(3) == 0 {
            adds = interleave(&mut self.rng, &adds);
        }
        let many = self.rng.below(2) == 0;
        ctx.beats[self.w].started.store(k, SeqCst);
        let res = ctx.db.commit(&adds, many, cb);
        let c = &*ctx.counters;
        if refused {
            must_fail(
                res,
                |e| matches!(e, Fail::NotFound(_)),
                || format!("w{}: commit naming a dropped id", self.w),
            );
            add(&c.commits_refused, 1);
            return false;
        }
        must(res, || format!("w{}: commit of {} points", self.w, adds.len()));
        for &(id, t, v) in &adds {
            if id == self.hb_id {
                continue;
            }
            if self.twin_ids.contains(&id) {
                self.twins.insert(t, v.to_bits());
                continue;
            }
            let s = self.slots.iter_mut().find(|s| s.cur.as_ref().is_some_and(|c| c.0 == id)).unwrap();
            s.cur.as_mut().unwrap().1.insert(t, v.to_bits());
        }
        add(&c.commits, 1);
        add(&c.points_written, adds.len() as u64);
        for j in touched {
            self.bound(ctx, j);
        }
        true
    }

    fn op_delete(&mut self, ctx: &Ctx) {
        let Some(j) = self.live_slot(ctx) else { return };
        let s = &mut self.slots[j];
        let (id, m) = s.cur.as_mut().unwrap();
        let (from, until) = match self.rng.below(20) {
            0 => (i64::MIN, i64::MAX),
            1 => (s.clock, s.clock), // deletes nothing
            2 => {
                let r = ctx.db.delete_range(*id, s.clock, s.clock - 1);
                must_fail(
                    r,
                    |e| matches!(e, Fail::Invalid(_)),
                    || format!("w{}: delete with from > until", self.w),
                );
                add(&ctx.counters.error_checks, 1);
                return;
            }
            _ => {
                let a = s.clock - self.rng.below(8000) as i64;
                (a, a + self.rng.below(3000) as i64)
            }
        };
        must(ctx.db.delete_range(*id, from, until), || {
            format!("w{}: delete [{from}, {until}) of {}", self.w, s.name)
        });
        m.retain(|t, _| *t < from || *t >= until);
        add(&ctx.counters.deletes, 1);
    }

    fn op_drop_or_create(&mut self, ctx: &Ctx) {
        let j = self.rng.below(SLOTS as u64) as usize;
        if self.resting(j) {
            return;
        }
        match self.slots[j].cur.take() {
            Some((id, _)) => {
                must(ctx.db.drop_metric(id), || format!("w{}: drop {}", self.w, self.slots[j].name));
                self.dead.push(id);
                if self.dead.len() > 16 {
                    self.dead.remove(0);
                }
                add(&ctx.counters.drops, 1);
            }
            None => {
                let id = self.create(ctx, &self.slots[j].name.clone());
                self.slots[j].cur = Some((id, Model::new()));
            }
        }
    }

    /// Keep a data metric's model under `MAX_POINTS`: delete its older half.
    fn bound(&mut self, ctx: &Ctx, j: usize) {
        let s = &mut self.slots[j];
        let Some((id, m)) = s.cur.as_mut() else { return };
        if m.len() <= MAX_POINTS {
            return;
        }
        let cut = *m.keys().nth(m.len() / 2).unwrap();
        must(ctx.db.delete_range(*id, i64::MIN, cut), || format!("w{}: trim of {}", self.w, s.name));
        *m = m.split_off(&cut);
        add(&ctx.counters.trims, 1);
    }

    /// Set a retention span on one metric, write enough in-order points to seal a few
    /// partitions (the background pass or `enforce_retention` drops the old ones), reset
    /// the span, then read the cut off a fresh snapshot: what is gone must be exactly the
    /// model's points before the first one left, each past the span.
    ///
    /// Why the cut is a prefix: retention deletes `[MIN, cut)` with `cut` at most the
    /// newest sealed timestamp minus the span, and every point written during the window is
    /// newer than everything before it, so no point written after a drop lies below its cut.
    fn op_retention_window(&mut self, ctx: &Ctx) {
        let Some(j) = self.live_slot(ctx) else { return };
        let p = i64::from(ctx.cfg.partition_points);
        let c = &*ctx.counters;
        let s = &mut self.slots[j];
        let (id, m) = s.cur.as_mut().unwrap();
        let newest = m.keys().next_back().copied().unwrap_or(i64::MIN).max(s.clock);
        if newest > i64::MAX / 2 {
            return; // an extreme timestamp: no room after it
        }
        let span = p / 2 + self.rng.below(3 * p as u64) as i64;
        let w = self.w;
        must(ctx.db.set_retention(*id, span), || format!("w{w}: set_retention({span}) of {}", s.name));
        let total = 2 * p + self.rng.below(3 * p as u64) as i64;
        let mut t = newest;
        let mut written = 0;
        let enforce_at = if self.rng.below(2) == 0 { self.rng.below(total as u64) as i64 } else { -1 };
        while written < total {
            let n = (1 + self.rng.below(p as u64) as i64).min(total - written);
            let ts: Vec<i64> = (0..n)
                .map(|_| {
                    t += 1 + self.rng.below(2) as i64;
                    t
                })
                .collect();
            let vs: Vec<f64> = ts.iter().map(|t| next_value(&mut self.rng, *t)).collect();
            must(ctx.db.insert_batch(*id, &ts, &vs), || {
                format!("w{w}: retention window write to {}", s.name)
            });
            for (t, v) in ts.iter().zip(&vs) {
                m.insert(*t, v.to_bits());
            }
            add(&c.points_written, n as u64);
            add(&c.batch_inserts, 1);
            if (written..written + n).contains(&enforce_at) {
                let dropped = must(ctx.db.enforce_retention(), || format!("w{w}: enforce_retention"));
                add(&c.retention_partitions, dropped);
                add(&c.enforce_calls, 1);
            }
            written += n;
        }
        s.clock = t;
        let reset = if self.rng.below(2) == 0 { 0 } else { -1 };
        must(ctx.db.set_retention(*id, reset), || format!("w{w}: set_retention({reset}) of {}", s.name));
        let got =
            must(ctx.db.scan_fresh(*id, pick_batch(&mut self.rng)), || format!("w{w}: scan of {}", s.name));
        let newest = *m.keys().next_back().unwrap();
        let cut = got.first().map_or(i64::MAX, |p| p.0);
        let kept = m.split_off(&cut);
        let dropped = std::mem::replace(m, kept);
        if let Some((&last, _)) = dropped.iter().next_back() {
            assert!(
                last < newest.saturating_sub(span),
                "w{w}: retention with span {span} dropped ts {last} of {} (id {id}), not older than the newest \
                 point {newest} minus the span",
                s.name
            );
        }
        let want: Points = m.iter().map(|(t, v)| (*t, *v)).collect();
        if got != want {
            panic!(
                "w{w}: {} (id {id}) after a retention window (span {span}): {}",
                s.name,
                first_difference(&got, &want)
            );
        }
        add(&c.points_verified, want.len() as u64);
        add(&c.retention_windows, 1);
        if !dropped.is_empty() {
            add(&c.retention_cut, 1);
            add(&c.retention_points, dropped.len() as u64);
        }
        self.bound(ctx, j);
    }

    fn op_handoff(&mut self, ctx: &Ctx) {
        let queued = ctx.handoffs.lock().unwrap().len();
        if queued >= 2 * ctx.beats.len() {
            return;
        }
        let snap = ctx.db.begin();
        let h = Arc::new(Handoff { snap, view: self.view() });
        ctx.handoffs.lock().unwrap().push_back(h);
        add(&ctx.counters.handoffs, 1);
    }

    fn op_readback(&mut self, ctx: &Ctx) {
        let view = self.view();
        let (name, cur) = &view.metrics[self.rng.below(view.metrics.len() as u64) as usize];
        let Some((id, want)) = cur else { return };
        let got = must(ctx.db.scan_fresh(*id, pick_batch(&mut self.rng)), || {
            format!("w{}: read-back of {name}", self.w)
        });
        if &got != want {
            panic!("w{}: read-back of {name} (id {id}): {}", self.w, first_difference(&got, want));
        }
        add(&ctx.counters.readbacks, 1);
        add(&ctx.counters.points_verified, got.len() as u64);
    }

    /// Calls that must fail, and change nothing.
    fn op_errors(&mut self, ctx: &Ctx) {
        let w = self.w;
        let db = &ctx.db;
        let not_found = |e: &Fail| matches!(e, Fail::NotFound(_));
        let invalid = |e: &Fail| matches!(e, Fail::Invalid(_));
        let dead = if self.dead.is_empty() {
            None
        } else {
            Some(self.dead[self.rng.below(self.dead.len() as u64) as usize])
        };
        let live = self.slots.iter().position(|s| s.cur.is_some());
        match self.rng.below(8) {
            0 if dead.is_some() => {
                must_fail(db.insert(dead.unwrap(), 1, 1.0), not_found, || format!("w{w}: insert, dropped id"))
            }
            1 if dead.is_some() => {
                must_fail(db.insert_batch(dead.unwrap(), &[1, 2], &[1.0, 2.0]), not_found, || {
                    format!("w{w}: batch, dropped id")
                })
            }
            2 if dead.is_some() => {
                must_fail(db.delete_range(dead.unwrap(), 0, 10), not_found, || {
                    format!("w{w}: delete, dropped id")
                });
                must_fail(db.drop_metric(dead.unwrap()), not_found, || format!("w{w}: drop, dropped id"));
                must_fail(db.set_retention(dead.unwrap(), 5), not_found, || {
                    format!("w{w}: retention, dropped id")
                });
            }
            3 if live.is_some() => {
                let s = &self.slots[live.unwrap()];
                let id = s.cur.as_ref().unwrap().0;
                match db.create(&s.name) {
                    Err(Fail::Exists(got)) => {
                        assert_eq!(got, id, "w{w}: create of existing {} names its id", s.name)
                    }
                    other => panic!("w{w}: create of existing {}: {other:?}", s.name),
                }
            }
            4 if live.is_some() => {
                let id = self.slots[live.unwrap()].cur.as_ref().unwrap().0;
                must_fail(db.insert(id, i64::MAX, 1.0), invalid, || format!("w{w}: insert at INT64_MAX"));
                must_fail(db.insert_batch(id, &[5, i64::MAX], &[1.0, 2.0]), invalid, || {
                    format!("w{w}: batch with INT64_MAX")
                });
                must_fail(db.insert_batch(id, &[], &[]), invalid, || format!("w{w}: empty batch"));
            }
            5 => must_fail(db.create(""), invalid, || format!("w{w}: create with an empty name")),
            6 => {
                must_fail(db.insert(u64::MAX - 1, 1, 1.0), not_found, || format!("w{w}: insert, unknown id"))
            }
            _ => return,
        }
        add(&ctx.counters.error_checks, 1);
    }
}

/// `adds` with the metrics interleaved at random, each metric's points in their order (which
/// decides which of two points with one timestamp wins).
fn interleave(rng: &mut Rng, adds: &[(u64, i64, f64)]) -> Vec<(u64, i64, f64)> {
    let mut queues: BTreeMap<u64, VecDeque<(u64, i64, f64)>> = BTreeMap::new();
    for a in adds {
        queues.entry(a.0).or_default().push_back(*a);
    }
    let mut queues: Vec<VecDeque<(u64, i64, f64)>> = queues.into_values().collect();
    let mut out = Vec::with_capacity(adds.len());
    while !queues.is_empty() {
        let i = rng.below(queues.len() as u64) as usize;
        out.push(queues[i].pop_front().unwrap());
        if queues[i].is_empty() {
            queues.swap_remove(i);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Readers
// ---------------------------------------------------------------------------------------

/// A reader's own snapshot and what it read from it.
struct Held {
    snap: Snap,
    scans: Vec<(u64, Points)>,
}

fn reader(ctx: &Ctx, mut rng: Rng) {
    let _guard = StopOnPanic(&ctx.stop);
    let c = &*ctx.counters;
    let mut held: VecDeque<Held> = VecDeque::new();
    while !ctx.stop.load(Relaxed) {
        match rng.below(10) {
            0..=3 => {
                let h = ctx.handoffs.lock().unwrap().pop_front();
                let Some(h) = h else { continue };
                check_view(&h.snap, &h.view, &mut rng, c, &format!("handed-over snapshot of w{}", h.view.w));
                add(&c.handoffs_verified, 1);
                let mut v = ctx.verified.lock().unwrap();
                v.push_back(h);
                if v.len() > 4 {
                    v.pop_front();
                }
            }
            4..=7 => {
                let h = own_snapshot(ctx, &mut rng);
                held.push_back(h);
                if held.len() > 3 {
                    rescan(&held.pop_front().unwrap(), &mut rng, c);
                }
            }
            8 => {
                if let Some(h) = held.pop_front() {
                    rescan(&h, &mut rng, c);
                    held.push_back(h);
                }
            }
            _ => {
                let v = ctx.verified.lock().unwrap();
                let h = if v.is_empty() { None } else { Some(v[rng.below(v.len() as u64) as usize].clone()) };
                drop(v);
                let Some(h) = h else { continue };
                check_view(
                    &h.snap,
                    &h.view,
                    &mut rng,
                    c,
                    &format!("handed-over snapshot of w{}, again", h.view.w),
                );
                add(&c.handoffs_reverified, 1);
            }
        }
    }
}

fn rescan(h: &Held, rng: &mut Rng, c: &Counters) {
    for (id, want) in &h.scans {
        let got = must(h.snap.scan(*id, i64::MIN, i64::MAX, pick_batch(rng), false), || {
            format!("rescan of id {id}")
        });
        if &got != want {
            panic!("a snapshot changed: id {id} scanned again: {}", first_difference(&got, want));
        }
        add(&c.points_scanned, got.len() as u64);
    }
    add(&c.reader_rescans, 1);
}

/// Begin a snapshot and check what it promises without a model: every acknowledged
/// heartbeat and none not yet started, twins equal, listing consistent, scans ascending,
/// range scans and aggregates agreeing with full scans.
fn own_snapshot(ctx: &Ctx, rng: &mut Rng) -> Held {
    let c = &*ctx.counters;
    let ids: Vec<(u64, [u64; 2])> = ctx
        .beats
        .iter()
        .map(|b| (b.hb_id.load(SeqCst), [b.twins[0].load(SeqCst), b.twins[1].load(SeqCst)]))
        .collect();
    let acked: Vec<u64> = ctx.beats.iter().map(|b| b.acked.load(SeqCst)).collect();
    let snap = ctx.db.begin();
    let started: Vec<u64> = ctx.beats.iter().map(|b| b.started.load(SeqCst)).collect();
    let mut scans = Vec::new();
    for (w, (hb, twins)) in ids.iter().enumerate() {
        if *hb == 0 {
            continue; // not created yet when the snapshot began
        }
        let pts =
            must(snap.scan(*hb, i64::MIN, i64::MAX, pick_batch(rng), false), || format!("heartbeat of w{w}"));
        for (i, &(t, v)) in pts.iter().enumerate() {
            assert_eq!(t, pts[0].0 + i as i64, "w{w}'s heartbeat has a gap: {pts:?}");
            assert_eq!(v, (t as f64).to_bits(), "w{w}'s heartbeat {t} has value {:?}", f64::from_bits(v));
        }
        let hi = pts.last().map_or(0, |p| p.0 as u64);
        assert!(
            hi >= acked[w],
            "a snapshot misses w{w}'s heartbeat {} acknowledged before it began (it sees up to {hi})",
            acked[w]
        );
        assert!(
            hi <= started[w],
            "a snapshot sees w{w}'s heartbeat {hi}, not started when it began ({})",
            started[w]
        );
        add(&c.heartbeat_checks, 1);
        add(&c.points_scanned, pts.len() as u64);
        let a = must(snap.scan(twins[0], i64::MIN, i64::MAX, pick_batch(rng), false), || {
            format!("twin a of w{w}")
        });
        let b = must(snap.scan(twins[1], i64::MIN, i64::MAX, pick_batch(rng), false), || {
            format!("twin b of w{w}")
        });
        if a != b {
            panic!("w{w}'s twins differ: an atomic batch was seen in part: {}", first_difference(&a, &b));
        }
        add(&c.twin_checks, 1);
        add(&c.points_scanned, 2 * a.len() as u64);
        scans.push((*hb, pts));
        scans.push((twins[0], a));
    }
    let count = snap.metric_count();
    let all = snap.list(if rng.below(2) == 0 { "" } else { "w" }, 1 + rng.below(16) as usize);
    assert_eq!(all.len() as u64, count, "listing vs metric count");
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "listing ascends by id");
    for _ in 0..3.min(all.len()) {
        let (id, name) = &all[rng.below(all.len() as u64) as usize];
        assert_eq!(
            must(snap.lookup(name), || format!("lookup of listed {name}")),
            *id,
            "{name} resolves to its id"
        );
        let pts = check_metric(&snap, *id, None, rng, c, "reader snapshot");
        scans.push((*id, pts));
    }
    add(&c.reader_snapshots, 1);
    Held { snap, scans }
}

// ---------------------------------------------------------------------------------------
// Maintenance
// ---------------------------------------------------------------------------------------

fn maintainer(ctx: &Ctx, mut rng: Rng) {
    let _guard = StopOnPanic(&ctx.stop);
    let c = &*ctx.counters;
    let mut last_check = Instant::now();
    while !ctx.stop.load(Relaxed) {
        if ctx.writers_stop.load(Relaxed) {
            // The quiet tail: checkpoints back to back, racing the background ones.
            sleep_unless_stopped(&ctx.stop, Duration::from_millis(rng.below(20)));
            must(ctx.db.checkpoint(), || "checkpoint in the quiet tail".into());
            add(&c.checkpoints, 1);
            continue;
        }
        sleep_unless_stopped(&ctx.stop, Duration::from_millis(10 + rng.below(120)));
        match rng.below(10) {
            0..=5 => {
                must(ctx.db.checkpoint(), || "checkpoint".into());
                add(&c.checkpoints, 1);
            }
            6 => {
                add(&c.retention_partitions, must(ctx.db.enforce_retention(), || "enforce_retention".into()));
                add(&c.enforce_calls, 1);
            }
            7 => {
                must(ctx.db.stats(), || "stats".into());
                add(&c.stats_calls, 1);
            }
            _ if last_check.elapsed() >= Duration::from_secs(1) => {
                if let Err(damage) = ctx.db.check() {
                    panic!("check while writers run: {damage}");
                }
                add(&c.live_checks, 1);
                last_check = Instant::now();
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

/// After a reopen: the database equals the writers' models exactly, and `check` finds
/// no damage.
fn verify_all(db: &Db, states: &[WriterState], rng: &mut Rng, c: &Counters) -> Checked {
    let views: Vec<View> = states.iter().map(WriterState::view).collect();
    let snap = db.begin();
    let mut live: Vec<(u64, String)> = views
        .iter()
        .flat_map(|v| v.metrics.iter().filter_map(|(n, cur)| cur.as_ref().map(|(id, _)| (*id, n.clone()))))
        .collect();
    live.sort();
    assert_eq!(snap.metric_count(), live.len() as u64, "metrics after reopen");
    assert_eq!(snap.list("", 1 + rng.below(64) as usize), live, "listing after reopen");
    for v in &views {
        check_view(&snap, v, rng, c, "after reopen");
    }
    drop(snap);
    let checked = db.check().unwrap_or_else(|damage| panic!("check after reopen: {damage}"));
    assert_eq!(checked.metrics, live.len() as u64, "metrics the check walked");
    checked
}

struct Summary {
    elapsed: Duration,
    cycles: u64,
    last_check: Checked,
}

fn run(cfg: &Config, dir: &Path, cycle_no: &AtomicU64, counters: &Arc<Counters>) -> Summary {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(cfg.secs);
    let beats: Arc<Vec<Beat>> = Arc::new((0..cfg.writers).map(|_| Beat::default()).collect());
    let mut states: Vec<WriterState> = (0..cfg.writers).map(|w| WriterState::new(w, cfg.seed)).collect();
    let mut rng = Rng::new(cfg.seed, 1);
    let mut last_check = Checked::default();
    let mut cycle = 0u64;
    loop {
        cycle_no.store(cycle, SeqCst);
        let ocfg = OpenCfg::pick(&mut rng, cycle % 2 == 1);
        let opened = Instant::now();
        let db = Db::open(dir, &ocfg);
        let open_ms = opened.elapsed().as_millis();
        if cycle > 0 {
            let verified_before = counters.points_verified.load(Relaxed);
            last_check = verify_all(&db, &states, &mut rng, counters);
            add(&counters.reopens, 1);
            add(&counters.reopens_c, u64::from(db.is_c()));
            println!(
                "soak: {:>6.1} s  cycle {cycle}: reopened ({}) in {open_ms} ms; {} points verified; check: {} \
                 metrics, {} partitions, {} extents, {} points, {} segments",
                start.elapsed().as_secs_f64(),
                ocfg.describe(),
                counters.points_verified.load(Relaxed) - verified_before,
                last_check.metrics,
                last_check.partitions,
                last_check.extents,
                last_check.points,
                last_check.segments
            );
        } else {
            println!("soak: cycle 0: opened ({})", ocfg.describe());
        }
        if cycle > 0 && Instant::now() >= deadline {
            must(db.close().map_err(|(_, e)| e), || "final close".into());
            return Summary { elapsed: start.elapsed(), cycles: cycle, last_check };
        }
        let ctx = Arc::new(Ctx {
            db,
            cfg: ocfg,
            stop: AtomicBool::new(false),
            writers_stop: AtomicBool::new(false),
            beats: beats.clone(),
            counters: counters.clone(),
            handoffs: Mutex::new(VecDeque::new()),
            verified: Mutex::new(VecDeque::new()),
        });
        let writers: Vec<_> = std::mem::take(&mut states)
            .into_iter()
            .map(|mut st| {
                let ctx = ctx.clone();
                thread::Builder::new()
                    .name(format!("soak-writer-{}", st.w))
                    .spawn(move || {
                        st.run(&ctx);
                        st
                    })
                    .unwrap()
            })
            .collect();
        let readers: Vec<_> = (0..cfg.readers)
            .map(|r| {
                let (ctx, rng) = (ctx.clone(), Rng::new(cfg.seed ^ (cycle << 32), 200 + r as u64));
                thread::Builder::new()
                    .name(format!("soak-reader-{r}"))
                    .spawn(move || reader(&ctx, rng))
                    .unwrap()
            })
            .collect();
        let maint = {
            let (ctx, rng) = (ctx.clone(), Rng::new(cfg.seed ^ (cycle << 32), 300));
            thread::Builder::new()
                .name("soak-maintainer".into())
                .spawn(move || maintainer(&ctx, rng))
                .unwrap()
        };
        let until = (Instant::now() + cfg.cycle).min(deadline);
        sleep_unless_stopped(&ctx.stop, until.saturating_duration_since(Instant::now()));
        ctx.writers_stop.store(true, SeqCst);
        let mut panicked = None;
        for h in writers {
            match h.join() {
                Ok(st) => states.push(st),
                Err(e) => panicked = panicked.or(Some(e)),
            }
        }
        // A quiet tail: no writes, checkpoints (explicit and background) and readers go on.
        sleep_unless_stopped(&ctx.stop, Duration::from_millis(20 + rng.below(300)));
        ctx.stop.store(true, SeqCst);
        for h in readers.into_iter().chain([maint]) {
            if let Err(e) = h.join() {
                panicked = panicked.or(Some(e));
            }
        }
        if let Some(e) = panicked {
            resume_unwind(e);
        }
        states.sort_by_key(|s| s.w);
        // Every snapshot goes: those handed over, then (with the threads) the readers' own.
        ctx.handoffs.lock().unwrap().clear();
        ctx.verified.lock().unwrap().clear();
        let Ok(ctx) = Arc::try_unwrap(ctx) else { panic!("a thread still holds the cycle's state") };
        let db = ctx.db;
        // A close with a snapshot alive is refused and leaves the database usable.
        let db = if rng.below(2) == 0 {
            let s = db.begin();
            let db = match db.close() {
                Err((Some(db), Fail::Busy(_))) => db,
                Err((_, e)) => panic!("close with a live snapshot: {e:?}, expected Busy"),
                Ok(()) => panic!("close with a live snapshot succeeded"),
            };
            drop(s);
            must(db.checkpoint(), || "checkpoint after a refused close".into());
            add(&counters.busy_closes, 1);
            db
        } else {
            db
        };
        match db {
            // Dropped without `close`: a best-effort final checkpoint; the log keeps the rest.
            Db::Rust(db) if rng.below(3) == 0 => {
                drop(db);
                add(&counters.dropped_not_closed, 1);
            }
            db => must(db.close().map_err(|(_, e)| e), || format!("close after cycle {cycle}")),
        }
        cycle += 1;
    }
}

#[test]
fn soak() {
    let cfg = Config::from_env();
    let dir: PathBuf = std::env::temp_dir().join(format!("tsdb-soak-{}-{}", std::process::id(), cfg.seed));
    let _ = std::fs::remove_dir_all(&dir);
    let rerun = format!(
        "TSDB_SOAK_SEED={} TSDB_SOAK_SECS={} TSDB_SOAK_CYCLE_SECS={} TSDB_SOAK_WRITERS={} TSDB_SOAK_READERS={} \
         cargo test --release --test soak -- --nocapture",
        cfg.seed,
        cfg.secs,
        cfg.cycle.as_secs(),
        cfg.writers,
        cfg.readers
    );
    println!(
        "soak: seed {}, {} s in cycles of {} s, {} writers, {} readers, database {}",
        cfg.seed,
        cfg.secs,
        cfg.cycle.as_secs(),
        cfg.writers,
        cfg.readers,
        dir.display()
    );
    let cycle = AtomicU64::new(0);
    let counters = Arc::new(Counters::default());
    let summary = match catch_unwind(AssertUnwindSafe(|| run(&cfg, &dir, &cycle, &counters))) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "soak FAILED with seed {} in cycle {}; the database directory is kept: {}\nrerun: {rerun}",
                cfg.seed,
                cycle.load(SeqCst),
                dir.display()
            );
            resume_unwind(e);
        }
    };
    println!(
        "soak: passed: seed {}, {:.1} s, {} reopen cycles; last check: {} metrics, {} partitions, {} extents, {} \
         points, {} segments",
        cfg.seed,
        summary.elapsed.as_secs_f64(),
        summary.cycles,
        summary.last_check.metrics,
        summary.last_check.partitions,
        summary.last_check.extents,
        summary.last_check.points,
        summary.last_check.segments
    );
    for (label, n) in counters.lines() {
        println!("soak:   {n:>14}  {label}");
    }
    if cfg.keep {
        println!("soak: database kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
