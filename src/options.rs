//! How a database is opened: page size, durability, WAL and cache bounds.
//! (`Options::open` lives beside `Db`, in db.rs, so that options depend on
//! nothing above them.)

use std::sync::Arc;
use std::time::Duration;

use crate::fail::FailPoints;
use crate::format;
use crate::io::IoHook;

/// When `commit` returns relative to the data reaching the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `commit` returns after the commit's WAL record is fsynced; concurrent
    /// commits share one fsync.
    #[default]
    Immediate,
    /// `commit` returns once its record is written; a background fsync follows
    /// within the interval. A power cut loses at most that window of commits,
    /// never consistency; a process crash loses nothing.
    Group(Duration),
    /// No fsync is asked for (checkpoints still sync). A process crash loses
    /// nothing; a power cut loses the commits since the last checkpoint or
    /// other sync, and recovery returns a consistent earlier state.
    None,
}

/// How to open a database. Every setting has a default.
///
/// ```no_run
/// use std::time::Duration;
/// let db = oakmap::Options::new()
///     .cache_bytes(256 << 20)
///     .durability(oakmap::Durability::Group(Duration::from_millis(5)))
///     .wal_bytes_max(64 << 20)
///     .open("app.oak")?;
/// # Ok::<(), oakmap::Error>(())
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) page_bytes: usize,
    pub(crate) durability: Durability,
    pub(crate) verify_checksums: bool,
    pub(crate) create: bool,
    pub(crate) cache_bytes: usize,
    pub(crate) wal_bytes_max: u64,
    pub(crate) checkpoint_interval: Duration,
    pub(crate) accept_log_loss: bool,
    pub(crate) io_hook: Option<Arc<dyn IoHook>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("page_bytes", &self.page_bytes)
            .field("durability", &self.durability)
            .field("verify_checksums", &self.verify_checksums)
            .field("create", &self.create)
            .field("cache_bytes", &self.cache_bytes)
            .field("wal_bytes_max", &self.wal_bytes_max)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("accept_log_loss", &self.accept_log_loss)
            .field("io_hook", &self.io_hook.is_some())
            .finish()
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            page_bytes: format::PAGE_BYTES_DEFAULT,
            durability: Durability::Immediate,
            verify_checksums: true,
            create: true,
            cache_bytes: 256 << 20,
            wal_bytes_max: 64 << 20,
            checkpoint_interval: Duration::from_secs(30),
            accept_log_loss: false,
            io_hook: None,
        }
    }
}

impl Options {
    /// The defaults: 4 KiB pages, `Durability::Immediate`, checksums verified
    /// on read, a 256 MiB cache, a 64 MiB WAL bound, checkpoints at least
    /// every 30 seconds while there are commits.
    pub fn new() -> Options {
        Options::default()
    }
    /// Page size for a new file (a power of two, 4 KiB to 64 KiB). An existing
    /// file keeps the page size it was created with.
    pub fn page_bytes(mut self, page_bytes: usize) -> Options {
        self.page_bytes = page_bytes;
        self
    }
    /// The default durability of commits ([`crate::WriteTxn::set_durability`]
    /// overrides it per transaction).
    pub fn durability(mut self, durability: Durability) -> Options {
        self.durability = durability;
        self
    }
    /// Whether page reads verify checksums (default true): each page's CRC is
    /// checked the first time this process reads it from the file; pages the
    /// process wrote itself are trusted. The structural validation that
    /// keeps bad bytes from causing a panic or spreading (offsets, lengths,
    /// key order, references within the file) runs on each page's first
    /// read either way; `oakmap check` verifies every page.
    pub fn verify_checksums(mut self, verify: bool) -> Options {
        self.verify_checksums = verify;
        self
    }
    /// Whether a missing file is created (default true).
    pub fn create(mut self, create: bool) -> Options {
        self.create = create;
        self
    }
    /// The bound on the writer's dirty-page cache: one arena of this many bytes
    /// (at least 128 pages), allocated at open off the Rust heap. A transaction
    /// larger than it spills pages to the file early.
    pub fn cache_bytes(mut self, cache_bytes: usize) -> Options {
        self.cache_bytes = cache_bytes;
        self
    }
    /// The bound on the write-ahead log. A checkpoint starts when half of it
    /// is used; a writer that finds it full checkpoints before it starts
    /// (back-pressure); a transaction whose record would not fit commits as a
    /// checkpoint instead. Recovery replays at most this much.
    pub fn wal_bytes_max(mut self, bytes: u64) -> Options {
        self.wal_bytes_max = bytes.max(4096);
        self
    }
    /// Checkpoint at least this often while there are commits (default 30 s).
    pub fn checkpoint_interval(mut self, interval: Duration) -> Options {
        self.checkpoint_interval = interval;
        self
    }
    /// Opens even when the write-ahead log the newest checkpoint needs
    /// cannot be recovered in full (default false): a log file missing,
    /// truncated, of another cycle or an older copy, with a damaged header
    /// and no readable record, or with a damaged record that acknowledged
    /// ones follow. The commits up to the first that cannot be read are
    /// recovered; **the acknowledged commits after it are lost**, and
    /// [`crate::Db::log_loss`] says why. Without this option such an open fails
    /// with [`crate::Error::WalCorruption`] naming the file, and changes
    /// nothing; `oakmap recover --accept-log-loss FILE` does the same from
    /// the command line. A log that belongs to another database is refused
    /// either way.
    ///
    /// ```no_run
    /// let db = oakmap::Options::new().accept_log_loss(true).open("app.oak")?;
    /// if let Some(why) = db.log_loss() {
    ///     eprintln!("opened without some commits: {why}");
    /// }
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn accept_log_loss(mut self, accept: bool) -> Options {
        self.accept_log_loss = accept;
        self
    }
    /// Installs failure points that tests arm to make I/O fail.
    #[doc(hidden)]
    pub fn fail_points(mut self, points: Arc<FailPoints>) -> Options {
        self.io_hook = Some(points);
        self
    }
    /// Installs a hook that sees every write, length change and sync (tests:
    /// fault injection, crash images).
    #[doc(hidden)]
    pub fn io_hook(mut self, hook: Arc<dyn IoHook>) -> Options {
        self.io_hook = Some(hook);
        self
    }
}
