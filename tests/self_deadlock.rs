//! Guards the self-deadlock rule: a thread holding a `WriteTxn` that calls
//! something waiting for the writer lock on the same `Db` (`begin_write`,
//! the one-call writes, `checkpoint`, `check`) gets
//! `Error::WriteTxnOpenOnThisThread` instead of hanging; other threads still
//! wait their turn; reads and `sync` go on. Every case runs under a timeout,
//! so a regression fails instead of hanging the suite.

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use common::TestDb;
use oakmap::Error;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `f` on its own thread and returns its result, or fails the test if
/// it has not returned within the timeout (the thread is then left hanging).
fn within_timeout<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still waiting after {TIMEOUT:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the thread panicked"),
    }
}

fn is_own_writer<T: std::fmt::Debug>(r: oakmap::Result<T>) -> bool {
    matches!(r, Err(Error::WriteTxnOpenOnThisThread))
}

fn open() -> Arc<TestDb> {
    let db = TestDb::temp(oakmap::Options::new());
    db.insert("t", b"k", b"v").unwrap();
    Arc::new(db)
}

#[test]
fn calls_that_wait_for_the_writer_fail_on_its_own_thread() {
    let db = open();
    within_timeout("calls under an open WriteTxn", move || {
        let mut tx = db.begin_write().unwrap();
        tx.open_tree("t").unwrap().insert(b"a", b"1").unwrap();
        assert!(is_own_writer(db.begin_write().map(|_| ())), "begin_write");
        assert!(is_own_writer(db.insert("t", b"b", b"2")), "insert");
        assert!(is_own_writer(db.remove("t", b"k")), "remove");
        assert!(
            is_own_writer(db.get_or_insert("t", b"k", b"x")),
            "get_or_insert"
        );
        assert!(
            is_own_writer(db.compare_and_swap("t", b"k", Some(b"v"), None)),
            "compare_and_swap"
        );
        assert!(is_own_writer(db.checkpoint()), "checkpoint");
        assert!(is_own_writer(db.check()), "check");
        // What does not wait for the writer goes on.
        db.sync().unwrap();
        assert_eq!(db.get("t", b"k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(db.begin_read().tree("t").unwrap().unwrap().len(), 1);
        db.stats().unwrap();
        // The refusals left the transaction as it was.
        tx.open_tree("t").unwrap().insert(b"b", b"2").unwrap();
        tx.commit().unwrap();
        // Committed, the thread holds no writer.
        assert!(!db.insert("t", b"c", b"3").unwrap());
        let tx = db.begin_write().unwrap();
        drop(tx); // aborted: the same
        db.checkpoint().unwrap();
        assert_eq!(db.begin_read().tree("t").unwrap().unwrap().len(), 4);
        // `db` is checked as it drops here, on this thread, holding no writer.
    });
}

#[test]
fn other_threads_still_wait_for_the_writer() {
    let db = open();
    let writer_db = db.clone();
    within_timeout("a second thread's insert", move || {
        let mut tx = writer_db.begin_write().unwrap();
        tx.open_tree("t").unwrap().insert(b"first", b"1").unwrap();
        let (started, waiting) = mpsc::channel();
        let other_db = writer_db.clone();
        let other = std::thread::spawn(move || {
            started.send(()).unwrap();
            other_db.insert("t", b"second", b"2")
        });
        waiting.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!other.is_finished(), "the other thread waits, not fails");
        tx.commit().unwrap();
        assert!(!other.join().unwrap().unwrap());
    });
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().unwrap();
    assert_eq!(t.get(b"first").unwrap(), Some(&b"1"[..]));
    assert_eq!(t.get(b"second").unwrap(), Some(&b"2"[..]));
    drop(rx);
}
