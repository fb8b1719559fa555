//! Replies, and their RESP2 bytes.
//!
//! Invariant: whatever a `Reply` holds, its encoding is exactly one RESP2
//! value. Bulk strings are length-prefixed and so binary-safe; simple
//! strings and errors are CRLF-terminated lines, so any CR or LF in their
//! text is written as a space (as Redis's `addReplyErrorFormat` does) rather
//! than let a reply end early and desynchronise the client.

use std::borrow::Cow;

use super::ProtocolError;

/// One RESP2 reply.
///
/// ```
/// use oakmap_server::resp::Reply;
///
/// let mut out = Vec::new();
/// Reply::Array(vec![Reply::Bulk(b"k".to_vec()), Reply::NilBulk]).encode(&mut out);
/// Reply::Integer(-3).encode(&mut out);
/// assert_eq!(out, b"*2\r\n$1\r\nk\r\n$-1\r\n:-3\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A status line: `+OK\r\n`.
    Simple(Cow<'static, str>),
    /// An error line, its text starting with the error code: `ERR ...`,
    /// `WRONGTYPE ...`. Written as `-<text>\r\n`.
    Error(Cow<'static, str>),
    /// `:<n>\r\n`.
    Integer(i64),
    /// A binary-safe string: `$<len>\r\n<bytes>\r\n`.
    Bulk(Vec<u8>),
    /// The missing value, as `GET` of an absent key: `$-1\r\n`.
    NilBulk,
    /// `*<len>\r\n` followed by each element.
    Array(Vec<Reply>),
    /// The missing array, as a timed-out `BLPOP`: `*-1\r\n`.
    NilArray,
}

impl Reply {
    /// Appends this reply's RESP2 bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(text) => write_line(out, b'+', text),
            Reply::Error(text) => write_line(out, b'-', text),
            Reply::Integer(n) => write_header(out, b':', *n),
            Reply::Bulk(bytes) => write_bulk(out, bytes),
            Reply::NilBulk => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                write_header(out, b'*', length(items.len()));
                for item in items {
                    item.encode(out);
                }
            }
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        }
    }
}

/// The reply that ends a connection whose request stream was refused:
/// `-ERR Protocol error: ...`.
impl From<ProtocolError> for Reply {
    fn from(error: ProtocolError) -> Reply {
        Reply::Error(format!("ERR {error}").into())
    }
}

/// Writes a bulk string. The server can call this directly to stream values
/// it holds by reference (an `MGET` from a snapshot) without building a
/// [`Reply`].
pub(crate) fn write_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    write_header(out, b'$', length(bytes.len()));
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Writes `<kind><n>\r\n`: an integer reply, or a bulk or array header.
pub(crate) fn write_header(out: &mut Vec<u8>, kind: u8, n: i64) {
    out.push(kind);
    write_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Writes `<kind><text>\r\n` with every CR and LF in `text` made a space.
fn write_line(out: &mut Vec<u8>, kind: u8, text: &str) {
    out.push(kind);
    out.extend(text.bytes().map(|b| match b {
        b'\r' | b'\n' => b' ',
        b => b,
    }));
    out.extend_from_slice(b"\r\n");
}

/// A length as RESP writes it. No buffer in memory has more than
/// `isize::MAX` bytes, so a length always fits.
fn length(len: usize) -> i64 {
    i64::try_from(len).expect("an in-memory length fits in i64")
}

/// Writes `n` in decimal without allocating: integer replies are the
/// answer to every `INCR`.
fn write_decimal(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    let mut magnitude = n.unsigned_abs();
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut start = digits.len();
    loop {
        start -= 1;
        // The remainder is below 10, so the cast keeps every bit.
        digits[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_cover_the_whole_i64_range() {
        for n in [0, 1, -1, 9, 10, -10, 12345, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
