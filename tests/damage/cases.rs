//! Cases: a target (a file, or a place in it) and a damage; the torn-write allowance.

use std::collections::{BTreeMap, BTreeSet};

use tsdb::codec::shapes::Rng;

use crate::image::{DirImg, FileImg, PAGE};
use crate::template::{BRef, Blob, Rec, Template, numbered, seg_name};

#[derive(Clone, Debug)]
pub enum Damage {
    Truncate(String, u64),
    Zero(String, u64, u64),
    Xor(String, u64, Vec<u8>),
    Write(String, u64, Vec<u8>),
    Append(String, Vec<u8>),
    Delete(String),
    Rename(String, String),
    Create(String, FileImg),
    None,
}

impl Damage {
    pub fn apply(&self, img: &mut DirImg) {
        match self {
            Damage::Truncate(n, len) => file_mut(img, n).truncate(*len),
            Damage::Zero(n, off, len) => file_mut(img, n).write(*off, &vec![0; *len as usize]),
            Damage::Xor(n, off, x) => {
                let file = file_mut(img, n);
                let mut b = file.read(*off, x.len() as u64);
                b.resize(x.len(), 0);
                b.iter_mut().zip(x).for_each(|(a, b)| *a ^= b);
                file.write(*off, &b);
            }
            Damage::Write(n, off, bytes) => file_mut(img, n).write(*off, bytes),
            Damage::Append(n, bytes) => {
                let file = file_mut(img, n);
                let len = file.len;
                file.write(len, bytes);
            }
            Damage::Delete(n) => {
                img.files.remove(n).expect("deleted file exists");
            }
            Damage::Rename(from, to) => {
                let file = img.files.remove(from).expect("renamed file exists");
                assert!(img.files.insert(to.clone(), file).is_none(), "rename target is free");
            }
            Damage::Create(n, file) => {
                if let Some((dir, _)) = n.rsplit_once('/') {
                    img.dirs.insert(dir.to_string());
                }
                assert!(img.files.insert(n.clone(), file.clone()).is_none(), "leftover name is free");
            }
            Damage::None => {}
        }
    }

    /// Identifies the change (two cases making the same change are one).
    pub fn key(&self) -> String {
        match self {
            Damage::Create(n, f) => format!("create {n} {} {}", f.len, f.pages.len()),
            Damage::Append(n, b) => format!("append {n} {}", b.len()),
            d => format!("{d:?}"),
        }
    }
}

pub fn file_mut<'a>(img: &'a mut DirImg, name: &str) -> &'a mut FileImg {
    img.files.get_mut(name).expect("damaged file exists")
}

/// What a case requires of open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Open must succeed with exactly the data (a crash can leave this state, or the format
    /// documents that it is survived).
    MustOpen,
    /// Exact data, or an error naming the damaged file.
    ExactOrError,
}

#[derive(Clone, Debug)]
pub struct Case {
    pub tpl: usize,
    pub target: String,
    pub damage: &'static str,
    pub what: Damage,
    /// Names an error (or a check's report) may give for the damage.
    pub files: Vec<String>,
    pub expect: Expect,
    /// The check must report damage naming a file of `files` even when every read is exact
    /// (a damaged superblock copy, which open survives).
    pub check_sees: bool,
    /// The torn-write allowance: the first damaged byte of the last log segment, when the
    /// damage reaches from it to the end of the segment's records.
    pub torn_at: Option<u64>,
}

impl Case {
    pub fn name(&self, tpls: &[Template]) -> String {
        format!("{}: {}: {}", tpls[self.tpl].kind.name(), self.target, self.damage)
    }
}

pub fn make_case(
    t: &Template,
    tpl: usize,
    target: &str,
    damage: &'static str,
    what: Damage,
    files: Vec<String>,
    expect: Expect,
) -> Case {
    let (torn_at, must_open_torn) = torn(t, &what);
    let expect = if must_open_torn { Expect::MustOpen } else { expect };
    Case { tpl, target: target.to_string(), damage, what, files, expect, check_sees: false, torn_at }
}

/// Pseudo-random non-zero bytes (a garbage tail, a burst to xor in).
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut r = Rng::new(seed, 77);
    (0..n).map(|_| (r.below(255) + 1) as u8).collect()
}

/// A place in a file: the start, length and header length of a structure (a record, blob,
/// block or superblock copy).
#[derive(Clone, Copy)]
pub struct Point {
    pub off: u64,
    pub len: u64,
    pub hdr: u64,
    /// Where its checksum is, from `off`.
    pub crc: u64,
}

pub struct CaseGen<'t> {
    pub tpl: usize,
    pub t: &'t Template,
    pub out: Vec<Case>,
    pub seen: BTreeSet<String>,
}

impl CaseGen<'_> {
    pub fn push(
        &mut self,
        target: &str,
        damage: &'static str,
        what: Damage,
        files: Vec<String>,
        expect: Expect,
    ) {
        // The same change made twice (e.g. a truncation at a record that is also the end of
        // the previous one) is one case.
        if !self.seen.insert(what.key()) {
            return;
        }
        self.out.push(make_case(self.t, self.tpl, target, damage, what, files, expect));
    }

    /// The point-level damages at `p` of `file`.
    pub fn point(&mut self, file: &str, target: &str, p: Point, expect: Expect) {
        let img = &self.t.image.files[file];
        let files = vec![file.to_string()];
        let seed = p.off ^ ((self.tpl as u64) << 40);
        if p.off > 0 {
            self.push(target, "trunc-at", Damage::Truncate(file.into(), p.off), files.clone(), expect);
        }
        if p.off + p.len < img.len {
            self.push(
                target,
                "trunc-end",
                Damage::Truncate(file.into(), p.off + p.len),
                files.clone(),
                expect,
            );
        }
        self.push(
            target,
            "trunc-mid",
            Damage::Truncate(file.into(), p.off + p.len / 2),
            files.clone(),
            expect,
        );
        let page = p.off / PAGE * PAGE;
        if !img.zero_range(page, PAGE) {
            self.push(
                target,
                "zero-page",
                Damage::Zero(file.into(), page, PAGE.min(img.len - page)),
                files.clone(),
                expect,
            );
        }
        if !img.zero_range(p.off, p.len) {
            self.push(target, "zero-rec", Damage::Zero(file.into(), p.off, p.len), files.clone(), expect);
        }
        let h = p.off + p.hdr / 2;
        self.push(target, "flip-hdr", Damage::Xor(file.into(), h, vec![0x10]), files.clone(), expect);
        self.push(
            target,
            "flip-crc",
            Damage::Xor(file.into(), p.off + p.crc, vec![0x04]),
            files.clone(),
            expect,
        );
        if p.len > p.hdr {
            let b = p.off + p.hdr + (p.len - p.hdr) / 2;
            self.push(target, "flip-body", Damage::Xor(file.into(), b, vec![0x01]), files.clone(), expect);
        }
        let at = (p.off + p.len / 2).saturating_sub(8).max(p.off);
        let n = 16.min(img.len - at);
        self.push(target, "burst", Damage::Xor(file.into(), at, noise(seed, n as usize)), files, expect);
    }

    /// The file-level damages of `file`; `renamed` is a valid-looking other name, if any.
    pub fn file(&mut self, file: &str, target: &str, header: u64, renamed: Option<String>, expect: Expect) {
        let img = &self.t.image.files[file];
        let files = vec![file.to_string()];
        if img.len > 0 {
            self.push(target, "trunc0", Damage::Truncate(file.into(), 0), files.clone(), expect);
        }
        if img.len > header && header > 0 {
            self.push(target, "trunc-hdr", Damage::Truncate(file.into(), header), files.clone(), expect);
        }
        self.push(
            target,
            "garbage",
            Damage::Append(file.into(), noise(img.len + 5, 4096)),
            files.clone(),
            expect,
        );
        self.push(target, "delete", Damage::Delete(file.into()), files.clone(), expect);
        if let Some(to) = renamed {
            let both = vec![file.to_string(), to.clone()];
            self.push(target, "ren-num", Damage::Rename(file.into(), to), both, expect);
        }
        let to = format!("{file}.bak");
        self.push(
            target,
            "ren-foreign",
            Damage::Rename(file.into(), to.clone()),
            vec![file.to_string(), to],
            expect,
        );
    }
}

/// The torn-write allowance for damage to the crashed template's last log segment.
///
/// The damage qualifies when it is indistinguishable from a torn write: a bad record (the
/// one holding the first damaged byte) followed only by damaged or zero bytes, i.e. every
/// byte after the damage, and after the end of the record it reaches into, is zero. Then
/// the ops whose records end after the first damaged byte may be lost (as a suffix). A
/// segment emptied (0 bytes) is what a crash leaves between creating a segment and writing
/// its header, and qualifies too; any other truncation does not (segments are preallocated
/// and never shrink: a short segment is damage, not a torn write). Deleting or renaming the
/// segment, or appending to it, never qualifies.
///
/// Returns the first damaged byte, and whether opening must then succeed: when the segment
/// header is intact (docs/format.md: a bad record in the last segment with no valid record
/// after it is a torn write, and opening goes on).
pub fn torn(t: &Template, what: &Damage) -> (Option<u64>, bool) {
    let Some(&last) = t.wal_segs.last() else { return (None, false) };
    let last_name = format!("wal/{}", seg_name(last, "wal"));
    let img = match what {
        Damage::Truncate(n, _) | Damage::Zero(n, ..) | Damage::Xor(n, ..) | Damage::Write(n, ..)
            if *n == last_name =>
        {
            &t.image.files[n]
        }
        _ => return (None, false),
    };
    // The end of the record holding byte `at` (or `at + 1` outside any record).
    let rec_end = |at: u64| -> u64 {
        t.recs.iter().find(|r| r.seg == last && r.off <= at && at < r.end).map_or(at + 1, |r| r.end)
    };
    let (first, end) = match what {
        Damage::Truncate(_, 0) => return (Some(0), false),
        Damage::Truncate(..) => return (None, false),
        Damage::Zero(_, off, len) => match (*off..off + len).find(|&i| img.byte(i) != 0) {
            Some(d) => (d, (*off..off + len).rev().find(|&i| img.byte(i) != 0).unwrap() + 1),
            None => return (None, false), // changes nothing
        },
        Damage::Xor(_, off, x) => {
            let changed: Vec<u64> = (0..x.len()).filter(|&i| x[i] != 0).map(|i| off + i as u64).collect();
            (changed[0], changed[changed.len() - 1] + 1)
        }
        Damage::Write(_, off, x) => (*off, off + x.len() as u64),
        _ => unreachable!(),
    };
    if img.zero_from(end.max(rec_end(end - 1))) { (Some(first), first >= 32) } else { (None, false) }
}

pub fn generate(tpls: &[Template]) -> Vec<Case> {
    let mut all = Vec::new();
    for (i, t) in tpls.iter().enumerate() {
        let mut g = CaseGen { tpl: i, t, out: Vec::new(), seen: BTreeSet::new() };
        g.out.push(Case {
            tpl: i,
            target: "(none)".into(),
            damage: "control",
            what: Damage::None,
            files: Vec::new(),
            expect: Expect::MustOpen,
            check_sees: false,
            torn_at: None,
        });
        manifest_cases(&mut g);
        data_cases(&mut g);
        wal_cases(&mut g);
        lock_and_leftover_cases(&mut g);
        all.extend(g.out);
    }
    all
}

pub fn manifest_cases(g: &mut CaseGen<'_>) {
    let t = g.t;
    let m = "MANIFEST";
    let files = vec![m.to_string()];
    // Superblock copies: one damaged copy is survived (and the check reports it).
    for (slot, label) in [(0u64, "superblock copy 0"), (4096, "superblock copy 1")] {
        let start = g.out.len();
        g.push(
            label,
            "flip-hdr",
            Damage::Xor(m.into(), slot + 2, vec![0x10]),
            files.clone(),
            Expect::MustOpen,
        );
        g.push(
            label,
            "flip-body",
            Damage::Xor(m.into(), slot + 40, vec![0x01]),
            files.clone(),
            Expect::MustOpen,
        );
        g.push(
            label,
            "flip-crc",
            Damage::Xor(m.into(), slot + 89, vec![0x04]),
            files.clone(),
            Expect::MustOpen,
        );
        g.push(
            label,
            "burst",
            Damage::Xor(m.into(), slot + 16, noise(slot + 1, 16)),
            files.clone(),
            Expect::MustOpen,
        );
        g.push(label, "zero-page", Damage::Zero(m.into(), slot, PAGE), files.clone(), Expect::MustOpen);
        for c in &mut g.out[start..] {
            c.check_sees = true;
        }
        if slot > 0 {
            g.push(label, "trunc-at", Damage::Truncate(m.into(), slot), files.clone(), Expect::ExactOrError);
        }
        g.push(
            label,
            "trunc-mid",
            Damage::Truncate(m.into(), slot + 46),
            files.clone(),
            Expect::ExactOrError,
        );
    }
    let both = |d: &dyn Fn(u64) -> Damage| -> Damage {
        match (d(0), d(4096)) {
            (Damage::Xor(n, a, x), Damage::Xor(_, b, y)) => {
                let mut bytes = vec![0u8; (b - a) as usize + y.len()];
                bytes[..x.len()].copy_from_slice(&x);
                let at = (b - a) as usize;
                bytes[at..at + y.len()].copy_from_slice(&y);
                Damage::Xor(n, a, bytes)
            }
            (Damage::Zero(n, a, _), Damage::Zero(..)) => Damage::Zero(n, a, 2 * PAGE),
            _ => unreachable!(),
        }
    };
    let label = "both superblock copies";
    g.push(
        label,
        "flip-body",
        both(&|s| Damage::Xor(m.into(), s + 40, vec![0x01])),
        files.clone(),
        Expect::ExactOrError,
    );
    g.push(
        label,
        "burst",
        both(&|s| Damage::Xor(m.into(), s + 16, noise(s + 1, 16))),
        files.clone(),
        Expect::ExactOrError,
    );
    g.push(
        label,
        "zero-page",
        both(&|s| Damage::Zero(m.into(), s, PAGE)),
        files.clone(),
        Expect::ExactOrError,
    );
    // Blobs of the live tree, one of each kind (two leaves).
    let mut by_kind: BTreeMap<u8, Vec<Blob>> = BTreeMap::new();
    for b in t.live_blobs.values() {
        by_kind.entry(b.kind).or_default().push(*b);
    }
    let names = [(1u8, "node"), (7, "leaf"), (3, "name"), (4, "index"), (8, "chunk"), (6, "extents")];
    for (kind, label) in names {
        let list = by_kind.get(&kind).cloned().unwrap_or_default();
        assert!(!list.is_empty(), "{} template: the manifest has a live {label} blob", t.kind.name());
        let mut chosen = vec![(list[0], format!("{label} blob"))];
        if kind == 7 && list.len() > 1 {
            chosen = vec![
                (list[0], "first leaf blob".to_string()),
                (list[list.len() - 1], "last leaf blob".to_string()),
            ];
        }
        for (b, target) in chosen {
            let target = format!("MANIFEST {target} (offset {})", b.off);
            g.point(
                m,
                &target,
                Point { off: b.off, len: (16 + b.len).next_multiple_of(8), hdr: 16, crc: 0 },
                Expect::ExactOrError,
            );
        }
    }
    // The file: a 0-byte MANIFEST and a missing one, with data present; the garbage after its
    // end is what a crash in a commit leaves (ignored by the format).
    let start = g.out.len();
    g.file(m, "MANIFEST", 8192, None, Expect::ExactOrError);
    for c in &mut g.out[start..] {
        if c.damage == "garbage" {
            c.expect = Expect::MustOpen;
        }
    }
}

pub fn data_cases(g: &mut CaseGen<'_>) {
    let t = g.t;
    let segs = numbered(&t.image, "data", "seg");
    assert!(segs.len() >= 2, "{} template: at least 2 data segments (has {segs:?})", t.kind.name());
    let max_no = segs.iter().map(|s| s.0).max().unwrap();
    for (no, file) in &segs {
        let img = &t.image.files[file];
        let refs: Vec<BRef> = t.refs.iter().filter(|r| r.seg == *no).copied().collect();
        let parts: Vec<BRef> = refs.iter().filter(|r| !r.extent).copied().collect();
        let hdr = format!("{file} header");
        let files = vec![file.clone()];
        for (d, what) in [
            ("flip-hdr", Damage::Xor(file.clone(), 2, vec![0x10])),
            ("flip-body", Damage::Xor(file.clone(), 17, vec![0x01])),
            ("flip-crc", Damage::Xor(file.clone(), 29, vec![0x04])),
            ("burst", Damage::Xor(file.clone(), 0, noise(*no, 16))),
            ("zero-page", Damage::Zero(file.clone(), 0, PAGE)),
            ("trunc-mid", Damage::Truncate(file.clone(), 16)),
        ] {
            g.push(&hdr, d, what, files.clone(), Expect::ExactOrError);
        }
        let mut points: Vec<(String, BRef)> = Vec::new();
        if let (Some(f), Some(l)) = (parts.first(), parts.last()) {
            points.push(("first part block".into(), *f));
            points.push(("middle part block".into(), parts[parts.len() / 2]));
            points.push(("last part block".into(), *l));
        }
        if let Some(e) = refs.iter().find(|r| r.extent) {
            points.push(("an extent block".into(), *e));
        }
        if let Some(p) = refs.iter().find(|r| r.paged) {
            points.push(("a paged block".into(), *p));
        }
        let mut done = BTreeSet::new();
        for (label, r) in points {
            if done.insert(r.off) {
                g.point(
                    file,
                    &format!("{file} {label}"),
                    Point { off: r.off, len: r.len, hdr: 64, crc: 60 },
                    Expect::ExactOrError,
                );
            }
        }
        // Blocks after the last one the manifest names (written after the checkpoint; the
        // log has their points): damage there loses nothing.
        let named_end = refs.iter().map(|r| r.off + r.len).max().unwrap_or(32).next_multiple_of(8);
        if let Some((off, len)) = unnamed_block(img, named_end) {
            g.point(
                file,
                &format!("{file} unnamed block"),
                Point { off, len, hdr: 64, crc: 60 },
                Expect::ExactOrError,
            );
        }
        g.file(file, file, 32, Some(format!("data/{}", seg_name(max_no + 7, "seg"))), Expect::ExactOrError);
    }
}

/// The first codec block at or after `from` (8-aligned), found by its header checksum, and
/// its length up to the next block (or 256 bytes).
pub fn unnamed_block(img: &FileImg, from: u64) -> Option<(u64, u64)> {
    let b = img.read(from, 1 << 20);
    let valid = |at: usize| at + 64 <= b.len() && tsdb::codec::header(&b[at..]).is_ok();
    let first = (0..b.len()).step_by(8).find(|&a| valid(a))?;
    let next = (first + 64..b.len()).step_by(8).find(|&a| valid(a)).unwrap_or(first + 256);
    Some((from + first as u64, (next - first) as u64))
}

pub fn wal_cases(g: &mut CaseGen<'_>) {
    let t = g.t;
    if t.wal_segs.is_empty() {
        return;
    }
    let n = t.wal_segs.len();
    assert!(n >= 3, "the crashed template has at least 3 log segments (has {n})");
    let mut picks = vec![(0, "first"), (n / 2, "middle"), (n - 1, "last")];
    if n >= 4 {
        picks.push((n - 2, "next-to-last"));
    }
    let max_no = *t.wal_segs.last().unwrap();
    for (k, role) in picks {
        let no = t.wal_segs[k];
        let file = format!("wal/{}", seg_name(no, "wal"));
        let img = &t.image.files[&file];
        let recs: Vec<&Rec> = t.recs.iter().filter(|r| r.seg == no).collect();
        assert!(recs.len() >= 3, "{file} holds records");
        let files = vec![file.clone()];
        let hdr = format!("{file} ({role}) header");
        for (d, what) in [
            ("flip-hdr", Damage::Xor(file.clone(), 2, vec![0x10])),
            ("flip-body", Damage::Xor(file.clone(), 17, vec![0x01])),
            ("flip-crc", Damage::Xor(file.clone(), 29, vec![0x04])),
            ("burst", Damage::Xor(file.clone(), 0, noise(no, 16))),
            ("zero-page", Damage::Zero(file.clone(), 0, PAGE)),
            ("trunc-mid", Damage::Truncate(file.clone(), 16)),
        ] {
            g.push(&hdr, d, what, files.clone(), Expect::ExactOrError);
        }
        let mut points = vec![
            ("first record", recs[0]),
            ("middle record", recs[recs.len() / 2]),
            ("last record", recs[recs.len() - 1]),
        ];
        if let Some(r) = recs.iter().find(|r| r.seq == t.checkpoint_seq + 1) {
            points.push(("first record after the checkpoint", r));
        }
        // A record across a page boundary: a lost page cuts it in two.
        if let Some(r) = recs.iter().rev().find(|r| r.off / PAGE != (r.end - 1) / PAGE && r.off > 0) {
            points.push(("a record across a page boundary", r));
        }
        let mut done = BTreeSet::new();
        for (label, r) in points {
            if done.insert(r.off) {
                let p = Point { off: r.off, len: r.end - r.off, hdr: 24, crc: 4 };
                g.point(&file, &format!("{file} ({role}) {label}"), p, Expect::ExactOrError);
            }
        }
        // Just after the last record: a torn write of a next record.
        let tail = recs[recs.len() - 1].end;
        let target = format!("{file} ({role}) after the last record");
        g.push(
            &target,
            "flip-hdr",
            Damage::Xor(file.clone(), tail + 1, vec![0x10]),
            files.clone(),
            Expect::ExactOrError,
        );
        g.push(
            &target,
            "burst",
            Damage::Xor(file.clone(), tail, noise(tail, 16)),
            files.clone(),
            Expect::ExactOrError,
        );
        let mut torn_rec = Vec::new();
        torn_rec.extend_from_slice(&40u32.to_le_bytes());
        torn_rec.extend_from_slice(&0xdead_beefu32.to_le_bytes());
        torn_rec.extend_from_slice(&(recs[recs.len() - 1].seq + 1).to_le_bytes());
        torn_rec.push(3);
        torn_rec.extend_from_slice(&[0; 7]);
        torn_rec.extend_from_slice(&noise(tail + 3, 20));
        g.push(
            &target,
            "torn-record",
            Damage::Write(file.clone(), tail, torn_rec),
            files.clone(),
            Expect::ExactOrError,
        );
        assert!(img.zero_from(tail), "{file}: zeros after the last record");
        g.file(
            &file,
            &format!("{file} ({role})"),
            32,
            Some(format!("wal/{}", seg_name(max_no + 7, "wal"))),
            Expect::ExactOrError,
        );
    }
}

/// A data segment header (docs/format.md): magic, format 1, number, crc of bytes 0..28.
pub fn seg_header(no: u64) -> Vec<u8> {
    let mut h = vec![0u8; 32];
    h[..8].copy_from_slice(b"TSDBSEG1");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    h[16..24].copy_from_slice(&no.to_le_bytes());
    let crc = crc32fast::hash(&h[..28]);
    h[28..].copy_from_slice(&crc.to_le_bytes());
    h
}

pub fn lock_and_leftover_cases(g: &mut CaseGen<'_>) {
    let t = g.t;
    let lock = "LOCK".to_string();
    let files = vec![lock.clone()];
    // LOCK holds nothing: whatever happens to it, the database opens.
    g.push("LOCK", "garbage", Damage::Append(lock.clone(), noise(99, 4096)), files.clone(), Expect::MustOpen);
    g.push("LOCK", "delete", Damage::Delete(lock.clone()), files.clone(), Expect::MustOpen);
    g.push("LOCK", "ren-foreign", Damage::Rename(lock.clone(), "LOCK.bak".into()), files, Expect::MustOpen);
    // Leftovers of steps a crash interrupts: none of them may cost anything.
    let next_data = numbered(&t.image, "data", "seg").last().map_or(0, |s| s.0) + 1;
    let data = format!("data/{}", seg_name(next_data, "seg"));
    let wal = format!("wal/{}", seg_name(t.wal_next, "wal"));
    let mut sparse = FileImg::from_bytes(&seg_header(next_data));
    sparse.truncate(256 << 20);
    let zeros = |n: u64| FileImg { len: n, pages: BTreeMap::new() };
    let leftovers = [
        ("empty data segment after the last", data.clone(), FileImg::default()),
        ("all-zero data segment after the last", data.clone(), zeros(PAGE)),
        ("256 MiB sparse data segment, header only", data, sparse),
        ("empty log segment after the last", wal.clone(), FileImg::default()),
        ("all-zero log segment after the last", wal, zeros(64 << 10)),
        (
            "manifest-rewrite/MANIFEST, an older MANIFEST",
            "manifest-rewrite/MANIFEST".into(),
            FileImg::from_bytes(&t.older_manifest),
        ),
    ];
    for (label, name, img) in leftovers {
        g.push(label, "leftover", Damage::Create(name.clone(), img), vec![name], Expect::MustOpen);
    }
}
