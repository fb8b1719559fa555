//! Guards that our replies are Redis's, beyond the cases written by hand:
//! a seeded random sequence of data commands (conditions, counters at
//! their limits, bad numbers, wrong arities, several databases) runs on
//! our server and on a `redis-server`, and every reply must be the same.
//! `OAKMAP_SERVE_DIFF_SEED` replays a sequence; skipped without Redis.

mod harness;

use harness::rng::{Rng, seed_from};
use harness::{Oak, Reference, Reply, run};
use redis::Value;

const KEYS: &[&str] = &["a", "b", "c", "n", "", "k:1", "k:2", "x y"];
const VALUES: &[&str] = &[
    "v",
    "",
    "0",
    "1",
    "-1",
    "41",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775806",
    "abc",
    " 1",
    "01",
    "+1",
    "1.5",
];
const PATTERNS: &[&str] = &["*", "k:*", "?", "[ab]", "*1", "x*", "", "[^a]*"];

/// One random command.
fn command(rng: &mut Rng) -> Vec<&'static str> {
    let key = |rng: &mut Rng| rng.pick(KEYS);
    let value = |rng: &mut Rng| rng.pick(VALUES);
    let mut c = match rng.below(24) {
        0 | 1 => vec!["GET", key(rng)],
        2..=4 => {
            let mut c = vec!["SET", key(rng), value(rng)];
            for _ in 0..rng.below(3) {
                c.push(rng.pick(&["NX", "XX", "GET", "nx", "get"]));
            }
            c
        }
        5 => vec!["SETNX", key(rng), value(rng)],
        6 => vec!["GETSET", key(rng), value(rng)],
        7 => vec!["GETDEL", key(rng)],
        8 => vec!["MGET", key(rng), key(rng), key(rng)],
        9 => vec!["MSET", key(rng), value(rng), key(rng), value(rng)],
        10 => vec!["MSETNX", key(rng), value(rng), key(rng), value(rng)],
        11 => vec!["DEL", key(rng), key(rng)],
        12 => vec!["EXISTS", key(rng), key(rng), key(rng)],
        13 | 14 => vec![rng.pick(&["INCR", "DECR"]), key(rng)],
        15 | 16 => vec![rng.pick(&["INCRBY", "DECRBY"]), key(rng), value(rng)],
        17 => vec!["APPEND", key(rng), value(rng)],
        18 => vec!["STRLEN", key(rng)],
        19 => vec!["DBSIZE"],
        20 => vec!["SELECT", rng.pick(&["0", "1", "2", "0", "16", "x"])],
        21 => vec!["KEYS", rng.pick(PATTERNS)],
        22 => vec![rng.pick(&["ECHO", "PING"]), value(rng)],
        _ => vec!["FLUSHDB"],
    };
    // Now and then a wrong arity: an argument dropped or added.
    match rng.below(40) {
        0 if c.len() > 1 => {
            c.pop();
        }
        1 => c.push("extra"),
        _ => {}
    }
    c
}

/// KEYS lists in hash order on Redis, in key order on ours: compare sets.
fn normalised(command: &[&str], reply: Reply) -> Reply {
    match (command[0], reply) {
        ("KEYS", Ok(Value::Array(mut keys))) => {
            keys.sort_by_key(|k| format!("{k:?}"));
            Ok(Value::Array(keys))
        }
        (_, reply) => reply,
    }
}

#[test]
fn random_commands_get_redis_replies() {
    let Some(redis) = Reference::start("random_commands_get_redis_replies") else {
        return;
    };
    let seed = seed_from("OAKMAP_SERVE_DIFF_SEED", 0x0a4b_5eed);
    let mut rng = Rng::new(seed);
    let oak = Oak::start();
    let (ours, theirs) = (&mut oak.client(), &mut redis.client());
    let mut history = Vec::new();
    for step in 0..5_000 {
        let c = command(&mut rng);
        let (a, b) = (run(ours, &c), run(theirs, &c));
        let (a, b) = (normalised(&c, a), normalised(&c, b));
        history.push(format!("{c:?} -> {b:?}"));
        if a != b {
            let start = history.len().saturating_sub(10);
            panic!(
                "seed {seed}, step {step}: {c:?}\n  ours:  {a:?}\n  redis: {b:?}\nbefore:\n  {}",
                history[start..].join("\n  ")
            );
        }
    }
    oak.finish();
}
