//! Guards `oakmap compact`: on a closed database most of whose keys were
//! deleted it shrinks the file, prints the sizes, and every remaining entry
//! reads back from a file that checks clean; a missing file is exit 2.

use std::path::Path;

mod common;

use common::{TestDb, oakmap};

#[test]
fn compact_shrinks_a_closed_file_and_keeps_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.oak");
    {
        let db = TestDb::open(&path);
        let mut tx = db.begin_write().unwrap();
        for i in 0u32..20_000 {
            tx.open_tree("t")
                .unwrap()
                .insert(&i.to_be_bytes(), &[1; 150])
                .unwrap();
        }
        tx.commit().unwrap();
        let mut tx = db.begin_write().unwrap();
        for i in (0u32..20_000).filter(|i| i % 100 != 0) {
            tx.open_tree("t").unwrap().remove(&i.to_be_bytes()).unwrap();
        }
        tx.commit().unwrap();
        db.close().unwrap();
    }
    let before = std::fs::metadata(&path).unwrap().len();
    let out = oakmap(&["compact"], &path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after * 4 < before, "{before} -> {after}: {stdout}");
    assert!(
        stdout.contains(&format!("{before} bytes before, {after} bytes after")),
        "{stdout}"
    );
    let check = oakmap(&["check"], &path);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let db = TestDb::open(&path);
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().unwrap();
    assert_eq!(t.len(), 200);
    for i in (0u32..20_000).step_by(100) {
        assert_eq!(t.get(&i.to_be_bytes()).unwrap(), Some(&[1u8; 150][..]));
    }
}

#[test]
fn compact_of_a_missing_file_is_a_usage_error() {
    let out = oakmap(&["compact"], Path::new("/nonexistent/x.oak"));
    assert_eq!(out.status.code(), Some(2));
}
