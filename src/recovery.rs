//! Opening a database: the file, the newest checkpoint, and the WAL after it.
//!
//! Order: resolve the path (the log lives beside the real file, not beside
//! a link to it); create the file if it is missing and creating is allowed
//! (header and both meta slots, written under a temporary name, synced,
//! linked into place, directory synced); take the exclusive lock; validate
//! the header; take the newest meta slot whose checksum holds (a torn slot
//! falls back to the other); check the file is as long as that state says;
//! load its freelist; read the WAL the slot names (`wal::LogReader::scan`),
//! dropping a torn tail and refusing a log that cannot be read to its end
//! (a missing or damaged file, a damaged acknowledged record, a gap in the
//! commit numbers) unless the user accepted the loss
//! (`Options::accept_log_loss`); replay the records in one transaction and
//! commit it as a checkpoint, so a crash during recovery starts again from a
//! good state; then make the newest meta slot name the log file commits go
//! to, without the clean mark (`checkpoint::open_log`).

use std::path::{Path, PathBuf};

use crate::check;
use crate::checkpoint;
use crate::commit::CommitLog;
use crate::engine::{Engine, Found};
use crate::error::{At, Error, Limit, Result};
use crate::file::{self, DataFile, MetaSlots};
use crate::format::wal::{Op, decode_ops, decode_record, file_tag, offset_of};
use crate::format::{
    self, FIRST_DATA_PAGE, FORMAT_VERSION, FileHeader, HEADER_BYTES, Lsn, Meta, TxnId,
};
use crate::options::Options;
use crate::pager::MapSource;
use crate::txn::WriteTxn;
use crate::wal::{self, LogReader, Scan, WalFiles};

/// Opens (creating if allowed) and recovers the database at `path`: finds
/// the newest checkpoint, then the log after it, assembles the state from
/// what was found, replays, and makes the newest slot name the log.
pub(crate) fn open(path: &Path, options: Options) -> Result<Engine> {
    if !format::page_size_ok(options.page_bytes) {
        return Err(Error::LimitExceeded {
            what: Limit::PageSize,
            actual: options.page_bytes as u64,
            max: format::PAGE_BYTES_MAX as u64,
        });
    }
    let found = find_checkpoint(path, &options)?;
    let log = find_log(&found, &options)?;
    let (scan, afresh, file_id) = (log.scan, log.afresh, found.header.file_id);
    let inner = Engine::new(
        Found {
            page_bytes: found.header.page_bytes as usize,
            file: found.file,
            meta: found.meta,
            slot: found.slot,
            map: found.map,
            free_ids: found.free_ids,
            freelist_pages: found.freelist_pages,
            log: log.commit_log,
            log_loss: log.loss,
            replayed_commits: scan.records.len() as u64,
        },
        options,
    )?;
    if !scan.records.is_empty() {
        replay(&inner, &scan, file_id)?;
    }
    checkpoint::open_log(&inner, afresh)?;
    Ok(inner)
}

/// The newest checkpoint as opening found it.
struct Checkpoint {
    path: PathBuf,
    file: DataFile,
    header: FileHeader,
    meta: Meta,
    slot: usize,
    /// Whether the other meta slot failed to decode.
    other_damaged: bool,
    /// A mapping covering `meta`'s pages.
    map: usize,
    free_ids: Vec<u64>,
    freelist_pages: Vec<u64>,
}

/// Creates the file if allowed, locks it, and reads the newest checkpoint:
/// its header, meta slot, length, integrity if the other slot is damaged,
/// and freelist.
fn find_checkpoint(path: &Path, options: &Options) -> Result<Checkpoint> {
    if options.create && !path.exists() {
        DataFile::create(path, &initial_pages(options.page_bytes))?;
    }
    let path = resolve(path)?;
    let (file, empty) = DataFile::open(&path, options.io_hook.clone())?;
    if empty {
        init_empty(&file, &path, options)?;
    }
    let header = read_header(&file)?;
    let page_bytes = header.page_bytes as usize;
    let (meta, slot, other_damaged) = newest_meta(&file, page_bytes)?;
    let file_bytes = file.len()?;
    // Meta::decode bounds page_count, so this cannot overflow.
    let needed = meta.page_count * page_bytes as u64;
    if file_bytes < needed {
        return Err(Error::corrupt(
            Meta::page_of_slot(slot),
            format!(
                "file is truncated: {} bytes, but the state needs {} pages of {}",
                file_bytes, meta.page_count, page_bytes
            ),
        ));
    }
    let map = file.ensure_mapped(needed)?;
    let src = MapSource {
        file: &file,
        map,
        page_count: meta.page_count,
        page_bytes,
        verify: true,
        resident: None,
    };
    if other_damaged {
        refuse_unless_intact(src, &meta, slot)?;
    }
    let (free_ids, freelist_pages) = load_freelist(&src, &meta)?;
    Ok(Checkpoint {
        path,
        file,
        header,
        meta,
        slot,
        other_damaged,
        map,
        free_ids,
        freelist_pages,
    })
}

/// The log after the checkpoint as opening found it, ready for appends.
struct Log {
    scan: Scan,
    commit_log: CommitLog,
    /// The loss the user accepted, if any.
    loss: Option<String>,
    /// The log starts afresh once the records read are checkpointed (a
    /// clean close needed none; an accepted loss gives the rest up).
    afresh: bool,
}

/// Reads the log the checkpoint names, refuses a loss the user did not
/// accept, and readies the file the log goes on in.
fn find_log(k: &Checkpoint, options: &Options) -> Result<Log> {
    let meta = k.meta;
    let paths = wal::wal_paths(&k.path);
    // A clean slot whose twin does not decode may be older than the twin
    // was: an open writes a slot without the mark before any commit, and
    // that slot may be what rotted. Then read the log anyway where that
    // open started it (file 0, at the clean slot's position); finding no
    // log there is no loss, as the clean close needed none.
    let doubted = meta.clean && k.other_damaged;
    let scan_meta = if doubted {
        Meta {
            clean: false,
            wal_base: meta.wal_lsn,
            wal_file: 0,
            ..meta
        }
    } else {
        meta
    };
    let mut scan = LogReader {
        paths: &paths,
        file_id: k.header.file_id,
    }
    .scan(wal::read_files(&paths)?, &scan_meta)?;
    if doubted && scan.end_file.is_none() {
        scan.loss = None;
    }
    let loss = match scan.loss {
        Some(ref e) if !options.accept_log_loss => return Err(clone_loss(e)),
        Some(ref e) => Some(e.to_string()),
        None => None,
    };
    let wal = WalFiles::open(&k.path, k.header.file_id, options.io_hook.clone())?;
    let (active, base, afresh) = match scan.end_file {
        Some((f, base)) if scan.loss.is_none() => {
            continue_log(&wal, f, base, scan.end_lsn)?;
            (f, base, false)
        }
        _ => (0, scan.end_lsn, true),
    };
    let commit_log = CommitLog::new(wal, active, base, scan.end_lsn, meta.wal_lsn, meta.txn);
    Ok(Log {
        scan,
        commit_log,
        loss,
        afresh,
    })
}

/// Readies file `f`, where the log ends at `end` (its records from
/// `base`), for appends: a torn tail is cut and the cut synced (else a crash
/// could bring back records after it, never acknowledged, behind new ones
/// of the same length), and a header the records proved but that does not
/// decode is rewritten and synced (else the next open, with no record yet
/// at the position, could not find the file).
fn continue_log(wal: &WalFiles, f: usize, base: Lsn, end: Lsn) -> Result<()> {
    let len = offset_of(end, base);
    if wal.len(f) > len {
        wal.truncate(f, len)?;
        wal.sync(f)?;
    }
    if !wal.header_is(f, base)? {
        wal.write_header(f, base)?;
        wal.sync(f)?;
    }
    Ok(())
}

/// The real path of an existing file: a link's target, so the log's names
/// are derived from the file itself.
fn resolve(path: &Path) -> Result<PathBuf> {
    file::require_regular_file(path)?;
    std::fs::canonicalize(path).at(path)
}

/// A data file of zero bytes: a database to initialize in place, if the
/// caller allows creating one and no log says a database lived here.
fn init_empty(file: &DataFile, path: &Path, options: &Options) -> Result<()> {
    if !options.create {
        return Err(Error::NotADatabase {
            path: path.to_path_buf(),
        });
    }
    let paths = wal::wal_paths(path);
    for p in &paths {
        if std::fs::metadata(p).is_ok_and(|m| m.len() > 0) {
            return Err(Error::corrupt(
                0,
                format!(
                    "the data file is empty but its log {} is not: the database was \
                     truncated; restore it from a backup (or move the log away to \
                     start an empty database)",
                    p.display()
                ),
            ));
        }
    }
    file.write_at(&initial_pages(options.page_bytes), 0)?;
    file.sync("create.sync")
}

/// The other meta slot does not decode: either the checkpoint a crash
/// interrupted (then the state of this one is intact: nothing reuses its
/// pages before the next checkpoint is durable) or a newer slot damaged
/// after it was written (then newer commits may have reused this state's
/// pages, and it must not be recovered from). Only a walk of the whole
/// state tells them apart.
fn refuse_unless_intact(src: MapSource<'_>, meta: &Meta, slot: usize) -> Result<()> {
    let report = check::check_state(src, meta);
    match report.problems.first() {
        None => Ok(()),
        Some(p) => Err(Error::corrupt(
            Meta::page_of_slot(1 - slot),
            format!(
                "meta slot {} is damaged and the state of slot {slot} (commit {}) is \
                 not intact, so neither can be recovered from: page {}: {} ({} problems)",
                1 - slot,
                meta.txn.0,
                p.page,
                p.reason,
                report.problems.len()
            ),
        )),
    }
}

/// The loss as an error of its own (the scan keeps the original).
fn clone_loss(e: &Error) -> Error {
    match e {
        Error::WalCorruption {
            path,
            offset,
            reason,
        } => Error::WalCorruption {
            path: path.clone(),
            offset: *offset,
            reason: reason.clone(),
        },
        other => Error::corrupt(0, other.to_string()),
    }
}

/// Applies the scanned records (already checked by the scan: decodable,
/// ours, operations parse, commit numbers without a gap) in one
/// transaction, committed as a checkpoint.
fn replay(inner: &Engine, scan: &Scan, file_id: u64) -> Result<()> {
    let mut tx = WriteTxn::for_replay(inner)?;
    let tag = file_tag(file_id);
    for found in &scan.records {
        let bytes = &scan.bytes[found.file][found.offset..];
        let rec = decode_record(bytes, found.lsn, tag).expect("scan found this record valid");
        let ops = decode_ops(&rec).expect("scan parsed this record's operations");
        for op in ops {
            match op {
                Op::Put { tree, key, value } => {
                    tx.open_tree(tree)?.insert(key, value)?;
                }
                Op::Delete { tree, key } => {
                    tx.open_tree(tree)?.remove(key)?;
                }
                Op::CreateTree { tree } => {
                    tx.open_tree(tree)?;
                }
                Op::DeleteTree { tree } => {
                    tx.delete_tree(tree)?;
                }
                // The scan returns no marker; a marker is no change anyway.
                Op::Switch => {}
            }
        }
        tx.set_id(TxnId(rec.txn));
    }
    tx.commit()
}

/// The first pages of a new file: the header and two meta slots, both
/// describing the empty database (txn 0). A new database needs no log: both
/// slots carry the clean mark.
fn initial_pages(page_bytes: usize) -> Vec<u8> {
    let meta = Meta {
        txn: TxnId(0),
        page_count: FIRST_DATA_PAGE,
        clean: true,
        ..Meta::default()
    };
    format::first_pages(file::new_file_id(), &meta, page_bytes)
}

fn read_header(file: &DataFile) -> Result<FileHeader> {
    let mut b = [0u8; HEADER_BYTES];
    let n = file.read_at(&mut b, 0)?;
    FileHeader::decode(&b[..n]).map_err(|e| match e {
        format::HeaderError::NotOurs => Error::NotADatabase {
            path: file.path().to_path_buf(),
        },
        format::HeaderError::Version(found) => Error::UnsupportedVersion {
            path: file.path().to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        },
        format::HeaderError::Corrupt(reason) => Error::corrupt(0, reason),
    })
}

/// Reads both meta slots and returns the newest valid one, its slot, and
/// whether the other slot failed to decode.
fn newest_meta(file: &DataFile, page_bytes: usize) -> Result<(Meta, usize, bool)> {
    let MetaSlots { slots, newest } = file.meta_slots(page_bytes)?;
    let [s0, s1] = slots;
    match (newest, s0, s1) {
        (Some(0), Ok(meta), other) => Ok((meta, 0, other.is_err())),
        (Some(1), other, Ok(meta)) => Ok((meta, 1, other.is_err())),
        (_, Err(Error::Corruption { reason, .. }), _) => Err(Error::corrupt(
            1,
            format!("no valid meta slot (slot 0: {reason}; slot 1 also invalid)"),
        )),
        _ => Err(Error::corrupt(1, "no valid meta slot")),
    }
}

/// Walks the freelist chain of `meta`: the free page ids and the chain's pages.
fn load_freelist(src: &MapSource<'_>, meta: &Meta) -> Result<(Vec<u64>, Vec<u64>)> {
    let mut ids = Vec::with_capacity(meta.free_count.min(1 << 24) as usize);
    let mut pages = Vec::new();
    let mut out_of_range = None;
    crate::freelist::walk_chain(
        meta,
        |id| src.page(id),
        |page, _, entries| {
            out_of_range = entries
                .iter()
                .find(|&&id| id < FIRST_DATA_PAGE || id >= meta.page_count)
                .map(|&id| (page, id));
            ids.extend(entries);
            pages.push(page.0);
            out_of_range.is_none()
        },
    )?;
    if let Some((page, id)) = out_of_range {
        return Err(Error::corrupt(
            page.0,
            format!("free page id {id} out of range"),
        ));
    }
    // A page listed twice, or a freelist page listed as free, would be
    // handed out twice: refuse it here, where the whole list is at hand.
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::corrupt(
            meta.freelist_head.0,
            format!("freelist lists page {} twice", w[0]),
        ));
    }
    if let Some(p) = pages.iter().find(|p| sorted.binary_search(p).is_ok()) {
        return Err(Error::corrupt(
            *p,
            "freelist page is listed as free by the freelist",
        ));
    }
    if ids.len() as u64 != meta.free_count {
        return Err(Error::corrupt(
            meta.freelist_head.0,
            format!(
                "freelist holds {} ids, meta says {}",
                ids.len(),
                meta.free_count
            ),
        ));
    }
    Ok((ids, pages))
}
