//! The published state and the live readers' registry.
//!
//! `Published` holds the newest committed meta in a ring of slots: the
//! writer (only one at a time) fills the slot after the newest, marking it
//! while it writes, then names it the newest; a reader copies the newest
//! slot and retries only if the writer has refilled that very slot
//! meanwhile. So a reader never waits for the writer: with the seqlock this
//! replaced, readers spun for as long as a writer preempted between its two
//! sequence stores held the sequence odd. Readers write nothing there.
//!
//! `ReaderTable` is the LMDB-style reader table: cache-line-sized slots, each
//! owned by one reader at a time, holding the transaction id it reads. A
//! reader claims a slot with one CAS, preferring the slot its thread used last,
//! so readers on different threads touch different cache lines. When every slot
//! is busy, further readers register in an overflow map behind a mutex.
//!
//! Protocol (invariant 2): a reader stores its txn id in its slot, then
//! re-reads the published txn id; if a newer commit appeared meanwhile it
//! retries with that one. The writer publishes first and scans slots later.
//! With sequentially consistent operations on both sides, either the scan sees
//! the reader's slot, or the reader sees the new commit and moves to it; so no
//! page a registered reader can reach is reused.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::format::{Lsn, Meta, PageId, TreeDesc, TxnId};

/// States kept published at once: a reader copying one is disturbed only
/// if the writer publishes this many times meanwhile.
const RING: usize = 4;

/// The newest published state, in a ring of slots that readers copy without
/// ever waiting for the writer (see the module comment).
pub(crate) struct Published {
    /// How many states were ever published; the newest is in slot
    /// `newest % RING`, complete.
    newest: AtomicU64,
    ring: [StateSlot; RING],
    /// The newest state's txn id, stored SeqCst after `newest` for the
    /// reader protocol, which reads it alone. It may lag `newest` briefly,
    /// never lead it.
    txn: AtomicU64,
}

/// One published state, field by field.
#[derive(Default)]
struct StateSlot {
    /// The publish count whose state the slot holds; `WRITING` while the
    /// writer refills it.
    seq: AtomicU64,
    txn: AtomicU64,
    page_count: AtomicU64,
    catalog_root: AtomicU64,
    catalog_len: AtomicU64,
    catalog_depth: AtomicU64,
    freelist_head: AtomicU64,
    free_count: AtomicU64,
    wal_lsn: AtomicU64,
    /// The mapping that covers the state.
    map: AtomicU64,
}

const WRITING: u64 = u64::MAX;

impl Published {
    pub(crate) fn new(meta: &Meta, map: usize) -> Published {
        let p = Published {
            newest: AtomicU64::new(0),
            ring: Default::default(),
            txn: AtomicU64::new(0),
        };
        p.store(meta, map);
        p
    }

    /// Publishes a new state. Only the writer calls this (one at a time).
    /// It fills the slot after the newest, which no reader starting now
    /// reads, and only then names it the newest.
    pub(crate) fn store(&self, meta: &Meta, map: usize) {
        let n = self.newest.load(Ordering::Relaxed) + 1;
        let slot = &self.ring[(n % RING as u64) as usize];
        slot.seq.store(WRITING, Ordering::Relaxed);
        fence(Ordering::Release);
        let relaxed = Ordering::Relaxed;
        slot.txn.store(meta.txn.0, relaxed);
        slot.page_count.store(meta.page_count, relaxed);
        slot.catalog_root.store(meta.catalog.root.0, relaxed);
        slot.catalog_len.store(meta.catalog.len, relaxed);
        slot.catalog_depth
            .store(u64::from(meta.catalog.depth), relaxed);
        slot.freelist_head.store(meta.freelist_head.0, relaxed);
        slot.free_count.store(meta.free_count, relaxed);
        slot.wal_lsn.store(meta.wal_lsn.0, relaxed);
        slot.map.store(map as u64, relaxed);
        slot.seq.store(n, Ordering::Release);
        self.newest.store(n, Ordering::Release);
        self.txn.store(meta.txn.0, Ordering::SeqCst);
    }

    /// A consistent copy of the newest published state, and the mapping
    /// that covers it. Never waits: the newest slot is complete, and a copy
    /// is retried only if the writer refilled its slot meanwhile (it
    /// published `RING - 1` newer states), with the newest one then.
    pub(crate) fn load(&self) -> (Meta, usize) {
        loop {
            let n = self.newest.load(Ordering::Acquire);
            let slot = &self.ring[(n % RING as u64) as usize];
            let relaxed = Ordering::Relaxed;
            let meta = Meta {
                txn: TxnId(slot.txn.load(relaxed)),
                page_count: slot.page_count.load(relaxed),
                catalog: TreeDesc {
                    root: PageId(slot.catalog_root.load(relaxed)),
                    len: slot.catalog_len.load(relaxed),
                    depth: slot.catalog_depth.load(relaxed) as u32,
                },
                freelist_head: PageId(slot.freelist_head.load(relaxed)),
                free_count: slot.free_count.load(relaxed),
                wal_lsn: Lsn(slot.wal_lsn.load(relaxed)),
                ..Meta::default()
            };
            let map = slot.map.load(relaxed) as usize;
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) == n {
                return (meta, map);
            }
        }
    }

    /// The newest published txn id (SeqCst; never ahead of [`load`]).
    ///
    /// [`load`]: Published::load
    pub(crate) fn txn(&self) -> TxnId {
        TxnId(self.txn.load(Ordering::SeqCst))
    }
}

const SLOTS: usize = 256;
const FREE: u64 = u64::MAX;

#[repr(align(64))]
struct Slot {
    txn: AtomicU64,
    since_nanos: AtomicU64,
}

/// Which registry entry a reader holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReaderToken {
    Slot(usize),
    Overflow(u64),
}

type OverflowReaders = BTreeMap<u64, (TxnId, u64)>;

pub(crate) struct ReaderTable {
    slots: Box<[Slot]>,
    /// Readers that found every slot busy: next id, and id → (txn, start nanos).
    overflow: Mutex<(u64, OverflowReaders)>,
    epoch: Instant,
}

thread_local! {
    static SLOT_HINT: Cell<usize> = const { Cell::new(usize::MAX) };
}

impl ReaderTable {
    pub(crate) fn new() -> ReaderTable {
        ReaderTable {
            slots: (0..SLOTS)
                .map(|_| Slot {
                    txn: AtomicU64::new(FREE),
                    since_nanos: AtomicU64::new(0),
                })
                .collect(),
            overflow: Mutex::new((0, BTreeMap::new())),
            epoch: Instant::now(),
        }
    }

    fn now_nanos(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Registers a reader of the newest published state and returns it.
    pub(crate) fn register(&self, published: &Published) -> (ReaderToken, Meta, usize) {
        let (mut meta, mut map) = published.load();
        let token = self.claim(meta.txn);
        // Re-check after registering: see the module comment. The published
        // txn id may lag the state just loaded (the writer stores it last),
        // never lead it; only a newer one means a commit we may have missed.
        loop {
            if published.txn() <= meta.txn {
                return (token, meta, map);
            }
            (meta, map) = published.load();
            self.update(token, meta.txn);
        }
    }

    /// Registers a reader of `txn` directly. Only safe while no writer can
    /// be choosing pages to reuse (at open, or holding the writer lock) and
    /// `txn`'s pages are known intact.
    pub(crate) fn register_at(&self, txn: TxnId) -> ReaderToken {
        self.claim(txn)
    }

    fn claim(&self, txn: TxnId) -> ReaderToken {
        let now = self.now_nanos();
        let hint = SLOT_HINT.with(Cell::get);
        let start = if hint < SLOTS {
            hint
        } else {
            thread_hash() % SLOTS
        };
        for i in 0..SLOTS {
            let idx = (start + i) % SLOTS;
            let slot = &self.slots[idx];
            if slot.txn.load(Ordering::Relaxed) == FREE
                && slot
                    .txn
                    .compare_exchange(FREE, txn.0, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                slot.since_nanos.store(now, Ordering::Relaxed);
                SLOT_HINT.with(|h| h.set(idx));
                return ReaderToken::Slot(idx);
            }
        }
        let mut o = self.overflow.lock();
        o.0 += 1;
        let id = o.0;
        o.1.insert(id, (txn, now));
        ReaderToken::Overflow(id)
    }

    fn update(&self, token: ReaderToken, txn: TxnId) {
        match token {
            ReaderToken::Slot(i) => self.slots[i].txn.store(txn.0, Ordering::SeqCst),
            ReaderToken::Overflow(id) => {
                if let Some(e) = self.overflow.lock().1.get_mut(&id) {
                    e.0 = txn;
                }
            }
        }
    }

    pub(crate) fn release(&self, token: ReaderToken) {
        match token {
            ReaderToken::Slot(i) => self.slots[i].txn.store(FREE, Ordering::Release),
            ReaderToken::Overflow(id) => {
                self.overflow.lock().1.remove(&id);
            }
        }
    }

    /// The oldest live reader's txn id and how long it has lived.
    pub(crate) fn oldest(&self) -> Option<(TxnId, Duration)> {
        let now = self.now_nanos();
        let mut best: Option<(TxnId, u64)> = None;
        let mut consider = |txn: TxnId, since: u64| {
            if best.is_none_or(|(t, s)| txn < t || (txn == t && since < s)) {
                best = Some((txn, since));
            }
        };
        for slot in self.slots.iter() {
            let txn = slot.txn.load(Ordering::SeqCst);
            if txn != FREE {
                consider(TxnId(txn), slot.since_nanos.load(Ordering::Relaxed));
            }
        }
        for (txn, since) in self.overflow.lock().1.values() {
            consider(*txn, *since);
        }
        best.map(|(t, since)| (t, Duration::from_nanos(now.saturating_sub(since))))
    }

    /// True if no reader is registered. Sequentially consistent with the
    /// registrations (a slot is claimed by a `SeqCst` exchange): a writer
    /// that changed something readers look up, then finds no reader here,
    /// knows every later reader sees the change (`resident`).
    pub(crate) fn none(&self) -> bool {
        self.slots
            .iter()
            .all(|s| s.txn.load(Ordering::SeqCst) == FREE)
            && self.overflow.lock().1.is_empty()
    }

    /// Number of live readers (for stats).
    pub(crate) fn live(&self) -> usize {
        let slots = self
            .slots
            .iter()
            .filter(|s| s.txn.load(Ordering::Relaxed) != FREE)
            .count();
        slots + self.overflow.lock().1.len()
    }
}

fn thread_hash() -> usize {
    use std::hash::{BuildHasher, RandomState};
    thread_local! {
        static H: usize = RandomState::new().hash_one(std::thread::current().id()) as usize;
    }
    H.with(|h| *h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_tracks_oldest_and_overflows() {
        let meta = Meta {
            txn: TxnId(5),
            page_count: 3,
            ..Meta::default()
        };
        let published = Published::new(&meta, 0);
        let table = ReaderTable::new();
        let tokens: Vec<_> = (0..SLOTS + 10)
            .map(|_| table.register(&published).0)
            .collect();
        assert_eq!(table.live(), SLOTS + 10);
        published.store(
            &Meta {
                txn: TxnId(6),
                ..meta
            },
            0,
        );
        let newer = table.register(&published);
        assert_eq!(newer.1.txn, TxnId(6));
        assert_eq!(table.oldest().unwrap().0, TxnId(5));
        for t in tokens {
            table.release(t);
        }
        assert_eq!(table.oldest().unwrap().0, TxnId(6));
        table.release(newer.0);
        assert!(table.oldest().is_none());
        assert_eq!(table.live(), 0);
        assert!(table.none());
    }

    /// Readers copying while the writer publishes as fast as it can see
    /// whole states (every field from one publish), never an older one
    /// than they saw before, and a txn id at most one publish behind.
    #[test]
    fn readers_never_see_a_torn_or_older_state() {
        let meta_of = |t: u64| Meta {
            txn: TxnId(t),
            page_count: t,
            catalog: TreeDesc {
                root: PageId(t),
                len: t,
                depth: (t % 7) as u32,
            },
            freelist_head: PageId(t),
            free_count: t,
            wal_lsn: Lsn(t),
            ..Meta::default()
        };
        let published = Published::new(&meta_of(1), 1);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    let mut last = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let (m, map) = published.load();
                        let t = m.txn.0;
                        assert_eq!(m, meta_of(t), "torn state");
                        assert_eq!(map as u64, t, "torn mapping");
                        assert!(t >= last, "went back from {last} to {t}");
                        // The txn id is stored after the state it names:
                        // it lags the newest state by one publish at most.
                        assert!(published.txn().0 + 1 >= t, "txn id lags by more than one");
                        last = t;
                    }
                });
            }
            for t in 2..200_000 {
                published.store(&meta_of(t), t as usize);
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(published.load().0, meta_of(199_999));
        assert_eq!(published.txn(), TxnId(199_999));
    }
}
