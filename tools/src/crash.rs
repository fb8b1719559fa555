//! `oakmap crash-test`: the kill harness.
//!
//! The parent runs this same binary as a child writer (`crash-child`), which
//! commits transactions generated from the seed and the transaction number
//! (so the parent can regenerate any of them), printing `intent N` before
//! each commit and `ack N` after it returns. At a random moment the parent
//! SIGKILLs it; some kills land while the child is still recovering from the
//! previous kill, many during checkpoints (the child runs with a small WAL
//! bound and a short checkpoint interval). The parent then copies the files,
//! runs the read-only integrity check on the copy, opens it (recovery), and
//! verifies: the state equals the model after exactly the commits the
//! database says it holds; with `Immediate` every acknowledged commit is
//! there; nothing beyond the commit in flight is; nothing goes backwards.
//! The next child recovers the original files, crash and all.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use oakmap::inspect::RawDb;
use oakmap::{Db, Durability, Options};

use crate::shared::{Rng, copy_db};

#[derive(clap::Args)]
pub struct Args {
    /// Kills to perform.
    #[arg(long, default_value_t = 100)]
    iterations: u64,
    /// Stop starting new iterations after this many seconds.
    #[arg(long)]
    seconds: Option<u64>,
    /// Seed of the transactions and of the kill timing.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for the database, made if missing (a fresh subdirectory is
    /// made in it and, on success, removed).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

#[derive(clap::Args)]
pub struct ChildArgs {
    #[arg(long)]
    db: PathBuf,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    durability: String,
}

const TREES: u64 = 4;
const COUNTER_TREE: &str = "crash-meta";

type State = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// One logical operation of a generated transaction.
enum Step {
    Put(String, Vec<u8>, Vec<u8>),
    Delete(String, Vec<u8>),
    DropTree(String),
}

/// The transaction number `n` of a run seeded `seed`: always the same steps.
fn transaction(seed: u64, n: u64) -> Vec<Step> {
    let mut rng = Rng(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut steps = Vec::new();
    if n % 29 == 28 {
        steps.push(Step::DropTree(format!("t{}", rng.below(TREES as usize))));
    }
    for _ in 0..1 + rng.below(6) {
        let tree = format!("t{}", rng.below(TREES as usize));
        let key = format!("k{:03}", rng.below(150)).into_bytes();
        if rng.below(5) == 0 {
            steps.push(Step::Delete(tree, key));
        } else {
            let len = match rng.below(60) {
                0 => 80_000,                       // larger than the WAL bound: a checkpoint commit
                1..=4 => 2_000 + rng.below(6_000), // an overflow run
                _ => rng.below(200),
            };
            let mut value = vec![0u8; len];
            rng.fill(&mut value);
            steps.push(Step::Put(tree, key, value));
        }
    }
    steps
}

fn apply(state: &mut State, steps: &[Step]) {
    for s in steps {
        match s {
            Step::Put(t, k, v) => {
                state
                    .entry(t.clone())
                    .or_default()
                    .insert(k.clone(), v.clone());
            }
            Step::Delete(t, k) => {
                state.entry(t.clone()).or_default().remove(k);
            }
            Step::DropTree(t) => {
                state.remove(t);
            }
        }
    }
}

fn durability(name: &str) -> Durability {
    match name {
        "group" => Durability::Group(Duration::from_millis(2)),
        "none" => Durability::None,
        _ => Durability::Immediate,
    }
}

fn child_options(mode: &str) -> Options {
    Options::new()
        .durability(durability(mode))
        .wal_bytes_max(64 << 10)
        .cache_bytes(1 << 20)
        .checkpoint_interval(Duration::from_millis(30))
}

fn committed(db: &Db) -> oakmap::Result<u64> {
    Ok(db
        .get(COUNTER_TREE, b"n")?
        .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8]))))
}

/// The child: recover, then commit generated transactions until killed.
pub fn child(args: &ChildArgs) -> ExitCode {
    let run = || -> oakmap::Result<()> {
        let db = child_options(&args.durability).open(&args.db)?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready");
        let mut n = committed(&db)?;
        loop {
            let steps = transaction(args.seed, n);
            let mut tx = db.begin_write()?;
            for s in &steps {
                match s {
                    Step::Put(t, k, v) => drop(tx.open_tree(t)?.insert(k, v)?),
                    Step::Delete(t, k) => drop(tx.open_tree(t)?.remove(k)?),
                    Step::DropTree(t) => drop(tx.delete_tree(t)?),
                }
            }
            tx.open_tree(COUNTER_TREE)?
                .insert(b"n", &(n + 1).to_be_bytes())?;
            let _ = writeln!(out, "intent {n}");
            let _ = out.flush();
            tx.commit()?;
            let _ = writeln!(out, "ack {n}");
            let _ = out.flush();
            n += 1;
        }
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crash-child: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the parent saw of one child.
struct Seen {
    ready: bool,
    last_intent: Option<u64>,
    last_ack: Option<u64>,
}

/// Runs a child and kills it after `delay` (from its start when `early`,
/// else from its first acknowledgment).
fn run_child(
    db: &Path,
    seed: u64,
    mode: &str,
    delay: Duration,
    early: bool,
) -> std::io::Result<Seen> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["crash-child", "--db"])
        .arg(db)
        .args(["--seed", &seed.to_string(), "--durability", mode])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Seen {
        ready: false,
        last_intent: None,
        last_ack: None,
    };
    let note = |line: String, seen: &mut Seen| {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next().and_then(|n| n.parse().ok())) {
            (Some("ready"), _) => seen.ready = true,
            (Some("intent"), Some(n)) => seen.last_intent = Some(n),
            (Some("ack"), Some(n)) => seen.last_ack = Some(n),
            _ => {}
        }
    };
    if !early {
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.last_ack.is_none() && Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                note(line, &mut seen);
            }
        }
    }
    std::thread::sleep(delay);
    child.kill()?;
    child.wait()?;
    let _ = reader.join();
    while let Ok(line) = rx.try_recv() {
        note(line, &mut seen);
    }
    Ok(seen)
}

fn read_state(db: &Db) -> oakmap::Result<State> {
    let rx = db.begin_read();
    let mut state = State::new();
    for name in rx.list_trees()? {
        if name == COUNTER_TREE {
            continue;
        }
        let t = rx.tree(&name)?.expect("listed tree");
        let mut m = BTreeMap::new();
        for e in t.iter()? {
            let (k, v) = e?;
            m.insert(k.to_vec(), v.to_vec());
        }
        state.insert(name, m);
    }
    Ok(state)
}

/// The model after `n` commits; it only moves forward, as the database must.
struct Models {
    seed: u64,
    n: u64,
    state: State,
}

impl Models {
    fn after(&mut self, n: u64) -> &State {
        assert!(n >= self.n, "the model does not go back");
        while self.n < n {
            apply(&mut self.state, &transaction(self.seed, self.n));
            self.n += 1;
        }
        &self.state
    }
}

/// Checks the crash image in `image`; returns the commits it holds.
fn verify(
    image: &Path,
    mode: &str,
    seen: &Seen,
    before: u64,
    models: &mut Models,
) -> Result<u64, String> {
    let report = RawDb::open(image)
        .map_err(|e| format!("read-only open failed: {e}"))?
        .check(None);
    // The crash image's newest checkpoint must be sound before recovery.
    if !report.is_clean() {
        return Err(format!(
            "integrity check of the crash image failed:\n{report}"
        ));
    }
    let db = Db::open(image).map_err(|e| format!("recovery failed: {e}"))?;
    let report = db.check().map_err(|e| e.to_string())?;
    if !report.is_clean() {
        return Err(format!("integrity check after recovery failed:\n{report}"));
    }
    let n = committed(&db).map_err(|e| e.to_string())?;
    if n < before {
        return Err(format!("went back from {before} to {n} commits"));
    }
    if let (Some(ack), "immediate") = (seen.last_ack, mode)
        && n <= ack
    {
        return Err(format!(
            "acknowledged commit {ack} lost: {n} commits recovered"
        ));
    }
    let limit = seen.last_intent.map_or(before, |i| i + 1);
    if n > limit.max(before) {
        return Err(format!(
            "{n} commits recovered, but only {limit} were ever attempted"
        ));
    }
    let got = read_state(&db).map_err(|e| e.to_string())?;
    if got != *models.after(n) {
        return Err(format!("state differs from the model after {n} commits"));
    }
    Ok(n)
}

pub fn run(args: &Args) -> ExitCode {
    let started = Instant::now();
    // Like `bench --dir`: a directory that does not exist yet is made.
    let dir = std::fs::create_dir_all(&args.dir).and_then(|()| {
        tempfile::Builder::new()
            .prefix("oakmap-crash-")
            .tempdir_in(&args.dir)
    });
    let dir = match dir {
        Ok(d) => d,
        Err(e) => {
            eprintln!("oakmap crash-test: {}: {e}", args.dir.display());
            return ExitCode::from(2);
        }
    };
    let db = dir.path().join("crash.oak");
    let image = dir.path().join("image.oak");
    let mut rng = Rng(args.seed);
    let mut models = Models {
        seed: args.seed,
        n: 0,
        state: State::new(),
    };
    let (mut before, mut kills, mut recoveries_killed, mut violations) =
        (0u64, 0u64, 0u64, Vec::new());
    let modes = ["immediate", "group", "none"];
    for i in 0..args.iterations {
        if args
            .seconds
            .is_some_and(|s| started.elapsed() >= Duration::from_secs(s))
        {
            break;
        }
        let mode = modes[rng.below(modes.len())];
        let early = rng.below(6) == 0;
        let delay = Duration::from_micros(if early {
            rng.below(8_000)
        } else {
            rng.below(25_000)
        } as u64);
        let seen = match run_child(&db, args.seed, mode, delay, early) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("oakmap crash-test: cannot run the child: {e}");
                return ExitCode::from(2);
            }
        };
        kills += 1;
        recoveries_killed += u64::from(!seen.ready);
        if !db.exists() {
            continue; // killed before it created the file: nothing to verify
        }
        let _ = std::fs::remove_file(&image);
        if let Err(e) = copy_db(&db, &image) {
            eprintln!("oakmap crash-test: cannot copy the crash image: {e}");
            return ExitCode::from(2);
        }
        match verify(&image, mode, &seen, before, &mut models) {
            Ok(n) => before = n,
            Err(why) => {
                eprintln!(
                    "VIOLATION at iteration {i} ({mode}, replay with --seed {} --iterations {}): {why}",
                    args.seed,
                    i + 1
                );
                violations.push(i);
                break;
            }
        }
    }
    println!(
        "crash-test: {kills} kills ({recoveries_killed} during recovery), {before} commits verified, {} violations, {:.1} s, seed {}",
        violations.len(),
        started.elapsed().as_secs_f64(),
        args.seed
    );
    if violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("database kept in {}", dir.keep().display());
        ExitCode::from(1)
    }
}
