//! Block references and part lists, in the codings the manifest writes them in:
//! - the fixed 40-byte reference of EXTENTS blobs and format-3 chunks
//!   (`│ segment u64 │ offset u64 │ length u32 │ count u32 │ first_ts i64 │ last_ts i64 │`);
//! - [`RefCoder`], the delta coding of packed leaves and chunks, each reference against the
//!   one before it;
//! - parts coded one after the other, and the packed chunk (`CHUNK`): `│ n │ n parts │`.
//!
//! Every reference read is checked to have points and a first timestamp not after its last.
use super::{BlockRef, FILE, PartRef};
use crate::bytes::{Reader, put_varint, u32_at, u64_at, zigzag};
use crate::{Error, Result};

/// Bytes of a fixed-size block reference.
pub(super) const REF: usize = 40;

/// Append `b` as a fixed-size block reference (EXTENTS blobs).
pub(super) fn put_ref3(e: &mut Vec<u8>, b: &BlockRef) {
    e.extend_from_slice(&b.seg.to_le_bytes());
    e.extend_from_slice(&b.off.to_le_bytes());
    e.extend_from_slice(&b.len.to_le_bytes());
    e.extend_from_slice(&b.count.to_le_bytes());
    e.extend_from_slice(&b.first_ts.to_le_bytes());
    e.extend_from_slice(&b.last_ts.to_le_bytes());
}

/// The fixed-size block reference `r`, read from the blob at `off`.
pub(super) fn get_ref3(r: &[u8], off: u64) -> Result<BlockRef> {
    check_ref(
        BlockRef {
            seg: u64_at(r, 0),
            off: u64_at(r, 8),
            len: u32_at(r, 16),
            count: u32_at(r, 20),
            first_ts: u64_at(r, 24) as i64,
            last_ts: u64_at(r, 32) as i64,
        },
        off,
    )
}

fn check_ref(b: BlockRef, off: u64) -> Result<BlockRef> {
    if b.count == 0 || b.first_ts > b.last_ts {
        return Err(Error::Corruption(format!(
            "MANIFEST offset {off}: block reference with {} points from {} to {}",
            b.count, b.first_ts, b.last_ts
        )));
    }
    Ok(b)
}

/// The delta coding of block references in a packed leaf: each is coded against the one
/// before it (fields alike in neighbouring references cost a byte).
#[derive(Default)]
pub(super) struct RefCoder {
    /// The previous reference's segment, end (offset + length), length, point count and
    /// time span (last_ts - first_ts).
    seg: u64,
    end: u64,
    len: u32,
    count: u32,
    span: u64,
}

impl RefCoder {
    /// Append `r`, its first timestamp coded against `base`.
    pub fn put(&mut self, out: &mut Vec<u8>, r: &BlockRef, base: i64) {
        let span = r.last_ts.wrapping_sub(r.first_ts) as u64;
        put_varint(zigzag(r.first_ts.wrapping_sub(base)), out);
        put_varint(zigzag(span.wrapping_sub(self.span) as i64), out);
        put_varint(zigzag(r.seg.wrapping_sub(self.seg) as i64), out);
        put_varint(zigzag(r.off.wrapping_sub(self.end) as i64), out);
        put_varint(zigzag(i64::from(r.len) - i64::from(self.len)), out);
        put_varint(zigzag(i64::from(r.count) - i64::from(self.count)), out);
        *self = RefCoder {
            seg: r.seg,
            end: r.off.wrapping_add(u64::from(r.len)),
            len: r.len,
            count: r.count,
            span,
        };
    }

    /// Read a reference [`RefCoder::put`] appended with the same `base`.
    pub fn get(&mut self, rd: &mut Reader<'_>, base: i64) -> Result<BlockRef> {
        let first_ts = base.wrapping_add(rd.signed()?);
        let span = self.span.wrapping_add(rd.signed()? as u64);
        let seg = self.seg.wrapping_add(rd.signed()? as u64);
        let off = self.end.wrapping_add(rd.signed()? as u64);
        let len = u32_after(rd, self.len)?;
        let count = u32_after(rd, self.count)?;
        let last_ts = first_ts
            .checked_add_unsigned(span)
            .ok_or_else(|| rd.bad("block reference past the last timestamp"))?;
        if count == 0 {
            return Err(rd.bad("block reference of no points"));
        }
        *self = RefCoder { seg, end: off.wrapping_add(u64::from(len)), len, count, span };
        Ok(BlockRef { seg, off, len, count, first_ts, last_ts })
    }
}

/// A u32 coded as its difference from `prev`.
fn u32_after(rd: &mut Reader<'_>, prev: u32) -> Result<u32> {
    let d = rd.signed()?;
    let x = i64::from(prev).checked_add(d).and_then(|x| u32::try_from(x).ok());
    x.ok_or_else(|| rd.bad(format!("{prev} + {d} where a 32-bit number was expected")))
}

/// Parts coded one after the other: ± start - t, then the block ref based on start (t: the
/// previous part's last_ts; t and the references' deltas start from 0).
pub(super) fn put_parts(out: &mut Vec<u8>, refs: &mut RefCoder, t: &mut i64, parts: &[PartRef]) {
    for p in parts {
        put_varint(zigzag(p.start.wrapping_sub(*t)), out);
        refs.put(out, &p.block, p.start);
        *t = p.block.last_ts;
    }
}

/// Read a part [`put_parts`] appended.
pub(super) fn get_part(rd: &mut Reader<'_>, refs: &mut RefCoder, t: &mut i64) -> Result<PartRef> {
    let start = t.wrapping_add(rd.signed()?);
    let block = refs.get(rd, start)?;
    *t = block.last_ts;
    Ok(PartRef { start, block })
}

/// The body of a packed chunk (`CHUNK`) of `parts`: their number, then the parts. The same
/// parts give the same bytes.
pub(super) fn encode_chunk(parts: &[PartRef]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.len() * 12);
    put_varint(parts.len() as u64, &mut out);
    put_parts(&mut out, &mut RefCoder::default(), &mut 0, parts);
    out
}

/// Append the parts of the packed chunk at `off`, of body `b`, to `out`.
pub(super) fn decode_chunk(b: &[u8], off: u64, out: &mut Vec<PartRef>) -> Result<()> {
    let mut rd = Reader::new(b, FILE, off, "packed chunk");
    let n = rd.varint()?;
    if n == 0 || n > rd.left() as u64 {
        return Err(rd.bad(format!("{n} parts in {} bytes", rd.left())));
    }
    let (mut refs, mut t) = (RefCoder::default(), 0);
    for _ in 0..n {
        out.push(get_part(&mut rd, &mut refs, &mut t)?);
    }
    if rd.left() != 0 {
        return Err(rd.bad(format!("{} bytes after the last part", rd.left())));
    }
    Ok(())
}
