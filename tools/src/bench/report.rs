//! How a run is shown: its tables (one engine's rows, or a comparison of
//! engines, `n/a` where an engine has no figure, and a table of the
//! reference rows) and the legend that says what each column and row means, rendered as aligned text or as Markdown from
//! the same cells; and the formats of figures (rates, times, sizes).

use std::time::Duration;

use super::latency::{
    self, CHECKPOINT_COMMITS_ENOUGH, CHECKPOINTS_MAX, SLOW_COMMIT, STATS_POLL, STEADY_BATCHES,
};
use super::online::{READERS, ROUNDS, WINDOW_BACKUPS, WINDOW_MAX, WINDOW_MIN};
use super::space::PHASES as SPACE_PHASES;
use super::{ENTRIES_STANDARD, EngineRun, Scale};
use crate::shared::{Measure, Row};

/// The report: one table (one engine) or a comparison and a table of the
/// reference rows (several), then the legend; as text or Markdown.
pub(super) fn report(runs: &[EngineRun], extra: &[Row], scale: &Scale, markdown: bool) -> String {
    let mut tables = Vec::new();
    if let [run] = runs {
        let space = SPACE_PHASES.into_iter().zip(run.space.rows());
        tables.push(rows_table(
            figures(&run.rows).chain(space).chain(figures(extra)),
        ));
    } else {
        tables.push(comparison_table(runs));
        tables.push(rows_table(figures(extra)));
    }
    let legend = legend(runs, scale);
    let mut out = String::new();
    for table in &tables {
        out += &if markdown {
            table.markdown()
        } else {
            table.text()
        };
        out += "\n";
    }
    let key_width = legend.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    if !markdown {
        out += "legend:\n";
    }
    for (key, text) in &legend {
        out += &if markdown {
            format!("- **{key}**: {text}\n")
        } else {
            format!("  {key:<key_width$}  {text}\n")
        };
    }
    out
}

/// Rows that all have a figure, as `rows_table` takes them.
fn figures(rows: &[Row]) -> impl Iterator<Item = (&str, Option<&Row>)> {
    rows.iter().map(|r| (r.phase.as_str(), Some(r)))
}

/// The run's `i`th row of the comparison: its common rows, then its space
/// rows; `None` where it has no figure.
fn row_at(run: &EngineRun, i: usize) -> Option<&Row> {
    match i.checked_sub(run.rows.len()) {
        None => Some(&run.rows[i]),
        Some(s) => run.space.rows()[s],
    }
}

/// A table of rows of any engine: each row's figure, and the work behind it;
/// `n/a` for a phase without a row (the engine offers no way to it).
fn rows_table<'a>(rows: impl Iterator<Item = (&'a str, Option<&'a Row>)>) -> Table {
    let mut t = Table::new(&[("phase", false), ("result", true), ("details", false)]);
    for (phase, row) in rows {
        let Some(row) = row else {
            let none = "the engine offers no way to this figure".to_string();
            t.rows
                .push(vec![phase.to_string(), NOT_AVAILABLE.into(), none]);
            continue;
        };
        let result = match row.measure {
            Measure::Rate { unit, .. } => format!("{} {unit}/s", rate_figure(&row.measure)),
            _ => figure(&row.measure),
        };
        let work = match row.measure {
            Measure::Rate {
                count,
                unit,
                elapsed,
            } => {
                // `unit` is a plural: "gets", "range reads".
                let unit = unit
                    .strip_suffix('s')
                    .filter(|_| count == 1)
                    .unwrap_or(unit);
                format!("{} {unit} in {}", thousands(count), time(elapsed))
            }
            Measure::Time(_) | Measure::Bytes(_) => String::new(),
        };
        let details = [work.as_str(), row.note.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        t.rows.push(vec![row.phase.clone(), result, details]);
    }
    t
}

/// The cell of a phase an engine has no figure for.
const NOT_AVAILABLE: &str = "n/a";

/// Rows = phases, columns = engines, each cell the row's figure (`n/a`
/// where the engine has none), and with oakmap and a peer, oakmap's ratio
/// to the best peer that has a figure, oriented so that above 1 means
/// oakmap leads.
fn comparison_table(runs: &[EngineRun]) -> Table {
    let oak = runs
        .iter()
        .position(|r| r.name == "oakmap")
        .filter(|_| runs.len() > 1);
    let mut columns = vec![("phase", false)];
    columns.extend(runs.iter().map(|r| (r.name, true)));
    if oak.is_some() {
        columns.push(("oakmap / best peer", true));
    }
    let mut t = Table::new(&columns);
    let phases = runs[0].rows.len() + SPACE_PHASES.len();
    for i in 0..phases {
        let phase = match i.checked_sub(runs[0].rows.len()) {
            None => runs[0].rows[i].phase.clone(),
            Some(s) => SPACE_PHASES[s].to_string(),
        };
        let mut cells = vec![phase];
        cells.extend(
            runs.iter().map(|r| {
                row_at(r, i).map_or(NOT_AVAILABLE.to_string(), |row| figure(&row.measure))
            }),
        );
        if let Some(oak) = oak {
            let peers = runs
                .iter()
                .enumerate()
                .filter(|(e, _)| *e != oak)
                .filter_map(|(_, r)| row_at(r, i).map(|row| &row.measure));
            cells.push(match row_at(&runs[oak], i) {
                Some(o) => {
                    ratio(&o.measure, peers).map_or(NOT_AVAILABLE.into(), |x| format!("{x:.2}×"))
                }
                None => NOT_AVAILABLE.into(),
            });
        }
        t.rows.push(cells);
    }
    t
}

/// oakmap's figure `oak` against the best of `peers`, oriented so that above
/// 1 means oakmap leads; `None` without a peer figure.
fn ratio<'a>(oak: &Measure, peers: impl Iterator<Item = &'a Measure>) -> Option<f64> {
    let higher = oak.higher_is_better();
    let best = peers
        .map(Measure::value)
        .reduce(|a, b| if higher { a.max(b) } else { a.min(b) })?;
    let o = oak.value();
    Some(if higher { o / best } else { best / o })
}

/// What each column and row means, and how each engine was set up.
fn legend(runs: &[EngineRun], scale: &Scale) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| l.push((k.to_string(), v));
    add(
        "result",
        "the row's figure: a rate, in operations per second (higher is better); for len, \
         recovery, backup and the sequential write the time of the one call, for peak memory, \
         the file sizes and the backup a size (lower is better); n/a where the engine offers no \
         way to the figure"
            .into(),
    );
    add(
        "details",
        "the operations and the time behind a rate, latency percentiles, what the phase found"
            .into(),
    );
    if runs.len() > 1 {
        add(
            "engine columns",
            "each engine's result on the row, as in the result column".into(),
        );
        if runs.iter().any(|r| r.name == "oakmap") {
            add(
                "oakmap / best peer",
                "for rates oakmap's over the best peer's, for times and sizes the best peer's \
                 over oakmap's: above 1, oakmap leads the row"
                    .into(),
            );
        }
    }
    add(
        "len",
        "one call timed alone: O(1) where the engine keeps a count, a scan otherwise".into(),
    );
    add(
        "peak memory",
        "the peak of the process's anonymous resident memory (heap, anonymous maps such as a \
         cache arena, stacks) while the engine ran, above its level before it opened; pages \
         read through a file mapping are not in it"
            .into(),
    );
    add(
        "file size",
        "every file in the engine's directory after it closed: data, WAL or log, the rest".into(),
    );
    add(
        "after compaction",
        "the engine opened again after that close, compacted in place by its own call (oakmap \
         Db::compact(), redb Database::compact() until it has nothing left, RocksDB \
         compact_range over every key, SQLite VACUUM), closed, and its directory measured as \
         for file size; LMDB has no compaction in place, so its figure is its compacted copy \
         (the backup row); n/a for an engine with neither"
            .into(),
    );
    add(
        "compacted backup",
        "a copy of the state after the workload, free pages left out: oakmap Db::backup_to \
         (the copy is then opened and checked: every entry, nothing to replay), LMDB \
         mdb_env_copy2 with MDB_CP_COMPACT, SQLite VACUUM INTO; n/a for the others (a RocksDB \
         checkpoint hard-links its files, it does not compact them)"
            .into(),
    );
    add(
        "live data",
        "the entries after the workload × (key + value bytes), no per-entry overhead: what the \
         sizes are judged against; its details give each file size after compaction as a \
         multiple of it, and oakmap's data file (its log files left out) as a multiple of the \
         live data with oakmap's per-entry overhead, a leaf cell's header and slot (the goal: \
         at most 1.1×)"
            .into(),
    );
    add(
        "recovery",
        format!(
            "oakmap, whatever --engines says: a WAL filled to {} (the default bound, 64 MiB, at \
             {} entries; in proportion otherwise) by commits of {} without fsync, copied as a \
             crash leaves it, then opened: replay and checkpoint",
            size(scale.recovery_wal_bytes),
            thousands(ENTRIES_STANDARD),
            count_of(scale.recovery_batch_inserts as u64, "insert")
        ),
    );
    add(
        "reference",
        "a 4 KiB append plus fdatasync in the same directory: the floor for a durable commit \
         on this disk; a sequential write (writes of 1 MiB, then fsync) of as many bytes as the \
         backup, beside it, right after each backup: the disk's rate the backup is held to; \
         the same with direct I/O (O_DIRECT), the disk without the page cache"
            .into(),
    );
    add(
        "backup",
        format!(
            "oakmap, whatever --engines says, on a fresh database of the workload's keys with \
             fresh values: Db::backup_to timed while nothing else runs, {ROUNDS} times, each \
             to a new file and followed by the two sequential writes; the median, and its \
             rate as a share of the sequential writes' medians (the goal: at least 70% of the \
             first)"
        ),
    );
    add(
        "writer, readers",
        format!(
            "oakmap, on that database: one thread making durable single-insert commits and {} \
             doing random gets (a snapshot each), {ROUNDS} times a window of {WINDOW_BACKUPS} \
             backup times (at least {}, at most {}) with nothing else, each \
             followed by as long again while backups run one after another: the writer's \
             rate during backups as a share of its rate without, over all windows and by \
             round (the goal: at least 80%), and the readers' latency percentiles",
            count_of(READERS as u64, "thread"),
            time(WINDOW_MIN),
            time(WINDOW_MAX)
        ),
    );
    let w = latency::Windows::new(scale);
    add(
        "latency",
        format!(
            "oakmap, whatever --engines says, on another fresh database of the workload's keys, \
             reopened after the steady mix below ran on it: one thread making durable single-insert commits and {} doing random gets (a \
             snapshot each), every latency in an HDR histogram (3 significant digits); the \
             result is the p99.9. Idle: {} with no checkpoint called (the WAL bound and the \
             interval set so that the engine starts none but for freed pages, which the row \
             counts). During checkpoints: the WAL filled to {} (as for recovery) by commits of \
             {} without fsync, of keys ascending beyond the loaded ones (random ones make the \
             engine checkpoint for freed pages every few commits), the writer and reader \
             waiting; then Db::checkpoint on a third thread, and only the samples that overlap \
             it kept; again on refilled WALs until {} commits overlapped one, {} ran or {} \
             passed; each percentile also as a multiple of the idle p99.9 (the goal: p99.9 at \
             most 2×)",
            count_of(latency::READERS as u64, "thread"),
            time(w.idle),
            size(scale.recovery_wal_bytes),
            count_of(scale.recovery_batch_inserts as u64, "insert"),
            thousands(CHECKPOINT_COMMITS_ENOUGH),
            thousands(CHECKPOINTS_MAX as u64),
            time(w.checkpoints)
        ),
    );
    add(
        "steady mix",
        format!(
            "oakmap, on that database right after its load (so measured first), with the \
             default options, for {}: the same writer and reader throughout, a durable commit of {} \
             {STEADY_BATCHES} times (one every {}), and checkpoints only as the engine starts \
             them: their number a minute and durations from Db::stats polled every {} (the \
             result: the median duration); the commits' and gets' percentiles (the result: the \
             p99.9) and the share of commits over {}",
            time(w.steady),
            count_of(w.batch_inserts as u64, "insert"),
            time(w.steady / STEADY_BATCHES),
            time(STATS_POLL),
            time(SLOW_COMMIT)
        ),
    );
    for run in runs {
        let mut text = format!("durability: {}", run.durability);
        if !run.note.is_empty() {
            text += &format!("; {}", run.note);
        }
        add(run.name, text);
    }
    l
}

/// A table rendered as aligned text or as Markdown, from the same cells.
struct Table {
    header: Vec<String>,
    /// Per column: right-aligned (figures) or left (names, details).
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(columns: &[(&str, bool)]) -> Table {
        Table {
            header: columns.iter().map(|(name, _)| name.to_string()).collect(),
            right: columns.iter().map(|(_, right)| *right).collect(),
            rows: Vec::new(),
        }
    }

    fn text(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .zip(&self.right)
                .map(|((cell, &w), &right)| {
                    if right {
                        format!("{cell:>w$}")
                    } else {
                        format!("{cell:<w$}")
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        let rule = "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1));
        let mut out = line(&self.header) + &rule + "\n";
        for row in &self.rows {
            out += &line(row);
        }
        out
    }

    fn markdown(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let rule: Vec<String> = self
            .right
            .iter()
            .map(|&right| if right { "---:" } else { "---" }.to_string())
            .collect();
        let mut out = line(&self.header) + &line(&rule);
        for row in &self.rows {
            out += &line(row);
        }
        out
    }
}

/// Width on a terminal, for the few non-ASCII characters used (µ, ×).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// 1234567 as "1,234,567".
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() * 4 / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in the unit that reads best: "1.776 s", "124.0 ms", "6.8 µs".
pub(super) fn time(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.3} s")
    } else if secs >= 1e-3 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{:.1} µs", secs * 1e6)
    }
}

/// A size in MiB, or in KiB below 1 MiB: "575.0 MiB", "6.6 KiB".
pub(super) fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// A rate's figure without its unit: "563,107".
fn rate_figure(m: &Measure) -> String {
    thousands(m.value().round() as u64)
}

/// A row's figure with its unit: "563,107/s", "6.8 µs", "575.0 MiB".
fn figure(m: &Measure) -> String {
    match *m {
        Measure::Rate { .. } => format!("{}/s", rate_figure(m)),
        Measure::Time(elapsed) => time(elapsed),
        Measure::Bytes(bytes) => size(bytes),
    }
}

/// "1 thread", "4 threads", "1,000 entries": `one` is the singular.
pub(super) fn count_of(n: u64, one: &str) -> String {
    let word = match (n, one.strip_suffix('y')) {
        (1, _) => one.to_string(),
        (_, Some(stem)) => format!("{stem}ies"),
        (_, None) => format!("{one}s"),
    };
    format!("{} {word}", thousands(n))
}

#[cfg(test)]
mod tests {
    use super::super::space::SpaceRows;
    use super::*;

    fn run(name: &'static str, rate_per_s: u64, time_us: u64, bytes: u64) -> EngineRun {
        let rows = vec![
            Row::new(
                "gets",
                Measure::Rate {
                    count: rate_per_s,
                    unit: "gets",
                    elapsed: Duration::from_secs(1),
                },
                String::new(),
            ),
            Row::new(
                "len",
                Measure::Time(Duration::from_micros(time_us)),
                String::new(),
            ),
            Row::new("file size", Measure::Bytes(bytes), String::new()),
        ];
        EngineRun {
            name,
            durability: "fsync | per commit",
            note: "",
            rows,
            space: SpaceRows {
                compacted: None,
                backup: None,
                data_file: None,
            },
            live_entries: 0,
        }
    }

    /// The cells of each Markdown table row, splitting on unescaped pipes.
    fn cells(line: &str) -> Vec<String> {
        let inner = line
            .strip_prefix("| ")
            .and_then(|l| l.strip_suffix(" |"))
            .unwrap_or_else(|| panic!("not a table row: {line:?}"));
        let mut cells = vec![String::new()];
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    cells.last_mut().unwrap().push('|');
                    chars.next();
                }
                '|' => cells.push(String::new()),
                c => cells.last_mut().unwrap().push(c),
            }
        }
        cells.into_iter().map(|c| c.trim().to_string()).collect()
    }

    #[test]
    fn ratios_say_above_one_when_oakmap_leads_either_way() {
        let runs = [
            run("oakmap", 200, 2, 100 << 20),
            run("a", 100, 1, 200 << 20),
            run("b", 50, 4, 400 << 20),
        ];
        let md = comparison_table(&runs).markdown();
        let lines: Vec<Vec<String>> = md.lines().map(cells).collect();
        assert_eq!(lines[0].last().unwrap(), "oakmap / best peer");
        // Rate: 200 against the best peer's 100.
        assert_eq!(lines[2], ["gets", "200/s", "100/s", "50/s", "2.00×"]);
        // Time: the best peer's 1 µs against oakmap's 2 µs.
        assert_eq!(lines[3], ["len", "2.0 µs", "1.0 µs", "4.0 µs", "0.50×"]);
        // Size: the best peer's 200 MiB against oakmap's 100 MiB.
        assert_eq!(
            lines[4],
            ["file size", "100.0 MiB", "200.0 MiB", "400.0 MiB", "2.00×"]
        );
    }

    /// An engine's space rows: compacted and backup sizes in MiB, or none.
    fn with_space(mut run: EngineRun, compacted: Option<u64>, backup: Option<u64>) -> EngineRun {
        let row = |phase: &str, mib: u64| Row::new(phase, Measure::Bytes(mib << 20), "".into());
        run.space = SpaceRows {
            compacted: compacted.map(|mib| row(SPACE_PHASES[0], mib)),
            backup: backup.map(|mib| row(SPACE_PHASES[1], mib)),
            data_file: None,
        };
        run
    }

    #[test]
    fn engines_without_a_figure_show_not_available() {
        let runs = [
            with_space(run("oakmap", 200, 2, 100 << 20), Some(50), Some(40)),
            with_space(run("a", 100, 1, 200 << 20), None, None),
            with_space(run("b", 50, 4, 400 << 20), Some(100), None),
        ];
        let md = comparison_table(&runs).markdown();
        let lines: Vec<Vec<String>> = md.lines().map(cells).collect();
        // The ratio is against the best peer that has a figure: b's 100 MiB.
        assert_eq!(
            lines[5],
            [
                "file size after compaction",
                "50.0 MiB",
                "n/a",
                "100.0 MiB",
                "2.00×"
            ]
        );
        // No peer has one: no ratio.
        assert_eq!(
            lines[6],
            ["compacted backup", "40.0 MiB", "n/a", "n/a", "n/a"]
        );
        assert_eq!(lines.len(), 7, "{md}");

        // oakmap without the figure: no ratio either.
        let runs = [
            with_space(run("oakmap", 1, 1, 1), None, None),
            with_space(run("a", 1, 1, 1), Some(3), Some(2)),
        ];
        let md = comparison_table(&runs).markdown();
        let last = cells(md.lines().last().unwrap());
        assert_eq!(last, ["compacted backup", "n/a", "2.0 MiB", "n/a"]);

        // One engine: its table says n/a, and why.
        let text = report(&runs[..1], &[], &Scale::new(10), false);
        let line = text
            .lines()
            .find(|l| l.starts_with("compacted backup"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            line.contains("n/a") && line.contains("offers no way"),
            "{line}"
        );
    }

    #[test]
    fn no_ratio_column_without_oakmap() {
        let runs = [run("a", 1, 1, 1), run("b", 2, 2, 2)];
        let md = comparison_table(&runs).markdown();
        let header = cells(md.lines().next().unwrap());
        assert_eq!(header, ["phase", "a", "b"]);
    }

    #[test]
    fn markdown_report_is_tables_and_a_legend() {
        let runs = [run("oakmap", 200, 2, 100), run("a", 100, 1, 200)];
        let extra = [Row::new(
            "recovery: open after crash",
            Measure::Time(Duration::from_millis(598)),
            "a | b".into(),
        )];
        let out = report(&runs, &extra, &Scale::new(1_000_000), true);
        let mut tables = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        for line in out.lines().chain([""]) {
            if line.starts_with('|') {
                current.push(line);
            } else if !current.is_empty() {
                tables.push(std::mem::take(&mut current));
            }
        }
        assert_eq!(tables.len(), 2, "{out}");
        for table in &tables {
            let columns = cells(table[0]).len();
            let rule = cells(table[1]);
            assert!(rule.iter().all(|c| c == "---" || c == "---:"), "{table:?}");
            for line in table {
                assert_eq!(cells(line).len(), columns, "{line}");
            }
        }
        // A pipe inside a cell is escaped, so the row keeps its columns.
        assert!(out.contains("a \\| b"), "{out}");
        assert!(out.contains("- **oakmap / best peer**: "), "{out}");
        assert!(
            out.contains("- **a**: durability: fsync | per commit"),
            "{out}"
        );
        assert!(out.contains("64.0 MiB"), "{out}");
    }

    #[test]
    fn text_columns_line_up() {
        let mut t = Table::new(&[("phase", false), ("result", true)]);
        t.rows.push(vec!["len".into(), "6.8 µs".into()]);
        t.rows.push(vec!["bulk load".into(), "1,000/s".into()]);
        let text = t.text();
        let widths: Vec<usize> = text.lines().map(width).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{text}");
    }

    #[test]
    fn figures_read_as_written() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(time(Duration::from_millis(1776)), "1.776 s");
        assert_eq!(time(Duration::from_micros(124_000)), "124.0 ms");
        assert_eq!(time(Duration::from_nanos(6_800)), "6.8 µs");
        assert_eq!(size(575 << 20), "575.0 MiB");
        assert_eq!(size(6758), "6.6 KiB");
        assert_eq!(count_of(1, "thread"), "1 thread");
        assert_eq!(count_of(1000, "insert"), "1,000 inserts");
        assert_eq!(count_of(2, "entry"), "2 entries");
    }
}
