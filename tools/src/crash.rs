//! `oakmap crash-test`: the kill harness.
//!
//! The parent runs this same binary as a child (`crash-child`) with one or
//! four writer threads. Writer `w` commits transactions generated from the
//! seed, `w` and the transaction number (so the parent can regenerate any of
//! them) to trees of its own, its commit count in the same commit, printing
//! `intent W N` before each commit and `ack W N` after it returns. At a
//! random moment the parent SIGKILLs the child; some kills land while it is
//! still recovering from the previous kill, many during checkpoints (the
//! child runs with a small WAL bound and a short checkpoint interval), a few
//! after a longer run. Each child runs in a durability mode chosen at random.
//! In most children a compactor thread runs `Db::compact` over and over
//! beside the writers, printing `compacting` before each and `compacted`
//! after, so many kills land in the middle of a compaction (its moves, its
//! checkpoints, the shrink or the truncation); the closing line counts them.
//!
//! A child that ends by itself, not by the kill (a panic, an error), is a
//! violation whatever its files hold, reported with the end of its stderr:
//! a debug build's assertion in a compactor thread once left a commit
//! number taken with no record, and only the image it left behind showed.
//!
//! The parent then copies the files, runs the read-only integrity check on
//! the copy, opens it (recovery), checks it again, and verifies each writer:
//! its trees equal its model after exactly the commits the database says it
//! holds (so its commits are a prefix of its sequence, the one in flight all
//! or nothing); with `Immediate` every acknowledged commit is there; nothing
//! beyond the commit in flight is; nothing goes backwards. The next child
//! recovers the original files, crash and all.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
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
    #[arg(long, default_value_t = 1)]
    writers: usize,
    /// Runs a compactor thread beside the writers.
    #[arg(long)]
    compact: bool,
}

/// Trees per writer.
const TREES: usize = 4;
/// Writer threads per child, chosen per kill: mostly one, whose commits
/// follow one another; sometimes four, whose commits interleave and share
/// their fsyncs.
const WRITERS: [usize; 3] = [1, 1, 4];
const WRITERS_MAX: usize = 4;
const MODES: [&str; 3] = ["immediate", "group", "none"];
/// Each writer's commit count, under the key `n<writer>`.
const COUNTER_TREE: &str = "crash-meta";

type State = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// One logical operation of a generated transaction.
enum Step {
    Put(String, Vec<u8>, Vec<u8>),
    Delete(String, Vec<u8>),
    DropTree(String),
}

/// Tree `i` of writer `writer`.
fn tree_name(writer: usize, i: usize) -> String {
    format!("w{writer}-t{i}")
}

/// The writer a tree belongs to, from its name.
fn writer_of(tree: &str) -> Option<usize> {
    let (w, _) = tree.strip_prefix('w')?.split_once('-')?;
    w.parse().ok().filter(|&w| w < WRITERS_MAX)
}

fn counter_key(writer: usize) -> String {
    format!("n{writer}")
}

/// Transaction number `n` of writer `writer` in a run seeded `seed`: always
/// the same steps.
fn transaction(seed: u64, writer: usize, n: u64) -> Vec<Step> {
    let mix = (writer as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut rng = Rng(seed ^ mix ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut steps = Vec::new();
    if n % 29 == 28 {
        steps.push(Step::DropTree(tree_name(writer, rng.below(TREES))));
    }
    for _ in 0..1 + rng.below(6) {
        let tree = tree_name(writer, rng.below(TREES));
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

/// The commits of `writer` the database holds.
fn committed(db: &Db, writer: usize) -> oakmap::Result<u64> {
    Ok(db
        .get(COUNTER_TREE, counter_key(writer).as_bytes())?
        .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8]))))
}

/// Prints one line for the parent, at once (the kill may come next).
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The child: recover, then commit generated transactions on every writer
/// thread until killed.
pub fn child(args: &ChildArgs) -> ExitCode {
    let db = match child_options(&args.durability).open(&args.db) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("crash-child: {e}");
            return ExitCode::FAILURE;
        }
    };
    say(format_args!("ready"));
    std::thread::scope(|s| {
        if args.compact {
            let db = &db;
            s.spawn(move || {
                if let Err(e) = compactor(db) {
                    eprintln!("crash-child: compactor: {e}");
                    std::process::exit(1);
                }
            });
        }
        for w in 0..args.writers.min(WRITERS_MAX) {
            let db = &db;
            s.spawn(move || {
                if let Err(e) = writer(db, args.seed, w) {
                    eprintln!("crash-child: writer {w}: {e}");
                    std::process::exit(1);
                }
            });
        }
    });
    ExitCode::SUCCESS
}

/// One writer thread: commits its transactions, from the first one the
/// database does not hold, until the process is killed.
fn writer(db: &Db, seed: u64, w: usize) -> oakmap::Result<()> {
    let mut n = committed(db, w)?;
    loop {
        let steps = transaction(seed, w, n);
        let mut tx = db.begin_write()?;
        for s in &steps {
            match s {
                Step::Put(t, k, v) => drop(tx.open_tree(t)?.insert(k, v)?),
                Step::Delete(t, k) => drop(tx.open_tree(t)?.remove(k)?),
                Step::DropTree(t) => drop(tx.delete_tree(t)?),
            }
        }
        tx.open_tree(COUNTER_TREE)?
            .insert(counter_key(w).as_bytes(), &(n + 1).to_be_bytes())?;
        say(format_args!("intent {w} {n}"));
        tx.commit()?;
        say(format_args!("ack {w} {n}"));
        n += 1;
    }
}

/// The compactor thread: compacts, pauses a moment, and again, until the
/// process is killed.
fn compactor(db: &Db) -> oakmap::Result<()> {
    loop {
        say(format_args!("compacting"));
        db.compact()?;
        say(format_args!("compacted"));
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What the parent saw of one child: whether it finished recovering, and
/// each writer's last announced and last acknowledged commit.
#[derive(Default)]
struct Seen {
    ready: bool,
    intent: [Option<u64>; WRITERS_MAX],
    ack: [Option<u64>; WRITERS_MAX],
    /// A compaction had begun and not returned.
    compacting: bool,
    /// Set when the child ended by itself rather than by the kill (an
    /// error, a panic): how it ended and the end of what it printed to
    /// stderr. A violation, whatever the files say: nothing in the child
    /// fails but the kill.
    ended_by_itself: Option<String>,
}

impl Seen {
    fn note(&mut self, line: &str) {
        let mut parts = line.split_whitespace();
        let tag = parts.next();
        let mut number = || parts.next().and_then(|s| s.parse::<u64>().ok());
        let (w, n) = (number().map(|w| w as usize), number());
        match (tag, w, n) {
            (Some("ready"), ..) => self.ready = true,
            (Some("intent"), Some(w), Some(n)) if w < WRITERS_MAX => self.intent[w] = Some(n),
            (Some("ack"), Some(w), Some(n)) if w < WRITERS_MAX => self.ack[w] = Some(n),
            (Some("compacting"), ..) => self.compacting = true,
            (Some("compacted"), ..) => self.compacting = false,
            _ => {}
        }
    }

    fn acked_any(&self) -> bool {
        self.ack.iter().any(Option::is_some)
    }
}

/// How one child runs: its durability mode and writer threads, and when it
/// is killed: `delay` after its start when `early`, else after its first
/// acknowledgment.
struct Run {
    mode: &'static str,
    writers: usize,
    delay: Duration,
    early: bool,
    compact: bool,
}

impl Run {
    fn pick(rng: &mut Rng) -> Run {
        let mode = MODES[rng.below(MODES.len())];
        let writers = WRITERS[rng.below(WRITERS.len())];
        let early = rng.below(6) == 0;
        let micros = match (early, rng.below(16)) {
            (true, _) => rng.below(8_000),
            (false, 0) => rng.below(150_000), // a longer run: more commits, interval checkpoints
            (false, _) => rng.below(25_000),
        };
        Run {
            mode,
            writers,
            delay: Duration::from_micros(micros as u64),
            early,
            compact: rng.below(3) != 0,
        }
    }
}

/// Runs a child as `run` says and kills it.
fn run_child(db: &Path, seed: u64, run: &Run) -> std::io::Result<Seen> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["crash-child", "--db"])
        .arg(db)
        .args(["--seed", &seed.to_string(), "--durability", run.mode])
        .args(["--writers", &run.writers.to_string()])
        .args(run.compact.then_some("--compact"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The last STDERR_KEPT bytes the child wrote: a panic's message and
    // backtrace, or the error it exited with.
    let errors = std::thread::spawn(move || {
        let (mut kept, mut buf) = (Vec::new(), [0u8; 4096]);
        while let Ok(n @ 1..) = stderr.read(&mut buf) {
            kept.extend_from_slice(&buf[..n]);
            let over = kept.len().saturating_sub(STDERR_KEPT);
            kept.drain(..over);
        }
        String::from_utf8_lossy(&kept).into_owned()
    });
    let mut seen = Seen::default();
    if !run.early {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !seen.acked_any() && Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => seen.note(&line),
                // Its stdout closed: the child ended.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }
    std::thread::sleep(run.delay);
    // A child that ended already is reaped, not killed: its status says how.
    let status = match child.try_wait()? {
        Some(status) => status,
        None => {
            child.kill()?;
            child.wait()?
        }
    };
    let _ = reader.join();
    let errors = errors.join().unwrap_or_default();
    while let Ok(line) = rx.try_recv() {
        seen.note(&line);
    }
    if status.signal() != Some(libc::SIGKILL) {
        seen.ended_by_itself = Some(format!("{status}; its stderr ends:\n{errors}"));
    }
    Ok(seen)
}

/// How much of a child's stderr `run_child` keeps.
const STDERR_KEPT: usize = 8 << 10;

/// Every writer's trees, by writer.
fn read_state(db: &Db) -> Result<[State; WRITERS_MAX], String> {
    let rx = db.begin_read();
    let mut states: [State; WRITERS_MAX] = Default::default();
    for name in rx.list_trees().map_err(|e| e.to_string())? {
        if name == COUNTER_TREE {
            continue;
        }
        let Some(w) = writer_of(&name) else {
            return Err(format!("tree {name} belongs to no writer"));
        };
        let t = rx.tree(&name).map_err(|e| e.to_string())?;
        let mut m = BTreeMap::new();
        for e in t.expect("listed tree").iter().map_err(|e| e.to_string())? {
            let (k, v) = e.map_err(|e| e.to_string())?;
            m.insert(k.to_vec(), v.to_vec());
        }
        states[w].insert(name, m);
    }
    Ok(states)
}

/// One writer's model after `n` commits; it only moves forward, as the
/// database must.
struct Model {
    seed: u64,
    writer: usize,
    n: u64,
    state: State,
}

impl Model {
    fn after(&mut self, n: u64) -> &State {
        assert!(n >= self.n, "the model does not go back");
        while self.n < n {
            apply(
                &mut self.state,
                &transaction(self.seed, self.writer, self.n),
            );
            self.n += 1;
        }
        &self.state
    }
}

/// Checks the crash image in `image`; returns each writer's commits in it.
fn verify(
    image: &Path,
    run: &Run,
    seen: &Seen,
    before: &[u64; WRITERS_MAX],
    models: &mut [Model; WRITERS_MAX],
) -> Result<[u64; WRITERS_MAX], String> {
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
    let states = read_state(&db)?;
    let mut counts = [0; WRITERS_MAX];
    for (w, model) in models.iter_mut().enumerate() {
        let n = committed(&db, w).map_err(|e| e.to_string())?;
        let (intent, ack) = (seen.intent[w], seen.ack[w]);
        verify_writer(&states[w], n, (intent, ack), before[w], run, model)
            .map_err(|why| format!("writer {w}: {why}"))?;
        counts[w] = n;
    }
    Ok(counts)
}

/// One writer's trees, holding `n` of its commits, against what the parent
/// saw (its last announced and acknowledged commit) and its model.
fn verify_writer(
    got: &State,
    n: u64,
    (intent, ack): (Option<u64>, Option<u64>),
    before: u64,
    run: &Run,
    model: &mut Model,
) -> Result<(), String> {
    if n < before {
        return Err(format!("went back from {before} to {n} commits"));
    }
    if let (Some(ack), "immediate") = (ack, run.mode)
        && n <= ack
    {
        return Err(format!(
            "acknowledged commit {ack} lost: {n} commits recovered"
        ));
    }
    let limit = intent.map_or(before, |i| i + 1);
    if n > limit.max(before) {
        return Err(format!(
            "{n} commits recovered, but only {limit} were ever attempted"
        ));
    }
    if got != model.after(n) {
        return Err(format!("state differs from the model after {n} commits"));
    }
    Ok(())
}

/// What the kills found, for the closing line.
#[derive(Default)]
struct Tally {
    kills: u64,
    during_recovery: u64,
    several_writers: u64,
    acknowledged: u64,
    during_compaction: u64,
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
    let (db, image) = (dir.path().join("crash.oak"), dir.path().join("image.oak"));
    let mut rng = Rng(args.seed);
    let mut models = std::array::from_fn(|writer| Model {
        seed: args.seed,
        writer,
        n: 0,
        state: State::new(),
    });
    let (mut before, mut tally, mut violation) = ([0u64; WRITERS_MAX], Tally::default(), None);
    for i in 0..args.iterations {
        if args
            .seconds
            .is_some_and(|s| started.elapsed() >= Duration::from_secs(s))
        {
            break;
        }
        let run = Run::pick(&mut rng);
        let seen = match run_child(&db, args.seed, &run) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("oakmap crash-test: cannot run the child: {e}");
                return ExitCode::from(2);
            }
        };
        tally.kills += 1;
        tally.during_recovery += u64::from(!seen.ready);
        tally.several_writers += u64::from(run.writers > 1);
        tally.acknowledged += u64::from(seen.acked_any());
        tally.during_compaction += u64::from(seen.compacting);
        let violated = |why: &str| {
            let (mode, writers) = (run.mode, run.writers);
            eprintln!(
                "VIOLATION at iteration {i} ({mode}, {writers} writers, replay with --seed {} --iterations {}): {why}",
                args.seed,
                i + 1
            );
        };
        if let Some(how) = &seen.ended_by_itself {
            violated(&format!(
                "the child was not killed, it ended by itself: {how}"
            ));
            violation = Some(i);
            break;
        }
        if !db.exists() {
            continue; // killed before it created the file: nothing to verify
        }
        let _ = std::fs::remove_file(&image);
        if let Err(e) = copy_db(&db, &image) {
            eprintln!("oakmap crash-test: cannot copy the crash image: {e}");
            return ExitCode::from(2);
        }
        match verify(&image, &run, &seen, &before, &mut models) {
            Ok(counts) => before = counts,
            Err(why) => {
                violated(&why);
                violation = Some(i);
                break;
            }
        }
    }
    report(args, started, &tally, before.iter().sum(), violation, dir)
}

/// Prints the closing line; fails on a violation, and on a run in which
/// too few children acknowledged anything to test much.
fn report(
    args: &Args,
    started: Instant,
    tally: &Tally,
    commits: u64,
    violation: Option<u64>,
    dir: tempfile::TempDir,
) -> ExitCode {
    println!(
        "crash-test: {} kills ({} during recovery, {} with {WRITERS_MAX} writers, {} after an acknowledgment, {} during a compaction), {commits} commits verified, {} violations, {:.1} s, seed {}",
        tally.kills,
        tally.during_recovery,
        tally.several_writers,
        tally.acknowledged,
        tally.during_compaction,
        u64::from(violation.is_some()),
        started.elapsed().as_secs_f64(),
        args.seed
    );
    // Most children wait for their first acknowledgment before the kill
    // comes; if few had one, they did not commit and nothing was tested.
    let idle = tally.kills >= 20 && tally.acknowledged * 2 < tally.kills;
    if idle {
        eprintln!("oakmap crash-test: too few children acknowledged a commit");
    }
    if violation.is_none() && !idle {
        ExitCode::SUCCESS
    } else {
        println!("database kept in {}", dir.keep().display());
        ExitCode::from(1)
    }
}
