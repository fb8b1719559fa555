//! Criterion micro-benchmarks: where the time of the basic operations goes.
//! Figures are for finding regressions and hot spots; compare runs on one
//! machine, and quote ratios.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use oakmap::{Db, Durability, Options};
use std::hint::black_box;

const ENTRIES: u64 = 100_000;

fn key(i: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    k[..8].copy_from_slice(&h.to_be_bytes());
    k[8..16].copy_from_slice(&i.to_be_bytes());
    k
}

fn loaded(dir: &tempfile::TempDir) -> Db {
    let db = Options::new()
        .durability(Durability::None)
        .open(dir.path().join("bench.oak"))
        .unwrap();
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("bench").unwrap();
    for i in 0..ENTRIES {
        t.insert(&key(i), &[7u8; 150]).unwrap();
    }
    tx.commit().unwrap();
    db
}

fn reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded(&dir);
    let snap = db.begin_read().into_tree("bench").unwrap().unwrap();
    let t = snap.tree();
    let mut i = 0u64;
    c.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            black_box(t.get(&key(i)).unwrap())
        })
    });
    c.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            black_box(t.get(&key(i + ENTRIES)).unwrap())
        })
    });
    c.bench_function("range_100", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            let k = key(i);
            black_box(t.range(k.as_slice()..).unwrap().take(100).count())
        })
    });
    c.bench_function("snapshot_begin_end", |b| {
        b.iter(|| black_box(db.begin_read().id()))
    });
    c.bench_function("snapshot_begin_end_4_threads", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for _ in 0..iters {
                            black_box(db.begin_read().id());
                        }
                    });
                }
            });
            start.elapsed() / 4
        })
    });
    c.bench_function("cursor_step_x1000", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            black_box(t.range(key(i).as_slice()..).unwrap().take(1000).count())
        })
    });
}

/// In-page key search: a tree of one leaf, so a get is one binary search.
fn in_page(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = Options::new()
        .durability(Durability::None)
        .open(dir.path().join("leaf.oak"))
        .unwrap();
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("leaf").unwrap();
    for i in 0..20 {
        t.insert(&key(i), &[3u8; 150]).unwrap();
    }
    tx.commit().unwrap();
    let snap = db.begin_read().into_tree("leaf").unwrap().unwrap();
    assert_eq!(snap.tree().depth(), 1);
    let mut i = 0;
    c.bench_function("in_page_search", |b| {
        b.iter(|| {
            i = (i + 7) % 20;
            black_box(snap.tree().get(&key(i)).unwrap())
        })
    });
}

fn writes(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded(&dir);
    let mut i = ENTRIES;
    // Durability::None: the WAL append and the page writes, no fsync.
    c.bench_function("insert_commit_wal_append", |b| {
        b.iter_batched(
            || {
                i += 1;
                key(i)
            },
            |k| db.insert("bench", &k, &[1u8; 150]).unwrap(),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, reads, in_page, writes);
criterion_main!(benches);
