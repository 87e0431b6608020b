//! Round trips and hostile input for the codec.
use super::*;

use shapes::Rng;

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A summary with its floats as bits, so NaN sums compare equal to themselves.
fn key(s: &Summary) -> (u32, i64, i64, u64, u64, u64, u32) {
    (s.count, s.first_ts, s.last_ts, s.min.to_bits(), s.max.to_bits(), s.sum.to_bits(), s.nan_count)
}

#[track_caller]
fn round_trip(ts: &[i64], vals: &[f64]) -> Vec<u8> {
    let mut block = Vec::new();
    encode(ts, vals, &mut block);
    for codec in [None, Some(VAL_RAW), Some(VAL_XOR), Some(VAL_DECIMAL)] {
        let mut b = Vec::new();
        encode_with(ts, vals, codec, &mut b);
        let (mut t2, mut v2) = (vec![7], vec![7.0]); // decode appends
        let s = decode(&b, &mut t2, &mut v2).expect("decodes");
        assert_eq!(&t2[1..], ts, "timestamps, codec {codec:?}");
        assert_eq!(bits(&v2[1..]), bits(vals), "values, codec {codec:?}");
        assert_eq!(key(&s), key(&header(&b).unwrap().summary));
        assert_eq!(s.count as usize, ts.len());
    }
    block
}

/// Timestamps: strictly ascending, mixing regular steps, jitter and huge gaps.
fn timestamps(rng: &mut Rng, n: usize) -> Vec<i64> {
    let mut t = i64::MIN + rng.below(1000) as i64;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(t);
        let step = match rng.below(10) {
            0 => 1 + rng.below(u32::MAX as u64) as i64 * 1000,
            1 => 1,
            _ => 10_000 + rng.below(1000) as i64,
        };
        t = t.saturating_add(step);
        if t == i64::MAX {
            break;
        }
    }
    out
}

fn value(rng: &mut Rng) -> f64 {
    match rng.below(16) {
        0 => f64::from_bits(0x7ff0_0000_0000_0000 | rng.below(1 << 52).max(1)), // NaN payloads
        1 => f64::from_bits(0xfff8_0000_0000_0000 | rng.below(1 << 51)),
        2 => f64::INFINITY,
        3 => f64::NEG_INFINITY,
        4 => -0.0,
        5 => f64::from_bits(rng.below(1 << 52)), // subnormals
        6 => f64::from_bits(rng.next_u64()),
        _ => (rng.below(100_000) as f64 - 50_000.0) / 100.0,
    }
}

#[test]
fn edge_cases_round_trip_bit_exactly() {
    round_trip(&[0], &[1.0]);
    round_trip(&[i64::MIN], &[f64::NAN]);
    round_trip(&[i64::MAX], &[-0.0]);
    round_trip(&[i64::MIN, i64::MAX], &[f64::INFINITY, f64::NEG_INFINITY]);
    round_trip(&[i64::MIN, -1, 0, 1, i64::MAX], &[f64::MIN_POSITIVE / 4.0, f64::MAX, f64::MIN, 0.1, 1e300]);
    let ts: Vec<i64> = (0..1000).collect();
    round_trip(&ts, &vec![f64::NAN; 1000]);
    round_trip(&ts, &vec![42.0; 1000]);
    round_trip(&ts, &ts.iter().map(|&t| t as f64 * 0.01).collect::<Vec<_>>());
    round_trip(&ts, &ts.iter().map(|&t| (t as f64).sqrt()).collect::<Vec<_>>());
    round_trip(&ts, &ts.iter().map(|&t| 9.0e15 + t as f64).collect::<Vec<_>>()); // near 2^53
    round_trip(&ts, &ts.iter().map(|&t| if t % 2 == 0 { 1e-300 } else { -1e300 }).collect::<Vec<_>>());
}

#[test]
fn random_blocks_round_trip_bit_exactly() {
    let mut rng = Rng::new(1, 0);
    for round in 0..400 {
        let n = match round % 4 {
            0 => 1 + rng.below(3) as usize,
            1 => 1 + rng.below(300) as usize,
            _ => 1 + rng.below(5000) as usize,
        };
        let ts = timestamps(&mut rng, n);
        // Mostly decimal data with some specials, or all noise.
        let vals: Vec<f64> = (0..ts.len())
            .map(|_| if round % 5 == 0 { f64::from_bits(rng.next_u64()) } else { value(&mut rng) })
            .collect();
        round_trip(&ts, &vals);
    }
}

#[test]
fn a_large_block_round_trips() {
    let n = 1 << 20;
    let ts: Vec<i64> = (0..n as i64).map(|i| i * 1000).collect();
    let vals: Vec<f64> = (0..n).map(|i| ((i * 37) % 10_000) as f64 / 100.0).collect();
    let block = round_trip(&ts, &vals);
    assert!(block.len() < n * 3, "compresses: {} bytes for {n} points", block.len());
}

#[test]
fn summaries_follow_the_nan_rule() {
    let s = header(&round_trip(&[1, 2, 3, 4], &[2.0, f64::NAN, -1.0, 5.0])).unwrap().summary;
    assert_eq!((s.count, s.first_ts, s.last_ts, s.nan_count), (4, 1, 4, 1));
    assert_eq!((s.min, s.max, s.sum), (-1.0, 5.0, 6.0));
    let s = header(&round_trip(&[1, 2], &[f64::NAN, f64::NAN])).unwrap().summary;
    assert_eq!((s.min, s.max, s.sum, s.nan_count), (f64::INFINITY, f64::NEG_INFINITY, 0.0, 2));
    let s = header(&round_trip(&[1, 2], &[f64::INFINITY, f64::NEG_INFINITY])).unwrap().summary;
    assert!(s.sum.is_nan() && s.min == f64::NEG_INFINITY && s.max == f64::INFINITY);
}

/// Recompute both checksums, so mutated bytes reach the structural checks.
fn reseal(block: &mut [u8]) {
    if block.len() < HEADER_LEN {
        return;
    }
    let body = crc32fast::hash(&block[HEADER_LEN..]);
    block[BODY_CRC_AT..][..4].copy_from_slice(&body.to_le_bytes());
    let head = crc32fast::hash(&block[..HEADER_CRC_AT]);
    block[HEADER_CRC_AT..][..4].copy_from_slice(&head.to_le_bytes());
}

/// Header fields that summary-only reads use as they are (aggregates compute `count -
/// nan_count`) are checked against the point count even under a valid checksum.
#[test]
fn impossible_summaries_are_corruption_even_with_valid_checksums() {
    for n in [4usize, 3000] {
        let ts: Vec<i64> = (0..n as i64).map(|i| i * 10).collect();
        let vals: Vec<f64> = (0..n).map(|i| if i == 1 { f64::NAN } else { i as f64 }).collect();
        let block = round_trip(&ts, &vals);
        let (mut t, mut v) = (Vec::new(), Vec::new());
        // As many NaNs as points is possible (an all-NaN run); one more is not.
        for (nans, ok) in [(n as u32, true), (n as u32 + 1, false), (u32::MAX, false)] {
            let mut b = block.clone();
            b[NAN_COUNT_AT..][..4].copy_from_slice(&nans.to_le_bytes());
            reseal(&mut b);
            let got = header(&b);
            assert_eq!(got.is_ok(), ok, "{n} points, nan_count {nans}: {got:?}");
            if !ok {
                let want = format!("NaN count {nans} exceeds the point count {n}");
                assert_eq!(got.unwrap_err().0, want);
                assert_eq!(verify(&b).unwrap_err().0, want);
                assert_eq!(decode(&b, &mut t, &mut v).unwrap_err().0, want);
                assert!(pages(&b).is_err() && append(&b, &[i64::MAX - 1], &[0.0], &mut Vec::new()).is_err());
            }
        }
        // `n` distinct ascending timestamps cannot fit in fewer than `n - 1` steps.
        let mut b = block.clone();
        let last = ts[0] + n as i64 - 2;
        b[LAST_TS_AT..][..8].copy_from_slice(&last.to_le_bytes());
        reseal(&mut b);
        let e = header(&b).unwrap_err().0;
        assert!(e.contains(&format!("time range 0..={last} cannot hold {n} points")), "{e}");
        let mut b = block.clone();
        b[FIRST_TS_AT..][..8].copy_from_slice(&i64::MAX.to_le_bytes());
        reseal(&mut b);
        assert!(header(&b).unwrap_err().0.contains("cannot hold"));
    }
}

#[test]
fn hostile_blocks_are_errors_never_panics() {
    let mut rng = Rng::new(99, 0);
    let mut blocks = Vec::new();
    for codec in [None, Some(VAL_RAW), Some(VAL_XOR), Some(VAL_DECIMAL)] {
        for n in [1, 2, 129, 700, 3000] {
            let ts = timestamps(&mut rng, n);
            let vals: Vec<f64> = (0..ts.len()).map(|_| value(&mut rng)).collect();
            let mut b = Vec::new();
            encode_with(&ts, &vals, codec, &mut b);
            blocks.push(b);
        }
    }
    let (mut ts, mut vals) = (Vec::new(), Vec::new());
    let mut rejected = 0;
    for i in 0..40_000 {
        let mut b = blocks[i % blocks.len()].clone();
        match rng.below(4) {
            0 => {
                let at = rng.below(b.len() as u64) as usize;
                b[at] ^= 1 << rng.below(8); // one flipped bit: the checksums catch it
                assert!(decode(&b, &mut ts, &mut vals).is_err(), "a flipped bit must be detected");
                rejected += 1;
                continue;
            }
            1 => b.truncate(rng.below(b.len() as u64) as usize),
            2 => {
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(b.len() as u64) as usize;
                    b[at] = rng.next_u64() as u8;
                }
            }
            _ => {
                let at = rng.below(b.len() as u64) as usize;
                let junk: Vec<u8> = (0..rng.below(16)).map(|_| rng.next_u64() as u8).collect();
                b.splice(at..at, junk);
            }
        }
        reseal(&mut b);
        if let Ok(Some(pages)) = pages(&b) {
            for page in &pages {
                let n = page.summary.count as usize;
                let (mut t, mut v) = (vec![0; n], vec![0.0; n]);
                let _ = decode_page(&b, page, &mut t, &mut v);
            }
        }
        ts.clear();
        vals.clear();
        if decode(&b, &mut ts, &mut vals).is_err() {
            rejected += 1;
            assert!(ts.is_empty() && vals.is_empty(), "a failed decode leaves the outputs as they were");
        } else {
            assert_eq!(ts.len(), vals.len());
            assert!(ts.windows(2).all(|w| w[0] < w[1]), "whatever decodes is a valid run");
        }
    }
    assert!(rejected > 10_000, "most mutations are caught ({rejected})");
    assert!(header(&[]).is_err() && decode(&[0; HEADER_LEN], &mut ts, &mut vals).is_err());
}

#[test]
fn periodic_decimals_are_not_fooled_by_a_strided_sample() {
    // Every 128th value is an integer; half of all values are x.5: the exponent must be 1.
    let ts: Vec<i64> = (0..4096).collect();
    let vals: Vec<f64> = (0..4096).map(|i| (i % 1000) as f64 * 0.5).collect();
    let block = round_trip(&ts, &vals);
    assert_eq!(header(&block).unwrap().val_codec, VAL_DECIMAL);
    // A few frames per page, and the directory of 16 pages.
    assert!(block.len() < 600, "an arithmetic sawtooth is a few frames: {} bytes", block.len());
}

/// A paged block's pages decode to the matching slices of the whole block, their summaries
/// fold to the header's, and each page is checked by its own checksum.
#[test]
fn paged_blocks_decode_page_by_page() {
    let mut rng = Rng::new(5, 0);
    for round in 0..60 {
        let n = PAGED_ABOVE + 1 + rng.below(6000) as usize;
        let ts = timestamps(&mut rng, n);
        let vals: Vec<f64> = (0..ts.len())
            .map(|i| if round % 3 == 0 { value(&mut rng) } else { (i % 977) as f64 / 10.0 })
            .collect();
        if ts.len() <= PAGED_ABOVE {
            continue;
        }
        let block = round_trip(&ts, &vals);
        let h = header(&block).unwrap();
        assert!(h.paged() && h.summary.count as usize == ts.len());
        let pages = pages(&block).unwrap().expect("paged");
        assert_eq!(pages.len(), ts.len().div_ceil(PAGE_POINTS));
        let total = pages[1..].iter().fold(pages[0].summary, |t, p| t.combine(&p.summary));
        assert_eq!(key(&total), key(&h.summary), "the header is the pages folded");
        for page in &pages {
            let r = page.start..page.start + page.summary.count as usize;
            let (mut t, mut v) = (vec![0; r.len()], vec![0.0; r.len()]);
            decode_page(&block, page, &mut t, &mut v).unwrap();
            assert_eq!(t, ts[r.clone()]);
            assert_eq!(bits(&v), bits(&vals[r.clone()]));
            assert_eq!(key(&page.summary), key(&Summary::of(&ts[r.clone()], &vals[r])));
        }
        check_summaries(&block, &ts, &vals).unwrap();
        // A flipped bit in a page's bytes: that page's checksum catches it.
        let mut bad = block.clone();
        let page = &pages[rng.below(pages.len() as u64) as usize];
        bad[page.ts.0] ^= 1;
        let (mut t, mut v) = (vec![0; page.summary.count as usize], vec![0.0; page.summary.count as usize]);
        assert!(decode_page(&bad, page, &mut t, &mut v).is_err());
    }
    // Small blocks are not paged.
    let ts: Vec<i64> = (0..PAGED_ABOVE as i64).collect();
    let block = round_trip(&ts, &vec![1.5; ts.len()]);
    assert!(!header(&block).unwrap().paged() && pages(&block).unwrap().is_none());
}

/// Pages equal to the page before them are stored once: a constant block stays tiny.
#[test]
fn repeated_pages_are_stored_once() {
    let ts: Vec<i64> = (0..4096).map(|i| i * 10_000).collect();
    let block = round_trip(&ts, &vec![42.0; 4096]);
    assert!(block.len() < 200, "constant 4,096 points in {} bytes", block.len());
}

/// Blocks written by format 1 (never paged) are still read; a format-1 header claiming
/// pages is rejected.
#[test]
fn format_1_blocks_are_still_read() {
    let ts: Vec<i64> = (0..900).map(|i| i * 1000).collect();
    let vals: Vec<f64> = (0..900).map(|i| i as f64 / 4.0).collect();
    let mut block = round_trip(&ts, &vals);
    block[0] = 1;
    reseal(&mut block);
    let (mut t, mut v) = (Vec::new(), Vec::new());
    decode(&block, &mut t, &mut v).unwrap();
    assert_eq!((t, bits(&v)), (ts.clone(), bits(&vals)));
    block[PAGE_SHIFT_AT] = PAGE_SHIFT;
    reseal(&mut block);
    assert!(header(&block).is_err());
}

/// A page may span more than i64::MAX (its span is stored unsigned), and so may the
/// offsets of pages from the block's first timestamp.
#[test]
fn pages_spanning_the_whole_timeline_round_trip() {
    let mut ts: Vec<i64> = vec![i64::MIN, i64::MIN + 1];
    ts.extend((0..2000).map(|i| 1_700_000_000_000 + i * 1000));
    ts.extend([i64::MAX - 1, i64::MAX]);
    let vals: Vec<f64> = (0..ts.len()).map(|i| i as f64).collect();
    let block = round_trip(&ts, &vals);
    let pages = pages(&block).unwrap().expect("paged");
    assert_eq!((pages[0].summary.first_ts, pages[pages.len() - 1].summary.last_ts), (i64::MIN, i64::MAX));
    check_summaries(&block, &ts, &vals).unwrap();
}

/// `check_summaries` accepts a sum that differs only in rounding (format 1 added in
/// timestamp order, format 2 in lanes) and rejects a wrong one.
#[test]
fn summary_checks_tolerate_the_order_of_addition_only() {
    let ts: Vec<i64> = (0..1000).collect();
    let vals: Vec<f64> = (0..1000).map(|i| (i as f64) * 0.1 + 1e6).collect();
    let mut block = round_trip(&ts, &vals);
    let sequential: f64 = vals.iter().sum();
    assert_ne!(sequential.to_bits(), header(&block).unwrap().summary.sum.to_bits(), "the orders round apart");
    let set_sum = |block: &mut Vec<u8>, sum: f64| {
        block[SUM_AT..][..8].copy_from_slice(&sum.to_bits().to_le_bytes());
        reseal(block);
    };
    set_sum(&mut block, sequential);
    check_summaries(&block, &ts, &vals).unwrap();
    set_sum(&mut block, sequential + 1000.0);
    assert!(check_summaries(&block, &ts, &vals).is_err());
}

/// Decode paged block `block` page by page: each page holds its part of `(ts, vals)`.
/// Returns the number of pages.
#[track_caller]
fn pages_decode_to(block: &[u8], ts: &[i64], vals: &[f64]) -> usize {
    let pages = pages(block).unwrap().expect("paged");
    for page in &pages {
        let r = page.start..page.start + page.summary.count as usize;
        let (mut t, mut v) = (vec![0; r.len()], vec![0.0; r.len()]);
        decode_page(block, page, &mut t, &mut v).unwrap();
        assert_eq!((t, bits(&v)), (ts[r.clone()].to_vec(), bits(&vals[r])));
    }
    pages.len()
}

/// `append` extends a paged block of full pages without re-coding them: the result decodes
/// to both runs, page by page and whole, its summaries check out, and it is what encoding
/// the points at once would summarise. Blocks it cannot extend are left alone.
#[test]
fn appended_blocks_hold_both_runs() {
    let mut rng = Rng::new(11, 0);
    for round in 0..40 {
        let pages_before = 5 + rng.below(20) as usize;
        let n = pages_before * PAGE_POINTS + 1 + rng.below(5000) as usize;
        let ts = timestamps(&mut rng, n);
        let vals: Vec<f64> = (0..ts.len())
            .map(|i| match round % 4 {
                0 => value(&mut rng),
                1 => 42.0,
                _ => (i % 977) as f64 / 10.0,
            })
            .collect();
        // A cut inside a page in every third round: that page is coded again.
        let cut = pages_before * PAGE_POINTS - if round % 3 == 2 { 1 + rng.below(255) as usize } else { 0 };
        if ts.len() <= cut {
            continue;
        }
        let mut first = Vec::new();
        encode(&ts[..cut], &vals[..cut], &mut first);
        let mut block = Vec::new();
        let s = append(&first, &ts[cut..], &vals[cut..], &mut block).unwrap().expect("appendable");
        assert_eq!(key(&s), key(&header(&block).unwrap().summary));
        let mut whole = Vec::new();
        let w = encode(&ts, &vals, &mut whole);
        assert_eq!(
            (s.count, s.first_ts, s.last_ts, s.nan_count),
            (w.count, w.first_ts, w.last_ts, w.nan_count)
        );
        let (mut t, mut v) = (Vec::new(), Vec::new());
        decode(&block, &mut t, &mut v).unwrap();
        assert_eq!(t, ts);
        assert_eq!(bits(&v), bits(&vals));
        check_summaries(&block, &ts, &vals).unwrap();
        assert_eq!(pages_decode_to(&block, &ts, &vals), ts.len().div_ceil(PAGE_POINTS));
        // Constant data: the new pages repeat the old ones' bytes and are stored once.
        if round % 4 == 1 && ts.windows(2).all(|w| w[1] - w[0] == ts[1] - ts[0]) {
            assert!(block.len() < first.len() + 64, "{} bytes after {}", block.len(), first.len());
        }
    }
    let ts: Vec<i64> = (0..4096).map(|i| i * 10).collect();
    let vals = vec![1.0; 4096];
    let mut out = Vec::new();
    let blk = |n: usize| {
        let mut b = Vec::new();
        encode(&ts[..n], &vals[..n], &mut b);
        b
    };
    // A partial last page is coded again with the new points, an unpaged block whole.
    for n in [2000, 512, 1, 2048] {
        let mut b = Vec::new();
        let s = append(&blk(n), &ts[n..2100], &vals[n..2100], &mut b).unwrap().expect("appendable");
        assert_eq!((s.count, s.first_ts, s.last_ts), (2100, 0, 20_990));
        let (mut t, mut v) = (Vec::new(), Vec::new());
        decode(&b, &mut t, &mut v).unwrap();
        assert_eq!((t, v), (ts[..2100].to_vec(), vals[..2100].to_vec()));
        check_summaries(&b, &ts[..2100], &vals[..2100]).unwrap();
    }
    let full = blk(2048);
    // Not after the block's last point: refused.
    assert_eq!(append(&full, &ts[2047..2100], &vals[2047..2100], &mut out).unwrap(), None);
    assert!(out.is_empty());
    // Damage in the block extended is an error, not copied.
    let mut bad = full.clone();
    bad[HEADER_LEN + 1] ^= 1;
    assert!(append(&bad, &ts[2048..], &vals[2048..], &mut out).is_err());
    let s = append(&full, &ts[2048..], &vals[2048..], &mut out).unwrap().expect("appendable");
    assert_eq!((s.count, s.sum), (4096, 4096.0));
}

/// A splice keeps a paged block's first pages as they are and codes the new run after
/// them; what it cannot do it refuses, writing nothing.
#[test]
fn spliced_blocks_keep_their_first_pages() {
    let ts: Vec<i64> = (0..10_000).map(|i| i * 10).collect();
    let vals: Vec<f64> = (0..10_000).map(|i| (i * 7919 % 1000) as f64 / 10.0).collect();
    let mut block = Vec::new();
    encode(&ts, &vals, &mut block);
    let pages = pages(&block).unwrap().unwrap();
    for keep in [1, 7, pages.len() - 1] {
        // The run after page `keep`: the old points with a late one merged in and one more.
        let cut = keep * PAGE_POINTS;
        let (mut nts, mut nvals) = (ts[cut..].to_vec(), vals[cut..].to_vec());
        nts.insert(1, ts[cut] + 5);
        nvals.insert(1, -1.0);
        nts.push(1_000_000);
        nvals.push(2.0);
        let mut out = Vec::new();
        let s = splice(&block, keep, &nts, &nvals, &mut out).unwrap().expect("spliceable");
        let (mut t, mut v) = (Vec::new(), Vec::new());
        decode(&out, &mut t, &mut v).unwrap();
        let want_ts: Vec<i64> = [&ts[..cut], &nts[..]].concat();
        let want_vals: Vec<f64> = [&vals[..cut], &nvals[..]].concat();
        assert_eq!((t, bits(&v)), (want_ts.clone(), bits(&want_vals)));
        assert_eq!(s.count as usize, want_ts.len());
        check_summaries(&out, &want_ts, &want_vals).unwrap();
    }
    let mut out = Vec::new();
    let tail = (&ts[PAGE_POINTS..], &vals[PAGE_POINTS..]);
    assert_eq!(splice(&block, 0, tail.0, tail.1, &mut out).unwrap(), None, "nothing kept");
    assert_eq!(splice(&block, pages.len(), &[1 << 40], &[1.0], &mut out).unwrap(), None, "all kept");
    assert_eq!(splice(&block, 2, tail.0, tail.1, &mut out).unwrap(), None, "not after the pages kept");
    let mut small = Vec::new();
    encode(&ts[..100], &vals[..100], &mut small);
    assert_eq!(splice(&small, 1, &[1 << 40], &[1.0], &mut out).unwrap(), None, "not paged");
    assert!(out.is_empty());
    let mut bad = block.clone();
    bad[HEADER_LEN + 3] ^= 1;
    assert!(splice(&bad, 1, &ts[PAGE_POINTS..], &vals[PAGE_POINTS..], &mut out).is_err(), "damage");
}

/// A concatenation of blocks holds all their points in order, page by page and whole, with
/// summaries that check out, whatever the blocks' shapes: all full pages (copied), a short
/// last page, small unpaged blocks, in any order of shapes. Pages copied are not coded
/// again (constant data stays as small as one block of it). Blocks out of order, too many
/// points and damage are refused.
#[test]
fn concatenated_blocks_hold_every_run() {
    let mut rng = Rng::new(12, 0);
    for round in 0..60 {
        let n_blocks = 1 + rng.below(6) as usize;
        let sizes: Vec<usize> = (0..n_blocks)
            .map(|_| match rng.below(4) {
                0 => (5 + rng.below(20) as usize) * PAGE_POINTS,
                1 => 1 + rng.below(PAGED_ABOVE as u64) as usize,
                2 => PAGED_ABOVE + 1 + rng.below(5000) as usize,
                _ => 16 * PAGE_POINTS,
            })
            .collect();
        let total: usize = sizes.iter().sum();
        let ts = timestamps(&mut rng, total);
        let vals: Vec<f64> = (0..ts.len())
            .map(|i| match round % 3 {
                0 => value(&mut rng),
                1 => 42.0,
                _ => (i % 977) as f64 / 10.0,
            })
            .collect();
        let mut blocks = Vec::new();
        let mut at = 0;
        for &n in &sizes {
            let end = (at + n).min(ts.len());
            if end > at {
                let mut b = Vec::new();
                encode(&ts[at..end], &vals[at..end], &mut b);
                blocks.push(b);
            }
            at = end;
        }
        let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
        let mut block = Vec::new();
        let s = concat(&refs, &mut block).unwrap().expect("in order, not too long");
        assert_eq!(key(&s), key(&header(&block).unwrap().summary));
        let (mut t, mut v) = (Vec::new(), Vec::new());
        decode(&block, &mut t, &mut v).unwrap();
        assert_eq!(t, ts);
        assert_eq!(bits(&v), bits(&vals));
        check_summaries(&block, &ts, &vals).unwrap();
        if ts.len() > PAGED_ABOVE {
            pages_decode_to(&block, &ts, &vals);
        }
    }
    // Blocks of full pages are copied: the result is their bytes plus one directory.
    let ts: Vec<i64> = (0..1 << 16).map(|i| i * 10).collect();
    let vals: Vec<f64> = (0..1 << 16).map(|i| (i * 7919 % 10_000) as f64 / 100.0).collect();
    let blk = |r: std::ops::Range<usize>| {
        let mut b = Vec::new();
        encode(&ts[r.clone()], &vals[r], &mut b);
        b
    };
    let parts: Vec<Vec<u8>> = (0..16).map(|k| blk(k * 4096..(k + 1) * 4096)).collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let mut joined = Vec::new();
    concat(&refs, &mut joined).unwrap().expect("joinable");
    let bodies: usize = parts.iter().map(|b| b.len() - HEADER_LEN - header(b).unwrap().dir_len()).sum();
    let whole = header(&joined).unwrap();
    assert_eq!(joined.len() - HEADER_LEN - whole.dir_len(), bodies, "pages copied byte for byte");
    // Out of order, overlapping, or too long: refused, `out` untouched.
    let mut out = Vec::new();
    assert_eq!(concat(&[&parts[1], &parts[0]], &mut out).unwrap(), None);
    assert_eq!(concat(&[&parts[0], &parts[0]], &mut out).unwrap(), None);
    let big = blk(0..1 << 16);
    let many: Vec<&[u8]> = std::iter::repeat_n(big.as_slice(), 17).collect();
    assert_eq!(concat(&many, &mut out).unwrap(), None);
    assert!(out.is_empty());
    // Damage in any block is an error naming it, never copied.
    for k in [0, 7, 15] {
        let mut bad = parts.clone();
        let at = bad[k].len() / 2;
        bad[k][at] ^= 1;
        let refs: Vec<&[u8]> = bad.iter().map(Vec::as_slice).collect();
        let (i, _) = concat(&refs, &mut out).unwrap_err();
        assert_eq!(i, k);
    }
}
