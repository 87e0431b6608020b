//! One test per rule of DESIGN.md §3, through the safe Rust API.
use std::sync::Arc;

use tsdb::{Batch, Database, Error, MetricId, Options, Snapshot};

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tsdb-sem-{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn open(tag: &str, partition_points: u32) -> Database {
    let mut o = Options::default();
    o.set_partition_points(partition_points).unwrap();
    Database::open(tmpdir(tag), &o).unwrap()
}

fn all(s: &Arc<Snapshot>, id: MetricId) -> Vec<(i64, u64)> {
    s.scan(id, i64::MIN, i64::MAX).unwrap().map(|p| p.map(|(t, v)| (t, v.to_bits())).unwrap()).collect()
}

fn bits(pts: &[(i64, f64)]) -> Vec<(i64, u64)> {
    pts.iter().map(|(t, v)| (*t, v.to_bits())).collect()
}

#[test]
fn snapshot_sees_writes_returned_before_begin_and_none_after() {
    let db = open("vis", 4);
    let m = db.create_metric("m").unwrap();
    db.insert(m, 1, 1.0).unwrap();
    let s1 = db.begin();
    db.insert(m, 2, 2.0).unwrap();
    db.insert_batch(m, &[3, 4, 5, 6, 7], &[3.0; 5]).unwrap(); // seals on the way
    let s2 = db.begin();
    assert_eq!(all(&s1, m), bits(&[(1, 1.0)]));
    assert_eq!(all(&s2, m).len(), 7);
    assert_eq!(all(&s1, m), bits(&[(1, 1.0)]), "repeated scans are identical");
}

#[test]
fn metric_created_after_a_snapshot_is_invisible_to_it() {
    let db = open("created", 16);
    let s = db.begin();
    let m = db.create_metric("late").unwrap();
    assert!(matches!(s.scan(m, 0, 10), Err(Error::NotFound(_))));
    assert!(matches!(s.lookup("late"), Err(Error::NotFound(_))));
    assert_eq!(db.begin().lookup("late").unwrap(), m);
}

#[test]
fn last_write_wins_per_timestamp_across_heads_and_sealed_partitions() {
    let db = open("lww", 4);
    let m = db.create_metric("m").unwrap();
    for t in 0..20 {
        db.insert(m, t, t as f64).unwrap();
    }
    // Overwrite sealed points, head points, and within one batch.
    db.insert(m, 3, 300.0).unwrap();
    db.insert_batch(m, &[5, 5, 19], &[50.0, 500.0, 1900.0]).unwrap();
    let got = all(&db.begin(), m);
    assert_eq!(got.len(), 20);
    assert_eq!(got[3], (3, 300f64.to_bits()));
    assert_eq!(got[5], (5, 500f64.to_bits()));
    assert_eq!(got[19], (19, 1900f64.to_bits()));
    // And after everything is sealed.
    for t in 100..140 {
        db.insert(m, t, 0.0).unwrap();
    }
    let got = all(&db.begin(), m);
    assert_eq!(got[5], (5, 500f64.to_bits()));
}

#[test]
fn any_arrival_order_scans_ascending_one_point_per_timestamp() {
    let db = open("order", 8);
    let m = db.create_metric("m").unwrap();
    let mut x: u64 = 7;
    let mut want = std::collections::BTreeMap::new();
    for _ in 0..2000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let t = ((x >> 33) % 500) as i64 - 250;
        db.insert(m, t, x as f64).unwrap();
        want.insert(t, (x as f64).to_bits());
    }
    let got = all(&db.begin(), m);
    assert_eq!(got, want.into_iter().collect::<Vec<_>>());
}

#[test]
fn values_round_trip_bit_exactly() {
    let db = open("bits", 4);
    let m = db.create_metric("m").unwrap();
    let specials = [
        f64::from_bits(0x7ff8_0000_0000_0001), // quiet NaN with payload
        f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
        f64::from_bits(0xfff8_dead_beef_0000), // negative NaN with payload
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE / 2.0, // subnormal
        f64::MAX,
    ];
    let ts: Vec<i64> = (0..specials.len() as i64).collect();
    db.insert_batch(m, &ts, &specials).unwrap(); // more than 4 points: sealed too
    db.insert(m, 100, specials[0]).unwrap();
    let got = all(&db.begin(), m);
    let mut want: Vec<(i64, u64)> = ts.iter().zip(specials).map(|(t, v)| (*t, v.to_bits())).collect();
    want.push((100, specials[0].to_bits()));
    assert_eq!(got, want);
}

#[test]
fn scan_bounds_are_inclusive_exclusive_including_extremes() {
    let db = open("bounds", 4);
    let m = db.create_metric("m").unwrap();
    let top = tsdb::MAX_TIMESTAMP;
    let ts = [i64::MIN, -1, 0, 1, 10, 11, top];
    db.insert_batch(m, &ts, &[1.0; 7]).unwrap();
    db.insert(m, 5, 5.0).unwrap(); // a head point between sealed ones
    let s = db.begin();
    let range = |a, b| s.scan(m, a, b).unwrap().map(|p| p.unwrap().0).collect::<Vec<_>>();
    assert_eq!(range(0, 11), vec![0, 1, 5, 10]);
    assert_eq!(range(i64::MIN, i64::MIN + 1), vec![i64::MIN]);
    assert_eq!(range(i64::MIN, i64::MAX), vec![i64::MIN, -1, 0, 1, 5, 10, 11, top], "every storable point");
    assert_eq!(range(top, i64::MAX), vec![top]);
    assert_eq!(range(3, 3), Vec::<i64>::new());
    assert!(matches!(s.scan(m, 2, 1), Err(Error::InvalidArgument(_))));
}

#[test]
fn int64_max_timestamps_are_rejected_and_nothing_is_written() {
    let db = open("max", 4);
    let m = db.create_metric("m").unwrap();
    assert!(matches!(db.insert(m, i64::MAX, 1.0), Err(Error::InvalidArgument(_))));
    assert!(matches!(db.insert_batch(m, &[1, i64::MAX], &[1.0, 2.0]), Err(Error::InvalidArgument(_))));
    let mut b = Batch::new();
    b.add(m, 2, 2.0);
    b.add(m, i64::MAX, 2.0);
    assert!(matches!(db.commit(&mut b), Err(Error::InvalidArgument(_))));
    assert!(all(&db.begin(), m).is_empty());
}

#[test]
fn a_second_open_of_an_open_database_is_busy() {
    let d = tmpdir("lock");
    let db = Database::open(&d, &Options::default()).unwrap();
    assert!(matches!(Database::open(&d, &Options::default()), Err(Error::Busy(_))));
    let s = db.begin();
    let db = db.close().unwrap_err().0.unwrap();
    assert!(matches!(Database::open(&d, &Options::default()), Err(Error::Busy(_))), "still open");
    drop(s);
    db.close().map_err(|(_, e)| e).unwrap();
    let again = Database::open(&d, &Options::default()).unwrap();
    drop(again);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn dropped_metric_stays_readable_in_older_snapshots() {
    let db = open("drop", 4);
    let m = db.create_metric("gone").unwrap();
    db.insert_batch(m, &[1, 2, 3, 4, 5, 6], &[1.0; 6]).unwrap();
    db.insert(m, 7, 7.0).unwrap();
    let old = db.begin();
    db.drop_metric(m).unwrap();
    assert!(matches!(db.insert(m, 8, 8.0), Err(Error::NotFound(_))));
    assert!(matches!(db.drop_metric(m), Err(Error::NotFound(_))));
    let new = db.begin();
    assert_eq!(all(&old, m).len(), 7);
    assert_eq!(old.lookup("gone").unwrap(), m);
    assert!(matches!(new.scan(m, 0, 10), Err(Error::NotFound(_))));

    // The name can be reused; the new metric gets a new id; the old snapshot still
    // resolves the name to the old metric.
    let m2 = db.create_metric("gone").unwrap();
    assert!(m2.0 > m.0);
    db.insert(m2, 1, 42.0).unwrap();
    assert_eq!(old.lookup("gone").unwrap(), m);
    assert_eq!(db.begin().lookup("gone").unwrap(), m2);
    assert_eq!(all(&db.begin(), m2), bits(&[(1, 42.0)]));
}

#[test]
fn create_of_an_existing_name_returns_exists_with_its_id() {
    let db = open("exists", 16);
    let m = db.create_metric("cpu").unwrap();
    match db.create_metric("cpu") {
        Err(Error::Exists { id, .. }) => assert_eq!(id, m),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert!(matches!(db.create_metric(""), Err(Error::InvalidArgument(_))));
    assert!(matches!(db.create_metric(&"x".repeat(1025)), Err(Error::InvalidArgument(_))));
    assert!(db.create_metric(&"x".repeat(1024)).is_ok());
}

#[test]
fn cursor_keeps_its_snapshot_alive_and_close_waits_for_both() {
    let db = open("alive", 4);
    let m = db.create_metric("m").unwrap();
    db.insert_batch(m, &[1, 2, 3, 4, 5], &[1.0; 5]).unwrap();
    let s = db.begin();
    let mut c = s.scan(m, 0, 10).unwrap();
    drop(s);
    db.drop_metric(m).unwrap();
    db.insert(db.create_metric("other").unwrap(), 1, 1.0).unwrap();
    assert_eq!(c.next(), Some(Ok((1, 1.0))));
    let (db, e) = db.close().unwrap_err();
    let db = db.unwrap();
    assert!(matches!(e, Error::Busy(_)));
    assert_eq!(c.by_ref().count(), 4);
    assert_eq!(c.next(), None, "an exhausted cursor stays exhausted");
    drop(c);
    db.close().map_err(|(_, e)| e).unwrap();
}

/// A batch over many metrics (several trie leaves) naming one that was dropped is refused
/// whole, whichever order its ids come in; without it, every point lands.
#[test]
fn a_batch_naming_a_dropped_metric_among_many_applies_nothing() {
    let db = open("batch-dropped", 4);
    let ids: Vec<MetricId> = (0..100).map(|i| db.create_metric(&format!("m{i}")).unwrap()).collect();
    db.drop_metric(ids[37]).unwrap();
    for order in ["ascending", "descending"] {
        let mut batch = Batch::new();
        let mut each: Vec<MetricId> = ids.clone();
        if order == "descending" {
            each.reverse();
        }
        for (k, &id) in each.iter().enumerate() {
            batch.add(id, 5, k as f64);
        }
        assert!(matches!(db.commit(&mut batch), Err(Error::NotFound(_))), "{order}");
        let s = db.begin();
        assert!(ids.iter().all(|&id| id == ids[37] || all(&s, id).is_empty()), "{order}: nothing applied");
    }
    let mut batch = Batch::new();
    for &id in ids.iter().filter(|&&id| id != ids[37]) {
        batch.add(id, 5, id.0 as f64);
    }
    db.commit(&mut batch).unwrap();
    let s = db.begin();
    for &id in ids.iter().filter(|&&id| id != ids[37]) {
        assert_eq!(all(&s, id), bits(&[(5, id.0 as f64)]));
    }
}

#[test]
fn atomic_batch_applies_all_or_nothing() {
    let db = open("batch", 4);
    let a = db.create_metric("a").unwrap();
    let b = db.create_metric("b").unwrap();
    let mut batch = Batch::new();
    batch.add(a, 1, 1.0);
    batch.add(b, 1, 2.0);
    batch.add(MetricId(999), 1, 3.0);
    assert!(matches!(db.commit(&mut batch), Err(Error::NotFound(_))));
    assert_eq!(batch.len(), 3, "a failed commit keeps the batch");
    let s = db.begin();
    assert!(all(&s, a).is_empty() && all(&s, b).is_empty(), "nothing applied");
    let mut batch = Batch::new();
    for t in 0..10 {
        batch.add(a, t, t as f64);
        batch.add(b, t, -(t as f64));
    }
    batch.add(a, 3, 33.0); // later add wins
    db.commit(&mut batch).unwrap();
    assert!(batch.is_empty());
    let s = db.begin();
    assert_eq!(all(&s, a).len(), 10);
    assert_eq!(all(&s, a)[3], (3, 33f64.to_bits()));
    assert_eq!(all(&s, b).len(), 10);
    assert!(matches!(db.commit(&mut Batch::new()), Err(Error::InvalidArgument(_))));
    assert!(matches!(db.insert_batch(a, &[], &[]), Err(Error::InvalidArgument(_))));
}

#[test]
fn open_creates_a_missing_directory_unless_told_not_to() {
    let d = tmpdir("open");
    let o = Options { create_if_missing: false, ..Options::default() };
    assert!(matches!(Database::open(&d, &o), Err(Error::NotFound(_))));
    let db = Database::open(&d, &Options::default()).unwrap();
    assert!(d.is_dir());
    db.close().map_err(|(_, e)| e).unwrap();
    assert!(Database::open(&d, &o).is_ok(), "existing directory opens with create_if_missing off");
    assert!(Database::open(d.join("no/such/parent"), &Options::default()).is_err());
    let f = d.join("file");
    std::fs::write(&f, b"x").unwrap();
    assert!(matches!(Database::open(&f, &Options::default()), Err(Error::InvalidArgument(_))));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn metrics_lists_live_metrics_of_the_snapshot_in_id_order() {
    let db = open("list", 16);
    let ids: Vec<MetricId> = (0..300).map(|i| db.create_metric(&format!("m{i}")).unwrap()).collect();
    let s = db.begin();
    for id in ids.iter().step_by(3) {
        db.drop_metric(*id).unwrap();
    }
    assert_eq!(s.metrics(MetricId(0)).count(), 300);
    let now = db.begin();
    let live: Vec<MetricId> = now.metrics(MetricId(0)).map(|(id, _)| id).collect();
    let want: Vec<MetricId> = ids.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, id)| *id).collect();
    assert_eq!(live, want);
    assert_eq!(now.metric_count(), 200);
    assert_eq!(now.metrics(MetricId(250)).next().unwrap().1, "m250");
}

/// Scrapes committed while readers scan and another writer fills (and so seals) the same
/// heads: every snapshot sees each scrape in every metric or in none, so all metrics hold
/// the same number of scrape points, and a snapshot never changes what it returns.
#[test]
fn scrapes_are_atomic_under_concurrent_readers_and_seals() {
    let mut o = Options::default();
    o.set_partition_points(8).unwrap();
    o.set_head_run_points(3).unwrap();
    o.raw_head_budget = 8 * 24 * 3;
    let db = Database::open(tmpdir("scrape-readers"), &o).unwrap();
    let ids: Vec<MetricId> = (0..50).map(|i| db.create_metric(&format!("m{i}")).unwrap()).collect();
    let scrapes = 300i64;
    let done = std::sync::atomic::AtomicBool::new(false);
    let scrape_counts = |s: &Arc<Snapshot>| -> Vec<usize> {
        ids.iter().map(|&id| s.scan(id, 0, i64::MAX - 1).unwrap().count()).collect()
    };
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut b = Batch::new();
            for r in 0..scrapes {
                for (k, &id) in ids.iter().enumerate() {
                    b.add(id, r, (r * 100 + k as i64) as f64);
                }
                db.commit(&mut b).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Release);
        });
        // Single points at negative timestamps: heads fill and seal under the scrapes.
        sc.spawn(|| {
            let mut t = -1_000_000i64;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                for &id in &ids {
                    db.insert(id, t, 0.5).unwrap();
                }
                t += 1;
            }
        });
        for _ in 0..2 {
            sc.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    let s = db.begin();
                    let counts = scrape_counts(&s);
                    assert!(counts.iter().all(|&c| c == counts[0]), "a scrape seen in part: {counts:?}");
                    assert_eq!(scrape_counts(&s), counts, "a snapshot does not change");
                }
            });
        }
    });
    let s = db.begin();
    assert_eq!(scrape_counts(&s), vec![scrapes as usize; ids.len()]);
    for (k, &id) in ids.iter().enumerate() {
        let pts: Vec<(i64, f64)> = s.scan(id, 0, i64::MAX - 1).unwrap().map(|p| p.unwrap()).collect();
        let want: Vec<(i64, f64)> = (0..scrapes).map(|r| (r, (r * 100 + k as i64) as f64)).collect();
        assert_eq!(pts, want);
    }
}
