//! Pointer -> reference helpers with NULL checks: one line per argument in every export.
use std::ffi::{CStr, c_char};

use crate::Error;

fn null(what: &str) -> Error {
    Error::InvalidArgument(format!("{what} is NULL"))
}

/// Borrow `*p`.
///
/// # Safety
/// `p` is NULL or points to a live, properly aligned `T` that is not mutated for `'a`.
pub(crate) unsafe fn handle_ref<'a, T>(p: *const T, what: &str) -> Result<&'a T, Error> {
    // SAFETY: non-NULL is checked by `as_ref`; liveness and alignment are the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| null(what))
}

/// Borrow `*p` mutably.
///
/// # Safety
/// `p` is NULL or points to a live, properly aligned `T` with no other reference for `'a`.
pub(crate) unsafe fn handle_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Error> {
    // SAFETY: as for `handle_ref`, plus exclusivity, which the caller guarantees.
    unsafe { p.as_mut() }.ok_or_else(|| null(what))
}

/// Check an out-parameter for NULL; write through it with [`std::ptr::write`] later.
pub(crate) fn out_ptr<T>(p: *mut T, what: &str) -> Result<*mut T, Error> {
    if p.is_null() { Err(null(what)) } else { Ok(p) }
}

/// Borrow a NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives and is unchanged for `'a`.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        Error::InvalidArgument(format!(
            "{what} is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// Borrow `n` elements at `p` (checked for NULL).
///
/// # Safety
/// `p` is NULL or points to `n` readable, properly aligned elements that are not mutated
/// for `'a`.
pub(crate) unsafe fn slice<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T], Error> {
    if p.is_null() {
        return Err(Error::InvalidArgument(format!("{what} is NULL")));
    }
    if n > isize::MAX as usize / std::mem::size_of::<T>() {
        return Err(Error::InvalidArgument(format!("n is too large (n={n})")));
    }
    // SAFETY: `p` is non-NULL and, per the caller's contract, points to `n` readable,
    // aligned elements that are not mutated for `'a`; `n` elements fit in `isize::MAX` bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}
