//! The acknowledged ops, the model they make, the deterministic scripts of the two
//! templates, and building the templates (in the parent process).

use std::collections::BTreeMap;
use std::path::Path;

use tsdb::codec::shapes::Rng;
use tsdb::{Batch, Database, MetricId, Options, SyncPolicy};

use crate::image::DirImg;

pub const T0: i64 = 1_700_000_000_000;
pub const STEP: i64 = 10_000;
pub const LONG1: &str =
    "service.frontend.requests.latency.p99.by-region.by-host.by-endpoint.histogram.bucket.le-0.25";
pub const LONG2: &str =
    "m.zz.a.second.name.long.enough.to.need.a.name.blob.of.its.own.in.the.second.leaf.0001";

/// An acknowledged write, with the metric ids the engine assigns (1, 2, ... in creation
/// order; checked while the template is built).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Create { id: u64, name: String },
    Insert { id: u64, ts: Vec<i64>, vals: Vec<f64> },
    Batch { ids: Vec<u64>, ts: Vec<i64>, vals: Vec<f64> },
    Drop { id: u64 },
    Delete { id: u64, from: i64, until: i64 },
    Retention { id: u64, span: i64 },
}

impl Op {
    /// The log record this op writes (docs/format.md): kind and payload.
    pub fn record(&self) -> (u8, Vec<u8>) {
        let mut p = Vec::new();
        let u = |p: &mut Vec<u8>, x: u64| p.extend_from_slice(&x.to_le_bytes());
        match self {
            Op::Create { id, name } => {
                u(&mut p, *id);
                u(&mut p, name.len() as u64);
                p.extend_from_slice(name.as_bytes());
                (1, p)
            }
            Op::Drop { id } => {
                u(&mut p, *id);
                (2, p)
            }
            Op::Insert { id, ts, vals } => {
                u(&mut p, *id);
                u(&mut p, ts.len() as u64);
                ts.iter().for_each(|&t| u(&mut p, t as u64));
                vals.iter().for_each(|v| u(&mut p, v.to_bits()));
                (3, p)
            }
            // One timestamp and ids in order: a scrape record (count, the timestamp, the
            // values, the ids as varint gaps from 0).
            Op::Batch { ids, ts, vals } if ts.iter().all(|&t| t == ts[0]) && ids.is_sorted() => {
                u(&mut p, ts.len() as u64);
                u(&mut p, ts[0] as u64);
                vals.iter().for_each(|v| u(&mut p, v.to_bits()));
                let mut prev = 0;
                for &id in ids {
                    let mut gap = id - prev;
                    while gap >= 0x80 {
                        p.push(gap as u8 | 0x80);
                        gap >>= 7;
                    }
                    p.push(gap as u8);
                    prev = id;
                }
                (8, p)
            }
            Op::Batch { ids, ts, vals } => {
                u(&mut p, ts.len() as u64);
                ids.iter().for_each(|&i| u(&mut p, i));
                ts.iter().for_each(|&t| u(&mut p, t as u64));
                vals.iter().for_each(|v| u(&mut p, v.to_bits()));
                (4, p)
            }
            Op::Delete { id, from, until } => {
                u(&mut p, *id);
                u(&mut p, *from as u64);
                u(&mut p, *until as u64);
                (5, p)
            }
            Op::Retention { id, span } => {
                u(&mut p, *id);
                u(&mut p, *span as u64);
                (6, p)
            }
        }
    }
}

/// What a database holds: metric id -> (name, points by timestamp as value bits).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub metrics: BTreeMap<u64, (String, BTreeMap<i64, u64>)>,
}

impl Model {
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Create { id, name } => {
                self.metrics.insert(*id, (name.clone(), BTreeMap::new()));
            }
            Op::Insert { id, ts, vals } => {
                let m = &mut self.metrics.get_mut(id).expect("insert into a live metric").1;
                for (t, v) in ts.iter().zip(vals) {
                    m.insert(*t, v.to_bits());
                }
            }
            Op::Batch { ids, ts, vals } => {
                for ((id, t), v) in ids.iter().zip(ts).zip(vals) {
                    self.metrics.get_mut(id).expect("batch into a live metric").1.insert(*t, v.to_bits());
                }
            }
            Op::Drop { id } => {
                self.metrics.remove(id);
            }
            Op::Delete { id, from, until } => {
                let m = &mut self.metrics.get_mut(id).expect("delete in a live metric").1;
                let doomed: Vec<i64> = m.range(*from..*until).map(|(t, _)| *t).collect();
                for t in doomed {
                    m.remove(&t);
                }
            }
            // Spans are chosen so that nothing is ever past retention: no effect on points.
            Op::Retention { .. } => {}
        }
    }

    pub fn after(ops: &[Op]) -> Model {
        let mut m = Model::default();
        ops.iter().for_each(|op| m.apply(op));
        m
    }
}

/// A step of a template's script.
#[derive(Clone, Debug)]
pub enum Step {
    Op(Op),
    Checkpoint,
    /// Keep a copy of the MANIFEST as it is now (the "older MANIFEST" of a leftover).
    SaveManifest,
    /// Close and open again.
    Reopen,
}

pub struct Gen {
    pub steps: Vec<Step>,
    pub next_id: u64,
    pub rng: Rng,
}

impl Gen {
    pub fn op(&mut self, op: Op) {
        self.steps.push(Step::Op(op));
    }
    pub fn create(&mut self, name: &str) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.op(Op::Create { id, name: name.to_string() });
        id
    }
    pub fn insert(&mut self, id: u64, ts: Vec<i64>, vals: Vec<f64>) {
        self.op(Op::Insert { id, ts, vals });
    }
    /// Points `k` in `range` of a regular series: ts `T0 + k * STEP`, values quarter
    /// integers (sums stay exact in any order, so aggregates compare exactly).
    pub fn series(&mut self, id: u64, range: std::ops::Range<i64>, salt: i64) {
        let ts: Vec<i64> = range.clone().map(|k| T0 + k * STEP).collect();
        let vals: Vec<f64> = range.map(|k| ((k * 7919 + salt * 104_729) % 1000) as f64 / 4.0).collect();
        self.insert(id, ts, vals);
    }
    /// Random value bit patterns (NaNs and infinities included), timestamps shuffled.
    pub fn random(&mut self, id: u64, range: std::ops::Range<i64>) {
        let mut ts: Vec<i64> = range.map(|k| T0 + k * STEP + 17).collect();
        for i in (1..ts.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            ts.swap(i, j);
        }
        let vals: Vec<f64> = ts
            .iter()
            .map(|_| match self.rng.below(50) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::from_bits(0x7ff8_0000_dead_beef), // a NaN with a payload
                _ => f64::from_bits(self.rng.next_u64()),
            })
            .collect();
        self.insert(id, ts, vals);
    }
}

/// The two templates. `clean`: two sessions, closed (manifest and data segments, no log).
/// `crashed`: the same, then a checkpoint and ~300 KB of logged writes (several 64 KiB log
/// segments after the checkpoint), imaged while open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Clean,
    Crashed,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Clean => "clean",
            Kind::Crashed => "crashed",
        }
    }
}

pub fn script(kind: Kind) -> Vec<Step> {
    let mut g = Gen { steps: Vec::new(), next_id: 1, rng: Rng::new(13, kind as u64) };
    let cpu = g.create("cpu.total"); // 40+ sealed parts: an INDEX and CHUNK blobs
    let rnd = g.create("mem.random"); // random bits, out of order: raw blocks
    let konst = g.create("const.gauge"); // constant: grown, paged blocks
    let long1 = g.create(LONG1); // a NAME blob
    let slow = g.create("slow"); // 5 head extents: an EXTENTS blob
    let doomed = g.create("dropped.soon");
    let _empty = g.create("empty");
    let retained = g.create("retained");
    let keep = g.create("keep.all");
    let late = g.create("late"); // late overwrites merged into sealed parts
    // Ids past 63: a second leaf under a node; one long name there too.
    let ms: Vec<u64> =
        (0..70).map(|k| if k == 60 { g.create(LONG2) } else { g.create(&format!("m.{k:02}")) }).collect();
    g.op(Op::Retention { id: retained, span: 1 << 50 });
    g.op(Op::Retention { id: keep, span: -1 });
    for c in 0..10 {
        g.series(cpu, c * 512..(c + 1) * 512, 1);
    }
    for c in 0..13 {
        g.random(rnd, c * 100..(c + 1) * 100);
    }
    // Constant: its last block grows by each seal (under a quarter byte a point) past the
    // 1,024 points that make a block paged.
    for c in 0..6 {
        let ts: Vec<i64> = (c * 1000..(c + 1) * 1000).map(|k| T0 + k * STEP).collect();
        g.insert(konst, ts, vec![42.0; 1000]);
    }
    let ts: Vec<i64> = (0..1000).map(|k| T0 + 2 * k * STEP).collect();
    g.insert(late, ts, vec![1.5; 1000]);
    g.series(doomed, 0..300, 2);
    g.series(retained, 0..200, 3);
    g.series(keep, 0..200, 4);
    g.series(long1, 0..30, 5);
    for b in 0..3i64 {
        let mut ids = ms.clone();
        ids.push(late);
        let ts: Vec<i64> =
            ids.iter().map(|&id| if id == late { T0 + 2 * (50 + b) * STEP } else { T0 + b * STEP }).collect();
        let vals: Vec<f64> = ids.iter().map(|&id| (id as i64 * 3 + b) as f64 * 0.5).collect();
        g.op(Op::Batch { ids, ts, vals });
    }
    g.steps.push(Step::Checkpoint);
    g.steps.push(Step::SaveManifest);
    // Extents of 40, 16, 7, 3 and 1 points: none absorbs another (a new extent absorbs the
    // newest ones no larger than twice it).
    let mut at = 0;
    for n in [40, 16, 7, 3, 1] {
        g.series(slow, at..at + n, 6);
        g.steps.push(Step::Checkpoint);
        at += n;
    }
    g.op(Op::Delete { id: cpu, from: T0 + 1000 * STEP + 5_000, until: T0 + 1600 * STEP + 5_000 });
    let mut ts: Vec<i64> = (100..120).step_by(2).map(|k| T0 + k * STEP).collect();
    let mut vals = vec![2.5; ts.len()];
    ts.extend((301..311).step_by(2).map(|k| T0 + k * STEP));
    vals.resize(ts.len(), 3.5);
    g.insert(late, ts, vals);
    g.op(Op::Delete { id: late, from: T0 + 1900 * STEP, until: T0 + 1910 * STEP });
    g.op(Op::Drop { id: doomed });
    // A checkpoint before the close leaves it nothing to write: the close moves the live
    // blocks into a new data segment of live blocks only, which session 2 does not touch.
    g.steps.push(Step::Checkpoint);
    g.steps.push(Step::Reopen);
    // Session 2: whole partitions only (no head, no extent), in a second data segment.
    let fresh = g.create("new.after.reopen");
    g.series(fresh, 0..640, 7);
    g.series(cpu, 5120..5760, 1);
    if kind == Kind::Crashed {
        g.steps.push(Step::Checkpoint);
        let mut next = 5760;
        for r in 0..40i64 {
            g.series(cpu, next..next + 400, 1);
            next += 400;
            g.random(rnd, 1500 + r * 30..1500 + (r + 1) * 30);
            let mut ids: Vec<u64> = (0..20).map(|k| ms[((r * 20 + k) % 70) as usize]).collect();
            ids.retain(|&id| id != ms[5] || r < 9);
            ids.push(late);
            let ts: Vec<i64> =
                ids.iter().map(|&id| T0 + (if id == late { 2000 + r } else { 10 + r }) * STEP).collect();
            let vals: Vec<f64> = ids.iter().map(|&id| (id as i64 + r) as f64 * 0.25).collect();
            g.op(Op::Batch { ids, ts, vals });
            let m = ms[(r as usize * 7) % 70];
            if m != ms[5] || r < 9 {
                g.insert(m, vec![T0 + (100 + r) * STEP], vec![r as f64]);
            }
            match r {
                3 => {
                    let id = g.create("post.checkpoint.metric");
                    g.series(id, 0..50, 8);
                }
                9 => g.op(Op::Drop { id: ms[5] }),
                14 => g.op(Op::Delete { id: cpu, from: T0 + 300 * STEP, until: T0 + 700 * STEP + 1 }),
                20 => g.op(Op::Retention { id: ms[7], span: 1 << 50 }),
                27 => {
                    let ts: Vec<i64> = (2000..2040).map(|k| T0 + k * STEP).collect();
                    g.insert(cpu, ts, vec![-1.25; 40]);
                }
                33 => g.op(Op::Delete { id: rnd, from: T0 + 200 * STEP, until: T0 + 260 * STEP }),
                // A scrape (one timestamp, ids in order): the log's scrape record.
                _ if r % 10 == 5 => {
                    let ids: Vec<u64> = ms[..12].iter().copied().filter(|&id| id != ms[5] || r < 9).collect();
                    let ts = vec![T0 + (3000 + r) * STEP; ids.len()];
                    let vals: Vec<f64> = ids.iter().map(|&id| (id as i64 - r) as f64 * 0.5).collect();
                    g.op(Op::Batch { ids, ts, vals });
                }
                _ => {}
            }
        }
    }
    g.steps
}

pub fn ops_of(steps: &[Step]) -> Vec<Op> {
    steps.iter().filter_map(|s| if let Step::Op(op) = s { Some(op.clone()) } else { None }).collect()
}

pub fn opts() -> Options {
    let mut o = Options::default();
    o.set_partition_points(512).unwrap();
    o.checkpoint_bytes = 1 << 40; // no background checkpoints
    o.wal_segment_bytes = 64 << 10;
    o.sync = SyncPolicy::None;
    o
}

// ---------------------------------------------------------------------------------------
// Building the templates (in the parent process).

pub fn apply_to_db(db: &Database, op: &Op) {
    match op {
        Op::Create { id, name } => {
            assert_eq!(db.create_metric(name).unwrap(), MetricId(*id), "ids are predicted")
        }
        Op::Insert { id, ts, vals } => db.insert_batch(MetricId(*id), ts, vals).unwrap(),
        Op::Batch { ids, ts, vals } => {
            let mut b = Batch::new();
            for ((id, t), v) in ids.iter().zip(ts).zip(vals) {
                b.add(MetricId(*id), *t, *v);
            }
            db.commit(&mut b).unwrap();
        }
        Op::Drop { id } => db.drop_metric(MetricId(*id)).unwrap(),
        Op::Delete { id, from, until } => db.delete_range(MetricId(*id), *from, *until).unwrap(),
        Op::Retention { id, span } => db.set_retention(MetricId(*id), *span).unwrap(),
    }
}

pub fn close(db: Database) {
    db.close().map_err(|(_, e)| e).unwrap();
}

pub fn wal_numbers(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir.join("wal"))
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".wal")?.parse().ok()).collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// Build template `kind` under `root/<name>/`: `db/` (the image), `MANIFEST.older`, `meta`.
pub fn build_template(root: &Path, kind: Kind) {
    let base = root.join(kind.name());
    let live = base.join("live");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let steps = script(kind);
    let mut db = Database::open(&live, &opts()).unwrap();
    let mut checkpoint_seq = 0;
    for step in &steps {
        match step {
            Step::Op(op) => apply_to_db(&db, op),
            Step::Checkpoint => {
                db.checkpoint().unwrap();
                checkpoint_seq = db.storage_stats().checkpoint_seq;
            }
            Step::SaveManifest => {
                std::fs::copy(live.join("MANIFEST"), base.join("MANIFEST.older")).map(|_| ()).unwrap()
            }
            Step::Reopen => {
                close(db);
                db = Database::open(&live, &opts()).unwrap();
            }
        }
    }
    // A leftover log segment gets the number the next one of this session would have.
    let wal_max = wal_numbers(&live).last().copied().unwrap_or(0);
    let image = match kind {
        Kind::Clean => {
            close(db);
            DirImg::read(&live)
        }
        Kind::Crashed => {
            // What SIGKILL leaves: every write is in the page cache. Nothing runs in the
            // background (no checkpoints are due, no sync policy), which a second look checks.
            let img = DirImg::read(&live);
            let again = DirImg::read(&live);
            assert!(img == again, "the crashed template changed while it was copied");
            assert_eq!(db.storage_stats().checkpoint_seq, checkpoint_seq, "a checkpoint ran meanwhile");
            close(db);
            img
        }
    };
    image.write(&base.join("db"));
    std::fs::write(base.join("meta"), format!("checkpoint_seq {checkpoint_seq}\nwal_next {}\n", wal_max + 1))
        .unwrap();
    std::fs::remove_dir_all(&live).unwrap();
}
