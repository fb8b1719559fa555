//! Guards crash safety against power loss: a small workload runs with every
//! write and sync recorded; for a crash before each of its I/O operations,
//! several images of what the disk could hold (the synced state plus none,
//! all, a prefix, a random subset of the unsynced writes, or a torn write)
//! are opened fresh. Each must open, pass the integrity check, hold every
//! commit whose fsync completed, and equal the state after some prefix of the
//! commits. The workload compacts now and then (`Db::compact`: its moves,
//! checkpoints, shrink and truncation), so power is also cut in the middle
//! of a compaction. `OAKMAP_POWER_LOSS_SEEDS=N` runs more workloads (soak).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::crash::{self, Recorder, VARIANTS};
use common::{Rng, TestDb};
use oakmap::{Db, Durability, Options};

type State = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

fn options() -> Options {
    // No background checkpoint: the workload checkpoints at chosen moments,
    // so the recorded sequence of operations depends on the seed alone.
    Options::new()
        .durability(Durability::Immediate)
        .wal_bytes_max(1 << 30)
        .checkpoint_interval(Duration::from_secs(3600))
}

/// Runs the workload for `seed` against `db`, recording acknowledgments.
/// Returns the state after each number of commits (index 0: before any),
/// and how many of its compactions made the file smaller.
fn workload(db: &Db, recorder: &Recorder, seed: u64, commits: u64) -> (Vec<State>, u64) {
    let mut rng = Rng(seed);
    let mut state = State::new();
    let mut states = vec![state.clone()];
    let mut shrank = 0;
    for n in 1..=commits {
        let mut tx = db.begin_write().unwrap();
        for _ in 0..1 + rng.below(4) {
            let tree = format!("t{}", rng.below(2));
            let key = vec![b'k', rng.below(24) as u8];
            let mut t = tx.open_tree(&tree).unwrap();
            let m = state.entry(tree).or_default();
            if rng.below(4) == 0 {
                t.remove(&key).unwrap();
                m.remove(&key);
            } else {
                let len = match rng.below(10) {
                    0 => 5000 + rng.below(3000) as usize, // an overflow run
                    _ => rng.below(300) as usize,
                };
                let value = rng.bytes(len);
                t.insert(&key, &value).unwrap();
                m.insert(key, value);
            }
        }
        tx.commit().unwrap();
        recorder.ack(n);
        states.push(state.clone());
        if rng.below(6) == 0 {
            db.checkpoint().unwrap();
        }
        if rng.below(8) == 0 {
            let done = db.compact().unwrap();
            shrank += u64::from(done.bytes_after < done.bytes_before);
        }
    }
    (states, shrank)
}

fn read_state(db: &Db) -> State {
    let rx = db.begin_read();
    let mut state = State::new();
    for name in rx.list_trees().unwrap() {
        let t = rx.tree(&name).unwrap().unwrap();
        let entries = t
            .iter()
            .unwrap()
            .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect();
        state.insert(name, entries);
    }
    state.retain(|_, m| !m.is_empty());
    state
}

/// Records one workload and checks every crash image; returns how many, how
/// many of them held the commit in flight, and how many compactions shrank
/// the file.
fn check_seed(seed: u64) -> (usize, usize, u64) {
    let dir = crash::scratch_dir();
    let path = dir.path().join("db.oak");
    drop(TestDb::with_options(options(), &path));
    let baseline = crash::read_files(&path);
    let recorder = Arc::new(Recorder::default());
    // A plain `Db`: the checkpoint a check runs would be recorded too, and
    // add crash points that are no part of the workload. Every crash image
    // of it is checked below.
    let db = options().io_hook(recorder.clone()).open(&path).unwrap();
    let (mut states, shrank) = workload(&db, &recorder, seed, 50);
    drop(db);
    for s in &mut states {
        s.retain(|_, m| !m.is_empty());
    }
    let events = recorder.events.lock().unwrap().clone();
    let ops = crash::op_count(&events);
    let mut rng = Rng(seed ^ 0xabcdef);
    let mut images = 0;
    let mut in_flight = 0;
    let image_dir = crash::scratch_dir();
    let image_path = image_dir.path().join("db.oak");
    for crash_at in 0..=ops {
        let acked = crash::acked_before(&events, crash_at);
        for variant in VARIANTS {
            let files = crash::image(&baseline, &events, crash_at, variant, &mut rng);
            crash::write_files(&image_path, &files);
            let context = format!("seed {seed}, crash before op {crash_at} of {ops}, {variant:?}");
            in_flight += usize::from(verify_image(&image_path, &states, acked, &context));
            images += 1;
        }
    }
    (images, in_flight, shrank)
}

/// Returns whether the image held the commit in flight at the crash.
fn verify_image(path: &Path, states: &[State], acked: u64, context: &str) -> bool {
    let db = match Options::new().open(path) {
        Ok(db) => TestDb::from(db).context(context),
        Err(e) => panic!("{context}: open failed: {e}"),
    };
    let got = read_state(&db);
    let n = states
        .iter()
        .position(|s| *s == got)
        .unwrap_or_else(|| panic!("{context}: the state is not any prefix of the commits"));
    // Equal states can repeat; the right one is at or after the acknowledged.
    let n = (n as u64..states.len() as u64)
        .find(|&i| i >= acked && states[i as usize] == got)
        .unwrap_or(n as u64);
    assert!(
        n >= acked,
        "{context}: acknowledged commit {acked} lost (state after {n})"
    );
    assert!(
        n <= acked + 1,
        "{context}: state after {n} commits, only {acked} acknowledged"
    );
    n > acked
}

#[test]
fn every_crash_image_recovers_a_prefix_with_every_acknowledged_commit() {
    let seeds: u64 = std::env::var("OAKMAP_POWER_LOSS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let (images, in_flight, shrank) = (0..seeds)
        .map(|s| check_seed(1000 + s))
        .fold((0, 0, 0), |(a, b, c), (d, e, f)| (a + d, b + e, c + f));
    eprintln!(
        "{images} crash images checked, {in_flight} held the commit in flight, \
         {shrank} compactions shrank the file"
    );
    assert!(
        shrank > 0,
        "no compaction shrank the file: nothing tested it"
    );
    assert!(images >= 10_000 || seeds < 8, "only {images} crash images");
    // Both outcomes of an unacknowledged commit occur: the images differ.
    assert!(
        in_flight > 0 && in_flight < images,
        "{in_flight} of {images}"
    );
}
