//! The write transaction: named trees, and commit.
//!
//! There is one writer at a time: `WriteTxn` holds the writer mutex until it
//! commits or is dropped, and a second `begin_write` waits for it, unless it
//! comes from the thread holding the transaction, which would wait for
//! itself: that one gets `Error::WriteTxnOpenOnThisThread` (`WriterGuard`
//! keeps the holder's thread on record). Dropping a `WriteTxn` without
//! committing aborts it: nothing it wrote is reachable, and the pages it
//! took from the free list go back.
//!
//! Commit, step by step (`Durability::Immediate`; each step's crash argument):
//! 1. Tree descriptors go into the catalog. Every changed page is already in
//!    a location no committed state uses (copy on write).
//!    Crash: nothing any durable state refers to has changed.
//! 2. The dirty pages are sealed and stay in the cache arena as resident
//!    pages (`resident`; a checkpoint writes them), or, when resident pages
//!    fill their half of the arena, are written (pwrite, no fsync;
//!    `data.write`); the file is extended to the new page count.
//!    Crash: as 1; the newest checkpoint does not reach these pages.
//! 3. The transaction's logical record is appended to the WAL (`wal.write`),
//!    and the writer lock is released, so the next writer builds on this
//!    state while the log flushes.
//!    Crash: the record is unacknowledged; recovery replays it if it is whole
//!    and drops it if torn: all or nothing.
//! 4. A group-commit leader fsyncs the WAL (`wal.sync`) for every record
//!    appended so far.
//! 5. Only then is the new state published to new snapshots, and `commit`
//!    returns: the commit survives any crash from here on.
//!
//! A transaction whose record would exceed `wal_bytes_max` skips 3–4 and
//! commits as a checkpoint instead (see `checkpoint`), so it is never logged
//! twice. A failed write or fsync poisons the `Db`: later writes fail with
//! `Error::Poisoned` until it is reopened, and no fsync is retried.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::btree;
use crate::checkpoint;
use crate::commit::SyncMode;
use crate::engine::{Engine, Signal, WriterGuard, WriterState};
use crate::error::{Error, Limit, Result};
use crate::format::wal::{OP_CREATE_TREE, OP_DELETE_TREE, OpLog, RECORD_BYTES_MAX};
use crate::format::{Meta, TREE_NAME_BYTES_MAX, TreeDesc, TxnId, VALUE_BYTES_MAX};
use crate::options::Durability;
use crate::pager::{Pager, Src};
use crate::read::{KeyRange, Range, Tree, list_catalog, lookup_tree};

/// The value a [`crate::Db::compare_and_swap`] found instead of the expected one.
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

/// What happens to the transaction's logical record.
enum Logging {
    /// Ops are recorded for the WAL.
    On(OpLog),
    /// The record outgrew `wal_bytes_max`: commit as a checkpoint.
    TooLarge,
    /// Recovery is replaying the WAL: commit as a checkpoint.
    Replay,
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
///
/// A `WriteTxn` stays on the thread that began it: it is not `Send`, as it
/// holds the writer lock, and the check that turns a self-deadlock into
/// [`Error::WriteTxnOpenOnThisThread`] knows the holder by its thread.
///
/// ```compile_fail
/// # let dir = tempfile::tempdir().unwrap();
/// let db = oakmap::Db::open(dir.path().join("x.oak")).unwrap();
/// let tx = db.begin_write().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(move || tx.commit()); // error: `WriteTxn` cannot be sent between threads
/// });
/// ```
///
/// In async code, run the whole transaction (begin, writes, commit) in a
/// blocking task, with the `Db` in an `Arc`, so that the writer lock is
/// never held across an `.await` and no executor thread waits for it. With
/// tokio that is `tokio::task::spawn_blocking(move || { ... }).await`; a
/// plain thread has the same shape:
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
///
/// let db = Arc::new(oakmap::Db::open(dir.path().join("bank.oak"))?);
/// let transfer = {
///     let db = Arc::clone(&db);
///     std::thread::spawn(move || -> oakmap::Result<()> {
///         let mut tx = db.begin_write()?;
///         let mut accounts = tx.open_tree("accounts")?;
///         accounts.insert(b"alice", b"90")?;
///         accounts.insert(b"bob", b"110")?;
///         tx.commit()
///     })
/// };
/// transfer.join().expect("no panic")?;
/// assert_eq!(db.get("accounts", b"bob")?, Some(b"110".to_vec()));
/// # Ok::<(), oakmap::Error>(())
/// ```
pub struct WriteTxn<'db> {
    inner: &'db Engine,
    signal: Option<&'db Signal>,
    state: Option<WriterGuard<'db>>,
    pager: Option<Pager<'db>>,
    txn: TxnId,
    catalog: TreeDesc,
    trees: Vec<OpenTree>,
    durability: Durability,
    logging: Logging,
    failed: bool,
    /// Counted in the commit log's writers in flight.
    in_flight: bool,
    /// Names this transaction among all in the process, for [`TreeId`].
    tag: u64,
}

/// A tree opened by [`WriteTxn::open_trees`]; [`WriteTxn::tree`] turns it
/// into a [`TreeMut`]. Valid only in the transaction that opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeId {
    txn: u64,
    idx: usize,
}

impl<'db> WriteTxn<'db> {
    /// Takes the writer lock (waiting for the current writer). If the WAL is
    /// full, checkpoints first: the only time a writer waits for a checkpoint.
    pub(crate) fn begin(inner: &'db Engine, signal: &'db Signal) -> Result<WriteTxn<'db>> {
        let mut state = inner.lock_writer()?;
        let begun = (|| -> Result<()> {
            inner.log.writer_enter();
            inner.check_poisoned()?;
            if inner.log.uncovered_bytes() >= inner.options.wal_bytes_max {
                inner
                    .counters
                    .backpressure_waits
                    .fetch_add(1, Ordering::Relaxed);
                checkpoint::run_locked(inner, &mut state)?;
            }
            Ok(())
        })();
        begun.inspect_err(|_| inner.log.writer_leave())?;
        let mut tx = WriteTxn::new(inner, state);
        tx.signal = Some(signal);
        tx.in_flight = true;
        Ok(tx)
    }

    /// This writer no longer holds up a group-commit leader.
    fn leave_flight(&mut self) {
        if std::mem::take(&mut self.in_flight) {
            self.inner.log.writer_leave();
        }
    }

    /// The transaction recovery replays the WAL into.
    pub(crate) fn for_replay(inner: &'db Engine) -> Result<WriteTxn<'db>> {
        let mut tx = WriteTxn::new(inner, inner.lock_writer()?);
        tx.logging = Logging::Replay;
        Ok(tx)
    }

    fn new(inner: &'db Engine, mut state: WriterGuard<'db>) -> WriteTxn<'db> {
        inner.release_free(&mut state);
        let head = state.head;
        let committed = inner.map_source(&head, state.head_map);
        let free = std::mem::take(&mut state.free);
        let cache = state
            .cache
            .take()
            .expect("cache is home between transactions");
        let txn = TxnId(head.txn.0 + 1);
        WriteTxn {
            inner,
            signal: None,
            state: Some(state),
            pager: Some(Pager::new(
                committed,
                free,
                cache,
                txn,
                TxnId(inner.prepared_txn.load(Ordering::Acquire)),
                Some(&inner.readers),
            )),
            txn,
            catalog: head.catalog,
            trees: Vec::new(),
            durability: inner.options.durability,
            logging: Logging::On(OpLog::default()),
            failed: false,
            in_flight: false,
            tag: {
                static NEXT: AtomicU64 = AtomicU64::new(1);
                NEXT.fetch_add(1, Ordering::Relaxed)
            },
        }
    }

    /// The id this transaction will commit as.
    pub fn id(&self) -> u64 {
        self.txn.0
    }

    /// Replay: the transaction commits as the last replayed record's txn.
    pub(crate) fn set_id(&mut self, txn: TxnId) {
        debug_assert!(txn.0 >= self.txn.0, "replayed txn ids go backwards");
        self.txn = txn;
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

    /// Records an operation of `bytes` bytes for the WAL, giving up on the
    /// record (and committing as a checkpoint) if it would outgrow the WAL
    /// bound. The size is checked before anything is copied, so a value too
    /// large for the log never passes through the record's buffer.
    fn log(&mut self, bytes: usize, f: impl FnOnce(&mut OpLog)) {
        let max = self.inner.options.wal_bytes_max.min(RECORD_BYTES_MAX);
        if let Logging::On(ops) = &mut self.logging {
            if (ops.bytes() as u64).saturating_add(bytes as u64) > max {
                self.logging = Logging::TooLarge;
            } else {
                f(ops);
            }
        }
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

    /// Opens the tree `name`, creating it if it does not exist. The tree is
    /// then created by the commit even if nothing is inserted into it; to
    /// change a tree only if it exists, use [`WriteTxn::tree_mut`].
    ///
    /// A [`TreeMut`] borrows the transaction mutably, because a value read
    /// through it points into the transaction's own pages, which a write to
    /// any tree may change or move. Opening again is cheap (after the first
    /// time the tree is found in the transaction's list, not looked up in
    /// the catalog); to hold several trees open at once, take a
    /// [`TreeId`] for each with [`WriteTxn::open_trees`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # db.insert("queue", b"job-1", b"payload")?;
    /// let mut tx = db.begin_write()?;
    /// // The value is copied out before the next write, which may move it.
    /// if let Some(job) = tx.open_tree("queue")?.get(b"job-1")?.map(<[u8]>::to_vec) {
    ///     tx.open_tree("queue")?.remove(b"job-1")?;
    ///     tx.open_tree("done")?.insert(b"job-1", &job)?;
    /// }
    /// tx.commit()?;
    /// assert_eq!(db.get("done", b"job-1")?, Some(b"payload".to_vec()));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn open_tree(&mut self, name: &str) -> Result<TreeMut<'_, 'db>> {
        let idx = self.open_index(name)?;
        Ok(TreeMut { tx: self, idx })
    }

    /// Opens (creating if missing, as [`WriteTxn::open_tree`] does) several
    /// trees at once and returns a [`TreeId`] for each: a `Copy` token that
    /// [`WriteTxn::tree`] turns into a [`TreeMut`] with no lookup, so a
    /// transaction can hold any number of trees open and switch between
    /// them at no cost. Values read are copied out before the next write,
    /// as with one tree.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # db.insert("queue", b"job-1", b"payload")?;
    /// let mut tx = db.begin_write()?;
    /// let [queue, done] = tx.open_trees(["queue", "done"])?;
    /// while let Some((key, job)) = tx.tree(queue)?.first()?.map(|(k, v)| (k.to_vec(), v.to_vec())) {
    ///     tx.tree(queue)?.remove(&key)?;
    ///     tx.tree(done)?.insert(&key, &job)?;
    /// }
    /// tx.commit()?;
    /// assert_eq!(db.get("done", b"job-1")?, Some(b"payload".to_vec()));
    /// assert_eq!(db.get("queue", b"job-1")?, None);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn open_trees<const N: usize>(&mut self, names: [&str; N]) -> Result<[TreeId; N]> {
        let mut ids = [TreeId { txn: 0, idx: 0 }; N];
        for (id, name) in ids.iter_mut().zip(names) {
            *id = TreeId {
                txn: self.tag,
                idx: self.open_index(name)?,
            };
        }
        Ok(ids)
    }

    /// The tree `id` names, opened by [`WriteTxn::open_trees`] in this
    /// transaction. If it was deleted since, it is created again, empty, as
    /// `open_tree` would.
    ///
    /// # Panics
    ///
    /// If `id` comes from another transaction: a `TreeId` is valid only in
    /// the transaction that opened it.
    pub fn tree(&mut self, id: TreeId) -> Result<TreeMut<'_, 'db>> {
        assert!(
            id.txn == self.tag,
            "a TreeId used outside the WriteTxn that opened it"
        );
        self.usable()?;
        self.recreate_if_deleted(id.idx);
        Ok(TreeMut {
            tx: self,
            idx: id.idx,
        })
    }

    /// The position of tree `name` in the transaction's list, created if
    /// missing.
    fn open_index(&mut self, name: &str) -> Result<usize> {
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
        self.recreate_if_deleted(idx);
        Ok(idx)
    }

    /// Gives tree `idx` an empty descriptor if it has none (new, or deleted
    /// in this transaction), and logs its creation.
    fn recreate_if_deleted(&mut self, idx: usize) {
        if self.trees[idx].desc.is_none() {
            self.trees[idx].desc = Some(TreeDesc::default());
            self.trees[idx].changed = true;
            let name = std::mem::take(&mut self.trees[idx].name);
            self.log(2 + name.len(), |ops| ops.tree(OP_CREATE_TREE, &name));
            self.trees[idx].name = name;
        }
    }

    /// Opens the tree `name` for writing if it exists (in this transaction's
    /// view: created or deleted earlier in it counts), and creates nothing
    /// if it does not.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// if let Some(mut sessions) = tx.tree_mut("sessions")? {
    ///     sessions.remove(b"expired")?;
    /// }
    /// tx.commit()?; // no tree was there: nothing to commit, and none created
    /// assert!(db.list_trees()?.is_empty());
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn tree_mut(&mut self, name: &str) -> Result<Option<TreeMut<'_, 'db>>> {
        check_tree_name(name)?;
        self.usable()?;
        match self.find(name)? {
            Some(idx) if self.trees[idx].desc.is_some() => Ok(Some(TreeMut { tx: self, idx })),
            _ => Ok(None),
        }
    }

    /// Deletes the tree `name` and frees its pages; returns whether it existed.
    pub fn delete_tree(&mut self, name: &str) -> Result<bool> {
        check_tree_name(name)?;
        let deleted = self.guarded(|tx| {
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
        })?;
        if deleted {
            self.log(2 + name.len(), |ops| ops.tree(OP_DELETE_TREE, name));
        }
        Ok(deleted)
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

    /// Gives the transaction up: out of the writers in flight, and the
    /// pager's free list and cache back to the writer state (still locked).
    fn abort(&mut self) {
        self.leave_flight();
        if let (Some(pager), Some(state)) = (self.pager.take(), self.state.as_mut()) {
            let (free, cache) = pager.abort();
            state.free = free;
            state.cache = Some(cache);
        }
    }

    /// A commit that changed nothing writes nothing, but what the
    /// transaction read is the state it began from, which may still be
    /// waiting for its fsync or its turn to be published. A decision made
    /// on it (a key found present, a compare-and-swap that lost) must rest
    /// on a state every new snapshot sees and, under `Immediate`, a crash
    /// keeps: so this returns once that state is published and, under
    /// `Immediate`, its record is durable. The writer lock goes first, so
    /// the next writer does not wait for this.
    fn commit_unchanged(mut self) -> Result<()> {
        let inner = self.inner;
        let replay = matches!(self.logging, Logging::Replay);
        let immediate = matches!(self.durability, Durability::Immediate);
        let base = self.state.as_ref().map(|s| (s.head.txn, s.head.wal_lsn));
        self.abort();
        drop(self.state.take());
        let Some((txn, lsn)) = base.filter(|_| !replay) else {
            return Ok(());
        };
        inner.log.wait_published(txn, &inner.published)?;
        if immediate {
            inner.log.sync_through(lsn, &inner.published)?;
        }
        Ok(())
    }

    /// Makes the transaction durable (per its [`Durability`]) and visible to
    /// new snapshots. See the module documentation for the steps.
    pub fn commit(mut self) -> Result<()> {
        self.usable()?;
        self.inner.check_poisoned()?;
        self.flush_catalog()?;
        if self.pager.as_ref().is_some_and(Pager::is_unchanged) {
            return self.commit_unchanged();
        }
        let inner = self.inner;
        // From the pages on, a panic must not leave the commit number taken
        // with no record (see `PoisonOnPanic`).
        let _poison = inner.poison_on_panic();
        let mut state = self.state.take().expect("writer lock held until commit");
        let pager = self.pager.take().expect("pager");
        let meta = match write_pages(inner, &mut state, pager, self.txn, self.catalog) {
            Ok(meta) => meta,
            Err(e) => {
                inner.poison();
                return Err(e);
            }
        };
        inner.counters.commits.fetch_add(1, Ordering::Relaxed);
        let mut ops = match std::mem::replace(&mut self.logging, Logging::TooLarge) {
            Logging::On(ops) => ops,
            Logging::TooLarge => {
                // Commit as a checkpoint: durable when it returns, whatever the mode.
                self.leave_flight();
                checkpoint::run_locked(inner, &mut state)?;
                inner
                    .log
                    .push_durable(&state.head, state.head_map, &inner.published);
                return Ok(());
            }
            Logging::Replay => {
                checkpoint::run_after_recovery(inner, &mut state)?;
                inner
                    .log
                    .push_durable(&state.head, state.head_map, &inner.published);
                return Ok(());
            }
        };
        let mode = match self.durability {
            Durability::Immediate => SyncMode::Now,
            Durability::Group(d) => SyncMode::Within(d),
            Durability::None => SyncMode::Never,
        };
        let in_flight = std::mem::take(&mut self.in_flight);
        let appended = inner.log.append(
            &mut ops,
            &meta,
            state.head_map,
            mode,
            &inner.published,
            in_flight,
        );
        match appended {
            Ok(end) => state.head.wal_lsn = end,
            Err(e) => {
                inner.poison();
                return Err(e);
            }
        }
        drop(state); // the next writer may start while this record flushes
        if inner.log.uncovered_bytes() >= inner.options.wal_bytes_max / 2
            && let Some(signal) = self.signal
        {
            signal.kick();
        }
        inner
            .log
            .wait_published(meta.txn, &inner.published)
            .inspect_err(|_| inner.poison())
    }

    /// Dirty pages held by this transaction, cached or spilled (for tests).
    #[doc(hidden)]
    pub fn dirty_pages(&self) -> usize {
        self.pager.as_ref().map_or(0, Pager::dirty_pages)
    }
}

/// Step 2 of commit: keeps the dirty pages resident or writes them, makes the new state the writer's
/// head, and returns its meta.
fn write_pages(
    inner: &Engine,
    state: &mut WriterState,
    mut pager: Pager<'_>,
    txn: TxnId,
    catalog: TreeDesc,
) -> Result<Meta> {
    let written = pager.commit_pages(&inner.file);
    let page_count = pager.page_count;
    let (free_total, pending_total, pinned) = (
        pager.free_total(),
        pager.pending_total(),
        pager.checkpoint_pinned_total(),
    );
    let (free, cache) = pager.finish_commit(txn);
    state.free = free;
    state.cache = Some(cache);
    written?;
    let bytes = page_count * inner.page_bytes as u64;
    inner.file.grow_to(bytes)?;
    state.head_map = inner.file.ensure_mapped(bytes)?;
    state.head = Meta {
        txn,
        page_count,
        catalog,
        wal_lsn: state.head.wal_lsn,
        ..Meta::default()
    };
    inner
        .counters
        .set_space(&state.head, free_total, pending_total, pinned);
    Ok(state.head)
}

impl Drop for WriteTxn<'_> {
    fn drop(&mut self) {
        self.abort();
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
/// transaction's own changes; nothing is visible outside it until
/// [`WriteTxn::commit`] returns. It borrows the transaction mutably, so one
/// tree at a time is open by name ([`WriteTxn::open_trees`] gives ids to
/// move between several).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let mut tx = db.begin_write()?;
/// let mut stock = tx.open_tree("stock")?;
/// stock.insert(b"apple", b"3")?;
/// stock.insert(b"pear", b"0")?;
/// assert!(stock.insert(b"apple", b"5")?);                  // true: replaced
/// assert_eq!(stock.get(b"apple")?, Some(&b"5"[..]));       // sees its own writes
/// // Read-modify-write: copy what a write would invalidate out first.
/// let mut sold_out = Vec::new();
/// for entry in stock.iter()? {
///     let (key, count) = entry?;
///     if count == b"0" {
///         sold_out.push(key.to_vec());
///     }
/// }
/// for key in &sold_out {
///     stock.remove(key)?;
/// }
/// assert_eq!(stock.len()?, 1);
/// assert!(db.begin_read().tree("stock")?.is_none());       // not committed yet
/// tx.commit()?;
/// assert_eq!(db.get("stock", b"apple")?, Some(b"5".to_vec()));
/// # Ok::<(), oakmap::Error>(())
/// ```
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
        let key_max = crate::format::key_bytes_max(self.tx.inner.page_bytes);
        check_len(Limit::KeyBytes, key.len(), key_max)?;
        check_len(Limit::ValueBytes, value.len(), VALUE_BYTES_MAX)?;
        let idx = self.idx;
        let replaced = self.tx.guarded(|tx| {
            let mut desc = tx.trees[idx].desc.expect("descriptor");
            let replaced = btree::insert(tx.pager(), &mut desc, key, value)?;
            tx.trees[idx].desc = Some(desc);
            tx.trees[idx].changed = true;
            Ok(replaced)
        })?;
        let name = std::mem::take(&mut self.tx.trees[idx].name);
        let bytes = OpLog::put_bytes(&name, key, value);
        self.tx.log(bytes, |ops| ops.put(&name, key, value));
        self.tx.trees[idx].name = name;
        Ok(replaced)
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&mut self, key: &[u8]) -> Result<bool> {
        let idx = self.idx;
        let removed = self.tx.guarded(|tx| {
            let mut desc = tx.trees[idx].desc.expect("descriptor");
            let removed = btree::remove(tx.pager(), &mut desc, key)?;
            if removed {
                tx.trees[idx].desc = Some(desc);
                tx.trees[idx].changed = true;
            }
            Ok(removed)
        })?;
        if removed {
            let name = std::mem::take(&mut self.tx.trees[idx].name);
            let bytes = OpLog::put_bytes(&name, key, b"");
            self.tx.log(bytes, |ops| ops.delete(&name, key));
            self.tx.trees[idx].name = name;
        }
        Ok(removed)
    }

    /// Packs the leaves under the branch on `key`'s path (`btree::pack`),
    /// copying them forward; returns the leaves saved. No entry changes, so
    /// nothing is logged.
    pub(crate) fn repack(&mut self, key: &[u8]) -> Result<u64> {
        let idx = self.idx;
        self.tx.guarded(|tx| {
            let mut desc = tx.trees[idx].desc.expect("descriptor");
            let saved = btree::repack(tx.pager(), &mut desc, key)?;
            if Some(desc) != tx.trees[idx].desc {
                tx.trees[idx].desc = Some(desc);
                tx.trees[idx].changed = true;
            }
            Ok(saved)
        })
    }

    /// The value under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<&[u8]>> {
        self.tx.usable()?;
        let src = Src::Txn(self.tx.pager.as_ref().expect("pager"));
        btree::get(src, &self.tx.trees[self.idx].desc.expect("descriptor"), key)
    }

    /// Entries with keys in `range`, in order (reverse with `.rev()`); the
    /// bounds are as for [`Tree::range`].
    pub fn range(&self, range: impl KeyRange) -> Result<Range<'_>> {
        self.view()?.into_range(range)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> Result<Range<'_>> {
        self.view()?.iter()
    }

    /// Entries whose keys start with `prefix`, in order, this transaction's
    /// own writes included; see [`Tree::prefix`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut t = tx.open_tree("sessions")?;
    /// t.insert(b"user:1:a", b"")?;
    /// t.insert(b"user:1:b", b"")?;
    /// t.insert(b"user:2:a", b"")?;
    /// // End every session of user 1: collect the keys, then remove them.
    /// let mut keys = Vec::new();
    /// for entry in t.prefix(b"user:1:")? {
    ///     keys.push(entry?.0.to_vec());
    /// }
    /// for k in &keys {
    ///     t.remove(k)?;
    /// }
    /// assert_eq!(t.len()?, 1);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
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
    ///
    /// Unlike [`Tree::len`] this returns a `Result`: after an operation of
    /// this transaction failed part-way, every read of it returns
    /// [`Error::TransactionFailed`], the count included, rather than a
    /// number the rest of its reads would not back.
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
