//! Read-only access to a database's files, for tools (`oakmap dump`,
//! `check`, `stats`).
//!
//! [`RawDb`] opens the data file for reading only, takes no lock, replays
//! nothing and writes nothing, so it works on a database another process has
//! open and on a damaged one: every view reports what it could not decode
//! instead of failing as a whole. Page reads use `pread`, never the mapping,
//! so a file truncated below what its meta slot says cannot fault.
//!
//! It decodes nothing itself and walks nothing on its own: bytes are read
//! by `format`, trees walked by the walker the integrity check uses
//! (`walk.rs`), the meta slot chosen as recovery chooses and the log
//! scanned as opening scans it, so the tools and the engine cannot
//! disagree. What it hands out are views of its own (`views.rs`, `log.rs`):
//! plain fields named as format.md names them, not the structs `format`
//! decodes into, so the layout's Rust types are not public API.

mod log;
mod views;

use std::ops::Bound;
use std::path::{Path, PathBuf};

pub use self::log::{LogTail, RecordStatus, RecordView, WalEnd, WalFileView, WalView};
pub use self::views::{
    CellView, FreelistView, HeaderFields, HeaderView, KindFields, LeafValue, MetaFields, MetaView,
    PageHeaderFields, PageKind, PageView, ReservedContent, ReservedPageView, RunHolding,
    TreeFields, TreePage,
};
use crate::check::{self, CheckReport, Problem};
use crate::error::{Error, Result};
use crate::file::{DataFile, MetaSlots};
/// The first data page: pages 0, 1 and 2 are the file header and the two
/// meta slots ([`RawDb::reserved_page`]), the rest data pages ([`RawDb::page`]).
pub use crate::format::FIRST_DATA_PAGE;
/// The largest page count a meta slot may name (a larger one makes the slot
/// invalid): `page_count * page_bytes` fits a `u64` at every page size.
pub use crate::format::PAGE_COUNT_MAX;
use crate::format::node::{CellValue, Node};
use crate::format::{
    self, FileHeader, HEADER_BYTES, KindSpecific, META_BYTES, Meta, PageId, TreeDesc, freelist,
    overflow, validate,
};
use crate::walk::{Marks, NodeAt, PageSource, TreeVisitor, Unusable, Walker};

/// A database's files, opened for reading only.
pub struct RawDb {
    path: PathBuf,
    file: DataFile,
    len: u64,
    page_bytes: usize,
    header: HeaderView,
    metas: Vec<MetaView>,
    /// The slot recovery would use, decoded.
    newest: Option<Meta>,
}

impl RawDb {
    /// Opens the data file at `path` read-only. Fails only if the file cannot
    /// be read, is not a regular file, or is not an oakmap file at all (its
    /// magic bytes do not match; see [`RawDb::open_forced`]).
    pub fn open(path: impl AsRef<Path>) -> Result<RawDb> {
        RawDb::open_with(path.as_ref(), false)
    }

    /// Opens `path` like [`RawDb::open`], but when the magic bytes do not
    /// match goes on as for a damaged header: a file whose first bytes were
    /// overwritten still shows what decodes. If the header's checksum holds
    /// with oakmap's magic in place of the damaged bytes, the header is
    /// decoded that way (and its `problem` says so); otherwise the page size
    /// is guessed from its field if plausible.
    ///
    /// ```no_run
    /// let raw = oakmap::inspect::RawDb::open_forced("damaged.oak")?;
    /// if let Some(problem) = &raw.header().problem {
    ///     println!("header DAMAGED: {problem}");
    /// }
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn open_forced(path: impl AsRef<Path>) -> Result<RawDb> {
        RawDb::open_with(path.as_ref(), true)
    }

    fn open_with(path: &Path, forced: bool) -> Result<RawDb> {
        // Refuses a FIFO, a directory or a device before opening it.
        let file = DataFile::open_read_only(path)?;
        let len = file.len()?;
        let mut b = [0u8; HEADER_BYTES];
        let n = file.read_at(&mut b, 0)?;
        let b = &b[..n];
        let Some(header) = header_view(b, forced) else {
            return Err(Error::NotADatabase {
                path: path.to_path_buf(),
            });
        };
        // A damaged header: guess the page size from its field if plausible.
        let page_bytes = match &header.header {
            Some(h) => h.page_bytes as usize,
            None => FileHeader::page_bytes_field(b)
                .map(|f| f as usize)
                .filter(|&f| format::page_size_ok(f))
                .unwrap_or(format::PAGE_BYTES_DEFAULT),
        };
        let mut raw = RawDb {
            path: path.to_path_buf(),
            file,
            len,
            page_bytes,
            header,
            metas: Vec::new(),
            newest: None,
        };
        raw.read_metas()?;
        Ok(raw)
    }

    /// Both slots as found, and the newest valid one (chosen as recovery
    /// chooses, by [`Meta::is_newer_than`]).
    fn read_metas(&mut self) -> Result<()> {
        let MetaSlots { slots, newest } = self.file.meta_slots(self.page_bytes)?;
        self.newest = newest.and_then(|i| slots[i].as_ref().ok().copied());
        self.metas = slots
            .into_iter()
            .enumerate()
            .map(|(slot, meta)| MetaView {
                slot,
                meta: meta.map(MetaFields::from).map_err(|e| match e {
                    Error::Corruption { reason, .. } => reason,
                    other => other.to_string(),
                }),
                newest: newest == Some(slot),
            })
            .collect();
        Ok(())
    }

    /// The data file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data file's length in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.len
    }

    /// The page size (from the header, or guessed if it is damaged).
    pub fn page_bytes(&self) -> usize {
        self.page_bytes
    }

    /// The file header.
    pub fn header(&self) -> &HeaderView {
        &self.header
    }

    /// Both meta slots.
    pub fn metas(&self) -> &[MetaView] {
        &self.metas
    }

    /// The meta slot recovery would use, if any is valid.
    pub fn newest_meta(&self) -> Option<MetaFields> {
        self.newest.map(MetaFields::from)
    }

    fn newest_or_err(&self) -> Result<Meta> {
        self.newest
            .ok_or_else(|| Error::corrupt(1, "no valid meta slot"))
    }

    /// Pages the file held when it was opened: [`RawDb::page`] and
    /// [`RawDb::reserved_page`] read pages `0..file_pages()`. Pages past the
    /// newest checkpoint's `page_count` may be there too (written by a
    /// commit after it, or one that did not complete).
    pub fn file_pages(&self) -> u64 {
        self.len / self.page_bytes as u64
    }

    /// `pages` pages from `id`, read with pread; an error past the file's
    /// end as it was at open, and on a short read (the file shrank since).
    fn read_pages(&self, id: u64, pages: u64) -> Result<Vec<u8>> {
        if id
            .checked_add(pages)
            .is_none_or(|end| end > self.file_pages())
        {
            return Err(Error::corrupt(id, "page is beyond the end of the file"));
        }
        crate::walk::pread(&self.file, PageId(id), pages, self.page_bytes)
    }

    /// The newest state's pages, read with `pread` (checksums verified if
    /// `verify`); without a valid meta slot, the pages of the file.
    fn source(&self, verify: bool) -> PageSource<'_> {
        PageSource::Pread {
            file: &self.file,
            page_count: self.newest.map_or(self.file_pages(), |m| m.page_count),
            page_bytes: self.page_bytes,
            verify,
        }
    }

    /// A walk over the newest state's trees that goes on past a page whose
    /// checksum or structure fails (the views say so themselves), so a tool
    /// shows what lies under it. Its marks cover the pages the file holds (a
    /// page past them cannot be read anyway).
    fn walker(&self) -> Walker<'_> {
        let page_count = self.newest.map_or(self.file_pages(), |m| m.page_count);
        // A file too large to mark on this machine gets no marks: every page
        // is then reported out of range rather than walked.
        let marks = usize::try_from(page_count.min(self.file_pages())).unwrap_or(0);
        Walker::new(self.source(false), Marks::new(marks))
    }

    /// Data page `id` decoded field by field. Pages 0 to 2 are no data
    /// pages: [`RawDb::reserved_page`] decodes them.
    pub fn page(&self, id: u64) -> Result<PageView> {
        let bytes = self.read_pages(id, 1)?;
        let raw = format::raw_page_header(&bytes);
        let kind = format::PageKind::from_u8(raw.kind);
        let mut view = PageView {
            id,
            header: PageHeaderFields {
                page_crc: raw.crc,
                crc_computed: raw.crc_computed,
                kind: raw.kind,
                count: raw.count,
                page_id: raw.page_id,
                txn_id: raw.txn,
                kind_specific: raw.specific,
            },
            kind: kind.map(PageKind::from),
            kind_fields: format::kind_specific(&bytes).map(KindFields::from),
            crc_ok: raw.crc == raw.crc_computed,
            cells: Vec::new(),
            free_ids: Vec::new(),
            used_bytes: 0,
            problem: None,
            bytes,
        };
        if id < FIRST_DATA_PAGE {
            view.problem = Some(
                "pages 0-2 are the header and meta slots, not data pages \
                 (RawDb::reserved_page decodes them)"
                    .into(),
            );
            return Ok(view);
        }
        let leaf = kind == Some(format::PageKind::Leaf);
        let decoded = match format::kind_specific(&view.bytes) {
            Some(KindSpecific::Node { .. }) => {
                Node::new(&view.bytes, PageId(id), leaf).and_then(|node| {
                    view.used_bytes = node.used_bytes();
                    view.cells = cells_of(&node)?;
                    Ok(())
                })
            }
            Some(KindSpecific::Freelist { .. }) => {
                freelist::read_page(&view.bytes, PageId(id)).map(|(ids, _)| view.free_ids = ids)
            }
            Some(KindSpecific::Overflow { value_len, .. }) => self.check_run(&mut view, value_len),
            None => Err(Error::corrupt(
                id,
                format!("kind byte {} is no page kind", raw.kind),
            )),
        };
        if let Err(e) = decoded {
            view.problem = Some(e.to_string());
        }
        Ok(view)
    }

    /// Page 0 (the file header, format.md §1) or page 1 or 2 (meta slot 0
    /// or 1, §2), decoded as what it is from the bytes the file holds now;
    /// an `InvalidInput` error for any other page (see [`RawDb::page`]).
    ///
    /// ```no_run
    /// use oakmap::inspect::{RawDb, ReservedContent};
    /// let raw = RawDb::open("my.oak")?;
    /// if let ReservedContent::Meta(slot) = raw.reserved_page(1)?.content {
    ///     println!("slot 0: {:?}", slot.meta);
    /// }
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn reserved_page(&self, id: u64) -> Result<ReservedPageView> {
        if id >= FIRST_DATA_PAGE {
            return Err(Error::Io {
                path: self.path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("page {id} is a data page, not the header or a meta slot"),
                ),
            });
        }
        let bytes = self.read_pages(id, 1)?;
        let (content, used) = if id == 0 {
            // Forced: the file was ours when opened, so a header whose magic
            // no longer matches is shown as damaged, not refused.
            let header = header_view(&bytes, true);
            (
                ReservedContent::Header(header.expect("a forced decode gives a view")),
                HEADER_BYTES,
            )
        } else {
            // Slot `s` is page `1 + s` (Meta::page_of_slot).
            let slot = (id - 1) as usize;
            let meta = Meta::decode(&bytes, slot).map(MetaFields::from);
            // The slot recovery would use, if it still holds what was
            // chosen at open.
            let newest = self
                .metas
                .get(slot)
                .is_some_and(|m| m.newest && m.meta.as_ref().ok() == meta.as_ref().ok());
            let meta = meta.map_err(|e| match e {
                Error::Corruption { reason, .. } => reason,
                other => other.to_string(),
            });
            (
                ReservedContent::Meta(MetaView { slot, meta, newest }),
                META_BYTES,
            )
        };
        Ok(ReservedPageView {
            id,
            content,
            used_bytes: used,
            nonzero_at: bytes[used..].iter().position(|&b| b != 0).map(|i| used + i),
            bytes,
        })
    }

    /// An overflow run's checksum covers the whole run.
    fn check_run(&self, view: &mut PageView, value_len: u32) -> Result<()> {
        let id = PageId(view.id);
        let pages = overflow::check_first_page(&view.bytes, id, value_len, self.page_bytes)?;
        let run = self.read_pages(view.id, pages)?;
        view.crc_ok = format::verify_page(&run, id, true).is_ok();
        Ok(())
    }

    /// The named trees of the newest checkpoint.
    pub fn trees(&self) -> Result<Vec<(String, TreeFields)>> {
        let meta = self.newest_or_err()?;
        let root = meta.catalog.root.0;
        let mut trees = Vec::new();
        let mut err = None;
        self.walk_entries(&meta.catalog, &mut |key, value| {
            let name = String::from_utf8_lossy(key).into_owned();
            match value {
                LeafValue::Inline(v) => match TreeDesc::decode(v, root) {
                    Ok(d) => trees.push((name, d.into())),
                    Err(e) => err = Some(e),
                },
                LeafValue::Overflow { .. } => {
                    err = Some(Error::corrupt(root, "catalog value in an overflow run"))
                }
            }
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok(trees),
        }
    }

    /// Every page of a tree, depth first, with what was wrong where.
    pub fn tree_pages(&self, tree: &TreeFields) -> Vec<TreePage> {
        let mut lister = PageLister { pages: Vec::new() };
        if let Err(p) = self.walker().tree(&tree.into(), &mut lister) {
            lister.pages.push(TreePage {
                problem: Some(p.reason),
                ..TreePage::new(tree.root, 0, tree.depth == 1)
            });
        }
        lister.pages
    }

    /// Calls `visit` for each entry of a tree, in order; stops at the first
    /// page it cannot read.
    pub fn entries(
        &self,
        tree: &TreeFields,
        visit: &mut dyn FnMut(&[u8], LeafValue<'_>),
    ) -> Result<()> {
        self.walk_entries(&tree.into(), visit)
    }

    /// Calls `visit` for each entry of a tree whose key lies in `range`, in
    /// order. It goes only into the pages whose separators let them hold
    /// such keys, and ends at the first key past the range, so a single key
    /// or a prefix costs a few pages per level, not a walk of the tree.
    /// Stops at the first page in the range it cannot read.
    ///
    /// ```no_run
    /// use std::ops::Bound;
    /// use oakmap::inspect::RawDb;
    /// let raw = RawDb::open("my.oak")?;
    /// let (_, users) = raw.trees()?.into_iter().find(|(n, _)| n == "users").unwrap();
    /// // Every key starting with "user1": from "user1" up to "user2".
    /// let range = (Bound::Included(&b"user1"[..]), Bound::Excluded(&b"user2"[..]));
    /// raw.entries_in(&users, range, &mut |key, _value| println!("{}", key.escape_ascii()))?;
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn entries_in<'k>(
        &self,
        tree: &TreeFields,
        range: (Bound<&'k [u8]>, Bound<&'k [u8]>),
        visit: &mut dyn FnMut(&[u8], LeafValue<'_>),
    ) -> Result<()> {
        self.walk_range(&tree.into(), range, visit)
    }

    fn walk_entries(
        &self,
        desc: &TreeDesc,
        visit: &mut dyn FnMut(&[u8], LeafValue<'_>),
    ) -> Result<()> {
        self.walk_range(desc, (Bound::Unbounded, Bound::Unbounded), visit)
    }

    fn walk_range(
        &self,
        desc: &TreeDesc,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        visit: &mut dyn FnMut(&[u8], LeafValue<'_>),
    ) -> Result<()> {
        let mut lister = EntryLister {
            visit,
            range,
            past: false,
            error: None,
        };
        let walked = self.walker().tree(desc, &mut lister);
        match (walked, lister.error) {
            (Err(p), _) => Err(Error::corrupt(p.page, p.reason)),
            (Ok(_), Some(e)) => Err(e),
            (Ok(_), None) => Ok(()),
        }
    }

    /// The overflow run of the newest checkpoint that page `id` lies in
    /// after the run's first page (such a page carries value bytes only, no
    /// header), found by walking every tree's leaves for the overflow
    /// references they hold; `None` if no run holds it. The walk reads every
    /// branch and leaf page, so this is for one page, not many.
    pub fn overflow_run_holding(&self, id: u64) -> Result<Option<RunHolding>> {
        for (tree, desc) in self.trees()? {
            let mut found = None;
            // A tree that cannot be walked to the end may still hold it;
            // the walk stops at the first damage, and `check` reports that.
            let _ = self.walk_entries(&(&desc).into(), &mut |key, value| {
                if let LeafValue::Overflow { page, len } = value {
                    let pages = overflow::run_pages(len as usize, self.page_bytes);
                    if found.is_none() && page < id && id - page < pages {
                        found = Some(RunHolding {
                            first_page: page,
                            run_pages: pages,
                            tree: tree.clone(),
                            key: key.to_vec(),
                        });
                    }
                }
            });
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The value of an overflow run, read in full.
    pub fn overflow_value(&self, page: u64, len: u32) -> Result<Vec<u8>> {
        let run = self.source(true).overflow_run(PageId(page), len)?;
        Ok(overflow::value(&run, len).to_vec())
    }

    /// The newest checkpoint's freelist.
    pub fn freelist(&self) -> FreelistView {
        let mut view = FreelistView::default();
        let Some(meta) = self.newest else {
            view.problem = Some("no valid meta slot".into());
            return view;
        };
        let src = self.source(false);
        let mut looped = None;
        let walked = crate::freelist::walk_chain(
            &meta,
            |id| src.page(id),
            |page, _, ids| {
                if view.pages.contains(&page.0) {
                    looped = Some(page.0);
                    return false;
                }
                view.pages.push(page.0);
                view.ids.extend(ids);
                true
            },
        );
        view.problem = match (walked, looped) {
            (Err(e), _) => Some(e.to_string()),
            (Ok(()), Some(p)) => Some(format!("freelist chain loops at page {p}")),
            (Ok(()), None) => None,
        };
        view
    }

    /// The full integrity check of the newest checkpoint, plus the WAL chain
    /// recovery would follow. `progress(done, total)` is called as pages are
    /// walked.
    pub fn check(&self, progress: Option<&dyn Fn(u64, u64)>) -> CheckReport {
        let mut report = CheckReport::default();
        if let Some(p) = &self.header.problem {
            report.problems.push(Problem {
                page: 0,
                reason: format!("header: {p}"),
            });
        }
        for m in &self.metas {
            if let Err(reason) = &m.meta {
                report.problems.push(Problem {
                    page: Meta::page_of_slot(m.slot),
                    reason: format!("meta slot {}: {reason}", m.slot),
                });
            }
        }
        let Some(meta) = self.newest else {
            return report;
        };
        // pread, not the mapping: another process may truncate the file
        // while the walk runs, and a mapped page past the end would fault.
        let mut state = check::check_file(&self.file, self.page_bytes, &meta, progress);
        state.problems.splice(0..0, report.problems);
        if let Err(reason) = self.wal().recovery {
            state.problems.push(Problem {
                page: 0,
                reason: format!("WAL: {reason}"),
            });
        }
        state
    }
}

/// The cells of a branch or leaf page, decoded.
fn cells_of(node: &Node<'_>) -> Result<Vec<CellView>> {
    let mut cells = Vec::with_capacity(node.count());
    for i in 0..node.count() {
        let key = node.key(i)?.to_vec();
        cells.push(if !node.is_leaf() {
            CellView::Branch {
                key,
                child: node.child(i)?.0,
            }
        } else {
            match node.value(i)? {
                CellValue::Inline(v) => CellView::Inline {
                    key,
                    value: v.to_vec(),
                },
                CellValue::Overflow { page, len } => CellView::Overflow {
                    key,
                    page: page.0,
                    len,
                },
            }
        });
    }
    Ok(cells)
}

impl TreePage {
    fn new(id: u64, level: u32, leaf: bool) -> TreePage {
        TreePage {
            id,
            level,
            leaf,
            count: 0,
            first_key: None,
            last_key: None,
            fill: 0.0,
            problem: None,
        }
    }
}

/// [`RawDb::tree_pages`]' side of the walk: a [`TreePage`] for each page,
/// going into branches only.
struct PageLister {
    pages: Vec<TreePage>,
}

impl<'a> TreeVisitor<'a> for PageLister {
    fn node(&mut self, w: &mut Walker<'a>, at: &NodeAt<'_>, node: Node<'_>) -> bool {
        let mut page = TreePage::new(at.id.0, at.level, at.leaf);
        let body = w.src.page_bytes() - format::PAGE_HEADER_BYTES;
        page.fill = node.used_bytes() as f64 / body as f64;
        let cells = match cells_of(&node) {
            Ok(cells) => cells,
            Err(e) => {
                page.problem = Some(e.to_string());
                self.pages.push(page);
                return false;
            }
        };
        page.count = cells.len();
        let keys = cells.get(usize::from(!at.leaf)..).unwrap_or(&[]);
        page.first_key = keys.first().map(|c| c.key().to_vec());
        page.last_key = keys.last().map(|c| c.key().to_vec());
        // What a verifying read would have refused, said here instead, so
        // the pages under it are still shown.
        if format::verify_page(node.bytes(), at.id, true).is_err() {
            page.problem = Some("checksum mismatch".to_string());
        } else if let Err(e) = validate::validate_page(node.bytes(), at.id, w.src.page_count()) {
            page.problem = Some(e.to_string());
        }
        self.pages.push(page);
        !at.leaf
    }

    fn unusable(&mut self, at: &NodeAt<'_>, why: Unusable) {
        self.pages.push(TreePage {
            problem: Some(why.into_problem(at.id).reason),
            ..TreePage::new(at.id.0, at.level, at.leaf)
        });
    }

    fn bad_cell(&mut self, page: PageId, e: Error) {
        let listed = self.pages.iter_mut().rev().find(|p| p.id == page.0);
        if let Some(p) = listed {
            p.problem.get_or_insert(e.to_string());
        }
    }
}

/// [`RawDb::entries`]' and [`RawDb::entries_in`]'s side of the walk:
/// every entry in `range`, until the first problem. Keys come in order, so
/// the first key past the range ends the walk.
struct EntryLister<'v, 'k> {
    visit: &'v mut dyn FnMut(&[u8], LeafValue<'_>),
    range: (Bound<&'k [u8]>, Bound<&'k [u8]>),
    /// A key past the range was met.
    past: bool,
    error: Option<Error>,
}

impl EntryLister<'_, '_> {
    /// Whether a page whose keys lie in `lo..hi` (its parent's separators
    /// around it; `None` unbounded) can hold a key in the range.
    fn may_hold(&self, at: &NodeAt<'_>) -> bool {
        let above_start = match (self.range.0, at.hi) {
            (Bound::Included(s) | Bound::Excluded(s), Some(hi)) => s < hi,
            _ => true,
        };
        let below_end = match (self.range.1, at.lo) {
            (Bound::Included(e), Some(lo)) => lo <= e,
            (Bound::Excluded(e), Some(lo)) => lo < e,
            _ => true,
        };
        above_start && below_end
    }
}

impl<'a> TreeVisitor<'a> for EntryLister<'_, '_> {
    fn node(&mut self, _: &mut Walker<'a>, at: &NodeAt<'_>, _: Node<'_>) -> bool {
        self.may_hold(at)
    }

    fn entry(&mut self, _: &mut Walker<'a>, key: &[u8], value: CellValue<'_>) {
        let after_start = match self.range.0 {
            Bound::Included(s) => key >= s,
            Bound::Excluded(s) => key > s,
            Bound::Unbounded => true,
        };
        self.past = match self.range.1 {
            Bound::Included(e) => key > e,
            Bound::Excluded(e) => key >= e,
            Bound::Unbounded => false,
        };
        if !after_start || self.past {
            return;
        }
        (self.visit)(
            key,
            match value {
                CellValue::Inline(v) => LeafValue::Inline(v),
                CellValue::Overflow { page, len } => LeafValue::Overflow { page: page.0, len },
            },
        );
    }

    fn unusable(&mut self, at: &NodeAt<'_>, why: Unusable) {
        // A damaged page outside the range is not in the way.
        if !self.may_hold(at) {
            return;
        }
        self.error.get_or_insert(match why {
            Unusable::Marked(p) => Error::corrupt(p.page, p.reason),
            Unusable::Bad(e) => e,
        });
    }

    fn bad_cell(&mut self, _: PageId, e: Error) {
        self.error.get_or_insert(e);
    }

    fn stopped(&self) -> bool {
        self.past || self.error.is_some()
    }
}

/// The header `b` (the file's first bytes) as found; `None` if its magic
/// bytes are not oakmap's, unless `forced`.
fn header_view(b: &[u8], forced: bool) -> Option<HeaderView> {
    Some(match FileHeader::decode(b) {
        Ok(h) => HeaderView {
            header: Some(h.into()),
            problem: None,
        },
        Err(format::HeaderError::NotOurs) if forced => header_without_magic(b),
        Err(format::HeaderError::NotOurs) => return None,
        Err(format::HeaderError::Version(v)) => HeaderView {
            header: None,
            problem: Some(format!(
                "format version {v}, this build reads {}",
                format::FORMAT_VERSION
            )),
        },
        Err(format::HeaderError::Corrupt(reason)) => HeaderView {
            header: None,
            problem: Some(reason.to_string()),
        },
    })
}

/// The header `b` (the file's first bytes) whose magic does not match, as
/// far as it goes: with oakmap's magic put back, a checksum that holds means
/// only the magic was damaged and the rest can be trusted.
fn header_without_magic(b: &[u8]) -> HeaderView {
    match FileHeader::decode_with_magic_restored(b) {
        Ok(h) => HeaderView {
            header: Some(h.into()),
            problem: Some(
                "magic bytes damaged; the rest of the header is intact (its checksum \
                 holds with the magic restored)"
                    .into(),
            ),
        },
        Err(_) => HeaderView {
            header: None,
            problem: Some(format!(
                "magic bytes are not oakmap's ({}), and the header does not decode with \
                 them restored",
                FileHeader::magic_field(b).escape_ascii()
            )),
        },
    }
}
