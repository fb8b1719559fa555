//! What a [`Request`] does to the state machine's data tree, inside the
//! transaction that applies its batch of entries, as `oakmap serve` applies
//! the same write (server/src/keyspace.rs): a read-modify-write sees every
//! entry applied before it.
//!
//! Everything here is deterministic: the same request on the same data
//! gives the same reply and the same data on every replica. A request
//! refused for its arguments or for the value it finds is checked before
//! anything is written, so it changes nothing.

use oakmap::{TreeId, VALUE_BYTES_MAX, WriteTxn};
use oakmap_server::parse_i64;

use crate::types::{Request, Response, SetWhen};

/// The sizes a key and a value may have: the database's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) key_bytes_max: usize,
    pub(crate) value_bytes_max: usize,
}

impl Limits {
    pub(crate) fn of(db: &oakmap::Db) -> Limits {
        Limits {
            key_bytes_max: db.key_bytes_max(),
            value_bytes_max: VALUE_BYTES_MAX,
        }
    }
}

/// Applies `request` to the data tree `data` of `tx`. An `Err` is the
/// engine's (the transaction is then unusable); a refusal is an `Ok`
/// [`Response::Error`].
pub(crate) fn apply(
    tx: &mut WriteTxn<'_>,
    data: TreeId,
    request: &Request,
    limits: Limits,
) -> oakmap::Result<Response> {
    if let Some(refusal) = check(request, limits) {
        return Ok(refusal);
    }
    Ok(match request {
        Request::Set { key, value } => {
            tx.tree(data)?.insert(key, value)?;
            Response::Ok
        }
        Request::SetWith {
            key,
            value,
            when,
            get,
        } => {
            let old = current(tx, data, key)?;
            let set = match when {
                None => true,
                Some(SetWhen::Absent) => old.is_none(),
                Some(SetWhen::Present) => old.is_some(),
            };
            if set {
                tx.tree(data)?.insert(key, value)?;
            }
            match (get, set) {
                (true, _) => Response::Value(old),
                (false, true) => Response::Ok,
                (false, false) => Response::Value(None),
            }
        }
        Request::SetNx { key, value } => {
            if tx.tree(data)?.get(key)?.is_some() {
                Response::Integer(0)
            } else {
                tx.tree(data)?.insert(key, value)?;
                Response::Integer(1)
            }
        }
        Request::GetSet { key, value } => {
            let old = current(tx, data, key)?;
            tx.tree(data)?.insert(key, value)?;
            Response::Value(old)
        }
        Request::GetDel { key } => {
            let old = current(tx, data, key)?;
            if old.is_some() {
                tx.tree(data)?.remove(key)?;
            }
            Response::Value(old)
        }
        Request::MSet { pairs } => {
            let mut t = tx.tree(data)?;
            for (key, value) in pairs {
                t.insert(key, value)?;
            }
            Response::Ok
        }
        Request::MSetNx { pairs } => {
            let mut t = tx.tree(data)?;
            for (key, _) in pairs {
                if t.get(key)?.is_some() {
                    return Ok(Response::Integer(0));
                }
            }
            for (key, value) in pairs {
                t.insert(key, value)?;
            }
            Response::Integer(1)
        }
        Request::Del { keys } => {
            let mut t = tx.tree(data)?;
            let mut removed = 0;
            for key in keys {
                removed += i64::from(t.remove(key)?);
            }
            Response::Integer(removed)
        }
        Request::IncrBy { key, by } => incr_by(tx, data, key, *by)?,
        Request::Append { key, tail } => {
            let mut value = current(tx, data, key)?.unwrap_or_default();
            if value.len().saturating_add(tail.len()) > limits.value_bytes_max {
                return Ok(value_too_long(
                    value.len().saturating_add(tail.len()),
                    limits,
                ));
            }
            value.extend_from_slice(tail);
            tx.tree(data)?.insert(key, &value)?;
            Response::Integer(i64::try_from(value.len()).unwrap_or(i64::MAX))
        }
        Request::FlushDb => {
            // Deleting the tree frees its pages in one step; the handle
            // `data` recreates it, empty, for the entries after this one.
            tx.delete_tree(crate::layout::DATA_TREE)?;
            Response::Ok
        }
    })
}

/// `INCRBY`: the stored value must be a decimal `i64` as Redis writes one.
fn incr_by(tx: &mut WriteTxn<'_>, data: TreeId, key: &[u8], by: i64) -> oakmap::Result<Response> {
    let old = match current(tx, data, key)? {
        None => 0,
        Some(v) => match parse_i64(&v) {
            Some(n) => n,
            None => {
                return Ok(Response::Error(
                    "ERR value is not an integer or out of range".into(),
                ));
            }
        },
    };
    let Some(new) = old.checked_add(by) else {
        return Ok(Response::Error(
            "ERR increment or decrement would overflow".into(),
        ));
    };
    tx.tree(data)?.insert(key, new.to_string().as_bytes())?;
    Ok(Response::Integer(new))
}

/// The value under `key`, copied out (the next write may move it).
fn current(tx: &mut WriteTxn<'_>, data: TreeId, key: &[u8]) -> oakmap::Result<Option<Vec<u8>>> {
    Ok(tx.tree(data)?.get(key)?.map(<[u8]>::to_vec))
}

/// The refusal of a request whose keys or values are over the limits,
/// before anything is written.
fn check(request: &Request, limits: Limits) -> Option<Response> {
    let key = |k: &[u8]| (k.len() > limits.key_bytes_max).then(|| key_too_long(k.len(), limits));
    let value =
        |v: &[u8]| (v.len() > limits.value_bytes_max).then(|| value_too_long(v.len(), limits));
    match request {
        Request::Set { key: k, value: v }
        | Request::SetWith {
            key: k, value: v, ..
        }
        | Request::SetNx { key: k, value: v }
        | Request::GetSet { key: k, value: v } => key(k).or_else(|| value(v)),
        Request::GetDel { key: k } | Request::IncrBy { key: k, .. } => key(k),
        Request::Append { key: k, .. } => key(k),
        Request::MSet { pairs } | Request::MSetNx { pairs } => {
            pairs.iter().find_map(|(k, v)| key(k).or_else(|| value(v)))
        }
        Request::Del { keys } => keys.iter().find_map(|k| key(k)),
        Request::FlushDb => None,
    }
}

fn key_too_long(len: usize, limits: Limits) -> Response {
    Response::Error(format!(
        "ERR key is {len} bytes; oakmap keys are at most {} bytes (key_bytes_max)",
        limits.key_bytes_max
    ))
}

fn value_too_long(len: usize, limits: Limits) -> Response {
    Response::Error(format!(
        "ERR value is {len} bytes; oakmap values are at most {} bytes (VALUE_BYTES_MAX)",
        limits.value_bytes_max
    ))
}
