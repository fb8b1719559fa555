//! fjall (an LSM tree in Rust): one keyspace, every batch committed with
//! `PersistMode::SyncData` (fdatasync of its journal, as RocksDB's sync
//! writes), a block cache of the common size, reads from a snapshot.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable, Snapshot};

use crate::engines::{BenchResult, Engine, Pairs, Reader};

pub struct Fjall {
    db: Database,
    items: Keyspace,
}

impl Fjall {
    pub fn open(dir: &Path, cache_bytes: usize) -> BenchResult<Fjall> {
        let db = Database::builder(dir.join("bench.fjall"))
            .cache_size(cache_bytes as u64)
            .open()?;
        let items = db.keyspace("bench", KeyspaceCreateOptions::default)?;
        Ok(Fjall { db, items })
    }
}

impl Engine for Fjall {
    fn put_batch(&self, pairs: &mut dyn Pairs) -> BenchResult<()> {
        let mut b = self.db.batch().durability(Some(PersistMode::SyncData));
        while let Some((k, v)) = pairs.next() {
            b.insert(&self.items, k, v);
        }
        b.commit()?;
        Ok(())
    }

    fn remove_batch(&self, keys: &mut dyn Iterator<Item = &[u8]>) -> BenchResult<()> {
        let mut b = self.db.batch().durability(Some(PersistMode::SyncData));
        for k in keys {
            b.remove(&self.items, k);
        }
        b.commit()?;
        Ok(())
    }

    fn len(&self) -> BenchResult<u64> {
        Ok(self.items.len()? as u64)
    }

    fn reader(&self) -> BenchResult<Box<dyn Reader + '_>> {
        Ok(Box::new(FjallReader {
            snap: self.db.snapshot(),
            items: &self.items,
        }))
    }

    fn note(&self) -> &'static str {
        "fjall: batches with PersistMode::SyncData, block cache of the common size; len is a full scan"
    }
}

struct FjallReader<'a> {
    snap: Snapshot,
    items: &'a Keyspace,
}

impl Reader for FjallReader<'_> {
    fn get(&mut self, key: &[u8]) -> BenchResult<bool> {
        Ok(self.snap.get(self.items, key)?.map(|v| v.len()).is_some())
    }

    fn range(&mut self, start: &[u8], n: usize) -> BenchResult<usize> {
        let mut seen = 0;
        for g in self.snap.range(self.items, start..).take(n) {
            g.key()?;
            seen += 1;
        }
        Ok(seen)
    }
}
