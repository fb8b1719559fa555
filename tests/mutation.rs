//! Guards against damaged files of every kind: mutated copies of three small
//! databases (two crash images, one closed cleanly) must each be refused at
//! open, or open and read back an acknowledged state, or report an error;
//! never panic, fault, hang, roll back silently where the damage could be
//! seen, or stop opening after a write.
//!
//! Images cycle through three regimes by index: raw damage (bit flips, bytes
//! set, a file cut short, a page copied over another, a file deleted); one
//! structural field forged with its checksum recomputed; raw damage opened
//! with checksum verification off. Each runs in a child process
//! (`common::child`), many in sequence, so a panic, signal or hang is
//! charged to its image and the run goes on. `OAKMAP_MUTATION_IMAGES=N`
//! (default 10,200) and `OAKMAP_MUTATION_SEED=S` (printed at start) give soak
//! runs and replays; `OAKMAP_MUTATION_ONLY=7,12-20` runs just those images,
//! and `OAKMAP_MUTATION_VERBOSE=1` prints every image's outcome.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::child::{self, Case, Limits};
use common::format::{FILES, Field, Files, Hint, PAGE, Structure, describe, le, set_le};
use common::layout::{Layout, Record, Role};
use common::{Rng, copy_db};
use oakmap::{Db, FailPoints, Options};

const IMAGES_DEFAULT: u64 = 10_200;
const SEED_DEFAULT: u64 = 0x6f61_6b6d_7574;
/// An image with no outcome after this long hangs (they take milliseconds);
/// a forged length that becomes an allocation aborts its child at 4 GiB.
const LIMITS: Limits = Limits {
    case_timeout: Duration::from_secs(10),
    memory_kib: 4 << 20,
};
const SCRATCH_VAR: &str = "OAKMAP_MUTATION_SCRATCH";
const SEED_VAR: &str = "OAKMAP_MUTATION_SEED";
const ONLY_VAR: &str = "OAKMAP_MUTATION_ONLY";
const TREES: [&str; 3] = ["alpha", "beta", "delta"];

type Tree = BTreeMap<Vec<u8>, Vec<u8>>;
type State = BTreeMap<String, Tree>;

// ---------------------------------------------------------------------------
// The workload and its model.

#[derive(Clone, Debug)]
enum Op {
    Put(&'static str, Vec<u8>, Vec<u8>),
    Del(&'static str, Vec<u8>),
    DropTree(&'static str),
}

fn put(r: &mut Rng, tree: &'static str, key: String, len: u64) -> Op {
    Op::Put(tree, key.into_bytes(), r.bytes(len as usize))
}

fn del(tree: &'static str, key: String) -> Op {
    Op::Del(tree, key.into_bytes())
}

/// Sixteen commits, and (`None`) a checkpoint after the 6th and the 11th.
/// The first six build a two-level tree, overflow values (over ~1,400
/// bytes at 4 KiB pages) and a dropped tree whose pages go to the freelist;
/// the rest are small, and in a crash image the last five are only in the WAL.
fn workload() -> Vec<Option<Vec<Op>>> {
    let r = &mut Rng(0x0a4b_3a9d);
    let mut ops = |tree: &'static str, keys: std::ops::Range<u64>, len: fn(u64) -> u64| {
        let ops = keys.map(|i| put(r, tree, format!("{}{i:04}", &tree[..1]), len(i)));
        ops.collect::<Vec<Op>>()
    };
    let mut steps = vec![Some(ops("alpha", 0..150, |i| 10 + i % 50))];
    let mut beta = ops("beta", 0..12, |_| 30);
    beta.extend(ops("beta", 100..105, |i| 1500 + (i - 100) * 1700));
    let gamma = ops("gamma", 0..60, |i| if i < 59 { 40 } else { 5000 });
    let mut more = ops("alpha", 150..190, |_| 25);
    for i in (0..150).step_by(7) {
        more.push(del("alpha", format!("a{i:04}")));
    }
    steps.extend([Some(beta), Some(gamma), Some(more)]);
    let big = put(r, "beta", "b0102".into(), 12_000);
    steps.push(Some(vec![Op::DropTree("gamma")]));
    steps.extend([Some(vec![del("beta", "b0101".into()), big]), None]);
    for (part, i) in (0..2).flat_map(|part| (0..5).map(move |i| (part, i))) {
        let alpha = format!("a{:04}", 1 + 13 * i + 70 * part);
        let mut c = vec![put(r, "alpha", alpha, 30 + i)];
        c.push(put(r, "delta", format!("d{part}{i}"), 20));
        c.push(del("alpha", format!("a{:04}", 2 + 11 * i + 60 * part)));
        c.push(match i % 2 {
            0 => put(r, "beta", format!("x{part}{i}"), 1600 + 700 * i),
            _ => del("beta", format!("b{:04}", i + 5 * part)),
        });
        steps.push(Some(c));
        steps.extend((part == 0 && i == 4).then_some(None));
    }
    steps
}

fn apply(state: &mut State, ops: &[Op]) {
    fn tree<'s>(state: &'s mut State, name: &str) -> &'s mut Tree {
        state.entry(name.to_string()).or_default()
    }
    for op in ops {
        match op {
            Op::Put(t, k, v) => drop(tree(state, t).insert(k.clone(), v.clone())),
            Op::Del(t, k) => drop(tree(state, t).remove(k)),
            Op::DropTree(t) => drop(state.remove(*t)),
        }
    }
}

/// Every acknowledged state: `history()[n]` follows commit `n` (txn id `n`).
fn history() -> Vec<State> {
    let mut h = vec![State::new()];
    for ops in workload().into_iter().flatten() {
        let mut s = h[h.len() - 1].clone();
        apply(&mut s, &ops);
        h.push(s);
    }
    h
}

fn commit(db: &Db, ops: &[Op]) -> oakmap::Result<()> {
    let mut tx = db.begin_write()?;
    for op in ops {
        match op {
            Op::Put(t, k, v) => tx.open_tree(t)?.insert(k, v).map(drop)?,
            Op::Del(t, k) => tx.open_tree(t)?.remove(k).map(drop)?,
            Op::DropTree(t) => tx.delete_tree(t).map(drop)?,
        }
    }
    tx.commit()
}

/// Every tree, entry and value, forward and backward: the state, or why not
/// (`true` for an error reported, `false` for answers that disagree).
fn read_all(db: &Db) -> Result<State, (bool, String)> {
    let read = || -> oakmap::Result<Result<State, String>> {
        let (rx, mut state) = (db.begin_read(), State::new());
        for name in rx.list_trees()? {
            let Some(t) = rx.tree(&name)? else {
                return Ok(Err(name));
            };
            let mut fwd = Vec::new();
            for e in t.iter()? {
                fwd.push(e.map(|(k, v)| (k.to_vec(), v.to_vec()))?);
            }
            let mut back = Vec::new();
            for e in t.iter()?.rev() {
                back.push(e?.0.to_vec());
            }
            let ordered = fwd.windows(2).all(|w| w[0].0 < w[1].0);
            let same = back.iter().eq(fwd.iter().rev().map(|e| &e.0));
            if !ordered || !same || t.len() != fwd.len() as u64 {
                return Ok(Err(name));
            }
            state.insert(name, fwd.into_iter().collect());
        }
        Ok(Ok(state))
    };
    match read() {
        Ok(r) => r.map_err(|t| (false, format!("{t}: list, scans and len disagree"))),
        Err(e) => Err((true, e.to_string())),
    }
}

/// Options for every image: no checkpoint of its own accord, a small cache.
fn options() -> Options {
    let o = Options::new().cache_bytes(1 << 20);
    o.checkpoint_interval(Duration::from_secs(3600))
}

// ---------------------------------------------------------------------------
// The base images.

const BASES: [&str; 3] = ["crash-one-wal", "crash-two-wals", "clean"];

/// Builds the bases in `dir/<name>/`: a crash image whose log after the last
/// checkpoint is in one WAL file; one whose last checkpoint switched files
/// and stalled before its meta slot, so the log from the checkpoint before
/// spans both files; a database closed cleanly. Crash images are copied
/// while the `Db` is open: every acknowledged commit is in the files.
fn build_bases(dir: &Path) {
    const STALL: &str = "checkpoint.data.sync";
    for name in BASES {
        let (live, image) = (dir.join(format!("live-{name}")), dir.join(name));
        std::fs::create_dir_all(&live).unwrap();
        std::fs::create_dir_all(&image).unwrap();
        let fail = Arc::new(FailPoints::new());
        // A plain `Db`: the check a `TestDb` runs first would checkpoint
        // before the close, and the clean base is to be what a close alone
        // leaves. Each base is checked as it is by the self-test of
        // `run_image` in the parent.
        let opened = options()
            .fail_points(fail.clone())
            .open(live.join(FILES[0]));
        let (db, mut checkpoints, mut stalled) = (Arc::new(opened.unwrap()), 0, None);
        for step in workload() {
            let Some(ops) = step else {
                checkpoints += 1;
                if name == "crash-two-wals" && checkpoints == 2 {
                    fail.hold(STALL);
                    let db = db.clone();
                    stalled = Some(std::thread::spawn(move || db.checkpoint()));
                    while fail.waiting(STALL) == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                } else {
                    db.checkpoint().unwrap();
                }
                continue;
            };
            commit(&db, &ops).unwrap();
        }
        if name != "clean" {
            copy_db(&live.join(FILES[0]), &image.join(FILES[0]));
        }
        fail.release(STALL);
        if let Some(t) = stalled {
            t.join().unwrap().unwrap();
        }
        drop(Arc::into_inner(db).expect("the last handle"));
        if name == "clean" {
            copy_db(&live.join(FILES[0]), &image.join(FILES[0]));
        }
    }
}

/// Loads the bases and checks they have the shapes the mutations aim at.
fn load_bases(dir: &Path) -> Vec<Layout> {
    let bases = BASES.map(|name| Layout::read(&dir.join(name)));
    let commits = history().len() as u64 - 1;
    for (b, name) in bases.iter().zip(BASES) {
        // Every role but Unused (the clean base is trimmed to its pages).
        for &(role, ..) in &ROLES[..9] {
            assert!(!b.pages(role).is_empty(), "{name}: no {role:?} page");
        }
        let replayed = b.records.iter().map(|r| r.3).eq(b.meta_txn + 1..=commits);
        assert!(replayed, "{name}: the log replays the rest");
        b.assert_checksums();
    }
    // The newest checkpoints, and the WAL files their logs are in.
    let files = |b: &Layout| BTreeSet::from_iter(b.records.iter().map(|r| r.0)).len();
    assert_eq!(bases.each_ref().map(|b| b.meta_txn), [11, 6, commits]);
    assert_eq!(bases.each_ref().map(files), [1, 2, 0]);
    bases.into()
}

// ---------------------------------------------------------------------------
// Mutations.

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Regime {
    #[default]
    Raw,
    Forged,
    Unverified,
}

const REGIMES: [Regime; 3] = [Regime::Raw, Regime::Forged, Regime::Unverified];

/// Data page roles: weight for raw damage, weight for forging.
#[rustfmt::skip]
const ROLES: [(Role, u64, u64); 10] = [
    (Role::Header, 6, 5), (Role::MetaNewest, 8, 12), (Role::MetaOlder, 5, 6),
    (Role::Branch, 10, 14), (Role::Leaf, 18, 24), (Role::Overflow, 9, 11),
    (Role::OverflowBody, 4, 3), (Role::Freelist, 9, 11), (Role::Free, 3, 0), (Role::Unused, 2, 0),
];

/// One mutated image: a pure function of the seed, the index and the bases.
#[derive(Default)]
struct Plan {
    regime: Regime,
    base: usize,
    /// The kind of mutation ("Leaf data_start"), to group failures by, and
    /// this one in words (`describe` gives its bytes).
    what: String,
    label: String,
    /// The data page damaged, and the cell of a damaged field, so the
    /// write goes through them.
    page: Option<u64>,
    cell: Option<usize>,
    image: Files,
    rng: Rng,
}

fn plan(seed: u64, index: u64, bases: &[Layout]) -> Plan {
    let mut rng = Rng(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
    let (regime, b) = (REGIMES[index as usize % 3], rng.below(3) as usize);
    let mut p = Plan::default();
    (p.regime, p.base, p.image) = (regime, b, bases[b].files.clone().map(Some));
    match regime {
        Regime::Forged => forge(&mut rng, &bases[b], &mut p),
        _ => damage(&mut rng, &bases[b], &mut p),
    }
    p.rng = rng;
    p
}

fn pick<T: Clone>(rng: &mut Rng, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.below(items.len() as u64) as usize].clone())
}

/// A structure to damage or forge, what it is ("Leaf", "wal1 record"),
/// which ("Leaf page 9"), and its data page, for the write to go through.
type Target = (Structure, String, String, Option<u64>);

/// A structure, by weight: a WAL header or record (mostly of the file the
/// log ends in), or a data page of a role the base has.
fn target(rng: &mut Rng, base: &Layout, regime: Regime) -> Target {
    if rng.below(100) < if regime == Regime::Unverified { 10 } else { 30 } {
        let tail = base.tail().unwrap_or(0);
        let w = if rng.below(10) < 7 { tail } else { 1 - tail };
        let records: Vec<_> = base.records.iter().filter(|r| r.0 == w).collect();
        let (header, kind) = (format!("wal{w} header"), format!("wal{w} record"));
        return match pick(rng, &records).filter(|_| rng.below(3) > 0) {
            None => (Structure::WalHeader(w), header.clone(), header, None),
            Some(&(_, at, len, txn)) => {
                let place = format!("{kind} txn {txn}");
                (Structure::Record(w, at, len), kind, place, None)
            }
        };
    }
    let weight = |s: &(Role, u64, u64)| if regime == Regime::Forged { s.2 } else { s.1 };
    let mut roles = ROLES.to_vec();
    roles.retain(|s| !base.pages(s.0).is_empty());
    // The first role whose weight exceeds what is left of r.
    let mut r = rng.below(roles.iter().map(weight).sum());
    let role = roles
        .iter()
        .find(|s| r.checked_sub(weight(s)).map(|n| r = n).is_none());
    let role = role.expect("r is below the total weight").0;
    let page = pick(rng, &base.pages(role)).unwrap();
    let (kind, place) = (format!("{role:?}"), format!("{role:?} page {page}"));
    (base.structure(page), kind, place, Some(page))
}

/// A field by name first, so a rare one (an overflow reference) is drawn as
/// often as a common one (a slot); then one of that name.
fn pick_field(rng: &mut Rng, fields: &[(Field, Option<usize>)]) -> Option<(Field, Option<usize>)> {
    let names: BTreeSet<&str> = fields.iter().map(|f| f.0.0).collect();
    let name = pick(rng, &names.into_iter().collect::<Vec<_>>())?;
    let named: Vec<_> = fields.iter().filter(|f| f.0.0 == name).cloned().collect();
    pick(rng, &named)
}

/// Regimes 1 and 3: raw damage, checksums left as they are.
fn damage(rng: &mut Rng, base: &Layout, p: &mut Plan) {
    let tail = 1 + base.tail().unwrap_or(rng.below(2) as usize);
    let choice = rng.below(100);
    if choice < 10 {
        let f = [0, 0, 0, 0, tail, tail, tail, 3 - tail, 3 - tail, 3 - tail][choice as usize];
        let b = p.image[f].as_mut().unwrap();
        // Mostly into the records, not the zeros the file grows by.
        let ends = base.records.iter().filter(|r| r.0 + 1 == f);
        let end = ends.map(|r| r.1 + r.2).max().unwrap_or(64) + 64;
        let into_records = f > 0 && rng.below(3) < 2;
        let end = if into_records { end } else { b.len() };
        b.truncate(rng.below(end as u64) as usize);
        p.what = format!("cut {}", FILES[f]);
        if rng.below(5) == 0 {
            (p.image[f], p.what) = (None, format!("delete {}", FILES[f]));
        }
        p.label.clone_from(&p.what);
        return;
    }
    if choice < 18 {
        let pages = (base.files[0].len() / PAGE) as u64;
        let (from, to) = (rng.below(pages), rng.below(pages - 1));
        let to = to + (to >= from) as u64;
        let (a, b) = (from as usize * PAGE, to as usize * PAGE);
        p.image[0].as_mut().unwrap().copy_within(a..a + PAGE, b);
        p.what = format!("copy {:?} over {:?}", base.roles[&from], base.roles[&to]);
        (p.label, p.page) = (format!("page {from} copied over page {to}"), Some(to));
        return;
    }
    let (s, kind, place, page) = target(rng, base, p.regime);
    let fields = s.fields(&base.files, rng);
    // Mostly a byte of a structural field, else any byte of the structure.
    let field = pick_field(rng, &fields).filter(|_| rng.below(10) < 7);
    let (f, start, len) = s.span();
    let at = match field {
        Some(((_, off, width, _), _)) => start + off + rng.below(width as u64) as usize,
        None => start + rng.below(len as u64) as usize,
    };
    let b = p.image[f].as_mut().unwrap();
    let how = ["flip", "flip", "flip", "zero", "0xff", "random", "run"][rng.below(7) as usize];
    let run = 2 + rng.below(15) as usize;
    let n = if how == "run" { run } else { 1 };
    let end = (at + n).min(start + len).min(b.len());
    for byte in &mut b[at..end] {
        let new = match how {
            "flip" => *byte ^ (1 << rng.below(8)),
            "zero" => 0,
            "0xff" => 0xff,
            _ => rng.next() as u8,
        };
        // Every byte changes: setting one to the value it has flips a bit.
        *byte = new ^ ((new == *byte) as u8) << rng.below(8);
    }
    let name = field.map_or("any byte", |f| f.0.0);
    p.what = format!("{kind} {name}");
    p.label = format!("{how} at {}@{at}: {place} {name}", FILES[f]);
    (p.page, p.cell) = (page, field.and_then(|f| f.1));
}

/// Regime 2: one structural field changed and its checksum recomputed.
fn forge(rng: &mut Rng, base: &Layout, p: &mut Plan) {
    let ((s, kind, place, page), ((name, off, width, hint), cell)) = loop {
        let t = target(rng, base, p.regime);
        let fields = t.0.fields(&base.files, rng);
        if let Some(field) = pick_field(rng, &fields) {
            break (t, field);
        }
    };
    let (f, start, _) = s.span();
    let (at, max) = (start + off, u64::MAX >> (64 - 8 * width));
    let b = p.image[f].as_mut().unwrap();
    let old = le(b, at, width);
    let new = match (rng.below(9), hint) {
        (0, _) => old.wrapping_add(1),
        (1, _) => old.wrapping_sub(1),
        (2, _) => 0,
        (3, _) => max,
        (4, _) => old ^ (1 << rng.below(8 * width as u64)),
        (5, _) | (_, Hint::Any) => rng.next(),
        (_, Hint::Count) => rng.below(2 * PAGE as u64),
        (6, Hint::PageRef) => base.page_count + rng.below(1000),
        (_, Hint::PageRef) => rng.below(base.page_count + 3),
        (_, Hint::Txn) => (base.meta_txn + rng.below(12)).saturating_sub(6),
        (_, Hint::Lsn) => old.wrapping_add(rng.below(400)).wrapping_sub(200),
    } & max;
    let new = if new == old { old ^ 1 } else { new };
    set_le(b, at, width, new);
    s.seal(&mut p.image);
    p.what = format!("{kind} {name}");
    p.label = format!("{place} {name}: {old} -> {new}, checksum recomputed");
    (p.page, p.cell) = (page, cell);
}

/// How far back recovery may go unnoticed. Damage to records of the WAL file
/// the log ends in that leaves no intact record after the first damaged one
/// (a cut, bytes of the last records) is a torn tail to any reader: commits
/// from that record on may be lost. Other damage shows (a later record's
/// `synced_lsn`, a gap between files, a header), so every commit must stay.
fn torn_tail_floor(base: &Layout, image: &Files, commits: u64) -> u64 {
    let Some(t) = base.tail() else { return commits };
    let others = (0..3).all(|f| f == 1 + t || image[f].as_ref() == Some(&base.files[f]));
    let (Some(new), old) = (&image[1 + t], &base.files[1 + t]) else {
        return commits;
    };
    let first = (0..new.len())
        .find(|&i| old[i] != new[i])
        .unwrap_or(new.len());
    let recs: Vec<&Record> = base.records.iter().filter(|r| r.0 == t).collect();
    let hit = |r: &&Record| r.1 + r.2 > new.len() || old[r.1..][..r.2] != new[r.1..][..r.2];
    match recs.iter().position(hit) {
        Some(k) if others && first >= recs[0].1 && recs[k..].iter().all(hit) => recs[k].3 - 1,
        _ => commits,
    }
}

// ---------------------------------------------------------------------------
// One image: open, read, check, write, close, reopen, read. The outcome is
// a line of four fields separated by tabs: how it opened (refused:<Kind>,
// intact, detected, torn-tail, rollback or altered); the write (committed,
// or refused with its error); the reopen (as-written, differs, read-error,
// refused, or opened when there is nothing to compare); details.

fn run_image(p: &Plan, base: &Layout, hist: &[State], dir: &Path) -> String {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (f, bytes) in p.image.iter().enumerate() {
        if let Some(b) = bytes {
            std::fs::write(dir.join(FILES[f]), b).unwrap();
        }
    }
    let (path, commits) = (dir.join(FILES[0]), hist.len() - 1);
    let opts = options().verify_checksums(p.regime != Regime::Unverified);
    // A plain `Db`: the image is damaged on purpose; its check is part of
    // the outcome, not a failure.
    let db = match opts.clone().open(&path) {
        Ok(db) => db,
        Err(e) => {
            let kind = format!("{e:?}");
            let kind = kind.split(['{', '(', ' ']).next().unwrap();
            return format!("refused:{kind}\t-\t-\t{e}");
        }
    };
    let read = read_all(&db);
    let problem = |r: oakmap::CheckReport| r.problems.first().map(|p| format!("check: {p:?}"));
    let check = db
        .check()
        .map_or_else(|e| Some(format!("check: {e}")), problem);
    let floor = || torn_tail_floor(base, &p.image, commits as u64) as usize;
    let (open, detail) = match (&read, check) {
        (Err((true, e)), _) => ("detected", format!("read: {e}")),
        (_, Some(problem)) => ("detected", problem),
        (Err((false, why)), None) => ("altered", why.clone()),
        (Ok(s), None) => match hist.iter().rposition(|h| h == s) {
            Some(j) if j == commits => ("intact", String::new()),
            Some(j) if j >= floor() => ("torn-tail", format!("commit {j} of {commits}")),
            Some(j) => ("rollback", format!("state of commit {j} of {commits}")),
            None => ("altered", "data equals no acknowledged state".into()),
        },
    };
    let ops = write_ops(p, base, &hist[commits]);
    let wrote = commit(&db, &ops);
    // The reopened database must hold the state read plus the write, or
    // (if the commit reported an error) either.
    let mut expected = Vec::new();
    if let Ok(s) = &read {
        let mut after = s.clone();
        apply(&mut after, &ops);
        expected.extend(wrote.is_err().then(|| s.clone()));
        expected.push(after);
    }
    drop(db);
    let (reopen, why) = match opts.open(&path).map(|db| read_all(&db)) {
        Err(e) => ("refused", format!("reopen: {e}")),
        Ok(Ok(s)) if expected.contains(&s) => ("as-written", String::new()),
        Ok(Ok(_)) if expected.is_empty() => ("opened", String::new()),
        Ok(Ok(_)) => ("differs", String::new()),
        Ok(Err((_, e))) => ("read-error", format!("reread: {e}")),
    };
    let write = wrote.map_or_else(|e| format!("refused ({e})"), |()| "committed".into());
    format!("{open}\t{write}\t{reopen}\t{detail} / {why}")
}

/// A commit in every tree, and through the damaged page if it has keys:
/// the damaged cell's key replaced (which frees its old value's run
/// unread), another key removed.
fn write_ops(p: &Plan, base: &Layout, last: &State) -> Vec<Op> {
    let (mut rng, mut ops) = (p.rng.clone(), Vec::new());
    for tree in TREES {
        let keys: Vec<&Vec<u8>> = last[tree].keys().collect();
        let gone = pick(&mut rng, &keys).unwrap().clone();
        let len = if tree == "beta" { 3000 } else { 20 };
        ops.push(put(&mut rng, tree, "w0".into(), 20));
        ops.push(put(&mut rng, tree, "w1".into(), len));
        ops.push(Op::Del(tree, gone));
    }
    if let Some((name, keys)) = p.page.and_then(|page| base.keys.get(&page)) {
        let tree = TREES.into_iter().find(|t| t == name).unwrap();
        let other = pick(&mut rng, keys).unwrap();
        let hit = p.cell.and_then(|c| keys.get(c)).unwrap_or(&other).clone();
        ops.extend([Op::Put(tree, hit, rng.bytes(10)), Op::Del(tree, other)]);
    }
    ops
}

/// The child process's entry point; returns at once in an ordinary run.
#[test]
fn mutation_child() {
    let Ok(scratch) = std::env::var(SCRATCH_VAR) else {
        return;
    };
    let seed = std::env::var(SEED_VAR).unwrap().parse().unwrap();
    let (scratch, hist) = (Path::new(&scratch), history());
    let (bases, work) = (
        load_bases(scratch),
        scratch.join(format!("work-{}", std::process::id())),
    );
    child::child_main(|i| {
        let p = plan(seed, i, &bases);
        run_image(&p, &bases[p.base], &hist, &work)
    });
    let _ = std::fs::remove_dir_all(&work);
}

// ---------------------------------------------------------------------------
// The parent: judging and reporting.

/// An image's outcome as `run_image` gives it, or how its child died (and a
/// panic message in the detail).
fn outcome(case: &Case) -> [String; 4] {
    let line = case.outcome.as_ref().unwrap_or_else(|death| death);
    let mut parts = line.splitn(4, '\t').map(String::from);
    let mut o = [(); 4].map(|_| parts.next().unwrap_or("-".into()));
    o[3] = format!("{} {}", o[3], case.panic.as_deref().unwrap_or_default());
    o
}

/// Why an image's outcome is an engine failure, if it is.
fn failure(regime: Regime, case: &Case) -> Option<&'static str> {
    let [open, write, reopen, _] = outcome(case);
    // Read back as an acknowledged state without an error, and checked clean.
    let sound = ["intact", "torn-tail", "rollback"].contains(&open.as_str());
    let opened = sound || open == "detected" || open == "altered";
    Some(match open.split(' ').next().unwrap() {
        "signal" => "killed by a signal",
        "hang" => "hang",
        "exit" => "child exited",
        _ if case.panic.is_some() || open == "panic" => "panic",
        // A forged meta slot may describe an older state valid in every
        // byte: in regime 2 a rollback is counted, not failed.
        "rollback" if regime != Regime::Forged => "silent rollback",
        // With checksums verified, raw damage cannot make up data.
        "altered" if regime == Regime::Raw => "altered data without an error",
        _ if opened && reopen == "refused" => "opened, then not after a write",
        _ if sound && write == "committed" && reopen != "as-written" => "write lost or damaged",
        _ => return None,
    })
}

/// The report of an image: what was done to it, the bytes, what happened,
/// and how to replay it.
fn report(seed: u64, bases: &[Layout], case: &Case) -> String {
    let (p, [open, write, reopen, detail]) = (plan(seed, case.index, bases), outcome(case));
    let (index, bytes) = (case.index, describe(&bases[p.base].files, &p.image));
    format!(
        "regime {:?}, seed {seed}, image {index} ({}): {}\n      bytes: {bytes}\n      \
         outcome: {open} / write {write} / reopen {reopen}: {detail}\n      \
         replay: {ONLY_VAR}={index} {SEED_VAR}={seed} cargo test --test mutation mutated",
        p.regime, BASES[p.base], p.label,
    )
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// Prints the outcomes per regime and the failures grouped by cause (with
/// the first two reports of each); returns the number of failures.
fn print_report(seed: u64, bases: &[Layout], cases: &[Case]) -> usize {
    let mut counts: BTreeMap<(String, Regime), u64> = BTreeMap::new();
    let mut groups: BTreeMap<(&str, String), Vec<(Regime, String)>> = BTreeMap::new();
    let verbose = env("OAKMAP_MUTATION_VERBOSE").is_some();
    for case in cases {
        let ([open, write, reopen, _], regime) = (outcome(case), REGIMES[case.index as usize % 3]);
        let mut count = |row: String| *counts.entry((row, regime)).or_default() += 1;
        count(format!("open: {}", open.split(" (").next().unwrap()));
        if write != "-" {
            count(format!("write: {}", write.split(' ').next().unwrap()));
            count(format!("reopen: {reopen}"));
        }
        let why = failure(regime, case);
        if why.is_none() && !verbose {
            continue;
        }
        let line = report(seed, bases, case);
        let Some(why) = why else {
            println!("{line}");
            continue;
        };
        count(format!("FAILURE: {why}"));
        let what = plan(seed, case.index, bases).what;
        groups.entry((why, what)).or_default().push((regime, line));
    }
    let row =
        |name: &str, n: [String; 3]| format!("{name:<44}{:>10}{:>10}{:>12}", n[0], n[1], n[2]);
    println!(
        "\n{}",
        row("outcome", ["raw", "forged", "unverified"].map(String::from))
    );
    for name in counts.keys().map(|k| &k.0).collect::<BTreeSet<_>>() {
        let n = REGIMES.map(|r| counts.get(&(name.clone(), r)).copied().unwrap_or(0));
        println!("{}", row(name, n.map(|n| n.to_string())));
    }
    let (failures, g) = (groups.values().map(Vec::len).sum(), groups.len());
    println!("\n{failures} failures in {g} groups, the first two of each:");
    for ((why, what), lines) in &groups {
        let [a, b, c] = REGIMES.map(|r| lines.iter().filter(|l| l.0 == r).count());
        let n = lines.len();
        println!("\n* {why}: {what}: {n} images (raw {a}, forged {b}, unverified {c})");
        for (_, line) in lines.iter().take(2) {
            println!("    {line}");
        }
    }
    failures
}

#[test]
fn mutated_images_are_refused_or_read_back_safely() {
    let seed = env(SEED_VAR).map_or(SEED_DEFAULT, |s| s.parse().expect("a seed"));
    let images = env("OAKMAP_MUTATION_IMAGES").map_or(IMAGES_DEFAULT, |n| n.parse().unwrap());
    let indices: Vec<u64> = env(ONLY_VAR).map_or((0..images).collect(), |l| child::parse_list(&l));
    println!("mutation: {SEED_VAR}={seed}, {} images", indices.len());
    let (started, scratch) = (Instant::now(), common::crash::scratch_dir());
    let dir = scratch.path();
    build_bases(dir);
    let (bases, hist) = (load_bases(dir), history());
    let last = &hist[hist.len() - 1];
    assert!(TREES.iter().eq(last.keys()), "the write goes to every tree");
    // The harness itself: each untouched base reads back as its model.
    for (i, base) in bases.iter().enumerate() {
        let mut p = plan(seed, 0, &bases);
        (p.base, p.image, p.page) = (i, base.files.clone().map(Some), None);
        let o = run_image(&p, base, &hist, &dir.join("self-test"));
        assert!(o.starts_with("intact\tcommitted\tas-written"), "{o}");
    }
    let scratch_var = (SCRATCH_VAR, dir.display().to_string());
    let env = [scratch_var, (SEED_VAR, seed.to_string())];
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let jobs = cores.min(2);
    let cases = child::run_parallel("mutation_child", dir, &env, &indices, (&LIMITS, jobs));
    let failures = print_report(seed, &bases, &cases);
    let (n, time) = (cases.len(), started.elapsed());
    println!("\n{n} images in {time:.1?}, {jobs} children at a time");
    assert!(
        failures == 0,
        "{failures} images made the engine fail; see above"
    );
}
