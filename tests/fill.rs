//! Guards how full the tree's pages stay: a load in key order (ascending or
//! descending) leaves pages nearly full, random inserts keep balanced splits,
//! and removals merge or even out underfull pages, so deleting most keys at
//! random gives pages back and removing them all leaves an empty tree. Every
//! case reads back against a `BTreeMap` and ends with the integrity check.

mod common;

use std::collections::BTreeMap;

use common::{Rng, TestDb};
use oakmap::inspect::{RawDb, TreePage};
use oakmap::{Db, Durability, Options};

/// The workload of the issue, scaled down: 24-byte keys, 150-byte values.
const VALUE_BYTES: usize = 150;

fn open() -> TestDb {
    TestDb::temp(Options::new().durability(Durability::None))
}

/// Key `i`: ascending with `i`, its tail varied so keys share no long prefix
/// past the counter.
fn key(i: u64) -> Vec<u8> {
    let mut k = vec![0u8; 24];
    k[..8].copy_from_slice(&i.to_be_bytes());
    k[8..16].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    k
}

fn shuffled(n: u64, rng: &mut Rng) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v
}

/// Inserts `key(i)` for each `i` of `order`, 1,000 to a commit, mirroring
/// into `model`.
fn load(db: &Db, order: &[u64], model: &mut BTreeMap<Vec<u8>, Vec<u8>>, rng: &mut Rng) {
    for chunk in order.chunks(1000) {
        let mut tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_tree("t").unwrap();
            for &i in chunk {
                let v = rng.bytes(VALUE_BYTES);
                t.insert(&key(i), &v).unwrap();
                model.insert(key(i), v);
            }
        }
        tx.commit().unwrap();
    }
}

/// Removes `key(i)` for each `i` of `order`, 1,000 to a commit.
fn unload(db: &Db, order: &[u64], model: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
    for chunk in order.chunks(1000) {
        let mut tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_tree("t").unwrap();
            for &i in chunk {
                assert!(t.remove(&key(i)).unwrap(), "key {i} was present");
                model.remove(&key(i));
            }
        }
        tx.commit().unwrap();
    }
}

fn assert_matches(db: &Db, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let rx = db.begin_read();
    assert_eq!(&common::entries(&rx, "t"), model);
}

/// The pages of tree "t" in the last checkpoint, level by level, each level
/// in key order.
fn levels(db: &Db) -> Vec<Vec<TreePage>> {
    db.checkpoint().unwrap();
    let raw = RawDb::open(db.path()).unwrap();
    let (_, tree) = raw
        .trees()
        .unwrap()
        .into_iter()
        .find(|(name, _)| name == "t")
        .expect("tree t");
    let mut levels: Vec<Vec<TreePage>> = vec![Vec::new(); tree.depth as usize];
    // The walk is depth first, so each level's pages come in key order.
    for page in raw.tree_pages(&tree) {
        assert!(page.problem.is_none(), "{page:?}");
        levels[page.level as usize].push(page);
    }
    levels
}

/// Fill factor over every branch and leaf page, as `oakmap stats` prints it.
fn fill(db: &Db) -> f64 {
    let r = db.check().unwrap();
    r.node_bytes_used as f64 / r.node_bytes_total as f64
}

fn leaf_pages(db: &Db) -> u64 {
    db.check().unwrap().leaf_pages
}

/// A load in key order fills every page but the one it is still appending
/// to, on every level: the split keeps all it can in the old page. Both
/// directions, 20,000 entries (~900 leaves, a root over several branches).
#[test]
fn loads_in_key_order_fill_pages() {
    for descending in [false, true] {
        let db = open();
        let mut rng = Rng(1);
        let mut model = BTreeMap::new();
        let mut order: Vec<u64> = (0..20_000).collect();
        if descending {
            order.reverse();
        }
        load(&db, &order, &mut model, &mut rng);
        assert_matches(&db, &model);
        let levels = levels(&db);
        assert!(levels.len() >= 3, "a root over branches over leaves");
        for level in &levels[1..] {
            // The page still being filled is the last one (ascending) or the
            // first (descending).
            let filled = if descending {
                &level[1..]
            } else {
                &level[..level.len() - 1]
            };
            for page in filled {
                assert!(
                    page.fill >= 0.9,
                    "descending {descending}: page {} at level {} is {:.0}% full",
                    page.id,
                    page.level,
                    page.fill * 100.0
                );
            }
        }
        // Over the whole file too (the catalog's leaf and the roots count).
        assert!(fill(&db) >= 0.9, "fill {:.3}", fill(&db));
    }
}

/// Random inserts split pages in halves: every leaf holds at least about half
/// a page's bytes (a split's halves are each within one entry of half of a
/// page and one entry, 47%), but for the rare random insert that lands past
/// every key of its parent's last leaf, which is cut as an append would be.
#[test]
fn random_inserts_split_in_halves() {
    let db = open();
    let mut rng = Rng(2);
    let mut model = BTreeMap::new();
    let order = shuffled(20_000, &mut rng);
    load(&db, &order, &mut model, &mut rng);
    assert_matches(&db, &model);
    let levels = levels(&db);
    let leaves = levels.last().unwrap();
    let thin = leaves.iter().filter(|p| p.fill < 0.45).count();
    assert!(
        thin * 100 <= leaves.len(),
        "{thin} of {} leaves under 45% full",
        leaves.len()
    );
    let f = fill(&db);
    assert!((0.6..0.85).contains(&f), "fill {f:.3}");
}

/// Deleting 90% of the keys at random: a leaf that falls under a third of a
/// page is merged with a neighbour, or evened out with one too full to merge
/// with, so pages end between a third and all full (56% on average at
/// 200,000 entries; without merges under a third it was 44%) and the tree
/// gives its pages back in proportion.
#[test]
fn removing_most_keys_keeps_pages_filled() {
    let db = open();
    let mut rng = Rng(3);
    let mut model = BTreeMap::new();
    let order = shuffled(20_000, &mut rng);
    load(&db, &order, &mut model, &mut rng);
    let leaves_full = leaf_pages(&db);
    let mut doomed = shuffled(20_000, &mut rng);
    doomed.truncate(18_000);
    unload(&db, &doomed, &mut model);
    assert_matches(&db, &model);
    let f = fill(&db);
    assert!(f >= 0.45, "fill {f:.3} after removing 90%");
    // A tenth of the data at (at least) 45% rather than ~70% full: under a
    // sixth of the leaves.
    let leaves_after = leaf_pages(&db);
    assert!(
        leaves_after * 6 <= leaves_full,
        "{leaves_after} leaves left of {leaves_full}"
    );
    let levels = levels(&db);
    let leaves = levels.last().unwrap();
    let thin = leaves.iter().filter(|p| p.fill < 0.25).count();
    assert!(
        thin * 100 <= leaves.len(),
        "{thin} of {} leaves under a quarter full",
        leaves.len()
    );
}

/// A hole punched among full pages: a leaf emptied but for one key has full
/// neighbours it cannot merge with, so it takes cells from one of them
/// instead of staying a one-entry page.
#[test]
fn hole_among_full_pages_is_evened_out() {
    let db = open();
    let mut rng = Rng(4);
    let mut model = BTreeMap::new();
    let order: Vec<u64> = (0..5_000).collect();
    load(&db, &order, &mut model, &mut rng);
    let levels = levels(&db);
    let leaves = levels.last().unwrap();
    // A leaf in the middle, its neighbours full (the ascending load).
    let mid = &leaves[leaves.len() / 2];
    assert!(mid.fill >= 0.9, "{mid:?}");
    let first = model.keys().position(|k| Some(k) == mid.first_key.as_ref());
    let last = model.keys().position(|k| Some(k) == mid.last_key.as_ref());
    let (first, last) = (first.unwrap() as u64, last.unwrap() as u64);
    assert!(last - first >= 10, "{mid:?}");
    let doomed: Vec<u64> = (first + 1..=last).collect();
    unload(&db, &doomed, &mut model);
    assert_matches(&db, &model);
    let levels = self::levels(&db);
    let leaves = levels.last().unwrap();
    for page in &leaves[..leaves.len() - 1] {
        assert!(
            page.fill >= 0.3,
            "page {} is {:.0}% full",
            page.id,
            page.fill * 100.0
        );
    }
}

/// Removing every key, in random order over many commits, leaves an empty
/// tree: no leaf, no branch, no overflow run of it left.
#[test]
fn removing_every_key_leaves_an_empty_tree() {
    let db = open();
    let mut rng = Rng(5);
    let mut model = BTreeMap::new();
    let order = shuffled(10_000, &mut rng);
    load(&db, &order, &mut model, &mut rng);
    let big = 20_000usize;
    let mut tx = db.begin_write().unwrap();
    {
        let mut t = tx.open_tree("t").unwrap();
        for i in (0..10_000).step_by(97) {
            t.insert(&key(i), &vec![i as u8; big]).unwrap();
        }
    }
    tx.commit().unwrap();
    let before = db.check().unwrap();
    assert!(before.overflow_pages > 0, "{before:?}");
    let doomed = shuffled(10_000, &mut rng);
    unload(&db, &doomed, &mut model);
    assert!(model.is_empty());
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().expect("the tree itself stays");
    assert_eq!(t.len(), 0);
    assert!(t.iter().unwrap().next().is_none());
    drop(rx);
    let r = db.check().unwrap();
    let tree = r.tree_summaries.iter().find(|s| s.name == "t").unwrap();
    assert_eq!(tree.depth, 0, "{r:?}");
    assert_eq!(r.overflow_pages, 0, "{r:?}");
    // What is left is the catalog: one leaf naming the empty tree.
    assert_eq!((r.branch_pages, r.leaf_pages), (0, 1), "{r:?}");
}

/// Values of every size, from empty to overflow runs, and keys from a few
/// bytes to the limit with long shared prefixes (so separators are long and
/// branches hold few cells): inserted at random, then 90% removed at random,
/// against the model, with the check after each phase.
#[test]
fn mixed_sizes_split_and_merge() {
    let db = open();
    let mut rng = Rng(6);
    let key_max = oakmap::key_bytes_max(db.page_bytes());
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut keys = Vec::new();
    for i in 0..3_000u64 {
        let mut k = match i % 3 {
            0 => vec![b'a'; 4],
            1 => vec![b'm'; 200 + rng.below(400) as usize],
            _ => vec![b'z'; key_max - 8],
        };
        k.extend_from_slice(&rng.next().to_be_bytes());
        k.truncate(key_max);
        keys.push(k);
    }
    for chunk in keys.chunks(200) {
        let mut tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_tree("t").unwrap();
            for k in chunk {
                let v = match rng.below(10) {
                    0 => vec![7u8; 5_000 + rng.below(20_000) as usize],
                    1 => Vec::new(),
                    _ => {
                        let n = rng.below(300) as usize;
                        rng.bytes(n)
                    }
                };
                t.insert(k, &v).unwrap();
                model.insert(k.clone(), v);
            }
        }
        tx.commit().unwrap();
    }
    assert_matches(&db, &model);
    common::assert_clean(&db);
    let order = shuffled(keys.len() as u64, &mut rng);
    for chunk in order[..keys.len() * 9 / 10].chunks(100) {
        let mut tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_tree("t").unwrap();
            for &i in chunk {
                let k = &keys[i as usize];
                assert_eq!(t.remove(k).unwrap(), model.remove(k).is_some());
            }
        }
        tx.commit().unwrap();
    }
    assert_matches(&db, &model);
}
