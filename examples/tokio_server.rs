//! A line-protocol TCP server on tokio over one oakmap database: how an
//! async program uses oakmap.
//!
//! * **Reads** run on the connection's task, each on a snapshot: taking one
//!   never blocks, and a point read is a lookup in memory-mapped pages. A
//!   client can pin a snapshot (`PIN`) to see one state across requests:
//!   the connection keeps a `ReadTxn<'static>` from `Db::begin_read_owned`,
//!   which a task may hold across `.await`s.
//! * **Writes** block until durable (an fsync), and a `WriteTxn` is not
//!   `Send`, so each write runs whole (begin, writes, commit) inside
//!   `tokio::task::spawn_blocking`, with the `Db` in an `Arc`. Writes from
//!   many connections at once share one fsync (group commit).
//! * **Scans**, which may read many pages, go to the blocking pool too, on
//!   an owned snapshot moved there and back.
//!
//! The protocol, one request a line, one reply line (SCAN: one per key,
//! then `END`):
//!
//! ```text
//! GET key          VALUE value | NONE
//! SET key value    OK                     (value: the rest of the line)
//! DEL key          DELETED | NONE
//! INCR key         the new number         (read-modify-write, atomic)
//! SCAN prefix      KEY key value ... END n   (at most 1,000 keys)
//! PIN / UNPIN      OK                     (reads see the state at PIN)
//! QUIT             BYE
//! ```
//!
//! Anything else gets `ERR` and why.
//!
//! ```sh
//! cargo run --example tokio_server        # a demo: serves, runs clients against itself, exits
//! cargo run --example tokio_server -- --listen 127.0.0.1:7878 app.oak   # until Ctrl-C
//! nc 127.0.0.1 7878                       # then type: SET a 1, INCR a, GET a, SCAN a
//! ```

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oakmap::{Db, ReadTxn};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every key lives in this tree.
const TREE: &str = "kv";
/// A longer request line closes the connection: memory per connection
/// stays bounded whatever a client sends.
const LINE_BYTES_MAX: usize = 64 << 10;
/// The most keys one SCAN returns.
const SCAN_KEYS_MAX: usize = 1000;

/// One client's state: the database, and the snapshot it pinned, if any.
struct Conn {
    db: Arc<Db>,
    pinned: Option<ReadTxn<'static>>,
}

/// What to do after a reply.
#[derive(PartialEq)]
enum After {
    Continue,
    Close,
}

/// `ERR` and the error's text (oakmap's errors name the file or the limit).
fn err(e: impl std::fmt::Display) -> String {
    format!("ERR {e}\n")
}

impl Conn {
    /// Answers one request line.
    async fn request(&mut self, line: &str) -> (String, After) {
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        let reply = match (command.to_ascii_uppercase().as_str(), rest) {
            ("GET", key) if !key.is_empty() => match self.get(key) {
                Ok(Some(v)) => format!("VALUE {}\n", String::from_utf8_lossy(&v)),
                Ok(None) => "NONE\n".into(),
                Err(e) => err(e),
            },
            ("SET", args) => match args.split_once(' ') {
                Some((key, value)) => {
                    let (key, value) = (key.as_bytes().to_vec(), value.as_bytes().to_vec());
                    self.write(move |db| db.insert(TREE, &key, &value).map(|_| "OK\n".into()))
                        .await
                }
                None => err("usage: SET key value"),
            },
            ("DEL", key) if !key.is_empty() => {
                let key = key.as_bytes().to_vec();
                self.write(move |db| {
                    let removed = db.remove(TREE, &key)?;
                    Ok(if removed { "DELETED\n" } else { "NONE\n" }.into())
                })
                .await
            }
            ("INCR", key) if !key.is_empty() => {
                let key = key.as_bytes().to_vec();
                self.write(move |db| incr(db, &key)).await
            }
            ("SCAN", prefix) => self.scan(prefix.as_bytes().to_vec()).await,
            ("PIN", "") => {
                self.pinned = Some(self.db.begin_read_owned());
                "OK\n".into()
            }
            ("UNPIN", "") => {
                self.pinned = None; // the snapshot ends: its pages may be reused
                "OK\n".into()
            }
            ("QUIT", "") => return ("BYE\n".into(), After::Close),
            _ => err(format_args!("unknown request {line:?}")),
        };
        (reply, After::Continue)
    }

    /// A point read on the pinned snapshot, or on a fresh one. Short, so it
    /// runs on the task.
    fn get(&self, key: &str) -> oakmap::Result<Option<Vec<u8>>> {
        let fresh;
        let rx = match &self.pinned {
            Some(rx) => rx,
            None => {
                fresh = self.db.begin_read();
                &fresh
            }
        };
        match rx.tree(TREE)? {
            Some(t) => Ok(t.get(key.as_bytes())?.map(<[u8]>::to_vec)),
            None => Ok(None),
        }
    }

    /// Runs `write` on the blocking pool: it may wait for the writer lock
    /// and for an fsync, which must not stall the runtime's threads.
    async fn write<F>(&self, write: F) -> String
    where
        F: FnOnce(&Db) -> oakmap::Result<String> + Send + 'static,
    {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || write(&db)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => err(e),
            Err(e) => err(e), // the write panicked
        }
    }

    /// Keys starting with `prefix`, read on the blocking pool. The snapshot
    /// (the pinned one, or a new owned one) moves there and back.
    async fn scan(&mut self, prefix: Vec<u8>) -> String {
        let was_pinned = self.pinned.is_some();
        let rx = match self.pinned.take() {
            Some(rx) => rx,
            None => self.db.begin_read_owned(),
        };
        let done = tokio::task::spawn_blocking(move || {
            let lines = scan_lines(&rx, &prefix);
            (rx, lines)
        })
        .await;
        match done {
            Ok((rx, lines)) => {
                if was_pinned {
                    self.pinned = Some(rx);
                }
                lines.unwrap_or_else(err)
            }
            Err(e) => err(e),
        }
    }
}

/// The SCAN reply for `prefix` on snapshot `rx`.
fn scan_lines(rx: &ReadTxn<'_>, prefix: &[u8]) -> oakmap::Result<String> {
    let mut out = String::new();
    let mut n = 0;
    if let Some(t) = rx.tree(TREE)? {
        for entry in t.prefix(prefix)?.take(SCAN_KEYS_MAX) {
            let (k, v) = entry?;
            let (k, v) = (String::from_utf8_lossy(k), String::from_utf8_lossy(v));
            out.push_str(&format!("KEY {k} {v}\n"));
            n += 1;
        }
    }
    out.push_str(&format!("END {n}\n"));
    Ok(out)
}

/// INCR: read, add one, write, in one transaction, so that concurrent
/// INCRs never lose an update. Runs on the blocking pool (a `WriteTxn`
/// stays on the thread that began it).
fn incr(db: &Db, key: &[u8]) -> oakmap::Result<String> {
    let mut tx = db.begin_write()?;
    let mut t = tx.open_tree(TREE)?;
    let old = match t.get(key)? {
        None => 0,
        Some(v) => match std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(n) => n,
            None => return Ok(err("the value is not an integer")), // `tx` drops: aborted
        },
    };
    let Some(new) = old.checked_add(1) else {
        return Ok(err("the value would overflow"));
    };
    t.insert(key, new.to_string().as_bytes())?;
    tx.commit()?;
    Ok(format!("{new}\n"))
}

/// Serves one connection until the client quits or goes away.
async fn connection(stream: TcpStream, db: Arc<Db>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut conn = Conn { db, pinned: None };
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = LINE_BYTES_MAX as u64 + 1;
        if (&mut r).take(limit).read_until(b'\n', &mut line).await? == 0 {
            return Ok(()); // the client closed the connection
        }
        if line.len() > LINE_BYTES_MAX {
            w.write_all(err("request line too long").as_bytes()).await?;
            return Ok(());
        }
        let (reply, after) = match std::str::from_utf8(&line) {
            Ok(text) => conn.request(text.trim_end_matches(['\r', '\n'])).await,
            Err(_) => (err("the request is not UTF-8"), After::Continue),
        };
        w.write_all(reply.as_bytes()).await?;
        if after == After::Close {
            return Ok(());
        }
    }
}

/// Accepts connections until `stop` completes, then closes the ones still
/// open (a write already on the blocking pool still commits).
async fn serve(
    listener: TcpListener,
    db: Arc<Db>,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut conns = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let db = db.clone();
                conns.spawn(async move {
                    if let Err(e) = connection(stream, db).await {
                        eprintln!("connection: {e}");
                    }
                });
            }
            () = &mut stop => break,
        }
    }
    conns.shutdown().await;
    Ok(())
}

/// Closes the database on the blocking pool (a last checkpoint: I/O), once
/// no connection holds it.
async fn close(db: Arc<Db>) -> Result<(), BoxError> {
    match Arc::into_inner(db) {
        Some(db) => tokio::task::spawn_blocking(move || db.close()).await??,
        // A write still on the blocking pool holds it; the last holder's
        // drop closes it.
        None => eprintln!("writes still in flight; the database closes after them"),
    }
    Ok(())
}

/// A client of the protocol, for the demo.
struct Client {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> std::io::Result<Client> {
        let (r, w) = TcpStream::connect(addr).await?.into_split();
        Ok(Client {
            r: BufReader::new(r),
            w,
        })
    }

    /// Sends `request` and returns the reply's first line, without the newline.
    async fn ask(&mut self, request: &str) -> std::io::Result<String> {
        self.w.write_all(format!("{request}\n").as_bytes()).await?;
        self.line().await
    }

    async fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        self.r.read_line(&mut line).await?;
        Ok(line.trim_end().to_owned())
    }
}

/// Serves the database at `path` on a loopback port, drives it with
/// clients that check every reply, and shuts down. Returns the number of
/// requests answered.
pub async fn demo(path: &Path) -> Result<u64, BoxError> {
    const CLIENTS: u64 = 8;
    const INCRS: u64 = 25;
    let db = Arc::new(Db::open(path)?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, db.clone(), async {
        let _ = stop_rx.await;
    }));
    let mut requests = 0;

    let mut a = Client::connect(addr).await?;
    assert_eq!(a.ask("SET greeting hello world").await?, "OK");
    assert_eq!(a.ask("GET greeting").await?, "VALUE hello world");
    requests += 2;

    // Many connections incrementing one counter: each INCR is one
    // transaction on the blocking pool; none is lost.
    let mut incrs = JoinSet::new();
    for _ in 0..CLIENTS {
        incrs.spawn(async move {
            let mut c = Client::connect(addr).await?;
            for _ in 0..INCRS {
                c.ask("INCR visits").await?;
            }
            c.ask("QUIT").await
        });
    }
    while let Some(done) = incrs.join_next().await {
        assert_eq!(done??, "BYE");
        requests += INCRS + 1;
    }
    assert_eq!(
        a.ask("GET visits").await?,
        format!("VALUE {}", CLIENTS * INCRS)
    );
    requests += 1;

    // A pinned snapshot does not see later writes; after UNPIN reads do.
    let mut b = Client::connect(addr).await?;
    assert_eq!(b.ask("PIN").await?, "OK");
    assert_eq!(a.ask("SET greeting bye").await?, "OK");
    assert_eq!(b.ask("GET greeting").await?, "VALUE hello world");
    assert_eq!(b.ask("UNPIN").await?, "OK");
    assert_eq!(b.ask("GET greeting").await?, "VALUE bye");
    requests += 5;

    // A scan, in key order, on the blocking pool.
    for (k, v) in [("user:2", "bob"), ("user:1", "ann"), ("users", "-")] {
        assert_eq!(a.ask(&format!("SET {k} {v}")).await?, "OK");
    }
    assert_eq!(a.ask("SCAN user:").await?, "KEY user:1 ann");
    assert_eq!(a.line().await?, "KEY user:2 bob");
    assert_eq!(a.line().await?, "END 2");
    assert_eq!(a.ask("DEL user:1").await?, "DELETED");
    assert_eq!(a.ask("DEL user:1").await?, "NONE");
    requests += 6;

    // Bad requests get an error, and the connection goes on.
    let long_key = "k".repeat(5000);
    let over = a.ask(&format!("SET {long_key} v")).await?;
    assert!(over.starts_with("ERR key of 5000 bytes"), "{over}");
    assert_eq!(
        a.ask("INCR greeting").await?,
        "ERR the value is not an integer"
    );
    assert!(a.ask("FROB x").await?.starts_with("ERR unknown request"));
    assert_eq!(
        a.ask("GET visits").await?,
        format!("VALUE {}", CLIENTS * INCRS)
    );
    requests += 4;

    for mut c in [a, b] {
        assert_eq!(c.ask("QUIT").await?, "BYE");
        requests += 1;
    }
    let _ = stop_tx.send(());
    server.await??;
    close(db).await?;
    Ok(requests)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args_os().skip(1);
    let mut listen = None;
    let mut path = None;
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            let addr = args.next().ok_or("--listen needs an address")?;
            listen = Some(addr.into_string().map_err(|_| "not an address")?.parse()?);
        } else {
            path = Some(PathBuf::from(arg));
        }
    }
    // Without a path, a temporary directory removed at the end.
    let dir = tempfile::tempdir()?;
    let path = path.unwrap_or_else(|| dir.path().join("server.oak"));
    match listen {
        None => {
            let requests = demo(&path).await?;
            println!(
                "{}: {requests} requests answered and checked",
                path.display()
            );
        }
        Some(addr) => {
            let addr: std::net::SocketAddr = addr;
            let db = Arc::new(Db::open(&path)?);
            let listener = TcpListener::bind(addr).await?;
            println!("serving {} on {addr}; Ctrl-C stops", path.display());
            let ctrl_c = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            serve(listener, db.clone(), ctrl_c).await?;
            close(db).await?;
        }
    }
    Ok(())
}
