//! Guards `oakmap backup SRC DST`: a closed database (its log replayed
//! first) is copied whole into a dense, clean file; a database another
//! process has open is refused with a message that says what to do instead,
//! and so is an existing DST unless --overwrite.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

mod common;

use common::TestDb;
use oakmap::inspect::RawDb;

fn backup(args: &[&str], src: &Path, dst: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .arg("backup")
        .args(args)
        .arg(src)
        .arg(dst)
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A database whose last commits are only in its log (as after a crash):
/// 3,000 entries, then every other one removed.
fn crashed_db(path: &Path) {
    let options = oakmap::Options::new().checkpoint_interval(Duration::from_secs(3600));
    let db = TestDb::with_options(options, path);
    let mut tx = db.begin_write().unwrap();
    for i in 0..3000u32 {
        tx.open_tree("kv")
            .unwrap()
            .insert(&i.to_be_bytes(), &[7; 80])
            .unwrap();
    }
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    for i in (0..3000u32).step_by(2) {
        db.remove("kv", &i.to_be_bytes()).unwrap();
    }
    // Leave the last commits in the log: copy the files before the close.
    let image = path.with_extension("image");
    for ext in ["", ".wal0", ".wal1"] {
        std::fs::copy(
            format!("{}{ext}", path.display()),
            format!("{}{ext}", image.display()),
        )
        .unwrap();
    }
    drop(db);
    for ext in ["", ".wal0", ".wal1"] {
        std::fs::rename(
            format!("{}{ext}", image.display()),
            format!("{}{ext}", path.display()),
        )
        .unwrap();
    }
}

#[test]
fn backup_of_a_closed_database() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.oak");
    crashed_db(&src);
    let dst = dir.path().join("copy.oak");
    let out = backup(&[], &src, &dst);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("1500 entries"), "{stdout}");
    assert!(stdout.contains("MB/s"), "{stdout}");
    let raw = RawDb::open(&dst).unwrap();
    let meta = raw.newest_meta().unwrap();
    assert!(meta.clean);
    assert_eq!(meta.free_count, 0);
    assert!(raw.check(None).is_clean());
    assert!(raw.file_bytes() < std::fs::metadata(&src).unwrap().len());
    drop(raw);
    let copy = TestDb::open(&dst);
    assert_eq!(copy.stats().unwrap().replayed_commits, 0);
    let rx = copy.begin_read();
    let kv = rx.tree("kv").unwrap().unwrap();
    assert_eq!(kv.len(), 1500);
    assert_eq!(kv.get(&1u32.to_be_bytes()).unwrap(), Some(&[7u8; 80][..]));
    assert_eq!(kv.get(&2u32.to_be_bytes()).unwrap(), None);
    drop(rx);
    drop(copy);

    // DST exists now: refused, then replaced with --overwrite.
    let out = backup(&[], &src, &dst);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--overwrite"), "{stderr}");
    let out = backup(&["--overwrite"], &src, &dst);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(RawDb::open(&dst).unwrap().check(None).is_clean());
}

#[test]
fn backup_of_a_locked_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.oak");
    let db = TestDb::open(&src);
    db.insert("t", b"k", b"v").unwrap();
    let dst = dir.path().join("copy.oak");
    let out = backup(&[], &src, &dst);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is open in another process"), "{stderr}");
    assert!(stderr.contains("Db::backup_to"), "{stderr}");
    assert!(stderr.contains("SAVE"), "{stderr}");
    assert!(!dst.exists());
    // The database is untouched and still open here.
    assert_eq!(db.get("t", b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn backup_of_a_missing_file_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("absent.oak");
    let dst = dir.path().join("copy.oak");
    let out = backup(&[], &src, &dst);
    assert_eq!(out.status.code(), Some(2));
    assert!(!src.exists());
    assert!(!dst.exists());
}
