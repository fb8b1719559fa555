//! The client side of a node: the RESP2 listener, one task per
//! connection, each command answered in request order.
//!
//! * A **write** goes to `Raft::client_write_ff` at once (a pipeline of
//!   writes joins the log together) and is answered when openraft reports
//!   it applied: committed on a majority, durable there, and applied here.
//!   A node that is not the leader answers `-MOVED <id> <host:port>` (or
//!   `-TRYAGAIN` while no leader is known) and writes nothing.
//! * A **read** (`GET`, `MGET`, `EXISTS`) waits for the writes before it
//!   on its connection, then for `Raft::ensure_linearizable` (the leader
//!   confirms with a majority that it still leads, and has applied what
//!   was committed when the read arrived), then reads the state machine.
//!   One confirmation serves every read that arrived in the same batch of
//!   input. A follower redirects reads as it does writes.
//! * `LOCALGET` reads this node's state machine as it is, on any node.
//!
//! The decoder from `oakmap_server::resp` does the framing with its
//! limits; a protocol error is answered `-ERR Protocol error: ...` and the
//! connection closed, as Redis does.

use std::sync::Arc;
use std::time::Duration;

use oakmap_raft::{DATA_TREE, Request, Response, StateMachineStore, TypeConfig};
use oakmap_server::resp::{Limits, Reply, RequestDecoder};
use openraft::Raft;
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::raft::ClientWriteResult;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::accept_until_stopped;
use crate::commands::{self, Command, Query, WRITE_BYTES_MAX, error};
use crate::status;

/// Bytes asked of the socket per read.
const READ_BYTES: usize = 16 << 10;

/// The most undecoded input a connection may hold: a little over the
/// largest write, so that one fits and a flood does not.
const QUERY_BUFFER_BYTES_MAX: usize = 2 * WRITE_BYTES_MAX;

/// Replies held before they are sent, in a long pipeline.
const SLOTS_FLUSH: usize = 1024;

/// Output capacity a connection keeps between batches.
const OUT_BYTES_KEEP: usize = 64 << 10;

/// How long a write may wait for its commit before the client is told
/// its outcome is unknown (a leader that lost its majority waits for it
/// without end).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a read may wait to confirm leadership.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What every connection of a node shares.
pub struct Node {
    /// This node's Raft.
    pub raft: Raft<TypeConfig>,
    /// A handle to its state machine, to read.
    pub sm: StateMachineStore,
}

/// A reply in request order: known now, or awaited from Raft until a
/// deadline.
enum Slot {
    Ready(Reply),
    Write(oneshot::Receiver<ClientWriteResult<TypeConfig>>, Instant),
}

/// Serves clients on `listener` until `stop` turns true; then drops every
/// connection (a write already handed to Raft goes on without its reply).
pub async fn serve(listener: TcpListener, node: Arc<Node>, stop: watch::Receiver<bool>) {
    accept_until_stopped(listener, stop, |stream, _| connection(stream, node.clone())).await;
}

/// One client connection: decode what a read brought, answer each
/// command in order, send, read again.
async fn connection(stream: TcpStream, node: Arc<Node>) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let limits = Limits {
        bulk_bytes_max: WRITE_BYTES_MAX,
        ..Limits::default()
    };
    let mut decoder = RequestDecoder::new(limits);
    let mut buf = vec![0u8; READ_BYTES];
    let mut replies = Replies {
        slots: Vec::new(),
        out: Vec::new(),
    };
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.feed(&buf[..n]);
        let Ok(after) = answer_batch(&node, &mut decoder, &mut replies, &mut wr).await else {
            return; // the client is gone
        };
        if replies.flush(&node, &mut wr).await.is_err() {
            return;
        }
        if after == After::Close {
            let _ = wr.shutdown().await;
            return;
        }
    }
}

/// What a connection does once a batch is answered.
#[derive(PartialEq, Eq)]
enum After {
    Continue,
    Close,
}

/// The replies a connection owes, in request order, and their bytes.
struct Replies {
    slots: Vec<Slot>,
    out: Vec<u8>,
}

impl Replies {
    /// Waits for every awaited reply and appends every reply to `out`, in
    /// order.
    async fn resolve(&mut self, node: &Node) {
        for slot in self.slots.drain(..) {
            let reply = match slot {
                Slot::Ready(reply) => reply,
                Slot::Write(rx, deadline) => {
                    written(node, tokio::time::timeout_at(deadline, rx).await)
                }
            };
            reply.encode(&mut self.out);
        }
    }

    /// Resolves every reply and sends them all; an error if the client is
    /// gone.
    async fn flush(&mut self, node: &Node, wr: &mut OwnedWriteHalf) -> std::io::Result<()> {
        self.resolve(node).await;
        let sent = wr.write_all(&self.out).await;
        self.out.clear();
        if self.out.capacity() > OUT_BYTES_KEEP {
            self.out = Vec::new();
        }
        sent
    }

    fn awaits_writes(&self) -> bool {
        self.slots.iter().any(|s| matches!(s, Slot::Write(..)))
    }
}

/// Answers every complete command `decoder` holds into `replies`, sending
/// them whenever many are held; an error if the client is gone.
async fn answer_batch(
    node: &Node,
    decoder: &mut RequestDecoder,
    replies: &mut Replies,
    wr: &mut OwnedWriteHalf,
) -> std::io::Result<After> {
    if decoder.buffered_bytes() > QUERY_BUFFER_BYTES_MAX {
        let reply = error("ERR Protocol error: query buffer over the limit");
        replies.slots.push(Slot::Ready(reply));
        return Ok(After::Close);
    }
    // One leadership confirmation per batch of input serves its reads.
    let mut confirmed = false;
    loop {
        let command = match decoder.next_command() {
            Ok(Some(args)) => commands::parse(args),
            Ok(None) => return Ok(After::Continue),
            Err(e) => {
                replies.slots.push(Slot::Ready(Reply::from(e)));
                return Ok(After::Close);
            }
        };
        let reply = match command {
            Err(reply) => Slot::Ready(reply),
            Ok(Command::Write(request)) => write(node, request).await,
            Ok(Command::Quit) => {
                replies.slots.push(Slot::Ready(Reply::Simple("OK".into())));
                return Ok(After::Close);
            }
            Ok(Command::Query(query)) => {
                // A read sees the writes sent before it on its connection.
                if replies.awaits_writes() {
                    replies.resolve(node).await;
                }
                Slot::Ready(answer(node, query, &mut confirmed).await)
            }
        };
        replies.slots.push(reply);
        if replies.slots.len() >= SLOTS_FLUSH {
            replies.flush(node, wr).await?;
        }
    }
}

/// Hands a write to Raft; its reply comes when it is applied.
async fn write(node: &Node, request: Request) -> Slot {
    match node.raft.client_write_ff(request).await {
        Ok(rx) => Slot::Write(rx, Instant::now() + WRITE_TIMEOUT),
        Err(fatal) => Slot::Ready(error(format!("ERR raft has stopped: {fatal}"))),
    }
}

/// The reply to a write, from what Raft said of it.
fn written(
    node: &Node,
    result: Result<
        Result<ClientWriteResult<TypeConfig>, oneshot::error::RecvError>,
        tokio::time::error::Elapsed,
    >,
) -> Reply {
    match result {
        Ok(Ok(Ok(response))) => response_reply(response.data),
        Ok(Ok(Err(ClientWriteError::ForwardToLeader(f)))) => {
            status::redirect(&node.raft, f.leader_id)
        }
        Ok(Ok(Err(e))) => error(format!("ERR {e}")),
        Ok(Err(_)) => error(
            "ERR raft stopped before the write was applied: it may or may not have been committed",
        ),
        Err(_) => error(format!(
            "TIMEOUT the write was not applied within {} s (no majority?): \
             it may or may not commit later",
            WRITE_TIMEOUT.as_secs()
        )),
    }
}

/// The RESP reply a state machine response stands for.
fn response_reply(response: Response) -> Reply {
    match response {
        Response::Ok => Reply::Simple("OK".into()),
        Response::Value(Some(value)) => Reply::Bulk(value),
        Response::Value(None) => Reply::NilBulk,
        Response::Integer(n) => Reply::Integer(n),
        Response::Error(text) => error(text),
    }
}

/// Answers a command that is not a write.
async fn answer(node: &Node, query: Query, confirmed: &mut bool) -> Reply {
    match query {
        Query::Get(key) => read(node, confirmed, |sm| get(sm, &key)).await,
        Query::MGet(keys) => {
            read(node, confirmed, |sm| match get_many(sm, &keys) {
                Ok(values) => Reply::Array(
                    values
                        .into_iter()
                        .map(|v| v.map_or(Reply::NilBulk, Reply::Bulk))
                        .collect(),
                ),
                Err(e) => read_failed(&e),
            })
            .await
        }
        Query::Exists(keys) => {
            read(node, confirmed, |sm| match get_many(sm, &keys) {
                Ok(values) => Reply::Integer(values.iter().filter(|v| v.is_some()).count() as i64),
                Err(e) => read_failed(&e),
            })
            .await
        }
        Query::LocalGet(key) => get(&node.sm, &key),
        Query::Raft => status::info(&node.raft, &node.sm),
        Query::Ping(None) => Reply::Simple("PONG".into()),
        Query::Ping(Some(message)) | Query::Echo(message) => Reply::Bulk(message),
        Query::ConfigGet(params) => commands::config_get(&params),
        Query::Ok => Reply::Simple("OK".into()),
        Query::Commands => Reply::Array(Vec::new()),
    }
}

/// Runs `f` on the state machine once this node has confirmed it leads
/// (once per batch: `confirmed`); otherwise the redirect.
async fn read(
    node: &Node,
    confirmed: &mut bool,
    f: impl FnOnce(&StateMachineStore) -> Reply,
) -> Reply {
    if !*confirmed {
        if let Err(reply) = linearizable(node).await {
            return reply;
        }
        *confirmed = true;
    }
    f(&node.sm)
}

/// Waits until a read of the state machine is linearizable, or says why it
/// cannot be.
async fn linearizable(node: &Node) -> Result<(), Reply> {
    match tokio::time::timeout(READ_TIMEOUT, node.raft.ensure_linearizable()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
            Err(status::redirect(&node.raft, f.leader_id))
        }
        Ok(Err(RaftError::APIError(e))) => Err(error(format!("TRYAGAIN {e}"))),
        Ok(Err(RaftError::Fatal(e))) => Err(error(format!("ERR raft has stopped: {e}"))),
        Err(_) => Err(error(format!(
            "TRYAGAIN leadership not confirmed within {} s; retry",
            READ_TIMEOUT.as_secs()
        ))),
    }
}

/// The value of `key` in `sm`, as a reply (an error reply if the read
/// failed).
fn get(sm: &StateMachineStore, key: &[u8]) -> Reply {
    match sm.get(key) {
        Ok(Some(value)) => Reply::Bulk(value),
        Ok(None) => Reply::NilBulk,
        Err(e) => read_failed(&e),
    }
}

/// The values of `keys` in `sm`, all read from one snapshot (as Redis's
/// `MGET` is atomic).
fn get_many(sm: &StateMachineStore, keys: &[Vec<u8>]) -> oakmap::Result<Vec<Option<Vec<u8>>>> {
    let rx = sm.db().begin_read();
    let Some(tree) = rx.tree(DATA_TREE)? else {
        return Ok(vec![None; keys.len()]);
    };
    keys.iter()
        .map(|key| Ok(tree.get(key)?.map(<[u8]>::to_vec)))
        .collect()
}

fn read_failed(e: &oakmap::Error) -> Reply {
    error(format!("ERR the read failed: {e}"))
}
