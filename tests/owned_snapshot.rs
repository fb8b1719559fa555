//! Guards owned snapshots (`Db::begin_read_owned`, `ReadTxn<'static>`): they
//! move into other threads, keep reading their state while commits and
//! checkpoints reuse pages, outlive `Db::close` (which still checkpoints and
//! trims), and keep the file locked until they are dropped.

mod common;

use std::collections::BTreeMap;

use common::TestDb;
use oakmap::{Db, Error, ReadTxn, TreeSnapshot};

fn assert_send_sync_static<T: Send + Sync + 'static>(_: &T) {}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn write_round(db: &Db, round: u8) -> Model {
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    let mut model = Model::new();
    for i in 0..3_000u32 {
        let (k, v) = (
            i.to_be_bytes().to_vec(),
            vec![round; 100 + (i % 50) as usize],
        );
        t.insert(&k, &v).unwrap();
        model.insert(k, v);
    }
    tx.commit().unwrap();
    model
}

#[test]
fn owned_snapshot_moves_to_a_thread_and_outlives_the_db() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("owned.oak");
    let db = TestDb::with_options(common::no_background_checkpoints(), &path);
    let first = write_round(&db, 1);
    let rx: ReadTxn<'static> = db.begin_read_owned();
    assert_send_sync_static(&rx);
    let tree: TreeSnapshot<'static> = db.begin_read_owned().into_tree("t").unwrap().unwrap();
    assert_send_sync_static(&tree);

    // Later rounds free the first round's pages and, once the snapshots
    // let go, would reuse them; checkpoints grow and rewrite the freelist.
    let mut last = Model::new();
    for round in 2..6 {
        last = write_round(&db, round);
        db.checkpoint().unwrap();
    }
    let reader = std::thread::spawn(move || {
        assert_eq!(common::entries(&rx, "t"), first);
        (rx, first)
    });
    let (rx, first) = reader.join().unwrap();
    assert_eq!(tree.tree().len(), 3_000);

    // Closing the Db does not wait for the snapshots, and they go on reading;
    // the file stays open and locked until they are dropped.
    db.close().unwrap();
    assert!(matches!(Db::open(&path), Err(Error::Locked { .. })));
    let reader = std::thread::spawn(move || {
        assert_eq!(common::entries(&rx, "t"), first);
        let value = tree.tree().get(&7u32.to_be_bytes()).unwrap();
        assert_eq!(value, Some(&[1u8; 107][..]));
    });
    reader.join().unwrap();

    // Dropped (in the thread), they let the file go. The close was clean:
    // the log is not needed.
    for i in 0..2 {
        std::fs::remove_file(format!("{}.wal{i}", path.display())).unwrap();
    }
    let db = TestDb::open(&path);
    assert_eq!(common::entries(&db.begin_read(), "t"), last);
}
