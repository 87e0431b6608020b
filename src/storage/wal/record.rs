//! Log records: how a write is laid out in a segment, and how it is read back.
//!
//! ```text
//! record: │ len u32 │ crc u32 │ seq u64 │ kind u8 │ 0 [7] │ payload (len bytes) │ 0-pad to 8 │
//! ```
//!
//! `crc` covers everything after it: `seq`, `kind`, the seven zero bytes, the payload and
//! its padding. `len` is written last, so a record torn by a crash has a zero length or a
//! bad checksum. Payloads (little-endian): create `id u64, name_len u64, name`; drop
//! `id u64`; insert `id u64, n u64, ts[n] i64, values[n] f64`; batch `n u64, ids[n] u64,
//! ts[n] i64, values[n] f64`; delete `id u64, from i64, until i64`; retention `id u64,
//! span i64`; next segment `no u64` (with `seq` 0: it ends a segment and is no write);
//! scrape (log format 3) `n u64, ts i64, values[n] f64, ids` where `ids` is the first id
//! and then the `n - 1` gaps to the next, as varints: a batch whose points share one
//! timestamp and whose ids do not descend, about 9 bytes a point instead of 24.
use crate::bytes::{Reader, get_varint, u32_at, u64_at};
use crate::{Error, Result};

/// Bytes of a record header.
pub(crate) const RECORD_HEADER: usize = 24;
/// Bytes of the record that ends a segment ([`NEXT`]): every segment keeps room for one.
pub(crate) const END_RECORD: usize = RECORD_HEADER + 8;
/// The longest payload a record can carry (its length is a u32).
pub(crate) const MAX_PAYLOAD: usize = u32::MAX as usize - RECORD_HEADER - 8;

pub(crate) const CREATE: u8 = 1;
pub(crate) const DROP: u8 = 2;
pub(crate) const INSERT: u8 = 3;
pub(crate) const BATCH: u8 = 4;
pub(crate) const DELETE: u8 = 5;
pub(crate) const RETENTION: u8 = 6;
/// Ends a segment: the log goes on in the segment numbered in the payload.
pub(crate) const NEXT: u8 = 7;
/// A batch with one timestamp and ids in order (log format 3).
pub(crate) const SCRAPE: u8 = 8;
/// The highest kind.
const MAX_KIND: u8 = SCRAPE;

/// A record to append.
pub enum Record<'a> {
    Create {
        id: u64,
        name: &'a str,
    },
    Drop {
        id: u64,
    },
    Insert {
        id: u64,
        ts: &'a [i64],
        vals: &'a [f64],
    },
    Batch {
        ids: &'a [u64],
        ts: &'a [i64],
        vals: &'a [f64],
    },
    /// A batch whose points all have timestamp `ts` and whose ids do not descend (a
    /// scrape); made by [`Record::scrape`], which counts `id_bytes`. Replayed as a batch.
    Scrape {
        ts: i64,
        ids: &'a [u64],
        vals: &'a [f64],
        /// Bytes of the ids as varints (the first id, then the gaps).
        id_bytes: usize,
    },
    /// Metric `id`'s points with `from <= ts < until` are deleted.
    Delete {
        id: u64,
        from: i64,
        until: i64,
    },
    /// Metric `id`'s own retention span becomes `span`.
    Retention {
        id: u64,
        span: i64,
    },
    /// The end of a segment: the log goes on in segment `no`.
    Next {
        no: u64,
    },
}

/// A record read back by replay.
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    Create { id: u64, name: String },
    Drop { id: u64 },
    Insert { id: u64, ts: Vec<i64>, vals: Vec<f64> },
    Batch { ids: Vec<u64>, ts: Vec<i64>, vals: Vec<f64> },
    Delete { id: u64, from: i64, until: i64 },
    Retention { id: u64, span: i64 },
}

/// Bytes of `x` as an unsigned LEB128 varint.
#[inline]
fn varint_len(x: u64) -> usize {
    // 1 byte per started 7 bits; 0 takes one byte.
    (64 - (x | 1).leading_zeros() as usize).div_ceil(7)
}

impl<'a> Record<'a> {
    /// The batch `(ids[i], ts[i], vals[i])` as a [`Record::Scrape`], when every timestamp is
    /// the same and the ids do not descend; `None` otherwise (log it as a
    /// [`Record::Batch`]). One pass over the ids.
    pub fn scrape(ids: &'a [u64], ts: &'a [i64], vals: &'a [f64]) -> Option<Record<'a>> {
        let (&t, &first) = (ts.first()?, ids.first()?);
        if ids.len() != ts.len() || vals.len() != ts.len() || ts.iter().any(|&x| x != t) {
            return None;
        }
        let mut id_bytes = varint_len(first);
        let mut prev = first;
        for &id in &ids[1..] {
            if id < prev {
                return None;
            }
            id_bytes += varint_len(id - prev);
            prev = id;
        }
        Some(Record::Scrape { ts: t, ids, vals, id_bytes })
    }
}

impl Record<'_> {
    fn kind(&self) -> u8 {
        match self {
            Record::Create { .. } => CREATE,
            Record::Drop { .. } => DROP,
            Record::Insert { .. } => INSERT,
            Record::Batch { .. } => BATCH,
            Record::Scrape { .. } => SCRAPE,
            Record::Delete { .. } => DELETE,
            Record::Retention { .. } => RETENTION,
            Record::Next { .. } => NEXT,
        }
    }

    /// Bytes of the payload (saturating: a batch too large for a record is refused by
    /// [`Record::size`]).
    fn payload_len(&self) -> usize {
        match self {
            Record::Create { name, .. } => 16 + name.len(),
            Record::Drop { .. } | Record::Next { .. } => 8,
            Record::Insert { ts, .. } => ts.len().saturating_mul(16).saturating_add(16),
            Record::Batch { ts, .. } => ts.len().saturating_mul(24).saturating_add(8),
            Record::Scrape { vals, id_bytes, .. } => {
                vals.len().saturating_mul(8).saturating_add(16).saturating_add(*id_bytes)
            }
            Record::Delete { .. } => 24,
            Record::Retention { .. } => 16,
        }
    }

    /// Bytes the record takes in a segment, padding included; an error when its payload is
    /// too long for a record.
    pub fn size(&self) -> Result<usize> {
        let payload = self.payload_len();
        if payload > MAX_PAYLOAD {
            return Err(Error::InvalidArgument(format!(
                "write too large for one log record ({payload} bytes, at most {MAX_PAYLOAD}); split it"
            )));
        }
        Ok((RECORD_HEADER + payload).next_multiple_of(8))
    }

    /// Write the record, numbered `seq`, into `out` (exactly [`Record::size`] bytes, all
    /// zero: a segment past its last record always is): all but the length first, then the
    /// length.
    pub fn write(&self, seq: u64, out: &mut [u8]) {
        let payload = self.payload_len();
        debug_assert!(out.iter().all(|&b| b == 0), "a record is written over zeros");
        out[8..16].copy_from_slice(&seq.to_le_bytes());
        out[16] = self.kind();
        self.write_payload(&mut out[RECORD_HEADER..RECORD_HEADER + payload]);
        let crc = crc32fast::hash(&out[8..]);
        out[4..8].copy_from_slice(&crc.to_le_bytes());
        // The length last: a reader of a torn record sees a zero length or a bad checksum.
        out[..4].copy_from_slice(&(payload as u32).to_le_bytes());
    }

    /// Write the payload into `out` (exactly `payload_len` bytes).
    fn write_payload(&self, out: &mut [u8]) {
        let mut w = Writer { out, at: 0 };
        match self {
            Record::Create { id, name } => {
                w.u64(*id);
                w.u64(name.len() as u64);
                w.bytes(name.as_bytes());
            }
            Record::Drop { id } => w.u64(*id),
            Record::Next { no } => w.u64(*no),
            Record::Insert { id, ts, vals } => {
                w.u64(*id);
                w.u64(ts.len() as u64);
                w.i64s(ts);
                w.f64s(vals);
            }
            Record::Batch { ids, ts, vals } => {
                w.u64(ts.len() as u64);
                for &id in *ids {
                    w.u64(id);
                }
                w.i64s(ts);
                w.f64s(vals);
            }
            Record::Scrape { ts, ids, vals, .. } => {
                w.u64(vals.len() as u64);
                w.i64s(&[*ts]);
                w.f64s(vals);
                let mut prev = 0;
                for &id in *ids {
                    w.varint(id - prev);
                    prev = id;
                }
            }
            Record::Delete { id, from, until } => {
                w.u64(*id);
                w.i64s(&[*from, *until]);
            }
            Record::Retention { id, span } => {
                w.u64(*id);
                w.i64s(&[*span]);
            }
        }
        debug_assert_eq!(w.at, w.out.len());
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u64(&mut self, x: u64) {
        self.bytes(&x.to_le_bytes());
    }
    #[inline]
    fn varint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.out[self.at] = x as u8 | 0x80;
            self.at += 1;
            x >>= 7;
        }
        self.out[self.at] = x as u8;
        self.at += 1;
    }
    fn i64s(&mut self, xs: &[i64]) {
        let dst = &mut self.out[self.at..self.at + 8 * xs.len()];
        for (d, x) in dst.chunks_exact_mut(8).zip(xs) {
            d.copy_from_slice(&x.to_le_bytes());
        }
        self.at += 8 * xs.len();
    }
    fn f64s(&mut self, xs: &[f64]) {
        let dst = &mut self.out[self.at..self.at + 8 * xs.len()];
        for (d, x) in dst.chunks_exact_mut(8).zip(xs) {
            d.copy_from_slice(&x.to_bits().to_le_bytes());
        }
        self.at += 8 * xs.len();
    }
}

/// A record found in a segment: its number, kind and payload, and where the next one starts.
#[derive(Debug)]
pub struct Found<'a> {
    pub seq: u64,
    pub kind: u8,
    pub payload: &'a [u8],
    pub next: usize,
}

/// The record at `at` of segment `buf` (`label` names the file in errors): `Ok(None)` at
/// the end of the written part (a zero header, or no room for one). Checks the length, the
/// checksum (unless `verified`: a second pass over bytes already checked), the header's
/// zero bytes, the kind and the payload's shape.
pub fn parse<'a>(buf: &'a [u8], at: usize, label: &str, verified: bool) -> Result<Option<Found<'a>>> {
    if at + RECORD_HEADER > buf.len() {
        return Ok(None);
    }
    let h = &buf[at..at + RECORD_HEADER];
    if h.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let bad = |msg: &str| Error::Corruption(format!("{label} offset {at}: {msg}"));
    let len = u32_at(h, 0) as usize;
    let total = (RECORD_HEADER + len).next_multiple_of(8);
    if total > buf.len() - at {
        return Err(bad("record runs past the end of the segment"));
    }
    let crc = u32_at(h, 4);
    if !verified && crc != crc32fast::hash(&buf[at + 8..at + total]) {
        return Err(bad("record checksum mismatch"));
    }
    if h[17..].iter().any(|&b| b != 0) {
        return Err(bad("record header has nonzero padding"));
    }
    let seq = u64_at(h, 8);
    let kind = h[16];
    let payload = &buf[at + RECORD_HEADER..at + RECORD_HEADER + len];
    check_payload(kind, payload, seq).map_err(|m| bad(&m))?;
    Ok(Some(Found { seq, kind, payload, next: at + total }))
}

/// Whether a payload of `kind` has the shape its kind needs (lengths that match their
/// counts, a UTF-8 name), without copying it; `seq` must be 0 exactly for [`NEXT`].
fn check_payload(kind: u8, p: &[u8], seq: u64) -> std::result::Result<(), String> {
    let u64_at = |at: usize| p.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8")));
    let fixed = |n: usize, what: &str| {
        if p.len() == n {
            Ok(())
        } else {
            Err(format!("{what} record of the wrong length ({} bytes)", p.len()))
        }
    };
    if (kind == NEXT) != (seq == 0) {
        return Err(format!("record of kind {kind} with sequence number {seq}"));
    }
    match kind {
        CREATE => {
            let n = u64_at(8).ok_or("create record too short")?;
            if p.len() as u64 - 16 != n {
                return Err("create record length does not match its name".into());
            }
            std::str::from_utf8(&p[16..]).map_err(|_| "metric name is not UTF-8".to_string())?;
            Ok(())
        }
        DROP => fixed(8, "drop"),
        NEXT => fixed(8, "end-of-segment"),
        DELETE => fixed(24, "delete"),
        RETENTION => fixed(16, "retention"),
        INSERT => {
            let n = u64_at(8).ok_or("insert record too short")?;
            if n.checked_mul(16).and_then(|b| b.checked_add(16)) != Some(p.len() as u64) || n == 0 {
                return Err("insert record length does not match its point count".into());
            }
            Ok(())
        }
        BATCH => {
            let n = u64_at(0).ok_or("batch record too short")?;
            if n.checked_mul(24).and_then(|b| b.checked_add(8)) != Some(p.len() as u64) || n == 0 {
                return Err("batch record length does not match its point count".into());
            }
            Ok(())
        }
        SCRAPE => {
            let n = u64_at(0).ok_or("scrape record too short")?;
            let fixed = n.checked_mul(8).and_then(|b| b.checked_add(16)).filter(|&b| b <= p.len() as u64);
            let Some(fixed) = fixed.filter(|_| n > 0) else {
                return Err("scrape record length does not match its point count".into());
            };
            // Exactly n varints to the end, whose sum (the last id) fits 64 bits.
            let mut at = fixed as usize;
            let mut id = 0u64;
            for _ in 0..n {
                let gap = get_varint(p, &mut at).map_err(|e| format!("scrape record ids: {e}"))?;
                id = id.checked_add(gap).ok_or("scrape record ids overflow 64 bits")?;
            }
            if at != p.len() {
                return Err("scrape record has bytes after its ids".into());
            }
            Ok(())
        }
        k => Err(format!("unknown record kind {k}")),
    }
}

/// The write a found record holds (`None` for the end of a segment). Its shape was checked
/// by [`parse`].
pub fn decode(r: &Found<'_>, label: &str, at: usize) -> Result<Option<Replayed>> {
    let mut rd = Reader::new(r.payload, label, at as u64, "record");
    Ok(Some(match r.kind {
        CREATE => {
            let id = rd.u64()?;
            let n = rd.u64()? as usize;
            let name =
                std::str::from_utf8(rd.bytes(n as u64)?).map_err(|_| rd.bad("metric name is not UTF-8"))?;
            Replayed::Create { id, name: name.to_owned() }
        }
        DROP => Replayed::Drop { id: rd.u64()? },
        INSERT => {
            let id = rd.u64()?;
            let n = rd.u64()? as usize;
            let (ts, vals) = columns(&mut rd, n)?;
            Replayed::Insert { id, ts, vals }
        }
        BATCH => {
            let n = rd.u64()? as usize;
            let ids = rd
                .bytes(8 * n as u64)?
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8")))
                .collect();
            let (ts, vals) = columns(&mut rd, n)?;
            Replayed::Batch { ids, ts, vals }
        }
        SCRAPE => {
            let n = rd.u64()? as usize;
            let t = rd.u64()? as i64;
            let vals = rd
                .bytes(8 * n as u64)?
                .chunks_exact(8)
                .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8"))))
                .collect();
            let mut ids = Vec::with_capacity(n);
            let mut id = 0u64;
            for _ in 0..n {
                id = id.wrapping_add(rd.varint()?); // checked by parse: no overflow
                ids.push(id);
            }
            Replayed::Batch { ids, ts: vec![t; n], vals }
        }
        DELETE => {
            let id = rd.u64()?;
            let (from, until) = (rd.u64()? as i64, rd.u64()? as i64);
            Replayed::Delete { id, from, until }
        }
        RETENTION => Replayed::Retention { id: rd.u64()?, span: rd.u64()? as i64 },
        _ => return Ok(None),
    }))
}

/// The segment number an end-of-segment record names.
pub fn next_segment(r: &Found<'_>) -> u64 {
    u64_at(r.payload, 0) // checked by parse
}

fn columns(r: &mut Reader<'_>, n: usize) -> Result<(Vec<i64>, Vec<f64>)> {
    let ts = r
        .bytes(8 * n as u64)?
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8")))
        .collect();
    let vals = r
        .bytes(8 * n as u64)?
        .chunks_exact(8)
        .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8"))))
        .collect();
    Ok((ts, vals))
}

/// The offset of the first valid record at or after `from` (8-byte aligned), if any: a
/// record after damage means the damage is not a torn end. Zeros are skipped quickly, and
/// a candidate is checksummed only when its header's zero bytes are zero.
pub fn first_valid_after(buf: &[u8], from: usize, label: &str) -> Option<usize> {
    let mut at = from.next_multiple_of(8);
    while at + RECORD_HEADER <= buf.len() {
        // Skip to the record that could hold the next nonzero byte.
        let nz = at + buf[at..].iter().position(|&b| b != 0)?;
        at = at.max((nz.saturating_sub(RECORD_HEADER - 1)).next_multiple_of(8));
        if at + RECORD_HEADER > buf.len() {
            return None;
        }
        let h = &buf[at..at + RECORD_HEADER];
        if h[17..].iter().all(|&b| b == 0)
            && (1..=MAX_KIND).contains(&h[16])
            && matches!(parse(buf, at, label, false), Ok(Some(_)))
        {
            return Some(at);
        }
        at += 8;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_named() {
        let ts = [3i64, 1, 2];
        let vals = [0.5, f64::NAN, -0.0];
        let recs = [
            Record::Create { id: 7, name: "cpu" },
            Record::Insert { id: 7, ts: &ts, vals: &vals },
            Record::Batch { ids: &[1, 2, 1], ts: &ts, vals: &vals },
            Record::Delete { id: 7, from: -5, until: 9 },
            Record::Retention { id: 7, span: -1 },
            Record::Drop { id: 7 },
        ];
        let mut buf = vec![0u8; 32];
        for (i, r) in recs.iter().enumerate() {
            let at = buf.len();
            buf.resize(at + r.size().unwrap(), 0);
            r.write(i as u64 + 1, &mut buf[at..]);
        }
        let at = buf.len();
        let next = Record::Next { no: 9 };
        buf.resize(at + END_RECORD, 0);
        next.write(0, &mut buf[at..]);
        let mut at = 32;
        let mut seen = Vec::new();
        while let Some(f) = parse(&buf, at, "wal/x", false).unwrap() {
            match decode(&f, "wal/x", at).unwrap() {
                Some(r) => seen.push((f.seq, r)),
                None => assert_eq!(next_segment(&f), 9),
            }
            at = f.next;
        }
        assert_eq!(seen.len(), 6);
        // NaN is not equal to itself: compare what the records print.
        let want = Replayed::Insert { id: 7, ts: ts.to_vec(), vals: vals.to_vec() };
        assert_eq!(format!("{:?}", seen[1].1), format!("{want:?}"));
        // A flipped bit anywhere in a record is a checksum mismatch naming the offset.
        let mut bad = buf.clone();
        bad[32 + 30] ^= 1;
        let e = parse(&bad, 32, "wal/x", false).unwrap_err();
        assert_eq!(e, Error::Corruption("wal/x offset 32: record checksum mismatch".into()));
        assert_eq!(first_valid_after(&bad, 40, "wal/x"), Some(32 + recs[0].size().unwrap()));
        assert_eq!(first_valid_after(&buf, buf.len(), "wal/x"), None);
        // A write too large for a record is refused, not truncated.
        let huge = vec![0i64; MAX_PAYLOAD / 16 + 1];
        let r = Record::Insert { id: 1, ts: &huge, vals: &[] };
        assert!(matches!(r.size(), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn scrape_records_round_trip_as_batches_and_are_checked() {
        let ids = [3u64, 4, 4, 200, 1 << 40, u64::MAX];
        let vals = [0.5, f64::INFINITY, -0.0, 1e300, 7.0, 2.5];
        let ts = [42i64; 6];
        let r = Record::scrape(&ids, &ts, &vals).expect("one timestamp, ids in order");
        let Record::Scrape { id_bytes, .. } = r else { unreachable!() };
        assert_eq!(id_bytes, 1 + 1 + 1 + 2 + 6 + 10);
        assert_eq!(r.size().unwrap(), (RECORD_HEADER + 16 + 48 + id_bytes).next_multiple_of(8));
        assert!(r.size().unwrap() < Record::Batch { ids: &ids, ts: &ts, vals: &vals }.size().unwrap());
        // Not a scrape: two timestamps, or an id smaller than the one before.
        assert!(Record::scrape(&ids, &[42, 42, 42, 42, 42, 43], &vals).is_none());
        assert!(Record::scrape(&[3, 2], &[1, 1], &[0.0, 0.0]).is_none());
        assert!(Record::scrape(&[], &[], &[]).is_none());
        let mut buf = vec![0u8; 32 + r.size().unwrap()];
        r.write(5, &mut buf[32..]);
        let f = parse(&buf, 32, "wal/x", false).unwrap().unwrap();
        assert_eq!((f.seq, f.kind), (5, SCRAPE));
        let want = Replayed::Batch { ids: ids.to_vec(), ts: ts.to_vec(), vals: vals.to_vec() };
        assert_eq!(decode(&f, "wal/x", 32).unwrap(), Some(want));
        // A payload whose ids are cut short or run on is damage, even with a good checksum.
        let bad_payload = |p: &[u8]| check_payload(SCRAPE, p, 1).unwrap_err();
        let payload = &buf[32 + RECORD_HEADER..32 + RECORD_HEADER + f.payload.len()];
        assert!(bad_payload(&payload[..payload.len() - 1]).contains("ids"));
        let mut longer = payload.to_vec();
        longer.push(0);
        assert!(bad_payload(&longer).contains("bytes after"));
        let mut zero = payload.to_vec();
        zero[..8].copy_from_slice(&0u64.to_le_bytes());
        assert!(bad_payload(&zero).contains("point count"));
        // Ids that overflow 64 bits.
        let over = Record::scrape(&[u64::MAX, u64::MAX], &[0, 0], &[0.0, 0.0]).unwrap();
        let mut b = vec![0u8; over.size().unwrap()];
        over.write(1, &mut b);
        let mut p = b[RECORD_HEADER..RECORD_HEADER + 16 + 16 + 10 + 1].to_vec();
        p[32 + 10] = 1; // the gap after u64::MAX becomes 1
        assert!(bad_payload(&p).contains("overflow"));
        assert_eq!(first_valid_after(&buf, 0, "wal/x"), Some(32));
    }
}
