//! Writes: creating and dropping metrics, inserts and atomic batches, through the log into
//! the heads (docs/architecture.md, "Writes, sequence numbers and snapshots").
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Database, Shared};
use crate::catalog::check_name;
use crate::error::not_found;
use crate::partition::PartitionMap;
use crate::storage::manifest::MAX_COUNTER;
use crate::storage::wal::Record;
use crate::txn::Ticket;
use crate::txn::trie::Finder;
use crate::{Error, MAX_BATCH_POINTS, MAX_TIMESTAMP, MetricId, Result, SyncPolicy};

impl Database {
    /// Create a metric. Fails with [`Error::Exists`] (carrying the id) if the name is taken.
    pub fn create_metric(&self, name: &str) -> Result<MetricId> {
        check_name(name)?;
        let sh = &*self.shared;
        sh.check_writable()?;
        let (id, ticket, lsn) = sh.txn.commit(|cur, w| {
            let id = MetricId(w.next_id);
            // The manifest stores ids below 2^62 (a larger one is damage there).
            let after = Some(id.0.saturating_add(1)).filter(|&n| n < MAX_COUNTER).ok_or_else(|| {
                Error::Corruption(format!("no metric id left to assign (the next would be {})", id.0))
            })?;
            let next = cur
                .add_metric(id, name, || PartitionMap::new(id, name.into()))
                .map_err(|id| Error::Exists { name: name.to_owned(), id })?;
            let (ticket, lsn) = sh.log(&Record::Create { id: id.0, name })?;
            w.next_id = after;
            Ok((Some(next), (id, ticket, lsn)))
        })?;
        sh.mark_dirty(id);
        // Published only now, with no lock held: publishing waits for every earlier write,
        // and one of those may wait for the writer lock (a seal).
        drop(ticket);
        sh.after_write(lsn)?;
        Ok(id)
    }

    /// Drop metric `id`. Snapshots begun before the drop still read it; its memory is freed
    /// when the last of them is released.
    pub fn drop_metric(&self, id: MetricId) -> Result<()> {
        let sh = &*self.shared;
        sh.check_writable()?;
        let (ticket, lsn) = loop {
            let map = sh.txn.load().ids.get(id.0).ok_or_else(|| not_found(id))?.clone();
            // Lock order everywhere: head(s), then the writer lock, then the log.
            let mut head = map.head.lock();
            if head.is_frozen() {
                continue; // sealed meanwhile: the successor map is published; retry on it
            }
            // The map is still current: replacing it would have frozen the head we hold.
            let (ticket, lsn) = sh.txn.commit(|cur, _| {
                let logged = sh.log(&Record::Drop { id: id.0 })?;
                sh.raw_heads.release(head.freeze());
                Ok((Some(cur.drop_metric(&map)), logged))
            })?;
            // After publishing, before `map` (which keeps its segments alive) goes: see
            // `Reclaim` for why this order lets checkpoints delete dead segments.
            sh.mark_dirty(id);
            break (ticket, lsn);
        };
        drop(ticket); // with no lock held (see `create_metric`)
        sh.after_write(lsn)
    }

    /// Insert one point. A second write of the same `(id, ts)` replaces the first.
    #[inline]
    pub fn insert(&self, id: MetricId, ts: i64, value: f64) -> Result<()> {
        self.insert_batch(id, &[ts], &[value])
    }

    /// Insert `ts[i], values[i]` into metric `id`, atomically (one sequence number).
    /// Later elements win over earlier ones with the same timestamp.
    pub fn insert_batch(&self, id: MetricId, ts: &[i64], values: &[f64]) -> Result<()> {
        if ts.len() != values.len() {
            return Err(Error::InvalidArgument(format!(
                "ts and values differ in length ({} vs {})",
                ts.len(),
                values.len()
            )));
        }
        if ts.is_empty() {
            return Err(Error::InvalidArgument("empty batch (n=0)".into()));
        }
        check_batch_len(ts.len())?;
        check_timestamps(ts)?;
        let sh = &*self.shared;
        sh.check_writable()?;
        let (full, lsn) = {
            // Looked up before logging, so the log holds no junk; the map found is the
            // first one tried (one trie walk per insert).
            let v = sh.txn.load();
            let map = v.ids.get(id.0).ok_or_else(|| not_found(id))?;
            let (ticket, lsn) = sh.log(&Record::Insert { id: id.0, ts, vals: values })?;
            (sh.push_points(id, Some(map), ts, values, ticket.seq)?, lsn)
        };
        if full {
            sh.seal(id);
        }
        sh.after_write(lsn)
    }

    /// Apply every point of `batch` atomically: a snapshot sees all of them or none. If any
    /// metric does not exist, nothing is applied. On success the batch is emptied for reuse.
    pub fn commit(&self, batch: &mut Batch) -> Result<()> {
        if batch.is_empty() {
            return Err(Error::InvalidArgument("empty batch (no points added)".into()));
        }
        check_batch_len(batch.len())?;
        check_timestamps(&batch.ts)?;
        let sh = &*self.shared;
        sh.check_writable()?;
        {
            let v = sh.txn.load();
            let mut maps = v.ids.finder();
            if let Some(&id) = batch.ids.iter().find(|&&id| maps.get(id).is_none()) {
                return Err(not_found(MetricId(id)));
            }
        }
        // A scrape (one timestamp, ids in order) logs about 9 bytes a point instead of 24.
        let record = Record::scrape(&batch.ids, &batch.ts, &batch.vals)
            .unwrap_or(Record::Batch { ids: &batch.ids, ts: &batch.ts, vals: &batch.vals });
        let (to_seal, lsn) = {
            let (ticket, lsn) = sh.log(&record)?;
            (sh.push_batch(&batch.ids, &batch.ts, &batch.vals, ticket.seq)?, lsn)
        };
        for id in to_seal {
            sh.seal(id);
        }
        batch.clear();
        sh.after_write(lsn)
    }
}

impl Shared {
    /// Every write checks this first, before any lock: the process (a relaxed load, see
    /// `sys::fork`), then the failed state.
    #[inline]
    pub(super) fn check_writable(&self) -> Result<()> {
        self.owner.check()?;
        self.health.check()
    }

    /// Append `rec` to the log, numbered by the next sequence number (taken once the record
    /// has room, so a failed append takes none). Returns the ticket, which publishes the
    /// number when dropped, and the record's end position for a sync.
    #[inline]
    pub(super) fn log(&self, rec: &Record<'_>) -> Result<(Ticket<'_>, u64)> {
        self.wal.append(rec, || {
            let t = self.txn.seqr().take();
            (t.seq, t)
        })
    }

    /// After a logged write: sync per the policy, and wake the background thread when a
    /// checkpoint is due.
    pub(super) fn after_write(&self, lsn: u64) -> Result<()> {
        if lsn.saturating_sub(self.checkpoints.mark.load(Ordering::Relaxed)) >= self.opts.checkpoint_bytes {
            self.signal.wake.notify_one();
        }
        match self.opts.sync {
            SyncPolicy::Always => self.sync_log(Some(lsn), false),
            _ => Ok(()),
        }
    }

    /// fsync the log through `lsn` (all of it for `None`). A failure puts the database in
    /// its failed state: after a failed fsync, which pages reached the disk is unknown, so
    /// no later write may be acknowledged until a checkpoint has made everything durable.
    pub(super) fn sync_log(&self, lsn: Option<u64>, background: bool) -> Result<()> {
        let r = match lsn {
            Some(lsn) => self.wal.sync_to(lsn),
            None => self.wal.sync_all(),
        };
        if let Err(e) = &r {
            let what = if background { "a background sync of the log" } else { "a sync of the log" };
            if background {
                self.health.background_failed(what, e, false, true);
            } else {
                self.health.fail(what, e, false, true);
            }
        }
        r
    }

    /// Append points to metric `id`'s head with sequence number `seq`, trying `first` (the
    /// metric's map as the caller found it) before looking the current one up; true when the
    /// head is full (the caller seals it).
    pub(super) fn push_points(
        &self,
        id: MetricId,
        mut first: Option<&PartitionMap>,
        ts: &[i64],
        values: &[f64],
        seq: u64,
    ) -> Result<bool> {
        loop {
            let v;
            let map = match first.take() {
                Some(m) => m,
                None => {
                    v = self.txn.load();
                    v.ids.get(id.0).ok_or_else(|| not_found(id))?
                }
            };
            let mut head = map.head.lock();
            if head.is_frozen() {
                // A seal or drop published a successor before unlocking: reload.
                drop(head);
                self.check_writable()?;
                continue;
            }
            head.push_all(ts, values, seq);
            if head.mark_written() {
                self.mark_dirty(id);
            }
            return Ok(
                head.settle(self.opts.partition_points, self.opts.head_run_points, || self.raw_heads.admit())
            );
        }
    }

    /// Append a multi-metric batch with sequence number `seq`; returns the metrics whose
    /// heads are full. Metrics are visited in id order (ids already in order, as a scrape
    /// adds them, are not sorted), each head locked once for all its points, which keep
    /// the order they were added in (a later add wins). No lock is held across heads: the
    /// points carry `seq`, which no snapshot sees before the whole batch is applied
    /// (docs/architecture.md, "Writes"). A metric dropped since the caller checked it is
    /// skipped, as replay skips it: the drop comes after the batch.
    pub(super) fn push_batch(
        &self,
        ids: &[u64],
        ts: &[i64],
        vals: &[f64],
        seq: u64,
    ) -> Result<Vec<MetricId>> {
        let mut to_seal = Vec::new();
        if ids.windows(2).all(|w| w[0] <= w[1]) {
            self.push_groups(ids, ts, vals, |k| k, seq, &mut to_seal)?;
        } else {
            let mut order: Vec<usize> = (0..ids.len()).collect();
            order.sort_by_key(|&i| ids[i]); // stable: adds of one metric keep their order
            self.push_groups(ids, ts, vals, |k| order[k], seq, &mut to_seal)?;
        }
        Ok(to_seal)
    }

    /// [`Self::push_batch`] over the points `at(0), at(1), ...`, whose ids ascend.
    ///
    /// A scrape writes to a million heads, each a cache miss or two (its lock, then its
    /// tail), and the lock's atomic instructions keep the next head's misses from starting
    /// early. So heads go in chunks of [`CHUNK`] metrics: the next chunk's maps are looked
    /// up and their heads prefetched while this one is written, and a chunk's heads are
    /// locked together (in id order, as every batch does), their tails prefetched, then
    /// written and unlocked one by one.
    #[inline]
    fn push_groups(
        &self,
        ids: &[u64],
        ts: &[i64],
        vals: &[f64],
        at: impl Fn(usize) -> usize,
        seq: u64,
        to_seal: &mut Vec<MetricId>,
    ) -> Result<()> {
        let (part_points, run_points) = (self.opts.partition_points, self.opts.head_run_points);
        let v = self.txn.load();
        let mut k = 0;
        let (mut cur, mut next) = (Vec::with_capacity(CHUNK), Vec::with_capacity(CHUNK));
        let mut heads = Vec::with_capacity(CHUNK);
        let mut frozen = Vec::new();
        // Heads written clean, put on the checkpoint list before the write is published
        // (the caller holds its ticket).
        let dirty = &mut Vec::with_capacity(CHUNK);
        let mut maps = v.ids.finder();
        next_chunk(&mut maps, ids, &at, &mut k, &mut cur);
        while !cur.is_empty() {
            next_chunk(&mut maps, ids, &at, &mut k, &mut next);
            for (_, _, map) in &cur {
                let head = map.map(|m| m.head.lock());
                if let Some(h) = &head {
                    h.prefetch_append();
                }
                heads.push(head);
            }
            for ((id, group, _), head) in cur.drain(..).zip(heads.drain(..)) {
                let Some(mut head) = head else { continue };
                if head.is_frozen() {
                    frozen.push((id, group)); // written below, with no head locked
                    continue;
                }
                for g in group {
                    let i = at(g);
                    head.push(ts[i], vals[i], seq);
                }
                if head.mark_written() {
                    dirty.push(id);
                }
                if head.settle(part_points, run_points, || self.raw_heads.admit()) {
                    to_seal.push(MetricId(id));
                }
            }
            // One lock of the list per chunk, not per head (a scrape after a checkpoint
            // marks every head it writes).
            if !dirty.is_empty() {
                self.checkpoints.dirty.lock().append(dirty);
            }
            // A seal or drop published a successor: `push_points` reloads it.
            for (id, group) in frozen.drain(..) {
                let gts: Vec<i64> = group.clone().map(|g| ts[at(g)]).collect();
                let gvals: Vec<f64> = group.map(|g| vals[at(g)]).collect();
                match self.push_points(MetricId(id), None, &gts, &gvals, seq) {
                    Ok(true) => to_seal.push(MetricId(id)),
                    Ok(false) | Err(Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
        Ok(())
    }

    /// Put metric `id` on the list the next checkpoint writes.
    pub(super) fn mark_dirty(&self, id: MetricId) {
        self.checkpoints.dirty.lock().push(id.0);
    }
}

/// Metrics a batch locks and writes at a time (see `Shared::push_groups`).
const CHUNK: usize = 16;

/// A metric of a batch: its id, the positions of its points, its map (`None`: dropped
/// since the commit's check; skipped, as replay skips it).
type Group<'v> = (u64, Range<usize>, Option<&'v PartitionMap>);

/// Fill `chunk` with the next [`CHUNK`] metrics of the batch from point `*k` on (points
/// `at(*k), ...`; ids ascend), looked up in `maps`, their heads prefetched.
fn next_chunk<'v>(
    maps: &mut Finder<'v, Arc<PartitionMap>>,
    ids: &[u64],
    at: &impl Fn(usize) -> usize,
    k: &mut usize,
    chunk: &mut Vec<Group<'v>>,
) {
    let n = ids.len();
    chunk.clear();
    while *k < n && chunk.len() < CHUNK {
        let id = ids[at(*k)];
        let mut end = *k + 1;
        while end < n && ids[at(end)] == id {
            end += 1;
        }
        let map = maps.get(id).map(|m| &**m);
        if let Some(m) = map {
            m.head.prefetch();
        }
        chunk.push((id, *k..end, map));
        *k = end;
    }
}

fn check_batch_len(n: usize) -> Result<()> {
    if n > MAX_BATCH_POINTS {
        return Err(Error::InvalidArgument(format!(
            "too many points in one write ({n}; at most {MAX_BATCH_POINTS}): split it into several"
        )));
    }
    Ok(())
}

fn check_timestamps(ts: &[i64]) -> Result<()> {
    if ts.iter().any(|&t| t > MAX_TIMESTAMP) {
        return Err(Error::InvalidArgument(format!(
            "timestamp {} (INT64_MAX) is reserved: scans end before `until`, so it could never be read; \
             the largest timestamp is INT64_MAX - 1",
            i64::MAX
        )));
    }
    Ok(())
}

/// Points for many metrics, applied atomically by [`Database::commit`]. Not `Sync`.
#[derive(Default, Clone, Debug)]
pub struct Batch {
    ids: Vec<u64>,
    ts: Vec<i64>,
    vals: Vec<f64>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Add one point; metric ids are checked at commit.
    pub fn add(&mut self, id: MetricId, ts: i64, value: f64) {
        self.ids.push(id.0);
        self.ts.push(ts);
        self.vals.push(value);
    }

    /// Add `ts[i], values[i]` for metric `id` (as many points as the shorter slice holds).
    pub fn add_many(&mut self, id: MetricId, ts: &[i64], values: &[f64]) {
        let n = ts.len().min(values.len());
        self.ids.extend(std::iter::repeat_n(id.0, n));
        self.ts.extend_from_slice(&ts[..n]);
        self.vals.extend_from_slice(&values[..n]);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn clear(&mut self) {
        self.ids.clear();
        self.ts.clear();
        self.vals.clear();
    }
}
