//! Gorilla (Facebook, VLDB 2015) as Prometheus' XOR chunks implement it: timestamps as
//! delta-of-delta in buckets of 14/17/20/64 bits, values XOR'd with their predecessor. This
//! is the baseline every figure of the codec is compared with, and the XOR value coding is a
//! fallback for values the decimal coding does not fit.
use super::CodecError;
use crate::bytes::{unzigzag, zigzag};

/// Writes bits most-significant first.
#[derive(Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    acc: u64,
    nbits: u32,
}

impl BitWriter {
    /// Append the low `n` bits of `v` (n <= 64).
    pub fn put(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        let room = 64 - self.nbits;
        if n <= room {
            self.acc |= if n == 64 { v } else { v << (room - n) };
            self.nbits += n;
            if self.nbits == 64 {
                self.buf.extend_from_slice(&self.acc.to_be_bytes());
                self.acc = 0;
                self.nbits = 0;
            }
        } else {
            let hi = n - room;
            self.acc |= v >> hi;
            self.buf.extend_from_slice(&self.acc.to_be_bytes());
            self.acc = v << (64 - hi);
            self.nbits = hi;
        }
    }

    pub fn bit(&mut self, b: bool) {
        self.put(u64::from(b), 1);
    }

    /// The bytes written, the last one zero-padded.
    pub fn finish(mut self) -> Vec<u8> {
        let bytes = self.nbits.div_ceil(8) as usize;
        self.buf.extend_from_slice(&self.acc.to_be_bytes()[..bytes]);
        self.buf
    }
}

/// Reads bits written by [`BitWriter`]; running past the end is an error.
pub struct BitReader<'a> {
    src: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        BitReader { src, pos: 0 }
    }

    #[inline]
    pub fn get(&mut self, n: u32) -> Result<u64, CodecError> {
        if n == 0 {
            return Ok(0);
        }
        let end = self.pos + n as usize;
        if end > self.src.len() * 8 {
            return Err(CodecError::new(format!("bit stream ends at bit {} (wanted {n} more)", self.pos)));
        }
        // Fast path: one big-endian 8-byte load holds any n <= 56 bits after the shift.
        let byte = self.pos / 8;
        if n <= 56
            && let Some(word) = self.src.get(byte..byte + 8)
        {
            let word = u64::from_be_bytes(word.try_into().expect("8 bytes"));
            let v = (word << (self.pos % 8)) >> (64 - n);
            self.pos = end;
            return Ok(v);
        }
        let mut v: u64 = 0;
        let mut left = n;
        while left > 0 {
            let byte = self.src[self.pos / 8];
            let off = (self.pos % 8) as u32;
            let take = (8 - off).min(left);
            let bits = (u64::from(byte) >> (8 - off - take)) & ((1u64 << take) - 1);
            v = if take == 64 { bits } else { (v << take) | bits };
            self.pos += take as usize;
            left -= take;
        }
        Ok(v)
    }

    #[inline]
    pub fn bit(&mut self) -> Result<bool, CodecError> {
        Ok(self.get(1)? == 1)
    }
}

/// Delta-of-delta timestamps (Prometheus bucket sizes).
pub fn encode_ts(ts: &[i64], w: &mut BitWriter) {
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for (i, &t) in ts.iter().enumerate() {
        match i {
            0 => w.put(t as u64, 64),
            1 => {
                prev_delta = t.wrapping_sub(prev);
                w.put(zigzag(prev_delta), 64);
            }
            _ => {
                let delta = t.wrapping_sub(prev);
                let dod = delta.wrapping_sub(prev_delta);
                match dod {
                    0 => w.bit(false),
                    -8192..=8191 => {
                        w.put(0b10, 2);
                        w.put(dod as u64, 14);
                    }
                    -65536..=65535 => {
                        w.put(0b110, 3);
                        w.put(dod as u64, 17);
                    }
                    -524288..=524287 => {
                        w.put(0b1110, 4);
                        w.put(dod as u64, 20);
                    }
                    _ => {
                        w.put(0b1111, 4);
                        w.put(dod as u64, 64);
                    }
                }
                prev_delta = delta;
            }
        }
        prev = t;
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

pub fn decode_ts(r: &mut BitReader<'_>, n: usize, out: &mut Vec<i64>) -> Result<(), CodecError> {
    let (mut prev, mut delta) = (0i64, 0i64);
    for i in 0..n {
        let t = match i {
            0 => r.get(64)? as i64,
            1 => {
                delta = unzigzag(r.get(64)?);
                prev.wrapping_add(delta)
            }
            _ => {
                let dod = if !r.bit()? {
                    0
                } else if !r.bit()? {
                    sign_extend(r.get(14)?, 14)
                } else if !r.bit()? {
                    sign_extend(r.get(17)?, 17)
                } else if !r.bit()? {
                    sign_extend(r.get(20)?, 20)
                } else {
                    r.get(64)? as i64
                };
                delta = delta.wrapping_add(dod);
                prev.wrapping_add(delta)
            }
        };
        out.push(t);
        prev = t;
    }
    Ok(())
}

/// XOR-coded values (Gorilla §4.1.2).
pub fn encode_values(vals: &[f64], w: &mut BitWriter) {
    let (mut prev, mut lead, mut trail) = (0u64, u32::MAX, 0u32);
    for (i, v) in vals.iter().enumerate() {
        let bits = v.to_bits();
        if i == 0 {
            w.put(bits, 64);
        } else {
            let x = bits ^ prev;
            if x == 0 {
                w.bit(false);
            } else {
                w.bit(true);
                let l = x.leading_zeros().min(31);
                let t = x.trailing_zeros();
                if lead != u32::MAX && l >= lead && t >= trail {
                    w.bit(false);
                    w.put(x >> trail, 64 - lead - trail);
                } else {
                    let sig = 64 - l - t;
                    w.bit(true);
                    w.put(u64::from(l), 5);
                    w.put(u64::from(sig % 64), 6); // 64 is written as 0
                    w.put(x >> t, sig);
                    lead = l;
                    trail = t;
                }
            }
        }
        prev = bits;
    }
}

pub fn decode_values(r: &mut BitReader<'_>, n: usize, out: &mut Vec<f64>) -> Result<(), CodecError> {
    let start = out.len();
    out.resize(start + n, 0.0);
    decode_values_into(r, &mut out[start..])
}

/// [`decode_values`] into all of `out`.
pub fn decode_values_into(r: &mut BitReader<'_>, out: &mut [f64]) -> Result<(), CodecError> {
    let (mut prev, mut lead, mut trail) = (0u64, u32::MAX, 0u32);
    for (i, slot) in out.iter_mut().enumerate() {
        let bits = if i == 0 {
            r.get(64)?
        } else if !r.bit()? {
            prev
        } else {
            if r.bit()? {
                lead = r.get(5)? as u32;
                let sig = match r.get(6)? as u32 {
                    0 => 64,
                    s => s,
                };
                if lead + sig > 64 {
                    return Err(CodecError::new(format!("xor window out of range (lead={lead}, sig={sig})")));
                }
                trail = 64 - lead - sig;
            } else if lead == u32::MAX {
                return Err(CodecError::new("xor value reuses a window before any was set".into()));
            }
            let sig = 64 - lead - trail;
            prev ^ (r.get(sig)? << trail)
        };
        *slot = f64::from_bits(bits);
        prev = bits;
    }
    Ok(())
}

/// The whole baseline block: timestamps then values, no header (the caller knows `n`).
pub fn encode(ts: &[i64], vals: &[f64]) -> Vec<u8> {
    let mut w = BitWriter::default();
    encode_ts(ts, &mut w);
    encode_values(vals, &mut w);
    w.finish()
}

pub fn decode(src: &[u8], n: usize, ts: &mut Vec<i64>, vals: &mut Vec<f64>) -> Result<(), CodecError> {
    let mut r = BitReader::new(src);
    decode_ts(&mut r, n, ts)?;
    decode_values(&mut r, n, vals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_round_trips_bit_exactly() {
        let ts: Vec<i64> = vec![i64::MIN, -5, 0, 1, 10_000, 10_001, 5_000_000, 5_000_001, i64::MAX - 1];
        let vals = [
            f64::from_bits(0x7ff8_0000_0000_0001),
            -0.0,
            0.0,
            f64::INFINITY,
            1.5,
            1.5,
            f64::MIN_POSITIVE / 3.0,
            12345.678,
            f64::NEG_INFINITY,
        ];
        let block = encode(&ts, &vals);
        let (mut t2, mut v2) = (Vec::new(), Vec::new());
        decode(&block, ts.len(), &mut t2, &mut v2).unwrap();
        assert_eq!(t2, ts);
        assert_eq!(v2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), vals.map(f64::to_bits).to_vec());
        assert!(decode(&block[..block.len() - 2], ts.len(), &mut t2, &mut v2).is_err());
    }
}
