//! openraft's own storage test suite (`openraft::testing::Suite`), as it
//! is, over a fresh node directory for each of its tests.

use std::sync::atomic::{AtomicUsize, Ordering};

use oakmap_raft::{LogStore, StateMachineStore, StorageError, TypeConfig};
use openraft::StorageIOError;
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

/// Node directories the builder opened: one per test of the suite, two for
/// its snapshot transfer (so one more than it has tests).
static OPENED: AtomicUsize = AtomicUsize::new(0);

/// Opens a new node directory in a temporary directory, which the suite
/// keeps (as the guard) until the test is done with the stores.
struct FreshDirectory;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for FreshDirectory {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        OPENED.fetch_add(1, Ordering::Relaxed);
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let options = oakmap::Options::new().cache_bytes(4 << 20);
        let (log_store, state_machine) =
            oakmap_raft::open_with(dir.path(), options).map_err(|e| StorageIOError::write(&e))?;
        Ok((dir, log_store, state_machine))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(FreshDirectory).expect("every test of the suite passes");
    // openraft 0.9.25's suite has 35 tests: 34 on one store each, and the
    // snapshot transfer on two. Fewer would mean a test was skipped.
    let opened = OPENED.load(Ordering::Relaxed);
    eprintln!("the suite opened {opened} node directories");
    assert!(
        opened >= 36,
        "the suite opened only {opened} node directories"
    );
}
