//! Head runs: the compressed form of a head's older points, in arrival order.
//!
//! A head appends points in any timestamp order, each with the sequence number of the
//! write that stored it (snapshots filter by it). Once a head's raw tail holds enough
//! points, they become one run: three columns through the same coders as sealed blocks,
//! so a head of many series costs a few bytes a point instead of 24. Runs live only in
//! memory (the write-ahead log makes heads durable), so they carry no checksum and no
//! summary; decoding still checks every length and returns a [`CodecError`] on a bad run.
//!
//! ```text
//! │ count varint │ first_ts i64 │ seq_base varint │ val_codec u8 │
//! │ timestamps: frames of the count - 1 wrapping deltas │ seqs: frames of seq - seq_base │
//! │ values (the rest, as in a block) │
//! ```
use super::bitpack::{get_varint, put_varint};
use super::{CodecError, MAX_BLOCK_POINTS, encode_values, frames};

/// Append the run of `(ts[i], vals[i], seqs[i])`: 1 ..= [`MAX_BLOCK_POINTS`] points, any
/// timestamp order, duplicates allowed.
pub fn encode(ts: &[i64], vals: &[f64], seqs: &[u64], out: &mut Vec<u8>) {
    let n = ts.len();
    assert!(n > 0 && n <= MAX_BLOCK_POINTS && vals.len() == n && seqs.len() == n, "run shape");
    put_varint(n as u64, out);
    out.extend_from_slice(&ts[0].to_le_bytes());
    let base = seqs.iter().copied().min().expect("n > 0");
    put_varint(base, out);
    let codec_at = out.len();
    out.push(0);
    super::with_i64s(n - 1, |deltas| {
        for (d, w) in deltas.iter_mut().zip(ts.windows(2)) {
            *d = w[1].wrapping_sub(w[0]);
        }
        frames::encode(deltas, out);
    });
    super::with_i64s(n, |offsets| {
        for (o, &s) in offsets.iter_mut().zip(seqs) {
            *o = (s - base) as i64;
        }
        frames::encode(offsets, out);
    });
    out[codec_at] = encode_values(vals, None, out);
}

/// Append a run's points to `ts`, `vals` and `seqs` (in arrival order). On error the
/// vectors may hold part of the run.
pub fn decode(
    run: &[u8],
    ts: &mut Vec<i64>,
    vals: &mut Vec<f64>,
    seqs: &mut Vec<u64>,
) -> Result<(), CodecError> {
    let (n, mut at) = count(run)?;
    let first = i64_at(run, at)?;
    at += 8;
    let base = get_varint(run, &mut at)?;
    let codec = *run.get(at).ok_or_else(|| CodecError::short("run value codec", at + 1, run.len()))?;
    at += 1;
    let (t0, v0, s0) = (ts.len(), vals.len(), seqs.len());
    ts.resize(t0 + n, 0);
    let dst = &mut ts[t0..];
    dst[0] = first;
    frames::decode(run, &mut at, &mut dst[1..])?;
    for i in 1..n {
        dst[i] = dst[i - 1].wrapping_add(dst[i]);
    }
    // The seq offsets go through the values' scratch room, then become seqs.
    let mut scratch = vec![0i64; n];
    frames::decode(run, &mut at, &mut scratch)?;
    seqs.extend(scratch.iter().map(|&o| base.wrapping_add(o as u64)));
    vals.resize(v0 + n, 0.0);
    super::decode_values(codec, &run[at..], &mut scratch, &mut vals[v0..])?;
    debug_assert_eq!((ts.len() - t0, seqs.len() - s0), (n, n));
    Ok(())
}

fn count(run: &[u8]) -> Result<(usize, usize), CodecError> {
    let mut at = 0;
    let n = get_varint(run, &mut at)?;
    if n == 0 || n > MAX_BLOCK_POINTS as u64 {
        return Err(CodecError::new(format!("run of {n} points (1..={MAX_BLOCK_POINTS})")));
    }
    Ok((n as usize, at))
}

fn i64_at(b: &[u8], at: usize) -> Result<i64, CodecError> {
    let bytes = b.get(at..at + 8).ok_or_else(|| CodecError::short("run timestamp", at + 8, b.len()))?;
    Ok(i64::from_le_bytes(bytes.try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::shapes::Rng;

    fn round_trip(ts: &[i64], vals: &[f64], seqs: &[u64]) -> usize {
        let mut run = Vec::new();
        encode(ts, vals, seqs, &mut run);
        let (mut t, mut v, mut s) = (vec![7], vec![7.0], vec![7]);
        decode(&run, &mut t, &mut v, &mut s).unwrap();
        assert_eq!(&t[1..], ts);
        assert_eq!(
            v[1..].iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            vals.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(&s[1..], seqs);
        run.len()
    }

    #[test]
    fn runs_round_trip_any_order_and_any_value() {
        let mut rng = Rng::new(5, 0);
        round_trip(&[i64::MAX], &[f64::from_bits(0x7ff8_dead_beef_0001)], &[u64::MAX]);
        round_trip(
            &[i64::MIN, i64::MAX, i64::MIN, 0],
            &[-0.0, f64::INFINITY, f64::MIN_POSITIVE / 2.0, 1.5],
            &[9, 3, 9, 0],
        );
        for round in 0..200 {
            let n = 1 + rng.below(600) as usize;
            let ts: Vec<i64> =
                (0..n).map(|i| if round % 2 == 0 { i as i64 * 10 } else { rng.next_u64() as i64 }).collect();
            let vals: Vec<f64> = (0..n)
                .map(|_| {
                    if round % 3 == 0 {
                        f64::from_bits(rng.next_u64())
                    } else {
                        (rng.below(10_000) as f64) / 100.0
                    }
                })
                .collect();
            let seqs: Vec<u64> =
                (0..n).map(|i| 1000 + i as u64 * (round as u64 % 5) + rng.below(3)).collect();
            round_trip(&ts, &vals, &seqs);
        }
    }

    #[test]
    fn a_batch_of_regular_decimals_costs_a_couple_of_bytes_a_point() {
        let n = 1000;
        let ts: Vec<i64> = (0..n).map(|i| 1_700_000_000_000 + i * 10_000).collect();
        let vals: Vec<f64> = (0..n).map(|i| ((i * 37) % 1000) as f64 / 100.0).collect();
        let bytes = round_trip(&ts, &vals, &vec![42; n as usize]);
        assert!(bytes < 2 * n as usize, "{bytes} bytes for {n} points");
    }

    #[test]
    fn damaged_runs_are_errors_not_panics() {
        let mut rng = Rng::new(11, 0);
        let ts: Vec<i64> = (0..300).map(|i| i * 1000 + rng.below(50) as i64).collect();
        let vals: Vec<f64> = (0..300).map(|i| i as f64 * 0.25).collect();
        let seqs: Vec<u64> = (0..300).map(|i| 5 + i).collect();
        let mut run = Vec::new();
        encode(&ts, &vals, &seqs, &mut run);
        for _ in 0..20_000 {
            let mut bad = run.clone();
            match rng.below(3) {
                0 => bad.truncate(rng.below(run.len() as u64) as usize),
                _ => {
                    let i = rng.below(run.len() as u64) as usize;
                    bad[i] ^= 1 << rng.below(8);
                }
            }
            let (mut t, mut v, mut s) = (Vec::new(), Vec::new(), Vec::new());
            let _ = decode(&bad, &mut t, &mut v, &mut s);
        }
    }
}
