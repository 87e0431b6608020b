//! `Database::check` (and `ts_check`) on healthy and damaged databases, and
//! `Database::inventory` against full scans.
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

use tsdb::codec::shapes::Rng;
use tsdb::ffi::db::{ts_close, ts_db, ts_open};
use tsdb::ffi::inspect::{ts_check, ts_check_report};
use tsdb::ffi::status::ts_errmsg;
use tsdb::ffi::ts_status::{self, *};
use tsdb::{Database, Error, MetricId, Options};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tsdb-inspect-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn opts() -> Options {
    let mut o = Options::default();
    o.set_partition_points(256).unwrap();
    o
}

/// Three metrics: "noisy" with 2000 points of random values (8 sealed partitions, blocks
/// of a few KiB), "late" with sealed points and late overwrites plus new late points in its
/// head, "small" with 10 points (only a head, persisted as an extent by the close).
fn fill(d: &Path) -> u64 {
    let db = Database::open(d, &opts()).unwrap();
    let mut rng = Rng::new(7, 0);
    let noisy = db.create_metric("noisy").unwrap();
    let ts: Vec<i64> = (0..2000).map(|i| 1_000_000 + i * 1000).collect();
    let vals: Vec<f64> = (0..2000).map(|_| rng.next_u64() as f64 / 7.0).collect();
    db.insert_batch(noisy, &ts, &vals).unwrap();
    let late = db.create_metric("late").unwrap();
    let ts: Vec<i64> = (0..1000).map(|i| i * 2).collect();
    db.insert_batch(late, &ts, &vec![1.5; 1000]).unwrap();
    // 10 overwrites of sealed timestamps and 5 new points between them: 1005 points in all.
    for t in (100..120).step_by(2) {
        db.insert(late, t, 2.5).unwrap();
    }
    for t in (301..311).step_by(2) {
        db.insert(late, t, 3.5).unwrap();
    }
    let small = db.create_metric("small").unwrap();
    for t in 0..10 {
        db.insert(small, t, f64::NAN).unwrap();
    }
    db.close().map_err(|(_, e)| e).unwrap();
    2000 + 1005 + 10
}

fn full_scan_points(db: &Database) -> u64 {
    let s = db.begin();
    let ids: Vec<MetricId> = s.metrics(MetricId(0)).map(|(id, _)| id).collect();
    ids.iter().map(|&id| s.scan(id, i64::MIN, i64::MAX).unwrap().count() as u64).sum()
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

fn segment(d: &Path) -> PathBuf {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d.join("data")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v.remove(0)
}

#[test]
fn check_passes_on_a_healthy_database_and_counts_what_it_read() {
    let d = tmpdir("healthy");
    let points = fill(&d);
    let db = Database::open(&d, &opts()).unwrap();
    let r = db.check().unwrap();
    assert!(r.is_ok(), "{:?}", r.damage);
    let inv = db.inventory().unwrap();
    assert_eq!(r.metrics, 3);
    assert_eq!(r.manifest_entries, 3);
    assert_eq!((r.partitions, r.extents), (inv.partitions, inv.extents));
    // noisy: 2000 points in partitions of 256, the oldest joined by tier; late: 1000.
    assert!(r.partitions >= 3, "noisy and late are sealed: {r:?}");
    assert!(r.extents >= 2, "late and small have heads persisted as extents: {r:?}");
    assert_eq!(r.block_bytes, inv.block_bytes);
    assert_eq!(r.segments, 1);
    assert!(r.manifest_bytes >= 8192);
    // Blocks hold every sealed point once, and extents the head points (late's overwrites too).
    assert_eq!(r.points, inv.sealed_points + 10 + 15);
    // Inventory: exactly what a full scan returns, late overwrites counted once.
    assert_eq!(inv.points, points);
    assert_eq!(full_scan_points(&db), points);
    assert_eq!(inv.head_points, 5 + 10, "late's new points and small's; not the overwrites");
    assert_eq!((inv.metrics, inv.first_ts, inv.last_ts), (3, Some(0), Some(1_000_000 + 1999 * 1000)));
    assert_eq!(db.stats().unwrap().live_snapshots, 0);
    {
        let _s = db.begin();
        assert_eq!(db.stats().unwrap().live_snapshots, 1);
    }
    // Writes after open (still in heads and the log) are counted and checked too.
    let id = db.begin().lookup("small").unwrap();
    db.insert(id, 100, 1.0).unwrap();
    assert_eq!(db.inventory().unwrap().points, points + 1);
    assert!(db.check().unwrap().is_ok());
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn check_reports_a_damaged_block_naming_file_offset_and_metric() {
    let d = tmpdir("block");
    fill(&d);
    // The first block of the first segment is noisy's first sealed partition (written
    // before any extent); blocks of sealed partitions are read only when scanned, so the
    // database opens.
    let seg = segment(&d);
    flip(&seg, 32 + 500);
    let db = Database::open(&d, &opts()).unwrap();
    let r = db.check().unwrap();
    assert_eq!(r.damage.len(), 1, "{:?}", r.damage);
    let name = seg.file_name().unwrap().to_str().unwrap();
    let m = &r.damage[0];
    assert!(m.starts_with(&format!("data/{name} offset 32: ")), "{m}");
    assert!(m.contains("checksum mismatch") && m.contains("metric \"noisy\" (id 1), partition 1 of"), "{m}");
    // The walk went on past the damage.
    assert_eq!(r.metrics, 3);
    assert!(r.partitions >= 3);
    // The same through the C API: TS_CORRUPTION, the message names the file, no report.
    let c = ffi_check(db);
    assert_eq!(c.0, TS_CORRUPTION);
    assert!(c.1.starts_with(&format!("ts_check: 1 problem found: data/{name} offset 32: ")), "{}", c.1);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn check_reports_a_damaged_superblock_copy_that_open_survives() {
    let d = tmpdir("super");
    fill(&d);
    flip(&d.join("MANIFEST"), 4096 + 70);
    let db = Database::open(&d, &opts()).unwrap();
    let r = db.check().unwrap();
    assert_eq!(r.damage.len(), 1, "{:?}", r.damage);
    assert!(r.damage[0].starts_with("MANIFEST offset 4096: superblock copy damaged"), "{}", r.damage[0]);
    assert_eq!(r.manifest_entries, 3);
    // The close's checkpoint rewrites both copies: healthy again.
    db.close().map_err(|(_, e)| e).unwrap();
    let db = Database::open(&d, &opts()).unwrap();
    assert!(db.check().unwrap().is_ok());
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_damaged_extent_is_corruption_naming_the_file_when_its_head_is_read() {
    // Opening leaves extents on disk (docs/format.md, "Opening"): a damaged one is found
    // when its head is first read or sealed, like a damaged sealed block, and by a check.
    let d = tmpdir("extent");
    fill(&d);
    let seg = segment(&d);
    let len = std::fs::metadata(&seg).unwrap().len();
    flip(&seg, len - 20); // the last block written: an extent of the close's checkpoint
    for round in 0..2 {
        let db = Database::open(&d, &opts()).unwrap();
        let s = db.begin();
        let small = s.lookup("small").unwrap();
        match s.scan(small, i64::MIN, i64::MAX) {
            Err(Error::Corruption(m)) => assert!(m.starts_with("data/"), "{m}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        let late = s.lookup("late").unwrap();
        assert_eq!(s.scan(late, i64::MIN, i64::MAX).unwrap().count(), 1005, "the other heads read");
        // Writes go on (to the log and the head); the damaged extent is reported again, and
        // a close keeps it as it is (round 2 finds it unchanged).
        db.insert(small, 100 + round, 1.0).unwrap();
        assert!(matches!(s.scan(small, 0, 1), Err(Error::Corruption(_))));
        // A range delete (a retention cut, say) that misses the extent does not read it.
        db.delete_range(small, -100, -1).unwrap();
        assert!(db.health().is_ok());
        let r = db.check().unwrap();
        assert!(r.damage.iter().any(|m| m.starts_with("data/")), "{:?}", r.damage);
        drop(s);
        db.close().map_err(|(_, e)| e).unwrap();
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Run `ts_check` on `db` (reopened through the C API); returns the status and message,
/// or the report on `TS_OK`.
fn ffi_check(db: Database) -> (ts_status, String, ts_check_report) {
    let dir = db.path().to_owned();
    db.close().map_err(|(_, e)| e).unwrap();
    let path = CString::new(dir.to_str().unwrap()).unwrap();
    let mut h: *mut ts_db = null_mut();
    // SAFETY: a valid path and out-pointer.
    assert_eq!(unsafe { ts_open(path.as_ptr(), null(), &mut h) }, TS_OK);
    let mut report = ts_check_report::default();
    // SAFETY: `h` is live; `report` is writable.
    let st = unsafe { ts_check(h, &mut report) };
    // SAFETY: ts_errmsg returns a valid NUL-terminated string.
    let msg = unsafe { CStr::from_ptr(ts_errmsg()) }.to_string_lossy().into_owned();
    // SAFETY: `h` is live and used by no one else.
    assert_eq!(unsafe { ts_close(h) }, TS_OK);
    (st, msg, report)
}

#[test]
fn ts_check_fills_the_report_on_a_healthy_database_and_checks_pointers() {
    let d = tmpdir("ffi");
    fill(&d);
    let db = Database::open(&d, &opts()).unwrap();
    let want = db.check().unwrap();
    let (st, msg, got) = ffi_check(db);
    assert_eq!(st, TS_OK, "{msg}");
    assert_eq!(got, ts_check_report::from(&want));
    assert_eq!(got.metrics, 3);
    let path = CString::new(d.to_str().unwrap()).unwrap();
    let mut h: *mut ts_db = null_mut();
    // SAFETY: valid arguments; then NULL for each pointer parameter of ts_check.
    unsafe {
        assert_eq!(ts_open(path.as_ptr(), null(), &mut h), TS_OK);
        let mut r = ts_check_report::default();
        assert_eq!(ts_check(null_mut(), &mut r), TS_INVALID_ARGUMENT);
        assert!(CStr::from_ptr(ts_errmsg()).to_str().unwrap().contains("ts_check: db is NULL"));
        assert_eq!(ts_check(h, null_mut()), TS_INVALID_ARGUMENT);
        assert!(CStr::from_ptr(ts_errmsg()).to_str().unwrap().contains("ts_check: out is NULL"));
        assert_eq!(r, ts_check_report::default(), "not written on failure");
        assert_eq!(ts_close(h), TS_OK);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn check_reports_blocks_cut_off_by_a_truncated_segment() {
    let d = tmpdir("truncated");
    {
        // 2048 points: the head is sealed whole into 8 partitions, joined by tier into 2 of
        // 1024; no extent is written, so the last block of the segment is a partition (read
        // only when scanned).
        let db = Database::open(&d, &opts()).unwrap();
        let id = db.create_metric("m").unwrap();
        let mut rng = Rng::new(3, 0);
        let ts: Vec<i64> = (0..2048).collect();
        let vals: Vec<f64> = (0..2048).map(|_| rng.next_u64() as f64).collect();
        db.insert_batch(id, &ts, &vals).unwrap();
        db.close().map_err(|(_, e)| e).unwrap();
    }
    let seg = segment(&d);
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 100).unwrap();
    let db = Database::open(&d, &opts()).unwrap();
    let r = db.check().unwrap();
    let name = seg.file_name().unwrap().to_str().unwrap();
    // Once from the manifest's references, once from the partition being read.
    assert_eq!(r.damage.len(), 2, "{:?}", r.damage);
    assert!(r.damage[0].starts_with(&format!("data/{name} offset ")), "{}", r.damage[0]);
    assert!(r.damage[0].contains("MANIFEST: metric \"m\" (id 1): partition 2 ("), "{}", r.damage[0]);
    assert!(r.damage[0].contains(&format!("lies outside the file's {} bytes", len - 100)), "{}", r.damage[0]);
    assert!(r.damage[1].starts_with(&format!("data/{name}: block reference (offset ")), "{}", r.damage[1]);
    assert!(r.damage[1].ends_with("(metric \"m\" (id 1), partition 2 of 2)"), "{}", r.damage[1]);
    assert_eq!(r.partitions, 2);
    drop(db);
    std::fs::remove_dir_all(&d).unwrap();
}
