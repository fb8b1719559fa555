//! The online backup's rows, oakmap only (whatever `--engines` says), on a
//! database of the workload's keys with fresh values, in the run's
//! directory:
//!
//! 1. `Db::backup_to`, timed, against a sequential write of the same
//!    number of bytes to a file beside it (1 MiB writes, then fsync) and
//!    the same with direct I/O, measured right after: the backup's rate as
//!    a share of the disk's. Each is timed `ROUNDS` times, interleaved,
//!    each backup to a new file (the last one's removed before the clock
//!    starts), and the rows give the medians: one sample on a shared
//!    machine is mostly its noise;
//! 2. a writer making durable single-insert commits and reader threads
//!    doing random gets, first for a window with nothing else running,
//!    then for as long again with backups taken one after another: the
//!    writer's commit rate and the readers' latencies with and without.
//!
//! The window is a few backups long, so it follows `--entries`, with a floor
//! that keeps a tiny run measurable and a ceiling that keeps a huge one
//! finite (at least one backup runs all the same).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oakmap::{BackupOptions, Db, Durability, Options};

use super::report::{count_of, size, time};
use super::{KEY_BYTES, Pair, TREE, VALUE_BYTES, percentiles, quantile_index, rate};
use crate::engines::BenchResult;
use crate::shared::{Measure, Rng, Row};

/// The window of each half of the concurrent measurement, in backups.
pub(super) const WINDOW_BACKUPS: u32 = 8;
pub(super) const WINDOW_MIN: Duration = Duration::from_millis(200);
pub(super) const WINDOW_MAX: Duration = Duration::from_secs(10);
/// Reader threads beside the one writer.
pub(super) const READERS: usize = 2;
/// The sequential reference writes in pieces of this size.
const SEQUENTIAL_WRITE_BYTES: usize = 1 << 20;
/// Backups and sequential writes timed, interleaved; the rows give medians.
pub(super) const ROUNDS: usize = 3;

/// The rows, in the order the module comment gives them. Its files are
/// removed before it returns.
pub(super) fn rows(
    parent: &Path,
    keys: &[[u8; KEY_BYTES]],
    seed: u64,
    cache_bytes: usize,
) -> BenchResult<Vec<Row>> {
    let dir = tempfile::Builder::new()
        .prefix("backup-")
        .tempdir_in(parent)?;
    let db = Options::new()
        .durability(Durability::Immediate)
        .cache_bytes(cache_bytes)
        .open(dir.path().join("live.oak"))?;
    load(&db, keys, seed)?;
    db.checkpoint()?;

    let copy = dir.path().join("copy.oak");
    let sequential = dir.path().join("sequential");
    let (mut backups, mut buffered, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    let mut report = None;
    for _ in 0..ROUNDS {
        if copy.exists() {
            std::fs::remove_file(&copy)?;
        }
        let t0 = Instant::now();
        let r = db.backup_to(&copy)?;
        backups.push(t0.elapsed());
        buffered.push(sequential_write(&sequential, r.file_bytes, false)?);
        direct.push(sequential_write(&sequential, r.file_bytes, true)?);
        report = Some(r);
    }
    let report = report.expect("ROUNDS is at least 1");
    let bytes = report.file_bytes;
    let (backup, buffered, direct) = (median(backups), median(buffered), median(direct));
    let share =
        |reference: Duration| 100.0 * reference.as_secs_f64() / backup.time.as_secs_f64().max(1e-9);
    let mut rows = vec![
        Row::new(
            "backup: Db::backup_to, online",
            Measure::Time(backup.time),
            format!(
                "{} of {}, {}: {}, {:.0}% of the sequential write rate (goal ≥ 70%), \
                 {:.0}% of direct I/O's; {}",
                size(bytes),
                count_of(report.entries, "entry"),
                if report.direct_io {
                    "direct I/O"
                } else {
                    "through the page cache"
                },
                per_second(bytes, backup.time),
                share(buffered.time),
                share(direct.time),
                backup.spread
            ),
        ),
        Row::new(
            "reference: sequential write + fsync",
            Measure::Time(buffered.time),
            format!(
                "{} in writes of {}, beside the backup: {}; {}",
                size(bytes),
                size(SEQUENTIAL_WRITE_BYTES as u64),
                per_second(bytes, buffered.time),
                buffered.spread
            ),
        ),
        Row::new(
            "reference: sequential write, direct I/O",
            Measure::Time(direct.time),
            format!(
                "the same with O_DIRECT (no page cache), then fsync: {}; {}",
                per_second(bytes, direct.time),
                direct.spread
            ),
        ),
    ];

    // Windows alone and during backups alternate, `ROUNDS` of each, so a
    // slow spell of the machine falls on both sides rather than one.
    let window = (backup.time * WINDOW_BACKUPS).clamp(WINDOW_MIN, WINDOW_MAX);
    let (mut alone, mut during) = (Window::default(), Window::default());
    let mut shares = Vec::new();
    for round in 0..ROUNDS as u64 {
        let a = concurrent(&db, keys, seed ^ (round << 8), || {
            std::thread::sleep(window);
            Ok(Backups::default())
        })?;
        let d = concurrent(&db, keys, seed ^ (round << 8) ^ 1, || {
            let t0 = Instant::now();
            let mut b = Backups::default();
            while b.count == 0 || t0.elapsed() < window {
                let started = Instant::now();
                let r = db.backup_with(&copy, BackupOptions::new().overwrite(true))?;
                b.count += 1;
                b.took += started.elapsed();
                b.yielded += r.yielded;
            }
            Ok(b)
        })?;
        shares.push(d.commit_rate() / a.commit_rate().max(1e-9));
        alone.absorb(a);
        during.absorb(d);
    }
    rows.extend(concurrent_rows(&mut alone, &mut during, &shares));
    db.close()?;
    Ok(rows)
}

/// Every key with a fresh value, in one commit (also the latency rows'
/// database).
pub(super) fn load(db: &Db, keys: &[[u8; KEY_BYTES]], seed: u64) -> BenchResult<()> {
    let mut rng = Rng(seed ^ 0x0bac_c0de);
    let mut tx = db.begin_write()?;
    let mut t = tx.open_tree(TREE)?;
    let mut v = [0u8; VALUE_BYTES];
    for k in keys {
        rng.fill(&mut v);
        t.insert(k, &v)?;
    }
    tx.commit()?;
    Ok(())
}

/// The median of `times` (not empty), and "median of 3: min … max …".
fn median(mut times: Vec<Duration>) -> Median {
    times.sort_unstable();
    Median {
        time: times[times.len() / 2],
        spread: format!(
            "median of {}: min {}, max {}",
            times.len(),
            time(times[0]),
            time(times[times.len() - 1])
        ),
    }
}

struct Median {
    time: Duration,
    spread: String,
}

/// `bytes` written to the new file `path` in large pieces and fsynced,
/// with direct I/O if `direct` (and the filesystem takes it; else through
/// the page cache all the same): the time it took. The file is removed.
fn sequential_write(path: &Path, bytes: u64, direct: bool) -> BenchResult<Duration> {
    let at = |source| oakmap::Error::Io {
        path: path.to_path_buf(),
        source,
    };
    // Page-aligned, as direct I/O needs.
    let mut buf = vec![0x5au8; SEQUENTIAL_WRITE_BYTES + 4096];
    let aligned = buf.as_ptr().align_offset(4096);
    let piece = &mut buf[aligned..aligned + SEQUENTIAL_WRITE_BYTES];
    let mut options = OpenOptions::new();
    options.create_new(true).write(true);
    let mut f: File = match direct {
        true => match options.clone().custom_flags(libc::O_DIRECT).open(path) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                let _ = std::fs::remove_file(path);
                options.open(path)
            }
            opened => opened,
        },
        false => options.open(path),
    }
    .map_err(at)?;
    let t0 = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(piece.len() as u64) as usize;
        f.write_all(&piece[..n]).map_err(at)?;
        left -= n as u64;
    }
    f.sync_all().map_err(at)?;
    let elapsed = t0.elapsed();
    drop(f);
    std::fs::remove_file(path).map_err(at)?;
    Ok(elapsed)
}

/// "512.3 MiB/s" for `bytes` in `elapsed`.
fn per_second(bytes: u64, elapsed: Duration) -> String {
    let mib = bytes as f64 / (1u64 << 20) as f64;
    format!("{:.1} MiB/s", mib / elapsed.as_secs_f64().max(1e-9))
}

/// Backups taken in a window: how many, their time, and the part of it
/// they gave way to commits (`BackupReport::yielded`).
#[derive(Default)]
struct Backups {
    count: u32,
    took: Duration,
    yielded: Duration,
}

/// What the writer and the readers did in one window (or several,
/// absorbed into one).
#[derive(Default)]
struct Window {
    elapsed: Duration,
    /// Backups taken meanwhile.
    backups: Backups,
    commit_lat: Vec<Duration>,
    /// WAL fsyncs meanwhile (the writer's commits are durable: one each).
    fsyncs: u64,
    /// Every reader's get latencies, in nanoseconds (saturated at 4.29 s),
    /// four bytes a sample since a window holds millions.
    get_lat_ns: Vec<u32>,
}

impl Window {
    fn commit_rate(&self) -> f64 {
        self.commit_lat.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Adds `other`'s time, work and samples to this one's.
    fn absorb(&mut self, other: Window) {
        self.elapsed += other.elapsed;
        self.backups.count += other.backups.count;
        self.backups.took += other.backups.took;
        self.backups.yielded += other.backups.yielded;
        self.commit_lat.extend(other.commit_lat);
        self.fsyncs += other.fsyncs;
        self.get_lat_ns.extend(other.get_lat_ns);
    }
}

/// Runs the writer and `READERS` readers while `meanwhile` runs on this
/// thread (it returns the backups it took), and stops them when it
/// returns.
fn concurrent(
    db: &Db,
    keys: &[[u8; KEY_BYTES]],
    seed: u64,
    meanwhile: impl FnOnce() -> BenchResult<Backups>,
) -> BenchResult<Window> {
    let stop = AtomicBool::new(false);
    let stop = &stop;
    let fsyncs_before = db.stats()?.wal_fsyncs;
    let mut window = std::thread::scope(|s| {
        let writer = s.spawn(move || writer(db, seed, stop));
        let readers: Vec<_> = (0..READERS)
            .map(|i| s.spawn(move || reader(db, keys, seed ^ ((i as u64 + 1) << 32), stop)))
            .collect();
        let t0 = Instant::now();
        let backups = meanwhile();
        let elapsed = t0.elapsed();
        stop.store(true, Ordering::Relaxed);
        let commit_lat = writer.join().expect("writer thread");
        let mut get_lat_ns = Vec::new();
        for r in readers {
            get_lat_ns.extend(r.join().expect("reader thread")?);
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Window {
            elapsed,
            backups: backups?,
            commit_lat: commit_lat?,
            fsyncs: 0,
            get_lat_ns,
        })
    })?;
    window.fsyncs = db.stats()?.wal_fsyncs - fsyncs_before;
    Ok(window)
}

/// Durable single-insert commits of fresh pairs until `stop`: their
/// latencies.
fn writer(db: &Db, seed: u64, stop: &AtomicBool) -> BenchResult<Vec<Duration>> {
    let mut rng = Rng(seed ^ 0x0077_7173);
    let mut lat = Vec::new();
    let mut pair: Pair = ([0u8; KEY_BYTES], [0u8; VALUE_BYTES]);
    while !stop.load(Ordering::Relaxed) {
        rng.fill(&mut pair.0);
        rng.fill(&mut pair.1);
        let t0 = Instant::now();
        let mut tx = db.begin_write()?;
        tx.open_tree(TREE)?.insert(&pair.0, &pair.1)?;
        tx.commit()?;
        lat.push(t0.elapsed());
    }
    Ok(lat)
}

/// Random gets of loaded keys until `stop`, each in a snapshot of its own
/// (as a server serves them): their latencies in nanoseconds.
fn reader(
    db: &Db,
    keys: &[[u8; KEY_BYTES]],
    seed: u64,
    stop: &AtomicBool,
) -> BenchResult<Vec<u32>> {
    let mut rng = Rng(seed);
    let mut lat = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let k = &keys[rng.below(keys.len())];
        let t0 = Instant::now();
        get_loaded(db, k)?;
        let ns = t0.elapsed().as_nanos();
        lat.push(u32::try_from(ns).unwrap_or(u32::MAX));
    }
    Ok(lat)
}

/// One get of the loaded key `k` in a snapshot of its own, as a server
/// serves it (also the latency rows' reader); not finding it is an error.
pub(super) fn get_loaded(db: &Db, k: &[u8; KEY_BYTES]) -> BenchResult<()> {
    let rx = db.begin_read();
    let found = match rx.tree(TREE)? {
        Some(t) => t.get(k)?.is_some(),
        None => false,
    };
    if !found {
        return Err(format!("a loaded key was not found: {k:02x?}").into());
    }
    Ok(())
}

/// The writer's and the readers' rows, without and with backups;
/// `shares` are each round's commit rate during backups over the rate
/// alone.
fn concurrent_rows(alone: &mut Window, during: &mut Window, shares: &[f64]) -> Vec<Row> {
    let commits = |w: &Window| rate(w.commit_lat.len(), "commits", w.elapsed);
    let per_fsync = |w: &Window| w.commit_lat.len() as f64 / w.fsyncs.max(1) as f64;
    let gets = |w: &Window| rate(w.get_lat_ns.len(), "gets", w.elapsed);
    let kept = commits(during).value() / commits(alone).value();
    let readers = count_of(READERS as u64, "reader");
    alone.get_lat_ns.sort_unstable();
    during.get_lat_ns.sort_unstable();
    let p99 = |w: &Window| f64::from(quantile_ns(&w.get_lat_ns, 0.99).max(1));
    let p99_ratio = p99(during) / p99(alone);
    vec![
        Row::new(
            "writer, no backup",
            commits(alone),
            format!(
                "durable single-insert commits beside {readers}; {}; {:.1} commits/fsync",
                percentiles(alone.commit_lat.clone()),
                per_fsync(alone)
            ),
        ),
        Row::new(
            "writer, during backups",
            commits(during),
            format!(
                "{} in the windows, back to back (each {} on average, {} of it giving way to \
                 commits); {:.0}% of the rate without (goal ≥ 80%; by round {}); {}; \
                 {:.1} commits/fsync",
                count_of(u64::from(during.backups.count), "backup"),
                time(during.backups.took / during.backups.count.max(1)),
                time(during.backups.yielded / during.backups.count.max(1)),
                kept * 100.0,
                shares
                    .iter()
                    .map(|s| format!("{:.0}%", s * 100.0))
                    .collect::<Vec<_>>()
                    .join(", "),
                percentiles(during.commit_lat.clone()),
                per_fsync(during)
            ),
        ),
        Row::new(
            &format!("{readers}, no backup"),
            gets(alone),
            format!(
                "random gets, a snapshot each, beside the writer; {}",
                reader_percentiles(&alone.get_lat_ns)
            ),
        ),
        Row::new(
            &format!("{readers}, during backups"),
            gets(during),
            format!(
                "{}; p99 {p99_ratio:.2}× the p99 without",
                reader_percentiles(&during.get_lat_ns)
            ),
        ),
    ]
}

/// The `p` quantile of `sorted` nanoseconds; 0 for no samples.
fn quantile_ns(sorted: &[u32], p: f64) -> u32 {
    match sorted.len() {
        0 => 0,
        n => sorted[quantile_index(n, p)],
    }
}

/// "p50 …, p99 …, p99.9 …, max …" of `sorted` nanoseconds: the readers'
/// samples are too many to keep as `Duration`s for `percentiles`.
fn reader_percentiles(sorted: &[u32]) -> String {
    if sorted.is_empty() {
        return "no samples".into();
    }
    let at = |p: f64| time(Duration::from_nanos(u64::from(quantile_ns(sorted, p))));
    format!(
        "p50 {}, p99 {}, p99.9 {}, max {}",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    )
}
