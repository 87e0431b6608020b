//! The log's rules at open (docs/format.md): exact records, or corruption naming the file
//! and offset; the only forgiven damage is a torn end.
use std::path::{Path, PathBuf};

use super::*;
use crate::storage::numbered_files;
use crate::bytes::u32_at;

/// Sequence numbers for a test log, handed out as the database's sequencer does.
#[derive(Default)]
struct Seq(std::cell::Cell<u64>);

impl Seq {
    fn advance_to(&self, s: u64) {
        self.0.set(self.0.get().max(s));
    }
    fn next(&self) -> impl FnOnce() -> (u64, ()) + '_ {
        move || {
            self.0.set(self.0.get() + 1);
            (self.0.get(), ())
        }
    }
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tsdb-wal-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Write `n` one-point inserts (point `i` at timestamp `i`) into a log of small segments;
/// returns the log, still open (a crash image as long as it lives).
fn write(d: &Path, n: i64, seg: usize) -> (Wal, Seq) {
    let seqr = Seq::default();
    let wal = Wal::new(d.to_owned(), 1, seg, false, false);
    for i in 0..n {
        wal.append(&Record::Insert { id: 1, ts: &[i], vals: &[i as f64] }, seqr.next()).unwrap();
    }
    (wal, seqr)
}

/// Every replayed timestamp after `after`, in order.
fn replay(d: &Path, after: u64, start: Option<LogStart>) -> Result<Vec<i64>> {
    let rec = scan(d, after, start)?;
    let mut out = Vec::new();
    rec.apply(after, |_, r| {
        match r {
            Replayed::Insert { ts, .. } => out.extend(ts),
            other => panic!("{other:?}"),
        }
        Ok(())
    })?;
    Ok(out)
}

fn seg(d: &Path, no: u64) -> PathBuf {
    d.join(file_name(no, EXT))
}

const REC: usize = 40 + 16; // a one-point insert record: 24 + 32 bytes

fn corruption(r: Result<Vec<i64>>) -> String {
    match r {
        Err(Error::Corruption(m)) => m,
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn records_round_trip_across_segments_and_the_log_goes_on_in_the_last() {
    let d = dir("rt");
    let (wal, _) = write(&d, 300, 4096);
    drop(wal);
    let nos = numbered_files(&d, EXT).unwrap();
    assert!(nos.len() > 3, "rotated: {nos:?}");
    assert_eq!(replay(&d, 0, None).unwrap(), (0..300).collect::<Vec<_>>());
    assert_eq!(replay(&d, 150, None).unwrap(), (150..300).collect::<Vec<_>>());
    // Every full segment ends with a record naming the next one.
    for &no in &nos[..nos.len() - 1] {
        let b = std::fs::read(seg(&d, no)).unwrap();
        let at = HEADER_LEN + (b.len() - HEADER_LEN - END_RECORD) / REC * REC;
        let f = record::parse(&b, at, "x", false).unwrap().unwrap();
        assert_eq!((f.kind, record::next_segment(&f)), (record::NEXT, no + 1));
    }
    // Reopened, the log goes on in its last segment with the next sequence number.
    let rec = scan(&d, 0, None).unwrap();
    let seqr = Seq::default();
    seqr.advance_to(rec.max_seq);
    let wal = Wal::open(rec, 4096, false, false).unwrap();
    wal.append(&Record::Insert { id: 1, ts: &[300], vals: &[0.0] }, seqr.next()).unwrap();
    drop(wal);
    assert_eq!(numbered_files(&d, EXT).unwrap(), nos, "no new segment");
    assert_eq!(replay(&d, 0, None).unwrap(), (0..301).collect::<Vec<_>>());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_torn_end_is_cleared_and_damage_elsewhere_is_corruption() {
    let d = dir("torn");
    let (wal, _) = write(&d, 10, 1 << 16);
    drop(wal);
    let path = seg(&d, 1);
    let clean = std::fs::read(&path).unwrap();
    // Tear the last record: replay stops before it; reopening clears it.
    let mut torn = clean.clone();
    torn[HEADER_LEN + 9 * REC + 30] ^= 0x40;
    std::fs::write(&path, &torn).unwrap();
    assert_eq!(replay(&d, 0, None).unwrap().len(), 9);
    let rec = scan(&d, 0, None).unwrap();
    drop(Wal::open(rec, 1 << 16, false, false).unwrap());
    let after = std::fs::read(&path).unwrap();
    assert_eq!(after.len(), clean.len(), "cleared in place, not cut");
    assert!(after[HEADER_LEN + 9 * REC..].iter().all(|&b| b == 0));
    assert_eq!(replay(&d, 0, None).unwrap().len(), 9, "a second replay agrees");
    // Damage in the middle, with valid records after it: corruption, with the offset.
    let mut mid = clean.clone();
    mid[HEADER_LEN + 4 * REC + 26] ^= 1;
    std::fs::write(&path, &mid).unwrap();
    assert_eq!(
        corruption(replay(&d, 0, None)),
        format!("wal/00000001.wal offset {}: record checksum mismatch", HEADER_LEN + 4 * REC)
    );
    // Zeros in the middle (a lost page) with records after them: not taken for the end.
    let mut zeroed = clean.clone();
    zeroed[HEADER_LEN + 3 * REC..HEADER_LEN + 5 * REC].fill(0);
    std::fs::write(&path, &zeroed).unwrap();
    let m = corruption(replay(&d, 0, None));
    assert!(m.starts_with(&format!("wal/00000001.wal offset {}: zeros where", HEADER_LEN + 3 * REC)), "{m}");
    // Cut short, or grown: the header's length says so.
    std::fs::write(&path, &clean[..HEADER_LEN + 5 * REC]).unwrap();
    let m = corruption(replay(&d, 0, None));
    assert!(m.contains("cut short or extended"), "{m}");
    let mut longer = clean.clone();
    longer.extend_from_slice(b"garbage");
    std::fs::write(&path, &longer).unwrap();
    assert!(corruption(replay(&d, 0, None)).contains("cut short or extended"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_missing_or_damaged_segment_is_never_skipped() {
    let d = dir("gaps");
    let (wal, _) = write(&d, 200, 4096);
    drop(wal);
    let nos = numbered_files(&d, EXT).unwrap();
    let (first, last) = (nos[0], *nos.last().unwrap());
    let save = |no| std::fs::read(seg(&d, no)).unwrap();
    let (b1, b2, bl) = (save(first), save(first + 1), save(last));
    // A middle segment deleted.
    std::fs::remove_file(seg(&d, first + 1)).unwrap();
    assert!(corruption(replay(&d, 0, None)).starts_with("wal/00000002.wal offset 0: missing, between"));
    std::fs::write(seg(&d, first + 1), &b2).unwrap();
    // The first one deleted: the writes it held (after the checkpoint) are missing.
    std::fs::remove_file(seg(&d, first)).unwrap();
    let m = corruption(replay(&d, 0, None));
    assert!(m.contains("the log starts at sequence number"), "{m}");
    // ... but fine when a checkpoint covers them.
    let covered = b1.len() / REC; // at least every record in it
    assert!(replay(&d, covered as u64, None).is_ok());
    std::fs::write(seg(&d, first), &b1).unwrap();
    // The first one cut to its header: its records are missing too.
    std::fs::write(seg(&d, first), &b1[..HEADER_LEN]).unwrap();
    assert!(corruption(replay(&d, 0, None)).contains("cut short or extended"));
    std::fs::write(seg(&d, first), &b1).unwrap();
    // The last one deleted: the one before names it.
    std::fs::remove_file(seg(&d, last)).unwrap();
    let m = corruption(replay(&d, 0, None));
    assert!(m.contains("as the next segment, which is missing"), "{m}");
    std::fs::write(seg(&d, last), &bl).unwrap();
    // Renamed to another number: its header says which it is.
    std::fs::rename(seg(&d, last), seg(&d, last + 1)).unwrap();
    assert!(corruption(replay(&d, 0, None)).contains("missing"));
    std::fs::rename(seg(&d, last + 1), seg(&d, last)).unwrap();
    assert_eq!(replay(&d, 0, None).unwrap().len(), 200, "restored, whole again");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn where_the_manifest_says_the_log_starts_is_checked() {
    let d = dir("start");
    let (wal, _) = write(&d, 200, 4096);
    let nos = numbered_files(&d, EXT).unwrap();
    // A checkpoint covering the first two segments' records would record the third.
    let upto = {
        let g = wal.inner.lock();
        g.closed[1].last_seq
    };
    let start = wal.log_start(upto, false).unwrap();
    assert_eq!(start, LogStart { segment: nos[2], exists: true });
    drop(wal);
    // Segments before the start are not needed (and a read-write open deletes them).
    let got = replay(&d, upto, Some(start)).unwrap();
    assert_eq!(got, (upto as i64..200).collect::<Vec<_>>());
    let rec = scan(&d, upto, Some(start)).unwrap();
    assert!(rec.has_leftovers());
    drop(Wal::open(rec, 4096, false, false).unwrap());
    assert_eq!(numbered_files(&d, EXT).unwrap(), nos[2..].to_vec());
    // The start missing: corruption, whether later segments are there or not.
    let b = std::fs::read(seg(&d, nos[2])).unwrap();
    std::fs::remove_file(seg(&d, nos[2])).unwrap();
    let m = corruption(replay(&d, upto, Some(start)));
    assert!(m.starts_with(&format!("wal/{} offset 0: missing", file_name(nos[2], EXT))), "{m}");
    for &no in &nos[3..] {
        std::fs::remove_file(seg(&d, no)).unwrap();
    }
    assert!(corruption(replay(&d, upto, Some(start))).contains("missing"));
    std::fs::write(seg(&d, nos[2]), b).unwrap();
    // A log that was empty at the checkpoint needs no segment.
    for no in numbered_files(&d, EXT).unwrap() {
        std::fs::remove_file(seg(&d, no)).unwrap();
    }
    assert_eq!(replay(&d, 200, Some(LogStart { segment: 9, exists: false })).unwrap(), Vec::<i64>::new());
    assert_eq!(scan(&d, 200, Some(LogStart { segment: 9, exists: false })).unwrap().next_no, 9);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn leftovers_of_an_interrupted_rotation_go() {
    let d = dir("rotation");
    let (wal, _) = write(&d, 20, 1 << 16);
    drop(wal);
    // The next segment made whole, but the full one not yet ended with a record naming it.
    std::fs::write(seg(&d, 2), vec![0u8; 8192]).unwrap();
    std::fs::write(seg(&d, 3), b"").unwrap();
    std::fs::write(d.join(format!("{}{TMP_SUFFIX}", file_name(4, EXT))), b"half").unwrap();
    assert_eq!(replay(&d, 0, None).unwrap().len(), 20);
    let rec = scan(&d, 0, None).unwrap();
    let seqr = Seq::default();
    seqr.advance_to(rec.max_seq);
    let wal = Wal::open(rec, 1 << 16, false, false).unwrap();
    wal.append(&Record::Insert { id: 1, ts: &[20], vals: &[0.0] }, seqr.next()).unwrap();
    drop(wal);
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from(file_name(1, EXT))], "only the segment in use is left");
    assert_eq!(replay(&d, 0, None).unwrap().len(), 21);
    std::fs::remove_dir_all(&d).unwrap();
}

/// A segment of an older format: `header` followed by five one-point inserts, seqs 1 to 5.
fn five_inserts(mut b: Vec<u8>) -> Vec<u8> {
    for i in 0..5u64 {
        let r = Record::Insert { id: 1, ts: &[i as i64], vals: &[1.0] };
        let at = b.len();
        b.resize(at + r.size().unwrap(), 0);
        r.write(i + 1, &mut b[at..]);
    }
    b
}

#[test]
fn a_format_1_segment_is_still_read_and_its_torn_end_cut() {
    let d = dir("v1");
    // Format 1: no length in the header, no end records; written by the first release.
    let mut b = five_inserts(file_header(&MAGIC, FORMAT_1, 0, 1).to_vec());
    b.extend_from_slice(&[7; 20]); // a torn record
    b.resize(b.len() + 1000, 0);
    std::fs::write(seg(&d, 1), &b).unwrap();
    assert_eq!(replay(&d, 0, None).unwrap(), vec![0, 1, 2, 3, 4]);
    let rec = scan(&d, 0, None).unwrap();
    let seqr = Seq::default();
    seqr.advance_to(rec.max_seq);
    let wal = Wal::open(rec, 4096, false, false).unwrap();
    assert_eq!(std::fs::metadata(seg(&d, 1)).unwrap().len(), (HEADER_LEN + 5 * REC) as u64, "cut");
    wal.append(&Record::Insert { id: 1, ts: &[5], vals: &[1.0] }, seqr.next()).unwrap();
    drop(wal);
    assert_eq!(numbered_files(&d, EXT).unwrap(), vec![1, 2], "a format-2 segment follows");
    assert_eq!(replay(&d, 0, None).unwrap(), vec![0, 1, 2, 3, 4, 5]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_format_2_segment_is_read_ended_and_followed_by_a_format_3_one() {
    let d = dir("v2");
    // Format 2: the layout of format 3, without scrape records; written by earlier releases.
    let len = 4 * PAGE as usize;
    let mut b = five_inserts(file_header(&MAGIC, FORMAT_2, 4, 1).to_vec());
    b.resize(len, 0);
    std::fs::write(seg(&d, 1), &b).unwrap();
    assert_eq!(replay(&d, 0, None).unwrap(), vec![0, 1, 2, 3, 4]);
    let rec = scan(&d, 0, None).unwrap();
    let seqr = Seq::default();
    seqr.advance_to(rec.max_seq);
    let wal = Wal::open(rec, 4096, false, false).unwrap();
    // A scrape goes to a new, format-3 segment; the old one ends with a record naming it.
    let scrape = Record::scrape(&[1, 1], &[5, 5], &[1.0, 2.0]).unwrap();
    wal.append(&scrape, seqr.next()).unwrap();
    drop(wal);
    assert_eq!(numbered_files(&d, EXT).unwrap(), vec![1, 2]);
    let head = std::fs::read(seg(&d, 2)).unwrap();
    assert_eq!(u32_at(&head, 8), FORMAT);
    assert_eq!(u32_at(&std::fs::read(seg(&d, 1)).unwrap(), 8), FORMAT_2, "the old segment keeps its format");
    let rec = scan(&d, 0, None).unwrap();
    let mut got = Vec::new();
    rec.apply(0, |seq, r| {
        got.push((seq, r));
        Ok(())
    })
    .unwrap();
    assert_eq!(got.len(), 6);
    assert_eq!(got[5], (6, Replayed::Batch { ids: vec![1, 1], ts: vec![5, 5], vals: vec![1.0, 2.0] }));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn truncation_deletes_only_a_prefix() {
    let d = dir("prefix");
    let (wal, _) = write(&d, 200, 4096);
    let nos = numbered_files(&d, EXT).unwrap();
    let second_last = wal.inner.lock().closed[1].last_seq;
    wal.truncate_through(second_last, false).unwrap();
    assert_eq!(numbered_files(&d, EXT).unwrap(), nos[2..].to_vec());
    assert_eq!(wal.log_start(second_last, false).unwrap().segment, nos[2]);
    wal.truncate_through(u64::MAX, true).unwrap();
    assert!(numbered_files(&d, EXT).unwrap().is_empty());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn stray_bytes_after_the_end_are_cleared_before_the_log_goes_on() {
    let d = dir("stray");
    let (wal, _) = write(&d, 5, 1 << 16);
    drop(wal);
    let path = seg(&d, 1);
    let mut b = std::fs::read(&path).unwrap();
    b[HEADER_LEN + 5 * REC + 17] = 0x55; // in the zeros, where the next record's header goes
    b[40_000] = 0x66;
    std::fs::write(&path, &b).unwrap();
    assert_eq!(replay(&d, 0, None).unwrap().len(), 5);
    let rec = scan(&d, 0, None).unwrap();
    let seqr = Seq::default();
    seqr.advance_to(rec.max_seq);
    let wal = Wal::open(rec, 1 << 16, false, false).unwrap();
    wal.append(&Record::Insert { id: 1, ts: &[5], vals: &[0.0] }, seqr.next()).unwrap();
    drop(wal);
    assert_eq!(replay(&d, 0, None).unwrap(), vec![0, 1, 2, 3, 4, 5]);
    std::fs::remove_dir_all(&d).unwrap();
}
