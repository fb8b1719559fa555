//! Guards the read-only tools: `oakmap dump` in every form (text and JSON),
//! `check` (exit 0 clean, 1 with problems, 2 unopenable) and `stats`, on a
//! healthy database, a damaged one, a file that is not a database, and a
//! path that is not a regular file; and that `crash-test --dir`, like
//! `bench --dir`, makes a directory that does not exist yet.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{TestDb, oakmap};

/// `oakmap`, killed and failed if it runs past `limit`: for inputs that
/// once made it hang.
fn oakmap_within(args: &[&str], file: &Path, limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .args(args)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("oakmap {args:?} {} ran past {limit:?}", file.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A database with two trees, an overflow value, a checkpoint and WAL
/// records after it (the copy is taken while it is open, like a crash).
fn build(dir: &Path) -> std::path::PathBuf {
    let live = dir.join("live.oak");
    let db = TestDb::open(&live);
    for i in 0..300u32 {
        db.insert(
            "users",
            format!("user{i:04}").as_bytes(),
            b"{\"name\":\"x\"}",
        )
        .unwrap();
    }
    db.insert("blobs", b"big", &vec![7u8; 20_000]).unwrap();
    db.checkpoint().unwrap();
    db.insert("users", b"late", b"in the WAL only").unwrap();
    let path = dir.join("db.oak");
    std::fs::copy(&live, &path).unwrap();
    for i in 0..2 {
        std::fs::copy(
            format!("{}.wal{i}", live.display()),
            format!("{}.wal{i}", path.display()),
        )
        .unwrap();
    }
    path
}

#[test]
fn dump_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let summary = text(&oakmap(&["dump"], &path));
    assert!(
        summary.contains("meta slot 0") && summary.contains("meta slot 1"),
        "{summary}"
    );
    assert!(summary.contains("(newest)"), "{summary}");
    assert!(
        summary.contains("users") && summary.contains("blobs"),
        "{summary}"
    );
    assert!(summary.contains("1 records to replay"), "{summary}");

    let tree = text(&oakmap(
        &["dump", "--tree", "users", "--values", "--max-bytes", "8"],
        &path,
    ));
    assert!(tree.contains("leaf") && tree.contains("branch"), "{tree}");
    assert!(
        tree.contains(r#"user0000 = {\"name\":...(+4 bytes)"#),
        "{tree}"
    );
    let blobs = text(&oakmap(
        &["dump", "--tree", "blobs", "--values", "--hex"],
        &path,
    ));
    assert!(blobs.contains("626967 = 0707"), "{blobs}");

    let page = text(&oakmap(&["dump", "--page", "3"], &path));
    assert!(page.contains("page_crc") && page.contains("hex:"), "{page}");
    let freelist = text(&oakmap(&["dump", "--freelist"], &path));
    assert!(freelist.contains("free pages"), "{freelist}");
    let wal = text(&oakmap(&["dump", "--wal"], &path));
    assert!(wal.contains("put users late"), "{wal}");
    assert!(wal.contains("to replay"), "{wal}");

    for form in [
        &["dump", "--json"][..],
        &["dump", "--json", "--tree", "users"],
        &["dump", "--json", "--page", "4"],
        &["dump", "--json", "--wal"],
        &["dump", "--json", "--freelist"],
    ] {
        let out = oakmap(form, &path);
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{form:?}: {e}"));
        assert!(v.is_object(), "{form:?}");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&oakmap(&["dump", "--json"], &path).stdout).unwrap();
    assert_eq!(v["meta_slots"].as_array().unwrap().len(), 2);
    assert_eq!(v["header"]["format_version"], oakmap::FORMAT_VERSION);
}

#[test]
fn check_exit_codes_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let ok = oakmap(&["check"], &path);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("clean"));
    let stats = text(&oakmap(&["stats"], &path));
    assert!(
        stats.contains("fill factor") && stats.contains("1 records to replay"),
        "{stats}"
    );

    // Damage a tree page: check reports it (exit 1), dump still works.
    let bytes = std::fs::read(&path).unwrap();
    let mut damaged = bytes.clone();
    damaged[4 * 4096 + 200] ^= 0xff;
    std::fs::write(&path, &damaged).unwrap();
    let bad = oakmap(&["check"], &path);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("checksum"), "{}", text(&bad));
    let dump = oakmap(&["dump", "--page", "4"], &path);
    assert!(dump.status.success());
    assert!(text(&dump).contains("MISMATCH"), "{}", text(&dump));

    // Damage the newest meta slot too: dump marks it, check still exits 1.
    damaged[4096 + 20] ^= 1;
    damaged[2 * 4096 + 20] ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    let summary = text(&oakmap(&["dump"], &path));
    assert!(summary.contains("INVALID"), "{summary}");
    assert_eq!(oakmap(&["check"], &path).status.code(), Some(1));

    // Not a database: exit 2.
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hello").unwrap();
    assert_eq!(oakmap(&["check"], &other).status.code(), Some(2));
    assert_eq!(
        oakmap(&["check"], &dir.path().join("missing.oak"))
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn fifo_and_directory_are_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.oak");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    let subdir = dir.path().join("dir.oak");
    std::fs::create_dir(&subdir).unwrap();
    for (path, what) in [(&fifo, "FIFO"), (&subdir, "directory")] {
        for args in [&["check"][..], &["dump"], &["stats"]] {
            let out = oakmap_within(args, path, Duration::from_secs(20));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} {what}: {err}");
            assert!(
                err.contains(&path.display().to_string()) && err.contains(what),
                "{args:?}: {err}"
            );
        }
    }
}

#[test]
fn dump_force_past_damaged_magic() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();

    let refused = oakmap(&["dump"], &path);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not an oakmap database") && err.contains("--force shows what still decodes"),
        "{err}"
    );

    // Only the magic is damaged: the rest of the header decodes with it
    // restored, and everything after it is intact.
    let forced = oakmap(&["dump", "--force"], &path);
    let out = text(&forced);
    assert!(forced.status.success(), "{out}");
    assert!(
        out.contains("header: DAMAGED: magic bytes damaged") && out.contains("page_bytes 4096"),
        "{out}"
    );
    assert!(
        out.contains("meta slot 0") && out.contains("meta slot 1") && out.contains("(newest)"),
        "{out}"
    );
    assert!(out.contains("users") && out.contains("blobs"), "{out}");
    assert!(out.contains("1 records to replay"), "{out}");
    let tree = text(&oakmap(&["dump", "--force", "--tree", "users"], &path));
    assert!(tree.contains("leaf"), "{tree}");
    let v: serde_json::Value =
        serde_json::from_slice(&oakmap(&["dump", "--force", "--json"], &path).stdout).unwrap();
    assert_eq!(v["header"]["valid"], false);
    assert_eq!(v["meta_slots"].as_array().unwrap().len(), 2);

    // The header's checksum is damaged too: the page size is guessed from
    // its field, and the meta slots and trees still show.
    bytes[61] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let out = text(&oakmap(&["dump", "--force"], &path));
    assert!(
        out.contains("header: DAMAGED: magic bytes are not"),
        "{out}"
    );
    assert!(out.contains("(newest)") && out.contains("users"), "{out}");
}

#[test]
fn crash_test_makes_its_dir() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("not").join("yet");
    let out = Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .args(["crash-test", "--iterations", "3", "--seed", "5", "--dir"])
        .arg(&nested)
        .output()
        .unwrap();
    let stdout = text(&out);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("3 kills") && stdout.contains(" 0 violations"),
        "{stdout}"
    );
    assert!(nested.is_dir());
}
