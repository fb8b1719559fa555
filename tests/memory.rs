//! Guards the memory bound: loading far more data than the page cache, in one
//! transaction and in many, grows the process's anonymous memory (heap plus
//! the cache arena; clean file pages excluded) by no more than the cache and
//! a small constant. One test per file: it reads this process's accounting.

mod common;

use std::time::Duration;

use common::TestDb;
use oakmap::{Durability, Options};

const CACHE_BYTES: usize = 16 << 20;
/// Heap for per-transaction maps, the WAL record buffer and the test itself.
const SLACK_BYTES: u64 = 24 << 20;

fn rss_anon_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .expect("RssAnon line");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

#[test]
fn loading_far_more_than_the_cache_stays_within_it() {
    // The integrity check runs when `db` drops, after every measurement.
    let db = TestDb::temp(
        Options::new()
            .cache_bytes(CACHE_BYTES)
            .wal_bytes_max(8 << 20)
            .durability(Durability::None)
            .checkpoint_interval(Duration::from_secs(3600)),
    );
    let value = [0x5au8; 200];
    let before = rss_anon_bytes();
    // 1,000,000 entries of ~216 bytes (over 200 MB of tree) in one transaction:
    // more than ten times the cache.
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    for i in 0..1_000_000 {
        t.insert(&key(i), &value).unwrap();
    }
    tx.commit().unwrap();
    let after_bulk = rss_anon_bytes();
    // Then 200 commits of 2,000 updates each.
    for round in 0..200u64 {
        let mut tx = db.begin_write().unwrap();
        let mut t = tx.open_tree("t").unwrap();
        for j in 0..2_000 {
            t.insert(&key((round * 7919 + j * 131) % 1_000_000), &value)
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let after = rss_anon_bytes();
    let stats = db.stats().unwrap();
    assert!(
        stats.cache_spills > 10_000,
        "the load did not outgrow the cache: {stats:?}"
    );
    assert!(stats.file_bytes > 10 * CACHE_BYTES as u64, "{stats:?}");
    let bound = CACHE_BYTES as u64 + SLACK_BYTES;
    eprintln!(
        "anonymous memory: +{} MiB after the bulk load, +{} MiB after the updates; file {} MiB; {} spills",
        after_bulk.saturating_sub(before) >> 20,
        after.saturating_sub(before) >> 20,
        stats.file_bytes >> 20,
        stats.cache_spills
    );
    assert!(
        after_bulk.saturating_sub(before) <= bound,
        "bulk load grew anonymous memory by {} MiB (bound {} MiB)",
        (after_bulk - before) >> 20,
        bound >> 20
    );
    assert!(
        after.saturating_sub(before) <= bound,
        "updates grew anonymous memory by {} MiB (bound {} MiB)",
        (after - before) >> 20,
        bound >> 20
    );
    assert_eq!(db.begin_read().tree("t").unwrap().unwrap().len(), 1_000_000);
}
