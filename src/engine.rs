//! The engine's shared state: what a `Db`, its transactions, its
//! checkpoints and its background threads all hold, below every one of them.
//!
//! [`Engine`] is built once per open from what recovery found
//! ([`Engine::new`]) and lives in an `Arc` for as long as the `Db` or an
//! owned snapshot does. It holds the data file, the published state readers
//! start from, the reader table, the writer's state behind the writer lock,
//! the newest durable checkpoint behind the checkpoint lock, the commit log
//! and the counters. Lock order: writer, then checkpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::cache::{Cache, CacheCounters};
use crate::commit::CommitLog;
use crate::error::{At, Error, Result};
use crate::file::DataFile;
use crate::format::{Meta, TxnId};
use crate::freelist::FreeList;
use crate::options::Options;
use crate::pager::MapSource;
use crate::resident::Resident;
use crate::snapshot::{Published, ReaderTable};

/// What the writer keeps between transactions (behind the writer lock).
pub(crate) struct WriterState {
    pub(crate) free: FreeList,
    /// The newest committed state, published or not.
    pub(crate) head: Meta,
    /// A mapping that covers `head`.
    pub(crate) head_map: usize,
    /// The page cache; lent to the pager while a transaction runs.
    pub(crate) cache: Option<Cache>,
}

/// Counters, readable without any lock.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) backpressure_waits: AtomicU64,
    pub(crate) page_count: AtomicU64,
    pub(crate) free_pages: AtomicU64,
    pub(crate) pending_pages: AtomicU64,
    /// Of the pending pages, those waiting for the next checkpoint.
    pub(crate) checkpoint_pinned: AtomicU64,
    /// Checkpoints finished, the last one's time and all of theirs, in
    /// nanoseconds: here rather than under the checkpoint lock, so that
    /// `Db::stats` (a server's metrics endpoint) never waits for a
    /// checkpoint to end.
    pub(crate) checkpoints: AtomicU64,
    pub(crate) checkpoint_last_ns: AtomicU64,
    pub(crate) checkpoint_total_ns: AtomicU64,
}

impl Counters {
    pub(crate) fn set_space(&self, head: &Meta, free: u64, pending: u64, checkpoint_pinned: u64) {
        self.page_count.store(head.page_count, Ordering::Relaxed);
        self.free_pages.store(free, Ordering::Relaxed);
        self.pending_pages.store(pending, Ordering::Relaxed);
        self.checkpoint_pinned
            .store(checkpoint_pinned, Ordering::Relaxed);
    }
}

/// The writer lock as a [`WriteTxn`] holds it: while it is held, its thread
/// is on record in [`WriterThread`], and the record is cleared before the
/// lock is let go.
pub(crate) struct WriterGuard<'a> {
    state: MutexGuard<'a, WriterState>,
    thread: &'a WriterThread,
}

impl Engine {
    /// Takes the writer lock for a write transaction, waiting for the
    /// current one; refused if that is this thread's own.
    pub(crate) fn lock_writer(&self) -> Result<WriterGuard<'_>> {
        self.writer_thread.refuse_current()?;
        let state = self.writer.lock();
        self.writer_thread.0.store(thread_tag(), Ordering::Relaxed);
        Ok(WriterGuard {
            state,
            thread: &self.writer_thread,
        })
    }
}

/// Poisons the database if a panic unwinds past it: held while the
/// writer's head, the log or the meta slots are part way through a change
/// (a commit from its pages to its record, a checkpoint, a shrink). A panic
/// there (a bug) could leave a commit number taken with no record and no
/// meta slot, and the next commit's record would then read as a gap: every
/// commit after it acknowledged, and refused at the next open. Poisoned,
/// the database takes no commit after it. Outside those windows a panic
/// (the caller's, while building a transaction) aborts the transaction as
/// any drop does and leaves the database usable. A guard made while the
/// thread was already unwinding (a commit in a destructor) poisons only
/// for a panic of its own, not for that one.
pub(crate) struct PoisonOnPanic<'a> {
    engine: &'a Engine,
    unwinding_before: bool,
}

impl Engine {
    pub(crate) fn poison_on_panic(&self) -> PoisonOnPanic<'_> {
        PoisonOnPanic {
            engine: self,
            unwinding_before: std::thread::panicking(),
        }
    }
}

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.unwinding_before {
            self.engine.poison();
        }
    }
}

impl std::ops::Deref for WriterGuard<'_> {
    type Target = WriterState;

    fn deref(&self) -> &WriterState {
        &self.state
    }
}

impl std::ops::DerefMut for WriterGuard<'_> {
    fn deref_mut(&mut self) -> &mut WriterState {
        &mut self.state
    }
}

impl Drop for WriterGuard<'_> {
    /// Runs before the fields drop, so the record is cleared while the lock
    /// is still held: a thread never finds another's tag left behind.
    fn drop(&mut self) {
        self.thread.0.store(0, Ordering::Relaxed);
    }
}

/// The thread whose write transaction holds the writer lock (0: none), so
/// that a call on that thread which would wait for the lock (`begin_write`,
/// the one-call writes, `checkpoint`, `check`) fails instead of waiting
/// forever for itself. Only the holder stores its own tag and clears it
/// before unlocking, so a thread reading its own tag here is the holder,
/// whatever the memory order; any other thread reads a tag not its own.
#[derive(Default)]
pub(crate) struct WriterThread(AtomicU64);

impl WriterThread {
    pub(crate) fn refuse_current(&self) -> Result<()> {
        if self.0.load(Ordering::Relaxed) == thread_tag() {
            return Err(Error::WriteTxnOpenOnThisThread);
        }
        Ok(())
    }
}

/// A number naming the current thread, never 0 (`ThreadId::as_u64` is not
/// stable, and `thread::current()` clones an `Arc` on every call).
fn thread_tag() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TAG: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TAG.with(|t| *t)
}

/// The state shared by a `Db`, its transactions and its background threads.
pub(crate) struct Engine {
    pub(crate) file: DataFile,
    pub(crate) page_bytes: usize,
    pub(crate) options: Options,
    pub(crate) published: Published,
    pub(crate) readers: ReaderTable,
    pub(crate) writer: Mutex<WriterState>,
    /// Whose write transaction holds `writer`.
    pub(crate) writer_thread: WriterThread,
    pub(crate) checkpoint: Mutex<CheckpointState>,
    pub(crate) log: CommitLog,
    pub(crate) poisoned: AtomicBool,
    pub(crate) counters: Counters,
    /// The newest durable checkpoint's txn: its pages must not be reused.
    pub(crate) checkpoint_txn: AtomicU64,
    /// The newest checkpoint prepared (being written) or durable; set under
    /// the writer lock.
    pub(crate) prepared_txn: AtomicU64,
    /// The state of the last compaction that gave pages back (0: none):
    /// older snapshots may read a larger page count, so the file is not cut
    /// while one lives (`compact::may_trim`).
    pub(crate) shrunk_txn: AtomicU64,
    pub(crate) cache_counters: Arc<CacheCounters>,
    pub(crate) cache_bytes: usize,
    /// Committed pages still in the cache arena (`resident`).
    pub(crate) resident: Resident,
    /// Why the log could not be recovered in full, when the user opened
    /// with `Options::accept_log_loss` and commits were dropped.
    pub(crate) log_loss: Option<String>,
    /// Commits opening replayed from the log.
    pub(crate) replayed_commits: u64,
}

impl Engine {
    pub(crate) fn check_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    /// After a failed write or fsync: no more writes until reopened.
    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
        self.log.poison();
    }

    pub(crate) fn map_source(&self, meta: &Meta, map: usize) -> MapSource<'_> {
        MapSource {
            file: &self.file,
            map,
            page_count: meta.page_count,
            page_bytes: self.page_bytes,
            verify: self.options.verify_checksums,
            resident: Some(&self.resident),
        }
    }

    /// Lets the free list release what no snapshot or checkpoint can reach,
    /// with the resident frames of those pages, and the retired frames no
    /// snapshot can hold; resident pages a checkpoint wrote leave the table
    /// (see `resident`).
    /// New snapshots start at the published state, which may lag the writer's
    /// head while commits wait for their fsync: it counts as a reader too.
    /// (Read it before scanning the slots: a reader that registers after the
    /// scan holds a state at least this new.)
    pub(crate) fn release_free(&self, w: &mut WriterState) {
        let published = self.published.txn();
        let durable = TxnId(self.checkpoint_txn.load(Ordering::Acquire));
        let oldest = match self.readers.oldest() {
            Some((t, _)) => t.min(published),
            None => published,
        };
        let mut released = Vec::new();
        w.free.release(Some(oldest), durable, &mut released);
        let mut frames = Vec::new();
        let building = TxnId(w.head.txn.0 + 1);
        self.resident.at_txn_start(
            &released,
            oldest,
            building,
            || self.readers.none(),
            &mut frames,
        );
        if let Some(cache) = w.cache.as_mut() {
            cache.give_frames(frames);
        }
    }
}

/// What opening found on disk, from which [`Engine::new`] builds the
/// shared state: the newest checkpoint (its meta, slot and free pages, with
/// a mapping that covers it) and the log after it, ready for appends.
pub(crate) struct Found {
    pub(crate) file: DataFile,
    pub(crate) page_bytes: usize,
    pub(crate) meta: Meta,
    pub(crate) slot: usize,
    pub(crate) map: usize,
    pub(crate) free_ids: Vec<u64>,
    pub(crate) freelist_pages: Vec<u64>,
    pub(crate) log: CommitLog,
    /// The loss the user accepted, if any.
    pub(crate) log_loss: Option<String>,
    /// Commits in the log after the checkpoint, which opening replays.
    pub(crate) replayed_commits: u64,
}

impl Engine {
    /// The state of a database whose newest checkpoint is `found.meta`,
    /// before the log after it is replayed.
    pub(crate) fn new(found: Found, options: Options) -> Result<Engine> {
        let Found {
            file,
            page_bytes,
            meta,
            slot,
            map,
            free_ids,
            freelist_pages,
            log,
            log_loss,
            replayed_commits,
        } = found;
        let cache_counters = Arc::new(CacheCounters::default());
        // The arena is memory, not a file; its error names the database
        // whose open needed it.
        let cache =
            Cache::new(options.cache_bytes, page_bytes, cache_counters.clone()).at(file.path())?;
        let cache_bytes = cache.capacity_bytes();
        let resident = Resident::new();
        resident.set_arena(cache.arena().clone());
        let counters = Counters::default();
        counters.set_space(&meta, free_ids.len() as u64, 0, 0);
        Ok(Engine {
            published: Published::new(&meta, map),
            page_bytes,
            readers: ReaderTable::new(),
            writer: Mutex::new(WriterState {
                free: FreeList::from_free(free_ids),
                head: meta,
                head_map: map,
                cache: Some(cache),
            }),
            writer_thread: WriterThread::default(),
            checkpoint: Mutex::new(CheckpointState {
                meta,
                slot,
                freelist_pages,
                last_at: Instant::now(),
            }),
            log,
            poisoned: AtomicBool::new(false),
            counters,
            checkpoint_txn: AtomicU64::new(meta.txn.0),
            prepared_txn: AtomicU64::new(meta.txn.0),
            shrunk_txn: AtomicU64::new(0),
            cache_bytes,
            cache_counters,
            resident,
            log_loss,
            replayed_commits,
            options,
            file,
        })
    }
}

/// The newest durable checkpoint, and figures about checkpoints.
pub(crate) struct CheckpointState {
    /// Its meta, as written.
    pub(crate) meta: Meta,
    /// The meta slot it was written to.
    pub(crate) slot: usize,
    /// Pages of its on-disk freelist.
    pub(crate) freelist_pages: Vec<u64>,
    pub(crate) last_at: Instant,
}

impl CheckpointState {
    pub(crate) fn txn(&self) -> TxnId {
        self.meta.txn
    }
}

/// Wakes the checkpointer thread, and tells it to stop.
#[derive(Default)]
pub(crate) struct Signal {
    state: Mutex<SignalState>,
    cond: Condvar,
}

#[derive(Default)]
struct SignalState {
    /// A writer asked for a checkpoint since the thread last woke.
    kicked: bool,
    /// The `Db` is closing: the thread ends.
    stopping: bool,
}

impl Signal {
    pub(crate) fn kick(&self) {
        self.state.lock().kicked = true;
        self.cond.notify_all();
    }

    pub(crate) fn stop(&self) {
        self.state.lock().stopping = true;
        self.cond.notify_all();
    }

    /// Waits for a kick, a stop or the timeout; true when stopping.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let mut s = self.state.lock();
        if !s.kicked && !s.stopping {
            self.cond.wait_for(&mut s, timeout);
        }
        s.kicked = false;
        s.stopping
    }
}
