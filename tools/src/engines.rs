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

/// An engine `--engines` accepts.
pub struct EngineInfo {
    pub name: &'static str,
    /// Whether this build has it (peers are behind cargo features).
    pub built: bool,
    /// How its commits are made durable, for the legend of the table.
    pub durability: &'static str,
}

/// Every engine `--engines` accepts, in the order the help lists them.
pub const ENGINES: &[EngineInfo] = &[
    EngineInfo {
        name: "oakmap",
        built: true,
        durability: "Durability::Immediate, a commit returns after its WAL record is fsynced",
    },
    EngineInfo {
        name: "lmdb",
        built: cfg!(feature = "lmdb"),
        durability: "its default, a commit returns after its pages and meta page are fsynced",
    },
    EngineInfo {
        name: "redb",
        built: cfg!(feature = "redb"),
        durability: "Durability::Immediate (its default), a commit returns after it is fsynced",
    },
    EngineInfo {
        name: "sqlite",
        built: cfg!(feature = "sqlite"),
        durability: "WAL mode with synchronous=FULL, a commit returns after its WAL frames are fsynced",
    },
    EngineInfo {
        name: "sled",
        built: cfg!(feature = "sled"),
        durability: "flush() after every write batch (sled has no durable commit of its own)",
    },
    EngineInfo {
        name: "rocksdb",
        built: cfg!(feature = "rocksdb"),
        durability: "WriteOptions::set_sync(true), a write batch returns after its WAL is synced",
    },
    EngineInfo {
        name: "fjall",
        built: cfg!(feature = "fjall"),
        durability: "PersistMode::SyncData, a batch returns after its journal is fdatasynced",
    },
    EngineInfo {
        name: "canopydb",
        built: cfg!(feature = "canopydb"),
        durability: "commit_with(sync = true), a commit returns after its WAL is fsynced",
    },
];

/// The engine called `name`, if this build can run it; otherwise why not.
pub fn find(name: &str) -> Result<&'static EngineInfo, String> {
    match ENGINES.iter().find(|e| e.name == name) {
        Some(e) if e.built => Ok(e),
        Some(_) => Err(format!(
            "{name} is not built into this binary: rebuild with `--features {name}` \
             (or `--features peers` for all but rocksdb; see README)"
        )),
        None => {
            let known: Vec<&str> = ENGINES.iter().map(|e| e.name).collect();
            Err(format!(
                "unknown engine {name:?} (known: {})",
                known.join(", ")
            ))
        }
    }
}

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
        other => Err(find(other)
            .err()
            .unwrap_or_else(|| format!("{other} is listed as built but has no adapter"))
            .into()),
    }
}

/// The name of oakmap's database file in its engine directory (its WAL
/// files are this name plus `.wal0` and `.wal1`).
pub const OAKMAP_FILE: &str = "bench.oak";

const TREE: &str = "bench";

pub struct OakmapEngine {
    db: oakmap::Db,
}

impl OakmapEngine {
    fn open(dir: &Path, cache_bytes: usize) -> BenchResult<OakmapEngine> {
        let db = Options::new()
            .durability(Durability::Immediate)
            .cache_bytes(cache_bytes)
            .open(dir.join(OAKMAP_FILE))?;
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
