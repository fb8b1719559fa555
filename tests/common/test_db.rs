//! `TestDb`: a `Db` whose drop runs the integrity check and fails the test
//! on any problem, as bbolt's test DB does, so that every test that opens a
//! database ends with the check without writing it.
//!
//! The check runs when the `TestDb` goes out of scope (or in [`TestDb::close`]),
//! after everything the test measured. Like [`Db::check`] it checkpoints
//! first, so a test that counts what the close itself writes keeps a plain
//! `Db` (tests/close.rs). It is skipped when the thread is
//! already panicking: the first failure is the one to read, and a second
//! panic during unwinding would abort the run. A test that leaves its
//! database poisoned or damaged on purpose gives the plain `Db` back with
//! [`TestDb::into_inner`] and says why.
//!
//! This file is also compiled into the tools' tests (`tools/tests/common`),
//! so it depends on nothing but `oakmap` and `tempfile`.

use std::ops::Deref;
use std::path::Path;

use oakmap::{Db, Options};

/// Runs the integrity check and fails the test with its report if it finds
/// anything (or if the check cannot run, e.g. on a poisoned database).
pub fn assert_clean(db: &Db) {
    assert_clean_in(db, "");
}

/// [`assert_clean`], its failure prefixed with `context` (what replays it).
fn assert_clean_in(db: &Db, context: &str) {
    let report = match db.check() {
        Ok(report) => report,
        Err(e) => panic!("{context}integrity check could not run: {e}"),
    };
    assert!(
        report.is_clean(),
        "{context}integrity check failed:\n{report}"
    );
}

/// A `Db` checked when it is dropped; derefs to the `Db`.
pub struct TestDb {
    /// `None` only once dropped, closed or handed out.
    db: Option<Db>,
    /// The temporary directory the database lives in, when this owns it;
    /// removed after the database is closed.
    dir: Option<tempfile::TempDir>,
    /// Put before a failed check's report: what replays the case.
    context: String,
}

impl TestDb {
    /// Opens (or creates) the database at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> TestDb {
        TestDb::with_options(Options::new(), path)
    }

    /// Opens (or creates) the database at `path` with `options`.
    ///
    /// A file this process closed a moment ago may still be locked for a
    /// moment: the lock is an `flock`, and a child another test thread is
    /// spawning holds a copy of the descriptor from `fork` to `exec`. So
    /// `Locked` is retried for up to two seconds; no test here opens a file
    /// another process really holds through this.
    pub fn with_options(options: Options, path: impl AsRef<Path>) -> TestDb {
        let path = path.as_ref();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match options.clone().open(path) {
                Ok(db) => return TestDb::from(db),
                Err(oakmap::Error::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("cannot open {}: {e}", path.display()),
            }
        }
    }

    /// A new database with `options` in a temporary directory of its own,
    /// removed when this is dropped.
    pub fn temp(options: Options) -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut db = TestDb::with_options(options, dir.path().join("test.oak"));
        db.dir = Some(dir);
        db
    }

    /// Names the case in the message of a failed check, e.g. the seed and
    /// the crash point that replay it.
    pub fn context(mut self, context: impl std::fmt::Display) -> TestDb {
        self.context = format!("{context}: ");
        self
    }

    /// Checks the database, then closes it ([`Db::close`]) and returns what
    /// the close says.
    pub fn close(mut self) -> oakmap::Result<()> {
        let db = self.db.take().expect("open until dropped");
        assert_clean_in(&db, &self.context);
        db.close()
    }

    /// The plain `Db`, which no check follows: for a test that leaves the
    /// database poisoned or damaged on purpose (say why where it is used).
    pub fn into_inner(mut self) -> Db {
        self.db.take().expect("open until dropped")
    }
}

impl From<Db> for TestDb {
    /// Adopts a `Db` opened elsewhere, e.g. with a result the test matches.
    fn from(db: Db) -> TestDb {
        TestDb {
            db: Some(db),
            dir: None,
            context: String::new(),
        }
    }
}

impl Deref for TestDb {
    type Target = Db;

    fn deref(&self) -> &Db {
        self.db.as_ref().expect("open until dropped")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(db) = self.db.take() else {
            return;
        };
        if !std::thread::panicking() {
            assert_clean_in(&db, &self.context);
        }
        drop(db);
        // `dir` drops after this: the files go once the database is closed.
    }
}
