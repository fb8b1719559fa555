//! The page arena: a fixed number of page-sized frames in one anonymous
//! mapping, allocated at open and never grown. It is the engine's whole
//! page memory: the running transaction's dirty pages (`cache`) and the
//! committed pages that wait for a checkpoint to write them (`resident`).
//!
//! Who may touch a frame is decided by who holds its index, not by Rust
//! borrows: readers of any snapshot read resident frames while the writer
//! fills its own. So the accessors are `unsafe`, and each caller states the
//! ownership rule it relies on. The rules, in one place:
//!
//! * a frame in the cache's free list or map belongs to the writer alone
//!   (its transaction's pages are in no published state, so no reader
//!   finds them);
//! * a resident frame is never written: its page is committed, and it is
//!   changed only by copying it to another frame;
//! * a resident frame goes back to the cache only when no snapshot or
//!   checkpoint can reach its page any more, or when its entry was cleared
//!   and every snapshot that could have looked it up has ended.

use memmap2::MmapMut;

pub(crate) struct Arena {
    /// Owns the mapping; `base` points into it.
    _map: MmapMut,
    base: *mut u8,
    frames: usize,
    page_bytes: usize,
}

// SAFETY: the arena is plain memory; access to a frame is coordinated by
// the ownership rules in the module documentation, which every `unsafe`
// caller upholds, not by the type system.
unsafe impl Send for Arena {}
// SAFETY: as for `Send`: shared access hands out frames, never the mapping.
unsafe impl Sync for Arena {}

impl Arena {
    /// `frames` frames of `page_bytes`.
    pub(crate) fn new(frames: usize, page_bytes: usize) -> std::io::Result<Arena> {
        let mut map = MmapMut::map_anon(frames * page_bytes)?;
        let base = map.as_mut_ptr();
        Ok(Arena {
            _map: map,
            base,
            frames,
            page_bytes,
        })
    }

    pub(crate) fn frames(&self) -> usize {
        self.frames
    }

    pub(crate) fn page_bytes(&self) -> usize {
        self.page_bytes
    }

    pub(crate) fn bytes(&self) -> usize {
        self.frames * self.page_bytes
    }

    fn start(&self, frame: u32) -> usize {
        let f = frame as usize;
        assert!(f < self.frames, "frame {f} outside the arena");
        f * self.page_bytes
    }

    /// Frame `frame`'s bytes, to read.
    ///
    /// # Safety
    /// Nobody writes the frame while the slice lives (it is resident, or the
    /// caller owns it and holds no `frame_mut` of it).
    pub(crate) unsafe fn frame(&self, frame: u32) -> &[u8] {
        let start = self.start(frame);
        // SAFETY: `start + page_bytes` lies inside the mapping (checked by
        // `start`), which lives as long as `self`; the caller guarantees no
        // write meanwhile.
        unsafe { std::slice::from_raw_parts(self.base.add(start), self.page_bytes) }
    }

    /// Frame `frame`'s bytes, to write.
    ///
    /// # Safety
    /// The caller owns the frame (the cache's rule) and holds no other
    /// slice of it while this one lives.
    #[allow(
        clippy::mut_from_ref,
        reason = "frames are owned by index, see the module docs"
    )]
    pub(crate) unsafe fn frame_mut(&self, frame: u32) -> &mut [u8] {
        let start = self.start(frame);
        // SAFETY: inside the mapping (checked by `start`); the caller owns
        // the frame and nothing else reads or writes it meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.base.add(start), self.page_bytes) }
    }
}
