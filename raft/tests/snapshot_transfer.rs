//! A snapshot built on one node and installed on another gives the second
//! node the first one's state machine, replacing what it had; a damaged or
//! mislabelled snapshot is refused with an error and changes nothing.

mod common;

use std::io::Cursor;

use common::{assert_clean, blank, contents, log_id, membership, normal, open, set};
use oakmap_raft::{Request, StateMachineStore};
use openraft::SnapshotMeta;
use openraft::storage::{RaftLogStorageExt, RaftStateMachine};

/// A leader's state machine with 2,000 keys (several pages of them), some
/// removed and changed again, and a membership.
async fn leader_state(sm: &mut StateMachineStore) {
    let mut entries = vec![blank(1, 1), membership(1, 2, &[1, 2, 3])];
    for i in 0..2_000u64 {
        let value = format!("value-{i}-{}", "x".repeat((i % 50) as usize));
        entries.push(normal(1, 3 + i, set(&format!("key-{i:05}"), &value)));
    }
    let keys = (0..2_000)
        .step_by(7)
        .map(|i| format!("key-{i:05}").into_bytes())
        .collect();
    entries.push(normal(2, 2_003, Request::Del { keys }));
    entries.push(normal(
        2,
        2_004,
        Request::IncrBy {
            key: b"key-00001".to_vec(),
            by: 1,
        },
    ));
    entries.push(normal(2, 2_005, set("key-00001", "again")));
    for batch in entries.chunks(300) {
        sm.apply(batch.to_vec()).await.expect("apply");
    }
}

/// A follower that applied other things: its keys must go on install.
async fn follower_state(sm: &mut StateMachineStore) {
    let entries = vec![
        blank(1, 1),
        normal(1, 2, set("only-on-the-follower", "stale")),
        normal(1, 3, set("key-00003", "stale")),
    ];
    sm.apply(entries).await.expect("apply");
}

/// Snapshot data as openraft hands it over once received.
fn received(data: Vec<u8>) -> Box<Cursor<Vec<u8>>> {
    Box::new(Cursor::new(data))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_snapshot_replaces_the_state_machine() {
    let (leader_dir, follower_dir) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (mut leader_log, mut leader) = open(leader_dir.path());
    // Log entries too, which the snapshot leaves behind.
    leader_log
        .blocking_append([blank(1, 1), blank(1, 2)])
        .await
        .expect("append");
    leader_state(&mut leader).await;
    let snapshot = common::build_snapshot(&mut leader).await;
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(2, 2_005)));
    // The snapshot is a database of the state machine's trees alone.
    let copy = leader_dir.path().join("snapshot-copy.oak");
    std::fs::write(&copy, snapshot.snapshot.get_ref()).expect("write the copy");
    let trees = oakmap::Db::open(&copy)
        .and_then(|db| db.list_trees())
        .expect("the snapshot opens as a database");
    assert_eq!(trees, ["sm-data", "sm-meta"]);
    assert_eq!(snapshot.meta.last_membership.log_id(), &Some(log_id(1, 2)));
    let want = contents(&leader);
    assert_eq!(want.len(), 2_000 - 286);
    assert_eq!(
        want.get(&b"key-00001"[..]).map(Vec::as_slice),
        Some(&b"again"[..])
    );

    {
        let (_log, mut follower) = open(follower_dir.path());
        follower_state(&mut follower).await;
        let data = snapshot.snapshot.get_ref().clone();
        let mut receiving = follower.begin_receiving_snapshot().await.expect("begin");
        receiving.get_mut().extend_from_slice(&data);
        assert_eq!(follower.snapshots_installed(), 0);
        follower
            .install_snapshot(&snapshot.meta, receiving)
            .await
            .expect("install");
        assert_eq!(follower.snapshots_installed(), 1);
        assert_eq!(leader.snapshots_installed(), 0, "a build is no install");
        assert_eq!(contents(&follower), want);
        assert_eq!(
            follower.applied_state().await.expect("applied"),
            leader.applied_state().await.expect("applied")
        );
        assert_clean(&follower);
    }
    // After a restart: the state machine, and the snapshot as the current one.
    let (_log, mut follower) = open(follower_dir.path());
    assert_eq!(contents(&follower), want);
    let current = follower
        .get_current_snapshot()
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(current.meta, snapshot.meta);
    assert_eq!(current.snapshot.get_ref(), snapshot.snapshot.get_ref());
    assert_clean(&follower);
    assert_clean(&leader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_mislabelled_snapshot_is_refused_and_changes_nothing() {
    let (leader_dir, follower_dir) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (_leader_log, mut leader) = open(leader_dir.path());
    leader_state(&mut leader).await;
    let snapshot = common::build_snapshot(&mut leader).await;
    let good = snapshot.snapshot.get_ref().clone();
    let page = 4096;
    assert!(
        good.len() > 8 * page,
        "a snapshot of several pages: {}",
        good.len()
    );

    let (_log, mut follower) = open(follower_dir.path());
    follower_state(&mut follower).await;
    let before = (
        contents(&follower),
        follower.applied_state().await.expect("applied"),
    );

    let mut damaged: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        (
            "not a database".into(),
            b"GET / HTTP/1.1\r\n\r\n".repeat(1000),
        ),
        ("cut in half".into(), good[..good.len() / 2].to_vec()),
        ("cut by a byte".into(), good[..good.len() - 1].to_vec()),
    ];
    // A flipped byte in the middle of every page past the header and meta
    // slots: each is a page the installation reads (the leader has no log,
    // so every tree in the copy is the state machine's or the catalog).
    for at in (3 * page + page / 2..good.len()).step_by(page) {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        damaged.push((format!("byte {at} flipped"), bad));
    }
    for (what, data) in damaged {
        let got = follower
            .install_snapshot(&snapshot.meta, received(data))
            .await;
        let text = got.expect_err("a damaged snapshot is refused").to_string();
        assert!(text.contains("when Read Snapshot"), "{what}: {text}");
        if what.ends_with("flipped") {
            assert!(text.contains("page checksum mismatch"), "{what}: {text}");
        }
        assert_eq!(
            (
                contents(&follower),
                follower.applied_state().await.expect("applied")
            ),
            before,
            "{what}: the state machine changed"
        );
    }

    // Sound bytes under a meta that does not describe them.
    let mut wrong = snapshot.meta.clone();
    wrong.last_log_id = Some(log_id(2, 9_999));
    let got = follower
        .install_snapshot(&wrong, received(good.clone()))
        .await;
    let text = format!("{:?}", got.expect_err("a mislabelled snapshot is refused"));
    assert!(text.contains("its meta says"), "{text}");
    let mut wrong: SnapshotMeta<u64, openraft::BasicNode> = snapshot.meta.clone();
    wrong.last_membership = Default::default();
    assert!(
        follower
            .install_snapshot(&wrong, received(good.clone()))
            .await
            .is_err()
    );
    assert_eq!(
        (
            contents(&follower),
            follower.applied_state().await.expect("applied")
        ),
        before
    );
    assert!(
        follower
            .get_current_snapshot()
            .await
            .expect("read")
            .is_none(),
        "none was stored"
    );

    // The sound one still installs after all that, the first counted.
    assert_eq!(
        follower.snapshots_installed(),
        0,
        "refusals are not counted"
    );
    follower
        .install_snapshot(&snapshot.meta, received(good))
        .await
        .expect("install");
    assert_eq!(follower.snapshots_installed(), 1);
    assert_eq!(contents(&follower), contents(&leader));
    assert_clean(&follower);
}
