//! The byte-level helpers every file format of the engine is written with, in one copy:
//! little-endian fixed-width reads, zigzag coding of signed numbers, LEB128 varints, and
//! [`Reader`], a bounds-checked cursor whose errors are corruption errors naming the file,
//! the offset and what was being read.
//!
//! The codec's hot loops use [`zigzag`], [`unzigzag`], [`put_varint`] and [`get_varint`]:
//! they stay small, `#[inline]` and free of any work but the coding itself.
use crate::{Error, Result};

/// The little-endian u32 at `b[at..at + 4]`. Panics when `b` is shorter: for offsets the
/// caller has checked.
#[inline]
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The little-endian u64 at `b[at..at + 8]`. Panics when `b` is shorter: for offsets the
/// caller has checked.
#[inline]
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A signed number as an unsigned one that is small when the number is near 0
/// (0, -1, 1, -2, ... become 0, 1, 2, 3, ...).
#[inline]
pub(crate) fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(x: u64) -> i64 {
    ((x >> 1) as i64) ^ -((x & 1) as i64)
}

/// Append an unsigned LEB128 varint. (`pub`, not `pub(crate)`: `codec::bitpack` re-exports it.)
pub fn put_varint(mut x: u64, out: &mut Vec<u8>) {
    while x >= 0x80 {
        out.push(x as u8 | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The bytes end inside it: reading it needs `need` bytes, there are `have`.
    Short { need: usize, have: usize },
    /// Its tenth byte carries bits past the 64th.
    Overflow,
    /// More than ten bytes.
    TooLong,
}

impl std::fmt::Display for VarintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VarintError::Short { need, have } => {
                write!(f, "varint runs past the end of its section (needs {need} bytes, has {have})")
            }
            VarintError::Overflow => f.write_str("varint overflows 64 bits"),
            VarintError::TooLong => f.write_str("varint longer than 10 bytes"),
        }
    }
}

/// Read an unsigned LEB128 varint from `src[*at..]`, advancing `*at` past the bytes read
/// (also when it fails).
pub(crate) fn get_varint(src: &[u8], at: &mut usize) -> std::result::Result<u64, VarintError> {
    let mut x = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *src.get(*at).ok_or_else(|| VarintError::Short { need: *at + 1, have: src.len() })?;
        *at += 1;
        if shift == 63 && b > 1 {
            return Err(VarintError::Overflow);
        }
        x |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(x);
        }
    }
    Err(VarintError::TooLong)
}

/// A bounds-checked cursor over `buf`, the bytes of one thing (a manifest blob's body, a log
/// record's payload) at offset `off` of file `file`. A read past the end is a corruption
/// error, never a panic; every error reads `FILE offset OFF: WHAT: message (at byte AT of
/// LEN)`.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    file: &'a str,
    off: u64,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], file: &'a str, off: u64, what: &'static str) -> Reader<'a> {
        Reader { buf, at: 0, file, off, what }
    }

    /// A corruption error naming where the cursor is.
    pub fn bad(&self, msg: impl std::fmt::Display) -> Error {
        Error::Corruption(format!(
            "{} offset {}: {}: {msg} (at byte {} of {})",
            self.file,
            self.off,
            self.what,
            self.at,
            self.buf.len()
        ))
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: u64) -> Result<&'a [u8]> {
        let end =
            usize::try_from(n).ok().and_then(|n| self.at.checked_add(n)).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| self.bad(format!("{n} bytes run past the end")))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64_at(self.bytes(8)?, 0))
    }

    /// An unsigned LEB128 varint.
    pub fn varint(&mut self) -> Result<u64> {
        get_varint(self.buf, &mut self.at).map_err(|e| self.bad(e))
    }

    /// A zigzag-coded signed varint.
    pub fn signed(&mut self) -> Result<i64> {
        Ok(unzigzag(self.varint()?))
    }

    /// Bytes not read yet.
    pub fn left(&self) -> usize {
        self.buf.len() - self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip() {
        let mut buf = Vec::new();
        for x in [0, 1, 127, 128, 300, u64::MAX / 3, u64::MAX] {
            buf.clear();
            put_varint(x, &mut buf);
            let mut at = 0;
            assert_eq!(get_varint(&buf, &mut at), Ok(x));
            assert_eq!(at, buf.len());
        }
        assert_eq!(get_varint(&[0x80, 0x80], &mut 0), Err(VarintError::Short { need: 3, have: 2 }));
        assert_eq!(get_varint(&[0xff; 11], &mut 0), Err(VarintError::Overflow));
        for x in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(x)), x);
        }
        assert_eq!([0, -1, 1, -2].map(zigzag), [0, 1, 2, 3]);
    }

    #[test]
    fn a_reader_names_the_file_offset_and_place() {
        let buf = [1, 0, 0, 0, 0, 0, 0, 0, 0x80];
        let mut rd = Reader::new(&buf, "MANIFEST", 8192, "packed leaf");
        assert_eq!(rd.u64().unwrap(), 1);
        let err = rd.varint().unwrap_err().to_string();
        assert!(err.ends_with(
            "MANIFEST offset 8192: packed leaf: varint runs past the end of its section \
             (needs 10 bytes, has 9) (at byte 9 of 9)"
        ));
        let err = rd.bytes(2).unwrap_err().to_string();
        assert!(
            err.ends_with("MANIFEST offset 8192: packed leaf: 2 bytes run past the end (at byte 9 of 9)")
        );
        assert!(rd.bytes(u64::MAX).is_err());
        assert_eq!(rd.left(), 0);
    }
}
