//! Guards the public API's contracts: the one-call forms on `Db`, opening
//! options (page size read back from the file, `create(false)`), tree
//! management, read views inside a write transaction, and the range bounds
//! `range` accepts.

mod common;

use common::TestDb;
use oakmap::{CasConflict, Error, GetOrInsert, Options};

#[test]
fn one_call_forms() {
    let db = TestDb::temp(Options::new());
    assert_eq!(db.get("t", b"k").unwrap(), None);
    assert!(!db.insert("t", b"k", b"v1").unwrap());
    assert!(db.insert("t", b"k", b"v2").unwrap());
    assert_eq!(db.get("t", b"k").unwrap(), Some(b"v2".to_vec()));

    let found = db.get_or_insert("t", b"k", b"other").unwrap();
    assert_eq!(
        (found.value.as_slice(), found.inserted),
        (&b"v2"[..], false)
    );
    let inserted = db.get_or_insert("t", b"new", b"n").unwrap();
    assert_eq!(
        (inserted.value.as_slice(), inserted.inserted),
        (&b"n"[..], true)
    );
    assert_eq!(db.get("t", b"new").unwrap(), Some(b"n".to_vec()));

    let conflict = db
        .compare_and_swap("t", b"k", Some(b"wrong"), Some(b"v3"))
        .unwrap();
    assert_eq!(
        conflict,
        Err(CasConflict {
            current: Some(b"v2".to_vec())
        })
    );
    assert_eq!(db.get("t", b"k").unwrap(), Some(b"v2".to_vec()));
    db.compare_and_swap("t", b"k", Some(b"v2"), Some(b"v3"))
        .unwrap()
        .unwrap();
    assert_eq!(db.get("t", b"k").unwrap(), Some(b"v3".to_vec()));
    db.compare_and_swap("t", b"absent", None, Some(b"a"))
        .unwrap()
        .unwrap();
    db.compare_and_swap("t", b"absent", Some(b"a"), None)
        .unwrap()
        .unwrap();
    assert_eq!(db.get("t", b"absent").unwrap(), None);
    assert_eq!(
        db.compare_and_swap("t", b"k", None, Some(b"x")).unwrap(),
        Err(CasConflict {
            current: Some(b"v3".to_vec())
        })
    );

    assert!(db.remove("t", b"k").unwrap());
    assert!(!db.remove("t", b"k").unwrap());
    assert_eq!(db.list_trees().unwrap(), vec!["t".to_string()]);
}

#[test]
fn concurrent_get_or_insert_agrees_on_one_value_and_one_inserter() {
    let db = TestDb::temp(Options::new());
    let results: Vec<GetOrInsert> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u8)
            .map(|i| {
                let db = &db;
                s.spawn(move || db.get_or_insert("sessions", b"s", &[i]).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let value = &results[0].value;
    assert!(results.iter().all(|r| &r.value == value), "{results:?}");
    assert_eq!(
        results.iter().filter(|r| r.inserted).count(),
        1,
        "exactly one caller inserted: {results:?}"
    );
    assert_eq!(db.get("sessions", b"s").unwrap().as_ref(), Some(value));
}

#[test]
fn page_size_is_fixed_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.oak");
    let db = TestDb::with_options(Options::new().page_bytes(16384), &path);
    db.insert("t", b"k", &vec![5u8; 10_000]).unwrap();
    assert_eq!(db.page_bytes(), 16384);
    drop(db);
    let db = TestDb::with_options(Options::new().page_bytes(4096), &path);
    assert_eq!(
        db.page_bytes(),
        16384,
        "an existing file keeps its page size"
    );
    assert_eq!(db.get("t", b"k").unwrap(), Some(vec![5u8; 10_000]));
    assert!(db.key_bytes_max() > 5000);
}

#[test]
fn create_false_refuses_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.oak");
    match Options::new().create(false).open(&path) {
        Err(Error::Io { path: p, source }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            assert_eq!(p, path);
        }
        other => panic!("expected NotFound, got {:?}", other.map(|_| ())),
    }
    assert!(!path.exists());
}

#[test]
fn write_transaction_reads_its_own_changes() {
    let db = TestDb::temp(Options::new());
    db.insert("t", b"a", b"1").unwrap();
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    t.insert(b"b", b"2").unwrap();
    t.insert(b"c", b"3").unwrap();
    t.remove(b"a").unwrap();
    assert_eq!(t.get(b"b").unwrap(), Some(&b"2"[..]));
    assert_eq!(t.first().unwrap().unwrap().0, b"b");
    assert_eq!(t.last().unwrap().unwrap().0, b"c");
    let keys: Vec<&[u8]> = t.iter().unwrap().rev().map(|e| e.unwrap().0).collect();
    assert_eq!(keys, vec![&b"c"[..], &b"b"[..]]);
    assert_eq!(t.prefix(b"b").unwrap().count(), 1);
    assert_eq!(t.len().unwrap(), 2);
    // A snapshot taken meanwhile sees the committed state only.
    assert_eq!(db.get("t", b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get("t", b"b").unwrap(), None);
    tx.commit().unwrap();
    assert_eq!(db.get("t", b"a").unwrap(), None);
    assert_eq!(db.get("t", b"c").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn deleted_tree_frees_its_pages_and_can_be_recreated() {
    let db = TestDb::temp(Options::new());
    {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("big").unwrap();
        for i in 0..20_000u32 {
            t.insert(&i.to_be_bytes(), &[1u8; 100]).unwrap();
        }
        t.insert(b"blob", &vec![2u8; 200_000]).unwrap();
        tx.commit().unwrap();
    }
    let in_use = db.stats().unwrap().pages_in_use;
    let mut tx = db.begin_write().unwrap();
    assert!(tx.delete_tree("big").unwrap());
    assert!(!tx.delete_tree("big").unwrap());
    tx.commit().unwrap();
    let after = db.stats().unwrap();
    assert!(after.pages_in_use < in_use / 50, "{in_use} -> {after:?}");
    assert!(db.list_trees().unwrap().is_empty());
    db.insert("big", b"again", b"1").unwrap();
    assert_eq!(db.begin_read().tree("big").unwrap().unwrap().len(), 1);
}

#[test]
fn creation_is_atomic_and_empty_commits_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.oak");
    let db = TestDb::open(&path);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["new.oak", "new.oak.wal0", "new.oak.wal1"],
        "temporary file left behind"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * 4096);
    db.insert("t", b"k", b"v").unwrap();
    let before = db.stats().unwrap();
    let mut tx = db.begin_write().unwrap();
    assert_eq!(
        tx.open_tree("t").unwrap().get(b"k").unwrap(),
        Some(&b"v"[..])
    );
    tx.commit().unwrap();
    assert!(!db.remove("t", b"missing").unwrap());
    let after = db.stats().unwrap();
    assert_eq!(
        after.txn_id, before.txn_id,
        "a commit without changes made a new state"
    );
    assert_eq!(after.file_bytes, before.file_bytes);
    drop(db);
    // A zero-length file is initialized in place.
    let empty = dir.path().join("empty.oak");
    std::fs::write(&empty, b"").unwrap();
    let db = TestDb::open(&empty);
    db.insert("t", b"k", b"v").unwrap();
}

/// The keys a range yields, in order.
fn keys<'a>(r: oakmap::Range<'a>) -> Vec<&'a [u8]> {
    r.map(|e| e.unwrap().0).collect()
}

#[test]
fn ranges_take_any_bounds_that_borrow_as_bytes() {
    use std::ops::Bound;
    let db = TestDb::temp(Options::new());
    for k in ["a", "ab", "b", "bc", "c"] {
        db.insert("t", k.as_bytes(), b"").unwrap();
    }
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().unwrap();
    let (from, to) = (b"ab".to_vec(), b"bc".to_vec());
    let want: Vec<&[u8]> = vec![b"ab", b"b"];
    assert_eq!(keys(t.range(b"ab"..b"bc").unwrap()), want, "arrays");
    assert_eq!(keys(t.range(&from..&to).unwrap()), want, "borrowed Vecs");
    assert_eq!(
        keys(t.range(from.clone()..to.clone()).unwrap()),
        want,
        "Vecs"
    );
    assert_eq!(keys(t.range("ab".."bc").unwrap()), want, "strs");
    assert_eq!(
        keys(t.range(b"ab".as_slice()..b"bc").unwrap()),
        want,
        "slices"
    );
    assert_eq!(
        keys(t.range(b"b".as_slice()..b"bc").unwrap()),
        [b"b"],
        "two lengths"
    );
    assert_eq!(
        keys(t.range(&from..=&to).unwrap()),
        [&b"ab"[..], b"b", b"bc"]
    );
    assert_eq!(keys(t.range(..=b"a").unwrap()), [b"a"]);
    assert_eq!(keys(t.range(..b"ab").unwrap()), [b"a"]);
    assert_eq!(keys(t.range(&to..).unwrap()), [&b"bc"[..], b"c"]);
    assert_eq!(keys(t.range(..).unwrap()).len(), 5);
    let excl = (Bound::Excluded(&from), Bound::Unbounded);
    assert_eq!(keys(t.range(excl).unwrap()).len(), 3);
    let backwards: Vec<&[u8]> = t
        .range(b"ab"..b"bc")
        .unwrap()
        .rev()
        .map(|e| e.unwrap().0)
        .collect();
    assert_eq!(backwards, [&b"b"[..], b"ab"]);
    drop(rx);
    // The same forms inside a write transaction.
    let mut tx = db.begin_write().unwrap();
    let t = tx.open_tree("t").unwrap();
    assert_eq!(t.range(b"ab"..b"bc").unwrap().count(), 2);
    assert_eq!(t.range(&from..).unwrap().count(), 4);
    assert_eq!(t.range("b"..).unwrap().rev().count(), 3);
    drop(tx); // aborts
}

#[test]
fn writes_to_a_missing_tree_create_it_only_when_they_insert() {
    let db = TestDb::temp(Options::new());
    db.insert("t", b"k", b"v").unwrap();
    let before = db.stats().unwrap().txn_id;

    assert!(!db.remove("missing", b"k").unwrap());
    assert_eq!(
        db.compare_and_swap("missing", b"k", None, None).unwrap(),
        Ok(())
    );
    assert_eq!(
        db.compare_and_swap("missing", b"k", Some(b"v"), None)
            .unwrap(),
        Err(CasConflict { current: None })
    );
    let mut tx = db.begin_write().unwrap();
    assert!(tx.tree_mut("missing").unwrap().is_none());
    tx.commit().unwrap();
    assert_eq!(db.list_trees().unwrap(), ["t"]);
    assert_eq!(db.stats().unwrap().txn_id, before, "nothing was committed");

    // tree_mut sees the transaction's own creates and deletes.
    let mut tx = db.begin_write().unwrap();
    assert!(tx.tree_mut("t").unwrap().unwrap().remove(b"k").unwrap());
    tx.open_tree("new").unwrap();
    assert!(tx.tree_mut("new").unwrap().is_some());
    tx.delete_tree("t").unwrap();
    assert!(tx.tree_mut("t").unwrap().is_none());
    assert!(matches!(tx.tree_mut(""), Err(Error::InvalidTreeName)));
    tx.commit().unwrap();
    assert_eq!(db.list_trees().unwrap(), ["new"]);

    // Setting a value is what creates a tree.
    db.compare_and_swap("cas", b"k", None, Some(b"1"))
        .unwrap()
        .unwrap();
    assert_eq!(db.get("cas", b"k").unwrap(), Some(b"1".to_vec()));
}
