//! `wal_replay`: the log's scan and replay, and the open that follows a replay.
use super::checksums::fix_wal_checksums;
use super::{Scratch, write};
use crate::storage::{self as st, wal};

/// The log segments a `wal_replay` input describes: `flags u8 │ after u8 │ split u16 │
/// segments`. With flag bit 1 the bytes are cut in two at `split` (modulo their length):
/// segments 1 and 2, else one segment 1. Bit 0 recomputes the checksums of each. Bit 2:
/// the manifest says the log starts at segment 1 (bit 3: which exists), as format 5 does.
pub fn wal_segments(data: &[u8]) -> (u64, Vec<Vec<u8>>) {
    let [flags, after, s0, s1, rest @ ..] = data else { return (0, Vec::new()) };
    let mut segs = if flags & 2 != 0 {
        let split = usize::from(u16::from_le_bytes([*s0, *s1])) % (rest.len() + 1);
        vec![rest[..split].to_vec(), rest[split..].to_vec()]
    } else {
        vec![rest.to_vec()]
    };
    if flags & 1 != 0 {
        segs.iter_mut().for_each(|s| fix_wal_checksums(s));
    }
    (u64::from(*after), segs)
}

/// `wal::replay` of the segments [`wal_segments`] makes, as `wal/00000001.wal` (and
/// `00000002.wal`), after sequence number `after`. When it succeeds, the records applied
/// must have ascending numbers above `after`, and a second replay (after the first cut any
/// torn tail) must succeed with the same records.
pub fn wal_replay(data: &[u8]) {
    let (after, segs) = wal_segments(data);
    let start = match data.first() {
        Some(f) if f & 4 != 0 => Some(st::LogStart { segment: 1, exists: f & 8 != 0 }),
        _ => None,
    };
    if segs.is_empty() {
        return;
    }
    let dir = Scratch::new("wal");
    let wal_dir = dir.0.join("wal");
    for (k, s) in segs.iter().enumerate() {
        write(&wal_dir.join(st::file_name(k as u64 + 1, wal::EXT)), s);
    }
    let replay = || {
        let log = wal::scan(&wal_dir, after, start)?;
        let mut got = Vec::new();
        log.apply(after, |seq, rec| {
            got.push((seq, rec));
            Ok(())
        })?;
        let max_seq = log.max_seq;
        Ok::<_, crate::Error>((got, max_seq, log))
    };
    let Ok((first, max_seq, log)) = replay() else { return };
    assert!(first.windows(2).all(|w| w[0].0 + 1 == w[1].0), "records numbered without a gap");
    assert!(first.iter().all(|r| r.0 > after && r.0 <= max_seq), "records after `after`");
    // What a read-write open then does (deletes leftovers, clears a torn end, goes on in the
    // last segment) changes no record: a second replay reads the same.
    let Ok(w) = wal::Wal::open(log, 4096, false, false) else { return };
    drop(w);
    let (second, max2, _) = replay().expect("a log that replayed replays again");
    // Compared as text: the records' values may be NaN.
    assert_eq!(format!("{second:?}"), format!("{first:?}"), "a second replay reads the same records");
    assert_eq!(max2, max_seq);
}
