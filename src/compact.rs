//! Compaction in place: packing the leaves that removals and random
//! inserts left part empty, moving the pages at the end of the file into
//! free pages nearer its start, then cutting the file short.
//!
//! Nothing here writes a page itself. A page moves by being rewritten in an
//! ordinary write transaction: re-inserting a key with the value it has
//! copies its leaf and the path above it (copy on write), and the allocator
//! hands out the lowest free page (`FreeList::take_one`), so the copies
//! land low. A value in an overflow run moves the same way (its new run is
//! the lowest free run long enough). The leaves under one parent are
//! packed by a repack (`btree::pack`), which rewrites them full, in new
//! pages, so it moves them too; it is planned where it saves a leaf in
//! `REPACK_GAIN_MIN`. Each commit writes a bounded number of pages, so
//! readers and other writers go on in between; neither kind of rewrite
//! changes a key or a value (a repack logs no operation at all), so the
//! log replays to the same entries and recovery needs nothing new.
//!
//! A pass is rounds of planning and rewriting until nothing lies past the
//! target and nothing packs (the target's slack halved a few times at the
//! end), then steps 2 and 3; a second pass runs when the first leaves
//! enough free pages inside the file (`holes_worth_a_pass`); then step 4.
//!
//! The steps, each with why a crash there is safe:
//! 1. Moves and repacks (`touch`): ordinary commits. *Crash: the state
//!    recovered is logically the one before or after a rewrite, equal
//!    either way.*
//! 2. A checkpoint, so the newest durable state reaches nothing in the tail;
//!    with no older snapshot left, the moved-from pages become free
//!    (invariant 2 of design.md, unchanged). *Crash: as any checkpoint.*
//! 3. `shrink`, under the writer lock: the run of free pages that ends the
//!    file leaves the free list, and a new state with a smaller page count
//!    commits as a checkpoint (a commit number of its own, no log record,
//!    the way a transaction too large for the log commits), published like
//!    one. *Crash: before its meta slot is durable, the previous checkpoint
//!    is used and the file is still whole; after, the new slot reaches no
//!    page past its page count.*
//! 4. `truncate`, under the writer lock: the file is cut to the larger of
//!    the newest state's and the newest durable checkpoint's page counts,
//!    once no snapshot older than step 3 is live (such a snapshot reads its
//!    state's page count, which may be larger: a page past the end of a
//!    mapped file faults instead of reading). The cut is not synced: lost,
//!    it leaves the file longer than it needs to be. *Crash: the newest
//!    durable slot's pages are all below the cut.*
//!
//! It stops, returning what it did, when there is no free room below the
//! tail left to move into or the free pages at the end are still pinned
//! (a snapshot, or a checkpoint not yet taken, reaches them).

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use crate::btree::{self, PageSet, leaves};
use crate::checkpoint;
use crate::engine::{Engine, Signal};
use crate::error::{Error, Result};
use crate::format::node::CellValue;
use crate::format::{self, FIRST_DATA_PAGE, Meta, PageId, TreeDesc, TxnId, overflow};
use crate::freelist::FreeList;
use crate::options::Durability;
use crate::pager::{MapSource, Src};
use crate::txn::WriteTxn;

/// What [`Db::compact`](crate::Db::compact) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Compaction {
    /// The data file's length before, in bytes.
    pub bytes_before: u64,
    /// The data file's length after, in bytes.
    pub bytes_after: u64,
    /// Pages the compaction moved out of the end of the file.
    pub pages_moved: u64,
    /// Leaves it saved by packing the leaves under each branch as full as
    /// they go.
    pub leaves_saved: u64,
    /// Commits it made (moves, and the one that shrinks the page count).
    pub commits: u64,
    /// Whether a live snapshot held pages it would have moved or given
    /// back: it stopped short. Compacting again once the snapshot is
    /// released goes on.
    pub pinned: bool,
}

/// Pages one commit copies at most: a bound on the writer lock's hold.
const MOVE_PAGES_PER_COMMIT: u64 = 1024;
/// Commits planned from one walk of the state.
const PLAN_COMMITS_MAX: usize = 8;
/// A parent's leaves are repacked when that saves at least one leaf in
/// this many: leaves within a few percent of full are left as they are,
/// rather than rewritten for a page.
const REPACK_GAIN_MIN: usize = 32;
/// Times the tail is drawn closer (its slack halved) once nothing is left
/// past it: the slack makes room for copies of paths early on, and left
/// unused it would stay as free pages inside the file. Only while the free
/// pages are more than one in `TIGHTEN_WASTE` of those in use: each time
/// costs moves and a checkpoint.
const TIGHTEN_MAX: u32 = 4;
const TIGHTEN_WASTE: u64 = 256;
/// Passes (rounds, a checkpoint and a shrink) at most; see
/// `holes_worth_a_pass`.
const PASSES_MAX: u32 = 2;
/// Free pages inside the file never worth a second pass.
const HOLES_MIN: u64 = 16;
/// Rounds of a pass that may plan repacks. A writer inserting at random
/// splits packed leaves again as fast as they are packed; without a bound
/// the rounds would go on repacking them (each a walk of the database)
/// until `ROUNDS_MAX`. Repacks also end once a round's repacks save fewer
/// than one leaf in `REPACK_GAIN_MIN` of the pages they write.
const REPACK_ROUNDS_MAX: u32 = 64;
/// Rounds (a walk and its commits, or a checkpoint) before giving up.
const ROUNDS_MAX: u32 = 1000;

/// Compacts the database: moves, checkpoints, shrinks, truncates.
pub(crate) fn run(inner: &Engine, signal: &Signal) -> Result<Compaction> {
    inner.writer_thread.refuse_current()?;
    inner.check_poisoned()?;
    let mut report = Compaction {
        bytes_before: inner.file.len()?,
        ..Compaction::default()
    };
    for _ in 0..PASSES_MAX {
        rounds(inner, signal, &mut report)?;
        checkpoint::run(inner)?;
        if shrink(inner)? {
            report.commits += 1;
        } else if snapshot_behind(inner) {
            report.pinned = true;
        }
        if report.pinned || !holes_worth_a_pass(inner)? {
            break;
        }
    }
    if !truncate(inner)? {
        report.pinned = true;
    }
    report.bytes_after = inner.file.len()?;
    Ok(report)
}

/// Steps 1 and 2, round after round: plan, commit the moves and repacks,
/// checkpoint when they wait for room, until nothing is left past the
/// tail and nothing packs, or a snapshot holds what is left.
fn rounds(inner: &Engine, signal: &Signal, report: &mut Compaction) -> Result<()> {
    // Rounds in a row that found no room to move into, each after a checkpoint.
    let mut stalled = 0;
    let mut last_reached = u64::MAX;
    // How many times the tail was drawn closer after being found empty.
    let mut tighten = 0;
    // Rounds that planned repacks, and whether more may.
    let mut repack_rounds = 0;
    let mut repack = true;
    for _ in 0..ROUNDS_MAX {
        let plan = plan(inner, tighten, repack)?;
        if plan.saved > 0 {
            repack_rounds += 1;
            // Diminishing returns, or a writer splitting the leaves as
            // fast as they are packed: the repacks end for this pass.
            repack = repack_rounds < REPACK_ROUNDS_MAX
                && plan.saved * REPACK_GAIN_MIN as u64 >= plan.repack_pages;
        }
        if plan.tail_reached == 0 && plan.saved == 0 {
            if tighten == TIGHTEN_MAX || plan.free_below * TIGHTEN_WASTE < plan.in_use {
                break;
            }
            tighten += 1;
            // Measured against a closer tail, the next round reaches more.
            last_reached = u64::MAX;
            continue;
        }
        let progress = plan.saved > 0 || plan.tail_reached < last_reached;
        if plan.batches.is_empty() || !progress {
            // No room below the tail (or no progress): pages freed by the
            // moves so far wait for a checkpoint, or for a snapshot.
            stalled += 1;
            if stalled > 2 {
                report.pinned = snapshot_behind(inner);
                break;
            }
            checkpoint::run(inner)?;
            last_reached = u64::MAX;
            continue;
        }
        stalled = 0;
        last_reached = plan.tail_reached;
        for batch in &plan.batches {
            report.leaves_saved += touch(inner, signal, batch)?;
            report.commits += 1;
        }
        report.pages_moved += plan.tail_moved;
    }
    Ok(())
}

/// The pages `free` lists (free, or freed and awaiting a checkpoint) and
/// those in use, of a state of `page_count` pages.
fn space(free: &FreeList, page_count: u64) -> (u64, u64) {
    let listed = free.free_count() + free.pending_count();
    (listed, page_count.saturating_sub(FIRST_DATA_PAGE + listed))
}

/// Whether the free pages left inside the file after a shrink are worth
/// another pass: more than `HOLES_MIN` and one in `TIGHTEN_WASTE` of the
/// pages in use. The first pass leaves some: room its target kept for the
/// free list of the whole file before the shrink, which the shrink then
/// cut down to the few pages listing what is left.
fn holes_worth_a_pass(inner: &Engine) -> Result<bool> {
    let mut w = inner.lock_writer()?;
    inner.release_free(&mut w);
    let (listed, in_use) = space(&w.free, w.head.page_count);
    Ok(listed > HOLES_MIN && listed * TIGHTEN_WASTE >= in_use)
}

/// Whether a live snapshot is older than the published state.
fn snapshot_behind(inner: &Engine) -> bool {
    let published = inner.published.txn();
    inner.readers.oldest().is_some_and(|(t, _)| t < published)
}

/// Whether the file may be cut to the newest state's page count: no live
/// snapshot is older than the last shrink, so none reads a state whose
/// page count is larger. Close asks too.
pub(crate) fn may_trim(inner: &Engine) -> bool {
    let shrunk = TxnId(inner.shrunk_txn.load(Ordering::Acquire));
    inner.readers.oldest().is_none_or(|(t, _)| t >= shrunk)
}

/// Step 3: gives the free pages that end the file back, in a state of its
/// own committed as a checkpoint. False if the last page is not free.
fn shrink(inner: &Engine) -> Result<bool> {
    let mut w = inner.lock_writer()?;
    inner.check_poisoned()?;
    let _poison = inner.poison_on_panic();
    inner.release_free(&mut w);
    let before = w.head.page_count;
    let after = w.free.take_tail(before);
    if after == before {
        return Ok(false);
    }
    // The pages past `after` are free: no snapshot, no checkpoint and no
    // state from here on reaches them. Their checks are forgotten, so a
    // page written there later is checked anew.
    inner.file.verified.remove(after, before - after);
    w.head = Meta {
        txn: TxnId(w.head.txn.0 + 1),
        page_count: after,
        ..w.head
    };
    checkpoint::run_locked(inner, &mut w)?;
    inner.shrunk_txn.store(w.head.txn.0, Ordering::Release);
    inner
        .log
        .push_durable(&w.head, w.head_map, &inner.published);
    inner.counters.set_space(
        &w.head,
        w.free.free_count(),
        w.free.pending_count(),
        w.free.checkpoint_pinned_count(),
    );
    Ok(true)
}

/// Step 4: cuts the file to the pages the newest state and the newest
/// durable checkpoint need. False if a snapshot older than the last shrink
/// is live (the file is left as it is).
fn truncate(inner: &Engine) -> Result<bool> {
    let w = inner.lock_writer()?;
    let k = inner.checkpoint.lock();
    if !may_trim(inner) {
        return Ok(false);
    }
    let pages = w.head.page_count.max(k.meta.page_count);
    let bytes = pages
        .checked_mul(inner.page_bytes as u64)
        .ok_or_else(|| Error::corrupt(pages, "page count past the addressable file size"))?;
    inner.file.trim_to(bytes)?;
    Ok(true)
}

/// A rewrite that moves pages: of one key (its leaf, the path above it, its
/// overflow run), or of one tree's entry in the catalog.
#[derive(Debug)]
enum Touch {
    Key {
        tree: String,
        key: Vec<u8>,
    },
    Tree(String),
    /// Packs the leaves of the parent on `key`'s path (`btree::pack`).
    Repack {
        tree: String,
        key: Vec<u8>,
    },
}

/// Step 1: one commit of rewrites. Each changes nothing a reader can see.
/// Its durability is `None`: losing it in a crash loses no data, and the
/// checkpoint of step 2 makes it durable anyway.
///
/// Every batch that changes a page logs at least one operation. A repack
/// logs nothing, and a commit of repacks alone would log a record of no
/// operations: 40 bytes, shorter than a switch marker. Recovery tells a
/// switch that did not finish by the other file starting one marker past
/// the log's end; a process that recovered such a switch and then appended
/// a record shorter than a marker left a log that reads as a gap (found by
/// the crash harness). So the first repack of a batch that has logged
/// nothing yet rewrites its key as it is: the same entry, in the leaf the
/// repack just wrote. If a writer removed that key between the plan and
/// the batch, it rewrites the tree's first entry instead (`rewrite_first`);
/// the crash harness found that case too: a record of no operations.
fn touch(inner: &Engine, signal: &Signal, batch: &[Touch]) -> Result<u64> {
    let mut tx = WriteTxn::begin(inner, signal)?;
    let mut saved = 0;
    // Whether the commit's record holds an operation yet.
    let mut logged = false;
    tx.set_durability(Durability::None);
    for t in batch {
        match t {
            Touch::Key { tree, key } => {
                let Some(mut t) = tx.tree_mut(tree)? else {
                    continue;
                };
                if let Some(value) = t.get(key)?.map(<[u8]>::to_vec) {
                    t.insert(key, &value)?;
                    logged = true;
                }
            }
            Touch::Repack { tree, key } => {
                let Some(mut t) = tx.tree_mut(tree)? else {
                    continue;
                };
                saved += t.repack(key)?;
                if !logged {
                    match t.get(key)?.map(<[u8]>::to_vec) {
                        Some(value) => drop(t.insert(key, &value)?),
                        None => rewrite_first(&mut t)?,
                    }
                    logged = true;
                }
            }
            Touch::Tree(name) => {
                let Some(mut t) = tx.tree_mut(name)? else {
                    continue;
                };
                rewrite_first(&mut t)?;
                logged = true;
            }
        }
    }
    tx.commit()?;
    Ok(saved)
}

/// Rewrites a tree's first entry as it is (an empty tree: a key in and
/// out), which copies the leaf and the path above it, and the tree's entry
/// in the catalog, and logs the operations that replay to the same.
fn rewrite_first(t: &mut crate::txn::TreeMut<'_, '_>) -> Result<()> {
    match t.first()?.map(|(k, v)| (k.to_vec(), v.to_vec())) {
        Some((k, v)) => {
            t.insert(&k, &v)?;
        }
        None => {
            t.insert(b"", b"")?;
            t.remove(b"")?;
        }
    }
    Ok(())
}

/// What one walk of the published state found to move.
struct Plan {
    /// Rewrites, one commit each.
    batches: Vec<Vec<Touch>>,
    /// Distinct pages at or past the tail the state reaches.
    tail_reached: u64,
    /// Of those, the pages `batches` move.
    tail_moved: u64,
    /// Leaves the repacks in `batches` save, and the pages they write.
    saved: u64,
    repack_pages: u64,
    /// Pages in use, and free (or freed, awaiting a checkpoint), when the
    /// walk began.
    in_use: u64,
    free_below: u64,
}

/// Walks the published state (registered as a reader, so its pages stay
/// intact) and plans rewrites for every page at or past the tail, as far
/// as the free pages below the tail hold the copies.
fn plan(inner: &Engine, tighten: u32, repack: bool) -> Result<Plan> {
    let (free, page_count) = {
        let mut w = inner.lock_writer()?;
        inner.release_free(&mut w);
        (w.free.clone(), w.head.page_count)
    };
    let (listed, in_use) = space(&free, page_count);
    let per_page = format::freelist::entries_per_page(inner.page_bytes) as u64;
    // Room for every page in use, the freelist, and some slack for the
    // copies of paths that moves make below the tail; less slack each time
    // the tail is found empty (`run`), down to none.
    let slack = (in_use / 32 + 16) >> tighten;
    let tail = FIRST_DATA_PAGE + in_use + listed.div_ceil(per_page) + slack;
    let (token, meta, map) = inner.readers.register(&inner.published);
    let mut planner = Planner {
        tail,
        sim: free,
        counted: HashSet::new(),
        batches: vec![Vec::new()],
        batch_pages: 0,
        full: false,
        repack,
        seen: PageSet::new(meta.page_count),
        reached: PageSet::new(meta.page_count),
        moved: PageSet::new(meta.page_count),
        saved: 0,
        repack_pages: 0,
    };
    let walked = planner.walk(inner.map_source(&meta, map), &meta.catalog);
    inner.readers.release(token);
    walked?;
    planner.batches.retain(|b| !b.is_empty());
    Ok(Plan {
        batches: planner.batches,
        tail_reached: planner.reached.count,
        tail_moved: planner.moved.count,
        saved: planner.saved,
        repack_pages: planner.repack_pages,
        in_use,
        free_below: listed,
    })
}

struct Planner {
    /// Whether to plan repacks (see `REPACK_ROUNDS_MAX`).
    repack: bool,
    /// Pages from here on are to move.
    tail: u64,
    /// The free list as allocation will use it: a copy, taken from as the
    /// planned commits will take.
    sim: FreeList,
    /// Pages the current batch copies already (a shared path is copied once).
    counted: HashSet<u64>,
    batches: Vec<Vec<Touch>>,
    batch_pages: u64,
    /// No more room below the tail, or enough planned.
    full: bool,
    /// Node pages walked: one reached twice is damage (and would make the
    /// walk's length grow with the paths, not the pages).
    seen: PageSet,
    /// Tail pages the state reaches; and those the batches move.
    reached: PageSet,
    moved: PageSet,
    /// Leaves the planned repacks save, and the pages they write (at most).
    saved: u64,
    repack_pages: u64,
}

impl Planner {
    fn walk(&mut self, src: MapSource<'_>, catalog: &TreeDesc) -> Result<()> {
        let mut trees = Vec::new();
        leaves(src, catalog, &mut self.seen, |cpath, leaf| {
            for i in 0..leaf.count() {
                let (name, value) = leaf.entry(i)?;
                let CellValue::Inline(b) = value else {
                    return Err(Error::corrupt(leaf.id().0, "a tree descriptor overflows"));
                };
                let desc = TreeDesc::decode(b, leaf.id().0)?;
                let name = std::str::from_utf8(name)
                    .map_err(|_| Error::corrupt(leaf.id().0, "tree name is not UTF-8"))?;
                // One tree per catalog leaf is enough to rewrite that leaf.
                trees.push((name.to_string(), desc, cpath.to_vec(), i == 0));
            }
            Ok(())
        })?;
        for (name, desc, cpath, first_in_leaf) in trees {
            let catalog_moves = first_in_leaf && cpath.iter().any(|&p| p >= self.tail);
            let mut tree = TreePlan {
                name,
                catalog_moves,
                moved_entry: false,
                group: Vec::new(),
            };
            let mut seen = std::mem::replace(&mut self.seen, PageSet::new(0));
            let walked = leaves(src, &desc, &mut seen, |path, leaf| {
                let full_path: Vec<u64> = cpath.iter().chain(path).copied().collect();
                let parent = (path.len() >= 2).then(|| path[path.len() - 2]);
                if tree.group.last().is_some_and(|l| l.parent != parent) {
                    self.plan_group(src, &mut tree)?;
                }
                let mut moved = false;
                for i in 0..leaf.count() {
                    let CellValue::Overflow { page, len } = leaf.value(i)? else {
                        continue;
                    };
                    let pages = overflow::run_pages(len as usize, src.page_bytes);
                    let run = page.0..page.0.saturating_add(pages);
                    if run.end <= self.tail {
                        continue;
                    }
                    let touch = Touch::Key {
                        tree: tree.name.clone(),
                        key: leaf.key(i)?.to_vec(),
                    };
                    moved |= self.add(touch, &full_path, Some(run), Fresh::NONE);
                }
                tree.moved_entry |= moved;
                tree.group.push(LeafAt {
                    path: full_path,
                    parent,
                    first_key: (leaf.count() > 0)
                        .then(|| leaf.key(0))
                        .transpose()?
                        .map(<[u8]>::to_vec),
                    moved,
                });
                Ok(())
            });
            self.seen = seen;
            walked?;
            self.plan_group(src, &mut tree)?;
            if tree.catalog_moves && !tree.moved_entry {
                self.add(Touch::Tree(tree.name.clone()), &cpath, None, Fresh::NONE);
            }
        }
        Ok(())
    }

    /// Plans the leaves of one parent (`tree.group`, emptied): a repack
    /// when packing them saves a page in `REPACK_GAIN_MIN` (or any page,
    /// when it moves one out of the tail too), else a move of each leaf on
    /// a path into the tail.
    fn plan_group(&mut self, src: MapSource<'_>, tree: &mut TreePlan) -> Result<()> {
        let group = std::mem::take(&mut tree.group);
        let Some(first) = group.first() else {
            return Ok(());
        };
        let parent = first.parent.filter(|_| self.repack);
        if let (Some(parent), Some(key)) = (parent, &first.first_key) {
            let counts = btree::packing(Src::Snapshot(src), PageId(parent), src.page_bytes)?;
            let in_tail = group.iter().any(|l| l.path.iter().any(|&p| p >= self.tail));
            let worth =
                |saves: usize| saves > 0 && (in_tail || saves * REPACK_GAIN_MIN >= group.len());
            if let Some(counts) = counts.filter(|c| worth(group.len().saturating_sub(c.len()))) {
                let path = &first.path[..first.path.len() - 1];
                let old: Vec<u64> = group
                    .iter()
                    .filter_map(|l| l.path.last().copied())
                    .collect();
                let touch = Touch::Repack {
                    tree: tree.name.clone(),
                    key: key.clone(),
                };
                let fresh = Fresh {
                    pages: counts.len() as u64,
                    replacing: &old,
                };
                if self.add(touch, path, None, fresh) {
                    self.saved += (group.len() - counts.len()) as u64;
                    self.repack_pages += (path.len() + counts.len()) as u64;
                    tree.moved_entry = true;
                }
                return Ok(());
            }
        }
        for leaf in group {
            let in_tail = leaf.path.iter().any(|&p| p >= self.tail);
            let entry = tree.catalog_moves && !tree.moved_entry;
            if (in_tail || entry) && !leaf.moved {
                let touch = match leaf.first_key {
                    Some(key) => Touch::Key {
                        tree: tree.name.clone(),
                        key,
                    },
                    None => Touch::Tree(tree.name.clone()),
                };
                tree.moved_entry |= self.add(touch, &leaf.path, None, Fresh::NONE);
            } else {
                self.note_reached(&leaf.path, None);
            }
        }
        Ok(())
    }

    /// Records the tail pages a path (and a run, and pages replaced)
    /// reaches.
    fn note_reached(&mut self, path: &[u64], run: Option<&std::ops::Range<u64>>) {
        let tail = self.tail;
        let pages = path
            .iter()
            .copied()
            .chain(run.into_iter().flat_map(Clone::clone));
        for p in pages.filter(|&p| p >= tail) {
            self.reached.insert(p);
        }
    }

    /// Plans `touch`, which copies the pages of `path`, writes `run` anew
    /// and writes `fresh.pages` new pages in place of `fresh.replacing`,
    /// if the free pages below the tail hold the copies. Returns whether it
    /// was planned.
    fn add(
        &mut self,
        touch: Touch,
        path: &[u64],
        run: Option<std::ops::Range<u64>>,
        fresh: Fresh<'_>,
    ) -> bool {
        self.note_reached(path, run.as_ref());
        self.note_reached(fresh.replacing, None);
        if self.full {
            return false;
        }
        let run_pages = run.as_ref().map_or(0, |r| r.end - r.start);
        let uncounted = |counted: &HashSet<u64>| {
            path.iter().filter(|p| !counted.contains(p)).count() as u64 + fresh.pages
        };
        let mut copies = uncounted(&self.counted);
        if self.batch_pages + copies + run_pages > MOVE_PAGES_PER_COMMIT
            && !self.batches.last().is_some_and(Vec::is_empty)
        {
            if self.batches.len() >= PLAN_COMMITS_MAX {
                self.full = true;
                return false;
            }
            self.batches.push(Vec::new());
            self.counted.clear();
            self.batch_pages = 0;
            copies = uncounted(&self.counted);
        }
        let below =
            |id: Option<u64>, pages: u64, tail: u64| id.is_some_and(|id| id + pages <= tail);
        for _ in 0..copies {
            if !below(self.sim.take_one(), 1, self.tail) {
                self.full = true;
                return false;
            }
        }
        if run_pages > 0 {
            let at = match run_pages {
                1 => self.sim.take_one(),
                n => self.sim.take_run(n),
            };
            if !below(at, run_pages, self.tail) {
                self.full = true;
                return false;
            }
        }
        let tail = self.tail;
        let pages = path
            .iter()
            .chain(fresh.replacing)
            .copied()
            .chain(run.into_iter().flatten());
        for p in pages.filter(|&p| p >= tail) {
            self.moved.insert(p);
        }
        self.counted
            .extend(path.iter().chain(fresh.replacing).copied());
        self.batch_pages += copies + run_pages;
        self.batches.last_mut().expect("a batch").push(touch);
        true
    }
}

/// One tree's walk in progress.
struct TreePlan {
    name: String,
    /// The tree's catalog leaf lies in the tail: a rewrite of the tree (any
    /// change to its root) moves it.
    catalog_moves: bool,
    /// A rewrite of the tree is planned.
    moved_entry: bool,
    /// The leaves walked under the current parent.
    group: Vec<LeafAt>,
}

/// A leaf the walk passed.
struct LeafAt {
    /// Page ids from the catalog's root down to the leaf.
    path: Vec<u64>,
    /// The branch above it, if any.
    parent: Option<u64>,
    first_key: Option<Vec<u8>>,
    /// A rewrite of one of its values (moving an overflow run) copies it.
    moved: bool,
}

/// New pages a rewrite writes beside the copies of its path: `pages` of
/// them, in place of the pages `replacing`.
#[derive(Clone, Copy)]
struct Fresh<'a> {
    pages: u64,
    replacing: &'a [u64],
}

impl Fresh<'_> {
    const NONE: Fresh<'static> = Fresh {
        pages: 0,
        replacing: &[],
    };
}
