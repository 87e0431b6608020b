//! The manifest: the on-disk form of the global transaction and the partition maps — a
//! copy-on-write radix tree over metric ids whose leaves hold packed metric entries
//! (seed §4). A checkpoint appends new versions of the blobs it changed (a metric's leaf,
//! the chunks of its part list that changed, the nodes on the path to the root) and then
//! flips the superblock: it writes the touched paths, not the whole map.
//!
//! ```text
//! offset 0 and 4096: two copies of the superblock, written one after the other (the valid
//! one with the higher generation wins: a copy torn by a crash, or damaged, is not needed)
//!   │ magic "TSDBMAN2" │ format u32 │ 0 u32 │ generation u64 │ root u64 │ height u32 │ 0 u32 │
//!   │ checkpoint_seq u64 │ next_id u64 │ next_data_seg u64 │ end u64 │ live u64 │ metrics u64 │ crc u32 │
//! from 8192: blobs, each │ crc u32 │ kind u8 │ 0 [3] │ len u32 │ 0 u32 │ body (len bytes) │ 0-pad to 8 │
//!   1 NODE    64 x child offset u64 (0 = empty)        radix level >= 1: 6 bits of the id each
//!   7 LEAF    the entries of ids [64k, 64k + 64)       packed, below
//!   3 NAME    the metric's name (UTF-8)                when its leaf does not hold it
//!   4 INDEX   n x chunk offset u64                     a part list of more than 4, in chunks
//!   8 CHUNK   up to 256 parts, packed as in a leaf     below
//!   6 EXTENTS n x block ref (40 bytes)                 more than 4 extents
//!   2 LEAF3   format 3's leaf: 64 x 64-byte entry      read, never written
//!   5 CHUNK3  format 3's chunk: up to 84 x (start i64, block ref)   read, never written
//! packed leaf: │ present u64 (bit k: slot k has an entry) │ the entries, in slot order │
//! entry (numbers are LEB128 varints; ± ones zigzag-coded):
//!   name      2 x shared, suffix length, suffix: the first `shared` bytes of the previous
//!             name the leaf holds, then the suffix (at most 64 bytes when written);
//!             or 2 x offset + 1: the name is in the NAME blob at that offset
//!   ± retention                                        0: the database's default
//!   parts     2 x n, then n x (± start - t, block ref based on start);
//!             or 2 x n + 1, then the offset of the INDEX blob holding them
//!   extents   2 x n, then n x block ref based on t; or 2 x n + 1, then the EXTENTS blob's offset
//!   (t: the last_ts of the entry's previous part or extent; for its first one, the first
//!   timestamp coded by the last entry before it that coded any, or 0)
//! block ref: ± first_ts - base │ ± span - p.span │ ± segment - p.segment │ ± offset - p.end │
//!            ± length - p.length │ ± count - p.count
//!   (span: last_ts - first_ts; p: the leaf's previous block ref, its end offset + length;
//!   all 0 before the first)
//! packed chunk: │ n │ n parts, coded as a leaf's inline ones (t and p start at 0) │
//! block ref in EXTENTS and CHUNK3 (40 bytes): │ segment u64 │ offset u64 │ length u32 │
//!   │ count u32 │ first_ts i64 │ last_ts i64 │
//! ```
//!
//! A blob's `crc` covers everything after it up to the end of the body. `end` is the file
//! length the superblock vouches for (a crash may leave bytes after it: they are ignored
//! and overwritten); `live` counts the bytes of blobs reachable from `root`. When the file
//! grows past twice its live bytes, the next checkpoint rewrites it compactly (to
//! `manifest-rewrite/MANIFEST`, then renamed over `MANIFEST`).
//!
//! A commit decodes each leaf it changes into [`Entry`]s, changes them and encodes the
//! leaf again: a name whose suffix would be over `NAME_SUFFIX_MAX` bytes goes to a NAME
//! blob (which its metric keeps), and more than `INLINE_REFS` parts or extents go to blobs.
//! The encoding is a function of the entries; decoding checks every read against the body.
//!
//! Format 3 is still read: its leaves (`LEAF3`) stay in the file, and are read, until a
//! commit changes one of their entries (the leaf is then written packed) or the file is
//! rewritten; a metric from it keeps its blobs while they do not change (an INDEX may list
//! CHUNK3 blobs until its part list changes, when all its chunks are written packed).
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::{LogStart, io_err, sync_dir};
use crate::bytes::{Reader, put_varint, u32_at, u64_at, zigzag};
use crate::sys::{self, ReadMap};
use crate::{Error, Result};

pub const MAGIC: [u8; 8] = *b"TSDBMAN2";
pub const FORMAT: u32 = 5;
/// Format 4: format 5's tree, with a superblock that does not say where the log goes on.
const FORMAT_4: u32 = 4;
/// The older format this build still reads (fixed-size entries in `LEAF3` blobs).
const FORMAT_3: u32 = 3;
pub const FILE: &str = "MANIFEST";
/// Where a new manifest file is written before it is renamed over `MANIFEST` (a rewrite,
/// or a new database's first one); a leftover of a failed step is deleted the next time.
pub const REWRITE_DIR: &str = "manifest-rewrite";
const SLOT: u64 = 4096;
const FIRST_BLOB: u64 = 2 * SLOT;
/// Bytes of a superblock: format 5, and formats 3 and 4 (without the log's start).
const SUPER_LEN: usize = 108;
const SUPER_LEN_4: usize = 92;
/// A tree of this height spans every u64 id (64^11 > 2^64); a taller one is damage.
const MAX_HEIGHT: u32 = 11;
/// Above any sequence number, metric id, segment number or generation a database reaches.
const MAX_COUNTER: u64 = 1 << 62;
const BLOB_HEADER: usize = 16;
const FAN_BITS: u32 = 6;
const FAN: usize = 1 << FAN_BITS;
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
const REF: usize = 40;
/// Parts per (packed) chunk: a chunk of regular parts is 2-3 KiB. Appending a part rewrites
/// the last chunk and the index; the others keep their blobs.
const CHUNK_PARTS: usize = 256;
/// A metric's parts, and its extents, are kept in its leaf entry when there are at most this
/// many; more go to an INDEX (of chunks) or an EXTENTS blob.
const INLINE_REFS: usize = 4;
/// A name is kept in its leaf when what it does not share with the previous name kept there
/// is at most this long; else it goes to a NAME blob. Leaves stay a few KiB at most.
const NAME_SUFFIX_MAX: usize = 64;

const NODE: u8 = 1;
const LEAF3: u8 = 2;
const NAME: u8 = 3;
const INDEX: u8 = 4;
const CHUNK3: u8 = 5;
const EXTENTS: u8 = 6;
const LEAF: u8 = 7;
const CHUNK: u8 = 8;

/// A block in a data segment, with the summary the engine keeps in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    pub seg: u64,
    pub off: u64,
    pub len: u32,
    pub count: u32,
    pub first_ts: i64,
    pub last_ts: i64,
}

/// A sealed part of a metric: the first timestamp it owns, and its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartRef {
    pub start: i64,
    pub block: BlockRef,
}

/// One metric of the manifest, as [`Manifest::load`] reads it.
#[derive(Debug, PartialEq)]
pub struct MetricEntry {
    pub id: u64,
    pub name: String,
    /// Sealed parts, ascending.
    pub parts: Vec<PartRef>,
    /// The head's persisted points, oldest first (a later extent wins on equal timestamps).
    pub extents: Vec<BlockRef>,
    /// The metric's own retention span (0: the database's default).
    pub retention: i64,
}

impl MetricEntry {
    /// This metric's state, to commit again.
    pub fn state(&self) -> MetricState<'_> {
        MetricState {
            name: &self.name,
            parts: &self.parts,
            extents: &self.extents,
            retention: self.retention,
        }
    }
}

/// A metric's state to write ([`Change`]).
#[derive(Clone, Copy, Debug)]
pub struct MetricState<'a> {
    /// Its name: written with the metric's first entry, never changed after.
    pub name: &'a str,
    pub parts: &'a [PartRef],
    pub extents: &'a [BlockRef],
    /// The metric's own retention span (0: the database's default).
    pub retention: i64,
}

/// A metric's new state for [`Manifest::commit`]: `None` removes it.
pub struct Change<'a> {
    pub id: u64,
    pub state: Option<MetricState<'a>>,
}

/// What a commit records besides the metrics: the superblock's fields that the caller sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// Every write with a sequence number up to this is in the manifest's data.
    pub checkpoint_seq: u64,
    pub next_id: u64,
    pub next_data_seg: u64,
    /// Where the write-ahead log goes on after this checkpoint.
    pub log: Option<LogStart>,
}

/// The superblock's fields, as opening reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Every write with a sequence number up to this is in the manifest's data.
    pub checkpoint_seq: u64,
    pub next_id: u64,
    pub next_data_seg: u64,
    /// Metrics in the tree.
    pub metrics: u64,
    /// Where the write-ahead log goes on after this checkpoint (`None` in a format-3 or
    /// format-4 file, which did not record it).
    pub log: Option<LogStart>,
}

impl Header {
    /// The header a commit of `c` writes, the tree holding `metrics` metrics.
    fn new(c: Commit, metrics: u64) -> Header {
        let Commit { checkpoint_seq, next_id, next_data_seg, log } = c;
        Header { checkpoint_seq, next_id, next_data_seg, metrics, log }
    }

    /// What a commit that keeps this header's fields passes.
    pub fn commit(&self) -> Commit {
        Commit {
            checkpoint_seq: self.checkpoint_seq,
            next_id: self.next_id,
            next_data_seg: self.next_data_seg,
            log: self.log,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Super {
    generation: u64,
    root: u64,
    height: u32,
    header: Header,
    end: u64,
    live: u64,
}

/// The open manifest file.
pub struct Manifest {
    dir: PathBuf,
    file: File,
    map: Option<ReadMap>,
    sb: Super,
    fsync: bool,
    /// The file was replaced by a rewrite: reopen before the next commit.
    stale: bool,
}

/// A metric's entry as its leaf holds it (a packed leaf, or a format-3 one).
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    name: Name,
    retention: i64,
    parts: Refs<PartRef>,
    extents: Refs<BlockRef>,
}

#[derive(Clone, Debug, PartialEq)]
enum Name {
    /// Held by the leaf.
    Inline(String),
    /// The offset of a NAME blob (a name, once in one, keeps it).
    Blob(u64),
}

/// A metric's parts or extents: in its entry, or counted there and held in a blob (an INDEX
/// of chunks, or an EXTENTS blob).
#[derive(Clone, Debug, PartialEq)]
enum Refs<T> {
    Inline(Vec<T>),
    Blob { off: u64, count: u64 },
}

impl<T> Refs<T> {
    /// The blob's offset, 0 for none.
    fn blob(&self) -> u64 {
        match self {
            Refs::Inline(_) => 0,
            Refs::Blob { off, .. } => *off,
        }
    }
}

/// A leaf's 64 slots.
type Slots = Vec<Option<Entry>>;

impl Manifest {
    /// Create `DIR/MANIFEST` for a new database: an empty tree, written to a temporary file
    /// and renamed into place, so that a crash leaves either no MANIFEST or a whole one.
    pub fn create(dir: &Path, fsync: bool) -> Result<(Manifest, Header)> {
        let header = Header {
            next_id: 1,
            next_data_seg: 1,
            log: Some(LogStart { segment: 1, exists: false }),
            ..Header::default()
        };
        let sb = Super { end: FIRST_BLOB, header, ..Super::default() };
        Manifest::write_new(dir, sb, |_| Ok(()), fsync)?;
        Manifest::open(dir, fsync)
    }

    /// Write a new manifest file in `DIR/manifest-rewrite/` with superblock `empty`, let
    /// `fill` commit to it, and rename it over `DIR/MANIFEST`.
    fn write_new(
        dir: &Path,
        empty: Super,
        fill: impl FnOnce(&mut Manifest) -> Result<()>,
        fsync: bool,
    ) -> Result<()> {
        let tmp_dir = dir.join(REWRITE_DIR);
        match sys::remove_dir_all(&tmp_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot delete the leftover directory", &tmp_dir, &e)),
        }
        sys::create_dir(&tmp_dir).map_err(|e| io_err("cannot create directory", &tmp_dir, &e))?;
        let tmp = tmp_dir.join(FILE);
        let file = sys::create_new(&tmp).map_err(|e| io_err("cannot create manifest", &tmp, &e))?;
        let mut fresh = Manifest { dir: tmp_dir.clone(), file, map: None, sb: empty, fsync, stale: false };
        fresh.write_super()?;
        fresh.remap()?;
        fill(&mut fresh)?;
        drop(fresh);
        let dst = dir.join(FILE);
        sys::rename(&tmp, &dst).map_err(|e| io_err("cannot rename manifest", &dst, &e))?;
        let _ = sys::remove_dir_all(&tmp_dir);
        if fsync {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Open `DIR/MANIFEST`, which must exist and hold at least its superblocks. Returns it
    /// and the header of the last checkpoint (of the creation, for a new database).
    pub fn open(dir: &Path, fsync: bool) -> Result<(Manifest, Header)> {
        let path = dir.join(FILE);
        let file = sys::open_rw(&path).map_err(|e| io_err("cannot open manifest", &path, &e))?;
        let mut m =
            Manifest { dir: dir.to_owned(), file, map: None, sb: Super::default(), fsync, stale: false };
        m.remap()?;
        let (slots, file_len) = {
            let buf = m.bytes();
            ([read_super(buf, 0), read_super(buf, SLOT as usize)], buf.len())
        };
        m.sb = match slots {
            [Some(a), Some(b)] => {
                if a.generation >= b.generation {
                    a
                } else {
                    b
                }
            }
            [Some(a), None] | [None, Some(a)] => a,
            [None, None] => {
                let buf = m.bytes();
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
        if m.sb.end > file_len as u64 {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: superblock says {} bytes, the file has {file_len}",
                m.sb.end
            )));
        }
        // Live blobs lie between the superblocks and `end`: a larger count would overflow
        // the sizes a commit computes from it.
        if m.sb.live > m.sb.end - FIRST_BLOB {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: superblock counts {} live bytes of blobs in a file of {}",
                m.sb.live, m.sb.end
            )));
        }
        let header = m.sb.header;
        Ok((m, header))
    }

    /// Make what this manifest says durable (fsync of the file): before opening deletes
    /// anything on its word, the manifest must be on disk, not only in the page cache a
    /// crashed process left behind.
    pub fn sync(&self) -> Result<()> {
        let path = self.dir.join(FILE);
        sys::sync_data(&self.file).map_err(|e| io_err("cannot sync manifest", &path, &e))
    }

    /// Every metric, ascending id. Every blob is checked; damage is a corruption error
    /// naming the offset.
    pub fn load(&self, mut f: impl FnMut(MetricEntry) -> Result<()>) -> Result<()> {
        let (mut entries, mut seen) = (Vec::new(), HashSet::new());
        if self.sb.root != 0 {
            self.collect(self.sb.root, self.sb.height - 1, 0, &mut entries, &mut seen)?;
        }
        if entries.len() as u64 != self.sb.header.metrics {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: superblock counts {} metrics, the tree holds {}",
                self.sb.header.metrics,
                entries.len()
            )));
        }
        for (id, e) in entries {
            f(self.entry(id, &e, &mut seen)?)?;
        }
        Ok(())
    }

    /// Append the changed metrics and make a new superblock current: the checkpoint's
    /// commit. `changes` must be sorted by id, each id once.
    /// With `closing`, a file carrying more than 5% of dead blobs is rewritten (a closed
    /// database is about the size of what it holds); otherwise only past twice its live size.
    pub fn commit(
        &mut self,
        changes: &[Change<'_>],
        commit: Commit,
        fsync: bool,
        closing: bool,
    ) -> Result<()> {
        // After an earlier failure: the file renamed over by a rewrite that could not be
        // reopened, or a map that could not be renewed.
        if self.stale {
            *self = Manifest::open(&self.dir, self.fsync)?.0;
        }
        if self.map.as_ref().is_none_or(|m| (m.len() as u64) < self.sb.end) {
            self.remap()?;
        }
        let saved = std::mem::replace(&mut self.fsync, fsync);
        let mut result = self.commit_inner(changes, commit);
        let (end, live) = self.sizes();
        let bloated = if closing { end > live + live / 20 + 4096 } else { end > 2 * live + (1 << 20) };
        if result.is_ok() && bloated {
            result = self.rewrite();
        }
        self.fsync = saved;
        result
    }

    fn commit_inner(&mut self, changes: &[Change<'_>], commit: Commit) -> Result<()> {
        let file =
            self.file.try_clone().map_err(|e| io_err("cannot write manifest", &self.dir.join(FILE), &e))?;
        let mut w = Appender::new(&file, self.sb.end);
        let mut sb = self.sb;
        // Grow the tree until it spans every id (a new root above the old one).
        let max_id = changes.iter().map(|c| c.id).max().unwrap_or(0).max(commit.next_id);
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
        let mut metrics = sb.header.metrics as i64;
        let mut live = sb.live as i64;
        if !changes.is_empty() {
            sb.root = self.update(&mut w, &mut live, &mut metrics, sb.root, sb.height - 1, changes)?;
        }
        sb.header = Header::new(commit, metrics as u64);
        // The blobs a commit releases were counted live: fewer means a damaged count.
        sb.live = u64::try_from(live).map_err(|_| {
            Error::Corruption(format!(
                "MANIFEST offset 0: superblock counts {} live bytes, fewer than a commit released",
                self.sb.live
            ))
        })?;
        let path = self.dir.join(FILE);
        // Until a superblock names them, the new blobs are garbage after the end: a failure
        // before that leaves the manifest as it was.
        sb.end = w.finish().map_err(|e| io_err("cannot write manifest", &path, &e))?;
        // Wrapped to 0, the file would open as a new manifest (no checkpoint).
        sb.generation = sb.generation.checked_add(1).ok_or_else(|| {
            Error::Corruption(format!("MANIFEST offset 0: superblock generation {}", sb.generation))
        })?;
        if self.fsync {
            sys::sync_data(&self.file).map_err(|e| io_err("cannot sync manifest", &path, &e))?;
        }
        let old = std::mem::replace(&mut self.sb, sb);
        if let Err(e) = self.write_super() {
            // A copy of the new superblock may be on disk: its blobs must never be
            // overwritten, nor its generation used again. Go on from the old tree, past them.
            self.sb = Super { end: sb.end, generation: sb.generation, ..old };
            let _ = self.remap();
            return Err(e);
        }
        self.remap()
    }

    /// Offsets of the superblock copies that fail their checks (magic, format, checksum).
    /// Opening needs one good copy; a damaged other one is survived, and reported by a check.
    pub fn damaged_superblocks(&self) -> Vec<u64> {
        [0, SLOT].into_iter().filter(|&slot| read_super(self.bytes(), slot as usize).is_none()).collect()
    }

    /// Bytes of the file, and how many of them the current tree uses.
    pub fn sizes(&self) -> (u64, u64) {
        (self.sb.end, self.sb.live + FIRST_BLOB)
    }

    /// Rewrite the whole tree compactly into a new file and rename it over this one.
    fn rewrite(&mut self) -> Result<()> {
        let mut all = Vec::new();
        self.load(|m| {
            all.push(m);
            Ok(())
        })?;
        let changes: Vec<Change<'_>> =
            all.iter().map(|m| Change { id: m.id, state: Some(m.state()) }).collect();
        let commit = self.sb.header.commit();
        // The new file's generation continues this one's, so that its superblocks are never
        // older than what a reader of this one saw.
        let empty = Super {
            generation: self.sb.generation,
            end: FIRST_BLOB,
            header: Header::new(commit, 0),
            ..Super::default()
        };
        Manifest::write_new(&self.dir, empty, |fresh| fresh.commit_inner(&changes, commit), self.fsync)?;
        // From here, this handle's file is the old one, renamed over: never write it again.
        self.stale = true;
        let (reopened, _) = Manifest::open(&self.dir, self.fsync)?;
        *self = reopened;
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_ref().map_or(&[], ReadMap::all)
    }

    fn remap(&mut self) -> Result<()> {
        let path = self.dir.join(FILE);
        self.map = None;
        self.map = Some(ReadMap::new(&self.file).map_err(|e| io_err("cannot map manifest", &path, &e))?);
        Ok(())
    }

    fn write_super(&mut self) -> Result<()> {
        let s = &self.sb;
        let mut b = [0u8; SUPER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT.to_le_bytes());
        b[16..24].copy_from_slice(&s.generation.to_le_bytes());
        b[24..32].copy_from_slice(&s.root.to_le_bytes());
        b[32..36].copy_from_slice(&s.height.to_le_bytes());
        b[40..48].copy_from_slice(&s.header.checkpoint_seq.to_le_bytes());
        b[48..56].copy_from_slice(&s.header.next_id.to_le_bytes());
        b[56..64].copy_from_slice(&s.header.next_data_seg.to_le_bytes());
        b[64..72].copy_from_slice(&s.end.to_le_bytes());
        b[72..80].copy_from_slice(&s.live.to_le_bytes());
        b[80..88].copy_from_slice(&s.header.metrics.to_le_bytes());
        let log = s.header.log.unwrap_or_default();
        b[88..96].copy_from_slice(&log.segment.to_le_bytes());
        b[96..100].copy_from_slice(&u32::from(log.exists).to_le_bytes());
        let crc = crc32fast::hash(&b[..104]);
        b[104..108].copy_from_slice(&crc.to_le_bytes());
        let path = self.dir.join(FILE);
        if self.file.metadata().map_err(|e| io_err("cannot stat manifest", &path, &e))?.len() < FIRST_BLOB {
            sys::set_len(&self.file, FIRST_BLOB).map_err(|e| io_err("cannot size manifest", &path, &e))?;
        }
        // Copy 0, synced, then copy 1: a crash tears at most one of them.
        for slot in [0, SLOT] {
            sys::write_all_at(&self.file, &b, slot)
                .map_err(|e| io_err("cannot write manifest superblock", &path, &e))?;
            if self.fsync {
                sys::sync_data(&self.file).map_err(|e| io_err("cannot sync manifest", &path, &e))?;
            }
        }
        Ok(())
    }

    /// The body of the blob at `off`, checked to be of `kind`.
    fn blob(&self, off: u64, kind: u8) -> Result<&[u8]> {
        Ok(self.blob_of(off, &[kind])?.1)
    }

    /// The kind and body of the blob at `off`, checked to be one of `kinds`.
    fn blob_of(&self, off: u64, kinds: &[u8]) -> Result<(u8, &[u8])> {
        let buf = self.bytes();
        let bad = |msg: String| Error::Corruption(format!("MANIFEST offset {off}: {msg}"));
        let at = usize::try_from(off).map_err(|_| bad("offset out of range".into()))?;
        if off < FIRST_BLOB || off >= self.sb.end || at + BLOB_HEADER > buf.len() {
            return Err(bad(format!("reference outside the file's {} bytes", self.sb.end)));
        }
        let len = u32_at(buf, at + 8) as usize;
        let end = at + BLOB_HEADER + len;
        if end as u64 > self.sb.end {
            return Err(bad(format!("blob of {len} bytes runs past the end")));
        }
        let crc = u32_at(buf, at);
        if crc != crc32fast::hash(&buf[at + 4..end]) {
            return Err(bad("blob checksum mismatch".into()));
        }
        let kind = buf[at + 4];
        if !kinds.contains(&kind) {
            let want: Vec<String> = kinds.iter().map(u8::to_string).collect();
            return Err(bad(format!("blob of kind {kind} where kind {} was expected", want.join(" or "))));
        }
        Ok((kind, &buf[at + BLOB_HEADER..end]))
    }

    fn blob_len(&self, off: u64, kind: u8) -> Result<u64> {
        Ok(blob_size(self.blob(off, kind)?.len()))
    }

    /// The slots of the leaf at `off` (either format), whose first id is `base`, and the
    /// leaf's size in the file.
    fn leaf(&self, off: u64, base: u64) -> Result<(Slots, u64)> {
        let (kind, b) = self.blob_of(off, &[LEAF, LEAF3])?;
        let slots = if kind == LEAF { decode_leaf(b, off)? } else { decode_leaf3(b, off, base)? };
        Ok((slots, blob_size(b.len())))
    }

    /// Append the entries under `node` (at `level`, its first id `base`) to `out`. `seen`:
    /// the nodes and leaves walked so far. Each is at one place in a tree, and a blob
    /// reached twice would let a few KiB of nodes make the walk exponential.
    fn collect(
        &self,
        node: u64,
        level: u32,
        base: u64,
        out: &mut Vec<(u64, Entry)>,
        seen: &mut HashSet<u64>,
    ) -> Result<()> {
        if !seen.insert(node) {
            return Err(Error::Corruption(format!(
                "MANIFEST offset {node}: a node or leaf the tree reaches twice"
            )));
        }
        if level == 0 {
            for (k, e) in self.leaf(node, base)?.0.into_iter().enumerate() {
                if let Some(e) = e {
                    out.push((base + k as u64, e));
                }
            }
            return Ok(());
        }
        let b = self.blob(node, NODE)?;
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
                self.collect(child, level - 1, base + ((k as u64) << (FAN_BITS * level)), out, seen)?;
            }
        }
        Ok(())
    }

    /// Metric `id`'s entry with its name, parts and extents read from their blobs. `seen`:
    /// the blobs read so far. A blob belongs to one entry: one that many entries (or one
    /// index, many times) name would let a few KiB of file decode to millions of parts.
    fn entry(&self, id: u64, e: &Entry, seen: &mut HashSet<u64>) -> Result<MetricEntry> {
        let mut once = |off: u64| {
            if seen.insert(off) {
                Ok(off)
            } else {
                Err(Error::Corruption(format!(
                    "MANIFEST offset {off}: metric {id}: a blob the tree reaches twice"
                )))
            }
        };
        let name = match &e.name {
            Name::Inline(s) => s.clone(),
            Name::Blob(off) => std::str::from_utf8(self.blob(once(*off)?, NAME)?)
                .map_err(|_| Error::Corruption(format!("MANIFEST offset {off}: name is not UTF-8")))?
                .to_owned(),
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
        let parts = match &e.parts {
            Refs::Inline(v) => v.clone(),
            &Refs::Blob { off, count } => {
                let mut v = Vec::new();
                for c in self.blob(once(off)?, INDEX)?.chunks_exact(8) {
                    self.chunk_parts(once(u64_at(c, 0))?, &mut v)?;
                }
                counted(off, "parts", count, v.len())?;
                v
            }
        };
        let extents = match &e.extents {
            Refs::Inline(v) => v.clone(),
            &Refs::Blob { off, count } => {
                let v = self
                    .blob(once(off)?, EXTENTS)?
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
    fn chunk_parts(&self, off: u64, out: &mut Vec<PartRef>) -> Result<()> {
        match self.blob_of(off, &[CHUNK, CHUNK3])? {
            (CHUNK, b) => decode_chunk(b, off, out),
            (_, b) => {
                for p in b.chunks_exact(PART) {
                    out.push(PartRef { start: u64_at(p, 0) as i64, block: get_ref3(&p[8..], off)? });
                }
                Ok(())
            }
        }
    }

    /// The size of the chunk at `off` (either format) in the file.
    fn chunk_len(&self, off: u64) -> Result<u64> {
        Ok(blob_size(self.blob_of(off, &[CHUNK, CHUNK3])?.1.len()))
    }

    /// Write what changed of a metric (reusing the name, unchanged chunks and extents of
    /// `old`); returns its new entry. Its name's place is settled with its leaf's.
    fn write_metric(
        &self,
        w: &mut Appender<'_>,
        live: &mut i64,
        old: Option<&Entry>,
        state: &MetricState<'_>,
    ) -> Result<Entry> {
        let MetricState { name, parts, extents, retention } = *state;
        // Names never change: an existing entry keeps its name (in the leaf or a blob).
        let name = old.map_or_else(|| Name::Inline(name.to_owned()), |o| o.name.clone());
        let old_index = old.map_or(0, |o| o.parts.blob());
        let parts = if parts.len() <= INLINE_REFS {
            if old_index != 0 {
                self.release_index(old_index, live)?;
            }
            Refs::Inline(parts.to_vec())
        } else {
            Refs::Blob { off: self.write_parts(w, live, old_index, parts)?, count: parts.len() as u64 }
        };
        let old_ext = old.map_or(0, |o| o.extents.blob());
        let extents = if extents.len() <= INLINE_REFS {
            if old_ext != 0 {
                *live -= self.blob_len(old_ext, EXTENTS)? as i64;
            }
            Refs::Inline(extents.to_vec())
        } else {
            let mut body = Vec::with_capacity(extents.len() * REF);
            for r in extents {
                put_ref3(&mut body, r);
            }
            Refs::Blob {
                off: self.keep_or_write(w, live, old_ext, EXTENTS, &body)?,
                count: extents.len() as u64,
            }
        };
        Ok(Entry { name, retention, parts, extents })
    }

    /// Write a part list as chunks and an index, given the metric's previous index (`old`,
    /// 0 if none): an unchanged chunk keeps its blob, and an unchanged index too. Returns
    /// the index's offset.
    fn write_parts(&self, w: &mut Appender<'_>, live: &mut i64, old: u64, parts: &[PartRef]) -> Result<u64> {
        let old_chunks: Vec<u64> = match old {
            0 => Vec::new(),
            i => self.blob(i, INDEX)?.chunks_exact(8).map(|c| u64_at(c, 0)).collect(),
        };
        let mut index = Vec::with_capacity(parts.len().div_ceil(CHUNK_PARTS) * 8);
        for (k, ps) in parts.chunks(CHUNK_PARTS).enumerate() {
            let chunk = encode_chunk(ps);
            let reuse = match old_chunks.get(k) {
                Some(&o) if self.blob_of(o, &[CHUNK, CHUNK3])? == (CHUNK, chunk.as_slice()) => Some(o),
                Some(&o) => {
                    *live -= self.chunk_len(o)? as i64;
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
            *live -= self.chunk_len(o)? as i64;
        }
        // Equal indexes mean every chunk was kept.
        self.keep_or_write(w, live, old, INDEX, &index)
    }

    /// The blob of `kind` holding `body`, given the metric's previous one (`old`, 0 if none):
    /// `old` itself when it holds the same bytes, else a new blob (none for an empty body),
    /// the old one counted as dead.
    fn keep_or_write(
        &self,
        w: &mut Appender<'_>,
        live: &mut i64,
        old: u64,
        kind: u8,
        body: &[u8],
    ) -> Result<u64> {
        if old != 0 {
            let old_body = self.blob(old, kind)?;
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
    fn release_index(&self, index: u64, live: &mut i64) -> Result<()> {
        for c in self.blob(index, INDEX)?.chunks_exact(8) {
            *live -= self.chunk_len(u64_at(c, 0))? as i64;
        }
        *live -= self.blob_len(index, INDEX)? as i64;
        Ok(())
    }

    /// Count a removed metric's blobs as no longer live.
    fn release_metric(&self, o: &Entry, live: &mut i64) -> Result<()> {
        if let Name::Blob(off) = o.name {
            *live -= self.blob_len(off, NAME)? as i64;
        }
        if o.parts.blob() != 0 {
            self.release_index(o.parts.blob(), live)?;
        }
        if o.extents.blob() != 0 {
            *live -= self.blob_len(o.extents.blob(), EXTENTS)? as i64;
        }
        Ok(())
    }

    /// Apply `changes` (sorted by id, all under `node`) to the subtree at `node` (level
    /// `level`, 0 = leaf); returns the new subtree's offset (0 when it became empty).
    /// `metrics` follows the number of entries.
    fn update(
        &self,
        w: &mut Appender<'_>,
        live: &mut i64,
        metrics: &mut i64,
        node: u64,
        level: u32,
        changes: &[Change<'_>],
    ) -> Result<u64> {
        if level == 0 {
            return self.update_leaf(w, live, metrics, node, changes);
        }
        let mut body = match node {
            0 => vec![0u8; FAN * 8],
            n => self.node(w, n)?,
        };
        let mut i = 0;
        while i < changes.len() {
            let k = ((changes[i].id >> (FAN_BITS * level)) as usize) % FAN;
            let j = i + changes[i..].partition_point(|c| ((c.id >> (FAN_BITS * level)) as usize) % FAN == k);
            let child = u64_at(&body, 8 * k);
            let new = self.update(w, live, metrics, child, level - 1, &changes[i..j])?;
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

    /// The leaf part of [`Manifest::update`]: decode the leaf, change its entries, write it
    /// packed (none when it became empty).
    fn update_leaf(
        &self,
        w: &mut Appender<'_>,
        live: &mut i64,
        metrics: &mut i64,
        node: u64,
        changes: &[Change<'_>],
    ) -> Result<u64> {
        let base = changes.first().map_or(0, |c| c.id & !(FAN as u64 - 1));
        let (mut slots, old_size) = match node {
            0 => (vec![None; FAN], 0),
            n => self.leaf(n, base)?,
        };
        for c in changes {
            let k = (c.id as usize) % FAN;
            let old = slots[k].take();
            slots[k] = match &c.state {
                Some(state) => Some(self.write_metric(w, live, old.as_ref(), state)?),
                None => {
                    if let Some(o) = &old {
                        self.release_metric(o, live)?;
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
        // Names that no longer fit the leaf (their neighbour changed, or they are new and
        // long) go to NAME blobs.
        let mut prev = String::new();
        for e in slots.iter_mut().flatten() {
            if let Name::Inline(s) = &mut e.name {
                if s.len() - shared_prefix(prev.as_bytes(), s.as_bytes()) <= NAME_SUFFIX_MAX {
                    prev.clone_from(s);
                } else {
                    *live += blob_size(s.len()) as i64;
                    e.name = Name::Blob(w.blob(NAME, s.as_bytes()));
                }
            }
        }
        let body = encode_leaf(&slots);
        *live += blob_size(body.len()) as i64;
        Ok(w.blob(LEAF, &body))
    }

    /// The body of node `off`, in the file or among the blobs `w` is about to append (a new
    /// root made when the tree grows).
    fn node(&self, w: &Appender<'_>, off: u64) -> Result<Vec<u8>> {
        if let Some((_, b)) = w.pinned.iter().find(|(o, _)| *o == off) {
            return Ok(b.clone());
        }
        let b = self.blob(off, NODE)?;
        if b.len() != FAN * 8 {
            return Err(Error::Corruption(format!("MANIFEST offset {off}: node of {} bytes", b.len())));
        }
        Ok(b.to_vec())
    }
}

/// New blobs, appended after the file's end, written out in pieces of a few MiB (a commit of
/// a million metrics must not build its whole output in memory).
struct Appender<'f> {
    file: &'f File,
    /// Where the first new blob goes (the committed end of the file).
    at: u64,
    /// Bytes already written out, after `at`.
    flushed: u64,
    buf: Vec<u8>,
    /// Copies of the blobs this commit reads back (new roots made when the tree grows).
    pinned: Vec<(u64, Vec<u8>)>,
    err: Option<std::io::Error>,
}

// Small under test, so that commits there write out in many pieces.
const FLUSH_BYTES: usize = if cfg!(test) { 4096 } else { 4 << 20 };

impl<'f> Appender<'f> {
    fn new(file: &'f File, at: u64) -> Appender<'f> {
        Appender { file, at, flushed: 0, buf: Vec::new(), pinned: Vec::new(), err: None }
    }

    /// The offset just past the last blob.
    fn end(&self) -> u64 {
        self.at + self.flushed + self.buf.len() as u64
    }

    /// Write out what is buffered; the first error sticks and is returned by `finish`.
    fn flush(&mut self) {
        if self.err.is_none()
            && let Err(e) = sys::write_all_at(self.file, &self.buf, self.at + self.flushed)
        {
            self.err = Some(e);
        }
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
    }

    fn finish(mut self) -> std::io::Result<u64> {
        self.flush();
        match self.err {
            Some(e) => Err(e),
            None => Ok(self.at + self.flushed),
        }
    }

    /// Append a blob that this commit will read back.
    fn pinned_blob(&mut self, kind: u8, body: &[u8]) -> u64 {
        let off = self.blob(kind, body);
        self.pinned.push((off, body.to_vec()));
        off
    }

    fn blob(&mut self, kind: u8, body: &[u8]) -> u64 {
        if self.buf.len() >= FLUSH_BYTES {
            self.flush();
        }
        let off = self.end();
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; BLOB_HEADER]);
        self.buf[start + 4] = kind;
        self.buf[start + 8..start + 12].copy_from_slice(&(body.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(body);
        let crc = crc32fast::hash(&self.buf[start + 4..]);
        self.buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
        self.buf.resize(self.buf.len().next_multiple_of(8), 0);
        off
    }
}

/// Whether `id` is past what a tree of `height` levels spans (64^height ids).
fn beyond(id: u64, height: u32) -> bool {
    id.checked_shr(FAN_BITS * height).is_some_and(|rest| rest > 0)
}

fn blob_size(body: usize) -> u64 {
    (BLOB_HEADER + body).next_multiple_of(8) as u64
}

/// The superblock copy at `at`, if it passes its checks: magic, a format this build reads,
/// checksum, and fields that make sense (a tree no taller than ids need, a file end after
/// the superblocks, a known log state).
fn read_super(buf: &[u8], at: usize) -> Option<Super> {
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
    let tree_ok = sb.height <= MAX_HEIGHT && (sb.root == 0 || (sb.height >= 1 && sb.root >= FIRST_BLOB));
    // Counters a real database never brings near 2^62 (each counts one write, metric or
    // segment): one past it is damage, and would overflow when counted on.
    let h = &sb.header;
    let counters_ok =
        [h.checkpoint_seq, h.next_id, h.next_data_seg, sb.generation, h.log.map_or(0, |l| l.segment)]
            .iter()
            .all(|&c| c < MAX_COUNTER);
    (tree_ok && counters_ok && sb.end >= FIRST_BLOB).then_some(sb)
}

/// A fixed-size block reference (40 bytes: EXTENTS blobs and CHUNK3 parts).
fn put_ref3(e: &mut Vec<u8>, b: &BlockRef) {
    e.extend_from_slice(&b.seg.to_le_bytes());
    e.extend_from_slice(&b.off.to_le_bytes());
    e.extend_from_slice(&b.len.to_le_bytes());
    e.extend_from_slice(&b.count.to_le_bytes());
    e.extend_from_slice(&b.first_ts.to_le_bytes());
    e.extend_from_slice(&b.last_ts.to_le_bytes());
}

/// The fixed-size block reference `r`, read from the blob at `off`.
fn get_ref3(r: &[u8], off: u64) -> Result<BlockRef> {
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

/// The slots of a format-3 leaf (`LEAF3`, at `off`), whose first id is `base`.
fn decode_leaf3(b: &[u8], off: u64, base: u64) -> Result<Slots> {
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
            Name::Inline(s.to_owned())
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

/// How many leading bytes `a` and `b` share.
fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The delta coding of block references in a packed leaf: each is coded against the one
/// before it (fields alike in neighbouring references cost a byte).
#[derive(Default)]
struct RefCoder {
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
    fn put(&mut self, out: &mut Vec<u8>, r: &BlockRef, base: i64) {
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

    fn get(&mut self, rd: &mut Reader<'_>, base: i64) -> Result<BlockRef> {
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
fn encode_leaf(slots: &[Option<Entry>]) -> Vec<u8> {
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
fn decode_leaf(b: &[u8], off: u64) -> Result<Slots> {
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
            Name::Inline(s.to_owned())
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

/// Parts coded one after the other: ± start - t, then the block ref based on start (t: the
/// previous part's last_ts; t and the references' deltas start from 0).
fn put_parts(out: &mut Vec<u8>, refs: &mut RefCoder, t: &mut i64, parts: &[PartRef]) {
    for p in parts {
        put_varint(zigzag(p.start.wrapping_sub(*t)), out);
        refs.put(out, &p.block, p.start);
        *t = p.block.last_ts;
    }
}

fn get_part(rd: &mut Reader<'_>, refs: &mut RefCoder, t: &mut i64) -> Result<PartRef> {
    let start = t.wrapping_add(rd.signed()?);
    let block = refs.get(rd, start)?;
    *t = block.last_ts;
    Ok(PartRef { start, block })
}

/// The body of a packed chunk (`CHUNK`) of `parts`: their number, then the parts. The same
/// parts give the same bytes.
fn encode_chunk(parts: &[PartRef]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.len() * 12);
    put_varint(parts.len() as u64, &mut out);
    put_parts(&mut out, &mut RefCoder::default(), &mut 0, parts);
    out
}

/// Append the parts of the packed chunk at `off`, of body `b`, to `out`.
fn decode_chunk(b: &[u8], off: u64, out: &mut Vec<PartRef>) -> Result<()> {
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

/// The fuzz targets' way to the blob decoders (`src/fuzzing.rs`): decode `body` as a blob of
/// `kind` (a leaf of either format with first id `base`, or a chunk of either format), and
/// for the packed kinds check that coding what was decoded decodes to the same again. An
/// error is a rejected body; a panic is a bug.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_blob(kind: u8, body: &[u8], base: u64) -> Result<()> {
    const OFF: u64 = FIRST_BLOB;
    match kind {
        LEAF => {
            let slots = decode_leaf(body, OFF)?;
            let again = decode_leaf(&encode_leaf(&slots), OFF).expect("a coded leaf decodes");
            assert_eq!(again, slots, "a packed leaf decodes to what it was coded from");
        }
        CHUNK => {
            let mut parts = Vec::new();
            decode_chunk(body, OFF, &mut parts)?;
            let mut again = Vec::new();
            decode_chunk(&encode_chunk(&parts), OFF, &mut again).expect("a coded chunk decodes");
            assert_eq!(again, parts, "a packed chunk decodes to what it was coded from");
        }
        LEAF3 => {
            let slots = decode_leaf3(body, OFF, base & !(FAN as u64 - 1))?;
            // A commit writes a format-3 leaf's entries packed.
            if slots.iter().any(Option::is_some) {
                let again = decode_leaf(&encode_leaf(&slots), OFF).expect("a coded leaf decodes");
                assert_eq!(again, slots, "format-3 entries, packed, decode to the same");
            }
        }
        _ => {
            for p in body.chunks_exact(PART) {
                get_ref3(&p[8..], OFF)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::shapes::Rng;

    fn r(seg: u64, off: u64) -> BlockRef {
        BlockRef { seg, off, len: 100, count: 10, first_ts: off as i64, last_ts: off as i64 + 9 }
    }

    /// Metrics by id: name, parts, extents, retention.
    type State = std::collections::BTreeMap<u64, (String, Vec<PartRef>, Vec<BlockRef>, i64)>;

    fn loaded(m: &Manifest) -> State {
        let mut s = State::new();
        m.load(|e| {
            s.insert(e.id, (e.name, e.parts, e.extents, e.retention));
            Ok(())
        })
        .unwrap();
        s
    }

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tsdb-manifest-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        d
    }

    /// Commit the metrics `ids` as `state` has them (absent: removed), then check that the
    /// manifest holds `state` and that its live bytes are exactly the blobs the tree reaches.
    fn commit(m: &mut Manifest, state: &State, ids: impl IntoIterator<Item = u64>, closing: bool) {
        let changes: Vec<Change<'_>> = ids
            .into_iter()
            .map(|id| Change {
                id,
                state: state.get(&id).map(|e| MetricState {
                    name: &e.0,
                    parts: &e.1,
                    extents: &e.2,
                    retention: e.3,
                }),
            })
            .collect();
        let next_id = state.keys().last().map_or(1, |id| id + 1);
        let commit = Commit { checkpoint_seq: 1, next_id, next_data_seg: 3, log: None };
        m.commit(&changes, commit, false, closing).unwrap();
        assert_eq!(loaded(m), *state);
        assert_eq!(m.sizes().1, FIRST_BLOB + reachable(m), "live bytes");
    }

    /// Bytes of the blobs reachable from the root, by walking the tree.
    fn reachable(m: &Manifest) -> u64 {
        fn walk(m: &Manifest, node: u64, level: u32, base: u64) -> u64 {
            let (_, body) = m.blob_of(node, &[NODE, LEAF, LEAF3]).unwrap();
            let mut n = blob_size(body.len());
            if level > 0 {
                for k in 0..FAN {
                    let child = u64_at(body, 8 * k);
                    if child != 0 {
                        n += walk(m, child, level - 1, base + ((k as u64) << (FAN_BITS * level)));
                    }
                }
                return n;
            }
            for e in m.leaf(node, base).unwrap().0.into_iter().flatten() {
                if let Name::Blob(off) = e.name {
                    n += m.blob_len(off, NAME).unwrap();
                }
                if e.parts.blob() != 0 {
                    let index = m.blob(e.parts.blob(), INDEX).unwrap();
                    n += blob_size(index.len());
                    for c in index.chunks_exact(8) {
                        n += m.chunk_len(u64_at(c, 0)).unwrap();
                    }
                }
                if e.extents.blob() != 0 {
                    n += m.blob_len(e.extents.blob(), EXTENTS).unwrap();
                }
            }
            n
        }
        match m.sb.root {
            0 => 0,
            root => walk(m, root, m.sb.height - 1, 0),
        }
    }

    /// Metric `id`'s entry as its leaf holds it.
    fn entry_of(m: &Manifest, id: u64) -> Option<Entry> {
        let mut node = m.sb.root;
        for level in (1..m.sb.height).rev() {
            if node == 0 {
                return None;
            }
            node = u64_at(m.blob(node, NODE).unwrap(), 8 * (((id >> (FAN_BITS * level)) as usize) % FAN));
        }
        if node == 0 {
            return None;
        }
        m.leaf(node, id & !(FAN as u64 - 1)).unwrap().0[(id as usize) % FAN].clone()
    }

    #[test]
    fn commits_write_only_what_changed_and_reopen_to_the_same_state() {
        let d = tmp("random");
        let mut rng = Rng::new(1, 0);
        let (mut m, h) = Manifest::create(&d, false).unwrap();
        assert_eq!(
            (h.checkpoint_seq, h.next_id, h.log),
            (0, 1, Some(LogStart { segment: 1, exists: false }))
        );
        let mut state = State::new();
        let mut next_id = 1;
        for round in 0..60u64 {
            let mut touched = std::collections::BTreeSet::new();
            for _ in 0..1 + rng.below(300) {
                match rng.below(10) {
                    0 if next_id < 20_000 => {
                        let id = next_id;
                        next_id += 1 + rng.below(3000); // sparse ids: the tree grows higher
                        // Names in the leaf, sharing prefixes or not, and names in blobs.
                        let name = match id % 7 {
                            0 => format!("host-{id:08}.a.rather.long.metric.name"),
                            1 => format!("{id}.{}", "x".repeat(70)),
                            2 => format!("{}.{id}", "y".repeat(90)),
                            _ => format!("m.{id}"),
                        };
                        let retention = [0, -1, 3600, i64::MIN][rng.below(4) as usize];
                        state.insert(id, (name, Vec::new(), Vec::new(), retention));
                        touched.insert(id);
                    }
                    1 => {
                        if let Some(&id) = state.keys().nth(rng.below(state.len().max(1) as u64) as usize) {
                            state.remove(&id);
                            touched.insert(id);
                        }
                    }
                    _ => {
                        if let Some(&id) = state.keys().nth(rng.below(state.len().max(1) as u64) as usize) {
                            let e = state.get_mut(&id).unwrap();
                            if rng.below(2) == 0 {
                                let n = e.1.len() as i64;
                                e.1.push(PartRef { start: n * 100, block: r(round, rng.below(1 << 30)) });
                                if rng.below(5) == 0 && !e.1.is_empty() {
                                    let k = rng.below(e.1.len() as u64) as usize;
                                    e.1[k].block = r(round, 7);
                                }
                            } else if rng.below(3) == 0 {
                                e.2.clear();
                            } else {
                                e.2.push(r(round, rng.below(1000)));
                            }
                            touched.insert(id);
                        }
                    }
                }
            }
            let changes: Vec<Change<'_>> = touched
                .iter()
                .map(|&id| Change {
                    id,
                    state: state.get(&id).map(|e| MetricState {
                        name: &e.0,
                        parts: &e.1,
                        extents: &e.2,
                        retention: e.3,
                    }),
                })
                .collect();
            let before = m.sizes().0;
            let log = Some(LogStart { segment: round, exists: round % 2 == 0 });
            let commit = Commit { checkpoint_seq: round, next_id, next_data_seg: 3, log };
            m.commit(&changes, commit, false, false).unwrap();
            let written = m.sizes().0.saturating_sub(before);
            // A commit writes about what changed (a leaf and a path per metric, plus its
            // changed chunks), not the whole manifest.
            assert!(
                written < 16_000 * (changes.len() as u64 + 4),
                "{written} bytes for {} changes",
                changes.len()
            );
            assert_eq!(loaded(&m), state, "round {round}");
            assert_eq!(m.sizes().1, FIRST_BLOB + reachable(&m), "live bytes, round {round}");
            if round % 10 == 9 {
                let (again, h) = Manifest::open(&d, false).unwrap();
                assert_eq!((h.checkpoint_seq, h.log), (round, log));
                assert_eq!(loaded(&again), state);
                m = again;
            }
        }
        let (file, live) = m.sizes();
        assert!(file <= 2 * live + (2 << 20), "rewrites keep the file near its live size: {file} vs {live}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_superblock_falls_back_and_damage_is_corruption() {
        let d = tmp("torn");
        let (mut m, _) = Manifest::create(&d, false).unwrap();
        let parts = vec![PartRef { start: 0, block: r(1, 64) }];
        let h = |seq| Commit { checkpoint_seq: seq, next_id: 2, next_data_seg: 2, log: None };
        let state = |extents| MetricState { name: "a", parts: &parts, extents, retention: 0 };
        m.commit(&[Change { id: 1, state: Some(state(&[])) }], h(1), false, false).unwrap();
        let path = d.join(FILE);
        let first = std::fs::read(&path).unwrap();
        m.commit(&[Change { id: 1, state: Some(state(&[r(1, 500)])) }], h(2), false, false).unwrap();
        drop(m);
        let good = std::fs::read(&path).unwrap();
        let seq_of = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            Manifest::open(&d, false).map(|(_, h)| h.checkpoint_seq)
        };
        // One damaged copy: the other has the same generation.
        let mut b = good.clone();
        b[20] ^= 1;
        assert_eq!(seq_of(&b).unwrap(), 2);
        // A crash while writing copy 0 of generation 2: copy 1 still says generation 1,
        // whose blobs are all there (the log was not truncated yet).
        b[SLOT as usize..SLOT as usize + SUPER_LEN]
            .copy_from_slice(&first[SLOT as usize..SLOT as usize + SUPER_LEN]);
        assert_eq!(seq_of(&b).unwrap(), 1);
        // A crash between the copies: copy 0 is new and whole.
        let mut b = good.clone();
        b[SLOT as usize..SLOT as usize + SUPER_LEN]
            .copy_from_slice(&first[SLOT as usize..SLOT as usize + SUPER_LEN]);
        assert_eq!(seq_of(&b).unwrap(), 2);
        // Both damaged: corruption.
        let mut b = good.clone();
        b[20] ^= 1;
        b[SLOT as usize + 20] ^= 1;
        assert!(matches!(seq_of(&b), Err(Error::Corruption(_))));
        let (m, _) = {
            std::fs::write(&path, &good).unwrap();
            Manifest::open(&d, false).unwrap()
        };
        assert_eq!(loaded(&m)[&1].2, vec![r(1, 500)]);
        drop(m);
        // Damage a blob: corruption naming the offset.
        let mut b = good.clone();
        let last = b.len() - 20;
        b[last] ^= 1;
        std::fs::write(&path, &b).unwrap();
        let (m, _) = Manifest::open(&d, false).unwrap();
        let err = m.load(|_| Ok(())).unwrap_err();
        assert!(matches!(&err, Error::Corruption(msg) if msg.starts_with("MANIFEST offset")), "{err:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A leaf's slots: every kind of name and list, extreme values.
    fn sample_slots() -> Slots {
        let mut slots: Slots = vec![None; FAN];
        let b = |k: u64| BlockRef {
            seg: k % 3 + 1,
            off: 4096 + 700 * k,
            len: 700,
            count: 600,
            first_ts: 1_700_000_000_000 + k as i64,
            last_ts: 1_700_000_600_000,
        };
        for k in 0..FAN as u64 {
            let name = match k % 5 {
                0 => Name::Inline(format!("bench.disk.m{k:04}")),
                1 => Name::Inline(format!("bench.disk.m{k:04}.{}", "z".repeat(k as usize))),
                2 => Name::Blob(8192 + 8 * k),
                3 => Name::Inline("é".repeat(k as usize % 7)), // may share half a character
                _ => Name::Inline(String::new()),
            };
            let parts = match k % 4 {
                0 => Refs::Inline(Vec::new()),
                1 => Refs::Inline(
                    (0..k.min(4))
                        .map(|i| PartRef { start: 1_699_000_000_000 + i as i64 * 1000, block: b(k + i) })
                        .collect(),
                ),
                2 => Refs::Blob { off: 1 << 40, count: 5 + k },
                _ => Refs::Inline(vec![PartRef {
                    start: i64::MIN,
                    block: BlockRef {
                        seg: u64::MAX,
                        off: u64::MAX,
                        len: u32::MAX,
                        count: u32::MAX,
                        first_ts: i64::MIN,
                        last_ts: i64::MAX,
                    },
                }]),
            };
            let extents = match k % 3 {
                0 => Refs::Inline(vec![b(k)]),
                1 => Refs::Blob { off: 8200, count: u64::from(u32::MAX) },
                _ => Refs::Inline((0..4).map(|i| b(k * 4 + i)).collect()),
            };
            let retention = [0, -1, i64::MAX, i64::MIN, 86_400_000][k as usize % 5];
            slots[k as usize] = Some(Entry { name, retention, parts, extents });
        }
        slots
    }

    #[test]
    fn packed_leaves_round_trip() {
        let full = sample_slots();
        let mut cases = vec![full.clone()];
        // One entry, first or last; every other slot; and a run of names sharing prefixes.
        for keep in [0usize, 63, 1] {
            let mut one = full.clone();
            for (k, e) in one.iter_mut().enumerate() {
                if (keep == 1 && k % 2 == 1) || (keep != 1 && k != keep) {
                    *e = None;
                }
            }
            cases.push(one);
        }
        for slots in &cases {
            let body = encode_leaf(slots);
            assert_eq!(&decode_leaf(&body, 777).unwrap(), slots);
            // Encoding is deterministic: the same slots give the same bytes.
            assert_eq!(encode_leaf(&decode_leaf(&body, 777).unwrap()), body);
        }
        // Names sharing a prefix cost their suffix, references like their neighbours a byte
        // a field: entries like those of "recorded, short" (one extent each) take about 12.
        let similar: Slots = (0..FAN as u64)
            .map(|k| {
                Some(Entry {
                    name: Name::Inline(format!("bench.disk.m{:04}", 1000 + k)),
                    retention: 0,
                    parts: Refs::Inline(Vec::new()),
                    extents: Refs::Inline(vec![BlockRef {
                        seg: 1,
                        off: 4096 + 700 * k,
                        len: 700,
                        count: 600,
                        first_ts: 1_700_000_000_000,
                        last_ts: 1_700_000_000_000 + 599 * 10_000,
                    }]),
                })
            })
            .collect();
        let body = encode_leaf(&similar);
        assert_eq!(decode_leaf(&body, 777).unwrap(), similar);
        assert!(body.len() < 8 + 13 * FAN, "{} bytes", body.len());
    }

    fn leaf_error(body: &[u8]) -> String {
        match decode_leaf(body, 777) {
            Err(Error::Corruption(m)) => {
                assert!(m.starts_with("MANIFEST offset 777: packed leaf: "), "{m}");
                m
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_or_garbled_packed_leaves_are_corruption() {
        let body = encode_leaf(&sample_slots());
        // Every entry needs all its bytes, and the body must end with the last one.
        for n in 0..body.len() {
            leaf_error(&body[..n]);
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(leaf_error(&longer).contains("1 bytes after the last entry"));
        // Garbled bodies (as if a checksum had failed to catch them): never a panic, and an
        // error is a corruption naming the blob.
        let mut rng = Rng::new(7, 0);
        for _ in 0..20_000 {
            let mut b = body.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len() as u64) as usize;
                b[at] = rng.next_u64() as u8;
            }
            if let Err(e) = decode_leaf(&b, 777) {
                assert!(
                    matches!(&e, Error::Corruption(m) if m.starts_with("MANIFEST offset 777: packed leaf: "))
                );
            }
            let random: Vec<u8> = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect();
            let _ = decode_leaf(&random, 777);
        }
        // Each check, on a crafted entry in slot 0.
        let leaf = |entry: &[u8]| {
            let mut b = 1u64.to_le_bytes().to_vec();
            b.extend_from_slice(entry);
            leaf_error(&b)
        };
        assert!(leaf_error(&0u64.to_le_bytes()).contains("no entries"));
        assert!(leaf(&[2 << 1, 1, b'a', 0, 0, 0]).contains("sharing 2 bytes of a 0-byte one"));
        assert!(leaf(&[0, 5, b'a']).contains("5 bytes run past the end"));
        assert!(leaf(&[0, 1, 0xff, 0, 0, 0]).contains("not UTF-8"));
        assert!(leaf(&[0, 0, 0, 1]).contains("an empty list kept in a blob"));
        assert!(leaf(&[0, 0, 0, 9 << 1]).contains("a list of 9 in 0 bytes"));
        assert!(leaf(&[0; 1]).contains("varint"));
        let mut long = vec![0, 0];
        long.extend_from_slice(&[0x80; 10]);
        long.push(1);
        assert!(leaf(&long).contains("varint"));
        // An extent: ± first_ts, then ± differences: span, segment, offset, length, count.
        let extent = |fields: &[u8]| {
            let mut e = vec![0, 0, 0, 0, 2];
            e.extend_from_slice(fields);
            leaf(&e)
        };
        assert!(extent(&[0, 0, 0, 0, 2, 0]).contains("block reference of no points"));
        assert!(
            extent(&[0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x40, 2]).contains("0 + 8589934592 where a 32-bit")
        );
        assert!(extent(&[0, 0, 0, 0, 1, 2]).contains("0 + -1 where a 32-bit"));
        let mut past = vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        past.extend_from_slice(&[2, 0, 0, 2, 2]);
        assert!(extent(&past).contains("past the last timestamp"));
        // A good one, for contrast: name "", retention 0, no parts, one extent.
        let mut good = 1u64.to_le_bytes().to_vec();
        good.extend_from_slice(&[0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 2]);
        assert!(decode_leaf(&good, 777).is_ok());
    }

    #[test]
    fn entries_move_between_leaf_and_blobs_as_they_change() {
        let d = tmp("moves");
        let (mut m, _) = Manifest::create(&d, false).unwrap();
        let mut state = State::new();
        // A full leaf (ids 64..128) of names sharing prefixes, and one in the next leaf.
        let long = "p".repeat(100);
        for id in 64..128u64 {
            let name = match id {
                70 => format!("{long}.a"), // too long to keep in the leaf on its own
                71 => format!("{long}.b"), // shares 101 bytes with a name in a blob
                _ => format!("cpu.{id}"),
            };
            state.insert(id, (name, Vec::new(), Vec::new(), 0));
        }
        state.insert(130, ("disk".into(), Vec::new(), Vec::new(), -1));
        commit(&mut m, &state, state.keys().copied().collect::<Vec<_>>(), false);
        assert!(matches!(entry_of(&m, 70).unwrap().name, Name::Blob(_)));
        // 71 shares nothing with 69 (70's name is not in the leaf): a blob as well.
        assert!(matches!(entry_of(&m, 71).unwrap().name, Name::Blob(_)));
        assert!(matches!(entry_of(&m, 72).unwrap().name, Name::Inline(_)));
        // A name kept in the leaf thanks to its neighbour (ids 192, 193: a fresh leaf) goes
        // to a blob when the neighbour goes.
        state.insert(192, ("q".repeat(60), Vec::new(), Vec::new(), 0));
        state.insert(193, (format!("{}{}", "q".repeat(60), "r".repeat(30)), Vec::new(), Vec::new(), 0));
        commit(&mut m, &state, [192, 193], false);
        assert!(matches!(entry_of(&m, 193).unwrap().name, Name::Inline(_)), "90 bytes, 30 of them its own");
        state.remove(&192);
        commit(&mut m, &state, [192], false);
        assert!(matches!(entry_of(&m, 193).unwrap().name, Name::Blob(_)), "now 90 of its own");
        // ... and keeps its blob when its entry changes later.
        let blob = entry_of(&m, 193).unwrap().name;
        state.get_mut(&193).unwrap().2.push(r(1, 1));
        commit(&mut m, &state, [193], false);
        assert_eq!(entry_of(&m, 193).unwrap().name, blob);
        // A metric's parts and extents grow past what the leaf holds (and past two chunks)
        // and shrink back.
        for n in 1..=600u64 {
            let e = state.get_mut(&100).unwrap();
            e.1.push(PartRef { start: n as i64 * 1000, block: r(n, n * 4096) });
            if n % 3 == 0 {
                e.2.push(r(n, 7));
            }
            if n % 40 == 0 {
                e.2.truncate(2);
            }
            if n % 7 == 0 {
                continue; // commits of several new parts at once
            }
            e.3 = n as i64;
            commit(&mut m, &state, [100], false);
            let got = entry_of(&m, 100).unwrap();
            assert_eq!(matches!(got.parts, Refs::Inline(_)), n <= INLINE_REFS as u64, "{n} parts");
            assert_eq!(matches!(got.extents, Refs::Inline(_)), state[&100].2.len() <= INLINE_REFS);
        }
        // A changed part in the middle, then the list cut back to 3 (in the leaf again).
        state.get_mut(&100).unwrap().1[290].block = r(9, 9);
        commit(&mut m, &state, [100], false);
        state.get_mut(&100).unwrap().1.truncate(3);
        state.get_mut(&100).unwrap().2.clear();
        commit(&mut m, &state, [100], false);
        assert!(matches!(entry_of(&m, 100).unwrap().parts, Refs::Inline(ref v) if v.len() == 3));
        // Reopened, and rewritten whole (a close's compaction), it is the same.
        let (again, _) = Manifest::open(&d, false).unwrap();
        assert_eq!(loaded(&again), state);
        m = again;
        commit(&mut m, &state, [100], true);
        // Removal: a leaf emptied is no blob, a tree emptied is no root.
        let ids: Vec<u64> = state.keys().copied().collect();
        state.clear();
        commit(&mut m, &state, ids, false);
        assert_eq!((m.sb.root, m.sb.header.metrics, m.sizes().1), (0, 0, FIRST_BLOB));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_garbled_leaf_with_a_good_checksum_is_corruption_naming_it() {
        let d = tmp("garbled");
        let (mut m, _) = Manifest::create(&d, false).unwrap();
        let mut state = State::new();
        state.insert(1, ("a.metric".into(), vec![PartRef { start: 0, block: r(1, 64) }], vec![r(1, 500)], 0));
        commit(&mut m, &state, [1], false);
        let leaf = m.sb.root as usize;
        drop(m);
        let path = d.join(FILE);
        let good = std::fs::read(&path).unwrap();
        let len = u32_at(&good, leaf + 8) as usize;
        let mut rng = Rng::new(11, 0);
        let mut failed = 0;
        for k in 0..len {
            let mut b = good.clone();
            b[leaf + BLOB_HEADER + k] ^= 1 << rng.below(8);
            let crc = crc32fast::hash(&b[leaf + 4..leaf + BLOB_HEADER + len]);
            b[leaf..leaf + 4].copy_from_slice(&crc.to_le_bytes());
            std::fs::write(&path, &b).unwrap();
            let (m, _) = Manifest::open(&d, false).unwrap();
            match m.load(|_| Ok(())) {
                Err(Error::Corruption(msg)) => {
                    assert!(msg.starts_with("MANIFEST offset"), "{msg}");
                    failed += 1;
                }
                Err(e) => panic!("{e:?}"),
                Ok(()) => {} // another valid leaf: what checksums are for
            }
        }
        assert!(failed > 0, "{failed} of {len} garbled leaves refused");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_unknown_format_is_named() {
        let d = tmp("format");
        let (m, _) = Manifest::create(&d, false).unwrap();
        drop(m);
        let path = d.join(FILE);
        let good = std::fs::read(&path).unwrap();
        for format in [2u32, 6] {
            let mut b = good.clone();
            for slot in [0, SLOT as usize] {
                b[slot + 8..slot + 12].copy_from_slice(&format.to_le_bytes());
                let crc = crc32fast::hash(&b[slot..slot + SUPER_LEN - 4]);
                b[slot + SUPER_LEN - 4..slot + SUPER_LEN].copy_from_slice(&crc.to_le_bytes());
            }
            std::fs::write(&path, &b).unwrap();
            match Manifest::open(&d, false) {
                Err(Error::Corruption(msg)) => assert_eq!(
                    msg,
                    format!("MANIFEST offset 0: manifest format {format}, this build reads formats 3 to 5")
                ),
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn packed_chunks_round_trip_and_an_append_rewrites_the_last_one() {
        let mut rng = Rng::new(5, 0);
        let mut parts = Vec::new();
        let mut t = 1_700_000_000_000i64;
        for k in 0..300u64 {
            let first = t + rng.below(3) as i64;
            let last = first + 4095 * 10_000 + rng.below(100) as i64;
            let r = BlockRef {
                seg: 1 + k / 100,
                off: 32 + 1000 * k,
                len: 900 + k as u32 % 7,
                count: 4096,
                first_ts: first,
                last_ts: last,
            };
            parts.push(PartRef { start: t, block: r });
            t = last + 10_000;
        }
        parts.push(PartRef {
            start: i64::MAX,
            block: BlockRef { seg: 0, off: 0, len: 0, count: 1, first_ts: i64::MAX, last_ts: i64::MAX },
        });
        let body = encode_chunk(&parts);
        assert!(body.len() < 12 * parts.len() + 20, "{} bytes for {} parts", body.len(), parts.len());
        let mut got = Vec::new();
        decode_chunk(&body, 99, &mut got).unwrap();
        assert_eq!(got, parts);
        for n in 0..body.len() {
            let mut out = Vec::new();
            match decode_chunk(&body[..n], 99, &mut out) {
                Err(Error::Corruption(m)) => {
                    assert!(m.starts_with("MANIFEST offset 99: packed chunk: "), "{m}")
                }
                other => panic!("{other:?}"),
            }
        }
        for _ in 0..5000 {
            let mut b = body.clone();
            let at = rng.below(b.len() as u64) as usize;
            b[at] = rng.next_u64() as u8;
            if let Err(e) = decode_chunk(&b, 99, &mut Vec::new()) {
                assert!(
                    matches!(&e, Error::Corruption(m) if m.starts_with("MANIFEST offset 99: packed chunk: "))
                );
            }
        }
        // In a manifest: appending a part writes the last chunk, the index and the leaf;
        // the first chunk keeps its blob.
        let d = tmp("chunks");
        let (mut m, _) = Manifest::create(&d, false).unwrap();
        let mut state = State::new();
        state.insert(1, ("m".into(), parts[..290].to_vec(), Vec::new(), 0));
        commit(&mut m, &state, [1], false);
        let chunks = |m: &Manifest| -> Vec<u64> {
            let e = entry_of(m, 1).unwrap();
            m.blob(e.parts.blob(), INDEX).unwrap().chunks_exact(8).map(|c| u64_at(c, 0)).collect()
        };
        let before = chunks(&m);
        let end = m.sizes().0;
        state.get_mut(&1).unwrap().1.push(parts[290]);
        commit(&mut m, &state, [1], false);
        let after = chunks(&m);
        assert_eq!((before.len(), after.len(), before[0]), (2, 2, after[0]));
        assert_ne!(before[1], after[1]);
        let written = m.sizes().0 - end;
        assert!(written < 1000, "{written} bytes");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
