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
//! The copy does little per entry: the leaves are
//! walked depth-first (no cursor), an inline cell's bytes are copied as
//! they lie in the source leaf (only an overflow cell is encoded anew, for
//! its run's new page id), and sealed pages leave in batches of a few MiB.
//! A file copy hands each batch to a writer thread and fills the next one
//! meanwhile (two batches in all), so building and writing overlap. The
//! file is opened for direct I/O where the filesystem takes it (LMDB's
//! `mdb_env_copy2` does the same): the batches go to the disk without a
//! copy into the page cache, so a backup neither spends a core copying
//! them there nor evicts the pages a server reads, and a concurrent
//! commit's fdatasync never queues behind gigabytes of dirty copy. Written
//! through the page cache instead (a filesystem without direct I/O, or
//! [`BackupOptions::direct_io`] off), the writer thread starts the
//! writeback every `WRITEBACK_BYTES` (an fdatasync) for the same reason.
//!
//! A file copy gives way to durable commits: when the log was fsynced
//! while a batch was written, the builder waits `YIELD_FACTOR` times as
//! long as that batch took before handing over the next, so the copy takes
//! at most 1/17 of the disk's time from the commits; with no commit
//! meanwhile it goes at full speed. A commit's fsync must flush whatever
//! the copy wrote before it, so what commits pay for is the copy's
//! bandwidth, not only its place in the queue.
//!
//! The writer form (`stream_copy`) sends the same bytes to any `Write`. A
//! stream cannot seek back to the first pages, so a dry pass of the same
//! builder, counting pages without sealing or writing them, learns the
//! page count and the catalog's descriptor first.
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
//!   file. A stream has no such guard: what it took before an error is
//!   its receiver's to discard.
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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use memmap2::MmapMut;

use crate::btree::{PageSet, leaves, separator};
use crate::error::{At, Error, Result};
use crate::file;
use crate::format::node::{
    CellValue, branch_cell, cell_child, cell_key, compare_keys, init_node, insert_cell, leaf_cell,
    leaf_cell_flags, value_inline,
};
use crate::format::{
    self, FIRST_DATA_PAGE, Meta, PageId, PageKind, TreeDesc, TxnId, overflow, page_count_field,
    seal_page,
};
use crate::io::{Io, IoFile, IoHook};
use crate::pace::GiveWay;
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
    /// Direct I/O declined (`direct_io(false)`): stored negated so that
    /// the derived default asks for it.
    buffered: bool,
    /// Giving way to commits declined (`yield_to_commits(false)`).
    eager: bool,
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

    /// Write the copy with direct I/O where the filesystem takes it (the
    /// default, on Linux): its pages go to the disk without passing
    /// through the page cache, so a backup does not evict the pages a
    /// server reads, nor leave gigabytes of dirty pages for a concurrent
    /// commit's fsync to queue behind. `false` writes through the page
    /// cache (a copy read again at once is then read from memory). A
    /// filesystem that takes no direct I/O (tmpfs, some FUSE) gets
    /// buffered writes either way; [`BackupReport::direct_io`] says which
    /// it was. A stream (`backup_to_writer`) is the writer's to do with.
    pub fn direct_io(mut self, direct: bool) -> BackupOptions {
        self.buffered = !direct;
        self
    }

    /// Give way to durable commits (the default): while commits fsync the
    /// log, the copy pauses after each batch of pages it writes, for 16
    /// times as long as the batch took, so it takes at most 1/17 of the
    /// disk's time from them; with no commit under way it goes at full
    /// speed. A backup under a heavy write load takes longer
    /// ([`BackupReport::yielded`] says how much longer). `false`: full speed
    /// whatever the commits (a backup in a quiet hour, or one that must
    /// finish first). A stream is not paced.
    pub fn yield_to_commits(mut self, yield_to_commits: bool) -> BackupOptions {
        self.eager = !yield_to_commits;
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
    /// Whether the copy went to its file with direct I/O (see
    /// [`BackupOptions::direct_io`]); `false` for a stream.
    pub direct_io: bool,
    /// Time the copy paused to give way to commits (see
    /// [`BackupOptions::yield_to_commits`]).
    pub yielded: Duration,
}

/// Where a file copy writes, and what it gives way to.
pub(crate) struct Target<'a> {
    pub(crate) dst: &'a Path,
    pub(crate) options: BackupOptions,
    /// Every write and sync of the copy passes it (points `backup.write`,
    /// `backup.sync`).
    pub(crate) hook: Option<Arc<dyn IoHook>>,
    /// The log's fsyncs for commits so far: the copy gives way while they
    /// go up.
    pub(crate) fsyncs: &'a dyn Fn() -> u64,
}

/// Writes a dense, closed copy of the state `meta` describes, read through
/// `src`, to `to.dst`.
pub(crate) fn write_copy(src: MapSource<'_>, meta: &Meta, to: Target<'_>) -> Result<BackupReport> {
    let (dst, options) = (to.dst, to.options);
    refuse_destination(dst, options)?;
    let tmp = temporary_path(dst);
    let written = write_file(src, meta, &tmp, to);
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

/// Writes the whole copy to `path` (a new file, with direct I/O if asked
/// and the filesystem takes it) and fsyncs it. A failure to create `path`
/// names `to.dst`, the file the caller asked for: the temporary name is
/// ours, and a missing or read-only directory is a failure to create the
/// destination.
fn write_file(
    src: MapSource<'_>,
    meta: &Meta,
    path: &Path,
    to: Target<'_>,
) -> Result<BackupReport> {
    let (file, direct) = create(path, !to.options.buffered).at(to.dst)?;
    let file = Io::new(file, IoFile::Backup, path, to.hook);
    let page_bytes = src.page_bytes;
    let give_way = (!to.options.eager).then(|| GiveWay::new(to.fsyncs, YIELD_FACTOR));
    // The data pages go from the end of the first pages on, in order; the
    // first pages are written last, in place, once the catalog is known.
    let at = FIRST_DATA_PAGE * page_bytes as u64;
    let sink = FileSink::spawn(file, path, at, direct, give_way)?;
    let mut out = Out::new(Sink::File(sink), page_bytes, meta.txn).at(path)?;
    let copied = copy_state(src, meta, &mut out, None)?;
    let Sink::File(sink) = out.sink else {
        unreachable!("the sink is the file it was made with")
    };
    let (file, yielded) = sink.finish()?;
    // Through a batch: direct I/O takes page-aligned memory only.
    let mut first = Batch::new().at(path)?;
    first.take(&first_pages(
        meta.txn,
        copied.page_count,
        copied.catalog,
        page_bytes,
    ));
    file.write_at(first.bytes(), 0, "backup.write")?;
    file.sync("backup.sync")?;
    let mut report = copied.report(meta.txn, page_bytes);
    report.direct_io = direct;
    report.yielded = yielded;
    Ok(report)
}

/// Creates the new file `path` for writing, with direct I/O if `direct`
/// and the filesystem takes it; returns it and whether it has direct I/O.
fn create(path: &Path, direct: bool) -> std::io::Result<(File, bool)> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(target_os = "linux")]
    if direct {
        use std::os::unix::fs::OpenOptionsExt;
        match options.clone().custom_flags(libc::O_DIRECT).open(path) {
            Ok(file) => return Ok((file, true)),
            // No direct I/O on this filesystem: the page cache it is. The
            // open may have created the file before refusing the flag
            // (the name is ours: `create_new` would have failed first on
            // anyone else's).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                let _ = std::fs::remove_file(path);
            }
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = direct;
    Ok((options.open(path)?, false))
}

/// The name a stream's I/O errors carry: a stream has no file.
fn stream_path() -> &'static Path {
    Path::new("(backup stream)")
}

/// Writes a dense, closed copy of the state `meta` describes, read through
/// `src`, to `w`: the same bytes as [`write_copy`] puts in its file (but
/// for the header's fresh `file_id`), in file order. A stream cannot seek
/// back for the first pages, so a dry pass builds the copy first, counting
/// its pages without sealing or writing them, to learn the page count and
/// the catalog's descriptor; then the first pages go out, and the data
/// pages after them as a second pass builds them again.
/// `trees`: only the trees of these names (those that exist), or all.
pub(crate) fn stream_copy(
    src: MapSource<'_>,
    meta: &Meta,
    trees: Option<&[&str]>,
    w: &mut dyn Write,
) -> Result<BackupReport> {
    let page_bytes = src.page_bytes;
    let mut plan = Out::new(Sink::Count, page_bytes, meta.txn).at(stream_path())?;
    let planned = copy_state(src, meta, &mut plan, trees)?;
    let first = first_pages(meta.txn, planned.page_count, planned.catalog, page_bytes);
    w.write_all(&first).at(stream_path())?;
    let mut out = Out::new(Sink::Stream(w), page_bytes, meta.txn).at(stream_path())?;
    let copied = copy_state(src, meta, &mut out, trees)?;
    // One snapshot, read twice by the same code: the passes cannot differ,
    // and if they did the header already sent would not describe the copy.
    if (copied.page_count, copied.catalog) != (planned.page_count, planned.catalog) {
        return Err(Error::corrupt(
            planned.catalog.root.0,
            "the snapshot read differently in the two passes of a streamed backup: \
             the stream is not a copy",
        ));
    }
    let Sink::Stream(w) = out.sink else {
        unreachable!("the sink is the stream it was made with")
    };
    w.flush().at(stream_path())?;
    Ok(copied.report(meta.txn, page_bytes))
}

/// What [`copy_state`] built.
struct Copied {
    catalog: TreeDesc,
    trees: u64,
    entries: u64,
    /// Pages of the copy, the first pages included.
    page_count: u64,
}

impl Copied {
    fn report(&self, txn: TxnId, page_bytes: usize) -> BackupReport {
        BackupReport {
            txn_id: txn.0,
            trees: self.trees,
            entries: self.entries,
            page_count: self.page_count,
            file_bytes: self.page_count * page_bytes as u64,
            direct_io: false,
            yielded: Duration::ZERO,
        }
    }
}

/// Builds every tree of the state (or those named in `only`), then the
/// catalog over them, into `out` (from page `FIRST_DATA_PAGE` on), and
/// flushes it.
fn copy_state(
    src: MapSource<'_>,
    meta: &Meta,
    out: &mut Out<'_>,
    only: Option<&[&str]>,
) -> Result<Copied> {
    let mut seen = PageSet::new(meta.page_count);
    let mut catalog = Vec::new();
    let mut entries = 0;
    let wanted = |name: &[u8]| only.is_none_or(|names| names.iter().any(|n| n.as_bytes() == name));
    for (name, desc) in trees(src, &meta.catalog, &mut seen)? {
        if !wanted(&name) {
            continue;
        }
        let copied = copy_tree(out, src, &desc, &mut seen)?;
        entries += copied.len;
        catalog.push((name, copied));
    }
    let mut builder = Builder::new(out.page_bytes);
    for (name, desc) in &catalog {
        builder.add(out, name, &desc.to_bytes())?;
    }
    let catalog_desc = builder.finish(out)?;
    out.flush()?;
    Ok(Copied {
        catalog: catalog_desc,
        trees: catalog.len() as u64,
        entries,
        page_count: out.next,
    })
}

/// Every named tree of the state, in name order, with its descriptor.
fn trees(
    src: MapSource<'_>,
    catalog: &TreeDesc,
    seen: &mut PageSet,
) -> Result<Vec<(Vec<u8>, TreeDesc)>> {
    let mut found = Vec::new();
    for_each_cell(src, catalog, seen, |_, name, value| {
        let value = Src::Snapshot(src).value(value)?;
        found.push((name.to_vec(), TreeDesc::decode(value, catalog.root.0)?));
        Ok(())
    })?;
    Ok(found)
}

/// Copies one tree, cell by cell, into packed pages; returns its new
/// descriptor. Its entry count must match the descriptor's.
fn copy_tree(
    out: &mut Out<'_>,
    src: MapSource<'_>,
    desc: &TreeDesc,
    seen: &mut PageSet,
) -> Result<TreeDesc> {
    let mut builder = Builder::new(out.page_bytes);
    for_each_cell(src, desc, seen, |cell, key, value| {
        builder.copy_cell(out, Src::Snapshot(src), cell, key, value)
    })?;
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

/// Calls `f` on each leaf cell of the tree `desc` in order, as `(cell, key,
/// value)`, walking its leaves (`btree::leaves`): a cursor's work without
/// its per-entry bookkeeping, and the raw cell at hand. Every page is read
/// through the snapshot, so validated on its first read; a page reached
/// twice in the whole copy (`seen`) is `Corruption`, and the depth bounds
/// every descent.
fn for_each_cell<'a>(
    src: MapSource<'a>,
    desc: &TreeDesc,
    seen: &mut PageSet,
    mut f: impl FnMut(&'a [u8], &'a [u8], CellValue<'a>) -> Result<()>,
) -> Result<()> {
    leaves(src, desc, seen, |_, leaf| {
        warm(leaf.bytes());
        for i in 0..leaf.count() {
            let (key, value) = leaf.entry(i)?;
            f(leaf.cell(i)?, key, value)?;
        }
        Ok(())
    })
}

/// Loads one byte of each cache line of `page`, so that the whole page
/// comes into the cache with its misses overlapping, rather than one
/// cell's miss at a time as the copy reaches it (a leaf read in key order
/// visits its cells in no order of address). A copy of 1M entries from a
/// page cache colder than the CPU's took about 25% less time with it.
fn warm(page: &[u8]) {
    let mut x = 0u8;
    for byte in page.iter().step_by(64) {
        x ^= byte;
    }
    std::hint::black_box(x);
}

/// Pages leave for the destination in writes of this many bytes: few
/// system calls, and each page copied once, into the batch. A multiple of
/// every page size, so a batch always ends on a page boundary.
const BATCH_BYTES: usize = 4 << 20;

/// While commits fsync the log, a file copy waits this many times as long
/// as a batch took to write before it writes the next: it then holds the
/// disk at most 1 / (1 + `YIELD_FACTOR`) of the time. Measured on the
/// bench's database (1M entries, a 178 MiB copy at about 1.7 GB/s alone),
/// medians of 1 s windows interleaved six times, a writer of durable
/// single commits kept this share of its rate beside back-to-back copies:
/// not giving way, 48–68% (19–20% with no readers beside it); a factor of
/// 4, 87–97% (77%); of 8, 88–102% (88–94%). The bench's rounds (a writer
/// and 2 readers, windows of 1–2 s) read 75% with 8 and 80–88% with 16.
/// A commit pays roughly the copy's batch write and its flush once per
/// cycle of 1 + `YIELD_FACTOR` write times. Under steady commits a copy
/// then goes about 1/17 as fast as alone (a 1.6 GB/s copy at ~90 MB/s).
const YIELD_FACTOR: u32 = 16;

/// Written through the page cache, a file copy starts the writeback of
/// what it has written each time this many more bytes are written (an
/// fdatasync on the writer thread, while the next batch is built).
/// Without it the whole copy sits dirty in the page cache until the final
/// fsync, and a concurrent commit's fdatasync can queue behind all of it
/// in the filesystem's journal; with it, behind at most about this much,
/// and the final fsync has little left to do.
const WRITEBACK_BYTES: u64 = 16 << 20;

/// Sealed pages on their way out: `BATCH_BYTES` of page-aligned memory (an
/// anonymous map), as direct I/O needs it. Batches are reused from one
/// write to the next, so a backup holds two of them whatever the size of
/// the copy; a batch never written is never touched, and costs nothing.
struct Batch {
    mem: MmapMut,
    len: usize,
}

impl Batch {
    fn new() -> std::io::Result<Batch> {
        Ok(Batch {
            mem: MmapMut::map_anon(BATCH_BYTES)?,
            len: 0,
        })
    }

    fn is_full(&self) -> bool {
        self.len == BATCH_BYTES
    }

    /// Appends as much of `bytes` as fits; returns how much did.
    fn take(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(BATCH_BYTES - self.len);
        self.mem[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    /// Appends up to `n` zero bytes, as many as fit; returns how many did.
    /// (A reused batch holds old bytes: zeros are written, not assumed.)
    fn take_zeros(&mut self, n: usize) -> usize {
        let n = n.min(BATCH_BYTES - self.len);
        self.mem[self.len..self.len + n].fill(0);
        self.len += n;
        n
    }

    fn bytes(&self) -> &[u8] {
        &self.mem[..self.len]
    }
}

/// The copy being built: pages go out in id order, through a batch.
struct Out<'w> {
    sink: Sink<'w>,
    page_bytes: usize,
    /// The id the next page gets.
    next: u64,
    /// The commit every page is stamped with: the snapshot's.
    txn: TxnId,
    /// Sealed pages not yet handed to the sink (untouched when counting).
    batch: Batch,
}

/// Where the pages go.
enum Sink<'w> {
    /// Nowhere: pages are counted, not sealed (a stream's dry pass).
    Count,
    /// A new file, at increasing offsets, by a writer thread.
    File(FileSink<'w>),
    /// A stream, in order.
    Stream(&'w mut dyn Write),
}

impl<'w> Out<'w> {
    fn new(sink: Sink<'w>, page_bytes: usize, txn: TxnId) -> std::io::Result<Out<'w>> {
        Ok(Out {
            sink,
            page_bytes,
            next: FIRST_DATA_PAGE,
            txn,
            batch: Batch::new()?,
        })
    }

    fn counting(&self) -> bool {
        matches!(self.sink, Sink::Count)
    }

    /// Seals the node `b` as the next page and writes it; returns its id.
    fn write_node(&mut self, b: &mut [u8]) -> Result<PageId> {
        let id = PageId(self.next);
        self.next += 1;
        if !self.counting() {
            seal_page(b, id, self.txn);
            self.put(b)?;
        }
        Ok(id)
    }

    /// Writes `value` as an overflow run at the next pages; returns its
    /// first page.
    fn write_run(&mut self, value: &[u8]) -> Result<PageId> {
        let id = PageId(self.next);
        self.next += overflow::run_pages(value.len(), self.page_bytes);
        if self.counting() {
            return Ok(id);
        }
        self.put(&overflow::run_header(id, self.txn, value, self.page_bytes))?;
        self.put(value)?;
        let mut zeros = overflow::run_tail_bytes(value.len(), self.page_bytes);
        while zeros > 0 {
            zeros -= self.batch.take_zeros(zeros);
            self.flush_full()?;
        }
        Ok(id)
    }

    /// Appends `bytes` to the batch, handing each batch that fills to the
    /// sink.
    fn put(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let n = self.batch.take(bytes);
            bytes = &bytes[n..];
            self.flush_full()?;
        }
        Ok(())
    }

    /// Hands the batch to the sink once it is full.
    fn flush_full(&mut self) -> Result<()> {
        if self.batch.is_full() {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the batch to the sink; the batch is then empty.
    fn flush(&mut self) -> Result<()> {
        if self.batch.len == 0 {
            return Ok(());
        }
        match &mut self.sink {
            Sink::Count => {}
            Sink::File(f) => f.write(&mut self.batch)?,
            Sink::Stream(w) => w.write_all(self.batch.bytes()).at(stream_path())?,
        }
        self.batch.len = 0;
        Ok(())
    }
}

/// The copy's file, written at increasing offsets by a thread of its own:
/// the builder hands it a full batch and goes on filling the other one.
struct FileSink<'p> {
    path: &'p Path,
    give_way: Option<GiveWay<'p>>,
    /// Where the next batch goes.
    at: u64,
    /// Full batches to the writer, with their offsets; `None` once
    /// finishing.
    full: Option<SyncSender<(Batch, u64)>>,
    /// Written batches back from the writer, empty, with the time each
    /// took to write.
    empty: Receiver<(Batch, Duration)>,
    /// The writer thread; it returns the file when `full` closes. `None`
    /// once joined.
    writer: Option<JoinHandle<Result<Io>>>,
}

impl<'p> FileSink<'p> {
    /// Starts the writer thread on `file`, the next batch going at `at`.
    /// `direct`: the file has direct I/O (no writeback to start).
    fn spawn(
        file: Io,
        path: &'p Path,
        at: u64,
        direct: bool,
        give_way: Option<GiveWay<'p>>,
    ) -> Result<FileSink<'p>> {
        let (full, to_write) = sync_channel::<(Batch, u64)>(1);
        let (give_back, empty) = sync_channel::<(Batch, Duration)>(2);
        // The second batch (the builder's `Out` has the first).
        let spare = Batch::new().at(path)?;
        let _ = give_back.send((spare, Duration::ZERO));
        let writer = std::thread::Builder::new()
            .name("oakmap-backup-writer".into())
            .spawn(move || {
                let mut since_writeback = 0;
                for (mut batch, at) in to_write {
                    let started = Instant::now();
                    file.write_at(batch.bytes(), at, "backup.write")?;
                    since_writeback += batch.len as u64;
                    if !direct && since_writeback >= WRITEBACK_BYTES {
                        file.sync("backup.sync")?;
                        since_writeback = 0;
                    }
                    batch.len = 0;
                    // The builder may be gone (it stopped on an error).
                    let _ = give_back.send((batch, started.elapsed()));
                }
                Ok(file)
            })
            .at(path)?;
        Ok(FileSink {
            path,
            give_way,
            at,
            full: Some(full),
            empty,
            writer: Some(writer),
        })
    }

    /// Hands the full `batch` to the writer and puts an empty one in its
    /// place (waiting while the writer still writes the other, and then
    /// giving way to commits if there were any).
    fn write(&mut self, batch: &mut Batch) -> Result<()> {
        let Ok((empty, took)) = self.empty.recv() else {
            return Err(self.stopped());
        };
        if let Some(g) = &mut self.give_way {
            g.after(took);
        }
        let batch = std::mem::replace(batch, empty);
        let len = batch.len as u64;
        let sent = match &self.full {
            Some(full) => full.send((batch, self.at)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(self.stopped());
        }
        self.at += len;
        Ok(())
    }

    /// The writer's error, once it has stopped on one.
    fn stopped(&mut self) -> Error {
        self.full = None;
        match self.join() {
            Err(e) => e,
            Ok(_) => Error::io(
                self.path,
                std::io::Error::other("the backup's writer thread stopped early"),
            ),
        }
    }

    /// Waits for the writer to write what it was given; returns the file,
    /// for the last writes and the fsync, and the time given to commits.
    fn finish(mut self) -> Result<(Io, Duration)> {
        self.full = None;
        let file = self.join()?;
        let yielded = self.give_way.as_ref().map_or(Duration::ZERO, |g| g.yielded);
        Ok((file, yielded))
    }

    fn join(&mut self) -> Result<Io> {
        let Some(writer) = self.writer.take() else {
            return Err(Error::io(
                self.path,
                std::io::Error::other("the backup's writer thread was already joined"),
            ));
        };
        match writer.join() {
            Ok(written) => written,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for FileSink<'_> {
    /// A copy that stopped on an error elsewhere (a corrupt page, say)
    /// stops its writer and waits for it, so that nothing writes the file
    /// after the caller has removed it.
    fn drop(&mut self) {
        self.full = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
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
        self.check_order(key)?;
        let cell = self.encode(out, key, value)?;
        self.append(out, key, &cell)
    }

    /// Adds the next entry as the leaf cell `cell` of a validated source
    /// leaf holds it (`key`, `value` decoded from it); keys must ascend
    /// strictly. An inline cell as `format` writes it (no flag set) is
    /// already the cell the copy needs, byte for byte: the page size, and
    /// so the inline rule, is the source's. Any other cell is encoded anew
    /// (an overflow value gets a run at its new place).
    fn copy_cell(
        &mut self,
        out: &mut Out<'_>,
        src: Src<'_>,
        cell: &[u8],
        key: &[u8],
        value: CellValue<'_>,
    ) -> Result<()> {
        self.check_order(key)?;
        match value {
            CellValue::Inline(v)
                if leaf_cell_flags(cell) == 0
                    && value_inline(key.len(), v.len(), self.page_bytes) =>
            {
                self.append(out, key, cell)
            }
            _ => {
                let cell = self.encode(out, key, src.value(value)?)?;
                self.append(out, key, &cell)
            }
        }
    }

    fn check_order(&self, key: &[u8]) -> Result<()> {
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
        Ok(())
    }

    /// The leaf cell of `key` and `value`, writing the value's overflow
    /// run first if it does not sit inline.
    fn encode(&self, out: &mut Out<'_>, key: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        Ok(if value_inline(key.len(), value.len(), self.page_bytes) {
            leaf_cell(key, CellValue::Inline(value))
        } else {
            let page = out.write_run(value)?;
            let len = value.len() as u32;
            leaf_cell(key, CellValue::Overflow { page, len })
        })
    }

    /// Appends the leaf cell `cell` of `key`, which `check_order` passed.
    fn append(&mut self, out: &mut Out<'_>, key: &[u8], cell: &[u8]) -> Result<()> {
        self.push(out, 0, None, cell)?;
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.len += 1;
        Ok(())
    }

    /// Adds `cell` to the page at `level`; writes the page first if the
    /// cell does not fit, and passes it up. `low` is the separator of the
    /// page the cell starts, if it starts one: given for a branch cell,
    /// cut from the last key and the cell's for a leaf cell (only then, as
    /// a page is seldom full).
    fn push(
        &mut self,
        out: &mut Out<'_>,
        level: usize,
        low: Option<Vec<u8>>,
        cell: &[u8],
    ) -> Result<()> {
        let kind = if level == 0 {
            PageKind::Leaf
        } else {
            PageKind::Branch
        };
        if level == self.levels.len() {
            let mut page = vec![0u8; self.page_bytes];
            init_node(&mut page, kind);
            // A tree's first leaf starts at the empty key.
            let low = low.unwrap_or_default();
            self.levels.push(Level { page, low });
            let ok = insert_cell(&mut self.levels[level].page, 0, cell);
            assert!(ok, "a cell within cell_bytes_max fits an empty page");
            return Ok(());
        }
        let count = page_count_field(&self.levels[level].page) as usize;
        if insert_cell(&mut self.levels[level].page, count, cell) {
            return Ok(());
        }
        let low = low.unwrap_or_else(|| separator(&self.last_key, cell_key(cell, true)));
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
        self.push(out, level, Some(low), &cell)
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
