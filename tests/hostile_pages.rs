//! Guards against pages whose checksum is right but whose content is wrong
//! (a writer bug, or someone who recomputed the CRC): reads, writes and WAL
//! replay must report `Corruption` naming the damaged page, never panic or
//! fault, never free a page the reference does not own, never put a page id
//! past the file into the freelist; and the other trees stay as written.
//! Every case runs with checksum verification on and off.

mod common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::TestDb;
use oakmap::inspect::{CellView, RawDb, TreeFields};
use oakmap::{Db, Error, Options};

const P: usize = 4096;
/// Every 50th key of tree `t` has a value in a 2-page overflow run.
const OVERFLOW_VALUE_BYTES: usize = 6000;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Options for opening a damaged file. Those opens give plain `Db`s: each
/// case damages the file on purpose, and asserts that the check finds it.
fn options(verify: bool) -> Options {
    Options::new()
        .verify_checksums(verify)
        .checkpoint_interval(Duration::from_secs(3600))
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

/// Tree `t` (600 keys, two levels, some overflow values) and tree `victim`
/// (300 keys, two levels), over a few commits so the freelist has pages.
/// Closed cleanly: the file's newest checkpoint holds everything. Returns
/// the victim's contents.
fn build(path: &Path) -> Model {
    let db = TestDb::open(path);
    let mut rng = common::Rng(7);
    let mut victim = Model::new();
    for round in 0..3u32 {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("t").unwrap();
        for i in (round..600).step_by(3) {
            let len = if i % 50 == 0 {
                OVERFLOW_VALUE_BYTES
            } else {
                100
            };
            t.insert(&key(i), &rng.bytes(len)).unwrap();
        }
        let mut v = tx.open_tree("victim").unwrap();
        for i in (round..300).step_by(3) {
            let (k, val) = (format!("v-{i:04}").into_bytes(), rng.bytes(120));
            v.insert(&k, &val).unwrap();
            victim.insert(k, val);
        }
        tx.commit().unwrap();
    }
    drop(db);
    victim
}

fn scratch(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

fn get_u16(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Reads `pages` pages from page `id`, lets `edit` change them, recomputes
/// the checksum (CRC-32 of bytes 4.. to the end, little-endian in bytes 0..4;
/// format.md §3) and writes them back: damage no checksum can see.
fn rewrite(path: &Path, id: u64, pages: usize, edit: impl FnOnce(&mut [u8])) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = vec![0u8; pages * P];
    f.read_exact_at(&mut b, id * P as u64).unwrap();
    edit(&mut b);
    let crc = crc32fast::hash(&b[4..]);
    b[..4].copy_from_slice(&crc.to_le_bytes());
    f.write_all_at(&b, id * P as u64).unwrap();
}

/// The offset of leaf or branch cell `i` (format.md §4: slot array at 32).
fn slot(b: &[u8], i: usize) -> usize {
    get_u16(b, 32 + 2 * i)
}

/// The index of the leaf cell holding `key` in page bytes `b`.
fn leaf_cell_index(b: &[u8], key: &[u8]) -> usize {
    let count = get_u16(b, 6);
    (0..count)
        .find(|&i| {
            let off = slot(b, i);
            let key_len = get_u16(b, off);
            &b[off + 7..off + 7 + key_len] == key
        })
        .expect("key in leaf")
}

fn tree_desc(raw: &RawDb, name: &str) -> TreeFields {
    let trees = raw.trees().unwrap();
    trees.into_iter().find(|(n, _)| n == name).unwrap().1
}

/// The newest checkpoint's page count.
fn page_count(path: &Path) -> u64 {
    RawDb::open(path).unwrap().newest_meta().unwrap().page_count
}

/// The leaf of tree `name` that holds `key`, in the newest checkpoint.
fn leaf_holding(path: &Path, name: &str, key: &[u8]) -> u64 {
    let raw = RawDb::open(path).unwrap();
    let desc = tree_desc(&raw, name);
    for page in raw.tree_pages(&desc).into_iter().filter(|p| p.leaf) {
        let view = raw.page(page.id).unwrap();
        let holds = view.cells.iter().any(|c| match c {
            CellView::Inline { key: k, .. } | CellView::Overflow { key: k, .. } => k == key,
            CellView::Branch { .. } => false,
        });
        if holds {
            return page.id;
        }
    }
    panic!("no leaf of {name} holds {key:?}");
}

fn assert_corrupt<T: std::fmt::Debug>(got: Result<T, Error>, page: u64, what: &str) {
    match got {
        Err(Error::Corruption { page: p, reason }) => {
            assert_eq!(
                p, page,
                "{what}: corruption named the wrong page ({reason})"
            )
        }
        other => {
            let mut got = format!("{other:?}");
            got.truncate(200);
            panic!("{what}: expected corruption in page {page}, got {got}")
        }
    }
}

/// Reads `t` every way: a lookup of `key`, and full walks both ways. Each
/// must report corruption in `page`.
fn assert_reads_corrupt(db: &Db, key: &[u8], page: u64) {
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().expect("tree t");
    assert_corrupt(t.get(key), page, "get");
    let forward: Result<Vec<_>, Error> = t.iter().and_then(|it| it.collect());
    assert_corrupt(forward.map(|v| v.len()), page, "iter");
    let backward: Result<Vec<_>, Error> = t.iter().and_then(|it| it.rev().collect());
    assert_corrupt(backward.map(|v| v.len()), page, "iter().rev()");
}

/// Writes that reach `key`: remove, replace, and deleting the tree; and,
/// when the damage is in `key`'s leaf itself (`leaf_damaged`), inserting a
/// key next to it. Each must fail with corruption in `page`.
fn assert_writes_corrupt(db: &Db, key: &[u8], page: u64, leaf_damaged: bool) {
    assert_corrupt(db.remove("t", key), page, "remove");
    assert_corrupt(db.insert("t", key, b"new"), page, "replace");
    if leaf_damaged {
        let mut near = key.to_vec();
        near.push(b'+');
        assert_corrupt(db.insert("t", &near, b"new"), page, "insert");
    }
    let mut tx = db.begin_write().unwrap();
    assert_corrupt(tx.delete_tree("t"), page, "delete_tree");
}

/// Enough writes to another tree that any page wrongly freed above would be
/// reused, then checks the victim reads back exactly as written.
fn assert_victim_intact(db: &Db, victim: &Model) {
    for round in 0..3u32 {
        let mut tx = db.begin_write().unwrap();
        let mut f = tx.open_tree("filler").unwrap();
        for i in 0..400u32 {
            f.insert(format!("f-{round}-{i:04}").as_bytes(), &[round as u8; 300])
                .unwrap();
        }
        tx.commit().unwrap();
        db.checkpoint().unwrap();
    }
    assert_eq!(&common::entries(&db.begin_read(), "victim"), victim);
}

/// The integrity check finds the damage, in `page`.
fn assert_check_names(db: &Db, page: u64) {
    let report = db.check().unwrap();
    assert!(
        report.problems.iter().any(|p| p.page == page),
        "check does not name page {page}:\n{report}"
    );
}

fn for_both(case: impl Fn(bool)) {
    for verify in [true, false] {
        case(verify);
    }
}

#[test]
fn leaf_data_start_at_page_end() {
    for_both(|verify| {
        let (_dir, path) = scratch("ds.oak");
        let victim = build(&path);
        let k = key(100);
        let leaf = leaf_holding(&path, "t", &k);
        rewrite(&path, leaf, 1, |b| put_u32(b, 24, P as u32));
        let db = options(verify).open(&path).unwrap();
        assert_reads_corrupt(&db, &k, leaf);
        assert_writes_corrupt(&db, &k, leaf, true);
        assert_check_names(&db, leaf);
        assert_victim_intact(&db, &victim);
    });
}

#[test]
fn leaf_data_start_at_page_end_during_wal_replay() {
    for_both(|verify| {
        let (dir, path) = scratch("replay.oak");
        build(&path);
        let db = TestDb::with_options(options(verify), &path);
        // Commits after the checkpoint that change the leaf holding key 100:
        // only the log has them.
        db.remove("t", &key(100)).unwrap();
        db.insert("t", &key(101), b"changed").unwrap();
        db.insert("t", b"key-00100+", b"added").unwrap();
        let crash = dir.path().join("crash.oak");
        common::copy_db(&path, &crash);
        drop(db);
        let leaf = leaf_holding(&crash, "t", &key(101));
        rewrite(&crash, leaf, 1, |b| put_u32(b, 24, P as u32));
        assert_corrupt(
            options(verify).open(&crash).map(|_| ()),
            leaf,
            "open replaying the log",
        );
    });
}

/// The leaf holding overflow key `k` with its overflow reference rewritten
/// to `page` (the length stays), and that leaf's id.
fn redirect_overflow(path: &Path, k: &[u8], page: u64) -> u64 {
    let leaf = leaf_holding(path, "t", k);
    rewrite(path, leaf, 1, |b| {
        let off = slot(b, leaf_cell_index(b, k));
        assert_eq!(b[off + 6] & 1, 1, "key has an overflow value");
        let key_len = get_u16(b, off);
        put_u64(b, off + 7 + key_len, page);
    });
    leaf
}

#[test]
fn overflow_reference_past_the_end_of_the_file() {
    for_both(|verify| {
        let (_dir, path) = scratch("past.oak");
        let victim = build(&path);
        let k = key(150);
        // Past the file's last page, but well inside the 1 GiB mapping: read
        // through the mapping, it would be a SIGBUS.
        let page_count_before = page_count(&path);
        let leaf = redirect_overflow(&path, &k, page_count_before + 10);
        let db = options(verify).open(&path).unwrap();
        assert_reads_corrupt(&db, &k, leaf);
        assert_writes_corrupt(&db, &k, leaf, true);
        assert_check_names(&db, leaf);
        assert_victim_intact(&db, &victim);
        // The file has grown past the reference, so it is in range now: it
        // names a page of another tree, which is no overflow run.
        assert!(page_count(&path) > page_count_before + 12);
        assert!(db.get("t", &k).unwrap_err().is_corruption());
        assert_writes_corrupt(&db, &k, page_count_before + 10, false);
    });
}

#[test]
fn overflow_run_crossing_the_end_puts_nothing_past_it_in_the_freelist() {
    for_both(|verify| {
        let (_dir, path) = scratch("cross.oak");
        let victim = build(&path);
        let k = key(200);
        // The run's first page is the last page of the file; its second is not.
        let leaf = redirect_overflow(&path, &k, page_count(&path) - 1);
        let db = options(verify).open(&path).unwrap();
        assert_writes_corrupt(&db, &k, leaf, true);
        assert_check_names(&db, leaf);
        assert_victim_intact(&db, &victim);
        drop(db);
        let db = options(verify).open(&path).unwrap();
        let raw = RawDb::open(&path).unwrap();
        let freelist = raw.freelist();
        let pages = page_count(&path);
        assert!(freelist.problem.is_none(), "{:?}", freelist.problem);
        assert!(freelist.ids.iter().all(|&id| (3..pages).contains(&id)));
        assert_eq!(&common::entries(&db.begin_read(), "victim"), &victim);
        // The file grew past the reference meanwhile, so the check now finds
        // it naming a page of another tree.
        assert!(!db.check().unwrap().is_clean());
    });
}

#[test]
fn overflow_reference_to_a_live_leaf_of_another_tree() {
    for_both(|verify| {
        let (_dir, path) = scratch("alias.oak");
        let victim = build(&path);
        let raw = RawDb::open(&path).unwrap();
        let pages = page_count(&path);
        // A victim leaf followed by a page in the file, so the 2-page run
        // the reference claims lies inside the file.
        let target = raw
            .tree_pages(&tree_desc(&raw, "victim"))
            .into_iter()
            .filter(|p| p.leaf && p.id + 2 <= pages)
            .map(|p| p.id)
            .next()
            .expect("a victim leaf");
        drop(raw);
        let k = key(250);
        redirect_overflow(&path, &k, target);
        let db = options(verify).open(&path).unwrap();
        assert_reads_corrupt(&db, &k, target);
        // Replacing, removing or dropping must not free the victim's leaf.
        assert_writes_corrupt(&db, &k, target, false);
        assert_check_names(&db, target);
        assert_victim_intact(&db, &victim);
    });
}

/// Recovery reads the freelist at open; the page holding the bad id is the
/// one named. (Recovery's own loop refused an entry past the end before
/// pages were validated; a `next` past it was named by the id it held.)
#[test]
fn freelist_entry_or_next_past_page_count() {
    for_both(|verify| {
        for field in ["entry", "next"] {
            let (_dir, path) = scratch("free.oak");
            build(&path);
            let pages = page_count(&path);
            let head = RawDb::open(&path).unwrap().freelist().pages[0];
            rewrite(&path, head, 1, |b| match field {
                "entry" => {
                    assert!(get_u16(b, 6) > 0, "freelist page lists ids");
                    put_u64(b, 32, pages + 5);
                }
                _ => put_u64(b, 24, pages + 5),
            });
            assert_corrupt(
                options(verify).open(&path).map(|_| ()),
                head,
                &format!("open with a freelist {field} past the file"),
            );
        }
    });
}

#[test]
fn freelist_listing_a_page_twice_or_its_own_page() {
    for_both(|verify| {
        for field in ["twice", "itself"] {
            let (_dir, path) = scratch("free.oak");
            build(&path);
            let head = RawDb::open(&path).unwrap().freelist().pages[0];
            rewrite(&path, head, 1, |b| {
                assert!(get_u16(b, 6) > 1, "freelist page lists two ids");
                let first = u64::from_le_bytes(b[32..40].try_into().unwrap());
                put_u64(b, 40, if field == "twice" { first } else { head });
            });
            let got = options(verify).open(&path).map(|_| ());
            assert!(
                matches!(got, Err(Error::Corruption { .. })),
                "open with a freelist listing a page {field}: {got:?}"
            );
        }
    });
}

#[test]
fn tree_length_zero_or_max_on_a_non_empty_tree() {
    for_both(|verify| {
        for (len, op) in [(0u64, "remove"), (u64::MAX, "insert")] {
            let (_dir, path) = scratch("len.oak");
            let victim = build(&path);
            let raw = RawDb::open(&path).unwrap();
            let root = tree_desc(&raw, "t").root;
            let catalog = raw.newest_meta().unwrap().catalog;
            drop(raw);
            assert_eq!(catalog.depth, 1, "the catalog is one leaf");
            rewrite(&path, catalog.root, 1, |b| {
                // The value of catalog entry "t": a tree descriptor (format.md
                // §2), whose len is at bytes 8..16.
                let off = slot(b, leaf_cell_index(b, b"t"));
                put_u64(b, off + 7 + 1 + 8, len);
            });
            let db = options(verify).open(&path).unwrap();
            let got = match op {
                "remove" => db.remove("t", &key(300)),
                _ => db.insert("t", b"key-new", b"v"),
            };
            assert_corrupt(got, root, op);
            assert_victim_intact(&db, &victim);
        }
    });
}

#[test]
fn branch_child_out_of_range() {
    for_both(|verify| {
        for bad_child in [0u64, 1, page_count_after_build() + 3, u64::MAX] {
            let (_dir, path) = scratch("child.oak");
            let victim = build(&path);
            let raw = RawDb::open(&path).unwrap();
            let desc = tree_desc(&raw, "t");
            drop(raw);
            assert_eq!(desc.depth, 2, "t is a root branch over leaves");
            let root = desc.root;
            let mut routed = Vec::new();
            rewrite(&path, root, 1, |b| {
                let off = slot(b, 1);
                put_u64(b, off + 2, bad_child);
                let key_len = get_u16(b, off);
                routed = b[off + 10..off + 10 + key_len].to_vec();
            });
            let db = options(verify).open(&path).unwrap();
            assert_reads_corrupt(&db, &routed, root);
            assert_corrupt(db.insert("t", &routed, b"v"), root, "insert");
            assert_corrupt(db.remove("t", &key(0)), root, "remove");
            assert_check_names(&db, root);
            assert_victim_intact(&db, &victim);
        }
    });
}

/// The page count `build` leaves (the same every time: it is deterministic).
fn page_count_after_build() -> u64 {
    let (_dir, path) = scratch("count.oak");
    build(&path);
    page_count(&path)
}

#[test]
fn keys_out_of_order_in_a_leaf() {
    for_both(|verify| {
        let (_dir, path) = scratch("order.oak");
        let victim = build(&path);
        let k = key(400);
        let leaf = leaf_holding(&path, "t", &k);
        rewrite(&path, leaf, 1, |b| {
            let i = leaf_cell_index(b, &k);
            let j = if i + 1 < get_u16(b, 6) { i + 1 } else { i - 1 };
            let (a, c) = (32 + 2 * i, 32 + 2 * j);
            let (x, y) = (slot(b, i), slot(b, j));
            b[a..a + 2].copy_from_slice(&(y as u16).to_le_bytes());
            b[c..c + 2].copy_from_slice(&(x as u16).to_le_bytes());
        });
        let db = options(verify).open(&path).unwrap();
        assert_reads_corrupt(&db, &k, leaf);
        assert_writes_corrupt(&db, &k, leaf, true);
        assert_check_names(&db, leaf);
        assert_victim_intact(&db, &victim);
    });
}
