//! The read side: snapshots, cursors (the head-over-sealed merge) and aggregates. Reads take
//! no writer lock: a snapshot holds an immutable version of the global transaction.
pub(crate) mod aggregate;
mod snapshot;

pub use aggregate::Agg;
pub use snapshot::{Cursor, Snapshot};
