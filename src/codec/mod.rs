//! The point codec: a sorted run of unique-timestamp points `(i64, f64)` <-> one block.
//!
//! Columnar: timestamps and values are coded separately, behind a fixed header that carries
//! the block's summary (count, first/last timestamp, min/max/sum of values), so a reader that
//! needs only a summary never touches the points. See docs/codec.md for the measurements
//! behind each choice. Block layout (all integers little-endian):
//!
//! ```text
//! │ version u8 │ ts_codec u8 │ val_codec u8 │ page_shift u8 │ count u32 │ first_ts i64 │ last_ts i64 │
//! │ min f64 │ max f64 │ sum f64 │ nan_count u32 │ ts_len u32 │ body_crc u32 │ header_crc u32 │
//! │ timestamps (ts_len bytes) │ values (the rest) │
//! ```
//!
//! - `header_crc` covers the 60 bytes before it; `body_crc` covers everything after the
//!   header. Both are crc32 (IEEE).
//! - Summary NaN rule: `min`, `max` and `sum` cover the non-NaN values (`sum` with IEEE
//!   arithmetic, so +inf and -inf together make it NaN; its rounding is that of [`fold`],
//!   which format 1's sequential sums match to within rounding); `nan_count` counts the
//!   NaNs. With no non-NaN value, min = +inf, max = -inf, sum = 0 (the identities).
//! - Timestamps ([`TIME_FRAMES`]): the `count - 1` deltas through the integer frame coder
//!   (`frames.rs`: per frame of 128 the cheapest of plain, delta, sparse-delta and repeat).
//! - Values: [`VAL_DECIMAL`] (see `decimal.rs`), [`VAL_XOR`] (Gorilla) or [`VAL_RAW`]
//!   (`count` x 8 bytes), whichever is smallest.
//! - `page_shift` 0: the body is one timestamp section then one value section, as above.
//!   Otherwise (format 2, blocks of more than [`PAGED_ABOVE`] points) the block is paged:
//!   pages of `1 << page_shift` points, each coded on its own and summarised in a directory
//!   at the end of the body (`pages.rs`), so a reader decodes only the pages it needs.
//!   Format 1 blocks (never paged) are still read.
//!
//! Decoding never trusts the block: every length, count and offset is checked, and a bad
//! block is a [`CodecError`], never a panic, an out-of-bounds read or an allocation larger
//! than a fixed multiple of the block's size.
pub mod bitpack;
use crate::bytes::{u32_at, u64_at};
pub use pages::Page;
mod decimal;
mod frames;
pub mod gorilla;
mod pages;
pub mod run;
#[doc(hidden)]
#[cfg(any(test, feature = "test-data"))]
pub mod shapes;

/// Format version written in byte 0 of every block (1 is still read: never paged).
pub const FORMAT_VERSION: u8 = 2;
/// log2 of [`PAGE_POINTS`], written in byte 3 of a paged block's header.
const PAGE_SHIFT: u8 = 8;
/// Points per page of a paged block. A multiple of the frame coder's 128, so pages cut no
/// frame in two.
pub const PAGE_POINTS: usize = 1 << PAGE_SHIFT;
/// Blocks of more points than this are paged; a smaller block is decoded whole (the
/// directory would cost more than it saves).
pub const PAGED_ABOVE: usize = 1024;
/// Page sizes a reader accepts (`page_shift` values): bounds the directory of a hostile block.
const PAGE_SHIFTS: std::ops::RangeInclusive<u8> = 7..=20;
/// Bytes of the block header.
pub const HEADER_LEN: usize = 64;
/// Most points in one block. Bounds what decoding a hostile block can allocate (16 MB):
/// a few bytes of REPEAT frames can describe any number of points.
pub const MAX_BLOCK_POINTS: usize = 1 << 20;
const _: () = assert!(2 * crate::options::MAX_PARTITION_POINTS as usize <= MAX_BLOCK_POINTS);

/// Timestamp coding: frame-of-reference bit-packed deltas.
pub const TIME_FRAMES: u8 = 0;
/// Value coding: 8 raw bytes per value.
pub const VAL_RAW: u8 = 0;
/// Value coding: decimal integers, bit-packed (delta or plain per frame), with exceptions.
pub const VAL_DECIMAL: u8 = 1;
/// Value coding: Gorilla XOR.
pub const VAL_XOR: u8 = 2;

// Header offsets, each derived from the previous field.
const TS_CODEC_AT: usize = 1;
const VAL_CODEC_AT: usize = TS_CODEC_AT + 1;
const PAGE_SHIFT_AT: usize = VAL_CODEC_AT + 1;
const COUNT_AT: usize = PAGE_SHIFT_AT + 1;
const FIRST_TS_AT: usize = COUNT_AT + 4;
const LAST_TS_AT: usize = FIRST_TS_AT + 8;
const MIN_AT: usize = LAST_TS_AT + 8;
const MAX_AT: usize = MIN_AT + 8;
const SUM_AT: usize = MAX_AT + 8;
const NAN_COUNT_AT: usize = SUM_AT + 8;
const TS_LEN_AT: usize = NAN_COUNT_AT + 4;
const BODY_CRC_AT: usize = TS_LEN_AT + 4;
const HEADER_CRC_AT: usize = BODY_CRC_AT + 4;
const _: () = assert!(HEADER_CRC_AT + 4 == HEADER_LEN);

/// A block that failed its checks; says what and where (offsets within the block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl CodecError {
    fn new(msg: String) -> CodecError {
        CodecError(msg)
    }
    fn short(what: &str, need: usize, have: usize) -> CodecError {
        CodecError(format!("{what} runs past the end of its section (needs {need} bytes, has {have})"))
    }
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a block's header says about its points, readable without decoding them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: u32,
    pub first_ts: i64,
    pub last_ts: i64,
    /// Smallest non-NaN value (+inf if none).
    pub min: f64,
    /// Largest non-NaN value (-inf if none).
    pub max: f64,
    /// Sum of the non-NaN values (0 if none), as [`fold`] adds them.
    pub sum: f64,
    pub nan_count: u32,
}

impl Summary {
    /// This summary followed by `next` (of later points): how a paged block's header
    /// summary is made from its pages'.
    pub fn combine(&self, next: &Summary) -> Summary {
        Summary {
            count: self.count + next.count,
            first_ts: self.first_ts,
            last_ts: next.last_ts,
            min: self.min.min(next.min),
            max: self.max.max(next.max),
            sum: self.sum + next.sum,
            nan_count: self.nan_count + next.nan_count,
        }
    }

    fn of(ts: &[i64], vals: &[f64]) -> Summary {
        let (min, max, sum, nans) = fold(vals);
        Summary {
            count: vals.len() as u32,
            first_ts: ts[0],
            last_ts: ts[ts.len() - 1],
            min,
            max,
            sum,
            nan_count: nans,
        }
    }
}

/// Min, max and sum of the non-NaN values of `vals` (the identities +inf, -inf and 0 when
/// there are none), and the number of NaNs: the summary rule, shared by block summaries
/// and aggregates. Four independent lanes, so the loop is not bound by the latency of one
/// chain of additions (the sum's rounding may differ from a sequential sum's in the last
/// bits), and branch-free: a comparison with NaN is false, so NaN is never min or max.
pub fn fold(vals: &[f64]) -> (f64, f64, f64, u32) {
    let (mut min, mut max, mut sum, mut nans) =
        ([f64::INFINITY; 4], [f64::NEG_INFINITY; 4], [0.0; 4], [0u32; 4]);
    let mut lane = |k: usize, v: f64| {
        let nan = v.is_nan();
        min[k] = if v < min[k] { v } else { min[k] };
        max[k] = if v > max[k] { v } else { max[k] };
        sum[k] += if nan { 0.0 } else { v };
        nans[k] += u32::from(nan);
    };
    let chunks = vals.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for (k, &v) in c.iter().enumerate() {
            lane(k, v);
        }
    }
    for (k, &v) in rest.iter().enumerate() {
        lane(k, v);
    }
    let m = |a: [f64; 4], f: fn(f64, f64) -> f64| f(f(a[0], a[1]), f(a[2], a[3]));
    (m(min, f64::min), m(max, f64::max), (sum[0] + sum[1]) + (sum[2] + sum[3]), nans.iter().sum())
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    pub summary: Summary,
    pub ts_codec: u8,
    /// The value coding (of the first page, in a paged block).
    pub val_codec: u8,
    /// 0, or log2 of the points per page of a paged block.
    page_shift: u8,
    ts_len: usize,
    /// Bytes of a paged block's directory and its trailer (0 if not paged).
    dir_len: usize,
}

impl Header {
    /// Bytes of the timestamp section.
    pub fn ts_len(&self) -> usize {
        self.ts_len
    }

    /// Bytes of the page directory (0 when the block is not paged).
    pub fn dir_len(&self) -> usize {
        self.dir_len
    }

    /// Whether the block is paged.
    pub fn paged(&self) -> bool {
        self.page_shift != 0
    }
}

/// Append the block of the points `(ts[i], vals[i])` to `out`, choosing the smallest value
/// coding. `ts` must be strictly ascending and as long as `vals`, with 1 ..=
/// [`MAX_BLOCK_POINTS`] points (the engine's sealed runs always are). Returns the summary
/// written into the header.
pub fn encode(ts: &[i64], vals: &[f64], out: &mut Vec<u8>) -> Summary {
    encode_with(ts, vals, None, out)
}

/// [`encode`], forcing value coding `val_codec` when given (for measurements).
pub fn encode_with(ts: &[i64], vals: &[f64], val_codec: Option<u8>, out: &mut Vec<u8>) -> Summary {
    assert!(!ts.is_empty() && ts.len() == vals.len() && ts.len() <= MAX_BLOCK_POINTS, "block shape");
    debug_assert!(ts.windows(2).all(|w| w[0] < w[1]), "timestamps strictly ascending");
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    let (s, codec, ts_len, page_shift) = if ts.len() > PAGED_ABOVE {
        let (s, codec, ts_len) = pages::encode(&[], ts, vals, val_codec, out);
        (s, codec, ts_len, PAGE_SHIFT)
    } else {
        encode_ts(ts, out);
        let ts_len = out.len() - start - HEADER_LEN;
        (Summary::of(ts, vals), encode_values_with(vals, val_codec, None, out), ts_len, 0)
    };
    finish_block(out, start, &s, codec, ts_len, page_shift);
    s
}

/// Append to `out` the block of `block`'s points followed by `(ts, vals)`, mostly without
/// re-coding `block`: the full pages of a paged block are copied as they are, and only its
/// partial last page (if any) is decoded and coded again with the new points (a block that
/// is not paged, or paged otherwise than this build pages, is decoded whole). `Ok(None)`
/// (and `out` unchanged) when `ts` does not start after `block`'s last point or the result
/// would exceed [`MAX_BLOCK_POINTS`]. `ts` must be strictly ascending, non-empty and as long
/// as `vals`. `block`'s checksums are checked first: damage is an error, never copied.
pub fn append(
    block: &[u8],
    ts: &[i64],
    vals: &[f64],
    out: &mut Vec<u8>,
) -> Result<Option<Summary>, CodecError> {
    assert!(!ts.is_empty(), "block shape");
    join(&[block], ts, vals, out).map_err(|(_, e)| e)
}

/// Append to `out` one block of the points of `blocks` in order, copying pages rather than
/// coding them again wherever it can: every page of the paged blocks in front whose pages
/// are all full, and the full pages of the first block that is not so; the points after
/// those are decoded and coded again. `Ok(None)` (and `out` unchanged) when a block does
/// not start after the one before it ends, or the result would exceed
/// [`MAX_BLOCK_POINTS`]. Every block's checksums are checked first: damage is an error
/// (with the index of the damaged block), never copied.
pub fn concat(blocks: &[&[u8]], out: &mut Vec<u8>) -> Result<Option<Summary>, (usize, CodecError)> {
    assert!(!blocks.is_empty(), "no block to concatenate");
    join(blocks, &[], &[], out)
}

/// Append to `out` the block of the first `keep` pages of paged block `block` (copied as
/// they are) followed by the run `(ts, vals)`: a block rewritten from page `keep` on, the
/// caller having decoded and changed the points after (late points merged into a large
/// block cost the pages from the first one they touch, not the block). `Ok(None)` (and
/// `out` unchanged) when `block` is not paged as this build pages, `keep` is not below its
/// page count, `ts` does not start after page `keep - 1`, or the result would exceed
/// [`MAX_BLOCK_POINTS`]. `ts` must be strictly ascending, non-empty and as long as `vals`.
pub fn splice(
    block: &[u8],
    keep: usize,
    ts: &[i64],
    vals: &[f64],
    out: &mut Vec<u8>,
) -> Result<Option<Summary>, CodecError> {
    assert!(!ts.is_empty() && ts.len() == vals.len(), "block shape");
    debug_assert!(ts.windows(2).all(|w| w[0] < w[1]), "timestamps strictly ascending");
    let h = header(block)?;
    if !(h.paged() && h.page_shift == PAGE_SHIFT) || keep == 0 {
        return Ok(None);
    }
    check_body(block)?;
    let mut pages = Vec::new();
    pages::directory(&h, block, true, &mut pages)?;
    // Only a block's last page may be short: the pages before `keep < len` are full.
    if keep >= pages.len() || ts[0] <= pages[keep - 1].summary.last_ts || keep * PAGE_POINTS + ts.len() > MAX_BLOCK_POINTS
    {
        return Ok(None);
    }
    pages.truncate(keep);
    Ok(Some(encode_after(&[pages::Prefix { block, h: &h, pages: &pages }], ts, vals, out)))
}

/// [`concat`] of `blocks` followed by the run `(ts, vals)` (strictly ascending, as long as
/// `vals`, possibly empty; `blocks` and `ts` not both empty).
fn join(
    blocks: &[&[u8]],
    ts: &[i64],
    vals: &[f64],
    out: &mut Vec<u8>,
) -> Result<Option<Summary>, (usize, CodecError)> {
    assert_eq!(ts.len(), vals.len(), "block shape");
    debug_assert!(ts.windows(2).all(|w| w[0] < w[1]), "timestamps strictly ascending");
    let mut heads = Vec::with_capacity(blocks.len());
    let (mut n, mut prev_last) = (ts.len(), None::<i64>);
    for (i, b) in blocks.iter().enumerate() {
        let h = header(b).map_err(|e| (i, e))?;
        if prev_last.is_some_and(|l| h.summary.first_ts <= l) {
            return Ok(None);
        }
        prev_last = Some(h.summary.last_ts);
        n += h.summary.count as usize;
        heads.push(h);
    }
    if ts.first().is_some_and(|&t| prev_last.is_some_and(|l| t <= l)) || n > MAX_BLOCK_POINTS {
        return Ok(None);
    }
    for (i, b) in blocks.iter().enumerate() {
        check_body(b).map_err(|e| (i, e))?;
    }
    // The pages copied: those of the blocks in front made of full pages only, then the full
    // pages of the next block. From there on points are decoded and coded again.
    let mut dirs: Vec<Vec<Page>> = Vec::with_capacity(blocks.len());
    let (mut redo, mut partial) = (blocks.len(), Vec::new());
    for (i, (b, h)) in blocks.iter().zip(&heads).enumerate() {
        let mut pages = Vec::new();
        if h.paged() && h.page_shift == PAGE_SHIFT {
            pages::directory(h, b, true, &mut pages).map_err(|e| (i, e))?;
        }
        let full = pages.iter().take_while(|p| p.summary.count as usize == PAGE_POINTS).count();
        let whole = full > 0 && full == pages.len();
        partial = pages.split_off(full);
        dirs.push(pages);
        if !whole {
            redo = i;
            break;
        }
    }
    let (mut all_ts, mut all_vals) = (Vec::new(), Vec::new());
    for (i, (b, h)) in blocks.iter().zip(&heads).enumerate().skip(redo) {
        let at = all_ts.len();
        let copied = dirs.get(i).map_or(0, |d| d.len() * PAGE_POINTS);
        all_ts.resize(at + h.summary.count as usize - copied, 0);
        all_vals.resize(all_ts.len(), 0.0);
        let (t, v) = (&mut all_ts[at..], &mut all_vals[at..]);
        if copied == 0 {
            decode_checked(h, b, t, v).map_err(|e| (i, e))?;
        } else {
            // Only a block's last page may be short: `partial` is that one page.
            for page in &partial {
                let r = page.start - copied..page.start - copied + page.summary.count as usize;
                pages::decode_page(b, page, false, &mut t[r.clone()], &mut v[r]).map_err(|e| (i, e))?;
            }
        }
    }
    let (ts, vals) = if all_ts.is_empty() {
        (ts, vals)
    } else {
        all_ts.extend_from_slice(ts);
        all_vals.extend_from_slice(vals);
        (&all_ts[..], &all_vals[..])
    };
    let prefix: Vec<pages::Prefix<'_>> = blocks
        .iter()
        .zip(&heads)
        .zip(&dirs)
        .filter(|(_, d)| !d.is_empty())
        .map(|((block, h), pages)| pages::Prefix { block, h, pages })
        .collect();
    if prefix.is_empty() {
        return Ok(Some(encode(ts, vals, out)));
    }
    Ok(Some(encode_after(&prefix, ts, vals, out)))
}

/// Append to `out` the paged block of the pages of `prefix` (copied) followed by the run
/// `(ts, vals)` (see `pages::encode`); returns its summary.
fn encode_after(prefix: &[pages::Prefix<'_>], ts: &[i64], vals: &[f64], out: &mut Vec<u8>) -> Summary {
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    let (s, codec, ts_len) = pages::encode(prefix, ts, vals, None, out);
    finish_block(out, start, &s, codec, ts_len, PAGE_SHIFT);
    s
}

/// Fill in the header reserved at `out[start..]` of the block whose body follows it.
fn finish_block(out: &mut [u8], start: usize, s: &Summary, codec: u8, ts_len: usize, page_shift: u8) {
    let h = &mut out[start..start + HEADER_LEN];
    h[0] = FORMAT_VERSION;
    h[TS_CODEC_AT] = TIME_FRAMES;
    h[VAL_CODEC_AT] = codec;
    h[PAGE_SHIFT_AT] = page_shift;
    h[COUNT_AT..][..4].copy_from_slice(&s.count.to_le_bytes());
    h[FIRST_TS_AT..][..8].copy_from_slice(&s.first_ts.to_le_bytes());
    h[LAST_TS_AT..][..8].copy_from_slice(&s.last_ts.to_le_bytes());
    h[MIN_AT..][..8].copy_from_slice(&s.min.to_bits().to_le_bytes());
    h[MAX_AT..][..8].copy_from_slice(&s.max.to_bits().to_le_bytes());
    h[SUM_AT..][..8].copy_from_slice(&s.sum.to_bits().to_le_bytes());
    h[NAN_COUNT_AT..][..4].copy_from_slice(&s.nan_count.to_le_bytes());
    h[TS_LEN_AT..][..4].copy_from_slice(&(ts_len as u32).to_le_bytes());
    let body_crc = crc32fast::hash(&out[start + HEADER_LEN..]);
    let h = &mut out[start..start + HEADER_LEN];
    h[BODY_CRC_AT..][..4].copy_from_slice(&body_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&h[..HEADER_CRC_AT]);
    h[HEADER_CRC_AT..][..4].copy_from_slice(&header_crc.to_le_bytes());
}

/// Append `vals` in coding `force` when given (raw if they do not fit it), else in the
/// smallest ([`encode_values`]); returns the coding used. `hint`: a decimal exponent to
/// start from.
fn encode_values_with(vals: &[f64], force: Option<u8>, hint: Option<usize>, out: &mut Vec<u8>) -> u8 {
    match force {
        Some(c) => {
            let ok = match c {
                VAL_DECIMAL => decimal::encode(vals, hint, out),
                VAL_XOR => {
                    encode_xor(vals, out);
                    true
                }
                _ => false,
            };
            if ok { c } else { encode_raw(vals, out) }
        }
        None => encode_values(vals, hint, out),
    }
}

/// Values: decimal unless XOR is at least a fifth smaller (XOR decodes about 5x slower),
/// and raw when neither beats 8 bytes a value. XOR is only tried when decimal fails or
/// takes more than 2 bytes a value (to win it would need under 1.6).
fn encode_values(vals: &[f64], hint: Option<usize>, out: &mut Vec<u8>) -> u8 {
    let at = out.len();
    let raw = 8 * vals.len();
    let decimal = if decimal::encode(vals, hint, out) { out.len() - at } else { usize::MAX };
    if decimal <= 2 * vals.len() {
        return VAL_DECIMAL;
    }
    let decimal_block = out.split_off(at);
    encode_xor(vals, out);
    let xor = out.len() - at;
    if xor < raw && (xor as u128) * 5 < (decimal as u128) * 4 {
        return VAL_XOR;
    }
    out.truncate(at);
    if decimal < raw {
        out.extend_from_slice(&decimal_block);
        return VAL_DECIMAL;
    }
    encode_raw(vals, out)
}

/// Run `f` on `n` zeroed integers of scratch: on the stack for up to [`STACK_INTS`] (a head
/// run's columns, coded a million times a scrape, allocated three buffers a run before),
/// else on the heap.
fn with_i64s<R>(n: usize, f: impl FnOnce(&mut [i64]) -> R) -> R {
    if n <= STACK_INTS {
        let mut a = [0i64; STACK_INTS];
        f(&mut a[..n])
    } else {
        f(&mut vec![0; n])
    }
}

/// See [`with_i64s`].
const STACK_INTS: usize = 64;

fn encode_xor(vals: &[f64], out: &mut Vec<u8>) {
    let mut w = gorilla::BitWriter::default();
    gorilla::encode_values(vals, &mut w);
    out.extend_from_slice(&w.finish());
}

fn encode_raw(vals: &[f64], out: &mut Vec<u8>) -> u8 {
    for v in vals {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    VAL_RAW
}

fn encode_ts(ts: &[i64], out: &mut Vec<u8>) {
    // Deltas as u64 (ascending, so they fit), wrapped into i64 for the frame coder.
    let deltas: Vec<i64> = ts.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    frames::encode(&deltas, out);
}

/// Read and check a block's header (its crc, version, codecs, lengths, and that its summary's
/// NaN count and time range fit its point count), without touching the points: this is what
/// summary-only reads use.
pub fn header(block: &[u8]) -> Result<Header, CodecError> {
    let h =
        block.get(..HEADER_LEN).ok_or_else(|| CodecError::short("block header", HEADER_LEN, block.len()))?;
    let want = u32_at(h, HEADER_CRC_AT);
    let got = crc32fast::hash(&h[..HEADER_CRC_AT]);
    if want != got {
        return Err(CodecError::new(format!(
            "header checksum mismatch (stored {want:#010x}, computed {got:#010x})"
        )));
    }
    if h[0] != FORMAT_VERSION && h[0] != 1 {
        return Err(CodecError::new(format!(
            "unknown block format version {} (this build reads 1 and {FORMAT_VERSION})",
            h[0]
        )));
    }
    let (ts_codec, val_codec) = (h[TS_CODEC_AT], h[VAL_CODEC_AT]);
    if ts_codec != TIME_FRAMES || val_codec > VAL_XOR {
        return Err(CodecError::new(format!("unknown codec (timestamps {ts_codec}, values {val_codec})")));
    }
    let count = u32_at(h, COUNT_AT);
    if count == 0 || count as usize > MAX_BLOCK_POINTS {
        return Err(CodecError::new(format!("point count {count} out of range 1..={MAX_BLOCK_POINTS}")));
    }
    let ts_len = u32_at(h, TS_LEN_AT) as usize;
    if ts_len > block.len() - HEADER_LEN {
        return Err(CodecError::short("timestamp section", ts_len, block.len() - HEADER_LEN));
    }
    let page_shift = h[PAGE_SHIFT_AT];
    let dir_len = match page_shift {
        0 => 0,
        s if h[0] != 1 && PAGE_SHIFTS.contains(&s) && count as usize > 1 << s => {
            pages::dir_len(block, ts_len)?
        }
        s => return Err(CodecError::new(format!("page shift {s} for {count} points (format {})", h[0]))),
    };
    // The summary is read without the points (aggregates fold it as it is), so its counts
    // and time range must be possible ones: at most `count` NaNs, and `count` strictly
    // ascending timestamps span at least `count - 1`.
    let nan_count = u32_at(h, NAN_COUNT_AT);
    if nan_count > count {
        return Err(CodecError::new(format!("NaN count {nan_count} exceeds the point count {count}")));
    }
    let (first_ts, last_ts) = (u64_at(h, FIRST_TS_AT) as i64, u64_at(h, LAST_TS_AT) as i64);
    if i128::from(last_ts) - i128::from(first_ts) < i128::from(count) - 1 {
        return Err(CodecError::new(format!(
            "time range {first_ts}..={last_ts} cannot hold {count} points with distinct timestamps"
        )));
    }
    let f = |at| f64::from_bits(u64_at(h, at));
    let summary =
        Summary { count, first_ts, last_ts, min: f(MIN_AT), max: f(MAX_AT), sum: f(SUM_AT), nan_count };
    Ok(Header { summary, ts_codec, val_codec, page_shift, ts_len, dir_len })
}

/// Decode a whole block, appending its points to `ts` and `vals`; checks both checksums.
/// On error `ts` and `vals` are left as they were.
pub fn decode(block: &[u8], ts: &mut Vec<i64>, vals: &mut Vec<f64>) -> Result<Summary, CodecError> {
    let h = header(block)?;
    let n = h.summary.count as usize;
    let (ts_start, vals_start) = (ts.len(), vals.len());
    ts.resize(ts_start + n, 0);
    vals.resize(vals_start + n, 0.0);
    let result = decode_checked(&h, block, &mut ts[ts_start..], &mut vals[vals_start..]);
    if result.is_err() {
        ts.truncate(ts_start);
        vals.truncate(vals_start);
    }
    result.map(|()| h.summary)
}

/// Check a block's header and both checksums without decoding its points.
pub fn verify(block: &[u8]) -> Result<Summary, CodecError> {
    let h = header(block)?;
    check_body(block)?;
    Ok(h.summary)
}

/// Check the body checksum of a block whose header was checked.
fn check_body(block: &[u8]) -> Result<(), CodecError> {
    let (want, got) = (u32_at(block, BODY_CRC_AT), crc32fast::hash(&block[HEADER_LEN..]));
    if want != got {
        return Err(CodecError::new(format!(
            "body checksum mismatch (stored {want:#010x}, computed {got:#010x})"
        )));
    }
    Ok(())
}

/// Decode a whole block into `ts` and `vals`, which must hold exactly its point count
/// (from [`header`]); checks both checksums. On error the slices hold garbage.
pub fn decode_into(block: &[u8], ts: &mut [i64], vals: &mut [f64]) -> Result<Summary, CodecError> {
    let h = header(block)?;
    let n = h.summary.count as usize;
    if ts.len() != n || vals.len() != n {
        return Err(CodecError::new(format!("buffers of {} and {} for {n} points", ts.len(), vals.len())));
    }
    decode_checked(&h, block, ts, vals).map(|()| h.summary)
}

fn decode_checked(h: &Header, block: &[u8], ts: &mut [i64], vals: &mut [f64]) -> Result<(), CodecError> {
    check_body(block)?;
    if h.paged() {
        // The body's checksum covers every page: the pages' own are not needed.
        let mut dir = Vec::new();
        pages::directory(h, block, false, &mut dir)?;
        for page in dir {
            let r = page.start..page.start + page.summary.count as usize;
            pages::decode_page(block, &page, false, &mut ts[r.clone()], &mut vals[r])?;
        }
        return Ok(());
    }
    let (ts_sec, val_sec) = block[HEADER_LEN..].split_at(h.ts_len);
    // Values first: the decimal coding uses `ts` as scratch for its integers.
    decode_values(h.val_codec, val_sec, ts, vals)?;
    decode_ts(ts_sec, h.summary.first_ts, ts)?;
    if ts.last() != Some(&h.summary.last_ts) {
        return Err(CodecError::new("decoded timestamps do not end at the header's last_ts".into()));
    }
    Ok(())
}

/// The pages of a paged block (checking its header and directory, not the pages' bytes);
/// `None` when the block is not paged.
pub fn pages(block: &[u8]) -> Result<Option<Vec<Page>>, CodecError> {
    let mut pages = Vec::new();
    Ok(pages_into(block, &mut pages)?.then_some(pages))
}

/// [`pages`] into `pages` (cleared first, reused by callers reading many blocks); false
/// (and `pages` empty) when the block is not paged.
pub fn pages_into(block: &[u8], pages: &mut Vec<Page>) -> Result<bool, CodecError> {
    pages.clear();
    let h = header(block)?;
    if !h.paged() {
        return Ok(false);
    }
    pages::directory(&h, block, true, pages).map(|()| true)
}

/// Decode page `page` (from [`pages`] of the same block) into `ts` and `vals`, which must
/// hold exactly its point count; checks the page's checksum. On error they hold garbage.
pub fn decode_page(block: &[u8], page: &Page, ts: &mut [i64], vals: &mut [f64]) -> Result<(), CodecError> {
    let n = page.summary.count as usize;
    if ts.len() != n || vals.len() != n {
        return Err(CodecError::new(format!("buffers of {} and {} for {n} points", ts.len(), vals.len())));
    }
    pages::decode_page(block, page, true, ts, vals)
}

/// Check that the summaries a decoded block stores (its header's, and its pages' when
/// paged) are those of its points `ts` and `vals`; says which one differs.
pub fn check_summaries(block: &[u8], ts: &[i64], vals: &[f64]) -> Result<(), CodecError> {
    let h = header(block)?;
    // Sums may differ in rounding: blocks of format 1 (and blocks written before sums
    // were folded in lanes) added in timestamp order.
    let scale: f64 = vals.iter().filter(|v| !v.is_nan()).map(|v| v.abs()).sum();
    let same = |a: &Summary, b: &Summary| {
        let f = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()) || x == y;
        let close = |x: f64, y: f64| f(x, y) || (x - y).abs() <= 1e-9 * scale || !scale.is_finite();
        (a.count, a.first_ts, a.last_ts, a.nan_count) == (b.count, b.first_ts, b.last_ts, b.nan_count)
            && f(a.min, b.min)
            && f(a.max, b.max)
            && close(a.sum, b.sum)
    };
    let computed = if h.paged() {
        let mut total: Option<Summary> = None;
        let mut dir = Vec::new();
        pages::directory(&h, block, true, &mut dir)?;
        for page in dir {
            let r = page.start..page.start + page.summary.count as usize;
            let s = Summary::of(&ts[r.clone()], &vals[r]);
            if !same(&s, &page.summary) {
                return Err(CodecError::new(format!(
                    "the summary of the page at point {} ({:?}) does not match its points ({s:?})",
                    page.start, page.summary
                )));
            }
            total = Some(total.map_or(s, |t| t.combine(&s)));
        }
        total.expect("a paged block has pages")
    } else {
        Summary::of(ts, vals)
    };
    if !same(&computed, &h.summary) {
        return Err(CodecError::new(format!(
            "the block's summary ({:?}) does not match its points ({computed:?})",
            h.summary
        )));
    }
    Ok(())
}

/// Decode `vals.len()` values coded by `codec` from all of `src`, using `scratch` (as long
/// as `vals`) as room for the decimal coding's integers.
fn decode_values(codec: u8, src: &[u8], scratch: &mut [i64], vals: &mut [f64]) -> Result<(), CodecError> {
    let n = vals.len();
    match codec {
        VAL_RAW => {
            if src.len() != 8 * n {
                return Err(CodecError::new(format!("raw values: {} bytes for {n} points", src.len())));
            }
            for (v, c) in vals.iter_mut().zip(src.chunks_exact(8)) {
                *v = f64::from_bits(u64_at(c, 0));
            }
            Ok(())
        }
        VAL_DECIMAL => decimal::decode(src, scratch, vals),
        VAL_XOR => gorilla::decode_values_into(&mut gorilla::BitReader::new(src), vals),
        c => Err(CodecError::new(format!("unknown value codec {c}"))),
    }
}

/// Decode the timestamps into all of `dst` (at least one).
fn decode_ts(src: &[u8], first: i64, dst: &mut [i64]) -> Result<(), CodecError> {
    let mut at = 0;
    frames::decode(src, &mut at, &mut dst[1..])?;
    if at != src.len() {
        return Err(CodecError::new(format!("timestamp section has {} trailing bytes", src.len() - at)));
    }
    // The deltas become timestamps in place; each must keep the run strictly ascending.
    // With wrapping addition, `t > prev` fails exactly when the delta is 0 or the true sum
    // passes i64::MAX (it then wraps below `prev`): one branch-free test per point.
    let mut prev = first;
    let mut ascending = true;
    dst[0] = first;
    for slot in &mut dst[1..] {
        let t = prev.wrapping_add(*slot);
        ascending &= t > prev;
        *slot = t;
        prev = t;
    }
    if !ascending {
        return Err(CodecError::new(
            "timestamp deltas break strict ascent (a zero delta or an overflow)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
