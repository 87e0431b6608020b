//! The versioned name index: a persistent hash array mapped trie (HAMT) from a metric
//! name's 64-bit hash to its id.
//!
//! Leaves store only the id; the name (and so the hash) lives in the metric's partition map,
//! which the caller reaches through the id trie. Lookups therefore return candidate ids and
//! the caller confirms the name. Nodes are bitmap-compressed (`FAN` = 32 slots, only the
//! present ones stored), so a change copies O(log32 n) small nodes.
use std::sync::Arc;

const BITS: u32 = 5;
const MASK: u64 = (1 << BITS) - 1;
/// Depth below which all 64 hash bits are used up (13 levels of 5 bits cover 65 bits).
const MAX_DEPTH: u32 = u64::BITS.div_ceil(BITS);

#[derive(Clone)]
enum Entry {
    /// One id whose name hashes to this path.
    Leaf(u64),
    /// Several ids whose names share the whole 64-bit hash.
    Collision(Arc<Vec<u64>>),
    Node(Arc<HNode>),
}

#[derive(Clone, Default)]
struct HNode {
    bitmap: u32,
    entries: Box<[Entry]>,
}

fn frag(hash: u64, depth: u32) -> u32 {
    ((hash >> (BITS * depth)) & MASK) as u32
}

impl HNode {
    fn pos(&self, bit: u32) -> usize {
        (self.bitmap & ((1u32 << bit) - 1)).count_ones() as usize
    }
    fn has(&self, bit: u32) -> bool {
        self.bitmap & (1 << bit) != 0
    }
    fn with_replaced(&self, bit: u32, e: Entry) -> HNode {
        let mut entries = self.entries.to_vec();
        entries[self.pos(bit)] = e;
        HNode { bitmap: self.bitmap, entries: entries.into() }
    }
    fn with_inserted(&self, bit: u32, e: Entry) -> HNode {
        let mut entries = Vec::with_capacity(self.entries.len() + 1);
        entries.extend_from_slice(&self.entries);
        entries.insert(self.pos(bit), e);
        HNode { bitmap: self.bitmap | (1 << bit), entries: entries.into() }
    }
    fn with_removed(&self, bit: u32) -> HNode {
        let mut entries = self.entries.to_vec();
        entries.remove(self.pos(bit));
        HNode { bitmap: self.bitmap & !(1 << bit), entries: entries.into() }
    }
}

/// An immutable multimap `hash -> id`; cloning is O(1).
#[derive(Clone, Default)]
pub struct NameIndex {
    root: Arc<HNode>,
}

impl NameIndex {
    /// Ids whose names hash to `hash` (usually zero or one).
    pub fn candidates(&self, hash: u64) -> Candidates<'_> {
        let mut node = &*self.root;
        let mut depth = 0;
        loop {
            let bit = frag(hash, depth);
            if !node.has(bit) {
                return Candidates::None;
            }
            match &node.entries[node.pos(bit)] {
                Entry::Leaf(id) => return Candidates::One(*id),
                Entry::Collision(ids) => return Candidates::Many(ids),
                Entry::Node(child) => node = child,
            }
            depth += 1;
        }
    }

    /// A new index with `id` added under `hash`. `hash_of` gives the hash of an id already
    /// in the index (needed when two ids must be pushed one level down).
    pub fn insert(&self, hash: u64, id: u64, hash_of: &dyn Fn(u64) -> u64) -> Self {
        NameIndex { root: Arc::new(insert(&self.root, 0, hash, id, hash_of)) }
    }

    /// A new index without `id` under `hash` (unchanged if absent).
    pub fn remove(&self, hash: u64, id: u64) -> Self {
        match remove(&self.root, 0, hash, id) {
            Some(root) => NameIndex { root: Arc::new(root) },
            None => NameIndex::default(),
        }
    }
}

/// Result of [`NameIndex::candidates`].
pub enum Candidates<'a> {
    None,
    One(u64),
    Many(&'a [u64]),
}

impl Candidates<'_> {
    /// The first candidate id satisfying `pred`.
    pub fn find(&self, mut pred: impl FnMut(u64) -> bool) -> Option<u64> {
        match self {
            Candidates::None => None,
            Candidates::One(id) => pred(*id).then_some(*id),
            Candidates::Many(ids) => ids.iter().copied().find(|id| pred(*id)),
        }
    }
}

fn insert(node: &HNode, depth: u32, hash: u64, id: u64, hash_of: &dyn Fn(u64) -> u64) -> HNode {
    let bit = frag(hash, depth);
    if !node.has(bit) {
        return node.with_inserted(bit, Entry::Leaf(id));
    }
    let new_entry = match &node.entries[node.pos(bit)] {
        Entry::Node(child) => Entry::Node(Arc::new(insert(child, depth + 1, hash, id, hash_of))),
        existing => {
            let (other_hash, other) = match existing {
                Entry::Leaf(o) => (hash_of(*o), existing.clone()),
                Entry::Collision(ids) => (hash_of(ids[0]), existing.clone()),
                Entry::Node(_) => unreachable!(),
            };
            if other_hash == hash {
                let mut ids = match existing {
                    Entry::Leaf(o) => vec![*o],
                    Entry::Collision(ids) => ids.to_vec(),
                    Entry::Node(_) => unreachable!(),
                };
                ids.push(id);
                Entry::Collision(Arc::new(ids))
            } else {
                Entry::Node(Arc::new(split(other_hash, other, hash, id, depth + 1)))
            }
        }
    };
    node.with_replaced(bit, new_entry)
}

/// A node at `depth` holding `a` (an existing leaf/collision with hash `ha`) and a new leaf
/// `id` with hash `hb != ha`.
fn split(ha: u64, a: Entry, hb: u64, id: u64, depth: u32) -> HNode {
    debug_assert!(depth < MAX_DEPTH && ha != hb);
    let (ba, bb) = (frag(ha, depth), frag(hb, depth));
    if ba == bb {
        let child = split(ha, a, hb, id, depth + 1);
        return HNode { bitmap: 1 << ba, entries: vec![Entry::Node(Arc::new(child))].into() };
    }
    let b = Entry::Leaf(id);
    let entries = if ba < bb { vec![a, b] } else { vec![b, a] };
    HNode { bitmap: (1 << ba) | (1 << bb), entries: entries.into() }
}

/// `None` when the node becomes empty.
fn remove(node: &HNode, depth: u32, hash: u64, id: u64) -> Option<HNode> {
    let bit = frag(hash, depth);
    if !node.has(bit) {
        return Some(node.clone());
    }
    let replacement = match &node.entries[node.pos(bit)] {
        Entry::Leaf(o) if *o == id => None,
        Entry::Leaf(_) => return Some(node.clone()),
        Entry::Collision(ids) => {
            let rest: Vec<u64> = ids.iter().copied().filter(|x| *x != id).collect();
            match rest.len() {
                0 => None,
                1 => Some(Entry::Leaf(rest[0])),
                _ => Some(Entry::Collision(Arc::new(rest))),
            }
        }
        Entry::Node(child) => match remove(child, depth + 1, hash, id) {
            None => None,
            // A child left with one leaf folds back into this level.
            Some(c) if c.entries.len() == 1 && !matches!(c.entries[0], Entry::Node(_)) => {
                Some(c.entries[0].clone())
            }
            Some(c) => Some(Entry::Node(Arc::new(c))),
        },
    };
    match replacement {
        Some(e) => Some(node.with_replaced(bit, e)),
        None if node.entries.len() == 1 => None,
        None => Some(node.with_removed(bit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn find(ix: &NameIndex, hash: u64, id: u64) -> bool {
        ix.candidates(hash).find(|x| x == id).is_some()
    }

    #[test]
    fn matches_a_hashmap_including_full_hash_collisions() {
        // Hashes chosen so many ids share prefixes and some share the whole hash.
        let hash = |id: u64| -> u64 {
            if id % 10 == 0 { 0xdead_beef } else { id.wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xffff_f0ff }
        };
        let mut ix = NameIndex::default();
        let mut m: HashMap<u64, u64> = HashMap::new();
        for id in 0..5_000u64 {
            ix = ix.insert(hash(id), id, &hash);
            m.insert(id, hash(id));
        }
        for id in (0..5_000u64).filter(|i| i % 3 == 0) {
            ix = ix.remove(hash(id), id);
            m.remove(&id);
        }
        for id in 0..5_000u64 {
            assert_eq!(find(&ix, hash(id), id), m.contains_key(&id), "id {id}");
        }
        let before = ix.clone();
        for id in 0..5_000u64 {
            ix = ix.remove(hash(id), id);
        }
        assert!(matches!(ix.candidates(0xdead_beef), Candidates::None));
        assert!(find(&before, hash(1), 1), "old versions keep their entries");
    }
}
