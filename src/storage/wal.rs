//! The write-ahead log: every write is a record here before its call returns.
//!
//! Segments are preallocated (`posix_fallocate`, so a full disk is an error when a segment
//! is created, never a SIGBUS later) and written through a shared memory map: a record is
//! in the page cache, safe from a crash of the process, as soon as it is copied, with no
//! system call. fsync follows the sync policy; concurrent writers share one (group
//! commit). Sequence numbers are taken under the log's lock, so the log is in sequence
//! order and replay applies records as they come.
//!
//! ```text
//! segment: │ magic "TSDBWAL1" │ format u32 │ 0 u32 │ segment no u64 │ 0 u32 │ crc u32 │ records... │ zeros │
//! record:  │ len u32 │ crc u32 │ seq u64 │ kind u8 │ 0 [7] │ payload (len bytes) │ 0-pad to 8 │
//! ```
//!
//! `crc` covers `seq`, `kind`, the padding and the payload. Payloads (all little-endian):
//! create `id u64, name_len u64, name`; drop `id u64`; insert `id u64, n u64, ts[n] i64,
//! values[n] f64`; batch `n u64, ids[n] u64, ts[n] i64, values[n] f64`.
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;
use parking_lot::Mutex;

use super::{FILE_HEADER_LEN, Reader, check_file_header, file_header, file_name, io_err, sync_dir};
use crate::txn::{Sequencer, Ticket};
use crate::{Error, Result};

pub const MAGIC: [u8; 8] = *b"TSDBWAL1";
pub const FORMAT: u32 = 1;
pub const HEADER_LEN: usize = FILE_HEADER_LEN;
/// Bytes of a record header.
pub const RECORD_HEADER: usize = 24;
/// Extension of log segment files.
pub const EXT: &str = "wal";

const CREATE: u8 = 1;
const DROP: u8 = 2;
const INSERT: u8 = 3;
const BATCH: u8 = 4;
const DELETE: u8 = 5;
const RETENTION: u8 = 6;

/// A record to append.
pub enum Record<'a> {
    Create {
        id: u64,
        name: &'a str,
    },
    Drop {
        id: u64,
    },
    Insert {
        id: u64,
        ts: &'a [i64],
        vals: &'a [f64],
    },
    Batch {
        ids: &'a [u64],
        ts: &'a [i64],
        vals: &'a [f64],
    },
    /// Metric `id`'s points with `from <= ts < until` are deleted.
    Delete {
        id: u64,
        from: i64,
        until: i64,
    },
    /// Metric `id`'s own retention span becomes `span`.
    Retention {
        id: u64,
        span: i64,
    },
}

/// A record read back by replay.
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    Create { id: u64, name: String },
    Drop { id: u64 },
    Insert { id: u64, ts: Vec<i64>, vals: Vec<f64> },
    Batch { ids: Vec<u64>, ts: Vec<i64>, vals: Vec<f64> },
    Delete { id: u64, from: i64, until: i64 },
    Retention { id: u64, span: i64 },
}

impl Record<'_> {
    fn kind(&self) -> u8 {
        match self {
            Record::Create { .. } => CREATE,
            Record::Drop { .. } => DROP,
            Record::Insert { .. } => INSERT,
            Record::Batch { .. } => BATCH,
            Record::Delete { .. } => DELETE,
            Record::Retention { .. } => RETENTION,
        }
    }

    fn payload_len(&self) -> usize {
        match self {
            Record::Create { name, .. } => 16 + name.len(),
            Record::Drop { .. } => 8,
            Record::Insert { ts, .. } => 16 + 16 * ts.len(),
            Record::Batch { ts, .. } => 8 + 24 * ts.len(),
            Record::Delete { .. } => 24,
            Record::Retention { .. } => 16,
        }
    }

    /// Write the payload into `out` (exactly `payload_len` bytes).
    fn write_payload(&self, out: &mut [u8]) {
        let mut w = Writer { out, at: 0 };
        match self {
            Record::Create { id, name } => {
                w.u64(*id);
                w.u64(name.len() as u64);
                w.bytes(name.as_bytes());
            }
            Record::Drop { id } => w.u64(*id),
            Record::Insert { id, ts, vals } => {
                w.u64(*id);
                w.u64(ts.len() as u64);
                w.i64s(ts);
                w.f64s(vals);
            }
            Record::Batch { ids, ts, vals } => {
                w.u64(ts.len() as u64);
                for &id in *ids {
                    w.u64(id);
                }
                w.i64s(ts);
                w.f64s(vals);
            }
            Record::Delete { id, from, until } => {
                w.u64(*id);
                w.i64s(&[*from, *until]);
            }
            Record::Retention { id, span } => {
                w.u64(*id);
                w.i64s(&[*span]);
            }
        }
        debug_assert_eq!(w.at, w.out.len());
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u64(&mut self, x: u64) {
        self.bytes(&x.to_le_bytes());
    }
    fn i64s(&mut self, xs: &[i64]) {
        let dst = &mut self.out[self.at..self.at + 8 * xs.len()];
        for (d, x) in dst.chunks_exact_mut(8).zip(xs) {
            d.copy_from_slice(&x.to_le_bytes());
        }
        self.at += 8 * xs.len();
    }
    fn f64s(&mut self, xs: &[f64]) {
        let dst = &mut self.out[self.at..self.at + 8 * xs.len()];
        for (d, x) in dst.chunks_exact_mut(8).zip(xs) {
            d.copy_from_slice(&x.to_bits().to_le_bytes());
        }
        self.at += 8 * xs.len();
    }
}

/// The segment being written.
struct Current {
    path: PathBuf,
    file: Arc<File>,
    map: MmapMut,
    pos: usize,
    last_seq: u64,
}

/// A finished segment: deletable once a checkpoint covers `last_seq`.
struct Closed {
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
    /// A log in `dir` whose first new segment (created on the first append) is `next_no`;
    /// `old` are the segments replay read, deletable once checkpointed.
    pub fn new(dir: PathBuf, next_no: u64, seg_bytes: usize, old: Vec<(PathBuf, u64)>, fsync: bool) -> Wal {
        let closed = old.into_iter().map(|(path, last_seq)| Closed { path, last_seq }).collect();
        Wal {
            dir,
            fsync,
            seg_bytes,
            inner: Mutex::new(Inner {
                cur: None,
                next_no,
                lsn: 0,
                closed,
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

    /// Append `rec`, numbered by a ticket taken from `seqr` once the record has room (so a
    /// failed append consumes no number). Returns the ticket, which publishes the number
    /// when dropped, and the record's end position for [`Wal::sync_to`].
    pub fn append<'s>(&self, rec: &Record<'_>, seqr: &'s Sequencer) -> Result<(Ticket<'s>, u64)> {
        let payload = rec.payload_len();
        let total = (RECORD_HEADER + payload).next_multiple_of(8);
        let mut g = self.inner.lock();
        let inner = &mut *g;
        if inner.cur.as_ref().is_none_or(|c| c.pos + total > c.map.len()) {
            self.rotate(inner, total)?;
        }
        let ticket = seqr.take();
        let cur = inner.cur.as_mut().expect("a current segment");
        let rec_bytes = &mut cur.map[cur.pos..cur.pos + total];
        rec_bytes[8..16].copy_from_slice(&ticket.seq.to_le_bytes());
        rec_bytes[16] = rec.kind();
        rec.write_payload(&mut rec_bytes[RECORD_HEADER..RECORD_HEADER + payload]);
        let crc = crc32fast::hash(&rec_bytes[8..]);
        rec_bytes[4..8].copy_from_slice(&crc.to_le_bytes());
        // The length last: a reader of a torn record sees a zero length or a bad checksum.
        rec_bytes[..4].copy_from_slice(&(payload as u32).to_le_bytes());
        cur.pos += total;
        cur.last_seq = ticket.seq;
        inner.lsn += total as u64;
        let lsn = inner.lsn;
        self.written.store(lsn, Ordering::Release);
        Ok((ticket, lsn))
    }

    /// Start a new segment with room for a record of `need` bytes.
    fn rotate(&self, inner: &mut Inner, need: usize) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| io_err("cannot create directory", &self.dir, &e))?;
        let no = inner.next_no;
        let path = self.dir.join(file_name(no, EXT));
        let len = self.seg_bytes.max(HEADER_LEN + need);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err("cannot create log segment", &path, &e))?;
        let created = (|| {
            allocate(&file, len as u64).map_err(|e| io_err("cannot allocate log segment", &path, &e))?;
            let mut map = map_mut(&file, &path)?;
            map[..HEADER_LEN].copy_from_slice(&file_header(&MAGIC, FORMAT, no));
            Ok(map)
        })();
        let map = match created {
            Ok(map) => map,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        inner.next_no += 1;
        inner.dir_unsynced |= self.fsync;
        if let Some(old) = inner.cur.take() {
            inner.unsynced.push(old.file.clone());
            inner.closed.push(Closed { path: old.path, last_seq: old.last_seq });
        }
        inner.cur = Some(Current { path, file: Arc::new(file), map, pos: HEADER_LEN, last_seq: 0 });
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

    /// Delete the finished segments whose records all have `seq <= upto` (a checkpoint
    /// covers them). With `all`, also the current one (at close, when no writer is left).
    pub fn truncate_through(&self, upto: u64, all: bool) -> Result<()> {
        let mut g = self.inner.lock();
        let mut keep = Vec::new();
        let mut removed = false;
        for c in std::mem::take(&mut g.closed) {
            if c.last_seq <= upto {
                remove(&c.path)?;
                removed = true;
            } else {
                keep.push(c);
            }
        }
        g.closed = keep;
        if all && g.cur.as_ref().is_some_and(|c| c.last_seq <= upto) {
            let cur = g.cur.take().expect("checked");
            drop(cur.map);
            remove(&cur.path)?;
            g.unsynced.clear();
            removed = true;
        }
        drop(g);
        if removed && self.fsync { sync_dir(&self.dir) } else { Ok(()) }
    }
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("cannot delete log segment", path, &e)),
    }
}

#[allow(unsafe_code)]
fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(|_| std::io::Error::other("segment too large"))?;
    // SAFETY: plain system call on a file descriptor we own for the duration of the call.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
        0 => Ok(()),
        err => Err(std::io::Error::from_raw_os_error(err)),
    }
}

#[allow(unsafe_code)]
fn map_read(file: &File, path: &Path) -> Result<memmap2::Mmap> {
    // SAFETY: replay maps a segment read-only before any writer of this database exists
    // (DIR/LOCK keeps other processes out), and drops the map before cutting a torn tail.
    unsafe { memmap2::Mmap::map(file) }.map_err(|e| io_err("cannot map log segment", path, &e))
}

#[allow(unsafe_code)]
fn map_mut(file: &File, path: &Path) -> Result<MmapMut> {
    // SAFETY: the file was just created by this process (create_new) and fully allocated;
    // no one else maps or truncates it while the map lives (DIR/LOCK keeps other processes
    // out, and this process only deletes a segment after dropping its map).
    unsafe { MmapMut::map_mut(file) }.map_err(|e| io_err("cannot map log segment", path, &e))
}

/// What replay found in one segment.
pub struct SegmentScan {
    pub path: PathBuf,
    pub last_seq: u64,
    pub records: u64,
}

/// Read every log segment in `dir` in order, calling `apply(seq, record)` for each record
/// with `seq > after`. A damaged record in the last segment, with nothing valid after it,
/// is a torn write from a crash: the segment is cut there. Any other damage is a
/// corruption error naming the file and offset. Returns the segments read, the highest
/// sequence number seen, and the next free segment number.
pub fn replay(
    dir: &Path,
    after: u64,
    mut apply: impl FnMut(u64, Replayed) -> Result<()>,
) -> Result<(Vec<SegmentScan>, u64, u64)> {
    let nos = super::numbered_files(dir, EXT)?;
    let mut scans = Vec::new();
    let mut max_seq = after;
    for (k, &no) in nos.iter().enumerate() {
        let last = k + 1 == nos.len();
        let path = dir.join(file_name(no, EXT));
        let label = format!("wal/{}", file_name(no, EXT));
        // Mapped, not read: a preallocated segment is mostly zeros that replay never touches.
        let file = File::open(&path).map_err(|e| io_err("cannot open log segment", &path, &e))?;
        let len = file.metadata().map_err(|e| io_err("cannot stat log segment", &path, &e))?.len();
        let map = if len == 0 { None } else { Some(map_read(&file, &path)?) };
        let buf: &[u8] = map.as_deref().unwrap_or(&[]);
        let mut torn_at = None;
        let mut scan = SegmentScan { path: path.clone(), last_seq: 0, records: 0 };
        if buf.len() < HEADER_LEN || buf[..HEADER_LEN].iter().all(|&b| b == 0) {
            // Created but never written: a crash between creating the file and its header
            // (a later session went on with the next number). It holds no record.
            if buf.iter().all(|&b| b == 0) {
                drop(map);
                std::fs::remove_file(&path)
                    .map_err(|e| io_err("cannot delete empty log segment", &path, &e))?;
                continue;
            }
            return Err(Error::Corruption(format!("{label} offset 0: bad segment header")));
        }
        check_file_header(buf, &MAGIC, FORMAT, no, &label)?;
        let mut at = HEADER_LEN;
        loop {
            match parse_record(buf, at, &label) {
                Ok(None) => break,
                Ok(Some((seq, rec, next))) => {
                    if seq <= scan.last_seq && scan.records > 0 {
                        return Err(Error::Corruption(format!(
                            "{label} offset {at}: sequence number {seq} after {}",
                            scan.last_seq
                        )));
                    }
                    scan.last_seq = seq;
                    scan.records += 1;
                    max_seq = max_seq.max(seq);
                    if seq > after {
                        apply(seq, rec)?;
                    }
                    at = next;
                }
                Err(e) => {
                    if last && !any_valid_record_after(buf, at + 8, &label) {
                        torn_at = Some(at);
                        break;
                    }
                    return Err(e);
                }
            }
        }
        drop(map);
        if let Some(at) = torn_at {
            cut(&path, at)?;
        }
        scans.push(scan);
    }
    let next_no = nos.last().map_or(1, |n| n + 1);
    Ok((scans, max_seq, next_no))
}

/// Truncate a torn log tail at `at`, durably.
fn cut(path: &Path, at: usize) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err("cannot open log", path, &e))?;
    f.set_len(at as u64)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err("cannot truncate torn log tail", path, &e))
}

fn any_valid_record_after(buf: &[u8], from: usize, label: &str) -> bool {
    let mut at = from.next_multiple_of(8);
    while at + RECORD_HEADER <= buf.len() {
        if let Ok(Some(_)) = parse_record(buf, at, label) {
            return true;
        }
        at += 8;
    }
    false
}

/// The record at `at`: `None` at the end of the written part (zeros or too little room).
fn parse_record(buf: &[u8], at: usize, label: &str) -> Result<Option<(u64, Replayed, usize)>> {
    if at + RECORD_HEADER > buf.len() {
        return Ok(None);
    }
    let h = &buf[at..at + RECORD_HEADER];
    if h.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let bad = |msg: &str| Error::Corruption(format!("{label} offset {at}: {msg}"));
    let len = u32::from_le_bytes(h[..4].try_into().expect("4 bytes")) as usize;
    let total = (RECORD_HEADER + len).next_multiple_of(8);
    if at + total > buf.len() {
        return Err(bad("record runs past the end of the segment"));
    }
    let crc = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
    if crc != crc32fast::hash(&buf[at + 8..at + total]) {
        return Err(bad("record checksum mismatch"));
    }
    let seq = u64::from_le_bytes(h[8..16].try_into().expect("8 bytes"));
    let what = format!("{label} record at {at}");
    let mut r = Reader { buf: &buf[at + RECORD_HEADER..at + RECORD_HEADER + len], at: 0, what: &what };
    let rec = match h[16] {
        CREATE => {
            let id = r.u64()?;
            let n = r.u64()? as usize;
            let name = std::str::from_utf8(r.bytes(n)?).map_err(|_| r.corrupt("metric name is not UTF-8"))?;
            Replayed::Create { id, name: name.to_owned() }
        }
        DROP => Replayed::Drop { id: r.u64()? },
        INSERT => {
            let id = r.u64()?;
            let n = r.u64()? as usize;
            if n.checked_mul(16) != Some(len - 16) {
                return Err(bad("insert record length does not match its point count"));
            }
            let (ts, vals) = columns(&mut r, n)?;
            Replayed::Insert { id, ts, vals }
        }
        BATCH => {
            let n = r.u64()? as usize;
            if n.checked_mul(24) != Some(len - 8) {
                return Err(bad("batch record length does not match its point count"));
            }
            let ids = r
                .bytes(8 * n)?
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8")))
                .collect();
            let (ts, vals) = columns(&mut r, n)?;
            Replayed::Batch { ids, ts, vals }
        }
        DELETE => {
            if len != 24 {
                return Err(bad("delete record of the wrong length"));
            }
            let id = r.u64()?;
            let (from, until) = (r.u64()? as i64, r.u64()? as i64);
            Replayed::Delete { id, from, until }
        }
        RETENTION => {
            if len != 16 {
                return Err(bad("retention record of the wrong length"));
            }
            Replayed::Retention { id: r.u64()?, span: r.u64()? as i64 }
        }
        k => return Err(bad(&format!("unknown record kind {k}"))),
    };
    if r.at != len {
        return Err(bad("record has trailing bytes"));
    }
    Ok(Some((seq, rec, at + total)))
}

fn columns(r: &mut Reader<'_>, n: usize) -> Result<(Vec<i64>, Vec<f64>)> {
    let ts = r.bytes(8 * n)?.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8"))).collect();
    let vals = r
        .bytes(8 * n)?
        .chunks_exact(8)
        .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8"))))
        .collect();
    Ok((ts, vals))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tsdb-wal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn read_all(d: &Path, after: u64) -> Result<Vec<(u64, Replayed)>> {
        let mut out = Vec::new();
        replay(d, after, |s, r| {
            out.push((s, r));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn records_round_trip_across_segments() {
        let d = dir("rt");
        let seqr = Sequencer::default();
        let wal = Wal::new(d.clone(), 1, 4096, Vec::new(), true);
        let mut want = Vec::new();
        for i in 0..300u64 {
            let ts: Vec<i64> = (0..(i % 7) as i64 + 1).map(|k| k * 10 + i as i64).collect();
            let vals: Vec<f64> = ts.iter().map(|&t| t as f64 / 3.0).collect();
            let (rec, owned) = match i % 6 {
                5 => (
                    Record::Retention { id: i, span: -(i as i64) },
                    Replayed::Retention { id: i, span: -(i as i64) },
                ),
                4 => (
                    Record::Delete { id: i, from: -(i as i64), until: i as i64 * 7 },
                    Replayed::Delete { id: i, from: -(i as i64), until: i as i64 * 7 },
                ),
                0 => (
                    Record::Create { id: i, name: "cpu.user" },
                    Replayed::Create { id: i, name: "cpu.user".into() },
                ),
                1 => (Record::Drop { id: i }, Replayed::Drop { id: i }),
                2 => (
                    Record::Insert { id: i, ts: &ts, vals: &vals },
                    Replayed::Insert { id: i, ts: ts.clone(), vals: vals.clone() },
                ),
                _ => {
                    let ids: Vec<u64> = ts.iter().map(|&t| t as u64 % 3).collect();
                    let r = Replayed::Batch { ids: ids.clone(), ts: ts.clone(), vals: vals.clone() };
                    let (t, _) =
                        wal.append(&Record::Batch { ids: &ids, ts: &ts, vals: &vals }, &seqr).unwrap();
                    want.push((t.seq, r));
                    continue;
                }
            };
            let (t, lsn) = wal.append(&rec, &seqr).unwrap();
            want.push((t.seq, owned));
            if i % 50 == 0 {
                wal.sync_to(lsn).unwrap();
            }
        }
        assert!(super::super::numbered_files(&d, EXT).unwrap().len() > 3, "rotated");
        assert_eq!(read_all(&d, 0).unwrap(), want);
        assert_eq!(
            read_all(&d, 150).unwrap(),
            want.iter().filter(|(s, _)| *s > 150).cloned().collect::<Vec<_>>()
        );
        wal.truncate_through(200, false).unwrap();
        let left = read_all(&d, 0).unwrap();
        assert!(left.first().unwrap().0 <= 201 && left.len() < want.len() && left.last().unwrap().0 == 300);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_tail_is_cut_and_damage_elsewhere_is_corruption() {
        let d = dir("torn");
        let seqr = Sequencer::default();
        {
            let wal = Wal::new(d.clone(), 1, 1 << 16, Vec::new(), false);
            for i in 0..10 {
                wal.append(&Record::Insert { id: 1, ts: &[i], vals: &[i as f64] }, &seqr).unwrap();
            }
        }
        let path = d.join(file_name(1, EXT));
        let clean = std::fs::read(&path).unwrap();
        let rec = (RECORD_HEADER + 32).next_multiple_of(8);
        // Tear the last record: replay stops before it and cuts the file there.
        let mut torn = clean.clone();
        torn[HEADER_LEN + 9 * rec + RECORD_HEADER + 3] ^= 0x40;
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(read_all(&d, 0).unwrap().len(), 9);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, HEADER_LEN + 9 * rec);
        assert_eq!(read_all(&d, 0).unwrap().len(), 9, "a second replay agrees");
        // Damage in the middle, with valid records after it: corruption, with the offset.
        let mut mid = clean.clone();
        mid[HEADER_LEN + 4 * rec + RECORD_HEADER] ^= 1;
        std::fs::write(&path, &mid).unwrap();
        let err = read_all(&d, 0).unwrap_err();
        assert_eq!(
            err,
            Error::Corruption(format!(
                "wal/00000001.wal offset {}: record checksum mismatch",
                HEADER_LEN + 4 * rec
            ))
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
