//! Stored bytes that do not decode, or an entry under an index that is not
//! its own, are a `StorageError` naming what was wrong, never a panic.

mod common;

use common::{blank, open};
use openraft::RaftLogReader;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_bytes_are_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut log, mut sm) = open(dir.path());
    log.blocking_append([blank(1, 1), blank(1, 2)])
        .await
        .expect("append");
    let db = sm.db();

    // Garbage where entry 3 would be.
    db.insert("raft-log", &3u64.to_be_bytes(), b"\xff\xff\xff")
        .expect("insert");
    let e = log
        .try_get_log_entries(1..4)
        .await
        .expect_err("entry 3 does not decode");
    assert!(e.to_string().contains("LogIndex(3)"), "{e}");
    assert!(
        log.get_log_state().await.is_err(),
        "the last entry does not decode"
    );

    // Entry 1's bytes under index 4.
    let one = db
        .get("raft-log", &1u64.to_be_bytes())
        .expect("get")
        .expect("present");
    db.insert("raft-log", &4u64.to_be_bytes(), &one)
        .expect("insert");
    db.remove("raft-log", &3u64.to_be_bytes()).expect("remove");
    let e = log
        .try_get_log_entries(4..)
        .await
        .expect_err("entry 1 under index 4");
    assert!(
        e.to_string().contains("the entry stored under index 4 is"),
        "{e}"
    );

    // A key that is not an index.
    db.remove("raft-log", &4u64.to_be_bytes()).expect("remove");
    db.insert("raft-log", b"short", &one).expect("insert");
    assert!(
        log.try_get_log_entries(0..).await.is_err(),
        "a 5-byte log key"
    );
    db.remove("raft-log", b"short").expect("remove");
    assert_eq!(
        log.try_get_log_entries(0..)
            .await
            .expect("sound again")
            .len(),
        2
    );

    // The vote, the committed log id, the applied state.
    for (tree, key) in [
        ("raft-meta", &b"vote"[..]),
        ("raft-meta", b"committed"),
        ("sm-meta", b"applied"),
    ] {
        db.insert(tree, key, b"\x05").expect("insert");
    }
    let e = log.read_vote().await.expect_err("vote");
    assert!(e.to_string().contains("raft-meta"), "{e}");
    assert!(log.read_committed().await.is_err(), "committed");
    let e = sm.applied_state().await.expect_err("applied");
    assert!(e.to_string().contains("sm-meta"), "{e}");
}
