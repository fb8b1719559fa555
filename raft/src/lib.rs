//! oakmap as the storage of an [`openraft`] node: the Raft log, the
//! vote and a key-value state machine in one oakmap database, and
//! snapshots made by oakmap's online backup.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use oakmap_raft::{Request, TypeConfig};
//!
//! async fn start<N>(network: N) -> Result<(), Box<dyn std::error::Error>>
//! where
//!     N: openraft::RaftNetworkFactory<TypeConfig>,
//! {
//!     let (log_store, state_machine) = oakmap_raft::open("node-1".as_ref())?;
//!     let reader = state_machine.clone(); // the same state machine, to read
//!     let config = Arc::new(openraft::Config::default().validate()?);
//!     let raft = openraft::Raft::<TypeConfig>::new(1, config, network, log_store, state_machine)
//!         .await?;
//!     // ... initialize the cluster or join one, then:
//!     let set = Request::Set { key: b"k".to_vec(), value: b"v".to_vec() };
//!     raft.client_write(set).await?; // applied on this node when it returns
//!     assert_eq!(reader.get(b"k")?, Some(b"v".to_vec()));
//!     Ok(())
//! }
//! ```
//!
//! [`open`] gives the two halves of openraft's storage API over one
//! [`oakmap::Db`] (shared through an `Arc`): a [`LogStore`]
//! ([`RaftLogStorage`](openraft::storage::RaftLogStorage)) and a
//! [`StateMachineStore`] ([`RaftStateMachine`](openraft::storage::RaftStateMachine)).
//! [`TypeConfig`] is the type configuration they serve: node ids `u64`,
//! nodes [`openraft::BasicNode`], commands [`Request`] (the writes `oakmap
//! serve` takes: SET with its NX, XX and GET options, SETNX, GETSET,
//! GETDEL, MSET, MSETNX, DEL, INCRBY, APPEND, FLUSHDB) answered by a
//! [`Response`].
//!
//! # Layout
//!
//! The node's directory holds the database `raft.oak` (with its log files
//! `raft.oak.wal0` and `raft.oak.wal1`) and the current snapshot,
//! `current.snapshot`. The database has four trees:
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `raft-log` | the entry's index, 8 bytes big-endian | the `Entry` |
//! | `raft-meta` | `vote`, `committed`, `purged` | the `Vote`; the committed `Option<LogId>`; the last purged `LogId` |
//! | `sm-data` ([`DATA_TREE`]) | a key of the keyspace | its value, as stored (not encoded) |
//! | `sm-meta` | `applied`, `membership` | the last applied `LogId`; the last `StoredMembership` applied |
//!
//! Big-endian indexes sort as numbers, so a range of the log (a read, a
//! truncation, a purge) is a range of keys. Every other value is its serde
//! form encoded with bincode 2 through oakmap's own codec
//! ([`oakmap::typed::Serde`], oakmap's `BINCODE_CONFIG`): the bytes a typed
//! tree of `Serde<T>` would hold, decoding bounded to 1 GiB. Bytes that do
//! not decode, or an entry stored under an index not its own, are a
//! `StorageError` naming the tree and key, never a panic.
//!
//! # Transactions and durability
//!
//! Each write is one oakmap write transaction, run on tokio's blocking pool
//! (a durable commit waits for an fsync; it must not hold a runtime worker),
//! and returns once committed:
//!
//! * `append`: the entries, one transaction per call; durable
//!   (`Durability::Immediate`) before the `LogFlushed` callback is called
//!   and before `append` returns (oakmap shows a commit to readers only once
//!   it is durable, and openraft wants appended entries readable when
//!   `append` returns). An append shares its fsync with any other durable
//!   commit that meets it (oakmap's group commit), and makes every apply
//!   before it durable too.
//! * `save_vote`: durable. `save_committed`: `Durability::None`, since
//!   losing it only makes a restart re-apply less; oakmap keeps a prefix of
//!   the commits, so the next durable commit covers it.
//! * `truncate(since)`: the entries from `since` on removed, in one durable
//!   transaction. `purge(upto)`: the entries up to `upto` removed and
//!   `upto` recorded as the last purged log id, in one durable transaction;
//!   but while a snapshot is being received, a purge past the applied log
//!   id is carried out by that snapshot's installation, in its transaction
//!   (openraft asks for it before the installation is done, and a crash
//!   between the two must not leave the log purged past the state machine:
//!   `store::Receiving`).
//! * `apply`: a batch of entries in one transaction, together with the
//!   last applied log id and the last membership they carry, without
//!   waiting for an fsync (`Durability::None`). The entries are durable in
//!   the log already, so a crash that loses applies only makes the restart
//!   re-apply them from it, and it never loses more than that: oakmap
//!   recovers a prefix of the commits, in commit order, and every durable
//!   commit after an apply (the next append, a vote, a purge) makes it
//!   durable too. In particular a purge, which comes after the snapshot
//!   whose applies it relies on, is durable only with them, so the state
//!   machine after a crash is never behind the purged log (a received
//!   snapshot's purge commits with its installation, above); and before a
//!   built snapshot is stored, the database is synced, so the snapshot
//!   file never names a state the database could lose. It is the state
//!   after a whole batch, labelled with its log id. An fsync per apply
//!   cost the three-node cluster 10% of its SET rate with 16 clients and
//!   20% with one (`raft/bench.sh`, docs/benchmarks.md).
//!
//! openraft issues each log write after the previous one returned, so they
//! reach the database in its order. Reads (log entries, the vote, the log
//! state, the applied state) take an oakmap snapshot in the calling task,
//! not on the blocking pool: they wait for no writer and no fsync, only,
//! at worst, for pages to come in from the file.
//!
//! # Snapshots
//!
//! A snapshot is an oakmap database: the compacted copy of the state
//! machine's trees (`sm-data` and `sm-meta`, not the log) that
//! [`oakmap::ReadTxn::backup_trees_to_writer`] streams of one read
//! snapshot, held in memory (`Cursor<Vec<u8>>`, openraft 0.9's snapshot
//! data). The meta's last applied log id and membership come from the same
//! read snapshot, so they describe the data exactly while applies go on.
//!
//! The current snapshot is stored in `current.snapshot` (meta and data
//! under a checksummed header; written under a temporary name, fsynced,
//! renamed), so `get_current_snapshot` finds it after a restart. Installing
//! a received snapshot writes its bytes to a temporary directory, opens
//! them as a database (every page it reads is checked; a damaged snapshot
//! is an error), checks its last applied log id and membership against the
//! meta it came with, and replaces `sm-data` and `sm-meta` of the live
//! database with its contents in one durable transaction: the state machine
//! is the old one or the new one, never a mix. Then it becomes the current
//! snapshot.
//!
//! # Replicas
//!
//! A command over oakmap's limits (a key longer than the database's
//! `key_bytes_max`, a value over [`oakmap::VALUE_BYTES_MAX`]) is refused
//! with a [`Response::Error`] on every replica alike, provided all replicas
//! use one page size (the default unless [`open_with`] sets another for a
//! new directory).
//!
//! # The node
//!
//! The binary `oakmap-raft-node` (`src/bin/oakmap-raft-node/`) runs one
//! node of a cluster on these stores: openraft with a TCP network of its
//! own (length-prefixed frames, bincode through oakmap's codec, bounded to
//! 64 MiB) and a Redis-protocol client port. Writes go through
//! `Raft::client_write` and are answered once applied; reads on the
//! leader follow `Raft::ensure_linearizable`; a follower answers
//! `-MOVED <leader id> <host:port>`. `tests/cluster.rs` kills the leader
//! of a three-node cluster under load and checks that no acknowledged
//! write is lost; `bench.sh` compares its write throughput with one
//! `oakmap serve`.

// Every store method returns openraft's `StorageError` (224 bytes), as the
// traits' signatures say; the helpers behind them return it too, on paths
// where an error stops the node, so its size costs nothing that matters.
#![expect(
    clippy::result_large_err,
    reason = "openraft's StorageError is the error of every store method"
)]

mod command;
mod error;
mod layout;
mod log_store;
mod snapshot;
mod snapshot_file;
mod state_machine;
mod store;
mod types;

pub use layout::DATA_TREE;
pub use log_store::LogStore;
pub use snapshot::SnapshotBuilder;
pub use state_machine::StateMachineStore;
pub use store::{open, open_with};
pub use types::{Entry, NodeId, Request, Response, SetWhen, StorageError, TypeConfig};
