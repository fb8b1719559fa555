//! The copy-on-write B+tree over page ids. It does no I/O of its own: reads go
//! through a [`crate::pager::Src`], changes through a [`crate::pager::Pager`].

pub(crate) mod cursor;
pub(crate) mod leaves;
pub(crate) mod pack;
pub(crate) mod write;

pub(crate) use cursor::{Cursor, OwnedBounds, RangeIter, get};
pub(crate) use leaves::{PageSet, leaves};
pub(crate) use pack::{packing, repack};
pub(crate) use write::{free_all, insert, remove, separator};
