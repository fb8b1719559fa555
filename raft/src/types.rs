//! The types a node of this crate runs with: the openraft type
//! configuration, and the state machine's commands and replies.
//!
//! The commands are the writes `oakmap serve` takes (its Redis database 0),
//! in the form a log entry carries them: each is applied to the state
//! machine's data tree exactly as the server applies it, so a replica's
//! keyspace is what one server's would be after the same writes.

use std::io::Cursor;

use openraft::BasicNode;
use serde::{Deserialize, Serialize};

/// A node's id in the cluster.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The openraft type configuration of an oakmap node: node ids are
    /// `u64`, a node's address is a [`BasicNode`], log entries carry a
    /// [`Request`] and applying one gives a [`Response`], and a snapshot
    /// travels as the bytes of an oakmap database in memory.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A log entry of this configuration.
pub type Entry = openraft::Entry<TypeConfig>;

/// The storage error of this configuration: what every store method returns.
pub type StorageError = openraft::StorageError<NodeId>;

/// A write to the key-value state machine: one of the writes `oakmap
/// serve` takes, named after its Redis command.
///
/// A command is refused as a whole ([`Response::Error`], nothing written)
/// for a key longer than the database's `key_bytes_max` or a value longer
/// than [`oakmap::VALUE_BYTES_MAX`]. Both limits are the same on every
/// replica as long as every replica's database has the same page size (the
/// default, 4 KiB, unless [`crate::open_with`] is given another for a new
/// directory): a replica with another page size could refuse what others
/// accept, and diverge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// `SET key value`: replies [`Response::Ok`].
    Set {
        /// The key.
        key: Vec<u8>,
        /// Its new value.
        value: Vec<u8>,
    },
    /// `SET key value` with `NX` or `XX` and/or `GET` (Redis 7's forms):
    /// sets only an absent key (`when` [`SetWhen::Absent`]), only a present
    /// one ([`SetWhen::Present`]), or always (`None`). Replies
    /// [`Response::Value`] with the value before when `get`, else
    /// [`Response::Ok`] if it set and a nil [`Response::Value`] if not.
    SetWith {
        /// The key.
        key: Vec<u8>,
        /// Its new value, if the condition holds.
        value: Vec<u8>,
        /// The condition on the key, if any.
        when: Option<SetWhen>,
        /// Whether the reply is the value before.
        get: bool,
    },
    /// `SETNX key value`: sets only an absent key; replies
    /// [`Response::Integer`] 1 (set) or 0 (present, unchanged).
    SetNx {
        /// The key.
        key: Vec<u8>,
        /// The value, if the key is absent.
        value: Vec<u8>,
    },
    /// `GETSET key value`: sets and replies [`Response::Value`] with the
    /// value before.
    GetSet {
        /// The key.
        key: Vec<u8>,
        /// Its new value.
        value: Vec<u8>,
    },
    /// `GETDEL key`: removes and replies [`Response::Value`] with the value
    /// removed.
    GetDel {
        /// The key.
        key: Vec<u8>,
    },
    /// `MSET k1 v1 k2 v2 ...`: sets every pair, in order; replies
    /// [`Response::Ok`].
    MSet {
        /// The pairs, applied in order (a key given twice keeps its last value).
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// `MSETNX k1 v1 k2 v2 ...`: sets every pair if no key is present, else
    /// none; replies [`Response::Integer`] 1 (set) or 0.
    MSetNx {
        /// The pairs, applied in order if every key is absent.
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// `DEL k1 k2 ...`: removes the keys; replies [`Response::Integer`]
    /// with how many were present.
    Del {
        /// The keys.
        keys: Vec<Vec<u8>>,
    },
    /// `INCRBY key by` (and `INCR`, `DECR`, `DECRBY`): adds `by` to the
    /// decimal integer stored under `key` (0 if absent) and replies
    /// [`Response::Integer`] with the sum; an error if the value is not an
    /// integer or the sum overflows an `i64`.
    IncrBy {
        /// The key.
        key: Vec<u8>,
        /// What to add (negative to subtract).
        by: i64,
    },
    /// `APPEND key tail`: appends to the value (an absent key is empty);
    /// replies [`Response::Integer`] with the new length.
    Append {
        /// The key.
        key: Vec<u8>,
        /// The bytes to append.
        tail: Vec<u8>,
    },
    /// `FLUSHDB`: removes every key; replies [`Response::Ok`].
    FlushDb,
}

/// The condition of a [`Request::SetWith`] on its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetWhen {
    /// `NX`: only if the key is absent.
    Absent,
    /// `XX`: only if the key is present.
    Present,
}

/// What applying a log entry gave, as the Redis reply to its command would
/// say it. Entries that carry no command (a leader's blank entry, a
/// membership change) give [`Response::Ok`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Done (`+OK`).
    Ok,
    /// A value, or `None` for none (a bulk string, or nil).
    Value(Option<Vec<u8>>),
    /// A count, a flag or a number (`:n`).
    Integer(i64),
    /// The command was refused for its arguments or the value it found, and
    /// changed nothing (`-ERR ...`). Every replica refuses it alike.
    Error(String),
}
