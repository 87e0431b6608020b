//! The database: open/close, metrics, writes, snapshots, cursors and atomic batches.
//!
//! Write protocol (see docs/architecture.md): a write appends its record to the write-ahead
//! log, taking a sequence number there (so the log is in sequence order), appends its
//! points to the heads it touches (under their locks), then publishes the number in order.
//! A snapshot is `(version, seq)` taken so that the version was current when `seq` was read;
//! it sees sealed partitions of that version and head points with `seq <=` its own.
mod health;
mod open;
use std::cell::Cell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::codec::MAX_BLOCK_POINTS;
use crate::partition::{
    Head, HeadInner, Part, PartitionMap, Sealed, delete_from_parts, merge_into_parts, sorted_unique,
};
use crate::storage::io_err;
use crate::storage::manifest::{BlockRef, Change, Commit, Header, Manifest, MetricState, PartRef};
use crate::storage::segment::{DataSegment, DataWriter, Reclaim};
use crate::storage::wal::{Record, Replayed, Wal};
use crate::sys::fork::Owner;
use crate::txn::{Sequencer, Version};
use crate::{Error, MAX_BATCH_POINTS, MAX_NAME_LEN, MAX_TIMESTAMP, MetricId, Options, Result, SyncPolicy};
use health::{FailOnUnwind, Health};

/// Counters from [`Database::storage_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Bytes appended to the write-ahead log since open.
    pub wal_bytes: u64,
    /// fsync rounds of the log since open (group commit: one round covers many writes).
    pub wal_syncs: u64,
    /// Sequence number the last checkpoint covers.
    pub checkpoint_seq: u64,
    /// Bytes of the manifest file, and how many of them its current tree uses.
    pub manifest_bytes: u64,
    pub manifest_live_bytes: u64,
}

/// What [`Database::stats`] reports: the figures that show what a database holds and what
/// keeps space alive (a forgotten snapshot shows as an old `oldest_snapshot_age_ms` and a
/// growing `old_snapshot_bytes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live metrics.
    pub metrics: u64,
    /// Points stored: in sealed partitions, plus those in heads not yet sealed (counted as
    /// written: a head point that overwrites another is counted twice until sealed).
    pub points: u64,
    /// Sealed partitions.
    pub partitions: u64,
    /// Bytes the database's files take on disk (`du`: allocated blocks, the log's
    /// preallocated segments included).
    pub disk_bytes: u64,
    /// Bytes of write-ahead log written since the last checkpoint began (what a reopen
    /// would replay, at most).
    pub wal_bytes: u64,
    /// Snapshots (`ts_txn`, and cursors' and listings' own references count as theirs) not
    /// yet released.
    pub live_snapshots: u64,
    /// Age of the oldest of them, to the second (0 when none).
    pub oldest_snapshot_age_ms: u64,
    /// Bytes of data blocks that only snapshots older than the current state keep alive:
    /// disk space their release gives back (at the next checkpoints).
    pub old_snapshot_bytes: u64,
    /// Failures of background work (syncs of the log, checkpoints, retention) since open.
    pub background_errors: u64,
    /// Writes are refused because of an earlier failure; [`Database::health`] says which.
    pub failed: bool,
}

/// An open database. `Database` is `Send + Sync`: share it by reference (or in an `Arc`)
/// between any number of threads.
///
/// It belongs to the process that opened it. In a `fork()`ed child, whose copy would lose
/// its writes and damage the parent's database, every method that writes, checkpoints,
/// closes or reads the files (`stats`, `check`) fails with [`Error::InvalidArgument`]
/// saying so, before taking any lock; `close` gives nothing back, and dropping it there
/// touches no file and joins no thread (its memory is leaked). Snapshots (older or new)
/// read the state inherited at the fork. Open the database again in the child once the
/// parent has closed it.
pub struct Database {
    pub(crate) shared: Arc<Shared>,
    /// The background thread: interval syncs and checkpoints. `None` once stopped.
    background: Option<std::thread::JoinHandle<()>>,
    closed: bool,
}

pub(crate) struct Shared {
    /// The global transaction: the current version.
    pub(crate) current: ArcSwap<Version>,
    /// Serialises building the next version (create, drop, seal).
    writer: Mutex<WriterState>,
    seqr: Sequencer,
    opts: Options,
    /// Heads admitted to stay raw until sealed, and how many may be (`raw_head_budget`).
    raw_heads: AtomicUsize,
    max_raw_heads: usize,
    /// Whether writes are refused, and why (see `health.rs`).
    health: Health,
    path: PathBuf,
    wal: Wal,
    /// Where sealed blocks and checkpoint extents go.
    data: Mutex<DataWriter>,
    /// Deletes data segments once nothing refers to them.
    reclaim: Arc<Reclaim>,
    /// Serialises checkpoints; holds the manifest and the sequence number the last
    /// checkpoint covered.
    pub(crate) checkpointed: Mutex<Checkpointer>,
    /// Metrics changed since the last checkpoint took this list (a head got points, a map
    /// was replaced, a metric was created or dropped); each change adds its id.
    dirty: Mutex<Vec<u64>>,
    /// Metrics a seal or a setting may have given partitions past their retention; the
    /// background thread applies it.
    retention_due: Mutex<Vec<u64>>,
    /// Held by a retention drop from choosing its cut to publishing it (`drop_expired`) and
    /// by `set_retention`: once a setting call returns, no drop chosen under the old
    /// setting is still to come.
    retention_lock: Mutex<()>,
    /// `wal.written()` when the last checkpoint started.
    checkpoint_mark: AtomicU64,
    /// The manifest's size, live size and sequence number after the last checkpoint, for
    /// `storage_stats` (which must not wait for a checkpoint in progress).
    last_checkpoint: Mutex<(u64, u64, u64)>,
    /// Tells the background thread to stop (under the mutex) or to look for work.
    stop: Mutex<bool>,
    wake: Condvar,
    /// The directory's lock, held while the database is open: a second open, from this
    /// process or another, fails with `Busy`. Released when the last reference goes. A
    /// forked child closes its inherited descriptors (`None`) on close or drop: the
    /// parent's lock stays.
    lock: Mutex<Option<open::DirLock>>,
    /// The process that opened the database: a forked child must not use it (`sys::fork`).
    owner: Owner,
}

/// How often the background thread retries a checkpoint while the database is failed.
const RETRY: Duration = Duration::from_secs(1);
/// A checkpoint compacts data segments with more than this share of dead bytes ...
const MAX_DEAD_PERCENT: u64 = 50;
/// ... and the one at close those with more than this: a closed database is about the size
/// of its live blocks.
const CLOSE_MAX_DEAD_PERCENT: u64 = 5;

/// Name of the lock file inside the database directory.
const LOCK_FILE: &str = "LOCK";
const WAL_DIR: &str = "wal";
const DATA_DIR: &str = "data";

pub(crate) struct Checkpointer {
    seq: u64,
    pub(crate) manifest: Manifest,
}

struct WriterState {
    /// Next metric id; ids start at 1 and are never reused.
    next_id: u64,
}

impl Database {
    /// Close the database: stop the background work, write a final checkpoint and delete
    /// the write-ahead log. Fails with [`Error::Busy`], giving the database back, while
    /// snapshots (or cursors, which hold theirs) are alive. If the final checkpoint fails,
    /// or the database is in a failed state that a checkpoint cannot end (a change stopped
    /// half way), the database is closed anyway (`None`) and the error says so: nothing is
    /// lost, the log is kept and the next open replays it. In a forked child:
    /// `InvalidArgument` and `None`, nothing done on disk (see [`Database`]).
    pub fn close(mut self) -> std::result::Result<(), (Option<Database>, Error)> {
        match self.close_in_place() {
            Ok(()) => Ok(()),
            Err(e @ Error::Busy(_)) => Err((Some(self), e)),
            Err(e) => Err((None, e)),
        }
    }

    /// [`Database::close`] for the C API, whose handle must keep its address: on `Busy`
    /// the database stays open and usable; after anything else it is closed, and only
    /// dropping it remains.
    pub(crate) fn close_in_place(&mut self) -> Result<()> {
        if let Err(e) = self.shared.owner.check_strictly() {
            // A forked child: no checkpoint, no file touched, no join of a background thread
            // that does not exist here. Only its copy of the lock descriptors goes, so that
            // it can open the database again once the parent has closed it.
            self.shared.lock.lock().take();
            return Err(e);
        }
        if self.closed {
            return Ok(());
        }
        // Stop the background thread first: a checkpoint in flight holds a snapshot.
        self.stop_background();
        if let Err(e) = self.ensure_closable() {
            self.background = Some(Shared::start_background(&self.shared)?);
            return Err(e);
        }
        self.closed = true;
        let sh = &self.shared;
        if sh.health.is_permanent() {
            // Memory may be half changed: no checkpoint of it. The log is kept as it is, and
            // the next open replays it.
            let _ = sh.wal.sync_all();
            let cause = sh.health.error().expect("failed");
            return Err(Error::Failed {
                cause: Box::new(Error::Io(format!(
                    "closed without a final checkpoint; the log is kept and the next open replays it: {cause}"
                ))),
                recoverable: false,
            });
        }
        let upto = sh.checkpoint(CLOSE_MAX_DEAD_PERCENT, true)?;
        sh.wal.truncate_through(upto, true)?;
        // Nothing runs any more, and the final checkpoint wrote every metric whose blocks
        // moved: segments that died meanwhile are named by no manifest.
        sh.reclaim.committed(u64::MAX)
    }

    fn stop_background(&mut self) {
        if let Some(bg) = self.background.take() {
            *self.shared.stop.lock() = true;
            self.shared.wake.notify_all();
            let _ = bg.join();
            *self.shared.stop.lock() = false;
        }
    }

    /// `Err` (`InvalidArgument`) in a process other than the one that opened the database:
    /// a forked child, which must not use it (see [`Database`]).
    pub(crate) fn check_process(&self) -> Result<()> {
        self.shared.owner.check_strictly()
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

    /// Write a checkpoint now: every acknowledged write goes into the data files and the
    /// manifest, and the write-ahead log before it is deleted. Runs concurrently with
    /// writers and readers; checkpoints also run in the background (see
    /// [`Options::checkpoint_bytes`]) and at [`Database::close`].
    pub fn checkpoint(&self) -> Result<()> {
        self.check_process()?;
        self.shared.checkpoint(MAX_DEAD_PERCENT, false).map(|_| ())
    }

    /// Counters of the storage layer since open (for benchmarks and tools; the full
    /// statistics call comes with issue 6).
    pub fn storage_stats(&self) -> StorageStats {
        let sh = &self.shared;
        let (manifest_bytes, manifest_live_bytes, checkpoint_seq) = *sh.last_checkpoint.lock();
        StorageStats {
            wal_bytes: sh.wal.written(),
            wal_syncs: sh.wal.syncs(),
            checkpoint_seq,
            manifest_bytes,
            manifest_live_bytes,
        }
    }

    /// What the database holds and what keeps space alive. Walks the current state:
    /// O(metrics + partitions), without blocking writers or readers for long (each head's
    /// lock is taken in turn, briefly).
    pub fn stats(&self) -> Result<Stats> {
        self.check_process()?;
        let sh = &*self.shared;
        let v = sh.current.load_full();
        let (mut points, mut partitions, mut current_bytes) = (0u64, 0u64, 0u64);
        for (_, map) in v.ids.range_from(0) {
            partitions += map.parts.len() as u64;
            for p in map.parts.iter() {
                points += p.data.len() as u64;
                current_bytes += p.data.stored_len();
            }
            let h = map.head.lock();
            points += h.len() as u64;
            current_bytes += h.extents().iter().map(|e| e.stored_len()).sum::<u64>();
        }
        let (live_snapshots, oldest) = v.live.figures();
        let block_bytes = sh.reclaim.live_block_bytes();
        Ok(Stats {
            metrics: v.ids.len(),
            points,
            partitions,
            disk_bytes: disk_usage(&sh.path)?,
            wal_bytes: sh.wal.written().saturating_sub(sh.checkpoint_mark.load(Ordering::Relaxed)),
            live_snapshots,
            oldest_snapshot_age_ms: oldest * 1000,
            old_snapshot_bytes: block_bytes.saturating_sub(current_bytes),
            background_errors: sh.health.background_errors(),
            failed: sh.health.current().is_some(),
        })
    }

    /// `Ok` while the database takes writes; otherwise the error writes get
    /// ([`Error::Failed`]), which names what failed: a checkpoint or log sync (in the
    /// background too) that failed, or a change that stopped half way.
    pub fn health(&self) -> Result<()> {
        self.shared.health.check()
    }

    /// The directory this database lives in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Create a metric. Fails with [`Error::Exists`] (carrying the id) if the name is taken.
    pub fn create_metric(&self, name: &str) -> Result<MetricId> {
        check_name(name)?;
        let sh = &*self.shared;
        sh.check_writable()?;
        let (id, ticket, lsn) = {
            let mut w = sh.writer.lock();
            let cur = sh.current.load_full();
            let id = MetricId(w.next_id);
            let after =
                id.0.checked_add(1).ok_or_else(|| Error::Corruption("no metric id left to assign".into()))?;
            let next = cur
                .add_metric(id, name, || PartitionMap::new(id, name.into()))
                .map_err(|id| Error::Exists { name: name.to_owned(), id })?;
            let (ticket, lsn) = sh.wal.append(&Record::Create { id: id.0, name }, &sh.seqr)?;
            w.next_id = after;
            sh.current.store(Arc::new(next));
            sh.mark_dirty(id);
            (id, ticket, lsn)
        };
        // Published only now, with no lock held: publishing waits for every earlier write,
        // and one of those may wait for the writer lock (a seal).
        drop(ticket);
        sh.after_write(lsn)?;
        Ok(id)
    }

    /// Drop metric `id`. Snapshots begun before the drop still read it; its memory is freed
    /// when the last of them is released.
    pub fn drop_metric(&self, id: MetricId) -> Result<()> {
        let sh = &*self.shared;
        sh.check_writable()?;
        let (ticket, lsn) = loop {
            let map = sh.current.load().ids.get(id.0).ok_or_else(|| not_found(id))?.clone();
            // Lock order everywhere: head(s), then the writer lock, then the log.
            let mut head = map.head.lock();
            if head.is_frozen() {
                continue; // sealed meanwhile: the successor map is published; retry on it
            }
            let _w = sh.writer.lock();
            // The map is still current: replacing it would have frozen the head we hold.
            let cur = sh.current.load_full();
            let (ticket, lsn) = sh.wal.append(&Record::Drop { id: id.0 }, &sh.seqr)?;
            sh.release_raw_head(head.freeze());
            sh.current.store(Arc::new(cur.drop_metric(&map)));
            // After publishing, before `map` (which keeps its segments alive) goes: see
            // `Reclaim` for why this order lets checkpoints delete dead segments.
            sh.mark_dirty(id);
            break (ticket, lsn);
        };
        drop(ticket); // with no lock held (see `create_metric`)
        sh.after_write(lsn)
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
        check_batch_len(ts.len())?;
        check_timestamps(ts)?;
        let sh = &*self.shared;
        sh.check_writable()?;
        let (full, lsn) = {
            // Looked up before logging, so the log holds no junk; the map found is the
            // first one tried (one trie walk per insert).
            let v = sh.current.load();
            let map = v.ids.get(id.0).ok_or_else(|| not_found(id))?;
            let (ticket, lsn) = sh.wal.append(&Record::Insert { id: id.0, ts, vals: values }, &sh.seqr)?;
            (sh.push_points(id, Some(map), ts, values, ticket.seq)?, lsn)
        };
        if full {
            sh.seal(id);
        }
        sh.after_write(lsn)
    }

    /// Apply every point of `batch` atomically: a snapshot sees all of them or none. If any
    /// metric does not exist, nothing is applied. On success the batch is emptied for reuse.
    pub fn commit(&self, batch: &mut Batch) -> Result<()> {
        if batch.is_empty() {
            return Err(Error::InvalidArgument("empty batch (no points added)".into()));
        }
        check_batch_len(batch.len())?;
        check_timestamps(&batch.ts)?;
        let sh = &*self.shared;
        sh.check_writable()?;
        {
            let v = sh.current.load();
            if let Some(&id) = batch.ids.iter().find(|&&id| v.ids.get(id).is_none()) {
                return Err(not_found(MetricId(id)));
            }
        }
        let record = Record::Batch { ids: &batch.ids, ts: &batch.ts, vals: &batch.vals };
        let (to_seal, lsn) = {
            let (ticket, lsn) = sh.wal.append(&record, &sh.seqr)?;
            (sh.push_batch(&batch.ids, &batch.ts, &batch.vals, ticket.seq)?, lsn)
        };
        for id in to_seal {
            sh.seal(id);
        }
        batch.clear();
        sh.after_write(lsn)
    }

    /// Delete metric `id`'s points with `from <= ts < until`, atomically and durably (the
    /// delete is logged). Copy-on-write: sealed partitions wholly inside the range are let
    /// go, the (at most two) reaching across its ends are rewritten, the rest are shared;
    /// snapshots begun before the delete still read the points, and their space returns
    /// when the last of those snapshots is released. Points written after the delete are
    /// kept, whatever their timestamps. `from == until` deletes nothing.
    ///
    /// If writing the rewritten partitions fails after the delete was logged (a full disk),
    /// the error is returned and the database turns failed ([`Error::Failed`] for writes;
    /// reads go on): reopening applies the logged delete.
    pub fn delete_range(&self, id: MetricId, from: i64, until: i64) -> Result<()> {
        self.shared.delete_range(id, from, until)
    }

    /// Set metric `id`'s own retention span (in timestamp units): sealed partitions whose
    /// points are all older than the metric's newest sealed timestamp minus `span` are
    /// dropped by background work. 0 returns the metric to the database's default
    /// ([`Options::retention`]); a negative span keeps everything whatever the default.
    /// Logged and checkpointed like a write. When it returns, no background drop chosen
    /// under the previous setting is still in progress.
    pub fn set_retention(&self, id: MetricId, span: i64) -> Result<()> {
        let sh = &*self.shared;
        sh.check_writable()?;
        // Before the ticket: a background drop holding the lock waits for earlier tickets.
        let _serial = sh.retention_lock.lock();
        let (ticket, lsn) = {
            sh.current.load().ids.get(id.0).ok_or_else(|| not_found(id))?;
            sh.wal.append(&Record::Retention { id: id.0, span }, &sh.seqr)?
        };
        sh.apply_retention_setting(id, span);
        drop(ticket);
        sh.wake.notify_one();
        sh.after_write(lsn)
    }

    /// Apply retention now, to every metric: drop the sealed partitions past their
    /// metric's retention span (each metric's drop is logged as a range delete below the
    /// first partition kept). Returns how many partitions this call dropped (background
    /// drops are not counted, and never drop the same partitions twice). The background
    /// thread does the same for metrics that sealed new partitions; this is for tools,
    /// tests and benchmarks.
    pub fn enforce_retention(&self) -> Result<u64> {
        let sh = &*self.shared;
        sh.owner.check()?; // before the retention lock (a forked child)
        let v = sh.current.load_full();
        let mut dropped = 0;
        for (id, map) in v.ids.range_from(0) {
            if sh.retention_cut(map).is_some() {
                dropped += sh.drop_expired(id)?;
            }
        }
        Ok(dropped)
    }

    /// Begin a snapshot: it sees every write that returned before this call and nothing
    /// that starts after it. O(1); takes no lock and never waits for writers.
    pub fn begin(&self) -> Arc<Snapshot> {
        self.shared.begin()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if !self.shared.owner.is_current() {
            // A forked child (see `close_in_place`): leak everything, so that no drop here
            // (the data writer's segment trimming its file, say) touches the parent's files.
            self.shared.lock.lock().take();
            std::mem::forget(self.background.take());
            std::mem::forget(Arc::clone(&self.shared));
            return;
        }
        // A database dropped without `close` (also with snapshots alive, which keep what
        // they read): a best-effort final checkpoint; the log keeps everything if it fails.
        self.stop_background();
        if !self.closed && !self.shared.health.is_permanent() {
            self.closed = true;
            if let Ok(upto) = self.shared.checkpoint(CLOSE_MAX_DEAD_PERCENT, true) {
                let _ = self.shared.wal.truncate_through(upto, true);
                let _ = self.shared.reclaim.committed(u64::MAX);
            }
        }
        // Segments that drop from now on (with the versions) are closed, not dead.
        self.shared.reclaim.close();
    }
}

impl Shared {
    /// Every write checks this first, before any lock: the process (a relaxed load, see
    /// `sys::fork`), then the failed state.
    #[inline]
    fn check_writable(&self) -> Result<()> {
        self.owner.check()?;
        self.health.check()
    }

    fn begin(&self) -> Arc<Snapshot> {
        loop {
            let version = self.current.load_full();
            let seq = self.seqr.visible();
            // If no version was published meanwhile, every write with a seq <= `seq` is
            // reachable from `version` (in a head or sealed partition of it).
            if Arc::ptr_eq(&self.current.load(), &version) {
                let begun = version.live.begin();
                return Arc::new(Snapshot { version, seq, begun });
            }
        }
    }

    /// After a logged write: sync per the policy, and wake the background thread when a
    /// checkpoint is due.
    fn after_write(&self, lsn: u64) -> Result<()> {
        if lsn.saturating_sub(self.checkpoint_mark.load(Ordering::Relaxed)) >= self.opts.checkpoint_bytes {
            self.wake.notify_one();
        }
        match self.opts.sync {
            SyncPolicy::Always => self.sync_log(Some(lsn), false),
            _ => Ok(()),
        }
    }

    /// fsync the log through `lsn` (all of it for `None`). A failure puts the database in
    /// its failed state: after a failed fsync, which pages reached the disk is unknown, so
    /// no later write may be acknowledged until a checkpoint has made everything durable.
    fn sync_log(&self, lsn: Option<u64>, background: bool) -> Result<()> {
        let r = match lsn {
            Some(lsn) => self.wal.sync_to(lsn),
            None => self.wal.sync_all(),
        };
        if let Err(e) = &r {
            let what = if background { "a background sync of the log" } else { "a sync of the log" };
            if background {
                self.health.background_failed(what, e, false, true);
            } else {
                self.health.fail(what, e, false, true);
            }
        }
        r
    }

    /// Append points to metric `id`'s head with sequence number `seq`, trying `first` (the
    /// metric's map as the caller found it) before looking the current one up; true when the
    /// head is full (the caller seals it).
    fn push_points(
        &self,
        id: MetricId,
        mut first: Option<&PartitionMap>,
        ts: &[i64],
        values: &[f64],
        seq: u64,
    ) -> Result<bool> {
        loop {
            let v;
            let map = match first.take() {
                Some(m) => m,
                None => {
                    v = self.current.load();
                    v.ids.get(id.0).ok_or_else(|| not_found(id))?
                }
            };
            let mut head = map.head.lock();
            if head.is_frozen() {
                // A seal or drop published a successor before unlocking: reload.
                drop(head);
                self.check_writable()?;
                continue;
            }
            head.push_all(ts, values, seq);
            if head.mark_written() {
                self.mark_dirty(id);
            }
            return Ok(
                head.settle(self.opts.partition_points, self.opts.head_run_points, || self.admit_raw_head())
            );
        }
    }

    /// Append a multi-metric batch with sequence number `seq`, under all its heads' locks
    /// at once; returns the metrics whose heads are full.
    fn push_batch(&self, ids: &[u64], ts: &[i64], vals: &[f64], seq: u64) -> Result<Vec<MetricId>> {
        // Group by metric, keeping the order of adds within a metric (later adds win).
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i]);
        let mut groups: Vec<(MetricId, std::ops::Range<usize>)> = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            let id = ids[i];
            match groups.last_mut() {
                Some((gid, r)) if gid.0 == id => r.end = k + 1,
                _ => groups.push((MetricId(id), k..k + 1)),
            }
        }
        let mut to_seal = Vec::new();
        loop {
            let v = self.current.load();
            let mut maps = Vec::with_capacity(groups.len());
            for (id, _) in &groups {
                maps.push(v.ids.get(id.0).ok_or_else(|| not_found(*id))?);
            }
            // Lock every head in id order (no deadlock with other batches), so a drop
            // or seal cannot slip in between the check and the appends.
            let mut heads: Vec<MutexGuard<'_, HeadInner>> = maps.iter().map(|m| m.head.lock()).collect();
            if heads.iter().any(|h| h.is_frozen()) {
                drop(heads);
                self.check_writable()?;
                continue;
            }
            for ((id, range), head) in groups.iter().zip(heads.iter_mut()) {
                for &i in &order[range.clone()] {
                    head.push(ts[i], vals[i], seq);
                }
                if head.mark_written() {
                    self.mark_dirty(*id);
                }
                if head
                    .settle(self.opts.partition_points, self.opts.head_run_points, || self.admit_raw_head())
                {
                    to_seal.push(*id);
                }
            }
            return Ok(to_seal);
        }
    }

    /// Whether one more head may stay raw until sealed (see `Options::raw_head_budget`).
    fn admit_raw_head(&self) -> bool {
        admit(&self.raw_heads, self.max_raw_heads)
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
    /// held just to publish. A seal that fails (a full disk) leaves the head as it is: its
    /// points are in the log, and the next write to the metric tries again.
    fn seal(&self, id: MetricId) {
        let Some(map) = self.current.load().ids.get(id.0).cloned() else { return };
        let mut head = map.head.lock();
        if head.is_frozen() || head.len() < self.opts.partition_points as usize {
            return;
        }
        let guard = FailOnUnwind(&self.health, "a seal");
        let upto = self.seqr.visible();
        if let Ok(Some((next, admitted))) =
            map.seal(&mut head, upto, self.opts.partition_points as usize, &self.data)
        {
            self.release_raw_head(admitted);
            let _w = self.writer.lock();
            // `map` is still current: replacing it would have frozen the head we hold.
            let cur = self.current.load_full();
            let next = Arc::new(next);
            self.current.store(Arc::new(cur.with_map(next.clone())));
            self.mark_dirty(id); // after publishing, while `map` is alive (see `Reclaim`)
            if self.retention_cut(&next).is_some() {
                self.retention_due.lock().push(id.0);
            }
        }
        std::mem::forget(guard);
    }

    /// Load the manifest into the (still private) current version; returns the data
    /// segments it names.
    fn load_manifest(&mut self, data_dir: &Path, header: Header) -> Result<Vec<u64>> {
        let mut segs: HashMap<u64, Arc<DataSegment>> = HashMap::new();
        let reclaim = self.reclaim.clone();
        let mut version = Version::empty();
        let mut seg = |no: u64| -> Result<Arc<DataSegment>> {
            if let Some(s) = segs.get(&no) {
                return Ok(s.clone());
            }
            let s = DataSegment::open(data_dir, no, reclaim.clone())?;
            segs.insert(no, s.clone());
            Ok(s)
        };
        let run_points = self.opts.head_run_points;
        let raw_heads = &self.raw_heads;
        let max_raw = self.max_raw_heads;
        let mut max_id = 0;
        self.checkpointed.get_mut().manifest.load(|m| {
            max_id = m.id;
            let mut parts = Vec::with_capacity(m.parts.len());
            for p in &m.parts {
                parts.push(Part {
                    start: p.start,
                    data: Arc::new(Sealed::on_disk(seg(p.block.seg)?, &p.block)),
                });
            }
            let head = Head::default();
            {
                let mut h = head.lock();
                let (mut ts, mut vals) = (Vec::new(), Vec::new());
                for r in &m.extents {
                    let e = Arc::new(Sealed::on_disk(seg(r.seg)?, r));
                    e.decode_into(&mut ts, &mut vals)?;
                    // Restored points carry seq 0: older than any replayed write, and a
                    // later extent wins over an earlier one by append order.
                    h.push_all(&ts, &vals, 0);
                    h.add_extent(e);
                }
                if h.len() > 0 {
                    h.settle(u32::MAX, run_points, || admit(raw_heads, max_raw));
                }
            }
            let id = MetricId(m.id);
            let name: Arc<str> = m.name.as_str().into();
            let map = PartitionMap {
                id,
                name: name.clone(),
                parts: parts.into(),
                head,
                retention: m.retention.into(),
            };
            version = version.add_metric(id, &m.name, || map).map_err(|other| {
                Error::Corruption(format!(
                    "MANIFEST: metric name {:?} listed twice (ids {} and {})",
                    m.name, other.0, m.id
                ))
            })?;
            Ok(())
        })?;
        // Creates take ids from next_id on: one that a metric holds would replace it.
        let h = header;
        if h.next_id == 0 || h.next_id <= max_id {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: the next metric id is {}, but metric {max_id} exists",
                h.next_id
            )));
        }
        self.checkpointed.get_mut().seq = h.checkpoint_seq;
        let (bytes, live) = self.checkpointed.get_mut().manifest.sizes();
        *self.last_checkpoint.get_mut() = (bytes, live, h.checkpoint_seq);
        self.writer.get_mut().next_id = h.next_id;
        self.seqr.advance_to(h.checkpoint_seq);
        self.current.store(Arc::new(version));
        Ok(segs.into_keys().collect())
    }

    /// Apply one replayed log record (numbered `seq`), as the original write did.
    fn replay(&self, seq: u64, rec: Replayed) -> Result<()> {
        self.seqr.advance_to(seq);
        match rec {
            Replayed::Create { id, name } => {
                let mut w = self.writer.lock();
                let cur = self.current.load_full();
                if cur.ids.get(id).is_none() {
                    let mid = MetricId(id);
                    let next = cur.add_metric(mid, &name, || PartitionMap::new(mid, name.as_str().into())).map_err(
                        |other| {
                            Error::Corruption(format!(
                                "write-ahead log: metric {name:?} created as id {id} while id {} holds the name",
                                other.0
                            ))
                        },
                    )?;
                    self.current.store(Arc::new(next));
                    self.mark_dirty(mid);
                }
                w.next_id = w.next_id.max(id.saturating_add(1));
            }
            Replayed::Drop { id } => {
                let cur = self.current.load_full();
                if let Some(map) = cur.ids.get(id) {
                    self.release_raw_head(map.head.lock().freeze());
                    self.current.store(Arc::new(cur.drop_metric(map)));
                    self.mark_dirty(MetricId(id));
                }
            }
            Replayed::Insert { id, ts, vals } => {
                match self.push_points(MetricId(id), None, &ts, &vals, seq) {
                    Ok(true) => self.seal(MetricId(id)),
                    Ok(false) | Err(Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Replayed::Retention { id, span } => self.apply_retention_setting(MetricId(id), span),
            Replayed::Delete { id, from, until } => {
                // `advance_to` published `seq` itself; nothing runs concurrently in replay.
                self.apply_delete(MetricId(id), from, until, seq)?;
            }
            Replayed::Batch { ids, ts, vals } => {
                // The live commit checked every id; one missing now was dropped later.
                let v = self.current.load();
                let keep: Vec<usize> = (0..ids.len()).filter(|&i| v.ids.get(ids[i]).is_some()).collect();
                drop(v);
                let (ids, ts, vals) = (pick(&keep, &ids), pick(&keep, &ts), pick(&keep, &vals));
                if ids.is_empty() {
                    return Ok(());
                }
                for id in self.push_batch(&ids, &ts, &vals, seq)? {
                    self.seal(id);
                }
            }
        }
        Ok(())
    }

    /// See [`Database::delete_range`].
    fn delete_range(&self, id: MetricId, from: i64, until: i64) -> Result<()> {
        if from > until {
            return Err(Error::InvalidArgument(format!("from > until (from={from}, until={until})")));
        }
        self.check_writable()?;
        let (ticket, lsn) = {
            self.current.load().ids.get(id.0).ok_or_else(|| not_found(id))?;
            if from == until {
                return Ok(());
            }
            self.wal.append(&Record::Delete { id: id.0, from, until }, &self.seqr)?
        };
        // Every write before the delete must be in the heads: wait, holding no lock.
        self.seqr.wait_turn(&ticket);
        let applied = self.apply_delete(id, from, until, ticket.seq);
        if let Err(e) = &applied {
            // Logged but not applied: only a replay of the log can apply it now.
            self.health.fail("a range delete's rewrite, after the delete was logged,", e, true, false);
        }
        drop(ticket);
        applied?;
        self.after_write(lsn)
    }

    /// Apply the delete with sequence number `seq` (every earlier write published, `seq`
    /// itself not yet): publish metric `id`'s map without its points in `[from, until)`
    /// written before `seq`. A metric dropped meanwhile needs nothing.
    fn apply_delete(&self, id: MetricId, from: i64, until: i64, seq: u64) -> Result<()> {
        loop {
            let Some(map) = self.current.load().ids.get(id.0).cloned() else { return Ok(()) };
            let mut head = map.head.lock();
            if head.is_frozen() {
                continue; // replaced meanwhile: retry on its successor
            }
            let guard = FailOnUnwind(&self.health, "a range delete");
            let pts = head.points();
            let doomed = |p: &crate::partition::HeadPoint| p.seq < seq && p.ts >= from && p.ts < until;
            let head_hit = pts.iter().any(doomed);
            let parts = delete_from_parts(&map.parts, from, until, &self.data)?;
            let (parts, new_head) = if head_hit {
                // Seal what the head holds from before the delete, less the range, into the
                // parts; later writes stay in a new head (their seqs are above any
                // checkpoint's, so the next checkpoint writes them all).
                let (old, carry): (Vec<_>, Vec<_>) = pts.into_iter().partition(|p| p.seq < seq);
                let kept: Vec<_> = old.into_iter().filter(|p| p.ts < from || p.ts >= until).collect();
                let (ts, vals) = sorted_unique(kept, head.is_sorted());
                let parts = parts.unwrap_or_else(|| map.parts.to_vec());
                let part_points = self.opts.partition_points as usize;
                let parts = if ts.is_empty() {
                    parts
                } else {
                    merge_into_parts(&parts, &ts, &vals, part_points, &self.data)?
                };
                (parts, Head::with_points(carry))
            } else if let Some(parts) = parts {
                (parts, self.successor_head(&head, head.extents().to_vec()))
            } else {
                std::mem::forget(guard);
                return Ok(()); // nothing in the range
            };
            let next = map.successor(parts, new_head);
            self.publish_successor(&map, &mut head, next);
            std::mem::forget(guard);
            return Ok(());
        }
    }

    /// Metric `id`'s own retention span becomes `span` (under its head's lock, so a
    /// successor map being built copies the new value).
    fn apply_retention_setting(&self, id: MetricId, span: i64) {
        loop {
            let Some(map) = self.current.load().ids.get(id.0).cloned() else { return };
            let head = map.head.lock();
            if head.is_frozen() {
                continue;
            }
            map.retention.store(span, Ordering::Relaxed);
            drop(head);
            self.mark_dirty(id);
            self.retention_due.lock().push(id.0);
            return;
        }
    }

    /// Where retention cuts metric `map`: the end of the range to delete and how many
    /// sealed partitions lie wholly below it; `None` when nothing is past retention.
    fn retention_cut(&self, map: &PartitionMap) -> Option<(i64, u64)> {
        let span = match map.retention() {
            0 => self.opts.retention,
            s => s,
        };
        if span <= 0 {
            return None;
        }
        let newest = map.parts.last()?.data.max_ts();
        let horizon = newest.saturating_sub(span);
        // Partitions are in time order: the expired ones come first.
        let k = map.parts.partition_point(|p| p.data.max_ts() < horizon);
        (k > 0).then(|| (horizon.min(map.parts[k].start), k as u64))
    }

    /// Apply retention to the metrics queued by seals and settings. A failure (a full
    /// disk) leaves the rest for a later pass, and the database failed until a checkpoint
    /// succeeds.
    fn retention_pass(&self) {
        let due = std::mem::take(&mut *self.retention_due.lock());
        for (k, &id) in due.iter().enumerate() {
            if let Err(e) = self.drop_expired(id) {
                self.retention_due.lock().extend_from_slice(&due[k..]);
                if !matches!(e, Error::Failed { .. }) {
                    self.health.background_failed("a background retention pass", &e, false, false);
                }
                return;
            }
        }
    }

    /// Drop metric `id`'s partitions past retention as one logged range delete; returns
    /// how many. The cut is chosen under the retention lock, on the current map, so a
    /// concurrent pass (background or `enforce_retention`) never drops or counts the same
    /// partitions twice, and a `set_retention` returning means no drop under the old span
    /// is still to come.
    fn drop_expired(&self, id: u64) -> Result<u64> {
        let _serial = self.retention_lock.lock();
        let Some((cut, n)) = self.current.load().ids.get(id).and_then(|m| self.retention_cut(m)) else {
            return Ok(0);
        };
        self.delete_range(MetricId(id), i64::MIN, cut)?;
        Ok(n)
    }

    /// A new head holding `head`'s points and the given extents (their copies on disk).
    fn successor_head(&self, head: &HeadInner, extents: Vec<Arc<Sealed>>) -> Head {
        let new_head = Head::with_points(head.points());
        {
            let mut h = new_head.lock();
            for e in extents {
                h.add_extent(e);
            }
            h.set_extents_upto(head.extents_upto());
            h.settle(u32::MAX, self.opts.head_run_points, || self.admit_raw_head());
        }
        new_head
    }

    /// Make `next` metric `map.id`'s current map in place of `map` (current, its head
    /// locked as `head`, not frozen), freezing the old head.
    fn publish_successor(
        &self,
        map: &PartitionMap,
        head: &mut HeadInner,
        next: PartitionMap,
    ) -> Arc<PartitionMap> {
        let next = Arc::new(next);
        self.release_raw_head(head.freeze());
        let _w = self.writer.lock();
        // `map` is current: replacing it would have frozen the head we hold.
        let cur = self.current.load_full();
        self.current.store(Arc::new(cur.with_map(next.clone())));
        drop(_w);
        self.mark_dirty(map.id); // after publishing, while `map` is alive (see `Reclaim`)
        next
    }

    /// Put metric `id` on the list the next checkpoint writes.
    fn mark_dirty(&self, id: MetricId) {
        self.dirty.lock().push(id.0);
    }

    /// Write a checkpoint; returns the sequence number it covers. See docs/format.md.
    /// Only the metrics changed since the last one are written (their head's new points as
    /// an extent, their entry in the manifest's tree). First, if some data segment has more
    /// than `max_dead_percent` dead bytes, its live blocks are copied to the current
    /// segment (compaction), so that it dies once no snapshot reads it.
    fn checkpoint(&self, max_dead_percent: u64, closing: bool) -> Result<u64> {
        let mut cp = self.checkpointed.lock();
        // A failure in force now ends if this checkpoint succeeds: it covers every write
        // acknowledged before it (writes were refused since).
        let failure = self.health.current();
        if failure.as_ref().is_some_and(|f| f.permanent) {
            return Err(self.health.error().expect("failed"));
        }
        if failure.as_ref().is_some_and(|f| f.log_sync) {
            // Pages of the current segment may not have reached the disk: later records go
            // to a new segment, and this checkpoint lets the old ones go.
            self.wal.start_new_segment()?;
        }
        let mark = self.wal.written();
        self.compact_segments(max_dead_percent);
        // The snapshot first, then the list: every write the snapshot sees marked its metric
        // before it was published, so the list holds every metric with points up to the
        // snapshot's sequence number (which the log may then forget).
        let snap = self.begin();
        let (ids, epoch) = {
            let mut d = self.dirty.lock();
            (std::mem::take(&mut *d), self.reclaim.next_epoch())
        };
        let result = self.write_checkpoint(&mut cp, &snap, &ids, closing);
        drop(snap);
        match result {
            Ok((upto, redirty)) => {
                cp.seq = upto;
                let (bytes, live) = cp.manifest.sizes();
                *self.last_checkpoint.lock() = (bytes, live, upto);
                self.checkpoint_mark.store(mark, Ordering::Relaxed);
                // Back on the list before the next checkpoint can take it: one taking the
                // list without them would let the log forget their newer points (found by
                // the model test, with explicit and background checkpoints racing).
                self.dirty.lock().extend(redirty);
                self.health.recovered(&failure);
                self.reclaim.committed(epoch)?;
                self.wal.truncate_through(upto, false)?;
                drop(cp);
                crate::sys::trim_heap();
                Ok(upto)
            }
            Err(e) => {
                self.dirty.lock().extend(ids); // nothing is lost: the next one writes them
                Err(e)
            }
        }
    }

    /// The body of [`Shared::checkpoint`]: returns the sequence number covered and the ids
    /// that must stay on the dirty list.
    fn write_checkpoint(
        &self,
        cp: &mut Checkpointer,
        snap: &Snapshot,
        ids: &[u64],
        closing: bool,
    ) -> Result<(u64, Vec<u64>)> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let upto = snap.seq;
        let current = self.current.load_full();
        let next_id = self.writer.lock().next_id;
        let mut redirty = Vec::new();
        type Entry = (Arc<str>, Vec<PartRef>, Vec<BlockRef>, i64);
        let mut pending: Vec<(u64, Option<Entry>)> = Vec::with_capacity(ids.len());
        for &id in &ids {
            let Some(map) = snap.version.ids.get(id) else {
                // Dropped (the tree forgets it), or created after the snapshot (later).
                if current.ids.get(id).is_some() {
                    redirty.push(id);
                } else {
                    pending.push((id, None));
                }
                continue;
            };
            // Changed since the snapshot (sealed, compacted, dropped): its state as of the
            // snapshot goes in now, the newer one next time.
            if !current.ids.get(id).is_some_and(|m| Arc::ptr_eq(m, map)) {
                redirty.push(id);
            }
            let extents = {
                let mut head = map.head.lock();
                let fresh = head.points_between(head.extents_upto(), upto);
                if !fresh.is_empty() {
                    self.write_extents(&mut head, fresh)?;
                    head.set_extents_upto(upto);
                }
                if head.checkpointed(upto) {
                    redirty.push(id);
                }
                head.extents().iter().map(|e| e.block_ref().expect("extents are on disk")).collect()
            };
            let parts = map
                .parts
                .iter()
                .map(|p| PartRef { start: p.start, block: p.data.block_ref().expect("parts are on disk") })
                .collect();
            pending.push((id, Some((map.name.clone(), parts, extents, map.retention()))));
        }
        let fsync = closing || self.opts.sync != SyncPolicy::None;
        let (unsynced, next_data_seg) = {
            let mut d = self.data.lock();
            (d.take_unsynced(fsync), d.next_no())
        };
        // Not under the data writer's lock: seals would wait for the disk (tens of ms for a
        // checkpoint's worth of blocks), and their new blocks belong to the next checkpoint.
        if let Some(e) = unsynced.iter().find_map(|seg| seg.sync().err()) {
            self.data.lock().untake(unsynced);
            return Err(e);
        }
        let changes: Vec<Change<'_>> = pending
            .iter()
            .map(|(id, e)| Change {
                id: *id,
                state: e.as_ref().map(|(n, p, x, r)| MetricState {
                    name: n,
                    parts: p,
                    extents: x,
                    retention: *r,
                }),
            })
            .collect();
        let log = Some(self.wal.log_start(upto, closing)?);
        cp.manifest.commit(
            &changes,
            Commit { checkpoint_seq: upto, next_id, next_data_seg, log },
            fsync,
            closing,
        )?;
        Ok((upto, redirty))
    }

    /// Persist `fresh` head points as extents. Like a binary counter, the new points absorb
    /// the newest extents while those are no larger than twice them, so a head that gets a
    /// few points per checkpoint keeps O(log n) extents and each point is rewritten O(log n)
    /// times before the head seals. Written as blocks of at most `MAX_BLOCK_POINTS` (one
    /// batch may bring millions of points). On failure the head's extents are as they were:
    /// the manifest still names them.
    fn write_extents(&self, head: &mut HeadInner, fresh: Vec<crate::partition::HeadPoint>) -> Result<()> {
        let (mut ts, mut vals) = sorted_unique(fresh, head.is_sorted());
        let mut merged = Vec::new();
        let restore = |head: &mut HeadInner, merged: Vec<Arc<Sealed>>| {
            for x in merged.into_iter().rev() {
                head.add_extent(x);
            }
        };
        while ts.len() < MAX_BLOCK_POINTS {
            let room = MAX_BLOCK_POINTS - ts.len();
            let Some(old) = head.pop_extent_up_to((2 * ts.len()).min(room)) else { break };
            let m = old.merged_with(&ts, &vals);
            merged.push(old);
            match m {
                Ok(m) => (ts, vals) = m,
                Err(e) => {
                    restore(head, merged);
                    return Err(e);
                }
            }
        }
        let mut new = Vec::with_capacity(ts.len().div_ceil(MAX_BLOCK_POINTS));
        for (t, v) in ts.chunks(MAX_BLOCK_POINTS).zip(vals.chunks(MAX_BLOCK_POINTS)) {
            match Sealed::encode(t, v, &self.data) {
                Ok(e) => new.push(Arc::new(e)),
                Err(e) => {
                    restore(head, merged);
                    return Err(e);
                }
            }
        }
        for e in new {
            head.add_extent(e);
        }
        Ok(())
    }

    /// Copy the live blocks of mostly dead data segments into the current one, publishing
    /// the moved maps (a pass over every metric, run only when some segment qualifies).
    fn compact_segments(&self, max_dead_percent: u64) {
        let limit = {
            let mut d = self.data.lock();
            if d.current().is_some_and(|c| c.mostly_dead(max_dead_percent)) {
                d.rotate();
            }
            let cur = d.current().map(|c| c.no);
            if !self.reclaim.any_mostly_dead(max_dead_percent, cur) {
                return;
            }
            cur.unwrap_or(d.next_no())
        };
        let movable =
            |d: &Sealed| d.segment().is_some_and(|s| s.no < limit && s.mostly_dead(max_dead_percent));
        let version = self.current.load_full();
        for (_, map) in version.ids.range_from(0) {
            let mut head = map.head.lock();
            if !head.is_frozen()
                && (map.parts.iter().any(|p| movable(&p.data)) || head.extents().iter().any(|e| movable(e)))
            {
                self.compact_map(map, &mut head, &movable);
            }
        }
    }

    /// Publish a copy of `map` (whose head, locked, is `head` and not frozen) with its
    /// movable blocks copied to the current data segment. `None` (nothing changed) when a
    /// copy fails: the block stays where it is, and a damaged one is reported when read.
    fn compact_map(
        &self,
        map: &PartitionMap,
        head: &mut HeadInner,
        movable: &dyn Fn(&Sealed) -> bool,
    ) -> Option<Arc<PartitionMap>> {
        let copy = |d: &Arc<Sealed>| -> Result<Arc<Sealed>> {
            if movable(d) { Ok(Arc::new(d.copy_to(&self.data)?)) } else { Ok(d.clone()) }
        };
        let parts: Vec<Part> = map
            .parts
            .iter()
            .map(|p| copy(&p.data).map(|data| Part { start: p.start, data }))
            .collect::<Result<_>>()
            .ok()?;
        let extents: Vec<Arc<Sealed>> = head.extents().iter().map(copy).collect::<Result<_>>().ok()?;
        let head_copy = self.successor_head(head, extents);
        let next = map.successor(parts, head_copy);
        Some(self.publish_successor(map, head, next))
    }

    fn start_background(this: &Arc<Shared>) -> Result<std::thread::JoinHandle<()>> {
        let sh = this.clone();
        std::thread::Builder::new()
            .name("tsdb-background".into())
            .spawn(move || sh.background())
            .map_err(|e| Error::Io(format!("cannot start the background thread: {e}")))
    }

    /// The background thread: syncs the log every interval (`SyncPolicy::Interval`),
    /// applies retention, and checkpoints once `checkpoint_bytes` of log have been written
    /// since the last one. A failure of any of it puts the database in its failed state
    /// (writes are refused with the cause, `stats` shows it); a failed checkpoint or sync is
    /// retried, by a checkpoint every [`RETRY`], and ends the failed state when one succeeds.
    /// A panic (a bug) is caught: the database turns failed for good, and the thread goes
    /// on syncing the log.
    fn background(self: Arc<Self>) {
        let tick = match self.opts.sync {
            SyncPolicy::Interval(ms) => ms.min(100),
            _ => 100,
        };
        let mut last_sync = Instant::now();
        let mut last_retry = Instant::now();
        let mut stop = self.stop.lock();
        while !*stop {
            self.wake.wait_for(&mut stop, Duration::from_millis(u64::from(tick)));
            if *stop {
                break;
            }
            drop(stop);
            let work = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.background_round(&mut last_sync, &mut last_retry)
            }));
            if let Err(panic) = work {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                let cause = Error::Internal(format!("a panic (a bug in libtsdb; please report it): {what}"));
                self.health.background_failed("background work", &cause, true, false);
            }
            stop = self.stop.lock();
        }
    }

    /// One round of the background thread's work.
    fn background_round(&self, last_sync: &mut Instant, last_retry: &mut Instant) {
        if let SyncPolicy::Interval(ms) = self.opts.sync
            && last_sync.elapsed() >= Duration::from_millis(u64::from(ms))
        {
            *last_sync = Instant::now();
            let _ = self.sync_log(None, true); // a failure is recorded and retried
        }
        let failure = self.health.current();
        if failure.as_ref().is_some_and(|f| f.permanent) {
            return; // only reopening helps; keep syncing what the log has
        }
        if failure.is_some() {
            if last_retry.elapsed() >= RETRY {
                *last_retry = Instant::now();
                let _ = self.checkpoint(MAX_DEAD_PERCENT, false); // ends the failure on success
            }
            return;
        }
        if !self.retention_due.lock().is_empty() {
            self.retention_pass();
        }
        let due = self.wal.written().saturating_sub(self.checkpoint_mark.load(Ordering::Relaxed));
        if (due >= self.opts.checkpoint_bytes || self.reclaim.pending())
            && let Err(e) = self.checkpoint(MAX_DEAD_PERCENT, false)
        {
            *last_retry = Instant::now();
            self.health.background_failed("a background checkpoint", &e, false, false);
        }
    }
}

/// Take one of `max` places counted by `taken`, if one is free.
fn admit(taken: &AtomicUsize, max: usize) -> bool {
    taken.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < max).then_some(n + 1)).is_ok()
}

/// The elements of `xs` at positions `keep`.
fn pick<T: Copy>(keep: &[usize], xs: &[T]) -> Vec<T> {
    keep.iter().map(|&i| xs[i]).collect()
}

/// Bytes the files under `dir` take on disk (allocated blocks, as `du` counts).
fn disk_usage(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let entries = crate::sys::read_dir(dir).map_err(|e| io_err("cannot list directory", dir, &e))?;
    for e in entries {
        let e = e.map_err(|e| io_err("cannot list directory", dir, &e))?;
        let path = e.path();
        // A file deleted meanwhile (a checkpoint's) counts as gone.
        let Ok(md) = std::fs::symlink_metadata(&path) else { continue };
        total += md.blocks() * 512;
        if md.is_dir() {
            total += disk_usage(&path)?;
        }
    }
    Ok(total)
}

pub(crate) fn not_found(id: MetricId) -> Error {
    Error::NotFound(format!("no live metric with this id (id={})", id.0))
}

fn check_batch_len(n: usize) -> Result<()> {
    if n > MAX_BATCH_POINTS {
        return Err(Error::InvalidArgument(format!(
            "too many points in one write ({n}; at most {MAX_BATCH_POINTS}): split it into several"
        )));
    }
    Ok(())
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
    if name.contains('\0') {
        // C callers could never name it, nor read it back as a C string.
        return Err(Error::InvalidArgument(format!("metric name contains a NUL byte (name={name:?})")));
    }
    Ok(())
}

/// A consistent, read-only view of the database at one instant. Shareable between threads
/// (`Send + Sync`); cursors hold an `Arc` of it, so it lives until the last of them is freed.
pub struct Snapshot {
    /// The version it reads; holding it is what makes the snapshot live for `close`.
    pub(crate) version: Arc<Version>,
    pub(crate) seq: u64,
    /// When it began, for [`Database::stats`].
    begun: u64,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.version.live.end(self.begun);
    }
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
    /// were written; 0 means the cursor is exhausted (and stays so). A damaged block on
    /// disk is [`Error::Corruption`] naming its file and offset; the points before it in
    /// this call are lost to the caller, and the cursor should be dropped.
    pub fn next_batch(&mut self, mut ts: Option<&mut [i64]>, mut vals: Option<&mut [f64]>) -> Result<usize> {
        let cap = match (&ts, &vals) {
            (Some(t), Some(v)) => t.len().min(v.len()),
            (Some(t), None) => t.len(),
            (None, Some(v)) => v.len(),
            (None, None) => return Ok(0),
        };
        let mut n = 0;
        while n < cap {
            if self.pos == self.end
                && let (Some(t), Some(v)) = (ts.as_deref_mut(), vals.as_deref_mut())
                && let Some(k) = self.decode_next_part_to(&mut t[n..cap], &mut v[n..cap])?
            {
                n += k;
                continue;
            }
            if self.pos == self.end && !self.open_next_part()? {
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
        Ok(n)
    }

    /// When the next part lies wholly in range, no head point comes before its end and the
    /// caller's buffers hold it all, decode it straight into them (no intermediate copy)
    /// and return its length.
    fn decode_next_part_to(&mut self, ts: &mut [i64], vals: &mut [f64]) -> Result<Option<usize>> {
        let Some(part) = self.map.parts.get(self.next_part).filter(|_| self.next_part < self.parts_end)
        else {
            return Ok(None);
        };
        let data = &part.data;
        let k = data.len();
        let clear_of_head = self.head_ts.get(self.hpos).is_none_or(|&h| h > data.max_ts());
        if data.min_ts() < self.from || data.max_ts() >= self.until || !clear_of_head || k > ts.len() {
            return Ok(None);
        }
        data.decode_to(&mut ts[..k], &mut vals[..k])?;
        self.next_part += 1;
        Ok(Some(k))
    }

    /// Open the next overlapping sealed part with points in range; false when none is left.
    fn open_next_part(&mut self) -> Result<bool> {
        while self.next_part < self.parts_end {
            let part = &self.map.parts[self.next_part].data;
            part.decode_overlapping(self.from, self.until, &mut self.part_ts, &mut self.part_vals)?;
            self.next_part += 1;
            let ts = &self.part_ts;
            self.pos = ts.partition_point(|&t| t < self.from);
            self.end = ts.partition_point(|&t| t < self.until);
            if self.pos < self.end {
                return Ok(true);
            }
        }
        self.pos = 0;
        self.end = 0;
        Ok(false)
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

/// One point at a time; an `Err` (a damaged block) ends the iteration.
impl Iterator for Cursor {
    type Item = Result<(i64, f64)>;
    fn next(&mut self) -> Option<Result<(i64, f64)>> {
        let (mut t, mut v) = ([0i64], [0f64]);
        match self.next_batch(Some(&mut t), Some(&mut v)) {
            Ok(1) => Some(Ok((t[0], v[0]))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
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

    /// Add `ts[i], values[i]` for metric `id` (as many points as the shorter slice holds).
    pub fn add_many(&mut self, id: MetricId, ts: &[i64], values: &[f64]) {
        let n = ts.len().min(values.len());
        self.ids.extend(std::iter::repeat_n(id.0, n));
        self.ts.extend_from_slice(&ts[..n]);
        self.vals.extend_from_slice(&values[..n]);
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
