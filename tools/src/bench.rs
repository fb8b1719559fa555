//! The standard workload: random 24-byte keys and 150-byte values from a
//! seeded generator, run phase by phase on one database, printed as a table.
//! The last row is a reference measured in the same run and directory: one
//! 4 KiB append plus fdatasync, the floor for a durable commit.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oakmap::{Durability, Options};

#[derive(clap::Args)]
pub struct Args {
    /// Entries to bulk load.
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Seed of the key and value generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Directory for the database (a fresh subdirectory is made and removed);
    /// it should be on the disk you care about, not a tmpfs.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Page size of the database.
    #[arg(long, default_value_t = 4096)]
    page_bytes: usize,
    /// Keep the database file afterwards (its path is printed), for
    /// `oakmap check` and `oakmap stats`.
    #[arg(long)]
    keep: bool,
}

const KEY_BYTES: usize = 24;
const VALUE_BYTES: usize = 150;
const TREE: &str = "bench";

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Row {
    phase: String,
    ops: u64,
    elapsed: Duration,
    note: String,
}

impl Row {
    fn new(phase: &str, ops: u64, elapsed: Duration, note: String) -> Row {
        Row {
            phase: phase.to_string(),
            ops,
            elapsed,
            note,
        }
    }
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<36} {:>10} {:>10} {:>14}  notes",
        "phase", "ops", "seconds", "ops/s"
    );
    println!("{}", "-".repeat(96));
    for r in rows {
        let secs = r.elapsed.as_secs_f64();
        let rate = if secs > 0.0 && r.ops > 0 {
            format!("{:.0}", r.ops as f64 / secs)
        } else {
            "-".to_string()
        };
        println!(
            "{:<36} {:>10} {:>10.3} {:>14}  {}",
            r.phase, r.ops, secs, rate, r.note
        );
    }
}

fn percentiles(mut lat: Vec<Duration>) -> String {
    lat.sort_unstable();
    let at = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    format!(
        "p50 {:.0}us p99 {:.0}us max {:.0}us",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        lat.last().unwrap().as_secs_f64() * 1e6
    )
}

/// The state every phase works on.
struct Workload {
    db: Arc<oakmap::Db>,
    keys: Arc<Vec<[u8; KEY_BYTES]>>,
    rng: Rng,
    seed: u64,
}

impl Workload {
    fn random_pair(&mut self) -> ([u8; KEY_BYTES], [u8; VALUE_BYTES]) {
        let mut k = [0u8; KEY_BYTES];
        let mut v = [0u8; VALUE_BYTES];
        self.rng.fill(&mut k);
        self.rng.fill(&mut v);
        (k, v)
    }

    fn bulk_load(&mut self) -> oakmap::Result<Row> {
        let t0 = Instant::now();
        let mut tx = self.db.begin_write()?;
        let mut t = tx.open_tree(TREE)?;
        let mut value = [0u8; VALUE_BYTES];
        for k in self.keys.iter() {
            self.rng.fill(&mut value);
            t.insert(k, &value)?;
        }
        tx.commit()?;
        Ok(Row::new(
            "bulk load (1 txn)",
            self.keys.len() as u64,
            t0.elapsed(),
            String::new(),
        ))
    }

    /// 1,000 durable single-insert commits split over `threads` threads;
    /// the note gives latency percentiles and commits per WAL fsync.
    fn durable_commits(&mut self, threads: usize) -> oakmap::Result<Row> {
        let per_thread = 1000 / threads;
        let work: Vec<Vec<_>> = (0..threads)
            .map(|_| (0..per_thread).map(|_| self.random_pair()).collect())
            .collect();
        let before = self.db.stats()?;
        let t0 = Instant::now();
        let handles: Vec<_> = work
            .into_iter()
            .map(|pairs| {
                let db = self.db.clone();
                std::thread::spawn(move || -> oakmap::Result<Vec<Duration>> {
                    let mut lat = Vec::with_capacity(pairs.len());
                    for (k, v) in pairs {
                        let s = Instant::now();
                        db.insert(TREE, &k, &v)?;
                        lat.push(s.elapsed());
                    }
                    Ok(lat)
                })
            })
            .collect();
        let mut lat = Vec::new();
        for h in handles {
            lat.extend(h.join().expect("writer thread")?);
        }
        let elapsed = t0.elapsed();
        let after = self.db.stats()?;
        let fsyncs = (after.wal_fsyncs - before.wal_fsyncs).max(1);
        let per_fsync = (after.commits - before.commits) as f64 / fsyncs as f64;
        let plural = if threads == 1 { "" } else { "s" };
        let phase = format!("durable commits, {threads} thread{plural}");
        let note = format!("{}; {per_fsync:.1} commits/fsync", percentiles(lat));
        Ok(Row::new(
            &phase,
            (per_thread * threads) as u64,
            elapsed,
            note,
        ))
    }

    fn batched_commits(&mut self) -> oakmap::Result<Row> {
        let t0 = Instant::now();
        for _ in 0..100 {
            let batch: Vec<_> = (0..1000).map(|_| self.random_pair()).collect();
            let mut tx = self.db.begin_write()?;
            let mut t = tx.open_tree(TREE)?;
            for (k, v) in &batch {
                t.insert(k, v)?;
            }
            tx.commit()?;
        }
        Ok(Row::new(
            "100 commits of 1,000 inserts",
            100_000,
            t0.elapsed(),
            String::new(),
        ))
    }

    fn len(&mut self) -> oakmap::Result<Row> {
        let t0 = Instant::now();
        let len = self
            .db
            .begin_read()
            .tree(TREE)?
            .map_or(Ok(0), |t| t.len())?;
        Ok(Row::new("len", 1, t0.elapsed(), format!("{len} entries")))
    }

    fn gets(&mut self, phase: &str) -> oakmap::Result<Row> {
        let rx = self.db.begin_read();
        let t = rx.tree(TREE)?.expect("bench tree");
        let t0 = Instant::now();
        let mut found = 0u64;
        for _ in 0..1_000_000 {
            let k = &self.keys[self.rng.below(self.keys.len())];
            found += u64::from(t.get(k)?.is_some());
        }
        Ok(Row::new(
            phase,
            1_000_000,
            t0.elapsed(),
            format!("{found} found"),
        ))
    }

    fn range_reads(&mut self) -> oakmap::Result<Row> {
        let rx = self.db.begin_read();
        let t = rx.tree(TREE)?.expect("bench tree");
        let t0 = Instant::now();
        let mut entries = 0u64;
        for _ in 0..500_000 {
            let k = &self.keys[self.rng.below(self.keys.len())];
            for e in t.range(k.as_slice()..)?.take(10) {
                e?;
                entries += 1;
            }
        }
        Ok(Row::new(
            "range reads of 10",
            500_000,
            t0.elapsed(),
            format!("{entries} entries"),
        ))
    }

    /// 1,000,000 gets split over `threads` threads, each in its own snapshot.
    fn threaded_gets(&mut self, threads: usize) -> oakmap::Result<Row> {
        let per_thread = 1_000_000 / threads;
        let t0 = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (db, keys) = (self.db.clone(), self.keys.clone());
                let seed = self.seed ^ ((i as u64 + 1) * 0x1234_5678);
                std::thread::spawn(move || -> oakmap::Result<u64> {
                    let mut rng = Rng(seed);
                    let rx = db.begin_read();
                    let t = rx.tree(TREE)?.expect("bench tree");
                    let mut found = 0;
                    for _ in 0..per_thread {
                        found += u64::from(t.get(&keys[rng.below(keys.len())])?.is_some());
                    }
                    Ok(found)
                })
            })
            .collect();
        let mut found = 0;
        for h in handles {
            found += h.join().expect("reader thread")?;
        }
        let phase = format!(
            "random gets, {threads} thread{}",
            if threads == 1 { "" } else { "s" }
        );
        Ok(Row::new(
            &phase,
            (per_thread * threads) as u64,
            t0.elapsed(),
            format!("{found} found"),
        ))
    }

    fn remove_half(&mut self) -> oakmap::Result<Row> {
        let t0 = Instant::now();
        let mut tx = self.db.begin_write()?;
        let mut t = tx.open_tree(TREE)?;
        for k in self.keys.iter().step_by(2) {
            t.remove(k)?;
        }
        tx.commit()?;
        let n = self.keys.len().div_ceil(2) as u64;
        Ok(Row::new(
            "remove half the keys (1 txn)",
            n,
            t0.elapsed(),
            String::new(),
        ))
    }

    fn file_size(&mut self) -> oakmap::Result<Row> {
        let stats = self.db.stats()?;
        let note = format!(
            "{:.1} MiB ({} pages in use, {} free)",
            stats.file_bytes as f64 / (1 << 20) as f64,
            stats.pages_in_use,
            stats.free_pages
        );
        Ok(Row::new("file size", 0, Duration::ZERO, note))
    }
}

pub fn run(args: &Args) -> oakmap::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let dir = tempfile::Builder::new()
        .prefix("oakmap-bench-")
        .tempdir_in(&args.dir)?;
    let path = dir.path().join("bench.oak");
    let db = Options::new()
        .page_bytes(args.page_bytes)
        .durability(Durability::Immediate)
        .open(&path)?;
    let mut rng = Rng(args.seed);
    let mut keys = vec![[0u8; KEY_BYTES]; args.entries as usize];
    for k in keys.iter_mut() {
        rng.fill(k);
    }
    println!(
        "oakmap bench: {} entries, {KEY_BYTES}-byte keys, {VALUE_BYTES}-byte values, seed {}, page {} bytes, in {}",
        args.entries,
        args.seed,
        args.page_bytes,
        dir.path().display()
    );
    let mut w = Workload {
        db: Arc::new(db),
        keys: Arc::new(keys),
        rng,
        seed: args.seed,
    };
    let rows = vec![
        w.bulk_load()?,
        w.durable_commits(1)?,
        w.durable_commits(4)?,
        w.batched_commits()?,
        w.len()?,
        w.gets("random gets (1st pass)")?,
        w.gets("random gets (2nd pass)")?,
        w.range_reads()?,
        w.threaded_gets(1)?,
        w.threaded_gets(2)?,
        w.threaded_gets(4)?,
        w.remove_half()?,
        w.file_size()?,
        recovery(dir.path(), args.seed)?,
        fsync_reference(dir.path())?,
    ];
    print_rows(&rows);
    drop(w);
    if args.keep {
        let kept = dir.keep();
        println!("kept {}", kept.join("bench.oak").display());
    }
    Ok(())
}

/// Recovery after a crash with a full WAL at the default bound (64 MiB):
/// fill a fresh database's log with batched commits, copy its files as a
/// crash would leave them, and time opening the copy.
fn recovery(dir: &std::path::Path, seed: u64) -> oakmap::Result<Row> {
    const WAL_BYTES: u64 = 64 << 20;
    let live = dir.join("recovery.oak");
    let db = Options::new()
        .wal_bytes_max(4 * WAL_BYTES)
        .checkpoint_interval(Duration::from_secs(3600))
        .durability(Durability::None)
        .open(&live)?;
    let mut rng = Rng(seed ^ 0xdead_beef);
    let (mut k, mut v) = ([0u8; KEY_BYTES], [0u8; VALUE_BYTES]);
    let mut records = 0u64;
    while db.stats()?.wal_bytes < WAL_BYTES {
        let mut tx = db.begin_write()?;
        let mut t = tx.open_tree(TREE)?;
        for _ in 0..1000 {
            rng.fill(&mut k);
            rng.fill(&mut v);
            t.insert(&k, &v)?;
        }
        tx.commit()?;
        records += 1;
    }
    db.sync()?;
    let wal_bytes = db.stats()?.wal_bytes;
    let image = dir.join("recovered.oak");
    crate::crash::copy_db(&live, &image)?;
    drop(db);
    let t0 = Instant::now();
    let recovered = Options::new().open(&image)?;
    let elapsed = t0.elapsed();
    let entries = recovered
        .begin_read()
        .tree(TREE)?
        .map_or(Ok(0), |t| t.len())?;
    let note = format!(
        "{:.0} MiB WAL, {records} records, {entries} entries",
        wal_bytes as f64 / (1 << 20) as f64
    );
    Ok(Row::new(
        "recovery: open after crash",
        records,
        elapsed,
        note,
    ))
}

/// One 4 KiB append plus fdatasync, 1,000 times: the floor for a durable commit.
fn fsync_reference(dir: &std::path::Path) -> oakmap::Result<Row> {
    let path = dir.join("fsync-reference");
    let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
    let page = [0x5au8; 4096];
    let mut lat = Vec::with_capacity(1000);
    let t0 = Instant::now();
    for _ in 0..1000 {
        let s = Instant::now();
        f.write_all(&page)?;
        f.sync_data()?;
        lat.push(s.elapsed());
    }
    let elapsed = t0.elapsed();
    std::fs::remove_file(&path)?;
    Ok(Row::new(
        "reference: 4 KiB append + fdatasync",
        1000,
        elapsed,
        percentiles(lat),
    ))
}
