//! canopydb (a copy-on-write B+tree with a WAL, in Rust): every commit with
//! `commit_with(true)` (waits for the WAL fsync), a page cache of the common
//! size. Its reader looks the tree up by name for each operation: a tree
//! handle borrows its read transaction, which this trait cannot hold.

use std::path::Path;

use canopydb::{Database, DbOptions, EnvOptions, ReadTransaction};

use crate::engines::{BenchResult, Engine, Pairs, Reader};

const TREE: &[u8] = b"bench";

pub struct Canopy {
    db: Database,
}

impl Canopy {
    pub fn open(dir: &Path, cache_bytes: usize) -> BenchResult<Canopy> {
        let path = dir.join("bench.canopydb");
        std::fs::create_dir_all(&path)?;
        let mut env = EnvOptions::new(path);
        env.page_cache_size = cache_bytes;
        let mut opts = DbOptions::new();
        opts.default_commit_sync = true;
        let db = Database::with_options(env, opts)?;
        let w = db.begin_write()?;
        w.get_or_create_tree(TREE)?;
        w.commit()?;
        Ok(Canopy { db })
    }
}

impl Engine for Canopy {
    fn put_batch(&self, pairs: &mut dyn Pairs) -> BenchResult<()> {
        let w = self.db.begin_write()?;
        {
            let mut t = w.get_or_create_tree(TREE)?;
            while let Some((k, v)) = pairs.next() {
                t.insert(k, v)?;
            }
        }
        w.commit_with(true)?;
        Ok(())
    }

    fn remove_batch(&self, keys: &mut dyn Iterator<Item = &[u8]>) -> BenchResult<()> {
        let w = self.db.begin_write()?;
        {
            let mut t = w.get_or_create_tree(TREE)?;
            for k in keys {
                t.delete(k)?;
            }
        }
        w.commit_with(true)?;
        Ok(())
    }

    fn len(&self) -> BenchResult<u64> {
        let r = self.db.begin_read()?;
        let t = r.get_tree(TREE)?.ok_or("canopydb: bench tree missing")?;
        Ok(t.len())
    }

    fn reader(&self) -> BenchResult<Box<dyn Reader + '_>> {
        Ok(Box::new(CanopyReader {
            tx: self.db.begin_read()?,
        }))
    }

    fn note(&self) -> &'static str {
        "canopydb: commit_with(sync = true), page cache of the common size, checksums off (its default)"
    }
}

struct CanopyReader {
    tx: ReadTransaction,
}

impl Reader for CanopyReader {
    fn get(&mut self, key: &[u8]) -> BenchResult<bool> {
        let t = self
            .tx
            .get_tree(TREE)?
            .ok_or("canopydb: bench tree missing")?;
        Ok(t.get(key)?.map(|v| v.len()).is_some())
    }

    fn range(&mut self, start: &[u8], n: usize) -> BenchResult<usize> {
        let t = self
            .tx
            .get_tree(TREE)?
            .ok_or("canopydb: bench tree missing")?;
        let mut seen = 0;
        for e in t.range::<&[u8]>(start..)?.take(n) {
            e?;
            seen += 1;
        }
        Ok(seen)
    }
}
