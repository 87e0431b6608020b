//! Test data for the point codec: deterministic synthetic series of typical shapes, and a
//! real recorded dataset (`data/node_metrics.csv`, made by `tools/record_proc.py`).
//!
//! Every series has strictly ascending, unique timestamps in milliseconds. Synthetic
//! timestamps start at [`T0`] (2026-01-01T00:00:00Z), so they have the magnitude of real
//! epoch milliseconds. The generators use an inline splitmix64 and integer arithmetic only
//! (no `ln`/`exp`), so a given `(n, seed)` gives bit-identical series on every platform.

use std::collections::HashMap;

/// A named series shape for codec tests and benchmarks.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: &'static str,
    pub ts: Vec<i64>,
    pub vals: Vec<f64>,
}

/// First timestamp of the synthetic series: 2026-01-01T00:00:00Z in epoch milliseconds.
pub const T0: i64 = 1_767_225_600_000;

/// All synthetic shapes, `n` points each, from `seed`.
///
/// In order: [`gauge`], [`gauge_ms_jitter`], [`counter`], [`constant`], [`sparse`],
/// [`high_entropy`]; the series' names are the functions' names.
pub fn synthetic(n: usize, seed: u64) -> Vec<Series> {
    vec![
        gauge(n, seed),
        gauge_ms_jitter(n, seed),
        counter(n, seed),
        constant(n, seed),
        sparse(n, seed),
        high_entropy(n, seed),
    ]
}

/// "gauge": 10 s interval plus 0..1000 ms of uniform jitter; a random walk of 2-decimal values
/// (start 50.00, steps of -1.00..=+1.00 in 0.01 increments, each value `cents as f64 / 100.0`).
pub fn gauge(n: usize, seed: u64) -> Series {
    let mut rng = Rng::new(seed, 1);
    let mut s = Series::with_capacity("gauge", n);
    let mut cents: i64 = 5000;
    for i in 0..n {
        s.push(T0 + i as i64 * 10_000 + rng.range(0, 999), cents as f64 / 100.0);
        cents += rng.range(-100, 100);
    }
    s
}

/// "gauge_ms_jitter": 10 s interval plus 0..=5 ms of jitter; a 1-decimal random walk clamped
/// to 0.0..=100.0, like CPU percent (start 25.0, steps of -2.0..=+2.0 in 0.1 increments).
pub fn gauge_ms_jitter(n: usize, seed: u64) -> Series {
    let mut rng = Rng::new(seed, 2);
    let mut s = Series::with_capacity("gauge_ms_jitter", n);
    let mut tenths: i64 = 250;
    for i in 0..n {
        s.push(T0 + i as i64 * 10_000 + rng.range(0, 5), tenths as f64 / 10.0);
        tenths = (tenths + rng.range(-20, 20)).clamp(0, 1000);
    }
    s
}

/// "counter": a monotonic byte counter, 15 s interval plus 0..=3 ms of jitter, integer
/// increments of 0..=5000, rare resets to 0 (probability 1/1000 per point, plus one at
/// point `2n/3` when `n >= 3`, so every series of 3 or more points has a reset).
pub fn counter(n: usize, seed: u64) -> Series {
    let mut rng = Rng::new(seed, 3);
    let mut s = Series::with_capacity("counter", n);
    let mut v: i64 = 1_000_000 + rng.range(0, 999_999_999);
    let forced_reset = if n >= 3 { 2 * n / 3 } else { usize::MAX };
    for i in 0..n {
        let ts = T0 + i as i64 * 15_000 + rng.range(0, 3);
        let inc = rng.range(0, 5000);
        let reset = rng.below(1000) == 0;
        if i > 0 {
            v = if reset || i == forced_reset { 0 } else { v + inc };
        }
        s.push(ts, v as f64);
    }
    s
}

/// "constant": exact 10 s interval, one value throughout (chosen by `seed` from 1.0, 0.0,
/// 8589934592.0 and 100.0).
pub fn constant(n: usize, seed: u64) -> Series {
    const VALUES: [f64; 4] = [1.0, 0.0, 8_589_934_592.0, 100.0];
    let mut rng = Rng::new(seed, 4);
    let v = VALUES[rng.below(VALUES.len() as u64) as usize];
    let mut s = Series::with_capacity("constant", n);
    for i in 0..n {
        s.push(T0 + i as i64 * 10_000, v);
    }
    s
}

/// "sparse": irregular timestamps with log-uniform gaps from 1 ms to about 4.7 hours (gap =
/// `2^k + r`, `k` uniform in 0..24, `r` uniform in `0..2^k`); values are, with equal odds, a
/// small integer 0..=20 or a 2-decimal number 0.00..=99.99.
pub fn sparse(n: usize, seed: u64) -> Series {
    let mut rng = Rng::new(seed, 5);
    let mut s = Series::with_capacity("sparse", n);
    let mut t = T0;
    for i in 0..n {
        if i > 0 {
            let k = rng.below(24);
            t += (1i64 << k) + rng.below(1 << k) as i64;
        }
        let v = if rng.below(2) == 0 { rng.range(0, 20) as f64 } else { rng.range(0, 9999) as f64 / 100.0 };
        s.push(t, v);
    }
    s
}

/// "high_entropy": exact 1 s interval; values are `f64::from_bits` of random `u64`s, redrawn
/// until finite: random doubles of every sign and exponent with full mantissa entropy.
pub fn high_entropy(n: usize, seed: u64) -> Series {
    let mut rng = Rng::new(seed, 6);
    let mut s = Series::with_capacity("high_entropy", n);
    for i in 0..n {
        let v = loop {
            let v = f64::from_bits(rng.next_u64());
            if v.is_finite() {
                break v;
            }
        };
        s.push(T0 + i as i64 * 1000, v);
    }
    s
}

/// The recorded dataset, `data/node_metrics.csv` (see `tools/record_proc.py`).
const NODE_METRICS_CSV: &str = include_str!("../../data/node_metrics.csv");

/// The recorded dataset (data/node_metrics.csv, embedded with include_str!), one Series per metric.
///
/// Series come in the order their metric first appears in the file, each sorted by
/// timestamp. Real `/proc` readings of one machine (CPU seconds, memory bytes, network,
/// disk and VM counters, load averages...) with real read-time jitter, spaced as a 10 s
/// scrape. Panics if the file is malformed (it is ours and checked in, so that is a bug).
pub fn recorded() -> Vec<Series> {
    parse_csv(NODE_METRICS_CSV, "data/node_metrics.csv")
}

/// Parses `metric,timestamp,value` CSV (with that header) into one series per metric.
fn parse_csv(text: &'static str, file: &str) -> Vec<Series> {
    const HEADER: &str = "metric,timestamp,value";
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, HEADER)) => {}
        other => panic!("{file}:1: expected the header {HEADER:?}, got {:?}", other.map(|(_, l)| l)),
    }
    let mut out: Vec<Series> = Vec::new();
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, line) in lines {
        let lineno = i + 1;
        let mut fields = line.split(',');
        let (Some(name), Some(ts), Some(v), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            panic!("{file}:{lineno}: expected `metric,timestamp,value`, got {line:?}");
        };
        if name.is_empty() {
            panic!("{file}:{lineno}: empty metric name in {line:?}");
        }
        let ts: i64 = ts.parse().unwrap_or_else(|e| panic!("{file}:{lineno}: bad timestamp {ts:?}: {e}"));
        let v: f64 = v.parse().unwrap_or_else(|e| panic!("{file}:{lineno}: bad value {v:?}: {e}"));
        let k = *index.entry(name).or_insert_with(|| {
            out.push(Series::with_capacity(name, 0));
            out.len() - 1
        });
        out[k].push(ts, v);
    }
    for s in &mut out {
        if !s.ts.is_sorted() {
            let mut points: Vec<(i64, f64)> = s.ts.iter().copied().zip(s.vals.iter().copied()).collect();
            points.sort_by_key(|p| p.0);
            (s.ts, s.vals) = points.into_iter().unzip();
        }
    }
    out
}

impl Series {
    fn with_capacity(name: &'static str, n: usize) -> Series {
        Series { name, ts: Vec::with_capacity(n), vals: Vec::with_capacity(n) }
    }

    fn push(&mut self, ts: i64, v: f64) {
        self.ts.push(ts);
        self.vals.push(v);
    }
}

/// splitmix64: a tiny, fast, statistically good PRNG; one independent stream per shape.
/// splitmix64: the deterministic generator behind every shape, shared by the tests.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`; `stream` picks an independent sequence for the same seed.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64(); // decorrelate nearby seeds
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2^-40 for the `n` used here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strictly_ascending(ts: &[i64]) -> bool {
        ts.windows(2).all(|w| w[0] < w[1])
    }

    /// `v` has at most `d` decimals, in the shortest-f64 sense.
    fn decimals_at_most(v: f64, d: i32) -> bool {
        let p = 10f64.powi(d);
        (v * p).round() / p == v
    }

    #[test]
    fn synthetic_names_lengths_and_order() {
        let names = ["gauge", "gauge_ms_jitter", "counter", "constant", "sparse", "high_entropy"];
        for n in [0, 1, 2, 3, 10, 5000] {
            let all = synthetic(n, 42);
            assert_eq!(all.iter().map(|s| s.name).collect::<Vec<_>>(), names);
            for s in &all {
                assert_eq!(s.ts.len(), n, "{}", s.name);
                assert_eq!(s.vals.len(), n, "{}", s.name);
                assert!(strictly_ascending(&s.ts), "{}: timestamps not strictly ascending", s.name);
            }
        }
    }

    /// FNV-1a over every timestamp and value bit pattern.
    fn fingerprint(all: &[Series]) -> u64 {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        for s in all {
            for x in s.name.bytes().map(u64::from).chain(s.ts.iter().map(|&t| t as u64)) {
                h = (h ^ x).wrapping_mul(0x0100_0000_01B3);
            }
            for v in &s.vals {
                h = (h ^ v.to_bits()).wrapping_mul(0x0100_0000_01B3);
            }
        }
        h
    }

    #[test]
    fn synthetic_is_deterministic_and_seeded() {
        assert!(synthetic(2000, 7) == synthetic(2000, 7));
        for (x, y) in synthetic(2000, 7).iter().zip(&synthetic(2000, 8)) {
            if x.name != "constant" {
                assert!(x.vals != y.vals, "{} ignores the seed", x.name);
            }
        }
        // Pinned: a change to a generator changes every benchmark figure measured on it, so
        // it should be deliberate (update the constant and say so in the change).
        assert_eq!(fingerprint(&synthetic(1000, 1)), PINNED_FINGERPRINT);
    }
    const PINNED_FINGERPRINT: u64 = 0xD44B_0439_8E22_5B94;

    #[test]
    fn gauge_shape() {
        let s = gauge(10_000, 1);
        for (i, (&t, &v)) in s.ts.iter().zip(&s.vals).enumerate() {
            let jitter = t - T0 - i as i64 * 10_000;
            assert!((0..1000).contains(&jitter), "jitter {jitter}");
            assert!(decimals_at_most(v, 2), "{v} has more than 2 decimals");
        }
        assert_eq!(s.vals[0], 50.0);
        for w in s.vals.windows(2) {
            assert!((w[1] - w[0]).abs() <= 1.0 + 1e-9, "step {} -> {}", w[0], w[1]);
        }
        assert!(s.vals.windows(2).filter(|w| w[0] == w[1]).count() < 200, "walk is too flat");
    }

    #[test]
    fn gauge_ms_jitter_shape() {
        let s = gauge_ms_jitter(10_000, 2);
        let mut jitters = [0usize; 6];
        for (i, (&t, &v)) in s.ts.iter().zip(&s.vals).enumerate() {
            let jitter = t - T0 - i as i64 * 10_000;
            assert!((0..=5).contains(&jitter), "jitter {jitter}");
            jitters[jitter as usize] += 1;
            assert!(decimals_at_most(v, 1), "{v} has more than 1 decimal");
            assert!((0.0..=100.0).contains(&v), "{v} out of 0..=100");
        }
        assert!(jitters.iter().all(|&c| c > 0), "every jitter 0..=5 occurs: {jitters:?}");
    }

    #[test]
    fn counter_shape() {
        let s = counter(10_000, 3);
        let mut resets = 0;
        for (i, &t) in s.ts.iter().enumerate() {
            let jitter = t - T0 - i as i64 * 15_000;
            assert!((0..=3).contains(&jitter), "jitter {jitter}");
        }
        for w in s.vals.windows(2) {
            assert!(w[1].fract() == 0.0 && w[1] >= 0.0, "{} is not a count", w[1]);
            if w[1] < w[0] {
                assert_eq!(w[1], 0.0, "decrease {} -> {} is not a reset", w[0], w[1]);
                resets += 1;
            } else {
                assert!(w[1] - w[0] <= 5000.0, "increment {} -> {}", w[0], w[1]);
            }
        }
        assert!((1..=40).contains(&resets), "{resets} resets");
        assert!(counter(3, 9).vals[2] == 0.0, "forced reset at 2n/3");
    }

    #[test]
    fn constant_shape() {
        for seed in 0..8 {
            let s = constant(1000, seed);
            assert!(s.vals.iter().all(|&v| v.to_bits() == s.vals[0].to_bits()));
            assert!(s.ts.iter().enumerate().all(|(i, &t)| t == T0 + i as i64 * 10_000));
        }
    }

    #[test]
    fn sparse_shape() {
        let s = sparse(10_000, 5);
        let gaps: Vec<i64> = s.ts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| (1..1 << 24).contains(&g)));
        assert!(gaps.contains(&1), "some 1 ms gaps");
        assert!(gaps.iter().filter(|&&g| g < 100).count() > 1000, "many short gaps");
        assert!(gaps.iter().filter(|&&g| g > 3_600_000).count() > 300, "many gaps over an hour");
        assert!(s.vals.iter().all(|&v| decimals_at_most(v, 2) && (0.0..100.0).contains(&v)));
        let ints = s.vals.iter().filter(|v| v.fract() == 0.0).count();
        assert!((4000..7000).contains(&ints), "{ints} integer values");
    }

    #[test]
    fn high_entropy_shape() {
        let s = high_entropy(10_000, 6);
        assert!(s.ts.iter().enumerate().all(|(i, &t)| t == T0 + i as i64 * 1000));
        assert!(s.vals.iter().all(|v| v.is_finite()));
        let mut bits: Vec<u64> = s.vals.iter().map(|v| v.to_bits()).collect();
        let (mut ones, mut zeros) = (0u64, 0u64);
        for &b in &bits {
            (ones, zeros) = (ones | b, zeros | !b);
        }
        assert_eq!((ones, zeros), (u64::MAX, u64::MAX), "every bit varies");
        bits.sort_unstable();
        bits.dedup();
        assert_eq!(bits.len(), 10_000, "all distinct");
    }

    #[test]
    fn recorded_dataset() {
        let all = recorded();
        assert!(all.len() >= 40, "{} series", all.len());
        let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "one series per metric");
        for s in &all {
            assert!(s.ts.len() >= 500, "{}: {} points", s.name, s.ts.len());
            assert_eq!(s.ts.len(), s.vals.len());
            assert!(strictly_ascending(&s.ts), "{}: timestamps not strictly ascending", s.name);
            assert!(s.vals.iter().all(|v| v.is_finite()), "{}", s.name);
        }
    }

    #[test]
    fn parse_csv_groups_and_sorts() {
        let s = parse_csv("metric,timestamp,value\na,20,1.5\nb,5,2\na,10,-0.25\n", "t.csv");
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].name, &s[0].ts[..], &s[0].vals[..]), ("a", &[10, 20][..], &[-0.25, 1.5][..]));
        assert_eq!((s[1].name, &s[1].ts[..], &s[1].vals[..]), ("b", &[5][..], &[2.0][..]));
        assert!(parse_csv("metric,timestamp,value\n", "t.csv").is_empty());
    }

    #[test]
    #[should_panic(expected = "t.csv:1: expected the header")]
    fn parse_csv_rejects_a_bad_header() {
        parse_csv("name,ts,value\na,1,1\n", "t.csv");
    }

    #[test]
    #[should_panic(expected = "t.csv:3: expected `metric,timestamp,value`")]
    fn parse_csv_rejects_a_missing_field() {
        parse_csv("metric,timestamp,value\na,1,1\na,2\n", "t.csv");
    }

    #[test]
    #[should_panic(expected = "t.csv:2: bad timestamp \"1.5\"")]
    fn parse_csv_rejects_a_bad_timestamp() {
        parse_csv("metric,timestamp,value\na,1.5,1\n", "t.csv");
    }

    #[test]
    #[should_panic(expected = "t.csv:2: bad value \"x\"")]
    fn parse_csv_rejects_a_bad_value() {
        parse_csv("metric,timestamp,value\na,1,x\n", "t.csv");
    }
}
