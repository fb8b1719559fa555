//! Guards `oakmap bench` as a newcomer meets it: arguments it cannot run
//! with are refused before any output (`--entries 0`, an unknown engine,
//! `--plot` with one engine, `--keep` onto an existing file); every phase's
//! work follows `--entries`, so a tiny run is fast and prints its counts;
//! `--keep` leaves one database, at the path it prints, that opens; and
//! `--markdown` prints well-formed Markdown tables with a legend. Each run
//! is tiny and in a temporary `--dir`, so the file takes seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `oakmap bench ARGS --dir DIR`.
fn bench(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .arg("bench")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a refusal: exit 2, nothing on stdout, and a message on stderr
/// that contains every one of `words`.
fn assert_refused(o: &Output, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(stdout(o), "", "printed before the error: {err}");
    for w in words {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The row of `table` whose first column is `phase`.
fn row<'a>(table: &'a str, phase: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(phase))
        .unwrap_or_else(|| panic!("no row {phase:?} in:\n{table}"))
}

#[test]
fn entries_zero_is_refused_with_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&["--entries", "0"], dir.path());
    assert_refused(&out, &["--entries 0", "at least 1"]);
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn engines_are_checked_before_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = bench(&["--engines", "foo", "--entries", "10"], dir.path());
    assert_refused(&unknown, &["unknown engine \"foo\"", "oakmap", "lmdb"]);
    let twice = bench(&["--engines", "oakmap,oakmap"], dir.path());
    assert_refused(&twice, &["oakmap twice"]);
    let none = bench(&["--engines", " , "], dir.path());
    assert_refused(&none, &["no engine"]);
    if !cfg!(feature = "lmdb") {
        let unbuilt = bench(&["--engines", "oakmap,lmdb"], dir.path());
        assert_refused(&unbuilt, &["lmdb is not built", "--features lmdb"]);
    }
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn plot_with_one_engine_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("chart.svg");
    let out = bench(
        &["--entries", "10", "--plot", svg.to_str().unwrap()],
        dir.path(),
    );
    assert_refused(&out, &["--plot", "one engine (oakmap)", "two or more"]);
    assert!(!svg.exists());
}

/// 40 entries: 40 durable commits on each thread count (split 10 a thread
/// on 4), ceil(40 / 10) = 4 batched inserts, 40 gets a pass, 20 range
/// reads, 20 removes, 40 fsync appends; `len` sees 40 + 40 + 40 + 4.
#[test]
fn a_tiny_run_is_fast_and_its_counts_follow_entries() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = bench(&["--entries", "40", "--seed", "7"], dir.path());
    let took = started.elapsed();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    // Measured: well under a second; generous for a loaded machine.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(text.starts_with("oakmap bench: 40 entries,"), "{text}");
    for (phase, work) in [
        ("bulk load (1 txn)", "40 puts in"),
        ("durable commits, 1 thread", "40 commits in"),
        ("durable commits, 4 threads", "40 commits in"),
        ("4 commits of 1 insert ", "4 inserts in"),
        ("len ", "one call: 124 entries"),
        ("random gets (1st pass)", "40 gets in"),
        ("random gets (2nd pass)", "40 found"),
        ("range reads of 10", "20 range reads in"),
        ("random gets, 4 threads", "40 gets in"),
        ("remove half the keys (1 txn)", "20 removes in"),
        ("recovery: open after crash", "40 entries"),
        ("reference: 4 KiB append + fdatasync", "40 appends in"),
    ] {
        assert!(row(&text, phase).contains(work), "{phase}: {work}\n{text}");
    }
    // No row prints a placeholder where a figure should be.
    for phase in ["len ", "peak memory", "file size", "recovery"] {
        let r = row(&text, phase);
        assert!(!r.contains(" - ") && !r.contains(" 0.000"), "{r}");
    }
    assert!(row(&text, "peak memory").contains("MiB") || row(&text, "peak memory").contains("KiB"));
    // Nothing of the standard workload's size is left.
    for standard in [
        "1,000,000 gets",
        "500,000 range reads",
        "359 records",
        "1,000 appends",
    ] {
        assert!(!text.contains(standard), "{standard:?} in:\n{text}");
    }
    // The legend: every column, the durability, the WAL in the file size.
    for needed in [
        "legend:",
        "higher is better",
        "lower is better",
        "durability: Durability::Immediate",
        "WAL included",
    ] {
        assert!(text.contains(needed), "{needed:?} not in:\n{text}");
    }
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn keep_leaves_one_database_that_opens() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&["--entries", "40", "--keep"], dir.path());
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    let line = text
        .lines()
        .find(|l| l.starts_with("kept oakmap's database"))
        .unwrap_or_else(|| panic!("no kept line in:\n{text}"));
    let kept = PathBuf::from(line.rsplit_once(": ").unwrap().1);
    assert_eq!(kept, dir.path().canonicalize().unwrap().join("bench.oak"));
    // Nothing else stays: no bench directory, no recovery files.
    for name in listing(dir.path()) {
        assert!(
            ["bench.oak", "bench.oak.wal0", "bench.oak.wal1"].contains(&name.as_str()),
            "left behind: {name}"
        );
    }
    let check = Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .arg("check")
        .arg(&kept)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stdout(&check));
    // 124 entries loaded, half of the 40 bulk-loaded keys removed.
    let db = oakmap::Db::open(&kept).unwrap();
    let len = db.begin_read().tree("bench").unwrap().map(|t| t.len());
    assert_eq!(len, Some(104));
    drop(db);

    // A second --keep would overwrite it: refused before anything runs.
    let again = bench(&["--entries", "40", "--keep"], dir.path());
    assert_refused(&again, &["--keep", "exists already"]);
    // So is --keep without oakmap to keep.
    let other = bench(&["--keep", "--engines", "sled"], dir.path());
    if cfg!(feature = "sled") {
        assert_refused(&other, &["--keep", "does not list oakmap"]);
    } else {
        assert_refused(&other, &["sled is not built"]);
    }
}

/// The cells of a Markdown table row, splitting on unescaped pipes.
fn cells(line: &str) -> Vec<String> {
    let inner = line
        .strip_prefix('|')
        .and_then(|l| l.strip_suffix('|'))
        .unwrap_or_else(|| panic!("not a table row: {line:?}"));
    let mut cells = vec![String::new()];
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            '|' if !escaped => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
        escaped = c == '\\';
    }
    cells.into_iter().map(|c| c.trim().to_string()).collect()
}

#[test]
fn markdown_prints_well_formed_tables() {
    let parent = tempfile::tempdir().unwrap();
    // A --dir that does not exist yet is made.
    let dir = parent.path().join("not").join("yet");
    let out = bench(&["--entries", "20", "--markdown"], &dir);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(listing(&dir).is_empty());
    let mut tables: Vec<Vec<&str>> = Vec::new();
    let mut current = Vec::new();
    for line in text.lines().chain([""]) {
        if line.starts_with('|') {
            current.push(line);
        } else if !current.is_empty() {
            tables.push(std::mem::take(&mut current));
        }
    }
    assert_eq!(tables.len(), 1, "{text}");
    let table = &tables[0];
    let header = cells(table[0]);
    assert_eq!(header, ["phase", "result", "details"]);
    let rule = cells(table[1]);
    assert!(
        rule.iter()
            .all(|c| c.len() >= 3 && c.trim_matches(':').chars().all(|ch| ch == '-')),
        "{}",
        table[1]
    );
    // A header, a separator, 16 rows: 12 phases, memory, file size,
    // recovery and the reference.
    assert_eq!(table.len(), 18, "{text}");
    for line in table {
        assert_eq!(cells(line).len(), header.len(), "{line}");
    }
    // The Markdown table sits between blank lines, and the legend is a list.
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| l.starts_with('|')).unwrap();
    assert_eq!(lines[first - 1], "", "{text}");
    assert_eq!(lines[first + table.len()], "", "{text}");
    assert!(
        text.contains("- **result**: ") && text.contains("- **oakmap**: durability: "),
        "{text}"
    );
}
