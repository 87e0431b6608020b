//! Sealed partitions: immutable, sorted runs of points with unique timestamps, stored as
//! one codec block (see docs/codec.md), in memory or in a data segment on disk.
//!
//! Immutable data needs no lock: readers share it through `Arc`.
use std::sync::Arc;

use crate::codec;
use crate::storage::manifest::BlockRef;
use crate::storage::segment::{DataSegment, DataWriter};
use crate::{Error, Result};

/// An immutable sorted run; never empty.
///
/// Its fields are laid out to take 40 bytes (56 with the `Arc`'s counts, one 64-byte
/// allocation): a part's whole cost in memory besides its 16-byte `Part` (issue 15).
pub struct Sealed {
    loc: Loc,
    /// Bytes of the stored block.
    len: u32,
    count: u32,
    first_ts: i64,
    last_ts: i64,
}

enum Loc {
    #[cfg(test)]
    Mem(Box<[u8]>),
    Disk { seg: Arc<DataSegment>, off: u64 },
}

/// Where new sealed blocks go: memory (tests) or the database's data segments.
pub trait BlockSink {
    /// Store `block`, a codec block of `count` points from `first_ts` to `last_ts`.
    fn put(&self, block: &[u8], count: u32, first_ts: i64, last_ts: i64) -> Result<Sealed>;
}

/// Keeps blocks in memory (for tests of the partition logic without a database).
#[cfg(test)]
pub struct MemSink;

#[cfg(test)]
impl BlockSink for MemSink {
    fn put(&self, block: &[u8], count: u32, first_ts: i64, last_ts: i64) -> Result<Sealed> {
        let len = block.len() as u32;
        Ok(Sealed { loc: Loc::Mem(block.into()), len, count, first_ts, last_ts })
    }
}

impl BlockSink for parking_lot::Mutex<DataWriter> {
    fn put(&self, block: &[u8], count: u32, first_ts: i64, last_ts: i64) -> Result<Sealed> {
        let (seg, off) = self.lock().append(block)?;
        seg.set_live(block.len() as u32, true);
        Ok(Sealed { loc: Loc::Disk { seg, off }, len: block.len() as u32, count, first_ts, last_ts })
    }
}

impl Drop for Sealed {
    #[allow(irrefutable_let_patterns)] // outside tests every block is on disk
    fn drop(&mut self) {
        #[cfg(test)]
        crate::ffi::boundary::injected_panic("Sealed::drop");
        if let Loc::Disk { seg, .. } = &self.loc {
            seg.set_live(self.len, false);
        }
    }
}

#[cfg(not(test))]
const _: () = assert!(size_of::<Sealed>() == 40);

impl Sealed {
    /// Encode the run (`ts` strictly ascending, non-empty, as long as `vals`) into `sink`.
    pub fn encode(ts: &[i64], vals: &[f64], sink: &dyn BlockSink) -> Result<Sealed> {
        Sealed::encode_with(ts, vals, &mut Vec::new(), sink)
    }

    /// [`Sealed::encode`], coding the block in `buf` (cleared first; reused by callers that
    /// write many blocks).
    pub fn encode_with(ts: &[i64], vals: &[f64], buf: &mut Vec<u8>, sink: &dyn BlockSink) -> Result<Sealed> {
        buf.clear();
        let s = codec::encode(ts, vals, buf);
        sink.put(buf, s.count, s.first_ts, s.last_ts)
    }

    /// This block followed by the run `(ts, vals)` (after its last point) as one new block
    /// in `sink`, its full pages copied rather than coded again ([`codec::append`]); `None`
    /// when the result would be too long for one block.
    pub fn append(&self, ts: &[i64], vals: &[f64], sink: &dyn BlockSink) -> Result<Option<Sealed>> {
        let mut block = Vec::with_capacity(self.stored_len() as usize + 2 * ts.len());
        match codec::append(self.block()?, ts, vals, &mut block).map_err(|e| self.corrupt(&e.to_string()))? {
            Some(s) => sink.put(&block, s.count, s.first_ts, s.last_ts).map(Some),
            None => Ok(None),
        }
    }

    /// Encode the run in memory.
    #[cfg(test)]
    pub fn new(ts: &[i64], vals: &[f64]) -> Sealed {
        Sealed::encode(ts, vals, &MemSink).expect("memory")
    }

    /// One block holding the runs of `parts` in order (each starting after the one before
    /// ends), in `sink`: their full pages are copied, not coded again ([`codec::concat`]).
    /// Each part's reference and checksums are checked first: damage is an error naming
    /// the damaged block, never copied.
    pub fn concat(parts: &[&Sealed], sink: &dyn BlockSink) -> Result<Sealed> {
        let mut blocks = Vec::with_capacity(parts.len());
        for p in parts {
            p.summary()?;
            blocks.push(p.block()?);
        }
        let mut out = Vec::with_capacity(blocks.iter().map(|b| b.len()).sum::<usize>() + 4096);
        match codec::concat(&blocks, &mut out) {
            Ok(Some(s)) => sink.put(&out, s.count, s.first_ts, s.last_ts),
            Ok(None) => Err(Error::Internal("sealed runs to join overlap or hold too many points".into())),
            Err((i, e)) => Err(parts[i].corrupt(&e.to_string())),
        }
    }

    /// The block at `r` in `seg` (from the manifest).
    pub fn on_disk(seg: Arc<DataSegment>, r: &BlockRef) -> Sealed {
        seg.note_block(r.off, r.len);
        seg.set_live(r.len, true);
        Sealed {
            loc: Loc::Disk { seg, off: r.off },
            len: r.len,
            count: r.count,
            first_ts: r.first_ts,
            last_ts: r.last_ts,
        }
    }

    /// A copy of this block in `sink` (compaction moves live blocks out of mostly dead
    /// segments); the block's checksums are verified first, so damage is not copied.
    pub fn copy_to(&self, sink: &dyn BlockSink) -> Result<Sealed> {
        let block = self.block()?;
        codec::verify(block).map_err(|e| self.corrupt(&e.to_string()))?;
        sink.put(block, self.count, self.first_ts, self.last_ts)
    }

    /// The segment holding the block, if on disk.
    pub fn segment(&self) -> Option<&Arc<DataSegment>> {
        match &self.loc {
            #[cfg(test)]
            Loc::Mem(_) => None,
            Loc::Disk { seg, .. } => Some(seg),
        }
    }

    /// Where the block is on disk, for the manifest (`None` in memory).
    pub fn block_ref(&self) -> Option<BlockRef> {
        match &self.loc {
            #[cfg(test)]
            Loc::Mem(_) => None,
            Loc::Disk { seg, off } => Some(BlockRef {
                seg: seg.no,
                off: *off,
                len: self.len,
                count: self.count,
                first_ts: self.first_ts,
                last_ts: self.last_ts,
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Bytes of the stored block.
    pub fn stored_len(&self) -> u64 {
        u64::from(self.len)
    }

    pub fn min_ts(&self) -> i64 {
        self.first_ts
    }

    pub fn max_ts(&self) -> i64 {
        self.last_ts
    }

    /// The encoded block.
    pub fn block(&self) -> Result<&[u8]> {
        match &self.loc {
            #[cfg(test)]
            Loc::Mem(b) => Ok(b),
            Loc::Disk { seg, off } => seg.block(*off, self.len),
        }
    }

    /// Bytes the encoded run takes.
    #[cfg(test)]
    pub fn encoded_len(&self) -> usize {
        self.block().map_or(0, <[u8]>::len)
    }

    /// The summary in the block's header (count, time range, min, max, sum, NaNs): read
    /// without decoding the points; the header's checksum is verified, and its count and
    /// time range must be the reference's (aggregates fold the summary as it is).
    pub fn summary(&self) -> Result<codec::Summary> {
        let h = codec::header(self.block()?).map_err(|e| self.corrupt(&e.to_string()))?;
        if (h.summary.first_ts, h.summary.last_ts) != (self.first_ts, self.last_ts) {
            return Err(self.corrupt("block does not match its reference (first/last timestamp)"));
        }
        if h.summary.count != self.count {
            return Err(self.corrupt(&format!(
                "block does not match its reference ({} points, the reference says {})",
                h.summary.count, self.count
            )));
        }
        Ok(h.summary)
    }

    /// Replace `ts` and `vals` with the run's points.
    pub fn decode_into(&self, ts: &mut Vec<i64>, vals: &mut Vec<f64>) -> Result<()> {
        ts.resize(self.len(), 0);
        vals.resize(self.len(), 0.0);
        self.decode_to(ts, vals)
    }

    /// Write the run's points to `ts` and `vals`, each exactly [`Sealed::len`] long. A
    /// damaged block is a corruption error naming its file and offset.
    pub fn decode_to(&self, ts: &mut [i64], vals: &mut [f64]) -> Result<()> {
        let block = self.block()?;
        let s = codec::decode_into(block, ts, vals).map_err(|e| self.corrupt(&e.to_string()))?;
        if (s.first_ts, s.last_ts) != (self.first_ts, self.last_ts) {
            return Err(self.corrupt("block does not match its reference (first/last timestamp)"));
        }
        Ok(())
    }

    /// The block's pages (see `codec::pages`), checked against its reference; `None` when
    /// the block is not paged (a small block is decoded whole).
    pub fn pages(&self) -> Result<Option<Vec<codec::Page>>> {
        let mut pages = Vec::new();
        Ok(self.pages_into(&mut pages)?.then_some(pages))
    }

    /// [`Sealed::pages`] into `pages` (cleared first); false when the block is not paged.
    pub fn pages_into(&self, pages: &mut Vec<codec::Page>) -> Result<bool> {
        let paged = codec::pages_into(self.block()?, pages).map_err(|e| self.corrupt(&e.to_string()))?;
        if let (Some(first), Some(last)) = (pages.first(), pages.last()) {
            if (first.summary.first_ts, last.summary.last_ts) != (self.first_ts, self.last_ts) {
                return Err(self.corrupt("block does not match its reference (first/last timestamp)"));
            }
            let count = last.start + last.summary.count as usize;
            if count != self.len() {
                return Err(self.corrupt(&format!(
                    "block does not match its reference ({count} points, the reference says {})",
                    self.count
                )));
            }
        }
        Ok(paged)
    }

    /// Replace `ts` and `vals` with the points of `page` (one of [`Sealed::pages`]), whose
    /// checksum is verified.
    pub fn decode_page(&self, page: &codec::Page, ts: &mut Vec<i64>, vals: &mut Vec<f64>) -> Result<()> {
        let n = page.summary.count as usize;
        ts.resize(n, 0);
        vals.resize(n, 0.0);
        codec::decode_page(self.block()?, page, ts, vals).map_err(|e| self.corrupt(&e.to_string()))
    }

    /// Write the points of `pages` (consecutive pages of [`Sealed::pages`]) to `ts` and
    /// `vals`, each exactly as long as the pages hold; each page's checksum is verified.
    pub fn decode_pages<'a>(
        &self,
        pages: impl IntoIterator<Item = &'a codec::Page>,
        ts: &mut [i64],
        vals: &mut [f64],
    ) -> Result<()> {
        let block = self.block()?;
        let mut at = 0;
        for page in pages {
            let r = at..at + page.summary.count as usize;
            codec::decode_page(block, page, &mut ts[r.clone()], &mut vals[r.clone()])
                .map_err(|e| self.corrupt(&e.to_string()))?;
            at = r.end;
        }
        if at != ts.len() || at != vals.len() {
            return Err(Error::Internal(format!("buffers of {} and {} for {at} points", ts.len(), vals.len())));
        }
        Ok(())
    }

    /// Replace `ts` and `vals` with the points of the run that a read of `[from, until)`
    /// needs: all of them, or, for a paged block the range does not cover, those of the
    /// pages overlapping it (a superset of the points in range, still sorted).
    pub fn decode_overlapping(
        &self,
        from: i64,
        until: i64,
        ts: &mut Vec<i64>,
        vals: &mut Vec<f64>,
    ) -> Result<()> {
        let pages = if from <= self.first_ts && until > self.last_ts { None } else { self.pages()? };
        let Some(pages) = pages else { return self.decode_into(ts, vals) };
        let wanted = || pages.iter().filter(|p| p.summary.last_ts >= from && p.summary.first_ts < until);
        let n: usize = wanted().map(|p| p.summary.count as usize).sum();
        ts.resize(n, 0);
        vals.resize(n, 0.0);
        self.decode_pages(wanted(), ts, vals)
    }

    fn corrupt(&self, msg: &str) -> Error {
        match &self.loc {
            #[cfg(test)]
            Loc::Mem(_) => Error::Corruption(format!("in-memory block: {msg}")),
            Loc::Disk { seg, off, .. } => Error::Corruption(format!("{} offset {off}: {msg}", seg.label())),
        }
    }

    /// This run merged with the sorted unique `(ts, vals)`; on equal timestamps the new
    /// point wins.
    pub fn merged_with(&self, ts: &[i64], vals: &[f64]) -> Result<(Vec<i64>, Vec<f64>)> {
        let (mut old_ts, mut old_vals) = (Vec::new(), Vec::new());
        self.decode_into(&mut old_ts, &mut old_vals)?;
        Ok(merge_runs(&old_ts, &old_vals, ts, vals))
    }

    /// The points of `page` (one of [`Sealed::pages`]) merged with the sorted unique
    /// `(ts, vals)`; on equal timestamps the new point wins.
    pub fn page_merged_with(&self, page: &codec::Page, ts: &[i64], vals: &[f64]) -> Result<(Vec<i64>, Vec<f64>)> {
        let (mut pts, mut pvs) = (Vec::new(), Vec::new());
        self.decode_page(page, &mut pts, &mut pvs)?;
        Ok(merge_runs(&pts, &pvs, ts, vals))
    }

    /// A paged run with the sorted unique `(ts, vals)` merged in, as one new block in `sink`
    /// whose pages before the first one the new points reach are copied, not decoded
    /// ([`codec::splice`]): late points cost the pages from there on, not the whole run.
    /// `None` when that saves nothing (the run is not paged, or the points reach its first
    /// page) or the result would not fit one block.
    pub fn merged_tail(&self, ts: &[i64], vals: &[f64], sink: &dyn BlockSink) -> Result<Option<Sealed>> {
        let Some(pages) = self.pages()? else { return Ok(None) };
        let keep = pages.partition_point(|p| p.summary.last_ts < ts[0]);
        if keep == 0 || keep == pages.len() {
            return Ok(None);
        }
        let tail = &pages[keep..];
        let n: usize = tail.iter().map(|p| p.summary.count as usize).sum();
        let (mut old_ts, mut old_vals) = (vec![0; n], vec![0.0; n]);
        self.decode_pages(tail, &mut old_ts, &mut old_vals)?;
        let (mts, mvals) = merge_runs(&old_ts, &old_vals, ts, vals);
        let mut block = Vec::with_capacity(self.stored_len() as usize + 2 * ts.len());
        match codec::splice(self.block()?, keep, &mts, &mvals, &mut block).map_err(|e| self.corrupt(&e.to_string()))? {
            Some(s) => sink.put(&block, s.count, s.first_ts, s.last_ts).map(Some),
            None => Ok(None),
        }
    }
}

/// The sorted unique runs `old` and `new` merged; on equal timestamps the new point wins.
fn merge_runs(old_ts: &[i64], old_vals: &[f64], ts: &[i64], vals: &[f64]) -> (Vec<i64>, Vec<f64>) {
    let (mut ots, mut ovals) = (Vec::new(), Vec::new());
    merge_runs_into(old_ts, old_vals, ts, vals, &mut ots, &mut ovals);
    (ots, ovals)
}

/// [`merge_runs`] into `ots` and `ovals` (cleared first).
pub(super) fn merge_runs_into(
    old_ts: &[i64],
    old_vals: &[f64],
    ts: &[i64],
    vals: &[f64],
    ots: &mut Vec<i64>,
    ovals: &mut Vec<f64>,
) {
    ots.clear();
    ovals.clear();
    let n = old_ts.len() + ts.len();
    ots.reserve(n);
    ovals.reserve(n);
    let (mut i, mut j) = (0, 0);
    while i < old_ts.len() || j < ts.len() {
        let take_new = j < ts.len() && (i == old_ts.len() || ts[j] <= old_ts[i]);
        if take_new {
            if i < old_ts.len() && old_ts[i] == ts[j] {
                i += 1;
            }
            ots.push(ts[j]);
            ovals.push(vals[j]);
            j += 1;
        } else {
            ots.push(old_ts[i]);
            ovals.push(old_vals[i]);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_prefers_new_points() {
        let s = Sealed::new(&[1, 3, 5], &[1.0, 3.0, 5.0]);
        let (t, v) = s.merged_with(&[0, 3, 6], &[0.5, 30.0, 6.0]).unwrap();
        assert_eq!(t, vec![0, 1, 3, 5, 6]);
        assert_eq!(v, vec![0.5, 1.0, 30.0, 5.0, 6.0]);
    }

    /// Aggregates fold a block's header summary (and its pages') without decoding: a header
    /// whose count is not its reference's must be an error there too, as decoding is.
    #[test]
    fn summaries_must_match_the_reference_count() {
        for n in [100i64, 3000] {
            let ts: Vec<i64> = (0..n).collect();
            let vals = vec![1.0; n as usize];
            let mut block = Vec::new();
            codec::encode(&ts, &vals, &mut block);
            let good = MemSink.put(&block, n as u32, 0, n - 1).unwrap();
            assert_eq!(good.summary().unwrap().count, n as u32);
            assert_eq!(good.pages().unwrap().is_some(), n > 1024);
            let bad = MemSink.put(&block, n as u32 + 1, 0, n - 1).unwrap();
            let e = bad.summary().unwrap_err().to_string();
            assert!(e.contains(&format!("{n} points, the reference says {}", n + 1)), "{e}");
            assert_eq!(bad.pages().is_err(), n > 1024, "a paged block's pages are checked too");
            assert!(bad.decode_into(&mut Vec::new(), &mut Vec::new()).is_err());
        }
    }

    #[test]
    fn runs_are_stored_compressed() {
        let ts: Vec<i64> = (0..4096).map(|i| i * 10_000).collect();
        let vals: Vec<f64> = (0..4096).map(|i| (i % 100) as f64 / 4.0).collect();
        let s = Sealed::new(&ts, &vals);
        assert!(s.encoded_len() < 4096 * 16 / 4, "at least 4x below raw: {} bytes", s.encoded_len());
        assert_eq!((s.len(), s.max_ts()), (4096, 4095 * 10_000));
        let (mut t, mut v) = (vec![1], vec![1.0]);
        s.decode_into(&mut t, &mut v).unwrap();
        assert_eq!((t, v), (ts, vals));
    }
}
