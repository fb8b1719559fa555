//! §7 Write-ahead log files and records.
//!
//! A WAL file starts with a 64-byte header; records follow back to back. A
//! record's LSN is its position in the log as a whole: the file's `base_lsn`
//! plus its offset after the header. Each record carries one committed
//! transaction's logical operations.
//!
//! Record: `len u32 | crc u32 | lsn u64 | txn u64 | synced_lsn u64 |
//! op_count u32 | file_tag u32 | ops`. The CRC covers bytes 0..4 and 8..len.
//! `file_tag` ties the record to its database (a fold of the data file's
//! `file_id`), so records are recognized as ours even where a file header
//! is damaged.
//! `synced_lsn` is how far the log was known durable when the record was
//! appended; recovery uses it to tell a torn tail (records after a bad one
//! that were never acknowledged) from corruption in acknowledged records.
//!
//! Op: `kind u8 | name_len u8 | name | ...` where kind 1 (put) continues
//! `key_len u16 | key | value_len u32 | value`, kind 2 (delete) continues
//! `key_len u16 | key`, and kinds 3 (create tree) and 4 (delete tree) end
//! after the name. A record holding the one op of kind 5 (switch, empty
//! name) records no commit: it marks that the log continues in the other
//! file, at the LSN after it.

use super::{Lsn, crc32, get_u16, get_u32, get_u64, put_u32, put_u64};

/// Size of a WAL file header.
pub const WAL_HEADER_BYTES: usize = 64;
/// The eight bytes every WAL file starts with.
pub const WAL_MAGIC: [u8; 8] = *b"OAKMAPWL";
const WH_MAGIC: usize = 0; // [u8; 8]
const WH_VERSION: usize = 8; // u32
// 12..16 reserved
const WH_FILE_ID: usize = 16; // u64: the data file's file_id
const WH_BASE_LSN: usize = 24; // u64: LSN of the first record in this file
// 32..60 reserved
const WH_CRC: usize = 60; // u32: CRC of bytes 0..60
const _: () = assert!(WH_CRC + 4 == WAL_HEADER_BYTES);

/// Size of a record's fixed part, before its operations.
pub const RECORD_HEADER_BYTES: usize = 40;
const R_LEN: usize = 0; // u32
const R_CRC: usize = 4; // u32
const R_LSN: usize = 8; // u64
const R_TXN: usize = 16; // u64
const R_SYNCED: usize = 24; // u64
const R_OP_COUNT: usize = 32; // u32
const R_FILE_TAG: usize = 36; // u32
const _: () = assert!(R_FILE_TAG + 4 == RECORD_HEADER_BYTES);

/// The byte offset of LSN `lsn` in a WAL file whose records start at
/// `base` (the one place this rule is written; the caller has `base <= lsn`).
pub(crate) fn offset_of(lsn: Lsn, base: Lsn) -> u64 {
    WAL_HEADER_BYTES as u64 + lsn.bytes_since(base)
}

/// The `file_tag` every record of the database with `file_id` carries.
pub(crate) fn file_tag(file_id: u64) -> u32 {
    (file_id as u32) ^ ((file_id >> 32) as u32)
}

/// The length of a switch marker: a record header and one op with an
/// empty name.
pub(crate) const SWITCH_MARKER_BYTES: u64 = RECORD_HEADER_BYTES as u64 + 2;

/// The longest record: its length is a `u32`.
pub(crate) const RECORD_BYTES_MAX: u64 = u32::MAX as u64;

/// Operation kinds.
pub(crate) const OP_PUT: u8 = 1;
pub(crate) const OP_DELETE: u8 = 2;
pub(crate) const OP_CREATE_TREE: u8 = 3;
pub(crate) const OP_DELETE_TREE: u8 = 4;
pub(crate) const OP_SWITCH: u8 = 5;

/// A WAL file header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalHeader {
    pub(crate) file_id: u64,
    pub(crate) base_lsn: Lsn,
}

impl WalHeader {
    pub(crate) fn encode(&self) -> [u8; WAL_HEADER_BYTES] {
        let mut b = [0u8; WAL_HEADER_BYTES];
        b[WH_MAGIC..WH_MAGIC + 8].copy_from_slice(&WAL_MAGIC);
        put_u32(&mut b, WH_VERSION, super::FORMAT_VERSION);
        put_u64(&mut b, WH_FILE_ID, self.file_id);
        put_u64(&mut b, WH_BASE_LSN, self.base_lsn.0);
        let crc = crc32(&b[..WH_CRC]);
        put_u32(&mut b, WH_CRC, crc);
        b
    }

    /// `None` if the bytes are not a valid header (a new, torn or foreign file).
    pub(crate) fn decode(b: &[u8]) -> Option<WalHeader> {
        if b.len() < WAL_HEADER_BYTES
            || b[..8] != WAL_MAGIC
            || crc32(&b[..WH_CRC]) != get_u32(b, WH_CRC)
            || get_u32(b, WH_VERSION) != super::FORMAT_VERSION
            || get_u64(b, WH_BASE_LSN) > super::COUNTER_MAX
        {
            return None;
        }
        Some(WalHeader {
            file_id: get_u64(b, WH_FILE_ID),
            base_lsn: Lsn(get_u64(b, WH_BASE_LSN)),
        })
    }
}

/// Builds one record as a transaction runs: its operations go straight after
/// room for the header, which `encode` fills in place (a large transaction's
/// record is held once, not copied again at commit).
#[derive(Debug)]
pub(crate) struct OpLog {
    ops: Vec<u8>,
    count: u32,
}

impl Default for OpLog {
    fn default() -> OpLog {
        OpLog {
            ops: vec![0; RECORD_HEADER_BYTES],
            count: 0,
        }
    }
}

impl OpLog {
    pub(crate) fn bytes(&self) -> usize {
        self.ops.len()
    }

    /// Bytes a put of this size adds to the record (to check before copying
    /// a large value in).
    pub(crate) fn put_bytes(tree: &str, key: &[u8], value: &[u8]) -> usize {
        2 + tree.len() + 2 + key.len() + 4 + value.len()
    }

    fn start(&mut self, kind: u8, tree: &str) {
        debug_assert!(tree.len() <= u8::MAX as usize, "tree name over 255 bytes");
        self.ops.push(kind);
        self.ops.push(tree.len() as u8);
        self.ops.extend_from_slice(tree.as_bytes());
        self.count += 1;
    }

    pub(crate) fn put(&mut self, tree: &str, key: &[u8], value: &[u8]) {
        self.start(OP_PUT, tree);
        self.ops
            .extend_from_slice(&(key.len() as u16).to_le_bytes());
        self.ops.extend_from_slice(key);
        self.ops
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.ops.extend_from_slice(value);
    }

    pub(crate) fn delete(&mut self, tree: &str, key: &[u8]) {
        self.start(OP_DELETE, tree);
        self.ops
            .extend_from_slice(&(key.len() as u16).to_le_bytes());
        self.ops.extend_from_slice(key);
    }

    pub(crate) fn tree(&mut self, kind: u8, tree: &str) {
        debug_assert!(kind == OP_CREATE_TREE || kind == OP_DELETE_TREE);
        self.start(kind, tree);
    }

    /// The record that ends a file: the log continues in the other one.
    pub(crate) fn switch_marker() -> OpLog {
        let mut log = OpLog::default();
        log.start(OP_SWITCH, "");
        debug_assert_eq!(log.bytes() as u64, SWITCH_MARKER_BYTES);
        log
    }

    /// The complete record for `txn` at `lsn`. The caller keeps records
    /// within `RECORD_BYTES_MAX`.
    pub(crate) fn encode(&mut self, lsn: Lsn, txn: u64, synced_lsn: Lsn, tag: u32) -> &[u8] {
        let len = self.bytes();
        debug_assert!(
            len as u64 <= RECORD_BYTES_MAX,
            "record over its length field"
        );
        let b = &mut self.ops;
        put_u32(b, R_FILE_TAG, tag);
        put_u32(b, R_LEN, len as u32);
        put_u64(b, R_LSN, lsn.0);
        put_u64(b, R_TXN, txn);
        put_u64(b, R_SYNCED, synced_lsn.0);
        put_u32(b, R_OP_COUNT, self.count);
        let crc = record_crc(b);
        put_u32(b, R_CRC, crc);
        b
    }
}

fn record_crc(b: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&b[..R_CRC]);
    h.update(&b[R_LSN..]);
    h.finalize()
}

/// One decoded record; `ops` borrows the log bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) lsn: Lsn,
    pub(crate) txn: u64,
    pub(crate) synced_lsn: Lsn,
    pub(crate) op_count: u32,
    pub(crate) ops: &'a [u8],
    pub(crate) len: usize,
}

/// Decodes the record at the start of `b`, expected at `lsn` in the log of
/// the database whose records carry `tag`. `None` if the bytes are not a
/// whole, valid record of that database for that position.
pub(crate) fn decode_record(b: &[u8], lsn: Lsn, tag: u32) -> Option<Record<'_>> {
    if b.len() < RECORD_HEADER_BYTES {
        return None;
    }
    let len = get_u32(b, R_LEN) as usize;
    if len < RECORD_HEADER_BYTES
        || len > b.len()
        || get_u64(b, R_LSN) != lsn.0
        || get_u32(b, R_FILE_TAG) != tag
    {
        return None;
    }
    let b = &b[..len];
    if record_crc(b) != get_u32(b, R_CRC) {
        return None;
    }
    Some(Record {
        lsn,
        txn: get_u64(b, R_TXN),
        synced_lsn: Lsn(get_u64(b, R_SYNCED)),
        op_count: get_u32(b, R_OP_COUNT),
        ops: &b[RECORD_HEADER_BYTES..],
        len,
    })
}

/// The `synced_lsn` the record at the start of `b` claims, if its header
/// fields fit a record of this database at `lsn` (length, LSN, tag), without
/// computing its checksum: a cheap filter before `decode_record`.
pub(crate) fn claimed_synced_lsn(b: &[u8], lsn: Lsn, tag: u32) -> Option<Lsn> {
    if b.len() < RECORD_HEADER_BYTES {
        return None;
    }
    let len = get_u32(b, R_LEN) as usize;
    let fits = len >= RECORD_HEADER_BYTES
        && len <= b.len()
        && get_u64(b, R_LSN) == lsn.0
        && get_u32(b, R_FILE_TAG) == tag;
    fits.then(|| Lsn(get_u64(b, R_SYNCED)))
}

/// One logical operation of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    Put {
        tree: &'a str,
        key: &'a [u8],
        value: &'a [u8],
    },
    Delete {
        tree: &'a str,
        key: &'a [u8],
    },
    CreateTree {
        tree: &'a str,
    },
    DeleteTree {
        tree: &'a str,
    },
    /// Not a change: the log continues in the other file.
    Switch,
}

impl Op<'_> {
    /// True for the ops of a switch marker: the record records no commit.
    pub(crate) fn is_switch_marker(ops: &[Op<'_>]) -> bool {
        ops == [Op::Switch]
    }
}

/// Splits `n` bytes off the front of `b`.
fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = b.split_at_checked(n)?;
    *b = rest;
    Some(head)
}

/// Decodes a record's operations; `None` if they do not parse (which, under
/// a valid CRC, means a writer bug or a foreign record).
pub(crate) fn decode_ops<'a>(rec: &Record<'a>) -> Option<Vec<Op<'a>>> {
    let mut ops = Vec::with_capacity(rec.op_count.min(1 << 16) as usize);
    let mut b = rec.ops;
    for _ in 0..rec.op_count {
        let kind = take(&mut b, 1)?[0];
        let name_len = take(&mut b, 1)?[0] as usize;
        let tree = std::str::from_utf8(take(&mut b, name_len)?).ok()?;
        let op = match kind {
            OP_PUT | OP_DELETE => {
                let key_len = get_u16(take(&mut b, 2)?, 0) as usize;
                let key = take(&mut b, key_len)?;
                if kind == OP_PUT {
                    let value_len = get_u32(take(&mut b, 4)?, 0) as usize;
                    Op::Put {
                        tree,
                        key,
                        value: take(&mut b, value_len)?,
                    }
                } else {
                    Op::Delete { tree, key }
                }
            }
            OP_CREATE_TREE => Op::CreateTree { tree },
            OP_DELETE_TREE => Op::DeleteTree { tree },
            // A marker is a record of its own, never one op among changes.
            OP_SWITCH if tree.is_empty() && rec.op_count == 1 => Op::Switch,
            _ => return None,
        };
        ops.push(op);
    }
    b.is_empty().then_some(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_flips() {
        let h = WalHeader {
            file_id: 0xfeed,
            base_lsn: Lsn(12345),
        };
        let b = h.encode();
        assert_eq!(WalHeader::decode(&b), Some(h));
        for i in 0..WAL_HEADER_BYTES {
            let mut c = b;
            c[i] ^= 2;
            assert_eq!(WalHeader::decode(&c), None, "flip at {i}");
        }
    }

    #[test]
    fn record_round_trip_and_flips() {
        let mut log = OpLog::default();
        log.tree(OP_CREATE_TREE, "users");
        log.put("users", b"alice", b"{}");
        log.delete("users", b"bob");
        log.tree(OP_DELETE_TREE, "old");
        let len = log.bytes();
        let b = log.encode(Lsn(500), 7, Lsn(400), 0xabcd).to_vec();
        assert_eq!(b.len(), len);
        let rec = decode_record(&b, Lsn(500), 0xabcd).unwrap();
        assert_eq!((rec.txn, rec.synced_lsn, rec.len), (7, Lsn(400), b.len()));
        let ops = decode_ops(&rec).unwrap();
        assert_eq!(
            ops,
            vec![
                Op::CreateTree { tree: "users" },
                Op::Put {
                    tree: "users",
                    key: b"alice",
                    value: b"{}"
                },
                Op::Delete {
                    tree: "users",
                    key: b"bob"
                },
                Op::DeleteTree { tree: "old" },
            ]
        );
        assert!(
            decode_record(&b, Lsn(501), 0xabcd).is_none(),
            "LSN is checked"
        );
        assert!(
            decode_record(&b, Lsn(500), 0xabce).is_none(),
            "another database's record is refused"
        );
        assert!(
            decode_record(&b[..b.len() - 1], Lsn(500), 0xabcd).is_none(),
            "truncation is caught"
        );
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x40;
            assert!(decode_record(&c, Lsn(500), 0xabcd).is_none(), "flip at {i}");
        }
    }
}
