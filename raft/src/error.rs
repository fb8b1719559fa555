//! From oakmap's errors (and the codec's, the file system's, a blocking
//! task's) to openraft's `StorageError`, with the subject and verb the
//! failed operation names.
//!
//! Every error this crate returns to openraft is a `StorageError::IO`:
//! openraft stops the node on any storage error, which is what a failed
//! fsync (oakmap poisons the database), a damaged page or bytes that do not
//! decode call for. The error's source keeps oakmap's text, which names the
//! file, page or tree concerned.

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};

use crate::types::{NodeId, StorageError};

/// What the store methods return.
pub(crate) type StorageResult<T> = Result<T, StorageError>;

/// Turns any error into a `StorageError`, given the `StorageIOError`
/// constructor that names what failed: openraft's helpers fit as they are
/// (`tx.commit().or_storage(StorageIOError::write_logs)?`), and a closure
/// gives the others (`|e| StorageIOError::read_log_at_index(index, e)`).
pub(crate) trait OrStorage<T> {
    /// The result, its error wrapped by `what`.
    fn or_storage(self, what: impl FnOnce(AnyError) -> StorageIOError<NodeId>) -> StorageResult<T>;
}

impl<T, E: std::error::Error + 'static> OrStorage<T> for Result<T, E> {
    fn or_storage(self, what: impl FnOnce(AnyError) -> StorageIOError<NodeId>) -> StorageResult<T> {
        self.map_err(|e| what(AnyError::new(&e)).into())
    }
}

/// An error with no error value behind it: bytes that decoded but do not
/// hold together (an entry stored under another index, a snapshot whose
/// contents contradict its meta).
pub(crate) fn invalid(
    what: impl FnOnce(AnyError) -> StorageIOError<NodeId>,
    why: String,
) -> StorageError {
    what(AnyError::error(why)).into()
}

/// `StorageIOError` for removing log entries (truncate, purge), which
/// openraft has no helper for.
pub(crate) fn delete_logs(e: AnyError) -> StorageIOError<NodeId> {
    StorageIOError::new(ErrorSubject::Logs, ErrorVerb::Delete, e)
}

/// `StorageIOError` for reading or writing the committed log id, which
/// openraft has no subject for: the store as a whole.
pub(crate) fn committed(verb: ErrorVerb) -> impl FnOnce(AnyError) -> StorageIOError<NodeId> + Send {
    move |e| StorageIOError::new(ErrorSubject::Store, verb, e)
}
