//! §5 Overflow runs: one large value in `run_pages` consecutive pages.
//!
//! The first page has the common header (kind 3, count 0); its kind-specific
//! word holds `run_pages u32 | value_len u32`. The value starts at byte 32 and
//! runs on through the following pages, which have no headers of their own, so
//! it can be read as one slice of the mapping. The checksum in the first page
//! covers the whole run (bytes 4 to the end of the last page).

use super::{
    PAGE_HEADER_BYTES, PH_KIND_SPECIFIC, PageId, PageKind, get_u32, init_page_header, page_kind,
    put_u32,
};
use crate::error::{Error, Result};

const RUN_PAGES: usize = PH_KIND_SPECIFIC; // u32
const VALUE_LEN: usize = PH_KIND_SPECIFIC + 4; // u32

/// Pages needed for a value of `len` bytes.
pub(crate) fn run_pages(len: usize, page_bytes: usize) -> u64 {
    (PAGE_HEADER_BYTES + len).div_ceil(page_bytes) as u64
}

/// Formats `run` (exactly `run_pages` pages) to hold `value`.
pub(crate) fn write_run(run: &mut [u8], value: &[u8], page_bytes: usize) {
    let pages = run_pages(value.len(), page_bytes);
    assert_eq!(
        run.len() as u64,
        pages * page_bytes as u64,
        "run buffer size"
    );
    init_page_header(run, PageKind::Overflow);
    put_u32(run, RUN_PAGES, pages as u32);
    put_u32(run, VALUE_LEN, value.len() as u32);
    run[PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + value.len()].copy_from_slice(value);
    run[PAGE_HEADER_BYTES + value.len()..].fill(0);
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

/// The value bytes of a verified run.
pub(crate) fn value(run: &[u8], len: u32) -> &[u8] {
    &run[PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + len as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{TxnId, seal_page, verify_page};

    #[test]
    fn run_round_trip_and_flip() {
        let value: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let pages = run_pages(value.len(), 4096);
        assert_eq!(pages, 3);
        let mut run = vec![0u8; pages as usize * 4096];
        write_run(&mut run, &value, 4096);
        seal_page(&mut run, PageId(8), TxnId(1));
        verify_page(&run, PageId(8), true).unwrap();
        assert_eq!(check_first_page(&run, PageId(8), 10_000, 4096).unwrap(), 3);
        assert_eq!(self::value(&run, 10_000), &value[..]);
        assert!(check_first_page(&run, PageId(8), 9_000, 4096).is_err());
        let mut c = run.clone();
        c[9000] ^= 4;
        assert!(verify_page(&c, PageId(8), true).is_err());
    }
}
