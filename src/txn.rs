//! The write transaction: named trees, and commit.
//!
//! There is one writer at a time: `WriteTxn` holds the writer mutex for its
//! whole life, and a second `begin_write` waits for it. Dropping a `WriteTxn`
//! without committing aborts it: its pages were never written, and the pages
//! it took from the free list go back.
//!
//! Commit, step by step (commit = checkpoint; each step's crash argument):
//! 1. Tree descriptors go into the catalog and the new freelist is built, all
//!    as dirty pages in locations no committed state uses.
//!    Crash: nothing on disk changed.
//! 2. The dirty pages are written (pwrite, no fsync), and the file is
//!    extended to the new page count if its last pages were never written.
//!    Crash: both meta slots still point at states these writes did not touch.
//! 3. fsync the data file (the new pages and the file's new length).
//!    Crash: as 2.
//! 4. Write the meta slot the previous commit did not use.
//!    Crash: a torn slot fails its checksum and open takes the other one.
//! 5. fsync. The commit is durable.
//! 6. Publish the new state to new snapshots; this commit's freed pages wait
//!    until no snapshot older than it is alive.
//!
//! An error in steps 2–5 poisons the `Db`: later writes fail with
//! `Error::Poisoned` until it is reopened, and no fsync is retried.

use std::sync::atomic::Ordering;

use parking_lot::MutexGuard;

use crate::btree;
use crate::db::{Db, Durability, WriterState};
use crate::error::{Error, Limit, Result};
use crate::format::{Meta, TREE_NAME_BYTES_MAX, TreeDesc, TxnId, VALUE_BYTES_MAX};
use crate::pager::{Pager, Src};
use crate::read::{Range, Tree, list_catalog, lookup_tree};

/// The value a [`Db::compare_and_swap`] found instead of the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasConflict {
    /// The value present (`None`: absent).
    pub current: Option<Vec<u8>>,
}

struct OpenTree {
    name: String,
    /// `None`: deleted in this transaction.
    desc: Option<TreeDesc>,
    /// The catalog entry must be rewritten at commit.
    changed: bool,
}

/// The one open write transaction. Commit with [`WriteTxn::commit`]; drop to abort.
///
/// A `WriteTxn` cannot be used after `commit`, which consumes it:
///
/// ```compile_fail
/// # let dir = tempfile::tempdir().unwrap();
/// let db = oakmap::Db::open(dir.path().join("x.oak")).unwrap();
/// let mut tx = db.begin_write().unwrap();
/// tx.commit().unwrap();
/// tx.open_tree("t").unwrap(); // error: use of moved value `tx`
/// ```
pub struct WriteTxn<'db> {
    db: &'db Db,
    state: MutexGuard<'db, WriterState>,
    pager: Option<Pager<'db>>,
    txn: TxnId,
    catalog: TreeDesc,
    trees: Vec<OpenTree>,
    durability: Durability,
    failed: bool,
}

impl<'db> WriteTxn<'db> {
    pub(crate) fn new(db: &'db Db, mut state: MutexGuard<'db, WriterState>) -> WriteTxn<'db> {
        let oldest = db.readers.oldest().map(|(txn, _)| txn);
        state.free.release(oldest);
        let (meta, map) = db.published.load();
        let committed = db.map_source(&meta, map);
        let free = std::mem::take(&mut state.free);
        WriteTxn {
            db,
            state,
            pager: Some(Pager::new(committed, free)),
            txn: TxnId(meta.txn.0 + 1),
            catalog: meta.catalog,
            trees: Vec::new(),
            durability: db.options.durability,
            failed: false,
        }
    }

    /// The id this transaction will commit as.
    pub fn id(&self) -> u64 {
        self.txn.0
    }

    /// Overrides the database's durability for this commit.
    pub fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    fn pager(&mut self) -> &mut Pager<'db> {
        self.pager.as_mut().expect("pager present until commit")
    }

    fn usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::TransactionFailed);
        }
        Ok(())
    }

    /// Runs a change, marking the transaction failed if it errs part-way.
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.usable()?;
        let r = f(self);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn find(&mut self, name: &str) -> Result<Option<usize>> {
        if let Some(i) = self.trees.iter().position(|t| t.name == name) {
            return Ok(Some(i));
        }
        let pager = self.pager.as_ref().expect("pager");
        let Some(desc) = lookup_tree(Src::Txn(pager), &self.catalog, name)? else {
            return Ok(None);
        };
        self.trees.push(OpenTree {
            name: name.to_string(),
            desc: Some(desc),
            changed: false,
        });
        Ok(Some(self.trees.len() - 1))
    }

    /// Opens the tree `name`, creating it if it does not exist.
    pub fn open_tree(&mut self, name: &str) -> Result<TreeMut<'_, 'db>> {
        check_tree_name(name)?;
        self.usable()?;
        let idx = match self.find(name)? {
            Some(i) => i,
            None => {
                self.trees.push(OpenTree {
                    name: name.to_string(),
                    desc: None,
                    changed: true,
                });
                self.trees.len() - 1
            }
        };
        let t = &mut self.trees[idx];
        if t.desc.is_none() {
            t.desc = Some(TreeDesc::default());
            t.changed = true;
        }
        Ok(TreeMut { tx: self, idx })
    }

    /// Deletes the tree `name` and frees its pages; returns whether it existed.
    pub fn delete_tree(&mut self, name: &str) -> Result<bool> {
        check_tree_name(name)?;
        self.guarded(|tx| {
            let Some(idx) = tx.find(name)? else {
                return Ok(false);
            };
            let Some(desc) = tx.trees[idx].desc else {
                return Ok(false);
            };
            btree::free_all(tx.pager(), &desc)?;
            tx.trees[idx].desc = None;
            tx.trees[idx].changed = true;
            Ok(true)
        })
    }

    /// Names of all trees as this transaction sees them, in byte order.
    pub fn list_trees(&mut self) -> Result<Vec<String>> {
        self.guarded(|tx| {
            tx.flush_catalog()?;
            list_catalog(Src::Txn(tx.pager.as_ref().expect("pager")), &tx.catalog)
        })
    }

    /// Writes changed tree descriptors into the catalog tree.
    fn flush_catalog(&mut self) -> Result<()> {
        let mut catalog = self.catalog;
        let pager = self.pager.as_mut().expect("pager");
        for t in self.trees.iter_mut().filter(|t| t.changed) {
            match t.desc {
                Some(d) => btree::insert(pager, &mut catalog, t.name.as_bytes(), &d.to_bytes())?,
                None => btree::remove(pager, &mut catalog, t.name.as_bytes())?,
            };
            t.changed = false;
        }
        self.catalog = catalog;
        Ok(())
    }

    /// Makes the transaction durable (per its [`Durability`]) and visible to
    /// new snapshots. See the module documentation for the steps.
    pub fn commit(mut self) -> Result<()> {
        self.usable()?;
        self.db.check_poisoned()?;
        self.flush_catalog()?;
        if self.pager.as_ref().is_some_and(Pager::is_unchanged) {
            // Nothing changed: no new state, nothing to write (drop aborts).
            return Ok(());
        }
        let old_freelist = std::mem::take(&mut self.state.freelist_pages);
        let mut pager = self.pager.take().expect("pager");
        let (freelist_head, free_count, freelist_pages) = pager.write_freelist(&old_freelist);
        let meta = Meta {
            txn: self.txn,
            page_count: pager.page_count,
            catalog: self.catalog,
            freelist_head,
            free_count,
            wal_lsn: 0,
        };
        let durable = self.durability == Durability::Immediate;
        let db = self.db;
        let written = write_state(db, &mut pager, &meta, durable).and_then(|()| {
            db.file
                .ensure_mapped(meta.page_count * db.page_bytes as u64)
        });
        let map = match written {
            Ok(map) => map,
            Err(e) => {
                db.poisoned.store(true, Ordering::Release);
                return Err(e);
            }
        };
        let free = pager.finish_commit(self.txn);
        db.counters
            .pending_pages
            .store(free.pending_count(), Ordering::Relaxed);
        self.state.free = free;
        self.state.freelist_pages = freelist_pages;
        db.published.store(&meta, map);
        db.counters.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Dirty pages held by this transaction (for tests and stats).
    pub fn dirty_pages(&self) -> usize {
        self.pager.as_ref().map_or(0, Pager::dirty_pages)
    }
}

/// Steps 2–5 of commit.
fn write_state(db: &Db, pager: &mut Pager<'_>, meta: &Meta, durable: bool) -> Result<()> {
    pager.write_out(&db.file, meta.txn)?;
    db.file.extend_to(meta.page_count * db.page_bytes as u64)?;
    if durable {
        db.file.sync()?;
    }
    let slot = Meta::slot_for(meta.txn);
    db.file.write_at(
        &meta.encode(slot),
        Meta::page_of_slot(slot) * db.page_bytes as u64,
    )?;
    if durable {
        db.file.sync()?;
    }
    Ok(())
}

impl Drop for WriteTxn<'_> {
    fn drop(&mut self) {
        if let Some(pager) = self.pager.take() {
            self.state.free = pager.abort();
        }
    }
}

fn check_tree_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidTreeName);
    }
    if name.len() > TREE_NAME_BYTES_MAX {
        return Err(Error::LimitExceeded {
            what: Limit::TreeNameBytes,
            actual: name.len() as u64,
            max: TREE_NAME_BYTES_MAX as u64,
        });
    }
    Ok(())
}

/// A tree open for writing inside a [`WriteTxn`]. Reads see the
/// transaction's own changes.
pub struct TreeMut<'t, 'db> {
    tx: &'t mut WriteTxn<'db>,
    idx: usize,
}

impl TreeMut<'_, '_> {
    fn desc(&self) -> TreeDesc {
        self.tx.trees[self.idx]
            .desc
            .expect("open tree has a descriptor")
    }

    /// A read view of the tree as it is now in this transaction.
    pub fn view(&self) -> Result<Tree<'_>> {
        self.tx.usable()?;
        Ok(Tree::new(
            Src::Txn(self.tx.pager.as_ref().expect("pager")),
            self.desc(),
        ))
    }

    /// Inserts or replaces `key`; returns whether it was already present.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<bool> {
        let key_max = self.tx.db.key_bytes_max();
        check_len(Limit::KeyBytes, key.len(), key_max)?;
        check_len(Limit::ValueBytes, value.len(), VALUE_BYTES_MAX)?;
        let idx = self.idx;
        self.tx.guarded(|tx| {
            let mut desc = tx.trees[idx].desc.expect("descriptor");
            let replaced = btree::insert(tx.pager(), &mut desc, key, value)?;
            tx.trees[idx].desc = Some(desc);
            tx.trees[idx].changed = true;
            Ok(replaced)
        })
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&mut self, key: &[u8]) -> Result<bool> {
        let idx = self.idx;
        self.tx.guarded(|tx| {
            let mut desc = tx.trees[idx].desc.expect("descriptor");
            let removed = btree::remove(tx.pager(), &mut desc, key)?;
            if removed {
                tx.trees[idx].desc = Some(desc);
                tx.trees[idx].changed = true;
            }
            Ok(removed)
        })
    }

    /// The value under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<&[u8]>> {
        self.tx.usable()?;
        let src = Src::Txn(self.tx.pager.as_ref().expect("pager"));
        btree::get(src, &self.tx.trees[self.idx].desc.expect("descriptor"), key)
    }

    /// Entries with keys in `range`, in order (reverse with `.rev()`).
    pub fn range<'k, R: std::ops::RangeBounds<&'k [u8]>>(&self, range: R) -> Result<Range<'_>> {
        self.view()?.into_range(range)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> Result<Range<'_>> {
        self.view()?.iter()
    }

    /// Entries whose keys start with `prefix`.
    pub fn prefix(&self, prefix: &[u8]) -> Result<Range<'_>> {
        self.view()?.prefix(prefix)
    }

    /// The entry with the smallest key.
    pub fn first(&self) -> Result<Option<(&[u8], &[u8])>> {
        self.view()?.first()
    }

    /// The entry with the largest key.
    pub fn last(&self) -> Result<Option<(&[u8], &[u8])>> {
        self.view()?.last()
    }

    /// Number of entries, O(1).
    pub fn len(&self) -> Result<u64> {
        self.tx.usable()?;
        Ok(self.desc().len)
    }

    /// True if the tree has no entries.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

fn check_len(what: Limit, actual: usize, max: usize) -> Result<()> {
    if actual > max {
        return Err(Error::LimitExceeded {
            what,
            actual: actual as u64,
            max: max as u64,
        });
    }
    Ok(())
}
