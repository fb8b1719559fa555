//! SQLite (bundled, through rusqlite) in WAL mode with `synchronous=FULL`, so
//! a commit returns after its WAL frames are fsynced. One table
//! `kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID`; a connection per reader.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};

use crate::engines::{Backup, BenchResult, Engine, Pairs, Reader};

pub struct Sqlite {
    path: PathBuf,
    writer: Mutex<Connection>,
    cache_kib: i64,
}

fn connect(path: &Path, cache_kib: i64) -> BenchResult<Connection> {
    let c = Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.pragma_update(None, "cache_size", -cache_kib)?;
    Ok(c)
}

impl Sqlite {
    pub fn open(dir: &Path, cache_bytes: usize) -> BenchResult<Sqlite> {
        let path = dir.join("bench.sqlite");
        let cache_kib = (cache_bytes / 1024) as i64;
        let c = connect(&path, cache_kib)?;
        c.execute(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
            [],
        )?;
        Ok(Sqlite {
            path,
            writer: Mutex::new(c),
            cache_kib,
        })
    }
}

impl Engine for Sqlite {
    fn put_batch(&self, pairs: &mut dyn Pairs) -> BenchResult<()> {
        let mut c = self.writer.lock();
        let tx = c.transaction()?;
        {
            let mut st = tx.prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")?;
            while let Some((k, v)) = pairs.next() {
                st.execute(params![k, v])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn remove_batch(&self, keys: &mut dyn Iterator<Item = &[u8]>) -> BenchResult<()> {
        let mut c = self.writer.lock();
        let tx = c.transaction()?;
        {
            let mut st = tx.prepare_cached("DELETE FROM kv WHERE k = ?1")?;
            for k in keys {
                st.execute(params![k])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn len(&self) -> BenchResult<u64> {
        let n: i64 = self
            .writer
            .lock()
            .query_row("SELECT count(*) FROM kv", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn reader(&self) -> BenchResult<Box<dyn Reader + '_>> {
        let c = connect(&self.path, self.cache_kib)?;
        c.execute_batch("BEGIN")?;
        Ok(Box::new(SqliteReader { c }))
    }

    fn note(&self) -> &'static str {
        "SQLite: WAL mode, synchronous=FULL; len is a count(*) scan"
    }

    /// VACUUM rebuilds the file in place, then a checkpoint moves the
    /// rebuilt pages out of the WAL into it.
    fn compact(&mut self) -> BenchResult<Option<String>> {
        let c = self.writer.lock();
        c.execute_batch("VACUUM")?;
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(Some("VACUUM, then a truncating WAL checkpoint".into()))
    }

    fn backup(&self, to: &Path) -> BenchResult<Option<Backup>> {
        let path = to
            .to_str()
            .ok_or_else(|| format!("VACUUM INTO needs a UTF-8 path, not {}", to.display()))?;
        self.writer
            .lock()
            .execute("VACUUM INTO ?1", params![path])?;
        Ok(Some(Backup::measure(to, "VACUUM INTO: a rebuilt copy")?))
    }
}

struct SqliteReader {
    c: Connection,
}

impl Reader for SqliteReader {
    fn get(&mut self, key: &[u8]) -> BenchResult<bool> {
        let mut st = self
            .c
            .prepare_cached("SELECT length(v) FROM kv WHERE k = ?1")?;
        let len: Option<i64> = st.query_row(params![key], |r| r.get(0)).optional()?;
        Ok(len.is_some())
    }

    fn range(&mut self, start: &[u8], n: usize) -> BenchResult<usize> {
        let mut st = self
            .c
            .prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")?;
        let mut rows = st.query(params![start, n as i64])?;
        let mut seen = 0;
        while rows.next()?.is_some() {
            seen += 1;
        }
        Ok(seen)
    }
}
