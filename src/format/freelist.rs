//! §6 Freelist pages: a chain listing every page id that is free in the state
//! a meta slot describes.
//!
//! Common header (kind 4, `count` = entries on this page); the kind-specific
//! word is `next u64`, the next freelist page or 0. Entries are `u64` page ids
//! from byte 32, `(page_bytes - 32) / 8` per page.

use super::{
    PAGE_HEADER_BYTES, PH_KIND_SPECIFIC, PageId, PageKind, get_u64, init_page_header,
    page_count_field, page_kind, put_u64, set_page_count_field,
};
use crate::error::{Error, Result};

const NEXT: usize = PH_KIND_SPECIFIC; // u64

/// Page ids one freelist page holds.
pub(crate) fn entries_per_page(page_bytes: usize) -> usize {
    (page_bytes - PAGE_HEADER_BYTES) / 8
}

/// Formats `b` as a freelist page listing `ids`, followed by `next`.
pub(crate) fn write_page(b: &mut [u8], ids: &[u64], next: PageId) {
    assert!(
        ids.len() <= entries_per_page(b.len()),
        "too many freelist entries"
    );
    init_page_header(b, PageKind::Freelist);
    set_page_count_field(b, ids.len() as u16);
    put_u64(b, NEXT, next.0);
    for (i, id) in ids.iter().enumerate() {
        put_u64(b, PAGE_HEADER_BYTES + i * 8, *id);
    }
    b[PAGE_HEADER_BYTES + ids.len() * 8..].fill(0);
}

/// Decodes freelist page `id`: its entries and the next page.
pub(crate) fn read_page(b: &[u8], id: PageId) -> Result<(Vec<u64>, PageId)> {
    if page_kind(b) != Some(PageKind::Freelist) {
        return Err(Error::corrupt(id.0, "expected a freelist page"));
    }
    let count = page_count_field(b) as usize;
    if count > entries_per_page(b.len()) {
        return Err(Error::corrupt(id.0, "freelist count larger than the page"));
    }
    let ids = (0..count)
        .map(|i| get_u64(b, PAGE_HEADER_BYTES + i * 8))
        .collect();
    Ok((ids, PageId(get_u64(b, NEXT))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_count() {
        let mut b = vec![0u8; 4096];
        write_page(&mut b, &[5, 9, 1000], PageId(77));
        assert_eq!(
            read_page(&b, PageId(4)).unwrap(),
            (vec![5, 9, 1000], PageId(77))
        );
        set_page_count_field(&mut b, 9999);
        assert!(read_page(&b, PageId(4)).is_err());
        b[4] = PageKind::Leaf as u8;
        assert!(read_page(&b, PageId(4)).is_err());
    }
}
