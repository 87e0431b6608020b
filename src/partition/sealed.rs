//! Sealed partitions: immutable, sorted runs of points with unique timestamps.
//!
//! Immutable data needs no lock: readers share it through `Arc`. (The codec issue replaces
//! the two plain columns with compressed blocks; the interface stays.)

/// An immutable sorted run; never empty.
pub struct Sealed {
    ts: Box<[i64]>,
    vals: Box<[f64]>,
}

impl Sealed {
    /// `ts` must be strictly ascending, non-empty and as long as `vals`.
    pub fn new(ts: Box<[i64]>, vals: Box<[f64]>) -> Sealed {
        assert!(!ts.is_empty() && ts.len() == vals.len(), "sealed partition shape");
        debug_assert!(ts.windows(2).all(|w| w[0] < w[1]));
        Sealed { ts, vals }
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn ts(&self) -> &[i64] {
        &self.ts
    }

    pub fn vals(&self) -> &[f64] {
        &self.vals
    }

    pub fn max_ts(&self) -> i64 {
        self.ts[self.ts.len() - 1]
    }

    /// This run merged with the sorted unique `(ts, vals)`; on equal timestamps the new
    /// point wins.
    pub fn merged_with(&self, ts: &[i64], vals: &[f64]) -> (Vec<i64>, Vec<f64>) {
        let n = self.ts.len() + ts.len();
        let (mut ots, mut ovals) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut i, mut j) = (0, 0);
        while i < self.ts.len() || j < ts.len() {
            let take_new = j < ts.len() && (i == self.ts.len() || ts[j] <= self.ts[i]);
            if take_new {
                if i < self.ts.len() && self.ts[i] == ts[j] {
                    i += 1;
                }
                ots.push(ts[j]);
                ovals.push(vals[j]);
                j += 1;
            } else {
                ots.push(self.ts[i]);
                ovals.push(self.vals[i]);
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
        let s = Sealed::new(vec![1, 3, 5].into(), vec![1.0, 3.0, 5.0].into());
        let (t, v) = s.merged_with(&[0, 3, 6], &[0.5, 30.0, 6.0]);
        assert_eq!(t, vec![0, 1, 3, 5, 6]);
        assert_eq!(v, vec![0.5, 1.0, 30.0, 5.0, 6.0]);
    }
}
