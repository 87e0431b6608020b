//! The manifest: the on-disk form of the global transaction and the partition maps — a
//! copy-on-write radix tree over metric ids whose leaves hold fixed-size metric entries
//! (seed §4). A checkpoint appends new versions of the blobs it changed (a metric's entry
//! leaf, the chunks of its part list that changed, the nodes on the path to the root) and
//! then flips the superblock: it writes the touched paths, not the whole map.
//!
//! ```text
//! offset 0 and 4096: two copies of the superblock, written one after the other (the valid
//! one with the higher generation wins: a copy torn by a crash, or damaged, is not needed)
//!   │ magic "TSDBMAN2" │ format u32 │ 0 u32 │ generation u64 │ root u64 │ height u32 │ 0 u32 │
//!   │ checkpoint_seq u64 │ next_id u64 │ next_data_seg u64 │ end u64 │ live u64 │ metrics u64 │ crc u32 │
//! from 8192: blobs, each │ crc u32 │ kind u8 │ 0 [3] │ len u32 │ 0 u32 │ body (len bytes) │ 0-pad to 8 │
//!   NODE   64 x child offset u64 (0 = empty)           radix level >= 1: 6 bits of the id each
//!   LEAF   64 x entry (64 bytes)                        ids [64k, 64k + 64)
//!   NAME   the metric's name (UTF-8)
//!   INDEX  n x chunk offset u64                         a metric's part list, in chunks
//!   CHUNK  up to 84 x part (start i64, block ref)       48 bytes each
//!   EXTENTS n x block ref                               the head's persisted extents
//! entry: │ id u64 (0 = none) │ name u64 │ index u64 │ extents u64 │ parts u32 │ extents u32 │ inline name [16] │ retention i64 │
//!   (name: a NAME blob's offset, or 1 << 63 | length when the name, at most 16 bytes, is inline;
//!   retention: the metric's own retention span, 0 = the database's default)
//! block ref (40 bytes): │ segment u64 │ offset u64 │ length u32 │ count u32 │ first_ts i64 │ last_ts i64 │
//! ```
//!
//! A blob's `crc` covers everything after it up to the end of the body. `end` is the file
//! length the superblock vouches for (a crash may leave bytes after it: they are ignored
//! and overwritten); `live` counts the bytes of blobs reachable from `root`. When the file
//! grows past twice its live bytes, the next checkpoint rewrites it compactly (to
//! `manifest-rewrite/MANIFEST`, then renamed over `MANIFEST`).
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::{io_err, sync_dir};
use crate::{Error, Result};

pub const MAGIC: [u8; 8] = *b"TSDBMAN2";
pub const FORMAT: u32 = 3;
pub const FILE: &str = "MANIFEST";
const SLOT: u64 = 4096;
const FIRST_BLOB: u64 = 2 * SLOT;
const SUPER_LEN: usize = 92;
const BLOB_HEADER: usize = 16;
const FAN_BITS: u32 = 6;
const FAN: usize = 1 << FAN_BITS;
const ENTRY: usize = 64;
/// In an entry's name field: the name is in the entry itself, from byte `INLINE_AT` (at most
/// `INLINE_MAX` bytes); the field's low bits are its length.
const INLINE_NAME: u64 = 1 << 63;
const INLINE_AT: usize = 40;
const INLINE_MAX: usize = 16;
/// The metric's retention span (i64).
const RETENTION_AT: usize = INLINE_AT + INLINE_MAX;
const PART: usize = 48;
const REF: usize = 40;
/// Parts per chunk: a chunk blob fits in a 4 KiB page.
const CHUNK_PARTS: usize = 84;

const NODE: u8 = 1;
const LEAF: u8 = 2;
const NAME: u8 = 3;
const INDEX: u8 = 4;
const CHUNK: u8 = 5;
const EXTENTS: u8 = 6;

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
    /// The metric's own retention span (0: the database's default).
    pub retention: i64,
}

/// A metric's state to write: name, parts (with the first timestamp each owns), extents,
/// retention span.
pub type EntryRef<'a> = (&'a str, &'a [(i64, BlockRef)], &'a [BlockRef], i64);

/// A metric's new state for [`Manifest::commit`]: `None` removes it.
pub struct Change<'a> {
    pub id: u64,
    pub entry: Option<EntryRef<'a>>,
}

/// The superblock's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Every write with a sequence number up to this is in the manifest's data.
    pub checkpoint_seq: u64,
    pub next_id: u64,
    pub next_data_seg: u64,
    pub metrics: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Super {
    generation: u64,
    root: u64,
    height: u32,
    header: Header,
    end: u64,
    live: u64,
}

/// The open manifest file.
pub struct Manifest {
    dir: PathBuf,
    file: File,
    map: Option<Mmap>,
    sb: Super,
    fsync: bool,
}

impl Manifest {
    /// Open `DIR/MANIFEST`, creating an empty one when there is none. Returns it and the
    /// header of the last checkpoint (`None` for a new one).
    pub fn open(dir: &Path, fsync: bool) -> Result<(Manifest, Option<Header>)> {
        let path = dir.join(FILE);
        let existed = path.exists();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err("cannot open manifest", &path, &e))?;
        let mut m = Manifest { dir: dir.to_owned(), file, map: None, sb: Super::default(), fsync };
        if !existed || m.file.metadata().map_err(|e| io_err("cannot stat manifest", &path, &e))?.len() == 0 {
            m.sb = Super {
                end: FIRST_BLOB,
                header: Header { next_id: 1, next_data_seg: 1, ..Header::default() },
                ..Super::default()
            };
            m.write_super()?;
            sync_dir(dir)?;
            m.remap()?;
            return Ok((m, None));
        }
        m.remap()?;
        let (slots, file_len) = {
            let buf = m.bytes();
            ([read_super(buf, 0), read_super(buf, SLOT as usize)], buf.len())
        };
        m.sb = match slots {
            [Some(a), Some(b)] => {
                if a.generation >= b.generation {
                    a
                } else {
                    b
                }
            }
            [Some(a), None] | [None, Some(a)] => a,
            [None, None] => {
                let buf = m.bytes();
                if buf.len() >= 12 && buf[..8] == MAGIC && u32_at(buf, 8) != FORMAT {
                    return Err(Error::Corruption(format!(
                        "MANIFEST offset 0: manifest format {}, this build reads format {FORMAT}",
                        u32_at(buf, 8)
                    )));
                }
                return Err(Error::Corruption("MANIFEST offset 0: no valid superblock".into()));
            }
        };
        if m.sb.end > file_len as u64 || m.sb.end < FIRST_BLOB {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: superblock says {} bytes, the file has {file_len}",
                m.sb.end
            )));
        }
        let header = (m.sb.generation > 0).then_some(m.sb.header);
        Ok((m, header))
    }

    /// Every metric, ascending id. Every blob is checked; damage is a corruption error
    /// naming the offset.
    pub fn load(&self, mut f: impl FnMut(MetricEntry) -> Result<()>) -> Result<()> {
        let mut entries = Vec::new();
        if self.sb.root != 0 {
            self.collect(self.sb.root, self.sb.height - 1, 0, &mut entries)?;
        }
        if entries.len() as u64 != self.sb.header.metrics {
            return Err(Error::Corruption(format!(
                "MANIFEST offset 0: superblock counts {} metrics, the tree holds {}",
                self.sb.header.metrics,
                entries.len()
            )));
        }
        for (id, e) in entries {
            f(self.entry(id, &e)?)?;
        }
        Ok(())
    }

    /// Append the changed metrics and make a new superblock current: the checkpoint's
    /// commit. `changes` must be sorted by id, each id once.
    /// With `closing`, a file carrying more than 5% of dead blobs is rewritten (a closed
    /// database is about the size of what it holds); otherwise only past twice its live size.
    pub fn commit(
        &mut self,
        changes: &[Change<'_>],
        header: Header,
        fsync: bool,
        closing: bool,
    ) -> Result<()> {
        let saved = std::mem::replace(&mut self.fsync, fsync);
        let mut result = self.commit_inner(changes, header);
        let (end, live) = self.sizes();
        let bloated = if closing { end > live + live / 20 + 4096 } else { end > 2 * live + (1 << 20) };
        if result.is_ok() && bloated {
            result = self.rewrite();
        }
        self.fsync = saved;
        result
    }

    fn commit_inner(&mut self, changes: &[Change<'_>], header: Header) -> Result<()> {
        let file =
            self.file.try_clone().map_err(|e| io_err("cannot write manifest", &self.dir.join(FILE), &e))?;
        let mut w = Appender::new(&file, self.sb.end);
        let mut sb = self.sb;
        // Grow the tree until it spans every id (a new root above the old one).
        let max_id = changes.iter().map(|c| c.id).max().unwrap_or(0).max(header.next_id);
        if sb.height == 0 {
            sb.height = 1;
        }
        while beyond(max_id, sb.height) {
            if sb.root != 0 {
                let mut node = [0u8; FAN * 8];
                node[..8].copy_from_slice(&sb.root.to_le_bytes());
                sb.root = w.pinned_blob(NODE, &node);
                sb.live += blob_size(FAN * 8);
            }
            sb.height += 1;
        }
        let mut metrics = sb.header.metrics as i64;
        let mut live = sb.live as i64;
        let mut prepared = Vec::with_capacity(changes.len());
        for c in changes {
            let old = self.lookup(self.sb.root, self.sb.height, c.id)?;
            let entry = match c.entry {
                Some((name, parts, extents, retention)) => {
                    let e = self.write_metric(&mut w, &mut live, c.id, old.as_ref(), name, parts, extents)?;
                    Some(with_retention(e, retention))
                }
                None => {
                    if let Some(o) = &old {
                        self.release_metric(o, &mut live)?;
                    }
                    None
                }
            };
            metrics += i64::from(entry.is_some()) - i64::from(old.is_some());
            prepared.push((c.id, entry));
        }
        if !prepared.is_empty() {
            sb.root = self.update(&mut w, &mut live, sb.root, sb.height - 1, &prepared)?;
        }
        sb.header = Header { metrics: metrics as u64, ..header };
        sb.live = live as u64;
        let path = self.dir.join(FILE);
        sb.end = w.finish().map_err(|e| io_err("cannot write manifest", &path, &e))?;
        sb.generation += 1;
        if self.fsync {
            self.file.sync_data().map_err(|e| io_err("cannot sync manifest", &path, &e))?;
        }
        self.sb = sb;
        self.write_super()?;
        self.remap()
    }

    /// Offsets of the superblock copies that fail their checks (magic, format, checksum).
    /// Opening needs one good copy; a damaged other one is survived, and reported by a check.
    pub fn damaged_superblocks(&self) -> Vec<u64> {
        [0, SLOT].into_iter().filter(|&slot| read_super(self.bytes(), slot as usize).is_none()).collect()
    }

    /// Bytes of the file, and how many of them the current tree uses.
    pub fn sizes(&self) -> (u64, u64) {
        (self.sb.end, self.sb.live + FIRST_BLOB)
    }

    /// Rewrite the whole tree compactly into a new file and rename it over this one.
    fn rewrite(&mut self) -> Result<()> {
        let mut all = Vec::new();
        self.load(|m| {
            all.push(m);
            Ok(())
        })?;
        let tmp_dir = self.dir.join("manifest-rewrite");
        let _ = std::fs::remove_dir_all(&tmp_dir);
        std::fs::create_dir(&tmp_dir).map_err(|e| io_err("cannot create directory", &tmp_dir, &e))?;
        let (mut fresh, _) = Manifest::open(&tmp_dir, self.fsync)?;
        let changes: Vec<Change<'_>> = all
            .iter()
            .map(|m| Change { id: m.id, entry: Some((&m.name, &m.parts, &m.extents, m.retention)) })
            .collect();
        let mut header = self.sb.header;
        header.metrics = 0;
        fresh.commit_inner(&changes, header)?;
        drop(fresh);
        let dst = self.dir.join(FILE);
        std::fs::rename(tmp_dir.join(FILE), &dst).map_err(|e| io_err("cannot rename manifest", &dst, &e))?;
        let _ = std::fs::remove_dir(&tmp_dir);
        if self.fsync {
            sync_dir(&self.dir)?;
        }
        let (reopened, _) = Manifest::open(&self.dir, self.fsync)?;
        *self = reopened;
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    fn remap(&mut self) -> Result<()> {
        let path = self.dir.join(FILE);
        self.map = None;
        self.map = Some(map(&self.file, &path)?);
        Ok(())
    }

    fn write_super(&mut self) -> Result<()> {
        let s = &self.sb;
        let mut b = [0u8; SUPER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT.to_le_bytes());
        b[16..24].copy_from_slice(&s.generation.to_le_bytes());
        b[24..32].copy_from_slice(&s.root.to_le_bytes());
        b[32..36].copy_from_slice(&s.height.to_le_bytes());
        b[40..48].copy_from_slice(&s.header.checkpoint_seq.to_le_bytes());
        b[48..56].copy_from_slice(&s.header.next_id.to_le_bytes());
        b[56..64].copy_from_slice(&s.header.next_data_seg.to_le_bytes());
        b[64..72].copy_from_slice(&s.end.to_le_bytes());
        b[72..80].copy_from_slice(&s.live.to_le_bytes());
        b[80..88].copy_from_slice(&s.header.metrics.to_le_bytes());
        let crc = crc32fast::hash(&b[..88]);
        b[88..92].copy_from_slice(&crc.to_le_bytes());
        let path = self.dir.join(FILE);
        if self.file.metadata().map_err(|e| io_err("cannot stat manifest", &path, &e))?.len() < FIRST_BLOB {
            self.file.set_len(FIRST_BLOB).map_err(|e| io_err("cannot size manifest", &path, &e))?;
        }
        // Copy 0, synced, then copy 1: a crash tears at most one of them.
        for slot in [0, SLOT] {
            self.file
                .write_all_at(&b, slot)
                .map_err(|e| io_err("cannot write manifest superblock", &path, &e))?;
            if self.fsync {
                self.file.sync_data().map_err(|e| io_err("cannot sync manifest", &path, &e))?;
            }
        }
        Ok(())
    }

    /// The body of the blob at `off`, checked to be of `kind`.
    fn blob(&self, off: u64, kind: u8) -> Result<&[u8]> {
        let buf = self.bytes();
        let bad = |msg: String| Error::Corruption(format!("MANIFEST offset {off}: {msg}"));
        let at = usize::try_from(off).map_err(|_| bad("offset out of range".into()))?;
        if off < FIRST_BLOB || off >= self.sb.end || at + BLOB_HEADER > buf.len() {
            return Err(bad(format!("reference outside the file's {} bytes", self.sb.end)));
        }
        let len = u32::from_le_bytes(buf[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        let end = at + BLOB_HEADER + len;
        if end as u64 > self.sb.end {
            return Err(bad(format!("blob of {len} bytes runs past the end")));
        }
        let crc = u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"));
        if crc != crc32fast::hash(&buf[at + 4..end]) {
            return Err(bad("blob checksum mismatch".into()));
        }
        if buf[at + 4] != kind {
            return Err(bad(format!("blob of kind {} where kind {kind} was expected", buf[at + 4])));
        }
        Ok(&buf[at + BLOB_HEADER..end])
    }

    fn blob_len(&self, off: u64, kind: u8) -> Result<u64> {
        Ok(blob_size(self.blob(off, kind)?.len()))
    }

    /// The entry of `id` in the tree at `root` (height `height`), if any.
    fn lookup(&self, root: u64, height: u32, id: u64) -> Result<Option<[u8; ENTRY]>> {
        let mut node = root;
        for level in (1..height).rev() {
            if node == 0 {
                return Ok(None);
            }
            let b = self.blob(node, NODE)?;
            let k = ((id >> (FAN_BITS * level)) as usize) % FAN;
            node = u64_at(b, 8 * k);
        }
        if node == 0 || beyond(id, height) {
            return Ok(None);
        }
        let b = self.blob(node, LEAF)?;
        let k = (id as usize) % FAN;
        let e: [u8; ENTRY] = b[ENTRY * k..ENTRY * (k + 1)].try_into().expect("entry");
        Ok((u64_at(&e, 0) != 0).then_some(e))
    }

    fn collect(&self, node: u64, level: u32, base: u64, out: &mut Vec<(u64, [u8; ENTRY])>) -> Result<()> {
        if level == 0 {
            let b = self.blob(node, LEAF)?;
            if b.len() != FAN * ENTRY {
                return Err(Error::Corruption(format!("MANIFEST offset {node}: leaf of {} bytes", b.len())));
            }
            for k in 0..FAN {
                let e: [u8; ENTRY] = b[ENTRY * k..ENTRY * (k + 1)].try_into().expect("entry");
                let id = u64_at(&e, 0);
                if id != 0 {
                    if id != base + k as u64 {
                        return Err(Error::Corruption(format!(
                            "MANIFEST offset {node}: id {id} in the slot of {}",
                            base + k as u64
                        )));
                    }
                    out.push((id, e));
                }
            }
            return Ok(());
        }
        let b = self.blob(node, NODE)?;
        if b.len() != FAN * 8 {
            return Err(Error::Corruption(format!("MANIFEST offset {node}: node of {} bytes", b.len())));
        }
        for k in 0..FAN {
            let child = u64_at(b, 8 * k);
            if child != 0 {
                self.collect(child, level - 1, base + ((k as u64) << (FAN_BITS * level)), out)?;
            }
        }
        Ok(())
    }

    fn entry(&self, id: u64, e: &[u8; ENTRY]) -> Result<MetricEntry> {
        let bad = |msg: &str| Error::Corruption(format!("MANIFEST: metric {id}: {msg}"));
        let name_field = u64_at(e, 8);
        let name_bytes = if name_field & INLINE_NAME != 0 {
            let len = (name_field & !INLINE_NAME) as usize;
            e.get(INLINE_AT..INLINE_AT + len).ok_or_else(|| bad("inline name longer than its room"))?
        } else {
            self.blob(name_field, NAME)?
        };
        let name = std::str::from_utf8(name_bytes).map_err(|_| bad("name is not UTF-8"))?;
        let (n_parts, n_ext) = (u32_at(e, 32) as usize, u32_at(e, 36) as usize);
        let mut parts = Vec::with_capacity(n_parts);
        if u64_at(e, 16) != 0 {
            let index = self.blob(u64_at(e, 16), INDEX)?;
            for c in index.chunks_exact(8) {
                let chunk = self.blob(u64_at(c, 0), CHUNK)?;
                for p in chunk.chunks_exact(PART) {
                    parts.push((u64_at(p, 0) as i64, get_ref(&p[8..])?));
                }
            }
        }
        let mut extents = Vec::with_capacity(n_ext);
        if u64_at(e, 24) != 0 {
            for r in self.blob(u64_at(e, 24), EXTENTS)?.chunks_exact(REF) {
                extents.push(get_ref(r)?);
            }
        }
        if parts.len() != n_parts || extents.len() != n_ext {
            return Err(bad(&format!(
                "entry counts {n_parts} parts and {n_ext} extents, its blobs hold {} and {}",
                parts.len(),
                extents.len()
            )));
        }
        Ok(MetricEntry {
            id,
            name: name.to_owned(),
            parts,
            extents,
            retention: u64_at(e, RETENTION_AT) as i64,
        })
    }

    /// Write what changed of a metric (reusing the name, unchanged chunks and extents of
    /// `old`); returns its new entry.
    #[allow(clippy::too_many_arguments)]
    fn write_metric(
        &self,
        w: &mut Appender<'_>,
        live: &mut i64,
        id: u64,
        old: Option<&[u8; ENTRY]>,
        name: &str,
        parts: &[(i64, BlockRef)],
        extents: &[BlockRef],
    ) -> Result<[u8; ENTRY]> {
        let mut e = [0u8; ENTRY];
        // Names never change: an existing entry keeps its name (inline or blob).
        let name_field = match old {
            Some(o) => {
                e[INLINE_AT..INLINE_AT + INLINE_MAX].copy_from_slice(&o[INLINE_AT..INLINE_AT + INLINE_MAX]);
                u64_at(o, 8)
            }
            None if name.len() <= INLINE_MAX => {
                e[INLINE_AT..INLINE_AT + name.len()].copy_from_slice(name.as_bytes());
                INLINE_NAME | name.len() as u64
            }
            None => {
                *live += blob_size(name.len()) as i64;
                w.blob(NAME, name.as_bytes())
            }
        };
        // Parts, chunk by chunk: an unchanged chunk keeps its blob.
        let old_chunks: Vec<u64> = match old.map(|o| u64_at(o, 16)).filter(|&i| i != 0) {
            Some(i) => self.blob(i, INDEX)?.chunks_exact(8).map(|c| u64_at(c, 0)).collect(),
            None => Vec::new(),
        };
        let mut index = Vec::with_capacity(parts.len().div_ceil(CHUNK_PARTS) * 8);
        let mut chunk = Vec::with_capacity(CHUNK_PARTS * PART);
        for (k, ps) in parts.chunks(CHUNK_PARTS).enumerate() {
            chunk.clear();
            for (start, r) in ps {
                chunk.extend_from_slice(&start.to_le_bytes());
                put_ref(&mut chunk, r);
            }
            let reuse = match old_chunks.get(k) {
                Some(&o) if self.blob(o, CHUNK)? == chunk.as_slice() => Some(o),
                Some(&o) => {
                    *live -= self.blob_len(o, CHUNK)? as i64;
                    None
                }
                None => None,
            };
            let off = reuse.unwrap_or_else(|| {
                *live += blob_size(chunk.len()) as i64;
                w.blob(CHUNK, &chunk)
            });
            index.extend_from_slice(&off.to_le_bytes());
        }
        for &o in old_chunks.iter().skip(parts.len().div_ceil(CHUNK_PARTS)) {
            *live -= self.blob_len(o, CHUNK)? as i64;
        }
        // Equal indexes mean every chunk was kept.
        let index_off = self.keep_or_write(w, live, old.map_or(0, |o| u64_at(o, 16)), INDEX, &index)?;
        let mut ext = Vec::with_capacity(extents.len() * REF);
        for r in extents {
            put_ref(&mut ext, r);
        }
        let ext_off = self.keep_or_write(w, live, old.map_or(0, |o| u64_at(o, 24)), EXTENTS, &ext)?;
        e[..8].copy_from_slice(&id.to_le_bytes());
        e[8..16].copy_from_slice(&name_field.to_le_bytes());
        e[16..24].copy_from_slice(&index_off.to_le_bytes());
        e[24..32].copy_from_slice(&ext_off.to_le_bytes());
        e[32..36].copy_from_slice(&(parts.len() as u32).to_le_bytes());
        e[36..40].copy_from_slice(&(extents.len() as u32).to_le_bytes());
        Ok(e)
    }

    /// The blob of `kind` holding `body`, given the metric's previous one (`old`, 0 if none):
    /// `old` itself when it holds the same bytes, else a new blob (none for an empty body),
    /// the old one counted as dead.
    fn keep_or_write(
        &self,
        w: &mut Appender<'_>,
        live: &mut i64,
        old: u64,
        kind: u8,
        body: &[u8],
    ) -> Result<u64> {
        if old != 0 {
            let old_body = self.blob(old, kind)?;
            if old_body == body {
                return Ok(old);
            }
            *live -= blob_size(old_body.len()) as i64;
        }
        if body.is_empty() {
            return Ok(0);
        }
        *live += blob_size(body.len()) as i64;
        Ok(w.blob(kind, body))
    }

    /// Count a removed metric's blobs as no longer live.
    fn release_metric(&self, o: &[u8; ENTRY], live: &mut i64) -> Result<()> {
        if u64_at(o, 8) & INLINE_NAME == 0 {
            *live -= self.blob_len(u64_at(o, 8), NAME)? as i64;
        }
        if u64_at(o, 16) != 0 {
            for c in self.blob(u64_at(o, 16), INDEX)?.chunks_exact(8) {
                *live -= self.blob_len(u64_at(c, 0), CHUNK)? as i64;
            }
            *live -= self.blob_len(u64_at(o, 16), INDEX)? as i64;
        }
        if u64_at(o, 24) != 0 {
            *live -= self.blob_len(u64_at(o, 24), EXTENTS)? as i64;
        }
        Ok(())
    }

    /// Apply `changes` (sorted by id, all under `node`) to the subtree at `node` (level
    /// `level`, 0 = leaf); returns the new subtree's offset (0 when it became empty).
    fn update(
        &self,
        w: &mut Appender<'_>,
        live: &mut i64,
        node: u64,
        level: u32,
        changes: &[(u64, Option<[u8; ENTRY]>)],
    ) -> Result<u64> {
        if level == 0 {
            let mut leaf = match node {
                0 => vec![0u8; FAN * ENTRY],
                n => self.body(w, n, LEAF)?,
            };
            for (id, e) in changes {
                let k = (*id as usize) % FAN;
                leaf[ENTRY * k..ENTRY * (k + 1)].copy_from_slice(&e.unwrap_or([0u8; ENTRY]));
            }
            return Ok(self.replace(w, live, node, LEAF, &leaf));
        }
        let mut body = match node {
            0 => vec![0u8; FAN * 8],
            n => self.body(w, n, NODE)?,
        };
        let mut i = 0;
        while i < changes.len() {
            let k = ((changes[i].0 >> (FAN_BITS * level)) as usize) % FAN;
            let j = i + changes[i..].partition_point(|c| ((c.0 >> (FAN_BITS * level)) as usize) % FAN == k);
            let child = u64_at(&body, 8 * k);
            let new = self.update(w, live, child, level - 1, &changes[i..j])?;
            body[8 * k..8 * k + 8].copy_from_slice(&new.to_le_bytes());
            i = j;
        }
        Ok(self.replace(w, live, node, NODE, &body))
    }

    /// The body of blob `off`, in the file or among the blobs `w` is about to append (a new
    /// root made when the tree grows).
    fn body(&self, w: &Appender<'_>, off: u64, kind: u8) -> Result<Vec<u8>> {
        if off < w.at {
            return Ok(self.blob(off, kind)?.to_vec());
        }
        let pinned = w.pinned.iter().find(|(o, _)| *o == off).expect("only pinned new blobs are read back");
        Ok(pinned.1.clone())
    }

    /// Write `body` as the new version of blob `old` (0 if new); an all-zero body is no
    /// blob at all.
    fn replace(&self, w: &mut Appender<'_>, live: &mut i64, old: u64, kind: u8, body: &[u8]) -> u64 {
        if old != 0 {
            *live -= blob_size(body.len()) as i64; // nodes and leaves have fixed sizes
        }
        if body.iter().all(|&b| b == 0) {
            return 0;
        }
        *live += blob_size(body.len()) as i64;
        w.blob(kind, body)
    }
}

/// New blobs, appended after the file's end, written out in pieces of a few MiB (a commit of
/// a million metrics must not build its whole output in memory).
struct Appender<'f> {
    file: &'f File,
    /// Where the first new blob goes (the committed end of the file).
    at: u64,
    /// Bytes already written out, after `at`.
    flushed: u64,
    buf: Vec<u8>,
    /// Copies of the blobs this commit reads back (new roots made when the tree grows).
    pinned: Vec<(u64, Vec<u8>)>,
    err: Option<std::io::Error>,
}

// Small under test, so that commits there write out in many pieces.
const FLUSH_BYTES: usize = if cfg!(test) { 4096 } else { 4 << 20 };

impl<'f> Appender<'f> {
    fn new(file: &'f File, at: u64) -> Appender<'f> {
        Appender { file, at, flushed: 0, buf: Vec::new(), pinned: Vec::new(), err: None }
    }

    /// The offset just past the last blob.
    fn end(&self) -> u64 {
        self.at + self.flushed + self.buf.len() as u64
    }

    /// Write out what is buffered; the first error sticks and is returned by `finish`.
    fn flush(&mut self) {
        if self.err.is_none()
            && let Err(e) = self.file.write_all_at(&self.buf, self.at + self.flushed)
        {
            self.err = Some(e);
        }
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
    }

    fn finish(mut self) -> std::io::Result<u64> {
        self.flush();
        match self.err {
            Some(e) => Err(e),
            None => Ok(self.at + self.flushed),
        }
    }

    /// Append a blob that this commit will read back.
    fn pinned_blob(&mut self, kind: u8, body: &[u8]) -> u64 {
        let off = self.blob(kind, body);
        self.pinned.push((off, body.to_vec()));
        off
    }

    fn blob(&mut self, kind: u8, body: &[u8]) -> u64 {
        if self.buf.len() >= FLUSH_BYTES {
            self.flush();
        }
        let off = self.end();
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; BLOB_HEADER]);
        self.buf[start + 4] = kind;
        self.buf[start + 8..start + 12].copy_from_slice(&(body.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(body);
        let crc = crc32fast::hash(&self.buf[start + 4..]);
        self.buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
        self.buf.resize(self.buf.len().next_multiple_of(8), 0);
        off
    }
}

/// Whether `id` is past what a tree of `height` levels spans (64^height ids).
fn beyond(id: u64, height: u32) -> bool {
    id.checked_shr(FAN_BITS * height).is_some_and(|rest| rest > 0)
}

fn blob_size(body: usize) -> u64 {
    (BLOB_HEADER + body).next_multiple_of(8) as u64
}

fn read_super(buf: &[u8], at: usize) -> Option<Super> {
    let b = buf.get(at..at + SUPER_LEN)?;
    let crc = u32::from_le_bytes(b[88..92].try_into().ok()?);
    if b[..8] != MAGIC || crc != crc32fast::hash(&b[..88]) || u32_at(b, 8) != FORMAT {
        return None;
    }
    Some(Super {
        generation: u64_at(b, 16),
        root: u64_at(b, 24),
        height: u32_at(b, 32),
        header: Header {
            checkpoint_seq: u64_at(b, 40),
            next_id: u64_at(b, 48),
            next_data_seg: u64_at(b, 56),
            metrics: u64_at(b, 80),
        },
        end: u64_at(b, 64),
        live: u64_at(b, 72),
    })
}

/// Entry `e` with its retention field set.
fn with_retention(mut e: [u8; ENTRY], retention: i64) -> [u8; ENTRY] {
    e[RETENTION_AT..].copy_from_slice(&retention.to_le_bytes());
    e
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn put_ref(e: &mut Vec<u8>, b: &BlockRef) {
    e.extend_from_slice(&b.seg.to_le_bytes());
    e.extend_from_slice(&b.off.to_le_bytes());
    e.extend_from_slice(&b.len.to_le_bytes());
    e.extend_from_slice(&b.count.to_le_bytes());
    e.extend_from_slice(&b.first_ts.to_le_bytes());
    e.extend_from_slice(&b.last_ts.to_le_bytes());
}

fn get_ref(r: &[u8]) -> Result<BlockRef> {
    let b = BlockRef {
        seg: u64_at(r, 0),
        off: u64_at(r, 8),
        len: u32_at(r, 16),
        count: u32_at(r, 20),
        first_ts: u64_at(r, 24) as i64,
        last_ts: u64_at(r, 32) as i64,
    };
    if b.count == 0 || b.first_ts > b.last_ts {
        return Err(Error::Corruption(format!(
            "MANIFEST: block reference with {} points from {} to {}",
            b.count, b.first_ts, b.last_ts
        )));
    }
    Ok(b)
}

#[allow(unsafe_code)]
fn map(file: &File, path: &Path) -> Result<Mmap> {
    // SAFETY: the manifest is only ever appended to (by this process, which holds
    // DIR/LOCK) and its superblock slots rewritten in place; the map is replaced after
    // every commit and reads stay within the length the superblock vouches for. A rewrite
    // renames a new file over it and reopens, dropping this map.
    unsafe { Mmap::map(file) }.map_err(|e| io_err("cannot map manifest", path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::shapes::Rng;

    fn r(seg: u64, off: u64) -> BlockRef {
        BlockRef { seg, off, len: 100, count: 10, first_ts: off as i64, last_ts: off as i64 + 9 }
    }

    type State = std::collections::BTreeMap<u64, (String, Vec<(i64, BlockRef)>, Vec<BlockRef>)>;

    fn loaded(m: &Manifest) -> State {
        let mut s = State::new();
        m.load(|e| {
            s.insert(e.id, (e.name, e.parts, e.extents));
            Ok(())
        })
        .unwrap();
        s
    }

    #[test]
    fn commits_write_only_what_changed_and_reopen_to_the_same_state() {
        let d = std::env::temp_dir().join(format!("tsdb-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        let mut rng = Rng::new(1, 0);
        let (mut m, h) = Manifest::open(&d, false).unwrap();
        assert!(h.is_none());
        let mut state = State::new();
        let mut next_id = 1;
        for round in 0..60u64 {
            let mut touched = std::collections::BTreeSet::new();
            for _ in 0..1 + rng.below(300) {
                match rng.below(10) {
                    0 if next_id < 20_000 => {
                        let id = next_id;
                        next_id += 1 + rng.below(3000); // sparse ids: the tree grows higher
                        // Short names live in the entry, long ones in a blob of their own.
                        let name = if id % 3 == 0 {
                            format!("host-{id:08}.a.rather.long.metric.name")
                        } else {
                            format!("m.{id}")
                        };
                        state.insert(id, (name, Vec::new(), Vec::new()));
                        touched.insert(id);
                    }
                    1 => {
                        if let Some(&id) = state.keys().nth(rng.below(state.len().max(1) as u64) as usize) {
                            state.remove(&id);
                            touched.insert(id);
                        }
                    }
                    _ => {
                        if let Some(&id) = state.keys().nth(rng.below(state.len().max(1) as u64) as usize) {
                            let e = state.get_mut(&id).unwrap();
                            if rng.below(2) == 0 {
                                let n = e.1.len() as i64;
                                e.1.push((n * 100, r(round, rng.below(1 << 30))));
                                if rng.below(5) == 0 && !e.1.is_empty() {
                                    let k = rng.below(e.1.len() as u64) as usize;
                                    e.1[k].1 = r(round, 7);
                                }
                            } else if rng.below(3) == 0 {
                                e.2.clear();
                            } else {
                                e.2.push(r(round, rng.below(1000)));
                            }
                            touched.insert(id);
                        }
                    }
                }
            }
            let changes: Vec<Change<'_>> = touched
                .iter()
                .map(|&id| Change {
                    id,
                    entry: state.get(&id).map(|e| (e.0.as_str(), e.1.as_slice(), e.2.as_slice(), 0)),
                })
                .collect();
            let before = m.sizes().0;
            let header = Header { checkpoint_seq: round, next_id, next_data_seg: 3, metrics: 0 };
            m.commit(&changes, header, false, false).unwrap();
            let written = m.sizes().0.saturating_sub(before);
            // A commit writes about what changed (a leaf and a path per metric, plus its
            // changed chunks), not the whole manifest.
            assert!(
                written < 16_000 * (changes.len() as u64 + 4),
                "{written} bytes for {} changes",
                changes.len()
            );
            assert_eq!(loaded(&m), state, "round {round}");
            if round % 10 == 9 {
                let (again, h) = Manifest::open(&d, false).unwrap();
                assert_eq!(h.unwrap().checkpoint_seq, round);
                assert_eq!(loaded(&again), state);
                m = again;
            }
        }
        let (file, live) = m.sizes();
        assert!(file <= 2 * live + (2 << 20), "rewrites keep the file near its live size: {file} vs {live}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_superblock_falls_back_and_damage_is_corruption() {
        let d = std::env::temp_dir().join(format!("tsdb-manifest-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        let (mut m, _) = Manifest::open(&d, false).unwrap();
        let parts = vec![(0, r(1, 64))];
        let h = |seq| Header { checkpoint_seq: seq, next_id: 2, next_data_seg: 2, metrics: 0 };
        m.commit(&[Change { id: 1, entry: Some(("a", &parts, &[], 0)) }], h(1), false, false).unwrap();
        let path = d.join(FILE);
        let first = std::fs::read(&path).unwrap();
        m.commit(&[Change { id: 1, entry: Some(("a", &parts, &[r(1, 500)], 0)) }], h(2), false, false)
            .unwrap();
        drop(m);
        let good = std::fs::read(&path).unwrap();
        let seq_of = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            Manifest::open(&d, false).map(|(_, h)| h.unwrap().checkpoint_seq)
        };
        // One damaged copy: the other has the same generation.
        let mut b = good.clone();
        b[20] ^= 1;
        assert_eq!(seq_of(&b).unwrap(), 2);
        // A crash while writing copy 0 of generation 2: copy 1 still says generation 1,
        // whose blobs are all there (the log was not truncated yet).
        b[SLOT as usize..SLOT as usize + SUPER_LEN]
            .copy_from_slice(&first[SLOT as usize..SLOT as usize + SUPER_LEN]);
        assert_eq!(seq_of(&b).unwrap(), 1);
        // A crash between the copies: copy 0 is new and whole.
        let mut b = good.clone();
        b[SLOT as usize..SLOT as usize + SUPER_LEN]
            .copy_from_slice(&first[SLOT as usize..SLOT as usize + SUPER_LEN]);
        assert_eq!(seq_of(&b).unwrap(), 2);
        // Both damaged: corruption.
        let mut b = good.clone();
        b[20] ^= 1;
        b[SLOT as usize + 20] ^= 1;
        assert!(matches!(seq_of(&b), Err(Error::Corruption(_))));
        let (m, _) = {
            std::fs::write(&path, &good).unwrap();
            Manifest::open(&d, false).unwrap()
        };
        assert_eq!(loaded(&m)[&1].2, vec![r(1, 500)]);
        drop(m);
        // Damage a blob: corruption naming the offset.
        let mut b = good.clone();
        let last = b.len() - 20;
        b[last] ^= 1;
        std::fs::write(&path, &b).unwrap();
        let (m, _) = Manifest::open(&d, false).unwrap();
        let err = m.load(|_| Ok(())).unwrap_err();
        assert!(matches!(&err, Error::Corruption(msg) if msg.starts_with("MANIFEST offset")), "{err:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
