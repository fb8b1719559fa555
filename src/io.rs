//! The storage layer's seam: every write, length change and sync of the data
//! file, the WAL files and a backup's copy goes through [`Io`], which calls an optional
//! [`IoHook`] first. Tests install hooks to fail the Nth operation, to hold a
//! sync open, or to record every operation and build the images a power cut
//! could leave. Reads are not hooked: they come from the page cache or the
//! mapping, which a crash does not reach.
//!
//! Every error an `Io` returns, the hook's included, is `Error::Io`
//! naming the file.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{At, Result};

/// Which file an operation touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoFile {
    /// The data file.
    Data,
    /// WAL file 0 or 1.
    Wal(u8),
    /// An online backup's copy, under its temporary name (not a file of
    /// the database: a crash image leaves it out).
    Backup,
}

/// An operation about to be done.
#[derive(Debug, Clone, Copy)]
pub enum IoOp<'a> {
    /// `bytes` written at `offset`.
    Write {
        /// Byte offset in the file.
        offset: u64,
        /// What is written.
        bytes: &'a [u8],
    },
    /// The file's length set (truncated or extended with zeros).
    SetLen(u64),
    /// fdatasync: everything before it reaches the disk.
    Sync,
}

/// Sees each operation before it is done; an error is returned in its place.
/// `point` names the step (`data.write`, `data.grow`, `wal.write`,
/// `wal.sync`, `checkpoint.data.sync`, `meta.write`, `meta.sync`,
/// `data.trim` at a clean close, and `backup.write`, `backup.sync` for a
/// backup's copy).
pub trait IoHook: Send + Sync {
    /// Called before `op` on `file`; return an error to make it fail.
    fn before(&self, file: IoFile, op: &IoOp<'_>, point: &'static str) -> io::Result<()>;
}

/// One file, with the hook in front of its writes. Every error it returns
/// names the file.
pub(crate) struct Io {
    file: File,
    which: IoFile,
    path: PathBuf,
    hook: Option<Arc<dyn IoHook>>,
}

impl Io {
    pub(crate) fn new(file: File, which: IoFile, path: &Path, hook: Option<Arc<dyn IoHook>>) -> Io {
        Io {
            file,
            which,
            path: path.to_path_buf(),
            hook,
        }
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    fn before(&self, op: IoOp<'_>, point: &'static str) -> io::Result<()> {
        match &self.hook {
            Some(h) => h.before(self.which, &op, point),
            None => Ok(()),
        }
    }

    pub(crate) fn write_at(&self, bytes: &[u8], offset: u64, point: &'static str) -> Result<()> {
        self.before(IoOp::Write { offset, bytes }, point)
            .and_then(|()| self.file.write_all_at(bytes, offset))
            .at(&self.path)
    }

    pub(crate) fn set_len(&self, len: u64, point: &'static str) -> Result<()> {
        self.before(IoOp::SetLen(len), point)
            .and_then(|()| self.file.set_len(len))
            .at(&self.path)
    }

    pub(crate) fn sync(&self, point: &'static str) -> Result<()> {
        self.before(IoOp::Sync, point)
            .and_then(|()| self.file.sync_data())
            .at(&self.path)
    }

    pub(crate) fn len(&self) -> Result<u64> {
        Ok(self.file.metadata().at(&self.path)?.len())
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many (fewer at
    /// the end of the file).
    pub(crate) fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self
                .file
                .read_at(&mut buf[done..], offset + done as u64)
                .at(&self.path)?
            {
                0 => break,
                n => done += n,
            }
        }
        Ok(done)
    }
}
