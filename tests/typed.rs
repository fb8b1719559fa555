//! Guards typed trees: every key encoding sorts exactly as its keys do and
//! decodes back to them, at both positions; every decoder, key or value,
//! takes any bytes without a panic; lookups by borrowed forms find what
//! owned keys stored; bytes that do not decode are an error naming the
//! tree and the key; and the typed one-call forms keep the byte forms'
//! semantics. (tests/typed_model.rs runs the model test through a typed
//! tree.)

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::Bound;

use common::TestDb;
use oakmap::typed::{
    AsKey, CodecError, DECODE_BYTES_MAX, Key, Position, Serde, TreeDef, Value, bincode,
};
use oakmap::{Error, Options};
use proptest::prelude::*;

// ---------------------------------------------------------------- keys

/// The laws of a key encoding, for two keys of one type: the byte order of
/// the encodings is the order of the keys at both positions, each decodes
/// back to its key consuming exactly its bytes, and not-last encodings are
/// prefix-free.
fn key_laws<K: Key + Ord + Debug>(a: &K, b: &K) -> Result<(), TestCaseError> {
    let (la, lb) = (a.to_key_bytes(), b.to_key_bytes());
    prop_assert_eq!(a.cmp(b), la.cmp(&lb), "last: {:?} {:?}", la, lb);
    prop_assert_eq!(&K::from_key_bytes(&la).unwrap(), a);
    let (na, nb) = (inner(a), inner(b));
    prop_assert_eq!(a.cmp(b), na.cmp(&nb), "not last: {:?} {:?}", na, nb);
    if a != b {
        prop_assert!(
            !na.starts_with(&nb) && !nb.starts_with(&na),
            "not-last encodings are prefixes: {:?} {:?}",
            na,
            nb
        );
    }
    // A not-last key decodes from the front of what follows it.
    let mut followed = na.clone();
    followed.extend_from_slice(&lb);
    let mut input = followed.as_slice();
    prop_assert_eq!(&K::decode_key(&mut input, Position::NotLast).unwrap(), a);
    prop_assert_eq!(input, lb.as_slice());
    Ok(())
}

fn inner<K: Key>(k: &K) -> Vec<u8> {
    let mut out = Vec::new();
    k.encode_key(&mut out, Position::NotLast);
    out
}

/// Strings over a small alphabet with a zero byte, 0xff's character and a
/// multi-byte one, so that equal strings, prefixes and escapes are common.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::collection::vec(
            prop_oneof![Just('a'), Just('b'), Just('\0'), Just('\u{ff}'), Just('é')],
            0..5,
        )
        .prop_map(|cs| cs.into_iter().collect()),
        1 => any::<String>(),
    ]
}

/// Byte strings with zeros, 0xff and 0x01 common.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(0u8), Just(1), Just(0xff), Just(b'a'), any::<u8>()],
        0..6,
    )
}

/// Integers that are often equal or neighbours, and sometimes anything.
fn small_or_any<T: Arbitrary + Copy + From<i8> + Debug>() -> impl Strategy<Value = T> {
    prop_oneof![(-2i8..=2).prop_map(T::from), any::<T>()]
}

fn small_u16() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..3, any::<u16>()]
}

macro_rules! key_law_tests {
    ($($name:ident: $t:ty = $strategy:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]
            $(
                #[test]
                fn $name(a in $strategy, b in $strategy) {
                    key_laws::<$t>(&a, &b)?;
                }
            )*
        }
    };
}

key_law_tests! {
    u8_sorts: u8 = any::<u8>();
    u16_sorts: u16 = any::<u16>();
    u32_sorts: u32 = prop_oneof![0u32..3, any::<u32>()];
    u64_sorts: u64 = prop_oneof![0u64..3, any::<u64>()];
    u128_sorts: u128 = prop_oneof![0u128..3, any::<u128>()];
    i8_sorts: i8 = any::<i8>();
    i16_sorts: i16 = small_or_any::<i16>();
    i32_sorts: i32 = small_or_any::<i32>();
    i64_sorts: i64 = small_or_any::<i64>();
    i128_sorts: i128 = small_or_any::<i128>();
    bool_sorts: bool = any::<bool>();
    char_sorts: char = prop_oneof![Just('\0'), Just('a'), Just('\u{10ffff}'), any::<char>()];
    unit_sorts: () = Just(());
    string_sorts: String = text();
    bytes_sort: Vec<u8> = bytes();
    array_sorts: [u16; 3] = [small_u16(), small_u16(), small_u16()];
    string_array_sorts: [String; 2] = [text(), text()];
    option_sorts: Option<i32> = proptest::option::of(small_or_any::<i32>());
    option_string_sorts: Option<String> = proptest::option::of(text());
    one_tuple_sorts: (String,) = (text(),);
    pair_sorts: (u32, String) = (0u32..3, text());
    string_first_sorts: (String, u32) = (text(), 0u32..3);
    two_strings_sort: (String, String) = (text(), text());
    triple_sorts: (Vec<u8>, Option<String>, i64) = (bytes(), proptest::option::of(text()), small_or_any::<i64>());
    quad_sorts: (u8, String, bool, Vec<u8>) = (0u8..2, text(), any::<bool>(), bytes());
    quint_sorts: (String, i8, String, char, u64) = (text(), -1i8..=1, text(), prop_oneof![Just('a'), Just('b')], 0u64..2);
    six_sorts: (bool, char, String, u8, Vec<u8>, i16) =
        (any::<bool>(), prop_oneof![Just('a'), Just('é')], text(), 0u8..2, bytes(), -1i16..=1);
    nested_tuple_sorts: ((String, u8), String) = ((text(), 0u8..2), text());
    option_tuple_sorts: Option<(String, String)> = proptest::option::of((text(), text()));
    tuple_array_sorts: [(String, u8); 2] = [(text(), 0u8..2), (text(), 0u8..2)];
}

/// Feeds bytes to a key type's decoders: an error or a key, never a
/// panic, and a key decoded is canonical: it encodes to the bytes it
/// came from.
fn key_decoders_take<K: Key + Debug>(raw: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(k) = K::from_key_bytes(raw) {
        prop_assert_eq!(k.to_key_bytes(), raw, "{:?}", k);
    }
    let mut input = raw;
    if let Ok(k) = K::decode_key(&mut input, Position::NotLast) {
        let used = &raw[..raw.len() - input.len()];
        prop_assert_eq!(inner(&k), used, "{:?}", k);
    }
    Ok(())
}

/// Raw bytes, often of the shapes the decoders look for.
fn raw() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(0u8), Just(1), Just(0xff), Just(0xd8), any::<u8>()],
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn key_decoders_take_any_bytes(raw in raw()) {
        key_decoders_take::<u8>(&raw)?;
        key_decoders_take::<u16>(&raw)?;
        key_decoders_take::<u32>(&raw)?;
        key_decoders_take::<u64>(&raw)?;
        key_decoders_take::<u128>(&raw)?;
        key_decoders_take::<i8>(&raw)?;
        key_decoders_take::<i16>(&raw)?;
        key_decoders_take::<i32>(&raw)?;
        key_decoders_take::<i64>(&raw)?;
        key_decoders_take::<i128>(&raw)?;
        key_decoders_take::<bool>(&raw)?;
        key_decoders_take::<char>(&raw)?;
        key_decoders_take::<()>(&raw)?;
        key_decoders_take::<String>(&raw)?;
        key_decoders_take::<Vec<u8>>(&raw)?;
        key_decoders_take::<[char; 2]>(&raw)?;
        key_decoders_take::<[String; 3]>(&raw)?;
        key_decoders_take::<Option<bool>>(&raw)?;
        key_decoders_take::<Option<String>>(&raw)?;
        key_decoders_take::<(String,)>(&raw)?;
        key_decoders_take::<(u32, String)>(&raw)?;
        key_decoders_take::<(String, Vec<u8>, String)>(&raw)?;
        key_decoders_take::<(bool, char, String, u8, Vec<u8>, i16)>(&raw)?;
        key_decoders_take::<Option<(String, Option<String>)>>(&raw)?;
    }
}

/// What an `AsKey` form writes, as a whole key.
fn as_key<K: Key>(q: impl AsKey<K>) -> Vec<u8> {
    let mut out = Vec::new();
    q.encode_as_key(&mut out, Position::Last);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every borrowed form writes the bytes of the owned key it stands for.
    #[test]
    fn borrowed_forms_encode_as_owned_keys(n in any::<u32>(), s in text(), t in text(), b in bytes()) {
        let owned = (n, s.clone()).to_key_bytes();
        prop_assert_eq!(as_key::<(u32, String)>((n, s.as_str())), owned.clone());
        prop_assert_eq!(as_key::<(u32, String)>((&n, &s)), owned.clone());
        prop_assert_eq!(as_key::<(u32, String)>(&(n, s.clone())), owned);
        prop_assert_eq!(as_key::<String>(s.as_str()), s.to_key_bytes());
        prop_assert_eq!(as_key::<String>(&s), s.to_key_bytes());
        prop_assert_eq!(as_key::<Vec<u8>>(b.as_slice()), b.to_key_bytes());
        let pair = [s.clone(), t.clone()];
        prop_assert_eq!(as_key::<[String; 2]>([s.as_str(), t.as_str()]), pair.to_key_bytes());
        let nested = (Some(s.clone()), b.clone(), t.clone());
        prop_assert_eq!(
            as_key::<(Option<String>, Vec<u8>, String)>((Some(s.as_str()), b.as_slice(), t.as_str())),
            nested.to_key_bytes()
        );
        prop_assert_eq!(as_key::<Vec<u8>>(&[1u8, 0, 2]), vec![1u8, 0, 2].to_key_bytes());
        prop_assert_eq!(as_key::<Option<String>>(None::<&str>), Option::<String>::None.to_key_bytes());
    }
}

#[test]
fn encodings_are_the_documented_ones() {
    assert_eq!(0x0102u16.to_key_bytes(), [1, 2]);
    assert_eq!((-2i32).to_key_bytes(), [0x7f, 0xff, 0xff, 0xfe]);
    assert_eq!('é'.to_key_bytes(), [0, 0, 0, 0xe9]);
    assert_eq!(true.to_key_bytes(), [1]);
    assert_eq!(Some(3u8).to_key_bytes(), [1, 3]);
    assert_eq!(None::<u8>.to_key_bytes(), [0]);
    // A string is raw when last, escaped and terminated anywhere else.
    assert_eq!(
        ("a\0b".to_string(), 7u8).to_key_bytes(),
        b"a\x00\xffb\x00\x00\x07"
    );
    assert_eq!((7u8, "a\0b".to_string()).to_key_bytes(), b"\x07a\x00b");
    // So a prefix sorts first inside a tuple, too.
    assert!(("a".to_string(), 9u8).to_key_bytes() < ("a\0".to_string(), 0u8).to_key_bytes());
}

#[test]
fn key_decode_errors_say_what_is_wrong() {
    let reason = |e: CodecError| e.reason().to_string();
    assert_eq!(
        reason(u32::from_key_bytes(&[1, 2]).unwrap_err()),
        "4 bytes wanted, 2 left"
    );
    assert_eq!(
        reason(u8::from_key_bytes(&[1, 2]).unwrap_err()),
        "1 bytes after the end of the key"
    );
    assert!(reason(String::from_key_bytes(&[0xff]).unwrap_err()).contains("UTF-8"));
    assert!(reason(<(String, u8)>::from_key_bytes(b"ab").unwrap_err()).contains("terminator"));
    assert!(reason(Option::<u8>::from_key_bytes(&[2, 0]).unwrap_err()).contains("Option tag"));
}

// -------------------------------------------------------------- values

#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[bincode(crate = "oakmap::typed::bincode")]
struct User {
    id: u64,
    name: String,
    tags: Vec<String>,
    manager: Option<Box<User>>,
    role: Role,
    balance: i64,
}

#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[bincode(crate = "oakmap::typed::bincode")]
enum Role {
    Guest,
    Member { since: u32 },
    Admin(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Session {
    user: String,
    scopes: BTreeMap<String, bool>,
    expires: Option<u64>,
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Guest),
        any::<u32>().prop_map(|since| Role::Member { since }),
        bytes().prop_map(Role::Admin),
    ]
}

fn user() -> impl Strategy<Value = User> {
    (leaf_user(), proptest::option::of(leaf_user())).prop_map(|(mut u, m)| {
        u.manager = m.map(Box::new);
        u
    })
}

fn leaf_user() -> impl Strategy<Value = User> {
    (
        any::<u64>(),
        text(),
        proptest::collection::vec(text(), 0..3),
        role(),
        any::<i64>(),
    )
        .prop_map(|(id, name, tags, role, balance)| User {
            id,
            name,
            tags,
            manager: None,
            role,
            balance,
        })
}

fn session() -> impl Strategy<Value = Session> {
    (
        text(),
        proptest::collection::btree_map(text(), any::<bool>(), 0..3),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(user, scopes, expires)| Session {
            user,
            scopes,
            expires,
        })
}

fn encoded<V: Value + ?Sized>(v: &V::SelfType<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    V::encode_value(v, &mut out).unwrap();
    out
}

/// Feeds bytes to a value decoder: an error or a value, never a panic;
/// a value decoded encodes to bytes that decode to it again (compared by
/// `Debug`, so that a NaN equals itself).
fn value_decoder_takes<V>(raw: &[u8]) -> Result<(), TestCaseError>
where
    V: Value + ?Sized,
    for<'a> V::SelfType<'a>: Debug,
{
    if let Ok(v) = V::decode_value(raw) {
        let again = encoded::<V>(&v);
        let v2 = V::decode_value(&again).unwrap();
        prop_assert_eq!(format!("{v:?}"), format!("{v2:?}"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn values_round_trip(u in user(), s in session(), b in bytes(), t in text()) {
        prop_assert_eq!(User::decode_value(&encoded::<User>(&u)).unwrap(), u);
        prop_assert_eq!(Serde::<Session>::decode_value(&encoded::<Serde<Session>>(&s)).unwrap(), s);
        let (eb, et) = (encoded::<[u8]>(&b.as_slice()), encoded::<str>(&t.as_str()));
        prop_assert_eq!(<[u8]>::decode_value(&eb).unwrap(), b.as_slice());
        prop_assert_eq!(str::decode_value(&et).unwrap(), t.as_str());
    }

    #[test]
    fn value_decoders_take_any_bytes(raw in proptest::collection::vec(
        prop_oneof![Just(0u8), Just(1), Just(2), Just(251), Just(252), Just(253), Just(0xff), any::<u8>()],
        0..64,
    )) {
        value_decoder_takes::<User>(&raw)?;
        value_decoder_takes::<Role>(&raw)?;
        value_decoder_takes::<Serde<Session>>(&raw)?;
        value_decoder_takes::<String>(&raw)?;
        value_decoder_takes::<Vec<u64>>(&raw)?;
        value_decoder_takes::<Vec<Vec<u8>>>(&raw)?;
        value_decoder_takes::<BTreeMap<u32, String>>(&raw)?;
        value_decoder_takes::<(u8, i64, Option<char>, bool)>(&raw)?;
        value_decoder_takes::<f64>(&raw)?;
        value_decoder_takes::<()>(&raw)?;
        value_decoder_takes::<[u8]>(&raw)?;
        value_decoder_takes::<str>(&raw)?;
    }
}

#[test]
fn a_damaged_length_cannot_claim_unbounded_memory() {
    // Varint tag 253: a u64 length follows; here 2^62.
    let mut huge = vec![253u8];
    huge.extend_from_slice(&(1u64 << 62).to_le_bytes());
    for e in [
        Vec::<u64>::decode_value(&huge).unwrap_err(),
        String::decode_value(&huge).unwrap_err(),
        Vec::<Vec<u8>>::decode_value(&huge).unwrap_err(),
        Serde::<Vec<String>>::decode_value(&huge).unwrap_err(),
    ] {
        assert!(!e.reason().is_empty());
    }
    // Just over the limit is refused before anything is read.
    let mut over = vec![253u8];
    over.extend_from_slice(&(DECODE_BYTES_MAX as u64 + 1).to_le_bytes());
    assert_eq!(
        Vec::<u8>::decode_value(&over).unwrap_err().reason(),
        "LimitExceeded"
    );
}

#[test]
fn trailing_bytes_after_a_value_are_an_error() {
    assert_eq!(
        u8::decode_value(&[7, 8]).unwrap_err().reason(),
        "1 bytes after the end of the value"
    );
    assert_eq!(u8::decode_value(&[7]), Ok(7));
}

// --------------------------------------------------------- typed trees

const USERS: TreeDef<u64, User> = TreeDef::new("users");
const NOTES: TreeDef<(u32, String), str> = TreeDef::new("notes");
const BLOBS: TreeDef<i64, [u8]> = TreeDef::new("blobs");
const SESSIONS: TreeDef<String, Serde<Session>> = TreeDef::new("sessions");

fn alice() -> User {
    User {
        id: 1,
        name: "alice".into(),
        tags: vec!["ops".into()],
        manager: None,
        role: Role::Member { since: 2020 },
        balance: -5,
    }
}

#[test]
fn decode_failures_name_tree_and_key() {
    let db = TestDb::temp(Options::new());
    let mut tx = db.begin_write().unwrap();
    tx.open_typed(USERS).unwrap().insert(1, &alice()).unwrap();
    tx.open_typed(USERS).unwrap().insert(3, &alice()).unwrap();
    // Through the byte API: a value that is not a User, a key that is not a u64.
    let mut raw = tx.open_tree("users").unwrap();
    raw.insert(&2u64.to_be_bytes(), b"\xff\xff").unwrap();
    raw.insert(b"short", &encoded::<User>(&alice())).unwrap();
    tx.commit().unwrap();

    let rx = db.begin_read();
    let users = rx.typed(USERS).unwrap().unwrap();
    assert_eq!(users.get(1).unwrap(), Some(alice()));
    let err = users.get(2).unwrap_err();
    match &err {
        Error::Decode { tree, key, reason } => {
            assert_eq!(&**tree, "users");
            assert_eq!(**key, 2u64.to_be_bytes());
            assert!(reason.starts_with("value: "), "{reason}");
        }
        e => panic!("not a decode error: {e:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("\"users\"") && message.contains("\\x00\\x00\\x00\\x02"),
        "{message}"
    );

    // Iteration gives the bad entries as errors, in their places, and goes on.
    let got: Vec<Result<u64, String>> = users
        .iter()
        .unwrap()
        .map(|e| match e {
            Ok((id, _)) => Ok(id),
            Err(Error::Decode { tree, key, reason }) => {
                assert_eq!(&*tree, "users");
                Err(format!("{}|{}", key.escape_ascii(), &reason[..6]))
            }
            Err(e) => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            Ok(1),
            Err("\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02|value:".to_string()),
            Ok(3),
            Err("short|key: 8".to_string()),
        ]
    );
    let back: Vec<bool> = users.iter().unwrap().rev().map(|e| e.is_ok()).collect();
    assert_eq!(back, [false, true, false, true]);
    assert!(matches!(
        users.last(),
        Err(Error::Decode { ref key, .. }) if **key == *b"short"
    ));

    // A str tree holding bytes that are not UTF-8.
    db.insert("notes", &(1u32, "x".to_string()).to_key_bytes(), b"\xc3")
        .unwrap();
    let rx = db.begin_read();
    let notes = rx.typed(NOTES).unwrap().unwrap();
    assert!(matches!(
        notes.get((1, "x")),
        Err(Error::Decode { ref tree, ref key, ref reason })
            if &**tree == "notes" && **key == *b"\x00\x00\x00\x01x" && reason.contains("UTF-8")
    ));
}

#[test]
fn a_value_that_does_not_encode_writes_nothing() {
    use std::os::unix::ffi::OsStrExt;
    const PATHS: TreeDef<u8, std::path::PathBuf> = TreeDef::new("paths");
    let db = TestDb::temp(Options::new());
    let mut tx = db.begin_write().unwrap();
    let mut paths = tx.open_typed(PATHS).unwrap();
    paths.insert(1, std::path::PathBuf::from("/ok")).unwrap();
    let bad = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"/\xff"));
    let err = paths.insert(2, &bad).unwrap_err();
    assert!(
        matches!(&err, Error::Encode { tree, key, .. } if &**tree == "paths" && **key == [2]),
        "{err:?}"
    );
    // The transaction is still usable: nothing reached the tree.
    assert_eq!(paths.len().unwrap(), 1);
    paths.insert(3, std::path::PathBuf::from("/also")).unwrap();
    tx.commit().unwrap();
    assert_eq!(db.begin_read().typed(PATHS).unwrap().unwrap().len(), 2);
    assert!(matches!(
        PATHS.get_or_insert(&db, 4, &bad),
        Err(Error::Encode { .. })
    ));
}

#[test]
fn typed_trees_read_and_write_like_byte_trees() {
    let db = TestDb::temp(Options::new());
    let mut tx = db.begin_write().unwrap();
    assert!(tx.typed_mut(NOTES).unwrap().is_none());
    let mut notes = tx.open_typed(NOTES).unwrap();
    assert!(!notes.insert((2, "b"), "two-b").unwrap());
    assert!(!notes.insert((1, "b"), "one-b").unwrap());
    assert!(!notes.insert((1, "a"), "one-a").unwrap());
    assert!(notes.insert((1, "a"), "one-a again").unwrap());
    assert!(!notes.insert(&(10, "a".to_string()), "ten-a").unwrap());
    assert_eq!(notes.get((1, "a")).unwrap(), Some("one-a again"));
    assert_eq!(notes.len().unwrap(), 4);
    assert!(notes.remove((2, "b")).unwrap());
    assert!(!notes.remove((2, "b")).unwrap());
    assert_eq!(notes.view().unwrap().len(), 3);
    tx.commit().unwrap();

    let rx = db.begin_read();
    let notes = rx.typed(NOTES).unwrap().unwrap();
    let k = |n: u32, s: &str| (n, s.to_string());
    assert_eq!(
        keys(notes.iter().unwrap()),
        [k(1, "a"), k(1, "b"), k(10, "a")]
    );
    assert_eq!(
        keys(notes.range((1, "b")..).unwrap()),
        [k(1, "b"), k(10, "a")]
    );
    assert_eq!(
        keys(notes.range(..(10, "a")).unwrap()),
        [k(1, "a"), k(1, "b")]
    );
    assert_eq!(keys(notes.range(..=(10, "a")).unwrap()).len(), 3);
    assert_eq!(
        keys(notes.range((1, "a")..=(1, "b")).unwrap().rev()),
        [k(1, "b"), k(1, "a")]
    );
    assert_eq!(
        keys(
            notes
                .range((Bound::Excluded((1, "a")), Bound::Included((10, "a"))))
                .unwrap()
        ),
        [k(1, "b"), k(10, "a")]
    );
    // Bounds the wrong way round give nothing (a BTreeMap would panic).
    assert_eq!(notes.range((10, "a")..(1, "a")).unwrap().count(), 0);
    assert_eq!(notes.first().unwrap(), Some((k(1, "a"), "one-a again")));
    assert_eq!(notes.last().unwrap(), Some((k(10, "a"), "ten-a")));
    // The byte tree underneath holds the encodings.
    assert_eq!(
        notes.bytes().get(b"\x00\x00\x00\x0aa").unwrap(),
        Some(&b"ten-a"[..])
    );
}

/// The keys of a typed range's entries, which must all decode.
fn keys<'a, K, V: ?Sized + 'a>(r: impl Iterator<Item = oakmap::Result<(K, &'a V)>>) -> Vec<K> {
    r.map(|e| e.unwrap().0).collect()
}

#[test]
fn signed_keys_range_in_numeric_order() {
    let db = TestDb::temp(Options::new());
    let mut tx = db.begin_write().unwrap();
    let mut blobs = tx.open_typed(BLOBS).unwrap();
    let mut model = BTreeMap::new();
    for i in [-300i64, -2, -1, 0, 1, 255, 256, i64::MIN, i64::MAX] {
        let v = i.to_le_bytes();
        blobs.insert(i, v.as_slice()).unwrap();
        model.insert(i, v.to_vec());
    }
    let got: Vec<(i64, Vec<u8>)> = blobs
        .range(-2..=256)
        .unwrap()
        .map(|e| e.map(|(k, v)| (k, v.to_vec())).unwrap())
        .collect();
    let want: Vec<(i64, Vec<u8>)> = model
        .range(-2..=256)
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(blobs.first().unwrap().map(|(k, _)| k), Some(i64::MIN));
    assert_eq!(blobs.last().unwrap().map(|(k, _)| k), Some(i64::MAX));
    tx.commit().unwrap();
}

#[test]
fn byte_and_str_values_borrow_the_snapshot() {
    let db = TestDb::temp(Options::new());
    let big = vec![7u8; 20_000]; // on overflow pages
    let mut tx = db.begin_write().unwrap();
    tx.open_typed(BLOBS)
        .unwrap()
        .insert(5, big.as_slice())
        .unwrap();
    tx.open_typed(NOTES)
        .unwrap()
        .insert((1, "a"), "note")
        .unwrap();
    tx.commit().unwrap();
    let rx = db.begin_read();
    let typed: &[u8] = rx.typed(BLOBS).unwrap().unwrap().get(5).unwrap().unwrap();
    let raw = rx
        .tree("blobs")
        .unwrap()
        .unwrap()
        .get(&5i64.to_key_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(typed, big.as_slice());
    assert_eq!(typed.as_ptr(), raw.as_ptr(), "the typed value is a copy");
    let note: &str = rx
        .typed(NOTES)
        .unwrap()
        .unwrap()
        .get((1, "a"))
        .unwrap()
        .unwrap();
    let raw_note = rx
        .tree("notes")
        .unwrap()
        .unwrap()
        .get(b"\x00\x00\x00\x01a")
        .unwrap()
        .unwrap();
    assert_eq!(note.as_ptr(), raw_note.as_ptr());
}

#[test]
fn serde_values_through_bincode() {
    let db = TestDb::temp(Options::new());
    let s = Session {
        user: "alice".into(),
        scopes: [("read".to_string(), true)].into(),
        expires: Some(60),
    };
    let mut tx = db.begin_write().unwrap();
    tx.open_typed(SESSIONS).unwrap().insert("s1", &s).unwrap();
    tx.commit().unwrap();
    let rx = db.begin_read();
    let sessions = rx.typed(SESSIONS).unwrap().unwrap();
    assert_eq!(sessions.get("s1").unwrap(), Some(s.clone()));
    assert_eq!(sessions.get("s2").unwrap(), None);
    // The bytes are bincode's serde encoding with the documented config.
    let raw = rx.tree("sessions").unwrap().unwrap();
    let bytes = raw.get(b"s1").unwrap().unwrap();
    assert_eq!(
        bincode::serde::encode_to_vec(&s, oakmap::typed::BINCODE_CONFIG).unwrap(),
        bytes
    );
}

#[test]
fn get_or_insert_keeps_the_byte_semantics() {
    let db = TestDb::temp(Options::new());
    let first = USERS.get_or_insert(&db, 1, &alice()).unwrap();
    assert!(first.inserted);
    assert_eq!(first.value, alice());
    let bob = User {
        name: "bob".into(),
        ..alice()
    };
    let second = USERS.get_or_insert(&db, 1, &bob).unwrap();
    assert!(!second.inserted);
    assert_eq!(second.value, alice());
    // Zero-copy value types come back owned.
    let got = BLOBS.get_or_insert(&db, -1, b"x".as_slice()).unwrap();
    assert_eq!(got.value, b"x".to_vec());
    // A stored value that does not decode is an error, and nothing changes.
    db.insert("users", &2u64.to_be_bytes(), b"\xff").unwrap();
    assert!(matches!(
        USERS.get_or_insert(&db, 2, &bob),
        Err(Error::Decode { ref tree, ref key, .. }) if &**tree == "users" && **key == 2u64.to_be_bytes()
    ));
    assert_eq!(
        db.get("users", &2u64.to_be_bytes()).unwrap(),
        Some(vec![0xff])
    );
    // As the byte form: refused while this thread holds a WriteTxn.
    let tx = db.begin_write().unwrap();
    assert!(matches!(
        USERS.get_or_insert(&db, 1, &bob),
        Err(Error::WriteTxnOpenOnThisThread)
    ));
    drop(tx);
}

#[test]
fn compare_and_swap_keeps_the_byte_semantics() {
    let db = TestDb::temp(Options::new());
    let bob = User {
        name: "bob".into(),
        ..alice()
    };
    // Removing from a missing tree creates nothing.
    assert_eq!(USERS.compare_and_swap(&db, 1, None, None).unwrap(), Ok(()));
    assert!(db.list_trees().unwrap().is_empty());
    let lost = USERS
        .compare_and_swap(&db, 1, Some(&alice()), Some(&bob))
        .unwrap();
    assert_eq!(lost.unwrap_err().current, None);
    assert!(db.list_trees().unwrap().is_empty());
    // Setting a value creates the tree.
    assert_eq!(
        USERS
            .compare_and_swap(&db, 1, None, Some(&alice()))
            .unwrap(),
        Ok(())
    );
    let lost = USERS.compare_and_swap(&db, 1, None, Some(&bob)).unwrap();
    assert_eq!(lost.unwrap_err().current, Some(alice()));
    assert_eq!(
        USERS
            .compare_and_swap(&db, 1, Some(&alice()), Some(&bob))
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        db.begin_read()
            .typed(USERS)
            .unwrap()
            .unwrap()
            .get(1)
            .unwrap(),
        Some(bob.clone())
    );
    assert_eq!(
        USERS.compare_and_swap(&db, 1, Some(&bob), None).unwrap(),
        Ok(())
    );
    assert_eq!(db.begin_read().typed(USERS).unwrap().unwrap().len(), 0);
    // Borrowed value types compare too.
    assert_eq!(
        NOTES
            .compare_and_swap(&db, (1, "a"), None, Some(&"x"))
            .unwrap(),
        Ok(())
    );
    let lost = NOTES
        .compare_and_swap(&db, (1, "a"), Some(&"y"), Some(&"z"))
        .unwrap();
    assert_eq!(lost.unwrap_err().current.as_deref(), Some("x"));
}
