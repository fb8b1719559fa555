//! Helpers shared by the protocol tests: feeding a byte stream to a decoder
//! in pieces, as a connection's reads would, and encoding requests.
#![allow(dead_code, reason = "each test file uses a part of these helpers")]

use oakmap_server::resp::{Limits, ProtocolError, Reply, RequestDecoder};

/// A command as decoded: its arguments, the name first.
pub type Command = Vec<Vec<u8>>;

/// What a stream decodes to: its commands in order, and the error that
/// ended it if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub commands: Vec<Command>,
    pub error: Option<ProtocolError>,
}

/// Feeds `stream` to a new decoder in pieces that end at each of `cuts`
/// (ascending, each at most `stream.len()`) and then at the stream's end,
/// taking every complete command after each piece, as a server would.
pub fn decode_in_pieces(stream: &[u8], cuts: &[usize], limits: Limits) -> Outcome {
    let mut decoder = RequestDecoder::new(limits);
    let mut outcome = Outcome {
        commands: Vec::new(),
        error: None,
    };
    let mut start = 0;
    for &end in cuts.iter().chain([stream.len()].iter()) {
        decoder.feed(&stream[start..end]);
        start = end;
        loop {
            match decoder.next_command() {
                Ok(Some(command)) => outcome.commands.push(command),
                Ok(None) => break,
                Err(error) => {
                    outcome.error = Some(error);
                    assert_eq!(decoder.next_command(), Err(error), "an error is final");
                    return outcome;
                }
            }
        }
    }
    outcome
}

/// [`decode_in_pieces`] with the whole stream in one piece.
pub fn decode_whole(stream: &[u8], limits: Limits) -> Outcome {
    decode_in_pieces(stream, &[], limits)
}

/// [`decode_in_pieces`] one byte at a time.
pub fn decode_byte_by_byte(stream: &[u8], limits: Limits) -> Outcome {
    let cuts: Vec<usize> = (1..stream.len()).collect();
    decode_in_pieces(stream, &cuts, limits)
}

/// A command as a client library sends it: a multibulk array of bulks,
/// which is also how the server's own `Reply` encodes such an array.
pub fn multibulk(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    Reply::Array(args.iter().map(|a| Reply::Bulk(a.to_vec())).collect()).encode(&mut out);
    out
}

/// Arguments given as text, for expected commands.
pub fn command(args: &[&str]) -> Command {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}
