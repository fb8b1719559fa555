//! The write-ahead log as [`RawDb::wal`] finds it: every record of both
//! files, where each file's records end, and what recovery would conclude
//! (the scan opening runs, `wal::LogReader::scan`).

use std::path::PathBuf;

use super::RawDb;
use crate::format::Lsn;
use crate::format::wal::{Op, WAL_HEADER_BYTES, WalHeader, decode_ops, file_tag};
use crate::wal::{self, LogReader, wal_paths};

/// A WAL file as found.
#[derive(Debug, Clone)]
pub struct WalFileView {
    /// Its path.
    pub path: PathBuf,
    /// Its length in bytes (0 if missing).
    pub bytes: u64,
    /// Its header's `file_id` and `base_lsn`, if the header decodes.
    pub header: Option<(u64, u64)>,
}

/// How a record fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    /// Valid, and not yet covered by the newest checkpoint: recovery replays it.
    Replay,
    /// Valid, but before the newest checkpoint's position.
    Covered,
}

/// One WAL record.
#[derive(Debug, Clone)]
pub struct RecordView {
    /// Which file (0 or 1).
    pub file: usize,
    /// Byte offset in it.
    pub offset: u64,
    /// Its LSN.
    pub lsn: u64,
    /// A switch marker: no commit, the log continues in the other file.
    pub marker: bool,
    /// The commit it records (0 for a marker).
    pub txn: u64,
    /// How far the log was durable when it was written.
    pub synced_lsn: u64,
    /// Its length in bytes.
    pub len: usize,
    /// Its operations, as text: `put tree key (N bytes)` and so on.
    pub ops: Vec<String>,
    /// Replayed or covered.
    pub status: RecordStatus,
}

/// Where a WAL file's records end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalEnd {
    /// At the end of the file.
    Clean,
    /// At bytes that do not decode, with nothing acknowledged after them.
    TornTail {
        /// Byte offset where the bad bytes start.
        offset: u64,
    },
    /// At a damaged record that acknowledged records follow.
    Corrupt {
        /// Byte offset of the damaged record.
        offset: u64,
    },
}

/// Both WAL files, every record in each.
#[derive(Debug, Clone)]
pub struct WalView {
    /// The two files.
    pub files: Vec<WalFileView>,
    /// Every decodable record, file by file.
    pub records: Vec<RecordView>,
    /// How each file's records end.
    pub ends: Vec<WalEnd>,
    /// What recovery would conclude: Ok(records to replay) or its error.
    pub recovery: std::result::Result<usize, String>,
    /// What the log holds past the newest checkpoint, as recovery follows
    /// it: commits that the checkpoint's pages (and so `check`'s counts) do
    /// not include yet.
    pub beyond_checkpoint: LogTail,
}

/// The log past the newest checkpoint, as recovery's scan follows it from
/// the checkpoint's position: the records it would replay, up to the end
/// of the log or to the first problem (then `WalView::recovery` is its
/// error, and these are the commits `oakmap recover --accept-log-loss`
/// keeps).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogTail {
    /// The checkpoint's commit: the newest meta slot's `txn_id`.
    pub checkpoint_txn: u64,
    /// Commits after it, numbered `checkpoint_txn + 1 ..= checkpoint_txn +
    /// commits` (commit numbers have no gaps; the scan refuses one).
    pub commits: u64,
    /// Records in that stretch of the log: the commits, and the switch
    /// markers where it goes on in the other file.
    pub records: u64,
    /// Bytes of log in that stretch.
    pub bytes: u64,
    /// The checkpoint was written by a clean close: the log holds nothing
    /// it lacks, and is not read.
    pub clean_close: bool,
}

impl LogTail {
    /// The last commit the log holds, or the checkpoint's if none.
    pub fn last_txn(&self) -> u64 {
        self.checkpoint_txn + self.commits
    }
}

impl RawDb {
    /// Both WAL files and every record in them, and what recovery would
    /// conclude (the same scan opening runs).
    pub fn wal(&self) -> WalView {
        let paths = wal_paths(&std::fs::canonicalize(&self.path).unwrap_or(self.path.clone()));
        let (files, unreadable) = match wal::read_files(&paths) {
            Ok(files) => (files, None),
            Err(e) => ([None, None], Some(e.to_string())),
        };
        let covered = self.newest.map_or(Lsn(0), |m| m.wal_lsn);
        let file_id = self.header.header.map_or(0, |h| h.file_id);
        let tag = file_tag(file_id);
        let mut view = WalView {
            files: Vec::new(),
            records: Vec::new(),
            ends: Vec::new(),
            recovery: Ok(0),
            beyond_checkpoint: LogTail {
                checkpoint_txn: self.newest.map_or(0, |m| m.txn.0),
                clean_close: self.newest.is_some_and(|m| m.clean),
                ..LogTail::default()
            },
        };
        for (i, b) in files.iter().enumerate() {
            let b = b.as_deref().unwrap_or_default();
            let header = WalHeader::decode(b);
            view.files.push(WalFileView {
                path: paths[i].clone(),
                bytes: b.len() as u64,
                header: header.map(|h| (h.file_id, h.base_lsn.0)),
            });
            let end = match header {
                Some(h) => walk_wal_file(b, i, h.base_lsn, covered, tag, &mut view.records),
                None => WalEnd::Clean,
            };
            view.ends.push(end);
        }
        view.recovery = match self.newest {
            _ if unreadable.is_some() => Err(unreadable.unwrap_or_default()),
            Some(meta) => LogReader {
                paths: &paths,
                file_id,
            }
            .scan(files, &meta)
            .and_then(|s| {
                view.beyond_checkpoint.commits = s.records.len() as u64;
                view.beyond_checkpoint.bytes = s.end_lsn.bytes_since(covered);
                view.beyond_checkpoint.records = view
                    .records
                    .iter()
                    .filter(|r| r.status == RecordStatus::Replay && r.lsn < s.end_lsn.0)
                    .count() as u64;
                match s.loss {
                    Some(e) => Err(e),
                    None => Ok(s.records.len()),
                }
            })
            .map_err(|e| e.to_string()),
            None => Err("no valid meta slot".into()),
        };
        view
    }
}

/// Decodes one WAL file's records in order, from its header on.
fn walk_wal_file(
    b: &[u8],
    file: usize,
    base: Lsn,
    covered: Lsn,
    tag: u32,
    out: &mut Vec<RecordView>,
) -> WalEnd {
    let mut records = wal::Records::new(b, WAL_HEADER_BYTES, base, tag);
    for (off, rec) in records.by_ref() {
        let decoded = decode_ops(&rec);
        let marker = decoded.as_deref().is_some_and(Op::is_switch_marker);
        let ops = match decoded {
            Some(ops) => ops.iter().map(describe_op).collect(),
            None => vec!["(operations do not parse)".to_string()],
        };
        out.push(RecordView {
            file,
            marker,
            offset: off as u64,
            lsn: rec.lsn.0,
            txn: rec.txn,
            synced_lsn: rec.synced_lsn.0,
            len: rec.len,
            ops,
            status: if rec.lsn >= covered {
                RecordStatus::Replay
            } else {
                RecordStatus::Covered
            },
        });
    }
    match records.end {
        Some(wal::FileEnd::Damaged { offset, .. }) => WalEnd::Corrupt {
            offset: offset as u64,
        },
        Some(wal::FileEnd::Torn { offset }) => WalEnd::TornTail {
            offset: offset as u64,
        },
        _ => WalEnd::Clean,
    }
}

fn describe_op(op: &Op<'_>) -> String {
    let esc = |b: &[u8]| {
        let s = b.escape_ascii().to_string();
        if s.len() > 48 {
            format!("{}..", &s[..48])
        } else {
            s
        }
    };
    match op {
        Op::Put { tree, key, value } => format!("put {tree} {} ({} bytes)", esc(key), value.len()),
        Op::Delete { tree, key } => format!("delete {tree} {}", esc(key)),
        Op::CreateTree { tree } => format!("create tree {tree}"),
        Op::DeleteTree { tree } => format!("delete tree {tree}"),
        Op::Switch => "switch: the log continues in the other file".to_string(),
    }
}
