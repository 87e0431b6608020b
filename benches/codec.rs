//! The codec benchmark: `cargo bench --bench codec` (`TSDB_BENCH_QUICK=1` for a smoke run).
//!
//! For every data shape (synthetic ones and a dataset recorded from a real machine's /proc),
//! cut into blocks of `BLOCK` points as sealed partitions are, it prints bytes per point and
//! encode/decode points per second on one core for: our codec, the Gorilla/XOR baseline
//! (Prometheus' chunk encoding, no header) and the `pco` crate (timestamps and values
//! compressed as two standalone columns), all in the same run. Prints figures; asserts
//! nothing about speed.
use std::hint::black_box;
use std::time::{Duration, Instant};

use tsdb::codec::{self, gorilla, shapes};

/// Points per block: the engine's default partition size.
const BLOCK: usize = 4096;

struct Blocks {
    name: String,
    blocks: Vec<(Vec<i64>, Vec<f64>)>,
}

impl Blocks {
    fn points(&self) -> usize {
        self.blocks.iter().map(|b| b.0.len()).sum()
    }
}

fn cut(name: &str, series: &[shapes::Series]) -> Blocks {
    let mut blocks = Vec::new();
    for s in series {
        for (t, v) in s.ts.chunks(BLOCK).zip(s.vals.chunks(BLOCK)) {
            blocks.push((t.to_vec(), v.to_vec()));
        }
    }
    Blocks { name: name.to_string(), blocks }
}

/// Runs `f` (which handles `points` points) repeatedly for about `dur`; points per second.
fn rate(points: usize, dur: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let t = Instant::now();
    let mut runs = 0u64;
    while runs == 0 || t.elapsed() < dur {
        f();
        runs += 1;
    }
    points as f64 * runs as f64 / t.elapsed().as_secs_f64()
}

struct Row {
    bytes: [usize; 3],
    value_bytes: usize,
    enc: [f64; 3],
    dec: [f64; 3],
}

fn measure(b: &Blocks, dur: Duration) -> Row {
    let n = b.points();
    let ours: Vec<Vec<u8>> = b
        .blocks
        .iter()
        .map(|(t, v)| {
            let mut out = Vec::new();
            codec::encode(t, v, &mut out);
            out
        })
        .collect();
    let gor: Vec<Vec<u8>> = b.blocks.iter().map(|(t, v)| gorilla::encode(t, v)).collect();
    let pco_ts: Vec<Vec<u8>> = b.blocks.iter().map(|(t, _)| pco_compress(t)).collect();
    let pco_vals: Vec<Vec<u8>> = b.blocks.iter().map(|(_, v)| pco_compress(v)).collect();

    // Check every coding round-trips before timing it.
    let (mut ts, mut vals) = (Vec::with_capacity(BLOCK), Vec::with_capacity(BLOCK));
    for (i, (t, v)) in b.blocks.iter().enumerate() {
        ts.clear();
        vals.clear();
        codec::decode(&ours[i], &mut ts, &mut vals).expect("our block decodes");
        assert!(
            ts == *t && vals.iter().zip(v).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{} round trip",
            b.name
        );
        ts.clear();
        vals.clear();
        gorilla::decode(&gor[i], t.len(), &mut ts, &mut vals).expect("gorilla block decodes");
        assert!(ts == *t && vals.iter().zip(v).all(|(a, b)| a.to_bits() == b.to_bits()));
        let pt: Vec<i64> = pco::standalone::simple_decompress(&pco_ts[i]).expect("pco");
        assert!(pt == *t);
    }
    let value_bytes: usize = ours
        .iter()
        .map(|blk| {
            let h = codec::header(blk).expect("header");
            blk.len() - codec::HEADER_LEN - h.ts_len() - h.dir_len()
        })
        .sum();

    let mut out = Vec::with_capacity(BLOCK * 16);
    let enc = [
        rate(n, dur, || {
            for (t, v) in &b.blocks {
                out.clear();
                codec::encode(t, v, &mut out);
                black_box(&out);
            }
        }),
        rate(n, dur, || {
            for (t, v) in &b.blocks {
                black_box(gorilla::encode(t, v));
            }
        }),
        rate(n, dur, || {
            for (t, v) in &b.blocks {
                black_box((pco_compress(t), pco_compress(v)));
            }
        }),
    ];
    let dec = [
        rate(n, dur, || {
            for blk in &ours {
                ts.clear();
                vals.clear();
                codec::decode(blk, &mut ts, &mut vals).expect("decodes");
                black_box((&ts, &vals));
            }
        }),
        rate(n, dur, || {
            for (i, blk) in gor.iter().enumerate() {
                ts.clear();
                vals.clear();
                gorilla::decode(blk, b.blocks[i].0.len(), &mut ts, &mut vals).expect("decodes");
                black_box((&ts, &vals));
            }
        }),
        rate(n, dur, || {
            for i in 0..pco_ts.len() {
                let t: Vec<i64> = pco::standalone::simple_decompress(&pco_ts[i]).expect("pco");
                let v: Vec<f64> = pco::standalone::simple_decompress(&pco_vals[i]).expect("pco");
                black_box((t, v));
            }
        }),
    ];
    let total = |v: &[Vec<u8>]| v.iter().map(Vec::len).sum::<usize>();
    Row { bytes: [total(&ours), total(&gor), total(&pco_ts) + total(&pco_vals)], value_bytes, enc, dec }
}

fn pco_compress<T: pco::data_types::Number>(x: &[T]) -> Vec<u8> {
    pco::standalone::simple_compress(x, &pco::ChunkConfig::default()).expect("pco compresses")
}

fn main() {
    let quick = std::env::var_os("TSDB_BENCH_QUICK").is_some();
    let (n, dur) =
        if quick { (20_000, Duration::from_millis(20)) } else { (1_000_000, Duration::from_millis(700)) };
    println!("libtsdb codec benchmark (benches/codec.rs): blocks of {BLOCK} points, one core");
    if quick {
        println!("QUICK MODE (TSDB_BENCH_QUICK=1): small data, short timings; figures are a smoke run only");
    }
    println!("B/pt = bytes per point (timestamp + value); M/s = million points per second");
    println!("ours: this codec (with its 64-byte header per block); gorilla: Prometheus XOR chunks;");
    println!("pco: the pco crate 1.1, timestamps and values as two standalone columns\n");
    let mut sets: Vec<Blocks> =
        shapes::synthetic(n, 42).iter().map(|s| cut(s.name, std::slice::from_ref(s))).collect();
    sets.push(cut("recorded (/proc)", &shapes::recorded()));
    // TSDB_BENCH_ONLY=sparse,gauge runs only those shapes (e.g. under a profiler).
    if let Ok(only) = std::env::var("TSDB_BENCH_ONLY") {
        sets.retain(|s| only.split(',').any(|o| s.name.starts_with(o)));
    }
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
        "shape",
        "ours",
        "gorilla",
        "pco",
        "/gor",
        "/pco",
        "val B/pt",
        "enc ours",
        "enc gor",
        "enc pco",
        "dec ours",
        "dec gor",
        "dec pco"
    );
    for set in &sets {
        let r = measure(set, dur);
        let pts = set.points() as f64;
        let bpp = r.bytes.map(|b| b as f64 / pts);
        println!(
            "{:<18} {:>8.3} {:>8.3} {:>8.3} {:>7.2} {:>7.2} {:>8.3} | {:>7.1}M/s {:>7.1}M/s {:>7.1}M/s | {:>7.1}M/s {:>7.1}M/s {:>7.1}M/s",
            set.name,
            bpp[0],
            bpp[1],
            bpp[2],
            bpp[0] / bpp[1],
            bpp[0] / bpp[2],
            r.value_bytes as f64 / pts,
            r.enc[0] / 1e6,
            r.enc[1] / 1e6,
            r.enc[2] / 1e6,
            r.dec[0] / 1e6,
            r.dec[1] / 1e6,
            r.dec[2] / 1e6,
        );
    }
    println!(
        "\ntargets (issue 3): ours/gorilla <= 0.6 and ours/pco <= 1.3 on realistic shapes; high_entropy values"
    );
    println!("<= 8 B/pt x 1.02; decode >= 150 M/s; encode >= 30 M/s");
}
