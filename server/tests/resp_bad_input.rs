//! Guards the decoder against bad input: each protocol error with Redis's
//! exact text, over-limit headers refused with only the header buffered,
//! and arbitrary bytes never panicking.

mod common;

use common::{Outcome, decode_in_pieces, decode_whole};
use oakmap_server::resp::{Limits, ProtocolError, Reply, RequestDecoder};
use proptest::prelude::*;

/// Decodes `stream` whole and returns the error that ends it, as the text
/// the server would send.
fn error_text(stream: &[u8]) -> String {
    let outcome = decode_whole(stream, Limits::default());
    let error = outcome
        .error
        .unwrap_or_else(|| panic!("no error for {stream:?}: {outcome:?}"));
    let mut reply = Vec::new();
    Reply::from(error).encode(&mut reply);
    String::from_utf8(reply).unwrap()
}

#[test]
fn each_error_has_redis_text() {
    // The cases of Redis's tests/unit/protocol.tcl, and one of each other kind.
    let cases: &[(&[u8], &str)] = &[
        (
            b"*3000000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1x\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
            "-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\nfoo\r\n",
            "-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"*1\r\n\r\n",
            "-ERR Protocol error: expected '$', got ' '\r\n",
        ),
        (
            b"set \"\"\"test-key\"\"\" test-value\r\nping\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"SET 'k v\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"*1\r\n$3\r\nfooXY",
            "-ERR Protocol error: expected CRLF after bulk data\r\n",
        ),
    ];
    for &(stream, text) in cases {
        assert_eq!(error_text(stream), text, "{stream:?}");
    }
}

#[test]
fn lines_without_an_end_are_refused_past_64_kib() {
    // Redis's "protocol desync" regression cases: a stray byte, then a
    // stream with no line end.
    let junk = b"payload".repeat(10_000);
    for (prefix, text) in [
        (
            &b"\x00"[..],
            "-ERR Protocol error: too big inline request\r\n",
        ),
        (
            b"*\x00",
            "-ERR Protocol error: too big mbulk count string\r\n",
        ),
        (b"$\x00", "-ERR Protocol error: too big inline request\r\n"),
        (
            b"*1\r\n$\x00",
            "-ERR Protocol error: too big bulk count string\r\n",
        ),
    ] {
        assert_eq!(error_text(&[prefix, &junk].concat()), text, "{prefix:?}");
    }
}

#[test]
fn the_inline_limit_counts_the_line_before_its_lf() {
    let limit = Limits::default().inline_bytes_max;
    assert_eq!(limit, 64 * 1024);
    let at_limit = [vec![b'a'; limit - 1], b"\r\n".to_vec()].concat();
    let outcome = decode_whole(&at_limit, Limits::default());
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.commands, vec![vec![vec![b'a'; limit - 1]]]);

    let mut decoder = RequestDecoder::new(Limits::default());
    decoder.feed(&vec![b'a'; limit]);
    assert_eq!(decoder.next_command(), Ok(None));
    decoder.feed(b"a");
    assert_eq!(
        decoder.next_command(),
        Err(ProtocolError::TooBigInlineRequest)
    );
}

/// Feeds only `header` and expects `error` from it alone.
fn refused_from_header(limits: Limits, header: &[u8], error: ProtocolError) {
    let mut decoder = RequestDecoder::new(limits);
    decoder.feed(header);
    assert_eq!(decoder.next_command(), Err(error), "{header:?}");
}

/// Feeds only `header` and expects the decoder to wait for more.
fn accepted_header(limits: Limits, header: &[u8]) {
    let mut decoder = RequestDecoder::new(limits);
    decoder.feed(header);
    assert_eq!(decoder.next_command(), Ok(None), "{header:?}");
}

#[test]
fn over_limit_lengths_are_refused_from_the_header_alone() {
    let defaults = Limits::default();
    assert_eq!(defaults.args_max, 1_048_576);
    assert_eq!(defaults.bulk_bytes_max, 64 << 20);
    accepted_header(defaults, b"*1048576\r\n");
    refused_from_header(
        defaults,
        b"*1048577\r\n",
        ProtocolError::InvalidMultibulkLength,
    );
    refused_from_header(
        defaults,
        b"*9223372036854775807\r\n",
        ProtocolError::InvalidMultibulkLength,
    );
    refused_from_header(
        defaults,
        b"*99999999999999999999\r\n",
        ProtocolError::InvalidMultibulkLength,
    );
    accepted_header(defaults, b"*1\r\n$67108864\r\n");
    refused_from_header(
        defaults,
        b"*1\r\n$67108865\r\n",
        ProtocolError::InvalidBulkLength,
    );
    refused_from_header(
        defaults,
        b"*1\r\n$2147483648\r\n",
        ProtocolError::InvalidBulkLength,
    );

    let small = Limits {
        bulk_bytes_max: 5,
        args_max: 2,
        inline_bytes_max: 10,
    };
    accepted_header(small, b"*2\r\n$5\r\n");
    refused_from_header(small, b"*3\r\n", ProtocolError::InvalidMultibulkLength);
    refused_from_header(small, b"*2\r\n$6\r\n", ProtocolError::InvalidBulkLength);
    refused_from_header(small, b"GET abcdefg", ProtocolError::TooBigInlineRequest);
    refused_from_header(small, b"*0000000000", ProtocolError::TooBigMultibulkCount);
    refused_from_header(small, b"*1\r\n$0000000000", ProtocolError::TooBigBulkCount);
}

#[test]
fn a_bad_header_byte_is_refused_as_soon_as_it_arrives() {
    refused_from_header(
        Limits::default(),
        b"*2\r\n$3\r\nGET\r\nk",
        ProtocolError::ExpectedBulk { got: b'k' },
    );
}

#[test]
fn malformed_lengths_are_refused() {
    for header in [
        &b"*\r\n"[..],
        b"*-\r\n",
        b"*-0\r\n",
        b"*01\r\n",
        b"*+1\r\n",
        b"* 1\r\n",
        b"*1 \r\n",
        b"*1\r\r\n",
        b"*1\rx",
    ] {
        refused_from_header(
            Limits::default(),
            header,
            ProtocolError::InvalidMultibulkLength,
        );
    }
    for header in [
        &b"$\r\n"[..],
        b"$-1\r\n",
        b"$-0\r\n",
        b"$01\r\n",
        b"$1.5\r\n",
        b"$0x10\r\n",
        b"$1\rx",
    ] {
        let stream = [b"*1\r\n".as_slice(), header].concat();
        refused_from_header(Limits::default(), &stream, ProtocolError::InvalidBulkLength);
    }
}

#[test]
fn an_error_is_final() {
    let mut decoder = RequestDecoder::new(Limits::default());
    decoder.feed(b"*1\r\n$x\r\n");
    let error = decoder.next_command().unwrap_err();
    decoder.feed(b"PING\r\n");
    assert_eq!(decoder.next_command(), Err(error));
}

/// Bytes weighted towards the protocol's own, so that random streams get
/// past the first header often.
fn protocol_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"*$\r\n0123456789- \"'\\xa".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..200)
}

fn tiny_limits() -> Limits {
    Limits {
        bulk_bytes_max: 20,
        args_max: 8,
        inline_bytes_max: 24,
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        decode_whole(&bytes, Limits::default());
        decode_whole(&bytes, tiny_limits());
    }

    #[test]
    fn random_streams_decode_the_same_however_split(
        bytes in protocol_ish_bytes(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        for limits in [Limits::default(), tiny_limits()] {
            let whole: Outcome = decode_whole(&bytes, limits);
            prop_assert_eq!(decode_in_pieces(&bytes, &cuts, limits), whole);
        }
    }
}
