//! The background thread: interval syncs of the log, retention, checkpoints, and retries of
//! a failed checkpoint while the database is failed.
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Database, MAX_DEAD_PERCENT, Shared};
use crate::{Error, Result, SyncPolicy};

/// How often the background thread retries a checkpoint while the database is failed.
const RETRY: Duration = Duration::from_secs(1);

impl Database {
    pub(super) fn stop_background(&mut self) {
        if let Some(bg) = self.background.take() {
            *self.shared.signal.lock() = true;
            self.shared.signal.wake.notify_all();
            let _ = bg.join();
            *self.shared.signal.lock() = false;
        }
    }
}

impl Shared {
    pub(super) fn start_background(this: &Arc<Shared>) -> Result<std::thread::JoinHandle<()>> {
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
    pub(super) fn background(self: Arc<Self>) {
        let tick = match self.opts.sync {
            SyncPolicy::Interval(ms) => ms.min(100),
            _ => 100,
        };
        let mut last_sync = Instant::now();
        let mut last_retry = Instant::now();
        let mut stop = self.signal.lock();
        while !*stop {
            let wait = self.signal.wake.wait_timeout(stop, Duration::from_millis(u64::from(tick)));
            stop = wait.unwrap_or_else(std::sync::PoisonError::into_inner).0;
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
            stop = self.signal.lock();
        }
    }

    /// One round of the background thread's work.
    pub(super) fn background_round(&self, last_sync: &mut Instant, last_retry: &mut Instant) {
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
        if !self.retention.due.lock().is_empty() {
            self.retention_pass();
        }
        let due = self.wal.written().saturating_sub(self.checkpoints.mark.load(Ordering::Relaxed));
        if (due >= self.opts.checkpoint_bytes || self.store.reclaim().pending())
            && let Err(e) = self.checkpoint(MAX_DEAD_PERCENT, false)
        {
            *last_retry = Instant::now();
            self.health.background_failed("a background checkpoint", &e, false, false);
        }
    }
}
