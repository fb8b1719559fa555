//! Which pages this process has already checked or written itself, so that
//! a reader pays for a page's checks once per process instead of on every
//! read.
//!
//! Two bits per page id:
//!
//! * [`STRUCTURE`]: the page's layout was validated (`format::validate`:
//!   every offset, length, key order and page reference inside the page and
//!   below the `page_count` of the state it was read in), or the writer
//!   built the page itself. Validation runs whatever `verify_checksums`
//!   says: it is what keeps a page with a right checksum but wrong content
//!   from causing a panic or an out-of-bounds read.
//! * [`CHECKSUM`]: the page's CRC (over its whole overflow run, for a run's
//!   first page) was checked, or the writer sealed the page itself. With
//!   `verify_checksums(false)` readers never set it, so a later reader that
//!   does verify (the integrity check) still computes the CRC.
//!
//! So a page is "checked as far as this reader checks" when it has both bits,
//! or `STRUCTURE` alone when the reader does not verify checksums. A reader
//! sets the bits only after its checks passed.
//!
//! Why a set bit stays true: a page is never changed while a committed state
//! refers to it, and only the writer reuses a page id. When it writes a page
//! (sealed from its cache, or the first page of an overflow run) it sets both
//! bits; when it writes an overflow run it clears the bits of the run's later
//! pages, which have no header and hold value bytes, not a page. `page_count`
//! never shrinks while the file is open, so a page reference found below it
//! stays below it. Corruption that reaches the OS page cache after a check
//! (the page evicted and read back from a disk that rotted it meanwhile) is
//! left to `oakmap check`, which opens its own file and so starts with no
//! bits; every page read from the disk at open and recovery is checked the
//! first time.
//!
//! One race is not closed: a reader that follows a damaged reference (one
//! that validated, but points at a page the state does not use) into a page
//! the writer is reusing for an overflow run at that moment may set bits for
//! bytes that the run's write then replaces. Only damaged bytes lead there,
//! and the code that reads a node page stays bounds-checked on every access,
//! so the worst outcome is a wrong `Corruption` reason, not a fault.
//!
//! Memory: two bits per page, in segments allocated on first use (512 KiB
//! per 8 GiB of file at 4 KiB pages); pages past the last segment are always
//! checked.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The page's layout was validated (or the writer built it).
pub(crate) const STRUCTURE: u8 = 0b01;
/// The page's checksum was verified (or the writer sealed it).
pub(crate) const CHECKSUM: u8 = 0b10;
/// Both checks: what the writer's own pages have.
pub(crate) const ALL: u8 = STRUCTURE | CHECKSUM;

const BITS_PER_PAGE: u64 = 2;
const PAGES_PER_WORD: u64 = 64 / BITS_PER_PAGE;
const SEGMENT_WORDS: usize = 1 << 16;
const SEGMENT_PAGES: u64 = (SEGMENT_WORDS as u64) * PAGES_PER_WORD;
const SEGMENTS: usize = 2048;

pub(crate) struct Verified {
    segments: Box<[OnceLock<Box<[AtomicU64]>>]>,
}

impl Verified {
    pub(crate) fn new() -> Verified {
        Verified {
            segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Segment, word, and the shift of the page's two bits in the word.
    fn locate(page: u64) -> Option<(usize, usize, u32)> {
        let seg = usize::try_from(page / SEGMENT_PAGES).ok()?;
        if seg >= SEGMENTS {
            return None;
        }
        let slot = page % SEGMENT_PAGES;
        let shift = ((slot % PAGES_PER_WORD) * BITS_PER_PAGE) as u32;
        Some((seg, (slot / PAGES_PER_WORD) as usize, shift))
    }

    /// The bits ([`STRUCTURE`], [`CHECKSUM`]) recorded for `page`.
    #[inline]
    pub(crate) fn get(&self, page: u64) -> u8 {
        let Some((seg, word, shift)) = Self::locate(page) else {
            return 0;
        };
        self.segments[seg].get().map_or(0, |s| {
            ((s[word].load(Ordering::Relaxed) >> shift) & 0b11) as u8
        })
    }

    /// Records `bits` for `count` pages from `first` on.
    pub(crate) fn insert(&self, first: u64, count: u64, bits: u8) {
        debug_assert!(bits & !ALL == 0, "unknown verified bits {bits:#b}");
        for page in first..first.saturating_add(count) {
            let Some((seg, word, shift)) = Self::locate(page) else {
                return;
            };
            let s = self.segments[seg]
                .get_or_init(|| (0..SEGMENT_WORDS).map(|_| AtomicU64::new(0)).collect());
            let mask = u64::from(bits) << shift;
            // Readers call this for pages they just checked; skip the write
            // (and the cache line it would take) when the bits are there.
            if s[word].load(Ordering::Relaxed) & mask != mask {
                s[word].fetch_or(mask, Ordering::Relaxed);
            }
        }
    }

    /// Forgets both bits of `count` pages from `first` on: their bytes are
    /// no longer a page (the writer put overflow value bytes there).
    pub(crate) fn remove(&self, first: u64, count: u64) {
        for page in first..first.saturating_add(count) {
            let Some((seg, word, shift)) = Self::locate(page) else {
                return;
            };
            if let Some(s) = self.segments[seg].get() {
                let mask = u64::from(ALL) << shift;
                if s[word].load(Ordering::Relaxed) & mask != 0 {
                    s[word].fetch_and(!mask, Ordering::Relaxed);
                }
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
        assert_eq!(v.get(5), 0);
        v.insert(5, 3, ALL);
        assert_eq!(v.get(4), 0);
        assert!((5..8).all(|p| v.get(p) == ALL));
        assert_eq!(v.get(8), 0);
        v.insert(8, 1, STRUCTURE);
        assert_eq!(v.get(8), STRUCTURE);
        v.insert(8, 1, CHECKSUM);
        assert_eq!(v.get(8), ALL);
        v.remove(6, 2);
        assert_eq!((v.get(5), v.get(6), v.get(7), v.get(8)), (ALL, 0, 0, ALL));
        v.insert(SEGMENT_PAGES + 31, 2, STRUCTURE);
        assert_eq!(v.get(SEGMENT_PAGES + 31), STRUCTURE);
        assert_eq!(v.get(SEGMENT_PAGES + 32), STRUCTURE);
        assert_eq!(v.get(SEGMENT_PAGES + 30), 0);
        // Beyond the last segment nothing is recorded: always check.
        let far = SEGMENT_PAGES * SEGMENTS as u64;
        v.insert(far, 1, ALL);
        assert_eq!(v.get(far), 0);
        assert_eq!(v.get(u64::MAX), 0);
        v.remove(u64::MAX - 1, 5);
    }
}
