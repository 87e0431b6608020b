//! Read-only inspection of an open database: what it holds ([`Database::inventory`], for
//! `tsdb stats`) and a verification of everything it stores ([`Database::check`], for
//! `tsdb check` and `ts_check`).
//!
//! Neither writes anything. Both read through one snapshot, so writers, seals and
//! checkpoints carry on meanwhile; `check` holds the checkpoint lock only while it reads the
//! manifest file, so that no checkpoint rewrites the file under it.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::partition::{PartitionMap, Sealed};
use crate::storage::manifest::BlockRef;
use crate::storage::segment;
use crate::storage::store::Store;
use crate::{Database, Error, Result, codec};

/// What [`Database::check`] verified, and the damage it found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "a check reports damage in `damage`, not as an error"]
pub struct CheckReport {
    /// Live metrics walked (every one of the snapshot).
    pub metrics: u64,
    /// Sealed partitions decoded.
    pub partitions: u64,
    /// Head extents decoded: blocks holding a head's points as of past checkpoints.
    pub extents: u64,
    /// Points decoded from those blocks (each block's own count, summed).
    pub points: u64,
    /// Bytes of those blocks.
    pub block_bytes: u64,
    /// Data segment files holding them (each file's header checked).
    pub segments: u64,
    /// Metric entries of the manifest, every blob on their paths checked.
    pub manifest_entries: u64,
    /// Bytes of the manifest file.
    pub manifest_bytes: u64,
    /// One message per problem found, each naming the file and offset (and the metric and
    /// partition where there is one). Empty when the database is healthy.
    pub damage: Vec<String>,
}

impl CheckReport {
    /// Whether no damage was found.
    pub fn is_ok(&self) -> bool {
        self.damage.is_empty()
    }
}

/// What a database holds, from [`Database::inventory`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Live metrics.
    pub metrics: u64,
    /// Points a full scan of every metric returns (one per metric and timestamp).
    pub points: u64,
    /// Of those, the points in sealed partitions (compressed, in data segments) ...
    pub sealed_points: u64,
    /// ... and the points only in heads (in memory; checkpoints copy them to extents).
    pub head_points: u64,
    /// Sealed partitions.
    pub partitions: u64,
    /// Head extents: blocks holding a head's points as of past checkpoints.
    pub extents: u64,
    /// Bytes of the blocks of partitions and extents.
    pub block_bytes: u64,
    /// Data segment files holding those blocks.
    pub segments: u64,
    /// The smallest and largest timestamp of any point (`None` without points).
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
}

impl Database {
    /// Verify every checksum and structural invariant of what the database stores, without
    /// writing anything.
    ///
    /// Opening has already checked the manifest and replayed (and checked) the log. This
    /// checks, under one snapshot: both superblock copies of the manifest and every blob
    /// its tree reaches; that the manifest's block references lie inside their segment
    /// files and do not overlap; every data segment's header; and for every metric, that its
    /// name resolves to it and that every sealed partition and head extent decodes (header
    /// and body crc32, strictly ascending timestamps, first/last timestamp and count as the
    /// reference says, min/max/sum/NaN count as the block's summary says), that partitions
    /// are ordered and hold only timestamps of the range they own, and that no two blocks
    /// overlap in a segment.
    ///
    /// Damage does not stop the walk: each problem becomes one message in
    /// [`CheckReport::damage`], naming the file and offset. `Err` means the check could not
    /// run (e.g. a file could not be read).
    pub fn check(&self) -> Result<CheckReport> {
        self.check_process()?;
        let mut r = CheckReport::default();
        self.check_manifest(&mut r)?;
        let snap = self.begin();
        let mut blocks: Vec<BlockAt> = Vec::new();
        let mut segments: BTreeSet<u64> = BTreeSet::new();
        let (mut ts, mut vals) = (Vec::new(), Vec::new());
        let mut walked = 0u64;
        for (id, map) in snap.version.ids.range_from(0) {
            walked += 1;
            let name = &*map.name;
            let who = format!("metric {name:?} (id {id})");
            if map.id.0 != id || snap.version.lookup(name).is_none_or(|m| m.id.0 != id) {
                r.damage.push(format!("{who}: its name does not resolve to its id (catalog out of step)"));
            }
            let n = map.parts.len();
            for (i, part) in map.parts.iter().enumerate() {
                r.partitions += 1;
                let what = format!("{who}, partition {} of {n}", i + 1);
                note_block(&part.data, BlockAt::part(id, i), &mut blocks, &mut segments);
                if i > 0 && part.start <= map.parts[i - 1].start {
                    r.damage.push(format!(
                        "{}: {what}: partitions out of order (starts at {}, the previous one at {})",
                        place(&part.data),
                        part.start,
                        map.parts[i - 1].start
                    ));
                }
                if !check_block(&part.data, &what, &mut r, &mut ts, &mut vals) {
                    continue;
                }
                let (first, last) = (ts[0], ts[ts.len() - 1]);
                if i > 0 && first < part.start {
                    r.damage.push(format!(
                        "{}: {what}: holds timestamp {first}, before the start of its range ({})",
                        place(&part.data),
                        part.start
                    ));
                }
                if let Some(next) = map.parts.get(i + 1)
                    && last >= next.start
                {
                    r.damage.push(format!(
                        "{}: {what}: holds timestamp {last}, in the range of the next partition (from {})",
                        place(&part.data),
                        next.start
                    ));
                }
            }
            let extents: Vec<Arc<Sealed>> = map.head.lock().extents().to_vec();
            for (i, e) in extents.iter().enumerate() {
                r.extents += 1;
                let what = format!("{who}, head extent {} of {}", i + 1, extents.len());
                note_block(e, BlockAt::extent(id, i), &mut blocks, &mut segments);
                check_block(e, &what, &mut r, &mut ts, &mut vals);
            }
        }
        r.metrics = walked;
        if walked != snap.version.ids.len() {
            r.damage.push(format!(
                "the metric index counts {} metrics but holds {walked}",
                snap.version.ids.len()
            ));
        }
        overlaps(&mut blocks, |b| match snap.version.ids.get(b.id) {
            Some(m) => format!("metric {:?} (id {}), {}", m.name, b.id, b.which()),
            None => format!("metric id {}, {}", b.id, b.which()),
        })
        .for_each(|m| r.damage.push(m));
        for &no in &segments {
            r.damage.extend(self.shared.store.check_segment_header(no)?);
        }
        r.segments = segments.len() as u64;
        Ok(r)
    }

    /// The manifest file: both superblock copies, every blob the tree reaches, and the
    /// block references of its entries. Holds the checkpoint lock: no checkpoint rewrites
    /// the file meanwhile.
    fn check_manifest(&self, r: &mut CheckReport) -> Result<()> {
        let store = &self.shared.store;
        let cp = store.manifest();
        let len = store.manifest_len()?;
        r.manifest_bytes = len;
        // Opening needs one valid superblock copy; a damaged one is survivable but is damage.
        for slot in cp.damaged_superblocks() {
            r.damage.push(format!(
                "MANIFEST offset {slot}: superblock copy damaged (magic, format or checksum); the \
                 database opens from the other copy, and the next checkpoint rewrites both"
            ));
        }
        let mut refs: Vec<BlockAt> = Vec::new();
        let mut seg_sizes: BTreeMap<u64, Option<u64>> = BTreeMap::new();
        let loaded = cp.load(|m| {
            r.manifest_entries += 1;
            let who = format!("MANIFEST: metric {:?} (id {})", m.name, m.id);
            for w in m.parts.windows(2) {
                if w[1].start <= w[0].start {
                    r.damage.push(format!(
                        "{who}: partitions out of order (starts {} then {})",
                        w[0].start, w[1].start
                    ));
                }
            }
            let parts = m.parts.iter().enumerate().map(|(i, p)| (&p.block, BlockAt::part(m.id, i)));
            let extents = m.extents.iter().enumerate().map(|(i, b)| (b, BlockAt::extent(m.id, i)));
            for (b, owner) in parts.chain(extents) {
                let size = *seg_sizes
                    .entry(b.seg)
                    .or_insert_with(|| std::fs::metadata(store.data_file(b.seg)).ok().map(|md| md.len()));
                let at = BlockAt { seg: b.seg, off: b.off, len: b.len, id: owner.0, which: owner.1 };
                let label = || Store::data_label(b.seg);
                match size {
                    None => r.damage.push(format!(
                        "{who}: {} refers to {}, which is missing",
                        at.which(),
                        label()
                    )),
                    Some(size)
                        if b.off < segment::HEADER_LEN || b.off.saturating_add(u64::from(b.len)) > size =>
                    {
                        r.damage.push(format!(
                            "{} offset {}: {who}: {} ({} bytes) lies outside the file's {size} bytes",
                            label(),
                            b.off,
                            at.which(),
                            b.len
                        ))
                    }
                    Some(_) => {}
                }
                if b.count == 0 || b.first_ts > b.last_ts || u64::from(b.count) > span(b) {
                    r.damage.push(format!(
                        "{} offset {}: {who}: the reference of {} is inconsistent ({} points from {} to {})",
                        label(),
                        b.off,
                        at.which(),
                        b.count,
                        b.first_ts,
                        b.last_ts
                    ));
                }
                refs.push(at);
            }
            Ok(())
        });
        drop(cp);
        match loaded {
            Ok(()) => {}
            Err(Error::Corruption(m)) => r.damage.push(m),
            Err(e) => return Err(e),
        }
        overlaps(&mut refs, |b| format!("metric id {}, {}", b.id, b.which()))
            .for_each(|m| r.damage.push(format!("{m} (in the manifest)")));
        Ok(())
    }

    /// Count what the database holds, through one snapshot: metrics, points (exactly what a
    /// full scan returns), partitions, extents, block bytes and segments, the time range,
    /// (live snapshots are in [`Database::stats`]). Reads every head; decodes a sealed partition only when a
    /// head holds a late point for a timestamp it may also hold. A damaged block it must
    /// decode is [`Error::Corruption`].
    pub fn inventory(&self) -> Result<Inventory> {
        let snap = self.begin();
        let mut inv = Inventory::default();
        let mut segments = BTreeSet::new();
        for (_, map) in snap.version.ids.range_from(0) {
            inv.metrics += 1;
            for part in map.parts.iter() {
                inv.partitions += 1;
                inv.sealed_points += part.data.len() as u64;
                count_block(&part.data, &mut inv, &mut segments);
            }
            for e in map.head.lock().extents() {
                inv.extents += 1;
                count_block(e, &mut inv, &mut segments);
            }
            let (head_ts, _) = map.head.visible(snap.seq, i64::MIN, i64::MAX)?;
            inv.head_points += (head_ts.len() - also_sealed(map, &head_ts)?) as u64;
            let first = [map.parts.first().map(|p| p.data.min_ts()), head_ts.first().copied()];
            let last = [map.parts.last().map(|p| p.data.max_ts()), head_ts.last().copied()];
            if let Some(f) = first.into_iter().flatten().min() {
                inv.first_ts = Some(inv.first_ts.map_or(f, |t| t.min(f)));
            }
            if let Some(l) = last.into_iter().flatten().max() {
                inv.last_ts = Some(inv.last_ts.map_or(l, |t| t.max(l)));
            }
        }
        inv.points = inv.sealed_points + inv.head_points;
        inv.segments = segments.len() as u64;
        Ok(inv)
    }
}

/// A block somewhere in a data segment and what refers to it, compactly (one per block of
/// the database is held at once, for the overlap check): metric `id`, and `which` is a
/// partition's index, or an extent's with the top bit set.
struct BlockAt {
    seg: u64,
    off: u64,
    len: u32,
    which: u32,
    id: u64,
}

const EXTENT: u32 = 1 << 31;

impl BlockAt {
    fn part(id: u64, i: usize) -> (u64, u32) {
        (id, i as u32 & !EXTENT)
    }

    fn extent(id: u64, i: usize) -> (u64, u32) {
        (id, i as u32 | EXTENT)
    }

    fn which(&self) -> String {
        match self.which {
            w if w & EXTENT != 0 => format!("head extent {}", (w & !EXTENT) + 1),
            w => format!("partition {}", w + 1),
        }
    }
}

/// How many distinct timestamps `first_ts..=last_ts` spans (saturating).
fn span(b: &BlockRef) -> u64 {
    (b.last_ts as i128 - b.first_ts as i128 + 1).clamp(0, u64::MAX as i128) as u64
}

/// `data/NNNNNNNN.seg offset N` of an on-disk block.
fn place(s: &Sealed) -> String {
    match (s.segment(), s.block_ref()) {
        (Some(seg), Some(r)) => format!("{} offset {}", seg.label(), r.off),
        _ => "in memory".into(),
    }
}

fn note_block(s: &Sealed, owner: (u64, u32), blocks: &mut Vec<BlockAt>, segments: &mut BTreeSet<u64>) {
    if let (Some(seg), Some(r)) = (s.segment(), s.block_ref()) {
        segments.insert(seg.no);
        blocks.push(BlockAt { seg: seg.no, off: r.off, len: r.len, id: owner.0, which: owner.1 });
    }
}

fn count_block(s: &Sealed, inv: &mut Inventory, segments: &mut BTreeSet<u64>) {
    if let Some(r) = s.block_ref() {
        inv.block_bytes += u64::from(r.len);
        segments.insert(r.seg);
    }
}

/// Decode block `s` into `ts`/`vals` and check it against its reference and its summary;
/// false (with the damage recorded) when it is damaged.
fn check_block(s: &Sealed, what: &str, r: &mut CheckReport, ts: &mut Vec<i64>, vals: &mut Vec<f64>) -> bool {
    let block = match s.block() {
        Ok(b) => b,
        Err(e) => {
            r.damage.push(format!("{e} ({what})"));
            return false;
        }
    };
    r.block_bytes += block.len() as u64;
    let at = place(s);
    if s.block_ref().is_some_and(|b| b.off % 8 != 0) {
        r.damage.push(format!("{at}: {what}: block not 8-byte aligned"));
    }
    let summary = match codec::header(block) {
        Ok(h) => h.summary,
        Err(e) => {
            r.damage.push(format!("{at}: {e} ({what})"));
            return false;
        }
    };
    if summary.count as usize != s.len() {
        r.damage.push(format!(
            "{at}: {what}: the block holds {} points, its reference says {}",
            summary.count,
            s.len()
        ));
        return false;
    }
    // Checks both checksums, strict ascent, and first/last timestamps against the reference.
    if let Err(e) = s.decode_into(ts, vals) {
        r.damage.push(format!("{e} ({what})"));
        return false;
    }
    r.points += ts.len() as u64;
    if let Err(e) = codec::check_summaries(block, ts, vals) {
        r.damage.push(format!("{at}: {what}: {e}"));
        return false;
    }
    true
}

/// Messages for blocks that overlap another one in the same segment (sorts `blocks`);
/// `who` names what refers to a block.
fn overlaps<'a>(
    blocks: &'a mut [BlockAt],
    who: impl Fn(&BlockAt) -> String + 'a,
) -> impl Iterator<Item = String> + 'a {
    blocks.sort_unstable_by_key(|b| (b.seg, b.off));
    blocks
        .windows(2)
        .filter(|w| w[0].seg == w[1].seg && w[0].off.saturating_add(u64::from(w[0].len)) > w[1].off)
        .map(move |w| {
            format!(
                "{} offset {}: the block of {} overlaps the block of {} at offset {} ({} bytes)",
                Store::data_label(w[1].seg),
                w[1].off,
                who(&w[1]),
                who(&w[0]),
                w[0].off,
                w[0].len
            )
        })
}

/// How many of the sorted, unique `head_ts` a sealed partition of `map` also holds (a late
/// write to a timestamp sealed earlier: the scan returns it once).
fn also_sealed(map: &PartitionMap, head_ts: &[i64]) -> Result<usize> {
    let Some(newest) = map.parts.last().map(|p| p.data.max_ts()) else { return Ok(0) };
    let late = &head_ts[..head_ts.partition_point(|&t| t <= newest)];
    let (mut ts, mut vals) = (Vec::new(), Vec::new());
    let mut both = 0;
    let mut i = 0;
    while i < late.len() {
        // The part owning late[i], and the late points it owns.
        let owner = map.parts.partition_point(|p| p.start <= late[i]).saturating_sub(1);
        let end = match map.parts.get(owner + 1) {
            Some(next) => i + late[i..].partition_point(|&t| t < next.start),
            None => late.len(),
        };
        let part = &map.parts[owner].data;
        if late[end - 1] >= part.min_ts() && late[i] <= part.max_ts() {
            part.decode_into(&mut ts, &mut vals)?;
            both += late[i..end].iter().filter(|t| ts.binary_search(t).is_ok()).count();
        }
        i = end;
    }
    Ok(both)
}
