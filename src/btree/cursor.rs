//! Lookups and cursors over a tree, read through a [`Src`].
//!
//! A cursor is the path from the root to a leaf cell: one `(node, index)` per
//! level. The tree's depth bounds the path, and every level checks that it
//! finds a branch above the last level and a leaf at it, so a cyclic or
//! mistyped page reference read off disk is an error, not a loop.

use std::ops::Bound;

use crate::error::{Error, Result};
use crate::format::node::Node;
use crate::format::{PageId, TreeDesc};
use crate::pager::Src;

/// Looks `key` up; the value borrows the source.
pub(crate) fn get<'a>(src: Src<'a>, desc: &TreeDesc, key: &[u8]) -> Result<Option<&'a [u8]>> {
    if desc.depth == 0 {
        return Ok(None);
    }
    let mut id = desc.root;
    for level in 1..desc.depth {
        let node = src.node(id, false)?;
        id = node.child(node.child_index(key)?)?;
        check_not_root(id, desc, level)?;
    }
    let leaf = src.node(id, true)?;
    match leaf.search(key)? {
        Ok(i) => Ok(Some(src.value(leaf.value(i)?)?)),
        Err(_) => Ok(None),
    }
}

fn check_not_root(id: PageId, desc: &TreeDesc, level: u32) -> Result<()> {
    if id == desc.root {
        return Err(Error::corrupt(
            id.0,
            format!("cycle: level {level} points back at the root"),
        ));
    }
    Ok(())
}

/// A position in a tree; `stack` is empty when the cursor is off the end.
pub(crate) struct Cursor<'a> {
    src: Src<'a>,
    desc: TreeDesc,
    stack: Vec<(Node<'a>, usize)>,
}

/// Where a seek lands relative to its key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seek {
    /// First entry with key >= k (or > k when `exclusive`).
    Forward { exclusive: bool },
    /// Last entry with key <= k (or < k when `exclusive`).
    Backward { exclusive: bool },
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: Src<'a>, desc: TreeDesc) -> Cursor<'a> {
        Cursor {
            src,
            desc,
            stack: Vec::with_capacity(desc.depth as usize),
        }
    }

    pub(crate) fn is_valid(&self) -> bool {
        !self.stack.is_empty()
    }

    /// The entry under the cursor.
    pub(crate) fn entry(&self) -> Result<(&'a [u8], &'a [u8])> {
        let (leaf, i) = self.stack.last().expect("entry() on an invalid cursor");
        let (key, value) = leaf.entry(*i)?;
        Ok((key, self.src.value(value)?))
    }

    fn level_is_leaf(&self, level: usize) -> bool {
        level + 1 == self.desc.depth as usize
    }

    /// Loads the node at `level` of the path, checking its type.
    fn load(&self, id: PageId, level: usize) -> Result<Node<'a>> {
        if level > 0 {
            check_not_root(id, &self.desc, level as u32)?;
        }
        self.src.node(id, self.level_is_leaf(level))
    }

    /// Descends from the node at the top of the stack down its leftmost
    /// (`left`) or rightmost path to a leaf.
    fn descend_edge(&mut self, left: bool) -> Result<()> {
        while let Some((node, idx)) = self.stack.last().copied() {
            if node.is_leaf() {
                break;
            }
            let level = self.stack.len();
            let child = self.load(node.child(idx)?, level)?;
            let start = if left {
                0
            } else {
                child.count().saturating_sub(1)
            };
            self.stack.push((child, start));
        }
        Ok(())
    }

    pub(crate) fn first(&mut self) -> Result<()> {
        self.edge(true)
    }

    pub(crate) fn last(&mut self) -> Result<()> {
        self.edge(false)
    }

    fn edge(&mut self, left: bool) -> Result<()> {
        self.stack.clear();
        if self.desc.depth == 0 {
            return Ok(());
        }
        let root = self.load(self.desc.root, 0)?;
        let start = if left {
            0
        } else {
            root.count().saturating_sub(1)
        };
        self.stack.push((root, start));
        self.descend_edge(left)?;
        self.settle(left)
    }

    /// If the leaf position is past either end of its leaf (an empty leaf in a
    /// damaged or root-only tree), moves on in the given direction.
    fn settle(&mut self, forward: bool) -> Result<()> {
        match self.stack.last() {
            Some((leaf, i)) if *i >= leaf.count() => {
                if forward {
                    self.step(true)
                } else if leaf.count() == 0 {
                    self.step(false)
                } else {
                    let n = leaf.count() - 1;
                    self.stack.last_mut().expect("leaf").1 = n;
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    fn seek(&mut self, key: &[u8], how: Seek) -> Result<()> {
        self.stack.clear();
        if self.desc.depth == 0 {
            return Ok(());
        }
        let mut id = self.desc.root;
        for level in 0..self.desc.depth as usize {
            let node = self.load(id, level)?;
            if node.is_leaf() {
                let found = node.search(key)?;
                let (idx, forward) = match (how, found) {
                    (Seek::Forward { exclusive: false }, Ok(i)) => (i, true),
                    (Seek::Forward { exclusive: true }, Ok(i)) => (i + 1, true),
                    (Seek::Forward { .. }, Err(i)) => (i, true),
                    (Seek::Backward { exclusive: false }, Ok(i)) => (i, false),
                    (Seek::Backward { .. }, Ok(i) | Err(i)) => {
                        self.stack.push((node, i));
                        return if i == 0 {
                            self.step(false)
                        } else {
                            self.stack.last_mut().expect("leaf").1 = i - 1;
                            Ok(())
                        };
                    }
                };
                self.stack.push((node, idx));
                return self.settle(forward);
            }
            let idx = node.child_index(key)?;
            self.stack.push((node, idx));
            id = node.child(idx)?;
        }
        Err(Error::corrupt(id.0, "tree ends above its recorded depth"))
    }

    /// Moves to the next (`forward`) or previous entry; invalid past the end.
    pub(crate) fn step(&mut self, forward: bool) -> Result<()> {
        // Find the deepest level that can move in the direction, then descend
        // along the near edge of the new subtree; skip empty leaves (only a
        // damaged tree has them) without recursing.
        loop {
            loop {
                let Some((node, idx)) = self.stack.last_mut() else {
                    return Ok(());
                };
                let next = if forward {
                    (*idx + 1 < node.count()).then_some(*idx + 1)
                } else {
                    idx.checked_sub(1).filter(|i| *i < node.count())
                };
                match next {
                    Some(n) => {
                        *idx = n;
                        break;
                    }
                    None => {
                        self.stack.pop();
                    }
                }
            }
            self.descend_edge(forward)?;
            match self.stack.last() {
                Some((leaf, _)) if leaf.count() == 0 => continue,
                _ => return Ok(()),
            }
        }
    }
}

/// The bounds of a range, with owned keys.
pub(crate) struct OwnedBounds {
    pub(crate) start: Bound<Vec<u8>>,
    pub(crate) end: Bound<Vec<u8>>,
}

fn above_start(k: &[u8], start: &Bound<Vec<u8>>) -> bool {
    match start {
        Bound::Included(s) => k >= s.as_slice(),
        Bound::Excluded(s) => k > s.as_slice(),
        Bound::Unbounded => true,
    }
}

fn below_end(k: &[u8], end: &Bound<Vec<u8>>) -> bool {
    match end {
        Bound::Included(e) => k <= e.as_slice(),
        Bound::Excluded(e) => k < e.as_slice(),
        Bound::Unbounded => true,
    }
}

/// A double-ended walk over the entries within bounds.
pub(crate) struct RangeIter<'a> {
    front: Cursor<'a>,
    back: Cursor<'a>,
    bounds: OwnedBounds,
    /// The front cursor is on an entry not yet returned (set by the eager
    /// seek in `new`, so a bad start page is reported when the range is made).
    front_pending: bool,
    back_started: bool,
    /// The last key each end returned; the ends stop when they meet.
    front_last: Option<&'a [u8]>,
    back_last: Option<&'a [u8]>,
    done: bool,
}

impl<'a> RangeIter<'a> {
    pub(crate) fn new(src: Src<'a>, desc: TreeDesc, bounds: OwnedBounds) -> Result<RangeIter<'a>> {
        let mut it = RangeIter {
            front: Cursor::new(src, desc),
            // Most ranges are read forward only: the back cursor's stack is
            // allocated when it is first used.
            back: Cursor {
                src,
                desc,
                stack: Vec::new(),
            },
            bounds,
            front_pending: true,
            back_started: false,
            front_last: None,
            back_last: None,
            done: false,
        };
        it.start_front()?;
        Ok(it)
    }

    fn start_front(&mut self) -> Result<()> {
        match &self.bounds.start {
            Bound::Included(k) => self.front.seek(k, Seek::Forward { exclusive: false }),
            Bound::Excluded(k) => self.front.seek(k, Seek::Forward { exclusive: true }),
            Bound::Unbounded => self.front.first(),
        }
    }

    fn start_back(&mut self) -> Result<()> {
        match &self.bounds.end {
            Bound::Included(k) => self.back.seek(k, Seek::Backward { exclusive: false }),
            Bound::Excluded(k) => self.back.seek(k, Seek::Backward { exclusive: true }),
            Bound::Unbounded => self.back.last(),
        }
    }

    pub(crate) fn next_entry(&mut self) -> Result<Option<(&'a [u8], &'a [u8])>> {
        if self.done {
            return Ok(None);
        }
        if self.front_pending {
            self.front_pending = false;
        } else {
            self.front.step(true)?;
        }
        if !self.front.is_valid() {
            self.done = true;
            return Ok(None);
        }
        let (k, v) = self.front.entry()?;
        if !below_end(k, &self.bounds.end) || self.back_last.is_some_and(|b| k >= b) {
            self.done = true;
            return Ok(None);
        }
        self.front_last = Some(k);
        Ok(Some((k, v)))
    }

    pub(crate) fn next_back_entry(&mut self) -> Result<Option<(&'a [u8], &'a [u8])>> {
        if self.done {
            return Ok(None);
        }
        if self.back_started {
            self.back.step(false)?;
        } else {
            self.back_started = true;
            self.start_back()?;
        }
        if !self.back.is_valid() {
            self.done = true;
            return Ok(None);
        }
        let (k, v) = self.back.entry()?;
        if !above_start(k, &self.bounds.start) || self.front_last.is_some_and(|f| k <= f) {
            self.done = true;
            return Ok(None);
        }
        self.back_last = Some(k);
        Ok(Some((k, v)))
    }

    /// Stops the iterator after an error so it does not repeat forever.
    pub(crate) fn fuse(&mut self) {
        self.done = true;
    }
}
