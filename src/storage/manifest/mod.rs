//! The manifest: the on-disk form of the global transaction and the partition maps — a
//! copy-on-write radix tree over metric ids whose leaves hold packed metric entries
//! (docs/format.md, "Manifest"). A checkpoint appends new versions of the blobs it changed (a metric's leaf,
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
//! A commit decodes each leaf it changes into entries (`leaf::Entry`), changes them and
//! encodes the leaf again: a name whose suffix would be over `NAME_SUFFIX_MAX` bytes goes to a NAME
//! blob (which its metric keeps), and more than `INLINE_REFS` parts or extents go to blobs.
//! The encoding is a function of the entries; decoding checks every read against the body.
//!
//! Format 3 is still read: its leaves (`LEAF3`) stay in the file, and are read, until a
//! commit changes one of their entries (the leaf is then written packed) or the file is
//! rewritten; a metric from it keeps its blobs while they do not change (an INDEX may list
//! CHUNK3 blobs until its part list changes, when all its chunks are written packed).
//!
//! This module owns the file (open, commit, rewrite, load) and the types callers see; one
//! submodule owns each structure in it, and the others go through its functions:
//! - `superblock`: the two copies, their layout, checks and which one is current;
//! - `blob`: the blob frame, reading a blob back (`Blobs`) and appending new ones (`Appender`);
//! - `tree`: the radix tree's nodes, the walk of a load and the copy-on-write update;
//! - `leaf`: the packed leaf and a metric's entry in it, and where its name goes;
//! - `leaf3`: format 3's leaves and chunks, read only;
//! - `refs`: block references (fixed-size, and delta-coded), part lists, packed chunks;
//! - `metric`: a metric's NAME, INDEX, chunk and EXTENTS blobs: read, written, released.

mod blob;
mod leaf;
mod leaf3;
mod metric;
mod refs;
mod superblock;
#[cfg(test)]
mod tests;
mod tree;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use self::blob::{Appender, Blobs};
#[cfg(feature = "fuzzing")]
pub use self::superblock::FORMAT;
pub(crate) use self::superblock::MAX_COUNTER;
use self::superblock::{FIRST_BLOB, Super};
use super::{LogStart, io_err, sync_dir};
use crate::sys::{self, ReadMap};
use crate::{Error, Result};

pub const FILE: &str = "MANIFEST";
/// Where a new manifest file is written before it is renamed over `MANIFEST` (a rewrite,
/// or a new database's first one); a leftover of a failed step is deleted the next time.
pub const REWRITE_DIR: &str = "manifest-rewrite";

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
    /// Shared: an open keeps it as the metric's name (no copy).
    pub name: Arc<str>,
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
        m.sb = Super::current(m.bytes())?;
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

    /// Every metric, ascending id, handed to `f` as its leaf is decoded (the tree is not
    /// collected first). Every blob is checked; damage is a corruption error naming the
    /// offset, which may come after `f` has seen some metrics: a caller keeps what `f`
    /// gathered only when this returns `Ok`.
    pub fn load(&self, mut f: impl FnMut(MetricEntry) -> Result<()>) -> Result<()> {
        let blobs = self.blobs();
        let mut seen = HashSet::new();
        let mut count = 0u64;
        if self.sb.root != 0 {
            let mut each = |id: u64, e: leaf::Entry, seen: &mut HashSet<u64>| {
                count += 1;
                f(metric::read(&blobs, id, e, seen)?)
            };
            tree::walk(&blobs, self.sb.root, self.sb.height - 1, 0, &mut seen, &mut each)?;
        }
        if count != self.sb.header.metrics {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: superblock counts {} metrics, the tree holds {count}",
                self.sb.header.metrics,
            )));
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
        tree::grow(&mut sb, &mut w, max_id);
        let mut metrics = sb.header.metrics as i64;
        let mut live = sb.live as i64;
        if !changes.is_empty() {
            sb.root = tree::update(
                &self.blobs(),
                &mut w,
                &mut live,
                &mut metrics,
                sb.root,
                sb.height - 1,
                changes,
            )?;
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
        if !sb.valid() {
            // Only a damaged manifest (a counter near 2^62 with a valid checksum) gets here.
            let h = &sb.header;
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: this commit would write a superblock no open accepts (next metric id \
                 {}, checkpoint {}, next data segment {}, generation {}, tree height {}: each must stay \
                 below 2^62, the height at most 11); the manifest is left as it was",
                h.next_id, h.checkpoint_seq, h.next_data_seg, sb.generation, sb.height
            )));
        }
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
        Super::damaged(self.bytes())
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

    fn write_super(&self) -> Result<()> {
        self.sb.write(&self.file, &self.dir.join(FILE), self.fsync)
    }

    /// The blobs of the file, up to the current superblock's end.
    fn blobs(&self) -> Blobs<'_> {
        Blobs::new(self.bytes(), self.sb.end)
    }
}

/// The fuzz targets' way to the blob decoders (`src/fuzzing/`): decode `body` as a blob of
/// `kind` (a leaf of either format with first id `base`, or a chunk of either format), and
/// for the packed kinds check that coding what was decoded decodes to the same again. An
/// error is a rejected body; a panic is a bug.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_blob(kind: u8, body: &[u8], base: u64) -> Result<()> {
    use self::blob::{CHUNK, LEAF, LEAF3};
    use self::leaf::{decode_leaf, encode_leaf};
    use self::refs::{decode_chunk, encode_chunk};
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
            let slots = leaf3::decode_leaf3(body, OFF, base & !(tree::FAN as u64 - 1))?;
            // A commit writes a format-3 leaf's entries packed.
            if slots.iter().any(Option::is_some) {
                let again = decode_leaf(&encode_leaf(&slots), OFF).expect("a coded leaf decodes");
                assert_eq!(again, slots, "format-3 entries, packed, decode to the same");
            }
        }
        _ => leaf3::decode_chunk3(body, OFF, &mut Vec::new())?,
    }
    Ok(())
}
