//! `open_dir`: a whole database directory, mutated from a small real one ([`images`]), opened,
//! read, checked and closed.
use std::path::Path;
use std::sync::OnceLock;

use super::checksums::{fix_file_header, fix_manifest_checksums, fix_wal_checksums};
use super::{Scratch, write};
use crate::storage::{manifest, wal};
use crate::{Database, MetricId, Options, SyncPolicy};

/// A small real database, built once per process: `crash` is a copy of its files taken
/// while it was open and idle (sealed blocks, a checkpoint's manifest with head extents,
/// log records after it), `clean` the files after it closed.
pub struct Images {
    pub crash: Vec<DbFile>,
    pub clean: Vec<DbFile>,
    /// Points a full scan of every metric found in the database before the copies.
    pub points: u64,
}

/// One file of an image: its path in the directory, its bytes up to the last non-zero
/// one, and its length (a data segment being written is sparse up to 256 MiB).
#[derive(Clone)]
pub struct DbFile {
    pub path: String,
    pub bytes: Vec<u8>,
    pub len: u64,
}

fn image_opts() -> Options {
    let mut o = Options::default();
    o.set_partition_points(64).expect("valid");
    o.sync = SyncPolicy::None;
    o.wal_segment_bytes = crate::MIN_WAL_SEGMENT_BYTES;
    o.checkpoint_bytes = 1 << 30; // only the explicit checkpoints below
    o
}

/// The images (see [`Images`]), made on first use.
pub fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let dir = Scratch::new("image");
        let db = Database::open(&dir.0, &image_opts()).expect("open the image database");
        fill_image(&db).expect("fill the image database");
        let points = read_everything(&db).expect("the image database reads whole and checks clean");
        let crash = read_files(&dir.0);
        db.close().map_err(|(_, e)| e).expect("close the image database");
        let clean = read_files(&dir.0);
        Images { crash, clean, points }
    })
}

/// Metrics of every shape the files hold: several sealed parts (more than 4: an INDEX and
/// CHUNKs), a paged block (a constant series grows its block past 1,024 points), late
/// points merged into sealed parts, a name kept in a NAME blob, more than 4 extents (an
/// EXTENTS blob), a dropped metric, a range delete, a retention setting; then log records
/// of each kind after the last checkpoint.
fn fill_image(db: &Database) -> crate::Result<()> {
    let noisy = db.create_metric("noisy")?;
    let ts: Vec<i64> = (0..400).map(|i| 1_000_000 + i * 1000).collect();
    let vals: Vec<f64> =
        (0..400u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64 / 8.0).collect();
    db.insert_batch(noisy, &ts, &vals)?;
    let flat = db.create_metric("flat")?;
    let ts: Vec<i64> = (0..1200).map(|i| i * 10).collect();
    db.insert_batch(flat, &ts, &vec![42.0; 1200])?;
    let late = db.create_metric("late")?;
    let ts: Vec<i64> = (0..200).map(|i| i * 2).collect();
    db.insert_batch(late, &ts, &vec![1.5; 200])?;
    for t in (11..40).step_by(4) {
        db.insert(late, t, 2.5)?;
    }
    // A seal that merges those late points into the sealed parts.
    let ts: Vec<i64> = (0..70).map(|i| 400 + i * 2).collect();
    db.insert_batch(late, &ts, &vec![3.5; 70])?;
    let long = db.create_metric(&format!("long.{}", "n".repeat(80)))?;
    let heads = db.create_metric("heads")?;
    for k in 0..6 {
        db.insert(long, k, k as f64)?;
        db.insert_batch(heads, &[k * 2, k * 2 + 1], &[f64::NAN, k as f64])?;
        db.checkpoint()?;
    }
    let gone = db.create_metric("gone")?;
    db.insert(gone, 1, 1.0)?;
    db.drop_metric(gone)?;
    db.delete_range(noisy, 1_010_000, 1_020_000)?;
    db.set_retention(late, 1_000)?;
    db.checkpoint()?;
    // After the checkpoint: only in the log.
    let after = db.create_metric("after")?;
    db.insert_batch(after, &[1, 2, 3], &[0.5, -0.5, 1e300])?;
    let mut batch = crate::Batch::new();
    batch.add(noisy, 2_000_000, 7.0);
    batch.add(heads, 100, 8.0);
    db.commit(&mut batch)?;
    // A scrape (one timestamp, ids in order): the log's scrape record.
    batch.add(noisy, 2_000_001, 9.0);
    batch.add(heads, 2_000_001, 10.0);
    db.commit(&mut batch)?;
    db.delete_range(heads, 0, 2)?;
    db.set_retention(heads, -1)?;
    let gone = db.create_metric("gone.too")?;
    db.drop_metric(gone)?;
    // Enough single inserts to fill the first log segment and start a second.
    for t in 0..80 {
        db.insert(after, 10 + t, t as f64)?;
    }
    Ok(())
}

fn read_files(dir: &Path) -> Vec<DbFile> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("list the image") {
            let p = e.expect("list the image").path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).expect("inside").to_string_lossy().into_owned();
            if rel == "LOCK" {
                continue;
            }
            let (bytes, len) = read_used(&p);
            out.push(DbFile { path: rel, bytes, len });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// A file's bytes up to its last non-zero one, read a MiB at a time (a data segment being
/// written is 256 MiB, almost all of it a hole), and its length.
fn read_used(path: &Path) -> (Vec<u8>, u64) {
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("open an image file");
    let (mut bytes, mut zeros, mut len) = (Vec::new(), 0usize, 0u64);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read an image file");
        if n == 0 {
            break;
        }
        len += n as u64;
        let chunk = &buf[..n];
        match chunk.iter().rposition(|&b| b != 0) {
            None => zeros += n,
            Some(last) => {
                bytes.resize(bytes.len() + zeros, 0);
                bytes.extend_from_slice(&chunk[..=last]);
                zeros = n - last - 1;
            }
        }
    }
    (bytes, len)
}

/// Apply the mutations an `open_dir` input lists to a copy of an image: `flags u8` (bit 0:
/// the clean image, else the crash image), then 6 bytes per mutation (at most 64): `op u8 │
/// file u8 │ offset u24 │ arg u8`. `file` picks a file of the image (modulo their number),
/// `offset` a byte of its used part (modulo its length + 1). Ops (modulo 8): 0 flip bit
/// `arg % 8`; 1 zero `arg` bytes; 2 truncate the file there; 3 insert `arg % 16 + 1` bytes
/// of `arg`; 4 delete the file; 5 set the byte to `arg`; 6 recompute the file's checksums
/// (a MANIFEST's or a log segment's; a data segment's header); 7 add `arg` to the byte.
pub fn mutate(data: &[u8]) -> Vec<DbFile> {
    let imgs = images();
    let (flags, ops) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let files = if flags & 1 != 0 { &imgs.clean } else { &imgs.crash };
    let mut files: Vec<Option<DbFile>> = files.iter().cloned().map(Some).collect();
    for op in ops.chunks_exact(6).take(64) {
        let k = usize::from(op[1]) % files.len();
        if op[0] % 8 == 4 {
            files[k] = None;
            continue;
        }
        let Some(f) = files[k].as_mut() else { continue };
        let off =
            (usize::from(op[2]) | usize::from(op[3]) << 8 | usize::from(op[4]) << 16) % (f.bytes.len() + 1);
        let arg = op[5];
        match op[0] % 8 {
            0 => {
                if let Some(b) = f.bytes.get_mut(off) {
                    *b ^= 1 << (arg % 8);
                }
            }
            1 => {
                let end = (off + usize::from(arg)).min(f.bytes.len());
                f.bytes[off..end].fill(0);
            }
            2 => {
                f.bytes.truncate(off);
                f.len = off as u64;
            }
            3 => {
                let n = usize::from(arg % 16) + 1;
                f.bytes.splice(off..off, std::iter::repeat_n(arg, n));
                f.len += n as u64;
            }
            5 => {
                if let Some(b) = f.bytes.get_mut(off) {
                    *b = arg;
                }
            }
            6 => {
                // Over the file's whole length: a log record's crc covers its padding.
                let used = f.bytes.len();
                f.bytes.resize(used.max(f.len.min(1 << 24) as usize), 0);
                if f.path == manifest::FILE {
                    fix_manifest_checksums(&mut f.bytes);
                } else if f.path.ends_with(wal::EXT) {
                    fix_wal_checksums(&mut f.bytes);
                } else {
                    fix_file_header(&mut f.bytes);
                }
                let used = f.bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1).max(used);
                f.bytes.truncate(used);
            }
            _ => {
                if let Some(b) = f.bytes.get_mut(off) {
                    *b = b.wrapping_add(arg);
                }
            }
        }
        f.len = f.len.max(f.bytes.len() as u64);
    }
    files.into_iter().flatten().collect()
}

/// Write the files [`mutate`] made into `dir`.
fn lay_out(dir: &Path, files: &[DbFile]) {
    for f in files {
        let p = dir.join(&f.path);
        write(&p, &f.bytes);
        if f.len > f.bytes.len() as u64 {
            let file = std::fs::OpenOptions::new().write(true).open(&p).expect("reopen a scratch file");
            file.set_len(f.len).expect("size a scratch file");
        }
    }
}

/// `Database::open` of a mutated copy of a small real database ([`mutate`]): then a full
/// scan of every metric, an aggregate of each, `Database::check` and `inventory`, and a
/// close; a database that closed is opened once more. With no mutation the database must
/// open, check clean and hold every point it was given.
pub fn open_dir(data: &[u8]) {
    let files = mutate(data);
    let dir = Scratch::new("open");
    lay_out(&dir.0, &files);
    let pristine = data.len() < 7;
    let mut opts = image_opts();
    opts.create_if_missing = false;
    for round in 0..2u64 {
        let db = match Database::open(&dir.0, &opts) {
            Ok(db) => db,
            Err(e) => {
                assert!(!pristine, "an undamaged image opens: {e}");
                return;
            }
        };
        let points = read_everything(&db);
        if pristine {
            let want = images().points + round;
            assert_eq!(points, Some(want), "an undamaged image holds every point (round {round})");
        }
        if round == 0 {
            // A create takes a fresh id: it adds a metric, never replaces one.
            let before = db.begin().metric_count();
            if let Ok(id) = db.create_metric("fuzz.created") {
                assert_eq!(db.begin().metric_count(), before + 1, "a create adds a metric");
                let _ = db.insert(id, 1, 1.0);
            }
        }
        let closed = db.close();
        if closed.is_err() {
            assert!(!pristine, "an undamaged image closes");
            return;
        }
    }
}

/// Scan every metric whole, aggregate it, check and take the inventory; the points the
/// scans found, `None` when a read failed (or the check found damage).
fn read_everything(db: &Database) -> Option<u64> {
    let snap = db.begin();
    let ids: Vec<MetricId> = snap.metrics(MetricId(0)).map(|(id, _)| id).take(1 << 16).collect();
    let mut points = Some(0u64);
    let (mut ts, mut vals) = (vec![0i64; 512], vec![0f64; 512]);
    for &id in &ids {
        let _ = snap.metric_name(id);
        let scanned = snap.scan(id, i64::MIN, i64::MAX).and_then(|mut c| {
            let mut n = 0u64;
            let mut prev = None;
            loop {
                let got = c.next_batch(Some(&mut ts), Some(&mut vals))?;
                if got == 0 {
                    return Ok(n);
                }
                assert!(prev.is_none_or(|p| p < ts[0]) && ts[..got].windows(2).all(|w| w[0] < w[1]));
                prev = Some(ts[got - 1]);
                n += got as u64;
            }
        });
        points = match (points, scanned) {
            (Some(p), Ok(n)) => Some(p + n),
            _ => None,
        };
        let mut aggs = Vec::new();
        let _ = snap.aggregate(id, i64::MIN, i64::MAX - 1, 1 << 40, 64, &mut aggs);
    }
    drop(snap);
    match db.check() {
        Ok(r) if r.is_ok() => {}
        _ => points = None,
    }
    let _ = db.inventory();
    points
}
