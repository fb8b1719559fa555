//! Power cuts under a node's stores: every image a cut can leave opens, and
//! openraft can start from it.
//!
//! Applies commit without an fsync of their own (the log is the durable
//! copy), so a cut can take applies back; the argument that it never takes
//! more (docs/design.md, "Replication") is what this checks. A recording
//! hook keeps every write, length change and sync of the database's three
//! files; for a cut before each operation, each file is what its last
//! completed sync made durable and nothing after (the harshest image: an
//! unsynced write is lost). The snapshot file is left out of every image,
//! so the state machine alone must carry the node.
//!
//! In every image: openraft's start (`get_initial_state`, which re-applies
//! the committed entries) succeeds; every entry after the purged one up to
//! the last is there; the state machine is never behind the purged log and
//! holds exactly the entries it says it applied; and every append
//! acknowledged before the cut is in the log or applied.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{blank, contents, log_id, normal, set};
use oakmap::{IoFile, IoHook, IoOp};
use openraft::RaftLogReader;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine, StorageHelper};

/// One recorded operation, or the workload's mark that the append of the
/// entries up to an index returned.
#[derive(Debug, Clone)]
enum Event {
    Write {
        file: usize,
        offset: u64,
        bytes: Vec<u8>,
    },
    SetLen {
        file: usize,
        len: u64,
    },
    Sync {
        file: usize,
    },
    Acked(u64),
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    fn push(&self, event: Event) {
        self.events.lock().expect("recorder").push(event);
    }
}

impl IoHook for Recorder {
    fn before(&self, file: IoFile, op: &IoOp<'_>, _point: &'static str) -> std::io::Result<()> {
        let file = match file {
            IoFile::Data => 0,
            IoFile::Wal(i) => 1 + usize::from(i),
            // Not a file of the database.
            IoFile::Backup => return Ok(()),
        };
        self.push(match *op {
            IoOp::Write { offset, bytes } => Event::Write {
                file,
                offset,
                bytes: bytes.to_vec(),
            },
            IoOp::SetLen(len) => Event::SetLen { file, len },
            IoOp::Sync => Event::Sync { file },
        });
        Ok(())
    }
}

/// The database's three files in a node directory.
fn files(dir: &Path) -> [PathBuf; 3] {
    ["raft.oak", "raft.oak.wal0", "raft.oak.wal1"].map(|name| dir.join(name))
}

/// Each file as the last sync before event `cut` left it.
fn image(baseline: &[Vec<u8>; 3], events: &[Event], cut: usize) -> [Vec<u8>; 3] {
    let mut out = baseline.clone();
    for (file, bytes) in out.iter_mut().enumerate() {
        let last_sync = events[..cut]
            .iter()
            .rposition(|e| matches!(e, Event::Sync { file: f } if *f == file));
        let Some(last_sync) = last_sync else {
            continue;
        };
        for e in &events[..last_sync] {
            match e {
                Event::Write {
                    file: f,
                    offset,
                    bytes: b,
                } if *f == file => {
                    let (start, end) = (*offset as usize, *offset as usize + b.len());
                    if bytes.len() < end {
                        bytes.resize(end, 0);
                    }
                    bytes[start..end].copy_from_slice(b);
                }
                Event::SetLen { file: f, len } if *f == file => bytes.resize(*len as usize, 0),
                _ => {}
            }
        }
    }
    out
}

/// Appends, applies, snapshots and purges as a node does, recording it.
async fn workload(dir: &Path, recorder: Arc<Recorder>) {
    let options = oakmap::Options::new()
        .cache_bytes(4 << 20)
        .io_hook(recorder.clone());
    let (mut log, mut sm) = oakmap_raft::open_with(dir, options).expect("open");
    let mut next = 0u64;
    for round in 0..80u64 {
        let entries: Vec<_> = (0..4)
            .map(|_| {
                let index = next;
                next += 1;
                match index {
                    0 => blank(0, 0),
                    _ => normal(1, index, set(&format!("k{index:04}"), &"v".repeat(40))),
                }
            })
            .collect();
        let last = entries.last().expect("four").log_id;
        log.blocking_append(entries.clone()).await.expect("append");
        recorder.push(Event::Acked(last.index));
        log.save_committed(Some(last)).await.expect("committed");
        sm.apply(entries).await.expect("apply");
        if round % 5 == 4 {
            let snapshot = common::build_snapshot(&mut sm).await;
            let upto = snapshot.meta.last_log_id.expect("applied");
            log.purge(log_id(1, upto.index - 2)).await.expect("purge");
        }
        if round % 7 == 6 {
            sm.db().checkpoint().expect("checkpoint");
        }
    }
}

/// Checks the node directory `dir` holding the image of a cut after which
/// the appends up to `acked` had returned.
async fn check(dir: &Path, acked: Option<u64>, cut: usize) {
    let (mut log, mut sm) = common::open(dir);
    StorageHelper::new(&mut log, &mut sm)
        .get_initial_state()
        .await
        .unwrap_or_else(|e| panic!("cut {cut}: openraft cannot start: {e}"));
    let state = log.get_log_state().await.expect("log state");
    let purged = state.last_purged_log_id.map(|id| id.index);
    let last = state.last_log_id.map(|id| id.index);
    let first = purged.map_or(0, |p| p + 1);
    if let Some(last) = last {
        let got = log
            .try_get_log_entries(first..last + 1)
            .await
            .expect("read the log");
        let indexes: Vec<u64> = got.iter().map(|e| e.log_id.index).collect();
        assert_eq!(
            indexes,
            (first..=last).collect::<Vec<_>>(),
            "cut {cut}: the log has a hole"
        );
    }
    let (applied, _) = sm.applied_state().await.expect("applied");
    let applied = applied.map(|id| id.index);
    assert!(
        applied >= purged,
        "cut {cut}: applied {applied:?} behind purged {purged:?}"
    );
    if let Some(acked) = acked {
        assert!(
            last >= Some(acked) || applied >= Some(acked),
            "cut {cut}: acknowledged append up to {acked} lost (log to {last:?}, applied {applied:?})"
        );
    }
    let want: Vec<Vec<u8>> = (1..=applied.unwrap_or(0))
        .map(|i| format!("k{i:04}").into_bytes())
        .collect();
    let got: Vec<Vec<u8>> = contents(&sm).into_keys().collect();
    assert_eq!(
        got, want,
        "cut {cut}: the state machine is not its applied prefix"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_power_cut_leaves_a_node_that_starts() {
    let live = tempfile::tempdir().expect("dir");
    // The empty node directory, made before recording starts.
    drop(common::open(live.path()));
    let baseline = files(live.path()).map(|p| std::fs::read(p).unwrap_or_default());
    let recorder = Arc::new(Recorder::default());
    workload(live.path(), recorder.clone()).await;
    let events = recorder.events.lock().expect("recorder").clone();
    let syncs = events
        .iter()
        .filter(|e| matches!(e, Event::Sync { .. }))
        .count();
    assert!(syncs > 150, "the workload synced only {syncs} times");
    // A cut just before each sync and just after it: where what is durable
    // changes.
    let cuts: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::Sync { .. }))
        .flat_map(|(i, _)| [i, i + 1])
        .collect();
    assert!(cuts.len() > 300, "only {} cuts", cuts.len());
    eprintln!("{} power-cut images, {} events", cuts.len(), events.len());
    for &cut in &cuts {
        let acked = events[..cut].iter().rev().find_map(|e| match e {
            Event::Acked(i) => Some(*i),
            _ => None,
        });
        let dir = tempfile::tempdir().expect("dir");
        for (path, bytes) in files(dir.path()).iter().zip(image(&baseline, &events, cut)) {
            std::fs::write(path, bytes).expect("write the image");
        }
        check(dir.path(), acked, cut).await;
    }
}
