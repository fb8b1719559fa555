//! What the stores hold survives dropping them and reopening the node
//! directory: the vote, the log (after a purge and a truncation), the
//! committed log id, the applied state with its keyspace, and the current
//! snapshot.

mod common;

use common::{LEADER, assert_clean, blank, contents, log_id, membership, normal, open, set};
use oakmap_raft::{Request, Response};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{RaftLogReader, Vote};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_stored_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vote = Vote::new_committed(2, LEADER);
    let entries = vec![
        blank(1, 1),
        membership(1, 2, &[1, 2, 3]),
        normal(1, 3, set("a", "1")),
        normal(1, 4, set("b", "2")),
        normal(
            2,
            5,
            Request::IncrBy {
                key: b"n".to_vec(),
                by: 40,
            },
        ),
        normal(
            2,
            6,
            Request::Del {
                keys: vec![b"a".to_vec()],
            },
        ),
        normal(2, 7, set("c", "3")),
        normal(
            2,
            8,
            Request::Append {
                key: b"c".to_vec(),
                tail: b"!".to_vec(),
            },
        ),
        blank(2, 9),
        blank(2, 10),
    ];
    let snapshot_meta = {
        let (mut log, mut sm) = open(dir.path());
        log.save_vote(&vote).await.expect("vote");
        log.blocking_append(entries.clone()).await.expect("append");
        log.truncate(log_id(2, 10))
            .await
            .expect("truncate [10, ..)");
        log.purge(log_id(1, 3)).await.expect("purge ..=3");
        log.save_committed(Some(log_id(2, 8)))
            .await
            .expect("committed");
        // Applied in two batches, as openraft would after two commits.
        let first = sm.apply(entries[..4].to_vec()).await.expect("apply 1..=4");
        let second = sm.apply(entries[4..8].to_vec()).await.expect("apply 5..=8");
        assert_eq!(
            first,
            [Response::Ok, Response::Ok, Response::Ok, Response::Ok]
        );
        assert_eq!(
            second,
            [
                Response::Integer(40),
                Response::Integer(1),
                Response::Ok,
                Response::Integer(2)
            ]
        );
        let built = common::build_snapshot(&mut sm).await;
        assert_clean(&sm);
        built.meta
    }; // both stores dropped: the database is closed

    let (mut log, mut sm) = open(dir.path());
    assert_eq!(log.read_vote().await.expect("vote"), Some(vote));
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(2, 8))
    );
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
    assert_eq!(state.last_log_id, Some(log_id(2, 9)));
    let kept = log.try_get_log_entries(0..).await.expect("log");
    let kept: Vec<String> = kept.iter().map(|e| format!("{e:?}")).collect();
    let want: Vec<String> = entries[3..9].iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(kept, want, "entries 4..=9, as appended");

    let (applied, members) = sm.applied_state().await.expect("applied state");
    assert_eq!(applied, Some(log_id(2, 8)));
    assert_eq!(members.log_id(), &Some(log_id(1, 2)));
    assert_eq!(members.voter_ids().collect::<Vec<_>>(), [1, 2, 3]);
    let want = [("b", "2"), ("c", "3!"), ("n", "40")];
    let want = want.map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()));
    assert_eq!(contents(&sm), want.into_iter().collect());

    let current = sm
        .get_current_snapshot()
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(current.meta, snapshot_meta);
    assert_eq!(current.meta.last_log_id, Some(log_id(2, 8)));
    assert_clean(&sm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_in_use_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _open = open(dir.path());
    let again = oakmap_raft::open(dir.path());
    assert!(
        matches!(again, Err(oakmap::Error::Locked { .. })),
        "{:?}",
        again.err()
    );
}
