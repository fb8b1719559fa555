//! Resident pages: committed pages that stay in their arena frame after
//! the commit that wrote them, instead of being written to the file, until
//! a checkpoint writes them (write-back). A commit then writes its log
//! record and nothing else, and a page that many commits rewrite between
//! two checkpoints reaches the file once.
//!
//! Readers find them first: [`Resident::page`] is one load from a bitmap
//! indexed by page id (no lock) and, for a resident page, one from the
//! table of frames; a page not resident is read through the mapping, as
//! before.
//!
//! An entry's life (page `P`, born in commit `B`, its frame `F`):
//!
//! 1. `admit` (the writer, at commit, before the state is published):
//!    `P → F` in the table. Readers of states from `B` on find it there.
//! 2. `mark_freed` (a later commit `T` no longer uses `P`): states from `T`
//!    on do not reach it; older snapshots and checkpoints may.
//! 3. A checkpoint of state `H` writes every entry born at or before `H`
//!    and not freed by then (`to_write`), in page order, before its data
//!    sync, and marks them clean (`written`). A clean entry's bytes are in
//!    the file.
//! 4. The frame goes back to the cache in one of two ways:
//!    * `released`: the free list makes `P` reusable (no snapshot and no
//!      checkpoint can reach it): the entry goes and the frame is free at
//!      once. This is how a page rewritten before any checkpoint never
//!      reaches the file.
//!    * `evict_clean`, at every transaction's start (and when a large one
//!      takes frames back): a clean entry leaves the table, so new lookups
//!      read `P` from the file, and the frame waits (`retiring`) until every
//!      snapshot that could have looked it up has ended: those are older
//!      than the commit the writer was building at the time
//!      (`release_retired`), or none at all if no reader is registered
//!      (`release_unread`).
//!
//! The table covers the first [`TABLE_PAGES`] page ids; pages past it are
//! written at commit, as is every commit's when resident pages would hold
//! more than half the arena (`room_for`): the transaction being built
//! always keeps half of it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::arena::Arena;
use crate::format::{PageId, TxnId};

const SEGMENT_PAGES: usize = 1 << 18;
const SEGMENTS: usize = 2048;
/// Page ids the table covers: 2 TiB of file at 4 KiB pages.
pub(crate) const TABLE_PAGES: u64 = (SEGMENT_PAGES * SEGMENTS) as u64;

/// Resident frames are at most 1/this of the arena, so a transaction always
/// has the rest for its own pages.
pub(crate) const RESIDENT_SHARE: u64 = 2;

/// Page id → frame + 1 (0: not resident), in segments allocated on first
/// use (1 MiB per 256 Ki pages), with one bit per page beside it (32 KiB
/// per segment) saying whether to look: a read of a page that is not
/// resident, the common case, costs one load from the small bitmap, which
/// stays in cache, rather than one from the table.
///
/// Order: an entry is set before its bit and cleared after it, so a reader
/// that finds the bit finds the entry or, once the page is written and the
/// entry cleared, reads the file. Bits are changed and loaded `SeqCst`: a
/// reader registered (by a `SeqCst` exchange) before its load sees a bit
/// cleared before the writer found no reader (`release_unread`). On x86
/// the load is the same plain load as `Acquire`.
struct Table {
    segments: Box<[OnceLock<Segment>]>,
}

struct Segment {
    frames: Box<[AtomicU32]>,
    bits: Box<[AtomicU64]>,
}

impl Table {
    fn new() -> Table {
        Table {
            segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The page's segment and index in it.
    #[inline]
    fn segment(&self, id: u64, create: bool) -> Option<(&Segment, usize)> {
        let seg = usize::try_from(id / SEGMENT_PAGES as u64).ok()?;
        let cell = self.segments.get(seg)?;
        let segment = if create {
            cell.get_or_init(|| Segment {
                frames: (0..SEGMENT_PAGES).map(|_| AtomicU32::new(0)).collect(),
                bits: (0..SEGMENT_PAGES / 64).map(|_| AtomicU64::new(0)).collect(),
            })
        } else {
            cell.get()?
        };
        Some((segment, (id % SEGMENT_PAGES as u64) as usize))
    }

    #[inline]
    fn get(&self, id: u64) -> Option<u32> {
        let (s, i) = self.segment(id, false)?;
        if s.bits[i / 64].load(Ordering::SeqCst) & (1 << (i % 64)) == 0 {
            return None;
        }
        s.frames[i].load(Ordering::Acquire).checked_sub(1)
    }

    fn set(&self, id: u64, frame: u32) {
        let (s, i) = self
            .segment(id, true)
            .expect("admit checks the table covers the page");
        s.frames[i].store(frame + 1, Ordering::Release);
        s.bits[i / 64].fetch_or(1 << (i % 64), Ordering::SeqCst);
    }

    fn clear(&self, id: u64) {
        if let Some((s, i)) = self.segment(id, false) {
            s.bits[i / 64].fetch_and(!(1 << (i % 64)), Ordering::SeqCst);
            s.frames[i].store(0, Ordering::Release);
        }
    }
}

#[derive(Clone, Copy)]
struct Entry {
    frame: u32,
    born: TxnId,
    freed: Option<TxnId>,
    clean: bool,
}

impl Entry {
    /// Not in the file yet, and a checkpoint of a later state needs it.
    fn dirty(&self) -> bool {
        !self.clean && self.freed.is_none()
    }
}

#[derive(Default)]
struct Books {
    entries: BTreeMap<u64, Entry>,
    /// Clean pages, oldest first (some may have left since).
    clean: VecDeque<u64>,
    /// Frames out of the table, each with the commit that was being built
    /// when it left: free once no snapshot older than that commit remains.
    retiring: VecDeque<(TxnId, u32)>,
}

/// The resident pages of one open database. Entries are added, freed,
/// released and evicted only by the writer (under the writer lock); a
/// checkpoint (on any thread, under the checkpoint lock) lists, writes and
/// marks them clean meanwhile. The books are behind a mutex;
/// the table is read without any lock.
pub(crate) struct Resident {
    table: Table,
    arena: OnceLock<Arc<Arena>>,
    books: Mutex<Books>,
    /// Entries that are dirty (see `Entry::dirty`), for `Db::stats`.
    dirty: AtomicU64,
    /// Frames held: entries plus retiring frames.
    held: AtomicU64,
}

/// A page a checkpoint writes: its id and frame.
pub(crate) type ToWrite = Vec<(u64, u32)>;

impl Resident {
    pub(crate) fn new() -> Resident {
        Resident {
            table: Table::new(),
            arena: OnceLock::new(),
            books: Mutex::new(Books::default()),
            dirty: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// The arena whose frames the entries name (the cache's), once.
    pub(crate) fn set_arena(&self, arena: Arc<Arena>) {
        let _ = self.arena.set(arena);
    }

    /// Resident page `id`'s bytes, if it is resident.
    #[inline]
    pub(crate) fn page(&self, id: PageId) -> Option<&[u8]> {
        let f = self.table.get(id.0)?;
        let arena = self.arena.get()?;
        // SAFETY: `f` is in the table, so it holds a committed page, which is
        // never written (module docs of `arena`); the frame is reused only
        // after `released` (no snapshot can reach the page: the caller's
        // snapshot, which reached it, is older) or after leaving the table
        // and every snapshot that could have looked it up ended
        // (`release_retired`; `release_unread`: no reader registered at
        // all, and the caller registered before its lookup), and the slice
        // borrows `self`, which lives as long as the engine the caller's
        // snapshot holds.
        Some(unsafe { arena.frame(f) })
    }

    /// Dirty entries: pages only the arena holds.
    pub(crate) fn dirty(&self) -> u64 {
        self.dirty.load(Ordering::Relaxed)
    }

    /// Whether `pages` more pages, the highest `max_id`, may become
    /// resident: the table covers them, and resident frames would still be
    /// at most half of the arena's `frames`.
    pub(crate) fn room_for(&self, pages: usize, max_id: u64, frames: usize) -> bool {
        self.arena.get().is_some()
            && max_id < TABLE_PAGES
            && self.held.load(Ordering::Relaxed) + pages as u64 <= frames as u64 / RESIDENT_SHARE
    }

    /// Commit `born`'s pages, sealed, stay in their frames; the caller
    /// checked `room_for` and publishes the state after this.
    pub(crate) fn admit(&self, born: TxnId, pages: Vec<(PageId, u32)>) {
        let mut b = self.books.lock();
        let n = pages.len() as u64;
        for (id, frame) in pages {
            self.table.set(id.0, frame);
            let prev = b.entries.insert(
                id.0,
                Entry {
                    frame,
                    born,
                    freed: None,
                    clean: false,
                },
            );
            debug_assert!(prev.is_none(), "page {} resident twice", id.0);
        }
        self.dirty.fetch_add(n, Ordering::Relaxed);
        self.held.fetch_add(n, Ordering::Relaxed);
    }

    /// Commit `txn` no longer uses `ids` (some of which may be resident).
    pub(crate) fn mark_freed<'i>(&self, txn: TxnId, ids: impl IntoIterator<Item = &'i u64>) {
        if self.held.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut b = self.books.lock();
        for id in ids {
            if let Some(e) = b.entries.get_mut(id)
                && e.freed.is_none()
            {
                if !e.clean {
                    self.dirty.fetch_sub(1, Ordering::Relaxed);
                }
                e.freed = Some(txn);
            }
        }
    }

    /// What the writer does at each transaction's start (`Engine::release_free`):
    /// the frames of pages the free list released (`released`) and of
    /// retired frames no snapshot can hold (`release_retired`, given the
    /// `oldest` state any snapshot holds), clean entries out of the table
    /// (`evict_clean`, keyed by `building`), and every retired frame if no
    /// reader is registered (`release_unread`); frames to `out`. With
    /// nothing held (no entry, no retiring frame: only the writer changes
    /// that) it is all nothing, and takes no lock.
    pub(crate) fn at_txn_start(
        &self,
        released: &[u64],
        oldest: TxnId,
        building: TxnId,
        no_readers: impl FnOnce() -> bool,
        out: &mut Vec<u32>,
    ) {
        if self.held.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.released(released, out);
        self.release_retired(oldest, out);
        self.evict_clean(building);
        self.release_unread(no_readers, out);
    }

    /// The free list made `ids` reusable: nothing reads those pages any
    /// more. Their frames, if resident, go to `out`.
    pub(crate) fn released(&self, ids: &[u64], out: &mut Vec<u32>) {
        if self.held.load(Ordering::Relaxed) == 0 || ids.is_empty() {
            return;
        }
        let mut b = self.books.lock();
        let before = out.len();
        for id in ids {
            if let Some(e) = b.entries.remove(id) {
                debug_assert!(e.freed.is_some(), "page {id} reusable but not freed");
                if e.dirty() {
                    self.dirty.fetch_sub(1, Ordering::Relaxed);
                }
                self.table.clear(*id);
                out.push(e.frame);
            }
        }
        self.held
            .fetch_sub((out.len() - before) as u64, Ordering::Relaxed);
    }

    /// Takes every clean entry out of the table (readers find those pages
    /// in the file now); their frames come back once no snapshot older than
    /// `building` (the commit the writer is building) remains.
    pub(crate) fn evict_clean(&self, building: TxnId) {
        let mut b = self.books.lock();
        while let Some(id) = b.clean.pop_front() {
            let Some(e) = b.entries.get(&id).copied() else {
                continue;
            };
            if !e.clean {
                continue;
            }
            b.entries.remove(&id);
            self.table.clear(id);
            b.retiring.push_back((building, e.frame));
        }
    }

    /// Retired frames no snapshot can hold any more, given the oldest state
    /// any snapshot holds (or will: see `Engine::release_free`), to `out`.
    pub(crate) fn release_retired(&self, oldest: TxnId, out: &mut Vec<u32>) {
        let mut b = self.books.lock();
        let before = out.len();
        while let Some(&(building, frame)) = b.retiring.front() {
            if building > oldest {
                break;
            }
            b.retiring.pop_front();
            out.push(frame);
        }
        self.held
            .fetch_sub((out.len() - before) as u64, Ordering::Relaxed);
    }

    /// Every retired frame, to `out`, if `no_readers` (called after the
    /// frames left the table) says no reader is registered: a reader
    /// registered later looks the table up after its registration, so it
    /// cannot have found them, and none from before is left. This is what
    /// lets a large transaction take resident frames back in its middle.
    pub(crate) fn release_unread(&self, no_readers: impl FnOnce() -> bool, out: &mut Vec<u32>) {
        let mut b = self.books.lock();
        if b.retiring.is_empty() || !no_readers() {
            return;
        }
        let n = b.retiring.len();
        out.extend(b.retiring.drain(..).map(|(_, f)| f));
        self.held.fetch_sub(n as u64, Ordering::Relaxed);
    }

    /// Frames held: entries and retiring frames.
    pub(crate) fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// The pages a checkpoint of state `upto` must write: resident, born at
    /// or before it, still used by it, not written yet; in page order.
    pub(crate) fn to_write(&self, upto: TxnId) -> ToWrite {
        let b = self.books.lock();
        b.entries
            .iter()
            .filter(|(_, e)| !e.clean && e.born <= upto && e.freed.is_none_or(|t| t > upto))
            .map(|(&id, e)| (id, e.frame))
            .collect()
    }

    /// Writes `pages` (from `to_write`) with `write(first, bytes)`, runs of
    /// consecutive ids coalesced up to `batch_bytes`, skipping any that is
    /// no longer a dirty entry of that frame (written meanwhile by another
    /// writer of resident pages, or released).
    ///
    /// Each run is copied out of the arena under the books lock, while
    /// every page in it is still a dirty entry: a frame leaves its page only
    /// when its entry goes (`released`, `evict_clean`, both under the lock,
    /// and eviction only of clean entries), so the copy is of that page.
    /// The write itself runs without the lock. The caller keeps the pages'
    /// ids from being reused until the write is done: a checkpoint's state
    /// reaches them (the free list keeps them while it runs); the writer
    /// releases pages only between transactions.
    pub(crate) fn write_out(
        &self,
        pages: &[(u64, u32)],
        batch_bytes: usize,
        mut write: impl FnMut(u64, &[u8]) -> crate::error::Result<()>,
    ) -> crate::error::Result<()> {
        if pages.is_empty() {
            return Ok(());
        }
        let arena = self.arena.get().expect("resident pages have an arena");
        let mut batch: Vec<u8> = Vec::with_capacity(batch_bytes);
        let mut i = 0;
        while i < pages.len() {
            let mut first = 0u64;
            {
                let b = self.books.lock();
                while let Some(&(id, frame)) = pages.get(i) {
                    let run_ends = !batch.is_empty()
                        && (id != first + (batch.len() / arena.page_bytes()) as u64
                            || batch.len() + arena.page_bytes() > batch_bytes);
                    if run_ends {
                        break;
                    }
                    i += 1;
                    let dirty = b
                        .entries
                        .get(&id)
                        .is_some_and(|e| e.frame == frame && !e.clean);
                    if !dirty {
                        if batch.is_empty() {
                            continue;
                        }
                        break;
                    }
                    if batch.is_empty() {
                        first = id;
                    }
                    // SAFETY: the entry is dirty and maps `id` to `frame`
                    // under the lock held: the frame holds that committed
                    // page, which nobody writes, and cannot be given back
                    // before the lock is released (see above).
                    batch.extend_from_slice(unsafe { arena.frame(frame) });
                }
            }
            if !batch.is_empty() {
                write(first, &batch)?;
                batch.clear();
            }
        }
        Ok(())
    }

    /// `pages` are in the file now: clean, so they may leave the arena.
    pub(crate) fn written(&self, pages: &[(u64, u32)]) {
        let mut b = self.books.lock();
        for &(id, frame) in pages {
            let Some(e) = b.entries.get_mut(&id) else {
                continue;
            };
            if e.frame != frame || e.clean {
                continue;
            }
            if e.freed.is_none() {
                self.dirty.fetch_sub(1, Ordering::Relaxed);
            }
            e.clean = true;
            b.clean.push_back(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident(frames: usize) -> Resident {
        let r = Resident::new();
        r.set_arena(Arc::new(Arena::new(frames, 64).unwrap()));
        r
    }

    #[test]
    fn an_entry_from_admit_to_release() {
        // Frames for a share of 4 pages.
        let frames = 4 * RESIDENT_SHARE as usize;
        let r = resident(frames);
        assert!(r.room_for(4, 10, frames));
        assert!(!r.room_for(5, 10, frames), "more than the resident share");
        assert!(!r.room_for(1, TABLE_PAGES, frames), "past the table");
        r.admit(
            TxnId(5),
            vec![(PageId(10), 0), (PageId(11), 1), (PageId(3), 2)],
        );
        assert!(r.page(PageId(10)).is_some());
        assert!(r.page(PageId(12)).is_none());
        assert_eq!(r.dirty(), 3);
        // Commit 7 frees page 11: a checkpoint of 6 still writes it, one of 7 not.
        r.mark_freed(TxnId(7), &[11, 99]);
        assert_eq!(r.dirty(), 2);
        assert_eq!(r.to_write(TxnId(4)), vec![]);
        assert_eq!(r.to_write(TxnId(6)), vec![(3, 2), (10, 0), (11, 1)]);
        let w = r.to_write(TxnId(7));
        assert_eq!(w, vec![(3, 2), (10, 0)]);
        let mut writes = Vec::new();
        r.write_out(&w, 1 << 20, |first, b| {
            writes.push((first, b.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(writes, vec![(3, 64), (10, 64)], "runs split at gaps");
        r.written(&w);
        assert_eq!(r.dirty(), 0);
        assert!(r.to_write(TxnId(9)).is_empty());
        // Page 11 becomes reusable: its frame comes back at once.
        let mut out = Vec::new();
        r.released(&[11, 12], &mut out);
        assert_eq!(out, vec![1]);
        assert!(r.page(PageId(11)).is_none());
        // Clean pages leave the table; their frames wait for old snapshots.
        r.evict_clean(TxnId(8));
        assert!(r.page(PageId(3)).is_none());
        assert!(r.page(PageId(10)).is_none());
        let mut out = Vec::new();
        r.release_retired(TxnId(7), &mut out);
        assert!(out.is_empty(), "a snapshot of 7 may hold their frames");
        r.release_unread(|| false, &mut out);
        assert!(out.is_empty(), "a registered reader may hold them");
        r.release_retired(TxnId(8), &mut out);
        assert_eq!(out, vec![2, 0]);
        assert!(r.room_for(4, 10, frames), "every frame back");
        // With no reader registered, retired frames come back at once.
        r.admit(TxnId(9), vec![(PageId(20), 3)]);
        let w = r.to_write(TxnId(9));
        r.written(&w);
        r.evict_clean(TxnId(10));
        let mut out = Vec::new();
        r.release_unread(|| true, &mut out);
        assert_eq!(out, vec![3]);
        assert_eq!(r.held(), 0);
    }
}
