//! Entry points for the fuzz targets (`fuzz/`) and their regression test
//! (`tests/fuzz_corpus.rs`): each feeds arbitrary bytes to one of the engine's decoders.
//! Built only with the `fuzzing` feature, never into the shipped library.
//!
//! Every entry point takes any input. An error from the engine is a rejected input; a panic
//! (including an overflow under debug assertions), an allocation past the fuzzer's limit
//! or a hang is a bug. Where a decoder's output can be checked against another path, the
//! entry point asserts it (a decoded block re-encodes to the same points, a page decodes to
//! the points the whole block has, a replayed log replays the same a second time, ...).
//!
//! Inputs start with a flags byte; bit 0 asks for the checksums to be recomputed after
//! the bytes are laid out, so that the fuzzer reaches the parsers behind the crc32 checks
//! (a mutation that the checksums would reject is otherwise all it ever tests). The
//! layouts are in docs/testing.md ("Fuzzing"); [`seeds`] makes the checked-in corpora.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::codec::{self, Summary};
use crate::storage::manifest::{self, Manifest};
use crate::storage::{self as st, wal};
use crate::{Database, MetricId, Options, SyncPolicy};

/// An entry point: takes any bytes.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name: `fuzz/fuzz_targets/<name>.rs` calls the function, and
/// `fuzz/corpus/<name>/` holds its seeds.
pub const TARGETS: [(&str, Target); 5] = [
    ("codec_block", codec_block),
    ("manifest_file", manifest_file),
    ("manifest_blob", manifest_blob),
    ("wal_replay", wal_replay),
    ("open_dir", open_dir),
];

// ---------------------------------------------------------------------------------------
// Scratch directories

/// A directory of its own for one call, removed when dropped: under /dev/shm when there is
/// one (no disk writes, and a crashed run leaves nothing on disk), named by process and
/// a counter (the regression test runs targets on several threads of one process).
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        static BASE: OnceLock<PathBuf> = OnceLock::new();
        let base = BASE.get_or_init(|| {
            let shm = Path::new("/dev/shm");
            let base = if shm.is_dir() { shm.to_owned() } else { std::env::temp_dir() };
            sweep(&base);
            base
        });
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("tsdb-fuzz-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch directory");
        Scratch(dir)
    }
}

/// Remove the scratch directories of processes that are gone: a crash (an abort, which
/// runs no destructor) or a killed run leaves its last one behind.
fn sweep(base: &Path) {
    let Ok(rd) = std::fs::read_dir(base) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("tsdb-fuzz-")) else { continue };
        // tsdb-fuzz-<tag>-<pid>-<n>
        let mut parts = rest.rsplit('-');
        let (Some(_), Some(pid)) = (parts.next(), parts.next()) else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("scratch directory");
    }
    std::fs::write(path, bytes).expect("cannot write a scratch file");
}

// ---------------------------------------------------------------------------------------
// Checksum fix-ups: lay the crc32s over mutated bytes, so the parsers behind them are reached.

fn put_u32(b: &mut [u8], at: usize, x: u32) {
    b[at..at + 4].copy_from_slice(&x.to_le_bytes());
}

fn get_u32(b: &[u8], at: usize) -> Option<u32> {
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
fn fix_file_header(file: &mut [u8]) {
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

// ---------------------------------------------------------------------------------------
// codec_block

/// The codec's block and page decoders. Input: `flags u8 │ block`. Flags: bit 0 recompute
/// the block's checksums; bits 1-3 how many points (1-8) to append to it with
/// [`codec::append`]; bit 4 append from its last timestamp (a rejected append) rather than
/// after it; bits 5-7 which pages to decode one by one.
///
/// Checked: a block that decodes verifies with the same summary; each page that decodes
/// has the points the whole block has there; the decoded points encode and decode back to
/// themselves; an append to a decodable block decodes to its points then the new ones.
pub fn codec_block(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut block = rest.to_vec();
    if flags & 1 != 0 {
        fix_block_checksums(&mut block);
    }
    let header = codec::header(&block);
    let verified = codec::verify(&block);
    let (mut ts, mut vals) = (Vec::new(), Vec::new());
    let decoded = codec::decode(&block, &mut ts, &mut vals);
    match &decoded {
        Ok(s) => {
            assert!(same_summary(verified.as_ref().expect("a decoded block verifies"), s));
            assert_eq!(ts.len(), s.count as usize);
            assert!(ts.windows(2).all(|w| w[0] < w[1]), "decoded timestamps strictly ascend");
            assert_eq!((ts[0], ts[ts.len() - 1]), (s.first_ts, s.last_ts));
            let _ = codec::check_summaries(&block, &ts, &vals);
            let (mut t2, mut v2) = (vec![0; ts.len()], vec![0.0; ts.len()]);
            codec::decode_into(&block, &mut t2, &mut v2).expect("decode_into agrees with decode");
            assert!(t2 == ts && same_values(&v2, &vals));
            // What the engine would write for these points decodes to them.
            let mut again = Vec::new();
            codec::encode(&ts, &vals, &mut again);
            let (mut t3, mut v3) = (Vec::new(), Vec::new());
            codec::decode(&again, &mut t3, &mut v3).expect("an encoded block decodes");
            assert!(t3 == ts && same_values(&v3, &vals), "encode/decode round trip");
            codec::check_summaries(&again, &t3, &v3).expect("an encoded block's summaries match");
        }
        Err(_) => assert!(ts.is_empty() && vals.is_empty(), "a failed decode leaves its output"),
    }
    // Pages, as a scan of part of a paged block reads them (decode_overlapping).
    let mut pages = Vec::new();
    if let Ok(true) = codec::pages_into(&block, &mut pages) {
        assert!(!pages.is_empty());
        let n = pages.len();
        let (a, b) = (usize::from(flags >> 5) % n, n - 1 - usize::from(flags >> 6) % n);
        for page in &pages[a.min(b)..=a.max(b)] {
            let c = page.summary.count as usize;
            let (mut pt, mut pv) = (vec![0; c], vec![0.0; c]);
            if codec::decode_page(&block, page, &mut pt, &mut pv).is_ok()
                && decoded.is_ok()
                && let (Some(wt), Some(wv)) =
                    (ts.get(page.start..page.start + c), vals.get(page.start..page.start + c))
            {
                assert!(pt == wt && same_values(&pv, wv), "a page decodes to the block's points");
            }
        }
    }
    // An append of a few points after the block's last one.
    let k = 1 + usize::from(flags >> 1 & 7);
    let last = header.map_or(0, |h| h.summary.last_ts);
    let first = if flags & 0x10 != 0 { Some(last) } else { last.checked_add(1) };
    let Some(first) = first else { return };
    let new_ts: Vec<i64> = (0..k as i64).map_while(|i| first.checked_add(i * 3)).collect();
    let new_vals: Vec<f64> = (0..new_ts.len()).map(|i| i as f64 * 0.25 - 1.0).collect();
    if new_ts.is_empty() {
        return;
    }
    let mut out = vec![0xAA];
    let appended = codec::append(&block, &new_ts, &new_vals, &mut out);
    let (mut at, mut av) = (Vec::new(), Vec::new());
    match appended {
        Ok(Some(s)) => {
            let result = codec::decode(&out[1..], &mut at, &mut av);
            if decoded.is_ok() {
                let got = result.expect("an append to a good block decodes");
                assert_eq!(got.count as usize, ts.len() + new_ts.len());
                assert!(same_summary(&got, &s));
                ts.extend_from_slice(&new_ts);
                vals.extend_from_slice(&new_vals);
                assert!(at == ts && same_values(&av, &vals), "an append keeps the points and adds the new");
            }
        }
        Ok(None) => assert_eq!(out, [0xAA], "a refused append writes nothing"),
        Err(_) => {}
    }
}

fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn same_summary(a: &Summary, b: &Summary) -> bool {
    (a.count, a.first_ts, a.last_ts, a.nan_count) == (b.count, b.first_ts, b.last_ts, b.nan_count)
        && [(a.min, b.min), (a.max, b.max), (a.sum, b.sum)].iter().all(|(x, y)| x.to_bits() == y.to_bits())
}

// ---------------------------------------------------------------------------------------
// manifest_file and manifest_blob

const SLOT: usize = 4096;
const FIRST_BLOB: usize = 2 * SLOT;
/// A format-5 superblock's length (formats 3 and 4: 92 bytes, their crc at 88).
const SUPER_LEN: usize = 108;

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
            assert_eq!((e.name.as_str(), e.extents.as_slice()), ("fuzz.new", &extents[..]));
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

// ---------------------------------------------------------------------------------------
// wal_replay

/// The log segments a `wal_replay` input describes: `flags u8 │ after u8 │ split u16 │
/// segments`. With flag bit 1 the bytes are cut in two at `split` (modulo their length):
/// segments 1 and 2, else one segment 1. Bit 0 recomputes the checksums of each. Bit 2:
/// the manifest says the log starts at segment 1 (bit 3: which exists), as format 5 does.
pub fn wal_segments(data: &[u8]) -> (u64, Vec<Vec<u8>>) {
    let [flags, after, s0, s1, rest @ ..] = data else { return (0, Vec::new()) };
    let mut segs = if flags & 2 != 0 {
        let split = usize::from(u16::from_le_bytes([*s0, *s1])) % (rest.len() + 1);
        vec![rest[..split].to_vec(), rest[split..].to_vec()]
    } else {
        vec![rest.to_vec()]
    };
    if flags & 1 != 0 {
        segs.iter_mut().for_each(|s| fix_wal_checksums(s));
    }
    (u64::from(*after), segs)
}

/// `wal::replay` of the segments [`wal_segments`] makes, as `wal/00000001.wal` (and
/// `00000002.wal`), after sequence number `after`. When it succeeds, the records applied
/// must have ascending numbers above `after`, and a second replay (after the first cut any
/// torn tail) must succeed with the same records.
pub fn wal_replay(data: &[u8]) {
    let (after, segs) = wal_segments(data);
    let start = match data.first() {
        Some(f) if f & 4 != 0 => Some(st::LogStart { segment: 1, exists: f & 8 != 0 }),
        _ => None,
    };
    if segs.is_empty() {
        return;
    }
    let dir = Scratch::new("wal");
    let wal_dir = dir.0.join("wal");
    for (k, s) in segs.iter().enumerate() {
        write(&wal_dir.join(st::file_name(k as u64 + 1, wal::EXT)), s);
    }
    let replay = || {
        let log = wal::scan(&wal_dir, after, start)?;
        let mut got = Vec::new();
        log.apply(after, |seq, rec| {
            got.push((seq, rec));
            Ok(())
        })?;
        let max_seq = log.max_seq;
        Ok::<_, crate::Error>((got, max_seq, log))
    };
    let Ok((first, max_seq, log)) = replay() else { return };
    assert!(first.windows(2).all(|w| w[0].0 + 1 == w[1].0), "records numbered without a gap");
    assert!(first.iter().all(|r| r.0 > after && r.0 <= max_seq), "records after `after`");
    // What a read-write open then does (deletes leftovers, clears a torn end, goes on in the
    // last segment) changes no record: a second replay reads the same.
    let Ok(w) = wal::Wal::open(log, 4096, false, false) else { return };
    drop(w);
    let (second, max2, _) = replay().expect("a log that replayed replays again");
    // Compared as text: the records' values may be NaN.
    assert_eq!(format!("{second:?}"), format!("{first:?}"), "a second replay reads the same records");
    assert_eq!(max2, max_seq);
}

// ---------------------------------------------------------------------------------------
// open_dir

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

// ---------------------------------------------------------------------------------------
// Seeds

/// The seed corpora: `(target, file name, input)`, made from a real database and real
/// blocks. `tests/fuzz_corpus.rs` (`regenerate_corpora`, ignored) writes them to
/// `fuzz/corpus/<target>/`.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    // Blocks: each value coding, a paged block, NaNs, one point; as written and with the
    // checksums recomputed.
    let shapes: Vec<(&str, Vec<i64>, Vec<f64>)> = vec![
        ("one", vec![7], vec![1.0]),
        ("decimal", (0..100).map(|i| i * 1000).collect(), (0..100).map(|i| f64::from(i) * 0.1).collect()),
        (
            "xor",
            (0..60).map(|i| i * 7 + i * i).collect(),
            (0..60u64)
                .map(|i| f64::from_bits(0x4000_0000_0000_0000 ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
                .collect(),
        ),
        ("raw", (0..20).map(|i| i << 40).collect(), (0..20).map(|i| f64::from(i).sqrt() * 1e-300).collect()),
        (
            "nan",
            (0..30).collect(),
            (0..30).map(|i| if i % 3 == 0 { f64::NAN } else { f64::from(i) }).collect(),
        ),
        ("paged", (0..1100).map(|i| i * 10).collect(), (0..1100).map(|i| f64::from(i % 50)).collect()),
    ];
    for (name, ts, vals) in &shapes {
        let mut b = Vec::new();
        codec::encode(ts, vals, &mut b);
        for flags in [0u8, 1 | 2 << 1] {
            out.push(("codec_block", format!("{name}-{flags}"), [&[flags][..], &b].concat()));
        }
    }
    // A paged block grown by an append (full pages copied).
    let (ts, vals) = (&shapes[5].1, &shapes[5].2);
    let mut b = Vec::new();
    codec::append(
        &{
            let mut a = Vec::new();
            codec::encode(&ts[..600], &vals[..600], &mut a);
            a
        },
        &ts[600..],
        &vals[600..],
        &mut b,
    )
    .expect("append")
    .expect("appended");
    out.push(("codec_block", "appended".into(), [&[1u8][..], &b].concat()));

    let imgs = images();
    // Manifests: both images', and the format-3 fixture whole.
    for (tag, img) in [("crash", &imgs.crash), ("clean", &imgs.clean)] {
        let m = img.iter().find(|f| f.path == manifest::FILE).expect("a MANIFEST");
        let mut file = m.bytes.clone();
        file.resize(m.len as usize, 0);
        out.push(("manifest_file", tag.to_string(), manifest_input(&file, 0)));
        out.push(("manifest_file", format!("{tag}-fix"), manifest_input(&file, 1)));
        // Its blobs, one by one.
        let mut at = FIRST_BLOB;
        let mut k = 0;
        while at + 16 <= file.len() {
            let len = get_u32(&file, at + 8).unwrap_or(0) as usize;
            let Some(body) = file.get(at + 16..at + 16 + len) else { break };
            let kind = file[at + 4];
            if [2, 5, 7, 8].contains(&kind) {
                out.push(("manifest_blob", format!("{tag}-{k}-kind{kind}"), [&[kind, 0][..], body].concat()));
                k += 1;
            }
            at += (16 + len).next_multiple_of(8);
        }
    }
    let v3 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifest-v3/MANIFEST");
    if let Ok(file) = std::fs::read(&v3) {
        out.push(("manifest_file", "format3".into(), [&[0x80][..], &file].concat()));
    }
    // The crash image's log segments: each alone, and the first two as one input cut
    // between them.
    let segs: Vec<&DbFile> = imgs.crash.iter().filter(|f| f.path.ends_with(wal::EXT)).collect();
    for (k, s) in segs.iter().enumerate() {
        let mut seg = s.bytes.clone();
        seg.resize(s.bytes.len().next_multiple_of(8), 0);
        out.push(("wal_replay", format!("segment-{k}"), [&[0u8, 0, 0, 0][..], &seg].concat()));
        out.push(("wal_replay", format!("segment-{k}-after"), [&[1u8, 3, 0, 0][..], &seg].concat()));
    }
    if let [a, b, ..] = segs[..] {
        let split = (a.bytes.len() as u16).to_le_bytes();
        out.push((
            "wal_replay",
            "two-segments".into(),
            [&[3u8, 0, split[0], split[1]][..], &a.bytes, &b.bytes].concat(),
        ));
    }
    // Directories: each image untouched, a bit flipped in each file, a file deleted.
    out.push(("open_dir", "crash".into(), vec![0]));
    out.push(("open_dir", "clean".into(), vec![1]));
    for (k, _) in imgs.crash.iter().enumerate() {
        out.push(("open_dir", format!("crash-flip-{k}"), vec![0, 0, k as u8, 40, 0, 0, 3]));
    }
    out.push(("open_dir", "clean-delete-0".into(), vec![1, 4, 0, 0, 0, 0, 0]));
    out.push(("open_dir", "crash-fix".into(), vec![0, 5, 0, 100, 32, 0, 9, 6, 0, 0, 0, 0, 0]));
    out
}
