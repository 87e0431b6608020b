//! A persistent (path-copying) radix trie keyed by dense `u64` ids.
//!
//! Each node has [`FAN`] slots; a tree of height `h` holds keys `0..FAN^h`. `insert` and
//! `remove` return a new trie that shares every node off the changed path with the old one,
//! so a change copies `h = O(log_FAN n)` nodes of `FAN` pointers, never the whole map. This is
//! the in-memory form of the seed's "transaction stored as a tree of fixed-size entries".
use std::sync::Arc;

const BITS: u32 = 4;
/// Slots per node.
pub const FAN: usize = 1 << BITS;
const MASK: u64 = FAN as u64 - 1;
/// Height at which every `u64` fits.
const MAX_HEIGHT: u32 = u64::BITS.div_ceil(BITS);

enum Node<T> {
    Branch([Option<Arc<Node<T>>>; FAN]),
    Leaf([Option<T>; FAN]),
}

/// An immutable map `u64 -> T`; cloning is O(1).
pub struct IdTrie<T> {
    root: Option<Arc<Node<T>>>,
    height: u32,
    len: u64,
}

impl<T> Clone for IdTrie<T> {
    fn clone(&self) -> Self {
        IdTrie { root: self.root.clone(), height: self.height, len: self.len }
    }
}

impl<T> Default for IdTrie<T> {
    fn default() -> Self {
        IdTrie { root: None, height: 0, len: 0 }
    }
}

fn slot(key: u64, level: u32) -> usize {
    // `level < MAX_HEIGHT`, so the shift is below 64.
    ((key >> (BITS * level)) & MASK) as usize
}

fn fits(key: u64, height: u32) -> bool {
    height >= MAX_HEIGHT || key >> (BITS * height) == 0
}

impl<T: Clone> IdTrie<T> {
    /// Number of keys present.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: u64) -> Option<&T> {
        if !fits(key, self.height) {
            return None;
        }
        let mut node = self.root.as_deref()?;
        let mut level = self.height;
        loop {
            level -= 1;
            match node {
                Node::Branch(kids) => node = kids[slot(key, level)].as_deref()?,
                Node::Leaf(vals) => return vals[slot(key, level)].as_ref(),
            }
        }
    }

    /// A new trie with `key -> val` (replacing any previous value).
    pub fn insert(&self, key: u64, val: T) -> Self {
        let mut root = self.root.clone();
        let mut height = self.height.max(1);
        if root.is_none() {
            height = 1;
        }
        while !fits(key, height) {
            // Grow: the old tree becomes slot 0 of a new root.
            if let Some(old) = root.take() {
                let mut kids: [Option<Arc<Node<T>>>; FAN] = Default::default();
                kids[0] = Some(old);
                root = Some(Arc::new(Node::Branch(kids)));
            }
            height += 1;
        }
        let existed = self.get(key).is_some();
        let root = set(root.as_ref(), height - 1, key, Some(val));
        IdTrie { root, height, len: self.len + u64::from(!existed) }
    }

    /// A new trie without `key` (the same trie, shared, if `key` is absent).
    pub fn remove(&self, key: u64) -> Self {
        if self.get(key).is_none() {
            return self.clone();
        }
        let root = set(self.root.as_ref(), self.height - 1, key, None);
        let height = if root.is_some() { self.height } else { 0 };
        IdTrie { root, height, len: self.len - 1 }
    }

    /// Entries in ascending key order, starting at the first key `>= from`. Lazy: walks the
    /// tree with a stack of at most `height` frames.
    pub fn range_from(&self, from: u64) -> Iter<'_, T> {
        let mut stack = Vec::with_capacity(self.height as usize);
        if let Some(root) = self.root.as_deref() {
            stack.push(Frame { node: root, level: self.height - 1, base: 0, slot: 0 });
        }
        Iter { stack, from }
    }
}

struct Frame<'a, T> {
    node: &'a Node<T>,
    level: u32,
    base: u64,
    slot: usize,
}

/// Iterator of [`IdTrie::range_from`].
pub struct Iter<'a, T> {
    stack: Vec<Frame<'a, T>>,
    from: u64,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = (u64, &'a T);

    fn next(&mut self) -> Option<(u64, &'a T)> {
        while let Some(top) = self.stack.last_mut() {
            if top.slot == FAN {
                self.stack.pop();
                continue;
            }
            let i = top.slot;
            top.slot += 1;
            let shift = BITS * top.level;
            let lo = top.base + ((i as u64) << shift);
            match top.node {
                Node::Leaf(vals) => {
                    if let Some(v) = &vals[i] {
                        if lo >= self.from {
                            return Some((lo, v));
                        }
                    }
                }
                Node::Branch(kids) => {
                    let hi = lo + ((1u64 << shift) - 1);
                    if let (Some(kid), true) = (kids[i].as_deref(), hi >= self.from) {
                        let level = top.level - 1;
                        self.stack.push(Frame { node: kid, level, base: lo, slot: 0 });
                    }
                }
            }
        }
        None
    }
}

/// Path-copy `node` (at `level`, 0 = leaf) with `key` set to `val`; `None` when the copy
/// would be empty, so removals prune empty subtrees.
fn set<T: Clone>(node: Option<&Arc<Node<T>>>, level: u32, key: u64, val: Option<T>) -> Option<Arc<Node<T>>> {
    let i = slot(key, level);
    let new = if level == 0 {
        let mut vals: [Option<T>; FAN] = match node.map(|n| &**n) {
            Some(Node::Leaf(v)) => v.clone(),
            _ => Default::default(),
        };
        vals[i] = val;
        if vals.iter().all(Option::is_none) {
            return None;
        }
        Node::Leaf(vals)
    } else {
        let mut kids: [Option<Arc<Node<T>>>; FAN] = match node.map(|n| &**n) {
            Some(Node::Branch(k)) => k.clone(),
            _ => Default::default(),
        };
        kids[i] = set(kids[i].as_ref(), level - 1, key, val);
        if kids.iter().all(Option::is_none) {
            return None;
        }
        Node::Branch(kids)
    };
    Some(Arc::new(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn insert_get_remove_match_a_btreemap() {
        let mut t: IdTrie<u64> = IdTrie::default();
        let mut m = BTreeMap::new();
        let mut x: u64 = 12345;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = match step % 4 {
                0 => x % 300,
                1 => x % 100_000,
                2 => x,
                _ => step,
            };
            if x % 3 == 0 {
                t = t.remove(key);
                m.remove(&key);
            } else {
                t = t.insert(key, x);
                m.insert(key, x);
            }
            assert_eq!(t.len(), m.len() as u64);
        }
        for (k, v) in &m {
            assert_eq!(t.get(*k), Some(v));
        }
        let all: Vec<(u64, u64)> = t.range_from(0).map(|(k, v)| (k, *v)).collect();
        let want: Vec<(u64, u64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(all, want);
        let from = 50_000;
        let tail: Vec<u64> = t.range_from(from).map(|(k, _)| k).collect();
        let want_tail: Vec<u64> = m.range(from..).map(|(k, _)| *k).collect();
        assert_eq!(tail, want_tail);
    }

    #[test]
    fn old_versions_are_unchanged_by_later_changes() {
        let t0: IdTrie<u32> = IdTrie::default();
        let t1 = t0.insert(1, 10).insert(2, 20);
        let t2 = t1.insert(1, 11).remove(2).insert(u64::MAX, 7);
        assert_eq!(t0.get(1), None);
        assert_eq!((t1.get(1), t1.get(2), t1.get(u64::MAX)), (Some(&10), Some(&20), None));
        assert_eq!((t2.get(1), t2.get(2), t2.get(u64::MAX)), (Some(&11), None, Some(&7)));
        assert_eq!(t2.remove(1).remove(u64::MAX).len(), 0);
    }
}
