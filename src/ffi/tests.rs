//! The destroyers run under the panic boundary: a panic injected into a handle's drop
//! chain (`boundary::injected_panic`, armed per thread) is caught, recorded for
//! `ts_errmsg`, and never crosses the `extern "C"` boundary (which would abort the test
//! binary: a Rust panic cannot unwind out of an `extern "C"` function).
use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};

use super::batch::*;
use super::boundary::inject_panic_in_next_drop;
use super::cursor::*;
use super::db::*;
use super::metric::*;
use super::options::*;
use super::query::*;
use super::status::*;
use super::ts_status::*;
use super::txn::*;
use super::write::*;

fn errmsg() -> String {
    // SAFETY: ts_errmsg returns a valid NUL-terminated string owned by the library.
    unsafe { CStr::from_ptr(ts_errmsg()) }.to_string_lossy().into_owned()
}

#[track_caller]
fn expect_caught(func: &str, site: &str) {
    let m = errmsg();
    let want =
        format!("{func}: internal error (a bug in libtsdb; please report it): injected panic in {site}");
    assert_eq!(m, want);
}

/// A database with metric "m" whose points were sealed into data-segment blocks, so that
/// freeing the last snapshot of a dropped metric runs `Sealed::drop`.
struct Fixture {
    db: *mut ts_db,
    id: u64,
    dir: std::path::PathBuf,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("tsdb-unit-destroyers-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = CString::new(dir.to_str().unwrap()).unwrap();
        let name = CString::new("m").unwrap();
        let (mut db, mut id) = (null_mut(), 0);
        // SAFETY: valid strings, handles and out-pointers throughout.
        unsafe {
            let opts = ts_options_new();
            assert_eq!(ts_options_set_partition_points(opts, 2), TS_OK);
            assert_eq!(ts_open(path.as_ptr(), opts, &mut db), TS_OK, "{}", errmsg());
            ts_options_free(opts);
            assert_eq!(ts_metric_create(db, name.as_ptr(), &mut id), TS_OK);
            for t in 0..6 {
                assert_eq!(ts_insert(db, id, t, t as f64), TS_OK);
            }
        }
        Fixture { db, id, dir }
    }

    /// Drop the metric: snapshots begun before now hold its sealed partitions alone.
    fn drop_metric(&self) {
        // SAFETY: a live handle.
        assert_eq!(unsafe { ts_metric_drop(self.db, self.id) }, TS_OK);
    }

    /// The library is still sound after the caught panic: the database closes cleanly.
    fn close(self) {
        // SAFETY: a live handle; every snapshot was released.
        assert_eq!(unsafe { ts_close(self.db) }, TS_OK, "{}", errmsg());
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn begin(&self) -> *mut ts_txn {
        let mut txn = null_mut();
        // SAFETY: a live handle and a valid out-pointer.
        assert_eq!(unsafe { ts_txn_begin(self.db, &mut txn) }, TS_OK);
        txn
    }
}

#[test]
fn ts_options_free_catches_a_panic_in_its_drop() {
    let opts = ts_options_new();
    inject_panic_in_next_drop();
    // SAFETY: a live handle, freed once.
    unsafe { ts_options_free(opts) };
    expect_caught("ts_options_free", "ts_options::drop");
}

#[test]
fn ts_batch_free_catches_a_panic_in_its_drop() {
    let batch = ts_batch_new();
    // SAFETY: a live handle, freed once.
    unsafe {
        assert_eq!(ts_batch_add(batch, 1, 2, 3.0), TS_OK);
        inject_panic_in_next_drop();
        ts_batch_free(batch);
    }
    expect_caught("ts_batch_free", "ts_batch::drop");
}

#[test]
fn ts_txn_release_catches_a_panic_down_to_the_sealed_partitions() {
    let f = Fixture::new("txn");
    let txn = f.begin();
    f.drop_metric();
    inject_panic_in_next_drop();
    // SAFETY: a live snapshot, released once.
    unsafe { ts_txn_release(txn) };
    expect_caught("ts_txn_release", "Sealed::drop");
    f.close();
}

#[test]
fn ts_cursor_free_catches_a_panic_down_to_the_sealed_partitions() {
    let f = Fixture::new("cursor");
    let txn = f.begin();
    let mut cur = null_mut();
    // SAFETY: live handles and a valid out-pointer; the cursor holds its own snapshot.
    unsafe {
        assert_eq!(ts_scan_range(txn, f.id, 0, 100, &mut cur), TS_OK);
        ts_txn_release(txn);
    }
    f.drop_metric();
    inject_panic_in_next_drop();
    // SAFETY: a live cursor, freed once.
    unsafe { ts_cursor_free(cur) };
    expect_caught("ts_cursor_free", "Sealed::drop");
    f.close();
}

#[test]
fn ts_metric_list_free_catches_a_panic_down_to_the_sealed_partitions() {
    let f = Fixture::new("list");
    let txn = f.begin();
    let mut list = null_mut();
    // SAFETY: live handles and a valid out-pointer; the listing holds its own snapshot.
    unsafe {
        assert_eq!(ts_metric_list_open(txn, null(), &mut list), TS_OK);
        ts_txn_release(txn);
    }
    f.drop_metric();
    inject_panic_in_next_drop();
    // SAFETY: a live listing, freed once.
    unsafe { ts_metric_list_free(list) };
    expect_caught("ts_metric_list_free", "Sealed::drop");
    f.close();
}
