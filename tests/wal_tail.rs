//! Guards WAL recovery at the tail: truncating the log at every byte of its
//! last records, or filling the tail with zeros or garbage, recovers exactly
//! the longest valid prefix of commits; a damaged record in the middle makes
//! open fail with the WAL file and offset, and changes nothing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oakmap::{Error, Options};

const COMMITS: u64 = 12;

fn options() -> Options {
    // No checkpoint may run while the image is taken.
    Options::new()
        .wal_bytes_max(1 << 30)
        .checkpoint_interval(Duration::from_secs(3600))
}

fn value(i: u64) -> Vec<u8> {
    vec![i as u8; 20 + (i as usize * 37) % 90]
}

/// A crash image: a checkpoint, then COMMITS commits only in the WAL. Returns
/// the directory holding `db.oak` and its WAL files, and the offsets where
/// each commit's record ends in the active WAL file.
fn crash_image() -> (tempfile::TempDir, PathBuf, Vec<u64>) {
    let live = tempfile::tempdir().unwrap();
    let path = live.path().join("db.oak");
    let db = options().open(&path).unwrap();
    db.insert("t", b"base", b"checkpointed").unwrap();
    db.checkpoint().unwrap();
    let header_bytes = 64;
    db.insert("t", &0u64.to_be_bytes(), &value(0)).unwrap();
    let wal = active_wal(&path);
    let mut ends = vec![header_bytes, std::fs::metadata(&wal).unwrap().len()];
    for i in 1..COMMITS {
        db.insert("t", &i.to_be_bytes(), &value(i)).unwrap();
        ends.push(std::fs::metadata(&wal).unwrap().len());
    }
    assert!(
        ends.windows(2).all(|w| w[0] < w[1]),
        "each commit appends a record: {ends:?}"
    );
    let image = tempfile::tempdir().unwrap();
    copy_db(&path, &image.path().join("db.oak"));
    drop(db);
    let wal_in_image = image.path().join(wal.file_name().unwrap());
    (image, wal_in_image, ends)
}

/// The WAL file holding records (the other is just a header after a checkpoint).
fn active_wal(db: &Path) -> PathBuf {
    (0..2)
        .map(|i| PathBuf::from(format!("{}.wal{i}", db.display())))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
}

fn copy_db(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    for i in 0..2 {
        std::fs::copy(
            format!("{}.wal{i}", from.display()),
            format!("{}.wal{i}", to.display()),
        )
        .unwrap();
    }
}

/// Opens a fresh copy of the image with its active WAL changed by `damage`,
/// and returns how many of the commits it holds (checking they are exact).
fn recover(image: &Path, wal_name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> Result<u64, Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.oak");
    copy_db(&image.join("db.oak"), &path);
    let wal = dir.path().join(wal_name);
    let mut bytes = std::fs::read(&wal).unwrap();
    damage(&mut bytes);
    std::fs::write(&wal, &bytes).unwrap();
    let db = options().open(&path)?;
    common::assert_clean(&db);
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().unwrap();
    let got: BTreeMap<Vec<u8>, Vec<u8>> = t
        .iter()
        .unwrap()
        .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect();
    let n = got.len() as u64 - 1;
    let mut want = BTreeMap::from([(b"base".to_vec(), b"checkpointed".to_vec())]);
    for i in 0..n {
        want.insert(i.to_be_bytes().to_vec(), value(i));
    }
    assert!(
        got == want,
        "recovered state is not a prefix of the commits"
    );
    Ok(n)
}

#[test]
fn truncation_at_every_byte_of_the_last_records() {
    let (image, wal, ends) = crash_image();
    let name = wal.file_name().unwrap().to_str().unwrap().to_string();
    let start = ends[ends.len() - 3];
    let mut seen = std::collections::BTreeSet::new();
    for cut in start..=ends[ends.len() - 1] {
        let whole = ends.iter().filter(|&&e| e <= cut).count() as u64 - 1;
        let n = recover(image.path(), &name, |b| b.truncate(cut as usize)).unwrap();
        assert_eq!(n, whole, "cut at byte {cut}");
        seen.insert(n);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec![COMMITS - 2, COMMITS - 1, COMMITS]
    );
}

#[test]
fn zeroed_and_garbage_tails() {
    let (image, wal, ends) = crash_image();
    let name = wal.file_name().unwrap().to_str().unwrap().to_string();
    let mut rng = common::Rng(77);
    let start = ends[ends.len() - 3];
    for cut in (start..ends[ends.len() - 1]).step_by(7) {
        let whole = ends.iter().filter(|&&e| e <= cut).count() as u64 - 1;
        let zeros = recover(image.path(), &name, |b| b[cut as usize..].fill(0)).unwrap();
        assert_eq!(zeros, whole, "zeros from byte {cut}");
        let noise = rng.bytes(4096);
        let garbage = recover(image.path(), &name, |b| {
            b.truncate(cut as usize);
            b.extend_from_slice(&noise);
        })
        .unwrap();
        assert_eq!(garbage, whole, "garbage from byte {cut}");
    }
    assert_eq!(recover(image.path(), &name, |_| {}).unwrap(), COMMITS);
}

#[test]
fn damaged_middle_record_is_refused_with_its_offset() {
    let (image, wal, ends) = crash_image();
    let name = wal.file_name().unwrap().to_str().unwrap().to_string();
    let target = ends[4]; // the record of commit 4 starts here
    match recover(image.path(), &name, |b| b[target as usize + 45] ^= 0x10) {
        Err(Error::WalCorruption { path, offset, .. }) => {
            assert_eq!(offset, target);
            assert!(path.ends_with(&name), "{}", path.display());
        }
        other => panic!("expected WalCorruption, got {other:?}"),
    }
    // Opening failed without changing the files: the undamaged image still
    // recovers everything.
    assert_eq!(recover(image.path(), &name, |_| {}).unwrap(), COMMITS);
}
