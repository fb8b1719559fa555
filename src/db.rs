//! `Db`: the shared state of an open database, its background threads, and
//! the public entry points.
//!
//! Two background threads run while a `Db` is open: the flusher, which
//! fsyncs `Durability::Group` records by their deadline, and the
//! checkpointer, which checkpoints when the WAL passes half its bound, the
//! checkpoint interval has passed with commits outstanding, or freed pages
//! waiting for a checkpoint pass an eighth of the file. `Db::close` (or
//! dropping the `Db`, which ignores errors) stops both and takes a last
//! checkpoint, so a clean reopen replays nothing.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::backup::{BackupOptions, BackupReport};
use crate::check::{self, CheckReport};
use crate::checkpoint;
use crate::compact::{self, Compaction};
use crate::engine::{Engine, Signal};
use crate::error::{At, Result};
use crate::format::{self, FIRST_DATA_PAGE};
use crate::options::Options;
use crate::pager::MapSource;
use crate::read::ReadTxn;
use crate::recovery;
use crate::txn::{CasConflict, WriteTxn};

impl Options {
    /// Opens (or creates) the database at `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<Db> {
        Db::open_with(path.as_ref(), self)
    }
}

/// An open database: share it by reference or in an `Arc` across threads.
///
/// ```no_run
/// let db = oakmap::Db::open("app.oak")?;
/// let mut tx = db.begin_write()?;
/// tx.open_tree("users")?.insert(b"alice", b"{}")?;
/// tx.commit()?;
/// let rx = db.begin_read();
/// let users = rx.tree("users")?.expect("created above");
/// assert_eq!(users.get(b"alice")?, Some(&b"{}"[..]));
/// # Ok::<(), oakmap::Error>(())
/// ```
pub struct Db {
    inner: Arc<Engine>,
    signal: Arc<Signal>,
    threads: Vec<JoinHandle<()>>,
    /// The close ran (from [`Db::close`]); drop has nothing left to do.
    closed: bool,
}

/// What [`Db::get_or_insert`] found, or inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetOrInsert {
    /// The value now under the key: the one found, or the one this call inserted.
    pub value: Vec<u8>,
    /// True when the key was absent and this call inserted `value`.
    pub inserted: bool,
}

/// A point-in-time view of the database's health, from [`Db::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The newest transaction visible to new snapshots.
    pub txn_id: u64,
    /// Commits opening replayed from the write-ahead log (0 after a clean
    /// close).
    pub replayed_commits: u64,
    /// Live read snapshots.
    pub live_snapshots: usize,
    /// How many commits behind the newest the oldest live snapshot is.
    pub oldest_snapshot_txns_behind: Option<u64>,
    /// How long the oldest live snapshot has been open.
    pub oldest_snapshot_age: Option<Duration>,
    /// Pages reachable from the newest state (trees, overflow, freelist).
    pub pages_in_use: u64,
    /// Pages free for reuse now or once older snapshots and the checkpoint move on.
    pub free_pages: u64,
    /// Of `free_pages`, those still held by snapshots or the checkpoint.
    pub pending_pages: u64,
    /// Page size in bytes.
    pub page_bytes: usize,
    /// Length of the data file in bytes.
    pub file_bytes: u64,
    /// Commits since open.
    pub commits: u64,
    /// WAL fsyncs since open; `commits / wal_fsyncs` is the group-commit gain.
    pub wal_fsyncs: u64,
    /// WAL bytes not yet covered by a checkpoint (what recovery would replay).
    pub wal_bytes: u64,
    /// WAL bytes written since open.
    pub wal_bytes_written: u64,
    /// Checkpoints since open.
    pub checkpoints: u64,
    /// How long the last checkpoint took.
    pub checkpoint_last: Duration,
    /// Time spent in checkpoints since open.
    pub checkpoint_total: Duration,
    /// Times a writer had to checkpoint first because the WAL was full.
    pub backpressure_waits: u64,
    /// Size of the page cache arena.
    pub cache_bytes: usize,
    /// Dirty-page lookups found in the cache.
    pub cache_hits: u64,
    /// Pages brought into the cache.
    pub cache_misses: u64,
    /// Dirty pages written out early because the cache was full.
    pub cache_spills: u64,
    /// Frames reclaimed from one page for another.
    pub cache_evictions: u64,
    /// Committed pages that only the cache arena holds (write-back): the
    /// next checkpoint puts them in the file.
    pub resident_pages: u64,
    /// Commits that wrote their pages to the file themselves because
    /// resident pages filled their share of the cache (half of it).
    pub commits_writing_pages: u64,
}

impl Db {
    /// Opens (or creates) the database at `path` with default [`Options`].
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Db::open_with(path.as_ref(), Options::default())
    }

    pub(crate) fn open_with(path: &Path, options: Options) -> Result<Db> {
        let inner = Arc::new(recovery::open(path, options)?);
        let signal = Arc::new(Signal::default());
        // A thread that cannot start is an error of this database's open.
        let path = inner.file.path().to_path_buf();
        let flusher = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("oakmap-flusher".into())
                .spawn(move || inner.log.run_flusher(&inner.published))
                .at(&path)?
        };
        let checkpointer = {
            let (inner, signal) = (inner.clone(), signal.clone());
            std::thread::Builder::new()
                .name("oakmap-checkpointer".into())
                .spawn(move || checkpoint::run_thread(&inner, &signal))
                .at(&path)?
        };
        Ok(Db {
            inner,
            signal,
            threads: vec![flusher, checkpointer],
            closed: false,
        })
    }

    /// Closes the database and says whether the close was clean: stops the
    /// background threads, takes a last checkpoint carrying the clean mark
    /// (so the next open replays nothing) and cuts the file back to its
    /// last page. Dropping a `Db` does the same but can only ignore errors.
    ///
    /// On an error nothing acknowledged is lost: the next open recovers
    /// from the write-ahead log as after a crash. [`Error::Poisoned`](crate::Error::Poisoned) means
    /// an earlier write failed and the close wrote nothing; an [`Error::Io`](crate::Error::Io)
    /// may also come from the trim alone, after a clean checkpoint, and
    /// then only leaves the file longer than it needs to be.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("x.oak");
    /// let db = oakmap::Db::open(&path)?;
    /// db.insert("users", b"alice", b"1")?;
    /// db.close()?;
    /// assert_eq!(oakmap::Db::open(&path)?.get("users", b"alice")?, Some(b"1".to_vec()));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn close(mut self) -> Result<()> {
        self.shut_down()
    }

    /// The close, once: [`Db::close`] reports its error, drop ignores it.
    fn shut_down(&mut self) -> Result<()> {
        debug_assert!(!self.closed, "a Db is closed once");
        self.closed = true;
        self.signal.stop();
        self.inner.log.stop();
        for t in self.threads.drain(..) {
            // A background thread that panicked has nothing left to stop;
            // the close below goes on without it.
            let _ = t.join();
        }
        // A clean close: the last checkpoint carries the clean mark, so the
        // next open needs no log. On a poisoned database it writes nothing
        // and says so; an error leaves the WAL to recovery. The room grown
        // ahead of the last page can go, and never more: the file keeps
        // every page the newest checkpoint reaches. Owned snapshots may
        // still be reading; each reads only pages below its state's page
        // count, which exceeds the newest state's only for a snapshot from
        // before a compaction gave pages back: then the file stays whole.
        checkpoint::close(&self.inner)?;
        if !compact::may_trim(&self.inner) {
            return Ok(()); // a snapshot from before a compaction reads further
        }
        let page_count = self.inner.checkpoint.lock().meta.page_count;
        match page_count.checked_mul(self.inner.page_bytes as u64) {
            Some(bytes) => self.inner.file.trim_to(bytes),
            None => Ok(()),
        }
    }

    /// Starts a read transaction: a snapshot of the newest published state,
    /// consistent for as long as it lives. Never blocks. It borrows the
    /// `Db`; [`Db::begin_read_owned`] gives one that does not.
    pub fn begin_read(&self) -> ReadTxn<'_> {
        ReadTxn::new(&self.inner)
    }

    /// Starts a read transaction that owns its hold on the database, to move
    /// into another thread or an async task (`tokio::spawn` needs `'static`).
    /// It costs one reference count more than [`Db::begin_read`], a counter
    /// all owned snapshots share, so prefer `begin_read` where a borrow will do.
    ///
    /// It does not keep the `Db` open: closing (or dropping) the `Db` runs
    /// the last checkpoint and stops the background threads as always, and
    /// the snapshot goes on reading its state. It does keep the file open
    /// and locked until it is dropped: opening the database again meanwhile
    /// returns [`Error::Locked`](crate::Error::Locked).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// db.insert("users", b"alice", b"1")?;
    /// let rx = db.begin_read_owned();                          // a ReadTxn<'static>
    /// db.insert("users", b"alice", b"2")?;                     // not in that snapshot
    /// let reader = std::thread::spawn(move || -> oakmap::Result<Option<Vec<u8>>> {
    ///     let users = rx.tree("users")?.expect("created above");
    ///     Ok(users.get(b"alice")?.map(<[u8]>::to_vec))
    /// });
    /// assert_eq!(reader.join().unwrap()?, Some(b"1".to_vec()));
    ///
    /// // A tree with its snapshot, owned: keep it in a task or a connection.
    /// let users = db.begin_read_owned().into_tree("users")?.expect("exists");
    /// std::thread::spawn(move || assert_eq!(users.tree().len(), 1)).join().unwrap();
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn begin_read_owned(&self) -> ReadTxn<'static> {
        ReadTxn::new_owned(self.inner.clone())
    }

    /// Starts the write transaction, waiting while another one is open.
    /// Dropping it without [`WriteTxn::commit`] aborts it.
    ///
    /// Returns [`Error::WriteTxnOpenOnThisThread`](crate::Error::WriteTxnOpenOnThisThread) if the open one is this
    /// thread's own: waiting for it would never end. (A thread waiting for
    /// another thread that waits for this one is not detected.)
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// tx.open_tree("users")?.insert(b"alice", b"1")?;
    /// // The one-call forms are transactions of their own:
    /// assert!(matches!(
    ///     db.insert("users", b"bob", b"2"),
    ///     Err(oakmap::Error::WriteTxnOpenOnThisThread)
    /// ));
    /// tx.commit()?;
    /// db.insert("users", b"bob", b"2")?; // fine once it is committed
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn begin_write(&self) -> Result<WriteTxn<'_>> {
        WriteTxn::begin(&self.inner, &self.signal)
    }

    /// Makes every commit so far durable, whatever its durability mode.
    /// It does not wait for the writer, so a thread holding a [`WriteTxn`]
    /// may call it (the open transaction is not a commit yet).
    pub fn sync(&self) -> Result<()> {
        self.inner.check_poisoned()?;
        self.inner
            .log
            .sync_all(&self.inner.published)
            .inspect_err(|_| self.inner.poison())
    }

    /// Checkpoints now: the data file reaches the newest committed state and
    /// the WAL before it is let go.
    ///
    /// Returns [`Error::WriteTxnOpenOnThisThread`](crate::Error::WriteTxnOpenOnThisThread) if this thread holds a
    /// [`WriteTxn`] on this `Db`: the checkpoint would wait for it forever.
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.writer_thread.refuse_current()?;
        checkpoint::run(&self.inner)
    }

    /// Compacts the file in place: moves the pages at its end into free
    /// pages nearer the start, a bounded number per commit (readers and
    /// writers go on meanwhile), checkpoints, and cuts the file short. It
    /// stops early, without harm, when a live snapshot holds pages it would
    /// move or give back ([`Compaction::pinned`]); compacting again after
    /// the snapshot is released goes on from there.
    ///
    /// Returns [`Error::WriteTxnOpenOnThisThread`](crate::Error::WriteTxnOpenOnThisThread) if this thread holds a
    /// [`WriteTxn`] on this `Db`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// for i in 0u32..20_000 {
    ///     tx.open_tree("t")?.insert(&i.to_be_bytes(), &[7; 100])?;
    /// }
    /// tx.commit()?;
    /// let mut tx = db.begin_write()?;
    /// for i in 100u32..20_000 {
    ///     tx.open_tree("t")?.remove(&i.to_be_bytes())?;
    /// }
    /// tx.commit()?;
    /// let done = db.compact()?;
    /// assert!(done.bytes_after < done.bytes_before / 4);
    /// assert_eq!(db.get("t", &7u32.to_be_bytes())?, Some(vec![7; 100]));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn compact(&self) -> Result<Compaction> {
        compact::run(&self.inner, &self.signal)
    }

    /// The longest key this database accepts (1,337 bytes at 4 KiB pages).
    pub fn key_bytes_max(&self) -> usize {
        format::key_bytes_max(self.inner.page_bytes)
    }

    /// The page size of this database.
    pub fn page_bytes(&self) -> usize {
        self.inner.page_bytes
    }

    /// The file this database lives in (a symbolic link resolved).
    pub fn path(&self) -> &Path {
        self.inner.file.path()
    }

    /// When this database was opened with [`Options::accept_log_loss`] and
    /// its write-ahead log could not be recovered in full: why, and so that
    /// commits after the last readable one were dropped. `None` when nothing
    /// was lost.
    pub fn log_loss(&self) -> Option<&str> {
        self.inner.log_loss.as_deref()
    }

    /// Space, snapshot, commit, WAL, checkpoint and cache figures.
    pub fn stats(&self) -> Result<Stats> {
        let inner = &self.inner;
        let (meta, _) = inner.published.load();
        let c = &inner.counters;
        // Atomics, not the checkpoint lock: stats never wait for a
        // checkpoint, however long it gives way to commits.
        let (checkpoints, checkpoint_last, checkpoint_total) = (
            c.checkpoints.load(Ordering::Relaxed),
            Duration::from_nanos(c.checkpoint_last_ns.load(Ordering::Relaxed)),
            Duration::from_nanos(c.checkpoint_total_ns.load(Ordering::Relaxed)),
        );
        let oldest = inner.readers.oldest();
        let log = inner.log.figures();
        let cache = &inner.cache_counters;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let free = c.free_pages.load(Ordering::Relaxed);
        Ok(Stats {
            txn_id: meta.txn.0,
            replayed_commits: inner.replayed_commits,
            live_snapshots: inner.readers.live(),
            oldest_snapshot_txns_behind: oldest.map(|(t, _)| meta.txn.0.saturating_sub(t.0)),
            oldest_snapshot_age: oldest.map(|(_, age)| age),
            pages_in_use: c
                .page_count
                .load(Ordering::Relaxed)
                .saturating_sub(FIRST_DATA_PAGE + free),
            free_pages: free,
            pending_pages: c.pending_pages.load(Ordering::Relaxed),
            page_bytes: inner.page_bytes,
            file_bytes: inner.file.len()?,
            commits: c.commits.load(Ordering::Relaxed),
            wal_fsyncs: log.fsyncs,
            wal_bytes: log.bytes_since_checkpoint,
            wal_bytes_written: log.bytes_written,
            checkpoints,
            checkpoint_last,
            checkpoint_total,
            backpressure_waits: c.backpressure_waits.load(Ordering::Relaxed),
            cache_bytes: inner.cache_bytes,
            cache_hits: load(&cache.hits),
            cache_misses: load(&cache.misses),
            cache_spills: load(&cache.spills),
            cache_evictions: load(&cache.evictions),
            resident_pages: inner.resident.dirty(),
            commits_writing_pages: load(&cache.written_through),
        })
    }

    /// Checkpoints, then verifies that state (as the file holds it, but for
    /// pages still resident in the cache arena, which are the same bytes): every
    /// checksum, key order within pages and against separators, every page
    /// reachable exactly once or free, the depth bound, and each tree's
    /// stored length. Writers wait while the checkpoint runs, not during the walk.
    ///
    /// Returns [`Error::WriteTxnOpenOnThisThread`](crate::Error::WriteTxnOpenOnThisThread) if this thread holds a
    /// [`WriteTxn`] on this `Db`: the checkpoint would wait for it forever.
    pub fn check(&self) -> Result<CheckReport> {
        let inner = &self.inner;
        inner.writer_thread.refuse_current()?;
        let (meta, map, token) = {
            let mut w = inner.writer.lock();
            inner.check_poisoned()?;
            checkpoint::run_locked(inner, &mut w)?;
            let token = inner.readers.register_at(w.head.txn);
            (w.head, w.head_map, token)
        };
        let src = MapSource {
            verify: true,
            ..inner.map_source(&meta, map)
        };
        let report = check::check_state(src, &meta);
        inner.readers.release(token);
        Ok(report)
    }

    /// Writes a consistent copy of the newest committed state to `path` while
    /// writers go on: a closed database (it opens with nothing to replay and
    /// needs no log files) rebuilt dense, every tree packed from the front
    /// and no page free, so it is often much smaller than this file. The
    /// snapshot it copies counts in [`Db::stats`] as a live one until the
    /// copy is durable. The copy is written under a temporary name beside
    /// `path`, fsynced, renamed into place and the directory fsynced: a
    /// crash never leaves half a file at `path`. An existing `path` (or a
    /// log file beside it) is refused with an [`Error::Io`](crate::Error::Io)
    /// of kind `AlreadyExists`; [`Db::backup_with`] can replace it. To copy
    /// a snapshot already held, use [`ReadTxn::backup_to`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("app.oak"))?;
    /// db.insert("users", b"alice", b"1")?;
    /// let copy = dir.path().join("backup.oak");
    /// let report = db.backup_to(&copy)?;
    /// assert_eq!(report.entries, 1);
    /// let restored = oakmap::Db::open(&copy)?;
    /// assert_eq!(restored.get("users", b"alice")?, Some(b"1".to_vec()));
    /// assert_eq!(restored.stats()?.replayed_commits, 0);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn backup_to(&self, path: impl AsRef<Path>) -> Result<BackupReport> {
        self.begin_read().backup_to(path)
    }

    /// [`Db::backup_to`] with [`BackupOptions`] (to replace an existing file).
    pub fn backup_with(
        &self,
        path: impl AsRef<Path>,
        options: BackupOptions,
    ) -> Result<BackupReport> {
        self.begin_read().backup_with(path, options)
    }

    /// Streams a consistent copy of the newest committed state to `w` while
    /// writers go on (bbolt's `Tx.WriteTo`): the bytes [`Db::backup_to`]
    /// would write to its file, in file order, for a socket, a pipe or a
    /// hasher. Written to a file, they open as that closed, compacted
    /// database. A stream cannot seek back to its start, so the copy is
    /// built twice: a dry pass counts its pages (nothing written), then the
    /// header and meta pages go out, then the data pages. `w` sees only
    /// whole writes and one `flush` at the end; nothing makes it durable.
    /// An error of `w` comes back as an [`Error::Io`](crate::Error::Io)
    /// whose path is `(backup stream)`, with whatever `w` took by then
    /// written: the receiver must treat a stream that did not end with
    /// `Ok` as no copy. To stream a snapshot already held, use
    /// [`ReadTxn::backup_to_writer`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("app.oak"))?;
    /// db.insert("users", b"alice", b"1")?;
    /// let mut bytes = Vec::new();
    /// let report = db.backup_to_writer(&mut bytes)?;
    /// assert_eq!(bytes.len() as u64, report.file_bytes);
    /// let copy = dir.path().join("streamed.oak");
    /// std::fs::write(&copy, &bytes).unwrap();
    /// let restored = oakmap::Db::open(&copy)?;
    /// assert_eq!(restored.get("users", b"alice")?, Some(b"1".to_vec()));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn backup_to_writer(&self, w: &mut impl std::io::Write) -> Result<BackupReport> {
        self.begin_read().backup_to_writer(w)
    }

    /// Reads one value in its own snapshot.
    pub fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let rx = self.begin_read();
        match rx.tree(tree)? {
            Some(t) => Ok(t.get(key)?.map(<[u8]>::to_vec)),
            None => Ok(None),
        }
    }

    /// Inserts or replaces one entry in its own transaction; returns whether
    /// the key was already present.
    ///
    /// Returns [`Error::WriteTxnOpenOnThisThread`](crate::Error::WriteTxnOpenOnThisThread) if this thread holds a
    /// [`WriteTxn`] on this `Db` (see [`Db::begin_write`]).
    pub fn insert(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<bool> {
        let mut tx = self.begin_write()?;
        let replaced = tx.open_tree(tree)?.insert(key, value)?;
        tx.commit()?;
        Ok(replaced)
    }

    /// Removes one entry in its own transaction; returns whether it was
    /// present. Removing from a tree that does not exist creates nothing and
    /// commits nothing.
    ///
    /// Returns [`Error::WriteTxnOpenOnThisThread`](crate::Error::WriteTxnOpenOnThisThread) if this thread holds a
    /// [`WriteTxn`] on this `Db` (see [`Db::begin_write`]).
    pub fn remove(&self, tree: &str, key: &[u8]) -> Result<bool> {
        let mut tx = self.begin_write()?;
        let removed = match tx.tree_mut(tree)? {
            Some(mut t) => t.remove(key)?,
            None => false,
        };
        // Even when nothing was removed: the answer rests on the state the
        // transaction read, which commit waits for (see `WriteTxn::commit`).
        tx.commit()?;
        Ok(removed)
    }

    /// Returns the value under `key`, inserting `value` first if there is none
    /// (atomically, like Go's `sync.Map.LoadOrStore`), and whether this call
    /// inserted it.
    ///
    /// Returns [`Error::WriteTxnOpenOnThisThread`](crate::Error::WriteTxnOpenOnThisThread) if this thread holds a
    /// [`WriteTxn`] on this `Db` (see [`Db::begin_write`]), even when the key
    /// is present and no write would be needed, so the rule does not depend
    /// on the data.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let first = db.get_or_insert("sessions", b"s1", b"alice")?;
    /// assert!(first.inserted);
    /// let second = db.get_or_insert("sessions", b"s1", b"bob")?;
    /// assert!(!second.inserted);
    /// assert_eq!(second.value, b"alice");
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn get_or_insert(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<GetOrInsert> {
        self.inner.writer_thread.refuse_current()?;
        let found = |value: Vec<u8>| GetOrInsert {
            value,
            inserted: false,
        };
        if let Some(v) = self.get(tree, key)? {
            return Ok(found(v));
        }
        let mut tx = self.begin_write()?;
        let present = match tx.tree_mut(tree)? {
            Some(t) => t.get(key)?.map(<[u8]>::to_vec),
            None => None,
        };
        if let Some(v) = present {
            // Nothing changes, but the value found may belong to a commit
            // not yet published or durable: commit waits for it.
            tx.commit()?;
            return Ok(found(v));
        }
        tx.open_tree(tree)?.insert(key, value)?;
        tx.commit()?;
        Ok(GetOrInsert {
            value: value.to_vec(),
            inserted: true,
        })
    }

    /// Sets `key` to `new` (or removes it, for `None`) only if its current
    /// value is `expected` (`None`: absent). On a mismatch nothing changes and
    /// the inner error carries the current value. Only setting a value
    /// creates a missing tree.
    ///
    /// Two results: the outer one is the engine's (an I/O error, a poisoned
    /// database...), the inner one the comparison's, `Err(CasConflict)` when
    /// another writer got there first.
    ///
    /// Returns [`Error::WriteTxnOpenOnThisThread`](crate::Error::WriteTxnOpenOnThisThread) if this thread holds a
    /// [`WriteTxn`] on this `Db` (see [`Db::begin_write`]).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// // Take a lock only if nobody holds it.
    /// let taken = db.compare_and_swap("locks", b"job-7", None, Some(b"worker-1"))?;
    /// assert_eq!(taken, Ok(()));
    /// // A second taker finds it held, and by whom.
    /// match db.compare_and_swap("locks", b"job-7", None, Some(b"worker-2"))? {
    ///     Ok(()) => unreachable!("worker-1 holds it"),
    ///     Err(conflict) => assert_eq!(conflict.current.as_deref(), Some(&b"worker-1"[..])),
    /// }
    /// // The holder releases it: `None` as the new value removes the key.
    /// db.compare_and_swap("locks", b"job-7", Some(b"worker-1"), None)?
    ///     .expect("still held by worker-1");
    /// assert_eq!(db.get("locks", b"job-7")?, None);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn compare_and_swap(
        &self,
        tree: &str,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), CasConflict>> {
        let mut tx = self.begin_write()?;
        let current = match tx.tree_mut(tree)? {
            Some(t) => t.get(key)?.map(<[u8]>::to_vec),
            None => None,
        };
        if current.as_deref() != expected {
            // The conflict is with the state the transaction read, which
            // commit waits for (see `WriteTxn::commit`).
            tx.commit()?;
            return Ok(Err(CasConflict { current }));
        }
        match new {
            Some(v) => {
                tx.open_tree(tree)?.insert(key, v)?;
            }
            None => {
                if let Some(mut t) = tx.tree_mut(tree)? {
                    t.remove(key)?;
                }
            }
        }
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Names of all trees in the newest committed state.
    pub fn list_trees(&self) -> Result<Vec<String>> {
        self.begin_read().list_trees()
    }
}

/// Shows the file, so that `Db::open(..).unwrap_err()` and a
/// `#[derive(Debug)]` on a struct holding a `Db` work.
impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.path())
            .field("page_bytes", &self.page_bytes())
            .finish_non_exhaustive()
    }
}

impl Drop for Db {
    /// Best effort: [`Db::close`] without its error. Nothing to do after it.
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.shut_down();
        }
    }
}
