//! The layouts of format.md for tests that damage files on purpose: each
//! structure's fields by name, offset and width, its checksum to recompute
//! after a change, and a diff of damaged files for reports (4 KiB pages,
//! the default).

use super::Rng;

pub const PAGE: usize = 4096;
pub const FILES: [&str; 3] = ["db.oak", "db.oak.wal0", "db.oak.wal1"];

/// A database's files: data, wal0, wal1 (`None` for a deleted file).
pub type Files = [Option<Vec<u8>>; 3];

pub fn le(b: &[u8], at: usize, width: usize) -> u64 {
    let mut v = [0u8; 8];
    v[..width].copy_from_slice(&b[at..at + width]);
    u64::from_le_bytes(v)
}

pub fn set_le(b: &mut [u8], at: usize, width: usize, v: u64) {
    b[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
}

/// What kind of value a field holds, so a forged one can be plausible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    Count,
    PageRef,
    Txn,
    Lsn,
    Any,
}
use Hint::{Any, Count, Lsn, PageRef, Txn};

/// A field: name, offset from its structure's start, width, kind of value.
pub type Field = (&'static str, usize, usize, Hint);

/// The fields of each structure's header, as format.md lists them.
#[rustfmt::skip] // format.md's tables, one structure a row
pub mod tables {
    use super::*;
    pub const FILE_HEADER: &[Field] = &[("format_version", 8, 4, Count), ("page_bytes", 12, 4, Count), ("file_id", 16, 8, Any)];
    pub const META: &[Field] = &[("slot", 4, 4, Count), ("txn_id", 8, 8, Txn), ("page_count", 16, 8, PageRef), ("catalog root", 24, 8, PageRef), ("catalog len", 32, 8, Count), ("catalog depth", 40, 4, Count), ("freelist_head", 48, 8, PageRef), ("free_count", 56, 8, Count), ("wal_lsn", 64, 8, Lsn)];
    pub const NODE: &[Field] = &[("kind", 4, 1, Any), ("count", 6, 2, Count), ("page_id", 8, 8, PageRef), ("txn_id", 16, 8, Txn), ("data_start", 24, 4, Count)];
    pub const OVERFLOW: &[Field] = &[("kind", 4, 1, Any), ("page_id", 8, 8, PageRef), ("txn_id", 16, 8, Txn), ("run_pages", 24, 4, Count), ("value_len", 28, 4, Count)];
    pub const FREELIST: &[Field] = &[("count", 6, 2, Count), ("page_id", 8, 8, PageRef), ("txn_id", 16, 8, Txn), ("next", 24, 8, PageRef)];
    pub const WAL_HEADER: &[Field] = &[("version", 8, 4, Count), ("file_id", 16, 8, Any), ("base_lsn", 24, 8, Lsn)];
    pub const RECORD: &[Field] = &[("len", 0, 4, Count), ("lsn", 8, 8, Lsn), ("txn_id", 16, 8, Txn), ("synced_lsn", 24, 8, Lsn), ("op_count", 32, 4, Count)];
}

/// A structure of the files (pages are numbers, WAL files 0 and 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    /// §1, page 0.
    FileHeader,
    /// §2, on page 1 or 2.
    Meta(u64),
    /// §4: page, whether a leaf.
    Node(u64, bool),
    /// §5: a run's first page, and its pages.
    Overflow(u64, u64),
    /// §5: a page of a run past its first (page, first, pages).
    OverflowBody(u64, u64, u64),
    /// §6.
    Freelist(u64),
    /// §7: a WAL file's header.
    WalHeader(usize),
    /// §7: a record in a WAL file: file, offset, length.
    Record(usize, usize, usize),
    /// A page whose bytes no state uses (free, or past the page count): no
    /// fields, no checksum.
    Unused(u64),
}

impl Structure {
    /// Its file (0 data, 1 and 2 WAL), start offset and length.
    pub fn span(self) -> (usize, usize, usize) {
        match self {
            Structure::FileHeader => (0, 0, 64),
            Structure::WalHeader(w) => (1 + w, 0, 64),
            Structure::Record(w, at, len) => (1 + w, at, len),
            Structure::Meta(p) | Structure::Node(p, _) | Structure::Freelist(p) => {
                (0, p as usize * PAGE, PAGE)
            }
            Structure::Overflow(p, _) | Structure::OverflowBody(p, _, _) | Structure::Unused(p) => {
                (0, p as usize * PAGE, PAGE)
            }
        }
    }

    /// The checksum over `files` that covers it, with the file and offset
    /// the checksum is stored at; `None` if it is not inside its file.
    pub fn crc(self, files: &Files) -> Option<(usize, usize, u32)> {
        let (f, at, _) = self.span();
        let b = files[f].as_ref()?;
        let (stored, covered): (usize, &[u8]) = match self {
            Structure::FileHeader | Structure::WalHeader(_) => (60, b.get(..60)?),
            Structure::Meta(_) => (at, b.get(at + 4..at + 96)?),
            Structure::Node(..) | Structure::Freelist(_) => (at, b.get(at + 4..at + PAGE)?),
            Structure::Overflow(first, pages) | Structure::OverflowBody(_, first, pages) => {
                let s = first as usize * PAGE;
                (s, b.get(s + 4..s + pages as usize * PAGE)?)
            }
            Structure::Unused(_) => return None,
            Structure::Record(..) => {
                // bytes 0..4 then 8..len, at 4..8
                let end = at + le(b, at, 4) as usize;
                let mut h = crc32fast::Hasher::new();
                h.update(&b[at..at + 4]);
                h.update(b.get(at + 8..end)?);
                return Some((f, at + 4, h.finalize()));
            }
        };
        Some((f, stored, crc32fast::hash(covered)))
    }

    /// Recomputes its checksum and stores it (if it is whole).
    pub fn seal(self, files: &mut Files) {
        if let Some((f, at, value)) = self.crc(files) {
            set_le(files[f].as_mut().unwrap(), at, 4, value as u64);
        }
    }

    /// Its fields, each with the index of its cell or operation (`None` in
    /// a header). `rng` draws one key byte per cell and a byte of a body.
    pub fn fields(self, files: &[Vec<u8>; 3], rng: &mut Rng) -> Vec<(Field, Option<usize>)> {
        let (f, at, len) = self.span();
        let b = &files[f][at..at + len];
        let header = |list: &[Field]| list.iter().map(|&f| (f, None)).collect();
        let (mut out, cells): (Vec<_>, Vec<(Field, usize)>) = match self {
            Structure::FileHeader => (header(tables::FILE_HEADER), Vec::new()),
            Structure::Meta(_) => (header(tables::META), Vec::new()),
            Structure::Node(_, leaf) => (header(tables::NODE), node_cells(b, leaf, rng)),
            Structure::Overflow(..) => (header(tables::OVERFLOW), Vec::new()),
            Structure::Unused(_) => (Vec::new(), Vec::new()),
            Structure::Freelist(_) => (header(tables::FREELIST), freelist_entries(b)),
            Structure::WalHeader(_) => (header(tables::WAL_HEADER), Vec::new()),
            Structure::Record(..) => (header(tables::RECORD), record_ops(b)),
            Structure::OverflowBody(..) => {
                let byte = ("value byte", rng.below(PAGE as u64) as usize, 1, Any);
                (vec![(byte, None)], Vec::new())
            }
        };
        out.extend(cells.into_iter().map(|(f, i)| (f, Some(i))));
        out
    }
}

/// The fields of each cell of a branch or leaf page `b` (§4).
fn node_cells(b: &[u8], leaf: bool, rng: &mut Rng) -> Vec<(Field, usize)> {
    let mut out = Vec::new();
    for i in 0..le(b, 6, 2) as usize {
        let o = le(b, 32 + 2 * i, 2) as usize;
        let (key_len, key_at) = (le(b, o, 2) as usize, o + if leaf { 7 } else { 10 });
        out.extend([
            (("slot", 32 + 2 * i, 2, Count), i),
            (("key_len", o, 2, Count), i),
        ]);
        if key_len > 0 {
            out.push((
                (
                    "key byte",
                    key_at + rng.below(key_len as u64) as usize,
                    1,
                    Any,
                ),
                i,
            ));
        }
        if !leaf {
            out.push((("child", o + 2, 8, PageRef), i));
            continue;
        }
        out.extend([
            (("value_len", o + 2, 4, Count), i),
            (("flags", o + 6, 1, Any), i),
        ]);
        if b[o + 6] & 1 == 1 {
            out.push((("overflow page", key_at + key_len, 8, PageRef), i));
        } else if le(b, o + 2, 4) > 0 {
            out.push((("value byte", key_at + key_len, 1, Any), i));
        }
    }
    out
}

/// The entries of freelist page `b` (§6).
fn freelist_entries(b: &[u8]) -> Vec<(Field, usize)> {
    (0..le(b, 6, 2) as usize)
        .map(|i| (("entry", 32 + 8 * i, 8, PageRef), i))
        .collect()
}

/// The fields of each operation of WAL record `b` (§7).
fn record_ops(b: &[u8]) -> Vec<(Field, usize)> {
    let (mut out, mut p, mut op) = (Vec::new(), 40, 0);
    while p + 2 <= b.len() {
        let kind = b[p];
        out.extend([
            (("op kind", p, 1, Any), op),
            (("op name_len", p + 1, 1, Count), op),
        ]);
        p += 2 + b[p + 1] as usize;
        if kind <= 2 {
            out.push((("op key_len", p, 2, Count), op));
            p += 2 + le(b, p, 2) as usize;
        }
        if kind == 1 {
            out.push((("op value_len", p, 4, Count), op));
            p += 4 + le(b, p, 4) as usize;
        }
        op += 1;
    }
    out
}

/// What damage changed, file by file: a deletion, a cut, and each run of
/// changed bytes (up to three runs of up to 12 bytes, old -> new).
pub fn describe(before: &[Vec<u8>; 3], after: &Files) -> String {
    let mut out = Vec::new();
    for (f, (old, new)) in before.iter().zip(after).enumerate() {
        let Some(new) = new else {
            out.push(format!("{} deleted", FILES[f]));
            continue;
        };
        if new.len() != old.len() {
            out.push(format!(
                "{} cut from {} to {} bytes",
                FILES[f],
                old.len(),
                new.len()
            ));
        }
        let diff: Vec<usize> = (0..new.len()).filter(|&i| old[i] != new[i]).collect();
        let (mut i, mut runs) = (0, Vec::new());
        while i < diff.len() && runs.len() < 3 {
            let s = diff[i];
            let n = diff[i..].iter().take_while(|&&d| d < s + 12).count();
            let e = diff[i + n - 1] + 1;
            let page = if f == 0 {
                format!(" (page {} +{})", s / PAGE, s % PAGE)
            } else {
                String::new()
            };
            runs.push(format!(
                "@{s}{page}: {:02x?} -> {:02x?}",
                &old[s..e],
                &new[s..e]
            ));
            i += n;
        }
        if !runs.is_empty() {
            out.push(format!(
                "{} {} ({} bytes differ)",
                FILES[f],
                runs.join(", "),
                diff.len()
            ));
        }
    }
    out.join("; ")
}
