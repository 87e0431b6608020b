//! The database: open/close, metrics, writes, snapshots, cursors and atomic batches.
//!
//! Write protocol (see docs/architecture.md): a write takes a sequence number, appends its
//! points to the heads it touches (under their locks), then publishes the number in order.
//! A snapshot is `(version, seq)` taken so that the version was current when `seq` was read;
//! it sees sealed partitions of that version and head points with `seq <=` its own.
use std::cell::Cell;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, MutexGuard};

use crate::partition::{HeadInner, PartitionMap};
use crate::txn::{Sequencer, Version};
use crate::{Error, MAX_NAME_LEN, MAX_TIMESTAMP, MetricId, Options, Result};

/// An open database. `Database` is `Send + Sync`: share it by reference (or in an `Arc`)
/// between any number of threads.
pub struct Database {
    shared: Arc<Shared>,
}

struct Shared {
    /// The global transaction: the current version.
    current: ArcSwap<Version>,
    /// Serialises building the next version (create, drop, seal).
    writer: Mutex<WriterState>,
    seqr: Sequencer,
    opts: Options,
    /// Heads admitted to stay raw until sealed, and how many may be (`raw_head_budget`).
    raw_heads: AtomicUsize,
    max_raw_heads: usize,
    /// Set when a structural change failed half way; writes are refused from then on.
    failed: AtomicBool,
    path: PathBuf,
    /// `DIR/LOCK`, flock-ed while the database is open: a second open, from this process
    /// or another, fails with `Busy`. Released when the last reference goes.
    _lock: std::fs::File,
}

/// Name of the lock file inside the database directory.
const LOCK_FILE: &str = "LOCK";

struct WriterState {
    /// Next metric id; ids start at 1 and are never reused.
    next_id: u64,
}

impl Database {
    /// Open (creating when missing, per `opts.create_if_missing`) the database at `path`.
    ///
    /// The parent of `path` must exist. This release keeps data in memory only.
    pub fn open(path: impl AsRef<Path>, opts: &Options) -> Result<Database> {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::InvalidArgument(format!("not a directory (path={})", path.display())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !opts.create_if_missing {
                    return Err(Error::NotFound(format!(
                        "database directory does not exist and create_if_missing is off (path={})",
                        path.display()
                    )));
                }
                std::fs::create_dir(path).map_err(|e| {
                    Error::Io(format!("cannot create database directory: {e} (path={})", path.display()))
                })?;
            }
            Err(e) => return Err(Error::Io(format!("cannot stat: {e} (path={})", path.display()))),
        }
        let lock_path = path.join(LOCK_FILE);
        let lock =
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(
                |e| Error::Io(format!("cannot open lock file: {e} (path={})", lock_path.display())),
            )?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Busy(format!(
                    "database is already open, in this or another process (path={})",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::Io(format!("cannot lock: {e} (path={})", lock_path.display())));
            }
        }
        Ok(Database {
            shared: Arc::new(Shared {
                current: ArcSwap::from_pointee(Version::empty()),
                writer: Mutex::new(WriterState { next_id: 1 }),
                seqr: Sequencer::default(),
                opts: opts.clone(),
                raw_heads: AtomicUsize::new(0),
                max_raw_heads: opts.raw_heads(),
                failed: AtomicBool::new(false),
                path: path.to_owned(),
                _lock: lock,
            }),
        })
    }

    /// Close the database. Fails with [`Error::Busy`], giving the database back, while
    /// snapshots (or cursors, which hold theirs) are alive.
    pub fn close(self) -> std::result::Result<(), (Database, Error)> {
        match self.ensure_closable() {
            Ok(()) => Ok(()),
            Err(e) => Err((self, e)),
        }
    }

    /// `Ok` when [`Database::close`] would succeed: no snapshot or cursor is alive.
    pub fn ensure_closable(&self) -> Result<()> {
        // Snapshots hold versions: the current one (counted by its reference count, less
        // the ArcSwap's and ours) or older ones (every live version holds the catalog).
        let cur = self.shared.current.load_full();
        let on_current = Arc::strong_count(&cur).saturating_sub(2);
        let older_versions = Arc::strong_count(&cur.catalog).saturating_sub(1);
        if on_current + older_versions == 0 {
            return Ok(());
        }
        Err(Error::Busy(format!(
            "snapshots are still alive ({on_current} on the current version, {older_versions} older version(s) \
             pinned); release every ts_txn and free every ts_cursor first"
        )))
    }

    /// The directory this database lives in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Create a metric called `name` (1..=1024 bytes of UTF-8). When a metric of that name
    /// exists, returns [`Error::Exists`] carrying its id.
    pub fn create_metric(&self, name: &str) -> Result<MetricId> {
        check_name(name)?;
        let sh = &*self.shared;
        sh.check_writable()?;
        let mut w = sh.writer.lock();
        let cur = sh.current.load_full();
        let id = MetricId(w.next_id);
        let next = cur
            .add_metric(id, name, || PartitionMap::new(id, name.into()))
            .map_err(|id| Error::Exists { name: name.to_owned(), id })?;
        w.next_id += 1;
        sh.current.store(Arc::new(next));
        Ok(id)
    }

    /// Drop metric `id`. Snapshots begun before the drop still read it; its memory is freed
    /// when the last of them is released.
    pub fn drop_metric(&self, id: MetricId) -> Result<()> {
        let sh = &*self.shared;
        sh.check_writable()?;
        loop {
            let map = sh.current.load().ids.get(id.0).ok_or_else(|| not_found(id))?.clone();
            // Lock order everywhere: head(s), then the writer lock.
            let mut head = map.head.lock();
            if head.is_frozen() {
                continue; // sealed meanwhile: the successor map is published; retry on it
            }
            let _w = sh.writer.lock();
            // The map is still current: replacing it would have frozen the head we hold.
            let cur = sh.current.load_full();
            sh.release_raw_head(head.freeze());
            sh.current.store(Arc::new(cur.drop_metric(&map)));
            return Ok(());
        }
    }

    /// Insert one point. A second write of the same `(id, ts)` replaces the first.
    #[inline]
    pub fn insert(&self, id: MetricId, ts: i64, value: f64) -> Result<()> {
        self.insert_batch(id, &[ts], &[value])
    }

    /// Insert `ts[i], values[i]` into metric `id`, atomically (one sequence number).
    /// Later elements win over earlier ones with the same timestamp.
    pub fn insert_batch(&self, id: MetricId, ts: &[i64], values: &[f64]) -> Result<()> {
        if ts.len() != values.len() {
            return Err(Error::InvalidArgument(format!(
                "ts and values differ in length ({} vs {})",
                ts.len(),
                values.len()
            )));
        }
        if ts.is_empty() {
            return Err(Error::InvalidArgument("empty batch (n=0)".into()));
        }
        check_timestamps(ts)?;
        let sh = &*self.shared;
        sh.check_writable()?;
        let full = {
            let ticket = sh.seqr.take();
            loop {
                let v = sh.current.load();
                let map = v.ids.get(id.0).ok_or_else(|| not_found(id))?;
                let mut head = map.head.lock();
                if head.is_frozen() {
                    // A seal or drop published a successor before unlocking: reload.
                    drop(head);
                    sh.check_writable()?;
                    continue;
                }
                head.push_all(ts, values, ticket.seq);
                break head.settle(sh.opts.partition_points, sh.opts.head_run_points, || sh.admit_raw_head());
            }
        };
        if full {
            sh.seal(id);
        }
        Ok(())
    }

    /// Apply every point of `batch` atomically: a snapshot sees all of them or none. If any
    /// metric does not exist, nothing is applied. On success the batch is emptied for reuse.
    pub fn commit(&self, batch: &mut Batch) -> Result<()> {
        if batch.is_empty() {
            return Err(Error::InvalidArgument("empty batch (no points added)".into()));
        }
        check_timestamps(&batch.ts)?;
        let sh = &*self.shared;
        sh.check_writable()?;
        // Group by metric, keeping the order of adds within a metric (later adds win).
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by_key(|&i| batch.ids[i]);
        let mut groups: Vec<(MetricId, std::ops::Range<usize>)> = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            let id = batch.ids[i];
            match groups.last_mut() {
                Some((gid, r)) if gid.0 == id => r.end = k + 1,
                _ => groups.push((MetricId(id), k..k + 1)),
            }
        }
        let mut to_seal = Vec::new();
        {
            let ticket = sh.seqr.take();
            loop {
                let v = sh.current.load();
                let mut maps = Vec::with_capacity(groups.len());
                for (id, _) in &groups {
                    maps.push(v.ids.get(id.0).ok_or_else(|| not_found(*id))?);
                }
                // Lock every head in id order (no deadlock with other batches), so a drop
                // or seal cannot slip in between the check and the appends.
                let mut heads: Vec<MutexGuard<'_, HeadInner>> = maps.iter().map(|m| m.head.lock()).collect();
                if heads.iter().any(|h| h.is_frozen()) {
                    drop(heads);
                    sh.check_writable()?;
                    continue;
                }
                for ((id, range), head) in groups.iter().zip(heads.iter_mut()) {
                    for &i in &order[range.clone()] {
                        head.push(batch.ts[i], batch.vals[i], ticket.seq);
                    }
                    if head.settle(sh.opts.partition_points, sh.opts.head_run_points, || sh.admit_raw_head())
                    {
                        to_seal.push(*id);
                    }
                }
                break;
            }
        }
        for id in to_seal {
            sh.seal(id);
        }
        batch.clear();
        Ok(())
    }

    /// Begin a snapshot: it sees every write that returned before this call and nothing
    /// that starts after it. O(1); takes no lock and never waits for writers.
    pub fn begin(&self) -> Arc<Snapshot> {
        let sh = &self.shared;
        loop {
            let version = sh.current.load_full();
            let seq = sh.seqr.visible();
            // If no version was published meanwhile, every write with a seq <= `seq` is
            // reachable from `version` (in a head or sealed partition of it).
            if Arc::ptr_eq(&sh.current.load(), &version) {
                return Arc::new(Snapshot { version, seq });
            }
        }
    }
}

impl Shared {
    fn check_writable(&self) -> Result<()> {
        if self.failed.load(Ordering::Relaxed) { Err(Error::Failed) } else { Ok(()) }
    }

    /// Whether one more head may stay raw until sealed (see `Options::raw_head_budget`).
    fn admit_raw_head(&self) -> bool {
        self.raw_heads
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < self.max_raw_heads).then_some(n + 1))
            .is_ok()
    }

    /// Give back an admitted head's place in the raw-head budget.
    fn release_raw_head(&self, admitted: bool) {
        if admitted {
            self.raw_heads.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Seal metric `id`'s head if it is (still) full: publish a new version whose map holds
    /// the head's published points in sealed partitions. The successor is built under the
    /// head's lock only, so seals of different metrics run in parallel; the writer lock is
    /// held just to publish.
    fn seal(&self, id: MetricId) {
        let Some(map) = self.current.load().ids.get(id.0).cloned() else { return };
        let mut head = map.head.lock();
        if head.is_frozen() || head.len() < self.opts.partition_points as usize {
            return;
        }
        let guard = FailOnUnwind(&self.failed);
        let upto = self.seqr.visible();
        if let Some((next, admitted)) = map.seal(&mut head, upto, self.opts.partition_points as usize) {
            self.release_raw_head(admitted);
            let _w = self.writer.lock();
            // `map` is still current: replacing it would have frozen the head we hold.
            let cur = self.current.load_full();
            self.current.store(Arc::new(cur.with_map(Arc::new(next))));
        }
        std::mem::forget(guard);
    }
}

/// Marks the database failed if a structural change unwinds half way.
struct FailOnUnwind<'a>(&'a AtomicBool);

impl Drop for FailOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn not_found(id: MetricId) -> Error {
    Error::NotFound(format!("no live metric with this id (id={})", id.0))
}

fn check_timestamps(ts: &[i64]) -> Result<()> {
    if ts.iter().any(|&t| t > MAX_TIMESTAMP) {
        return Err(Error::InvalidArgument(format!(
            "timestamp {} (INT64_MAX) is reserved: scans end before `until`, so it could never be read; \
             the largest timestamp is INT64_MAX - 1",
            i64::MAX
        )));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "metric name must be 1..={MAX_NAME_LEN} bytes of UTF-8 (got {} bytes)",
            name.len()
        )));
    }
    Ok(())
}

/// A consistent, read-only view of the database at one instant. Shareable between threads
/// (`Send + Sync`); cursors hold an `Arc` of it, so it lives until the last of them is freed.
pub struct Snapshot {
    /// The version it reads; holding it is what makes the snapshot live for `close`.
    version: Arc<Version>,
    seq: u64,
}

impl Snapshot {
    /// The id of the metric called `name` in this snapshot.
    pub fn lookup(&self, name: &str) -> Result<MetricId> {
        check_name(name)?;
        self.version.lookup(name).map(|m| m.id).ok_or_else(|| {
            Error::NotFound(format!("no metric with this name in the snapshot (name={name:?})"))
        })
    }

    /// The name of metric `id` in this snapshot.
    pub fn metric_name(&self, id: MetricId) -> Result<&str> {
        self.version.ids.get(id.0).map(|m| &*m.name).ok_or_else(|| not_found(id))
    }

    /// Live metrics in this snapshot.
    pub fn metric_count(&self) -> u64 {
        self.version.ids.len()
    }

    /// The live metrics of this snapshot, `(id, name)` in ascending id order, starting at the
    /// first id `>= from`. Lazy: O(log n) memory whatever the number of metrics.
    pub fn metrics(&self, from: MetricId) -> impl Iterator<Item = (MetricId, &str)> {
        self.version.ids.range_from(from.0).map(|(id, m)| (MetricId(id), &*m.name))
    }

    /// The sequence number this snapshot reads at.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A cursor over metric `id`'s points with `from <= ts < until`, ascending, one per
    /// timestamp. The cursor keeps this snapshot alive.
    pub fn scan(self: &Arc<Self>, id: MetricId, from: i64, until: i64) -> Result<Cursor> {
        if from > until {
            return Err(Error::InvalidArgument(format!("from > until (from={from}, until={until})")));
        }
        let map = self.version.ids.get(id.0).ok_or_else(|| not_found(id))?.clone();
        let (head_ts, head_vals) = map.head.visible(self.seq, from, until);
        let parts = if from < until { map.parts_overlapping(from, until) } else { 0..0 };
        Ok(Cursor {
            _snap: self.clone(),
            next_part: parts.start,
            parts_end: parts.end,
            pos: 0,
            end: 0,
            map,
            from,
            until,
            part_ts: Vec::new(),
            part_vals: Vec::new(),
            head_ts,
            head_vals,
            hpos: 0,
            _not_sync: PhantomData,
        })
    }
}

/// An ascending iterator over one metric's points in a snapshot. `Send` but not `Sync`: one
/// thread at a time; it may move between threads.
pub struct Cursor {
    _snap: Arc<Snapshot>,
    map: Arc<PartitionMap>,
    from: i64,
    until: i64,
    /// Next sealed part to open, and the end of the overlapping parts.
    next_part: usize,
    parts_end: usize,
    /// The open part is `map.parts[next_part - 1]`, decoded into `part_ts`/`part_vals` and
    /// read over `pos..end`.
    pos: usize,
    end: usize,
    /// The open part, decoded.
    part_ts: Vec<i64>,
    part_vals: Vec<f64>,
    /// Visible head points in range, sorted and unique; they win over sealed points.
    head_ts: Vec<i64>,
    head_vals: Vec<f64>,
    hpos: usize,
    _not_sync: PhantomData<Cell<()>>,
}

impl Cursor {
    /// Fill up to `cap` points, where `cap` is the length of the given buffers (the shorter
    /// one if both are given; either may be `None` to skip that column). Returns how many
    /// were written; 0 means the cursor is exhausted (and stays so).
    pub fn next_batch(&mut self, mut ts: Option<&mut [i64]>, mut vals: Option<&mut [f64]>) -> usize {
        let cap = match (&ts, &vals) {
            (Some(t), Some(v)) => t.len().min(v.len()),
            (Some(t), None) => t.len(),
            (None, Some(v)) => v.len(),
            (None, None) => return 0,
        };
        let mut n = 0;
        while n < cap {
            if self.pos == self.end
                && let (Some(t), Some(v)) = (ts.as_deref_mut(), vals.as_deref_mut())
                && let Some(k) = self.decode_next_part_to(&mut t[n..cap], &mut v[n..cap])
            {
                n += k;
                continue;
            }
            if self.pos == self.end && !self.open_next_part() {
                // Only head points remain.
                let k = (self.head_ts.len() - self.hpos).min(cap - n);
                if k == 0 {
                    break;
                }
                copy_out(
                    &mut ts,
                    &mut vals,
                    n,
                    &self.head_ts[self.hpos..][..k],
                    &self.head_vals[self.hpos..][..k],
                );
                self.hpos += k;
                n += k;
                continue;
            }
            let run = &self.part_ts[self.pos..self.end];
            let room = cap - n;
            let k = match self.head_ts.get(self.hpos) {
                None => run.len().min(room),
                Some(&h) => run.partition_point(|&t| t < h).min(room),
            };
            if k > 0 {
                copy_out(&mut ts, &mut vals, n, &run[..k], &self.part_vals[self.pos..self.pos + k]);
                self.pos += k;
                n += k;
            } else {
                // The head's next point comes first; on a tie it replaces the sealed one.
                let h = self.head_ts[self.hpos];
                if run[0] == h {
                    self.pos += 1;
                }
                copy_out(&mut ts, &mut vals, n, &[h], &[self.head_vals[self.hpos]]);
                self.hpos += 1;
                n += 1;
            }
        }
        n
    }

    /// When the next part lies wholly in range, no head point comes before its end and the
    /// caller's buffers hold it all, decode it straight into them (no intermediate copy)
    /// and return its length.
    fn decode_next_part_to(&mut self, ts: &mut [i64], vals: &mut [f64]) -> Option<usize> {
        let data = &self.map.parts.get(self.next_part).filter(|_| self.next_part < self.parts_end)?.data;
        let k = data.len();
        let clear_of_head = self.head_ts.get(self.hpos).is_none_or(|&h| h > data.max_ts());
        if data.min_ts() < self.from || data.max_ts() >= self.until || !clear_of_head || k > ts.len() {
            return None;
        }
        data.decode_to(&mut ts[..k], &mut vals[..k]);
        self.next_part += 1;
        Some(k)
    }

    /// Open the next overlapping sealed part with points in range; false when none is left.
    fn open_next_part(&mut self) -> bool {
        while self.next_part < self.parts_end {
            self.map.parts[self.next_part].data.decode_into(&mut self.part_ts, &mut self.part_vals);
            self.next_part += 1;
            let ts = &self.part_ts;
            self.pos = ts.partition_point(|&t| t < self.from);
            self.end = ts.partition_point(|&t| t < self.until);
            if self.pos < self.end {
                return true;
            }
        }
        self.pos = 0;
        self.end = 0;
        false
    }
}

fn copy_out(
    ts: &mut Option<&mut [i64]>,
    vals: &mut Option<&mut [f64]>,
    at: usize,
    src_ts: &[i64],
    src_vals: &[f64],
) {
    if let Some(t) = ts {
        t[at..at + src_ts.len()].copy_from_slice(src_ts);
    }
    if let Some(v) = vals {
        v[at..at + src_vals.len()].copy_from_slice(src_vals);
    }
}

impl Iterator for Cursor {
    type Item = (i64, f64);
    fn next(&mut self) -> Option<(i64, f64)> {
        let (mut t, mut v) = ([0i64], [0f64]);
        (self.next_batch(Some(&mut t), Some(&mut v)) == 1).then_some((t[0], v[0]))
    }
}

/// Points for many metrics, applied atomically by [`Database::commit`]. Not `Sync`.
#[derive(Default, Clone, Debug)]
pub struct Batch {
    ids: Vec<u64>,
    ts: Vec<i64>,
    vals: Vec<f64>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Add one point; metric ids are checked at commit.
    pub fn add(&mut self, id: MetricId, ts: i64, value: f64) {
        self.ids.push(id.0);
        self.ts.push(ts);
        self.vals.push(value);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn clear(&mut self) {
        self.ids.clear();
        self.ts.clear();
        self.vals.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn handle_types_have_the_documented_thread_safety() {
        assert_send_sync::<Database>();
        assert_send_sync::<Snapshot>();
        assert_send::<Cursor>();
        assert_send::<Batch>();
    }
}
