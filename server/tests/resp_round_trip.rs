//! Guards that any arguments a client can send come back exactly: encoded
//! as multibulk requests (binary-safe) or as quoted inline requests, and
//! fed in any pieces.

mod common;

use common::{Command, decode_in_pieces};
use oakmap_server::resp::Limits;
use proptest::prelude::*;

/// Commands of binary arguments, short and long, empty ones included.
fn commands() -> impl Strategy<Value = Vec<Command>> {
    let arg = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..16),
        1 => prop::collection::vec(any::<u8>(), 0..2000),
        1 => prop::collection::vec(prop::sample::select(b"\r\n*$".to_vec()), 0..8),
    ];
    prop::collection::vec(prop::collection::vec(arg, 1..12), 1..8)
}

/// Up to five read boundaries somewhere in a stream of `len` bytes.
fn cuts_in(len: usize, picks: &[prop::sample::Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = picks.iter().map(|p| p.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    common::multibulk(&refs)
}

/// An inline line with every argument in double quotes and every byte
/// that is not a plain printable one written as `\xHH`.
fn inline(args: &[Vec<u8>]) -> Vec<u8> {
    let mut line = Vec::new();
    for arg in args {
        line.extend_from_slice(b" \"");
        for &b in arg {
            match b {
                b'"' | b'\\' => line.extend_from_slice(&[b'\\', b]),
                0x20..=0x7e => line.push(b),
                _ => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            }
        }
        line.push(b'"');
    }
    line.extend_from_slice(b"\r\n");
    line
}

proptest! {
    #[test]
    fn multibulk_requests_decode_to_their_arguments(
        commands in commands(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
    ) {
        let stream: Vec<u8> = commands.iter().flat_map(|c| multibulk(c)).collect();
        let outcome = decode_in_pieces(&stream, &cuts_in(stream.len(), &picks), Limits::default());
        prop_assert_eq!(outcome.error, None);
        prop_assert_eq!(outcome.commands, commands);
    }

    #[test]
    fn quoted_inline_requests_decode_to_their_arguments(
        commands in commands(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
    ) {
        let stream: Vec<u8> = commands.iter().flat_map(|c| inline(c)).collect();
        let outcome = decode_in_pieces(&stream, &cuts_in(stream.len(), &picks), Limits::default());
        prop_assert_eq!(outcome.error, None);
        prop_assert_eq!(outcome.commands, commands);
    }

    #[test]
    fn both_forms_interleave(
        commands in commands(),
        inline_mask in any::<u8>(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
    ) {
        let stream: Vec<u8> = commands
            .iter()
            .enumerate()
            .flat_map(|(i, c)| if inline_mask >> (i % 8) & 1 == 1 { inline(c) } else { multibulk(c) })
            .collect();
        let outcome = decode_in_pieces(&stream, &cuts_in(stream.len(), &picks), Limits::default());
        prop_assert_eq!(outcome.error, None);
        prop_assert_eq!(outcome.commands, commands);
    }
}
