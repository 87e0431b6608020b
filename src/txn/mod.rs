//! The global transaction ([`Global`], docs/architecture.md): the current immutable
//! [`Version`] mapping every live metric id to its partition map, the writer lock that
//! serialises building the next one, and the [`Sequencer`] that orders writes.
//!
//! A new version is built under the writer lock and published with `arc-swap`
//! ([`Global::commit`]); readers load it without locks. Every change (create, drop, seal)
//! path-copies O(log n) nodes of the id trie, never all metrics.
mod live;
pub mod trie;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use arc_swap::{ArcSwap, Guard};
use parking_lot::{Condvar, Mutex};

use crate::MetricId;
use crate::catalog::Catalog;
use crate::partition::PartitionMap;
pub use live::LiveSnapshots;
use trie::IdTrie;

/// The global transaction of one database.
pub struct Global {
    current: Current,
    /// Serialises building the next version (create, drop, seal, delete).
    writer: Mutex<WriterState>,
    seqr: Sequencer,
}

/// What the writer lock guards besides the version: the next metric id.
pub struct WriterState {
    /// Ids start at 1 and are never reused, also across reopens.
    pub next_id: u64,
}

impl Global {
    /// A database's global transaction at `version`, handing out ids from `next_id` and
    /// sequence numbers after `seq`.
    pub fn new(version: Version, next_id: u64, seq: u64) -> Global {
        static IDS: AtomicU64 = AtomicU64::new(1);
        let g = Global {
            current: Current {
                version: ArcSwap::from_pointee(version),
                generation: AtomicU64::new(0),
                id: IDS.fetch_add(1, Ordering::Relaxed),
            },
            writer: Mutex::new(WriterState { next_id }),
            seqr: Sequencer::default(),
        };
        g.seqr.advance_to(seq);
        g
    }

    /// The current version, without a lock (a guard: for a short look).
    #[inline]
    pub fn load(&self) -> Guard<Arc<Version>> {
        self.current.version.load()
    }

    /// The current version, as an owned reference.
    pub fn load_full(&self) -> Arc<Version> {
        self.current.version.load_full()
    }

    /// The sequencer writes take their numbers from.
    #[inline]
    pub fn seqr(&self) -> &Sequencer {
        &self.seqr
    }

    /// The next metric id to assign.
    pub fn next_id(&self) -> u64 {
        self.writer.lock().next_id
    }

    /// Build the next version and publish it, under the writer lock: `change` gets the
    /// current version and the writer's state and returns the next version (`None`: publish
    /// nothing) and a result for the caller. Nothing is published on an error.
    pub fn commit<R>(
        &self,
        change: impl FnOnce(&Version, &mut WriterState) -> crate::Result<(Option<Version>, R)>,
    ) -> crate::Result<R> {
        let mut w = self.writer.lock();
        let cur = self.current.version.load_full();
        let (next, r) = change(&cur, &mut w)?;
        if let Some(next) = next {
            self.current.publish(Arc::new(next));
        }
        Ok(r)
    }

    /// Publish metric `map.id`'s new partition map. The caller holds the metric's head lock
    /// and the old map is current (replacing it would have frozen that head).
    pub fn replace_map(&self, map: Arc<PartitionMap>) {
        let _w = self.writer.lock();
        let cur = self.current.version.load_full();
        self.current.publish(Arc::new(cur.with_map(map)));
    }

    /// A snapshot's `(version, seq)`: the version was current when `seq` was read, so every
    /// write numbered `<= seq` is reachable from it (docs/architecture.md explains why the
    /// check is needed). O(1), no lock, never waits for writers.
    ///
    /// The generation brackets the read of `seq`: unchanged and even around it, no version
    /// was published meanwhile, so the version of that generation was current. This thread
    /// remembers that version (a `Weak`, so it keeps nothing alive) by generation: while no
    /// new version is published, a begin is one reference-count increment and three loads.
    #[inline]
    pub fn begin(&self) -> (Arc<Version>, u64) {
        let c = &self.current;
        let g = c.generation.load(Ordering::SeqCst);
        if g.is_multiple_of(2)
            && let Ok(Some(version)) = LAST_VERSION.try_with(|last| {
                let last = last.borrow();
                if last.0 == c.id && last.1 == g { last.2.upgrade() } else { None }
            })
        {
            let seq = self.seqr.visible();
            if c.generation.load(Ordering::SeqCst) == g {
                return (version, seq);
            }
        }
        self.begin_uncached()
    }

    /// [`Global::begin`] when this thread does not know the current version yet.
    #[cold]
    fn begin_uncached(&self) -> (Arc<Version>, u64) {
        let c = &self.current;
        loop {
            let g = c.generation.load(Ordering::SeqCst);
            let version = c.version.load_full();
            let seq = self.seqr.visible();
            if g.is_multiple_of(2) && c.generation.load(Ordering::SeqCst) == g {
                // (Not during this thread's exit, when the slot is gone: then nothing is kept.)
                let _ =
                    LAST_VERSION.try_with(|last| *last.borrow_mut() = (c.id, g, Arc::downgrade(&version)));
                return (version, seq);
            }
            // A publication is under way, or came: the version may still have been current
            // when `seq` was read (a writer need not finish for the reader to go on).
            if Arc::ptr_eq(&c.version.load(), &version) {
                return (version, seq);
            }
        }
    }
}

/// The current version and its generation, on their own cache lines: every begin reads
/// them, and only a publication writes them.
#[repr(align(128))]
struct Current {
    version: ArcSwap<Version>,
    /// Odd while a version is being published, even otherwise: incremented before and after
    /// each store of `version` (under the writer lock), so a reader who finds it even and
    /// unchanged around a read knows no version was published meanwhile.
    generation: AtomicU64,
    /// Tells databases apart in [`LAST_VERSION`]: unique in the process, never reused.
    id: u64,
}

impl Current {
    /// Make `next` the current version. The caller holds the writer lock.
    fn publish(&self, next: Arc<Version>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.version.store(next);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

thread_local! {
    /// The version this thread's last uncached [`Global::begin`] found current: the
    /// database's `Current::id`, the generation, and the version. A `Weak`: it keeps only
    /// the version's small allocation (not what the version references) and counts for
    /// nothing in `Database::ensure_closable`.
    static LAST_VERSION: RefCell<(u64, u64, Weak<Version>)> = const { RefCell::new((0, 0, Weak::new())) };
}

/// One immutable version of the global transaction.
///
/// Aligned to its own cache lines, away from the reference counts its `Arc` keeps in front
/// of it: every snapshot begin and release changes the count, and every write reads `ids`.
#[derive(Clone)]
#[repr(align(128))]
pub struct Version {
    /// metric id -> partition map.
    pub ids: IdTrie<Arc<PartitionMap>>,
    /// name -> id candidates, shared by all versions; a version confirms them against `ids`.
    /// Its strong count is the number of live versions (see `Database::ensure_closable`).
    pub catalog: Arc<Catalog>,
    /// Counts the snapshots of every version of the database.
    pub live: Arc<LiveSnapshots>,
}

impl Version {
    /// The first version of a database: no metrics.
    pub fn empty() -> Version {
        Version { ids: IdTrie::default(), catalog: Arc::new(Catalog::new()), live: Arc::default() }
    }

    /// The first version of a database that holds `maps` (ascending ids, each once: the
    /// manifest's order), its id trie and catalog built in one pass, O(n) with no copies
    /// (adding them one by one would copy a trie leaf each). `Err`: two maps share a name
    /// (it, and their ids, the first one's first).
    pub fn from_maps(maps: Vec<Arc<PartitionMap>>) -> Result<Version, (Arc<str>, MetricId, MetricId)> {
        let mut catalog = Catalog::new();
        let keyed: Vec<(u64, u64)> = maps.iter().map(|m| (catalog.hash(&m.name), m.id.0)).collect();
        // Asked only on a hash already taken (a duplicate, or a 64-bit collision).
        let name_of = |id: u64| maps.binary_search_by_key(&id, |m| m.id.0).ok().map(|i| &maps[i].name);
        catalog
            .fill(&keyed, |a, b| name_of(a) == name_of(b))
            .map_err(|(a, b)| (name_of(a).expect("a listed id").clone(), MetricId(a), MetricId(b)))?;
        drop(keyed);
        Ok(Version {
            ids: IdTrie::from_sorted(maps.into_iter().map(|m| (m.id.0, m))),
            catalog: Arc::new(catalog),
            live: Arc::default(),
        })
    }

    /// The live metric called `name` in this version, if any.
    pub fn lookup(&self, name: &str) -> Option<&Arc<PartitionMap>> {
        let hash = self.catalog.hash(name);
        let id = self.catalog.find(hash, |id| self.ids.get(id).is_some_and(|m| &*m.name == name))?;
        self.ids.get(id)
    }

    /// This version plus a new metric `id` called `name`, whose partition map `make_map`
    /// builds; or, when a live metric has that name, its id. Records the name in the
    /// catalog: publish the result (or nothing) before releasing the writer lock.
    pub fn add_metric(
        &self,
        id: MetricId,
        name: &str,
        make_map: impl FnOnce() -> PartitionMap,
    ) -> Result<Version, MetricId> {
        let same = |c: u64| self.ids.get(c).is_some_and(|m| &*m.name == name);
        self.catalog.insert_unique(self.catalog.hash(name), id.0, same).map_err(MetricId)?;
        Ok(Version {
            ids: self.ids.insert(id.0, Arc::new(make_map())),
            catalog: self.catalog.clone(),
            live: self.live.clone(),
        })
    }

    /// This version with metric `map.id`'s partition map replaced by `map`.
    pub fn with_map(&self, map: Arc<PartitionMap>) -> Version {
        Version {
            ids: self.ids.insert(map.id.0, map),
            catalog: self.catalog.clone(),
            live: self.live.clone(),
        }
    }

    /// This version without metric `map.id`; the catalog forgets its name once no snapshot
    /// can see it any more.
    pub fn drop_metric(&self, map: &PartitionMap) -> Version {
        self.catalog.dropped(self.catalog.hash(&map.name), map.id.0, &map.name);
        Version { ids: self.ids.remove(map.id.0), catalog: self.catalog.clone(), live: self.live.clone() }
    }
}

/// Orders writes: each write takes the next sequence number, applies itself to the heads,
/// then publishes; publication is in sequence order, so when a snapshot reads
/// `visible() == s`, every write with `seq <= s` has been applied.
///
/// Aligned to its own cache lines: writers update it on every write, and it must not share
/// a line with reference counts that snapshots change (measured: begin+release with a
/// `ts_insert` writer running went from ~150 ns to ~70 ns).
#[derive(Default)]
#[repr(align(128))]
pub struct Sequencer {
    next: AtomicU64,
    visible: AtomicU64,
    /// Writers asleep in `Ticket::drop`, waiting for an earlier write to publish.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    published: Condvar,
}

impl Sequencer {
    /// Take the next sequence number. The returned ticket publishes it when dropped (also on
    /// error or panic), so a failed write never stalls the writes behind it.
    pub fn take(&self) -> Ticket<'_> {
        Ticket { seq: self.next.fetch_add(1, Ordering::Relaxed) + 1, seqr: self }
    }

    /// Make `seq` taken and published (`seq` at least the current). Only while no ticket is
    /// outstanding: opening a database sets the numbers the log and manifest reached.
    pub fn advance_to(&self, seq: u64) {
        let seq = seq.max(self.next.load(Ordering::SeqCst));
        self.next.store(seq, Ordering::SeqCst);
        self.visible.store(seq, Ordering::SeqCst);
    }

    /// The last published sequence number.
    pub fn visible(&self) -> u64 {
        self.visible.load(Ordering::SeqCst)
    }

    fn is_next(&self, seq: u64) -> bool {
        self.visible.load(Ordering::SeqCst) == seq - 1
    }

    /// Wait until every write before `ticket` is published (its own is not: the caller
    /// publishes it by dropping the ticket). A range delete waits so, holding no lock, for
    /// every earlier write's points to be in the heads.
    pub fn wait_turn(&self, ticket: &Ticket<'_>) {
        let mut spins = 0;
        while !self.is_next(ticket.seq) {
            if spins < SPINS_BEFORE_SLEEP {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let mut guard = self.lock.lock();
            while !self.is_next(ticket.seq) {
                // The timeout only bounds the damage of a missed wake-up, which the SeqCst
                // order of `sleepers` and `visible` rules out.
                self.published.wait_for(&mut guard, std::time::Duration::from_millis(10));
            }
            drop(guard);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A taken, not yet published sequence number.
pub struct Ticket<'a> {
    pub seq: u64,
    seqr: &'a Sequencer,
}

/// Spins before sleeping while an earlier write finishes its short apply phase.
const SPINS_BEFORE_SLEEP: u32 = 200;

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let q = self.seqr;
        // The writes before this one are in their apply phase (a head lock and a copy):
        // usually done within a few hundred nanoseconds, so spin first. If one of them was
        // preempted, sleep rather than burn the core it needs to finish.
        q.wait_turn(self);
        q.visible.store(self.seq, Ordering::SeqCst);
        // A sleeper that registered before this load is woken; one that registers after it
        // sees the new `visible` before it sleeps.
        if q.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = q.lock.lock();
            q.published.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Publish one more metric (a new version).
    fn add_one(g: &Global) {
        g.commit(|cur, w| {
            let id = MetricId(w.next_id);
            w.next_id += 1;
            let name = format!("m{}", id.0);
            let next = cur.add_metric(id, &name, || PartitionMap::new(id, name.as_str().into())).unwrap();
            Ok((Some(next), ()))
        })
        .unwrap();
    }

    #[test]
    fn begin_reuses_the_remembered_version_only_while_it_is_current() {
        let g = Global::new(Version::empty(), 1, 5);
        let (v1, s1) = g.begin();
        let (v2, s2) = g.begin(); // this thread remembers v1 now
        assert!(Arc::ptr_eq(&v1, &v2));
        assert_eq!((s1, s2), (5, 5));
        // A write published since: the same version, the new seq.
        drop(g.seqr().take());
        let (v3, s3) = g.begin();
        assert!(Arc::ptr_eq(&v1, &v3));
        assert_eq!(s3, 6);
        // A version published since: the new one, never the remembered one.
        add_one(&g);
        let (v4, _) = g.begin();
        assert_eq!((v1.ids.len(), v4.ids.len()), (0, 1));
        assert!(Arc::ptr_eq(&v4, &g.load_full()));
        let (v5, _) = g.begin();
        assert!(Arc::ptr_eq(&v4, &v5));
        // Remembering keeps no version alive: the replaced one goes with its last snapshot,
        // and the current one is held by the ArcSwap, v4 and v5 alone.
        let old = Arc::downgrade(&v1);
        drop((v1, v2, v3));
        assert!(old.upgrade().is_none());
        assert_eq!(Arc::strong_count(&v4), 3);
        assert_eq!(Arc::strong_count(&v4.catalog), 1, "one live version");
    }

    #[test]
    fn begin_tells_databases_apart_on_one_thread() {
        let a = Global::new(Version::empty(), 1, 1);
        let b = Global::new(Version::empty(), 1, 2);
        add_one(&b);
        for _ in 0..3 {
            let (va, sa) = a.begin();
            let (vb, sb) = b.begin();
            assert!(Arc::ptr_eq(&va, &a.load_full()) && Arc::ptr_eq(&vb, &b.load_full()));
            assert_eq!((sa, sb, va.ids.len(), vb.ids.len()), (1, 2, 0, 1));
        }
    }

    /// The writer publishes version k (k metrics), then sequence number k, so at every
    /// instant the current version has `visible` or `visible + 1` metrics. A snapshot whose
    /// version was current while its seq was read has the same; a stale one (remembered by
    /// a thread after a publication, or loaded before a publication and paired with a later
    /// seq) would have fewer.
    #[test]
    fn begin_pairs_a_seq_with_a_version_current_while_it_was_read() {
        const N: usize = 3000;
        let g = Global::new(Version::empty(), 1, 0);
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mut checked = 0u64;
                    while !done.load(Ordering::Relaxed) || checked == 0 {
                        let (v, seq) = g.begin();
                        let n = v.ids.len();
                        assert!(n == seq || n == seq + 1, "version of {n} metrics with seq {seq}");
                        checked += 1;
                    }
                });
            }
            for _ in 0..N {
                add_one(&g);
                drop(g.seqr().take());
            }
            done.store(true, Ordering::Relaxed);
        });
        let (v, seq) = g.begin();
        assert_eq!((v.ids.len(), seq), (N as u64, N as u64));
    }

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
