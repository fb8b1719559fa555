//! Structural validation of a data page read from the file: every rule of
//! §3–§6 that the page's own bytes can show, checked once, when the page is
//! first read (`pager::MapSource`), alongside its checksum.
//!
//! A checksum only says the bytes are the ones some writer sealed. A writer
//! bug, or someone who recomputed the CRC, can seal bytes whose offsets run
//! off the page or whose references point past the file or at the file's
//! header; this is what stops those bytes from reaching code that would
//! index, free or map with them. After a page passes, the code that reads
//! or edits it in place may rely on the rules listed in each kind's
//! validator (`node::validate`, `overflow::validate_first_page`,
//! `freelist::validate`), and page references in it lie below the
//! `page_count` of the state it was read in.
//!
//! Not checked here, because no single page shows it: that a child's keys
//! lie within its parent's separators, that a page is reachable once, that a
//! leaf's overflow run or a freelist entry is not also in use elsewhere.
//! `oakmap check` walks the whole state for those; the writer refuses to
//! free a page twice or a page the free set holds (`Pager::release_committed`).

use super::{FIRST_DATA_PAGE, PH_KIND, PageId, PageKind, freelist, node, overflow, page_kind};
use crate::error::{Error, Result};

/// The checks a page gets on its first read, in this order, so that every
/// reader reports the same damage the same way: its span (an overflow
/// run's length) lies within the state of `page_count` pages; the checksum
/// over the span, when `crc` (`span_bytes` gives those bytes); its
/// structure, when `structure`.
pub(crate) fn first_read<B: AsRef<[u8]>>(
    b: &[u8],
    id: PageId,
    page_count: u64,
    crc: bool,
    structure: bool,
    span_bytes: impl FnOnce(u64) -> Result<B>,
) -> Result<()> {
    let span = span(b, id, page_count)?;
    if crc {
        if span == 1 {
            super::verify_page(b, id, true)?;
        } else {
            super::verify_page(span_bytes(span)?.as_ref(), id, true)?;
        }
    }
    if structure {
        validate_page(b, id, page_count)?;
    }
    Ok(())
}

/// Checks that `pages` pages from `target` on, referenced from page `from`,
/// lie in `FIRST_DATA_PAGE..page_count`.
pub(crate) fn check_ref(
    from: PageId,
    target: PageId,
    pages: u64,
    page_count: u64,
    what: &str,
) -> Result<()> {
    let end = target.0.checked_add(pages);
    if target.0 < FIRST_DATA_PAGE || end.is_none_or(|e| e > page_count) {
        return Err(Error::corrupt(
            from.0,
            format!(
                "{what} {}..+{pages} outside pages {FIRST_DATA_PAGE}..{page_count}",
                target.0
            ),
        ));
    }
    Ok(())
}

/// The pages page `id`'s checksum covers: its overflow run for the first
/// page of one (the run checked to lie below `page_count`), else 1. `b` is
/// the page's bytes.
pub(crate) fn span(b: &[u8], id: PageId, page_count: u64) -> Result<u64> {
    match page_kind(b) {
        Some(PageKind::Overflow) => overflow::validate_first_page(b, id, page_count),
        _ => Ok(1),
    }
}

/// Checks every structural rule page `id` (one page of bytes, whose self id
/// was checked) shows on its own, by its kind byte.
pub(crate) fn validate_page(b: &[u8], id: PageId, page_count: u64) -> Result<()> {
    match page_kind(b) {
        Some(PageKind::Branch) => node::validate(b, id, false, page_count),
        Some(PageKind::Leaf) => node::validate(b, id, true, page_count),
        Some(PageKind::Overflow) => overflow::validate_first_page(b, id, page_count).map(|_| ()),
        Some(PageKind::Freelist) => freelist::validate(b, id, page_count),
        None => Err(Error::corrupt(
            id.0,
            format!("kind byte {} is no page kind", b[PH_KIND]),
        )),
    }
}
