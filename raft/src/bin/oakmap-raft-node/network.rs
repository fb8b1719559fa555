//! The sending side of the raft network: openraft's
//! [`RaftNetworkFactory`] and [`RaftNetwork`] over TCP, in the frames of
//! [`crate::wire`].
//!
//! openraft makes one client per peer and purpose (a replication stream,
//! a snapshot transfer, a vote round). Each client keeps one connection,
//! dialed on first use and kept while it works. A connection is taken out
//! of the client for the length of a call and put back only when the
//! reply has been read, so a call that fails, or is dropped by openraft's
//! own timeout half-way, never leaves a reply in flight on a connection
//! that is used again.
//!
//! Errors are what openraft retries on:
//!
//! * a peer that cannot be dialed, or that answers it cannot serve the
//!   request: `Unreachable` (openraft backs off, then retries);
//! * a connection that fails after it was made: `NetworkError` (openraft
//!   retries at once, and the retry dials afresh);
//! * no reply within the RPC's time to live: `Timeout`;
//! * an append whose frame would exceed [`FRAME_BYTES_MAX`]:
//!   `PayloadTooLarge`, with how many entries would fit (openraft sends
//!   fewer).

use std::time::Duration;

use oakmap_raft::{Entry, NodeId, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode, EntryPayload, RPCTypes, RaftNetwork, RaftNetworkFactory};
use tokio::io::BufReader;
use tokio::net::TcpStream;

use crate::commands::request_bytes;
use crate::members::Member;
use crate::wire::{self, FRAME_BYTES_MAX, FrameError, Rpc, RpcReply, RpcRequest};

/// What one entry costs in a frame beside its keys and values (log id,
/// tags, lengths): a generous bound, as it only decides when to split.
const ENTRY_OVERHEAD_BYTES: usize = 256;

/// Makes a [`PeerClient`] for each peer openraft wants to reach.
pub struct NetworkFactory {
    /// This node's id, for the `Timeout` errors openraft wants.
    pub id: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            id: self.id,
            target,
            raft_addr: Member::of_node(node).map(|m| m.raft),
            conn: None,
        }
    }
}

/// The connection to one peer, as openraft's [`RaftNetwork`].
pub struct PeerClient {
    id: NodeId,
    target: NodeId,
    /// The peer's raft address, from the membership; an error text if the
    /// membership's address is not one this program wrote.
    raft_addr: Result<String, String>,
    /// The connection, while idle between calls.
    conn: Option<BufReader<TcpStream>>,
}

/// Why a call failed, before it is given the error type of its RPC.
enum CallError {
    Unreachable(AnyError),
    Network(AnyError),
    Timeout(Duration),
    /// The request does not fit a frame.
    TooLarge(FrameError),
    /// The peer refused a snapshot chunk out of order.
    SnapshotMismatch(openraft::error::SnapshotMismatch),
}

impl PeerClient {
    /// Sends `rpc` and waits for its reply, within `ttl`.
    async fn call(&mut self, rpc: Rpc, ttl: Duration) -> Result<RpcReply, CallError> {
        let request = RpcRequest {
            target: self.target,
            rpc,
        };
        let frame = wire::encode(&request).map_err(|e| match e {
            FrameError::TooLarge { .. } => CallError::TooLarge(e),
            e => CallError::Unreachable(AnyError::new(&e)),
        })?;
        match tokio::time::timeout(ttl, self.exchange(&frame)).await {
            Err(_) => Err(CallError::Timeout(ttl)),
            Ok(Err(e)) => Err(e),
            Ok(Ok(RpcReply::Failed(why))) => Err(CallError::Unreachable(AnyError::error(format!(
                "node {} could not serve the request: {why}",
                self.target
            )))),
            Ok(Ok(RpcReply::SnapshotMismatch(m))) => Err(CallError::SnapshotMismatch(m)),
            Ok(Ok(reply)) => Ok(reply),
        }
    }

    /// Sends one frame and reads the reply, on the idle connection or a
    /// new one. The connection is kept only if the exchange completed.
    async fn exchange(&mut self, frame: &[u8]) -> Result<RpcReply, CallError> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.dial().await?,
        };
        let network = |e: FrameError| CallError::Network(AnyError::new(&e));
        wire::write(conn.get_mut(), frame).await.map_err(network)?;
        let reply = wire::read::<RpcReply, _>(&mut conn)
            .await
            .map_err(network)?;
        self.conn = Some(conn);
        Ok(reply)
    }

    async fn dial(&self) -> Result<BufReader<TcpStream>, CallError> {
        let addr = self
            .raft_addr
            .as_ref()
            .map_err(|why| CallError::Unreachable(AnyError::error(why)))?;
        let stream = TcpStream::connect(addr).await.map_err(|e| {
            CallError::Unreachable(AnyError::new(&e).add_context(|| format!("dial {addr}")))
        })?;
        stream
            .set_nodelay(true)
            .map_err(|e| CallError::Unreachable(AnyError::new(&e)))?;
        Ok(BufReader::new(stream))
    }

    /// `e` as the error of an RPC of kind `action` (a snapshot mismatch
    /// is an answer to snapshot chunks only: `install_snapshot` takes it
    /// before this).
    fn rpc_error<E: std::error::Error>(
        &self,
        action: RPCTypes,
        e: CallError,
    ) -> RPCError<NodeId, BasicNode, E> {
        match e {
            CallError::Unreachable(e) => Unreachable::from(e).into(),
            CallError::TooLarge(e) => Unreachable::new(&e).into(),
            CallError::Network(e) => NetworkError::from(e).into(),
            CallError::Timeout(timeout) => RPCError::Timeout(Timeout {
                action,
                id: self.id,
                target: self.target,
                timeout,
            }),
            CallError::SnapshotMismatch(m) => NetworkError::from(AnyError::error(format!(
                "node {} answered a snapshot mismatch to a {action:?} RPC: {m}",
                self.target
            )))
            .into(),
        }
    }

    fn unexpected<E: std::error::Error>(&self, reply: &RpcReply) -> RPCError<NodeId, BasicNode, E> {
        let why = format!(
            "node {} answered with the wrong reply: {reply:?}",
            self.target
        );
        NetworkError::from(AnyError::error(why)).into()
    }
}

/// The error type openraft gives the append and vote RPCs.
type PlainError = RaftError<NodeId>;
/// The error type openraft gives the snapshot RPC.
type SnapshotError = RaftError<NodeId, InstallSnapshotError>;

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, PlainError>> {
        // One entry is always sent: openraft takes a refusal of a single
        // entry for an unreachable peer, and a client write is far under
        // a frame (`WRITE_BYTES_MAX`).
        let entries = rpc.entries.len();
        let fitting = entries_fitting(&rpc.entries).max(1);
        if fitting < entries {
            return Err(PayloadTooLarge::new_entries_hint(fitting as u64).into());
        }
        match self.call(Rpc::AppendEntries(rpc), option.hard_ttl()).await {
            Ok(RpcReply::AppendEntries(reply)) => Ok(reply),
            Ok(other) => Err(self.unexpected(&other)),
            // The estimate let through a batch that encodes too large.
            Err(CallError::TooLarge(_)) if entries > 1 => {
                Err(PayloadTooLarge::new_entries_hint((entries / 2) as u64).into())
            }
            Err(e) => Err(self.rpc_error(RPCTypes::AppendEntries, e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, SnapshotError>> {
        match self
            .call(Rpc::InstallSnapshot(rpc), option.hard_ttl())
            .await
        {
            Ok(RpcReply::InstallSnapshot(reply)) => Ok(reply),
            Ok(other) => Err(self.unexpected(&other)),
            Err(CallError::SnapshotMismatch(m)) => Err(RPCError::RemoteError(RemoteError::new(
                self.target,
                RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m)),
            ))),
            Err(e) => Err(self.rpc_error(RPCTypes::InstallSnapshot, e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, PlainError>> {
        match self.call(Rpc::Vote(rpc), option.hard_ttl()).await {
            Ok(RpcReply::Vote(reply)) => Ok(reply),
            Ok(other) => Err(self.unexpected(&other)),
            Err(e) => Err(self.rpc_error(RPCTypes::Vote, e)),
        }
    }
}

/// How many of `entries`, from the first, fit one frame by a generous
/// estimate of their encoded size.
fn entries_fitting(entries: &[Entry]) -> usize {
    let mut bytes = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        bytes = bytes.saturating_add(entry_bytes(entry));
        if bytes > FRAME_BYTES_MAX {
            return i;
        }
    }
    entries.len()
}

/// A bound on the encoded size of `entry`.
fn entry_bytes(entry: &Entry) -> usize {
    let payload = match &entry.payload {
        EntryPayload::Blank => 0,
        EntryPayload::Normal(request) => request_bytes(request),
        EntryPayload::Membership(m) => m
            .nodes()
            .map(|(_, node)| node.addr.len() + 16)
            .sum::<usize>(),
    };
    // Keys and values are `Vec<u8>` through serde: a varint length, then
    // one byte per byte (bincode writes a `u8` as itself).
    ENTRY_OVERHEAD_BYTES.saturating_add(payload)
}
