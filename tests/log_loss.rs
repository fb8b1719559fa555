//! Guards the log's promise: no acknowledged commit is lost to a WAL file
//! whose header is damaged, or that is missing, truncated, of another cycle
//! or of another database, to a path through a symbolic link, or to an
//! empty data file. Opening recovers every commit or refuses, naming the
//! file and changing nothing; dropping commits takes
//! `Options::accept_log_loss`, and is reported.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::TestDb;
use oakmap::inspect::{RawDb, RecordStatus};
use oakmap::{Db, Error, Options};

const COMMITS: u64 = 10;

fn options() -> Options {
    common::no_background_checkpoints()
}

/// Opens with `options()`; the database is checked when it drops.
fn open(path: &Path) -> TestDb {
    TestDb::with_options(options(), path)
}

fn value(i: u64) -> Vec<u8> {
    vec![i as u8; 30 + (i as usize * 53) % 120]
}

/// The state after `n` of the logged commits.
fn model(n: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut m = BTreeMap::from([(b"base".to_vec(), b"checkpointed".to_vec())]);
    for i in 0..n {
        m.insert(i.to_be_bytes().to_vec(), value(i));
    }
    m
}

fn read_all(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    common::entries(&db.begin_read(), "t")
}

/// A crash image: "base" checkpointed, then COMMITS acknowledged commits
/// that only the log holds. Returns its directory, the data file, and the
/// name of the WAL file holding the commits.
fn crash_image() -> (tempfile::TempDir, PathBuf, String) {
    let live = tempfile::tempdir().unwrap();
    let path = live.path().join("db.oak");
    let db = open(&path);
    db.insert("t", b"base", b"checkpointed").unwrap();
    db.checkpoint().unwrap();
    for i in 0..COMMITS {
        db.insert("t", &i.to_be_bytes(), &value(i)).unwrap();
    }
    let image = tempfile::tempdir().unwrap();
    let copy = image.path().join("db.oak");
    common::copy_db(&path, &copy);
    drop(db);
    let wal = RawDb::open(&copy).unwrap().wal();
    let replay: Vec<_> = wal
        .records
        .iter()
        .filter(|r| r.status == RecordStatus::Replay)
        .collect();
    assert_eq!(replay.len() as u64, COMMITS);
    let name = wal.files[replay[0].file].path.file_name().unwrap();
    (image, copy, name.to_str().unwrap().to_string())
}

/// A fresh copy of the database at `from`.
fn copy_of(from: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.oak");
    common::copy_db(from, &path);
    (dir, path)
}

fn files_of(path: &Path) -> Vec<Option<Vec<u8>>> {
    let p = path.display();
    [format!("{p}"), format!("{p}.wal0"), format!("{p}.wal1")]
        .iter()
        .map(|f| std::fs::read(f).ok())
        .collect()
}

/// Opening `path` is refused with a WAL error naming `wal_name`, and leaves
/// every file as it was.
fn assert_refused(path: &Path, wal_name: &str) {
    let before = files_of(path);
    match options().open(path) {
        Err(Error::WalCorruption {
            path: p, reason, ..
        }) => {
            assert_eq!(
                p.file_name().unwrap().to_str().unwrap(),
                wal_name,
                "names the wrong file: {reason}"
            );
        }
        Err(e) => panic!("expected a WAL error naming {wal_name}, got {e}"),
        Ok(db) => panic!(
            "opened, with {} of {COMMITS} commits",
            read_all(&db).len() - 1
        ),
    }
    assert!(files_of(path) == before, "a refused open changed a file");
}

fn flip(path: &Path, offset: usize, mask: u8) {
    let mut b = std::fs::read(path).unwrap();
    b[offset] ^= mask;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_damaged_log_header_hides_no_commit() {
    let (image, path, wal) = crash_image();
    for byte in 0..64 {
        let (dir, copy) = copy_of(&path);
        flip(&dir.path().join(&wal), byte, 1 << (byte % 8));
        let db = open(&copy);
        assert!(read_all(&db) == model(COMMITS), "header byte {byte}");
    }
    // What went wrong before: the damaged header hid the records; the next
    // checkpoint rewrote it with the same start, so the old records came
    // back, and a commit too large to log then made the file unopenable.
    let (dir, copy) = copy_of(&path);
    flip(&dir.path().join(&wal), 30, 0x10);
    let small_log = || options().wal_bytes_max(64 << 10);
    {
        let db = TestDb::with_options(small_log(), &copy);
        db.checkpoint().unwrap();
        db.insert("t", b"after", b"1").unwrap();
        let mut tx = db.begin_write().unwrap();
        tx.open_tree("t")
            .unwrap()
            .insert(b"huge", &[7u8; 100 << 10])
            .unwrap();
        tx.commit().unwrap();
        db.insert("t", b"later", b"2").unwrap();
        let (crash, crash_path) = copy_of(&copy);
        let db2 = TestDb::with_options(small_log(), &crash_path);
        let mut want = model(COMMITS);
        want.insert(b"after".to_vec(), b"1".to_vec());
        want.insert(b"huge".to_vec(), vec![7u8; 100 << 10]);
        want.insert(b"later".to_vec(), b"2".to_vec());
        assert!(read_all(&db2) == want);
        drop((db2, crash));
    }
    drop(image);
}

#[test]
fn a_missing_log_file_is_refused_until_the_loss_is_accepted() {
    let (_image, path, wal) = crash_image();
    let (dir, copy) = copy_of(&path);
    std::fs::remove_file(dir.path().join(&wal)).unwrap();
    assert_refused(&copy, &wal);
    // `oakmap check` agrees with opening.
    let recovery = RawDb::open(&copy).unwrap().wal().recovery;
    assert!(recovery.is_err(), "check calls a missing log clean");
    let db = TestDb::with_options(options().accept_log_loss(true), &copy);
    assert!(db.log_loss().is_some_and(|why| why.contains(&wal)));
    assert!(read_all(&db) == model(0));
    db.insert("t", b"new", b"after the loss").unwrap();
    drop(db);
    // Accepted once, the database is whole again and opens normally.
    let db = open(&copy);
    assert!(db.log_loss().is_none());
    let mut want = model(0);
    want.insert(b"new".to_vec(), b"after the loss".to_vec());
    assert!(read_all(&db) == want);
}

#[test]
fn a_truncated_log_file_is_refused() {
    let (_image, path, wal) = crash_image();
    for len in [0u64, 30, 63] {
        let (dir, copy) = copy_of(&path);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join(&wal))
            .unwrap();
        f.set_len(len).unwrap();
        assert_refused(&copy, &wal);
    }
}

#[test]
fn a_log_of_another_cycle_or_database_is_refused() {
    // An older copy of the same database's log: its file starts before the
    // position the newest checkpoint needs.
    let live = tempfile::tempdir().unwrap();
    let path = live.path().join("db.oak");
    let db = open(&path);
    db.insert("t", b"base", b"checkpointed").unwrap();
    let (old, old_path) = copy_of(&path);
    db.checkpoint().unwrap();
    db.insert("t", b"x", b"1").unwrap();
    db.checkpoint().unwrap();
    db.insert("t", b"y", b"2").unwrap();
    let (now, now_path) = copy_of(&path);
    drop(db);
    let needed = RawDb::open(&now_path)
        .unwrap()
        .newest_meta()
        .unwrap()
        .wal_base;
    let wal = RawDb::open(&now_path).unwrap().wal();
    let i = wal
        .files
        .iter()
        .position(|f| f.header.is_some_and(|h| h.1 == needed))
        .unwrap();
    let name = format!("db.oak.wal{i}");
    std::fs::copy(old.path().join(&name), now.path().join(&name)).unwrap();
    assert_refused(&now_path, &name);
    drop(old_path);

    // Another database's log.
    let (_image, path, _) = crash_image();
    let other = tempfile::tempdir().unwrap();
    let other_path = other.path().join("db.oak");
    let db = open(&other_path);
    db.insert("t", b"other", b"db").unwrap();
    let (other_copy, _) = copy_of(&other_path);
    drop(db);
    let (dir, copy) = copy_of(&path);
    for name in ["db.oak.wal0", "db.oak.wal1"] {
        std::fs::copy(other_copy.path().join(name), dir.path().join(name)).unwrap();
    }
    match options().open(&copy) {
        Err(Error::WalCorruption { reason, .. }) => {
            assert!(reason.contains("different database"), "{reason}")
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn after_a_clean_close_the_log_is_not_needed_and_after_an_open_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.oak");
    let db = open(&path);
    db.insert("t", b"base", b"checkpointed").unwrap();
    db.insert("t", b"k", b"v").unwrap();
    drop(db);
    for i in 0..2 {
        std::fs::remove_file(format!("{}.wal{i}", path.display())).unwrap();
    }
    let db = open(&path);
    let mut want = model(0);
    want.insert(b"k".to_vec(), b"v".to_vec());
    assert!(read_all(&db) == want);
    // Opened, the database needs its log again: a crash image without it
    // is refused.
    db.insert("t", b"k2", b"v2").unwrap();
    let (crash, crash_path) = copy_of(&path);
    drop(db);
    let needed = RawDb::open(&crash_path).unwrap().wal();
    let active = needed
        .records
        .iter()
        .find(|r| r.status == RecordStatus::Replay)
        .unwrap()
        .file;
    let name = format!("db.oak.wal{active}");
    std::fs::remove_file(crash.path().join(&name)).unwrap();
    match options().open(&crash_path) {
        Err(Error::WalCorruption { path, .. }) => {
            assert!(path.ends_with(&name) || path.exists(), "{}", path.display())
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_symbolic_link_keeps_the_log_beside_the_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.oak");
    let link = dir.path().join("link.oak");
    drop(TestDb::open(&real));
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let db = open(&link);
    db.insert("t", b"base", b"checkpointed").unwrap();
    db.insert("t", b"only", b"in the log").unwrap();
    assert!(dir.path().join("real.oak.wal0").exists());
    assert!(!dir.path().join("link.oak.wal0").exists());
    assert_eq!(db.path(), std::fs::canonicalize(&real).unwrap());
    // A crash image of the real files holds the commits.
    let (_crash, crash_path) = copy_of(&real);
    let recovered = open(&crash_path);
    assert_eq!(common::entries(&recovered.begin_read(), "t").len(), 2);
    drop(db);
    let db = open(&real);
    assert_eq!(read_all(&db).len(), 2);
}

#[test]
fn an_empty_data_file_is_not_silently_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.oak");
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        options().create(false).open(&path),
        Err(Error::NotADatabase { .. })
    ));
    // A data file cut to nothing while its log holds data.
    let (_image, image_path, _) = crash_image();
    let (_dir, copy) = copy_of(&image_path);
    std::fs::write(&copy, b"").unwrap();
    assert!(matches!(
        options().open(&copy),
        Err(Error::Corruption { page: 0, .. })
    ));
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), 0, "left as it was");
    // An empty file with no log is a database to create, when allowed.
    let db = open(&path);
    db.insert("t", b"k", b"v").unwrap();
}

/// Rewrites the first record the image replays with `change` applied to
/// its bytes, and its checksum recomputed.
fn forge_first_record(path: &Path, change: impl FnOnce(&mut [u8])) -> String {
    let wal = RawDb::open(path).unwrap().wal();
    let r = wal
        .records
        .iter()
        .find(|r| r.status == RecordStatus::Replay)
        .unwrap();
    let file = &wal.files[r.file].path;
    let mut b = std::fs::read(file).unwrap();
    let rec = &mut b[r.offset as usize..r.offset as usize + r.len];
    change(rec);
    let mut h = crc32fast::Hasher::new();
    h.update(&rec[..4]);
    h.update(&rec[8..]);
    rec[4..8].copy_from_slice(&h.finalize().to_le_bytes());
    std::fs::write(file, b).unwrap();
    file.file_name().unwrap().to_str().unwrap().to_string()
}

#[test]
fn records_with_valid_checksums_that_replay_cannot_apply_are_refused() {
    let (_image, path, _) = crash_image();
    // Operations that do not parse; then a gap in the commit numbers.
    for change in [
        (|r: &mut [u8]| r[40] = 99) as fn(&mut [u8]),
        |r: &mut [u8]| r[16] = r[16].wrapping_add(1),
    ] {
        let (_dir, copy) = copy_of(&path);
        let name = forge_first_record(&copy, change);
        let recovery = RawDb::open(&copy).unwrap().wal().recovery;
        assert!(recovery.is_err(), "the tools call it clean: {recovery:?}");
        assert_refused(&copy, &name);
    }
}

#[test]
fn commits_in_the_file_a_stalled_checkpoint_switched_to_are_not_dropped() {
    // The newest meta slot names the file before the switch; the commits
    // after it are only in the other file, found by following the log.
    const STALL: &str = "checkpoint.data.sync";
    let live = tempfile::tempdir().unwrap();
    let path = live.path().join("db.oak");
    let fail = std::sync::Arc::new(oakmap::FailPoints::new());
    let db = std::sync::Arc::new(TestDb::with_options(
        options().fail_points(fail.clone()),
        &path,
    ));
    db.insert("t", b"base", b"checkpointed").unwrap();
    db.checkpoint().unwrap();
    db.insert("t", &0u64.to_be_bytes(), &value(0)).unwrap();
    fail.hold(STALL);
    let stalled = {
        let db = db.clone();
        std::thread::spawn(move || db.checkpoint())
    };
    while fail.waiting(STALL) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // A crash now: the log goes on through the marker, with no record after.
    let (_early, early) = copy_of(&path);
    assert!(read_all(&open(&early)) == model(1));
    for i in 1..COMMITS {
        db.insert("t", &i.to_be_bytes(), &value(i)).unwrap();
    }
    let (image, image_path) = copy_of(&path);
    fail.release(STALL);
    stalled.join().unwrap().unwrap();
    drop(std::sync::Arc::into_inner(db).unwrap());

    let raw = RawDb::open(&image_path).unwrap();
    let named = raw.newest_meta().unwrap().wal_file;
    let other = format!("db.oak.wal{}", 1 - named);
    let wal = raw.wal();
    assert!(
        wal.records.iter().any(|r| r.marker && r.file == named),
        "the file left behind ends with a switch marker"
    );
    let (_whole, whole) = copy_of(&image_path);
    assert!(read_all(&open(&whole)) == model(COMMITS));
    std::fs::remove_file(image.path().join(&other)).unwrap();
    assert_refused(&image_path, &other);
}

/// Flips a byte inside the newest meta slot of the database at `path`.
fn rot_newest_meta(path: &Path) {
    let slot = RawDb::open(path)
        .unwrap()
        .metas()
        .iter()
        .find(|m| m.newest)
        .unwrap()
        .slot;
    flip(path, (1 + slot) * 4096 + 20, 0x04);
}

#[test]
fn a_rotted_slot_written_at_open_does_not_bring_back_the_clean_mark() {
    // A clean close, then an open (which writes a slot without the mark),
    // acknowledged commits only in the log, a crash, and the newer slot
    // rots: the older slot still says "clean", but the log is read.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.oak");
    drop(open(&path));
    let db = open(&path);
    for i in 0..COMMITS {
        db.insert("t", &i.to_be_bytes(), &value(i)).unwrap();
    }
    let (_crash, crash_path) = copy_of(&path);
    drop(db);
    rot_newest_meta(&crash_path);
    let db = open(&crash_path);
    let mut want = model(COMMITS);
    want.remove(b"base".as_slice());
    assert!(read_all(&db) == want, "commits after the open were dropped");
}

#[test]
fn a_damaged_header_is_repaired_so_the_next_crash_finds_the_log() {
    let (_image, path, wal) = crash_image();
    let (dir, copy) = copy_of(&path);
    flip(&dir.path().join(&wal), 40, 0x01);
    let db = open(&copy);
    assert!(read_all(&db) == model(COMMITS));
    // A crash right after that open, before any commit.
    let (_crash, crash_path) = copy_of(&copy);
    drop(db);
    let db = open(&crash_path);
    assert!(read_all(&db) == model(COMMITS));
}

#[test]
fn a_crash_while_an_accepted_loss_restarts_the_log_needs_no_second_acceptance() {
    let (_image, path, wal) = crash_image();
    let (dir, copy) = copy_of(&path);
    std::fs::remove_file(dir.path().join(&wal)).unwrap();
    // The restart of the log fails: the process stops there.
    let fail = std::sync::Arc::new(oakmap::FailPoints::new());
    fail.arm("wal.truncate", 0, true);
    let failed = options()
        .accept_log_loss(true)
        .fail_points(fail)
        .open(&copy);
    assert!(failed.is_err(), "the armed failure point did not fire");
    drop(failed);
    let db = open(&copy);
    assert!(read_all(&db) == model(0));
}
