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
/// pass it by value as well, implement `AsKey<Version> for Version`.
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
}

impl<K: Key> AsKey<K> for &K {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        K::encode_key(self, out, position);
    }
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
}
by_value!(char);

impl Key for () {
    #[inline]
    fn encode_key(&self, _: &mut Vec<u8>, _: Position) {}

    #[inline]
    fn decode_key(_: &mut &[u8], _: Position) -> Result<Self, CodecError> {
        Ok(())
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
}
by_value!(Vec<u8>);

impl AsKey<Vec<u8>> for &[u8] {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        encode_bytes(self, out, position);
    }
}

impl<const N: usize> AsKey<Vec<u8>> for &[u8; N] {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        encode_bytes(self.as_slice(), out, position);
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
}
by_value!(String);

impl AsKey<String> for &str {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        encode_bytes(self.as_bytes(), out, position);
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
}

impl<A: Key, QA: AsKey<A>> AsKey<(A,)> for (QA,) {
    #[inline]
    fn encode_as_key(&self, out: &mut Vec<u8>, position: Position) {
        self.0.encode_as_key(out, position);
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

    #[test]
    fn signed_integers_sort_negative_first() {
        assert_eq!(i16::MIN.to_key_bytes(), [0x00, 0x00]);
        assert_eq!((-1i16).to_key_bytes(), [0x7f, 0xff]);
        assert_eq!(0i16.to_key_bytes(), [0x80, 0x00]);
        assert_eq!(i16::MAX.to_key_bytes(), [0xff, 0xff]);
    }
}
