//! Bucketed aggregates answered from the codec's per-block summaries.
//!
//! A sealed block lying wholly inside one bucket, with no head point of the snapshot in its
//! time range, contributes its stored summary (count, min, max, sum): its points are not
//! decoded. A paged block crossing a bucket edge or the range's ends does the same page by
//! page, from its directory: only the pages crossing an edge are decoded (at most 256
//! points each), and the pages whose first or last value a bucket reports. Blocks that head
//! points overwrite are decoded whole and merged.

use crate::codec::{Page, Summary, fold};
use crate::error::not_found;
use crate::partition::Sealed;
use crate::read::Snapshot;
use crate::{Error, MetricId, Result};

/// One bucket's aggregate: the layout of the C API's `ts_agg`.
///
/// NaN rule (every path, summaries or decoded points): `count` counts every point, NaN
/// values included; `min`, `max` and `sum` are over the non-NaN values and are NaN when
/// every value of the bucket is NaN; `first` and `last` are the values at `first_ts` and
/// `last_ts`, NaN or not. Infinities take part as IEEE arithmetic says (`+inf + -inf` is NaN).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Agg {
    /// The bucket's first timestamp: `from + k * bucket`.
    pub start: i64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub first: f64,
    pub last: f64,
    pub first_ts: i64,
    pub last_ts: i64,
}

/// A run of stored points folded from its summary: a whole block, or a page of one.
/// Borrowed from the snapshot's partition map, which outlives the fold: no reference
/// count is touched per page.
#[derive(Clone, Copy)]
enum Piece<'p> {
    Block(&'p Sealed),
    Page(&'p Sealed, Page),
}

impl Piece<'_> {
    /// Decode as little as gives the piece's first (or last) value into `ts` and `vals`:
    /// the page; a paged block's first (last) page; else the whole block. Returns whether
    /// that was the whole piece.
    fn decode_end(&self, first: bool, ts: &mut Vec<i64>, vals: &mut Vec<f64>) -> Result<bool> {
        match self {
            Piece::Page(block, page) => block.decode_page(page, ts, vals).map(|()| true),
            Piece::Block(block) => match block.pages()? {
                Some(pages) => {
                    let page = if first { &pages[0] } else { &pages[pages.len() - 1] };
                    block.decode_page(page, ts, vals).map(|()| false)
                }
                None => block.decode_into(ts, vals).map(|()| true),
            },
        }
    }
}

/// The bucket being folded.
struct Acc<'p> {
    agg: Agg,
    /// Non-NaN values folded into min/max/sum.
    valued: u64,
    /// `agg.last` is still to be read from this piece's last point (`None`: known).
    last_from: Option<Piece<'p>>,
}

/// Folds points and block summaries, in ascending time, into buckets written to `out`.
struct Folder<'a, 'p> {
    from: i64,
    until: i64,
    bucket: i64,
    cap: usize,
    out: &'a mut Vec<Agg>,
    cur: Option<Acc<'p>>,
    /// `out` reached `cap` and a further bucket began: stop.
    full: bool,
    scratch_ts: Vec<i64>,
    scratch_vals: Vec<f64>,
}

impl<'p> Folder<'_, 'p> {
    /// The start of the bucket holding `t` (`from <= t < until`).
    fn start_of(&self, t: i64) -> i64 {
        // `t - from` fits an i64 unless the range spans more than half the timeline; the
        // i128 division is a library call, so only that case takes it.
        match t.checked_sub(self.from) {
            Some(d) => self.from + d / self.bucket * self.bucket,
            None => {
                let k = (i128::from(t) - i128::from(self.from)) / i128::from(self.bucket);
                (i128::from(self.from) + k * i128::from(self.bucket)) as i64
            }
        }
    }

    /// Make the bucket of `t` current, finishing the one before; false when `out` is full.
    fn enter(&mut self, t: i64) -> Result<bool> {
        if self.in_current(t) {
            return Ok(true);
        }
        let start = self.start_of(t);
        self.finish()?;
        if self.out.len() == self.cap {
            self.full = true;
            return Ok(false);
        }
        let agg = Agg {
            start,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            first: f64::NAN,
            last: f64::NAN,
            first_ts: t,
            last_ts: t,
        };
        self.cur = Some(Acc { agg, valued: 0, last_from: None });
        Ok(true)
    }

    fn finish(&mut self) -> Result<()> {
        let Some(mut acc) = self.cur.take() else { return Ok(()) };
        if let Some(piece) = acc.last_from.take() {
            piece.decode_end(false, &mut self.scratch_ts, &mut self.scratch_vals)?;
            acc.agg.last = *self.scratch_vals.last().expect("blocks are never empty");
        }
        if acc.valued == 0 {
            (acc.agg.min, acc.agg.max, acc.agg.sum) = (f64::NAN, f64::NAN, f64::NAN);
        }
        self.out.push(acc.agg);
        Ok(())
    }

    /// Fold the points of sorted, unique `ts` (with `vals`) that lie in range.
    fn points(&mut self, ts: &[i64], vals: &[f64]) -> Result<()> {
        let lo = ts.partition_point(|&t| t < self.from);
        let hi = ts.partition_point(|&t| t < self.until);
        let mut i = lo;
        while i < hi {
            if !self.enter(ts[i])? {
                return Ok(());
            }
            let acc = self.cur.as_mut().expect("entered");
            let end_of_bucket = acc.agg.start.saturating_add(self.bucket);
            let j = i + ts[i..hi].partition_point(|&t| t < end_of_bucket);
            let a = &mut acc.agg;
            if a.count == 0 {
                a.first = vals[i];
                a.first_ts = ts[i];
            }
            let (min, max, _, nans) = fold(&vals[i..j]);
            // The sum point by point, in time order: the same however the bucket's points
            // arrive in slices (a page, a window, one call of several), so an aggregate in
            // several calls equals one call bit for bit (lane sums regrouped by slice did not).
            let sum = vals[i..j].iter().fold(a.sum, |s, &v| s + if v.is_nan() { 0.0 } else { v });
            (a.min, a.max, a.sum) = (a.min.min(min), a.max.max(max), sum);
            acc.valued += (j - i) as u64 - u64::from(nans);
            a.count += (j - i) as u64;
            a.last = vals[j - 1];
            a.last_ts = ts[j - 1];
            acc.last_from = None;
            i = j;
        }
        Ok(())
    }

    /// Fold a piece lying inside one bucket, whose summary is `s`, from its summary.
    fn summary(&mut self, s: &Summary, piece: Piece<'p>) -> Result<()> {
        if !self.enter(s.first_ts)? {
            return Ok(());
        }
        let acc = self.cur.as_mut().expect("entered");
        // The first value of a bucket's first piece is read now; the last value of the
        // bucket's last piece when the bucket is finished (`last_from`), unless decoding
        // the first value decoded the whole piece.
        let mut decoded = false;
        if acc.agg.count == 0 {
            decoded = piece.decode_end(true, &mut self.scratch_ts, &mut self.scratch_vals)?;
            acc.agg.first = self.scratch_vals[0];
            acc.agg.first_ts = s.first_ts;
            acc.agg.last = *self.scratch_vals.last().expect("blocks are never empty");
        }
        let a = &mut acc.agg;
        a.count += u64::from(s.count);
        a.last_ts = s.last_ts;
        // `codec::header` and the page directory reject a NaN count above the point count;
        // saturating all the same, so no summary can make this underflow.
        let valued = u64::from(s.count.saturating_sub(s.nan_count));
        if valued > 0 {
            a.min = a.min.min(s.min);
            a.max = a.max.max(s.max);
            a.sum += s.sum;
            acc.valued += valued;
        }
        acc.last_from = (!decoded).then_some(piece);
        Ok(())
    }

    /// Decode `block`'s points into the scratch buffers (all of them, or `page`), then fold
    /// those in range.
    fn decoded(&mut self, block: &Sealed, page: Option<&Page>) -> Result<()> {
        let (mut ts, mut vals) =
            (std::mem::take(&mut self.scratch_ts), std::mem::take(&mut self.scratch_vals));
        let r = match page {
            Some(p) => block.decode_page(p, &mut ts, &mut vals),
            None => block.decode_into(&mut ts, &mut vals),
        };
        let r = r.and_then(|()| self.points(&ts, &vals));
        (self.scratch_ts, self.scratch_vals) = (ts, vals);
        r
    }

    /// Whether `[lo, hi]` lies in range and inside one bucket.
    fn inside_one(&self, lo: i64, hi: i64) -> bool {
        lo >= self.from
            && hi < self.until
            && ((self.in_current(lo) && self.in_current(hi)) || self.start_of(lo) == self.start_of(hi))
    }

    /// Whether `t` falls in the bucket being folded: the common case, answered without a
    /// division (a 64-bit division takes tens of cycles, and a query asks once per page).
    fn in_current(&self, t: i64) -> bool {
        self.cur
            .as_ref()
            .is_some_and(|c| t >= c.agg.start && (t.wrapping_sub(c.agg.start) as u64) < self.bucket as u64)
    }
}

impl Snapshot {
    /// Aggregates of metric `id` over `[from, until)` in buckets `[from + k*bucket,
    /// from + (k+1)*bucket)` (the last clipped to `until`), appended to `out`: only
    /// non-empty buckets, ascending, at most `cap` of them. When `cap` were written more may
    /// remain: continue from the last one's `start + bucket`. See [`Agg`] for the NaN rule.
    pub fn aggregate(
        &self,
        id: MetricId,
        from: i64,
        until: i64,
        bucket: i64,
        cap: usize,
        out: &mut Vec<Agg>,
    ) -> Result<()> {
        if bucket <= 0 {
            return Err(Error::InvalidArgument(format!("bucket must be > 0 (bucket={bucket})")));
        }
        if from > until {
            return Err(Error::InvalidArgument(format!("from > until (from={from}, until={until})")));
        }
        let map = self.version.ids.get(id.0).ok_or_else(|| not_found(id))?.clone();
        if from == until || cap == 0 {
            return Ok(());
        }
        let (head_ts, head_vals) = map.head.visible(self.seq, from, until)?;
        let mut f = Folder {
            from,
            until,
            bucket,
            cap,
            out,
            cur: None,
            full: false,
            scratch_ts: Vec::new(),
            scratch_vals: Vec::new(),
        };
        let mut h = 0; // head points before `h` are folded
        let mut pages = Vec::new(); // the directory of the block at hand, reused
        for part in &map.parts[map.parts_overlapping(from, until)] {
            let data = &part.data;
            let (lo, hi) = (data.min_ts(), data.max_ts());
            if hi < from || lo >= until {
                continue;
            }
            // Head points before the block come first.
            let before = h + head_ts[h..].partition_point(|&t| t < lo);
            f.points(&head_ts[h..before], &head_vals[h..before])?;
            h = before;
            if f.full {
                break;
            }
            let after = h + head_ts[h..].partition_point(|&t| t <= hi);
            if after > h && data.pages_into(&mut pages)? {
                // Head points in a paged block's range win over its points, page by page:
                // a page no head point falls in is folded as it would be without them, so
                // a call starting later (which sees fewer head points) folds it alike, to
                // the same sums bit for bit.
                for page in &pages {
                    let (plo, phi) = (page.summary.first_ts, page.summary.last_ts);
                    let before = h + head_ts[h..after].partition_point(|&t| t < plo);
                    f.points(&head_ts[h..before], &head_vals[h..before])?;
                    h = before;
                    let within = h + head_ts[h..after].partition_point(|&t| t <= phi);
                    if f.full || phi < from || plo >= until {
                        if f.full {
                            break;
                        }
                        continue;
                    }
                    if within > h {
                        let (ts, vals) = data.page_merged_with(page, &head_ts[h..within], &head_vals[h..within])?;
                        h = within;
                        f.points(&ts, &vals)?;
                    } else if f.inside_one(plo, phi) {
                        f.summary(&page.summary, Piece::Page(data, *page))?;
                    } else {
                        f.decoded(data, Some(page))?;
                    }
                    if f.full {
                        break;
                    }
                }
            } else if after > h {
                // Head points in the block's range: decode, let them win, fold.
                let (ts, vals) = data.merged_with(&head_ts[h..after], &head_vals[h..after])?;
                h = after;
                f.points(&ts, &vals)?;
            } else if f.inside_one(lo, hi) {
                f.summary(&data.summary()?, Piece::Block(data))?;
            } else if data.pages_into(&mut pages)? {
                for page in &pages {
                    let (plo, phi) = (page.summary.first_ts, page.summary.last_ts);
                    if phi < from || plo >= until {
                        continue;
                    }
                    if f.inside_one(plo, phi) {
                        f.summary(&page.summary, Piece::Page(data, *page))?;
                    } else {
                        f.decoded(data, Some(page))?;
                    }
                    if f.full {
                        break;
                    }
                }
            } else {
                f.decoded(data, None)?;
            }
            if f.full {
                break;
            }
        }
        if !f.full {
            f.points(&head_ts[h..], &head_vals[h..])?;
        }
        if !f.full {
            f.finish()?;
        }
        Ok(())
    }
}
