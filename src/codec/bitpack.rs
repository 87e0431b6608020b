//! Frame-of-reference bit packing: a frame of up to [`FRAME`] unsigned integers stored as
//! `width`-bit offsets from the frame's minimum. Decoding never trusts its input: every read
//! is bounds-checked and a short buffer is an error, not a panic.
use super::CodecError;

/// Values per frame.
pub const FRAME: usize = 128;

/// Bits needed to hold `x` (0 for 0).
pub fn width_of(x: u64) -> u8 {
    (u64::BITS - x.leading_zeros()) as u8
}

/// Bytes taken by `n` values of `width` bits.
pub fn packed_len(n: usize, width: u8) -> usize {
    (n * width as usize).div_ceil(8)
}

/// Append `vals` packed at `width` bits each (every value must fit).
pub fn pack(vals: &[u64], width: u8, out: &mut Vec<u8>) {
    if width == 0 {
        return;
    }
    out.reserve(packed_len(vals.len(), width));
    // Accumulate below 64 bits, then store 8 bytes at a time.
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    for &v in vals {
        debug_assert!(width == 64 || v >> width == 0);
        acc |= u128::from(v) << bits;
        bits += u32::from(width);
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..bits.div_ceil(8) as usize]);
}

/// What [`unpack`] writes: `u64`, or `i64` holding the same bits (so the frame coder can
/// unpack straight into its output).
pub trait Word: Copy {
    fn from_bits(x: u64) -> Self;
}

impl Word for u64 {
    fn from_bits(x: u64) -> u64 {
        x
    }
}

impl Word for i64 {
    fn from_bits(x: u64) -> i64 {
        x as i64
    }
}

/// Read `out.len()` values of `width` bits from the front of `src`; returns the bytes used.
pub fn unpack<W: Word>(src: &[u8], width: u8, out: &mut [W]) -> Result<usize, CodecError> {
    let need = packed_len(out.len(), width);
    if width > 64 {
        return Err(CodecError::new(format!("bit width {width} > 64")));
    }
    let src = src.get(..need).ok_or_else(|| CodecError::short("packed frame", need, src.len()))?;
    if width == 0 {
        out.fill(W::from_bits(0));
        return Ok(0);
    }
    let w = usize::from(width);
    let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
    // Fast path: one unaligned 8-byte read per value (widths up to 56 fit in the 64 bits
    // after a shift of at most 7). The loads are independent of each other, which beats a
    // refilled bit accumulator (measured). The tail and wider values read bytewise.
    // Values whose 8-byte window lies inside `src`: i * w / 8 + 8 <= len.
    let fast = if width <= 56 && src.len() >= 8 { ((src.len() - 8) * 8 / w + 1).min(out.len()) } else { 0 };
    // Groups of 8 values take exactly `w` bytes: read each group's values from one fixed
    // 64-byte window (offsets <= 49, + 8), so bounds are checked once per group.
    let mut grouped = 0;
    if width <= 56 {
        for (g, dst) in out[..fast].chunks_exact_mut(8).enumerate() {
            let Some(win) = src.get(g * w..g * w + 64) else { break };
            let win: &[u8; 64] = win.try_into().expect("64 bytes");
            for (j, slot) in dst.iter_mut().enumerate() {
                let bit = j * w;
                let off = (bit / 8).min(56);
                let word = u64::from_le_bytes(win[off..off + 8].try_into().expect("8 bytes"));
                *slot = W::from_bits((word >> (bit % 8)) & mask);
            }
            grouped += 8;
        }
    }
    for (i, slot) in out[..fast].iter_mut().enumerate().skip(grouped) {
        let bit = i * w;
        let word = u64::from_le_bytes(src[bit / 8..bit / 8 + 8].try_into().expect("8 bytes"));
        *slot = W::from_bits((word >> (bit % 8)) & mask);
    }
    for (j, slot) in out.iter_mut().enumerate().skip(fast) {
        let bit = j * w;
        let mut v: u128 = 0;
        let first = bit / 8;
        let last = (bit + w).div_ceil(8);
        for (k, b) in src[first..last].iter().enumerate() {
            v |= u128::from(*b) << (8 * k);
        }
        *slot = W::from_bits(((v >> (bit % 8)) as u64) & mask);
    }
    Ok(need)
}

/// Append an unsigned LEB128 varint (the crate's one copy, in `bytes`).
pub use crate::bytes::put_varint;

/// Read an unsigned LEB128 varint from `src[*at..]`, advancing `*at` (`bytes::get_varint`,
/// its error as the codec's).
#[inline]
pub fn get_varint(src: &[u8], at: &mut usize) -> Result<u64, CodecError> {
    crate::bytes::get_varint(src, at).map_err(|e| CodecError::new(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_unpack_round_trips_every_width() {
        let mut x: u64 = 0x1234_5678_9abc_def0;
        for width in 0..=64u8 {
            for n in [0, 1, 7, 8, 127, 128] {
                let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
                let vals: Vec<u64> = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x & mask
                    })
                    .collect();
                let mut buf = vec![0xAA]; // packing appends
                pack(&vals, width, &mut buf);
                let mut got = vec![0u64; n];
                let used = unpack(&buf[1..], width, &mut got).unwrap();
                assert_eq!(used, packed_len(n, width));
                assert_eq!(got, vals, "width {width}, n {n}");
                if used > 0 {
                    assert!(unpack(&buf[1..used], width, &mut got).is_err(), "short input is an error");
                }
            }
        }
    }

    #[test]
    fn varints_round_trip_and_reject_garbage() {
        let mut buf = Vec::new();
        for x in [0, 1, 127, 128, 300, u64::MAX / 3, u64::MAX] {
            buf.clear();
            put_varint(x, &mut buf);
            let mut at = 0;
            assert_eq!(get_varint(&buf, &mut at).unwrap(), x);
            assert_eq!(at, buf.len());
        }
        assert!(get_varint(&[0x80, 0x80], &mut 0).is_err());
        assert!(get_varint(&[0xff; 11], &mut 0).is_err());
        assert!(get_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], &mut 0).is_err());
    }
}
