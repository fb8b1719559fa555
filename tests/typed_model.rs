//! Guards typed trees against a model: random sequences of insert, remove,
//! get, range (every kind of bound, both directions), first, last, len,
//! commit, abort and reopen through a typed tree of `(u32, String)` keys
//! and struct values must read back exactly what a `BTreeMap` of the same
//! types says, and every state must pass check.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use common::TestDb;
use oakmap::typed::{TreeDef, bincode};
use oakmap::{Db, Durability, Options};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[bincode(crate = "oakmap::typed::bincode")]
struct Record {
    count: u64,
    delta: i32,
    tags: Vec<String>,
    note: Option<String>,
    blob: Vec<u8>,
}

type K = (u32, String);
type Model = BTreeMap<K, Record>;

const RECORDS: TreeDef<K, Record> = TreeDef::new("records");

#[derive(Debug, Clone)]
enum Op {
    Insert(K, Record),
    Remove(K),
    Get(K),
    Range(Bound<K>, Bound<K>, bool),
    FirstLast,
    Len,
    Commit,
    Abort,
    Reopen,
}

/// Keys that collide, share prefixes and hold zero bytes often.
fn key() -> impl Strategy<Value = K> {
    let name = prop_oneof![
        6 => proptest::collection::vec(
            prop_oneof![Just('a'), Just('b'), Just('\0'), Just('é')],
            0..4,
        )
        .prop_map(|cs| cs.into_iter().collect::<String>()),
        1 => "[a-z]{10,60}",
    ];
    (prop_oneof![4 => 0u32..4, 1 => any::<u32>()], name)
}

fn record() -> impl Strategy<Value = Record> {
    (
        any::<u64>(),
        any::<i32>(),
        proptest::collection::vec("[a-c]{0,4}", 0..3),
        proptest::option::of("[a-z ]{0,12}"),
        prop_oneof![
            8 => proptest::collection::vec(any::<u8>(), 0..32),
            1 => (1000usize..6000).prop_map(|n| vec![(n % 251) as u8; n]),
        ],
    )
        .prop_map(|(count, delta, tags, note, blob)| Record {
            count,
            delta,
            tags,
            note,
            blob,
        })
}

fn bound() -> impl Strategy<Value = Bound<K>> {
    prop_oneof![
        2 => key().prop_map(Bound::Included),
        2 => key().prop_map(Bound::Excluded),
        1 => Just(Bound::Unbounded),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (key(), record()).prop_map(|(k, v)| Op::Insert(k, v)),
        12 => key().prop_map(Op::Remove),
        8 => key().prop_map(Op::Get),
        5 => (bound(), bound(), any::<bool>()).prop_map(|(a, b, rev)| Op::Range(a, b, rev)),
        2 => Just(Op::FirstLast),
        2 => Just(Op::Len),
        4 => Just(Op::Commit),
        1 => Just(Op::Abort),
        1 => Just(Op::Reopen),
    ]
}

/// A small WAL bound and the smallest cache, so that checkpoints and cache
/// spills happen underneath, as in tests/model.rs.
fn open(path: &std::path::Path) -> TestDb {
    let options = Options::new()
        .durability(Durability::None)
        .wal_bytes_max(64 << 10)
        .cache_bytes(0);
    TestDb::with_options(options, path)
}

/// What a `BTreeMap` gives for the bounds, and nothing where it would
/// panic (start after end, or equal and both excluded).
fn model_range(m: &Model, start: &Bound<K>, end: &Bound<K>) -> Vec<(K, Record)> {
    let key = |b: &Bound<K>| match b {
        Bound::Included(k) | Bound::Excluded(k) => Some(k.clone()),
        Bound::Unbounded => None,
    };
    if let (Some(s), Some(e)) = (key(start), key(end)) {
        let both_excluded =
            matches!(start, Bound::Excluded(_)) && matches!(end, Bound::Excluded(_));
        if s > e || (s == e && both_excluded) {
            return Vec::new();
        }
    }
    m.range((start.clone(), end.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Applies `ops` to a fresh database and the model, comparing as it goes.
fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typed-model.oak");
    let mut committed = Model::new();
    let mut i = 0;
    'db: loop {
        let db = open(&path);
        verify(&db, &committed)?;
        loop {
            let mut tx = db.begin_write().unwrap();
            let mut work = committed.clone();
            loop {
                let Some(op) = ops.get(i) else {
                    drop(tx);
                    return verify(&db, &committed); // dropping `db` checks it
                };
                i += 1;
                let mut t = tx.open_typed(RECORDS).unwrap();
                match op {
                    Op::Insert(k, v) => {
                        // Half the time through the borrowed form of the key.
                        let existed = if k.0 % 2 == 0 {
                            t.insert((k.0, k.1.as_str()), v).unwrap()
                        } else {
                            t.insert(k, v).unwrap()
                        };
                        prop_assert_eq!(existed, work.insert(k.clone(), v.clone()).is_some());
                    }
                    Op::Remove(k) => {
                        let removed = t.remove((k.0, k.1.as_str())).unwrap();
                        prop_assert_eq!(removed, work.remove(k).is_some());
                    }
                    Op::Get(k) => {
                        prop_assert_eq!(t.get(k).unwrap(), work.get(k).cloned());
                    }
                    Op::Range(start, end, rev) => {
                        let mut want = model_range(&work, start, end);
                        let r = t.range((start.clone(), end.clone())).unwrap();
                        let got: Vec<(K, Record)> = if *rev {
                            want.reverse();
                            r.rev().map(Result::unwrap).collect()
                        } else {
                            r.map(Result::unwrap).collect()
                        };
                        prop_assert_eq!(got, want);
                    }
                    Op::FirstLast => {
                        let first = work.first_key_value().map(|(k, v)| (k.clone(), v.clone()));
                        let last = work.last_key_value().map(|(k, v)| (k.clone(), v.clone()));
                        prop_assert_eq!(t.first().unwrap(), first);
                        prop_assert_eq!(t.last().unwrap(), last);
                    }
                    Op::Len => prop_assert_eq!(t.len().unwrap(), work.len() as u64),
                    Op::Commit => {
                        tx.commit().unwrap();
                        committed = work;
                        common::assert_clean(&db);
                        break;
                    }
                    Op::Abort => {
                        drop(tx);
                        verify(&db, &committed)?;
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

/// Reads the whole typed tree of the newest snapshot both ways and
/// compares it with the model.
fn verify(db: &Db, model: &Model) -> Result<(), TestCaseError> {
    let rx = db.begin_read();
    let Some(t) = rx.typed(RECORDS).unwrap() else {
        prop_assert!(model.is_empty());
        return Ok(());
    };
    prop_assert_eq!(t.len(), model.len() as u64);
    let want: Vec<(K, Record)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let fwd: Vec<(K, Record)> = t.iter().unwrap().map(Result::unwrap).collect();
    prop_assert_eq!(&fwd, &want);
    let mut back: Vec<(K, Record)> = t.iter().unwrap().rev().map(Result::unwrap).collect();
    back.reverse();
    prop_assert_eq!(&back, &want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn typed_tree_matches_btreemap(ops in proptest::collection::vec(op(), 500..1500)) {
        run(&ops)?;
    }
}
