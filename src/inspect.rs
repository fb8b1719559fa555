//! Read-only access to a database's files, for tools (`oakmap dump`,
//! `check`, `stats`).
//!
//! [`RawDb`] opens the data file for reading only, takes no lock, replays
//! nothing and writes nothing, so it works on a database another process has
//! open and on a damaged one: every view reports what it could not decode
//! instead of failing as a whole. Page reads use `pread`, never the mapping,
//! so a file truncated below what its meta slot says cannot fault.

use std::path::{Path, PathBuf};

use crate::check::{self, CheckReport, Problem};
use crate::error::{Error, Result};
use crate::file::DataFile;
use crate::format::node::{CellValue, Node};
use crate::format::wal::{
    Op, WAL_HEADER_BYTES, WalHeader, decode_ops, decode_record, file_tag, lsn_at,
};
use crate::format::{self, HEADER_BYTES, META_BYTES, freelist, overflow};
pub use crate::format::{
    FIRST_DATA_PAGE, FileHeader, Meta, PAGE_COUNT_MAX, PageId, PageKind, RawPageHeader, TreeDesc,
    TxnId,
};
use crate::wal::{self, LogReader, wal_paths};
use crate::walk::{Marks, NodeAt, PageSource, TreeVisitor, Unusable, Walker};

/// The file header as found.
#[derive(Debug, Clone)]
pub struct HeaderView {
    /// Decoded, if it decodes (see [`RawDb::open_forced`] for a header whose
    /// only damage is its magic bytes: decoded, with a `problem`).
    pub header: Option<FileHeader>,
    /// What is wrong with it; `None` when it is sound.
    pub problem: Option<String>,
}

/// One meta slot as found.
#[derive(Debug, Clone)]
pub struct MetaView {
    /// 0 or 1.
    pub slot: usize,
    /// Decoded, or why not.
    pub meta: std::result::Result<Meta, String>,
    /// The slot recovery would use.
    pub newest: bool,
}

/// One cell of a branch or leaf page.
#[derive(Debug, Clone)]
pub enum CellView {
    /// A branch cell: separator key and child page.
    Branch {
        /// The separator (empty in cell 0).
        key: Vec<u8>,
        /// The child page.
        child: u64,
    },
    /// A leaf cell with its value inline.
    Inline {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// A leaf cell whose value is in an overflow run.
    Overflow {
        /// The key.
        key: Vec<u8>,
        /// First page of the run.
        page: u64,
        /// Value length.
        len: u32,
    },
}

impl CellView {
    /// The cell's key.
    pub fn key(&self) -> &[u8] {
        match self {
            CellView::Branch { key, .. }
            | CellView::Inline { key, .. }
            | CellView::Overflow { key, .. } => key,
        }
    }
}

/// One page, decoded as far as it goes.
#[derive(Debug, Clone)]
pub struct PageView {
    /// The page number.
    pub id: u64,
    /// The header fields as stored.
    pub header: RawPageHeader,
    /// The kind, if the kind byte is one.
    pub kind: Option<PageKind>,
    /// Whether the stored checksum matches (for an overflow run: the whole run).
    pub crc_ok: bool,
    /// Cells (branch, leaf) in slot order.
    pub cells: Vec<CellView>,
    /// Entries (freelist pages).
    pub free_ids: Vec<u64>,
    /// Bytes used by slots and cells (branch, leaf).
    pub used_bytes: usize,
    /// What could not be decoded.
    pub problem: Option<String>,
    /// The raw bytes.
    pub bytes: Vec<u8>,
}

/// One page of a tree, as a tree walk meets it.
#[derive(Debug, Clone)]
pub struct TreePage {
    /// The page number.
    pub id: u64,
    /// 0 at the root.
    pub level: u32,
    /// Whether it is a leaf.
    pub leaf: bool,
    /// Cells.
    pub count: usize,
    /// Smallest and largest key (branch: of its separators after cell 0).
    pub first_key: Option<Vec<u8>>,
    /// See `first_key`.
    pub last_key: Option<Vec<u8>>,
    /// Fraction of the page body in use.
    pub fill: f64,
    /// What was wrong with it.
    pub problem: Option<String>,
}

/// A WAL file as found.
#[derive(Debug, Clone)]
pub struct WalFileView {
    /// Its path.
    pub path: PathBuf,
    /// Its length in bytes (0 if missing).
    pub bytes: u64,
    /// Its header's `file_id` and `base_lsn`, if the header decodes.
    pub header: Option<(u64, u64)>,
}

/// How a record fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    /// Valid, and not yet covered by the newest checkpoint: recovery replays it.
    Replay,
    /// Valid, but before the newest checkpoint's position.
    Covered,
}

/// One WAL record.
#[derive(Debug, Clone)]
pub struct RecordView {
    /// Which file (0 or 1).
    pub file: usize,
    /// Byte offset in it.
    pub offset: u64,
    /// Its LSN.
    pub lsn: u64,
    /// A switch marker: no commit, the log continues in the other file.
    pub marker: bool,
    /// The commit it records (0 for a marker).
    pub txn: u64,
    /// How far the log was durable when it was written.
    pub synced_lsn: u64,
    /// Its length in bytes.
    pub len: usize,
    /// Its operations, as text: `put tree key (N bytes)` and so on.
    pub ops: Vec<String>,
    /// Replayed or covered.
    pub status: RecordStatus,
}

/// Where a WAL file's records end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalEnd {
    /// At the end of the file.
    Clean,
    /// At bytes that do not decode, with nothing acknowledged after them.
    TornTail {
        /// Byte offset where the bad bytes start.
        offset: u64,
    },
    /// At a damaged record that acknowledged records follow.
    Corrupt {
        /// Byte offset of the damaged record.
        offset: u64,
    },
}

/// Both WAL files, every record in each.
#[derive(Debug, Clone)]
pub struct WalView {
    /// The two files.
    pub files: Vec<WalFileView>,
    /// Every decodable record, file by file.
    pub records: Vec<RecordView>,
    /// How each file's records end.
    pub ends: Vec<WalEnd>,
    /// What recovery would conclude: Ok(records to replay) or its error.
    pub recovery: std::result::Result<usize, String>,
}

/// The freelist of the newest checkpoint.
#[derive(Debug, Clone, Default)]
pub struct FreelistView {
    /// The freelist's own pages, in chain order.
    pub pages: Vec<u64>,
    /// The free page ids it lists.
    pub ids: Vec<u64>,
    /// What went wrong walking it.
    pub problem: Option<String>,
}

/// A database's files, opened for reading only.
pub struct RawDb {
    path: PathBuf,
    file: DataFile,
    len: u64,
    page_bytes: usize,
    header: HeaderView,
    metas: Vec<MetaView>,
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
        refuse_special_file(path)?;
        let file = DataFile::open_read_only(path)?;
        let len = file.len()?;
        let mut b = [0u8; HEADER_BYTES];
        let n = file.read_at(&mut b, 0)?;
        let header = match FileHeader::decode(&b[..n]) {
            Ok(h) => HeaderView {
                header: Some(h),
                problem: None,
            },
            Err(format::HeaderError::NotOurs) if forced => header_without_magic(&b[..n]),
            Err(format::HeaderError::NotOurs) => {
                return Err(Error::NotADatabase {
                    path: path.to_path_buf(),
                });
            }
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
        };
        // A damaged header: guess the page size from its field if plausible.
        let page_bytes = match &header.header {
            Some(h) => h.page_bytes as usize,
            None => {
                let field = b.get(12..16).map_or(0, |f| {
                    u32::from_le_bytes(f.try_into().expect("4 bytes")) as usize
                });
                if format::page_size_ok(field) {
                    field
                } else {
                    format::PAGE_BYTES_DEFAULT
                }
            }
        };
        let mut raw = RawDb {
            path: path.to_path_buf(),
            file,
            len,
            page_bytes,
            header,
            metas: Vec::new(),
        };
        raw.metas = raw.read_metas()?;
        Ok(raw)
    }

    fn read_metas(&self) -> Result<Vec<MetaView>> {
        let mut metas = Vec::new();
        for slot in 0..2 {
            let mut b = [0u8; META_BYTES];
            let n = self
                .file
                .read_at(&mut b, Meta::page_of_slot(slot) * self.page_bytes as u64)?;
            let meta = Meta::decode(&b[..n], slot).map_err(|e| match e {
                Error::Corruption { reason, .. } => reason,
                other => other.to_string(),
            });
            metas.push(MetaView {
                slot,
                meta,
                newest: false,
            });
        }
        let newest = match (&metas[0].meta, &metas[1].meta) {
            (Ok(a), Ok(b)) => Some(usize::from(b.is_newer_than(a))),
            (Ok(_), Err(_)) => Some(0),
            (Err(_), Ok(_)) => Some(1),
            (Err(_), Err(_)) => None,
        };
        if let Some(i) = newest {
            metas[i].newest = true;
        }
        Ok(metas)
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
    pub fn newest_meta(&self) -> Option<Meta> {
        self.metas
            .iter()
            .find(|m| m.newest)
            .and_then(|m| m.meta.as_ref().ok().copied())
    }

    fn newest_or_err(&self) -> Result<Meta> {
        self.newest_meta()
            .ok_or_else(|| Error::corrupt(1, "no valid meta slot"))
    }

    /// Pages in the file as it was at open.
    fn file_pages(&self) -> u64 {
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
            page_count: self
                .newest_meta()
                .map_or(self.file_pages(), |m| m.page_count),
            page_bytes: self.page_bytes,
            verify,
        }
    }

    /// A walk over the newest state's trees that shows what is under a page
    /// whose checksum fails (and says it fails). Its marks cover the pages
    /// the file holds: a page past them could not be read anyway.
    fn walker(&self) -> Walker<'_> {
        let page_count = self
            .newest_meta()
            .map_or(self.file_pages(), |m| m.page_count);
        // A file too large to mark on this machine gets no marks: every page
        // is then reported out of range rather than walked.
        let marks = usize::try_from(page_count.min(self.file_pages())).unwrap_or(0);
        Walker::new(self.source(false), Marks::new(marks))
    }

    /// Page `id` decoded field by field.
    pub fn page(&self, id: u64) -> Result<PageView> {
        let bytes = self.read_pages(id, 1)?;
        let header = format::raw_page_header(&bytes);
        let kind = PageKind::from_u8(header.kind);
        let mut view = PageView {
            id,
            header,
            kind,
            crc_ok: header.crc == header.crc_computed,
            cells: Vec::new(),
            free_ids: Vec::new(),
            used_bytes: 0,
            problem: None,
            bytes,
        };
        if id < FIRST_DATA_PAGE {
            view.problem = Some("pages 0-2 are the header and meta slots, not data pages".into());
            return Ok(view);
        }
        let decoded = match kind {
            Some(PageKind::Leaf | PageKind::Branch) => self.decode_node(&mut view),
            Some(PageKind::Freelist) => {
                freelist::read_page(&view.bytes, PageId(id)).map(|(ids, _)| view.free_ids = ids)
            }
            Some(PageKind::Overflow) => self.check_run(&mut view),
            None => Err(Error::corrupt(
                id,
                format!("kind byte {} is no page kind", header.kind),
            )),
        };
        if let Err(e) = decoded {
            view.problem = Some(e.to_string());
        }
        Ok(view)
    }

    fn decode_node(&self, view: &mut PageView) -> Result<()> {
        let leaf = view.kind == Some(PageKind::Leaf);
        let node = Node::new(&view.bytes, PageId(view.id), leaf)?;
        view.used_bytes = node.used_bytes();
        view.cells = cells_of(&node)?;
        Ok(())
    }

    /// An overflow run's checksum covers the whole run.
    fn check_run(&self, view: &mut PageView) -> Result<()> {
        let len = (view.header.specific >> 32) as u32;
        let pages = overflow::check_first_page(&view.bytes, PageId(view.id), len, self.page_bytes)?;
        let run = self.read_pages(view.id, pages)?;
        view.crc_ok = format::verify_page(&run, PageId(view.id), true).is_ok();
        Ok(())
    }

    /// The named trees of the newest checkpoint.
    pub fn trees(&self) -> Result<Vec<(String, TreeDesc)>> {
        let meta = self.newest_or_err()?;
        let root = meta.catalog.root.0;
        let mut trees = Vec::new();
        let mut err = None;
        self.entries(&meta.catalog, &mut |key, value| {
            let name = String::from_utf8_lossy(key).into_owned();
            match value {
                LeafValue::Inline(v) => match TreeDesc::decode(v, root) {
                    Ok(d) => trees.push((name, d)),
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
    pub fn tree_pages(&self, desc: &TreeDesc) -> Vec<TreePage> {
        let mut lister = PageLister {
            pages: Vec::new(),
            page_bytes: self.page_bytes,
        };
        if let Err(p) = self.walker().tree(desc, &mut lister) {
            lister.pages.push(TreePage {
                problem: Some(p.reason),
                ..TreePage::new(desc.root.0, 0, desc.depth == 1)
            });
        }
        lister.pages
    }

    /// Calls `visit` for each entry of a tree, in order; stops at the first
    /// page it cannot read.
    pub fn entries(
        &self,
        desc: &TreeDesc,
        visit: &mut dyn FnMut(&[u8], LeafValue<'_>),
    ) -> Result<()> {
        let mut lister = EntryLister { visit, error: None };
        let walked = self.walker().tree(desc, &mut lister);
        match (walked, lister.error) {
            (Err(p), _) => Err(Error::corrupt(p.page, p.reason)),
            (Ok(_), Some(e)) => Err(e),
            (Ok(_), None) => Ok(()),
        }
    }

    /// The value of an overflow run, read in full.
    pub fn overflow_value(&self, page: u64, len: u32) -> Result<Vec<u8>> {
        let run = self.source(true).overflow_run(PageId(page), len)?;
        Ok(overflow::value(&run, len).to_vec())
    }

    /// The newest checkpoint's freelist.
    pub fn freelist(&self) -> FreelistView {
        let mut view = FreelistView::default();
        let Some(meta) = self.newest_meta() else {
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

    /// Both WAL files and every record in them, and what recovery would
    /// conclude (the same scan opening runs).
    pub fn wal(&self) -> WalView {
        let paths = wal_paths(&std::fs::canonicalize(&self.path).unwrap_or(self.path.clone()));
        let (files, unreadable) = match wal::read_files(&paths) {
            Ok(files) => (files, None),
            Err(e) => ([None, None], Some(e.to_string())),
        };
        let covered = self.newest_meta().map_or(0, |m| m.wal_lsn);
        let file_id = self.header.header.map_or(0, |h| h.file_id);
        let tag = file_tag(file_id);
        let mut view = WalView {
            files: Vec::new(),
            records: Vec::new(),
            ends: Vec::new(),
            recovery: Ok(0),
        };
        for (i, b) in files.iter().enumerate() {
            let b = b.as_deref().unwrap_or_default();
            let header = WalHeader::decode(b);
            view.files.push(WalFileView {
                path: paths[i].clone(),
                bytes: b.len() as u64,
                header: header.map(|h| (h.file_id, h.base_lsn)),
            });
            let end = match header {
                Some(h) => walk_wal_file(b, i, h.base_lsn, covered, tag, &mut view.records),
                None => WalEnd::Clean,
            };
            view.ends.push(end);
        }
        view.recovery = match self.newest_meta() {
            _ if unreadable.is_some() => Err(unreadable.unwrap_or_default()),
            Some(meta) => LogReader {
                paths: &paths,
                file_id,
            }
            .scan(files, &meta)
            .and_then(|s| match s.loss {
                Some(e) => Err(e),
                None => Ok(s.records.len()),
            })
            .map_err(|e| e.to_string()),
            None => Err("no valid meta slot".into()),
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
        let Some(meta) = self.newest_meta() else {
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
    page_bytes: usize,
}

impl<'a> TreeVisitor<'a> for PageLister {
    fn node(&mut self, _: &mut Walker<'a>, at: &NodeAt<'_>, node: Node<'_>) -> bool {
        let mut page = TreePage::new(at.id.0, at.level, at.leaf);
        page.fill = node.used_bytes() as f64 / (self.page_bytes - format::PAGE_HEADER_BYTES) as f64;
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
        if format::verify_page(node.bytes(), at.id, true).is_err() {
            page.problem = Some("checksum mismatch".to_string());
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

/// [`RawDb::entries`]' side of the walk: every entry, until the first
/// problem.
struct EntryLister<'v> {
    visit: &'v mut dyn FnMut(&[u8], LeafValue<'_>),
    error: Option<Error>,
}

impl<'a> TreeVisitor<'a> for EntryLister<'_> {
    fn node(&mut self, _: &mut Walker<'a>, _: &NodeAt<'_>, _: Node<'_>) -> bool {
        true
    }

    fn entry(&mut self, _: &mut Walker<'a>, key: &[u8], value: CellValue<'_>) {
        (self.visit)(
            key,
            match value {
                CellValue::Inline(v) => LeafValue::Inline(v),
                CellValue::Overflow { page, len } => LeafValue::Overflow { page: page.0, len },
            },
        );
    }

    fn unusable(&mut self, _: &NodeAt<'_>, why: Unusable) {
        self.error.get_or_insert(match why {
            Unusable::Marked(p) => Error::corrupt(p.page, p.reason),
            Unusable::Bad(e) => e,
        });
    }

    fn bad_cell(&mut self, _: PageId, e: Error) {
        self.error.get_or_insert(e);
    }

    fn stopped(&self) -> bool {
        self.error.is_some()
    }
}

/// The header `b` (the file's first bytes) whose magic does not match, as
/// far as it goes: with oakmap's magic put back, a checksum that holds means
/// only the magic was damaged and the rest can be trusted.
fn header_without_magic(b: &[u8]) -> HeaderView {
    let mut restored = b.to_vec();
    if let Some(magic) = restored.get_mut(..format::MAGIC.len()) {
        magic.copy_from_slice(&format::MAGIC);
    }
    match FileHeader::decode(&restored) {
        Ok(h) => HeaderView {
            header: Some(h),
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
                b.get(..format::MAGIC.len()).unwrap_or(b).escape_ascii()
            )),
        },
    }
}

/// Fails unless `path` is a regular file (after symlinks), before anything
/// opens it: opening a FIFO for reading blocks until a writer appears, so
/// the tools would hang, and a directory or device is no database either.
fn refuse_special_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::metadata(path)?.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "{} is {what}; an oakmap database is a regular file",
            path.display()
        ),
    )))
}

/// A leaf value as stored.
#[derive(Debug, Clone, Copy)]
pub enum LeafValue<'a> {
    /// Inline bytes.
    Inline(&'a [u8]),
    /// In an overflow run.
    Overflow {
        /// First page of the run.
        page: u64,
        /// Value length.
        len: u32,
    },
}

/// Decodes one WAL file's records in order, from its header on.
fn walk_wal_file(
    b: &[u8],
    file: usize,
    base: u64,
    covered: u64,
    tag: u32,
    out: &mut Vec<RecordView>,
) -> WalEnd {
    let mut off = WAL_HEADER_BYTES;
    loop {
        if off >= b.len() {
            return WalEnd::Clean;
        }
        let lsn = lsn_at(off, base);
        let Some(rec) = decode_record(&b[off..], lsn, tag) else {
            return if wal::acknowledged_after(b, off, lsn, tag).is_some() {
                WalEnd::Corrupt { offset: off as u64 }
            } else {
                WalEnd::TornTail { offset: off as u64 }
            };
        };
        let decoded = decode_ops(&rec);
        let marker = decoded.as_deref().is_some_and(Op::is_switch_marker);
        let ops = match decoded {
            Some(ops) => ops.iter().map(describe_op).collect(),
            None => vec!["(operations do not parse)".to_string()],
        };
        out.push(RecordView {
            file,
            marker,
            offset: off as u64,
            lsn,
            txn: rec.txn,
            synced_lsn: rec.synced_lsn,
            len: rec.len,
            ops,
            status: if lsn >= covered {
                RecordStatus::Replay
            } else {
                RecordStatus::Covered
            },
        });
        off += rec.len;
    }
}

fn describe_op(op: &Op<'_>) -> String {
    let esc = |b: &[u8]| {
        let s = b.escape_ascii().to_string();
        if s.len() > 48 {
            format!("{}..", &s[..48])
        } else {
            s
        }
    };
    match op {
        Op::Put { tree, key, value } => format!("put {tree} {} ({} bytes)", esc(key), value.len()),
        Op::Delete { tree, key } => format!("delete {tree} {}", esc(key)),
        Op::CreateTree { tree } => format!("create tree {tree}"),
        Op::DeleteTree { tree } => format!("delete tree {tree}"),
        Op::Switch => "switch: the log continues in the other file".to_string(),
    }
}
