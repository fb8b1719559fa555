//! The standard workload: random 24-byte keys and 150-byte values from a
//! seeded generator, run phase by phase on oakmap and, with `--engines`, on
//! its peers one after another, printed as one table with a legend (as text,
//! or as Markdown with `--markdown`).
//! Every phase's work is in proportion to `--entries` (`Scale`); at the
//! default 1,000,000 it is the workload docs/benchmarks.md reports.
//! After each engine's workload and close come its space rows (`space`):
//! its files after its own compaction, and its compacted copy, `n/a` where
//! it has none.
//! Reference rows follow, measured in the same run and directory: the live
//! data the sizes are judged against, the time to open oakmap after a crash
//! with a full WAL, one 4 KiB append plus fdatasync (the floor for a
//! durable commit), and oakmap's online backup (`online`): its rate against
//! a sequential write of as many bytes, and what it costs a concurrent
//! writer and readers.
//! Every argument is checked before the first line is printed.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oakmap::{Durability, Options};

use crate::engines::{self, BenchResult, Engine, EngineInfo, OAKMAP_FILE, Pairs, SlicePairs};
use crate::plot;
use crate::shared::{self, Measure, Rng, Row};

mod latency;
mod online;
mod report;
mod space;

use report::{count_of, report, size, thousands, time};
use space::SpaceRows;

#[derive(clap::Args)]
pub struct Args {
    /// Entries to bulk load, from 1 to 1,000,000,000; every phase's work is
    /// in proportion (the standard workload is the default).
    #[arg(long, default_value_t = ENTRIES_STANDARD)]
    entries: u64,
    /// Seed of the key and value generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Directory for the databases (a fresh subdirectory is made and removed);
    /// it should be on the disk you care about, not a tmpfs.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Keep oakmap's database afterwards (as its compaction left it), as
    /// DIR/bench.oak with its two WAL files (the path is printed), for
    /// `oakmap check` and `oakmap stats`; everything else is removed.
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
    /// With two or more engines: draw the comparison as a bar chart (SVG) here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Print the tables and their legend as Markdown, for docs/benchmarks.md.
    #[arg(long)]
    markdown: bool,
}

const KEY_BYTES: usize = 24;
const VALUE_BYTES: usize = 150;
const TREE: &str = "bench";
/// The standard workload's size, which the figures in the docs are for.
const ENTRIES_STANDARD: u64 = 1_000_000;
/// Beyond this the keys alone (24 GB) would not fit in a large machine.
const ENTRIES_MAX: u64 = 1_000_000_000;
/// The WAL the recovery row replays at `ENTRIES_STANDARD`: the default
/// bound, full.
const RECOVERY_WAL_BYTES_STANDARD: u64 = 64 << 20;

/// The work of each phase, in proportion to `--entries`. At the standard
/// 1,000,000: 1,000 durable commits, 100 commits of 1,000 inserts,
/// 1,000,000 gets per pass, 500,000 range reads, 1,000 fsync appends, and a
/// full 64 MiB WAL (the default bound) in records of 1,000 inserts to
/// recover. Below it, the counts of 1,000 are capped at `entries`; above
/// it, they stay at 1,000 and everything else grows with `entries`.
struct Scale {
    entries: usize,
    durable_commits: usize,
    batches: usize,
    batch_inserts: usize,
    gets: usize,
    range_reads: usize,
    recovery_wal_bytes: u64,
    recovery_batch_inserts: usize,
    fsync_appends: usize,
}

impl Scale {
    fn new(entries: usize) -> Scale {
        assert!(entries >= 1, "the workload reads existing keys");
        let batched = entries.div_ceil(10);
        let batches = batched.min(100);
        let wal = u128::from(RECOVERY_WAL_BYTES_STANDARD) * entries as u128
            / u128::from(ENTRIES_STANDARD);
        Scale {
            entries,
            durable_commits: entries.min(1000),
            batches,
            batch_inserts: batched / batches,
            gets: entries,
            range_reads: entries.div_ceil(2),
            recovery_wal_bytes: u64::try_from(wal).unwrap_or(u64::MAX),
            recovery_batch_inserts: entries.min(1000),
            fsync_appends: entries.min(1000),
        }
    }
}

/// The arguments, checked: what `run` needs before it prints a line.
struct Plan {
    engines: Vec<&'static EngineInfo>,
    scale: Scale,
    cache_bytes: usize,
    /// `--keep`, checked: oakmap runs, and nothing is in the way.
    keep: bool,
}

/// Checks every argument, so that a bad one is refused before any output.
fn plan(args: &Args) -> Result<Plan, String> {
    if args.entries == 0 || args.entries > ENTRIES_MAX {
        return Err(format!(
            "--entries {} is out of range: at least 1 (the reads pick keys that were loaded), \
             at most {}",
            args.entries,
            thousands(ENTRIES_MAX)
        ));
    }
    let entries = usize::try_from(args.entries).map_err(|_| {
        format!(
            "--entries {} does not fit this machine's memory",
            args.entries
        )
    })?;
    let cache_bytes = args
        .cache_mib
        .checked_mul(1 << 20)
        .ok_or_else(|| format!("--cache-mib {} is too large", args.cache_mib))?;
    let mut engines: Vec<&'static EngineInfo> = Vec::new();
    for name in args.engines.split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let engine = engines::find(name).map_err(|e| format!("--engines: {e}"))?;
        if engines.iter().any(|e| e.name == engine.name) {
            return Err(format!("--engines lists {name} twice"));
        }
        engines.push(engine);
    }
    if engines.is_empty() {
        return Err("--engines lists no engine (try --engines oakmap)".into());
    }
    if let Some(svg) = &args.plot {
        if engines.len() < 2 {
            return Err(format!(
                "--plot draws a comparison, and --engines lists one engine ({}): \
                 list two or more, or leave --plot out",
                engines[0].name
            ));
        }
        let parent = svg.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            return Err(format!(
                "--plot {}: its directory does not exist",
                svg.display()
            ));
        }
    }
    if args.keep {
        if !engines.iter().any(|e| e.name == "oakmap") {
            return Err(
                "--keep keeps oakmap's database, and --engines does not list oakmap".into(),
            );
        }
        let to = args.dir.join(OAKMAP_FILE);
        if let Some(there) = db_files(&to).into_iter().find(|p| p.exists()) {
            return Err(format!(
                "--keep leaves the database at {}, and {} exists already (from an earlier \
                 --keep?): remove it and its .wal0 and .wal1, or choose another --dir",
                to.display(),
                there.display()
            ));
        }
    }
    Ok(Plan {
        engines,
        scale: Scale::new(entries),
        cache_bytes,
        keep: args.keep,
    })
}

/// A database file and its two WAL files.
fn db_files(db: &Path) -> [PathBuf; 3] {
    let wal = |i: u8| {
        let mut name = OsString::from(db.as_os_str());
        name.push(format!(".wal{i}"));
        PathBuf::from(name)
    };
    [db.to_path_buf(), wal(0), wal(1)]
}

/// Exit 0 after a run, 2 for arguments refused before it, 1 for a run that
/// failed.
pub fn run(args: &Args) -> ExitCode {
    let plan = match plan(args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("oakmap bench: {e}");
            return ExitCode::from(2);
        }
    };
    match execute(args, &plan) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oakmap bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: &Args, plan: &Plan) -> BenchResult<()> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| format!("cannot create --dir {}: {e}", args.dir.display()))?;
    let parent = std::fs::canonicalize(&args.dir)
        .map_err(|e| format!("cannot resolve --dir {}: {e}", args.dir.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("oakmap-bench-")
        .tempdir_in(&parent)?;
    let keys = Arc::new(generate_keys(plan.scale.entries, args.seed)?);
    let names: Vec<&str> = plan.engines.iter().map(|e| e.name).collect();
    let header = format!(
        "oakmap bench: {}, {KEY_BYTES}-byte keys, {VALUE_BYTES}-byte values, seed {}, \
         cache {} MiB, engines {}, in {}",
        count_of(plan.scale.entries as u64, "entry"),
        args.seed,
        args.cache_mib,
        names.join(","),
        parent.display()
    );
    println!("{header}\n");
    let keep = plan.keep.then(|| parent.join(OAKMAP_FILE));
    let result = run_all(args, plan, &keys, dir.path(), keep.as_deref());
    if let Some(kept) = keep.filter(|p| p.exists()) {
        let line = format!(
            "kept oakmap's database (with its .wal0 and .wal1 files): {}",
            kept.display()
        );
        // After a failure too: the database was moved before it.
        match result {
            Ok(()) => println!("\n{line}"),
            Err(_) => eprintln!("{line}"),
        }
    }
    result
}

/// Every engine, then the reference rows, the report and the plot.
fn run_all(
    args: &Args,
    plan: &Plan,
    keys: &Arc<Vec<[u8; KEY_BYTES]>>,
    dir: &Path,
    keep: Option<&Path>,
) -> BenchResult<()> {
    let mut runs = Vec::new();
    for engine in &plan.engines {
        eprintln!("running {} ...", engine.name);
        let keep = keep.filter(|_| engine.name == "oakmap");
        runs.push(run_engine(engine, args.seed, plan, keys, dir, keep)?);
    }
    let mut extra = vec![
        live_data(&runs),
        recovery(dir, &plan.scale, args.seed, plan.cache_bytes)?,
        fsync_reference(dir, &plan.scale)?,
    ];
    eprintln!("running the online backup ...");
    extra.extend(online::rows(dir, keys, args.seed, plan.cache_bytes)?);
    eprintln!("running the latency rows ...");
    extra.extend(latency::rows(
        dir,
        keys,
        args.seed,
        &plan.scale,
        plan.cache_bytes,
    )?);
    print!("{}", report(&runs, &extra, &plan.scale, args.markdown));
    if let Some(svg) = &args.plot {
        let results: Vec<(&str, &[Row])> = runs.iter().map(|r| (r.name, &r.rows[..])).collect();
        std::fs::write(svg, plot::svg(&results))
            .map_err(|e| format!("cannot write --plot {}: {e}", svg.display()))?;
        println!("\nplot written to {}", svg.display());
    }
    Ok(())
}

/// The keys, in the generator's order; an error, not an abort, when they
/// do not fit in memory.
fn generate_keys(entries: usize, seed: u64) -> BenchResult<Vec<[u8; KEY_BYTES]>> {
    let mut keys = Vec::new();
    keys.try_reserve_exact(entries)
        .map_err(|e| format!("cannot hold {entries} keys of {KEY_BYTES} bytes in memory: {e}"))?;
    let mut rng = Rng(seed);
    keys.extend((0..entries).map(|_| {
        let mut k = [0u8; KEY_BYTES];
        rng.fill(&mut k);
        k
    }));
    Ok(keys)
}

/// Where the `p` quantile sits in `len` sorted samples (at least one).
fn quantile_index(len: usize, p: f64) -> usize {
    ((len as f64 * p) as usize).min(len - 1)
}

fn percentiles(mut lat: Vec<Duration>) -> String {
    lat.sort_unstable();
    let Some(&max) = lat.last() else {
        return "no samples".into();
    };
    let at = |p: f64| lat[quantile_index(lat.len(), p)];
    format!(
        "p50 {}, p99 {}, max {}",
        time(at(0.5)),
        time(at(0.99)),
        time(max)
    )
}

/// `total` split over `parts` as evenly as whole numbers allow.
fn split(total: usize, parts: usize) -> impl Iterator<Item = usize> {
    (0..parts).map(move |i| total / parts + usize::from(i < total % parts))
}

/// The state every phase works on, for one engine.
struct Workload<'a> {
    engine: Arc<dyn Engine>,
    keys: Arc<Vec<[u8; KEY_BYTES]>>,
    rng: Rng,
    seed: u64,
    scale: &'a Scale,
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

fn rate(count: usize, unit: &'static str, elapsed: Duration) -> Measure {
    Measure::Rate {
        count: count as u64,
        unit,
        elapsed,
    }
}

impl Workload<'_> {
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
        let measure = rate(keys.len(), "puts", t0.elapsed());
        Ok(Row::new("bulk load (1 txn)", measure, String::new()))
    }

    /// The scale's durable single-insert commits, split over `threads`
    /// threads.
    fn durable_commits(&mut self, threads: usize) -> BenchResult<Row> {
        let work: Vec<Vec<Pair>> = split(self.scale.durable_commits, threads)
            .map(|n| (0..n).map(|_| self.random_pair()).collect())
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
        let measure = rate(lat.len(), "commits", t0.elapsed());
        let mut note = percentiles(lat);
        if let (Some((c0, f0)), Some((c1, f1))) = (before, self.engine.commit_counts()) {
            note += &format!(
                "; {:.1} commits/fsync",
                (c1 - c0) as f64 / (f1 - f0).max(1) as f64
            );
        }
        let phase = format!("durable commits, {}", count_of(threads as u64, "thread"));
        Ok(Row::new(&phase, measure, note))
    }

    fn batched_commits(&mut self) -> BenchResult<Row> {
        let (batches, inserts) = (self.scale.batches, self.scale.batch_inserts);
        let written_before = self.engine.commits_writing_pages();
        let t0 = Instant::now();
        for _ in 0..batches {
            let batch: Vec<Pair> = (0..inserts).map(|_| self.random_pair()).collect();
            self.engine.put_batch(&mut SlicePairs::new(&batch))?;
        }
        let measure = rate(batches * inserts, "inserts", t0.elapsed());
        let phase = format!(
            "{} of {}",
            count_of(batches as u64, "commit"),
            count_of(inserts as u64, "insert")
        );
        let note = match (written_before, self.engine.commits_writing_pages()) {
            (Some(a), Some(b)) => format!(
                "{} of them wrote their pages (write-back's share of the cache full)",
                b - a
            ),
            _ => String::new(),
        };
        Ok(Row::new(&phase, measure, note))
    }

    fn len(&mut self) -> BenchResult<Row> {
        let t0 = Instant::now();
        let len = self.engine.len()?;
        let measure = Measure::Time(t0.elapsed());
        let note = format!("one call: {}", count_of(len, "entry"));
        Ok(Row::new("len", measure, note))
    }

    fn gets(&mut self, phase: &str) -> BenchResult<Row> {
        let mut r = self.engine.reader()?;
        let t0 = Instant::now();
        let mut found = 0u64;
        for _ in 0..self.scale.gets {
            let k = &self.keys[self.rng.below(self.keys.len())];
            found += u64::from(r.get(k)?);
        }
        let measure = rate(self.scale.gets, "gets", t0.elapsed());
        Ok(Row::new(
            phase,
            measure,
            format!("{} found", thousands(found)),
        ))
    }

    fn range_reads(&mut self) -> BenchResult<Row> {
        let mut r = self.engine.reader()?;
        let t0 = Instant::now();
        let mut entries = 0u64;
        for _ in 0..self.scale.range_reads {
            let k = &self.keys[self.rng.below(self.keys.len())];
            entries += r.range(k, 10)? as u64;
        }
        let measure = rate(self.scale.range_reads, "range reads", t0.elapsed());
        let note = count_of(entries, "entry");
        Ok(Row::new("range reads of 10", measure, note))
    }

    /// The scale's gets split over `threads` threads, each with its own
    /// reader.
    fn threaded_gets(&mut self, threads: usize) -> BenchResult<Row> {
        let (engine, keys) = (&*self.engine, &*self.keys);
        let seed = self.seed;
        let t0 = Instant::now();
        let found: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = split(self.scale.gets, threads)
                .enumerate()
                .map(|(i, gets)| {
                    let seed = seed ^ ((i as u64 + 1) * 0x1234_5678);
                    s.spawn(move || -> BenchResult<u64> {
                        let mut rng = Rng(seed);
                        let mut r = engine.reader()?;
                        let mut found = 0;
                        for _ in 0..gets {
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
        let measure = rate(self.scale.gets, "gets", t0.elapsed());
        let phase = format!("random gets, {}", count_of(threads as u64, "thread"));
        Ok(Row::new(
            &phase,
            measure,
            format!("{} found", thousands(found)),
        ))
    }

    fn remove_half(&mut self) -> BenchResult<Row> {
        let mut keys = self.keys.iter().step_by(2).map(|k| k.as_slice());
        let t0 = Instant::now();
        self.engine.remove_batch(&mut keys)?;
        let measure = rate(self.keys.len().div_ceil(2), "removes", t0.elapsed());
        Ok(Row::new(
            "remove half the keys (1 txn)",
            measure,
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

/// One engine's rows, and how it was set up.
struct EngineRun {
    name: &'static str,
    durability: &'static str,
    /// The engine's own footnote (configuration, what its `len` does).
    note: &'static str,
    /// The rows every engine has.
    rows: Vec<Row>,
    /// The rows an engine may have no figure for.
    space: SpaceRows,
    /// Entries after the workload, which its sizes hold.
    live_entries: u64,
}

/// Runs the standard workload on one engine in a fresh directory under
/// `parent`, and with `keep`, moves its closed database there.
fn run_engine(
    info: &EngineInfo,
    seed: u64,
    plan: &Plan,
    keys: &Arc<Vec<[u8; KEY_BYTES]>>,
    parent: &Path,
    keep: Option<&Path>,
) -> BenchResult<EngineRun> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{}-", info.name))
        .tempdir_in(parent)?;
    let before = anon_bytes().unwrap_or(0);
    let sampler = AnonPeak::start();
    let engine = engines::open(info.name, dir.path(), plan.cache_bytes)?;
    let mut w = Workload {
        engine: Arc::from(engine),
        keys: keys.clone(),
        rng: Rng(seed ^ 0x5eed),
        seed,
        scale: &plan.scale,
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
    let note = w.engine.note();
    let live_entries = w.engine.len()?;
    drop(w);
    rows.push(Row::new(
        "peak memory",
        Measure::Bytes(sampler.peak().saturating_sub(before)),
        "anonymous memory, above its level at open".into(),
    ));
    rows.push(Row::new(
        "file size",
        Measure::Bytes(dir_bytes(dir.path())),
        "every file after close, WAL included".into(),
    ));
    let space = space::measure(info, dir.path(), parent, plan.cache_bytes)?;
    if let Some(to) = keep {
        let from = db_files(&dir.path().join(OAKMAP_FILE));
        for (from, to) in from.iter().zip(db_files(to)) {
            if from.exists() {
                std::fs::rename(from, to)?;
            }
        }
    }
    Ok(EngineRun {
        name: info.name,
        durability: info.durability,
        note,
        rows,
        space,
        live_entries,
    })
}

/// The bytes of keys and values the engines hold after the workload (the
/// same for every engine: the oakmap run's count, else the first run's),
/// and each compacted size as a multiple of it; oakmap's data file also
/// against the live data with its per-entry overhead, the goal.
fn live_data(runs: &[EngineRun]) -> Row {
    let counted = runs.iter().find(|r| r.name == "oakmap").unwrap_or(&runs[0]);
    let bytes = counted.live_entries * (KEY_BYTES + VALUE_BYTES) as u64;
    let mut note = format!(
        "{} × ({KEY_BYTES} + {VALUE_BYTES} bytes)",
        count_of(counted.live_entries, "entry")
    );
    let multiples: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let compacted = r.space.compacted.as_ref()?.measure.value();
            Some(format!(
                "{} {:.2}×",
                r.name,
                compacted / bytes.max(1) as f64
            ))
        })
        .collect();
    if !multiples.is_empty() {
        note += &format!(
            "; file size after compaction over it: {}",
            multiples.join(", ")
        );
    }
    let oakmap = runs.iter().find(|r| r.name == "oakmap");
    if let Some(data) = oakmap.and_then(|r| r.space.data_file) {
        let overhead = counted.live_entries * ENTRY_OVERHEAD_BYTES;
        note += &format!(
            "; oakmap's data file after compaction {} is {:.2}× the live data with its \
             {ENTRY_OVERHEAD_BYTES} bytes per entry ({}; goal ≤ 1.10×)",
            size(data),
            data as f64 / (bytes + overhead).max(1) as f64,
            size(bytes + overhead),
        );
    }
    Row::new("live data", Measure::Bytes(bytes), note)
}

/// What an entry costs oakmap beyond its key and value bytes: its leaf
/// cell's header (key_len 2, value_len 4, flags 1) and its slot (2), as
/// format.md §4 lays them out.
const ENTRY_OVERHEAD_BYTES: u64 = 9;

/// Recovery after a crash with a full WAL (at the standard size, the
/// default bound, 64 MiB): fill a fresh database's log with batched commits,
/// copy its files as a crash would leave them, and time opening the copy.
/// Its files are removed before it returns.
fn recovery(parent: &Path, scale: &Scale, seed: u64, cache_bytes: usize) -> BenchResult<Row> {
    let dir = tempfile::Builder::new()
        .prefix("recovery-")
        .tempdir_in(parent)?;
    let live = dir.path().join("recovery.oak");
    let db = Options::new()
        .wal_bytes_max(4 * scale.recovery_wal_bytes.max(RECOVERY_WAL_BYTES_STANDARD))
        .checkpoint_interval(Duration::from_secs(3600))
        .durability(Durability::None)
        .cache_bytes(cache_bytes)
        .open(&live)?;
    let mut rng = Rng(seed ^ 0xdead_beef);
    let (mut k, mut v) = ([0u8; KEY_BYTES], [0u8; VALUE_BYTES]);
    let mut records = 0u64;
    // At least one record, however small the scale.
    loop {
        let mut tx = db.begin_write()?;
        let mut t = tx.open_tree(TREE)?;
        for _ in 0..scale.recovery_batch_inserts {
            rng.fill(&mut k);
            rng.fill(&mut v);
            t.insert(&k, &v)?;
        }
        tx.commit()?;
        records += 1;
        if db.stats()?.wal_bytes >= scale.recovery_wal_bytes {
            break;
        }
    }
    db.sync()?;
    let wal_bytes = db.stats()?.wal_bytes;
    let image = dir.path().join("recovered.oak");
    shared::copy_db(&live, &image).map_err(|source| oakmap::Error::Io {
        path: image.clone(),
        source,
    })?;
    drop(db);
    let t0 = Instant::now();
    let recovered = Options::new().cache_bytes(cache_bytes).open(&image)?;
    let elapsed = t0.elapsed();
    let entries = recovered.begin_read().tree(TREE)?.map_or(0, |t| t.len());
    let note = format!(
        "one open, replaying a {} WAL: {}, {}",
        size(wal_bytes),
        count_of(records, "record"),
        count_of(entries, "entry")
    );
    Ok(Row::new(
        "recovery: open after crash",
        Measure::Time(elapsed),
        note,
    ))
}

/// One 4 KiB append plus fdatasync, as many times as there are durable
/// commits: the floor for a durable commit.
fn fsync_reference(dir: &Path, scale: &Scale) -> BenchResult<Row> {
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
    let mut lat = Vec::with_capacity(scale.fsync_appends);
    let t0 = Instant::now();
    for _ in 0..scale.fsync_appends {
        let s = Instant::now();
        f.write_all(&page).map_err(at)?;
        f.sync_data().map_err(at)?;
        lat.push(s.elapsed());
    }
    let elapsed = t0.elapsed();
    std::fs::remove_file(&path).map_err(at)?;
    Ok(Row::new(
        "reference: 4 KiB append + fdatasync",
        rate(scale.fsync_appends, "appends", elapsed),
        percentiles(lat),
    ))
}
