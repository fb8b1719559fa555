//! `oakmap serve`: the Redis-protocol server (`oakmap-server`) on a
//! database file, until SIGTERM, SIGINT or `SHUTDOWN`; then it answers what
//! is in flight, closes the database cleanly (a last checkpoint) and exits 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oakmap::{Durability, Options};
use oakmap_server::{Config, Server};

use crate::shared;

#[derive(clap::Args)]
pub struct Args {
    /// The database file (created if missing).
    file: PathBuf,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:6380")]
    bind: SocketAddr,
    /// When a write's reply is sent: `immediate` (after its fsync, shared
    /// by every write committing with it), `group:5ms` (after it is
    /// written; fsynced within the interval), or `none`.
    #[arg(long, default_value = "immediate", value_parser = parse_durability)]
    durability: Durability,
    /// The bound on the writer's page cache, in bytes.
    #[arg(long)]
    cache_bytes: Option<usize>,
    /// The write-ahead log's bound, in bytes: a checkpoint starts at half
    /// of it (the engine's default when not given).
    #[arg(long)]
    wal_bytes_max: Option<u64>,
    /// The longest time between checkpoints while commits come in, in
    /// milliseconds (the engine's default when not given).
    #[arg(long)]
    checkpoint_interval_ms: Option<u64>,
    /// Connections served at once.
    #[arg(long, default_value_t = 10_000)]
    max_clients: usize,
    /// The largest bulk string a request may carry, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_bulk_bytes: usize,
    /// The most arguments a request may carry.
    #[arg(long, default_value_t = 1 << 20)]
    max_args: usize,
    /// Where `SAVE` writes a backup (a dense, closed database), replacing
    /// the file there; without it `SAVE` answers an error.
    #[arg(long)]
    save_path: Option<PathBuf>,
}

/// `immediate`, `none`, or `group:<n>ms` / `group:<n>s` / `group:<n>us`.
fn parse_durability(s: &str) -> Result<Durability, String> {
    match s {
        "immediate" => Ok(Durability::Immediate),
        "none" => Ok(Durability::None),
        _ => {
            let interval = s
                .strip_prefix("group:")
                .ok_or_else(|| format!("`{s}`: expected immediate, group:<interval> or none"))?;
            let (digits, unit) = interval
                .find(|c: char| !c.is_ascii_digit())
                .map_or((interval, ""), |i| interval.split_at(i));
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("`{interval}`: expected a number and a unit, like 5ms"))?;
            let d = match unit {
                "us" => Duration::from_micros(n),
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                _ => return Err(format!("`{interval}`: the unit is us, ms or s")),
            };
            Ok(Durability::Group(d))
        }
    }
}

fn durability_name(d: Durability) -> String {
    match d {
        Durability::Immediate => "always".into(),
        Durability::Group(i) => format!("group:{}ms", i.as_millis()),
        Durability::None => "no".into(),
    }
}

pub fn run(args: &Args) -> ExitCode {
    let mut options = Options::new().durability(args.durability);
    if let Some(bytes) = args.cache_bytes {
        options = options.cache_bytes(bytes);
    }
    if let Some(bytes) = args.wal_bytes_max {
        options = options.wal_bytes_max(bytes);
    }
    if let Some(ms) = args.checkpoint_interval_ms {
        options = options.checkpoint_interval(Duration::from_millis(ms));
    }
    let opened = Instant::now();
    let db = match options.open(&args.file) {
        Ok(db) => Arc::new(db),
        Err(e) => {
            eprintln!("oakmap serve: {}", shared::open_error(&args.file, &e));
            return ExitCode::from(2);
        }
    };
    let open_time = opened.elapsed();
    let mut config = Config::new(args.bind);
    config.max_clients = args.max_clients;
    config.limits.bulk_bytes_max = args.max_bulk_bytes;
    config.limits.args_max = args.max_args;
    config.durability_name = durability_name(args.durability);
    config.save_path = args.save_path.clone();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("oakmap serve: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let served = runtime.block_on(async {
        let server = Server::bind(db.clone(), config).await?;
        let (txn, replayed) = db
            .stats()
            .map(|s| (s.txn_id, s.replayed_commits))
            .unwrap_or_default();
        eprintln!(
            "oakmap serve: listening on {}, file {}, durability {}, opened at commit {} \
             in {:.1} ms ({} commits recovered from the log){}",
            server.local_addr(),
            db.path().display(),
            durability_name(args.durability),
            txn,
            open_time.as_secs_f64() * 1e3,
            replayed,
            db.log_loss()
                .map_or(String::new(), |l| format!(" (ACCEPTED LOG LOSS: {l})")),
        );
        server.run(stop_signal()).await
    });
    drop(runtime);
    if let Err(e) = served {
        eprintln!("oakmap serve: {e}");
        return ExitCode::from(2);
    }
    let db = match Arc::try_unwrap(db) {
        Ok(db) => db,
        Err(_) => {
            eprintln!(
                "oakmap serve: stopped, but the database is still in use; not closed cleanly"
            );
            return ExitCode::FAILURE;
        }
    };
    match db.close() {
        Ok(()) => {
            eprintln!("oakmap serve: stopped; database closed cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "oakmap serve: stopped; closing the database failed ({e}): the next open recovers from the log"
            );
            ExitCode::FAILURE
        }
    }
}

/// Completes at SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers only SHUTDOWN stops the server.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
