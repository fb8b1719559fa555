//! Opening a node's directory, the state both stores share, and the one
//! way this crate runs a blocking oakmap call from async code.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use openraft::{AnyError, LogId, StorageIOError};

use crate::error::{OrStorage, StorageResult};
use crate::log_store::LogStore;
use crate::snapshot_file;
use crate::state_machine::StateMachineStore;
use crate::types::NodeId;

/// The database's file in the node's directory (its log files beside it).
pub(crate) const DB_FILE: &str = "raft.oak";

/// What the log store and the state machine share: the one database, and
/// the directory that holds it and the current snapshot.
pub(crate) struct Shared {
    pub(crate) db: oakmap::Db,
    pub(crate) dir: PathBuf,
    /// The last log id of the snapshot this process last stored in the
    /// snapshot file, held while one is stored: a snapshot build and an
    /// installation can finish at once (openraft builds in a task of its
    /// own), and the older of the two must not replace the newer.
    pub(crate) stored_snapshot: Mutex<Option<Option<LogId<NodeId>>>>,
    /// Snapshots received from a leader and installed since the directory
    /// was opened: what a node reports to show how it caught up.
    pub(crate) snapshots_installed: AtomicU64,
}

/// Opens (creating it if missing) the node directory `dir` with oakmap's
/// default options, and returns its log store and state machine, which
/// share one database, `dir/raft.oak`.
///
/// ```no_run
/// let (log_store, state_machine) = oakmap_raft::open(std::path::Path::new("node-1"))?;
/// // Raft::new(1, config, network, log_store, state_machine).await
/// # Ok::<(), oakmap::Error>(())
/// ```
pub fn open(dir: &Path) -> oakmap::Result<(LogStore, StateMachineStore)> {
    open_with(dir, oakmap::Options::new())
}

/// [`open`] with the database opened with `options` (a cache size, a page
/// size for a new directory; see [`crate::Request`] on page sizes). Every
/// write sets its own durability, whatever `options` says: see the crate
/// documentation.
///
/// It removes what an interrupted snapshot left (a temporary snapshot
/// file, a half-installed received snapshot): those were never in use.
/// Another process that has the directory open makes it fail with
/// [`oakmap::Error::Locked`].
pub fn open_with(
    dir: &Path,
    options: oakmap::Options,
) -> oakmap::Result<(LogStore, StateMachineStore)> {
    std::fs::create_dir_all(dir).map_err(|source| oakmap::Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    // The database first: its lock says that no other process uses the
    // directory, so what the clean-up finds is left over.
    let db = options.open(dir.join(DB_FILE))?;
    snapshot_file::remove_leftovers(dir)?;
    let shared = Arc::new(Shared {
        db,
        dir: dir.to_path_buf(),
        stored_snapshot: Mutex::new(None),
        snapshots_installed: AtomicU64::new(0),
    });
    Ok((
        LogStore::new(shared.clone()),
        StateMachineStore::new(shared),
    ))
}

/// Runs `f` on tokio's blocking pool and waits for it: oakmap's calls
/// block (a durable commit waits for an fsync, reads may fault pages in),
/// and must not hold a runtime worker meanwhile. A panic in `f` (a bug)
/// comes back as an error built by `what`, so that openraft stops the node
/// rather than the task dying silently.
pub(crate) async fn blocking<T: Send + 'static>(
    what: impl FnOnce(AnyError) -> StorageIOError<NodeId> + Send,
    f: impl FnOnce() -> StorageResult<T> + Send + 'static,
) -> StorageResult<T> {
    tokio::task::spawn_blocking(f).await.or_storage(what)?
}
