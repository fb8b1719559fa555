//! Typed keys: the [`Key`] trait, its encodings, and [`AsKey`], the forms a
//! lookup may take.
//!
//! The invariant every encoding keeps, built-in or a user's: for keys `a`
//! and `b` of one type, `a.cmp(&b)` equals the byte comparison of their
//! encodings, at either [`Position`]. At [`Position::NotLast`] the
//! encodings must also be prefix-free (no encoding is a prefix of another),
//! so that in a tuple the bytes after a field never take part in comparing
//! it. Fixed-width encodings are prefix-free as they stand; strings and byte
//! strings are escaped and terminated there, and written raw when last, where
//! a prefix sorts first by byte comparison already.
//!
//! Decoding treats its input as untrusted: any bytes give a key or a
//! [`CodecError`], never a panic, and only canonical encodings decode (so
//! `decode(encode(x)) == x` and no two byte strings decode to one key).
//!
//! A lookup needs the key's bytes only for the length of one call, so it
//! asks for them with [`Key::with_key_bytes`]: fixed-width keys encode into
//! an array on the stack, byte and string keys are their own bytes, and
//! the rest encode into a buffer kept per thread. None of them allocates.

use std::cell::Cell;

use super::CodecError;

/// Where an encoded key sits in the bytes of the whole key: last, where it
/// may run to the end, or followed by more, where it must be
/// self-delimiting (prefix-free).
///
/// An implementation of [`Key`] for a compound type passes
/// [`Position::NotLast`] to every field but the last, and its own position
/// to the last.
///
/// ```
/// use oakmap::typed::{Key, Position};
///
/// let mut last = Vec::new();
/// "ab".to_string().encode_key(&mut last, Position::Last);
/// assert_eq!(last, b"ab");
/// let mut inner = Vec::new();
/// "ab".to_string().encode_key(&mut inner, Position::NotLast);
/// assert_eq!(inner, b"ab\x00\x00"); // terminated, so "ab" sorts before "ab\0"
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Nothing follows: the encoding may end at the end of the key.
    Last,
    /// More fields follow: the encoding must be prefix-free.
    NotLast,
}

/// A key type of a typed tree: encodes to bytes that sort as the keys do.
///
/// Implemented for `u8`..`u128` and `i8`..`i128` (big-endian, the sign bit
/// flipped), `bool`, `char` (its scalar value as a `u32`), `String` and
/// `Vec<u8>` (raw when last, otherwise with each `0x00` written as
/// `0x00 0xff` and a `0x00 0x00` terminator), `()`, `[T; N]`, `Option<T>`
/// (`0x00` for `None`, `0x01` before the value) and tuples of up to six keys.
///
/// # Implementing `Key` for your own type
///
/// Encode the fields in the order they should sort by, passing
/// [`Position::NotLast`] to all but the last, and decode them the same way
/// (a newtype delegates to its field, keeping the position). The encoding is your type's on-disk format: keep it
/// stable, and keep it consistent with `Ord`, as the tree sorts by bytes.
///
/// ```
/// use oakmap::typed::{CodecError, Key, Position, TreeDef};
///
/// /// Sorts by major version, then minor, then label.
/// #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
/// struct Version {
///     major: u16,
///     minor: u16,
///     label: String,
/// }
///
/// impl Key for Version {
///     fn encode_key(&self, out: &mut Vec<u8>, position: Position) {
///         self.major.encode_key(out, Position::NotLast);
///         self.minor.encode_key(out, Position::NotLast);
///         self.label.encode_key(out, position); // the last field: where the key is
///     }
///
///     fn decode_key(input: &mut &[u8], position: Position) -> Result<Self, CodecError> {
///         Ok(Version {
///             major: u16::decode_key(input, Position::NotLast)?,
///             minor: u16::decode_key(input, Position::NotLast)?,
///             label: String::decode_key(input, position)?,
///         })
///     }
/// }
///
/// const RELEASES: TreeDef<Version, str> = TreeDef::new("releases");
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let v = |major, minor, label: &str| Version { major, minor, label: label.into() };
/// let mut tx = db.begin_write()?;
/// let mut releases = tx.open_typed(RELEASES)?;
/// releases.insert(&v(1, 10, ""), "late")?;
/// releases.insert(&v(1, 2, "rc1"), "early")?;
/// let (first, _) = releases.first()?.expect("two entries");
/// assert_eq!(first, v(1, 2, "rc1"));   // 2 < 10 as numbers, not as text
/// assert_eq!(releases.get(&v(1, 10, ""))?, Some("late"));
/// # tx.commit()?;
/// # Ok::<(), oakmap::Error>(())
/// ```
///
/// Lookups take the key by reference (`&Version`, through [`AsKey`]); to
/// pass it by value as well, implement `AsKey<Version> for Version`. The
/// provided methods (`to_key_bytes`, `from_key_bytes`,
/// [`with_key_bytes`](Key::with_key_bytes)) need no implementation.
pub trait Key: Sized {
    /// Appends the encoding of `self` at `position` to `out`.
    ///
    /// ```
    /// use oakmap::typed::{Key, Position};
    ///
    /// let mut out = Vec::new();
    /// 7u16.encode_key(&mut out, Position::NotLast);
    /// "ab".to_string().encode_key(&mut out, Position::Last);
    /// assert_eq!(out, b"\x00\x07ab");
    /// assert_eq!(out, (7u16, "ab".to_string()).to_key_bytes()); // as the tuple writes it
    /// ```
    fn encode_key(&self, out: &mut Vec<u8>, position: Position);

    /// Decodes one key at `position` from the front of `input`, advancing
    /// it past the bytes read. At [`Position::Last`] a variable-length key
    /// takes all that is left.
    ///
    /// ```
    /// use oakmap::typed::{Key, Position};
    ///
    /// let mut input: &[u8] = b"\x00\x00\x00\x07rest";
    /// assert_eq!(u32::decode_key(&mut input, Position::NotLast), Ok(7));
    /// assert_eq!(input, b"rest");
    /// ```
    fn decode_key(input: &mut &[u8], position: Position) -> Result<Self, CodecError>;

    /// The bytes a tree stores for this key.
    ///
    /// ```
    /// use oakmap::typed::Key;
    ///
    /// assert_eq!(258u16.to_key_bytes(), [1, 2]);
    /// assert_eq!((-1i8).to_key_bytes(), [0x7f]);       // sign bit flipped: -1 < 0
    /// assert_eq!((1u8, "a".to_string()).to_key_bytes(), b"\x01a");
    /// ```
    fn to_key_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_key(&mut out, Position::Last);
        out
    }

    /// Calls `f` with the bytes a tree stores for this key (those of
    /// [`to_key_bytes`](Key::to_key_bytes)) and returns what `f` returns:
    /// how a lookup encodes its key, for the length of one call.
    ///
    /// The default encodes into a buffer kept per thread, so that a lookup
    /// allocates nothing. The built-in integers, `bool`, `char` and `()`
    /// override it to encode into an array on the stack, and `String` and
    /// `Vec<u8>` to pass their own bytes, which saves a few nanoseconds a
    /// lookup. Override it only to do the same, for a short fixed-width key
    /// say; it must pass exactly the bytes of `to_key_bytes`.
    ///
    /// ```
    /// use oakmap::typed::Key;
    ///
    /// assert_eq!(258u16.with_key_bytes(<[u8]>::to_vec), [1, 2]);
    /// let key = (7u16, "ab".to_string());
    /// assert_eq!(key.with_key_bytes(<[u8]>::to_vec), key.to_key_bytes());
    /// ```
    #[inline]
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        with_scratch(|out| self.encode_key(out, Position::Last), f)
    }

    /// The key stored as `bytes`: an error for bytes that are not the whole
    /// of one canonical encoding.
    ///
    /// ```
    /// use oakmap::typed::Key;
    ///
    /// assert_eq!(u16::from_key_bytes(&[1, 2]), Ok(258));
    /// assert!(u16::from_key_bytes(&[1, 2, 3]).is_err()); // a byte left over
    /// assert!(bool::from_key_bytes(&[2]).is_err());
    /// ```
    fn from_key_bytes(mut bytes: &[u8]) -> Result<Self, CodecError> {
        let key = Self::decode_key(&mut bytes, Position::Last)?;
        if !bytes.is_empty() {
            return Err(trailing_bytes(bytes.len()));
        }
        Ok(key)
    }
}

/// A value that encodes as a key of type `K` would: what `get`, `remove`,
/// `insert` and range bounds take.
///
/// Implemented for `&K` for every key type (your own included), for the
/// built-in scalar key types, `String` and `Vec<u8>` by value, for `&str`
/// as a `String` key, `&[u8]` and `&[u8; N]` as a `Vec<u8>` key, and
/// through tuples, arrays and `Option`, so a tuple key may be looked up
/// with borrowed fields:
///
/// ```
/// use oakmap::typed::TreeDef;
///
/// const SCORES: TreeDef<(u32, String), u64> = TreeDef::new("scores");
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = oakmap::Db::open(dir.path().join("x.oak"))?;
/// let mut tx = db.begin_write()?;
/// let mut scores = tx.open_typed(SCORES)?;
/// scores.insert((7, "alice"), &90)?;                      // no String built
/// assert_eq!(scores.get((7, "alice"))?, Some(90));
/// assert_eq!(scores.get(&(7, "alice".to_string()))?, Some(90));
/// # Ok::<(), oakmap::Error>(())
/// ```
///
/// An implementation must write exactly the bytes that [`Key::encode_key`]
/// writes for the equal `K`.
pub trait AsKey<K: Key> {
    /// Appends the encoding of the `K` this stands for at `position`.
    ///
    /// ```
    /// use oakmap::typed::{AsKey, Key, Position};
    ///
    /// let mut out = Vec::new();
    /// AsKey::<(u8, String)>::encode_as_key(&(1u8, "a"), &mut out, Position::Last);
    /// assert_eq!(out, (1u8, "a".to_string()).to_key_bytes());
    /// ```
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position);

    /// Calls `f` with the bytes a tree stores for the `K` this stands for
    /// and returns what `f` returns, as [`Key::with_key_bytes`] does for
    /// a `K`. The default encodes into a buffer kept per thread; the
    /// built-in forms pass on to the key's own `with_key_bytes`, or pass
    /// their own bytes (`&str`, `&[u8]`). An override must pass exactly the
    /// bytes `encode_as_key` writes at [`Position::Last`].
    ///
    /// ```
    /// use oakmap::typed::{AsKey, Key};
    ///
    /// let bytes = AsKey::<(u8, String)>::with_as_key_bytes(&(1u8, "a"), <[u8]>::to_vec);
    /// assert_eq!(bytes, (1u8, "a".to_string()).to_key_bytes());
    /// ```
    #[inline]
    fn with_as_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R
    where
        Self: Sized,
    {
        with_scratch(|out| self.encode_as_key(out, Position::Last), f)
    }
}

impl<K: Key> AsKey<K> for &K {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        K::encode_key(self, out, position);
    }

    #[inline]
    fn with_as_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        K::with_key_bytes(self, f)
    }
}

thread_local! {
    /// The buffer [`with_scratch`] encodes keys into, kept between calls.
    static KEY_SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The largest scratch buffer kept between calls.
const KEY_SCRATCH_BYTES_MAX: usize = 4096;

/// Runs `f` on the bytes `encode` writes into this thread's scratch buffer.
/// A call nested in `f` finds the buffer taken (empty) and allocates its
/// own.
#[inline]
fn with_scratch<R>(encode: impl FnOnce(&mut Vec<u8>), f: impl FnOnce(&[u8]) -> R) -> R {
    // `try_with`: a call from a thread-local destructor, after this
    // buffer is gone, allocates instead of panicking.
    let mut buf = KEY_SCRATCH.try_with(Cell::take).unwrap_or_default();
    buf.clear();
    encode(&mut buf);
    let r = f(&buf);
    if buf.capacity() <= KEY_SCRATCH_BYTES_MAX {
        let _ = KEY_SCRATCH.try_with(|scratch| scratch.set(buf));
    }
    r
}

/// Takes `n` bytes off the front of `input`.
#[inline]
fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], CodecError> {
    let Some((head, rest)) = input.split_at_checked(n) else {
        return Err(too_short(n, input.len()));
    };
    *input = rest;
    Ok(head)
}

#[cold]
fn too_short(wanted: usize, left: usize) -> CodecError {
    CodecError::new(format!("{wanted} bytes wanted, {left} left"))
}

#[cold]
fn trailing_bytes(n: usize) -> CodecError {
    CodecError::new(format!("{n} bytes after the end of the key"))
}

/// Takes an array of `N` bytes off the front of `input`.
#[inline]
fn take_array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], CodecError> {
    let bytes = take(input, N)?;
    Ok(bytes.try_into().expect("take returns N bytes"))
}

/// `Key` and by-value `AsKey` for unsigned integers: big-endian.
macro_rules! unsigned_keys {
    ($($t:ty),*) => {$(
        impl Key for $t {
            #[inline]
            fn encode_key(&self, out: &mut Vec<u8>, _: Position) {
                out.extend_from_slice(&self.to_be_bytes());
            }

            #[inline]
            fn decode_key(input: &mut &[u8], _: Position) -> Result<Self, CodecError> {
                Ok(<$t>::from_be_bytes(take_array(input)?))
            }

            #[inline]
            fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
                f(&self.to_be_bytes())
            }
        }

        by_value!($t);
    )*};
}

/// `Key` and by-value `AsKey` for signed integers: big-endian with the
/// sign bit flipped, so negative numbers sort before positive ones.
macro_rules! signed_keys {
    ($($t:ty => $u:ty),*) => {$(
        impl Key for $t {
            #[inline]
            fn encode_key(&self, out: &mut Vec<u8>, _: Position) {
                let flipped = (*self as $u) ^ (1 << (<$u>::BITS - 1));
                out.extend_from_slice(&flipped.to_be_bytes());
            }

            #[inline]
            fn decode_key(input: &mut &[u8], _: Position) -> Result<Self, CodecError> {
                let flipped = <$u>::from_be_bytes(take_array(input)?);
                Ok((flipped ^ (1 << (<$u>::BITS - 1))) as $t)
            }

            #[inline]
            fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
                let flipped = (*self as $u) ^ (1 << (<$u>::BITS - 1));
                f(&flipped.to_be_bytes())
            }
        }

        by_value!($t);
    )*};
}

/// `AsKey<T> for T`: a key passed by value.
macro_rules! by_value {
    ($t:ty) => {
        impl AsKey<$t> for $t {
            #[inline]
            fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
                self.encode_key(out, position);
            }

            #[inline]
            fn with_as_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
                self.with_key_bytes(f)
            }
        }
    };
}

unsigned_keys!(u8, u16, u32, u64, u128);
signed_keys!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128);

impl Key for bool {
    #[inline]
    fn encode_key(&self, out: &mut Vec<u8>, _: Position) {
        out.push(u8::from(*self));
    }

    #[inline]
    fn decode_key(input: &mut &[u8], _: Position) -> Result<Self, CodecError> {
        match take_array::<1>(input)? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(CodecError::new(format!("{b:#04x} is not a bool"))),
        }
    }

    #[inline]
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&[u8::from(*self)])
    }
}
by_value!(bool);

impl Key for char {
    #[inline]
    fn encode_key(&self, out: &mut Vec<u8>, _: Position) {
        out.extend_from_slice(&u32::from(*self).to_be_bytes());
    }

    #[inline]
    fn decode_key(input: &mut &[u8], _: Position) -> Result<Self, CodecError> {
        let scalar = u32::from_be_bytes(take_array(input)?);
        char::from_u32(scalar).ok_or_else(|| CodecError::new(format!("{scalar:#x} is not a char")))
    }

    #[inline]
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&u32::from(*self).to_be_bytes())
    }
}
by_value!(char);

impl Key for () {
    #[inline]
    fn encode_key(&self, _: &mut Vec<u8>, _: Position) {}

    #[inline]
    fn decode_key(_: &mut &[u8], _: Position) -> Result<Self, CodecError> {
        Ok(())
    }

    #[inline]
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&[])
    }
}
by_value!(());

/// Writes a byte string: raw when last; otherwise each `0x00` as
/// `0x00 0xff`, then the terminator `0x00 0x00`. The terminator sorts below
/// every escaped byte, so a string sorts before its extensions, and no
/// encoding is a prefix of another.
fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>, position: Position) {
    match position {
        Position::Last => out.extend_from_slice(bytes),
        Position::NotLast => {
            let mut parts = bytes.split(|&b| b == 0);
            if let Some(first) = parts.next() {
                out.extend_from_slice(first);
            }
            for part in parts {
                out.extend_from_slice(&[0x00, 0xff]);
                out.extend_from_slice(part);
            }
            out.extend_from_slice(&[0x00, 0x00]);
        }
    }
}

/// Reads a byte string written by [`encode_bytes`].
fn decode_bytes(input: &mut &[u8], position: Position) -> Result<Vec<u8>, CodecError> {
    if position == Position::Last {
        return Ok(std::mem::take(input).to_vec());
    }
    let mut out = Vec::new();
    loop {
        let Some(zero) = input.iter().position(|&b| b == 0) else {
            return Err(CodecError::new("byte string without its terminator"));
        };
        out.extend_from_slice(&input[..zero]);
        match input.get(zero + 1) {
            Some(0x00) => {
                *input = &input[zero + 2..];
                return Ok(out);
            }
            Some(0xff) => {
                out.push(0);
                *input = &input[zero + 2..];
            }
            Some(b) => {
                return Err(CodecError::new(format!(
                    "{b:#04x} after 0x00 in a byte string (0x00 or 0xff expected)"
                )));
            }
            None => return Err(CodecError::new("byte string without its terminator")),
        }
    }
}

impl Key for Vec<u8> {
    #[inline]
    fn encode_key(&self, out: &mut Vec<u8>, position: Position) {
        encode_bytes(self, out, position);
    }

    #[inline]
    fn decode_key(input: &mut &[u8], position: Position) -> Result<Self, CodecError> {
        decode_bytes(input, position)
    }

    /// Raw when last: the bytes themselves.
    #[inline]
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}
by_value!(Vec<u8>);

impl AsKey<Vec<u8>> for &[u8] {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        encode_bytes(self, out, position);
    }

    #[inline]
    fn with_as_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}

impl<const N: usize> AsKey<Vec<u8>> for &[u8; N] {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        encode_bytes(self.as_slice(), out, position);
    }

    #[inline]
    fn with_as_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.as_slice())
    }
}

impl Key for String {
    #[inline]
    fn encode_key(&self, out: &mut Vec<u8>, position: Position) {
        encode_bytes(self.as_bytes(), out, position);
    }

    #[inline]
    fn decode_key(input: &mut &[u8], position: Position) -> Result<Self, CodecError> {
        String::from_utf8(decode_bytes(input, position)?)
            .map_err(|e| CodecError::new(format!("string key is not UTF-8: {}", e.utf8_error())))
    }

    /// Raw when last: the string's bytes.
    #[inline]
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.as_bytes())
    }
}
by_value!(String);

impl AsKey<String> for &str {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        encode_bytes(self.as_bytes(), out, position);
    }

    #[inline]
    fn with_as_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.as_bytes())
    }
}

impl<K: Key> Key for Option<K> {
    #[inline]
    fn encode_key(&self, out: &mut Vec<u8>, position: Position) {
        match self {
            None => out.push(0),
            Some(k) => {
                out.push(1);
                k.encode_key(out, position);
            }
        }
    }

    #[inline]
    fn decode_key(input: &mut &[u8], position: Position) -> Result<Self, CodecError> {
        match take_array::<1>(input)? {
            [0] => Ok(None),
            [1] => K::decode_key(input, position).map(Some),
            [b] => Err(CodecError::new(format!("{b:#04x} is not an Option tag"))),
        }
    }
}

impl<K: Key, Q: AsKey<K>> AsKey<Option<K>> for Option<Q> {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        match self {
            None => out.push(0),
            Some(q) => {
                out.push(1);
                q.encode_as_key(out, position);
            }
        }
    }
}

/// The position of element `i` of `n`, in a key at `position`.
fn element_position(i: usize, n: usize, position: Position) -> Position {
    if i + 1 == n {
        position
    } else {
        Position::NotLast
    }
}

impl<K: Key, const N: usize> Key for [K; N] {
    #[inline]
    fn encode_key(&self, out: &mut Vec<u8>, position: Position) {
        for (i, k) in self.iter().enumerate() {
            k.encode_key(out, element_position(i, N, position));
        }
    }

    #[inline]
    fn decode_key(input: &mut &[u8], position: Position) -> Result<Self, CodecError> {
        let mut elements = Vec::with_capacity(N);
        for i in 0..N {
            elements.push(K::decode_key(input, element_position(i, N, position))?);
        }
        Ok(elements
            .try_into()
            .unwrap_or_else(|_| unreachable!("N elements were pushed")))
    }
}

impl<K: Key, Q: AsKey<K>, const N: usize> AsKey<[K; N]> for [Q; N] {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        for (i, q) in self.iter().enumerate() {
            q.encode_as_key(out, element_position(i, N, position));
        }
    }
}

/// `Key` for a tuple of keys, and `AsKey` for a tuple of their `AsKey`
/// forms: each field in turn, all but the last not last.
macro_rules! tuple_keys {
    ($($name:ident $q:ident $i:tt),+; $last:ident $qlast:ident $ilast:tt) => {
        impl<$($name: Key,)+ $last: Key> Key for ($($name,)+ $last) {
            #[inline]
            fn encode_key(&self, out: &mut Vec<u8>, position: Position) {
                $(self.$i.encode_key(out, Position::NotLast);)+
                self.$ilast.encode_key(out, position);
            }

            #[inline]
            fn decode_key(input: &mut &[u8], position: Position) -> Result<Self, CodecError> {
                Ok((
                    $($name::decode_key(input, Position::NotLast)?,)+
                    $last::decode_key(input, position)?,
                ))
            }
        }

        impl<$($name: Key, $q: AsKey<$name>,)+ $last: Key, $qlast: AsKey<$last>>
            AsKey<($($name,)+ $last)> for ($($q,)+ $qlast)
        {
            #[inline]
            fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
                $(self.$i.encode_as_key(out, Position::NotLast);)+
                self.$ilast.encode_as_key(out, position);
            }
        }
    };
}

impl<A: Key> Key for (A,) {
    #[inline]
    fn encode_key(&self, out: &mut Vec<u8>, position: Position) {
        self.0.encode_key(out, position);
    }

    #[inline]
    fn decode_key(input: &mut &[u8], position: Position) -> Result<Self, CodecError> {
        Ok((A::decode_key(input, position)?,))
    }

    #[inline]
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.0.with_key_bytes(f)
    }
}

impl<A: Key, QA: AsKey<A>> AsKey<(A,)> for (QA,) {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        self.0.encode_as_key(out, position);
    }

    #[inline]
    fn with_as_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.0.with_as_key_bytes(f)
    }
}

tuple_keys!(A QA 0; B QB 1);
tuple_keys!(A QA 0, B QB 1; C QC 2);
tuple_keys!(A QA 0, B QB 1, C QC 2; D QD 3);
tuple_keys!(A QA 0, B QB 1, C QC 2, D QD 3; E QE 4);
tuple_keys!(A QA 0, B QB 1, C QC 2, D QD 3, E QE 4; F QF 5);

#[cfg(test)]
mod tests {
    use super::*;

    fn inner(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_bytes(bytes, &mut out, Position::NotLast);
        out
    }

    #[test]
    fn byte_strings_escape_zero_and_terminate() {
        assert_eq!(inner(b""), b"\x00\x00");
        assert_eq!(inner(b"a\x00b"), b"a\x00\xffb\x00\x00");
        assert_eq!(inner(b"\x00"), b"\x00\xff\x00\x00");
        let mut input: &[u8] = b"a\x00\xffb\x00\x00tail";
        assert_eq!(
            decode_bytes(&mut input, Position::NotLast).unwrap(),
            b"a\x00b"
        );
        assert_eq!(input, b"tail");
    }

    #[test]
    fn non_canonical_byte_strings_are_rejected() {
        for bad in [&b"a"[..], b"a\x00", b"a\x00\x01", b"\x00\xfe\x00\x00"] {
            let mut input = bad;
            assert!(
                decode_bytes(&mut input, Position::NotLast).is_err(),
                "{bad:?}"
            );
        }
    }

    /// `with_key_bytes` passes what `to_key_bytes` returns.
    fn passes_stored_bytes<K: Key + std::fmt::Debug>(key: K) {
        let bytes = key.with_key_bytes(<[u8]>::to_vec);
        assert_eq!(bytes, key.to_key_bytes(), "{key:?}");
        let by_ref = AsKey::<K>::with_as_key_bytes(&&key, <[u8]>::to_vec);
        assert_eq!(by_ref, bytes, "&{key:?}");
    }

    #[test]
    fn key_bytes_on_the_stack_are_the_stored_bytes() {
        for n in [0, 1, 0x7f, 0x80, u64::MAX] {
            passes_stored_bytes(n);
            passes_stored_bytes(n as u8);
            passes_stored_bytes(n as u16);
            passes_stored_bytes(n as u32);
            passes_stored_bytes(u128::from(n) << 64 | 5);
        }
        for n in [i64::MIN, -1, 0, 1, i64::MAX] {
            passes_stored_bytes(n);
            passes_stored_bytes(n as i8);
            passes_stored_bytes(n as i16);
            passes_stored_bytes(n as i32);
            passes_stored_bytes(i128::from(n) * 3);
        }
        passes_stored_bytes(false);
        passes_stored_bytes(true);
        passes_stored_bytes('\0');
        passes_stored_bytes('\u{10ffff}');
        passes_stored_bytes(());
        passes_stored_bytes((7u32,));
        passes_stored_bytes("a\0b".to_string());
        passes_stored_bytes(b"a\0b".to_vec());
    }

    #[test]
    fn key_bytes_in_the_scratch_buffer_are_the_stored_bytes() {
        passes_stored_bytes(Some(3u16));
        passes_stored_bytes(None::<u16>);
        passes_stored_bytes([1u8, 2, 3]);
        passes_stored_bytes((1u8, "a\0".to_string(), -2i32));
        passes_stored_bytes(((String::new(), 9u8), vec![0u8]));
    }

    #[test]
    fn borrowed_forms_pass_the_owned_keys_bytes() {
        let s = AsKey::<String>::with_as_key_bytes(&"a\0b", <[u8]>::to_vec);
        assert_eq!(s, "a\0b".to_string().to_key_bytes());
        let b = AsKey::<Vec<u8>>::with_as_key_bytes(&b"x\0".as_slice(), <[u8]>::to_vec);
        assert_eq!(b, b"x\0".to_vec().to_key_bytes());
        let a = AsKey::<Vec<u8>>::with_as_key_bytes(&b"x\0", <[u8]>::to_vec);
        assert_eq!(a, b);
        let t = AsKey::<(u8, String)>::with_as_key_bytes(&(1u8, "a"), <[u8]>::to_vec);
        assert_eq!(t, (1u8, "a".to_string()).to_key_bytes());
        let one = AsKey::<(String,)>::with_as_key_bytes(&("z",), <[u8]>::to_vec);
        assert_eq!(one, ("z".to_string(),).to_key_bytes());
        let by_value = AsKey::<u64>::with_as_key_bytes(&258u64, <[u8]>::to_vec);
        assert_eq!(by_value, 258u64.to_key_bytes());
    }

    #[test]
    fn a_nested_scratch_call_gets_its_own_buffer() {
        let outer = (1u8, "outer".to_string());
        let inner = (2u8, "inner".to_string());
        let (seen_outer, seen_inner) = outer.with_key_bytes(|o| {
            let i = inner.with_key_bytes(<[u8]>::to_vec);
            (o.to_vec(), i)
        });
        assert_eq!(seen_outer, outer.to_key_bytes());
        assert_eq!(seen_inner, inner.to_key_bytes());
        // And the buffer is back for the next call, with the right bytes.
        assert_eq!(inner.with_key_bytes(<[u8]>::to_vec), inner.to_key_bytes());
    }

    #[test]
    fn signed_integers_sort_negative_first() {
        assert_eq!(i16::MIN.to_key_bytes(), [0x00, 0x00]);
        assert_eq!((-1i16).to_key_bytes(), [0x7f, 0xff]);
        assert_eq!(0i16.to_key_bytes(), [0x80, 0x00]);
        assert_eq!(i16::MAX.to_key_bytes(), [0xff, 0xff]);
    }
}
