//! The global transaction (seed §1, §3): an immutable [`Version`] mapping every live metric id
//! to its partition map, plus the sequencer that orders writes.
//!
//! A new version is built under the writer lock and published with `arc-swap`; readers load
//! it without locks. Every change (create, drop, seal) path-copies O(log n) nodes of the id
//! trie and the name index, never all metrics.
pub mod names;
pub mod trie;

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::partition::PartitionMap;
use names::NameIndex;
use trie::IdTrie;

/// One immutable version of the global transaction.
#[derive(Clone, Default)]
pub struct Version {
    /// metric id -> partition map.
    pub ids: IdTrie<Arc<PartitionMap>>,
    /// hash(name) -> metric id.
    pub names: NameIndex,
}

impl Version {
    /// The live metric called `name`, if any.
    pub fn lookup(&self, hasher: &impl BuildHasher, name: &str) -> Option<&Arc<PartitionMap>> {
        let id = self
            .names
            .candidates(hasher.hash_one(name))
            .find(|id| self.ids.get(id).is_some_and(|m| &*m.name == name))?;
        self.ids.get(id)
    }

    /// This version plus `map` (a new metric).
    pub fn with_new_metric(&self, hasher: &impl BuildHasher, map: Arc<PartitionMap>) -> Version {
        let id = map.id.0;
        let hash = hasher.hash_one(&*map.name);
        let hash_of = |other: u64| hasher.hash_one(&*self.ids.get(other).expect("indexed id is live").name);
        Version { names: self.names.insert(hash, id, &hash_of), ids: self.ids.insert(id, map) }
    }

    /// This version with metric `map.id`'s partition map replaced by `map`.
    pub fn with_map(&self, map: Arc<PartitionMap>) -> Version {
        Version { names: self.names.clone(), ids: self.ids.insert(map.id.0, map) }
    }

    /// This version without metric `map.id`.
    pub fn without_metric(&self, hasher: &impl BuildHasher, map: &PartitionMap) -> Version {
        Version {
            names: self.names.remove(hasher.hash_one(&*map.name), map.id.0),
            ids: self.ids.remove(map.id.0),
        }
    }
}

/// Orders writes: each write takes the next sequence number, applies itself to the heads,
/// then publishes; publication is in sequence order, so when a snapshot reads
/// `visible() == s`, every write with `seq <= s` has been applied.
#[derive(Default)]
pub struct Sequencer {
    next: AtomicU64,
    visible: AtomicU64,
}

impl Sequencer {
    /// Take the next sequence number. The returned ticket publishes it when dropped (also on
    /// error or panic), so a failed write never stalls the writes behind it.
    pub fn take(&self) -> Ticket<'_> {
        Ticket { seq: self.next.fetch_add(1, Ordering::Relaxed) + 1, seqr: self }
    }

    /// The last published sequence number.
    pub fn visible(&self) -> u64 {
        self.visible.load(Ordering::SeqCst)
    }
}

/// A taken, not yet published sequence number.
pub struct Ticket<'a> {
    pub seq: u64,
    seqr: &'a Sequencer,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        // Wait for the writes before this one to publish. They are in their short apply
        // phase (a head lock and a copy), so spin briefly, then yield the core.
        let mut spins = 0u32;
        while self.seqr.visible.load(Ordering::Acquire) != self.seq - 1 {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        self.seqr.visible.store(self.seq, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publication_is_in_sequence_order_across_threads() {
        let s = Arc::new(Sequencer::default());
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let t = s.take();
                        let seen = s.visible();
                        assert!(seen < t.seq);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(s.visible(), 40_000);
    }
}
