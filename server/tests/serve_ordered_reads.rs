//! Guards the reads that walk the keyspace: KEYS and SCAN ... MATCH select
//! the same keys as Redis's glob for every pattern (compared with a
//! `redis-server` holding the same keys), in key order; a full SCAN
//! returns every key exactly once, at most COUNT per call; RANGE agrees
//! with a `BTreeMap` for every kind of bound, LIMIT, REV and WITHVALUES.

mod harness;

use std::collections::{BTreeMap, BTreeSet};

use harness::{Oak, Reference, bulks, err, on_both, run, run_bytes};
use redis::Value;

/// Keys chosen to meet every glob feature: separators, the special
/// characters themselves, bytes that are not UTF-8, CR and LF.
fn keys() -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut keys = BTreeMap::new();
    for i in 0..40 {
        keys.insert(
            format!("user:{i}:name").into_bytes(),
            format!("n{i}").into_bytes(),
        );
        keys.insert(
            format!("user:{i}:age").into_bytes(),
            i.to_string().into_bytes(),
        );
        keys.insert(format!("order:{i:03}").into_bytes(), vec![b'o'; i]);
    }
    for k in [
        &b"a"[..],
        b"b",
        b"ab",
        b"abc",
        b"a-",
        b"a]",
        b"a^",
        b"a\\",
        b"a*",
        b"a?",
        b"[a",
        b"-",
        b"]",
        b"^",
        b"x^y",
        b"hello",
        b"hallo",
        b"hxllo",
        b"hllo",
        b"heeello",
        b"",
        b"\x00",
        b"\xff\xfe",
        b"line\r\nbreak",
        b"user:",
        b"user",
    ] {
        keys.insert(k.to_vec(), b"v".to_vec());
    }
    keys
}

fn load(c: &mut redis::Connection, keys: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let mut mset = redis::cmd("MSET");
    for (k, v) in keys {
        mset.arg(k).arg(v);
    }
    mset.query::<()>(c).expect("MSET");
}

const PATTERNS: &[&str] = &[
    "*",
    "user:*",
    "user:1*",
    "user:?:name",
    "user:*:age",
    "*:name",
    "order:0[0-1]?",
    "order:0[^0-2]*",
    "order:0[!0]*",
    "h?llo",
    "h*llo",
    "h[ae]llo",
    "h[^e]llo",
    "h[a-b]llo",
    "h[b-a]llo",
    "a[a-]",
    "a[-a]",
    "a[a-b-]",
    "a[]",
    "a[]]",
    "a[\\]]",
    "[",
    "[a",
    "a[",
    "[a-",
    "a\\",
    "a\\\\",
    "a\\*",
    "a\\?",
    "a?",
    "?",
    "??",
    "[^a]",
    "[^]",
    "x[^]y",
    "[^^]",
    "-",
    "[-]",
    "\\",
    "*\r\n*",
    "",
    "**",
    "*?*",
    "user",
    "nosuch*",
];

/// KEYS as a list of keys.
fn keys_reply(c: &mut redis::Connection, pattern: &[u8]) -> Vec<Vec<u8>> {
    match run_bytes(c, &[b"KEYS", pattern]) {
        Ok(Value::Array(items)) => items.into_iter().map(bulk_bytes).collect(),
        other => panic!("KEYS answers an array, not {other:?}"),
    }
}

fn bulk_bytes(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        other => panic!("a bulk string, not {other:?}"),
    }
}

/// One SCAN call: the next cursor and the keys.
fn scan(c: &mut redis::Connection, cursor: &str, options: &[&[u8]]) -> (String, Vec<Vec<u8>>) {
    let mut args: Vec<&[u8]> = vec![b"SCAN", cursor.as_bytes()];
    args.extend_from_slice(options);
    match run_bytes(c, &args) {
        Ok(Value::Array(mut parts)) if parts.len() == 2 => {
            let keys = match parts.pop() {
                Some(Value::Array(keys)) => keys.into_iter().map(bulk_bytes).collect(),
                other => panic!("SCAN's second part is an array, not {other:?}"),
            };
            let cursor = String::from_utf8(bulk_bytes(parts.pop().unwrap())).unwrap();
            (cursor, keys)
        }
        other => panic!("SCAN answers [cursor, keys], not {other:?}"),
    }
}

/// A whole SCAN iteration: every call's keys in order, and the number of
/// calls.
fn scan_all(c: &mut redis::Connection, options: &[&[u8]]) -> (Vec<Vec<u8>>, usize) {
    let (mut cursor, mut all, mut calls) = ("0".to_string(), Vec::new(), 0);
    loop {
        let (next, keys) = scan(c, &cursor, options);
        all.extend(keys);
        calls += 1;
        assert!(calls < 100_000, "SCAN ends");
        if next == "0" {
            return (all, calls);
        }
        cursor = next;
    }
}

/// Our KEYS selects what Redis's does, for every pattern, and lists the
/// keys in key order; a SCAN with the pattern selects the same.
#[test]
fn keys_and_scan_match_select_what_redis_selects() {
    let keys = keys();
    let oak = Oak::start();
    let c = &mut oak.client();
    load(c, &keys);
    let mut redis = Reference::start("keys_and_scan_match").map(|r| {
        let mut con = r.client();
        load(&mut con, &keys);
        (r, con)
    });
    for pattern in PATTERNS {
        let ours = keys_reply(c, pattern.as_bytes());
        let mut sorted = ours.clone();
        sorted.sort();
        assert_eq!(ours, sorted, "KEYS {pattern:?} in key order");
        if let Some((_, theirs)) = &mut redis {
            let theirs: BTreeSet<Vec<u8>> =
                keys_reply(theirs, pattern.as_bytes()).into_iter().collect();
            let ours: BTreeSet<Vec<u8>> = ours.iter().cloned().collect();
            assert_eq!(ours, theirs, "KEYS {pattern:?} selects what Redis selects");
        }
        let (scanned, _) = scan_all(c, &[b"MATCH", pattern.as_bytes(), b"COUNT", b"7"]);
        assert_eq!(
            scanned, ours,
            "SCAN MATCH {pattern:?} selects what KEYS does"
        );
    }
    // Without a Redis to compare with, a few answers by hand.
    let text = |p: &str, c: &mut redis::Connection| -> Vec<String> {
        keys_reply(c, p.as_bytes())
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect()
    };
    assert_eq!(text("h[ae]llo", c), ["hallo", "hello"]);
    assert_eq!(text("user:1?:name", c).len(), 10);
    assert_eq!(text("a\\*", c), ["a*"]);
    oak.finish();
}

/// A full SCAN returns every key exactly once, whatever COUNT; on ours in
/// key order and COUNT keys per call until the last.
#[test]
fn a_full_scan_returns_every_key_once() {
    let keys = keys();
    let all: Vec<Vec<u8>> = keys.keys().cloned().collect();
    on_both("a_full_scan_returns_every_key_once", |connect, who| {
        let c = &mut connect();
        load(c, &keys);
        for count in [1usize, 3, 10, 1000] {
            let count_arg = count.to_string();
            let (scanned, calls) = scan_all(c, &[b"COUNT", count_arg.as_bytes()]);
            let unique: BTreeSet<&Vec<u8>> = scanned.iter().collect();
            assert_eq!(unique.len(), scanned.len(), "COUNT {count}: no key twice");
            assert_eq!(unique.len(), all.len(), "COUNT {count}: every key");
            if who == harness::Who::Oak {
                assert_eq!(scanned, all, "COUNT {count}: in key order");
                assert_eq!(
                    calls,
                    all.len().div_ceil(count).max(1),
                    "COUNT {count} per call"
                );
            }
        }
        let (strings, _) = scan_all(c, &[b"TYPE", b"string"]);
        assert_eq!(strings.len(), all.len());
        assert_eq!(scan(c, "0", &[b"TYPE", b"list"]).1, Vec::<Vec<u8>>::new());
        for (options, text) in [
            (&[&b"COUNT"[..], b"0"][..], "ERR syntax error"),
            (
                &[b"COUNT", b"x"],
                "ERR value is not an integer or out of range",
            ),
            (&[b"MATCH"], "ERR syntax error"),
            (&[b"FOO", b"bar"], "ERR syntax error"),
        ] {
            let mut args: Vec<&[u8]> = vec![b"SCAN", b"0"];
            args.extend_from_slice(options);
            assert_eq!(run_bytes(c, &args), err(text), "{options:?}");
        }
        assert_eq!(run(c, &["SCAN", "x"]), err("ERR invalid cursor"));
    });
}

/// A cursor names where the next call starts, on any connection; a key
/// written behind it is not returned, one written ahead of it is.
#[test]
fn a_scan_cursor_is_a_position_in_key_order() {
    let oak = Oak::start();
    let (a, b) = (&mut oak.client(), &mut oak.client());
    for k in ["k1", "k3", "k5", "k7"] {
        assert_eq!(run(a, &["SET", k, "v"]), harness::ok());
    }
    let (cursor, first) = scan(a, "0", &[b"COUNT", b"2"]);
    assert_eq!(first, [b"k1".to_vec(), b"k3".to_vec()]);
    assert_eq!(run(a, &["SET", "k0", "behind"]), harness::ok());
    assert_eq!(run(a, &["SET", "k6", "ahead"]), harness::ok());
    assert_eq!(run(a, &["DEL", "k5"]), harness::int(1));
    let (end, rest) = scan(b, &cursor, &[b"COUNT", b"10"]);
    assert_eq!(end, "0");
    assert_eq!(rest, [b"k6".to_vec(), b"k7".to_vec()]);
    // A cursor the server never gave is refused, with what to do.
    let Err(text) = run(a, &["SCAN", "987654321"]) else {
        panic!("an unknown cursor is refused");
    };
    assert!(text.starts_with("ERR invalid cursor"), "{text}");
    assert!(text.contains("start again from 0"), "{text}");
    oak.finish();
}

/// The bounds RANGE takes for a key: inclusive and exclusive.
fn bound_forms(key: &[u8]) -> [(Vec<u8>, std::ops::Bound<Vec<u8>>); 2] {
    use std::ops::Bound::{Excluded, Included};
    [
        ([b"[", key].concat(), Included(key.to_vec())),
        ([b"(", key].concat(), Excluded(key.to_vec())),
    ]
}

/// What RANGE must answer, from the model.
fn expected_range(
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    start: &std::ops::Bound<Vec<u8>>,
    end: &std::ops::Bound<Vec<u8>>,
    limit: Option<usize>,
    reverse: bool,
    with_values: bool,
) -> Vec<Vec<u8>> {
    use std::ops::Bound::{Excluded, Included};
    // BTreeMap refuses crossed bounds; RANGE answers nothing for them.
    let crossed = match (start, end) {
        (Included(a), Included(b)) => a > b,
        (Included(a) | Excluded(a), Excluded(b)) | (Excluded(a), Included(b)) => a >= b,
        _ => false,
    };
    if crossed {
        return Vec::new();
    }
    let range = model.range((start.clone(), end.clone()));
    let entries: Vec<(&Vec<u8>, &Vec<u8>)> = if reverse {
        range.rev().take(limit.unwrap_or(usize::MAX)).collect()
    } else {
        range.take(limit.unwrap_or(usize::MAX)).collect()
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        out.push(k.clone());
        if with_values {
            out.push(v.clone());
        }
    }
    out
}

/// RANGE against a `BTreeMap`, for bounds at, between, before and after
/// the keys, every bound kind, LIMIT, REV and WITHVALUES.
#[test]
fn range_agrees_with_a_btreemap() {
    use std::ops::Bound::Unbounded;
    let oak = Oak::start();
    let c = &mut oak.client();
    let mut model = BTreeMap::new();
    for i in (0..60).step_by(2) {
        model.insert(
            format!("k{i:02}").into_bytes(),
            format!("v{i}").into_bytes(),
        );
    }
    model.insert(b"k\x00".to_vec(), b"nul".to_vec());
    model.insert(b"k\xff".to_vec(), b"ff".to_vec());
    load(c, &model);
    // Probe keys: every key, the gaps between them, and past both ends.
    let probes: Vec<Vec<u8>> = (0..62)
        .map(|i| format!("k{i:02}").into_bytes())
        .chain([
            b"".to_vec(),
            b"a".to_vec(),
            b"k".to_vec(),
            b"k\x00".to_vec(),
            b"k\xff".to_vec(),
            b"z".to_vec(),
        ])
        .collect();
    let mut bounds = vec![(b"-".to_vec(), b"+".to_vec(), Unbounded, Unbounded)];
    for (i, p) in probes.iter().enumerate() {
        for (arg, bound) in bound_forms(p) {
            bounds.push((arg.clone(), b"+".to_vec(), bound.clone(), Unbounded));
            bounds.push((b"-".to_vec(), arg.clone(), Unbounded, bound.clone()));
            // Pair each bound with a few upper bounds, crossed ones too.
            for q in probes.iter().skip(i % 7).step_by(9) {
                for (arg2, bound2) in bound_forms(q) {
                    bounds.push((arg.clone(), arg2, bound.clone(), bound2));
                }
            }
        }
    }
    let mut checked = 0;
    for (start_arg, end_arg, start, end) in &bounds {
        for (limit, reverse, with_values) in [
            (None, false, false),
            (Some(3), false, true),
            (Some(0), false, false),
            (None, true, true),
            (Some(2), true, false),
        ] {
            let mut args: Vec<Vec<u8>> =
                vec![b"RANGE".to_vec(), start_arg.clone(), end_arg.clone()];
            if let Some(n) = limit {
                args.extend([b"LIMIT".to_vec(), n.to_string().into_bytes()]);
            }
            if reverse {
                args.push(b"REV".to_vec());
            }
            if with_values {
                args.push(b"WITHVALUES".to_vec());
            }
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let expected = expected_range(&model, start, end, limit, reverse, with_values);
            assert_eq!(
                run_bytes(c, &args),
                bulks(&expected),
                "{:?}",
                String::from_utf8_lossy(&args.concat())
            );
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked} ranges checked");
    oak.finish();
}

#[test]
fn range_refuses_what_it_cannot_read() {
    let oak = Oak::start();
    let c = &mut oak.client();
    let bad_bound = "ERR min or max not valid string range item";
    for args in [
        &["RANGE", "a", "+"][..],
        &["RANGE", "-", "b"],
        &["RANGE", "+", "+"],
        &["RANGE", "-", "-"],
        &["RANGE", "", "+"],
    ] {
        assert_eq!(run(c, args), err(bad_bound), "{args:?}");
    }
    for (args, text) in [
        (&["RANGE", "-", "+", "LIMIT"][..], "ERR syntax error"),
        (
            &["RANGE", "-", "+", "LIMIT", "-1"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["RANGE", "-", "+", "LIMIT", "x"],
            "ERR value is not an integer or out of range",
        ),
        (&["RANGE", "-", "+", "BACKWARDS"], "ERR syntax error"),
        (
            &["RANGE", "-"],
            "ERR wrong number of arguments for 'range' command",
        ),
    ] {
        assert_eq!(run(c, args), err(text), "{args:?}");
    }
    // Options in any order and any case.
    assert_eq!(
        run(c, &["MSET", "a", "1", "b", "2", "c", "3"]),
        harness::ok()
    );
    assert_eq!(
        run(c, &["RANGE", "[a", "[c", "withvalues", "rev", "limit", "2"]),
        bulks(["c", "3", "b", "2"])
    );
    oak.finish();
}
