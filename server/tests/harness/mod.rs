//! The servers the tests talk to: [`Oak`], `oakmap_server::Server` on a
//! fresh database with a Tokio runtime of its own, at a port the system
//! chose; and [`Reference`], a real `redis-server` whose replies ours are
//! held to. Every test ends with [`Oak::finish`]: the server stopped as a
//! signal would stop it, then the database's integrity check.
#![allow(dead_code, reason = "each test file uses a part of the harness")]

pub mod raw;
pub mod redis_tools;
pub mod rng;

use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oakmap::Db;
use oakmap_server::{Config, Server};
use tokio::sync::oneshot;

pub use raw::{Raw, Resp};

/// How long a stopping server may take before the test fails instead of
/// hanging.
pub const STOP_WAIT: Duration = Duration::from_secs(60);

/// The server under test, on its own database.
pub struct Oak {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    db: Option<Arc<Db>>,
    /// Holds the database's directory until the server is gone.
    _dir: tempfile::TempDir,
}

impl Oak {
    /// A server with the default configuration.
    pub fn start() -> Oak {
        Oak::start_with(|_| {})
    }

    /// A server whose configuration `configure` changed first.
    pub fn start_with(configure: impl FnOnce(&mut Config)) -> Oak {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = Arc::new(Db::open(dir.path().join("serve.oak")).expect("the database opens"));
        let mut config = Config::new("127.0.0.1:0".parse().expect("an address"));
        configure(&mut config);
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, started) = std::sync::mpsc::channel();
        let server_db = db.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let server = Server::bind(server_db, config).await?;
                let _ = ready.send(server.local_addr());
                server
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        let Ok(addr) = started.recv() else {
            let outcome = thread.join().expect("the server thread does not panic");
            panic!("the server did not start: {outcome:?}");
        };
        Oak {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            db: Some(db),
            _dir: dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The database the server runs on.
    pub fn db(&self) -> &Db {
        self.db.as_ref().expect("the database is open")
    }

    /// A connection through the `redis` crate, as an application has one.
    pub fn client(&self) -> redis::Connection {
        connect(&format!("redis://{}/", self.addr))
    }

    /// A connection read and written by hand.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr).expect("the server accepts a connection")
    }

    /// Fails the test unless a new connection is served.
    pub fn assert_serves(&self) {
        assert_eq!(
            self.raw().cmd(&["PING"]),
            Resp::Simple("PONG".into()),
            "a new connection is served"
        );
    }

    /// Whether the server has stopped on its own (`SHUTDOWN`).
    pub fn has_stopped(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops the server as a signal would, waits for it to answer what is
    /// in flight and end, then runs the integrity check and closes the
    /// database.
    pub fn finish(self) {
        let db = self.stop();
        let report = db.check().expect("the check runs");
        assert!(
            report.is_clean(),
            "integrity problems: {:?}",
            report.problems
        );
        db.close().expect("the database closes cleanly");
    }

    /// Stops the server as a signal would and hands back its database,
    /// which nothing else holds then.
    pub fn stop(mut self) -> Db {
        self.stop_server(STOP_WAIT);
        Arc::into_inner(self.db.take().expect("the database is open"))
            .expect("the server let go of the database")
    }

    /// Asks the server to stop, and says whether it did within `wait`.
    pub fn stops_within(&mut self, wait: Duration) -> bool {
        drop(self.stop.take());
        let began = Instant::now();
        while !self.has_stopped() {
            if began.elapsed() > wait {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Stops the server (if it runs) and waits for it, failing the test
    /// after `wait`.
    fn stop_server(&mut self, wait: Duration) {
        assert!(
            self.stops_within(wait),
            "the server did not stop within {wait:?}"
        );
        if let Some(thread) = self.thread.take() {
            let outcome = thread.join().expect("the server thread does not panic");
            outcome.expect("the server ran without an I/O error");
        }
    }
}

impl Drop for Oak {
    fn drop(&mut self) {
        // A test that failed does not also wait for a server that hangs.
        if std::thread::panicking() {
            drop(self.stop.take());
            return;
        }
        self.stop_server(STOP_WAIT);
    }
}

/// A `redis` connection to `url`.
pub fn connect(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .expect("a valid URL")
        .get_connection()
        .expect("the server accepts a connection")
}

/// A real Redis, on a Unix socket in a directory of its own (no port to
/// race for), saving nothing.
pub struct Reference {
    child: Child,
    dir: tempfile::TempDir,
}

impl Reference {
    /// Starts `redis-server`, or says that `test` skips the comparison
    /// (see [`redis_tools`]).
    pub fn start(test: &str) -> Option<Reference> {
        let mut command = redis_tools::redis_server(test)?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let child = command
            .args(["--port", "0", "--unixsocket"])
            .arg(dir.path().join("redis.sock"))
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .args(["--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let reference = Reference { child, dir };
        reference.wait_until_up();
        Some(reference)
    }

    fn url(&self) -> String {
        format!(
            "redis+unix://{}",
            self.dir.path().join("redis.sock").display()
        )
    }

    fn wait_until_up(&self) {
        let began = Instant::now();
        let client = redis::Client::open(self.url()).expect("a valid URL");
        while client.get_connection().is_err() {
            assert!(began.elapsed() < STOP_WAIT, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn client(&self) -> redis::Connection {
        connect(&self.url())
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which server a shared assertion runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Oak,
    Redis,
}

/// Runs `check` against our server and then, where `redis-server` is
/// installed, against Redis itself: the replies our tests expect are
/// Redis's own.
pub fn on_both(test: &str, check: impl Fn(&mut dyn FnMut() -> redis::Connection, Who)) {
    let oak = Oak::start();
    check(&mut || oak.client(), Who::Oak);
    oak.finish();
    if let Some(redis) = Reference::start(test) {
        check(&mut || redis.client(), Who::Redis);
    }
}

/// A server's error reply as Redis writes it: its code, then its text.
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => panic!("not an error reply from the server: {e:?}"),
    }
}

/// A reply as the tests compare it: the value, or the error's text.
pub type Reply = Result<redis::Value, String>;

/// Runs one command given as text.
pub fn run(con: &mut redis::Connection, args: &[&str]) -> Reply {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    run_bytes(con, &args)
}

/// Runs one command given as bytes.
pub fn run_bytes(con: &mut redis::Connection, args: &[&[u8]]) -> Reply {
    let mut command = redis::cmd(std::str::from_utf8(args[0]).expect("a text command name"));
    for a in &args[1..] {
        command.arg(*a);
    }
    command
        .query::<redis::Value>(con)
        .map_err(|e| error_text(&e))
}

pub fn ok() -> Reply {
    Ok(redis::Value::Okay)
}

pub fn simple(text: &str) -> Reply {
    Ok(redis::Value::SimpleString(text.into()))
}

pub fn nil() -> Reply {
    Ok(redis::Value::Nil)
}

pub fn int(n: i64) -> Reply {
    Ok(redis::Value::Int(n))
}

pub fn bulk(bytes: impl AsRef<[u8]>) -> Reply {
    Ok(redis::Value::BulkString(bytes.as_ref().to_vec()))
}

pub fn err(text: &str) -> Reply {
    Err(text.into())
}

/// An array of replies, each of which must be a value.
pub fn array(items: impl IntoIterator<Item = Reply>) -> Reply {
    Ok(redis::Value::Array(
        items
            .into_iter()
            .map(|r| r.expect("an array holds values, not errors"))
            .collect(),
    ))
}

/// An array of bulk strings.
pub fn bulks<T: AsRef<[u8]>>(items: impl IntoIterator<Item = T>) -> Reply {
    array(items.into_iter().map(bulk))
}
