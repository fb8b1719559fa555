//! Online backup (`Db::backup_to`, `ReadTxn::backup_to`, and the writer
//! form `backup_to_writer`): the copy holds exactly the snapshot it was
//! taken from, is a closed database that passes the check and replays
//! nothing, is dense (no free page), and never replaces a file it was not
//! asked to; streamed, it is the file form's copy byte for byte (but for
//! its `file_id`), and a failing stream is an error.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Rng, TestDb, entries};
use oakmap::inspect::RawDb;
use oakmap::{BackupOptions, BackupReport, Db, Durability, Error, FailPoints, Options, ReadTxn};

type Model = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Every tree of a snapshot with all its entries.
fn snapshot_model(rx: &ReadTxn<'_>) -> Model {
    rx.list_trees()
        .unwrap()
        .into_iter()
        .map(|name| {
            let e = entries(rx, &name);
            (name, e)
        })
        .collect()
}

/// Checks the copy as written (read-only, before any open touches it): a
/// clean, dense, closed state of commit `txn`. Returns its page count.
fn assert_closed_and_dense(copy: &Path, txn: u64) -> u64 {
    let raw = RawDb::open(copy).unwrap();
    let meta = raw.newest_meta().expect("a valid meta slot");
    assert!(meta.clean, "the copy carries the clean mark");
    assert_eq!(meta.txn_id, txn);
    assert_eq!(meta.free_count, 0, "a compacted copy has no free page");
    assert_eq!(meta.freelist_head, 0);
    assert_eq!(raw.file_bytes(), meta.page_count * raw.page_bytes() as u64);
    let report = raw.check(None);
    assert!(report.is_clean(), "copy fails the check:\n{report}");
    assert_eq!(report.free_pages, 0);
    meta.page_count
}

/// Opens the copy and checks it holds exactly `model`, replayed nothing,
/// and passes `Db::check`.
fn assert_copy_holds(copy: &Path, model: &Model) {
    let db = TestDb::open(copy);
    assert_eq!(db.stats().unwrap().replayed_commits, 0);
    let rx = db.begin_read();
    assert_eq!(&snapshot_model(&rx), model);
    for (name, want) in model {
        assert_eq!(rx.tree(name).unwrap().unwrap().len(), want.len() as u64);
    }
    drop(rx);
    assert!(db.check().unwrap().is_clean());
}

#[test]
fn backup_during_writes_equals_its_snapshot() {
    during_writes(|rx, copy| rx.backup_to(copy).unwrap());
}

#[test]
fn streamed_backup_during_writes_equals_its_snapshot() {
    during_writes(|rx, copy| {
        let mut bytes = Vec::new();
        let report = rx.backup_to_writer(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, report.file_bytes);
        std::fs::write(copy, &bytes).unwrap();
        report
    });
}

/// A backup taken by `backup` (of the snapshot, to the path) while a
/// writer commits holds exactly that snapshot.
fn during_writes(backup: impl Fn(&ReadTxn<'_>, &Path) -> BackupReport) {
    let dir = tempfile::tempdir().unwrap();
    // Commits without an fsync each, so the writer gets through many while
    // the backup runs.
    let options = Options::new().durability(Durability::None);
    let db = Arc::new(TestDb::with_options(options, dir.path().join("src.oak")));
    for t in 0..3 {
        for i in 0..500u32 {
            db.insert(&format!("t{t}"), &i.to_be_bytes(), &[t as u8; 40])
                .unwrap();
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, stop, commits) = (db.clone(), stop.clone(), commits.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(7);
            while !stop.load(Ordering::Relaxed) {
                let mut tx = db.begin_write().unwrap();
                let tree = format!("t{}", rng.below(4));
                let key = (rng.below(2000) as u32).to_be_bytes();
                // Counted only if it changes something: a commit that
                // changes nothing takes no commit number, and the checks
                // below count commit numbers.
                let changed = if rng.below(3) == 0 {
                    tx.open_tree(&tree).unwrap().remove(&key).unwrap()
                } else {
                    let len = rng.below(3000) as usize;
                    let v = rng.bytes(len);
                    tx.open_tree(&tree).unwrap().insert(&key, &v).unwrap();
                    true
                };
                tx.commit().unwrap();
                if changed {
                    commits.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let wait_for = |n: u64| {
        while commits.load(Ordering::Relaxed) < n {
            std::thread::yield_now();
        }
    };
    // Let the writer get going, then copy a snapshot while it goes on.
    wait_for(50);
    let rx = db.begin_read();
    let model = snapshot_model(&rx);
    let copy = dir.path().join("copy.oak");
    let report = backup(&rx, &copy);
    // The source moves well past the snapshot before the copy is compared.
    wait_for(commits.load(Ordering::Relaxed) + 50);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // The snapshot the backup copies shows in the stats as the oldest.
    let stats = db.stats().unwrap();
    assert!(stats.txn_id > rx.id() + 50);
    assert_eq!(stats.live_snapshots, 1);
    assert_eq!(
        stats.oldest_snapshot_txns_behind,
        Some(stats.txn_id - rx.id())
    );
    assert_ne!(snapshot_model(&db.begin_read()), model);
    assert_eq!(report.txn_id, rx.id());
    assert_eq!(report.trees, model.len() as u64);
    let total: usize = model.values().map(BTreeMap::len).sum();
    assert_eq!(report.entries, total as u64);
    let pages = assert_closed_and_dense(&copy, rx.id());
    assert_eq!(report.page_count, pages);
    drop(rx);
    assert_copy_holds(&copy, &model);
}

#[test]
fn copy_is_dense_and_smaller_after_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("src.oak"));
    let mut tx = db.begin_write().unwrap();
    for i in 0..20_000u32 {
        tx.open_tree("kv")
            .unwrap()
            .insert(&i.to_be_bytes(), &[1; 100])
            .unwrap();
    }
    tx.commit().unwrap();
    let mut tx = db.begin_write().unwrap();
    for i in (0..20_000u32).filter(|i| i % 10 != 0) {
        tx.open_tree("kv")
            .unwrap()
            .remove(&i.to_be_bytes())
            .unwrap();
    }
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    let source_pages = db.stats().unwrap().file_bytes / db.page_bytes() as u64;
    let copy = dir.path().join("copy.oak");
    let report = db.backup_to(&copy).unwrap();
    assert_eq!(report.entries, 2_000);
    let pages = assert_closed_and_dense(&copy, db.stats().unwrap().txn_id);
    // 2,000 entries of ~110 bytes pack ~35 to a page: about 60 leaves.
    assert!(
        pages * 5 < source_pages,
        "copy of {pages} pages against a source of {source_pages}"
    );
    assert!(pages < 80, "packed full: {pages} pages");
    let model = snapshot_model(&db.begin_read());
    assert_copy_holds(&copy, &model);
}

#[test]
fn backup_while_an_old_snapshot_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("src.oak"));
    for i in 0..1000u32 {
        db.insert("a", &i.to_be_bytes(), b"old").unwrap();
    }
    let old = db.begin_read();
    let old_model = snapshot_model(&old);
    for i in 0..1000u32 {
        db.insert("a", &i.to_be_bytes(), b"new value").unwrap();
    }
    db.insert("b", b"k", b"v").unwrap();
    db.checkpoint().unwrap();
    // The snapshot shows in the stats as the oldest reader.
    let stats = db.stats().unwrap();
    assert_eq!(stats.live_snapshots, 1);
    assert_eq!(stats.oldest_snapshot_txns_behind, Some(1001));
    // The newest state, and the old snapshot, each copied whole.
    let new_copy = dir.path().join("new.oak");
    db.backup_to(&new_copy).unwrap();
    let old_copy = dir.path().join("old.oak");
    old.backup_to(&old_copy).unwrap();
    assert_closed_and_dense(&old_copy, old.id());
    drop(old);
    assert_copy_holds(&old_copy, &old_model);
    let new_model = snapshot_model(&db.begin_read());
    assert_eq!(new_model["a"][&0u32.to_be_bytes()[..]], b"new value");
    assert_copy_holds(&new_copy, &new_model);
}

#[test]
fn overflow_values_and_many_trees() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("src.oak"));
    let mut rng = Rng(3);
    let mut tx = db.begin_write().unwrap();
    for t in 0..300 {
        let name = format!("tree-{t:03}");
        let mut tree = tx.open_tree(&name).unwrap();
        for k in 0..(t % 7) {
            // Inline, just over the inline limit, and several pages long.
            let len = [10, 1400, 70_000][(t + k) % 3];
            tree.insert(&rng.bytes(20), &rng.bytes(len)).unwrap();
        }
    }
    tx.open_tree("empty").unwrap();
    tx.commit().unwrap();
    let copy = dir.path().join("copy.oak");
    let report = db.backup_to(&copy).unwrap();
    assert_eq!(report.trees, 301);
    let rx = db.begin_read();
    let model = snapshot_model(&rx);
    assert!(model["empty"].is_empty());
    assert_closed_and_dense(&copy, rx.id());
    drop(rx);
    assert_copy_holds(&copy, &model);
}

#[test]
fn copy_takes_writes_afterwards() {
    // The packed pages (and a branch's last page, which may hold one
    // child) must take splits and merges like any other.
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("src.oak"));
    let mut tx = db.begin_write().unwrap();
    for i in 0..30_000u32 {
        tx.open_tree("kv")
            .unwrap()
            .insert(&i.to_be_bytes(), &[2; 60])
            .unwrap();
    }
    tx.commit().unwrap();
    let copy = dir.path().join("copy.oak");
    db.backup_to(&copy).unwrap();
    let copied = TestDb::open(&copy);
    let mut model = entries(&copied.begin_read(), "kv");
    let mut rng = Rng(11);
    for _ in 0..20 {
        let mut tx = copied.begin_write().unwrap();
        for _ in 0..500 {
            let key = (rng.below(40_000) as u32).to_be_bytes().to_vec();
            if rng.below(2) == 0 {
                tx.open_tree("kv").unwrap().remove(&key).unwrap();
                model.remove(&key);
            } else {
                let len = rng.below(200) as usize;
                let v = rng.bytes(len);
                tx.open_tree("kv").unwrap().insert(&key, &v).unwrap();
                model.insert(key, v);
            }
        }
        tx.commit().unwrap();
    }
    assert_eq!(entries(&copied.begin_read(), "kv"), model);
}

#[test]
fn existing_destination_is_refused_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("src.oak"));
    db.insert("t", b"k", b"v1").unwrap();
    let copy = dir.path().join("copy.oak");
    std::fs::write(&copy, b"precious").unwrap();
    match db.backup_to(&copy) {
        Err(Error::Io { path, source }) => {
            assert_eq!(path, copy);
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(std::fs::read(&copy).unwrap(), b"precious");
    db.backup_with(&copy, BackupOptions::new().overwrite(true))
        .unwrap();
    assert_eq!(
        Db::open(&copy).unwrap().get("t", b"k").unwrap(),
        Some(b"v1".to_vec())
    );
    // The copy now has log files of its own: a second backup replaces them.
    db.insert("t", b"k", b"v2").unwrap();
    assert!(db.backup_to(&copy).is_err());
    db.backup_with(&copy, BackupOptions::new().overwrite(true))
        .unwrap();
    assert_copy_holds(&copy, &snapshot_model(&db.begin_read()));
    // No temporary file left in the directory.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("backup"))
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}

#[test]
fn missing_directory_is_an_io_error_naming_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("src.oak"));
    db.insert("t", b"k", b"v").unwrap();
    let copy = dir.path().join("no-such-dir").join("copy.oak");
    match db.backup_to(&copy) {
        Err(Error::Io { path, source }) => {
            assert_eq!(path, copy);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn stray_log_beside_destination_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("src.oak"));
    db.insert("t", b"k", b"v").unwrap();
    let copy = dir.path().join("copy.oak");
    std::fs::write(dir.path().join("copy.oak.wal0"), b"someone's log").unwrap();
    match db.backup_to(&copy) {
        Err(Error::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists)
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert!(!copy.exists());
}

#[test]
fn open_destination_is_refused_even_with_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("src.oak"));
    db.insert("t", b"k", b"v").unwrap();
    let other_path = dir.path().join("other.oak");
    let other = TestDb::open(&other_path);
    other.insert("mine", b"k", b"keep").unwrap();
    let err = db
        .backup_with(&other_path, BackupOptions::new().overwrite(true))
        .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    assert_eq!(other.get("mine", b"k").unwrap(), Some(b"keep".to_vec()));
}

#[test]
fn failed_backup_leaves_nothing() {
    // A source page damaged on disk: the copy stops with the corruption,
    // and neither the destination nor a temporary file is left.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src.oak");
    {
        let db = Db::open(&path).unwrap();
        for i in 0..2000u32 {
            db.insert("kv", &i.to_be_bytes(), &[5; 50]).unwrap();
        }
        db.close().unwrap();
    }
    let raw = RawDb::open(&path).unwrap();
    let (_, tree) = raw.trees().unwrap().into_iter().next().unwrap();
    let leaf = raw
        .tree_pages(&tree)
        .into_iter()
        .filter(|p| p.leaf)
        .map(|p| p.id)
        .max()
        .unwrap();
    let page_bytes = raw.page_bytes() as u64;
    drop(raw);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(leaf * page_bytes + 100) as usize] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let db = Db::open(&path).unwrap();
    let copy = dir.path().join("copy.oak");
    let err = db.backup_to(&copy).unwrap_err();
    assert!(matches!(err, Error::Corruption { .. }), "{err:?}");
    assert!(!copy.exists());
    let left = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("backup")
        })
        .count();
    assert_eq!(left, 0);
}

/// A database of about 24 MiB: more than one batch of pages and more than
/// one writeback interval of the file form, overflow values of all sizes
/// (one longer than a batch), several trees and an empty one.
fn large_database(path: &Path) -> TestDb {
    large_database_with(Options::new(), path)
}

fn large_database_with(options: Options, path: &Path) -> TestDb {
    let db = TestDb::with_options(options, path);
    let mut rng = Rng(11);
    let mut tx = db.begin_write().unwrap();
    for t in 0..4 {
        let mut tree = tx.open_tree(&format!("t{t}")).unwrap();
        for i in 0..20_000u32 {
            tree.insert(&i.to_be_bytes(), &rng.bytes(100)).unwrap();
        }
        for i in 0..40u32 {
            let len = [1_400, 70_000, 300_000][i as usize % 3];
            tree.insert(&(1_000_000 + i).to_be_bytes(), &rng.bytes(len))
                .unwrap();
        }
    }
    tx.open_tree("t0")
        .unwrap()
        .insert(b"huge", &rng.bytes(5 << 20))
        .unwrap();
    tx.open_tree("empty").unwrap();
    tx.commit().unwrap();
    db
}

/// The three ways out write the same copy: a file with direct I/O (where
/// the filesystem takes it), a file through the page cache, and a stream.
#[test]
fn streamed_copy_is_the_file_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = large_database(&dir.path().join("src.oak"));
    let rx = db.begin_read();
    let file = dir.path().join("file.oak");
    let file_report = rx.backup_to(&file).unwrap();
    let buffered = dir.path().join("buffered.oak");
    let buffered_report = rx
        .backup_with(&buffered, BackupOptions::new().direct_io(false))
        .unwrap();
    assert!(!buffered_report.direct_io);
    let mut streamed = Vec::new();
    let stream_report = rx.backup_to_writer(&mut streamed).unwrap();
    assert!(!stream_report.direct_io);
    let direct_aside = |r: &BackupReport| BackupReport {
        direct_io: false,
        yielded: Duration::ZERO,
        ..r.clone()
    };
    assert_eq!(stream_report, direct_aside(&file_report));
    assert_eq!(stream_report, buffered_report);
    assert!(stream_report.file_bytes > 20 << 20, "{stream_report:?}");
    let page = db.page_bytes();
    for written in [&file, &buffered] {
        let written = std::fs::read(written).unwrap();
        assert_eq!(streamed.len(), written.len());
        // The header (page 0) differs: each copy gets a file_id of its
        // own. Everything after it is the same.
        assert_ne!(streamed[..page], written[..page]);
        assert!(streamed[page..] == written[page..], "data pages differ");
    }
    let copy = dir.path().join("streamed.oak");
    std::fs::write(&copy, &streamed).unwrap();
    let pages = assert_closed_and_dense(&copy, rx.id());
    assert_eq!(pages, stream_report.page_count);
    let model = snapshot_model(&rx);
    drop(rx);
    assert_copy_holds(&copy, &model);
}

/// A stream that takes `left` bytes, then fails every write.
struct FailingWriter {
    left: usize,
    taken: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("the receiver went away"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        self.taken += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.left == 0 {
            return Err(std::io::Error::other("the receiver went away"));
        }
        Ok(())
    }
}

#[test]
fn failing_stream_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = large_database(&dir.path().join("src.oak"));
    let total = db.begin_read().backup_to_writer(&mut std::io::sink());
    let total = total.unwrap().file_bytes as usize;
    let page = db.page_bytes();
    // At the start, inside the first pages, in the data pages, and with
    // only the final flush left to fail.
    for left in [0, 100, 3 * page + 5, total / 2, total] {
        let mut w = FailingWriter { left, taken: 0 };
        match db.backup_to_writer(&mut w) {
            Err(Error::Io { path, source }) => {
                assert_eq!(path, Path::new("(backup stream)"));
                assert_eq!(source.to_string(), "the receiver went away");
            }
            other => panic!("a stream failing after {left} bytes: {other:?}"),
        }
        assert_eq!(w.taken, left.min(total));
    }
    // The database is untouched and serves on.
    assert!(db.check().unwrap().is_clean());
    let mut bytes = Vec::new();
    db.backup_to_writer(&mut bytes).unwrap();
    assert_eq!(bytes.len(), total);
}

/// A write or sync of the copy that fails, in the writer thread (a batch
/// under way), at the last write (the first pages) or at the final sync,
/// through the page cache or with direct I/O: an I/O error, nothing left
/// behind, and the database serves on.
#[test]
fn failing_copy_write_or_sync_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(FailPoints::new());
    let options = Options::new().fail_points(fail.clone());
    let db = large_database_with(options, &dir.path().join("src.oak"));
    let copy = dir.path().join("copy.oak");
    for direct in [true, false] {
        let how = BackupOptions::new().direct_io(direct).overwrite(true);
        let (writes, syncs) = (fail.passes("backup.write"), fail.passes("backup.sync"));
        db.backup_with(&copy, how).unwrap();
        let writes = fail.passes("backup.write") - writes;
        let syncs = fail.passes("backup.sync") - syncs;
        // Batches of 4 MiB, then the first pages; the final sync, and
        // through the page cache one more each 16 MiB.
        assert!(writes >= 6, "{writes} writes");
        assert!(syncs > u64::from(!direct), "{syncs} syncs");
        std::fs::remove_file(&copy).unwrap();
        for (point, nth) in [
            ("backup.write", 0),
            ("backup.write", 2),
            ("backup.write", writes - 1),
            ("backup.sync", 0),
            ("backup.sync", syncs - 1),
        ] {
            fail.arm(point, nth, false);
            match db.backup_with(&copy, how) {
                Err(Error::Io { source, .. }) => {
                    assert!(fail.any_fired(), "{point} #{nth}: {source}");
                }
                other => panic!("{point} #{nth} failing (direct {direct}): {other:?}"),
            }
            fail.clear();
            assert!(!copy.exists());
            let left = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    name.to_string_lossy().contains("backup")
                })
                .count();
            assert_eq!(left, 0, "{point} #{nth}: a temporary file is left");
        }
    }
    // The database is untouched and a backup goes through again.
    assert!(db.check().unwrap().is_clean());
    let rx = db.begin_read();
    rx.backup_to(&copy).unwrap();
    let model = snapshot_model(&rx);
    drop(rx);
    assert_copy_holds(&copy, &model);
}

/// A file copy gives way to durable commits (pauses after its batches,
/// which `yielded` reports) unless told not to, and never without commits.
#[test]
fn copy_gives_way_to_durable_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(large_database(&dir.path().join("src.oak")));
    let copy = dir.path().join("copy.oak");
    let again = BackupOptions::new().overwrite(true);
    // Nothing commits: nothing to give way to.
    assert_eq!(
        db.backup_with(&copy, again).unwrap().yielded,
        Duration::ZERO
    );

    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, stop, commits) = (db.clone(), stop.clone(), commits.clone());
        std::thread::spawn(move || {
            for i in 0u64.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // The default durability: each commit fsyncs the log.
                db.insert("w", &i.to_be_bytes(), b"v").unwrap();
                commits.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while commits.load(Ordering::Relaxed) < 10 {
        std::thread::yield_now();
    }
    // A copy of several batches sees the log's fsyncs go up between them.
    let mut yielded = Duration::ZERO;
    for _ in 0..5 {
        yielded = db.backup_with(&copy, again).unwrap().yielded;
        if yielded > Duration::ZERO {
            break;
        }
    }
    let eager = again.yield_to_commits(false);
    let eager_yielded = db.backup_with(&copy, eager).unwrap().yielded;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        yielded > Duration::ZERO,
        "a copy beside commits never paused"
    );
    assert_eq!(eager_yielded, Duration::ZERO);
    let rx = db.begin_read();
    rx.backup_with(&copy, again).unwrap();
    let model = snapshot_model(&rx);
    drop(rx);
    assert_copy_holds(&copy, &model);
}

/// A streamed copy of some trees holds exactly those trees of its snapshot,
/// whole, as a dense closed database, and none of the others; a name the
/// snapshot lacks is no error. Writes after the snapshot do not reach it.
#[test]
fn streamed_backup_of_some_trees_holds_exactly_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::open(dir.path().join("src.oak"));
    let mut rng = Rng(7);
    let mut tx = db.begin_write().unwrap();
    for name in ["sm-data", "sm-meta", "raft-log", "other"] {
        let mut t = tx.open_tree(name).unwrap();
        for _ in 0..3_000 {
            let (k, len) = (rng.bytes(12), rng.below(300) as usize);
            t.insert(&k, &rng.bytes(len)).unwrap();
        }
        // A value in an overflow run too.
        t.insert(b"big", &rng.bytes(20_000)).unwrap();
    }
    tx.commit().unwrap();
    let rx = db.begin_read();
    let mut model = snapshot_model(&rx);
    db.insert("sm-data", b"after the snapshot", b"x").unwrap();
    let mut bytes = Vec::new();
    let report = rx
        .backup_trees_to_writer(&["sm-meta", "sm-data", "no such tree"], &mut bytes)
        .unwrap();
    model.retain(|name, _| name.starts_with("sm-"));
    assert_eq!(report.trees, 2);
    assert_eq!(
        report.entries,
        model.values().map(|t| t.len() as u64).sum::<u64>()
    );
    assert_eq!(bytes.len() as u64, report.file_bytes);
    let copy = dir.path().join("copy.oak");
    std::fs::write(&copy, &bytes).unwrap();
    assert_closed_and_dense(&copy, report.txn_id);
    assert_copy_holds(&copy, &model);
    // The whole copy of the same snapshot is larger by the other trees.
    let mut whole = Vec::new();
    rx.backup_to_writer(&mut whole).unwrap();
    assert!(whole.len() > bytes.len() * 3 / 2);
}
