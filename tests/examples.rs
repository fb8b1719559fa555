//! Guards the examples: each one runs to completion on a fresh database
//! and leaves it clean, so that what a newcomer runs first works. (Cargo
//! builds the examples with the tests; this runs them, through their own
//! entry points.)

mod common;

#[expect(dead_code, reason = "main is the example's entry; the test calls run")]
#[path = "../examples/session_store.rs"]
mod session_store;

#[expect(dead_code, reason = "main is the example's entry; the test calls demo")]
#[path = "../examples/tokio_server.rs"]
mod tokio_server;

#[expect(dead_code, reason = "main is the example's entry; the test calls run")]
#[path = "../examples/typed_events.rs"]
mod typed_events;

use common::TestDb;

#[test]
fn session_store_runs_and_every_session_expires() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.oak");
    let report = session_store::run(&path).unwrap();
    assert_eq!(report.created, 160);
    assert!(report.touched > 0, "{report:?}");
    assert_eq!(report.expired, report.created, "{report:?}");
    assert_eq!(report.left, 0);
    assert!(report.audits > 0, "{report:?}");
    // A second run on the same file goes on from where the first left off.
    let again = session_store::run(&path).unwrap();
    assert_eq!(again.created, 160);
    let db = TestDb::open(&path);
    assert_eq!(
        db.get("meta", b"next_id").unwrap(),
        Some(321u64.to_be_bytes().to_vec()),
        "ids are never handed out twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_server_demo_answers_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.oak");
    let requests = tokio_server::demo(&path).await.unwrap();
    assert_eq!(requests, 228);
    let db = TestDb::open(&path);
    assert_eq!(db.get("kv", b"visits").unwrap(), Some(b"200".to_vec()));
    assert_eq!(db.get("kv", b"greeting").unwrap(), Some(b"bye".to_vec()));
}

#[test]
fn typed_events_reads_back_by_user_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.oak");
    let report = typed_events::run(&path).unwrap();
    let times: Vec<u64> = report.bob_events.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        times,
        (0..30)
            .filter(|t| t % 3 == 1)
            .map(|t| 1_000 + t)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        report.bob_events[0].1,
        typed_events::Event {
            kind: "withdrawal".into(),
            amount: -3,
        }
    );
    assert_eq!(report.alice_newest, Some(1_027));
    assert_eq!(report.alice_count, 10);
    assert_eq!(report.raw_entries, 30);
    // A second run overwrites the same events and counts on.
    let again = typed_events::run(&path).unwrap();
    assert_eq!(again.raw_entries, 30);
    assert_eq!(again.alice_count, 20);
    drop(TestDb::open(&path));
}
