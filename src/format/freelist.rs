//! §6 Freelist pages: a chain listing every page id that is free in the state
//! a meta slot describes.
//!
//! Common header (kind 4, `count` = entries on this page); the kind-specific
//! word is `next u64`, the next freelist page or 0. Entries are `u64` page ids
//! from byte 32, `(page_bytes - 32) / 8` per page.

use super::validate::check_ref;
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

/// `next` as stored in page `b` (a whole page), unchecked: for tools
/// showing the fields of a page that may not decode.
pub(crate) fn next_field(b: &[u8]) -> u64 {
    get_u64(b, NEXT)
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

/// Checks the §6 rules freelist page `id` shows on its own, for a state
/// whose pages are all below `page_count`: `count` is at most
/// `entries_per_page`, every listed id lies in `FIRST_DATA_PAGE..page_count`,
/// and `next` is 0 or lies there too.
pub(crate) fn validate(b: &[u8], id: PageId, page_count: u64) -> Result<()> {
    let count = page_count_field(b) as usize;
    let capacity = entries_per_page(b.len());
    if count > capacity {
        return Err(Error::corrupt(
            id.0,
            format!("freelist count {count} over the page's {capacity} entries"),
        ));
    }
    for i in 0..count {
        let listed = PageId(get_u64(b, PAGE_HEADER_BYTES + i * 8));
        check_ref(id, listed, 1, page_count, "free page")?;
    }
    let next = PageId(get_u64(b, NEXT));
    if next.0 != 0 {
        check_ref(id, next, 1, page_count, "next freelist page")?;
    }
    Ok(())
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
        validate(&b, PageId(4), 1001).unwrap();
        assert!(validate(&b, PageId(4), 1000).is_err(), "id 1000 listed");
        write_page(&mut b, &[5, 2], PageId(0));
        assert!(validate(&b, PageId(4), 1001).is_err(), "id 2 listed");
        write_page(&mut b, &[5], PageId(1001));
        assert!(validate(&b, PageId(4), 1001).is_err(), "next past the end");
        write_page(&mut b, &[5], PageId(0));
        validate(&b, PageId(4), 1001).unwrap();
        set_page_count_field(&mut b, 9999);
        assert!(validate(&b, PageId(4), 1001).is_err());
        assert!(read_page(&b, PageId(4)).is_err());
        b[4] = PageKind::Leaf as u8;
        assert!(read_page(&b, PageId(4)).is_err());
    }
}
