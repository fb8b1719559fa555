//! Typed trees: keys and values of Rust types over the byte API.
//!
//! A [`TreeDef<K, V>`] names a tree and its key and value types, and is
//! usually a `const`. Write and read transactions open it as they open a
//! byte tree ([`WriteTxn::open_typed`](crate::WriteTxn::open_typed),
//! [`WriteTxn::typed_mut`](crate::WriteTxn::typed_mut),
//! [`ReadTxn::typed`](crate::ReadTxn::typed)); the handles have the byte
//! trees' methods, taking and giving `K` and `V`. A typed tree is an
//! ordinary tree of the file: the encoding lives here, never in the file
//! format, and the byte API reads the same tree as bytes.
//!
//! ```
//! use oakmap::typed::{bincode, TreeDef};
//!
//! #[derive(Debug, PartialEq, bincode::Encode, bincode::Decode)]
//! #[bincode(crate = "oakmap::typed::bincode")]          // oakmap's bincode: no version to match
//! struct User {
//!     name: String,
//!     age: u32,
//! }
//!
//! const USERS: TreeDef<u64, User> = TreeDef::new("users");  // a name, a key type, a value type
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("app.oak");
//! # let db = oakmap::Db::open(&path)?;
//! # /*
//! let db = oakmap::Db::open("app.oak")?;
//! # */
//! let mut tx = db.begin_write()?;
//! tx.open_tree("raw")?.insert(b"k", b"v")?;                  // the byte API, as ever
//! let mut users = tx.open_typed(USERS)?;                     // a typed tree beside it
//! users.insert(1, &User { name: "alice".into(), age: 31 })?;
//! users.insert(2, &User { name: "bob".into(), age: 27 })?;
//! tx.commit()?;
//!
//! let rx = db.begin_read();
//! let users = rx.typed(USERS)?.expect("created above");
//! assert_eq!(users.get(1)?.map(|u| u.age), Some(31));        // decoded from the snapshot
//! for entry in users.range(2..)? {                           // keys sort as numbers
//!     let (id, user) = entry?;
//!     assert_eq!((id, user.name.as_str()), (2, "bob"));
//! }
//! let got = USERS.get_or_insert(&db, 3, &User { name: "carol".into(), age: 40 })?;
//! assert!(got.inserted);                                     // one-call forms, as for bytes
//! # Ok::<(), oakmap::Error>(())
//! ```
//!
//! # Keys
//!
//! A key type implements [`Key`]: an encoding whose byte order is the
//! order of the keys, so ranges, `first` and `last` work on typed keys.
//! Integers, `bool`, `char`, `String`, `Vec<u8>`, `Option`, arrays and
//! tuples of up to six keys are built in; the [`Key`] documentation shows
//! the encodings and how to implement it for your own type. Lookups take
//! any [`AsKey`] form: the key, a reference to it, or a borrowed form such
//! as `&str` for a `String` key, also inside tuples (`(7, "alice")` for a
//! `(u32, String)` key).
//!
//! # Values
//!
//! A value type implements [`Value`]. Any type with bincode's `Encode` and
//! `Decode` does (derive them with `#[bincode(crate =
//! "oakmap::typed::bincode")]` to use the re-export below, so your bincode
//! is oakmap's); a serde type does through [`Serde<T>`]; `[u8]` and `str`
//! values are stored as they are and read zero-copy, borrowing the
//! snapshot. Bincode encodes with [`BINCODE_CONFIG`], the stored format of
//! every bincode value.
//!
//! # Errors
//!
//! Stored bytes that do not decode (a key or a value written by other code,
//! through the byte API or by another type) give
//! [`Error::Decode`](crate::Error::Decode), naming the tree and the stored
//! key, never a panic; a value its `Encode` refuses gives
//! [`Error::Encode`](crate::Error::Encode).
//!
//! ```
//! use oakmap::typed::TreeDef;
//!
//! const AGES: TreeDef<String, u32> = TreeDef::new("ages");
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
//! db.insert("ages", b"bob", &[0xff])?;                // not a varint u32
//! let rx = db.begin_read();
//! let err = rx.typed(AGES)?.expect("exists").get("bob").unwrap_err();
//! let oakmap::Error::Decode { tree, key, reason } = err else { panic!("{err}") };
//! assert_eq!((&*tree, &*key), ("ages", &b"bob"[..]));
//! assert!(reason.starts_with("value: "));
//! # Ok::<(), oakmap::Error>(())
//! ```

// The first example above is the README's typed quick start, compiled
// here so that it cannot drift: change the two together.

mod key;
mod tree;
mod value;

use std::borrow::Borrow;
use std::borrow::Cow;
use std::marker::PhantomData;

pub use bincode;
pub use key::{AsKey, Key, Position};
pub use tree::{KeyBounds, TypedRange, TypedTree, TypedTreeMut};
pub use value::{BINCODE_CONFIG, DECODE_BYTES_MAX, Serde, Value};

use crate::db::Db;
use crate::error::Result;
use tree::{Types, decode_value, key_bytes, value_bytes};

// The typed variants of `Error` must not make it, and every `Result` of the
// crate, larger than the largest variant before them (`WalCorruption`).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<crate::Error>() <= 56);

/// Why bytes did not decode as a key or value (or a value did not encode).
/// [`Key`] and [`Value`] implementations return it; a typed tree turns it
/// into an [`Error::Decode`](crate::Error::Decode) or
/// [`Error::Encode`](crate::Error::Encode) naming the tree and the key.
///
/// ```
/// use oakmap::typed::{CodecError, Key};
///
/// let e: CodecError = char::from_key_bytes(&[0, 0, 0xd8, 0]).unwrap_err();
/// assert_eq!(e.reason(), "0xd800 is not a char");
/// assert_eq!(CodecError::new("bad tag").to_string(), "bad tag");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    reason: Cow<'static, str>,
}

impl CodecError {
    /// An error saying what was wrong.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> CodecError {
        CodecError {
            reason: reason.into(),
        }
    }

    /// What was wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for CodecError {}

/// A typed tree: its name, key type `K` and value type `V`. Cheap to copy
/// and usable as a `const`; open it with
/// [`WriteTxn::open_typed`](crate::WriteTxn::open_typed),
/// [`WriteTxn::typed_mut`](crate::WriteTxn::typed_mut) or
/// [`ReadTxn::typed`](crate::ReadTxn::typed).
///
/// Nothing in the file records the types: two definitions of one name
/// with different types read each other's bytes, and decoding tells
/// ([`Error::Decode`](crate::Error::Decode)) where the bytes do not fit.
///
/// ```
/// use oakmap::typed::TreeDef;
///
/// const USERS: TreeDef<u64, String> = TreeDef::new("users");
/// assert_eq!(USERS.name(), "users");
/// ```
pub struct TreeDef<K, V: ?Sized> {
    name: &'static str,
    types: Types<K, V>,
}

impl<K, V: ?Sized> Clone for TreeDef<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V: ?Sized> Copy for TreeDef<K, V> {}

impl<K, V: ?Sized> std::fmt::Debug for TreeDef<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeDef")
            .field("name", &self.name)
            .field("key", &std::any::type_name::<K>())
            .field("value", &std::any::type_name::<V>())
            .finish()
    }
}

impl<K, V: ?Sized> TreeDef<K, V> {
    /// The definition of the tree `name`. An empty or too long name is
    /// refused when the tree is opened, as for a byte tree.
    ///
    /// ```
    /// use oakmap::typed::TreeDef;
    ///
    /// const EMPTY: TreeDef<u8, u8> = TreeDef::new("");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let mut tx = db.begin_write()?;
    /// assert!(matches!(tx.open_typed(EMPTY), Err(oakmap::Error::InvalidTreeName)));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub const fn new(name: &'static str) -> Self {
        TreeDef {
            name,
            types: PhantomData,
        }
    }

    /// The tree's name, which the byte API knows the tree by.
    ///
    /// ```
    /// use oakmap::typed::TreeDef;
    ///
    /// const HITS: TreeDef<String, u64> = TreeDef::new("hits");
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// HITS.get_or_insert(&db, "home", &1)?;
    /// assert_eq!(db.list_trees()?, [HITS.name()]);
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// What [`TreeDef::get_or_insert`] found, or inserted.
///
/// ```
/// use oakmap::typed::{TreeDef, TypedGetOrInsert};
///
/// const SEEN: TreeDef<u64, bool> = TreeDef::new("seen");
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let TypedGetOrInsert { value, inserted } = SEEN.get_or_insert(&db, 42, true)?;
/// assert!(value && inserted);
/// # Ok::<(), oakmap::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedGetOrInsert<T> {
    /// The value now under the key: the one found, or the one this call inserted.
    pub value: T,
    /// True when the key was absent and this call inserted `value`.
    pub inserted: bool,
}

/// The value a [`TreeDef::compare_and_swap`] found instead of the expected one.
///
/// ```
/// use oakmap::typed::{TreeDef, TypedCasConflict};
///
/// const LEADER: TreeDef<(), String> = TreeDef::new("leader");
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let me = "node-1".to_string();
/// LEADER.compare_and_swap(&db, (), None, Some(&me))?.expect("no leader yet");
/// let other = "node-2".to_string();
/// let Err(TypedCasConflict { current }) = LEADER.compare_and_swap(&db, (), None, Some(&other))? else {
///     panic!("node-1 leads");
/// };
/// assert_eq!(current, Some(me));
/// # Ok::<(), oakmap::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedCasConflict<T> {
    /// The value present (`None`: absent).
    pub current: Option<T>,
}

impl<K: Key, V: Value + ?Sized> TreeDef<K, V> {
    /// [`Db::get_or_insert`] on this tree: returns the value under `key`,
    /// inserting `value` first if there is none, atomically, in a
    /// transaction of its own, and whether this call inserted it.
    ///
    /// ```
    /// use oakmap::typed::TreeDef;
    ///
    /// const OWNERS: TreeDef<String, String> = TreeDef::new("owners");
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// let first = OWNERS.get_or_insert(&db, "lock", &"alice".to_string())?;
    /// assert!(first.inserted);
    /// let second = OWNERS.get_or_insert(&db, "lock", &"bob".to_string())?;
    /// assert_eq!((second.inserted, second.value.as_str()), (false, "alice"));
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn get_or_insert<'v>(
        self,
        db: &Db,
        key: impl AsKey<K>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<TypedGetOrInsert<V::Owned>> {
        let k = key_bytes(&key);
        let v = value_bytes::<V>(self.name, &k, value.borrow())?;
        let got = db.get_or_insert(self.name, &k, &v)?;
        Ok(TypedGetOrInsert {
            value: V::into_owned(decode_value::<V>(self.name, &k, &got.value)?),
            inserted: got.inserted,
        })
    }

    /// [`Db::compare_and_swap`] on this tree: sets `key` to `new` (or
    /// removes it, for `None`) only if its current value is `expected`
    /// (`None`: absent), in a transaction of its own. Values compare by
    /// their encodings. On a mismatch nothing changes and the inner error
    /// carries the current value. Only setting a value creates a missing
    /// tree.
    ///
    /// ```
    /// use oakmap::typed::TreeDef;
    ///
    /// const STOCK: TreeDef<String, u32> = TreeDef::new("stock");
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
    /// assert!(STOCK.compare_and_swap(&db, "pears", None, Some(&10))?.is_ok());
    /// let lost = STOCK.compare_and_swap(&db, "pears", Some(&9), Some(&8))?;
    /// assert_eq!(lost.unwrap_err().current, Some(10));
    /// assert!(STOCK.compare_and_swap(&db, "pears", Some(&10), None)?.is_ok());
    /// # Ok::<(), oakmap::Error>(())
    /// ```
    pub fn compare_and_swap(
        self,
        db: &Db,
        key: impl AsKey<K>,
        expected: Option<&V::SelfType<'_>>,
        new: Option<&V::SelfType<'_>>,
    ) -> Result<std::result::Result<(), TypedCasConflict<V::Owned>>> {
        let k = key_bytes(&key);
        let expected = expected
            .map(|v| value_bytes::<V>(self.name, &k, v))
            .transpose()?;
        let new = new
            .map(|v| value_bytes::<V>(self.name, &k, v))
            .transpose()?;
        match db.compare_and_swap(self.name, &k, expected.as_deref(), new.as_deref())? {
            Ok(()) => Ok(Ok(())),
            Err(conflict) => {
                let current = match conflict.current {
                    Some(bytes) => Some(V::into_owned(decode_value::<V>(self.name, &k, &bytes)?)),
                    None => None,
                };
                Ok(Err(TypedCasConflict { current }))
            }
        }
    }
}
