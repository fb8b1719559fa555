//! The integrity check: everything about a committed state that can be
//! verified from the file.
//!
//! * every page's checksum and self id, every overflow run's checksum;
//! * node types by level, the depth bound, keys strictly ascending within a
//!   page and inside the bounds their parent's separators give, branch cell 0
//!   with an empty key, no empty nodes;
//! * every page in the file reachable exactly once or listed free exactly once;
//! * each tree's stored length equal to its entry count, and the freelist's
//!   count equal to the meta's.
//!
//! It reports problems instead of stopping at the first, and never descends
//! into a page it has already seen, so a cycle is reported, not followed.
//!
//! It reads pages through a [`PageSource`]: an open database's mapping
//! (fast; the `Db` holds the file's lock, so no one shrinks the file under
//! it), or `pread` for the tools, which look at a file other processes may
//! truncate while they read; a mapping would fault (SIGBUS) on the cut-off
//! pages, `pread` returns short and the page is reported. Every number read
//! off disk is used with checked arithmetic, and nothing is allocated from
//! the meta slot's page count before the file is known to hold that many
//! pages.

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, Result};
use crate::file::DataFile;
use crate::format::node::{CellValue, Node};
use crate::format::{
    self, DEPTH_MAX, FIRST_DATA_PAGE, Meta, PAGE_HEADER_BYTES, PageId, TreeDesc, overflow,
};
use crate::pager::MapSource;

/// One thing the check found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The page it concerns.
    pub page: u64,
    /// What is wrong.
    pub reason: String,
}

/// The result of [`crate::Db::check`].
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Pages in the file (below the committed page count).
    pub pages: u64,
    /// Named trees.
    pub trees: u64,
    /// Entries over all trees.
    pub entries: u64,
    /// Free pages listed.
    pub free_pages: u64,
    /// Branch pages, over all trees and the catalog.
    pub branch_pages: u64,
    /// Leaf pages, over all trees and the catalog.
    pub leaf_pages: u64,
    /// Pages in overflow runs.
    pub overflow_pages: u64,
    /// Pages of the freelist itself.
    pub freelist_pages: u64,
    /// Bytes used (cells and slots) in branch and leaf pages, for the fill factor.
    pub node_bytes_used: u64,
    /// Usable bytes (page minus header) in branch and leaf pages.
    pub node_bytes_total: u64,
    /// One line per named tree.
    pub tree_summaries: Vec<TreeSummary>,
    /// Everything found wrong; empty when the state is sound.
    pub problems: Vec<Problem>,
}

/// Shape of one named tree, from [`crate::Db::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSummary {
    /// The tree's name.
    pub name: String,
    /// Levels (0 when empty).
    pub depth: u32,
    /// Entries, as stored in the tree's descriptor.
    pub entries: u64,
}

impl CheckReport {
    /// True when no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} pages, {} trees, {} entries, {} free pages: {}",
            self.pages,
            self.trees,
            self.entries,
            self.free_pages,
            if self.is_clean() { "clean" } else { "PROBLEMS" }
        )?;
        for p in &self.problems {
            writeln!(f, "  page {}: {}", p.page, p.reason)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Unseen,
    Used,
    Free,
}

/// Where the checker reads a state's pages from.
#[derive(Clone, Copy)]
enum PageSource<'a> {
    /// An open database's mapping, which the `Db` keeps valid.
    Map(MapSource<'a>),
    /// `pread` on a file no `Db` of ours has open: a page past the file's
    /// current end is a short read, reported as corruption.
    Pread {
        file: &'a DataFile,
        page_count: u64,
        page_bytes: usize,
    },
}

impl<'a> PageSource<'a> {
    fn page_bytes(&self) -> usize {
        match self {
            PageSource::Map(m) => m.page_bytes,
            PageSource::Pread { page_bytes, .. } => *page_bytes,
        }
    }

    fn file(&self) -> &'a DataFile {
        match self {
            PageSource::Map(m) => m.file,
            PageSource::Pread { file, .. } => file,
        }
    }

    /// Page `id`, verified (self id and checksum).
    fn page(&self, id: PageId) -> Result<Cow<'a, [u8]>> {
        match self {
            PageSource::Map(m) => m.page(id).map(Cow::Borrowed),
            PageSource::Pread { .. } => self.run(id, 1),
        }
    }

    /// Page `id` with its self id checked but not its checksum: the first
    /// page of an overflow run, whose checksum covers the whole run.
    fn first_of_run(&self, id: PageId) -> Result<Cow<'a, [u8]>> {
        match self {
            PageSource::Map(m) => MapSource {
                verify: false,
                ..*m
            }
            .page(id)
            .map(Cow::Borrowed),
            PageSource::Pread { .. } => {
                let b = self.read(id, 1)?;
                format::verify_page(&b, id, false)?;
                Ok(b)
            }
        }
    }

    /// `pages` pages from `id` as one slice, verified as one unit (an
    /// overflow run's checksum covers all its pages).
    fn run(&self, id: PageId, pages: u64) -> Result<Cow<'a, [u8]>> {
        let b = self.read(id, pages)?;
        format::verify_page(&b, id, true)?;
        Ok(b)
    }

    /// `pages` pages from `id`, unverified, checked to lie below the
    /// state's page count.
    fn read(&self, id: PageId, pages: u64) -> Result<Cow<'a, [u8]>> {
        let page_count = match self {
            PageSource::Map(m) => m.page_count,
            PageSource::Pread { page_count, .. } => *page_count,
        };
        let end = id.0.checked_add(pages);
        if id.0 < FIRST_DATA_PAGE || end.is_none_or(|e| e > page_count) {
            return Err(Error::corrupt(
                id.0,
                format!("page reference out of range (file has {page_count} pages)"),
            ));
        }
        let page_bytes = self.page_bytes() as u64;
        let too_large = || Error::corrupt(id.0, "page run too large to address");
        let offset = id.0.checked_mul(page_bytes).ok_or_else(too_large)?;
        let len = pages
            .checked_mul(page_bytes)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(too_large)?;
        match self {
            PageSource::Map(m) => m
                .file
                .mapped(m.map, offset, len)
                .map(Cow::Borrowed)
                .ok_or_else(|| Error::corrupt(id.0, "page beyond the mapping")),
            PageSource::Pread { file, .. } => {
                let mut b = vec![0u8; len];
                let n = file.read_at(&mut b, offset)?;
                if n < len {
                    return Err(Error::corrupt(
                        id.0,
                        format!(
                            "short read: {n} of {len} bytes at offset {offset} \
                             (the file ends before the page; was it truncated?)"
                        ),
                    ));
                }
                Ok(Cow::Owned(b))
            }
        }
    }
}

struct Checker<'a> {
    src: PageSource<'a>,
    /// The state's commit: no page it reaches can have been written later.
    txn: u64,
    marks: Vec<Mark>,
    report: CheckReport,
    progress: Option<&'a dyn Fn(u64, u64)>,
    marked: u64,
}

/// Checks the state `meta` describes, read through an open database's
/// mapping `src` (which must verify checksums).
pub(crate) fn check_state(src: MapSource<'_>, meta: &Meta) -> CheckReport {
    check_pages(PageSource::Map(src), meta, None)
}

/// Checks the state `meta` describes in `file`, reading with `pread` (for
/// tools, on a file that may change under them), calling `progress(pages
/// seen, pages in the file)` now and then.
pub(crate) fn check_file<'a>(
    file: &'a DataFile,
    page_bytes: usize,
    meta: &Meta,
    progress: Option<&'a dyn Fn(u64, u64)>,
) -> CheckReport {
    let src = PageSource::Pread {
        file,
        page_count: meta.page_count,
        page_bytes,
    };
    check_pages(src, meta, progress)
}

/// The file's length and the state's page count as a number of pages to
/// mark: only when the file holds them all (checked multiplication, so a
/// forged page count cannot wrap around), which bounds the marks by the
/// file's size.
fn pages_to_mark(src: &PageSource<'_>, meta: &Meta) -> Result<usize, Problem> {
    let page_bytes = src.page_bytes();
    let file_bytes = src.file().len().map_err(|e| Problem {
        page: 0,
        reason: format!("cannot read the file's length: {e}"),
    })?;
    let needed = meta.page_count.checked_mul(page_bytes as u64);
    match needed {
        Some(needed) if needed <= file_bytes => {
            usize::try_from(meta.page_count).map_err(|_| Problem {
                page: meta.page_count,
                reason: "page count too large for this machine".to_string(),
            })
        }
        _ => Err(Problem {
            page: meta.page_count,
            reason: format!(
                "file is truncated: {file_bytes} bytes, but the state needs {} pages of {page_bytes}{}",
                meta.page_count,
                needed.map_or_else(
                    || " (more than 2^64 bytes)".to_string(),
                    |n| format!(" ({n} bytes)")
                ),
            ),
        }),
    }
}

fn check_pages<'a>(
    src: PageSource<'a>,
    meta: &Meta,
    progress: Option<&'a dyn Fn(u64, u64)>,
) -> CheckReport {
    assert!(
        format::page_size_ok(src.page_bytes()),
        "page size {} checked before the walk",
        src.page_bytes()
    );
    let mut report = CheckReport {
        pages: meta.page_count,
        ..CheckReport::default()
    };
    let marks = match pages_to_mark(&src, meta) {
        Ok(n) => n,
        Err(p) => {
            report.problems.push(p);
            return report;
        }
    };
    let mut c = Checker {
        src,
        txn: meta.txn.0,
        marks: vec![Mark::Unseen; marks],
        report,
        progress,
        marked: 0,
    };
    let mut trees = Vec::new();
    c.walk_tree(&meta.catalog, "catalog", &mut |c, key, value| {
        let name = String::from_utf8_lossy(key).into_owned();
        match TreeDesc::decode(value, meta.catalog.root.0) {
            Ok(d) => trees.push((name, d)),
            Err(e) => c.problem(meta.catalog.root.0, format!("tree {name:?}: {e}")),
        }
    });
    for (name, desc) in &trees {
        c.walk_tree(desc, name, &mut |_, _, _| {});
        c.report.entries = c.report.entries.saturating_add(desc.len);
        c.report.tree_summaries.push(TreeSummary {
            name: name.clone(),
            depth: desc.depth,
            entries: desc.len,
        });
    }
    c.report.trees = trees.len() as u64;
    c.walk_freelist(meta);
    c.report_leaks();
    c.report
}

type Visit<'v> = dyn FnMut(&mut Checker<'_>, &[u8], &[u8]) + 'v;

impl<'a> Checker<'a> {
    fn problem(&mut self, page: u64, reason: String) {
        self.report.problems.push(Problem { page, reason });
    }

    /// Pages neither reachable nor free. Pages under a damaged one show up
    /// as leaked too, so only the first few are named.
    fn report_leaks(&mut self) {
        const LEAKS_LISTED: usize = 8;
        let leaked: Vec<u64> = (FIRST_DATA_PAGE..self.marks.len() as u64)
            .filter(|&id| self.marks[id as usize] == Mark::Unseen)
            .collect();
        for &id in leaked.iter().take(LEAKS_LISTED) {
            self.problem(
                id,
                "page is neither reachable nor free (leaked)".to_string(),
            );
        }
        if leaked.len() > LEAKS_LISTED {
            let more = leaked.len() - LEAKS_LISTED;
            self.problem(
                leaked[LEAKS_LISTED],
                format!("and {more} more leaked pages"),
            );
        }
    }

    /// A page the state reaches must have been written by a commit no later
    /// than the state's own: a later one means the page was reused since
    /// (the state is not intact, e.g. an older meta slot whose pages newer
    /// commits took over).
    fn written_after(&mut self, id: u64, b: &[u8]) {
        let born = format::page_txn(b);
        if born > self.txn {
            self.problem(
                id,
                format!(
                    "page written by commit {born}, after this state's commit {}",
                    self.txn
                ),
            );
        }
    }

    /// Marks `pages` pages from `id` used; false (with a problem) if any is
    /// out of range or already seen.
    fn mark(&mut self, id: u64, pages: u64, as_mark: Mark) -> bool {
        let end = id.saturating_add(pages);
        if id < FIRST_DATA_PAGE || end > self.marks.len() as u64 {
            self.problem(id, format!("reference to pages {id}..{end} out of range"));
            return false;
        }
        for p in id..end {
            if self.marks[p as usize] != Mark::Unseen {
                let what = if self.marks[p as usize] == Mark::Free {
                    "free"
                } else {
                    "in use"
                };
                self.problem(p, format!("page referenced again (already {what})"));
                return false;
            }
        }
        for p in id..end {
            self.marks[p as usize] = as_mark;
        }
        let before = self.marked;
        self.marked += pages;
        if let Some(progress) = self.progress
            && before / 4096 != self.marked / 4096
        {
            progress(self.marked, self.marks.len() as u64);
        }
        true
    }

    fn walk_tree(&mut self, desc: &TreeDesc, name: &str, visit: &mut Visit<'_>) {
        if desc.depth == 0 {
            if desc.len != 0 {
                self.problem(0, format!("tree {name:?}: empty but len {}", desc.len));
            }
            return;
        }
        if desc.depth > DEPTH_MAX {
            self.problem(
                desc.root.0,
                format!("tree {name:?}: depth {} over bound", desc.depth),
            );
            return;
        }
        let mut count = 0u64;
        self.walk_node(desc.root, 1, desc.depth, (None, None), &mut count, visit);
        if count != desc.len {
            self.problem(
                desc.root.0,
                format!("tree {name:?}: len says {}, found {count}", desc.len),
            );
        }
    }

    fn walk_node(
        &mut self,
        id: PageId,
        level: u32,
        depth: u32,
        bounds: (Option<Vec<u8>>, Option<Vec<u8>>),
        count: &mut u64,
        visit: &mut Visit<'_>,
    ) {
        if !self.mark(id.0, 1, Mark::Used) {
            return;
        }
        let leaf = level == depth;
        let bytes = match self.src.page(id) {
            Ok(b) => b,
            Err(e) => return self.problem(id.0, e.to_string()),
        };
        self.written_after(id.0, &bytes);
        let node = match Node::new(&bytes, id, leaf) {
            Ok(n) => n,
            Err(e) => return self.problem(id.0, e.to_string()),
        };
        if node.count() == 0 {
            self.problem(id.0, "empty node".to_string());
        }
        if leaf {
            self.report.leaf_pages += 1;
        } else {
            self.report.branch_pages += 1;
        }
        self.report.node_bytes_used += node.used_bytes() as u64;
        self.report.node_bytes_total += (self.src.page_bytes() - PAGE_HEADER_BYTES) as u64;
        let mut keys: Vec<Vec<u8>> = Vec::with_capacity(node.count());
        for i in 0..node.count() {
            match node.key(i) {
                Ok(k) => keys.push(k.to_vec()),
                Err(e) => return self.problem(id.0, e.to_string()),
            }
        }
        self.check_order(id, leaf, &keys, &bounds);
        if leaf {
            self.visit_leaf(node, &keys, count, visit);
            return;
        }
        for i in 0..node.count() {
            let lo = if i == 0 {
                bounds.0.clone()
            } else {
                Some(keys[i].clone())
            };
            let hi = keys.get(i + 1).cloned().or_else(|| bounds.1.clone());
            match node.child(i) {
                Ok(child) => self.walk_node(child, level + 1, depth, (lo, hi), count, visit),
                Err(e) => self.problem(id.0, e.to_string()),
            }
        }
    }

    fn check_order(
        &mut self,
        id: PageId,
        leaf: bool,
        keys: &[Vec<u8>],
        bounds: &(Option<Vec<u8>>, Option<Vec<u8>>),
    ) {
        if !leaf && keys.first().is_some_and(|k| !k.is_empty()) {
            self.problem(id.0, "branch cell 0 has a key".to_string());
        }
        let first_ordered = if leaf { 0 } else { 1 };
        let ordered = keys.get(first_ordered..).unwrap_or(&[]);
        if ordered.windows(2).any(|w| w[0] >= w[1]) {
            self.problem(id.0, "keys out of order".to_string());
        }
        if let (Some(lo), Some(k)) = (&bounds.0, ordered.first())
            && k < lo
        {
            self.problem(id.0, "key below its parent's separator".to_string());
        }
        if let (Some(hi), Some(k)) = (&bounds.1, ordered.last())
            && k >= hi
        {
            self.problem(id.0, "key at or above the next separator".to_string());
        }
    }

    fn visit_leaf(
        &mut self,
        node: Node<'_>,
        keys: &[Vec<u8>],
        count: &mut u64,
        visit: &mut Visit<'_>,
    ) {
        for (i, key) in keys.iter().enumerate() {
            *count += 1;
            match node.value(i) {
                Ok(CellValue::Inline(v)) => visit(self, key, v),
                Ok(CellValue::Overflow { page, len }) => {
                    if let Some(run) = self.overflow(page, len) {
                        visit(self, key, overflow::value(&run, len));
                    }
                }
                Err(e) => self.problem(node.id().0, e.to_string()),
            }
        }
    }

    /// The whole overflow run of a `len`-byte value at `page`, verified.
    fn overflow(&mut self, page: PageId, len: u32) -> Option<Cow<'a, [u8]>> {
        let pages = overflow::run_pages(len as usize, self.src.page_bytes());
        if !self.mark(page.0, pages, Mark::Used) {
            return None;
        }
        self.report.overflow_pages += pages;
        let run = self
            .src
            .first_of_run(page)
            .and_then(|f| overflow::check_first_page(&f, page, len, self.src.page_bytes()))
            .and_then(|_| self.src.run(page, pages));
        match run {
            Ok(r) => {
                self.written_after(page.0, &r);
                Some(r)
            }
            Err(e) => {
                self.problem(page.0, e.to_string());
                None
            }
        }
    }

    fn walk_freelist(&mut self, meta: &Meta) {
        let mut listed = 0u64;
        let src = self.src;
        let walked = crate::freelist::walk_chain(
            meta,
            |id| src.page(id),
            |page, b, ids| {
                if !self.mark(page.0, 1, Mark::Used) {
                    return false;
                }
                self.report.freelist_pages += 1;
                self.written_after(page.0, b);
                for id in ids {
                    listed += 1;
                    self.mark(id, 1, Mark::Free);
                }
                true
            },
        );
        if let Err(e) = walked {
            let page = match &e {
                crate::Error::Corruption { page, .. } => *page,
                _ => meta.freelist_head.0,
            };
            return self.problem(page, e.to_string());
        }
        self.report.free_pages = listed;
        if listed != meta.free_count {
            self.problem(
                meta.freelist_head.0,
                format!(
                    "freelist lists {listed} pages, meta says {}",
                    meta.free_count
                ),
            );
        }
    }
}
