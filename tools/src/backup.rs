//! `oakmap backup SRC DST`: a dense, closed copy of a database no process
//! has open. SRC is opened as a server would open it (its log replayed),
//! copied with `Db::backup_to`, and closed cleanly. A database a process has
//! open is locked: the copy must then come from that process
//! (`Db::backup_to`, or `SAVE` on `oakmap serve`), and this says so.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use oakmap::{BackupOptions, Error, Options};

use crate::shared;

#[derive(clap::Args)]
pub struct Args {
    /// The database to copy.
    src: PathBuf,
    /// Where the copy goes; refused if it exists, unless --overwrite.
    dst: PathBuf,
    /// Replace DST if it exists (and the log files beside it).
    #[arg(long)]
    overwrite: bool,
}

pub fn run(args: &Args) -> ExitCode {
    if !args.src.exists() {
        eprintln!("oakmap backup: {}: no such file", args.src.display());
        return ExitCode::from(2);
    }
    let db = match Options::new().create(false).open(&args.src) {
        Ok(db) => db,
        Err(Error::Locked { path }) => {
            eprintln!(
                "oakmap backup: {} is open in another process (it is locked), so it cannot \
                 be opened here. Take the backup in that process: Db::backup_to in a \
                 program, or SAVE on `oakmap serve --save-path FILE`.",
                path.display()
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("oakmap backup: {}", shared::open_error(&args.src, &e));
            return ExitCode::from(2);
        }
    };
    let source_bytes = db.stats().map_or(0, |s| s.file_bytes);
    let started = Instant::now();
    let options = BackupOptions::new().overwrite(args.overwrite);
    let report = match db.backup_with(&args.dst, options) {
        Ok(report) => report,
        Err(Error::Io { path, source }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "oakmap backup: {} exists: {source}; pass --overwrite to replace it",
                path.display()
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("oakmap backup: {e}");
            return ExitCode::from(1);
        }
    };
    let elapsed = started.elapsed();
    if let Err(e) = db.close() {
        // The copy is whole and durable; only SRC's clean close failed, and
        // its next open recovers from its log as usual.
        eprintln!(
            "oakmap backup: the copy is written, but {} did not close cleanly: {e}",
            args.src.display()
        );
        return ExitCode::from(1);
    }
    let mb = report.file_bytes as f64 / 1e6;
    println!(
        "{}: commit {}, {} trees, {} entries, {} pages ({:.1} MB; the source file is {:.1} MB) \
         in {:.2}s ({:.0} MB/s, {})",
        args.dst.display(),
        report.txn_id,
        report.trees,
        report.entries,
        report.page_count,
        mb,
        source_bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        mb / elapsed.as_secs_f64().max(1e-9),
        if report.direct_io {
            "direct I/O"
        } else {
            "through the page cache"
        }
    );
    ExitCode::SUCCESS
}
