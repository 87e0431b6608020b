//! `codec_block`: the codec's block and page decoders, and its append.
use super::checksums::fix_block_checksums;
use crate::codec::{self, Summary};

/// The codec's block and page decoders. Input: `flags u8 │ block`. Flags: bit 0 recompute
/// the block's checksums; bits 1-3 how many points (1-8) to append to it with
/// [`codec::append`]; bit 4 append from its last timestamp (a rejected append) rather than
/// after it; bits 5-7 which pages to decode one by one.
///
/// Checked: a block that decodes verifies with the same summary; each page that decodes
/// has the points the whole block has there; the decoded points encode and decode back to
/// themselves; an append to a decodable block decodes to its points then the new ones.
pub fn codec_block(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut block = rest.to_vec();
    if flags & 1 != 0 {
        fix_block_checksums(&mut block);
    }
    let header = codec::header(&block);
    let verified = codec::verify(&block);
    let (mut ts, mut vals) = (Vec::new(), Vec::new());
    let decoded = codec::decode(&block, &mut ts, &mut vals);
    match &decoded {
        Ok(s) => {
            assert!(same_summary(verified.as_ref().expect("a decoded block verifies"), s));
            assert_eq!(ts.len(), s.count as usize);
            assert!(ts.windows(2).all(|w| w[0] < w[1]), "decoded timestamps strictly ascend");
            assert_eq!((ts[0], ts[ts.len() - 1]), (s.first_ts, s.last_ts));
            let _ = codec::check_summaries(&block, &ts, &vals);
            let (mut t2, mut v2) = (vec![0; ts.len()], vec![0.0; ts.len()]);
            codec::decode_into(&block, &mut t2, &mut v2).expect("decode_into agrees with decode");
            assert!(t2 == ts && same_values(&v2, &vals));
            // What the engine would write for these points decodes to them.
            let mut again = Vec::new();
            codec::encode(&ts, &vals, &mut again);
            let (mut t3, mut v3) = (Vec::new(), Vec::new());
            codec::decode(&again, &mut t3, &mut v3).expect("an encoded block decodes");
            assert!(t3 == ts && same_values(&v3, &vals), "encode/decode round trip");
            codec::check_summaries(&again, &t3, &v3).expect("an encoded block's summaries match");
        }
        Err(_) => assert!(ts.is_empty() && vals.is_empty(), "a failed decode leaves its output"),
    }
    // Pages, as a scan of part of a paged block reads them (decode_overlapping).
    let mut pages = Vec::new();
    if let Ok(true) = codec::pages_into(&block, &mut pages) {
        assert!(!pages.is_empty());
        let n = pages.len();
        let (a, b) = (usize::from(flags >> 5) % n, n - 1 - usize::from(flags >> 6) % n);
        for page in &pages[a.min(b)..=a.max(b)] {
            let c = page.summary.count as usize;
            let (mut pt, mut pv) = (vec![0; c], vec![0.0; c]);
            if codec::decode_page(&block, page, &mut pt, &mut pv).is_ok()
                && decoded.is_ok()
                && let (Some(wt), Some(wv)) =
                    (ts.get(page.start..page.start + c), vals.get(page.start..page.start + c))
            {
                assert!(pt == wt && same_values(&pv, wv), "a page decodes to the block's points");
            }
        }
    }
    // A rewrite from page 1 on, as late points merged into a large part do: the first page
    // kept, a few points after it.
    if let (Some(p0), true) = (pages.first(), pages.len() >= 2)
        && let Some(t0) = p0.summary.last_ts.checked_add(1)
    {
        let new_ts: Vec<i64> = (0..5).map_while(|i| t0.checked_add(i)).collect();
        let new_vals = vec![-0.5; new_ts.len()];
        let mut out = vec![0xAA];
        match codec::splice(&block, 1, &new_ts, &new_vals, &mut out) {
            Ok(Some(s)) if decoded.is_ok() => {
                let (mut st, mut sv) = (Vec::new(), Vec::new());
                let got = codec::decode(&out[1..], &mut st, &mut sv).expect("a splice of a good block decodes");
                assert!(same_summary(&got, &s));
                let n = p0.summary.count as usize;
                assert!(st[..n] == ts[..n] && st[n..] == new_ts[..], "a splice keeps the first page");
                assert!(same_values(&sv[..n], &vals[..n]) && same_values(&sv[n..], &new_vals));
            }
            Ok(None) => assert_eq!(out, [0xAA], "a refused splice writes nothing"),
            _ => {}
        }
    }
    if let Ok(h) = &header {
        join_between_good_blocks(&block, h.summary, decoded.is_ok().then_some((&ts[..], &vals[..])));
    }
    // An append of a few points after the block's last one.
    let k = 1 + usize::from(flags >> 1 & 7);
    let last = header.map_or(0, |h| h.summary.last_ts);
    let first = if flags & 0x10 != 0 { Some(last) } else { last.checked_add(1) };
    let Some(first) = first else { return };
    let new_ts: Vec<i64> = (0..k as i64).map_while(|i| first.checked_add(i * 3)).collect();
    let new_vals: Vec<f64> = (0..new_ts.len()).map(|i| i as f64 * 0.25 - 1.0).collect();
    if new_ts.is_empty() {
        return;
    }
    let mut out = vec![0xAA];
    let appended = codec::append(&block, &new_ts, &new_vals, &mut out);
    let (mut at, mut av) = (Vec::new(), Vec::new());
    match appended {
        Ok(Some(s)) => {
            let result = codec::decode(&out[1..], &mut at, &mut av);
            if decoded.is_ok() {
                let got = result.expect("an append to a good block decodes");
                assert_eq!(got.count as usize, ts.len() + new_ts.len());
                assert!(same_summary(&got, &s));
                ts.extend_from_slice(&new_ts);
                vals.extend_from_slice(&new_vals);
                assert!(at == ts && same_values(&av, &vals), "an append keeps the points and adds the new");
            }
        }
        Ok(None) => assert_eq!(out, [0xAA], "a refused append writes nothing"),
        Err(_) => {}
    }
}

/// The block joined between a good paged block of full pages before it and a good small
/// block after it, as tiered merging joins sealed parts (`codec::concat`): never a panic;
/// a good block's points come out between the others'; damage is reported as the middle
/// block's.
fn join_between_good_blocks(block: &[u8], s: Summary, points: Option<(&[i64], &[f64])>) {
    let front_n = 5 * codec::PAGE_POINTS as i64;
    let (Some(front_first), Some(back_first)) = (s.first_ts.checked_sub(2 * front_n), s.last_ts.checked_add(1))
    else {
        return;
    };
    let front_ts: Vec<i64> = (0..front_n).map(|i| front_first + 2 * i).collect();
    let Some(back_ts) = (0..300).map(|i| back_first.checked_add(i)).collect::<Option<Vec<i64>>>() else { return };
    let front_vals: Vec<f64> = (0..front_ts.len()).map(|i| (i % 7) as f64).collect();
    let back_vals = vec![0.5; back_ts.len()];
    let (mut front, mut back) = (Vec::new(), Vec::new());
    codec::encode(&front_ts, &front_vals, &mut front);
    codec::encode(&back_ts, &back_vals, &mut back);
    let mut out = vec![0xAA];
    match codec::concat(&[&front, block, &back], &mut out) {
        Ok(Some(joined)) => {
            let (mut jt, mut jv) = (Vec::new(), Vec::new());
            let result = codec::decode(&out[1..], &mut jt, &mut jv);
            if let Some((ts, vals)) = points {
                let got = result.expect("a join of good blocks decodes");
                assert!(same_summary(&got, &joined));
                let want_ts: Vec<i64> = [&front_ts[..], ts, &back_ts[..]].concat();
                let want_vals: Vec<f64> = [&front_vals[..], vals, &back_vals[..]].concat();
                assert!(jt == want_ts && same_values(&jv, &want_vals), "a join keeps every point in order");
            }
        }
        Ok(None) => assert_eq!(out, [0xAA], "a refused join writes nothing"),
        Err((i, _)) => assert_eq!(i, 1, "only the middle block can be damaged"),
    }
}

fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn same_summary(a: &Summary, b: &Summary) -> bool {
    (a.count, a.first_ts, a.last_ts, a.nan_count) == (b.count, b.first_ts, b.last_ts, b.nan_count)
        && [(a.min, b.min), (a.max, b.max), (a.sum, b.sum)].iter().all(|(x, y)| x.to_bits() == y.to_bits())
}
