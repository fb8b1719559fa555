//! The log store: openraft's `RaftLogStorage` and `RaftLogReader` over the
//! trees `raft-log` (entries by index) and `raft-meta` (vote, committed,
//! last purged).
//!
//! Writes run on the blocking pool, one oakmap transaction each, and return
//! once it is durable (`Durability::Immediate`), except the committed log
//! id's (see [`LogStore::save_committed`]). openraft awaits each before it
//! issues the next, so they reach the database in the order it asked for
//! them, as it requires. Reads take a snapshot and run in the calling task,
//! as the server's reads do: they do not wait for the writer or an fsync.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorVerb, LogId, OptionalSend, RaftLogReader, StorageIOError, Vote};

use crate::error::{OrStorage, StorageResult, committed, delete_logs, invalid};
use crate::layout::{
    COMMITTED_KEY, LOG_TREE, META_TREE, PURGED_KEY, VOTE_KEY, decode_at, encode, log_index,
    log_key, read_value,
};
use crate::state_machine::read_applied;
use crate::store::{Shared, blocking, lock};
use crate::types::{Entry, NodeId, TypeConfig};

/// Encoded entries one [`RaftLogReader::limited_get_log_entries`] returns
/// at most (past the first entry, which it always returns): bounds the
/// memory and the message of one replication request.
const READ_BYTES_MAX: usize = 16 << 20;

/// The Raft log of a node, with its vote: openraft's [`RaftLogStorage`].
/// Cloning it is cheap and gives a handle to the same log (it is its own
/// log reader).
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

impl LogStore {
    pub(crate) fn new(shared: Arc<Shared>) -> LogStore {
        LogStore { shared }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry>> {
        read_entries(&self.shared.db, &range, usize::MAX)
    }

    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> StorageResult<Vec<Entry>> {
        read_entries(&self.shared.db, &(start..end), READ_BYTES_MAX)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let rx = self.shared.db.begin_read();
        let purged: Option<LogId<NodeId>> =
            read_value(&rx, META_TREE, PURGED_KEY).or_storage(StorageIOError::read_logs)?;
        let last = match rx.tree(LOG_TREE).or_storage(StorageIOError::read_logs)? {
            Some(log) => match log.last().or_storage(StorageIOError::read_logs)? {
                Some((key, value)) => Some(decode_entry(key, value)?.log_id),
                None => None,
            },
            None => None,
        };
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last.or(purged),
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        let bytes = encode(vote).or_storage(StorageIOError::write_vote)?;
        let shared = self.shared.clone();
        blocking(StorageIOError::write_vote, move || {
            write_meta(&shared.db, VOTE_KEY, &bytes, oakmap::Durability::Immediate)
                .or_storage(StorageIOError::write_vote)
        })
        .await
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        read_value(&self.shared.db.begin_read(), META_TREE, VOTE_KEY)
            .or_storage(StorageIOError::read_vote)
    }

    /// Stores the committed log id without waiting for an fsync
    /// (`Durability::None`): it is advisory (on a restart openraft re-applies
    /// the log up to it, and learns the rest from the leader), and a crash
    /// keeps a prefix of the commits, so a lost one is only older, never
    /// ahead of the log; the next durable commit (an append, a vote) makes
    /// it durable too. This saves an fsync each time the commit index moves.
    async fn save_committed(&mut self, log_id: Option<LogId<NodeId>>) -> StorageResult<()> {
        let bytes = encode(&log_id).or_storage(committed(ErrorVerb::Write))?;
        let shared = self.shared.clone();
        blocking(committed(ErrorVerb::Write), move || {
            write_meta(&shared.db, COMMITTED_KEY, &bytes, oakmap::Durability::None)
                .or_storage(committed(ErrorVerb::Write))
        })
        .await
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        let stored: Option<Option<LogId<NodeId>>> =
            read_value(&self.shared.db.begin_read(), META_TREE, COMMITTED_KEY)
                .or_storage(committed(ErrorVerb::Read))?;
        Ok(stored.flatten())
    }

    /// Writes the entries in one transaction and calls `callback` once it
    /// is durable; returns then too (the entries are readable only once
    /// they are durable: oakmap publishes a commit to new snapshots after
    /// its fsync).
    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let shared = self.shared.clone();
        let written = blocking(StorageIOError::write_logs, move || {
            append_entries(&shared.db, &entries)
        })
        .await;
        match &written {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        written
    }

    async fn truncate(&mut self, since: LogId<NodeId>) -> StorageResult<()> {
        let shared = self.shared.clone();
        blocking(delete_logs, move || {
            let mut tx = shared.db.begin_write().or_storage(delete_logs)?;
            remove_entries(&mut tx, (Bound::Included(since.index), Bound::Unbounded))?;
            tx.set_durability(oakmap::Durability::Immediate);
            tx.commit().or_storage(delete_logs)
        })
        .await
    }

    /// Removes the entries up to `upto` and records it as the last purged
    /// log id, in one transaction: a crash leaves both or neither. While a
    /// snapshot is being received, a purge past the applied log id is left
    /// to that snapshot's installation (see `store::Receiving`).
    async fn purge(&mut self, upto: LogId<NodeId>) -> StorageResult<()> {
        let shared = self.shared.clone();
        blocking(delete_logs, move || {
            let mut receiving = lock(&shared.receiving);
            if receiving.started {
                let (applied, _) = read_applied(&shared.db.begin_read()).or_storage(delete_logs)?;
                if applied < Some(upto) {
                    receiving.purge = receiving.purge.max(Some(upto));
                    return Ok(());
                }
            }
            drop(receiving);
            let mut tx = shared.db.begin_write().or_storage(delete_logs)?;
            purge_in(&mut tx, upto)?;
            tx.set_durability(oakmap::Durability::Immediate);
            tx.commit().or_storage(delete_logs)
        })
        .await
    }
}

/// The entries with indexes in `range`, in order, stopping once more than
/// `bytes_max` encoded bytes were read (after at least one entry).
fn read_entries(
    db: &oakmap::Db,
    range: &impl RangeBounds<u64>,
    bytes_max: usize,
) -> StorageResult<Vec<Entry>> {
    let Some(keys) = key_range(range) else {
        return Ok(Vec::new());
    };
    let rx = db.begin_read();
    let Some(log) = rx.tree(LOG_TREE).or_storage(StorageIOError::read_logs)? else {
        return Ok(Vec::new());
    };
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    for item in log.range(keys).or_storage(StorageIOError::read_logs)? {
        let (key, value) = item.or_storage(StorageIOError::read_logs)?;
        if !entries.is_empty() && bytes >= bytes_max {
            break;
        }
        bytes = bytes.saturating_add(value.len());
        entries.push(decode_entry(key, value)?);
    }
    Ok(entries)
}

/// A range of log keys.
type LogKeys = (Bound<[u8; 8]>, Bound<[u8; 8]>);

/// The log keys of the indexes in `range`, as a half-open key range; `None`
/// if the range holds no index (empty, or reversed).
fn key_range(range: &impl RangeBounds<u64>) -> Option<LogKeys> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    // The first index past the range; `None`: none is (the range runs to u64::MAX).
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => None,
    };
    match end {
        Some(end) if end <= start => None,
        Some(end) => Some((
            Bound::Included(log_key(start)),
            Bound::Excluded(log_key(end)),
        )),
        None => Some((Bound::Included(log_key(start)), Bound::Unbounded)),
    }
}

/// Decodes the entry stored under log key `key`, and checks that it is the
/// entry of that index.
fn decode_entry(key: &[u8], value: &[u8]) -> StorageResult<Entry> {
    let index = log_index(key).or_storage(StorageIOError::read_logs)?;
    let entry: Entry = decode_at(LOG_TREE, key, value)
        .or_storage(|e| StorageIOError::read_log_at_index(index, e))?;
    if entry.log_id.index != index {
        return Err(invalid(
            |e| StorageIOError::read_log_at_index(index, e),
            format!("the entry stored under index {index} is {}", entry.log_id),
        ));
    }
    Ok(entry)
}

/// Writes `entries` under their indexes in one durable transaction.
fn append_entries(db: &oakmap::Db, entries: &[Entry]) -> StorageResult<()> {
    if entries.is_empty() {
        return Ok(()); // every earlier write was durable when it returned
    }
    let mut tx = db.begin_write().or_storage(StorageIOError::write_logs)?;
    let mut log = tx
        .open_tree(LOG_TREE)
        .or_storage(StorageIOError::write_logs)?;
    for entry in entries {
        let write = |e| StorageIOError::write_log_entry(entry.log_id, e);
        let bytes = encode(entry).or_storage(write)?;
        log.insert(&log_key(entry.log_id.index), &bytes)
            .or_storage(write)?;
    }
    tx.set_durability(oakmap::Durability::Immediate);
    tx.commit().or_storage(StorageIOError::write_logs)
}

/// Removes the entries up to `upto` and records it as the last purged log
/// id, in `tx`.
pub(crate) fn purge_in(tx: &mut oakmap::WriteTxn<'_>, upto: LogId<NodeId>) -> StorageResult<()> {
    let bytes = encode(&upto).or_storage(delete_logs)?;
    remove_entries(tx, (Bound::Unbounded, Bound::Included(upto.index)))?;
    let mut meta = tx.open_tree(META_TREE).or_storage(delete_logs)?;
    meta.insert(PURGED_KEY, &bytes).or_storage(delete_logs)?;
    Ok(())
}

/// Removes the entries with indexes in `range` (in the transaction; a log
/// tree that does not exist has none).
fn remove_entries(
    tx: &mut oakmap::WriteTxn<'_>,
    range: (Bound<u64>, Bound<u64>),
) -> StorageResult<()> {
    let Some(keys) = key_range(&range) else {
        return Ok(());
    };
    let Some(mut log) = tx.tree_mut(LOG_TREE).or_storage(delete_logs)? else {
        return Ok(());
    };
    // Collected first: the tree cannot be read and changed at once. oakmap
    // has no range removal, so each key is one removal (8 bytes each here).
    let mut doomed = Vec::new();
    for item in log.range(keys).or_storage(delete_logs)? {
        let (key, _) = item.or_storage(delete_logs)?;
        doomed.push(key.to_vec());
    }
    for key in &doomed {
        log.remove(key).or_storage(delete_logs)?;
    }
    Ok(())
}

/// Writes `bytes` under `key` in `raft-meta`, in a transaction of its own.
fn write_meta(
    db: &oakmap::Db,
    key: &[u8],
    bytes: &[u8],
    durability: oakmap::Durability,
) -> oakmap::Result<()> {
    let mut tx = db.begin_write()?;
    tx.open_tree(META_TREE)?.insert(key, bytes)?;
    tx.set_durability(durability);
    tx.commit()
}
