//! Data segments: large append-only files of codec blocks, read through a shared map.
//!
//! ```text
//! │ magic "TSDBSEG1" │ format u32 │ 0 u32 │ segment no u64 │ 0 u32 │ crc u32 of the 28 before │
//! │ block │ block │ ...   (each a codec block, see docs/codec.md; 8-byte aligned)
//! ```
//!
//! Blocks are addressed by (segment, offset, length) from the manifest and carry their own
//! checksums. A segment being written is a sparse file of its full capacity, mapped whole,
//! so blocks appended later are readable through the same map; writes go through `pwrite`
//! (a full disk is an error, never a signal). When the last reference goes, a segment is
//! trimmed to the bytes it uses.
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::{FILE_HEADER_LEN, check_file_header, file_header, file_name, io_err, sync_dir};
use crate::sys::fork::Owner;
use crate::sys::{self, ReadMap};
use crate::{Error, Result};

pub const MAGIC: [u8; 8] = *b"TSDBSEG1";
pub const FORMAT: u32 = 1;
pub const HEADER_LEN: u64 = FILE_HEADER_LEN as u64;
/// Extension of data segment files.
pub const EXT: &str = "seg";
/// Capacity of a new data segment (sparse until written).
pub const SEGMENT_BYTES: u64 = 256 << 20;

/// One data segment file, mapped for reading.
pub struct DataSegment {
    pub no: u64,
    path: PathBuf,
    /// Name relative to the database directory, for messages: `data/00000001.seg`.
    label: String,
    file: File,
    map: ReadMap,
    /// Bytes in use (header and blocks). The file may be longer: room to grow.
    used: AtomicU64,
    /// Bytes of blocks some live `Sealed` refers to (see `Sealed::drop`).
    live: AtomicU64,
    reclaim: Arc<Reclaim>,
}

/// Space reclamation shared by a database's segments. A segment dies when nothing refers
/// to it any more (no snapshot, no version, not being written). The manifest on disk may
/// still name it, until a checkpoint rewrites the metrics that referred to it: every change
/// of a partition map marks its metric dirty before the old map can go, so a checkpoint
/// whose dirty list was taken after the death (a later *epoch*) no longer names the
/// segment, and deletes its file once committed.
#[derive(Default)]
pub struct Reclaim {
    inner: Mutex<ReclaimInner>,
    /// The process that opened the database: in a forked child a segment's drop touches
    /// neither its file nor this (see `sys::fork`).
    owner: Owner,
}

#[derive(Default)]
struct ReclaimInner {
    /// The database is closing: segments that drop now are not dead, just closed.
    closing: bool,
    /// Advanced by each checkpoint when it takes the dirty list.
    epoch: u64,
    /// Dead segments and the epoch they died in.
    dead: Vec<(u64, PathBuf)>,
    /// Every segment, for compaction to find the mostly dead ones.
    all: Vec<std::sync::Weak<DataSegment>>,
}

impl Reclaim {
    /// A checkpoint takes its dirty list: a new epoch begins. Returns it.
    pub fn next_epoch(&self) -> u64 {
        let mut g = self.inner.lock();
        g.epoch += 1;
        g.epoch
    }

    /// The checkpoint of `epoch` committed: delete the segments that died before it began.
    pub fn committed(&self, epoch: u64) -> Result<()> {
        let gone: Vec<PathBuf> = {
            let mut g = self.inner.lock();
            let (gone, keep): (Vec<_>, Vec<_>) =
                std::mem::take(&mut g.dead).into_iter().partition(|(e, _)| *e < epoch);
            g.dead = keep;
            gone.into_iter().map(|(_, p)| p).collect()
        };
        for path in gone {
            match sys::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("cannot delete dead data segment", &path, &e)),
            }
        }
        Ok(())
    }

    /// Whether dead segments wait for a checkpoint to be deleted.
    pub fn pending(&self) -> bool {
        !self.inner.lock().dead.is_empty()
    }

    /// Whether some segment other than `except` has more than `max_dead_percent` dead bytes.
    pub fn any_mostly_dead(&self, max_dead_percent: u64, except: Option<u64>) -> bool {
        self.segments().iter().any(|s| Some(s.no) != except && s.mostly_dead(max_dead_percent))
    }

    /// Every segment still alive. Dropping the returned references may run a segment's
    /// `Drop`, which locks `inner`: so they are collected under the lock, used after it.
    fn segments(&self) -> Vec<Arc<DataSegment>> {
        let mut g = self.inner.lock();
        g.all.retain(|w| w.strong_count() > 0);
        g.all.iter().filter_map(std::sync::Weak::upgrade).collect()
    }

    /// Bytes of blocks something still refers to, over every segment.
    pub fn live_block_bytes(&self) -> u64 {
        self.segments().iter().map(|s| s.live.load(Ordering::Relaxed)).sum()
    }

    /// The database is closing: from now on a segment that drops is closed, not dead.
    pub fn close(&self) {
        self.inner.lock().closing = true;
    }

    fn register(&self, seg: &Arc<DataSegment>) {
        self.inner.lock().all.push(Arc::downgrade(seg));
    }

    /// Record a segment's death; false when the database is closing (nothing died).
    fn died(&self, path: &Path) -> bool {
        let mut g = self.inner.lock();
        if g.closing {
            return false;
        }
        let epoch = g.epoch;
        g.dead.push((epoch, path.to_owned()));
        true
    }
}

impl DataSegment {
    /// Create segment `no` in `dir` with room for `cap` bytes. On failure nothing is left
    /// behind that could block a later attempt: the file is deleted again (and if even that
    /// fails, the caller moves on to the next number).
    fn create(dir: &Path, no: u64, cap: u64, reclaim: Arc<Reclaim>, fsync: bool) -> Result<DataSegment> {
        let path = dir.join(file_name(no, EXT));
        let file = sys::create_new(&path).map_err(|e| io_err("cannot create data segment", &path, &e))?;
        let made = (|| {
            sys::write_all_at(&file, &file_header(&MAGIC, FORMAT, 0, no), 0)
                .map_err(|e| io_err("cannot write data segment", &path, &e))?;
            sys::set_len(&file, cap).map_err(|e| io_err("cannot size data segment", &path, &e))?;
            if fsync {
                sync_dir(dir)?;
            }
            ReadMap::new(&file).map_err(|e| io_err("cannot map data segment", &path, &e))
        })();
        let map = match made {
            Ok(map) => map,
            Err(e) => {
                drop(file);
                let _ = sys::remove_file(&path);
                return Err(e);
            }
        };
        let used = AtomicU64::new(HEADER_LEN);
        Ok(DataSegment { no, label: label(no), path, file, map, used, live: AtomicU64::new(0), reclaim })
    }

    /// Open existing segment `no` in `dir` for reading.
    pub fn open(dir: &Path, no: u64, reclaim: Arc<Reclaim>) -> Result<Arc<DataSegment>> {
        let path = dir.join(file_name(no, EXT));
        let file = sys::open_read(&path).map_err(|e| io_err("cannot open data segment", &path, &e))?;
        let map = ReadMap::new(&file).map_err(|e| io_err("cannot map data segment", &path, &e))?;
        let lbl = label(no);
        let head = map.range(0, FILE_HEADER_LEN.min(map.len())).unwrap_or(&[]);
        check_file_header(head, &MAGIC, &[FORMAT], no, &lbl)?;
        // What is used is what the manifest names (see `note_block`): a segment left at its
        // full sparse size by a crash must not look mostly dead.
        let (used, live) = (AtomicU64::new(HEADER_LEN), AtomicU64::new(0));
        let seg =
            Arc::new(DataSegment { no, label: lbl, path, file, map, used, live, reclaim: reclaim.clone() });
        reclaim.register(&seg);
        Ok(seg)
    }

    /// The block at `off`, `len` bytes long; a reference outside the written part of the
    /// segment is a corruption error.
    pub fn block(&self, off: u64, len: u32) -> Result<&[u8]> {
        let inside = off.checked_add(u64::from(len)).is_some_and(|e| off >= HEADER_LEN && e <= self.used());
        match self.map.range(off, len as usize).filter(|_| inside) {
            Some(bytes) => Ok(bytes),
            None => Err(Error::Corruption(format!(
                "{}: block reference (offset {off}, length {len}) outside the segment's {} bytes",
                self.label,
                self.used()
            ))),
        }
    }

    /// `data/NNNNNNNN.seg`, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// A block the manifest names, at `off`, `len` bytes long (opening a database).
    /// A reference past the file (damage, reported when the block is read) counts up to the
    /// file's end.
    pub fn note_block(&self, off: u64, len: u32) {
        let size = self.map.len() as u64;
        let end = off.saturating_add(u64::from(len)).min(size).next_multiple_of(8).min(size);
        self.used.fetch_max(end, Ordering::AcqRel);
    }

    /// Count `len` bytes of blocks as referred to (`add`) or no longer (`!add`).
    pub fn set_live(&self, len: u32, add: bool) {
        if add {
            self.live.fetch_add(u64::from(len), Ordering::Relaxed);
        } else {
            self.live.fetch_sub(u64::from(len), Ordering::Relaxed);
        }
    }

    /// Whether more than `max_dead_percent` of the segment's blocks are dead.
    pub fn mostly_dead(&self, max_dead_percent: u64) -> bool {
        let blocks = self.used().saturating_sub(HEADER_LEN);
        let live = self.live.load(Ordering::Relaxed);
        blocks > 0 && (blocks - live.min(blocks)) * 100 > blocks * max_dead_percent
    }

    pub fn sync(&self) -> Result<()> {
        sys::sync_data(&self.file).map_err(|e| io_err("cannot sync data segment", &self.path, &e))
    }
}

impl Drop for DataSegment {
    fn drop(&mut self) {
        if !self.reclaim.owner.is_current() {
            return; // a forked child's copy: the file is the parent's
        }
        if self.live.load(Ordering::Relaxed) == 0 && self.reclaim.died(&self.path) {
            return;
        }
        // Give back the sparse room of a segment that was being written (best effort: a
        // longer file reads the same).
        let used = self.used();
        if (self.map.len() as u64) > used {
            let _ = sys::set_len(&self.file, used);
        }
    }
}

/// Data segment `no`'s name in messages.
pub fn label(no: u64) -> String {
    format!("data/{}", file_name(no, EXT))
}

/// Appends blocks to the current data segment, starting a new one when it is full, and
/// remembers which segments have unsynced writes.
pub struct DataWriter {
    dir: PathBuf,
    /// Sync at checkpoints (off under `SyncPolicy::None`, except when forced at close).
    fsync: bool,
    reclaim: Arc<Reclaim>,
    cur: Option<Arc<DataSegment>>,
    next_no: u64,
    unsynced: Vec<Arc<DataSegment>>,
    /// Every segment this writer created.
    created: Vec<PathBuf>,
}

impl DataWriter {
    /// A writer whose first segment (created on the first append) is number `next_no`.
    pub fn new(dir: PathBuf, next_no: u64, reclaim: Arc<Reclaim>, fsync: bool) -> DataWriter {
        DataWriter { dir, fsync, reclaim, cur: None, next_no, unsynced: Vec::new(), created: Vec::new() }
    }

    /// Finish the current segment: the next block starts a new one (so the finished one
    /// can be compacted).
    pub fn rotate(&mut self) {
        self.cur = None;
    }

    /// The segment being written, if any.
    pub fn current(&self) -> Option<&Arc<DataSegment>> {
        self.cur.as_ref()
    }

    /// Append `block`; returns its segment and offset.
    pub fn append(&mut self, block: &[u8]) -> Result<(Arc<DataSegment>, u64)> {
        let len = block.len() as u64;
        let padded = len.next_multiple_of(8);
        let fits = self.cur.as_ref().is_some_and(|s| s.used() + padded <= s.map.len() as u64);
        if !fits {
            super::ensure_dir(&self.dir)?;
            let cap = SEGMENT_BYTES.max(HEADER_LEN + padded);
            let no = self.next_no;
            // A number that failed is not tried again: if its file could not even be
            // deleted, it would fail every later attempt with "File exists".
            self.next_no = no
                .checked_add(1)
                .ok_or_else(|| Error::Corruption(format!("no data segment number left after {no}")))?;
            let seg = Arc::new(DataSegment::create(&self.dir, no, cap, self.reclaim.clone(), self.fsync)?);
            self.created.push(seg.path.clone());
            self.reclaim.register(&seg);
            self.unsynced.push(seg.clone());
            self.cur = Some(seg);
        }
        let seg = self.cur.as_ref().expect("a current segment");
        let off = seg.used();
        sys::write_all_at(&seg.file, block, off)
            .map_err(|e| io_err("cannot write data segment", &seg.path, &e))?;
        seg.used.store(off + padded, Ordering::Release);
        if !self.unsynced.iter().any(|s| Arc::ptr_eq(s, seg)) {
            self.unsynced.push(seg.clone());
        }
        Ok((seg.clone(), off))
    }

    /// The segments written since the last call, for a checkpoint to fsync without holding
    /// this writer (seals go on appending meanwhile, and a segment written again is listed
    /// again). Empty when syncing is off and not `forced`: they count as synced.
    pub fn take_unsynced(&mut self, forced: bool) -> Vec<Arc<DataSegment>> {
        let segs = std::mem::take(&mut self.unsynced);
        if self.fsync || forced { segs } else { Vec::new() }
    }

    /// List again segments [`DataWriter::take_unsynced`] gave whose sync failed.
    pub fn untake(&mut self, segs: Vec<Arc<DataSegment>>) {
        for seg in segs {
            if !self.unsynced.iter().any(|s| Arc::ptr_eq(s, &seg)) {
                self.unsynced.push(seg);
            }
        }
    }

    /// The files of the segments this writer created (an open that fails deletes them).
    pub fn created(&self) -> Vec<PathBuf> {
        self.created.clone()
    }

    /// The number the next new segment will get.
    pub fn next_no(&self) -> u64 {
        self.next_no
    }
}
