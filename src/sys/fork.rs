//! Which process a database belongs to: a `fork()`ed child must not use the handles it
//! inherits.
//!
//! A child gets a copy of the parent's memory and descriptors but none of its threads. On
//! an inherited database its writes would go into its own copy of the heads and of the
//! log's position (the parent never sees them, and they overwrite the parent's log
//! records in the shared map of the log file); a checkpoint would rewrite the manifest
//! and delete log segments under the parent (whose later acknowledged writes are then
//! lost), and a close would also join a background thread that does not exist in the
//! child. So a database records its [`Owner`] at open, and every call that would write,
//! checkpoint, close or read the files checks it first, before taking any lock (a lock
//! held by another of the parent's threads at the fork stays held forever in the child).
//!
//! Cost: [`Owner::check`] is on every write (`ts_insert` runs at millions of calls a
//! second). It is one relaxed load of [`GENERATION`], a counter bumped only by a
//! `pthread_atfork` child handler (registered once, at the first open), and a predictable
//! branch: the line is never written in the parent, so it stays shared in every core's
//! cache (about a nanosecond). `getpid()` would be a system call on every write (glibc
//! stopped caching the pid in 2.25): tens to hundreds of nanoseconds, a measurable part of
//! a 200 ns insert. The rare calls (checkpoint, close, drop, stats, check) use
//! [`Owner::check_strictly`], which compares the pid too, catching children made without
//! fork handlers (a raw `clone(2)`, glibc's `_Fork`).
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// How many `fork()`s this process descends through since the handler was registered:
/// 0 in the process that registered it, bumped in each child (a grandchild has 2).
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Whether the fork handler is registered (set once, at the first open).
static HANDLER: OnceLock<bool> = OnceLock::new();
/// [`Owner::generation`] when the fork handler could not be registered: no generation
/// equals it, so every check takes the slow path, which compares pids.
const NO_HANDLER: u64 = u64::MAX;

extern "C" fn in_child() {
    // Async-signal-safe, as a fork handler of a multithreaded process must be: one atomic.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Register [`in_child`] with `pthread_atfork`; false if that failed (out of memory).
#[allow(unsafe_code)]
fn register() -> bool {
    // SAFETY: `in_child` is a plain `extern "C" fn()` that only touches an atomic, so it
    // may run in the child of any fork. It lives in this library's code: glibc records the
    // registering object (pthread_atfork passes its `__dso_handle`) and drops the handler
    // if libtsdb.so is unloaded.
    unsafe { libc::pthread_atfork(None, None, Some(in_child)) == 0 }
}

/// The process a database was opened in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Owner {
    generation: u64,
    pid: u32,
}

impl Default for Owner {
    fn default() -> Owner {
        Owner::current()
    }
}

impl Owner {
    /// This process, as a database opened now records it (registers the fork handler on
    /// the first call).
    pub(crate) fn current() -> Owner {
        let generation =
            if *HANDLER.get_or_init(register) { GENERATION.load(Ordering::Relaxed) } else { NO_HANDLER };
        Owner { generation, pid: std::process::id() }
    }

    /// `Ok` in the process that opened the database; in a forked child the error to
    /// return. A relaxed load and a branch: cheap enough for every write.
    #[inline]
    pub(crate) fn check(&self) -> Result<()> {
        if GENERATION.load(Ordering::Relaxed) == self.generation { Ok(()) } else { self.check_pid() }
    }

    /// [`Owner::check`], and the pid too (a system call): for calls that are rare and
    /// whose harm in a child would be greatest (checkpoint, close, drop).
    pub(crate) fn check_strictly(&self) -> Result<()> {
        self.check()?;
        if std::process::id() == self.pid { Ok(()) } else { Err(self.refusal()) }
    }

    /// Whether this is the process that opened the database (see [`Owner::check_strictly`]).
    pub(crate) fn is_current(&self) -> bool {
        self.check_strictly().is_ok()
    }

    /// A fork since the open, or no fork handler: the pid decides.
    #[cold]
    fn check_pid(&self) -> Result<()> {
        if self.generation == NO_HANDLER && std::process::id() == self.pid {
            Ok(())
        } else {
            Err(self.refusal())
        }
    }

    #[cold]
    fn refusal(&self) -> Error {
        Error::InvalidArgument(format!(
            "this database handle was opened by process {}, and this is process {} (a forked child): \
             a child cannot use it, its writes would be lost and a checkpoint or close would damage the \
             parent's database; open the database again in the child, after the parent has closed it",
            self.pid,
            std::process::id()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_opening_process_passes_and_a_later_generation_is_refused() {
        let me = Owner::current();
        assert!(me.check().is_ok() && me.check_strictly().is_ok() && me.is_current());
        // As a forked child sees a handle opened before the fork: another generation (the
        // pid differs too, which only the strict check compares).
        assert_ne!(me.generation, NO_HANDLER, "the handler is registered");
        let parent = Owner { generation: me.generation + 1, pid: me.pid };
        let e = parent.check().unwrap_err().to_string();
        assert!(e.starts_with(&format!("this database handle was opened by process {}", me.pid)), "{e}");
        assert!(e.contains("open the database again in the child"), "{e}");
        let other_pid = Owner { generation: me.generation, pid: me.pid.wrapping_add(1) };
        assert!(other_pid.check().is_ok(), "the hot check reads only the generation");
        assert!(other_pid.check_strictly().is_err() && !other_pid.is_current());
        // Without a fork handler, every check compares pids.
        let unregistered = Owner { generation: NO_HANDLER, pid: me.pid };
        assert!(unregistered.check().is_ok());
        assert!(Owner { generation: NO_HANDLER, pid: me.pid.wrapping_add(1) }.check().is_err());
    }
}
