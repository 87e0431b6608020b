//! The failed state: when the database cannot keep its promises, writes are refused with
//! the cause, instead of being acknowledged while something is silently wrong.
//!
//! Two kinds of failure:
//! - **Recoverable:** durability is in doubt but memory is consistent: a background
//!   checkpoint or retention pass failed, or an fsync of the log did (an explicit
//!   `checkpoint` that fails only returns its error). A checkpoint that
//!   then succeeds writes everything acknowledged into the data files and the manifest, so
//!   it ends the failed state (the background thread retries one every second).
//! - **Permanent:** a change to the in-memory state stopped half way (a panic, or a range
//!   delete whose rewrite failed after it was logged). Only reopening, which replays the
//!   log, repairs it; closing writes no checkpoint.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::Error;

/// Why writes are refused.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    /// What failed, with its own message: "a background checkpoint failed: ...".
    pub cause: Error,
    pub permanent: bool,
    /// It was an fsync of the log: the recovering checkpoint starts a new log segment, so no
    /// later record shares a segment with pages whose write-back failed.
    pub log_sync: bool,
}

#[derive(Default)]
pub(crate) struct Health {
    /// Whether `failure` is set: the one load a write pays.
    failed: AtomicBool,
    failure: Mutex<Option<Failure>>,
    /// Failures of background work since open (each counted, also while failed).
    background_errors: AtomicU64,
}

impl Health {
    /// `Ok` unless writes are refused.
    #[inline]
    pub fn check(&self) -> crate::Result<()> {
        if self.failed.load(Ordering::Acquire) { Err(self.error().unwrap_or(Error::Closed)) } else { Ok(()) }
    }

    /// The error a refused write gets, if writes are refused.
    pub fn error(&self) -> Option<Error> {
        let f = self.failure.lock().clone()?;
        Some(Error::Failed { cause: Box::new(f.cause), recoverable: !f.permanent })
    }

    /// The failure in force.
    pub fn current(&self) -> Option<Failure> {
        self.failure.lock().clone()
    }

    pub fn is_permanent(&self) -> bool {
        self.failure.lock().as_ref().is_some_and(|f| f.permanent)
    }

    /// Refuse writes from now on because `what` failed with `cause`. A permanent failure
    /// replaces a recoverable one, never the other way round.
    pub fn fail(&self, what: &str, cause: &Error, permanent: bool, log_sync: bool) {
        let cause = match cause {
            Error::Failed { cause, .. } => (**cause).clone(),
            Error::Io(m) => Error::Io(format!("{what} failed: {m}")),
            Error::Corruption(m) => Error::Corruption(format!("{what} failed: {m}")),
            Error::Internal(m) => Error::Internal(format!("{what} failed: {m}")),
            other => Error::Internal(format!("{what} failed: {other}")),
        };
        let mut g = self.failure.lock();
        match g.as_mut() {
            Some(f) if f.permanent && !permanent => {}
            Some(f) if !permanent => f.log_sync |= log_sync,
            _ => *g = Some(Failure { cause, permanent, log_sync }),
        }
        self.failed.store(true, Ordering::Release);
    }

    /// Count a failure of background work (and refuse writes, as [`Health::fail`]).
    pub fn background_failed(&self, what: &str, cause: &Error, permanent: bool, log_sync: bool) {
        self.background_errors.fetch_add(1, Ordering::Relaxed);
        self.fail(what, cause, permanent, log_sync);
    }

    /// A checkpoint covering every acknowledged write succeeded: a recoverable failure
    /// that was in force when it began (`seen`) is over. A failure that came meanwhile
    /// stays.
    pub fn recovered(&self, seen: &Option<Failure>) {
        let mut g = self.failure.lock();
        if let (Some(f), Some(s)) = (g.as_ref(), seen.as_ref())
            && !f.permanent
            && f.cause == s.cause
        {
            *g = None;
            self.failed.store(false, Ordering::Release);
        }
    }

    pub fn background_errors(&self) -> u64 {
        self.background_errors.load(Ordering::Relaxed)
    }
}

/// Marks the database permanently failed if a structural change unwinds half way (a bug);
/// `std::mem::forget` it once the change is complete.
pub(crate) struct FailOnUnwind<'a>(pub &'a Health, pub &'static str);

impl Drop for FailOnUnwind<'_> {
    fn drop(&mut self) {
        let cause = Error::Internal("it stopped half way (a panic: a bug in libtsdb)".into());
        self.0.fail(self.1, &cause, true, false);
    }
}
