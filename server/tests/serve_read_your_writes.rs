//! Guards read-your-writes and the databases' separation: a read issued
//! after a write's reply, on that connection or any other, sees the write;
//! a read pipelined behind a write in the same packet sees it too; SELECT
//! changes the database for the commands after it, even in a pipeline, and
//! a write to one database is invisible in the others.

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use harness::raw::encode;
use harness::{Oak, Resp, bulk, int, nil, ok, on_both, run};

#[test]
fn a_write_to_one_database_is_invisible_in_the_others() {
    on_both("databases_are_separate", |connect, _| {
        let (zero, one) = (&mut connect(), &mut connect());
        assert_eq!(run(one, &["SELECT", "1"]), ok());
        assert_eq!(run(one, &["MSET", "k", "in-1", "only-1", "x"]), ok());
        assert_eq!(run(zero, &["GET", "k"]), nil());
        assert_eq!(run(zero, &["EXISTS", "k", "only-1"]), int(0));
        assert_eq!(run(zero, &["DBSIZE"]), int(0));
        assert_eq!(run(zero, &["KEYS", "*"]), harness::bulks::<&str>([]));
        assert_eq!(run(zero, &["SET", "k", "in-0"]), ok());
        assert_eq!(run(one, &["GET", "k"]), bulk("in-1"));
        assert_eq!(run(zero, &["GET", "k"]), bulk("in-0"));
        // SELECT is the connection's: a new one starts in database 0.
        assert_eq!(run(&mut connect(), &["GET", "k"]), bulk("in-0"));
        assert_eq!(run(one, &["INCR", "n"]), int(1));
        assert_eq!(run(zero, &["INCR", "n"]), int(1));
        assert_eq!(run(one, &["FLUSHDB"]), ok());
        assert_eq!(run(one, &["DBSIZE"]), int(0));
        assert_eq!(run(zero, &["DBSIZE"]), int(2));
        assert_eq!(run(zero, &["SELECT", "15"]), ok());
        assert_eq!(run(zero, &["GET", "k"]), nil());
    });
}

/// Each round sends writes and the reads of what they wrote in one
/// packet: every read sees every write before it.
#[test]
fn a_read_pipelined_behind_a_write_sees_it() {
    let oak = Oak::start();
    let mut raw = oak.raw();
    for round in 0..200 {
        let v = format!("v{round}");
        let commands: Vec<(Vec<&[u8]>, Resp)> = vec![
            (vec![b"SET", b"k", v.as_bytes()], Resp::ok()),
            (vec![b"GET", b"k"], Resp::bulk(&v)),
            (vec![b"INCR", b"n"], Resp::Integer(round + 1)),
            (
                vec![b"MGET", b"k", b"n"],
                Resp::bulks([v.clone(), (round + 1).to_string()]),
            ),
            (
                vec![b"APPEND", b"k", b"!"],
                Resp::Integer(v.len() as i64 + 1),
            ),
            (vec![b"STRLEN", b"k"], Resp::Integer(v.len() as i64 + 1)),
            (vec![b"SET", b"fresh", b"1"], Resp::ok()),
            (vec![b"EXISTS", b"fresh"], Resp::Integer(1)),
            (vec![b"DBSIZE"], Resp::Integer(3)),
            (vec![b"KEYS", b"f*"], Resp::bulks(["fresh"])),
            (
                vec![b"SCAN", b"0", b"MATCH", b"fr*"],
                Resp::Array(vec![Resp::bulk("0"), Resp::bulks(["fresh"])]),
            ),
            (vec![b"RANGE", b"[fresh", b"[fresh"], Resp::bulks(["fresh"])),
            (vec![b"DEL", b"fresh"], Resp::Integer(1)),
            (vec![b"GET", b"fresh"], Resp::Nil),
            (vec![b"DBSIZE"], Resp::Integer(2)),
        ];
        let packet: Vec<u8> = commands.iter().flat_map(|(args, _)| encode(args)).collect();
        raw.send(&packet).unwrap();
        for (args, expected) in &commands {
            assert_eq!(raw.reply().unwrap(), *expected, "round {round}: {args:?}");
        }
    }
    oak.finish();
}

/// SELECT in a pipeline applies to the commands after it, writes queued
/// before it included.
#[test]
fn select_in_a_pipeline_moves_the_commands_after_it() {
    let oak = Oak::start();
    let mut raw = oak.raw();
    let commands: &[(&[&[u8]], Resp)] = &[
        (&[b"SET", b"k", b"zero"], Resp::ok()),
        (&[b"SELECT", b"1"], Resp::ok()),
        (&[b"SET", b"k", b"one"], Resp::ok()),
        (&[b"GET", b"k"], Resp::bulk("one")),
        (&[b"SELECT", b"0"], Resp::ok()),
        (&[b"GET", b"k"], Resp::bulk("zero")),
        (&[b"SELECT", b"1"], Resp::ok()),
        (&[b"INCR", b"n"], Resp::Integer(1)),
        (&[b"SELECT", b"2"], Resp::ok()),
        (&[b"INCR", b"n"], Resp::Integer(1)),
        (&[b"DBSIZE"], Resp::Integer(1)),
    ];
    let packet: Vec<u8> = commands.iter().flat_map(|(args, _)| encode(args)).collect();
    raw.send(&packet).unwrap();
    for (args, expected) in commands {
        assert_eq!(raw.reply().unwrap(), *expected, "{args:?}");
    }
    let c = &mut oak.client();
    assert_eq!(run(c, &["GET", "k"]), bulk("zero"));
    assert_eq!(run(c, &["SELECT", "1"]), ok());
    assert_eq!(run(c, &["MGET", "k", "n"]), harness::bulks(["one", "1"]));
    oak.finish();
}

/// A writer INCRs and publishes each value it is answered; readers on
/// other connections, each read starting after a value was published,
/// never see less.
#[test]
fn a_read_after_a_reply_sees_the_write_on_any_connection() {
    let oak = Oak::start();
    let acked = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (acked, done, mut c) = (acked.clone(), done.clone(), oak.client());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) {
                    let floor = acked.load(Ordering::SeqCst);
                    let seen = match run(&mut c, &["GET", "n"]) {
                        Ok(redis::Value::Nil) => 0,
                        Ok(redis::Value::BulkString(b)) => {
                            String::from_utf8(b).unwrap().parse::<i64>().unwrap()
                        }
                        other => panic!("GET answers a counter, not {other:?}"),
                    };
                    assert!(seen >= floor, "a read after reply {floor} saw {seen}");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let c = &mut oak.client();
    for i in 1..=2_000 {
        assert_eq!(run(c, &["INCR", "n"]), int(i));
        acked.store(i, Ordering::SeqCst);
    }
    done.store(true, Ordering::SeqCst);
    for r in readers {
        assert!(r.join().expect("a reader") > 0);
    }
    oak.finish();
}

/// A write that changes nothing (SETNX of a key that exists) is answered
/// from the state it read; a read after that reply must see that state.
/// Fifty connections race SETNX: each loser, answered 0, reads the key at
/// once.
#[test]
fn a_read_after_a_write_that_changed_nothing_sees_what_it_saw() {
    let oak = Oak::start();
    let mut misses = Vec::new();
    for round in 0..20 {
        let key = format!("lock:{round}");
        let start = Arc::new(std::sync::Barrier::new(50));
        let clients: Vec<_> = (0..50)
            .map(|i| {
                let (start, mut c, key) = (start.clone(), oak.client(), key.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let won = run(&mut c, &["SETNX", &key, &format!("owner-{i}")]);
                    (won, run(&mut c, &["GET", &key]))
                })
            })
            .collect();
        for (i, client) in clients.into_iter().enumerate() {
            let (won, seen) = client.join().expect("a client");
            if won == int(0) && seen == nil() {
                misses.push(format!("round {round}, client {i}"));
            }
        }
    }
    assert!(
        misses.is_empty(),
        "told the key exists, then read nil: {misses:?}"
    );
    oak.finish();
}

/// INFO's keyspace section is a read of the database like DBSIZE: behind
/// a write in the same pipeline, it counts the write.
#[test]
fn info_keyspace_pipelined_behind_a_write_counts_it() {
    let oak = Oak::start();
    let mut raw = oak.raw();
    for round in 1..=50 {
        let key = format!("k{round}");
        let packet = [
            encode(&[b"SET", key.as_bytes(), b"v"]),
            encode(&[b"INFO", b"keyspace"]),
        ]
        .concat();
        raw.send(&packet).unwrap();
        assert_eq!(raw.reply().unwrap(), Resp::ok());
        let Resp::Bulk(info) = raw.reply().unwrap() else {
            panic!("INFO answers a bulk string");
        };
        let info = String::from_utf8(info).unwrap();
        assert!(
            info.contains(&format!("db0:keys={round},")),
            "round {round}: {info:?}"
        );
    }
    oak.finish();
}
