//! The one error type of the crate.
//!
//! Variants are chosen by what the caller can do about them: retry later
//! (`Locked`), fix their input (`LimitExceeded`, `NotADatabase`), restore a
//! backup or run `oakmap check` (`Corruption`), reopen (`Poisoned`, `Io`),
//! or fix their code (`WriteTxnOpenOnThisThread`).
//! Context lives in fields, not in formatted strings.

use std::path::PathBuf;

/// Which size limit a call went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// A key longer than [`crate::Db::key_bytes_max`].
    KeyBytes,
    /// A value longer than [`crate::VALUE_BYTES_MAX`].
    ValueBytes,
    /// A tree name longer than [`crate::TREE_NAME_BYTES_MAX`].
    TreeNameBytes,
    /// A tree deeper than [`crate::DEPTH_MAX`] levels.
    Depth,
    /// A page size outside 4 KiB..=64 KiB or not a power of two.
    PageSize,
    /// A file of more than 2^64 / 65536 pages (the bound on `page_count` in
    /// format.md).
    FilePages,
    /// A file larger than this machine's address space can map.
    FileBytes,
}

/// Everything that can go wrong in oakmap.
///
/// New variants may come in minor versions, so a `match` needs a `_` arm:
///
/// ```compile_fail
/// fn can_retry(e: &oakmap::Error) -> bool {
///     match e {
///         oakmap::Error::Io(_) | oakmap::Error::Locked { .. } => true,
///         oakmap::Error::NotADatabase { .. }
///         | oakmap::Error::UnsupportedVersion { .. }
///         | oakmap::Error::Corruption { .. }
///         | oakmap::Error::WalCorruption { .. }
///         | oakmap::Error::LimitExceeded { .. }
///         | oakmap::Error::Poisoned
///         | oakmap::Error::TransactionFailed
///         | oakmap::Error::InvalidTreeName
///         | oakmap::Error::WriteTxnOpenOnThisThread => false,
///         // error[E0004]: non-exhaustive patterns: `_` not covered
///     }
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused a read, write, sync or lock.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The file exists but does not start with the oakmap magic bytes.
    #[error("{path} is not an oakmap database")]
    NotADatabase {
        /// The file that was opened.
        path: PathBuf,
    },

    /// The file is an oakmap database of a format version this build cannot read.
    #[error("{path} has format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        /// The file that was opened.
        path: PathBuf,
        /// The version in the file header.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },

    /// Another process (or another `Db` in this process) holds the file's lock.
    #[error("{path} is already open by another process or Db handle")]
    Locked {
        /// The file that was opened.
        path: PathBuf,
    },

    /// A checksum, a page reference or a layout read off disk does not hold.
    /// `page` names the page (0 for the file header, 1 and 2 for the meta slots).
    #[error("corruption in page {page}: {reason}")]
    Corruption {
        /// The page whose bytes are wrong, or which a bad reference pointed at.
        page: u64,
        /// What was wrong with it.
        reason: String,
    },

    /// A write-ahead log record that was acknowledged is damaged (or the log
    /// belongs to another database). Nothing was truncated; restore the WAL
    /// file or move it aside to open without the commits after the last
    /// checkpoint.
    #[error("WAL corruption in {path} at offset {offset}: {reason}")]
    WalCorruption {
        /// The WAL file.
        path: PathBuf,
        /// Byte offset in that file.
        offset: u64,
        /// What was wrong.
        reason: String,
    },

    /// An argument is over a documented limit.
    #[error("{what:?} limit exceeded: {actual} > {max}")]
    LimitExceeded {
        /// Which limit.
        what: Limit,
        /// The size that was asked for.
        actual: u64,
        /// The largest size allowed.
        max: u64,
    },

    /// An earlier write or sync failed, so the in-memory state may no longer match the
    /// file. Reads still work; reopen the database to recover the last durable state.
    #[error("database is poisoned by an earlier I/O failure; reopen it")]
    Poisoned,

    /// The transaction was left unusable by an earlier failed operation in it; drop it
    /// (which aborts) and start a new one.
    #[error("transaction is unusable after an earlier failed operation")]
    TransactionFailed,

    /// A tree name that is not valid (empty).
    #[error("invalid tree name")]
    InvalidTreeName,

    /// This thread holds the database's open `WriteTxn` and called something
    /// that waits for it (`begin_write`, a one-call write, `checkpoint`,
    /// `check`): it would have waited forever. Commit or drop the
    /// transaction first, or do the write through it.
    #[error(
        "this thread holds the open WriteTxn of this database and would wait for \
         it forever; commit or drop it first"
    )]
    WriteTxnOpenOnThisThread,

    /// The stored bytes of an entry of a typed tree do not decode as its
    /// key or value type: written by other code, through the byte API or
    /// with other types. `reason` starts with `key:` or `value:`. (Boxed
    /// slices keep `Error`, and so every `Result`, as small as before.)
    #[error("cannot decode the entry at key {} of tree {tree:?}: {reason}", .key.escape_ascii())]
    Decode {
        /// The typed tree.
        tree: Box<str>,
        /// The entry's key, as stored.
        key: Box<[u8]>,
        /// What did not decode, and why.
        reason: Box<str>,
    },

    /// A value given to a typed tree could not be encoded (its `Encode` or
    /// `Serialize` refused it); nothing was written.
    #[error("cannot encode the value for key {} of tree {tree:?}: {reason}", .key.escape_ascii())]
    Encode {
        /// The typed tree.
        tree: Box<str>,
        /// The entry's key, encoded.
        key: Box<[u8]>,
        /// Why the value did not encode.
        reason: Box<str>,
    },
}

/// Shorthand for `std::result::Result<T, oakmap::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A corruption error for `page` with a reason.
    pub(crate) fn corrupt(page: u64, reason: impl Into<String>) -> Error {
        Error::Corruption {
            page,
            reason: reason.into(),
        }
    }

    /// True for [`Error::Corruption`] and [`Error::WalCorruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. } | Error::WalCorruption { .. })
    }
}
