//! The database: open/close, metrics, writes, snapshots, cursors and atomic batches.
//!
//! Write protocol (see docs/architecture.md): a write appends its record to the write-ahead
//! log, taking a sequence number there (so the log is in sequence order), appends its
//! points to the heads it touches (under their locks), then publishes the number in order.
//! A snapshot is `(version, seq)` taken so that the version was current when `seq` was read;
//! it sees sealed partitions of that version and head points with `seq <=` its own.
mod background;
mod change;
mod checkpoint;
mod health;
mod open;
mod stats;
mod write;

pub use stats::{Stats, StorageStats};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
pub use write::Batch;

use parking_lot::Mutex;

use crate::read::Snapshot;
use crate::storage::store::Store;
use crate::storage::wal::Wal;
use crate::sys::fork::Owner;
use crate::txn::Global;
use crate::{Error, Options, Result};
use health::Health;

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
    /// The global transaction: the current version, the writer lock, the sequencer.
    pub(crate) txn: Global,
    opts: Options,
    /// Heads admitted to stay raw until sealed (`Options::raw_head_budget`).
    raw_heads: RawHeads,
    /// Whether writes are refused, and why (see `health.rs`).
    health: Health,
    wal: Wal,
    /// The directory: its lock, the data segments, the manifest.
    pub(crate) store: Store,
    /// What checkpoints keep between them.
    checkpoints: Checkpoints,
    retention: Retention,
    /// Tells the background thread to stop or to look for work.
    signal: Signal,
    /// The process that opened the database: a forked child must not use it (`sys::fork`).
    owner: Owner,
}

/// What checkpoints keep between them.
#[derive(Default)]
struct Checkpoints {
    /// Metrics changed since the last checkpoint took this list (a head got points, a map
    /// was replaced, a metric was created or dropped); each change adds its id.
    dirty: Mutex<Vec<u64>>,
    /// `wal.written()` when the last checkpoint started.
    mark: AtomicU64,
    /// The last checkpoint's figures, for `storage_stats` (which must not wait for a
    /// checkpoint in progress).
    last: Mutex<CheckpointFigures>,
}

/// What the last checkpoint left.
#[derive(Clone, Copy, Default)]
struct CheckpointFigures {
    /// Bytes of the manifest file, and how many of them its tree uses.
    manifest_bytes: u64,
    manifest_live_bytes: u64,
    /// The sequence number it covers.
    seq: u64,
}

/// Retention's work and its serialisation.
#[derive(Default)]
struct Retention {
    /// Metrics a seal or a setting may have given partitions past their retention; the
    /// background thread applies it.
    due: Mutex<Vec<u64>>,
    /// Held by a retention drop from choosing its cut to publishing it (`drop_expired`) and
    /// by `set_retention`: once a setting call returns, no drop chosen under the old
    /// setting is still to come.
    lock: Mutex<()>,
}

/// Tells the background thread to stop (under the mutex) or to look for work.
///
/// The standard library's mutex and condition variable, not parking_lot's: a thread parked
/// on a parking_lot condvar stays linked in parking_lot's process-wide queue table, and in
/// a `fork()`ed child that entry outlives its thread. glibc hands the dead thread's stack
/// (and so the address of its queue entry) to the child's next thread, and the child's
/// own database's background thread, parking there, made the queue a cycle that its
/// `close` walked forever (tests/fork.rs hung about once in 30 runs). The background
/// thread is parked nearly all the time, so it is the one that must not be in that table;
/// std's condvar waits on its own futex word.
#[derive(Default)]
struct Signal {
    stop: std::sync::Mutex<bool>,
    wake: std::sync::Condvar,
}

impl Signal {
    /// The stop flag, locked (a panic while it was held poisons nothing it guards).
    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        self.stop.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The raw-head budget: how many heads may stay uncompressed until sealed.
struct RawHeads {
    taken: AtomicUsize,
    max: usize,
}

impl RawHeads {
    fn new(max: usize) -> RawHeads {
        RawHeads { taken: AtomicUsize::new(0), max }
    }

    /// Take a place for one more raw head, if one is free.
    fn admit(&self) -> bool {
        self.taken
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < self.max).then_some(n + 1))
            .is_ok()
    }

    /// Give back an admitted head's place.
    fn release(&self, admitted: bool) {
        if admitted {
            self.taken.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A checkpoint compacts data segments with more than this share of dead bytes ...
const MAX_DEAD_PERCENT: u64 = 50;
/// ... and the one at close those with more than this: a closed database is about the size
/// of its live blocks.
const CLOSE_MAX_DEAD_PERCENT: u64 = 5;

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
            self.shared.store.release_lock();
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
        sh.store.reclaim().committed(u64::MAX)
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
        let cur = self.shared.txn.load_full();
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
        self.shared.store.dir()
    }

    /// Begin a snapshot: it sees every write that returned before this call and nothing
    /// that starts after it. O(1); takes no lock and never waits for writers.
    pub fn begin(&self) -> Arc<Snapshot> {
        Arc::new(self.shared.begin())
    }

    /// [`Database::begin`], the snapshot not yet in an `Arc`: `ts_txn_begin` puts it in an
    /// allocation it recycles.
    #[inline]
    pub(crate) fn begin_unshared(&self) -> Snapshot {
        self.shared.begin()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if !self.shared.owner.is_current() {
            // A forked child (see `close_in_place`): leak everything, so that no drop here
            // (the data writer's segment trimming its file, say) touches the parent's files.
            self.shared.store.release_lock();
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
                let _ = self.shared.store.reclaim().committed(u64::MAX);
            }
        }
        // Segments that drop from now on (with the versions) are closed, not dead.
        self.shared.store.reclaim().close();
    }
}

impl Shared {
    #[inline]
    fn begin(&self) -> Snapshot {
        let (version, seq) = self.txn.begin();
        let begun = version.live.begin();
        Snapshot { version, seq, begun }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::read::Cursor;

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
