//! Guards how the server stops, embedded as a library: on SHUTDOWN from a
//! client or when the embedder's shutdown future completes, every write
//! that was answered is in the database, nothing is left half done, and
//! the server ends even with clients still connected.

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harness::raw::encode;
use harness::{Oak, Raw, Resp, STOP_WAIT};

/// Writes on one connection until the server stops answering: SET of
/// `c{client}:k{i}` and INCR of `c{client}:n`. Returns the writes answered.
fn write_until_refused(mut raw: Raw, client: usize) -> Vec<(String, String)> {
    let mut acked = Vec::new();
    for i in 0.. {
        let (key, value) = (format!("c{client}:k{i}"), format!("v{i}"));
        match raw.command(&[b"SET", key.as_bytes(), value.as_bytes()]) {
            Ok(Resp::Simple(s)) if s == "OK" => acked.push((key, value)),
            _ => break,
        }
        let counter = format!("c{client}:n");
        match raw.command(&[b"INCR", counter.as_bytes()]) {
            Ok(Resp::Integer(n)) => acked.push((counter, n.to_string())),
            _ => break,
        }
    }
    acked
}

/// The value `key` holds in database 0.
fn stored(db: &oakmap::Db, key: &str) -> Option<String> {
    db.get("db0", key.as_bytes())
        .expect("a read")
        .map(|v| String::from_utf8(v).expect("text"))
}

/// Checks every answered write against the stopped server's database: a
/// SET's value is there, and a counter holds at least its last answer.
fn assert_answered_writes_are_stored(db: &oakmap::Db, acked: &[Vec<(String, String)>]) {
    let mut checked = 0;
    for (client, writes) in acked.iter().enumerate() {
        let counter = format!("c{client}:n");
        let last_count = writes.iter().rev().find(|(k, _)| *k == counter);
        for (key, value) in writes {
            if *key == counter {
                continue;
            }
            assert_eq!(stored(db, key).as_ref(), Some(value), "{key} was answered");
            checked += 1;
        }
        if let Some((_, n)) = last_count {
            let now: i64 = stored(db, &counter).expect("the counter").parse().unwrap();
            let answered: i64 = n.parse().unwrap();
            // One more INCR may have been applied without its answer read.
            assert!(
                (answered..=answered + 1).contains(&now),
                "{counter}: {now} after {answered}"
            );
        }
    }
    assert!(checked > 0, "some writes were answered before the stop");
}

/// The embedder's shutdown future completes while eight clients write:
/// every write answered is in the database, which checks clean.
#[test]
fn a_stop_with_writes_in_flight_keeps_every_answered_write() {
    let oak = Oak::start();
    let started = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (raw, started) = (oak.raw(), started.clone());
            std::thread::spawn(move || {
                started.store(true, Ordering::SeqCst);
                write_until_refused(raw, client)
            })
        })
        .collect();
    while !started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(200));
    let db = oak.stop();
    let acked: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_answered_writes_are_stored(&db, &acked);
    assert!(db.check().unwrap().is_clean());
    db.close().unwrap();
}

/// SHUTDOWN from a client: the writes before it in its pipeline are
/// answered, SHUTDOWN itself is not (as in Redis), and the server ends.
#[test]
fn shutdown_from_a_client_answers_what_came_before_and_stops() {
    let mut oak = Oak::start();
    let mut other = oak.raw();
    assert_eq!(other.cmd(&["SET", "other", "1"]), Resp::ok());
    let mut raw = oak.raw();
    let packet = [
        encode(&[b"SET", b"a", b"1"]),
        encode(&[b"INCR", b"n"]),
        encode(&[b"SHUTDOWN"]),
        encode(&[b"SET", b"after", b"1"]),
    ]
    .concat();
    raw.send(&packet).unwrap();
    assert_eq!(raw.reply().unwrap(), Resp::ok());
    assert_eq!(raw.reply().unwrap(), Resp::Integer(1));
    assert_eq!(raw.read_to_end().unwrap(), b"", "nothing after SHUTDOWN");
    assert!(oak.stops_within(STOP_WAIT), "the server stopped by itself");
    assert_eq!(
        other.read_to_end().unwrap(),
        b"",
        "the other connection is closed"
    );
    let db = oak.stop();
    assert_eq!(stored(&db, "a").as_deref(), Some("1"));
    assert_eq!(stored(&db, "n").as_deref(), Some("1"));
    assert_eq!(stored(&db, "after"), None, "nothing after SHUTDOWN ran");
    db.close().unwrap();
}

/// A client that sends requests and never reads the replies cannot hold
/// the server up when it is told to stop.
#[test]
fn a_client_that_does_not_read_cannot_hold_up_a_stop() {
    let mut oak = Oak::start();
    let mut raw = oak.raw();
    let value = vec![b'v'; 100_000];
    assert_eq!(raw.command(&[b"SET", b"big", &value]).unwrap(), Resp::ok());
    // GETs of 100 KB until the socket buffers on both sides are full: the
    // server's writes to this client block.
    let gets: Vec<u8> = (0..200).flat_map(|_| encode(&[b"GET", b"big"])).collect();
    let stuffer = std::thread::spawn(move || while raw.send(&gets).is_ok() {});
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        oak.stops_within(Duration::from_secs(10)),
        "the server stopped though a client does not read"
    );
    drop(stuffer);
}
