//! `oakmap recover`: open a database the way a server would, replaying its
//! log, and close it cleanly; with `--accept-log-loss`, also when its log
//! cannot be recovered in full, keeping the commits up to the first that
//! cannot be read. The explicit way to accept losing acknowledged commits.

use std::path::PathBuf;
use std::process::ExitCode;

use oakmap::{Error, Options};

use crate::shared;

#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    file: PathBuf,
    /// Open even if the write-ahead log the newest checkpoint needs is
    /// missing or damaged: keep the commits up to the first that cannot be
    /// read and DROP the acknowledged commits after it.
    #[arg(long)]
    accept_log_loss: bool,
}

pub fn run(args: &Args) -> ExitCode {
    let opened = Options::new()
        .create(false)
        .accept_log_loss(args.accept_log_loss)
        .open(&args.file);
    let db = match opened {
        Ok(db) => db,
        Err(e @ Error::WalCorruption { .. }) => {
            eprintln!("oakmap recover: {e}");
            if !args.accept_log_loss {
                eprintln!(
                    "To go on without those commits: oakmap recover --accept-log-loss {} \
                     (copy the database and its .wal0/.wal1 files first to keep them).",
                    args.file.display()
                );
            }
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("oakmap recover: {}", shared::open_error(&args.file, &e));
            return ExitCode::from(2);
        }
    };
    let txn = db.begin_read().id();
    let loss = db.log_loss().map(str::to_owned);
    if let Err(e) = db.close() {
        // The replayed state is checkpointed; only the clean mark (or the
        // trim) is missing, and the log still holds what the file lacks.
        eprintln!(
            "oakmap recover: {}: recovered to commit {txn}, but the clean close failed: {e}",
            args.file.display()
        );
        return ExitCode::from(1);
    }
    match loss {
        Some(why) => println!(
            "{}: recovered to commit {txn}; the commits after it are LOST: {why}",
            args.file.display()
        ),
        None => println!(
            "{}: recovered to commit {txn}; nothing was lost",
            args.file.display()
        ),
    }
    ExitCode::SUCCESS
}
