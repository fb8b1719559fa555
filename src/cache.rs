//! The writer's page cache: a fixed arena of page frames in one anonymous
//! mapping, allocated at open and never grown, with an LRU order over the
//! pages it holds.
//!
//! Every page in the cache is a dirty page of the running write transaction.
//! When the arena is full, the pager takes the least recently used page out
//! (`pop_lru`), writes it to its own file location (a "spill": the location
//! was allocated by this transaction, so no snapshot can see it) and reuses
//! the frame. The cache itself does no I/O. Engine memory is this arena plus
//! small per-transaction maps, however large a transaction is.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;
use memmap2::MmapMut;

use crate::error::Result;

/// The fewest frames a cache has: enough for a root-to-leaf path at the
/// maximum depth, both halves of every split on it, and room to spare.
pub(crate) const FRAMES_MIN: usize = 128;

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
}

pub(crate) struct Cache {
    arena: MmapMut,
    page_bytes: usize,
    free_frames: Vec<u32>,
    lru: LruCache<u64, u32>,
    counters: Arc<CacheCounters>,
}

impl Cache {
    /// An arena of `cache_bytes` (rounded down to whole pages, at least
    /// [`FRAMES_MIN`] of them).
    pub(crate) fn new(
        cache_bytes: usize,
        page_bytes: usize,
        counters: Arc<CacheCounters>,
    ) -> Result<Cache> {
        let frames = (cache_bytes / page_bytes).max(FRAMES_MIN);
        let arena = MmapMut::map_anon(frames * page_bytes)?;
        Ok(Cache {
            arena,
            page_bytes,
            free_frames: (0..frames as u32).rev().collect(),
            lru: LruCache::unbounded(),
            counters,
        })
    }

    pub(crate) fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    pub(crate) fn capacity_bytes(&self) -> usize {
        self.arena.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.lru.len()
    }

    fn frame_range(&self, frame: u32) -> std::ops::Range<usize> {
        let start = frame as usize * self.page_bytes;
        start..start + self.page_bytes
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.lru.contains(&id)
    }

    /// Page `id`'s bytes, without changing the LRU order (readers hold `&self`).
    pub(crate) fn peek(&self, id: u64) -> Option<&[u8]> {
        let f = *self.lru.peek(&id)?;
        Some(&self.arena[self.frame_range(f)])
    }

    /// Page `id`'s bytes for writing; marks it most recently used.
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut [u8]> {
        let f = *self.lru.get(&id)?;
        self.counters.hits.fetch_add(1, Ordering::Relaxed);
        let r = self.frame_range(f);
        Some(&mut self.arena[r])
    }

    /// A frame with nothing in it, if any.
    pub(crate) fn free_frame(&mut self) -> Option<u32> {
        self.free_frames.pop()
    }

    /// Takes the least recently used page out; its frame's bytes stay valid
    /// (see `frame`) until the frame is installed again.
    pub(crate) fn pop_lru(&mut self) -> Option<(u64, u32)> {
        let popped = self.lru.pop_lru();
        if popped.is_some() {
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
        }
        popped
    }

    pub(crate) fn frame_mut(&mut self, frame: u32) -> &mut [u8] {
        let r = self.frame_range(frame);
        &mut self.arena[r]
    }

    /// Puts page `id` in `frame` as most recently used.
    pub(crate) fn install(&mut self, id: u64, frame: u32) -> &mut [u8] {
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let prev = self.lru.put(id, frame);
        assert!(prev.is_none(), "page {id} cached twice");
        self.frame_mut(frame)
    }

    /// Drops page `id`, freeing its frame; false if it was not cached.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        match self.lru.pop(&id) {
            Some(f) => {
                self.free_frames.push(f);
                true
            }
            None => false,
        }
    }

    /// Every cached page id.
    pub(crate) fn ids(&self) -> Vec<u64> {
        self.lru.iter().map(|(id, _)| *id).collect()
    }

    /// Page `id`'s bytes for sealing at commit, without touching the LRU order.
    pub(crate) fn peek_mut(&mut self, id: u64) -> Option<&mut [u8]> {
        let f = *self.lru.peek(&id)?;
        let r = self.frame_range(f);
        Some(&mut self.arena[r])
    }

    /// Empties the cache (after commit or abort).
    pub(crate) fn clear(&mut self) {
        while let Some((_, f)) = self.lru.pop_lru() {
            self.free_frames.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_order_and_frames() {
        let mut c = Cache::new(0, 4096, Arc::default()).unwrap();
        assert_eq!(c.capacity_bytes(), FRAMES_MIN * 4096);
        let f1 = c.free_frame().unwrap();
        c.install(10, f1)[0] = 1;
        let f2 = c.free_frame().unwrap();
        c.install(11, f2)[0] = 2;
        assert_eq!(c.get_mut(10).unwrap()[0], 1); // 10 is now most recent
        assert_eq!(c.pop_lru(), Some((11, f2)));
        assert_eq!(c.frame_mut(f2)[0], 2, "popped frame keeps its bytes");
        assert!(c.remove(10));
        assert!(!c.contains(10));
        assert_eq!(c.len(), 0);
    }
}
