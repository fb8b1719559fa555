//! Guards against damaged bytes: every bit of the file header and of both
//! meta slots, and a sample of bits in every page, flipped one at a time.
//! Opening, reading everything and checking must then report corruption or
//! return exactly the original data: never a panic, a hang, wrong data or an
//! unbounded allocation.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::TestDb;
use oakmap::{Db, Error};

type Model = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

const PAGE: usize = 4096;

fn build(path: &Path) -> Model {
    let db = TestDb::open(path);
    let mut model = Model::new();
    let mut rng = common::Rng(21);
    for round in 0..3 {
        let mut tx = db.begin_write().unwrap();
        for tree in ["a", "b"] {
            let mut t = tx.open_tree(tree).unwrap();
            let m = model.entry(tree.to_string()).or_default();
            for i in 0..150u32 {
                let k = format!("{round}-{i:04}").into_bytes();
                let vlen = if i % 50 == 0 {
                    7000
                } else {
                    rng.below(120) as usize
                };
                let v = rng.bytes(vlen);
                t.insert(&k, &v).unwrap();
                m.insert(k, v);
            }
        }
        tx.commit().unwrap();
        if round == 1 {
            db.checkpoint().unwrap();
        }
    }
    drop(db);
    model
}

/// Everything the database holds, or the first error met.
fn read_all(db: &Db) -> Result<Model, Error> {
    let rx = db.begin_read();
    let mut model = Model::new();
    for name in rx.list_trees()? {
        let t = rx.tree(&name)?.expect("listed tree");
        let mut m = BTreeMap::new();
        for e in t.iter()? {
            let (k, v) = e?;
            m.insert(k.to_vec(), v.to_vec());
        }
        for e in t.iter()?.rev() {
            e?;
        }
        for k in m.keys() {
            t.get(k)?;
        }
        model.insert(name, m);
    }
    Ok(model)
}

/// Opens a copy of `original` with bit `bit` of byte `offset` flipped.
fn flipped_outcome(original: &[Vec<u8>; 3], offset: usize, bit: u8, model: &Model) {
    let dir = common::crash::scratch_dir();
    let path = dir.path().join("f.oak");
    let mut files = original.clone();
    files[0][offset] ^= 1 << bit;
    common::crash::write_files(&path, &files);
    let context = format!("byte {offset} bit {bit}");
    // A plain `Db`: damaged on purpose; the check must not panic, and may
    // report the damage.
    let db = match Db::open(&path) {
        Ok(db) => db,
        Err(e) => {
            assert!(
                matches!(
                    e,
                    Error::Corruption { .. }
                        | Error::WalCorruption { .. }
                        | Error::NotADatabase { .. }
                        | Error::UnsupportedVersion { .. }
                ),
                "{context}: open failed with {e}"
            );
            return;
        }
    };
    match read_all(&db) {
        Ok(got) => assert!(
            got == *model,
            "{context}: wrong data read back without an error"
        ),
        Err(e) => assert!(e.is_corruption(), "{context}: read failed with {e}"),
    }
    let _ = db.check();
}

#[test]
fn every_header_and_meta_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.oak");
    let model = build(&path);
    let original = common::crash::read_files(&path);
    let ranges = [0..64, PAGE..PAGE + 96, 2 * PAGE..2 * PAGE + 96];
    let mut flips = 0;
    for range in ranges {
        for offset in range {
            for bit in 0..8 {
                flipped_outcome(&original, offset, bit, &model);
                flips += 1;
            }
        }
    }
    assert_eq!(flips, (64 + 96 + 96) * 8);
}

#[test]
fn sampled_bits_of_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.oak");
    let model = build(&path);
    let original = common::crash::read_files(&path);
    let pages = original[0].len() / PAGE;
    let mut rng = common::Rng(5);
    for page in 3..pages {
        for _ in 0..12 {
            // Half in the header, slot array and first cells, where structure lives.
            let within = if rng.below(2) == 0 {
                rng.below(160)
            } else {
                rng.below(PAGE as u64)
            };
            flipped_outcome(
                &original,
                page * PAGE + within as usize,
                rng.below(8) as u8,
                &model,
            );
        }
    }
}
