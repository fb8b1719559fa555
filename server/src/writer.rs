//! The committing writer: every write from every connection goes through
//! it, and a reply to a write is sent only once its commit returned.
//!
//! A writer thread takes every write waiting at that moment (a batch),
//! applies them in order in one `WriteTxn`, commits once, and only then
//! answers each. So fifty clients that write at once share one commit and
//! one fsync, on top of the engine's own group commit.
//!
//! Two writer threads take turns so that one builds and appends the next
//! batch while the other waits for its fsync: the engine lets a new write
//! transaction begin once the previous one has appended its log record.
//! Batches begin their transactions in the order they were taken from the
//! queue (a ticket each), so writes apply in the order they arrived, and
//! every write a connection sent before another is applied before it. The
//! engine publishes states in commit order, so when a reply goes out every
//! earlier batch is visible to new snapshots too (read-your-writes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use oakmap::Db;
use parking_lot::{Condvar, Mutex};
use tokio::sync::{mpsc, oneshot};

use crate::command::{KeyLimits, Write, error};
use crate::keyspace;
use crate::resp::Reply;

/// A write waiting for the writer, with where its reply goes.
pub(crate) struct WriteRequest {
    pub(crate) db: usize,
    pub(crate) write: Write,
    pub(crate) reply: oneshot::Sender<Reply>,
}

/// Writes one batch may take: bounds the batch's transaction and the time
/// the first of its writers waits for the last.
const BATCH_WRITES_MAX: usize = 4096;

/// Writer threads. Two: one building while the other waits for its fsync.
const WRITER_THREADS: usize = 2;

/// Figures for `INFO`.
#[derive(Default)]
pub(crate) struct WriterStats {
    pub(crate) batches: AtomicU64,
    pub(crate) writes: AtomicU64,
}

/// Orders the batches' `begin_write` calls by their tickets.
#[derive(Default)]
struct Turns {
    next: Mutex<u64>,
    cond: Condvar,
}

impl Turns {
    fn wait_for(&self, ticket: u64) {
        let mut next = self.next.lock();
        while *next != ticket {
            self.cond.wait(&mut next);
        }
    }

    fn pass(&self) {
        *self.next.lock() += 1;
        self.cond.notify_all();
    }
}

/// Starts the writer threads; they end when every sender is dropped and
/// the queue is empty.
pub(crate) fn spawn(
    db: Arc<Db>,
    queue: mpsc::Receiver<WriteRequest>,
    limits: KeyLimits,
    stats: Arc<WriterStats>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let queue = Arc::new(Mutex::new((queue, 0u64)));
    let turns = Arc::new(Turns::default());
    (0..WRITER_THREADS)
        .map(|i| {
            let (db, queue, turns, stats) =
                (db.clone(), queue.clone(), turns.clone(), stats.clone());
            std::thread::Builder::new()
                .name(format!("oakmap-serve-writer-{i}"))
                .spawn(move || run(&db, &queue, &turns, limits, &stats))
        })
        .collect()
}

type Queue = Mutex<(mpsc::Receiver<WriteRequest>, u64)>;

fn run(db: &Db, queue: &Queue, turns: &Turns, limits: KeyLimits, stats: &WriterStats) {
    loop {
        let (batch, ticket) = {
            let mut q = queue.lock();
            let Some(first) = q.0.blocking_recv() else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < BATCH_WRITES_MAX {
                match q.0.try_recv() {
                    Ok(w) => batch.push(w),
                    Err(_) => break,
                }
            }
            let ticket = q.1;
            q.1 += 1;
            (batch, ticket)
        };
        turns.wait_for(ticket);
        let tx = db.begin_write();
        turns.pass();
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut tx = match tx {
            Ok(tx) => tx,
            Err(e) => {
                fail(batch, &e);
                continue;
            }
        };
        let mut replies = Vec::with_capacity(batch.len());
        let mut failed = None;
        let mut senders = Vec::with_capacity(batch.len());
        for w in batch {
            senders.push(w.reply);
            if failed.is_some() {
                continue;
            }
            match keyspace::apply(&mut tx, w.db, w.write, limits) {
                Ok(r) => replies.push(r),
                Err(e) => failed = Some(e),
            }
        }
        let outcome = match failed {
            Some(e) => {
                drop(tx);
                Err(e)
            }
            None => tx.commit(),
        };
        match outcome {
            Ok(()) => {
                for (s, r) in senders.into_iter().zip(replies) {
                    // A client that went away does not take its reply.
                    let _ = s.send(r);
                }
            }
            Err(e) => {
                let reply = engine_error(&e);
                for s in senders {
                    let _ = s.send(reply.clone());
                }
            }
        }
    }
}

fn fail(batch: Vec<WriteRequest>, e: &oakmap::Error) {
    let reply = engine_error(e);
    for w in batch {
        let _ = w.reply.send(reply.clone());
    }
}

/// The reply to writes whose batch the engine refused: nothing of the
/// batch was committed.
fn engine_error(e: &oakmap::Error) -> Reply {
    error(format!("ERR oakmap: write not committed: {e}"))
}
