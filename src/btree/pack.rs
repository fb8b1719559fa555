//! Packing the leaves under one branch as full as they go: how compaction
//! gets back the room that random inserts and removals leave in leaves.
//!
//! A branch just above the leaves (a leaf's parent) is the unit: its leaves'
//! cells, in key order, are poured into new leaves, each filled until the
//! next cell does not fit, and the branch is rebuilt over them with the
//! shortest separators. The branch's own key range does not change, so
//! nothing above it does but the copies on its path (copy on write, as any
//! change). Cells move whole: an overflow reference still names its run,
//! which stays where it is. Keys and values are unchanged, so the change
//! needs no log operation: replaying the log after a crash reaches the same
//! entries whichever way the leaves were laid out.
//!
//! [`packing`] plans without changing anything (compaction's planner calls
//! it on a snapshot, the writer on its own pages) and [`repack`] carries the
//! plan out; both run the same greedy fill, so the planner's count of the
//! pages a repack saves is exact, and a branch whose leaves are packed
//! already saves none and is not planned again.

use crate::error::{Error, Result};
use crate::format::node::{
    BRANCH_CELL_HEADER, SLOT_BYTES, branch_cell, cell_key, compare_keys, set_child,
};
use crate::format::{PAGE_HEADER_BYTES, PageId, TreeDesc};
use crate::pager::{Pager, Src};

use super::write::{build, cell_size, separator};

/// How the leaves under branch `parent` pack: the number of cells of each
/// new leaf, in key order. `None` when the branch would not hold the
/// separators of the packed leaves (a separator can be longer than the
/// ones it replaces), or holds no cell: it is left as it is.
pub(crate) fn packing(
    src: Src<'_>,
    parent: PageId,
    page_bytes: usize,
) -> Result<Option<Vec<usize>>> {
    let body = page_bytes - PAGE_HEADER_BYTES;
    let node = src.node(parent, false)?;
    let mut counts = Vec::new();
    let (mut cells, mut bytes) = (0usize, 0usize);
    // The branch's first cell carries the empty key.
    let mut branch_bytes = BRANCH_CELL_HEADER + SLOT_BYTES;
    let mut prev: Option<&[u8]> = None;
    for c in 0..node.count() {
        let leaf = src.node(node.child(c)?, true)?;
        for i in 0..leaf.count() {
            let (cell, key) = (leaf.cell(i)?, leaf.key(i)?);
            if let Some(prev) = prev {
                if compare_keys(prev, key).is_ge() {
                    return Err(Error::corrupt(
                        leaf.id().0,
                        "keys out of order across leaves",
                    ));
                }
                if cells > 0 && bytes + cell_size(cell) > body {
                    counts.push(cells);
                    (cells, bytes) = (0, 0);
                    branch_bytes += BRANCH_CELL_HEADER + separator_len(prev, key) + SLOT_BYTES;
                }
            }
            cells += 1;
            bytes += cell_size(cell);
            prev = Some(key);
        }
    }
    if cells > 0 {
        counts.push(cells);
    }
    if counts.is_empty() || branch_bytes > body {
        return Ok(None);
    }
    Ok(Some(counts))
}

/// The length of `separator(left, right)`, without building it.
fn separator_len(left: &[u8], right: &[u8]) -> usize {
    let common = left.iter().zip(right).take_while(|(a, b)| a == b).count();
    (common + 1).min(right.len())
}

/// Packs the leaves under the branch on `key`'s path just above the leaves
/// (see the module comment). A tree of one leaf gets a copy of it, a move
/// and nothing more; a root branch left with one leaf gives way to it.
/// Returns the leaves saved; 0 (and no change) when `packing` declines.
pub(crate) fn repack(p: &mut Pager<'_>, desc: &mut TreeDesc, key: &[u8]) -> Result<u64> {
    match desc.depth {
        0 => return Ok(0),
        1 => {
            desc.root = p.make_dirty(desc.root)?;
            return Ok(0);
        }
        _ => {}
    }
    // Find the branch and plan, before copying anything.
    let mut parent = desc.root;
    for _ in 2..desc.depth {
        let node = p.src().node(parent, false)?;
        parent = node.child(node.child_index(key)?)?;
    }
    let Some(counts) = packing(p.src(), parent, p.page_bytes)? else {
        return Ok(0);
    };
    let (root, saved) = repack_at(p, desc.root, 1, desc.depth, key, &counts)?;
    desc.root = root;
    if desc.depth == 2 && counts.len() == 1 {
        let only = p.src().node(root, false)?.child(0)?;
        p.free_page(root)?;
        desc.root = only;
        desc.depth = 1;
    }
    Ok(saved)
}

/// Copies the path from `id` (at `level`) down to the leaves' parent and
/// repacks there; returns the copy's id and the leaves saved.
fn repack_at(
    p: &mut Pager<'_>,
    id: PageId,
    level: u32,
    depth: u32,
    key: &[u8],
    counts: &[usize],
) -> Result<(PageId, u64)> {
    let id = p.make_dirty(id)?;
    if level + 1 == depth {
        let saved = rebuild(p, id, counts)?;
        return Ok((id, saved));
    }
    let node = p.src().node(id, false)?;
    let idx = node.child_index(key)?;
    let child = node.child(idx)?;
    let (new_child, saved) = repack_at(p, child, level + 1, depth, key, counts)?;
    if new_child != child {
        set_child(p.page_mut(id)?, id, idx, new_child)?;
    }
    Ok((id, saved))
}

/// Rebuilds the leaves of dirty branch `parent` as `counts` says, and the
/// branch over them. The first leaves are rewritten in copies (each to the
/// lowest free page, which is how compaction moves them forward), the rest
/// freed. Returns the leaves saved.
fn rebuild(p: &mut Pager<'_>, parent: PageId, counts: &[usize]) -> Result<u64> {
    let node = p.src().node(parent, false)?;
    let mut old = Vec::with_capacity(node.count());
    let mut cells: Vec<Vec<u8>> = Vec::new();
    for c in 0..node.count() {
        let child = node.child(c)?;
        let leaf = p.src().node(child, true)?;
        for i in 0..leaf.count() {
            cells.push(leaf.cell(i)?.to_vec());
        }
        old.push(child);
    }
    if counts.iter().sum::<usize>() != cells.len() || counts.len() > old.len() {
        return Err(Error::corrupt(
            parent.0,
            "leaves changed between plan and repack",
        ));
    }
    let mut branch = Vec::with_capacity(counts.len());
    let mut start = 0;
    for (n, &count) in counts.iter().enumerate() {
        let group = &cells[start..start + count];
        let id = p.make_dirty(old[n])?;
        build(p, id, true, group)?;
        let sep = if n == 0 {
            Vec::new()
        } else {
            let left = cell_key(&cells[start - 1], true);
            separator(left, cell_key(&group[0], true))
        };
        branch.push(branch_cell(&sep, id));
        start += count;
    }
    for &id in &old[counts.len()..] {
        p.free_page(id)?;
    }
    build(p, parent, false, &branch)?;
    Ok((old.len() - counts.len()) as u64)
}
