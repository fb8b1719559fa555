//! Walking every leaf of a tree in key order, with the page ids of the path
//! to each: what compaction plans from and what a backup copies from. A
//! cursor visits entries; this visits pages, once each.

use crate::error::{Error, Result};
use crate::format::node::Node;
use crate::format::{DEPTH_MAX, TreeDesc};
use crate::pager::MapSource;

/// A set of page ids below a state's page count, one bit each.
pub(crate) struct PageSet {
    words: Vec<u64>,
    /// Ids in the set.
    pub(crate) count: u64,
}

impl PageSet {
    pub(crate) fn new(pages: u64) -> PageSet {
        PageSet {
            words: vec![0; pages.div_ceil(64) as usize],
            count: 0,
        }
    }

    /// Adds `id`; false if it was there already. Ids past the state are
    /// never added: the page source refused them before they got here.
    pub(crate) fn insert(&mut self, id: u64) -> bool {
        let Some(w) = self.words.get_mut((id / 64) as usize) else {
            return false;
        };
        let bit = 1u64 << (id % 64);
        let new = *w & bit == 0;
        *w |= bit;
        self.count += u64::from(new);
        new
    }
}

/// Calls `f(path, leaf)` for every leaf of the tree `desc`, left to right,
/// with the page ids from the root down to the leaf. The descent is bounded
/// by the tree's depth, itself bounded by `DEPTH_MAX`; a page already in
/// `seen` (reached twice: a damaged reference) is `Corruption`.
pub(crate) fn leaves<'a>(
    src: MapSource<'a>,
    desc: &TreeDesc,
    seen: &mut PageSet,
    mut f: impl FnMut(&[u64], &Node<'a>) -> Result<()>,
) -> Result<()> {
    if desc.depth == 0 {
        return Ok(());
    }
    if desc.depth > DEPTH_MAX {
        return Err(Error::corrupt(desc.root.0, "tree deeper than the limit"));
    }
    let mut path: Vec<u64> = Vec::new();
    // Branches on the path, each with the next child to visit.
    let mut stack: Vec<(Node<'a>, usize)> = Vec::new();
    let mut next = Some(desc.root);
    loop {
        if let Some(id) = next.take() {
            let leaf = path.len() as u32 + 1 == desc.depth;
            let node = Node::new(src.page(id)?, id, leaf)?;
            if !seen.insert(id.0) {
                return Err(Error::corrupt(id.0, "page reached twice"));
            }
            path.push(id.0);
            if leaf {
                f(&path, &node)?;
                path.pop();
            } else {
                stack.push((node, 0));
            }
        }
        let Some((node, i)) = stack.last_mut() else {
            return Ok(());
        };
        if *i < node.count() {
            next = Some(node.child(*i)?);
            *i += 1;
        } else {
            stack.pop();
            path.pop();
        }
    }
}
