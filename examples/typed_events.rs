//! Typed trees: an event log per user, keyed by `(user, time)`, with struct
//! values, beside a byte tree in the same transaction.
//!
//! The key `(String, u64)` sorts as the tuple does, so one user's events
//! are one range read, in time order, and the newest is the last of that
//! range; the value is a struct encoded with bincode 2.
//!
//! ```sh
//! cargo run --example typed_events                 # in a temporary directory
//! cargo run --example typed_events -- events.oak   # in a file of yours, kept
//! ```

use std::path::{Path, PathBuf};

use oakmap::typed::{TreeDef, bincode};
use oakmap::{Db, Error};

/// One event of a user's.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[bincode(crate = "oakmap::typed::bincode")]
pub struct Event {
    /// What happened.
    pub kind: String,
    /// By how much.
    pub amount: i64,
}

/// (user, time in ms) → event.
pub const EVENTS: TreeDef<(String, u64), Event> = TreeDef::new("events");
/// user → how many events they have, kept in the same transaction.
pub const COUNTS: TreeDef<String, u64> = TreeDef::new("event_counts");

/// What a run found, for the test.
#[derive(Debug, PartialEq)]
pub struct Report {
    /// Bob's events with their times, in time order.
    pub bob_events: Vec<(u64, Event)>,
    /// The time of Alice's newest event.
    pub alice_newest: Option<u64>,
    /// Alice's count from the second tree.
    pub alice_count: u64,
    /// Entries of tree `events`, counted through the byte API.
    pub raw_entries: u64,
}

/// Records events for three users, then reads them back by user and time.
pub fn run(path: &Path) -> Result<Report, Error> {
    let db = Db::open(path)?;
    let mut tx = db.begin_write()?;
    let users = ["alice", "bob", "carol"];
    let mut events = tx.open_typed(EVENTS)?;
    for t in 0..30u64 {
        let user = users[(t % 3) as usize];
        let event = Event {
            kind: if t % 2 == 0 { "deposit" } else { "withdrawal" }.into(),
            amount: if t % 2 == 0 { 10 } else { -3 } * t as i64,
        };
        events.insert((user, 1_000 + t), &event)?;
    }
    let mut counts = tx.open_typed(COUNTS)?;
    for user in users {
        let n = counts.get(user)?.unwrap_or(0);
        counts.insert(user, &(n + 10))?;
    }
    // A byte tree in the same commit: typed trees are ordinary trees.
    tx.open_tree("audit")?.insert(b"last_batch", b"30 events")?;
    tx.commit()?;

    let rx = db.begin_read();
    let events = rx.typed(EVENTS)?.expect("created above");
    // One user's events: a range over the first element of the tuple.
    let mut bob_events = Vec::new();
    for entry in events.range(("bob", 0)..=("bob", u64::MAX))? {
        let ((_, time), event) = entry?;
        bob_events.push((time, event));
    }
    let alice_newest = events
        .range(("alice", 0)..=("alice", u64::MAX))?
        .next_back()
        .transpose()?
        .map(|((_, time), _)| time);
    let alice_count = rx
        .typed(COUNTS)?
        .expect("created above")
        .get("alice")?
        .unwrap_or(0);
    // The byte API sees the same entries, as the bytes the key encoding wrote.
    let raw_entries = rx.tree("events")?.map_or(0, |t| t.len());
    Ok(Report {
        bob_events,
        alice_newest,
        alice_count,
        raw_entries,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = std::env::args()
        .nth(1)
        .map_or_else(|| dir.path().join("events.oak"), PathBuf::from);
    let report = run(&path)?;
    for (time, event) in &report.bob_events {
        println!("bob  t={time}  {} {}", event.kind, event.amount);
    }
    println!(
        "alice: newest event at t={:?}, {} events counted; {} entries in the tree",
        report.alice_newest, report.alice_count, report.raw_entries
    );
    Ok(())
}
