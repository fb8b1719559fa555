//! Guards the handling of bad input: files that are not ours, truncated,
//! random or bit-flipped, a second opener, and over-limit arguments all give a
//! clear error (or, for damage in unused bytes, no effect) and never a panic,
//! a hang, or wrong data.

mod common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::TestDb;
use oakmap::{Db, Error, Limit, Options};

const PAGE: u64 = 4096;

/// A small database with a few trees, overflow values and several levels.
fn build(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let db = TestDb::open(path);
    let mut model = BTreeMap::new();
    let mut rng = common::Rng(11);
    for round in 0..4 {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("t").unwrap();
        for i in 0..300u32 {
            let k = format!("key-{round}-{i:05}").into_bytes();
            let vlen = if i % 97 == 0 {
                6000
            } else {
                20 + rng.below(200) as usize
            };
            let v = rng.bytes(vlen);
            t.insert(&k, &v).unwrap();
            model.insert(k, v);
        }
        tx.open_tree("other").unwrap().insert(b"x", b"y").unwrap();
        tx.commit().unwrap();
    }
    model
}

fn flip(path: &Path, offset: u64, mask: u8) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= mask;
    f.write_all_at(&b, offset).unwrap();
}

/// Reads everything; Ok(true) if it equals the model, Err if an error was
/// reported. Panics only if data came back wrong without an error.
fn read_back(db: &Db, model: &BTreeMap<Vec<u8>, Vec<u8>>) -> Result<(), Error> {
    let rx = db.begin_read();
    let t = rx.tree("t")?.ok_or_else(|| Error::Corruption {
        page: 0,
        reason: "tree missing".into(),
    })?;
    let mut got = BTreeMap::new();
    for e in t.iter()? {
        let (k, v) = e?;
        got.insert(k.to_vec(), v.to_vec());
    }
    for e in t.iter()?.rev() {
        e?;
    }
    for k in model.keys() {
        t.get(k)?;
    }
    if &got != model {
        return Err(Error::Corruption {
            page: 0,
            reason: "contents differ".into(),
        });
    }
    Ok(())
}

#[test]
fn not_an_oakmap_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.bin");
    let mut rng = common::Rng(5);
    std::fs::write(&path, rng.bytes(100_000)).unwrap();
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(Db::open(&path), Err(Error::NotADatabase { .. })));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was changed"
    );
    std::fs::write(&path, b"hello").unwrap();
    assert!(matches!(Db::open(&path), Err(Error::NotADatabase { .. })));
}

#[test]
fn unsupported_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.oak");
    build(&path);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut h = [0u8; 64];
    f.read_exact_at(&mut h, 0).unwrap();
    h[8..12].copy_from_slice(&3u32.to_le_bytes());
    let crc = crc32fast::hash(&h[..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    f.write_all_at(&h, 0).unwrap();
    match Db::open(&path) {
        Err(Error::UnsupportedVersion {
            found: 3,
            supported: 2,
            ..
        }) => {}
        other => panic!("expected UnsupportedVersion, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oak");
    build(&path);
    // The file grows ahead of its pages; cut below what the state uses.
    let stats = TestDb::open(&path).stats().unwrap();
    let used = (3 + stats.pages_in_use + stats.free_pages) * PAGE;
    assert!(used <= std::fs::metadata(&path).unwrap().len());
    for keep in [used - PAGE, used / 2, 3 * PAGE, 100, 20] {
        let copy = dir.path().join(format!("cut-{keep}.oak"));
        std::fs::copy(&path, &copy).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_len(keep)
            .unwrap();
        match Db::open(&copy) {
            Err(Error::Corruption { reason, .. }) => {
                assert!(
                    reason.contains("truncated") || reason.contains("shorter"),
                    "{reason}"
                )
            }
            other => panic!(
                "cut to {keep}: expected Corruption, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

#[test]
fn second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.oak");
    let db = TestDb::open(&path);
    assert!(matches!(Db::open(&path), Err(Error::Locked { .. })));
    drop(db);
    drop(TestDb::open(&path)); // reopens once the first handle is gone
}

#[test]
fn over_limit_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("limits.oak"));
    let max = db.key_bytes_max();
    assert!(max >= 1024);
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    t.insert(&vec![1u8; max], b"fits").unwrap();
    match t.insert(&vec![1u8; max + 1], b"v") {
        Err(Error::LimitExceeded {
            what: Limit::KeyBytes,
            actual,
            max: m,
        }) => {
            assert_eq!((actual, m), (max as u64 + 1, max as u64))
        }
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    // The failed call changed nothing; the transaction is still usable.
    t.insert(b"after", b"ok").unwrap();
    assert_eq!(t.len().unwrap(), 2);
    assert!(matches!(
        tx.open_tree(&"n".repeat(300)),
        Err(Error::LimitExceeded {
            what: Limit::TreeNameBytes,
            ..
        })
    ));
    assert!(matches!(tx.open_tree(""), Err(Error::InvalidTreeName)));
    tx.commit().unwrap();
    assert!(matches!(
        Options::new()
            .page_bytes(1000)
            .open(dir.path().join("p.oak")),
        Err(Error::LimitExceeded {
            what: Limit::PageSize,
            ..
        })
    ));
}

#[test]
fn flipped_meta_slots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.oak");
    let db = TestDb::open(&path);
    db.insert("t", b"a", b"1").unwrap();
    db.checkpoint().unwrap(); // txn 1 -> slot 1
    db.insert("t", b"b", b"2").unwrap();
    drop(db); // the closing checkpoint: txn 2 -> slot 0
    let copy = |name: &str| {
        let to = dir.path().join(name);
        common::copy_db(&path, &to);
        to
    };
    // The newest slot damaged: open falls back to the older checkpoint and
    // replays commit 2 from the WAL file the newest checkpoint left behind
    // (WAL files are reused at the next switch, not emptied), so nothing is
    // lost. Were the record gone, open would refuse: see wal_tail.rs.
    let newest = copy("newest.oak");
    flip(&newest, PAGE + 10, 0x04);
    let db = TestDb::open(&newest);
    assert_eq!(db.get("t", b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get("t", b"b").unwrap(), Some(b"2".to_vec()));
    drop(db);
    // The older slot damaged: the newest state is intact.
    let older = copy("older.oak");
    flip(&older, 2 * PAGE + 10, 0x04);
    let db = TestDb::open(&older);
    assert_eq!(db.get("t", b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get("t", b"b").unwrap(), Some(b"2".to_vec()));
    drop(db);
    // Both damaged: a clear error.
    let both = copy("both.oak");
    flip(&both, PAGE + 20, 0x01);
    flip(&both, 2 * PAGE + 20, 0x01);
    match Db::open(&both) {
        Err(Error::Corruption { page, .. }) => assert_eq!(page, 1),
        other => panic!("expected Corruption, got {:?}", other.map(|_| ())),
    }
}

/// A checkpoint's meta write torn (a crash mid-write): open falls back to the
/// previous checkpoint and replays the WAL from there, losing nothing.
#[test]
fn torn_meta_write_falls_back_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torn.oak");
    let db = TestDb::open(&path);
    db.insert("t", b"a", b"1").unwrap();
    db.checkpoint().unwrap(); // slot 1
    db.insert("t", b"b", b"2").unwrap();
    // Simulate the next checkpoint's crash between switching the WAL and a
    // whole meta write: copy the files as they are now, then tear slot 0.
    let snapshot_dir = tempfile::tempdir().unwrap();
    let copy = snapshot_dir.path().join("torn.oak");
    db.sync().unwrap();
    common::copy_db(&path, &copy);
    drop(db);
    flip(&copy, PAGE + 10, 0x04); // slot 0 holds txn 0 here; tearing it is harmless
    let db = TestDb::open(&copy);
    assert_eq!(db.get("t", b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        db.get("t", b"b").unwrap(),
        Some(b"2".to_vec()),
        "WAL record replayed"
    );
}

#[test]
fn flipped_header_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.oak");
    build(&path);
    for offset in 0..64 {
        let copy = dir.path().join("hcopy.oak");
        std::fs::copy(&path, &copy).unwrap();
        flip(&copy, offset, 0x20);
        let r = Db::open(&copy);
        assert!(
            matches!(
                r,
                Err(Error::NotADatabase { .. }
                    | Error::Corruption { .. }
                    | Error::UnsupportedVersion { .. })
            ),
            "header byte {offset}: {:?}",
            r.map(|_| ())
        );
    }
}

/// A flipped byte in any page: with checksums on, reads and check report
/// corruption unless the page is unused; reads never return wrong data.
#[test]
fn flipped_page_bytes_with_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.oak");
    let model = build(&path);
    let pages = std::fs::metadata(&path).unwrap().len() / PAGE;
    let mut detected = 0;
    for page in 3..pages {
        let copy = dir.path().join("pcopy.oak");
        std::fs::copy(&path, &copy).unwrap();
        flip(&copy, page * PAGE + 40 + (page * 131) % (PAGE - 40), 0x08);
        // A plain `Db`: damaged on purpose; finding the damage is the test.
        match Db::open(&copy) {
            Err(e) => assert!(e.is_corruption(), "page {page}: {e}"),
            Ok(db) => {
                let clean = db.check().unwrap().is_clean();
                let read = read_back(&db, &model);
                if let Err(e) = &read {
                    assert!(e.is_corruption(), "page {page}: {e}");
                    assert!(!clean, "page {page}: reads failed but check passed");
                }
                if !clean {
                    detected += 1;
                }
            }
        }
    }
    assert!(
        detected > pages / 2,
        "only {detected} of {pages} flips detected"
    );
}

/// With checksum verification off, damaged structure must still never panic,
/// hang, or overflow the stack: every flip gives an error or some answer.
#[test]
fn flipped_page_bytes_without_checksums_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.oak");
    let model = build(&path);
    let pages = std::fs::metadata(&path).unwrap().len() / PAGE;
    let mut rng = common::Rng(99);
    for round in 0..400 {
        let copy = dir.path().join("qcopy.oak");
        std::fs::copy(&path, &copy).unwrap();
        let page = 3 + rng.below(pages - 3);
        // Mostly the header, slot array and cell headers, where structure lives.
        let offset = if round % 2 == 0 {
            rng.below(120)
        } else {
            rng.below(PAGE)
        };
        flip(&copy, page * PAGE + offset, 1 << rng.below(8));
        // A plain `Db`: damaged on purpose, and read without checksums.
        let Ok(db) = Options::new().verify_checksums(false).open(&copy) else {
            continue;
        };
        let _ = read_back(&db, &model);
        let _ = db.check();
        let mut tx = db.begin_write().unwrap();
        if let Ok(mut t) = tx.open_tree("t") {
            let _ = t.insert(b"key-0-00001", b"new");
            let _ = t.remove(b"key-1-00002");
        }
        drop(tx);
    }
}
