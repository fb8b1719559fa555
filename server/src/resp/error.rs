//! The one way a request stream can be refused: a protocol error.
//!
//! Every variant ends the connection (the stream has lost its framing, or
//! the peer asked for more than the limits allow), so variants name what
//! was wrong rather than what to do. `Display` gives Redis's own text, from
//! `networking.c`, so that the server's `-ERR Protocol error: ...` reply
//! reads the same as Redis's to clients and to people.

use std::fmt;

/// Why a request stream was refused.
///
/// The `Display` text is what Redis replies, after `-ERR `:
///
/// ```
/// use oakmap_server::resp::ProtocolError;
///
/// let e = ProtocolError::ExpectedBulk { got: b'f' };
/// assert_eq!(e.to_string(), "Protocol error: expected '$', got 'f'");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A multibulk header `*<n>` whose `n` is not a decimal integer, is not
    /// followed by CRLF, or is over [`Limits::args_max`].
    ///
    /// [`Limits::args_max`]: crate::resp::Limits::args_max
    InvalidMultibulkLength,
    /// A bulk header `$<n>` whose `n` is not a decimal integer, is
    /// negative, is not followed by CRLF, or is over
    /// [`Limits::bulk_bytes_max`].
    ///
    /// [`Limits::bulk_bytes_max`]: crate::resp::Limits::bulk_bytes_max
    InvalidBulkLength,
    /// Inside a multibulk command, a byte other than `$` where a bulk
    /// header must start.
    ExpectedBulk {
        /// The byte found instead.
        got: u8,
    },
    /// Bulk data not followed by CRLF. Redis skips the two bytes unread;
    /// we refuse them, as anything else means the peer's framing and ours
    /// disagree.
    BulkNotTerminated,
    /// An inline request line longer than [`Limits::inline_bytes_max`].
    ///
    /// [`Limits::inline_bytes_max`]: crate::resp::Limits::inline_bytes_max
    TooBigInlineRequest,
    /// A multibulk header line longer than [`Limits::inline_bytes_max`]
    /// with no CR yet.
    ///
    /// [`Limits::inline_bytes_max`]: crate::resp::Limits::inline_bytes_max
    TooBigMultibulkCount,
    /// A bulk header line longer than [`Limits::inline_bytes_max`] with no
    /// CR yet.
    ///
    /// [`Limits::inline_bytes_max`]: crate::resp::Limits::inline_bytes_max
    TooBigBulkCount,
    /// An inline request with an unclosed quote, or a closing quote
    /// followed by something other than a space.
    UnbalancedQuotes,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Protocol error: ")?;
        match *self {
            ProtocolError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtocolError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtocolError::ExpectedBulk { got } => {
                write!(f, "expected '$', got '{}'", Printable(got))
            }
            ProtocolError::BulkNotTerminated => f.write_str("expected CRLF after bulk data"),
            ProtocolError::TooBigInlineRequest => f.write_str("too big inline request"),
            ProtocolError::TooBigMultibulkCount => f.write_str("too big mbulk count string"),
            ProtocolError::TooBigBulkCount => f.write_str("too big bulk count string"),
            ProtocolError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A byte from the peer shown in an error line. Redis writes it raw, CR and
/// LF turned to spaces; we also escape what is not printable ASCII, so the
/// text stays UTF-8 and free of control bytes.
struct Printable(u8);

impl fmt::Display for Printable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b'\r' | b'\n' => f.write_str(" "),
            b @ 0x20..=0x7e => write!(f, "{}", char::from(b)),
            b => write!(f, "\\x{b:02x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offending_byte_is_shown_printable_and_never_breaks_a_line() {
        let shown = |got| ProtocolError::ExpectedBulk { got }.to_string();
        assert_eq!(shown(b'f'), "Protocol error: expected '$', got 'f'");
        assert_eq!(shown(b'\r'), "Protocol error: expected '$', got ' '");
        assert_eq!(shown(b'\n'), "Protocol error: expected '$', got ' '");
        assert_eq!(shown(0), "Protocol error: expected '$', got '\\x00'");
        assert_eq!(shown(0xff), "Protocol error: expected '$', got '\\xff'");
    }
}
