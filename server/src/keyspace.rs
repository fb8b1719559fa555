//! What the commands do to the keyspace: Redis database `n` is oakmap tree
//! `db{n}`, every value a string.
//!
//! Writes are applied inside the committing writer's transaction
//! ([`apply`]), so a read-modify-write (`INCR`, `SETNX`, `APPEND`, ...) sees
//! every write ordered before it and nothing can come between its read and
//! its write. Reads run on a snapshot ([`read`]).

use std::collections::{HashMap, VecDeque};
use std::ops::Bound as StdBound;

use oakmap::{ReadTxn, WriteTxn};
use parking_lot::Mutex;

use crate::command::{
    self, Bound, KeyLimits, RangeQuery, Read, SetWhen, Write, error, not_integer,
};
use crate::glob;
use crate::resp::Reply;

/// The tree that holds Redis database `db`.
/// (A table, so that a write does not format the name each time; `db` is
/// below [`DATABASES`](crate::DATABASES), as `SELECT` checks.)
pub fn tree_name(db: usize) -> &'static str {
    const NAMES: [&str; crate::DATABASES] = [
        "db0", "db1", "db2", "db3", "db4", "db5", "db6", "db7", "db8", "db9", "db10", "db11",
        "db12", "db13", "db14", "db15",
    ];
    NAMES[db]
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn bulk_or_nil(v: Option<Vec<u8>>) -> Reply {
    v.map_or(Reply::NilBulk, Reply::Bulk)
}

/// The value of `key` in the transaction's view, copied out (the next
/// write may move it); creates no tree.
fn current(tx: &mut WriteTxn<'_>, tree: &str, key: &[u8]) -> oakmap::Result<Option<Vec<u8>>> {
    match tx.tree_mut(tree)? {
        Some(t) => Ok(t.get(key)?.map(<[u8]>::to_vec)),
        None => Ok(None),
    }
}

/// Applies one write in the writer's transaction. An `Err` is the
/// engine's (the transaction is then unusable and the whole batch fails);
/// a command refused for its arguments or the value it finds is an `Ok`
/// error reply that changed nothing.
pub(crate) fn apply(
    tx: &mut WriteTxn<'_>,
    db: usize,
    write: Write,
    limits: KeyLimits,
) -> oakmap::Result<Reply> {
    let tree = tree_name(db);
    Ok(match write {
        Write::Set {
            key,
            value,
            when,
            get,
        } if when == SetWhen::Always && !get => {
            // A plain SET reads nothing: one descent, not two.
            tx.open_tree(tree)?.insert(&key, &value)?;
            ok()
        }
        Write::Set {
            key,
            value,
            when,
            get,
        } => {
            let old = current(tx, tree, &key)?;
            let go = match when {
                SetWhen::Always => true,
                SetWhen::Absent => old.is_none(),
                SetWhen::Present => old.is_some(),
            };
            if go {
                tx.open_tree(tree)?.insert(&key, &value)?;
            }
            match (get, go) {
                (true, _) => bulk_or_nil(old),
                (false, true) => ok(),
                (false, false) => Reply::NilBulk,
            }
        }
        Write::SetNx(key, value) => {
            if current(tx, tree, &key)?.is_some() {
                Reply::Integer(0)
            } else {
                tx.open_tree(tree)?.insert(&key, &value)?;
                Reply::Integer(1)
            }
        }
        Write::GetSet(key, value) => {
            let old = current(tx, tree, &key)?;
            tx.open_tree(tree)?.insert(&key, &value)?;
            bulk_or_nil(old)
        }
        Write::GetDel(key) => {
            let old = current(tx, tree, &key)?;
            if old.is_some()
                && let Some(mut t) = tx.tree_mut(tree)?
            {
                t.remove(&key)?;
            }
            bulk_or_nil(old)
        }
        Write::MSet(pairs) => {
            let mut t = tx.open_tree(tree)?;
            for (k, v) in &pairs {
                t.insert(k, v)?;
            }
            ok()
        }
        Write::MSetNx(pairs) => {
            for (k, _) in &pairs {
                if current(tx, tree, k)?.is_some() {
                    return Ok(Reply::Integer(0));
                }
            }
            let mut t = tx.open_tree(tree)?;
            for (k, v) in &pairs {
                t.insert(k, v)?;
            }
            Reply::Integer(1)
        }
        Write::Del(keys) => {
            let mut n = 0;
            if let Some(mut t) = tx.tree_mut(tree)? {
                for k in &keys {
                    n += i64::from(t.remove(k)?);
                }
            }
            Reply::Integer(n)
        }
        Write::IncrBy(key, by) => {
            let old = match current(tx, tree, &key)? {
                None => 0,
                Some(v) => match command::parse_i64(&v) {
                    Some(n) => n,
                    None => return Ok(not_integer()),
                },
            };
            let Some(new) = old.checked_add(by) else {
                return Ok(error("ERR increment or decrement would overflow"));
            };
            tx.open_tree(tree)?
                .insert(&key, new.to_string().as_bytes())?;
            Reply::Integer(new)
        }
        Write::Append(key, tail) => {
            let mut value = current(tx, tree, &key)?.unwrap_or_default();
            let len = value.len() + tail.len();
            if len > limits.value_bytes_max {
                return Ok(command::value_too_large(len, limits));
            }
            value.extend_from_slice(&tail);
            tx.open_tree(tree)?.insert(&key, &value)?;
            Reply::Integer(len as i64)
        }
        Write::FlushDb => {
            tx.delete_tree(tree)?;
            ok()
        }
    })
}

/// Cursors handed out by `SCAN`, each naming the key the next call starts
/// at. Redis clients parse a cursor as an unsigned integer, and a key does
/// not fit in one, so the server keeps the key and hands out a number. The
/// newest `CURSORS_MAX` cursors stay valid (bounded memory); an older one
/// gets an error saying so. A cursor is valid on any connection.
pub(crate) struct Cursors {
    state: Mutex<CursorState>,
}

/// Cursors kept, and the key bytes they may hold together.
const CURSORS_MAX: usize = 16_384;
const CURSOR_BYTES_MAX: usize = 16 << 20;

#[derive(Default)]
struct CursorState {
    next: u64,
    keys: HashMap<u64, Vec<u8>>,
    order: VecDeque<u64>,
    bytes: usize,
}

impl Cursors {
    pub(crate) fn new() -> Cursors {
        Cursors {
            state: Mutex::new(CursorState {
                next: 1,
                ..CursorState::default()
            }),
        }
    }

    fn save(&self, key: Vec<u8>) -> u64 {
        let mut s = self.state.lock();
        let id = s.next;
        s.next += 1;
        s.bytes += key.len();
        s.keys.insert(id, key);
        s.order.push_back(id);
        while s.order.len() > CURSORS_MAX || s.bytes > CURSOR_BYTES_MAX {
            let old = s.order.pop_front().expect("non-empty");
            if let Some(k) = s.keys.remove(&old) {
                s.bytes -= k.len();
            }
        }
        id
    }

    fn find(&self, id: u64) -> Option<Vec<u8>> {
        self.state.lock().keys.get(&id).cloned()
    }
}

/// Runs a read on snapshot `rx` of database `db`.
pub(crate) fn read(rx: &ReadTxn<'_>, db: usize, read: &Read, cursors: &Cursors) -> Reply {
    match run_read(rx, db, read, cursors) {
        Ok(reply) => reply,
        Err(e) => error(format!("ERR oakmap: {e}")),
    }
}

fn run_read(rx: &ReadTxn<'_>, db: usize, read: &Read, cursors: &Cursors) -> oakmap::Result<Reply> {
    let Some(tree) = rx.tree(tree_name(db))? else {
        return Ok(match read {
            Read::Get(_) => Reply::NilBulk,
            Read::MGet(keys) => Reply::Array(vec![Reply::NilBulk; keys.len()]),
            Read::Exists(_) | Read::Strlen(_) | Read::DbSize => Reply::Integer(0),
            Read::Scan { .. } => scan_reply(0, Vec::new()),
            Read::Keys(_) | Read::Range(_) => Reply::Array(Vec::new()),
        });
    };
    Ok(match read {
        Read::Get(key) => bulk_or_nil(tree.get(key)?.map(<[u8]>::to_vec)),
        Read::MGet(keys) => {
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                out.push(bulk_or_nil(tree.get(k)?.map(<[u8]>::to_vec)));
            }
            Reply::Array(out)
        }
        Read::Exists(keys) => {
            let mut n = 0;
            for k in keys {
                n += i64::from(tree.get(k)?.is_some());
            }
            Reply::Integer(n)
        }
        Read::Strlen(key) => Reply::Integer(tree.get(key)?.map_or(0, |v| v.len() as i64)),
        Read::DbSize => Reply::Integer(tree.len() as i64),
        Read::Keys(pattern) => {
            let prefix = glob::literal_prefix(pattern);
            let mut out = Vec::new();
            for entry in tree.prefix(&prefix)? {
                let (k, _) = entry?;
                if glob::matches(pattern, k) {
                    out.push(Reply::Bulk(k.to_vec()));
                }
            }
            Reply::Array(out)
        }
        Read::Scan {
            cursor,
            pattern,
            count,
            none,
        } => {
            if *none {
                return Ok(scan_reply(0, Vec::new()));
            }
            let from = match cursor {
                0 => Vec::new(),
                c => match cursors.find(*c) {
                    Some(k) => k,
                    None => {
                        return Ok(error(
                            "ERR invalid cursor (oakmap serve keeps the newest 16384 SCAN cursors; start again from 0)",
                        ));
                    }
                },
            };
            let prefix = pattern
                .as_deref()
                .map(glob::literal_prefix)
                .unwrap_or_default();
            let start = if from.as_slice() > prefix.as_slice() {
                from
            } else {
                prefix.clone()
            };
            let mut keys = Vec::new();
            let mut next = None;
            let from = (StdBound::Included(start.as_slice()), StdBound::Unbounded);
            for (seen, entry) in tree.range(from)?.enumerate() {
                let (k, _) = entry?;
                if !k.starts_with(&prefix) {
                    break;
                }
                if seen == *count {
                    next = Some(k.to_vec());
                    break;
                }
                if pattern.as_deref().is_none_or(|p| glob::matches(p, k)) {
                    keys.push(Reply::Bulk(k.to_vec()));
                }
            }
            let cursor = next.map_or(0, |k| cursors.save(k));
            scan_reply(cursor, keys)
        }
        Read::Range(q) => range(&tree, q)?,
    })
}

fn scan_reply(cursor: u64, keys: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(cursor.to_string().into_bytes()),
        Reply::Array(keys),
    ])
}

fn std_bound(b: &Bound) -> StdBound<&[u8]> {
    match b {
        Bound::Unbounded => StdBound::Unbounded,
        Bound::Included(k) => StdBound::Included(k.as_slice()),
        Bound::Excluded(k) => StdBound::Excluded(k.as_slice()),
    }
}

/// `RANGE`: keys (and values) between two bounds, in order or reversed,
/// at most `limit` of them. Bounds that cross give an empty reply.
fn range(tree: &oakmap::Tree<'_>, q: &RangeQuery) -> oakmap::Result<Reply> {
    let (start, end) = (std_bound(&q.start), std_bound(&q.end));
    let crossed = match (start, end) {
        (StdBound::Included(a), StdBound::Included(b)) => a > b,
        (StdBound::Included(a) | StdBound::Excluded(a), StdBound::Excluded(b))
        | (StdBound::Excluded(a), StdBound::Included(b)) => a >= b,
        _ => false,
    };
    if crossed {
        return Ok(Reply::Array(Vec::new()));
    }
    let limit = q.limit.unwrap_or(usize::MAX);
    let iter = tree.range((start, end))?;
    let mut out = Vec::new();
    let mut push = |entry: oakmap::Result<(&[u8], &[u8])>| -> oakmap::Result<()> {
        let (k, v) = entry?;
        out.push(Reply::Bulk(k.to_vec()));
        if q.with_values {
            out.push(Reply::Bulk(v.to_vec()));
        }
        Ok(())
    };
    if q.reverse {
        for entry in iter.rev().take(limit) {
            push(entry)?;
        }
    } else {
        for entry in iter.take(limit) {
            push(entry)?;
        }
    }
    Ok(Reply::Array(out))
}
