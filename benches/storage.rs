//! `cargo bench --bench storage`: the durable-storage figures of libtsdb (issue 4's list),
//! measured through the Rust API.
//!
//! The Rust API (`tsdb::Database`) is called directly, not the C API: the figures here are
//! about the write-ahead log, checkpoints, data segments and recovery, and the cost of the
//! C boundary is measured in benches/core.rs.
//!
//! This is a program that prints figures, not a test: it asserts nothing about timing (it
//! does check that reopened databases hold the points written). Rates are measured for about
//! a second after a warm-up (see [`Cfg`]).
//!
//! Sections (`TSDB_BENCH_ONLY=ingest,group-commit,open,disk`, any subset, runs only those):
//!
//! - `ingest`: one thread, per sync policy: `insert_batch` of 1,000 points per call and
//!   single-point `insert`, 100 metrics round-robin.
//! - `group-commit`: `SyncPolicy::Always` with 1, 4 and 16 writer threads doing single-point
//!   inserts: points/s, fsync rounds per second and points per fsync.
//! - `open`: `Database::open` of 10^8 points after a clean close (empty log), and of a
//!   database left with 1 GiB of write-ahead log. The log is left by a child process (this
//!   binary re-executed with `--tsdb-wal-child`) that writes and then exits without closing,
//!   as a crash would: no final checkpoint, the log stays.
//! - `disk`: bytes on disk per point after close (what `du` counts) for each data shape of
//!   `tsdb::codec::shapes`, beside the codec's own bytes per point for the same points.
//!
//! `TSDB_BENCH_QUICK=1` runs tiny sizes and short durations: a smoke run for CI that checks
//! the benchmark still works; its figures mean nothing and no verdicts are given.
//!
//! Temporary databases live under `std::env::temp_dir()` (names with the process id) and
//! are removed at the end.
mod common;
use common::{CpuTimes, fmt_num, human, median, thread_sched_ns};

use std::hint::black_box;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tsdb::codec::{self, shapes};
use tsdb::{Database, MetricId, Options, SyncPolicy};

const WAL_CHILD_ARG: &str = "--tsdb-wal-child";

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// Sizes and durations; `quick` shrinks everything for a smoke run.
struct Cfg {
    quick: bool,
    /// Warm-up before each figure.
    warm: Duration,
    /// Measurement time of each figure.
    meas: Duration,
    /// Ingest: metrics written round-robin, and points per `insert_batch` call.
    ingest_metrics: usize,
    batch: usize,
    /// Group commit: writer thread counts.
    writers: [usize; 3],
    /// Open: metrics, points per metric and points per `insert_batch` call of the build.
    open_metrics: usize,
    open_points: usize,
    open_batch: usize,
    /// Opens timed (median) on the database with an empty log.
    open_runs: usize,
    /// Bytes of write-ahead log the child leaves behind.
    wal_bytes: u64,
    /// Disk: metrics per shape and points per metric.
    disk_metrics: usize,
    disk_points: usize,
}

impl Cfg {
    fn from_env() -> Cfg {
        let quick = std::env::var("TSDB_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Cfg {
                quick,
                warm: Duration::from_millis(10),
                meas: Duration::from_millis(50),
                ingest_metrics: 100,
                batch: 1000,
                writers: [1, 4, 16],
                open_metrics: 100,
                open_points: 10_000,
                open_batch: 10_000,
                open_runs: 3,
                wal_bytes: 8 << 20,
                disk_metrics: 10,
                disk_points: 5_000,
            }
        } else {
            Cfg {
                quick,
                warm: Duration::from_millis(300),
                meas: Duration::from_millis(1000),
                ingest_metrics: 100,
                batch: 1000,
                writers: [1, 4, 16],
                open_metrics: 1000,
                open_points: 100_000,
                open_batch: 10_000,
                open_runs: 3,
                wal_bytes: 1 << 30,
                disk_metrics: 100,
                disk_points: 50_000,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Databases, directories and data
// ---------------------------------------------------------------------------------------

/// A fresh directory path under the temporary directory, removed (with everything in it)
/// on drop. The database creates the directory itself.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tsdb-bench-storage-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[track_caller]
fn open(dir: &Path, opts: &Options) -> Database {
    Database::open(dir, opts).unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

#[track_caller]
fn close(db: Database) {
    if let Err((_, e)) = db.close() {
        panic!("close: {e}");
    }
}

fn create_metrics(db: &Database, prefix: &str, n: usize) -> Vec<MetricId> {
    (0..n)
        .map(|i| db.create_metric(&format!("{prefix}.m{i:04}")).unwrap_or_else(|e| panic!("create: {e}")))
        .collect()
}

fn opts_with(sync: SyncPolicy) -> Options {
    Options { sync, ..Options::default() }
}

/// Options of the log case: no checkpoint ever runs, so the whole log stays.
fn no_checkpoint_opts() -> Options {
    Options { checkpoint_bytes: 1 << 40, ..Options::default() }
}

/// Points of metric `id` (a full scan through a cursor).
fn count_points(db: &Database, id: MetricId) -> u64 {
    let snap = db.begin();
    let mut c = snap.scan(id, i64::MIN, i64::MAX).expect("scan");
    let (mut ts, mut vals) = (vec![0i64; 4096], vec![0f64; 4096]);
    let mut n = 0u64;
    loop {
        match c.next_batch(Some(&mut ts), Some(&mut vals)).expect("next_batch") {
            0 => break,
            k => n += k as u64,
        }
    }
    n
}

/// Bytes on disk under `path` as `du` counts them (st_blocks x 512 of every file and
/// directory, recursively), and the number of files.
fn du(path: &Path) -> (u64, usize) {
    let Ok(md) = std::fs::symlink_metadata(path) else { return (0, 0) };
    let mut bytes = md.blocks() * 512;
    let mut files = 0;
    if md.is_dir() {
        for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
            let (b, f) = du(&e.path());
            bytes += b;
            files += f;
        }
    } else {
        files = 1;
    }
    (bytes, files)
}

/// Points of the gauge shape of `tsdb::codec::shapes` (10 s interval plus 0..999 ms of
/// jitter, a 2-decimal random walk), cycled: point `i` of a metric has timestamp
/// `T0 + i x 10 s + jitter[i % POOL]` and value `vals[(i + shift) % POOL]`. Precomputed, so
/// that generating points costs the timed loops next to nothing.
struct Pool {
    jitter: Vec<i64>,
    vals: Vec<f64>,
}

const POOL: usize = 100_000;

impl Pool {
    fn new() -> Pool {
        let s = shapes::gauge(POOL, 11);
        let jitter = s.ts.iter().enumerate().map(|(i, &t)| t - shapes::T0 - i as i64 * 10_000).collect();
        Pool { jitter, vals: s.vals }
    }

    fn ts(&self, i: u64) -> i64 {
        shapes::T0 + i as i64 * 10_000 + self.jitter[(i % POOL as u64) as usize]
    }

    fn val(&self, i: u64) -> f64 {
        self.vals[(i % POOL as u64) as usize]
    }

    /// Points `i0..i0 + ts.len()` of a metric whose values are shifted by `shift`.
    fn fill(&self, i0: u64, shift: u64, ts: &mut [i64], vals: &mut [f64]) {
        for (j, (t, v)) in ts.iter_mut().zip(vals.iter_mut()).enumerate() {
            let i = i0 + j as u64;
            *t = self.ts(i);
            *v = self.val(i + shift);
        }
    }
}

/// One writer: `calls` writes per chunk of `batch` points each (`insert` when 1), one metric
/// per call, round-robin; timestamps ascend per metric.
struct Writer<'a> {
    db: &'a Database,
    pool: &'a Pool,
    ids: Vec<MetricId>,
    written: Vec<u64>,
    next: usize,
    calls: usize,
    ts: Vec<i64>,
    vals: Vec<f64>,
}

impl<'a> Writer<'a> {
    fn new(db: &'a Database, pool: &'a Pool, ids: Vec<MetricId>, batch: usize, calls: usize) -> Writer<'a> {
        let n = ids.len();
        Writer {
            db,
            pool,
            ids,
            written: vec![0; n],
            next: 0,
            calls,
            ts: vec![0; batch],
            vals: vec![0.0; batch],
        }
    }

    /// Write `calls` times; returns the points written.
    fn chunk(&mut self) -> u64 {
        let batch = self.ts.len() as u64;
        for _ in 0..self.calls {
            let k = self.next;
            self.next = if k + 1 == self.ids.len() { 0 } else { k + 1 };
            let i0 = self.written[k];
            let shift = k as u64 * 7919;
            let res = if batch == 1 {
                self.db.insert(self.ids[k], self.pool.ts(i0), self.pool.val(i0 + shift))
            } else {
                self.pool.fill(i0, shift, &mut self.ts, &mut self.vals);
                self.db.insert_batch(self.ids[k], &self.ts, &self.vals)
            };
            if let Err(e) = res {
                panic!("write failed: {e}");
            }
            self.written[k] += batch;
        }
        self.calls as u64 * batch
    }
}

// ---------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------

/// Per-operation nanoseconds over many chunks: the median, fastest and slowest chunk.
struct Sample {
    median_ns: f64,
    min_ns: f64,
    max_ns: f64,
    chunks: usize,
}

impl Sample {
    fn of(mut per_op: Vec<f64>) -> Sample {
        assert!(!per_op.is_empty(), "at least one chunk");
        per_op.sort_by(f64::total_cmp);
        Sample {
            median_ns: per_op[per_op.len() / 2],
            min_ns: per_op[0],
            max_ns: per_op[per_op.len() - 1],
            chunks: per_op.len(),
        }
    }
}

/// Result of [`measure`].
struct Measured {
    /// Points over the whole measurement window (stalls between chunks included).
    sustained: f64,
    /// Per-point time of the chunks.
    chunks: Sample,
    /// Log bytes and fsync rounds per second over the window.
    wal_bytes_per_s: f64,
    syncs_per_s: f64,
    /// Shares of the window the thread spent on a CPU and runnable but waiting for one
    /// (the rest it was blocked: fsync, locks), when /proc/thread-self/schedstat is there.
    sched: Option<(f64, f64)>,
    /// Share of a CPU the process's other threads (the background thread: syncs and
    /// checkpoints) used over the window.
    others_on_cpu: Option<f64>,
}

/// Summed (on-CPU ns, runnable-but-waiting ns) of every thread of this process, from
/// /proc/self/task/*/schedstat.
fn process_sched_ns() -> Option<(u64, u64)> {
    let mut sum = (0, 0);
    for e in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let st = std::fs::read_to_string(e.path().join("schedstat")).ok()?;
        let mut f = st.split_whitespace().map(|x| x.parse::<u64>().ok());
        sum.0 += f.next()??;
        sum.1 += f.next()??;
    }
    Some(sum)
}

/// Run `chunk` (which writes some points and returns how many) during the warm-up, then
/// for `cfg.meas` (and at least 3 chunks), timing each chunk and the whole window.
fn measure(cfg: &Cfg, db: &Database, mut chunk: impl FnMut() -> u64) -> Measured {
    let t0 = Instant::now();
    while t0.elapsed() < cfg.warm {
        black_box(chunk());
    }
    let s0 = db.storage_stats();
    let mut per_op = Vec::new();
    let mut points = 0u64;
    let sched0 = thread_sched_ns();
    let proc0 = process_sched_ns();
    let t0 = Instant::now();
    while t0.elapsed() < cfg.meas || per_op.len() < 3 {
        let t = Instant::now();
        let n = chunk();
        per_op.push(t.elapsed().as_nanos() as f64 / n.max(1) as f64);
        points += n;
    }
    let secs = t0.elapsed().as_secs_f64();
    let (sched1, proc1) = (thread_sched_ns(), process_sched_ns());
    let sched =
        sched0.zip(sched1).map(|(a, b)| ((b.0 - a.0) as f64 / 1e9 / secs, (b.1 - a.1) as f64 / 1e9 / secs));
    let others_on_cpu = proc0
        .zip(proc1)
        .zip(sched0.zip(sched1))
        .map(|((p0, p1), (t0, t1))| ((p1.0 - p0.0) as f64 - (t1.0 - t0.0) as f64).max(0.0) / 1e9 / secs);
    let s1 = db.storage_stats();
    Measured {
        sustained: points as f64 / secs,
        chunks: Sample::of(per_op),
        wal_bytes_per_s: (s1.wal_bytes - s0.wal_bytes) as f64 / secs,
        syncs_per_s: (s1.wal_syncs - s0.wal_syncs) as f64 / secs,
        sched,
        others_on_cpu,
    }
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

/// One target and whether it was met (`None` in quick mode).
struct Verdict {
    target: String,
    met: Option<bool>,
}

struct Report {
    quick: bool,
    verdicts: Vec<Verdict>,
}

impl Report {
    fn section(&self, title: &str) {
        println!();
        println!("== {title}");
    }

    /// An informative figure with no target.
    fn info(&self, name: &str, value: f64, unit: &str, note: &str) {
        println!("  {name:<56} {:>10} {unit:<14} {note}", fmt_num(value));
    }

    /// A line of notes under the figure above.
    fn note(&self, note: &str) {
        println!("  {:<56} {:>10} {:<14} {note}", "", "", "");
    }

    /// A figure with a target: prints the target and the verdict next to it.
    fn target(&mut self, name: &str, value: f64, unit: &str, target: &str, met: bool, summary: &str) {
        let verdict = if self.quick {
            "(quick: no verdict)"
        } else if met {
            "MET"
        } else {
            "NOT MET"
        };
        println!("  {name:<56} {:>10} {unit:<14} target {target:<18} {verdict}", fmt_num(value));
        self.verdicts.push(Verdict { target: summary.to_string(), met: (!self.quick).then_some(met) });
    }
}

/// Bytes as MiB or GiB.
fn bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

/// A rate of points per second with a unit that keeps it readable.
fn rate(points_per_s: f64) -> (f64, &'static str) {
    if points_per_s >= 1e6 {
        (points_per_s / 1e6, "M points/s")
    } else if points_per_s >= 1e4 {
        (points_per_s / 1e3, "K points/s")
    } else {
        (points_per_s, "points/s")
    }
}

fn spread(s: &Sample) -> String {
    format!("chunks {}..{} ns/point, n={}", fmt_num(s.min_ns), fmt_num(s.max_ns), s.chunks)
}

fn policy_name(p: SyncPolicy) -> String {
    match p {
        SyncPolicy::Always => "Always".into(),
        SyncPolicy::Interval(ms) => format!("Interval({ms})"),
        SyncPolicy::None => "None".into(),
    }
}

// ---------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------

fn bench_ingest(cfg: &Cfg, r: &mut Report) {
    r.section(&format!(
        "ingest: 1 thread, {} metrics round-robin, ascending timestamps (gauge shape); fresh database \
         per figure, default options but `sync`",
        cfg.ingest_metrics
    ));
    println!(
        "  (figure: points over the whole ~{} ms window, seals, stalls and time without a CPU included;\n   \
         per CPU-second: points / the writer thread's on-CPU time, roughly the rate on an idle machine.\n   \
         The median chunk (10 calls) is shown but is no figure of merit: the metrics fill in lockstep,\n   \
         so every head seals in the same round and most chunks hold no seal at all.)",
        cfg.meas.as_millis()
    );
    let pool = Pool::new();
    for policy in [SyncPolicy::Always, SyncPolicy::Interval(100), SyncPolicy::None] {
        for batch in [cfg.batch, 1] {
            let dir = TempDir::new("ingest");
            let db = open(&dir.0, &opts_with(policy));
            let ids = create_metrics(&db, "bench.ingest", cfg.ingest_metrics);
            // Under Always every call waits for an fsync: short chunks, or a chunk lasts seconds.
            let calls = match (policy, batch) {
                (SyncPolicy::Always, 1) => 10,
                (SyncPolicy::Always, _) => 1,
                (_, 1) => 1000,
                _ => 10,
            };
            let mut w = Writer::new(&db, &pool, ids, batch, calls);
            let m = measure(cfg, &db, || w.chunk());
            drop(w);
            close(db);
            let pname = policy_name(policy);
            let name = if batch > 1 {
                format!("insert_batch ({} points/call), {pname}", human(batch))
            } else {
                format!("insert (1 point/call), {pname}")
            };
            let goal = match (policy, batch) {
                (SyncPolicy::Interval(100), 1) => Some(2e6),
                (SyncPolicy::Interval(100), _) => Some(10e6),
                _ => None,
            };
            match goal {
                Some(g) => r.target(
                    &name,
                    m.sustained / 1e6,
                    "M points/s",
                    &format!(">= {} M points/s", g / 1e6),
                    m.sustained >= g,
                    &format!("{name}, 1 thread >= {}M points/s", g / 1e6),
                ),
                None => {
                    let (v, unit) = rate(m.sustained);
                    r.info(&name, v, unit, "");
                }
            }
            if let Some((on, wait)) = m.sched {
                let (v, unit) = rate(m.sustained / on.max(1e-9));
                r.note(&format!(
                    "writer: on a CPU {:.0}%, waiting for a CPU {:.0}%, blocked {:.0}%; per CPU-second {} {unit}{}",
                    on * 100.0,
                    wait * 100.0,
                    (1.0 - on - wait).max(0.0) * 100.0,
                    fmt_num(v),
                    if wait > 0.05 { " (lacked a CPU: figure understated)" } else { "" }
                ));
            }
            let (v, unit) = rate(1e9 / m.chunks.median_ns);
            r.note(&format!(
                "log {} MB/s, {} fsyncs/s; background thread on a CPU {}; median chunk {} {unit} ({})",
                fmt_num(m.wal_bytes_per_s / 1e6),
                fmt_num(m.syncs_per_s),
                m.others_on_cpu.map_or("?".into(), |x| format!("{:.0}%", x * 100.0)),
                fmt_num(v),
                spread(&m.chunks),
            ));
        }
    }
}

/// Cache-line padded counter, one per writer thread.
#[repr(align(128))]
#[derive(Default)]
struct Counter(AtomicU64);

fn bench_group_commit(cfg: &Cfg, r: &mut Report) {
    r.section(
        "group commit: SyncPolicy::Always, N writer threads, each doing single-point insert into its own metric",
    );
    println!(
        "  (one common ~{} ms window after a {} ms warm-up; fsync rounds from storage_stats().wal_syncs)",
        cfg.meas.as_millis(),
        cfg.warm.as_millis()
    );
    // The device's floor: one 4 KiB write + fdatasync of a plain file in the same directory.
    {
        let dir = TempDir::new("fsync");
        std::fs::create_dir(&dir.0).expect("create temp dir");
        let f = std::fs::File::create(dir.0.join("probe")).expect("create probe file");
        let page = [0x5au8; 4096];
        for k in 0..256 {
            f.write_all_at(&page, k * 4096).expect("write probe");
        }
        f.sync_all().expect("fsync probe");
        let mut lat = Vec::new();
        let t0 = Instant::now();
        let mut k = 0u64;
        while t0.elapsed() < cfg.meas / 4 || lat.len() < 3 {
            let t = Instant::now();
            f.write_all_at(&page, (k % 256) * 4096).expect("write probe");
            f.sync_data().expect("fdatasync probe");
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            k += 1;
        }
        let n = lat.len();
        r.info(
            "(device: 4 KiB overwrite + fdatasync, plain file)",
            median(&mut lat),
            "ms (median)",
            &format!("{n} rounds"),
        );
    }
    let pool = Pool::new();
    for &n in &cfg.writers {
        let dir = TempDir::new("group");
        let db = open(&dir.0, &opts_with(SyncPolicy::Always));
        let ids = create_metrics(&db, "bench.group", n);
        let counters: Vec<Counter> = (0..n).map(|_| Counter::default()).collect();
        let stop = AtomicBool::new(false);
        let (points, syncs, cpu, secs) = std::thread::scope(|s| {
            for (t, id) in ids.iter().enumerate() {
                let (db, pool, stop, counter) = (&db, &pool, &stop, &counters[t].0);
                s.spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if let Err(e) = db.insert(*id, pool.ts(i), pool.val(i)) {
                            panic!("insert failed: {e}");
                        }
                        i += 1;
                        counter.store(i, Ordering::Relaxed);
                    }
                });
            }
            let total = || counters.iter().map(|c| c.0.load(Ordering::Relaxed)).sum::<u64>();
            std::thread::sleep(cfg.warm);
            let (p0, s0, c0, t0) =
                (total(), db.storage_stats().wal_syncs, process_sched_ns(), Instant::now());
            std::thread::sleep(cfg.meas);
            let (p1, s1, c1) = (total(), db.storage_stats().wal_syncs, process_sched_ns());
            let secs = t0.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
            let cpu =
                c0.zip(c1).map(|(a, b)| ((b.0 - a.0) as f64 / 1e9 / secs, (b.1 - a.1) as f64 / 1e9 / secs));
            (p1 - p0, s1 - s0, cpu, secs)
        });
        close(db);
        let pps = points as f64 / secs;
        let (v, unit) = rate(pps);
        r.info(
            &format!("{n} writer thread{}", if n > 1 { "s" } else { "" }),
            v,
            unit,
            &format!(
                "{} fsyncs/s, {} points/fsync; {} ms per insert (each thread)",
                fmt_num(syncs as f64 / secs),
                fmt_num(points as f64 / syncs.max(1) as f64),
                fmt_num(n as f64 / pps.max(1e-9) * 1e3)
            ),
        );
        if let Some((on, wait)) = cpu {
            r.note(&format!(
                "all threads together: on a CPU {on:.2} CPUs' worth, runnable but waiting for a CPU {wait:.2}"
            ));
        }
    }
}

fn bench_open(cfg: &Cfg, r: &mut Report) {
    let total = cfg.open_metrics * cfg.open_points;
    r.section(&format!(
        "open: Database::open of {} points ({} metrics x {}, gauge shape), default options",
        human(total),
        human(cfg.open_metrics),
        human(cfg.open_points)
    ));
    let pool = Pool::new();
    let dir = TempDir::new("open");
    let opts = Options::default();

    // Build: insert_batch round-robin over the metrics.
    let db = open(&dir.0, &opts);
    let ids = create_metrics(&db, "bench.open", cfg.open_metrics);
    let (mut ts, mut vals) = (vec![0i64; cfg.open_batch], vec![0f64; cfg.open_batch]);
    let t0 = Instant::now();
    for round in 0..cfg.open_points / cfg.open_batch {
        for (k, &id) in ids.iter().enumerate() {
            pool.fill((round * cfg.open_batch) as u64, k as u64 * 7919, &mut ts, &mut vals);
            db.insert_batch(id, &ts, &vals).unwrap_or_else(|e| panic!("insert_batch: {e}"));
        }
    }
    let build = t0.elapsed().as_secs_f64();
    let st = db.storage_stats();
    let t0 = Instant::now();
    close(db);
    let close_secs = t0.elapsed().as_secs_f64();
    r.info(
        &format!("(build: insert_batch of {}, round-robin, 1 thread)", human(cfg.open_batch)),
        total as f64 / build / 1e6,
        "M points/s",
        &format!(
            "{:.1} s; {} of log written; checkpoints ran every 64 MiB of it",
            build,
            bytes(st.wal_bytes)
        ),
    );
    r.info("(close: final checkpoint, log deleted)", close_secs, "s", "");
    let (all, files) = du(&dir.0);
    let (wal, _) = du(&dir.0.join("wal"));
    let (data, data_files) = du(&dir.0.join("data"));
    r.info(
        "du of the directory after close",
        all as f64 / (1 << 20) as f64,
        "MiB",
        &format!(
            "{} B/point; {files} files: data {} in {data_files}, log {}, rest {} KiB",
            fmt_num(all as f64 / total as f64),
            bytes(data),
            bytes(wal),
            (all - data - wal) / 1024
        ),
    );

    // Opens with an empty log: the manifest is loaded, head extents decoded.
    let mut times = Vec::new();
    let mut closes = Vec::new();
    for run in 0..cfg.open_runs {
        let t0 = Instant::now();
        let db = open(&dir.0, &opts);
        times.push(t0.elapsed().as_secs_f64());
        if run == 0 {
            let n = count_points(&db, ids[0]);
            assert_eq!(n, cfg.open_points as u64, "points of the first metric after reopening");
        }
        let t0 = Instant::now();
        close(db);
        closes.push(t0.elapsed().as_secs_f64());
    }
    let (lo, hi) =
        (times.iter().copied().fold(f64::MAX, f64::min), times.iter().copied().fold(0.0, f64::max));
    let med = median(&mut times);
    let name = format!("open, {} points, empty log (median of {})", human(total), cfg.open_runs);
    r.target(
        &name,
        med * 1e3,
        "ms",
        "<= 1000 ms",
        med <= 1.0,
        &format!("open of {} points with an empty write-ahead log <= 1 s", human(total)),
    );
    r.note(&format!(
        "opens {}..{} ms; close right after each open (nothing written) {} ms (median)",
        fmt_num(lo * 1e3),
        fmt_num(hi * 1e3),
        fmt_num(median(&mut closes) * 1e3)
    ));
    drop(dir);

    // The log case: a child writes until the log holds `wal_bytes`, then exits without
    // closing (no final checkpoint; the log stays on disk and in the page cache).
    let dir = TempDir::new("wal");
    println!(
        "  -- a child process (this binary, {WAL_CHILD_ARG}) writes insert_batch of {} points round-robin into\n     \
         {} metrics with checkpoint_bytes = 2^40 (no checkpoint) until the log holds {}, then exits\n     \
         without closing; this process then opens the database (same options): load + log replay.",
        human(cfg.batch),
        human(cfg.open_metrics),
        bytes(cfg.wal_bytes)
    );
    let exe = std::env::current_exe().expect("current_exe");
    let out = std::process::Command::new(exe)
        .arg(WAL_CHILD_ARG)
        .arg(&dir.0)
        .arg(cfg.wal_bytes.to_string())
        .arg(cfg.open_metrics.to_string())
        .arg(cfg.batch.to_string())
        .output()
        .expect("spawn the log child");
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!("log child failed: {}\n{text}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let get = |k: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("log child did not report {k}:\n{text}"))
    };
    let (points, batches, wal_bytes, child_secs) =
        (get("points"), get("batches"), get("wal_bytes"), get("secs"));
    let (wal_du, wal_files) = du(&dir.0.join("wal"));
    let (data_du, _) = du(&dir.0.join("data"));
    r.info(
        "(child: insert_batch into the log, 1 thread)",
        points / child_secs / 1e6,
        "M points/s",
        &format!(
            "{} points, {} of log records in {wal_files} segments ({} on disk, preallocated); \
             data segments {}",
            human(points as usize),
            bytes(wal_bytes as u64),
            bytes(wal_du),
            bytes(data_du)
        ),
    );
    let opts = no_checkpoint_opts();
    let t0 = Instant::now();
    let db = open(&dir.0, &opts);
    let secs = t0.elapsed().as_secs_f64();
    let per_metric = (batches as u64).div_ceil(cfg.open_metrics as u64) * cfg.batch as u64;
    let first = db.begin().lookup("bench.wal.m0000").expect("metric after replay");
    assert_eq!(count_points(&db, first), per_metric, "points of the first metric after replay");
    r.info(
        &format!("open with {} of log (replay)", bytes(wal_bytes as u64)),
        secs,
        "s",
        &format!(
            "replay {} MB/s of log (MB = 10^6 bytes), {} M points/s",
            fmt_num(wal_bytes / secs / 1e6),
            fmt_num(points / secs / 1e6)
        ),
    );
    let t0 = Instant::now();
    close(db);
    let close_secs = t0.elapsed().as_secs_f64();
    let (all, _) = du(&dir.0);
    r.info(
        "(close after the replay: final checkpoint, log deleted)",
        close_secs,
        "s",
        &format!("du after: {} ({} B/point)", bytes(all), fmt_num(all as f64 / points)),
    );
}

/// The log child: open `dir` without checkpoints, write until the log holds `target` bytes,
/// print what was written and exit without closing.
fn wal_child(dir: &Path, target: u64, metrics: usize, batch: usize) -> ! {
    let db = open(dir, &no_checkpoint_opts());
    let ids = create_metrics(&db, "bench.wal", metrics);
    let pool = Pool::new();
    let calls = 10;
    let mut w = Writer::new(&db, &pool, ids, batch, calls);
    let mut points = 0u64;
    let t0 = Instant::now();
    while db.storage_stats().wal_bytes < target {
        points += w.chunk();
    }
    let secs = t0.elapsed().as_secs_f64();
    let wal_bytes = db.storage_stats().wal_bytes;
    println!("points={points}\nbatches={}\nwal_bytes={wal_bytes}\nsecs={secs}", points / batch as u64);
    // No destructors run: the database is never closed, so its log is all there is.
    std::process::exit(0)
}

/// One shape of the disk section: its series, one per metric.
struct ShapeDb {
    name: String,
    dir: TempDir,
    db: Option<Database>,
    ids: Vec<MetricId>,
    points: u64,
    codec_bytes: u64,
}

impl ShapeDb {
    fn new(name: &str, metrics: usize) -> ShapeDb {
        let dir = TempDir::new("disk");
        let db = open(&dir.0, &Options::default());
        let ids = create_metrics(&db, "bench.disk", metrics);
        ShapeDb { name: name.to_string(), dir, db: Some(db), ids, points: 0, codec_bytes: 0 }
    }

    /// Write `s` into metric `k` in `batch`-point calls, and encode it as the codec
    /// benchmark does (4096-point blocks) to count the codec's own bytes.
    fn write(&mut self, k: usize, s: &shapes::Series, batch: usize, out: &mut Vec<u8>) {
        let db = self.db.as_ref().expect("open");
        for (t, v) in s.ts.chunks(batch).zip(s.vals.chunks(batch)) {
            db.insert_batch(self.ids[k], t, v).unwrap_or_else(|e| panic!("insert_batch: {e}"));
        }
        for (t, v) in s.ts.chunks(CODEC_BLOCK).zip(s.vals.chunks(CODEC_BLOCK)) {
            out.clear();
            codec::encode(t, v, out);
            self.codec_bytes += out.len() as u64;
        }
        self.points += s.ts.len() as u64;
    }
}

/// The small databases of the disk section: their names and `shapes::synthetic` indexes.
const SMALL: [(&str, usize); 2] = [("gauge, small", 0), ("constant, small", 3)];
const SMALL_METRICS: usize = 10;

/// Points per block of the codec figure: the engine's default partition size.
const CODEC_BLOCK: usize = 4096;

fn bench_disk(cfg: &Cfg, r: &mut Report) {
    r.section(&format!(
        "disk: bytes per point on disk after close (du: st_blocks x 512 of every file) vs the codec's own \
         bytes per point ({CODEC_BLOCK}-point blocks, as benches/codec.rs)"
    ));
    let recorded = shapes::recorded();
    let rec_points: usize = recorded.iter().map(|s| s.ts.len()).sum();
    let copies = (cfg.disk_metrics * cfg.disk_points / rec_points.max(1)).max(1);
    println!(
        "  (synthetic shapes: {} metrics x {} points, metric m = shapes::synthetic({}, m); recorded (/proc):\n   \
         the {} series of data/node_metrics.csv ({} points) written {copies} times as distinct metrics
   (many short series), and each series continued {copies} times in time (long series: the recording
   replayed with shifted timestamps); small: gauge and constant, {SMALL_METRICS} metrics x {} points;\n   \
         insert_batch of {} points in ascending order, default options, then close)",
        cfg.disk_metrics,
        human(cfg.disk_points),
        cfg.disk_points,
        recorded.len(),
        rec_points,
        human(cfg.disk_metrics * cfg.disk_points / 5 / SMALL_METRICS),
        human(cfg.batch)
    );
    let mut dbs: Vec<ShapeDb> = shapes::synthetic(1, 0)
        .iter()
        .map(|s| ShapeDb::new(s.name, cfg.disk_metrics))
        .chain(std::iter::once(ShapeDb::new("recorded, short", recorded.len() * copies)))
        .chain(std::iter::once(ShapeDb::new("recorded, long", recorded.len())))
        .chain(SMALL.iter().map(|&(name, _)| ShapeDb::new(name, SMALL_METRICS)))
        .collect();
    let mut out = Vec::with_capacity(CODEC_BLOCK * 16);
    let t0 = Instant::now();
    for m in 0..cfg.disk_metrics {
        for (k, s) in shapes::synthetic(cfg.disk_points, m as u64).iter().enumerate() {
            dbs[k].write(m, s, cfg.batch, &mut out);
        }
    }
    // Small databases (a fifth of the points, in 10 metrics): fixed costs weigh more.
    let n = dbs.len() - SMALL.len();
    let small_points = cfg.disk_metrics * cfg.disk_points / 5 / SMALL_METRICS;
    for m in 0..SMALL_METRICS {
        let series = shapes::synthetic(small_points, 1_000 + m as u64);
        for (k, &(_, shape)) in SMALL.iter().enumerate() {
            dbs[n + k].write(m, &series[shape], cfg.batch, &mut out);
        }
    }
    let short = &mut dbs[n - 2];
    for c in 0..copies {
        for (k, s) in recorded.iter().enumerate() {
            short.write(c * recorded.len() + k, s, cfg.batch, &mut out);
        }
    }
    let long = &mut dbs[n - 1];
    for (k, s) in recorded.iter().enumerate() {
        // The recording again and again, each time after the last: one long series.
        let span = s.ts.last().expect("non-empty") - s.ts[0] + 1_000;
        let ts: Vec<i64> = (0..copies as i64).flat_map(|c| s.ts.iter().map(move |t| t + c * span)).collect();
        let vals: Vec<f64> = (0..copies).flat_map(|_| s.vals.iter().copied()).collect();
        long.write(k, &shapes::Series { name: s.name, ts, vals }, cfg.batch, &mut out);
    }
    for d in &mut dbs {
        close(d.db.take().expect("open"));
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("  (du = data segments + MANIFEST + directories; the last two columns split it)");
    println!(
        "  {:<18} {:>7} {:>7} {:>8} {:>10} {:>8}   {:<19} {:>8} {:>8}",
        "shape",
        "points",
        "metrics",
        "du B/pt",
        "codec B/pt",
        "du/codec",
        "du <= codec x 1.05",
        "data",
        "manifest"
    );
    for d in &dbs {
        let (du_bytes, _) = du(&d.dir.0);
        let (data_bytes, _) = du(&d.dir.0.join("data"));
        let (manifest_bytes, _) = du(&d.dir.0.join("MANIFEST"));
        let pts = d.points as f64;
        let (dbp, cbp) = (du_bytes as f64 / pts, d.codec_bytes as f64 / pts);
        let ratio = dbp / cbp;
        let verdict = if r.quick {
            "(quick: no verdict)"
        } else if ratio <= 1.05 {
            "MET"
        } else {
            "NOT MET"
        };
        println!(
            "  {:<18} {:>7} {:>7} {:>8.3} {:>10.3} {:>8.3}   {verdict:<19} {:>8.3} {:>8.3}",
            d.name,
            human(d.points as usize),
            d.ids.len(),
            dbp,
            cbp,
            ratio,
            data_bytes as f64 / pts,
            manifest_bytes as f64 / pts
        );
        r.verdicts.push(Verdict {
            target: format!("disk bytes/point <= codec + 5%: {}", d.name),
            met: (!r.quick).then_some(ratio <= 1.05),
        });
    }
    println!("  (writing, encoding and closing took {secs:.1} s)");
}

// ---------------------------------------------------------------------------------------

/// "ext4 on /dev/vda" for the filesystem holding `path`, from /proc/mounts.
fn filesystem_of(path: &Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let path = path.canonicalize().ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && path.starts_with(f[1])).then(|| (f[1].len(), format!("{} on {}", f[2], f[0])))
        })
        .max_by_key(|m| m.0)
        .map(|m| m.1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == WAL_CHILD_ARG) {
        let arg =
            |k: usize| args.get(i + k).unwrap_or_else(|| panic!("{WAL_CHILD_ARG} DIR BYTES METRICS BATCH"));
        let num = |k: usize| arg(k).parse::<u64>().expect("a number");
        wal_child(Path::new(arg(1)), num(2), num(3) as usize, num(4) as usize);
    }

    let cfg = Cfg::from_env();
    let started = Instant::now();
    println!(
        "libtsdb storage benchmark (benches/storage.rs), library {} via the Rust API (tsdb::Database)",
        tsdb::VERSION
    );
    if cfg.quick {
        println!("QUICK MODE (TSDB_BENCH_QUICK=1): tiny sizes and durations, a smoke run only;");
        println!("the figures are not meaningful and no verdicts are given.");
    } else {
        println!("full mode; set TSDB_BENCH_QUICK=1 for a smoke run.");
    }
    let tmp = std::env::temp_dir();
    println!(
        "threads available: {}; warm-up {} ms, measurement {} ms per rate; databases under {} ({})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cfg.warm.as_millis(),
        cfg.meas.as_millis(),
        tmp.display(),
        filesystem_of(&tmp).unwrap_or_else(|| "filesystem unknown".into())
    );
    println!(
        "default options: partition_points {}, checkpoint every {} of log, sync Interval({} ms)",
        tsdb::DEFAULT_PARTITION_POINTS,
        bytes(tsdb::DEFAULT_CHECKPOINT_BYTES),
        tsdb::DEFAULT_SYNC_INTERVAL_MS
    );
    if let Some(b) = CpuTimes::now() {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(x) = b.others_since() {
            println!(
                "other processes used {:.0}% of the machine's CPU time in the 0.5 s before the start",
                x * 100.0
            );
        }
    }
    println!("Rates in M points/s are millions of points per second; MB/s is 10^6 bytes per second.");

    // TSDB_BENCH_ONLY=ingest,open (names below) runs some sections, e.g. under a profiler.
    let only = std::env::var("TSDB_BENCH_ONLY").unwrap_or_default();
    type Section = fn(&Cfg, &mut Report);
    let sections: [(&str, Section); 4] = [
        ("ingest", bench_ingest),
        ("group-commit", bench_group_commit),
        ("open", bench_open),
        ("disk", bench_disk),
    ];
    if !only.is_empty() {
        println!("only the sections in TSDB_BENCH_ONLY={only}");
    }
    let mut r = Report { quick: cfg.quick, verdicts: Vec::new() };
    let run_start = CpuTimes::now();
    for (name, run) in sections {
        if only.is_empty() || only.split(',').any(|s| s.trim() == name) {
            let before = CpuTimes::now();
            let t0 = Instant::now();
            run(&cfg, &mut r);
            if let Some(x) = before.and_then(|b| b.others_since()) {
                println!(
                    "  (section took {:.1} s; other processes used {:.0}% of the machine's CPU time meanwhile)",
                    t0.elapsed().as_secs_f64(),
                    x * 100.0
                );
            }
        }
    }

    r.section("targets (issue 4)");
    for v in &r.verdicts {
        let verdict = match v.met {
            None => "(quick: no verdict)",
            Some(true) => "met",
            Some(false) => "NOT MET",
        };
        println!("  {verdict:<9} {}", v.target);
    }
    println!();
    let others = run_start.and_then(|b| b.others_since());
    println!(
        "total time {:.1} s; other processes used {} of the machine's CPU time meanwhile{}",
        started.elapsed().as_secs_f64(),
        others.map_or("?".to_string(), |x| format!("{:.0}%", x * 100.0)),
        if others.is_some_and(|x| x > 0.05) {
            " -- figures may be noisy; re-run on a quieter machine"
        } else {
            ""
        }
    );
}
