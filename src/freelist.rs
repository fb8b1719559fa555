//! Which pages are free, and when a freed page may be reused.
//!
//! A page freed by commit T is still reachable from every state before T. It
//! moves from `pending` to `free` once no live snapshot is older than T
//! (invariant 2 of design.md). With commit = checkpoint, the durable fallback
//! meta slot is the state just before the newest commit, which frees nothing
//! it can reach, so only in-process readers hold pages back.

use std::collections::{BTreeMap, BTreeSet};

use crate::format::TxnId;

#[derive(Debug, Default, Clone)]
pub(crate) struct FreeList {
    /// Pages no state any reader can see refers to.
    free: BTreeSet<u64>,
    /// Pages freed by commit T, reachable from states older than T.
    pending: BTreeMap<TxnId, Vec<u64>>,
}

impl FreeList {
    pub(crate) fn from_free(ids: impl IntoIterator<Item = u64>) -> FreeList {
        FreeList {
            free: ids.into_iter().collect(),
            pending: BTreeMap::new(),
        }
    }

    /// Makes reusable every page freed by a commit no later than `oldest_reader`
    /// (the txn id of the oldest live snapshot; `None` when there is none).
    pub(crate) fn release(&mut self, oldest_reader: Option<TxnId>) {
        let keep = match oldest_reader {
            Some(t) => self.pending.split_off(&TxnId(t.0 + 1)),
            None => BTreeMap::new(),
        };
        for (_, ids) in std::mem::replace(&mut self.pending, keep) {
            self.free.extend(ids);
        }
    }

    pub(crate) fn add_pending(&mut self, txn: TxnId, ids: Vec<u64>) {
        if !ids.is_empty() {
            self.pending.entry(txn).or_default().extend(ids);
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

    pub(crate) fn free_count(&self) -> u64 {
        self.free.len() as u64
    }

    pub(crate) fn pending_count(&self) -> u64 {
        self.pending.values().map(|v| v.len() as u64).sum()
    }

    /// Every page free or pending, ascending: what the on-disk freelist lists.
    pub(crate) fn all_ids(&self) -> Vec<u64> {
        let mut all: Vec<u64> = self.free.iter().copied().collect();
        all.extend(self.pending.values().flatten().copied());
        all.sort_unstable();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_waits_for_readers() {
        let mut f = FreeList::default();
        f.add_pending(TxnId(5), vec![10, 11]);
        f.add_pending(TxnId(7), vec![12]);
        f.release(Some(TxnId(4)));
        assert_eq!(f.free_count(), 0);
        f.release(Some(TxnId(5)));
        assert_eq!(f.free_count(), 2);
        assert_eq!(f.pending_count(), 1);
        f.release(None);
        assert_eq!(f.free_count(), 3);
        assert_eq!(f.all_ids(), vec![10, 11, 12]);
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
}
