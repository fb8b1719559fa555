//! Checkpoints: making the tree in the file reach a committed state, so the
//! WAL before it can go; and the meta writes at open and close that tell
//! recovery whether it needs the log.
//!
//! Step by step (each fsync is a named failure point):
//! 0. Sync the log written so far, without the writer lock (`run`), so
//!    that step 1 has little left to sync while transactions wait.
//! 1. Under the writer lock (no transaction is building), take the newest
//!    committed state H. Switch the WAL (`CommitLog::switch`: sync the
//!    active file, reset the other to start here, sync its header, and make
//!    it active): the log up to H is durable, H's checkpoint will cover it,
//!    and the file it names is durable. Write H's freelist into free pages.
//!    Let the writer lock go.
//!    Crash: the newest meta slot still names the previous checkpoint C, whose
//!    pages are intact (see below) and whose WAL records are in the file just
//!    left, untouched.
//! 2. Write H's resident pages, the ones only the cache arena holds
//!    (`resident`), in page order and in pieces; the rest of H's pages were
//!    written before (at commit, by a spill, by a large transaction taking
//!    resident frames back, or by an earlier checkpoint), its freelist in
//!    step 1. Then fsync the data file
//!    (`checkpoint.data.sync`). Before the fsync, write the file back
//!    in 4 MiB pieces, waiting for each, and, when the writer lock is free
//!    (`run`), pause after a piece while commits fsync the log
//!    (`DATA_YIELD_FACTOR`): a commit's log write then queues behind one
//!    piece, not behind every page since the last checkpoint.
//!    Crash: as 1.
//! 3. Write the meta slot C does not occupy, then fsync (`meta.write`,
//!    `meta.sync`).
//!    Crash: a torn slot fails its checksum, and recovery takes C's.
//! 4. Let H, not C, pin pages (`Engine::checkpoint_txn`); the inactive WAL
//!    file's records are no longer needed: cut it back to its kept length
//!    (`wal.truncate`) here, outside the writer lock, rather than in the
//!    next switch under it.
//!    Crash: the cut undone or half done leaves only old records, which
//!    no reader of the log takes for new ones (their LSNs are below the
//!    next base).
//!
//! The newest durable checkpoint counts as a reader of its own state, so no
//! page it reaches is reused by later commits (invariant 2); the previous
//! freelist's pages wait for the pin to move too.
//!
//! The clean mark. A clean close's last checkpoint carries it (the log
//! holds nothing the state lacks, so the log files may even be gone). The
//! first thing an open does after recovery is write a meta without it,
//! naming the log file commits will go to (`open_log`), so no commit is
//! acknowledged while the newest slot says the log is not needed. Such a
//! meta write of an unchanged state goes to the other slot with the same
//! `txn` and a larger `seq`; a torn one leaves the previous slot, which is
//! as good.
//!
//! Lock order: writer, then checkpoint.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::engine::{CheckpointState, Engine, Signal, WriterState};
use crate::error::Result;
use crate::format::Meta;
use crate::pace::GiveWay;
use crate::pager::{Pager, WRITE_BATCH_BYTES};

/// Whether step 1 switches WAL files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switch {
    Yes,
    /// Recovery's checkpoint of the replayed records: they may span both
    /// files, so neither may be reset until the checkpoint is durable. The
    /// meta names the active file, where commits go on after them.
    AfterRecovery,
}

/// A checkpoint between steps 1 and 2.
pub(crate) struct Prepared {
    meta: Meta,
    started: Instant,
}

/// Step 1. `None` if nothing was committed since the last checkpoint.
pub(crate) fn prepare(
    inner: &Engine,
    w: &mut WriterState,
    k: &mut CheckpointState,
    switch: Switch,
) -> Result<Option<Prepared>> {
    if w.head.txn == k.txn() {
        return Ok(None);
    }
    let started = Instant::now();
    // From here H's pages must stay intact too (see `freelist`).
    inner.prepared_txn.store(w.head.txn.0, Ordering::Release);
    if switch == Switch::Yes {
        inner.log.switch(&inner.published)?;
    }
    let (wal_file, base, lsn) = inner.log.position();
    let src = inner.map_source(&w.head, w.head_map);
    let cache = w.cache.take().expect("cache is home between transactions");
    let mut pager = Pager::new(
        src,
        std::mem::take(&mut w.free),
        cache,
        w.head.txn,
        w.head.txn,
        None,
    );
    let written = pager
        .write_freelist(&k.freelist_pages)
        .and_then(|list| pager.write_out(&inner.file).map(|()| list));
    let page_count = pager.page_count;
    // The old freelist's pages are freed "by" H: they wait until the pin
    // moves past C.
    let (free, cache) = pager.finish_commit(w.head.txn);
    w.free = free;
    w.cache = Some(cache);
    let (freelist_head, free_count, pages) = written?;
    let meta = Meta {
        freelist_head,
        free_count,
        page_count,
        wal_lsn: lsn,
        wal_base: base,
        wal_file,
        clean: false,
        ..w.head
    };
    inner.file.grow_to(page_count * inner.page_bytes as u64)?;
    w.head_map = inner
        .file
        .ensure_mapped(page_count * inner.page_bytes as u64)?;
    w.head = meta;
    k.freelist_pages = pages;
    Ok(Some(Prepared { meta, started }))
}

/// How step 2 writes the data back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// Giving way to commits: the writer lock is free, commits go on.
    GiveWay,
    /// At full speed: the caller holds the writer lock (or the database is
    /// closing), so no commit waits on anything but this checkpoint.
    Full,
}

/// Steps 2–4; `clean` marks the last checkpoint of a clean close.
fn finish(
    inner: &Engine,
    k: &mut CheckpointState,
    p: Prepared,
    clean: bool,
    pace: Pace,
) -> Result<()> {
    // The pages first, a piece at a time, giving way to commits, so a
    // commit's log write never queues behind all of them; then the sync
    // that makes them durable has little left but the flush.
    let fsyncs = || inner.log.led_fsyncs();
    let factor = match pace {
        Pace::GiveWay => DATA_YIELD_FACTOR,
        Pace::Full => 0,
    };
    let mut give_way = GiveWay::new(&fsyncs, factor);
    let mut after_piece = |took| give_way.after(took);
    // H's pages that only the arena holds go to the file first, in page
    // order and in pieces, as the rest is written back below; from then on
    // readers may find them there.
    let resident = inner.resident.to_write(p.meta.txn);
    write_resident(inner, &resident, &mut after_piece)?;
    let bytes = p.meta.page_count * inner.page_bytes as u64;
    inner
        .file
        .write_back_in_pieces(bytes, DATA_PIECE_BYTES, after_piece)?;
    inner.file.sync("checkpoint.data.sync")?;
    write_meta(inner, k, Meta { clean, ..p.meta })?;
    inner.checkpoint_txn.store(p.meta.txn.0, Ordering::Release);
    inner.log.checkpointed(p.meta.wal_lsn);
    let took = p.started.elapsed();
    let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
    let c = &inner.counters;
    c.checkpoint_last_ns.store(ns, Ordering::Relaxed);
    c.checkpoint_total_ns.fetch_add(ns, Ordering::Relaxed);
    c.checkpoints.fetch_add(1, Ordering::Relaxed);
    k.last_at = Instant::now();
    inner
        .counters
        .free_pages
        .store(p.meta.free_count, Ordering::Relaxed);
    // The file left behind holds only records this checkpoint covers.
    inner.log.trim_inactive()
}

/// Writes `pages` (from `Resident::to_write`, pages of the state being
/// checkpointed, which the free list keeps until it is done) in pieces of
/// `DATA_PIECE_BYTES`, each written back and
/// waited for before `after` sees its time (and may pause): the disk's
/// queue holds at most one piece ahead of a commit's log write, as in step
/// 2. Each piece is marked clean once written.
fn write_resident(
    inner: &Engine,
    pages: &[(u64, u32)],
    after: &mut dyn FnMut(Duration),
) -> Result<()> {
    let pb = inner.page_bytes as u64;
    let per_piece = usize::try_from(DATA_PIECE_BYTES / pb).unwrap_or(1).max(1);
    for piece in pages.chunks(per_piece) {
        let started = Instant::now();
        inner
            .resident
            .write_out(piece, WRITE_BATCH_BYTES, |first, bytes| {
                inner.file.write_pages(bytes, first, inner.page_bytes)
            })?;
        inner.resident.written(piece);
        let (first, last) = (piece[0].0, piece[piece.len() - 1].0);
        inner
            .file
            .write_back_range(first * pb, (last - first + 1) * pb)?;
        after(started.elapsed());
    }
    Ok(())
}

/// Step 3: writes `meta` into the slot the newest checkpoint does not
/// occupy, with the next `seq`, and syncs it.
fn write_meta(inner: &Engine, k: &mut CheckpointState, meta: Meta) -> Result<()> {
    let slot = 1 - k.slot;
    // Meta::decode bounds seq, so this cannot overflow.
    let meta = Meta {
        seq: k.meta.seq + 1,
        ..meta
    };
    let offset = Meta::page_of_slot(slot) * inner.page_bytes as u64;
    inner.file.write_meta(&meta.encode(slot), offset)?;
    inner.file.sync("meta.sync")?;
    k.slot = slot;
    k.meta = meta;
    Ok(())
}

/// Runs `f` with the checkpoint lock, poisoning the database if it fails.
fn poisoning(inner: &Engine, f: impl FnOnce(&mut CheckpointState) -> Result<()>) -> Result<()> {
    let mut k = inner.checkpoint.lock();
    let _poison = inner.poison_on_panic();
    let result = f(&mut k);
    if result.is_err() {
        inner.poison();
    }
    result
}

/// A whole checkpoint, for a caller holding the writer lock.
pub(crate) fn run_locked(inner: &Engine, w: &mut WriterState) -> Result<()> {
    poisoning(inner, |k| match prepare(inner, w, k, Switch::Yes)? {
        Some(p) => finish(inner, k, p, false, Pace::Full),
        None => Ok(()),
    })
}

/// Recovery's checkpoint of the replayed records. After a loss the user
/// accepted it carries the clean mark: what the log holds beyond it is
/// given up, so a crash before the log starts afresh does not refuse the
/// next open over it again.
pub(crate) fn run_after_recovery(inner: &Engine, w: &mut WriterState) -> Result<()> {
    let clean = inner.log_loss.is_some();
    poisoning(inner, |k| {
        match prepare(inner, w, k, Switch::AfterRecovery)? {
            Some(p) => finish(inner, k, p, clean, Pace::Full),
            None => Ok(()),
        }
    })
}

/// The end of opening: the newest meta slot must name the log file commits
/// will be appended to, without the clean mark. `afresh`: the log is started
/// anew first (after a clean close, or a loss the user accepted).
pub(crate) fn open_log(inner: &Engine, afresh: bool) -> Result<()> {
    let _w = inner.writer.lock();
    poisoning(inner, |k| {
        if afresh {
            // The log is about to go: first a slot that does not need it
            // (after a clean close there is one; after an accepted loss
            // with nothing replayed, write it), so no crash from here on
            // leaves the newest slot naming a log that is gone.
            if !k.meta.clean {
                write_meta(
                    inner,
                    k,
                    Meta {
                        clean: true,
                        ..k.meta
                    },
                )?;
            }
            inner.log.start_afresh()?;
        }
        let (wal_file, base, end) = inner.log.position();
        let m = k.meta;
        if !m.clean && m.wal_base == base && m.wal_lsn == end && m.wal_file == wal_file {
            return Ok(());
        }
        // `end` may be past `m.wal_lsn` with nothing replayed: the log
        // went on through a switch marker (a checkpoint that switched files
        // and did not finish), which changes no state.
        write_meta(
            inner,
            k,
            Meta {
                wal_base: base,
                wal_lsn: end,
                wal_file,
                clean: false,
                ..m
            },
        )?;
        inner.log.checkpointed(end);
        Ok(())
    })
}

/// The last checkpoint of a clean close, carrying the clean mark; with
/// nothing to checkpoint, the mark alone.
pub(crate) fn close(inner: &Engine) -> Result<()> {
    let mut w = inner.writer.lock();
    inner.check_poisoned()?;
    poisoning(inner, |k| match prepare(inner, &mut w, k, Switch::Yes)? {
        Some(p) => finish(inner, k, p, true, Pace::Full),
        None => write_meta(
            inner,
            k,
            Meta {
                clean: true,
                ..k.meta
            },
        ),
    })
}

/// A whole checkpoint that holds the writer lock only for step 1.
///
/// The log written so far is synced first, before the writer lock is
/// taken, as any commit's fsync is (group commit; a failure poisons the
/// log as theirs does): step 1's switch must sync the active file under
/// the lock, and after commits that did not wait for their fsync
/// (`Durability::None`, `Group`) that could be the whole WAL, tens of
/// milliseconds during which no transaction could begin. Now the switch
/// syncs only what was appended since.
pub(crate) fn run(inner: &Engine) -> Result<()> {
    inner.check_poisoned()?;
    if let Err(e) = inner.log.sync_all(&inner.published) {
        inner.poison();
        return Err(e);
    }
    let mut w = inner.writer.lock();
    inner.check_poisoned()?;
    let mut k = inner.checkpoint.lock();
    let _poison = inner.poison_on_panic();
    let prepared = prepare(inner, &mut w, &mut k, Switch::Yes);
    drop(w);
    let result = prepared.and_then(|p| match p {
        Some(p) => finish(inner, &mut k, p, false, Pace::GiveWay),
        None => Ok(()),
    });
    if result.is_err() {
        inner.poison();
    }
    result
}

/// Step 2 writes the data file back in pieces of this size before its
/// fdatasync: a commit's log write waits behind at most one.
const DATA_PIECE_BYTES: u64 = 4 << 20;

/// While commits fsync the log, step 2 of a checkpoint that lets the
/// writer lock go waits this many times as long as a piece took before the
/// next (`pace::GiveWay`), holding the disk at most a quarter of the time
/// from the commits. oakmap bench, commits during checkpoints of a 64 MiB
/// WAL (p99 / p99.9 / max; checkpoint p50): writing back all at once at
/// the fdatasync, 28.1 ms / 49.0 ms / 49.0 ms, 68 ms; in pieces with a
/// factor of 1, 2.7 ms / 28.1 ms / 33.9 ms, 160 ms; with 3, 0.97 ms /
/// 9.7 ms / 26.8 ms, 425 ms. A checkpoint that gives way takes longer;
/// when the WAL fills meanwhile, writers wait for it at full speed
/// (`run_locked`).
const DATA_YIELD_FACTOR: u32 = 3;

/// Below this many pinned pages, space is not a reason to checkpoint.
const PINNED_PAGES_MIN: u64 = 1024;

/// The checkpointer thread: checkpoints when the WAL passes half its bound,
/// when the interval has passed with commits not yet checkpointed, or when
/// pages waiting for a checkpoint before reuse pass an eighth of the file.
pub(crate) fn run_thread(inner: &Engine, signal: &Signal) {
    let poll = inner
        .options
        .checkpoint_interval
        .min(Duration::from_millis(250));
    loop {
        if signal.wait(poll) {
            return;
        }
        if inner.poisoned.load(Ordering::Acquire) {
            continue;
        }
        let uncovered = inner.log.uncovered_bytes();
        let since = inner.checkpoint.lock().last_at.elapsed();
        // Freed pages the last checkpoint still reaches cannot be reused until
        // the next one: when they are an eighth of the file, checkpoint.
        let pinned = inner.counters.checkpoint_pinned.load(Ordering::Relaxed);
        let pages = inner.counters.page_count.load(Ordering::Relaxed);
        let due = uncovered >= inner.options.wal_bytes_max / 2
            || (uncovered > 0 && since >= inner.options.checkpoint_interval)
            || (uncovered > 0 && pinned >= PINNED_PAGES_MIN && pinned >= pages / 8);
        if due {
            // An error poisons the database; writers report it.
            let _ = run(inner);
        } else {
            // Pages commits wrote since the last poll start for the disk
            // now, a poll's worth at a time, rather than all at the next
            // checkpoint's data sync. An error here changes nothing: that
            // sync reports the disk's errors.
            let _ = inner.file.start_writeback();
        }
    }
}
