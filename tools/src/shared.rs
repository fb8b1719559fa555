//! Small pieces the subcommands share, so that no subcommand imports
//! another: the seeded generator, copying a database's files, and a row of
//! the bench table (which the plot draws).

use std::path::Path;
use std::time::Duration;

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One row of the bench table: a phase and what it measured.
pub(crate) struct Row {
    pub(crate) phase: String,
    pub(crate) measure: Measure,
    /// What else the phase saw (latencies, entries found), shown after the
    /// work behind the figure.
    pub(crate) note: String,
}

impl Row {
    pub(crate) fn new(phase: &str, measure: Measure, note: String) -> Row {
        Row {
            phase: phase.to_string(),
            measure,
            note,
        }
    }
}

/// What a row measured, which decides its unit and which way is better.
pub(crate) enum Measure {
    /// `count` operations, each one `unit` (plural: "gets"), in `elapsed`:
    /// the figure is the rate, and higher is better.
    Rate {
        count: u64,
        unit: &'static str,
        elapsed: Duration,
    },
    /// One call timed alone (`len`, opening after a crash): the figure is
    /// its time, and lower is better.
    Time(Duration),
    /// A size (peak memory, files on disk): lower is better.
    Bytes(u64),
}

impl Measure {
    /// The figure compared across engines: operations per second, seconds,
    /// or bytes. Never zero, so that ratios of two figures are finite.
    pub(crate) fn value(&self) -> f64 {
        match *self {
            Measure::Rate { count, elapsed, .. } => {
                (count as f64 / elapsed.as_secs_f64().max(1e-9)).max(f64::MIN_POSITIVE)
            }
            Measure::Time(elapsed) => elapsed.as_secs_f64().max(1e-9),
            Measure::Bytes(bytes) => bytes.max(1) as f64,
        }
    }

    /// Rates: higher is better; times and sizes: lower is better.
    pub(crate) fn higher_is_better(&self) -> bool {
        matches!(self, Measure::Rate { .. })
    }
}

/// Copies a database's three files, as a crash leaves them when taken while
/// it is open.
pub(crate) fn copy_db(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::copy(from, to)?;
    for i in 0..2 {
        let (a, b) = (
            format!("{}.wal{i}", from.display()),
            format!("{}.wal{i}", to.display()),
        );
        if Path::new(&a).exists() {
            std::fs::copy(a, b)?;
        }
    }
    Ok(())
}

/// What opening `path` failed with, naming the file once: the library's
/// errors about a file (I/O, not a database, locked, ...) already name it,
/// the others (corruption, a damaged log) get it in front.
pub(crate) fn open_error(path: &Path, e: &oakmap::Error) -> String {
    use oakmap::Error;
    match e {
        Error::Io { .. }
        | Error::NotADatabase { .. }
        | Error::UnsupportedVersion { .. }
        | Error::Locked { .. } => e.to_string(),
        _ => format!("cannot open {}: {e}", path.display()),
    }
}
