//! The manifest's unit tests: commits against a model of the metrics, torn and damaged
//! superblocks, the packed codings round trip and refuse garbage.
use super::blob::{BLOB_HEADER, EXTENTS, INDEX, LEAF, LEAF3, NAME, NODE, blob_size};
use super::leaf::{self, Entry, Name, Refs, Slots, decode_leaf, encode_leaf};
use super::metric::{self, INLINE_REFS};
use super::refs::{decode_chunk, encode_chunk};
use super::superblock::{SLOT, SUPER_LEN};
use super::tree::{FAN, FAN_BITS};
use super::*;
use crate::bytes::{u32_at, u64_at};
use crate::codec::shapes::Rng;

fn r(seg: u64, off: u64) -> BlockRef {
    BlockRef { seg, off, len: 100, count: 10, first_ts: off as i64, last_ts: off as i64 + 9 }
}

/// Metrics by id: name, parts, extents, retention.
type State = std::collections::BTreeMap<u64, (String, Vec<PartRef>, Vec<BlockRef>, i64)>;

fn loaded(m: &Manifest) -> State {
    let mut s = State::new();
    m.load(|e| {
        s.insert(e.id, (e.name.to_string(), e.parts, e.extents, e.retention));
        Ok(())
    })
    .unwrap();
    s
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tsdb-manifest-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    d
}

/// Commit the metrics `ids` as `state` has them (absent: removed), then check that the
/// manifest holds `state` and that its live bytes are exactly the blobs the tree reaches.
fn commit(m: &mut Manifest, state: &State, ids: impl IntoIterator<Item = u64>, closing: bool) {
    let changes: Vec<Change<'_>> = ids
        .into_iter()
        .map(|id| Change {
            id,
            state: state.get(&id).map(|e| MetricState {
                name: &e.0,
                parts: &e.1,
                extents: &e.2,
                retention: e.3,
            }),
        })
        .collect();
    let next_id = state.keys().last().map_or(1, |id| id + 1);
    let commit = Commit { checkpoint_seq: 1, next_id, next_data_seg: 3, log: None };
    m.commit(&changes, commit, false, closing).unwrap();
    assert_eq!(loaded(m), *state);
    assert_eq!(m.sizes().1, FIRST_BLOB + reachable(m), "live bytes");
}

/// Bytes of the blobs reachable from the root, by walking the tree.
fn reachable(m: &Manifest) -> u64 {
    fn walk(m: &Manifest, node: u64, level: u32, base: u64) -> u64 {
        let (_, body) = m.blobs().get_of(node, &[NODE, LEAF, LEAF3]).unwrap();
        let mut n = blob_size(body.len());
        if level > 0 {
            for k in 0..FAN {
                let child = u64_at(body, 8 * k);
                if child != 0 {
                    n += walk(m, child, level - 1, base + ((k as u64) << (FAN_BITS * level)));
                }
            }
            return n;
        }
        for e in leaf::read(&m.blobs(), node, base).unwrap().0.into_iter().flatten() {
            if let Name::Blob(off) = e.name {
                n += m.blobs().size(off, NAME).unwrap();
            }
            if e.parts.blob() != 0 {
                let index = m.blobs().get(e.parts.blob(), INDEX).unwrap();
                n += blob_size(index.len());
                for c in index.chunks_exact(8) {
                    n += metric::chunk_len(&m.blobs(), u64_at(c, 0)).unwrap();
                }
            }
            if e.extents.blob() != 0 {
                n += m.blobs().size(e.extents.blob(), EXTENTS).unwrap();
            }
        }
        n
    }
    match m.sb.root {
        0 => 0,
        root => walk(m, root, m.sb.height - 1, 0),
    }
}

/// Metric `id`'s entry as its leaf holds it.
fn entry_of(m: &Manifest, id: u64) -> Option<Entry> {
    let mut node = m.sb.root;
    for level in (1..m.sb.height).rev() {
        if node == 0 {
            return None;
        }
        node = u64_at(m.blobs().get(node, NODE).unwrap(), 8 * (((id >> (FAN_BITS * level)) as usize) % FAN));
    }
    if node == 0 {
        return None;
    }
    leaf::read(&m.blobs(), node, id & !(FAN as u64 - 1)).unwrap().0[(id as usize) % FAN].clone()
}

#[test]
fn commits_write_only_what_changed_and_reopen_to_the_same_state() {
    let d = tmp("random");
    let mut rng = Rng::new(1, 0);
    let (mut m, h) = Manifest::create(&d, false).unwrap();
    assert_eq!((h.checkpoint_seq, h.next_id, h.log), (0, 1, Some(LogStart { segment: 1, exists: false })));
    let mut state = State::new();
    let mut next_id = 1;
    for round in 0..60u64 {
        let mut touched = std::collections::BTreeSet::new();
        for _ in 0..1 + rng.below(300) {
            match rng.below(10) {
                0 if next_id < 20_000 => {
                    let id = next_id;
                    next_id += 1 + rng.below(3000); // sparse ids: the tree grows higher
                    // Names in the leaf, sharing prefixes or not, and names in blobs.
                    let name = match id % 7 {
                        0 => format!("host-{id:08}.a.rather.long.metric.name"),
                        1 => format!("{id}.{}", "x".repeat(70)),
                        2 => format!("{}.{id}", "y".repeat(90)),
                        _ => format!("m.{id}"),
                    };
                    let retention = [0, -1, 3600, i64::MIN][rng.below(4) as usize];
                    state.insert(id, (name, Vec::new(), Vec::new(), retention));
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
                            e.1.push(PartRef { start: n * 100, block: r(round, rng.below(1 << 30)) });
                            if rng.below(5) == 0 && !e.1.is_empty() {
                                let k = rng.below(e.1.len() as u64) as usize;
                                e.1[k].block = r(round, 7);
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
                state: state.get(&id).map(|e| MetricState {
                    name: &e.0,
                    parts: &e.1,
                    extents: &e.2,
                    retention: e.3,
                }),
            })
            .collect();
        let before = m.sizes().0;
        let log = Some(LogStart { segment: round, exists: round % 2 == 0 });
        let commit = Commit { checkpoint_seq: round, next_id, next_data_seg: 3, log };
        m.commit(&changes, commit, false, false).unwrap();
        let written = m.sizes().0.saturating_sub(before);
        // A commit writes about what changed (a leaf and a path per metric, plus its
        // changed chunks), not the whole manifest.
        assert!(
            written < 16_000 * (changes.len() as u64 + 4),
            "{written} bytes for {} changes",
            changes.len()
        );
        assert_eq!(loaded(&m), state, "round {round}");
        assert_eq!(m.sizes().1, FIRST_BLOB + reachable(&m), "live bytes, round {round}");
        if round % 10 == 9 {
            let (again, h) = Manifest::open(&d, false).unwrap();
            assert_eq!((h.checkpoint_seq, h.log), (round, log));
            assert_eq!(loaded(&again), state);
            m = again;
        }
    }
    let (file, live) = m.sizes();
    assert!(file <= 2 * live + (2 << 20), "rewrites keep the file near its live size: {file} vs {live}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Found by the `manifest_file` fuzz target: a manifest whose next metric id was 2^62 - 1
/// took a commit of id 2^62 and then no longer opened (the reader refuses counters from
/// 2^62 on). A commit writes only a superblock an open accepts.
#[test]
fn a_commit_never_writes_a_superblock_that_does_not_open() {
    let d = tmp("counters");
    let (mut m, _) = Manifest::create(&d, false).unwrap();
    let parts = vec![PartRef { start: 0, block: r(1, 64) }];
    let state = MetricState { name: "a", parts: &parts, extents: &[], retention: 0 };
    let c = |next_id, seq, seg| Commit { checkpoint_seq: seq, next_id, next_data_seg: seg, log: None };
    m.commit(&[Change { id: 1, state: Some(state) }], c(2, 1, 2), false, false).unwrap();
    let before = std::fs::read(d.join(FILE)).unwrap();
    for bad in [c(MAX_COUNTER, 2, 2), c(2, MAX_COUNTER, 2), c(2, 2, MAX_COUNTER), c(u64::MAX, 2, 2)] {
        let err = m.commit(&[], bad, false, false).unwrap_err();
        assert!(matches!(&err, Error::Corruption(msg) if msg.contains("no open accepts")), "{err:?}");
    }
    // The file still opens at the last good commit, and takes the next one.
    let (mut m, h) = Manifest::open(&d, false).unwrap();
    assert_eq!((h.checkpoint_seq, h.next_id), (1, 2));
    assert_eq!(loaded(&m)[&1].1, parts);
    m.commit(&[], c(MAX_COUNTER - 1, 3, 2), false, false).unwrap();
    drop(m);
    assert_eq!(Manifest::open(&d, false).unwrap().1.next_id, MAX_COUNTER - 1);
    assert!(std::fs::read(d.join(FILE)).unwrap().len() >= before.len());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_torn_superblock_falls_back_and_damage_is_corruption() {
    let d = tmp("torn");
    let (mut m, _) = Manifest::create(&d, false).unwrap();
    let parts = vec![PartRef { start: 0, block: r(1, 64) }];
    let h = |seq| Commit { checkpoint_seq: seq, next_id: 2, next_data_seg: 2, log: None };
    let state = |extents| MetricState { name: "a", parts: &parts, extents, retention: 0 };
    m.commit(&[Change { id: 1, state: Some(state(&[])) }], h(1), false, false).unwrap();
    let path = d.join(FILE);
    let first = std::fs::read(&path).unwrap();
    m.commit(&[Change { id: 1, state: Some(state(&[r(1, 500)])) }], h(2), false, false).unwrap();
    drop(m);
    let good = std::fs::read(&path).unwrap();
    let seq_of = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        Manifest::open(&d, false).map(|(_, h)| h.checkpoint_seq)
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

/// A leaf's slots: every kind of name and list, extreme values.
fn sample_slots() -> Slots {
    let mut slots: Slots = vec![None; FAN];
    let b = |k: u64| BlockRef {
        seg: k % 3 + 1,
        off: 4096 + 700 * k,
        len: 700,
        count: 600,
        first_ts: 1_700_000_000_000 + k as i64,
        last_ts: 1_700_000_600_000,
    };
    for k in 0..FAN as u64 {
        let name = match k % 5 {
            0 => Name::Inline(format!("bench.disk.m{k:04}").into()),
            1 => Name::Inline(format!("bench.disk.m{k:04}.{}", "z".repeat(k as usize)).into()),
            2 => Name::Blob(8192 + 8 * k),
            3 => Name::Inline("é".repeat(k as usize % 7).into()), // may share half a character
            _ => Name::Inline("".into()),
        };
        let parts = match k % 4 {
            0 => Refs::Inline(Vec::new()),
            1 => Refs::Inline(
                (0..k.min(4))
                    .map(|i| PartRef { start: 1_699_000_000_000 + i as i64 * 1000, block: b(k + i) })
                    .collect(),
            ),
            2 => Refs::Blob { off: 1 << 40, count: 5 + k },
            _ => Refs::Inline(vec![PartRef {
                start: i64::MIN,
                block: BlockRef {
                    seg: u64::MAX,
                    off: u64::MAX,
                    len: u32::MAX,
                    count: u32::MAX,
                    first_ts: i64::MIN,
                    last_ts: i64::MAX,
                },
            }]),
        };
        let extents = match k % 3 {
            0 => Refs::Inline(vec![b(k)]),
            1 => Refs::Blob { off: 8200, count: u64::from(u32::MAX) },
            _ => Refs::Inline((0..4).map(|i| b(k * 4 + i)).collect()),
        };
        let retention = [0, -1, i64::MAX, i64::MIN, 86_400_000][k as usize % 5];
        slots[k as usize] = Some(Entry { name, retention, parts, extents });
    }
    slots
}

#[test]
fn packed_leaves_round_trip() {
    let full = sample_slots();
    let mut cases = vec![full.clone()];
    // One entry, first or last; every other slot; and a run of names sharing prefixes.
    for keep in [0usize, 63, 1] {
        let mut one = full.clone();
        for (k, e) in one.iter_mut().enumerate() {
            if (keep == 1 && k % 2 == 1) || (keep != 1 && k != keep) {
                *e = None;
            }
        }
        cases.push(one);
    }
    for slots in &cases {
        let body = encode_leaf(slots);
        assert_eq!(&decode_leaf(&body, 777).unwrap(), slots);
        // Encoding is deterministic: the same slots give the same bytes.
        assert_eq!(encode_leaf(&decode_leaf(&body, 777).unwrap()), body);
    }
    // Names sharing a prefix cost their suffix, references like their neighbours a byte
    // a field: entries like those of "recorded, short" (one extent each) take about 12.
    let similar: Slots = (0..FAN as u64)
        .map(|k| {
            Some(Entry {
                name: Name::Inline(format!("bench.disk.m{:04}", 1000 + k).into()),
                retention: 0,
                parts: Refs::Inline(Vec::new()),
                extents: Refs::Inline(vec![BlockRef {
                    seg: 1,
                    off: 4096 + 700 * k,
                    len: 700,
                    count: 600,
                    first_ts: 1_700_000_000_000,
                    last_ts: 1_700_000_000_000 + 599 * 10_000,
                }]),
            })
        })
        .collect();
    let body = encode_leaf(&similar);
    assert_eq!(decode_leaf(&body, 777).unwrap(), similar);
    assert!(body.len() < 8 + 13 * FAN, "{} bytes", body.len());
}

fn leaf_error(body: &[u8]) -> String {
    match decode_leaf(body, 777) {
        Err(Error::Corruption(m)) => {
            assert!(m.starts_with("MANIFEST offset 777: packed leaf: "), "{m}");
            m
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_or_garbled_packed_leaves_are_corruption() {
    let body = encode_leaf(&sample_slots());
    // Every entry needs all its bytes, and the body must end with the last one.
    for n in 0..body.len() {
        leaf_error(&body[..n]);
    }
    let mut longer = body.clone();
    longer.push(0);
    assert!(leaf_error(&longer).contains("1 bytes after the last entry"));
    // Garbled bodies (as if a checksum had failed to catch them): never a panic, and an
    // error is a corruption naming the blob.
    let mut rng = Rng::new(7, 0);
    for _ in 0..20_000 {
        let mut b = body.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(b.len() as u64) as usize;
            b[at] = rng.next_u64() as u8;
        }
        if let Err(e) = decode_leaf(&b, 777) {
            assert!(
                matches!(&e, Error::Corruption(m) if m.starts_with("MANIFEST offset 777: packed leaf: "))
            );
        }
        let random: Vec<u8> = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect();
        let _ = decode_leaf(&random, 777);
    }
    // Each check, on a crafted entry in slot 0.
    let leaf = |entry: &[u8]| {
        let mut b = 1u64.to_le_bytes().to_vec();
        b.extend_from_slice(entry);
        leaf_error(&b)
    };
    assert!(leaf_error(&0u64.to_le_bytes()).contains("no entries"));
    assert!(leaf(&[2 << 1, 1, b'a', 0, 0, 0]).contains("sharing 2 bytes of a 0-byte one"));
    assert!(leaf(&[0, 5, b'a']).contains("5 bytes run past the end"));
    assert!(leaf(&[0, 1, 0xff, 0, 0, 0]).contains("not UTF-8"));
    assert!(leaf(&[0, 0, 0, 1]).contains("an empty list kept in a blob"));
    assert!(leaf(&[0, 0, 0, 9 << 1]).contains("a list of 9 in 0 bytes"));
    assert!(leaf(&[0; 1]).contains("varint"));
    let mut long = vec![0, 0];
    long.extend_from_slice(&[0x80; 10]);
    long.push(1);
    assert!(leaf(&long).contains("varint"));
    // An extent: ± first_ts, then ± differences: span, segment, offset, length, count.
    let extent = |fields: &[u8]| {
        let mut e = vec![0, 0, 0, 0, 2];
        e.extend_from_slice(fields);
        leaf(&e)
    };
    assert!(extent(&[0, 0, 0, 0, 2, 0]).contains("block reference of no points"));
    assert!(extent(&[0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x40, 2]).contains("0 + 8589934592 where a 32-bit"));
    assert!(extent(&[0, 0, 0, 0, 1, 2]).contains("0 + -1 where a 32-bit"));
    let mut past = vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    past.extend_from_slice(&[2, 0, 0, 2, 2]);
    assert!(extent(&past).contains("past the last timestamp"));
    // A good one, for contrast: name "", retention 0, no parts, one extent.
    let mut good = 1u64.to_le_bytes().to_vec();
    good.extend_from_slice(&[0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 2]);
    assert!(decode_leaf(&good, 777).is_ok());
}

#[test]
fn entries_move_between_leaf_and_blobs_as_they_change() {
    let d = tmp("moves");
    let (mut m, _) = Manifest::create(&d, false).unwrap();
    let mut state = State::new();
    // A full leaf (ids 64..128) of names sharing prefixes, and one in the next leaf.
    let long = "p".repeat(100);
    for id in 64..128u64 {
        let name = match id {
            70 => format!("{long}.a"), // too long to keep in the leaf on its own
            71 => format!("{long}.b"), // shares 101 bytes with a name in a blob
            _ => format!("cpu.{id}"),
        };
        state.insert(id, (name, Vec::new(), Vec::new(), 0));
    }
    state.insert(130, ("disk".into(), Vec::new(), Vec::new(), -1));
    commit(&mut m, &state, state.keys().copied().collect::<Vec<_>>(), false);
    assert!(matches!(entry_of(&m, 70).unwrap().name, Name::Blob(_)));
    // 71 shares nothing with 69 (70's name is not in the leaf): a blob as well.
    assert!(matches!(entry_of(&m, 71).unwrap().name, Name::Blob(_)));
    assert!(matches!(entry_of(&m, 72).unwrap().name, Name::Inline(_)));
    // A name kept in the leaf thanks to its neighbour (ids 192, 193: a fresh leaf) goes
    // to a blob when the neighbour goes.
    state.insert(192, ("q".repeat(60), Vec::new(), Vec::new(), 0));
    state.insert(193, (format!("{}{}", "q".repeat(60), "r".repeat(30)), Vec::new(), Vec::new(), 0));
    commit(&mut m, &state, [192, 193], false);
    assert!(matches!(entry_of(&m, 193).unwrap().name, Name::Inline(_)), "90 bytes, 30 of them its own");
    state.remove(&192);
    commit(&mut m, &state, [192], false);
    assert!(matches!(entry_of(&m, 193).unwrap().name, Name::Blob(_)), "now 90 of its own");
    // ... and keeps its blob when its entry changes later.
    let blob = entry_of(&m, 193).unwrap().name;
    state.get_mut(&193).unwrap().2.push(r(1, 1));
    commit(&mut m, &state, [193], false);
    assert_eq!(entry_of(&m, 193).unwrap().name, blob);
    // A metric's parts and extents grow past what the leaf holds (and past two chunks)
    // and shrink back.
    for n in 1..=600u64 {
        let e = state.get_mut(&100).unwrap();
        e.1.push(PartRef { start: n as i64 * 1000, block: r(n, n * 4096) });
        if n % 3 == 0 {
            e.2.push(r(n, 7));
        }
        if n % 40 == 0 {
            e.2.truncate(2);
        }
        if n % 7 == 0 {
            continue; // commits of several new parts at once
        }
        e.3 = n as i64;
        commit(&mut m, &state, [100], false);
        let got = entry_of(&m, 100).unwrap();
        assert_eq!(matches!(got.parts, Refs::Inline(_)), n <= INLINE_REFS as u64, "{n} parts");
        assert_eq!(matches!(got.extents, Refs::Inline(_)), state[&100].2.len() <= INLINE_REFS);
    }
    // A changed part in the middle, then the list cut back to 3 (in the leaf again).
    state.get_mut(&100).unwrap().1[290].block = r(9, 9);
    commit(&mut m, &state, [100], false);
    state.get_mut(&100).unwrap().1.truncate(3);
    state.get_mut(&100).unwrap().2.clear();
    commit(&mut m, &state, [100], false);
    assert!(matches!(entry_of(&m, 100).unwrap().parts, Refs::Inline(ref v) if v.len() == 3));
    // Reopened, and rewritten whole (a close's compaction), it is the same.
    let (again, _) = Manifest::open(&d, false).unwrap();
    assert_eq!(loaded(&again), state);
    m = again;
    commit(&mut m, &state, [100], true);
    // Removal: a leaf emptied is no blob, a tree emptied is no root.
    let ids: Vec<u64> = state.keys().copied().collect();
    state.clear();
    commit(&mut m, &state, ids, false);
    assert_eq!((m.sb.root, m.sb.header.metrics, m.sizes().1), (0, 0, FIRST_BLOB));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_garbled_leaf_with_a_good_checksum_is_corruption_naming_it() {
    let d = tmp("garbled");
    let (mut m, _) = Manifest::create(&d, false).unwrap();
    let mut state = State::new();
    state.insert(1, ("a.metric".into(), vec![PartRef { start: 0, block: r(1, 64) }], vec![r(1, 500)], 0));
    commit(&mut m, &state, [1], false);
    let leaf = m.sb.root as usize;
    drop(m);
    let path = d.join(FILE);
    let good = std::fs::read(&path).unwrap();
    let len = u32_at(&good, leaf + 8) as usize;
    let mut rng = Rng::new(11, 0);
    let mut failed = 0;
    for k in 0..len {
        let mut b = good.clone();
        b[leaf + BLOB_HEADER + k] ^= 1 << rng.below(8);
        let crc = crc32fast::hash(&b[leaf + 4..leaf + BLOB_HEADER + len]);
        b[leaf..leaf + 4].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, &b).unwrap();
        let (m, _) = Manifest::open(&d, false).unwrap();
        match m.load(|_| Ok(())) {
            Err(Error::Corruption(msg)) => {
                assert!(msg.starts_with("MANIFEST offset"), "{msg}");
                failed += 1;
            }
            Err(e) => panic!("{e:?}"),
            Ok(()) => {} // another valid leaf: what checksums are for
        }
    }
    assert!(failed > 0, "{failed} of {len} garbled leaves refused");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn an_unknown_format_is_named() {
    let d = tmp("format");
    let (m, _) = Manifest::create(&d, false).unwrap();
    drop(m);
    let path = d.join(FILE);
    let good = std::fs::read(&path).unwrap();
    for format in [2u32, 6] {
        let mut b = good.clone();
        for slot in [0, SLOT as usize] {
            b[slot + 8..slot + 12].copy_from_slice(&format.to_le_bytes());
            let crc = crc32fast::hash(&b[slot..slot + SUPER_LEN - 4]);
            b[slot + SUPER_LEN - 4..slot + SUPER_LEN].copy_from_slice(&crc.to_le_bytes());
        }
        std::fs::write(&path, &b).unwrap();
        match Manifest::open(&d, false) {
            Err(Error::Corruption(msg)) => assert_eq!(
                msg,
                format!("MANIFEST offset 0: manifest format {format}, this build reads formats 3 to 5")
            ),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn packed_chunks_round_trip_and_an_append_rewrites_the_last_one() {
    let mut rng = Rng::new(5, 0);
    let mut parts = Vec::new();
    let mut t = 1_700_000_000_000i64;
    for k in 0..300u64 {
        let first = t + rng.below(3) as i64;
        let last = first + 4095 * 10_000 + rng.below(100) as i64;
        let r = BlockRef {
            seg: 1 + k / 100,
            off: 32 + 1000 * k,
            len: 900 + k as u32 % 7,
            count: 4096,
            first_ts: first,
            last_ts: last,
        };
        parts.push(PartRef { start: t, block: r });
        t = last + 10_000;
    }
    parts.push(PartRef {
        start: i64::MAX,
        block: BlockRef { seg: 0, off: 0, len: 0, count: 1, first_ts: i64::MAX, last_ts: i64::MAX },
    });
    let body = encode_chunk(&parts);
    assert!(body.len() < 12 * parts.len() + 20, "{} bytes for {} parts", body.len(), parts.len());
    let mut got = Vec::new();
    decode_chunk(&body, 99, &mut got).unwrap();
    assert_eq!(got, parts);
    for n in 0..body.len() {
        let mut out = Vec::new();
        match decode_chunk(&body[..n], 99, &mut out) {
            Err(Error::Corruption(m)) => {
                assert!(m.starts_with("MANIFEST offset 99: packed chunk: "), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
    for _ in 0..5000 {
        let mut b = body.clone();
        let at = rng.below(b.len() as u64) as usize;
        b[at] = rng.next_u64() as u8;
        if let Err(e) = decode_chunk(&b, 99, &mut Vec::new()) {
            assert!(
                matches!(&e, Error::Corruption(m) if m.starts_with("MANIFEST offset 99: packed chunk: "))
            );
        }
    }
    // In a manifest: appending a part writes the last chunk, the index and the leaf;
    // the first chunk keeps its blob.
    let d = tmp("chunks");
    let (mut m, _) = Manifest::create(&d, false).unwrap();
    let mut state = State::new();
    state.insert(1, ("m".into(), parts[..290].to_vec(), Vec::new(), 0));
    commit(&mut m, &state, [1], false);
    let chunks = |m: &Manifest| -> Vec<u64> {
        let e = entry_of(m, 1).unwrap();
        m.blobs().get(e.parts.blob(), INDEX).unwrap().chunks_exact(8).map(|c| u64_at(c, 0)).collect()
    };
    let before = chunks(&m);
    let end = m.sizes().0;
    state.get_mut(&1).unwrap().1.push(parts[290]);
    commit(&mut m, &state, [1], false);
    let after = chunks(&m);
    assert_eq!((before.len(), after.len(), before[0]), (2, 2, after[0]));
    assert_ne!(before[1], after[1]);
    let written = m.sizes().0 - end;
    assert!(written < 1000, "{written} bytes");
    std::fs::remove_dir_all(&d).unwrap();
}
