//! Guards WAL recovery at the tail: truncating the log at every byte of its
//! last records, or filling the tail with zeros or garbage, recovers exactly
//! the longest valid prefix of commits; a damaged record in the middle, or a
//! gap in the commit numbers, makes open fail with the WAL file and offset,
//! and changes nothing; a newest meta slot damaged after newer commits
//! reused the older state's pages makes open fail rather than fall back.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::TestDb;
use oakmap::{Error, Options};

const COMMITS: u64 = 12;

fn options() -> Options {
    common::no_background_checkpoints()
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
    let db = TestDb::with_options(options(), &path);
    db.insert("t", b"base", b"checkpointed").unwrap();
    db.checkpoint().unwrap();
    for i in 0..COMMITS {
        db.insert("t", &i.to_be_bytes(), &value(i)).unwrap();
    }
    // Where each record ends, as the read-only inspector finds them (WAL
    // files are preallocated, so their length says nothing).
    let wal = oakmap::inspect::RawDb::open(&path).unwrap().wal();
    let records: Vec<_> = wal
        .records
        .iter()
        .filter(|r| r.status == oakmap::inspect::RecordStatus::Replay)
        .collect();
    assert_eq!(records.len() as u64, COMMITS, "one record per commit");
    let file = records[0].file;
    assert!(
        records.iter().all(|r| r.file == file),
        "all in the active file"
    );
    let mut ends = vec![records[0].offset];
    ends.extend(records.iter().map(|r| r.offset + r.len as u64));
    assert!(ends.windows(2).all(|w| w[0] < w[1]), "{ends:?}");
    let image = tempfile::tempdir().unwrap();
    common::copy_db(&path, &image.path().join("db.oak"));
    drop(db);
    let wal_in_image = image.path().join(wal.files[file].path.file_name().unwrap());
    (image, wal_in_image, ends)
}

/// Opens a fresh copy of the image with its active WAL changed by `damage`,
/// and returns how many of the commits it holds (checking they are exact).
fn recover(image: &Path, wal_name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> Result<u64, Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.oak");
    common::copy_db(&image.join("db.oak"), &path);
    let wal = dir.path().join(wal_name);
    let mut bytes = std::fs::read(&wal).unwrap();
    damage(&mut bytes);
    std::fs::write(&wal, &bytes).unwrap();
    let db = TestDb::from(options().open(&path)?);
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

/// Opens a fresh copy of `image_dir/db.oak`, with `options`.
fn open_copy(image: &Path, options: Options) -> (tempfile::TempDir, Result<TestDb, Error>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.oak");
    common::copy_db(&image.join("db.oak"), &path);
    let db = options.open(&path).map(TestDb::from);
    (dir, db)
}

/// A crash image (`db.oak` in the returned directory): a checkpoint, a
/// commit too large to log (a checkpoint of its own, with no record), then
/// `commits` small commits only in the WAL, keys `k0`, `k1`, ...
fn unlogged_commit_image(commits: u8) -> tempfile::TempDir {
    let live = tempfile::tempdir().unwrap();
    let path = live.path().join("db.oak");
    let db = TestDb::with_options(options().wal_bytes_max(64 << 10), &path);
    db.insert("t", b"a", b"1").unwrap();
    db.checkpoint().unwrap();
    db.insert("t", b"big", &vec![9u8; 100_000]).unwrap();
    for i in 0..commits {
        db.insert("t", &[b'k', i], &[i]).unwrap();
    }
    let image = tempfile::tempdir().unwrap();
    common::copy_db(&path, &image.path().join("db.oak"));
    drop(db);
    image
}

/// A checkpoint with no records since the last one, then more commits: the
/// two WAL files start at the same LSN and only one holds records. Found by
/// the kill harness, which lost the commits after such a pair.
#[test]
fn commits_after_two_switches_without_records_between() {
    let image = unlogged_commit_image(5);
    let (_dir, db) = open_copy(image.path(), options());
    let db = db.unwrap();
    for i in 0..5u8 {
        assert_eq!(
            db.get("t", &[b'k', i]).unwrap(),
            Some(vec![i]),
            "commit {i} after the switches lost"
        );
    }
}

/// Records spanning both WAL files (a checkpoint switched files but crashed
/// before its meta slot), and a crash during recovery's own checkpoint: the
/// next open must still find every record.
#[test]
fn crash_during_recovery_checkpoint_loses_nothing() {
    use oakmap::FailPoints;
    use std::sync::Arc;

    let live = tempfile::tempdir().unwrap();
    let path = live.path().join("db.oak");
    let fail = Arc::new(FailPoints::new());
    let db = Arc::new(TestDb::with_options(
        options().fail_points(fail.clone()),
        &path,
    ));
    db.insert("t", b"before", b"0").unwrap();
    db.checkpoint().unwrap();
    db.insert("t", b"first-file", b"1").unwrap();
    // A checkpoint that switches files, then stalls before its fsync...
    let stalled = common::stall_checkpoint(&db, &fail);
    // ...while commits go on into the other file. The crash image is taken now.
    db.insert("t", b"second-file", b"2").unwrap();
    let image = tempfile::tempdir().unwrap();
    common::copy_db(&path, &image.path().join("db.oak"));
    fail.release("checkpoint.data.sync");
    stalled.join().unwrap().unwrap();

    // Recovery replays both files, then its checkpoint fails at the meta write.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("db.oak");
    common::copy_db(&image.path().join("db.oak"), &copy);
    let failing = Arc::new(FailPoints::new());
    failing.arm("meta.write", 0, false);
    assert!(options().fail_points(failing).open(&copy).is_err());
    // The next open still has every record to replay.
    let db = TestDb::with_options(options(), &copy);
    for (k, v) in [
        (&b"before"[..], b"0"),
        (b"first-file", b"1"),
        (b"second-file", b"2"),
    ] {
        assert_eq!(
            db.get("t", k).unwrap(),
            Some(v.to_vec()),
            "{}",
            String::from_utf8_lossy(k)
        );
    }
}

/// Recovery replays, checkpoints and starts the log afresh; commits after it
/// and another crash must all come back. (With preallocated WAL files, the
/// restart once left both files claiming the same base and recovery read the
/// empty one: found by `oakmap crash-test`.)
#[test]
fn commits_after_a_recovery_survive_the_next_crash() {
    let (image, _wal, _ends) = crash_image();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.oak");
    common::copy_db(&image.path().join("db.oak"), &path);
    let db = TestDb::with_options(options(), &path);
    for i in 0..3u8 {
        db.insert("t", &[b'z', i], &[i]).unwrap();
    }
    let second = tempfile::tempdir().unwrap();
    common::copy_db(&path, &second.path().join("db.oak"));
    drop(db);
    let (_d, db) = open_copy(second.path(), options());
    let db = db.unwrap();
    for i in 0..COMMITS {
        assert_eq!(db.get("t", &i.to_be_bytes()).unwrap(), Some(value(i)));
    }
    for i in 0..3u8 {
        assert_eq!(
            db.get("t", &[b'z', i]).unwrap(),
            Some(vec![i]),
            "commit after recovery lost"
        );
    }
}

/// The newest checkpoint was a transaction too large to log (it has no WAL
/// record) and its meta slot rots afterwards. The older slot's state is not
/// intact (commits since have reused its pages), and its log goes on past a
/// commit that is in no record: open must refuse rather than recover a state
/// that never existed. Before the fix it opened, and reading the large value
/// reported a page that was not an overflow run.
#[test]
fn a_damaged_meta_of_an_unlogged_commit_is_refused_not_skipped() {
    let image = unlogged_commit_image(3);
    let copy = image.path().join("db.oak");
    let raw = oakmap::inspect::RawDb::open(&copy).unwrap();
    let newest = raw.metas().iter().find(|m| m.newest).unwrap().slot;
    let page_bytes = raw.page_bytes() as u64;
    drop(raw);
    // Rot one byte of the newest meta slot (pages 1 and 2 hold slots 0 and 1).
    let mut bytes = std::fs::read(&copy).unwrap();
    bytes[((1 + newest as u64) * page_bytes + 20) as usize] ^= 0x40;
    std::fs::write(&copy, &bytes).unwrap();
    match options().open(&copy) {
        Err(e @ (Error::Corruption { .. } | Error::WalCorruption { .. })) => {
            let text = e.to_string();
            assert!(text.contains("commit"), "{text}");
        }
        Err(e) => panic!("expected a corruption error, got {e}"),
        Ok(db) => panic!(
            "opened without the large commit: big = {:?}",
            db.get("t", b"big").unwrap().map(|v| v.len())
        ),
    }
}

/// A gap in the commit numbers of the log (a record whose commit is not the
/// one after the last) means commits are in no record: open refuses with
/// the file and offset instead of replaying around them. The record is
/// otherwise valid: its CRC is recomputed after the commit number changes.
#[test]
fn a_gap_in_commit_numbers_is_refused() {
    let (image, wal, ends) = crash_image();
    let name = wal.file_name().unwrap().to_str().unwrap().to_string();
    let at = ends[4] as usize; // the fifth record
    let err = recover(image.path(), &name, |b| {
        let len = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let txn = u64::from_le_bytes(b[at + 16..at + 24].try_into().unwrap());
        b[at + 16..at + 24].copy_from_slice(&(txn + 1).to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&b[at..at + 4]);
        h.update(&b[at + 8..at + len]);
        b[at + 4..at + 8].copy_from_slice(&h.finalize().to_le_bytes());
    })
    .unwrap_err();
    match err {
        Error::WalCorruption { offset, reason, .. } => {
            assert_eq!(offset, at as u64, "{reason}");
            assert!(reason.contains("in no record"), "{reason}");
        }
        e => panic!("expected a WAL corruption error, got {e}"),
    }
}
