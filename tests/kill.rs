//! Guards crash safety against process kills: a child process commits
//! transactions durably and reports each acknowledged one; the parent SIGKILLs
//! it at random moments, reopens, runs the integrity check, and finds every
//! acknowledged transaction, with the one in flight all-or-nothing.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use oakmap::Db;

const DIR_VAR: &str = "OAKMAP_KILL_TEST_DIR";
const KILLS: u64 = 60;

/// What commit `n` writes: key n with a value (every seventh one in an
/// overflow run), and a removal of key n-10 on every third commit.
fn apply(model: &mut BTreeMap<u64, Vec<u8>>, n: u64) {
    model.insert(n, value(n));
    if n.is_multiple_of(3) && n >= 10 {
        model.remove(&(n - 10));
    }
}

fn value(n: u64) -> Vec<u8> {
    let len = if n.is_multiple_of(7) {
        5000 + n as usize % 3000
    } else {
        10 + n as usize % 200
    };
    (0..len).map(|i| (n as usize * 31 + i) as u8).collect()
}

fn committed_count(db: &Db) -> u64 {
    db.get("meta", b"n")
        .unwrap()
        .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()))
}

/// The child: commits forever, printing `ack N` after commit N returns.
#[test]
#[ignore = "run by kill_test_finds_every_acknowledged_commit as its child process"]
fn kill_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let db = Db::open(Path::new(&dir).join("kill.oak")).unwrap();
    let mut n = committed_count(&db);
    let stdout = std::io::stdout();
    loop {
        let mut tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_tree("data").unwrap();
            t.insert(&n.to_be_bytes(), &value(n)).unwrap();
            if n.is_multiple_of(3) && n >= 10 {
                t.remove(&(n - 10).to_be_bytes()).unwrap();
            }
        }
        tx.open_tree("meta")
            .unwrap()
            .insert(b"n", &(n + 1).to_be_bytes())
            .unwrap();
        tx.commit().unwrap();
        let mut out = stdout.lock();
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
        n += 1;
    }
}

#[test]
fn kill_test_finds_every_acknowledged_commit() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = common::Rng(0x5eed);
    let mut acked: Option<u64>;
    let mut total_verified = 0;
    for kill in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ") {
                    tx.send(n.parse::<u64>().unwrap()).unwrap();
                }
            }
        });
        // Wait for the child to make progress, then kill it at a random moment.
        let deadline = Instant::now() + Duration::from_secs(20);
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("child acknowledged nothing");
        acked = Some(first);
        std::thread::sleep(Duration::from_millis(rng.below(150)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        while let Ok(n) = rx.try_recv() {
            acked = Some(n);
        }
        assert!(Instant::now() < deadline);

        let db = Db::open(dir.path().join("kill.oak")).unwrap();
        common::assert_clean(&db);
        let n = committed_count(&db);
        let last = acked.unwrap();
        assert!(
            n > last,
            "kill {kill}: acknowledged commit {last} lost (file has {n} commits)"
        );
        assert!(
            n <= last + 2,
            "kill {kill}: {n} commits but only {last} acknowledged"
        );
        let mut model = BTreeMap::new();
        for i in 0..n {
            apply(&mut model, i);
        }
        let rx_ = db.begin_read();
        let t = rx_.tree("data").unwrap().unwrap();
        let got: BTreeMap<u64, Vec<u8>> = t
            .iter()
            .unwrap()
            .map(|e| {
                let (k, v) = e.unwrap();
                (u64::from_be_bytes(k.try_into().unwrap()), v.to_vec())
            })
            .collect();
        assert!(
            got == model,
            "kill {kill}: contents differ from the first {n} commits"
        );
        total_verified = n;
    }
    assert!(
        total_verified > KILLS,
        "too few commits verified: {total_verified}"
    );
}
