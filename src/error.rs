//! The one error type of the crate.
//!
//! Variants are chosen by what the caller can do about them: retry later
//! (`Locked`), fix their input (`LimitExceeded`, `NotADatabase`), restore a
//! backup or run `oakmap check` (`Corruption`), reopen (`Poisoned`, `Io`),
//! or fix their code (`WriteTxnOpenOnThisThread`).
//! Context lives in fields, not in formatted strings, and each variant's
//! text shows it: every `Io` error names the file it concerns (there is no
//! `From<std::io::Error>`, so none can lose its path on the way).

use std::path::{Path, PathBuf};

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
/// Each variant is what the caller can do something about; the context (the
/// file, the page, the limit) is in its fields, and its text shows it:
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("no-such-dir").join("app.oak");
/// match oakmap::Db::open(&path) {
///     Err(oakmap::Error::Io { path: file, source }) => {
///         assert_eq!(file, path);                                  // the file it concerns
///         assert_eq!(source.kind(), std::io::ErrorKind::NotFound); // what the OS said
///     }
///     other => panic!("expected an I/O error, got {other:?}"),
/// }
/// let e = oakmap::Db::open(&path).unwrap_err();
/// assert!(e.to_string().contains("no-such-dir"));              // "I/O error on .../no-such-dir/app.oak: ..."
///
/// // What to do, by variant; new variants may come, so `_` is needed.
/// fn advice(e: &oakmap::Error) -> &'static str {
///     match e {
///         oakmap::Error::Locked { .. } => "another process has it open; try later",
///         oakmap::Error::LimitExceeded { what: oakmap::Limit::KeyBytes, .. } => "shorten the key",
///         oakmap::Error::Poisoned => "reopen the database",
///         e if e.is_corruption() => "run `oakmap check`, restore a backup",
///         _ => "see the message",
///     }
/// }
/// assert_eq!(advice(&e), "see the message");
/// ```
///
/// Without the `_` arm, a `match` naming every variant of today does not
/// compile:
///
/// ```compile_fail,E0004
/// fn can_retry(e: &oakmap::Error) -> bool {
///     match e {
///         oakmap::Error::Io { .. } | oakmap::Error::Locked { .. } => true,
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
    /// The operating system refused to open, read, write, sync, map or lock
    /// one of the database's files; `path` names it.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file the operation was on: the data file, a WAL file, or
        /// the directory holding them.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

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

    /// An argument is over a documented limit (or, for
    /// [`Limit::PageSize`], outside the allowed sizes).
    #[error("{}", limit_text(*.what, *.actual, *.max))]
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
    #[error("invalid tree name: a tree name must not be empty")]
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

/// What [`Error::LimitExceeded`] says: the size asked for and the rule it
/// breaks, in the limit's own unit.
fn limit_text(what: Limit, actual: u64, max: u64) -> String {
    let over = |thing: &str, unit: &str| {
        format!("{thing} of {actual} {unit} is over the limit of {max} {unit}")
    };
    match what {
        Limit::KeyBytes => over("key", "bytes"),
        Limit::ValueBytes => over("value", "bytes"),
        Limit::TreeNameBytes => over("tree name", "bytes"),
        Limit::Depth => over("tree depth", "levels"),
        Limit::PageSize => format!(
            "page size of {actual} bytes is not allowed: it must be a power of two \
             from {} (4 KiB) to {} (64 KiB) bytes",
            crate::PAGE_BYTES_MIN,
            crate::PAGE_BYTES_MAX
        ),
        Limit::FilePages => over("file", "pages"),
        Limit::FileBytes => format!(
            "a mapping of {actual} bytes is over what this machine can address ({max} bytes)"
        ),
    }
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

    /// An I/O error on the file at `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True for [`Error::Corruption`] and [`Error::WalCorruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. } | Error::WalCorruption { .. })
    }
}

/// Names the file an I/O result concerns: `std::fs::metadata(p).at(p)?`.
/// The crate has no `From<std::io::Error>`, so no I/O error reaches a
/// caller without its path.
pub(crate) trait At<T> {
    /// The result, its error as [`Error::Io`] on `path`.
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> At<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of `e`'s variant. Inside the crate a `match` must be
    /// exhaustive, so a new variant does not compile until it is named
    /// here, and then the test below wants it in the README.
    fn variant(e: &Error) -> &'static str {
        match e {
            Error::Io { .. } => "Io",
            Error::NotADatabase { .. } => "NotADatabase",
            Error::UnsupportedVersion { .. } => "UnsupportedVersion",
            Error::Locked { .. } => "Locked",
            Error::Corruption { .. } => "Corruption",
            Error::WalCorruption { .. } => "WalCorruption",
            Error::LimitExceeded { .. } => "LimitExceeded",
            Error::Poisoned => "Poisoned",
            Error::TransactionFailed => "TransactionFailed",
            Error::InvalidTreeName => "InvalidTreeName",
            Error::WriteTxnOpenOnThisThread => "WriteTxnOpenOnThisThread",
            Error::Decode { .. } => "Decode",
            Error::Encode { .. } => "Encode",
        }
    }

    #[test]
    fn readme_lists_every_variant() {
        let path = PathBuf::from("app.oak");
        let every = [
            Error::io(&path, std::io::ErrorKind::NotFound.into()),
            Error::NotADatabase { path: path.clone() },
            Error::UnsupportedVersion {
                path: path.clone(),
                found: 9,
                supported: 1,
            },
            Error::Locked { path: path.clone() },
            Error::corrupt(7, "bad"),
            Error::WalCorruption {
                path: path.clone(),
                offset: 0,
                reason: "bad".into(),
            },
            Error::LimitExceeded {
                what: Limit::KeyBytes,
                actual: 2,
                max: 1,
            },
            Error::Poisoned,
            Error::TransactionFailed,
            Error::InvalidTreeName,
            Error::WriteTxnOpenOnThisThread,
            Error::Decode {
                tree: "users".into(),
                key: Box::new([1]),
                reason: "value: bad".into(),
            },
            Error::Encode {
                tree: "users".into(),
                key: Box::new([1]),
                reason: "bad".into(),
            },
        ];
        let readme = include_str!("../README.md");
        let list = &readme[readme.find("Errors are one enum").expect("the error list")..];
        for e in &every {
            let name = variant(e);
            assert!(
                list.contains(&format!("`{name}`")) || list.contains(&format!("`{name} {{")),
                "README's error list leaves out {name}"
            );
        }
    }

    #[test]
    fn every_text_names_its_context() {
        let path = Path::new("dir/app.oak");
        let io = Error::io(path, std::io::ErrorKind::PermissionDenied.into());
        assert_eq!(
            io.to_string(),
            "I/O error on dir/app.oak: permission denied"
        );
        let page = Error::LimitExceeded {
            what: Limit::PageSize,
            actual: 1000,
            max: 65536,
        };
        assert_eq!(
            page.to_string(),
            "page size of 1000 bytes is not allowed: it must be a power of two \
             from 4096 (4 KiB) to 65536 (64 KiB) bytes"
        );
        let key = Error::LimitExceeded {
            what: Limit::KeyBytes,
            actual: 2000,
            max: 1337,
        };
        assert_eq!(
            key.to_string(),
            "key of 2000 bytes is over the limit of 1337 bytes"
        );
    }
}
