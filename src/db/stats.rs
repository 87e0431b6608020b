//! What a database holds and what keeps space alive: `stats`, `storage_stats`, `health`.
use std::sync::atomic::Ordering;

use super::Database;
use crate::Result;

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

impl Database {
    /// Counters of the storage layer since open, for benchmarks and tools ([`Database::stats`]
    /// has the figures users watch).
    pub fn storage_stats(&self) -> StorageStats {
        let sh = &self.shared;
        let last = *sh.checkpoints.last.lock();
        StorageStats {
            wal_bytes: sh.wal.written(),
            wal_syncs: sh.wal.syncs(),
            checkpoint_seq: last.seq,
            manifest_bytes: last.manifest_bytes,
            manifest_live_bytes: last.manifest_live_bytes,
        }
    }

    /// What the database holds and what keeps space alive. Walks the current state:
    /// O(metrics + partitions), without blocking writers or readers for long (each head's
    /// lock is taken in turn, briefly).
    pub fn stats(&self) -> Result<Stats> {
        self.check_process()?;
        let sh = &*self.shared;
        let v = sh.txn.load_full();
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
        let block_bytes = sh.store.reclaim().live_block_bytes();
        Ok(Stats {
            metrics: v.ids.len(),
            points,
            partitions,
            disk_bytes: sh.store.disk_usage()?,
            wal_bytes: sh.wal.written().saturating_sub(sh.checkpoints.mark.load(Ordering::Relaxed)),
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
}
