//! Crash recovery through the C API: a writer process is SIGKILLed at random moments and
//! the database is reopened and checked against a model after every kill.
//!
//! HOW IT WORKS
//!   The writer is this test binary re-executed (`std::env::current_exe()`) to run only
//!   `crash_child`, with `TSDB_CRASH_CHILD=<dir>` and `TSDB_CRASH_CHILD_ARGS` (seed, first op
//!   number, sync mode, ...). `crash_child` is an ignored test (it fails without those
//!   variables), so a normal run lists it as ignored. The writer opens the database with small partitions (64
//!   points: frequent seals; in one cycle of four 1,100 points, so sealed blocks are paged)
//!   and a small checkpoint threshold (64 KiB: frequent background checkpoints),
//!   creates-or-gets 8 metrics, then runs op after op until it is killed.
//!   Op `k` is a pure function of `(seed, k)` (see `gen_op`): a `ts_insert_batch` of 1..500
//!   points, a single `ts_insert`, an atomic multi-metric `ts_batch_commit`, a
//!   `ts_checkpoint`, a `ts_delete_range` over recent ops' slots (sometimes everything before
//!   one), a retention pass over one metric (span set, `ts_enforce_retention`, span reset;
//!   the writer reports where it cut, which must drop only points past the span; in flight at
//!   a kill, the cut is read off the reopened database, and the next check is not skipped),
//!   or (rarely) a drop and re-create of a metric. A quarter of the writes
//!   are late: they overwrite points of an earlier op or fill gaps in its time slot, in any
//!   order, some with duplicate timestamps within the call; a few hit extreme timestamps
//!   (INT64_MIN, TS_MAX_TIMESTAMP, ...) or carry odd values (NaN payloads, infinities, -0.0).
//!   The writer reports on stdout, flushed per line: `begin k` before op k's call and
//!   `ack k` after it returned TS_OK (`create m` / `id m <id> new|old`, `dropped k m` for
//!   metric steps). The parent regenerates every op from its number, so lines stay tiny.
//!
//!   The parent, per cycle: spawns the writer (starting at the next op number), usually waits
//!   for it to be ready, then SIGKILLs it once it begins a random op (0..1500 ops on) or
//!   after a random time (0..1000 ms, mostly 5..150), whichever comes first; sometimes it
//!   kills it within 20 ms of the spawn, in its open and recovery. Then it reopens the
//!   database through the C API. The reopened state must equal the model:
//!     - every acknowledged op is present (an overwritten point shows the last write);
//!     - the op in flight at the kill is wholly present or wholly absent (one record);
//!     - nothing is present that was never written (points and metrics);
//!     - metric ids are the acknowledged ones, and an id is never handed out twice;
//!     - scans ascend with unique timestamps, and range scans agree with full scans;
//!     - `ts_close` returns TS_OK.
//!   The in-flight op's observed outcome becomes part of the model. In about one cycle in
//!   five the parent does not reopen: the next writer recovers a database that was never
//!   cleanly closed after the last crash (crash during recovery, recovery of a recovery);
//!   the model then holds every combination of the unresolved in-flight ops until the next
//!   check. Every sync mode must lose nothing on a process kill (the log is in the page
//!   cache), so the cycles mix TS_SYNC_NONE, TS_SYNC_INTERVAL and some TS_SYNC_ALWAYS.
//!
//!   Also here: `sync_always_close_and_reopen_keep_everything` (clean close and reopen,
//!   TS_SYNC_ALWAYS, three rounds) and `harness_catches_what_it_should` (the checker itself,
//!   on synthetic states: it must accept either outcome of an in-flight op and report a
//!   lost acknowledged point, a partly applied batch and a point never written).
//!
//! ENV KNOBS
//!   TSDB_CRASH_CYCLES   kill/reopen cycles (default 60; a long run: TSDB_CRASH_CYCLES=1000)
//!   TSDB_CRASH_SEED     seed of the op stream and kill schedule (default: from the clock;
//!                       printed at the start; timing still differs between runs)
//!   TSDB_CRASH_KEEP=1   keep the database directory even when the test passes
//!   TSDB_CRASH_CHILD, TSDB_CRASH_CHILD_ARGS   internal: set by the parent for the writer
//!
//! On a failure the report names the cycle, metric, timestamp, expected and observed values
//! and the op that wrote them, and the database directory is kept (its path is printed).
//!
//! Run: `cargo test --release --test crash -- --nocapture` (add TSDB_CRASH_CYCLES=1000 for
//! the long mode).
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, CString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::ptr::null_mut;
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use tsdb::codec::shapes::Rng;
use tsdb::ffi::batch::*;
use tsdb::ffi::cursor::*;
use tsdb::ffi::db::*;
use tsdb::ffi::metric::*;
use tsdb::ffi::options::*;
use tsdb::ffi::status::*;
use tsdb::ffi::ts_status::{self, *};
use tsdb::ffi::txn::*;
use tsdb::ffi::write::*;

// ---------------------------------------------------------------------------------------
// Parameters and the op stream
// ---------------------------------------------------------------------------------------

const CHILD_ENV: &str = "TSDB_CRASH_CHILD";
const CHILD_ARGS_ENV: &str = "TSDB_CRASH_CHILD_ARGS";
/// The name of the writer's test fn, run alone in the child process.
const CHILD_TEST: &str = "crash_child";
/// Prefix of the writer's protocol lines (libtest may print other text on stdout).
const MARK: &str = "@crash ";
const METRICS: usize = 8;
/// Each op owns the timestamp slot `base(k) .. base(k) + SPAN` for its fresh points.
const SPAN: i64 = 1024;
/// The metric whose batches are regular runs of one value.
const STEADY: usize = 0;
const T0: i64 = 1_700_000_000_000;
const EXTREMES: [i64; 6] = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1];
/// A writer that is never killed gives up after this long (the parent died or hung).
const CHILD_MAX_RUN: Duration = Duration::from_secs(120);

/// The tests that open databases in this process take turns. A child process holds copies
/// of all the parent's file descriptors between its fork and its exec, `DIR/LOCK`'s flock
/// included, so a close and reopen in one test racing with a spawn in another could see
/// a spurious TS_BUSY.
static OPENS_DATABASES: Mutex<()> = Mutex::new(());

fn metric_name(m: usize) -> String {
    format!("crash.m{m}")
}

/// Options of one open, passed to the writer process as text.
#[derive(Clone, Copy, Debug)]
struct Cfg {
    /// 0 TS_SYNC_NONE, 1 TS_SYNC_INTERVAL, 2 TS_SYNC_ALWAYS.
    sync: u32,
    interval_ms: u32,
    partition_points: u32,
    head_run_points: u32,
    raw_head_budget: u64,
    checkpoint_bytes: u64,
}

impl Cfg {
    fn crash(sync: u32, interval_ms: u32, raw_head_budget: u64) -> Cfg {
        Cfg {
            sync,
            interval_ms,
            partition_points: 64,
            head_run_points: 16,
            raw_head_budget,
            checkpoint_bytes: 64 << 10,
        }
    }

    fn to_args(self) -> String {
        format!(
            "{} {} {} {} {} {}",
            self.sync,
            self.interval_ms,
            self.partition_points,
            self.head_run_points,
            self.raw_head_budget,
            self.checkpoint_bytes
        )
    }

    fn from_args(f: &[u64]) -> Cfg {
        Cfg {
            sync: f[0] as u32,
            interval_ms: f[1] as u32,
            partition_points: f[2] as u32,
            head_run_points: f[3] as u32,
            raw_head_budget: f[4],
            checkpoint_bytes: f[5],
        }
    }

    fn sync_name(&self) -> String {
        match self.sync {
            0 => "TS_SYNC_NONE".into(),
            1 => format!("TS_SYNC_INTERVAL({} ms)", self.interval_ms),
            _ => "TS_SYNC_ALWAYS".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `ts_insert_batch` into one metric.
    Batch(usize),
    /// `ts_insert`.
    Single(usize),
    /// `ts_batch_commit` over several metrics.
    Multi,
    Checkpoint,
    /// `ts_metric_drop` then `ts_metric_create` of the same name (a new id, no points).
    Recreate(usize),
    /// `ts_delete_range(m, from, until)`.
    Delete(usize, i64, i64),
    /// A retention pass over metric `m` with span `span`: `ts_metric_set_retention(m, span)`,
    /// `ts_enforce_retention`, `ts_metric_set_retention(m, 0)` (back to keep-all).
    Retention(usize, i64),
}

/// One point of an op, in call order: metric index, timestamp, value bits.
#[derive(Clone, Copy, Debug)]
struct Pt {
    m: usize,
    ts: i64,
    bits: u64,
}

#[derive(Clone, Debug)]
struct Op {
    k: u64,
    kind: Kind,
    pts: Vec<Pt>,
}

impl Op {
    fn writes(&self) -> bool {
        !self.pts.is_empty() || matches!(self.kind, Kind::Delete(..) | Kind::Retention(..))
    }

    fn describe(&self) -> String {
        let n = self.pts.len();
        match self.kind {
            Kind::Batch(m) => format!("op {} (ts_insert_batch of {n} points into m{m})", self.k),
            Kind::Single(m) => format!("op {} (ts_insert into m{m})", self.k),
            Kind::Multi => {
                let ms: BTreeSet<usize> = self.pts.iter().map(|p| p.m).collect();
                format!("op {} (ts_batch_commit of {n} points over metrics {ms:?})", self.k)
            }
            Kind::Checkpoint => format!("op {} (ts_checkpoint)", self.k),
            Kind::Recreate(m) => format!("op {} (drop and re-create m{m})", self.k),
            Kind::Delete(m, from, until) => {
                format!("op {} (ts_delete_range of m{m} [{from}, {until}))", self.k)
            }
            Kind::Retention(m, span) => format!("op {} (retention pass over m{m}, span {span})", self.k),
        }
    }

    /// What the op leaves behind: per (metric, ts), the last value written by the call.
    fn effect(&self) -> BTreeMap<(usize, i64), u64> {
        self.pts.iter().map(|p| ((p.m, p.ts), p.bits)).collect()
    }
}

fn base(k: u64) -> i64 {
    T0 + k as i64 * SPAN
}

fn shuffle<T>(r: &mut Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        v.swap(i, r.below(i as u64 + 1) as usize);
    }
}

/// Op `k`'s kind and its fresh points (in its own slot), from stream `2k` alone, so that a
/// later op can regenerate them cheaply to overwrite them.
fn fresh(seed: u64, k: u64) -> (Kind, Vec<(usize, i64)>) {
    let mut r = Rng::new(seed, k << 1);
    let b = base(k);
    let roll = r.below(1000);
    if roll < 2 {
        // Only the last two metrics churn: the others keep their whole history.
        return (Kind::Recreate(METRICS - 1 - r.below(2) as usize), vec![]);
    }
    if roll < 22 {
        return (Kind::Checkpoint, vec![]);
    }
    if roll < 26 && k > 0 {
        // Keep about the last 20..80 ops' slots of metric m (it gets a write every ~8 ops).
        let m = r.below(METRICS as u64) as usize;
        return (Kind::Retention(m, SPAN * (20 + r.below(60) as i64)), vec![]);
    }
    if roll < 40 && k > 0 {
        // A range delete over recent ops' slots (often sealed or checkpointed by now): part
        // of one slot, or several; rarely everything before a recent op.
        let m = r.below(METRICS as u64) as usize;
        let j = k - 1 - r.below(k.min(200));
        let from = base(j) + r.below(SPAN as u64) as i64;
        let (from, until) = match r.below(50) {
            0 => (i64::MIN, from),
            1..=10 => (from, from + r.below(4 * SPAN as u64) as i64),
            _ => (from, from + r.below(SPAN as u64 / 4) as i64),
        };
        return (Kind::Delete(m, from, until), vec![]);
    }
    // Single points and multi-metric batches leave the steady metric's runs regular.
    if roll < 300 {
        let m = 1 + r.below(METRICS as u64 - 1) as usize;
        return (Kind::Single(m), vec![(m, b + r.below(SPAN as u64) as i64)]);
    }
    if roll < 500 {
        let mut ms: Vec<usize> = (1..METRICS).collect();
        shuffle(&mut r, &mut ms);
        let nm = 2 + r.below(METRICS as u64 - 2) as usize;
        let mut pts = Vec::new();
        for &m in &ms[..nm] {
            for _ in 0..1 + r.below(8) {
                // Random offsets: duplicates within the call happen (the later add wins).
                pts.push((m, b + r.below(SPAN as u64) as i64));
            }
        }
        shuffle(&mut r, &mut pts);
        return (Kind::Multi, pts);
    }
    if roll < 600 {
        // A regular run from the slot's start, of one value (`gen_op`), into the steady
        // metric: with 1,100-point partitions its blocks code to almost nothing, and grow
        // by pages instead of multiplying (`GROW_PARTS`).
        let n = SPAN / 4 + r.below(3 * SPAN as u64 / 4) as i64;
        return (Kind::Batch(STEADY), (0..n).map(|i| (STEADY, b + i)).collect());
    }
    let m = 1 + r.below(METRICS as u64 - 1) as usize;
    // Mostly small, sometimes up to 500 points (the data kept over all cycles stays modest).
    let n = match r.below(20) {
        0..=13 => 1 + r.below(16),
        14..=18 => 1 + r.below(100),
        _ => 1 + r.below(500),
    } as i64;
    let step = 1 + r.below(2) as i64;
    let off = r.below((SPAN - n * step + 1) as u64) as i64;
    let mut pts: Vec<(usize, i64)> = (0..n).map(|i| (m, b + off + i * step)).collect();
    if r.below(10) == 0 {
        shuffle(&mut r, &mut pts); // out of order within the call
    }
    if n > 1 && r.below(20) == 0 {
        let again = pts[r.below(n as u64) as usize];
        pts.push(again); // a duplicate timestamp: the later element wins
    }
    (Kind::Batch(m), pts)
}

/// The value op `k` writes as its `i`th point into metric `m`: readable as `k.(m)(i)` so a
/// report can say which op a stray value came from. Exact in an f64 for any k below 2^40.
fn plain_value(k: u64, m: usize, i: usize) -> u64 {
    (k as f64 + m as f64 / 16.0 + (i % 256) as f64 / 4096.0).to_bits()
}

/// Op `k`, in full: the fresh part from `fresh`, then (from stream `2k + 1`) maybe a late
/// part aimed at an earlier op's slot, and the values.
fn gen_op(seed: u64, k: u64) -> Op {
    let (mut kind, mut ts) = fresh(seed, k);
    let mut r = Rng::new(seed, k << 1 | 1);
    if k > 0 && !ts.is_empty() && r.below(4) == 0 {
        // Mostly a recent op (likely sealed or checkpointed by now), sometimes any earlier one.
        let j = if r.below(4) == 0 { r.below(k) } else { k - 1 - r.below(k.min(300)) };
        let (_, fj) = fresh(seed, j);
        let pick = |r: &mut Rng, m: usize| -> (usize, i64) {
            if !fj.is_empty() && r.below(4) != 0 {
                fj[r.below(fj.len() as u64) as usize] // overwrite a point op j wrote
            } else {
                (m, base(j) + r.below(SPAN as u64) as i64) // fill a gap in op j's slot
            }
        };
        match kind {
            Kind::Single(m) => {
                let p = if r.below(25) == 0 {
                    (m, EXTREMES[r.below(EXTREMES.len() as u64) as usize])
                } else {
                    pick(&mut r, m)
                };
                kind = Kind::Single(p.0);
                ts = vec![p];
            }
            Kind::Batch(m) => {
                let m = if fj.is_empty() { m } else { fj[r.below(fj.len() as u64) as usize].0 };
                let mut late: Vec<(usize, i64)> =
                    fj.iter().copied().filter(|p| p.0 == m && r.below(2) == 0).collect();
                for _ in 0..1 + r.below(16) {
                    late.push((m, base(j) + r.below(SPAN as u64) as i64));
                }
                if r.below(10) == 0 {
                    late.push((m, EXTREMES[r.below(EXTREMES.len() as u64) as usize]));
                }
                shuffle(&mut r, &mut late);
                kind = Kind::Batch(m);
                ts = late;
            }
            Kind::Multi => {
                for p in ts.iter_mut() {
                    if r.below(2) == 0 {
                        *p = pick(&mut r, p.0);
                    }
                }
            }
            Kind::Checkpoint | Kind::Recreate(_) | Kind::Delete(..) | Kind::Retention(..) => {}
        }
    }
    let odd = r.below(30) == 0;
    let steady = matches!(kind, Kind::Batch(m) if m == STEADY);
    let pts = ts
        .iter()
        .enumerate()
        .map(|(i, &(m, ts))| {
            let bits = if steady && !odd {
                (k as f64).to_bits()
            } else if !odd {
                plain_value(k, m, i)
            } else {
                match r.below(6) {
                    0 => (-0.0f64).to_bits(),
                    1 => f64::INFINITY.to_bits(),
                    2 => f64::NEG_INFINITY.to_bits(),
                    3 => 0x7ff8_0000_0000_0000 | (r.next_u64() & 0x0007_ffff_ffff_ffff), // NaN payload
                    4 => 0xfff0_0000_0000_0001 | (r.next_u64() & 0x000f_ffff_ffff_fffe), // signalling NaN
                    _ => r.next_u64(),
                }
            };
            Pt { m, ts, bits }
        })
        .collect();
    Op { k, kind, pts }
}

// ---------------------------------------------------------------------------------------
// C API helpers
// ---------------------------------------------------------------------------------------

fn errmsg() -> String {
    // SAFETY: ts_errmsg returns a valid NUL-terminated string owned by the library.
    unsafe { CStr::from_ptr(ts_errmsg()) }.to_string_lossy().into_owned()
}

fn check(what: &str, st: ts_status) -> Result<(), String> {
    if st == TS_OK { Ok(()) } else { Err(format!("{what} returned {st:?}: {}", errmsg())) }
}

fn open_db(dir: &Path, cfg: &Cfg) -> Result<*mut ts_db, String> {
    let path = CString::new(dir.to_str().expect("temp dir is UTF-8")).expect("no NUL in the path");
    let opts = ts_options_new();
    assert!(!opts.is_null(), "ts_options_new returned NULL");
    let mut db = null_mut();
    // SAFETY: `opts` is live until freed below; `path` and `db` are valid.
    let res = unsafe {
        check("ts_options_set_partition_points", ts_options_set_partition_points(opts, cfg.partition_points))
            .and_then(|_| {
                check(
                    "ts_options_set_head_run_points",
                    ts_options_set_head_run_points(opts, cfg.head_run_points),
                )
            })
            .and_then(|_| {
                check(
                    "ts_options_set_raw_head_budget",
                    ts_options_set_raw_head_budget(opts, cfg.raw_head_budget),
                )
            })
            .and_then(|_| check("ts_options_set_sync", ts_options_set_sync(opts, cfg.sync, cfg.interval_ms)))
            .and_then(|_| {
                check(
                    "ts_options_set_checkpoint_bytes",
                    ts_options_set_checkpoint_bytes(opts, cfg.checkpoint_bytes),
                )
            })
            .and_then(|_| check("ts_open", ts_open(path.as_ptr(), opts, &mut db)))
    };
    // SAFETY: `opts` came from ts_options_new; ts_open copied it.
    unsafe { ts_options_free(opts) };
    res.map(|_| db)
}

// ---------------------------------------------------------------------------------------
// The writer (the child process; also run in-process by the clean-reopen test)
// ---------------------------------------------------------------------------------------

/// The writer's side: opens the database, gets the metrics, runs ops and reports each
/// step through `emit` (a protocol line without the `MARK`).
struct Writer {
    db: *mut ts_db,
    batch: *mut ts_batch,
    ids: [u64; METRICS],
    seed: u64,
}

type Emit<'a> = &'a mut dyn FnMut(String);

impl Writer {
    fn open(dir: &Path, cfg: &Cfg, seed: u64, emit: Emit) -> Result<Writer, String> {
        let db = open_db(dir, cfg)?;
        emit("open".into());
        let mut w = Writer { db, batch: ts_batch_new(), ids: [0; METRICS], seed };
        for m in 0..METRICS {
            w.create(m, emit)?;
        }
        // A retention op killed half way may have left a span set: back to keep-all, so no
        // background drop happens that no op reported (see `reset_retention`).
        reset_retention(w.db, &w.ids)?;
        emit("ready".into());
        Ok(w)
    }

    /// Create-or-get metric `m` (`TS_EXISTS` fills in the id).
    fn create(&mut self, m: usize, emit: Emit) -> Result<(), String> {
        let name = CString::new(metric_name(m)).unwrap();
        emit(format!("create {m}"));
        let mut id = 0u64;
        // SAFETY: live handle, valid string and out-pointer.
        let st = unsafe { ts_metric_create(self.db, name.as_ptr(), &mut id) };
        let how = match st {
            TS_OK => "new",
            TS_EXISTS => "old",
            _ => return Err(format!("ts_metric_create(m{m}) returned {st:?}: {}", errmsg())),
        };
        self.ids[m] = id;
        emit(format!("id {m} {id} {how}"));
        Ok(())
    }

    fn step(&mut self, k: u64, emit: Emit) -> Result<(), String> {
        let op = gen_op(self.seed, k);
        let what = op.describe();
        emit(format!("begin {k}"));
        // SAFETY (all calls below): live handles; the slices outlive the calls.
        match op.kind {
            Kind::Batch(m) => {
                let ts: Vec<i64> = op.pts.iter().map(|p| p.ts).collect();
                let vals: Vec<f64> = op.pts.iter().map(|p| f64::from_bits(p.bits)).collect();
                let st =
                    unsafe { ts_insert_batch(self.db, self.ids[m], ts.as_ptr(), vals.as_ptr(), ts.len()) };
                check(&what, st)?;
            }
            Kind::Single(m) => {
                let p = op.pts[0];
                check(&what, unsafe { ts_insert(self.db, self.ids[m], p.ts, f64::from_bits(p.bits)) })?;
            }
            Kind::Multi => {
                for p in &op.pts {
                    check(&what, unsafe {
                        ts_batch_add(self.batch, self.ids[p.m], p.ts, f64::from_bits(p.bits))
                    })?;
                }
                check(&what, unsafe { ts_batch_commit(self.db, self.batch) })?;
            }
            Kind::Checkpoint => check(&what, unsafe { ts_checkpoint(self.db) })?,
            Kind::Delete(m, from, until) => {
                check(&what, unsafe { ts_delete_range(self.db, self.ids[m], from, until) })?
            }
            Kind::Retention(m, span) => {
                check(&what, unsafe { ts_metric_set_retention(self.db, self.ids[m], span) })?;
                check(&what, unsafe { ts_enforce_retention(self.db, null_mut()) })?;
                check(&what, unsafe { ts_metric_set_retention(self.db, self.ids[m], 0) })?;
                // Where the pass cut: the first point left (partition boundaries decide it).
                let first = first_ts(self.db, self.ids[m])?;
                emit(format!("cut {k} {m} {first}"));
            }
            Kind::Recreate(m) => {
                check(&what, unsafe { ts_metric_drop(self.db, self.ids[m]) })?;
                emit(format!("dropped {k} {m}"));
                self.create(m, emit)?;
            }
        }
        emit(format!("ack {k}"));
        Ok(())
    }

    fn close(self) -> Result<(), String> {
        // SAFETY: live handles, each freed once; no snapshots are open.
        unsafe {
            ts_batch_free(self.batch);
            check("ts_close", ts_close(self.db))
        }
    }
}

/// The writer process, run by the parent as an ignored test of this binary (`--ignored
/// --exact crash_child`): it is not a test on its own, so a plain run lists it as ignored
/// rather than passing it. Without `TSDB_CRASH_CHILD` it fails.
#[test]
#[ignore = "the writer process that killed_writer_loses_nothing_acknowledged spawns"]
fn crash_child() {
    let dir = std::env::var_os(CHILD_ENV).expect("TSDB_CRASH_CHILD: run by the crash test, not on its own");
    let args: Vec<u64> = std::env::var(CHILD_ARGS_ENV)
        .expect("TSDB_CRASH_CHILD_ARGS is set with TSDB_CRASH_CHILD")
        .split_whitespace()
        .map(|s| s.parse().expect("numeric child argument"))
        .collect();
    let (seed, from, cfg) = (args[0], args[1], Cfg::from_args(&args[2..]));
    let mut out = std::io::stdout().lock();
    // Start on a fresh line: libtest may have printed "test crash_child ... " already.
    let _ = writeln!(out);
    let mut emit = |line: String| {
        // A failed write means the parent is gone: stop writing to the database.
        if writeln!(out, "{MARK}{line}").and_then(|_| out.flush()).is_err() {
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    let mut w = match Writer::open(Path::new(&dir), &cfg, seed, &mut emit) {
        Ok(w) => w,
        Err(e) => {
            emit(format!("fail {e}"));
            std::process::exit(2);
        }
    };
    for k in from.. {
        if let Err(e) = w.step(k, &mut emit) {
            emit(format!("fail {e}"));
            std::process::exit(2);
        }
        if started.elapsed() > CHILD_MAX_RUN {
            emit("fail the writer was not killed in time".into());
            std::process::exit(3);
        }
    }
}

// ---------------------------------------------------------------------------------------
// What the parent reads back
// ---------------------------------------------------------------------------------------

/// A metric's points as read back: (timestamp, value bits), ascending.
type Points = Vec<(i64, u64)>;

/// The reopened database, as read through the C API: per metric index, its id and points.
#[derive(Debug, Default)]
struct Observed {
    metrics: Vec<Option<(u64, Points)>>,
    points: u64,
}

/// Read every metric (full scans), check that scans ascend with unique timestamps and that
/// a few range scans agree with the full ones, and close the database.
fn observe(dir: &Path, cfg: &Cfg, rng: &mut Rng) -> Result<Observed, String> {
    let db = open_db(dir, cfg).map_err(|e| format!("reopen failed: {e}"))?;
    // A retention pass killed half way may have left a span set; the background may apply
    // it at this open (what the pass would have done). Settle that before looking.
    if let Err(e) = reset_all_retention(db) {
        // SAFETY: live handle, no snapshot open.
        let _ = unsafe { ts_close(db) };
        return Err(e);
    }
    let mut txn = null_mut();
    // SAFETY: live handle and valid out-pointer.
    let res = check("ts_txn_begin", unsafe { ts_txn_begin(db, &mut txn) }).and_then(|_| read_all(txn, rng));
    // SAFETY: `txn` is NULL or live; every cursor was freed by `read_all`.
    unsafe { ts_txn_release(txn) };
    // SAFETY: no snapshot or cursor is alive any more.
    let closed = check("ts_close after the checks", unsafe { ts_close(db) });
    let obs = res?;
    closed?;
    Ok(obs)
}

fn read_all(txn: *mut ts_txn, rng: &mut Rng) -> Result<Observed, String> {
    let mut obs = Observed::default();
    let mut count = 0u64;
    // SAFETY: live snapshot, valid out-pointer.
    check("ts_txn_metric_count", unsafe { ts_txn_metric_count(txn, &mut count) })?;
    for m in 0..METRICS {
        let name = CString::new(metric_name(m)).unwrap();
        let mut id = 0u64;
        // SAFETY: live snapshot, valid string and out-pointer.
        match unsafe { ts_metric_lookup(txn, name.as_ptr(), &mut id) } {
            TS_OK => {}
            TS_NOT_FOUND => {
                obs.metrics.push(None);
                continue;
            }
            st => return Err(format!("ts_metric_lookup(m{m}) returned {st:?}: {}", errmsg())),
        }
        let pts = scan(txn, id, i64::MIN, i64::MAX).map_err(|e| format!("m{m} (id {id}): {e}"))?;
        for w in pts.windows(2) {
            if w[0].0 >= w[1].0 {
                return Err(format!(
                    "m{m} (id {id}): the scan is not ascending with unique timestamps: ts {} then ts {}",
                    w[0].0, w[1].0
                ));
            }
        }
        // Range scans over the recovered data must agree with the full scan.
        for _ in 0..2 {
            if pts.is_empty() {
                break;
            }
            let a = rng.below(pts.len() as u64) as usize;
            let b = a + rng.below((pts.len() - a) as u64 + 1) as usize;
            let from = pts[a].0.saturating_sub(rng.below(2) as i64);
            let until = if b < pts.len() { pts[b].0 } else { i64::MAX };
            let got = scan(txn, id, from, until).map_err(|e| format!("m{m} (id {id}): {e}"))?;
            let want: Points = pts.iter().copied().filter(|p| p.0 >= from && p.0 < until).collect();
            if got != want {
                let i = got.iter().zip(&want).take_while(|(g, w)| g == w).count();
                return Err(format!(
                    "m{m} (id {id}): ts_scan_range({from}, {until}) disagrees with the full scan: {} points \
                     vs {}, first difference at index {i}: {:?} vs {:?} (ts, value bits)",
                    got.len(),
                    want.len(),
                    got.get(i),
                    want.get(i)
                ));
            }
        }
        obs.points += pts.len() as u64;
        obs.metrics.push(Some((id, pts)));
    }
    let found = obs.metrics.iter().flatten().count() as u64;
    if count != found {
        return Err(format!(
            "ts_txn_metric_count says {count} metrics but {found} of the writer's names are present: a \
             metric that was never created (or was dropped) exists"
        ));
    }
    Ok(obs)
}

fn scan(txn: *mut ts_txn, id: u64, from: i64, until: i64) -> Result<Points, String> {
    let mut cur = null_mut();
    // SAFETY: live snapshot and valid out-pointer.
    check("ts_scan_range", unsafe { ts_scan_range(txn, id, from, until, &mut cur) })?;
    let (mut ts, mut vals) = (vec![0i64; 4096], vec![0f64; 4096]);
    let mut out = Vec::new();
    let res = loop {
        let mut n = 0usize;
        // SAFETY: live cursor; the buffers hold `cap` elements.
        match unsafe { ts_cursor_next_batch(cur, ts.as_mut_ptr(), vals.as_mut_ptr(), ts.len(), &mut n) } {
            TS_OK if n >= 1 && n <= ts.len() => {
                out.extend(ts[..n].iter().zip(&vals[..n]).map(|(t, v)| (*t, v.to_bits())))
            }
            TS_OK => break Err(format!("ts_cursor_next_batch returned TS_OK with n={n}")),
            TS_DONE => break Ok(out),
            st => break Err(format!("ts_cursor_next_batch returned {st:?}: {}", errmsg())),
        }
    };
    // SAFETY: live cursor, freed once.
    unsafe { ts_cursor_free(cur) };
    res
}

/// The first timestamp of metric `id` (`i64::MAX` when it has no points), in a snapshot.
fn first_ts(db: *mut ts_db, id: u64) -> Result<i64, String> {
    let mut txn = null_mut();
    // SAFETY: live handle and valid out-pointers; the cursor and snapshot are freed once.
    unsafe {
        check("ts_txn_begin", ts_txn_begin(db, &mut txn))?;
        let mut cur = null_mut();
        let res =
            check("ts_scan_range", ts_scan_range(txn, id, i64::MIN, i64::MAX, &mut cur)).and_then(|_| {
                let (mut t, mut v) = (0i64, 0f64);
                match ts_cursor_next(cur, &mut t, &mut v) {
                    TS_OK => Ok(t),
                    TS_DONE => Ok(i64::MAX),
                    st => Err(format!("ts_cursor_next returned {st:?}: {}", errmsg())),
                }
            });
        ts_cursor_free(cur);
        ts_txn_release(txn);
        res
    }
}

/// `reset_retention` for every metric the database has (looked up by name).
fn reset_all_retention(db: *mut ts_db) -> Result<(), String> {
    let mut txn = null_mut();
    // SAFETY: live handle and valid out-pointers; the snapshot is released once.
    let ids = unsafe {
        check("ts_txn_begin", ts_txn_begin(db, &mut txn))?;
        let ids: Vec<u64> = (0..METRICS)
            .filter_map(|m| {
                let name = CString::new(metric_name(m)).unwrap();
                let mut id = 0u64;
                (ts_metric_lookup(txn, name.as_ptr(), &mut id) == TS_OK).then_some(id)
            })
            .collect();
        ts_txn_release(txn);
        ids
    };
    reset_retention(db, &ids)
}

/// Set every metric's retention back to keep-all. `ts_metric_set_retention` returns only
/// once no background drop chosen under the old setting is still in progress, so after
/// this the database changes only through the ops the harness knows of.
fn reset_retention(db: *mut ts_db, ids: &[u64]) -> Result<(), String> {
    for &id in ids {
        // SAFETY: live handle.
        check("ts_metric_set_retention(0)", unsafe { ts_metric_set_retention(db, id, 0) })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Id {
    Known(u64),
    /// Created by a create that was in flight at a kill: any id not handed out before.
    Unknown,
}

#[derive(Clone, Debug)]
struct MetricModel {
    id: Id,
    /// ts -> (value bits, the op that wrote it).
    pts: BTreeMap<i64, (u64, u64)>,
}

/// One decision about a step that was in flight at a kill.
#[derive(Clone, Debug)]
struct Choice {
    label: String,
    /// The op, for a data op (for the atomicity diagnosis).
    op: Option<u64>,
    applied: bool,
}

/// One possible state of the database. Usually there is exactly one; after a kill there
/// are two (with and without the step in flight), and more across unchecked kills.
#[derive(Clone, Debug)]
struct Cand {
    metrics: Vec<Option<MetricModel>>,
    choices: Vec<Choice>,
    /// Retention passes applied in this state whose cut is not known (in flight at a kill):
    /// metric and span. The next check reads the cut off the reopened database.
    unknown_cuts: Vec<(usize, i64)>,
}

impl Cand {
    fn apply(&mut self, op: &Op) -> Result<(), String> {
        if let Kind::Retention(m, span) = op.kind {
            self.unknown_cuts.push((m, span));
            return Ok(());
        }
        if let Kind::Delete(m, from, until) = op.kind {
            let mm = self.metrics[m].as_mut().ok_or_else(|| {
                format!("harness: {} deletes from m{m} which the model lacks", op.describe())
            })?;
            mm.pts.retain(|&ts, _| ts < from || ts >= until);
        }
        for p in &op.pts {
            let mm = self.metrics[p.m]
                .as_mut()
                .ok_or_else(|| format!("harness: {} writes m{} which the model lacks", op.describe(), p.m))?;
            mm.pts.insert(p.ts, (p.bits, op.k));
        }
        Ok(())
    }

    /// A retention pass over metric `m` with `span` left `c` as the first point: drop the
    /// points before it, each of which must have been past retention.
    fn cut(&mut self, m: usize, span: i64, c: i64) -> Result<(), String> {
        let mm = self.metrics[m].as_mut().ok_or_else(|| format!("harness: retention over m{m}, absent"))?;
        let Some(&newest) = mm.pts.keys().next_back() else { return Ok(()) };
        // The engine's horizon is the newest *sealed* point minus the span: at most this.
        let horizon = newest.saturating_sub(span);
        if let Some((&ts, &(_, k))) = mm.pts.range(..c).find(|(ts, _)| **ts >= horizon) {
            return Err(format!(
                "a retention pass over m{m} (span {span}) dropped ts {ts} (written by op {k}), within the \
                 span of the newest point {newest}"
            ));
        }
        mm.pts = mm.pts.split_off(&c);
        Ok(())
    }

    /// This state with its unknown retention cuts read off `obs` (each metric's first point),
    /// or why that cannot be.
    fn resolved(&self, obs: &Observed) -> Result<Cand, String> {
        let mut c = self.clone();
        for (m, span) in std::mem::take(&mut c.unknown_cuts) {
            let first = obs.metrics[m].as_ref().and_then(|(_, p)| p.first()).map_or(i64::MAX, |p| p.0);
            c.cut(m, span, first)?;
        }
        Ok(c)
    }

    fn in_flight(&self, k: u64) -> Option<bool> {
        self.choices.iter().find(|c| c.op == Some(k)).map(|c| c.applied)
    }
}

/// The step the writer was in when it was killed.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    None,
    /// A data op or a checkpoint between `begin` and `ack`.
    Op(u64),
    /// The drop of a re-create op, between `begin` and `dropped`.
    Drop(u64, usize),
    /// A create, between `create` and `id`.
    Create(usize),
}

#[derive(Default, Debug)]
struct Stats {
    cycles: u64,
    checks: u64,
    chained: u64,
    killed_before_ready: u64,
    /// Kills between two ops, in a checkpoint, in a metric create or drop.
    idle_kills: u64,
    checkpoint_kills: u64,
    metric_kills: u64,
    delete_kills: u64,
    retention_kills: u64,
    acked_ops: u64,
    acked_points: u64,
    acked_verified: u64,
    acked_unverified: u64,
    points_checked: u64,
    present: u64,
    absent: u64,
    undetermined: u64,
}

struct Harness {
    seed: u64,
    cands: Vec<Cand>,
    /// Every id a create acknowledged: none may be handed out again.
    seen_ids: BTreeSet<u64>,
    /// The first op of the next writer; ops below it are acknowledged or resolved.
    next_op: u64,
    pending: Pending,
    open_op: Option<Op>,
    /// The cut the open retention op reported: op, metric, first point left.
    cut: Option<(u64, usize, i64)>,
    stats: Stats,
}

impl Harness {
    fn new(seed: u64) -> Harness {
        Harness {
            seed,
            cands: vec![Cand { metrics: vec![None; METRICS], choices: vec![], unknown_cuts: vec![] }],
            seen_ids: BTreeSet::new(),
            next_op: 0,
            pending: Pending::None,
            open_op: None,
            cut: None,
            stats: Stats::default(),
        }
    }

    /// Fold the writer's protocol lines into the model.
    fn absorb(&mut self, lines: &[String]) -> Result<(), String> {
        for line in lines {
            let Some(at) = line.find(MARK) else { continue };
            let body = &line[at + MARK.len()..];
            self.event(body).map_err(|e| format!("{e}\n  (at writer line {body:?})"))?;
        }
        Ok(())
    }

    fn event(&mut self, body: &str) -> Result<(), String> {
        let f: Vec<&str> = body.split_whitespace().collect();
        let num = |i: usize| -> Result<u64, String> {
            f.get(i).and_then(|s| s.parse().ok()).ok_or_else(|| format!("harness: bad writer line {body:?}"))
        };
        match f.first().copied() {
            Some("open") | Some("ready") => {}
            Some("fail") => return Err(format!("the writer failed: {}", &body[4..].trim())),
            Some("create") => {
                self.expect_pending(Pending::None)?;
                self.pending = Pending::Create(num(1)? as usize);
            }
            Some("id") => {
                let (m, id, new) = (num(1)? as usize, num(2)?, f.get(3) == Some(&"new"));
                self.expect_pending(Pending::Create(m))?;
                self.pending = Pending::None;
                self.created(m, id, new)?;
            }
            Some("begin") => {
                let k = num(1)?;
                self.expect_pending(Pending::None)?;
                if self.open_op.is_some() || k != self.next_op {
                    return Err(format!("harness: op {k} began, expected op {}", self.next_op));
                }
                let op = gen_op(self.seed, k);
                self.pending = match op.kind {
                    Kind::Recreate(m) => Pending::Drop(k, m),
                    _ => Pending::Op(k),
                };
                self.open_op = Some(op);
                self.next_op = k + 1;
            }
            Some("dropped") => {
                let (k, m) = (num(1)?, num(2)? as usize);
                self.expect_pending(Pending::Drop(k, m))?;
                self.pending = Pending::None;
                for c in &mut self.cands {
                    c.metrics[m] = None;
                }
            }
            Some("cut") => {
                let c: i64 = f
                    .get(3)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("harness: bad cut {body:?}"))?;
                self.cut = Some((num(1)?, num(2)? as usize, c));
            }
            Some("ack") => {
                let k = num(1)?;
                let op = match self.open_op.take() {
                    Some(op) if op.k == k => op,
                    _ => return Err(format!("harness: op {k} acknowledged but not begun")),
                };
                if let Kind::Retention(m, span) = op.kind {
                    let Some((_, _, c)) = self.cut.take().filter(|x| x.0 == k && x.1 == m) else {
                        return Err(format!("harness: {} acknowledged without its cut", op.describe()));
                    };
                    for cand in &mut self.cands {
                        cand.cut(m, span, c).map_err(|e| format!("acknowledged {}: {e}", op.describe()))?;
                    }
                } else if self.pending == Pending::Op(k) {
                    for c in &mut self.cands {
                        c.apply(&op)?;
                    }
                } else {
                    self.expect_pending(Pending::None)?;
                }
                self.pending = Pending::None;
                self.stats.acked_ops += 1;
                self.stats.acked_unverified += 1;
                self.stats.acked_points += op.pts.len() as u64;
            }
            _ => return Err(format!("harness: unknown writer line {body:?}")),
        }
        Ok(())
    }

    fn expect_pending(&self, want: Pending) -> Result<(), String> {
        if self.pending == want {
            Ok(())
        } else {
            Err(format!("harness: writer step out of order (in step {:?}, expected {want:?})", self.pending))
        }
    }

    /// `ts_metric_create(m)` acknowledged id `id`, as a new metric or an existing one.
    fn created(&mut self, m: usize, id: u64, new: bool) -> Result<(), String> {
        let before: Vec<String> = self.cands.iter().map(|c| describe_metric(&c.metrics[m])).collect();
        if new {
            if self.seen_ids.contains(&id) {
                return Err(format!(
                    "ts_metric_create(m{m}) returned id {id}, which was handed out before: ids must never be \
                     reused"
                ));
            }
            self.cands.retain(|c| c.metrics[m].is_none());
            for c in &mut self.cands {
                c.metrics[m] = Some(MetricModel { id: Id::Known(id), pts: BTreeMap::new() });
            }
        } else {
            let seen = &self.seen_ids;
            self.cands.retain(|c| match &c.metrics[m] {
                Some(mm) => mm.id == Id::Known(id) || (mm.id == Id::Unknown && !seen.contains(&id)),
                None => false,
            });
            for c in &mut self.cands {
                c.metrics[m].as_mut().unwrap().id = Id::Known(id);
            }
        }
        if self.cands.is_empty() {
            return Err(format!(
                "ts_metric_create(m{m}) says {} (id {id}), but the model has m{m} as {}",
                if new { "it created the metric" } else { "the metric exists" },
                before.join(" or ")
            ));
        }
        self.seen_ids.insert(id);
        Ok(())
    }

    /// The writer is dead: every state the step in flight may have left is possible.
    /// Returns what was in flight.
    fn end_run(&mut self) -> String {
        let pending = std::mem::replace(&mut self.pending, Pending::None);
        let op = self.open_op.take();
        let mut forked = Vec::with_capacity(self.cands.len() * 2);
        let what = match (&pending, &op) {
            (Pending::Op(_), Some(op)) if op.writes() => {
                let label = op.describe();
                for c in self.cands.drain(..) {
                    let mut with = c.clone();
                    // Every candidate has every metric while a writer runs (checked on ack).
                    if with.apply(op).is_ok() {
                        with.choices.push(Choice { label: label.clone(), op: Some(op.k), applied: true });
                        forked.push(with);
                    }
                    let mut without = c;
                    without.choices.push(Choice { label: label.clone(), op: Some(op.k), applied: false });
                    forked.push(without);
                }
                label
            }
            (Pending::Drop(_, m), Some(op)) => {
                let label = format!("the drop of {}", op.describe());
                for c in self.cands.drain(..) {
                    let mut dropped = c.clone();
                    dropped.metrics[*m] = None;
                    dropped.choices.push(Choice { label: label.clone(), op: None, applied: true });
                    forked.push(dropped);
                    let mut kept = c;
                    kept.choices.push(Choice { label: label.clone(), op: None, applied: false });
                    forked.push(kept);
                }
                label
            }
            (Pending::Create(m), _) => {
                let label = format!("ts_metric_create(m{m})");
                for c in self.cands.drain(..) {
                    if c.metrics[*m].is_none() {
                        let mut made = c.clone();
                        made.metrics[*m] = Some(MetricModel { id: Id::Unknown, pts: BTreeMap::new() });
                        made.choices.push(Choice { label: label.clone(), op: None, applied: true });
                        forked.push(made);
                        let mut not = c;
                        not.choices.push(Choice { label: label.clone(), op: None, applied: false });
                        forked.push(not);
                    } else {
                        forked.push(c); // create-or-get of an existing metric changes nothing
                    }
                }
                label
            }
            (Pending::Op(_), Some(op)) => op.describe(), // a checkpoint changes nothing
            _ => "nothing".into(),
        };
        if !forked.is_empty() {
            self.cands = forked;
        }
        what
    }

    /// Compare the reopened database with every possible state; keep the one it matches.
    fn verify(&mut self, obs: &Observed, cycle: u64) -> Result<(), String> {
        // States with a retention pass in flight take their cut from what reopened; a cut
        // that dropped points within the span rules the state out.
        let mut resolved = Vec::with_capacity(self.cands.len());
        let mut bad_cuts = Vec::new();
        for c in &self.cands {
            match c.resolved(obs) {
                Ok(r) => resolved.push(r),
                Err(e) => bad_cuts.push(e),
            }
        }
        if resolved.is_empty() {
            return Err(format!("cycle {cycle}: no possible state: {}", bad_cuts.join("; ")));
        }
        self.cands = resolved;
        let diffs: Vec<usize> = self.cands.iter().map(|c| self.compare(c, obs, None)).collect();
        let matching: Vec<usize> = (0..diffs.len()).filter(|&i| diffs[i] == 0).collect();
        if matching.is_empty() {
            return Err(self.report(obs, cycle, &diffs));
        }
        // Tally the in-flight outcomes over the matching states.
        let mut outcome: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        for &i in &matching {
            for ch in &self.cands[i].choices {
                let e = outcome.entry(&ch.label).or_default();
                if ch.applied { e.0 = true } else { e.1 = true }
            }
        }
        for (yes, no) in outcome.into_values() {
            match (yes, no) {
                (true, false) => self.stats.present += 1,
                (false, true) => self.stats.absent += 1,
                _ => self.stats.undetermined += 1,
            }
        }
        let mut chosen = self.cands.swap_remove(matching[0]);
        chosen.choices.clear();
        for (mm, o) in chosen.metrics.iter_mut().zip(&obs.metrics) {
            if let (Some(mm), Some((id, _))) = (mm, o) {
                mm.id = Id::Known(*id);
                self.seen_ids.insert(*id);
            }
        }
        self.cands = vec![chosen];
        self.stats.checks += 1;
        self.stats.points_checked += obs.points;
        self.stats.acked_verified += std::mem::take(&mut self.stats.acked_unverified);
        Ok(())
    }

    /// Differences between state `c` and `obs`; with `out`, also their description.
    /// Differences between state `c` and `obs`; with `out`, also their description and the
    /// op whose write is missing or wrong, if any.
    fn compare(&self, c: &Cand, obs: &Observed, mut out: Option<&mut Vec<(String, Option<u64>)>>) -> usize {
        let mut n = 0usize;
        let mut say = |s: String, op: Option<u64>| {
            n += 1;
            if let Some(o) = out.as_deref_mut() {
                o.push((s, op));
            }
        };
        for m in 0..METRICS {
            match (&c.metrics[m], &obs.metrics[m]) {
                (None, None) => {}
                (Some(mm), None) => say(
                    format!(
                        "m{m} ({}, {} points) is missing after reopen{}",
                        show_id(mm.id),
                        mm.pts.len(),
                        mm.pts
                            .values()
                            .next()
                            .map(|&(_, k)| format!(" (e.g. {})", self.who(c, k)))
                            .unwrap_or_default()
                    ),
                    None,
                ),
                (None, Some((id, pts))) => say(
                    format!(
                        "m{m} exists after reopen (id {id}, {} points) but it was never created, or its drop \
                         was acknowledged",
                        pts.len()
                    ),
                    None,
                ),
                (Some(mm), Some((id, pts))) => {
                    match mm.id {
                        Id::Known(want) if want != *id => {
                            say(format!("m{m} has id {id} after reopen, expected {want}"), None)
                        }
                        Id::Unknown if self.seen_ids.contains(id) => say(
                            format!("m{m} has id {id} after reopen, an id handed out before (reused)"),
                            None,
                        ),
                        _ => {}
                    }
                    self.compare_points(c, m, &mm.pts, pts, &mut say);
                }
            }
        }
        n
    }

    fn compare_points(
        &self,
        c: &Cand,
        m: usize,
        want: &BTreeMap<i64, (u64, u64)>,
        got: &[(i64, u64)],
        say: &mut dyn FnMut(String, Option<u64>),
    ) {
        let mut w = want.iter().peekable();
        let mut g = got.iter().peekable();
        loop {
            match (w.peek(), g.peek()) {
                (None, None) => break,
                (Some(&(&ts, &(bits, k))), gp) if gp.is_none_or(|&&(gts, _)| ts < gts) => {
                    say(
                        format!(
                            "{} lost after reopen: m{m} ts {ts}, expected {}",
                            self.who(c, k),
                            show_value(bits)
                        ),
                        Some(k),
                    );
                    w.next();
                }
                (wp, Some(&&(ts, bits))) if wp.is_none_or(|&(&wts, _)| ts < wts) => {
                    say(
                        format!(
                            "m{m} ts {ts}: got {} but nothing was written there (or only by an op in \
                             flight, taken as absent)",
                            show_value(bits)
                        ),
                        None,
                    );
                    g.next();
                }
                (Some(&(&ts, &(bits, k))), Some(&&(_, gbits))) => {
                    if bits != gbits {
                        say(
                            format!(
                                "m{m} ts {ts}: expected {} from {}, got {}",
                                show_value(bits),
                                self.who(c, k),
                                show_value(gbits)
                            ),
                            Some(k),
                        );
                    }
                    w.next();
                    g.next();
                }
                _ => unreachable!(),
            }
        }
    }

    fn who(&self, c: &Cand, k: u64) -> String {
        let d = gen_op(self.seed, k).describe();
        match c.in_flight(k) {
            Some(_) => format!("in-flight {d}, taken as applied"),
            None => format!("acknowledged {d}"),
        }
    }

    fn report(&self, obs: &Observed, cycle: u64, diffs: &[usize]) -> String {
        let best = (0..diffs.len()).min_by_key(|&i| diffs[i]).unwrap();
        let c = &self.cands[best];
        let mut lines = Vec::new();
        self.compare(c, obs, Some(&mut lines));
        let mut r = format!(
            "cycle {cycle}: the reopened database matches none of the {} possible state(s)\n",
            self.cands.len()
        );
        if !c.choices.is_empty() {
            r += "  in flight at the kill(s), as assumed by the closest state:\n";
            for ch in &c.choices {
                r += &format!("    {} -> {}\n", ch.label, if ch.applied { "applied" } else { "not applied" });
            }
        }
        // Atomicity: an in-flight op seen in part.
        for k in c.choices.iter().filter_map(|ch| ch.op) {
            let Some(with) = self.cands.iter().find(|x| x.in_flight(k) == Some(true)) else { continue };
            let (mut total, mut seen) = (0, 0);
            for (m, mm) in with.metrics.iter().enumerate() {
                let Some(mm) = mm else { continue };
                let got: BTreeMap<i64, u64> = match &obs.metrics[m] {
                    Some((_, pts)) => pts.iter().copied().collect(),
                    None => BTreeMap::new(),
                };
                for (ts, &(bits, by)) in &mm.pts {
                    if by == k {
                        total += 1;
                        seen += usize::from(got.get(ts) == Some(&bits));
                    }
                }
            }
            if seen > 0 && seen < total {
                r += &format!(
                    "  ATOMICITY: in-flight {} is partially present: {seen} of its {total} points\n",
                    gen_op(self.seed, k).describe()
                );
            }
        }
        let mut by_op: BTreeMap<u64, usize> = BTreeMap::new();
        for (_, k) in &lines {
            if let Some(k) = k {
                *by_op.entry(*k).or_default() += 1;
            }
        }
        if !by_op.is_empty() {
            r += "  writes missing or changed, by op:\n";
            for (k, n) in by_op.iter().take(20) {
                r += &format!("    {}: {n} point(s)\n", self.who(c, *k));
            }
            if by_op.len() > 20 {
                r += &format!("    ... and {} more ops\n", by_op.len() - 20);
            }
        }
        r += &format!("  the closest state differs in {} place(s):\n", diffs[best]);
        for (l, _) in lines.iter().take(30) {
            r += &format!("    {l}\n");
        }
        if lines.len() > 30 {
            r += &format!("    ... and {} more\n", lines.len() - 30);
        }
        r += "  per metric (expected / reopened):\n";
        for m in 0..METRICS {
            let got = match &obs.metrics[m] {
                Some((id, pts)) => format!("id {id}, {} points", pts.len()),
                None => "absent".into(),
            };
            r += &format!("    m{m}: {} / {got}\n", describe_metric(&c.metrics[m]));
        }
        r
    }
}

fn show_id(id: Id) -> String {
    match id {
        Id::Known(id) => format!("id {id}"),
        Id::Unknown => "a new id".into(),
    }
}

fn describe_metric(m: &Option<MetricModel>) -> String {
    match m {
        Some(mm) => format!("{}, {} points", show_id(mm.id), mm.pts.len()),
        None => "absent".into(),
    }
}

/// A value with its bits and, when it looks like one, the op that writes such values.
fn show_value(bits: u64) -> String {
    let v = f64::from_bits(bits);
    let hint = if (0.0..(1u64 << 40) as f64).contains(&v) && (v * 4096.0).fract() == 0.0 {
        format!(", like op {} m{}'s values", v.trunc() as u64, (v.fract() * 16.0) as u64)
    } else {
        String::new()
    };
    format!("{v:?} (bits {bits:#018x}{hint})")
}

// ---------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------

fn env_u64(name: &str) -> Option<u64> {
    let s = std::env::var(name).ok()?;
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn test_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tsdb-crash-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// What one run of the writer printed, and how it ended.
struct Run {
    lines: Vec<String>,
    stderr: String,
    killed: bool,
    status: String,
    ready: bool,
}

/// Spawn the writer, let it run, SIGKILL it, and collect what it printed.
fn run_writer(
    dir: &Path,
    seed: u64,
    from: u64,
    cfg: &Cfg,
    wait_ready: bool,
    delay: Duration,
    kill_at: u64,
) -> Result<Run, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .args(["--ignored", "--exact", CHILD_TEST, "--nocapture", "--test-threads=1", "--quiet"])
        .env(CHILD_ENV, dir)
        .env(CHILD_ARGS_ENV, format!("{seed} {from} {}", cfg.to_args()))
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot spawn the writer: {e}"))?;
    let (tx, rx) = mpsc::channel::<String>();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match stdout.read_until(b'\n', &mut buf) {
                // A line without its newline was cut by the kill: it was not reported.
                Ok(0) | Err(_) => break,
                Ok(_) if buf.last() == Some(&b'\n') => {
                    if tx.send(String::from_utf8_lossy(&buf).trim_end().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => break,
            }
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // Kill when the writer begins op `kill_at`, or at `deadline`, whichever comes first.
    let ready_line = format!("{MARK}ready");
    let kill_at = format!("{MARK}begin {kill_at}");
    let mut lines = Vec::new();
    let mut ready = false;
    let mut deadline = Instant::now() + if wait_ready { Duration::from_secs(60) } else { delay };
    // The loop ends at the deadline, or when the writer died (reported by the caller).
    while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let (is_ready, stop) = (l.ends_with(&ready_line), l.ends_with(&kill_at));
        lines.push(l);
        if is_ready {
            ready = true;
            if wait_ready {
                deadline = Instant::now() + delay;
            }
        }
        if stop {
            break;
        }
    }
    let _ = child.kill(); // SIGKILL
    let status = child.wait().map_err(|e| format!("wait for the writer: {e}"))?;
    let _ = reader.join();
    lines.extend(rx.iter());
    ready = ready || lines.iter().any(|l| l.ends_with(&ready_line));
    Ok(Run {
        lines,
        stderr: err_reader.join().unwrap_or_default(),
        killed: status.signal() == Some(SIGKILL),
        status: format!("{status}"),
        ready,
    })
}

const SIGKILL: i32 = 9;

/// The most telling line of a failure report, for the panic message.
fn headline(report: &str) -> String {
    let pick = |pat: &str| report.lines().find(|l| l.contains(pat)).map(str::trim);
    let first = report.lines().next().unwrap_or_default();
    match pick("ATOMICITY").or_else(|| pick("lost after reopen")).or_else(|| pick(": expected ")) {
        Some(l) => format!("{first}; {l}"),
        None => first.to_owned(),
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One kill cycle: run the writer, fold its report into the model, maybe check.
fn cycle(h: &mut Harness, dir: &Path, cycle: u64, last: bool, sched: &mut Rng) -> Result<(), String> {
    let mut cfg = match sched.below(10) {
        0..=4 => Cfg::crash(0, 100, 0),
        5..=8 => Cfg::crash(1, 1 + sched.below(50) as u32, 64 << 20),
        _ => Cfg::crash(2, 100, 1 << 20),
    };
    // Now and then partitions large enough that their blocks are paged (over 1,024 points).
    if sched.below(4) == 0 {
        cfg.partition_points = 1100;
    }
    // Mostly wait for the writer to be ready, then kill it after a random time or number
    // of ops; sometimes kill it a few ms after the spawn, in its open and recovery.
    let wait_ready = sched.below(6) != 0;
    let delay = Duration::from_millis(match (wait_ready, sched.below(10)) {
        (false, _) => sched.below(20),
        (true, 0) => 0,
        (true, 1) => 200 + sched.below(800),
        _ => 5 + sched.below(146),
    });
    let from = h.next_op;
    let budget = match sched.below(10) {
        0..=1 => sched.below(20),
        2..=7 => 20 + sched.below(280),
        _ => 300 + sched.below(1200),
    };
    let run = run_writer(dir, h.seed, from, &cfg, wait_ready, delay, from + budget)?;
    let fail_line = run.lines.iter().find(|l| l.contains(&format!("{MARK}fail")));
    if !run.killed || fail_line.is_some() {
        return Err(format!(
            "cycle {cycle}: the writer ended by itself ({}), before the kill\n  its last lines:\n{}\n  its \
             stderr:\n{}",
            run.status,
            tail(&run.lines.join("\n"), 10),
            tail(&run.stderr, 30)
        ));
    }
    if wait_ready && !run.ready {
        return Err(format!(
            "cycle {cycle}: the writer did not get ready within 60 s\n  its stderr:\n{}",
            tail(&run.stderr, 30)
        ));
    }
    if !run.ready {
        h.stats.killed_before_ready += 1;
    }
    h.absorb(&run.lines).map_err(|e| format!("cycle {cycle}: {e}"))?;
    let in_flight = h.end_run();
    h.stats.cycles += 1;
    match in_flight.as_str() {
        "nothing" => h.stats.idle_kills += 1,
        l if l.contains("ts_checkpoint") => h.stats.checkpoint_kills += 1,
        l if l.contains("ts_metric_create") || l.contains("drop") => h.stats.metric_kills += 1,
        l if l.contains("ts_delete_range") => h.stats.delete_kills += 1,
        l if l.contains("retention pass") => h.stats.retention_kills += 1,
        _ => {}
    }
    let ops = h.next_op - from;
    // Now and then leave the crashed database to the next writer unchecked (so it recovers
    // a database nobody closed since the crash), as long as the states to track stay few.
    // (Not with a retention pass in flight: its cut is read off the next check.)
    let cut_unknown = h.cands.iter().any(|c| !c.unknown_cuts.is_empty());
    if !last && h.cands.len() <= 2 && !cut_unknown && sched.below(5) == 0 {
        h.stats.chained += 1;
        return Ok(());
    }
    let mut rng = Rng::new(h.seed ^ cycle, u64::MAX - 1);
    let check_cfg = Cfg::crash(0, 100, 64 << 20);
    let res = observe(dir, &check_cfg, &mut rng).and_then(|obs| h.verify(&obs, cycle));
    res.map_err(|e| {
        format!(
            "{e}\n  cycle {cycle}: writer ran ops {from}..{} with {}, killed after {delay:?} (waited for \
             ready: {wait_ready}); in flight: {in_flight}",
            from + ops,
            cfg.sync_name()
        )
    })
}

#[test]
fn killed_writer_loses_nothing_acknowledged() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let _turn = OPENS_DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    let cycles = env_u64("TSDB_CRASH_CYCLES").unwrap_or(60);
    let seed = env_u64("TSDB_CRASH_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Rng::new(t.as_nanos() as u64, u64::from(std::process::id())).next_u64()
    });
    let dir = test_dir("kill");
    println!(
        "crash: seed {seed:#x} (TSDB_CRASH_SEED repeats the op stream), {cycles} cycles, dir {}",
        dir.display()
    );
    let mut h = Harness::new(seed);
    let mut sched = Rng::new(seed, u64::MAX);
    for c in 1..=cycles {
        if let Err(e) = cycle(&mut h, &dir, c, c == cycles, &mut sched) {
            eprintln!(
                "crash: FAILED (seed {seed:#x})\n{e}\ncrash: the database is kept at {}",
                dir.display()
            );
            panic!(
                "crash recovery check failed: {}; seed {seed:#x}; database kept at {}",
                headline(&e),
                dir.display()
            );
        }
    }
    let s = &h.stats;
    println!(
        "crash: {} cycles ({} checked after reopen, {} chained without a check, {} killed before ready); \
         {} acked ops verified ({} points written); {} points checked over all reopens; in-flight ops found \
         present {} / absent {} / undetermined {} (of them {} range deletes, {} retention passes); other \
         kills: {} between ops, {} in a checkpoint, {} in a metric create/drop; seed {seed:#x}",
        s.cycles,
        s.checks,
        s.chained,
        s.killed_before_ready,
        s.acked_verified,
        s.acked_points,
        s.points_checked,
        s.present,
        s.absent,
        s.undetermined,
        s.delete_kills,
        s.retention_kills,
        s.idle_kills,
        s.checkpoint_kills,
        s.metric_kills
    );
    if std::env::var("TSDB_CRASH_KEEP").is_ok_and(|v| v == "1") {
        println!("crash: the database is kept at {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// Clean close and reopen, TS_SYNC_ALWAYS
// ---------------------------------------------------------------------------------------

#[test]
fn sync_always_close_and_reopen_keep_everything() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let _turn = OPENS_DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    let dir = test_dir("always");
    let cfg = Cfg {
        sync: 2,
        interval_ms: 100,
        partition_points: 16,
        head_run_points: 4,
        raw_head_budget: 0,
        checkpoint_bytes: 4096,
    };
    let seed = 0x5eed_a1ba;
    let mut h = Harness::new(seed);
    let mut rng = Rng::new(seed, 7);
    let res = (1..=3).try_for_each(|round| {
        let mut lines = Vec::new();
        let mut emit = |l: String| lines.push(format!("{MARK}{l}"));
        let mut w = Writer::open(&dir, &cfg, seed, &mut emit)?;
        for k in h.next_op..h.next_op + 300 {
            w.step(k, &mut emit)?;
        }
        w.close()?;
        h.absorb(&lines)?;
        h.end_run();
        let obs = observe(&dir, &cfg, &mut rng)?;
        h.verify(&obs, round)
    });
    if let Err(e) = res {
        eprintln!(
            "crash (TS_SYNC_ALWAYS, clean close): FAILED\n{e}\nthe database is kept at {}",
            dir.display()
        );
        panic!("clean close and reopen check failed: {}; database kept at {}", headline(&e), dir.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// The checker itself, on synthetic states (needs no storage)
// ---------------------------------------------------------------------------------------

/// The lines a writer would print for one run: startup, ops `from..until` acknowledged,
/// then `begin until` (killed in it). `ids` and `next_id` play the database's part.
fn simulate(seed: u64, from: u64, until: u64, ids: &mut [u64; METRICS], next_id: &mut u64) -> Vec<String> {
    let mut lines = vec![format!("{MARK}open")];
    let mut create = |lines: &mut Vec<String>, m: usize, ids: &mut [u64; METRICS]| {
        lines.push(format!("{MARK}create {m}"));
        let how = if ids[m] == 0 {
            ids[m] = *next_id;
            *next_id += 1;
            "new"
        } else {
            "old"
        };
        lines.push(format!("{MARK}id {m} {} {how}", ids[m]));
    };
    for m in 0..METRICS {
        create(&mut lines, m, ids);
    }
    lines.push(format!("{MARK}ready"));
    for k in from..until {
        lines.push(format!("{MARK}begin {k}"));
        match gen_op(seed, k).kind {
            Kind::Recreate(m) => {
                lines.push(format!("{MARK}dropped {k} {m}"));
                ids[m] = 0;
                create(&mut lines, m, ids);
            }
            // A pass that dropped nothing (always a valid outcome).
            Kind::Retention(m, _) => lines.push(format!("{MARK}cut {k} {m} {}", i64::MIN)),
            _ => {}
        }
        lines.push(format!("{MARK}ack {k}"));
    }
    lines.push(format!("{MARK}begin {until}"));
    lines
}

/// The first op from `k` on that writes at least two distinct points.
fn next_batch_op(seed: u64, mut k: u64) -> u64 {
    while !matches!(gen_op(seed, k).kind, Kind::Batch(_) | Kind::Multi) || gen_op(seed, k).effect().len() < 2
    {
        k += 1;
    }
    k
}

fn observed_of(c: &Cand) -> Observed {
    let mut obs = Observed::default();
    for mm in &c.metrics {
        obs.metrics.push(mm.as_ref().map(|mm| {
            let Id::Known(id) = mm.id else { panic!("synthetic states have known ids") };
            let pts: Vec<(i64, u64)> = mm.pts.iter().map(|(&ts, &(bits, _))| (ts, bits)).collect();
            obs.points += pts.len() as u64;
            (id, pts)
        }));
    }
    obs
}

fn with_op(h: &Harness, k: u64, applied: bool) -> &Cand {
    h.cands.iter().find(|c| c.in_flight(k) == Some(applied)).expect("a state for each outcome")
}

#[track_caller]
fn expect_err(res: Result<(), String>, has: &str) {
    match res {
        Ok(()) => panic!("the checker accepted a bad state (wanted a report containing {has:?})"),
        Err(e) => assert!(e.contains(has), "report should contain {has:?}:\n{e}"),
    }
}

#[test]
fn harness_catches_what_it_should() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let seed = 0xc0ffee;
    let (mut ids, mut next_id) = ([0u64; METRICS], 1u64);
    let mut h = Harness::new(seed);

    // Killed in a batch that then turns out applied: accepted, counted as present.
    let k1 = next_batch_op(seed, 700);
    h.absorb(&simulate(seed, 0, k1, &mut ids, &mut next_id)).unwrap();
    h.end_run();
    assert_eq!(h.cands.len(), 2);
    let obs = observed_of(with_op(&h, k1, true));
    assert!(obs.points > 1000, "the synthetic history writes points ({})", obs.points);
    h.verify(&obs, 1).unwrap();
    assert_eq!((h.stats.present, h.stats.absent), (1, 0));

    // Killed in a batch that turns out absent: accepted, counted as absent.
    let k2 = next_batch_op(seed, k1 + 150);
    h.absorb(&simulate(seed, k1 + 1, k2, &mut ids, &mut next_id)).unwrap();
    h.end_run();
    let obs = observed_of(with_op(&h, k2, false));
    h.verify(&obs, 2).unwrap();
    assert_eq!((h.stats.present, h.stats.absent), (1, 1));
    assert_eq!(h.stats.acked_verified, k2 - 1, "every acknowledged op was verified");

    // The bad states below are all rejected (a failed check leaves the model as it was).
    let k3 = next_batch_op(seed, k2 + 400);
    h.absorb(&simulate(seed, k2 + 1, k3, &mut ids, &mut next_id)).unwrap();
    h.end_run();
    let with = with_op(&h, k3, true).clone();
    h.verify(&observed_of(&with), 3).unwrap_or_else(|e| panic!("a good state was rejected:\n{e}"));
    h.absorb(&simulate(seed, k3 + 1, k3 + 400, &mut ids, &mut next_id)).unwrap();
    h.end_run();
    let k4 = k3 + 400;
    let with = h.cands.iter().find(|c| c.in_flight(k4) != Some(false)).unwrap().clone();

    // 1. An acknowledged point lost.
    let mut obs = observed_of(&with);
    let (m, pos) = (0..METRICS)
        .find_map(|m| {
            let (_, pts) = obs.metrics[m].as_ref()?;
            let mm = with.metrics[m].as_ref()?;
            pts.iter().position(|(ts, _)| mm.pts[ts].1 < k4).map(|p| (m, p))
        })
        .unwrap();
    let lost = obs.metrics[m].as_mut().unwrap().1.remove(pos);
    expect_err(h.verify(&obs, 4), "lost after reopen");
    expect_err(h.verify(&obs, 4), &format!("m{m} ts {}", lost.0));
    expect_err(h.verify(&obs, 4), "acknowledged op");

    // 2. A point never written.
    let mut obs = observed_of(&with);
    let (_, pts) = obs.metrics[2].as_mut().unwrap();
    pts.insert(0, (T0 - 5, 1.5f64.to_bits()));
    expect_err(h.verify(&obs, 4), "nothing was written there");

    // 3. A wrong id, and a metric that should not be there.
    let mut obs = observed_of(&with);
    obs.metrics[1].as_mut().unwrap().0 += 1000;
    expect_err(h.verify(&obs, 4), "has id");

    // 4. An in-flight batch seen in part.
    let k5 = next_batch_op(seed, k4 + 1);
    let mut h2 = Harness::new(seed);
    let (mut ids2, mut next2) = ([0u64; METRICS], 1u64);
    h2.absorb(&simulate(seed, 0, k5, &mut ids2, &mut next2)).unwrap();
    h2.end_run();
    let (with, without) = (with_op(&h2, k5, true), with_op(&h2, k5, false));
    let mut obs = observed_of(with);
    let eff = gen_op(seed, k5).effect();
    let (&(m, ts), _) = eff.iter().next().unwrap();
    let (_, pts) = obs.metrics[m].as_mut().unwrap();
    let at = pts.iter().position(|p| p.0 == ts).unwrap();
    match without.metrics[m].as_ref().unwrap().pts.get(&ts) {
        Some(&(bits, _)) => pts[at].1 = bits,
        None => {
            pts.remove(at);
        }
    }
    expect_err(h2.verify(&obs, 5), "ATOMICITY");
    expect_err(h2.verify(&obs, 5), &format!("partially present: {} of its {}", eff.len() - 1, eff.len()));

    // 5. An id handed out twice.
    expect_err(h2.absorb(&[format!("{MARK}create 3"), format!("{MARK}id 3 1 new")]), "never be reused");
}

/// A retention cut that drops points within the span is caught; one that drops only
/// points past it is accepted, and in-flight cuts are read off the reopened state.
#[test]
fn harness_checks_retention_cuts() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let mut pts = BTreeMap::new();
    for ts in 0..100i64 {
        pts.insert(ts, (ts as u64, 1u64));
    }
    let mut metrics = vec![None; METRICS];
    metrics[0] = Some(MetricModel { id: Id::Known(1), pts });
    let c = Cand { metrics, choices: vec![], unknown_cuts: vec![] };
    // Newest point 99, span 50: points below 49 may go, none from 49 on.
    let mut ok = c.clone();
    ok.cut(0, 50, 40).unwrap();
    assert_eq!(ok.metrics[0].as_ref().unwrap().pts.len(), 60);
    expect_err(c.clone().cut(0, 50, 60), "within the span");
    // In flight: the cut comes from the observation.
    let mut pending = c.clone();
    pending.unknown_cuts.push((0, 50));
    let mut obs = observed_of(&ok);
    assert_eq!(pending.resolved(&obs).unwrap().metrics[0].as_ref().unwrap().pts.len(), 60);
    obs.metrics[0].as_mut().unwrap().1.drain(..15); // first point 55: within the span
    expect_err(pending.resolved(&obs).map(|_| ()), "within the span");
}
