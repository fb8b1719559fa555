//! Several trees open at once in one write transaction (`open_trees`,
//! `TreeId`): moves between trees commit atomically, replay from the log,
//! and a token cannot reach into another transaction.

mod common;

use common::TestDb;
use oakmap::Db;

fn entries(db: &Db, tree: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    common::entries(&db.begin_read(), tree)
        .into_iter()
        .collect()
}

#[test]
fn entries_move_between_trees_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oak");
    let db = TestDb::with_options(common::no_background_checkpoints(), &path);
    for i in 0..500u32 {
        db.insert("queue", &i.to_be_bytes(), format!("job {i}").as_bytes())
            .unwrap();
    }
    let mut tx = db.begin_write().unwrap();
    let [queue, done, count] = tx.open_trees(["queue", "done", "count"]).unwrap();
    let mut moved = 0u32;
    while let Some((k, v)) = tx
        .tree(queue)
        .unwrap()
        .first()
        .unwrap()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
    {
        if moved == 300 {
            break;
        }
        assert!(tx.tree(queue).unwrap().remove(&k).unwrap());
        assert!(!tx.tree(done).unwrap().insert(&k, &v).unwrap());
        moved += 1;
        tx.tree(count)
            .unwrap()
            .insert(b"moved", &moved.to_be_bytes())
            .unwrap();
    }
    // Before the commit, a snapshot sees none of it.
    assert_eq!(entries(&db, "queue").len(), 500);
    tx.commit().unwrap();
    let queue = entries(&db, "queue");
    let done = entries(&db, "done");
    assert_eq!((queue.len(), done.len()), (200, 300));
    assert_eq!(done[299].0, 299u32.to_be_bytes());
    assert_eq!(queue[0].0, 300u32.to_be_bytes());
    assert_eq!(
        db.get("count", b"moved").unwrap(),
        Some(300u32.to_be_bytes().to_vec())
    );

    // The same commit replayed from the log after a crash.
    let image = dir.path().join("image.oak");
    common::copy_db(&path, &image);
    drop(db);
    let db = TestDb::open(&image);
    // 500 one-call inserts and the move: every commit came from the log.
    assert_eq!(db.stats().unwrap().replayed_commits, 501);
    assert_eq!(entries(&db, "done"), done);
    assert_eq!(entries(&db, "queue"), queue);
    db.close().unwrap();
    let db = TestDb::open(&image);
    assert_eq!(
        db.stats().unwrap().replayed_commits,
        0,
        "a clean close leaves nothing to replay"
    );
    assert_eq!(entries(&db, "done"), done);
}

#[test]
fn an_aborted_transaction_creates_no_tree() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("t.oak"));
    let mut tx = db.begin_write().unwrap();
    let [a, b] = tx.open_trees(["a", "b"]).unwrap();
    tx.tree(a).unwrap().insert(b"k", b"v").unwrap();
    tx.tree(b).unwrap().insert(b"k", b"v").unwrap();
    drop(tx);
    assert!(db.list_trees().unwrap().is_empty());
}

#[test]
fn a_tree_deleted_in_the_transaction_comes_back_empty() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("t.oak"));
    db.insert("a", b"old", b"1").unwrap();
    let mut tx = db.begin_write().unwrap();
    let [a] = tx.open_trees(["a"]).unwrap();
    assert!(tx.delete_tree("a").unwrap());
    assert_eq!(tx.tree(a).unwrap().len().unwrap(), 0);
    tx.tree(a).unwrap().insert(b"new", b"2").unwrap();
    tx.commit().unwrap();
    assert_eq!(entries(&db, "a"), vec![(b"new".to_vec(), b"2".to_vec())]);
    common::assert_clean(&db);
}

#[test]
fn open_trees_checks_every_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("t.oak"));
    let mut tx = db.begin_write().unwrap();
    let too_long = "x".repeat(oakmap::TREE_NAME_BYTES_MAX + 1);
    assert!(tx.open_trees(["good", &too_long]).is_err());
}

#[test]
#[should_panic(expected = "outside the WriteTxn that opened it")]
fn a_tree_id_from_another_transaction_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("t.oak"));
    let mut first = db.begin_write().unwrap();
    let [a] = first.open_trees(["a"]).unwrap();
    drop(first);
    let mut second = db.begin_write().unwrap();
    let _ = second.open_trees(["a"]).unwrap();
    let _ = second.tree(a);
}
