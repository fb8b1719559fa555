//! The `oakmap` command: look inside a database file and measure the engine.
//!
//! * `oakmap check FILE` — the full integrity check; exit 0 clean, 1 with
//!   problems, 2 when the file cannot be opened.
//! * `oakmap stats FILE` — depth, pages per type, fill factor, free space.
//! * `oakmap bench` — the standard workload, printed as a table.

mod bench;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use oakmap::{Db, Options};

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
    /// Run the standard workload and print a table of figures.
    Bench(bench::Args),
}

fn open_existing(file: &PathBuf) -> Result<Db, oakmap::Error> {
    Options::new().create(false).open(file)
}

fn check(file: &PathBuf) -> ExitCode {
    let db = match open_existing(file) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("oakmap check: cannot open {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    match db.check() {
        Ok(report) => {
            print!("{report}");
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("oakmap check: {e}");
            ExitCode::from(1)
        }
    }
}

fn stats(file: &PathBuf) -> Result<(), oakmap::Error> {
    let db = open_existing(file)?;
    let s = db.stats()?;
    let r = db.check()?;
    let fill = if r.node_bytes_total == 0 {
        0.0
    } else {
        100.0 * r.node_bytes_used as f64 / r.node_bytes_total as f64
    };
    println!("file            {}", file.display());
    println!("file bytes      {}", s.file_bytes);
    println!("page bytes      {}", s.page_bytes);
    println!("txn id          {}", s.txn_id);
    println!(
        "pages           {} (in use {}, free {})",
        r.pages, s.pages_in_use, s.free_pages
    );
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
        Command::Check { file } => check(&file),
        Command::Stats { file } => match stats(&file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("oakmap stats: {e}");
                ExitCode::from(2)
            }
        },
        Command::Bench(args) => match bench::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("oakmap bench: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
