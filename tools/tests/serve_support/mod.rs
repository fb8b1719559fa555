//! The `oakmap serve` binary, for the tests that need the real process
//! (signals, SIGKILL, redis-cli): started on a file at a port the system
//! chose, learnt from its `listening on ADDR,` log line; its log kept;
//! stopped by a signal or killed. The RESP client and the search for
//! Redis's programs are the server tests' own files, included here.
#![allow(dead_code, reason = "each test file uses a part of the support")]

#[path = "../../../server/tests/harness/raw.rs"]
pub mod raw;
#[path = "../../../server/tests/harness/redis_tools.rs"]
pub mod redis_tools;
#[path = "../../../server/tests/harness/rng.rs"]
pub mod rng;

pub mod load;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use raw::{Raw, Resp};
pub use rng::Rng;

/// How long a start or a stop may take before the test fails instead of
/// hanging.
pub const WAIT: Duration = Duration::from_secs(60);

/// `oakmap serve FILE --bind 127.0.0.1:0 ARGS...`, not yet waited for.
pub fn spawn(file: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .arg("serve")
        .arg(file)
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the oakmap binary starts")
}

/// A running `oakmap serve`.
pub struct Served {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

/// A server that did not start: how it exited, and what it logged.
#[derive(Debug)]
pub struct Refused {
    pub status: ExitStatus,
    pub log: Vec<String>,
}

impl Served {
    /// Starts the server and waits for its `listening on` line.
    pub fn start(file: &Path, args: &[&str]) -> Served {
        Served::try_start(file, args)
            .unwrap_or_else(|r| panic!("oakmap serve did not start: {r:?}"))
    }

    /// Starts the server, or returns how it exited instead.
    pub fn try_start(file: &Path, args: &[&str]) -> Result<Served, Refused> {
        let mut child = spawn(file, args);
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (listening, addr) = mpsc::channel();
        let lines = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let addr = listening_addr(&line);
                // Logged before it is announced: a test that reads the
                // log once started finds the start line.
                lines.lock().unwrap().push(line);
                if let Some(addr) = addr {
                    let _ = listening.send(addr);
                }
            }
        });
        match addr.recv_timeout(WAIT) {
            Ok(addr) => Ok(Served {
                child,
                addr,
                log,
                reader: Some(reader),
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().expect("wait for oakmap serve");
                reader.join().expect("the log reader");
                let log = log.lock().unwrap().clone();
                Err(Refused { status, log })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("oakmap serve did not log its address within {WAIT:?}");
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A new connection.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr).expect("the server accepts a connection")
    }

    /// What the server has logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait for oakmap serve");
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        signal(&self.child, name);
    }

    /// Waits for the server to exit by itself (after a signal or
    /// `SHUTDOWN`), at most [`WAIT`]; returns its status and whole log.
    pub fn wait(mut self) -> (ExitStatus, Vec<String>) {
        let began = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll oakmap serve") {
                break status;
            }
            assert!(
                began.elapsed() < WAIT,
                "oakmap serve did not exit within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the log reader");
        }
        (status, self.log())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends signal `name` to `child`, through the shell's `kill` (the tools
/// have no signal crate, and every Unix has a shell).
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("sh")
        .args(["-c", "kill -s \"$0\" \"$1\""])
        .arg(name)
        .arg(child.id().to_string())
        .status()
        .expect("sh runs");
    assert!(status.success(), "kill -s {name} {}", child.id());
}

/// The address in `oakmap serve: listening on ADDR, file ...`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split_once("listening on ")?.1;
    rest.split(',').next()?.parse().ok()
}

/// `oakmap check FILE`: whether it exits 0, with its output for a failure.
pub fn check(file: &Path) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .arg("check")
        .arg(file)
        .output()
        .expect("oakmap check runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "oakmap check {}: {}\n{}{}",
            file.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A seed from the environment variable `name`, or from the clock.
pub fn seed(name: &str) -> u64 {
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos() as u64;
    rng::seed_from(name, clock)
}
