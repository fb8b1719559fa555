//! The raft RPC wire format: length-prefixed frames over TCP, each holding
//! one request or one reply, encoded with bincode 2 through oakmap's serde
//! codec ([`oakmap::typed::Serde`], the codec the stores use).
//!
//! ```text
//! frame         = body_bytes: u32 big-endian | body
//! request body  = RpcRequest { target, rpc }
//! reply body    = RpcReply
//! ```
//!
//! A connection carries one request at a time: the client sends a request
//! frame and reads the reply frame before it sends the next.
//!
//! Replies carry no openraft error type: those nest `AnyError`s with no
//! bound on the depth, so damaged bytes could nest deep enough to exhaust
//! the stack while decoding. A node that cannot serve an RPC (its Raft has
//! stopped, the request was for another node) replies with a text,
//! [`RpcReply::Failed`]; the one error whose content openraft acts on, a
//! snapshot chunk out of order, has a variant of its own.
//!
//! # What is bounded
//!
//! Bytes from the network are untrusted; whatever a peer sends, these
//! bounds hold:
//!
//! * a length over [`FRAME_BYTES_MAX`] is refused before any of the body
//!   is read, and the body buffer grows only as bytes arrive, never to a
//!   size the peer only claimed;
//! * once the first byte of a frame has arrived, the rest of it must
//!   arrive within [`FRAME_READ_TIMEOUT_MS`] (the time between frames is
//!   not limited: a replication stream keeps its connection while idle);
//! * a body that does not decode, or leaves bytes over, is an error, and
//!   the length prefixes inside a body claim at most oakmap's
//!   [`DECODE_BYTES_MAX`](oakmap::typed::DECODE_BYTES_MAX) in all;
//! * a snapshot chunk that would end past
//!   [`crate::rpc_server::SNAPSHOT_BYTES_MAX`] is refused before openraft
//!   sees it (openraft writes a chunk at the offset the chunk names, so the
//!   offset alone would set how far the received snapshot grows).
//!
//! A frame refused by the first three ends its connection (the sender
//! redials); a refused chunk is answered [`RpcReply::Failed`].
//!
//! # The raft port belongs on a trusted network
//!
//! The bounds above keep a damaged frame from taking the process down and
//! put a ceiling on what one request can cost; they do not make a hostile
//! peer harmless. The raft port must be reachable only by the cluster's
//! nodes (a private network, a firewall, a VPN), because:
//!
//! * nothing authenticates a peer: no TLS, no shared secret. Anyone who
//!   can connect can send any RPC as any node: a vote request with a huge
//!   term makes every node it reaches give up its leader and adopt that
//!   term (terms never go back down), and a forged append or snapshot
//!   from a "leader" rewrites the log and the state machine;
//! * connections are not capped: each costs a task, a socket and the
//!   bytes of the frame it is sending, and only the process's file limit
//!   stops a peer that opens thousands;
//! * within the bounds a peer still costs memory: a body of up to
//!   [`FRAME_BYTES_MAX`] per connection, a received snapshot of up to
//!   [`crate::rpc_server::SNAPSHOT_BYTES_MAX`] (zero-filled up to the
//!   offset of its chunk), and, in one decode, up to oakmap's decode
//!   bound (1 GiB) of virtual memory reserved for one string or vector
//!   field whose length prefix claims it.

use std::fmt;
use std::time::Duration;

use oakmap::typed::{CodecError, Serde, Value};
use oakmap_raft::{NodeId, TypeConfig};
use openraft::error::SnapshotMismatch;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame body either side sends or accepts, in bytes. A
/// client write is at most [`crate::commands::WRITE_BYTES_MAX`] and a
/// snapshot chunk at most the configured chunk size, both checked well
/// under this; an append that would exceed it is split (openraft's
/// `PayloadTooLarge`).
pub const FRAME_BYTES_MAX: usize = 64 << 20;

/// The longest the rest of a frame (header and body) may take to arrive
/// once its first byte has, in milliseconds; a connection that stalls
/// inside a frame is closed. The senders give up far sooner (an append
/// after one heartbeat, a snapshot chunk after main.rs's
/// `INSTALL_SNAPSHOT_TIMEOUT_MS`, 10 s), so this cuts no frame that a live
/// sender still waits on; a full [`FRAME_BYTES_MAX`] body within it needs
/// about 2 MiB/s.
pub const FRAME_READ_TIMEOUT_MS: u64 = 30_000;

/// The length prefix of a frame.
const HEADER_BYTES: usize = 4;

const _: () = assert!(
    FRAME_BYTES_MAX <= u32::MAX as usize,
    "a body length fits the u32 header"
);

/// A request: the RPC, and the node it is for (a node refuses a request
/// meant for another, so a peer listed under a wrong address is found
/// out rather than voting as someone else).
#[derive(Debug, Serialize, Deserialize)]
pub struct RpcRequest {
    /// The id of the node the sender meant to reach.
    pub target: NodeId,
    /// The RPC.
    pub rpc: Rpc,
}

/// One of openraft's three RPCs.
#[derive(Debug, Serialize, Deserialize)]
pub enum Rpc {
    /// Replicate entries, or a heartbeat.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Ask for a vote.
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
}

/// The reply to an [`RpcRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum RpcReply {
    /// The answer to [`Rpc::AppendEntries`].
    AppendEntries(AppendEntriesResponse<NodeId>),
    /// The answer to [`Rpc::Vote`].
    Vote(VoteResponse<NodeId>),
    /// The answer to [`Rpc::InstallSnapshot`].
    InstallSnapshot(InstallSnapshotResponse<NodeId>),
    /// A snapshot chunk that does not continue the snapshot being
    /// received: the sender starts that snapshot again from offset 0.
    SnapshotMismatch(SnapshotMismatch),
    /// The node could not serve the request; the text says why.
    Failed(String),
}

/// Why a frame could not be read or written.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    Closed,
    /// The socket failed, closed inside a frame, or stalled inside one
    /// (`TimedOut`).
    Io(std::io::Error),
    /// A body over [`FRAME_BYTES_MAX`] (as its header claims, or as
    /// encoded to be sent).
    TooLarge {
        /// Its length.
        body_bytes: u64,
    },
    /// A body that does not decode as the message expected.
    Decode(CodecError),
    /// A message that does not encode (a bug).
    Encode(CodecError),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => f.write_str("connection closed"),
            FrameError::Io(e) => write!(f, "i/o: {e}"),
            FrameError::TooLarge { body_bytes } => write!(
                f,
                "a frame of {body_bytes} bytes, over the limit of {FRAME_BYTES_MAX}"
            ),
            FrameError::Decode(e) => write!(f, "a frame that does not decode: {e}"),
            FrameError::Encode(e) => write!(f, "a message that does not encode: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The frame of `message`, header included, ready to send.
pub fn encode<T: Serialize + DeserializeOwned>(message: &T) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0; HEADER_BYTES];
    Serde::<T>::encode_value(message, &mut frame).map_err(FrameError::Encode)?;
    let body_bytes = frame.len() - HEADER_BYTES;
    let too_large = FrameError::TooLarge {
        body_bytes: body_bytes as u64,
    };
    if body_bytes > FRAME_BYTES_MAX {
        return Err(too_large);
    }
    let header = u32::try_from(body_bytes).map_err(|_| too_large)?;
    frame[..HEADER_BYTES].copy_from_slice(&header.to_be_bytes());
    Ok(frame)
}

/// Sends a frame made by [`encode`].
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> Result<(), FrameError> {
    w.write_all(frame).await.map_err(FrameError::Io)?;
    w.flush().await.map_err(FrameError::Io)
}

/// Reads one frame and decodes its body as a `T`. A connection closed
/// before the first byte of the frame is [`FrameError::Closed`]; one
/// where the rest of the frame does not arrive within
/// [`FRAME_READ_TIMEOUT_MS`] of its first byte, an i/o error
/// (`TimedOut`).
pub async fn read<T, R>(r: &mut R) -> Result<T, FrameError>
where
    T: Serialize + DeserializeOwned,
    R: AsyncRead + Unpin,
{
    read_within(r, Duration::from_millis(FRAME_READ_TIMEOUT_MS)).await
}

/// [`read`], with `limit` for the rest of the frame (the tests use a
/// short one).
async fn read_within<T, R>(r: &mut R, limit: Duration) -> Result<T, FrameError>
where
    T: Serialize + DeserializeOwned,
    R: AsyncRead + Unpin,
{
    let mut header = [0u8; HEADER_BYTES];
    // Not under the time limit: a connection waits here, idle, between
    // frames for as long as its sender keeps it.
    let first = r.read(&mut header).await.map_err(FrameError::Io)?;
    if first == 0 {
        return Err(FrameError::Closed);
    }
    let body = tokio::time::timeout(limit, read_rest(r, header, first))
        .await
        .map_err(|_| {
            FrameError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the rest of a frame did not arrive within {} ms",
                    limit.as_millis()
                ),
            ))
        })??;
    Serde::<T>::decode_value(&body).map_err(FrameError::Decode)
}

/// The body of a frame whose first `first` header bytes are in `header`.
async fn read_rest<R: AsyncRead + Unpin>(
    r: &mut R,
    mut header: [u8; HEADER_BYTES],
    first: usize,
) -> Result<Vec<u8>, FrameError> {
    r.read_exact(&mut header[first..])
        .await
        .map_err(FrameError::Io)?;
    let body_bytes = u32::from_be_bytes(header);
    if body_bytes as usize > FRAME_BYTES_MAX {
        return Err(FrameError::TooLarge {
            body_bytes: u64::from(body_bytes),
        });
    }
    // Grown as bytes arrive (`read_to_end` on a `take`), not sized from
    // the header: a peer that claims 64 MiB and sends 10 bytes costs 10.
    let mut body = Vec::new();
    r.take(u64::from(body_bytes))
        .read_to_end(&mut body)
        .await
        .map_err(FrameError::Io)?;
    if body.len() != body_bytes as usize {
        return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, LogId, Vote};

    use super::*;

    fn vote_request() -> RpcRequest {
        RpcRequest {
            target: 2,
            rpc: Rpc::Vote(VoteRequest::new(
                Vote::new(3, 1),
                Some(LogId::new(CommittedLeaderId::new(2, 1), 17)),
            )),
        }
    }

    async fn read_back<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, FrameError> {
        let mut r = bytes;
        read::<T, _>(&mut r).await
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    }

    #[test]
    fn a_frame_round_trips_and_split_reads_do_not_matter() {
        runtime().block_on(async {
            let frame = encode(&vote_request()).expect("encodes");
            let got: RpcRequest = read_back(&frame).await.expect("decodes");
            assert_eq!(format!("{got:?}"), format!("{:?}", vote_request()));
            // Through a pipe that hands over one byte per read.
            let (mut tx, mut rx) = tokio::io::duplex(1);
            let sent = frame.clone();
            let writer = tokio::spawn(async move { write(&mut tx, &sent).await });
            let got: RpcRequest = read(&mut rx).await.expect("decodes");
            assert_eq!(got.target, 2);
            writer.await.expect("joins").expect("writes");
        });
    }

    #[test]
    fn damaged_frames_are_errors_never_panics() {
        runtime().block_on(async {
            let frame = encode(&vote_request()).expect("encodes");
            assert!(matches!(
                read_back::<RpcRequest>(&[]).await,
                Err(FrameError::Closed)
            ));
            // Cut anywhere after the first byte: an i/o error.
            for cut in 1..frame.len() {
                assert!(
                    matches!(
                        read_back::<RpcRequest>(&frame[..cut]).await,
                        Err(FrameError::Io(_))
                    ),
                    "cut at {cut}"
                );
            }
            // A length over the limit is refused from the header alone.
            let huge = u32::try_from(FRAME_BYTES_MAX + 1).expect("fits");
            let mut claimed = huge.to_be_bytes().to_vec();
            claimed.extend_from_slice(b"abc");
            assert!(matches!(
                read_back::<RpcRequest>(&claimed).await,
                Err(FrameError::TooLarge { .. })
            ));
            // A byte more than the body decodes to, or garbage.
            let mut longer = frame.clone();
            longer.push(0);
            let body_bytes = u32::try_from(longer.len() - HEADER_BYTES).expect("fits");
            longer[..HEADER_BYTES].copy_from_slice(&body_bytes.to_be_bytes());
            assert!(matches!(
                read_back::<RpcRequest>(&longer).await,
                Err(FrameError::Decode(_))
            ));
            let mut garbage = 8u32.to_be_bytes().to_vec();
            garbage.extend_from_slice(&[0xff; 8]);
            assert!(matches!(
                read_back::<RpcRequest>(&garbage).await,
                Err(FrameError::Decode(_))
            ));
            // Every flipped byte of the body: an error or some request,
            // never a panic.
            for at in HEADER_BYTES..frame.len() {
                let mut bad = frame.clone();
                bad[at] ^= 0x5a;
                let _ = read_back::<RpcRequest>(&bad).await;
            }
        });
    }

    #[test]
    fn a_frame_that_stalls_is_cut_but_a_connection_may_idle_between_frames() {
        runtime().block_on(async {
            let limit = Duration::from_millis(50);
            let frame = encode(&vote_request()).expect("encodes");
            // Idle for four limits before the first byte: still read.
            let (mut tx, mut rx) = tokio::io::duplex(64);
            let sent = frame.clone();
            let writer = tokio::spawn(async move {
                tokio::time::sleep(limit * 4).await;
                write(&mut tx, &sent).await
            });
            let got: RpcRequest = read_within(&mut rx, limit).await.expect("decodes");
            assert_eq!(got.target, 2);
            writer.await.expect("joins").expect("writes");
            // The header and a byte of the body, then nothing, the
            // connection held open: cut after the limit.
            let (mut tx, mut rx) = tokio::io::duplex(64);
            write(&mut tx, &frame[..HEADER_BYTES + 1])
                .await
                .expect("writes");
            let stalled = read_within::<RpcRequest, _>(&mut rx, limit).await;
            assert!(
                matches!(&stalled, Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut),
                "{stalled:?}"
            );
            drop(tx);
        });
    }

    #[test]
    fn a_claimed_huge_vector_allocates_only_what_arrived() {
        runtime().block_on(async {
            // A reply whose failure text claims a length of 2^40 bytes,
            // inside a small frame: refused, without a 1 TiB allocation.
            let mut body = Vec::new();
            Serde::<RpcReply>::encode_value(&RpcReply::Failed("x".into()), &mut body)
                .expect("encodes");
            // Variant tag, then the varint length: replace it by 2^40.
            let mut forged = vec![body[0], 253];
            forged.extend_from_slice(&(1u64 << 40).to_le_bytes());
            let mut frame = u32::try_from(forged.len())
                .expect("fits")
                .to_be_bytes()
                .to_vec();
            frame.extend_from_slice(&forged);
            assert!(matches!(
                read_back::<RpcReply>(&frame).await,
                Err(FrameError::Decode(_))
            ));
        });
    }
}
