//! Decoding a connection's request stream into commands.
//!
//! The decoder owns the connection's input buffer. Bytes go in with
//! [`RequestDecoder::feed`] as they arrive; [`RequestDecoder::next_command`]
//! takes complete commands off the front. It keeps Redis's behaviour
//! (`processInputBuffer` and friends in `networking.c`), with two choices
//! made so that how the stream is split into reads never changes the
//! outcome: a line is measured against its limit whether or not its end
//! has arrived, and a bad first byte of a bulk header is refused as soon as
//! it is seen.
//!
//! State kept between calls, so that no byte is looked at twice while a
//! command arrives slowly:
//!
//! - `consumed`: bytes at the front of `buf` already decoded (returned,
//!   skipped, or copied into the command being read). They are dropped when
//!   the decoder runs out of input, so `buf` holds at most one partial
//!   command between reads (and by `feed` once they are half of `buf`, for
//!   a caller that feeds before taking every command).
//! - `scanned`: bytes after `consumed` known to hold no line terminator.
//!   Reset whenever `consumed` moves.
//! - `command`: a multibulk command whose header has been read, with the
//!   arguments read so far and the length of a bulk whose header has been
//!   read but whose data has not all arrived.

use super::ProtocolError;
use super::inline::split_args;

/// Bounds on what a peer may ask the decoder to hold, each checked as soon
/// as the header that states it is buffered.
///
/// The defaults are Redis's, except `bulk_bytes_max` (Redis allows 512 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest bulk string, in bytes (`--max-bulk-bytes`; Redis's
    /// `proto-max-bulk-len`). Default 64 MiB.
    pub bulk_bytes_max: usize,
    /// The most arguments in one multibulk command, the command name
    /// included (`--max-args`). Default 1,048,576.
    pub args_max: usize,
    /// The longest inline request line, and the longest multibulk or bulk
    /// header line, in bytes. Default 64 KiB, Redis's
    /// `PROTO_INLINE_MAX_SIZE`.
    pub inline_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            bulk_bytes_max: 64 << 20,
            args_max: 1 << 20,
            inline_bytes_max: 64 << 10,
        }
    }
}

/// The smallest bytes one argument takes in a multibulk command:
/// `$0\r\n\r\n`. A count is trusted only as far as buffered bytes back it.
const ARG_FRAME_BYTES_MIN: usize = 6;

/// The most input buffer capacity kept while nothing is buffered: enough
/// for a typical read, small beside the per-connection memory budget.
const IDLE_BUFFER_BYTES_MAX: usize = 4 << 10;

/// Turns the bytes a connection receives into commands.
///
/// Feed it what each read returned, then take commands until it has none;
/// a command is its arguments, the name first, each a byte string.
///
/// ```
/// use oakmap_server::resp::{Limits, RequestDecoder};
///
/// let mut decoder = RequestDecoder::new(Limits::default());
/// decoder.feed(b"*2\r\n$3\r\nGET\r\n$1\r");
/// assert_eq!(decoder.next_command(), Ok(None)); // needs more bytes
///
/// decoder.feed(b"\nk\r\nPING\r\n");
/// assert_eq!(decoder.next_command(), Ok(Some(vec![b"GET".to_vec(), b"k".to_vec()])));
/// assert_eq!(decoder.next_command(), Ok(Some(vec![b"PING".to_vec()])));
/// assert_eq!(decoder.next_command(), Ok(None));
/// ```
///
/// After an error the decoder returns that error from every call: answer
/// `-ERR` with it (`Reply::from(error)`) and close the connection.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: Limits,
    buf: Vec<u8>,
    consumed: usize,
    scanned: usize,
    command: Option<Multibulk>,
    failed: Option<ProtocolError>,
}

/// A multibulk command whose header has been read.
#[derive(Debug)]
struct Multibulk {
    args: Vec<Vec<u8>>,
    /// The bytes in `args`, kept so that `buffered_bytes` is O(1).
    args_bytes: usize,
    /// Arguments still to read; the command is complete at zero.
    args_left: usize,
    /// The length of the next argument, once its header has been read.
    bulk_bytes: Option<usize>,
}

/// What one step of decoding found at the front of the input.
enum Step {
    /// The input ends inside a line or a bulk.
    Incomplete,
    /// A frame Redis ignores: a blank inline line, `*0` or a negative count.
    Skipped,
    /// A multibulk header, now in `command`.
    Started,
    /// A complete inline command.
    Command(Vec<Vec<u8>>),
}

impl RequestDecoder {
    /// A decoder with nothing buffered.
    pub fn new(limits: Limits) -> RequestDecoder {
        RequestDecoder {
            limits,
            buf: Vec::new(),
            consumed: 0,
            scanned: 0,
            command: None,
            failed: None,
        }
    }

    /// Appends bytes received from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        // Normally `next_command` trims the buffer when it runs out of
        // input. A caller that feeds before that (it stopped taking
        // commands to let replies drain) still gets a trim here once half
        // the buffer is decoded, which moves at most as many bytes as it
        // drops: linear overall.
        if self.consumed > 0 && self.consumed >= self.buf.len() / 2 {
            self.drop_consumed();
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete command, `None` if more bytes are needed, or the
    /// error that ends the stream.
    ///
    /// Take commands until it returns `None`, then feed more.
    pub fn next_command(&mut self) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let next = self.decode();
        match &next {
            Err(error) => self.failed = Some(*error),
            Ok(None) => self.drop_consumed(),
            Ok(Some(_)) => {}
        }
        next
    }

    /// Bytes received and not yet decoded, plus the arguments already read
    /// of a command not yet complete: what this connection's input costs
    /// in memory, for a server that bounds it.
    pub fn buffered_bytes(&self) -> usize {
        let args_bytes = self.command.as_ref().map_or(0, |c| c.args_bytes);
        self.buf.len() - self.consumed + args_bytes
    }

    fn decode(&mut self) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        loop {
            if let Some(command) = self.command.take() {
                return self.read_args(command);
            }
            let Some(&first) = self.buf.get(self.consumed) else {
                return Ok(None);
            };
            let step = if first == b'*' {
                self.read_multibulk_header()?
            } else {
                self.read_inline()?
            };
            match step {
                Step::Incomplete => return Ok(None),
                Step::Skipped | Step::Started => {}
                Step::Command(args) => return Ok(Some(args)),
            }
        }
    }

    /// Reads `*<count>\r\n`. Like Redis, a count of zero or less is a
    /// frame with no command; unlike Redis the count's CR must be followed
    /// by LF.
    fn read_multibulk_header(&mut self) -> Result<Step, ProtocolError> {
        let Some(count) = self.read_header(
            ProtocolError::TooBigMultibulkCount,
            ProtocolError::InvalidMultibulkLength,
        )?
        else {
            return Ok(Step::Incomplete);
        };
        if count <= 0 {
            return Ok(Step::Skipped);
        }
        let args_left = usize::try_from(count)
            .ok()
            .filter(|&n| n <= self.limits.args_max)
            .ok_or(ProtocolError::InvalidMultibulkLength)?;
        let backed = (self.buf.len() - self.consumed) / ARG_FRAME_BYTES_MIN;
        self.command = Some(Multibulk {
            args: Vec::with_capacity(args_left.min(backed)),
            args_bytes: 0,
            args_left,
            bulk_bytes: None,
        });
        Ok(Step::Started)
    }

    /// Reads the arguments of `command` as far as the input goes; keeps it
    /// in `self.command` if the input ends first.
    fn read_args(&mut self, mut command: Multibulk) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        while command.args_left > 0 {
            let bulk_bytes = match command.bulk_bytes {
                Some(bytes) => bytes,
                None => match self.read_bulk_header()? {
                    Some(bytes) => bytes,
                    None => break,
                },
            };
            command.bulk_bytes = Some(bulk_bytes);
            let Some(arg) = self.read_bulk_data(bulk_bytes)? else {
                break;
            };
            command.args_bytes += arg.len();
            command.args.push(arg);
            command.args_left -= 1;
            command.bulk_bytes = None;
        }
        if command.args_left > 0 {
            self.command = Some(command);
            return Ok(None);
        }
        Ok(Some(command.args))
    }

    /// Reads `$<len>\r\n`, refusing a length over the limit before any of
    /// its data is awaited.
    fn read_bulk_header(&mut self) -> Result<Option<usize>, ProtocolError> {
        match self.buf.get(self.consumed) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&got) => return Err(ProtocolError::ExpectedBulk { got }),
        }
        let Some(len) = self.read_header(
            ProtocolError::TooBigBulkCount,
            ProtocolError::InvalidBulkLength,
        )?
        else {
            return Ok(None);
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= self.limits.bulk_bytes_max)
            .ok_or(ProtocolError::InvalidBulkLength)?;
        Ok(Some(len))
    }

    /// Takes `len` bytes of bulk data and their CRLF once all are buffered.
    /// Until then it looks at no byte, so a large bulk arriving in small
    /// reads costs one comparison per read.
    fn read_bulk_data(&mut self, len: usize) -> Result<Option<Vec<u8>>, ProtocolError> {
        let rest = &self.buf[self.consumed..];
        if rest.len() < 2 || rest.len() - 2 < len {
            return Ok(None);
        }
        if &rest[len..len + 2] != b"\r\n" {
            return Err(ProtocolError::BulkNotTerminated);
        }
        let arg = rest[..len].to_vec();
        self.consume(len + 2);
        Ok(Some(arg))
    }

    /// Reads an inline line: up to LF, less one CR before it.
    fn read_inline(&mut self) -> Result<Step, ProtocolError> {
        let Some(line_len) = self.find_line(b'\n', ProtocolError::TooBigInlineRequest)? else {
            return Ok(Step::Incomplete);
        };
        let line = &self.buf[self.consumed..self.consumed + line_len];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let args = split_args(line).ok_or(ProtocolError::UnbalancedQuotes)?;
        self.consume(line_len + 1);
        Ok(if args.is_empty() {
            Step::Skipped
        } else {
            Step::Command(args)
        })
    }

    /// Reads a header line, `*<n>\r\n` or `$<n>\r\n`, and returns its `n`.
    /// `too_long` if the line passes the limit before its CR; `malformed`
    /// if `n` is not a decimal integer as Redis's `string2ll` reads one, or
    /// its CR is not followed by LF.
    fn read_header(
        &mut self,
        too_long: ProtocolError,
        malformed: ProtocolError,
    ) -> Result<Option<i64>, ProtocolError> {
        let Some(line_len) = self.find_line(b'\r', too_long)? else {
            return Ok(None);
        };
        let line_end = self.consumed + line_len;
        match self.buf.get(line_end + 1) {
            None => return Ok(None),
            Some(b'\n') => {}
            Some(_) => return Err(malformed),
        }
        // The line starts with its kind byte, `*` or `$`.
        let n = parse_decimal(&self.buf[self.consumed + 1..line_end]).ok_or(malformed)?;
        self.consume(line_len + 2);
        Ok(Some(n))
    }

    /// The length of the line at the front of the input, up to (not
    /// including) `terminator`, or `None` if the terminator has not arrived.
    /// A line longer than `inline_bytes_max` is refused whether or not its
    /// end has arrived, so the outcome does not depend on how reads split
    /// it.
    fn find_line(
        &mut self,
        terminator: u8,
        too_long: ProtocolError,
    ) -> Result<Option<usize>, ProtocolError> {
        let rest = &self.buf[self.consumed..];
        let found = rest[self.scanned..]
            .iter()
            .position(|&b| b == terminator)
            .map(|i| self.scanned + i);
        let line_len = found.unwrap_or(rest.len());
        if line_len > self.limits.inline_bytes_max {
            return Err(too_long);
        }
        self.scanned = line_len;
        Ok(found)
    }

    fn consume(&mut self, bytes: usize) {
        debug_assert!(
            self.consumed + bytes <= self.buf.len(),
            "consumes only buffered bytes"
        );
        self.consumed += bytes;
        self.scanned = 0;
    }

    /// Drops the decoded bytes at the front of the buffer. Called when the
    /// input has run out, so what moves is at most one partial command, and
    /// only once per decoded piece: the cost stays linear in bytes received.
    /// An emptied buffer gives back what a large command made it grow to,
    /// so an idle connection costs little.
    fn drop_consumed(&mut self) {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
        if self.buf.is_empty() {
            self.buf.shrink_to(IDLE_BUFFER_BYTES_MAX);
        }
    }
}

/// Reads a decimal integer as Redis's `string2ll` does: an optional `-`,
/// then digits with no leading zero (`0` alone excepted), within `i64`.
/// No sign `+`, no spaces, no empty string, no `-0`.
fn parse_decimal(digits: &[u8]) -> Option<i64> {
    if digits == b"0" {
        return Some(0);
    }
    let (negative, magnitude) = match digits {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, digits),
    };
    let [b'1'..=b'9', ..] = magnitude else {
        return None;
    };
    let mut value: u64 = 0;
    for &d in magnitude {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_read_as_string2ll_reads_them() {
        let read = |s: &str| parse_decimal(s.as_bytes());
        assert_eq!(read("0"), Some(0));
        assert_eq!(read("7"), Some(7));
        assert_eq!(read("-12"), Some(-12));
        assert_eq!(read("9223372036854775807"), Some(i64::MAX));
        assert_eq!(read("-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "-",
            "-0",
            "007",
            "+1",
            " 1",
            "1 ",
            "1a",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999",
        ] {
            assert_eq!(read(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_large_count_reserves_only_what_buffered_bytes_back() {
        let mut decoder = RequestDecoder::new(Limits::default());
        decoder.feed(b"*1048576\r\n$1\r\na\r\n");
        assert_eq!(decoder.next_command(), Ok(None));
        let command = decoder.command.as_ref().unwrap();
        assert!(command.args.capacity() <= 2, "{}", command.args.capacity());
        assert_eq!(command.args_left, (1 << 20) - 1);
    }

    #[test]
    fn a_slow_bulk_is_neither_copied_nor_scanned_again() {
        let mut decoder = RequestDecoder::new(Limits::default());
        decoder.feed(b"*1\r\n$1000\r\n");
        assert_eq!(decoder.next_command(), Ok(None));
        // The header is decoded and dropped; from here on the buffer only
        // grows, and each call compares its length with the bulk's.
        assert_eq!(decoder.consumed, 0);
        assert!(decoder.buf.is_empty());
        for _ in 0..999 {
            decoder.feed(b"x");
            assert_eq!(decoder.next_command(), Ok(None));
            assert_eq!(decoder.consumed, 0);
        }
        decoder.feed(b"x\r\n");
        assert_eq!(decoder.next_command(), Ok(Some(vec![vec![b'x'; 1000]])));
    }

    #[test]
    fn a_slow_line_is_scanned_once() {
        let mut decoder = RequestDecoder::new(Limits::default());
        for i in 0..100 {
            decoder.feed(b"a");
            assert_eq!(decoder.next_command(), Ok(None));
            assert_eq!(decoder.scanned, i + 1);
        }
        decoder.feed(b"\n");
        assert_eq!(decoder.next_command(), Ok(Some(vec![vec![b'a'; 100]])));
    }

    #[test]
    fn skipped_frames_do_not_stay_buffered() {
        let mut decoder = RequestDecoder::new(Limits::default());
        for _ in 0..1000 {
            decoder.feed(b"\r\n*0\r\n*-1\r\n \n");
            assert_eq!(decoder.next_command(), Ok(None));
        }
        assert_eq!(decoder.buffered_bytes(), 0);
        assert!(decoder.buf.is_empty());
    }

    #[test]
    fn an_idle_decoder_gives_back_a_large_buffer() {
        let mut decoder = RequestDecoder::new(Limits::default());
        decoder.feed(b"*1\r\n$1000000\r\n");
        decoder.feed(&vec![b'x'; 1_000_000]);
        decoder.feed(b"\r\n");
        assert!(decoder.buf.capacity() >= 1_000_000);
        assert!(decoder.next_command().unwrap().is_some());
        assert_eq!(decoder.next_command(), Ok(None));
        assert!(decoder.buf.capacity() <= IDLE_BUFFER_BYTES_MAX);
    }

    #[test]
    fn feeding_without_taking_commands_still_trims_the_buffer() {
        let mut decoder = RequestDecoder::new(Limits::default());
        for _ in 0..1000 {
            decoder.feed(b"PING\r\n");
            assert_eq!(decoder.next_command(), Ok(Some(vec![b"PING".to_vec()])));
        }
        assert!(
            decoder.buf.len() <= 2 * b"PING\r\n".len(),
            "{}",
            decoder.buf.len()
        );
    }

    #[test]
    fn buffered_bytes_counts_undecoded_input_and_partial_arguments() {
        let mut decoder = RequestDecoder::new(Limits::default());
        decoder.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva");
        assert_eq!(decoder.next_command(), Ok(None));
        assert_eq!(decoder.buffered_bytes(), 3 + 1 + 2);
    }
}
