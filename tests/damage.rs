//! The damage matrix (issue 13, "Data safety under faults"): every file of a database ×
//! every kind of damage, on a cleanly closed and on a crashed database.
//!
//! **Templates**, built once per run from deterministic scripts of acknowledged ops:
//! `clean` (two sessions, closed: MANIFEST and two data segments, no log) and `crashed`
//! (the same, then a checkpoint and ~300 KB of logged writes in 64 KiB log segments; its
//! files copied while it is open and idle under `SyncPolicy::None`, which is what SIGKILL
//! leaves). Both hold long names (NAME blobs), metrics of more than 4 parts (INDEX and
//! CHUNK blobs) and of more than 4 head extents (an EXTENTS blob), ids past 63 (a NODE),
//! a paged block, random and NaN values, late overwrites, a dropped metric, range deletes
//! and retention settings.
//!
//! **Targets** are found in the files: the superblock copies; one live blob of each kind,
//! from the root (the last blob a commit writes) down; blocks through the manifest's
//! references (first, middle and last part block, an extent, a paged block, a block the
//! manifest does not name); log records by parsing the segments and matching them to the
//! ops (first, middle, last and next-to-last segment; their first, middle and last record,
//! the first after the checkpoint, one across a page boundary, the zeros after the last);
//! LOCK; and leftovers of interrupted steps. **Damages**: truncation (to 0, to the header,
//! to the start or end of the target, into it), a zeroed 4 KiB page or exactly the target,
//! a flipped bit (in its header, its checksum, its body), a 16-byte burst, a torn record
//! after the last one, appended garbage, delete, rename (to another number, to a foreign
//! name). A 0-byte and a missing MANIFEST are its `trunc0` and `delete`.
//!
//! **The oracle**, per case:
//! - Open fails with `Corruption` or `Io` whose message names the damaged file, and no file
//!   but LOCK was created, changed or deleted (`FILES-CREATED`, `FILES-CHANGED`); `tsdb check`
//!   fails the same way. Or:
//! - open succeeds; the metrics (ids and names) are the model's; every full scan, range scan
//!   and aggregate returns exactly the model's answer or fails with `Corruption`/`Io`
//!   naming the file (less data is `LESS-DATA`, other data `WRONG-DATA`); the check reports a
//!   problem naming the file when a read failed or a superblock copy is damaged (which it
//!   documents), and nothing otherwise; `tsdb check` agrees; after a close, a second open
//!   shows the same.
//! - Some states must open (a refusal is `REFUSED`): no damage; one damaged superblock copy
//!   (docs/format.md); bytes after the MANIFEST's end; anything done to LOCK; leftovers a
//!   crash can leave (an empty, all-zero or header-only sparse data segment or log segment
//!   after the last, an older MANIFEST in `manifest-rewrite/`); and a torn last record.
//! - The one allowance (see [`torn`]): damage to the last log segment that reaches from a
//!   bad record to the end of what the segment holds, or that empties it, may lose the ops
//!   logged from the damaged record on, as a suffix; never an op before it.
//!
//! **How it runs**: each case runs in a worker child process (this test binary again), one
//! at a time with a deadline, so that a crash (abort, SIGBUS) or a hang fails that case
//! (`CRASH`, `HANG`) and the run goes on. The run prints a line per template, the outcomes,
//! a table per template (target × damage), the failing classes and the failing cases, and
//! fails when any case fails. `oracle_catches_what_it_should` tests the oracle itself.
//!
//! Environment:
//! - `TSDB_DAMAGE_FILTER=text`: run only cases whose name contains `text` (a name is
//!   `template: target: damage`, e.g. `crashed: wal/00000006.wal (last) last record: flip-body`);
//!   several filters separated by `;` select the union.
//! - `TSDB_DAMAGE_JOBS=n`: worker processes (default: 2, or 1 on a single core).
//! - `TSDB_DAMAGE_CASE_SECS=n`: a case's deadline (default 20); past it the case is a hang.
//! - `TSDB_DAMAGE_CLI_EVERY=n`: run `tsdb check` on every n-th case too (default 1; 0: never).
//! - `TSDB_DAMAGE_KEEP=1`: keep the scratch directory, with the failing cases' directories.
//! - `TSDB_DAMAGE_LIST=1`: print every case's name and verdict, not just the failures.
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tsdb::codec::shapes::Rng;
use tsdb::{Agg, Batch, Database, Error, MetricId, Options, Snapshot, SyncPolicy};

// ---------------------------------------------------------------------------------------
// File images: a directory's files held in memory, sparse (all-zero pages are left out), so
// that a 256 MiB sparse data segment costs only its written pages.

const PAGE: u64 = 4096;

/// A file's bytes: its length and its non-zero 4 KiB pages (bytes past `len` are zero).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct FileImg {
    len: u64,
    pages: BTreeMap<u64, Vec<u8>>,
}

impl FileImg {
    fn from_bytes(b: &[u8]) -> FileImg {
        let mut f = FileImg::default();
        f.write(0, b);
        f.len = b.len() as u64;
        f
    }

    /// `n` bytes from `off`, clipped to the file's length.
    fn read(&self, off: u64, n: u64) -> Vec<u8> {
        let end = off.saturating_add(n).min(self.len);
        if off >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - off) as usize];
        for (&p, page) in self.pages.range(off / PAGE..=(end - 1) / PAGE) {
            let (ps, pe) = (p * PAGE, p * PAGE + PAGE);
            let (s, e) = (ps.max(off), pe.min(end));
            out[(s - off) as usize..(e - off) as usize]
                .copy_from_slice(&page[(s - ps) as usize..(e - ps) as usize]);
        }
        out
    }

    /// The whole file (not for a large sparse one).
    fn bytes(&self) -> Vec<u8> {
        self.read(0, self.len)
    }

    fn byte(&self, off: u64) -> u8 {
        self.read(off, 1).first().copied().unwrap_or(0)
    }

    /// Write `data` at `off`, growing the file if needed.
    fn write(&mut self, off: u64, data: &[u8]) {
        let end = off + data.len() as u64;
        let mut at = off;
        while at < end {
            let p = at / PAGE;
            let ps = p * PAGE;
            let e = (ps + PAGE).min(end);
            let page = self.pages.entry(p).or_insert_with(|| vec![0u8; PAGE as usize]);
            page[(at - ps) as usize..(e - ps) as usize]
                .copy_from_slice(&data[(at - off) as usize..(e - off) as usize]);
            if page.iter().all(|&b| b == 0) {
                self.pages.remove(&p);
            }
            at = e;
        }
        self.len = self.len.max(end);
    }

    fn truncate(&mut self, len: u64) {
        if len >= self.len {
            self.len = len;
            return;
        }
        let keep = len.div_ceil(PAGE);
        self.pages.retain(|&p, _| p < keep);
        if !len.is_multiple_of(PAGE) {
            let tail = PAGE - len % PAGE;
            self.write(len, &vec![0u8; tail as usize]);
        }
        self.len = len;
    }

    /// Whether every byte from `off` to the end is zero.
    fn zero_from(&self, off: u64) -> bool {
        if off >= self.len {
            return true;
        }
        let p = off / PAGE;
        if let Some(page) = self.pages.get(&p)
            && page[(off - p * PAGE) as usize..].iter().any(|&b| b != 0)
        {
            return false;
        }
        self.pages.range(p + 1..).next().is_none()
    }

    /// Whether bytes `[off, off + n)` are all zero.
    fn zero_range(&self, off: u64, n: u64) -> bool {
        self.read(off, n).iter().all(|&b| b == 0)
    }
}

/// A directory tree: files by relative path (`data/00000001.seg`), and its directories.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct DirImg {
    files: BTreeMap<String, FileImg>,
    dirs: BTreeSet<String>,
}

impl DirImg {
    fn read(root: &Path) -> DirImg {
        let mut img = DirImg::default();
        read_into(root, "", &mut img);
        img
    }

    fn write(&self, root: &Path) {
        let _ = std::fs::remove_dir_all(root);
        std::fs::create_dir_all(root).unwrap();
        for d in &self.dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for (rel, f) in &self.files {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let file = std::fs::File::create(&path).unwrap();
            // Consecutive pages in one write.
            let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
            for (&p, page) in &f.pages {
                match runs.last_mut() {
                    Some((start, bytes)) if *start + bytes.len() as u64 == p * PAGE => {
                        bytes.extend_from_slice(page)
                    }
                    _ => runs.push((p * PAGE, page.clone())),
                }
            }
            for (start, mut bytes) in runs {
                bytes.truncate((f.len - start).min(bytes.len() as u64) as usize);
                file.write_all_at(&bytes, start).unwrap();
            }
            file.set_len(f.len).unwrap();
        }
    }

    /// The files other than LOCK, for comparing what an open changed.
    fn data_files(&self) -> BTreeMap<&String, &FileImg> {
        self.files.iter().filter(|(k, _)| k.as_str() != "LOCK").collect()
    }
}

fn read_into(dir: &Path, prefix: &str, img: &mut DirImg) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            img.dirs.insert(rel.clone());
            read_into(&e.path(), &rel, img);
        } else if ft.is_file() {
            img.files.insert(rel, read_sparse(&e.path()));
        }
    }
}

/// A file's image, reading only its data extents (`SEEK_DATA`/`SEEK_HOLE`).
#[allow(unsafe_code)]
fn read_sparse(path: &Path) -> FileImg {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    let fd = file.as_raw_fd();
    let mut img = FileImg { len, pages: BTreeMap::new() };
    let mut pos: i64 = 0;
    while (pos as u64) < len {
        // SAFETY: plain system calls on a descriptor this function owns.
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: no data after pos
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let (start, end) = ((data as u64) / PAGE * PAGE, (hole.max(data) as u64).min(len));
        let mut at = start;
        while at < end {
            let n = (end - at).min(1 << 20);
            let mut buf = vec![0u8; n as usize];
            file.read_exact_at(&mut buf, at).unwrap();
            for (k, chunk) in buf.chunks(PAGE as usize).enumerate() {
                if chunk.iter().any(|&b| b != 0) {
                    let mut page = chunk.to_vec();
                    page.resize(PAGE as usize, 0);
                    img.pages.insert(at / PAGE + k as u64, page);
                }
            }
            at += n;
        }
        pos = hole.max(data + 1);
    }
    img
}

// ---------------------------------------------------------------------------------------
// Ops, the model, and the deterministic scripts that build the templates.

const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 10_000;
const LONG1: &str =
    "service.frontend.requests.latency.p99.by-region.by-host.by-endpoint.histogram.bucket.le-0.25";
const LONG2: &str = "m.zz.a.second.name.long.enough.to.need.a.name.blob.of.its.own.in.the.second.leaf.0001";

/// An acknowledged write, with the metric ids the engine assigns (1, 2, ... in creation
/// order; checked while the template is built).
#[derive(Clone, Debug, PartialEq)]
enum Op {
    Create { id: u64, name: String },
    Insert { id: u64, ts: Vec<i64>, vals: Vec<f64> },
    Batch { ids: Vec<u64>, ts: Vec<i64>, vals: Vec<f64> },
    Drop { id: u64 },
    Delete { id: u64, from: i64, until: i64 },
    Retention { id: u64, span: i64 },
}

impl Op {
    /// The log record this op writes (docs/format.md): kind and payload.
    fn record(&self) -> (u8, Vec<u8>) {
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
struct Model {
    metrics: BTreeMap<u64, (String, BTreeMap<i64, u64>)>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
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

    fn after(ops: &[Op]) -> Model {
        let mut m = Model::default();
        ops.iter().for_each(|op| m.apply(op));
        m
    }
}

/// A step of a template's script.
#[derive(Clone, Debug)]
enum Step {
    Op(Op),
    Checkpoint,
    /// Keep a copy of the MANIFEST as it is now (the "older MANIFEST" of a leftover).
    SaveManifest,
    /// Close and open again.
    Reopen,
}

struct Gen {
    steps: Vec<Step>,
    next_id: u64,
    rng: Rng,
}

impl Gen {
    fn op(&mut self, op: Op) {
        self.steps.push(Step::Op(op));
    }
    fn create(&mut self, name: &str) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.op(Op::Create { id, name: name.to_string() });
        id
    }
    fn insert(&mut self, id: u64, ts: Vec<i64>, vals: Vec<f64>) {
        self.op(Op::Insert { id, ts, vals });
    }
    /// Points `k` in `range` of a regular series: ts `T0 + k * STEP`, values quarter
    /// integers (sums stay exact in any order, so aggregates compare exactly).
    fn series(&mut self, id: u64, range: std::ops::Range<i64>, salt: i64) {
        let ts: Vec<i64> = range.clone().map(|k| T0 + k * STEP).collect();
        let vals: Vec<f64> = range.map(|k| ((k * 7919 + salt * 104_729) % 1000) as f64 / 4.0).collect();
        self.insert(id, ts, vals);
    }
    /// Random value bit patterns (NaNs and infinities included), timestamps shuffled.
    fn random(&mut self, id: u64, range: std::ops::Range<i64>) {
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
enum Kind {
    Clean,
    Crashed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Clean => "clean",
            Kind::Crashed => "crashed",
        }
    }
}

fn script(kind: Kind) -> Vec<Step> {
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
                _ => {}
            }
        }
    }
    g.steps
}

fn ops_of(steps: &[Step]) -> Vec<Op> {
    steps.iter().filter_map(|s| if let Step::Op(op) = s { Some(op.clone()) } else { None }).collect()
}

fn opts() -> Options {
    let mut o = Options::default();
    o.set_partition_points(512).unwrap();
    o.checkpoint_bytes = 1 << 40; // no background checkpoints
    o.wal_segment_bytes = 64 << 10;
    o.sync = SyncPolicy::None;
    o
}

// ---------------------------------------------------------------------------------------
// Building the templates (in the parent process).

fn apply_to_db(db: &Database, op: &Op) {
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

fn close(db: Database) {
    db.close().map_err(|(_, e)| e).unwrap();
}

fn wal_numbers(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir.join("wal"))
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".wal")?.parse().ok()).collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// Build template `kind` under `root/<name>/`: `db/` (the image), `MANIFEST.older`, `meta`.
fn build_template(root: &Path, kind: Kind) {
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

// ---------------------------------------------------------------------------------------
// A template as the cases see it: the image, the ops, and what its files hold.

/// A log record found by parsing a segment.
#[derive(Clone, Debug)]
struct Rec {
    seg: u64,
    off: u64,
    end: u64,
    seq: u64,
    kind: u8,
    payload: Vec<u8>,
}

/// A manifest blob: offset, kind, body length.
#[derive(Clone, Copy, Debug)]
struct Blob {
    off: u64,
    kind: u8,
    len: u64,
}

/// A block reference decoded from the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BRef {
    seg: u64,
    off: u64,
    len: u64,
    extent: bool,
    paged: bool,
}

struct Template {
    kind: Kind,
    image: DirImg,
    ops: Vec<Op>,
    model: Model,
    older_manifest: Vec<u8>,
    wal_next: u64,
    checkpoint_seq: u64,
    /// Live manifest blobs (reachable from the root), by offset.
    live_blobs: BTreeMap<u64, Blob>,
    refs: Vec<BRef>,
    /// Log segment numbers, and the records of each op logged (`op_rec[i]` for op i).
    wal_segs: Vec<u64>,
    recs: Vec<Rec>,
    op_rec: Vec<Option<usize>>,
}

impl Template {
    /// One line on what the template holds.
    fn describe(&self) -> String {
        let data: Vec<String> = self
            .image
            .files
            .iter()
            .filter(|(k, _)| k.starts_with("data/"))
            .map(|(k, f)| {
                format!(
                    "{k} ({} bytes, {} named blocks)",
                    f.len,
                    self.refs.iter().filter(|r| k.contains(&seg_name(r.seg, "seg"))).count()
                )
            })
            .collect();
        let logged = self.op_rec.iter().filter(|r| r.is_some()).count();
        let mut line = format!(
            "{} template: {} ops, {} metrics, {} points; MANIFEST {} bytes ({} live blobs); {}",
            self.kind.name(),
            self.ops.len(),
            self.model.metrics.len(),
            self.model.metrics.values().map(|m| m.1.len()).sum::<usize>(),
            self.image.files["MANIFEST"].len,
            self.live_blobs.len(),
            data.join(", ")
        );
        if !self.wal_segs.is_empty() {
            let first = self.op_rec.iter().position(|r| r.is_some()).unwrap_or(0);
            line += &format!(
                "; log segments {:?} holding the last {logged} ops (from op {first}), checkpoint_seq {}",
                self.wal_segs, self.checkpoint_seq
            );
        }
        line
    }
}

fn seg_name(no: u64, ext: &str) -> String {
    format!("{no:08}.{ext}")
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn load_template(root: &Path, kind: Kind) -> Template {
    let base = root.join(kind.name());
    let image = DirImg::read(&base.join("db"));
    let meta = std::fs::read_to_string(base.join("meta")).unwrap();
    let field = |k: &str| -> u64 {
        meta.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("meta {k}"))
    };
    let ops = ops_of(&script(kind));
    let model = Model::after(&ops);
    let mut t = Template {
        kind,
        older_manifest: std::fs::read(base.join("MANIFEST.older")).unwrap(),
        wal_next: field("wal_next"),
        checkpoint_seq: field("checkpoint_seq"),
        live_blobs: BTreeMap::new(),
        refs: Vec::new(),
        wal_segs: Vec::new(),
        recs: Vec::new(),
        op_rec: vec![None; ops.len()],
        image,
        ops,
        model,
    };
    parse_manifest(&mut t);
    parse_wal(&mut t);
    t
}

/// Every blob from 8192 on, by walking the headers (│crc│kind│0[3]│len│0│body│, 8-aligned)
/// while their checksums hold.
fn manifest_blobs(m: &[u8]) -> Vec<Blob> {
    let mut out = Vec::new();
    let mut at = 8192usize;
    while at + 16 <= m.len() {
        let len = u32_at(m, at + 8) as usize;
        let end = at + 16 + len;
        if end > m.len() || u32_at(m, at) != crc32fast::hash(&m[at + 4..end]) {
            break;
        }
        out.push(Blob { off: at as u64, kind: m[at + 4], len: len as u64 });
        at = end.next_multiple_of(8);
    }
    out
}

/// LEB128 reader over a packed blob body.
struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cur<'_> {
    fn varint(&mut self) -> u64 {
        let mut x = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.b[self.at];
            self.at += 1;
            x |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return x;
            }
            shift += 7;
        }
    }
    fn signed(&mut self) -> i64 {
        let v = self.varint();
        (v >> 1) as i64 ^ -((v & 1) as i64)
    }
}

/// The previous block reference of a leaf or chunk (references are coded against it).
#[derive(Default)]
struct RefState {
    seg: u64,
    end: u64,
    len: u64,
    count: u64,
}

impl RefState {
    fn get(&mut self, c: &mut Cur<'_>) -> (u64, u64, u64) {
        let _first_ts = c.varint();
        let _span = c.varint();
        let seg = self.seg.wrapping_add(c.signed() as u64);
        let off = self.end.wrapping_add(c.signed() as u64);
        let len = self.len.wrapping_add(c.signed() as u64);
        self.count = self.count.wrapping_add(c.signed() as u64);
        *self = RefState { seg, end: off + len, len, count: self.count };
        (seg, off, len)
    }
}

/// Find the live blobs (the root is the last blob a commit writes) and every block
/// reference, per docs/format.md (format 4 leaves and chunks).
fn parse_manifest(t: &mut Template) {
    let m = t.image.files["MANIFEST"].bytes();
    let blobs = manifest_blobs(&m);
    let by_off: BTreeMap<u64, Blob> = blobs.iter().map(|b| (b.off, *b)).collect();
    let root = blobs.last().expect("the manifest has blobs").off;
    let body = |off: u64| -> &[u8] {
        let b = by_off.get(&off).unwrap_or_else(|| panic!("no blob at manifest offset {off}"));
        &m[off as usize + 16..(off + 16 + b.len) as usize]
    };
    let mut raw: Vec<(u64, u64, u64, bool)> = Vec::new();
    let mut stack = vec![root];
    let mut live = BTreeMap::new();
    while let Some(off) = stack.pop() {
        let blob = by_off[&off];
        live.insert(off, blob);
        let b = body(off);
        match blob.kind {
            1 => stack.extend(b.chunks_exact(8).map(|c| u64_at(c, 0)).filter(|&c| c != 0)),
            7 => {
                let mut c = Cur { b, at: 8 };
                let present = u64_at(b, 0);
                let mut p = RefState::default();
                for _ in 0..present.count_ones() {
                    let h = c.varint();
                    if h & 1 == 1 {
                        live.insert(h >> 1, by_off[&(h >> 1)]);
                    } else {
                        let n = c.varint() as usize;
                        c.at += n;
                    }
                    let _retention = c.varint();
                    let h = c.varint();
                    if h & 1 == 1 {
                        let index = c.varint();
                        live.insert(index, by_off[&index]);
                        for chunk in body(index).chunks_exact(8).map(|x| u64_at(x, 0)) {
                            live.insert(chunk, by_off[&chunk]);
                            let cb = body(chunk);
                            let mut cc = Cur { b: cb, at: 0 };
                            let mut cp = RefState::default();
                            for _ in 0..cc.varint() {
                                let _start = cc.varint();
                                let (s, o, l) = cp.get(&mut cc);
                                raw.push((s, o, l, false));
                            }
                            assert_eq!(cc.at, cb.len(), "chunk at {chunk} parsed to its end");
                        }
                    } else {
                        for _ in 0..h >> 1 {
                            let _start = c.varint();
                            let (s, o, l) = p.get(&mut c);
                            raw.push((s, o, l, false));
                        }
                    }
                    let h = c.varint();
                    if h & 1 == 1 {
                        let ext = c.varint();
                        live.insert(ext, by_off[&ext]);
                        for r in body(ext).chunks_exact(40) {
                            raw.push((u64_at(r, 0), u64_at(r, 8), u64::from(u32_at(r, 16)), true));
                        }
                    } else {
                        for _ in 0..h >> 1 {
                            let (s, o, l) = p.get(&mut c);
                            raw.push((s, o, l, true));
                        }
                    }
                }
                assert_eq!(c.at, b.len(), "leaf at {off} parsed to its end");
            }
            k => panic!("blob of kind {k} at {off} in a format-4 tree"),
        }
    }
    // Every reference must be a valid block of its segment: this checks the parse.
    for (seg, off, len, extent) in raw {
        let f = t
            .image
            .files
            .get(&format!("data/{}", seg_name(seg, "seg")))
            .expect("a referenced segment exists");
        let bytes = f.read(off, len);
        let summary = tsdb::codec::verify(&bytes).unwrap_or_else(|e| panic!("block at {seg}:{off}: {}", e.0));
        let paged = tsdb::codec::header(&bytes).unwrap().paged();
        assert!(summary.count > 0);
        t.refs.push(BRef { seg, off, len, extent, paged });
    }
    t.refs.sort_by_key(|r| (r.seg, r.off));
    t.live_blobs = live;
}

/// Parse every log segment: header 32 bytes, then records │len│crc│seq│kind│0[7]│payload│pad│
/// until zeros; match the records to the ops (the log holds the ops after some point).
fn parse_wal(t: &mut Template) {
    let segs: Vec<(u64, String)> = t
        .image
        .files
        .keys()
        .filter_map(|k| Some((k.strip_prefix("wal/")?.strip_suffix(".wal")?.parse().ok()?, k.clone())))
        .collect();
    for (no, name) in &segs {
        let b = t.image.files[name].bytes();
        assert!(b.len() >= 32 && b.starts_with(b"TSDBWAL"), "{name}: a log segment header");
        let mut at = 32usize;
        while at + 24 <= b.len() && b[at..at + 24].iter().any(|&x| x != 0) {
            let len = u32_at(&b, at) as usize;
            let end = (at + 24 + len).next_multiple_of(8);
            assert!(
                end <= b.len() && u32_at(&b, at + 4) == crc32fast::hash(&b[at + 8..end]),
                "{name}: record at {at}"
            );
            t.recs.push(Rec {
                seg: *no,
                off: at as u64,
                end: end as u64,
                seq: u64_at(&b, at + 8),
                kind: b[at + 16],
                payload: b[at + 24..at + 24 + len].to_vec(),
            });
            at = end;
        }
    }
    t.wal_segs = segs.iter().map(|s| s.0).collect();
    // Records of kinds 1-6 are the ops' (other kinds, if a format adds some, are not ops).
    let op_recs: Vec<usize> = (0..t.recs.len()).filter(|&i| (1..=6).contains(&t.recs[i].kind)).collect();
    assert!(op_recs.len() <= t.ops.len());
    let first = t.ops.len() - op_recs.len();
    for (k, &ri) in op_recs.iter().enumerate() {
        let (kind, payload) = t.ops[first + k].record();
        let r = &t.recs[ri];
        assert!(
            r.kind == kind && r.payload == payload,
            "log record {} at {}:{} is op {}",
            r.seq,
            r.seg,
            r.off,
            first + k
        );
        t.op_rec[first + k] = Some(ri);
    }
    assert!(t.recs.windows(2).all(|w| w[0].seq < w[1].seq), "sequence numbers ascend");
}

// ---------------------------------------------------------------------------------------
// Cases: a target (a file, or a place in it) and a damage.

#[derive(Clone, Debug)]
enum Damage {
    Truncate(String, u64),
    Zero(String, u64, u64),
    Xor(String, u64, Vec<u8>),
    Write(String, u64, Vec<u8>),
    Append(String, Vec<u8>),
    Delete(String),
    Rename(String, String),
    Create(String, FileImg),
    None,
}

impl Damage {
    fn apply(&self, img: &mut DirImg) {
        match self {
            Damage::Truncate(n, len) => file_mut(img, n).truncate(*len),
            Damage::Zero(n, off, len) => file_mut(img, n).write(*off, &vec![0; *len as usize]),
            Damage::Xor(n, off, x) => {
                let file = file_mut(img, n);
                let mut b = file.read(*off, x.len() as u64);
                b.resize(x.len(), 0);
                b.iter_mut().zip(x).for_each(|(a, b)| *a ^= b);
                file.write(*off, &b);
            }
            Damage::Write(n, off, bytes) => file_mut(img, n).write(*off, bytes),
            Damage::Append(n, bytes) => {
                let file = file_mut(img, n);
                let len = file.len;
                file.write(len, bytes);
            }
            Damage::Delete(n) => {
                img.files.remove(n).expect("deleted file exists");
            }
            Damage::Rename(from, to) => {
                let file = img.files.remove(from).expect("renamed file exists");
                assert!(img.files.insert(to.clone(), file).is_none(), "rename target is free");
            }
            Damage::Create(n, file) => {
                if let Some((dir, _)) = n.rsplit_once('/') {
                    img.dirs.insert(dir.to_string());
                }
                assert!(img.files.insert(n.clone(), file.clone()).is_none(), "leftover name is free");
            }
            Damage::None => {}
        }
    }

    /// Identifies the change (two cases making the same change are one).
    fn key(&self) -> String {
        match self {
            Damage::Create(n, f) => format!("create {n} {} {}", f.len, f.pages.len()),
            Damage::Append(n, b) => format!("append {n} {}", b.len()),
            d => format!("{d:?}"),
        }
    }
}

fn file_mut<'a>(img: &'a mut DirImg, name: &str) -> &'a mut FileImg {
    img.files.get_mut(name).expect("damaged file exists")
}

/// What a case requires of open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Open must succeed with exactly the data (a crash can leave this state, or the format
    /// documents that it is survived).
    MustOpen,
    /// Exact data, or an error naming the damaged file.
    ExactOrError,
}

#[derive(Clone, Debug)]
struct Case {
    tpl: usize,
    target: String,
    damage: &'static str,
    what: Damage,
    /// Names an error (or a check's report) may give for the damage.
    files: Vec<String>,
    expect: Expect,
    /// The check must report damage naming a file of `files` even when every read is exact
    /// (a damaged superblock copy, which open survives).
    check_sees: bool,
    /// The torn-write allowance: the first damaged byte of the last log segment, when the
    /// damage reaches from it to the end of the segment's records.
    torn_at: Option<u64>,
}

impl Case {
    fn name(&self, tpls: &[Template]) -> String {
        format!("{}: {}: {}", tpls[self.tpl].kind.name(), self.target, self.damage)
    }
}

fn make_case(
    t: &Template,
    tpl: usize,
    target: &str,
    damage: &'static str,
    what: Damage,
    files: Vec<String>,
    expect: Expect,
) -> Case {
    let (torn_at, must_open_torn) = torn(t, &what);
    let expect = if must_open_torn { Expect::MustOpen } else { expect };
    Case { tpl, target: target.to_string(), damage, what, files, expect, check_sees: false, torn_at }
}

/// Pseudo-random non-zero bytes (a garbage tail, a burst to xor in).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut r = Rng::new(seed, 77);
    (0..n).map(|_| (r.below(255) + 1) as u8).collect()
}

/// A place in a file: the start, length and header length of a structure (a record, blob,
/// block or superblock copy).
#[derive(Clone, Copy)]
struct Point {
    off: u64,
    len: u64,
    hdr: u64,
    /// Where its checksum is, from `off`.
    crc: u64,
}

struct CaseGen<'t> {
    tpl: usize,
    t: &'t Template,
    out: Vec<Case>,
    seen: BTreeSet<String>,
}

impl CaseGen<'_> {
    fn push(&mut self, target: &str, damage: &'static str, what: Damage, files: Vec<String>, expect: Expect) {
        // The same change made twice (e.g. a truncation at a record that is also the end of
        // the previous one) is one case.
        if !self.seen.insert(what.key()) {
            return;
        }
        self.out.push(make_case(self.t, self.tpl, target, damage, what, files, expect));
    }

    /// The point-level damages at `p` of `file`.
    fn point(&mut self, file: &str, target: &str, p: Point, expect: Expect) {
        let img = &self.t.image.files[file];
        let files = vec![file.to_string()];
        let seed = p.off ^ ((self.tpl as u64) << 40);
        if p.off > 0 {
            self.push(target, "trunc-at", Damage::Truncate(file.into(), p.off), files.clone(), expect);
        }
        if p.off + p.len < img.len {
            self.push(
                target,
                "trunc-end",
                Damage::Truncate(file.into(), p.off + p.len),
                files.clone(),
                expect,
            );
        }
        self.push(
            target,
            "trunc-mid",
            Damage::Truncate(file.into(), p.off + p.len / 2),
            files.clone(),
            expect,
        );
        let page = p.off / PAGE * PAGE;
        if !img.zero_range(page, PAGE) {
            self.push(
                target,
                "zero-page",
                Damage::Zero(file.into(), page, PAGE.min(img.len - page)),
                files.clone(),
                expect,
            );
        }
        if !img.zero_range(p.off, p.len) {
            self.push(target, "zero-rec", Damage::Zero(file.into(), p.off, p.len), files.clone(), expect);
        }
        let h = p.off + p.hdr / 2;
        self.push(target, "flip-hdr", Damage::Xor(file.into(), h, vec![0x10]), files.clone(), expect);
        self.push(
            target,
            "flip-crc",
            Damage::Xor(file.into(), p.off + p.crc, vec![0x04]),
            files.clone(),
            expect,
        );
        if p.len > p.hdr {
            let b = p.off + p.hdr + (p.len - p.hdr) / 2;
            self.push(target, "flip-body", Damage::Xor(file.into(), b, vec![0x01]), files.clone(), expect);
        }
        let at = (p.off + p.len / 2).saturating_sub(8).max(p.off);
        let n = 16.min(img.len - at);
        self.push(target, "burst", Damage::Xor(file.into(), at, noise(seed, n as usize)), files, expect);
    }

    /// The file-level damages of `file`; `renamed` is a valid-looking other name, if any.
    fn file(&mut self, file: &str, target: &str, header: u64, renamed: Option<String>, expect: Expect) {
        let img = &self.t.image.files[file];
        let files = vec![file.to_string()];
        if img.len > 0 {
            self.push(target, "trunc0", Damage::Truncate(file.into(), 0), files.clone(), expect);
        }
        if img.len > header && header > 0 {
            self.push(target, "trunc-hdr", Damage::Truncate(file.into(), header), files.clone(), expect);
        }
        self.push(
            target,
            "garbage",
            Damage::Append(file.into(), noise(img.len + 5, 4096)),
            files.clone(),
            expect,
        );
        self.push(target, "delete", Damage::Delete(file.into()), files.clone(), expect);
        if let Some(to) = renamed {
            let both = vec![file.to_string(), to.clone()];
            self.push(target, "ren-num", Damage::Rename(file.into(), to), both, expect);
        }
        let to = format!("{file}.bak");
        self.push(
            target,
            "ren-foreign",
            Damage::Rename(file.into(), to.clone()),
            vec![file.to_string(), to],
            expect,
        );
    }
}

/// The torn-write allowance for damage to the crashed template's last log segment.
///
/// The damage qualifies when it is indistinguishable from a torn write: a bad record (the
/// one holding the first damaged byte) followed only by damaged or zero bytes, i.e. every
/// byte after the damage, and after the end of the record it reaches into, is zero. Then
/// the ops whose records end after the first damaged byte may be lost (as a suffix). A
/// segment emptied (0 bytes) is what a crash leaves between creating a segment and writing
/// its header, and qualifies too; any other truncation does not (segments are preallocated
/// and never shrink: a short segment is damage, not a torn write). Deleting or renaming the
/// segment, or appending to it, never qualifies.
///
/// Returns the first damaged byte, and whether opening must then succeed: when the segment
/// header is intact (docs/format.md: a bad record in the last segment with no valid record
/// after it is a torn write, and opening goes on).
fn torn(t: &Template, what: &Damage) -> (Option<u64>, bool) {
    let Some(&last) = t.wal_segs.last() else { return (None, false) };
    let last_name = format!("wal/{}", seg_name(last, "wal"));
    let img = match what {
        Damage::Truncate(n, _) | Damage::Zero(n, ..) | Damage::Xor(n, ..) | Damage::Write(n, ..)
            if *n == last_name =>
        {
            &t.image.files[n]
        }
        _ => return (None, false),
    };
    // The end of the record holding byte `at` (or `at + 1` outside any record).
    let rec_end = |at: u64| -> u64 {
        t.recs.iter().find(|r| r.seg == last && r.off <= at && at < r.end).map_or(at + 1, |r| r.end)
    };
    let (first, end) = match what {
        Damage::Truncate(_, 0) => return (Some(0), false),
        Damage::Truncate(..) => return (None, false),
        Damage::Zero(_, off, len) => match (*off..off + len).find(|&i| img.byte(i) != 0) {
            Some(d) => (d, (*off..off + len).rev().find(|&i| img.byte(i) != 0).unwrap() + 1),
            None => return (None, false), // changes nothing
        },
        Damage::Xor(_, off, x) => {
            let changed: Vec<u64> = (0..x.len()).filter(|&i| x[i] != 0).map(|i| off + i as u64).collect();
            (changed[0], changed[changed.len() - 1] + 1)
        }
        Damage::Write(_, off, x) => (*off, off + x.len() as u64),
        _ => unreachable!(),
    };
    if img.zero_from(end.max(rec_end(end - 1))) { (Some(first), first >= 32) } else { (None, false) }
}

fn generate(tpls: &[Template]) -> Vec<Case> {
    let mut all = Vec::new();
    for (i, t) in tpls.iter().enumerate() {
        let mut g = CaseGen { tpl: i, t, out: Vec::new(), seen: BTreeSet::new() };
        g.out.push(Case {
            tpl: i,
            target: "(none)".into(),
            damage: "control",
            what: Damage::None,
            files: Vec::new(),
            expect: Expect::MustOpen,
            check_sees: false,
            torn_at: None,
        });
        manifest_cases(&mut g);
        data_cases(&mut g);
        wal_cases(&mut g);
        lock_and_leftover_cases(&mut g);
        all.extend(g.out);
    }
    all
}

fn manifest_cases(g: &mut CaseGen<'_>) {
    let t = g.t;
    let m = "MANIFEST";
    let files = vec![m.to_string()];
    // Superblock copies: one damaged copy is survived (and the check reports it).
    for (slot, label) in [(0u64, "superblock copy 0"), (4096, "superblock copy 1")] {
        let start = g.out.len();
        g.push(
            label,
            "flip-hdr",
            Damage::Xor(m.into(), slot + 2, vec![0x10]),
            files.clone(),
            Expect::MustOpen,
        );
        g.push(
            label,
            "flip-body",
            Damage::Xor(m.into(), slot + 40, vec![0x01]),
            files.clone(),
            Expect::MustOpen,
        );
        g.push(
            label,
            "flip-crc",
            Damage::Xor(m.into(), slot + 89, vec![0x04]),
            files.clone(),
            Expect::MustOpen,
        );
        g.push(
            label,
            "burst",
            Damage::Xor(m.into(), slot + 16, noise(slot + 1, 16)),
            files.clone(),
            Expect::MustOpen,
        );
        g.push(label, "zero-page", Damage::Zero(m.into(), slot, PAGE), files.clone(), Expect::MustOpen);
        for c in &mut g.out[start..] {
            c.check_sees = true;
        }
        if slot > 0 {
            g.push(label, "trunc-at", Damage::Truncate(m.into(), slot), files.clone(), Expect::ExactOrError);
        }
        g.push(
            label,
            "trunc-mid",
            Damage::Truncate(m.into(), slot + 46),
            files.clone(),
            Expect::ExactOrError,
        );
    }
    let both = |d: &dyn Fn(u64) -> Damage| -> Damage {
        match (d(0), d(4096)) {
            (Damage::Xor(n, a, x), Damage::Xor(_, b, y)) => {
                let mut bytes = vec![0u8; (b - a) as usize + y.len()];
                bytes[..x.len()].copy_from_slice(&x);
                let at = (b - a) as usize;
                bytes[at..at + y.len()].copy_from_slice(&y);
                Damage::Xor(n, a, bytes)
            }
            (Damage::Zero(n, a, _), Damage::Zero(..)) => Damage::Zero(n, a, 2 * PAGE),
            _ => unreachable!(),
        }
    };
    let label = "both superblock copies";
    g.push(
        label,
        "flip-body",
        both(&|s| Damage::Xor(m.into(), s + 40, vec![0x01])),
        files.clone(),
        Expect::ExactOrError,
    );
    g.push(
        label,
        "burst",
        both(&|s| Damage::Xor(m.into(), s + 16, noise(s + 1, 16))),
        files.clone(),
        Expect::ExactOrError,
    );
    g.push(
        label,
        "zero-page",
        both(&|s| Damage::Zero(m.into(), s, PAGE)),
        files.clone(),
        Expect::ExactOrError,
    );
    // Blobs of the live tree, one of each kind (two leaves).
    let mut by_kind: BTreeMap<u8, Vec<Blob>> = BTreeMap::new();
    for b in t.live_blobs.values() {
        by_kind.entry(b.kind).or_default().push(*b);
    }
    let names = [(1u8, "node"), (7, "leaf"), (3, "name"), (4, "index"), (8, "chunk"), (6, "extents")];
    for (kind, label) in names {
        let list = by_kind.get(&kind).cloned().unwrap_or_default();
        assert!(!list.is_empty(), "{} template: the manifest has a live {label} blob", t.kind.name());
        let mut chosen = vec![(list[0], format!("{label} blob"))];
        if kind == 7 && list.len() > 1 {
            chosen = vec![
                (list[0], "first leaf blob".to_string()),
                (list[list.len() - 1], "last leaf blob".to_string()),
            ];
        }
        for (b, target) in chosen {
            let target = format!("MANIFEST {target} (offset {})", b.off);
            g.point(
                m,
                &target,
                Point { off: b.off, len: (16 + b.len).next_multiple_of(8), hdr: 16, crc: 0 },
                Expect::ExactOrError,
            );
        }
    }
    // The file: a 0-byte MANIFEST and a missing one, with data present; the garbage after its
    // end is what a crash in a commit leaves (ignored by the format).
    let start = g.out.len();
    g.file(m, "MANIFEST", 8192, None, Expect::ExactOrError);
    for c in &mut g.out[start..] {
        if c.damage == "garbage" {
            c.expect = Expect::MustOpen;
        }
    }
}

fn data_cases(g: &mut CaseGen<'_>) {
    let t = g.t;
    let segs: Vec<(u64, String)> = t
        .image
        .files
        .keys()
        .filter_map(|k| Some((k.strip_prefix("data/")?.strip_suffix(".seg")?.parse().ok()?, k.clone())))
        .collect();
    assert!(segs.len() >= 2, "{} template: at least 2 data segments (has {segs:?})", t.kind.name());
    let max_no = segs.iter().map(|s| s.0).max().unwrap();
    for (no, file) in &segs {
        let img = &t.image.files[file];
        let refs: Vec<BRef> = t.refs.iter().filter(|r| r.seg == *no).copied().collect();
        let parts: Vec<BRef> = refs.iter().filter(|r| !r.extent).copied().collect();
        let hdr = format!("{file} header");
        let files = vec![file.clone()];
        for (d, what) in [
            ("flip-hdr", Damage::Xor(file.clone(), 2, vec![0x10])),
            ("flip-body", Damage::Xor(file.clone(), 17, vec![0x01])),
            ("flip-crc", Damage::Xor(file.clone(), 29, vec![0x04])),
            ("burst", Damage::Xor(file.clone(), 0, noise(*no, 16))),
            ("zero-page", Damage::Zero(file.clone(), 0, PAGE)),
            ("trunc-mid", Damage::Truncate(file.clone(), 16)),
        ] {
            g.push(&hdr, d, what, files.clone(), Expect::ExactOrError);
        }
        let mut points: Vec<(String, BRef)> = Vec::new();
        if let (Some(f), Some(l)) = (parts.first(), parts.last()) {
            points.push(("first part block".into(), *f));
            points.push(("middle part block".into(), parts[parts.len() / 2]));
            points.push(("last part block".into(), *l));
        }
        if let Some(e) = refs.iter().find(|r| r.extent) {
            points.push(("an extent block".into(), *e));
        }
        if let Some(p) = refs.iter().find(|r| r.paged) {
            points.push(("a paged block".into(), *p));
        }
        let mut done = BTreeSet::new();
        for (label, r) in points {
            if done.insert(r.off) {
                g.point(
                    file,
                    &format!("{file} {label}"),
                    Point { off: r.off, len: r.len, hdr: 64, crc: 60 },
                    Expect::ExactOrError,
                );
            }
        }
        // Blocks after the last one the manifest names (written after the checkpoint; the
        // log has their points): damage there loses nothing.
        let named_end = refs.iter().map(|r| r.off + r.len).max().unwrap_or(32).next_multiple_of(8);
        if let Some((off, len)) = unnamed_block(img, named_end) {
            g.point(
                file,
                &format!("{file} unnamed block"),
                Point { off, len, hdr: 64, crc: 60 },
                Expect::ExactOrError,
            );
        }
        g.file(file, file, 32, Some(format!("data/{}", seg_name(max_no + 7, "seg"))), Expect::ExactOrError);
    }
}

/// The first codec block at or after `from` (8-aligned), found by its header checksum, and
/// its length up to the next block (or 256 bytes).
fn unnamed_block(img: &FileImg, from: u64) -> Option<(u64, u64)> {
    let b = img.read(from, 1 << 20);
    let valid = |at: usize| at + 64 <= b.len() && tsdb::codec::header(&b[at..]).is_ok();
    let first = (0..b.len()).step_by(8).find(|&a| valid(a))?;
    let next = (first + 64..b.len()).step_by(8).find(|&a| valid(a)).unwrap_or(first + 256);
    Some((from + first as u64, (next - first) as u64))
}

fn wal_cases(g: &mut CaseGen<'_>) {
    let t = g.t;
    if t.wal_segs.is_empty() {
        return;
    }
    let n = t.wal_segs.len();
    assert!(n >= 3, "the crashed template has at least 3 log segments (has {n})");
    let mut picks = vec![(0, "first"), (n / 2, "middle"), (n - 1, "last")];
    if n >= 4 {
        picks.push((n - 2, "next-to-last"));
    }
    let max_no = *t.wal_segs.last().unwrap();
    for (k, role) in picks {
        let no = t.wal_segs[k];
        let file = format!("wal/{}", seg_name(no, "wal"));
        let img = &t.image.files[&file];
        let recs: Vec<&Rec> = t.recs.iter().filter(|r| r.seg == no).collect();
        assert!(recs.len() >= 3, "{file} holds records");
        let files = vec![file.clone()];
        let hdr = format!("{file} ({role}) header");
        for (d, what) in [
            ("flip-hdr", Damage::Xor(file.clone(), 2, vec![0x10])),
            ("flip-body", Damage::Xor(file.clone(), 17, vec![0x01])),
            ("flip-crc", Damage::Xor(file.clone(), 29, vec![0x04])),
            ("burst", Damage::Xor(file.clone(), 0, noise(no, 16))),
            ("zero-page", Damage::Zero(file.clone(), 0, PAGE)),
            ("trunc-mid", Damage::Truncate(file.clone(), 16)),
        ] {
            g.push(&hdr, d, what, files.clone(), Expect::ExactOrError);
        }
        let mut points = vec![
            ("first record", recs[0]),
            ("middle record", recs[recs.len() / 2]),
            ("last record", recs[recs.len() - 1]),
        ];
        if let Some(r) = recs.iter().find(|r| r.seq == t.checkpoint_seq + 1) {
            points.push(("first record after the checkpoint", r));
        }
        // A record across a page boundary: a lost page cuts it in two.
        if let Some(r) = recs.iter().rev().find(|r| r.off / PAGE != (r.end - 1) / PAGE && r.off > 0) {
            points.push(("a record across a page boundary", r));
        }
        let mut done = BTreeSet::new();
        for (label, r) in points {
            if done.insert(r.off) {
                let p = Point { off: r.off, len: r.end - r.off, hdr: 24, crc: 4 };
                g.point(&file, &format!("{file} ({role}) {label}"), p, Expect::ExactOrError);
            }
        }
        // Just after the last record: a torn write of a next record.
        let tail = recs[recs.len() - 1].end;
        let target = format!("{file} ({role}) after the last record");
        g.push(
            &target,
            "flip-hdr",
            Damage::Xor(file.clone(), tail + 1, vec![0x10]),
            files.clone(),
            Expect::ExactOrError,
        );
        g.push(
            &target,
            "burst",
            Damage::Xor(file.clone(), tail, noise(tail, 16)),
            files.clone(),
            Expect::ExactOrError,
        );
        let mut torn_rec = Vec::new();
        torn_rec.extend_from_slice(&40u32.to_le_bytes());
        torn_rec.extend_from_slice(&0xdead_beefu32.to_le_bytes());
        torn_rec.extend_from_slice(&(recs[recs.len() - 1].seq + 1).to_le_bytes());
        torn_rec.push(3);
        torn_rec.extend_from_slice(&[0; 7]);
        torn_rec.extend_from_slice(&noise(tail + 3, 20));
        g.push(
            &target,
            "torn-record",
            Damage::Write(file.clone(), tail, torn_rec),
            files.clone(),
            Expect::ExactOrError,
        );
        assert!(img.zero_from(tail), "{file}: zeros after the last record");
        g.file(
            &file,
            &format!("{file} ({role})"),
            32,
            Some(format!("wal/{}", seg_name(max_no + 7, "wal"))),
            Expect::ExactOrError,
        );
    }
}

/// A data segment header (docs/format.md): magic, format 1, number, crc of bytes 0..28.
fn seg_header(no: u64) -> Vec<u8> {
    let mut h = vec![0u8; 32];
    h[..8].copy_from_slice(b"TSDBSEG1");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    h[16..24].copy_from_slice(&no.to_le_bytes());
    let crc = crc32fast::hash(&h[..28]);
    h[28..].copy_from_slice(&crc.to_le_bytes());
    h
}

fn lock_and_leftover_cases(g: &mut CaseGen<'_>) {
    let t = g.t;
    let lock = "LOCK".to_string();
    let files = vec![lock.clone()];
    // LOCK holds nothing: whatever happens to it, the database opens.
    g.push("LOCK", "garbage", Damage::Append(lock.clone(), noise(99, 4096)), files.clone(), Expect::MustOpen);
    g.push("LOCK", "delete", Damage::Delete(lock.clone()), files.clone(), Expect::MustOpen);
    g.push("LOCK", "ren-foreign", Damage::Rename(lock.clone(), "LOCK.bak".into()), files, Expect::MustOpen);
    // Leftovers of steps a crash interrupts: none of them may cost anything.
    let next_data = t
        .image
        .files
        .keys()
        .filter_map(|k| k.strip_prefix("data/")?.strip_suffix(".seg")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let data = format!("data/{}", seg_name(next_data, "seg"));
    let wal = format!("wal/{}", seg_name(t.wal_next, "wal"));
    let mut sparse = FileImg::from_bytes(&seg_header(next_data));
    sparse.truncate(256 << 20);
    let zeros = |n: u64| FileImg { len: n, pages: BTreeMap::new() };
    let leftovers = [
        ("empty data segment after the last", data.clone(), FileImg::default()),
        ("all-zero data segment after the last", data.clone(), zeros(PAGE)),
        ("256 MiB sparse data segment, header only", data, sparse),
        ("empty log segment after the last", wal.clone(), FileImg::default()),
        ("all-zero log segment after the last", wal, zeros(64 << 10)),
        (
            "manifest-rewrite/MANIFEST, an older MANIFEST",
            "manifest-rewrite/MANIFEST".into(),
            FileImg::from_bytes(&t.older_manifest),
        ),
    ];
    for (label, name, img) in leftovers {
        g.push(label, "leftover", Damage::Create(name.clone(), img), vec![name], Expect::MustOpen);
    }
}

// ---------------------------------------------------------------------------------------
// The oracle.

type Points = Vec<(i64, u64)>;

/// What an open database shows: its metrics and each one's full scan (or the error of it).
#[derive(Debug, PartialEq)]
struct Observed {
    names: Vec<(u64, String)>,
    scans: BTreeMap<u64, Result<Points, String>>,
}

/// A read error is acceptable only as `Corruption`/`Io` naming one of `files`.
fn acceptable(e: &Error, files: &[String]) -> Result<String, String> {
    match e {
        Error::Corruption(m) | Error::Io(m) if names_one(m, files) => Ok(m.clone()),
        Error::Corruption(m) | Error::Io(m) => Err(format!("UNNAMED: error does not name {files:?}: {m}")),
        e => Err(format!("WRONG-ERROR: {e:?}")),
    }
}

fn names_one(msg: &str, files: &[String]) -> bool {
    files.iter().any(|f| msg.contains(f.as_str()))
}

fn scan(s: &Arc<Snapshot>, id: MetricId, from: i64, until: i64) -> tsdb::Result<Points> {
    let mut c = s.scan(id, from, until)?;
    let (mut ts, mut vs) = (vec![0i64; 4096], vec![0f64; 4096]);
    let mut out = Vec::new();
    loop {
        let n = c.next_batch(Some(&mut ts), Some(&mut vs))?;
        if n == 0 {
            return Ok(out);
        }
        out.extend(ts[..n].iter().zip(&vs[..n]).map(|(t, v)| (*t, v.to_bits())));
    }
}

fn observe(db: &Database, files: &[String]) -> Result<Observed, String> {
    let s = db.begin();
    let names: Vec<(u64, String)> = s.metrics(MetricId(0)).map(|(id, n)| (id.0, n.to_string())).collect();
    let mut scans = BTreeMap::new();
    for (id, _) in &names {
        let r = match scan(&s, MetricId(*id), i64::MIN, i64::MAX) {
            Ok(p) => Ok(p),
            Err(e) => Err(acceptable(&e, files)?),
        };
        scans.insert(*id, r);
    }
    Ok(Observed { names, scans })
}

/// Where `obs` differs from `model` (scans that failed are not compared); `None` if nowhere.
fn diff(model: &Model, obs: &Observed) -> Option<String> {
    let want: Vec<(u64, String)> = model.metrics.iter().map(|(id, (n, _))| (*id, n.clone())).collect();
    if want != obs.names {
        let missing: Vec<_> = want.iter().filter(|w| !obs.names.contains(w)).take(3).collect();
        let extra: Vec<_> = obs.names.iter().filter(|o| !want.contains(o)).take(3).collect();
        let code = if obs.names.len() < want.len() { "LESS-DATA" } else { "WRONG-DATA" };
        return Some(format!(
            "{code}: {} metrics, the model has {}; missing {missing:?}, unexpected {extra:?}",
            obs.names.len(),
            want.len()
        ));
    }
    for (id, (name, pts)) in &model.metrics {
        let Some(Ok(got)) = obs.scans.get(id) else { continue };
        if got.len() != pts.len() || got.iter().zip(pts).any(|(a, (t, v))| a.0 != *t || a.1 != *v) {
            let first = got
                .iter()
                .zip(pts)
                .position(|(a, (t, v))| a.0 != *t || a.1 != *v)
                .unwrap_or(got.len().min(pts.len()));
            let code = if got.len() < pts.len() { "LESS-DATA" } else { "WRONG-DATA" };
            return Some(format!(
                "{code}: metric {id} {name:?}: {} points, the model has {} (first difference at point {first})",
                got.len(),
                pts.len()
            ));
        }
    }
    None
}

/// The model a successful open must equal: the full one, or under the torn-write allowance
/// the one after ops `..p` for some `p` from the first op logged at or after the damage.
fn reference(t: &Template, case: &Case, obs: &Observed) -> Result<(Model, usize), String> {
    let full = &t.model;
    let Some(d) = case.torn_at else {
        return match diff(full, obs) {
            None => Ok((full.clone(), 0)),
            Some(e) => Err(format!("{e}{}", explain(t, obs))),
        };
    };
    let last = *t.wal_segs.last().unwrap();
    // Ops before k0 must all be there: their records are in earlier segments or end at or
    // before the damage.
    let k0 = (0..t.ops.len())
        .find(|&i| t.op_rec[i].is_some_and(|r| t.recs[r].seg == last && t.recs[r].end > d))
        .unwrap_or(t.ops.len());
    let mut m = Model::after(&t.ops[..k0]);
    let mut candidates = vec![(m.clone(), k0)];
    for p in k0..t.ops.len() {
        m.apply(&t.ops[p]);
        candidates.push((m.clone(), p + 1));
    }
    for (m, p) in candidates.into_iter().rev() {
        if diff(&m, obs).is_none() {
            return Ok((m, t.ops.len() - p));
        }
    }
    Err(format!(
        "{} (the torn-write allowance lets ops {k0}.. of {} go, as a suffix; no such state matches){}",
        diff(full, obs).unwrap_or_default(),
        t.ops.len(),
        explain(t, obs)
    ))
}

/// Which ops a wrong state lacks: the longest prefix of the ops whose model it equals, and
/// where the first op after it was logged.
fn explain(t: &Template, obs: &Observed) -> String {
    let mut m = Model::default();
    let mut best = diff(&m, obs).is_none().then_some(0);
    for (i, op) in t.ops.iter().enumerate() {
        m.apply(op);
        if diff(&m, obs).is_none() {
            best = Some(i + 1);
        }
    }
    let n = t.ops.len();
    match best {
        None => format!("; it equals the model after no prefix of the {n} ops"),
        Some(p) => {
            let at = match t.op_rec.get(p).copied().flatten() {
                Some(r) => {
                    let r = &t.recs[r];
                    format!("logged in wal/{} at offset {}, seq {}", seg_name(r.seg, "wal"), r.off, r.seq)
                }
                None => "in the checkpoint (not in the log)".into(),
            };
            format!(
                "; it equals the model after the first {p} of {n} ops: op {p} ({at}) and the {} after it are missing",
                n - p - 1
            )
        }
    }
}

fn model_aggs(pts: &BTreeMap<i64, u64>, from: i64, until: i64, bucket: i64) -> Vec<Agg> {
    let mut out: Vec<Agg> = Vec::new();
    let mut valued = 0u64;
    for (&t, &bits) in pts.range(from..until) {
        let v = f64::from_bits(bits);
        let k = ((t as i128 - from as i128) / bucket as i128) as i64;
        let start = from + k * bucket;
        if out.last().is_none_or(|a| a.start != start) {
            if let Some(a) = out.last_mut() {
                finish_agg(a, valued);
            }
            valued = 0;
            out.push(Agg {
                start,
                count: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                sum: 0.0,
                first: v,
                last: v,
                first_ts: t,
                last_ts: t,
            });
        }
        let a = out.last_mut().unwrap();
        a.count += 1;
        a.last = v;
        a.last_ts = t;
        if !v.is_nan() {
            valued += 1;
            a.min = a.min.min(v);
            a.max = a.max.max(v);
            a.sum += v;
        }
    }
    if let Some(a) = out.last_mut() {
        finish_agg(a, valued);
    }
    out
}

fn finish_agg(a: &mut Agg, valued: u64) {
    if valued == 0 {
        (a.min, a.max, a.sum) = (f64::NAN, f64::NAN, f64::NAN);
    }
}

fn same_f(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Aggregates agree: everything exactly, the sum too when the values add exactly in any
/// order (quarter integers), else within rounding.
fn agg_eq(a: &Agg, b: &Agg, exact_sum: bool) -> bool {
    let sum_ok = same_f(a.sum, b.sum)
        || (!exact_sum
            && a.sum.is_finite()
            && b.sum.is_finite()
            && (a.sum - b.sum).abs() <= 1e-9 * a.sum.abs().max(b.sum.abs()))
        || (!exact_sum && (!a.sum.is_finite() || !b.sum.is_finite()));
    a.start == b.start
        && a.count == b.count
        && a.first_ts == b.first_ts
        && a.last_ts == b.last_ts
        && a.first.to_bits() == b.first.to_bits()
        && a.last.to_bits() == b.last.to_bits()
        && same_f(a.min, b.min)
        && same_f(a.max, b.max)
        && sum_ok
}

/// Range scans and aggregates of every metric: each exact, or an error naming the file.
/// Returns whether any read failed.
fn queries(db: &Database, model: &Model, files: &[String]) -> Result<bool, String> {
    let s = db.begin();
    let mut failed = false;
    for (id, (name, pts)) in &model.metrics {
        let (Some((&lo, _)), Some((&hi, _))) = (pts.first_key_value(), pts.last_key_value()) else {
            continue;
        };
        let span = hi - lo + 1;
        let mut windows: Vec<(i64, i64)> =
            (0..4).map(|k| (lo + k * span / 4, lo + (k + 1) * span / 4)).collect();
        windows.push((lo + span / 2 - span / 50, lo + span / 2 + span / 50 + 1));
        for &(from, until) in &windows {
            let want: Points = pts.range(from..until).map(|(t, v)| (*t, *v)).collect();
            match scan(&s, MetricId(*id), from, until) {
                Ok(got) if got == want => {}
                Ok(got) => {
                    let code = if got.len() < want.len() { "LESS-DATA" } else { "WRONG-DATA" };
                    return Err(format!(
                        "{code}: metric {id} {name:?}: range [{from}, {until}) returned {} points, the model has {}",
                        got.len(),
                        want.len()
                    ));
                }
                Err(e) => {
                    acceptable(&e, files)?;
                    failed = true;
                }
            }
        }
        let exact_sum = pts.values().all(|&b| {
            let v = f64::from_bits(b);
            v.is_finite() && (v * 4.0).fract() == 0.0 && v.abs() < 1e9
        });
        let mid = windows[4];
        for (from, until, bucket) in
            [(lo, hi + 1, span / 7 + 1), (mid.0, mid.1, ((mid.1 - mid.0) / 5).max(1))]
        {
            let want = model_aggs(pts, from, until, bucket);
            let mut got = Vec::new();
            match s.aggregate(MetricId(*id), from, until, bucket, usize::MAX, &mut got) {
                Ok(()) => {
                    if got.len() != want.len() || got.iter().zip(&want).any(|(a, b)| !agg_eq(a, b, exact_sum))
                    {
                        let at = got.iter().zip(&want).position(|(a, b)| !agg_eq(a, b, exact_sum));
                        let code = if got.iter().map(|a| a.count).sum::<u64>()
                            < want.iter().map(|a| a.count).sum()
                        {
                            "LESS-DATA"
                        } else {
                            "WRONG-DATA"
                        };
                        return Err(format!(
                            "{code}: metric {id} {name:?}: aggregate over [{from}, {until}) by {bucket}: {} buckets, \
                             the model has {}; first difference {:?} vs {:?}",
                            got.len(),
                            want.len(),
                            at.map(|i| got[i]),
                            at.map(|i| want[i])
                        ));
                    }
                }
                Err(e) => {
                    acceptable(&e, files)?;
                    failed = true;
                }
            }
        }
    }
    Ok(failed)
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    /// Opened with exactly the data (some reads may have failed naming the file).
    Exact {
        reads_failed: bool,
    },
    /// Opened under the torn-write allowance, `lost` trailing ops gone.
    Torn {
        lost: usize,
    },
    /// Refused, naming the file, changing nothing.
    Refused(String),
    Fail(String),
}

impl Verdict {
    fn encode(&self) -> String {
        match self {
            Verdict::Exact { reads_failed } => format!("exact {}", u8::from(*reads_failed)),
            Verdict::Torn { lost } => format!("torn {lost}"),
            Verdict::Refused(m) => format!("refused {}", escape(m)),
            Verdict::Fail(m) => format!("fail {}", escape(m)),
        }
    }

    fn decode(s: &str) -> Verdict {
        let (tag, rest) = s.split_once(' ').unwrap_or((s, ""));
        match tag {
            "exact" => Verdict::Exact { reads_failed: rest == "1" },
            "torn" => Verdict::Torn { lost: rest.parse().unwrap_or(0) },
            "refused" => Verdict::Refused(rest.to_string()),
            _ => Verdict::Fail(rest.to_string()),
        }
    }

    fn cell(&self) -> char {
        match self {
            Verdict::Exact { reads_failed: false } => '.',
            Verdict::Exact { reads_failed: true } => 'r',
            Verdict::Torn { .. } => 't',
            Verdict::Refused(_) => 'e',
            Verdict::Fail(_) => 'X',
        }
    }

    fn class(&self) -> String {
        match self {
            Verdict::Exact { reads_failed: false } => "pass: opened, exact data".into(),
            Verdict::Exact { reads_failed: true } => {
                "pass: opened, exact data, reads of the damage failed naming the file".into()
            }
            Verdict::Torn { .. } => "pass: opened under the torn-write allowance".into(),
            Verdict::Refused(_) => "pass: refused naming the file, nothing changed".into(),
            Verdict::Fail(m) => format!("FAIL {}", m.split(':').next().unwrap_or("?")),
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Run `tsdb check DIR`: exit code and stdout + stderr.
fn cli_check(bin: &Path, dir: &Path) -> (i32, String) {
    let out = Command::new(bin).arg("check").arg(dir).output().expect("run tsdb");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// One case, in a directory under `scratch`.
fn run_case(t: &Template, case: &Case, scratch: &Path, cli: Option<&Path>) -> Verdict {
    let dir = scratch.join("db");
    let cli_dir = scratch.join("cli");
    let mut img = t.image.clone();
    case.what.apply(&mut img);
    img.write(&dir);
    if cli.is_some() {
        img.write(&cli_dir);
    }
    judge(t, case, &img, &dir, cli.map(|b| (b, cli_dir.as_path()))).unwrap_or_else(Verdict::Fail)
}

fn judge(
    t: &Template,
    case: &Case,
    img: &DirImg,
    dir: &Path,
    cli: Option<(&Path, &Path)>,
) -> Result<Verdict, String> {
    let files = &case.files;
    let db = match Database::open(dir, &opts()) {
        Err(e) => {
            let msg = acceptable(&e, files)?;
            let after = DirImg::read(dir);
            if after.data_files() != img.data_files() {
                let (what, created_only) = changed(img, &after);
                let code = if created_only { "FILES-CREATED" } else { "FILES-CHANGED" };
                return Err(format!(
                    "{code}: the failed open changed the directory: {what} (its error: {e})"
                ));
            }
            if case.expect == Expect::MustOpen {
                return Err(format!("REFUSED: open must succeed here: {e}"));
            }
            if let Some((bin, cdir)) = cli {
                let (code, text) = cli_check(bin, cdir);
                let want = if matches!(e, Error::Corruption(_)) { 3 } else { 1 };
                // The same message, but about the copy the command checked.
                let msg = msg.replace(&dir.display().to_string(), &cdir.display().to_string());
                if code != want || !text.contains(&msg) {
                    return Err(format!(
                        "CLI: open failed ({e}) but `tsdb check` exited {code}: {}",
                        escape(&text)
                    ));
                }
            }
            return Ok(Verdict::Refused(msg));
        }
        Ok(db) => db,
    };
    let obs = observe(&db, files)?;
    let (model, lost) = reference(t, case, &obs).map_err(|m| {
        // An open that lost data: say too which files it deleted, if any.
        let (what, _) = changed(img, &DirImg::read(dir));
        let gone: Vec<&str> = what.split(", ").filter_map(|w| w.strip_suffix(" deleted")).collect();
        if gone.is_empty() { m } else { format!("{m}; the open deleted files: {}", gone.join(", ")) }
    })?;
    let reads_failed = queries(&db, &model, files)? || obs.scans.values().any(Result::is_err);
    let report = db.check().map_err(|e| format!("CHECK: the check could not run: {e}"))?;
    let named = report.damage.iter().any(|m| names_one(m, files));
    if reads_failed || case.check_sees {
        if !named {
            return Err(format!(
                "CHECK: {} but the check reports {:?}",
                if reads_failed { "reads failed" } else { "the damage is one the check sees" },
                report.damage
            ));
        }
    } else if !report.is_ok() {
        return Err(format!("CHECK: every read was exact but the check reports {:?}", report.damage));
    }
    if let Some((bin, cdir)) = cli {
        let (code, text) = cli_check(bin, cdir);
        let agree = if report.is_ok() { code == 0 } else { code == 3 && names_one(&text, files) };
        if !agree {
            return Err(format!(
                "CLI: the check reports {} damage(s) but `tsdb check` exited {code}: {}",
                report.damage.len(),
                escape(&text)
            ));
        }
    }
    match db.close() {
        Ok(()) => {}
        Err((_, e)) => {
            acceptable(&e, files).map_err(|m| format!("CLOSE: {m}"))?;
        }
    }
    let again = Database::open(dir, &opts()).map_err(|e| format!("REOPEN: the second open failed: {e}"))?;
    let obs2 = observe(&again, files).map_err(|m| format!("REOPEN: {m}"))?;
    let same = obs2.names == obs.names
        && obs.scans.iter().zip(&obs2.scans).all(|((a, x), (b, y))| {
            a == b
                && match (x, y) {
                    (Ok(p), Ok(q)) => p == q,
                    (Err(_), Err(_)) => true,
                    _ => false,
                }
        });
    if !same {
        let d = diff(&model, &obs2).unwrap_or_else(|| "a failed read became readable or the reverse".into());
        return Err(format!("REOPEN: the second open disagrees with the first: {d}"));
    }
    let _ = again.close();
    Ok(if case.torn_at.is_some() && lost > 0 {
        Verdict::Torn { lost }
    } else {
        Verdict::Exact { reads_failed }
    })
}

/// What differs between two directory images (LOCK aside), and whether files were only
/// created (none deleted or changed).
fn changed(before: &DirImg, after: &DirImg) -> (String, bool) {
    let (b, a) = (before.data_files(), after.data_files());
    let mut out = Vec::new();
    let mut created_only = true;
    for (k, f) in &b {
        match a.get(k) {
            None => out.push(format!("{k} deleted")),
            Some(g) if g != f => out.push(format!("{k} changed ({} -> {} bytes)", f.len, g.len)),
            _ => continue,
        }
        created_only = false;
    }
    for k in a.keys().filter(|k| !b.contains_key(*k)) {
        out.push(format!("{k} created"));
    }
    (out.join(", "), created_only)
}

// ---------------------------------------------------------------------------------------
// The run: templates in the parent, cases in worker children.

const CHILD_ENV: &str = "TSDB_DAMAGE_CHILD";
const MARK: &str = "@@DMG";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn scratch_root(tag: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    base.join(format!("tsdb-damage-{tag}-{}", std::process::id()))
}

/// The `tsdb` binary next to this test's (built with `cargo build -p tsdb-cli` when it is
/// missing or older than the sources); `None` when `TSDB_DAMAGE_CLI_EVERY=0`.
fn tsdb_binary() -> Option<PathBuf> {
    if env_usize("TSDB_DAMAGE_CLI_EVERY", 1) == 0 {
        return None;
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent()?.parent()?.to_path_buf();
    let bin = profile_dir.join("tsdb");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    let newest = ["src", "cli/src", "Cargo.toml", "cli/Cargo.toml"]
        .iter()
        .map(|p| newest_mtime(&src.join(p)))
        .max()
        .flatten();
    let fresh = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .ok()
        .is_some_and(|b| newest.is_none_or(|n| b >= n));
    if !fresh {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(src).args(["build", "-q", "-p", "tsdb-cli"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo to build the tsdb binary");
        assert!(st.success() && bin.exists(), "building the tsdb binary failed");
    }
    Some(bin)
}

fn newest_mtime(p: &Path) -> Option<std::time::SystemTime> {
    let md = std::fs::metadata(p).ok()?;
    if md.is_dir() {
        std::fs::read_dir(p).ok()?.filter_map(|e| newest_mtime(&e.ok()?.path())).max()
    } else {
        md.modified().ok()
    }
}

fn load_all(root: &Path) -> Vec<Template> {
    vec![load_template(root, Kind::Clean), load_template(root, Kind::Crashed)]
}

fn selected(cases: &[Case], tpls: &[Template]) -> Vec<usize> {
    let filter = std::env::var("TSDB_DAMAGE_FILTER").unwrap_or_default();
    let parts: Vec<&str> = filter.split(';').map(str::trim).filter(|s| !s.is_empty()).collect();
    (0..cases.len())
        .filter(|&i| parts.is_empty() || parts.iter().any(|p| cases[i].name(tpls).contains(p)))
        .collect()
}

/// Child: run the case indices read from stdin, one a line, printing `@@DMG i verdict`.
fn child(root: &Path) {
    let tpls = load_all(root);
    let cases = generate(&tpls);
    let cli = std::env::var("TSDB_DAMAGE_CLI_BIN").ok().map(PathBuf::from);
    let every = env_usize("TSDB_DAMAGE_CLI_EVERY", 1);
    let scratch = root.join(format!("work-{}", std::process::id()));
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(i) = line.unwrap().trim().parse::<usize>() else { break };
        let case = &cases[i];
        let dir = scratch.join(format!("case-{i}"));
        let use_cli = cli.as_deref().filter(|_| every > 0 && (i % every == 0 || case.damage == "control"));
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_case(&tpls[case.tpl], case, &dir, use_cli)
        }));
        let v = run.unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Verdict::Fail(format!("PANIC: {}", msg.unwrap_or_default()))
        });
        let keep = std::env::var("TSDB_DAMAGE_KEEP").is_ok_and(|v| v == "1") && matches!(v, Verdict::Fail(_));
        if !keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "{MARK} {i} {}", v.encode()).unwrap();
        out.flush().unwrap();
    }
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

fn spawn_worker(root: &Path, cli: Option<&Path>, job: usize, attempt: usize) -> Worker {
    let err = std::fs::File::create(root.join(format!("worker-{job}-{attempt}.stderr"))).unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "damage_matrix", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, root)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err));
    if let Some(b) = cli {
        cmd.env("TSDB_DAMAGE_CLI_BIN", b);
    }
    let mut child = cmd.spawn().expect("spawn a worker");
    let stdin = child.stdin.take().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            // (libtest's "test damage_matrix ... " may precede the first one on its line.)
            if let Some(at) = line.find(MARK)
                && tx.send(line[at..].to_string()).is_err()
            {
                break;
            }
        }
    });
    Worker { child, stdin, lines: rx }
}

/// Run the queued cases on a worker, respawning it after a crash or a hang.
fn work(
    root: &Path,
    cli: Option<&Path>,
    job: usize,
    queue: &Mutex<VecDeque<usize>>,
    results: &Mutex<BTreeMap<usize, Verdict>>,
) {
    let deadline = Duration::from_secs(env_usize("TSDB_DAMAGE_CASE_SECS", 20) as u64);
    let mut attempt = 0;
    let mut w = spawn_worker(root, cli, job, attempt);
    loop {
        let Some(i) = queue.lock().unwrap().pop_front() else { break };
        let sent = writeln!(w.stdin, "{i}").and_then(|()| w.stdin.flush());
        let got = if sent.is_ok() {
            w.lines.recv_timeout(deadline)
        } else {
            Err(mpsc::RecvTimeoutError::Disconnected)
        };
        let verdict = match got {
            Ok(line) => {
                let rest = line[MARK.len()..].trim_start();
                let (idx, v) = rest.split_once(' ').unwrap_or((rest, ""));
                assert_eq!(
                    idx.parse::<usize>().ok(),
                    Some(i),
                    "the worker answered for the case it was given"
                );
                Verdict::decode(v)
            }
            Err(e) => {
                let hang = matches!(e, mpsc::RecvTimeoutError::Timeout);
                if hang {
                    let _ = w.child.kill(); // our own child, by its handle
                }
                let status = w.child.wait().map(|s| format!("{s}")).unwrap_or_default();
                let err = std::fs::read_to_string(root.join(format!("worker-{job}-{attempt}.stderr")))
                    .unwrap_or_default();
                let tail: String = err
                    .lines()
                    .rev()
                    .take(6)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join(" / ");
                attempt += 1;
                w = spawn_worker(root, cli, job, attempt);
                if hang {
                    Verdict::Fail(format!("HANG: no verdict within {}s (worker killed)", deadline.as_secs()))
                } else {
                    Verdict::Fail(format!("CRASH: the worker died ({status}): {tail}"))
                }
            }
        };
        results.lock().unwrap().insert(i, verdict);
    }
    drop(w.stdin);
    let _ = w.child.wait();
}

/// Removes the scratch directory (templates and cases) however the test ends, unless
/// `TSDB_DAMAGE_KEEP=1` (failing cases' directories are kept for a look).
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::env::var("TSDB_DAMAGE_KEEP").is_ok_and(|v| v == "1") {
            println!("damage matrix: scratch directory kept: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn damage_matrix() {
    if let Ok(root) = std::env::var(CHILD_ENV) {
        child(Path::new(&root));
        return;
    }
    let started = Instant::now();
    let root = scratch_root("matrix");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let _cleanup = Cleanup(root.clone());
    build_template(&root, Kind::Clean);
    build_template(&root, Kind::Crashed);
    let tpls = load_all(&root);
    let built = started.elapsed();
    for t in &tpls {
        println!("{}", t.describe());
    }
    let cases = generate(&tpls);
    let chosen = selected(&cases, &tpls);
    assert!(cases.len() >= 500, "the matrix has at least 500 cases (has {})", cases.len());
    let cli = tsdb_binary();
    let jobs =
        env_usize("TSDB_DAMAGE_JOBS", std::thread::available_parallelism().map_or(1, |n| n.get().min(2)))
            .max(1);
    println!(
        "damage matrix: {} cases ({} selected), templates built in {:.1}s; {jobs} worker(s); tsdb check every {} case(s){}",
        cases.len(),
        chosen.len(),
        built.as_secs_f64(),
        env_usize("TSDB_DAMAGE_CLI_EVERY", 1),
        if cli.is_none() { " (off)" } else { "" }
    );
    let queue = Mutex::new(chosen.iter().copied().collect::<VecDeque<_>>());
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for job in 0..jobs {
            let (root, cli, queue, results) = (&root, cli.as_deref(), &queue, &results);
            s.spawn(move || work(root, cli, job, queue, results));
        }
    });
    let results = results.into_inner().unwrap();
    let failures = report(&tpls, &cases, &results);
    println!("damage matrix: {} cases in {:.1}s", results.len(), started.elapsed().as_secs_f64());
    assert_eq!(failures, 0, "{failures} damage case(s) failed (listed above)");
}

/// A target's group for the summary of failures: the file (or its role) and the kind of place.
fn group(target: &str) -> String {
    let file = target.split(' ').next().unwrap_or(target);
    let role = target.find('(').and_then(|a| Some(&target[a..=a + target[a..].find(')')?])).unwrap_or("");
    let place = if target.contains("superblock") {
        return "MANIFEST superblock".into();
    } else if target.contains("blob") {
        "blobs"
    } else if target.contains("header") {
        "header"
    } else if target.contains("record") && target.contains("after the last") {
        "after the last record"
    } else if target.contains("record") {
        "records"
    } else if target.contains("block") {
        "blocks"
    } else if file.contains('/') || file == "MANIFEST" || file == "LOCK" {
        "the file"
    } else {
        return "leftovers".into();
    };
    if file.starts_with("wal/") { format!("{file} {role} {place}") } else { format!("{file} {place}") }
}

/// The damages, with the two-letter column heads of the tables.
const DAMAGES: [(&str, &str); 18] = [
    ("control", "ok"),
    ("trunc0", "t0"),
    ("trunc-hdr", "th"),
    ("trunc-at", "ta"),
    ("trunc-end", "te"),
    ("trunc-mid", "tm"),
    ("zero-page", "zp"),
    ("zero-rec", "zr"),
    ("flip-hdr", "fh"),
    ("flip-crc", "fc"),
    ("flip-body", "fb"),
    ("burst", "bu"),
    ("torn-record", "tr"),
    ("garbage", "ga"),
    ("delete", "de"),
    ("ren-num", "rn"),
    ("ren-foreign", "rf"),
    ("leftover", "lo"),
];

fn short(d: &str) -> &'static str {
    DAMAGES.iter().find(|x| x.0 == d).map_or("??", |x| x.1)
}

/// A class of failing cases: the damages seen, how many cases, and the first case's name and
/// message.
type FailClass<'a> = (Vec<&'a str>, usize, String);

/// Print the summary, the table per template and the failures; returns the failure count.
fn report(tpls: &[Template], cases: &[Case], results: &BTreeMap<usize, Verdict>) -> usize {
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    for v in results.values() {
        *classes.entry(v.class()).or_default() += 1;
    }
    println!("\noutcomes:");
    for (c, n) in &classes {
        println!("  {n:5}  {c}");
    }
    let list = std::env::var("TSDB_DAMAGE_LIST").is_ok_and(|v| v == "1");
    for (ti, t) in tpls.iter().enumerate() {
        let mine: Vec<(usize, &Case)> =
            cases.iter().enumerate().filter(|(i, c)| c.tpl == ti && results.contains_key(i)).collect();
        if mine.is_empty() {
            continue;
        }
        let damages: Vec<&str> =
            DAMAGES.iter().map(|d| d.0).filter(|d| mine.iter().any(|(_, c)| c.damage == *d)).collect();
        let mut targets: Vec<&str> = Vec::new();
        for (_, c) in &mine {
            if !targets.contains(&c.target.as_str()) {
                targets.push(&c.target);
            }
        }
        let width = targets.iter().map(|t| t.len()).max().unwrap_or(0);
        println!(
            "\n{} template: '.' exact data, 'r' exact with reads of the damage failing (naming the file), \
             't' torn-write allowance, 'e' refused naming the file, 'X' FAIL",
            t.kind.name()
        );
        println!("  {:width$} {}", "", damages.iter().map(|d| format!(" {}", short(d))).collect::<String>());
        for target in &targets {
            let cells: String = damages
                .iter()
                .map(|d| {
                    let c = mine
                        .iter()
                        .find(|(_, c)| c.target == *target && c.damage == *d)
                        .map_or(' ', |(i, _)| results[i].cell());
                    format!("  {c}")
                })
                .collect();
            println!("  {target:width$} {cells}");
        }
    }
    println!("\ncolumns: {}", DAMAGES.iter().map(|(d, s)| format!("{s} {d}")).collect::<Vec<_>>().join(", "));
    // Failing classes: (template, group of targets, failure code), with the damages and the
    // first message.
    let mut groups: BTreeMap<(usize, String, String), FailClass<'_>> = BTreeMap::new();
    for (i, v) in results {
        if let Verdict::Fail(m) = v {
            let c = &cases[*i];
            let code = m.split(':').next().unwrap_or("?").to_string();
            let g = groups
                .entry((c.tpl, group(&c.target), code))
                .or_insert_with(|| (Vec::new(), 0, format!("{}: {m}", c.name(tpls))));
            if !g.0.contains(&c.damage) {
                g.0.push(c.damage);
            }
            g.1 += 1;
        }
    }
    if !groups.is_empty() {
        println!(
            "\nfailing classes (template: targets: failure, count, damages; the first case and its message):"
        );
    }
    for ((tpl, g, code), (damages, n, first)) in &groups {
        println!("  {}: {g}: {code} x{n} [{}]\n      {first}", tpls[*tpl].kind.name(), damages.join(" "));
    }
    let mut failures = 0;
    println!();
    for (i, v) in results {
        let name = cases[*i].name(tpls);
        if let Verdict::Fail(m) = v {
            failures += 1;
            println!("FAIL {name}\n     {m}");
        } else if list {
            println!("ok   {name}: {v:?}");
        }
    }
    failures
}

/// The harness itself: the allowance is exactly as wide as the rules say, and the oracle
/// rejects less data, other data and a loss before the damage.
#[test]
fn oracle_catches_what_it_should() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    // File images against a plain byte vector.
    let mut rng = Rng::new(5, 0);
    let mut plain: Vec<u8> = Vec::new();
    let mut img = FileImg::default();
    for _ in 0..300 {
        let off = rng.below(20_000);
        match rng.below(3) {
            0 => {
                let data = noise(rng.next_u64(), rng.below(9000) as usize);
                let end = off as usize + data.len();
                if plain.len() < end {
                    plain.resize(end, 0);
                }
                plain[off as usize..end].copy_from_slice(&data);
                img.write(off, &data);
            }
            1 => {
                let n = rng.below(6000) as usize;
                let end = (off as usize + n).min(plain.len());
                if (off as usize) < end {
                    plain[off as usize..end].fill(0);
                    img.write(off, &vec![0; end - off as usize]);
                }
            }
            _ => {
                let len = off.min(plain.len() as u64);
                plain.truncate(len as usize);
                img.truncate(len);
            }
        }
        assert_eq!(img.read(0, img.len), plain);
        assert_eq!(img, FileImg::from_bytes(&plain), "the same bytes, the same image");
        let z = rng.below(plain.len() as u64 + 1);
        assert_eq!(img.zero_from(z), plain[z as usize..].iter().all(|&b| b == 0));
    }

    let root = scratch_root("oracle");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let _cleanup = Cleanup(root.clone());
    build_template(&root, Kind::Crashed);
    let t = load_template(&root, Kind::Crashed);
    let observed = |m: &Model| Observed {
        names: m.metrics.iter().map(|(id, (n, _))| (*id, n.clone())).collect(),
        scans: m
            .metrics
            .iter()
            .map(|(id, (_, p))| (*id, Ok(p.iter().map(|(t, v)| (*t, *v)).collect())))
            .collect(),
    };
    let n = t.ops.len();
    let last = *t.wal_segs.last().unwrap();
    let last_name = format!("wal/{}", seg_name(last, "wal"));
    let recs: Vec<&Rec> = t.recs.iter().filter(|r| r.seg == last).collect();
    let case = |what: Damage| make_case(&t, 1, "x", "x", what, vec![last_name.clone()], Expect::ExactOrError);
    let fails = |c: &Case, m: &Model, code: &str| {
        let e = reference(&t, c, &observed(m)).map(|_| ()).unwrap_err();
        assert!(e.starts_with(code), "{code} expected: {e}");
    };
    let before = |k: usize| Model::after(&t.ops[..k]);

    // No allowance: exactly the model.
    let none = case(Damage::None);
    assert_eq!(reference(&t, &none, &observed(&t.model)).unwrap().1, 0);
    fails(&none, &before(n - 1), "LESS-DATA");
    let mut other = t.model.clone();
    let pts = &mut other.metrics.get_mut(&1).unwrap().1;
    let (&ts, &v) = pts.iter().nth(100).unwrap();
    pts.insert(ts, v ^ 1);
    fails(&none, &other, "WRONG-DATA");

    // A flipped bit in the last record: it (and only it) may go.
    let r = recs[recs.len() - 1];
    let c = case(Damage::Xor(last_name.clone(), r.off + 30, vec![1]));
    assert_eq!((c.torn_at, c.expect), (Some(r.off + 30), Expect::MustOpen));
    assert_eq!(reference(&t, &c, &observed(&t.model)).unwrap().1, 0);
    assert_eq!(reference(&t, &c, &observed(&before(n - 1))).unwrap().1, 1);
    fails(&c, &before(n - 2), "LESS-DATA");
    // A bad record in the middle, valid ones after it: no allowance.
    let mid = recs[recs.len() / 2];
    let c = case(Damage::Xor(last_name.clone(), mid.off + 30, vec![1]));
    assert_eq!(c.torn_at, None);
    fails(&c, &before(n - 1), "LESS-DATA");
    // A zeroed tail from the middle record on: the ops from there may go, not one before.
    let c = case(Damage::Zero(last_name.clone(), mid.off, t.image.files[&last_name].len - mid.off));
    let k = t
        .op_rec
        .iter()
        .position(|&x| x.is_some_and(|i| t.recs[i].seg == last && t.recs[i].off == mid.off))
        .unwrap();
    assert_eq!(c.torn_at, Some(mid.off));
    assert_eq!(reference(&t, &c, &observed(&before(k))).unwrap().1, n - k);
    assert_eq!(reference(&t, &c, &observed(&before(k + 1))).unwrap().1, n - k - 1);
    fails(&c, &before(k - 1), "LESS-DATA");
    // Truncation: only to 0 bytes (a segment created, its header never written).
    assert_eq!(case(Damage::Truncate(last_name.clone(), mid.off + 5)).torn_at, None);
    assert_eq!(case(Damage::Truncate(last_name.clone(), 0)).torn_at, Some(0));
    assert_eq!(case(Damage::Delete(last_name.clone())).torn_at, None);
    // Not the last segment: never.
    let prev = format!("wal/{}", seg_name(t.wal_segs[t.wal_segs.len() - 2], "wal"));
    let tail = t.recs.iter().rfind(|r| format!("wal/{}", seg_name(r.seg, "wal")) == prev).unwrap().end;
    assert_eq!(case(Damage::Write(prev, tail, vec![1; 24])).torn_at, None);
    // Aggregates of the model: every point once, NaNs counted but not summed.
    let p: BTreeMap<i64, u64> =
        [(0, 1.0f64), (5, f64::NAN), (10, 2.0), (25, 4.0)].iter().map(|(t, v)| (*t, v.to_bits())).collect();
    let a = model_aggs(&p, 0, 30, 10);
    assert_eq!(a.iter().map(|a| (a.start, a.count)).collect::<Vec<_>>(), vec![(0, 2), (10, 1), (20, 1)]);
    assert_eq!((a[0].sum, a[0].last.is_nan(), a[0].max), (1.0, true, 1.0));
}
