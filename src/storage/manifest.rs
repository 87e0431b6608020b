//! The manifest: what the last checkpoint holds — every live metric, its sealed parts and
//! its head's persisted extents, by reference into the data segments.
//!
//! ```text
//! header (64 bytes): │ magic "TSDBMAN1" │ format u32 │ 0 u32 │ checkpoint_seq u64 │ next_id u64 │
//!                    │ metrics u64 │ next_data_seg u64 │ body_len u64 │ body_crc u32 │ header_crc u32 │
//! body, per metric:  │ id u64 │ name_len u32 │ parts u32 │ extents u32 │ 0 u32 │ name, 0-pad to 8 │
//!                    │ parts × { start i64, seg u64, off u64, len u32, count u32, first_ts i64, last_ts i64 } │
//!                    │ extents × { seg u64, off u64, len u32, count u32, first_ts i64, last_ts i64 } │
//! ```
//!
//! `header_crc` covers the 60 bytes before it, `body_crc` the body. A checkpoint writes the
//! whole manifest to `MANIFEST.tmp`, fsyncs it, renames it over `MANIFEST` and fsyncs the
//! directory: a crash leaves the old manifest or the new one, never a mix.
use std::io::Write;
use std::path::Path;

use super::{Reader, io_err, sync_dir};
use crate::{Error, Result};

pub const MAGIC: [u8; 8] = *b"TSDBMAN1";
pub const FORMAT: u32 = 1;
pub const HEADER_LEN: usize = 64;
pub const FILE: &str = "MANIFEST";
const TMP: &str = "MANIFEST.tmp";

/// A block in a data segment, with the summary the engine keeps in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    pub seg: u64,
    pub off: u64,
    pub len: u32,
    pub count: u32,
    pub first_ts: i64,
    pub last_ts: i64,
}

/// One metric of the manifest.
#[derive(Debug, PartialEq)]
pub struct MetricEntry {
    pub id: u64,
    pub name: String,
    /// Sealed parts: the first timestamp each owns, and its block.
    pub parts: Vec<(i64, BlockRef)>,
    /// The head's persisted points, oldest first (a later extent wins on equal timestamps).
    pub extents: Vec<BlockRef>,
}

/// The manifest's fixed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Every write with a sequence number up to this is in the manifest's data.
    pub checkpoint_seq: u64,
    pub next_id: u64,
    pub metrics: u64,
    pub next_data_seg: u64,
}

/// Streams a new manifest into `DIR/MANIFEST.tmp`; [`Builder::commit`] makes it current.
pub struct Builder {
    file: std::io::BufWriter<std::fs::File>,
    dir: std::path::PathBuf,
    crc: crc32fast::Hasher,
    body_len: u64,
    metrics: u64,
}

impl Builder {
    pub fn new(dir: &Path) -> Result<Builder> {
        let path = dir.join(TMP);
        let file = std::fs::File::create(&path).map_err(|e| io_err("cannot create manifest", &path, &e))?;
        let mut b = Builder {
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            dir: dir.to_owned(),
            crc: crc32fast::Hasher::new(),
            body_len: 0,
            metrics: 0,
        };
        b.put_raw(&[0u8; HEADER_LEN])?;
        Ok(b)
    }

    fn put_raw(&mut self, b: &[u8]) -> Result<()> {
        self.file.write_all(b).map_err(|e| io_err("cannot write manifest", &self.dir.join(TMP), &e))
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.crc.update(b);
        self.body_len += b.len() as u64;
        self.put_raw(b)
    }

    /// Add one metric.
    pub fn metric(
        &mut self,
        id: u64,
        name: &str,
        parts: &[(i64, BlockRef)],
        extents: &[BlockRef],
    ) -> Result<()> {
        let mut e = Vec::with_capacity(24 + name.len() + 8 + 48 * parts.len() + 40 * extents.len());
        e.extend_from_slice(&id.to_le_bytes());
        e.extend_from_slice(&(name.len() as u32).to_le_bytes());
        e.extend_from_slice(&(parts.len() as u32).to_le_bytes());
        e.extend_from_slice(&(extents.len() as u32).to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes());
        e.extend_from_slice(name.as_bytes());
        e.resize(e.len().next_multiple_of(8), 0);
        for (start, b) in parts {
            e.extend_from_slice(&start.to_le_bytes());
            put_ref(&mut e, b);
        }
        for b in extents {
            put_ref(&mut e, b);
        }
        self.metrics += 1;
        self.put(&e)
    }

    /// Finish the file and make it the current manifest (durably with `fsync`; without, a
    /// crash of the process is still safe, a power loss may not be).
    pub fn commit(self, checkpoint_seq: u64, next_id: u64, next_data_seg: u64, fsync: bool) -> Result<()> {
        let tmp = self.dir.join(TMP);
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&FORMAT.to_le_bytes());
        h[16..24].copy_from_slice(&checkpoint_seq.to_le_bytes());
        h[24..32].copy_from_slice(&next_id.to_le_bytes());
        h[32..40].copy_from_slice(&self.metrics.to_le_bytes());
        h[40..48].copy_from_slice(&next_data_seg.to_le_bytes());
        h[48..56].copy_from_slice(&self.body_len.to_le_bytes());
        h[56..60].copy_from_slice(&self.crc.clone().finalize().to_le_bytes());
        let hc = crc32fast::hash(&h[..60]);
        h[60..64].copy_from_slice(&hc.to_le_bytes());
        let file = self.file.into_inner().map_err(|e| io_err("cannot write manifest", &tmp, e.error()))?;
        use std::os::unix::fs::FileExt;
        file.write_all_at(&h, 0)
            .and_then(|()| if fsync { file.sync_all() } else { Ok(()) })
            .map_err(|e| io_err("cannot write manifest", &tmp, &e))?;
        drop(file);
        let dst = self.dir.join(FILE);
        std::fs::rename(&tmp, &dst).map_err(|e| io_err("cannot rename manifest", &dst, &e))?;
        if fsync { sync_dir(&self.dir) } else { Ok(()) }
    }
}

fn put_ref(e: &mut Vec<u8>, b: &BlockRef) {
    e.extend_from_slice(&b.seg.to_le_bytes());
    e.extend_from_slice(&b.off.to_le_bytes());
    e.extend_from_slice(&b.len.to_le_bytes());
    e.extend_from_slice(&b.count.to_le_bytes());
    e.extend_from_slice(&b.first_ts.to_le_bytes());
    e.extend_from_slice(&b.last_ts.to_le_bytes());
}

fn get_ref(r: &mut Reader<'_>) -> Result<BlockRef> {
    let b = BlockRef {
        seg: r.u64()?,
        off: r.u64()?,
        len: r.u32()?,
        count: r.u32()?,
        first_ts: r.i64()?,
        last_ts: r.i64()?,
    };
    if b.count == 0 || b.first_ts > b.last_ts {
        return Err(r.corrupt(format!(
            "block reference with {} points from {} to {}",
            b.count, b.first_ts, b.last_ts
        )));
    }
    Ok(b)
}

/// Read `DIR/MANIFEST`: `None` when there is none (a database never checkpointed). Every
/// entry is checked; damage is a corruption error naming the offset.
pub fn load(dir: &Path, mut metric: impl FnMut(MetricEntry) -> Result<()>) -> Result<Option<Header>> {
    let path = dir.join(FILE);
    let buf = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("cannot read manifest", &path, &e)),
    };
    let bad = |at: usize, msg: &str| Error::Corruption(format!("MANIFEST offset {at}: {msg}"));
    let h = buf.get(..HEADER_LEN).ok_or_else(|| bad(0, "shorter than its header"))?;
    let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().expect("8 bytes"));
    let u32_at = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"));
    if h[..8] != MAGIC || u32_at(60) != crc32fast::hash(&h[..60]) {
        return Err(bad(0, "bad header (magic or checksum)"));
    }
    if u32_at(8) != FORMAT {
        return Err(bad(8, &format!("format {} (this build reads {FORMAT})", u32_at(8))));
    }
    let header = Header {
        checkpoint_seq: u64_at(16),
        next_id: u64_at(24),
        metrics: u64_at(32),
        next_data_seg: u64_at(40),
    };
    let body = &buf[HEADER_LEN..];
    if u64_at(48) != body.len() as u64 {
        return Err(bad(48, &format!("body of {} bytes, header says {}", body.len(), u64_at(48))));
    }
    if u32_at(56) != crc32fast::hash(body) {
        return Err(bad(HEADER_LEN, "body checksum mismatch"));
    }
    let mut r = Reader { buf: &buf, at: HEADER_LEN, what: "MANIFEST" };
    let mut prev_id = 0;
    for _ in 0..header.metrics {
        let id = r.u64()?;
        if id <= prev_id || id >= header.next_id {
            return Err(r.corrupt(format!("metric id {id} out of order or past next_id {}", header.next_id)));
        }
        prev_id = id;
        let name_len = r.u32()? as usize;
        let n_parts = r.u32()? as usize;
        let n_ext = r.u32()? as usize;
        r.u32()?;
        let name =
            std::str::from_utf8(r.bytes(name_len)?).map_err(|_| r.corrupt("metric name is not UTF-8"))?;
        let name = name.to_owned();
        r.bytes(name_len.next_multiple_of(8) - name_len)?;
        if n_parts.saturating_mul(48).saturating_add(n_ext.saturating_mul(40)) > buf.len() - r.at {
            return Err(r.corrupt("part and extent counts run past the end of the file"));
        }
        let mut parts = Vec::with_capacity(n_parts);
        for _ in 0..n_parts {
            let start = r.i64()?;
            parts.push((start, get_ref(&mut r)?));
        }
        let mut extents = Vec::with_capacity(n_ext);
        for _ in 0..n_ext {
            extents.push(get_ref(&mut r)?);
        }
        metric(MetricEntry { id, name, parts, extents })?;
    }
    if r.at != buf.len() {
        return Err(r.corrupt("trailing bytes after the last metric"));
    }
    Ok(Some(header))
}
