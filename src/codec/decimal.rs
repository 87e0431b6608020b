//! Decimal value coding (the idea of ALP, "Adaptive Lossless floating-Point", SIGMOD 2024):
//! most monitoring values are short decimals or integers, so find the smallest exponent `e`
//! with `v == (round(v * 10^e) as f64) / 10^e` bit for bit, store the integers, and keep
//! the values that do not round-trip (NaN, infinities, -0.0, longer decimals) as exceptions.
//!
//! ```text
//! │ e u8 │ n_exceptions varint │ (position delta varint │ bits u64)* │ base zigzag varint │
//! │ frames: │ width << 1 | mode u8 │ reference zigzag varint │ packed │ ... │
//! ```
//!
//! Each frame of 128 integers picks its mode: 0 = plain frame-of-reference (value - min),
//! 1 = deltas from the previous integer (delta - min delta), whichever packs narrower —
//! deltas for random walks and counters, plain for noise around a level. `base` is the
//! integer before the first one (the first integer itself, so its delta is 0).
use super::bitpack::{get_varint, put_varint};
use super::{CodecError, frames};

const POW10: [f64; 19] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18];
/// Integers must stay exact in an f64.
const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
/// Values sampled to choose the exponent.
const SAMPLE: usize = 32;
/// More exceptions than 1 in this many values: not decimal data.
const MAX_EXCEPTION_RATIO: usize = 8;

/// `v` as an integer at exponent `e`, if it round-trips bit for bit.
#[inline]
fn to_int(v: f64, e: usize) -> Option<i64> {
    let s = v * POW10[e];
    if s.is_nan() || s.abs() >= EXACT {
        return None; // also infinities
    }
    let n = round(s) as i64;
    ((n as f64 / POW10[e]).to_bits() == v.to_bits()).then_some(n)
}

/// `s` rounded to an integer (|s| < 2^53). Below 2^51 by the float-adder trick: adding and
/// subtracting 1.5 x 2^52 leaves the nearest integer (ties to even), two SSE2 additions
/// where `f64::round` is a libm call on baseline x86-64 (no SSE4.1): 7% of ingest's
/// instructions. A tie (k + 0.5) never round-trips at exponent `e`, so the tie rule does
/// not matter to `to_int`.
#[inline]
fn round(s: f64) -> f64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
    if s.abs() < 2_251_799_813_685_248.0 {
        // 2^51
        (s + MAGIC) - MAGIC
    } else {
        s.round()
    }
}

/// The smallest exponent at which `v` round-trips.
fn exponent_of(v: f64) -> Option<usize> {
    (0..POW10.len()).find(|&e| to_int(v, e).is_some())
}

/// The smallest exponent at which every sampled value round-trips: the first values, and
/// values spread over the run (a strided sample alone can alias with periodic data); all
/// of them, once each, in a run shorter than [`SAMPLE`] (the two parts would each cover it).
pub fn exponent(vals: &[f64]) -> Option<usize> {
    if vals.len() < SAMPLE {
        return max_exponent(vals.iter());
    }
    let half = SAMPLE / 2;
    let step = (vals.len() / half).max(1);
    max_exponent(vals.iter().take(half).chain(vals.iter().skip(step / 2).step_by(step)))
}

/// The largest of the sampled values' smallest round-trip exponents ([`exponent_of`]);
/// `None` if one has none. NaN, infinities and -0.0 are left to the exceptions.
fn max_exponent<'a>(sample: impl Iterator<Item = &'a f64>) -> Option<usize> {
    let mut e = 0;
    for &v in sample.filter(|v| v.is_finite() && v.to_bits() != (-0.0f64).to_bits()) {
        // A value that round-trips at `e` has its smallest exponent at or below it: the
        // maximum stands, for one division instead of a search (a head run of a gauge
        // with one decimal tried 0 and 1 for each value).
        if to_int(v, e).is_none() {
            e = e.max(exponent_of(v)?);
        }
    }
    Some(e)
}

/// Values that do not round-trip: position and bits.
type Exceptions = Vec<(usize, u64)>;

/// The integers of `vals` at exponent `e` into `ints` (as long as `vals`; an exception
/// repeats its predecessor: a zero delta), and the exceptions; `Err` with the exceptions
/// when there are too many.
fn integers(vals: &[f64], e: usize, ints: &mut [i64]) -> Result<Exceptions, Exceptions> {
    let mut exceptions = Exceptions::new();
    let mut last = 0;
    for (i, (&v, int)) in vals.iter().zip(ints.iter_mut()).enumerate() {
        match to_int(v, e) {
            Some(n) => last = n,
            None => exceptions.push((i, v.to_bits())),
        }
        *int = last;
    }
    if exceptions.len() * MAX_EXCEPTION_RATIO > vals.len() { Err(exceptions) } else { Ok(exceptions) }
}

/// Append the decimal coding of `vals`; false (with `out` possibly extended: the caller
/// truncates) when the values are not decimal enough. `hint`: the exponent to start from
/// (a paged block samples its values once for all its pages), else sampled from `vals`.
pub fn encode(vals: &[f64], hint: Option<usize>, out: &mut Vec<u8>) -> bool {
    let Some(mut e) = hint.or_else(|| exponent(vals)) else { return false };
    super::with_i64s(vals.len(), |ints| {
        let exceptions = match integers(vals, e, ints) {
            Ok(r) => r,
            Err(exceptions) => {
                // The sample missed finer decimals: retry once at what the exceptions need.
                let need =
                    exceptions.iter().take(SAMPLE).filter_map(|&(_, b)| exponent_of(f64::from_bits(b))).max();
                match need {
                    Some(n) if n > e => {
                        e = n;
                        match integers(vals, e, ints) {
                            Ok(r) => r,
                            Err(_) => return false,
                        }
                    }
                    _ => return false,
                }
            }
        };
        out.push(e as u8);
        put_varint(exceptions.len() as u64, out);
        let mut prev_pos = 0;
        for (pos, bits) in exceptions {
            put_varint((pos - prev_pos) as u64, out);
            out.extend_from_slice(&bits.to_le_bytes());
            prev_pos = pos;
        }
        frames::encode(ints, out);
        true
    })
}

/// Decode `out.len()` values from `src` (exactly: trailing bytes are an error), using
/// `ints` (as long as `out`) as scratch.
pub fn decode(src: &[u8], ints: &mut [i64], out: &mut [f64]) -> Result<(), CodecError> {
    let n = out.len();
    let mut at = 0;
    let e = usize::from(*src.first().ok_or_else(|| CodecError::short("decimal exponent", 1, 0))?);
    at += 1;
    let pow = *POW10.get(e).ok_or_else(|| CodecError::new(format!("decimal exponent {e} > 18")))?;
    let n_exc = get_varint(src, &mut at)?;
    if n_exc > n as u64 {
        return Err(CodecError::new(format!("{n_exc} exceptions for {n} values")));
    }
    let mut exceptions = Vec::with_capacity(n_exc as usize);
    let mut pos = 0u64;
    for i in 0..n_exc {
        let step = get_varint(src, &mut at)?;
        pos = pos.checked_add(step).filter(|&p| p < n as u64 && (i == 0 || step > 0)).ok_or_else(|| {
            CodecError::new(format!("exception position out of order or range (after {pos}, step {step})"))
        })?;
        let bits = src.get(at..at + 8).ok_or_else(|| CodecError::short("exception", at + 8, src.len()))?;
        exceptions.push((pos as usize, u64::from_le_bytes(bits.try_into().expect("8 bytes"))));
        at += 8;
    }
    frames::decode(src, &mut at, ints)?;
    if at != src.len() {
        return Err(CodecError::new(format!("decimal section has {} trailing bytes", src.len() - at)));
    }
    for (v, &x) in out.iter_mut().zip(ints.iter()) {
        *v = x as f64 / pow;
    }
    for (pos, bits) in exceptions {
        out[pos] = f64::from_bits(bits);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::shapes::Rng;

    /// The float-adder rounding gives `to_int` exactly the answers `f64::round` gave.
    #[test]
    fn fast_rounding_changes_no_answer() {
        let old = |v: f64, e: usize| -> Option<i64> {
            let s = v * POW10[e];
            if s.is_nan() || s.abs() >= EXACT {
                return None;
            }
            let n = s.round() as i64;
            ((n as f64 / POW10[e]).to_bits() == v.to_bits()).then_some(n)
        };
        let mut rng = Rng::new(7, 0);
        for i in 0..400_000u64 {
            let v = match i % 4 {
                0 => f64::from_bits(rng.next_u64()),
                1 => {
                    (rng.next_u64() as i64 >> rng.below(60)) as f64
                        / POW10[rng.below(POW10.len() as u64) as usize]
                }
                2 => (rng.next_u64() >> 11) as f64 + 0.5, // ties
                _ => {
                    ((rng.next_u64() >> 12) as f64 + 0.5) / POW10[rng.below(6) as usize]
                        * if i % 8 == 3 { -1.0 } else { 1.0 }
                }
            };
            for e in 0..POW10.len() {
                assert_eq!(to_int(v, e), old(v, e), "v={v:e} ({:#x}) e={e}", v.to_bits());
            }
        }
    }

    /// `exponent` picks what the maximum of each sampled value's smallest exponent is, as
    /// searching every value from 0 did (the cheaper scan skips the search for values that
    /// round-trip at the maximum so far), for runs of any length and mixed values.
    #[test]
    fn exponent_is_the_largest_smallest_exponent_of_the_sample() {
        let naive = |vals: &[f64]| -> Option<usize> {
            let half = SAMPLE / 2;
            let step = (vals.len() / half).max(1);
            let sample = vals.iter().take(half).chain(vals.iter().skip(step / 2).step_by(step));
            let mut e = 0;
            for &v in sample.filter(|v| v.is_finite() && v.to_bits() != (-0.0f64).to_bits()) {
                e = e.max(exponent_of(v)?);
            }
            Some(e)
        };
        let mut rng = Rng::new(11, 0);
        for case in 0..20_000u64 {
            let n = 1 + rng.below(if case % 2 == 0 { 40 } else { 300 }) as usize;
            let vals: Vec<f64> = (0..n)
                .map(|_| match rng.below(12) {
                    0 => f64::from_bits(rng.next_u64()),
                    1 => [f64::NAN, f64::INFINITY, -0.0, 0.0][rng.below(4) as usize],
                    _ => (rng.next_u64() as i64 >> rng.below(63)) as f64 / POW10[rng.below(7) as usize],
                })
                .collect();
            assert_eq!(exponent(&vals), naive(&vals), "{vals:?}");
        }
    }
}
