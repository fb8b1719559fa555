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
//! It walks trees with the walker inspection shares ([`crate::walk`]),
//! reading pages through an open database's mapping or, for the tools, with
//! `pread` on a file that may change under them. Nothing is allocated from
//! the meta slot's page count before the file is known to hold that many
//! pages.

use std::borrow::Cow;
use std::fmt;

use crate::error::Error;
use crate::file::DataFile;
use crate::format::node::{CellValue, Node};
use crate::format::{self, Meta, PAGE_HEADER_BYTES, PageId, TreeDesc, overflow};
use crate::pager::MapSource;
pub use crate::walk::Problem;
use crate::walk::{Mark, Marks, NodeAt, PageSource, TreeVisitor, Unusable, Walker};

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

/// The check's side of the walk: what it counts and what it finds wrong.
struct Checker<'a> {
    /// The state's commit: no page it reaches can have been written later.
    txn: u64,
    report: CheckReport,
    progress: Option<&'a dyn Fn(u64, u64)>,
    /// Pages marked when `progress` was last considered.
    ticked: u64,
    /// While the catalog is walked: its root, and the trees its entries name.
    catalog: Option<(u64, Vec<(String, TreeDesc)>)>,
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
        verify: true,
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
        Ok(n) => Marks::new(n),
        Err(p) => {
            report.problems.push(p);
            return report;
        }
    };
    let mut w = Walker::new(src, marks);
    let mut c = Checker {
        txn: meta.txn.0,
        report,
        progress,
        ticked: 0,
        catalog: Some((meta.catalog.root.0, Vec::new())),
    };
    c.tree(&mut w, &meta.catalog, "catalog");
    let trees = c.catalog.take().map(|(_, t)| t).unwrap_or_default();
    for (name, desc) in &trees {
        c.tree(&mut w, desc, name);
        c.report.entries = c.report.entries.saturating_add(desc.len);
        c.report.tree_summaries.push(TreeSummary {
            name: name.clone(),
            depth: desc.depth,
            entries: desc.len,
        });
    }
    c.report.trees = trees.len() as u64;
    c.walk_freelist(&mut w, meta);
    c.report_leaks(&w.marks);
    c.report
}

impl<'a> Checker<'a> {
    fn problem(&mut self, page: u64, reason: String) {
        self.report.problems.push(Problem { page, reason });
    }

    /// Calls `progress` each time another 4,096 pages are marked.
    fn tick(&mut self, marks: &Marks) {
        let marked = marks.marked();
        if let Some(progress) = self.progress
            && self.ticked / 4096 != marked / 4096
        {
            progress(marked, marks.pages());
        }
        self.ticked = marked;
    }

    /// Pages neither reachable nor free. Pages under a damaged one show up
    /// as leaked too, so only the first few are named.
    fn report_leaks(&mut self, marks: &Marks) {
        const LEAKS_LISTED: usize = 8;
        let leaked: Vec<u64> = marks.unseen().collect();
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

    /// Walks one tree and compares what it holds with its descriptor.
    fn tree(&mut self, w: &mut Walker<'a>, desc: &TreeDesc, name: &str) {
        if desc.depth == 0 {
            if desc.len != 0 {
                self.problem(0, format!("tree {name:?}: empty but len {}", desc.len));
            }
            return;
        }
        match w.tree(desc, self) {
            Err(p) => self.problem(p.page, format!("tree {name:?}: {}", p.reason)),
            Ok(count) if count != desc.len => self.problem(
                desc.root.0,
                format!("tree {name:?}: len says {}, found {count}", desc.len),
            ),
            Ok(_) => {}
        }
    }

    fn check_order(&mut self, at: &NodeAt<'_>, keys: &[&[u8]]) {
        if !at.leaf && keys.first().is_some_and(|k| !k.is_empty()) {
            self.problem(at.id.0, "branch cell 0 has a key".to_string());
        }
        let first_ordered = if at.leaf { 0 } else { 1 };
        let ordered = keys.get(first_ordered..).unwrap_or(&[]);
        if ordered.windows(2).any(|w| w[0] >= w[1]) {
            self.problem(at.id.0, "keys out of order".to_string());
        }
        if let (Some(lo), Some(k)) = (at.lo, ordered.first())
            && *k < lo
        {
            self.problem(at.id.0, "key below its parent's separator".to_string());
        }
        if let (Some(hi), Some(k)) = (at.hi, ordered.last())
            && *k >= hi
        {
            self.problem(at.id.0, "key at or above the next separator".to_string());
        }
    }

    /// The whole overflow run of a `len`-byte value at `page`, marked and
    /// verified.
    fn overflow(&mut self, w: &mut Walker<'a>, page: PageId, len: u32) -> Option<Cow<'a, [u8]>> {
        let run = w.run(page, len);
        self.tick(&w.marks);
        if !matches!(run, Err(Unusable::Marked(_))) {
            self.report.overflow_pages += overflow::run_pages(len as usize, w.src.page_bytes());
        }
        match run {
            Ok(r) => {
                self.written_after(page.0, &r);
                Some(r)
            }
            Err(why) => {
                self.report.problems.push(why.into_problem(page));
                None
            }
        }
    }

    /// A catalog entry: the tree it names, or why its value is no descriptor.
    fn catalog_entry(&mut self, key: &[u8], value: &[u8]) {
        let Some((root, trees)) = &mut self.catalog else {
            return;
        };
        let (root, name) = (*root, String::from_utf8_lossy(key).into_owned());
        match TreeDesc::decode(value, root) {
            Ok(d) => trees.push((name, d)),
            Err(e) => self.problem(root, format!("tree {name:?}: {e}")),
        }
    }

    fn walk_freelist(&mut self, w: &mut Walker<'a>, meta: &Meta) {
        let mut listed = 0u64;
        let src = w.src;
        let marks = &mut w.marks;
        let walked = crate::freelist::walk_chain(
            meta,
            |id| src.page(id),
            |page, b, ids| {
                if let Err(p) = marks.mark(page.0, 1, Mark::Used) {
                    self.report.problems.push(p);
                    return false;
                }
                self.report.freelist_pages += 1;
                self.written_after(page.0, b);
                for id in ids {
                    listed += 1;
                    if let Err(p) = marks.mark(id, 1, Mark::Free) {
                        self.report.problems.push(p);
                    }
                }
                self.tick(marks);
                true
            },
        );
        if let Err(e) = walked {
            let page = match &e {
                Error::Corruption { page, .. } => *page,
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

impl<'a> TreeVisitor<'a> for Checker<'a> {
    fn read(&mut self, w: &mut Walker<'a>, at: &NodeAt<'_>, bytes: &[u8]) {
        self.tick(&w.marks);
        self.written_after(at.id.0, bytes);
    }

    fn node(&mut self, w: &mut Walker<'a>, at: &NodeAt<'_>, node: Node<'_>) -> bool {
        let id = at.id.0;
        if node.count() == 0 {
            self.problem(id, "empty node".to_string());
        }
        if at.leaf {
            self.report.leaf_pages += 1;
        } else {
            self.report.branch_pages += 1;
        }
        self.report.node_bytes_used += node.used_bytes() as u64;
        self.report.node_bytes_total += (w.src.page_bytes() - PAGE_HEADER_BYTES) as u64;
        let keys: Result<Vec<&[u8]>, Error> = (0..node.count()).map(|i| node.key(i)).collect();
        match keys {
            Ok(keys) => {
                self.check_order(at, &keys);
                true
            }
            Err(e) => {
                self.problem(id, e.to_string());
                false
            }
        }
    }

    fn entry(&mut self, w: &mut Walker<'a>, key: &[u8], value: CellValue<'_>) {
        match value {
            CellValue::Inline(v) => self.catalog_entry(key, v),
            CellValue::Overflow { page, len } => {
                if let Some(run) = self.overflow(w, page, len) {
                    self.catalog_entry(key, overflow::value(&run, len));
                }
            }
        }
    }

    fn unusable(&mut self, at: &NodeAt<'_>, why: Unusable) {
        self.report.problems.push(why.into_problem(at.id));
    }

    fn bad_cell(&mut self, page: PageId, e: Error) {
        self.problem(page.0, e.to_string());
    }
}
