//! `cargo bench --bench core`: the core figures of libtsdb, measured through the C API.
//!
//! Every figure calls the `extern "C"` functions of `tsdb::ffi` with raw pointers, exactly as
//! a C program linked against libtsdb would, so the numbers include the boundary (NULL
//! checks, `catch_unwind`, status mapping) that a C user pays.
//!
//! This is a program that prints figures, not a test: it asserts nothing about timing. Each
//! figure warms up, then measures for about a second (see [`Cfg`]); single-threaded figures
//! report the median of many short chunks, so a burst of noise from other processes on the
//! machine moves one chunk, not the figure.
//!
//! `TSDB_BENCH_QUICK=1` runs tiny sizes and short durations: a smoke run for CI that checks
//! the benchmark still works; its figures mean nothing and no verdicts are given.
//!
//! The memory figure runs in a child process (this binary re-executed with
//! `--tsdb-mem-child`), so the resident-set growth it measures is not mixed with memory the
//! allocator kept from earlier figures.
//!
//! `TSDB_BENCH_ONLY=memory,insert,batch,scan,population,txn-writer` (any subset) runs only
//! those sections, e.g. under `perf record`.
//!
//! See docs/benchmarks.md for the machine, the latest output and which targets are met.
mod common;
use common::capi::{Db, KINDS, NameBuf, TempDb, check, create, create_named, rss_anon_bytes};
use common::{CpuTimes, fmt_num, human, median, thread_sched_ns};

use std::hint::black_box;
use std::io::Write as _;

use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tsdb::codec::shapes::Rng;

use tsdb::ffi::cursor::{ts_cursor, ts_cursor_free, ts_cursor_next, ts_cursor_next_batch, ts_scan_range};
use tsdb::ffi::status::ts_status;
use tsdb::ffi::txn::{ts_txn, ts_txn_begin, ts_txn_release};
use tsdb::ffi::write::{ts_insert, ts_insert_batch};

const MEM_CHILD_ARG: &str = "--tsdb-mem-child";

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
    /// Metrics each writer thread round-robins over.
    metrics_per_thread: usize,
    /// Points per `ts_insert_batch` call.
    batch: usize,
    /// Scan figure: metrics, and points in each.
    scan_metrics: usize,
    scan_points: usize,
    /// Populations at which creates and snapshots are measured (ascending).
    populations: [usize; 3],
    /// Creates timed per round, and rounds per population.
    creates_per_round: usize,
    create_rounds: usize,
    /// Metrics created by the memory child.
    mem_metrics: usize,
}

impl Cfg {
    fn from_env() -> Cfg {
        let quick = std::env::var("TSDB_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Cfg {
                quick,
                warm: Duration::from_millis(10),
                meas: Duration::from_millis(40),
                metrics_per_thread: 100,
                batch: 1000,
                scan_metrics: 2,
                scan_points: 50_000,
                populations: [1_000, 5_000, 20_000],
                creates_per_round: 1000,
                create_rounds: 2,
                mem_metrics: 20_000,
            }
        } else {
            Cfg {
                quick,
                warm: Duration::from_millis(300),
                meas: Duration::from_millis(1000),
                metrics_per_thread: 100,
                batch: 1000,
                scan_metrics: 5,
                scan_points: 1_000_000,
                populations: [1_000, 100_000, 1_000_000],
                creates_per_round: 1000,
                create_rounds: 9,
                mem_metrics: 1_000_000,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// C API helpers
// ---------------------------------------------------------------------------------------

/// Create metrics `from..to` (realistic names) in `db`.
fn populate(db: Db, from: usize, to: usize) {
    let mut nb = NameBuf::default();
    for i in from..to {
        create(db, nb.name(i));
    }
}

// ---------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------

/// Result of [`chunks`]: per-operation nanoseconds over many chunks.
struct Sample {
    median_ns: f64,
    min_ns: f64,
    max_ns: f64,
    chunks: usize,
}

/// Run `chunk` (which does some operations and returns how many) during the warm-up, then
/// for `cfg.meas`, timing each chunk. Reports ns per operation: the median chunk, and the
/// fastest and slowest chunk to show the noise.
fn chunks(cfg: &Cfg, chunk: impl FnMut() -> u64) -> Sample {
    let raw = chunks_observed(cfg, chunk, || 0u64);
    Sample::of(raw.iter().map(|c| c.0).collect()).expect("at least 3 chunks")
}

/// Like [`chunks`], but returns each chunk's ns/op with what `observe` reported across it
/// (`observe()` after the chunk minus before, e.g. another thread's progress) and the
/// chunk's length in seconds.
fn chunks_observed(
    cfg: &Cfg,
    mut chunk: impl FnMut() -> u64,
    mut observe: impl FnMut() -> u64,
) -> Vec<(f64, u64, f64)> {
    let t0 = Instant::now();
    while t0.elapsed() < cfg.warm {
        black_box(chunk());
    }
    let mut out = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < cfg.meas || out.len() < 3 {
        let o = observe();
        let t = Instant::now();
        let n = chunk();
        let e = t.elapsed();
        out.push((e.as_nanos() as f64 / n.max(1) as f64, observe() - o, e.as_secs_f64()));
    }
    out
}

impl Sample {
    /// Median, min and max of per-op times; `None` when empty.
    fn of(mut per_op: Vec<f64>) -> Option<Sample> {
        if per_op.is_empty() {
            return None;
        }
        per_op.sort_by(f64::total_cmp);
        Some(Sample {
            median_ns: per_op[per_op.len() / 2],
            min_ns: per_op[0],
            max_ns: per_op[per_op.len() - 1],
            chunks: per_op.len(),
        })
    }
}

/// Result of [`threads`].
struct Par {
    /// Summed operations per second, and each thread's.
    total: f64,
    rates: Vec<f64>,
    /// Per thread, the share of the measurement it spent on a CPU and the share it spent
    /// runnable but waiting for a CPU (from /proc/thread-self/schedstat); `None` where
    /// unavailable. The rest of the time it was blocked (e.g. sleeping on a lock).
    sched: Vec<Option<(f64, f64)>>,
}

impl Par {
    /// "per thread: 8.05 + 8.05; on CPU 99% / 98%, waiting for a CPU 0% / 1%", with a warning
    /// when the threads had to wait for a CPU.
    fn note(&self, scale: f64, unit: &str) -> String {
        let rates = self.rates.iter().map(|r| fmt_num(r / scale)).collect::<Vec<_>>().join(" + ");
        format!("per thread: {rates}{unit}{}", self.sched_note())
    }

    /// "; on CPU 99%/98%, waiting for a CPU 0%/1%" (empty when unavailable).
    fn sched_note(&self) -> String {
        let mut note = String::new();
        if self.sched.iter().all(Option::is_some) {
            let s: Vec<(f64, f64)> = self.sched.iter().flatten().copied().collect();
            let pct = |f: fn(&(f64, f64)) -> f64| {
                s.iter().map(|x| format!("{:.0}%", f(x) * 100.0)).collect::<Vec<_>>().join("/")
            };
            note += &format!("; on CPU {}, waiting for a CPU {}", pct(|x| x.0), pct(|x| x.1));
            if s.iter().any(|x| x.1 > 0.05) {
                note += " (a thread lacked a CPU: figure understated)";
            }
        }
        note
    }
}

/// (on-CPU ns, runnable-but-waiting ns) of a thread, when known.
type SchedNs = Option<(u64, u64)>;

/// One thread's work for [`threads`]: does a chunk of operations and returns how many.
type Work = Box<dyn FnMut() -> u64 + Send>;

/// Run `workers` (one thread each) concurrently: all warm up together, then all are
/// measured over the same window. Each worker's closure does a chunk of operations and
/// returns how many.
fn threads(cfg: &Cfg, workers: Vec<Work>) -> Par {
    // 0 = warm-up, 1 = measuring, 2 = stop.
    let phase = Arc::new(AtomicU32::new(0));
    let ready = Arc::new(Barrier::new(workers.len() + 1));
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut work| {
            let (phase, ready) = (phase.clone(), ready.clone());
            std::thread::spawn(move || {
                ready.wait();
                let mut ops = 0u64;
                // (when, ops done, scheduler counters) at the start of the measurement
                let mut start: Option<(Instant, u64, SchedNs)> = None;
                loop {
                    ops += work();
                    match phase.load(Ordering::Acquire) {
                        1 if start.is_none() => start = Some((Instant::now(), ops, thread_sched_ns())),
                        2 => {
                            let end = Instant::now();
                            let s1 = thread_sched_ns();
                            let (t, o, s0) = start.unwrap_or((end, ops, None));
                            let wall = (end - t).as_secs_f64().max(1e-9);
                            let share = s0.zip(s1).map(|(a, b)| {
                                ((b.0 - a.0) as f64 / 1e9 / wall, (b.1 - a.1) as f64 / 1e9 / wall)
                            });
                            return ((ops - o) as f64 / wall, share);
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    ready.wait();
    std::thread::sleep(cfg.warm);
    phase.store(1, Ordering::Release);
    std::thread::sleep(cfg.meas);
    phase.store(2, Ordering::Release);
    let res: Vec<(f64, Option<(f64, f64)>)> =
        handles.into_iter().map(|h| h.join().expect("worker panicked")).collect();
    Par {
        total: res.iter().map(|r| r.0).sum(),
        rates: res.iter().map(|r| r.0).collect(),
        sched: res.iter().map(|r| r.1).collect(),
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

fn spread(s: &Sample) -> String {
    format!("(chunks {}..{} ns/op, n={})", fmt_num(s.min_ns), fmt_num(s.max_ns), s.chunks)
}

// ---------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------

/// One writer's state: its metrics, round-robin, with ascending timestamps per metric.
struct Writer {
    db: Db,
    ids: Vec<u64>,
    next: usize,
    /// Next timestamp; the step lets two writers share a metric with distinct timestamps.
    ts: i64,
    step: i64,
}

impl Writer {
    fn new(db: Db, ids: Vec<u64>, first_ts: i64, step: i64) -> Writer {
        Writer { db, ids, next: 0, ts: first_ts, step }
    }

    /// 1,000 `ts_insert` calls.
    fn insert_chunk(&mut self) -> u64 {
        const N: u64 = 1000;
        for _ in 0..N {
            let id = self.ids[self.next];
            self.next += 1;
            if self.next == self.ids.len() {
                self.next = 0;
                self.ts += self.step;
            }
            // SAFETY: live db.
            let st = unsafe { ts_insert(self.db.0, id, self.ts, self.ts as f64) };
            if st != ts_status::TS_OK {
                check(st, "ts_insert");
            }
        }
        N
    }
}

/// One batch writer: `ts_insert_batch` of `batch` points, one metric per call, round-robin.
struct BatchWriter {
    db: Db,
    ids: Vec<u64>,
    next: usize,
    base: Vec<i64>,
    ts: Vec<i64>,
    vals: Vec<f64>,
}

impl BatchWriter {
    fn new(db: Db, ids: Vec<u64>, batch: usize) -> BatchWriter {
        let n = ids.len();
        BatchWriter {
            db,
            ids,
            next: 0,
            base: vec![0; n],
            ts: vec![0; batch],
            vals: (0..batch).map(|i| i as f64 * 0.5).collect(),
        }
    }

    /// Write one batch to the next metric; returns the points written.
    fn write_one(&mut self) -> u64 {
        let k = self.next;
        self.next = (self.next + 1) % self.ids.len();
        let base = self.base[k];
        for (j, t) in self.ts.iter_mut().enumerate() {
            *t = base + j as i64;
        }
        self.base[k] += self.ts.len() as i64;
        // SAFETY: live db; both arrays hold `len` elements.
        let st = unsafe {
            ts_insert_batch(self.db.0, self.ids[k], self.ts.as_ptr(), self.vals.as_ptr(), self.ts.len())
        };
        if st != ts_status::TS_OK {
            check(st, "ts_insert_batch");
        }
        self.ts.len() as u64
    }

    /// Ten batches.
    fn chunk(&mut self) -> u64 {
        (0..10).map(|_| self.write_one()).sum()
    }
}

fn thread_metrics(db: Db, thread: usize, n: usize) -> Vec<u64> {
    (0..n).map(|i| create_named(db, &format!("bench.t{thread}.m{i:03}"))).collect()
}

fn bench_insert(cfg: &Cfg, r: &mut Report) {
    r.section(&format!(
        "ts_insert: one point per call, {} metrics per thread round-robin, ascending timestamps",
        cfg.metrics_per_thread
    ));
    one_and_two_threads(cfg, r, "ts_insert", 3e6, |db, th| {
        let mut w = Writer::new(db, thread_metrics(db, th, cfg.metrics_per_thread), 1, 1);
        Box::new(move || w.insert_chunk())
    });

    // Both threads on the same metric: thread t writes timestamps 2i+t, so the metric's
    // points arrive interleaved (not strictly ascending), as with two real producers.
    let t = TempDb::open();
    let db = t.db;
    let id = create_named(db, "bench.shared");
    let workers: Vec<Work> = (0..2)
        .map(|th| {
            let mut w = Writer::new(db, vec![id], th as i64, 2);
            Box::new(move || w.insert_chunk()) as Work
        })
        .collect();
    let par = threads(cfg, workers);
    r.info("ts_insert, 2 threads, SAME metric", par.total / 1e6, "M points/s", &par.note(1e6, ""));

    // More runnable threads than CPUs: two writers and a busy loop share the two cores, so
    // writers get preempted between taking and publishing a sequence number. Writers behind
    // one wait for it; this shows they sleep instead of spinning away the CPU it needs.
    let t = TempDb::open();
    let db = t.db;
    let hog_stop = Arc::new(AtomicBool::new(false));
    let hog = {
        let stop = hog_stop.clone();
        std::thread::spawn(move || {
            let mut x = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x = black_box(x.wrapping_add(1));
            }
        })
    };
    let workers: Vec<Work> = (0..2)
        .map(|th| {
            let ids: Vec<u64> = (0..cfg.metrics_per_thread)
                .map(|i| create_named(db, &format!("bench.hog.{th}.{i}")))
                .collect();
            let mut w = Writer::new(db, ids, 0, 1);
            Box::new(move || w.insert_chunk()) as Work
        })
        .collect();
    let par = threads(cfg, workers);
    hog_stop.store(true, Ordering::Relaxed);
    hog.join().expect("busy thread");
    r.info(
        "ts_insert, 2 threads + 1 busy thread (3 runnable, 2 CPUs)",
        par.total / 1e6,
        "M points/s",
        &par.note(1e6, ""),
    );
}

fn bench_insert_batch(cfg: &Cfg, r: &mut Report) {
    r.section(&format!(
        "ts_insert_batch: {} points per call, {} metrics per thread round-robin, default partition size",
        cfg.batch, cfg.metrics_per_thread
    ));
    one_and_two_threads(cfg, r, "ts_insert_batch", 20e6, |db, th| {
        let mut w = BatchWriter::new(db, thread_metrics(db, th, cfg.metrics_per_thread), cfg.batch);
        Box::new(move || w.chunk())
    });
}

/// Runs `make(db, thread)` workers on 1 and then 2 threads, each time on a fresh database;
/// reports the 1-thread rate against `target` (points/s), the 2-thread rate and the scaling.
fn one_and_two_threads(cfg: &Cfg, r: &mut Report, what: &str, target: f64, make: impl Fn(Db, usize) -> Work) {
    let mut rate = [0.0; 2];
    for n in 1..=2 {
        let t = TempDb::open();
        let workers: Vec<Work> = (0..n).map(|th| make(t.db, th)).collect();
        let par = threads(cfg, workers);
        rate[n - 1] = par.total;
        let name = format!("{what}, {n} thread{}, own metrics", if n > 1 { "s" } else { "" });
        if n == 1 {
            let (goal, verdict) = (
                format!(">= {} M points/s", target / 1e6),
                format!("{what} >= {}M points/s (1 thread)", target / 1e6),
            );
            r.target(&name, par.total / 1e6, "M points/s", &goal, par.total >= target, &verdict);
        } else {
            r.info(&name, par.total / 1e6, "M points/s", &par.note(1e6, ""));
        }
    }
    r.info("  scaling: 2 threads / 1 thread", rate[1] / rate[0], "x", "");
}

fn bench_scan(cfg: &Cfg, r: &mut Report) {
    let total = cfg.scan_metrics * cfg.scan_points;
    r.section(&format!(
        "scan: {} metrics x {} points = {} points (written by ts_insert_batch of {}), full range",
        cfg.scan_metrics,
        human(cfg.scan_points),
        human(total),
        cfg.batch
    ));
    let t = TempDb::open();
    let db = t.db;
    let ids: Vec<u64> =
        (0..cfg.scan_metrics).map(|m| create_named(db, &format!("bench.scan.m{m}"))).collect();
    let mut w = BatchWriter::new(db, ids.clone(), cfg.batch);
    let t0 = Instant::now();
    let mut written = 0;
    while written < total as u64 {
        written += w.write_one();
    }
    let load = t0.elapsed();
    r.info(
        "  (load: ts_insert_batch, 1 thread, into the scan metrics)",
        written as f64 / load.as_secs_f64() / 1e6,
        "M points/s",
        "",
    );

    const CAP: usize = 4096;
    let mut tsb = vec![0i64; CAP];
    let mut vb = vec![0f64; CAP];
    let scan_all = |per_point: bool, tsb: &mut [i64], vb: &mut [f64]| -> u64 {
        let mut txn: *mut ts_txn = null_mut();
        // SAFETY: live db, valid out-pointer.
        check(unsafe { ts_txn_begin(db.0, &mut txn) }, "ts_txn_begin");
        let mut n = 0u64;
        let mut sum = 0f64;
        for &id in &ids {
            let mut c: *mut ts_cursor = null_mut();
            // SAFETY: live snapshot, valid out-pointer.
            check(unsafe { ts_scan_range(txn, id, i64::MIN, i64::MAX, &mut c) }, "ts_scan_range");
            if per_point {
                let (mut t, mut v) = (0i64, 0f64);
                loop {
                    // SAFETY: live cursor, valid out-pointers.
                    match unsafe { ts_cursor_next(c, &mut t, &mut v) } {
                        ts_status::TS_OK => {
                            n += 1;
                            sum += v;
                        }
                        ts_status::TS_DONE => break,
                        st => check(st, "ts_cursor_next"),
                    }
                }
            } else {
                let mut got = 0usize;
                loop {
                    // SAFETY: live cursor; both buffers hold CAP elements.
                    match unsafe { ts_cursor_next_batch(c, tsb.as_mut_ptr(), vb.as_mut_ptr(), CAP, &mut got) }
                    {
                        ts_status::TS_OK => {
                            n += got as u64;
                            sum += vb[got - 1];
                        }
                        ts_status::TS_DONE => break,
                        st => check(st, "ts_cursor_next_batch"),
                    }
                }
            }
            // SAFETY: the cursor came from ts_scan_range and is freed once.
            unsafe { ts_cursor_free(c) };
        }
        // SAFETY: the snapshot came from ts_txn_begin and is released once.
        unsafe { ts_txn_release(txn) };
        black_box(sum);
        assert_eq!(n, total as u64, "a full scan returns every point");
        n
    };
    let s = chunks(cfg, || scan_all(false, &mut tsb, &mut vb));
    r.info(
        &format!("ts_cursor_next_batch ({CAP}-point buffers)"),
        1e3 / s.median_ns,
        "M points/s",
        &format!("{} ns/point; one chunk = full scan of all metrics", fmt_num(s.median_ns)),
    );
    let s = chunks(cfg, || scan_all(true, &mut tsb, &mut vb));
    r.info(
        "ts_cursor_next (one point per call)",
        1e3 / s.median_ns,
        "M points/s",
        &format!("{} ns/point", fmt_num(s.median_ns)),
    );
}

/// ns per `ts_txn_begin` + `ts_txn_release` pair, on this thread.
fn txn_pairs(cfg: &Cfg, db: Db) -> Sample {
    chunks(cfg, || txn_pair_chunk(db))
}

/// 10,000 `ts_txn_begin` + `ts_txn_release` pairs.
fn txn_pair_chunk(db: Db) -> u64 {
    const N: u64 = 10_000;
    for _ in 0..N {
        let mut txn: *mut ts_txn = null_mut();
        // SAFETY: live db, valid out-pointer; the snapshot is released right away.
        unsafe {
            let st = ts_txn_begin(db.0, &mut txn);
            if st != ts_status::TS_OK {
                check(st, "ts_txn_begin");
            }
            ts_txn_release(black_box(txn));
        }
    }
    N
}

/// Times `cfg.create_rounds` rounds of `cfg.creates_per_round` creates (names `from..`);
/// returns the median µs per create and how many metrics were created.
fn create_rounds(cfg: &Cfg, db: Db, from: usize, rounds: usize) -> (Vec<f64>, usize) {
    let per = cfg.creates_per_round;
    let mut us = Vec::new();
    let mut next = from;
    for _ in 0..rounds {
        // Names prepared beforehand so only ts_metric_create is timed.
        let mut buf = Vec::with_capacity(per * 32);
        let mut offs = Vec::with_capacity(per);
        for i in next..next + per {
            offs.push(buf.len());
            write!(buf, "host{:07}.{}\0", i / KINDS.len(), KINDS[i % KINDS.len()]).expect("write to Vec");
        }
        let t = Instant::now();
        for &o in &offs {
            create(db, buf[o..].as_ptr().cast());
        }
        us.push(t.elapsed().as_secs_f64() * 1e6 / per as f64);
        next += per;
    }
    (us, next - from)
}

fn bench_population(cfg: &Cfg, r: &mut Report) {
    let [p_small, p_mid, p_big] = cfg.populations;
    r.section(&format!(
        "metric population: snapshots and creates with {}, {} and {} metrics present (realistic names)",
        human(p_small),
        human(p_mid),
        human(p_big)
    ));

    // Creates at the small population: each round on a fresh database holding exactly
    // `p_small` metrics, so the population stays at p_small..p_small+1000 every round.
    // The big populations create into a growing heap (fresh pages: page faults and cold
    // lines). To compare like with like, the small rounds keep every earlier database alive
    // (`kept`), so they too create into fresh memory; the variant that frees each database,
    // letting the next round reuse warm memory, is printed for reference.
    let small_rounds = |keep: bool| {
        let mut small = Vec::new();
        let mut kept = Vec::new();
        let t0 = Instant::now();
        while small.len() < 5 || (t0.elapsed() < cfg.meas && small.len() < 200) {
            let t = TempDb::open();
            populate(t.db, 0, p_small);
            small.extend(create_rounds(cfg, t.db, p_small, 1).0);
            if keep {
                kept.push(t);
            }
        }
        let n = small.len();
        (median(&mut small), n)
    };
    let (create_small, n_small_rounds) = small_rounds(true);
    let (create_small_recycled, n_recycled_rounds) = small_rounds(false);

    // One database grown to each population in turn.
    let t = TempDb::open();
    let db = t.db;
    populate(db, 0, p_small);
    let pair_small = txn_pairs(cfg, db);

    let t0 = Instant::now();
    populate(db, p_small, p_mid);
    let build_mid = t0.elapsed();
    let pair_mid = txn_pairs(cfg, db);
    let (mut mid, made) = create_rounds(cfg, db, p_mid, cfg.create_rounds);
    let create_mid = median(&mut mid);

    let t0 = Instant::now();
    populate(db, p_mid + made, p_big);
    let build_big = t0.elapsed() + build_mid;
    let pair_big = txn_pairs(cfg, db);
    let (mut big, made_big) = create_rounds(cfg, db, p_big, cfg.create_rounds);
    let create_big = median(&mut big);
    let pair_big_after = txn_pairs(cfg, db);
    drop(t);

    r.info(
        &format!("(building {} -> {} metrics, mean per create)", human(p_small), human(p_big)),
        build_big.as_secs_f64() * 1e6 / (p_big - p_small - made) as f64,
        "us/create",
        &format!("{:.1} s in all", build_big.as_secs_f64()),
    );

    println!("  -- ts_txn_begin + ts_txn_release, one thread, no writer");
    let pair_target = |r: &mut Report, name: &str, s: &Sample| {
        let summary = format!("begin+release <= 100 ns {}", name.trim());
        r.target(name, s.median_ns, "ns/pair", "<= 100 ns", s.median_ns <= 100.0, &summary);
        println!("  {:<56} {:>10} {:<14} {}", "", "", "", spread(s));
    };
    pair_target(r, &format!("  with {} metrics", human(p_small)), &pair_small);
    r.info(&format!("  with {} metrics", human(p_mid)), pair_mid.median_ns, "ns/pair", &spread(&pair_mid));
    pair_target(r, &format!("  with {} metrics", human(p_big)), &pair_big);
    r.info(
        &format!("  with {} metrics (again, after the creates)", human(p_big)),
        pair_big_after.median_ns,
        "ns/pair",
        &spread(&pair_big_after),
    );
    let flat = pair_big.median_ns / pair_small.median_ns;
    r.target(
        &format!("  flatness: {} / {}", human(p_big), human(p_small)),
        flat,
        "x",
        "<= 1.25 x (flat)",
        flat <= 1.25,
        &format!("begin+release flat in metric count ({} / {} <= 1.25)", human(p_big), human(p_small)),
    );

    println!("  -- ts_metric_create, median of rounds of {} creates", cfg.creates_per_round);
    r.info(
        &format!("  at {} metrics", human(p_small)),
        create_small,
        "us/create",
        &format!("fresh db per round, earlier ones kept (growing heap, as below); {n_small_rounds} rounds"),
    );
    r.info(
        &format!("  at {} metrics, reusing freed memory", human(p_small)),
        create_small_recycled,
        "us/create",
        &format!("each round's db closed before the next; {n_recycled_rounds} rounds"),
    );
    r.info(
        &format!("  at {} metrics", human(p_mid)),
        create_mid,
        "us/create",
        &format!("{} rounds (population {}..{})", cfg.create_rounds, human(p_mid), human(p_mid + made)),
    );
    r.info(
        &format!("  at {} metrics", human(p_big)),
        create_big,
        "us/create",
        &format!("{} rounds (population {}..{})", cfg.create_rounds, human(p_big), human(p_big + made_big)),
    );
    let ratio = create_big / create_small;
    r.target(
        &format!("  ratio {} / {}", human(p_big), human(p_small)),
        ratio,
        "x",
        "<= 2 x",
        ratio <= 2.0,
        &format!("create at {} <= 2x create at {}", human(p_big), human(p_small)),
    );
}

fn bench_txn_with_writer(cfg: &Cfg, r: &mut Report) {
    r.section(&format!(
        "ts_txn_begin + ts_txn_release with other threads: {} metrics present; writer: {} of them round-robin",
        human(cfg.populations[0]),
        cfg.metrics_per_thread
    ));
    // Reader scaling first: two threads doing pairs at once, no writer.
    {
        let t = TempDb::open();
        let db = t.db;
        populate(db, 0, cfg.populations[0]);
        let workers: Vec<Work> = (0..2).map(|_| Box::new(move || txn_pair_chunk(db)) as Work).collect();
        let par = threads(cfg, workers);
        let ns: Vec<f64> = par.rates.iter().map(|r| 1e9 / r).collect();
        let note = format!(
            "per thread: {} ns{}",
            ns.iter().map(|x| fmt_num(*x)).collect::<Vec<_>>().join(" / "),
            par.sched_note()
        );
        r.info(
            "  no writer, 2 reader threads at once (each)",
            ns.iter().sum::<f64>() / ns.len() as f64,
            "ns/pair",
            &note,
        );
    }
    for batch in [false, true] {
        let t = TempDb::open();
        let db = t.db;
        populate(db, 0, cfg.populations[0]);
        let ids: Vec<u64> = (1..=cfg.metrics_per_thread as u64).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let points = Arc::new(AtomicU64::new(0));
        let writer = {
            let (stop, points) = (stop.clone(), points.clone());
            let b = cfg.batch;
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let mut n = 0;
                let mut bw = BatchWriter::new(db, ids.clone(), b);
                let mut w = Writer::new(db, ids, 1, 1);
                while !stop.load(Ordering::Relaxed) {
                    n += if batch { bw.write_one() } else { w.insert_chunk() };
                    points.store(n, Ordering::Relaxed);
                }
                n as f64 / t0.elapsed().as_secs_f64()
            })
        };
        // Keep only the chunks during which the writer really ran alongside (it advanced at
        // >= 1M points/s): on a loaded 2-CPU machine the two threads sometimes share one CPU,
        // and then the reader runs alone.
        let raw = chunks_observed(cfg, || txn_pair_chunk(db), || points.load(Ordering::Relaxed));
        stop.store(true, Ordering::Relaxed);
        let wrate = writer.join().expect("writer panicked");
        let all = Sample::of(raw.iter().map(|c| c.0).collect()).expect("chunks");
        let conc = Sample::of(raw.iter().filter(|c| c.1 as f64 / c.2 >= 1e6).map(|c| c.0).collect());
        let (name, what) = if batch {
            ("  writer: ts_insert_batch (1,000 points/call)", "ts_insert_batch")
        } else {
            ("  writer: ts_insert", "ts_insert")
        };
        let pad = |note: String| println!("  {:<56} {:>10} {:<14} {note}", "", "", "");
        match &conc {
            Some(c) if c.chunks >= 10 => {
                r.target(
                    name,
                    c.median_ns,
                    "ns/pair",
                    "<= 100 ns",
                    c.median_ns <= 100.0,
                    &format!("begin+release <= 100 ns with a {what} writer"),
                );
                pad(format!(
                    "{} of {} chunks with the writer running; writer {} M points/s",
                    c.chunks,
                    all.chunks,
                    fmt_num(wrate / 1e6)
                ));
                pad(spread(c));
            }
            _ => {
                r.info(
                    name,
                    all.median_ns,
                    "ns/pair",
                    "NO VERDICT: the writer rarely ran at the same time (machine busy?)",
                );
                pad(format!(
                    "{} of {} chunks with the writer running",
                    conc.map_or(0, |c| c.chunks),
                    all.chunks
                ));
            }
        }
        r.info("    all chunks (writer running or not)", all.median_ns, "ns/pair", &spread(&all));
    }
}

// ---------------------------------------------------------------------------------------
// Memory (child process)
// ---------------------------------------------------------------------------------------

/// The child: create `n` metrics and print `key=value` lines for the parent.
fn mem_child(n: usize) {
    let mut ids = vec![0u64; n]; // touched now, so it is part of the baseline
    let mut nb = NameBuf::default();
    nb.name(n); // the buffer's final size
    let t = TempDb::open();
    let db = t.db;
    let rss0 = rss_anon_bytes().expect("RssAnon");
    let t0 = Instant::now();
    for (i, id) in ids.iter_mut().enumerate() {
        *id = create(db, nb.name(i));
    }
    let secs = t0.elapsed().as_secs_f64();
    let rss1 = rss_anon_bytes().expect("RssAnon");
    for &id in &ids {
        // SAFETY: live db.
        check(unsafe { ts_insert(db.0, id, 1_700_000_000_000, 1.0) }, "ts_insert");
    }
    let rss2 = rss_anon_bytes().expect("RssAnon");
    // Scrape order: one point per metric per round, a tenth of the metrics, so that every
    // head holds HEAD_POINTS points (compressed runs plus a raw tail).
    let mut walk = vec![5000i64; n / 10];
    let mut rng = Rng::new(7, 0);
    let t1 = Instant::now();
    for round in 1..HEAD_POINTS {
        for (k, &id) in ids[..n / 10].iter().enumerate() {
            walk[k] += rng.below(201) as i64 - 100;
            let ts = 1_700_000_000_000 + round as i64 * 10_000 + rng.below(1000) as i64;
            // SAFETY: live db.
            check(unsafe { ts_insert(db.0, id, ts, walk[k] as f64 / 100.0) }, "ts_insert");
        }
    }
    let head_secs = t1.elapsed().as_secs_f64();
    let rss4 = rss_anon_bytes().expect("RssAnon");
    drop(t);
    let rss3 = rss_anon_bytes().expect("RssAnon");
    println!(
        "n={n}\nrss0={rss0}\nrss1={rss1}\nrss2={rss2}\nrss3={rss3}\nrss4={rss4}\nsecs={secs}\nhead_secs={head_secs}"
    );
}

/// Points per head in the memory child's head phase: one compressed run of 128 and a raw
/// tail of 71 under the default options.
const HEAD_POINTS: usize = 200;

fn bench_memory(cfg: &Cfg, r: &mut Report) {
    let n = cfg.mem_metrics;
    r.section(&format!(
        "memory: resident bytes per metric, {} metrics with realistic names (\"host0001234.cpu.user\")",
        human(n)
    ));
    println!(
        "  (measured in a fresh child process, this binary run with {MEM_CHILD_ARG}: RssAnon after ts_open,\n   \
         after the creates and after one ts_insert per metric; the difference / {}.)",
        human(n)
    );
    let Some(_) = rss_anon_bytes() else {
        println!("  /proc/self/status not available: skipped");
        return;
    };
    let exe = std::env::current_exe().expect("current_exe");
    let out = std::process::Command::new(exe)
        .arg(MEM_CHILD_ARG)
        .arg(n.to_string())
        .output()
        .expect("spawn the memory child");
    if !out.status.success() {
        panic!("memory child failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("memory child did not report {k}:\n{text}"))
    };
    let (rss0, rss1, rss2, rss3, secs) = (get("rss0"), get("rss1"), get("rss2"), get("rss3"), get("secs"));
    let (rss4, head_secs) = (get("rss4"), get("head_secs"));
    let nf = n as f64;
    let empty = (rss1 - rss0) / nf;
    r.target(
        &format!("empty metrics ({} in the db)", human(n)),
        empty,
        "bytes/metric",
        "<= 300 bytes",
        empty <= 300.0,
        &format!("<= 300 resident bytes per empty metric at {}", human(n)),
    );
    r.info(
        "with 1 point each (head allocated)",
        (rss2 - rss0) / nf,
        "bytes/metric",
        &format!("+{} bytes/metric for the first point", fmt_num((rss2 - rss1) / nf)),
    );
    r.info(
        "  (baseline RssAnon after ts_open)",
        rss0 / 1048576.0,
        "MiB",
        &format!(
            "after creates {} MiB, after inserts {} MiB, after ts_close {} MiB",
            fmt_num(rss1 / 1048576.0),
            fmt_num(rss2 / 1048576.0),
            fmt_num(rss3 / 1048576.0)
        ),
    );
    r.info("  (creates in the child, mean)", secs * 1e6 / nf, "us/create", "");
    let head_pts = (n / 10 * (HEAD_POINTS - 1)) as f64;
    r.info(
        &format!("head points: {} metrics x {HEAD_POINTS} points, scrape order", human(n / 10)),
        (rss4 - rss2) / head_pts,
        "bytes/point",
        "2-decimal random-walk gauge, 10 s interval, ms jitter; raw head points take 24",
    );
    r.info("  (ts_insert in scrape order, head phase)", head_pts / head_secs / 1e6, "M points/s", "");
}

// ---------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == MEM_CHILD_ARG) {
        let n = args.get(i + 1).and_then(|s| s.parse().ok()).expect("metric count after the flag");
        mem_child(n);
        return;
    }

    let cfg = Cfg::from_env();
    let started = Instant::now();
    println!("libtsdb core benchmark (benches/core.rs), library {} via the C API", tsdb::VERSION);
    if cfg.quick {
        println!("QUICK MODE (TSDB_BENCH_QUICK=1): tiny sizes and durations, a smoke run only;");
        println!("the figures are not meaningful and no verdicts are given.");
    } else {
        println!("full mode; set TSDB_BENCH_QUICK=1 for a smoke run.");
    }
    println!(
        "threads available: {}; warm-up {} ms, measurement {} ms per figure; default options \
         (partition_points 4096)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cfg.warm.as_millis(),
        cfg.meas.as_millis()
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
    println!("single-thread figures: median over chunks; multi-thread figures: sum of per-thread rates");
    println!("over a common window. Rates in M points/s are millions of points per second.");

    // TSDB_BENCH_ONLY=insert,scan (names below) runs some sections, e.g. under a profiler.
    let only = std::env::var("TSDB_BENCH_ONLY").unwrap_or_default();
    type Section = fn(&Cfg, &mut Report);
    // `population` runs first in this process: its small-population creates must grow a
    // fresh heap, as the 1M creates do, not reuse memory that earlier sections freed (the
    // `memory` section runs in a child process and leaves this heap untouched).
    let sections: [(&str, Section); 6] = [
        ("memory", bench_memory),
        ("population", bench_population),
        ("insert", bench_insert),
        ("batch", bench_insert_batch),
        ("scan", bench_scan),
        ("txn-writer", bench_txn_with_writer),
    ];
    if !only.is_empty() {
        println!("only the sections in TSDB_BENCH_ONLY={only}");
    }
    let mut r = Report { quick: cfg.quick, verdicts: Vec::new() };
    let run_start = CpuTimes::now();
    for (name, run) in sections {
        if only.is_empty() || only.split(',').any(|s| s.trim() == name) {
            let before = CpuTimes::now();
            run(&cfg, &mut r);
            if let Some(x) = before.and_then(|b| b.others_since()) {
                println!(
                    "  (other processes used {:.0}% of the machine's CPU time during this section)",
                    x * 100.0
                );
            }
        }
    }

    r.section("targets");
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
