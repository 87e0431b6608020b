//! The panic boundary and `ts_errmsg`: every export runs its body through [`boundary`].
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
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_message(&format!("{func}: internal error (a bug in libtsdb; please report it): {what}"));
            ts_status::TS_INTERNAL
        }
    }
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
