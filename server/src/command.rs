//! The command table: a request's arguments checked and turned into a
//! [`Command`] before anything runs, so that the committing writer applies
//! only well-formed writes and a malformed request harms nobody else's.
//!
//! Error texts are Redis's own, so that clients and their tests recognise
//! them.

use std::borrow::Cow;

use crate::resp::Reply;
use crate::table;

/// Redis databases a connection can `SELECT`: `0..DATABASES`.
pub const DATABASES: usize = 16;

/// A request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Answered by the connection itself.
    Conn(ConnCommand),
    /// Runs on a snapshot, never waiting for the writer.
    Read(Read),
    /// Goes to the committing writer.
    Write(Write),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnCommand {
    Ping(Option<Vec<u8>>),
    Echo(Vec<u8>),
    Quit,
    Select(usize),
    /// The sections asked for, lowercased and separated by spaces (no
    /// section name has one); `None` for all.
    Info(Option<String>),
    ConfigGet(Vec<Vec<u8>>),
    CommandCount,
    CommandList,
    /// The names asked for; none for all.
    CommandDocs(Vec<Vec<u8>>),
    ClientSetName(Vec<u8>),
    ClientGetName,
    ClientId,
    ClientSetInfo,
    /// A backup to the configured save path.
    Save,
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Read {
    Get(Vec<u8>),
    MGet(Vec<Vec<u8>>),
    Exists(Vec<Vec<u8>>),
    Strlen(Vec<u8>),
    DbSize,
    Scan {
        cursor: u64,
        pattern: Option<Vec<u8>>,
        count: usize,
        /// `TYPE` named a type no key has.
        none: bool,
    },
    Keys(Vec<u8>),
    Range(RangeQuery),
}

/// `RANGE start end [LIMIT n] [REV] [WITHVALUES]`: keys in order between
/// two bounds, each `[key` (inclusive), `(key` (exclusive), `-` (from the
/// first key) or `+` (to the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeQuery {
    pub(crate) start: Bound,
    pub(crate) end: Bound,
    pub(crate) limit: Option<usize>,
    pub(crate) reverse: bool,
    pub(crate) with_values: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bound {
    Unbounded,
    Included(Vec<u8>),
    Excluded(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Write {
    Set {
        key: Vec<u8>,
        value: Vec<u8>,
        when: SetWhen,
        get: bool,
    },
    /// `SETNX`: answers 1 or 0 where `SET ... NX` answers OK or nil.
    SetNx(Vec<u8>, Vec<u8>),
    GetSet(Vec<u8>, Vec<u8>),
    GetDel(Vec<u8>),
    MSet(Vec<Pair>),
    MSetNx(Vec<Pair>),
    Del(Vec<Vec<u8>>),
    IncrBy(Vec<u8>, i64),
    Append(Vec<u8>, Vec<u8>),
    FlushDb,
}

/// A key and its value.
pub(crate) type Pair = (Vec<u8>, Vec<u8>);

/// When a `SET` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetWhen {
    Always,
    /// `NX` (and `SETNX`): only if the key is absent.
    Absent,
    /// `XX`: only if the key is present.
    Present,
}

/// The limits a command's keys and values are checked against before it
/// is queued.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyLimits {
    pub(crate) key_bytes_max: usize,
    pub(crate) value_bytes_max: usize,
}

pub(crate) fn error(text: impl Into<Cow<'static, str>>) -> Reply {
    Reply::Error(text.into())
}

fn wrong_args(name: &str) -> Reply {
    error(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

pub(crate) fn not_integer() -> Reply {
    error("ERR value is not an integer or out of range")
}

fn syntax() -> Reply {
    error("ERR syntax error")
}

/// Bytes of a request Redis quotes in the error for an unknown command:
/// of its name, and of its arguments together.
const UNKNOWN_QUOTE_BYTES_MAX: usize = 128;

/// Redis's reply to a command it does not know, quoting the request as
/// Redis 7 does (`processCommand`): the name cut to 128 bytes, then
/// arguments while fewer than 128 bytes of them are quoted, the last cut
/// to what is left. So the error stays a short line however large the
/// request (a bulk may be 64 MiB).
fn unknown(args: &[Vec<u8>]) -> Reply {
    let cut = |b: &[u8], n: usize| String::from_utf8_lossy(&b[..b.len().min(n)]).into_owned();
    let mut quoted = Vec::new();
    for a in &args[1..] {
        if quoted.len() >= UNKNOWN_QUOTE_BYTES_MAX {
            break;
        }
        let room = UNKNOWN_QUOTE_BYTES_MAX - quoted.len();
        quoted.push(b'\'');
        quoted.extend_from_slice(&a[..a.len().min(room)]);
        quoted.extend_from_slice(b"' ");
    }
    error(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        cut(&args[0], UNKNOWN_QUOTE_BYTES_MAX),
        String::from_utf8_lossy(&quoted)
    ))
}

/// Parses a decimal `i64` as Redis's `string2ll` does: no sign without
/// digits, no leading `+`, no spaces, no leading zeros but "0", no "-0".
/// The server parses every integer argument and stored counter with it
/// (oakmap-raft's INCRBY too, so both refuse the same values).
///
/// ```
/// use oakmap_server::parse_i64;
/// assert_eq!(parse_i64(b"-12"), Some(-12));
/// assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
/// for bad in [&b""[..], b"-", b"+1", b" 1", b"01", b"-0", b"1.0", b"9223372036854775808"] {
///     assert_eq!(parse_i64(bad), None);
/// }
/// ```
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || !digits.bytes().all(|c| c.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
        || s == "-0"
    {
        return None;
    }
    s.parse().ok()
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn check_key(key: &[u8], limits: KeyLimits) -> Result<(), Reply> {
    if key.len() > limits.key_bytes_max {
        return Err(error(format!(
            "ERR key is {} bytes; oakmap keys are at most {} bytes (key_bytes_max)",
            key.len(),
            limits.key_bytes_max
        )));
    }
    Ok(())
}

pub(crate) fn value_too_large(len: usize, limits: KeyLimits) -> Reply {
    error(format!(
        "ERR value is {len} bytes; oakmap values are at most {} bytes (VALUE_BYTES_MAX)",
        limits.value_bytes_max
    ))
}

fn check_value(value: &[u8], limits: KeyLimits) -> Result<(), Reply> {
    if value.len() > limits.value_bytes_max {
        return Err(value_too_large(value.len(), limits));
    }
    Ok(())
}

fn pairs(args: Vec<Vec<u8>>, limits: KeyLimits) -> Result<Vec<Pair>, Reply> {
    let mut out = Vec::with_capacity(args.len() / 2);
    let mut it = args.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        check_key(&k, limits)?;
        check_value(&v, limits)?;
        out.push((k, v));
    }
    Ok(out)
}

/// Checks a request's arguments (the name first; never empty) and returns
/// the command, or the error reply to send instead.
pub(crate) fn parse(args: Vec<Vec<u8>>, limits: KeyLimits) -> Result<Command, Reply> {
    debug_assert!(
        !args.is_empty(),
        "the decoder never yields an empty command"
    );
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let n = args.len();
    // Arity as Redis states it: positive is exact, negative is a minimum.
    let Some(arity) = table::find(&name).map(|s| s.arity) else {
        return Err(unknown(&args));
    };
    if (arity > 0 && n as i64 != arity) || (arity < 0 && (n as i64) < -arity) {
        return Err(wrong_args(&name));
    }
    let mut it = args.into_iter();
    let _ = it.next();
    let mut rest: Vec<Vec<u8>> = it.collect();
    let key = |rest: &mut Vec<Vec<u8>>| -> Result<Vec<u8>, Reply> {
        let k = std::mem::take(&mut rest[0]);
        check_key(&k, limits)?;
        Ok(k)
    };
    let keys = |rest: Vec<Vec<u8>>| -> Result<Vec<Vec<u8>>, Reply> {
        for k in &rest {
            check_key(k, limits)?;
        }
        Ok(rest)
    };
    Ok(match name.as_str() {
        "PING" => match rest.len() {
            0 => Command::Conn(ConnCommand::Ping(None)),
            1 => Command::Conn(ConnCommand::Ping(rest.pop())),
            _ => return Err(wrong_args(&name)),
        },
        "ECHO" => Command::Conn(ConnCommand::Echo(rest.remove(0))),
        "QUIT" => Command::Conn(ConnCommand::Quit),
        // Redis reads the index as a C int, then checks the range.
        "SELECT" => match parse_i64(&rest[0]) {
            Some(i) if (0..DATABASES as i64).contains(&i) => {
                Command::Conn(ConnCommand::Select(i as usize))
            }
            Some(i) if i32::try_from(i).is_err() => {
                return Err(error(
                    "ERR value is out of range, value must between -2147483648 and 2147483647",
                ));
            }
            Some(_) => return Err(error("ERR DB index is out of range")),
            None => return Err(not_integer()),
        },
        "DBSIZE" => Command::Read(Read::DbSize),
        "FLUSHDB" => match rest.first().map(|a| a.to_ascii_uppercase()) {
            None => Command::Write(Write::FlushDb),
            Some(m) if rest.len() == 1 && (m == b"SYNC" || m == b"ASYNC") => {
                Command::Write(Write::FlushDb)
            }
            _ => return Err(syntax()),
        },
        "GET" => Command::Read(Read::Get(key(&mut rest)?)),
        "STRLEN" => Command::Read(Read::Strlen(key(&mut rest)?)),
        "GETDEL" => Command::Write(Write::GetDel(key(&mut rest)?)),
        "INCR" => Command::Write(Write::IncrBy(key(&mut rest)?, 1)),
        "DECR" => Command::Write(Write::IncrBy(key(&mut rest)?, -1)),
        "INCRBY" | "DECRBY" => {
            let by = parse_i64(&rest[1]).ok_or_else(not_integer)?;
            let by = if name == "DECRBY" {
                by.checked_neg()
                    .ok_or_else(|| error("ERR decrement would overflow"))?
            } else {
                by
            };
            Command::Write(Write::IncrBy(key(&mut rest)?, by))
        }
        "SET" => parse_set(rest, limits)?,
        "SETNX" => {
            check_value(&rest[1], limits)?;
            let value = rest.pop().expect("arity 3");
            Command::Write(Write::SetNx(key(&mut rest)?, value))
        }
        "GETSET" => {
            check_value(&rest[1], limits)?;
            let value = rest.pop().expect("arity 3");
            Command::Write(Write::GetSet(key(&mut rest)?, value))
        }
        "APPEND" => {
            check_value(&rest[1], limits)?;
            let value = rest.pop().expect("arity 3");
            Command::Write(Write::Append(key(&mut rest)?, value))
        }
        "MGET" => Command::Read(Read::MGet(keys(rest)?)),
        "EXISTS" => Command::Read(Read::Exists(keys(rest)?)),
        "DEL" => Command::Write(Write::Del(keys(rest)?)),
        "MSET" | "MSETNX" => {
            if !rest.len().is_multiple_of(2) {
                return Err(wrong_args(&name));
            }
            let p = pairs(rest, limits)?;
            Command::Write(if name == "MSET" {
                Write::MSet(p)
            } else {
                Write::MSetNx(p)
            })
        }
        "SCAN" => parse_scan(rest)?,
        "KEYS" => Command::Read(Read::Keys(rest.remove(0))),
        "RANGE" => parse_range(rest)?,
        // Redis 7 takes several sections at once.
        "INFO" => Command::Conn(ConnCommand::Info((!rest.is_empty()).then(|| {
            rest.iter()
                .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(" ")
        }))),
        "CONFIG" => match rest[0].to_ascii_uppercase().as_slice() {
            b"GET" if rest.len() >= 2 => Command::Conn(ConnCommand::ConfigGet(rest.split_off(1))),
            b"GET" => {
                return Err(error(
                    "ERR wrong number of arguments for 'config|get' command",
                ));
            }
            _ => return Err(subcommand_unknown(&rest[0], "CONFIG")),
        },
        "CLIENT" => match rest[0].to_ascii_uppercase().as_slice() {
            b"SETNAME" if rest.len() == 2 => {
                let name = rest.pop().expect("two args");
                if name.iter().any(|&c| c <= b' ' || c > b'~') {
                    return Err(error(
                        "ERR Client names cannot contain spaces, newlines or special characters.",
                    ));
                }
                Command::Conn(ConnCommand::ClientSetName(name))
            }
            b"GETNAME" if rest.len() == 1 => Command::Conn(ConnCommand::ClientGetName),
            b"ID" if rest.len() == 1 => Command::Conn(ConnCommand::ClientId),
            // Client libraries announce themselves on connect; noted, not kept.
            b"SETINFO" if rest.len() == 3 => Command::Conn(ConnCommand::ClientSetInfo),
            b"SETNAME" | b"GETNAME" | b"ID" => {
                return Err(error(format!(
                    "ERR wrong number of arguments for 'client|{}' command",
                    String::from_utf8_lossy(&rest[0]).to_ascii_lowercase()
                )));
            }
            _ => return Err(subcommand_unknown(&rest[0], "CLIENT")),
        },
        "COMMAND" => match rest.first().map(|s| s.to_ascii_uppercase()) {
            None => Command::Conn(ConnCommand::CommandList),
            Some(s) if s == b"COUNT" && rest.len() == 1 => Command::Conn(ConnCommand::CommandCount),
            Some(s) if s == b"COUNT" => {
                return Err(error(
                    "ERR wrong number of arguments for 'command|count' command",
                ));
            }
            // redis-cli asks for every command's docs at start, for its
            // `help` and its hints.
            Some(s) if s == b"DOCS" => Command::Conn(ConnCommand::CommandDocs(rest.split_off(1))),
            Some(_) => return Err(subcommand_unknown(&rest[0], "COMMAND")),
        },
        "SAVE" => Command::Conn(ConnCommand::Save),
        "SHUTDOWN" => Command::Conn(ConnCommand::Shutdown),
        _ => unreachable!("every name with an arity is parsed"),
    })
}

fn subcommand_unknown(sub: &[u8], cmd: &str) -> Reply {
    error(format!(
        "ERR unknown subcommand '{}'. Try {cmd} HELP.",
        String::from_utf8_lossy(sub)
    ))
}

fn parse_set(mut rest: Vec<Vec<u8>>, limits: KeyLimits) -> Result<Command, Reply> {
    let mut when = SetWhen::Always;
    let mut get = false;
    for opt in &rest[2..] {
        match opt.to_ascii_uppercase().as_slice() {
            // As in Redis, an option may be given twice; NX and XX
            // together are the conflict.
            b"NX" if when != SetWhen::Present => when = SetWhen::Absent,
            b"XX" if when != SetWhen::Absent => when = SetWhen::Present,
            b"GET" => get = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" | b"KEEPTTL" => {
                return Err(error(
                    "ERR oakmap serve keeps no expiry: EX, PX, EXAT, PXAT and KEEPTTL are not supported",
                ));
            }
            _ => return Err(syntax()),
        }
    }
    rest.truncate(2);
    let value = rest.pop().expect("arity 3");
    check_value(&value, limits)?;
    let key = rest.pop().expect("arity 3");
    check_key(&key, limits)?;
    Ok(Command::Write(Write::Set {
        key,
        value,
        when,
        get,
    }))
}

/// Keys a `SCAN` returns per call unless `COUNT` says otherwise (Redis's
/// default).
const SCAN_COUNT_DEFAULT: usize = 10;

fn parse_scan(rest: Vec<Vec<u8>>) -> Result<Command, Reply> {
    let cursor = parse_u64(&rest[0]).ok_or_else(|| error("ERR invalid cursor"))?;
    let mut pattern = None;
    let mut count = SCAN_COUNT_DEFAULT;
    let mut strings_only = true;
    let mut i = 1;
    while i < rest.len() {
        let opt = rest[i].to_ascii_uppercase();
        let arg = rest.get(i + 1).ok_or_else(syntax)?;
        match opt.as_slice() {
            b"MATCH" => pattern = Some(arg.clone()),
            b"COUNT" => {
                count = match parse_i64(arg) {
                    Some(c) if c >= 1 => c as usize,
                    Some(_) => return Err(syntax()),
                    None => return Err(not_integer()),
                }
            }
            // Every key is a string: another type matches nothing.
            b"TYPE" => strings_only = arg.eq_ignore_ascii_case(b"string"),
            _ => return Err(syntax()),
        }
        i += 2;
    }
    Ok(Command::Read(Read::Scan {
        cursor,
        pattern,
        count,
        none: !strings_only,
    }))
}

fn parse_bound(b: &[u8], low: bool) -> Result<Bound, Reply> {
    let invalid = || error("ERR min or max not valid string range item");
    match b.first() {
        Some(b'-') if b.len() == 1 => {
            if low {
                Ok(Bound::Unbounded)
            } else {
                Err(invalid())
            }
        }
        Some(b'+') if b.len() == 1 => {
            if low {
                Err(invalid())
            } else {
                Ok(Bound::Unbounded)
            }
        }
        Some(b'[') => Ok(Bound::Included(b[1..].to_vec())),
        Some(b'(') => Ok(Bound::Excluded(b[1..].to_vec())),
        _ => Err(invalid()),
    }
}

fn parse_range(rest: Vec<Vec<u8>>) -> Result<Command, Reply> {
    let start = parse_bound(&rest[0], true)?;
    let end = parse_bound(&rest[1], false)?;
    let mut q = RangeQuery {
        start,
        end,
        limit: None,
        reverse: false,
        with_values: false,
    };
    let mut i = 2;
    while i < rest.len() {
        match rest[i].to_ascii_uppercase().as_slice() {
            b"LIMIT" => {
                let n = rest.get(i + 1).ok_or_else(syntax)?;
                q.limit = match parse_i64(n) {
                    Some(n) if n >= 0 => Some(n as usize),
                    _ => return Err(not_integer()),
                };
                i += 1;
            }
            b"REV" => q.reverse = true,
            b"WITHVALUES" => q.with_values = true,
            _ => return Err(syntax()),
        }
        i += 1;
    }
    Ok(Command::Read(Read::Range(q)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: KeyLimits = KeyLimits {
        key_bytes_max: 1024,
        value_bytes_max: 1 << 20,
    };

    /// Every command the table lists is parsed (the parser's last arm is
    /// unreachable only while this holds), at its arity and one above it.
    #[test]
    fn every_listed_command_parses() {
        for spec in table::COMMANDS {
            for extra in 0..2 {
                let n = spec.arity.unsigned_abs() as usize + extra;
                let mut args = vec![spec.name.as_bytes().to_vec()];
                args.extend((1..n).map(|i| i.to_string().into_bytes()));
                // Any answer but a panic: the arguments are numbers, which
                // some commands refuse by design.
                let _ = parse(args, LIMITS);
            }
        }
    }

    #[test]
    fn names_not_listed_are_unknown() {
        let reply = parse(vec![b"hset".to_vec(), b"k".to_vec()], LIMITS);
        assert_eq!(
            reply,
            Err(error(
                "ERR unknown command 'hset', with args beginning with: 'k' "
            ))
        );
    }
}
