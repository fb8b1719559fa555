//! Read transactions (snapshots) and the read API of a tree.
//!
//! A [`ReadTxn`] registers its transaction id in the reader table for as long
//! as it lives, which keeps every page of its state from being reused; values
//! it returns borrow the mapping directly (zero-copy).

use std::io::Write;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use crate::backup::{self, BackupOptions, BackupReport};
use crate::btree::{self, Cursor, OwnedBounds, RangeIter};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::{Meta, TreeDesc};
use crate::pager::Src;
use crate::snapshot::ReaderToken;

/// A consistent snapshot of the database. Cheap to take, never blocks, and
/// never blocked by the writer.
///
/// [`Db::begin_read`](crate::Db::begin_read) gives a `ReadTxn<'db>` that
/// borrows the `Db`; [`Db::begin_read_owned`](crate::Db::begin_read_owned)
/// gives a `ReadTxn<'static>` to move into another thread or task. Both are
/// `Send` and `Sync`.
pub struct ReadTxn<'db> {
    db: DbRef<'db>,
    token: ReaderToken,
    meta: Meta,
    map: usize,
}

/// How a snapshot holds the database: borrowed (no shared counter to touch,
/// so readers on many threads do not contend), or owned, keeping the file
/// and its mapping alive for as long as the snapshot lives.
enum DbRef<'db> {
    Borrowed(&'db Engine),
    Owned(Arc<Engine>),
}

impl std::ops::Deref for DbRef<'_> {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        match self {
            DbRef::Borrowed(inner) => inner,
            DbRef::Owned(inner) => inner,
        }
    }
}

impl<'db> ReadTxn<'db> {
    pub(crate) fn new(db: &'db Engine) -> ReadTxn<'db> {
        ReadTxn::register(DbRef::Borrowed(db))
    }

    pub(crate) fn new_owned(db: Arc<Engine>) -> ReadTxn<'static> {
        ReadTxn::register(DbRef::Owned(db))
    }

    fn register(db: DbRef<'db>) -> ReadTxn<'db> {
        let (token, meta, map) = db.readers.register(&db.published);
        ReadTxn {
            db,
            token,
            meta,
            map,
        }
    }

    fn src(&self) -> Src<'_> {
        Src::Snapshot(self.db.map_source(&self.meta, self.map))
    }

    /// The id of the commit this snapshot shows.
    pub fn id(&self) -> u64 {
        self.meta.txn.0
    }

    /// The tree `name`, or `None` if it does not exist in this snapshot.
    pub fn tree(&self, name: &str) -> Result<Option<Tree<'_>>> {
        let src = self.src();
        Ok(lookup_tree(src, &self.meta.catalog, name)?.map(|desc| Tree::new(src, desc)))
    }

    /// Names of all trees in this snapshot, in byte order.
    pub fn list_trees(&self) -> Result<Vec<String>> {
        list_catalog(self.src(), &self.meta.catalog)
    }

    /// The tree `name` together with this snapshot, to keep across calls
    /// without looking the tree up each time (`None` if it does not exist).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// db.insert("users", b"alice", b"1")?;
    /// let users = db.begin_read().into_tree("users")?.expect("exists");
    /// assert_eq!(users.tree().get(b"alice")?, Some(&b"1"[..]));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn into_tree(self, name: &str) -> Result<Option<TreeSnapshot<'db>>> {
        let desc = lookup_tree(self.src(), &self.meta.catalog, name)?;
        Ok(desc.map(|desc| TreeSnapshot { rx: self, desc }))
    }

    /// Writes this snapshot to `path` as a closed, compacted database (see
    /// [`Db::backup_to`](crate::Db::backup_to)), refusing an existing file.
    /// Writers go on meanwhile; the snapshot is a reader like any other.
    pub fn backup_to(&self, path: impl AsRef<Path>) -> Result<BackupReport> {
        self.backup_with(path, BackupOptions::new())
    }

    /// [`ReadTxn::backup_to`] with [`BackupOptions`].
    pub fn backup_with(
        &self,
        path: impl AsRef<Path>,
        options: BackupOptions,
    ) -> Result<BackupReport> {
        let src = self.db.map_source(&self.meta, self.map);
        let fsyncs = || self.db.log.led_fsyncs();
        let to = backup::Target {
            dst: path.as_ref(),
            options,
            hook: self.db.options.io_hook.clone(),
            fsyncs: &fsyncs,
        };
        backup::write_copy(src, &self.meta, to)
    }

    /// Streams this snapshot to `w` as a closed, compacted database (see
    /// [`Db::backup_to_writer`](crate::Db::backup_to_writer)): the bytes
    /// [`ReadTxn::backup_to`] would put in its file, in file order.
    pub fn backup_to_writer(&self, w: &mut impl Write) -> Result<BackupReport> {
        let src = self.db.map_source(&self.meta, self.map);
        backup::stream_copy(src, &self.meta, None, w)
    }

    /// [`ReadTxn::backup_to_writer`] of some trees only: the copy holds the
    /// trees named in `trees` that this snapshot has, and no other. For a
    /// copy of one part of a database, e.g. a replicated state machine's
    /// trees without the log kept beside them (oakmap-raft's snapshots).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("app.oak"))?;
    /// db.insert("users", b"alice", b"1")?;
    /// db.insert("log", b"1", b"big")?;
    /// let mut bytes = Vec::new();
    /// let report = db.begin_read().backup_trees_to_writer(&["users"], &mut bytes)?;
    /// assert_eq!((report.trees, report.entries), (1, 1));
    /// let copy = dir.path().join("users.oak");
    /// std::fs::write(&copy, &bytes).unwrap();
    /// let restored = oakmap::Db::open(&copy)?;
    /// assert_eq!(restored.list_trees()?, vec!["users".to_string()]);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn backup_trees_to_writer(
        &self,
        trees: &[&str],
        w: &mut impl Write,
    ) -> Result<BackupReport> {
        let src = self.db.map_source(&self.meta, self.map);
        backup::stream_copy(src, &self.meta, Some(trees), w)
    }
}

/// A tree and the snapshot it reads, owned together (see [`ReadTxn::into_tree`]).
pub struct TreeSnapshot<'db> {
    rx: ReadTxn<'db>,
    desc: TreeDesc,
}

impl TreeSnapshot<'_> {
    /// The tree, borrowing this snapshot.
    pub fn tree(&self) -> Tree<'_> {
        Tree::new(self.rx.src(), self.desc)
    }

    /// The id of the commit this snapshot shows.
    pub fn id(&self) -> u64 {
        self.rx.id()
    }
}

impl Drop for ReadTxn<'_> {
    fn drop(&mut self) {
        self.db.readers.release(self.token);
    }
}

/// Finds a tree's descriptor in the catalog.
pub(crate) fn lookup_tree(
    src: Src<'_>,
    catalog: &TreeDesc,
    name: &str,
) -> Result<Option<TreeDesc>> {
    match btree::get(src, catalog, name.as_bytes())? {
        Some(b) => Ok(Some(TreeDesc::decode(b, catalog.root.0)?)),
        None => Ok(None),
    }
}

/// All tree names in the catalog.
pub(crate) fn list_catalog(src: Src<'_>, catalog: &TreeDesc) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in Tree::new(src, *catalog).iter()? {
        let (k, _) = entry?;
        let name = std::str::from_utf8(k)
            .map_err(|_| Error::corrupt(catalog.root.0, "tree name is not UTF-8"))?;
        names.push(name.to_string());
    }
    Ok(names)
}

/// A read-only view of one tree in a snapshot (or in a write transaction,
/// through [`crate::TreeMut::view`]). Values borrow the snapshot.
#[derive(Clone, Copy)]
pub struct Tree<'a> {
    src: Src<'a>,
    desc: TreeDesc,
}

impl<'a> Tree<'a> {
    pub(crate) fn new(src: Src<'a>, desc: TreeDesc) -> Tree<'a> {
        Tree { src, desc }
    }

    /// The value under `key`, zero-copy.
    pub fn get(&self, key: &[u8]) -> Result<Option<&'a [u8]>> {
        btree::get(self.src, &self.desc, key)
    }

    /// Number of entries, O(1) (kept in the tree's descriptor, which was
    /// read when the tree was looked up: nothing here can fail).
    pub fn len(&self) -> u64 {
        self.desc.len
    }

    /// True if the tree has no entries.
    pub fn is_empty(&self) -> bool {
        self.desc.len == 0
    }

    /// Depth of the tree (0 when empty).
    pub fn depth(&self) -> u32 {
        self.desc.depth
    }

    /// Entries with keys in `range`, in key order; `.rev()` walks backwards.
    /// Any standard range or `(Bound, Bound)` pair whose ends borrow as bytes
    /// will do (see [`KeyRange`]).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # for k in ["apple", "avocado", "banana"] { db.insert("fruit", k.as_bytes(), b"")?; }
    /// let rx = db.begin_read();
    /// let t = rx.tree("fruit")?.expect("created above");
    /// let from = b"av".to_vec();
    /// assert_eq!(t.range(b"a"..b"b")?.count(), 2);             // byte-string literals
    /// assert_eq!(t.range(&from..)?.count(), 2);                // a borrowed Vec
    /// assert_eq!(t.range("a"..="apple")?.count(), 1);          // strings
    /// for entry in t.range(b"a".as_slice()..b"bb")?.rev() {    // ends of two lengths
    ///     let (key, value) = entry?;
    /// }
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn range(&self, range: impl KeyRange) -> Result<Range<'a>> {
        self.into_range(range)
    }

    pub(crate) fn into_range(self, range: impl KeyRange) -> Result<Range<'a>> {
        let bounds = OwnedBounds {
            start: range.start_key().map(<[u8]>::to_vec),
            end: range.end_key().map(<[u8]>::to_vec),
        };
        Ok(Range {
            inner: RangeIter::new(self.src, self.desc, bounds)?,
        })
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> Result<Range<'a>> {
        self.into_range(..)
    }

    /// Entries whose keys start with `prefix`, in key order (reverse with
    /// `.rev()`): the range from `prefix` to the next key that does not
    /// start with it. An empty prefix gives every entry.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// for key in ["user:1:name", "user:1:mail", "user:10:name", "user:2:name"] {
    ///     db.insert("kv", key.as_bytes(), b"")?;
    /// }
    /// let rx = db.begin_read();
    /// let kv = rx.tree("kv")?.expect("created above");
    /// let mut keys = Vec::new();
    /// for entry in kv.prefix(b"user:1:")? {                 // not user:10
    ///     let (key, _value) = entry?;
    ///     keys.push(key);
    /// }
    /// assert_eq!(keys, [&b"user:1:mail"[..], b"user:1:name"]);
    /// let last = kv.prefix(b"user:")?.next_back().transpose()?;
    /// assert_eq!(last.map(|(k, _)| k), Some(&b"user:2:name"[..]));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn prefix(&self, prefix: &[u8]) -> Result<Range<'a>> {
        let start = Bound::Included(prefix.to_vec());
        let end = match prefix_successor(prefix) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        };
        Ok(Range {
            inner: RangeIter::new(self.src, self.desc, OwnedBounds { start, end })?,
        })
    }

    /// The entry with the smallest key.
    pub fn first(&self) -> Result<Option<(&'a [u8], &'a [u8])>> {
        self.edge(true)
    }

    /// The entry with the largest key.
    pub fn last(&self) -> Result<Option<(&'a [u8], &'a [u8])>> {
        self.edge(false)
    }

    fn edge(&self, first: bool) -> Result<Option<(&'a [u8], &'a [u8])>> {
        let mut c = Cursor::new(self.src, self.desc);
        if first {
            c.first()?
        } else {
            c.last()?
        }
        if c.is_valid() {
            Ok(Some(c.entry()?))
        } else {
            Ok(None)
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// The key bounds [`Tree::range`] and [`crate::TreeMut::range`] take: every
/// standard range (`a..b`, `a..=b`, `a..`, `..b`, `..=b`, `..`) and a
/// `(Bound, Bound)` pair, with ends of any type that borrows as bytes
/// (`&[u8]`, `&[u8; N]`, `Vec<u8>`, `&Vec<u8>`, `&str`, `String`, ...).
///
/// Both ends of a standard range have one type, so byte-string literals of
/// different lengths need one of them as a slice: `b"a".as_slice()..b"bb"`.
///
/// (Why not `RangeBounds<K>` with `K: AsRef<[u8]>`: the standard library
/// implements `RangeBounds<T>` for `Range<&T>` as well as `RangeBounds<&T>`,
/// so `b"a"..b"b"` would fit both `K = &[u8; 1]` and `K = [u8; 1]`, and the
/// call would need a type annotation.) Sealed: the set of types may grow.
pub trait KeyRange: sealed::Sealed {
    /// The lower bound, as bytes.
    fn start_key(&self) -> Bound<&[u8]>;
    /// The upper bound, as bytes.
    fn end_key(&self) -> Bound<&[u8]>;
}

/// `KeyRange` for standard range types that are `RangeBounds<K>`.
macro_rules! key_range_via_range_bounds {
    ($($range:ty),*) => {$(
        impl<K: AsRef<[u8]>> sealed::Sealed for $range {}

        impl<K: AsRef<[u8]>> KeyRange for $range {
            fn start_key(&self) -> Bound<&[u8]> {
                RangeBounds::<K>::start_bound(self).map(AsRef::as_ref)
            }

            fn end_key(&self) -> Bound<&[u8]> {
                RangeBounds::<K>::end_bound(self).map(AsRef::as_ref)
            }
        }
    )*};
}

key_range_via_range_bounds!(
    std::ops::Range<K>,
    std::ops::RangeInclusive<K>,
    std::ops::RangeFrom<K>,
    std::ops::RangeTo<K>,
    std::ops::RangeToInclusive<K>,
    (Bound<K>, Bound<K>)
);

impl sealed::Sealed for std::ops::RangeFull {}

impl KeyRange for std::ops::RangeFull {
    fn start_key(&self) -> Bound<&[u8]> {
        Bound::Unbounded
    }

    fn end_key(&self) -> Bound<&[u8]> {
        Bound::Unbounded
    }
}

/// The smallest key greater than every key with `prefix`, if there is one.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// An iterator over a key range; each item is a `Result` because pages are
/// read (and verified) as it goes. Double-ended.
pub struct Range<'a> {
    inner: RangeIter<'a>,
}

impl<'a> Iterator for Range<'a> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.inner.next_entry() {
            Ok(e) => e.map(Ok),
            Err(e) => {
                self.inner.fuse();
                Some(Err(e))
            }
        }
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self.inner.next_back_entry() {
            Ok(e) => e.map(Ok),
            Err(e) => {
                self.inner.fuse();
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn prefix_successor_carries() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
