//! The receiving side of the raft network: the listener peers send RPCs
//! to, one task per connection, each request handed to this node's
//! [`Raft`] and its reply sent back in a frame of [`crate::wire`].
//!
//! A connection that sends a frame too large, or one that does not
//! decode, is closed (the sender redials); nothing else is affected.

use oakmap_raft::{NodeId, TypeConfig};
use openraft::Raft;
use openraft::error::{InstallSnapshotError, RaftError};
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::wire::{self, FrameError, Rpc, RpcReply, RpcRequest};

/// Serves RPCs on `listener` until `stop` turns true; then drops every
/// connection.
pub async fn serve(
    listener: TcpListener,
    raft: Raft<TypeConfig>,
    id: NodeId,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopping| *stopping) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let raft = raft.clone();
                connections.spawn(async move {
                    if let Err(e) = connection(stream, &raft, id).await {
                        eprintln!("node {id}: raft connection from {peer} dropped: {e}");
                    }
                });
            }
        }
    }
    connections.abort_all();
}

/// Answers the requests of one connection, in order, until it closes.
async fn connection(
    stream: TcpStream,
    raft: &Raft<TypeConfig>,
    id: NodeId,
) -> Result<(), FrameError> {
    stream.set_nodelay(true).map_err(FrameError::Io)?;
    let mut conn = BufReader::new(stream);
    loop {
        let request = match wire::read::<RpcRequest, _>(&mut conn).await {
            Ok(request) => request,
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => return Err(e),
        };
        let reply = if request.target == id {
            dispatch(raft, request.rpc).await
        } else {
            RpcReply::Failed(format!(
                "this is node {id}, not node {}: check the addresses in the membership",
                request.target
            ))
        };
        wire::write(conn.get_mut(), &wire::encode(&reply)?).await?;
    }
}

/// Hands `rpc` to Raft and turns its answer into a reply.
async fn dispatch(raft: &Raft<TypeConfig>, rpc: Rpc) -> RpcReply {
    match rpc {
        Rpc::AppendEntries(rpc) => match raft.append_entries(rpc).await {
            Ok(response) => RpcReply::AppendEntries(response),
            Err(e) => RpcReply::Failed(e.to_string()),
        },
        Rpc::Vote(rpc) => match raft.vote(rpc).await {
            Ok(response) => RpcReply::Vote(response),
            Err(e) => RpcReply::Failed(e.to_string()),
        },
        Rpc::InstallSnapshot(rpc) => match raft.install_snapshot(rpc).await {
            Ok(response) => RpcReply::InstallSnapshot(response),
            Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => {
                RpcReply::SnapshotMismatch(m)
            }
            Err(e) => RpcReply::Failed(e.to_string()),
        },
    }
}
