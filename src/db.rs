//! `Db`: opening (and recovering) a file, and handing out transactions.
//!
//! Open order: create the file if it is missing (header and both meta slots,
//! written under a temporary name, synced, linked into place, directory
//! synced); take the exclusive lock; validate the header; take the newest meta slot whose checksum holds; check the file is at
//! least as long as that state says; map it; load the freelist.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::check::{self, CheckReport};
use crate::error::{Error, Limit, Result};
use crate::file::DataFile;
use crate::format::{
    self, FIRST_DATA_PAGE, FORMAT_VERSION, FileHeader, HEADER_BYTES, META_BYTES, Meta, TxnId,
    freelist,
};
use crate::freelist::FreeList;
use crate::pager::MapSource;
use crate::read::ReadTxn;
use crate::snapshot::{Published, ReaderTable};
use crate::txn::{CasConflict, WriteTxn};

/// When `commit` returns relative to the data reaching the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `commit` returns after the commit's pages and meta slot are fsynced.
    #[default]
    Immediate,
    /// No fsync. A process crash loses nothing (the OS has the writes); a power
    /// cut may lose recent commits, or, on file systems that reorder writes,
    /// leave the file needing a restore. For tests and scratch data.
    None,
}

/// How to open a database. Every setting has a default.
///
/// ```no_run
/// let db = oakmap::Options::new()
///     .page_bytes(8192)
///     .durability(oakmap::Durability::Immediate)
///     .open("app.oak")?;
/// # Ok::<(), oakmap::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) page_bytes: usize,
    pub(crate) durability: Durability,
    pub(crate) verify_checksums: bool,
    pub(crate) create: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            page_bytes: format::PAGE_BYTES_DEFAULT,
            durability: Durability::Immediate,
            verify_checksums: true,
            create: true,
        }
    }
}

impl Options {
    /// The defaults: 4 KiB pages, `Durability::Immediate`, checksums verified on read.
    pub fn new() -> Options {
        Options::default()
    }
    /// Page size for a new file (a power of two, 4 KiB to 64 KiB). An existing
    /// file keeps the page size it was created with.
    pub fn page_bytes(mut self, page_bytes: usize) -> Options {
        self.page_bytes = page_bytes;
        self
    }
    /// The default durability of commits.
    pub fn durability(mut self, durability: Durability) -> Options {
        self.durability = durability;
        self
    }
    /// Whether every page read verifies its checksum (default true). Structural
    /// checks that keep bad bytes from causing a panic run either way.
    pub fn verify_checksums(mut self, verify: bool) -> Options {
        self.verify_checksums = verify;
        self
    }
    /// Whether a missing file is created (default true).
    pub fn create(mut self, create: bool) -> Options {
        self.create = create;
        self
    }
    /// Opens (or creates) the database at `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<Db> {
        Db::open_with(path.as_ref(), self)
    }
}

/// What the writer keeps between transactions.
pub(crate) struct WriterState {
    pub(crate) free: FreeList,
    /// Pages of the freelist the newest meta slot points at.
    pub(crate) freelist_pages: Vec<u64>,
}

/// Counters, readable without any lock.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) pending_pages: AtomicU64,
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
    pub(crate) file: DataFile,
    pub(crate) page_bytes: usize,
    pub(crate) options: Options,
    pub(crate) published: Published,
    pub(crate) readers: ReaderTable,
    pub(crate) writer: Mutex<WriterState>,
    pub(crate) poisoned: AtomicBool,
    pub(crate) counters: Counters,
}

/// A point-in-time view of the database's health, from [`Db::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The newest committed transaction.
    pub txn_id: u64,
    /// Live read snapshots.
    pub live_snapshots: usize,
    /// How many commits behind the newest the oldest live snapshot is.
    pub oldest_snapshot_txns_behind: Option<u64>,
    /// How long the oldest live snapshot has been open.
    pub oldest_snapshot_age: Option<Duration>,
    /// Pages reachable from the newest state (trees, overflow, freelist).
    pub pages_in_use: u64,
    /// Pages free for reuse now or once older snapshots end.
    pub free_pages: u64,
    /// Of `free_pages`, those still held by live snapshots.
    pub pending_pages: u64,
    /// Page size in bytes.
    pub page_bytes: usize,
    /// Length of the data file in bytes.
    pub file_bytes: u64,
    /// Commits since open.
    pub commits: u64,
}

impl Db {
    /// Opens (or creates) the database at `path` with default [`Options`].
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Db::open_with(path.as_ref(), Options::default())
    }

    fn open_with(path: &Path, options: Options) -> Result<Db> {
        if !format::page_size_ok(options.page_bytes) {
            return Err(Error::LimitExceeded {
                what: Limit::PageSize,
                actual: options.page_bytes as u64,
                max: format::PAGE_BYTES_MAX as u64,
            });
        }
        if options.create && !path.exists() {
            DataFile::create(path, &initial_pages(options.page_bytes))?;
        }
        let (file, empty) = DataFile::open(path)?;
        if empty {
            // A file the caller made empty on purpose: initialize it in place.
            file.write_at(&initial_pages(options.page_bytes), 0)?;
            file.sync()?;
        }
        let page_bytes = read_header(&file)?.page_bytes as usize;
        let meta = newest_meta(&file, page_bytes)?;
        let file_bytes = file.len()?;
        if file_bytes < meta.page_count * page_bytes as u64 {
            return Err(Error::corrupt(
                Meta::page_of_slot(Meta::slot_for(meta.txn)),
                format!(
                    "file is truncated: {} bytes, but the state needs {} pages of {}",
                    file_bytes, meta.page_count, page_bytes
                ),
            ));
        }
        let map = file.ensure_mapped(meta.page_count * page_bytes as u64)?;
        let src = MapSource {
            file: &file,
            map,
            page_count: meta.page_count,
            page_bytes,
            verify: true,
        };
        let (free_ids, freelist_pages) = load_freelist(&src, &meta)?;
        let writer = WriterState {
            free: FreeList::from_free(free_ids),
            freelist_pages,
        };
        Ok(Db {
            published: Published::new(&meta, map),
            file,
            page_bytes,
            options,
            readers: ReaderTable::new(),
            writer: Mutex::new(writer),
            poisoned: AtomicBool::new(false),
            counters: Counters::default(),
        })
    }

    /// Starts a read transaction: a snapshot of the newest committed state,
    /// consistent for as long as it lives. Never blocks.
    pub fn begin_read(&self) -> ReadTxn<'_> {
        ReadTxn::new(self)
    }

    /// Starts the write transaction, waiting while another one is open.
    /// Dropping it without [`WriteTxn::commit`] aborts it.
    pub fn begin_write(&self) -> Result<WriteTxn<'_>> {
        let state = self.writer.lock();
        self.check_poisoned()?;
        Ok(WriteTxn::new(self, state))
    }

    pub(crate) fn check_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    pub(crate) fn map_source(&self, meta: &Meta, map: usize) -> MapSource<'_> {
        MapSource {
            file: &self.file,
            map,
            page_count: meta.page_count,
            page_bytes: self.page_bytes,
            verify: self.options.verify_checksums,
        }
    }

    /// The longest key this database accepts (1,337 bytes at 4 KiB pages).
    pub fn key_bytes_max(&self) -> usize {
        format::key_bytes_max(self.page_bytes)
    }

    /// The page size of this database.
    pub fn page_bytes(&self) -> usize {
        self.page_bytes
    }

    /// The file this database lives in.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Space, snapshot and commit figures.
    pub fn stats(&self) -> Result<Stats> {
        let (meta, _) = self.published.load();
        let oldest = self.readers.oldest();
        Ok(Stats {
            txn_id: meta.txn.0,
            live_snapshots: self.readers.live(),
            oldest_snapshot_txns_behind: oldest.map(|(t, _)| meta.txn.0.saturating_sub(t.0)),
            oldest_snapshot_age: oldest.map(|(_, age)| age),
            pages_in_use: meta.page_count - FIRST_DATA_PAGE - meta.free_count,
            free_pages: meta.free_count,
            pending_pages: self.counters.pending_pages.load(Ordering::Relaxed),
            page_bytes: self.page_bytes,
            file_bytes: self.file.len()?,
            commits: self.counters.commits.load(Ordering::Relaxed),
        })
    }

    /// Verifies the newest committed state: every checksum, key order within
    /// pages and against separators, every page reachable exactly once or free,
    /// the depth bound, and each tree's stored length.
    pub fn check(&self) -> Result<CheckReport> {
        let rx = self.begin_read();
        Ok(check::check_state(rx.map_source_verified(), rx.meta()))
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
    pub fn insert(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<bool> {
        let mut tx = self.begin_write()?;
        let replaced = tx.open_tree(tree)?.insert(key, value)?;
        tx.commit()?;
        Ok(replaced)
    }

    /// Removes one entry in its own transaction; returns whether it was present.
    pub fn remove(&self, tree: &str, key: &[u8]) -> Result<bool> {
        let mut tx = self.begin_write()?;
        let removed = tx.open_tree(tree)?.remove(key)?;
        if removed {
            tx.commit()?;
        }
        Ok(removed)
    }

    /// Returns the value under `key`, inserting `value` first if there is none
    /// (atomically, like Go's `sync.Map.LoadOrStore`).
    pub fn get_or_insert(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        if let Some(v) = self.get(tree, key)? {
            return Ok(v);
        }
        let mut tx = self.begin_write()?;
        let mut t = tx.open_tree(tree)?;
        if let Some(v) = t.get(key)? {
            return Ok(v.to_vec());
        }
        t.insert(key, value)?;
        tx.commit()?;
        Ok(value.to_vec())
    }

    /// Sets `key` to `new` (or removes it, for `None`) only if its current
    /// value is `expected` (`None`: absent). On a mismatch nothing changes and
    /// the inner error carries the current value.
    pub fn compare_and_swap(
        &self,
        tree: &str,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), CasConflict>> {
        let mut tx = self.begin_write()?;
        let mut t = tx.open_tree(tree)?;
        let current = t.get(key)?.map(<[u8]>::to_vec);
        if current.as_deref() != expected {
            return Ok(Err(CasConflict { current }));
        }
        match new {
            Some(v) => t.insert(key, v)?,
            None => t.remove(key)?,
        };
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Names of all trees in the newest committed state.
    pub fn list_trees(&self) -> Result<Vec<String>> {
        self.begin_read().list_trees()
    }
}

/// The first three pages of a new file: the header and two meta slots, both
/// describing the empty database (txn 0).
fn initial_pages(page_bytes: usize) -> Vec<u8> {
    let mut b = vec![0u8; 3 * page_bytes];
    let header = FileHeader {
        version: FORMAT_VERSION,
        page_bytes: page_bytes as u32,
    };
    b[..HEADER_BYTES].copy_from_slice(&header.encode());
    let meta = Meta {
        txn: TxnId(0),
        page_count: FIRST_DATA_PAGE,
        ..Meta::default()
    };
    for slot in 0..2 {
        let at = Meta::page_of_slot(slot) as usize * page_bytes;
        b[at..at + META_BYTES].copy_from_slice(&meta.encode(slot));
    }
    b
}

fn read_header(file: &DataFile) -> Result<FileHeader> {
    let mut b = [0u8; HEADER_BYTES];
    let n = file.read_at(&mut b, 0)?;
    FileHeader::decode(&b[..n]).map_err(|e| match e {
        format::HeaderError::NotOurs => Error::NotADatabase {
            path: file.path().to_path_buf(),
        },
        format::HeaderError::Version(found) => Error::UnsupportedVersion {
            path: file.path().to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        },
        format::HeaderError::Corrupt(reason) => Error::corrupt(0, reason),
    })
}

/// Reads both meta slots and returns the newest valid one.
pub(crate) fn newest_meta(file: &DataFile, page_bytes: usize) -> Result<Meta> {
    let mut best: Option<Meta> = None;
    let mut first_err = None;
    for slot in 0..2 {
        let mut b = [0u8; META_BYTES];
        let n = file.read_at(&mut b, Meta::page_of_slot(slot) * page_bytes as u64)?;
        match Meta::decode(&b[..n], slot) {
            Ok(m) if best.is_none_or(|b| m.txn > b.txn) => best = Some(m),
            Ok(_) => {}
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    match (best, first_err) {
        (Some(m), _) => Ok(m),
        (None, Some(Error::Corruption { reason, .. })) => Err(Error::corrupt(
            1,
            format!("no valid meta slot (slot 0: {reason}; slot 1 also invalid)"),
        )),
        (None, _) => Err(Error::corrupt(1, "no valid meta slot")),
    }
}

/// Walks the freelist chain of `meta`: the free page ids and the chain's pages.
fn load_freelist(src: &MapSource<'_>, meta: &Meta) -> Result<(Vec<u64>, Vec<u64>)> {
    // Taking the freelist's own pages from the free set can leave its last
    // pages short or empty, so bound the chain by the file, not the count.
    let max_pages = meta.page_count;
    let mut ids = Vec::with_capacity(meta.free_count.min(1 << 24) as usize);
    let mut pages = Vec::new();
    let mut next = meta.freelist_head;
    while next.0 != 0 {
        if pages.len() as u64 >= max_pages {
            return Err(Error::corrupt(next.0, "freelist chain loops"));
        }
        let (entries, after) = freelist::read_page(src.page(next)?, next)?;
        for &id in &entries {
            if id < FIRST_DATA_PAGE || id >= meta.page_count {
                return Err(Error::corrupt(
                    next.0,
                    format!("free page id {id} out of range"),
                ));
            }
        }
        ids.extend(entries);
        pages.push(next.0);
        next = after;
    }
    if ids.len() as u64 != meta.free_count {
        return Err(Error::corrupt(
            meta.freelist_head.0,
            format!(
                "freelist holds {} ids, meta says {}",
                ids.len(),
                meta.free_count
            ),
        ));
    }
    Ok((ids, pages))
}
