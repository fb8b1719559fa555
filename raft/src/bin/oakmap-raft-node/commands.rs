//! The client commands a node takes, parsed from a RESP request's
//! arguments: writes become a [`Request`] for the log, reads and
//! connection commands are served by the node itself.
//!
//! Every refusal here (unknown command, wrong arity, a number that is not
//! one) is a RESP error reply with Redis's wording, and nothing reaches
//! the log.

use std::borrow::Cow;

use oakmap_raft::{Request, SetWhen};
use oakmap_server::resp::Reply;

/// The most bytes of keys and values one write may carry. A write is one
/// log entry, sent to every follower inside one frame, so this stays well
/// under the frame limit (an append of one entry always fits).
pub const WRITE_BYTES_MAX: usize = 16 << 20;

const _: () = assert!(
    2 * WRITE_BYTES_MAX + 4096 <= crate::wire::FRAME_BYTES_MAX,
    "one entry of the largest write, encoded, fits a frame"
);

/// A parsed client command.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// A write, through the log: answered once committed and applied.
    Write(Request),
    /// A command the node answers itself.
    Query(Query),
    /// `QUIT`: answered, then the connection closes.
    Quit,
}

/// A command that is not a write: a read, or one about the node or the
/// connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Query {
    /// `GET key`, linearizable: on the leader only.
    Get(Vec<u8>),
    /// `MGET key...`, linearizable: on the leader only.
    MGet(Vec<Vec<u8>>),
    /// `EXISTS key...`, linearizable: on the leader only.
    Exists(Vec<Vec<u8>>),
    /// `LOCALGET key`: this node's state machine as applied so far, on any
    /// node; not linearizable (a follower may lag, a deposed leader may
    /// not know it yet).
    LocalGet(Vec<u8>),
    /// `RAFT` (or `INFO`): this node's id, role, leader and log positions.
    Raft,
    /// `PING [message]`.
    Ping(Option<Vec<u8>>),
    /// `ECHO message`.
    Echo(Vec<u8>),
    /// `CONFIG GET parameter...`: what `redis-benchmark` asks at start.
    ConfigGet(Vec<Vec<u8>>),
    /// A command answered `+OK` and otherwise ignored: `CLIENT SETNAME`,
    /// `CLIENT SETINFO` (client libraries send them), `SELECT 0`.
    Ok,
    /// `COMMAND [...]`: an empty list (redis-cli asks for its hints).
    Commands,
}

/// Parses one request's arguments (the command name first).
pub fn parse(args: Vec<Vec<u8>>) -> Result<Command, Reply> {
    let mut args = args.into_iter();
    let Some(name) = args.next() else {
        return Err(error("ERR empty command"));
    };
    let upper = name.to_ascii_uppercase();
    let rest: Vec<Vec<u8>> = args.collect();
    let query = match upper.as_slice() {
        b"GET" => Query::Get(one(&name, rest)?),
        b"MGET" => Query::MGet(at_least_one(&name, rest)?),
        b"EXISTS" => Query::Exists(at_least_one(&name, rest)?),
        b"LOCALGET" => Query::LocalGet(one(&name, rest)?),
        b"RAFT" | b"INFO" => Query::Raft,
        b"PING" => match <[Vec<u8>; 1]>::try_from(rest) {
            Ok([message]) => Query::Ping(Some(message)),
            Err(rest) if rest.is_empty() => Query::Ping(None),
            Err(_) => return Err(arity(&name)),
        },
        b"ECHO" => Query::Echo(one(&name, rest)?),
        b"CONFIG" => config(&name, rest)?,
        b"CLIENT" => match rest.first().map(|s| s.to_ascii_uppercase()).as_deref() {
            Some(b"SETNAME" | b"SETINFO") => Query::Ok,
            _ => {
                return Err(error(
                    "ERR only CLIENT SETNAME and CLIENT SETINFO are served",
                ));
            }
        },
        b"SELECT" => match one(&name, rest)?.as_slice() {
            b"0" => Query::Ok,
            _ => return Err(error("ERR DB index is out of range (database 0 only)")),
        },
        b"COMMAND" => Query::Commands,
        b"QUIT" => return Ok(Command::Quit),
        _ => return Ok(Command::Write(within_limit(write(&name, &upper, rest)?)?)),
    };
    Ok(Command::Query(query))
}

/// Keys and values, in the order given.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// `k1 v1 k2 v2 ...` of `MSET` and `MSETNX`.
fn pairs(name: &[u8], rest: Vec<Vec<u8>>) -> Result<Pairs, Reply> {
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(arity(name));
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    let mut items = rest.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// `SET key value` with options: `NX` or `XX`, and `GET`, in any order,
/// as Redis 7 takes them (`oakmap serve` too). Expiry options are refused:
/// the state machine keeps no expiry.
fn set_with(name: &[u8], mut rest: Vec<Vec<u8>>) -> Result<Request, Reply> {
    let options = rest.split_off(2);
    let [key, value] = exactly(name, rest)?;
    let (mut when, mut get) = (None, false);
    for option in options {
        match option.to_ascii_uppercase().as_slice() {
            b"NX" if when != Some(SetWhen::Present) => when = Some(SetWhen::Absent),
            b"XX" if when != Some(SetWhen::Absent) => when = Some(SetWhen::Present),
            b"GET" => get = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" | b"KEEPTTL" => {
                return Err(error(
                    "ERR oakmap-raft-node keeps no expiry: EX, PX, EXAT, PXAT and KEEPTTL are not supported",
                ));
            }
            _ => return Err(error("ERR syntax error")),
        }
    }
    Ok(Request::SetWith {
        key,
        value,
        when,
        get,
    })
}

/// Parses a write command; an unknown command is refused here.
fn write(name: &[u8], upper: &[u8], rest: Vec<Vec<u8>>) -> Result<Request, Reply> {
    let request = match upper {
        b"SET" if rest.len() > 2 => set_with(name, rest)?,
        b"SET" => {
            let [key, value] = exactly(name, rest)?;
            Request::Set { key, value }
        }
        b"SETNX" => {
            let [key, value] = exactly(name, rest)?;
            Request::SetNx { key, value }
        }
        b"GETSET" => {
            let [key, value] = exactly(name, rest)?;
            Request::GetSet { key, value }
        }
        b"GETDEL" => Request::GetDel {
            key: one(name, rest)?,
        },
        b"MSET" => Request::MSet {
            pairs: pairs(name, rest)?,
        },
        b"MSETNX" => Request::MSetNx {
            pairs: pairs(name, rest)?,
        },
        b"DEL" => Request::Del {
            keys: at_least_one(name, rest)?,
        },
        b"INCR" => Request::IncrBy {
            key: one(name, rest)?,
            by: 1,
        },
        b"DECR" => Request::IncrBy {
            key: one(name, rest)?,
            by: -1,
        },
        b"INCRBY" => {
            let [key, by] = exactly(name, rest)?;
            Request::IncrBy {
                key,
                by: integer(&by)?,
            }
        }
        b"DECRBY" => {
            let [key, by] = exactly(name, rest)?;
            let by = integer(&by)?
                .checked_neg()
                .ok_or_else(|| error("ERR decrement would overflow"))?;
            Request::IncrBy { key, by }
        }
        b"APPEND" => {
            let [key, tail] = exactly(name, rest)?;
            Request::Append { key, tail }
        }
        b"FLUSHDB" => {
            if !rest.is_empty() {
                return Err(error("ERR FLUSHDB takes no options here"));
            }
            Request::FlushDb
        }
        _ => return Err(unknown(name, &rest)),
    };
    Ok(request)
}

/// `request`, unless it carries more than [`WRITE_BYTES_MAX`].
fn within_limit(request: Request) -> Result<Request, Reply> {
    let bytes = request_bytes(&request);
    if bytes > WRITE_BYTES_MAX {
        return Err(error(format!(
            "ERR a write carries at most {WRITE_BYTES_MAX} bytes of keys and values, this one {bytes}"
        )));
    }
    Ok(request)
}

/// The bytes of keys and values `request` carries, with the length
/// prefix of each: a bound on what they take in its log entry, as stored
/// and as sent.
pub fn request_bytes(request: &Request) -> usize {
    // bincode's varint of a length below 2^32 is at most 5 bytes.
    const PREFIX: usize = 5;
    let item = |bytes: &Vec<u8>| bytes.len() + PREFIX;
    match request {
        Request::Set { key, value }
        | Request::SetWith { key, value, .. }
        | Request::SetNx { key, value }
        | Request::GetSet { key, value } => item(key) + item(value),
        Request::GetDel { key } | Request::IncrBy { key, .. } => item(key),
        Request::Append { key, tail } => item(key) + item(tail),
        Request::MSet { pairs } | Request::MSetNx { pairs } => {
            pairs.iter().map(|(k, v)| item(k) + item(v)).sum()
        }
        Request::Del { keys } => keys.iter().map(item).sum(),
        Request::FlushDb => 0,
    }
}

/// `CONFIG GET parameter...`: `save` is empty and `appendonly` is `yes`
/// (each write is durable on a majority before its reply); other
/// parameters are not listed.
fn config(name: &[u8], rest: Vec<Vec<u8>>) -> Result<Query, Reply> {
    let mut rest = rest.into_iter();
    match rest.next().map(|s| s.to_ascii_uppercase()).as_deref() {
        Some(b"GET") => {
            let params: Vec<Vec<u8>> = rest.collect();
            if params.is_empty() {
                return Err(arity(name));
            }
            Ok(Query::ConfigGet(params))
        }
        _ => Err(error("ERR only CONFIG GET is served")),
    }
}

/// The reply to `CONFIG GET params...`.
pub fn config_get(params: &[Vec<u8>]) -> Reply {
    let mut items = Vec::new();
    for param in params {
        let value: &[u8] = match param.to_ascii_lowercase().as_slice() {
            b"save" => b"",
            b"appendonly" => b"yes",
            _ => continue,
        };
        items.push(Reply::Bulk(param.to_ascii_lowercase()));
        items.push(Reply::Bulk(value.to_vec()));
    }
    Reply::Array(items)
}

fn one(name: &[u8], rest: Vec<Vec<u8>>) -> Result<Vec<u8>, Reply> {
    let [arg] = exactly(name, rest)?;
    Ok(arg)
}

fn exactly<const N: usize>(name: &[u8], rest: Vec<Vec<u8>>) -> Result<[Vec<u8>; N], Reply> {
    <[Vec<u8>; N]>::try_from(rest).map_err(|_| arity(name))
}

fn at_least_one(name: &[u8], rest: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, Reply> {
    if rest.is_empty() {
        return Err(arity(name));
    }
    Ok(rest)
}

/// A decimal `i64`, as Redis reads one (no sign `+`, no spaces).
fn integer(text: &[u8]) -> Result<i64, Reply> {
    let not_integer = || error("ERR value is not an integer or out of range");
    if text.first() == Some(&b'+') {
        return Err(not_integer());
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(not_integer)
}

/// An error reply, its text starting with its code (`ERR`, `MOVED`...).
pub fn error(text: impl Into<Cow<'static, str>>) -> Reply {
    Reply::Error(text.into())
}

fn arity(name: &[u8]) -> Reply {
    error(format!(
        "ERR wrong number of arguments for '{}' command",
        printable(name).to_ascii_lowercase()
    ))
}

fn unknown(name: &[u8], rest: &[Vec<u8>]) -> Reply {
    let args: String = rest
        .iter()
        .take(8)
        .map(|a| format!("'{}' ", printable(a)))
        .collect();
    error(format!(
        "ERR unknown command '{}', with args beginning with: {args}",
        printable(name)
    ))
}

/// Bytes from a client shown in an error line: at most 64 of them, each
/// printable ASCII or escaped (the reply encoder also turns CR and LF into
/// spaces).
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(64)
        .copied()
        .map(char::from)
        .fold(String::new(), |mut s, c| {
            if c.is_ascii_graphic() || c == ' ' {
                s.push(c);
            } else {
                s.push_str(&format!("\\x{:02x}", c as u32));
            }
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Vec<u8>> {
        line.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    fn ok(line: &str) -> Command {
        parse(args(line)).unwrap_or_else(|e| panic!("{line}: {e:?}"))
    }

    fn refused(line: &str) -> String {
        match parse(args(line)) {
            Err(Reply::Error(text)) => text.into_owned(),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn writes_become_requests() {
        let b = |s: &str| s.as_bytes().to_vec();
        assert_eq!(
            ok("set k v"),
            Command::Write(Request::Set {
                key: b("k"),
                value: b("v")
            })
        );
        assert_eq!(
            ok("SET k v xx get"),
            Command::Write(Request::SetWith {
                key: b("k"),
                value: b("v"),
                when: Some(SetWhen::Present),
                get: true
            })
        );
        assert_eq!(
            ok("SET k v GET NX"),
            Command::Write(Request::SetWith {
                key: b("k"),
                value: b("v"),
                when: Some(SetWhen::Absent),
                get: true
            })
        );
        assert_eq!(
            ok("MSET a 1 b 2"),
            Command::Write(Request::MSet {
                pairs: vec![(b("a"), b("1")), (b("b"), b("2"))]
            })
        );
        assert_eq!(
            ok("MSETNX a 1"),
            Command::Write(Request::MSetNx {
                pairs: vec![(b("a"), b("1"))]
            })
        );
        assert_eq!(
            ok("DECRBY n 5"),
            Command::Write(Request::IncrBy {
                key: b("n"),
                by: -5
            })
        );
        assert_eq!(
            ok("incr n"),
            Command::Write(Request::IncrBy { key: b("n"), by: 1 })
        );
        assert_eq!(
            ok("DEL a b"),
            Command::Write(Request::Del {
                keys: vec![b("a"), b("b")]
            })
        );
        assert_eq!(ok("GET k"), Command::Query(Query::Get(b("k"))));
        assert_eq!(ok("LOCALGET k"), Command::Query(Query::LocalGet(b("k"))));
        assert_eq!(ok("PING"), Command::Query(Query::Ping(None)));
        assert_eq!(ok("raft"), Command::Query(Query::Raft));
        assert_eq!(ok("quit"), Command::Quit);
    }

    #[test]
    fn malformed_commands_are_error_replies() {
        assert!(refused("SET k").starts_with("ERR wrong number of arguments for 'set'"));
        assert!(refused("SET k v EX 10").contains("keeps no expiry"));
        assert!(refused("SET k v NX XX").starts_with("ERR syntax error"));
        assert!(refused("SET k v FOO").starts_with("ERR syntax error"));
        assert!(refused("MSETNX a").starts_with("ERR wrong number"));
        assert!(refused("MSET a 1 b").starts_with("ERR wrong number"));
        assert!(refused("GET").starts_with("ERR wrong number"));
        assert!(refused("INCRBY n x").contains("not an integer"));
        assert!(refused("INCRBY n +1").contains("not an integer"));
        assert!(refused("DECRBY n -9223372036854775808").contains("overflow"));
        assert!(refused("SELECT 1").contains("out of range"));
        assert!(refused("NOPE a\u{1}").starts_with("ERR unknown command 'NOPE'"));
        assert!(refused("NOPE a\u{1}").contains("'a\\x01'"));
        assert!(matches!(parse(Vec::new()), Err(Reply::Error(_))));
    }

    #[test]
    fn a_write_over_the_limit_is_refused() {
        let big = vec![b'x'; WRITE_BYTES_MAX];
        let text = match parse(vec![b"SET".to_vec(), b"k".to_vec(), big]) {
            Err(Reply::Error(text)) => text,
            other => panic!("{other:?}"),
        };
        assert!(text.contains("at most"), "{text}");
    }

    #[test]
    fn config_get_answers_what_redis_benchmark_asks() {
        assert_eq!(
            config_get(&[b"save".to_vec(), b"maxmemory".to_vec()]),
            Reply::Array(vec![Reply::Bulk(b"save".to_vec()), Reply::Bulk(Vec::new())])
        );
    }
}
