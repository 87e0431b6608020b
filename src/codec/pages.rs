//! Paged blocks (format version 2): a block of more than [`super::PAGED_ABOVE`] points is cut into
//! pages of that many (the last may be shorter), each coded on its own (its timestamps from
//! its own first one, its values with their own coding) and summarised in a directory at the
//! end of the block. A reader can then fold whole pages from their summaries and decode only
//! the pages it needs: a bucket edge inside a block costs one page, not the block.
//!
//! ```text
//! body: │ timestamp pages │ value pages │ directory │ dir_crc u32 │ dir_len u32 │
//! directory: nine integer columns of one entry per page, each through the frame coder:
//!   ts_off, ts_len, val_off, val_len, val_codec, first_ts - block first_ts,
//!   last_ts - first_ts, nan_count, crc
//! then three value columns, min[0..n], max[0..n] and sum[0..n], each
//!   │ codec u8 │ bytes varint │ values as a block codes them │
//! ```
//!
//! Offsets are relative to their section. A page whose coded bytes equal the page before
//! it (constant values, regular timestamps) points at the same bytes instead of repeating
//! them. A page's `crc` covers its timestamp bytes then its value bytes, so a page is
//! checked without reading the rest of the block; `dir_crc` covers the directory. The
//! block's header summary is the pages' summaries folded in order ([`Summary::combine`]).
use super::bitpack::{get_varint, put_varint};
use super::{
    CodecError, HEADER_LEN, Header, PAGE_POINTS, Summary, VAL_XOR, decimal, decode_ts, decode_values,
    encode_values_with, frames, u32_at,
};

/// Integer columns of the directory.
const COLS: usize = 9;
/// Bytes after the directory: its crc and its length.
const TRAILER: usize = 8;

/// One page of a paged block, as its directory describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Page {
    pub summary: Summary,
    /// Index of the page's first point in the block.
    pub start: usize,
    pub(super) ts: (usize, usize),
    vals: (usize, usize),
    codec: u8,
    crc: u32,
}

/// Pages already coded that a new block starts with: full pages of a paged block (checked,
/// with its directory read), whose bytes are copied as they are.
pub(super) struct Prefix<'a> {
    pub block: &'a [u8],
    pub h: &'a Header,
    pub pages: &'a [Page],
}

/// Append the body of a paged block at the end of `out`, whose header is already reserved:
/// the pages of each of `prefix` in order, then `ts` and `vals` cut into pages (together
/// more than [`super::PAGED_ABOVE`] points; every prefix page is full, each prefix starts
/// after the one before ends, and `ts` after the last). Returns the block's summary, the
/// first page's value coding and the timestamp section's length.
pub(super) fn encode(
    prefix: &[Prefix<'_>],
    ts: &[i64],
    vals: &[f64],
    force: Option<u8>,
    out: &mut Vec<u8>,
) -> (Summary, u8, usize) {
    let old = || prefix.iter().flat_map(|p| p.pages.iter());
    let n_pages = old().count() + ts.len().div_ceil(PAGE_POINTS);
    debug_assert!(n_pages >= 2 && old().all(|p| p.summary.count as usize == PAGE_POINTS));
    debug_assert!(prefix.iter().all(|p| p.pages.iter().enumerate().all(|(i, p)| p.start == i * PAGE_POINTS)));
    let pages =
        || (0..ts.len().div_ceil(PAGE_POINTS)).map(|p| p * PAGE_POINTS..ts.len().min((p + 1) * PAGE_POINTS));
    let block_first = old().next().map_or_else(|| ts[0], |p| p.summary.first_ts);
    let mut cols: [Vec<i64>; COLS] = std::array::from_fn(|_| Vec::with_capacity(n_pages));
    let body = out.len();
    // Timestamps, then values, each section starting with the prefix's bytes: each new page
    // appended, or pointed at its twin before it.
    let mut last = 0..0;
    for p in prefix {
        let [offs, lens, ..] = &mut cols;
        last = copy_section(p.block, HEADER_LEN, body, p.pages.iter().map(|page| page.ts), out, offs, lens);
    }
    // A page's timestamp section is its own deltas (as `encode_ts` of the page writes).
    let deltas: Vec<i64> = ts.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    for r in pages() {
        let at = out.len();
        frames::encode(&deltas[r.start..r.end - 1], out);
        let (off, len) = dedup(out, at, &mut last);
        cols[0].push((off - body) as i64);
        cols[1].push(len as i64);
    }
    let vals_at = out.len();
    let mut last = 0..0;
    for p in prefix {
        let [_, _, offs, lens, codecs, ..] = &mut cols;
        let first = HEADER_LEN + p.h.ts_len;
        last = copy_section(p.block, first, vals_at, p.pages.iter().map(|page| page.vals), out, offs, lens);
        codecs.extend(p.pages.iter().map(|page| i64::from(page.codec)));
    }
    let hint = decimal::exponent(vals);
    for r in pages() {
        let at = out.len();
        let codec = encode_values_with(&vals[r], force, hint, out);
        let (off, len) = dedup(out, at, &mut last);
        cols[2].push((off - vals_at) as i64);
        cols[3].push(len as i64);
        cols[4].push(i64::from(codec));
    }
    // Each new page's crc covers its timestamp bytes then its value bytes.
    let crcs: Vec<u32> = (n_pages - ts.len().div_ceil(PAGE_POINTS)..n_pages)
        .map(|p| {
            let (t, v) = (cols[0][p] as usize + body, cols[2][p] as usize + vals_at);
            let mut crc = crc32fast::Hasher::new();
            crc.update(&out[t..t + cols[1][p] as usize]);
            crc.update(&out[v..v + cols[3][p] as usize]);
            crc.finalize()
        })
        .collect();
    let summaries = old()
        .map(|page| (page.summary, page.crc))
        .chain(pages().zip(crcs).map(|(r, crc)| (Summary::of(&ts[r.clone()], &vals[r]), crc)));
    let mut floats: [Vec<f64>; 3] = std::array::from_fn(|_| Vec::with_capacity(n_pages));
    let mut total: Option<Summary> = None;
    for (s, crc) in summaries {
        cols[5].push(s.first_ts.wrapping_sub(block_first));
        cols[6].push(s.last_ts.wrapping_sub(s.first_ts));
        cols[7].push(i64::from(s.nan_count));
        cols[8].push(i64::from(crc));
        floats[0].push(s.min);
        floats[1].push(s.max);
        floats[2].push(s.sum);
        total = Some(total.map_or(s, |t| t.combine(&s)));
    }
    let dir = out.len();
    for col in &cols {
        frames::encode(col, out);
    }
    let mut col = Vec::new();
    for (i, f) in floats.iter().enumerate() {
        col.clear();
        // Mins and maxes are values of the block: its decimal exponent fits them. Sums of
        // decimals are rarely short decimals (rounding), and an aggregate reads every sum
        // of each directory it parses: XOR only when it halves them (repeated sums), else
        // raw, read at memory speed (as XOR they cost 5% of a 1,000-bucket query).
        let mut codec = encode_values_with(f, (i == 2).then_some(super::VAL_XOR), hint, &mut col);
        if i == 2 && 2 * col.len() >= 8 * f.len() {
            col.clear();
            codec = encode_values_with(f, Some(super::VAL_RAW), None, &mut col);
        }
        out.push(codec);
        put_varint(col.len() as u64, out);
        out.extend_from_slice(&col);
    }
    let dir_crc = crc32fast::hash(&out[dir..]);
    let dir_len = (out.len() - dir) as u32;
    out.extend_from_slice(&dir_crc.to_le_bytes());
    out.extend_from_slice(&dir_len.to_le_bytes());
    (total.expect("two pages or more"), cols[4][0] as u8, vals_at - body)
}

/// Copy onto the end of `out`, in the new section that starts at `out[section..]`, the
/// bytes of `block`'s section starting at `first` that the prefix pages (`(offset, length)`
/// in `block`) use, up to the end of the last of them (a dropped partial page's bytes are
/// left out); push each page's offset in the new section and its length. Returns where the
/// last page's bytes now are.
fn copy_section(
    block: &[u8],
    first: usize,
    section: usize,
    pages: impl Iterator<Item = (usize, usize)> + Clone,
    out: &mut Vec<u8>,
    offs: &mut Vec<i64>,
    lens: &mut Vec<i64>,
) -> std::ops::Range<usize> {
    let base = out.len();
    let end = pages.clone().map(|(off, len)| off + len).max().unwrap_or(first);
    out.extend_from_slice(&block[first..end]);
    let mut last = 0..0;
    for (off, len) in pages {
        offs.push((base - section + off - first) as i64);
        lens.push(len as i64);
        last = base + off - first..base + off - first + len;
    }
    last
}

/// The page just appended at `out[at..]`: kept, or dropped when it repeats the bytes of
/// `last` (the previous page kept). Returns where its bytes are and how many.
fn dedup(out: &mut Vec<u8>, at: usize, last: &mut std::ops::Range<usize>) -> (usize, usize) {
    let len = out.len() - at;
    if out[at..] == out[last.clone()] {
        out.truncate(at);
        return (last.start, len);
    }
    *last = at..at + len;
    (at, len)
}

/// Bytes of the directory and its trailer at the end of a paged block, checked to fit
/// in the body after `ts_len` bytes of timestamps.
pub(super) fn dir_len(block: &[u8], ts_len: usize) -> Result<usize, CodecError> {
    let body = block.len() - HEADER_LEN;
    if body < ts_len + TRAILER {
        return Err(CodecError::short("page directory", ts_len + TRAILER, body));
    }
    let len = u32_at(block, block.len() - 4) as usize;
    if len > body - ts_len - TRAILER {
        return Err(CodecError::short("page directory", len + TRAILER, body - ts_len));
    }
    Ok(len + TRAILER)
}

/// Directories of up to this many pages are parsed in stack buffers.
const STACK_PAGES: usize = 16;

/// Integer columns a whole-block decode needs: where each page is, its coding, its time
/// range. The rest (NaN counts, crcs, min/max/sum) are summaries.
const LAYOUT_COLS: usize = 7;

/// Read and check the directory of paged block `block` (header `h`, already checked) into
/// `pages` (cleared first): its crc, and that every page lies in its section and in the
/// block's time range, in order. The pages' own bytes are not read. Without `summaries`
/// (a whole-block decode, whose body crc was checked) only the layout columns are read:
/// the pages' NaN counts, crcs, min, max and sum are left 0.
pub(super) fn directory(
    h: &Header,
    block: &[u8],
    summaries: bool,
    pages: &mut Vec<Page>,
) -> Result<(), CodecError> {
    pages.clear();
    let n = h.summary.count as usize;
    let page_points = 1usize << h.page_shift;
    let n_pages = n.div_ceil(page_points);
    let end = block.len() - TRAILER;
    let dir = &block[end - (h.dir_len - TRAILER)..end];
    if summaries {
        let (want, got) = (u32_at(block, end), crc32fast::hash(dir));
        if want != got {
            return Err(CodecError::new(format!(
                "page directory checksum mismatch (stored {want:#010x}, computed {got:#010x})"
            )));
        }
    }
    // The columns, then room for the value columns' integers, and the value columns: on
    // the stack unless the block has many pages (a query parses one directory per block).
    let (mut stack_ints, mut stack_floats) = ([0i64; (COLS + 1) * STACK_PAGES], [0f64; 3 * STACK_PAGES]);
    let (mut heap_ints, mut heap_floats) = (Vec::new(), Vec::new());
    let (ints, floats) = if n_pages <= STACK_PAGES {
        (&mut stack_ints[..(COLS + 1) * n_pages], &mut stack_floats[..3 * n_pages])
    } else {
        heap_ints.resize((COLS + 1) * n_pages, 0);
        heap_floats.resize(3 * n_pages, 0.0);
        (&mut heap_ints[..], &mut heap_floats[..])
    };
    let (cols, scratch) = ints.split_at_mut(COLS * n_pages);
    let mut at = 0;
    let read = if summaries { COLS } else { LAYOUT_COLS };
    for col in cols.chunks_exact_mut(n_pages).take(read) {
        frames::decode(dir, &mut at, col)?;
    }
    for f in floats.chunks_exact_mut(n_pages).take(if summaries { 3 } else { 0 }) {
        let codec = *dir.get(at).ok_or_else(|| CodecError::short("page summaries", at + 1, dir.len()))?;
        at += 1;
        let len = get_varint(dir, &mut at)?;
        let src = dir
            .get(at..)
            .and_then(|d| d.get(..usize::try_from(len).ok()?))
            .ok_or_else(|| CodecError::short("page summaries", len as usize, dir.len() - at))?;
        decode_values(codec, src, scratch, f)?;
        at += src.len();
    }
    if summaries && at != dir.len() {
        return Err(CodecError::new(format!("page directory has {} trailing bytes", dir.len() - at)));
    }
    let col = |c: usize, p: usize| cols[c * n_pages + p];
    let ts_sec = HEADER_LEN..HEADER_LEN + h.ts_len;
    let val_sec = ts_sec.end..end - dir.len();
    let within = |sec: &std::ops::Range<usize>, off: i64, len: i64, what: &str| {
        let (off, len) = (off as u64, len as u64);
        match off.checked_add(len) {
            Some(e) if e <= (sec.end - sec.start) as u64 => Ok((sec.start + off as usize, len as usize)),
            _ => Err(CodecError::new(format!("page {what} at {off}+{len} outside its section"))),
        }
    };
    pages.reserve(n_pages);
    let mut prev_last = None::<i64>;
    for p in 0..n_pages {
        let start = p * page_points;
        let count = page_points.min(n - start);
        let first_ts = h.summary.first_ts.wrapping_add(col(5, p));
        let span = col(6, p);
        let nan_count = col(7, p);
        let codec = col(4, p);
        if (p == 0 && col(5, p) != 0) || prev_last.is_some_and(|l| first_ts <= l) {
            return Err(CodecError::new(format!("page {p} starts at {first_ts}, out of order")));
        }
        // The span is unsigned (a page may span more than i64::MAX); strictly ascending:
        // one point spans 0, more span at least 1.
        let last_ts = i64::try_from(i128::from(first_ts) + i128::from(span as u64))
            .ok()
            .filter(|_| (count == 1) == (span == 0));
        let Some(last_ts) = last_ts else {
            return Err(CodecError::new(format!("page {p} spans {} for {count} points", span as u64)));
        };
        if !(0..=count as i64).contains(&nan_count) || !(0..=i64::from(VAL_XOR)).contains(&codec) {
            return Err(CodecError::new(format!(
                "page {p}: {nan_count} NaN of {count}, value codec {codec}"
            )));
        }
        prev_last = Some(last_ts);
        pages.push(Page {
            summary: Summary {
                count: count as u32,
                first_ts,
                last_ts,
                min: floats[p],
                max: floats[n_pages + p],
                sum: floats[2 * n_pages + p],
                nan_count: nan_count as u32,
            },
            start,
            ts: within(&ts_sec, col(0, p), col(1, p), "timestamps")?,
            vals: within(&val_sec, col(2, p), col(3, p), "values")?,
            codec: codec as u8,
            crc: col(8, p) as u32,
        });
    }
    if prev_last != Some(h.summary.last_ts) {
        return Err(CodecError::new("the last page does not end at the header's last_ts".into()));
    }
    Ok(())
}

/// Decode page `page` of `block` into `ts` and `vals` (exactly its point count long),
/// checking the page's crc first when `check` (a whole-block decode checks the body's).
pub(super) fn decode_page(
    block: &[u8],
    page: &Page,
    check: bool,
    ts: &mut [i64],
    vals: &mut [f64],
) -> Result<(), CodecError> {
    let ts_src = &block[page.ts.0..page.ts.0 + page.ts.1];
    let val_src = &block[page.vals.0..page.vals.0 + page.vals.1];
    if check {
        let mut crc = crc32fast::Hasher::new();
        crc.update(ts_src);
        crc.update(val_src);
        let got = crc.finalize();
        if got != page.crc {
            return Err(CodecError::new(format!(
                "page at point {} checksum mismatch (stored {:#010x}, computed {got:#010x})",
                page.start, page.crc
            )));
        }
    }
    // Values first: the decimal coding uses `ts` as scratch for its integers.
    decode_values(page.codec, val_src, ts, vals)?;
    decode_ts(ts_src, page.summary.first_ts, ts)?;
    if ts.last() != Some(&page.summary.last_ts) {
        return Err(CodecError::new(format!("page at point {} does not end at its last_ts", page.start)));
    }
    Ok(())
}
