//! The packed leaf (`LEAF`): the entries of 64 consecutive metric ids, and [`Entry`], a
//! metric's entry as a leaf holds it (packed, or read from a format-3 leaf by `leaf3`).
//! This module owns the packed coding (in the module documentation of `manifest`) and
//! where a name goes: in the leaf, sharing a prefix with the name before it, or in a NAME
//! blob. Decoding checks every read against the body.
use std::sync::Arc;

use super::blob::{Appender, Blobs, LEAF, LEAF3, NAME, blob_size};
use super::refs::{RefCoder, get_part, put_parts};
use super::tree::FAN;
use super::{BlockRef, FILE, PartRef, leaf3};
use crate::Result;
use crate::bytes::{Reader, put_varint, zigzag};

/// A name is kept in its leaf when what it does not share with the previous name kept there
/// is at most this long; else it goes to a NAME blob. Leaves stay a few KiB at most.
const NAME_SUFFIX_MAX: usize = 64;

/// A metric's entry as its leaf holds it (a packed leaf, or a format-3 one).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Entry {
    pub name: Name,
    pub retention: i64,
    pub parts: Refs<PartRef>,
    pub extents: Refs<BlockRef>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Name {
    /// Held by the leaf (shared: an open keeps it as the metric's name, not a copy).
    Inline(Arc<str>),
    /// The offset of a NAME blob (a name, once in one, keeps it).
    Blob(u64),
}

/// A metric's parts or extents: in its entry, or counted there and held in a blob (an INDEX
/// of chunks, or an EXTENTS blob).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Refs<T> {
    Inline(Vec<T>),
    Blob { off: u64, count: u64 },
}

impl<T> Refs<T> {
    /// The blob's offset, 0 for none.
    pub fn blob(&self) -> u64 {
        match self {
            Refs::Inline(_) => 0,
            Refs::Blob { off, .. } => *off,
        }
    }
}

/// A leaf's 64 slots.
pub(super) type Slots = Vec<Option<Entry>>;

/// The slots of the leaf at `off` (either format), whose first id is `base`, and the
/// leaf's size in the file.
pub(super) fn read(blobs: &Blobs<'_>, off: u64, base: u64) -> Result<(Slots, u64)> {
    let (kind, b) = blobs.get_of(off, &[LEAF, LEAF3])?;
    let slots = if kind == LEAF { decode_leaf(b, off)? } else { leaf3::decode_leaf3(b, off, base)? };
    Ok((slots, blob_size(b.len())))
}

/// Settle where each inline name of `slots` goes before the leaf is written: names that no
/// longer fit the leaf (their neighbour changed, or they are new and long) go to NAME
/// blobs, appended to `w` and counted in `live`.
pub(super) fn settle_names(slots: &mut Slots, w: &mut Appender<'_>, live: &mut i64) {
    let mut prev = String::new();
    for e in slots.iter_mut().flatten() {
        if let Name::Inline(s) = &mut e.name {
            if s.len() - shared_prefix(prev.as_bytes(), s.as_bytes()) <= NAME_SUFFIX_MAX {
                prev.clear();
                prev.push_str(s);
            } else {
                *live += blob_size(s.len()) as i64;
                e.name = Name::Blob(w.blob(NAME, s.as_bytes()));
            }
        }
    }
}

/// How many leading bytes `a` and `b` share.
fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A list's head (2·n + out), checked: an inline list of n needs at least n bytes.
fn list(rd: &mut Reader<'_>) -> Result<(u64, bool)> {
    let h = rd.varint()?;
    let (n, out) = (h >> 1, h & 1 == 1);
    if out && n == 0 {
        return Err(rd.bad("an empty list kept in a blob"));
    }
    if !out && n > rd.left() as u64 {
        return Err(rd.bad(format!("a list of {n} in {} bytes", rd.left())));
    }
    Ok((n, out))
}

/// The body of a packed leaf (`LEAF`): the layout is in the module's documentation.
pub(super) fn encode_leaf(slots: &[Option<Entry>]) -> Vec<u8> {
    let present = slots.iter().enumerate().filter(|(_, e)| e.is_some()).fold(0u64, |p, (k, _)| p | 1 << k);
    let mut out = present.to_le_bytes().to_vec();
    let mut prev: &[u8] = &[];
    let mut refs = RefCoder::default();
    let mut anchor = 0i64;
    for e in slots.iter().flatten() {
        match &e.name {
            Name::Blob(off) => put_varint(off << 1 | 1, &mut out),
            Name::Inline(s) => {
                let shared = shared_prefix(prev, s.as_bytes());
                put_varint((shared as u64) << 1, &mut out);
                put_varint((s.len() - shared) as u64, &mut out);
                out.extend_from_slice(&s.as_bytes()[shared..]);
                prev = s.as_bytes();
            }
        }
        put_varint(zigzag(e.retention), &mut out);
        let mut t = anchor;
        let mut first = None;
        match &e.parts {
            Refs::Blob { off, count } => {
                put_varint(count << 1 | 1, &mut out);
                put_varint(*off, &mut out);
            }
            Refs::Inline(ps) => {
                put_varint((ps.len() as u64) << 1, &mut out);
                if let Some(p) = ps.first() {
                    first = Some(p.start);
                }
                put_parts(&mut out, &mut refs, &mut t, ps);
            }
        }
        match &e.extents {
            Refs::Blob { off, count } => {
                put_varint(count << 1 | 1, &mut out);
                put_varint(*off, &mut out);
            }
            Refs::Inline(xs) => {
                put_varint((xs.len() as u64) << 1, &mut out);
                for r in xs {
                    first.get_or_insert(r.first_ts);
                    refs.put(&mut out, r, t);
                    t = r.last_ts;
                }
            }
        }
        if let Some(f) = first {
            anchor = f;
        }
    }
    out
}

/// The slots of the packed leaf at `off`, of body `b`. Every read is bounds-checked; the
/// body must end with its last entry.
pub(super) fn decode_leaf(b: &[u8], off: u64) -> Result<Slots> {
    let mut rd = Reader::new(b, FILE, off, "packed leaf");
    let present = rd.u64()?;
    if present == 0 {
        return Err(rd.bad("no entries"));
    }
    let mut slots = vec![None; FAN];
    let mut prev: Vec<u8> = Vec::new();
    let mut refs = RefCoder::default();
    let mut anchor = 0i64;
    for (k, slot) in slots.iter_mut().enumerate() {
        if present >> k & 1 == 0 {
            continue;
        }
        let h = rd.varint()?;
        let name = if h & 1 == 1 {
            Name::Blob(h >> 1)
        } else {
            let shared = h >> 1;
            if shared > prev.len() as u64 {
                return Err(rd.bad(format!("a name sharing {shared} bytes of a {}-byte one", prev.len())));
            }
            let n = rd.varint()?;
            let suffix = rd.bytes(n)?;
            prev.truncate(shared as usize);
            prev.extend_from_slice(suffix);
            let s = std::str::from_utf8(&prev).map_err(|_| rd.bad("a name that is not UTF-8"))?;
            Name::Inline(s.into())
        };
        let retention = rd.signed()?;
        let mut t = anchor;
        let mut first = None;
        let parts = match list(&mut rd)? {
            (count, true) => Refs::Blob { off: rd.varint()?, count },
            (n, false) => {
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let p = get_part(&mut rd, &mut refs, &mut t)?;
                    first.get_or_insert(p.start);
                    v.push(p);
                }
                Refs::Inline(v)
            }
        };
        let extents = match list(&mut rd)? {
            (count, true) => Refs::Blob { off: rd.varint()?, count },
            (n, false) => {
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let r = refs.get(&mut rd, t)?;
                    first.get_or_insert(r.first_ts);
                    t = r.last_ts;
                    v.push(r);
                }
                Refs::Inline(v)
            }
        };
        if let Some(f) = first {
            anchor = f;
        }
        *slot = Some(Entry { name, retention, parts, extents });
    }
    if rd.left() != 0 {
        return Err(rd.bad(format!("{} bytes after the last entry", rd.left())));
    }
    Ok(slots)
}
