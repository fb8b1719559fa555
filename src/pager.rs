//! Page id → bytes, for readers and for the writer.
//!
//! [`Src`] is what the B+tree reads through: a snapshot's view of the mapping,
//! or a write transaction's [`Pager`], which serves its own dirty pages first.
//! The pager also allocates and frees pages for the writer and writes the dirty
//! pages out at commit.
//!
//! Invariants:
//! * Every page allocated by the transaction is in `dirty`; nothing else is.
//!   A committed page is never changed: `make_dirty` copies it to a new page.
//! * A committed page freed by the transaction goes to `freed` (reusable only
//!   after later commits, see `freelist`); a page both allocated and freed by
//!   the transaction is reusable at once (`recycled`).

use std::collections::{BTreeSet, HashMap};

use crate::error::{Error, Result};
use crate::file::DataFile;
use crate::format::node::{CellValue, Node};
use crate::format::{self, FIRST_DATA_PAGE, PageId, TxnId, overflow};
use crate::freelist::FreeList;

/// A committed state's pages as seen through the mapping.
#[derive(Clone, Copy)]
pub(crate) struct MapSource<'a> {
    pub(crate) file: &'a DataFile,
    pub(crate) map: usize,
    pub(crate) page_count: u64,
    pub(crate) page_bytes: usize,
    pub(crate) verify: bool,
}

impl<'a> MapSource<'a> {
    /// `pages` pages starting at `id`, checked to lie below `page_count` and
    /// verified (self id, and checksum if enabled).
    fn run(&self, id: PageId, pages: u64) -> Result<&'a [u8]> {
        let end = id.0.checked_add(pages);
        if id.0 < FIRST_DATA_PAGE || end.is_none_or(|e| e > self.page_count) {
            return Err(Error::corrupt(
                id.0,
                format!(
                    "page reference out of range (file has {} pages)",
                    self.page_count
                ),
            ));
        }
        let len = usize::try_from(pages * self.page_bytes as u64)
            .map_err(|_| Error::corrupt(id.0, "run too large"))?;
        let b = self
            .file
            .mapped(self.map, id.0 * self.page_bytes as u64, len)
            .ok_or_else(|| Error::corrupt(id.0, "page beyond the mapping"))?;
        format::verify_page(b, id, self.verify)?;
        Ok(b)
    }

    pub(crate) fn page(&self, id: PageId) -> Result<&'a [u8]> {
        self.run(id, 1)
    }

    fn overflow(&self, id: PageId, len: u32) -> Result<&'a [u8]> {
        // Read the first page unverified-by-crc to learn the run length, then
        // verify the whole run (its checksum covers all of it).
        let first = MapSource {
            verify: false,
            ..*self
        }
        .run(id, 1)?;
        let pages = overflow::check_first_page(first, id, len, self.page_bytes)?;
        Ok(overflow::value(self.run(id, pages)?, len))
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
            Src::Txn(p) => match p.dirty.get(&id.0) {
                Some(b) => Node::new(b, id, leaf),
                None => Node::new(p.committed.page(id)?, id, leaf),
            },
        }
    }

    /// The bytes of a leaf cell's value, following an overflow reference.
    pub(crate) fn value(self, v: CellValue<'a>) -> Result<&'a [u8]> {
        match v {
            CellValue::Inline(b) => Ok(b),
            CellValue::Overflow { page, len } => match self {
                Src::Snapshot(m) => m.overflow(page, len),
                Src::Txn(p) => match p.dirty.get(&page.0) {
                    Some(run) => {
                        overflow::check_first_page(run, page, len, p.page_bytes)?;
                        Ok(overflow::value(run, len))
                    }
                    None => p.committed.overflow(page, len),
                },
            },
        }
    }
}

/// A write transaction's pages: dirty copies, allocation, and write-out.
pub(crate) struct Pager<'a> {
    pub(crate) committed: MapSource<'a>,
    pub(crate) page_bytes: usize,
    /// High-water mark: pages `>= page_count` have never been allocated.
    pub(crate) page_count: u64,
    /// Pages (and overflow runs, by first page) written by this transaction.
    dirty: HashMap<u64, Box<[u8]>>,
    /// Pages allocated and then freed by this transaction.
    recycled: BTreeSet<u64>,
    /// Committed pages this transaction no longer uses.
    freed: Vec<u64>,
    /// Pages taken from `free`, to hand back on abort.
    taken: Vec<u64>,
    pub(crate) free: FreeList,
}

impl<'a> Pager<'a> {
    pub(crate) fn new(committed: MapSource<'a>, free: FreeList) -> Pager<'a> {
        Pager {
            page_bytes: committed.page_bytes,
            page_count: committed.page_count,
            committed,
            dirty: HashMap::new(),
            recycled: BTreeSet::new(),
            freed: Vec::new(),
            taken: Vec::new(),
            free,
        }
    }

    pub(crate) fn src(&self) -> Src<'_> {
        Src::Txn(self)
    }

    pub(crate) fn is_dirty(&self, id: PageId) -> bool {
        self.dirty.contains_key(&id.0)
    }

    /// True if the transaction has not changed a single page.
    pub(crate) fn is_unchanged(&self) -> bool {
        self.dirty.is_empty() && self.freed.is_empty() && self.recycled.is_empty()
    }

    pub(crate) fn dirty_pages(&self) -> usize {
        self.dirty.values().map(|b| b.len() / self.page_bytes).sum()
    }

    /// A dirty page's bytes, to change in place.
    pub(crate) fn page_mut(&mut self, id: PageId) -> &mut [u8] {
        self.dirty
            .get_mut(&id.0)
            .unwrap_or_else(|| panic!("page {} is not dirty", id.0))
    }

    fn alloc(&mut self, pages: u64) -> PageId {
        if pages == 1 {
            if let Some(id) = self.recycled.pop_first() {
                return PageId(id);
            }
            if let Some(id) = self.free.take_one() {
                self.taken.push(id);
                return PageId(id);
            }
        } else if let Some(id) = self.free.take_run(pages) {
            self.taken.extend(id..id + pages);
            return PageId(id);
        }
        let id = self.page_count;
        self.page_count += pages;
        PageId(id)
    }

    /// A new zeroed page (or run of `pages`), dirty.
    pub(crate) fn alloc_dirty(&mut self, pages: u64) -> PageId {
        let id = self.alloc(pages);
        let bytes = vec![0u8; pages as usize * self.page_bytes].into_boxed_slice();
        let prev = self.dirty.insert(id.0, bytes);
        assert!(prev.is_none(), "page {} allocated twice", id.0);
        id
    }

    /// The id under which page `id` may be changed: itself if dirty, else a copy.
    pub(crate) fn make_dirty(&mut self, id: PageId) -> Result<PageId> {
        if self.is_dirty(id) {
            return Ok(id);
        }
        let bytes: Box<[u8]> = self.committed.page(id)?.into();
        let new = self.alloc(1);
        self.dirty.insert(new.0, bytes);
        self.freed.push(id.0);
        Ok(new)
    }

    /// Releases `pages` pages starting at `id` (a page or an overflow run).
    pub(crate) fn free(&mut self, id: PageId, pages: u64) {
        if self.dirty.remove(&id.0).is_some() {
            self.recycled.extend(id.0..id.0 + pages);
        } else {
            self.freed.extend(id.0..id.0 + pages);
        }
    }

    /// Stores `value` in a new overflow run; returns its first page.
    pub(crate) fn write_overflow(&mut self, value: &[u8]) -> PageId {
        let pages = overflow::run_pages(value.len(), self.page_bytes);
        let id = self.alloc_dirty(pages);
        let page_bytes = self.page_bytes;
        overflow::write_run(self.page_mut(id), value, page_bytes);
        id
    }

    /// Pages an overflow run of `len` bytes spans.
    pub(crate) fn run_pages(&self, len: u32) -> u64 {
        overflow::run_pages(len as usize, self.page_bytes)
    }

    /// Writes the new freelist (everything not reachable from the new state),
    /// freeing the old one's pages. Returns the head and the count listed.
    pub(crate) fn write_freelist(&mut self, old_pages: &[u64]) -> (PageId, u64, Vec<u64>) {
        for &id in old_pages {
            self.free(PageId(id), 1);
        }
        let per_page = format::freelist::entries_per_page(self.page_bytes);
        let count = self.free.free_count()
            + self.free.pending_count()
            + (self.freed.len() + self.recycled.len()) as u64;
        let pages_needed = count.div_ceil(per_page as u64);
        // Allocating only shrinks what is left to list, so this many pages suffice.
        let ids: Vec<u64> = (0..pages_needed).map(|_| self.alloc_dirty(1).0).collect();
        let mut all = self.free.all_ids();
        all.extend(self.freed.iter().chain(self.recycled.iter()));
        all.sort_unstable();
        for (i, &id) in ids.iter().enumerate() {
            let chunk_start = (i * per_page).min(all.len());
            let chunk = &all[chunk_start..((i + 1) * per_page).min(all.len())];
            let next = ids.get(i + 1).copied().unwrap_or(0);
            format::freelist::write_page(self.page_mut(PageId(id)), chunk, PageId(next));
        }
        let head = PageId(ids.first().copied().unwrap_or(0));
        (head, all.len() as u64, ids)
    }

    /// Seals every dirty page for `txn` and writes them to the file, coalescing
    /// neighbours into one write. No sync.
    pub(crate) fn write_out(&mut self, file: &DataFile, txn: TxnId) -> Result<()> {
        const BATCH_BYTES: usize = 1 << 20;
        let mut ids: Vec<u64> = self.dirty.keys().copied().collect();
        ids.sort_unstable();
        let pb = self.page_bytes as u64;
        let mut batch: Vec<u8> = Vec::with_capacity(BATCH_BYTES);
        let mut batch_start = 0u64;
        for id in ids {
            let page = self.dirty.get_mut(&id).expect("dirty id");
            format::seal_page(page, PageId(id), txn);
            let contiguous = batch_start + (batch.len() as u64) / pb == id;
            if !batch.is_empty() && (!contiguous || batch.len() + page.len() > BATCH_BYTES) {
                file.write_at(&batch, batch_start * pb)?;
                batch.clear();
            }
            if page.len() >= BATCH_BYTES {
                file.write_at(page, id * pb)?;
                continue;
            }
            if batch.is_empty() {
                batch_start = id;
            }
            batch.extend_from_slice(page);
        }
        if !batch.is_empty() {
            file.write_at(&batch, batch_start * pb)?;
        }
        Ok(())
    }

    /// After a durable commit of `txn`: this transaction's freed pages wait for
    /// readers; its recycled ones are free. Returns the free list to keep.
    pub(crate) fn finish_commit(mut self, txn: TxnId) -> FreeList {
        let freed = std::mem::take(&mut self.freed);
        self.free.add_pending(txn, freed);
        let recycled = std::mem::take(&mut self.recycled);
        self.free.add_free(recycled);
        self.free
    }

    /// Abort: pages taken from the free list go back; nothing else happened.
    pub(crate) fn abort(mut self) -> FreeList {
        let taken = std::mem::take(&mut self.taken);
        self.free.add_free(taken);
        self.free
    }
}
