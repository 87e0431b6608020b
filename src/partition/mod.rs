//! Partitions and the per-metric partition map (docs/architecture.md, "Partition maps and partitions").
//!
//! A [`PartitionMap`] is immutable except for its head's contents: sealing, dropping or any
//! other structural change builds a new map (copy-on-write) that the next global version
//! points to, while older versions keep the old one.
//!
//! - The **head** is a mutable, locked, append-only log of `(ts, value, seq)`; any timestamp
//!   may arrive in any order. A reader keeps the points with `seq <=` its snapshot's.
//! - **Sealed** partitions are immutable sorted runs with unique timestamps; they need no lock.
//!   Their ranges do not overlap: partition `i` owns `[start_i, start_{i+1})` (the first also
//!   owns everything before it), and a seal merges late points into the partitions that own
//!   them — one rewrite per touched partition per seal, never one per point.
//! - Precedence: head over sealed, and within the head higher `seq`, then later append, wins.
mod head;
mod sealed;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub use head::{ExtentScratch, Head, HeadInner, HeadPoint};
#[cfg(test)]
pub use sealed::MemSink;
pub use sealed::{BlockSink, Sealed};

use crate::codec::MAX_BLOCK_POINTS;
use crate::{Error, MetricId, Result};

/// How a metric's sealed points are cut into parts.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Points a seal's new parts hold (`Options::partition_points`).
    pub part_points: usize,
    /// Longest time a part made by joining others may span (see [`TIER_FAN`]): a quarter of
    /// the metric's retention, so that retention, which drops whole parts, keeps at most a
    /// quarter more than asked. `i64::MAX` without retention.
    pub max_span: i64,
    /// Whether parts are joined by tier at all (tests of the rest of the logic turn it off).
    pub join: bool,
}

impl Layout {
    /// Parts of `part_points` joined up to [`MAX_BLOCK_POINTS`], over any span.
    #[cfg(test)]
    pub fn new(part_points: usize) -> Layout {
        Layout { part_points, max_span: i64::MAX, join: true }
    }

    /// The layout of a metric whose retention span is `span` (0 or less: none).
    /// Parts of `part_points`, never joined (tests of the rest of the logic).
    #[cfg(test)]
    pub fn unjoined(part_points: usize) -> Layout {
        Layout { part_points, max_span: i64::MAX, join: false }
    }

    pub fn with_retention(part_points: usize, span: i64) -> Layout {
        Layout { part_points, max_span: if span > 0 { (span / 4).max(1) } else { i64::MAX }, join: true }
    }
}

/// A sealed partition and the first timestamp of the range it owns.
#[derive(Clone)]
pub struct Part {
    pub start: i64,
    pub data: Arc<Sealed>,
}

/// A metric's partitions: sealed parts in time order, and the head.
pub struct PartitionMap {
    pub id: MetricId,
    pub name: Arc<str>,
    pub parts: Box<[Part]>,
    pub head: Head,
    /// The metric's own retention span (0: the database's default). A setting, not data:
    /// changed in place (under the head's lock, so no successor map misses it).
    pub retention: AtomicI64,
}

impl PartitionMap {
    /// The map of a newly created, empty metric.
    pub fn new(id: MetricId, name: Arc<str>) -> PartitionMap {
        PartitionMap { id, name, parts: Box::new([]), head: Head::default(), retention: AtomicI64::new(0) }
    }

    /// The map that replaces this one: the same metric and settings with `parts` and `head`.
    pub fn successor(&self, parts: Vec<Part>, head: Head) -> PartitionMap {
        PartitionMap {
            id: self.id,
            name: self.name.clone(),
            parts: parts.into(),
            head,
            retention: AtomicI64::new(self.retention()),
        }
    }

    pub fn retention(&self) -> i64 {
        self.retention.load(Ordering::Relaxed)
    }

    /// Indexes of the parts that may hold points in `[from, until)`.
    pub fn parts_overlapping(&self, from: i64, until: i64) -> std::ops::Range<usize> {
        let first = self.parts.partition_point(|p| p.start <= from).saturating_sub(1);
        let end = self.parts.partition_point(|p| p.start < until);
        first..end.max(first)
    }

    /// Seal the head's points with `seq <= upto`: build the successor map, whose sealed parts
    /// include them and whose new head carries the rest, then freeze this map's head so
    /// writers move on to the successor. `head` must be this map's head, locked. Returns
    /// the successor and what [`HeadInner::freeze`] returned, or `None` (leaving the head
    /// as it is) when no point is old enough to seal. New blocks go to `sink`; on an error
    /// (a full disk, a damaged part to merge into) the head is left as it is.
    pub fn seal(
        &self,
        head: &mut HeadInner,
        upto: u64,
        layout: Layout,
        sink: &dyn BlockSink,
    ) -> Result<Option<(PartitionMap, bool)>> {
        let (ts, vals, carry) = head.split_for_seal(upto)?;
        if ts.is_empty() {
            return Ok(None);
        }
        let parts = merge_into_parts(&self.parts, &ts, &vals, layout, sink)?;
        let next = self.successor(parts, Head::with_points(carry));
        Ok(Some((next, head.freeze())))
    }
}

/// Sort head points by timestamp and keep one per timestamp: the one with the highest seq,
/// and of equal seqs the one appended last (`pts` is in append order).
pub fn sorted_unique(mut pts: Vec<HeadPoint>, already_sorted: bool) -> (Vec<i64>, Vec<f64>) {
    let (mut ts, mut vals) = (Vec::new(), Vec::new());
    sorted_unique_into(&mut pts, already_sorted, &mut ts, &mut vals);
    (ts, vals)
}

/// [`sorted_unique`] into `ts` and `vals` (cleared first), sorting `pts` in place.
pub fn sorted_unique_into(pts: &mut [HeadPoint], already_sorted: bool, ts: &mut Vec<i64>, vals: &mut Vec<f64>) {
    if !already_sorted {
        pts.sort_by_key(|p| (p.ts, p.seq)); // stable: append order breaks ties
    }
    ts.clear();
    vals.clear();
    ts.reserve(pts.len());
    vals.reserve(pts.len());
    for p in pts.iter() {
        if ts.last() == Some(&p.ts) {
            *vals.last_mut().expect("same length as ts") = p.val;
        } else {
            ts.push(p.ts);
            vals.push(p.val);
        }
    }
}

/// New sealed parts after adding the sorted, unique points `(ts, vals)` to `parts`; the new
/// points win over stored ones with the same timestamp. Parts that receive no point are
/// shared, not copied; the newest parts are then joined by tier ([`TIER_FAN`]).
pub fn merge_into_parts(
    parts: &[Part],
    ts: &[i64],
    vals: &[f64],
    layout: Layout,
    sink: &dyn BlockSink,
) -> Result<Vec<Part>> {
    let part_points = layout.part_points;
    let mut out: Vec<Part> = Vec::with_capacity(parts.len() + ts.len() / part_points + 1);
    // Points up to the newest stored timestamp are late and merge into their owners; the
    // rest extend the series.
    let newest = parts.last().map_or(i64::MIN, |p| p.data.max_ts());
    let late = if parts.is_empty() { 0 } else { ts.partition_point(|t| *t <= newest) };
    let mut k = 0;
    for (i, part) in parts.iter().enumerate() {
        let owned_end =
            if i + 1 < parts.len() { ts.partition_point(|t| *t < parts[i + 1].start) } else { late };
        let owned_end = owned_end.max(k);
        if owned_end == k {
            out.push(part.clone());
            continue;
        }
        let start = part.start.min(ts[k]);
        // A large (joined) part keeps the pages before the first one the points reach.
        if part.data.len() > 2 * part_points
            && let Some(data) = part.data.merged_tail(&ts[k..owned_end], &vals[k..owned_end], sink)?
        {
            out.push(Part { start, data: Arc::new(data) });
            k = owned_end;
            continue;
        }
        let (mts, mvals) = part.data.merged_with(&ts[k..owned_end], &vals[k..owned_end])?;
        // A grown block (see `GROW_PARTS`) or a joined one (see `TIER_FAN`) stays whole:
        // late points need not split it, unless it outgrows a block (then into even halves).
        let max = if tiny(&part.data) { GROW_PARTS * part_points } else { 2 * part_points };
        let max = max.max(part.data.len()).min(MAX_BLOCK_POINTS);
        let chunk = if max > 2 * part_points { mts.len().div_ceil(mts.len().div_ceil(max)) } else { part_points };
        push_chunks(&mut out, start, &mts, &mvals, chunk, max, sink)?;
        k = owned_end;
    }
    debug_assert_eq!(k, late);
    let (ts, vals) = (&ts[k..], &vals[k..]);
    if ts.is_empty() {
        return Ok(out);
    }
    extend(&mut out, ts, vals, layout, sink)?;
    if layout.join {
        join_tiers(&mut out, layout, sink)?;
    }
    Ok(out)
}

/// Append the run `(ts, vals)`, newer than every point of `out`, to the parts `out`.
fn extend(out: &mut Vec<Part>, ts: &[i64], vals: &[f64], layout: Layout, sink: &dyn BlockSink) -> Result<()> {
    let part_points = layout.part_points;
    // The last part takes the start of the tail: all of it when its block is tiny (see
    // `GROW_POINTS_PER_BYTE`) and the result spans no more than a joined part may, else as
    // much as a short last part needs to reach `part_points`. Appended, its full pages are
    // copied rather than coded again.
    let newest = *ts.last().expect("a tail");
    let take = out.last().and_then(|p| {
        if grows(&p.data, ts.len(), part_points) && newest.saturating_sub(p.data.min_ts()) <= layout.max_span {
            Some(ts.len())
        } else {
            (p.data.len() < part_points).then(|| (part_points - p.data.len()).min(ts.len()))
        }
    });
    let mut k = 0;
    if let Some(n) = take {
        let last = out.last().expect("a last part");
        if let Some(data) = last.data.append(&ts[..n], &vals[..n], sink)? {
            let start = last.start;
            *out.last_mut().expect("a last part") = Part { start, data: Arc::new(data) };
            k = n;
        }
    }
    if k < ts.len() {
        push_chunks(out, ts[k], &ts[k..], &vals[k..], part_points, part_points, sink)?;
    }
    Ok(())
}

/// Parts joined into one by tiered merging: a seal's new parts hold `partition_points`;
/// once the newest parts include `TIER_FAN` of one tier (sizes within a factor of
/// `TIER_FAN`), they are joined into one part of the next tier, up to
/// [`MAX_BLOCK_POINTS`]. Joining copies the blocks' pages ([`Sealed::concat`]), so each
/// point is copied once per tier: log4(2^20 / 4,096) = 4 times at the defaults. A series
/// then holds at most `TIER_FAN - 1` parts per tier besides its full blocks: 2M points
/// written 10,000 at a time in 9 parts instead of about 490, and what a part costs (80
/// bytes of memory: `Part` and `Sealed`; a manifest entry) no longer grows with the points. Paged blocks keep
/// reads of a short range inside a large part to the pages it overlaps.
const TIER_FAN: usize = 4;

/// The tier of a part of `len` points: 0 below `TIER_FAN` partitions' worth, and one more
/// per factor of `TIER_FAN` above.
fn tier(len: usize, part_points: usize) -> u32 {
    let (mut t, mut size) = (0, part_points.saturating_mul(TIER_FAN));
    while len >= size {
        t += 1;
        size = size.saturating_mul(TIER_FAN);
    }
    t
}

/// Join runs of parts of one tier in `out` (see [`TIER_FAN`]), repeatedly: a join may
/// complete a run of the next tier. A short last part, which later seals fill up, stays
/// out. In a run, the oldest parts join first, so that what is left over sits at the
/// newest end, where the next parts of its tier arrive. `TIER_FAN` parts join, or at
/// least two when the next part of the run would take them past [`MAX_BLOCK_POINTS`];
/// never parts spanning more than `layout.max_span`.
fn join_tiers(out: &mut Vec<Part>, layout: Layout, sink: &dyn BlockSink) -> Result<()> {
    let pp = layout.part_points;
    let tier_of = |p: &Part| tier(p.data.len(), pp);
    let mut newest = match out.last() {
        Some(p) if p.data.len() < pp => out.len() - 1,
        _ => out.len(),
    };
    // Runs from the newest back (late points merged into old parts change their sizes, and
    // a seal of many points adds many parts: a run may form anywhere); after a join, from
    // the newest again, as the joined part may complete a run of the next tier.
    let mut end = newest;
    while end >= 2 {
        let t = tier_of(&out[end - 1]);
        let mut run = end - 1;
        while run > 0 && tier_of(&out[run - 1]) == t {
            run -= 1;
        }
        match joinable(&out[run..end], layout) {
            Some(r) => {
                let (begin, stop) = (run + r.start, run + r.end);
                let parts: Vec<&Sealed> = out[begin..stop].iter().map(|p| &*p.data).collect();
                match Sealed::concat(&parts, sink) {
                    Ok(data) => {
                        out.splice(begin..stop, [Part { start: out[begin].start, data: Arc::new(data) }]);
                        newest -= stop - begin - 1;
                        end = newest;
                    }
                    // A damaged block stays as it is, unjoined: reads of it report the
                    // damage, and the seal (which has its own points to store) goes on.
                    Err(Error::Corruption(_)) => end = begin,
                    Err(e) => return Err(e),
                }
            }
            None => end = run,
        }
    }
    Ok(())
}

/// The parts of `run` (parts of one tier, oldest first) to join: the oldest `TIER_FAN`, or
/// the oldest two or more that the next would take past [`MAX_BLOCK_POINTS`], within
/// `layout.max_span`; a part that cannot join the one after it is passed over. `None`
/// while the run is too short.
fn joinable(run: &[Part], layout: Layout) -> Option<std::ops::Range<usize>> {
    for begin in 0..run.len().saturating_sub(1) {
        let (mut stop, mut points) = (begin, 0);
        while stop < run.len() && stop - begin < TIER_FAN && points + run[stop].data.len() <= MAX_BLOCK_POINTS {
            points += run[stop].data.len();
            stop += 1;
        }
        let full = stop - begin == TIER_FAN || (stop - begin >= 2 && stop < run.len());
        if !full {
            if stop - begin < 2 && stop < run.len() {
                continue; // too large to join the next part: try from the next
            }
            return None; // too short: wait for more parts of this tier
        }
        if run[stop - 1].data.max_ts().saturating_sub(run[begin].data.min_ts()) <= layout.max_span {
            return Some(begin..stop);
        }
    }
    None
}

/// A last block of less than a quarter byte per point (constant or nearly constant data:
/// one 4,096-point block of such a series is a few hundred bytes) takes the next seal's
/// points into itself, up to [`GROW_PARTS`] partitions' worth: one block instead of many
/// tiny ones, each costing a manifest entry, a block header and a `Part` in memory. Its
/// full pages are copied, not coded again, so such a seal costs about what a new block does.
const GROW_POINTS_PER_BYTE: u64 = 4;
/// Most points a grown block holds, in partitions of `part_points`.
const GROW_PARTS: usize = 16;

/// Whether the last part's block `data` grows by a tail of `n` points instead of a new
/// part starting after it (see [`GROW_POINTS_PER_BYTE`]).
fn grows(data: &Sealed, n: usize, part_points: usize) -> bool {
    data.len() + n <= GROW_PARTS * part_points && tiny(data)
}

/// Whether `data` codes to less than a quarter byte per point.
fn tiny(data: &Sealed) -> bool {
    data.stored_len() * GROW_POINTS_PER_BYTE < data.len() as u64
}

/// `parts` without their points in `[from, until)`: parts wholly inside are left out, parts
/// reaching across an end are rewritten, the rest shared. `None` when no point is removed.
pub fn delete_from_parts(
    parts: &[Part],
    from: i64,
    until: i64,
    sink: &dyn BlockSink,
) -> Result<Option<Vec<Part>>> {
    let mut out = Vec::with_capacity(parts.len());
    let mut changed = false;
    let (mut ts, mut vals) = (Vec::new(), Vec::new());
    for p in parts {
        let (lo, hi) = (p.data.min_ts(), p.data.max_ts());
        if hi < from || lo >= until {
            out.push(p.clone());
        } else if lo >= from && hi < until {
            changed = true;
        } else {
            p.data.decode_into(&mut ts, &mut vals)?;
            let (a, b) = (ts.partition_point(|&t| t < from), ts.partition_point(|&t| t < until));
            if a == b {
                out.push(p.clone()); // the range falls between two of its points
                continue;
            }
            changed = true;
            ts.drain(a..b);
            vals.drain(a..b);
            out.push(Part { start: p.start, data: Arc::new(Sealed::encode(&ts, &vals, sink)?) });
        }
    }
    Ok(changed.then_some(out))
}

/// Append `(ts, vals)` as one part, or as parts of `chunk` points when longer than `max`.
/// The first part owns from `start`; the others from their first timestamp.
#[allow(clippy::too_many_arguments)]
fn push_chunks(
    out: &mut Vec<Part>,
    start: i64,
    ts: &[i64],
    vals: &[f64],
    chunk: usize,
    max: usize,
    sink: &dyn BlockSink,
) -> Result<()> {
    if ts.len() <= max {
        out.push(Part { start, data: Arc::new(Sealed::encode(ts, vals, sink)?) });
        return Ok(());
    }
    for (n, (cts, cvals)) in ts.chunks(chunk).zip(vals.chunks(chunk)).enumerate() {
        let s = if n == 0 { start } else { cts[0] };
        out.push(Part { start: s, data: Arc::new(Sealed::encode(cts, cvals, sink)?) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn decoded(p: &Part) -> (Vec<i64>, Vec<f64>) {
        let (mut ts, mut vals) = (Vec::new(), Vec::new());
        p.data.decode_into(&mut ts, &mut vals).unwrap();
        (ts, vals)
    }

    fn pts_of(map: &PartitionMap) -> Vec<(i64, u64)> {
        map.parts
            .iter()
            .flat_map(|p| {
                let (ts, vals) = decoded(p);
                ts.into_iter().zip(vals.into_iter().map(f64::to_bits))
            })
            .collect()
    }

    #[test]
    fn seals_keep_last_writes_sorted_and_parts_disjoint() {
        let mut map = PartitionMap::new(MetricId(1), "m".into());
        let mut model = BTreeMap::new();
        let mut x: u64 = 99;
        let mut seq = 0;
        for round in 0..200 {
            {
                let mut h = map.head.lock();
                for _ in 0..37 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    seq += 1;
                    // Mostly in order, some late and some duplicate timestamps.
                    let ts =
                        if x.is_multiple_of(5) { (x % 3000) as i64 } else { round * 40 + (x % 40) as i64 };
                    h.push(ts, x as f64, seq);
                    model.insert(ts, (x as f64).to_bits());
                }
            }
            let next = {
                let mut h = map.head.lock();
                map.seal(&mut h, seq, Layout::new(64), &MemSink).unwrap().expect("points to seal").0
            };
            assert!(map.head.lock().is_frozen());
            map = next;
            for w in map.parts.windows(2) {
                assert!(w[0].start < w[1].start);
                assert!(w[0].data.max_ts() < w[1].start, "parts overlap");
                assert!(decoded(&w[1]).0[0] >= w[1].start);
            }
            assert!(map.parts.iter().all(|p| p.data.len() <= MAX_BLOCK_POINTS));
        }
        // About 7,400 points in partitions of 64: joined by tier, not 115 parts.
        assert!(map.parts.len() <= 16, "{} parts", map.parts.len());
        let want: Vec<(i64, u64)> = model.into_iter().collect();
        assert_eq!(pts_of(&map), want);
    }

    #[test]
    fn seal_keeps_unpublished_points_in_the_new_head() {
        let map = PartitionMap::new(MetricId(1), "m".into());
        let mut h = map.head.lock();
        h.push(1, 1.0, 1);
        h.push(2, 2.0, 3);
        h.push(3, 3.0, 2);
        let next = map.seal(&mut h, 2, Layout::new(16), &MemSink).unwrap().unwrap().0;
        assert_eq!(pts_of(&next), vec![(1, 1.0f64.to_bits()), (3, 3.0f64.to_bits())]);
        let carried = next.head.lock().split_at_seq(u64::MAX).unwrap().0;
        assert_eq!(carried.iter().map(|p| (p.ts, p.seq)).collect::<Vec<_>>(), vec![(2, 3)]);
    }

    /// Constant data grows one block by each seal's pages, up to `GROW_PARTS` partitions;
    /// late points and odd seal sizes keep every point; data that does not code to almost
    /// nothing starts a new part each time.
    #[test]
    fn tiny_blocks_grow_instead_of_multiplying() {
        for (constant, pp) in [(true, 1000usize), (true, 1024), (false, 1024)] {
            let mut map = PartitionMap::new(MetricId(1), "m".into());
            let mut model = BTreeMap::new();
            let mut t = 0i64;
            let mut seq = 0;
            for round in 0..60u64 {
                {
                    let mut h = map.head.lock();
                    // Seals of odd sizes, now and then a late point (overwriting one).
                    for i in 0..pp as u64 + round * 37 % 300 {
                        seq += 1;
                        t += 10;
                        let v = if constant { 7.5 } else { (i * 7919 % 1000) as f64 };
                        h.push(t, v, seq);
                        model.insert(t, v.to_bits());
                    }
                    if round % 7 == 3 {
                        let late = (round as i64 * 5003) % t / 10 * 10;
                        h.push(late, 7.5, seq);
                        model.insert(late, 7.5f64.to_bits());
                    }
                }
                let mut h = map.head.lock();
                let next = map.seal(&mut h, seq, Layout::unjoined(pp), &MemSink).unwrap().unwrap().0;
                drop(h);
                map = next;
                for w in map.parts.windows(2) {
                    assert!(w[0].data.max_ts() < w[1].start, "parts overlap");
                }
                assert!(map.parts.iter().all(|p| p.data.len() <= GROW_PARTS * pp));
            }
            let (n, points) = (map.parts.len(), model.len());
            assert_eq!(pts_of(&map), model.into_iter().collect::<Vec<_>>());
            if constant {
                // Grown blocks, between which a few partitions start small (a short block
                // costs more than a quarter byte a point until it fills).
                assert!(n * 4 * pp <= points, "{n} parts of constant data for {points} points");
                assert!(map.parts.iter().any(|p| p.data.len() > 8 * pp), "no block grew");
            } else {
                assert!(n * 2 * pp >= points, "{n} parts of varied data for {points} points");
            }
        }
    }

    #[test]
    fn parts_overlapping_finds_owners() {
        let empty = PartitionMap::new(MetricId(1), "m".into());
        let map = {
            let mut h = empty.head.lock();
            for t in 0..100 {
                h.push(t * 10, 0.0, 1);
            }
            empty.seal(&mut h, 1, Layout::unjoined(10), &MemSink).unwrap().unwrap().0
        };
        assert_eq!(map.parts.len(), 10);
        assert_eq!(map.parts_overlapping(i64::MIN, i64::MAX), 0..10);
        assert_eq!(map.parts_overlapping(95, 105), 0..2);
        assert_eq!(map.parts_overlapping(100, 101), 1..2);
        assert_eq!(map.parts_overlapping(2000, 3000), 9..10);
        assert_eq!(map.parts_overlapping(-50, -10), 0..0);
        assert_eq!(map.parts_overlapping(5, 6), 0..1);
    }

    /// Seal `n` points from `t0` (step 10, values varied) into `map` with `layout`.
    fn seal_run(map: PartitionMap, t0: i64, n: usize, seq: u64, layout: Layout) -> PartitionMap {
        {
            let mut h = map.head.lock();
            for i in 0..n as i64 {
                h.push(t0 + i * 10, ((t0 / 10 + i) * 7919 % 1000) as f64, seq);
            }
        }
        let mut h = map.head.lock();
        let next = map.seal(&mut h, seq, layout, &MemSink).unwrap().unwrap().0;
        drop(h);
        next
    }

    /// Tiered joining keeps a handful of parts however many seals there were, every point
    /// exact, parts disjoint and at most a block; late points split a full block in two.
    #[test]
    fn tiers_keep_few_parts_and_every_point() {
        let pp = 1 << 14;
        let layout = Layout::new(pp);
        let mut map = PartitionMap::new(MetricId(1), "m".into());
        let rounds = 80;
        for r in 0..rounds {
            map = seal_run(map, r as i64 * pp as i64 * 10, pp, r as u64 + 1, layout);
            for w in map.parts.windows(2) {
                assert!(w[0].data.max_ts() < w[1].start, "parts overlap");
            }
            let tiers = tier(map.parts.iter().map(|p| p.data.len()).sum(), pp) as usize + 1;
            assert!(map.parts.len() <= (TIER_FAN - 1) * tiers + 1, "{} parts", map.parts.len());
        }
        assert!(map.parts.iter().all(|p| p.data.len() <= MAX_BLOCK_POINTS));
        assert_eq!(map.parts[0].data.len(), MAX_BLOCK_POINTS, "the oldest points joined into one block");
        let total = rounds * pp;
        let all = pts_of(&map);
        assert_eq!(all.len(), total);
        assert!(all.iter().enumerate().all(|(i, &(t, v))| t == i as i64 * 10
            && v == ((i as i64 * 7919 % 1000) as f64).to_bits()));
        // A late point into the full block: it splits into even halves, nothing lost.
        {
            let mut h = map.head.lock();
            h.push(5, -1.0, 1000);
        }
        let mut h = map.head.lock();
        let next = map.seal(&mut h, 1000, layout, &MemSink).unwrap().unwrap().0;
        drop(h);
        assert_eq!(next.parts[0].data.len() + next.parts[1].data.len(), MAX_BLOCK_POINTS + 1);
        assert!(next.parts[0].data.len().abs_diff(next.parts[1].data.len()) <= 1);
        let after = pts_of(&next);
        assert_eq!(after.len(), total + 1);
        assert_eq!(after[1], (5, (-1.0f64).to_bits()));
        // Late points near the end of a large part that is not full: it stays one part (its
        // pages before them copied), every point exact, one overwritten.
        let map = next;
        let j = map.parts.iter().position(|p| p.data.len() > 2 * pp && p.data.len() < MAX_BLOCK_POINTS).unwrap();
        let (n, last) = (map.parts.len(), map.parts[j].data.max_ts());
        {
            let mut h = map.head.lock();
            h.push(last - 15, -2.0, 1001);
            h.push(last - 20, -3.0, 1001);
        }
        let mut h = map.head.lock();
        let next = map.seal(&mut h, 1001, layout, &MemSink).unwrap().unwrap().0;
        drop(h);
        assert_eq!(next.parts.len(), n);
        let after = pts_of(&next);
        assert_eq!(after.len(), total + 2);
        let at = |t: i64| after.iter().find(|p| p.0 == t).map(|p| f64::from_bits(p.1));
        let kept = Some((last / 10 * 7919 % 1000) as f64);
        assert_eq!((at(last - 15), at(last - 20), at(last)), (Some(-2.0), Some(-3.0), kept));
        assert!(after.windows(2).all(|w| w[0].0 < w[1].0));
    }

    /// A retention span bounds what a joined part spans, so that retention (which drops
    /// whole parts) keeps at most a quarter more than asked.
    #[test]
    fn joined_parts_span_at_most_a_quarter_of_retention() {
        let pp = 64;
        let span = 64 * 10 * 40; // 40 partitions' worth of time
        let layout = Layout::with_retention(pp, span);
        let mut map = PartitionMap::new(MetricId(1), "m".into());
        for r in 0..300 {
            map = seal_run(map, r * 640, pp, r as u64 + 1, layout);
        }
        let spans: Vec<i64> = map.parts.iter().map(|p| p.data.max_ts() - p.data.min_ts()).collect();
        assert!(spans.iter().all(|&s| s <= span / 4), "{spans:?}");
        assert!(map.parts.iter().any(|p| p.data.len() > pp), "some parts joined");
        assert_eq!(pts_of(&map).len(), 300 * pp);
    }

    /// A run holding a damaged block is left unjoined: the seal goes on with its own points,
    /// the good parts keep theirs, and reading the damaged one is still an error.
    #[test]
    fn a_damaged_block_is_left_unjoined() {
        let pp = 64;
        let part = |k: i64, damage: bool| {
            let ts: Vec<i64> = (0..pp as i64).map(|i| (k * pp as i64 + i) * 10).collect();
            let vals: Vec<f64> = ts.iter().map(|&t| (t % 97) as f64).collect();
            let mut block = Vec::new();
            crate::codec::encode(&ts, &vals, &mut block);
            if damage {
                let at = block.len() - 3;
                block[at] ^= 1;
            }
            Part { start: ts[0], data: Arc::new(MemSink.put(&block, pp as u32, ts[0], ts[pp - 1]).unwrap()) }
        };
        let mut map = PartitionMap::new(MetricId(1), "m".into());
        map.parts = vec![part(0, false), part(1, true), part(2, false)].into();
        map = seal_run(map, 3 * pp as i64 * 10, pp, 1, Layout::new(pp));
        assert_eq!(map.parts.len(), 4, "the run of four was not joined");
        assert!(map.parts[1].data.decode_into(&mut Vec::new(), &mut Vec::new()).is_err());
        for i in [0, 2, 3] {
            assert_eq!(decoded(&map.parts[i]).0.len(), pp);
        }
    }

    /// Seals of more than a partition each (the 10,000-point writes of a deep ingest at the
    /// default 4,096): a run of one tier longer than `TIER_FAN` joins its oldest parts, so
    /// no part is left stranded between larger ones and the parts stay few.
    #[test]
    fn seals_of_several_partitions_leave_no_part_stranded() {
        let pp = 64;
        let mut map = PartitionMap::new(MetricId(1), "m".into());
        for r in 0..400u64 {
            map = seal_run(map, r as i64 * 156 * 10, 156, r + 1, Layout::new(pp));
            let total: usize = map.parts.iter().map(|p| p.data.len()).sum();
            let tiers = tier(total, pp) as usize + 1;
            assert!(map.parts.len() <= (TIER_FAN - 1) * tiers + 2, "{} parts at round {r}", map.parts.len());
        }
        assert_eq!(pts_of(&map).len(), 400 * 156);
    }
}
