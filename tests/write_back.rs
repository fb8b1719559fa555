//! Guards write-back: committed pages that stay in the cache arena until a
//! checkpoint (or an early write) puts them in the file. Readers must find
//! them there, a frame must never be reused while a snapshot could still
//! read it, and what reaches the file must be the committed state.
//!
//! The caches here are the smallest there is (128 frames, of which resident
//! pages may hold 64), so every path runs many times: pages kept resident,
//! commits that write their pages because the share is full, early writes,
//! frames coming back when their pages are freed or written, and a large
//! transaction taking resident frames back in its middle.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{TestDb, assert_clean};
use oakmap::{Durability, Options, ReadTxn};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn small_cache() -> Options {
    Options::new().cache_bytes(0).durability(Durability::None)
}

fn write_round(db: &TestDb, rng: &mut common::Rng, model: &mut Model, ops: u64, keys: u64) {
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    for _ in 0..ops {
        let k = (rng.below(keys) as u32).to_be_bytes().to_vec();
        if rng.below(5) == 0 {
            t.remove(&k).unwrap();
            model.remove(&k);
        } else {
            let len = 20 + rng.below(200) as usize;
            let v = rng.bytes(len);
            t.insert(&k, &v).unwrap();
            model.insert(k, v);
        }
    }
    tx.commit().unwrap();
}

fn check_snapshots(snaps: &[(ReadTxn<'_>, Model)]) {
    for (rx, want) in snaps {
        assert_eq!(
            &common::entries(rx, "t"),
            want,
            "snapshot of txn {}",
            rx.id()
        );
    }
}

#[test]
fn commits_keep_their_pages_resident_until_a_checkpoint() {
    let db = TestDb::temp(common::no_background_checkpoints().durability(Durability::None));
    let mut rng = common::Rng(1);
    let mut model = Model::new();
    write_round(&db, &mut rng, &mut model, 200, 1000);
    let st = db.stats().unwrap();
    assert!(st.resident_pages > 0, "{st:?}");
    assert_eq!(st.commits_writing_pages, 0);
    db.checkpoint().unwrap();
    let st = db.stats().unwrap();
    assert_eq!(st.resident_pages, 0, "a checkpoint writes them: {st:?}");
    assert_eq!(common::entries(&db.begin_read(), "t"), model);
}

/// Snapshots held across hundreds of commits, checkpoints and large
/// transactions read exactly their commit's state, and so does the file
/// after a reopen.
#[test]
fn snapshots_read_their_state_through_write_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wb.oak");
    let db = TestDb::with_options(small_cache(), &path);
    let mut rng = common::Rng(7);
    let mut model = Model::new();
    let mut snaps: Vec<(ReadTxn<'_>, Model)> = Vec::new();
    for round in 0..400u64 {
        // Mostly small commits; now and then one larger than the cache.
        let ops = if round % 50 == 49 { 3000 } else { 30 };
        write_round(&db, &mut rng, &mut model, ops, 2000);
        if round % 5 == 0 {
            snaps.push((db.begin_read(), model.clone()));
        }
        if round % 7 == 0 && !snaps.is_empty() {
            let victim = rng.below(snaps.len() as u64) as usize;
            snaps.swap_remove(victim);
        }
        if round % 37 == 0 {
            db.checkpoint().unwrap();
        }
        if round % 20 == 0 {
            check_snapshots(&snaps);
        }
    }
    let st = db.stats().unwrap();
    assert!(
        st.commits_writing_pages > 0,
        "the resident share filled at least once: {st:?}"
    );
    check_snapshots(&snaps);
    drop(snaps);
    assert_clean(&db);
    db.close().unwrap();
    let db = TestDb::with_options(small_cache(), &path);
    assert_eq!(common::entries(&db.begin_read(), "t"), model);
    assert_clean(&db);
}

/// A large transaction after small ones, with no reader registered, takes
/// the resident frames back (writing their pages) instead of spilling its
/// own; with a reader registered it must not, and spills instead. Both
/// leave the same data.
#[test]
fn a_large_transaction_takes_resident_frames_back_only_without_readers() {
    for hold_reader in [false, true] {
        let db = TestDb::temp(common::no_background_checkpoints().cache_bytes(0));
        let mut rng = common::Rng(3);
        let mut model = Model::new();
        for _ in 0..40 {
            write_round(&db, &mut rng, &mut model, 10, 5000);
        }
        let before = db.stats().unwrap();
        assert!(before.resident_pages > 0, "{before:?}");
        let reader = hold_reader.then(|| (db.begin_read(), model.clone()));
        write_round(&db, &mut rng, &mut model, 4000, 5000);
        let after = db.stats().unwrap();
        if hold_reader {
            assert!(after.cache_spills > before.cache_spills, "{after:?}");
        } else {
            assert_eq!(
                after.resident_pages, 0,
                "the large transaction wrote and took back every resident page: {after:?}"
            );
        }
        if let Some((rx, want)) = reader {
            assert_eq!(common::entries(&rx, "t"), want);
        }
        assert_eq!(common::entries(&db.begin_read(), "t"), model);
        assert_clean(&db);
    }
}

/// Readers on other threads, each holding its snapshot across commits and
/// checkpoints, while a writer rewrites every key in each commit: every
/// snapshot sees one version in every value (a frame reused under a reader
/// would show another version, or bytes that are no page at all).
#[test]
fn concurrent_readers_never_see_a_reused_frame() {
    const KEYS: u32 = 600;
    let db = TestDb::temp(small_cache().checkpoint_interval(Duration::from_millis(20)));
    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let version_of = |v: &[u8]| u64::from_be_bytes(v[..8].try_into().unwrap());
    let write = |version: u64| {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("t").unwrap();
        let mut v = vec![0u8; 120];
        v[..8].copy_from_slice(&version.to_be_bytes());
        for k in 0..KEYS {
            // Every key, but only every third one's bytes move, so commits
            // free some pages and keep others.
            if k % 3 == (version % 3) as u32 || version == 0 {
                v[8..12].copy_from_slice(&k.to_be_bytes());
                t.insert(&k.to_be_bytes(), &v).unwrap();
            }
        }
        let mut meta = tx.open_tree("meta").unwrap();
        meta.insert(b"version", &version.to_be_bytes()).unwrap();
        tx.commit().unwrap();
    };
    write(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let rx = db.begin_read();
                    let version = version_of(
                        rx.tree("meta")
                            .unwrap()
                            .unwrap()
                            .get(b"version")
                            .unwrap()
                            .unwrap(),
                    );
                    // Zero-copy: the values point into the pages (frames
                    // or the mapping). Keep them all across a few commits,
                    // then check them.
                    let t = rx.tree("t").unwrap().unwrap();
                    let held: Vec<(&[u8], &[u8])> = t.iter().unwrap().map(|e| e.unwrap()).collect();
                    std::thread::sleep(Duration::from_millis(4));
                    assert_eq!(held.len(), KEYS as usize);
                    for (k, v) in held {
                        let k = u32::from_be_bytes(k.try_into().unwrap());
                        assert_eq!(&v[8..12], &k.to_be_bytes(), "value of another key");
                        let written = version_of(v);
                        // The key's last write at or before `version`.
                        let last = (0..=version)
                            .rev()
                            .find(|w| *w == 0 || k % 3 == (w % 3) as u32)
                            .unwrap();
                        assert_eq!(written, last, "key {k} in snapshot {version}");
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let start = Instant::now();
        let mut version = 1;
        while start.elapsed() < Duration::from_secs(3) {
            write(version);
            version += 1;
            if version % 25 == 0 {
                db.checkpoint().unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(reads.load(Ordering::Relaxed) > 10);
    let st = db.stats().unwrap();
    assert!(st.checkpoints > 1, "{st:?}");
    assert_clean(&db);
}
