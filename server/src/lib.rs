//! oakmap-server: a Redis-protocol server that keeps its keys in oakmap.
//!
//! Everything `oakmap serve` runs, as a library so that a program can embed
//! the same server: the RESP2 protocol ([`resp`]), the command table (Redis
//! database `n` is oakmap tree `db{n}`), and a Tokio server loop whose
//! writes from all connections go through one committing writer, so a reply
//! to a write means the write is durable under the database's
//! [`oakmap::Durability`]. `redis-cli`, `redis-benchmark` and Redis client
//! libraries drive it unchanged.
//!
//! - **Reads** (`GET`, `MGET`, `EXISTS`, `STRLEN`, `SCAN`, `KEYS`, `DBSIZE`,
//!   `RANGE`) run on a snapshot on the connection's task: they never wait
//!   for the writer or an fsync.
//! - **Writes** queue for the committing writer, which applies every write
//!   waiting at that moment in one transaction, commits once, and only then
//!   answers each (see `writer.rs`). A read-modify-write (`INCR`, `SETNX`,
//!   `SET NX GET`, `APPEND`, `MSETNX`, ...) is atomic against all writes.
//! - **Read-your-writes**: a read issued on a connection after a write sees
//!   it, and so does any read that starts after the write's reply was sent.
//! - **Pipelining**: replies in request order; a connection that does not
//!   read its replies is not read either.
//! - **`SAVE`** writes a backup of the newest state ([`oakmap::Db::backup_to`]:
//!   a dense, closed database) to [`Config::save_path`], replacing the file
//!   there, off the connection's task; it answers OK once the copy is
//!   durable, and sees the writes its connection sent before it.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! let db = Arc::new(oakmap::Db::open("app.oak").map_err(std::io::Error::other)?);
//! let config = oakmap_server::Config::new("127.0.0.1:6380".parse().unwrap());
//! let server = oakmap_server::Server::bind(db, config).await?;
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! `RANGE start end [LIMIT n] [REV] [WITHVALUES]`, which no Redis has,
//! lists keys in order between two bounds: `[key` includes it, `(key`
//! excludes it, `-` and `+` are the first and the last key.

mod command;
mod conn;
mod glob;
mod info;
mod keyspace;
pub mod resp;
mod table;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use oakmap::Db;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

pub use command::{DATABASES, parse_i64};
pub use keyspace::tree_name;

/// How the server runs. Every limit has Redis's default.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// Request limits, checked before anything is allocated for a request.
    pub limits: resp::Limits,
    /// Connections served at once; the next one is refused with Redis's
    /// message (`--max-clients`, default 10,000).
    pub max_clients: usize,
    /// The most undecoded input a connection may hold (Redis's
    /// `client-query-buffer-limit`, 1 GiB).
    pub query_buffer_bytes_max: usize,
    /// Writes queued for the writer before connections wait to queue more.
    pub write_queue_max: usize,
    /// The durability shown by `INFO` and `CONFIG GET appendfsync` (the
    /// database's own setting decides it).
    pub durability_name: String,
    /// Where `SAVE` writes its backup (replacing the file there); `None`
    /// (the default) makes `SAVE` an error saying how to set it
    /// (`--save-path`).
    pub save_path: Option<std::path::PathBuf>,
}

impl Config {
    /// Defaults, listening on `bind`.
    pub fn new(bind: SocketAddr) -> Config {
        Config {
            bind,
            limits: resp::Limits::default(),
            max_clients: 10_000,
            query_buffer_bytes_max: 1 << 30,
            write_queue_max: 65_536,
            durability_name: "always".into(),
            save_path: None,
        }
    }
}

/// Counters for `INFO`.
#[derive(Default)]
struct ServerStats {
    connections: AtomicU64,
    connected: AtomicUsize,
    commands: AtomicU64,
}

/// What every connection shares.
struct Shared {
    db: Arc<Db>,
    config: Config,
    local_addr: SocketAddr,
    key_limits: command::KeyLimits,
    writes: mpsc::Sender<writer::WriteRequest>,
    writer_stats: Arc<writer::WriterStats>,
    cursors: keyspace::Cursors,
    stats: ServerStats,
    /// Set when the server stops (a signal, `SHUTDOWN`): connections end
    /// after answering what they have read.
    stop: watch::Sender<bool>,
    started: Instant,
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    writers: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds the listening socket and starts the committing writer.
    pub async fn bind(db: Arc<Db>, config: Config) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.bind).await?;
        let local_addr = listener.local_addr()?;
        let key_limits = command::KeyLimits {
            key_bytes_max: db.key_bytes_max(),
            value_bytes_max: oakmap::VALUE_BYTES_MAX,
        };
        let (writes, queue) = mpsc::channel(config.write_queue_max.max(1));
        let writer_stats = Arc::new(writer::WriterStats::default());
        let writers = writer::spawn(db.clone(), queue, key_limits, writer_stats.clone())?;
        let shared = Arc::new(Shared {
            db,
            config,
            local_addr,
            key_limits,
            writes,
            writer_stats,
            cursors: keyspace::Cursors::new(),
            stats: ServerStats::default(),
            stop: watch::channel(false).0,
            started: Instant::now(),
        });
        Ok(Server {
            listener,
            shared,
            writers,
        })
    }

    /// The address the server listens on (with the port the system chose,
    /// if the configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Serves until `shutdown` completes or a client sends `SHUTDOWN`; then
    /// stops accepting, lets every connection answer what it has read,
    /// waits for the writer to commit and answer every queued write, and
    /// returns. The database stays open: close it after (`Db::close`), as
    /// `oakmap serve` does.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Server {
            listener,
            shared,
            writers,
        } = self;
        tokio::pin!(shutdown);
        let mut stopped = shared.stop.subscribe();
        let mut tasks = JoinSet::new();
        let mut next_id = 1u64;
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = stopped.changed() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = listener.accept() => {
                    let Ok((mut stream, _)) = accepted else { continue };
                    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                    if shared.stats.connected.load(Ordering::Relaxed) >= shared.config.max_clients {
                        tasks.spawn(async move {
                            let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
                        });
                        continue;
                    }
                    shared.stats.connected.fetch_add(1, Ordering::Relaxed);
                    let (shared, stop, id) = (shared.clone(), shared.stop.subscribe(), next_id);
                    next_id += 1;
                    tasks.spawn(async move {
                        conn::serve(stream, shared.clone(), id, stop).await;
                        shared.stats.connected.fetch_sub(1, Ordering::Relaxed);
                    });
                }
            }
        }
        drop(listener);
        let _ = shared.stop.send(true);
        while tasks.join_next().await.is_some() {}
        // The last sender goes with `shared`: the writers drain the queue,
        // answer, and end.
        drop(shared);
        tokio::task::spawn_blocking(move || {
            for w in writers {
                let _ = w.join();
            }
        })
        .await
        .map_err(std::io::Error::other)
    }
}
