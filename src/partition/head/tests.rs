//! Tests of the head: its log, runs, restored extents and checkpoint extents.
use super::*;

#[test]
fn seal_split_fast_path_equals_the_general_one() {
    let general = |h: &HeadInner, upto: u64| {
        let (sealable, carry) = h.split_at_seq(upto).unwrap();
        let (ts, vals) = super::super::sorted_unique(sealable, h.sorted);
        (ts, vals, carry)
    };
    // Ascending and raw: the fast path, at an `upto` covering every point.
    let h = Head::default();
    let mut g = h.lock();
    for i in 0..100 {
        g.push(i * 10, i as f64, 1 + i as u64 / 10);
    }
    assert_eq!(g.split_for_seal(10).unwrap(), general(&g, 10));
    // Some points too new: the general path, same answer.
    let (ts, _, carry) = g.split_for_seal(5).unwrap();
    assert_eq!((ts.len(), carry.len()), (50, 50));
    assert_eq!(g.split_for_seal(5).unwrap(), general(&g, 5));
    // Out of order and duplicated.
    g.push(15, -1.0, 11);
    g.push(15, -2.0, 11);
    assert_eq!(g.split_for_seal(11).unwrap(), general(&g, 11));
    assert!(g.split_for_seal(11).unwrap().0.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn visible_filters_by_seq_and_range_and_keeps_last_write() {
    let h = Head::default();
    {
        let mut g = h.lock();
        g.push(5, 1.0, 1);
        g.push_all(&[3, 5, 3], &[2.0, 3.0, 4.0], 2); // duplicate ts in one batch: last wins
        g.push(9, 5.0, 4);
        g.push(5, 6.0, 3);
        assert!(!g.is_sorted());
    }
    assert_eq!(h.visible(1, i64::MIN, i64::MAX).unwrap(), (vec![5], vec![1.0]));
    assert_eq!(h.visible(2, i64::MIN, i64::MAX).unwrap(), (vec![3, 5], vec![4.0, 3.0]));
    assert_eq!(h.visible(3, i64::MIN, i64::MAX).unwrap(), (vec![3, 5], vec![4.0, 6.0]));
    assert_eq!(h.visible(9, 4, 10).unwrap(), (vec![5, 9], vec![6.0, 5.0]));
}

#[test]
fn runs_and_tail_read_as_one_log() {
    let h = Head::default();
    let mut want = Vec::new();
    {
        let mut g = h.lock();
        for i in 0..1000u64 {
            let ts = (i as i64 * 7919) % 500; // out of order, with duplicates
            let val = i as f64 / 4.0;
            if i % 10 == 0 {
                g.push_all(&[ts, ts + 1], &[val, val], i);
                want.extend([(ts, val, i), (ts + 1, val, i)]);
            } else {
                g.push(ts, val, i);
                want.push((ts, val, i));
            }
            assert!(!g.settle(u32::MAX, 16, || false));
        }
        assert!(g.tail.len() < 16 && g.runs.as_ref().unwrap().iter().count() > 50);
        assert_eq!(g.len(), want.len());
        let got: Vec<_> = g.points().unwrap().iter().map(|p| (p.ts, p.val, p.seq)).collect();
        assert_eq!(got, want);
        assert_eq!(g.split_at_seq(499).unwrap().0.len(), want.iter().filter(|p| p.2 <= 499).count());
        assert!(g.settle(want.len() as u32, 16, || false), "full heads are reported, not compressed");
    }
    let (ts, vals) = h.visible(600, 100, 200).unwrap();
    let mut model = std::collections::BTreeMap::new();
    for &(t, v, s) in want.iter().filter(|p| p.2 <= 600 && (100..200).contains(&p.0)) {
        model.insert(t, (s, v)); // seqs ascend in `want`: the later write wins
    }
    assert_eq!(ts, model.keys().copied().collect::<Vec<_>>());
    assert_eq!(vals, model.values().map(|p| p.1).collect::<Vec<_>>());
}

/// A head restored from extents it has not decoded reads, seals and copies exactly as
/// one holding their points (seq 0, oldest extent first) in its log, before and after
/// later writes, in order or not.
#[test]
fn restored_extents_read_as_the_decoded_points() {
    use super::super::MemSink;
    let ext = |pts: &[(i64, f64)]| {
        let (ts, vals): (Vec<i64>, Vec<f64>) = pts.iter().copied().unzip();
        Arc::new(Sealed::encode(&ts, &vals, &MemSink).unwrap())
    };
    // Ascending and disjoint (the head stays sorted), or overlapping with overwrites.
    let cases: Vec<Vec<Arc<Sealed>>> = vec![
        vec![ext(&[(10, 1.0), (20, 2.0)]), ext(&[(30, 3.0), (40, 4.0)])],
        vec![ext(&[(10, 1.0), (20, 2.0), (30, 3.0)]), ext(&[(20, 22.0), (25, 2.5)]), ext(&[(30, 33.0)])],
        vec![ext(&(0..3000).map(|i| (i * 2, i as f64)).collect::<Vec<_>>())], // paged
    ];
    let writes: [(i64, f64, u64); 5] =
        [(50, 5.0, 3), (20, -2.0, 4), (5, 0.5, 5), (50, 55.0, 6), (4000, 9.0, 7)];
    for extents in cases {
        let eager = Head::default();
        let lazy = Head::default();
        {
            let mut e = eager.lock();
            let (mut ts, mut vals) = (Vec::new(), Vec::new());
            for x in &extents {
                x.decode_into(&mut ts, &mut vals).unwrap();
                e.push_all(&ts, &vals, 0);
                e.add_extent(x.clone());
            }
            lazy.lock().restore(extents.clone());
        }
        let same = |stage: &str| {
            let (e, l) = (eager.lock(), lazy.lock());
            assert_eq!(l.len(), e.len(), "{stage}");
            assert_eq!(l.is_sorted(), e.is_sorted(), "{stage}");
            assert_eq!(l.points().unwrap(), e.points().unwrap(), "{stage}");
            assert_eq!(l.points_between(0, u64::MAX), e.points_between(0, u64::MAX), "{stage}");
            for upto in [0, 4, 7] {
                assert_eq!(
                    l.split_for_seal(upto).unwrap(),
                    e.split_for_seal(upto).unwrap(),
                    "{stage} {upto}"
                );
            }
            let copy = l.successor(l.extents().to_vec());
            assert_eq!(copy.lock().points().unwrap(), l.points().unwrap(), "{stage}: a copy");
            assert_eq!(copy.lock().extents().len(), l.extents().len());
            drop((e, l));
            for (seq, from, until) in [(0, i64::MIN, i64::MAX), (4, 15, 35), (9, 0, 3000), (9, 2990, 6000)] {
                let want = eager.visible(seq, from, until).unwrap();
                assert_eq!(lazy.visible(seq, from, until).unwrap(), want, "{stage}: {seq} [{from}, {until})");
                assert_eq!(copy.visible(seq, from, until).unwrap(), want, "{stage}: a copy");
            }
        };
        same("restored");
        for (ts, val, seq) in writes {
            eager.lock().push(ts, val, seq);
            lazy.lock().push(ts, val, seq);
            same(&format!("after writing {ts} at {seq}"));
        }
        // A checkpoint's new extent absorbs restored ones as it would decoded ones: their
        // points go into the log first (else a head reopened often would gather extents).
        assert!(lazy.lock().pop_extent_up_to(usize::MAX).is_none(), "restored ones are not popped");
        for h in [&eager, &lazy] {
            h.lock().write_extents(u64::MAX, &mut ExtentScratch::default(), &MemSink).unwrap();
        }
        same("after a checkpoint");
        let counts = |h: &Head| h.lock().extents().iter().map(|e| e.len()).collect::<Vec<_>>();
        assert_eq!(counts(&lazy), counts(&eager));
        let absorbed = extents.last().unwrap().len() <= 2 * 5;
        assert_eq!(lazy.lock().runs.as_ref().unwrap().restored == 0, absorbed);
    }
}

#[test]
fn sorted_flag_survives_compression() {
    let mut g = HeadInner::default();
    g.push_all(&[1, 2, 3], &[0.0; 3], 1);
    assert!(!g.settle(100, 2, || false));
    assert!(g.tail.is_empty() && g.is_sorted());
    g.push(4, 0.0, 2);
    assert!(g.is_sorted());
    assert!(!g.settle(100, 1, || false));
    g.push(4, 0.0, 3); // equal to the last run's last timestamp
    assert!(!g.is_sorted());
}

#[test]
fn admitted_heads_stay_raw_until_frozen() {
    let mut g = HeadInner::default();
    g.push_all(&[1, 2, 3], &[0.0; 3], 1);
    let mut asked = 0;
    assert!(!g.settle(100, 2, || {
        asked += 1;
        true
    }));
    g.push(4, 0.0, 2);
    assert!(!g.settle(100, 2, || unreachable!("asked once")));
    assert!(g.runs.is_none() && g.tail.len() == 4 && asked == 1);
    assert!(g.freeze());
    assert!(!g.freeze(), "the place is given back once");
}

/// A compressed tail keeps its buffer for the next run (no regrowth per run), unless a
/// large batch grew it past twice the run; the count of points before the tail follows
/// every run.
#[test]
fn compressed_tails_keep_a_run_sized_buffer() {
    let mut g = HeadInner::default();
    let mut seq = 0;
    for round in 0..5 {
        for _ in 0..16 {
            seq += 1;
            g.push(seq as i64, seq as f64, seq);
            g.settle(4096, 16, || false);
        }
        assert!(g.tail.is_empty() && g.tail.capacity() >= 16 && g.tail.capacity() <= 32, "round {round}");
        assert_eq!(g.len(), 16 * (round + 1));
    }
    let big: Vec<i64> = (100..1100).collect();
    g.push_all(&big, &vec![1.0; big.len()], seq + 1);
    g.settle(4096, 16, || false);
    assert_eq!((g.tail.len(), g.tail.capacity()), (0, 0), "a large batch's buffer is let go");
    assert_eq!(g.len(), 80 + 1000);
    let pts = g.points().unwrap();
    assert_eq!(pts.len(), 1080);
    assert!(pts.windows(2).all(|w| w[0].ts < w[1].ts) && g.is_sorted());
}

#[test]
fn sorted_flag_tracks_strictly_ascending_appends() {
    let mut g = HeadInner::default();
    g.push_all(&[1, 2, 3], &[0.0; 3], 1);
    g.push(4, 0.0, 2);
    assert!(g.is_sorted());
    g.push(4, 0.0, 3);
    assert!(!g.is_sorted());
    let h = Head::with_points(vec![HeadPoint { ts: 1, val: 0.0, seq: 1 }]);
    assert!(h.lock().is_sorted());
}
