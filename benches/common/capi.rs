//! The C API as the benchmark programs call it: a shareable `ts_db *`, status checks that
//! panic with `ts_errmsg()`, a database in a temporary directory, realistic metric names,
//! and the process's resident memory.
use std::ffi::{CStr, CString, c_char};
use std::io::Write as _;
use std::path::PathBuf;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicU32, Ordering};

use tsdb::ffi::db::{ts_close, ts_db, ts_open};
use tsdb::ffi::metric::ts_metric_create;
use tsdb::ffi::status::{ts_errmsg, ts_status};

/// A `ts_db *` that threads may share (the C API allows any number of threads on a db).
#[derive(Clone, Copy)]
pub struct Db(pub *mut ts_db);
// SAFETY: `ts_db` is documented thread-safe: any number of threads may use it at once.
unsafe impl Send for Db {}
// SAFETY: as above.
unsafe impl Sync for Db {}

pub fn errmsg() -> String {
    // SAFETY: ts_errmsg never returns NULL; the string lives until this thread's next failure.
    unsafe { CStr::from_ptr(ts_errmsg()) }.to_string_lossy().into_owned()
}

#[track_caller]
pub fn check(st: ts_status, what: &str) {
    if st != ts_status::TS_OK {
        panic!("{what} failed: {st:?}: {}", errmsg());
    }
}

/// A database in a fresh temporary directory, closed and removed on drop.
pub struct TempDb {
    pub db: Db,
    pub dir: PathBuf,
}

impl TempDb {
    pub fn open() -> TempDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tsdb-bench-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let path = CString::new(dir.to_str().expect("temp dir is UTF-8")).expect("no NUL in temp dir");
        let mut db = null_mut();
        // SAFETY: valid NUL-terminated path, NULL options (defaults), valid out-pointer.
        check(unsafe { ts_open(path.as_ptr(), std::ptr::null(), &mut db) }, "ts_open");
        TempDb { db: Db(db), dir }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        // SAFETY: the handle came from ts_open; every snapshot and cursor was released.
        let st = unsafe { ts_close(self.db.0) };
        if st != ts_status::TS_OK && !std::thread::panicking() {
            panic!("ts_close failed: {st:?}: {}", errmsg());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn create(db: Db, name: *const c_char) -> u64 {
    let mut id = 0;
    // SAFETY: live db, NUL-terminated name, valid out-pointer.
    check(unsafe { ts_metric_create(db.0, name, &mut id) }, "ts_metric_create");
    id
}

pub fn create_named(db: Db, name: &str) -> u64 {
    let c = CString::new(name).expect("no NUL");
    create(db, c.as_ptr())
}

/// Realistic metric names: 10 measurements per host, e.g. "host0001234.cpu.user".
pub const KINDS: [&str; 10] = [
    "cpu.user",
    "cpu.system",
    "cpu.idle",
    "cpu.iowait",
    "mem.used",
    "mem.free",
    "disk.read_bytes",
    "disk.write_bytes",
    "net.rx_bytes",
    "net.tx_bytes",
];

/// Writes the `i`-th realistic name, NUL-terminated, into a reused buffer (no allocation).
#[derive(Default)]
pub struct NameBuf(Vec<u8>);

impl NameBuf {
    pub fn name(&mut self, i: usize) -> *const c_char {
        self.0.clear();
        write!(self.0, "host{:07}.{}\0", i / KINDS.len(), KINDS[i % KINDS.len()]).expect("write to Vec");
        self.0.as_ptr().cast()
    }
}

impl TempDb {
    /// Close the database (a final checkpoint) and open it again; returns the seconds
    /// `ts_open` took.
    pub fn reopen(&mut self) -> f64 {
        // SAFETY: the handle came from ts_open; the caller released every snapshot.
        check(unsafe { ts_close(self.db.0) }, "ts_close");
        let path = CString::new(self.dir.to_str().expect("temp dir is UTF-8")).expect("no NUL");
        let mut db = null_mut();
        let t = std::time::Instant::now();
        // SAFETY: valid NUL-terminated path, NULL options (defaults), valid out-pointer.
        check(unsafe { ts_open(path.as_ptr(), std::ptr::null(), &mut db) }, "ts_open");
        let secs = t.elapsed().as_secs_f64();
        self.db = Db(db);
        secs
    }
}

/// Resident anonymous memory of this process, in bytes (RssAnon of /proc/self/status): the
/// heap, where metrics, maps and heads live. Mapped pages of the log and data files are
/// page cache (RssFile), which the kernel reclaims and rereads at will, so not counted.
pub fn rss_anon_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
