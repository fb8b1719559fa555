//! Typed values: the [`Value`] trait, bincode 2 for any type with its
//! `Encode`/`Decode`, [`Serde`] for serde types, and zero-copy `[u8]` and
//! `str`.
//!
//! Every bincode encoding uses [`BINCODE_CONFIG`]. It is part of the stored
//! format of a typed tree's values: changing it would make values written
//! before unreadable, so it changes only with a major version of oakmap.
//! Decoding treats stored bytes as untrusted: any bytes give a value or a
//! [`CodecError`], and the whole value must be used (no bytes left over).

use std::marker::PhantomData;

use bincode::config::{Configuration, Limit, LittleEndian, Varint};

use super::CodecError;

/// The most memory, in bytes, that decoding one bincode value may claim
/// for its containers (1 GiB), so that a damaged length prefix cannot make
/// a decoder allocate without bound. Larger payloads belong in a `[u8]`
/// value, which is not decoded at all.
///
/// ```
/// use oakmap::typed::{DECODE_BYTES_MAX, Value};
///
/// let mut bytes = vec![253u8];                           // varint: a u64 length follows
/// bytes.extend_from_slice(&(DECODE_BYTES_MAX as u64 + 1).to_le_bytes());
/// assert!(Vec::<u8>::decode_value(&bytes).is_err());     // refused before allocating
/// ```
pub const DECODE_BYTES_MAX: usize = 1 << 30;

/// The bincode configuration of every typed value: bincode's standard one
/// (little-endian, variable-length integers) with a decoding limit of
/// [`DECODE_BYTES_MAX`]. Use it to read a typed tree's values through the
/// byte API:
///
/// ```
/// use oakmap::typed::{BINCODE_CONFIG, TreeDef};
///
/// const COUNTS: TreeDef<u64, (u32, String)> = TreeDef::new("counts");
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let mut tx = db.begin_write()?;
/// tx.open_typed(COUNTS)?.insert(1, &(300, "x".to_string()))?;
/// tx.commit()?;
/// let bytes = db.get("counts", &1u64.to_be_bytes())?.expect("inserted");
/// let (value, _): ((u32, String), usize) =
///     oakmap::typed::bincode::decode_from_slice(&bytes, BINCODE_CONFIG).unwrap();
/// assert_eq!(value, (300, "x".to_string()));
/// # Ok::<(), oakmap::Error>(())
/// ```
pub const BINCODE_CONFIG: Configuration<LittleEndian, Varint, Limit<DECODE_BYTES_MAX>> =
    bincode::config::standard().with_limit::<DECODE_BYTES_MAX>();

/// A value type of a typed tree: how values encode to bytes and decode back.
///
/// Implemented for
/// - every type with bincode's `Encode` and `Decode` (derive them; see the
///   [module documentation](super) for the attribute that uses oakmap's
///   re-export of bincode), encoded with [`BINCODE_CONFIG`];
/// - [`Serde<T>`], for a type with serde's `Serialize` and `Deserialize`,
///   through bincode's serde support with the same configuration;
/// - `[u8]` and `str`, stored as they are and read zero-copy: `get` gives a
///   `&[u8]` or `&str` borrowing the snapshot.
///
/// Bincode bounds the memory a decode claims ([`DECODE_BYTES_MAX`]) but not
/// its recursion: a recursive type (a `Box<Self>` inside) decodes damaged
/// bytes one level per byte of nesting, so a large damaged value of such a
/// type can exhaust the stack. Bound the depth in a hand-written `Decode`
/// for such types if their bytes may be damaged.
///
/// ```
/// use oakmap::typed::TreeDef;
///
/// const BLOBS: TreeDef<u64, [u8]> = TreeDef::new("blobs");
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let mut tx = db.begin_write()?;
/// tx.open_typed(BLOBS)?.insert(1, b"raw bytes".as_slice())?;
/// tx.commit()?;
/// let rx = db.begin_read();
/// let blobs = rx.typed(BLOBS)?.expect("created above");
/// let blob: &[u8] = blobs.get(1)?.expect("inserted");  // borrows `rx`
/// assert_eq!(blob, b"raw bytes");
/// # Ok::<(), oakmap::Error>(())
/// ```
pub trait Value {
    /// The value as read and written, its borrows (if any) tied to `'a`:
    /// `Self` for owned types, `&'a [u8]` for `[u8]`, `&'a str` for `str`.
    type SelfType<'a>;

    /// The value owned, as the one-call forms return it (they outlive their
    /// transaction): `Self`, `Vec<u8>`, `String`.
    type Owned;

    /// Appends the encoding of `value` to `out`.
    ///
    /// ```
    /// use oakmap::typed::Value;
    ///
    /// let mut out = Vec::new();
    /// <(u8, String)>::encode_value(&(1, "a".to_string()), &mut out).unwrap();
    /// assert_eq!(out, [1, 1, b'a']);           // varint length before the string
    /// ```
    fn encode_value(value: &Self::SelfType<'_>, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes a value from the whole of `bytes`.
    ///
    /// ```
    /// use oakmap::typed::Value;
    ///
    /// assert_eq!(<(u8, String)>::decode_value(&[1, 1, b'a']).unwrap(), (1, "a".to_string()));
    /// assert!(<(u8, String)>::decode_value(&[1, 5, b'a']).is_err());  // too short
    /// assert!(str::decode_value(&[0xff]).is_err());                   // not UTF-8
    /// ```
    fn decode_value(bytes: &[u8]) -> Result<Self::SelfType<'_>, CodecError>;

    /// The owned form of a decoded value.
    ///
    /// ```
    /// use oakmap::typed::Value;
    ///
    /// let owned: Vec<u8> = <[u8]>::into_owned(b"abc".as_slice());
    /// assert_eq!(owned, b"abc");
    /// ```
    fn into_owned(value: Self::SelfType<'_>) -> Self::Owned;
}

impl<T: bincode::Encode + bincode::Decode<()>> Value for T {
    type SelfType<'a> = T;
    type Owned = T;

    fn encode_value(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        bincode::encode_into_std_write(value, out, BINCODE_CONFIG)
            .map(drop)
            .map_err(|e| CodecError::new(e.to_string()))
    }

    #[inline(always)]
    fn decode_value(bytes: &[u8]) -> Result<T, CodecError> {
        whole(bytes, bincode::decode_from_slice(bytes, BINCODE_CONFIG))
    }

    fn into_owned(value: T) -> T {
        value
    }
}

/// The value of a bincode decode that used all of `bytes`. (One match,
/// the errors built out of line, and always inlined as `decode_value` is:
/// a value is moved once on the way out.)
#[inline(always)]
fn whole<T>(
    bytes: &[u8],
    decoded: Result<(T, usize), bincode::error::DecodeError>,
) -> Result<T, CodecError> {
    match decoded {
        Ok((value, read)) if read == bytes.len() => Ok(value),
        Ok((_, read)) => Err(trailing_bytes(bytes.len() - read)),
        Err(e) => Err(bincode_error(&e)),
    }
}

#[cold]
fn trailing_bytes(n: usize) -> CodecError {
    CodecError::new(format!("{n} bytes after the end of the value"))
}

#[cold]
fn bincode_error(e: &bincode::error::DecodeError) -> CodecError {
    CodecError::new(e.to_string())
}

/// The value type of a tree whose values are `T`, a serde type, encoded by
/// bincode's serde support with [`BINCODE_CONFIG`]. Only a marker:
/// reads give a `T` and writes take one.
///
/// Bincode stores no field names or types, so serde attributes that need
/// them (`flatten`, `skip_serializing_if`, `untagged`, internally tagged
/// enums, ...) do not round-trip; see bincode's serde documentation.
///
/// ```
/// use oakmap::typed::{Serde, TreeDef};
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct Session {
///     user: String,
///     expires: u64,
/// }
///
/// const SESSIONS: TreeDef<String, Serde<Session>> = TreeDef::new("sessions");
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let mut tx = db.begin_write()?;
/// let mut sessions = tx.open_typed(SESSIONS)?;
/// sessions.insert("s1", &Session { user: "alice".into(), expires: 60 })?;
/// assert_eq!(sessions.get("s1")?.map(|s| s.expires), Some(60));
/// # Ok::<(), oakmap::Error>(())
/// ```
pub struct Serde<T>(PhantomData<fn() -> T>);

impl<T: serde::Serialize + serde::de::DeserializeOwned> Value for Serde<T> {
    type SelfType<'a> = T;
    type Owned = T;

    fn encode_value(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        bincode::serde::encode_into_std_write(value, out, BINCODE_CONFIG)
            .map(drop)
            .map_err(|e| CodecError::new(e.to_string()))
    }

    #[inline(always)]
    fn decode_value(bytes: &[u8]) -> Result<T, CodecError> {
        whole(
            bytes,
            bincode::serde::decode_from_slice(bytes, BINCODE_CONFIG),
        )
    }

    fn into_owned(value: T) -> T {
        value
    }
}

impl Value for [u8] {
    type SelfType<'a> = &'a [u8];
    type Owned = Vec<u8>;

    fn encode_value(value: &&[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(value);
        Ok(())
    }

    fn decode_value(bytes: &[u8]) -> Result<&[u8], CodecError> {
        Ok(bytes)
    }

    fn into_owned(value: &[u8]) -> Vec<u8> {
        value.to_vec()
    }
}

impl Value for str {
    type SelfType<'a> = &'a str;
    type Owned = String;

    fn encode_value(value: &&str, out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }

    fn decode_value(bytes: &[u8]) -> Result<&str, CodecError> {
        std::str::from_utf8(bytes)
            .map_err(|e| CodecError::new(format!("string value is not UTF-8: {e}")))
    }

    fn into_owned(value: &str) -> String {
        value.to_string()
    }
}
