//! Format 3, still read: its leaves (`LEAF3`: 64 fixed-size entries) and chunks (`CHUNK3`:
//! up to 84 fixed-size parts). Nothing is written in this format: a commit that changes
//! an entry of a format-3 leaf writes the leaf packed, and a changed part list is written
//! in packed chunks; until then these blobs stay in the file, and are read.
use super::PartRef;
use super::leaf::{Entry, Name, Refs, Slots};
use super::refs::get_ref3;
use super::tree::FAN;
use crate::bytes::{u32_at, u64_at};
use crate::{Error, Result};

/// A format-3 entry: │ id u64 (0 = empty slot) │ name u64 │ index u64 │ extents u64 │
/// parts u32 │ extents u32 │ inline name [16] │ retention i64 │.
const ENTRY: usize = 64;
/// In a format-3 entry's name field: the name is in the entry itself, from byte `INLINE_AT`
/// (at most `INLINE_MAX` bytes); the field's low bits are its length.
const INLINE_NAME: u64 = 1 << 63;
const INLINE_AT: usize = 40;
const INLINE_MAX: usize = 16;
/// The metric's retention span (i64).
const RETENTION_AT: usize = INLINE_AT + INLINE_MAX;
/// A part in a format-3 chunk (`CHUNK3`): start i64 and a 40-byte block ref.
const PART: usize = 48;

/// The slots of a format-3 leaf (`LEAF3`, at `off`), whose first id is `base`.
pub(super) fn decode_leaf3(b: &[u8], off: u64, base: u64) -> Result<Slots> {
    let bad = |msg: String| Error::Corruption(format!("MANIFEST offset {off}: {msg}"));
    if b.len() != FAN * ENTRY {
        return Err(bad(format!("leaf of {} bytes", b.len())));
    }
    let mut slots = vec![None; FAN];
    for (k, e) in b.chunks_exact(ENTRY).enumerate() {
        let id = u64_at(e, 0);
        if id == 0 {
            continue;
        }
        if id != base + k as u64 {
            return Err(bad(format!("id {id} in the slot of {}", base + k as u64)));
        }
        let name_field = u64_at(e, 8);
        let name = if name_field & INLINE_NAME != 0 {
            let len = (name_field & !INLINE_NAME) as usize;
            let bytes = e.get(INLINE_AT..INLINE_AT + len).filter(|_| len <= INLINE_MAX);
            let bytes = bytes.ok_or_else(|| bad(format!("metric {id}: inline name longer than its room")))?;
            let s = std::str::from_utf8(bytes).map_err(|_| bad(format!("metric {id}: name is not UTF-8")))?;
            Name::Inline(s.into())
        } else {
            Name::Blob(name_field)
        };
        slots[k] = Some(Entry {
            name,
            retention: u64_at(e, RETENTION_AT) as i64,
            parts: refs3(u64_at(e, 16), u32_at(e, 32)).ok_or_else(|| {
                bad(format!("metric {id}: {} parts in index {}", u32_at(e, 32), u64_at(e, 16)))
            })?,
            extents: refs3(u64_at(e, 24), u32_at(e, 36)).ok_or_else(|| {
                bad(format!("metric {id}: {} extents in blob {}", u32_at(e, 36), u64_at(e, 24)))
            })?,
        });
    }
    Ok(slots)
}

/// A format-3 entry's parts or extents from a blob's offset and their count (`None` when
/// there are some without a blob, or a blob of none).
fn refs3<T>(blob: u64, count: u32) -> Option<Refs<T>> {
    match (blob, count) {
        (0, 0) => Some(Refs::Inline(Vec::new())),
        (0, _) | (_, 0) => None,
        (off, n) => Some(Refs::Blob { off, count: u64::from(n) }),
    }
}

/// Append the parts of the format-3 chunk at `off`, of body `b`, to `out`.
pub(super) fn decode_chunk3(b: &[u8], off: u64, out: &mut Vec<PartRef>) -> Result<()> {
    for p in b.chunks_exact(PART) {
        out.push(PartRef { start: u64_at(p, 0) as i64, block: get_ref3(&p[8..], off)? });
    }
    Ok(())
}
