//! `oakmap compact`: open a closed database, compact it in place
//! (`Db::compact`), close it cleanly, and print its size before and after.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::shared;

use oakmap::Options;

#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    file: PathBuf,
}

pub fn run(args: &Args) -> ExitCode {
    let db = match Options::new().create(false).open(&args.file) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("oakmap compact: {}", shared::open_error(&args.file, &e));
            return ExitCode::from(2);
        }
    };
    let done = match db.compact() {
        Ok(done) => done,
        Err(e) => {
            eprintln!("oakmap compact: {}: {e}", args.file.display());
            return ExitCode::from(1);
        }
    };
    if let Err(e) = db.close() {
        eprintln!(
            "oakmap compact: {}: compacted, but the clean close failed: {e}",
            args.file.display()
        );
        return ExitCode::from(1);
    }
    // The close trims the room grown ahead of the last page too.
    let after = std::fs::metadata(&args.file).map_or(done.bytes_after, |m| m.len());
    println!(
        "{}: {} bytes before, {after} bytes after; {} pages moved and {} leaves saved by \
         packing, in {} commits",
        args.file.display(),
        done.bytes_before,
        done.pages_moved,
        done.leaves_saved,
        done.commits
    );
    ExitCode::SUCCESS
}
