//! Guards the server against bad input: garbage, random bytes, truncated
//! frames and frames split byte by byte, a 2^31 bulk header, a
//! million-argument request, binary keys holding CR LF, a key over
//! oakmap's limit, and one client too many. Each gets Redis's answer (or
//! an error naming our limit), never harms the database, and afterwards
//! the server is up: a connection opened before is still served, and so is
//! a new one.

mod harness;

use std::io::ErrorKind;

use harness::raw::encode;
use harness::rng::Rng;
use harness::{Oak, Raw, Resp, bulk, bulks, int, nil, ok, run, run_bytes};

/// A connection opened before the bad input, that must be served after.
struct Bystander(Raw);

impl Bystander {
    fn new(oak: &Oak) -> Bystander {
        let mut raw = oak.raw();
        assert_eq!(raw.cmd(&["PING"]), Resp::Simple("PONG".into()));
        Bystander(raw)
    }

    fn assert_served(&mut self, oak: &Oak, after: &str) {
        assert_eq!(
            self.0.cmd(&["ECHO", after]),
            Resp::bulk(after),
            "after {after}"
        );
        oak.assert_serves();
    }
}

/// Sends `bytes`, then asserts the replies and that the server closed the
/// connection.
fn refused(oak: &Oak, bytes: &[u8], replies: &[Resp]) {
    let mut raw = oak.raw();
    raw.send(bytes).unwrap();
    for r in replies {
        assert_eq!(
            raw.reply().unwrap(),
            *r,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert_eq!(raw.read_to_end().unwrap(), b"", "closed after the error");
}

fn protocol(text: &str) -> Resp {
    Resp::Error(format!("ERR Protocol error: {text}"))
}

#[test]
fn garbage_gets_redis_errors() {
    let oak = Oak::start();
    let mut bystander = Bystander::new(&oak);
    // Inline garbage is an unknown command; the connection goes on.
    let mut raw = oak.raw();
    raw.send(b"\x00\xffgarbage here\r\n").unwrap();
    let Resp::Error(text) = raw.reply().unwrap() else {
        panic!("an error");
    };
    assert!(text.starts_with("ERR unknown command '"), "{text}");
    assert_eq!(raw.cmd(&["PING"]), Resp::Simple("PONG".into()));
    // Garbage where a frame must be ends the connection, as in Redis.
    let bad: &[(&[u8], &str)] = &[
        (b"*x\r\n", "invalid multibulk length"),
        (b"*1\r\nfoo\r\n", "expected '$', got 'f'"),
        (b"*1\r\n$x\r\n", "invalid bulk length"),
        (b"*1\r\n$-5\r\n", "invalid bulk length"),
        (b"*1\r\n$3\r\nabcde\r\n", "expected CRLF after bulk data"),
        (b"PING \"unclosed\r\n", "unbalanced quotes in request"),
    ];
    for (bytes, text) in bad {
        refused(&oak, bytes, &[protocol(text)]);
        bystander.assert_served(&oak, text);
    }
    // Commands before the garbage are answered first.
    refused(
        &oak,
        &[&encode(&[b"SET", b"k", b"v"])[..], b"*1\r\n$x\r\n"].concat(),
        &[Resp::ok(), protocol("invalid bulk length")],
    );
    assert_eq!(oak.raw().cmd(&["GET", "k"]), Resp::bulk("v"));
    oak.finish();
}

/// Random bytes, biased towards RESP's own tokens so that they reach past
/// the first byte of the decoder.
fn noise(rng: &mut Rng) -> Vec<u8> {
    const TOKENS: &[&[u8]] = &[
        b"*",
        b"$",
        b"\r\n",
        b"\r",
        b"\n",
        b"-1",
        b"0",
        b"3",
        b"2147483648",
        b"SET",
        b"GET",
        b"PING",
        b"INCR",
        b"\"",
        b" ",
        b"k",
        b"\x00",
        b"\xff",
    ];
    let mut out = Vec::new();
    for _ in 0..rng.below(200) + 1 {
        if rng.below(3) == 0 {
            out.push(rng.next() as u8);
        } else {
            out.extend_from_slice(rng.pick(TOKENS));
        }
    }
    out
}

/// 2,000 connections of random bytes: every reply is well-formed RESP, the
/// server ends each connection once its input ends, and stays up.
#[test]
fn random_bytes_never_harm_the_server() {
    let oak = Oak::start();
    let mut bystander = Bystander::new(&oak);
    let seed = 0x5eed_0a4b_u64;
    let mut rng = Rng::new(seed);
    for case in 0..2_000 {
        let bytes = noise(&mut rng);
        let mut raw = oak.raw();
        // The server may close first, after a protocol error.
        let _ = raw.send(&bytes);
        let _ = raw.finish_sending();
        loop {
            match raw.reply() {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
                    ) =>
                {
                    break;
                }
                Err(e) => panic!("seed {seed:#x} case {case}: {e} after {bytes:?}"),
            }
        }
    }
    bystander.assert_served(&oak, "random bytes");
    oak.finish();
}

/// Every prefix of a SET and a GET, then the end of input: the complete
/// commands are answered, the cut one is not run, and the connection ends.
#[test]
fn a_truncated_frame_is_never_run() {
    let oak = Oak::start();
    let mut bystander = Bystander::new(&oak);
    let checker = &mut oak.client();
    let set = encode(&[b"SET", b"k000", b"value"]);
    let len = set.len() + encode(&[b"GET", b"k000"]).len();
    for cut in 0..=len {
        let key = format!("k{cut:03}");
        let stream = [
            encode(&[b"SET", key.as_bytes(), b"value"]),
            encode(&[b"GET", key.as_bytes()]),
        ]
        .concat();
        let mut raw = oak.raw();
        raw.send(&stream[..cut]).unwrap();
        raw.finish_sending().unwrap();
        let mut expected = Vec::new();
        if cut >= set.len() {
            expected.extend_from_slice(b"+OK\r\n");
        }
        if cut == len {
            expected.extend_from_slice(b"$5\r\nvalue\r\n");
        }
        assert_eq!(raw.read_to_end().unwrap(), expected, "cut at {cut}");
        let stored = if cut >= set.len() {
            bulk("value")
        } else {
            nil()
        };
        assert_eq!(run(checker, &["GET", &key]), stored, "cut at {cut}");
    }
    bystander.assert_served(&oak, "truncated frames");
    oak.finish();
}

/// A pipeline sent one byte per write (each its own TCP segment, most
/// likely its own read) is served as if sent whole.
#[test]
fn a_pipeline_sent_a_byte_at_a_time_is_served() {
    let oak = Oak::start();
    let mut raw = oak.raw();
    let stream = [
        encode(&[b"SET", b"k", b"a\r\nvalue"]),
        encode(&[b"GET", b"k"]),
        b"PING\r\n".to_vec(),
        encode(&[b"INCR", b"n"]),
        encode(&[b"MGET", b"k", b"n"]),
    ]
    .concat();
    for byte in &stream {
        raw.send(std::slice::from_ref(byte)).unwrap();
    }
    assert_eq!(raw.reply().unwrap(), Resp::ok());
    assert_eq!(raw.reply().unwrap(), Resp::bulk("a\r\nvalue"));
    assert_eq!(raw.reply().unwrap(), Resp::Simple("PONG".into()));
    assert_eq!(raw.reply().unwrap(), Resp::Integer(1));
    assert_eq!(raw.reply().unwrap(), Resp::bulks(["a\r\nvalue", "1"]));
    oak.finish();
}

/// Lengths over the limits are refused from the header alone: nothing is
/// allocated for them, and the error is Redis's.
#[test]
fn huge_headers_are_refused_from_the_header() {
    let oak = Oak::start();
    let mut bystander = Bystander::new(&oak);
    for (bytes, text) in [
        (&b"*1\r\n$2147483648\r\n"[..], "invalid bulk length"),
        (b"*1\r\n$9223372036854775808\r\n", "invalid bulk length"),
        (b"*1\r\n$67108865\r\n", "invalid bulk length"),
        (b"*1048577\r\n", "invalid multibulk length"),
        (b"*2147483648\r\n", "invalid multibulk length"),
    ] {
        refused(&oak, bytes, &[protocol(text)]);
        bystander.assert_served(&oak, text);
    }
    // Within the limits, a header alone waits for its data; the end of
    // input ends the connection without a reply.
    for bytes in [&b"*1000000\r\n"[..], b"*1\r\n$67108864\r\n"] {
        let mut raw = oak.raw();
        raw.send(bytes).unwrap();
        raw.finish_sending().unwrap();
        assert_eq!(raw.read_to_end().unwrap(), b"");
    }
    bystander.assert_served(&oak, "headers within the limits");
    oak.finish();
}

/// A request of a million arguments is served whole.
#[test]
fn a_million_argument_request_is_served() {
    let oak = Oak::start();
    let mut bystander = Bystander::new(&oak);
    let c = &mut oak.client();
    assert_eq!(run(c, &["SET", "a", "1"]), ok());
    let many = |name: &[u8]| {
        let mut out = b"*1000000\r\n".to_vec();
        out.extend_from_slice(&encode(&[name])[4..]);
        for _ in 1..1_000_000 {
            out.extend_from_slice(b"$1\r\na\r\n");
        }
        out
    };
    let mut raw = oak.raw();
    raw.send(&many(b"EXISTS")).unwrap();
    assert_eq!(raw.reply().unwrap(), Resp::Integer(999_999));
    raw.send(&many(b"DEL")).unwrap();
    assert_eq!(raw.reply().unwrap(), Resp::Integer(1));
    raw.send(&many(b"MGET")).unwrap();
    let Resp::Array(items) = raw.reply().unwrap() else {
        panic!("MGET answers an array");
    };
    assert_eq!(items.len(), 999_999);
    assert!(items.iter().all(|r| *r == Resp::Nil));
    bystander.assert_served(&oak, "a million arguments");
    oak.finish();
}

/// Keys and values are bytes: CR LF and whole RESP frames inside them are
/// data, in every command and every reply.
#[test]
fn binary_keys_holding_crlf_are_data() {
    let oak = Oak::start();
    let c = &mut oak.client();
    let keys: [&[u8]; 4] = [b"a\r\nb", b"*1\r\n$4\r\nQUIT\r\n", b"\r\n", b"\x00\r\n\xff"];
    for (i, k) in keys.iter().enumerate() {
        let v = [*k, b"=", i.to_string().as_bytes()].concat();
        assert_eq!(run_bytes(c, &[b"SET", k, &v]), ok());
        assert_eq!(run_bytes(c, &[b"GET", k]), bulk(&v));
        assert_eq!(run_bytes(c, &[b"STRLEN", k]), int(v.len() as i64));
    }
    let mut sorted = keys.to_vec();
    sorted.sort();
    assert_eq!(run(c, &["KEYS", "*"]), bulks(&sorted));
    assert_eq!(run_bytes(c, &[b"KEYS", b"*\r\n*"]), bulks(&sorted));
    assert_eq!(run_bytes(c, &[b"EXISTS", keys[0], keys[1], b"a"]), int(2));
    assert_eq!(run(c, &["RANGE", "-", "+"]), bulks(&sorted));
    // Inline requests, split at CR LF, cannot carry them; multibulk can,
    // and a raw connection sees the exact bytes.
    let mut raw = oak.raw();
    raw.send(&encode(&[b"GET", keys[1]])).unwrap();
    assert_eq!(raw.reply().unwrap(), Resp::bulk([keys[1], b"=1"].concat()));
    assert_eq!(
        run_bytes(c, &[b"DEL", keys[0], keys[1], keys[2], keys[3]]),
        int(4)
    );
    assert_eq!(run(c, &["DBSIZE"]), int(0));
    oak.finish();
}

/// A key longer than oakmap allows is refused with an error naming the
/// limit, by every command, before anything is written; a key at the
/// limit is served.
#[test]
fn a_key_over_the_limit_is_refused_with_the_limit_named() {
    let oak = Oak::start();
    let mut bystander = Bystander::new(&oak);
    let max = oak.db().key_bytes_max();
    let c = &mut oak.client();
    let at = vec![b'k'; max];
    let over = vec![b'k'; max + 1];
    let refusal = format!(
        "ERR key is {} bytes; oakmap keys are at most {max} bytes (key_bytes_max)",
        max + 1
    );
    let commands: Vec<Vec<&[u8]>> = vec![
        vec![b"SET", &over, b"v"],
        vec![b"GET", &over],
        vec![b"SETNX", &over, b"v"],
        vec![b"GETSET", &over, b"v"],
        vec![b"GETDEL", &over],
        vec![b"INCR", &over],
        vec![b"INCRBY", &over, b"2"],
        vec![b"APPEND", &over, b"v"],
        vec![b"STRLEN", &over],
        vec![b"MSET", b"fine", b"v", &over, b"v"],
        vec![b"MSETNX", b"fine", b"v", &over, b"v"],
        vec![b"MGET", b"fine", &over],
        vec![b"EXISTS", b"fine", &over],
        vec![b"DEL", b"fine", &over],
    ];
    for args in &commands {
        assert_eq!(
            run_bytes(c, args),
            Err(refusal.clone()),
            "{}",
            String::from_utf8_lossy(args[0])
        );
    }
    assert_eq!(run(c, &["DBSIZE"]), int(0), "nothing was written");
    assert_eq!(run_bytes(c, &[b"SET", &at, b"v"]), ok());
    assert_eq!(run_bytes(c, &[b"GET", &at]), bulk("v"));
    bystander.assert_served(&oak, "keys over the limit");
    oak.finish();
}

/// A bulk over a configured `--max-bulk-bytes` is refused; one at the
/// limit is served.
#[test]
fn a_bulk_over_the_configured_limit_is_refused() {
    let oak = Oak::start_with(|config| config.limits.bulk_bytes_max = 1024);
    let mut bystander = Bystander::new(&oak);
    let at = vec![b'v'; 1024];
    let mut raw = oak.raw();
    assert_eq!(raw.command(&[b"SET", b"k", &at]).unwrap(), Resp::ok());
    refused(
        &oak,
        &encode(&[b"SET", b"k", &[b'v'; 1025]]),
        &[protocol("invalid bulk length")],
    );
    assert_eq!(raw.command(&[b"GET", b"k"]).unwrap(), Resp::bulk(&at));
    bystander.assert_served(&oak, "a bulk over the limit");
    oak.finish();
}

/// With `max_clients = 2`, a third connection gets Redis's error and is
/// closed; the two are served throughout, and once one leaves a new one is
/// served.
#[test]
fn one_client_too_many_is_refused() {
    let oak = Oak::start_with(|config| config.max_clients = 2);
    let mut first = Bystander::new(&oak).0;
    let mut second = Bystander::new(&oak).0;
    for _ in 0..3 {
        let mut third = oak.raw();
        assert_eq!(
            third.reply().unwrap(),
            Resp::error("ERR max number of clients reached")
        );
        assert_eq!(third.read_to_end().unwrap(), b"");
    }
    assert_eq!(first.cmd(&["SET", "k", "v"]), Resp::ok());
    assert_eq!(second.cmd(&["GET", "k"]), Resp::bulk("v"));
    drop(first);
    // The server frees the slot when it sees the close: retry until then.
    let began = std::time::Instant::now();
    let mut next = loop {
        let mut raw = oak.raw();
        match raw.command(&[b"PING"]) {
            Ok(Resp::Simple(pong)) if pong == "PONG" => break raw,
            Ok(Resp::Error(_)) | Err(_) => {}
            Ok(other) => panic!("PING answered {other:?}"),
        }
        assert!(began.elapsed() < harness::STOP_WAIT, "a slot is freed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert_eq!(next.cmd(&["GET", "k"]), Resp::bulk("v"));
    assert_eq!(second.cmd(&["PING"]), Resp::Simple("PONG".into()));
    oak.finish();
}

/// A client that sends a pipeline of writes and leaves without reading a
/// reply harms nobody.
#[test]
fn a_client_that_leaves_mid_pipeline_harms_nobody() {
    let oak = Oak::start();
    let mut bystander = Bystander::new(&oak);
    for round in 0..20 {
        let mut raw = oak.raw();
        let packet: Vec<u8> = (0..500)
            .flat_map(|i| encode(&[b"SET", format!("r{round}:{i}").as_bytes(), b"v"]))
            .collect();
        raw.send(&packet).unwrap();
        drop(raw);
    }
    bystander.assert_served(&oak, "clients that left");
    let c = &mut oak.client();
    assert_eq!(run(c, &["SET", "after", "1"]), ok());
    assert_eq!(run(c, &["GET", "after"]), bulk("1"));
    oak.finish();
}
