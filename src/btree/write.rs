//! Copy-on-write changes to a tree: insert (with splits), remove (with merges)
//! and dropping a whole tree.
//!
//! Every change copies the path from the root to the leaf it touches
//! (`Pager::make_dirty`), so a committed page is never modified. Splits keep
//! both halves within a page because no cell is larger than a third of the page
//! body (`format::cell_bytes_max`). A split cuts a node in halves of nearly
//! equal bytes, except after an append at the end of its parent's last child
//! (or before the start of its first child): there the old page keeps all it
//! can, so a load in key order leaves full pages behind it (`Edge`).
//!
//! A node under a third full after a removal is merged with a neighbour when
//! the two fit in one page, or else evened out with it (`rebalance_child`);
//! an empty node is removed from its parent, and a root branch with a single
//! child is replaced by that child, so a shrinking tree gives its pages back.
//! A third, not a half: a fresh split leaves halves of about a half, and the
//! gap keeps a mix of inserts and removals from splitting and merging the
//! same pages over and over.

use crate::error::{Error, Limit, Result};
use crate::format::node::{
    BRANCH_CELL_HEADER, CellValue, SLOT_BYTES, branch_cell, build_node, cell_child, cell_key,
    free_bytes, init_node, insert_cell, leaf_cell, remove_cell, set_child, value_inline,
};
use crate::format::{DEPTH_MAX, PAGE_HEADER_BYTES, PageId, PageKind, TreeDesc};
use crate::pager::Pager;

use super::cursor::get;

/// A split's result: the separator and the new right sibling.
type Split = (Vec<u8>, PageId);

/// Inserts or replaces `key`; returns whether it was already present.
/// The caller has checked the key and value limits.
pub(crate) fn insert(
    p: &mut Pager<'_>,
    desc: &mut TreeDesc,
    key: &[u8],
    value: &[u8],
) -> Result<bool> {
    let cell = if value_inline(key.len(), value.len(), p.page_bytes) {
        leaf_cell(key, CellValue::Inline(value))
    } else {
        let page = p.write_overflow(value)?;
        leaf_cell(
            key,
            CellValue::Overflow {
                page,
                len: value.len() as u32,
            },
        )
    };
    if desc.depth == 0 {
        let id = p.alloc_dirty()?;
        let b = p.page_mut(id)?;
        init_node(b, PageKind::Leaf);
        let ok = insert_cell(b, 0, &cell);
        assert!(ok, "a cell always fits an empty leaf");
        *desc = TreeDesc {
            root: id,
            len: 1,
            depth: 1,
        };
        return Ok(false);
    }
    let old_root = desc.root;
    let (root, split, replaced) = insert_at(p, desc.root, 1, desc.depth, key, &cell, Ends::BOTH)?;
    desc.root = root;
    if let Some((sep, right)) = split {
        if desc.depth >= DEPTH_MAX {
            return Err(Error::LimitExceeded {
                what: Limit::Depth,
                actual: u64::from(desc.depth) + 1,
                max: u64::from(DEPTH_MAX),
            });
        }
        let new_root = p.alloc_dirty()?;
        let cells = [branch_cell(b"", root), branch_cell(&sep, right)];
        build_node(
            p.page_mut(new_root)?,
            PageKind::Branch,
            &[&cells[0], &cells[1]],
        );
        desc.root = new_root;
        desc.depth += 1;
    }
    if !replaced {
        desc.len = desc
            .len
            .checked_add(1)
            .ok_or_else(|| Error::corrupt(old_root.0, "tree length overflows on insert"))?;
    }
    Ok(replaced)
}

fn insert_at(
    p: &mut Pager<'_>,
    id: PageId,
    level: u32,
    depth: u32,
    key: &[u8],
    cell: &[u8],
    ends: Ends,
) -> Result<(PageId, Option<Split>, bool)> {
    let id = p.make_dirty(id)?;
    if level == depth {
        let node = p.src().node(id, true)?;
        let (idx, old) = match node.search(key)? {
            Ok(i) => (i, Some((node.cell(i)?.len(), overflow_of(node.value(i)?)))),
            Err(i) => (i, None),
        };
        if let Some((len, ovf)) = old {
            if let Some((page, vlen)) = ovf {
                p.free_overflow(page, vlen)?;
            }
            remove_cell(p.page_mut(id)?, id, idx, len)?;
        }
        if insert_cell(p.page_mut(id)?, idx, cell) {
            return Ok((id, None, old.is_some()));
        }
        let split = split(p, id, true, idx, cell, ends.unless(old.is_some()))?;
        return Ok((id, Some(split), old.is_some()));
    }
    let node = p.src().node(id, false)?;
    let idx = node.child_index(key)?;
    let child = node.child(idx)?;
    let child_ends = Ends {
        first: idx == 0,
        last: idx + 1 == node.count(),
    };
    let (new_child, split, replaced) =
        insert_at(p, child, level + 1, depth, key, cell, child_ends)?;
    if new_child != child {
        set_child(p.page_mut(id)?, id, idx, new_child)?;
    }
    let Some((sep, right)) = split else {
        return Ok((id, None, replaced));
    };
    let cell = branch_cell(&sep, right);
    if insert_cell(p.page_mut(id)?, idx + 1, &cell) {
        return Ok((id, None, replaced));
    }
    let split = self::split(p, id, false, idx + 1, &cell, ends)?;
    Ok((id, Some(split), replaced))
}

fn overflow_of(v: CellValue<'_>) -> Option<(PageId, u32)> {
    match v {
        CellValue::Overflow { page, len } => Some((page, len)),
        CellValue::Inline(_) => None,
    }
}

/// Which ends of its parent's key range a node holds: whether it is the
/// parent's first (last) child. The root holds both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ends {
    first: bool,
    last: bool,
}

impl Ends {
    const BOTH: Ends = Ends {
        first: true,
        last: true,
    };
    const NONE: Ends = Ends {
        first: false,
        last: false,
    };

    /// `NONE` when `cond` holds, else `self`.
    fn unless(self, cond: bool) -> Ends {
        if cond { Ends::NONE } else { self }
    }
}

/// Where an insert put the cell that overflowed a node, which decides how the
/// node splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// After every other cell of a node that is its parent's last child: an
    /// append, as in a load of ascending keys.
    Right,
    /// Before every other cell of a node that is its parent's first child
    /// (for a branch, right after its cell 0): a load of descending keys.
    Left,
    /// Anywhere else, or a replaced value: no pattern to follow.
    Inner,
}

impl Edge {
    /// The edge of new cell `idx` among `len` cells, for a node holding
    /// `ends` whose halves keep at least `min` cells each.
    ///
    /// Only a node at its parent's end counts, as in SQLite's
    /// `balance_quick`: a random insert also lands past the last key of some
    /// page now and then (one split in twenty with ~20 entries a page), and
    /// cutting that page at its end would leave a new page with one entry and
    /// a narrow key range that few later inserts reach. Cut so at every page,
    /// 200,000 random inserts filled 67% of the node bytes instead of 69.5%;
    /// a load in key order appends at the last child of every level, so it
    /// keeps its full pages.
    fn of(idx: usize, len: usize, min: usize, ends: Ends) -> Edge {
        if ends.last && idx + 1 == len {
            Edge::Right
        } else if ends.first && idx < min {
            Edge::Left
        } else {
            Edge::Inner
        }
    }
}

/// Splits dirty page `id`, which overflowed when `new_cell` was to go in at
/// `idx`: the lower cells stay in `id`, the upper ones move to a new page.
/// `ends` are the node's ends of the key space (`Ends::NONE` when the cell
/// replaced a value, which is no sign of a load in key order).
fn split(
    p: &mut Pager<'_>,
    id: PageId,
    leaf: bool,
    idx: usize,
    new_cell: &[u8],
    ends: Ends,
) -> Result<Split> {
    let node = p.src().node(id, leaf)?;
    let mut cells: Vec<Vec<u8>> = Vec::with_capacity(node.count() + 1);
    for i in 0..node.count() {
        cells.push(node.cell(i)?.to_vec());
    }
    cells.insert(idx, new_cell.to_vec());
    let min = min_cells(leaf);
    let edge = Edge::of(idx, cells.len(), min, ends);
    let m = split_point(&cells, min, p.page_bytes - PAGE_HEADER_BYTES, edge);
    let (sep, right_cells) = divide(&mut cells, m, leaf, id)?;
    let right = p.alloc_dirty()?;
    build(p, id, leaf, &cells)?;
    build(p, right, leaf, &right_cells)?;
    Ok((sep, right))
}

/// The fewest cells a node split or rebalanced in two keeps on each side: a
/// branch keeps two, so that neither half is a branch with a single child.
fn min_cells(leaf: bool) -> usize {
    if leaf { 1 } else { 2 }
}

/// Cuts `cells` (one node's worth, in key order) at `m`: the lower ones stay
/// in `cells`; returns the separator and the upper ones. A branch's cell `m`
/// gives its key to the separator and keeps its child with an empty key, as
/// every branch's cell 0 does.
fn divide(
    cells: &mut Vec<Vec<u8>>,
    m: usize,
    leaf: bool,
    id: PageId,
) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut right = cells.split_off(m);
    if !leaf {
        let sep = cell_key(&right[0], false).to_vec();
        right[0] = branch_cell(b"", cell_child(&right[0]));
        return Ok((sep, right));
    }
    let (left_key, right_key) = (cell_key(&cells[m - 1], true), cell_key(&right[0], true));
    // A validated leaf is in order, and a new key went where the search put
    // it; a leaf holding keys outside its parent's range (which no single
    // page shows) can still break that here.
    if left_key >= right_key {
        return Err(Error::corrupt(id.0, "keys out of order around a split"));
    }
    Ok((separator(left_key, right_key), right))
}

/// Rebuilds dirty page `id` as a node holding exactly `cells`.
pub(super) fn build(p: &mut Pager<'_>, id: PageId, leaf: bool, cells: &[Vec<u8>]) -> Result<()> {
    let kind = if leaf {
        PageKind::Leaf
    } else {
        PageKind::Branch
    };
    let refs: Vec<&[u8]> = cells.iter().map(Vec::as_slice).collect();
    build_node(p.page_mut(id)?, kind, &refs);
    Ok(())
}

/// Bytes a cell takes in a node: itself and its slot.
pub(super) fn cell_size(c: &[u8]) -> usize {
    c.len() + SLOT_BYTES
}

/// Where to cut `cells`, which overflowed a node of `body_bytes`, keeping at
/// least `min` cells on each side.
///
/// At an edge the cut follows the load: after an append (`Edge::Right`) the
/// lower page keeps every cell that fits, so a load of ascending keys leaves
/// full pages behind it instead of half-full ones, and the upper page starts
/// with the new cell; `Edge::Left` is the mirror image for descending keys.
/// Anywhere else the two halves get nearly equal bytes, so random inserts
/// find room on both sides.
fn split_point(cells: &[Vec<u8>], min: usize, body_bytes: usize, edge: Edge) -> usize {
    assert!(cells.len() >= 2 * min, "split of {} cells", cells.len());
    let (lo, hi) = (min, cells.len() - min);
    let fits = |cells: &[Vec<u8>]| cells.iter().map(|c| cell_size(c)).sum::<usize>() <= body_bytes;
    match edge {
        Edge::Right if fits(&cells[..hi]) => hi,
        Edge::Left if fits(&cells[lo..]) => lo,
        _ => {
            let total: usize = cells.iter().map(|c| cell_size(c)).sum();
            let mut acc = 0;
            let mut m = 0;
            while m < cells.len() && acc + cell_size(&cells[m]) <= total / 2 {
                acc += cell_size(&cells[m]);
                m += 1;
            }
            m.clamp(lo, hi)
        }
    }
}

/// The shortest key `s` with `left < s <= right`: a prefix of `right`.
pub(crate) fn separator(left: &[u8], right: &[u8]) -> Vec<u8> {
    debug_assert!(left < right, "separator of unordered keys");
    let common = left.iter().zip(right).take_while(|(a, b)| a == b).count();
    right[..(common + 1).min(right.len())].to_vec()
}

/// How full a node is after a removal: `Under` is under a third of the page
/// body (see the module comment for why a third).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Empty,
    Under,
    Enough,
}

fn fill_of(p: &Pager<'_>, id: PageId, leaf: bool) -> Result<Fill> {
    let node = p.src().node(id, leaf)?;
    Ok(if node.count() == 0 {
        Fill::Empty
    } else if node.used_bytes() < (p.page_bytes - PAGE_HEADER_BYTES) / 3 {
        Fill::Under
    } else {
        Fill::Enough
    })
}

/// Removes `key`; returns whether it was present.
pub(crate) fn remove(p: &mut Pager<'_>, desc: &mut TreeDesc, key: &[u8]) -> Result<bool> {
    // Probe first, so a miss copies no pages.
    if get(p.src(), desc, key)?.is_none() {
        return Ok(false);
    }
    let len = desc.len.checked_sub(1).ok_or_else(|| {
        Error::corrupt(
            desc.root.0,
            "tree length is 0, but the tree holds the key removed",
        )
    })?;
    let (root, fill) = remove_at(p, desc.root, 1, desc.depth, key)?;
    desc.root = root;
    desc.len = len;
    if fill == Fill::Empty {
        p.free_page(root)?;
        *desc = TreeDesc::default();
        return Ok(true);
    }
    while desc.depth > 1 {
        let node = p.src().node(desc.root, false)?;
        if node.count() != 1 {
            break;
        }
        let only = node.child(0)?;
        p.free_page(desc.root)?;
        desc.root = only;
        desc.depth -= 1;
    }
    Ok(true)
}

fn remove_at(
    p: &mut Pager<'_>,
    id: PageId,
    level: u32,
    depth: u32,
    key: &[u8],
) -> Result<(PageId, Fill)> {
    let id = p.make_dirty(id)?;
    if level == depth {
        let node = p.src().node(id, true)?;
        let Ok(i) = node.search(key)? else {
            return Err(Error::corrupt(
                id.0,
                "key found by lookup is missing on removal",
            ));
        };
        let len = node.cell(i)?.len();
        if let Some((page, vlen)) = overflow_of(node.value(i)?) {
            p.free_overflow(page, vlen)?;
        }
        remove_cell(p.page_mut(id)?, id, i, len)?;
        return Ok((id, fill_of(p, id, true)?));
    }
    let node = p.src().node(id, false)?;
    let idx = node.child_index(key)?;
    let child = node.child(idx)?;
    let child_is_leaf = level + 1 == depth;
    let (new_child, fill) = remove_at(p, child, level + 1, depth, key)?;
    if new_child != child {
        set_child(p.page_mut(id)?, id, idx, new_child)?;
    }
    match fill {
        Fill::Empty => {
            p.free_page(new_child)?;
            remove_branch_cell(p, id, idx)?;
        }
        Fill::Under => rebalance_child(p, id, idx, child_is_leaf)?,
        Fill::Enough => {}
    }
    Ok((id, fill_of(p, id, false)?))
}

/// Removes cell `idx` of dirty branch `id`, keeping cell 0's key empty.
fn remove_branch_cell(p: &mut Pager<'_>, id: PageId, idx: usize) -> Result<()> {
    let node = p.src().node(id, false)?;
    let len = node.cell(idx)?.len();
    remove_cell(p.page_mut(id)?, id, idx, len)?;
    let node = p.src().node(id, false)?;
    if idx == 0 && node.count() > 0 && !node.key(0)?.is_empty() {
        let child = node.child(0)?;
        let len = node.cell(0)?.len();
        let b = p.page_mut(id)?;
        remove_cell(b, id, 0, len)?;
        let ok = insert_cell(b, 0, &branch_cell(b"", child));
        assert!(ok, "a shorter cell fits where a longer one was");
    }
    Ok(())
}

/// Rebalances the underfull child `idx` of dirty branch `parent` with a
/// neighbour. The two are merged into one page when they fit (the left
/// neighbour is tried first, then the right): that frees a page. Otherwise
/// the neighbour is over two thirds full, and cells move across so the two
/// hold nearly equal bytes, each about half a page. Without that move, a
/// node next to full ones (as a load in key order leaves them) could shrink
/// to a single cell and stay so.
fn rebalance_child(p: &mut Pager<'_>, parent: PageId, idx: usize, leaf: bool) -> Result<()> {
    let count = p.src().node(parent, false)?.count();
    if count < 2 {
        return Ok(());
    }
    // Each pair is named by its left member's index in `parent`.
    let pairs = [idx.checked_sub(1), (idx + 1 < count).then_some(idx)];
    let body = p.page_bytes - PAGE_HEADER_BYTES;
    for l in pairs.iter().flatten() {
        if pair_bytes(p, parent, *l, leaf)? <= body {
            return merge_pair(p, parent, *l, leaf);
        }
    }
    let l = pairs.iter().flatten().next();
    let l = *l.expect("a branch of two or more cells has a neighbour for each");
    redistribute(p, parent, l, leaf)
}

/// Bytes that children `l` and `l + 1` of `parent` would take in one node.
fn pair_bytes(p: &Pager<'_>, parent: PageId, l: usize, leaf: bool) -> Result<usize> {
    let node = p.src().node(parent, false)?;
    let left = p.src().node(node.child(l)?, leaf)?;
    let right = p.src().node(node.child(l + 1)?, leaf)?;
    // A branch's right cell 0 takes the separator as its key.
    let pulled_down = if leaf { 0 } else { node.key(l + 1)?.len() };
    Ok(left.used_bytes() + right.used_bytes() + pulled_down)
}

/// The cells of children `l` and `l + 1` of `parent`, in key order, as one
/// node would hold them: a branch's right cell 0 takes the separator as key.
fn pair_cells(p: &Pager<'_>, parent: PageId, l: usize, leaf: bool) -> Result<Vec<Vec<u8>>> {
    let node = p.src().node(parent, false)?;
    let sep = node.key(l + 1)?;
    let left = p.src().node(node.child(l)?, leaf)?;
    let right = p.src().node(node.child(l + 1)?, leaf)?;
    let mut cells: Vec<Vec<u8>> = Vec::with_capacity(left.count() + right.count());
    for i in 0..left.count() {
        cells.push(left.cell(i)?.to_vec());
    }
    for i in 0..right.count() {
        if i == 0 && !leaf {
            cells.push(branch_cell(sep, right.child(0)?));
        } else {
            cells.push(right.cell(i)?.to_vec());
        }
    }
    Ok(cells)
}

/// Merges children `l` and `l + 1` of dirty branch `parent`, which fit in one
/// page, into (a dirty copy of) the left one, and frees the right one.
fn merge_pair(p: &mut Pager<'_>, parent: PageId, l: usize, leaf: bool) -> Result<()> {
    let cells = pair_cells(p, parent, l, leaf)?;
    let node = p.src().node(parent, false)?;
    let (lid, rid) = (node.child(l)?, node.child(l + 1)?);
    let lid = p.make_dirty(lid)?;
    build(p, lid, leaf, &cells)?;
    p.free_page(rid)?;
    set_child(p.page_mut(parent)?, parent, l, lid)?;
    remove_branch_cell(p, parent, l + 1)
}

/// Evens out children `l` and `l + 1` of dirty branch `parent`, which do not
/// fit in one page, by cutting their cells where a split would, and gives the
/// right one the new separator. When the parent has no room for a longer
/// separator, nothing changes: the node stays underfull until a later
/// removal tries again, which is what every removal did before.
fn redistribute(p: &mut Pager<'_>, parent: PageId, l: usize, leaf: bool) -> Result<()> {
    let mut cells = pair_cells(p, parent, l, leaf)?;
    let node = p.src().node(parent, false)?;
    let (lid, rid) = (node.child(l)?, node.child(l + 1)?);
    let old_len = node.cell(l + 1)?.len();
    let room = free_bytes(node.bytes()) + old_len;
    let body = p.page_bytes - PAGE_HEADER_BYTES;
    let m = split_point(&cells, min_cells(leaf), body, Edge::Inner);
    let (sep, right_cells) = divide(&mut cells, m, leaf, lid)?;
    if room < BRANCH_CELL_HEADER + sep.len() {
        return Ok(());
    }
    let (lid, rid) = (p.make_dirty(lid)?, p.make_dirty(rid)?);
    build(p, lid, leaf, &cells)?;
    build(p, rid, leaf, &right_cells)?;
    set_child(p.page_mut(parent)?, parent, l, lid)?;
    let b = p.page_mut(parent)?;
    remove_cell(b, parent, l + 1, old_len)?;
    let ok = insert_cell(b, l + 1, &branch_cell(&sep, rid));
    assert!(ok, "the separator was checked to fit");
    Ok(())
}

/// Frees every page of the tree `desc`: nodes and overflow runs. Reads the
/// whole tree before freeing anything; each run is checked as it is freed
/// (`Pager::free_overflow`), and an error leaves the transaction failed.
pub(crate) fn free_all(p: &mut Pager<'_>, desc: &TreeDesc) -> Result<()> {
    if desc.depth == 0 {
        return Ok(());
    }
    let mut nodes: Vec<PageId> = Vec::new();
    let mut runs: Vec<(PageId, u32)> = Vec::new();
    let mut level_ids = vec![desc.root];
    for level in 1..=desc.depth {
        let leaf = level == desc.depth;
        let mut next = Vec::new();
        for &id in &level_ids {
            let node = p.src().node(id, leaf)?;
            for i in 0..node.count() {
                if leaf {
                    runs.extend(overflow_of(node.value(i)?));
                } else {
                    next.push(node.child(i)?);
                }
            }
            nodes.push(id);
        }
        level_ids = next;
    }
    for (page, len) in runs {
        p.free_overflow(page, len)?;
    }
    for id in nodes {
        p.free_page(id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_is_shortest_between() {
        assert_eq!(separator(b"apple", b"banana"), b"b");
        assert_eq!(separator(b"abc", b"abd"), b"abd");
        assert_eq!(separator(b"ab", b"abc"), b"abc");
        assert_eq!(separator(b"", b"a"), b"a");
        assert_eq!(separator(b"a1", b"a2zz"), b"a2");
    }

    fn sized(sizes: &[usize]) -> Vec<Vec<u8>> {
        sizes.iter().map(|&n| vec![0u8; n]).collect()
    }

    #[test]
    fn split_point_balances_and_respects_min() {
        let cells = sized(&[10, 10, 10, 10]);
        assert_eq!(split_point(&cells, 1, 4064, Edge::Inner), 2);
        let skew = sized(&[1000, 10, 10, 10]);
        assert_eq!(split_point(&skew, 2, 4064, Edge::Inner), 2);
        assert_eq!(split_point(&skew, 1, 4064, Edge::Inner), 1);
    }

    #[test]
    fn split_point_at_an_edge_keeps_the_old_page_full() {
        // Eleven cells of 370 bytes (with their slots) overflow a 4,064-byte
        // body by one.
        let cells = sized(&[368; 11]);
        assert_eq!(split_point(&cells, 1, 4064, Edge::Inner), 5);
        assert_eq!(split_point(&cells, 1, 4064, Edge::Right), 10);
        assert_eq!(split_point(&cells, 2, 4064, Edge::Right), 9);
        assert_eq!(split_point(&cells, 1, 4064, Edge::Left), 1);
        assert_eq!(split_point(&cells, 2, 4064, Edge::Left), 2);
        // A lower part that would not fit falls back to halves.
        let big = sized(&[1300, 1300, 1300, 1300, 10]);
        assert_eq!(split_point(&big, 1, 4064, Edge::Right), 2);
        let big = sized(&[10, 1300, 1300, 1300, 1300]);
        assert_eq!(split_point(&big, 1, 4064, Edge::Left), 2);
    }

    #[test]
    fn edge_of_new_cell() {
        let both = Ends::BOTH;
        assert_eq!(Edge::of(4, 5, 1, both), Edge::Right);
        assert_eq!(Edge::of(0, 5, 1, both), Edge::Left);
        assert_eq!(Edge::of(1, 5, 1, both), Edge::Inner);
        // A branch's insert is never at 0: right after cell 0 is its left edge.
        assert_eq!(Edge::of(1, 5, 2, both), Edge::Left);
        assert_eq!(Edge::of(2, 5, 2, both), Edge::Inner);
        // Inside the tree, an end of a node is no sign of a load in order.
        let last = Ends {
            first: false,
            last: true,
        };
        assert_eq!(Edge::of(4, 5, 1, last), Edge::Right);
        assert_eq!(Edge::of(0, 5, 1, last), Edge::Inner);
        assert_eq!(Edge::of(4, 5, 1, Ends::NONE), Edge::Inner);
        assert_eq!(Edge::of(0, 5, 1, Ends::NONE), Edge::Inner);
    }
}
