//! Guards compaction in place (`Db::compact`): after most keys are deleted
//! the file shrinks and every remaining entry reads back; a snapshot that
//! pins pages stops it cleanly (and stays readable), and a later compaction
//! goes on; concurrent writers lose nothing; the file reopens clean; a
//! thread holding the writer is refused rather than left waiting for itself.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::TestDb;
use oakmap::{Db, Options};

const KEYS: u32 = 20_000;

fn key(i: u32) -> [u8; 4] {
    i.to_be_bytes()
}

/// A value of a few hundred bytes; every 50th is larger than a page, so
/// overflow runs sit in the tail too.
fn value(i: u32, round: u8) -> Vec<u8> {
    let len = if i.is_multiple_of(50) { 9_000 } else { 200 };
    (0..len).map(|j| (i as usize + j) as u8 ^ round).collect()
}

/// Inserts `KEYS` keys, then deletes all but every `keep`th, leaving the
/// survivors spread over the whole file. Returns what should be left.
fn fill_and_thin(db: &Db, keep: u32) -> BTreeMap<u32, Vec<u8>> {
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(2_000) {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("t").unwrap();
        for &i in chunk {
            t.insert(&key(i), &value(i, 0)).unwrap();
        }
        tx.commit().unwrap();
    }
    // A second tree, emptied entirely: its entry in the catalog must move too.
    db.insert("empty", b"x", b"y").unwrap();
    let mut tx = db.begin_write().unwrap();
    tx.open_tree("empty").unwrap().remove(b"x").unwrap();
    let mut t = tx.open_tree("t").unwrap();
    let mut left = BTreeMap::new();
    for i in 0..KEYS {
        if i % keep == 0 {
            left.insert(i, value(i, 0));
        } else {
            t.remove(&key(i)).unwrap();
        }
    }
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    left
}

fn assert_contents(db: &Db, want: &BTreeMap<u32, Vec<u8>>) {
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().expect("tree t");
    let got: BTreeMap<u32, Vec<u8>> = t
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (u32::from_be_bytes(k.try_into().unwrap()), v.to_vec())
        })
        .collect();
    assert_eq!(got.len(), want.len(), "entry count");
    assert!(got == *want, "entries differ after compaction");
    assert_eq!(rx.tree("empty").unwrap().map(|t| t.len()), Some(0));
}

fn file_bytes(db: &Db) -> u64 {
    std::fs::metadata(db.path()).unwrap().len()
}

#[test]
fn compaction_shrinks_the_file_and_keeps_every_entry() {
    let db = TestDb::temp(Options::new());
    let want = fill_and_thin(&db, 37);
    let before = file_bytes(&db);
    let done = db.compact().unwrap();
    assert_eq!(done.bytes_before, before);
    assert_eq!(done.bytes_after, file_bytes(&db));
    assert!(!done.pinned, "nothing pins: {done:?}");
    assert!(done.pages_moved > 0, "{done:?}");
    assert!(
        done.bytes_after * 5 < before,
        "the file went from {before} to {} bytes only ({done:?})",
        done.bytes_after
    );
    assert_contents(&db, &want);
    // Writes go on over the compacted file.
    db.insert("t", &key(1), b"new").unwrap();
    assert_eq!(db.get("t", &key(1)).unwrap(), Some(b"new".to_vec()));
}

#[test]
fn compaction_reopens_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.oak");
    let (want, after) = {
        let db = TestDb::open(&path);
        let want = fill_and_thin(&db, 23);
        let done = db.compact().unwrap();
        assert!(done.bytes_after * 4 < done.bytes_before, "{done:?}");
        // A second compaction finds nothing more to do, and does no harm.
        let again = db.compact().unwrap();
        assert!(again.bytes_after <= done.bytes_after, "{again:?}");
        db.close().unwrap();
        (want, std::fs::metadata(&path).unwrap().len())
    };
    let db = TestDb::open(&path);
    assert_eq!(file_bytes(&db), after, "reopening does not grow the file");
    assert_contents(&db, &want);
}

#[test]
fn a_snapshot_stops_compaction_cleanly_and_a_later_one_goes_on() {
    let db = TestDb::temp(Options::new());
    let want = fill_and_thin(&db, 41);
    // A snapshot of the thinned state: the pages compaction moves away from
    // stay its own.
    let rx = db.begin_read();
    let first = db.compact().unwrap();
    assert!(first.pinned, "the snapshot pins the tail: {first:?}");
    assert!(
        first.bytes_after * 10 > first.bytes_before * 9,
        "the file shrank under a snapshot reading it: {first:?}"
    );
    // The snapshot still reads every entry of its state.
    let t = rx.tree("t").unwrap().unwrap();
    assert_eq!(t.len(), want.len() as u64);
    for (i, v) in &want {
        assert_eq!(t.get(&key(*i)).unwrap(), Some(&v[..]));
    }
    drop(rx);
    let second = db.compact().unwrap();
    assert!(!second.pinned, "{second:?}");
    assert!(
        second.bytes_after * 5 < first.bytes_before,
        "released, the file shrinks: {first:?} then {second:?}"
    );
    assert_contents(&db, &want);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let db = Arc::new(TestDb::temp(Options::new()));
    let want = fill_and_thin(&db, 29);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut written = BTreeMap::new();
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) || n < 200 {
                    let k = format!("w{w}-{n:06}");
                    db.insert("w", k.as_bytes(), &value(n, w as u8)).unwrap();
                    written.insert(k, value(n, w as u8));
                    // Readers come and go meanwhile.
                    let rx = db.begin_read();
                    assert!(!rx.tree("t").unwrap().unwrap().is_empty());
                    n += 1;
                }
                written
            })
        })
        .collect();
    let done = db.compact().unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut all = BTreeMap::new();
    for w in writers {
        all.extend(w.join().unwrap());
    }
    assert!(done.pages_moved > 0, "{done:?}");
    assert_contents(&db, &want);
    let rx = db.begin_read();
    let t = rx.tree("w").unwrap().unwrap();
    assert_eq!(t.len(), all.len() as u64);
    for (k, v) in &all {
        assert_eq!(t.get(k.as_bytes()).unwrap(), Some(&v[..]), "key {k}");
    }
    drop(rx);
    // Quiet now, a second compaction shrinks what the first could not.
    let again = db.compact().unwrap();
    assert!(
        again.bytes_after * 3 < done.bytes_before,
        "{done:?} then {again:?}"
    );
}

#[test]
fn compaction_on_the_thread_holding_the_writer_is_refused() {
    let db = TestDb::temp(Options::new());
    db.insert("t", b"k", b"v").unwrap();
    let tx = db.begin_write().unwrap();
    assert!(matches!(
        db.compact(),
        Err(oakmap::Error::WriteTxnOpenOnThisThread)
    ));
    drop(tx);
    assert!(db.compact().is_ok());
    assert_eq!(db.get("t", b"k").unwrap(), Some(b"v".to_vec()));
}

/// Keys in a scattered order, then every other one removed: leaves left
/// about half full, as a server's random inserts and deletes leave them.
/// Compaction packs them, so the file ends within 5% of the dense copy a
/// backup writes of the same state (in this test: 352 pages to 341), and
/// `check` passes.
#[test]
fn compaction_packs_half_empty_leaves() {
    let db = TestDb::temp(Options::new());
    let scattered = |i: u32| i.wrapping_mul(2_654_435_761).to_be_bytes();
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(2_000) {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("t").unwrap();
        for &i in chunk {
            t.insert(&scattered(i), &[i as u8; 120]).unwrap();
        }
        tx.commit().unwrap();
    }
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    for i in (0..KEYS).step_by(2) {
        t.remove(&scattered(i)).unwrap();
    }
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    let before = db.check().unwrap();
    let fill = |r: &oakmap::CheckReport| r.node_bytes_used as f64 / r.node_bytes_total as f64;
    assert!(fill(&before) < 0.7, "leaves not thinned: {before:?}");

    let done = db.compact().unwrap();
    assert!(done.leaves_saved > 0, "{done:?}");
    let after = db.check().unwrap();
    assert!(after.problems.is_empty(), "{after:?}");
    assert!(fill(&after) > 0.9, "leaves not packed: {after:?}");
    assert_eq!(after.entries, u64::from(KEYS / 2));
    let dir = tempfile::tempdir().unwrap();
    let copy = db.backup_to(dir.path().join("dense.oak")).unwrap();
    assert!(
        done.bytes_after * 100 <= copy.file_bytes * 105,
        "compacted to {} bytes, the dense copy is {} ({done:?})",
        done.bytes_after,
        copy.file_bytes
    );
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().unwrap();
    for i in 0..KEYS {
        let value = [i as u8; 120];
        let want = (i % 2 == 1).then_some(&value[..]);
        assert_eq!(t.get(&scattered(i)).unwrap(), want, "key {i}");
    }
}

/// A writer inserting at random splits leaves while compaction packs them:
/// repacks are planned on a snapshot and carried out after the writer's
/// commits changed the same parents, so each is planned anew on the
/// writer's pages; nothing of either side may be lost, and compaction ends.
#[test]
fn compaction_beside_a_random_writer_loses_nothing() {
    let db = Arc::new(TestDb::temp(Options::new()));
    let want = fill_and_thin(&db, 3);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut written = BTreeMap::new();
            let mut n = 0u32;
            // Until compaction ends, or 100 batches: a writer that never
            // stops grows the file as fast as compaction moves its end.
            while !stop.load(Ordering::Relaxed) && n < 20_000 {
                // Scattered keys in batches: leaves split all over the tree.
                let mut tx = db.begin_write().unwrap();
                let mut t = tx.open_tree("t").unwrap();
                for _ in 0..200 {
                    let i = KEYS + n.wrapping_mul(2_654_435_761) % KEYS;
                    t.insert(&key(i), &[n as u8; 150]).unwrap();
                    written.insert(i, vec![n as u8; 150]);
                    n += 1;
                }
                tx.commit().unwrap();
            }
            written
        })
    };
    let done = db.compact().unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(!written.is_empty());
    assert!(done.leaves_saved > 0, "{done:?}");
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().unwrap();
    assert_eq!(t.len(), (want.len() + written.len()) as u64);
    for (i, v) in want.iter().chain(&written) {
        assert_eq!(t.get(&key(*i)).unwrap(), Some(&v[..]), "key {i}");
    }
    drop(rx);
    common::assert_clean(&db);
}
