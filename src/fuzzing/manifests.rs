//! `manifest_file` (a whole manifest file: open, load, a commit, reopen) and
//! `manifest_blob` (each blob decoder on its own).
use super::checksums::fix_manifest_checksums;
use super::{Scratch, write};
use crate::storage::manifest::{self, Manifest};

pub(super) const SLOT: usize = 4096;
pub(super) const FIRST_BLOB: usize = 2 * SLOT;
/// A format-5 superblock's length (formats 3 and 4: 92 bytes, their crc at 88).
pub(super) const SUPER_LEN: usize = 108;

/// The manifest file a `manifest_file` input describes: `flags u8 │ superblock copy 0 (108
/// bytes) │ copy 1 (108) │ blobs`, laid out at offsets 0, 4096 and 8192 (short inputs are
/// padded with zeros). Flags: bit 0 recompute every checksum; bit 1 set each superblock's
/// `end` to the file's length; bit 7 the rest of the input is the whole file as it is.
pub fn manifest_image(data: &[u8]) -> Vec<u8> {
    let Some((&flags, rest)) = data.split_first() else { return Vec::new() };
    let mut file = if flags & 0x80 != 0 {
        rest.to_vec()
    } else {
        let mut f = vec![0u8; FIRST_BLOB];
        let (a, rest) = rest.split_at(rest.len().min(SUPER_LEN));
        let (b, blobs) = rest.split_at(rest.len().min(SUPER_LEN));
        f[..a.len()].copy_from_slice(a);
        f[SLOT..SLOT + b.len()].copy_from_slice(b);
        f.extend_from_slice(blobs);
        f
    };
    if flags & 2 != 0 {
        let len = (file.len() as u64).to_le_bytes();
        for slot in [0, SLOT] {
            if file.len() >= slot + SUPER_LEN {
                file[slot + 64..slot + 72].copy_from_slice(&len);
            }
        }
    }
    if flags & 1 != 0 {
        fix_manifest_checksums(&mut file);
    }
    file
}

/// The `manifest_file` input for a real manifest file (the inverse of [`manifest_image`]).
pub fn manifest_input(file: &[u8], flags: u8) -> Vec<u8> {
    let mut input = vec![flags & !0x80];
    let at = |r: std::ops::Range<usize>| file.get(r).unwrap_or(&[]);
    input.extend_from_slice(at(0..SUPER_LEN));
    input.extend_from_slice(at(SLOT..SLOT + SUPER_LEN));
    input.extend_from_slice(file.get(FIRST_BLOB..).unwrap_or(&[]));
    input
}

/// `Manifest::open` of the file [`manifest_image`] makes, then `load` of every metric and
/// `damaged_superblocks`. When it loads, a commit (one metric changed, one created)
/// follows, and the file must then open and load again with both changes.
pub fn manifest_file(data: &[u8]) {
    let file = manifest_image(data);
    if file.is_empty() {
        return;
    }
    let dir = Scratch::new("manifest");
    write(&dir.0.join(manifest::FILE), &file);
    let Ok((mut m, header)) = Manifest::open(&dir.0, false) else { return };
    let _ = m.damaged_superblocks();
    let _ = m.sizes();
    let (mut entries, mut max_id) = (Vec::new(), 0);
    let loaded = m.load(|e| {
        max_id = max_id.max(e.id);
        // Keep a few: a hostile tree may list many.
        if entries.len() < 4 {
            entries.push(e);
        }
        Ok(())
    });
    if loaded.is_err() {
        return;
    }
    // A checkpoint that adds a part to the first metric and creates one.
    let block = manifest::BlockRef { seg: 1, off: 32, len: 100, count: 10, first_ts: 5, last_ts: 50 };
    let mut changed = entries.first().map(|e| {
        let mut parts = e.parts.clone();
        let start = parts.last().map_or(0, |p| p.block.last_ts.saturating_add(1));
        let block = manifest::BlockRef { first_ts: start, last_ts: start, count: 1, ..block };
        parts.push(manifest::PartRef { start, block });
        (e.id, e.name.clone(), parts, e.extents.clone(), e.retention)
    });
    // An id past every metric (the superblock's next_id may be damaged: a database
    // refuses that at open, the manifest alone does not look).
    let new_id = header.next_id.max(max_id.saturating_add(1));
    if new_id == u64::MAX {
        changed = None;
    }
    let extents = [block];
    let mut changes: Vec<manifest::Change<'_>> = changed
        .iter()
        .map(|(id, name, parts, extents, retention)| manifest::Change {
            id: *id,
            state: Some(manifest::MetricState { name, parts, extents, retention: *retention }),
        })
        .collect();
    if new_id < u64::MAX {
        let state = manifest::MetricState { name: "fuzz.new", parts: &[], extents: &extents, retention: 0 };
        changes.push(manifest::Change { id: new_id, state: Some(state) });
    }
    let next = manifest::Commit { next_id: new_id.saturating_add(1), ..header.commit() };
    if m.commit(&changes, next, false, data.first().is_some_and(|f| f & 4 != 0)).is_err() {
        return;
    }
    drop(m);
    let (m, _) = Manifest::open(&dir.0, false).expect("a manifest that loaded and took a commit opens");
    let mut found = (false, changed.is_none());
    m.load(|e| {
        if e.id == new_id {
            assert_eq!((&*e.name, e.extents.as_slice()), ("fuzz.new", &extents[..]));
            found.0 = true;
        }
        if let Some((id, _, parts, ..)) = &changed
            && e.id == *id
        {
            assert_eq!(&e.parts, parts, "the committed parts");
            found.1 = true;
        }
        Ok(())
    })
    .expect("a manifest that loaded and took a commit loads");
    assert!(found.0 || new_id == u64::MAX, "the created metric is there");
    assert!(found.1, "the changed metric is there");
}

/// Each blob decoder on its own. Input: `kind u8 │ base u8 │ body`: kind 7 a packed
/// leaf, 8 a packed chunk, 2 a format-3 leaf (first id `base * 64`), anything else a
/// format-3 chunk. A packed leaf or chunk that decodes must code and decode to the same
/// entries (format-3 leaves too, as a commit packs them).
pub fn manifest_blob(data: &[u8]) {
    let [kind, base, body @ ..] = data else { return };
    let _ = manifest::fuzz_blob(*kind, body, u64::from(*base) * 64);
}
