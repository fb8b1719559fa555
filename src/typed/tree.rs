//! Typed handles on a byte tree: [`TypedTree`] (read) and [`TypedTreeMut`]
//! (write), and the transaction methods that open them.
//!
//! Each handle is a byte-tree handle, the tree's name (for errors) and the
//! key and value types: every call encodes its arguments, calls the byte
//! API and decodes what comes back. Nothing here touches a page; a decoding
//! failure is an [`Error::Decode`] naming the tree and the stored key.

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

use super::{AsKey, CodecError, Key, Position, TreeDef, Value};
use crate::error::{Error, Result};
use crate::read::{Range, ReadTxn, Tree};
use crate::txn::{TreeMut, WriteTxn};

/// The types a handle carries, without owning or borrowing either.
pub(super) type Types<K, V> = PhantomData<fn() -> (K, PhantomData<V>)>;

/// The stored bytes of `key`.
pub(super) fn key_bytes<K: Key>(key: &impl AsKey<K>) -> Vec<u8> {
    let mut out = Vec::new();
    key.encode_as_key(&mut out, Position::Last);
    out
}

/// The stored bytes of `value`, or an [`Error::Encode`] naming the entry.
pub(super) fn value_bytes<V: Value + ?Sized>(
    tree: &str,
    key: &[u8],
    value: &V::SelfType<'_>,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    V::encode_value(value, &mut out).map_err(|e| Error::Encode {
        tree: tree.into(),
        key: key.into(),
        reason: e.reason().into(),
    })?;
    Ok(out)
}

/// The [`Error::Decode`] for the entry at `key` of `tree`; `part` says
/// which half failed.
#[cold]
fn decode_error(tree: &str, key: &[u8], part: &str, e: CodecError) -> Error {
    Error::Decode {
        tree: tree.into(),
        key: key.into(),
        reason: format!("{part}: {}", e.reason()).into(),
    }
}

/// The [`Error::Decode`] for the value stored at `key` of `tree`. A get
/// decodes after its key's bytes are gone (see [`TypedTree::get`]), so
/// this encodes the key again: only a failure pays for it.
#[cold]
fn value_error<K: Key>(tree: &str, key: &impl AsKey<K>, e: CodecError) -> Error {
    decode_error(tree, &key_bytes(key), "value", e)
}

/// Decodes the value stored at `key` in `tree`.
#[inline]
pub(super) fn decode_value<'a, V: Value + ?Sized>(
    tree: &str,
    key: &[u8],
    bytes: &'a [u8],
) -> Result<V::SelfType<'a>> {
    V::decode_value(bytes).map_err(|e| decode_error(tree, key, "value", e))
}

/// Decodes a stored entry. Always inlined into the range iterator's
/// `next`, itself always inlined, for the reason given at `TypedTree::get`.
#[inline(always)]
fn decode_entry<'a, K: Key, V: Value + ?Sized>(
    tree: &str,
    (key, value): (&'a [u8], &'a [u8]),
) -> Result<(K, V::SelfType<'a>)> {
    let k = K::from_key_bytes(key).map_err(|e| decode_error(tree, key, "key", e))?;
    Ok((k, decode_value::<V>(tree, key, value)?))
}

impl<'db> WriteTxn<'db> {
    /// Opens the typed tree `def`, creating it if it does not exist, as
    /// [`WriteTxn::open_tree`] does for its name.
    ///
    /// ```
    /// use oakmap::typed::TreeDef;
    ///
    /// const USERS: TreeDef<u64, String> = TreeDef::new("users");
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut users = tx.open_typed(USERS)?;
    /// assert!(!users.insert(1, &"alice".to_string())?); // not there before
    /// assert_eq!(users.get(1)?.as_deref(), Some("alice"));
    /// tx.commit()?;
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn open_typed<K: Key, V: Value + ?Sized>(
        &mut self,
        def: TreeDef<K, V>,
    ) -> Result<TypedTreeMut<'_, 'db, K, V>> {
        let tree = self.open_tree(def.name())?;
        Ok(TypedTreeMut::new(def, tree))
    }

    /// Opens the typed tree `def` for writing if it exists, creating
    /// nothing if it does not, as [`WriteTxn::tree_mut`] does.
    ///
    /// ```
    /// use oakmap::typed::TreeDef;
    ///
    /// const SESSIONS: TreeDef<String, u64> = TreeDef::new("sessions");
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// if let Some(mut sessions) = tx.typed_mut(SESSIONS)? {
    ///     sessions.remove("expired")?;
    /// }
    /// tx.commit()?;
    /// assert!(db.list_trees()?.is_empty());
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn typed_mut<K: Key, V: Value + ?Sized>(
        &mut self,
        def: TreeDef<K, V>,
    ) -> Result<Option<TypedTreeMut<'_, 'db, K, V>>> {
        Ok(self
            .tree_mut(def.name())?
            .map(|tree| TypedTreeMut::new(def, tree)))
    }
}

impl ReadTxn<'_> {
    /// The typed tree `def` in this snapshot, or `None` if it does not exist.
    ///
    /// ```
    /// use oakmap::typed::TreeDef;
    ///
    /// const HITS: TreeDef<String, u64> = TreeDef::new("hits");
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let rx = db.begin_read();
    /// assert!(rx.typed(HITS)?.is_none());
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn typed<K: Key, V: Value + ?Sized>(
        &self,
        def: TreeDef<K, V>,
    ) -> Result<Option<TypedTree<'_, K, V>>> {
        Ok(self.tree(def.name())?.map(|tree| TypedTree::new(def, tree)))
    }
}

/// A read-only view of a typed tree: in a snapshot ([`ReadTxn::typed`]) or
/// in a write transaction ([`TypedTreeMut::view`]). Values of `[u8]` and
/// `str` trees borrow the snapshot.
///
/// ```
/// use oakmap::typed::TreeDef;
///
/// const TEMPS: TreeDef<(String, u32), i16> = TreeDef::new("temps");
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let mut tx = db.begin_write()?;
/// let mut temps = tx.open_typed(TEMPS)?;
/// for (day, t) in [(1, -3), (2, 4), (3, 1)] {
///     temps.insert(("oslo", day), &t)?;
/// }
/// temps.insert(("rome", 1), &14)?;
/// tx.commit()?;
///
/// let rx = db.begin_read();
/// let temps = rx.typed(TEMPS)?.expect("created above");
/// let oslo: Vec<i16> = temps
///     .range(("oslo", 0)..("oslo", u32::MAX))?
///     .map(|e| e.map(|(_, t)| t))
///     .collect::<oakmap::Result<_>>()?;
/// assert_eq!(oslo, [-3, 4, 1]);
/// assert_eq!(temps.last()?, Some((("rome".to_string(), 1), 14)));
/// # Ok::<(), oakmap::Error>(())
/// ```
pub struct TypedTree<'a, K, V: ?Sized> {
    tree: Tree<'a>,
    name: &'static str,
    types: Types<K, V>,
}

impl<K, V: ?Sized> Clone for TypedTree<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V: ?Sized> Copy for TypedTree<'_, K, V> {}

impl<'a, K: Key, V: Value + ?Sized> TypedTree<'a, K, V> {
    fn new(def: TreeDef<K, V>, tree: Tree<'a>) -> Self {
        TypedTree {
            tree,
            name: def.name(),
            types: PhantomData,
        }
    }

    /// The value under `key` (see [`AsKey`] for the forms it takes).
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # let mut tx = db.begin_write()?;
    /// # let mut t = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { t.insert(name, &score)?; }
    /// # tx.commit()?;
    /// let rx = db.begin_read();
    /// let scores = rx.typed(SCORES)?.expect("exists");     // ann 7, bea 9, cid 4
    /// assert_eq!(scores.get("bea")?, Some(9));
    /// assert_eq!(scores.get(&"zed".to_string())?, None);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    // Always inlined, as is the bincode decode: a decoded value is then
    // copied once from the decoder's result into the caller's, not three
    // times through this frame, and each such copy of a freshly written
    // struct stalls on store forwarding. That and the key's bytes on the
    // stack are what bring a typed get to the cost of a byte get plus its
    // decode (benches/typed.rs).
    #[inline(always)]
    pub fn get(&self, key: impl AsKey<K>) -> Result<Option<V::SelfType<'a>>> {
        // Only the lookup needs the key's bytes: the value is decoded after,
        // straight into the `Ok(Some(_))` returned, rather than carried out
        // of the closure in another `Result`.
        let Some(bytes) = key.with_as_key_bytes(|k| self.tree.get(k))? else {
            return Ok(None);
        };
        match V::decode_value(bytes) {
            Ok(value) => Ok(Some(value)),
            Err(e) => Err(value_error(self.name, &key, e)),
        }
    }

    /// Entries with keys in `range`, in key order; `.rev()` walks backwards.
    /// Any standard range of [`AsKey`] forms will do (see [`KeyBounds`]).
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # let mut tx = db.begin_write()?;
    /// # let mut t = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { t.insert(name, &score)?; }
    /// # tx.commit()?;
    /// let rx = db.begin_read();
    /// let scores = rx.typed(SCORES)?.expect("exists");     // ann 7, bea 9, cid 4
    /// let names: Vec<String> = scores.range("b"..)?.map(|e| e.map(|(k, _)| k)).collect::<oakmap::Result<_>>()?;
    /// assert_eq!(names, ["bea", "cid"]);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn range(&self, range: impl KeyBounds<K>) -> Result<TypedRange<'a, K, V>> {
        Ok(TypedRange::new(self.name, self.tree.range(range.bounds())?))
    }

    /// Every entry, in key order.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # let mut tx = db.begin_write()?;
    /// # let mut t = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { t.insert(name, &score)?; }
    /// # tx.commit()?;
    /// let rx = db.begin_read();
    /// let scores = rx.typed(SCORES)?.expect("exists");     // ann 7, bea 9, cid 4
    /// let total: u32 = scores.iter()?.map(|e| e.map(|(_, v)| v)).sum::<oakmap::Result<u32>>()?;
    /// assert_eq!(total, 20);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn iter(&self) -> Result<TypedRange<'a, K, V>> {
        Ok(TypedRange::new(self.name, self.tree.iter()?))
    }

    /// The entry with the smallest key.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # let mut tx = db.begin_write()?;
    /// # let mut t = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { t.insert(name, &score)?; }
    /// # tx.commit()?;
    /// let rx = db.begin_read();
    /// let scores = rx.typed(SCORES)?.expect("exists");     // ann 7, bea 9, cid 4
    /// assert_eq!(scores.first()?, Some(("ann".to_string(), 7)));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn first(&self) -> Result<Option<(K, V::SelfType<'a>)>> {
        self.tree
            .first()?
            .map(|e| decode_entry::<K, V>(self.name, e))
            .transpose()
    }

    /// The entry with the largest key.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # let mut tx = db.begin_write()?;
    /// # let mut t = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { t.insert(name, &score)?; }
    /// # tx.commit()?;
    /// let rx = db.begin_read();
    /// let scores = rx.typed(SCORES)?.expect("exists");     // ann 7, bea 9, cid 4
    /// assert_eq!(scores.last()?, Some(("cid".to_string(), 4)));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn last(&self) -> Result<Option<(K, V::SelfType<'a>)>> {
        self.tree
            .last()?
            .map(|e| decode_entry::<K, V>(self.name, e))
            .transpose()
    }

    /// Number of entries, O(1).
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # let mut tx = db.begin_write()?;
    /// # let mut t = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { t.insert(name, &score)?; }
    /// # tx.commit()?;
    /// let rx = db.begin_read();
    /// let scores = rx.typed(SCORES)?.expect("exists");     // ann 7, bea 9, cid 4
    /// assert_eq!(scores.len(), 3);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.tree.len()
    }

    /// True if the tree has no entries.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # let mut tx = db.begin_write()?;
    /// # let mut t = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { t.insert(name, &score)?; }
    /// # tx.commit()?;
    /// let rx = db.begin_read();
    /// let scores = rx.typed(SCORES)?.expect("exists");     // ann 7, bea 9, cid 4
    /// assert!(!scores.is_empty());
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// The byte tree underneath, to read its stored bytes.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// # let mut tx = db.begin_write()?;
    /// # let mut t = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { t.insert(name, &score)?; }
    /// # tx.commit()?;
    /// let rx = db.begin_read();
    /// let scores = rx.typed(SCORES)?.expect("exists");     // ann 7, bea 9, cid 4
    /// assert_eq!(scores.bytes().get(b"ann")?, Some(&[7u8][..])); // a varint 7
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn bytes(&self) -> Tree<'a> {
        self.tree
    }
}

/// A typed tree open for writing in a [`WriteTxn`] (from
/// [`WriteTxn::open_typed`] or [`WriteTxn::typed_mut`]). Reads see the
/// transaction's own changes. Like a [`TreeMut`] it borrows the
/// transaction mutably.
///
/// ```
/// use oakmap::typed::TreeDef;
///
/// #[derive(Debug, PartialEq, oakmap::typed::bincode::Encode, oakmap::typed::bincode::Decode)]
/// #[bincode(crate = "oakmap::typed::bincode")]
/// struct Account {
///     owner: String,
///     cents: i64,
/// }
///
/// const ACCOUNTS: TreeDef<u64, Account> = TreeDef::new("accounts");
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let mut tx = db.begin_write()?;
/// let mut accounts = tx.open_typed(ACCOUNTS)?;
/// accounts.insert(1, &Account { owner: "alice".into(), cents: 500 })?;
/// let mut a = accounts.get(1)?.expect("inserted");
/// a.cents -= 200;
/// accounts.insert(1, &a)?;
/// assert_eq!(accounts.get(1)?.map(|a| a.cents), Some(300));
/// assert!(accounts.remove(1)?);
/// assert!(accounts.is_empty()?);
/// # Ok::<(), oakmap::Error>(())
/// ```
pub struct TypedTreeMut<'t, 'db, K, V: ?Sized> {
    tree: TreeMut<'t, 'db>,
    name: &'static str,
    types: Types<K, V>,
}

impl<'t, 'db, K: Key, V: Value + ?Sized> TypedTreeMut<'t, 'db, K, V> {
    fn new(def: TreeDef<K, V>, tree: TreeMut<'t, 'db>) -> Self {
        TypedTreeMut {
            tree,
            name: def.name(),
            types: PhantomData,
        }
    }

    /// A read view of the tree as it is now in this transaction.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut scores = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { scores.insert(name, &score)?; }
    /// let view = scores.view()?;                          // a TypedTree
    /// assert_eq!(view.len(), 3);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn view(&self) -> Result<TypedTree<'_, K, V>> {
        Ok(TypedTree {
            tree: self.tree.view()?,
            name: self.name,
            types: PhantomData,
        })
    }

    /// The value under `key`.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut scores = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { scores.insert(name, &score)?; }
    /// assert_eq!(scores.get("ann")?, Some(7));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    // Always inlined and decoding after the lookup, as `TypedTree::get`.
    #[inline(always)]
    pub fn get(&self, key: impl AsKey<K>) -> Result<Option<V::SelfType<'_>>> {
        let Some(bytes) = key.with_as_key_bytes(|k| self.tree.get(k))? else {
            return Ok(None);
        };
        match V::decode_value(bytes) {
            Ok(value) => Ok(Some(value)),
            Err(e) => Err(value_error(self.name, &key, e)),
        }
    }

    /// Inserts or replaces `key`; returns whether it was already present.
    /// `value` is the value or a reference to it (for `[u8]` and `str`
    /// trees, a `&[u8]` or `&str`).
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut scores = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { scores.insert(name, &score)?; }
    /// assert!(scores.insert("ann", 8)?);                  // replaced
    /// assert!(!scores.insert("dot".to_string(), &1)?);     // new
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn insert<'v>(
        &mut self,
        key: impl AsKey<K>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<bool> {
        key.with_as_key_bytes(|k| {
            let v = value_bytes::<V>(self.name, k, value.borrow())?;
            self.tree.insert(k, &v)
        })
    }

    /// Removes `key`; returns whether it was present.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut scores = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { scores.insert(name, &score)?; }
    /// assert!(scores.remove("ann")?);
    /// assert!(!scores.remove("ann")?);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn remove(&mut self, key: impl AsKey<K>) -> Result<bool> {
        key.with_as_key_bytes(|k| self.tree.remove(k))
    }

    /// Entries with keys in `range`, in key order (reverse with `.rev()`).
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut scores = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { scores.insert(name, &score)?; }
    /// let (last, _) = scores.range(.."c")?.rev().next().expect("two before c")?;
    /// assert_eq!(last, "bea");
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn range(&self, range: impl KeyBounds<K>) -> Result<TypedRange<'_, K, V>> {
        Ok(TypedRange::new(self.name, self.tree.range(range.bounds())?))
    }

    /// Every entry, in key order.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut scores = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { scores.insert(name, &score)?; }
    /// assert_eq!(scores.iter()?.count(), 3);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn iter(&self) -> Result<TypedRange<'_, K, V>> {
        Ok(TypedRange::new(self.name, self.tree.iter()?))
    }

    /// The entry with the smallest key.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut scores = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { scores.insert(name, &score)?; }
    /// assert_eq!(scores.first()?, Some(("ann".to_string(), 7)));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn first(&self) -> Result<Option<(K, V::SelfType<'_>)>> {
        self.tree
            .first()?
            .map(|e| decode_entry::<K, V>(self.name, e))
            .transpose()
    }

    /// The entry with the largest key.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut scores = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { scores.insert(name, &score)?; }
    /// assert_eq!(scores.last()?, Some(("cid".to_string(), 4)));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn last(&self) -> Result<Option<(K, V::SelfType<'_>)>> {
        self.tree
            .last()?
            .map(|e| decode_entry::<K, V>(self.name, e))
            .transpose()
    }

    /// Number of entries, O(1); an error after an operation of this
    /// transaction failed part-way, as [`TreeMut::len`].
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut scores = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { scores.insert(name, &score)?; }
    /// assert_eq!(scores.len()?, 3);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        self.tree.len()
    }

    /// True if the tree has no entries.
    ///
    /// ```
    /// # use oakmap::typed::TreeDef;
    /// # const SCORES: TreeDef<String, u32> = TreeDef::new("scores");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// let mut scores = tx.open_typed(SCORES)?;
    /// # for (name, score) in [("ann", 7), ("bea", 9), ("cid", 4)] { scores.insert(name, &score)?; }
    /// assert!(!scores.is_empty()?);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        self.tree.is_empty()
    }
}

/// Entries of a typed tree in a key range (from `range` or `iter`), decoded
/// as they come. Double-ended. An entry that does not decode is an
/// [`Error::Decode`] item; the entries after it still come.
///
/// ```
/// use oakmap::typed::TreeDef;
///
/// const EVENTS: TreeDef<(u64, u32), str> = TreeDef::new("events");
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let mut tx = db.begin_write()?;
/// let mut events = tx.open_typed(EVENTS)?;
/// events.insert((100, 0), "boot")?;
/// events.insert((100, 1), "login")?;
/// events.insert((250, 0), "logout")?;
/// // The newest event at or before time 200.
/// let (at, what) = events.range(..(200, 0))?.next_back().expect("one")?;
/// assert_eq!((at, what), ((100, 1), "login"));
/// # Ok::<(), oakmap::Error>(())
/// ```
pub struct TypedRange<'a, K, V: ?Sized> {
    inner: Range<'a>,
    name: &'static str,
    types: Types<K, V>,
}

impl<'a, K: Key, V: Value + ?Sized> TypedRange<'a, K, V> {
    fn new(name: &'static str, inner: Range<'a>) -> Self {
        TypedRange {
            inner,
            name,
            types: PhantomData,
        }
    }
}

impl<'a, K: Key, V: Value + ?Sized> Iterator for TypedRange<'a, K, V> {
    type Item = Result<(K, V::SelfType<'a>)>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.inner.next()?;
        Some(entry.and_then(|e| decode_entry::<K, V>(self.name, e)))
    }
}

impl<K: Key, V: Value + ?Sized> DoubleEndedIterator for TypedRange<'_, K, V> {
    #[inline(always)]
    fn next_back(&mut self) -> Option<Self::Item> {
        let entry = self.inner.next_back()?;
        Some(entry.and_then(|e| decode_entry::<K, V>(self.name, e)))
    }
}

mod sealed {
    pub trait Sealed<K> {}
}

/// The key bounds a typed `range` takes: every standard range (`a..b`,
/// `a..=b`, `a..`, `..b`, `..=b`, `..`) and a `(Bound, Bound)` pair, with
/// ends of any [`AsKey`] form of the key type. Because the encoding sorts
/// as the keys do, the entries are exactly those a `BTreeMap<K, _>` would
/// give for the same range.
///
/// ```
/// use std::ops::Bound;
/// use oakmap::typed::TreeDef;
///
/// const WORDS: TreeDef<String, u32> = TreeDef::new("words");
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let mut tx = db.begin_write()?;
/// let mut words = tx.open_typed(WORDS)?;
/// for (i, w) in ["apple", "avocado", "banana"].into_iter().enumerate() {
///     words.insert(w, &(i as u32))?;
/// }
/// assert_eq!(words.range("a".."b")?.count(), 2);
/// assert_eq!(words.range("avocado"..)?.count(), 2);
/// assert_eq!(words.range((Bound::Excluded("apple"), Bound::Unbounded))?.count(), 2);
/// let from = "b".to_string();
/// assert_eq!(words.range(&from..)?.count(), 1);
/// # Ok::<(), oakmap::Error>(())
/// ```
///
/// Sealed: the set of range types may grow.
pub trait KeyBounds<K: Key>: sealed::Sealed<K> {
    /// The bounds as stored bytes.
    fn bounds(&self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>);
}

/// `KeyBounds` for standard range types that are `RangeBounds<Q>`.
macro_rules! key_bounds_via_range_bounds {
    ($($range:ty),*) => {$(
        impl<K: Key, Q: AsKey<K>> sealed::Sealed<K> for $range {}

        impl<K: Key, Q: AsKey<K>> KeyBounds<K> for $range {
            fn bounds(&self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
                (
                    RangeBounds::<Q>::start_bound(self).map(key_bytes),
                    RangeBounds::<Q>::end_bound(self).map(key_bytes),
                )
            }
        }
    )*};
}

key_bounds_via_range_bounds!(
    std::ops::Range<Q>,
    std::ops::RangeInclusive<Q>,
    std::ops::RangeFrom<Q>,
    std::ops::RangeTo<Q>,
    std::ops::RangeToInclusive<Q>,
    (Bound<Q>, Bound<Q>)
);

impl<K: Key> sealed::Sealed<K> for std::ops::RangeFull {}

impl<K: Key> KeyBounds<K> for std::ops::RangeFull {
    fn bounds(&self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (Bound::Unbounded, Bound::Unbounded)
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::typed::{Key, TreeDef};

    /// The key a `get` of a value that does not decode names, or a panic.
    fn decode_error_key(e: Error) -> Vec<u8> {
        match e {
            Error::Decode { tree, key, reason } => {
                assert_eq!(&*tree, "t");
                assert!(reason.starts_with("value: "), "{reason}");
                key.into()
            }
            e => panic!("not a decode error: {e:?}"),
        }
    }

    /// A get decodes after its key's bytes are gone, and encodes them again
    /// for the error: whichever way the key was encoded (on the stack, as
    /// its own bytes, in the scratch buffer), the error names the key.
    #[test]
    fn gets_of_a_value_that_does_not_decode_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Db::open(dir.path().join("x.oak")).unwrap();
        let mut tx = db.begin_write().unwrap();
        let mut raw = tx.open_tree("t").unwrap();
        for key in [
            258u16.to_key_bytes(),
            "ab".to_string().to_key_bytes(),
            (1u8, "ab".to_string()).to_key_bytes(),
        ] {
            raw.insert(&key, b"\xff\xff\xff").unwrap();
        }
        let numbers = tx.open_typed(TreeDef::<u16, u64>::new("t")).unwrap();
        assert_eq!(decode_error_key(numbers.get(258).unwrap_err()), [1, 2]);
        let strings = tx.open_typed(TreeDef::<String, u64>::new("t")).unwrap();
        assert_eq!(decode_error_key(strings.get("ab").unwrap_err()), b"ab");
        let pairs = tx
            .open_typed(TreeDef::<(u8, String), u64>::new("t"))
            .unwrap();
        assert_eq!(
            decode_error_key(pairs.get((1, "ab")).unwrap_err()),
            b"\x01ab"
        );
        tx.commit().unwrap();

        let rx = db.begin_read();
        let numbers = rx.typed(TreeDef::<u16, u64>::new("t")).unwrap().unwrap();
        #[expect(
            clippy::needless_borrows_for_generic_args,
            reason = "the `&K` form, which passes on to `K::with_key_bytes`, is under test"
        )]
        let by_ref = numbers.get(&258);
        assert_eq!(decode_error_key(by_ref.unwrap_err()), [1, 2]);
        let pairs = rx
            .typed(TreeDef::<(u8, String), u64>::new("t"))
            .unwrap()
            .unwrap();
        assert_eq!(
            decode_error_key(pairs.get(&(1, "ab".to_string())).unwrap_err()),
            b"\x01ab"
        );
        assert_eq!(numbers.get(3).unwrap(), None);
    }
}
