//! The latency rows (issue 15), oakmap only (whatever `--engines` says), on
//! a database of the workload's keys with fresh values, in the run's
//! directory. One writer makes durable single-insert commits and `READERS`
//! reader does random gets, a snapshot each (as a server serves them);
//! every latency goes into an HDR histogram in nanoseconds.
//!
//! 1. Checkpoints of a full WAL: first a window with no checkpoint called
//!    (idle), then the same threads while `Db::checkpoint` runs on a WAL
//!    filled to the recovery row's size by commits of 1,000 inserts without
//!    fsync (ascending keys: see `Fill`). The writer and the reader wait
//!    while the WAL fills and keep only samples that overlap a checkpoint;
//!    checkpoints of refilled WALs repeat until enough commits were seen or
//!    the window is over. Each percentile during checkpoints is also given
//!    over the idle p99.9 (the goal: p99.9 ≤ 2× idle). The options keep the
//!    engine from checkpointing by WAL size or interval meanwhile; it still
//!    does when freed pages pass an eighth of the file, and the rows say
//!    how often.
//! 2. A steady server-like mix, measured first, on the freshly loaded
//!    database with the engine's default options: the writer and the
//!    reader, plus a batch of 5,000 inserts every 2 s, for 20 s; the
//!    engine checkpoints as it decides to. `Db::stats` polled every few
//!    milliseconds gives each checkpoint's duration (it waits while one
//!    finishes, so a poll sees them one at a time).
//!
//! Windows and batches follow `--entries` in proportion below the standard
//! 1,000,000 (with floors that keep a tiny run measurable) and stay at the
//! standard's above it, so the rows add a bounded time to a run.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use oakmap::{Db, Durability, Options};

use super::report::{count_of, size, thousands, time};
use super::{ENTRIES_STANDARD, KEY_BYTES, Pair, Scale, TREE, VALUE_BYTES, percentiles};
use crate::engines::BenchResult;
use crate::shared::{Measure, Rng, Row};

/// Reader threads beside the writer. One, not two: on a 2-core machine two
/// busy readers, the writer and the checkpointer would contend for the
/// cores, and every tail figure would be the scheduler's time slice.
pub(super) const READERS: usize = 1;
/// The idle window at the standard size; a floor keeps a tiny run measurable.
const IDLE_WINDOW: Duration = Duration::from_secs(3);
const IDLE_WINDOW_MIN: Duration = Duration::from_millis(200);
/// The bound on refilling the WAL and checkpointing it, at the standard size.
const CHECKPOINT_WINDOW: Duration = Duration::from_secs(12);
const CHECKPOINT_WINDOW_MIN: Duration = Duration::from_millis(300);
/// Checkpoints of refilled WALs stop once this many commits overlapped them.
pub(super) const CHECKPOINT_COMMITS_ENOUGH: u64 = 2_000;
/// Or after this many: each fill adds a WAL's worth of entries to the tree.
/// At 1,000,000 entries a fill takes a fifth of a second and its checkpoint
/// less, so the window alone let 50 fills add some 3 GB to the file.
pub(super) const CHECKPOINTS_MAX: usize = 16;
/// The steady mix's window at the standard size.
const STEADY_WINDOW: Duration = Duration::from_secs(20);
const STEADY_WINDOW_MIN: Duration = Duration::from_millis(500);
/// Batches in the steady window: one every 2 s at the standard size.
pub(super) const STEADY_BATCHES: u32 = 10;
/// Inserts in a steady batch at the standard size.
const STEADY_BATCH_INSERTS: usize = 5_000;
/// How often the steady mix polls `Db::stats` for finished checkpoints.
pub(super) const STATS_POLL: Duration = Duration::from_millis(5);
/// A commit slower than this is counted as slow (the threshold).
pub(super) const SLOW_COMMIT: Duration = Duration::from_millis(10);
/// The histograms' range: 1 ns to a minute, 3 significant digits.
const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;

/// The rows, in the order the module comment gives them. Its files are
/// removed before it returns.
pub(super) fn rows(
    parent: &Path,
    keys: &[[u8; KEY_BYTES]],
    seed: u64,
    scale: &Scale,
    cache_bytes: usize,
) -> BenchResult<Vec<Row>> {
    let dir = tempfile::Builder::new()
        .prefix("latency-")
        .tempdir_in(parent)?;
    let path = dir.path().join("latency.oak");
    // The steady mix first, on the loaded keys and the engine's defaults,
    // before the fills below grow the tree.
    let db = Options::new().cache_bytes(cache_bytes).open(&path)?;
    super::online::load(&db, keys, seed ^ 0x1a7e_0c1e)?;
    db.checkpoint()?;
    let steady = steady(&db, keys, seed ^ 2, scale)?;
    db.close()?;

    // Then no checkpoint but ours, as far as the options go: the WAL bound
    // far above the fill (the engine starts one at half of it), and no
    // interval within the run. The engine still checkpoints when pages
    // freed since the last one pass an eighth of the file; the rows count
    // those.
    let db = Options::new()
        .durability(Durability::Immediate)
        .wal_bytes_max(4 * scale.recovery_wal_bytes.max(64 << 20))
        .checkpoint_interval(Duration::from_secs(3600))
        .cache_bytes(cache_bytes)
        .open(&path)?;
    let before = db.stats()?.checkpoints;
    let (idle, ()) = concurrent(&db, keys, seed, &Gate::always(), || {
        std::thread::sleep(Windows::new(scale).idle);
        Ok(())
    })?;
    let idle_background = db.stats()?.checkpoints - before;
    let gate = Gate::checkpoints();
    let (during, runs) = concurrent(&db, keys, seed ^ 1, &gate, || {
        checkpoints(&db, &gate, scale, seed)
    })?;
    db.close()?;
    let mut rows = checkpoint_rows(&idle, idle_background, &during, &runs);
    rows.extend(steady);
    Ok(rows)
}

/// `standard` in proportion to `--entries` below the standard size, at
/// least `min`; `standard` above it.
fn scaled(standard: Duration, min: Duration, scale: &Scale) -> Duration {
    standard.mul_f64(share(scale)).max(min)
}

/// `--entries` as a share of the standard size, at most 1.
fn share(scale: &Scale) -> f64 {
    (scale.entries as f64 / ENTRIES_STANDARD as f64).min(1.0)
}

/// The windows and the steady batch at `scale`, for the rows and the legend.
pub(super) struct Windows {
    pub(super) idle: Duration,
    pub(super) checkpoints: Duration,
    pub(super) steady: Duration,
    pub(super) batch_inserts: usize,
}

impl Windows {
    pub(super) fn new(scale: &Scale) -> Windows {
        Windows {
            idle: scaled(IDLE_WINDOW, IDLE_WINDOW_MIN, scale),
            checkpoints: scaled(CHECKPOINT_WINDOW, CHECKPOINT_WINDOW_MIN, scale),
            steady: scaled(STEADY_WINDOW, STEADY_WINDOW_MIN, scale),
            batch_inserts: ((STEADY_BATCH_INSERTS as f64 * share(scale)).ceil() as usize).max(1),
        }
    }
}

/// Which samples a thread keeps: all of them, or only while a checkpoint
/// runs. `epoch` is odd while one runs, and moves on at its start and end;
/// with `always` false the threads wait while it is even (so that the WAL
/// fills without them), and keep a sample that overlapped a checkpoint:
/// either end saw the epoch odd, or the two ends saw different epochs.
struct Gate {
    always: bool,
    epoch: AtomicU64,
    /// Commits kept so far, so the checkpoints know when they have enough.
    commits_kept: AtomicU64,
}

/// How long a thread waiting for the next checkpoint sleeps between looks.
const GATE_POLL: Duration = Duration::from_micros(100);

impl Gate {
    fn always() -> Gate {
        Gate {
            always: true,
            epoch: AtomicU64::new(0),
            commits_kept: AtomicU64::new(0),
        }
    }

    fn checkpoints() -> Gate {
        Gate {
            always: false,
            epoch: AtomicU64::new(0),
            commits_kept: AtomicU64::new(0),
        }
    }

    /// The epoch a sample starts in; waits while samples are not wanted,
    /// or returns `None` once `stop` is set.
    fn start(&self, stop: &AtomicBool) -> Option<u64> {
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let epoch = self.epoch.load(Ordering::Acquire);
            if self.always || epoch % 2 == 1 {
                return Some(epoch);
            }
            std::thread::sleep(GATE_POLL);
        }
    }

    /// Whether a sample that started in epoch `start` and ends now is kept.
    fn keeps(&self, start: u64) -> bool {
        let end = self.epoch.load(Ordering::Acquire);
        self.always || start % 2 == 1 || end % 2 == 1 || start != end
    }

    /// Runs `f` inside an odd epoch.
    fn during<T>(&self, f: impl FnOnce() -> T) -> T {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let out = f();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        out
    }
}

/// A histogram of latencies in nanoseconds.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).expect("constant bounds are valid")
}

/// What the writer and the readers kept in one window.
struct Samples {
    elapsed: Duration,
    commits: Histogram<u64>,
    /// Of each commit, the wait in `begin_write`: for the writer lock, or
    /// for a checkpoint when the WAL is full.
    begins: Histogram<u64>,
    gets: Histogram<u64>,
}

/// Runs the writer and `READERS` readers while `meanwhile` runs on this
/// thread, and stops them when it returns: what they kept, and what
/// `meanwhile` returned.
fn concurrent<T>(
    db: &Db,
    keys: &[[u8; KEY_BYTES]],
    seed: u64,
    gate: &Gate,
    meanwhile: impl FnOnce() -> BenchResult<T>,
) -> BenchResult<(Samples, T)> {
    let stop = AtomicBool::new(false);
    let stop = &stop;
    std::thread::scope(|s| {
        let writer = s.spawn(move || writer(db, seed, gate, stop));
        let readers: Vec<_> = (0..READERS)
            .map(|i| {
                let seed = seed ^ ((i as u64 + 1) << 32);
                s.spawn(move || reader(db, keys, seed, gate, stop))
            })
            .collect();
        let t0 = Instant::now();
        let out = meanwhile();
        let elapsed = t0.elapsed();
        stop.store(true, Ordering::Relaxed);
        let (commits, begins) = writer.join().expect("writer thread")?;
        let mut gets = histogram();
        for r in readers {
            gets.add(r.join().expect("reader thread")?)?;
        }
        let samples = Samples {
            elapsed,
            commits,
            begins,
            gets,
        };
        Ok((samples, out?))
    })
}

/// The nanoseconds since `t0`, saturated.
fn nanos_since(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Durable single-insert commits of fresh pairs until `stop`: the latencies
/// `gate` keeps, whole and of their `begin_write` alone.
fn writer(
    db: &Db,
    seed: u64,
    gate: &Gate,
    stop: &AtomicBool,
) -> BenchResult<(Histogram<u64>, Histogram<u64>)> {
    let mut rng = Rng(seed ^ 0x0077_7173);
    let (mut lat, mut begins) = (histogram(), histogram());
    let mut pair: Pair = ([0u8; KEY_BYTES], [0u8; VALUE_BYTES]);
    while let Some(start) = gate.start(stop) {
        rng.fill(&mut pair.0);
        rng.fill(&mut pair.1);
        let t0 = Instant::now();
        let mut tx = db.begin_write()?;
        let begin = nanos_since(t0);
        tx.open_tree(TREE)?.insert(&pair.0, &pair.1)?;
        tx.commit()?;
        let ns = nanos_since(t0);
        if gate.keeps(start) {
            lat.saturating_record(ns);
            begins.saturating_record(begin);
            gate.commits_kept.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok((lat, begins))
}

/// Random gets of loaded keys until `stop`, each in a snapshot of its own:
/// the latencies `gate` keeps.
fn reader(
    db: &Db,
    keys: &[[u8; KEY_BYTES]],
    seed: u64,
    gate: &Gate,
    stop: &AtomicBool,
) -> BenchResult<Histogram<u64>> {
    let mut rng = Rng(seed);
    let mut lat = histogram();
    while let Some(start) = gate.start(stop) {
        let k = &keys[rng.below(keys.len())];
        let t0 = Instant::now();
        super::online::get_loaded(db, k)?;
        let ns = nanos_since(t0);
        if gate.keeps(start) {
            lat.saturating_record(ns);
        }
    }
    Ok(lat)
}

/// What the checkpoints of full WALs were.
struct Checkpoints {
    /// Each one's duration, as `Db::checkpoint` returned.
    took: Vec<Duration>,
    /// WAL bytes each one covered, summed.
    wal_bytes: u64,
    /// Checkpoints the engine started itself while a WAL filled.
    background: u64,
    /// Fills that ran out of time before the WAL held the bytes asked for.
    short: u64,
}

impl Checkpoints {
    /// "3 checkpoints of a 64.0 MiB WAL on average; checkpoint p50 …, p99
    /// …, max …", and what did not go as planned.
    fn note(&self) -> String {
        let n = self.took.len() as u64;
        let mut note = format!(
            "{} of a {} WAL on average; checkpoint {}",
            count_of(n, "checkpoint"),
            size(self.wal_bytes / n.max(1)),
            percentiles(self.took.clone())
        );
        if self.short > 0 {
            note += &format!("; {} ran out of time", count_of(self.short, "fill"));
        }
        if self.background > 0 {
            note += &format!(
                "; {} started by the engine while a WAL filled",
                thousands(self.background)
            );
        }
        note
    }
}

/// Fills the WAL and checkpoints it inside `gate`'s odd epochs, again and
/// again until enough commits overlapped the checkpoints, `CHECKPOINTS_MAX`
/// ran or the window is over (one checkpoint at least).
fn checkpoints(db: &Db, gate: &Gate, scale: &Scale, seed: u64) -> BenchResult<Checkpoints> {
    let window = Windows::new(scale).checkpoints;
    let mut fill = Fill {
        rng: Rng(seed ^ 0x0f11_10a1),
        next: 0,
    };
    let mut runs = Checkpoints {
        took: Vec::new(),
        wal_bytes: 0,
        background: 0,
        short: 0,
    };
    let before = db.stats()?.checkpoints;
    let t0 = Instant::now();
    let enough = || gate.commits_kept.load(Ordering::Relaxed) >= CHECKPOINT_COMMITS_ENOUGH;
    let more = |n: usize| n < CHECKPOINTS_MAX && t0.elapsed() < window && !enough();
    while runs.took.is_empty() || more(runs.took.len()) {
        let (wal_bytes, full) = fill.wal(db, scale, window)?;
        runs.wal_bytes += wal_bytes;
        runs.short += u64::from(!full);
        let c0 = Instant::now();
        gate.during(|| db.checkpoint())?;
        runs.took.push(c0.elapsed());
    }
    let checkpoints = db.stats()?.checkpoints - before;
    runs.background = checkpoints.saturating_sub(runs.took.len() as u64);
    Ok(runs)
}

/// The pairs that fill the WAL. Their keys ascend beyond the loaded ones
/// (`FILL_KEY_PREFIX`, then a counter), so a commit of 1,000 rewrites the
/// few leaves at the tree's right edge. Random keys would rewrite about a
/// thousand leaves a commit across the tree, and the engine checkpoints
/// by itself once pages freed since the last checkpoint pass an eighth of
/// the file: at 1,000,000 entries every few commits, long before the WAL
/// is full (a first version of this bench saw 262 such checkpoints).
struct Fill {
    rng: Rng,
    next: u64,
}

/// The fill keys' first bytes: above every loaded key but those (one in
/// 2^64) that start with them too.
const FILL_KEY_PREFIX: [u8; 8] = [0xff; 8];

impl Fill {
    /// Commits of the recovery row's batches without fsync until the WAL
    /// holds its bytes (one commit at least) or `limit` passes: the WAL's
    /// bytes, and whether they reached the mark.
    fn wal(&mut self, db: &Db, scale: &Scale, limit: Duration) -> BenchResult<(u64, bool)> {
        let t0 = Instant::now();
        let mut pair: Pair = ([0u8; KEY_BYTES], [0u8; VALUE_BYTES]);
        pair.0[..8].copy_from_slice(&FILL_KEY_PREFIX);
        loop {
            let mut tx = db.begin_write()?;
            tx.set_durability(Durability::None);
            let mut t = tx.open_tree(TREE)?;
            for _ in 0..scale.recovery_batch_inserts {
                pair.0[8..16].copy_from_slice(&self.next.to_be_bytes());
                self.next += 1;
                self.rng.fill(&mut pair.0[16..]);
                self.rng.fill(&mut pair.1);
                t.insert(&pair.0, &pair.1)?;
            }
            tx.commit()?;
            let wal_bytes = db.stats()?.wal_bytes;
            let full = wal_bytes >= scale.recovery_wal_bytes;
            if full || t0.elapsed() >= limit {
                return Ok((wal_bytes, full));
            }
        }
    }
}

/// "p50 …, p99 …, p99.9 …, max …" of a histogram of nanoseconds; with
/// `base`, each also as a multiple of it.
fn quantiles(h: &Histogram<u64>, base: Option<u64>) -> String {
    if h.is_empty() {
        return "no samples".into();
    }
    let at = |name: &str, ns: u64| {
        let mut s = format!("{name} {}", time(Duration::from_nanos(ns)));
        if let Some(base) = base {
            s += &format!(" ({:.2}×)", ns as f64 / base.max(1) as f64);
        }
        s
    };
    [
        at("p50", h.value_at_quantile(0.5)),
        at("p99", h.value_at_quantile(0.99)),
        at("p99.9", h.value_at_quantile(0.999)),
        at("max", h.max()),
    ]
    .join(", ")
}

/// "begin_write waited …": the part of the commits' latency spent waiting
/// for the writer lock (or a checkpoint of a full WAL), at its p99 and max.
/// It comes before the commits' own percentiles in a row's details.
fn waits(begins: &Histogram<u64>) -> String {
    if begins.is_empty() {
        return "no begin_write".into();
    }
    let at = |ns: u64| time(Duration::from_nanos(ns));
    format!(
        "begin_write waited up to {} at the 99th percentile, {} at most",
        at(begins.value_at_quantile(0.99)),
        at(begins.max())
    )
}

/// The p99.9 of a histogram of nanoseconds, the rows' figure (0 for none).
fn p999(h: &Histogram<u64>) -> Duration {
    Duration::from_nanos(if h.is_empty() {
        0
    } else {
        h.value_at_quantile(0.999)
    })
}

/// The commit and get rows, idle and during checkpoints of full WALs;
/// `idle_background`: checkpoints the engine started in the idle window.
fn checkpoint_rows(
    idle: &Samples,
    idle_background: u64,
    during: &Samples,
    runs: &Checkpoints,
) -> Vec<Row> {
    let readers = count_of(READERS as u64, "reader");
    let what = runs.note();
    let alone = match idle_background {
        0 => "no checkpoint".to_string(),
        n => format!("{} started by the engine", count_of(n, "checkpoint")),
    };
    let over = |h: &Histogram<u64>, idle: &Histogram<u64>| {
        let base = idle.value_at_quantile(0.999);
        format!(
            "{}; in brackets, over the idle p99.9, the goal ≤ 2×",
            quantiles(h, Some(base))
        )
    };
    let commits = |h: &Histogram<u64>| count_of(h.len(), "commit");
    let gets = |h: &Histogram<u64>| count_of(h.len(), "get");
    vec![
        Row::new(
            "commit latency, idle",
            Measure::Time(p999(&idle.commits)),
            format!(
                "{} in {}, durable single inserts beside {readers}, {alone} meanwhile; {}; {}",
                commits(&idle.commits),
                time(idle.elapsed),
                waits(&idle.begins),
                quantiles(&idle.commits, None)
            ),
        ),
        Row::new(
            "commit latency, during checkpoints",
            Measure::Time(p999(&during.commits)),
            format!(
                "{} overlapping {what}; {}; {}",
                commits(&during.commits),
                waits(&during.begins),
                over(&during.commits, &idle.commits)
            ),
        ),
        Row::new(
            "get latency, idle",
            Measure::Time(p999(&idle.gets)),
            format!(
                "{} in {}, random, a snapshot each, beside the writer; {}",
                gets(&idle.gets),
                time(idle.elapsed),
                quantiles(&idle.gets, None)
            ),
        ),
        Row::new(
            "get latency, during checkpoints",
            Measure::Time(p999(&during.gets)),
            format!(
                "{} overlapping the checkpoints; {}",
                gets(&during.gets),
                over(&during.gets, &idle.gets)
            ),
        ),
    ]
}

/// What the steady mix's driver saw besides the writer and the readers.
struct Mix {
    batches: u32,
    batch_inserts: usize,
    batch_period: Duration,
    batch_lat: Vec<Duration>,
    /// Each checkpoint's duration, from `Db::stats`.
    checkpoints: Vec<Duration>,
    /// Of those, how many are a share of several a poll found at once.
    shared: u64,
    checkpoint_total: Duration,
}

/// The steady mix: its rows.
fn steady(db: &Db, keys: &[[u8; KEY_BYTES]], seed: u64, scale: &Scale) -> BenchResult<Vec<Row>> {
    let w = Windows::new(scale);
    let (window, batch_inserts) = (w.steady, w.batch_inserts);
    let (samples, mix) = concurrent(db, keys, seed, &Gate::always(), || {
        drive(db, window, batch_inserts, seed)
    })?;
    Ok(steady_rows(&samples, &mix))
}

/// Runs the batches on their schedule for `window`, polling `Db::stats`
/// for finished checkpoints in between.
fn drive(db: &Db, window: Duration, batch_inserts: usize, seed: u64) -> BenchResult<Mix> {
    let mut rng = Rng(seed ^ 0x0ba7_c4e5);
    let batch_period = window / STEADY_BATCHES;
    let mut mix = Mix {
        batches: 0,
        batch_inserts,
        batch_period,
        batch_lat: Vec::new(),
        checkpoints: Vec::new(),
        shared: 0,
        checkpoint_total: Duration::ZERO,
    };
    let first = db.stats()?;
    let mut last = first.clone();
    let t0 = Instant::now();
    while t0.elapsed() < window {
        if t0.elapsed() >= batch_period * mix.batches {
            let b0 = Instant::now();
            batch(db, batch_inserts, &mut rng)?;
            mix.batch_lat.push(b0.elapsed());
            mix.batches += 1;
        }
        std::thread::sleep(STATS_POLL);
        let now = db.stats()?;
        let n = now.checkpoints - last.checkpoints;
        if n > 0 {
            // One finished since the last poll: its own duration. Several:
            // the last one's, and the rest share what remains.
            mix.checkpoints.push(now.checkpoint_last);
            let rest =
                (now.checkpoint_total - last.checkpoint_total).saturating_sub(now.checkpoint_last);
            let others = u32::try_from(n - 1).unwrap_or(u32::MAX);
            mix.checkpoints
                .extend((0..others).map(|_| rest / others.max(1)));
            mix.shared += u64::from(others) + u64::from(others > 0);
        }
        last = now;
    }
    mix.checkpoint_total = last.checkpoint_total - first.checkpoint_total;
    Ok(mix)
}

/// One durable commit of `inserts` fresh pairs.
fn batch(db: &Db, inserts: usize, rng: &mut Rng) -> BenchResult<()> {
    let mut pair: Pair = ([0u8; KEY_BYTES], [0u8; VALUE_BYTES]);
    let mut tx = db.begin_write()?;
    let mut t = tx.open_tree(TREE)?;
    for _ in 0..inserts {
        rng.fill(&mut pair.0);
        rng.fill(&mut pair.1);
        t.insert(&pair.0, &pair.1)?;
    }
    tx.commit()?;
    Ok(())
}

/// "1 batch", "10 batches".
fn batches(n: u32) -> String {
    let word = if n == 1 { "batch" } else { "batches" };
    format!("{} {word}", thousands(u64::from(n)))
}

/// The steady mix's rows: checkpoints, commits, gets.
fn steady_rows(samples: &Samples, mix: &Mix) -> Vec<Row> {
    let n = mix.checkpoints.len() as u64;
    let minutes = samples.elapsed.as_secs_f64() / 60.0;
    let mut sorted = mix.checkpoints.clone();
    sorted.sort_unstable();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let mut cp = format!(
        "{} in {}: {:.1} a minute",
        count_of(n, "checkpoint"),
        time(samples.elapsed),
        n as f64 / minutes.max(1e-9),
    );
    if n > 0 {
        cp += &format!(
            "; each {}, mean {}",
            percentiles(mix.checkpoints.clone()),
            time(mix.checkpoint_total / u32::try_from(n).unwrap_or(u32::MAX))
        );
    }
    if mix.shared > 0 {
        cp += &format!(
            " ({} found together by one poll, their time shared)",
            thousands(mix.shared)
        );
    }
    let slow_ns = u64::try_from(SLOW_COMMIT.as_nanos()).unwrap_or(u64::MAX);
    let c = &samples.commits;
    let slow = if c.is_empty() {
        0
    } else {
        c.count_between(slow_ns, u64::MAX)
    };
    vec![
        Row::new("steady mix: checkpoint duration", Measure::Time(median), cp),
        Row::new(
            "steady mix: commit latency",
            Measure::Time(p999(c)),
            format!(
                "{} in {}, durable single inserts, beside {} of {} (one every {}; {}); {}; \
                 {:.2}% over {}",
                count_of(c.len(), "commit"),
                time(samples.elapsed),
                batches(mix.batches),
                count_of(mix.batch_inserts as u64, "insert"),
                time(mix.batch_period),
                percentiles(mix.batch_lat.clone()),
                quantiles(c, None),
                slow as f64 * 100.0 / c.len().max(1) as f64,
                time(SLOW_COMMIT)
            ),
        ),
        Row::new(
            "steady mix: get latency",
            Measure::Time(p999(&samples.gets)),
            format!(
                "{}, random, a snapshot each; {}",
                count_of(samples.gets.len(), "get"),
                quantiles(&samples.gets, None)
            ),
        ),
    ]
}
