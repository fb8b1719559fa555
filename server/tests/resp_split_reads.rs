//! Guards that how a request stream is split into reads never changes what
//! it decodes to: the same commands in the same order, and the same error
//! if one ends the stream, for every split point.

mod common;

use common::{Outcome, command, decode_byte_by_byte, decode_in_pieces, decode_whole, multibulk};
use oakmap_server::resp::{Limits, ProtocolError};

/// A pipeline of every frame form, with what it decodes to.
fn pipeline() -> (Vec<u8>, Outcome) {
    let mut stream = Vec::new();
    let mut commands = Vec::new();
    let mut frame = |bytes: &[u8], decoded: Option<Vec<Vec<u8>>>| {
        stream.extend_from_slice(bytes);
        commands.extend(decoded);
    };

    // A binary key holding CRLF and `*`, and an empty value.
    frame(
        &multibulk(&[b"SET", b"k\r\n*1\r\n", b""]),
        Some(vec![b"SET".to_vec(), b"k\r\n*1\r\n".to_vec(), Vec::new()]),
    );
    frame(b"PING\r\n", Some(command(&["PING"])));
    frame(b"*0\r\n", None); // Redis skips an empty multibulk...
    frame(b"SET k v\n", Some(command(&["SET", "k", "v"]))); // ...an LF-only line is a line...
    frame(b"*-1\r\n", None); // ...a negative count is skipped...
    frame(b"\r\n", None); // ...and so are blank inline lines.
    frame(b" \t \n", None);
    frame(
        b"set \"a b\" 'c\\'d' \"\\x00\\r\\n\\\"\"\r\n",
        Some(vec![
            b"set".to_vec(),
            b"a b".to_vec(),
            b"c'd".to_vec(),
            b"\0\r\n\"".to_vec(),
        ]),
    );
    let binary: Vec<u8> = (0..=255).collect();
    frame(
        &multibulk(&[b"ECHO", &binary]),
        Some(vec![b"ECHO".to_vec(), binary.clone()]),
    );
    frame(b"*1\r\n$4\r\nPING\r\n", Some(command(&["PING"])));
    frame(b"GET $3\r\n", Some(command(&["GET", "$3"]))); // `$` starts no frame inline
    frame(
        &multibulk(&[b"MSET", b"a", b"1", b"b", b"22"]),
        Some(command(&["MSET", "a", "1", "b", "22"])),
    );

    let outcome = Outcome {
        commands,
        error: None,
    };
    (stream, outcome)
}

#[test]
fn the_pipeline_decodes_to_its_commands_whole_and_byte_by_byte() {
    let (stream, expected) = pipeline();
    assert_eq!(decode_whole(&stream, Limits::default()), expected);
    assert_eq!(decode_byte_by_byte(&stream, Limits::default()), expected);
}

#[test]
fn every_split_into_two_or_three_reads_decodes_the_same() {
    let (stream, expected) = pipeline();
    for first in 0..=stream.len() {
        assert_eq!(
            decode_in_pieces(&stream, &[first], Limits::default()),
            expected,
            "split at {first}"
        );
        // Three reads: enough to put a cut on each side of every header,
        // every CRLF and every bulk at once. Stepping the second cut keeps
        // this quadratic loop quick; the byte-by-byte run covers the rest.
        for second in (first..=stream.len()).step_by(3) {
            assert_eq!(
                decode_in_pieces(&stream, &[first, second], Limits::default()),
                expected,
                "split at {first} and {second}"
            );
        }
    }
}

/// Streams that end in each protocol error, after a command that decodes.
fn failing_streams() -> Vec<(Vec<u8>, ProtocolError)> {
    let limits = small_limits();
    let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
        (b"*abc\r\n".to_vec(), ProtocolError::InvalidMultibulkLength),
        (b"*3\rX".to_vec(), ProtocolError::InvalidMultibulkLength),
        (b"*5\r\n".to_vec(), ProtocolError::InvalidMultibulkLength),
        (
            b"*1\r\nfoo\r\n".to_vec(),
            ProtocolError::ExpectedBulk { got: b'f' },
        ),
        (b"*1\r\n$-1\r\n".to_vec(), ProtocolError::InvalidBulkLength),
        (b"*1\r\n$17\r\n".to_vec(), ProtocolError::InvalidBulkLength),
        (
            b"*1\r\n$2\r\nabcd".to_vec(),
            ProtocolError::BulkNotTerminated,
        ),
        (
            vec![b'a'; limits.inline_bytes_max + 1],
            ProtocolError::TooBigInlineRequest,
        ),
        (
            [b"*".as_slice(), &[b'1'; 40]].concat(),
            ProtocolError::TooBigMultibulkCount,
        ),
        (
            [b"*1\r\n$".as_slice(), &[b'1'; 40]].concat(),
            ProtocolError::TooBigBulkCount,
        ),
        (b"GET \"k\r\n".to_vec(), ProtocolError::UnbalancedQuotes),
    ];
    cases
        .into_iter()
        .map(|(tail, error)| {
            let stream = [multibulk(&[b"PING"]).as_slice(), b"ECHO x\r\n", &tail].concat();
            (stream, error)
        })
        .collect()
}

/// Limits small enough that each over-limit case is a short stream.
fn small_limits() -> Limits {
    Limits {
        bulk_bytes_max: 16,
        args_max: 4,
        inline_bytes_max: 32,
    }
}

#[test]
fn a_stream_ending_in_an_error_fails_the_same_way_at_every_split() {
    for (stream, error) in failing_streams() {
        let expected = Outcome {
            commands: vec![command(&["PING"]), command(&["ECHO", "x"])],
            error: Some(error),
        };
        assert_eq!(
            decode_whole(&stream, small_limits()),
            expected,
            "{stream:?}"
        );
        assert_eq!(
            decode_byte_by_byte(&stream, small_limits()),
            expected,
            "{stream:?}"
        );
        for cut in 0..=stream.len() {
            assert_eq!(
                decode_in_pieces(&stream, &[cut], small_limits()),
                expected,
                "{stream:?} split at {cut}"
            );
        }
    }
}
