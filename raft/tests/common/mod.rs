//! Helpers shared by the integration tests: opening a node directory,
//! building entries, reading a state machine whole.
#![allow(dead_code, reason = "each test binary uses some of the helpers")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use oakmap_raft::{DATA_TREE, Entry, LogStore, Request, StateMachineStore, TypeConfig};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, LogId, Membership, RaftSnapshotBuilder, Snapshot};

/// The tests' leader: node 1.
pub const LEADER: u64 = 1;

/// Opens the node directory `dir` with a small cache (many tests open
/// many databases at once).
pub fn open(dir: &Path) -> (LogStore, StateMachineStore) {
    let options = oakmap::Options::new().cache_bytes(4 << 20);
    oakmap_raft::open_with(dir, options).expect("open the node directory")
}

/// The log id of entry `index` of `term`, led by [`LEADER`].
pub fn log_id(term: u64, index: u64) -> LogId<u64> {
    openraft::testing::log_id(term, LEADER, index)
}

/// A blank entry (a new leader's first).
pub fn blank(term: u64, index: u64) -> Entry {
    openraft::testing::blank_ent::<TypeConfig>(term, LEADER, index)
}

/// An entry carrying `request`.
pub fn normal(term: u64, index: u64, request: Request) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(request),
    }
}

/// A membership entry making `voters` the voters.
pub fn membership(term: u64, index: u64, voters: &[u64]) -> Entry {
    let voters: BTreeSet<u64> = voters.iter().copied().collect();
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(Membership::new(vec![voters], None)),
    }
}

/// `SET key value`, from strings.
pub fn set(key: &str, value: &str) -> Request {
    Request::Set {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

/// Every key and value of the state machine's keyspace, in order.
pub fn contents(sm: &StateMachineStore) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let rx = sm.db().begin_read();
    let mut out = BTreeMap::new();
    if let Some(data) = rx.tree(DATA_TREE).expect("read the keyspace") {
        for item in data.iter().expect("iterate") {
            let (k, v) = item.expect("entry");
            out.insert(k.to_vec(), v.to_vec());
        }
    }
    out
}

/// The integrity check every test ends with: the database under `sm` is clean.
pub fn assert_clean(sm: &StateMachineStore) {
    let report = sm.db().check().expect("run the check");
    assert!(report.is_clean(), "{report}");
}

/// A snapshot of `sm` as it stands, built as openraft builds one.
pub async fn build_snapshot(sm: &mut StateMachineStore) -> Snapshot<TypeConfig> {
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build a snapshot")
}
