//! Guards that every read-modify-write is atomic against all other writes
//! (issue 11: Go's `sync.Map.LoadOrStore`, made durable): fifty
//! connections INCR one key and no increment is lost or given twice; they
//! race SETNX, SET NX GET, GETSET, APPEND and MSETNX and the outcome is one
//! a serial order of the commands would give.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};

use harness::{Oak, bulk, int, run};
use redis::Value;

const CLIENTS: usize = 50;

/// Runs `work(client index, connection)` on `CLIENTS` connections at once,
/// all starting together, and returns what each returned.
fn on_clients<T: Send + 'static>(
    oak: &Oak,
    work: impl Fn(usize, &mut redis::Connection) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let work = Arc::new(work);
    let start = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (work, start, mut con) = (work.clone(), start.clone(), oak.client());
            std::thread::spawn(move || {
                start.wait();
                work(i, &mut con)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("a client thread"))
        .collect()
}

fn integer(reply: harness::Reply) -> i64 {
    match reply {
        Ok(Value::Int(n)) => n,
        other => panic!("an integer reply, not {other:?}"),
    }
}

fn text(reply: harness::Reply) -> Option<String> {
    match reply {
        Ok(Value::BulkString(b)) => Some(String::from_utf8(b).expect("text")),
        Ok(Value::Nil) => None,
        other => panic!("a bulk string or nil, not {other:?}"),
    }
}

/// 50 × 1,000 INCR of one key: the total is exact, and the replies are
/// 1..=50,000, each given once (no two increments saw the same value).
#[test]
fn fifty_connections_incr_one_key() {
    const EACH: i64 = 1_000;
    let oak = Oak::start();
    let replies = on_clients(&oak, |_, c| {
        (0..EACH)
            .map(|_| integer(run(c, &["INCR", "counter"])))
            .collect::<Vec<_>>()
    });
    for mine in &replies {
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one client's replies rise"
        );
    }
    let mut all: Vec<i64> = replies.into_iter().flatten().collect();
    all.sort_unstable();
    let total = CLIENTS as i64 * EACH;
    assert!(all.iter().copied().eq(1..=total), "each value given once");
    assert_eq!(
        run(&mut oak.client(), &["GET", "counter"]),
        bulk(total.to_string())
    );
    oak.finish();
}

/// 50 connections SETNX one key, twenty keys over: exactly one wins each,
/// and every loser then reads the winner's value. (The read comes once
/// every SETNX is answered: a read at once after a losing SETNX's reply
/// may not see the winner yet, the bug `serve_read_your_writes.rs` keeps.)
#[test]
fn fifty_connections_race_setnx() {
    let oak = Oak::start();
    for round in 0..20 {
        let key = format!("lock:{round}");
        let (race, raced) = (key.clone(), Arc::new(Barrier::new(CLIENTS)));
        let outcomes = on_clients(&oak, move |i, c| {
            let won = integer(run(c, &["SETNX", &race, &format!("owner-{i}")]));
            raced.wait();
            let seen = text(run(c, &["GET", &race])).expect("the key is set");
            (won, seen)
        });
        let winners: Vec<usize> = (0..CLIENTS).filter(|&i| outcomes[i].0 == 1).collect();
        assert_eq!(winners.len(), 1, "round {round}: one winner");
        assert!(outcomes.iter().all(|(won, _)| *won == 0 || *won == 1));
        let owner = format!("owner-{}", winners[0]);
        for (i, (_, seen)) in outcomes.iter().enumerate() {
            assert_eq!(
                seen, &owner,
                "round {round}: client {i} reads the winner's value"
            );
        }
    }
    oak.finish();
}

/// SET NX GET is LoadOrStore: one client stores (and is answered nil), the
/// others load the stored value in the same reply.
#[test]
fn fifty_connections_race_set_nx_get() {
    let oak = Oak::start();
    for round in 0..10 {
        let key = format!("slot:{round}");
        let loaded = on_clients(&oak, move |i, c| {
            text(run(c, &["SET", &key, &format!("v{i}"), "NX", "GET"]))
        });
        let stored: Vec<usize> = (0..CLIENTS).filter(|&i| loaded[i].is_none()).collect();
        assert_eq!(stored.len(), 1, "round {round}: one store");
        let value = format!("v{}", stored[0]);
        assert!(
            loaded.iter().flatten().all(|v| *v == value),
            "round {round}: every other client loads the stored value"
        );
    }
    oak.finish();
}

/// 50 × 100 GETSET of one key with distinct values: every value is
/// returned exactly once by the GETSET that replaced it, except the last,
/// which the key holds; one GETSET found the key empty.
#[test]
fn fifty_connections_getset_one_key() {
    let oak = Oak::start();
    let returned = on_clients(&oak, |i, c| {
        (0..100)
            .map(|j| text(run(c, &["GETSET", "chain", &format!("{i}:{j}")])))
            .collect::<Vec<_>>()
    });
    let returned: Vec<Option<String>> = returned.into_iter().flatten().collect();
    assert_eq!(returned.iter().filter(|v| v.is_none()).count(), 1);
    let last = text(run(&mut oak.client(), &["GET", "chain"])).expect("the key is set");
    let mut seen: Vec<String> = returned.into_iter().flatten().chain([last]).collect();
    seen.sort();
    let mut written: Vec<String> = (0..CLIENTS)
        .flat_map(|i| (0..100).map(move |j| format!("{i}:{j}")))
        .collect();
    written.sort();
    assert_eq!(
        seen, written,
        "each value replaced once, or held at the end"
    );
    oak.finish();
}

/// 50 × 100 APPEND of distinct 8-byte tokens to one key: the lengths
/// returned are 8, 16, ... each once, and the value holds every token once,
/// each at the offset its APPEND answered.
#[test]
fn fifty_connections_append_to_one_key() {
    let oak = Oak::start();
    let lengths = on_clients(&oak, |i, c| {
        (0..100)
            .map(|j| {
                let token = format!("{i:03}-{j:03},");
                (integer(run(c, &["APPEND", "log", &token])), token)
            })
            .collect::<Vec<_>>()
    });
    let by_end: BTreeMap<i64, String> = lengths.into_iter().flatten().collect();
    let total = (CLIENTS * 100 * 8) as i64;
    assert!(
        by_end.keys().copied().eq((8..=total).step_by(8)),
        "each length once"
    );
    let value = text(run(&mut oak.client(), &["GET", "log"])).expect("the key is set");
    for (end, token) in &by_end {
        let end = *end as usize;
        assert_eq!(&value[end - 8..end], token, "the token its APPEND placed");
    }
    oak.finish();
}

/// 50 MSETNX, each of two keys shared with its neighbours in a ring: the
/// winners' key pairs are disjoint, each key written holds its winner's
/// value, and every loser met a key a winner holds.
#[test]
fn fifty_connections_race_msetnx_on_overlapping_keys() {
    let oak = Oak::start();
    let key = |i: usize| format!("ring:{}", i % CLIENTS);
    let won = on_clients(&oak, move |i, c| {
        let (a, b, v) = (key(i), key(i + 1), format!("by-{i}"));
        integer(run(c, &["MSETNX", &a, &v, &b, &v])) == 1
    });
    let c = &mut oak.client();
    let mut held = BTreeSet::new();
    for i in (0..CLIENTS).filter(|&i| won[i]) {
        for k in [key(i), key(i + 1)] {
            assert!(held.insert(k.clone()), "winners' keys are disjoint");
            assert_eq!(run(c, &["GET", &k]), bulk(format!("by-{i}")));
        }
    }
    for i in (0..CLIENTS).filter(|&i| !won[i]) {
        assert!(
            held.contains(&key(i)) || held.contains(&key(i + 1)),
            "client {i} lost to a winner"
        );
    }
    assert_eq!(run(c, &["DBSIZE"]), int(held.len() as i64));
    oak.finish();
}
