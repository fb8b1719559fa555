//! The data file: positioned writes, syncs, the exclusive lock, and the
//! read-only shared mappings that readers borrow pages from; and the check
//! that a path is a regular file before it is opened.
//!
//! Invariants:
//! * Every error names the file it concerns (`Error::Io { path, .. }`): the
//!   crate has no `From<std::io::Error>`, and `At::at` attaches the path.
//! * A mapping, once made, lives as long as the `DataFile`: readers hold plain
//!   references into it, so growing the file never invalidates a page a live
//!   reader holds. Growth past the newest mapping makes a new, larger one
//!   (doubling), and snapshots taken afterwards use it.
//! * Mappings may extend past the end of the file (a reservation); only pages
//!   below a committed `page_count`, which the writer has written before
//!   publishing, are ever read, and open checks the file holds them all.
//! * This is one of the two modules with `unsafe` (the other is the cache arena).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use memmap2::{Mmap, MmapOptions};

use crate::error::{At, Error, Limit, Result};
use crate::format::{META_BYTES, Meta};
use crate::io::{Io, IoFile, IoHook};
use crate::verified::Verified;

/// Mappings double in size, so 40 slots cover any file a 64-bit address space can map.
const MAPS_MAX: usize = 40;
/// Bounds on how far ahead the file grows.
const GROW_BYTES_MIN: u64 = 256 << 10;
const GROW_BYTES_MAX: u64 = 64 << 20;
/// The smallest mapping: a virtual reservation, not memory.
const MAP_BYTES_MIN: u64 = 1 << 30;

pub(crate) struct DataFile {
    io: Io,
    /// The file's length as this process last set or saw it.
    len: AtomicU64,
    path: PathBuf,
    maps: [OnceLock<Mmap>; MAPS_MAX],
    /// Index of the newest mapping; only the writer (or open) changes it.
    newest: parking_lot::Mutex<usize>,
    /// Pages whose bytes in the mapping are known good (see `verified`).
    pub(crate) verified: Verified,
}

impl DataFile {
    /// Creates `path` holding exactly `initial` (the header and meta pages),
    /// atomically: the bytes are written and synced under a temporary name,
    /// then linked into place, so a crash leaves either no file or a whole
    /// one, never a half-initialized database. If `path` appeared meanwhile,
    /// that file wins and is left alone.
    pub(crate) fn create(path: &Path, initial: &[u8]) -> Result<()> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.creating-{}", std::process::id()));
        // Errors name `path`, the file the caller asked for: the temporary
        // name is ours, and a failure to create it (a missing or read-only
        // directory) is a failure to create `path`.
        let written = (|| -> std::io::Result<()> {
            let f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all_at(initial, 0)?;
            f.sync_all()?;
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            }
        })();
        if let Err(e) = written {
            // Leave no temporary file behind; it may not exist.
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(path, e));
        }
        std::fs::remove_file(&tmp).at(&tmp)?;
        // The new directory entry must be durable before anything refers to it.
        sync_dir_of(path)
    }

    /// Opens the existing file `path` and takes its exclusive lock. Returns
    /// whether the file is empty (zero bytes: a database yet to be initialized).
    /// The caller has checked it is a regular file (`require_regular_file`).
    pub(crate) fn open(path: &Path, hook: Option<Arc<dyn IoHook>>) -> Result<(DataFile, bool)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .at(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
        let len = file.metadata().at(path)?.len();
        let df = DataFile {
            io: Io::new(file, IoFile::Data, path, hook),
            len: AtomicU64::new(len),
            path: path.to_path_buf(),
            maps: std::array::from_fn(|_| OnceLock::new()),
            newest: parking_lot::Mutex::new(0),
            verified: Verified::new(),
        };
        Ok((df, len == 0))
    }

    /// Opens `path` for reading only, without the lock: for tools that look
    /// at a file (perhaps one another process has open) and change nothing.
    pub(crate) fn open_read_only(path: &Path) -> Result<DataFile> {
        require_regular_file(path)?;
        let file = File::open(path).at(path)?;
        let len = file.metadata().at(path)?.len();
        Ok(DataFile {
            io: Io::new(file, IoFile::Data, path, None),
            len: AtomicU64::new(len),
            path: path.to_path_buf(),
            maps: std::array::from_fn(|_| OnceLock::new()),
            newest: parking_lot::Mutex::new(0),
            verified: Verified::new(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn len(&self) -> Result<u64> {
        self.io.len()
    }

    pub(crate) fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.io.read_at(buf, offset)
    }

    /// Writes tree, overflow or freelist pages (hook point `data.write`).
    pub(crate) fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.io.write_at(buf, offset, "data.write")
    }

    /// Writes `buf`, whole sealed pages of `page_bytes` starting at page
    /// `first`, and records them as verified: the writer sealed these bytes.
    pub(crate) fn write_pages(&self, buf: &[u8], first: u64, page_bytes: usize) -> Result<()> {
        self.write_at(buf, first * page_bytes as u64)?;
        self.verified.insert(
            first,
            (buf.len() / page_bytes.max(1)) as u64,
            crate::verified::ALL,
        );
        Ok(())
    }

    /// Writes a meta slot (hook point `meta.write`).
    pub(crate) fn write_meta(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.io.write_at(buf, offset, "meta.write")
    }

    /// Makes the file at least `bytes` long, growing it ahead by a sixteenth
    /// of its size (256 KiB to 64 MiB) so that most allocations need no
    /// growth; hook point `data.grow`. The new bytes are zeros (a hole).
    pub(crate) fn grow_to(&self, bytes: u64) -> Result<()> {
        let len = self.len.load(Ordering::Acquire);
        if bytes <= len {
            return Ok(());
        }
        let step = (len / 16).clamp(GROW_BYTES_MIN, GROW_BYTES_MAX);
        // Whole 64 KiB units: a multiple of every page size.
        let target = bytes.max(len + step).next_multiple_of(64 << 10);
        self.io.set_len(target, "data.grow")?;
        self.len.store(target, Ordering::Release);
        Ok(())
    }

    /// Cuts the file back to `bytes` if it is longer (hook point
    /// `data.trim`): at a clean close, the room grown ahead that no page
    /// uses; after a compaction, the pages it gave back. Mapped pages past
    /// the end of a file cannot be read, so `bytes` must cover every page a
    /// live reader's state reaches. A state's page count only grows, except
    /// at a compaction's shrink, so the newest state's covers them all once
    /// no snapshot older than the last shrink lives (`compact::may_trim`).
    pub(crate) fn trim_to(&self, bytes: u64) -> Result<()> {
        if self.len.load(Ordering::Acquire) > bytes {
            self.io.set_len(bytes, "data.trim")?;
            self.len.store(bytes, Ordering::Release);
        }
        Ok(())
    }

    /// fdatasync: the data and the file size reach the disk. `point` names
    /// the boundary (`checkpoint.data.sync` or `meta.sync`).
    pub(crate) fn sync(&self, point: &'static str) -> Result<()> {
        self.io.sync(point)
    }

    /// Starts the writeback of every page of the file written so far,
    /// without waiting for it (Linux `sync_file_range` with
    /// `SYNC_FILE_RANGE_WRITE`; elsewhere nothing). It promises nothing
    /// about durability, so it passes no hook point: a crash may leave any
    /// part of it, as of any write not yet synced. What it is for: the
    /// checkpoint's fdatasync then finds little left to write, so a
    /// commit's log fsync does not queue behind all of it at once.
    pub(crate) fn start_writeback(&self) -> Result<()> {
        #[cfg(target_os = "linux")]
        self.sync_file_range(0, 0, libc::SYNC_FILE_RANGE_WRITE)?;
        Ok(())
    }

    /// Writes back the file's dirty pages below `len` in pieces of
    /// `piece` bytes, waiting for each (Linux `sync_file_range` with
    /// `WAIT_BEFORE | WRITE | WAIT_AFTER`; elsewhere nothing), and calls
    /// `after` with each piece's time. A piece with nothing dirty costs a
    /// look at the page cache's tags. Like `start_writeback` it promises
    /// nothing about durability (the fdatasync after it does) and passes
    /// no hook point. What it is for: at most one piece at a time is in
    /// the disk's queue ahead of a commit's log write, and `after` can
    /// pause between pieces.
    pub(crate) fn write_back_in_pieces(
        &self,
        len: u64,
        piece: u64,
        mut after: impl FnMut(std::time::Duration),
    ) -> Result<()> {
        #[cfg(target_os = "linux")]
        {
            let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER;
            let mut at = 0u64;
            while at < len {
                let n = piece.min(len - at);
                let started = std::time::Instant::now();
                self.sync_file_range(at, n, flags)?;
                after(started.elapsed());
                at += n;
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (len, piece, &mut after);
        Ok(())
    }

    /// Writes back the dirty pages of `len` bytes at `offset` and waits for
    /// them, as one piece of `write_back_in_pieces` does.
    pub(crate) fn write_back_range(&self, offset: u64, len: u64) -> Result<()> {
        #[cfg(target_os = "linux")]
        self.sync_file_range(
            offset,
            len,
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
        )?;
        #[cfg(not(target_os = "linux"))]
        let _ = (offset, len);
        Ok(())
    }

    /// `sync_file_range(2)` on `bytes` bytes at `offset` (0 bytes: to the
    /// end of the file) with `flags`.
    #[cfg(target_os = "linux")]
    fn sync_file_range(&self, offset: u64, bytes: u64, flags: libc::c_uint) -> Result<()> {
        use std::os::fd::AsRawFd;
        let too_far = |_| {
            let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "range past i64");
            Error::io(&self.path, e)
        };
        let offset = libc::off64_t::try_from(offset).map_err(too_far)?;
        let bytes = libc::off64_t::try_from(bytes).map_err(too_far)?;
        let fd = self.io.file().as_raw_fd();
        // SAFETY: `fd` is the open descriptor of the `File` `self.io` owns
        // for as long as `self` lives; the call takes no pointer and changes
        // nothing but the kernel's writeback of that file's pages.
        if unsafe { libc::sync_file_range(fd, offset, bytes, flags) } != 0 {
            return Err(Error::io(&self.path, std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Makes sure a mapping covers `bytes` and returns the index of the newest one.
    pub(crate) fn ensure_mapped(&self, bytes: u64) -> Result<usize> {
        let mut newest = self.newest.lock();
        if let Some(m) = self.maps[*newest].get()
            && m.len() as u64 >= bytes
        {
            return Ok(*newest);
        }
        let idx = if self.maps[*newest].get().is_some() {
            *newest + 1
        } else {
            *newest
        };
        assert!(idx < MAPS_MAX, "mapping slots exhausted");
        let len = bytes
            .saturating_mul(2)
            .max(MAP_BYTES_MIN)
            .next_power_of_two();
        let len = usize::try_from(len).map_err(|_| Error::LimitExceeded {
            what: Limit::FileBytes,
            actual: len,
            max: usize::MAX as u64,
        })?;
        // SAFETY: the mapping is read-only and shared. Bytes under it change only
        // through this process's own pwrites, and the file is exclusively
        // locked against other oakmap processes. A pwrite goes to a page no
        // live reader reaches through the mapping (copy-on-write plus deferred
        // page reuse), or to a resident page (`resident`), which readers read
        // from its arena frame until its entry leaves the table after the
        // write; a second write of the same page racing with that (a
        // checkpoint and a transaction taking frames back) puts the same bytes. Pages past the
        // end of the file are never touched: readers only see page ids below a
        // committed page_count, and the file is grown to cover a page before
        // the page is allocated.
        let map = unsafe { MmapOptions::new().len(len).map(self.io.file()) }.at(&self.path)?;
        let ok = self.maps[idx].set(map).is_ok();
        assert!(ok, "mapping slot {idx} set twice");
        *newest = idx;
        Ok(idx)
    }

    /// `len` bytes at `offset` through mapping `idx`; `None` if past the mapping.
    pub(crate) fn mapped(&self, idx: usize, offset: u64, len: usize) -> Option<&[u8]> {
        let map = self.maps.get(idx)?.get()?;
        let start = usize::try_from(offset).ok()?;
        map.get(start..start.checked_add(len)?)
    }
}

/// Fails unless `path` is a regular file (after symlinks), before anything
/// opens it: opening a FIFO for reading blocks until a writer appears, and a
/// directory or a device is no database either. The error is
/// [`Error::Io`] naming `path`, of kind `IsADirectory` for a directory and
/// `InvalidInput` for anything else that is not a regular file.
pub(crate) fn require_regular_file(path: &Path) -> Result<()> {
    use std::io::ErrorKind;
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::metadata(path).at(path)?.file_type();
    let (what, error_kind) = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        ("a directory", ErrorKind::IsADirectory)
    } else if kind.is_fifo() {
        ("a FIFO (named pipe)", ErrorKind::InvalidInput)
    } else if kind.is_socket() {
        ("a socket", ErrorKind::InvalidInput)
    } else if kind.is_block_device() || kind.is_char_device() {
        ("a device", ErrorKind::InvalidInput)
    } else {
        (
            "neither a regular file nor a directory",
            ErrorKind::InvalidInput,
        )
    };
    Err(Error::io(
        path,
        std::io::Error::new(
            error_kind,
            format!("it is {what}; an oakmap database is a regular file"),
        ),
    ))
}

/// fsyncs the directory holding `path`, so that a name just created or
/// removed in it is durable.
pub(crate) fn sync_dir_of(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Both meta slots as read: each decoded, or the error saying why not, and
/// which one is newest (`Meta::is_newer_than`). The one reading of the
/// slots that opening and the tools share.
pub(crate) struct MetaSlots {
    pub(crate) slots: [Result<Meta>; 2],
    pub(crate) newest: Option<usize>,
}

impl DataFile {
    /// Reads and decodes both meta slots of a file of `page_bytes` pages;
    /// an `Err` only when a read fails.
    pub(crate) fn meta_slots(&self, page_bytes: usize) -> Result<MetaSlots> {
        let read = |slot: usize| -> Result<Result<Meta>> {
            let mut b = [0u8; META_BYTES];
            let n = self.read_at(&mut b, Meta::page_of_slot(slot) * page_bytes as u64)?;
            Ok(Meta::decode(&b[..n], slot))
        };
        let slots = [read(0)?, read(1)?];
        let newest = match (&slots[0], &slots[1]) {
            (Ok(a), Ok(b)) => Some(usize::from(b.is_newer_than(a))),
            (Ok(_), Err(_)) => Some(0),
            (Err(_), Ok(_)) => Some(1),
            (Err(_), Err(_)) => None,
        };
        Ok(MetaSlots { slots, newest })
    }
}

/// A `file_id` for a new file (a new database, a backup's copy): random
/// enough that two databases' logs are never taken for each other's.
pub(crate) fn new_file_id() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one((now, std::process::id()))
}
