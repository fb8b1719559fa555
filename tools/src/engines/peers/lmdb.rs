//! LMDB through heed, in its default durable mode (every commit fsyncs).

use std::ops::Bound;
use std::path::Path;

use heed::types::Bytes;
use heed::{CompactionOption, Database, Env, EnvOpenOptions};

use crate::engines::{Backup, BenchResult, Engine, Pairs, Reader};

pub struct Lmdb {
    env: Env,
    db: Database<Bytes, Bytes>,
}

impl Lmdb {
    pub fn open(dir: &Path) -> BenchResult<Lmdb> {
        // SAFETY (of the call): the directory is fresh and opened by this
        // process only, once.
        let env = unsafe {
            EnvOpenOptions::new()
                .map_size(64 << 30)
                .max_readers(256)
                .open(dir)?
        };
        let mut wtxn = env.write_txn()?;
        let db = env.create_database(&mut wtxn, None)?;
        wtxn.commit()?;
        Ok(Lmdb { env, db })
    }
}

impl Engine for Lmdb {
    fn put_batch(&self, pairs: &mut dyn Pairs) -> BenchResult<()> {
        let mut wtxn = self.env.write_txn()?;
        while let Some((k, v)) = pairs.next() {
            self.db.put(&mut wtxn, k, v)?;
        }
        wtxn.commit()?;
        Ok(())
    }

    fn remove_batch(&self, keys: &mut dyn Iterator<Item = &[u8]>) -> BenchResult<()> {
        let mut wtxn = self.env.write_txn()?;
        for k in keys {
            self.db.delete(&mut wtxn, k)?;
        }
        wtxn.commit()?;
        Ok(())
    }

    fn len(&self) -> BenchResult<u64> {
        let rtxn = self.env.read_txn()?;
        Ok(self.db.len(&rtxn)?)
    }

    fn reader(&self) -> BenchResult<Box<dyn Reader + '_>> {
        Ok(Box::new(LmdbReader {
            db: self.db,
            rtxn: self.env.read_txn()?,
        }))
    }

    fn note(&self) -> &'static str {
        "LMDB has no page cache of its own: it reads through the OS page cache"
    }

    /// LMDB has no compaction in place; its compacted copy is the backup.
    fn backup(&self, to: &Path) -> BenchResult<Option<Backup>> {
        self.env.copy_to_path(to, CompactionOption::Enabled)?;
        let how =
            "Env::copy_to_path with CompactionOption::Enabled (mdb_env_copy2, MDB_CP_COMPACT)";
        Ok(Some(Backup::measure(to, how)?))
    }
}

struct LmdbReader<'a> {
    db: Database<Bytes, Bytes>,
    rtxn: heed::RoTxn<'a, heed::WithTls>,
}

impl Reader for LmdbReader<'_> {
    fn get(&mut self, key: &[u8]) -> BenchResult<bool> {
        Ok(self.db.get(&self.rtxn, key)?.map(<[u8]>::len).is_some())
    }

    fn range(&mut self, start: &[u8], n: usize) -> BenchResult<usize> {
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Included(start), Bound::Unbounded);
        let mut seen = 0;
        for e in self.db.range(&self.rtxn, &bounds)?.take(n) {
            e?;
            seen += 1;
        }
        Ok(seen)
    }
}
