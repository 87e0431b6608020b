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
}

impl Default for Options {
    fn default() -> Self {
        Options { create_if_missing: true, partition_points: DEFAULT_PARTITION_POINTS }
    }
}

/// Default of [`Options::partition_points`].
pub const DEFAULT_PARTITION_POINTS: u32 = 4096;
/// Smallest accepted [`Options::partition_points`].
pub const MIN_PARTITION_POINTS: u32 = 2;
/// Largest accepted [`Options::partition_points`]: sealed partitions hold up to twice this,
/// which must stay within one codec block ([`crate::codec::MAX_BLOCK_POINTS`]).
pub const MAX_PARTITION_POINTS: u32 = 1 << 19;

impl Options {
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
}
