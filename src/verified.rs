//! Which pages this process has already checksummed or written itself, so
//! that a reader pays for a page's CRC once per process instead of on every
//! read.
//!
//! The set is indexed by page id. A bit is set when a reader's CRC check of
//! the page passed, or when the writer wrote the page (it sealed those bytes
//! itself). Page ids are reused, but only the writer reuses them and it sets
//! the bit again when it writes the new contents, so a set bit always means
//! "these bytes in the mapping were verified or written by us". Corruption
//! that reaches the OS page cache after that (the page evicted and read back
//! from a disk that rotted it meanwhile) is left to `oakmap check`; every
//! page read from the disk at open and recovery is checked the first time.
//!
//! Memory: one bit per page, in segments allocated on first use (512 KiB per
//! 16 GiB of file at 4 KiB pages); pages past the last segment are always
//! verified.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

const SEGMENT_WORDS: usize = 1 << 16;
const SEGMENT_PAGES: u64 = (SEGMENT_WORDS as u64) * 64;
const SEGMENTS: usize = 1024;

pub(crate) struct Verified {
    segments: Box<[OnceLock<Box<[AtomicU64]>>]>,
}

impl Verified {
    pub(crate) fn new() -> Verified {
        Verified {
            segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
        }
    }

    fn locate(page: u64) -> Option<(usize, usize, u64)> {
        let seg = usize::try_from(page / SEGMENT_PAGES).ok()?;
        if seg >= SEGMENTS {
            return None;
        }
        let bit = page % SEGMENT_PAGES;
        Some((seg, (bit / 64) as usize, 1 << (bit % 64)))
    }

    /// Whether `page` was verified or written by this process.
    pub(crate) fn contains(&self, page: u64) -> bool {
        let Some((seg, word, mask)) = Self::locate(page) else {
            return false;
        };
        self.segments[seg]
            .get()
            .is_some_and(|s| s[word].load(Ordering::Relaxed) & mask != 0)
    }

    /// Records `count` pages from `first` on as verified.
    pub(crate) fn insert(&self, first: u64, count: u64) {
        for page in first..first.saturating_add(count) {
            let Some((seg, word, mask)) = Self::locate(page) else {
                return;
            };
            let s = self.segments[seg]
                .get_or_init(|| (0..SEGMENT_WORDS).map(|_| AtomicU64::new(0)).collect());
            // Readers call this for pages they just checked; skip the write
            // (and the cache line it would take) when the bit is there.
            if s[word].load(Ordering::Relaxed) & mask == 0 {
                s[word].fetch_or(mask, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_per_page() {
        let v = Verified::new();
        assert!(!v.contains(5));
        v.insert(5, 3);
        assert!(!v.contains(4));
        assert!(v.contains(5) && v.contains(6) && v.contains(7));
        assert!(!v.contains(8));
        v.insert(SEGMENT_PAGES + 63, 2);
        assert!(v.contains(SEGMENT_PAGES + 63) && v.contains(SEGMENT_PAGES + 64));
        assert!(!v.contains(SEGMENT_PAGES + 62));
        // Beyond the last segment nothing is recorded: always verify.
        let far = SEGMENT_PAGES * SEGMENTS as u64;
        v.insert(far, 1);
        assert!(!v.contains(far));
        assert!(!v.contains(u64::MAX));
    }
}
