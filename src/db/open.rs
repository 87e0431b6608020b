//! Opening a database: the directory and its lock, the manifest, the log, and the order in
//! which they are checked and repaired (docs/format.md, "Opening").
//!
//! Nothing is changed on disk until everything has been read and checked: the manifest,
//! every data segment it names, and the whole log. Only then, on the word of a manifest
//! made durable first, are the files nothing needs deleted (data segments it does not
//! name, log segments before where it says the log starts, a rotation's leftovers) and a
//! torn end of the log cleared.
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use super::health::Health;
use super::{CheckpointFigures, Checkpoints, RawHeads, Retention, Signal};
use super::{Checkpointer, DATA_DIR, Database, LOCK_FILE, Shared, WAL_DIR};
use crate::MetricId;
use crate::partition::{Head, Part, PartitionMap, Sealed};
use crate::storage::manifest::{self, Header, Manifest};
use crate::storage::segment::{self, DataSegment, DataWriter, Reclaim};
use crate::storage::wal::Replayed;
use crate::storage::wal::{self, Wal};
use crate::storage::{file_name, io_err, numbered_files, sync_dir};
use crate::sys;
use crate::sys::fork::Owner;
use crate::txn::{Global, Version};
use crate::{Error, Options, Result, SyncPolicy};

impl Database {
    /// Open (creating when missing, per `opts.create_if_missing`) the database at `path`:
    /// load the last checkpoint's manifest and replay the write-ahead log after it.
    ///
    /// The parent of `path` must exist. A new database is made only in a missing or empty
    /// directory; a directory that holds other files and no database is refused
    /// ([`Error::InvalidArgument`]), and one whose MANIFEST is missing or empty beside data
    /// or log files is damaged ([`Error::Corruption`]), never taken for a new database.
    pub fn open(path: impl AsRef<Path>, opts: &Options) -> Result<Database> {
        let path = path.as_ref();
        prepare_dir(path, opts)?;
        let dir_lock = DirLock::take(path)?;
        let data_dir = path.join(DATA_DIR);
        let wal_dir = path.join(WAL_DIR);
        // Under SyncPolicy::None nothing is fsynced before close (a process crash is still
        // safe: the page cache keeps every write).
        let fsync = opts.sync != SyncPolicy::None;
        let (manifest, header) = open_manifest(path, fsync)?;
        let lock = dir_lock.and_lock_file(path)?;
        let data_files = numbered_files(&data_dir, segment::EXT)?;
        let log = wal::scan(&wal_dir, header.checkpoint_seq, header.log)?;
        let next_data = data_files.last().map_or(1, |n| n.saturating_add(1)).max(header.next_data_seg);
        let reclaim = Arc::new(Reclaim::default());
        let mut shared = Arc::new(Shared {
            txn: Global::new(Version::empty(), 1, 0),
            opts: opts.clone(),
            raw_heads: RawHeads::new(opts.raw_heads()),
            health: Health::default(),
            path: path.to_owned(),
            // Replaced below, once replay has said where the log goes on.
            wal: Wal::new(wal_dir.clone(), u64::MAX, 0, false, false),
            data: Mutex::new(DataWriter::new(data_dir.clone(), next_data, reclaim.clone(), fsync)),
            reclaim: reclaim.clone(),
            checkpointed: Mutex::new(Checkpointer { seq: 0, manifest }),
            checkpoints: Checkpoints::default(),
            retention: Retention::default(),
            signal: Signal::default(),
            lock: Mutex::new(Some(lock)),
            owner: Owner::current(),
        });
        let sh = Arc::get_mut(&mut shared).expect("not shared yet");
        if let Err(e) = sh.recover(path, header, data_files, log, opts) {
            // Replay may have sealed blocks into new data segments before it met damage:
            // a failed open leaves the directory as it found it.
            let created = sh.data.lock().created();
            drop(shared);
            for p in created {
                let _ = sys::remove_file(&p);
            }
            return Err(e);
        }
        let bg = Shared::start_background(&shared)?;
        Ok(Database { shared, background: Some(bg), closed: false })
    }
}

impl Shared {
    /// Load the manifest, replay the log after it, then (everything checked) delete what
    /// nothing needs and get the log ready for writes.
    fn recover(
        &mut self,
        path: &Path,
        header: Header,
        data_files: Vec<u64>,
        log: wal::Recovery,
        opts: &Options,
    ) -> Result<()> {
        let sh = self;
        let data_dir = path.join(DATA_DIR);
        let fsync = opts.sync != SyncPolicy::None;
        let used = sh.load_manifest(&data_dir, header)?;
        let after = header.checkpoint_seq;
        log.apply(after, |seq, rec| sh.replay(seq, rec))?;
        sh.txn.seqr().advance_to(log.max_seq);
        // Everything is read and checked. Data segments the manifest does not name hold only
        // blocks written after its checkpoint, whose points the log has (replay wrote them
        // again): they go, once the manifest that says so is on disk.
        let unused: Vec<u64> = data_files.into_iter().filter(|n| !used.contains(n)).collect();
        if !unused.is_empty() || log.has_leftovers() {
            sh.checkpointed.get_mut().manifest.sync()?;
            sync_dir(path)?;
        }
        for no in unused {
            let p = data_dir.join(file_name(no, segment::EXT));
            match sys::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("cannot delete unused data segment", &p, &e)),
            }
        }
        let _ = sys::remove_dir_all(&path.join(manifest::REWRITE_DIR)); // a failed rewrite's
        sh.wal = Wal::open(log, opts.wal_segment_len(), fsync, opts.sync == SyncPolicy::Always)?;
        // Retention (the default may have changed since the last open) is the background
        // thread's first work.
        let due: Vec<u64> = {
            let v = sh.txn.load();
            v.ids.range_from(0).filter(|(_, m)| sh.retention_cut(m).is_some()).map(|(id, _)| id).collect()
        };
        sh.retention.due.get_mut().extend(due);
        Ok(())
    }
}

/// Make sure `path` is a directory, creating it when missing and allowed.
fn prepare_dir(path: &Path, opts: &Options) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::InvalidArgument(format!("not a directory (path={})", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !opts.create_if_missing {
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
/// no second process in. Released when the database's last reference goes.
pub(crate) struct DirLock {
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

impl Shared {
    /// Load the manifest into the (still private) current version; returns the data
    /// segments it names.
    pub(super) fn load_manifest(&mut self, data_dir: &Path, header: Header) -> Result<Vec<u64>> {
        let mut segs: HashMap<u64, Arc<DataSegment>> = HashMap::new();
        let reclaim = self.reclaim.clone();
        let mut version = Version::empty();
        let mut seg = |no: u64| -> Result<Arc<DataSegment>> {
            if let Some(s) = segs.get(&no) {
                return Ok(s.clone());
            }
            let s = DataSegment::open(data_dir, no, reclaim.clone())?;
            segs.insert(no, s.clone());
            Ok(s)
        };
        let run_points = self.opts.head_run_points;
        let raw_heads = &self.raw_heads;
        let mut max_id = 0;
        self.checkpointed.get_mut().manifest.load(|m| {
            max_id = m.id;
            let mut parts = Vec::with_capacity(m.parts.len());
            for p in &m.parts {
                parts.push(Part {
                    start: p.start,
                    data: Arc::new(Sealed::on_disk(seg(p.block.seg)?, &p.block)),
                });
            }
            let head = Head::default();
            {
                let mut h = head.lock();
                let (mut ts, mut vals) = (Vec::new(), Vec::new());
                for r in &m.extents {
                    let e = Arc::new(Sealed::on_disk(seg(r.seg)?, r));
                    e.decode_into(&mut ts, &mut vals)?;
                    // Restored points carry seq 0: older than any replayed write, and a
                    // later extent wins over an earlier one by append order.
                    h.push_all(&ts, &vals, 0);
                    h.add_extent(e);
                }
                if h.len() > 0 {
                    h.settle(u32::MAX, run_points, || raw_heads.admit());
                }
            }
            let id = MetricId(m.id);
            let name: Arc<str> = m.name.as_str().into();
            let map = PartitionMap {
                id,
                name: name.clone(),
                parts: parts.into(),
                head,
                retention: m.retention.into(),
            };
            version = version.add_metric(id, &m.name, || map).map_err(|other| {
                Error::Corruption(format!(
                    "MANIFEST: metric name {:?} listed twice (ids {} and {})",
                    m.name, other.0, m.id
                ))
            })?;
            Ok(())
        })?;
        // Creates take ids from next_id on: one that a metric holds would replace it.
        let h = header;
        if h.next_id == 0 || h.next_id <= max_id {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: the next metric id is {}, but metric {max_id} exists",
                h.next_id
            )));
        }
        self.checkpointed.get_mut().seq = h.checkpoint_seq;
        let (bytes, live) = self.checkpointed.get_mut().manifest.sizes();
        *self.checkpoints.last.get_mut() =
            CheckpointFigures { manifest_bytes: bytes, manifest_live_bytes: live, seq: h.checkpoint_seq };
        self.txn = Global::new(version, h.next_id, h.checkpoint_seq);
        Ok(segs.into_keys().collect())
    }

    /// Apply one replayed log record (numbered `seq`), as the original write did.
    pub(super) fn replay(&self, seq: u64, rec: Replayed) -> Result<()> {
        self.txn.seqr().advance_to(seq);
        match rec {
            Replayed::Create { id, name } => {
                let created = self.txn.commit(|cur, w| {
                    w.next_id = w.next_id.max(id.saturating_add(1));
                    if cur.ids.get(id).is_some() {
                        return Ok((None, false));
                    }
                    let mid = MetricId(id);
                    let next = cur.add_metric(mid, &name, || PartitionMap::new(mid, name.as_str().into())).map_err(
                        |other| {
                            Error::Corruption(format!(
                                "write-ahead log: metric {name:?} created as id {id} while id {} holds the name",
                                other.0
                            ))
                        },
                    )?;
                    Ok((Some(next), true))
                })?;
                if created {
                    self.mark_dirty(MetricId(id));
                }
            }
            Replayed::Drop { id } => {
                let dropped = self.txn.commit(|cur, _| {
                    Ok(match cur.ids.get(id) {
                        Some(map) => {
                            self.raw_heads.release(map.head.lock().freeze());
                            (Some(cur.drop_metric(map)), true)
                        }
                        None => (None, false),
                    })
                })?;
                if dropped {
                    self.mark_dirty(MetricId(id));
                }
            }
            Replayed::Insert { id, ts, vals } => {
                match self.push_points(MetricId(id), None, &ts, &vals, seq) {
                    Ok(true) => self.seal(MetricId(id)),
                    Ok(false) | Err(Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Replayed::Retention { id, span } => self.apply_retention_setting(MetricId(id), span),
            Replayed::Delete { id, from, until } => {
                // `advance_to` published `seq` itself; nothing runs concurrently in replay.
                self.apply_delete(MetricId(id), from, until, seq)?;
            }
            Replayed::Batch { ids, ts, vals } => {
                // The live commit checked every id; one missing now was dropped later.
                let v = self.txn.load();
                let keep: Vec<usize> = (0..ids.len()).filter(|&i| v.ids.get(ids[i]).is_some()).collect();
                drop(v);
                let (ids, ts, vals) = (pick(&keep, &ids), pick(&keep, &ts), pick(&keep, &vals));
                if ids.is_empty() {
                    return Ok(());
                }
                for id in self.push_batch(&ids, &ts, &vals, seq)? {
                    self.seal(id);
                }
            }
        }
        Ok(())
    }
}

/// The elements of `xs` at positions `keep`.
fn pick<T: Copy>(keep: &[usize], xs: &[T]) -> Vec<T> {
    keep.iter().map(|&i| xs[i]).collect()
}
