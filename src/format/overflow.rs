//! §5 Overflow runs: one large value in `run_pages` consecutive pages.
//!
//! The first page has the common header (kind 3, count 0); its kind-specific
//! word holds `run_pages u32 | value_len u32`. The value starts at byte 32 and
//! runs on through the following pages, which have no headers of their own, so
//! it can be read as one slice of the mapping. The checksum in the first page
//! covers the whole run (bytes 4 to the end of the last page).

use super::validate::check_ref;
use super::{
    PAGE_HEADER_BYTES, PH_KIND_SPECIFIC, PH_PAGE_ID, PH_TXN, PageId, PageKind, TxnId, get_u32,
    init_page_header, page_count_field, page_kind, put_u32, put_u64,
};
use crate::error::{Error, Result};

const RUN_PAGES: usize = PH_KIND_SPECIFIC; // u32
const VALUE_LEN: usize = PH_KIND_SPECIFIC + 4; // u32

/// Pages needed for a value of `len` bytes (in `u64`, so no length a cell
/// can state overflows it).
pub(crate) fn run_pages(len: usize, page_bytes: usize) -> u64 {
    (PAGE_HEADER_BYTES as u64 + len as u64).div_ceil(page_bytes as u64)
}

/// The sealed first-page header of the overflow run at `id` holding
/// `value` for `txn`; the run is this header, the value, and zeros to the
/// end of its last page. The checksum is computed as the bytes stream past,
/// so the value is never copied.
pub(crate) fn run_header(
    id: PageId,
    txn: TxnId,
    value: &[u8],
    page_bytes: usize,
) -> [u8; PAGE_HEADER_BYTES] {
    let pages = run_pages(value.len(), page_bytes);
    let mut head = [0u8; PAGE_HEADER_BYTES];
    init_page_header(&mut head, PageKind::Overflow);
    put_u32(&mut head, RUN_PAGES, pages as u32);
    put_u32(&mut head, VALUE_LEN, value.len() as u32);
    put_u64(&mut head, PH_PAGE_ID, id.0);
    put_u64(&mut head, PH_TXN, txn.0);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[4..]);
    crc.update(value);
    let mut zeros = run_tail_bytes(value.len(), page_bytes);
    let block = [0u8; 4096];
    while zeros > 0 {
        let n = zeros.min(block.len());
        crc.update(&block[..n]);
        zeros -= n;
    }
    put_u32(&mut head, 0, crc.finalize());
    head
}

/// The first page's two fields, `(run_pages, value_len)`, unchecked: for
/// tools showing a page that may not decode.
pub(crate) fn fields(first: &[u8]) -> (u32, u32) {
    (get_u32(first, RUN_PAGES), get_u32(first, VALUE_LEN))
}

/// Bytes of zeros after a value of `len` bytes to the end of its run.
pub(crate) fn run_tail_bytes(len: usize, page_bytes: usize) -> usize {
    run_pages(len, page_bytes) as usize * page_bytes - PAGE_HEADER_BYTES - len
}

/// Checks the §5 rules the first page of a run shows on its own, for page
/// `id` of a state whose pages are all below `page_count`: `count` is 0,
/// `run_pages` is `ceil((32 + value_len) / P)`, and the whole run lies in
/// `FIRST_DATA_PAGE..page_count`. Returns `run_pages`.
pub(crate) fn validate_first_page(first: &[u8], id: PageId, page_count: u64) -> Result<u64> {
    if page_count_field(first) != 0 {
        return Err(Error::corrupt(
            id.0,
            format!("overflow page has count {}", page_count_field(first)),
        ));
    }
    let pages = u64::from(get_u32(first, RUN_PAGES));
    let len = get_u32(first, VALUE_LEN);
    if pages != run_pages(len as usize, first.len()) {
        return Err(Error::corrupt(
            id.0,
            format!("overflow run of {pages} pages cannot hold {len} bytes"),
        ));
    }
    check_ref(id, id, pages, page_count, "overflow run")?;
    Ok(pages)
}

/// Checks the header of an overflow run that a cell says holds `len` bytes,
/// and returns the number of pages it spans.
pub(crate) fn check_first_page(
    first: &[u8],
    id: PageId,
    len: u32,
    page_bytes: usize,
) -> Result<u64> {
    if page_kind(first) != Some(PageKind::Overflow) {
        return Err(Error::corrupt(
            id.0,
            "leaf points at a page that is not an overflow run",
        ));
    }
    let pages = get_u32(first, RUN_PAGES) as u64;
    if get_u32(first, VALUE_LEN) != len || pages != run_pages(len as usize, page_bytes) {
        return Err(Error::corrupt(
            id.0,
            "overflow run length disagrees with its leaf cell",
        ));
    }
    Ok(pages)
}

/// The value bytes of a verified run: `run` is the whole run that
/// `check_first_page` returned the length of for this `len`, so it holds
/// `32 + len` bytes.
pub(crate) fn value(run: &[u8], len: u32) -> &[u8] {
    &run[PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + len as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::verify_page;

    #[test]
    fn run_round_trip_and_flip() {
        let value: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let pages = run_pages(value.len(), 4096);
        assert_eq!(pages, 3);
        let mut run = run_header(PageId(8), TxnId(1), &value, 4096).to_vec();
        run.extend_from_slice(&value);
        run.resize(run.len() + run_tail_bytes(value.len(), 4096), 0);
        assert_eq!(run.len(), pages as usize * 4096);
        verify_page(&run, PageId(8), true).unwrap();
        assert_eq!(check_first_page(&run, PageId(8), 10_000, 4096).unwrap(), 3);
        assert_eq!(self::value(&run, 10_000), &value[..]);
        assert!(check_first_page(&run, PageId(8), 9_000, 4096).is_err());
        assert_eq!(validate_first_page(&run[..4096], PageId(8), 11).unwrap(), 3);
        assert!(validate_first_page(&run[..4096], PageId(8), 10).is_err());
        let mut c = run[..4096].to_vec();
        put_u32(&mut c, RUN_PAGES, 2);
        assert!(validate_first_page(&c, PageId(8), 1000).is_err());
        let mut c = run[..4096].to_vec();
        put_u32(&mut c, VALUE_LEN, u32::MAX);
        put_u32(&mut c, RUN_PAGES, run_pages(u32::MAX as usize, 4096) as u32);
        validate_first_page(&c, PageId(8), 2_000_000).unwrap();
        assert!(validate_first_page(&c, PageId(8), 1_000_000).is_err());
        c[6] = 1;
        assert!(validate_first_page(&c, PageId(8), 2_000_000).is_err());
        let mut c = run.clone();
        c[9000] ^= 4;
        assert!(verify_page(&c, PageId(8), true).is_err());
    }
}
