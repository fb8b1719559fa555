//! Group commit: appending records to the WAL, sharing fsyncs, and
//! publishing states to new snapshots in commit order.
//!
//! The writer appends its record (one pwrite, under this log's mutex) while
//! it still holds the writer lock, then lets the lock go and waits here. A
//! state is published — becomes what `begin_read` sees — once every earlier
//! state is published and its own record is durable under its mode:
//! `Immediate` records once fsynced, `Group` and `None` records once written.
//! Whoever waits for an `Immediate` record while no fsync is running becomes
//! the leader: it fsyncs everything written so far, outside the mutex, so
//! every commit that arrives meanwhile shares the next fsync. A leader first
//! waits (at most `LEADER_WAIT`) for the writer holding the writer lock, if
//! any, to append: its record would otherwise need an fsync of its own.
//! Writers still queued for the lock are not waited for: they build while
//! the fsync runs and share the next one, which keeps the disk busy. A `Group`
//! record asks the flusher thread for an fsync within its interval.
//!
//! A failed write or fsync poisons the log: waiters get `Error::Poisoned`,
//! nothing is published after it, and no fsync is retried.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::format::wal::{OpLog, SWITCH_MARKER_BYTES, offset_of};
use crate::format::{Lsn, Meta, TxnId};
use crate::snapshot::Published;
use crate::wal::WalFiles;

/// When a commit's record must be durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncMode {
    /// Before the commit is published or returns.
    Now,
    /// Within this long, by the flusher thread.
    Within(Duration),
    /// Never asked for (the next checkpoint or other fsync covers it).
    Never,
}

struct Pending {
    txn: TxnId,
    end_lsn: Lsn,
    needs_sync: bool,
    meta: Meta,
    map: usize,
}

struct LogState {
    active: usize,
    /// LSN of the first record of the active file.
    base: Lsn,
    /// LSN just past the last record written.
    end: Lsn,
    /// LSN up to which the log is fsynced.
    durable: Lsn,
    /// LSN the newest durable checkpoint covers.
    checkpoint_lsn: Lsn,
    flushing: bool,
    queue: VecDeque<Pending>,
    published: TxnId,
    sync_deadline: Option<Instant>,
    poisoned: bool,
    stopping: bool,
    fsyncs: u64,
    /// Of `fsyncs`, those led for commits (and `Db::sync`), not a
    /// checkpoint's switch: what a backup gives way to.
    led_fsyncs: u64,
    bytes_written: u64,
}

pub(crate) struct CommitLog {
    wal: WalFiles,
    state: Mutex<LogState>,
    cond: Condvar,
    /// Where a would-be fsync leader waits for writers in flight: only a
    /// writer's append (or abort) wakes it, and it wakes nobody else.
    leader_cond: Condvar,
    /// Where the flusher thread waits: woken only for what it acts on (an
    /// earlier `Group` deadline, the end of an fsync while one is due, stop
    /// or poison), not by every commit.
    flusher_cond: Condvar,
    /// Writers holding the writer lock, before their append (or abort): 0 or 1.
    writers_in_flight: AtomicUsize,
}

/// How long a would-be fsync leader waits for the writer building now to
/// append, so that its record shares this fsync instead of needing the next.
const LEADER_WAIT: Duration = Duration::from_micros(100);

/// Figures for `Db::stats`.
pub(crate) struct LogFigures {
    pub(crate) fsyncs: u64,
    pub(crate) bytes_written: u64,
    pub(crate) bytes_since_checkpoint: u64,
}

impl CommitLog {
    /// A log whose active file is `active`, starting at `base`, written up to
    /// `end` (all of it durable: recovery just read it back and a checkpoint
    /// covers `checkpoint_lsn`).
    pub(crate) fn new(
        wal: WalFiles,
        active: usize,
        base: Lsn,
        end: Lsn,
        checkpoint_lsn: Lsn,
        published: TxnId,
    ) -> CommitLog {
        CommitLog {
            wal,
            state: Mutex::new(LogState {
                active,
                base,
                end,
                durable: end,
                checkpoint_lsn,
                flushing: false,
                queue: VecDeque::new(),
                published,
                sync_deadline: None,
                poisoned: false,
                stopping: false,
                fsyncs: 0,
                led_fsyncs: 0,
                bytes_written: 0,
            }),
            cond: Condvar::new(),
            leader_cond: Condvar::new(),
            flusher_cond: Condvar::new(),
            writers_in_flight: AtomicUsize::new(0),
        }
    }

    /// A writer took the writer lock and starts building a transaction.
    pub(crate) fn writer_enter(&self) {
        self.writers_in_flight.fetch_add(1, Ordering::SeqCst);
    }

    /// A writer appended its record, or gave up. Under the state mutex, so a
    /// leader cannot miss the wake-up between its check and its wait.
    pub(crate) fn writer_leave(&self) {
        let _st = self.state.lock();
        self.writers_in_flight.fetch_sub(1, Ordering::SeqCst);
        self.leader_cond.notify_all();
    }

    pub(crate) fn figures(&self) -> LogFigures {
        let st = self.state.lock();
        LogFigures {
            fsyncs: st.fsyncs,
            bytes_written: st.bytes_written,
            bytes_since_checkpoint: st.end.bytes_since(st.checkpoint_lsn),
        }
    }

    /// fsyncs led for commits so far (not a checkpoint's own).
    pub(crate) fn led_fsyncs(&self) -> u64 {
        self.state.lock().led_fsyncs
    }

    /// Cuts the file commits do not go to back to its kept length, once a
    /// durable checkpoint covers every record in it. The checkpoint calls
    /// this at its end, under the checkpoint lock, which every switch
    /// holds: nothing else touches that file meanwhile, and commits go on
    /// in the other. Done here rather than in the next switch, which runs
    /// under the writer lock: cutting tens of MiB took most of the 7 ms
    /// the switch held it.
    pub(crate) fn trim_inactive(&self) -> Result<()> {
        let inactive = 1 - self.state.lock().active;
        self.wal.trim(inactive)
    }

    /// Bytes of log a checkpoint has not yet covered.
    pub(crate) fn uncovered_bytes(&self) -> u64 {
        let st = self.state.lock();
        st.end.bytes_since(st.checkpoint_lsn)
    }

    /// Stops waiters and refuses everything from now on.
    pub(crate) fn poison(&self) {
        self.state.lock().poisoned = true;
        self.cond.notify_all();
        self.flusher_cond.notify_all();
    }

    /// Appends the record of commit `meta.txn`; the caller holds the writer
    /// lock, so records are appended in commit order. Returns the record's end.
    /// `in_flight`: the caller was counted by `writer_enter` and leaves now.
    pub(crate) fn append(
        &self,
        ops: &mut OpLog,
        meta: &Meta,
        map: usize,
        mode: SyncMode,
        published: &Published,
        in_flight: bool,
    ) -> Result<Lsn> {
        let mut st = self.state.lock();
        if in_flight {
            // The writer leaves the flight here, under the mutex it already
            // holds: a waiting leader wakes once the record is in (it needs
            // the mutex back), and the commit takes no second lock for it.
            self.writers_in_flight.fetch_sub(1, Ordering::SeqCst);
            self.leader_cond.notify_all();
        }
        if st.poisoned {
            return Err(Error::Poisoned);
        }
        let lsn = st.end;
        let record = ops.encode(lsn, meta.txn.0, st.durable, self.wal.tag());
        // Recovery tells a switch that did not finish by the other file
        // starting one marker past the log's end; after a process recovered
        // one and appended here, a record shorter than a marker would end the
        // log short of that start, which reads as a gap. Every commit logs
        // at least one operation, so none is.
        debug_assert!(
            record.len() as u64 > SWITCH_MARKER_BYTES,
            "a commit record of {} bytes, no longer than a switch marker",
            record.len()
        );
        let offset = offset_of(lsn, st.base);
        if let Err(e) = self.wal.write_at(st.active, record, offset) {
            st.poisoned = true;
            self.cond.notify_all();
            return Err(e);
        }
        st.end += record.len() as u64;
        st.bytes_written += record.len() as u64;
        let end_lsn = st.end;
        let meta = Meta {
            wal_lsn: end_lsn,
            ..*meta
        };
        st.queue.push_back(Pending {
            txn: meta.txn,
            end_lsn,
            needs_sync: mode == SyncMode::Now,
            meta,
            map,
        });
        if let SyncMode::Within(d) = mode {
            let at = Instant::now() + d;
            if st.sync_deadline.is_none_or(|old| at < old) {
                st.sync_deadline = Some(at);
                self.flusher_cond.notify_one();
            }
        }
        self.publish_ready(&mut st, published);
        Ok(end_lsn)
    }

    /// Queues a commit that a checkpoint has already made durable.
    pub(crate) fn push_durable(&self, meta: &Meta, map: usize, published: &Published) {
        let mut st = self.state.lock();
        let end_lsn = st.end;
        st.queue.push_back(Pending {
            txn: meta.txn,
            end_lsn,
            needs_sync: false,
            meta: *meta,
            map,
        });
        self.publish_ready(&mut st, published);
    }

    /// Publishes the longest run of queued states whose records are durable
    /// enough, and wakes the waiters.
    fn publish_ready(&self, st: &mut LogState, published: &Published) {
        let mut newest = None;
        while let Some(p) = st.queue.front() {
            if p.needs_sync && st.durable < p.end_lsn {
                break;
            }
            newest = st.queue.pop_front();
        }
        if let Some(p) = newest {
            published.store(&p.meta, p.map);
            st.published = p.txn;
            self.cond.notify_all();
        }
    }

    /// Waits until commit `txn` is published, leading an fsync if one is needed
    /// and none is running.
    pub(crate) fn wait_published(&self, txn: TxnId, published: &Published) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if st.published >= txn {
                return Ok(());
            }
            if st.poisoned {
                return Err(Error::Poisoned);
            }
            let front_needs_sync = st.queue.front().is_some_and(|p| p.needs_sync);
            if front_needs_sync && !st.flushing {
                // The writer building now will append within microseconds;
                // waiting a little for it lets one fsync cover it too.
                let until = Instant::now() + LEADER_WAIT;
                while self.writers_in_flight.load(Ordering::SeqCst) > 0
                    && !st.flushing
                    && !self.leader_cond.wait_until(&mut st, until).timed_out()
                {}
                if st.flushing || st.published >= txn {
                    continue;
                }
                st = self.lead_sync(st, published)?;
            } else {
                self.cond.wait(&mut st);
            }
        }
    }

    /// Makes everything written so far durable (for `Db::sync`).
    pub(crate) fn sync_all(&self, published: &Published) -> Result<()> {
        let end = self.state.lock().end;
        self.sync_through(end, published)
    }

    /// Makes the log durable at least through `target`: at once if it is,
    /// else by joining or leading an fsync.
    pub(crate) fn sync_through(&self, target: Lsn, published: &Published) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if st.poisoned {
                return Err(Error::Poisoned);
            }
            if st.durable >= target {
                return Ok(());
            }
            if st.flushing {
                self.cond.wait(&mut st);
            } else {
                st = self.lead_sync(st, published)?;
            }
        }
    }

    /// The leader's fsync: of everything written when it starts, outside the
    /// mutex so that other commits append (and queue for the next one) meanwhile.
    fn lead_sync<'a>(
        &'a self,
        mut st: MutexGuard<'a, LogState>,
        published: &Published,
    ) -> Result<MutexGuard<'a, LogState>> {
        st.flushing = true;
        // Any other would-be leader has nothing to wait for now.
        self.leader_cond.notify_all();
        let target = st.end;
        let file = st.active;
        let r = MutexGuard::unlocked(&mut st, || self.wal.sync(file));
        st.flushing = false;
        st.fsyncs += 1;
        st.led_fsyncs += 1;
        if let Err(e) = r {
            st.poisoned = true;
            self.cond.notify_all();
            return Err(e);
        }
        // A switch while unlocked synced the old file itself and moved
        // `durable` on; never move it back.
        st.durable = st.durable.max(target);
        if st.durable >= st.end {
            st.sync_deadline = None;
        } else if st.sync_deadline.is_some() {
            // The flusher may be waiting for this fsync to end.
            self.flusher_cond.notify_one();
        }
        self.publish_ready(&mut st, published);
        self.cond.notify_all();
        Ok(st)
    }

    /// Checkpoint step: syncs the active file (publishing what that makes
    /// durable), resets the other file (a new header starting after the
    /// marker to come, synced, so that a meta slot may name it; its old
    /// bytes are overwritten), then ends the active file with a switch
    /// marker (the log continues in the other file) and syncs it; the other
    /// file becomes active. Returns its start: what the checkpoint will
    /// cover.
    ///
    /// Why the marker: until the checkpoint's meta slot is durable, the
    /// newest slot names the file left behind, and commits acknowledged in
    /// the new file are found only by following the log into it. The marker
    /// tells recovery that the new file must be there: without it, a lost
    /// new file would look like a log that simply ended.
    pub(crate) fn switch(&self, published: &Published) -> Result<Lsn> {
        let mut st = self.state.lock();
        while st.flushing {
            self.cond.wait(&mut st);
        }
        if st.poisoned {
            return Err(Error::Poisoned);
        }
        let fail = |st: &mut LogState, e: Error| {
            st.poisoned = true;
            self.cond.notify_all();
            e
        };
        // Every record so far durable first: the other file's header, once
        // durable, then starts exactly one marker past a durable log, which
        // is what recovery takes for a switch that did not finish.
        if st.durable < st.end {
            st.fsyncs += 1;
            if let Err(e) = self.wal.sync(st.active) {
                return Err(fail(&mut st, e));
            }
            st.durable = st.end;
            st.sync_deadline = None;
            self.publish_ready(&mut st, published);
        }
        if st.base == st.end {
            // The active file holds no records: switching would only give
            // both files the same base. Its header is durable already.
            return Ok(st.end);
        }
        // The other file's header first: a durable marker then always has
        // a durable file to point at. A crash between the two leaves a
        // header starting one marker past the log's end and no record
        // after it, which recovery knows for a switch that did not finish.
        let other = 1 - st.active;
        let next = st.end + SWITCH_MARKER_BYTES;
        let reset = self
            .wal
            .reset(other, next)
            .and_then(|()| self.wal.sync(other));
        if let Err(e) = reset {
            return Err(fail(&mut st, e));
        }
        let mut marker = OpLog::switch_marker();
        let record = marker.encode(st.end, 0, st.durable, self.wal.tag());
        let offset = offset_of(st.end, st.base);
        let ended = self
            .wal
            .write_at(st.active, record, offset)
            .and_then(|()| self.wal.sync(st.active));
        if let Err(e) = ended {
            return Err(fail(&mut st, e));
        }
        st.fsyncs += 2;
        st.bytes_written += SWITCH_MARKER_BYTES;
        st.end = next;
        st.durable = next;
        st.sync_deadline = None;
        self.publish_ready(&mut st, published);
        st.active = other;
        st.base = next;
        Ok(next)
    }

    /// The active file, its base LSN, and the LSN just past the last record.
    pub(crate) fn position(&self) -> (usize, Lsn, Lsn) {
        let st = self.state.lock();
        (st.active, st.base, st.end)
    }

    /// At open, after a clean close or a loss the user accepted: the log
    /// starts afresh at its end in file 0 (synced), nothing of the old
    /// files readable.
    pub(crate) fn start_afresh(&self) -> Result<()> {
        let mut st = self.state.lock();
        self.wal.start_afresh(st.end)?;
        st.active = 0;
        st.base = st.end;
        Ok(())
    }

    /// A checkpoint covering `lsn` is durable: the inactive file's records are
    /// no longer needed (the file is reused, not shrunk, at the next switch).
    pub(crate) fn checkpointed(&self, lsn: Lsn) {
        let mut st = self.state.lock();
        st.checkpoint_lsn = st.checkpoint_lsn.max(lsn);
    }

    /// The flusher thread's loop: fsyncs `Group` records by their deadline.
    pub(crate) fn run_flusher(&self, published: &Published) {
        let mut st = self.state.lock();
        loop {
            if st.stopping || st.poisoned {
                return;
            }
            match st.sync_deadline {
                None => self.flusher_cond.wait(&mut st),
                Some(d) if Instant::now() < d => {
                    self.flusher_cond.wait_until(&mut st, d);
                }
                Some(_) if st.flushing => self.flusher_cond.wait(&mut st),
                Some(_) => match self.lead_sync(st, published) {
                    Ok(g) => st = g,
                    Err(_) => return,
                },
            }
        }
    }

    /// Ends the flusher thread.
    pub(crate) fn stop(&self) {
        self.state.lock().stopping = true;
        self.cond.notify_all();
        self.flusher_cond.notify_all();
    }
}
