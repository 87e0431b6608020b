//! Issue 6's queries through the safe Rust API: bucketed aggregates checked against a
//! brute-force fold over the scanned points, and metric listing.
use std::sync::Arc;

use tsdb::{Agg, Database, Error, MetricId, Options, Snapshot};

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tsdb-q-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// xorshift64*: deterministic, seedable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn value(rng: &mut Rng) -> f64 {
    match rng.below(100) {
        0..=4 => f64::NAN,
        5 => f64::INFINITY,
        6 => f64::NEG_INFINITY,
        7 => -0.0,
        _ => (rng.below(20_001) as f64 - 10_000.0) / 100.0,
    }
}

/// The aggregates a point-by-point fold in timestamp order gives (the documented rule).
fn brute(pts: &[(i64, f64)], from: i64, until: i64, bucket: i64) -> Vec<Agg> {
    let mut out: Vec<(Agg, u64)> = Vec::new();
    for &(t, v) in pts.iter().filter(|p| p.0 >= from && p.0 < until) {
        let start = (i128::from(from)
            + (i128::from(t) - i128::from(from)) / i128::from(bucket) * i128::from(bucket))
            as i64;
        if out.last().is_none_or(|(a, _)| a.start != start) {
            let a = Agg {
                start,
                count: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                sum: 0.0,
                first: v,
                last: v,
                first_ts: t,
                last_ts: t,
            };
            out.push((a, 0));
        }
        let (a, valued) = out.last_mut().unwrap();
        a.count += 1;
        a.last = v;
        a.last_ts = t;
        if !v.is_nan() {
            a.min = a.min.min(v);
            a.max = a.max.max(v);
            a.sum += v;
            *valued += 1;
        }
    }
    out.into_iter()
        .map(|(mut a, valued)| {
            if valued == 0 {
                (a.min, a.max, a.sum) = (f64::NAN, f64::NAN, f64::NAN);
            }
            a
        })
        .collect()
}

fn same_f(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

/// Sums are added per block: equal up to rounding.
fn close_sum(a: f64, b: f64, scale: f64) -> bool {
    same_f(a, b) || (a.is_finite() && b.is_finite() && (a - b).abs() <= 1e-9 * scale.max(1.0))
}

fn check(got: &[Agg], want: &[Agg], scale: f64, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}: bucket count\n got {got:?}\nwant {want:?}");
    for (g, w) in got.iter().zip(want) {
        let ok = g.start == w.start
            && g.count == w.count
            && g.first_ts == w.first_ts
            && g.last_ts == w.last_ts
            && g.first.to_bits() == w.first.to_bits()
            && g.last.to_bits() == w.last.to_bits()
            && same_f(g.min, w.min)
            && same_f(g.max, w.max)
            && close_sum(g.sum, w.sum, scale);
        assert!(ok, "{ctx}:\n got {g:?}\nwant {w:?}");
    }
}

/// All buckets through calls of at most `cap`, continuing as the API documents.
fn aggregate_all(s: &Snapshot, id: MetricId, mut from: i64, until: i64, bucket: i64, cap: usize) -> Vec<Agg> {
    let mut all = Vec::new();
    loop {
        let mut out = Vec::new();
        s.aggregate(id, from, until, bucket, cap, &mut out).unwrap();
        assert!(out.len() <= cap);
        let n = out.len();
        all.extend(out);
        if n < cap {
            return all;
        }
        match all.last().unwrap().start.checked_add(bucket) {
            Some(next) if next < until => from = next,
            _ => return all,
        }
    }
}

/// A random `[from, until)` around `[0, span)` and a bucket: up to `sizes[0]` or
/// `sizes[1]`, one bucket for everything, or up to the span.
fn random_query(rng: &mut Rng, span: i64, sizes: [u64; 2]) -> (i64, i64, i64) {
    let from = rng.below(span as u64 + 20) as i64 - 10;
    let until = from + rng.below(span as u64 + 20) as i64;
    let bucket = match rng.below(4) {
        0 => 1 + rng.below(sizes[0]) as i64,
        1 => 1 + rng.below(sizes[1]) as i64,
        2 => i64::MAX,
        _ => 1 + rng.below(span as u64) as i64,
    };
    (from, until, bucket)
}

fn points(s: &Arc<Snapshot>, id: MetricId) -> Vec<(i64, f64)> {
    s.scan(id, i64::MIN, i64::MAX).unwrap().map(|p| p.unwrap()).collect()
}

#[test]
fn aggregates_match_a_brute_force_fold() {
    let seeds: u64 = std::env::var("TSDB_AGG_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    for seed in 1..=seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let dir = tmpdir(&format!("agg{seed}"));
        let mut o = Options::default();
        o.set_partition_points(2 + rng.below(60) as u32).unwrap();
        o.set_head_run_points(2 + rng.below(30) as u32).unwrap();
        let mut db = Database::open(&dir, &o).unwrap();
        let m = db.create_metric("m").unwrap();
        let span = 50 + rng.below(2_000) as i64;
        let batches = 1 + rng.below(40);
        for b in 0..batches {
            let n = 1 + rng.below(100) as usize;
            // Mostly ascending, with late points and overwrites of earlier timestamps.
            let base = (b as i64 * span) / batches as i64;
            let ts: Vec<i64> = (0..n)
                .map(|_| {
                    if rng.below(5) == 0 {
                        rng.below(span as u64) as i64
                    } else {
                        base + rng.below(40) as i64
                    }
                })
                .collect();
            let vals: Vec<f64> = (0..n).map(|_| value(&mut rng)).collect();
            db.insert_batch(m, &ts, &vals).unwrap();
            if rng.below(15) == 0 {
                db.checkpoint().unwrap();
            }
            if rng.below(30) == 0 {
                db.close().map_err(|(_, e)| e).unwrap();
                db = Database::open(&dir, &o).unwrap();
            }
        }
        let s = db.begin();
        // Writes after the snapshot must not change its answers.
        db.insert_batch(m, &[0, span / 2, span - 1], &[1e6, 1e6, 1e6]).unwrap();
        let pts = points(&s, m);
        let scale: f64 = pts.iter().map(|p| p.1.abs()).filter(|v| v.is_finite()).sum();
        for q in 0..20 {
            let (from, until, bucket) = random_query(&mut rng, span, [5, 100]);
            let cap = if rng.below(3) == 0 { 1 + rng.below(4) as usize } else { usize::MAX >> 1 };
            let got = aggregate_all(&s, m, from, until, bucket, cap);
            let want = brute(&pts, from, until, bucket);
            check(
                &got,
                &want,
                scale,
                &format!("seed {seed} query {q}: from={from} until={until} bucket={bucket} cap={cap}"),
            );
        }
        let got = aggregate_all(&s, m, i64::MIN, i64::MAX, i64::MAX, 10);
        check(&got, &brute(&pts, i64::MIN, i64::MAX, i64::MAX), scale, &format!("seed {seed}: whole range"));
        drop(s);
        db.close().map_err(|(_, e)| e).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Partitions large enough that their blocks are paged (more than 1,024 points): aggregates
/// fold pages from their summaries and decode edge pages, scans decode only the pages a
/// range overlaps, late points in the head merge over paged blocks. All are checked against
/// a brute-force fold and a filter of the full scan. Every other seed writes nearly
/// constant data at a regular step, whose blocks grow by whole pages instead of
/// multiplying (`GROW_PARTS`).
#[test]
fn paged_blocks_agree_with_a_brute_force_fold() {
    let seeds: u64 = std::env::var("TSDB_AGG_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60) / 3;
    for seed in 1..=seeds.max(1) {
        let mut rng = Rng(seed.wrapping_mul(0x517c_c1b7_2722_0a95) | 1);
        let dir = tmpdir(&format!("paged{seed}"));
        let mut o = Options::default();
        o.set_partition_points(1025 + rng.below(3000) as u32).unwrap();
        let mut db = Database::open(&dir, &o).unwrap();
        let m = db.create_metric("m").unwrap();
        let n = 5_000 + rng.below(20_000) as i64;
        let mut t = 0i64;
        let mut written = 0;
        let tiny = seed % 2 == 0;
        while written < n {
            let k = 1 + rng.below(3_000) as i64;
            // Ascending with gaps of 1 to 10 (or 10), and now and then late points and
            // overwrites.
            let mut ts = Vec::new();
            for _ in 0..k {
                t += if tiny { 10 } else { 1 + rng.below(10) as i64 };
                ts.push(if rng.below(if tiny { 500 } else { 50 }) == 0 {
                    rng.below(t as u64) as i64
                } else {
                    t
                });
            }
            let vals: Vec<f64> =
                ts.iter().map(|_| if tiny && rng.below(1000) != 0 { 7.5 } else { value(&mut rng) }).collect();
            db.insert_batch(m, &ts, &vals).unwrap();
            written += k;
            if rng.below(4) == 0 {
                db.checkpoint().unwrap();
            }
            if rng.below(8) == 0 {
                db.close().map_err(|(_, e)| e).unwrap();
                db = Database::open(&dir, &o).unwrap();
            }
        }
        // Late points left in the head, over sealed (paged) blocks.
        let late: Vec<i64> = (0..50).map(|_| rng.below(t as u64) as i64).collect();
        let vals: Vec<f64> = late.iter().map(|_| value(&mut rng)).collect();
        db.insert_batch(m, &late, &vals).unwrap();
        let s = db.begin();
        let pts = points(&s, m);
        if tiny {
            let (parts, pp) = (db.stats().unwrap().partitions, u64::from(o.partition_points));
            // Without growing, about one part per `pp` points.
            assert!(parts * pp <= pts.len() as u64, "seed {seed}: {parts} parts for {} points", pts.len());
        }
        let scale: f64 = pts.iter().map(|p| p.1.abs()).filter(|v| v.is_finite()).sum();
        for q in 0..30 {
            let (from, until, bucket) = random_query(&mut rng, t, [300, 5_000]);
            let got = aggregate_all(&s, m, from, until, bucket, usize::MAX >> 1);
            let want = brute(&pts, from, until, bucket);
            check(
                &got,
                &want,
                scale,
                &format!("seed {seed} query {q}: from={from} until={until} bucket={bucket}"),
            );
            // A short read of the same start.
            let until = from + rng.below(2_000) as i64;
            let got: Vec<(i64, u64)> =
                s.scan(m, from, until).unwrap().map(|p| p.unwrap()).map(|(t, v)| (t, v.to_bits())).collect();
            let want: Vec<(i64, u64)> =
                pts.iter().filter(|p| p.0 >= from && p.0 < until).map(|&(t, v)| (t, v.to_bits())).collect();
            assert_eq!(got, want, "seed {seed}: scan of [{from}, {until})");
        }
        drop(s);
        db.close().map_err(|(_, e)| e).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn aggregate_arguments_and_edges() {
    let dir = tmpdir("aggargs");
    let db = Database::open(&dir, &Options::default()).unwrap();
    let m = db.create_metric("m").unwrap();
    db.insert_batch(m, &[10, 11, 20], &[1.0, f64::NAN, 3.0]).unwrap();
    let s = db.begin();
    let mut out = Vec::new();
    assert!(matches!(s.aggregate(m, 0, 100, 0, 10, &mut out), Err(Error::InvalidArgument(_))));
    assert!(matches!(s.aggregate(m, 0, 100, -5, 10, &mut out), Err(Error::InvalidArgument(_))));
    assert!(matches!(s.aggregate(m, 100, 0, 10, 10, &mut out), Err(Error::InvalidArgument(_))));
    assert!(matches!(s.aggregate(MetricId(999), 0, 100, 10, 10, &mut out), Err(Error::NotFound(_))));
    s.aggregate(m, 5, 5, 10, 10, &mut out).unwrap();
    assert!(out.is_empty());
    // Buckets [5,15) and [15,25): the NaN counts, but not in min/max/sum.
    s.aggregate(m, 5, 100, 10, 10, &mut out).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].start, out[0].count, out[0].min, out[0].max, out[0].sum), (5, 2, 1.0, 1.0, 1.0));
    assert_eq!((out[0].first, out[0].first_ts, out[0].last_ts), (1.0, 10, 11));
    assert!(out[0].last.is_nan());
    assert_eq!((out[1].start, out[1].count, out[1].first, out[1].last), (15, 1, 3.0, 3.0));
    // A bucket of only NaN: min, max and sum are NaN.
    out.clear();
    s.aggregate(m, 11, 12, 1, 10, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].min.is_nan() && out[0].max.is_nan() && out[0].sum.is_nan());
    // Extreme ranges do not overflow.
    out.clear();
    s.aggregate(m, i64::MIN, i64::MAX, i64::MAX, 10, &mut out).unwrap();
    assert_eq!(out.iter().map(|a| a.count).sum::<u64>(), 3);
    drop(s);
    db.close().map_err(|(_, e)| e).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aggregates_from_summaries_agree_with_decoding_on_many_blocks() {
    // Long regular series: most blocks lie wholly inside a bucket and are answered from
    // their headers; the answer must still be the fold's.
    let dir = tmpdir("aggsum");
    let mut o = Options::default();
    o.set_partition_points(128).unwrap();
    let db = Database::open(&dir, &o).unwrap();
    let m = db.create_metric("m").unwrap();
    let ts: Vec<i64> = (0..100_000).map(|i| i * 10).collect();
    let vals: Vec<f64> = (0..100_000).map(|i| ((i * 7919) % 1000) as f64 / 10.0).collect();
    for (t, v) in ts.chunks(1000).zip(vals.chunks(1000)) {
        db.insert_batch(m, t, v).unwrap();
    }
    db.checkpoint().unwrap();
    let s = db.begin();
    let pts = points(&s, m);
    let scale: f64 = vals.iter().sum();
    for bucket in [10, 1280, 5000, 99_999, 1_000_000] {
        let got = aggregate_all(&s, m, -3, 1_000_000, bucket, 1 << 20);
        check(&got, &brute(&pts, -3, 1_000_000, bucket), scale, &format!("bucket {bucket}"));
    }
    drop(s);
    db.close().map_err(|(_, e)| e).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listing_walks_metrics_by_id_with_a_prefix() {
    let dir = tmpdir("list");
    let db = Database::open(&dir, &Options::default()).unwrap();
    let a = db.create_metric("cpu.user").unwrap();
    let _b = db.create_metric("mem.free").unwrap();
    let c = db.create_metric("cpu.system").unwrap();
    let s = db.begin();
    db.drop_metric(a).unwrap();
    let all: Vec<_> = s.metrics(MetricId(0)).map(|(id, n)| (id, n.to_owned())).collect();
    assert_eq!(all.len(), 3);
    let cpu: Vec<_> =
        s.metrics(MetricId(0)).filter(|(_, n)| n.starts_with("cpu.")).map(|(id, _)| id).collect();
    assert_eq!(cpu, vec![a, c]);
    assert_eq!(db.begin().metrics(MetricId(0)).count(), 2);
    assert!(matches!(db.create_metric("bad\0name"), Err(Error::InvalidArgument(_))));
    drop(s);
    db.close().map_err(|(_, e)| e).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stats_show_what_an_old_snapshot_keeps_alive() {
    let dir = tmpdir("stats");
    let mut o = Options::default();
    o.set_partition_points(1000).unwrap();
    let db = Database::open(&dir, &o).unwrap();
    let m = db.create_metric("m").unwrap();
    let _other = db.create_metric("other").unwrap();
    let ts: Vec<i64> = (0..100_500).collect();
    let vals: Vec<f64> = ts.iter().map(|&t| ((t * 7919) % 100_003) as f64 / 7.0).collect();
    db.insert_batch(m, &ts, &vals).unwrap();
    let s0 = db.stats().unwrap();
    assert_eq!((s0.metrics, s0.points, s0.live_snapshots, s0.oldest_snapshot_age_ms), (2, 100_500, 0, 0));
    // 100 partitions of 1,000, joined by tier: 64,000 + 2 x 16,000 + 4,000 (+ the rest).
    assert!((4..=8).contains(&s0.partitions), "{s0:?}");
    assert_eq!(s0.old_snapshot_bytes, 0, "{s0:?}");
    assert!(s0.disk_bytes > 0);

    let old = db.begin();
    let cursor = old.scan(m, 0, 10).unwrap();
    assert_eq!(db.stats().unwrap().live_snapshots, 1, "a cursor shares its snapshot");
    db.delete_range(m, 0, 90_000).unwrap();
    let s1 = db.stats().unwrap();
    assert_eq!(s1.points, 10_500);
    assert!(s1.old_snapshot_bytes > 100_000, "the old snapshot keeps the deleted blocks: {s1:?}");
    let newer = db.begin();
    assert_eq!(db.stats().unwrap().live_snapshots, 2);
    drop(cursor);
    drop(old);
    let s2 = db.stats().unwrap();
    assert_eq!((s2.live_snapshots, s2.old_snapshot_bytes), (1, 0), "{s2:?}");
    drop(newer);
    assert_eq!(db.stats().unwrap().live_snapshots, 0);
    db.close().map_err(|(_, e)| e).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn count(s: &Arc<Snapshot>, id: MetricId) -> usize {
    s.scan(id, i64::MIN, i64::MAX).unwrap().count()
}

#[test]
fn retention_drops_whole_old_partitions_and_keeps_snapshot_rules() {
    let dir = tmpdir("retention");
    let mut o = Options::default();
    o.set_partition_points(100).unwrap();
    o.retention = 1_000; // default: keep about the newest 1,000 time units
    let ts: Vec<i64> = (0..10_000).collect();
    let vals: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
    let db = Database::open(&dir, &o).unwrap();
    let (a, b, c) =
        (db.create_metric("a").unwrap(), db.create_metric("b").unwrap(), db.create_metric("c").unwrap());
    db.set_retention(b, -1).unwrap(); // b keeps everything
    db.set_retention(c, 5_000).unwrap(); // c keeps more than the default
    let old = db.begin();
    for id in [a, b, c] {
        let old_view = db.begin();
        for (t, v) in ts.chunks(500).zip(vals.chunks(500)) {
            db.insert_batch(id, t, v).unwrap();
        }
        drop(old_view);
    }
    // The background thread applies retention after seals too (it looks every 100 ms), so
    // it may have cut `a` before this snapshot: whatever it reads now, it keeps reading.
    let before = db.begin();
    let seen_before = count(&before, a);
    db.enforce_retention().unwrap();
    let s = db.begin();
    // The newest sealed point is 9,999 or a little less (the head holds the rest): every
    // partition older than that minus the span went, none newer.
    let first = |id| s.scan(id, i64::MIN, i64::MAX).unwrap().next().unwrap().unwrap().0;
    let fa = first(a);
    assert!((8_800..=9_000).contains(&fa), "a keeps its newest ~1,000: first point {fa}");
    assert_eq!(first(b), 0, "b keeps everything");
    let fc = first(c);
    // Joined partitions span at most a quarter of the span: at most 1,250 more are kept.
    assert!((3_750..=5_000).contains(&fc), "c keeps its newest ~5,000: first point {fc}");
    assert_eq!(count(&s, a), 10_000 - fa as usize, "no gaps after the cut");
    assert_eq!(count(&before, a), seen_before, "a snapshot from before the cut still reads what it read");
    assert!(seen_before == 10_000 || seen_before == count(&s, a), "cut once, by one pass or the other");
    assert_eq!(count(&old, a), 0);
    assert_eq!(db.enforce_retention().unwrap(), 0, "a second pass finds nothing");
    drop((s, before, old));
    db.close().map_err(|(_, e)| e).unwrap();

    // Settings survive reopening (checkpointed); the background applies them after seals.
    let db = Database::open(&dir, &o).unwrap();
    let more: Vec<i64> = (10_000..20_000).collect();
    for id in [a, b, c] {
        for ch in more.chunks(500) {
            db.insert_batch(id, ch, &vec![1.0; ch.len()]).unwrap();
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let s = db.begin();
        let firsts: Vec<i64> = [a, b, c]
            .iter()
            .map(|&id| s.scan(id, i64::MIN, i64::MAX).unwrap().next().unwrap().unwrap().0)
            .collect();
        // c: joined or grown partitions span at most a quarter of its 5,000.
        if firsts[0] >= 18_800 && firsts[2] >= 13_750 {
            assert_eq!(firsts[1], 0, "b keeps everything");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "background retention did not run: {firsts:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    db.close().map_err(|(_, e)| e).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sealed block whose header claims more NaNs than points, under a valid checksum (a
/// bug's or an attacker's block), is corruption for every query that reads it, whichever
/// path: the header's summary (one bucket), its pages or its points (small buckets), a
/// scan, a check. Aggregates used to compute `count - nan_count` from it.
#[test]
fn a_block_claiming_more_nans_than_points_is_corruption_not_a_panic() {
    for (tag, n) in [("nan-small", 256usize), ("nan-paged", 2048)] {
        let dir = tmpdir(tag);
        let mut o = Options::default();
        o.set_partition_points(n as u32).unwrap();
        let db = Database::open(&dir, &o).unwrap();
        let m = db.create_metric("m").unwrap();
        let ts: Vec<i64> = (0..n as i64).map(|i| i * 10).collect();
        let vals: Vec<f64> = (0..n).map(|i| if i % 7 == 0 { f64::NAN } else { i as f64 }).collect();
        db.insert_batch(m, &ts, &vals).unwrap(); // fills the head: sealed as one block
        db.close().map_err(|(_, e)| e).unwrap();
        // The segment's first block (after its 32-byte file header) is that block: claim
        // n + 1 NaNs in its header (byte 48) and recompute the header's crc (byte 60).
        let seg = dir.join("data/00000001.seg");
        let mut bytes = std::fs::read(&seg).unwrap();
        let h = &mut bytes[32..32 + 64];
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()) as usize, n, "the block's point count");
        h[48..52].copy_from_slice(&(n as u32 + 1).to_le_bytes());
        let crc = crc32fast::hash(&h[..60]);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&seg, &bytes).unwrap();

        let db = Database::open(&dir, &o).unwrap();
        let s = db.begin();
        let want = format!("data/00000001.seg offset 32: NaN count {} exceeds the point count {n}", n + 1);
        for bucket in [i64::MAX, 100, 1] {
            let mut out = Vec::new();
            match s.aggregate(m, i64::MIN, i64::MAX, bucket, 1 << 20, &mut out) {
                Err(Error::Corruption(msg)) => assert!(msg.contains(&want), "bucket {bucket}: {msg}"),
                other => panic!("{tag}, bucket {bucket}: {other:?} (buckets {out:?})"),
            }
        }
        let scanned: Result<Vec<_>, _> = s.scan(m, i64::MIN, i64::MAX).unwrap().collect();
        assert!(matches!(scanned, Err(Error::Corruption(msg)) if msg.contains(&want)));
        let r = db.check().unwrap();
        assert!(r.damage.len() == 1 && r.damage[0].contains(&want), "{:?}", r.damage);
        drop(s);
        db.close().map_err(|(_, e)| e).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// An aggregate in calls of one bucket equals one big call bit for bit (the header's
/// promise), also over parts joined into paged blocks, where a bucket's points arrive in
/// different slices (pages, windows) depending on where a call starts.
#[test]
fn aggregates_in_many_calls_equal_one_call_bit_for_bit() {
    let d = std::env::temp_dir().join(format!("tsdb-agg-calls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let mut o = Options::default();
    o.set_partition_points(64).unwrap();
    let db = Database::open(&d, &o).unwrap();
    let id = db.create_metric("m").unwrap();
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    for i in 0i64..6000 {
        if (2000..2300).contains(&i) { continue; }
        let mut v = ((i * 7919) % 1000) as f64 / 7.0 - 50.0;
        if i % 97 == 0 { v = f64::NAN } else if (3331..3364).contains(&i) { v = f64::from_bits(0x7ff8_0000_0000_0abc) } else if i == 4444 { v = f64::INFINITY } else if i == 5555 { v = f64::NEG_INFINITY }
        ts.push(i * 3); vs.push(v);
    }
    let mut k = 0;
    while k < ts.len() { let e = (k + 500).min(ts.len()); db.insert_batch(id, &ts[k..e], &vs[k..e]).unwrap(); if k == 2500 { db.checkpoint().unwrap(); } k += 500; }
    db.insert_batch(id, &[30, 31, 3000], &[1e6, -1e6, 42.0]).unwrap();
    let s = db.begin();
    for (from, until, bucket) in [(-7i64, 20000i64, 100i64), (100, 12345, 5000), (-7, 20000, 1000), (0, 18000, 777)] {
    let mut all = Vec::new();
    s.aggregate(id, from, until, bucket, usize::MAX, &mut all).unwrap();
    let mut one = Vec::new();
    let mut f = from;
    loop {
        let mut got = Vec::new();
        s.aggregate(id, f, until, bucket, 1, &mut got).unwrap();
        if got.is_empty() { break; }
        f = got[0].start + bucket;
        one.extend(got);
        if f >= until { break; }
    }
    assert_eq!(all.len(), one.len());
    for (a, b) in all.iter().zip(&one) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "bucket at {} of {bucket} from {from}", a.start);
    }
    }
    drop(s);
    db.close().map_err(|(_, e)| e).unwrap();
    let _ = std::fs::remove_dir_all(d);
}
