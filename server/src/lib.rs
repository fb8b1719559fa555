//! oakmap-server: a Redis-protocol server that keeps its keys in oakmap.
//!
//! This crate will hold everything `oakmap serve` runs, as a library so that
//! a program can embed the same server: the RESP2 protocol, the command
//! table (Redis database `n` is oakmap tree `db{n}`), and a Tokio server loop
//! whose writes from all connections go through one committing writer, so a
//! reply to a write means the write is durable. `redis-cli`,
//! `redis-benchmark` and Redis client libraries drive it unchanged.
//!
//! Only the protocol exists so far: [`resp`], a pure codec that turns the
//! bytes a connection received into commands and replies into bytes, with
//! every length from the network checked against [`resp::Limits`] before
//! anything is allocated for it.

pub mod resp;
