//! The write-ahead log: every write is a record here before its call returns.
//!
//! Segments are preallocated (`posix_fallocate`, so a full disk is an error when a segment
//! is created, never a SIGBUS later) and written through a shared memory map: a record is
//! in the page cache, safe from a crash of the process, as soon as it is copied, with no
//! system call. fsync follows the sync policy; concurrent writers share one (group
//! commit). Sequence numbers are taken under the log's lock, one per record, so the log
//! holds them in order and without a gap, and replay applies records as they come.
//!
//! ```text
//! segment: │ magic "TSDBWAL1" │ format u32 = 3 │ pages u32 │ segment no u64 │ 0 u32 │ crc u32 │
//!          │ records... │ end-of-segment record (when the log went on in the next) │ zeros │
//! ```
//!
//! `pages` is the file's allocated length in 4 KiB pages: a segment of another length is
//! damaged. Records are laid out as [`record`] says. When a record does not fit, the next
//! segment is created whole (under a temporary name, then renamed), and only then does the
//! full one get its end-of-segment record naming it: so a segment that names a next one is
//! followed by it, and a deleted last segment is noticed. Format 3 adds the scrape record
//! (kind 8); formats 2 (the same without it) and 1 (no length, no end records) are still
//! read, and the log never writes into an older segment: it goes on in a new one. See
//! [`replay`] for the rules at open.
mod record;
mod replay;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::{FILE_HEADER_LEN, LogStart, file_header, file_name, io_err, sync_dir};
use crate::sys::{self, WriteMap};
use crate::{Error, Result};
use record::END_RECORD;
#[cfg(feature = "fuzzing")]
pub(crate) use record::RECORD_HEADER;
pub use record::{Record, Replayed};
pub use replay::{Recovery, scan};

pub const MAGIC: [u8; 8] = *b"TSDBWAL1";
/// The log format written: segments record their length and end with a record naming the
/// next one; records may be scrapes (kind 8).
pub const FORMAT: u32 = 3;
/// Format 3 without scrape records, still read.
pub(crate) const FORMAT_2: u32 = 2;
/// The first format, still read.
pub(crate) const FORMAT_1: u32 = 1;
pub const HEADER_LEN: usize = FILE_HEADER_LEN;
/// Extension of log segment files.
pub const EXT: &str = "wal";
/// Segment lengths are whole pages of this many bytes (the header counts them).
const PAGE: u64 = 4096;

/// The segment being written.
struct Current {
    no: u64,
    path: PathBuf,
    file: Arc<File>,
    map: WriteMap,
    pos: usize,
    last_seq: u64,
}

/// A finished segment: deletable once a checkpoint covers `last_seq`.
struct Closed {
    no: u64,
    path: PathBuf,
    last_seq: u64,
}

struct Inner {
    cur: Option<Current>,
    next_no: u64,
    /// Bytes appended since the log was opened (a log sequence number).
    lsn: u64,
    closed: Vec<Closed>,
    /// Segments with writes not yet synced (the current one is synced separately).
    unsynced: Vec<Arc<File>>,
    /// A segment was created since the last sync: the next one syncs the directory too
    /// (not the writer that rotated, which would wait for the disk under every policy).
    dir_unsynced: bool,
}

/// The write-ahead log of one database.
pub struct Wal {
    dir: PathBuf,
    /// Sync the directory when segments come and go (off under `SyncPolicy::None`).
    fsync: bool,
    /// Sync a full segment before the next one gets records (`SyncPolicy::Always`): a power
    /// loss then never leaves records of a later segment after a hole in an earlier one.
    sync_on_rotate: bool,
    seg_bytes: usize,
    inner: Mutex<Inner>,
    /// Whether a writer is doing an fsync; the others wait on `synced_cv` and, woken all
    /// at once when it ends, usually find their record covered (group commit).
    sync_busy: Mutex<bool>,
    synced_cv: parking_lot::Condvar,
    synced: AtomicU64,
    written: AtomicU64,
    /// fsync rounds done (each covers every record written before it).
    syncs: AtomicU64,
}

impl Wal {
    /// An empty log in `dir` whose first segment (created on the first append) is
    /// `next_no`.
    pub fn new(dir: PathBuf, next_no: u64, seg_bytes: usize, fsync: bool, sync_on_rotate: bool) -> Wal {
        Wal {
            dir,
            fsync,
            sync_on_rotate,
            seg_bytes,
            inner: Mutex::new(Inner {
                cur: None,
                next_no,
                lsn: 0,
                closed: Vec::new(),
                unsynced: Vec::new(),
                dir_unsynced: false,
            }),
            sync_busy: Mutex::new(false),
            synced_cv: parking_lot::Condvar::new(),
            synced: AtomicU64::new(0),
            written: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
        }
    }

    /// The log [`scan`] checked and replay applied, ready for writes: deletes the segments
    /// nothing needs, clears a torn end, and goes on writing in the last segment (a
    /// format-1 one is cut at its torn end and followed by a new segment instead). Call it
    /// only once the manifest is durable and replay succeeded.
    pub fn open(rec: Recovery, seg_bytes: usize, fsync: bool, sync_on_rotate: bool) -> Result<Wal> {
        let wal = Wal::new(rec.dir.clone(), rec.next_no, seg_bytes, fsync, sync_on_rotate);
        let mut removed = false;
        for path in &rec.leftovers {
            remove(path)?;
            removed = true;
        }
        // Temporary files of a rotation a crash interrupted.
        for entry in sys::read_dir(&rec.dir).into_iter().flatten().flatten() {
            if entry.file_name().to_str().is_some_and(|n| n.ends_with(TMP_SUFFIX)) {
                remove(&entry.path())?;
                removed = true;
            }
        }
        let mut inner = wal.inner.lock();
        for (i, seg) in rec.chain.iter().enumerate() {
            if Some(i) == rec.current {
                inner.cur = Some(wal.resume(seg)?);
                if seg.format == FORMAT_2 {
                    // An older build's segment, which must not get records it cannot read:
                    // end it, and go on in a new one.
                    wal.rotate(&mut inner, 0)?;
                }
            } else {
                if seg.torn_until.is_some() && seg.format == FORMAT_1 {
                    cut(&seg.path, seg.end)?;
                }
                inner.closed.push(Closed { no: seg.no, path: seg.path.clone(), last_seq: seg.last_seq });
            }
        }
        drop(inner);
        if removed && fsync {
            sync_dir(&wal.dir)?;
        }
        Ok(wal)
    }

    /// Go on writing in segment `seg`: clear its torn end, or give a segment whose creation
    /// a crash cut short its header.
    fn resume(&self, seg: &replay::Segment) -> Result<Current> {
        let path = &seg.path;
        let file = sys::open_rw(path).map_err(|e| io_err("cannot open log segment", path, &e))?;
        if seg.format == 0 {
            let len = (self.seg_bytes as u64).next_multiple_of(PAGE);
            sys::allocate(&file, len).map_err(|e| io_err("cannot allocate log segment", path, &e))?;
            let mut map = WriteMap::new(&file).map_err(|e| io_err("cannot map log segment", path, &e))?;
            map.bytes_mut().fill(0);
            map.bytes_mut()[..HEADER_LEN].copy_from_slice(&segment_header(seg.no, len)?);
            self.sync_file(&file, path)?;
            return Ok(Current {
                no: seg.no,
                path: path.clone(),
                file: Arc::new(file),
                map,
                pos: HEADER_LEN,
                last_seq: 0,
            });
        }
        let mut map = WriteMap::new(&file).map_err(|e| io_err("cannot map log segment", path, &e))?;
        if let Some(torn) = seg.torn_until {
            map.bytes_mut()[seg.end..torn].fill(0);
            self.sync_file(&file, path)?;
        }
        Ok(Current {
            no: seg.no,
            path: path.clone(),
            file: Arc::new(file),
            map,
            pos: seg.end,
            last_seq: seg.last_seq,
        })
    }

    fn sync_file(&self, file: &File, path: &Path) -> Result<()> {
        if self.fsync {
            sys::sync_data(file).map_err(|e| io_err("cannot sync log segment", path, &e))?;
        }
        Ok(())
    }

    /// Append `rec`, numbered by `take` (called under the log's lock once the record has
    /// room, so a failed append takes no number, and the log is in number order): it returns
    /// the number and what the caller keeps (a sequencer's ticket). Returns that and the
    /// record's end position for [`Wal::sync_to`].
    pub fn append<T>(&self, rec: &Record<'_>, take: impl FnOnce() -> (u64, T)) -> Result<(T, u64)> {
        let total = rec.size()?;
        let mut g = self.inner.lock();
        let inner = &mut *g;
        // Every segment keeps room for the record that ends it.
        if inner.cur.as_ref().is_none_or(|c| c.pos + total + END_RECORD > c.map.len()) {
            self.rotate(inner, total)?;
        }
        let (seq, ticket) = take();
        let cur = inner.cur.as_mut().expect("a current segment");
        rec.write(seq, &mut cur.map.bytes_mut()[cur.pos..cur.pos + total]);
        cur.pos += total;
        cur.last_seq = seq;
        inner.lsn += total as u64;
        let lsn = inner.lsn;
        self.written.store(lsn, Ordering::Release);
        Ok((ticket, lsn))
    }

    /// Start a new segment now: later records go there (after a failed fsync, no record
    /// may share a segment with pages whose write-back failed).
    pub fn start_new_segment(&self) -> Result<()> {
        let mut g = self.inner.lock();
        if g.cur.as_ref().is_some_and(|c| c.pos > HEADER_LEN) {
            self.rotate(&mut g, 0)?;
        }
        Ok(())
    }

    /// Start a new segment with room for a record of `need` bytes, and end the current one
    /// with a record naming it. The new file is made whole under a temporary name and
    /// renamed into place, so a failure leaves nothing behind that a retry would trip on.
    fn rotate(&self, inner: &mut Inner, need: usize) -> Result<()> {
        super::ensure_dir(&self.dir)?;
        let no = inner.next_no;
        let path = self.dir.join(file_name(no, EXT));
        let tmp = self.dir.join(format!("{}{TMP_SUFFIX}", file_name(no, EXT)));
        let len = (self.seg_bytes.max(HEADER_LEN + need + END_RECORD) as u64).next_multiple_of(PAGE);
        let _ = sys::remove_file(&tmp);
        let file = sys::create_new(&tmp).map_err(|e| io_err("cannot create log segment", &tmp, &e))?;
        let created = (|| {
            sys::allocate(&file, len).map_err(|e| io_err("cannot allocate log segment", &path, &e))?;
            let mut map = WriteMap::new(&file).map_err(|e| io_err("cannot map log segment", &path, &e))?;
            map.bytes_mut()[..HEADER_LEN].copy_from_slice(&segment_header(no, len)?);
            sys::rename(&tmp, &path).map_err(|e| io_err("cannot rename log segment", &path, &e))?;
            Ok(map)
        })();
        let map = match created {
            Ok(map) => map,
            Err(e) => {
                drop(file);
                let _ = sys::remove_file(&tmp);
                return Err(e);
            }
        };
        inner.next_no = no.saturating_add(1);
        inner.dir_unsynced |= self.fsync;
        if let Some(mut old) = inner.cur.take() {
            let end = old.pos;
            Record::Next { no }.write(0, &mut old.map.bytes_mut()[end..end + END_RECORD]);
            if self.sync_on_rotate {
                // Its records reach the disk before any of the next segment's can.
                sys::sync_data(&old.file)
                    .map_err(|e| io_err("cannot sync the write-ahead log", &old.path, &e))?;
            }
            inner.unsynced.push(old.file.clone());
            inner.closed.push(Closed { no: old.no, path: old.path, last_seq: old.last_seq });
        }
        inner.cur = Some(Current { no, path, file: Arc::new(file), map, pos: HEADER_LEN, last_seq: 0 });
        Ok(())
    }

    /// fsync the log through position `lsn` (from [`Wal::append`]); one caller syncs for
    /// every record written so far, the others find theirs covered.
    pub fn sync_to(&self, lsn: u64) -> Result<()> {
        if self.synced.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        {
            let mut busy = self.sync_busy.lock();
            loop {
                if self.synced.load(Ordering::Acquire) >= lsn {
                    return Ok(());
                }
                if !*busy {
                    break;
                }
                self.synced_cv.wait(&mut busy);
            }
            *busy = true; // this writer syncs for everyone who wrote so far
        }
        let (target, files, dir) = {
            let mut g = self.inner.lock();
            let mut files = std::mem::take(&mut g.unsynced);
            files.extend(g.cur.as_ref().map(|c| c.file.clone()));
            (g.lsn, files, std::mem::take(&mut g.dir_unsynced))
        };
        let mut result = Ok(());
        for f in &files {
            // fdatasync writes back the pages the shared map dirtied (one page cache).
            if let Err(e) = f.sync_data() {
                result = Err(io_err("cannot sync the write-ahead log", &self.dir, &e));
                break;
            }
        }
        // The new segments' names, once their data is down.
        if result.is_ok() && dir {
            result = sync_dir(&self.dir);
        }
        if result.is_err() {
            let mut g = self.inner.lock();
            g.unsynced.extend(files.iter().cloned());
            g.dir_unsynced |= dir;
        }
        if result.is_ok() {
            self.synced.fetch_max(target, Ordering::AcqRel);
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        *self.sync_busy.lock() = false;
        self.synced_cv.notify_all();
        result
    }

    /// fsync everything written so far.
    pub fn sync_all(&self) -> Result<()> {
        self.sync_to(self.written.load(Ordering::Acquire))
    }

    /// Bytes appended since the log was opened.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// fsync rounds since the log was opened.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Where the log goes on after a checkpoint covering writes up to `upto`, for the
    /// manifest to record: the oldest segment holding a later record (or the segment being
    /// written), which must then exist; when `closing`, no segment (all go), and the number
    /// the next one gets. Syncs the directory first if that segment's name may not be on
    /// disk yet.
    pub fn log_start(&self, upto: u64, closing: bool) -> Result<LogStart> {
        let (start, dir) = {
            let g = self.inner.lock();
            let start = if closing {
                LogStart { segment: g.next_no, exists: false }
            } else if let Some(c) = g.closed.iter().find(|c| c.last_seq > upto) {
                LogStart { segment: c.no, exists: true }
            } else if let Some(c) = &g.cur {
                LogStart { segment: c.no, exists: true }
            } else {
                LogStart { segment: g.next_no, exists: false }
            };
            (start, g.dir_unsynced)
        };
        if dir && start.exists {
            sync_dir(&self.dir)?;
        }
        Ok(start)
    }

    /// Delete the finished segments, oldest first, whose records all have `seq <= upto` (a
    /// checkpoint covers them): always a prefix of the log, so no gap opens in it. With
    /// `all`, also the current one (at close, when no writer is left).
    pub fn truncate_through(&self, upto: u64, all: bool) -> Result<()> {
        let mut g = self.inner.lock();
        let mut removed = 0;
        let mut result = Ok(());
        while let Some(c) = g.closed.get(removed).filter(|c| c.last_seq <= upto) {
            if let Err(e) = remove(&c.path) {
                result = Err(e);
                break;
            }
            removed += 1;
        }
        g.closed.drain(..removed);
        if result.is_ok() && all && g.closed.is_empty() && g.cur.as_ref().is_some_and(|c| c.last_seq <= upto)
        {
            let cur = g.cur.take().expect("checked");
            let path = cur.path.clone();
            drop(cur);
            match remove(&path) {
                Ok(()) => {
                    g.unsynced.clear();
                    removed += 1;
                }
                Err(e) => result = Err(e),
            }
        }
        drop(g);
        if removed > 0 && self.fsync {
            sync_dir(&self.dir)?;
        }
        result
    }
}

/// Suffix of a segment being created, renamed away once it is whole.
const TMP_SUFFIX: &str = ".tmp";

/// The header of a new segment `no` of `len` bytes.
fn segment_header(no: u64, len: u64) -> Result<[u8; HEADER_LEN]> {
    let pages = u32::try_from(len / PAGE)
        .map_err(|_| Error::InvalidArgument(format!("log segment of {len} bytes is too large")))?;
    Ok(file_header(&MAGIC, FORMAT, pages, no))
}

fn remove(path: &Path) -> Result<()> {
    match sys::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("cannot delete log segment", path, &e)),
    }
}

/// Cut a format-1 segment's torn end at `at` (format 1 has no length to keep).
fn cut(path: &Path, at: usize) -> Result<()> {
    let f = sys::open_rw(path).map_err(|e| io_err("cannot open log segment", path, &e))?;
    sys::set_len(&f, at as u64)
        .and_then(|()| sys::sync_all(&f))
        .map_err(|e| io_err("cannot truncate torn log tail", path, &e))
}

#[cfg(test)]
mod tests;
