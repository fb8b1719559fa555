//! The `oakmap` command: look inside a database file and measure the engine.
//!
//! * `oakmap dump FILE [FORM] [--json] [--force]` — every byte, decoded
//!   where it decodes. FORM is at most one of:
//!   - nothing: the header, both meta slots, the trees, and the log in brief;
//!   - `--tree NAME`: the tree's pages level by level (`catalog` is the tree
//!     of trees); add `--values` for every entry, `--key K` for one entry,
//!     or `--prefix P` for the entries whose keys start with P;
//!   - `--page N`: one page field by field, with a hex view; 0 is the file
//!     header, 1 and 2 the meta slots, 3 and up data pages;
//!   - `--freelist`: the newest checkpoint's free pages, as ranges
//!     (`7-12 15 20-4000`);
//!   - `--wal`: every WAL record.
//!
//!   With `--tree` and `--page`, keys and values are shown as escaped text
//!   (`\xNN` for a byte that is not printable ASCII; `\\`, `\n`, `\r`,
//!   `\t`, `\'`, `\"`) or, with `--hex`, as hex, each cut at `--max-bytes`
//!   (default 64). `--key` and `--prefix` are typed the same way, so a key
//!   can be copied from the output: `--key 'user\x00\xff'`, or `--hex --key
//!   7573657200ff`. Flags that do not combine are refused, not ignored.
//!   `--force` goes on past magic bytes that do not match. Exit 0; 2 for a
//!   usage error (among them a page past the end of the file and a tree the
//!   file does not hold: the message names the page count or the trees) or
//!   a file that cannot be read.
//! * `oakmap check FILE` — the full integrity check of the newest checkpoint
//!   (named by its txn id), the WAL chain included, and what the log holds
//!   past that checkpoint (commits, records, whether they replay cleanly);
//!   exit 0 clean, 1 with problems, 2 when the file cannot be opened.
//! * `oakmap stats FILE [--json]` — depth, pages per type, fill factor and
//!   free space of the newest checkpoint, and what the log holds past it.
//! * `oakmap recover FILE [--accept-log-loss]` — open, replay the log, close
//!   cleanly; the explicit way to accept losing commits a damaged log holds.
//! * `oakmap backup SRC DST [--overwrite]` — a dense, closed copy of a
//!   database no process has open (its log replayed first); exit 1 when SRC
//!   is open elsewhere (take the copy there: `Db::backup_to`, or `SAVE`) or
//!   DST exists.
//! * `oakmap compact FILE` — open a closed database, move the pages at the
//!   end of the file into free pages nearer its start, truncate it, close;
//!   prints the file size before and after.
//! * `oakmap crash-test` — the kill harness.
//! * `oakmap bench` — the standard workload on oakmap and, with `--engines`,
//!   its peers, printed as a table: the phases, then each engine's file size
//!   after the workload, after its own compaction, and of its compacted
//!   backup (`n/a` where it has none); then reference rows: the live data
//!   (entries × key and value bytes) with each compacted size as a multiple
//!   of it, and for oakmap, whatever `--engines` says, recovery after a
//!   crash, an fsync append, the online backup's time against a sequential
//!   write of as many bytes, and a writer's commit rate and readers' get
//!   latencies without and during backups.
//! * `oakmap serve FILE [--bind ADDR] [--durability immediate|group:5ms|none]
//!   [--save-path FILE]` — the Redis-protocol server (`oakmap-server`) on
//!   FILE; `SAVE` writes a backup to the save path.
//!
//! `dump`, `check` and `stats` open the files read-only and take no lock, so
//! they work on a database a server has open, and change nothing. What they
//! count is the newest checkpoint; commits since then are in the log, which
//! they describe (and `dump --wal` lists) but do not apply. In their JSON,
//! `file_id` is a hex string (as a number it would pass 2^53, where
//! JavaScript and jq lose digits), and page ranges are `[first, last]`
//! pairs.

mod backup;
mod bench;
mod compact;
mod crash;
mod dump;
mod engines;
mod plot;
mod recover;
mod serve;
mod shared;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
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
    /// Verify every checksum, ordering, reachability and count in FILE's
    /// newest checkpoint, and that its log replays.
    Check {
        /// The database file.
        file: PathBuf,
    },
    /// Print the shape and space use of FILE's newest checkpoint, and what
    /// its log holds past it.
    Stats {
        /// The database file.
        file: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Open FILE, replaying its log, and close it cleanly; with
    /// --accept-log-loss, also when its log cannot be recovered in full.
    Recover(recover::Args),
    /// Copy SRC, which no process has open, to DST: a dense, closed database.
    Backup(backup::Args),
    /// Compact closed FILE in place: move pages at the end of the file into
    /// free pages nearer its start, truncate it, and print its size before and after.
    Compact(compact::Args),
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

/// Which checkpoint a report describes: the meta slot recovery uses.
fn checkpoint_line(db: &RawDb) -> String {
    match db.metas().iter().find(|m| m.newest) {
        Some(m) => {
            let meta = m.meta.as_ref().ok();
            format!(
                "checkpoint txn {} (meta slot {}), {} pages",
                meta.map_or(0, |m| m.txn_id),
                m.slot,
                meta.map_or(0, |m| m.page_count)
            )
        }
        None => "no valid meta slot: no checkpoint to describe".into(),
    }
}

fn check(file: &Path) -> ExitCode {
    let db = match RawDb::open(file) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("oakmap check: {e}");
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
    let wal = db.wal();
    let mut out = format!(
        "{}:\n{report}{}\n",
        checkpoint_line(&db),
        dump::log_tail_text(&wal)
    );
    if wal.beyond_checkpoint.commits > 0 {
        out += "(the counts above are the checkpoint's: they do not include the log's commits)\n";
    }
    let status = if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    emit("check", &out, status)
}

fn stats(file: &Path, as_json: bool) -> Result<String, oakmap::Error> {
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
    let file_id = db.header().header.map(|h| format!("{:016x}", h.file_id));
    if as_json {
        return Ok(dump::json_text(&serde_json::json!({
            "file": file.to_string_lossy(),
            "file_bytes": db.file_bytes(),
            "page_bytes": db.page_bytes(),
            "file_id": file_id,
            "checkpoint": meta.map(|m| serde_json::json!({
                "txn_id": m.txn_id,
                "slot": db.metas().iter().position(|s| s.newest),
                "page_count": m.page_count,
            })),
            "pages": {
                "total": r.pages, "free": r.free_pages, "branch": r.branch_pages,
                "leaf": r.leaf_pages, "overflow": r.overflow_pages, "freelist": r.freelist_pages,
            },
            "fill_percent": fill,
            "trees": r.tree_summaries.iter().map(|t| serde_json::json!({
                "name": t.name, "depth": t.depth, "entries": t.entries,
            })).collect::<Vec<_>>(),
            "wal": {
                "bytes": wal_bytes,
                "recovery": wal.recovery.as_ref().ok(),
                "recovery_error": wal.recovery.as_ref().err(),
            },
            "log_beyond_checkpoint": dump::log_tail_json(&wal),
            "problems": r.problems.len(),
        })));
    }
    let mut t = format!(
        "file            {}\nfile bytes      {}\npage bytes      {}\nfile id         {}\n",
        file.display(),
        db.file_bytes(),
        db.page_bytes(),
        file_id.as_deref().unwrap_or("(header damaged)")
    );
    t += &format!("{}\n", checkpoint_line(&db));
    t += &format!("pages           {} (free {})\n", r.pages, r.free_pages);
    t += &format!("  branch        {}\n", r.branch_pages);
    t += &format!("  leaf          {}\n", r.leaf_pages);
    t += &format!("  overflow      {}\n", r.overflow_pages);
    t += &format!("  freelist      {}\n", r.freelist_pages);
    t += &format!("fill factor     {fill:.1}% of branch and leaf page bodies\n");
    t += &format!("trees           {}\n", r.trees);
    for tree in &r.tree_summaries {
        t += &format!(
            "  {:<24} depth {:>2}  entries {}\n",
            tree.name, tree.depth, tree.entries
        );
    }
    t += &format!(
        "wal bytes       {wal_bytes} ({})\n",
        dump::replay_text(&wal)
    );
    t += &format!("{}\n", dump::log_tail_text(&wal));
    if !r.is_clean() {
        t += &format!(
            "integrity       {} problems (run `oakmap check`)\n",
            r.problems.len()
        );
    }
    Ok(t)
}

/// Writes a command's output to stdout and returns `status`. A reader
/// that went away (`oakmap dump --wal | head`) is no error; another write
/// error is reported, with exit status 2.
fn emit(command: &str, out: &str, status: ExitCode) -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => status,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => status,
        Err(e) => {
            eprintln!("oakmap {command}: cannot write the output: {e}");
            ExitCode::from(2)
        }
    }
}

/// Reports a usage error found after parsing as clap reports its own:
/// the message, the subcommand's usage, and exit status 2.
fn usage_error(subcommand: &str, message: &str) -> ExitCode {
    let mut cli = Cli::command();
    cli.build();
    let error = match cli.find_subcommand_mut(subcommand) {
        Some(cmd) => cmd.error(ErrorKind::ValueValidation, message),
        None => cli.error(ErrorKind::ValueValidation, message),
    };
    // If stderr is closed there is no one to tell.
    let _ = error.print();
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Dump(args) => match dump::run(&args) {
            Ok(out) => emit("dump", &out, ExitCode::SUCCESS),
            Err(dump::Failed::Usage(message)) => usage_error("dump", &message),
            Err(dump::Failed::Db(e)) => {
                eprintln!("oakmap dump: {e}{}", dump::hint(&e));
                ExitCode::from(2)
            }
        },
        Command::Recover(args) => recover::run(&args),
        Command::Backup(args) => backup::run(&args),
        Command::Compact(args) => compact::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::CrashTest(args) => crash::run(&args),
        Command::CrashChild(args) => crash::child(&args),
        Command::Check { file } => check(&file),
        Command::Stats { file, json } => match stats(&file, json) {
            Ok(out) => emit("stats", &out, ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("oakmap stats: {e}");
                ExitCode::from(2)
            }
        },
        Command::Bench(args) => bench::run(&args),
    }
}
