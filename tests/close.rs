//! Guards `Db::close`: it does the work dropping a `Db` does (the last
//! checkpoint with the clean mark, the trim), reports what fails instead of
//! dropping the error, and nothing runs a second time when the closed `Db`
//! is dropped.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::TestDb;
use oakmap::{Db, Error, FailPoints};

/// A plain `Db`: these tests count what the close itself writes, which the
/// check a `TestDb` runs first (a checkpoint) would change; `assert_filled`
/// checks the database each one leaves.
fn open(path: &Path, fail: &Arc<FailPoints>) -> Db {
    common::no_background_checkpoints()
        .fail_points(fail.clone())
        .open(path)
        .unwrap()
}

fn fill(db: &Db) {
    for i in 0..2_000u64 {
        db.insert("t", &i.to_be_bytes(), &[i as u8; 150]).unwrap();
    }
}

fn assert_filled(path: &Path) {
    let db = TestDb::open(path);
    for i in 0..2_000u64 {
        assert_eq!(
            db.get("t", &i.to_be_bytes()).unwrap(),
            Some(vec![i as u8; 150])
        );
    }
}

#[test]
fn close_checkpoints_and_trims_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.oak");
    let fail = Arc::new(FailPoints::new());
    let db = open(&path, &fail);
    fill(&db);
    let (meta_syncs, trims) = (fail.passes("meta.sync"), fail.passes("data.trim"));
    db.close().unwrap();
    assert_eq!(
        fail.passes("meta.sync") - meta_syncs,
        1,
        "one last checkpoint, not a second one from drop"
    );
    assert_eq!(fail.passes("data.trim") - trims, 1, "one trim");
    // The clean mark: the log is not needed to open.
    for i in 0..2 {
        std::fs::remove_file(format!("{}.wal{i}", path.display())).unwrap();
    }
    assert_filled(&path);
}

#[test]
fn close_reports_a_failed_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.oak");
    let fail = Arc::new(FailPoints::new());
    let db = open(&path, &fail);
    fill(&db);
    fail.arm("meta.sync", 0, false);
    match db.close() {
        // The sync was of the data file, and the error says so.
        Err(Error::Io { path: p, .. }) => assert_eq!(p, path.canonicalize().unwrap()),
        other => panic!("expected the failed meta sync, got {other:?}"),
    }
    // Nothing acknowledged is lost: the log recovers it.
    assert_filled(&path);
}

#[test]
fn close_reports_a_failed_trim() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.oak");
    let fail = Arc::new(FailPoints::new());
    let db = open(&path, &fail);
    fill(&db);
    fail.arm("data.trim", 0, false);
    assert!(matches!(db.close(), Err(Error::Io { .. })));
    assert_filled(&path);
}

#[test]
fn close_of_a_poisoned_db_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.oak");
    let fail = Arc::new(FailPoints::new());
    let db = open(&path, &fail);
    fill(&db);
    fail.arm("wal.sync", 0, false);
    assert!(db.insert("t", b"late", b"x").is_err());
    assert!(matches!(db.close(), Err(Error::Poisoned)));
    assert_filled(&path);
}
