//! Issue 13, item 9: a `fork()`ed child holding an inherited database handle. Its writes,
//! checkpoints, closes (and reads of the files) are refused with `TS_INVALID_ARGUMENT`
//! naming the process that opened it, touching nothing on disk; the parent goes on, and its
//! later writes, checkpoint, close and reopen keep every acknowledged point.
//!
//! The child is a real fork of this test process (the only way it holds an inherited
//! handle). It does as little as it can, never prints, reports through a pipe and leaves
//! with `_exit`; the parent kills it if it hangs (joining the background thread the fork
//! did not copy would). The tests take one lock, so no other test's thread is inside the
//! library or the standard library's locks when one of them forks.
#![allow(unsafe_code)]
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tsdb::ffi::batch::*;
use tsdb::ffi::cursor::*;
use tsdb::ffi::db::*;
use tsdb::ffi::inspect::*;
use tsdb::ffi::metric::*;
use tsdb::ffi::options::*;
use tsdb::ffi::status::*;
use tsdb::ffi::ts_status::{self, *};
use tsdb::ffi::txn::*;
use tsdb::ffi::write::*;
use tsdb::{Database, Error, Options};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tsdb-fork-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn errmsg() -> String {
    // SAFETY: ts_errmsg returns a valid NUL-terminated string owned by the library.
    unsafe { CStr::from_ptr(ts_errmsg()) }.to_string_lossy().into_owned()
}

fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are new and owned by nothing else.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// A forked child running `body`; what it reports comes through a pipe. Killed if the
/// test fails before waiting for it.
struct Child {
    pid: libc::pid_t,
    report: File,
    reaped: bool,
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: our child, not yet reaped.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, null_mut(), 0);
            }
        }
    }
}

/// Fork; the child runs `body` (a panic is caught: it must not unwind into the test
/// harness's copy), writes its failures to the pipe and `_exit`s: 0 when there were none.
fn fork(body: impl FnOnce() -> Vec<String>) -> Child {
    let (rd, mut wr) = pipe();
    // SAFETY: the child only runs `body`, which calls the library and raw system calls,
    // then leaves with `_exit` (no atexit handlers, no flushing of the parent's buffers).
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            drop(rd);
            let failures = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
                .unwrap_or_else(|_| vec!["the child panicked".into()]);
            let _ = wr.write_all(failures.join("\n").as_bytes());
            // SAFETY: ends the child at once, as a forked child of a threaded process should.
            unsafe { libc::_exit(i32::from(!failures.is_empty())) }
        }
        pid => {
            drop(wr);
            Child { pid, report: rd, reaped: false }
        }
    }
}

impl Child {
    /// Wait for the child (killing it after 60 s: a hang) and fail with what it reported.
    fn expect_success(mut self) {
        let start = Instant::now();
        let mut status = 0;
        loop {
            // SAFETY: `pid` is our child; `status` is writable.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
            if r == self.pid {
                self.reaped = true;
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                // SAFETY: our child, still running.
                unsafe {
                    libc::kill(self.pid, libc::SIGKILL);
                    libc::waitpid(self.pid, &mut status, 0);
                }
                self.reaped = true;
                panic!("the child hung for 60 s (joining a thread the fork did not copy?)");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut report = String::new();
        let _ = self.report.read_to_string(&mut report);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child failed (wait status {status:#x}):\n{report}"
        );
    }
}

/// Names, sizes and modification times of every file under `dir`.
fn files(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let md = e.metadata().unwrap();
        if md.is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push((e.path(), md.len(), md.modified().unwrap()));
        }
    }
    out.sort();
    out
}

/// Every point of metric `name` (ts, value bits) through a fresh open of `dir`.
fn reopen_and_read(dir: &Path, name: &str) -> Vec<(i64, u64)> {
    let db = Database::open(dir, &Options::default()).unwrap();
    let s = db.begin();
    let id = s.lookup(name).unwrap();
    let pts = s.scan(id, i64::MIN, i64::MAX).unwrap().map(|p| p.map(|(t, v)| (t, v.to_bits())));
    let pts: Vec<(i64, u64)> = pts.collect::<Result<_, _>>().unwrap();
    drop(s);
    db.close().map_err(|(_, e)| e).unwrap();
    pts
}

fn points(range: std::ops::Range<i64>) -> Vec<(i64, u64)> {
    range.map(|t| (t, (t as f64).to_bits())).collect()
}

/// Through the C API: the child's writes, checkpoint, stats, check and close on the
/// inherited `ts_db` fail with `TS_INVALID_ARGUMENT`, while the parent writes on; the
/// child still reads through a cursor begun before the fork, and once the parent has
/// closed, opens the database itself (its refused `ts_close` let its copy of the lock go).
#[test]
fn a_forked_child_is_refused_and_the_parent_keeps_every_acknowledged_point() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmpdir("c-api");
    let path = CString::new(dir.to_str().unwrap()).unwrap();
    let name = CString::new("m").unwrap();
    let (mut db, mut id, mut txn, mut cur) = (null_mut(), 0u64, null_mut(), null_mut());
    // SAFETY: valid strings, handles and out-pointers throughout.
    unsafe {
        let opts = ts_options_new();
        assert_eq!(ts_options_set_partition_points(opts, 64), TS_OK);
        assert_eq!(ts_open(path.as_ptr(), opts, &mut db), TS_OK, "{}", errmsg());
        ts_options_free(opts);
        assert_eq!(ts_metric_create(db, name.as_ptr(), &mut id), TS_OK);
        for t in 0..100 {
            assert_eq!(ts_insert(db, id, t, t as f64), TS_OK); // 64 of them sealed
        }
        assert_eq!(ts_txn_begin(db, &mut txn), TS_OK);
        assert_eq!(ts_scan_range(txn, id, i64::MIN, i64::MAX, &mut cur), TS_OK);
    }
    let parent = std::process::id();
    // The parent tells the child when it has closed the database.
    let (go_rd, mut go_wr) = pipe();
    let go_wr_fd = go_wr.as_raw_fd();
    let go = &go_rd;
    let child = fork(|| {
        // SAFETY: this process's copy of the write end, never used here (the `File` is
        // never dropped: the child leaves with `_exit`); the child then sees EOF if the
        // parent dies.
        unsafe { libc::close(go_wr_fd) };
        let mut failures: Vec<String> = Vec::new();
        let refused = |func: &str, rc: ts_status| -> Option<String> {
            let m = errmsg();
            let want = format!("{func}: this database handle was opened by process {parent}, and this is");
            let ok = rc == TS_INVALID_ARGUMENT && m.starts_with(&want) && m.contains("forked child");
            (!ok).then(|| format!("{func}: got {rc:?} ({m:?}), want TS_INVALID_ARGUMENT ({want}...)"))
        };
        let (ts, vals) = ([1_000_000i64, 1_000_001], [7.0, 8.0]);
        let other = CString::new("other").unwrap();
        let (mut out_id, mut stats, mut report, mut dropped) =
            (0u64, ts_stats::default(), ts_check_report::default(), 0u64);
        // SAFETY: the handles are the parent's, inherited: valid memory in this process.
        unsafe {
            failures.extend(refused("ts_insert", ts_insert(db, id, ts[0], vals[0])));
            failures
                .extend(refused("ts_insert_batch", ts_insert_batch(db, id, ts.as_ptr(), vals.as_ptr(), 2)));
            let batch = ts_batch_new();
            ts_batch_add(batch, id, ts[1], vals[1]);
            failures.extend(refused("ts_batch_commit", ts_batch_commit(db, batch)));
            ts_batch_free(batch);
            failures.extend(refused("ts_metric_create", ts_metric_create(db, other.as_ptr(), &mut out_id)));
            failures.extend(refused("ts_metric_drop", ts_metric_drop(db, id)));
            failures.extend(refused("ts_delete_range", ts_delete_range(db, id, 0, 50)));
            failures.extend(refused("ts_metric_set_retention", ts_metric_set_retention(db, id, 10)));
            failures.extend(refused("ts_enforce_retention", ts_enforce_retention(db, &mut dropped)));
            failures.extend(refused("ts_checkpoint", ts_checkpoint(db)));
            failures.extend(refused("ts_db_stats", ts_db_stats(db, &mut stats)));
            failures.extend(refused("ts_check", ts_check(db, &mut report)));
            // Reads of what was inherited go on: the cursor begun before the fork (its
            // sealed points through the inherited map), and a snapshot begun now.
            let (mut t, mut v, mut n) = ([0i64; 256], [0f64; 256], 0usize);
            let mut got = Vec::new();
            let rc = loop {
                match ts_cursor_next_batch(cur, t.as_mut_ptr(), v.as_mut_ptr(), 256, &mut n) {
                    TS_OK => got.extend((0..n).map(|i| (t[i], v[i].to_bits()))),
                    rc => break rc,
                }
            };
            if rc != TS_DONE || got != points(0..100) {
                failures.push(format!("the cursor begun before the fork: {rc:?} after {} points", got.len()));
            }
            ts_cursor_free(cur);
            ts_txn_release(txn);
            let mut snap = null_mut();
            let mut count = 0;
            if ts_txn_begin(db, &mut snap) != TS_OK
                || ts_txn_metric_count(snap, &mut count) != TS_OK
                || count != 1
            {
                failures.push(format!("a snapshot of the inherited state: {count} metrics ({})", errmsg()));
            }
            ts_txn_release(snap);
            // Close is refused (nothing checkpointed, deleted or joined), leaving the
            // handle allocated: a second call is refused the same way.
            failures.extend(refused("ts_close", ts_close(db)));
            failures.extend(refused("ts_close", ts_close(db)));
        }
        if !failures.is_empty() {
            return failures;
        }
        // Once the parent has closed, this process can open the database itself.
        let mut byte = [0u8];
        if (&*go).read_exact(&mut byte).is_err() {
            return vec!["the parent did not say it closed".into()];
        }
        let (mut db2, mut txn2, mut id2) = (null_mut(), null_mut(), 0u64);
        // SAFETY: valid strings and out-pointers; a handle opened in this process.
        unsafe {
            if ts_open(path.as_ptr(), null(), &mut db2) != TS_OK {
                return vec![format!("ts_open in the child after the parent closed: {}", errmsg())];
            }
            ts_txn_begin(db2, &mut txn2);
            ts_metric_lookup(txn2, name.as_ptr(), &mut id2);
            ts_txn_release(txn2);
            let rc = [ts_insert(db2, id2, 5000, 5000.0), ts_close(db2)];
            if rc != [TS_OK, TS_OK] {
                return vec![format!("writing in the child's own open: {rc:?} ({})", errmsg())];
            }
        }
        Vec::new()
    });
    // The parent writes on meanwhile, checkpoints, writes, closes.
    // SAFETY: the parent's own handles.
    unsafe {
        for t in 100..200 {
            assert_eq!(ts_insert(db, id, t, t as f64), TS_OK, "{}", errmsg());
        }
        assert_eq!(ts_checkpoint(db), TS_OK, "{}", errmsg());
        let ts: Vec<i64> = (200..250).collect();
        let vals: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
        assert_eq!(ts_insert_batch(db, id, ts.as_ptr(), vals.as_ptr(), ts.len()), TS_OK);
        ts_cursor_free(cur);
        ts_txn_release(txn);
        assert_eq!(ts_close(db), TS_OK, "{}", errmsg());
    }
    go_wr.write_all(b"x").unwrap();
    drop(go_wr);
    child.expect_success();
    // Every point the parent was acknowledged, and the child's own open's; none of the
    // refused writes.
    let mut want = points(0..250);
    want.push((5000, 5000f64.to_bits()));
    assert_eq!(reopen_and_read(&dir, "m"), want);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Through the Rust API: in the child, writes, checkpoint, stats and check fail, and
/// `close` (then the drop of the `Database`) gives up the handle without touching a file
/// or joining the background thread.
#[test]
fn a_database_closed_and_dropped_in_a_forked_child_touches_no_file() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmpdir("rust-api");
    let mut o = Options::default();
    o.set_partition_points(64).unwrap();
    let db = Database::open(&dir, &o).unwrap();
    let m = db.create_metric("m").unwrap();
    let ts: Vec<i64> = (0..100).collect();
    let vals: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
    db.insert_batch(m, &ts, &vals).unwrap();
    db.insert(m, 100, 100.0).unwrap(); // the head holds points too
    let before = files(&dir);
    let parent = std::process::id();
    let shared = &db;
    let child = fork(|| {
        // SAFETY: this process's copy of the parent's `Database`, owned by nothing else
        // here (the parent's own is in the parent): as a forked child holds it.
        let db = unsafe { std::ptr::read(shared) };
        let mut failures = Vec::new();
        let mut refused = |what: &str, r: Result<(), Error>| match r {
            Err(Error::InvalidArgument(m)) if m.contains(&format!("opened by process {parent}")) => {}
            other => failures.push(format!("{what}: {other:?}")),
        };
        refused("insert", db.insert(m, 1_000_000, 1.0));
        refused("insert_batch", db.insert_batch(m, &[1_000_001], &[1.0]));
        refused("create_metric", db.create_metric("other").map(|_| ()));
        refused("drop_metric", db.drop_metric(m));
        refused("delete_range", db.delete_range(m, 0, 10));
        refused("set_retention", db.set_retention(m, 5));
        refused("enforce_retention", db.enforce_retention().map(|_| ()));
        refused("checkpoint", db.checkpoint());
        refused("stats", db.stats().map(|_| ()));
        refused("check", db.check().map(|_| ()));
        match db.close() {
            Err((None, Error::InvalidArgument(m))) if m.contains("forked child") => {}
            Err((_, e)) => failures.push(format!("close: {e:?}")),
            Ok(()) => failures.push("close: Ok".into()),
        }
        failures
    });
    child.expect_success();
    assert_eq!(files(&dir), before, "the child changed the database's files");
    db.insert(m, 101, 101.0).unwrap();
    db.checkpoint().unwrap();
    db.insert(m, 102, 102.0).unwrap();
    db.close().map_err(|(_, e)| e).unwrap();
    assert_eq!(reopen_and_read(&dir, "m"), points(0..103));
    std::fs::remove_dir_all(&dir).unwrap();
}
