//! Opening a database: recovery from the store (`storage::store`: the directory, its lock,
//! the manifest) and the log, in the order they are checked and repaired (docs/format.md,
//! "Opening").
//!
//! Nothing is changed on disk until everything has been read and checked: the manifest,
//! every data segment it names, and the whole log. Only then, on the word of a manifest
//! made durable first, are the files nothing needs deleted (data segments it does not
//! name, log segments before where it says the log starts, a rotation's leftovers) and a
//! torn end of the log cleared.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::health::Health;
use super::{CheckpointFigures, Checkpoints, Database, RawHeads, Retention, Shared, Signal};
use crate::MetricId;
use crate::partition::{Head, Part, PartitionMap, Sealed};
use crate::storage::manifest::Header;
use crate::storage::segment::DataSegment;
use crate::storage::store::{Found, Store};
use crate::storage::wal::Replayed;
use crate::storage::wal::{self, Wal};
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
        // Under SyncPolicy::None nothing is fsynced before close (a process crash is still
        // safe: the page cache keeps every write).
        let fsync = opts.sync != SyncPolicy::None;
        let (store, found) = Store::open(path.as_ref(), opts.create_if_missing, fsync)?;
        let wal_dir = store.wal_dir();
        let log = wal::scan(&wal_dir, found.header.checkpoint_seq, found.header.log)?;
        let mut shared = Arc::new(Shared {
            txn: Global::new(Version::empty(), 1, 0),
            opts: opts.clone(),
            raw_heads: RawHeads::new(opts.raw_heads()),
            health: Health::default(),
            // Replaced below, once replay has said where the log goes on.
            wal: Wal::new(wal_dir, u64::MAX, 0, false, false),
            store,
            checkpoints: Checkpoints::default(),
            retention: Retention::default(),
            signal: Signal::default(),
            owner: Owner::current(),
        });
        let sh = Arc::get_mut(&mut shared).expect("not shared yet");
        if let Err(e) = sh.recover(found, log, opts) {
            // Replay may have sealed blocks into new data segments before it met damage:
            // a failed open leaves the directory as it found it.
            // The rest (the versions holding segments) goes at the end of this statement.
            let Shared { store, .. } = Arc::into_inner(shared).expect("not shared yet");
            store.discard_created();
            return Err(e);
        }
        let bg = Shared::start_background(&shared)?;
        Ok(Database { shared, background: Some(bg), closed: false })
    }
}

impl Shared {
    /// Load the manifest, replay the log after it, then (everything checked) delete what
    /// nothing needs and get the log ready for writes.
    fn recover(&mut self, found: Found, log: wal::Recovery, opts: &Options) -> Result<()> {
        let sh = self;
        let fsync = opts.sync != SyncPolicy::None;
        let used = sh.load_manifest(found.header)?;
        let after = found.header.checkpoint_seq;
        log.apply(after, |seq, rec| sh.replay(seq, rec))?;
        sh.txn.seqr().advance_to(log.max_seq);
        // Everything is read and checked: what nothing needs goes, once the manifest that
        // says so is on disk.
        sh.store.remove_unneeded(found.data_files, &used, log.has_leftovers())?;
        sh.wal = Wal::open(log, opts.wal_segment_len(), fsync, opts.sync == SyncPolicy::Always)?;
        // Retention (the default may have changed since the last open) is the background
        // thread's first work: `load_manifest` queued the metrics it cuts, replay those its
        // seals and settings do.
        Ok(())
    }
}

impl Shared {
    /// Load the manifest into the (still private) current version; returns the data
    /// segments it names. Queues the metrics retention cuts (the default may have changed
    /// since the last open).
    ///
    /// O(metrics + parts), nothing per point: no block is read. A head's extents are left
    /// on disk, restored undecoded (`HeadInner::restore`): they are decoded when the head is
    /// read or sealed, and a damaged one is reported then, naming its file, as a damaged
    /// sealed block is. The id trie and the catalog are built in one pass from the
    /// manifest's ascending ids (`Version::from_maps`).
    pub(super) fn load_manifest(&mut self, header: Header) -> Result<Vec<u64>> {
        let mut segs: HashMap<u64, Arc<DataSegment>> = HashMap::new();
        // Most blocks lie in the segment of the block before them.
        let mut last: Option<Arc<DataSegment>> = None;
        let store = &self.store;
        let mut seg = |no: u64| -> Result<Arc<DataSegment>> {
            if let Some(s) = last.as_ref().filter(|s| s.no == no) {
                return Ok(s.clone());
            }
            let s = match segs.get(&no) {
                Some(s) => s.clone(),
                None => {
                    let s = store.open_segment(no)?;
                    segs.insert(no, s.clone());
                    s
                }
            };
            last = Some(s.clone());
            Ok(s)
        };
        let mut maps: Vec<Arc<PartitionMap>> = Vec::with_capacity(header.metrics.min(1 << 24) as usize);
        let mut due = Vec::new();
        let mut max_id = 0;
        let manifest = store.manifest();
        manifest.load(|m| {
            max_id = m.id;
            let mut parts = Vec::with_capacity(m.parts.len());
            for p in &m.parts {
                parts.push(Part {
                    start: p.start,
                    data: Arc::new(Sealed::on_disk(seg(p.block.seg)?, &p.block)),
                });
            }
            let head = Head::default();
            if !m.extents.is_empty() {
                let mut extents = Vec::with_capacity(m.extents.len());
                for r in &m.extents {
                    extents.push(Arc::new(Sealed::on_disk(seg(r.seg)?, r)));
                }
                head.lock().restore(extents);
            }
            let map = PartitionMap {
                id: MetricId(m.id),
                name: m.name,
                parts: parts.into(),
                head,
                retention: m.retention.into(),
            };
            if self.retention_cut(&map).is_some() {
                due.push(m.id);
            }
            maps.push(Arc::new(map));
            Ok(())
        })?;
        let version = Version::from_maps(maps).map_err(|(name, first, second)| {
            Error::Corruption(format!(
                "MANIFEST: metric name {name:?} listed twice (ids {} and {})",
                first.0, second.0
            ))
        })?;
        // Creates take ids from next_id on: one that a metric holds would replace it.
        let h = header;
        if h.next_id == 0 || h.next_id <= max_id {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: the next metric id is {}, but metric {max_id} exists",
                h.next_id
            )));
        }
        let (bytes, live) = manifest.sizes();
        drop(manifest);
        *self.checkpoints.last.get_mut() =
            CheckpointFigures { manifest_bytes: bytes, manifest_live_bytes: live, seq: h.checkpoint_seq };
        self.retention.due.get_mut().extend(due);
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
