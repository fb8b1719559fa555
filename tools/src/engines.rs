//! The engines `oakmap bench` can run the standard workload on: oakmap, and
//! peers behind cargo features of this package (never dependencies of the
//! library). Each engine runs in its documented durable mode: a commit
//! returns after its data is fsynced.

use std::path::Path;

use oakmap::{Durability, Options};

pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The pairs of one write transaction, handed out one at a time, so the
/// harness never holds a large transaction's data in memory itself (the
/// memory row measures the engine).
pub trait Pairs {
    /// The next pair; `None` when done. The slices live until the next call.
    fn next(&mut self) -> Option<(&[u8], &[u8])>;
}

/// Pairs from a slice.
pub struct SlicePairs<'a, K: AsRef<[u8]>, V: AsRef<[u8]>> {
    pairs: std::slice::Iter<'a, (K, V)>,
}

impl<'a, K: AsRef<[u8]>, V: AsRef<[u8]>> SlicePairs<'a, K, V> {
    pub fn new(pairs: &'a [(K, V)]) -> Self {
        SlicePairs {
            pairs: pairs.iter(),
        }
    }
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> Pairs for SlicePairs<'_, K, V> {
    fn next(&mut self) -> Option<(&[u8], &[u8])> {
        self.pairs.next().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }
}

/// A key-value engine under test. Every write call is one transaction.
pub trait Engine: Send + Sync {
    /// Inserts (or replaces) all pairs in one durable transaction.
    fn put_batch(&self, pairs: &mut dyn Pairs) -> BenchResult<()>;
    /// Removes all keys in one durable transaction.
    fn remove_batch(&self, keys: &mut dyn Iterator<Item = &[u8]>) -> BenchResult<()>;
    /// Number of entries.
    fn len(&self) -> BenchResult<u64>;
    /// A reader over one snapshot (one per thread).
    fn reader(&self) -> BenchResult<Box<dyn Reader + '_>>;
    /// (commits, WAL fsyncs) so far, for engines that count them.
    fn commit_counts(&self) -> Option<(u64, u64)> {
        None
    }
    /// Footnote on how the engine was configured, if it differs from the rest.
    fn note(&self) -> &'static str {
        ""
    }
}

/// Reads from one snapshot or read transaction.
pub trait Reader {
    /// Whether `key` is present (its value is read and its length summed).
    fn get(&mut self, key: &[u8]) -> BenchResult<bool>;
    /// Reads up to `n` entries from `start` on; returns how many.
    fn range(&mut self, start: &[u8], n: usize) -> BenchResult<usize>;
}

/// Names `--engines` accepts, and whether this build has each.
pub const ENGINES: &[(&str, bool)] = &[
    ("oakmap", true),
    ("lmdb", cfg!(feature = "lmdb")),
    ("redb", cfg!(feature = "redb")),
    ("sqlite", cfg!(feature = "sqlite")),
    ("sled", cfg!(feature = "sled")),
    ("rocksdb", cfg!(feature = "rocksdb")),
    ("fjall", cfg!(feature = "fjall")),
    ("canopydb", cfg!(feature = "canopydb")),
];

/// Opens engine `name` in directory `dir` with a cache of `cache_bytes`.
pub fn open(name: &str, dir: &Path, cache_bytes: usize) -> BenchResult<Box<dyn Engine>> {
    match name {
        "oakmap" => Ok(Box::new(OakmapEngine::open(dir, cache_bytes)?)),
        #[cfg(feature = "lmdb")]
        "lmdb" => Ok(Box::new(peers::lmdb::Lmdb::open(dir)?)),
        #[cfg(feature = "redb")]
        "redb" => Ok(Box::new(peers::redb::Redb::open(dir, cache_bytes)?)),
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Box::new(peers::sqlite::Sqlite::open(dir, cache_bytes)?)),
        #[cfg(feature = "sled")]
        "sled" => Ok(Box::new(peers::sled::Sled::open(dir, cache_bytes)?)),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Ok(Box::new(peers::rocksdb::Rocks::open(dir, cache_bytes)?)),
        #[cfg(feature = "fjall")]
        "fjall" => Ok(Box::new(peers::fjall::Fjall::open(dir, cache_bytes)?)),
        #[cfg(feature = "canopydb")]
        "canopydb" => Ok(Box::new(peers::canopydb::Canopy::open(dir, cache_bytes)?)),
        other => {
            let known = ENGINES.iter().any(|(n, _)| *n == other);
            Err(if known {
                format!("{other} is not built in: rebuild with `--features {other}` (see README)")
                    .into()
            } else {
                format!("unknown engine {other}").into()
            })
        }
    }
}

const TREE: &str = "bench";

pub struct OakmapEngine {
    db: oakmap::Db,
}

impl OakmapEngine {
    fn open(dir: &Path, cache_bytes: usize) -> BenchResult<OakmapEngine> {
        let db = Options::new()
            .durability(Durability::Immediate)
            .cache_bytes(cache_bytes)
            .open(dir.join("bench.oak"))?;
        Ok(OakmapEngine { db })
    }
}

impl Engine for OakmapEngine {
    fn put_batch(&self, pairs: &mut dyn Pairs) -> BenchResult<()> {
        let mut tx = self.db.begin_write()?;
        let mut t = tx.open_tree(TREE)?;
        while let Some((k, v)) = pairs.next() {
            t.insert(k, v)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn remove_batch(&self, keys: &mut dyn Iterator<Item = &[u8]>) -> BenchResult<()> {
        let mut tx = self.db.begin_write()?;
        let mut t = tx.open_tree(TREE)?;
        for k in keys {
            t.remove(k)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn len(&self) -> BenchResult<u64> {
        Ok(self.db.begin_read().tree(TREE)?.map_or(0, |t| t.len()))
    }

    fn reader(&self) -> BenchResult<Box<dyn Reader + '_>> {
        Ok(Box::new(OakmapReader {
            snap: self.db.begin_read().into_tree(TREE)?,
        }))
    }

    fn commit_counts(&self) -> Option<(u64, u64)> {
        self.db.stats().ok().map(|s| (s.commits, s.wal_fsyncs))
    }
}

/// Holds the tree with its snapshot, so a get does not look the tree up.
struct OakmapReader<'a> {
    snap: Option<oakmap::TreeSnapshot<'a>>,
}

impl Reader for OakmapReader<'_> {
    fn get(&mut self, key: &[u8]) -> BenchResult<bool> {
        let Some(s) = &self.snap else {
            return Ok(false);
        };
        Ok(s.tree().get(key)?.map(<[u8]>::len).is_some())
    }

    fn range(&mut self, start: &[u8], n: usize) -> BenchResult<usize> {
        let Some(s) = &self.snap else { return Ok(0) };
        let mut seen = 0;
        for e in s.tree().range(start..)?.take(n) {
            e?;
            seen += 1;
        }
        Ok(seen)
    }
}

#[cfg(any(
    feature = "lmdb",
    feature = "redb",
    feature = "sqlite",
    feature = "sled",
    feature = "rocksdb",
    feature = "fjall",
    feature = "canopydb"
))]
mod peers;
