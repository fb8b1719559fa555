//! A recording storage hook and the crash images it can build.
//!
//! The recorder keeps every write, length change and sync of a database's
//! three files, in order, plus markers the workload adds when a commit is
//! acknowledged. For a crash before operation `c`, each file's durable image
//! is the baseline plus its operations up to its last completed sync; the
//! operations after that sync may or may not have reached the disk, so an
//! image adds none of them, all, a prefix, a random subset, or a prefix plus
//! one torn write (some of its 512-byte sectors new, the rest old).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use oakmap::{IoFile, IoHook, IoOp};

use super::Rng;

#[derive(Debug, Clone)]
pub enum Kind {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
    Sync,
}

#[derive(Debug, Clone)]
pub enum Event {
    Op {
        file: usize,
        kind: Kind,
    },
    /// The workload's commit number `n` (1-based count of commits) returned.
    Acked(u64),
}

/// Records every operation; never fails one.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<Event>>,
}

fn index(file: IoFile) -> usize {
    match file {
        IoFile::Data => 0,
        IoFile::Wal(i) => 1 + i as usize,
        IoFile::Backup => unreachable!("a backup's copy is not recorded"),
    }
}

impl IoHook for Recorder {
    fn before(&self, file: IoFile, op: &IoOp<'_>, _point: &'static str) -> io::Result<()> {
        if file == IoFile::Backup {
            // Not a file of the database: a crash image leaves it out.
            return Ok(());
        }
        let kind = match *op {
            IoOp::Write { offset, bytes } => Kind::Write {
                offset,
                bytes: bytes.to_vec(),
            },
            IoOp::SetLen(len) => Kind::SetLen(len),
            IoOp::Sync => Kind::Sync,
        };
        self.events.lock().unwrap().push(Event::Op {
            file: index(file),
            kind,
        });
        Ok(())
    }
}

impl Recorder {
    pub fn ack(&self, commits: u64) {
        self.events.lock().unwrap().push(Event::Acked(commits));
    }
}

/// The three files of a database, by index: data, wal0, wal1.
pub fn paths(db: &Path) -> [PathBuf; 3] {
    [
        db.to_path_buf(),
        PathBuf::from(format!("{}.wal0", db.display())),
        PathBuf::from(format!("{}.wal1", db.display())),
    ]
}

pub fn read_files(db: &Path) -> [Vec<u8>; 3] {
    paths(db).map(|p| std::fs::read(p).unwrap_or_default())
}

pub fn write_files(db: &Path, files: &[Vec<u8>; 3]) {
    for (p, b) in paths(db).iter().zip(files) {
        std::fs::write(p, b).unwrap();
    }
}

fn apply(file: &mut Vec<u8>, kind: &Kind) {
    match kind {
        Kind::Write { offset, bytes } => {
            let end = *offset as usize + bytes.len();
            if file.len() < end {
                file.resize(end, 0);
            }
            file[*offset as usize..end].copy_from_slice(bytes);
        }
        Kind::SetLen(len) => file.resize(*len as usize, 0),
        Kind::Sync => {}
    }
}

/// Applies only some 512-byte sectors of a write.
fn apply_torn(file: &mut Vec<u8>, kind: &Kind, rng: &mut Rng) {
    let Kind::Write { offset, bytes } = kind else {
        return apply(file, kind);
    };
    for (i, sector) in bytes.chunks(512).enumerate() {
        if rng.below(2) == 0 {
            let part = Kind::Write {
                offset: offset + (i * 512) as u64,
                bytes: sector.to_vec(),
            };
            apply(file, &part);
        }
    }
}

/// How an image treats the operations after each file's last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    None,
    All,
    Prefix,
    Subset,
    Torn,
}

pub const VARIANTS: [Variant; 5] = [
    Variant::None,
    Variant::All,
    Variant::Prefix,
    Variant::Subset,
    Variant::Torn,
];

/// Number of operations recorded.
pub fn op_count(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Op { .. }))
        .count()
}

/// The highest commit count acknowledged before operation `crash` (the
/// crash happens before the `crash`-th operation, counting from 0).
pub fn acked_before(events: &[Event], crash: usize) -> u64 {
    let mut ops = 0;
    let mut acked = 0;
    for e in events {
        match e {
            Event::Op { .. } if ops == crash => break,
            Event::Op { .. } => ops += 1,
            Event::Acked(n) => acked = *n,
        }
    }
    acked
}

/// The files a crash before operation `crash` could leave.
pub fn image(
    baseline: &[Vec<u8>; 3],
    events: &[Event],
    crash: usize,
    variant: Variant,
    rng: &mut Rng,
) -> [Vec<u8>; 3] {
    let ops: Vec<(usize, &Kind)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Op { file, kind } => Some((*file, kind)),
            Event::Acked(_) => None,
        })
        .take(crash)
        .collect();
    let mut files = baseline.clone();
    let mut last_sync: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, (f, kind)) in ops.iter().enumerate() {
        if matches!(kind, Kind::Sync) {
            last_sync.insert(*f, i);
        }
    }
    let mut pending: Vec<(usize, &Kind)> = Vec::new();
    for (i, (f, kind)) in ops.iter().enumerate() {
        if last_sync.get(f).is_some_and(|&s| i < s) {
            apply(&mut files[*f], kind);
        } else if !matches!(kind, Kind::Sync) {
            pending.push((*f, kind));
        }
    }
    match variant {
        Variant::None => {}
        Variant::All => pending.iter().for_each(|(f, k)| apply(&mut files[*f], k)),
        Variant::Prefix => {
            let n = rng.below(pending.len() as u64 + 1) as usize;
            pending[..n]
                .iter()
                .for_each(|(f, k)| apply(&mut files[*f], k));
        }
        Variant::Subset => {
            for (f, k) in &pending {
                if rng.below(2) == 0 {
                    apply(&mut files[*f], k);
                }
            }
        }
        Variant::Torn => {
            let n = rng.below(pending.len() as u64 + 1) as usize;
            pending[..n]
                .iter()
                .for_each(|(f, k)| apply(&mut files[*f], k));
            if let Some((f, k)) = pending.get(n) {
                apply_torn(&mut files[*f], k, rng);
            }
        }
    }
    files
}

/// A scratch directory on a tmpfs when there is one (images are many and
/// opening one syncs), else the default temporary directory.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().unwrap()
}
