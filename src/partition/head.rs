//! The head partition: a mutable, locked, append-only log of `(ts, value, seq)`, its older
//! points compressed in runs.
//!
//! A head restored at open starts with the extents the manifest lists, left on disk: their
//! points are the head's first, with sequence number 0, and are decoded only when read or
//! sealed (docs/architecture.md, "Opening").
use parking_lot::{Mutex, MutexGuard};

use std::cell::RefCell;

use std::sync::Arc;

use super::sealed::BlockSink;
use crate::bytes::{get_varint, put_varint};
use super::sealed::merge_runs_into;
use super::{Sealed, sorted_unique_into};
use crate::Result;
use crate::codec::{MAX_BLOCK_POINTS, run};

/// A run's columns (timestamps, values, seqs) and its coded bytes.
type Columns = (Vec<i64>, Vec<f64>, Vec<u64>, Vec<u8>);

/// One point in a head, with the sequence number of the write that stored it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadPoint {
    pub ts: i64,
    pub val: f64,
    pub seq: u64,
}

/// The head of a partition map. Readers and writers take its lock.
#[derive(Default)]
pub struct Head {
    inner: Mutex<HeadInner>,
}

/// The locked contents of a [`Head`]: compressed runs, then a raw tail, in append order.
#[derive(Default)]
pub struct HeadInner {
    /// Boxed so that a head without runs or extents (most of them, and every empty one)
    /// pays 8 bytes.
    runs: Option<Box<Runs>>,
    tail: Vec<HeadPoint>,
    /// Timestamps strictly ascend in append order (so no sort and no dedup is needed).
    sorted: bool,
    /// A successor map replaced this head (seal or drop); writers must reload the version.
    frozen: bool,
    /// The database's raw-head budget admitted this head: it stays raw until sealed.
    admitted: bool,
    /// The highest sequence number of any point (0 when empty or only restored).
    max_seq: u64,
    /// Points before the tail: in the runs and in the restored extents (duplicates
    /// counted). Kept here, in the padding beside the flags, so that a write does not touch
    /// the runs' box: [`HeadInner::len`] is asked after every write, and the box is a
    /// cache miss per head in a scrape (a quarter of the batch push's samples when `len`
    /// read the restored count from it).
    logged: u32,
    /// Points arrived since the last checkpoint wrote this head (see `Database::checkpoint`).
    dirty: bool,
}

#[derive(Default)]
struct Runs {
    /// The runs one after the other, each as `len varint, max_seq varint, run` (`run` is
    /// `len` bytes of [`run::encode`], `max_seq` the highest sequence number in it): one
    /// allocation for all, not one per run (a run of a scrape-fed head is ~50 bytes).
    bytes: Vec<u8>,
    /// The last timestamp appended to the last run.
    last_ts: i64,
    /// Blocks on disk holding copies of this head's points as of past checkpoints (see
    /// `Database::checkpoint`), oldest first; the manifest lists them.
    extents: Vec<Arc<Sealed>>,
    /// The extents hold every point of this head with a sequence number up to this.
    extents_upto: u64,
    /// The first `restored` extents were restored at open and never decoded: their points
    /// (`restored_points` of them, duplicates included) are in neither the runs nor the
    /// tail. They come first in append order, with sequence number 0, oldest extent first.
    restored: usize,
    restored_points: usize,
}

impl Runs {
    /// The extents restored at open, oldest first.
    fn restored(&self) -> &[Arc<Sealed>] {
        &self.extents[..self.restored]
    }
}

impl Head {
    /// A head holding `pts` (in append order).
    pub fn with_points(pts: Vec<HeadPoint>) -> Head {
        let sorted = pts.windows(2).all(|w| w[0].ts < w[1].ts);
        let max_seq = pts.iter().map(|p| p.seq).max().unwrap_or(0);
        let inner = HeadInner {
            runs: None,
            tail: pts,
            sorted,
            frozen: false,
            admitted: false,
            max_seq,
            logged: 0,
            dirty: false,
        };
        Head { inner: Mutex::new(inner) }
    }

    /// Lock the head.
    pub fn lock(&self) -> MutexGuard<'_, HeadInner> {
        self.inner.lock()
    }

    /// Hint that the head is about to be locked and written (see `sys::prefetch`).
    #[inline]
    pub fn prefetch(&self) {
        let p: *const Head = self;
        crate::sys::prefetch(p);
        crate::sys::prefetch(p.cast::<u8>().wrapping_add(size_of::<Head>() - 1));
    }

    /// The points a snapshot at `seq` sees in `[from, until)`, sorted, one per timestamp.
    /// Restored extents overlapping the range are decoded: a damaged one is a corruption
    /// error naming its file and offset.
    pub fn visible(&self, seq: u64, from: i64, until: i64) -> Result<(Vec<i64>, Vec<f64>)> {
        let (pts, sorted) = {
            let h = self.inner.lock();
            let keep = |p: &HeadPoint| p.seq <= seq && p.ts >= from && p.ts < until;
            (h.gather(Some((from, until)), |_| true, keep)?, h.sorted)
        };
        Ok(super::sorted_unique(pts, sorted))
    }
}

impl HeadInner {
    /// Persist the points with `self.extents_upto() < seq <= upto` as extents, and mark the
    /// extents as holding every point up to `upto` (nothing is written when there are none). Like a binary counter, the new points absorb the newest extents while
    /// those are no larger than twice them, so a head that gets a few points per checkpoint
    /// keeps O(log n) extents and each point is rewritten O(log n) times before the head
    /// seals. Written as blocks of at most `MAX_BLOCK_POINTS` (one batch may bring millions
    /// of points). The work goes through `scratch`, so a checkpoint of a million heads does
    /// not allocate and free a dozen buffers for each (which fragmented the heap the heads
    /// live in). On failure the head's extents are as they were: the manifest still names
    /// them.
    pub fn write_extents(&mut self, upto: u64, scratch: &mut ExtentScratch, sink: &dyn BlockSink) -> Result<()> {
        let head = self;
        let s = scratch;
        s.pts.clear();
        head.points_between_into(head.extents_upto(), upto, &mut s.pts, &mut s.run);
        if s.pts.is_empty() {
            return Ok(());
        }
        sorted_unique_into(&mut s.pts, head.is_sorted(), &mut s.ts, &mut s.vals);
        let mut merged = Vec::new();
        let restore = |head: &mut HeadInner, merged: Vec<Arc<Sealed>>| {
            for x in merged.into_iter().rev() {
                head.add_extent(x);
            }
        };
        while s.ts.len() < MAX_BLOCK_POINTS {
            let room = MAX_BLOCK_POINTS - s.ts.len();
            let limit = (2 * s.ts.len()).min(room);
            // A restored extent can merge once its points are in the head's log (else the
            // extents of a head reopened often would only ever grow in number). A damaged
            // one stays as it is, a new extent beside it.
            if head.next_pop_is_restored(limit) && head.decode_restored_into_log().is_err() {
                break;
            }
            let Some(old) = head.pop_extent_up_to(limit) else { break };
            let m = old.decode_into(&mut s.old_ts, &mut s.old_vals);
            merged.push(old);
            if let Err(e) = m {
                restore(head, merged);
                return Err(e);
            }
            merge_runs_into(&s.old_ts, &s.old_vals, &s.ts, &s.vals, &mut s.out_ts, &mut s.out_vals);
            std::mem::swap(&mut s.ts, &mut s.out_ts);
            std::mem::swap(&mut s.vals, &mut s.out_vals);
        }
        let mut new = Vec::with_capacity(s.ts.len().div_ceil(MAX_BLOCK_POINTS));
        for (t, v) in s.ts.chunks(MAX_BLOCK_POINTS).zip(s.vals.chunks(MAX_BLOCK_POINTS)) {
            match Sealed::encode_with(t, v, &mut s.block, sink) {
                Ok(e) => new.push(Arc::new(e)),
                Err(e) => {
                    restore(head, merged);
                    return Err(e);
                }
            }
        }
        for e in new {
            head.add_extent(e);
        }
        head.set_extents_upto(upto);
        Ok(())
    }

    /// The last timestamp appended, if any.
    fn last_ts(&self) -> Option<i64> {
        if let Some(p) = self.tail.last() {
            return Some(p.ts);
        }
        let r = self.runs.as_ref()?;
        if self.logged as usize > r.restored_points { Some(r.last_ts) } else { r.restored().last().map(|e| e.max_ts()) }
    }

    /// Restore an empty head from `extents`, the blocks the manifest lists for it (oldest
    /// first), without decoding them: their points count as appended first, with sequence
    /// number 0, a later extent's winning over an earlier one's on equal timestamps. They
    /// are decoded when read or sealed; until then the head holds only the references.
    pub fn restore(&mut self, extents: Vec<Arc<Sealed>>) {
        debug_assert!(self.len() == 0 && self.extents().is_empty(), "restoring into an empty head");
        if extents.is_empty() {
            return;
        }
        // Each block is strictly ascending (decoding checks it): the whole is when each
        // extent starts after the one before it ends.
        self.sorted = extents.windows(2).all(|w| w[0].max_ts() < w[1].min_ts());
        let runs = self.runs.get_or_insert_with(Box::default);
        runs.restored_points = extents.iter().map(|e| e.len()).sum();
        runs.restored = extents.len();
        runs.extents = extents;
        self.logged = saturating_u32(runs.restored_points);
    }

    /// A new head holding this head's points, with `extents` in place of its extents:
    /// copies of them, as many and in the same order (a compaction), or the same ones. The
    /// restored extents stay restored, not decoded.
    pub fn successor(&self, extents: Vec<Arc<Sealed>>) -> Head {
        debug_assert_eq!(extents.len(), self.extents().len());
        let head = Head::with_points(self.gather(None, |_| true, |_| true).expect("no extent decoded"));
        {
            let mut h = head.lock();
            h.sorted = self.sorted;
            let (upto, restored, restored_points) =
                self.runs.as_deref().map_or((0, 0, 0), |r| (r.extents_upto, r.restored, r.restored_points));
            if !extents.is_empty() {
                let runs = h.runs.get_or_insert_with(Box::default);
                runs.extents = extents;
                runs.restored = restored.min(runs.extents.len());
                runs.restored_points = restored_points;
                h.logged = saturating_u32(restored_points);
            }
            h.set_extents_upto(upto);
        }
        head
    }

    /// Append one point written by `seq`.
    #[inline]
    pub fn push(&mut self, ts: i64, val: f64, seq: u64) {
        self.sorted = match self.last_ts() {
            Some(last) => self.sorted && last < ts,
            None => {
                // Many metrics get one point now and then: start at one slot, not the
                // four `Vec` would (measured: 112 -> 32 bytes for a metric's first point).
                self.tail.reserve_exact(1);
                true
            }
        };
        self.tail.push(HeadPoint { ts, val, seq });
        self.max_seq = self.max_seq.max(seq);
    }

    /// Append `ts[i], vals[i]` for all `i`, written by `seq`.
    pub fn push_all(&mut self, ts: &[i64], vals: &[f64], seq: u64) {
        debug_assert_eq!(ts.len(), vals.len());
        let ascending = ts.windows(2).all(|w| w[0] < w[1]);
        let (last, first) = (self.last_ts(), ts.first());
        let joins = match (last, first) {
            (Some(last), Some(first)) => last < *first,
            _ => true,
        };
        self.sorted = (self.sorted || last.is_none()) && ascending && joins;
        if self.tail.is_empty() {
            self.tail.reserve_exact(ts.len()); // see `push`
        }
        self.tail.extend(ts.iter().zip(vals).map(|(&ts, &val)| HeadPoint { ts, val, seq }));
        self.max_seq = self.max_seq.max(seq);
    }

    /// Call after appending: true when the head holds `part_points` or more (the caller
    /// seals it). Otherwise, once the raw tail holds `run_points` or more, the head asks
    /// `admit` (once) whether it may stay raw until sealed; if not, the tail is compressed
    /// into a run. An admitted head gives its place back through [`Self::freeze`].
    #[inline]
    pub fn settle(&mut self, part_points: u32, run_points: u32, admit: impl FnOnce() -> bool) -> bool {
        if self.len() >= part_points as usize {
            return true;
        }
        if self.tail.len() >= run_points as usize && !self.admitted {
            if admit() {
                self.admitted = true;
            } else {
                self.compress_tail(run_points as usize);
            }
        }
        false
    }

    /// Compress the tail into a run; the tail keeps its buffer when it holds at most twice
    /// `run_points` (see below).
    fn compress_tail(&mut self, run_points: usize) {
        thread_local! {
            /// Columns and coded bytes of the run being made, kept between runs: a scrape
            /// compresses a million tails, each of a few dozen points.
            static SCRATCH: RefCell<Columns> = RefCell::default();
        }
        let tail = &mut self.tail;
        let runs = self.runs.get_or_insert_with(Box::default);
        SCRATCH.with_borrow_mut(|(ts, vals, seqs, block)| {
            ts.clear();
            vals.clear();
            seqs.clear();
            block.clear();
            ts.extend(tail.iter().map(|p| p.ts));
            vals.extend(tail.iter().map(|p| p.val));
            seqs.extend(tail.iter().map(|p| p.seq));
            let max_seq = seqs.iter().copied().max().unwrap_or(0);
            run::encode(ts, vals, seqs, block);
            let b = &mut runs.bytes;
            let need = 20 + block.len(); // two varints and the run
            if b.capacity() - b.len() < need {
                // Grow by a quarter, not double: the runs are most of a head's memory.
                b.reserve_exact(need.max(b.len() / 4));
            }
            put_varint(block.len() as u64, b);
            put_varint(max_seq, b);
            b.extend_from_slice(block);
            runs.last_ts = ts[ts.len() - 1];
        });
        // A head holds at most a few partitions' worth of points (u32 is plenty).
        self.logged = self.logged.saturating_add(tail.len() as u32);
        // The tail keeps its buffer for the next run: one allocation for the head's life
        // instead of four a run (growing 1, 4, 8, 16), whose frees and reallocations,
        // in step across a million scraped heads, left the heap fragmented. A buffer a
        // large batch grew is let go.
        if tail.capacity() > 2 * run_points {
            *tail = Vec::new();
        } else {
            tail.clear();
        }
    }

    /// Points appended (restored ones included), duplicates counted.
    pub fn len(&self) -> usize {
        self.logged as usize + self.tail.len()
    }

    /// Hint that a point is about to be appended (see `sys::prefetch`): the tail's last
    /// point, which `push` compares with, and its next slot, where the two are on
    /// different lines. Call with the lock held, some heads ahead of the write.
    #[inline]
    pub fn prefetch_append(&self) {
        let next = self.tail.as_ptr().wrapping_add(self.tail.len());
        crate::sys::prefetch(next.wrapping_sub(1));
        crate::sys::prefetch(next.cast::<u8>().wrapping_add(size_of::<HeadPoint>() - 1));
    }

    pub fn is_sorted(&self) -> bool {
        self.sorted
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Note that points were appended; true when the head was clean until now (the caller
    /// then puts its metric on the list the next checkpoint writes).
    #[inline]
    pub fn mark_written(&mut self) -> bool {
        !std::mem::replace(&mut self.dirty, true)
    }

    /// A checkpoint covering sequence numbers up to `upto` wrote this head: it is clean
    /// unless it holds later points (then true: the caller keeps the metric on the list).
    pub fn checkpointed(&mut self, upto: u64) -> bool {
        self.dirty = self.max_seq > upto;
        self.dirty
    }

    /// Mark the head replaced (sealed or dropped). Returns whether it was admitted to the
    /// raw-head budget: the caller then gives its place back.
    #[must_use]
    pub fn freeze(&mut self) -> bool {
        self.frozen = true;
        std::mem::take(&mut self.admitted)
    }

    /// The blocks holding this head's points as of past checkpoints.
    pub fn extents(&self) -> &[Arc<Sealed>] {
        self.runs.as_ref().map_or(&[], |r| &r.extents)
    }

    /// Record a block holding a checkpoint's copy of some of this head's points.
    pub fn add_extent(&mut self, e: Arc<Sealed>) {
        self.runs.get_or_insert_with(Box::default).extents.push(e);
    }

    /// Sequence number up to which the extents hold every point of this head (0: none).
    /// Per head, not per database: a successor head that copies another's points and
    /// extents (a range delete, a compaction) copies this too, so a checkpoint writing it
    /// next writes exactly the points its extents lack, whatever checkpoints the old head
    /// went through meanwhile.
    pub fn extents_upto(&self) -> u64 {
        self.runs.as_ref().map_or(0, |r| r.extents_upto)
    }

    pub fn set_extents_upto(&mut self, upto: u64) {
        if upto > 0 {
            self.runs.get_or_insert_with(Box::default).extents_upto = upto;
        }
    }

    /// Whether the newest extent is a restored one holding at most `max_points` points
    /// (one [`Self::pop_extent_up_to`] leaves alone).
    fn next_pop_is_restored(&self, max_points: usize) -> bool {
        self.runs.as_ref().is_some_and(|r| {
            r.restored > 0 && r.restored == r.extents.len() && r.extents[r.restored - 1].len() <= max_points
        })
    }

    /// Decode the restored extents into the head's log, as its first runs (sequence number
    /// 0): they become ordinary extents, which a checkpoint may merge. On error (a damaged
    /// extent) the head is as it was.
    fn decode_restored_into_log(&mut self) -> Result<()> {
        let logged = self.logged as usize;
        let Some(runs) = self.runs.as_mut().filter(|r| r.restored > 0) else { return Ok(()) };
        let mut pts = Vec::with_capacity(runs.restored_points);
        decode_restored(runs.restored(), i64::MIN, i64::MAX, &mut pts)?;
        // The new runs go in front of the others, in the same layout (see `Runs::bytes`).
        let mut front = Vec::new();
        let mut block = Vec::new();
        for chunk in pts.chunks(MAX_BLOCK_POINTS) {
            let ts: Vec<i64> = chunk.iter().map(|p| p.ts).collect();
            let vals: Vec<f64> = chunk.iter().map(|p| p.val).collect();
            block.clear();
            run::encode(&ts, &vals, &vec![0; chunk.len()], &mut block);
            put_varint(block.len() as u64, &mut front);
            put_varint(0, &mut front);
            front.extend_from_slice(&block);
        }
        if logged == runs.restored_points {
            // No run yet: the last restored point is the last one before the tail.
            runs.last_ts = pts.last().map_or(runs.last_ts, |p| p.ts);
        }
        front.extend_from_slice(&runs.bytes);
        runs.bytes = front;
        runs.restored = 0;
        runs.restored_points = 0; // `logged` is unchanged: they moved into the runs
        Ok(())
    }

    /// Remove and return the newest extent if it holds at most `max_points` points (a
    /// checkpoint merges small extents into its new one, so a head keeps O(log n) of them).
    /// Restored extents stay: their points are in no run, so a merged extent could not say
    /// which of its points a snapshot may see.
    pub fn pop_extent_up_to(&mut self, max_points: usize) -> Option<Arc<Sealed>> {
        let runs = self.runs.as_mut()?;
        let ext = &mut runs.extents;
        if ext.len() > runs.restored && ext.last()?.len() <= max_points { ext.pop() } else { None }
    }

    /// Every point, in append order. Restored extents are decoded: a damaged one is a
    /// corruption error naming its file and offset.
    pub fn points(&self) -> Result<Vec<HeadPoint>> {
        self.gather(Some((i64::MIN, i64::MAX)), |_| true, |_| true)
    }

    /// Whether the head may hold a point with `seq < before` in `[from, until)`: one does,
    /// or a restored extent overlaps the range (not decoded here).
    pub fn may_hold_before(&self, before: u64, from: i64, until: i64) -> bool {
        let restored = self.runs.as_ref().map_or(&[][..], |r| r.restored());
        restored.iter().any(|e| e.max_ts() >= from && e.min_ts() < until)
            || self.tail.iter().any(|p| p.seq < before && p.ts >= from && p.ts < until)
            || self.runs.as_ref().is_some_and(|r| !r.bytes.is_empty())
                && !self
                    .gather(None, |_| true, |p| p.seq < before && p.ts >= from && p.ts < until)
                    .expect("no extent decoded")
                    .is_empty()
    }

    /// The points with `lo < seq <= hi`, in append order; reads only the runs that may
    /// hold some (a checkpoint asks for what arrived since the last one). Restored points
    /// (sequence number 0) are never among them: no extent is decoded.
    #[cfg(test)]
    pub fn points_between(&self, lo: u64, hi: u64) -> Vec<HeadPoint> {
        let mut pts = Vec::new();
        self.points_between_into(lo, hi, &mut pts, &mut RunColumns::default());
        pts
    }

    /// [`Self::points_between`] appending to `pts`, decoding runs through `cols`.
    fn points_between_into(&self, lo: u64, hi: u64, pts: &mut Vec<HeadPoint>, cols: &mut RunColumns) {
        if self.max_seq > lo {
            let keep = |p: &HeadPoint| p.seq > lo && p.seq <= hi;
            self.gather_into(None, |run_max_seq| run_max_seq > lo, keep, pts, cols).expect("no extent decoded");
        }
    }

    /// The points passing `keep`, in append order: the restored ones with timestamps in
    /// `restored` (a range; `None`: none of them, and then this never fails), then those
    /// of the runs whose highest sequence number passes `run_ok`, then the tail's.
    fn gather(
        &self,
        restored: Option<(i64, i64)>,
        run_ok: impl Fn(u64) -> bool,
        keep: impl Fn(&HeadPoint) -> bool,
    ) -> Result<Vec<HeadPoint>> {
        let mut pts = Vec::new();
        self.gather_into(restored, run_ok, keep, &mut pts, &mut RunColumns::default())?;
        Ok(pts)
    }

    /// [`Self::gather`] appending to `pts`, decoding runs through `cols`.
    fn gather_into(
        &self,
        restored: Option<(i64, i64)>,
        run_ok: impl Fn(u64) -> bool,
        keep: impl Fn(&HeadPoint) -> bool,
        pts: &mut Vec<HeadPoint>,
        cols: &mut RunColumns,
    ) -> Result<()> {
        let start = pts.len();
        if let Some(runs) = &self.runs {
            if let Some((from, until)) = restored {
                decode_restored(runs.restored(), from, until, pts)?;
            }
            decode_runs(runs.iter().filter(|(_, m)| run_ok(*m)).map(|(b, _)| b), pts, cols);
            // Keep what passes among the points appended here (HeadPoint is Copy).
            let mut kept = start;
            for i in start..pts.len() {
                if keep(&pts[i]) {
                    pts[kept] = pts[i];
                    kept += 1;
                }
            }
            pts.truncate(kept);
        }
        pts.extend(self.tail.iter().filter(|p| keep(p)).copied());
        Ok(())
    }

    /// The points with `seq <= upto` and the rest, each in append order.
    pub fn split_at_seq(&self, upto: u64) -> Result<(Vec<HeadPoint>, Vec<HeadPoint>)> {
        Ok(self.points()?.into_iter().partition(|p| p.seq <= upto))
    }

    /// What a seal at `upto` takes: the points with `seq <= upto` as sorted, unique columns
    /// (the last write of a timestamp wins), and the later points to carry over, in append
    /// order. A raw, ascending head whose points are all old enough (the common case of
    /// in-order ingest) gives its columns straight from the tail, without the copies and the
    /// pass of the general path (restored extents, all older than any write, decode
    /// straight into the columns before the tail's points). A damaged restored extent is a
    /// corruption error naming its file and offset.
    pub fn split_for_seal(&self, upto: u64) -> Result<(Vec<i64>, Vec<f64>, Vec<HeadPoint>)> {
        let raw = self.runs.as_ref().is_none_or(|r| r.bytes.is_empty());
        if raw && self.sorted && self.max_seq <= upto {
            let (mut ts, mut vals) = (Vec::with_capacity(self.len()), Vec::with_capacity(self.len()));
            let (mut ets, mut evals) = (Vec::new(), Vec::new());
            for e in self.runs.as_ref().map_or(&[][..], |r| r.restored()) {
                e.decode_into(&mut ets, &mut evals)?;
                ts.extend_from_slice(&ets);
                vals.extend_from_slice(&evals);
            }
            ts.extend(self.tail.iter().map(|p| p.ts));
            vals.extend(self.tail.iter().map(|p| p.val));
            return Ok((ts, vals, Vec::new()));
        }
        let (sealable, carry) = self.split_at_seq(upto)?;
        let (ts, vals) = super::sorted_unique(sealable, self.sorted);
        Ok((ts, vals, carry))
    }
}

/// `n` as a `u32`, at most `u32::MAX` (a head holds at most a few partitions' worth of
/// points).
fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Append the points of `extents` (restored at open; oldest first) with timestamps in
/// `[from, until)` to `pts`, with sequence number 0 (`(i64::MIN, i64::MAX)`: all of them).
/// Only the extents, and the pages of paged ones, that overlap the range are decoded.
fn decode_restored(extents: &[Arc<Sealed>], from: i64, until: i64, pts: &mut Vec<HeadPoint>) -> Result<()> {
    let all = (from, until) == (i64::MIN, i64::MAX);
    let (mut ts, mut vals) = (Vec::new(), Vec::new());
    for e in extents.iter().filter(|e| all || (e.max_ts() >= from && e.min_ts() < until)) {
        if all {
            e.decode_into(&mut ts, &mut vals)?;
        } else {
            e.decode_overlapping(from, until, &mut ts, &mut vals)?;
        }
        let inside = ts.iter().zip(&vals).filter(|(t, _)| all || (**t >= from && **t < until));
        pts.extend(inside.map(|(&ts, &val)| HeadPoint { ts, val, seq: 0 }));
    }
    Ok(())
}

impl Runs {
    /// Each run and the highest sequence number in it.
    fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        let b = &self.bytes[..];
        let mut at = 0;
        std::iter::from_fn(move || {
            if at == b.len() {
                return None;
            }
            // Written by `compress_tail` in this process: a bad one is a bug, not bad input.
            let len = get_varint(b, &mut at).expect("head run length") as usize;
            let max_seq = get_varint(b, &mut at).expect("head run seq");
            at += len;
            Some((&b[at - len..at], max_seq))
        })
    }
}

/// Append the points of `blocks` (runs) to `pts`, decoding through `cols`.
fn decode_runs<'a>(blocks: impl Iterator<Item = &'a [u8]>, pts: &mut Vec<HeadPoint>, cols: &mut RunColumns) {
    let (ts, vals, seqs) = cols;
    for block in blocks {
        ts.clear();
        vals.clear();
        seqs.clear();
        // Runs never leave memory: a bad one is a bug in this crate, not bad input.
        run::decode(block, ts, vals, seqs).expect("head runs decode");
        pts.extend((0..ts.len()).map(|i| HeadPoint { ts: ts[i], val: vals[i], seq: seqs[i] }));
    }
}

/// A run's decoded columns: timestamps, values, sequence numbers.
type RunColumns = (Vec<i64>, Vec<f64>, Vec<u64>);

/// Buffers [`HeadInner::write_extents`] reuses from one head to the next.
#[derive(Default)]
pub struct ExtentScratch {
    pts: Vec<HeadPoint>,
    run: RunColumns,
    /// The points to write, sorted and unique, and what merging an old extent gives.
    ts: Vec<i64>,
    vals: Vec<f64>,
    out_ts: Vec<i64>,
    out_vals: Vec<f64>,
    /// A popped extent's points.
    old_ts: Vec<i64>,
    old_vals: Vec<f64>,
    block: Vec<u8>,
}

#[cfg(test)]
mod tests;
