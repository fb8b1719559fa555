//! Guards the read-only inspector (`oakmap::inspect::RawDb`, behind `oakmap
//! check`, `dump` and `stats`) on hostile files: a file truncated while the
//! check runs or after it was opened, and a meta slot whose page count the
//! file cannot hold give problems in the report, never a signal or a huge
//! allocation; a FIFO or a directory is refused before it is opened, never
//! waited on; and a forged tree is reported alike by the inspector's views,
//! its check (pread) and the open database's check (the mapping), which
//! walk trees with one walker over pages checked by the same rules.

use std::cell::Cell;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use oakmap::inspect::{CellView, RawDb};
use oakmap::{Db, Error};

const PAGE: u64 = 4096;

/// A clean, closed database of more than 4,096 pages (the check reports
/// progress every 4,096 pages): overflow runs of three pages each.
fn build_large(path: &Path) {
    let db = Db::open(path).unwrap();
    let mut tx = db.begin_write().unwrap();
    {
        let mut t = tx.open_tree("blobs").unwrap();
        for i in 0..1500u32 {
            t.insert(&i.to_be_bytes(), &vec![i as u8; 10_000]).unwrap();
        }
    }
    tx.commit().unwrap();
    drop(db);
    let report = RawDb::open(path).unwrap().check(None);
    assert!(report.is_clean(), "{report}");
    assert!(report.pages > 4500, "{} pages", report.pages);
}

fn cut(path: &Path, bytes: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(bytes)
        .unwrap();
}

fn has_problem(report: &oakmap::CheckReport, what: &str) -> bool {
    report.problems.iter().any(|p| p.reason.contains(what))
}

#[test]
fn file_truncated_while_the_check_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.oak");
    build_large(&path);
    let half = std::fs::metadata(&path).unwrap().len() / PAGE / 2 * PAGE;
    let raw = RawDb::open(&path).unwrap();
    // The first progress call comes after 4,096 pages: cut the file there,
    // under the walk, as another process might.
    let cut_once = Cell::new(false);
    let progress = |_: u64, _: u64| {
        if !cut_once.replace(true) {
            cut(&path, half);
        }
    };
    let report = raw.check(Some(&progress));
    assert!(cut_once.get(), "the walk reported progress");
    assert!(!report.is_clean(), "{report}");
    assert!(has_problem(&report, "short read"), "{report}");
}

#[test]
fn file_truncated_between_open_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.oak");
    build_large(&path);
    let raw = RawDb::open(&path).unwrap();
    cut(&path, 10 * PAGE);
    let report = raw.check(None);
    assert!(has_problem(&report, "file is truncated"), "{report}");
    // The other views read with pread too, and say so.
    let page = raw.page(4000);
    assert!(
        matches!(&page, Err(e) if e.to_string().contains("short read")),
        "{:?}",
        page.map(|v| v.id)
    );
}

#[test]
fn page_count_beyond_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forged.oak");
    build_large(&path);
    // Forge both meta slots' page counts (and their checksums): one page
    // more than the file holds, and 2^52 + 3, whose byte size wraps a u64.
    for page_count in [
        std::fs::metadata(&path).unwrap().len() / PAGE + 1,
        (1 << 52) + 3,
    ] {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        for slot in 1..=2u64 {
            let mut m = [0u8; 96];
            f.read_exact_at(&mut m, slot * PAGE).unwrap();
            m[16..24].copy_from_slice(&page_count.to_le_bytes());
            let crc = crc32fast::hash(&m[4..]);
            m[0..4].copy_from_slice(&crc.to_le_bytes());
            f.write_all_at(&m, slot * PAGE).unwrap();
        }
        let raw = RawDb::open(&path).unwrap();
        let report = raw.check(None);
        if page_count > oakmap::inspect::PAGE_COUNT_MAX {
            // No file can be that long: the slot itself is invalid.
            assert!(raw.newest_meta().is_none());
            assert!(has_problem(&report, "impossibly large"), "{report}");
        } else {
            assert_eq!(raw.newest_meta().unwrap().page_count, page_count);
            assert!(has_problem(&report, "file is truncated"), "{report}");
        }
    }
}

#[test]
fn fifo_and_directory_are_refused_before_opening() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.oak");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let subdir = dir.path().join("dir.oak");
    std::fs::create_dir(&subdir).unwrap();
    for path in [fifo, subdir] {
        // Opening a FIFO for reading blocks until a writer comes: run the
        // open on a thread so a regression fails here instead of hanging.
        let (done, result) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || done.send(RawDb::open(&p).err().map(|e| e.to_string())));
        let err = result
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("RawDb::open({}) hangs", path.display()));
        let err = err.unwrap_or_else(|| panic!("{} opened", path.display()));
        assert!(
            err.contains(&path.display().to_string()) && err.contains("regular file"),
            "{err}"
        );
    }
}

#[test]
fn a_forged_tree_is_reported_alike_by_every_walk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.oak");
    let db = Db::open(&path).unwrap();
    let mut tx = db.begin_write().unwrap();
    {
        let mut t = tx.open_tree("t").unwrap();
        for i in 0..500u32 {
            t.insert(&i.to_be_bytes(), b"some value").unwrap();
        }
    }
    tx.commit().unwrap();
    db.close().unwrap();
    let raw = RawDb::open(&path).unwrap();
    let (_, tree) = raw
        .trees()
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == "t")
        .unwrap();
    assert_eq!(tree.depth, 2, "a root branch over leaves");
    let CellView::Branch { child: shared, .. } = raw.page(tree.root).unwrap().cells[0] else {
        unreachable!("the root is a branch")
    };
    drop(raw);
    // Cell 1 of the root names cell 0's leaf too (format.md §4: the slot
    // array at byte 32, a branch cell's child at byte 2 of the cell), and
    // the page is sealed again so only the tree's shape is wrong.
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut b = vec![0u8; PAGE as usize];
    f.read_exact_at(&mut b, tree.root * PAGE).unwrap();
    let cell = u16::from_le_bytes([b[34], b[35]]) as usize;
    b[cell + 2..cell + 10].copy_from_slice(&shared.to_le_bytes());
    let crc = crc32fast::hash(&b[4..]);
    b[0..4].copy_from_slice(&crc.to_le_bytes());
    f.write_all_at(&b, tree.root * PAGE).unwrap();

    let raw = RawDb::open(&path).unwrap();
    let pages = raw.tree_pages(&tree);
    let root = &pages[0];
    assert!(
        root.problem
            .as_ref()
            .is_some_and(|p| p.contains("referenced twice"))
    );
    let listed: Vec<_> = pages.iter().filter(|p| p.id == shared).collect();
    assert_eq!(listed.len(), 2, "{pages:?}");
    assert!(listed[0].problem.is_none());
    assert!(
        listed[1]
            .problem
            .as_ref()
            .is_some_and(|p| p.contains("referenced again"))
    );
    let walked = raw.entries(&tree, &mut |_, _| {});
    assert!(
        matches!(walked, Err(Error::Corruption { page, .. }) if page == shared),
        "{walked:?}"
    );
    // The tools' check (pread) and the open database's (the mapping) find
    // the same problems at the same pages.
    let by_pread = raw.check(None);
    assert!(!by_pread.is_clean() && by_pread.problems[0].page == tree.root);
    let by_map = Db::open(&path).unwrap().check().unwrap();
    assert_eq!(by_pread.problems, by_map.problems, "{by_pread}{by_map}");
}
