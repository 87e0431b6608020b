//! The radix tree over metric ids: NODE blobs of 64 child offsets (6 bits of the id a
//! level) down to leaves of 64 ids. This module owns its shape: walking it ([`collect`]),
//! growing it to span new ids ([`grow`]) and the copy-on-write update of a commit
//! ([`update`]), which appends new versions of the leaves and nodes on the paths to the
//! changed ids, children before their parents, and counts the ones it replaces as no
//! longer live.
use std::collections::HashSet;

use super::blob::{Appender, Blobs, LEAF, NODE, blob_size};
use super::leaf::{self, Entry, encode_leaf};
use super::superblock::Super;
use super::{Change, metric};
use crate::bytes::u64_at;
use crate::{Error, Result};

pub(super) const FAN_BITS: u32 = 6;
/// Children of a node, and slots of a leaf.
pub(super) const FAN: usize = 1 << FAN_BITS;

/// Whether `id` is past what a tree of `height` levels spans (64^height ids).
fn beyond(id: u64, height: u32) -> bool {
    id.checked_shr(FAN_BITS * height).is_some_and(|rest| rest > 0)
}

/// Grow the tree of `sb` until it spans `max_id` (each time a new root above the old one,
/// appended to `w` and pinned there, as the update reads it back).
pub(super) fn grow(sb: &mut Super, w: &mut Appender<'_>, max_id: u64) {
    if sb.height == 0 {
        sb.height = 1;
    }
    while beyond(max_id, sb.height) {
        if sb.root != 0 {
            let mut node = [0u8; FAN * 8];
            node[..8].copy_from_slice(&sb.root.to_le_bytes());
            sb.root = w.pinned_blob(NODE, &node);
            sb.live += blob_size(FAN * 8);
        }
        sb.height += 1;
    }
}

/// What [`walk`] hands each entry to: its id, the entry, and the blobs read so far.
pub(super) type EachEntry<'a> = dyn FnMut(u64, Entry, &mut HashSet<u64>) -> Result<()> + 'a;

/// Hand the entries under `node` (at `level`, its first id `base`) to `f` with their
/// ids, ascending, a leaf at a time as it is decoded. `seen`: the blobs read so far (`f`
/// adds the metrics' own). Each is at one place in a tree, and a blob reached twice would
/// let a few KiB of nodes make the walk exponential.
pub(super) fn walk(
    blobs: &Blobs<'_>,
    node: u64,
    level: u32,
    base: u64,
    seen: &mut HashSet<u64>,
    f: &mut EachEntry<'_>,
) -> Result<()> {
    if !seen.insert(node) {
        return Err(Error::Corruption(format!(
            "MANIFEST offset {node}: a node or leaf the tree reaches twice"
        )));
    }
    if level == 0 {
        for (k, e) in leaf::read(blobs, node, base)?.0.into_iter().enumerate() {
            if let Some(e) = e {
                f(base + k as u64, e, seen)?;
            }
        }
        return Ok(());
    }
    let b = blobs.get(node, NODE)?;
    if b.len() != FAN * 8 {
        return Err(Error::Corruption(format!("MANIFEST offset {node}: node of {} bytes", b.len())));
    }
    for k in 0..FAN {
        let child = u64_at(b, 8 * k);
        // Blobs are appended children first, so a child lies before its node: a
        // reference forward (or to itself) is damage, and the walk always ends.
        if child >= node {
            return Err(Error::Corruption(format!(
                "MANIFEST offset {node}: node refers to offset {child}, not before itself"
            )));
        }
        if child != 0 {
            walk(blobs, child, level - 1, base + ((k as u64) << (FAN_BITS * level)), seen, f)?;
        }
    }
    Ok(())
}

/// Apply `changes` (sorted by id, all under `node`) to the subtree at `node` (level
/// `level`, 0 = leaf); returns the new subtree's offset (0 when it became empty).
/// `metrics` follows the number of entries.
pub(super) fn update(
    blobs: &Blobs<'_>,
    w: &mut Appender<'_>,
    live: &mut i64,
    metrics: &mut i64,
    node: u64,
    level: u32,
    changes: &[Change<'_>],
) -> Result<u64> {
    if level == 0 {
        return update_leaf(blobs, w, live, metrics, node, changes);
    }
    let mut body = match node {
        0 => vec![0u8; FAN * 8],
        n => node_body(blobs, w, n)?,
    };
    let mut i = 0;
    while i < changes.len() {
        let k = ((changes[i].id >> (FAN_BITS * level)) as usize) % FAN;
        let j = i + changes[i..].partition_point(|c| ((c.id >> (FAN_BITS * level)) as usize) % FAN == k);
        let child = u64_at(&body, 8 * k);
        let new = update(blobs, w, live, metrics, child, level - 1, &changes[i..j])?;
        body[8 * k..8 * k + 8].copy_from_slice(&new.to_le_bytes());
        i = j;
    }
    if node != 0 {
        *live -= blob_size(FAN * 8) as i64;
    }
    if body.iter().all(|&b| b == 0) {
        return Ok(0);
    }
    *live += blob_size(body.len()) as i64;
    Ok(w.blob(NODE, &body))
}

/// The leaf part of [`update`]: decode the leaf, change its entries, write it
/// packed (none when it became empty).
fn update_leaf(
    blobs: &Blobs<'_>,
    w: &mut Appender<'_>,
    live: &mut i64,
    metrics: &mut i64,
    node: u64,
    changes: &[Change<'_>],
) -> Result<u64> {
    let base = changes.first().map_or(0, |c| c.id & !(FAN as u64 - 1));
    let (mut slots, old_size) = match node {
        0 => (vec![None; FAN], 0),
        n => leaf::read(blobs, n, base)?,
    };
    for c in changes {
        let k = (c.id as usize) % FAN;
        let old = slots[k].take();
        slots[k] = match &c.state {
            Some(state) => Some(metric::write(blobs, w, live, old.as_ref(), state)?),
            None => {
                if let Some(o) = &old {
                    metric::release(blobs, o, live)?;
                }
                None
            }
        };
        *metrics += i64::from(slots[k].is_some()) - i64::from(old.is_some());
    }
    *live -= old_size as i64;
    if slots.iter().all(Option::is_none) {
        return Ok(0);
    }
    leaf::settle_names(&mut slots, w, live);
    let body = encode_leaf(&slots);
    *live += blob_size(body.len()) as i64;
    Ok(w.blob(LEAF, &body))
}

/// The body of node `off`, in the file or among the blobs `w` is about to append (a new
/// root made when the tree grows).
fn node_body(blobs: &Blobs<'_>, w: &Appender<'_>, off: u64) -> Result<Vec<u8>> {
    if let Some(b) = w.pinned(off) {
        return Ok(b.to_vec());
    }
    let b = blobs.get(off, NODE)?;
    if b.len() != FAN * 8 {
        return Err(Error::Corruption(format!("MANIFEST offset {off}: node of {} bytes", b.len())));
    }
    Ok(b.to_vec())
}
