//! A three-node cluster of `oakmap-raft-node` processes loses no
//! acknowledged write when its leader is SIGKILLed in the middle of a
//! write load: the other two elect a leader, serve every acknowledged key
//! and take more writes, and the old leader, restarted from its
//! directory, catches up from a snapshot.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_clean, contents};

/// Writes before the kill, and keys of the first phase in all.
const PHASE_A_KEYS: usize = 2_000;
/// The leader is killed once this many writes were acknowledged.
const KILL_AFTER_ACKS: usize = 800;
/// Writes while the old leader is down: several snapshots' worth.
const PHASE_B_KEYS: usize = 1_500;
/// Concurrent clients.
const WRITERS: usize = 8;
/// The snapshot policy the nodes run with: a snapshot every this many
/// entries, keeping this many log entries behind it.
const SNAPSHOT_LOGS: &str = "400";
const KEEP_LOGS: &str = "50";
/// The nodes' heartbeat interval and shortest election timeout, in
/// milliseconds (`--heartbeat-ms`, `--election-ms`; each node's election
/// timeout is drawn between the latter and twice it). Slower than the node's
/// defaults (100 and 400): the heartbeat is also openraft's time limit for
/// an append RPC, the follower's fsync included, which a loaded debug
/// build on two cores can miss, and a leader that misses a few looks dead
/// and loses its leadership in the middle of the test.
const HEARTBEAT_MS: &str = "250";
const ELECTION_MS: &str = "1500";
/// The longest the nodes may take to agree on a leader: at the start, and
/// after the kill or any later change of leader. After a leader dies,
/// openraft 0.9 waits out its lease (the longest election timeout, 3 s),
/// then the node's own timeout (1.5 to 3 s, drawn once per process), and
/// a candidate that finds its log behind waits 6 s more; a split vote
/// starts that over. Measured on two cores: 5 to 6 s mostly, 18 s in the
/// slowest of 17 runs.
const ELECTION_BOUND: Duration = Duration::from_secs(60);
/// The longest reading every key back may take, on whichever node leads
/// meanwhile.
const READ_BOUND: Duration = Duration::from_secs(60);
/// The longest any one write may take, redirects and retries included: a
/// write may wait through a whole election.
const WRITE_BOUND: Duration = Duration::from_secs(90);
/// The longest the restarted node may take to catch up.
const CATCH_UP_BOUND: Duration = Duration::from_secs(30);

/// One node process and its addresses.
struct Node {
    id: u64,
    dir: PathBuf,
    log: PathBuf,
    raft_port: u16,
    resp_port: u16,
    child: Option<Child>,
}

/// The three nodes; every process is killed when it is dropped, and on a
/// failure each node's log is printed.
struct Cluster {
    _root: tempfile::TempDir,
    nodes: Vec<Node>,
    peers: String,
}

impl Cluster {
    fn start() -> Cluster {
        let root = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let peers = ports
            .iter()
            .enumerate()
            .map(|(i, (raft, resp))| format!("{}=127.0.0.1:{raft}/127.0.0.1:{resp}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, &(raft_port, resp_port))| Node {
                id: i as u64 + 1,
                dir: root.path().join(format!("n{}", i + 1)),
                log: root.path().join(format!("n{}.log", i + 1)),
                raft_port,
                resp_port,
                child: None,
            })
            .collect();
        let mut cluster = Cluster {
            _root: root,
            nodes,
            peers,
        };
        for i in 0..3 {
            cluster.spawn(i);
        }
        cluster
    }

    /// Starts node `i` (again), from its directory. Every start passes
    /// `--init`: on a node that holds the cluster already it does nothing.
    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_oakmap-raft-node"))
            .args(["--id", &node.id.to_string(), "--peers", &self.peers])
            .arg("--dir")
            .arg(&node.dir)
            .args(["--snapshot-logs", SNAPSHOT_LOGS, "--keep-logs", KEEP_LOGS])
            .args(["--heartbeat-ms", HEARTBEAT_MS, "--election-ms", ELECTION_MS])
            .arg("--init")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a node");
        node.child = Some(child);
    }

    fn kill(&mut self, i: usize) {
        let mut child = self.nodes[i].child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }

    fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.resp_port).collect()
    }

    /// The index of the node that says it leads, among `among`, once one
    /// does and the others agree, within `bound`.
    fn wait_for_leader(&self, among: &[usize], bound: Duration) -> usize {
        let deadline = Instant::now() + bound;
        loop {
            match self.leader(among) {
                Ok(i) => return i,
                Err(leaders) => assert!(
                    Instant::now() < deadline,
                    "no leader among nodes {among:?} within {bound:?}: {leaders:?}"
                ),
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The index of the node that says it leads, among `among`, if the
    /// others agree now; if not, the leader each names.
    fn leader(&self, among: &[usize]) -> Result<usize, Vec<Option<String>>> {
        let leaders: Vec<Option<String>> = among
            .iter()
            .map(|&i| raft_info(self.nodes[i].resp_port).and_then(|f| f.get("leader_id").cloned()))
            .collect();
        if let Some(Some(first)) = leaders.first()
            && leaders.iter().all(|l| l.as_ref() == Some(first))
            && let Some(&i) = among
                .iter()
                .find(|&&i| self.nodes[i].id.to_string() == *first)
            && field(self.nodes[i].resp_port, "role").as_deref() == Some("leader")
        {
            return Ok(i);
        }
        Err(leaders)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if thread::panicking() {
            for node in &self.nodes {
                let log = std::fs::read_to_string(&node.log).unwrap_or_default();
                eprintln!("---- node {} log ----\n{log}", node.id);
            }
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn connect(port: u16) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
    conn.set_read_timeout(Some(Duration::from_secs(15)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(conn)
}

/// A node's `RAFT` reply as fields; `None` if it does not answer.
fn raft_info(port: u16) -> Option<HashMap<String, String>> {
    let mut conn = connect(port).ok()?;
    let text: String = redis::cmd("RAFT").query(&mut conn).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
            .collect(),
    )
}

fn field(port: u16, name: &str) -> Option<String> {
    raft_info(port)?.get(name).cloned()
}

fn number(port: u16, name: &str) -> u64 {
    field(port, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("node at {port} reports no {name}"))
}

/// A client that follows the cluster's leader: it sends each write where
/// the last `MOVED` pointed, and on any other failure tries the next node.
struct Writer {
    ports: Vec<u16>,
    target: u16,
    conn: Option<(u16, redis::Connection)>,
}

impl Writer {
    fn new(ports: Vec<u16>) -> Writer {
        Writer {
            target: ports[0],
            ports,
            conn: None,
        }
    }

    /// `SET key value` until the cluster acknowledges it (a retry of an
    /// unacknowledged SET is harmless: it writes the same value).
    fn set(&mut self, key: &str, value: &str) {
        let deadline = Instant::now() + WRITE_BOUND;
        loop {
            match self.try_set(key, value) {
                Ok(()) => return,
                Err(e) => {
                    if let Some((addr, _)) = e.redirect_node() {
                        self.target = port_of(addr);
                    } else {
                        self.conn = None;
                        let next = self
                            .ports
                            .iter()
                            .position(|&p| p == self.target)
                            .unwrap_or(0)
                            + 1;
                        self.target = self.ports[next % self.ports.len()];
                        thread::sleep(Duration::from_millis(30));
                    }
                    assert!(
                        Instant::now() < deadline,
                        "SET {key} not acknowledged within {WRITE_BOUND:?}; last error {e}"
                    );
                }
            }
        }
    }

    fn try_set(&mut self, key: &str, value: &str) -> redis::RedisResult<()> {
        if self
            .conn
            .as_ref()
            .is_none_or(|(port, _)| *port != self.target)
        {
            self.conn = Some((self.target, connect(self.target)?));
        }
        let (_, conn) = self.conn.as_mut().expect("connected above");
        redis::cmd("SET").arg(key).arg(value).query(conn)
    }
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("a redirect to `{addr}`"))
}

fn value_of(key: &str) -> String {
    format!("value-of-{key}")
}

/// Writes `count` keys named `prefix:i` with `WRITERS` clients, each
/// acknowledged write counted in `acked`; returns the keys acknowledged.
fn write_keys(ports: &[u16], prefix: &str, count: usize, acked: &AtomicUsize) -> Vec<String> {
    let done = Mutex::new(Vec::with_capacity(count));
    thread::scope(|s| {
        for w in 0..WRITERS {
            let (ports, done) = (ports.to_vec(), &done);
            s.spawn(move || {
                let mut writer = Writer::new(ports);
                for i in (w..count).step_by(WRITERS) {
                    let key = format!("{prefix}:{i}");
                    writer.set(&key, &value_of(&key));
                    acked.fetch_add(1, Ordering::Relaxed);
                    done.lock().expect("not poisoned").push(key);
                }
            });
        }
    });
    done.into_inner().expect("not poisoned")
}

/// `GET` (on a leader) or `LOCALGET` (on any node) of every key of
/// `batch` at `port`, pipelined.
fn read_batch(
    port: u16,
    command: &str,
    batch: &[String],
) -> redis::RedisResult<Vec<Option<String>>> {
    let mut conn = connect(port)?;
    let mut pipe = redis::pipe();
    for key in batch {
        pipe.cmd(command).arg(key);
    }
    pipe.query(&mut conn)
}

/// Asserts that `values`, as read by `command` at `port`, are those of
/// `batch`.
fn assert_values(port: u16, command: &str, batch: &[String], values: Vec<Option<String>>) {
    assert_eq!(values.len(), batch.len(), "{command} at port {port}");
    for (key, value) in batch.iter().zip(values) {
        assert_eq!(value, Some(value_of(key)), "{command} {key} at port {port}");
    }
}

/// Whether `e` says the node does not lead (any more): `MOVED` to another
/// node, or `TRYAGAIN` while an election is under way or leadership could
/// not be confirmed. Neither read nor wrote anything.
fn is_leadership_change(e: &redis::RedisError) -> bool {
    matches!(e.code(), Some("MOVED" | "TRYAGAIN"))
}

/// Asserts that `keys` all read back with their values through
/// linearizable `GET`s on the leader of `among`, pipelined; returns the
/// node that answered the last batch. A batch refused because leadership
/// moved is sent again to the leader found anew, within `READ_BOUND`; a
/// wrong or missing value is never retried.
fn assert_all_readable_on_leader(cluster: &Cluster, among: &[usize], keys: &[String]) -> usize {
    let deadline = Instant::now() + READ_BOUND;
    let mut leader = cluster.wait_for_leader(among, ELECTION_BOUND);
    for batch in keys.chunks(500) {
        loop {
            let port = cluster.nodes[leader].resp_port;
            match read_batch(port, "GET", batch) {
                Ok(values) => {
                    assert_values(port, "GET", batch, values);
                    break;
                }
                Err(e) if is_leadership_change(&e) => {
                    // The code only: a pipeline's error lists every reply.
                    let code = e.code().unwrap_or_default();
                    assert!(
                        Instant::now() < deadline,
                        "GETs not served within {READ_BOUND:?}; the last answer was {code}"
                    );
                    eprintln!("node {} answered {code}; reading again", leader + 1);
                    leader = cluster.wait_for_leader(among, ELECTION_BOUND);
                }
                Err(e) => panic!("GET at port {port}: {e}"),
            }
        }
    }
    leader
}

/// Asserts that `keys` all read back with their values through `LOCALGET`
/// (this node's state machine, leader or not) at `port`, pipelined.
fn assert_all_readable_locally(port: u16, keys: &[String]) {
    for batch in keys.chunks(500) {
        let values = read_batch(port, "LOCALGET", batch).expect("LOCALGET reads");
        assert_values(port, "LOCALGET", batch, values);
    }
}

/// Sends SIGTERM to node `i` and waits for it to exit 0.
fn stop_gracefully(cluster: &mut Cluster, i: usize) {
    let mut child = cluster.nodes[i].child.take().expect("running");
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "node {} exited with {status}", i + 1);
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("node {} did not stop within 10 s of SIGTERM", i + 1);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `bytes` on a new connection to `port` and returns what comes
/// back before the node closes the connection (or within a second).
fn exchange_raw(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    stream.write_all(bytes).expect("send");
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    got
}

/// Malformed input on either port is refused on its connection, and the
/// node goes on.
fn malformed_input_is_refused(cluster: &Cluster) {
    let node = &cluster.nodes[0];
    // A raft frame claiming 4 GiB, then one that does not decode: the
    // node closes each connection without a reply.
    assert_eq!(
        exchange_raw(node.raft_port, &[0xff, 0xff, 0xff, 0xff, 1, 2]),
        b""
    );
    assert_eq!(
        exchange_raw(node.raft_port, &[0, 0, 0, 3, 0xff, 0xff, 0xff]),
        b""
    );
    // A RESP stream that loses its framing.
    let got = exchange_raw(node.resp_port, b"*2\r\n$3\r\nGET\r\nxyz\r\n");
    assert!(
        got.starts_with(b"-ERR Protocol error"),
        "{}",
        got.escape_ascii()
    );
    assert!(raft_info(node.resp_port).is_some(), "node 1 still answers");
}

/// Phase A: `PHASE_A_KEYS` writes, and the leader SIGKILLed once
/// `KILL_AFTER_ACKS` were acknowledged (`leader` led at the start; the
/// node that leads at that moment, if the nodes agree on one); a new
/// leader is elected among the other two. Returns the node killed and the
/// keys acknowledged.
fn write_and_kill_the_leader(cluster: &mut Cluster, leader: usize) -> (usize, Vec<String>) {
    let ports = cluster.ports();
    let acked = AtomicUsize::new(0);
    thread::scope(|s| {
        let writing = s.spawn(|| write_keys(&ports, "a", PHASE_A_KEYS, &acked));
        while acked.load(Ordering::Relaxed) < KILL_AFTER_ACKS {
            assert!(!writing.is_finished(), "the writers stopped early");
            thread::sleep(Duration::from_millis(5));
        }
        // Asked now, as leadership may have moved, but not waited for:
        // the writes must still be under way.
        let old = cluster.leader(&[0, 1, 2]).unwrap_or(leader);
        cluster.kill(old);
        let killed_at = Instant::now();
        let survivors: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        let new = cluster.wait_for_leader(&survivors, ELECTION_BOUND);
        eprintln!(
            "node {} killed after {} acks; node {} leads {:?} later",
            old + 1,
            acked.load(Ordering::Relaxed),
            new + 1,
            killed_at.elapsed()
        );
        (old, writing.join().expect("writers"))
    })
}

/// Restarts node `old` and waits until it has applied `leader_applied`.
fn restart_and_catch_up(cluster: &mut Cluster, old: usize, leader_applied: u64) {
    let port = cluster.nodes[old].resp_port;
    cluster.spawn(old);
    let started = Instant::now();
    while field(port, "last_applied_index")
        .and_then(|v| v.parse::<u64>().ok())
        .is_none_or(|applied| applied < leader_applied)
    {
        assert!(
            started.elapsed() < CATCH_UP_BOUND,
            "node {} did not catch up within {CATCH_UP_BOUND:?}",
            old + 1
        );
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!("node {} caught up in {:?}", old + 1, started.elapsed());
}

/// The key the followers are asked to write, to see them redirect it.
const PROBE_KEY: &str = "redirect-probe";

/// Every node is the leader or its follower, and a follower sends writes
/// and linearizable reads to the leader: its `MOVED` names the node all
/// three agree leads. Leadership may move while this is checked (a
/// redirect to the node that led a moment ago, `TRYAGAIN` during an
/// election, a follower that now leads and takes the write itself): then
/// it is checked again, within `ELECTION_BOUND`.
///
/// A probe write that a node may have taken (acknowledged, or an error
/// other than a redirect) is made certain through the leader and added to
/// `keys`; one only ever redirected is not, so the final comparison also
/// proves that no follower applied it.
fn followers_redirect_to_the_leader(cluster: &Cluster, keys: &mut Vec<String>) {
    let ports = cluster.ports();
    let deadline = Instant::now() + ELECTION_BOUND;
    let mut probe_maybe_written = false;
    loop {
        let leader = cluster.wait_for_leader(&[0, 1, 2], ELECTION_BOUND);
        let checked: Result<(), String> = (0..3)
            .filter(|&f| f != leader)
            .try_for_each(|f| redirects_to(&ports, f, leader, &mut probe_maybe_written));
        match checked {
            Ok(()) => break,
            Err(why) => {
                assert!(
                    Instant::now() < deadline,
                    "the followers do not redirect to the leader within {ELECTION_BOUND:?}: {why}"
                );
                eprintln!("checking the redirects again: {why}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    if probe_maybe_written {
        Writer::new(ports).set(PROBE_KEY, &value_of(PROBE_KEY));
        keys.push(PROBE_KEY.to_owned());
    }
}

/// Checks once that node `f` is a follower and redirects a write and a
/// linearizable read to node `leader`; `Err` says what it did instead.
fn redirects_to(
    ports: &[u16],
    f: usize,
    leader: usize,
    probe_maybe_written: &mut bool,
) -> Result<(), String> {
    let role = field(ports[f], "role");
    if role.as_deref() != Some("follower") {
        return Err(format!("node {} is {role:?}, not a follower", f + 1));
    }
    let mut conn = connect(ports[f]).map_err(|e| format!("node {}: {e}", f + 1))?;
    let set = redis::cmd("SET")
        .arg(PROBE_KEY)
        .arg(value_of(PROBE_KEY))
        .query::<()>(&mut conn);
    // Taken, or perhaps taken: anything but a redirect or a TRYAGAIN.
    if !set.as_ref().is_err_and(is_leadership_change) {
        *probe_maybe_written = true;
    }
    let get = redis::cmd("GET")
        .arg("a:0")
        .query::<Option<String>>(&mut conn);
    for (what, outcome) in [("SET", set), ("GET", get.map(drop))] {
        let to = match &outcome {
            Ok(()) => return Err(format!("node {} served a {what} itself", f + 1)),
            Err(e) => e.redirect_node().map(|(addr, _)| port_of(addr)),
        };
        if to != Some(ports[leader]) {
            return Err(format!(
                "node {} answered a {what} with {outcome:?}, not a redirect to node {}",
                f + 1,
                leader + 1
            ));
        }
    }
    Ok(())
}

#[test]
fn the_leader_is_killed_mid_load_and_no_acknowledged_write_is_lost() {
    let started = Instant::now();
    let mut cluster = Cluster::start();
    let ports = cluster.ports();
    let leader = cluster.wait_for_leader(&[0, 1, 2], ELECTION_BOUND);
    malformed_input_is_refused(&cluster);

    let (old, mut keys) = write_and_kill_the_leader(&mut cluster, leader);
    assert_eq!(
        keys.len(),
        PHASE_A_KEYS,
        "every write acknowledged in the end"
    );
    let survivors: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    assert_all_readable_on_leader(&cluster, &survivors, &keys);

    // Phase B: the two-node majority takes writes, and snapshots.
    keys.extend(write_keys(&ports, "b", PHASE_B_KEYS, &AtomicUsize::new(0)));
    let new = assert_all_readable_on_leader(&cluster, &survivors, &keys);
    assert!(
        number(ports[new], "purged_index") > 0,
        "node {} purged its log behind a snapshot",
        new + 1
    );

    // The old leader comes back from its directory, far behind.
    restart_and_catch_up(&mut cluster, old, number(ports[new], "last_applied_index"));
    assert!(
        number(ports[old], "snapshots_installed") >= 1,
        "node {} caught up from a snapshot",
        old + 1
    );
    assert_all_readable_locally(ports[old], &keys);
    followers_redirect_to_the_leader(&cluster, &mut keys);

    for i in 0..3 {
        stop_gracefully(&mut cluster, i);
    }
    replicas_are_clean_and_equal(&cluster, &keys);
    eprintln!("cluster test took {:?}", started.elapsed());
}

/// Every stopped node's database passes the integrity check and holds
/// exactly the acknowledged keys (every write was retried until
/// acknowledged, and nothing else was written).
fn replicas_are_clean_and_equal(cluster: &Cluster, keys: &[String]) {
    let model: BTreeMap<Vec<u8>, Vec<u8>> = keys
        .iter()
        .map(|k| (k.clone().into_bytes(), value_of(k).into_bytes()))
        .collect();
    for node in &cluster.nodes {
        let (_log, sm) = common::open(&node.dir);
        assert_clean(&sm);
        assert!(
            contents(&sm) == model,
            "node {}'s keyspace differs",
            node.id
        );
    }
}
