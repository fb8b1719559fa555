//! Guards `oakmap bench` as a newcomer meets it: arguments it cannot run
//! with are refused before any output (`--entries 0`, an unknown engine,
//! `--plot` with one engine, `--keep` onto an existing file); every phase's
//! work follows `--entries`, so a tiny run is fast and prints its counts;
//! `--keep` leaves one database, at the path it prints, that opens;
//! `--markdown` prints well-formed Markdown tables with a legend; and the
//! space and online-backup rows are there with figures that hold together
//! (a compacted file no larger than before, a backup that was checked,
//! durable commits beside the backups), and so are the latency rows
//! (percentiles in order, ratios to the idle p99.9 that match, checkpoints
//! that ran, the steady mix's batches). Each run is tiny and in a
//! temporary `--dir`, so the file takes seconds.

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

/// The first size in `row` (its result column, "17.7 KiB"), in bytes.
fn size_in(row: &str) -> f64 {
    let words: Vec<&str> = row.split_whitespace().collect();
    words
        .windows(2)
        .find_map(|w| {
            let unit = match w[1] {
                "KiB" => 1024.0,
                "MiB" => 1024.0 * 1024.0,
                _ => return None,
            };
            Some(w[0].parse::<f64>().ok()? * unit)
        })
        .unwrap_or_else(|| panic!("no size in {row:?}"))
}

/// The number just before `word` in `row` ("1,680 commits in": 1680).
fn count_before(row: &str, word: &str) -> f64 {
    let words: Vec<&str> = row.split_whitespace().collect();
    words
        .windows(2)
        .find_map(|w| {
            (w[1].trim_end_matches([',', ';']) == word)
                .then(|| {
                    w[0].replace(',', "")
                        .trim_end_matches('%')
                        .parse::<f64>()
                        .ok()
                })
                .flatten()
        })
        .unwrap_or_else(|| panic!("no number before {word:?} in {row:?}"))
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
    for phase in [
        "len ",
        "peak memory",
        "file size",
        "file size after compaction",
        "compacted backup",
        "recovery",
        "backup: Db::backup_to",
    ] {
        let r = row(&text, phase);
        assert!(
            !r.contains(" - ") && !r.contains(" 0.000") && !r.contains("n/a"),
            "{r}"
        );
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

/// The rows of issue 14, on a tiny run: sizes that hold together, a
/// backup the bench opened and checked, and the writer and readers beside
/// the backups.
#[test]
fn space_and_online_backup_rows_hold_together() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&["--entries", "40", "--seed", "7"], dir.path());
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));

    // 124 entries after the workload, 104 after removing 20.
    let live = row(&text, "live data");
    assert!(live.contains("17.7 KiB"), "{live}");
    assert!(live.contains("104 entries × (24 + 150 bytes)"), "{live}");
    assert!(
        live.contains("oakmap ") && live.contains("≤ 1.10×"),
        "{live}"
    );

    let after_workload = size_in(row(&text, "file size "));
    let compacted = row(&text, "file size after compaction");
    assert!(compacted.contains("Db::compact()"), "{compacted}");
    let compacted = size_in(compacted);
    let backup = row(&text, "compacted backup");
    assert!(
        backup.contains("entries 104,") && backup.contains("passes check"),
        "{backup}"
    );
    let backup = size_in(backup);
    assert!(after_workload > 0.0 && compacted > 0.0 && backup > 0.0);
    assert!(
        compacted <= after_workload,
        "{compacted} > {after_workload}"
    );
    // Dense, with no log: no larger than the compacted file and its WAL.
    assert!(backup <= compacted, "{backup} > {compacted}");

    let online = row(&text, "backup: Db::backup_to, online");
    assert!(online.contains("of 40 entries"), "{online}");
    assert!(online.contains("of the sequential write rate"), "{online}");
    assert!(online.contains("median of 3: min "), "{online}");
    let sequential = row(&text, "reference: sequential write + fsync");
    assert!(sequential.contains("MiB/s"), "{sequential}");
    let direct = row(&text, "reference: sequential write, direct I/O");
    assert!(
        direct.contains("MiB/s") && direct.contains("median of 3"),
        "{direct}"
    );
    assert_eq!(
        size_in(online),
        size_in(sequential),
        "{online}\n{sequential}"
    );

    for phase in ["writer, no backup", "writer, during backups"] {
        let r = row(&text, phase);
        assert!(count_before(r, "commits") >= 1.0, "{r}");
        // Durable commits: none of them skipped its fsync.
        let per_fsync = count_before(r, "commits/fsync");
        assert!(per_fsync > 0.0 && per_fsync <= 1.0, "{r}");
    }
    let during = row(&text, "writer, during backups");
    // At least one backup ran, and the writer went on meanwhile.
    assert!(
        during.contains("; 1 backup in") || count_before(during, "backups") >= 2.0,
        "{during}"
    );
    assert!(count_before(during, "of") > 0.0, "{during}");
    for phase in ["2 readers, no backup", "2 readers, during backups"] {
        let r = row(&text, phase);
        assert!(count_before(r, "gets") >= 1.0, "{r}");
        assert!(r.contains("p99.9 ") && r.contains("max "), "{r}");
    }
    assert!(row(&text, "2 readers, during backups").contains("× the p99 without"));
    for needed in [
        "after compaction ",
        "compacted backup ",
        "live data ",
        "writer, readers ",
    ] {
        assert!(
            text.contains(&format!("  {needed}")),
            "{needed:?} not in the legend:\n{text}"
        );
    }
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

/// The time just after the last `label ` in `row` that a time follows
/// ("p99 4.0 ms"), in seconds.
fn time_after(row: &str, label: &str) -> f64 {
    row.rmatch_indices(&format!("{label} "))
        .find_map(|(at, _)| seconds(&mut row[at + label.len()..].split_whitespace()))
        .unwrap_or_else(|| panic!("no time after {label:?} in {row:?}"))
}

/// A time as the bench prints it ("6.8 µs", "124.0 ms", "1.776 s").
fn seconds<'a>(words: &mut impl Iterator<Item = &'a str>) -> Option<f64> {
    let n: f64 = words.next()?.parse().ok()?;
    let unit = match words.next()?.trim_end_matches([',', ';', ')']) {
        "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        _ => return None,
    };
    Some(n * unit)
}

/// Half the last digit of `t` seconds as the bench prints it ("6.8 µs",
/// "124.0 ms", "1.776 s"): how far the printed figure may be off.
fn printed(t: f64) -> f64 {
    if t >= 1.0 {
        0.0005
    } else if t >= 1e-3 {
        0.05e-3
    } else {
        0.05e-6
    }
}

/// The result column of the row of `table` for `phase`, a time.
fn result_time(table: &str, phase: &str) -> f64 {
    let r = row(table, phase);
    seconds(&mut r[phase.len()..].split_whitespace())
        .unwrap_or_else(|| panic!("no time as the result of {r:?}"))
}

/// The rows of issue 15, on a tiny run: latency percentiles that are in
/// order and match the figure, ratios to the idle p99.9 that match the
/// rows, checkpoints that ran, and the steady mix's counts.
#[test]
fn latency_rows_hold_together() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&["--entries", "40", "--seed", "7"], dir.path());
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));

    for (phase, unit) in [
        ("commit latency, idle", "commits"),
        ("commit latency, during checkpoints", "commits"),
        ("get latency, idle", "gets"),
        ("get latency, during checkpoints", "gets"),
        ("steady mix: commit latency", "commits"),
        ("steady mix: get latency", "gets"),
    ] {
        let r = row(&text, phase);
        // At 40 entries a checkpoint lasts about a millisecond: on a busy
        // machine no get (or commit) may overlap one, and the row says so.
        if phase.ends_with("during checkpoints") && r.contains("no samples") {
            assert_eq!(count_before(r, unit), 0.0, "{r}");
            continue;
        }
        assert!(count_before(r, unit) >= 1.0, "{r}");
        let p: Vec<f64> = ["p50", "p99", "p99.9", "max"]
            .iter()
            .map(|label| time_after(r, label))
            .collect();
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "out of order: {r}");
        assert!(p[0] > 0.0, "{r}");
        // The figure is the p99.9.
        assert_eq!(result_time(&text, phase), p[2], "{r}");
    }
    for (during, idle) in [
        ("commit latency, during checkpoints", "commit latency, idle"),
        ("get latency, during checkpoints", "get latency, idle"),
    ] {
        let r = row(&text, during);
        assert!(r.contains("over the idle p99.9, the goal ≤ 2×"), "{r}");
        if r.contains("no samples") {
            continue;
        }
        // "p99.9 17.7 µs (4.03×)": the ratio of the two rows' figures,
        // within the rounding of the printed times.
        let at = r.rfind("p99.9 ").unwrap();
        let ratio: f64 = r[at..]
            .split(['(', '×'])
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("no ratio in {r}"));
        let (d, i) = (result_time(&text, during), result_time(&text, idle));
        let (low, high) = (
            (d - printed(d)) / (i + printed(i)),
            (d + printed(d)) / (i - printed(i)),
        );
        // The ratio itself is printed to two decimals.
        assert!(
            low - 0.005 <= ratio && ratio <= high + 0.005,
            "{ratio} outside {low}..{high}: {r}"
        );
    }
    let during = row(&text, "commit latency, during checkpoints");
    if !during.contains("no samples") {
        // "overlapping 3 checkpoints of": the first count of checkpoints.
        let words: Vec<&str> = during.split_whitespace().collect();
        let ran: u64 = words
            .windows(2)
            .find_map(|p| {
                p[1].starts_with("checkpoint")
                    .then(|| p[0].replace(',', "").parse().ok())
                    .flatten()
            })
            .unwrap_or_else(|| panic!("no checkpoint count in {during}"));
        assert!(ran >= 1, "{during}");
    }

    // 40 entries: a batch of ceil(5,000 × 40 / 1,000,000) = 1 insert, one
    // every 50 ms of the 500 ms window: ten, or fewer when the machine is
    // busy enough that the window ends before the last one is due.
    let steady = row(&text, "steady mix: commit latency");
    let word = if steady.contains(" batch of ") {
        "batch"
    } else {
        "batches"
    };
    assert!(
        steady.contains(&format!(" {word} of 1 insert ")),
        "{steady}"
    );
    let batches = count_before(steady, word);
    assert!((1.0..=10.0).contains(&batches), "{steady}");
    let slow = count_before(steady, "over");
    assert!((0.0..=100.0).contains(&slow), "{steady}");
    assert!(
        row(&text, "steady mix: checkpoint duration").contains(" a minute"),
        "{text}"
    );
    for needed in ["latency ", "steady mix "] {
        assert!(
            text.contains(&format!("  {needed}")),
            "{needed:?} not in the legend:\n{text}"
        );
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
    // A header, a separator, 33 rows: 12 phases, memory, file size, the
    // two space rows, live data, recovery, the fsync reference, the
    // backup and its two sequential references, the writer's and the
    // readers' rows without and with backups, the commit and get
    // latencies idle and during checkpoints, and the steady mix's three
    // rows.
    assert_eq!(table.len(), 35, "{text}");
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
