//! Where everything lives in the database, and how it is encoded: the tree
//! names, the metadata keys, the log's key encoding and the value codec.
//! Every byte this crate stores is written and read through here (the
//! crate documentation describes the layout as a whole).
//!
//! Values are serde types encoded with bincode 2 through oakmap's
//! [`Serde`] value codec, with oakmap's [`BINCODE_CONFIG`](oakmap::typed::BINCODE_CONFIG):
//! the same bytes a typed tree of `Serde<T>` holds, a decoding limit of
//! 1 GiB against a damaged length prefix, and no bytes left over. Bytes
//! that do not decode are a [`CodecError`], never a panic.

use oakmap::typed::{CodecError, Serde, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The log: an entry under its index.
pub(crate) const LOG_TREE: &str = "raft-log";
/// The log's metadata: the vote, the committed log id, the last purged log id.
pub(crate) const META_TREE: &str = "raft-meta";
/// The state machine's data: the keyspace its commands write.
pub const DATA_TREE: &str = "sm-data";
/// The state machine's metadata: the last applied log id and the last
/// membership applied.
pub(crate) const SM_META_TREE: &str = "sm-meta";

/// In [`META_TREE`]: the `Vote`.
pub(crate) const VOTE_KEY: &[u8] = b"vote";
/// In [`META_TREE`]: the committed `LogId`.
pub(crate) const COMMITTED_KEY: &[u8] = b"committed";
/// In [`META_TREE`]: the last purged `LogId`.
pub(crate) const PURGED_KEY: &[u8] = b"purged";
/// In [`SM_META_TREE`]: the last applied `LogId`.
pub(crate) const APPLIED_KEY: &[u8] = b"applied";
/// In [`SM_META_TREE`]: the last `StoredMembership` applied.
pub(crate) const MEMBERSHIP_KEY: &[u8] = b"membership";

/// The key of log entry `index`: 8 big-endian bytes, so that byte order is
/// index order and a range of indexes is a range of keys.
pub(crate) fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The index a log key holds.
pub(crate) fn log_index(key: &[u8]) -> Result<u64, CodecError> {
    match <[u8; 8]>::try_from(key) {
        Ok(bytes) => Ok(u64::from_be_bytes(bytes)),
        Err(_) => Err(CodecError::new(format!(
            "a log key is 8 bytes, this one {} ({})",
            key.len(),
            key.escape_ascii()
        ))),
    }
}

/// The stored bytes of `value`.
pub(crate) fn encode<T: Serialize + DeserializeOwned>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    Serde::<T>::encode_value(value, &mut out)?;
    Ok(out)
}

/// The value stored as `bytes`, all of them.
pub(crate) fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    Serde::<T>::decode_value(bytes)
}

/// The value stored as `bytes` under `key` in `tree`; bytes that do not
/// decode are oakmap's own [`oakmap::Error::Decode`], naming the tree and
/// the key as a typed tree's would.
pub(crate) fn decode_at<T: Serialize + DeserializeOwned>(
    tree: &str,
    key: &[u8],
    bytes: &[u8],
) -> oakmap::Result<T> {
    decode(bytes).map_err(|e| oakmap::Error::Decode {
        tree: tree.into(),
        key: key.into(),
        reason: format!("value: {e}").into(),
    })
}

/// The value under `key` in `tree` of snapshot `rx`, decoded; `None` if
/// the tree or the key is absent.
pub(crate) fn read_value<T: Serialize + DeserializeOwned>(
    rx: &oakmap::ReadTxn<'_>,
    tree: &str,
    key: &[u8],
) -> oakmap::Result<Option<T>> {
    let Some(t) = rx.tree(tree)? else {
        return Ok(None);
    };
    match t.get(key)? {
        Some(bytes) => decode_at(tree, key, bytes).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, LogId, Vote};

    use super::*;

    #[test]
    fn log_keys_sort_as_indexes() {
        let indexes = [0, 1, 255, 256, 65_536, u64::MAX - 1, u64::MAX];
        for pair in indexes.windows(2) {
            assert!(log_key(pair[0]) < log_key(pair[1]), "{pair:?}");
        }
        for i in indexes {
            assert_eq!(log_index(&log_key(i)), Ok(i));
        }
        assert!(log_index(&[0; 7]).is_err());
        assert!(log_index(&[0; 9]).is_err());
    }

    #[test]
    fn values_round_trip_and_damage_is_an_error() {
        let vote = Vote::new_committed(7, 3u64);
        let bytes = encode(&vote).expect("encodes");
        assert_eq!(decode::<Vote<u64>>(&bytes), Ok(vote));
        // One byte short, one byte over, and garbage: errors, not panics.
        assert!(decode::<Vote<u64>>(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<Vote<u64>>(&longer).is_err());
        let log_id = LogId::new(CommittedLeaderId::new(2, 1u64), 9);
        assert!(decode::<LogId<u64>>(&[0xff; 3]).is_err());
        let bytes = encode(&log_id).expect("encodes");
        assert_eq!(decode::<LogId<u64>>(&bytes), Ok(log_id));
    }
}
