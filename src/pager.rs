//! Page id → bytes, for readers and for the writer.
//!
//! [`Src`] is what the B+tree reads through: a snapshot's view of the
//! resident pages and the mapping, or a write transaction's [`Pager`], which
//! serves its own dirty pages first. The pager also allocates and frees
//! pages for the writer and, at commit, hands the dirty pages to `resident`
//! or writes them out.
//!
//! Invariants:
//! * Every page the transaction allocated is in exactly one of: the cache
//!   (dirty, in the arena), `spilled` (written early to its own location to
//!   free a frame, sealed, read back through the mapping), or `runs`
//!   (overflow runs, written whole when created). Nothing else is ours to
//!   change. A committed page is never changed: `make_dirty` copies it to a
//!   new page.
//! * A committed page freed by the transaction goes to `freed_young` (born
//!   after the newest checkpoint, so only snapshots pin it) or `freed_old`
//!   (see `freelist`); a page both allocated and freed by
//!   the transaction is reusable at once (`recycled`).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use crate::cache::{Cache, PageMap, PageSet};
use crate::error::{Error, Limit, Result};
use crate::file::DataFile;
use crate::format::node::{CellValue, Node};
use crate::format::{self, FIRST_DATA_PAGE, PageId, TxnId, overflow, validate};
use crate::freelist::FreeList;
use crate::resident::Resident;
use crate::snapshot::ReaderTable;
use crate::verified;

/// The most bytes of neighbouring pages one write takes (a commit's
/// write-out, a checkpoint's resident pages).
///
/// Why 64 KiB and not more: Linux sizes a page-cache folio by the write
/// that creates it, and on ext4 every later write into a folio costs
/// per-block work over the whole folio. 1 MiB writes at bulk load made
/// each later one-page commit write walk 256 blocks (perf: 19% of a
/// commit in `ext4_block_write_begin`); at 64 KiB, 100 commits of 1,000
/// random inserts took 520 ms instead of 770 ms, a bulk load ~4% longer.
pub(crate) const WRITE_BATCH_BYTES: usize = 64 << 10;

/// A committed state's pages as seen through the mapping.
#[derive(Clone, Copy)]
pub(crate) struct MapSource<'a> {
    pub(crate) file: &'a DataFile,
    pub(crate) map: usize,
    pub(crate) page_count: u64,
    pub(crate) page_bytes: usize,
    pub(crate) verify: bool,
    /// Committed pages still in the arena, found before the mapping; `None`
    /// before the engine exists (recovery reading the checkpoint).
    pub(crate) resident: Option<&'a Resident>,
}

impl<'a> MapSource<'a> {
    /// Page `id` (one page of bytes), checked to lie in
    /// `FIRST_DATA_PAGE..page_count` and to name itself `id`; the first time
    /// this process reads it, also validated (`format::validate`) and, if
    /// `verify`, checksummed (over the whole run, for an overflow run's first
    /// page). The `Verified` bits record what passed, so the work is done once
    /// per page per process.
    pub(crate) fn page(&self, id: PageId) -> Result<&'a [u8]> {
        if id.0 < FIRST_DATA_PAGE || id.0 >= self.page_count {
            return Err(Error::corrupt(
                id.0,
                format!(
                    "page reference out of range (file has {} pages)",
                    self.page_count
                ),
            ));
        }
        let b = self.bytes(id, 1)?;
        // The self-id check stays on every read: it is one load.
        format::verify_page(b, id, false)?;
        let done = self.file.verified.get(id.0);
        if done & self.wanted() != self.wanted() {
            self.first_read(id, b, done)?;
        }
        Ok(b)
    }

    /// The checks this reader makes: structure always, checksums if `verify`.
    fn wanted(&self) -> u8 {
        if self.verify {
            verified::ALL
        } else {
            verified::STRUCTURE
        }
    }

    /// The checks of a page's first read that `done` does not record yet.
    /// The checksum goes first, so random damage is reported as such.
    #[cold]
    fn first_read(&self, id: PageId, b: &'a [u8], done: u8) -> Result<()> {
        validate::first_read(
            b,
            id,
            self.page_count,
            self.verify && done & verified::CHECKSUM == 0,
            done & verified::STRUCTURE == 0,
            |span| self.bytes(id, span),
        )?;
        self.file.verified.insert(id.0, 1, self.wanted());
        Ok(())
    }

    /// `pages` pages from `id` on: a resident page's frame, else the
    /// mapping; the caller checked they lie below `page_count`, and open
    /// checked the file holds `page_count` pages, so they are inside the
    /// file. The arithmetic is checked anyway: open's check is one
    /// multiplication of two values read from disk. (A run of several pages
    /// is an overflow run, never resident: runs are written at once.)
    pub(crate) fn bytes(&self, id: PageId, pages: u64) -> Result<&'a [u8]> {
        if pages == 1
            && let Some(b) = self.resident.and_then(|r| r.page(id))
        {
            return Ok(b);
        }
        let too_large = || Error::corrupt(id.0, "page run past the addressable file");
        let pb = self.page_bytes as u64;
        let at = id.0.checked_mul(pb).ok_or_else(too_large)?;
        let len = pages
            .checked_mul(pb)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(too_large)?;
        self.file
            .mapped(self.map, at, len)
            .ok_or_else(|| Error::corrupt(id.0, "page beyond the mapping"))
    }

    /// The value of `len` bytes in the overflow run starting at `id`.
    pub(crate) fn overflow(&self, id: PageId, len: u32) -> Result<&'a [u8]> {
        let first = self.page(id)?;
        let pages = overflow::check_first_page(first, id, len, self.page_bytes)?;
        // `page` range-checked the run when it validated the first page;
        // checked again as it costs nothing and the mapping must not fault.
        validate::check_ref(id, id, pages, self.page_count, "overflow run")?;
        Ok(overflow::value(self.bytes(id, pages)?, len))
    }
}

/// Where the B+tree reads pages from.
#[derive(Clone, Copy)]
pub(crate) enum Src<'a> {
    Snapshot(MapSource<'a>),
    Txn(&'a Pager<'a>),
}

impl<'a> Src<'a> {
    pub(crate) fn node(self, id: PageId, leaf: bool) -> Result<Node<'a>> {
        match self {
            Src::Snapshot(m) => Node::new(m.page(id)?, id, leaf),
            Src::Txn(p) => match p.cache.peek(id) {
                Some(b) => Node::new(b, id, leaf),
                None => Node::new(p.written().page(id)?, id, leaf),
            },
        }
    }

    /// The bytes of a leaf cell's value, following an overflow reference.
    pub(crate) fn value(self, v: CellValue<'a>) -> Result<&'a [u8]> {
        match v {
            CellValue::Inline(b) => Ok(b),
            CellValue::Overflow { page, len } => match self {
                Src::Snapshot(m) => m.overflow(page, len),
                Src::Txn(p) => p.written().overflow(page, len),
            },
        }
    }
}

/// A write transaction's pages: dirty copies in the cache, allocation, spills
/// and write-out.
pub(crate) struct Pager<'a> {
    pub(crate) committed: MapSource<'a>,
    pub(crate) page_bytes: usize,
    /// High-water mark: pages `>= page_count` have never been allocated.
    pub(crate) page_count: u64,
    /// The transaction's id, stamped on every page it writes.
    txn: TxnId,
    cache: Cache,
    /// Newest mapping, covering pages written early (spills and runs).
    written_map: usize,
    /// Pages written early to their own location, no longer in the cache.
    spilled: PageSet,
    /// Overflow runs created by this transaction: first page → pages.
    runs: PageMap<u64>,
    /// Pages allocated and then freed by this transaction.
    recycled: BTreeSet<u64>,
    /// Committed pages this transaction no longer uses, born after the newest
    /// checkpoint (prepared or durable): no checkpoint reaches them.
    freed_young: Vec<u64>,
    /// The other committed pages this transaction no longer uses.
    freed_old: Vec<u64>,
    /// Every committed page in `freed_young` or `freed_old`, so that a page
    /// two damaged references name is refused the second time.
    released: PageSet,
    /// The newest checkpoint prepared or durable when the transaction began.
    prepared: TxnId,
    /// Pages taken from `free`, to hand back on abort.
    taken: Vec<u64>,
    pub(crate) free: FreeList,
    /// The reader table, to take resident frames back when none is
    /// registered (`reclaim_resident`); `None` for the checkpoint's pager.
    readers: Option<&'a ReaderTable>,
    /// Spills to make before trying `reclaim_resident` again after it got
    /// nothing back (a reader was registered, or nothing was resident):
    /// each try scans the reader table and the resident entries.
    reclaim_skip: u32,
}

/// See `Pager::reclaim_skip`.
const RECLAIM_BACKOFF: u32 = 256;

impl<'a> Pager<'a> {
    pub(crate) fn new(
        committed: MapSource<'a>,
        free: FreeList,
        cache: Cache,
        txn: TxnId,
        prepared: TxnId,
        readers: Option<&'a ReaderTable>,
    ) -> Pager<'a> {
        debug_assert_eq!(
            cache.len(),
            0,
            "cache holds pages of an earlier transaction"
        );
        Pager {
            page_bytes: committed.page_bytes,
            page_count: committed.page_count,
            written_map: committed.map,
            committed,
            txn,
            cache,
            spilled: PageSet::default(),
            runs: PageMap::default(),
            recycled: BTreeSet::new(),
            freed_young: Vec::new(),
            freed_old: Vec::new(),
            released: PageSet::default(),
            prepared,
            taken: Vec::new(),
            free,
            readers,
            reclaim_skip: 0,
        }
    }

    pub(crate) fn src(&self) -> Src<'_> {
        Src::Txn(self)
    }

    /// Committed pages and this transaction's early-written ones, through
    /// the mapping.
    fn written(&self) -> MapSource<'a> {
        MapSource {
            map: self.written_map,
            page_count: self.page_count,
            ..self.committed
        }
    }

    /// True if the transaction has not changed a single page.
    pub(crate) fn is_unchanged(&self) -> bool {
        self.cache.len() == 0
            && self.spilled.is_empty()
            && self.runs.is_empty()
            && self.freed_young.is_empty()
            && self.freed_old.is_empty()
            && self.recycled.is_empty()
    }

    /// Takes `pages` consecutive pages: a recycled or free one, else new
    /// pages at the end, growing the file ahead of them (so growth, and a
    /// full disk, shows up here rather than in the middle of a commit).
    fn alloc(&mut self, pages: u64) -> Result<PageId> {
        if pages == 1 {
            if let Some(id) = self.recycled.pop_first() {
                return Ok(PageId(id));
            }
            if let Some(id) = self.free.take_one() {
                self.taken.push(id);
                return Ok(PageId(id));
            }
        } else if let Some(id) = self.free.take_run(pages) {
            self.taken.extend(id..id + pages);
            return Ok(PageId(id));
        }
        let id = self.page_count;
        let end = id
            .checked_add(pages)
            .filter(|&end| end <= format::PAGE_COUNT_MAX)
            .ok_or(Error::LimitExceeded {
                what: Limit::FilePages,
                actual: id.saturating_add(pages),
                max: format::PAGE_COUNT_MAX,
            })?;
        self.committed.file.grow_to(self.bytes_of(end)?)?;
        self.page_count = end;
        Ok(PageId(id))
    }

    /// The file bytes `pages` pages take. Checked: `page_count` comes from a
    /// meta slot on disk, and every page id the pager computes an offset for
    /// is below it.
    fn bytes_of(&self, pages: u64) -> Result<u64> {
        pages
            .checked_mul(self.page_bytes as u64)
            .ok_or_else(|| too_large(pages))
    }

    /// A frame for a page coming into the cache, spilling the least recently
    /// used page if the arena is full.
    fn frame(&mut self) -> Result<u32> {
        if let Some(f) = self.cache.free_frame() {
            return Ok(f);
        }
        if self.reclaim_skip > 0 {
            self.reclaim_skip -= 1;
        } else if self.reclaim_resident()?
            && let Some(f) = self.cache.free_frame()
        {
            return Ok(f);
        } else {
            self.reclaim_skip = RECLAIM_BACKOFF;
        }
        let (victim, f) = self.cache.pop_victim().expect("a full cache has pages");
        let bytes = self.cache.frame_mut(f);
        format::seal_page(bytes, victim, self.txn);
        let file = self.committed.file;
        file.write_pages(bytes, victim.0, self.page_bytes)?;
        self.written_map = file.ensure_mapped(self.bytes_of(self.page_count)?)?;
        self.spilled.insert(victim.0);
        self.cache.counters().spills.fetch_add(1, Ordering::Relaxed);
        Ok(f)
    }

    /// With the cache full and no reader registered, takes the resident
    /// frames back: writes the resident pages of the state this
    /// transaction began from to the file, takes every clean one out of
    /// the table, and, no reader having found them, frees their frames at
    /// once (`Resident::release_unread`). Those pages stay put meanwhile:
    /// the state reaches them, and the free list releases pages only
    /// between transactions. True if frames came back.
    fn reclaim_resident(&mut self) -> Result<bool> {
        let (Some(resident), Some(readers)) = (self.committed.resident, self.readers) else {
            return Ok(false);
        };
        if resident.held() == 0 || !readers.none() {
            return Ok(false);
        }
        let file = self.committed.file;
        let pages = resident.to_write(TxnId(self.txn.0 - 1));
        resident.write_out(&pages, WRITE_BATCH_BYTES, |first, bytes| {
            file.write_pages(bytes, first, self.page_bytes)
        })?;
        resident.written(&pages);
        resident.evict_clean(self.txn);
        let mut frames = Vec::new();
        resident.release_unread(|| readers.none(), &mut frames);
        let got = !frames.is_empty();
        self.cache.give_frames(frames);
        Ok(got)
    }

    /// A new zeroed page, dirty in the cache.
    pub(crate) fn alloc_dirty(&mut self) -> Result<PageId> {
        let f = self.frame()?;
        let id = self.alloc(1)?;
        self.cache.install(id, f).fill(0);
        Ok(id)
    }

    /// A dirty page's bytes, to change in place; a spilled page comes back
    /// into the cache first.
    pub(crate) fn page_mut(&mut self, id: PageId) -> Result<&mut [u8]> {
        if let Some(f) = self.cache.touch(id) {
            return Ok(self.cache.frame_mut(f));
        }
        assert!(
            self.spilled.contains(&id.0),
            "page {} is not the transaction's",
            id.0
        );
        let f = self.frame()?;
        let src = self.written().page(id)?;
        self.cache.frame_mut(f).copy_from_slice(src);
        self.spilled.remove(&id.0);
        Ok(self.cache.install(id, f))
    }

    /// The id under which page `id` may be changed: itself if the transaction
    /// allocated it, else a copy in a new page.
    pub(crate) fn make_dirty(&mut self, id: PageId) -> Result<PageId> {
        if self.cache.touch(id).is_some() {
            return Ok(id);
        }
        if self.spilled.contains(&id.0) {
            self.page_mut(id)?;
            return Ok(id);
        }
        let f = self.frame()?;
        // Through the validated path: the page the writer edits in place has
        // passed `format::validate` (or was written by this process).
        let src = self.committed.page(id)?;
        self.cache.frame_mut(f).copy_from_slice(src);
        let new = self.alloc(1)?;
        self.cache.install(new, f);
        self.release_committed(id, 1)?;
        Ok(new)
    }

    /// Releases node or freelist page `id`, which the caller read through
    /// `Src` (so validated, if committed) or built.
    pub(crate) fn free_page(&mut self, id: PageId) -> Result<()> {
        if self.cache.remove(id) || self.spilled.remove(&id.0) {
            self.recycled.insert(id.0);
            Ok(())
        } else {
            self.release_committed(id, 1)
        }
    }

    /// Releases the overflow run a leaf cell names: `len` bytes from `page`.
    /// The reference is checked before anything is freed: a run of this
    /// transaction must have that length; any other must be a committed run
    /// whose first page reads, through the validated path, as an overflow
    /// page of that length. So a damaged reference is `Corruption`, never a
    /// free of another tree's pages.
    pub(crate) fn free_overflow(&mut self, page: PageId, len: u32) -> Result<()> {
        let pages = self.run_pages(len);
        if let Some(&ours) = self.runs.get(&page.0) {
            if ours != pages {
                return Err(Error::corrupt(
                    page.0,
                    format!(
                        "overflow reference of {len} bytes names a run of {ours} pages \
                         this transaction wrote"
                    ),
                ));
            }
            self.runs.remove(&page.0);
            self.recycled.extend(page.0..page.0 + pages);
            return Ok(());
        }
        if self.cache.peek(page).is_some() || self.spilled.contains(&page.0) {
            return Err(Error::corrupt(
                page.0,
                "overflow reference names a node page of this transaction",
            ));
        }
        let first = self.committed.page(page)?;
        overflow::check_first_page(first, page, len, self.page_bytes)?;
        self.release_committed(page, pages)
    }

    /// Queues committed pages for reuse, by whether a checkpoint may reach
    /// them: only if they were born (their header's txn) no later than the
    /// newest checkpoint. An unreadable or impossible birth counts as old.
    ///
    /// Refuses, as `Corruption`, pages outside the committed state (so the
    /// header read below is inside the file), pages free when the
    /// transaction began (in the free set, or taken from it since), and
    /// pages this transaction already released: each means a damaged
    /// reference or freelist, and queueing the page would give it two owners.
    fn release_committed(&mut self, id: PageId, pages: u64) -> Result<()> {
        validate::check_ref(id, id, pages, self.committed.page_count, "freed page")?;
        for p in id.0..id.0 + pages {
            let was_free = self.free.contains(p)
                || self.recycled.contains(&p)
                || self.cache.peek(PageId(p)).is_some()
                || self.spilled.contains(&p)
                || self.runs.contains_key(&p);
            if was_free {
                return Err(Error::corrupt(p, "a page in use was also listed as free"));
            }
            if !self.released.insert(p) {
                return Err(Error::corrupt(p, "page released twice in one transaction"));
            }
        }
        let born = self
            .committed
            .bytes(id, 1)
            .map_or(0, |b| format::page_txn(&b[..format::PAGE_HEADER_BYTES]));
        let young = born > self.prepared.0 && born < self.txn.0;
        let queue = if young {
            &mut self.freed_young
        } else {
            &mut self.freed_old
        };
        queue.extend(id.0..id.0 + pages);
        Ok(())
    }

    /// Stores `value` in a new overflow run, written to the file at once
    /// (it is never changed afterwards); returns its first page.
    pub(crate) fn write_overflow(&mut self, value: &[u8]) -> Result<PageId> {
        let pages = overflow::run_pages(value.len(), self.page_bytes);
        let id = self.alloc(pages)?;
        let file = self.committed.file;
        let head = overflow::run_header(id, self.txn, value, self.page_bytes);
        let tail = vec![0u8; overflow::run_tail_bytes(value.len(), self.page_bytes)];
        let at = self.bytes_of(id.0)?;
        file.write_at(&head, at)?;
        file.write_at(value, at + head.len() as u64)?;
        file.write_at(&tail, at + (head.len() + value.len()) as u64)?;
        // The first page is a page we sealed; the rest are value bytes, which a
        // bad reference must not find marked as a checked page.
        file.verified.insert(id.0, 1, verified::ALL);
        file.verified.remove(id.0 + 1, pages - 1);
        self.runs.insert(id.0, pages);
        self.written_map = file.ensure_mapped(self.bytes_of(self.page_count)?)?;
        Ok(id)
    }

    /// Pages an overflow run of `len` bytes spans.
    fn run_pages(&self, len: u32) -> u64 {
        overflow::run_pages(len as usize, self.page_bytes)
    }

    /// Writes the new freelist (everything not reachable from the new state),
    /// freeing the old one's pages. Returns the head, the count listed and the
    /// freelist's own pages.
    pub(crate) fn write_freelist(&mut self, old_pages: &[u64]) -> Result<(PageId, u64, Vec<u64>)> {
        for &id in old_pages {
            self.free_page(PageId(id))?;
        }
        let per_page = format::freelist::entries_per_page(self.page_bytes);
        let count = self.free.free_count()
            + self.free.pending_count()
            + (self.freed_young.len() + self.freed_old.len() + self.recycled.len()) as u64;
        let pages_needed = count.div_ceil(per_page as u64);
        // Allocating only shrinks what is left to list, so this many pages suffice.
        let mut ids = Vec::with_capacity(pages_needed as usize);
        for _ in 0..pages_needed {
            ids.push(self.alloc_dirty()?.0);
        }
        let mut all = self.free.all_ids();
        all.extend(
            self.freed_young
                .iter()
                .chain(&self.freed_old)
                .chain(&self.recycled),
        );
        all.sort_unstable();
        for (i, &id) in ids.iter().enumerate() {
            let chunk = &all[(i * per_page).min(all.len())..((i + 1) * per_page).min(all.len())];
            let next = PageId(ids.get(i + 1).copied().unwrap_or(0));
            format::freelist::write_page(self.page_mut(PageId(id))?, chunk, next);
        }
        let head = PageId(ids.first().copied().unwrap_or(0));
        Ok((head, all.len() as u64, ids))
    }

    /// Seals every page still in the cache and writes them to the file,
    /// coalescing neighbours into one write of at most `WRITE_BATCH_BYTES`.
    /// No sync. Empties the cache.
    pub(crate) fn write_out(&mut self, file: &DataFile) -> Result<()> {
        let mut ids = self.cache.ids();
        ids.sort_unstable();
        let pb = self.page_bytes as u64;
        let mut batch: Vec<u8> =
            Vec::with_capacity(WRITE_BATCH_BYTES.min(ids.len() * self.page_bytes));
        let mut batch_start = 0u64;
        for id in ids {
            let page = self.cache.peek_mut(id).expect("cached id");
            format::seal_page(page, id, self.txn);
            let contiguous = batch_start + (batch.len() as u64) / pb == id.0;
            if !batch.is_empty() && (!contiguous || batch.len() + page.len() > WRITE_BATCH_BYTES) {
                file.write_pages(&batch, batch_start, self.page_bytes)?;
                batch.clear();
            }
            if batch.is_empty() {
                batch_start = id.0;
            }
            batch.extend_from_slice(page);
        }
        if !batch.is_empty() {
            file.write_pages(&batch, batch_start, self.page_bytes)?;
        }
        self.cache.clear();
        Ok(())
    }

    /// Seals every page still in the cache and keeps them resident (the
    /// commit writes no page: a checkpoint will), or, when resident pages
    /// would then hold more than half the arena (or without an engine),
    /// writes them to the file as `write_out` does. Empties the cache.
    pub(crate) fn commit_pages(&mut self, file: &DataFile) -> Result<()> {
        let Some(resident) = self.committed.resident else {
            return self.write_out(file);
        };
        let ids = self.cache.ids();
        let max_id = ids.iter().map(|p| p.0).max().unwrap_or(0);
        if !resident.room_for(ids.len(), max_id, self.cache.frames()) {
            let c = self.cache.counters();
            c.written_through.fetch_add(1, Ordering::Relaxed);
            return self.write_out(file);
        }
        for id in ids {
            let page = self.cache.peek_mut(id).expect("cached id");
            format::seal_page(page, id, self.txn);
            // Sealed by this process: as good as checked (see `verified`).
            file.verified.insert(id.0, 1, verified::ALL);
        }
        resident.admit(self.txn, self.cache.take_all());
        Ok(())
    }

    /// After the commit of this transaction: its freed pages wait for readers
    /// (keyed by `pending_txn`); its recycled ones are free now. Hands back
    /// the free list and the (emptied) cache.
    pub(crate) fn finish_commit(mut self, pending_txn: TxnId) -> (FreeList, Cache) {
        if let Some(r) = self.committed.resident {
            r.mark_freed(pending_txn, self.freed_young.iter().chain(&self.freed_old));
        }
        self.free
            .add_pending(pending_txn, std::mem::take(&mut self.freed_young), false);
        self.free
            .add_pending(pending_txn, std::mem::take(&mut self.freed_old), true);
        self.free.add_free(std::mem::take(&mut self.recycled));
        self.cache.clear();
        (self.free, self.cache)
    }

    /// Abort: pages taken from the free list go back; nothing else happened.
    pub(crate) fn abort(mut self) -> (FreeList, Cache) {
        self.free.add_free(std::mem::take(&mut self.taken));
        self.cache.clear();
        (self.free, self.cache)
    }

    /// Pages of this transaction in the cache or spilled (for tests and stats).
    pub(crate) fn dirty_pages(&self) -> usize {
        self.cache.len() + self.spilled.len()
    }

    /// Free plus pending pages, as the next checkpoint's freelist will list them.
    pub(crate) fn free_total(&self) -> u64 {
        self.free.free_count()
            + self.free.pending_count()
            + (self.freed_young.len() + self.freed_old.len() + self.recycled.len()) as u64
    }

    /// Pending pages that wait for the next checkpoint.
    pub(crate) fn checkpoint_pinned_total(&self) -> u64 {
        self.free.checkpoint_pinned_count() + self.freed_old.len() as u64
    }

    pub(crate) fn pending_total(&self) -> u64 {
        self.free.pending_count() + (self.freed_young.len() + self.freed_old.len()) as u64
    }
}

/// A page count whose byte size does not fit a `u64`: only a damaged
/// `page_count` gets there.
fn too_large(page: u64) -> Error {
    Error::corrupt(page, "page count past the addressable file size")
}
