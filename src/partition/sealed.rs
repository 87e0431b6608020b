//! Sealed partitions: immutable, sorted runs of points with unique timestamps, stored as
//! one codec block (see docs/codec.md) with its summary at hand.
//!
//! Immutable data needs no lock: readers share it through `Arc`.
use crate::codec::{self, Summary};

/// An immutable sorted run; never empty.
pub struct Sealed {
    block: Box<[u8]>,
    summary: Summary,
}

impl Sealed {
    /// Encode the run: `ts` strictly ascending, non-empty, as long as `vals`.
    pub fn new(ts: &[i64], vals: &[f64]) -> Sealed {
        let mut block = Vec::new();
        let summary = codec::encode(ts, vals, &mut block);
        Sealed { block: block.into_boxed_slice(), summary }
    }

    pub fn len(&self) -> usize {
        self.summary.count as usize
    }

    pub fn min_ts(&self) -> i64 {
        self.summary.first_ts
    }

    pub fn max_ts(&self) -> i64 {
        self.summary.last_ts
    }

    /// Bytes the encoded run takes.
    #[cfg(test)]
    pub fn encoded_len(&self) -> usize {
        self.block.len()
    }

    /// Replace `ts` and `vals` with the run's points.
    pub fn decode_into(&self, ts: &mut Vec<i64>, vals: &mut Vec<f64>) {
        ts.resize(self.len(), 0);
        vals.resize(self.len(), 0.0);
        self.decode_to(ts, vals);
    }

    /// Write the run's points to `ts` and `vals`, each exactly [`Sealed::len`] long.
    pub fn decode_to(&self, ts: &mut [i64], vals: &mut [f64]) {
        // In memory the block cannot be damaged; a failure here is a bug, which the C
        // boundary turns into TS_INTERNAL.
        codec::decode_into(&self.block, ts, vals).expect("an in-memory block decodes");
    }

    /// This run merged with the sorted unique `(ts, vals)`; on equal timestamps the new
    /// point wins.
    pub fn merged_with(&self, ts: &[i64], vals: &[f64]) -> (Vec<i64>, Vec<f64>) {
        let (mut old_ts, mut old_vals) = (Vec::new(), Vec::new());
        self.decode_into(&mut old_ts, &mut old_vals);
        let n = old_ts.len() + ts.len();
        let (mut ots, mut ovals) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut i, mut j) = (0, 0);
        while i < old_ts.len() || j < ts.len() {
            let take_new = j < ts.len() && (i == old_ts.len() || ts[j] <= old_ts[i]);
            if take_new {
                if i < old_ts.len() && old_ts[i] == ts[j] {
                    i += 1;
                }
                ots.push(ts[j]);
                ovals.push(vals[j]);
                j += 1;
            } else {
                ots.push(old_ts[i]);
                ovals.push(old_vals[i]);
                i += 1;
            }
        }
        (ots, ovals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_prefers_new_points() {
        let s = Sealed::new(&[1, 3, 5], &[1.0, 3.0, 5.0]);
        let (t, v) = s.merged_with(&[0, 3, 6], &[0.5, 30.0, 6.0]);
        assert_eq!(t, vec![0, 1, 3, 5, 6]);
        assert_eq!(v, vec![0.5, 1.0, 30.0, 5.0, 6.0]);
    }

    #[test]
    fn runs_are_stored_compressed() {
        let ts: Vec<i64> = (0..4096).map(|i| i * 10_000).collect();
        let vals: Vec<f64> = (0..4096).map(|i| (i % 100) as f64 / 4.0).collect();
        let s = Sealed::new(&ts, &vals);
        assert!(s.encoded_len() < 4096 * 16 / 4, "at least 4x below raw: {} bytes", s.encoded_len());
        assert_eq!((s.len(), s.max_ts()), (4096, 4095 * 10_000));
        let (mut t, mut v) = (vec![1], vec![1.0]);
        s.decode_into(&mut t, &mut v);
        assert_eq!((t, v), (ts, vals));
    }
}
