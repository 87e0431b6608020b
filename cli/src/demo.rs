//! `tsdb demo`: the main job. Builds a database of many realistic series, closes and
//! reopens it, reads everything back, and prints throughput and size figures.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tsdb::{Batch, Database, MetricId, Options};

use crate::format::{bytes, count, disk_usage, rate, secs};
use crate::{Failure, Outcome, error, is_database, open_failure};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to build the database: a new or empty directory, or an earlier demo's
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Number of series (hosts of 10 gauges each)
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    series: u64,
    /// Points per series: one per scrape, every 10 s
    #[arg(long, value_name = "N", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    points: u64,
    /// Replace DIR also when it holds a tsdb database that `tsdb demo` did not create
    #[arg(long)]
    force: bool,
}

/// Marks a database `tsdb demo` built, which a later demo may replace.
const MARKER: &str = "DEMO";
/// First scrape: 2026-01-01T00:00:00Z in milliseconds; then one every 10 s.
const T0: i64 = 1_767_225_600_000;
const INTERVAL: i64 = 10_000;
/// Short range queries: how many, and how many scrapes each covers (10 minutes).
const QUERIES: u64 = 10_000;
const QUERY_SCRAPES: u64 = 60;
/// Aggregates: clock hours (T0 is midnight).
const AGG_BUCKET: i64 = 3_600_000;

/// The gauges of a host: name, and how values move. A value is `units * mul / div`, so
/// decimals are the doubles nearest to short decimal numbers, as parsed from a scrape.
struct Gauge {
    name: &'static str,
    mul: f64,
    div: f64,
    /// Start in `lo..=hi` units; each scrape moves by up to `step` units, within `min..=max`.
    start: (i64, i64),
    step: i64,
    range: (i64, i64),
    /// Noise in `0..=noise` units on top of the walk, drawn afresh at each scrape.
    noise: i64,
}

const GAUGES: [Gauge; 10] = [
    Gauge {
        name: "cpu.user_percent",
        mul: 1.0,
        div: 10.0,
        start: (50, 400),
        step: 20,
        range: (0, 1000),
        noise: 0,
    },
    Gauge {
        name: "cpu.system_percent",
        mul: 1.0,
        div: 10.0,
        start: (10, 100),
        step: 5,
        range: (0, 1000),
        noise: 0,
    },
    Gauge { name: "load1", mul: 1.0, div: 100.0, start: (10, 300), step: 8, range: (0, 6400), noise: 0 },
    Gauge {
        name: "mem.used_bytes",
        mul: 4096.0,
        div: 1.0,
        start: (200_000, 2_000_000),
        step: 500,
        range: (100_000, 4_000_000),
        noise: 0,
    },
    Gauge {
        name: "mem.cached_bytes",
        mul: 4096.0,
        div: 1.0,
        start: (100_000, 1_000_000),
        step: 50,
        range: (0, 4_000_000),
        noise: 0,
    },
    Gauge {
        name: "disk.used_percent",
        mul: 1.0,
        div: 100.0,
        start: (1000, 8000),
        step: 1,
        range: (0, 10_000),
        noise: 0,
    },
    Gauge {
        name: "net.rx_bytes_per_s",
        mul: 1.0,
        div: 1.0,
        start: (10_000, 1_000_000),
        step: 5000,
        range: (0, 100_000_000),
        noise: 20_000,
    },
    Gauge {
        name: "temp.celsius",
        mul: 1.0,
        div: 10.0,
        start: (350, 550),
        step: 3,
        range: (200, 900),
        noise: 0,
    },
    Gauge {
        name: "procs.running",
        mul: 1.0,
        div: 1.0,
        start: (100, 300),
        step: 3,
        range: (1, 5000),
        noise: 0,
    },
    Gauge { name: "fan.rpm", mul: 10.0, div: 1.0, start: (100, 300), step: 2, range: (0, 1000), noise: 0 },
];

/// splitmix64: deterministic, so every demo writes the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + ((u128::from(self.next()) * (hi - lo + 1) as u128) >> 64) as i64
    }
}

/// One series being written: its id, gauge, walk state and the sum of its values so far.
struct Series {
    id: MetricId,
    gauge: &'static Gauge,
    units: i64,
    sum: f64,
}

impl Series {
    fn next_value(&mut self, rng: &mut Rng) -> f64 {
        let g = self.gauge;
        self.units = (self.units + rng.range(-g.step, g.step)).clamp(g.range.0, g.range.1);
        let noise = if g.noise > 0 { rng.range(0, g.noise) } else { 0 };
        let v = (self.units + noise) as f64 * g.mul / g.div;
        self.sum += v;
        v
    }
}

pub fn run(a: &DemoArgs) -> Outcome {
    let dir = &a.dir;
    let total = a.series * a.points;
    prepare(dir, a.force)?;
    let hosts = a.series.div_ceil(GAUGES.len() as u64);
    say!(
        "tsdb demo: {} series x {} points = {} points into {}",
        count(a.series),
        count(a.points),
        count(total),
        dir.display()
    );
    say!(
        "           {} host{} x {} gauges, scraped every 10 s; one atomic batch of {} points per scrape",
        count(hosts),
        if hosts == 1 { "" } else { "s" },
        GAUGES.len(),
        count(a.series)
    );
    let db = Database::open(dir, &Options::default()).map_err(|e| open_failure(dir, e))?;
    std::fs::write(
        dir.join(MARKER),
        "Built by `tsdb demo`; a later `tsdb demo` may replace this database.\n",
    )
    .map_err(|e| error(format!("cannot write {}: {e}", dir.join(MARKER).display())))?;
    let result = ingest(&db, a);
    let close_start = Instant::now();
    let closed = db.close().map_err(|(_, e)| error(format!("closing the database failed: {e}")));
    let close_time = close_start.elapsed();
    let mut series = result?;
    closed?;
    say!("close      {} (final checkpoint: the log is folded into the data files)", secs(close_time));
    let disk = disk_usage(dir).map_err(|e| error(format!("cannot measure {}: {e}", dir.display())))?;
    say!("on disk    {}: {:.2} bytes per point (raw: 16)", bytes(disk), disk as f64 / total as f64);

    let open_start = Instant::now();
    let db = Database::open(dir, &Options::default()).map_err(|e| open_failure(dir, e))?;
    let open_time = open_start.elapsed();
    let result = read_back(&db, a, &mut series, open_time);
    let closed = db.close().map_err(|(_, e)| error(format!("closing the database failed: {e}")));
    result?;
    closed?;
    let first = format!("host0000.{}", GAUGES[0].name);
    say!(
        "the database stays in {0}: try `tsdb stats {0}`, `tsdb query {0} {first} - -` (add \
         `--bucket 3600000` for hourly aggregates), `tsdb check {0}`",
        dir.display()
    );
    Ok(())
}

/// Make `dir` ready for a new demo: missing or empty is fine; an earlier demo's database
/// (or, with `force`, any tsdb database) has its files removed; anything else is refused.
fn prepare(dir: &Path, force: bool) -> Outcome {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(error(format!("cannot read {}: {e}", dir.display()))),
        Ok(m) if !m.is_dir() => return Err(error(format!("{} is not a directory", dir.display()))),
        Ok(_) => {}
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|e| error(format!("cannot read {}: {e}", dir.display())))?
        .next()
        .is_none();
    if empty {
        return Ok(());
    }
    if !is_database(dir) {
        return Err(error(format!(
            "{} is not empty and is not a tsdb database; the demo needs a new or empty directory \
             (nothing was changed)",
            dir.display()
        )));
    }
    let demo = dir.join(MARKER).is_file();
    if !demo && !force {
        return Err(error(format!(
            "{} holds a tsdb database that `tsdb demo` did not create; nothing was changed\n  \
             hint: pick another directory, or pass --force to replace that database",
            dir.display()
        )));
    }
    // Hold the database's lock while removing it: fails if a process has it open.
    let lock_path = dir.join("LOCK");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| error(format!("cannot open {}: {e}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        return Err(error(format!(
            "the database {} is open in another process; nothing was changed",
            dir.display()
        )));
    }
    eprintln!(
        "replacing the {} in {}",
        if demo { "database of an earlier demo" } else { "database (--force)" },
        dir.display()
    );
    // The marker goes last but one: an interrupted removal is still recognized as a demo.
    for name in ["MANIFEST", "wal", "data", "manifest-rewrite", MARKER] {
        let p = dir.join(name);
        let r = match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p),
            Ok(_) => std::fs::remove_file(&p),
            Err(_) => continue,
        };
        r.map_err(|e| error(format!("cannot remove {}: {e}", p.display())))?;
    }
    drop(lock);
    let _ = std::fs::remove_file(&lock_path);
    Ok(())
}

/// Anonymous resident memory of this process (the heap, where heads live), in bytes.
fn heap_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Create the series and write every point, scrape by scrape.
fn ingest(db: &Database, a: &DemoArgs) -> Result<Vec<Series>, Failure> {
    let mut rng = Rng(42);
    let start = Instant::now();
    let mut series = Vec::with_capacity(a.series as usize);
    for s in 0..a.series {
        let gauge = &GAUGES[(s % GAUGES.len() as u64) as usize];
        let name = format!("host{:04}.{}", s / GAUGES.len() as u64, gauge.name);
        let id = db.create_metric(&name).map_err(|e| error(format!("cannot create metric {name:?}: {e}")))?;
        series.push(Series { id, gauge, units: rng.range(gauge.start.0, gauge.start.1), sum: 0.0 });
    }
    say!("create     {} metrics in {}", count(a.series), secs(start.elapsed()));

    // Each host is scraped at its own phase within the interval (plus a few ms of jitter),
    // all its gauges with one timestamp; a scrape round covers every host in phase order.
    let hosts = a.series.div_ceil(GAUGES.len() as u64);
    let phase: Vec<i64> = (0..hosts).map(|h| ((h * 7919) % 9990) as i64).collect();
    let mut order: Vec<u64> = (0..hosts).collect();
    order.sort_by_key(|&h| phase[h as usize]);

    let total = a.series * a.points;
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "ingest     [{bar:40}] {human_pos}/{human_len} points, {per_sec:0}, eta {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let heap_before = heap_bytes();
    let start = Instant::now();
    let mut batch = Batch::new();
    for k in 0..a.points as i64 {
        for &h in &order {
            let ts = T0 + k * INTERVAL + phase[h as usize] + rng.range(0, 5);
            let first = h * GAUGES.len() as u64;
            for s in first..(first + GAUGES.len() as u64).min(a.series) {
                let sr = &mut series[s as usize];
                let v = sr.next_value(&mut rng);
                batch.add(sr.id, ts, v);
            }
        }
        db.commit(&mut batch).map_err(|e| error(format!("writing scrape {k} failed: {e}")))?;
        pb.inc(a.series);
    }
    let took = start.elapsed();
    pb.finish_and_clear();
    let heap = heap_bytes().saturating_sub(heap_before);
    say!("ingest     {} points in {}: {}", count(total), secs(took), rate(total, took));
    say!(
        "memory     {} of heap after ingest: {:.1} bytes per point (each series' newest points wait in \
         its head, up to 4,096)",
        bytes(heap),
        heap as f64 / total as f64
    );
    Ok(series)
}

/// After the reopen: the layout, a full scan of every series, then short range queries.
fn read_back(db: &Database, a: &DemoArgs, series: &mut [Series], open_time: Duration) -> Outcome {
    let inv = db.inventory().map_err(|e| error(format!("cannot read the database: {e}")))?;
    say!(
        "reopen     {} to open: {} metrics; {} points in {} sealed partitions, {} in heads ({} extents on disk)",
        secs(open_time),
        count(inv.metrics),
        count(inv.sealed_points),
        count(inv.partitions),
        count(inv.head_points),
        count(inv.extents)
    );
    let snap = db.begin();
    const CAP: usize = 4096;
    let (mut ts, mut vals) = (vec![0i64; CAP], vec![0f64; CAP]);
    let mut read = 0u64;
    let start = Instant::now();
    for (s, sr) in series.iter().enumerate() {
        let mut cursor =
            snap.scan(sr.id, i64::MIN, i64::MAX).map_err(|e| error(format!("scan failed: {e}")))?;
        let (mut n, mut sum) = (0u64, 0f64);
        loop {
            let k = cursor
                .next_batch(Some(&mut ts), Some(&mut vals))
                .map_err(|e| error(format!("reading series {s} failed: {e}")))?;
            if k == 0 {
                break;
            }
            n += k as u64;
            // One by one, in timestamp order: the order the sum was made in when writing.
            for v in &vals[..k] {
                sum += v;
            }
        }
        if n != a.points || sum.to_bits() != sr.sum.to_bits() {
            return Err(error(format!(
                "series {s} read back {n} points summing to {sum}; {} summing to {} were written",
                a.points, sr.sum
            )));
        }
        read += n;
    }
    let took = start.elapsed();
    say!(
        "scan       {} points of {} series in {}: {} (every count and sum matches)",
        count(read),
        count(a.series),
        secs(took),
        rate(read, took)
    );
    let w = QUERY_SCRAPES.min(a.points);
    let mut rng = Rng(7);
    let mut read = 0u64;
    let start = Instant::now();
    for _ in 0..QUERIES {
        let s = rng.range(0, a.series as i64 - 1) as usize;
        let k0 = rng.range(0, (a.points - w) as i64);
        let from = T0 + k0 * INTERVAL;
        let mut cursor = snap
            .scan(series[s].id, from, from + w as i64 * INTERVAL)
            .map_err(|e| error(format!("scan failed: {e}")))?;
        let mut n = 0;
        loop {
            let k = cursor
                .next_batch(Some(&mut ts), Some(&mut vals))
                .map_err(|e| error(format!("reading series {s} failed: {e}")))?;
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        if n != w {
            return Err(error(format!("a query of {w} scrapes of series {s} from {from} read {n} points")));
        }
        read += n;
    }
    let took = start.elapsed();
    say!(
        "ranges     {} queries of {w} points (10 minutes of one series) in {}: {} per query, {}",
        count(QUERIES),
        secs(took),
        secs(took / QUERIES as u32),
        rate(read, took)
    );
    let mut aggs = Vec::new();
    let (mut buckets, mut read) = (0u64, 0u64);
    let start = Instant::now();
    for (s, sr) in series.iter().enumerate() {
        aggs.clear();
        snap.aggregate(sr.id, T0, i64::MAX, AGG_BUCKET, usize::MAX, &mut aggs)
            .map_err(|e| error(format!("aggregating series {s} failed: {e}")))?;
        let n: u64 = aggs.iter().map(|a| a.count).sum();
        // Buckets' sums add up in another order than the values were written in: equal
        // to the written sum within rounding.
        let sum: f64 = aggs.iter().map(|a| a.sum).sum();
        if n != a.points || (sum - sr.sum).abs() > 1e-9 * sr.sum.abs().max(1.0) {
            return Err(error(format!(
                "series {s} aggregated to {n} points summing to {sum}; {} summing to {} were written",
                a.points, sr.sum
            )));
        }
        buckets += aggs.len() as u64;
        read += n;
    }
    let took = start.elapsed();
    say!(
        "aggregate  {} series in 1-hour buckets ({} buckets of count/min/max/sum/first/last) in {}: {} \
         (every count and sum matches)",
        count(a.series),
        count(buckets),
        secs(took),
        rate(read, took)
    );
    Ok(())
}
