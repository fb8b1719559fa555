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
    /// Commits so far that wrote their pages to the file themselves
    /// (oakmap's write-back found its share of the cache full).
    fn commits_writing_pages(&self) -> Option<u64> {
        None
    }
    /// Footnote on how the engine was configured, if it differs from the rest.
    fn note(&self) -> &'static str {
        ""
    }
    /// Gives space back in place with the engine's own compaction, and says
    /// what it did (for the row's details); `Ok(None)` for an engine that
    /// has none. Called with nothing else open on the engine.
    fn compact(&mut self) -> BenchResult<Option<String>> {
        Ok(None)
    }
    /// Writes a compacted copy of the current state (free pages left out,
    /// the rest packed) to `to`, a file that does not exist yet; `Ok(None)`
    /// for an engine that has no such copy.
    fn backup(&self, to: &Path) -> BenchResult<Option<Backup>> {
        let _ = to;
        Ok(None)
    }
}

/// A compacted copy an engine wrote.
pub struct Backup {
    /// Its length as written, before anything opened it.
    pub bytes: u64,
    /// How it was made (and checked), for the row's details.
    pub how: String,
}

impl Backup {
    /// The copy at `to`, measured now.
    #[cfg(any(feature = "lmdb", feature = "sqlite"))]
    pub fn measure(to: &Path, how: &str) -> BenchResult<Backup> {
        Ok(Backup {
            bytes: std::fs::metadata(to)?.len(),
            how: how.to_string(),
        })
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

    fn commits_writing_pages(&self) -> Option<u64> {
        self.db.stats().ok().map(|s| s.commits_writing_pages)
    }

    fn compact(&mut self) -> BenchResult<Option<String>> {
        let c = self.db.compact()?;
        let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
        let mut done = format!(
            "Db::compact(): pages moved {}, leaves saved by packing {}, commits {}, data file \
             {:.1} → {:.1} MiB",
            c.pages_moved,
            c.leaves_saved,
            c.commits,
            mib(c.bytes_before),
            mib(c.bytes_after)
        );
        if c.pinned {
            done += ", stopped short by a live snapshot";
        }
        Ok(Some(done))
    }

    /// `Db::backup_to`, then the copy is opened and checked: it must hold
    /// every entry, replay nothing and pass the integrity check.
    fn backup(&self, to: &Path) -> BenchResult<Option<Backup>> {
        let report = self.db.backup_to(to)?;
        let entries = self.len()?;
        // Opening the copy makes its log files: its length is taken first.
        let copy_bytes = std::fs::metadata(to)?.len();
        if copy_bytes != report.file_bytes {
            return Err(format!(
                "the backup at {} is {copy_bytes} bytes, and its report says {}",
                to.display(),
                report.file_bytes
            )
            .into());
        }
        let copy = oakmap::Db::open(to)?;
        let replayed = copy.stats()?.replayed_commits;
        let check = copy.check()?;
        copy.close()?;
        let clean = check.is_clean();
        if replayed != 0 || !clean || check.entries != entries || report.entries != entries {
            return Err(format!(
                "the backup at {} is not the database: {} entries checked ({} reported, {} \
                 in the database), {} problems, {replayed} commits replayed on open",
                to.display(),
                check.entries,
                report.entries,
                entries,
                check.problems.len()
            )
            .into());
        }
        Ok(Some(Backup {
            bytes: copy_bytes,
            how: format!(
                "Db::backup_to: entries {entries}, pages {}; the copy opens with nothing to \
                 replay and passes check",
                report.page_count
            ),
        }))
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
