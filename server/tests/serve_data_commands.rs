//! Guards the data commands' replies (strings, counters, several keys at
//! once, DBSIZE and FLUSHDB) against Redis's documented ones: each
//! assertion runs on our server and, where `redis-server` is installed, on
//! Redis itself, so what we expect is what Redis answers. Only what oakmap
//! refuses on purpose (expiry) is checked on ours alone.

mod harness;

use harness::{array, bulk, bulks, err, int, nil, ok, on_both, run, run_bytes};

const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const OVERFLOW: &str = "ERR increment or decrement would overflow";
const SYNTAX: &str = "ERR syntax error";

#[test]
fn set_and_get_with_every_condition() {
    on_both("set_and_get_with_every_condition", |connect, _| {
        let c = &mut connect();
        assert_eq!(run(c, &["GET", "k"]), nil());
        assert_eq!(run(c, &["SET", "k", "v1"]), ok());
        assert_eq!(run(c, &["GET", "k"]), bulk("v1"));
        // NX writes only an absent key, XX only a present one; a refused
        // SET answers nil and changes nothing.
        assert_eq!(run(c, &["SET", "k", "no", "NX"]), nil());
        assert_eq!(run(c, &["SET", "k", "v2", "XX"]), ok());
        assert_eq!(run(c, &["SET", "fresh", "no", "XX"]), nil());
        assert_eq!(run(c, &["EXISTS", "fresh"]), int(0));
        assert_eq!(run(c, &["SET", "fresh", "f", "nx"]), ok());
        assert_eq!(run(c, &["GET", "k"]), bulk("v2"));
        // GET answers the old value (nil if none), whether or not it wrote.
        assert_eq!(run(c, &["SET", "k", "v3", "GET"]), bulk("v2"));
        assert_eq!(run(c, &["SET", "other", "o", "GET"]), nil());
        assert_eq!(run(c, &["GET", "other"]), bulk("o"));
        assert_eq!(run(c, &["SET", "k", "no", "NX", "GET"]), bulk("v3"));
        assert_eq!(run(c, &["SET", "k", "v4", "XX", "GET"]), bulk("v3"));
        assert_eq!(run(c, &["SET", "gone", "no", "XX", "GET"]), nil());
        assert_eq!(run(c, &["EXISTS", "gone"]), int(0));
        assert_eq!(run(c, &["GET", "k"]), bulk("v4"));
        for bad in [&["NX", "XX"][..], &["XX", "NX"], &["FOO"], &["NX", "FOO"]] {
            let mut args = vec!["SET", "k", "no"];
            args.extend_from_slice(bad);
            assert_eq!(run(c, &args), err(SYNTAX), "{args:?}");
        }
        assert_eq!(run(c, &["GET", "k"]), bulk("v4"));
        // An option may be repeated; only NX with XX conflicts.
        assert_eq!(run(c, &["SET", "k", "v5", "XX", "XX"]), ok());
        assert_eq!(run(c, &["SET", "k", "no", "NX", "GET", "NX"]), bulk("v5"));
        assert_eq!(run(c, &["SET", "k", "v6", "GET", "GET"]), bulk("v5"));
        assert_eq!(run(c, &["SET", "twice", "t", "NX", "NX"]), ok());
        assert_eq!(run(c, &["GET", "twice"]), bulk("t"));
        assert_eq!(run(c, &["SET", "k", "v4"]), ok());
        // Names are case-blind; values are bytes.
        assert_eq!(run(c, &["sEt", "k", ""]), ok());
        assert_eq!(run(c, &["get", "k"]), bulk(""));
        assert_eq!(run(c, &["EXISTS", "k"]), int(1));
        let binary: &[u8] = b"\x00\xff\r\n*1\r\n$4\r\nPING\r\n";
        assert_eq!(run_bytes(c, &[b"SET", b"bin", binary]), ok());
        assert_eq!(run_bytes(c, &[b"GET", b"bin"]), bulk(binary));
        assert_eq!(run(c, &["STRLEN", "bin"]), int(binary.len() as i64));
    });
}

#[test]
fn read_modify_writes_of_one_key() {
    on_both("read_modify_writes_of_one_key", |connect, _| {
        let c = &mut connect();
        assert_eq!(run(c, &["SETNX", "k", "first"]), int(1));
        assert_eq!(run(c, &["SETNX", "k", "second"]), int(0));
        assert_eq!(run(c, &["GET", "k"]), bulk("first"));
        assert_eq!(run(c, &["GETSET", "k", "next"]), bulk("first"));
        assert_eq!(run(c, &["GETSET", "new", "n"]), nil());
        assert_eq!(run(c, &["GET", "new"]), bulk("n"));
        assert_eq!(run(c, &["GETDEL", "k"]), bulk("next"));
        assert_eq!(run(c, &["GETDEL", "k"]), nil());
        assert_eq!(run(c, &["EXISTS", "k"]), int(0));
        assert_eq!(run(c, &["APPEND", "a", "hello"]), int(5));
        assert_eq!(run(c, &["APPEND", "a", " world"]), int(11));
        assert_eq!(run(c, &["APPEND", "a", ""]), int(11));
        assert_eq!(run(c, &["GET", "a"]), bulk("hello world"));
        assert_eq!(run(c, &["STRLEN", "a"]), int(11));
        assert_eq!(run(c, &["STRLEN", "missing"]), int(0));
        assert_eq!(run(c, &["APPEND", "empty", ""]), int(0));
        assert_eq!(run(c, &["EXISTS", "empty"]), int(1));
    });
}

#[test]
fn several_keys_at_once() {
    on_both("several_keys_at_once", |connect, _| {
        let c = &mut connect();
        assert_eq!(run(c, &["MSET", "a", "1", "b", "2", "c", "3"]), ok());
        assert_eq!(
            run(c, &["MGET", "a", "b", "missing", "c", "a"]),
            array([bulk("1"), bulk("2"), nil(), bulk("3"), bulk("1")])
        );
        // MSETNX writes all or nothing.
        assert_eq!(run(c, &["MSETNX", "a", "9", "d", "4"]), int(0));
        assert_eq!(run(c, &["GET", "a"]), bulk("1"));
        assert_eq!(run(c, &["EXISTS", "d"]), int(0));
        assert_eq!(run(c, &["MSETNX", "d", "4", "e", "5"]), int(1));
        assert_eq!(run(c, &["MGET", "d", "e"]), bulks(["4", "5"]));
        // The same key twice: the last value wins, in MSET and in MSETNX.
        assert_eq!(run(c, &["MSETNX", "f", "1", "f", "2"]), int(1));
        assert_eq!(run(c, &["GET", "f"]), bulk("2"));
        assert_eq!(run(c, &["MSET", "g", "1", "g", "2"]), ok());
        assert_eq!(run(c, &["GET", "g"]), bulk("2"));
        // EXISTS counts a key each time it is named; DEL only once.
        assert_eq!(run(c, &["EXISTS", "a", "a", "missing", "b"]), int(3));
        assert_eq!(run(c, &["DEL", "a", "b", "a", "missing"]), int(2));
        assert_eq!(run(c, &["DEL", "a"]), int(0));
        assert_eq!(
            run(c, &["MGET", "a", "b", "c"]),
            array([nil(), nil(), bulk("3")])
        );
    });
}

#[test]
fn counters_and_their_errors() {
    on_both("counters_and_their_errors", |connect, _| {
        let c = &mut connect();
        assert_eq!(run(c, &["INCR", "n"]), int(1));
        assert_eq!(run(c, &["INCRBY", "n", "10"]), int(11));
        assert_eq!(run(c, &["DECR", "n"]), int(10));
        assert_eq!(run(c, &["DECRBY", "n", "3"]), int(7));
        assert_eq!(run(c, &["INCRBY", "n", "-7"]), int(0));
        assert_eq!(run(c, &["DECRBY", "n", "-5"]), int(5));
        assert_eq!(run(c, &["DECR", "fresh"]), int(-1));
        // A counter is a string holding a decimal.
        assert_eq!(run(c, &["GET", "n"]), bulk("5"));
        assert_eq!(run(c, &["APPEND", "n", "0"]), int(2));
        assert_eq!(run(c, &["INCR", "n"]), int(51));
        // The increment must be an integer as Redis parses one.
        for by in [
            "x",
            "1.5",
            "",
            " 1",
            "1 ",
            "+1",
            "01",
            "-0",
            "99999999999999999999",
        ] {
            assert_eq!(
                run(c, &["INCRBY", "n", by]),
                err(NOT_INTEGER),
                "INCRBY by {by:?}"
            );
            assert_eq!(
                run(c, &["DECRBY", "n", by]),
                err(NOT_INTEGER),
                "DECRBY by {by:?}"
            );
        }
        // And so must the value; a refused INCR leaves it as it was.
        for value in [
            "abc",
            " 1",
            "1 ",
            "+1",
            "01",
            "-0",
            "",
            "1.0",
            "9223372036854775808",
        ] {
            assert_eq!(run(c, &["SET", "s", value]), ok());
            assert_eq!(
                run(c, &["INCR", "s"]),
                err(NOT_INTEGER),
                "INCR of {value:?}"
            );
            assert_eq!(run(c, &["GET", "s"]), bulk(value));
        }
        // Overflow at both ends is refused and changes nothing.
        assert_eq!(run(c, &["SET", "max", "9223372036854775807"]), ok());
        assert_eq!(run(c, &["INCR", "max"]), err(OVERFLOW));
        assert_eq!(run(c, &["DECRBY", "max", "-1"]), err(OVERFLOW));
        assert_eq!(run(c, &["GET", "max"]), bulk("9223372036854775807"));
        assert_eq!(run(c, &["SET", "min", "-9223372036854775808"]), ok());
        assert_eq!(run(c, &["DECR", "min"]), err(OVERFLOW));
        assert_eq!(run(c, &["INCRBY", "min", "-1"]), err(OVERFLOW));
        assert_eq!(run(c, &["GET", "min"]), bulk("-9223372036854775808"));
        assert_eq!(run(c, &["INCRBY", "min", "9223372036854775807"]), int(-1));
        // DECRBY of the one value whose negation does not fit.
        assert_eq!(
            run(c, &["DECRBY", "n", "-9223372036854775808"]),
            err("ERR decrement would overflow")
        );
        assert_eq!(
            run(c, &["INCRBY", "big", "9223372036854775807"]),
            int(i64::MAX)
        );
    });
}

#[test]
fn dbsize_and_flushdb_count_and_clear_one_database() {
    on_both("dbsize_and_flushdb", |connect, _| {
        let c = &mut connect();
        assert_eq!(run(c, &["DBSIZE"]), int(0));
        assert_eq!(run(c, &["MSET", "a", "1", "b", "2", "c", "3"]), ok());
        assert_eq!(run(c, &["DBSIZE"]), int(3));
        assert_eq!(run(c, &["SET", "a", "again"]), ok());
        assert_eq!(run(c, &["DBSIZE"]), int(3));
        assert_eq!(run(c, &["DEL", "c"]), int(1));
        assert_eq!(run(c, &["DBSIZE"]), int(2));
        assert_eq!(run(c, &["SELECT", "1"]), ok());
        assert_eq!(run(c, &["DBSIZE"]), int(0));
        assert_eq!(run(c, &["SET", "x", "1"]), ok());
        assert_eq!(run(c, &["FLUSHDB"]), ok());
        assert_eq!(run(c, &["DBSIZE"]), int(0));
        assert_eq!(run(c, &["FLUSHDB"]), ok());
        assert_eq!(run(c, &["SELECT", "0"]), ok());
        assert_eq!(run(c, &["DBSIZE"]), int(2));
        assert_eq!(run(c, &["FLUSHDB", "sync"]), ok());
        assert_eq!(run(c, &["DBSIZE"]), int(0));
        assert_eq!(run(c, &["GET", "a"]), nil());
        // A database flushed is written again as any other.
        assert_eq!(run(c, &["SET", "a", "1"]), ok());
        assert_eq!(run(c, &["DBSIZE"]), int(1));
        assert_eq!(run(c, &["FLUSHDB", "ASYNC"]), ok());
        assert_eq!(run(c, &["DBSIZE"]), int(0));
        assert_eq!(run(c, &["FLUSHDB", "now"]), err(SYNTAX));
        assert_eq!(run(c, &["DEL", "a"]), int(0));
        assert_eq!(run(c, &["DBSIZE"]), int(0));
    });
}

/// The arity errors, as Redis words them (the name lowercased, as Redis
/// names its commands).
#[test]
fn wrong_arity_and_unknown_commands() {
    on_both("wrong_arity_and_unknown_commands", |connect, _| {
        let c = &mut connect();
        let short: &[&[&str]] = &[
            &["GET"],
            &["get", "a", "b"],
            &["SET", "k"],
            &["SETNX", "k"],
            &["GETSET", "k"],
            &["GETDEL"],
            &["MGET"],
            &["MSET", "k"],
            &["MSET", "a", "1", "b"],
            &["MSETNX", "a", "1", "b"],
            &["DEL"],
            &["EXISTS"],
            &["INCR"],
            &["INCR", "a", "b"],
            &["INCRBY", "k"],
            &["DECR"],
            &["DECRBY", "k", "1", "2"],
            &["APPEND", "k"],
            &["STRLEN"],
            &["SCAN"],
            &["KEYS"],
            &["KEYS", "a", "b"],
            &["DBSIZE", "x"],
            &["SELECT"],
            &["ECHO"],
            &["ECHO", "a", "b"],
            &["PING", "a", "b"],
            &["CONFIG"],
            &["CLIENT"],
        ];
        for args in short {
            let name = args[0].to_ascii_lowercase();
            assert_eq!(
                run(c, args),
                err(&format!(
                    "ERR wrong number of arguments for '{name}' command"
                )),
                "{args:?}"
            );
        }
        assert_eq!(
            run(c, &["NOSUCH", "a", "b c"]),
            err("ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b c' ")
        );
        assert_eq!(
            run(c, &["nosuch"]),
            err("ERR unknown command 'nosuch', with args beginning with: ")
        );
        // The connection goes on after each error.
        assert_eq!(run(c, &["SET", "k", "v"]), ok());
        assert_eq!(run(c, &["GET", "k"]), bulk("v"));
    });
}

/// Redis quotes at most 128 bytes of the arguments of a command it does
/// not know, and of its name, so that the error stays a line however large
/// the request.
#[test]
fn an_unknown_command_error_quotes_a_bounded_part_of_the_request() {
    on_both("unknown_command_bounded", |connect, _| {
        let c = &mut connect();
        let long = "x".repeat(1000);
        let name = format!("N{long}");
        let Err(text) = run(c, &[&name, &long, "b"]) else {
            panic!("an unknown command is refused");
        };
        let expected = format!(
            "ERR unknown command '{}', with args beginning with: '{}' ",
            &name[..128],
            &long[..128]
        );
        assert_eq!(text, expected);
        let many: Vec<String> = (0..100).map(|i| format!("arg{i:03}")).collect();
        let mut args = vec!["nosuch"];
        args.extend(many.iter().map(String::as_str));
        let Err(text) = run(c, &args) else {
            panic!("an unknown command is refused");
        };
        // Arguments are quoted while fewer than 128 bytes are written, the
        // last one cut to what is left of the 128.
        let mut quoted = String::new();
        for a in &many {
            if quoted.len() >= 128 {
                break;
            }
            let room = 128 - quoted.len();
            quoted.push_str(&format!("'{}' ", &a[..a.len().min(room)]));
        }
        assert_eq!(
            text,
            format!("ERR unknown command 'nosuch', with args beginning with: {quoted}")
        );
    });
}

/// oakmap keeps no expiry: every SET option that would set or keep one is
/// refused with an error saying so, and the key is not written.
#[test]
fn expiry_options_are_refused_with_a_clear_error() {
    let oak = harness::Oak::start();
    let c = &mut oak.client();
    let refused =
        "ERR oakmap serve keeps no expiry: EX, PX, EXAT, PXAT and KEEPTTL are not supported";
    for opts in [
        &["EX", "10"][..],
        &["PX", "10"],
        &["EXAT", "99999999999"],
        &["PXAT", "99999999999999"],
        &["KEEPTTL"],
        &["NX", "EX", "10"],
        &["px", "1", "GET"],
    ] {
        let mut args = vec!["SET", "k", "v"];
        args.extend_from_slice(opts);
        assert_eq!(run(c, &args), err(refused), "{args:?}");
        assert_eq!(run(c, &["EXISTS", "k"]), int(0), "{args:?} wrote nothing");
    }
    oak.finish();
}
