//! The catalog: metric name -> id, shared by all versions.
//!
//! One map from the name's 64-bit hash to ids (names themselves live once, in the metrics'
//! partition maps). A lookup takes the candidates for a hash and keeps the one whose id is
//! live *in the caller's version* with that name, so every snapshot resolves names as of its
//! own instant: a metric created later is not in its id trie; a dropped one still is, even
//! after its name was reused by a new id. A create costs one hash-map insert, whatever the
//! number of metrics (a versioned name trie cost a path copy of cold nodes per create).
//!
//! Dropped ids stay in the map while any partition map of theirs is alive (some snapshot
//! can still see them). The graveyard remembers them with a `Weak` of the name `Arc<str>`
//! that all partition maps of a metric share; each create or drop sweeps a few entries and
//! removes the ids whose maps are all gone. Amortized O(1), no scan over metrics.
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};

use crate::{Error, MAX_NAME_LEN};

/// Graveyard entries examined per create or drop.
const SWEEP_PER_CHANGE: usize = 2;

/// The map is split into independently locked shards, so a growing map rehashes 1/SHARDS
/// of the names at a time (a create at 1M names would otherwise stall ~10 ms, and lookups
/// with it, whenever the one table doubled) and lookups spread over SHARDS locks.
const SHARDS: usize = 64;

/// The shard of a hash: middle bits, which hashbrown uses for neither the bucket index
/// (low bits) nor the control tag (top 7 bits) within the shard.
fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// Hashes a `u64` key that is already a hash: no second hashing.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashToId<V> = HashMap<u64, V, BuildHasherDefault<PreHashed>>;

#[derive(Default)]
struct Maps {
    /// The first id of each hash.
    first: HashToId<u64>,
    /// Further ids of a hash: a name re-created while its dropped predecessor is still
    /// visible to a snapshot, or (rarely) two names with the same 64-bit hash.
    more: HashToId<Vec<u64>>,
}

impl Maps {
    /// Record `id` under `hash`, unless a candidate of that hash is the same name
    /// (`is_same`): then return that id.
    fn insert(&mut self, hash: u64, id: u64, is_same: impl Fn(u64) -> bool) -> Result<(), u64> {
        let Maps { first, more } = self;
        match first.entry(hash) {
            Entry::Vacant(e) => {
                e.insert(id);
                Ok(())
            }
            Entry::Occupied(e) => {
                let others = more.entry(hash).or_default();
                if let Some(same) =
                    std::iter::once(*e.get()).chain(others.iter().copied()).find(|&c| is_same(c))
                {
                    if others.is_empty() {
                        more.remove(&hash);
                    }
                    return Err(same);
                }
                others.push(id);
                Ok(())
            }
        }
    }
}

/// name hash -> ids, with the hasher and the graveyard of dropped ids.
pub struct Catalog {
    /// Keyed per process, so crafted names cannot force collisions.
    hasher: RandomState,
    shards: Box<[RwLock<Maps>]>,
    graveyard: Mutex<VecDeque<(u64, u64, Weak<str>)>>,
}

impl Catalog {
    pub fn new() -> Catalog {
        Catalog {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            graveyard: Mutex::default(),
        }
    }

    /// Record the metrics `keyed` (`(hash, id)`, ascending ids) in this catalog, which no
    /// version holds yet (an open loading the manifest): the same map as
    /// [`Catalog::insert_unique`] one by one would make, built shard by shard, each table
    /// sized once. (At 1M names the tables take ~35 MB; inserting in id order touched them
    /// at random, a cache miss or two per name; one shard's table fits the cache.)
    /// `is_same(a, b)`: ids `a` and `b` have the same name. `Err((a, b))`: they do.
    pub fn fill(
        &mut self,
        keyed: &[(u64, u64)],
        is_same: impl Fn(u64, u64) -> bool,
    ) -> Result<(), (u64, u64)> {
        let mut ends = [0usize; SHARDS];
        for &(hash, _) in keyed {
            ends[shard_of(hash)] += 1;
        }
        let mut at = 0;
        for e in &mut ends {
            at += *e;
            *e = at;
        }
        // A stable counting sort by shard: ids stay ascending within each.
        let mut by_shard = vec![(0u64, 0u64); keyed.len()];
        let mut next: Vec<usize> = std::iter::once(0).chain(ends[..SHARDS - 1].iter().copied()).collect();
        for &(hash, id) in keyed {
            let s = shard_of(hash);
            by_shard[next[s]] = (hash, id);
            next[s] += 1;
        }
        let mut start = 0;
        for (shard, &end) in self.shards.iter_mut().zip(&ends) {
            let maps = shard.get_mut();
            maps.first.reserve(end - start);
            for &(hash, id) in &by_shard[start..end] {
                maps.insert(hash, id, |c| is_same(c, id)).map_err(|other| (other, id))?;
            }
            start = end;
        }
        Ok(())
    }

    pub fn hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    /// The first candidate id for `hash` satisfying `pred` (which checks the name in the
    /// caller's version).
    pub fn find(&self, hash: u64, mut pred: impl FnMut(u64) -> bool) -> Option<u64> {
        let maps = self.shards[shard_of(hash)].read();
        let first = *maps.first.get(&hash)?;
        if pred(first) {
            return Some(first);
        }
        maps.more.get(&hash)?.iter().copied().find(|&id| pred(id))
    }

    /// Record new metric `id` under `hash`, unless a candidate of that hash is the same live
    /// name (`is_same`, checked against the current version): then return that id. One probe
    /// under one lock. Call before publishing the version that contains `id`.
    pub fn insert_unique(&self, hash: u64, id: u64, is_same: impl Fn(u64) -> bool) -> Result<(), u64> {
        self.sweep();
        self.shards[shard_of(hash)].write().insert(hash, id, is_same)
    }

    /// Note a dropped metric; its entry goes once no partition map sharing `name` is alive.
    pub fn dropped(&self, hash: u64, id: u64, name: &Arc<str>) {
        self.graveyard.lock().push_back((hash, id, Arc::downgrade(name)));
        self.sweep();
    }

    /// Examine a few graveyard entries; forget the ids nobody can see any more.
    fn sweep(&self) {
        let mut grave = self.graveyard.lock();
        for _ in 0..SWEEP_PER_CHANGE.min(grave.len()) {
            let (hash, id, name) = grave.pop_front().expect("length checked");
            if name.strong_count() > 0 {
                grave.push_back((hash, id, name));
            } else {
                self.remove(hash, id);
            }
        }
    }

    fn remove(&self, hash: u64, id: u64) {
        let mut maps = self.shards[shard_of(hash)].write();
        let maps = &mut *maps;
        if maps.first.get(&hash) == Some(&id) {
            match maps.more.get_mut(&hash) {
                Some(more) => {
                    let next = more.remove(0);
                    if more.is_empty() {
                        maps.more.remove(&hash);
                    }
                    maps.first.insert(hash, next);
                }
                None => {
                    maps.first.remove(&hash);
                }
            }
        } else if let Some(more) = maps.more.get_mut(&hash) {
            more.retain(|&x| x != id);
            if more.is_empty() {
                maps.more.remove(&hash);
            }
        }
    }

    /// Ids in the map (live or still visible to a snapshot); for tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        let count = |m: &Maps| m.first.len() + m.more.values().map(Vec::len).sum::<usize>();
        self.shards.iter().map(|s| count(&s.read())).sum()
    }
}

/// A metric name must be 1..=[`MAX_NAME_LEN`] bytes of UTF-8 without a NUL (C callers could
/// never name it, nor read it back as a C string).
pub(crate) fn check_name(name: &str) -> crate::Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "metric name must be 1..={MAX_NAME_LEN} bytes of UTF-8 (got {} bytes)",
            name.len()
        )));
    }
    if name.contains('\0') {
        return Err(Error::InvalidArgument(format!("metric name contains a NUL byte (name={name:?})")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_catalog_equals_one_built_by_inserts() {
        let names: Vec<String> = (0..20_000).map(|i| format!("host{:05}.m{}", i / 10, i % 10)).collect();
        let name_of = |id: u64| names[id as usize - 1].as_str();
        let inserted = Catalog::new();
        for id in 1..=names.len() as u64 {
            // Ids 7 and 9 share a hash (a collision) with different names.
            let hash = if id == 9 { inserted.hash(name_of(7)) } else { inserted.hash(name_of(id)) };
            inserted.insert_unique(hash, id, |c| name_of(c) == name_of(id)).unwrap();
        }
        let mut filled = Catalog { hasher: inserted.hasher.clone(), ..Catalog::new() };
        let keyed: Vec<(u64, u64)> = (1..=names.len() as u64)
            .map(|id| (if id == 9 { filled.hash(name_of(7)) } else { filled.hash(name_of(id)) }, id))
            .collect();
        filled.fill(&keyed, |a, b| name_of(a) == name_of(b)).unwrap();
        let contents = |c: &Catalog| {
            let mut all = Vec::new();
            for s in c.shards.iter() {
                let m = s.read();
                all.extend(m.first.iter().map(|(h, id)| (*h, vec![*id])));
                all.extend(m.more.iter().map(|(h, ids)| (!*h, ids.clone())));
            }
            all.sort();
            all
        };
        assert_eq!(contents(&filled), contents(&inserted));
        assert_eq!(filled.len(), names.len());
        assert_eq!(filled.find(keyed[8].0, |id| id == 9), Some(9), "the colliding id is a candidate");
        // A name listed twice is refused, naming both ids.
        let mut dup = Catalog::new();
        let keyed = [(dup.hash("a"), 1), (dup.hash("b"), 2), (dup.hash("a"), 3)];
        assert_eq!(dup.fill(&keyed, |a, b| (a == 1 || a == 3) && (b == 1 || b == 3)), Err((1, 3)));
    }

    #[test]
    fn finds_all_candidates_of_a_hash_and_forgets_dead_ids() {
        let c = Catalog::new();
        let names: Vec<Arc<str>> = (0..4).map(|i| Arc::from(format!("n{i}"))).collect();
        // Ids 1, 2, 3 share hash 7 (a re-created name, say); 4 has its own.
        for id in 1..=3 {
            c.insert_unique(7, id, |_| false).unwrap();
        }
        c.insert_unique(8, 4, |_| false).unwrap();
        assert_eq!(c.insert_unique(7, 9, |id| id == 2), Err(2), "a live duplicate is reported");
        assert_eq!(c.insert_unique(8, 9, |id| id == 4), Err(4));
        assert_eq!(c.len(), 4);
        assert_eq!(c.find(7, |id| id == 3), Some(3));
        assert_eq!(c.find(7, |id| id == 4), None);
        assert_eq!(c.find(8, |id| id == 4), Some(4));
        // Id 1 dropped while its name is still referenced: kept; then released: forgotten.
        let held = names[1].clone();
        c.dropped(7, 1, &names[1]);
        assert_eq!(c.len(), 4);
        drop(names);
        c.dropped(8, 4, &Arc::from("gone"));
        for _ in 0..4 {
            c.sweep();
        }
        assert_eq!(c.len(), 3, "id 4's name is gone, id 1's is held");
        drop(held);
        for _ in 0..4 {
            c.sweep();
        }
        assert_eq!(c.len(), 2);
        assert_eq!(c.find(7, |id| id == 1), None);
        assert_eq!(c.find(7, |id| id == 2), Some(2));
        assert_eq!(c.find(7, |id| id == 3), Some(3));
    }
}
