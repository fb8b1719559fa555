//! The writer's page cache: the frames of the arena (`arena`) that hold the
//! running write transaction's dirty pages, with a CLOCK order (an LRU
//! approximation) over them, and the arena's free frames. The other frames
//! hold resident pages (`resident`): committed, waiting for a checkpoint.
//! At commit the transaction's frames become resident (`take_all`); frames
//! that no reader can reach any more come back (`give_frames`).
//!
//! Every page in the cache is a dirty page of the running write transaction.
//! When the arena is full, the pager takes a page that was not used since the
//! clock hand last passed it (`pop_victim`), writes it to its own file location
//! (a "spill": the location was allocated by this transaction, so no snapshot
//! can see it) and reuses the frame. The cache itself does no I/O. Engine
//! memory is this arena plus small per-transaction maps, however large a
//! transaction is.
//!
//! Why CLOCK rather than a linked LRU list: every step of a descent touches
//! a page, and moving a list node to the front costs cache misses on three
//! heap nodes; CLOCK sets one byte per frame and pays only at eviction.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::arena::Arena;
use crate::format::PageId;

/// The fewest frames a cache has: enough for a root-to-leaf path at the
/// maximum depth, both halves of every split on it, and room to spare.
pub(crate) const FRAMES_MIN: usize = 128;

/// Hashes page ids by one multiplication: the low bits (the bucket) of the
/// product are a bijection of the id's low bits, so runs of ids never
/// collide, and the high bits (hashbrown's tag) are well mixed.
#[derive(Default, Clone, Copy)]
pub(crate) struct PageIdHasher(u64);

impl Hasher for PageIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0 ^ id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type PageMap<V> = HashMap<u64, V, BuildHasherDefault<PageIdHasher>>;
pub(crate) type PageSet = HashSet<u64, BuildHasherDefault<PageIdHasher>>;

/// Counters, readable without the writer lock.
#[derive(Debug, Default)]
pub(crate) struct CacheCounters {
    /// A dirty page was found in the arena.
    pub(crate) hits: AtomicU64,
    /// A page had to be brought into the arena (copied for writing, or a
    /// spilled page read back).
    pub(crate) misses: AtomicU64,
    /// Dirty pages written out early to free a frame.
    pub(crate) spills: AtomicU64,
    /// Frames taken from a page to hold another.
    pub(crate) evictions: AtomicU64,
    /// Commits that wrote their pages instead of keeping them resident.
    pub(crate) written_through: AtomicU64,
}

/// `Frame::page` of a frame holding nothing.
const NO_PAGE: u64 = u64::MAX;

#[derive(Clone, Copy)]
struct Frame {
    page: u64,
    /// Used since the clock hand last passed.
    referenced: bool,
}

pub(crate) struct Cache {
    arena: Arc<Arena>,
    free_frames: Vec<u32>,
    /// Page id → frame, for every page held.
    map: PageMap<u32>,
    frames: Vec<Frame>,
    /// Next frame the clock looks at for a victim.
    hand: usize,
    counters: Arc<CacheCounters>,
}

impl Cache {
    /// An arena of `cache_bytes` (rounded down to whole pages, at least
    /// [`FRAMES_MIN`] of them).
    pub(crate) fn new(
        cache_bytes: usize,
        page_bytes: usize,
        counters: Arc<CacheCounters>,
    ) -> std::io::Result<Cache> {
        let frames = (cache_bytes / page_bytes).max(FRAMES_MIN);
        let arena = Arc::new(Arena::new(frames, page_bytes)?);
        Ok(Cache {
            arena,
            free_frames: (0..frames as u32).rev().collect(),
            map: PageMap::default(),
            frames: vec![
                Frame {
                    page: NO_PAGE,
                    referenced: false,
                };
                frames
            ],
            hand: 0,
            counters,
        })
    }

    pub(crate) fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    pub(crate) fn capacity_bytes(&self) -> usize {
        self.arena.bytes()
    }

    pub(crate) fn arena(&self) -> &Arc<Arena> {
        &self.arena
    }

    /// Frames in the arena.
    pub(crate) fn frames(&self) -> usize {
        self.arena.frames()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Page `id`'s bytes, without marking it used (readers hold `&self`).
    pub(crate) fn peek(&self, id: PageId) -> Option<&[u8]> {
        let f = *self.map.get(&id.0)?;
        // SAFETY: `f` is in the map, so the cache owns it (no reader finds
        // it), and writing it takes `&mut self`, which this borrow excludes.
        Some(unsafe { self.arena.frame(f) })
    }

    /// The frame holding page `id`, marked used: one lookup, after which
    /// `frame_mut` reaches the bytes.
    pub(crate) fn touch(&mut self, id: PageId) -> Option<u32> {
        let f = *self.map.get(&id.0)?;
        self.frames[f as usize].referenced = true;
        self.counters.hits.fetch_add(1, Ordering::Relaxed);
        Some(f)
    }

    /// A frame with nothing in it, if any.
    pub(crate) fn free_frame(&mut self) -> Option<u32> {
        self.free_frames.pop()
    }

    /// Takes out a page not used since the clock hand last passed it (the
    /// hand clears the marks it passes, so this ends within two sweeps); its
    /// frame's bytes stay valid (see `frame`) until the frame is installed
    /// again.
    pub(crate) fn pop_victim(&mut self) -> Option<(PageId, u32)> {
        if self.map.is_empty() {
            return None;
        }
        loop {
            let f = self.hand;
            self.hand = (self.hand + 1) % self.frames.len();
            let frame = &mut self.frames[f];
            if frame.page == NO_PAGE {
                continue;
            }
            if frame.referenced {
                frame.referenced = false;
                continue;
            }
            let id = std::mem::replace(&mut frame.page, NO_PAGE);
            self.map.remove(&id);
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            return Some((PageId(id), f as u32));
        }
    }

    /// A frame the cache owns (free, popped, or holding one of its pages).
    pub(crate) fn frame_mut(&mut self, frame: u32) -> &mut [u8] {
        // SAFETY: the caller passes a frame of this cache (from
        // `free_frame`, `pop_victim` or `touch`), which no reader can find;
        // `&mut self` makes this the only slice of it.
        unsafe { self.arena.frame_mut(frame) }
    }

    /// Puts page `id` in `frame`, marked used.
    pub(crate) fn install(&mut self, id: PageId, frame: u32) -> &mut [u8] {
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let prev = self.map.insert(id.0, frame);
        assert!(prev.is_none(), "page {} cached twice", id.0);
        self.frames[frame as usize] = Frame {
            page: id.0,
            referenced: true,
        };
        self.frame_mut(frame)
    }

    /// Drops page `id`, freeing its frame; false if it was not cached.
    pub(crate) fn remove(&mut self, id: PageId) -> bool {
        match self.map.remove(&id.0) {
            Some(f) => {
                self.frames[f as usize].page = NO_PAGE;
                self.free_frames.push(f);
                true
            }
            None => false,
        }
    }

    /// Every cached page id.
    pub(crate) fn ids(&self) -> Vec<PageId> {
        self.map.keys().copied().map(PageId).collect()
    }

    /// Page `id`'s bytes for sealing at commit, without marking it used.
    pub(crate) fn peek_mut(&mut self, id: PageId) -> Option<&mut [u8]> {
        let f = *self.map.get(&id.0)?;
        Some(self.frame_mut(f))
    }

    /// Empties the cache, handing its pages and their frames to the caller
    /// (at commit, to become resident): the frames are no longer the cache's.
    pub(crate) fn take_all(&mut self) -> Vec<(PageId, u32)> {
        let mut pages = Vec::with_capacity(self.map.len());
        for (id, f) in self.map.drain() {
            self.frames[f as usize].page = NO_PAGE;
            pages.push((PageId(id), f));
        }
        self.map.shrink_to(1024);
        pages
    }

    /// Frames coming back to the cache: resident frames no reader can reach.
    pub(crate) fn give_frames(&mut self, frames: impl IntoIterator<Item = u32>) {
        self.free_frames.extend(frames);
    }

    /// Empties the cache (after commit or abort). A map grown by a large
    /// transaction is shrunk back, so small commits do not pay to clear it.
    pub(crate) fn clear(&mut self) {
        for (_, f) in self.map.drain() {
            self.frames[f as usize].page = NO_PAGE;
            self.free_frames.push(f);
        }
        self.map.shrink_to(1024);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_order_and_frames() {
        let mut c = Cache::new(0, 4096, Arc::default()).unwrap();
        assert_eq!(c.capacity_bytes(), FRAMES_MIN * 4096);
        let f1 = c.free_frame().unwrap();
        c.install(PageId(10), f1)[0] = 1;
        let f2 = c.free_frame().unwrap();
        c.install(PageId(11), f2)[0] = 2;
        assert_eq!(c.touch(PageId(10)), Some(f1));
        assert_eq!(c.frame_mut(f1)[0], 1);
        // Both were used since installed: the hand clears both marks on its
        // first sweep and takes the first it reaches again.
        assert_eq!(c.pop_victim(), Some((PageId(10), f1)));
        c.install(PageId(10), f1);
        c.touch(PageId(10));
        // 11 is unmarked now, 10 was just used: 11 goes.
        assert_eq!(c.pop_victim(), Some((PageId(11), f2)));
        assert_eq!(c.frame_mut(f2)[0], 2, "popped frame keeps its bytes");
        assert!(c.remove(PageId(10)));
        assert!(c.peek(PageId(10)).is_none());
        assert_eq!(c.len(), 0);
    }
}
