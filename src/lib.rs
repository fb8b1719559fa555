//! oakmap: an embedded, persistent, ordered key-value map.
//!
//! A copy-on-write B+tree over a memory-mapped file. Any number of readers
//! each see a consistent snapshot for as long as they live, reading values
//! straight out of the mapping; one writer at a time builds the next state in
//! fresh pages. A commit writes those pages without syncing and appends one
//! logical record to a write-ahead log; commits arriving together share one
//! fsync of the log (group commit). A background checkpoint later makes the
//! tree in the file reach a committed state and lets the log go. The writer's
//! dirty pages live in a cache arena of fixed size, so memory stays flat
//! however large a transaction is. Keys and values are byte strings ordered
//! by byte comparison, kept in named trees.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("app.oak");
//! let db = oakmap::Db::open(&path)?;                        // creates the file if missing
//!
//! let mut tx = db.begin_write()?;                           // one writer at a time; others queue
//! {
//!     let mut users = tx.open_tree("users")?;               // named trees, created on first use
//!     users.insert(b"alice", b"{\"age\":31}")?;
//!     users.insert(b"bob", b"{\"age\":27}")?;
//!     users.remove(b"bob")?;
//! }
//! tx.commit()?;                                             // returns when durable
//!
//! let rx = db.begin_read();                                 // MVCC snapshot: never blocks
//! if let Some(users) = rx.tree("users")? {
//!     let v: Option<&[u8]> = users.get(b"alice")?;          // zero-copy, borrows the snapshot
//!     assert_eq!(v, Some(&b"{\"age\":31}"[..]));
//!     for entry in users.range(b"a"..b"b")? {
//!         let (k, _v) = entry?;
//!         assert_eq!(k, b"alice");
//!     }
//!     assert_eq!(users.len(), 1);                           // O(1), kept in the tree root
//! }
//!
//! // One-call forms for servers, each its own transaction.
//! db.insert("users", b"k", b"old")?;
//! let got = db.get_or_insert("sessions", b"k", b"v")?;    // atomic load-or-store
//! assert!(got.inserted && got.value == b"v");
//! // Ok(Ok(())): swapped; Ok(Err(conflict)): the value was not `old`.
//! let outcome = db.compare_and_swap("users", b"k", Some(b"old"), Some(b"new"))?;
//! assert_eq!(outcome, Ok(()));
//! assert!(db.check()?.is_clean());
//! drop(rx);                                                 // snapshots borrow the Db
//! db.close()?;                                              // or drop it, ignoring errors
//! # Ok::<(), oakmap::Error>(())
//! ```
//!
//! Typed trees (keys and values of Rust types, encoded over the byte API)
//! are in [`typed`]: a `const USERS: TreeDef<u64, User>` opened with
//! `tx.open_typed(USERS)` or `rx.typed(USERS)`.
//!
//! Every error is an [`Error`], its context in fields: an I/O error names the
//! file it concerns.
//!
//! In the repository: `examples/` has whole programs (`cargo run --example
//! session_store`, `cargo run --example tokio_server`); `README.md` the
//! guarantees, the tools and the tests; `format.md` the file layout; and
//! `docs/design.md` the architecture, its invariants and every durability
//! step with its crash argument.

mod arena;
mod backup;
mod btree;
mod cache;
mod check;
mod checkpoint;
mod commit;
mod compact;
mod db;
mod engine;
mod error;
mod fail;
mod file;
mod format;
mod freelist;
pub mod inspect;
mod io;
mod options;
mod pace;
mod pager;
mod read;
mod recovery;
mod resident;
mod snapshot;
mod txn;
pub mod typed;
mod verified;
mod wal;
mod walk;

pub use backup::{BackupOptions, BackupReport};
pub use check::{CheckReport, Problem, TreeSummary};
pub use compact::Compaction;
pub use db::{Db, GetOrInsert, Stats};
pub use error::{Error, Limit, Result};
// Test-only: the integration tests arm failure points and record every I/O
// operation through these. A cargo feature would keep them out of ordinary
// builds, but every integration test would then have to turn it on (the
// crate depending on itself, or `required-features` on each test), so they
// stay public and are hidden from the documentation.
#[doc(hidden)]
pub use fail::FailPoints;
pub use format::{
    DEPTH_MAX, FORMAT_VERSION, PAGE_BYTES_DEFAULT, PAGE_BYTES_MAX, PAGE_BYTES_MIN,
    TREE_NAME_BYTES_MAX, VALUE_BYTES_MAX, key_bytes_max,
};
#[doc(hidden)]
pub use io::{IoFile, IoHook, IoOp};
pub use options::{Durability, Options};
pub use read::{KeyRange, Range, ReadTxn, Tree, TreeSnapshot};
pub use txn::{CasConflict, TreeId, TreeMut, WriteTxn};
pub use typed::TreeDef;

// The README's Rust blocks, compiled as doctests so that they cannot drift
// from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
