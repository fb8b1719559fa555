//! Runs numbered cases in child processes (this test binary again), so a
//! case that panics, dies of a signal or hangs is charged to that case and
//! the run goes on in a new child.
//!
//! The child side is a `#[test]` that calls `child_main`, which returns at
//! once unless `CASES_VAR` names a file listing its cases. Each case prints
//! `@@case start N`, then `@@case done <outcome>`; a panic in any thread
//! prints `@@case panic <message> [<first frame in src/>]`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const CASES_VAR: &str = "OAKMAP_CHILD_CASES";

/// What became of a case: the outcome line the child printed, or how the
/// child died; and the message of a panic seen while it ran.
pub struct Case {
    pub index: u64,
    pub outcome: Result<String, String>,
    pub panic: Option<String>,
}

/// Limits for each child: a case's time, and the child's address space (so
/// a forged length that becomes an allocation aborts the child rather than
/// exhausting the machine).
pub struct Limits {
    pub case_timeout: Duration,
    pub memory_kib: u64,
}

/// `7,12-20` as a sorted list without repeats.
pub fn parse_list(s: &str) -> Vec<u64> {
    let num = |s: &str| {
        s.trim()
            .parse::<u64>()
            .expect("numbers and ranges: 7,12-20")
    };
    let range = |p: &str| match p.split_once('-') {
        Some((a, b)) => num(a)..=num(b),
        None => num(p)..=num(p),
    };
    let parts = s.split(',').filter(|p| !p.trim().is_empty());
    parts
        .flat_map(range)
        .collect::<BTreeSet<u64>>()
        .into_iter()
        .collect()
}

/// In a child: runs the listed cases in order, each through `run`.
pub fn child_main(run: impl Fn(u64) -> String) {
    let Ok(list) = std::env::var(CASES_VAR) else {
        return;
    };
    std::panic::set_hook(Box::new(|info| {
        let trace = std::backtrace::Backtrace::force_capture().to_string();
        let frame = trace
            .lines()
            .find(|l| l.contains("at ./src/"))
            .unwrap_or_default();
        println!(
            "@@case panic {} [{}]",
            info.to_string().replace('\n', " "),
            frame.trim()
        );
    }));
    for i in parse_list(&std::fs::read_to_string(list).unwrap()) {
        println!("@@case start {i}");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(i)));
        let outcome = outcome.unwrap_or_else(|_| "panic".into());
        println!("@@case done {}", outcome.replace('\n', " "));
    }
}

fn spawn(test: &str, list: &Path, env: &[(&str, String)], limits: &Limits) -> Child {
    let ulimit = format!("ulimit -v {}; exec \"$0\" \"$@\"", limits.memory_kib);
    let stderr = std::fs::File::create(list.with_extension("stderr")).unwrap();
    Command::new("sh")
        .args(["-c", &ulimit])
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CASES_VAR, list)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// In the parent: runs `cases` in order in children running `test`, a new
/// child after each death. `worker` names this runner's files in `scratch`.
pub fn run_cases(
    test: &str,
    (scratch, worker): (&Path, usize),
    env: &[(&str, String)],
    cases: &[u64],
    limits: &Limits,
) -> Vec<Case> {
    let (mut found, list) = (Vec::new(), scratch.join(format!("cases-{worker}")));
    while found.len() < cases.len() {
        let rest: Vec<String> = cases[found.len()..].iter().map(u64::to_string).collect();
        std::fs::write(&list, rest.join(",")).unwrap();
        let mut child = spawn(test, &list, env, limits);
        let (tx, rx) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let Some(at) = line.find("@@case ") else {
                    continue;
                };
                let _ = tx.send(line[at + 7..].to_string());
            }
        });
        let (mut current, mut panic, mut timeout) = (None, None, 6 * limits.case_timeout);
        let hang = loop {
            let msg = match rx.recv_timeout(timeout) {
                Ok(msg) => msg,
                Err(e) => break e == mpsc::RecvTimeoutError::Timeout,
            };
            let (tag, rest) = msg.split_once(' ').unwrap_or((&msg, ""));
            match tag {
                "start" => {
                    let index = cases[found.len()];
                    assert_eq!(rest.parse::<u64>().unwrap(), index, "cases run in order");
                    (current, panic, timeout) = (Some(index), None, limits.case_timeout);
                }
                "panic" => panic = Some(rest.to_string()),
                _ => {
                    let (index, outcome) = (current.take().unwrap(), Ok(rest.to_string()));
                    found.push(Case {
                        index,
                        outcome,
                        panic: panic.take(),
                    });
                }
            }
        };
        if hang {
            child.kill().unwrap();
        }
        let status = child.wait().unwrap();
        let Some(index) = current else {
            assert!(
                status.success() && found.len() == cases.len(),
                "child: {status}"
            );
            break;
        };
        let names = [(6, "SIGABRT"), (7, "SIGBUS"), (11, "SIGSEGV")];
        let name = |s| names.iter().find(|n| n.0 == s).map_or("?", |n| n.1);
        let death = match (hang, status.signal()) {
            (true, _) => format!("hang (no outcome in {:?})", limits.case_timeout),
            (_, Some(s)) => format!("signal {s} ({})", name(s)),
            _ => format!("exit ({status})"),
        };
        let text = std::fs::read_to_string(list.with_extension("stderr")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        let outcome = Err(format!("{death}: {}", tail.join(" | ")));
        found.push(Case {
            index,
            outcome,
            panic,
        });
    }
    found
}

/// Runs `cases` split over `jobs` runners at once; the cases in order.
pub fn run_parallel(
    test: &str,
    scratch: &Path,
    env: &[(&str, String)],
    cases: &[u64],
    (limits, jobs): (&Limits, usize),
) -> Vec<Case> {
    let chunks: Vec<&[u64]> = cases.chunks(cases.len().div_ceil(jobs).max(1)).collect();
    std::thread::scope(|s| {
        let mut runners = Vec::new();
        for (w, &c) in chunks.iter().enumerate() {
            runners.push(s.spawn(move || run_cases(test, (scratch, w), env, c, limits)));
        }
        runners
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect()
    })
}
