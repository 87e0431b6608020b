//! Randomized model test: random operations on the engine and on a plain reference model
//! (BTreeMaps), with out-of-order and duplicate timestamps, small partitions (so seals and
//! late-point merges happen constantly), live snapshots checked against the model as it was
//! when they began. Many seeds; `TSDB_MODEL_SEEDS=N` runs more.
use std::collections::BTreeMap;
use std::sync::Arc;

use tsdb::{Batch, Database, Error, MetricId, Options, Snapshot, SyncPolicy};

/// name -> (id, points ts -> value bits)
type Model = BTreeMap<String, (u64, BTreeMap<i64, u64>)>;

use tsdb::codec::shapes::Rng;

/// A timestamp near `clock`: mostly ascending, some late, duplicate or far in the past.
fn next_ts(rng: &mut Rng, clock: &mut i64) -> i64 {
    match rng.below(10) {
        0..=5 => {
            *clock += rng.below(3) as i64 + 1;
            *clock
        }
        6 | 7 => *clock - rng.below(40) as i64, // late or duplicate
        8 => rng.below(2000) as i64 - 1000,     // far in the past
        _ => *clock,                            // duplicate of the newest
    }
}

fn next_value(rng: &mut Rng) -> f64 {
    match rng.below(12) {
        0 => f64::from_bits(0x7ff8_0000_0000_0000 | rng.below(1 << 40)), // NaN payloads
        1 => f64::INFINITY,
        2 => -0.0,
        _ => f64::from_bits(rng.next_u64()),
    }
}

fn points_in(model: &Model, id: u64) -> Option<&BTreeMap<i64, u64>> {
    model.values().find(|(i, _)| *i == id).map(|(_, p)| p)
}

fn check_scan(snap: &Arc<Snapshot>, model: &Model, id: u64, from: i64, until: i64, batch: usize) {
    let got = snap.scan(MetricId(id), from, until);
    match points_in(model, id) {
        None => assert!(matches!(got, Err(Error::NotFound(_))), "id {id} should be absent"),
        Some(pts) => {
            let mut c = got.unwrap();
            let (mut ts, mut vs) = (vec![0i64; batch], vec![0f64; batch]);
            let mut out = Vec::new();
            loop {
                let n = c.next_batch(Some(&mut ts), Some(&mut vs)).unwrap();
                if n == 0 {
                    break;
                }
                out.extend(ts[..n].iter().zip(&vs[..n]).map(|(t, v)| (*t, v.to_bits())));
            }
            assert_eq!(c.next_batch(Some(&mut ts), None), Ok(0), "done stays done");
            let want: Vec<(i64, u64)> = pts.range(from..until).map(|(t, v)| (*t, *v)).collect();
            assert_eq!(out, want, "scan of id {id} in [{from}, {until})");
        }
    }
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng::new(seed, 0);
    let mut opts = Options::default();
    opts.set_partition_points(2 + rng.below(14) as u32).unwrap();
    opts.set_head_run_points(1 + rng.below(8) as u32).unwrap();
    // No raw heads, room for two (some metrics compress, some don't), or every head raw.
    opts.raw_head_budget = [0, 2 * 24 * u64::from(opts.partition_points), u64::MAX][rng.below(3) as usize];
    // Background checkpoints every few KiB of log, or practically never.
    opts.checkpoint_bytes = [4096, 64 << 10, 16 << 20][rng.below(3) as usize];
    // fsync costs milliseconds and proves nothing about a process's view (tests/crash.rs
    // and tests/durability.rs cover the sync policies).
    opts.sync = SyncPolicy::None;
    let dir = std::env::temp_dir().join(format!("tsdb-model-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut db = Database::open(&dir, &opts).unwrap();
    let mut model: Model = BTreeMap::new();
    let mut snaps: Vec<(Arc<Snapshot>, Model)> = Vec::new();
    let mut clock: i64 = 0;
    let mut max_id = 0u64;
    let names: Vec<String> = (0..12).map(|i| format!("metric.{i}")).collect();

    for _ in 0..steps {
        // An id: mostly live, sometimes dropped or never created.
        let pick_id = |rng: &mut Rng, model: &Model| -> u64 {
            let live: Vec<u64> = model.values().map(|(id, _)| *id).collect();
            if live.is_empty() || rng.below(10) == 0 {
                rng.below(max_id + 3)
            } else {
                live[rng.below(live.len() as u64) as usize]
            }
        };
        match rng.below(100) {
            0..=7 => {
                let name = &names[rng.below(names.len() as u64) as usize];
                match db.create_metric(name) {
                    Ok(id) => {
                        assert!(!model.contains_key(name), "created a duplicate of {name}");
                        assert!(id.0 > max_id, "ids are never reused");
                        max_id = id.0;
                        model.insert(name.clone(), (id.0, BTreeMap::new()));
                    }
                    Err(Error::Exists { id, .. }) => assert_eq!(model[name].0, id.0),
                    Err(e) => panic!("create: {e}"),
                }
            }
            8..=10 => {
                let id = pick_id(&mut rng, &model);
                let res = db.drop_metric(MetricId(id));
                let name = model.iter().find(|(_, (i, _))| *i == id).map(|(n, _)| n.clone());
                match name {
                    Some(n) => {
                        res.unwrap();
                        model.remove(&n);
                    }
                    None => assert!(matches!(res, Err(Error::NotFound(_)))),
                }
            }
            11..=45 => {
                let id = pick_id(&mut rng, &model);
                let (t, v) = (next_ts(&mut rng, &mut clock), next_value(&mut rng));
                let res = db.insert(MetricId(id), t, v);
                match model.values_mut().find(|(i, _)| *i == id) {
                    Some((_, pts)) => {
                        res.unwrap();
                        pts.insert(t, v.to_bits());
                    }
                    None => assert!(matches!(res, Err(Error::NotFound(_)))),
                }
            }
            46..=60 => {
                let id = pick_id(&mut rng, &model);
                let n = 1 + rng.below(40) as usize;
                let ts: Vec<i64> = (0..n).map(|_| next_ts(&mut rng, &mut clock)).collect();
                let vs: Vec<f64> = (0..n).map(|_| next_value(&mut rng)).collect();
                let res = db.insert_batch(MetricId(id), &ts, &vs);
                match model.values_mut().find(|(i, _)| *i == id) {
                    Some((_, pts)) => {
                        res.unwrap();
                        for (t, v) in ts.iter().zip(&vs) {
                            pts.insert(*t, v.to_bits());
                        }
                    }
                    None => assert!(matches!(res, Err(Error::NotFound(_)))),
                }
            }
            61..=70 => {
                let mut batch = Batch::new();
                let mut adds = Vec::new();
                for _ in 0..1 + rng.below(20) {
                    let (id, t, v) =
                        (pick_id(&mut rng, &model), next_ts(&mut rng, &mut clock), next_value(&mut rng));
                    batch.add(MetricId(id), t, v);
                    adds.push((id, t, v));
                }
                let res = db.commit(&mut batch);
                let all_live = adds.iter().all(|(id, _, _)| points_in(&model, *id).is_some());
                if all_live {
                    res.unwrap();
                    for (id, t, v) in adds {
                        let (_, pts) = model.values_mut().find(|(i, _)| *i == id).unwrap();
                        pts.insert(t, v.to_bits());
                    }
                } else {
                    assert!(matches!(res, Err(Error::NotFound(_))));
                }
            }
            71..=76 => {
                if snaps.len() < 6 {
                    snaps.push((db.begin(), model.clone()));
                }
            }
            77..=80 => {
                if !snaps.is_empty() {
                    let i = rng.below(snaps.len() as u64) as usize;
                    snaps.swap_remove(i);
                }
            }
            81..=84 => {
                // Name lookups in the current state or an old snapshot.
                let (snap, m) = match snaps.last() {
                    Some((s, m)) if rng.below(2) == 0 => (s.clone(), m),
                    _ => (db.begin(), &model),
                };
                let name = &names[rng.below(names.len() as u64) as usize];
                match m.get(name) {
                    Some((id, _)) => assert_eq!(snap.lookup(name).unwrap().0, *id),
                    None => assert!(matches!(snap.lookup(name), Err(Error::NotFound(_)))),
                }
                assert_eq!(snap.metric_count(), m.len() as u64);
            }
            85..=86 => db.checkpoint().unwrap(),
            87 => {
                // Close (or drop) and reopen: the database equals the model, ids go on.
                snaps.clear();
                if rng.below(2) == 0 {
                    db.close().map_err(|(_, e)| e).unwrap();
                } else {
                    drop(db);
                }
                db = Database::open(&dir, &opts).unwrap();
                check_all(&db.begin(), &model);
            }
            88..=89 => {
                // A range delete, mostly over recent and late timestamps, sometimes all.
                let id = pick_id(&mut rng, &model);
                let a = clock - rng.below(300) as i64;
                let b = a + rng.below(200) as i64;
                let (from, until) = if rng.below(8) == 0 { (i64::MIN, i64::MAX) } else { (a, b) };
                let res = db.delete_range(MetricId(id), from, until);
                match model.values_mut().find(|(i, _)| *i == id) {
                    Some((_, pts)) => {
                        res.unwrap();
                        pts.retain(|t, _| *t < from || *t >= until);
                    }
                    None => assert!(matches!(res, Err(Error::NotFound(_)))),
                }
            }
            _ => {
                let (snap, m) = match snaps.len() {
                    0 => (db.begin(), &model),
                    k if rng.below(3) > 0 => {
                        let (s, m) = &snaps[rng.below(k as u64) as usize];
                        (s.clone(), m)
                    }
                    _ => (db.begin(), &model),
                };
                let id = pick_id(&mut rng, m);
                let a = clock - rng.below(200) as i64;
                let b = a + rng.below(300) as i64;
                let (from, until) = if rng.below(5) == 0 { (i64::MIN, i64::MAX) } else { (a, b) };
                check_scan(&snap, m, id, from, until, 1 + rng.below(64) as usize);
                if from < until && rng.below(2) == 0 {
                    let bucket = [1, 7, 50, 1000, i64::MAX][rng.below(5) as usize];
                    check_aggregate(&snap, m, id, from, until, bucket);
                }
            }
        }
    }
    // Every snapshot still reads exactly what it saw at its beginning.
    for (snap, m) in &snaps {
        for (id, _) in m.values() {
            check_scan(snap, m, *id, i64::MIN, i64::MAX, 17);
        }
    }
    drop(snaps);
    db.close().map_err(|(_, e)| e).unwrap();
    let db = Database::open(&dir, &opts).unwrap();
    check_all(&db.begin(), &model);
    db.close().map_err(|(_, e)| e).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// `Snapshot::aggregate` equals a fold over the model's points (sums to rounding: they add
/// per block).
fn check_aggregate(snap: &Snapshot, model: &Model, id: u64, from: i64, until: i64, bucket: i64) {
    let mut got = Vec::new();
    let res = snap.aggregate(MetricId(id), from, until, bucket, usize::MAX, &mut got);
    let Some(pts) = points_in(model, id) else {
        assert!(matches!(res, Err(Error::NotFound(_))), "aggregate of absent id {id}");
        return;
    };
    res.unwrap();
    let mut want: Vec<Fold> = Vec::new();
    for (&t, &bits) in pts.range(from..until) {
        let v = f64::from_bits(bits);
        let start = (i128::from(from)
            + (i128::from(t) - i128::from(from)) / i128::from(bucket) * i128::from(bucket))
            as i64;
        if want.last().is_none_or(|w| w.start != start) {
            want.push(Fold {
                start,
                first: bits,
                first_ts: t,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                ..Fold::default()
            });
        }
        let w = want.last_mut().unwrap();
        w.count += 1;
        (w.last, w.last_ts) = (bits, t);
        if !v.is_nan() {
            (w.min, w.max, w.sum, w.valued, w.magnitude) =
                (w.min.min(v), w.max.max(v), w.sum + v, w.valued + 1, w.magnitude + v.abs());
        }
    }
    let ctx = format!("aggregate of id {id} in [{from}, {until}) by {bucket}");
    assert_eq!(got.len(), want.len(), "{ctx}: buckets");
    let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a == b;
    for (g, w) in got.iter().zip(&want) {
        let (min, max, sum) =
            if w.valued == 0 { (f64::NAN, f64::NAN, f64::NAN) } else { (w.min, w.max, w.sum) };
        assert_eq!(
            (g.start, g.count, g.first_ts, g.last_ts),
            (w.start, w.count, w.first_ts, w.last_ts),
            "{ctx}"
        );
        assert_eq!((g.first.to_bits(), g.last.to_bits()), (w.first, w.last), "{ctx}: first/last");
        assert!(same(g.min, min) && same(g.max, max), "{ctx}: min/max {g:?} vs {min} {max}");
        // Sums add per block: they agree to rounding, relative to the sum of magnitudes,
        // unless an intermediate sum overflows (then the order of additions decides).
        if w.magnitude.is_finite() {
            let close = same(g.sum, sum) || (g.sum - sum).abs() <= 1e-9 * w.magnitude;
            assert!(close, "{ctx}: sum {} vs {sum}", g.sum);
        }
    }
}

/// One bucket of the model's fold.
#[derive(Default)]
struct Fold {
    start: i64,
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
    first: u64,
    last: u64,
    first_ts: i64,
    last_ts: i64,
    /// Non-NaN values, and the sum of their magnitudes.
    valued: u64,
    magnitude: f64,
}

/// The snapshot holds exactly the model's metrics, each with exactly its points.
fn check_all(snap: &Arc<Snapshot>, model: &Model) {
    assert_eq!(snap.metric_count(), model.len() as u64, "metric count after reopen");
    for (name, (id, _)) in model {
        assert_eq!(snap.lookup(name).unwrap().0, *id, "{name} keeps its id");
        check_scan(snap, model, *id, i64::MIN, i64::MAX, 33);
    }
}

#[test]
fn engine_matches_reference_model_over_random_operations() {
    let seeds: u64 = std::env::var("TSDB_MODEL_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    let first: u64 = std::env::var("TSDB_MODEL_FIRST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    for seed in first..first + seeds {
        if let Err(e) = std::panic::catch_unwind(|| run(seed, 3000)) {
            eprintln!(
                "model test failed with seed {seed} (rerun: TSDB_MODEL_FIRST_SEED={seed} TSDB_MODEL_SEEDS=1)"
            );
            std::panic::resume_unwind(e);
        }
    }
}

/// Large parts: enough points that tiered merging joins sealed parts into paged blocks of
/// many windows (partitions of 256, joined up to 65,536 and beyond), with late and
/// duplicate points merged into them and head points over them. Scans of random ranges with
/// buffers smaller, equal to and larger than a cursor's window, and aggregates, equal the
/// model, before and after a reopen.
#[test]
fn large_joined_parts_read_exactly() {
    let mut rng = Rng::new(77, 0);
    let mut opts = Options::default();
    opts.set_partition_points(256).unwrap();
    opts.sync = SyncPolicy::None;
    let dir = std::env::temp_dir().join(format!("tsdb-model-large-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut db = Database::open(&dir, &opts).unwrap();
    let mut model: Model = BTreeMap::new();
    let ids: Vec<u64> = (0..2)
        .map(|i| {
            let name = format!("large.{i}");
            let id = db.create_metric(&name).unwrap().0;
            model.insert(name, (id, BTreeMap::new()));
            id
        })
        .collect();
    let mut clock = 0i64;
    for round in 0..40 {
        for (k, &id) in ids.iter().enumerate() {
            let (mut ts, mut vals) = (Vec::new(), Vec::new());
            for _ in 0..5000 {
                // Mostly in order; now and then late (into joined parts) or a duplicate.
                let t = match rng.below(200) {
                    0 => rng.below(clock.max(1) as u64) as i64,
                    1 => clock,
                    _ => {
                        clock += 1 + rng.below(3) as i64;
                        clock
                    }
                };
                let v = if k == 0 { next_value(&mut rng) } else { (rng.below(1000) as f64) / 10.0 };
                ts.push(t);
                vals.push(v);
            }
            db.insert_batch(MetricId(id), &ts, &vals).unwrap();
            let pts = &mut model.values_mut().find(|(i, _)| *i == id).unwrap().1;
            for (t, v) in ts.iter().zip(&vals) {
                pts.insert(*t, v.to_bits());
            }
        }
        if round % 20 == 10 {
            check_large(&db.begin(), &model, &ids, &mut rng, clock);
        }
    }
    check_large(&db.begin(), &model, &ids, &mut rng, clock);
    db.close().map_err(|(_, e)| e).unwrap();
    db = Database::open(&dir, &opts).unwrap();
    check_large(&db.begin(), &model, &ids, &mut rng, clock);
    db.close().map_err(|(_, e)| e).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

fn check_large(snap: &Arc<Snapshot>, model: &Model, ids: &[u64], rng: &mut Rng, clock: i64) {
    for &id in ids {
        check_scan(snap, model, id, i64::MIN, i64::MAX, 4096);
        for _ in 0..8 {
            let a = rng.below(clock as u64 + 10) as i64;
            let b = a + rng.below(clock as u64 / 2 + 2) as i64;
            let batch = [1, 255, 4096, 5000, 70_000][rng.below(5) as usize];
            check_scan(snap, model, id, a, b, batch);
            check_aggregate(snap, model, id, a, b + 1, 1 + rng.below(20_000) as i64);
        }
    }
}
