//! Guards the tree against a model: random sequences of insert, remove, get,
//! range (both directions), prefix, len, commit, abort, compaction, reopen and tree deletion over
//! several trees, with keys and values of every size up to the limits, must
//! read back exactly what a `BTreeMap` says, and every state must pass check,
//! while checkpoints and cache spills happen underneath.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use common::TestDb;
use oakmap::{Db, Durability, Options};
use proptest::prelude::*;

type Model = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, Vec<u8>, Vec<u8>),
    Remove(u8, Vec<u8>),
    Get(u8, Vec<u8>),
    Range(u8, Vec<u8>, Vec<u8>, bool, bool),
    Len(u8),
    Prefix(u8, Vec<u8>),
    DeleteTree(u8),
    Commit,
    Abort,
    /// Gives up the open transaction and compacts (packing leaves).
    Compact,
    Reopen,
}

fn tree_name(t: u8) -> String {
    format!("tree-{t}")
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), any::<u8>()], 0..6),
        2 => proptest::collection::vec(any::<u8>(), 6..64),
        1 => proptest::collection::vec(any::<u8>(), 900..=oakmap::key_bytes_max(4096)),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        10 => proptest::collection::vec(any::<u8>(), 0..40),
        4 => proptest::collection::vec(any::<u8>(), 100..1300),
        2 => (1400usize..20_000).prop_map(|n| vec![(n % 251) as u8; n]),
        1 => (60_000usize..300_000).prop_map(|n| (0..n).map(|i| (i * 7 + n) as u8).collect()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0u8..3;
    prop_oneof![
        30 => (t.clone(), key(), value()).prop_map(|(t, k, v)| Op::Insert(t, k, v)),
        12 => (t.clone(), key()).prop_map(|(t, k)| Op::Remove(t, k)),
        8 => (t.clone(), key()).prop_map(|(t, k)| Op::Get(t, k)),
        4 => (t.clone(), key(), key(), any::<bool>(), any::<bool>()).prop_map(|(t, a, b, r, x)| Op::Range(t, a, b, r, x)),
        2 => t.clone().prop_map(Op::Len),
        2 => (t.clone(), proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..3)).prop_map(|(t, p)| Op::Prefix(t, p)),
        1 => t.prop_map(Op::DeleteTree),
        4 => Just(Op::Commit),
        1 => Just(Op::Abort),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

/// A small WAL bound and the smallest cache, so that checkpoints (in the
/// background, by back-pressure, and for transactions too large to log) and
/// cache spills all happen during the model run.
fn open(path: &std::path::Path, page_bytes: usize) -> TestDb {
    let options = Options::new()
        .page_bytes(page_bytes)
        .durability(Durability::None)
        .wal_bytes_max(64 << 10)
        .cache_bytes(0);
    TestDb::with_options(options, path)
}

fn model_range(
    m: &BTreeMap<Vec<u8>, Vec<u8>>,
    lo: &[u8],
    hi: &[u8],
    excl: bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    if lo > hi || (excl && lo == hi) {
        return Vec::new();
    }
    let end = if excl {
        Bound::Excluded(hi.to_vec())
    } else {
        Bound::Included(hi.to_vec())
    };
    m.range((Bound::Included(lo.to_vec()), end))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Applies `ops` to a fresh database and the model, comparing as it goes.
fn run(ops: &[Op], page_bytes: usize) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.oak");
    let mut committed: Model = BTreeMap::new();
    let mut i = 0;
    'db: loop {
        let db = open(&path, page_bytes);
        common::assert_clean(&db);
        verify_all(&db, &committed)?;
        loop {
            let mut tx = db.begin_write().unwrap();
            let mut work = committed.clone();
            loop {
                let Some(op) = ops.get(i) else {
                    drop(tx);
                    verify_all(&db, &committed)?;
                    return Ok(()); // dropping `db` checks it
                };
                i += 1;
                match op {
                    Op::Insert(t, k, v) => {
                        let existed = tx.open_tree(&tree_name(*t)).unwrap().insert(k, v).unwrap();
                        let m = work.entry(tree_name(*t)).or_default();
                        prop_assert_eq!(existed, m.insert(k.clone(), v.clone()).is_some());
                    }
                    Op::Remove(t, k) => {
                        let removed = tx.open_tree(&tree_name(*t)).unwrap().remove(k).unwrap();
                        let m = work.entry(tree_name(*t)).or_default();
                        prop_assert_eq!(removed, m.remove(k).is_some());
                    }
                    Op::Get(t, k) => {
                        let tree = tx.open_tree(&tree_name(*t)).unwrap();
                        let m = work.entry(tree_name(*t)).or_default();
                        prop_assert_eq!(tree.get(k).unwrap(), m.get(k).map(Vec::as_slice));
                    }
                    Op::Range(t, a, b, rev, excl) => {
                        let tree = tx.open_tree(&tree_name(*t)).unwrap();
                        let m = work.entry(tree_name(*t)).or_default();
                        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                        let mut want = model_range(m, lo, hi, *excl);
                        let r = if *excl {
                            tree.range(lo.as_slice()..hi.as_slice()).unwrap()
                        } else {
                            tree.range(lo.as_slice()..=hi.as_slice()).unwrap()
                        };
                        let got: Vec<(Vec<u8>, Vec<u8>)> = if *rev {
                            want.reverse();
                            r.rev()
                                .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                                .collect()
                        } else {
                            r.map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                                .collect()
                        };
                        prop_assert_eq!(got, want);
                    }
                    Op::Len(t) => {
                        let tree = tx.open_tree(&tree_name(*t)).unwrap();
                        let m = work.entry(tree_name(*t)).or_default();
                        prop_assert_eq!(tree.len().unwrap(), m.len() as u64);
                    }
                    Op::Prefix(t, p) => {
                        let tree = tx.open_tree(&tree_name(*t)).unwrap();
                        let m = work.entry(tree_name(*t)).or_default();
                        let want: Vec<Vec<u8>> =
                            m.keys().filter(|k| k.starts_with(p)).cloned().collect();
                        let got: Vec<Vec<u8>> = tree
                            .prefix(p)
                            .unwrap()
                            .map(|e| e.unwrap().0.to_vec())
                            .collect();
                        prop_assert_eq!(got, want);
                    }
                    Op::DeleteTree(t) => {
                        let existed = tx.delete_tree(&tree_name(*t)).unwrap();
                        prop_assert_eq!(existed, work.remove(&tree_name(*t)).is_some());
                    }
                    Op::Commit => {
                        tx.commit().unwrap();
                        committed = work;
                        common::assert_clean(&db);
                        break;
                    }
                    Op::Abort => {
                        drop(tx);
                        verify_all(&db, &committed)?;
                        break;
                    }
                    Op::Compact => {
                        drop(tx);
                        let done = db.compact().unwrap();
                        prop_assert!(!done.pinned, "nothing pins: {:?}", done);
                        common::assert_clean(&db);
                        verify_all(&db, &committed)?;
                        break;
                    }
                    Op::Reopen => {
                        drop(tx);
                        drop(db);
                        continue 'db;
                    }
                }
            }
        }
    }
}

/// Reads every tree of the newest snapshot both ways and compares with the model.
fn verify_all(db: &Db, model: &Model) -> Result<(), TestCaseError> {
    let rx = db.begin_read();
    let names: Vec<String> = model.keys().cloned().collect();
    prop_assert_eq!(rx.list_trees().unwrap(), names);
    for (name, m) in model {
        let t = rx.tree(name).unwrap().expect("tree in model exists");
        prop_assert_eq!(t.len(), m.len() as u64);
        let fwd: Vec<(Vec<u8>, Vec<u8>)> = t
            .iter()
            .unwrap()
            .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        prop_assert_eq!(&fwd, &want);
        let back = t.iter().unwrap().rev().count();
        prop_assert_eq!(back, m.len());
        prop_assert_eq!(
            t.first().unwrap().map(|(k, _)| k.to_vec()),
            m.keys().next().cloned()
        );
        prop_assert_eq!(
            t.last().unwrap().map(|(k, _)| k.to_vec()),
            m.keys().next_back().cloned()
        );
    }
    Ok(())
}

proptest! {
    // 48 cases of up to 2,500 operations: over 100,000 operations per run.
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn matches_btreemap(ops in proptest::collection::vec(op(), 2000..2500)) {
        run(&ops, 4096)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn matches_btreemap_with_large_pages(ops in proptest::collection::vec(op(), 1000..1500), big in any::<bool>()) {
        run(&ops, if big { 65536 } else { 8192 })?;
    }
}

/// Many keys in a few trees, so trees get several levels deep and shrink back.
#[test]
fn deep_trees_grow_and_shrink() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir.path().join("deep.oak"), 4096);
    let mut rng = common::Rng(7);
    let mut model = BTreeMap::new();
    for round in 0..6 {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("t").unwrap();
        for _ in 0..20_000 {
            let klen = 1 + rng.below(40) as usize;
            let k = rng.bytes(klen);
            let vlen = rng.below(200) as usize;
            let v = rng.bytes(vlen);
            t.insert(&k, &v).unwrap();
            model.insert(k, v);
        }
        let victims: Vec<Vec<u8>> = model
            .keys()
            .filter(|_| rng.below(10) < 7)
            .cloned()
            .collect();
        for k in victims {
            assert!(t.remove(&k).unwrap());
            model.remove(&k);
        }
        assert_eq!(t.len().unwrap(), model.len() as u64, "round {round}");
        tx.commit().unwrap();
        common::assert_clean(&db);
    }
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().unwrap();
    assert!(t.depth() >= 3, "depth {}", t.depth());
    let got: Vec<Vec<u8>> = t.iter().unwrap().map(|e| e.unwrap().0.to_vec()).collect();
    assert_eq!(got, model.keys().cloned().collect::<Vec<_>>());
    drop(rx);
    // Remove everything: the tree must give back all its pages.
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    for k in model.keys() {
        assert!(t.remove(k).unwrap());
    }
    assert_eq!(t.len().unwrap(), 0);
    tx.commit().unwrap();
    common::assert_clean(&db);
    let stats = db.stats().unwrap();
    assert!(stats.cache_spills > 0, "the cache never spilled: {stats:?}");
    assert!(stats.checkpoints > 0, "no checkpoint ran: {stats:?}");
    // Left in use: the catalog's one leaf and the freelist's own pages.
    let freelist_pages = stats.free_pages.div_ceil((4096 - 32) / 8);
    assert_eq!(stats.pages_in_use, 1 + freelist_pages, "{stats:?}");
}
