//! The `oakmap` command: look inside a database file and measure the engine.
//!
//! * `oakmap dump FILE [--tree NAME [--values] | --page N | --freelist | --wal] [--json] [--force]`
//!   — every byte, decoded where it decodes (read-only, no lock); `--force`
//!   goes on past magic bytes that do not match.
//! * `oakmap check FILE` — the full integrity check, WAL chain included; exit
//!   0 clean, 1 with problems, 2 when the file cannot be opened.
//! * `oakmap stats FILE` — depth, pages per type, fill factor, free space.
//! * `oakmap recover FILE [--accept-log-loss]` — open, replay the log, close
//!   cleanly; the explicit way to accept losing commits a damaged log holds.
//! * `oakmap crash-test` — the kill harness.
//! * `oakmap bench` — the standard workload, printed as a table.
//! * `oakmap serve FILE [--bind ADDR] [--durability immediate|group:5ms|none]`
//!   — the Redis-protocol server (`oakmap-server`) on FILE.
//!
//! `dump`, `check` and `stats` open the files read-only and take no lock, so
//! they work on a database a server has open, and change nothing.

mod bench;
mod crash;
mod dump;
mod engines;
mod plot;
mod recover;
mod serve;
mod shared;

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use oakmap::inspect::RawDb;

#[derive(Parser)]
#[command(
    name = "oakmap",
    version,
    about = "Inspect and benchmark oakmap databases"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the header, meta slots, trees, pages, freelist or WAL of FILE.
    Dump(dump::Args),
    /// Verify every checksum, ordering, reachability and count in FILE.
    Check {
        /// The database file.
        file: PathBuf,
    },
    /// Print the shape and space use of FILE.
    Stats {
        /// The database file.
        file: PathBuf,
    },
    /// Open FILE, replaying its log, and close it cleanly; with
    /// --accept-log-loss, also when its log cannot be recovered in full.
    Recover(recover::Args),
    /// Kill a writer process at random moments and verify what survives.
    CrashTest(crash::Args),
    /// The writer the crash test kills (internal).
    #[command(hide = true)]
    CrashChild(crash::ChildArgs),
    /// Run the standard workload and print a table of figures.
    Bench(bench::Args),
    /// Serve FILE over the Redis protocol (redis-cli, redis-benchmark and
    /// Redis clients work unchanged) until SIGTERM, SIGINT or SHUTDOWN.
    Serve(serve::Args),
}

fn check(file: &PathBuf) -> ExitCode {
    let db = match RawDb::open(file) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("oakmap check: cannot open {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let show_progress = std::io::stderr().is_terminal();
    let progress = |done: u64, total: u64| {
        if show_progress && total > 100_000 {
            eprint!(
                "\rchecking: {:>3}% of {total} pages",
                done * 100 / total.max(1)
            );
        }
    };
    let report = db.check(Some(&progress));
    if show_progress && report.pages > 100_000 {
        eprintln!();
    }
    print!("{report}");
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn stats(file: &PathBuf) -> Result<(), oakmap::Error> {
    let db = RawDb::open(file)?;
    let r = db.check(None);
    let fill = if r.node_bytes_total == 0 {
        0.0
    } else {
        100.0 * r.node_bytes_used as f64 / r.node_bytes_total as f64
    };
    let wal = db.wal();
    let wal_bytes: u64 = wal.files.iter().map(|f| f.bytes).sum();
    let meta = db.newest_meta();
    println!("file            {}", file.display());
    println!("file bytes      {}", db.file_bytes());
    println!("page bytes      {}", db.page_bytes());
    println!("checkpoint txn  {}", meta.map_or(0, |m| m.txn_id));
    println!("pages           {} (free {})", r.pages, r.free_pages);
    println!("  branch        {}", r.branch_pages);
    println!("  leaf          {}", r.leaf_pages);
    println!("  overflow      {}", r.overflow_pages);
    println!("  freelist      {}", r.freelist_pages);
    println!("fill factor     {fill:.1}% of branch and leaf page bodies");
    println!("trees           {}", r.trees);
    for t in &r.tree_summaries {
        println!(
            "  {:<24} depth {:>2}  entries {}",
            t.name, t.depth, t.entries
        );
    }
    let replay = wal.recovery.as_ref().map_or_else(
        |e| format!("recovery would fail: {e}"),
        |n| format!("{n} records to replay"),
    );
    println!("wal bytes       {wal_bytes} ({replay})");
    if !r.is_clean() {
        println!(
            "integrity       {} problems (run `oakmap check`)",
            r.problems.len()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Dump(args) => match dump::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("oakmap dump: {e}{}", dump::hint(&e));
                ExitCode::from(2)
            }
        },
        Command::Recover(args) => recover::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::CrashTest(args) => crash::run(&args),
        Command::CrashChild(args) => crash::child(&args),
        Command::Check { file } => check(&file),
        Command::Stats { file } => match stats(&file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("oakmap stats: {e}");
                ExitCode::from(2)
            }
        },
        Command::Bench(args) => bench::run(&args),
    }
}
