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
    /// A snapshot being received, and the purge openraft asked for while it
    /// is (see [`Receiving`]).
    pub(crate) receiving: Mutex<Receiving>,
}

/// The purge that must wait for a snapshot's installation.
///
/// A follower that receives a snapshot is asked to install it and, at once
/// and without waiting for the installation, to purge its log up to the
/// snapshot's last log id (openraft 0.9's `install_full_snapshot` queues the
/// one and issues the other). Committed first, the purge could be durable
/// while the installation is not: a crash (or a snapshot that fails to
/// install, which stops the node) would leave a log purged past what the
/// state machine holds, with the entries between gone, and the node could
/// never start again. So while a snapshot is being received, a purge past
/// the applied log id is only noted here, and the installation's own
/// transaction carries it out: the state machine and the purged log move
/// together or not at all. Lost in a crash, the log is whole and the old
/// state machine with it. openraft allows a purge to be done later
/// ("`purge()` does not have to do the purge at once").
#[derive(Debug, Default)]
pub(crate) struct Receiving {
    /// `begin_receiving_snapshot` was called and no installation has
    /// finished since.
    pub(crate) started: bool,
    /// The furthest purge asked for meanwhile, past the applied log id.
    pub(crate) purge: Option<LogId<NodeId>>,
}

/// Locks `m`, whose guarded state stays consistent even if a holder
/// panicked (each holder changes it in one assignment).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        receiving: Mutex::new(Receiving::default()),
    });
    Ok((
        LogStore::new(shared.clone()),
        StateMachineStore::new(shared),
    ))
}

/// Runs `f` on tokio's blocking pool and waits for it: oakmap's writes
/// block (a durable commit waits for an fsync) and must not hold a runtime
/// worker meanwhile. Reads run in the calling task: they take no lock and
/// wait for no fsync, at worst for pages to come in from the file. A panic in `f` (a bug)
/// comes back as an error built by `what`, so that openraft stops the node
/// rather than the task dying silently.
pub(crate) async fn blocking<T: Send + 'static>(
    what: impl FnOnce(AnyError) -> StorageIOError<NodeId> + Send,
    f: impl FnOnce() -> StorageResult<T> + Send + 'static,
) -> StorageResult<T> {
    tokio::task::spawn_blocking(f).await.or_storage(what)?
}
