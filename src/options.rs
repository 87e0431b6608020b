//! Options of a database, with their defaults.
use crate::{Error, Result};

/// Options for [`crate::Database::open`]. `Options::default()` gives the documented defaults.
#[derive(Clone, Debug)]
pub struct Options {
    /// Create the database directory when it does not exist (default: true).
    pub create_if_missing: bool,
    /// A metric's head partition is sealed once it holds this many points; sealed
    /// partitions hold up to twice this many (default: 4096).
    pub partition_points: u32,
    /// A head's newest points stay uncompressed (24 bytes each) until this many have
    /// gathered; they then become one compressed run of a few bytes a point (default: 16),
    /// unless the head fits in `raw_head_budget`. Lower saves memory when many metrics have
    /// partly filled heads, at some CPU per write. See `docs/architecture.md`.
    pub head_run_points: u32,
    /// Bytes of uncompressed head points the database may hold in all (default: 64 MiB).
    /// Within it, heads stay raw until sealed (no compression work on the write path: the
    /// fastest ingest); beyond it, each head's newest points are compressed into runs once
    /// `head_run_points` have gathered. 0 compresses every head. The budget is kept in units
    /// of whole heads (`partition_points` x 24 bytes).
    pub raw_head_budget: u64,
    /// When acknowledged writes reach the disk (default: [`SyncPolicy::Interval`] of 100 ms).
    pub sync: SyncPolicy,
    /// A checkpoint runs (in the background) once this many bytes of write-ahead log have
    /// been written since the last one (default: 64 MiB). Open replays at most about this
    /// much log; smaller values mean faster opens and more checkpoint work.
    pub checkpoint_bytes: u64,
    /// Default retention span, in timestamp units (default: 0, keep everything). A sealed
    /// partition whose points are all older than its metric's newest sealed timestamp minus
    /// the span is dropped by background work (logged like a range delete; snapshots still
    /// read it). A metric's own setting (`Database::set_retention`) overrides it.
    pub retention: i64,
    /// Bytes of a write-ahead log segment, preallocated when the log starts one (default:
    /// 0, which means half of `checkpoint_bytes`, within 1..=64 MiB). Any other value is
    /// used as given, at least [`MIN_WAL_SEGMENT_BYTES`]; a record longer than a segment gets a
    /// segment of its own size.
    pub wal_segment_bytes: u64,
}

/// When the write-ahead log is forced to stable storage. Every acknowledged write is in the
/// log (in the page cache) when its call returns, so a crash of the process loses nothing
/// under any policy; the policy only decides what a power loss or OS crash may lose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync before each write returns (concurrent writers share one fsync): power-loss safe.
    Always,
    /// fsync at most every this many milliseconds, from a background thread: a power loss
    /// loses at most about that much.
    Interval(u32),
    /// Never fsync explicitly (the OS writes back in its own time); `ts_close` still does.
    None,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            partition_points: DEFAULT_PARTITION_POINTS,
            head_run_points: DEFAULT_HEAD_RUN_POINTS,
            raw_head_budget: DEFAULT_RAW_HEAD_BUDGET,
            sync: SyncPolicy::Interval(DEFAULT_SYNC_INTERVAL_MS),
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
            retention: 0,
            wal_segment_bytes: 0,
        }
    }
}

/// Default of [`Options::partition_points`].
pub const DEFAULT_PARTITION_POINTS: u32 = 4096;
/// Smallest accepted [`Options::partition_points`].
pub const MIN_PARTITION_POINTS: u32 = 2;
/// Largest accepted [`Options::partition_points`]: sealed partitions hold up to twice this,
/// which must stay within one codec block ([`crate::codec::MAX_BLOCK_POINTS`]).
pub const MAX_PARTITION_POINTS: u32 = 1 << 19;

/// Default of [`Options::head_run_points`].
pub const DEFAULT_HEAD_RUN_POINTS: u32 = 16;
/// Default interval of [`SyncPolicy::Interval`].
pub const DEFAULT_SYNC_INTERVAL_MS: u32 = 100;
/// Default of [`Options::checkpoint_bytes`].
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 64 << 20;
/// Default of [`Options::raw_head_budget`].
pub const DEFAULT_RAW_HEAD_BUDGET: u64 = 64 << 20;
/// Smallest accepted [`Options::wal_segment_bytes`] other than 0.
pub const MIN_WAL_SEGMENT_BYTES: u64 = 4096;
/// Bytes one raw head point takes (timestamp, value and sequence number).
pub const RAW_POINT_BYTES: u64 = 24;

impl Options {
    /// Set [`Options::head_run_points`]: 1 ..= [`MAX_PARTITION_POINTS`].
    pub fn set_head_run_points(&mut self, n: u32) -> Result<()> {
        if !(1..=MAX_PARTITION_POINTS).contains(&n) {
            return Err(Error::InvalidArgument(format!(
                "head_run_points out of range (got {n}, allowed 1..={MAX_PARTITION_POINTS})"
            )));
        }
        self.head_run_points = n;
        Ok(())
    }

    /// Set [`Options::partition_points`], checking its range.
    pub fn set_partition_points(&mut self, n: u32) -> Result<()> {
        if !(MIN_PARTITION_POINTS..=MAX_PARTITION_POINTS).contains(&n) {
            return Err(Error::InvalidArgument(format!(
                "partition_points out of range (got {n}, allowed {MIN_PARTITION_POINTS}..={MAX_PARTITION_POINTS})"
            )));
        }
        self.partition_points = n;
        Ok(())
    }

    /// Bytes of a new write-ahead log segment (see [`Options::wal_segment_bytes`]).
    pub(crate) fn wal_segment_len(&self) -> usize {
        match self.wal_segment_bytes {
            0 => (self.checkpoint_bytes / 2).clamp(1 << 20, 64 << 20) as usize,
            n => n.max(MIN_WAL_SEGMENT_BYTES).min(isize::MAX as u64) as usize,
        }
    }

    /// How many heads may stay raw past `head_run_points`: the budget in whole heads.
    pub(crate) fn raw_heads(&self) -> usize {
        (self.raw_head_budget / (u64::from(self.partition_points) * RAW_POINT_BYTES)).min(usize::MAX as u64)
            as usize
    }
}
