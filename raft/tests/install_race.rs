//! A follower receiving a snapshot is asked to purge its log up to the
//! snapshot's last log id at once, without openraft waiting for the
//! installation. Done first and alone, the purge could outlive a crash that
//! the installation does not, leaving a log purged past the state machine
//! with the entries between gone, and a node that cannot start. The purge
//! therefore waits for the installation and commits with it.

mod common;

use std::io::Cursor;

use common::{assert_clean, blank, contents, log_id, normal, open, set};
use openraft::RaftLogReader;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine, StorageHelper};

/// Eleven entries in the log, 0 to 10, the first three applied, as on a
/// follower that fell behind.
async fn lagging_follower(dir: &std::path::Path) {
    let (mut log, mut sm) = open(dir);
    // openraft's logs begin at index 0.
    let mut entries = vec![blank(0, 0)];
    entries.extend((1..=10).map(|i| normal(1, i, set(&format!("k{i}"), "follower"))));
    log.blocking_append(entries.clone()).await.expect("append");
    log.save_committed(Some(log_id(1, 10)))
        .await
        .expect("committed");
    sm.apply(entries[..3].to_vec()).await.expect("apply ..=3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_during_a_transfer_survives_a_crash_before_the_installation() {
    let dir = tempfile::tempdir().expect("tempdir");
    lagging_follower(dir.path()).await;
    {
        let (mut log, mut sm) = open(dir.path());
        sm.begin_receiving_snapshot().await.expect("begin");
        log.purge(log_id(1, 8)).await.expect("purge ..=8");
        // The process dies here: the installation never happens.
    }
    let (mut log, mut sm) = open(dir.path());
    StorageHelper::new(&mut log, &mut sm)
        .get_initial_state()
        .await
        .expect("the node starts again");
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, None);
    assert_eq!(
        log.try_get_log_entries(0..11).await.expect("read").len(),
        11,
        "the log is whole"
    );
    // The initial state re-applied the committed entries from the log.
    let (applied, _) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, Some(log_id(1, 10)));
    assert_clean(&sm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_during_a_transfer_commits_with_the_installation() {
    let (leader_dir, dir) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let snapshot = {
        let (_log, mut leader) = open(leader_dir.path());
        let entries: Vec<_> = std::iter::once(blank(0, 0))
            .chain((1..=8).map(|i| normal(1, i, set(&format!("k{i}"), "leader"))))
            .collect();
        leader.apply(entries).await.expect("apply");
        common::build_snapshot(&mut leader).await
    };
    lagging_follower(dir.path()).await;
    let (mut log, mut sm) = open(dir.path());
    sm.begin_receiving_snapshot().await.expect("begin");
    log.purge(log_id(1, 8)).await.expect("purge ..=8");
    assert_eq!(
        log.try_get_log_entries(0..11).await.expect("read").len(),
        11,
        "nothing is purged before the installation"
    );
    let data = Box::new(Cursor::new(snapshot.snapshot.into_inner()));
    sm.install_snapshot(&snapshot.meta, data)
        .await
        .expect("install");
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 8)));
    let left = log.try_get_log_entries(0..11).await.expect("read");
    assert_eq!(
        left.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        [9, 10]
    );
    let (applied, _) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, Some(log_id(1, 8)));
    assert_eq!(
        contents(&sm).get(&b"k8"[..]).map(Vec::as_slice),
        Some(&b"leader"[..])
    );
    // A later purge within the applied state is done at once, as always.
    log.purge(log_id(1, 9)).await.expect("purge ..=9");
    assert_eq!(log.try_get_log_entries(0..11).await.expect("read").len(), 1);
    assert_clean(&sm);
}
