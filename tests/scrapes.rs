//! Scrapes: batches of one timestamp with ids in order take the sorted path and the scrape
//! log record; they must give exactly what the general path gives, live and after replay.
mod common;

use std::collections::BTreeMap;

use common::{Model, check, copy_dir, opts, tmpdir};
use tsdb::codec::shapes::Rng;
use tsdb::{Batch, Database, MetricId};

/// A batch's points in another order that keeps each metric's adds in theirs.
fn interleave(rng: &mut Rng, pts: &[(MetricId, i64, f64)]) -> Vec<(MetricId, i64, f64)> {
    let mut queues: BTreeMap<u64, std::collections::VecDeque<(MetricId, i64, f64)>> = BTreeMap::new();
    for p in pts {
        queues.entry(p.0.0).or_default().push_back(*p);
    }
    let mut keys: Vec<u64> = queues.keys().copied().collect();
    let mut out = Vec::with_capacity(pts.len());
    while !keys.is_empty() {
        let k = rng.below(keys.len() as u64) as usize;
        let q = queues.get_mut(&keys[k]).unwrap();
        out.push(q.pop_front().unwrap());
        if q.is_empty() {
            keys.swap_remove(k);
        }
    }
    out
}

/// Scrapes (one timestamp, ids in order: the sorted path and the scrape log record) give
/// the points that the same batches in any other order give (the general path), later adds
/// of one metric and timestamp winning; both replay from the log after a crash, and
/// survive close and reopen.
#[test]
fn scrape_batches_equal_shuffled_ones_and_replay_from_the_log() {
    let (da, db_) = (tmpdir("scrape-a"), tmpdir("scrape-b"));
    let mut o = opts(16); // seals during the batches
    o.head_run_points = 3;
    o.raw_head_budget = 16 * 24 * 4; // a few raw heads, the rest in runs
    o.checkpoint_bytes = 1 << 30; // everything stays in the log
    let (a, b) = (Database::open(&da, &o).unwrap(), Database::open(&db_, &o).unwrap());
    let mut rng = Rng::new(15, 0);
    let mut model: Model = BTreeMap::new();
    let mut ids = Vec::new();
    for i in 0..40 {
        let name = format!("s{i}");
        let id = a.create_metric(&name).unwrap();
        assert_eq!(b.create_metric(&name).unwrap(), id);
        ids.push(id);
        model.insert(name, BTreeMap::new());
    }
    for round in 0..120i64 {
        let mut pts = Vec::new();
        let scrape = round % 4 != 3;
        for (k, &id) in ids.iter().enumerate() {
            if rng.below(10) == 0 {
                continue; // not every metric in every scrape
            }
            let reps = if rng.below(8) == 0 { 2 + rng.below(2) } else { 1 };
            for _ in 0..reps {
                // A repeated (id, ts) in one batch: the later add wins.
                let t = if scrape { round * 10 } else { rng.below(2000) as i64 };
                let v = (round * 1000 + k as i64) as f64 + rng.below(100) as f64 / 4.0;
                pts.push((id, t, v));
            }
        }
        for (id, t, v) in &pts {
            let k = ids.iter().position(|x| x == id).unwrap();
            model.get_mut(&format!("s{k}")).unwrap().insert(*t, v.to_bits());
        }
        let shuffled = interleave(&mut rng, &pts);
        for (db, pts) in [(&a, &pts), (&b, &shuffled)] {
            let mut batch = Batch::new();
            for &(id, t, v) in pts {
                batch.add(id, t, v);
            }
            if !batch.is_empty() {
                db.commit(&mut batch).unwrap();
            }
        }
        if round % 17 == 0 {
            check(&a, &model);
            check(&b, &model);
        }
    }
    check(&a, &model);
    check(&b, &model);
    // A crash image: the log alone holds every batch (no checkpoint ran).
    for d in [&da, &db_] {
        let img = d.with_extension("img");
        copy_dir(d, &img);
        let c = Database::open(&img, &o).unwrap();
        check(&c, &model);
        c.close().map_err(|(_, e)| e).unwrap();
        std::fs::remove_dir_all(&img).unwrap();
    }
    for (db, d) in [(a, &da), (b, &db_)] {
        db.close().map_err(|(_, e)| e).unwrap();
        let db = Database::open(d, &o).unwrap();
        check(&db, &model);
        db.close().map_err(|(_, e)| e).unwrap();
        std::fs::remove_dir_all(d).unwrap();
    }
}
