//! Fault injection (feature `fault-injection`, for tests only): make the Nth file-system
//! call of chosen kinds fail with a chosen errno, the way SQLite's I/O-error tests and
//! redb's fault-injecting backend do. Every call the engine makes about its files goes
//! through [`super`], which asks [`check`] first.
//!
//! ```ignore
//! use tsdb::fault::{self, Plan};
//! fault::arm(Plan::nth(17, libc::ENOSPC));   // the 17th call on this thread fails
//! let r = db.checkpoint();                   // fails cleanly ...
//! fault::disarm();
//! db.checkpoint().unwrap();                  // ... and a retry succeeds
//! ```
//!
//! Without the feature, [`check`] is an empty inline function.

/// A kind of file-system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// Opening an existing file or directory.
    Open,
    /// Creating a file.
    Create,
    /// Writing bytes (`pwrite`).
    Write,
    /// `fsync`/`fdatasync` of a file or directory.
    Sync,
    /// `posix_fallocate`.
    Allocate,
    /// Truncating or extending a file (`ftruncate`).
    SetLen,
    /// Mapping a file (`mmap`).
    Map,
    /// `rename`.
    Rename,
    /// Deleting a file or directory (`unlink`, `rmdir`).
    Remove,
    /// Creating a directory.
    Mkdir,
    /// Listing a directory.
    ReadDir,
    /// Taking the database's lock (`flock`).
    Lock,
}

#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
impl Op {
    /// Every kind.
    pub const ALL: [Op; 12] = [
        Op::Open,
        Op::Create,
        Op::Write,
        Op::Sync,
        Op::Allocate,
        Op::SetLen,
        Op::Map,
        Op::Rename,
        Op::Remove,
        Op::Mkdir,
        Op::ReadDir,
        Op::Lock,
    ];

    fn bit(self) -> u32 {
        1 << self as u8
    }
}

#[cfg(feature = "fault-injection")]
pub use imp::*;

#[cfg(feature = "fault-injection")]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::ThreadId;

    use parking_lot::Mutex;

    use super::Op;

    /// Which calls fail, and how.
    #[derive(Clone, Debug)]
    pub struct Plan {
        /// The call (1-based, among those that match `ops` and `thread`) that fails first.
        pub nth: u64,
        /// The errno it fails with (ENOSPC, EIO, EMFILE, ENOMEM, ...).
        pub errno: i32,
        /// The kinds of call counted (bit `1 << op`); `u32::MAX` for all.
        pub ops: u32,
        /// Keep failing every matching call after the first (a disk that stays full), until
        /// [`disarm`].
        pub sticky: bool,
        /// Count calls from every thread (the background thread's included); otherwise only
        /// those of the thread that armed the plan, which makes a sweep deterministic.
        pub any_thread: bool,
    }

    impl Plan {
        /// Fail the `nth` call of any kind on this thread, once, with `errno`.
        pub fn nth(nth: u64, errno: i32) -> Plan {
            Plan { nth, errno, ops: u32::MAX, sticky: false, any_thread: false }
        }

        /// Count only calls of the kinds in `ops`.
        pub fn only(mut self, ops: &[Op]) -> Plan {
            self.ops = ops.iter().fold(0, |m, op| m | op.bit());
            self
        }

        /// Fail every matching call from the `nth` on.
        pub fn sticky(mut self) -> Plan {
            self.sticky = true;
            self
        }

        /// Count calls on every thread.
        pub fn any_thread(mut self) -> Plan {
            self.any_thread = true;
            self
        }
    }

    /// What happened under a plan.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Report {
        /// Matching calls seen.
        pub calls: u64,
        /// Of those, how many were failed, and the kind of the first.
        pub injected: u64,
        pub first: Option<Op>,
    }

    struct Armed {
        plan: Plan,
        thread: ThreadId,
        report: Report,
    }

    static ARMED: AtomicBool = AtomicBool::new(false);
    static STATE: Mutex<Option<Armed>> = Mutex::new(None);

    /// Start counting calls under `plan` (replacing any plan armed before).
    pub fn arm(plan: Plan) {
        *STATE.lock() = Some(Armed { plan, thread: std::thread::current().id(), report: Report::default() });
        ARMED.store(true, Ordering::SeqCst);
    }

    /// Stop injecting; returns what the plan saw.
    pub fn disarm() -> Report {
        ARMED.store(false, Ordering::SeqCst);
        STATE.lock().take().map(|a| a.report).unwrap_or_default()
    }

    /// What the armed plan has seen so far.
    pub fn report() -> Report {
        STATE.lock().as_ref().map(|a| a.report.clone()).unwrap_or_default()
    }

    /// Called before every file-system call of kind `op`: the injected error, if this is
    /// the call the plan fails.
    #[inline]
    pub(crate) fn check(op: Op) -> std::io::Result<()> {
        if !ARMED.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut g = STATE.lock();
        let Some(a) = g.as_mut() else { return Ok(()) };
        if a.plan.ops & op.bit() == 0 || (!a.plan.any_thread && std::thread::current().id() != a.thread) {
            return Ok(());
        }
        a.report.calls += 1;
        let n = a.report.calls;
        if n == a.plan.nth || (a.plan.sticky && n > a.plan.nth) {
            a.report.injected += 1;
            a.report.first.get_or_insert(op);
            return Err(std::io::Error::from_raw_os_error(a.plan.errno));
        }
        Ok(())
    }
}

/// Without the feature nothing is ever injected.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn check(_op: Op) -> std::io::Result<()> {
    Ok(())
}
