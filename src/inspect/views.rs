//! The views [`RawDb`](super::RawDb) gives of a data file: plain fields
//! of plain types, named as format.md names them, decoded by `format` and
//! copied out, so the byte layout itself stays private to the crate.

use crate::format::{self, FileHeader, KindSpecific, Meta, PageId, TreeDesc};

/// The file header's fields (format.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderFields {
    /// The format version.
    pub format_version: u32,
    /// Page size in bytes, fixed at creation.
    pub page_bytes: u32,
    /// Random at creation; the WAL files repeat it.
    pub file_id: u64,
}

impl From<FileHeader> for HeaderFields {
    fn from(h: FileHeader) -> HeaderFields {
        HeaderFields {
            format_version: h.version,
            page_bytes: h.page_bytes,
            file_id: h.file_id,
        }
    }
}

/// The file header as found.
#[derive(Debug, Clone)]
pub struct HeaderView {
    /// Decoded, if it decodes (see [`RawDb::open_forced`](super::RawDb::open_forced) for a header whose
    /// only damage is its magic bytes: decoded, with a `problem`).
    pub header: Option<HeaderFields>,
    /// What is wrong with it; `None` when it is sound.
    pub problem: Option<String>,
}

/// A tree descriptor's fields (format.md §2): where a tree lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeFields {
    /// Root page, or 0 for an empty tree.
    pub root: u64,
    /// Number of entries.
    pub len: u64,
    /// Levels: 0 for an empty tree, 1 for a lone leaf.
    pub depth: u32,
}

impl From<TreeDesc> for TreeFields {
    fn from(d: TreeDesc) -> TreeFields {
        TreeFields {
            root: d.root.0,
            len: d.len,
            depth: d.depth,
        }
    }
}

impl From<&TreeFields> for TreeDesc {
    fn from(t: &TreeFields) -> TreeDesc {
        TreeDesc {
            root: PageId(t.root),
            len: t.len,
            depth: t.depth,
        }
    }
}

/// A meta slot's fields (format.md §2): one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaFields {
    /// The commit that wrote this state.
    pub txn_id: u64,
    /// Every page id of this state is below it.
    pub page_count: u64,
    /// The catalog: the tree of named trees.
    pub catalog: TreeFields,
    /// First freelist page, or 0 for none.
    pub freelist_head: u64,
    /// Page ids the freelist lists.
    pub free_count: u64,
    /// The log position this state covers: replay records from here.
    pub wal_lsn: u64,
    /// `base_lsn` of the WAL file holding `wal_lsn`.
    pub wal_base: u64,
    /// Which WAL file (0 or 1) holds `wal_lsn`.
    pub wal_file: usize,
    /// Counts meta writes: the tie-break between slots of equal `txn_id`.
    pub seq: u64,
    /// Written by a clean close: the log is not needed to open.
    pub clean: bool,
}

impl From<Meta> for MetaFields {
    fn from(m: Meta) -> MetaFields {
        MetaFields {
            txn_id: m.txn.0,
            page_count: m.page_count,
            catalog: m.catalog.into(),
            freelist_head: m.freelist_head.0,
            free_count: m.free_count,
            wal_lsn: m.wal_lsn.0,
            wal_base: m.wal_base.0,
            wal_file: m.wal_file,
            seq: m.seq,
            clean: m.clean,
        }
    }
}

/// One meta slot as found.
#[derive(Debug, Clone)]
pub struct MetaView {
    /// 0 or 1.
    pub slot: usize,
    /// Decoded, or why not.
    pub meta: std::result::Result<MetaFields, String>,
    /// The slot recovery would use.
    pub newest: bool,
}

/// What a data page holds, by its kind byte (format.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// Interior node: separator keys and child pages.
    Branch,
    /// Leaf node: keys and values (or overflow references).
    Leaf,
    /// First page of a run holding one large value.
    Overflow,
    /// A list of free page ids.
    Freelist,
}

impl From<format::PageKind> for PageKind {
    fn from(k: format::PageKind) -> PageKind {
        match k {
            format::PageKind::Branch => PageKind::Branch,
            format::PageKind::Leaf => PageKind::Leaf,
            format::PageKind::Overflow => PageKind::Overflow,
            format::PageKind::Freelist => PageKind::Freelist,
        }
    }
}

/// A page header's fields as stored (format.md §3), undecoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeaderFields {
    /// The checksum as stored.
    pub page_crc: u32,
    /// The checksum the page's bytes have.
    pub crc_computed: u32,
    /// The kind byte (1 branch, 2 leaf, 3 overflow, 4 freelist).
    pub kind: u8,
    /// Cells or entries.
    pub count: u16,
    /// The id the page gives itself.
    pub page_id: u64,
    /// The commit that wrote the page.
    pub txn_id: u64,
    /// The kind-specific bytes (24..32) as one number; see [`KindFields`].
    pub kind_specific: u64,
}

/// What a page header's kind-specific bytes say (format.md §4–§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindFields {
    /// A branch or leaf page.
    Node {
        /// Offset of the lowest cell byte.
        data_start: u32,
    },
    /// The first page of an overflow run.
    Overflow {
        /// Pages in the run.
        run_pages: u32,
        /// Length of the value.
        value_len: u32,
    },
    /// A freelist page.
    Freelist {
        /// The next page of the chain, or 0.
        next: u64,
    },
}

impl From<KindSpecific> for KindFields {
    fn from(k: KindSpecific) -> KindFields {
        match k {
            KindSpecific::Node { data_start } => KindFields::Node { data_start },
            KindSpecific::Overflow {
                run_pages,
                value_len,
            } => KindFields::Overflow {
                run_pages,
                value_len,
            },
            KindSpecific::Freelist { next } => KindFields::Freelist { next },
        }
    }
}

/// One cell of a branch or leaf page.
#[derive(Debug, Clone)]
pub enum CellView {
    /// A branch cell: separator key and child page.
    Branch {
        /// The separator (empty in cell 0).
        key: Vec<u8>,
        /// The child page.
        child: u64,
    },
    /// A leaf cell with its value inline.
    Inline {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// A leaf cell whose value is in an overflow run.
    Overflow {
        /// The key.
        key: Vec<u8>,
        /// First page of the run.
        page: u64,
        /// Value length.
        len: u32,
    },
}

impl CellView {
    /// The cell's key.
    pub fn key(&self) -> &[u8] {
        match self {
            CellView::Branch { key, .. }
            | CellView::Inline { key, .. }
            | CellView::Overflow { key, .. } => key,
        }
    }
}

/// One page, decoded as far as it goes.
#[derive(Debug, Clone)]
pub struct PageView {
    /// The page number.
    pub id: u64,
    /// The header fields as stored.
    pub header: PageHeaderFields,
    /// The kind, if the kind byte is one.
    pub kind: Option<PageKind>,
    /// The kind-specific fields, if the kind byte is a kind.
    pub kind_fields: Option<KindFields>,
    /// Whether the stored checksum matches (for an overflow run: the whole run).
    pub crc_ok: bool,
    /// Cells (branch, leaf) in slot order.
    pub cells: Vec<CellView>,
    /// Entries (freelist pages).
    pub free_ids: Vec<u64>,
    /// Bytes used by slots and cells (branch, leaf).
    pub used_bytes: usize,
    /// What could not be decoded.
    pub problem: Option<String>,
    /// The raw bytes.
    pub bytes: Vec<u8>,
}

/// One page of a tree, as a tree walk meets it.
#[derive(Debug, Clone)]
pub struct TreePage {
    /// The page number.
    pub id: u64,
    /// 0 at the root.
    pub level: u32,
    /// Whether it is a leaf.
    pub leaf: bool,
    /// Cells.
    pub count: usize,
    /// Smallest and largest key (branch: of its separators after cell 0).
    pub first_key: Option<Vec<u8>>,
    /// See `first_key`.
    pub last_key: Option<Vec<u8>>,
    /// Fraction of the page body in use.
    pub fill: f64,
    /// What was wrong with it.
    pub problem: Option<String>,
}

/// A leaf value as stored.
#[derive(Debug, Clone, Copy)]
pub enum LeafValue<'a> {
    /// Inline bytes.
    Inline(&'a [u8]),
    /// In an overflow run.
    Overflow {
        /// First page of the run.
        page: u64,
        /// Value length.
        len: u32,
    },
}

/// The freelist of the newest checkpoint.
#[derive(Debug, Clone, Default)]
pub struct FreelistView {
    /// The freelist's own pages, in chain order.
    pub pages: Vec<u64>,
    /// The free page ids it lists.
    pub ids: Vec<u64>,
    /// What went wrong walking it.
    pub problem: Option<String>,
}

/// Page 0, 1 or 2 as [`RawDb::reserved_page`](super::RawDb::reserved_page)
/// finds it: the file header or a meta slot, not a data page.
#[derive(Debug, Clone)]
pub struct ReservedPageView {
    /// The page number: 0, 1 or 2.
    pub id: u64,
    /// What it holds, decoded.
    pub content: ReservedContent,
    /// The length of what it holds (the header's or a meta slot's bytes);
    /// the rest of the page is written as zero and ignored on read.
    pub used_bytes: usize,
    /// The offset of the first byte past `used_bytes` that is not zero, if
    /// any: harmless (no reader looks there), but not what oakmap writes.
    pub nonzero_at: Option<usize>,
    /// The raw bytes.
    pub bytes: Vec<u8>,
}

/// What a reserved page holds.
#[derive(Debug, Clone)]
pub enum ReservedContent {
    /// Page 0: the file header (format.md §1).
    Header(HeaderView),
    /// Page 1 or 2: meta slot 0 or 1 (format.md §2).
    Meta(MetaView),
}

/// An overflow run a page lies in, and whose value it holds
/// ([`RawDb::overflow_run_holding`](super::RawDb::overflow_run_holding)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHolding {
    /// The run's first page, the one with a header.
    pub first_page: u64,
    /// Pages in the run.
    pub run_pages: u64,
    /// The tree whose entry references the run.
    pub tree: String,
    /// That entry's key.
    pub key: Vec<u8>,
}
