//! The C API: every `extern "C"` function and all raw-pointer handling live here.
//!
//! The module order below is the order of the generated header (`include/tsdb.h`), the order
//! a reader learns the API in: status and errors, options, open/close, metrics, writes,
//! batches, snapshots, cursors, then inspection.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]
// Each export's doc states its pointer contract in C terms (the header is the manual);
// a rustdoc "# Safety" heading would print literally in include/tsdb.h.
#![allow(clippy::missing_safety_doc)]

pub(crate) mod boundary;
mod handle;

pub mod status;
pub mod options;
pub mod db;
pub mod metric;
pub mod write;
pub mod batch;
pub mod txn;
pub mod cursor;
pub mod query;
pub mod inspect;

pub use status::ts_status;

#[cfg(test)]
mod tests;
