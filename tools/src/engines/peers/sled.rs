//! sled 0.34, with `flush()` after every write batch: sled has no durable
//! commit of its own, so that is its durable mode.

use std::path::Path;

use crate::engines::{BenchResult, Engine, Pairs, Reader};

pub struct Sled {
    db: sled::Db,
}

impl Sled {
    pub fn open(dir: &Path, cache_bytes: usize) -> BenchResult<Sled> {
        let db = sled::Config::new()
            .path(dir.join("bench.sled"))
            .cache_capacity(cache_bytes as u64)
            .open()?;
        Ok(Sled { db })
    }
}

impl Engine for Sled {
    fn put_batch(&self, pairs: &mut dyn Pairs) -> BenchResult<()> {
        let mut b = sled::Batch::default();
        while let Some((k, v)) = pairs.next() {
            b.insert(k, v);
        }
        self.db.apply_batch(b)?;
        self.db.flush()?;
        Ok(())
    }

    fn remove_batch(&self, keys: &mut dyn Iterator<Item = &[u8]>) -> BenchResult<()> {
        let mut b = sled::Batch::default();
        for k in keys {
            b.remove(k);
        }
        self.db.apply_batch(b)?;
        self.db.flush()?;
        Ok(())
    }

    fn len(&self) -> BenchResult<u64> {
        Ok(self.db.len() as u64)
    }

    fn reader(&self) -> BenchResult<Box<dyn Reader + '_>> {
        Ok(Box::new(SledReader { db: &self.db }))
    }

    fn note(&self) -> &'static str {
        "sled: no snapshots (reads see the latest state); durable by flush() per commit; len is a scan"
    }
}

struct SledReader<'a> {
    db: &'a sled::Db,
}

impl Reader for SledReader<'_> {
    fn get(&mut self, key: &[u8]) -> BenchResult<bool> {
        Ok(self.db.get(key)?.map(|v| v.len()).is_some())
    }

    fn range(&mut self, start: &[u8], n: usize) -> BenchResult<usize> {
        let mut seen = 0;
        for e in self.db.range(start..).take(n) {
            e?;
            seen += 1;
        }
        Ok(seen)
    }
}
