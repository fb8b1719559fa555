//! The space rows of one engine, after its workload and its close: the
//! engine is opened again on its files, writes a compacted copy where it
//! can (oakmap `Db::backup_to`, LMDB's compacting copy, SQLite `VACUUM
//! INTO`), compacts in place where it can (oakmap `Db::compact`, redb
//! `Database::compact`, RocksDB `compact_range`, SQLite `VACUUM`) and is
//! closed again, and its directory is measured. An engine with a compacted
//! copy and no compaction in place (LMDB) has the copy as its compacted
//! size; one with neither has no figure (`None`, printed `n/a`).
//! The copy is written beside the engine's directory, never in it, and
//! removed before this returns.

use std::path::Path;

use super::dir_bytes;
use crate::engines::{self, BenchResult, EngineInfo};
use crate::shared::{Measure, Row};

/// The phases of the space rows, in the order of `SpaceRows`.
pub(super) const PHASES: [&str; 2] = ["file size after compaction", "compacted backup"];

/// One engine's space rows; `None` where it offers no way to the figure.
pub(super) struct SpaceRows {
    pub(super) compacted: Option<Row>,
    pub(super) backup: Option<Row>,
    /// oakmap's data file alone after compaction (its log files left out),
    /// for the goal the live data row judges.
    pub(super) data_file: Option<u64>,
}

impl SpaceRows {
    /// The rows in the order of `PHASES`.
    pub(super) fn rows(&self) -> [Option<&Row>; 2] {
        [self.compacted.as_ref(), self.backup.as_ref()]
    }
}

/// Opens `info`'s closed database in `dir` again, copies and compacts it
/// (scratch files under `parent`), closes it and measures.
pub(super) fn measure(
    info: &EngineInfo,
    dir: &Path,
    parent: &Path,
    cache_bytes: usize,
) -> BenchResult<SpaceRows> {
    let scratch = tempfile::Builder::new()
        .prefix(&format!("{}-copy-", info.name))
        .tempdir_in(parent)?;
    let to = scratch.path().join("copy");
    let mut engine = engines::open(info.name, dir, cache_bytes)?;
    let copy = engine.backup(&to)?.map(|b| (b.bytes, b.how));
    let compacted_how = engine.compact()?;
    drop(engine);
    let compacted = match (compacted_how, &copy) {
        (Some(how), _) => Some(Row::new(
            PHASES[0],
            Measure::Bytes(dir_bytes(dir)),
            format!("every file after {how}, and a close"),
        )),
        (None, Some((bytes, _))) => Some(Row::new(
            PHASES[0],
            Measure::Bytes(*bytes),
            "no compaction in place: its compacted copy, the backup row".into(),
        )),
        (None, None) => None,
    };
    let backup = copy.map(|(bytes, how)| Row::new(PHASES[1], Measure::Bytes(bytes), how));
    let data_file = (info.name == "oakmap")
        .then(|| std::fs::metadata(dir.join(engines::OAKMAP_FILE)))
        .transpose()?
        .map(|m| m.len());
    Ok(SpaceRows {
        compacted,
        backup,
        data_file,
    })
}
