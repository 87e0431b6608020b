//! Durability: what was written is there after close and reopen, after a checkpoint with
//! more log behind it, and damaged files are reported as corruption naming the file and
//! offset, never returned as data. (Process kills are in tests/crash.rs.)
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod common;

use common::{Model, all, check, copy_dir, opts, tmpdir};
use tsdb::codec::shapes::Rng;
use tsdb::{Batch, Database, Error, MetricId, Options, Snapshot, SyncPolicy};

/// Random writes (out of order, overwrites, drops, batches) with checkpoints and reopens
/// in between; after each reopen the database equals the model.
#[test]
fn reopen_keeps_every_write_through_checkpoints_and_log_replay() {
    let d = tmpdir("reopen");
    let mut rng = Rng::new(3, 0);
    let mut model: Model = BTreeMap::new();
    let mut o = opts(64);
    o.checkpoint_bytes = 64 << 10;
    o.head_run_points = 8;
    o.raw_head_budget = 64 * 24 * 2;
    let mut max_id = 0;
    for round in 0..12 {
        let db = Database::open(&d, &o).unwrap();
        check(&db, &model);
        for step in 0..400 {
            let k = rng.below(10);
            let name = format!("m{k}");
            let id = match db.create_metric(&name) {
                Ok(id) => {
                    assert!(id.0 > max_id, "ids are never reused, also across reopens");
                    max_id = id.0;
                    model.insert(name.clone(), BTreeMap::new());
                    id
                }
                Err(Error::Exists { id, .. }) => id,
                Err(e) => panic!("{e}"),
            };
            match rng.below(20) {
                0 => {
                    db.drop_metric(id).unwrap();
                    model.remove(&name);
                }
                1 => {
                    let mut b = Batch::new();
                    let names: Vec<String> = model.keys().take(3).cloned().collect();
                    for n in &names {
                        let mid = db.begin().lookup(n).unwrap();
                        let t = rng.below(5000) as i64;
                        b.add(mid, t, t as f64 + 0.5);
                        model.get_mut(n).unwrap().insert(t, (t as f64 + 0.5).to_bits());
                    }
                    if !b.is_empty() {
                        db.commit(&mut b).unwrap();
                    }
                }
                2 if step % 7 == 0 => db.checkpoint().unwrap(),
                _ => {
                    let n = 1 + rng.below(100) as usize;
                    let base = (round * 400 + step) as i64 * 10;
                    let ts: Vec<i64> = (0..n)
                        .map(|_| {
                            if rng.below(4) == 0 {
                                rng.below(5000) as i64
                            } else {
                                base + rng.below(1000) as i64
                            }
                        })
                        .collect();
                    let vals: Vec<f64> = (0..n).map(|_| f64::from_bits(rng.next_u64())).collect();
                    db.insert_batch(id, &ts, &vals).unwrap();
                    let m = model.get_mut(&name).unwrap();
                    for (t, v) in ts.iter().zip(&vals) {
                        m.insert(*t, v.to_bits());
                    }
                }
            }
        }
        check(&db, &model);
        if round % 3 == 2 {
            drop(db); // without close: Drop still checkpoints
        } else {
            db.close().map_err(|(_, e)| e).unwrap();
        }
    }
    let db = Database::open(&d, &o).unwrap();
    check(&db, &model);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

fn files(d: &Path, sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(d.join(sub)).map_or(Vec::new(), |rd| rd.map(|e| e.unwrap().path()).collect());
    v.sort();
    v
}

#[test]
fn close_leaves_no_log_and_every_sync_policy_reopens() {
    for (k, sync) in [SyncPolicy::Always, SyncPolicy::Interval(5), SyncPolicy::None].into_iter().enumerate() {
        let d = tmpdir(&format!("sync{k}"));
        let o = Options { sync, ..opts(100) };
        let db = Database::open(&d, &o).unwrap();
        let id = db.create_metric("cpu").unwrap();
        for t in 0..1000 {
            db.insert(id, t, t as f64).unwrap();
        }
        assert!(!files(&d, "wal").is_empty(), "writes are logged");
        db.close().map_err(|(_, e)| e).unwrap();
        assert!(files(&d, "wal").is_empty(), "close checkpoints and deletes the log");
        let db = Database::open(&d, &o).unwrap();
        let s = db.begin();
        assert_eq!(all(&s, id).unwrap().len(), 1000);
        drop(s);
        db.close().map_err(|(_, e)| e).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}

/// A closed database of regular data takes about what its blocks take: no preallocated log,
/// no sparse room counted.
#[test]
fn bytes_on_disk_after_close_are_the_blocks() {
    let d = tmpdir("du");
    let db = Database::open(&d, &Options::default()).unwrap();
    let id = db.create_metric("gauge").unwrap();
    let n = 1_000_000;
    let ts: Vec<i64> = (0..n).map(|i| 1_700_000_000_000 + i * 10_000).collect();
    let vals: Vec<f64> = (0..n).map(|i| ((i * 7) % 1000) as f64 / 100.0).collect();
    for (t, v) in ts.chunks(1000).zip(vals.chunks(1000)) {
        db.insert_batch(id, t, v).unwrap();
    }
    db.close().map_err(|(_, e)| e).unwrap();
    let mut allocated = 0u64;
    for sub in ["data", "wal"] {
        for f in files(&d, sub) {
            use std::os::unix::fs::MetadataExt;
            allocated += std::fs::metadata(&f).unwrap().blocks() * 512;
        }
    }
    allocated += std::fs::metadata(d.join("MANIFEST")).unwrap().len();
    // Regular timestamps and short decimals: well under 2 bytes a point in blocks.
    assert!(allocated < 2 * n as u64, "{allocated} bytes on disk for {n} points");
    std::fs::remove_dir_all(&d).unwrap();
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

#[test]
fn damaged_files_are_corruption_naming_file_and_offset() {
    let d = tmpdir("flip");
    let o = opts(256);
    let fill = |d: &Path| {
        let _ = std::fs::remove_dir_all(d);
        let db = Database::open(d, &o).unwrap();
        let id = db.create_metric("m").unwrap();
        let ts: Vec<i64> = (0..2000).collect();
        db.insert_batch(id, &ts, &vec![1.25; 2000]).unwrap();
        db.close().map_err(|(_, e)| e).unwrap();
        id
    };
    // Manifest: one damaged superblock copy is survived (the other one has the same
    // generation); both damaged, or a damaged blob, and open refuses.
    let id = fill(&d);
    let man = d.join("MANIFEST");
    flip(&man, 70);
    let db = Database::open(&d, &o).unwrap();
    assert_eq!(all(&db.begin(), id).unwrap().len(), 2000);
    db.close().map_err(|(_, e)| e).unwrap();
    fill(&d);
    flip(&man, 70);
    flip(&man, 4096 + 70);
    match Database::open(&d, &o) {
        Err(Error::Corruption(m)) => assert!(m.starts_with("MANIFEST offset 0: no valid superblock"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    fill(&d);
    let len = std::fs::metadata(&man).unwrap().len();
    flip(&man, len - 30);
    match Database::open(&d, &o) {
        Err(Error::Corruption(m)) => assert!(m.starts_with("MANIFEST offset"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // A data block: open works (blocks are checked when read); the scan says where.
    let id = fill(&d);
    let seg = files(&d, "data")[0].clone();
    flip(&seg, 200);
    let db = Database::open(&d, &o).unwrap();
    let s = db.begin();
    match all(&s, id) {
        Err(Error::Corruption(m)) => {
            let name = seg.file_name().unwrap().to_str().unwrap();
            assert!(m.starts_with(&format!("data/{name} offset")), "{m}");
        }
        other => panic!("{:?}", other.map(|v| v.len())),
    }
    drop(s);
    drop(db);
    // The log: damage before the last record is corruption; the last one is a torn write.
    let _ = std::fs::remove_dir_all(&d);
    {
        let db = Database::open(&d, &o).unwrap();
        let id = db.create_metric("m").unwrap();
        for t in 0..10 {
            db.insert(id, t, 1.0).unwrap();
        }
        // What a kill leaves: the files as they are while the database is open.
        let image = d.with_extension("crashed");
        let _ = std::fs::remove_dir_all(&image);
        copy_dir(&d, &image);
        drop(db);
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::rename(&image, &d).unwrap();
    }
    let w = files(&d, "wal")[0].clone();
    let pristine = std::fs::read(&w).unwrap();
    flip(&w, 32 + 8); // the first record's sequence number
    match Database::open(&d, &o) {
        Err(Error::Corruption(m)) => assert!(m.starts_with("wal/00000001.wal offset 32"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    std::fs::write(&w, &pristine).unwrap();
    let last = pristine.iter().rposition(|&b| b != 0).unwrap();
    flip(&w, last as u64);
    let db = Database::open(&d, &o).unwrap();
    let s = db.begin();
    let id = s.lookup("m").unwrap();
    assert_eq!(all(&s, id).unwrap().len(), 9, "the torn last insert is cut, the rest replayed");
    drop(s);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

fn du(d: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for sub in ["data", "wal"] {
        for f in files(d, sub) {
            total += std::fs::metadata(&f).map_or(0, |m| m.blocks() * 512);
        }
    }
    total
}

/// Space of dropped data stays while an old snapshot reads it and comes back once the
/// snapshot is released (compaction moves the live blocks out of the dead segment).
#[test]
fn space_returns_when_the_last_old_snapshot_is_released() {
    let d = tmpdir("reclaim");
    let o = Options::default();
    let mut rng = Rng::new(9, 0);
    let n = 300_000;
    let gauge = |rng: &mut Rng| -> Vec<f64> { (0..n).map(|_| rng.below(100_000) as f64 / 100.0).collect() };
    let ts: Vec<i64> = (0..n as i64).map(|i| i * 1000).collect();
    let db = Database::open(&d, &o).unwrap();
    let (a, b) = (db.create_metric("a").unwrap(), db.create_metric("b").unwrap());
    let (va, vb) = (gauge(&mut rng), gauge(&mut rng));
    db.insert_batch(a, &ts, &va).unwrap();
    db.insert_batch(b, &ts, &vb).unwrap();
    db.close().map_err(|(_, e)| e).unwrap();
    let both = du(&d);

    let db = Database::open(&d, &o).unwrap();
    let old = db.begin();
    db.drop_metric(b).unwrap();
    db.checkpoint().unwrap();
    db.checkpoint().unwrap();
    assert_eq!(all(&old, b).unwrap().len(), n, "the old snapshot still reads the dropped metric");
    assert!(du(&d) >= both, "nothing freed while the snapshot lives");
    drop(old);
    db.close().map_err(|(_, e)| e).unwrap();
    let one = du(&d);
    assert!(one * 100 <= both * 55, "after release and close: {one} bytes, before {both}");

    let db = Database::open(&d, &o).unwrap();
    let s = db.begin();
    let got = all(&s, a).unwrap();
    assert_eq!(got, ts.iter().zip(&va).map(|(t, v)| (*t, v.to_bits())).collect::<Vec<_>>());
    assert!(s.lookup("b").is_err());
    drop(s);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// A range delete keeps every snapshot rule: an older snapshot still reads the points, the
/// space returns only when it is released, and the delete survives reopening (from the log
/// and from a checkpoint).
#[test]
fn range_delete_keeps_old_snapshots_and_returns_space_after_release() {
    let d = tmpdir("delete");
    let o = Options::default();
    let n = 400_000i64;
    let ts: Vec<i64> = (0..n).map(|i| i * 1000).collect();
    let vals: Vec<f64> = (0..n).map(|i| ((i * 7919) % 100_000) as f64 / 100.0).collect();
    let db = Database::open(&d, &o).unwrap();
    let m = db.create_metric("m").unwrap();
    db.insert_batch(m, &ts, &vals).unwrap();
    db.close().map_err(|(_, e)| e).unwrap();
    let full = du(&d);

    let db = Database::open(&d, &o).unwrap();
    let old = db.begin();
    // Delete the first 60% (whole partitions and one cut across an edge).
    let cut = ts[(n * 6 / 10) as usize] + 500;
    db.delete_range(m, i64::MIN, cut).unwrap();
    let left = |s: &Arc<Snapshot>| all(s, m).unwrap();
    let want: Vec<(i64, u64)> =
        ts.iter().zip(&vals).filter(|(t, _)| **t >= cut).map(|(t, v)| (*t, v.to_bits())).collect();
    assert_eq!(left(&db.begin()), want);
    db.checkpoint().unwrap();
    db.checkpoint().unwrap();
    assert_eq!(left(&old).len(), n as usize, "the old snapshot still reads every point");
    assert!(du(&d) >= full, "nothing freed while the snapshot lives");
    drop(old);
    db.close().map_err(|(_, e)| e).unwrap();
    let after = du(&d);
    assert!(after * 100 <= full * 50, "after release and close: {after} bytes, before {full}");

    // Replayed from the log: a delete, then a crash-like drop without checkpointing first.
    let db = Database::open(&d, &o).unwrap();
    assert_eq!(left(&db.begin()), want);
    db.delete_range(m, cut, cut + 10_000).unwrap();
    db.insert(m, cut + 5_000, 1.5).unwrap(); // written after the delete: kept
    // A copy taken while it is open is what a crash leaves: reopening it replays the log.
    let crashed = d.with_extension("crashed");
    copy_dir(&d, &crashed);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
    let d = crashed;
    let db = Database::open(&d, &o).unwrap();
    let got = left(&db.begin());
    let mut want2: Vec<(i64, u64)> = want.iter().copied().filter(|(t, _)| *t >= cut + 10_000).collect();
    want2.insert(0, (cut + 5_000, 1.5f64.to_bits()));
    assert_eq!(got, want2);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// Reopening and closing without writes rewrites nothing: the same data files, trimmed to
/// what they hold (a segment left at its full sparse size must not look mostly dead).
#[test]
fn reopen_and_close_without_writes_moves_no_data() {
    let d = tmpdir("idle");
    let o = opts(128);
    let db = Database::open(&d, &o).unwrap();
    let id = db.create_metric("m").unwrap();
    let ts: Vec<i64> = (0..100_000).collect();
    let vals: Vec<f64> = ts.iter().map(|&t| (t % 977) as f64 * 0.25).collect();
    db.insert_batch(id, &ts, &vals).unwrap();
    db.close().map_err(|(_, e)| e).unwrap();
    let before = files(&d, "data");
    let sizes: Vec<u64> = before.iter().map(|f| std::fs::metadata(f).unwrap().len()).collect();
    assert!(sizes.iter().all(|&s| s < 8 << 20), "segments are trimmed at close: {sizes:?}");
    for _ in 0..3 {
        let db = Database::open(&d, &o).unwrap();
        db.checkpoint().unwrap();
        db.close().map_err(|(_, e)| e).unwrap();
        assert_eq!(files(&d, "data"), before, "no data moved");
    }
    let db = Database::open(&d, &o).unwrap();
    assert_eq!(all(&db.begin(), id).unwrap().len(), 100_000);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// A full disk (simulated by RLIMIT_FSIZE in a child process: files cannot grow past the
/// limit, as on a full file system) fails the write that needs space with an I/O error;
/// the database stays readable, takes writes again once space returns, and reopens with
/// every acknowledged point.
#[test]
fn a_full_disk_fails_writes_cleanly_and_recovers() {
    if let Ok(dir) = std::env::var("TSDB_DISK_FULL_CHILD") {
        disk_full_child(Path::new(&dir));
        return;
    }
    let d = tmpdir("full");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_full_disk_fails_writes_cleanly_and_recovers", "--nocapture", "--test-threads=1"])
        .env("TSDB_DISK_FULL_CHILD", &d)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("disk-full child: ok"), "child failed:\n{text}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[allow(unsafe_code)]
fn set_file_size_limit(bytes: u64) {
    let lim = libc::rlimit { rlim_cur: bytes, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: plain system calls; this child process runs one test on one thread.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

fn disk_full_child(d: &Path) {
    let mut o = opts(4096);
    o.checkpoint_bytes = 4 << 20; // 2 MiB log segments
    let db = Database::open(d, &o).unwrap();
    let id = db.create_metric("m").unwrap();
    let mut acked: Vec<i64> = Vec::new();
    let batch = |t0: i64| -> Vec<i64> { (t0..t0 + 1000).collect() };
    for k in 0..50 {
        let ts = batch(k * 1000);
        db.insert_batch(id, &ts, &vec![1.5; ts.len()]).unwrap();
        acked.extend(ts);
    }
    // No file may grow past 1 MiB: the log fills its segment, then cannot start the next.
    set_file_size_limit(1 << 20);
    let mut k = 50;
    let err = loop {
        let ts = batch(k * 1000);
        match db.insert_batch(id, &ts, &vec![1.5; ts.len()]) {
            Ok(()) => acked.extend(ts),
            Err(e) => break e,
        }
        k += 1;
        assert!(k < 10_000, "writes never failed");
    };
    assert!(matches!(&err, Error::Io(m) if m.contains("log segment")), "{err:?}");
    // A small write may still fit in the current segment's room; a batch that does not fits
    // nowhere.
    if db.insert(id, -1, 1.5).is_ok() {
        acked.insert(0, -1);
    }
    let ts = batch(k * 1000);
    assert!(matches!(db.insert_batch(id, &ts, &vec![1.5; ts.len()]), Err(Error::Io(_))), "still full");
    let got = all(&db.begin(), id).unwrap();
    assert_eq!(got.iter().map(|p| p.0).collect::<Vec<_>>(), acked, "readable, every acknowledged point");
    // Space returns: writes go on, and everything survives close and reopen.
    set_file_size_limit(libc::RLIM_INFINITY);
    for _ in 0..20 {
        k += 1;
        let ts = batch(k * 1000);
        db.insert_batch(id, &ts, &vec![1.5; ts.len()]).unwrap();
        acked.extend(ts);
    }
    db.close().map_err(|(_, e)| e).unwrap();
    let db = Database::open(d, &o).unwrap();
    let got = all(&db.begin(), id).unwrap();
    assert_eq!(got.iter().map(|p| p.0).collect::<Vec<_>>(), acked, "after reopen");
    db.close().map_err(|(_, e)| e).unwrap();
    println!("disk-full child: ok ({} points acknowledged)", acked.len());
}

/// A head that gets a few points per checkpoint keeps few extents (they merge like a binary
/// counter) and every point survives reopen.
#[test]
fn extents_of_a_slow_head_stay_few() {
    let d = tmpdir("slow");
    let o = opts(1 << 16);
    let db = Database::open(&d, &o).unwrap();
    let id = db.create_metric("slow").unwrap();
    for t in 0..300 {
        db.insert(id, t, t as f64).unwrap();
        db.checkpoint().unwrap();
    }
    let files_now = std::fs::metadata(d.join("MANIFEST")).unwrap().len();
    drop(db); // Drop checkpoints and closes
    let db = Database::open(&d, &o).unwrap();
    let got = all(&db.begin(), id).unwrap();
    assert_eq!(got.len(), 300);
    let stats = db.storage_stats();
    // 8 KiB of superblocks, a 4 KiB leaf, the name and about log2(300) extents of 40 bytes
    // (300 unmerged ones would add 12 KiB).
    assert!(stats.manifest_live_bytes < 16 << 10, "manifest live bytes {}", stats.manifest_live_bytes);
    assert!(files_now < 4 << 20, "manifest file {files_now}");
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// Heads restored at open keep their extents on disk until read or sealed: reads are exact
/// before and after new writes (in order, late, overwriting restored points), a snapshot
/// taken before a write does not see it, a range delete and a seal take the restored points
/// with the new ones, and all of it survives the next reopen.
#[test]
fn restored_heads_read_exactly_and_merge_with_later_writes() {
    let d = tmpdir("restored");
    let o = opts(512);
    let mut model: Model = BTreeMap::new();
    let db = Database::open(&d, &o).unwrap();
    // Extents that overlap (later ones overwrite) and extents in time order; a new
    // extent absorbs older ones only up to twice its size, so each head keeps three.
    let shapes = [("overlapping", [0..100, 50..60, 55..58]), ("ascending", [0..100, 100..110, 110..113])];
    for (k, (name, ranges)) in shapes.into_iter().enumerate() {
        let id = db.create_metric(name).unwrap();
        let m = model.entry(name.to_string()).or_default();
        for (round, r) in ranges.into_iter().enumerate() {
            for t in r {
                let v = (t * 10 + round as i64 + k as i64) as f64 / 4.0;
                db.insert(id, t, v).unwrap();
                m.insert(t, v.to_bits());
            }
            db.checkpoint().unwrap();
        }
    }
    db.close().map_err(|(_, e)| e).unwrap();
    let db = Database::open(&d, &o).unwrap();
    check(&db, &model);
    assert_eq!(db.inventory().unwrap().extents, 6);
    let before = db.begin();
    let old = model.clone();
    for (k, name) in ["overlapping", "ascending"].into_iter().enumerate() {
        let id = before.lookup(name).unwrap();
        let m = model.get_mut(name).unwrap();
        // Overwrites of restored points, late points between them, points after them.
        for t in [5, 56, 99, 112, -3, 200, 201] {
            let v = (t + 1000 * k as i64) as f64;
            db.insert(id, t, v).unwrap();
            m.insert(t, v.to_bits());
        }
        let s = db.begin();
        for (from, until) in [(0, 10), (50, 60), (100, 300), (-5, 0)] {
            let got: Vec<(i64, u64)> = s
                .scan(id, from, until)
                .unwrap()
                .map(|p| p.map(|(t, v)| (t, v.to_bits())))
                .collect::<tsdb::Result<_>>()
                .unwrap();
            let want: Vec<(i64, u64)> = m.range(from..until).map(|(t, v)| (*t, *v)).collect();
            assert_eq!(got, want, "{name} [{from}, {until})");
        }
    }
    check(&db, &model);
    for (name, pts) in &old {
        let want: Vec<(i64, u64)> = pts.iter().map(|(t, v)| (*t, *v)).collect();
        assert_eq!(all(&before, before.lookup(name).unwrap()).unwrap(), want, "{name}: the older snapshot");
    }
    drop(before);
    // A range delete across restored and new points.
    let id = db.begin().lookup("overlapping").unwrap();
    db.delete_range(id, 50, 57).unwrap();
    model.get_mut("overlapping").unwrap().retain(|t, _| !(50..57).contains(t));
    check(&db, &model);
    // Enough points to seal the other head: its restored points go into sealed parts.
    let id = db.begin().lookup("ascending").unwrap();
    let ts: Vec<i64> = (300..800).collect();
    let vals: Vec<f64> = ts.iter().map(|&t| t as f64 * 0.5).collect();
    db.insert_batch(id, &ts, &vals).unwrap();
    model.get_mut("ascending").unwrap().extend(ts.iter().zip(&vals).map(|(t, v)| (*t, v.to_bits())));
    assert!(db.stats().unwrap().partitions >= 2, "both heads sealed (the delete, then the batch)");
    check(&db, &model);
    db.close().map_err(|(_, e)| e).unwrap();
    let db = Database::open(&d, &o).unwrap();
    check(&db, &model);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// A head written a point at a time, with a close and reopen after each, also keeps few
/// extents: restored ones (left undecoded by the open) merge into a close's new extent as
/// decoded ones do.
#[test]
fn extents_of_a_head_reopened_after_every_write_stay_few() {
    let d = tmpdir("reopened");
    let o = opts(1 << 16);
    let mut id = MetricId(0);
    for t in 0..200 {
        let db = Database::open(&d, &o).unwrap();
        if t == 0 {
            id = db.create_metric("often").unwrap();
        }
        db.insert(id, t, t as f64).unwrap();
        let extents = db.inventory().unwrap().extents;
        assert!(extents <= 12, "{extents} extents after {t} reopens");
        db.close().map_err(|(_, e)| e).unwrap();
    }
    let db = Database::open(&d, &o).unwrap();
    let want: Vec<(i64, u64)> = (0..200).map(|t| (t, (t as f64).to_bits())).collect();
    assert_eq!(all(&db.begin(), id).unwrap(), want);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

type FixtureMetric = (String, i64, Vec<(i64, f64)>);

/// The database of tests/fixtures/manifest-v3: partition size 128; each metric's name,
/// own retention (0: none set) and points, in id order (ids 1, 2, ...). "dropped" is dropped
/// before the close.
fn v3_fixture_metrics() -> Vec<FixtureMetric> {
    let t0 = 1_700_000_000_000i64;
    let series = |n: usize, k: u64| -> Vec<(i64, f64)> {
        (0..n).map(|i| (t0 + i as i64 * 10_000, ((k * 7919 + i as u64 * 31) % 1000) as f64 / 4.0)).collect()
    };
    let mut v = vec![
        // 94 sealed parts: two format-3 chunks (of at most 84).
        ("cpu.total".to_string(), 0, series(12_000, 1)),
        // A long name (a NAME blob in format 3), its 40 points in an extent.
        ("a.rather.long.metric.name.beyond.16".to_string(), 0, series(40, 2)),
        ("few.parts".to_string(), 0, series(300, 3)),
        ("retained".to_string(), 100_000_000, series(700, 4)),
        ("keep.all".to_string(), -1, series(300, 5)),
        ("empty".to_string(), 0, Vec::new()),
        ("dropped".to_string(), 0, series(20, 7)),
        // Written 64, 24, 9, 3, 1 points at a time with checkpoints between: 5 extents.
        ("slow".to_string(), 0, series(101, 8)),
    ];
    // Ids past 64: a tree of two levels (a node over two leaves).
    for k in 0..68u64 {
        v.push((format!("m.{k:02}"), 0, series(3, 100 + k)));
    }
    v
}

fn v3_fixture_opts() -> Options {
    opts(128)
}

/// A database whose manifest is format 3 (tests/fixtures/manifest-v3: written once, in commit
/// 9257384, by the code before format 4, from `v3_fixture_metrics` with partitions of 128
/// points, `slow` written in batches of 64, 24, 9, 3 and 1 points with a checkpoint after
/// each, `dropped` dropped; today's code writes format 5, so it cannot be made again) opens with every name, point and retention setting;
/// writes, checkpoints and reopens (its touched leaves now in format 4); and checks clean.
#[test]
fn a_format_3_manifest_opens_and_takes_writes() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifest-v3");
    let man = std::fs::read(src.join("MANIFEST")).unwrap();
    assert_eq!(&man[..8], b"TSDBMAN2");
    assert_eq!(u32::from_le_bytes(man[8..12].try_into().unwrap()), 3, "the fixture is manifest format 3");
    let d = tmpdir("v3");
    copy_dir(&src, &d);
    let o = v3_fixture_opts();
    let mut model: Model = v3_fixture_metrics()
        .into_iter()
        .filter(|m| m.0 != "dropped")
        .map(|(name, _, pts)| (name, pts.into_iter().map(|(t, v)| (t, v.to_bits())).collect()))
        .collect();
    let db = Database::open(&d, &o).unwrap();
    check(&db, &model);
    let r = db.check().unwrap();
    assert!(r.is_ok(), "{:?}", r.damage);
    // cpu.total's 94 parts fill two format-3 chunks; slow has 5 extents; 68 metrics m.NN
    // with ids up to 75 make a tree of two levels.
    assert_eq!((r.metrics, r.partitions, r.extents), (75, 94 + 3 + 6 + 3, 1 + 5 + 68));
    assert!(matches!(db.begin().lookup("dropped"), Err(Error::NotFound(_))));
    // Writes: more parts for a metric of many, a few-part metric grows, one gets its first
    // points, one is dropped, one is new, a leaf's neighbours are untouched.
    let t1 = 1_800_000_000_000i64;
    let write = |db: &Database, model: &mut Model, name: &str, n: usize| {
        let id = match db.begin().lookup(name) {
            Ok(id) => id,
            Err(_) => {
                model.insert(name.to_string(), BTreeMap::new());
                db.create_metric(name).unwrap()
            }
        };
        let ts: Vec<i64> = (0..n as i64).map(|i| t1 + i * 1000).collect();
        let vals: Vec<f64> = ts.iter().map(|&t| (t % 977) as f64).collect();
        db.insert_batch(id, &ts, &vals).unwrap();
        let m = model.get_mut(name).unwrap();
        for (t, v) in ts.iter().zip(&vals) {
            m.insert(*t, v.to_bits());
        }
    };
    // First only metrics of the first leaf (ids below 64).
    write(&db, &mut model, "cpu.total", 1000);
    write(&db, &mut model, "few.parts", 500);
    write(&db, &mut model, "empty", 5);
    db.drop_metric(db.begin().lookup("m.03").unwrap()).unwrap();
    model.remove("m.03");
    db.checkpoint().unwrap();
    check(&db, &model);
    // The file as that checkpoint left it (the first leaf packed, the second still format
    // 3; a close would rewrite it whole) opens to the same state.
    let mixed = tmpdir("v3-mixed");
    copy_dir(&d, &mixed);
    let again = Database::open(&mixed, &o).unwrap();
    check(&again, &model);
    assert!(again.check().unwrap().is_ok());
    again.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&mixed).unwrap();
    write(&db, &mut model, "m.67", 2);
    write(&db, &mut model, "a.new.metric.with.a.long.name", 130);
    db.checkpoint().unwrap();
    check(&db, &model);
    db.close().map_err(|(_, e)| e).unwrap();
    let man = std::fs::read(d.join("MANIFEST")).unwrap();
    assert_eq!(u32::from_le_bytes(man[8..12].try_into().unwrap()), 5, "written as format 5");
    let db = Database::open(&d, &o).unwrap();
    check(&db, &model);
    let r = db.check().unwrap();
    assert!(r.is_ok(), "{:?}", r.damage);
    db.close().map_err(|(_, e)| e).unwrap();
    // Retention settings survived: with a default of 1, a metric without its own setting
    // keeps only its newest partition; "retained" (10^8) and "keep.all" (-1) keep all.
    let db = Database::open(&d, &Options { retention: 1, ..o.clone() }).unwrap();
    db.enforce_retention().unwrap();
    let s = db.begin();
    let first = |name: &str| all(&s, s.lookup(name).unwrap()).unwrap()[0].0;
    assert!(first("cpu.total") > 1_700_000_000_000);
    assert_eq!(first("retained"), 1_700_000_000_000);
    assert_eq!(first("keep.all"), 1_700_000_000_000);
    drop(s);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}
