//! §4 Branch and leaf pages: a slotted page.
//!
//! After the 32-byte page header comes an array of `count` 16-bit cell offsets
//! in key order; cells are packed at the end of the page, growing down toward
//! the slot array. The kind-specific header word (bytes 24..28) holds
//! `data_start`, the offset of the lowest cell. Cells are kept packed: removing
//! one moves the cells below it up, so free space is always the one gap between
//! the slot array and `data_start`.
//!
//! Leaf cell:   `key_len u16 | val_len u32 | flags u8 | key | value or overflow page u64`
//! Branch cell: `key_len u16 | child u64 | key`
//!
//! A branch with n cells has n children; cell 0's key is always empty and
//! stands for "everything below cell 1's key". Child i holds keys k with
//! `key_i <= k < key_{i+1}`.

use super::validate::check_ref;
use super::{
    PAGE_HEADER_BYTES, PH_KIND_SPECIFIC, PageId, PageKind, cell_bytes_max, get_u16, get_u32,
    get_u64, init_page_header, key_bytes_max, overflow, page_count_field, page_kind, put_u16,
    put_u32, set_page_count_field,
};
use crate::error::{Error, Result};

/// Bytes per slot-array entry.
pub(crate) const SLOT_BYTES: usize = 2;
/// Bytes of a leaf cell before its key.
pub(crate) const LEAF_CELL_HEADER: usize = 7;

/// Whether a value of `value_len` bytes under a key of `key_len` sits in
/// its leaf cell (true) or in an overflow run the cell points to: inline
/// when the cell and its slot fit in `cell_bytes_max`.
pub(crate) fn value_inline(key_len: usize, value_len: usize, page_bytes: usize) -> bool {
    LEAF_CELL_HEADER + key_len + value_len + SLOT_BYTES <= cell_bytes_max(page_bytes)
}
/// Bytes of a branch cell before its key.
pub(crate) const BRANCH_CELL_HEADER: usize = 10;
/// Leaf cell flag: the value lives in an overflow run.
pub(crate) const FLAG_OVERFLOW: u8 = 1;

const DATA_START: usize = PH_KIND_SPECIFIC; // u32 within bytes 24..28; 28..32 zero

/// `data_start` as stored in page `b` (a whole page), unchecked: for tools
/// showing the fields of a page that may not decode.
pub(crate) fn data_start_field(b: &[u8]) -> u32 {
    get_u32(b, DATA_START)
}

/// A value as stored in a leaf cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellValue<'a> {
    /// Bytes stored in the cell itself.
    Inline(&'a [u8]),
    /// A value of `len` bytes in the overflow run starting at `page`.
    Overflow { page: PageId, len: u32 },
}

/// Encodes a leaf cell.
pub(crate) fn leaf_cell(key: &[u8], value: CellValue<'_>) -> Vec<u8> {
    let (len, flags, tail): (u32, u8, usize) = match value {
        CellValue::Inline(v) => (v.len() as u32, 0, v.len()),
        CellValue::Overflow { len, .. } => (len, FLAG_OVERFLOW, 8),
    };
    let mut c = Vec::with_capacity(LEAF_CELL_HEADER + key.len() + tail);
    c.extend_from_slice(&(key.len() as u16).to_le_bytes());
    c.extend_from_slice(&len.to_le_bytes());
    c.push(flags);
    c.extend_from_slice(key);
    match value {
        CellValue::Inline(v) => c.extend_from_slice(v),
        CellValue::Overflow { page, .. } => c.extend_from_slice(&page.0.to_le_bytes()),
    }
    c
}

/// The flags byte of a leaf cell this process encoded or copied out of a
/// validated node (`0` for an inline value as `leaf_cell` writes it).
pub(crate) fn leaf_cell_flags(cell: &[u8]) -> u8 {
    cell[LEAF_CELL_HEADER - 1]
}

/// Encodes a branch cell.
pub(crate) fn branch_cell(key: &[u8], child: PageId) -> Vec<u8> {
    let mut c = Vec::with_capacity(BRANCH_CELL_HEADER + key.len());
    c.extend_from_slice(&(key.len() as u16).to_le_bytes());
    c.extend_from_slice(&child.0.to_le_bytes());
    c.extend_from_slice(key);
    c
}

/// The key of a cell this process encoded (`leaf_cell`, `branch_cell`) or
/// copied out of a validated node.
pub(crate) fn cell_key(cell: &[u8], leaf: bool) -> &[u8] {
    let len = usize::from(u16::from_le_bytes([cell[0], cell[1]]));
    let start = if leaf {
        LEAF_CELL_HEADER
    } else {
        BRANCH_CELL_HEADER
    };
    &cell[start..start + len]
}

/// The child of a branch cell this process encoded or copied out of a
/// validated node.
pub(crate) fn cell_child(cell: &[u8]) -> PageId {
    PageId(u64::from_le_bytes(
        cell[2..BRANCH_CELL_HEADER].try_into().expect("8 bytes"),
    ))
}

/// A read-only view of a branch or leaf page; every accessor is bounds-checked
/// against the page and reports corruption by page id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node<'a> {
    b: &'a [u8],
    id: PageId,
    leaf: bool,
}

impl<'a> Node<'a> {
    /// Views `b` as page `id`, which must be a leaf (if `leaf`) or a branch.
    pub(crate) fn new(b: &'a [u8], id: PageId, leaf: bool) -> Result<Node<'a>> {
        let want = if leaf {
            PageKind::Leaf
        } else {
            PageKind::Branch
        };
        if page_kind(b) != Some(want) {
            return Err(Error::corrupt(
                id.0,
                format!("expected a {want:?} page, found kind byte {}", b[4]),
            ));
        }
        let count = page_count_field(b) as usize;
        let slots_end = PAGE_HEADER_BYTES + count * SLOT_BYTES;
        let data_start = get_u32(b, DATA_START) as usize;
        if slots_end > data_start || data_start > b.len() {
            return Err(Error::corrupt(id.0, "slot array overlaps cell data"));
        }
        Ok(Node { b, id, leaf })
    }

    pub(crate) fn id(&self) -> PageId {
        self.id
    }
    /// The page's bytes.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.b
    }
    pub(crate) fn is_leaf(&self) -> bool {
        self.leaf
    }
    pub(crate) fn count(&self) -> usize {
        page_count_field(self.b) as usize
    }

    /// Bytes used by slots and cells (the page body minus free space).
    pub(crate) fn used_bytes(&self) -> usize {
        self.count() * SLOT_BYTES + (self.b.len() - self.data_start())
    }

    /// The raw bytes of cell `i`, checked to lie inside the cell area.
    pub(crate) fn cell(&self, i: usize) -> Result<&'a [u8]> {
        let count = self.count();
        let bad = |what: &str| Error::corrupt(self.id.0, format!("cell {i}: {what}"));
        if i >= count {
            return Err(bad("index past the cell count"));
        }
        let off = get_u16(self.b, PAGE_HEADER_BYTES + i * SLOT_BYTES) as usize;
        if off < self.data_start() || off >= self.b.len() {
            return Err(bad("offset outside the cell area"));
        }
        let rest = &self.b[off..];
        let header = if self.leaf {
            LEAF_CELL_HEADER
        } else {
            BRANCH_CELL_HEADER
        };
        if rest.len() < header {
            return Err(bad("header runs off the page"));
        }
        match cell_len(rest, self.leaf) {
            Some(len) if len <= rest.len() as u64 => Ok(&rest[..len as usize]),
            _ => Err(bad("runs off the page")),
        }
    }

    /// `data_start`, which `new` checked to lie in `slots_end..=P`.
    fn data_start(&self) -> usize {
        get_u32(self.b, DATA_START) as usize
    }

    pub(crate) fn key(&self, i: usize) -> Result<&'a [u8]> {
        let c = self.cell(i)?;
        let key_len = get_u16(c, 0) as usize;
        let start = if self.leaf {
            LEAF_CELL_HEADER
        } else {
            BRANCH_CELL_HEADER
        };
        Ok(&c[start..start + key_len])
    }

    /// The value of leaf cell `i`.
    pub(crate) fn value(&self, i: usize) -> Result<CellValue<'a>> {
        Ok(self.entry(i)?.1)
    }

    /// The key and value of leaf cell `i`, from one look at the cell.
    pub(crate) fn entry(&self, i: usize) -> Result<(&'a [u8], CellValue<'a>)> {
        debug_assert!(self.leaf, "entry() on a branch");
        let c = self.cell(i)?;
        let key_len = get_u16(c, 0) as usize;
        let start = LEAF_CELL_HEADER + key_len;
        let key = &c[LEAF_CELL_HEADER..start];
        let value = if c[6] & FLAG_OVERFLOW != 0 {
            CellValue::Overflow {
                page: PageId(get_u64(c, start)),
                len: get_u32(c, 2),
            }
        } else {
            CellValue::Inline(&c[start..])
        };
        Ok((key, value))
    }

    /// The child page of branch cell `i`.
    pub(crate) fn child(&self, i: usize) -> Result<PageId> {
        debug_assert!(!self.leaf, "child() on a leaf");
        let c = self.cell(i)?;
        Ok(PageId(get_u64(c, 2)))
    }

    /// The key of cell `i < count`, checked only as far as the key reaches:
    /// the search loops' hot path. Whole-cell checks happen when a cell's
    /// value or child is read.
    #[inline]
    fn search_key(&self, i: usize) -> Result<&'a [u8]> {
        let header = if self.leaf {
            LEAF_CELL_HEADER
        } else {
            BRANCH_CELL_HEADER
        };
        let off = get_u16(self.b, PAGE_HEADER_BYTES + i * SLOT_BYTES) as usize;
        let key_len = match self.b.get(off..off + 2) {
            Some(l) if off >= self.data_start() => u16::from_le_bytes([l[0], l[1]]) as usize,
            _ => {
                return Err(Error::corrupt(
                    self.id.0,
                    format!("cell {i}: offset outside the cell area"),
                ));
            }
        };
        let start = off + header;
        self.b
            .get(start..start + key_len)
            .ok_or_else(|| Error::corrupt(self.id.0, format!("cell {i}: key runs off the page")))
    }

    /// Leaf: `Ok(i)` if key i equals `key`, else `Err(i)` where it would go.
    pub(crate) fn search(&self, key: &[u8]) -> Result<Result<usize, usize>> {
        let (mut lo, mut hi) = (0usize, self.count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match compare_keys(self.search_key(mid)?, key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Ok(mid)),
            }
        }
        Ok(Err(lo))
    }

    /// Branch: the index of the child whose range holds `key`.
    pub(crate) fn child_index(&self, key: &[u8]) -> Result<usize> {
        // Largest i >= 1 with key_i <= key, else 0 (cell 0's key is minus infinity).
        let (mut lo, mut hi) = (1usize, self.count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if compare_keys(self.search_key(mid)?, key).is_le() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo - 1)
    }
}

/// Byte-wise key order, without a call to `memcmp` for what decides most
/// comparisons: the first eight bytes compared as one word, and short keys
/// (branch separators are often a few bytes) byte by byte.
#[inline]
pub(crate) fn compare_keys(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    if let (Some(x), Some(y)) = (a.first_chunk::<8>(), b.first_chunk::<8>()) {
        let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
        if x != y {
            return x.cmp(&y);
        }
        return a[8..].cmp(&b[8..]);
    }
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Length of the cell at the start of `rest`, from its header; `None` if the
/// header itself runs off the page. In `u64`: a leaf's value length is a
/// `u32` read from disk.
fn cell_len(rest: &[u8], leaf: bool) -> Option<u64> {
    if leaf {
        let h = rest.get(..LEAF_CELL_HEADER)?;
        let tail = if h[6] & FLAG_OVERFLOW != 0 {
            8
        } else {
            u64::from(get_u32(h, 2))
        };
        Some(LEAF_CELL_HEADER as u64 + u64::from(get_u16(h, 0)) + tail)
    } else {
        let h = rest.get(..BRANCH_CELL_HEADER)?;
        Some(BRANCH_CELL_HEADER as u64 + u64::from(get_u16(h, 0)))
    }
}

/// Checks the §4 rules that one branch (`leaf` false) or leaf page shows,
/// for page `id` of a state whose pages are all below `page_count`:
///
/// * `32 + 2*count <= data_start <= P`;
/// * the cells, walked by their own lengths from `data_start`, fill
///   `data_start..P` exactly, are `count` in number, and each is at most
///   `cell_bytes_max - 2` bytes (so a split's halves always fit a page);
/// * every slot holds the offset where one of those cells starts;
/// * every key is at most `key_bytes_max` bytes; keys are strictly ascending
///   (a branch's cell 0 has the empty key, so its cell 1 on are not empty);
/// * every child id of a branch lies in `FIRST_DATA_PAGE..page_count`, none
///   twice, none the branch itself; every overflow run a leaf names lies
///   whole in `FIRST_DATA_PAGE..page_count`.
///
/// Distinct keys make the slots distinct, so with the count they name each
/// cell exactly once. After this, every offset the writer's in-place edits
/// (`insert_cell`, `remove_cell`, `set_child`) compute stays inside the page.
pub(crate) fn validate(b: &[u8], id: PageId, leaf: bool, page_count: u64) -> Result<()> {
    let bad = |reason: String| Error::corrupt(id.0, reason);
    let page_bytes = b.len();
    let count = page_count_field(b) as usize;
    let slots_end = PAGE_HEADER_BYTES + count * SLOT_BYTES;
    let data_start = get_u32(b, DATA_START) as usize;
    if data_start < slots_end || data_start > page_bytes {
        return Err(bad(format!(
            "data_start {data_start} outside {slots_end}..={page_bytes} ({count} slots)"
        )));
    }
    let starts = cell_starts(b, id, leaf, data_start, count)?;
    let key_max = key_bytes_max(page_bytes);
    let node = Node { b, id, leaf };
    let mut prev: &[u8] = &[];
    let mut children = Vec::with_capacity(if leaf { 0 } else { count });
    for i in 0..count {
        let off = get_u16(b, PAGE_HEADER_BYTES + i * SLOT_BYTES) as usize;
        if off < data_start || off >= page_bytes || starts[off / 64] & (1 << (off % 64)) == 0 {
            return Err(bad(format!(
                "slot {i} holds offset {off}, where no cell starts"
            )));
        }
        let key = node.key(i)?;
        if key.len() > key_max {
            return Err(bad(format!(
                "cell {i}: key of {} bytes, over the {key_max}-byte limit",
                key.len()
            )));
        }
        if !leaf && i == 0 && !key.is_empty() {
            return Err(bad("branch cell 0 has a key".to_string()));
        }
        if i > 0 && compare_keys(prev, key).is_ge() {
            return Err(bad(format!("keys out of order at cell {i}")));
        }
        prev = key;
        if leaf {
            if let CellValue::Overflow { page, len } = node.value(i)? {
                let pages = overflow::run_pages(len as usize, page_bytes);
                check_ref(id, page, pages, page_count, "overflow run")?;
            }
        } else {
            let child = node.child(i)?;
            check_ref(id, child, 1, page_count, "child")?;
            if child == id {
                return Err(bad(format!("cell {i}: the branch is its own child")));
            }
            children.push(child.0);
        }
    }
    children.sort_unstable();
    if let Some(w) = children.windows(2).find(|w| w[0] == w[1]) {
        return Err(bad(format!("child {} is referenced twice", w[0])));
    }
    Ok(())
}

/// Walks the cells packed in `data_start..P` by their own lengths, checking
/// they fill it exactly with `count` cells of at most the cell limit, and
/// returns where each starts: one bit per byte offset.
fn cell_starts(
    b: &[u8],
    id: PageId,
    leaf: bool,
    data_start: usize,
    count: usize,
) -> Result<Vec<u64>> {
    let bad = |reason: String| Error::corrupt(id.0, reason);
    let page_bytes = b.len();
    let cell_max = (cell_bytes_max(page_bytes) - SLOT_BYTES) as u64;
    let mut starts = vec![0u64; page_bytes.div_ceil(64)];
    let (mut at, mut cells) = (data_start, 0usize);
    while at < page_bytes {
        let len = cell_len(&b[at..], leaf)
            .ok_or_else(|| bad(format!("cell at offset {at}: header runs off the page")))?;
        if len > cell_max {
            return Err(bad(format!(
                "cell at offset {at} is {len} bytes, over the {cell_max}-byte limit"
            )));
        }
        if len > (page_bytes - at) as u64 {
            return Err(bad(format!("cell at offset {at} runs off the page")));
        }
        cells += 1;
        if cells > count {
            return Err(bad(format!(
                "more cells in data_start..{page_bytes} than the {count} slots"
            )));
        }
        starts[at / 64] |= 1 << (at % 64);
        at += len as usize;
    }
    if cells != count {
        return Err(bad(format!(
            "{cells} cells in data_start..{page_bytes}, but {count} slots"
        )));
    }
    Ok(starts)
}

/// Formats `b` as an empty node page of `kind`.
pub(crate) fn init_node(b: &mut [u8], kind: PageKind) {
    debug_assert!(matches!(kind, PageKind::Leaf | PageKind::Branch));
    init_page_header(b, kind);
    put_u32(b, DATA_START, b.len() as u32);
}

/// Free bytes between the slot array and the cells: 0 if `data_start` is not
/// in `slots_end..=P` (never so on a validated page; see `insert_cell`).
pub(crate) fn free_bytes(b: &[u8]) -> usize {
    let slots_end = PAGE_HEADER_BYTES + page_count_field(b) as usize * SLOT_BYTES;
    let data_start = get_u32(b, DATA_START) as usize;
    if data_start > b.len() {
        return 0;
    }
    data_start.saturating_sub(slots_end)
}

/// Inserts `cell` as cell `idx`; false (page unchanged) if it does not fit.
///
/// The writer calls this only on pages in its cache: copies of pages that
/// passed `validate`, or pages it built. It relies on one invariant of those,
/// `32 + 2*count <= data_start <= P`, which `free_bytes` also checks (a page
/// without it has no room, so the caller goes on to split it and
/// `Node::new` reports it): with `free_bytes >= cell + 2` every index below
/// lies inside the page.
pub(crate) fn insert_cell(b: &mut [u8], idx: usize, cell: &[u8]) -> bool {
    let count = page_count_field(b) as usize;
    assert!(idx <= count, "insert index {idx} past count {count}");
    if free_bytes(b) < cell.len() + SLOT_BYTES {
        return false;
    }
    let start = get_u32(b, DATA_START) as usize - cell.len();
    b[start..start + cell.len()].copy_from_slice(cell);
    put_u32(b, DATA_START, start as u32);
    let slot = PAGE_HEADER_BYTES + idx * SLOT_BYTES;
    let slots_end = PAGE_HEADER_BYTES + count * SLOT_BYTES;
    b.copy_within(slot..slots_end, slot + SLOT_BYTES);
    put_u16(b, slot, start as u16);
    set_page_count_field(b, (count + 1) as u16);
    true
}

/// Removes cell `idx` of page `id`, keeping the cells packed. `len` is the
/// cell's length.
///
/// Checked rather than trusted: the cell must lie in `data_start..P` and the
/// slot array end at or before `data_start` (a page that passed `validate`
/// always does), else `Corruption`. Given that, every move below stays inside
/// the page: cells below `off` move up by `len` and end at most at `off + len`.
pub(crate) fn remove_cell(b: &mut [u8], id: PageId, idx: usize, len: usize) -> Result<()> {
    let count = page_count_field(b) as usize;
    assert!(idx < count, "remove index {idx} past count {count}");
    let slot = PAGE_HEADER_BYTES + idx * SLOT_BYTES;
    let off = get_u16(b, slot) as usize;
    let data_start = get_u32(b, DATA_START) as usize;
    let slots_end = PAGE_HEADER_BYTES + count * SLOT_BYTES;
    if slots_end > data_start || data_start > off || off + len > b.len() {
        return Err(Error::corrupt(
            id.0,
            format!(
                "cell {idx} at {off}..{} is outside the cell area {data_start}..{} \
                 (slots end at {slots_end})",
                off + len,
                b.len()
            ),
        ));
    }
    b.copy_within(data_start..off, data_start + len);
    b.copy_within(slot + SLOT_BYTES..slots_end, slot);
    for i in 0..count - 1 {
        let at = PAGE_HEADER_BYTES + i * SLOT_BYTES;
        let o = get_u16(b, at) as usize;
        if o < off {
            put_u16(b, at, (o + len) as u16);
        }
    }
    put_u32(b, DATA_START, (data_start + len) as u32);
    set_page_count_field(b, (count - 1) as u16);
    Ok(())
}

/// Points cell `idx` of branch page `id` at `child`. Checked: the cell's
/// child field must lie inside the page, else `Corruption`.
pub(crate) fn set_child(b: &mut [u8], id: PageId, idx: usize, child: PageId) -> Result<()> {
    let off = get_u16(b, PAGE_HEADER_BYTES + idx * SLOT_BYTES) as usize;
    match b.get_mut(off + 2..off + BRANCH_CELL_HEADER) {
        Some(field) => {
            field.copy_from_slice(&child.0.to_le_bytes());
            Ok(())
        }
        None => Err(Error::corrupt(
            id.0,
            format!("cell {idx}: child field at {off} outside the page"),
        )),
    }
}

/// Rebuilds `b` as a node of `kind` holding exactly `cells`, in order.
pub(crate) fn build_node(b: &mut [u8], kind: PageKind, cells: &[&[u8]]) {
    init_node(b, kind);
    for (i, c) in cells.iter().enumerate() {
        let ok = insert_cell(b, i, c);
        assert!(ok, "build_node: cells do not fit the page");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn compare_keys_is_byte_order(
            a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
            b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
            shared in 0usize..12,
        ) {
            // Often share a prefix, so the word compare ties and falls through.
            let mut b = b;
            let n = shared.min(a.len()).min(b.len());
            b[..n].copy_from_slice(&a[..n]);
            proptest::prop_assert_eq!(compare_keys(&a, &b), a.as_slice().cmp(b.as_slice()));
        }
    }

    fn leaf_with(keys: &[&[u8]]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        init_node(&mut b, PageKind::Leaf);
        for (i, k) in keys.iter().enumerate() {
            assert!(insert_cell(
                &mut b,
                i,
                &leaf_cell(k, CellValue::Inline(b"v"))
            ));
        }
        b
    }

    #[test]
    fn leaf_round_trip() {
        let mut b = leaf_with(&[b"a", b"c"]);
        let big = leaf_cell(
            b"b",
            CellValue::Overflow {
                page: PageId(99),
                len: 1 << 20,
            },
        );
        assert!(insert_cell(&mut b, 1, &big));
        let n = Node::new(&b, PageId(5), true).unwrap();
        assert_eq!(n.count(), 3);
        assert_eq!(n.key(1).unwrap(), b"b");
        assert_eq!(
            n.value(1).unwrap(),
            CellValue::Overflow {
                page: PageId(99),
                len: 1 << 20
            }
        );
        assert_eq!(n.value(2).unwrap(), CellValue::Inline(b"v"));
        assert_eq!(n.search(b"c").unwrap(), Ok(2));
        assert_eq!(n.search(b"bb").unwrap(), Err(2));
        let len = n.cell(0).unwrap().len();
        remove_cell(&mut b, PageId(5), 0, len).unwrap();
        let n = Node::new(&b, PageId(5), true).unwrap();
        assert_eq!(n.key(0).unwrap(), b"b");
        assert_eq!(n.key(1).unwrap(), b"c");
        assert_eq!(
            n.used_bytes(),
            2 * SLOT_BYTES + big.len() + LEAF_CELL_HEADER + 2
        );
    }

    #[test]
    fn branch_child_index() {
        let mut b = vec![0u8; 4096];
        let cells = [
            branch_cell(b"", PageId(10)),
            branch_cell(b"m", PageId(11)),
            branch_cell(b"t", PageId(12)),
        ];
        let refs: Vec<&[u8]> = cells.iter().map(|c| c.as_slice()).collect();
        build_node(&mut b, PageKind::Branch, &refs);
        let n = Node::new(&b, PageId(3), false).unwrap();
        assert_eq!(n.child_index(b"a").unwrap(), 0);
        assert_eq!(n.child_index(b"m").unwrap(), 1);
        assert_eq!(n.child_index(b"s").unwrap(), 1);
        assert_eq!(n.child_index(b"z").unwrap(), 2);
        assert_eq!(n.child(2).unwrap(), PageId(12));
        set_child(&mut b, PageId(3), 2, PageId(77)).unwrap();
        assert_eq!(
            Node::new(&b, PageId(3), false).unwrap().child(2).unwrap(),
            PageId(77)
        );
    }

    #[test]
    fn full_page_refuses() {
        let mut b = vec![0u8; 4096];
        init_node(&mut b, PageKind::Leaf);
        let cell = leaf_cell(&[1u8; 100], CellValue::Inline(&[2u8; 900]));
        let mut n = 0;
        while insert_cell(&mut b, n, &cell) {
            n += 1;
        }
        assert_eq!(n, 4);
        assert!(free_bytes(&b) < cell.len() + SLOT_BYTES);
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let b = leaf_with(&[b"alpha", b"beta", b"gamma"]);
        for i in 0..b.len() {
            for bit in [0x01u8, 0x80] {
                let mut c = b.clone();
                c[i] ^= bit;
                if let Ok(n) = Node::new(&c, PageId(1), true) {
                    for j in 0..n.count().min(64) {
                        let _ = n.key(j);
                        let _ = n.value(j);
                    }
                    let _ = n.search(b"beta");
                }
            }
        }
    }

    /// A state of 1,000 pages for the validators: references below it hold.
    const PAGES: u64 = 1000;

    fn branch_with(children: &[(&[u8], u64)]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        let cells: Vec<Vec<u8>> = children
            .iter()
            .map(|(k, c)| branch_cell(k, PageId(*c)))
            .collect();
        let refs: Vec<&[u8]> = cells.iter().map(Vec::as_slice).collect();
        build_node(&mut b, PageKind::Branch, &refs);
        b
    }

    fn refused(b: &[u8], leaf: bool, what: &str) {
        match validate(b, PageId(5), leaf, PAGES) {
            Err(Error::Corruption { page: 5, reason }) => {
                assert!(reason.contains(what), "{what:?} not in {reason:?}")
            }
            other => panic!("expected corruption ({what}), got {other:?}"),
        }
    }

    #[test]
    fn validate_accepts_built_pages() {
        let mut leaf = leaf_with(&[b"a", b"b", b"d"]);
        let ovf = leaf_cell(
            b"c",
            CellValue::Overflow {
                page: PageId(990),
                len: 40_000,
            },
        );
        assert!(insert_cell(&mut leaf, 2, &ovf));
        validate(&leaf, PageId(5), true, PAGES).unwrap();
        let empty = leaf_with(&[]);
        validate(&empty, PageId(5), true, PAGES).unwrap();
        let branch = branch_with(&[(b"", 10), (b"m", 11), (b"t", 12)]);
        validate(&branch, PageId(5), false, PAGES).unwrap();
    }

    #[test]
    fn validate_refuses_each_rule() {
        let leaf = leaf_with(&[b"a", b"b", b"c"]);
        let mut c = leaf.clone();
        put_u32(&mut c, DATA_START, 4096);
        refused(&c, true, "data_start");
        let mut c = leaf.clone();
        put_u32(&mut c, DATA_START, 33);
        refused(&c, true, "data_start");
        let mut c = leaf.clone();
        let ds = get_u32(&c, DATA_START);
        put_u32(&mut c, DATA_START, ds - 1);
        refused(&c, true, "");
        let mut c = leaf.clone();
        set_page_count_field(&mut c, 2);
        refused(&c, true, "slots");
        // Two slots naming one cell: the keys repeat.
        let mut c = leaf.clone();
        let s0 = get_u16(&c, PAGE_HEADER_BYTES);
        put_u16(&mut c, PAGE_HEADER_BYTES + 2, s0);
        refused(&c, true, "out of order");
        // A slot into the middle of a cell.
        let mut c = leaf.clone();
        put_u16(&mut c, PAGE_HEADER_BYTES, s0 + 1);
        refused(&c, true, "no cell starts");
        refused(&leaf_with(&[b"b", b"a"]), true, "out of order");
        // A value length that runs past the page.
        let mut c = leaf.clone();
        put_u32(&mut c, s0 as usize + 2, 5000);
        refused(&c, true, "");
        // An inline cell over the cell limit (it fills the page alone).
        let mut c = vec![0u8; 4096];
        init_node(&mut c, PageKind::Leaf);
        assert!(insert_cell(
            &mut c,
            0,
            &leaf_cell(b"k", CellValue::Inline(&[1u8; 2000]))
        ));
        refused(&c, true, "limit");
        for (page, len) in [(2, 10), (999, 10), (999, 5000), (u64::MAX, 1)] {
            let mut c = leaf_with(&[]);
            let cell = leaf_cell(
                b"k",
                CellValue::Overflow {
                    page: PageId(page),
                    len,
                },
            );
            assert!(insert_cell(&mut c, 0, &cell));
            if page == 999 && len == 10 {
                validate(&c, PageId(5), true, PAGES).unwrap();
            } else {
                refused(&c, true, "overflow run");
            }
        }
        refused(
            &branch_with(&[(b"x", 10), (b"m", 11)]),
            false,
            "cell 0 has a key",
        );
        refused(&branch_with(&[(b"", 10), (b"", 11)]), false, "out of order");
        refused(&branch_with(&[(b"", 10), (b"m", 1000)]), false, "child");
        refused(&branch_with(&[(b"", 10), (b"m", 0)]), false, "child");
        refused(&branch_with(&[(b"", 10), (b"m", 10)]), false, "twice");
        refused(&branch_with(&[(b"", 5), (b"m", 10)]), false, "own child");
    }

    /// Whatever passes validation can be read and edited in place without a
    /// panic: every cell removed and reinserted, every child rewritten.
    #[test]
    fn validated_pages_edit_without_panic() {
        let pages = [
            (leaf_with(&[b"alpha", b"beta", b"gamma"]), true),
            (branch_with(&[(b"", 10), (b"m", 11), (b"t", 12)]), false),
        ];
        for (page, leaf) in pages {
            for i in 0..page.len() {
                for bit in [0x01u8, 0x10, 0x80] {
                    let mut c = page.clone();
                    c[i] ^= bit;
                    if validate(&c, PageId(5), leaf, PAGES).is_err() {
                        continue;
                    }
                    // `validate` trusts the caller on the kind byte.
                    let Ok(n) = Node::new(&c, PageId(5), leaf) else {
                        continue;
                    };
                    let cells: Vec<Vec<u8>> = (0..n.count())
                        .map(|j| n.cell(j).unwrap().to_vec())
                        .collect();
                    for (j, cell) in cells.iter().enumerate() {
                        let mut e = c.clone();
                        if !leaf {
                            set_child(&mut e, PageId(5), j, PageId(77)).unwrap();
                        }
                        remove_cell(&mut e, PageId(5), j, cell.len()).unwrap();
                        assert!(insert_cell(&mut e, j, cell));
                        let again = Node::new(&e, PageId(5), leaf).unwrap();
                        assert_eq!(again.cell(j).unwrap(), &cell[..]);
                    }
                }
            }
        }
    }
}
