//! Criterion micro-benchmarks of typed trees against the byte API: a typed
//! get of a `u64` key with a small struct value should cost no more than a
//! byte get of the same bytes plus the value's decode (`typed_get` against
//! `byte_get_then_decode`), and a typed get of a `[u8]` value, which
//! decodes nothing, no more than a byte get (`typed_get_bytes_value`
//! against `byte_get`: the key's encoding and the handle's own work alone).
//! Compare runs on one machine, and quote ratios.

use criterion::{Criterion, criterion_group, criterion_main};
use oakmap::typed::{BINCODE_CONFIG, TreeDef, bincode};
use oakmap::{Db, Durability, Options};
use std::hint::black_box;

const ENTRIES: u64 = 100_000;

#[derive(Debug, bincode::Encode, bincode::Decode)]
#[bincode(crate = "oakmap::typed::bincode")]
struct User {
    id: u64,
    name: String,
    score: u32,
    active: bool,
}

const USERS: TreeDef<u64, User> = TreeDef::new("users");

fn loaded(dir: &tempfile::TempDir) -> Db {
    let db = Options::new()
        .durability(Durability::None)
        .open(dir.path().join("bench.oak"))
        .unwrap();
    let mut tx = db.begin_write().unwrap();
    let mut users = tx.open_typed(USERS).unwrap();
    for id in 0..ENTRIES {
        let user = User {
            id,
            name: format!("user-{id:08}"),
            score: (id * 37 % 1000) as u32,
            active: id % 3 != 0,
        };
        users.insert(id, &user).unwrap();
    }
    tx.commit().unwrap();
    db
}

fn gets(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded(&dir);
    let rx = db.begin_read();
    let typed = rx.typed(USERS).unwrap().unwrap();
    let bytes = rx.tree(USERS.name()).unwrap().unwrap();
    // The same tree with its values read as bytes, zero-copy.
    let raw = rx
        .typed(TreeDef::<u64, [u8]>::new(USERS.name()))
        .unwrap()
        .unwrap();
    let mut i = 0u64;
    c.bench_function("typed_get", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            black_box(typed.get(i).unwrap().unwrap())
        })
    });
    c.bench_function("byte_get_then_decode", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            let v = bytes.get(&i.to_be_bytes()).unwrap().unwrap();
            let (user, _): (User, usize) = bincode::decode_from_slice(v, BINCODE_CONFIG).unwrap();
            black_box(user)
        })
    });
    c.bench_function("byte_get", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            black_box(bytes.get(&i.to_be_bytes()).unwrap().unwrap())
        })
    });
    c.bench_function("typed_get_bytes_value", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            black_box(raw.get(i).unwrap().unwrap())
        })
    });
    // Every entry is decoded and handed to black_box on both sides, so
    // that neither decode can be optimized away.
    c.bench_function("typed_range_100", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            for entry in typed.range(i..).unwrap().take(100) {
                black_box(entry.unwrap());
            }
        })
    });
    c.bench_function("byte_range_100_then_decode", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            let from = i.to_be_bytes();
            for entry in bytes.range(from.as_slice()..).unwrap().take(100) {
                let (k, v) = entry.unwrap();
                let id = u64::from_be_bytes(k.try_into().unwrap());
                let (user, _): (User, usize) =
                    bincode::decode_from_slice(v, BINCODE_CONFIG).unwrap();
                black_box((id, user));
            }
        })
    });
}

criterion_group!(benches, gets);
criterion_main!(benches);
