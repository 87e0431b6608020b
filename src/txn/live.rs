//! Live snapshots: how many, and how old the oldest is, without a lock or a list.
//!
//! A snapshot counts itself in the slot of the second it began in, in two rings of
//! counters: one of seconds (the last [`SLOTS`] seconds exactly) and one of 1,024-second
//! spans (for snapshots older than that). Beginning and releasing a snapshot are two atomic
//! additions each; reading the figures walks the rings.
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sys::coarse_secs;

const SLOTS: usize = 4096;
const COARSE_SECS: u64 = 1024;

pub struct LiveSnapshots {
    /// `coarse_secs()` when the database opened.
    start: u64,
    fine: Box<[AtomicU64]>,
    coarse: Box<[AtomicU64]>,
}

impl Default for LiveSnapshots {
    fn default() -> LiveSnapshots {
        let ring = || (0..SLOTS).map(|_| AtomicU64::new(0)).collect();
        LiveSnapshots { start: coarse_secs(), fine: ring(), coarse: ring() }
    }
}

impl LiveSnapshots {
    fn now(&self) -> u64 {
        coarse_secs().saturating_sub(self.start)
    }

    /// Count a snapshot beginning now; returns the second to pass to [`LiveSnapshots::end`].
    pub fn begin(&self) -> u64 {
        let s = self.now();
        self.fine[s as usize % SLOTS].fetch_add(1, Ordering::Relaxed);
        self.coarse[(s / COARSE_SECS) as usize % SLOTS].fetch_add(1, Ordering::Relaxed);
        s
    }

    /// The snapshot counted at second `s` is released.
    pub fn end(&self, s: u64) {
        self.fine[s as usize % SLOTS].fetch_sub(1, Ordering::Relaxed);
        self.coarse[(s / COARSE_SECS) as usize % SLOTS].fetch_sub(1, Ordering::Relaxed);
    }

    /// Live snapshots, and the age in seconds of the oldest (0 when none).
    pub fn figures(&self) -> (u64, u64) {
        let now = self.now();
        // The latest time <= `now` whose slot is `i`, in units of `unit` seconds.
        let age = |i: usize, unit: u64| {
            let t = now / unit;
            let back = (t as usize % SLOTS + SLOTS - i) % SLOTS;
            back as u64 * unit
        };
        let (mut live, mut oldest) = (0, 0);
        for (i, c) in self.fine.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n > 0 {
                live += n;
                oldest = oldest.max(age(i, 1));
            }
        }
        // Beyond the fine ring's reach, the coarse ring tells (to 1,024 s).
        for (i, c) in self.coarse.iter().enumerate() {
            if c.load(Ordering::Relaxed) > 0 {
                let a = age(i, COARSE_SECS);
                if a >= SLOTS as u64 {
                    oldest = oldest.max(a + now % COARSE_SECS);
                }
            }
        }
        (live, oldest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ages_follow_begin_and_end() {
        let l = LiveSnapshots::default();
        assert_eq!(l.figures(), (0, 0));
        let a = l.begin();
        let b = l.begin();
        assert_eq!(l.figures().0, 2);
        l.end(a);
        assert_eq!(l.figures().0, 1);
        l.end(b);
        assert_eq!(l.figures(), (0, 0));
        // Snapshots counted 10 s and about 10,000 s before now (slots written by hand).
        let now = l.now();
        let ten_ago = (now as usize + SLOTS - 10) % SLOTS;
        l.fine[ten_ago].fetch_add(1, Ordering::Relaxed);
        assert_eq!(l.figures(), (1, 10));
        let coarse_now = (now / COARSE_SECS) as usize;
        let ten_spans_ago = (coarse_now + SLOTS - 10) % SLOTS;
        l.coarse[ten_spans_ago].fetch_add(1, Ordering::Relaxed);
        let (_, age) = l.figures();
        assert!((10 * COARSE_SECS..11 * COARSE_SECS).contains(&age), "age {age}");
    }
}
