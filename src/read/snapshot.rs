//! Snapshots and cursors: a consistent view of the database at one instant, and the
//! head-over-sealed merge that scans one metric of it in timestamp order.
use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::catalog::check_name;
use crate::codec::{PAGE_POINTS, Page};
use crate::error::not_found;
use crate::partition::PartitionMap;
use crate::txn::Version;
use crate::{Error, MetricId, Result};

/// A consistent, read-only view of the database at one instant. Shareable between threads
/// (`Send + Sync`); cursors hold an `Arc` of it, so it lives until the last of them is freed.
pub struct Snapshot {
    /// The version it reads; holding it is what makes the snapshot live for `close`.
    pub(crate) version: Arc<Version>,
    pub(crate) seq: u64,
    /// How it is counted among the live snapshots ([`Database::stats`]): the token of
    /// `LiveSnapshots::begin`, which holds the second it began.
    pub(crate) begun: u64,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.version.live.end(self.begun);
    }
}

impl Snapshot {
    /// The id of the metric called `name` in this snapshot.
    pub fn lookup(&self, name: &str) -> Result<MetricId> {
        check_name(name)?;
        self.version.lookup(name).map(|m| m.id).ok_or_else(|| {
            Error::NotFound(format!("no metric with this name in the snapshot (name={name:?})"))
        })
    }

    /// The name of metric `id` in this snapshot.
    pub fn metric_name(&self, id: MetricId) -> Result<&str> {
        self.version.ids.get(id.0).map(|m| &*m.name).ok_or_else(|| not_found(id))
    }

    /// Live metrics in this snapshot.
    pub fn metric_count(&self) -> u64 {
        self.version.ids.len()
    }

    /// The live metrics of this snapshot, `(id, name)` in ascending id order, starting at the
    /// first id `>= from`. Lazy: O(log n) memory whatever the number of metrics.
    pub fn metrics(&self, from: MetricId) -> impl Iterator<Item = (MetricId, &str)> {
        self.version.ids.range_from(from.0).map(|(id, m)| (MetricId(id), &*m.name))
    }

    /// The sequence number this snapshot reads at.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A cursor over metric `id`'s points with `from <= ts < until`, ascending, one per
    /// timestamp. The cursor keeps this snapshot alive.
    pub fn scan(self: &Arc<Self>, id: MetricId, from: i64, until: i64) -> Result<Cursor> {
        if from > until {
            return Err(Error::InvalidArgument(format!("from > until (from={from}, until={until})")));
        }
        let map = self.version.ids.get(id.0).ok_or_else(|| not_found(id))?.clone();
        let (head_ts, head_vals) = map.head.visible(self.seq, from, until)?;
        let parts = if from < until { map.parts_overlapping(from, until) } else { 0..0 };
        Ok(Cursor {
            _snap: self.clone(),
            next_part: parts.start,
            parts_end: parts.end,
            pos: 0,
            end: 0,
            map,
            from,
            until,
            part_ts: Vec::new(),
            part_vals: Vec::new(),
            paged: None,
            pages: Vec::new(),
            next_page: 0,
            head_ts,
            head_vals,
            hpos: 0,
            _not_sync: PhantomData,
        })
    }
}

/// An ascending iterator over one metric's points in a snapshot. `Send` but not `Sync`: one
/// thread at a time; it may move between threads.
pub struct Cursor {
    _snap: Arc<Snapshot>,
    map: Arc<PartitionMap>,
    from: i64,
    until: i64,
    /// Next sealed part to open, and the end of the overlapping parts.
    next_part: usize,
    parts_end: usize,
    /// The open part is `map.parts[next_part - 1]`, decoded into `part_ts`/`part_vals` and
    /// read over `pos..end`.
    pos: usize,
    end: usize,
    /// The open part (or window of pages), decoded.
    part_ts: Vec<i64>,
    part_vals: Vec<f64>,
    /// A large part read a window of pages at a time (see [`WINDOW_PAGES`]): its index in
    /// `map.parts`, its pages overlapping the range, and the next of them to read.
    paged: Option<usize>,
    pages: Vec<Page>,
    next_page: usize,
    /// Visible head points in range, sorted and unique; they win over sealed points.
    head_ts: Vec<i64>,
    head_vals: Vec<f64>,
    hpos: usize,
    _not_sync: PhantomData<Cell<()>>,
}

impl Cursor {
    /// Fill up to `cap` points, where `cap` is the length of the given buffers (the shorter
    /// one if both are given; either may be `None` to skip that column). Returns how many
    /// were written; 0 means the cursor is exhausted (and stays so). A damaged block on
    /// disk is [`Error::Corruption`] naming its file and offset; the points before it in
    /// this call are lost to the caller, and the cursor should be dropped.
    pub fn next_batch(&mut self, mut ts: Option<&mut [i64]>, mut vals: Option<&mut [f64]>) -> Result<usize> {
        let cap = match (&ts, &vals) {
            (Some(t), Some(v)) => t.len().min(v.len()),
            (Some(t), None) => t.len(),
            (None, Some(v)) => v.len(),
            (None, None) => return Ok(0),
        };
        let mut n = 0;
        while n < cap {
            if self.pos == self.end
                && let (Some(t), Some(v)) = (ts.as_deref_mut(), vals.as_deref_mut())
                && let Some(k) = self.decode_next_part_to(&mut t[n..cap], &mut v[n..cap])?
            {
                n += k;
                continue;
            }
            if self.pos == self.end && !self.open_next_part()? {
                // Only head points remain.
                let k = (self.head_ts.len() - self.hpos).min(cap - n);
                if k == 0 {
                    break;
                }
                copy_out(
                    &mut ts,
                    &mut vals,
                    n,
                    &self.head_ts[self.hpos..][..k],
                    &self.head_vals[self.hpos..][..k],
                );
                self.hpos += k;
                n += k;
                continue;
            }
            let run = &self.part_ts[self.pos..self.end];
            let room = cap - n;
            let k = match self.head_ts.get(self.hpos) {
                None => run.len().min(room),
                Some(&h) => run.partition_point(|&t| t < h).min(room),
            };
            if k > 0 {
                copy_out(&mut ts, &mut vals, n, &run[..k], &self.part_vals[self.pos..self.pos + k]);
                self.pos += k;
                n += k;
            } else {
                // The head's next point comes first; on a tie it replaces the sealed one.
                let h = self.head_ts[self.hpos];
                if run[0] == h {
                    self.pos += 1;
                }
                copy_out(&mut ts, &mut vals, n, &[h], &[self.head_vals[self.hpos]]);
                self.hpos += 1;
                n += 1;
            }
        }
        Ok(n)
    }

    /// When the next piece (a small part, or a window of a large part's pages) lies wholly
    /// in range, no head point comes before its end and the caller's buffers hold it all,
    /// decode it straight into them (no intermediate copy) and return its length.
    fn decode_next_part_to(&mut self, ts: &mut [i64], vals: &mut [f64]) -> Result<Option<usize>> {
        let clear_of_head = |last: i64| self.head_ts.get(self.hpos).is_none_or(|&h| h > last);
        if let Some(i) = self.paged {
            let window = &self.pages[self.window()];
            let (Some(first), Some(last)) = (window.first(), window.last()) else { return Ok(None) };
            let k = window.iter().map(|p| p.summary.count as usize).sum();
            let (lo, hi) = (first.summary.first_ts, last.summary.last_ts);
            if lo < self.from || hi >= self.until || !clear_of_head(hi) || k > ts.len() {
                return Ok(None);
            }
            self.map.parts[i].data.decode_pages(window, &mut ts[..k], &mut vals[..k])?;
            self.next_page += window.len();
            return Ok(Some(k));
        }
        let Some(part) = self.map.parts.get(self.next_part).filter(|_| self.next_part < self.parts_end)
        else {
            return Ok(None);
        };
        let data = &part.data;
        let k = data.len();
        if data.min_ts() < self.from
            || data.max_ts() >= self.until
            || !clear_of_head(data.max_ts())
            || k > ts.len()
            || k > WINDOW_PAGES * PAGE_POINTS
        {
            return Ok(None);
        }
        data.decode_to(&mut ts[..k], &mut vals[..k])?;
        self.next_part += 1;
        Ok(Some(k))
    }

    /// Where in `pages` the next window of the large part being read is (empty when none).
    fn window(&self) -> std::ops::Range<usize> {
        let start = self.next_page.min(self.pages.len());
        start..self.pages.len().min(start + WINDOW_PAGES)
    }

    /// Open the next piece with points in range: a window of the large part being read, or
    /// the next overlapping sealed part (a large one is read by windows of its pages); false
    /// when none is left.
    fn open_next_part(&mut self) -> Result<bool> {
        loop {
            if let Some(i) = self.paged {
                let window = &self.pages[self.window()];
                if window.is_empty() {
                    self.paged = None;
                    continue;
                }
                let k = window.iter().map(|p| p.summary.count as usize).sum();
                self.part_ts.resize(k, 0);
                self.part_vals.resize(k, 0.0);
                self.map.parts[i].data.decode_pages(window, &mut self.part_ts, &mut self.part_vals)?;
                self.next_page += window.len();
            } else if self.next_part < self.parts_end {
                let i = self.next_part;
                self.next_part += 1;
                let part = &self.map.parts[i].data;
                if part.len() > WINDOW_PAGES * PAGE_POINTS && part.pages_into(&mut self.pages)? {
                    let (from, until) = (self.from, self.until);
                    self.pages.retain(|p| p.summary.last_ts >= from && p.summary.first_ts < until);
                    (self.paged, self.next_page) = (Some(i), 0);
                    continue;
                }
                part.decode_overlapping(self.from, self.until, &mut self.part_ts, &mut self.part_vals)?;
            } else {
                self.pos = 0;
                self.end = 0;
                return Ok(false);
            }
            let ts = &self.part_ts;
            self.pos = ts.partition_point(|&t| t < self.from);
            self.end = ts.partition_point(|&t| t < self.until);
            if self.pos < self.end {
                return Ok(true);
            }
        }
    }
}

/// Pages of a large part a cursor decodes at a time (4,096 points): its buffers stay small
/// however large the part (up to `codec::MAX_BLOCK_POINTS`), and a caller's buffers of
/// that many points or more receive whole windows straight from the decoder.
const WINDOW_PAGES: usize = 16;

fn copy_out(
    ts: &mut Option<&mut [i64]>,
    vals: &mut Option<&mut [f64]>,
    at: usize,
    src_ts: &[i64],
    src_vals: &[f64],
) {
    if let Some(t) = ts {
        t[at..at + src_ts.len()].copy_from_slice(src_ts);
    }
    if let Some(v) = vals {
        v[at..at + src_vals.len()].copy_from_slice(src_vals);
    }
}

/// One point at a time; an `Err` (a damaged block) ends the iteration.
impl Iterator for Cursor {
    type Item = Result<(i64, f64)>;
    fn next(&mut self) -> Option<Result<(i64, f64)>> {
        let (mut t, mut v) = ([0i64], [0f64]);
        match self.next_batch(Some(&mut t), Some(&mut v)) {
            Ok(1) => Some(Ok((t[0], v[0]))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }
}
