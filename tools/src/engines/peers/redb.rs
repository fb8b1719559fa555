//! redb, with `Durability::Immediate` (its default: every commit fsyncs).

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableDefinition};

use crate::engines::{BenchResult, Engine, Pairs, Reader};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");
/// Calls of `Database::compact` at most (each returns whether it did
/// anything, so it is called until it does not).
const COMPACT_ROUNDS_MAX: u32 = 1000;

pub struct Redb {
    db: Database,
}

impl Redb {
    pub fn open(dir: &Path, cache_bytes: usize) -> BenchResult<Redb> {
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(dir.join("bench.redb"))?;
        let w = db.begin_write()?;
        w.open_table(TABLE)?;
        w.commit()?;
        Ok(Redb { db })
    }
}

impl Engine for Redb {
    fn put_batch(&self, pairs: &mut dyn Pairs) -> BenchResult<()> {
        let w = self.db.begin_write()?;
        {
            let mut t = w.open_table(TABLE)?;
            while let Some((k, v)) = pairs.next() {
                t.insert(k, v)?;
            }
        }
        w.commit()?;
        Ok(())
    }

    fn remove_batch(&self, keys: &mut dyn Iterator<Item = &[u8]>) -> BenchResult<()> {
        let w = self.db.begin_write()?;
        {
            let mut t = w.open_table(TABLE)?;
            for k in keys {
                t.remove(k)?;
            }
        }
        w.commit()?;
        Ok(())
    }

    fn len(&self) -> BenchResult<u64> {
        Ok(self.db.begin_read()?.open_table(TABLE)?.len()?)
    }

    fn reader(&self) -> BenchResult<Box<dyn Reader + '_>> {
        Ok(Box::new(RedbReader {
            table: self.db.begin_read()?.open_table(TABLE)?,
        }))
    }

    fn compact(&mut self) -> BenchResult<Option<String>> {
        let mut rounds = 0;
        while rounds < COMPACT_ROUNDS_MAX && self.db.compact()? {
            rounds += 1;
        }
        Ok(Some(format!(
            "Database::compact(), called until it had nothing left to do: {rounds} rounds"
        )))
    }
}

struct RedbReader {
    table: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Reader for RedbReader {
    fn get(&mut self, key: &[u8]) -> BenchResult<bool> {
        Ok(self.table.get(key)?.map(|v| v.value().len()).is_some())
    }

    fn range(&mut self, start: &[u8], n: usize) -> BenchResult<usize> {
        let mut seen = 0;
        for e in self.table.range(start..)?.take(n) {
            e?;
            seen += 1;
        }
        Ok(seen)
    }
}
