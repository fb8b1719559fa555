//! Guards failure handling: a failed write or fsync at any named point of a
//! commit or checkpoint returns an error and poisons the `Db` (later writes
//! fail with `Error::Poisoned`, reads keep working), nothing is retried, and
//! reopening recovers every acknowledged commit. A failed write inside a
//! transaction (an overflow run, a spill) fails only that transaction.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::TestDb;
use oakmap::{Db, Durability, Error, FailPoints, Options};

fn open(path: &Path, fail: &Arc<FailPoints>) -> TestDb {
    let options = Options::new()
        .fail_points(fail.clone())
        .checkpoint_interval(Duration::from_secs(3600));
    TestDb::with_options(options, path)
}

/// Where the armed failure surfaced.
#[derive(Debug, PartialEq, Eq)]
enum Failed {
    /// Inside a transaction (writing an overflow run or spilling a page):
    /// the transaction fails, nothing committed is touched, no poison.
    InTransaction,
    /// In a commit or checkpoint: the `Db` is poisoned.
    InCommitOrCheckpoint,
}

/// Arms `point` to fail at its `nth` pass from now, then commits (and
/// checkpoints every few commits) until something fails. Returns the
/// acknowledged commits and where it failed.
fn run_until_failure(db: &Db, fail: &FailPoints, point: &'static str, nth: u64) -> (u64, Failed) {
    fail.arm(point, nth, false);
    let mut acked = 0;
    for i in 0..200u64 {
        let mut tx = db.begin_write().unwrap();
        let inserted = tx
            .open_tree("t")
            .unwrap()
            .insert(&i.to_be_bytes(), &[i as u8; 100])
            .and_then(|_| match i % 3 {
                0 => tx
                    .open_tree("big")?
                    .insert(&i.to_be_bytes(), &vec![7u8; 40_000]),
                _ => Ok(false),
            });
        if let Err(e) = inserted {
            assert!(fail.any_fired(), "{point}: insert failed by itself: {e}");
            assert!(matches!(tx.commit(), Err(Error::TransactionFailed)));
            return (acked, Failed::InTransaction);
        }
        match tx.commit() {
            Ok(()) => acked = i + 1,
            Err(e) => {
                assert!(fail.any_fired(), "{point}: commit failed by itself: {e}");
                return (acked, Failed::InCommitOrCheckpoint);
            }
        }
        if i % 4 == 3
            && let Err(e) = db.checkpoint()
        {
            assert!(
                fail.any_fired(),
                "{point}: checkpoint failed by itself: {e}"
            );
            return (acked, Failed::InCommitOrCheckpoint);
        }
    }
    panic!("{point} (pass {nth}) never failed");
}

#[test]
fn every_failure_point_poisons_and_recovers() {
    for &point in FailPoints::POINTS {
        for nth in [0, 1, 3] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p.oak");
            let fail = Arc::new(FailPoints::new());
            let db = open(&path, &fail);
            db.insert("t", b"before", b"1").unwrap();
            let (mut acked, failed) = run_until_failure(&db, &fail, point, nth);
            if failed == Failed::InTransaction {
                // Only that transaction failed: the database goes on.
                db.insert("t", &acked.to_be_bytes(), &[acked as u8; 100])
                    .unwrap();
                acked += 1;
                db.checkpoint().unwrap();
            } else {
                // Poisoned: every write refuses, reads still work.
                assert!(
                    matches!(db.begin_write().err(), Some(Error::Poisoned)),
                    "{point}"
                );
                assert!(
                    matches!(db.insert("t", b"x", b"y"), Err(Error::Poisoned)),
                    "{point}"
                );
                assert!(matches!(db.checkpoint(), Err(Error::Poisoned)), "{point}");
                assert!(matches!(db.sync(), Err(Error::Poisoned)), "{point}");
            }
            assert_eq!(
                db.get("t", b"before").unwrap(),
                Some(b"1".to_vec()),
                "{point}"
            );
            match failed {
                // Only a transaction failed: the database is checked as it drops.
                Failed::InTransaction => drop(db),
                // Poisoned, so the check would refuse; the reopened one is checked.
                Failed::InCommitOrCheckpoint => drop(db.into_inner()),
            }
            // Reopen without failures: every acknowledged commit is there.
            let db = TestDb::open(&path);
            for i in 0..acked {
                assert_eq!(
                    db.get("t", &i.to_be_bytes()).unwrap(),
                    Some(vec![i as u8; 100]),
                    "{point} pass {nth}: acknowledged commit {i} of {acked} lost"
                );
            }
        }
    }
}

#[test]
fn failed_group_fsync_poisons_later_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.oak");
    let fail = Arc::new(FailPoints::new());
    // A plain `Db`: it ends poisoned, which the check refuses; the reopened
    // one is checked.
    let db = Options::new()
        .fail_points(fail.clone())
        .durability(Durability::Group(Duration::from_millis(1)))
        .open(&path)
        .unwrap();
    fail.arm("wal.sync", 0, true);
    db.insert("t", b"a", b"1").unwrap(); // returns before the background fsync
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while db.insert("t", b"b", b"2").is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the failed background fsync never poisoned"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(db.insert("t", b"c", b"3"), Err(Error::Poisoned)));
    drop(db);
    let db = TestDb::open(&path);
    // Not fsynced, but the process did not crash: the records are in the file.
    assert_eq!(db.get("t", b"a").unwrap(), Some(b"1".to_vec()));
}

/// The trim at a clean close only gives back room grown ahead: when it fails,
/// the file is longer than it needs to be and nothing is lost.
#[test]
fn failed_trim_at_close_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oak");
    let fail = Arc::new(FailPoints::new());
    let db = open(&path, &fail);
    for i in 0..2_000u64 {
        db.insert("t", &i.to_be_bytes(), &[i as u8; 150]).unwrap();
    }
    fail.arm("data.trim", 0, false);
    drop(db);
    assert!(fail.any_fired(), "close trims the room grown ahead");
    let db = open(&path, &Arc::new(FailPoints::new()));
    for i in 0..2_000u64 {
        assert_eq!(
            db.get("t", &i.to_be_bytes()).unwrap(),
            Some(vec![i as u8; 150])
        );
    }
}

/// Panics at one named I/O point, once it is armed.
struct PanicAt {
    point: &'static str,
    armed: std::sync::atomic::AtomicBool,
}

impl oakmap::IoHook for PanicAt {
    fn before(
        &self,
        _file: oakmap::IoFile,
        _op: &oakmap::IoOp<'_>,
        point: &'static str,
    ) -> std::io::Result<()> {
        if point == self.point && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("injected panic at {point}");
        }
        Ok(())
    }
}

/// A panic (a bug) in the middle of a commit that is a checkpoint of its
/// own (a transaction too large for the log) comes after its commit number
/// is taken and before its meta slot is written. Unpoisoned, the next
/// commit's record would follow a number no record and no slot holds, and
/// the next open would refuse the log (the crash harness found this through
/// a debug assertion in a compaction's commit). So the panic poisons: later
/// writes fail, and reopening recovers every commit acknowledged before it.
#[test]
fn a_panic_inside_a_commit_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oak");
    let hook = Arc::new(PanicAt {
        point: "meta.write",
        armed: false.into(),
    });
    let options = Options::new()
        .io_hook(hook.clone())
        .wal_bytes_max(64 << 10)
        .checkpoint_interval(Duration::from_secs(3600));
    // Poisoned on purpose: no check can run on it at the end.
    let db = TestDb::with_options(options, &path).into_inner();
    for i in 0..50u64 {
        db.insert("t", &i.to_be_bytes(), &[i as u8; 100]).unwrap();
    }
    hook.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let panicked = std::thread::scope(|s| {
        s.spawn(|| db.insert("big", b"k", &vec![7u8; 200 << 10]))
            .join()
            .is_err()
    });
    assert!(panicked, "the commit as a checkpoint writes a meta slot");
    assert!(matches!(
        db.insert("t", b"after", b"x"),
        Err(Error::Poisoned)
    ));
    drop(db);
    let db = TestDb::open(&path);
    for i in 0..50u64 {
        assert_eq!(
            db.get("t", &i.to_be_bytes()).unwrap(),
            Some(vec![i as u8; 100])
        );
    }
    assert_eq!(db.get("t", b"after").unwrap(), None);
    assert!(db.check().unwrap().is_clean());
}

/// Commits on drop, as a guard type in a caller's code might.
struct CommitOnDrop<'a>(Option<oakmap::WriteTxn<'a>>);

impl Drop for CommitOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            tx.commit().expect("the commit in the destructor");
        }
    }
}

/// A commit run by a destructor while the thread unwinds from an unrelated
/// panic (the caller's) is a commit like any other: it does not poison.
#[test]
fn a_commit_while_unwinding_from_another_panic_does_not_poison() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("t.oak"));
    let panicked = std::thread::scope(|s| {
        s.spawn(|| {
            let mut tx = db.begin_write().unwrap();
            tx.open_tree("t").unwrap().insert(b"k", b"v").unwrap();
            let _guard = CommitOnDrop(Some(tx));
            panic!("the caller's own panic");
        })
        .join()
        .is_err()
    });
    assert!(panicked);
    assert_eq!(db.get("t", b"k").unwrap(), Some(b"v".to_vec()));
    db.insert("t", b"after", b"x").unwrap();
}
