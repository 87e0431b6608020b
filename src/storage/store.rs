//! The database directory as one whole: its layout and lock, the data segments (the writer
//! blocks go to, their sync at a checkpoint, the deletion of those nothing names) and the
//! manifest. The engine above names no file and lists no directory: it asks the store
//! (docs/format.md, "Files" and "Opening").
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::manifest::{self, Header, Manifest};
use super::segment::{self, DataSegment, DataWriter, Reclaim};
use super::{FILE_HEADER_LEN, check_file_header, file_name, io_err, numbered_files, sync_dir};
use crate::{Error, Result, sys};

/// Name of the lock file inside the database directory.
const LOCK_FILE: &str = "LOCK";
/// The directory of the write-ahead log's segments.
const WAL_DIR: &str = "wal";
/// The directory of the data segments.
const DATA_DIR: &str = "data";

/// An open database directory.
pub struct Store {
    dir: PathBuf,
    /// Where sealed blocks and checkpoint extents go.
    blocks: Mutex<DataWriter>,
    /// Deletes data segments once nothing refers to them.
    reclaim: Arc<Reclaim>,
    /// The manifest the last checkpoint committed. Its lock serialises checkpoints (and
    /// keeps them off the file while `check` reads it).
    manifest: Mutex<Manifest>,
    /// The directory's lock, held while the database is open: a second open, from this
    /// process or another, fails with `Busy`. A forked child drops its inherited
    /// descriptors (`release_lock`): the parent's lock stays.
    lock: Mutex<Option<DirLock>>,
}

/// What [`Store::open`] found beside the store itself.
pub struct Found {
    /// The manifest's header: the checkpoint it holds and where the log goes on.
    pub header: Header,
    /// The data segment files present, ascending. Those the manifest does not name go at
    /// [`Store::remove_unneeded`], once recovery has checked everything.
    pub data_files: Vec<u64>,
}

impl Store {
    /// Open the database directory `dir` (creating it, and a new database in it, when
    /// missing or empty and `create` allows): take its lock, open the manifest and list the
    /// data segments. Nothing is deleted or repaired here.
    pub fn open(dir: &Path, create: bool, fsync: bool) -> Result<(Store, Found)> {
        prepare_dir(dir, create)?;
        let dir_lock = DirLock::take(dir)?;
        let (manifest, header) = open_manifest(dir, fsync)?;
        let lock = dir_lock.and_lock_file(dir)?;
        let data_dir = dir.join(DATA_DIR);
        let data_files = numbered_files(&data_dir, segment::EXT)?;
        let next_data = data_files.last().map_or(1, |n| n.saturating_add(1)).max(header.next_data_seg);
        let reclaim = Arc::new(Reclaim::default());
        let store = Store {
            dir: dir.to_owned(),
            blocks: Mutex::new(DataWriter::new(data_dir, next_data, reclaim.clone(), fsync)),
            reclaim,
            manifest: Mutex::new(manifest),
            lock: Mutex::new(Some(lock)),
        };
        Ok((store, Found { header, data_files }))
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of the write-ahead log (the log owns its files).
    pub fn wal_dir(&self) -> PathBuf {
        self.dir.join(WAL_DIR)
    }

    /// The manifest file's length (for `check`).
    pub fn manifest_len(&self) -> Result<u64> {
        let path = self.dir.join(manifest::FILE);
        let md = std::fs::metadata(&path).map_err(|e| io_err("cannot stat manifest", &path, &e))?;
        Ok(md.len())
    }

    /// Data segment `no`'s file, and its name in messages (`data/NNNNNNNN.seg`).
    pub fn data_file(&self, no: u64) -> PathBuf {
        self.dir.join(DATA_DIR).join(file_name(no, segment::EXT))
    }

    pub fn data_label(no: u64) -> String {
        segment::label(no)
    }

    /// The writer sealed blocks and extents are appended to.
    pub fn blocks(&self) -> &Mutex<DataWriter> {
        &self.blocks
    }

    /// The reclamation of data segments nothing refers to any more.
    pub fn reclaim(&self) -> &Reclaim {
        &self.reclaim
    }

    /// The manifest, locked: a checkpoint holds it from start to commit.
    pub fn manifest(&self) -> MutexGuard<'_, Manifest> {
        self.manifest.lock()
    }

    /// Open data segment `no`, which the manifest names, for reading.
    pub fn open_segment(&self, no: u64) -> Result<Arc<DataSegment>> {
        DataSegment::open(&self.dir.join(DATA_DIR), no, self.reclaim.clone())
    }

    /// Make every block appended so far durable (a checkpoint's step before its manifest
    /// commit: `forced` at close, also under `SyncPolicy::None`); returns the number the
    /// next new data segment gets, for the manifest. The segments are synced without the
    /// writer's lock: seals would wait for the disk, and their new blocks belong to the
    /// next checkpoint. On failure they stay listed for the next attempt.
    pub fn sync_blocks(&self, forced: bool) -> Result<u64> {
        let (unsynced, next_no) = {
            let mut w = self.blocks.lock();
            (w.take_unsynced(forced), w.next_no())
        };
        if let Some(e) = unsynced.iter().find_map(|seg| seg.sync().err()) {
            self.blocks.lock().untake(unsynced);
            return Err(e);
        }
        Ok(next_no)
    }

    /// After recovery checked everything: delete the data segments found at open that the
    /// manifest does not name (they hold only blocks written after its checkpoint, which
    /// replay wrote again) and a failed rewrite's leftovers, once the manifest that says
    /// so is durable. `sync_first` makes it durable also when nothing here is deleted (the
    /// log has leftovers of its own to delete).
    pub fn remove_unneeded(&mut self, found: Vec<u64>, used: &[u64], sync_first: bool) -> Result<()> {
        let unused: Vec<u64> = found.into_iter().filter(|n| !used.contains(n)).collect();
        if !unused.is_empty() || sync_first {
            self.manifest.get_mut().sync()?;
            sync_dir(&self.dir)?;
        }
        for no in unused {
            let p = self.data_file(no);
            match sys::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("cannot delete unused data segment", &p, &e)),
            }
        }
        let _ = sys::remove_dir_all(&self.dir.join(manifest::REWRITE_DIR));
        Ok(())
    }

    /// Delete the data segments this store created (an open that fails leaves the
    /// directory as it found it). Call after every reference to them is gone.
    pub fn discard_created(self) {
        let created = self.blocks.lock().created();
        drop(self);
        for p in created {
            let _ = sys::remove_file(&p);
        }
    }

    /// Give up this process's descriptors of the directory lock (a forked child's copy):
    /// the lock itself stays with the process that took it.
    pub fn release_lock(&self) {
        self.lock.lock().take();
    }

    /// Damage in data segment `no`'s file header, if any (for `check`).
    pub fn check_segment_header(&self, no: u64) -> Result<Option<String>> {
        use std::os::unix::fs::FileExt;
        let (path, label) = (self.data_file(no), Store::data_label(no));
        let file = sys::open_read(&path).map_err(|e| io_err("cannot open data segment", &path, &e))?;
        let mut h = [0u8; FILE_HEADER_LEN];
        if let Err(e) = file.read_exact_at(&mut h, 0) {
            return Ok(Some(format!("{label} offset 0: cannot read the segment header: {e}")));
        }
        Ok(check_file_header(&h, &segment::MAGIC, &[segment::FORMAT], no, &label)
            .err()
            .map(|e| e.to_string()))
    }

    /// Bytes the database's files take on disk (allocated blocks, as `du` counts).
    pub fn disk_usage(&self) -> Result<u64> {
        disk_usage(&self.dir)
    }
}

fn disk_usage(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let entries = sys::read_dir(dir).map_err(|e| io_err("cannot list directory", dir, &e))?;
    for e in entries {
        let e = e.map_err(|e| io_err("cannot list directory", dir, &e))?;
        let path = e.path();
        // A file deleted meanwhile (a checkpoint's) counts as gone.
        let Ok(md) = std::fs::symlink_metadata(&path) else { continue };
        total += md.blocks() * 512;
        if md.is_dir() {
            total += disk_usage(&path)?;
        }
    }
    Ok(total)
}

/// Make sure `path` is a directory, creating it when missing and allowed.
fn prepare_dir(path: &Path, create: bool) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::InvalidArgument(format!("not a directory (path={})", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                return Err(Error::NotFound(format!(
                    "database directory does not exist and create_if_missing is off (path={})",
                    path.display()
                )));
            }
            sys::create_dir(path).map_err(|e| io_err("cannot create database directory", path, &e))
        }
        Err(e) => Err(io_err("cannot stat", path, &e)),
    }
}

/// The lock that keeps a second writer out: an exclusive `flock` on the database directory
/// itself, which cannot be deleted from under it, and (for older versions of libtsdb, which
/// lock only that) on `DIR/LOCK`. Deleting LOCK while the database is open therefore lets
/// no second process in. Released when the store goes.
struct DirLock {
    _dir: File,
    _file: Option<File>,
}

fn busy(path: &Path) -> Error {
    Error::Busy(format!("database is already open, in this or another process (path={})", path.display()))
}

impl DirLock {
    /// Lock the directory (creating no file in it: a directory that turns out not to be a
    /// database is left as it was).
    fn take(path: &Path) -> Result<DirLock> {
        let dir = sys::open_read(path).map_err(|e| io_err("cannot open database directory", path, &e))?;
        if !sys::try_lock(&dir).map_err(|e| io_err("cannot lock database directory", path, &e))? {
            return Err(busy(path));
        }
        Ok(DirLock { _dir: dir, _file: None })
    }

    /// Also lock `DIR/LOCK`, creating it.
    fn and_lock_file(mut self, path: &Path) -> Result<DirLock> {
        let lock_path = path.join(LOCK_FILE);
        let file =
            sys::open_or_create(&lock_path).map_err(|e| io_err("cannot open lock file", &lock_path, &e))?;
        if !sys::try_lock(&file).map_err(|e| io_err("cannot lock", &lock_path, &e))? {
            return Err(busy(path));
        }
        self._file = Some(file);
        Ok(self)
    }
}

/// Open the manifest, or create the first one when `path` holds no database yet. A missing
/// or empty MANIFEST beside data or log files is damage: taking it for a new database would
/// hide (and a checkpoint would then delete) every byte of data.
fn open_manifest(path: &Path, fsync: bool) -> Result<(Manifest, Header)> {
    let file = path.join(manifest::FILE);
    let len = match std::fs::metadata(&file) {
        Ok(m) => Some(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("cannot stat manifest", &file, &e)),
    };
    if len.is_some_and(|l| l > 0) {
        return Manifest::open(path, fsync);
    }
    let state = if len.is_some() { "empty" } else { "missing" };
    let mut stored = Vec::new();
    let mut foreign = Vec::new();
    for entry in sys::read_dir(path).map_err(|e| io_err("cannot list directory", path, &e))? {
        let entry = entry.map_err(|e| io_err("cannot list directory", path, &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match name.as_str() {
            LOCK_FILE | manifest::FILE | manifest::REWRITE_DIR => {}
            DATA_DIR | WAL_DIR => {
                let sub = path.join(&name);
                for e in sys::read_dir(&sub).map_err(|e| io_err("cannot list directory", &sub, &e))? {
                    let e = e.map_err(|e| io_err("cannot list directory", &sub, &e))?;
                    stored.push(format!("{name}/{}", e.file_name().to_string_lossy()));
                }
            }
            _ => foreign.push(name),
        }
    }
    if !stored.is_empty() {
        stored.sort();
        return Err(Error::Corruption(format!(
            "MANIFEST offset 0: {state}, but the directory holds {} ({} file(s)): the database's index of \
             its data is gone; refusing to open it as a new, empty database (path={})",
            stored.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            stored.len(),
            path.display()
        )));
    }
    if !foreign.is_empty() {
        foreign.sort();
        return Err(Error::InvalidArgument(format!(
            "not a libtsdb database: the directory holds {} and no MANIFEST; open a new or empty \
             directory (path={})",
            foreign.iter().take(3).map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", "),
            path.display()
        )));
    }
    Manifest::create(path, fsync)
}
