//! Guards space reuse: freed pages are reused once no snapshot and no
//! durable checkpoint can reach them, so steady updates stop growing the
//! file, a long-lived snapshot pins space only while it lives (and shows up
//! in stats), and large values are stored in overflow runs that are freed
//! with them.

mod common;

use std::time::Duration;

use common::TestDb;
use oakmap::{Db, Durability, Options};

/// A small WAL bound, so checkpoints (which let freed pages go) come often.
fn open() -> TestDb {
    TestDb::temp(
        Options::new()
            .durability(Durability::None)
            .wal_bytes_max(1 << 20),
    )
}

fn update_round(db: &Db, round: u64) {
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    for i in 0..500u64 {
        t.insert(&i.to_be_bytes(), &[round as u8; 120]).unwrap();
    }
    tx.commit().unwrap();
}

#[test]
fn steady_updates_stop_growing_the_file() {
    let db = open();
    // Each round copies the whole tree (~35 pages) and logs ~75 KB, so without
    // reuse 300 rounds would need over 40 MB. The WAL bound (1 MiB) forces a
    // checkpoint every ~14 rounds at the latest, which lets freed pages go.
    for round in 0..300 {
        update_round(&db, round);
    }
    let after = db.stats().unwrap();
    assert!(
        after.file_bytes < 8 << 20,
        "file grew under steady updates: {after:?}"
    );
    assert!(
        after.checkpoints + after.backpressure_waits > 10,
        "{after:?}"
    );
    // With a checkpoint after every round, the size settles exactly.
    for round in 300..320 {
        update_round(&db, round);
        db.checkpoint().unwrap();
    }
    let settled = db.stats().unwrap().file_bytes;
    for round in 320..420 {
        update_round(&db, round);
        db.checkpoint().unwrap();
    }
    assert_eq!(db.stats().unwrap().file_bytes, settled);
}

#[test]
fn long_reader_pins_space_until_dropped() {
    let db = open();
    for round in 0..20 {
        update_round(&db, round);
        db.checkpoint().unwrap();
    }
    let unpinned = db.stats().unwrap().file_bytes;
    let reader = db.begin_read();
    let seen = reader
        .tree("t")
        .unwrap()
        .unwrap()
        .get(&7u64.to_be_bytes())
        .unwrap()
        .unwrap()
        .to_vec();
    std::thread::sleep(Duration::from_millis(20));
    for round in 20..120 {
        update_round(&db, round);
        db.checkpoint().unwrap();
    }
    let pinned = db.stats().unwrap();
    assert!(
        pinned.file_bytes > unpinned,
        "a pinned snapshot should force growth"
    );
    assert_eq!(pinned.oldest_snapshot_txns_behind, Some(100));
    assert!(pinned.oldest_snapshot_age.unwrap() >= Duration::from_millis(20));
    assert!(pinned.pending_pages > 0);
    assert_eq!(pinned.live_snapshots, 1);
    // The old snapshot still reads its own state.
    let t = reader.tree("t").unwrap().unwrap();
    assert_eq!(
        t.get(&7u64.to_be_bytes()).unwrap().unwrap(),
        seen.as_slice()
    );
    assert!(t.iter().unwrap().all(|e| e.unwrap().1 == seen.as_slice()));
    drop(reader);
    for round in 120..140 {
        update_round(&db, round);
        db.checkpoint().unwrap();
    }
    let settled = db.stats().unwrap().file_bytes;
    for round in 140..340 {
        update_round(&db, round);
        db.checkpoint().unwrap();
    }
    let after = db.stats().unwrap();
    assert_eq!(
        after.file_bytes, settled,
        "file kept growing after the reader left: {after:?}"
    );
    assert_eq!(after.live_snapshots, 0);
    assert_eq!(after.oldest_snapshot_age, None);
}

#[test]
fn one_gib_value_round_trips_zero_copy() {
    let db = open();
    let len = 1usize << 30;
    let value: Vec<u8> = (0..len)
        .map(|i| (i as u64).wrapping_mul(2654435761) as u8 ^ (i >> 20) as u8)
        .collect();
    db.insert("blobs", b"big", &value).unwrap();
    db.insert("blobs", b"small", b"s").unwrap();
    {
        let rx = db.begin_read();
        let t = rx.tree("blobs").unwrap().unwrap();
        let got = t.get(b"big").unwrap().unwrap();
        assert_eq!(got.len(), len);
        assert!(got == value.as_slice(), "1 GiB value read back differently");
        let stats = db.stats().unwrap();
        assert!(stats.file_bytes >= len as u64);
    }
    common::assert_clean(&db);
    drop(value);
    // Replacing the value frees its run for reuse.
    db.insert("blobs", b"big", b"now small").unwrap();
    db.insert("blobs", b"x", b"y").unwrap();
    let stats = db.stats().unwrap();
    assert!(stats.free_pages as usize >= len / 4096, "{stats:?}");
    assert!(stats.pages_in_use < 1000, "{stats:?}");
}

#[test]
fn values_at_the_inline_overflow_boundary() {
    let db = open();
    let key_max = db.key_bytes_max();
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    for vlen in (0..2000).chain([4064, 4065, 4096, 8160, 8161, 100_000]) {
        let k = format!("{vlen:08}").into_bytes();
        t.insert(&k, &vec![vlen as u8; vlen]).unwrap();
        let mut long_key = vec![b'z'; key_max];
        long_key[..8].copy_from_slice(&k);
        t.insert(&long_key, &vec![1u8; vlen]).unwrap();
    }
    tx.commit().unwrap();
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().unwrap();
    for vlen in (0..2000).chain([4064, 4065, 4096, 8160, 8161, 100_000]) {
        let k = format!("{vlen:08}").into_bytes();
        assert_eq!(
            t.get(&k).unwrap().unwrap(),
            vec![vlen as u8; vlen].as_slice()
        );
    }
    drop(rx);
}

/// After a clean close the data file ends at its last page (no room grown
/// ahead), and a WAL file a large transaction grew is cut back once a
/// checkpoint starts it afresh.
#[test]
fn close_and_checkpoints_give_back_unused_file_space() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.oak");
    let db = TestDb::with_options(Options::new().durability(Durability::None), &path);
    // One transaction logging about 10 MiB.
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    for i in 0..60_000u64 {
        t.insert(&i.to_be_bytes(), &[i as u8; 150]).unwrap();
    }
    tx.commit().unwrap();
    let wal_len = |i: usize| {
        std::fs::metadata(dir.path().join(format!("c.oak.wal{i}")))
            .unwrap()
            .len()
    };
    assert!(
        wal_len(0).max(wal_len(1)) > 8 << 20,
        "the big record grew a WAL file"
    );
    // Two checkpoints with commits between: each WAL file is started afresh.
    for round in 0..2u64 {
        db.checkpoint().unwrap();
        db.insert("t", &round.to_be_bytes(), b"x").unwrap();
    }
    db.checkpoint().unwrap();
    for i in 0..2 {
        assert!(wal_len(i) <= 4 << 20, "wal{i} is {} bytes", wal_len(i));
    }
    drop(db);
    let raw = oakmap::inspect::RawDb::open(&path).unwrap();
    let meta = raw.newest_meta().unwrap();
    assert_eq!(
        raw.file_bytes(),
        meta.page_count * raw.page_bytes() as u64,
        "the file ends at its last page"
    );
    let db = TestDb::open(&path);
    assert_eq!(
        db.get("t", &59_999u64.to_be_bytes()).unwrap(),
        Some(vec![59_999u64 as u8; 150])
    );
}
