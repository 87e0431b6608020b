//! The superblock: two copies, at offsets 0 and 4096, of what makes a tree current (its
//! root, height, generation, live bytes and the file's end) and the checkpoint's header.
//! This module owns their layout, which formats are read, the checks a copy must pass and
//! which copy wins: the valid one with the higher generation, so that a copy torn by a
//! crash, or damaged, is not needed.
use std::fs::File;
use std::path::Path;

use super::{Header, LogStart};
use crate::bytes::{u32_at, u64_at};
use crate::storage::io_err;
use crate::sys;
use crate::{Error, Result};

const MAGIC: [u8; 8] = *b"TSDBMAN2";
pub const FORMAT: u32 = 5;
/// Format 4: format 5's tree, with a superblock that does not say where the log goes on.
const FORMAT_4: u32 = 4;
/// The older format this build still reads (fixed-size entries in `LEAF3` blobs).
const FORMAT_3: u32 = 3;
/// Where each copy starts: offsets 0 and `SLOT`.
pub(super) const SLOT: u64 = 4096;
/// Where the blobs start, after the two copies' slots.
pub(super) const FIRST_BLOB: u64 = 2 * SLOT;
/// Bytes of a superblock: format 5, and formats 3 and 4 (without the log's start).
pub(super) const SUPER_LEN: usize = 108;
const SUPER_LEN_4: usize = 92;
/// A tree of this height spans every u64 id (64^11 > 2^64); a taller one is damage.
const MAX_HEIGHT: u32 = 11;
/// Above any sequence number, metric id, segment number or generation a database reaches.
pub(crate) const MAX_COUNTER: u64 = 1 << 62;

/// A superblock's fields.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Super {
    pub generation: u64,
    /// The tree's root blob (0: an empty tree) and its height (0 or 1 for a lone leaf).
    pub root: u64,
    pub height: u32,
    pub header: Header,
    /// The file length this superblock vouches for; bytes after it are ignored.
    pub end: u64,
    /// Bytes of the blobs reachable from `root`.
    pub live: u64,
}

impl Super {
    /// The current superblock of the manifest file `buf`: the valid copy with the higher
    /// generation, checked against the file's length.
    pub fn current(buf: &[u8]) -> Result<Super> {
        let sb = match [Super::read(buf, 0), Super::read(buf, SLOT as usize)] {
            [Some(a), Some(b)] => {
                if a.generation >= b.generation {
                    a
                } else {
                    b
                }
            }
            [Some(a), None] | [None, Some(a)] => a,
            [None, None] => {
                if buf.len() >= 12
                    && buf[..8] == MAGIC
                    && ![FORMAT_3, FORMAT_4, FORMAT].contains(&u32_at(buf, 8))
                {
                    return Err(Error::Corruption(format!(
                        "MANIFEST offset 0: manifest format {}, this build reads formats {FORMAT_3} to {FORMAT}",
                        u32_at(buf, 8)
                    )));
                }
                if buf.is_empty() {
                    return Err(Error::Corruption("MANIFEST offset 0: the file is empty".into()));
                }
                return Err(Error::Corruption("MANIFEST offset 0: no valid superblock".into()));
            }
        };
        let file_len = buf.len();
        if sb.end > file_len as u64 {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: superblock says {} bytes, the file has {file_len}",
                sb.end
            )));
        }
        // Live blobs lie between the superblocks and `end`: a larger count would overflow
        // the sizes a commit computes from it.
        if sb.live > sb.end - FIRST_BLOB {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: superblock counts {} live bytes of blobs in a file of {}",
                sb.live, sb.end
            )));
        }
        Ok(sb)
    }

    /// Offsets of the copies in `buf` that fail their checks.
    pub fn damaged(buf: &[u8]) -> Vec<u64> {
        [0, SLOT].into_iter().filter(|&slot| Super::read(buf, slot as usize).is_none()).collect()
    }

    /// The superblock copy at `at`, if it passes its checks: magic, a format this build
    /// reads, checksum, and fields that make sense (a tree no taller than ids need, a file
    /// end after the superblocks, a known log state).
    pub fn read(buf: &[u8], at: usize) -> Option<Super> {
        let head = buf.get(at..at + 12)?;
        let format = u32_at(head, 8);
        let len = match format {
            FORMAT => SUPER_LEN,
            FORMAT_3 | FORMAT_4 => SUPER_LEN_4,
            _ => return None,
        };
        let b = buf.get(at..at + len)?;
        let crc = u32_at(b, len - 4);
        if b[..8] != MAGIC || crc != crc32fast::hash(&b[..len - 4]) {
            return None;
        }
        let log = if format == FORMAT {
            let exists = match u32_at(b, 96) {
                0 => false,
                1 => true,
                _ => return None,
            };
            Some(LogStart { segment: u64_at(b, 88), exists })
        } else {
            None
        };
        let sb = Super {
            generation: u64_at(b, 16),
            root: u64_at(b, 24),
            height: u32_at(b, 32),
            header: Header {
                checkpoint_seq: u64_at(b, 40),
                next_id: u64_at(b, 48),
                next_data_seg: u64_at(b, 56),
                metrics: u64_at(b, 80),
                log,
            },
            end: u64_at(b, 64),
            live: u64_at(b, 72),
        };
        sb.valid().then_some(sb)
    }

    /// Whether this superblock's fields make sense: a tree no taller than ids need, counters
    /// below [`MAX_COUNTER`], a file end after the superblocks. [`Super::read`] accepts only
    /// such a copy, and a commit writes only such a copy (one it could not read back would
    /// leave a manifest that no longer opens).
    pub fn valid(&self) -> bool {
        let tree_ok =
            self.height <= MAX_HEIGHT && (self.root == 0 || (self.height >= 1 && self.root >= FIRST_BLOB));
        // Counters a real database never brings near 2^62 (each counts one write, metric or
        // segment): one past it is damage, and would overflow when counted on.
        let h = &self.header;
        let counters_ok =
            [h.checkpoint_seq, h.next_id, h.next_data_seg, self.generation, h.log.map_or(0, |l| l.segment)]
                .iter()
                .all(|&c| c < MAX_COUNTER);
        tree_ok && counters_ok && self.end >= FIRST_BLOB
    }

    /// Write this superblock (in format 5) to both copies of `file` (at `path`), copy 0
    /// first, each synced with `fsync`: a crash tears at most one of them. A file shorter
    /// than the copies' slots is extended first.
    pub fn write(&self, file: &File, path: &Path, fsync: bool) -> Result<()> {
        let mut b = [0u8; SUPER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT.to_le_bytes());
        b[16..24].copy_from_slice(&self.generation.to_le_bytes());
        b[24..32].copy_from_slice(&self.root.to_le_bytes());
        b[32..36].copy_from_slice(&self.height.to_le_bytes());
        b[40..48].copy_from_slice(&self.header.checkpoint_seq.to_le_bytes());
        b[48..56].copy_from_slice(&self.header.next_id.to_le_bytes());
        b[56..64].copy_from_slice(&self.header.next_data_seg.to_le_bytes());
        b[64..72].copy_from_slice(&self.end.to_le_bytes());
        b[72..80].copy_from_slice(&self.live.to_le_bytes());
        b[80..88].copy_from_slice(&self.header.metrics.to_le_bytes());
        let log = self.header.log.unwrap_or_default();
        b[88..96].copy_from_slice(&log.segment.to_le_bytes());
        b[96..100].copy_from_slice(&u32::from(log.exists).to_le_bytes());
        let crc = crc32fast::hash(&b[..104]);
        b[104..108].copy_from_slice(&crc.to_le_bytes());
        if file.metadata().map_err(|e| io_err("cannot stat manifest", path, &e))?.len() < FIRST_BLOB {
            sys::set_len(file, FIRST_BLOB).map_err(|e| io_err("cannot size manifest", path, &e))?;
        }
        // Copy 0, synced, then copy 1: a crash tears at most one of them.
        for slot in [0, SLOT] {
            sys::write_all_at(file, &b, slot)
                .map_err(|e| io_err("cannot write manifest superblock", path, &e))?;
            if fsync {
                sys::sync_data(file).map_err(|e| io_err("cannot sync manifest", path, &e))?;
            }
        }
        Ok(())
    }
}
