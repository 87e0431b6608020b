//! The head partition: a mutable, locked, append-only log of `(ts, value, seq)`, its older
//! points compressed in runs.
use parking_lot::{Mutex, MutexGuard};

use std::cell::RefCell;

use std::sync::Arc;

use super::sealed::BlockSink;
use crate::bytes::{get_varint, put_varint};
use super::{Sealed, sorted_unique};
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
    /// The highest sequence number of any point (0 when empty).
    max_seq: u64,
    /// Points in the runs: kept here, in the padding beside the flags, so that a write
    /// does not touch the runs' box (a cache miss per head in a scrape).
    run_len: u32,
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
            run_len: 0,
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
    pub fn visible(&self, seq: u64, from: i64, until: i64) -> (Vec<i64>, Vec<f64>) {
        let (pts, sorted) = {
            let h = self.inner.lock();
            (h.gather(|_| true, |p| p.seq <= seq && p.ts >= from && p.ts < until), h.sorted)
        };
        super::sorted_unique(pts, sorted)
    }
}

impl HeadInner {
    /// Persist `fresh` head points as extents. Like a binary counter, the new points absorb
    /// the newest extents while those are no larger than twice them, so a head that gets a
    /// few points per checkpoint keeps O(log n) extents and each point is rewritten O(log n)
    /// times before the head seals. Written as blocks of at most `MAX_BLOCK_POINTS` (one
    /// batch may bring millions of points). On failure the head's extents are as they were:
    /// the manifest still names them.
    pub fn write_extents(&mut self, fresh: Vec<HeadPoint>, sink: &dyn BlockSink) -> Result<()> {
        let head = self;
        let (mut ts, mut vals) = sorted_unique(fresh, head.is_sorted());
        let mut merged = Vec::new();
        let restore = |head: &mut HeadInner, merged: Vec<Arc<Sealed>>| {
            for x in merged.into_iter().rev() {
                head.add_extent(x);
            }
        };
        while ts.len() < MAX_BLOCK_POINTS {
            let room = MAX_BLOCK_POINTS - ts.len();
            let Some(old) = head.pop_extent_up_to((2 * ts.len()).min(room)) else { break };
            let m = old.merged_with(&ts, &vals);
            merged.push(old);
            match m {
                Ok(m) => (ts, vals) = m,
                Err(e) => {
                    restore(head, merged);
                    return Err(e);
                }
            }
        }
        let mut new = Vec::with_capacity(ts.len().div_ceil(MAX_BLOCK_POINTS));
        for (t, v) in ts.chunks(MAX_BLOCK_POINTS).zip(vals.chunks(MAX_BLOCK_POINTS)) {
            match Sealed::encode(t, v, sink) {
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
        Ok(())
    }

    /// The last timestamp appended, if any.
    fn last_ts(&self) -> Option<i64> {
        match self.tail.last() {
            Some(p) => Some(p.ts),
            None => self.runs.as_ref().filter(|_| self.run_len > 0).map(|r| r.last_ts),
        }
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
                self.compress_tail();
            }
        }
        false
    }

    fn compress_tail(&mut self) {
        thread_local! {
            /// Columns and coded bytes of the run being made, kept between runs: a scrape
            /// compresses a million tails, each of a few dozen points.
            static SCRATCH: RefCell<Columns> = RefCell::default();
        }
        let tail = std::mem::take(&mut self.tail);
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
        self.run_len = self.run_len.saturating_add(tail.len() as u32);
    }

    pub fn len(&self) -> usize {
        self.run_len as usize + self.tail.len()
    }

    /// Hint that a point is about to be appended (the tail's next slot; see
    /// `sys::prefetch`). Call with the lock held, some heads ahead of the write.
    #[inline]
    pub fn prefetch_append(&self) {
        crate::sys::prefetch(self.tail.as_ptr().wrapping_add(self.tail.len()));
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

    /// Remove and return the newest extent if it holds at most `max_points` points (a
    /// checkpoint merges small extents into its new one, so a head keeps O(log n) of them).
    pub fn pop_extent_up_to(&mut self, max_points: usize) -> Option<Arc<Sealed>> {
        let ext = &mut self.runs.as_mut()?.extents;
        if ext.last()?.len() <= max_points { ext.pop() } else { None }
    }

    /// Every point, in append order.
    pub fn points(&self) -> Vec<HeadPoint> {
        self.gather(|_| true, |_| true)
    }

    /// The points with `lo < seq <= hi`, in append order; reads only the runs that may
    /// hold some (a checkpoint asks for what arrived since the last one).
    pub fn points_between(&self, lo: u64, hi: u64) -> Vec<HeadPoint> {
        if self.max_seq <= lo {
            return Vec::new();
        }
        self.gather(|run_max_seq| run_max_seq > lo, |p| p.seq > lo && p.seq <= hi)
    }

    /// The points passing `keep`, in append order, from the runs whose highest sequence
    /// number passes `run_ok` and from the tail.
    fn gather(&self, run_ok: impl Fn(u64) -> bool, keep: impl Fn(&HeadPoint) -> bool) -> Vec<HeadPoint> {
        let mut pts = Vec::new();
        if let Some(runs) = &self.runs {
            decode_runs(runs.iter().filter(|(_, m)| run_ok(*m)).map(|(b, _)| b), &mut pts);
            pts.retain(&keep);
        }
        pts.extend(self.tail.iter().filter(|p| keep(p)).copied());
        pts
    }

    /// The points with `seq <= upto` and the rest, each in append order.
    pub fn split_at_seq(&self, upto: u64) -> (Vec<HeadPoint>, Vec<HeadPoint>) {
        self.points().into_iter().partition(|p| p.seq <= upto)
    }

    /// What a seal at `upto` takes: the points with `seq <= upto` as sorted, unique columns
    /// (the last write of a timestamp wins), and the later points to carry over, in append
    /// order. A raw, ascending head whose points are all old enough (the common case of
    /// in-order ingest) gives its columns straight from the tail, without the copies and the
    /// pass of the general path.
    pub fn split_for_seal(&self, upto: u64) -> (Vec<i64>, Vec<f64>, Vec<HeadPoint>) {
        let raw = self.runs.as_ref().is_none_or(|r| r.bytes.is_empty());
        if raw && self.sorted && self.max_seq <= upto {
            let ts = self.tail.iter().map(|p| p.ts).collect();
            let vals = self.tail.iter().map(|p| p.val).collect();
            return (ts, vals, Vec::new());
        }
        let (sealable, carry) = self.split_at_seq(upto);
        let (ts, vals) = super::sorted_unique(sealable, self.sorted);
        (ts, vals, carry)
    }
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

/// Append the points of `blocks` (runs) to `pts`.
fn decode_runs<'a>(blocks: impl Iterator<Item = &'a [u8]>, pts: &mut Vec<HeadPoint>) {
    let (mut ts, mut vals, mut seqs) = (Vec::new(), Vec::new(), Vec::new());
    for block in blocks {
        // Runs never leave memory: a bad one is a bug in this crate, not bad input.
        run::decode(block, &mut ts, &mut vals, &mut seqs).expect("head runs decode");
    }
    pts.extend((0..ts.len()).map(|i| HeadPoint { ts: ts[i], val: vals[i], seq: seqs[i] }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_split_fast_path_equals_the_general_one() {
        let general = |h: &HeadInner, upto: u64| {
            let (sealable, carry) = h.split_at_seq(upto);
            let (ts, vals) = super::super::sorted_unique(sealable, h.sorted);
            (ts, vals, carry)
        };
        // Ascending and raw: the fast path, at an `upto` covering every point.
        let h = Head::default();
        let mut g = h.lock();
        for i in 0..100 {
            g.push(i * 10, i as f64, 1 + i as u64 / 10);
        }
        assert_eq!(g.split_for_seal(10), general(&g, 10));
        // Some points too new: the general path, same answer.
        let (ts, _, carry) = g.split_for_seal(5);
        assert_eq!((ts.len(), carry.len()), (50, 50));
        assert_eq!(g.split_for_seal(5), general(&g, 5));
        // Out of order and duplicated.
        g.push(15, -1.0, 11);
        g.push(15, -2.0, 11);
        assert_eq!(g.split_for_seal(11), general(&g, 11));
        assert!(g.split_for_seal(11).0.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn visible_filters_by_seq_and_range_and_keeps_last_write() {
        let h = Head::default();
        {
            let mut g = h.lock();
            g.push(5, 1.0, 1);
            g.push_all(&[3, 5, 3], &[2.0, 3.0, 4.0], 2); // duplicate ts in one batch: last wins
            g.push(9, 5.0, 4);
            g.push(5, 6.0, 3);
            assert!(!g.is_sorted());
        }
        assert_eq!(h.visible(1, i64::MIN, i64::MAX), (vec![5], vec![1.0]));
        assert_eq!(h.visible(2, i64::MIN, i64::MAX), (vec![3, 5], vec![4.0, 3.0]));
        assert_eq!(h.visible(3, i64::MIN, i64::MAX), (vec![3, 5], vec![4.0, 6.0]));
        assert_eq!(h.visible(9, 4, 10), (vec![5, 9], vec![6.0, 5.0]));
    }

    #[test]
    fn runs_and_tail_read_as_one_log() {
        let h = Head::default();
        let mut want = Vec::new();
        {
            let mut g = h.lock();
            for i in 0..1000u64 {
                let ts = (i as i64 * 7919) % 500; // out of order, with duplicates
                let val = i as f64 / 4.0;
                if i % 10 == 0 {
                    g.push_all(&[ts, ts + 1], &[val, val], i);
                    want.extend([(ts, val, i), (ts + 1, val, i)]);
                } else {
                    g.push(ts, val, i);
                    want.push((ts, val, i));
                }
                assert!(!g.settle(u32::MAX, 16, || false));
            }
            assert!(g.tail.len() < 16 && g.runs.as_ref().unwrap().iter().count() > 50);
            assert_eq!(g.len(), want.len());
            let got: Vec<_> = g.points().iter().map(|p| (p.ts, p.val, p.seq)).collect();
            assert_eq!(got, want);
            assert_eq!(g.split_at_seq(499).0.len(), want.iter().filter(|p| p.2 <= 499).count());
            assert!(g.settle(want.len() as u32, 16, || false), "full heads are reported, not compressed");
        }
        let (ts, vals) = h.visible(600, 100, 200);
        let mut model = std::collections::BTreeMap::new();
        for &(t, v, s) in want.iter().filter(|p| p.2 <= 600 && (100..200).contains(&p.0)) {
            model.insert(t, (s, v)); // seqs ascend in `want`: the later write wins
        }
        assert_eq!(ts, model.keys().copied().collect::<Vec<_>>());
        assert_eq!(vals, model.values().map(|p| p.1).collect::<Vec<_>>());
    }

    #[test]
    fn sorted_flag_survives_compression() {
        let mut g = HeadInner::default();
        g.push_all(&[1, 2, 3], &[0.0; 3], 1);
        assert!(!g.settle(100, 2, || false));
        assert!(g.tail.is_empty() && g.is_sorted());
        g.push(4, 0.0, 2);
        assert!(g.is_sorted());
        assert!(!g.settle(100, 1, || false));
        g.push(4, 0.0, 3); // equal to the last run's last timestamp
        assert!(!g.is_sorted());
    }

    #[test]
    fn admitted_heads_stay_raw_until_frozen() {
        let mut g = HeadInner::default();
        g.push_all(&[1, 2, 3], &[0.0; 3], 1);
        let mut asked = 0;
        assert!(!g.settle(100, 2, || {
            asked += 1;
            true
        }));
        g.push(4, 0.0, 2);
        assert!(!g.settle(100, 2, || unreachable!("asked once")));
        assert!(g.runs.is_none() && g.tail.len() == 4 && asked == 1);
        assert!(g.freeze());
        assert!(!g.freeze(), "the place is given back once");
    }

    #[test]
    fn sorted_flag_tracks_strictly_ascending_appends() {
        let mut g = HeadInner::default();
        g.push_all(&[1, 2, 3], &[0.0; 3], 1);
        g.push(4, 0.0, 2);
        assert!(g.is_sorted());
        g.push(4, 0.0, 3);
        assert!(!g.is_sorted());
        let h = Head::with_points(vec![HeadPoint { ts: 1, val: 0.0, seq: 1 }]);
        assert!(h.lock().is_sorted());
    }
}
