//! Snapshots: built as oakmap's online backup of one read snapshot, and
//! installed by copying a received one's state machine into the live
//! database in one transaction.
//!
//! A snapshot's data is an oakmap database: the dense, closed copy of the
//! state machine's trees (`sm-data`, `sm-meta`) that
//! [`oakmap::ReadTxn::backup_trees_to_writer`] streams of one read
//! snapshot; the log and its metadata stay behind. The last applied log id
//! and the membership in its meta are read from that same read snapshot,
//! so the meta describes exactly the data, however many batches are
//! applied while the copy runs (writers are never blocked by it).

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::{
    LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageIOError, StoredMembership,
};

use crate::error::{OrStorage, StorageResult, invalid};
use crate::layout::{APPLIED_KEY, DATA_TREE, MEMBERSHIP_KEY, SM_META_TREE, encode};
use crate::log_store::purge_in;
use crate::snapshot_file::{self, RECEIVING_DIR};
use crate::state_machine::read_applied;
use crate::store::{Receiving, Shared, blocking, lock};
use crate::types::{NodeId, TypeConfig};

type Meta = SnapshotMeta<NodeId, openraft::BasicNode>;

/// The cache of the database a received snapshot is opened as: it is only
/// read, once, in key order.
const RECEIVED_CACHE_BYTES: usize = 4 << 20;

/// Builds a snapshot of the state machine: openraft's [`RaftSnapshotBuilder`].
pub struct SnapshotBuilder {
    shared: Arc<Shared>,
}

impl SnapshotBuilder {
    pub(crate) fn new(shared: Arc<Shared>) -> SnapshotBuilder {
        SnapshotBuilder { shared }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    /// Copies one read snapshot of the database (see the module
    /// documentation) into memory, stores it as the current snapshot and
    /// returns it.
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let shared = self.shared.clone();
        blocking(
            |e| StorageIOError::write_snapshot(None, e),
            move || build(&shared),
        )
        .await
    }
}

fn build(shared: &Shared) -> StorageResult<Snapshot<TypeConfig>> {
    let rx = shared.db.begin_read();
    let (applied, membership) = read_applied(&rx).or_storage(StorageIOError::read_state_machine)?;
    let mut data = Vec::new();
    rx.backup_trees_to_writer(&[DATA_TREE, SM_META_TREE], &mut data)
        .or_storage(|e| StorageIOError::write_snapshot(None, e))?;
    let meta = Meta {
        snapshot_id: snapshot_id(applied, rx.id()),
        last_log_id: applied,
        last_membership: membership,
    };
    drop(rx); // the copy is made: let the pages it held be reused
    // The applies the copy holds were committed without an fsync of their
    // own; the snapshot file must not name a state a power cut could take
    // from the database (openraft requires the snapshot's last log id to be
    // at most the committed one it reads back).
    shared
        .db
        .sync()
        .or_storage(|e| StorageIOError::write_snapshot(None, e))?;
    store_if_newest(shared, &meta, &data)?;
    Ok(Snapshot {
        meta,
        snapshot: Box::new(Cursor::new(data)),
    })
}

/// A name of its own for each snapshot built: openraft tells the chunks of
/// one transfer from another's by it, and two builds of one state are not
/// byte for byte the same (each backup has a `file_id` of its own).
fn snapshot_id(applied: Option<LogId<NodeId>>, txn: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    match applied {
        Some(id) => format!(
            "{}-{}-{}-txn{txn}-{nanos}",
            id.leader_id.term, id.leader_id.node_id, id.index
        ),
        None => format!("none-txn{txn}-{nanos}"),
    }
}

/// Stores the snapshot as the current one unless one stored since this
/// process opened the directory is newer (a build that started before an
/// installation and finished after it).
fn store_if_newest(shared: &Shared, meta: &Meta, data: &[u8]) -> StorageResult<()> {
    let mut stored = shared
        .stored_snapshot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(newest) = *stored
        && newest > meta.last_log_id
    {
        return Ok(());
    }
    snapshot_file::store(&shared.dir, meta, data)?;
    *stored = Some(meta.last_log_id);
    Ok(())
}

/// Installs the snapshot `data` (described by `meta`): replaces the state
/// machine with the one it holds, in one durable transaction, then stores
/// it as the current snapshot.
///
/// The bytes are written to a temporary directory and opened as a
/// database (which validates them: every page read is checked), its
/// last applied log id and membership are checked against `meta`, and its
/// keyspace is copied in. A crash before the transaction commits leaves
/// the old state machine whole; after it, the new one, with its log id.
pub(crate) fn install(shared: &Shared, meta: &Meta, data: Vec<u8>) -> StorageResult<()> {
    let what = |e| StorageIOError::read_snapshot(Some(meta.signature()), e);
    let dir = shared.dir.join(RECEIVING_DIR);
    let path = dir.join("snapshot.oak");
    // Left by an installation that failed in this process (open removes
    // one left by a crash).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)
        .and_then(|()| std::fs::write(&path, &data))
        .or_storage(what)?;
    let received = oakmap::Options::new()
        .create(false)
        .cache_bytes(RECEIVED_CACHE_BYTES)
        .open(&path)
        .or_storage(what)?;
    let mut receiving = lock(&shared.receiving);
    let copied = replace_state_machine(shared, &received, meta, receiving.purge);
    if copied.is_ok() {
        *receiving = Receiving::default();
    }
    drop(receiving);
    let closed = received.close();
    let removed = std::fs::remove_dir_all(&dir);
    copied?;
    closed.or_storage(what)?;
    removed.or_storage(what)?;
    shared.snapshots_installed.fetch_add(1, Ordering::Relaxed);
    store_if_newest(shared, meta, &data)
}

/// Checks that `received` holds the state `meta` describes, and makes its
/// state machine the live database's, in one transaction, with the purge
/// that waited for it (`purge`, see `store::Receiving`).
fn replace_state_machine(
    shared: &Shared,
    received: &oakmap::Db,
    meta: &Meta,
    purge: Option<LogId<NodeId>>,
) -> StorageResult<()> {
    let read = |e| StorageIOError::read_snapshot(Some(meta.signature()), e);
    let write = StorageIOError::write_state_machine;
    let rx = received.begin_read();
    let (applied, membership) = read_applied(&rx).or_storage(read)?;
    if applied != meta.last_log_id || membership != meta.last_membership {
        return Err(invalid(
            read,
            format!(
                "the snapshot holds the state after {applied:?} with membership {membership:?}, \
                 its meta says {:?} with {:?}",
                meta.last_log_id, meta.last_membership
            ),
        ));
    }
    let mut tx = shared.db.begin_write().or_storage(write)?;
    tx.delete_tree(DATA_TREE).or_storage(write)?;
    tx.delete_tree(SM_META_TREE).or_storage(write)?;
    let [data, sm_meta] = tx.open_trees([DATA_TREE, SM_META_TREE]).or_storage(write)?;
    if let Some(source) = rx.tree(DATA_TREE).or_storage(read)? {
        let mut target = tx.tree(data).or_storage(write)?;
        for item in source.iter().or_storage(read)? {
            let (key, value) = item.or_storage(read)?;
            target.insert(key, value).or_storage(write)?;
        }
    }
    write_applied(&mut tx, sm_meta, applied, &membership)?;
    // Never past what the state machine now holds (keeping entries is
    // always safe; the next purge takes them).
    if let Some(upto) = purge.filter(|&p| Some(p) <= applied) {
        purge_in(&mut tx, upto)?;
    }
    tx.set_durability(oakmap::Durability::Immediate);
    tx.commit().or_storage(write)
}

/// Records `applied` and `membership` in the (emptied) state machine
/// metadata tree `sm_meta`, as applying the entries up to `applied` would
/// have.
fn write_applied(
    tx: &mut oakmap::WriteTxn<'_>,
    sm_meta: oakmap::TreeId,
    applied: Option<LogId<NodeId>>,
    membership: &StoredMembership<NodeId, openraft::BasicNode>,
) -> StorageResult<()> {
    let write = StorageIOError::write_state_machine;
    let mut t = tx.tree(sm_meta).or_storage(write)?;
    if let Some(applied) = applied {
        t.insert(APPLIED_KEY, &encode(&applied).or_storage(write)?)
            .or_storage(write)?;
    }
    if *membership != StoredMembership::default() {
        t.insert(MEMBERSHIP_KEY, &encode(membership).or_storage(write)?)
            .or_storage(write)?;
    }
    Ok(())
}
