//! `cargo bench --bench limits`: the seed's considered limits (1M series x 5M points), the
//! figures of issue 15's table, measured through the C API.
//!
//! Two workloads. Each writes its database in one child process and opens it again in a
//! second (this binary re-run with `--limits-child NAME DIR`), so that the memory an open
//! database holds is measured on a heap nothing else has used:
//!
//! - **deep**: `TSDB_LIMITS_DEEP_SERIES` series (default 100) of `TSDB_LIMITS_DEEP_POINTS`
//!   points each (default 2M), written with `ts_insert_batch` in 10,000-point calls, then
//!   closed and opened again. Prints the memory the open database holds per 1,000 stored
//!   points (RssAnon after `ts_open` less before), its extrapolation to 1M x 5M, a
//!   1,000-bucket `ts_aggregate` over one series (median of 21) and a full scan with
//!   `ts_cursor_next_batch`.
//! - **wide**: `TSDB_LIMITS_SERIES` series (default 1M), written as 100 scrapes: one
//!   `ts_batch` per scrape holding one point for each series. Prints the scrape rate,
//!   resident memory per series with its 100 points in heads (and the heap in use), the
//!   rate of 10 more scrapes from one thread and from two each scraping half the series, `ts_txn_begin` +
//!   `ts_txn_release` alone and with a writer committing scrapes meanwhile, then the time of
//!   `ts_open` after a close and the memory per series after it.
//!
//! `TSDB_BENCH_QUICK=1` shrinks both (a smoke run: its figures mean nothing);
//! `TSDB_BENCH_ONLY=deep,wide` runs a subset; `TSDB_LIMITS_KEEP=DIR` keeps the databases in
//! `DIR/deep` and `DIR/wide` and, when one is already there, only opens it again (to compare
//! two builds' opens on the same files); `TSDB_LIMITS_OPEN_ONLY=1` ends the wide open child
//! after the open's figures (for profiling it); `TSDB_LIMITS_CHECKPOINT_BYTES=N` opens with
//! that checkpoint interval instead of the default. It prints figures and asserts nothing about
//! speed. Targets and the latest figures: docs/benchmarks.md ("Limits").
mod common;
use common::capi::{Db, NameBuf, check, create, rss_anon_bytes};
use common::{fmt_num, human, median};

use std::ffi::CString;
use std::hint::black_box;
use std::path::Path;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tsdb::ffi::batch::{ts_batch, ts_batch_add, ts_batch_commit, ts_batch_free, ts_batch_new};
use tsdb::ffi::cursor::{ts_cursor, ts_cursor_free, ts_cursor_next_batch, ts_scan_range};
use tsdb::ffi::db::{ts_close, ts_open};
use tsdb::ffi::options::{ts_options_free, ts_options_new, ts_options_set_checkpoint_bytes};
use tsdb::ffi::query::{ts_agg, ts_aggregate};
use tsdb::ffi::status::ts_status;
use tsdb::ffi::txn::{ts_txn, ts_txn_begin, ts_txn_release};
use tsdb::ffi::write::ts_insert_batch;

const CHILD_ARG: &str = "--limits-child";
/// The seed's considered limits.
const SEED_SERIES: f64 = 1e6;
const SEED_POINTS: f64 = 5e6;
/// Points of one `ts_insert_batch` call in the deep workload.
const CALL_POINTS: usize = 10_000;
/// Scrapes of the wide workload (points per series).
const SCRAPES: usize = 100;
const T0: i64 = 1_700_000_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn quick() -> bool {
    std::env::var_os("TSDB_BENCH_QUICK").is_some()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_ARG) {
        let dir = Path::new(args.get(i + 2).expect("a directory"));
        match args.get(i + 1).map(String::as_str) {
            Some("deep-write") => deep_write(dir),
            Some("deep-open") => deep_open(dir),
            Some("wide-write") => wide_write(dir),
            Some("wide-open") => wide_open(dir),
            other => panic!("unknown child {other:?}"),
        }
        return;
    }
    let only = std::env::var("TSDB_BENCH_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|w| w == name));
    println!(
        "libtsdb limits benchmark (docs/benchmarks.md, \"Limits\"){}",
        if quick() { ", QUICK" } else { "" }
    );
    if rss_anon_bytes().is_none() {
        println!("  /proc/self/status not available: nothing measured");
        return;
    }
    // With TSDB_LIMITS_KEEP=DIR the databases are kept in DIR/deep and DIR/wide, and one
    // found there is opened again without being written: A/B runs of the open on one data.
    let keep = std::env::var_os("TSDB_LIMITS_KEEP").map(std::path::PathBuf::from);
    for name in ["deep", "wide"] {
        if wanted(name) {
            let dir = match &keep {
                Some(k) => k.join(name),
                None => std::env::temp_dir().join(format!("tsdb-limits-{name}-{}", std::process::id())),
            };
            if keep.is_none() || !dir.join("MANIFEST").exists() {
                let _ = std::fs::remove_dir_all(&dir);
                if let Some(k) = &keep {
                    std::fs::create_dir_all(k).expect("create TSDB_LIMITS_KEEP");
                }
                run_child(&format!("{name}-write"), &dir);
            }
            match &keep {
                None => {
                    run_child(&format!("{name}-open"), &dir);
                    let _ = std::fs::remove_dir_all(&dir);
                }
                Some(k) => {
                    // The open child writes: it gets a copy, and the kept one stays as written.
                    let copy = k.join(format!("{name}-copy"));
                    let _ = std::fs::remove_dir_all(&copy);
                    let st = std::process::Command::new("cp").arg("-r").arg(&dir).arg(&copy).status();
                    assert!(st.is_ok_and(|s| s.success()), "copy {}", dir.display());
                    run_child(&format!("{name}-open"), &copy);
                    let _ = std::fs::remove_dir_all(&copy);
                }
            }
        }
    }
}

/// Run this binary as child `name` on `dir`; its figures go straight to our stdout.
fn run_child(name: &str, dir: &Path) {
    let exe = std::env::current_exe().expect("current_exe");
    let status =
        std::process::Command::new(exe).arg(CHILD_ARG).arg(name).arg(dir).status().expect("spawn a child");
    assert!(status.success(), "the {name} child failed: {status}");
}

/// Open the database at `dir` (default options, created when missing); returns the handle
/// and the seconds `ts_open` took.
fn open(dir: &Path) -> (Db, f64) {
    let path = CString::new(dir.to_str().expect("UTF-8 path")).expect("no NUL");
    let mut db = null_mut();
    // The defaults, but for `TSDB_LIMITS_CHECKPOINT_BYTES` when set (to see what
    // checkpoints cost a workload).
    let opts = std::env::var("TSDB_LIMITS_CHECKPOINT_BYTES").ok().filter(|v| !v.is_empty()).map(|v| {
        let bytes: u64 = v.parse().expect("TSDB_LIMITS_CHECKPOINT_BYTES: a number of bytes");
        let o = ts_options_new();
        // SAFETY: a live options object.
        check(unsafe { ts_options_set_checkpoint_bytes(o, bytes) }, "ts_options_set_checkpoint_bytes");
        o
    });
    let t = Instant::now();
    // SAFETY: valid NUL-terminated path, options NULL (defaults) or live, valid out-pointer.
    check(unsafe { ts_open(path.as_ptr(), opts.unwrap_or(null_mut()), &mut db) }, "ts_open");
    let secs = t.elapsed().as_secs_f64();
    if let Some(o) = opts {
        // SAFETY: created above, freed once.
        unsafe { ts_options_free(o) };
    }
    (Db(db), secs)
}

/// CPU time this process has used, in seconds (every thread).
fn cpu_secs() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a writable timespec.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(r, 0, "clock_gettime");
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn close(db: Db) {
    // SAFETY: the handle came from ts_open; every snapshot was released.
    check(unsafe { ts_close(db.0) }, "ts_close");
}

/// Bytes malloc has handed out and not had back (glibc's `mallinfo2`): the live heap,
/// without the free memory that resident pages also hold.
fn heap_in_use() -> Option<f64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads malloc's statistics.
        Some(unsafe { libc::mallinfo2() }.uordblks as f64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

fn rss() -> f64 {
    rss_anon_bytes().expect("RssAnon") as f64
}

fn line(what: &str, value: String) {
    println!("  {what:<58} {value}");
}

// ---------------------------------------------------------------------------------------
// deep: few series, many points each
// ---------------------------------------------------------------------------------------

fn deep_sizes() -> (usize, usize) {
    if quick() {
        (4, 50_000)
    } else {
        (env_usize("TSDB_LIMITS_DEEP_SERIES", 100), env_usize("TSDB_LIMITS_DEEP_POINTS", 2_000_000))
    }
}

fn deep_write(dir: &Path) {
    let (series, points) = deep_sizes();
    let total = (series * points) as f64;
    println!(
        "\ndeep: {series} series x {} points (ts_insert_batch, {CALL_POINTS} points a call)",
        human(points)
    );
    let (db, _) = open(dir);
    let mut nb = NameBuf::default();
    let (mut ts, mut vals) = (vec![0i64; CALL_POINTS], vec![0f64; CALL_POINTS]);
    let start = Instant::now();
    for s in 0..series {
        let id = create(db, nb.name(s));
        let mut done = 0;
        while done < points {
            let n = CALL_POINTS.min(points - done);
            for k in 0..n {
                let i = done + k;
                ts[k] = T0 + i as i64 * 1000;
                // A gauge of two decimals: realistic bytes per point, not a constant.
                vals[k] = ((i * 7919 + s * 13) % 10_000) as f64 / 100.0;
            }
            // SAFETY: live db; both buffers hold at least n elements.
            check(unsafe { ts_insert_batch(db.0, id, ts.as_ptr(), vals.as_ptr(), n) }, "ts_insert_batch");
            done += n;
        }
    }
    let ingest = start.elapsed().as_secs_f64();
    line("ingest", format!("{} points/s ({ingest:.1} s)", fmt_num(total / ingest)));
    close(db);
}

fn deep_open(dir: &Path) {
    let (series, points) = deep_sizes();
    let total = (series * points) as f64;
    let ids: Vec<u64> = (1..=series as u64).collect(); // a new database gives ids from 1
    let before = rss();
    let (db, secs) = open(dir);
    let per_k = (rss() - before) / total * 1000.0;
    line("ts_open after close", format!("{} s", fmt_num(secs)));
    line(
        "memory held per 1,000 stored points (after reopen)",
        format!("{} B (target <= 0.4)", fmt_num(per_k)),
    );
    line(
        "  the same at 1M series x 5M points",
        format!("{} GB (target <= 2)", fmt_num(per_k * SEED_SERIES * SEED_POINTS / 1000.0 / 1e9)),
    );
    aggregate_figure(db, ids[0], points);
    scan_figure(db, &ids, total as u64);
    close(db);
}

fn begin(db: Db) -> *mut ts_txn {
    let mut txn = null_mut();
    // SAFETY: live db, valid out-pointer.
    check(unsafe { ts_txn_begin(db.0, &mut txn) }, "ts_txn_begin");
    txn
}

/// A 1,000-bucket aggregate over the whole of one series: median of 21 queries.
fn aggregate_figure(db: Db, id: u64, points: usize) {
    let txn = begin(db);
    let (from, until) = (T0, T0 + points as i64 * 1000);
    let bucket = (until - from + 999) / 1000;
    let mut out = vec![
        ts_agg {
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
        1000
    ];
    let mut times = Vec::new();
    for _ in 0..21 {
        let mut n = 0;
        let t = Instant::now();
        // SAFETY: live snapshot; `out` holds 1,000 buckets.
        check(
            unsafe { ts_aggregate(txn, id, from, until, bucket, out.as_mut_ptr(), out.len(), &mut n) },
            "ts_aggregate",
        );
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(out[..n].iter().map(|a| a.count).sum::<u64>(), points as u64, "every point counted");
    }
    line(
        &format!("1,000-bucket aggregate over one {}-point series", human(points)),
        format!("{} ms median of 21 (target <= 5)", fmt_num(median(&mut times))),
    );
    // SAFETY: released once.
    unsafe { ts_txn_release(txn) };
}

/// Points of every series in `ids`, read with `ts_cursor_next_batch` under one snapshot.
fn full_scan(db: Db, ids: &[u64]) -> u64 {
    const CAP: usize = 4096;
    let (mut tsb, mut vb) = (vec![0i64; CAP], vec![0f64; CAP]);
    let txn = begin(db);
    let mut n = 0u64;
    for &id in ids {
        let mut c: *mut ts_cursor = null_mut();
        // SAFETY: live snapshot, valid out-pointer.
        check(unsafe { ts_scan_range(txn, id, i64::MIN, i64::MAX, &mut c) }, "ts_scan_range");
        let mut got = 0usize;
        loop {
            // SAFETY: live cursor; both buffers hold CAP elements.
            match unsafe { ts_cursor_next_batch(c, tsb.as_mut_ptr(), vb.as_mut_ptr(), CAP, &mut got) } {
                ts_status::TS_OK => n += got as u64,
                ts_status::TS_DONE => break,
                st => check(st, "ts_cursor_next_batch"),
            }
        }
        // SAFETY: freed once.
        unsafe { ts_cursor_free(c) };
    }
    // SAFETY: released once.
    unsafe { ts_txn_release(txn) };
    n
}

/// A full scan of every series with `ts_cursor_next_batch`.
fn scan_figure(db: Db, ids: &[u64], total: u64) {
    let mut rates = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let n = full_scan(db, ids);
        rates.push(n as f64 / t.elapsed().as_secs_f64());
        assert_eq!(n, total, "a full scan returns every point");
    }
    line(
        "full scan (ts_cursor_next_batch)",
        format!("{} points/s median of 3 (target >= 150M)", fmt_num(median(&mut rates))),
    );
}

// ---------------------------------------------------------------------------------------
// wide: many series, a few points each, written as scrapes
// ---------------------------------------------------------------------------------------

/// A `ts_batch *` owned by one thread.
struct Batch(*mut ts_batch);

impl Batch {
    fn new() -> Batch {
        Batch(ts_batch_new())
    }

    /// One scrape: point `(ts, value)` for every id, committed as one batch.
    fn scrape(&mut self, db: Db, ids: &[u64], round: usize) {
        let ts = T0 + round as i64 * 15_000;
        for (k, &id) in ids.iter().enumerate() {
            let v = ((k * 31 + round * 7) % 1000) as f64 / 10.0;
            // SAFETY: live batch.
            check(unsafe { ts_batch_add(self.0, id, ts, v) }, "ts_batch_add");
        }
        // SAFETY: live db and batch.
        check(unsafe { ts_batch_commit(db.0, self.0) }, "ts_batch_commit");
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: created by ts_batch_new, freed once.
        unsafe { ts_batch_free(self.0) };
    }
}

fn wide_series() -> usize {
    if quick() { 10_000 } else { env_usize("TSDB_LIMITS_SERIES", 1_000_000) }
}

fn wide_write(dir: &Path) {
    let series = wide_series();
    println!(
        "\nwide: {} series x {SCRAPES} scrapes (one ts_batch per scrape, one point per series)",
        human(series)
    );
    let (db, _) = open(dir);
    let base = rss();
    let heap_base = heap_in_use();
    let ids: Vec<u64> = {
        let mut nb = NameBuf::default();
        (0..series).map(|i| create(db, nb.name(i))).collect()
    };
    let mut batch = Batch::new();
    let start = Instant::now();
    for round in 0..SCRAPES {
        batch.scrape(db, &ids, round);
    }
    let secs = start.elapsed().as_secs_f64();
    let points = (series * SCRAPES) as f64;
    line(
        "scrapes: points/s (ts_batch_add + ts_batch_commit)",
        format!("{} ({secs:.1} s; target >= 10M)", fmt_num(points / secs)),
    );
    line(
        &format!("resident memory per series, {SCRAPES} points each in heads"),
        format!("{} B (target <= 1,000)", fmt_num((rss() - base) / series as f64)),
    );
    drop(batch);
    if let (Some(a), Some(b)) = (heap_base, heap_in_use()) {
        line("  of which malloc'd and in use (mallinfo2)", format!("{} B", fmt_num((b - a) / series as f64)));
    }
    two_writers(db, &ids);
    txn_figures(db, &ids);
    close(db);
}

/// `TWO_WRITER_SCRAPES` more scrapes from one thread, then as many from two threads each
/// committing its half of the series: the aggregate rates.
fn two_writers(db: Db, ids: &[u64]) {
    const TWO_WRITER_SCRAPES: usize = 10;
    let points = (ids.len() * TWO_WRITER_SCRAPES) as f64;
    let start = Instant::now();
    let mut b = Batch::new();
    for round in 0..TWO_WRITER_SCRAPES {
        b.scrape(db, ids, SCRAPES + round);
    }
    drop(b);
    let one = points / start.elapsed().as_secs_f64();
    let (lo, hi) = ids.split_at(ids.len() / 2);
    let start = Instant::now();
    std::thread::scope(|s| {
        for half in [lo, hi] {
            s.spawn(move || {
                let mut b = Batch::new();
                for round in 0..TWO_WRITER_SCRAPES {
                    b.scrape(db, half, SCRAPES + TWO_WRITER_SCRAPES + round);
                }
            });
        }
    });
    line(
        &format!("  {TWO_WRITER_SCRAPES} more scrapes: one thread; two threads, each half the series"),
        format!("{}; {} points/s", fmt_num(one), fmt_num(points / start.elapsed().as_secs_f64())),
    );
}

fn wide_open(dir: &Path) {
    let series = wide_series();
    let before = rss();
    let cpu = cpu_secs();
    let (db, secs) = open(dir);
    // On a shared machine the wall time includes waiting for a CPU: the CPU time says
    // what the open itself costs (the background thread starts at its very end).
    let cpu = cpu_secs() - cpu;
    line("ts_open after close", format!("{} s, {} s of CPU (target <= 1)", fmt_num(secs), fmt_num(cpu)));
    line(
        "resident memory per series after reopen",
        format!("{} B (target <= 1,000)", fmt_num((rss() - before) / series as f64)),
    );
    if std::env::var_os("TSDB_LIMITS_OPEN_ONLY").is_some() {
        // Profiling the open alone: leave without a close (it would write a checkpoint).
        std::process::exit(0);
    }
    // What an open leaves for later shows here: the first scrape and full scan after it.
    let ids: Vec<u64> = (1..=series as u64).collect(); // a new database gives ids from 1
    let t = Instant::now();
    // A round no scrape of the write used (the write's writer thread went on past SCRAPES).
    Batch::new().scrape(db, &ids, 1 << 20);
    line("  then one scrape of every series", format!("{} s", fmt_num(t.elapsed().as_secs_f64())));
    let t = Instant::now();
    let n = full_scan(db, &ids);
    // The writer of `txn_figures` added points to a tenth of the series.
    assert!(n >= (series * (SCRAPES + 1)) as u64, "a full scan returns every point ({n})");
    line("  then a full scan of every series", format!("{} s", fmt_num(t.elapsed().as_secs_f64())));
    close(db);
}

/// `ts_txn_begin` + `ts_txn_release`: median ns of 200 chunks of 10,000 pairs, alone and
/// with a writer thread committing scrapes of a tenth of the series meanwhile.
fn txn_figures(db: Db, ids: &[u64]) {
    let pair_ns = |db: Db| {
        let mut chunks = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            for _ in 0..10_000 {
                let txn = begin(db);
                // SAFETY: released once.
                unsafe { ts_txn_release(black_box(txn)) };
            }
            chunks.push(t.elapsed().as_nanos() as f64 / 10_000.0);
        }
        median(&mut chunks)
    };
    line(
        &format!("ts_txn_begin + ts_txn_release, {} series", human(ids.len())),
        format!("{} ns alone (target <= 50)", fmt_num(pair_ns(db))),
    );
    let stop = AtomicBool::new(false);
    let writer_ids = &ids[..ids.len() / 10];
    let with_writer = std::thread::scope(|s| {
        s.spawn(|| {
            let mut b = Batch::new();
            let mut round = SCRAPES;
            while !stop.load(Ordering::Relaxed) {
                b.scrape(db, writer_ids, round);
                round += 1;
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        let ns = pair_ns(db);
        stop.store(true, Ordering::Relaxed);
        ns
    });
    line(
        "  the same with a writer committing scrapes",
        format!("{} ns (target <= 100)", fmt_num(with_writer)),
    );
}
