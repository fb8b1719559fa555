//! The write-ahead log's two files, and reading them back at recovery.
//!
//! The log is a pair of files, `<db>.wal0` and `<db>.wal1`, used in turn.
//! New records go to the active file. Each checkpoint switches: it syncs the
//! active file, then resets the other one (writes a header whose `base_lsn`
//! is the current end of the log; the old bytes stay and are overwritten)
//! and makes it active. The file it resets was covered by the previous
//! checkpoint, whose meta slot is durable, so nothing in it is still needed;
//! the file it leaves holds the records between the previous checkpoint and
//! this one, needed only until this checkpoint's meta slot is durable. Files
//! grow in zeroed 1 MiB steps and never shrink (but for recovery cutting a
//! torn tail), so an fsync rarely has a file length to write. The log on disk
//! is therefore at most the two files' worth: about twice the checkpoint
//! trigger.
//!
//! Recovery (`scan`) starts at the LSN the chosen meta slot covers, in the
//! file whose range holds it, and follows records, then into the other file
//! if it starts exactly where the first ends. A record that fails to decode
//! ends the log if nothing valid follows it, or if what follows was written
//! when the log was durable only up to the bad record (a torn tail: never
//! acknowledged). A valid record after it that was appended when the bad one
//! was already durable means acknowledged data is damaged: an error naming
//! the file and offset.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::format::wal::{WAL_HEADER_BYTES, WalHeader, decode_record};
use crate::io::{Io, IoFile, IoHook};

pub(crate) struct WalFiles {
    files: [Io; 2],
    paths: [PathBuf; 2],
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

/// A record found by `scan`: which file, where, and its LSN and txn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FoundRecord {
    pub(crate) file: usize,
    pub(crate) offset: usize,
    pub(crate) lsn: u64,
}

/// What `scan` found after the checkpoint's LSN.
pub(crate) struct Scan {
    /// Both files' bytes, as read.
    pub(crate) bytes: [Vec<u8>; 2],
    pub(crate) records: Vec<FoundRecord>,
    /// The LSN just past the last good record.
    pub(crate) end_lsn: u64,
    /// The file the log ends in, and its base LSN, if any file holds `end_lsn`.
    pub(crate) end_file: Option<(usize, u64)>,
}

/// The WAL file paths for the database at `db`.
pub(crate) fn wal_paths(db: &Path) -> [PathBuf; 2] {
    let name = db
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    [0, 1].map(|i| db.with_file_name(format!("{name}.wal{i}")))
}

impl WalFiles {
    /// Opens (creating if missing) both WAL files of the database at `db`.
    pub(crate) fn open(db: &Path, file_id: u64, hook: Option<Arc<dyn IoHook>>) -> Result<WalFiles> {
        let paths = wal_paths(db);
        let mut created = false;
        let mut open = |p: &PathBuf| -> Result<File> {
            created |= !p.exists();
            Ok(OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(p)?)
        };
        let files = [
            Io::new(open(&paths[0])?, IoFile::Wal(0), hook.clone()),
            Io::new(open(&paths[1])?, IoFile::Wal(1), hook),
        ];
        if created {
            let dir = db.parent().filter(|p| !p.as_os_str().is_empty());
            File::open(dir.unwrap_or(Path::new(".")))?.sync_all()?;
        }
        let lens = [
            AtomicU64::new(files[0].len()?),
            AtomicU64::new(files[1].len()?),
        ];
        Ok(WalFiles {
            files,
            paths,
            file_id,
            lens,
        })
    }

    pub(crate) fn path(&self, i: usize) -> &Path {
        &self.paths[i]
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
        Ok(self.files[i].sync("wal.sync")?)
    }

    /// Starts file `i` afresh at `base_lsn` by writing its header (not
    /// synced: the first sync of a record in it makes the header durable too).
    /// The file keeps its old bytes, which new records overwrite: an old
    /// record cannot be taken for a new one, as its LSN is below the new
    /// base. Past `WAL_KEEP_BYTES` it is cut back (those bytes are all old
    /// records, so a crash that undoes the cut changes nothing).
    pub(crate) fn reset(&self, i: usize, base_lsn: u64) -> Result<()> {
        if self.lens[i].load(Ordering::Acquire) > WAL_KEEP_BYTES {
            self.truncate(i, WAL_KEEP_BYTES)?;
        }
        let header = WalHeader {
            file_id: self.file_id,
            base_lsn,
        };
        self.write_at(i, &header.encode(), 0)
    }

    /// Zeroes file `i`'s header: it holds no records until reset again.
    pub(crate) fn invalidate(&self, i: usize) -> Result<()> {
        self.write_at(i, &[0u8; WAL_HEADER_BYTES], 0)
    }

    /// Cuts file `i` to `len` bytes (recovery dropping a torn tail: records
    /// after it of the same base must not survive to be read later; a reset
    /// giving back space).
    pub(crate) fn truncate(&self, i: usize, len: u64) -> Result<()> {
        self.files[i].set_len(len, "wal.write")?;
        self.lens[i].store(len, Ordering::Release);
        Ok(())
    }

    fn read(&self, i: usize) -> Result<Vec<u8>> {
        let len = self.files[i].len()?;
        let mut b =
            vec![0u8; usize::try_from(len).map_err(|_| Error::corrupt(0, "WAL file too large"))?];
        let n = self.files[i].read_at(&mut b, 0)?;
        b.truncate(n);
        Ok(b)
    }

    /// Reads both files and finds every good record from `from_lsn` on.
    pub(crate) fn scan(&self, from_lsn: u64) -> Result<Scan> {
        let bytes = [self.read(0)?, self.read(1)?];
        LogReader {
            paths: &self.paths,
            file_id: self.file_id,
        }
        .scan(bytes, from_lsn)
    }
}

/// Reads the log's bytes back (recovery, and read-only tools).
pub(crate) struct LogReader<'a> {
    pub(crate) paths: &'a [PathBuf; 2],
    pub(crate) file_id: u64,
}

impl LogReader<'_> {
    /// Finds every good record from `from_lsn` on in the two files' bytes.
    pub(crate) fn scan(&self, bytes: [Vec<u8>; 2], from_lsn: u64) -> Result<Scan> {
        let mut headers = [None, None];
        for i in 0..2 {
            if let Some(h) = WalHeader::decode(&bytes[i]) {
                if h.file_id != self.file_id {
                    return Err(Error::WalCorruption {
                        path: self.paths[i].clone(),
                        offset: 0,
                        reason: "WAL file belongs to a different database".into(),
                    });
                }
                headers[i] = Some(h.base_lsn);
            }
        }
        let end_of = |i: usize, base: u64| base + (bytes[i].len() - WAL_HEADER_BYTES) as u64;
        // The file whose range holds from_lsn; the newer one if both do, and
        // of two starting at the same LSN (only one can hold records: files
        // are preallocated, so their lengths do not tell), the one with a
        // record at from_lsn.
        let has_record_at = |i: usize, b: u64| {
            let off = WAL_HEADER_BYTES + (from_lsn - b) as usize;
            bytes[i]
                .get(off..)
                .is_some_and(|rest| decode_record(rest, from_lsn).is_some())
        };
        let start = (0..2)
            .filter_map(|i| headers[i].map(|b| (i, b)))
            .filter(|&(i, b)| b <= from_lsn && from_lsn <= end_of(i, b))
            .max_by_key(|&(i, b)| (b, has_record_at(i, b)));
        let mut scan = Scan {
            records: Vec::new(),
            end_lsn: from_lsn,
            end_file: start,
            bytes: [Vec::new(), Vec::new()],
        };
        let Some((mut file, mut base)) = start else {
            if let Some(i) = (0..2).find(|&i| headers[i].is_some_and(|b| b > from_lsn)) {
                return Err(self.corrupt(
                    i,
                    0,
                    "WAL starts after the checkpoint's position: records are missing",
                ));
            }
            scan.bytes = bytes;
            return Ok(scan);
        };
        let mut lsn = from_lsn;
        loop {
            self.scan_file(&bytes[file], file, base, &mut lsn, &mut scan.records)?;
            let other = 1 - file;
            // The older file ends where the newer begins; bytes after that
            // point in it are an earlier cycle's (files are reused, not
            // truncated), so a "torn" end there is not a gap.
            match headers[other] {
                Some(b) if b == lsn && b > base => {
                    file = other;
                    base = b;
                }
                Some(b) if b > lsn => {
                    return Err(self.corrupt(
                        other,
                        0,
                        "WAL continues past a gap or a damaged record",
                    ));
                }
                _ => break,
            }
        }
        scan.end_lsn = lsn;
        scan.end_file = Some((file, base));
        scan.bytes = bytes;
        Ok(scan)
    }

    /// Follows records in one file from `*lsn` to the first that does not
    /// decode (or the end of the file); returns whether it stopped early.
    fn scan_file(
        &self,
        b: &[u8],
        file: usize,
        base: u64,
        lsn: &mut u64,
        out: &mut Vec<FoundRecord>,
    ) -> Result<bool> {
        let offset_of = |lsn: u64| WAL_HEADER_BYTES + (lsn - base) as usize;
        loop {
            let off = offset_of(*lsn);
            if off == b.len() {
                return Ok(false);
            }
            match decode_record(&b[off..], *lsn) {
                Some(r) => {
                    out.push(FoundRecord {
                        file,
                        offset: off,
                        lsn: *lsn,
                    });
                    *lsn += r.len as u64;
                }
                None => {
                    self.check_tail(b, file, base, off)?;
                    return Ok(true);
                }
            }
        }
    }

    /// A bad record at `off`: corruption if a later valid record says the log
    /// was durable past this point when it was written.
    fn check_tail(&self, b: &[u8], file: usize, base: u64, off: usize) -> Result<()> {
        let bad_lsn = base + (off - WAL_HEADER_BYTES) as u64;
        for p in off + 1..b.len() {
            let lsn = base + (p - WAL_HEADER_BYTES) as u64;
            if let Some(r) = decode_record(&b[p..], lsn)
                && r.synced_lsn > bad_lsn
            {
                return Err(self.corrupt(
                    file,
                    off as u64,
                    "damaged record followed by acknowledged ones",
                ));
            }
        }
        Ok(())
    }

    fn corrupt(&self, file: usize, offset: u64, reason: &str) -> Error {
        Error::WalCorruption {
            path: self.paths[file].clone(),
            offset,
            reason: reason.to_string(),
        }
    }
}
