//! Checksum fix-ups: lay the crc32s over mutated bytes, so that the fuzzer reaches the
//! parsers behind the checksums (a mutation that a checksum rejects is otherwise all it
//! ever tests).
use super::manifests::{FIRST_BLOB, SLOT, SUPER_LEN};
use crate::codec;
use crate::storage::manifest;
use crate::storage::{self as st, wal};

fn put_u32(b: &mut [u8], at: usize, x: u32) {
    b[at..at + 4].copy_from_slice(&x.to_le_bytes());
}

pub(super) fn get_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// A codec block's checksums (docs/codec.md): the page directory's when the trailer's
/// length fits, then the body's, then the header's (which covers the body's).
pub fn fix_block_checksums(block: &mut [u8]) {
    const HEADER: usize = codec::HEADER_LEN;
    if block.len() < HEADER {
        return;
    }
    if block[3] != 0 && block.len() >= HEADER + 8 {
        let end = block.len() - 8;
        let dir_len = get_u32(block, block.len() - 4).unwrap_or(0) as usize;
        if dir_len <= end - HEADER {
            let crc = crc32fast::hash(&block[end - dir_len..end]);
            put_u32(block, end, crc);
        }
    }
    let body = crc32fast::hash(&block[HEADER..]);
    put_u32(block, 56, body);
    let header = crc32fast::hash(&block[..60]);
    put_u32(block, 60, header);
}

/// A log or data segment's 32-byte file header.
pub(super) fn fix_file_header(file: &mut [u8]) {
    if file.len() >= st::FILE_HEADER_LEN {
        let crc = crc32fast::hash(&file[..28]);
        put_u32(file, 28, crc);
    }
}

/// A log segment: its header, and each record's crc up to the first that does not fit or
/// the zeros after the last.
pub fn fix_wal_checksums(seg: &mut [u8]) {
    fix_file_header(seg);
    let mut at = wal::HEADER_LEN;
    while at + wal::RECORD_HEADER <= seg.len() {
        if seg[at..at + wal::RECORD_HEADER].iter().all(|&b| b == 0) {
            break;
        }
        let len = get_u32(seg, at).unwrap_or(0) as usize;
        let total = (wal::RECORD_HEADER + len).next_multiple_of(8);
        if total > seg.len() - at {
            break;
        }
        let crc = crc32fast::hash(&seg[at + 8..at + total]);
        put_u32(seg, at + 4, crc);
        at += total;
    }
}

/// The manifest's superblock copies and every blob that fits, walked from offset 8192 as
/// a commit appends them (each 8-byte aligned, one after the other).
pub fn fix_manifest_checksums(file: &mut [u8]) {
    for slot in [0, SLOT] {
        let len = if get_u32(file, slot + 8) == Some(manifest::FORMAT) { SUPER_LEN } else { 92 };
        if file.len() >= slot + len {
            let crc = crc32fast::hash(&file[slot..slot + len - 4]);
            put_u32(file, slot + len - 4, crc);
        }
    }
    let mut at = FIRST_BLOB;
    while at + 16 <= file.len() {
        let len = get_u32(file, at + 8).unwrap_or(0) as usize;
        if len > file.len() - at - 16 {
            break;
        }
        let crc = crc32fast::hash(&file[at + 4..at + 16 + len]);
        put_u32(file, at, crc);
        at += (16 + len).next_multiple_of(8);
    }
}
