//! A persistent (path-copying) radix trie keyed by dense `u64` ids.
//!
//! Each node has [`FAN`] slots; a tree of height `h` holds keys `0..FAN^h`. `insert` and
//! `remove` return a new trie that shares every node off the changed path with the old one,
//! so a change copies `h = O(log_FAN n)` nodes of `FAN` pointers, never the whole map: the
//! in-memory twin of the manifest's tree (docs/architecture.md, "The global transaction").
//!
//! The leaf holding the highest keys lives outside the tree, as a *tail* (as in Clojure's
//! persistent vector). Metric ids grow, so every create lands in the tail: it copies one
//! leaf, and only every `FAN`-th create pushes a full tail into the tree (moving the leaf,
//! not copying it). A create is then O(1) amortized instead of O(depth); each path copy
//! costs `FAN` reference-count increments per level (and as many decrements when the old
//! version goes), which made creates at 1M metrics 2.3x as costly as at 1K without the tail.
use std::sync::Arc;

const BITS: u32 = 4;
/// Slots per node.
pub const FAN: usize = 1 << BITS;
const MASK: u64 = FAN as u64 - 1;
/// Height at which every `u64` fits.
const MAX_HEIGHT: u32 = u64::BITS.div_ceil(BITS);

/// A branch's children.
type Kids<T> = [Option<Arc<Node<T>>>; FAN];

enum Node<T> {
    Branch(Kids<T>),
    Leaf([Option<T>; FAN]),
}

/// An immutable map `u64 -> T`; cloning is O(1).
pub struct IdTrie<T> {
    root: Option<Arc<Node<T>>>,
    height: u32,
    /// The leaf for keys `tail_base..tail_base + FAN` (never empty when present). Every key
    /// in the tree is below `tail_base`.
    tail: Option<Arc<Node<T>>>,
    tail_base: u64,
    len: u64,
}

impl<T> Clone for IdTrie<T> {
    fn clone(&self) -> Self {
        IdTrie {
            root: self.root.clone(),
            height: self.height,
            tail: self.tail.clone(),
            tail_base: self.tail_base,
            len: self.len,
        }
    }
}

impl<T> Default for IdTrie<T> {
    fn default() -> Self {
        IdTrie { root: None, height: 0, tail: None, tail_base: 0, len: 0 }
    }
}

fn slot(key: u64, level: u32) -> usize {
    // `level < MAX_HEIGHT`, so the shift is below 64.
    ((key >> (BITS * level)) & MASK) as usize
}

fn fits(key: u64, height: u32) -> bool {
    height >= MAX_HEIGHT || key >> (BITS * height) == 0
}

/// What a path copy does at the bottom: set one slot of a leaf, or install a whole leaf.
enum Change<T> {
    Slot(Option<T>),
    Leaf(Arc<Node<T>>),
}

impl<T: Clone> IdTrie<T> {
    /// Number of keys present.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: u64) -> Option<&T> {
        self.leaf(key)?[slot(key, 0)].as_ref()
    }

    /// The leaf holding `key`'s slot (keys `key & !MASK ..`), if there is one. Leaves are
    /// always at level 0: a key fits in the tree's height.
    fn leaf(&self, key: u64) -> Option<&[Option<T>; FAN]> {
        if key & !MASK == self.tail_base {
            return match self.tail.as_deref() {
                Some(Node::Leaf(vals)) => Some(vals),
                _ => None,
            };
        }
        if !fits(key, self.height) {
            return None;
        }
        let mut node = self.root.as_deref()?;
        let mut level = self.height;
        loop {
            level -= 1;
            match node {
                Node::Branch(kids) => node = kids[slot(key, level)].as_deref()?,
                Node::Leaf(vals) => return Some(vals),
            }
        }
    }

    /// A [`Finder`] over this trie: lookups of nearby keys one after the other (a batch's
    /// ids in order) share the walk down to their leaf.
    pub fn finder(&self) -> Finder<'_, T> {
        Finder { trie: self, base: u64::MAX, leaf: None }
    }

    /// The trie of `entries`, whose keys must ascend strictly (it panics otherwise): what
    /// inserting them one by one gives, built bottom-up in O(n) instead (each insert would
    /// copy a leaf). The last leaf becomes the tail.
    pub fn from_sorted(entries: impl IntoIterator<Item = (u64, T)>) -> Self {
        let mut leaves: Vec<(u64, [Option<T>; FAN])> = Vec::new();
        let mut len = 0u64;
        let mut prev = None;
        for (key, val) in entries {
            assert!(prev.is_none_or(|p| p < key), "IdTrie::from_sorted: keys must ascend strictly");
            prev = Some(key);
            len += 1;
            let block = key & !MASK;
            match leaves.last_mut() {
                Some((b, vals)) if *b == block => vals[slot(key, 0)] = Some(val),
                _ => {
                    let mut vals: [Option<T>; FAN] = Default::default();
                    vals[slot(key, 0)] = Some(val);
                    leaves.push((block, vals));
                }
            }
        }
        let Some((tail_base, tail)) = leaves.pop() else { return IdTrie::default() };
        let mut trie =
            IdTrie { root: None, height: 0, tail: Some(Arc::new(Node::Leaf(tail))), tail_base, len };
        let Some(&(max, _)) = leaves.last() else { return trie };
        trie.height = (1..=MAX_HEIGHT).find(|&h| fits(max, h)).expect("every key fits MAX_HEIGHT");
        let mut nodes: Vec<(u64, Arc<Node<T>>)> =
            leaves.into_iter().map(|(base, vals)| (base, Arc::new(Node::Leaf(vals)))).collect();
        for level in 1..trie.height {
            // A node at `level` holds the keys that share every bit above its slot's.
            let keep = u64::MAX.checked_shl(BITS * (level + 1)).unwrap_or(0);
            let mut parents: Vec<(u64, Kids<T>)> = Vec::new();
            for (base, node) in nodes {
                let parent = base & keep;
                if parents.last().is_none_or(|(b, _)| *b != parent) {
                    parents.push((parent, Default::default()));
                }
                parents.last_mut().expect("pushed").1[slot(base, level)] = Some(node);
            }
            nodes = parents.into_iter().map(|(base, kids)| (base, Arc::new(Node::Branch(kids)))).collect();
        }
        debug_assert_eq!(nodes.len(), 1);
        trie.root = nodes.pop().map(|(_, root)| root);
        trie
    }

    /// A new trie with `key -> val` (replacing any previous value).
    pub fn insert(&self, key: u64, val: T) -> Self {
        let existed = self.get(key).is_some();
        let mut next = self.clone();
        next.len += u64::from(!existed);
        let block = key & !MASK;
        if block == self.tail_base || (self.tail.is_none() && block > self.tail_base) {
            next.tail = leaf_with(self.tail_for(block), slot(key, 0), Some(val));
            next.tail_base = block;
        } else if block > self.tail_base {
            // Past the tail: the tail joins the tree, a new tail starts.
            if let Some(full) = next.tail.take() {
                next.change_tree(self.tail_base, Change::Leaf(full));
            }
            next.tail = leaf_with(None, slot(key, 0), Some(val));
            next.tail_base = block;
        } else {
            next.change_tree(key, Change::Slot(Some(val)));
        }
        next
    }

    /// A new trie without `key` (the same trie, shared, if `key` is absent).
    pub fn remove(&self, key: u64) -> Self {
        if self.get(key).is_none() {
            return self.clone();
        }
        let mut next = self.clone();
        next.len -= 1;
        if key & !MASK == self.tail_base {
            next.tail = leaf_with(self.tail.as_deref(), slot(key, 0), None);
        } else {
            next.change_tree(key, Change::Slot(None));
        }
        next
    }

    fn tail_for(&self, block: u64) -> Option<&Node<T>> {
        if block == self.tail_base { self.tail.as_deref() } else { None }
    }

    /// Path-copy the tree for `key`, growing it when `key` does not fit yet.
    fn change_tree(&mut self, key: u64, change: Change<T>) {
        if self.root.is_none() {
            self.height = 1;
        }
        while !fits(key, self.height) {
            // Grow: the old tree becomes slot 0 of a new root.
            if let Some(old) = self.root.take() {
                let mut kids: [Option<Arc<Node<T>>>; FAN] = Default::default();
                kids[0] = Some(old);
                self.root = Some(Arc::new(Node::Branch(kids)));
            }
            self.height += 1;
        }
        self.root = set(self.root.as_ref(), self.height - 1, key, change);
        if self.root.is_none() {
            self.height = 0;
        }
    }

    /// Entries in ascending key order, starting at the first key `>= from`. Lazy: walks the
    /// tree with a stack of at most `height` frames, then the tail.
    pub fn range_from(&self, from: u64) -> Iter<'_, T> {
        let mut stack = Vec::with_capacity(self.height as usize + 1);
        // The stack is popped from the end: push the tail first so it comes last.
        if let Some(tail) = self.tail.as_deref() {
            stack.push(Frame { node: tail, level: 0, base: self.tail_base, slot: 0 });
        }
        if let Some(root) = self.root.as_deref() {
            stack.push(Frame { node: root, level: self.height - 1, base: 0, slot: 0 });
        }
        Iter { stack, from }
    }
}

/// A copy of `leaf` (or an empty leaf) with slot `i` set to `val`; `None` if it ends up empty.
fn leaf_with<T: Clone>(leaf: Option<&Node<T>>, i: usize, val: Option<T>) -> Option<Arc<Node<T>>> {
    let mut vals: [Option<T>; FAN] = match leaf {
        Some(Node::Leaf(v)) => v.clone(),
        _ => Default::default(),
    };
    vals[i] = val;
    vals.iter().any(Option::is_some).then(|| Arc::new(Node::Leaf(vals)))
}

/// Lookups that remember the last leaf they reached (see [`IdTrie::finder`]): a run of
/// keys in one leaf costs one walk from the root, not one each.
pub struct Finder<'a, T> {
    trie: &'a IdTrie<T>,
    /// `key & !MASK` of the keys `leaf` holds (`u64::MAX`: none yet, no key has it as its
    /// leaf's base since `MASK` is not 0).
    base: u64,
    leaf: Option<&'a [Option<T>; FAN]>,
}

impl<'a, T: Clone> Finder<'a, T> {
    /// The value under `key`, if any (as [`IdTrie::get`]).
    #[inline]
    pub fn get(&mut self, key: u64) -> Option<&'a T> {
        if key & !MASK != self.base {
            self.base = key & !MASK;
            self.leaf = self.trie.leaf(key);
        }
        self.leaf?[slot(key, 0)].as_ref()
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
                    if let Some(v) = &vals[i]
                        && lo >= self.from
                    {
                        return Some((lo, v));
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

/// Path-copy `node` (at `level`, 0 = leaf) with `change` applied at `key`; `None` when the
/// copy would be empty, so removals prune empty subtrees.
fn set<T: Clone>(
    node: Option<&Arc<Node<T>>>,
    level: u32,
    key: u64,
    change: Change<T>,
) -> Option<Arc<Node<T>>> {
    if level == 0 {
        return match change {
            Change::Leaf(leaf) => Some(leaf),
            Change::Slot(val) => leaf_with(node.map(|n| &**n), slot(key, 0), val),
        };
    }
    let i = slot(key, level);
    let mut kids: [Option<Arc<Node<T>>>; FAN] = match node.map(|n| &**n) {
        Some(Node::Branch(k)) => k.clone(),
        _ => Default::default(),
    };
    kids[i] = set(kids[i].as_ref(), level - 1, key, change);
    kids.iter().any(Option::is_some).then(|| Arc::new(Node::Branch(kids)))
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
            if x.is_multiple_of(3) {
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
        // A finder answers as `get` does, whatever order the keys come in (ascending runs,
        // absent keys, keys past the tree, the tail's).
        let mut f = t.finder();
        let probes = (0..120_000u64).chain((0..300).rev()).chain([u64::MAX, u64::MAX - 1, 7, 0]);
        for k in probes.chain(m.keys().copied()) {
            assert_eq!(f.get(k), t.get(k), "key {k}");
        }
        let all: Vec<(u64, u64)> = t.range_from(0).map(|(k, v)| (k, *v)).collect();
        let want: Vec<(u64, u64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(all, want);
        let from = 50_000;
        let tail: Vec<u64> = t.range_from(from).map(|(k, _)| k).collect();
        let want_tail: Vec<u64> = m.range(from..).map(|(k, _)| *k).collect();
        assert_eq!(tail, want_tail);
    }

    /// The shape of a trie: height, tail and every node's slots, as a string.
    fn shape(t: &IdTrie<u64>) -> String {
        fn node(n: &Node<u64>, out: &mut String) {
            match n {
                Node::Leaf(vals) => out.push_str(&format!("L{vals:?}")),
                Node::Branch(kids) => {
                    out.push('B');
                    for k in kids {
                        match k {
                            Some(k) => node(k, out),
                            None => out.push('-'),
                        }
                    }
                }
            }
        }
        let mut out = format!("h{} n{} t{} ", t.height, t.len, t.tail_base);
        if let Some(r) = &t.root {
            node(r, &mut out);
        }
        if let Some(tail) = &t.tail {
            out.push_str(" tail ");
            node(tail, &mut out);
        }
        out
    }

    #[test]
    fn bulk_built_trie_equals_one_built_by_inserts() {
        let mut x: u64 = 99;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut sets: Vec<Vec<u64>> = vec![
            vec![],
            vec![0],
            vec![5],
            (1..=15).collect(),
            (1..=16).collect(),
            (1..=17).collect(),
            (0..256).collect(),
            (1..=5000).collect(),
            vec![3, 17, 4096, 65_535, 65_536, 1 << 40, u64::MAX - 20, u64::MAX],
        ];
        for n in [100, 3000] {
            let mut keys: Vec<u64> = (0..n).map(|_| rnd() % 200_000).collect();
            keys.sort_unstable();
            keys.dedup();
            sets.push(keys);
        }
        for keys in sets {
            let mut by_inserts = IdTrie::default();
            for &k in &keys {
                by_inserts = by_inserts.insert(k, k.wrapping_mul(3));
            }
            let bulk = IdTrie::from_sorted(keys.iter().map(|&k| (k, k.wrapping_mul(3))));
            assert_eq!(shape(&bulk), shape(&by_inserts), "keys {:?}..", &keys[..keys.len().min(5)]);
            let all: Vec<(u64, u64)> = bulk.range_from(0).map(|(k, v)| (k, *v)).collect();
            assert_eq!(all, keys.iter().map(|&k| (k, k.wrapping_mul(3))).collect::<Vec<_>>());
            // Both go on alike: a create past the end, a change and a removal inside.
            if let (Some(&first), Some(&last)) = (keys.first(), keys.last())
                && last < u64::MAX
            {
                let (a, b) =
                    (bulk.insert(last + 1, 1).remove(first), by_inserts.insert(last + 1, 1).remove(first));
                assert_eq!(shape(&a), shape(&b));
            }
        }
    }

    #[test]
    #[should_panic(expected = "ascend strictly")]
    fn bulk_build_refuses_unsorted_keys() {
        let _ = IdTrie::from_sorted([(2, 0u8), (1, 0)]);
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
