//! The panic boundary and `ts_errmsg`: every export runs its body through [`boundary`],
//! every destroyer (which returns nothing) through [`boundary_void`].
use std::any::Any;
use std::cell::RefCell;
use std::ffi::CString;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::status::ts_status;
use crate::Error;

thread_local! {
    /// This thread's last error message; `ts_errmsg` hands out a pointer into it.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Run `body`, turning an `Err` into its status (recording the message for `ts_errmsg`) and
/// a panic into `TS_INTERNAL`. No unwind ever crosses the C boundary.
#[inline]
pub(crate) fn boundary<F>(func: &'static str, body: F) -> ts_status
where
    F: FnOnce() -> Result<ts_status, Error>,
{
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => fail(func, &e),
        Err(payload) => {
            caught(func, &*payload);
            ts_status::TS_INTERNAL
        }
    }
}

/// [`boundary`] for the destroyers, which return nothing and cannot fail: a panic while
/// freeing (a bug, e.g. in a `Drop` down the handle's drop chain) is caught, and its
/// message recorded for `ts_errmsg`. What that drop had not freed yet is leaked. No unwind
/// ever crosses the C boundary.
#[inline]
pub(crate) fn boundary_void<F: FnOnce()>(func: &'static str, body: F) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(body)) {
        caught(func, &*payload);
    }
}

/// Record a caught panic for `ts_errmsg`.
fn caught(func: &str, payload: &(dyn Any + Send)) {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    set_message(&format!("{func}: internal error (a bug in libtsdb; please report it): {what}"));
}

/// Record `e` for `ts_errmsg` and return its status.
pub(crate) fn fail(func: &str, e: &Error) -> ts_status {
    set_message(&format!("{func}: {e}"));
    map_error(e)
}

/// The one mapping from core errors to C statuses.
pub(crate) fn map_error(e: &Error) -> ts_status {
    match e {
        Error::NotFound(_) => ts_status::TS_NOT_FOUND,
        Error::Exists { .. } => ts_status::TS_EXISTS,
        Error::InvalidArgument(_) => ts_status::TS_INVALID_ARGUMENT,
        Error::Busy(_) => ts_status::TS_BUSY,
        Error::Closed => ts_status::TS_CLOSED,
        Error::Io(_) => ts_status::TS_IO_ERROR,
        Error::Corruption(_) => ts_status::TS_CORRUPTION,
        // Refused writes report what failed: an I/O error, damage found, or a bug.
        Error::Failed { cause, .. } => map_error(cause),
        Error::Internal(_) => ts_status::TS_INTERNAL,
        // Error is non_exhaustive for users of the rlib; every variant is handled above.
    }
}

fn set_message(msg: &str) {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|m| *m.borrow_mut() = c);
}

/// A pointer to this thread's last message; valid until this thread's next call that sets
/// one.
pub(crate) fn last_message() -> *const std::ffi::c_char {
    LAST_ERROR.with(|m| m.borrow().as_ptr())
}

/// Test seam (unit tests only): make the next drop that calls [`injected_panic`] on this
/// thread panic, to prove that a panic in a destroyer's drop chain does not cross the C
/// boundary. Thread-local, so tests running in parallel are not affected.
#[cfg(test)]
pub(crate) fn inject_panic_in_next_drop() {
    INJECT.with(|i| i.set(true));
}

#[cfg(test)]
thread_local! {
    static INJECT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Called from `Drop` impls down the destroyers' drop chains (`Sealed`, and in unit tests
/// `ts_options` and `ts_batch`): panics once when armed by [`inject_panic_in_next_drop`].
#[cfg(test)]
pub(crate) fn injected_panic(site: &str) {
    if INJECT.with(|i| i.replace(false)) {
        panic!("injected panic in {site}");
    }
}
