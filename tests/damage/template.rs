//! A template as the cases see it: the image, the ops, and what its files hold (found by
//! parsing them as docs/format.md describes, independently of the engine's code).

use std::collections::BTreeMap;
use std::path::Path;

use crate::image::DirImg;
use crate::script::{Kind, Model, Op, ops_of, script};

/// A log record found by parsing a segment.
#[derive(Clone, Debug)]
pub struct Rec {
    pub seg: u64,
    pub off: u64,
    pub end: u64,
    pub seq: u64,
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// A manifest blob: offset, kind, body length.
#[derive(Clone, Copy, Debug)]
pub struct Blob {
    pub off: u64,
    pub kind: u8,
    pub len: u64,
}

/// A block reference decoded from the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BRef {
    pub seg: u64,
    pub off: u64,
    pub len: u64,
    pub extent: bool,
    pub paged: bool,
}

pub struct Template {
    pub kind: Kind,
    pub image: DirImg,
    pub ops: Vec<Op>,
    pub model: Model,
    pub older_manifest: Vec<u8>,
    pub wal_next: u64,
    pub checkpoint_seq: u64,
    /// Live manifest blobs (reachable from the root), by offset.
    pub live_blobs: BTreeMap<u64, Blob>,
    pub refs: Vec<BRef>,
    /// Log segment numbers, and the records of each op logged (`op_rec[i]` for op i).
    pub wal_segs: Vec<u64>,
    pub recs: Vec<Rec>,
    pub op_rec: Vec<Option<usize>>,
}

impl Template {
    /// One line on what the template holds.
    pub fn describe(&self) -> String {
        let data: Vec<String> = self
            .image
            .files
            .iter()
            .filter(|(k, _)| k.starts_with("data/"))
            .map(|(k, f)| {
                format!(
                    "{k} ({} bytes, {} named blocks)",
                    f.len,
                    self.refs.iter().filter(|r| k.contains(&seg_name(r.seg, "seg"))).count()
                )
            })
            .collect();
        let logged = self.op_rec.iter().filter(|r| r.is_some()).count();
        let mut line = format!(
            "{} template: {} ops, {} metrics, {} points; MANIFEST {} bytes ({} live blobs); {}",
            self.kind.name(),
            self.ops.len(),
            self.model.metrics.len(),
            self.model.metrics.values().map(|m| m.1.len()).sum::<usize>(),
            self.image.files["MANIFEST"].len,
            self.live_blobs.len(),
            data.join(", ")
        );
        if !self.wal_segs.is_empty() {
            let first = self.op_rec.iter().position(|r| r.is_some()).unwrap_or(0);
            line += &format!(
                "; log segments {:?} holding the last {logged} ops (from op {first}), checkpoint_seq {}",
                self.wal_segs, self.checkpoint_seq
            );
        }
        line
    }
}

/// The numbered files `dir/NNNNNNNN.ext` of an image: number and path, ascending.
pub fn numbered(img: &DirImg, dir: &str, ext: &str) -> Vec<(u64, String)> {
    let name =
        |k: &str| k.strip_prefix(dir)?.strip_prefix('/')?.strip_suffix(ext)?.strip_suffix('.')?.parse().ok();
    let mut v: Vec<(u64, String)> = img.files.keys().filter_map(|k| Some((name(k)?, k.clone()))).collect();
    v.sort();
    v
}

pub fn seg_name(no: u64, ext: &str) -> String {
    format!("{no:08}.{ext}")
}

pub fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub fn load_template(root: &Path, kind: Kind) -> Template {
    let base = root.join(kind.name());
    let image = DirImg::read(&base.join("db"));
    let meta = std::fs::read_to_string(base.join("meta")).unwrap();
    let field = |k: &str| -> u64 {
        meta.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("meta {k}"))
    };
    let ops = ops_of(&script(kind));
    let model = Model::after(&ops);
    let mut t = Template {
        kind,
        older_manifest: std::fs::read(base.join("MANIFEST.older")).unwrap(),
        wal_next: field("wal_next"),
        checkpoint_seq: field("checkpoint_seq"),
        live_blobs: BTreeMap::new(),
        refs: Vec::new(),
        wal_segs: Vec::new(),
        recs: Vec::new(),
        op_rec: vec![None; ops.len()],
        image,
        ops,
        model,
    };
    parse_manifest(&mut t);
    parse_wal(&mut t);
    t
}

/// Every blob from 8192 on, by walking the headers (│crc│kind│0[3]│len│0│body│, 8-aligned)
/// while their checksums hold.
pub fn manifest_blobs(m: &[u8]) -> Vec<Blob> {
    let mut out = Vec::new();
    let mut at = 8192usize;
    while at + 16 <= m.len() {
        let len = u32_at(m, at + 8) as usize;
        let end = at + 16 + len;
        if end > m.len() || u32_at(m, at) != crc32fast::hash(&m[at + 4..end]) {
            break;
        }
        out.push(Blob { off: at as u64, kind: m[at + 4], len: len as u64 });
        at = end.next_multiple_of(8);
    }
    out
}

/// LEB128 reader over a packed blob body.
pub struct Cur<'a> {
    pub b: &'a [u8],
    pub at: usize,
}

impl Cur<'_> {
    pub fn varint(&mut self) -> u64 {
        let mut x = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.b[self.at];
            self.at += 1;
            x |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return x;
            }
            shift += 7;
        }
    }
    pub fn signed(&mut self) -> i64 {
        let v = self.varint();
        (v >> 1) as i64 ^ -((v & 1) as i64)
    }
}

/// The previous block reference of a leaf or chunk (references are coded against it): its
/// segment, end (offset + length) and length. (Its count and span are coded too; skipped.)
#[derive(Default)]
pub struct RefState {
    pub seg: u64,
    pub end: u64,
    pub len: u64,
}

impl RefState {
    /// The next reference: segment, offset, length.
    pub fn get(&mut self, c: &mut Cur<'_>) -> (u64, u64, u64) {
        let (_first_ts, _span) = (c.varint(), c.varint());
        let seg = self.seg.wrapping_add(c.signed() as u64);
        let off = self.end.wrapping_add(c.signed() as u64);
        let len = self.len.wrapping_add(c.signed() as u64);
        let _count = c.varint();
        *self = RefState { seg, end: off + len, len };
        (seg, off, len)
    }
}

/// Find the live blobs (the root is the last blob a commit writes) and every block
/// reference, per docs/format.md (format 4 leaves and chunks).
pub fn parse_manifest(t: &mut Template) {
    let m = t.image.files["MANIFEST"].bytes();
    let blobs = manifest_blobs(&m);
    let by_off: BTreeMap<u64, Blob> = blobs.iter().map(|b| (b.off, *b)).collect();
    let root = blobs.last().expect("the manifest has blobs").off;
    let body = |off: u64| -> &[u8] {
        let b = by_off.get(&off).unwrap_or_else(|| panic!("no blob at manifest offset {off}"));
        &m[off as usize + 16..(off + 16 + b.len) as usize]
    };
    let mut raw: Vec<(u64, u64, u64, bool)> = Vec::new();
    let mut stack = vec![root];
    let mut live = BTreeMap::new();
    while let Some(off) = stack.pop() {
        let blob = by_off[&off];
        live.insert(off, blob);
        let b = body(off);
        match blob.kind {
            1 => stack.extend(b.chunks_exact(8).map(|c| u64_at(c, 0)).filter(|&c| c != 0)),
            7 => {
                let mut c = Cur { b, at: 8 };
                let present = u64_at(b, 0);
                let mut p = RefState::default();
                for _ in 0..present.count_ones() {
                    let h = c.varint();
                    if h & 1 == 1 {
                        live.insert(h >> 1, by_off[&(h >> 1)]);
                    } else {
                        let n = c.varint() as usize;
                        c.at += n;
                    }
                    let _retention = c.varint();
                    let h = c.varint();
                    if h & 1 == 1 {
                        let index = c.varint();
                        live.insert(index, by_off[&index]);
                        for chunk in body(index).chunks_exact(8).map(|x| u64_at(x, 0)) {
                            live.insert(chunk, by_off[&chunk]);
                            let cb = body(chunk);
                            let mut cc = Cur { b: cb, at: 0 };
                            let mut cp = RefState::default();
                            for _ in 0..cc.varint() {
                                let _start = cc.varint();
                                let (s, o, l) = cp.get(&mut cc);
                                raw.push((s, o, l, false));
                            }
                            assert_eq!(cc.at, cb.len(), "chunk at {chunk} parsed to its end");
                        }
                    } else {
                        for _ in 0..h >> 1 {
                            let _start = c.varint();
                            let (s, o, l) = p.get(&mut c);
                            raw.push((s, o, l, false));
                        }
                    }
                    let h = c.varint();
                    if h & 1 == 1 {
                        let ext = c.varint();
                        live.insert(ext, by_off[&ext]);
                        for r in body(ext).chunks_exact(40) {
                            raw.push((u64_at(r, 0), u64_at(r, 8), u64::from(u32_at(r, 16)), true));
                        }
                    } else {
                        for _ in 0..h >> 1 {
                            let (s, o, l) = p.get(&mut c);
                            raw.push((s, o, l, true));
                        }
                    }
                }
                assert_eq!(c.at, b.len(), "leaf at {off} parsed to its end");
            }
            k => panic!("blob of kind {k} at {off} in a format-4 tree"),
        }
    }
    // Every reference must be a valid block of its segment: this checks the parse.
    for (seg, off, len, extent) in raw {
        let f = t
            .image
            .files
            .get(&format!("data/{}", seg_name(seg, "seg")))
            .expect("a referenced segment exists");
        let bytes = f.read(off, len);
        let summary = tsdb::codec::verify(&bytes).unwrap_or_else(|e| panic!("block at {seg}:{off}: {}", e.0));
        let paged = tsdb::codec::header(&bytes).unwrap().paged();
        assert!(summary.count > 0);
        t.refs.push(BRef { seg, off, len, extent, paged });
    }
    t.refs.sort_by_key(|r| (r.seg, r.off));
    t.live_blobs = live;
}

/// Parse every log segment: header 32 bytes, then records │len│crc│seq│kind│0[7]│payload│pad│
/// until zeros; match the records to the ops (the log holds the ops after some point).
pub fn parse_wal(t: &mut Template) {
    let segs = numbered(&t.image, "wal", "wal");
    for (no, name) in &segs {
        let b = t.image.files[name].bytes();
        assert!(b.len() >= 32 && b.starts_with(b"TSDBWAL"), "{name}: a log segment header");
        let mut at = 32usize;
        while at + 24 <= b.len() && b[at..at + 24].iter().any(|&x| x != 0) {
            let len = u32_at(&b, at) as usize;
            let end = (at + 24 + len).next_multiple_of(8);
            assert!(
                end <= b.len() && u32_at(&b, at + 4) == crc32fast::hash(&b[at + 8..end]),
                "{name}: record at {at}"
            );
            t.recs.push(Rec {
                seg: *no,
                off: at as u64,
                end: end as u64,
                seq: u64_at(&b, at + 8),
                kind: b[at + 16],
                payload: b[at + 24..at + 24 + len].to_vec(),
            });
            at = end;
        }
    }
    t.wal_segs = segs.iter().map(|s| s.0).collect();
    // Records of kinds 1-6 and 8 (scrapes) are the ops' (7 ends a segment).
    let op_recs: Vec<usize> =
        (0..t.recs.len()).filter(|&i| matches!(t.recs[i].kind, 1..=6 | 8)).collect();
    assert!(op_recs.len() <= t.ops.len());
    let first = t.ops.len() - op_recs.len();
    for (k, &ri) in op_recs.iter().enumerate() {
        let (kind, payload) = t.ops[first + k].record();
        let r = &t.recs[ri];
        assert!(
            r.kind == kind && r.payload == payload,
            "log record {} at {}:{} is op {}",
            r.seq,
            r.seg,
            r.off,
            first + k
        );
        t.op_rec[first + k] = Some(ri);
    }
    assert!(op_recs.windows(2).all(|w| t.recs[w[0]].seq < t.recs[w[1]].seq), "sequence numbers ascend");
}
