//! Live snapshots: how many, and how old the oldest is, without a lock or a list.
//!
//! A snapshot counts itself in the slot of the second it began in: a ring of [`SLOTS`]
//! words, each holding a second (its *tag*) and how many live snapshots began in it. A slot
//! whose count is 0 is free and takes the tag of the next second that maps to it; while its
//! count is not 0 its tag cannot change, so a release decrements the slot it counted in
//! without looking. Beginning a snapshot is one atomic addition (a compare-and-swap when it
//! takes a free slot), releasing one atomic subtraction; reading the figures walks the ring, and the ages are exact (to the second)
//! whatever they are.
//!
//! The one case a slot cannot take: a snapshot still alive from [`SLOTS`] seconds (or a
//! multiple) ago holds it. Snapshots of such a second are counted in the *spill* list, under
//! a lock, as `(second, count)` pairs: rare (a snapshot over an hour old, and a second that
//! collides with its), and it keeps the ring exact.
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::sys::coarse_secs;

/// Slots of the ring, one per second: more than an hour.
const SLOTS: usize = 4096;
/// A slot: the second's low 32 bits above the count in the low 32 bits.
const COUNT_BITS: u32 = 32;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// The bit of a [`LiveSnapshots::begin`] token that says "counted in the spill list".
const SPILLED: u64 = 1 << 63;

pub struct LiveSnapshots {
    /// `coarse_secs()` when the database opened.
    start: u64,
    /// Slot `s % SLOTS`: `(s as u32) << 32 | live snapshots begun in second s`.
    slots: Box<[AtomicU64]>,
    /// `(second, live snapshots)` of seconds whose slot an older snapshot held.
    spill: Mutex<Vec<(u64, u64)>>,
}

impl Default for LiveSnapshots {
    fn default() -> LiveSnapshots {
        LiveSnapshots {
            start: coarse_secs(),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            spill: Mutex::default(),
        }
    }
}

impl LiveSnapshots {
    fn now(&self) -> u64 {
        coarse_secs().saturating_sub(self.start)
    }

    /// Count a snapshot beginning now; returns the token to pass to [`LiveSnapshots::end`].
    #[inline]
    pub fn begin(&self) -> u64 {
        self.begin_at(self.now())
    }

    /// Count a snapshot beginning at second `s` (since open).
    fn begin_at(&self, s: u64) -> u64 {
        let slot = &self.slots[s as usize % SLOTS];
        let tag = s & COUNT_MASK;
        let w = slot.load(Ordering::Relaxed);
        if w >> COUNT_BITS == tag && w & COUNT_MASK < COUNT_MASK / 2 {
            // The slot is this second's already: an addition, which unlike a
            // compare-and-swap never fails when other threads begin at the same time. The
            // tag could only have changed meanwhile if the count fell to 0 and a begin 4,096 s
            // later took the slot; the returned word tells, and that addition is undone.
            let before = slot.fetch_add(1, Ordering::Relaxed);
            if before >> COUNT_BITS == tag {
                return s;
            }
            slot.fetch_sub(1, Ordering::Relaxed);
        }
        self.begin_slow(s)
    }

    /// [`LiveSnapshots::begin_at`] when the slot is not (yet) this second's.
    fn begin_slow(&self, s: u64) -> u64 {
        let slot = &self.slots[s as usize % SLOTS];
        let tag = s & COUNT_MASK;
        let mut w = slot.load(Ordering::Relaxed);
        loop {
            let n = w & COUNT_MASK;
            if (n != 0 && w >> COUNT_BITS != tag) || n >= COUNT_MASK / 2 {
                // An older second's snapshots hold the slot (or, absurdly, it is full).
                return self.spill_begin(s);
            }
            match slot.compare_exchange_weak(
                w,
                tag << COUNT_BITS | (n + 1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return s,
                Err(now) => w = now,
            }
        }
    }

    #[cold]
    fn spill_begin(&self, s: u64) -> u64 {
        let mut spill = self.spill.lock();
        match spill.iter_mut().find(|(t, _)| *t == s) {
            Some((_, n)) => *n += 1,
            None => spill.push((s, 1)),
        }
        s | SPILLED
    }

    /// The snapshot counted with `token` is released.
    #[inline]
    pub fn end(&self, token: u64) {
        if token & SPILLED == 0 {
            // The slot still has this second's tag: its count includes this snapshot.
            self.slots[token as usize % SLOTS].fetch_sub(1, Ordering::Relaxed);
        } else {
            self.spill_end(token & !SPILLED);
        }
    }

    #[cold]
    fn spill_end(&self, s: u64) {
        let mut spill = self.spill.lock();
        if let Some(i) = spill.iter().position(|(t, _)| *t == s) {
            spill[i].1 -= 1;
            if spill[i].1 == 0 {
                spill.swap_remove(i);
            }
        }
    }

    /// Live snapshots, and the age in seconds of the oldest (0 when none).
    pub fn figures(&self) -> (u64, u64) {
        self.figures_at(self.now())
    }

    /// [`LiveSnapshots::figures`] at second `now` (since open).
    fn figures_at(&self, now: u64) -> (u64, u64) {
        let (mut live, mut oldest) = (0, 0);
        for slot in self.slots.iter() {
            let w = slot.load(Ordering::Relaxed);
            let n = w & COUNT_MASK;
            if n > 0 {
                live += n;
                // The tag holds the second's low 32 bits (136 years).
                oldest = oldest.max((now & COUNT_MASK).wrapping_sub(w >> COUNT_BITS) & COUNT_MASK);
            }
        }
        for &(s, n) in self.spill.lock().iter() {
            live += n;
            oldest = oldest.max(now.saturating_sub(s));
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
        // Snapshots begun 10 s and 10,000 s before second 20,000 (exact ages, any age).
        let now = 20_000;
        let ten = l.begin_at(now - 10);
        let old = l.begin_at(now - 10_000);
        assert_eq!(l.figures_at(now), (2, 10_000));
        l.end(old);
        assert_eq!(l.figures_at(now), (1, 10));
        l.end(ten);
        assert_eq!(l.figures_at(now), (0, 0));
        // Past the 32 bits of a tag (136 years), ages still come out right.
        let far = (1u64 << 32) + 7;
        let k = l.begin_at(far - 3);
        assert_eq!(l.figures_at(far), (1, 3));
        l.end(k);
    }

    #[test]
    fn a_second_whose_slot_an_older_snapshot_holds_spills_and_is_released() {
        let l = LiveSnapshots::default();
        let old = l.begin_at(5);
        let s = 5 + SLOTS as u64; // the same slot, one ring later
        let a = l.begin_at(s);
        let b = l.begin_at(s);
        assert_ne!(a & SPILLED, 0);
        assert_eq!(l.spill.lock().as_slice(), &[(s, 2)]);
        assert_eq!(l.figures_at(s + 1), (3, SLOTS as u64 + 1), "the oldest is the ring's holder");
        // The slot is the old snapshot's until it ends, then the next second there takes it.
        l.end(old);
        assert_eq!(l.figures().0, 2);
        let c = l.begin_at(s + SLOTS as u64);
        assert_eq!(c & SPILLED, 0, "a free slot takes the new second");
        l.end(a);
        l.end(b);
        assert!(l.spill.lock().is_empty());
        assert_eq!(l.figures().0, 1);
        l.end(c);
        assert_eq!(l.figures().0, 0);
        // A slot freed by its last release is taken again by the same second.
        let d = l.begin_at(7);
        l.end(d);
        let e = l.begin_at(7);
        assert_eq!(e & SPILLED, 0);
        l.end(e);
        assert_eq!(l.figures(), (0, 0));
    }

    #[test]
    fn concurrent_begins_and_ends_balance() {
        let l = std::sync::Arc::new(LiveSnapshots::default());
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        // Four seconds, two of them a ring apart: slots shared and spilled.
                        let s = [3, 3 + SLOTS as u64, 4, 9][(i as usize + t) % 4];
                        let k = l.begin_at(s);
                        l.end(k);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(l.figures().0, 0);
        assert!(l.spill.lock().is_empty());
    }
}
