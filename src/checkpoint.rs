//! Checkpoints: making the tree in the file reach a committed state, so the
//! WAL before it can go.
//!
//! Step by step (each fsync is a named failure point):
//! 1. Under the writer lock (no transaction is building), take the newest
//!    committed state H. Switch the WAL (`CommitLog::switch`: sync the
//!    active file, reset the other to start here and make it active): the log up to H is
//!    durable and H's checkpoint will cover it. Write H's freelist into free
//!    pages. Let the writer lock go.
//!    Crash: the newest meta slot still names the previous checkpoint C, whose
//!    pages are intact (see below) and whose WAL records are in the file just
//!    left, untouched.
//! 2. fsync the data file (`checkpoint.data.sync`): H's pages were written at
//!    commit, its freelist in step 1.
//!    Crash: as 1.
//! 3. Write the meta slot C does not occupy, then fsync (`meta.write`,
//!    `meta.sync`).
//!    Crash: a torn slot fails its checksum, and recovery takes C's.
//! 4. Let H, not C, pin pages (`Inner::checkpoint_txn`); the inactive WAL
//!    file's records are no longer needed.
//!
//! The newest durable checkpoint counts as a reader of its own state, so no
//! page it reaches is reused by later commits (invariant 2); the previous
//! freelist's pages wait for the pin to move too.
//! Lock order: writer, then checkpoint.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::db::{Inner, WriterState};
use crate::error::Result;
use crate::format::{Meta, TxnId};
use crate::pager::Pager;

/// The newest durable checkpoint, and figures about checkpoints.
pub(crate) struct CheckpointState {
    pub(crate) txn: TxnId,
    /// The meta slot it was written to.
    pub(crate) slot: usize,
    /// Pages of its on-disk freelist.
    pub(crate) freelist_pages: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) last_duration: Duration,
    pub(crate) total_duration: Duration,
    pub(crate) last_at: Instant,
}

/// Whether step 1 switches WAL files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switch {
    Yes,
    /// Recovery's checkpoint of the replayed records: they may span both
    /// files, so neither may be emptied until the checkpoint is durable;
    /// `run_after_recovery` restarts the log afterwards.
    AfterRecovery,
}

/// A checkpoint between steps 1 and 2.
pub(crate) struct Prepared {
    meta: Meta,
    slot: usize,
    started: Instant,
}

/// Step 1. `None` if nothing was committed since the last checkpoint.
pub(crate) fn prepare(
    inner: &Inner,
    w: &mut WriterState,
    k: &mut CheckpointState,
    switch: Switch,
) -> Result<Option<Prepared>> {
    if w.head.txn == k.txn {
        return Ok(None);
    }
    let started = Instant::now();
    // From here H's pages must stay intact too (see `freelist`).
    inner.prepared_txn.store(w.head.txn.0, Ordering::Release);
    let lsn = match switch {
        Switch::Yes => inner.log.switch(&inner.published)?,
        Switch::AfterRecovery => inner.log.end_lsn(),
    };
    let src = inner.map_source(&w.head, w.head_map);
    let cache = w.cache.take().expect("cache is home between transactions");
    let mut pager = Pager::new(
        src,
        std::mem::take(&mut w.free),
        cache,
        w.head.txn,
        w.head.txn,
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
        ..w.head
    };
    inner.file.grow_to(page_count * inner.page_bytes as u64)?;
    w.head_map = inner
        .file
        .ensure_mapped(page_count * inner.page_bytes as u64)?;
    w.head = meta;
    k.freelist_pages = pages;
    Ok(Some(Prepared {
        meta,
        slot: 1 - k.slot,
        started,
    }))
}

/// Steps 2–4.
pub(crate) fn finish(inner: &Inner, k: &mut CheckpointState, p: Prepared) -> Result<()> {
    inner.file.sync("checkpoint.data.sync")?;
    let offset = Meta::page_of_slot(p.slot) * inner.page_bytes as u64;
    inner.file.write_meta(&p.meta.encode(p.slot), offset)?;
    inner.file.sync("meta.sync")?;
    k.slot = p.slot;
    k.txn = p.meta.txn;
    inner.checkpoint_txn.store(p.meta.txn.0, Ordering::Release);
    inner.log.checkpointed(p.meta.wal_lsn);
    let took = p.started.elapsed();
    k.count += 1;
    k.last_duration = took;
    k.total_duration += took;
    k.last_at = Instant::now();
    inner
        .counters
        .free_pages
        .store(p.meta.free_count, Ordering::Relaxed);
    Ok(())
}

/// A whole checkpoint, for a caller holding the writer lock.
pub(crate) fn run_locked(inner: &Inner, w: &mut WriterState) -> Result<()> {
    let mut k = inner.checkpoint.lock();
    let result = prepare(inner, w, &mut k, Switch::Yes).and_then(|p| match p {
        Some(p) => finish(inner, &mut k, p),
        None => Ok(()),
    });
    if result.is_err() {
        inner.poison();
    }
    result
}

/// Recovery's checkpoint of the replayed records, then a fresh WAL.
pub(crate) fn run_after_recovery(inner: &Inner, w: &mut WriterState) -> Result<()> {
    let mut k = inner.checkpoint.lock();
    let result = prepare(inner, w, &mut k, Switch::AfterRecovery)
        .and_then(|p| match p {
            Some(p) => finish(inner, &mut k, p),
            None => Ok(()),
        })
        .and_then(|()| inner.log.restart());
    if result.is_err() {
        inner.poison();
    }
    result
}

/// A whole checkpoint that holds the writer lock only for step 1.
pub(crate) fn run(inner: &Inner) -> Result<()> {
    let mut w = inner.writer.lock();
    inner.check_poisoned()?;
    let mut k = inner.checkpoint.lock();
    let prepared = prepare(inner, &mut w, &mut k, Switch::Yes);
    drop(w);
    let result = prepared.and_then(|p| match p {
        Some(p) => finish(inner, &mut k, p),
        None => Ok(()),
    });
    if result.is_err() {
        inner.poison();
    }
    result
}
