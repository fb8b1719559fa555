//! The current snapshot, kept in the node's directory as one file,
//! `current.snapshot`, so that `get_current_snapshot` finds it after a
//! restart; and the clean-up of what an interrupted snapshot leaves.
//!
//! The file, every integer little-endian:
//!
//! | offset | bytes | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic, `oakraft\x01` (the last byte is the format version) |
//! | 8 | 4 | `meta_bytes`: length of the encoded `SnapshotMeta` |
//! | 12 | 8 | `data_bytes`: length of the snapshot's data |
//! | 20 | 4 | CRC-32 of bytes 0..20, the meta and the data |
//! | 24 | `meta_bytes` | the `SnapshotMeta`, encoded as every value is (`layout`) |
//! | 24 + `meta_bytes` | `data_bytes` | the data: an oakmap database (`snapshot`) |
//!
//! and nothing after. It is written whole under a temporary name, fsynced,
//! renamed over the old one and the directory fsynced, so a crash leaves
//! the old file or the new one, never a mix; reading checks the magic, the
//! lengths against the file's and the checksum before it decodes anything,
//! so damage is an error naming the file, never a panic or a wrong
//! snapshot.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::{SnapshotMeta, StorageIOError};

use crate::error::{OrStorage, StorageResult, invalid};
use crate::layout::{decode, encode};
use crate::types::NodeId;

/// The snapshot's meta, as stored.
type Meta = SnapshotMeta<NodeId, openraft::BasicNode>;

/// The current snapshot's file in the node's directory.
const FILE: &str = "current.snapshot";
/// Temporary files are this name, a number, and `.tmp`.
const TMP_PREFIX: &str = "current.snapshot.";
const TMP_SUFFIX: &str = ".tmp";
/// The directory a received snapshot is opened in while it is installed.
pub(crate) const RECEIVING_DIR: &str = "receiving";

const MAGIC: [u8; 8] = *b"oakraft\x01";
const HEADER_BYTES: usize = 24;
const CRC_AT: usize = 20;

/// Stores `meta` and `data` as the current snapshot of `dir`, durably,
/// replacing the one there.
pub(crate) fn store(dir: &Path, meta: &Meta, data: &[u8]) -> StorageResult<()> {
    let what = |e| StorageIOError::write_snapshot(Some(meta.signature()), e);
    let meta_bytes = encode(meta).or_storage(what)?;
    let header = header(&meta_bytes, data).or_storage(what)?;
    // A number of its own per call: a build and an installation may store at once.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{TMP_PREFIX}{n}{TMP_SUFFIX}"));
    let written = write_synced(&tmp, &[&header, &meta_bytes, data])
        .and_then(|()| fs::rename(&tmp, dir.join(FILE)))
        .and_then(|()| File::open(dir)?.sync_all());
    if written.is_err() {
        let _ = fs::remove_file(&tmp); // the error below is the one to report
    }
    written
        .map_err(|e| with_path(e, &dir.join(FILE)))
        .or_storage(what)
}

/// The current snapshot of `dir`, its meta and data, or `None` if there is
/// none.
pub(crate) fn load(dir: &Path) -> StorageResult<Option<(Meta, Vec<u8>)>> {
    let path = dir.join(FILE);
    let what = |e| StorageIOError::read_snapshot(None, e);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(with_path(e, &path)).or_storage(what),
    };
    let (meta_bytes, data) =
        split(&bytes).map_err(|why| invalid(what, format!("{}: {why}", path.display())))?;
    let meta: Meta = decode(meta_bytes).map_err(|e| {
        invalid(
            what,
            format!("{}: the meta does not decode: {e}", path.display()),
        )
    })?;
    Ok(Some((meta, data.to_vec())))
}

/// Removes what an interrupted store or installation left in `dir`:
/// temporary snapshot files and the directory of a received snapshot.
pub(crate) fn remove_leftovers(dir: &Path) -> oakmap::Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| oakmap::Error::Io { path, source }
    };
    for item in fs::read_dir(dir).map_err(io(dir))? {
        let item = item.map_err(io(dir))?;
        let name = item.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX) {
            fs::remove_file(item.path()).map_err(io(&item.path()))?;
        }
    }
    let receiving = dir.join(RECEIVING_DIR);
    match fs::remove_dir_all(&receiving) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&receiving)(e)),
        _ => Ok(()),
    }
}

/// The header for `meta` and `data`.
fn header(meta: &[u8], data: &[u8]) -> std::io::Result<[u8; HEADER_BYTES]> {
    let too_large = |what| std::io::Error::other(format!("the snapshot's {what} is too large"));
    let meta_len = u32::try_from(meta.len()).map_err(|_| too_large("meta"))?;
    let data_len = u64::try_from(data.len()).map_err(|_| too_large("data"))?;
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&meta_len.to_le_bytes());
    h[12..20].copy_from_slice(&data_len.to_le_bytes());
    let crc = checksum(&h[..CRC_AT], meta, data);
    h[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    Ok(h)
}

/// The meta and the data of a whole file, once its header holds.
fn split(file: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let Some((h, rest)) = file.split_first_chunk::<HEADER_BYTES>() else {
        return Err(format!("{} bytes, shorter than a header", file.len()));
    };
    if h[0..8] != MAGIC {
        return Err(format!(
            "not a snapshot file of this version (magic {})",
            h[0..8].escape_ascii()
        ));
    }
    let field = |at: usize, n: usize| {
        h[at..at + n]
            .iter()
            .rev()
            .fold(0u64, |v, b| v << 8 | u64::from(*b))
    };
    let (meta_len, data_len) = (field(8, 4), field(12, 8));
    let rest_len = rest.len() as u64;
    if meta_len.checked_add(data_len) != Some(rest_len) {
        return Err(format!(
            "the header says {meta_len} + {data_len} bytes follow it, the file has {rest_len}"
        ));
    }
    // meta_len <= rest.len(), checked just above.
    let (meta, data) = rest.split_at(meta_len as usize);
    let stored = field(CRC_AT, 4);
    let crc = u64::from(checksum(&h[..CRC_AT], meta, data));
    if stored != crc {
        return Err(format!(
            "checksum {stored:#010x} stored, {crc:#010x} computed"
        ));
    }
    Ok((meta, data))
}

fn checksum(header: &[u8], meta: &[u8], data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(meta);
    h.update(data);
    h.finalize()
}

/// Writes `parts` to a new file at `path` and fsyncs it.
fn write_synced(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    for part in parts {
        f.write_all(part)?;
    }
    f.sync_all()
}

/// `e` with the path it concerns in its text.
fn with_path(e: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_and_every_flipped_byte_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(dir.path()).expect("no file is no snapshot").is_none());
        let meta = Meta {
            snapshot_id: "s-1".into(),
            ..Meta::default()
        };
        store(dir.path(), &meta, b"database bytes").expect("stored");
        let (got, data) = load(dir.path()).expect("loads").expect("present");
        assert_eq!((got, data.as_slice()), (meta, &b"database bytes"[..]));

        let path = dir.path().join(FILE);
        let good = fs::read(&path).expect("read");
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            fs::write(&path, &bad).expect("write");
            assert!(load(dir.path()).is_err(), "byte {i} flipped");
        }
        for len in [0, HEADER_BYTES - 1, HEADER_BYTES, good.len() - 1] {
            fs::write(&path, &good[..len]).expect("write");
            assert!(load(dir.path()).is_err(), "cut to {len} bytes");
        }
        let mut longer = good.clone();
        longer.push(0);
        fs::write(&path, &longer).expect("write");
        assert!(load(dir.path()).is_err(), "a byte too many");
    }

    #[test]
    fn leftovers_go_and_the_snapshot_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        store(dir.path(), &Meta::default(), b"x").expect("stored");
        fs::write(
            dir.path().join(format!("{TMP_PREFIX}7{TMP_SUFFIX}")),
            b"half",
        )
        .expect("write");
        fs::create_dir(dir.path().join(RECEIVING_DIR)).expect("mkdir");
        remove_leftovers(dir.path()).expect("removed");
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [FILE]);
    }
}
