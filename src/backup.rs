//! Online backup: a dense, closed copy of one snapshot in a new file.
//!
//! The copy is rebuilt, not copied page by page (LMDB's `mdb_env_copy2`
//! with `MDB_CP_COMPACT`): each tree's entries are read in key order from
//! the snapshot and packed into leaves filled as full as they go, with
//! branches built bottom-up over them as a bulk load does, and a value too
//! large for a leaf written as one contiguous overflow run. Page ids are
//! handed out in the order pages are written, from the front, so the file
//! is written strictly in sequence and has no free page: no freelist, and
//! `page_count` is exactly the pages written. The catalog is built last,
//! from the descriptors of the trees just built.
//!
//! Invariants:
//! * The copy is of one snapshot: the caller holds it (a registered reader,
//!   so `Db::stats` counts it and no page it reaches is reused) for as long
//!   as this runs; writers go on meanwhile.
//! * The copy is a closed database: both meta slots describe its one state
//!   with the clean mark set, so opening it replays nothing and needs no
//!   log (format.md §2: after a clean mark the log files "may even be
//!   gone"). It gets a `file_id` of its own: from the copy on, the two
//!   databases diverge, and a log of one must never be taken for the
//!   other's.
//! * Nothing is ever half written at the destination: the copy is written
//!   and fsynced under a temporary name in the destination's directory,
//!   renamed into place, and the directory fsynced. An error (or a crash)
//!   leaves the destination as it was; an error also removes the temporary
//!   file.
//! * An existing destination is refused unless the caller asks to replace
//!   it; one another process has open (locked) is refused even then. Log
//!   files beside the destination belong to the database being replaced
//!   (or to none): they are refused likewise, and removed when replacing,
//!   so the copy never opens with a stranger's log.
//! * Every page is validated on its way in (the snapshot's reads verify
//!   each page the first time, as all reads do) and every byte written is
//!   encoded by `format`. Keys must come out strictly ascending and each
//!   tree's count must match its descriptor, else `Corruption`.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::btree::{Cursor, separator};
use crate::error::{At, Error, Result};
use crate::file;
use crate::format::node::{
    CellValue, branch_cell, cell_child, compare_keys, init_node, insert_cell, leaf_cell,
    value_inline,
};
use crate::format::{
    self, FIRST_DATA_PAGE, Meta, PageId, PageKind, TreeDesc, TxnId, overflow, page_count_field,
    seal_page,
};
use crate::pager::{MapSource, Src};
use crate::wal;

/// How [`ReadTxn::backup_with`](crate::ReadTxn::backup_with) and
/// [`Db::backup_with`](crate::Db::backup_with) write their copy.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("app.oak"))?;
/// let copy = dir.path().join("copy.oak");
/// db.backup_to(&copy)?;                                     // refuses an existing file
/// let again = oakmap::BackupOptions::new().overwrite(true);
/// db.backup_with(&copy, again)?;                            // replaces it
/// # Ok::<(), oakmap::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BackupOptions {
    overwrite: bool,
}

impl BackupOptions {
    /// Refuse an existing destination (the default).
    pub fn new() -> BackupOptions {
        BackupOptions::default()
    }

    /// Replace an existing destination (and remove the log files beside
    /// it, which belong to the database replaced). A destination another
    /// process has open is refused all the same.
    pub fn overwrite(mut self, overwrite: bool) -> BackupOptions {
        self.overwrite = overwrite;
        self
    }
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The commit the copy holds (the snapshot's id).
    pub txn_id: u64,
    /// Named trees copied.
    pub trees: u64,
    /// Entries copied, over all trees.
    pub entries: u64,
    /// Pages in the copy, the header and meta pages included; none is free.
    pub page_count: u64,
    /// Length of the copy in bytes (`page_count` pages).
    pub file_bytes: u64,
}

/// Writes a dense, closed copy of the state `meta` describes, read through
/// `src`, to `dst`.
pub(crate) fn write_copy(
    src: MapSource<'_>,
    meta: &Meta,
    dst: &Path,
    options: BackupOptions,
) -> Result<BackupReport> {
    refuse_destination(dst, options)?;
    let tmp = temporary_path(dst);
    let written = write_file(src, meta, &tmp, dst);
    let report = match written {
        Ok(report) => report,
        Err(e) => {
            // Leave nothing behind; the file may not have been created.
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let placed = place(&tmp, dst, options);
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed.map(|()| report)
}

/// Refuses a destination that exists (unless replacing it), is open in
/// another process, or has log files beside it.
fn refuse_destination(dst: &Path, options: BackupOptions) -> Result<()> {
    let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    let refuse = |p: &Path, why: &str| {
        Err(Error::io(
            p,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, why.to_string()),
        ))
    };
    if exists(dst) {
        if !options.overwrite {
            return refuse(
                dst,
                "the backup destination exists; remove it or ask to overwrite it",
            );
        }
        file::require_regular_file(dst)?;
        refuse_if_locked(dst)?;
    }
    if !options.overwrite {
        for p in wal::wal_paths(dst) {
            if exists(&p) {
                return refuse(
                    &p,
                    "a log file lies where the backup's would go; remove it or ask to overwrite",
                );
            }
        }
    }
    Ok(())
}

/// `Error::Locked` if a process holds `path`'s lock (has it open as a
/// database); the lock is let go at once.
fn refuse_if_locked(path: &Path) -> Result<()> {
    let f = File::open(path).at(path)?;
    match f.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
    }
}

/// A name in `dst`'s directory no other backup of this process uses.
fn temporary_path(dst: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = dst.file_name().unwrap_or_default().to_string_lossy();
    dst.with_file_name(format!(".{name}.backup-{}-{n}", std::process::id()))
}

/// Moves the synced copy into place: log files beside `dst` go first (only
/// when replacing; they belong to the database replaced), then the rename,
/// then the directory's fsync. A crash before the rename leaves `dst` as it
/// was (less its log, when replacing: the caller gave it up); after it,
/// `dst` is the whole copy.
fn place(tmp: &Path, dst: &Path, options: BackupOptions) -> Result<()> {
    if options.overwrite {
        for p in wal::wal_paths(dst) {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
    }
    std::fs::rename(tmp, dst).at(dst)?;
    file::sync_dir_of(dst)
}

/// Writes the whole copy to `path` (a new file) and fsyncs it. A failure
/// to create `path` names `dst`, the file the caller asked for: the
/// temporary name is ours, and a missing or read-only directory is a
/// failure to create `dst`.
fn write_file(src: MapSource<'_>, meta: &Meta, path: &Path, dst: &Path) -> Result<BackupReport> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .at(dst)?;
    let page_bytes = src.page_bytes;
    let mut out = Out {
        file: BufWriter::with_capacity(1 << 20, f),
        path,
        page_bytes,
        next: FIRST_DATA_PAGE,
        txn: meta.txn,
        page: vec![0u8; page_bytes],
    };
    // The first three pages are written last, in place; the data pages
    // follow them in order.
    out.file
        .write_all(&vec![0u8; FIRST_DATA_PAGE as usize * page_bytes])
        .at(path)?;
    let snapshot = Src::Snapshot(src);
    let mut catalog = Vec::new();
    let mut entries = 0;
    for (name, desc) in trees(snapshot, &meta.catalog)? {
        let copied = copy_tree(&mut out, snapshot, &desc)?;
        entries += copied.len;
        catalog.push((name, copied));
    }
    let mut builder = Builder::new(page_bytes);
    for (name, desc) in &catalog {
        builder.add(&mut out, name, &desc.to_bytes())?;
    }
    let catalog_desc = builder.finish(&mut out)?;
    let page_count = out.next;
    let f = out
        .file
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    f.write_all_at(
        &first_pages(meta.txn, page_count, catalog_desc, page_bytes),
        0,
    )
    .at(path)?;
    f.sync_all().at(path)?;
    Ok(BackupReport {
        txn_id: meta.txn.0,
        trees: catalog.len() as u64,
        entries,
        page_count,
        file_bytes: page_count * page_bytes as u64,
    })
}

/// Every named tree of the state, in name order, with its descriptor.
fn trees(src: Src<'_>, catalog: &TreeDesc) -> Result<Vec<(Vec<u8>, TreeDesc)>> {
    let mut found = Vec::new();
    let mut c = Cursor::new(src, *catalog);
    c.first()?;
    while c.is_valid() {
        let (name, value) = c.entry()?;
        found.push((name.to_vec(), TreeDesc::decode(value, catalog.root.0)?));
        c.step(true)?;
    }
    Ok(found)
}

/// Copies one tree, entry by entry, into packed pages; returns its new
/// descriptor. Its entry count must match the descriptor's.
fn copy_tree(out: &mut Out<'_>, src: Src<'_>, desc: &TreeDesc) -> Result<TreeDesc> {
    let mut builder = Builder::new(out.page_bytes);
    let mut c = Cursor::new(src, *desc);
    c.first()?;
    while c.is_valid() {
        let (key, value) = c.entry()?;
        builder.add(out, key, value)?;
        c.step(true)?;
    }
    let copied = builder.finish(out)?;
    if copied.len != desc.len {
        return Err(Error::corrupt(
            desc.root.0,
            format!(
                "tree's descriptor says {} entries, its leaves hold {}",
                desc.len, copied.len
            ),
        ));
    }
    Ok(copied)
}

/// The copy being written: pages go out in id order.
struct Out<'p> {
    file: BufWriter<File>,
    path: &'p Path,
    page_bytes: usize,
    /// The id the next page written gets.
    next: u64,
    /// The commit every page is stamped with: the snapshot's.
    txn: TxnId,
    /// A page of scratch space, for the zeros that end a run.
    page: Vec<u8>,
}

impl Out<'_> {
    /// Seals the node `b` as the next page and writes it; returns its id.
    fn write_node(&mut self, b: &mut [u8]) -> Result<PageId> {
        let id = PageId(self.next);
        seal_page(b, id, self.txn);
        self.file.write_all(b).at(self.path)?;
        self.next += 1;
        Ok(id)
    }

    /// Writes `value` as an overflow run at the next pages; returns its
    /// first page.
    fn write_run(&mut self, value: &[u8]) -> Result<PageId> {
        let id = PageId(self.next);
        let head = overflow::run_header(id, self.txn, value, self.page_bytes);
        self.file.write_all(&head).at(self.path)?;
        self.file.write_all(value).at(self.path)?;
        let mut zeros = overflow::run_tail_bytes(value.len(), self.page_bytes);
        while zeros > 0 {
            let n = zeros.min(self.page.len());
            self.page[..n].fill(0);
            let (page, file) = (&self.page[..n], &mut self.file);
            file.write_all(page).at(self.path)?;
            zeros -= n;
        }
        self.next += overflow::run_pages(value.len(), self.page_bytes);
        Ok(id)
    }
}

/// A tree being bulk loaded from its entries in key order: one page being
/// filled per level (leaves at level 0). A page that cannot take the next
/// cell is written, and a cell for it goes into the level above, whose
/// separator is the shortest prefix of the page's first key above the
/// previous page's last key.
struct Builder {
    page_bytes: usize,
    levels: Vec<Level>,
    /// The last key added, to check order and to cut separators.
    last_key: Vec<u8>,
    len: u64,
}

/// The page being filled at one level.
struct Level {
    page: Vec<u8>,
    /// The separator of this page's first cell: the key the page's cell in
    /// the level above will carry.
    low: Vec<u8>,
}

impl Builder {
    fn new(page_bytes: usize) -> Builder {
        Builder {
            page_bytes,
            levels: Vec::new(),
            last_key: Vec::new(),
            len: 0,
        }
    }

    /// Adds the next entry; keys must ascend strictly.
    fn add(&mut self, out: &mut Out<'_>, key: &[u8], value: &[u8]) -> Result<()> {
        if self.len > 0 && compare_keys(&self.last_key, key) != std::cmp::Ordering::Less {
            return Err(Error::corrupt(
                0,
                format!(
                    "keys out of order across leaves: {:?} after {:?}",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(&self.last_key)
                ),
            ));
        }
        let cell = if value_inline(key.len(), value.len(), self.page_bytes) {
            leaf_cell(key, CellValue::Inline(value))
        } else {
            let page = out.write_run(value)?;
            let len = value.len() as u32;
            leaf_cell(key, CellValue::Overflow { page, len })
        };
        let low = if self.len == 0 {
            Vec::new()
        } else {
            separator(&self.last_key, key)
        };
        self.push(out, 0, low, &cell)?;
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.len += 1;
        Ok(())
    }

    /// Adds `cell` to the page at `level`, whose separator (if the cell
    /// starts a page) is `low`; writes the page first if the cell does not
    /// fit, and passes it up.
    fn push(&mut self, out: &mut Out<'_>, level: usize, low: Vec<u8>, cell: &[u8]) -> Result<()> {
        let kind = if level == 0 {
            PageKind::Leaf
        } else {
            PageKind::Branch
        };
        if level == self.levels.len() {
            let mut page = vec![0u8; self.page_bytes];
            init_node(&mut page, kind);
            self.levels.push(Level { page, low });
            let ok = insert_cell(&mut self.levels[level].page, 0, cell);
            assert!(ok, "a cell within cell_bytes_max fits an empty page");
            return Ok(());
        }
        let count = page_count_field(&self.levels[level].page) as usize;
        if insert_cell(&mut self.levels[level].page, count, cell) {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.levels[level].low, low);
        let id = out.write_node(&mut self.levels[level].page)?;
        init_node(&mut self.levels[level].page, kind);
        let ok = insert_cell(&mut self.levels[level].page, 0, &first_cell(cell, level));
        assert!(ok, "a cell within cell_bytes_max fits an empty page");
        self.push_child(out, level + 1, full, id)
    }

    /// Adds a cell for `child`, whose keys start at `low`, to the branch at
    /// `level`.
    fn push_child(
        &mut self,
        out: &mut Out<'_>,
        level: usize,
        low: Vec<u8>,
        child: PageId,
    ) -> Result<()> {
        // A branch's first cell carries the empty key; `push` keeps `low`
        // for the cell the page itself gets above.
        let starts_page = level == self.levels.len();
        let key: &[u8] = if starts_page { &[] } else { &low };
        let cell = branch_cell(key, child);
        self.push(out, level, low, &cell)
    }

    /// Writes the pages still being filled, bottom-up, and returns the
    /// tree's descriptor: the root is the one page of the top level.
    fn finish(mut self, out: &mut Out<'_>) -> Result<TreeDesc> {
        if self.len == 0 {
            return Ok(TreeDesc::default());
        }
        let mut level = 0;
        loop {
            let top = level + 1 == self.levels.len();
            let id = out.write_node(&mut self.levels[level].page)?;
            if top {
                return Ok(TreeDesc {
                    root: id,
                    len: self.len,
                    depth: self.levels.len() as u32,
                });
            }
            let low = std::mem::take(&mut self.levels[level].low);
            self.push_child(out, level + 1, low, id)?;
            level += 1;
        }
    }
}

/// `cell` as the first cell of a page at `level`: a branch's first cell
/// carries the empty key (its separator moves up as the page's `low`).
fn first_cell(cell: &[u8], level: usize) -> Vec<u8> {
    if level == 0 {
        cell.to_vec()
    } else {
        branch_cell(&[], cell_child(cell))
    }
}

/// The header and both meta slots of the copy: its own `file_id` (the two
/// databases diverge from here), and one state with the clean mark.
fn first_pages(txn: TxnId, page_count: u64, catalog: TreeDesc, page_bytes: usize) -> Vec<u8> {
    let meta = Meta {
        txn,
        page_count,
        catalog,
        clean: true,
        ..Meta::default()
    };
    format::first_pages(file::new_file_id(), &meta, page_bytes)
}
