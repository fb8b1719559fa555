//! RocksDB through the `rocksdb` crate: every write batch with
//! `WriteOptions::set_sync(true)` (its durable mode), an LRU block cache of
//! the common size, and reads from a snapshot.

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, Cache, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};

use crate::engines::{BenchResult, Engine, Pairs, Reader};

pub struct Rocks {
    db: DB,
}

impl Rocks {
    pub fn open(dir: &Path, cache_bytes: usize) -> BenchResult<Rocks> {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&Cache::new_lru_cache(cache_bytes));
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_block_based_table_factory(&table);
        Ok(Rocks {
            db: DB::open(&opts, dir.join("bench.rocksdb"))?,
        })
    }

    fn write(&self, batch: WriteBatch) -> BenchResult<()> {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        self.db.write_opt(batch, &w)?;
        Ok(())
    }
}

impl Engine for Rocks {
    fn put_batch(&self, pairs: &mut dyn Pairs) -> BenchResult<()> {
        let mut b = WriteBatch::default();
        while let Some((k, v)) = pairs.next() {
            b.put(k, v);
        }
        self.write(b)
    }

    fn remove_batch(&self, keys: &mut dyn Iterator<Item = &[u8]>) -> BenchResult<()> {
        let mut b = WriteBatch::default();
        for k in keys {
            b.delete(k);
        }
        self.write(b)
    }

    fn len(&self) -> BenchResult<u64> {
        Ok(self.db.iterator(IteratorMode::Start).count() as u64)
    }

    fn reader(&self) -> BenchResult<Box<dyn Reader + '_>> {
        Ok(Box::new(RocksReader {
            snap: self.db.snapshot(),
        }))
    }

    fn note(&self) -> &'static str {
        "RocksDB: sync writes, LRU block cache of the common size; len is a full scan"
    }

    /// A manual compaction of every key. A checkpoint is RocksDB's backup,
    /// and it hard-links the live files rather than compacting them, so
    /// there is no compacted copy to measure.
    fn compact(&mut self) -> BenchResult<Option<String>> {
        self.db.compact_range::<&[u8], &[u8]>(None, None);
        Ok(Some("compact_range(None, None): every key".into()))
    }
}

struct RocksReader<'a> {
    snap: rocksdb::Snapshot<'a>,
}

impl Reader for RocksReader<'_> {
    fn get(&mut self, key: &[u8]) -> BenchResult<bool> {
        Ok(self.snap.get_pinned(key)?.map(|v| v.len()).is_some())
    }

    fn range(&mut self, start: &[u8], n: usize) -> BenchResult<usize> {
        let mut seen = 0;
        for e in self
            .snap
            .iterator(IteratorMode::From(start, Direction::Forward))
            .take(n)
        {
            e?;
            seen += 1;
        }
        Ok(seen)
    }
}
