//! Guards snapshot isolation: snapshots taken at many points while a writer
//! keeps committing each read back exactly the model state of their commit,
//! however many commits (and page reuses) happen while they live.

mod common;

use std::collections::BTreeMap;

use common::TestDb;
use oakmap::{Durability, Options, ReadTxn};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn read_all(rx: &ReadTxn<'_>) -> Model {
    common::entries(rx, "t")
}

#[test]
fn snapshots_see_exactly_their_commit() {
    let db = TestDb::temp(Options::new().durability(Durability::None));
    let mut rng = common::Rng(42);
    let mut model = Model::new();
    let mut snaps: Vec<(ReadTxn<'_>, Model)> = Vec::new();
    let mut taken = 0;
    for round in 0..300 {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("t").unwrap();
        for _ in 0..40 {
            let k = (rng.below(400) as u32).to_be_bytes().to_vec();
            if rng.below(4) == 0 {
                t.remove(&k).unwrap();
                model.remove(&k);
            } else {
                let len = if rng.below(50) == 0 {
                    9000
                } else {
                    rng.below(300) as usize
                };
                let v = rng.bytes(len);
                t.insert(&k, &v).unwrap();
                model.insert(k, v);
            }
        }
        tx.commit().unwrap();
        if round % 3 == 0 {
            let rx = db.begin_read();
            assert_eq!(rx.id(), db.stats().unwrap().txn_id);
            snaps.push((rx, model.clone()));
            taken += 1;
        }
        // Drop a random older snapshot now and then, so pages get reused
        // around the ones still alive.
        if round % 4 == 0 && !snaps.is_empty() {
            let victim = rng.below(snaps.len() as u64) as usize;
            snaps.swap_remove(victim);
        }
        if round % 10 == 0 {
            for (rx, want) in &snaps {
                assert_eq!(&read_all(rx), want, "snapshot of txn {} diverged", rx.id());
            }
        }
    }
    assert!(taken >= 100, "only {taken} snapshots taken");
    for (rx, want) in &snaps {
        assert_eq!(&read_all(rx), want, "snapshot of txn {} diverged", rx.id());
        for (k, v) in want {
            assert_eq!(
                rx.tree("t").unwrap().unwrap().get(k).unwrap(),
                Some(v.as_slice())
            );
        }
    }
    drop(snaps);
}

#[test]
fn snapshot_ignores_later_tree_creation_and_deletion() {
    let db = TestDb::temp(Options::new());
    db.insert("a", b"k", b"v").unwrap();
    let before = db.begin_read();
    let mut tx = db.begin_write().unwrap();
    assert!(tx.delete_tree("a").unwrap());
    tx.open_tree("b").unwrap().insert(b"x", b"y").unwrap();
    assert_eq!(tx.list_trees().unwrap(), vec!["b".to_string()]);
    tx.commit().unwrap();
    assert_eq!(before.list_trees().unwrap(), vec!["a".to_string()]);
    assert_eq!(
        before.tree("a").unwrap().unwrap().get(b"k").unwrap(),
        Some(&b"v"[..])
    );
    assert!(before.tree("b").unwrap().is_none());
    let after = db.begin_read();
    assert!(after.tree("a").unwrap().is_none());
    assert_eq!(db.list_trees().unwrap(), vec!["b".to_string()]);
    drop((before, after));
}

#[test]
fn aborted_transaction_leaves_no_trace() {
    let db = TestDb::temp(Options::new());
    db.insert("t", b"keep", b"1").unwrap();
    let stats = db.stats().unwrap();
    {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("t").unwrap();
        for i in 0..5000u32 {
            t.insert(&i.to_be_bytes(), &[9u8; 100]).unwrap();
        }
        t.remove(b"keep").unwrap();
        tx.open_tree("other").unwrap();
        // dropped: aborted
    }
    let rx = db.begin_read();
    assert_eq!(rx.list_trees().unwrap(), vec!["t".to_string()]);
    let t = rx.tree("t").unwrap().unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t.get(b"keep").unwrap(), Some(&b"1"[..]));
    assert_eq!(db.stats().unwrap().txn_id, stats.txn_id);
    drop(rx);
    // The next transaction reuses nothing it should not: check stays clean.
    db.insert("t", b"after", b"2").unwrap();
}
