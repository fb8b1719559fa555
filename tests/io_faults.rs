//! Guards behaviour under failing I/O: for every N, the Nth write, length
//! change or sync of a small workload fails (EIO, or ENOSPC when the data
//! file grows), once or from then on. The failing call returns an error; a
//! failure inside a commit or checkpoint poisons the `Db` (one inside a
//! transaction's own writes fails only that transaction); nothing panics; and
//! reopening without the fault recovers a prefix of the commits that holds
//! every acknowledged one.

mod common;

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Rng, TestDb};
use oakmap::{Db, Error, IoFile, IoHook, IoOp, Options};

/// Fails the `n`th operation (0-based), and with `persistent` every one after.
struct FailNth {
    n: u64,
    persistent: bool,
    seen: AtomicU64,
    fired: AtomicBool,
}

impl IoHook for FailNth {
    fn before(&self, file: IoFile, op: &IoOp<'_>, point: &'static str) -> io::Result<()> {
        let i = self.seen.fetch_add(1, Ordering::SeqCst);
        if i == self.n || (self.persistent && i > self.n) {
            self.fired.store(true, Ordering::SeqCst);
            let errno = match (file, op) {
                (IoFile::Data, IoOp::SetLen(_)) => 28, // ENOSPC: the disk is full
                _ => 5,                                // EIO
            };
            let _ = point;
            return Err(io::Error::from_raw_os_error(errno));
        }
        Ok(())
    }
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn options() -> Options {
    Options::new()
        .wal_bytes_max(1 << 30)
        .checkpoint_interval(Duration::from_secs(3600))
}

/// Where the workload stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Completed,
    InTransaction,
    InCommitOrCheckpoint,
}

/// Commits until an operation fails. Returns the models after each commit,
/// how many were acknowledged, and where it stopped.
fn workload(db: &Db, seed: u64) -> (Vec<Model>, u64, Stop) {
    let mut rng = Rng(seed);
    let mut model = Model::new();
    let mut models = vec![model.clone()];
    for n in 1..=40u64 {
        let Ok(mut tx) = db.begin_write() else {
            return (models, n - 1, Stop::InCommitOrCheckpoint);
        };
        let mut next = model.clone();
        let mut failed = false;
        for _ in 0..1 + rng.below(3) {
            let key = vec![rng.below(30) as u8];
            let len = if rng.below(8) == 0 {
                6000
            } else {
                rng.below(200) as usize
            };
            let value = rng.bytes(len);
            let r = tx.open_tree("t").and_then(|mut t| t.insert(&key, &value));
            if r.is_err() {
                failed = true;
                break;
            }
            next.insert(key, value);
        }
        if failed {
            assert!(matches!(tx.commit(), Err(Error::TransactionFailed)));
            return (models, n - 1, Stop::InTransaction);
        }
        if tx.commit().is_err() {
            models.push(next);
            return (models, n - 1, Stop::InCommitOrCheckpoint);
        }
        model = next;
        models.push(model.clone());
        if rng.below(5) == 0 && db.checkpoint().is_err() {
            return (models, n, Stop::InCommitOrCheckpoint);
        }
    }
    (models, 40, Stop::Completed)
}

fn read(db: &Db) -> Model {
    common::entries(&db.begin_read(), "t")
}

/// Runs the workload with operation `n` failing; checks the aftermath.
/// Returns whether the fault fired.
fn run(seed: u64, n: u64, persistent: bool) -> bool {
    let dir = common::crash::scratch_dir();
    let path = dir.path().join("f.oak");
    drop(TestDb::with_options(options(), &path));
    let hook = Arc::new(FailNth {
        n,
        persistent,
        seen: AtomicU64::new(0),
        fired: AtomicBool::new(false),
    });
    let context = format!(
        "seed {seed}, operation {n} fails{}",
        if persistent { " from then on" } else { " once" }
    );
    let (models, acked) = match options().io_hook(hook.clone()).open(&path) {
        Err(e) => {
            assert!(
                hook.fired.load(Ordering::SeqCst),
                "{context}: open failed by itself: {e}"
            );
            (vec![Model::new()], 0)
        }
        // A plain `Db`: its I/O fails on purpose, so it may end poisoned
        // (the check refuses) or with a failed checkpoint; the reopened
        // database below is checked.
        Ok(db) => {
            let (models, acked, stop) = workload(&db, seed);
            match stop {
                Stop::InCommitOrCheckpoint => {
                    assert!(
                        hook.fired.load(Ordering::SeqCst),
                        "{context}: failed by itself"
                    );
                    assert!(
                        matches!(db.begin_write().err(), Some(Error::Poisoned)),
                        "{context}: not poisoned"
                    );
                    // Reads keep working.
                    let _ = read(&db);
                }
                Stop::InTransaction => {
                    assert!(
                        db.begin_write().is_ok(),
                        "{context}: a failed transaction poisoned the Db"
                    );
                }
                Stop::Completed => {}
            }
            (models, acked)
        }
    };
    let db = options()
        .open(&path)
        .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
    let db = TestDb::from(db).context(&context);
    let got = read(&db);
    let m = (acked as usize..models.len()).find(|&i| models[i] == got);
    assert!(
        m.is_some(),
        "{context}: recovered state is not a prefix holding all {acked} acknowledged commits"
    );
    hook.fired.load(Ordering::SeqCst)
}

#[test]
fn every_failing_operation_is_survived() {
    for seed in [7, 8] {
        let mut n = 0;
        let mut runs = 0;
        // Fail each operation in turn until the workload gets through untouched.
        while run(seed, n, false) {
            assert!(run(seed, n, true));
            n += 1;
            runs += 2;
        }
        assert!(runs > 100, "seed {seed}: only {n} operations");
        eprintln!("seed {seed}: failed each of {n} operations, once and from then on");
    }
}
