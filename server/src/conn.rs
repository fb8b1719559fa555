//! One client connection: read requests, answer in request order.
//!
//! The connection decodes every command a read brought, runs reads on a
//! snapshot at once, queues writes for the committing writer without
//! waiting for each, then sends all the replies in order and only then
//! reads again. So a pipeline of writes joins one batch, a client that does
//! not read its replies stops being read (TCP pushes back; nothing is
//! buffered without end), and a read issued after a write on the same
//! connection waits for that write's reply before it takes its snapshot
//! (read-your-writes within a pipeline).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{oneshot, watch};

use crate::Shared;
use crate::command::{self, Command, ConnCommand, Read, error};
use crate::info;
use crate::keyspace;
use crate::resp::{Reply, RequestDecoder};
use crate::table;
use crate::writer::WriteRequest;

/// Bytes asked of the socket per read.
const READ_BYTES: usize = 4096;

/// Replies computed or awaited before they are sent, when a read brought
/// a long pipeline: bounds what a connection holds for its client.
const SLOTS_FLUSH: usize = 1024;

/// Output capacity a connection keeps between reads.
const OUT_BYTES_KEEP: usize = 64 << 10;

/// A reply in request order: known now, or coming from the writer.
enum Slot {
    Ready(Reply),
    Waiting(oneshot::Receiver<Reply>),
}

/// The state a connection carries between commands.
pub(crate) struct Client {
    pub(crate) id: u64,
    pub(crate) db: usize,
    pub(crate) name: Option<Vec<u8>>,
}

/// What a command asks of the connection after its reply.
#[derive(PartialEq, Eq)]
enum After {
    Continue,
    Close,
}

pub(crate) async fn serve(
    stream: TcpStream,
    shared: Arc<Shared>,
    id: u64,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut client = Client {
        id,
        db: 0,
        name: None,
    };
    let mut decoder = RequestDecoder::new(shared.config.limits);
    let mut buf = vec![0u8; READ_BYTES];
    let mut out = Vec::new();
    let mut slots = Vec::new();
    loop {
        let n = tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = stop.wait_for(|stopping| *stopping) => return,
        };
        decoder.feed(&buf[..n]);
        let mut after = After::Continue;
        if decoder.buffered_bytes() > shared.config.query_buffer_bytes_max {
            slots.push(Slot::Ready(error(
                "ERR Protocol error: query buffer over the limit (--max-query-buffer-bytes)",
            )));
            after = After::Close;
        }
        while after == After::Continue {
            let args = match decoder.next_command() {
                Ok(Some(args)) => args,
                Ok(None) => break,
                Err(e) => {
                    slots.push(Slot::Ready(Reply::from(e)));
                    after = After::Close;
                    break;
                }
            };
            shared.stats.commands.fetch_add(1, Ordering::Relaxed);
            let command = match command::parse(args, shared.key_limits) {
                Ok(c) => c,
                Err(reply) => {
                    slots.push(Slot::Ready(reply));
                    continue;
                }
            };
            match command {
                Command::Read(read) => {
                    if slots.iter().any(|s| matches!(s, Slot::Waiting(_))) {
                        resolve(&mut slots, &mut out).await;
                    }
                    let reply = run_read(&shared, client.db, read).await;
                    slots.push(Slot::Ready(reply));
                }
                Command::Write(write) => {
                    let (reply, rx) = oneshot::channel();
                    let request = WriteRequest {
                        db: client.db,
                        write,
                        reply,
                    };
                    match shared.writes.send(request).await {
                        Ok(()) => slots.push(Slot::Waiting(rx)),
                        Err(_) => slots.push(Slot::Ready(stopping())),
                    }
                }
                Command::Conn(ConnCommand::Save) => {
                    // Like a read, the copy holds the writes sent before it.
                    if slots.iter().any(|s| matches!(s, Slot::Waiting(_))) {
                        resolve(&mut slots, &mut out).await;
                    }
                    slots.push(Slot::Ready(save(&shared).await));
                }
                Command::Conn(c) => {
                    // INFO reports the keyspace: like a read, it sees the
                    // writes sent before it.
                    if matches!(c, ConnCommand::Info(_))
                        && slots.iter().any(|s| matches!(s, Slot::Waiting(_)))
                    {
                        resolve(&mut slots, &mut out).await;
                    }
                    let (reply, a) = connection_command(&shared, &mut client, c);
                    if let Some(reply) = reply {
                        slots.push(Slot::Ready(reply));
                    }
                    after = a;
                }
            }
            if slots.len() >= SLOTS_FLUSH {
                resolve(&mut slots, &mut out).await;
                if !send(&mut wr, &out, &mut stop).await {
                    return;
                }
                out.clear();
            }
        }
        resolve(&mut slots, &mut out).await;
        if !send(&mut wr, &out, &mut stop).await {
            return;
        }
        out.clear();
        if out.capacity() > OUT_BYTES_KEEP {
            out = Vec::new();
        }
        if after == After::Close {
            let _ = wr.shutdown().await;
            return;
        }
    }
}

/// How long a stopping server lets a client take the replies it is owed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Sends `out`; false if the client is gone. Once the server stops, a
/// client that does not read gets `STOP_GRACE` to take its replies, then
/// its connection is dropped, so it cannot hold the stop up.
async fn send(wr: &mut OwnedWriteHalf, out: &[u8], stop: &mut watch::Receiver<bool>) -> bool {
    let write = wr.write_all(out);
    tokio::pin!(write);
    tokio::select! {
        biased;
        r = &mut write => return r.is_ok(),
        _ = stop.wait_for(|stopping| *stopping) => {}
    }
    matches!(tokio::time::timeout(STOP_GRACE, write).await, Ok(Ok(())))
}

fn stopping() -> Reply {
    error("ERR the server is shutting down; the write was not taken")
}

/// Waits for the writer's replies and appends every reply, in order.
async fn resolve(slots: &mut Vec<Slot>, out: &mut Vec<u8>) {
    for slot in slots.drain(..) {
        let reply = match slot {
            Slot::Ready(r) => r,
            Slot::Waiting(rx) => rx.await.unwrap_or_else(|_| stopping()),
        };
        reply.encode(out);
    }
}

/// A read on a new snapshot. Reads that may walk much of the keyspace run
/// on the blocking pool, so they do not hold up other connections on the
/// same runtime thread (and work on any runtime flavour).
async fn run_read(shared: &Arc<Shared>, db: usize, read: Read) -> Reply {
    let long = match &read {
        Read::Keys(_) => true,
        Read::Range(q) => q.limit.is_none_or(|l| l > 1000),
        Read::Scan { count, .. } => *count > 1000,
        _ => false,
    };
    if !long {
        let rx = shared.db.begin_read();
        return keyspace::read(&rx, db, &read, &shared.cursors);
    }
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let rx = shared.db.begin_read();
        keyspace::read(&rx, db, &read, &shared.cursors)
    })
    .await
    .unwrap_or_else(|_| error("ERR the read failed"))
}

/// `SAVE`: a backup of the newest state to the save path, replacing the
/// file there, on the blocking pool (it reads the whole database and
/// fsyncs); answered once the copy is durable. Other connections go on
/// meanwhile, writes included: the copy is of one snapshot.
async fn save(shared: &Arc<Shared>) -> Reply {
    let Some(path) = shared.config.save_path.clone() else {
        return error(
            "ERR SAVE needs a save path: start the server with --save-path FILE \
             (Config::save_path)",
        );
    };
    let db = shared.db.clone();
    let options = oakmap::BackupOptions::new().overwrite(true);
    match tokio::task::spawn_blocking(move || db.backup_with(&path, options)).await {
        Ok(Ok(_)) => Reply::Simple("OK".into()),
        Ok(Err(e)) => error(format!("ERR SAVE failed: {e}")),
        Err(_) => error("ERR SAVE failed"),
    }
}

fn connection_command(
    shared: &Shared,
    client: &mut Client,
    c: ConnCommand,
) -> (Option<Reply>, After) {
    let ok = || Some(Reply::Simple("OK".into()));
    let reply = match c {
        ConnCommand::Ping(None) => Some(Reply::Simple("PONG".into())),
        ConnCommand::Ping(Some(m)) | ConnCommand::Echo(m) => Some(Reply::Bulk(m)),
        ConnCommand::Quit => return (ok(), After::Close),
        ConnCommand::Select(db) => {
            client.db = db;
            ok()
        }
        ConnCommand::Info(section) => Some(Reply::Bulk(
            info::text(shared, section.as_deref()).into_bytes(),
        )),
        ConnCommand::ConfigGet(params) => Some(info::config_get(shared, &params)),
        ConnCommand::CommandCount => Some(Reply::Integer(table::COMMANDS.len() as i64)),
        ConnCommand::CommandList => Some(table::list()),
        ConnCommand::CommandDocs(names) => Some(table::docs(&names)),
        ConnCommand::ClientSetName(name) => {
            client.name = (!name.is_empty()).then_some(name);
            ok()
        }
        ConnCommand::ClientGetName => Some(client.name.clone().map_or(Reply::NilBulk, Reply::Bulk)),
        ConnCommand::ClientId => Some(Reply::Integer(client.id as i64)),
        ConnCommand::ClientSetInfo => ok(),
        ConnCommand::Save => unreachable!("serve runs SAVE itself, off the task"),
        ConnCommand::Shutdown => {
            let _ = shared.stop.send(true);
            return (None, After::Close);
        }
    };
    (reply, After::Continue)
}
