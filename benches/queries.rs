//! Issue 6's query benchmark: `cargo bench --bench queries` (TSDB_BENCH_QUICK=1 for a short
//! smoke run with smaller data; figures then carry no verdict).
//!
//! - aggregate: one bucket, and 1,000 buckets, over a 5M-point metric (gauge shape of
//!   `tsdb::codec::shapes`, 10 s interval), beside a plain decode of the same points
//!   through a cursor; medians of repeated runs on one snapshot, after a close and reopen
//!   (blocks come from the data files' page cache, as on a warm server).
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

/// Median seconds of `runs` calls of `f`.
fn time(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(&mut v)
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
        let secs = time(runs, || {
            out.clear();
            snap.aggregate(m, from, until, bucket, usize::MAX, &mut out).expect("aggregate");
        });
        assert_eq!(out.iter().map(|a| a.count).sum::<u64>(), points as u64);
        println!(
            "  {what:<28} {:>9} ms   {:>7} buckets   {:>8} M points/s",
            fmt_num(secs * 1e3),
            out.len(),
            fmt_num(points as f64 / secs / 1e6)
        );
        secs
    };
    let one = row("1 bucket", 1);
    let thousand = row("1,000 buckets", 1000);
    let mut ts = vec![0i64; 4096];
    let mut vals = vec![0f64; 4096];
    let scan = time(runs.min(7), || {
        let mut c = snap.scan(m, from, until).expect("scan");
        let mut n = 0;
        loop {
            let k = c.next_batch(Some(&mut ts), Some(&mut vals)).expect("read");
            if k == 0 {
                break;
            }
            n += k;
        }
        assert_eq!(n, points);
    });
    println!(
        "  {:<28} {:>9} ms                     {:>8} M points/s",
        "plain decode (cursor)",
        fmt_num(scan * 1e3),
        fmt_num(points as f64 / scan / 1e6)
    );
    drop(snap);
    db.close().map_err(|(_, e)| e).expect("close");
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
