//! Which pages are free, and when a freed page may be reused.
//!
//! A page freed by commit T is reachable from every state from its birth (the
//! commit that wrote it) up to T. It may be reused once nothing that could
//! read one of those states remains (invariant 2 of design.md):
//!
//! * no live snapshot older than T, and
//! * no checkpoint that reaches it: neither the newest durable one (D) nor one
//!   being written (P, with D <= P). A page born after P is in neither
//!   (`pending_readers`); any other page waits until D >= T, when the newest
//!   durable checkpoint was taken after it was freed (`pending_checkpoint`).
//!
//! Both queues are keyed by T, so releasing is a split of a sorted map.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::format::{Meta, PageId, TxnId, freelist};

/// Follows the on-disk freelist chain of `meta`, the one walk recovery, the
/// integrity check and the tools share: `read` fetches a page (through the
/// mapping or by `pread`, verified as the caller's source does), and
/// `visit(page, bytes, ids)` sees each page in chain order with the ids it
/// lists, and returns false to stop. A chain longer than the file has pages
/// loops; a page that does not read or decode ends the walk with its error.
/// (Taking the chain's own pages from the free set can leave its last pages
/// short or empty, so the chain is bounded by the file, not by the count.)
pub(crate) fn walk_chain<B: AsRef<[u8]>>(
    meta: &Meta,
    mut read: impl FnMut(PageId) -> Result<B>,
    mut visit: impl FnMut(PageId, &[u8], Vec<u64>) -> bool,
) -> Result<()> {
    let mut next = meta.freelist_head;
    let mut walked = 0u64;
    while next.0 != 0 {
        if walked >= meta.page_count {
            return Err(Error::corrupt(next.0, "freelist chain loops"));
        }
        let b = read(next)?;
        let (ids, after) = freelist::read_page(b.as_ref(), next)?;
        if !visit(next, b.as_ref(), ids) {
            return Ok(());
        }
        walked += 1;
        next = after;
    }
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub(crate) struct FreeList {
    /// Pages no state anyone can read refers to.
    free: BTreeSet<u64>,
    /// Pages freed by commit T that only snapshots older than T can reach.
    pending_readers: Queue,
    /// Pages freed by commit T that a checkpoint may also reach.
    pending_checkpoint: Queue,
}

/// Pending pages keyed by the commit that freed them, with their count kept
/// (every commit reports it; summing the queue each time was linear in it).
#[derive(Debug, Default, Clone)]
struct Queue {
    by_txn: BTreeMap<TxnId, Vec<u64>>,
    pages: u64,
}

impl Queue {
    fn add(&mut self, txn: TxnId, ids: Vec<u64>) {
        self.pages += ids.len() as u64;
        self.by_txn.entry(txn).or_default().extend(ids);
    }

    /// Moves the entries keyed at most `upto` into `free`, and lists them in
    /// `released`.
    fn release_upto(
        &mut self,
        free: &mut BTreeSet<u64>,
        upto: Option<TxnId>,
        released: &mut Vec<u64>,
    ) {
        // `upto` may be a commit number read from a meta slot: at u64::MAX
        // nothing is kept (rather than the addition overflowing).
        let keep = match upto.map(|t| t.0.checked_add(1)) {
            Some(Some(after)) => self.by_txn.split_off(&TxnId(after)),
            Some(None) | None => BTreeMap::new(),
        };
        for (_, ids) in std::mem::replace(&mut self.by_txn, keep) {
            self.pages -= ids.len() as u64;
            released.extend_from_slice(&ids);
            free.extend(ids);
        }
    }

    fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_txn.values().flatten().copied()
    }
}

impl FreeList {
    pub(crate) fn from_free(ids: impl IntoIterator<Item = u64>) -> FreeList {
        FreeList {
            free: ids.into_iter().collect(),
            ..FreeList::default()
        }
    }

    /// Makes reusable every page nothing can read any more, given the oldest
    /// live snapshot (`None`: no snapshot) and the newest durable checkpoint;
    /// lists them in `released` (their resident frames can go too).
    pub(crate) fn release(
        &mut self,
        oldest_reader: Option<TxnId>,
        durable_checkpoint: TxnId,
        released: &mut Vec<u64>,
    ) {
        self.pending_readers
            .release_upto(&mut self.free, oldest_reader, released);
        let upto = oldest_reader.map_or(durable_checkpoint, |r| r.min(durable_checkpoint));
        self.pending_checkpoint
            .release_upto(&mut self.free, Some(upto), released);
    }

    /// Pages freed by commit `txn`; `checkpointed` if a checkpoint may reach them.
    pub(crate) fn add_pending(&mut self, txn: TxnId, ids: Vec<u64>, checkpointed: bool) {
        if !ids.is_empty() {
            let queue = if checkpointed {
                &mut self.pending_checkpoint
            } else {
                &mut self.pending_readers
            };
            queue.add(txn, ids);
        }
    }

    pub(crate) fn add_free(&mut self, ids: impl IntoIterator<Item = u64>) {
        self.free.extend(ids);
    }

    /// Takes the lowest free page, keeping the file dense at its start.
    pub(crate) fn take_one(&mut self) -> Option<u64> {
        self.free.pop_first()
    }

    /// Takes `n` consecutive free pages, the lowest such run.
    pub(crate) fn take_run(&mut self, n: u64) -> Option<u64> {
        debug_assert!(n > 1, "take_run is for runs; use take_one");
        let mut start = None;
        let mut prev = 0u64;
        let mut len = 0u64;
        for &id in &self.free {
            if len > 0 && id == prev + 1 {
                len += 1;
            } else {
                start = Some(id);
                len = 1;
            }
            prev = id;
            if len == n {
                break;
            }
        }
        if len < n {
            return None;
        }
        let first = start.expect("run start");
        for id in first..first + n {
            self.free.remove(&id);
        }
        Some(first)
    }

    /// Takes the free pages that end a file of `page_count` pages: the run
    /// of free ids up to `page_count - 1`. Returns the run's first id, the
    /// page count without it (`page_count` when the last page is not free).
    pub(crate) fn take_tail(&mut self, page_count: u64) -> u64 {
        debug_assert!(
            self.free.last().is_none_or(|&id| id < page_count),
            "a free page past the end of the file"
        );
        let mut start = page_count;
        while start > 0 && self.free.contains(&(start - 1)) {
            start -= 1;
        }
        self.free.split_off(&start);
        start
    }

    /// Whether `id` is free now (not pending).
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.free.contains(&id)
    }

    pub(crate) fn free_count(&self) -> u64 {
        self.free.len() as u64
    }

    pub(crate) fn pending_count(&self) -> u64 {
        self.pending_readers.pages + self.pending_checkpoint.pages
    }

    /// Pending pages that wait for a checkpoint as well as for snapshots.
    pub(crate) fn checkpoint_pinned_count(&self) -> u64 {
        self.pending_checkpoint.pages
    }

    /// Every page free or pending, ascending: what the on-disk freelist lists.
    pub(crate) fn all_ids(&self) -> Vec<u64> {
        let mut all: Vec<u64> = self.free.iter().copied().collect();
        all.extend(self.pending_readers.ids());
        all.extend(self.pending_checkpoint.ids());
        all.sort_unstable();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_waits_for_readers_and_checkpoints() {
        let mut f = FreeList::default();
        f.add_pending(TxnId(5), vec![10, 11], false);
        f.add_pending(TxnId(7), vec![12], false);
        f.add_pending(TxnId(6), vec![13], true);
        let mut released = Vec::new();
        f.release(Some(TxnId(4)), TxnId(9), &mut released);
        assert_eq!(f.free_count(), 0);
        f.release(Some(TxnId(5)), TxnId(9), &mut released);
        assert_eq!(f.free_count(), 2);
        assert_eq!(released, vec![10, 11]);
        assert_eq!(f.pending_count(), 2);
        // No readers, but the durable checkpoint is older than the free.
        f.release(None, TxnId(5), &mut released);
        assert_eq!(f.free_count(), 3);
        assert_eq!(f.pending_count(), 1);
        f.release(None, TxnId(6), &mut released);
        assert_eq!(released, vec![10, 11, 12, 13]);
        assert_eq!(f.free_count(), 4);
        assert_eq!(f.all_ids(), vec![10, 11, 12, 13]);
    }

    #[test]
    fn runs_are_consecutive_and_lowest() {
        let mut f = FreeList::from_free([3, 5, 6, 8, 9, 10, 20, 21, 22]);
        assert_eq!(f.take_run(3), Some(8));
        assert_eq!(f.take_run(3), Some(20));
        assert_eq!(f.take_run(3), None);
        assert_eq!(f.take_run(2), Some(5));
        assert_eq!(f.take_one(), Some(3));
        assert_eq!(f.take_one(), None);
    }

    #[test]
    fn the_free_tail_is_taken_and_nothing_below_a_used_page() {
        let mut f = FreeList::from_free([4, 6, 7, 9, 10, 11]);
        f.add_pending(TxnId(3), vec![5], true);
        assert_eq!(f.take_tail(13), 13, "page 12 is in use");
        assert_eq!(f.take_tail(12), 9);
        assert_eq!(f.all_ids(), vec![4, 5, 6, 7]);
        // A pending page stops the run: something may still read it.
        assert_eq!(f.take_tail(8), 6);
        assert_eq!(f.all_ids(), vec![4, 5]);
    }
}
