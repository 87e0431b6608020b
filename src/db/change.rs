//! Structural changes of a metric's partition map: seals, range deletes and retention.
//! Each builds a successor map under the metric's head lock and publishes it as a new version.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::health::FailOnUnwind;
use super::{Database, Shared};
use crate::error::not_found;
use crate::partition::{
    Head, HeadInner, Layout, PartitionMap, Sealed, delete_from_parts, merge_into_parts, sorted_unique,
};
use crate::storage::wal::Record;
use crate::{Error, MetricId, Result};

impl Database {
    /// Delete metric `id`'s points with `from <= ts < until`, atomically and durably (the
    /// delete is logged). Copy-on-write: sealed partitions wholly inside the range are let
    /// go, the (at most two) reaching across its ends are rewritten, the rest are shared;
    /// snapshots begun before the delete still read the points, and their space returns
    /// when the last of those snapshots is released. Points written after the delete are
    /// kept, whatever their timestamps. `from == until` deletes nothing.
    ///
    /// If writing the rewritten partitions fails after the delete was logged (a full disk),
    /// the error is returned and the database turns failed ([`Error::Failed`] for writes;
    /// reads go on): reopening applies the logged delete.
    pub fn delete_range(&self, id: MetricId, from: i64, until: i64) -> Result<()> {
        self.shared.delete_range(id, from, until)
    }

    /// Set metric `id`'s own retention span (in timestamp units): sealed partitions whose
    /// points are all older than the metric's newest sealed timestamp minus `span` are
    /// dropped by background work. 0 returns the metric to the database's default
    /// ([`Options::retention`]); a negative span keeps everything whatever the default.
    /// Logged and checkpointed like a write. When it returns, no background drop chosen
    /// under the previous setting is still in progress.
    pub fn set_retention(&self, id: MetricId, span: i64) -> Result<()> {
        let sh = &*self.shared;
        sh.check_writable()?;
        // Before the ticket: a background drop holding the lock waits for earlier tickets.
        let _serial = sh.retention.lock.lock();
        let (ticket, lsn) = {
            sh.txn.load().ids.get(id.0).ok_or_else(|| not_found(id))?;
            sh.log(&Record::Retention { id: id.0, span })?
        };
        sh.apply_retention_setting(id, span);
        drop(ticket);
        sh.signal.wake.notify_one();
        sh.after_write(lsn)
    }

    /// Apply retention now, to every metric: drop the sealed partitions past their
    /// metric's retention span (each metric's drop is logged as a range delete below the
    /// first partition kept). Returns how many partitions this call dropped (background
    /// drops are not counted, and never drop the same partitions twice). The background
    /// thread does the same for metrics that sealed new partitions; this is for tools,
    /// tests and benchmarks.
    pub fn enforce_retention(&self) -> Result<u64> {
        let sh = &*self.shared;
        sh.owner.check()?; // before the retention lock (a forked child)
        let v = sh.txn.load_full();
        let mut dropped = 0;
        for (id, map) in v.ids.range_from(0) {
            if sh.retention_cut(map).is_some() {
                dropped += sh.drop_expired(id)?;
            }
        }
        Ok(dropped)
    }
}

impl Shared {
    /// Seal metric `id`'s head if it is (still) full: publish a new version whose map holds
    /// the head's published points in sealed partitions. The successor is built under the
    /// head's lock only, so seals of different metrics run in parallel; the writer lock is
    /// held just to publish. A seal that fails (a full disk) leaves the head as it is: its
    /// points are in the log, and the next write to the metric tries again.
    pub(super) fn seal(&self, id: MetricId) {
        let Some(map) = self.txn.load().ids.get(id.0).cloned() else { return };
        let mut head = map.head.lock();
        if head.is_frozen() || head.len() < self.opts.partition_points as usize {
            return;
        }
        let guard = FailOnUnwind(&self.health, "a seal");
        let upto = self.txn.seqr().visible();
        if let Ok(Some((next, admitted))) =
            map.seal(&mut head, upto, self.layout(&map), self.store.blocks())
        {
            self.raw_heads.release(admitted);
            // `map` is still current: replacing it would have frozen the head we hold.
            let next = Arc::new(next);
            self.txn.replace_map(next.clone());
            self.mark_dirty(id); // after publishing, while `map` is alive (see `Reclaim`)
            if self.retention_cut(&next).is_some() {
                self.retention.due.lock().push(id.0);
            }
        }
        std::mem::forget(guard);
    }

    /// See [`Database::delete_range`].
    pub(super) fn delete_range(&self, id: MetricId, from: i64, until: i64) -> Result<()> {
        if from > until {
            return Err(Error::InvalidArgument(format!("from > until (from={from}, until={until})")));
        }
        self.check_writable()?;
        let (ticket, lsn) = {
            self.txn.load().ids.get(id.0).ok_or_else(|| not_found(id))?;
            if from == until {
                return Ok(());
            }
            self.log(&Record::Delete { id: id.0, from, until })?
        };
        // Every write before the delete must be in the heads: wait, holding no lock.
        self.txn.seqr().wait_turn(&ticket);
        let applied = self.apply_delete(id, from, until, ticket.seq);
        if let Err(e) = &applied {
            // Logged but not applied: only a replay of the log can apply it now.
            self.health.fail("a range delete's rewrite, after the delete was logged,", e, true, false);
        }
        drop(ticket);
        applied?;
        self.after_write(lsn)
    }

    /// Apply the delete with sequence number `seq` (every earlier write published, `seq`
    /// itself not yet): publish metric `id`'s map without its points in `[from, until)`
    /// written before `seq`. A metric dropped meanwhile needs nothing.
    pub(super) fn apply_delete(&self, id: MetricId, from: i64, until: i64, seq: u64) -> Result<()> {
        loop {
            let Some(map) = self.txn.load().ids.get(id.0).cloned() else { return Ok(()) };
            let mut head = map.head.lock();
            if head.is_frozen() {
                continue; // replaced meanwhile: retry on its successor
            }
            let guard = FailOnUnwind(&self.health, "a range delete");
            // Restored extents are decoded only when they may hold points in the range (a
            // retention cut below the head never decodes them).
            let head_hit = head.may_hold_before(seq, from, until);
            let parts = delete_from_parts(&map.parts, from, until, self.store.blocks())?;
            let (parts, new_head) = if head_hit {
                // Seal what the head holds from before the delete, less the range, into the
                // parts; later writes stay in a new head (their seqs are above any
                // checkpoint's, so the next checkpoint writes them all).
                let pts = head.points()?;
                let (old, carry): (Vec<_>, Vec<_>) = pts.into_iter().partition(|p| p.seq < seq);
                let kept: Vec<_> = old.into_iter().filter(|p| p.ts < from || p.ts >= until).collect();
                let (ts, vals) = sorted_unique(kept, head.is_sorted());
                let parts = parts.unwrap_or_else(|| map.parts.to_vec());
                let parts = if ts.is_empty() {
                    parts
                } else {
                    merge_into_parts(&parts, &ts, &vals, self.layout(&map), self.store.blocks())?
                };
                (parts, Head::with_points(carry))
            } else if let Some(parts) = parts {
                (parts, self.successor_head(&head, head.extents().to_vec()))
            } else {
                std::mem::forget(guard);
                return Ok(()); // nothing in the range
            };
            let next = map.successor(parts, new_head);
            self.publish_successor(&map, &mut head, next);
            std::mem::forget(guard);
            return Ok(());
        }
    }

    /// Metric `id`'s own retention span becomes `span` (under its head's lock, so a
    /// successor map being built copies the new value).
    pub(super) fn apply_retention_setting(&self, id: MetricId, span: i64) {
        loop {
            let Some(map) = self.txn.load().ids.get(id.0).cloned() else { return };
            let head = map.head.lock();
            if head.is_frozen() {
                continue;
            }
            map.retention.store(span, Ordering::Relaxed);
            drop(head);
            self.mark_dirty(id);
            self.retention.due.lock().push(id.0);
            return;
        }
    }

    /// Where retention cuts metric `map`: the end of the range to delete and how many
    /// sealed partitions lie wholly below it; `None` when nothing is past retention.
    pub(super) fn retention_cut(&self, map: &PartitionMap) -> Option<(i64, u64)> {
        let span = self.retention_span(map);
        if span <= 0 {
            return None;
        }
        let newest = map.parts.last()?.data.max_ts();
        let horizon = newest.saturating_sub(span);
        // Partitions are in time order: the expired ones come first.
        let k = map.parts.partition_point(|p| p.data.max_ts() < horizon);
        (k > 0).then(|| (horizon.min(map.parts[k].start), k as u64))
    }

    /// Metric `map`'s retention span: its own, else the database's (0 or less: none).
    fn retention_span(&self, map: &PartitionMap) -> i64 {
        match map.retention() {
            0 => self.opts.retention,
            s => s,
        }
    }

    /// How metric `map`'s sealed points are cut into parts; its retention bounds the span
    /// of joined parts (see `partition::Layout`).
    fn layout(&self, map: &PartitionMap) -> Layout {
        Layout::with_retention(self.opts.partition_points as usize, self.retention_span(map))
    }

    /// Apply retention to the metrics queued by seals and settings. A failure (a full
    /// disk) leaves the rest for a later pass, and the database failed until a checkpoint
    /// succeeds.
    pub(super) fn retention_pass(&self) {
        let due = std::mem::take(&mut *self.retention.due.lock());
        for (k, &id) in due.iter().enumerate() {
            if let Err(e) = self.drop_expired(id) {
                self.retention.due.lock().extend_from_slice(&due[k..]);
                if !matches!(e, Error::Failed { .. }) {
                    self.health.background_failed("a background retention pass", &e, false, false);
                }
                return;
            }
        }
    }

    /// Drop metric `id`'s partitions past retention as one logged range delete; returns
    /// how many. The cut is chosen under the retention lock, on the current map, so a
    /// concurrent pass (background or `enforce_retention`) never drops or counts the same
    /// partitions twice, and a `set_retention` returning means no drop under the old span
    /// is still to come.
    pub(super) fn drop_expired(&self, id: u64) -> Result<u64> {
        let _serial = self.retention.lock.lock();
        let Some((cut, n)) = self.txn.load().ids.get(id).and_then(|m| self.retention_cut(m)) else {
            return Ok(0);
        };
        self.delete_range(MetricId(id), i64::MIN, cut)?;
        Ok(n)
    }

    /// A new head holding `head`'s points and the given extents (the same, or their copies
    /// on disk); restored extents stay undecoded.
    pub(super) fn successor_head(&self, head: &HeadInner, extents: Vec<Arc<Sealed>>) -> Head {
        let new_head = head.successor(extents);
        new_head.lock().settle(u32::MAX, self.opts.head_run_points, || self.raw_heads.admit());
        new_head
    }

    /// Make `next` metric `map.id`'s current map in place of `map` (current, its head
    /// locked as `head`, not frozen), freezing the old head.
    pub(super) fn publish_successor(
        &self,
        map: &PartitionMap,
        head: &mut HeadInner,
        next: PartitionMap,
    ) -> Arc<PartitionMap> {
        let next = Arc::new(next);
        self.raw_heads.release(head.freeze());
        // `map` is current: replacing it would have frozen the head we hold.
        self.txn.replace_map(next.clone());
        self.mark_dirty(map.id); // after publishing, while `map` is alive (see `Reclaim`)
        next
    }
}
