//! A metric's blobs besides its leaf entry: its name when the leaf does not hold it (NAME),
//! its part list when longer than `INLINE_REFS` (an INDEX of chunks, packed `CHUNK`s or
//! format-3 `CHUNK3`s) and its extents when more than `INLINE_REFS` (EXTENTS). This module
//! reads them into a [`MetricEntry`], writes what a commit changed of them (keeping the
//! blobs whose bytes did not change) and counts the blobs it replaces or releases as no
//! longer live.
use std::collections::HashSet;
use std::sync::Arc;

use super::blob::{Appender, Blobs, CHUNK, CHUNK3, EXTENTS, INDEX, NAME, blob_size};
use super::leaf::{Entry, Name, Refs};
use super::leaf3::decode_chunk3;
use super::refs::{REF, decode_chunk, encode_chunk, get_ref3, put_ref3};
use super::{MetricEntry, MetricState, PartRef};
use crate::bytes::u64_at;
use crate::{Error, Result};

/// Parts per (packed) chunk: a chunk of regular parts is 2-3 KiB. Appending a part rewrites
/// the last chunk and the index; the others keep their blobs.
const CHUNK_PARTS: usize = 256;
/// A metric's parts, and its extents, are kept in its leaf entry when there are at most this
/// many; more go to an INDEX (of chunks) or an EXTENTS blob.
pub(super) const INLINE_REFS: usize = 4;

/// Metric `id`'s entry with its name, parts and extents read from their blobs. `seen`:
/// the blobs read so far. A blob belongs to one entry: one that many entries (or one
/// index, many times) name would let a few KiB of file decode to millions of parts.
pub(super) fn read(blobs: &Blobs<'_>, id: u64, e: Entry, seen: &mut HashSet<u64>) -> Result<MetricEntry> {
    let mut once = |off: u64| {
        if seen.insert(off) {
            Ok(off)
        } else {
            Err(Error::Corruption(format!(
                "MANIFEST offset {off}: metric {id}: a blob the tree reaches twice"
            )))
        }
    };
    let name: Arc<str> = match e.name {
        Name::Inline(s) => s,
        Name::Blob(off) => std::str::from_utf8(blobs.get(once(off)?, NAME)?)
            .map_err(|_| Error::Corruption(format!("MANIFEST offset {off}: name is not UTF-8")))?
            .into(),
    };
    let counted = |off: u64, what: &str, count: u64, got: usize| {
        if got as u64 == count {
            Ok(())
        } else {
            Err(Error::Corruption(format!(
                "MANIFEST offset {off}: metric {id}: its entry counts {count} {what}, its blobs hold {got}"
            )))
        }
    };
    let parts = match e.parts {
        Refs::Inline(v) => v,
        Refs::Blob { off, count } => {
            let mut v = Vec::new();
            for c in blobs.get(once(off)?, INDEX)?.chunks_exact(8) {
                chunk_parts(blobs, once(u64_at(c, 0))?, &mut v)?;
            }
            counted(off, "parts", count, v.len())?;
            v
        }
    };
    let extents = match e.extents {
        Refs::Inline(v) => v,
        Refs::Blob { off, count } => {
            let v = blobs
                .get(once(off)?, EXTENTS)?
                .chunks_exact(REF)
                .map(|r| get_ref3(r, off))
                .collect::<Result<Vec<_>>>()?;
            counted(off, "extents", count, v.len())?;
            v
        }
    };
    Ok(MetricEntry { id, name, parts, extents, retention: e.retention })
}

/// Append the parts held by the chunk at `off` (either format) to `out`.
fn chunk_parts(blobs: &Blobs<'_>, off: u64, out: &mut Vec<PartRef>) -> Result<()> {
    match blobs.get_of(off, &[CHUNK, CHUNK3])? {
        (CHUNK, b) => decode_chunk(b, off, out),
        (_, b) => decode_chunk3(b, off, out),
    }
}

/// The size of the chunk at `off` (either format) in the file.
pub(super) fn chunk_len(blobs: &Blobs<'_>, off: u64) -> Result<u64> {
    Ok(blob_size(blobs.get_of(off, &[CHUNK, CHUNK3])?.1.len()))
}

/// Write what changed of a metric (reusing the name, unchanged chunks and extents of
/// `old`); returns its new entry. Its name's place is settled with its leaf's.
pub(super) fn write(
    blobs: &Blobs<'_>,
    w: &mut Appender<'_>,
    live: &mut i64,
    old: Option<&Entry>,
    state: &MetricState<'_>,
) -> Result<Entry> {
    let MetricState { name, parts, extents, retention } = *state;
    // Names never change: an existing entry keeps its name (in the leaf or a blob).
    let name = old.map_or_else(|| Name::Inline(name.into()), |o| o.name.clone());
    let old_index = old.map_or(0, |o| o.parts.blob());
    let parts = if parts.len() <= INLINE_REFS {
        if old_index != 0 {
            release_index(blobs, old_index, live)?;
        }
        Refs::Inline(parts.to_vec())
    } else {
        Refs::Blob { off: write_parts(blobs, w, live, old_index, parts)?, count: parts.len() as u64 }
    };
    let old_ext = old.map_or(0, |o| o.extents.blob());
    let extents = if extents.len() <= INLINE_REFS {
        if old_ext != 0 {
            *live -= blobs.size(old_ext, EXTENTS)? as i64;
        }
        Refs::Inline(extents.to_vec())
    } else {
        let mut body = Vec::with_capacity(extents.len() * REF);
        for r in extents {
            put_ref3(&mut body, r);
        }
        Refs::Blob {
            off: keep_or_write(blobs, w, live, old_ext, EXTENTS, &body)?,
            count: extents.len() as u64,
        }
    };
    Ok(Entry { name, retention, parts, extents })
}

/// Write a part list as chunks and an index, given the metric's previous index (`old`,
/// 0 if none): an unchanged chunk keeps its blob, and an unchanged index too. Returns
/// the index's offset.
fn write_parts(
    blobs: &Blobs<'_>,
    w: &mut Appender<'_>,
    live: &mut i64,
    old: u64,
    parts: &[PartRef],
) -> Result<u64> {
    let old_chunks: Vec<u64> = match old {
        0 => Vec::new(),
        i => blobs.get(i, INDEX)?.chunks_exact(8).map(|c| u64_at(c, 0)).collect(),
    };
    let mut index = Vec::with_capacity(parts.len().div_ceil(CHUNK_PARTS) * 8);
    for (k, ps) in parts.chunks(CHUNK_PARTS).enumerate() {
        let chunk = encode_chunk(ps);
        let reuse = match old_chunks.get(k) {
            Some(&o) if blobs.get_of(o, &[CHUNK, CHUNK3])? == (CHUNK, chunk.as_slice()) => Some(o),
            Some(&o) => {
                *live -= chunk_len(blobs, o)? as i64;
                None
            }
            None => None,
        };
        let off = reuse.unwrap_or_else(|| {
            *live += blob_size(chunk.len()) as i64;
            w.blob(CHUNK, &chunk)
        });
        index.extend_from_slice(&off.to_le_bytes());
    }
    for &o in old_chunks.iter().skip(parts.len().div_ceil(CHUNK_PARTS)) {
        *live -= chunk_len(blobs, o)? as i64;
    }
    // Equal indexes mean every chunk was kept.
    keep_or_write(blobs, w, live, old, INDEX, &index)
}

/// The blob of `kind` holding `body`, given the metric's previous one (`old`, 0 if none):
/// `old` itself when it holds the same bytes, else a new blob (none for an empty body),
/// the old one counted as dead.
fn keep_or_write(
    blobs: &Blobs<'_>,
    w: &mut Appender<'_>,
    live: &mut i64,
    old: u64,
    kind: u8,
    body: &[u8],
) -> Result<u64> {
    if old != 0 {
        let old_body = blobs.get(old, kind)?;
        if old_body == body {
            return Ok(old);
        }
        *live -= blob_size(old_body.len()) as i64;
    }
    if body.is_empty() {
        return Ok(0);
    }
    *live += blob_size(body.len()) as i64;
    Ok(w.blob(kind, body))
}

/// Count an index and its chunks as no longer live.
fn release_index(blobs: &Blobs<'_>, index: u64, live: &mut i64) -> Result<()> {
    for c in blobs.get(index, INDEX)?.chunks_exact(8) {
        *live -= chunk_len(blobs, u64_at(c, 0))? as i64;
    }
    *live -= blobs.size(index, INDEX)? as i64;
    Ok(())
}

/// Count a removed metric's blobs as no longer live.
pub(super) fn release(blobs: &Blobs<'_>, o: &Entry, live: &mut i64) -> Result<()> {
    if let Name::Blob(off) = o.name {
        *live -= blobs.size(off, NAME)? as i64;
    }
    if o.parts.blob() != 0 {
        release_index(blobs, o.parts.blob(), live)?;
    }
    if o.extents.blob() != 0 {
        *live -= blobs.size(o.extents.blob(), EXTENTS)? as i64;
    }
    Ok(())
}
