//! The integer frame coder both columns use: a sequence of `i64` (timestamp deltas, or the
//! decimal integers of values) in frames of [`FRAME`], each frame in the cheapest of four
//! modes. Arithmetic wraps, so any `i64` (or `u64` reinterpreted) sequence round-trips.
//!
//! ```text
//! │ base zigzag varint │ frame │ frame │ ...
//! FOR     │ width << 2 | 0 u8 │ min zigzag varint │ packed (x - min)          │
//! DELTA   │ width << 2 | 1 u8 │ min zigzag varint │ packed (x - prev - min)   │
//! SPARSE  │ width << 2 | 2 u8 │ k u8 │ positions │ common zigzag varint │ min zigzag varint │ packed k other deltas - min │
//! REPEAT  │ 0 << 2 | 3 u8 │ r varint │   (r whole frames equal to the value before them)
//! VARBITS │ 1 << 2 | 3 u8 │ min zigzag varint │ widths packed 5 bits each │ offsets │
//! ```
//!
//! A tag's width 63 means 64 bits. `prev` is the value before the frame (`base` before the
//! first). In a SPARSE frame every delta equals `common` except at `k` (1..=128) positions,
//! listed as `k` bytes when `k < 16`, else as a 16-byte bitmap. DELTA suits random walks
//! and counters, FOR noise around a level, SPARSE series that mostly repeat or climb at a
//! constant rate with occasional jumps (most real metrics, arithmetic progressions), REPEAT
//! constants and
//! perfectly regular timestamps, VARBITS values whose magnitudes vary by orders (the
//! deltas of irregular timestamps): each offset `x - min` has its own width (at most 31
//! bits); the widths come first, then the offsets concatenated least-significant bit first
//! and padded to a byte, so a decoder finds every offset's position from the widths alone
//! and reads them independently.
use super::CodecError;
use super::bitpack::{FRAME, get_varint, pack, packed_len, put_varint, unpack, width_of};
use crate::bytes::{unzigzag, zigzag};

const FOR: u8 = 0;
const DELTA: u8 = 1;
const SPARSE: u8 = 2;
/// Mode 3 holds two frame kinds, told apart by the tag's upper bits.
const MODE3: u8 = 3;
const REPEAT_TAG: u8 = MODE3;
const VARBITS_TAG: u8 = 1 << 2 | MODE3;
/// Widest offset from the minimum a VARBITS frame can hold.
const VARBITS_MAX_WIDTH: u8 = 31;
/// SPARSE lists positions below this many other deltas, else uses a bitmap.
const LIST_BELOW: usize = 16;
const BITMAP_BYTES: usize = FRAME / 8;
/// The tag's 6 width bits say 0..=62 as is; 63 stands for 64 (a 63-bit frame is packed
/// at 64, which only extreme data needs).
const WIDE: u8 = 63;

/// The tag byte of a frame: `mode` and the width the frame will be packed at.
fn tag(width: u8, mode: u8) -> (u8, u8) {
    let packed_at = if width >= WIDE { 64 } else { width };
    (width.min(WIDE) << 2 | mode, packed_at)
}

/// The width a tag says.
fn tag_width(tag: u8) -> u8 {
    match tag >> 2 {
        WIDE => 64,
        w => w,
    }
}

fn varint_len(x: u64) -> usize {
    (width_of(x) as usize).div_ceil(7).max(1)
}

/// Minimum and bit width of the offsets from it, of `xs` (exact even when the values span
/// more than `i64` can hold: offsets are taken modulo 2^64).
fn range(xs: impl Iterator<Item = i64>) -> (i64, u8) {
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for x in xs {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    (lo, width_of((i128::from(hi) - i128::from(lo)) as u64))
}

/// Append the frames of `xs`.
pub fn encode(xs: &[i64], out: &mut Vec<u8>) {
    // A head run's columns are a few dozen integers: their scratch arrays are sized to
    // them (zeroing two frame-sized arrays, 2 KiB, for each of a run's three columns was
    // 2% of a scrape's time).
    if xs.len() <= SHORT { encode_in::<SHORT>(xs, out) } else { encode_in::<FRAME>(xs, out) }
}

/// Inputs up to this long use scratch arrays of this size.
const SHORT: usize = 32;

/// [`encode`] with scratch arrays of `N >= min(xs.len(), FRAME)` slots.
fn encode_in<const N: usize>(xs: &[i64], out: &mut Vec<u8>) {
    debug_assert!(N >= xs.len().min(FRAME) && N <= FRAME);
    let mut prev = xs.first().copied().unwrap_or(0);
    put_varint(zigzag(prev), out);
    let mut packed = [0u64; N];
    let mut deltas = [0i64; N];
    let mut repeats = 0u64;
    for chunk in xs.chunks(FRAME) {
        let k = chunk.len();
        let mut p = prev;
        for (d, &x) in deltas.iter_mut().zip(chunk) {
            *d = x.wrapping_sub(p);
            p = x;
        }
        let deltas = &deltas[..k];
        // One pass for what every mode's cost needs: both ranges, and how often the
        // candidates for SPARSE's common delta (0, first, middle, last) occur.
        let cands = [0, deltas[0], deltas[k / 2], deltas[k - 1]];
        let mut hits = [0usize; 4];
        let (mut lo, mut hi, mut dlo, mut dhi) = (i64::MAX, i64::MIN, i64::MAX, i64::MIN);
        for (&x, &d) in chunk.iter().zip(deltas) {
            lo = lo.min(x);
            hi = hi.max(x);
            dlo = dlo.min(d);
            dhi = dhi.max(d);
            for (h, &c) in hits.iter_mut().zip(&cands) {
                *h += usize::from(d == c);
            }
        }
        if hits[0] == k {
            repeats += 1;
            continue;
        }
        if repeats > 0 {
            out.push(REPEAT_TAG);
            put_varint(repeats, out);
            repeats = 0;
        }
        let span = |a: i64, b: i64| width_of((i128::from(b) - i128::from(a)) as u64);
        let (w_for, w_delta) = (span(lo, hi), span(dlo, dhi));
        let best = (0..4).max_by_key(|&i| hits[i]).expect("four candidates");
        let (common, others) = (cands[best], k - hits[best]);
        let cost_for = varint_len(zigzag(lo)) + packed_len(k, w_for);
        let cost_delta = varint_len(zigzag(dlo)) + packed_len(k, w_delta);
        // The costlier modes are only weighed where they can win.
        let (nlo, w_sparse) = if others > 0 && others * 2 < k {
            range(deltas.iter().copied().filter(|&d| d != common))
        } else {
            (0, 64)
        };
        let cost_sparse = if others > 0 && others * 2 < k {
            1 + others.min(LIST_BELOW)
                + varint_len(zigzag(common))
                + varint_len(zigzag(nlo))
                + packed_len(others, w_sparse)
        } else {
            usize::MAX // none (a constant-rate frame: DELTA at width 0 is as small) or too many
        };
        let cost_var = if w_for.min(w_delta) > 8 {
            varbits_len(chunk, lo).map_or(usize::MAX, |b| varint_len(zigzag(lo)) + b)
        } else {
            usize::MAX
        };
        if cost_var < cost_sparse && cost_var < cost_delta && cost_var < cost_for {
            out.push(VARBITS_TAG);
            put_varint(zigzag(lo), out);
            for (slot, &v) in packed.iter_mut().zip(chunk) {
                *slot = u64::from(width_of(v.wrapping_sub(lo) as u64));
            }
            pack(&packed[..k], 5, out);
            let (mut acc, mut bits) = (0u64, 0u32);
            for (&v, &w) in chunk.iter().zip(&packed[..k]) {
                acc |= (v.wrapping_sub(lo) as u64) << bits; // w <= 31 and bits < 8: fits
                bits += w as u32;
                while bits >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    bits -= 8;
                }
            }
            if bits > 0 {
                out.push(acc as u8);
            }
        } else if cost_sparse < cost_delta && cost_sparse < cost_for {
            let (t, w_sparse) = tag(w_sparse, SPARSE);
            out.push(t);
            out.push(others as u8);
            let other = |(_, d): &(usize, &i64)| **d != common;
            if others < LIST_BELOW {
                out.extend(deltas.iter().enumerate().filter(other).map(|(i, _)| i as u8));
            } else {
                let mut map = [0u8; BITMAP_BYTES];
                for (i, _) in deltas.iter().enumerate().filter(other) {
                    map[i / 8] |= 1 << (i % 8);
                }
                out.extend_from_slice(&map);
            }
            put_varint(zigzag(common), out);
            put_varint(zigzag(nlo), out);
            let mut n = 0;
            for &d in deltas.iter().filter(|&&d| d != common) {
                packed[n] = d.wrapping_sub(nlo) as u64;
                n += 1;
            }
            pack(&packed[..n], w_sparse, out);
        } else if cost_delta < cost_for {
            let (t, w_delta) = tag(w_delta, DELTA);
            out.push(t);
            put_varint(zigzag(dlo), out);
            for (slot, &d) in packed.iter_mut().zip(deltas) {
                *slot = d.wrapping_sub(dlo) as u64;
            }
            pack(&packed[..k], w_delta, out);
        } else {
            let (t, w_for) = tag(w_for, FOR);
            out.push(t);
            put_varint(zigzag(lo), out);
            for (slot, &x) in packed.iter_mut().zip(chunk) {
                *slot = x.wrapping_sub(lo) as u64;
            }
            pack(&packed[..k], w_for, out);
        }
        prev = chunk[k - 1];
    }
    if repeats > 0 {
        out.push(REPEAT_TAG);
        put_varint(repeats, out);
    }
}

/// Bytes of a VARBITS frame of `xs` less `lo` (widths and offsets), if every offset fits.
fn varbits_len(xs: &[i64], lo: i64) -> Option<usize> {
    let mut bits = 0;
    for &x in xs {
        let w = width_of(x.wrapping_sub(lo) as u64);
        if w > VARBITS_MAX_WIDTH {
            return None;
        }
        bits += usize::from(w);
    }
    Some(packed_len(xs.len(), 5) + bits.div_ceil(8))
}

/// Decode `out.len()` values from `src[*at..]`, advancing `*at`.
pub fn decode(src: &[u8], at: &mut usize, out: &mut [i64]) -> Result<(), CodecError> {
    let mut prev = unzigzag(get_varint(src, at)?);
    let mut done = 0;
    while done < out.len() {
        let tag = *src.get(*at).ok_or_else(|| CodecError::short("frame", *at + 1, src.len()))?;
        *at += 1;
        let (width, mode) = (tag_width(tag), tag & 3);
        if tag == VARBITS_TAG {
            let k = FRAME.min(out.len() - done);
            let lo = unzigzag(get_varint(src, at)?);
            // The widths go where the values will (no scratch arrays to zero): each value
            // replaces its own width.
            let dst = &mut out[done..done + k];
            *at += unpack(&src[*at..], 5, dst)?;
            let mut total = 0usize;
            for &w in dst.iter() {
                if w > i64::from(VARBITS_MAX_WIDTH) {
                    return Err(CodecError::new(format!("varbits width {w} > {VARBITS_MAX_WIDTH}")));
                }
                total += w as usize;
            }
            let bytes = total.div_ceil(8);
            let bits = src
                .get(*at..*at + bytes)
                .ok_or_else(|| CodecError::short("varbits", *at + bytes, src.len()))?;
            // The loads depend only on a running sum of widths, not on each other.
            let mut start = 0usize;
            for x in dst.iter_mut() {
                let w = *x as u32;
                let byte = start / 8;
                let word = match bits.get(byte..byte + 8) {
                    Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
                    None => bits[byte.min(bits.len())..].iter().rev().fold(0, |a, &b| a << 8 | u64::from(b)),
                };
                *x = lo.wrapping_add(((word >> (start % 8)) & ((1u64 << w) - 1)) as i64);
                start += w as usize;
            }
            *at += bytes;
            prev = out[done + k - 1];
            done += k;
            continue;
        }
        if mode == MODE3 {
            if tag != REPEAT_TAG {
                return Err(CodecError::new(format!("unknown frame tag {tag:#04x}")));
            }
            let frames = get_varint(src, at)?;
            let left_frames = (out.len() - done).div_ceil(FRAME) as u64;
            if frames == 0 || frames > left_frames {
                return Err(CodecError::new(format!("repeat of {frames} frames with {left_frames} left")));
            }
            let n = (frames as usize * FRAME).min(out.len() - done);
            out[done..done + n].fill(prev);
            done += n;
            continue;
        }
        let k = FRAME.min(out.len() - done);
        let dst = &mut out[done..done + k];
        match mode {
            FOR => {
                let lo = unzigzag(get_varint(src, at)?);
                *at += unpack(&src[*at..], width, dst)?;
                for x in dst.iter_mut() {
                    *x = lo.wrapping_add(*x);
                }
            }
            DELTA => {
                let lo = unzigzag(get_varint(src, at)?);
                *at += unpack(&src[*at..], width, dst)?;
                for x in dst.iter_mut() {
                    prev = prev.wrapping_add(lo.wrapping_add(*x));
                    *x = prev;
                }
            }
            _ => {
                let nonzero =
                    usize::from(*src.get(*at).ok_or_else(|| CodecError::short("frame", *at + 1, src.len()))?);
                *at += 1;
                if nonzero == 0 || nonzero > k {
                    return Err(CodecError::new(format!("sparse frame with {nonzero} of {k} deltas set")));
                }
                let mut positions = [0u8; FRAME];
                if nonzero < LIST_BELOW {
                    let list = src
                        .get(*at..*at + nonzero)
                        .ok_or_else(|| CodecError::short("positions", *at + nonzero, src.len()))?;
                    positions[..nonzero].copy_from_slice(list);
                    *at += nonzero;
                    if !list.windows(2).all(|w| w[0] < w[1]) || usize::from(list[nonzero - 1]) >= k {
                        return Err(CodecError::new("sparse positions out of order or range".into()));
                    }
                } else {
                    let map = src
                        .get(*at..*at + BITMAP_BYTES)
                        .ok_or_else(|| CodecError::short("bitmap", *at + BITMAP_BYTES, src.len()))?;
                    *at += BITMAP_BYTES;
                    let set: u32 = map.iter().map(|b| b.count_ones()).sum();
                    if set as usize != nonzero {
                        return Err(CodecError::new(format!(
                            "bitmap has {set} bits set, frame says {nonzero}"
                        )));
                    }
                    let mut n = 0;
                    for i in 0..FRAME {
                        if map[i / 8] >> (i % 8) & 1 == 1 {
                            if i >= k {
                                return Err(CodecError::new(format!("bitmap bit {i} beyond a frame of {k}")));
                            }
                            positions[n] = i as u8;
                            n += 1;
                        }
                    }
                }
                let common = unzigzag(get_varint(src, at)?);
                let lo = unzigzag(get_varint(src, at)?);
                // The other deltas unpack to the front of `dst`, then move to their
                // positions back to front: positions ascend, so position i >= i and no
                // delta still to move is overwritten. The common delta fills the rest.
                *at += unpack(&src[*at..], width, &mut dst[..nonzero])?;
                let mut filled_from = k;
                for i in (0..nonzero).rev() {
                    let pos = usize::from(positions[i]);
                    let d = lo.wrapping_add(dst[i]);
                    dst[pos + 1..filled_from].fill(common);
                    dst[pos] = d;
                    filled_from = pos;
                }
                dst[..filled_from].fill(common);
                for x in dst.iter_mut() {
                    prev = prev.wrapping_add(*x);
                    *x = prev;
                }
            }
        }
        prev = dst[k - 1];
        done += k;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(xs: &[i64]) -> usize {
        let mut buf = Vec::new();
        encode(xs, &mut buf);
        let mut out = vec![0; xs.len()];
        let mut at = 0;
        decode(&buf, &mut at, &mut out).unwrap();
        assert_eq!(at, buf.len());
        assert_eq!(out, xs);
        buf.len()
    }

    #[test]
    fn every_mode_round_trips_and_picks_the_cheap_one() {
        assert_eq!(round_trip(&[]), 1);
        round_trip(&[i64::MIN, i64::MAX, 0, -1, i64::MAX, i64::MIN]);
        let constant = vec![7i64; 1000];
        assert!(round_trip(&constant) <= 4, "repeat frames");
        let walk: Vec<i64> = (0..1000).map(|i| 1_000_000 + (i * 7919 % 13) - 6).collect();
        round_trip(&walk);
        // Mostly unchanged with rare big jumps: sparse frames, far below 4 bytes per value.
        let steps: Vec<i64> = (0..4096).map(|i| (i / 300) * 1_000_000).collect();
        assert!(round_trip(&steps) < 200);
        // Magnitudes varying by orders: VARBITS frames.
        let irregular: Vec<i64> = (0..2000i64)
            .scan(0i64, |t, i| {
                *t += 1 << (i * 7919 % 24);
                Some(*t)
            })
            .collect();
        round_trip(&irregular);
        // Every position set once, bitmaps included.
        let dense: Vec<i64> =
            (0..4096).map(|i| if i % 3 == 0 { i * 1000 } else { (i - i % 3) * 1000 }).collect();
        round_trip(&dense);
        let mut x = 1u64;
        let noise: Vec<i64> = (0..3000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as i64
            })
            .collect();
        round_trip(&noise);
    }
}
