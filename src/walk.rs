//! Walking a committed state's trees page by page, outside the engine's
//! read path: the one walk the integrity check (and through it recovery's
//! test that a state is intact) and the read-only inspector share, so they
//! cannot disagree about what a tree holds.
//!
//! [`PageSource`] reads a state's pages either through an open database's
//! mapping (fast; the `Db` holds the file's lock, so no one shrinks the
//! file under it) or with `pread`, for tools that look at a file other
//! processes may truncate while they read: a mapping would fault (SIGBUS)
//! on the cut-off pages, `pread` returns short and the page is reported.
//! Every number read off disk is used with checked arithmetic.
//!
//! [`Walker::tree`] visits a tree depth first, in key order: each branch
//! and leaf page, then, if the [`TreeVisitor`] goes into it, a branch's
//! children or a leaf's entries. Every page is marked in [`Marks`] before
//! it is read, and a page marked before is reported, not entered, so a
//! cycle or a page two parents share cannot make the walk loop or repeat;
//! descent is bounded by the tree's depth, itself at most `DEPTH_MAX`.
//! Nothing read is trusted: a page that cannot be used is reported to the
//! visitor with why, and the walk goes on with its siblings.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::file::DataFile;
use crate::format::node::{CellValue, Node};
use crate::format::{self, DEPTH_MAX, FIRST_DATA_PAGE, PageId, TreeDesc, overflow, validate};
use crate::pager::MapSource;

/// One thing the integrity check found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The page it concerns.
    pub page: u64,
    /// What is wrong.
    pub reason: String,
}

/// Where a walk reads a state's pages from.
#[derive(Clone, Copy)]
pub(crate) enum PageSource<'a> {
    /// An open database's mapping, which the `Db` keeps valid.
    Map(MapSource<'a>),
    /// `pread` on a file no `Db` of ours has open: a page past the file's
    /// current end is a short read, reported as corruption. With `verify`,
    /// pages are checked as a verifying mapping checks them; without, only
    /// that they name themselves, their checksum and structure left to the
    /// caller (a tool showing a damaged page and what lies under it). An
    /// overflow run read whole is verified either way.
    Pread {
        file: &'a DataFile,
        page_count: u64,
        page_bytes: usize,
        verify: bool,
    },
}

impl<'a> PageSource<'a> {
    pub(crate) fn page_bytes(&self) -> usize {
        match self {
            PageSource::Map(m) => m.page_bytes,
            PageSource::Pread { page_bytes, .. } => *page_bytes,
        }
    }

    /// The state's page count: every page it reaches is below it.
    pub(crate) fn page_count(&self) -> u64 {
        match self {
            PageSource::Map(m) => m.page_count,
            PageSource::Pread { page_count, .. } => *page_count,
        }
    }

    pub(crate) fn file(&self) -> &'a DataFile {
        match self {
            PageSource::Map(m) => m.file,
            PageSource::Pread { file, .. } => file,
        }
    }

    /// Page `id`, checked to name itself and, if the source verifies, its
    /// checksum and its structure (format::validate).
    pub(crate) fn page(&self, id: PageId) -> Result<Cow<'a, [u8]>> {
        match self {
            PageSource::Map(m) => m.page(id).map(Cow::Borrowed),
            PageSource::Pread { .. } => self.pread_page(id, true),
        }
    }

    /// The whole overflow run of a `len`-byte value at `page`, its first
    /// page checked against the cell and the run verified as one unit (its
    /// checksum covers all its pages).
    pub(crate) fn overflow_run(&self, page: PageId, len: u32) -> Result<Cow<'a, [u8]>> {
        let first = self.first_of_run(page)?;
        let pages = overflow::check_first_page(&first, page, len, self.page_bytes())?;
        let run = self.read(page, pages)?;
        format::verify_page(&run, page, true)?;
        Ok(run)
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
            PageSource::Pread { .. } => self.pread_page(id, false),
        }
    }

    /// Page `id` by `pread`, checked to name itself and, if the source
    /// verifies, as a mapping checks a page's first read (`pager.rs`), in
    /// the same order: the checksum first (over the whole run, for an
    /// overflow run's first page; only if `crc`), so random damage is
    /// reported as such, then every structural rule the page shows on its
    /// own. The check then finds the same problems at the same pages
    /// whichever way it reads.
    fn pread_page(&self, id: PageId, crc: bool) -> Result<Cow<'a, [u8]>> {
        let b = self.read(id, 1)?;
        format::verify_page(&b, id, false)?;
        if let PageSource::Pread {
            verify: true,
            page_count,
            ..
        } = *self
        {
            validate::first_read(&b, id, page_count, crc, true, |span| self.read(id, span))?;
        }
        Ok(b)
    }

    /// `pages` pages from `id`, unverified, checked to lie below the
    /// state's page count.
    fn read(&self, id: PageId, pages: u64) -> Result<Cow<'a, [u8]>> {
        let page_count = self.page_count();
        let end = id.0.checked_add(pages);
        if id.0 < FIRST_DATA_PAGE || end.is_none_or(|e| e > page_count) {
            return Err(Error::corrupt(
                id.0,
                format!("page reference out of range (file has {page_count} pages)"),
            ));
        }
        match self {
            PageSource::Map(m) => m.bytes(id, pages).map(Cow::Borrowed),
            PageSource::Pread {
                file, page_bytes, ..
            } => pread(file, id, pages, *page_bytes).map(Cow::Owned),
        }
    }
}

/// The byte offset and length of `pages` pages from `id`, checked.
fn span(id: PageId, pages: u64, page_bytes: usize) -> Result<(u64, usize)> {
    let too_large = || Error::corrupt(id.0, "page run too large to address");
    let page_bytes = page_bytes as u64;
    let offset = id.0.checked_mul(page_bytes).ok_or_else(too_large)?;
    let len = pages
        .checked_mul(page_bytes)
        .and_then(|l| usize::try_from(l).ok())
        .ok_or_else(too_large)?;
    Ok((offset, len))
}

/// `pages` pages from `id` read with `pread`: a short read (the file ends
/// before them; another process may have cut it) is corruption of `id`.
pub(crate) fn pread(file: &DataFile, id: PageId, pages: u64, page_bytes: usize) -> Result<Vec<u8>> {
    let (offset, len) = span(id, pages, page_bytes)?;
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
    Ok(b)
}

/// What a walk found a page to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    Unseen,
    /// Reachable: a branch, leaf or overflow page, or one of the freelist's own.
    Used,
    /// Listed in the freelist.
    Free,
}

/// One mark per page below a bound: what bounds a walk over pages that may
/// reference each other in a cycle. The caller bounds the count by the
/// file's length, never by a number read off disk alone.
pub(crate) struct Marks {
    marks: Vec<Mark>,
    marked: u64,
}

impl Marks {
    /// Marks for pages `0..pages`, all unseen.
    pub(crate) fn new(pages: usize) -> Marks {
        Marks {
            marks: vec![Mark::Unseen; pages],
            marked: 0,
        }
    }

    /// Pages the marks cover.
    pub(crate) fn pages(&self) -> u64 {
        self.marks.len() as u64
    }

    /// Pages marked so far.
    pub(crate) fn marked(&self) -> u64 {
        self.marked
    }

    /// Marks `pages` pages from `id` as `mark`; if any lies outside
    /// `FIRST_DATA_PAGE..` the bound or was marked before, marks none and
    /// says which and why.
    pub(crate) fn mark(&mut self, id: u64, pages: u64, mark: Mark) -> Result<(), Problem> {
        debug_assert!(mark != Mark::Unseen, "marking a page unseen");
        let end = id.saturating_add(pages);
        if id < FIRST_DATA_PAGE || end > self.pages() {
            return Err(Problem {
                page: id,
                reason: format!("reference to pages {id}..{end} out of range"),
            });
        }
        for p in id..end {
            let was = self.marks[p as usize];
            if was != Mark::Unseen {
                let what = if was == Mark::Free { "free" } else { "in use" };
                return Err(Problem {
                    page: p,
                    reason: format!("page referenced again (already {what})"),
                });
            }
        }
        self.marks[id as usize..end as usize].fill(mark);
        self.marked += pages;
        Ok(())
    }

    /// The data pages nothing marked, in order.
    pub(crate) fn unseen(&self) -> impl Iterator<Item = u64> + '_ {
        (FIRST_DATA_PAGE..self.pages()).filter(|&id| self.marks[id as usize] == Mark::Unseen)
    }
}

/// A branch or leaf page where the walk meets it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeAt<'k> {
    pub(crate) id: PageId,
    /// 0 at the root.
    pub(crate) level: u32,
    /// Whether its place in the tree makes it a leaf.
    pub(crate) leaf: bool,
    /// The separators its parent puts around it: its keys (after a branch's
    /// cell 0) must be at least `lo` and below `hi`; `None` is unbounded.
    pub(crate) lo: Option<&'k [u8]>,
    pub(crate) hi: Option<&'k [u8]>,
}

/// Why a page the walk reached could not be used.
#[derive(Debug)]
pub(crate) enum Unusable {
    /// Outside the marks, or reached before (a cycle, or a page two
    /// references share).
    Marked(Problem),
    /// It did not read, verify or decode as the node its place calls for.
    Bad(Error),
}

impl Unusable {
    /// As one problem at page `id`, the page the walk tried to use.
    pub(crate) fn into_problem(self, id: PageId) -> Problem {
        match self {
            Unusable::Marked(p) => p,
            Unusable::Bad(e) => Problem {
                page: id.0,
                reason: e.to_string(),
            },
        }
    }
}

/// What a caller of [`Walker::tree`] does with the pages and entries.
pub(crate) trait TreeVisitor<'a> {
    /// Page `at`'s bytes as read, before they are decoded.
    fn read(&mut self, _walker: &mut Walker<'a>, _at: &NodeAt<'_>, _bytes: &[u8]) {}

    /// Page `at`, decoded as the node its place calls for. Returns whether
    /// to go into it: a leaf's entries, a branch's children.
    fn node(&mut self, walker: &mut Walker<'a>, at: &NodeAt<'_>, node: Node<'_>) -> bool;

    /// An entry of the leaf the walk last went into, in slot order.
    fn entry(&mut self, _walker: &mut Walker<'a>, _key: &[u8], _value: CellValue<'_>) {}

    /// Page `at` could not be used; nothing under it is visited.
    fn unusable(&mut self, at: &NodeAt<'_>, why: Unusable);

    /// A cell of page `page`, which the walk went into, does not decode;
    /// the walk goes on with the next cell.
    fn bad_cell(&mut self, page: PageId, e: Error);

    /// Whether to end the walk now (checked before each page and entry).
    fn stopped(&self) -> bool {
        false
    }
}

/// One walk over a state's pages: where it reads them and which it has
/// reached.
pub(crate) struct Walker<'a> {
    pub(crate) src: PageSource<'a>,
    pub(crate) marks: Marks,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(src: PageSource<'a>, marks: Marks) -> Walker<'a> {
        Walker { src, marks }
    }

    /// Walks the tree `desc` describes, depth first in key order. Returns
    /// how many entries the leaves it went into hold, or a problem with the
    /// descriptor itself (a depth over `DEPTH_MAX`) when it walks nothing.
    pub(crate) fn tree(
        &mut self,
        desc: &TreeDesc,
        visit: &mut dyn TreeVisitor<'a>,
    ) -> Result<u64, Problem> {
        if desc.depth == 0 {
            return Ok(0);
        }
        if desc.depth > DEPTH_MAX {
            return Err(Problem {
                page: desc.root.0,
                reason: format!("depth {} over bound", desc.depth),
            });
        }
        let root = NodeAt {
            id: desc.root,
            level: 0,
            leaf: desc.depth == 1,
            lo: None,
            hi: None,
        };
        let mut entries = 0;
        self.node(root, desc.depth, visit, &mut entries);
        Ok(entries)
    }

    /// Marks the overflow run of a `len`-byte value at `page` and reads it
    /// whole, verified.
    pub(crate) fn run(&mut self, page: PageId, len: u32) -> Result<Cow<'a, [u8]>, Unusable> {
        let pages = overflow::run_pages(len as usize, self.src.page_bytes());
        self.marks
            .mark(page.0, pages, Mark::Used)
            .map_err(Unusable::Marked)?;
        self.src.overflow_run(page, len).map_err(Unusable::Bad)
    }

    /// Page `at` and, if the visitor goes into it, what is under it. The
    /// recursion is at most `depth <= DEPTH_MAX` deep.
    fn node(
        &mut self,
        at: NodeAt<'_>,
        depth: u32,
        visit: &mut dyn TreeVisitor<'a>,
        entries: &mut u64,
    ) {
        if visit.stopped() {
            return;
        }
        if let Err(p) = self.marks.mark(at.id.0, 1, Mark::Used) {
            return visit.unusable(&at, Unusable::Marked(p));
        }
        let bytes = match self.src.page(at.id) {
            Ok(b) => b,
            Err(e) => return visit.unusable(&at, Unusable::Bad(e)),
        };
        visit.read(self, &at, &bytes);
        let node = match Node::new(&bytes, at.id, at.leaf) {
            Ok(n) => n,
            Err(e) => return visit.unusable(&at, Unusable::Bad(e)),
        };
        if !visit.node(self, &at, node) {
            return;
        }
        if at.leaf {
            self.leaf_entries(node, visit, entries);
        } else {
            self.children(&at, node, depth, visit, entries);
        }
    }

    fn leaf_entries(&mut self, node: Node<'_>, visit: &mut dyn TreeVisitor<'a>, entries: &mut u64) {
        for i in 0..node.count() {
            if visit.stopped() {
                return;
            }
            *entries += 1;
            match node.entry(i) {
                Ok((key, value)) => visit.entry(self, key, value),
                Err(e) => visit.bad_cell(node.id(), e),
            }
        }
    }

    /// Each child of branch `at`, between the separators around it. A key
    /// that does not decode leaves no bounds to give, so no child is
    /// visited; a child reference that does not decode skips that child.
    fn children(
        &mut self,
        at: &NodeAt<'_>,
        node: Node<'_>,
        depth: u32,
        visit: &mut dyn TreeVisitor<'a>,
        entries: &mut u64,
    ) {
        let mut keys = Vec::with_capacity(node.count());
        for i in 0..node.count() {
            match node.key(i) {
                Ok(k) => keys.push(k),
                Err(e) => return visit.bad_cell(at.id, e),
            }
        }
        for i in 0..node.count() {
            let child = match node.child(i) {
                Ok(c) => c,
                Err(e) => {
                    visit.bad_cell(at.id, e);
                    continue;
                }
            };
            let below = NodeAt {
                id: child,
                level: at.level + 1,
                leaf: at.level + 2 == depth,
                lo: if i == 0 { at.lo } else { Some(keys[i]) },
                hi: keys.get(i + 1).copied().or(at.hi),
            };
            self.node(below, depth, visit, entries);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::node::{branch_cell, build_node, leaf_cell};
    use crate::format::{PageKind, TxnId, seal_page};

    const P: usize = 4096;

    /// A file of `count` pages holding `pages` (id, bytes), each sealed.
    fn file_with(pages: Vec<(u64, Vec<u8>)>, count: u64) -> (tempfile::TempDir, DataFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("walk.oak");
        let mut b = vec![0u8; count as usize * P];
        for (id, mut page) in pages {
            seal_page(&mut page, PageId(id), TxnId(1));
            b[id as usize * P..(id as usize + 1) * P].copy_from_slice(&page);
        }
        std::fs::write(&path, b).unwrap();
        let (file, _) = DataFile::open(&path, None).unwrap();
        (dir, file)
    }

    fn leaf(keys: &[&[u8]]) -> Vec<u8> {
        let cells: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| leaf_cell(k, CellValue::Inline(b"v")))
            .collect();
        let refs: Vec<&[u8]> = cells.iter().map(Vec::as_slice).collect();
        let mut b = vec![0u8; P];
        build_node(&mut b, PageKind::Leaf, &refs);
        b
    }

    fn branch(children: &[(&[u8], u64)]) -> Vec<u8> {
        let cells: Vec<Vec<u8>> = children
            .iter()
            .map(|(k, c)| branch_cell(k, PageId(*c)))
            .collect();
        let refs: Vec<&[u8]> = cells.iter().map(Vec::as_slice).collect();
        let mut b = vec![0u8; P];
        build_node(&mut b, PageKind::Branch, &refs);
        b
    }

    /// A separator around a page, owned.
    type Bound = Option<Vec<u8>>;

    /// What a walk met, in order.
    #[derive(Default)]
    struct Seen {
        /// Page, level and the separators around it.
        nodes: Vec<(u64, u32, Bound, Bound)>,
        entries: Vec<Vec<u8>>,
        unusable: Vec<u64>,
    }

    impl<'a> TreeVisitor<'a> for Seen {
        fn node(&mut self, _: &mut Walker<'a>, at: &NodeAt<'_>, _: Node<'_>) -> bool {
            let bound = |b: Option<&[u8]>| b.map(<[u8]>::to_vec);
            self.nodes
                .push((at.id.0, at.level, bound(at.lo), bound(at.hi)));
            true
        }
        fn entry(&mut self, _: &mut Walker<'a>, key: &[u8], _: CellValue<'_>) {
            self.entries.push(key.to_vec());
        }
        fn unusable(&mut self, at: &NodeAt<'_>, why: Unusable) {
            self.unusable.push(why.into_problem(at.id).page);
        }
        fn bad_cell(&mut self, page: PageId, e: Error) {
            panic!("page {}: {e}", page.0);
        }
    }

    /// Walks `desc` in `file` of `count` pages, with a source that checks
    /// pages as a verifying mapping does (`verify`) or only their self id.
    fn walk(
        file: &DataFile,
        count: u64,
        desc: TreeDesc,
        verify: bool,
    ) -> (Result<u64, Problem>, Seen) {
        let src = PageSource::Pread {
            file,
            page_count: count,
            page_bytes: P,
            verify,
        };
        let mut seen = Seen::default();
        let got = Walker::new(src, Marks::new(count as usize)).tree(&desc, &mut seen);
        (got, seen)
    }

    fn desc(root: u64, depth: u32) -> TreeDesc {
        TreeDesc {
            root: PageId(root),
            len: 0,
            depth,
        }
    }

    #[test]
    fn visits_pages_and_entries_in_key_order() {
        let (_d, file) = file_with(
            vec![
                (3, branch(&[(b"", 4), (b"c", 5)])),
                (4, leaf(&[b"a", b"b"])),
                (5, leaf(&[b"c", b"d"])),
            ],
            6,
        );
        for verify in [false, true] {
            let (got, seen) = walk(&file, 6, desc(3, 2), verify);
            assert_eq!(got, Ok(4));
            assert_eq!(seen.entries, [b"a", b"b", b"c", b"d"]);
            let c = Some(b"c".to_vec());
            assert_eq!(
                seen.nodes,
                [(3, 0, None, None), (4, 1, None, c.clone()), (5, 1, c, None)]
            );
            assert!(seen.unusable.is_empty());
        }
    }

    #[test]
    fn a_shared_page_or_a_cycle_is_reported_not_entered() {
        // Branch 3 names leaf 4 twice; branch 5 names itself.
        let (_d, file) = file_with(
            vec![
                (3, branch(&[(b"", 4), (b"m", 4)])),
                (4, leaf(&[b"a"])),
                (5, branch(&[(b"", 5), (b"m", 4)])),
            ],
            6,
        );
        let (got, seen) = walk(&file, 6, desc(3, 2), false);
        assert_eq!(got, Ok(1));
        assert_eq!(seen.unusable, [4]);
        let (got, seen) = walk(&file, 6, desc(5, DEPTH_MAX), false);
        assert_eq!(got, Ok(0), "leaf 4 sits where a branch belongs");
        assert_eq!(seen.unusable, [5, 4]);
        // A verifying source refuses a branch that names a child twice
        // itself, as the mapping does.
        let (got, seen) = walk(&file, 6, desc(3, 2), true);
        assert_eq!((got, seen.unusable), (Ok(0), vec![3]));
    }

    #[test]
    fn unreadable_or_misplaced_pages_are_reported() {
        // Leaf 3 where a branch belongs; branch 4 with a child past the
        // state; branch 6 over leaf 5, whose checksum will fail.
        let (_d, file) = file_with(
            vec![
                (3, leaf(&[b"a"])),
                (4, branch(&[(b"", 9), (b"m", 5)])),
                (5, leaf(&[b"n"])),
                (6, branch(&[(b"", 5)])),
            ],
            7,
        );
        for verify in [false, true] {
            let (got, seen) = walk(&file, 7, desc(3, 2), verify);
            assert_eq!((got, seen.unusable), (Ok(0), vec![3]));
        }
        let (got, seen) = walk(&file, 7, desc(4, 2), false);
        assert_eq!((got, seen.unusable), (Ok(1), vec![9]));
        let (got, seen) = walk(&file, 7, desc(4, 2), true);
        assert_eq!((got, seen.unusable), (Ok(0), vec![4]), "as the mapping");
        let mut flipped = std::fs::read(file.path()).unwrap();
        flipped[5 * P + 100] ^= 1;
        std::fs::write(file.path(), flipped).unwrap();
        let (got, seen) = walk(&file, 7, desc(6, 2), false);
        assert_eq!(
            (got, seen.unusable),
            (Ok(1), vec![]),
            "checksum left to the caller"
        );
        let (got, seen) = walk(&file, 7, desc(6, 2), true);
        assert_eq!((got, seen.unusable), (Ok(0), vec![5]));
    }

    #[test]
    fn a_depth_over_the_bound_walks_nothing() {
        let (_d, file) = file_with(vec![(3, leaf(&[b"a"]))], 4);
        let (got, seen) = walk(&file, 4, desc(3, DEPTH_MAX + 1), true);
        assert_eq!(got.unwrap_err().page, 3);
        assert!(seen.nodes.is_empty());
        assert_eq!(walk(&file, 4, desc(0, 0), true).0, Ok(0));
    }

    #[test]
    fn marks_refuse_a_page_twice_and_mark_all_or_none() {
        let mut m = Marks::new(10);
        m.mark(3, 2, Mark::Used).unwrap();
        assert_eq!(m.mark(4, 1, Mark::Free).unwrap_err().page, 4);
        assert_eq!(m.mark(6, 3, Mark::Used), Ok(()));
        let e = m.mark(9, 2, Mark::Used).unwrap_err();
        assert!(e.reason.contains("out of range"), "{}", e.reason);
        assert!(m.mark(2, 1, Mark::Used).is_err(), "the meta slots");
        assert!(m.mark(5, 1, Mark::Used).is_ok());
        assert_eq!(m.mark(9, 1, Mark::Free), Ok(()));
        assert_eq!(m.mark(u64::MAX, 2, Mark::Used).unwrap_err().page, u64::MAX);
        assert_eq!(m.marked(), 7);
        assert_eq!(m.unseen().count(), 0);
    }
}
