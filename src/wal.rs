//! The write-ahead log's two files, and reading them back at recovery.
//!
//! The log is a pair of files, `<db>.wal0` and `<db>.wal1`, used in turn.
//! New records go to the active file. Each checkpoint switches
//! (`CommitLog::switch`): it syncs the active file, resets the other one
//! (a header whose `base_lsn` is one switch marker past the end of the log,
//! synced; the old bytes stay and are overwritten), ends the active file
//! with the marker (synced), and makes the other file active. The file it
//! resets was covered by the previous checkpoint, whose meta slot is
//! durable, so nothing in it is still needed; the file it leaves holds the
//! records between the previous checkpoint and this one, needed only until
//! this checkpoint's meta slot is durable, and its marker says the log goes
//! on in the other file. Files grow in zeroed 1 MiB steps, so an fsync
//! rarely has a file length to write; a reset cuts a file back to 4 MiB,
//! recovery cuts a torn tail, and a fresh start after a clean close or an
//! accepted loss cuts both to nothing. The log on disk is therefore at most
//! the two files' worth: about twice the checkpoint trigger.
//!
//! Every meta slot names the log it needs: `wal_lsn`, where replay starts,
//! and `wal_base`, the `base_lsn` of the file holding it, whose header is
//! durable before the slot is written. Unless the slot carries the clean
//! mark (a clean close), that file must be there: a log that is missing,
//! truncated before `wal_lsn`, of another cycle, or whose header is damaged
//! with no record of ours where the log continues is a loss, and opening
//! refuses it rather than roll back to the checkpoint.
//!
//! Recovery (`LogReader::scan`) follows records from `wal_lsn`, then into
//! the other file if it starts exactly where the first ends. A record that
//! fails to decode ends the log if nothing valid follows it, or if what
//! follows was written when the log was durable only up to the bad record (a
//! torn tail: never acknowledged). A valid record after it that was appended
//! when the bad one was already durable means acknowledged data is damaged:
//! a loss naming the file and offset. So are a record whose operations do
//! not parse and a gap in the commit numbers. `oakmap check` and
//! `dump --wal` run this same scan.
//!
//! The limit of that rule: records are known acknowledged only by a later
//! record's `synced_lsn`, so damage to the records of the last fsync before
//! a crash (nothing written after them says they were durable) cannot be
//! told from a torn tail, and those commits are dropped as if torn.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{At, Error, Result};
use crate::file;
use crate::format::wal::{
    Op, Record, SWITCH_MARKER_BYTES, WAL_HEADER_BYTES, WalHeader, claimed_synced_lsn, decode_ops,
    decode_record, file_tag, offset_of,
};
use crate::format::{Lsn, Meta};
use crate::io::{Io, IoFile, IoHook};

pub(crate) struct WalFiles {
    files: [Io; 2],
    file_id: u64,
    /// Each file's length: appends below it overwrite bytes already on disk.
    lens: [AtomicU64; 2],
}

/// Appends past a file's end first extend it with this much zeroed space, so
/// most fsyncs find the file's length unchanged and have no metadata to write.
const WAL_GROW_BYTES: u64 = 1 << 20;
/// A file started afresh keeps at most this much of its length: enough that
/// commits after a switch rarely grow it, little enough that one large
/// transaction does not leave a large file behind for good.
const WAL_KEEP_BYTES: u64 = 4 << 20;

/// A record found by `scan`: which file, where, and its LSN.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FoundRecord {
    pub(crate) file: usize,
    pub(crate) offset: usize,
    pub(crate) lsn: Lsn,
}

/// What `scan` found after the checkpoint's position. Every record in
/// `records` decodes, belongs to this database, has its operations parse,
/// and continues the commit numbers without a gap.
pub(crate) struct Scan {
    /// Both files' bytes, as read (empty for a missing file).
    pub(crate) bytes: [Vec<u8>; 2],
    pub(crate) records: Vec<FoundRecord>,
    /// The LSN just past the last good record.
    pub(crate) end_lsn: Lsn,
    /// The file the log ends in, and its base LSN, if a file holds `end_lsn`.
    pub(crate) end_file: Option<(usize, Lsn)>,
    /// Why the log cannot be read to its end, if it cannot: records after
    /// `end_lsn` may have been acknowledged. Recovery refuses to open unless
    /// the user accepts the loss.
    pub(crate) loss: Option<Error>,
}

/// The WAL file paths for the database at `db` (a resolved path: the log
/// lives beside the real file, not beside a link to it).
pub(crate) fn wal_paths(db: &Path) -> [PathBuf; 2] {
    let name = db
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    [0, 1].map(|i| db.with_file_name(format!("{name}.wal{i}")))
}

/// Reads both WAL files whole; `None` for one that does not exist. Anything
/// but a regular file (a FIFO would block the read) is an error.
pub(crate) fn read_files(paths: &[PathBuf; 2]) -> Result<[Option<Vec<u8>>; 2]> {
    let read = |p: &PathBuf| match file::require_regular_file(p) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
        Ok(()) => std::fs::read(p).map(Some).at(p),
    };
    Ok([read(&paths[0])?, read(&paths[1])?])
}

impl WalFiles {
    /// Opens (creating if missing) both WAL files of the database at `db`.
    pub(crate) fn open(db: &Path, file_id: u64, hook: Option<Arc<dyn IoHook>>) -> Result<WalFiles> {
        let paths = wal_paths(db);
        let mut created = false;
        let mut open = |p: &PathBuf| -> Result<File> {
            created |= !p.exists();
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(p)
                .at(p)
        };
        let files = [
            Io::new(open(&paths[0])?, IoFile::Wal(0), &paths[0], hook.clone()),
            Io::new(open(&paths[1])?, IoFile::Wal(1), &paths[1], hook),
        ];
        if created {
            file::sync_dir_of(db)?;
        }
        let lens = [
            AtomicU64::new(files[0].len()?),
            AtomicU64::new(files[1].len()?),
        ];
        Ok(WalFiles {
            files,
            file_id,
            lens,
        })
    }

    /// The `file_tag` this database's records carry.
    pub(crate) fn tag(&self) -> u32 {
        file_tag(self.file_id)
    }

    /// Starts the log afresh at `base_lsn` in file 0, file 1 emptied; both
    /// synced. Nothing of the old log can be read afterwards.
    pub(crate) fn start_afresh(&self, base_lsn: Lsn) -> Result<()> {
        self.wipe(0, base_lsn)?;
        self.truncate(1, 0)?;
        self.sync(1)
    }

    /// Writes at `offset`; a write past the end of the file is followed by
    /// zeros up to the next `WAL_GROW_BYTES` boundary (less than 1 MiB, so a
    /// large record is not doubled in memory or on disk).
    pub(crate) fn write_at(&self, i: usize, bytes: &[u8], offset: u64) -> Result<()> {
        let end = offset + bytes.len() as u64;
        let len = self.lens[i].load(Ordering::Acquire);
        self.files[i].write_at(bytes, offset, "wal.write")?;
        if end > len {
            let grown = end.next_multiple_of(WAL_GROW_BYTES);
            if grown > end {
                let zeros = vec![0u8; (grown - end) as usize];
                self.files[i].write_at(&zeros, end, "wal.write")?;
            }
            self.lens[i].store(grown, Ordering::Release);
        }
        Ok(())
    }

    pub(crate) fn sync(&self, i: usize) -> Result<()> {
        self.files[i].sync("wal.sync")
    }

    /// Starts file `i` afresh at `base_lsn` by writing its header (the
    /// caller syncs it before anything names the file). The file keeps its
    /// old bytes, which new records overwrite: an old record cannot be taken
    /// for a new one, as its LSN is below the new base. Past
    /// `WAL_KEEP_BYTES` it is cut back (`trim`), if the checkpoint that
    /// left it behind has not done so already.
    pub(crate) fn reset(&self, i: usize, base_lsn: Lsn) -> Result<()> {
        self.trim(i)?;
        self.write_header(i, base_lsn)
    }

    /// Cuts file `i` back to `WAL_KEEP_BYTES` if it is longer. Only for a
    /// file whose records are all old (covered by a durable checkpoint), so
    /// a crash that undoes the cut changes nothing.
    pub(crate) fn trim(&self, i: usize) -> Result<()> {
        if self.lens[i].load(Ordering::Acquire) > WAL_KEEP_BYTES {
            self.truncate(i, WAL_KEEP_BYTES)?;
        }
        Ok(())
    }

    /// Writes file `i`'s header for `base_lsn`, touching nothing else (also
    /// recovery repairing a damaged header whose base the records proved).
    pub(crate) fn write_header(&self, i: usize, base_lsn: Lsn) -> Result<()> {
        let header = WalHeader {
            file_id: self.file_id,
            base_lsn,
        };
        self.write_at(i, &header.encode(), 0)
    }

    /// File `i`'s length as this process last set or saw it.
    pub(crate) fn len(&self, i: usize) -> u64 {
        self.lens[i].load(Ordering::Acquire)
    }

    /// Whether file `i`'s header, as on disk now, decodes to `base_lsn`.
    pub(crate) fn header_is(&self, i: usize, base_lsn: Lsn) -> Result<bool> {
        let mut b = [0u8; WAL_HEADER_BYTES];
        let n = self.files[i].read_at(&mut b, 0)?;
        Ok(WalHeader::decode(&b[..n]).is_some_and(|h| h.base_lsn == base_lsn))
    }

    /// Cuts file `i` to `len` bytes (recovery dropping a torn tail: records
    /// after it of the same base must not survive to be read later; a reset
    /// giving back space).
    pub(crate) fn truncate(&self, i: usize, len: u64) -> Result<()> {
        self.files[i].set_len(len, "wal.truncate")?;
        self.lens[i].store(len, Ordering::Release);
        Ok(())
    }

    /// Cuts file `i` to nothing and writes a fresh header at `base_lsn`,
    /// synced: after a loss the user accepted, no byte of the old log may
    /// be read again.
    pub(crate) fn wipe(&self, i: usize, base_lsn: Lsn) -> Result<()> {
        self.truncate(i, 0)?;
        self.reset(i, base_lsn)?;
        self.sync(i)
    }
}

/// What a WAL file's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// The file does not exist.
    Missing,
    /// Shorter than a header.
    Short,
    /// The header does not decode (torn, rotted, zeroed, another version).
    Damaged,
    /// A valid header of this database starting at this LSN.
    Base(Lsn),
}

/// Reads the log's bytes back (recovery, and read-only tools: one path, so
/// `oakmap check` and `dump --wal` conclude what opening concludes).
pub(crate) struct LogReader<'a> {
    pub(crate) paths: &'a [PathBuf; 2],
    pub(crate) file_id: u64,
}

impl LogReader<'_> {
    /// Finds every good record after the checkpoint `meta` in the two files'
    /// bytes (`None`: missing). An error is returned only for a log that is
    /// not this database's; a log that cannot be read to its end is a
    /// `Scan::loss`, with the records before the problem.
    ///
    /// Where replay starts comes from the meta, not from the headers:
    /// `meta.wal_base` is the `base_lsn` of the file holding `meta.wal_lsn`,
    /// so the record there is at a known offset. A file holds it if its
    /// header says that base, or if its header is damaged and a record of
    /// this database decodes at that offset with that LSN (records carry
    /// their own LSN, `file_tag` and checksum; a damaged header must not
    /// hide them).
    pub(crate) fn scan(&self, files: [Option<Vec<u8>>; 2], meta: &Meta) -> Result<Scan> {
        let heads = [0, 1].map(|i| head_of(files[i].as_deref()));
        for (i, b) in files.iter().enumerate() {
            if let Some(b) = b
                && let Some(h) = WalHeader::decode(b)
                && h.file_id != self.file_id
            {
                return Err(Error::WalCorruption {
                    path: self.paths[i].clone(),
                    offset: 0,
                    reason: "the WAL file belongs to a different database; move it away".into(),
                });
            }
        }
        let bytes = files.map(Option::unwrap_or_default);
        let mut scan = Scan {
            records: Vec::new(),
            end_lsn: meta.wal_lsn,
            end_file: None,
            loss: None,
            bytes: [Vec::new(), Vec::new()],
        };
        if meta.clean {
            // A clean close: the log holds nothing this state lacks.
            scan.bytes = bytes;
            return Ok(scan);
        }
        let tag = file_tag(self.file_id);
        let Some((start, off)) = self.start_file(&bytes, &heads, meta, tag) else {
            scan.loss = Some(self.missing(&heads, meta));
            scan.bytes = bytes;
            return Ok(scan);
        };
        let mut walk = Walk {
            reader: self,
            tag,
            lsn: meta.wal_lsn,
            txn: meta.txn.0,
            records: Vec::new(),
        };
        let (mut file, mut base, mut off) = (start, meta.wal_base, off);
        let loss = loop {
            let switched = match walk.file(&bytes[file], file, off) {
                Ok(switched) => switched,
                Err(e) => break Some(e),
            };
            // The log continues in the other file if it starts exactly where
            // this one's records end (an older file's later bytes are an
            // earlier cycle's: files are reused, not emptied); after a
            // switch marker it must.
            let other = 1 - file;
            let continues = match heads[other] {
                Head::Base(b) => b == walk.lsn && b > base,
                Head::Damaged => {
                    walk.lsn > base && record_at(&bytes[other], WAL_HEADER_BYTES, walk.lsn, tag)
                }
                Head::Missing | Head::Short => false,
            };
            if !continues {
                if switched {
                    break Some(self.corrupt(
                        other,
                        0,
                        &format!(
                            "the log continues in this file from LSN {} ({} ends with a \
                             switch to it), but it is {}",
                            walk.lsn,
                            self.paths[file].display(),
                            describe(heads[other], walk.lsn),
                        ),
                    ));
                }
                // A switch that did not finish: the other file got its
                // header (one marker past here), the marker did not land,
                // and nothing can have been appended after it.
                let unfinished = |b: Lsn| {
                    b == walk.lsn + SWITCH_MARKER_BYTES
                        && !record_at(&bytes[other], WAL_HEADER_BYTES, b, tag)
                };
                if let Head::Base(b) = heads[other]
                    && b > walk.lsn
                    && !unfinished(b)
                {
                    break Some(self.corrupt(
                        other,
                        0,
                        "WAL continues past a gap or a damaged record",
                    ));
                }
                break None;
            }
            file = other;
            base = walk.lsn;
            off = WAL_HEADER_BYTES;
        };
        scan.end_lsn = walk.lsn;
        scan.records = walk.records;
        scan.end_file = Some((file, base));
        scan.loss = loss;
        scan.bytes = bytes;
        Ok(scan)
    }

    /// The file holding `meta.wal_lsn`, and the offset of that position in it.
    fn start_file(
        &self,
        bytes: &[Vec<u8>; 2],
        heads: &[Head; 2],
        meta: &Meta,
        tag: u32,
    ) -> Option<(usize, usize)> {
        // Meta::decode bounds wal_lsn and keeps wal_base below it.
        let off = usize::try_from(offset_of(meta.wal_lsn, meta.wal_base)).ok()?;
        let at_lsn = |i: usize| record_at(&bytes[i], off, meta.wal_lsn, tag);
        (0..2)
            .filter(|&i| match heads[i] {
                // The file must reach the position (shorter: truncated).
                Head::Base(b) => b == meta.wal_base && bytes[i].len() >= off,
                Head::Damaged => at_lsn(i),
                Head::Missing | Head::Short => false,
            })
            .max_by_key(|&i| (at_lsn(i), matches!(heads[i], Head::Base(_))))
            .map(|i| (i, off))
    }

    /// The error for a log the checkpoint needs that no file holds.
    fn missing(&self, heads: &[Head; 2], meta: &Meta) -> Error {
        self.corrupt(
            meta.wal_file.min(1),
            0,
            &format!(
                "the checkpoint at commit {} needs the log from LSN {} (in wal{}, \
                 starting at {}), and neither file holds it: {}: {}; {}: {}",
                meta.txn.0,
                meta.wal_lsn,
                meta.wal_file,
                meta.wal_base,
                self.paths[0].display(),
                describe(heads[0], meta.wal_base),
                self.paths[1].display(),
                describe(heads[1], meta.wal_base),
            ),
        )
    }

    /// A log that cannot be read to its end, with what the user can do.
    fn corrupt(&self, file: usize, offset: u64, reason: &str) -> Error {
        Error::WalCorruption {
            path: self.paths[file].clone(),
            offset,
            reason: format!(
                "{reason}. Acknowledged commits may be lost; nothing was changed. Restore \
                 the file from a copy, or accept the loss with Options::accept_log_loss \
                 (`oakmap recover --accept-log-loss`), which keeps the commits before \
                 this point"
            ),
        }
    }
}

/// Follows records, checking each the way replay needs it.
struct Walk<'r, 'p> {
    reader: &'r LogReader<'p>,
    tag: u32,
    /// The LSN of the next record.
    lsn: Lsn,
    /// The commit of the last record (or the checkpoint).
    txn: u64,
    records: Vec<FoundRecord>,
}

impl Walk<'_, '_> {
    /// Follows records in one file from `off` to the first that does not
    /// decode, the end of the file, or a switch marker (then returns true:
    /// the log continues in the other file). Errors are losses: a damaged
    /// record that acknowledged ones follow, a record whose operations do
    /// not parse, a gap in the commit numbers.
    fn file(&mut self, b: &[u8], file: usize, off: usize) -> Result<bool> {
        let mut records = Records::new(b, off, self.lsn, self.tag);
        for (off, r) in records.by_ref() {
            let ops = decode_ops(&r);
            if ops.as_deref().is_some_and(Op::is_switch_marker) {
                self.lsn += r.len as u64;
                return Ok(true);
            }
            // Commits are numbered without gaps, and every one after the
            // checkpoint has a record except one too large to log, which is
            // a checkpoint of its own: a gap means such a checkpoint's meta
            // slot is lost, and the records after it must not be applied.
            if Some(r.txn) != self.txn.checked_add(1) {
                return Err(self.reader.corrupt(
                    file,
                    off as u64,
                    &format!(
                        "record of commit {} where commit {} was due: the commits between \
                         are in no record (committed as checkpoints whose meta slot is lost)",
                        r.txn,
                        self.txn.saturating_add(1)
                    ),
                ));
            }
            if ops.is_none() {
                return Err(self.reader.corrupt(
                    file,
                    off as u64,
                    "record's checksum holds but its operations do not parse",
                ));
            }
            self.records.push(FoundRecord {
                file,
                offset: off,
                lsn: r.lsn,
            });
            self.txn = r.txn;
            self.lsn += r.len as u64;
        }
        match records.end {
            Some(FileEnd::Damaged {
                offset,
                acknowledged_at,
            }) => Err(self.reader.corrupt(
                file,
                offset as u64,
                &format!(
                    "damaged record followed by acknowledged ones (first at offset {acknowledged_at})"
                ),
            )),
            _ => Ok(false),
        }
    }
}

/// How a WAL file's run of records ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileEnd {
    /// At the end of the file's bytes.
    Clean,
    /// At a record that does not decode, with no acknowledged record after
    /// it: a torn tail, never acknowledged.
    Torn { offset: usize },
    /// At a damaged record that acknowledged records follow, the first at
    /// `acknowledged_at`: acknowledged commits are lost.
    Damaged {
        offset: usize,
        acknowledged_at: usize,
    },
}

/// The records of one WAL file from byte `off` (LSN `lsn` there), in
/// order, each with its offset; once it yields `None`, `end` says how the
/// run ended. The one reading of a file's records, and the one judgement of
/// its tail, that opening, `oakmap check` and `dump --wal` share.
pub(crate) struct Records<'b> {
    b: &'b [u8],
    off: usize,
    lsn: Lsn,
    tag: u32,
    pub(crate) end: Option<FileEnd>,
}

impl<'b> Records<'b> {
    pub(crate) fn new(b: &'b [u8], off: usize, lsn: Lsn, tag: u32) -> Records<'b> {
        Records {
            b,
            off,
            lsn,
            tag,
            end: None,
        }
    }
}

impl<'b> Iterator for Records<'b> {
    type Item = (usize, Record<'b>);

    fn next(&mut self) -> Option<(usize, Record<'b>)> {
        if self.end.is_some() {
            return None;
        }
        if self.off >= self.b.len() {
            self.end = Some(FileEnd::Clean);
            return None;
        }
        let Some(r) = decode_record(&self.b[self.off..], self.lsn, self.tag) else {
            // A bad record: damage if a later valid record of this file
            // says the log was durable past this point when it was
            // written; else a torn tail, never acknowledged.
            self.end = Some(
                match acknowledged_after(self.b, self.off, self.lsn, self.tag) {
                    Some(acknowledged_at) => FileEnd::Damaged {
                        offset: self.off,
                        acknowledged_at,
                    },
                    None => FileEnd::Torn { offset: self.off },
                },
            );
            return None;
        };
        let at = self.off;
        self.off += r.len;
        self.lsn += r.len as u64;
        Some((at, r))
    }
}

/// The offset of the first valid record after the bad one at `off` (LSN
/// `bad_lsn`) whose `synced_lsn` says the log was durable past `bad_lsn`
/// when it was written. Every later offset is tried, as a record's LSN
/// names its position: `lsn = bad_lsn + (p - off)`.
fn acknowledged_after(b: &[u8], off: usize, bad_lsn: Lsn, tag: u32) -> Option<usize> {
    // The header fields first: a crafted file cannot make every offset pay
    // for a checksum over the rest of the file.
    (off + 1..b.len()).find(|&p| {
        let lsn = bad_lsn + (p - off) as u64;
        claimed_synced_lsn(&b[p..], lsn, tag).is_some_and(|s| s > bad_lsn)
            && decode_record(&b[p..], lsn, tag).is_some()
    })
}

/// What is wrong with a file that should start at `base`.
fn describe(h: Head, base: Lsn) -> String {
    match h {
        Head::Missing => "missing".to_string(),
        Head::Short => "shorter than its header".to_string(),
        Head::Damaged => "damaged: its header does not decode, and no record of this \
                          database is where the log must continue"
            .to_string(),
        Head::Base(b) if b == base => {
            "truncated before the position the checkpoint covers".to_string()
        }
        Head::Base(b) => format!("a log starting at LSN {b} (another cycle's, or an older copy)"),
    }
}

fn head_of(b: Option<&[u8]>) -> Head {
    match b {
        None => Head::Missing,
        Some(b) if b.len() < WAL_HEADER_BYTES => Head::Short,
        Some(b) => WalHeader::decode(b).map_or(Head::Damaged, |h| Head::Base(h.base_lsn)),
    }
}

fn record_at(b: &[u8], off: usize, lsn: Lsn, tag: u32) -> bool {
    b.get(off..)
        .is_some_and(|rest| decode_record(rest, lsn, tag).is_some())
}
