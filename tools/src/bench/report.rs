//! How a run is shown: its tables (one engine's rows, or a comparison of
//! engines and a table of the reference rows) and the legend that says what
//! each column and row means, rendered as aligned text or as Markdown from
//! the same cells; and the formats of figures (rates, times, sizes).

use std::time::Duration;

use super::{ENTRIES_STANDARD, EngineRun, Scale};
use crate::shared::{Measure, Row};

/// The report: one table (one engine) or a comparison and a table of the
/// two reference rows (several), then the legend; as text or Markdown.
pub(super) fn report(runs: &[EngineRun], extra: &[Row], scale: &Scale, markdown: bool) -> String {
    let mut tables = Vec::new();
    if let [run] = runs {
        tables.push(rows_table(run.rows.iter().chain(extra)));
    } else {
        tables.push(comparison_table(runs));
        tables.push(rows_table(extra.iter()));
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

/// A table of rows of any engine: each row's figure, and the work behind it.
fn rows_table<'a>(rows: impl Iterator<Item = &'a Row>) -> Table {
    let mut t = Table::new(&[("phase", false), ("result", true), ("details", false)]);
    for row in rows {
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

/// Rows = phases, columns = engines, each cell the row's figure, and with
/// oakmap and a peer, oakmap's ratio to the best peer, oriented so that
/// above 1 means oakmap leads.
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
    for (i, first) in runs[0].rows.iter().enumerate() {
        let mut cells = vec![first.phase.clone()];
        cells.extend(runs.iter().map(|r| figure(&r.rows[i].measure)));
        if let Some(oak) = oak {
            let better = |a: f64, b: f64| {
                if first.measure.higher_is_better() {
                    a.max(b)
                } else {
                    a.min(b)
                }
            };
            let best = runs
                .iter()
                .enumerate()
                .filter(|(e, _)| *e != oak)
                .map(|(_, r)| r.rows[i].measure.value())
                .reduce(better)
                .expect("a peer");
            let o = runs[oak].rows[i].measure.value();
            let ratio = if first.measure.higher_is_better() {
                o / best
            } else {
                best / o
            };
            cells.push(format!("{ratio:.2}×"));
        }
        t.rows.push(cells);
    }
    t
}

/// What each column and row means, and how each engine was set up.
fn legend(runs: &[EngineRun], scale: &Scale) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| l.push((k.to_string(), v));
    add(
        "result",
        "the row's figure: a rate, in operations per second (higher is better); for len and \
         recovery the time of the one call, for peak memory and file size a size (lower is \
         better)"
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
         on this disk"
            .into(),
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
