//! Reading the log back at open: first check all of it, then apply it.
//!
//! [`scan`] reads every segment without changing anything and checks the rules of
//! docs/format.md: the segments the log needs are all there and numbered without a gap;
//! each has a valid header and, from format 2 on, exactly the length its header records; every
//! record passes its checks; sequence numbers run without a gap from at most one past the
//! checkpoint's; a segment that names a next one is followed by it. The only damage
//! forgiven is a torn end of the log: a bad record in the last segment with records, with
//! nothing valid after it anywhere. [`Recovery::apply`] then hands the records after the
//! checkpoint to the caller, and [`super::Wal::open`] makes what repairs there are (deleting
//! segments nothing needs, clearing a torn end) only after both succeeded.
use std::path::{Path, PathBuf};

use super::record::{self, END_RECORD, NEXT, Replayed};
use super::{EXT, FORMAT, FORMAT_1, FORMAT_2, HEADER_LEN, MAGIC, PAGE};
use crate::storage::{LogStart, check_file_header, file_name, io_err, numbered_files};
use crate::sys::{self, ReadMap};
use crate::{Error, Result};

/// What [`scan`] found: the segments the log is made of, and what to repair.
pub struct Recovery {
    pub(super) dir: PathBuf,
    /// The log's segments, in order.
    pub(super) chain: Vec<Segment>,
    /// Which of them the log goes on in (`None`: a new segment).
    pub(super) current: Option<usize>,
    /// Segment files nothing needs: before where the manifest says the log starts, or
    /// after the last one in use (left by a rotation that a crash interrupted).
    pub(super) leftovers: Vec<PathBuf>,
    /// The number a new segment gets: above every file there.
    pub(super) next_no: u64,
    /// The highest sequence number in the log, or the checkpoint's when higher.
    pub max_seq: u64,
}

/// One segment of the log.
pub(super) struct Segment {
    pub no: u64,
    pub path: PathBuf,
    pub label: String,
    /// 0: an empty or all-zero file (created, never written); else 1, 2 or 3.
    pub format: u32,
    /// Where its records end (the end-of-segment record included).
    pub end: usize,
    /// Bytes after `end` up to here are a torn write or stray bytes (to be cleared).
    pub torn_until: Option<usize>,
    pub records: u64,
    pub last_seq: u64,
    /// It ends with a record naming the next segment.
    pub ends: bool,
}

/// Check the log in `dir` against the checkpoint (covering writes up to `after`) and, when
/// the manifest records it, where the log starts (`start`). Reads only.
pub fn scan(dir: &Path, after: u64, start: Option<LogStart>) -> Result<Recovery> {
    let nos = numbered_files(dir, EXT)?;
    let from = start.map_or(0, |s| s.segment);
    let (below, chain_nos): (Vec<u64>, Vec<u64>) = nos.iter().partition(|&&n| n < from);
    let label = |no: u64| format!("wal/{}", file_name(no, EXT));
    if let Some(s) = start {
        let first = chain_nos.first().copied();
        if (s.exists && first != Some(s.segment)) || first.is_some_and(|f| f != s.segment) {
            return Err(Error::Corruption(format!(
                "{} offset 0: missing; the last checkpoint says the log goes on in it",
                label(s.segment)
            )));
        }
    }
    if let Some(w) = chain_nos.windows(2).find(|w| w[1] != w[0] + 1) {
        return Err(Error::Corruption(format!(
            "{} offset 0: missing, between {} and {}",
            label(w[0] + 1),
            label(w[0]),
            label(w[1])
        )));
    }
    let mut chain = Vec::with_capacity(chain_nos.len());
    let mut walk = Walk { after, prev_seq: None, prev_label: String::new(), pending: None, empty: None };
    for &no in &chain_nos {
        let seg = check_segment(dir, no, &mut walk)?;
        chain.push(seg);
    }
    let prev_seq = walk.prev_seq;
    if let Some(s) = chain.last().filter(|s| s.ends) {
        return Err(Error::Corruption(format!(
            "{} offset {}: names {} as the next segment, which is missing",
            s.label,
            s.end - END_RECORD,
            label(s.no + 1)
        )));
    }
    // The segment the log goes on in: the last with records, or the first after it that
    // did not end (a segment that names a next one is full); segments after it hold nothing
    // (a rotation cut short) and go.
    let mut keep = chain.iter().rposition(|s| s.records > 0).map_or(chain.len().min(1), |i| i + 1);
    while keep < chain.len() && chain[keep - 1].ends {
        keep += 1;
    }
    let mut leftovers: Vec<PathBuf> = below.iter().map(|&n| dir.join(file_name(n, EXT))).collect();
    leftovers.extend(chain.drain(keep..).map(|s| s.path));
    let current = chain.len().checked_sub(1).filter(|&i| chain[i].format != FORMAT_1);
    let next_no = nos.last().map_or(1, |n| n.saturating_add(1)).max(from);
    Ok(Recovery {
        dir: dir.to_owned(),
        chain,
        current,
        leftovers,
        next_no,
        max_seq: prev_seq.unwrap_or(0).max(after),
    })
}

/// What the walk over the segments carries from one to the next.
struct Walk {
    /// The checkpoint's sequence number.
    after: u64,
    /// The last record's sequence number, and the segment it is in.
    prev_seq: Option<u64>,
    prev_label: String,
    /// A bad record not yet known to be the torn end of the log (it is, if nothing valid
    /// follows anywhere).
    pending: Option<Error>,
    /// A segment without records (empty or all zeros) seen: the end of the log, unless a
    /// later segment holds records, which makes it damage.
    empty: Option<String>,
}

/// Check segment `no`, continuing the walk.
fn check_segment(dir: &Path, no: u64, walk: &mut Walk) -> Result<Segment> {
    let (after, prev_seq, pending) = (walk.after, &mut walk.prev_seq, &mut walk.pending);
    let path = dir.join(file_name(no, EXT));
    let label = format!("wal/{}", file_name(no, EXT));
    let file = sys::open_read(&path).map_err(|e| io_err("cannot open log segment", &path, &e))?;
    let len = file.metadata().map_err(|e| io_err("cannot stat log segment", &path, &e))?.len();
    let mut seg = Segment {
        no,
        path: path.clone(),
        label: label.clone(),
        format: 0,
        end: HEADER_LEN,
        torn_until: None,
        records: 0,
        last_seq: 0,
        ends: false,
    };
    if len == 0 {
        walk.empty.get_or_insert(label);
        return Ok(seg); // created, never allocated: a crash in its creation
    }
    let map = ReadMap::new(&file).map_err(|e| io_err("cannot map log segment", &path, &e))?;
    let buf = map.all();
    if buf.len() < HEADER_LEN || buf[..HEADER_LEN].iter().all(|&b| b == 0) {
        // Created but never written: a crash between allocating it and writing its header.
        if buf.iter().all(|&b| b == 0) {
            walk.empty.get_or_insert(label);
            return Ok(seg);
        }
        return Err(Error::Corruption(format!("{label} offset 0: bad segment header")));
    }
    let (format, pages) = check_file_header(buf, &MAGIC, &[FORMAT_1, FORMAT_2, FORMAT], no, &label)?;
    seg.format = format;
    if format != FORMAT_1 && u64::from(pages) * PAGE != len {
        return Err(Error::Corruption(format!(
            "{label} offset 0: the file has {len} bytes, its header says {} (cut short or extended)",
            u64::from(pages) * PAGE
        )));
    }
    let mut at = HEADER_LEN;
    loop {
        match record::parse(buf, at, &label, false) {
            Ok(None) => {
                // The end of what was written: zeros from here on. Anything valid after
                // them means the zeros are damage, not the end.
                if let Some(x) = record::first_valid_after(buf, at, &label) {
                    return Err(Error::Corruption(format!(
                        "{label} offset {at}: zeros where a record should be (a valid record follows at offset {x})"
                    )));
                }
                // Stray bytes in the zeros after the end (no record): cleared before the log
                // goes on here, as a torn end is.
                let dirty = buf.iter().rposition(|&b| b != 0).map_or(at, |p| p + 1);
                seg.torn_until = (dirty > at).then_some(dirty);
                break;
            }
            Ok(Some(r)) if r.kind == NEXT => {
                let next = record::next_segment(&r);
                if next != no + 1 {
                    return Err(Error::Corruption(format!(
                        "{label} offset {at}: names segment {next} as the next one, not {}",
                        no + 1
                    )));
                }
                seg.ends = true;
                at = r.next;
                break;
            }
            Ok(Some(r)) => {
                if let Some(e) = pending.take() {
                    return Err(e); // a damaged record with valid ones after it
                }
                if let Some(empty) = walk.empty.take() {
                    return Err(Error::Corruption(format!(
                        "{empty} offset 0: empty or all zeros, but a later segment, {label}, holds records"
                    )));
                }
                match *prev_seq {
                    None if r.seq > after + 1 => {
                        return Err(Error::Corruption(format!(
                            "{label} offset {at}: the log starts at sequence number {}, but the last \
                             checkpoint covers writes only up to {after}: the writes in between are missing",
                            r.seq
                        )));
                    }
                    Some(p) if r.seq != p + 1 => {
                        let which = if walk.prev_label == label {
                            String::new()
                        } else {
                            format!(
                                " (the last one in {}: its end is missing, or a segment between)",
                                walk.prev_label
                            )
                        };
                        return Err(Error::Corruption(format!(
                            "{label} offset {at}: sequence number {} after {p}{which}: writes are missing",
                            r.seq
                        )));
                    }
                    _ => {}
                }
                *prev_seq = Some(r.seq);
                walk.prev_label.clone_from(&label);
                seg.records += 1;
                seg.last_seq = r.seq;
                at = r.next;
            }
            Err(e) => {
                if pending.is_some() || record::first_valid_after(buf, at + 8, &label).is_some() {
                    return Err(pending.take().unwrap_or(e));
                }
                // Torn, if no later segment holds a record either.
                let dirty = buf.iter().rposition(|&b| b != 0).map_or(at, |p| p + 1);
                seg.torn_until = Some(dirty);
                *pending = Some(e);
                break;
            }
        }
    }
    seg.end = at;
    Ok(seg)
}

impl Recovery {
    /// Hand every record numbered above `after` to `apply`, in order. The records were
    /// checked by [`scan`]; this reads them again without the checksums.
    pub fn apply(&self, after: u64, mut apply: impl FnMut(u64, Replayed) -> Result<()>) -> Result<()> {
        for seg in self.chain.iter().filter(|s| s.records > 0 && s.last_seq > after) {
            let file =
                sys::open_read(&seg.path).map_err(|e| io_err("cannot open log segment", &seg.path, &e))?;
            let map = ReadMap::new(&file).map_err(|e| io_err("cannot map log segment", &seg.path, &e))?;
            let buf = map.range(0, seg.end).ok_or_else(|| {
                Error::Corruption(format!("{} offset 0: shorter than when it was checked", seg.label))
            })?;
            let mut at = HEADER_LEN;
            while let Some(r) = record::parse(buf, at, &seg.label, true)? {
                if r.seq > after
                    && let Some(rec) = record::decode(&r, &seg.label, at)?
                {
                    apply(r.seq, rec)?;
                }
                at = r.next;
            }
        }
        Ok(())
    }

    /// Whether opening will delete segment files nothing needs.
    pub fn has_leftovers(&self) -> bool {
        !self.leftovers.is_empty()
    }
}
