//! The state machine: openraft's `RaftStateMachine` over the trees
//! `sm-data` (the keyspace) and `sm-meta` (last applied, last membership).
//!
//! A batch of entries is applied in one transaction that also records the
//! last applied log id and the last membership among them, without an
//! fsync of its own: after a crash the state machine is exactly the state
//! after some batch, with the log id that says which, and the log holds
//! the entries after it (see the crate docs). So it needs no snapshot to
//! recover, and a snapshot is only what is sent to a follower that is
//! behind the leader's purged log (see `snapshot`).

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, LogId, OptionalSend, Snapshot, SnapshotMeta, StorageIOError, StoredMembership,
};

use crate::command::{self, Limits};
use crate::error::{OrStorage, StorageResult};
use crate::layout::{APPLIED_KEY, DATA_TREE, MEMBERSHIP_KEY, SM_META_TREE, encode, read_value};
use crate::snapshot::{self, SnapshotBuilder};
use crate::snapshot_file;
use crate::store::{Shared, blocking, lock};
use crate::types::{Entry, NodeId, Response, TypeConfig};

/// The key-value state machine of a node: openraft's [`RaftStateMachine`].
/// Cloning it is cheap and gives a handle to the same state machine, to
/// read it beside the one given to `Raft::new`.
#[derive(Clone)]
pub struct StateMachineStore {
    shared: Arc<Shared>,
}

impl StateMachineStore {
    pub(crate) fn new(shared: Arc<Shared>) -> StateMachineStore {
        StateMachineStore { shared }
    }

    /// The value of `key` in the state machine as applied so far (a read on
    /// this node's state: linearizable only after `Raft::ensure_linearizable`).
    pub fn get(&self, key: &[u8]) -> oakmap::Result<Option<Vec<u8>>> {
        self.shared.db.get(DATA_TREE, key)
    }

    /// How many snapshots received from a leader this state machine has
    /// installed since its directory was opened (by [`crate::open`]): a
    /// node that came back far behind its leader shows here that it
    /// caught up from a snapshot rather than from the log.
    pub fn snapshots_installed(&self) -> u64 {
        self.shared.snapshots_installed.load(Ordering::Relaxed)
    }

    /// The database under both stores, for reads the state machine has no
    /// method for: snapshots of the keyspace ([`DATA_TREE`]), statistics,
    /// a check. Write to it only through Raft: a write outside the log
    /// makes this replica differ from the others.
    pub fn db(&self) -> &oakmap::Db {
        &self.shared.db
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> StorageResult<AppliedState> {
        read_applied(&self.shared.db.begin_read()).or_storage(StorageIOError::read_state_machine)
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Response>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let shared = self.shared.clone();
        blocking(StorageIOError::write_state_machine, move || {
            apply_batch(&shared.db, &entries)
        })
        .await
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder::new(self.shared.clone())
    }

    /// Also notes that a snapshot is on its way, so that the purge that
    /// comes with it waits for its installation (see `store::Receiving`).
    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        lock(&self.shared.receiving).started = true;
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let (shared, meta) = (self.shared.clone(), meta.clone());
        let bytes = snapshot.into_inner();
        blocking(StorageIOError::write_state_machine, move || {
            snapshot::install(&shared, &meta, bytes)
        })
        .await
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let dir = self.shared.dir.clone();
        let stored = blocking(
            |e| StorageIOError::read_snapshot(None, e),
            move || snapshot_file::load(&dir),
        )
        .await?;
        Ok(stored.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

/// The last applied log id and the last membership applied: what
/// `applied_state` returns.
pub(crate) type AppliedState = (
    Option<LogId<NodeId>>,
    StoredMembership<NodeId, openraft::BasicNode>,
);

/// The last applied log id and the last membership applied, as of
/// snapshot `rx` (of this database, or of a received snapshot).
pub(crate) fn read_applied(rx: &oakmap::ReadTxn<'_>) -> oakmap::Result<AppliedState> {
    let applied = read_value(rx, SM_META_TREE, APPLIED_KEY)?;
    let membership = read_value(rx, SM_META_TREE, MEMBERSHIP_KEY)?;
    Ok((applied, membership.unwrap_or_default()))
}

/// Applies `entries` in one transaction, with the last applied log id and
/// the last membership among them, and returns a response for each. It
/// does not wait for an fsync: the log holds the entries durably, and
/// oakmap's next durable commit covers this one (see the crate docs).
fn apply_batch(db: &oakmap::Db, entries: &[Entry]) -> StorageResult<Vec<Response>> {
    let Some(last) = entries.last() else {
        return Ok(Vec::new());
    };
    let write = StorageIOError::write_state_machine;
    let limits = Limits::of(db);
    let mut tx = db.begin_write().or_storage(write)?;
    let [data, meta] = tx.open_trees([DATA_TREE, SM_META_TREE]).or_storage(write)?;
    let mut responses = Vec::with_capacity(entries.len());
    let mut membership = None;
    for entry in entries {
        let response = match &entry.payload {
            EntryPayload::Blank => Response::Ok,
            EntryPayload::Normal(request) => command::apply(&mut tx, data, request, limits)
                .or_storage(|e| StorageIOError::apply(entry.log_id, e))?,
            EntryPayload::Membership(m) => {
                membership = Some(StoredMembership::new(Some(entry.log_id), m.clone()));
                Response::Ok
            }
        };
        responses.push(response);
    }
    let applied = encode(&last.log_id).or_storage(write)?;
    let mut meta = tx.tree(meta).or_storage(write)?;
    meta.insert(APPLIED_KEY, &applied).or_storage(write)?;
    if let Some(membership) = membership {
        let bytes = encode(&membership).or_storage(write)?;
        meta.insert(MEMBERSHIP_KEY, &bytes).or_storage(write)?;
    }
    tx.set_durability(oakmap::Durability::None);
    tx.commit().or_storage(write)?;
    Ok(responses)
}
