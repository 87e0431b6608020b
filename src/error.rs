//! Errors of the core. Messages follow one rule: lower case, no trailing period, the facts a
//! user needs (ids, timestamps, limits). The C layer prefixes the function name.
use std::fmt;

/// What went wrong in a call into the core.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A metric id or name that names no live metric (in this snapshot, for reads).
    NotFound(String),
    /// A metric with this name already exists; carries its id.
    Exists { name: String, id: crate::MetricId },
    /// A bad argument: empty batch, `from > until`, a name that is too long, ...
    InvalidArgument(String),
    /// The operation would have to wait or would break a live handle (close with live snapshots).
    Busy(String),
    /// The database was closed.
    Closed,
    /// An I/O error, with the path and operation.
    Io(String),
    /// Stored data failed its checks; names file and offset.
    Corruption(String),
    /// Writes are refused because of an earlier failure, `cause` (which says what failed):
    /// a failed checkpoint or log sync (`recoverable`: a later checkpoint that succeeds
    /// ends it), or a change stopped half way (close and reopen). Reads go on.
    Failed { cause: Box<Error>, recoverable: bool },
    /// A bug in libtsdb (a caught panic, a broken invariant).
    Internal(String),
}

/// Result of the core API.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound(m)
            | Error::InvalidArgument(m)
            | Error::Busy(m)
            | Error::Io(m)
            | Error::Corruption(m)
            | Error::Internal(m) => f.write_str(m),
            Error::Exists { name, id } => {
                write!(f, "metric already exists (name={name:?}, id={})", id.0)
            }
            Error::Closed => f.write_str("database is closed"),
            Error::Failed { cause, recoverable: true } => write!(
                f,
                "writes are refused since an earlier failure ({cause}); they resume once a checkpoint \
                 succeeds (the database retries every second; ts_checkpoint tries now), or after closing \
                 and reopening"
            ),
            Error::Failed { cause, recoverable: false } => write!(
                f,
                "database is in a failed state after an earlier error ({cause}); close and reopen it \
                 (reopening replays the log: nothing acknowledged is lost)"
            ),
        }
    }
}

impl std::error::Error for Error {}

pub(crate) fn not_found(id: crate::MetricId) -> Error {
    Error::NotFound(format!("no live metric with this id (id={})", id.0))
}
