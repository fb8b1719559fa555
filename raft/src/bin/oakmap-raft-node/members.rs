//! The cluster's members: each node's id, the address its peers send raft
//! RPCs to, and the address its clients (RESP) connect to.
//!
//! `--peers` names them as `id=raft/resp` items separated by commas
//! (`1=127.0.0.1:7001/127.0.0.1:6381,2=...`). In openraft's membership a
//! member is a [`BasicNode`] whose `addr` is the same `raft/resp` text, so
//! a node learns where to send RPCs and where to redirect clients from the
//! replicated membership, the same on every node, not from its own
//! command line: only the node that initializes the cluster needs
//! `--peers` to be right.

use std::collections::BTreeMap;

use oakmap_raft::NodeId;
use openraft::BasicNode;

/// The two addresses of one member, each `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Where its raft RPC listener is.
    pub raft: String,
    /// Where its RESP listener is.
    pub resp: String,
}

impl Member {
    /// Parses `raft/resp`, two `host:port` addresses.
    pub fn parse(text: &str) -> Result<Member, String> {
        let Some((raft, resp)) = text.split_once('/') else {
            return Err(format!(
                "`{text}`: a member is `raft-host:port/resp-host:port`"
            ));
        };
        check_host_port(raft)?;
        check_host_port(resp)?;
        Ok(Member {
            raft: raft.to_owned(),
            resp: resp.to_owned(),
        })
    }

    /// The member as openraft's membership holds it.
    pub fn to_node(&self) -> BasicNode {
        BasicNode::new(format!("{}/{}", self.raft, self.resp))
    }

    /// The member a membership's node stands for; an error for an address
    /// not in `raft/resp` form (a membership written by another program).
    pub fn of_node(node: &BasicNode) -> Result<Member, String> {
        Member::parse(&node.addr)
    }
}

/// Parses `--peers`: `id=raft/resp` items separated by commas, each id
/// once.
pub fn parse_peers(text: &str) -> Result<BTreeMap<NodeId, Member>, String> {
    let mut peers = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((id, member)) = item.split_once('=') else {
            return Err(format!("`{item}`: a peer is `id=raft-addr/resp-addr`"));
        };
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| format!("`{id}`: a node id is a number"))?;
        if peers.insert(id, Member::parse(member.trim())?).is_some() {
            return Err(format!("node {id} is named twice"));
        }
    }
    if peers.is_empty() {
        return Err("no peers named".into());
    }
    Ok(peers)
}

/// Checks that `text` is `host:port` with a port number, so that a typo
/// is found at start-up rather than as an unreachable peer.
fn check_host_port(text: &str) -> Result<(), String> {
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("`{text}`: an address is `host:port`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_round_trip_through_the_membership_form() {
        let peers = parse_peers("1=127.0.0.1:7001/127.0.0.1:6381, 2=localhost:7002/localhost:6382")
            .expect("parses");
        assert_eq!(peers.len(), 2);
        let one = &peers[&1];
        assert_eq!(one.raft, "127.0.0.1:7001");
        assert_eq!(one.resp, "127.0.0.1:6381");
        assert_eq!(Member::of_node(&one.to_node()).as_ref(), Ok(one));
    }

    #[test]
    fn malformed_peers_are_errors() {
        for bad in [
            "",
            "1",
            "x=a:1/b:2",
            "1=a:1",
            "1=a:1/b",
            "1=:1/b:2",
            "1=a:1/b:99999",
            "1=a:1/b:2,1=c:3/d:4",
        ] {
            assert!(parse_peers(bad).is_err(), "{bad:?}");
        }
    }
}
