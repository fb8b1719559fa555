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
    let rx = db.begin_read();
    let t = rx.tree("bench").unwrap().unwrap();
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
}

fn writes(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded(&dir);
    let mut i = ENTRIES;
    c.bench_function("insert_commit_nosync", |b| {
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

criterion_group!(benches, reads, writes);
criterion_main!(benches);
