//! What a node says about itself: the `RAFT` reply, the redirect that
//! names the leader, and the lines it logs when its role changes.
//!
//! All of it is read from openraft's metrics (a watch channel openraft
//! updates as its state changes): a view that may lag the node's state by
//! a moment, good for routing and reporting, never for a read.

use std::fmt::Write as _;

use oakmap_raft::{NodeId, StateMachineStore, TypeConfig};
use oakmap_server::resp::Reply;
use openraft::{LogId, Raft, RaftMetrics, ServerState};

use crate::commands::error;
use crate::members::Member;

/// The metrics of this configuration.
type Metrics = RaftMetrics<NodeId, openraft::BasicNode>;

/// The `RAFT` reply: `field:value` lines, as Redis's `INFO` writes them.
///
/// ```text
/// # Raft
/// id:1
/// role:leader                  (leader, follower, candidate, learner, shutdown)
/// leader_id:1                  (empty while none is known)
/// leader_resp:127.0.0.1:6381   (where to send writes; empty while unknown)
/// term:3
/// last_log_index:2042
/// last_applied_index:2042
/// snapshot_index:2000          (the current snapshot's last index, or empty)
/// purged_index:1900            (the last log index removed, or empty)
/// snapshots_installed:0        (received from a leader since this process started)
/// voters:1,2,3
/// ```
pub fn info(raft: &Raft<TypeConfig>, sm: &StateMachineStore) -> Reply {
    let m = raft.metrics().borrow().clone();
    let mut text = String::from("# Raft\r\n");
    let index = |id: Option<LogId<NodeId>>| id.map_or(String::new(), |id| id.index.to_string());
    let voters: Vec<String> = m
        .membership_config
        .membership()
        .voter_ids()
        .map(|id| id.to_string())
        .collect();
    let fields = [
        ("id", m.id.to_string()),
        ("role", role(m.state).to_owned()),
        (
            "leader_id",
            m.current_leader.map_or(String::new(), |id| id.to_string()),
        ),
        (
            "leader_resp",
            m.current_leader
                .and_then(|id| resp_addr(&m, id))
                .unwrap_or_default(),
        ),
        ("term", m.current_term.to_string()),
        (
            "last_log_index",
            m.last_log_index.map_or(String::new(), |i| i.to_string()),
        ),
        ("last_applied_index", index(m.last_applied)),
        ("snapshot_index", index(m.snapshot)),
        ("purged_index", index(m.purged)),
        ("snapshots_installed", sm.snapshots_installed().to_string()),
        ("voters", voters.join(",")),
    ];
    for (name, value) in fields {
        let _ = write!(text, "{name}:{value}\r\n");
    }
    Reply::Bulk(text.into_bytes())
}

/// The answer to a request this node cannot serve because it is not the
/// leader (or no longer is): `-MOVED <leader id> <leader resp addr>` when
/// the leader is known, `-TRYAGAIN ...` while none is.
///
/// `MOVED` has the shape of Redis Cluster's redirect (`MOVED <slot>
/// <host:port>`, the node id where the slot would be), so `redis-cli -c`
/// and Redis client libraries follow it as they are.
pub fn redirect(raft: &Raft<TypeConfig>, leader: Option<NodeId>) -> Reply {
    let m = raft.metrics().borrow().clone();
    let leader = leader.or(m.current_leader).filter(|&l| l != m.id);
    match leader.and_then(|id| resp_addr(&m, id).map(|addr| (id, addr))) {
        Some((id, addr)) => error(format!("MOVED {id} {addr}")),
        None => error("TRYAGAIN no leader is known yet (an election is under way); retry"),
    }
}

/// Where node `id` takes clients, from the membership.
fn resp_addr(m: &Metrics, id: NodeId) -> Option<String> {
    let node = m.membership_config.membership().get_node(&id)?;
    Member::of_node(node).ok().map(|member| member.resp)
}

fn role(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

/// Logs (to stderr) each change of this node's role, term or leader, and
/// each new snapshot, until Raft stops.
pub async fn log_changes(raft: Raft<TypeConfig>, sm: StateMachineStore) {
    let mut metrics = raft.metrics();
    let (mut last, mut last_snapshot) = (None, None);
    let mut installed = sm.snapshots_installed();
    loop {
        let (seen, snapshot, id) = {
            let m = metrics.borrow_and_update();
            (
                (m.state, m.current_term, m.current_leader),
                m.snapshot,
                m.id,
            )
        };
        if last != Some(seen) {
            let (state, term, leader) = seen;
            let leader = leader.map_or("none".to_owned(), |l| l.to_string());
            eprintln!("node {id}: {} in term {term}, leader {leader}", role(state));
        }
        if last_snapshot != Some(snapshot) {
            let now = sm.snapshots_installed();
            let how = match last_snapshot {
                None => "found at start",
                Some(_) if now > installed => "installed from the leader",
                Some(_) => "built here",
            };
            installed = now;
            let at = snapshot.map_or("none".to_owned(), |s| s.index.to_string());
            eprintln!("node {id}: snapshot up to index {at} ({how})");
        }
        (last, last_snapshot) = (Some(seen), Some(snapshot));
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
