//! The standard workload: random 24-byte keys and 150-byte values from a
//! seeded generator, run phase by phase on oakmap and, with `--engines`, on
//! its peers one after another, printed as one table.
//! The last row is a reference measured in the same run and directory: one
//! 4 KiB append plus fdatasync, the floor for a durable commit.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oakmap::{Durability, Options};

use crate::engines::{self, BenchResult, Engine, Pairs, SlicePairs};
use crate::plot;
use crate::shared::{self, Rng, Row, smaller_is_better};

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
    /// Keep oakmap's database file afterwards (its path is printed), for
    /// `oakmap check` and `oakmap stats`.
    #[arg(long)]
    keep: bool,
    /// Engines to run, one after another, each in a fresh directory:
    /// oakmap, lmdb, redb, rocksdb, fjall, canopydb, sqlite, sled (peers need
    /// `--features peers`, RocksDB `--features rocksdb`).
    #[arg(long, default_value = "oakmap")]
    engines: String,
    /// The cache every engine gets, in MiB.
    #[arg(long, default_value_t = 256)]
    cache_mib: usize,
    /// With several engines: draw the table as a bar chart (SVG) here.
    #[arg(long)]
    plot: Option<PathBuf>,
}

const KEY_BYTES: usize = 24;
const VALUE_BYTES: usize = 150;
const TREE: &str = "bench";

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

/// The state every phase works on, for one engine.
struct Workload {
    engine: Arc<dyn Engine>,
    keys: Arc<Vec<[u8; KEY_BYTES]>>,
    rng: Rng,
    seed: u64,
}

type Pair = ([u8; KEY_BYTES], [u8; VALUE_BYTES]);

/// The bulk load's pairs: each key with a fresh value, made as the engine
/// asks for it.
struct Generated<'a> {
    keys: std::slice::Iter<'a, [u8; KEY_BYTES]>,
    rng: &'a mut Rng,
    value: [u8; VALUE_BYTES],
}

impl Pairs for Generated<'_> {
    fn next(&mut self) -> Option<(&[u8], &[u8])> {
        let k = self.keys.next()?;
        self.rng.fill(&mut self.value);
        Some((k, &self.value))
    }
}

impl Workload {
    fn random_pair(&mut self) -> Pair {
        let mut k = [0u8; KEY_BYTES];
        let mut v = [0u8; VALUE_BYTES];
        self.rng.fill(&mut k);
        self.rng.fill(&mut v);
        (k, v)
    }

    fn bulk_load(&mut self) -> BenchResult<Row> {
        let keys = self.keys.clone();
        let mut pairs = Generated {
            keys: keys.iter(),
            rng: &mut self.rng,
            value: [0u8; VALUE_BYTES],
        };
        let t0 = Instant::now();
        self.engine.put_batch(&mut pairs)?;
        Ok(Row::new(
            "bulk load (1 txn)",
            keys.len() as u64,
            t0.elapsed(),
            String::new(),
        ))
    }

    /// 1,000 durable single-insert commits split over `threads` threads.
    fn durable_commits(&mut self, threads: usize) -> BenchResult<Row> {
        let per_thread = 1000 / threads;
        let work: Vec<Vec<Pair>> = (0..threads)
            .map(|_| (0..per_thread).map(|_| self.random_pair()).collect())
            .collect();
        let before = self.engine.commit_counts();
        let t0 = Instant::now();
        let engine = &*self.engine;
        let lat: Vec<Duration> = std::thread::scope(|s| {
            let handles: Vec<_> = work
                .iter()
                .map(|pairs| {
                    s.spawn(move || -> BenchResult<Vec<Duration>> {
                        let mut lat = Vec::with_capacity(pairs.len());
                        for (k, v) in pairs {
                            let s = Instant::now();
                            engine.put_batch(&mut SlicePairs::new(&[(k, v)]))?;
                            lat.push(s.elapsed());
                        }
                        Ok(lat)
                    })
                })
                .collect();
            let mut all = Vec::new();
            for h in handles {
                all.extend(h.join().expect("writer thread")?);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(all)
        })?;
        let elapsed = t0.elapsed();
        let mut note = percentiles(lat);
        if let (Some((c0, f0)), Some((c1, f1))) = (before, self.engine.commit_counts()) {
            note += &format!(
                "; {:.1} commits/fsync",
                (c1 - c0) as f64 / (f1 - f0).max(1) as f64
            );
        }
        let plural = if threads == 1 { "" } else { "s" };
        let phase = format!("durable commits, {threads} thread{plural}");
        Ok(Row::new(
            &phase,
            (per_thread * threads) as u64,
            elapsed,
            note,
        ))
    }

    fn batched_commits(&mut self) -> BenchResult<Row> {
        let t0 = Instant::now();
        for _ in 0..100 {
            let batch: Vec<Pair> = (0..1000).map(|_| self.random_pair()).collect();
            self.engine.put_batch(&mut SlicePairs::new(&batch))?;
        }
        Ok(Row::new(
            "100 commits of 1,000 inserts",
            100_000,
            t0.elapsed(),
            String::new(),
        ))
    }

    fn len(&mut self) -> BenchResult<Row> {
        let t0 = Instant::now();
        let len = self.engine.len()?;
        Ok(Row::new("len", 1, t0.elapsed(), format!("{len} entries")))
    }

    fn gets(&mut self, phase: &str) -> BenchResult<Row> {
        let mut r = self.engine.reader()?;
        let t0 = Instant::now();
        let mut found = 0u64;
        for _ in 0..1_000_000 {
            let k = &self.keys[self.rng.below(self.keys.len())];
            found += u64::from(r.get(k)?);
        }
        Ok(Row::new(
            phase,
            1_000_000,
            t0.elapsed(),
            format!("{found} found"),
        ))
    }

    fn range_reads(&mut self) -> BenchResult<Row> {
        let mut r = self.engine.reader()?;
        let t0 = Instant::now();
        let mut entries = 0u64;
        for _ in 0..500_000 {
            let k = &self.keys[self.rng.below(self.keys.len())];
            entries += r.range(k, 10)? as u64;
        }
        Ok(Row::new(
            "range reads of 10",
            500_000,
            t0.elapsed(),
            format!("{entries} entries"),
        ))
    }

    /// 1,000,000 gets split over `threads` threads, each with its own reader.
    fn threaded_gets(&mut self, threads: usize) -> BenchResult<Row> {
        let per_thread = 1_000_000 / threads;
        let (engine, keys) = (&*self.engine, &*self.keys);
        let t0 = Instant::now();
        let found: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let seed = self.seed ^ ((i as u64 + 1) * 0x1234_5678);
                    s.spawn(move || -> BenchResult<u64> {
                        let mut rng = Rng(seed);
                        let mut r = engine.reader()?;
                        let mut found = 0;
                        for _ in 0..per_thread {
                            found += u64::from(r.get(&keys[rng.below(keys.len())])?);
                        }
                        Ok(found)
                    })
                })
                .collect();
            let mut found = 0;
            for h in handles {
                found += h.join().expect("reader thread")?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(found)
        })?;
        let plural = if threads == 1 { "" } else { "s" };
        let phase = format!("random gets, {threads} thread{plural}");
        Ok(Row::new(
            &phase,
            (per_thread * threads) as u64,
            t0.elapsed(),
            format!("{found} found"),
        ))
    }

    fn remove_half(&mut self) -> BenchResult<Row> {
        let mut keys = self.keys.iter().step_by(2).map(|k| k.as_slice());
        let t0 = Instant::now();
        self.engine.remove_batch(&mut keys)?;
        Ok(Row::new(
            "remove half the keys (1 txn)",
            self.keys.len().div_ceil(2) as u64,
            t0.elapsed(),
            String::new(),
        ))
    }
}

/// The process's anonymous resident memory (heap, anonymous mappings such as
/// oakmap's cache arena, stacks), from /proc/self/status; `None` where there
/// is no procfs. Pages mapped from a file (reads through an mmap) are not in it.
fn anon_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

/// Samples `anon_bytes` every 5 ms on a thread of its own and keeps the peak.
struct AnonPeak {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl AnonPeak {
    fn start() -> AnonPeak {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            loop {
                peak = anon_bytes().unwrap_or(0).max(peak);
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    return peak;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        AnonPeak { stop, thread }
    }

    fn peak(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Runs the standard workload on one engine in a fresh directory.
fn run_engine(
    name: &str,
    args: &Args,
    keys: &Arc<Vec<[u8; KEY_BYTES]>>,
    parent: &Path,
) -> BenchResult<Vec<Row>> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(parent)?;
    let before = anon_bytes().unwrap_or(0);
    let sampler = AnonPeak::start();
    let engine: Arc<dyn Engine> = Arc::from(engines::open(name, dir.path(), args.cache_mib << 20)?);
    let mut w = Workload {
        engine,
        keys: keys.clone(),
        rng: Rng(args.seed ^ 0x5eed),
        seed: args.seed,
    };
    let mut rows = vec![
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
    ];
    let note = w.engine.note().to_string();
    drop(w);
    rows.push(Row {
        phase: "peak memory (MiB)".into(),
        ops: sampler.peak().saturating_sub(before),
        elapsed: Duration::ZERO,
        note: String::new(),
    });
    let bytes = dir_bytes(dir.path());
    rows.push(Row {
        phase: "file size (MiB)".into(),
        ops: bytes,
        elapsed: Duration::ZERO,
        note,
    });
    if args.keep && name == "oakmap" {
        println!("kept {}", dir.keep().join("bench.oak").display());
    }
    Ok(rows)
}

pub fn run(args: &Args) -> BenchResult<()> {
    std::fs::create_dir_all(&args.dir)?;
    let dir = tempfile::Builder::new()
        .prefix("oakmap-bench-")
        .tempdir_in(&args.dir)?;
    let mut rng = Rng(args.seed);
    let mut keys = vec![[0u8; KEY_BYTES]; args.entries as usize];
    for k in keys.iter_mut() {
        rng.fill(k);
    }
    let keys = Arc::new(keys);
    let names: Vec<&str> = args
        .engines
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    println!(
        "oakmap bench: {} entries, {KEY_BYTES}-byte keys, {VALUE_BYTES}-byte values, seed {}, cache {} MiB, engines {}, in {}",
        args.entries,
        args.seed,
        args.cache_mib,
        names.join(","),
        dir.path().display()
    );
    let mut results: Vec<(String, Vec<Row>)> = Vec::new();
    for name in &names {
        eprintln!("running {name} ...");
        results.push((name.to_string(), run_engine(name, args, &keys, dir.path())?));
    }
    let extra = vec![
        recovery(dir.path(), args.seed)?,
        fsync_reference(dir.path())?,
    ];
    if args.keep {
        // The kept database lives inside this directory.
        let _ = dir.keep();
    }
    if results.len() == 1 {
        let mut rows = results.pop().expect("one engine").1;
        for size in rows.iter_mut().filter(|r| smaller_is_better(&r.phase)) {
            size.note = format!(
                "{:.1} MiB {}",
                size.ops as f64 / (1 << 20) as f64,
                size.note
            );
            size.ops = 0;
        }
        rows.extend(extra);
        print_rows(&rows);
    } else {
        let table = comparison_table(&results);
        print!("{table}");
        print_rows(&extra);
        if let Some(svg) = &args.plot {
            std::fs::write(svg, plot::svg(&results))?;
            println!("plot written to {}", svg.display());
        }
    }
    Ok(())
}

/// Rows = phases, columns = engines (ops/s, or MiB for the file size), and
/// oakmap's ratio to the best peer (above 1 means oakmap leads).
fn comparison_table(results: &[(String, Vec<Row>)]) -> String {
    let mut t = format!("{:<32}", "phase");
    for (name, _) in results {
        t += &format!(" {name:>12}");
    }
    t += "   oakmap/best peer\n";
    let phases = results[0].1.len();
    for i in 0..phases {
        let phase = &results[0].1[i].phase;
        t += &format!("{phase:<32}");
        let size_row = smaller_is_better(phase);
        let value = |r: &Row| {
            if size_row {
                r.ops as f64 / (1 << 20) as f64
            } else {
                r.ops as f64 / r.elapsed.as_secs_f64().max(1e-9)
            }
        };
        let mut oak = None;
        let mut best: Option<f64> = None;
        for (name, rows) in results {
            let v = value(&rows[i]);
            t += &format!(" {v:>12.0}");
            if name == "oakmap" {
                oak = Some(v);
            } else {
                best = Some(match best {
                    None => v,
                    Some(b) if size_row => b.min(v),
                    Some(b) => b.max(v),
                });
            }
        }
        if let (Some(o), Some(b)) = (oak, best) {
            let ratio = if size_row { b / o } else { o / b };
            t += &format!("   {ratio:>6.2}x");
        }
        t += "\n";
    }
    t += "(ops/s per engine; file size and peak memory in MiB, where a ratio above 1 means oakmap's is smaller)\n";
    for (name, rows) in results {
        if let Some(note) = rows
            .last()
            .map(|r| r.note.as_str())
            .filter(|n| !n.is_empty())
        {
            t += &format!("note, {name}: {note}\n");
        }
    }
    t
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
    shared::copy_db(&live, &image).map_err(|source| oakmap::Error::Io {
        path: image.clone(),
        source,
    })?;
    drop(db);
    let t0 = Instant::now();
    let recovered = Options::new().open(&image)?;
    let elapsed = t0.elapsed();
    let entries = recovered.begin_read().tree(TREE)?.map_or(0, |t| t.len());
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
    let at = |source| oakmap::Error::Io {
        path: path.clone(),
        source,
    };
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(at)?;
    let page = [0x5au8; 4096];
    let mut lat = Vec::with_capacity(1000);
    let t0 = Instant::now();
    for _ in 0..1000 {
        let s = Instant::now();
        f.write_all(&page).map_err(at)?;
        f.sync_data().map_err(at)?;
        lat.push(s.elapsed());
    }
    let elapsed = t0.elapsed();
    std::fs::remove_file(&path).map_err(at)?;
    Ok(Row::new(
        "reference: 4 KiB append + fdatasync",
        1000,
        elapsed,
        percentiles(lat),
    ))
}
