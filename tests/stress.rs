//! Multi-threaded stress: writers (single points, batches, atomic pairs, late overwrites),
//! a drop/re-create churner and readers run at once on a database with tiny partitions, so
//! seals race with everything. Readers check that a snapshot never changes, that scans
//! ascend with unique timestamps, and that atomic multi-metric batches are never seen in
//! part. At the end every acknowledged write is checked. `TSDB_STRESS_ITERS` scales it.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use tsdb::{Batch, Database, MetricId, Options, Snapshot};

fn scan(s: &Arc<Snapshot>, id: MetricId) -> Vec<(i64, u64)> {
    let mut c = s.scan(id, i64::MIN, i64::MAX).unwrap();
    let (mut ts, mut vs) = (vec![0i64; 100], vec![0f64; 100]);
    let mut out = Vec::new();
    loop {
        let n = c.next_batch(Some(&mut ts), Some(&mut vs)).unwrap();
        if n == 0 {
            return out;
        }
        out.extend(ts[..n].iter().zip(&vs[..n]).map(|(t, v)| (*t, v.to_bits())));
    }
}

#[test]
fn concurrent_writers_readers_seals_and_drops_keep_every_rule() {
    let iters: i64 = std::env::var("TSDB_STRESS_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(6000);
    // Background checkpoints every 16 KiB of log race ours.
    let mut opts = Options { checkpoint_bytes: 16 << 10, ..Options::default() };
    opts.set_partition_points(32).unwrap();
    opts.set_head_run_points(5).unwrap();
    opts.raw_head_budget = 24 * 32; // one head stays raw, the others compress
    let dir = std::env::temp_dir().join(format!("tsdb-stress-{}", std::process::id()));
    let db = Arc::new(Database::open(&dir, &opts).unwrap());
    const WRITERS: usize = 2;
    let solo: Vec<MetricId> = (0..WRITERS).map(|w| db.create_metric(&format!("solo.{w}")).unwrap()).collect();
    let pairs: Vec<(MetricId, MetricId)> = (0..WRITERS)
        .map(|w| {
            (
                db.create_metric(&format!("pair.{w}.a")).unwrap(),
                db.create_metric(&format!("pair.{w}.b")).unwrap(),
            )
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (db, me, (a, b)) = (db.clone(), solo[w], pairs[w]);
            thread::spawn(move || {
                let mut model = BTreeMap::new();
                let mut batch = Batch::new();
                for i in 0..iters {
                    let v = (i * 10 + w as i64) as f64;
                    db.insert(me, i, v).unwrap();
                    model.insert(i, v.to_bits());
                    if i % 7 == 0 && i > 10 {
                        // Late overwrite into what is likely a sealed partition.
                        let t = i - 9;
                        db.insert_batch(me, &[t, t + 1], &[-v, -v - 1.0]).unwrap();
                        model.insert(t, (-v).to_bits());
                        model.insert(t + 1, (-v - 1.0).to_bits());
                    }
                    batch.add(a, i, i as f64);
                    batch.add(b, i, i as f64);
                    if i % 3 == 0 {
                        batch.add(a, i / 2, -1.0); // overwrite an older point in both
                        batch.add(b, i / 2, -1.0);
                    }
                    db.commit(&mut batch).unwrap();
                }
                model
            })
        })
        .collect();

    let churner = {
        let (db, stop) = (db.clone(), stop.clone());
        thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) || rounds < 5 {
                let id = db.create_metric("churn").unwrap();
                let ts: Vec<i64> = (0..100).collect();
                db.insert_batch(id, &ts, &vec![rounds as f64; 100]).unwrap();
                let old = db.begin();
                db.drop_metric(id).unwrap();
                assert_eq!(scan(&old, id).len(), 100, "dropped metric readable in the old snapshot");
                assert_eq!(old.lookup("churn").unwrap(), id);
                assert!(db.begin().scan(id, 0, 1).is_err());
                rounds += 1;
            }
        })
    };

    // Checkpoints from a thread of ours race the background ones (and the writers).
    let checkpointer = {
        let (db, stop) = (db.clone(), stop.clone());
        thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) || n < 3 {
                db.checkpoint().unwrap();
                n += 1;
                thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };

    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stop, solo, pairs) = (db.clone(), stop.clone(), solo.clone(), pairs.clone());
            thread::spawn(move || {
                let mut checks = 0u64;
                while !stop.load(Ordering::Relaxed) || checks < 3 {
                    let s = db.begin();
                    let first: Vec<Vec<(i64, u64)>> = solo
                        .iter()
                        .chain(pairs.iter().flat_map(|(a, b)| [a, b]))
                        .map(|id| scan(&s, *id))
                        .collect();
                    for pts in &first {
                        assert!(pts.windows(2).all(|w| w[0].0 < w[1].0), "ascending, unique timestamps");
                    }
                    for k in 0..pairs.len() {
                        let (a, b) = (&first[solo.len() + 2 * k], &first[solo.len() + 2 * k + 1]);
                        assert_eq!(a, b, "an atomic batch was seen in part");
                    }
                    thread::yield_now();
                    let again: Vec<Vec<(i64, u64)>> = solo
                        .iter()
                        .chain(pairs.iter().flat_map(|(a, b)| [a, b]))
                        .map(|id| scan(&s, *id))
                        .collect();
                    assert_eq!(first, again, "a snapshot changed under concurrent writes");
                    checks += 1;
                }
                checks
            })
        })
        .collect();

    let models: Vec<BTreeMap<i64, u64>> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    churner.join().unwrap();
    checkpointer.join().unwrap();
    let checks: u64 = readers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(checks >= 6);

    let s = db.begin();
    for (w, model) in models.iter().enumerate() {
        let want: Vec<(i64, u64)> = model.iter().map(|(t, v)| (*t, *v)).collect();
        assert_eq!(scan(&s, solo[w]), want, "every acknowledged write of writer {w}");
        let (a, b) = pairs[w];
        assert_eq!(scan(&s, a).len() as i64, iters);
        assert_eq!(scan(&s, a), scan(&s, b));
    }
    drop(s);
    let db = Arc::try_unwrap(db).ok().expect("all threads joined");
    db.close().map_err(|(_, e)| e).unwrap();
    // Everything acknowledged is there after reopening.
    let db = Database::open(&dir, &opts).unwrap();
    let s = db.begin();
    for (w, model) in models.iter().enumerate() {
        let want: Vec<(i64, u64)> = model.iter().map(|(t, v)| (*t, *v)).collect();
        assert_eq!(scan(&s, solo[w]), want, "writer {w}'s writes after reopen");
        let (a, b) = pairs[w];
        assert_eq!(scan(&s, a).len() as i64, iters, "pair {w} after reopen");
        assert_eq!(scan(&s, a), scan(&s, b));
    }
    drop(s);
    db.close().map_err(|(_, e)| e).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
