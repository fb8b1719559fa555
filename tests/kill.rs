//! Guards crash safety against process kills: a child process commits
//! transactions and reports each acknowledged one; the parent SIGKILLs it at
//! random moments (some during checkpoints, some during recovery itself),
//! reopens, runs the integrity check, and verifies against its model. Runs
//! cycle through the durability modes and through one and four writer
//! threads. With `Immediate` every acknowledged commit is present; in every
//! mode each thread's commits are a prefix of its sequence, with the one in
//! flight all-or-nothing.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use oakmap::{Db, Durability, Options};

const DIR_VAR: &str = "OAKMAP_KILL_TEST_DIR";
const MODE_VAR: &str = "OAKMAP_KILL_TEST_MODE";
const KILLS: u64 = 80;

/// (durability, writer threads) for each mode a child can run in.
const MODES: [(&str, usize); 4] = [
    ("immediate", 1),
    ("group", 1),
    ("none", 1),
    ("immediate", 4),
];

fn durability(name: &str) -> Durability {
    match name {
        "immediate" => Durability::Immediate,
        "group" => Durability::Group(Duration::from_millis(2)),
        "none" => Durability::None,
        other => panic!("unknown mode {other}"),
    }
}

/// What commit `n` of a thread writes to its data tree: key n (every seventh
/// value in an overflow run, every fiftieth too large for the WAL bound, so
/// it commits as a checkpoint), and a removal of key n-10 on every third.
fn apply(model: &mut BTreeMap<u64, Vec<u8>>, n: u64) {
    model.insert(n, value(n));
    if n.is_multiple_of(3) && n >= 10 {
        model.remove(&(n - 10));
    }
}

fn value(n: u64) -> Vec<u8> {
    let len = if n.is_multiple_of(50) {
        300_000
    } else if n.is_multiple_of(7) {
        5000 + n as usize % 3000
    } else {
        10 + n as usize % 200
    };
    (0..len).map(|i| (n as usize * 31 + i) as u8).collect()
}

fn committed(db: &Db, thread: usize) -> u64 {
    db.get("meta", format!("n-{thread}").as_bytes())
        .unwrap()
        .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()))
}

fn child_options(mode: &str) -> Options {
    Options::new()
        .durability(durability(mode))
        .wal_bytes_max(256 << 10)
        .checkpoint_interval(Duration::from_millis(50))
}

/// One writer thread of the child: commits forever, printing `ack T N`
/// after its commit N returns.
fn child_writer(db: &Db, thread: usize) {
    let mut n = committed(db, thread);
    let data = format!("data-{thread}");
    let scratch = format!("scratch-{thread}");
    loop {
        let mut tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_tree(&data).unwrap();
            t.insert(&n.to_be_bytes(), &value(n)).unwrap();
            if n.is_multiple_of(3) && n >= 10 {
                t.remove(&(n - 10).to_be_bytes()).unwrap();
            }
        }
        if n.is_multiple_of(40) {
            // Tree deletion and creation in the same commit.
            tx.delete_tree(&scratch).unwrap();
            tx.open_tree(&scratch)
                .unwrap()
                .insert(&n.to_be_bytes(), b"s")
                .unwrap();
        }
        tx.open_tree("meta")
            .unwrap()
            .insert(format!("n-{thread}").as_bytes(), &(n + 1).to_be_bytes())
            .unwrap();
        tx.commit().unwrap();
        let mut out = std::io::stdout().lock();
        writeln!(out, "ack {thread} {n}").unwrap();
        out.flush().unwrap();
        n += 1;
    }
}

/// The child: opens (recovering) the database and commits until killed.
#[test]
#[ignore = "run by kill_test_finds_every_acknowledged_commit as its child process"]
fn kill_child() {
    let (Ok(dir), Ok(mode)) = (std::env::var(DIR_VAR), std::env::var(MODE_VAR)) else {
        return;
    };
    let (name, threads) = MODES
        .iter()
        .find(|(n, t)| mode == format!("{n}-{t}"))
        .copied()
        .unwrap();
    let db = child_options(name)
        .open(Path::new(&dir).join("kill.oak"))
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..threads {
            let db = &db;
            s.spawn(move || child_writer(db, t));
        }
    });
}

/// Spawns a child in `mode` and kills it after `delay` past its first
/// acknowledgment (or, with `during_open`, `delay` after spawning, often
/// while it is still recovering). Returns the highest acknowledged commit
/// per thread.
fn run_child(dir: &Path, mode: &str, delay: Duration, during_open: bool) -> HashMap<usize, u64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir)
        .env(MODE_VAR, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The first ack shares its line with libtest's "test kill_child ... ".
            let Some(at) = line.find("ack ") else {
                continue;
            };
            let mut parts = line[at..].split_whitespace().skip(1);
            let t: usize = parts.next().unwrap().parse().unwrap();
            let n: u64 = parts.next().unwrap().parse().unwrap();
            tx.send((t, n)).unwrap();
        }
    });
    let mut acked = HashMap::new();
    if !during_open {
        let (t, n) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child acknowledged nothing");
        acked.insert(t, n);
    }
    std::thread::sleep(delay);
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    while let Ok((t, n)) = rx.try_recv() {
        acked.insert(t, n);
    }
    acked
}

#[test]
fn kill_test_finds_every_acknowledged_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = common::Rng(0x5eed);
    let mut verified: HashMap<usize, u64> = HashMap::new();
    let mut acked_total = 0;
    for kill in 0..KILLS {
        let (name, threads) = MODES[kill as usize % MODES.len()];
        let mode = format!("{name}-{threads}");
        let during_open = kill % 5 == 4;
        let delay = Duration::from_millis(if during_open {
            rng.below(15)
        } else {
            rng.below(120)
        });
        let acked = run_child(dir.path(), &mode, delay, during_open);
        acked_total += acked.len();

        let db = Db::open(dir.path().join("kill.oak")).unwrap();
        common::assert_clean(&db);
        for t in 0..4 {
            let n = committed(&db, t);
            let before = verified.get(&t).copied().unwrap_or(0);
            let context = format!("kill {kill} ({mode}), thread {t}");
            assert!(
                n >= before,
                "{context}: went back from {before} to {n} commits"
            );
            match acked.get(&t) {
                Some(&last) => {
                    if name == "immediate" {
                        assert!(
                            n > last,
                            "{context}: acknowledged commit {last} lost ({n} present)"
                        );
                    }
                    assert!(
                        n <= last + 2,
                        "{context}: {n} commits, last acknowledged {last}"
                    );
                }
                None => assert!(
                    n <= before + 1,
                    "{context}: {n} commits from {before} with none acknowledged"
                ),
            }
            verify_thread(&db, t, n, &context);
            verified.insert(t, n);
        }
    }
    assert!(
        acked_total as u64 > KILLS / 2,
        "too few runs acknowledged anything"
    );
}

/// The thread's trees hold exactly the effect of its first `n` commits.
fn verify_thread(db: &Db, t: usize, n: u64, context: &str) {
    let mut model = BTreeMap::new();
    for i in 0..n {
        apply(&mut model, i);
    }
    let rx = db.begin_read();
    let got: BTreeMap<u64, Vec<u8>> = match rx.tree(&format!("data-{t}")).unwrap() {
        Some(tree) => tree
            .iter()
            .unwrap()
            .map(|e| {
                let (k, v) = e.unwrap();
                (u64::from_be_bytes(k.try_into().unwrap()), v.to_vec())
            })
            .collect(),
        None => BTreeMap::new(),
    };
    assert!(
        got == model,
        "{context}: contents differ from the first {n} commits"
    );
    let scratch: Vec<Vec<u8>> = match rx.tree(&format!("scratch-{t}")).unwrap() {
        Some(tree) => tree
            .iter()
            .unwrap()
            .map(|e| e.unwrap().0.to_vec())
            .collect(),
        None => Vec::new(),
    };
    let want: Vec<Vec<u8>> = if n == 0 {
        vec![]
    } else {
        vec![((n - 1) / 40 * 40).to_be_bytes().to_vec()]
    };
    assert_eq!(scratch, want, "{context}: scratch tree");
}
