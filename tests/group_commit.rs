//! Guards group commit: threads committing durably at the same time share
//! fsyncs (fewer WAL fsyncs than commits), every commit is visible once its
//! call returns, and the next writer builds while the previous commit's
//! fsync is in flight.

mod common;

use std::sync::{Arc, Barrier};

use common::TestDb;
use oakmap::{Durability, Options};

#[test]
fn concurrent_durable_commits_share_fsyncs() {
    let db = Arc::new(TestDb::temp(Options::new()));
    let before = db.stats().unwrap();
    let threads = 4;
    let per_thread = 150u64;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads as u64)
        .map(|t| {
            let (db, barrier) = (db.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..per_thread {
                    let key = (t << 32 | i).to_be_bytes();
                    db.insert("t", &key, &[t as u8; 64]).unwrap();
                    // Read-your-writes: the commit is visible when it returns.
                    assert_eq!(db.get("t", &key).unwrap(), Some(vec![t as u8; 64]));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let after = db.stats().unwrap();
    let commits = after.commits - before.commits;
    let fsyncs = after.wal_fsyncs - before.wal_fsyncs;
    assert_eq!(commits, threads as u64 * per_thread);
    assert!(
        commits as f64 / fsyncs as f64 >= 1.2,
        "{commits} commits took {fsyncs} fsyncs: no sharing"
    );
    assert_eq!(db.begin_read().tree("t").unwrap().unwrap().len(), commits);
}

#[test]
fn group_and_none_commits_are_visible_at_once_and_sync_makes_them_durable() {
    let db = TestDb::temp(Options::new());
    let mut tx = db.begin_write().unwrap();
    tx.set_durability(Durability::Group(std::time::Duration::from_secs(60)));
    tx.open_tree("t").unwrap().insert(b"group", b"1").unwrap();
    tx.commit().unwrap();
    let mut tx = db.begin_write().unwrap();
    tx.set_durability(Durability::None);
    tx.open_tree("t").unwrap().insert(b"none", b"2").unwrap();
    tx.commit().unwrap();
    assert_eq!(db.get("t", b"group").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get("t", b"none").unwrap(), Some(b"2".to_vec()));
    let fsyncs = db.stats().unwrap().wal_fsyncs;
    db.sync().unwrap();
    assert_eq!(
        db.stats().unwrap().wal_fsyncs,
        fsyncs + 1,
        "sync fsyncs the log once"
    );
    db.sync().unwrap();
    assert_eq!(
        db.stats().unwrap().wal_fsyncs,
        fsyncs + 1,
        "nothing left to sync"
    );
}

/// While a commit waits for its fsync, the next writer builds on it. The
/// state new snapshots see is still the one before: none of its pages may be
/// reused until the waiting commit is published. The fsync is held open with
/// a failure point so the window is as wide as the test needs.
#[test]
fn pages_of_the_published_state_survive_while_a_commit_waits_for_fsync() {
    use oakmap::FailPoints;
    use std::time::{Duration, Instant};

    let fail = Arc::new(FailPoints::new());
    let db = Arc::new(TestDb::temp(Options::new().fail_points(fail.clone())));
    let value = |round: u8| vec![round; 100];
    {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("t").unwrap();
        for i in 0..2000u32 {
            t.insert(&i.to_be_bytes(), &value(0)).unwrap();
        }
        tx.commit().unwrap();
    }
    let published = db.stats().unwrap();
    fail.hold("wal.sync");
    // Two more commits rewrite every entry; the first blocks in its fsync,
    // the second queues behind it having written its pages.
    let writers: Vec<_> = (1..=2u8)
        .map(|round| {
            let writer_db = db.clone();
            let handle = std::thread::spawn(move || {
                let db = writer_db;
                let mut tx = db.begin_write().unwrap();
                tx.set_durability(if round == 1 {
                    Durability::Immediate
                } else {
                    Durability::None
                });
                let mut t = tx.open_tree("t").unwrap();
                for i in 0..2000u32 {
                    t.insert(&i.to_be_bytes(), &value(round)).unwrap();
                }
                tx.commit().unwrap();
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            while db.stats().unwrap().commits < published.commits + round as u64 {
                assert!(
                    Instant::now() < deadline,
                    "commit {round} never wrote its pages"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            handle
        })
        .collect();
    assert_eq!(fail.waiting("wal.sync"), 1);
    // A new snapshot sees the state before both, intact.
    let rx = db.begin_read();
    assert_eq!(rx.id(), published.txn_id);
    let t = rx.tree("t").unwrap().unwrap();
    for e in t.iter().unwrap() {
        assert_eq!(
            e.unwrap().1,
            value(0).as_slice(),
            "a page of the published state was reused"
        );
    }
    drop(rx);
    fail.release("wal.sync");
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(db.get("t", &7u32.to_be_bytes()).unwrap(), Some(value(2)));
}
