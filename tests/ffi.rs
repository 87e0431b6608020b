//! The C API called from Rust: NULL for every pointer parameter, statuses and messages,
//! ownership and release order, `TS_DONE` stickiness, the `TS_EXISTS` exception.
use std::ffi::{CStr, CString, c_char};
use std::ptr::{null, null_mut};

use tsdb::ffi::batch::*;
use tsdb::ffi::cursor::*;
use tsdb::ffi::db::*;
use tsdb::ffi::metric::*;
use tsdb::ffi::options::*;
use tsdb::ffi::query::*;
use tsdb::ffi::status::*;
use tsdb::ffi::ts_status::{self, *};
use tsdb::ffi::txn::*;
use tsdb::ffi::write::*;

fn errmsg() -> String {
    // SAFETY: ts_errmsg returns a valid NUL-terminated string owned by the library.
    unsafe { CStr::from_ptr(ts_errmsg()) }.to_string_lossy().into_owned()
}

#[track_caller]
fn expect(got: ts_status, want: ts_status, msg_has: &str) {
    assert_eq!(got, want, "message: {}", errmsg());
    if got != TS_OK && got != TS_DONE {
        let m = errmsg();
        assert!(m.contains(msg_has), "message {m:?} should contain {msg_has:?}");
    }
}

struct Db(*mut ts_db, std::path::PathBuf);

fn open(tag: &str) -> Db {
    let dir = std::env::temp_dir().join(format!("tsdb-ffi-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = CString::new(dir.to_str().unwrap()).unwrap();
    let mut db = null_mut();
    // SAFETY: valid string and out-pointer.
    expect(unsafe { ts_open(path.as_ptr(), null(), &mut db) }, TS_OK, "");
    Db(db, dir)
}

impl Drop for Db {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a live handle; tests release their snapshots before this.
        let rc = unsafe { ts_close(self.0) };
        let _ = std::fs::remove_dir_all(&self.1);
        if !std::thread::panicking() {
            assert_eq!(rc, TS_OK, "{}", errmsg());
        }
    }
}

#[test]
fn null_pointers_give_invalid_argument_naming_the_parameter() {
    let db = open("null");
    let name = CString::new("m").unwrap();
    let mut id = 0u64;
    let (mut txn, mut cur) = (null_mut(), null_mut());
    let (mut t, mut v, mut n) = (0i64, 0f64, 0usize);
    // SAFETY: every call gets NULL for exactly the pointer under test and valid others.
    unsafe {
        expect(ts_open(null(), null(), &mut null_mut()), TS_INVALID_ARGUMENT, "ts_open: path is NULL");
        expect(ts_open(name.as_ptr(), null(), null_mut()), TS_INVALID_ARGUMENT, "out is NULL");
        expect(ts_metric_create(null_mut(), name.as_ptr(), &mut id), TS_INVALID_ARGUMENT, "db is NULL");
        expect(ts_metric_create(db.0, null(), &mut id), TS_INVALID_ARGUMENT, "name is NULL");
        expect(ts_metric_create(db.0, name.as_ptr(), null_mut()), TS_INVALID_ARGUMENT, "id_out is NULL");
        expect(ts_metric_drop(null_mut(), 1), TS_INVALID_ARGUMENT, "db is NULL");
        expect(ts_insert(null_mut(), 1, 0, 0.0), TS_INVALID_ARGUMENT, "ts_insert: db is NULL");
        expect(ts_insert_batch(null_mut(), 1, &t, &v, 1), TS_INVALID_ARGUMENT, "db is NULL");
        expect(ts_metric_create(db.0, name.as_ptr(), &mut id), TS_OK, "");
        expect(ts_insert_batch(db.0, id, null(), &v, 1), TS_INVALID_ARGUMENT, "ts is NULL");
        expect(ts_insert_batch(db.0, id, &t, null(), 1), TS_INVALID_ARGUMENT, "values is NULL");
        expect(ts_batch_add(null_mut(), id, 0, 0.0), TS_INVALID_ARGUMENT, "batch is NULL");
        expect(ts_batch_clear(null_mut()), TS_INVALID_ARGUMENT, "batch is NULL");
        expect(ts_batch_commit(db.0, null_mut()), TS_INVALID_ARGUMENT, "batch is NULL");
        let b = ts_batch_new();
        expect(ts_batch_commit(null_mut(), b), TS_INVALID_ARGUMENT, "db is NULL");
        ts_batch_free(b);
        expect(ts_txn_begin(null_mut(), &mut txn), TS_INVALID_ARGUMENT, "db is NULL");
        expect(ts_txn_begin(db.0, null_mut()), TS_INVALID_ARGUMENT, "out is NULL");
        expect(ts_txn_begin(db.0, &mut txn), TS_OK, "");
        expect(ts_metric_lookup(null(), name.as_ptr(), &mut id), TS_INVALID_ARGUMENT, "txn is NULL");
        expect(ts_metric_lookup(txn, null(), &mut id), TS_INVALID_ARGUMENT, "name is NULL");
        expect(ts_metric_lookup(txn, name.as_ptr(), null_mut()), TS_INVALID_ARGUMENT, "id_out is NULL");
        expect(ts_txn_metric_count(null(), &mut id), TS_INVALID_ARGUMENT, "txn is NULL");
        expect(ts_txn_metric_count(txn, null_mut()), TS_INVALID_ARGUMENT, "n_out is NULL");
        expect(ts_scan_range(null(), id, 0, 1, &mut cur), TS_INVALID_ARGUMENT, "txn is NULL");
        expect(ts_scan_range(txn, id, 0, 1, null_mut()), TS_INVALID_ARGUMENT, "out is NULL");
        expect(ts_scan_range(txn, id, 0, 1, &mut cur), TS_OK, "");
        expect(ts_cursor_next(null_mut(), &mut t, &mut v), TS_INVALID_ARGUMENT, "c is NULL");
        expect(ts_cursor_next(cur, null_mut(), &mut v), TS_INVALID_ARGUMENT, "ts is NULL");
        expect(ts_cursor_next(cur, &mut t, null_mut()), TS_INVALID_ARGUMENT, "value is NULL");
        expect(ts_cursor_next_batch(null_mut(), &mut t, &mut v, 1, &mut n), TS_INVALID_ARGUMENT, "c is NULL");
        expect(
            ts_cursor_next_batch(cur, null_mut(), null_mut(), 1, &mut n),
            TS_INVALID_ARGUMENT,
            "both NULL",
        );
        expect(
            ts_cursor_next_batch(cur, &mut t, &mut v, 1, null_mut()),
            TS_INVALID_ARGUMENT,
            "n_out is NULL",
        );
        expect(ts_cursor_next_batch(cur, &mut t, &mut v, 0, &mut n), TS_INVALID_ARGUMENT, "cap is 0");
        expect(ts_options_set_create_if_missing(null_mut(), true), TS_INVALID_ARGUMENT, "opts is NULL");
        expect(ts_options_set_partition_points(null_mut(), 8), TS_INVALID_ARGUMENT, "opts is NULL");
        // Destroyers accept NULL.
        ts_cursor_free(null_mut());
        ts_txn_release(null_mut());
        ts_batch_free(null_mut());
        ts_options_free(null_mut());
        expect(ts_close(null_mut()), TS_OK, "");
        ts_cursor_free(cur);
        ts_txn_release(txn);
    }
}

#[test]
fn statuses_and_messages_for_bad_input() {
    let db = open("bad");
    let mut id = 0u64;
    let long = CString::new("x".repeat(1025)).unwrap();
    let bad_utf8: &[u8] = b"\xff\xfe\0";
    // SAFETY: valid handles and pointers throughout; bad_utf8 is NUL-terminated.
    unsafe {
        expect(ts_metric_create(db.0, c"".as_ptr(), &mut id), TS_INVALID_ARGUMENT, "1..=1024 bytes");
        expect(ts_metric_create(db.0, long.as_ptr(), &mut id), TS_INVALID_ARGUMENT, "got 1025 bytes");
        expect(
            ts_metric_create(db.0, bad_utf8.as_ptr().cast::<c_char>(), &mut id),
            TS_INVALID_ARGUMENT,
            "UTF-8",
        );
        expect(ts_insert(db.0, 77, 1, 1.0), TS_NOT_FOUND, "ts_insert: no live metric with this id (id=77)");
        expect(ts_metric_drop(db.0, 77), TS_NOT_FOUND, "id=77");
        expect(ts_metric_create(db.0, c"cpu".as_ptr(), &mut id), TS_OK, "");
        let first = id;
        id = 0;
        expect(ts_metric_create(db.0, c"cpu".as_ptr(), &mut id), TS_EXISTS, "already exists");
        assert_eq!(id, first, "TS_EXISTS fills id_out");
        let (t, v) = (0i64, 0f64);
        expect(ts_insert_batch(db.0, first, &t, &v, 0), TS_INVALID_ARGUMENT, "n=0");
        let b = ts_batch_new();
        expect(ts_batch_commit(db.0, b), TS_INVALID_ARGUMENT, "empty batch");
        ts_batch_add(b, first, 1, 1.0);
        ts_batch_add(b, 12345, 1, 1.0);
        expect(ts_batch_commit(db.0, b), TS_NOT_FOUND, "id=12345");
        expect(ts_batch_clear(b), TS_OK, "");
        ts_batch_add(b, first, 2, 2.0);
        expect(ts_batch_commit(db.0, b), TS_OK, "");
        ts_batch_free(b);

        let mut txn = null_mut();
        let mut cur = null_mut();
        expect(ts_txn_begin(db.0, &mut txn), TS_OK, "");
        expect(
            ts_scan_range(txn, first, 20, 10, &mut cur),
            TS_INVALID_ARGUMENT,
            "ts_scan_range: from > until (from=20, until=10)",
        );
        expect(ts_scan_range(txn, 999, 0, 10, &mut cur), TS_NOT_FOUND, "id=999");
        expect(ts_metric_lookup(txn, c"nope".as_ptr(), &mut id), TS_NOT_FOUND, "\"nope\"");
        let mut count = 0;
        expect(ts_txn_metric_count(txn, &mut count), TS_OK, "");
        assert_eq!(count, 1);
        expect(ts_scan_range(txn, first, i64::MIN, i64::MAX, &mut cur), TS_OK, "");
        // Only the committed batch's point is there: the failed commit wrote nothing.
        let (mut ts, mut val) = (0i64, 0f64);
        expect(ts_cursor_next(cur, &mut ts, &mut val), TS_OK, "");
        assert_eq!((ts, val), (2, 2.0));
        let mut n = 9usize;
        let mut buf = [0i64; 4];
        for _ in 0..3 {
            expect(ts_cursor_next(cur, &mut ts, &mut val), TS_DONE, "");
            expect(ts_cursor_next_batch(cur, buf.as_mut_ptr(), null_mut(), 4, &mut n), TS_DONE, "");
            assert_eq!(n, 0);
        }
        // Release order: the snapshot first, the cursor after; close is busy until both go.
        ts_txn_release(txn);
        expect(ts_close(db.0), TS_BUSY, "ts_close: snapshots are still alive");
        ts_cursor_free(cur);
    }
}

#[test]
fn status_strings_cover_every_code_and_unknown_ones() {
    let names = [
        "TS_OK",
        "TS_DONE",
        "TS_NOT_FOUND",
        "TS_EXISTS",
        "TS_INVALID_ARGUMENT",
        "TS_BUSY",
        "TS_IO_ERROR",
        "TS_CORRUPTION",
        "TS_CLOSED",
        "TS_INTERNAL",
    ];
    for (code, name) in names.iter().enumerate() {
        // SAFETY: static NUL-terminated strings.
        assert_eq!(unsafe { CStr::from_ptr(ts_status_str(code as u32)) }.to_str().unwrap(), *name);
    }
    // SAFETY: as above.
    assert_eq!(unsafe { CStr::from_ptr(ts_status_str(999)) }.to_str().unwrap(), "TS_UNKNOWN_STATUS");
    assert_eq!(TS_INTERNAL as u32, 9);
}

#[test]
fn options_are_copied_and_checked() {
    let dir = std::env::temp_dir().join(format!("tsdb-ffi-opts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = CString::new(dir.to_str().unwrap()).unwrap();
    let opts = ts_options_new();
    let mut db = null_mut();
    // SAFETY: valid handles and pointers.
    unsafe {
        expect(
            ts_options_set_partition_points(opts, 1),
            TS_INVALID_ARGUMENT,
            "partition_points out of range (got 1",
        );
        expect(ts_options_set_partition_points(opts, 4), TS_OK, "");
        expect(
            ts_options_set_head_run_points(opts, 0),
            TS_INVALID_ARGUMENT,
            "head_run_points out of range (got 0",
        );
        expect(ts_options_set_head_run_points(null_mut(), 2), TS_INVALID_ARGUMENT, "opts is NULL");
        expect(ts_options_set_head_run_points(opts, 2), TS_OK, "");
        expect(ts_options_set_raw_head_budget(null_mut(), 0), TS_INVALID_ARGUMENT, "opts is NULL");
        expect(ts_options_set_raw_head_budget(opts, 0), TS_OK, "");
        expect(ts_options_set_create_if_missing(opts, false), TS_OK, "");
        expect(ts_open(path.as_ptr(), opts, &mut db), TS_NOT_FOUND, "create_if_missing is off");
        expect(ts_options_set_create_if_missing(opts, true), TS_OK, "");
        expect(ts_open(path.as_ptr(), opts, &mut db), TS_OK, "");
        ts_options_free(opts); // copied by ts_open
        let mut id = 0;
        expect(ts_metric_create(db, c"m".as_ptr(), &mut id), TS_OK, "");
        let ts: Vec<i64> = (0..10).collect();
        expect(ts_insert_batch(db, id, ts.as_ptr(), [1.5f64; 10].as_ptr(), 10), TS_OK, "");
        let mut txn = null_mut();
        let mut cur = null_mut();
        expect(ts_txn_begin(db, &mut txn), TS_OK, "");
        expect(ts_scan_range(txn, id, 0, 100, &mut cur), TS_OK, "");
        let (mut t, mut v, mut n) = ([0i64; 16], [0f64; 16], 0usize);
        expect(ts_cursor_next_batch(cur, t.as_mut_ptr(), v.as_mut_ptr(), 16, &mut n), TS_OK, "");
        assert_eq!((n, &t[..10], v[9]), (10, &ts[..], 1.5));
        ts_cursor_free(cur);
        ts_txn_release(txn);
        expect(ts_close(db), TS_OK, "");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn aggregate_listing_delete_and_batch_add_many_through_the_c_api() {
    let db = open("queries");
    let (mut a, mut b) = (0u64, 0u64);
    let (na, nb) = (CString::new("cpu.user").unwrap(), CString::new("mem.free").unwrap());
    // SAFETY: live handle, valid strings and out-pointers throughout.
    unsafe {
        expect(ts_metric_create(db.0, na.as_ptr(), &mut a), TS_OK, "");
        expect(ts_metric_create(db.0, nb.as_ptr(), &mut b), TS_OK, "");
        let batch = ts_batch_new();
        let ts: Vec<i64> = (0..100).collect();
        let vals: Vec<f64> = (0..100).map(|i| i as f64).collect();
        expect(ts_batch_add_many(batch, a, ts.as_ptr(), vals.as_ptr(), 100), TS_OK, "");
        expect(ts_batch_add_many(batch, b, ts.as_ptr(), vals.as_ptr(), 0), TS_OK, "");
        expect(ts_batch_add_many(batch, b, null(), vals.as_ptr(), 3), TS_INVALID_ARGUMENT, "ts is NULL");
        expect(ts_batch_commit(db.0, batch), TS_OK, "");
        ts_batch_free(batch);

        let mut txn = null_mut();
        expect(ts_txn_begin(db.0, &mut txn), TS_OK, "");
        // Ten buckets of ten points, read three at a time.
        let mut out = [ts_agg {
            start: 0,
            count: 0,
            min: 0.0,
            max: 0.0,
            sum: 0.0,
            first: 0.0,
            last: 0.0,
            first_ts: 0,
            last_ts: 0,
        }; 3];
        let (mut from, mut seen) = (0i64, Vec::new());
        loop {
            let mut n = 99;
            expect(ts_aggregate(txn, a, from, 100, 10, out.as_mut_ptr(), 3, &mut n), TS_OK, "");
            seen.extend_from_slice(&out[..n]);
            if n < 3 {
                break;
            }
            from = out[n - 1].start + 10;
        }
        assert_eq!(seen.len(), 10);
        for (k, g) in seen.iter().enumerate() {
            let k = k as i64;
            assert_eq!((g.start, g.count, g.first_ts, g.last_ts), (10 * k, 10, 10 * k, 10 * k + 9));
            assert_eq!(
                (g.min, g.max, g.first, g.last),
                ((10 * k) as f64, (10 * k + 9) as f64, (10 * k) as f64, (10 * k + 9) as f64)
            );
            assert_eq!(g.sum, (10 * k..10 * k + 10).sum::<i64>() as f64);
        }
        let mut n = 7;
        expect(ts_aggregate(txn, a, 0, 100, 0, out.as_mut_ptr(), 3, &mut n), TS_INVALID_ARGUMENT, "bucket");
        assert_eq!(n, 0);
        expect(ts_aggregate(txn, 999, 0, 100, 5, out.as_mut_ptr(), 3, &mut n), TS_NOT_FOUND, "id=999");
        expect(ts_aggregate(txn, a, 0, 100, 5, null_mut(), 3, &mut n), TS_INVALID_ARGUMENT, "out is NULL");

        // Listing: all, then by prefix; names stay valid until the next call.
        let mut list = null_mut();
        expect(ts_metric_list_open(txn, null(), &mut list), TS_OK, "");
        let (mut ids, mut names) = ([0u64; 1], [null::<c_char>(); 1]);
        let mut got = Vec::new();
        loop {
            let mut n = 0;
            let rc = ts_metric_list_next(list, ids.as_mut_ptr(), names.as_mut_ptr(), 1, &mut n);
            if rc == TS_DONE {
                assert_eq!(n, 0);
                break;
            }
            expect(rc, TS_OK, "");
            got.push((ids[0], CStr::from_ptr(names[0]).to_str().unwrap().to_owned()));
        }
        assert_eq!(got, vec![(a, "cpu.user".to_owned()), (b, "mem.free".to_owned())]);
        ts_metric_list_free(list);
        let prefix = CString::new("mem.").unwrap();
        expect(ts_metric_list_open(txn, prefix.as_ptr(), &mut list), TS_OK, "");
        let mut many = [0u64; 8];
        let mut n = 0;
        expect(ts_metric_list_next(list, many.as_mut_ptr(), null_mut(), 8, &mut n), TS_OK, "");
        assert_eq!(&many[..n], &[b]);
        expect(ts_metric_list_next(list, many.as_mut_ptr(), null_mut(), 8, &mut n), TS_DONE, "");
        expect(
            ts_metric_list_next(list, many.as_mut_ptr(), null_mut(), 0, &mut n),
            TS_INVALID_ARGUMENT,
            "cap",
        );
        ts_metric_list_free(list);
        ts_metric_list_free(null_mut());

        // Delete [20, 80): the snapshot taken before still sees 100 points, a new one 40.
        expect(ts_delete_range(db.0, a, 20, 80), TS_OK, "");
        expect(ts_delete_range(db.0, a, 80, 20), TS_INVALID_ARGUMENT, "from > until");
        expect(ts_delete_range(db.0, 999, 0, 1), TS_NOT_FOUND, "id=999");
        let count = |txn| {
            let mut n = 0;
            let mut out = [out[0]; 1];
            expect(
                ts_aggregate(txn, a, i64::MIN, i64::MAX, i64::MAX, out.as_mut_ptr(), 1, &mut n),
                TS_OK,
                "",
            );
            out[0].count
        };
        assert_eq!(count(txn), 100);
        ts_txn_release(txn);
        expect(ts_txn_begin(db.0, &mut txn), TS_OK, "");
        assert_eq!(count(txn), 40);
        ts_txn_release(txn);
    }
}

// ---------------------------------------------------------------------------------------
// ts_txn_begin's fast path: recycled snapshot allocations (per thread) and the version a
// thread remembers between begins (docs/architecture.md, "Writes, sequence numbers and
// snapshots"). Neither may change what a snapshot sees or how snapshots are counted.
// ---------------------------------------------------------------------------------------

/// A snapshot handle that threads may pass around (the C API allows any thread to use it).
#[derive(Clone, Copy)]
struct Txn(*mut ts_txn);
// SAFETY: a ts_txn is documented shareable between threads; each test releases it once.
unsafe impl Send for Txn {}

fn begin(db: *mut ts_db) -> Txn {
    let mut txn = null_mut();
    // SAFETY: a live handle and a valid out-pointer.
    expect(unsafe { ts_txn_begin(db, &mut txn) }, TS_OK, "");
    Txn(txn)
}

fn release(txn: Txn) {
    // SAFETY: a live snapshot, released once.
    unsafe { ts_txn_release(txn.0) };
}

/// Every timestamp of metric `id` in the snapshot.
fn timestamps(txn: Txn, id: u64) -> Vec<i64> {
    let mut cur = null_mut();
    // SAFETY: a live snapshot and a valid out-pointer.
    expect(unsafe { ts_scan_range(txn.0, id, i64::MIN, i64::MAX, &mut cur) }, TS_OK, "");
    let mut out = Vec::new();
    let (mut ts, mut n) = ([0i64; 64], 0usize);
    loop {
        // SAFETY: a live cursor; the buffer holds 64 timestamps.
        match unsafe { ts_cursor_next_batch(cur, ts.as_mut_ptr(), null_mut(), ts.len(), &mut n) } {
            TS_OK => out.extend_from_slice(&ts[..n]),
            st => {
                expect(st, TS_DONE, "");
                break;
            }
        }
    }
    // SAFETY: freed once.
    unsafe { ts_cursor_free(cur) };
    out
}

fn lookup(txn: Txn, name: &CStr) -> ts_status {
    let mut id = 0;
    // SAFETY: a live snapshot, a NUL-terminated name, a valid out-pointer.
    unsafe { ts_metric_lookup(txn.0, name.as_ptr(), &mut id) }
}

fn live_snapshots(db: *mut ts_db) -> u64 {
    let mut s = ts_stats::default();
    // SAFETY: a live handle and a valid out-pointer.
    expect(unsafe { ts_db_stats(db, &mut s) }, TS_OK, "");
    s.live_snapshots
}

#[test]
fn recycled_snapshots_see_exactly_the_writes_before_them_and_are_counted_and_closed_right() {
    let db = open("recycle");
    let mut a = 0;
    // SAFETY: a live handle, a NUL-terminated name, a valid out-pointer.
    expect(unsafe { ts_metric_create(db.0, c"a".as_ptr(), &mut a) }, TS_OK, "");
    let mut held = Vec::new();
    for i in 0..40i64 {
        // SAFETY: a live handle.
        expect(unsafe { ts_insert(db.0, a, i, i as f64) }, TS_OK, "");
        // Every other round a new version (a metric created) between two begins.
        let name = CString::new(format!("m{i}")).unwrap();
        let before = begin(db.0);
        if i % 2 == 0 {
            let mut id = 0;
            // SAFETY: as above.
            expect(unsafe { ts_metric_create(db.0, name.as_ptr(), &mut id) }, TS_OK, "");
        }
        let txn = begin(db.0);
        // A write that returned before a begin is in the snapshot, whatever was recycled.
        assert_eq!(timestamps(txn, a), (0..=i).collect::<Vec<_>>());
        assert_eq!(lookup(txn, &name), if i % 2 == 0 { TS_OK } else { TS_NOT_FOUND });
        assert_eq!(lookup(before, &name), TS_NOT_FOUND, "created after `before` began");
        release(before);
        if i % 3 == 0 { held.push((i, txn)) } else { release(txn) }
    }
    // Snapshots stay as they began while later ones reuse released allocations.
    for &(i, txn) in &held {
        assert_eq!(timestamps(txn, a), (0..=i).collect::<Vec<_>>());
    }
    assert_eq!(live_snapshots(db.0), held.len() as u64);
    // SAFETY: a live handle.
    expect(unsafe { ts_close(db.0) }, TS_BUSY, "snapshots are still alive");

    // A cursor keeps its snapshot's allocation from being recycled: released first, the
    // snapshot lives on in the cursor through the begins and releases that follow.
    let txn = begin(db.0);
    let mut cur = null_mut();
    // SAFETY: a live snapshot and a valid out-pointer.
    expect(unsafe { ts_scan_range(txn.0, a, i64::MIN, i64::MAX, &mut cur) }, TS_OK, "");
    release(txn);
    // SAFETY: a live handle.
    expect(unsafe { ts_insert(db.0, a, 1000, 0.0) }, TS_OK, "");
    for _ in 0..20 {
        let t = begin(db.0);
        assert_eq!(timestamps(t, a).len(), 41);
        release(t);
    }
    assert_eq!(live_snapshots(db.0), held.len() as u64 + 1, "the cursor's snapshot");
    let (mut ts, mut n) = ([0i64; 64], 0usize);
    // SAFETY: a live cursor; the buffer holds 64 timestamps.
    expect(unsafe { ts_cursor_next_batch(cur, ts.as_mut_ptr(), null_mut(), 64, &mut n) }, TS_OK, "");
    assert_eq!(&ts[..n], (0..40).collect::<Vec<_>>(), "the point written after it began is not there");
    for (_, txn) in held {
        release(txn);
    }
    // SAFETY: a live handle.
    expect(unsafe { ts_close(db.0) }, TS_BUSY, "snapshots are still alive");
    // SAFETY: freed once.
    unsafe { ts_cursor_free(cur) };
    assert_eq!(live_snapshots(db.0), 0);
    // Snapshots released on another thread than the one that began them.
    let txns: Vec<Txn> = (0..12).map(|_| begin(db.0)).collect();
    std::thread::spawn(move || txns.into_iter().for_each(release)).join().unwrap();
    let txn = begin(db.0);
    assert_eq!(live_snapshots(db.0), 1);
    release(txn);
    assert_eq!(live_snapshots(db.0), 0);
    // `db`'s drop closes it: TS_OK, nothing alive.
}

/// Readers begin and release snapshots as fast as they can while a writer inserts (sealing
/// every few points, so versions change all the time) and creates metrics. A snapshot
/// holds every point whose insert returned before its begin and none whose insert started
/// after it, and a rescan of it returns the same.
#[test]
fn snapshots_begun_during_writes_and_seals_see_exactly_the_writes_before_them() {
    const N: i64 = 3000;
    let dir = std::env::temp_dir().join(format!("tsdb-ffi-begin-race-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = CString::new(dir.to_str().unwrap()).unwrap();
    let (mut raw, mut a) = (null_mut(), 0u64);
    // SAFETY: valid strings, handles and out-pointers.
    unsafe {
        let opts = ts_options_new();
        expect(ts_options_set_partition_points(opts, 8), TS_OK, "");
        expect(ts_open(path.as_ptr(), opts, &mut raw), TS_OK, "");
        ts_options_free(opts);
        expect(ts_metric_create(raw, c"a".as_ptr(), &mut a), TS_OK, "");
    }
    let db = Db(raw, dir);
    let shared = SharedDb(db.0);
    let (started, returned) = (std::sync::atomic::AtomicI64::new(0), std::sync::atomic::AtomicI64::new(0));
    let done = std::sync::atomic::AtomicBool::new(false);
    use std::sync::atomic::Ordering::SeqCst;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let db = shared;
                let mut rounds = 0;
                while !done.load(SeqCst) || rounds == 0 {
                    let lo = returned.load(SeqCst);
                    let txn = begin(db.0);
                    let hi = started.load(SeqCst);
                    let seen = timestamps(txn, a);
                    let n = seen.len() as i64;
                    assert!(lo <= n && n <= hi, "{n} points; {lo} inserts had returned, {hi} started");
                    assert_eq!(seen, (0..n).collect::<Vec<_>>());
                    if rounds % 16 == 0 {
                        assert_eq!(timestamps(txn, a), seen, "a rescan returns the same");
                    }
                    release(txn);
                    rounds += 1;
                }
            });
        }
        let db = shared;
        for i in 0..N {
            started.store(i + 1, SeqCst);
            // SAFETY: a live handle.
            expect(unsafe { ts_insert(db.0, a, i, i as f64) }, TS_OK, "");
            returned.store(i + 1, SeqCst);
            if i % 100 == 0 {
                let name = CString::new(format!("m{i}")).unwrap();
                let mut id = 0;
                // SAFETY: as above.
                expect(unsafe { ts_metric_create(db.0, name.as_ptr(), &mut id) }, TS_OK, "");
            }
        }
        done.store(true, SeqCst);
    });
    assert_eq!(live_snapshots(db.0), 0);
}

/// A `ts_db *` the threads of one test share (the C API allows any number of threads).
#[derive(Clone, Copy)]
struct SharedDb(*mut ts_db);
// SAFETY: ts_db is documented thread-safe.
unsafe impl Send for SharedDb {}
// SAFETY: as above.
unsafe impl Sync for SharedDb {}
