//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod child;
pub mod crash;
pub mod format;
pub mod layout;
pub mod test_db;

#[allow(unused_imports, reason = "each test binary uses some of the helpers")]
pub use test_db::{TestDb, assert_clean};

use std::path::Path;

use std::collections::BTreeMap;

use oakmap::ReadTxn;

/// Options under which no checkpoint runs by itself (a WAL bound and an
/// interval no test reaches), so a crash image taken while a `Db` is open
/// has its commits after the last explicit checkpoint in the log.
pub fn no_background_checkpoints() -> oakmap::Options {
    oakmap::Options::new()
        .wal_bytes_max(1 << 30)
        .checkpoint_interval(std::time::Duration::from_secs(3600))
}

/// Every entry of tree `name` in a snapshot (empty if the tree is missing).
pub fn entries(rx: &ReadTxn<'_>, name: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    match rx.tree(name).unwrap() {
        Some(t) => t
            .iter()
            .unwrap()
            .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect(),
        None => BTreeMap::new(),
    }
}

/// Copies a database's three files (data file and both WAL files), as a
/// crash would leave them if taken while it is open.
pub fn copy_db(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    for i in 0..2 {
        std::fs::copy(
            format!("{}.wal{i}", from.display()),
            format!("{}.wal{i}", to.display()),
        )
        .unwrap();
    }
}

/// A small seeded generator (SplitMix64), so failures replay from their seed.
#[derive(Clone, Default)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Starts a checkpoint of `db` on a thread of its own and returns once it
/// waits in its data sync, held at the failure point
/// `checkpoint.data.sync` of `fail` (the `FailPoints` `db` was opened
/// with). The caller does what it tests meanwhile, then
/// `fail.release("checkpoint.data.sync")` and joins the thread.
pub fn stall_checkpoint(
    db: &std::sync::Arc<TestDb>,
    fail: &oakmap::FailPoints,
) -> std::thread::JoinHandle<oakmap::Result<()>> {
    fail.hold("checkpoint.data.sync");
    let stalled = {
        let db = db.clone();
        std::thread::spawn(move || db.checkpoint())
    };
    while fail.waiting("checkpoint.data.sync") == 0 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    stalled
}
