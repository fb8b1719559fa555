//! Every byte layout of the data file, mirroring `format.md` section by section.
//!
//! Nothing outside this module reads or writes bytes at an offset. Each layout
//! is a set of named offsets with an encoder and a decoder; decoders treat their
//! input as untrusted and return [`Error::Corruption`] instead of panicking.
//! All integers are little-endian.
//!
//! * §1 file header (page 0) — [`FileHeader`]
//! * §2 meta slots (pages 1 and 2) — [`Meta`], [`TreeDesc`]
//! * §3 page header (every other page) — [`PageKind`], [`seal_page`], [`verify_page`]
//! * §4 branch and leaf pages — [`node`]
//! * §5 overflow runs — [`overflow`]
//! * §6 freelist pages — [`freelist`]
//! * §7 write-ahead log files and records — [`wal`]
//!
//! [`validate`] checks a data page read from the file against every rule of
//! §3–§6 its own bytes can show, dispatching to the kind's validator.

pub(crate) mod freelist;
pub(crate) mod node;
pub(crate) mod overflow;
pub(crate) mod validate;
pub(crate) mod wal;

use crate::error::{Error, Result};

/// A page number: byte offset `id * page_size` in the data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct PageId(pub u64);

/// A log sequence number: a position in the write-ahead log as a whole,
/// counted in bytes since the database's log began, across both files. A
/// file's records start at its `base_lsn`; `wal::offset_of` turns an LSN
/// into a byte offset in that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Bytes of log from `earlier` to here (`earlier` must not be later).
    pub fn bytes_since(self, earlier: Lsn) -> u64 {
        debug_assert!(earlier <= self, "bytes_since a later LSN");
        self.0 - earlier.0
    }
}

impl std::ops::Add<u64> for Lsn {
    type Output = Lsn;

    /// The LSN `bytes` further on. LSNs read from disk are bounded by
    /// `COUNTER_MAX`, far below where this could overflow.
    fn add(self, bytes: u64) -> Lsn {
        Lsn(self.0 + bytes)
    }
}

impl std::ops::AddAssign<u64> for Lsn {
    fn add_assign(&mut self, bytes: u64) {
        self.0 += bytes;
    }
}

impl std::fmt::Display for Lsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A transaction id: the number of the commit that produced a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct TxnId(pub u64);

/// The format version this build reads and writes. Version 2 added the
/// meta slot's log fields (`wal_base`, `meta_seq`, the clean mark) and the
/// WAL record's `file_tag`, which tie the log to its checkpoint and its
/// database; version 1 files are refused as unsupported.
pub const FORMAT_VERSION: u32 = 2;
/// The eight bytes every oakmap data file starts with.
pub const MAGIC: [u8; 8] = *b"OAKMAPDB";
/// Smallest allowed page size.
pub const PAGE_BYTES_MIN: usize = 4096;
/// Largest allowed page size (slot offsets are 16-bit).
pub const PAGE_BYTES_MAX: usize = 65536;
/// Default page size.
pub const PAGE_BYTES_DEFAULT: usize = 4096;
/// The first page that can hold tree data: 0 is the header, 1 and 2 the meta slots.
pub const FIRST_DATA_PAGE: u64 = 3;
/// No tree may be deeper than this many levels; a deeper descent is corruption.
pub const DEPTH_MAX: u32 = 32;
/// The largest value: lengths are stored as 32-bit integers.
pub const VALUE_BYTES_MAX: usize = u32::MAX as usize;
/// The largest page count a meta slot may name: `page_count * page_bytes`
/// then fits a `u64` at every page size (and any file that can exist).
pub const PAGE_COUNT_MAX: u64 = u64::MAX / PAGE_BYTES_MAX as u64;
/// The largest commit number or log position a meta slot may hold: no
/// database makes 2^62 commits or writes 2^62 bytes of log, and below it
/// every `+ 1` or `+ len` on them is free of overflow.
pub const COUNTER_MAX: u64 = 1 << 62;
/// The longest tree name.
pub const TREE_NAME_BYTES_MAX: usize = 255;

/// CRC-32 (IEEE) of `bytes`.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
pub(crate) fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// True if `page_bytes` is a page size oakmap can use.
pub fn page_size_ok(page_bytes: usize) -> bool {
    page_bytes.is_power_of_two() && (PAGE_BYTES_MIN..=PAGE_BYTES_MAX).contains(&page_bytes)
}

// ---------------------------------------------------------------------------
// §1 File header: page 0, bytes 0..64; the rest of page 0 is zero.

/// Size of the encoded file header.
pub const HEADER_BYTES: usize = 64;
const HEADER_MAGIC: usize = 0; // [u8; 8]
const HEADER_VERSION: usize = 8; // u32
const HEADER_PAGE_BYTES: usize = 12; // u32
const HEADER_FILE_ID: usize = 16; // u64: random at creation; WAL files carry it
// 24..60 reserved, zero
const HEADER_CRC: usize = 60; // u32, CRC-32 of bytes 0..60
const _: () = assert!(HEADER_CRC + 4 == HEADER_BYTES);

/// The file header: identifies the file and fixes its page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileHeader {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// Page size in bytes, fixed at creation.
    pub page_bytes: u32,
    /// A random number chosen at creation, which the WAL files repeat so a
    /// WAL is never replayed into another database.
    pub file_id: u64,
}

/// Why a file header could not be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// The magic bytes are wrong: not our file.
    NotOurs,
    /// Ours, but a version we cannot read.
    Version(u32),
    /// Ours, but damaged.
    Corrupt(&'static str),
}

/// The first pages of a file (`FIRST_DATA_PAGE` of them): the header
/// naming `file_id`, and both meta slots describing `meta`. A new database
/// and a backup's copy start this way, with the clean mark in both slots,
/// so that a torn write of either at the next open leaves the other.
pub(crate) fn first_pages(file_id: u64, meta: &Meta, page_bytes: usize) -> Vec<u8> {
    let mut b = vec![0u8; FIRST_DATA_PAGE as usize * page_bytes];
    let header = FileHeader {
        version: FORMAT_VERSION,
        page_bytes: page_bytes as u32,
        file_id,
    };
    b[..HEADER_BYTES].copy_from_slice(&header.encode());
    for slot in 0..2 {
        let at = Meta::page_of_slot(slot) as usize * page_bytes;
        b[at..at + META_BYTES].copy_from_slice(&meta.encode(slot));
    }
    b
}

impl FileHeader {
    pub(crate) fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[HEADER_MAGIC..HEADER_MAGIC + 8].copy_from_slice(&MAGIC);
        put_u32(&mut b, HEADER_VERSION, self.version);
        put_u32(&mut b, HEADER_PAGE_BYTES, self.page_bytes);
        put_u64(&mut b, HEADER_FILE_ID, self.file_id);
        let crc = crc32(&b[..HEADER_CRC]);
        put_u32(&mut b, HEADER_CRC, crc);
        b
    }

    /// Decodes `b` as if its first bytes were oakmap's magic: for a tool
    /// looking at a file whose magic was overwritten, where a checksum that
    /// holds says only the magic was damaged.
    pub(crate) fn decode_with_magic_restored(b: &[u8]) -> Result<FileHeader, HeaderError> {
        let mut restored = b.to_vec();
        if let Some(magic) = restored.get_mut(HEADER_MAGIC..HEADER_MAGIC + MAGIC.len()) {
            magic.copy_from_slice(&MAGIC);
        }
        FileHeader::decode(&restored)
    }

    /// The bytes of `b` where the magic belongs (fewer if `b` is shorter).
    pub(crate) fn magic_field(b: &[u8]) -> &[u8] {
        b.get(HEADER_MAGIC..HEADER_MAGIC + MAGIC.len()).unwrap_or(b)
    }

    /// The page size field of a header that may not decode, if `b` reaches
    /// it: unchecked, for a tool guessing the page size of a damaged file.
    pub(crate) fn page_bytes_field(b: &[u8]) -> Option<u32> {
        b.get(HEADER_PAGE_BYTES..HEADER_PAGE_BYTES + 4)
            .map(|_| get_u32(b, HEADER_PAGE_BYTES))
    }

    pub(crate) fn decode(b: &[u8]) -> Result<FileHeader, HeaderError> {
        let magic_len = b.len().min(8);
        if b[..magic_len] != MAGIC[..magic_len] || b.is_empty() {
            return Err(HeaderError::NotOurs);
        }
        if b.len() < HEADER_BYTES {
            return Err(HeaderError::Corrupt("file is shorter than its header"));
        }
        if crc32(&b[..HEADER_CRC]) != get_u32(b, HEADER_CRC) {
            return Err(HeaderError::Corrupt("header checksum mismatch"));
        }
        let version = get_u32(b, HEADER_VERSION);
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        let page_bytes = get_u32(b, HEADER_PAGE_BYTES);
        if !page_size_ok(page_bytes as usize) {
            return Err(HeaderError::Corrupt("header page size is not allowed"));
        }
        Ok(FileHeader {
            version,
            page_bytes,
            file_id: get_u64(b, HEADER_FILE_ID),
        })
    }
}

// ---------------------------------------------------------------------------
// §2 Meta slots: pages 1 and 2, bytes 0..96 each; the rest of the page is zero.

/// Where a tree lives: its root page, entry count and depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TreeDesc {
    /// Root page, or `PageId(0)` for an empty tree.
    pub root: PageId,
    /// Number of entries.
    pub len: u64,
    /// Number of levels: 0 for an empty tree, 1 for a lone leaf.
    pub depth: u32,
}

/// Size of an encoded [`TreeDesc`].
pub const TREE_DESC_BYTES: usize = 24;
const DESC_ROOT: usize = 0; // u64
const DESC_LEN: usize = 8; // u64
const DESC_DEPTH: usize = 16; // u32
// 20..24 reserved, zero

impl TreeDesc {
    pub(crate) fn encode(&self, b: &mut [u8]) {
        put_u64(b, DESC_ROOT, self.root.0);
        put_u64(b, DESC_LEN, self.len);
        put_u32(b, DESC_DEPTH, self.depth);
        put_u32(b, DESC_DEPTH + 4, 0);
    }

    pub(crate) fn to_bytes(self) -> [u8; TREE_DESC_BYTES] {
        let mut b = [0u8; TREE_DESC_BYTES];
        self.encode(&mut b);
        b
    }

    /// Decodes a descriptor; `page` names where it was read for errors.
    pub(crate) fn decode(b: &[u8], page: u64) -> Result<TreeDesc> {
        if b.len() != TREE_DESC_BYTES {
            return Err(Error::corrupt(page, "tree descriptor has the wrong length"));
        }
        let desc = TreeDesc {
            root: PageId(get_u64(b, DESC_ROOT)),
            len: get_u64(b, DESC_LEN),
            depth: get_u32(b, DESC_DEPTH),
        };
        if desc.depth > DEPTH_MAX {
            return Err(Error::corrupt(
                page,
                format!("tree depth {} over the bound", desc.depth),
            ));
        }
        if (desc.depth == 0) != (desc.root.0 == 0) {
            return Err(Error::corrupt(
                page,
                "tree descriptor: root and depth disagree",
            ));
        }
        Ok(desc)
    }
}

/// One meta slot: the root of a committed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    /// The commit that wrote this slot.
    pub txn: TxnId,
    /// Pages in use by the file: every page id referenced is below this.
    pub page_count: u64,
    /// The catalog: the tree of named trees.
    pub catalog: TreeDesc,
    /// First freelist page, or `PageId(0)` if there are no free pages.
    pub freelist_head: PageId,
    /// Number of free page ids listed in the freelist.
    pub free_count: u64,
    /// Position in the write-ahead log this state covers: replay from here.
    pub wal_lsn: Lsn,
    /// `base_lsn` of the WAL file that holds `wal_lsn`: the file recovery
    /// needs (unless `clean`). At most `wal_lsn`.
    pub wal_base: Lsn,
    /// Which WAL file (0 or 1) that is, as written; recovery accepts either
    /// file that holds the position, and names this one when neither does.
    pub wal_file: usize,
    /// Counts meta writes; of two valid slots with the same `txn`, the one
    /// with the larger `seq` is newer.
    pub seq: u64,
    /// Written by a clean close: the log holds no commit this state lacks,
    /// so it is not needed to open. Cleared (by a new meta write) before
    /// the first commit after an open can be acknowledged.
    pub clean: bool,
}

/// Size of an encoded meta slot.
pub const META_BYTES: usize = 96;
const META_CRC: usize = 0; // u32, CRC-32 of bytes 4..96
const META_SLOT: usize = 4; // u32: 0 or 1
const META_TXN: usize = 8; // u64
const META_PAGE_COUNT: usize = 16; // u64
const META_CATALOG: usize = 24; // TreeDesc, 24 bytes
const META_FREELIST_HEAD: usize = 48; // u64
const META_FREE_COUNT: usize = 56; // u64
const META_WAL_LSN: usize = 64; // u64
const META_WAL_BASE: usize = 72; // u64
const META_SEQ: usize = 80; // u64
const META_FLAGS: usize = 88; // u32: bit 0 = clean, bit 1 = wal_file
// 92..96 reserved, zero
const META_FLAG_CLEAN: u32 = 1;
const META_FLAG_WAL1: u32 = 2;
const _: () = assert!(META_CATALOG + TREE_DESC_BYTES == META_FREELIST_HEAD);
const _: () = assert!(META_FLAGS + 8 == META_BYTES);

impl Meta {
    /// Of two valid slots, whether this one is the newer: the larger
    /// `txn`, then the larger `seq` (recovery and the tools choose alike).
    pub(crate) fn is_newer_than(&self, other: &Meta) -> bool {
        (self.txn, self.seq) > (other.txn, other.seq)
    }

    /// The page that holds meta slot `slot` (0 or 1).
    pub(crate) fn page_of_slot(slot: usize) -> u64 {
        1 + slot as u64
    }

    pub(crate) fn encode(&self, slot: usize) -> [u8; META_BYTES] {
        let mut b = [0u8; META_BYTES];
        put_u32(&mut b, META_SLOT, slot as u32);
        put_u64(&mut b, META_TXN, self.txn.0);
        put_u64(&mut b, META_PAGE_COUNT, self.page_count);
        self.catalog
            .encode(&mut b[META_CATALOG..META_CATALOG + TREE_DESC_BYTES]);
        put_u64(&mut b, META_FREELIST_HEAD, self.freelist_head.0);
        put_u64(&mut b, META_FREE_COUNT, self.free_count);
        put_u64(&mut b, META_WAL_LSN, self.wal_lsn.0);
        put_u64(&mut b, META_WAL_BASE, self.wal_base.0);
        put_u64(&mut b, META_SEQ, self.seq);
        let clean = if self.clean { META_FLAG_CLEAN } else { 0 };
        let wal1 = if self.wal_file == 1 {
            META_FLAG_WAL1
        } else {
            0
        };
        put_u32(&mut b, META_FLAGS, clean | wal1);
        let crc = crc32(&b[META_CRC + 4..]);
        put_u32(&mut b, META_CRC, crc);
        b
    }

    /// Decodes slot `slot` from the first bytes of its page.
    pub(crate) fn decode(b: &[u8], slot: usize) -> Result<Meta> {
        let page = Meta::page_of_slot(slot);
        if b.len() < META_BYTES {
            return Err(Error::corrupt(page, "meta slot is truncated"));
        }
        let b = &b[..META_BYTES];
        if crc32(&b[META_CRC + 4..]) != get_u32(b, META_CRC) {
            return Err(Error::corrupt(page, "meta slot checksum mismatch"));
        }
        if get_u32(b, META_SLOT) as usize != slot {
            return Err(Error::corrupt(
                page,
                "meta slot number does not match its page",
            ));
        }
        let meta = Meta {
            txn: TxnId(get_u64(b, META_TXN)),
            page_count: get_u64(b, META_PAGE_COUNT),
            catalog: TreeDesc::decode(&b[META_CATALOG..META_CATALOG + TREE_DESC_BYTES], page)?,
            freelist_head: PageId(get_u64(b, META_FREELIST_HEAD)),
            free_count: get_u64(b, META_FREE_COUNT),
            wal_lsn: Lsn(get_u64(b, META_WAL_LSN)),
            wal_base: Lsn(get_u64(b, META_WAL_BASE)),
            seq: get_u64(b, META_SEQ),
            wal_file: usize::from(get_u32(b, META_FLAGS) & META_FLAG_WAL1 != 0),
            clean: get_u32(b, META_FLAGS) & META_FLAG_CLEAN != 0,
        };
        if get_u32(b, META_FLAGS) & !(META_FLAG_CLEAN | META_FLAG_WAL1) != 0 {
            return Err(Error::corrupt(page, "meta slot has unknown flags"));
        }
        if meta.page_count < FIRST_DATA_PAGE {
            return Err(Error::corrupt(
                page,
                "meta page count below the reserved pages",
            ));
        }
        // So that `page_count * page_bytes` never overflows, wherever it is
        // computed: a larger count is no file that could exist anyway.
        if meta.page_count > PAGE_COUNT_MAX {
            return Err(Error::corrupt(page, "meta page count is impossibly large"));
        }
        if meta.txn.0 > COUNTER_MAX || meta.wal_lsn.0 > COUNTER_MAX || meta.seq > COUNTER_MAX {
            return Err(Error::corrupt(
                page,
                "meta commit number, log position or write count is impossibly large",
            ));
        }
        if meta.wal_base > meta.wal_lsn {
            return Err(Error::corrupt(
                page,
                "meta slot's log file starts after the position it covers",
            ));
        }
        Ok(meta)
    }
}

// ---------------------------------------------------------------------------
// §3 Page header: bytes 0..32 of every page from FIRST_DATA_PAGE on.

/// Size of the header at the start of every data page.
pub const PAGE_HEADER_BYTES: usize = 32;
const PH_CRC: usize = 0; // u32: CRC-32 of bytes 4..end of page (or overflow run)
pub(crate) const PH_KIND: usize = 4; // u8
// 5: reserved u8, zero
const PH_COUNT: usize = 6; // u16: cells or entries in the page
pub(crate) const PH_PAGE_ID: usize = 8; // u64: the page's own id
pub(crate) const PH_TXN: usize = 16; // u64: the commit that wrote it
/// Offset of the 8 kind-specific bytes (see §4–§6).
pub(crate) const PH_KIND_SPECIFIC: usize = 24;
const _: () = assert!(PH_KIND_SPECIFIC + 8 == PAGE_HEADER_BYTES);

/// What a data page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKind {
    /// Interior node: separator keys and child page ids.
    Branch = 1,
    /// Leaf node: keys and values (or overflow references).
    Leaf = 2,
    /// First page of a run holding one large value.
    Overflow = 3,
    /// A list of free page ids.
    Freelist = 4,
}

impl PageKind {
    pub(crate) fn from_u8(v: u8) -> Option<PageKind> {
        match v {
            1 => Some(PageKind::Branch),
            2 => Some(PageKind::Leaf),
            3 => Some(PageKind::Overflow),
            4 => Some(PageKind::Freelist),
            _ => None,
        }
    }
}

/// The common header's fields as stored, undecoded (for tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawPageHeader {
    /// The checksum as stored.
    pub crc: u32,
    /// The checksum the bytes have (over the page, or the first page of a run).
    pub crc_computed: u32,
    /// The kind byte (1 branch, 2 leaf, 3 overflow, 4 freelist).
    pub kind: u8,
    /// Cells or entries.
    pub count: u16,
    /// The id the page gives itself.
    pub page_id: u64,
    /// The commit that wrote the page.
    pub txn: u64,
    /// The kind-specific word (bytes 24..32).
    pub specific: u64,
}

pub(crate) fn raw_page_header(b: &[u8]) -> RawPageHeader {
    RawPageHeader {
        crc: get_u32(b, PH_CRC),
        crc_computed: crc32(&b[PH_CRC + 4..]),
        kind: b[PH_KIND],
        count: get_u16(b, PH_COUNT),
        page_id: get_u64(b, PH_PAGE_ID),
        txn: get_u64(b, PH_TXN),
        specific: get_u64(b, PH_KIND_SPECIFIC),
    }
}

/// A page header's kind-specific bytes (bytes 24..32), decoded by the
/// page's kind byte (§4–§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KindSpecific {
    /// A branch or leaf page (§4).
    Node { data_start: u32 },
    /// The first page of an overflow run (§5).
    Overflow { run_pages: u32, value_len: u32 },
    /// A freelist page (§6).
    Freelist { next: u64 },
}

/// The kind-specific bytes of page `b` (a whole page), unchecked: for tools
/// showing the fields of a page that may not decode. `None` when the kind
/// byte is no kind.
pub(crate) fn kind_specific(b: &[u8]) -> Option<KindSpecific> {
    Some(match page_kind(b)? {
        PageKind::Branch | PageKind::Leaf => KindSpecific::Node {
            data_start: node::data_start_field(b),
        },
        PageKind::Overflow => {
            let (run_pages, value_len) = overflow::fields(b);
            KindSpecific::Overflow {
                run_pages,
                value_len,
            }
        }
        PageKind::Freelist => KindSpecific::Freelist {
            next: freelist::next_field(b),
        },
    })
}

/// The txn a page header says wrote the page.
pub(crate) fn page_txn(b: &[u8]) -> u64 {
    get_u64(b, PH_TXN)
}

pub(crate) fn page_kind(b: &[u8]) -> Option<PageKind> {
    PageKind::from_u8(b[PH_KIND])
}
pub(crate) fn page_count_field(b: &[u8]) -> u16 {
    get_u16(b, PH_COUNT)
}
pub(crate) fn set_page_count_field(b: &mut [u8], count: u16) {
    put_u16(b, PH_COUNT, count)
}

/// Writes a fresh header of `kind` with zero count; kind-specific bytes zeroed.
pub(crate) fn init_page_header(b: &mut [u8], kind: PageKind) {
    b[..PAGE_HEADER_BYTES].fill(0);
    b[PH_KIND] = kind as u8;
}

/// Stamps the page id, commit and checksum just before the page is written.
pub(crate) fn seal_page(b: &mut [u8], id: PageId, txn: TxnId) {
    put_u64(b, PH_PAGE_ID, id.0);
    put_u64(b, PH_TXN, txn.0);
    let crc = crc32(&b[PH_CRC + 4..]);
    put_u32(b, PH_CRC, crc);
}

/// Checks a page (or overflow run) read from the file: its checksum, and that
/// it names itself `id`. Does not look at the kind.
pub(crate) fn verify_page(b: &[u8], id: PageId, verify_crc: bool) -> Result<()> {
    if b.len() < PAGE_HEADER_BYTES {
        return Err(Error::corrupt(id.0, "page shorter than its header"));
    }
    if get_u64(b, PH_PAGE_ID) != id.0 {
        return Err(Error::corrupt(
            id.0,
            format!("page header names page {}", get_u64(b, PH_PAGE_ID)),
        ));
    }
    if verify_crc && crc32(&b[PH_CRC + 4..]) != get_u32(b, PH_CRC) {
        return Err(Error::corrupt(id.0, "page checksum mismatch"));
    }
    Ok(())
}

/// The largest cell, slot included, that a branch or leaf accepts: a third of
/// the page body, so a split always leaves both halves with room to spare.
pub(crate) fn cell_bytes_max(page_bytes: usize) -> usize {
    (page_bytes - PAGE_HEADER_BYTES) / 3
}

/// The longest key at a page size: a leaf cell holding it and an overflow
/// reference must stay within `cell_bytes_max` (1,337 bytes at 4 KiB).
pub fn key_bytes_max(page_bytes: usize) -> usize {
    cell_bytes_max(page_bytes) - node::SLOT_BYTES - node::LEAF_CELL_HEADER - 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_flips() {
        let h = FileHeader {
            version: FORMAT_VERSION,
            page_bytes: 8192,
            file_id: 0x0123_4567_89ab_cdef,
        };
        let b = h.encode();
        assert_eq!(FileHeader::decode(&b), Ok(h));
        for i in 0..HEADER_BYTES {
            let mut c = b;
            c[i] ^= 0x10;
            assert!(FileHeader::decode(&c).is_err(), "flip at byte {i} accepted");
        }
        assert_eq!(
            FileHeader::decode(b"SQLite format 3\0"),
            Err(HeaderError::NotOurs)
        );
        assert!(matches!(
            FileHeader::decode(&b[..20]),
            Err(HeaderError::Corrupt(_))
        ));
    }

    #[test]
    fn header_with_damaged_magic() {
        let h = FileHeader {
            version: FORMAT_VERSION,
            page_bytes: 16384,
            file_id: 7,
        };
        let mut b = h.encode();
        b[0] = b'X';
        assert_eq!(FileHeader::decode(&b), Err(HeaderError::NotOurs));
        assert_eq!(FileHeader::decode_with_magic_restored(&b), Ok(h));
        assert_eq!(FileHeader::magic_field(&b), b"XAKMAPDB");
        assert_eq!(FileHeader::page_bytes_field(&b), Some(16384));
        b[HEADER_FILE_ID] ^= 1;
        assert!(FileHeader::decode_with_magic_restored(&b).is_err());
        assert_eq!(FileHeader::magic_field(&b[..3]), b"XAK");
        assert_eq!(FileHeader::page_bytes_field(&b[..15]), None);
    }

    #[test]
    fn kind_specific_of_each_kind() {
        let mut p = vec![0u8; 4096];
        node::init_node(&mut p, PageKind::Leaf);
        assert_eq!(
            kind_specific(&p),
            Some(KindSpecific::Node { data_start: 4096 })
        );
        freelist::write_page(&mut p, &[5], PageId(77));
        assert_eq!(kind_specific(&p), Some(KindSpecific::Freelist { next: 77 }));
        p[PH_KIND] = 9;
        assert_eq!(kind_specific(&p), None);
        let head = overflow::run_header(PageId(3), TxnId(1), &[7u8; 5000], 4096);
        p[..head.len()].copy_from_slice(&head);
        assert_eq!(
            kind_specific(&p),
            Some(KindSpecific::Overflow {
                run_pages: 2,
                value_len: 5000
            })
        );
    }

    #[test]
    fn meta_round_trip_and_flips() {
        let m = Meta {
            txn: TxnId(77),
            page_count: 1234,
            catalog: TreeDesc {
                root: PageId(9),
                len: 3,
                depth: 2,
            },
            freelist_head: PageId(11),
            free_count: 40,
            wal_lsn: Lsn(900),
            wal_base: Lsn(800),
            wal_file: 1,
            seq: 5,
            clean: true,
        };
        let b = m.encode(1);
        assert_eq!(Meta::decode(&b, 1).unwrap(), m);
        for huge in [
            Meta { seq: u64::MAX, ..m },
            Meta {
                txn: TxnId(u64::MAX),
                ..m
            },
            Meta {
                wal_lsn: Lsn(u64::MAX),
                ..m
            },
            Meta {
                page_count: u64::MAX,
                ..m
            },
        ] {
            assert!(Meta::decode(&huge.encode(1), 1).is_err(), "{huge:?}");
        }
        assert!(Meta::decode(&b, 0).is_err(), "slot number is checked");
        for i in 0..META_BYTES {
            let mut c = b;
            c[i] ^= 0x01;
            assert!(Meta::decode(&c, 1).is_err(), "flip at byte {i} accepted");
        }
    }

    #[test]
    fn tree_desc_rejects_inconsistent() {
        let d = TreeDesc {
            root: PageId(5),
            len: 1,
            depth: 1,
        };
        assert_eq!(TreeDesc::decode(&d.to_bytes(), 0).unwrap(), d);
        let bad = TreeDesc { depth: 0, ..d };
        assert!(TreeDesc::decode(&bad.to_bytes(), 0).is_err());
        let deep = TreeDesc { depth: 99, ..d };
        assert!(TreeDesc::decode(&deep.to_bytes(), 0).is_err());
    }

    #[test]
    fn sealed_page_verifies_and_flips_fail() {
        let mut p = vec![0u8; 4096];
        init_page_header(&mut p, PageKind::Leaf);
        p[100] = 7;
        seal_page(&mut p, PageId(42), TxnId(3));
        verify_page(&p, PageId(42), true).unwrap();
        assert!(verify_page(&p, PageId(43), true).is_err());
        for i in [0usize, 4, 6, 9, 17, 100, 4095] {
            let mut c = p.clone();
            c[i] ^= 0x80;
            assert!(verify_page(&c, PageId(42), true).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn limits_at_page_sizes() {
        assert_eq!(key_bytes_max(4096), 1337);
        assert!(key_bytes_max(65536) < u16::MAX as usize);
        assert!(page_size_ok(4096) && page_size_ok(65536) && !page_size_ok(3000));
        assert!(!page_size_ok(131072));
    }
}
