//! Guards that decoding stays linear in the bytes received when a large
//! command arrives in many small reads. Each case here would take hours if
//! a partial command were copied or rescanned from its start on every read,
//! and takes well under a second when it is not; no clock is read.

mod common;

use oakmap_server::resp::{Limits, RequestDecoder};

/// Feeds `stream` in `piece`-byte reads and returns the commands.
fn decode_in_reads_of(stream: &[u8], piece: usize) -> Vec<Vec<Vec<u8>>> {
    let mut decoder = RequestDecoder::new(Limits::default());
    let mut commands = Vec::new();
    for chunk in stream.chunks(piece) {
        decoder.feed(chunk);
        while let Some(command) = decoder.next_command().expect("a valid stream") {
            commands.push(command);
        }
        assert!(
            decoder.buffered_bytes() <= stream.len(),
            "the decoder holds no more than it was sent"
        );
    }
    commands
}

#[test]
fn a_large_bulk_in_small_reads() {
    // 16 MiB in 16-byte reads: a million calls. Copying the partial bulk
    // on each would move 8 TiB.
    let value: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
    let stream = common::multibulk(&[b"SET", b"k", &value]);
    let commands = decode_in_reads_of(&stream, 16);
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0][2], value);
}

#[test]
fn many_arguments_in_small_reads() {
    // 200,000 arguments in 5-byte reads: 400,000 calls. Rescanning the
    // headers read so far on each would parse 4 * 10^10 headers, and so
    // would counting the buffered bytes by walking the arguments read.
    let args: Vec<Vec<u8>> = (0..200_000u32)
        .map(|i| i.to_string().into_bytes())
        .collect();
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let stream = common::multibulk(&refs);
    let commands = decode_in_reads_of(&stream, 5);
    assert_eq!(commands, vec![args]);
}

#[test]
fn a_long_inline_line_in_one_byte_reads() {
    // A 60 KiB line, one byte per read: scanning it from its start on
    // each would look at 1.8 * 10^9 bytes.
    let line = [b"ECHO ".as_slice(), &vec![b'x'; 60 << 10], b"\r\n"].concat();
    let commands = decode_in_reads_of(&line, 1);
    assert_eq!(commands, vec![vec![b"ECHO".to_vec(), vec![b'x'; 60 << 10]]]);
}

#[test]
fn a_long_pipeline_arriving_all_at_once() {
    // 100,000 commands in one read: taking each off the front must not
    // move the rest of the buffer every time.
    let one = common::multibulk(&[b"GET", b"key"]);
    let stream = one.repeat(100_000);
    let mut decoder = RequestDecoder::new(Limits::default());
    decoder.feed(&stream);
    let mut count = 0;
    while let Some(command) = decoder.next_command().unwrap() {
        assert_eq!(command, vec![b"GET".to_vec(), b"key".to_vec()]);
        count += 1;
    }
    assert_eq!(count, 100_000);
    assert_eq!(decoder.buffered_bytes(), 0);
}
