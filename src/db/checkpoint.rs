//! Checkpoints: the heads' new points as extents, the changed metrics into the manifest,
//! the log before it let go; and the compaction of mostly dead data segments
//! (docs/format.md, "Checkpoint, step by step").
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{CheckpointFigures, Database, MAX_DEAD_PERCENT, Shared};
use crate::partition::{ExtentScratch, HeadInner, Part, PartitionMap, Sealed};
use crate::read::Snapshot;
use crate::storage::manifest::{Change, Commit, Manifest, MetricState, PartRef};
use crate::{Result, SyncPolicy};

/// A metric's state as a checkpoint gathers it (the manifest borrows it as a
/// [`MetricState`]): its parts and extents are ranges of the checkpoint's two lists of
/// references (one allocation each for a million metrics, not two per metric).
struct Entry {
    name: Arc<str>,
    parts: Range<usize>,
    extents: Range<usize>,
    retention: i64,
}

impl Database {
    /// Write a checkpoint now: every acknowledged write goes into the data files and the
    /// manifest, and the write-ahead log before it is deleted. Runs concurrently with
    /// writers and readers; checkpoints also run in the background (see
    /// [`Options::checkpoint_bytes`]) and at [`Database::close`].
    pub fn checkpoint(&self) -> Result<()> {
        self.check_process()?;
        self.shared.checkpoint(MAX_DEAD_PERCENT, false).map(|_| ())
    }
}

impl Shared {
    /// Write a checkpoint; returns the sequence number it covers. See docs/format.md.
    /// Only the metrics changed since the last one are written (their head's new points as
    /// an extent, their entry in the manifest's tree). First, if some data segment has more
    /// than `max_dead_percent` dead bytes, its live blocks are copied to the current
    /// segment (compaction), so that it dies once no snapshot reads it.
    pub(super) fn checkpoint(&self, max_dead_percent: u64, closing: bool) -> Result<u64> {
        let mut manifest = self.store.manifest();
        // A failure in force now ends if this checkpoint succeeds: it covers every write
        // acknowledged before it (writes were refused since).
        let failure = self.health.current();
        if failure.as_ref().is_some_and(|f| f.permanent) {
            return Err(self.health.error().expect("failed"));
        }
        if failure.as_ref().is_some_and(|f| f.log_sync) {
            // Pages of the current segment may not have reached the disk: later records go
            // to a new segment, and this checkpoint lets the old ones go.
            self.wal.start_new_segment()?;
        }
        let mark = self.wal.written();
        self.compact_segments(max_dead_percent);
        // The snapshot first, then the list: every write the snapshot sees marked its metric
        // before it was published, so the list holds every metric with points up to the
        // snapshot's sequence number (which the log may then forget).
        let snap = self.begin();
        let (ids, epoch) = {
            let mut d = self.checkpoints.dirty.lock();
            (std::mem::take(&mut *d), self.store.reclaim().next_epoch())
        };
        let result = self.write_checkpoint(&mut manifest, &snap, &ids, closing);
        drop(snap);
        match result {
            Ok((upto, redirty)) => {
                let (bytes, live) = manifest.sizes();
                *self.checkpoints.last.lock() =
                    CheckpointFigures { manifest_bytes: bytes, manifest_live_bytes: live, seq: upto };
                self.checkpoints.mark.store(mark, Ordering::Relaxed);
                // Back on the list before the next checkpoint can take it: one taking the
                // list without them would let the log forget their newer points (found by
                // the model test, with explicit and background checkpoints racing).
                self.checkpoints.dirty.lock().extend(redirty);
                self.health.recovered(&failure);
                self.store.reclaim().committed(epoch)?;
                self.wal.truncate_through(upto, false)?;
                drop(manifest);
                crate::sys::trim_heap();
                Ok(upto)
            }
            Err(e) => {
                self.checkpoints.dirty.lock().extend(ids); // nothing is lost: the next one writes them
                Err(e)
            }
        }
    }

    /// The body of [`Shared::checkpoint`]: returns the sequence number covered and the ids
    /// that must stay on the dirty list.
    pub(super) fn write_checkpoint(
        &self,
        manifest: &mut Manifest,
        snap: &Snapshot,
        ids: &[u64],
        closing: bool,
    ) -> Result<(u64, Vec<u64>)> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let upto = snap.seq;
        let current = self.txn.load_full();
        let next_id = self.txn.next_id();
        let mut redirty = Vec::new();
        let mut pending: Vec<(u64, Option<Entry>)> = Vec::with_capacity(ids.len());
        let (mut part_refs, mut extent_refs) = (Vec::new(), Vec::new());
        let mut scratch = ExtentScratch::default();
        for &id in &ids {
            let Some(map) = snap.version.ids.get(id) else {
                // Dropped (the tree forgets it), or created after the snapshot (later).
                if current.ids.get(id).is_some() {
                    redirty.push(id);
                } else {
                    pending.push((id, None));
                }
                continue;
            };
            // Changed since the snapshot (sealed, compacted, dropped): its state as of the
            // snapshot goes in now, the newer one next time.
            if !current.ids.get(id).is_some_and(|m| Arc::ptr_eq(m, map)) {
                redirty.push(id);
            }
            let extents = {
                let mut head = map.head.lock();
                head.write_extents(upto, &mut scratch, self.store.blocks())?;
                if head.checkpointed(upto) {
                    redirty.push(id);
                }
                let start = extent_refs.len();
                extent_refs.extend(head.extents().iter().map(|e| e.block_ref().expect("extents are on disk")));
                start..extent_refs.len()
            };
            let start = part_refs.len();
            part_refs.extend(
                map.parts
                    .iter()
                    .map(|p| PartRef { start: p.start, block: p.data.block_ref().expect("parts are on disk") }),
            );
            let parts = start..part_refs.len();
            pending.push((id, Some(Entry { name: map.name.clone(), parts, extents, retention: map.retention() })));
        }
        let fsync = closing || self.opts.sync != SyncPolicy::None;
        let next_data_seg = self.store.sync_blocks(closing)?;
        let changes: Vec<Change<'_>> = pending
            .iter()
            .map(|(id, e)| Change {
                id: *id,
                state: e.as_ref().map(|e| MetricState {
                    name: &e.name,
                    parts: &part_refs[e.parts.clone()],
                    extents: &extent_refs[e.extents.clone()],
                    retention: e.retention,
                }),
            })
            .collect();
        let log = Some(self.wal.log_start(upto, closing)?);
        manifest.commit(
            &changes,
            Commit { checkpoint_seq: upto, next_id, next_data_seg, log },
            fsync,
            closing,
        )?;
        Ok((upto, redirty))
    }

    /// Copy the live blocks of mostly dead data segments into the current one, publishing
    /// the moved maps (a pass over every metric, run only when some segment qualifies).
    pub(super) fn compact_segments(&self, max_dead_percent: u64) {
        let limit = {
            let mut d = self.store.blocks().lock();
            if d.current().is_some_and(|c| c.mostly_dead(max_dead_percent)) {
                d.rotate();
            }
            let cur = d.current().map(|c| c.no);
            if !self.store.reclaim().any_mostly_dead(max_dead_percent, cur) {
                return;
            }
            cur.unwrap_or(d.next_no())
        };
        let movable =
            |d: &Sealed| d.segment().is_some_and(|s| s.no < limit && s.mostly_dead(max_dead_percent));
        let version = self.txn.load_full();
        for (_, map) in version.ids.range_from(0) {
            let mut head = map.head.lock();
            if !head.is_frozen()
                && (map.parts.iter().any(|p| movable(&p.data)) || head.extents().iter().any(|e| movable(e)))
            {
                self.compact_map(map, &mut head, &movable);
            }
        }
    }

    /// Publish a copy of `map` (whose head, locked, is `head` and not frozen) with its
    /// movable blocks copied to the current data segment. `None` (nothing changed) when a
    /// copy fails: the block stays where it is, and a damaged one is reported when read.
    pub(super) fn compact_map(
        &self,
        map: &PartitionMap,
        head: &mut HeadInner,
        movable: &dyn Fn(&Sealed) -> bool,
    ) -> Option<Arc<PartitionMap>> {
        let copy = |d: &Arc<Sealed>| -> Result<Arc<Sealed>> {
            if movable(d) { Ok(Arc::new(d.copy_to(self.store.blocks())?)) } else { Ok(d.clone()) }
        };
        let parts: Vec<Part> = map
            .parts
            .iter()
            .map(|p| copy(&p.data).map(|data| Part { start: p.start, data }))
            .collect::<Result<_>>()
            .ok()?;
        let extents: Vec<Arc<Sealed>> = head.extents().iter().map(copy).collect::<Result<_>>().ok()?;
        let head_copy = self.successor_head(head, extents);
        let next = map.successor(parts, head_copy);
        Some(self.publish_successor(map, head, next))
    }
}
