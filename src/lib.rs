//! libtsdb: an embeddable time-series storage engine.
//!
//! The safe Rust API lives in this crate's root ([`Database`], [`Snapshot`], [`Cursor`],
//! [`Batch`]); the C API in `src/ffi/` is a thin layer over it. `unsafe` code lives only
//! there and in `src/sys/`, the one seam to the operating system. See
//! `docs/architecture.md` for how the pieces fit together.
#![deny(unsafe_code)]

mod bytes;
mod catalog;
pub mod codec;
mod db;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod inspect;
mod options;
mod partition;
mod read;
mod storage;
mod sys;
mod txn;

pub mod ffi;

/// Fault injection for tests (feature `fault-injection`): fail the Nth file-system call.
#[cfg(feature = "fault-injection")]
pub use sys::fault;

pub use db::{Batch, Database, Stats, StorageStats};
pub use error::{Error, Result};
pub use inspect::{CheckReport, Inventory};
pub use options::{
    DEFAULT_CHECKPOINT_BYTES, DEFAULT_HEAD_RUN_POINTS, DEFAULT_PARTITION_POINTS, DEFAULT_RAW_HEAD_BUDGET,
    DEFAULT_SYNC_INTERVAL_MS, MAX_PARTITION_POINTS, MIN_PARTITION_POINTS, MIN_WAL_SEGMENT_BYTES, Options,
    SyncPolicy,
};
pub use read::{Agg, Cursor, Snapshot};

/// A metric's stable id: assigned at creation, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricId(pub u64);

/// Sequence number of a committed write; snapshots see writes with `seq <=` their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqNo(pub u64);

/// The library version, the same string as `ts_version()` and Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Largest timestamp a point may have: scans end before an exclusive `until`, so a point
/// at `i64::MAX` could never be read.
pub const MAX_TIMESTAMP: i64 = i64::MAX - 1;

/// Longest metric name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 1024;

/// Most points one write may carry (`insert_batch`, a [`Batch`] commit): each write is one
/// log record, whose length is a u32, and this keeps the largest record (24 bytes a point in
/// a batch) well under 4 GiB.
pub const MAX_BATCH_POINTS: usize = 1 << 27;
