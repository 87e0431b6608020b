//! The engine's one seam to the operating system: every call about its files (open,
//! create, write, sync, allocate, truncate, map, rename, delete, list, lock) and the few
//! other libc calls it needs. Everything else in the crate is safe code that calls these.
//!
//! Each file-system call asks [`fault::check`] first, so a test build (feature
//! `fault-injection`) can fail any of them with the errno of its choice.
//!
//! Memory maps: a map of a file is only sound while nobody shrinks the file under it or
//! changes the bytes a reader holds. The engine keeps that rule for every file in a
//! database directory: log segments are written only through the one writable map of the
//! process that holds the database's lock and are deleted only after it is dropped; data
//! segments and the manifest are only appended to with `pwrite` past the bytes readers
//! use, trimmed when no map of them is left, and replaced by rename. [`ReadMap::range`]
//! hands out only the bytes asked for, never a reference to the whole mapping (parts of
//! which a concurrent `pwrite` may be filling).
pub mod fault;
pub(crate) mod fork;

use std::fs::{File, OpenOptions, ReadDir};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use fault::{Op, check};

/// Open an existing file for reading.
pub(crate) fn open_read(path: &Path) -> io::Result<File> {
    check(Op::Open)?;
    File::open(path)
}

/// Open an existing file for reading and writing.
pub(crate) fn open_rw(path: &Path) -> io::Result<File> {
    check(Op::Open)?;
    OpenOptions::new().read(true).write(true).open(path)
}

/// Create a new file for reading and writing; fails if it exists.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    check(Op::Create)?;
    OpenOptions::new().read(true).write(true).create_new(true).open(path)
}

/// Open a file for reading and writing, creating it (empty) when missing.
pub(crate) fn open_or_create(path: &Path) -> io::Result<File> {
    check(Op::Create)?;
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

/// Write all of `buf` at `off`.
pub(crate) fn write_all_at(file: &File, buf: &[u8], off: u64) -> io::Result<()> {
    check(Op::Write)?;
    file.write_all_at(buf, off)
}

/// `fdatasync`.
pub(crate) fn sync_data(file: &File) -> io::Result<()> {
    check(Op::Sync)?;
    file.sync_data()
}

/// `fsync`.
pub(crate) fn sync_all(file: &File) -> io::Result<()> {
    check(Op::Sync)?;
    file.sync_all()
}

/// fsync a directory, so that creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    check(Op::Sync)?;
    File::open(path)?.sync_all()
}

/// Truncate or extend a file to `len` bytes.
pub(crate) fn set_len(file: &File, len: u64) -> io::Result<()> {
    check(Op::SetLen)?;
    file.set_len(len)
}

/// Allocate the first `len` bytes of a file (`posix_fallocate`), so that a full disk is an
/// error now, never a SIGBUS on a mapped page later.
#[allow(unsafe_code)]
pub(crate) fn allocate(file: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    check(Op::Allocate)?;
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::other("file too large"))?;
    // SAFETY: a plain system call on a file descriptor that `file` keeps open for its
    // duration; it touches no memory of ours.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
        0 => Ok(()),
        err => Err(io::Error::from_raw_os_error(err)),
    }
}

/// Rename `from` to `to` (replacing `to`).
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    check(Op::Rename)?;
    std::fs::rename(from, to)
}

/// Delete a file.
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    check(Op::Remove)?;
    std::fs::remove_file(path)
}

/// Delete a directory and everything in it.
pub(crate) fn remove_dir_all(path: &Path) -> io::Result<()> {
    check(Op::Remove)?;
    std::fs::remove_dir_all(path)
}

/// Create a directory (its parent must exist).
pub(crate) fn create_dir(path: &Path) -> io::Result<()> {
    check(Op::Mkdir)?;
    std::fs::create_dir(path)
}

/// List a directory.
pub(crate) fn read_dir(path: &Path) -> io::Result<ReadDir> {
    check(Op::ReadDir)?;
    std::fs::read_dir(path)
}

/// Take an exclusive `flock` on `file` without waiting: `Ok(false)` when another open file
/// description holds it.
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    check(Op::Lock)?;
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// A read-only shared map of a whole file.
pub(crate) struct ReadMap {
    map: memmap2::Mmap,
}

impl ReadMap {
    /// Map `file` (its length now) for reading. An empty file maps to nothing.
    #[allow(unsafe_code)]
    pub(crate) fn new(file: &File) -> io::Result<ReadMap> {
        check(Op::Map)?;
        // SAFETY: see the module's rule on maps: no file of a database is shrunk while a
        // map of it lives, and bytes are only read where nothing writes them any more.
        let map = unsafe { memmap2::Mmap::map(file) }?;
        Ok(ReadMap { map })
    }

    /// Bytes mapped.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The bytes `off..off + len`, or `None` outside the map. Only that range is borrowed:
    /// other parts of the file may be written (with `pwrite`) meanwhile.
    #[allow(unsafe_code)]
    pub(crate) fn range(&self, off: u64, len: usize) -> Option<&[u8]> {
        let off = usize::try_from(off).ok()?;
        let end = off.checked_add(len)?;
        if end > self.map.len() {
            return None;
        }
        // SAFETY: `off..end` lies inside the mapping (checked above), which lives as long
        // as `self`; the map's rule keeps these bytes unchanged while borrowed.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(off), len) })
    }

    /// All the mapped bytes, for files nothing writes while this map lives (a log segment
    /// being replayed, the manifest between commits).
    pub(crate) fn all(&self) -> &[u8] {
        self.range(0, self.map.len()).expect("the whole map")
    }
}

/// A writable shared map of a whole file: a log segment, written by one owner.
pub(crate) struct WriteMap {
    map: memmap2::MmapMut,
}

impl WriteMap {
    /// Map `file` (already allocated to its full length) for writing.
    #[allow(unsafe_code)]
    pub(crate) fn new(file: &File) -> io::Result<WriteMap> {
        check(Op::Map)?;
        // SAFETY: see the module's rule on maps: a log segment is mapped writable only by
        // the process holding the database's lock, which neither truncates it nor maps it
        // again while this map lives.
        let map = unsafe { memmap2::MmapMut::map_mut(file) }?;
        Ok(WriteMap { map })
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}

/// Ask the CPU to bring the cache line holding `p` into its caches soon. A hint only:
/// whatever `p` is, nothing is read or written and nothing faults. A write to a million
/// heads misses the cache on each; issued a few heads ahead, the misses overlap instead of
/// coming one after another (`Shared::push_batch`).
#[allow(unsafe_code)]
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it never faults, even on an invalid address, and
    // changes no memory and no architectural state (Intel SDM, PREFETCHh). `sse` is part
    // of the x86_64 baseline, so the target feature is always present.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Give the pages of freed memory back to the OS. A checkpoint's transient buffers sit
/// among long-lived heads; glibc's malloc keeps such freed pages resident (measured: 27 vs
/// 4 bytes of resident heap per head point in 100K slowly written heads).
#[allow(unsafe_code)]
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Seconds of the monotonic clock, read cheaply: `CLOCK_MONOTONIC_COARSE` is served from
/// the vDSO's data page without touching a hardware clock (about 5 ns, where
/// `Instant::now` cost ~40 ns on the benchmark VM and doubled `ts_txn_begin` +
/// `ts_txn_release`). Its few-ms resolution is plenty for ages counted in seconds.
#[allow(unsafe_code)]
pub(crate) fn coarse_secs() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid, writable timespec; clock_gettime only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    if rc == 0 { t.tv_sec as u64 } else { 0 }
}
