//! Issue 6's query benchmark: `cargo bench --bench queries` (TSDB_BENCH_QUICK=1 for a short
//! smoke run with smaller data; figures then carry no verdict).
//!
//! - aggregate: one bucket, and 1,000 buckets, over a 5M-point metric (gauge shape of
//!   `tsdb::codec::shapes`, 10 s interval), beside a plain decode of the same points
//!   through a cursor; medians of repeated runs on one snapshot, after a close and reopen
//!   (blocks come from the data files' page cache, as on a warm server).
//! - delete: a range delete of 10% of a 5M-point metric (from its middle), with an older
//!   snapshot open; `du` of the directory before, with the snapshot, and after releasing it
//!   (and closing, which checkpoints).
//! - retention: one pass (`Database::enforce_retention`) over 100K metrics of 200 points in
//!   partitions of 64, each with one partition past its retention span.
mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::{fmt_num, human, median};
use tsdb::codec::shapes;
use tsdb::{Database, MetricId, Options};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tsdb-bench-queries-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes the files under `dir` take (st_blocks x 512, as du).
fn du(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("entry");
        let md = e.metadata().expect("metadata");
        n += md.blocks() * 512;
        if md.is_dir() {
            n += du(&e.path());
        }
    }
    n
}

/// Median seconds of `runs` calls of `f`.
/// Read cursor `c` to its end in batches of `ts.len()`; returns the points read.
fn drain(mut c: tsdb::Cursor, ts: &mut [i64], vals: &mut [f64]) -> usize {
    let mut n = 0;
    loop {
        match c.next_batch(Some(&mut *ts), Some(&mut *vals)).expect("read") {
            0 => return n,
            k => n += k,
        }
    }
}

fn time(runs: usize, f: impl FnMut()) -> f64 {
    times(runs, f).0
}

/// Median and fastest seconds of `runs` calls of `f` (on a shared host the fastest shows
/// the code's speed, the median the host's too).
fn times(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    let fastest = v.iter().copied().fold(f64::INFINITY, f64::min);
    (median(&mut v), fastest)
}

fn main() {
    let quick = std::env::var("TSDB_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let points: usize = if quick { 200_000 } else { 5_000_000 };
    let runs = if quick { 5 } else { 21 };
    let dir = TempDir::new("agg");
    let s = shapes::gauge(points, 7);
    {
        let db = Database::open(&dir.0, &Options::default()).expect("open");
        let m = db.create_metric("gauge").expect("create");
        for (t, v) in s.ts.chunks(10_000).zip(s.vals.chunks(10_000)) {
            db.insert_batch(m, t, v).expect("insert");
        }
        db.close().map_err(|(_, e)| e).expect("close");
    }
    let db = Database::open(&dir.0, &Options::default()).expect("reopen");
    let snap = db.begin();
    let m = MetricId(1);
    let (from, until) = (s.ts[0], s.ts[points - 1] + 1);
    println!("== aggregate: one metric of {} points (gauge shape), {runs} runs each, median", human(points));
    let mut out = Vec::new();
    let mut row = |what: &str, buckets: i64| {
        let bucket = ((until - from) + buckets - 1) / buckets;
        let (secs, fastest) = times(runs, || {
            out.clear();
            snap.aggregate(m, from, until, bucket, usize::MAX, &mut out).expect("aggregate");
        });
        assert_eq!(out.iter().map(|a| a.count).sum::<u64>(), points as u64);
        println!(
            "  {what:<28} {:>9} ms   {:>7} buckets   {:>8} M points/s   (fastest {} ms)",
            fmt_num(secs * 1e3),
            out.len(),
            fmt_num(points as f64 / secs / 1e6),
            fmt_num(fastest * 1e3)
        );
        secs
    };
    let one = row("1 bucket", 1);
    let thousand = row("1,000 buckets", 1000);
    let mut ts = vec![0i64; 4096];
    let mut vals = vec![0f64; 4096];
    let scan = time(runs.min(7), || {
        let n = drain(snap.scan(m, from, until).expect("scan"), &mut ts, &mut vals);
        assert_eq!(n, points);
    });
    println!(
        "  {:<28} {:>9} ms                     {:>8} M points/s",
        "plain decode (cursor)",
        fmt_num(scan * 1e3),
        fmt_num(points as f64 / scan / 1e6)
    );
    // Short reads: 100 points from places spread over the metric. A paged block decodes
    // only the pages the range overlaps.
    let short = time(runs, || {
        for q in 0..100 {
            let i = (q * 48_611 + 12_345) % (points - 200);
            let n = drain(snap.scan(m, s.ts[i], s.ts[i + 100]).expect("scan"), &mut ts, &mut vals);
            assert_eq!(n, 100);
        }
    }) / 100.0;
    println!("  {:<28} {:>9} us   per read of 100 points", "short range (cursor)", fmt_num(short * 1e6));
    drop(snap);

    // Delete 10% from the middle, with an older snapshot open.
    let du0 = du(&dir.0);
    let old = db.begin();
    let (a, b) = (s.ts[points * 45 / 100], s.ts[points * 55 / 100]);
    let t = Instant::now();
    db.delete_range(m, a, b).expect("delete");
    let delete_secs = t.elapsed().as_secs_f64();
    db.checkpoint().expect("checkpoint");
    let du1 = du(&dir.0);
    drop(old);
    db.close().map_err(|(_, e)| e).expect("close");
    let du2 = du(&dir.0);
    println!(
        "\n== delete: 10% ({}) of the metric, from its middle, an older snapshot open",
        human(points / 10)
    );
    println!("  delete_range                 {:>9} ms", fmt_num(delete_secs * 1e3));
    println!(
        "  du: before {} KB, after the delete with the old snapshot open {} KB, after releasing it and closing {} KB",
        du0 / 1024,
        du1 / 1024,
        du2 / 1024
    );

    let (metrics, per, span) = if quick { (10_000, 200, 100) } else { (100_000, 200, 100) };
    let rdir = TempDir::new("retention");
    let mut o = Options::default();
    o.set_partition_points(64).expect("options");
    let db = Database::open(&rdir.0, &o).expect("open");
    let ts: Vec<i64> = (0..per as i64).collect();
    let vals: Vec<f64> = ts.iter().map(|&t| (t % 17) as f64).collect();
    for i in 0..metrics {
        let id = db.create_metric(&format!("r.{i}")).expect("create");
        db.insert_batch(id, &ts, &vals).expect("insert");
    }
    db.close().map_err(|(_, e)| e).expect("close");
    o.retention = span;
    let db = Database::open(&rdir.0, &o).expect("open");
    // The background thread starts on the same work at open; time a pass of our own
    // before it gets far (it then finds nothing left, or leaves us less).
    let t = Instant::now();
    let dropped = db.enforce_retention().expect("retention");
    let secs = t.elapsed().as_secs_f64();
    db.close().map_err(|(_, e)| e).expect("close");
    println!(
        "\n== retention: one pass over {} metrics ({per} points each, partitions of 64)",
        human(metrics)
    );
    println!(
        "  enforce_retention            {:>9} ms   {dropped} partitions dropped   {} us per metric",
        fmt_num(secs * 1e3),
        fmt_num(secs * 1e6 / metrics as f64)
    );
    println!("\n== targets (issue 6)");
    for (what, secs, limit) in [
        ("1 bucket over 5M points <= 1 ms", one, 1e-3),
        ("1,000 buckets over 5M points <= 5 ms", thousand, 5e-3),
    ] {
        let verdict = if quick {
            "(quick)"
        } else if secs <= limit {
            "met"
        } else {
            "NOT MET"
        };
        println!("  {verdict:<9} {what}: {} ms", fmt_num(secs * 1e3));
    }
}
