//! `oakmap-raft-node`: one node of a replicated key-value cluster, Raft
//! (openraft 0.9) over oakmap (`oakmap-raft`), with a Redis-protocol
//! (RESP2) client port.
//!
//! ```text
//! oakmap-raft-node --id 1 --dir n1 --peers 1=127.0.0.1:7001/127.0.0.1:6381,2=...,3=... --init
//! ```
//!
//! One process is one node. Its parts, one module each:
//!
//! * `members`: the `--peers` list, and the `raft/resp` address form the
//!   membership keeps for each node;
//! * `wire`: the raft RPC frames, and `network` / `rpc_server`, the
//!   sending and the receiving side of the raft network over TCP;
//! * `commands` and `client`: the RESP commands and the client listener,
//!   which sends writes through the log and reads on the leader;
//! * `status`: the `RAFT` reply, the leader redirect, the role log.
//!
//! SIGTERM or SIGINT stops the node: the listeners close, Raft shuts
//! down, and the database is closed cleanly. SIGKILL loses nothing that
//! was acknowledged: every write is durable on a majority before its
//! reply, and oakmap recovers the node's directory on the next start.

mod client;
mod commands;
mod members;
mod network;
mod rpc_server;
mod status;
mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use oakmap_raft::{LogStore, NodeId, StateMachineStore, TypeConfig};
use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Raft, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::members::Member;

/// Accepts connections on `listener`, each served by the task
/// `connection` makes of it, until `stop` turns true; then drops every
/// connection still open (the client port and the raft port alike).
async fn accept_until_stopped<F, Fut>(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    mut connection: F,
) where
    F: FnMut(tokio::net::TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopping| *stopping) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                connections.spawn(connection(stream, peer));
            }
        }
    }
    connections.abort_all();
}

/// The time to live of one snapshot chunk's RPC, in milliseconds. The
/// last chunk's answer waits for the follower to install the whole
/// snapshot (copy its keyspace in, fsync), far longer than a chunk takes
/// on the wire; openraft's default (200 ms) would time it out and send
/// the snapshot again.
const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 10_000;

/// One node of a replicated oakmap cluster (Raft), serving the Redis
/// protocol.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// This node's id; it must be one of --peers.
    #[arg(long)]
    id: NodeId,
    /// The node's directory (created if missing): its database, its
    /// snapshot.
    #[arg(long)]
    dir: PathBuf,
    /// Every member of the cluster, this node included:
    /// `id=raft-host:port/resp-host:port`, separated by commas.
    #[arg(long, value_parser = members::parse_peers)]
    peers: BTreeMap<NodeId, Member>,
    /// Where to listen for raft RPCs from peers (default: this node's
    /// raft address in --peers).
    #[arg(long = "raft")]
    raft_listen: Option<SocketAddr>,
    /// Where to listen for clients (default: this node's resp address in
    /// --peers).
    #[arg(long = "resp")]
    resp_listen: Option<SocketAddr>,
    /// Initialize the cluster with every member of --peers as a voter.
    /// Give it to one node, on its first start; on a node whose directory
    /// already holds a cluster it does nothing.
    #[arg(long)]
    init: bool,
    /// The leader's heartbeat interval, in milliseconds; also the time to
    /// live of an append RPC.
    #[arg(long, default_value_t = 100)]
    heartbeat_ms: u64,
    /// The shortest election timeout, in milliseconds: each node draws its
    /// timeout once, between it and twice it (openraft 0.9 draws it per
    /// process, not per election).
    #[arg(long, default_value_t = 400)]
    election_ms: u64,
    /// Build a snapshot each time this many entries were applied since the
    /// last one.
    #[arg(long, default_value_t = 1000)]
    snapshot_logs: u64,
    /// Log entries kept behind the snapshot: a follower further behind
    /// catches up by receiving the snapshot.
    #[arg(long, default_value_t = 100)]
    keep_logs: u64,
    /// The bound on the database's page cache, in bytes (oakmap's default
    /// if not given).
    #[arg(long)]
    cache_bytes: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let id = args.id;
    match run(args) {
        Ok(()) => {
            eprintln!("node {id}: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oakmap-raft-node {id}: {e}");
            ExitCode::from(2)
        }
    }
}

/// The addresses a node listens on.
struct Listen {
    raft: SocketAddr,
    resp: SocketAddr,
}

fn run(args: Args) -> Result<(), String> {
    let me = args
        .peers
        .get(&args.id)
        .ok_or_else(|| format!("node {} is not in --peers", args.id))?;
    let socket = |given: Option<SocketAddr>, listed: &str, flag: &str| {
        given.map_or_else(
            || {
                listed
                    .parse()
                    .map_err(|_| format!("`{listed}` is not an IP address and port: give --{flag}"))
            },
            Ok,
        )
    };
    let listen = Listen {
        raft: socket(args.raft_listen, &me.raft, "raft")?,
        resp: socket(args.resp_listen, &me.resp, "resp")?,
    };
    let config = raft_config(&args)?;
    let mut options = oakmap::Options::new();
    if let Some(bytes) = args.cache_bytes {
        options = options.cache_bytes(bytes);
    }
    let (log_store, sm) = oakmap_raft::open_with(&args.dir, options)
        .map_err(|e| format!("cannot open {}: {e}", args.dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let served = runtime.block_on(serve(args, listen, config, log_store, sm));
    // Dropping the runtime drops every task, and with them the last
    // handles on the database, which closes it (a clean close: the next
    // start needs no recovery).
    drop(runtime);
    served
}

/// openraft's configuration from the command line.
fn raft_config(args: &Args) -> Result<Arc<openraft::Config>, String> {
    let config = openraft::Config {
        cluster_name: "oakmap".into(),
        heartbeat_interval: args.heartbeat_ms,
        election_timeout_min: args.election_ms,
        election_timeout_max: args.election_ms.saturating_mul(2),
        install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(args.snapshot_logs),
        max_in_snapshot_log_to_keep: args.keep_logs,
        ..openraft::Config::default()
    }
    .validate()
    .map_err(|e| format!("raft configuration: {e}"))?;
    // A chunk and its framing must fit a frame with room to spare.
    if config.snapshot_max_chunk_size > (wire::FRAME_BYTES_MAX / 2) as u64 {
        return Err("the snapshot chunk size is over half the frame limit".into());
    }
    Ok(Arc::new(config))
}

/// Runs the node until SIGTERM or SIGINT.
async fn serve(
    args: Args,
    listen: Listen,
    config: Arc<openraft::Config>,
    log_store: LogStore,
    sm: StateMachineStore,
) -> Result<(), String> {
    let id = args.id;
    let bind = |addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))
    };
    let raft_listener = bind(listen.raft).await?;
    let resp_listener = bind(listen.resp).await?;
    let network = network::NetworkFactory { id };
    let raft = Raft::new(id, config, network, log_store, sm.clone())
        .await
        .map_err(|e| format!("cannot start raft: {e}"))?;
    let (stop, stopping) = watch::channel(false);
    let log = tokio::spawn(status::log_changes(raft.clone(), sm.clone()));
    let rpc = tokio::spawn(rpc_server::serve(
        raft_listener,
        raft.clone(),
        id,
        stopping.clone(),
    ));
    if args.init {
        initialize(&raft, &args.peers).await?;
    }
    let node = Arc::new(client::Node {
        raft: raft.clone(),
        sm,
    });
    let clients = tokio::spawn(client::serve(resp_listener, node, stopping));
    eprintln!(
        "node {id}: raft RPCs on {}, clients on {}, directory {}",
        listen.raft,
        listen.resp,
        args.dir.display()
    );
    stop_signal().await;
    eprintln!("node {id}: stopping");
    let _ = stop.send(true);
    let _ = clients.await;
    let _ = rpc.await;
    let shut = raft.shutdown().await;
    log.abort();
    shut.map_err(|e| format!("raft did not stop cleanly: {e}"))
}

/// Initializes the cluster with every peer as a voter; a node that holds a
/// cluster already says so and goes on.
async fn initialize(
    raft: &Raft<TypeConfig>,
    peers: &BTreeMap<NodeId, Member>,
) -> Result<(), String> {
    let members: BTreeMap<NodeId, BasicNode> =
        peers.iter().map(|(&id, m)| (id, m.to_node())).collect();
    let ids: Vec<String> = members.keys().map(|id| id.to_string()).collect();
    let id = raft.metrics().borrow().id;
    match raft.initialize(members).await {
        Ok(()) => eprintln!(
            "node {id}: initialized the cluster, voters {}",
            ids.join(",")
        ),
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
            eprintln!("node {id}: already part of a cluster; --init has nothing to do")
        }
        Err(e) => return Err(format!("cannot initialize the cluster: {e}")),
    }
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("no signal handlers: stop the node with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
