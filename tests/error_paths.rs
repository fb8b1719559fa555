//! Guards what an error tells a newcomer: every I/O error names the file it
//! concerns (the data file, a WAL file, the path asked for), in a field and
//! in its text; a path that is not a regular file is refused by name; and a
//! bad page size names the rule it breaks.

mod common;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::TestDb;
use oakmap::inspect::RawDb;
use oakmap::{Db, Error, FailPoints, Limit, Options};

/// The `Error::Io` in `result`, as (path, kind, text); fails otherwise.
fn io_error<T>(result: oakmap::Result<T>) -> (PathBuf, ErrorKind, String) {
    match result {
        Err(e @ Error::Io { .. }) => {
            let text = e.to_string();
            let Error::Io { path, source } = e else {
                unreachable!()
            };
            (path, source.kind(), text)
        }
        Err(e) => panic!("expected Error::Io, got {e:?}"),
        Ok(_) => panic!("expected Error::Io, got Ok"),
    }
}

/// Asserts that `text` shows `path` as `Path::display` shows it.
fn assert_names(text: &str, path: &Path) {
    let shown = path.display().to_string();
    assert!(text.contains(&shown), "{text:?} does not name {shown}");
}

fn wal_path(db: &Path, i: u8) -> PathBuf {
    PathBuf::from(format!("{}.wal{i}", db.display()))
}

#[test]
fn a_missing_directory_is_named_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/app.oak");
    let (p, kind, text) = io_error(Db::open(&path));
    assert_eq!(p, path);
    assert_eq!(kind, ErrorKind::NotFound);
    assert_names(&text, &path);
    // The read-only tools name it too.
    let (p, kind, text) = io_error(RawDb::open(&path));
    assert_eq!((p, kind), (path.clone(), ErrorKind::NotFound));
    assert_names(&text, &path);
    assert!(!dir.path().join("no").exists());
}

#[test]
fn a_missing_file_without_create_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.oak");
    let (p, kind, text) = io_error(Options::new().create(false).open(&path));
    assert_eq!((p, kind), (path.clone(), ErrorKind::NotFound));
    assert_names(&text, &path);
    assert!(!path.exists());
}

#[test]
fn a_directory_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for result in [
        io_error(Db::open(dir.path())),
        io_error(Options::new().create(false).open(dir.path())),
        io_error(RawDb::open(dir.path())),
        io_error(RawDb::open_forced(dir.path())),
    ] {
        let (p, kind, text) = result;
        assert_eq!(p, dir.path());
        assert_eq!(kind, ErrorKind::IsADirectory);
        assert_names(&text, dir.path());
        assert!(text.contains("is a directory"), "{text}");
    }
    // Nothing was created inside it or beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_socket_is_refused_by_name_without_opening_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock.oak");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    for (p, kind, text) in [io_error(Db::open(&path)), io_error(RawDb::open(&path))] {
        assert_eq!((p, kind), (path.clone(), ErrorKind::InvalidInput));
        assert_names(&text, &path);
        assert!(text.contains("a socket"), "{text}");
        assert!(text.contains("regular file"), "{text}");
    }
}

#[test]
fn a_file_that_is_not_ours_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("text.oak", b"hello, this is not a database\n".repeat(400)),
        ("short.oak", b"oak".to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        for result in [Db::open(&path).map(drop), RawDb::open(&path).map(drop)] {
            match result {
                Err(e @ Error::NotADatabase { .. }) => assert_names(&e.to_string(), &path),
                other => panic!("{name}: expected NotADatabase, got {other:?}"),
            }
        }
        // Refused, not overwritten.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn a_location_that_cannot_be_written_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("read-only");
    std::fs::create_dir(&locked).unwrap();
    let mut perms = std::fs::metadata(&locked).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(&locked, perms).unwrap();
    // Root (as in CI) writes through permission bits; sysfs refuses new
    // files to everyone, so it is the read-only location there.
    let writable = std::fs::write(locked.join("probe"), b"").is_ok();
    let path = if writable {
        PathBuf::from("/sys/oakmap-error-paths.oak")
    } else {
        locked.join("app.oak")
    };
    let (p, kind, text) = io_error(Db::open(&path));
    assert_eq!(p, path);
    assert_names(&text, &path);
    if !writable {
        assert_eq!(kind, ErrorKind::PermissionDenied);
    }
    assert!(!path.exists());
}

#[test]
fn a_wal_path_that_is_not_a_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.oak");
    {
        let db = TestDb::open(&path);
        db.insert("t", b"k", b"v").unwrap();
    }
    // The WAL files are named after the real file.
    let wal0 = wal_path(&path.canonicalize().unwrap(), 0);
    std::fs::remove_file(&wal0).unwrap();
    std::fs::create_dir(&wal0).unwrap();
    let (p, kind, text) = io_error(Db::open(&path));
    assert_eq!((p, kind), (wal0.clone(), ErrorKind::IsADirectory));
    assert_names(&text, &wal0);
    // The tools' view of the log says what recovery would, naming it.
    let view = RawDb::open(&path).unwrap().wal();
    let why = view.recovery.expect_err("the log cannot be read");
    assert_names(&why, &wal0);
    // Once it is out of the way the database opens as it was (a clean
    // close needs no log).
    std::fs::remove_dir(&wal0).unwrap();
    let db = TestDb::open(&path);
    assert_eq!(db.get("t", b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_second_opener_is_told_which_file_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.oak");
    let db = TestDb::open(&path);
    match Db::open(&path) {
        Err(e @ Error::Locked { .. }) => {
            assert_names(&e.to_string(), &path.canonicalize().unwrap())
        }
        other => panic!("expected Locked, got {:?}", other.map(drop)),
    }
    drop(db);
}

#[test]
fn a_failed_write_names_the_file_it_was_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.oak");
    let real = dir.path().canonicalize().unwrap().join("app.oak");
    let cases = [
        // A commit's log sync: one of the WAL files.
        ("wal.sync", vec![wal_path(&real, 0), wal_path(&real, 1)]),
        // A checkpoint's meta slot: the data file.
        ("meta.write", vec![real.clone()]),
    ];
    for (point, files) in cases {
        let fail = Arc::new(FailPoints::new());
        let db = common::no_background_checkpoints()
            .fail_points(fail.clone())
            .open(&path)
            .unwrap();
        db.insert("t", b"before", b"v").unwrap();
        fail.arm(point, 0, false);
        let result = match point {
            "wal.sync" => db.insert("t", b"k", b"v").map(drop),
            _ => db.checkpoint(),
        };
        let (p, _, text) = io_error(result);
        assert!(files.contains(&p), "{point}: {p:?} is not one of {files:?}");
        assert_names(&text, &p);
        // Poisoned on purpose: no integrity check on this handle; the
        // reopen below checks what it left.
        drop(db);
        drop(TestDb::open(&path));
    }
}

#[test]
fn a_bad_page_size_names_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    for page_bytes in [0, 1000, 2048, 4097, 6144, 131_072] {
        let path = dir.path().join(format!("p{page_bytes}.oak"));
        let e = match Options::new().page_bytes(page_bytes).open(&path) {
            Err(e) => e,
            Ok(_) => panic!("page size {page_bytes} was accepted"),
        };
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    what: Limit::PageSize,
                    ..
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.contains(&page_bytes.to_string()), "{text}");
        assert!(text.contains("power of two"), "{text}");
        assert!(text.contains("4096") && text.contains("65536"), "{text}");
        assert!(!path.exists(), "{page_bytes}: nothing is created");
    }
    // Every size the rule allows opens.
    for shift in 12..=16 {
        let path = dir.path().join(format!("ok{shift}.oak"));
        let db = TestDb::with_options(Options::new().page_bytes(1 << shift), &path);
        assert_eq!(db.page_bytes(), 1 << shift);
    }
}
