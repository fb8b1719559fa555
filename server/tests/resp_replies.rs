//! Guards the reply encoding: each kind of reply is the exact bytes Redis
//! sends for it, and no text can break a reply's framing.

use oakmap_server::resp::{ProtocolError, Reply};

fn encoded(reply: Reply) -> Vec<u8> {
    let mut out = Vec::new();
    reply.encode(&mut out);
    out
}

#[test]
fn each_kind_is_the_bytes_redis_sends() {
    let cases: Vec<(Reply, &[u8])> = vec![
        (Reply::Simple("OK".into()), b"+OK\r\n"),
        (Reply::Simple("PONG".into()), b"+PONG\r\n"),
        (Reply::Simple("".into()), b"+\r\n"),
        (
            Reply::Error("ERR unknown command 'FOO', with args beginning with: ".into()),
            b"-ERR unknown command 'FOO', with args beginning with: \r\n",
        ),
        (
            Reply::Error(
                "WRONGTYPE Operation against a key holding the wrong kind of value".into(),
            ),
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (Reply::Integer(0), b":0\r\n"),
        (Reply::Integer(1000), b":1000\r\n"),
        (Reply::Integer(-1), b":-1\r\n"),
        (Reply::Integer(i64::MAX), b":9223372036854775807\r\n"),
        (Reply::Integer(i64::MIN), b":-9223372036854775808\r\n"),
        (Reply::Bulk(b"hello".to_vec()), b"$5\r\nhello\r\n"),
        (Reply::Bulk(Vec::new()), b"$0\r\n\r\n"),
        (Reply::Bulk(b"a\r\nb\0".to_vec()), b"$5\r\na\r\nb\0\r\n"),
        (Reply::NilBulk, b"$-1\r\n"),
        (Reply::Array(Vec::new()), b"*0\r\n"),
        (Reply::NilArray, b"*-1\r\n"),
        (
            Reply::Array(vec![
                Reply::Bulk(b"a".to_vec()),
                Reply::NilBulk,
                Reply::Bulk(b"ccc".to_vec()),
            ]),
            b"*3\r\n$1\r\na\r\n$-1\r\n$3\r\nccc\r\n",
        ),
        // SCAN's reply: the cursor, then the keys.
        (
            Reply::Array(vec![
                Reply::Bulk(b"0".to_vec()),
                Reply::Array(vec![
                    Reply::Bulk(b"k1".to_vec()),
                    Reply::Bulk(b"k2".to_vec()),
                ]),
            ]),
            b"*2\r\n$1\r\n0\r\n*2\r\n$2\r\nk1\r\n$2\r\nk2\r\n",
        ),
        (
            Reply::Array(vec![
                Reply::Integer(1),
                Reply::Simple("OK".into()),
                Reply::NilArray,
            ]),
            b"*3\r\n:1\r\n+OK\r\n*-1\r\n",
        ),
    ];
    for (reply, bytes) in cases {
        assert_eq!(
            encoded(reply.clone()),
            bytes,
            "{reply:?} gave {:?}",
            String::from_utf8_lossy(&encoded(reply.clone()))
        );
    }
}

#[test]
fn encoding_appends() {
    let mut out = b"+OK\r\n".to_vec();
    Reply::Integer(7).encode(&mut out);
    assert_eq!(out, b"+OK\r\n:7\r\n");
}

#[test]
fn line_breaks_in_text_become_spaces() {
    assert_eq!(
        encoded(Reply::Error("ERR bad\r\nkey: 'a\nb'\r".into())),
        b"-ERR bad  key: 'a b' \r\n"
    );
    assert_eq!(encoded(Reply::Simple("a\rb\n".into())), b"+a b \r\n");
}

#[test]
fn a_protocol_error_becomes_its_err_reply() {
    assert_eq!(
        encoded(Reply::from(ProtocolError::InvalidMultibulkLength)),
        b"-ERR Protocol error: invalid multibulk length\r\n"
    );
    assert_eq!(
        encoded(Reply::from(ProtocolError::ExpectedBulk { got: b'\n' })),
        b"-ERR Protocol error: expected '$', got ' '\r\n"
    );
}
