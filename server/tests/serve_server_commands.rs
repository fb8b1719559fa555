//! Guards the commands about the connection and the server itself (PING,
//! ECHO, SELECT, QUIT, INFO, CONFIG GET, COMMAND, CLIENT) against Redis's
//! replies, run on our server and on `redis-server` where installed; and
//! that INFO reports the figures an operator of oakmap needs.

mod harness;

use std::collections::BTreeMap;

use harness::{Oak, Resp, Who, bulk, err, int, nil, ok, on_both, run, simple};
use redis::Value;

#[test]
fn ping_echo_select() {
    on_both("ping_echo_select", |connect, _| {
        let c = &mut connect();
        assert_eq!(run(c, &["PING"]), simple("PONG"));
        assert_eq!(run(c, &["ping", "hello there"]), bulk("hello there"));
        assert_eq!(run(c, &["ECHO", "a\r\nb"]), bulk("a\r\nb"));
        assert_eq!(run(c, &["ECHO", ""]), bulk(""));
        for db in 0..16 {
            assert_eq!(run(c, &["SELECT", &db.to_string()]), ok());
        }
        for db in ["16", "-1", "2147483647"] {
            assert_eq!(run(c, &["SELECT", db]), err("ERR DB index is out of range"));
        }
        // Redis reads the index as a C int first.
        for db in ["2147483648", "-2147483649"] {
            assert_eq!(
                run(c, &["SELECT", db]),
                err("ERR value is out of range, value must between -2147483648 and 2147483647")
            );
        }
        for db in ["x", "1.0", ""] {
            assert_eq!(
                run(c, &["SELECT", db]),
                err("ERR value is not an integer or out of range")
            );
        }
    });
}

/// QUIT answers OK, then the server closes the connection.
#[test]
fn quit_answers_and_closes() {
    let oak = Oak::start();
    let mut raw = oak.raw();
    raw.send(b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n")
        .unwrap();
    assert_eq!(raw.reply().unwrap(), Resp::ok());
    assert_eq!(
        raw.read_to_end().unwrap(),
        b"",
        "nothing after QUIT's reply"
    );
    oak.assert_serves();
    oak.finish();
}

/// INFO's text as `field → value`, and the sections it holds.
fn info(c: &mut redis::Connection, args: &[&str]) -> (Vec<String>, BTreeMap<String, String>) {
    let mut all = vec!["INFO"];
    all.extend_from_slice(args);
    let Ok(Value::BulkString(text)) = run(c, &all) else {
        panic!("INFO answers a bulk string");
    };
    let text = String::from_utf8(text).expect("INFO is text");
    let mut sections = Vec::new();
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("# ") {
            sections.push(name.to_ascii_lowercase());
        } else if let Some((k, v)) = line.split_once(':') {
            fields.insert(k.to_string(), v.to_string());
        }
    }
    (sections, fields)
}

#[test]
fn info_sections() {
    on_both("info_sections", |connect, _| {
        let c = &mut connect();
        assert_eq!(run(c, &["MSET", "a", "1", "b", "2"]), ok());
        assert_eq!(run(c, &["SELECT", "3"]), ok());
        assert_eq!(run(c, &["SET", "c", "3"]), ok());
        let (sections, fields) = info(c, &[]);
        for s in [
            "server",
            "clients",
            "memory",
            "persistence",
            "stats",
            "keyspace",
        ] {
            assert!(
                sections.contains(&s.to_string()),
                "INFO has {s}: {sections:?}"
            );
        }
        assert_eq!(fields["db0"], "keys=2,expires=0,avg_ttl=0");
        assert_eq!(fields["db3"], "keys=1,expires=0,avg_ttl=0");
        assert!(
            !fields.contains_key("db1"),
            "an empty database is not listed"
        );
        assert!(fields["redis_version"].starts_with(|c: char| c.is_ascii_digit()));
        let (sections, fields) = info(c, &["SERVER"]);
        assert_eq!(sections, ["server"]);
        assert!(fields.contains_key("tcp_port"));
        let (sections, fields) = info(c, &["keyspace"]);
        assert_eq!(sections, ["keyspace"]);
        assert_eq!(fields["db3"], "keys=1,expires=0,avg_ttl=0");
        // Redis 7 takes several sections at once, and keeps its order.
        let (sections, _) = info(c, &["keyspace", "nosuch", "Server"]);
        assert_eq!(sections, ["server", "keyspace"]);
        assert_eq!(run(c, &["INFO", "nosuchsection"]), bulk(""));
        for s in ["all", "default", "everything"] {
            let (sections, _) = info(c, &[s]);
            assert!(sections.contains(&"keyspace".to_string()), "INFO {s}");
        }
    });
}

/// The figures the issue asks INFO to report, as numbers that move.
#[test]
fn info_reports_oakmaps_figures() {
    let oak = Oak::start();
    let c = &mut oak.client();
    let _other = oak.client();
    let (_, before) = info(c, &[]);
    for i in 0..10 {
        assert_eq!(run(c, &["SET", &format!("k{i}"), "v"]), ok());
    }
    let (_, after) = info(c, &[]);
    let number = |fields: &BTreeMap<String, String>, k: &str| -> f64 {
        let v = fields.get(k).unwrap_or_else(|| panic!("INFO has {k}"));
        v.parse().unwrap_or_else(|_| panic!("{k} is a number: {v}"))
    };
    for k in [
        "checkpoints",
        "last_checkpoint_ms",
        "wal_bytes",
        "wal_bytes_written",
        "wal_fsyncs",
        "commits",
        "commits_per_fsync",
        "writes_committed",
        "oakmap_cache_bytes",
        "used_memory_rss",
        "uptime_in_seconds",
    ] {
        number(&after, k);
    }
    assert!(
        number(&after, "total_commands_processed")
            >= number(&before, "total_commands_processed") + 10.0
    );
    assert!(number(&after, "writes_committed") >= number(&before, "writes_committed") + 10.0);
    assert!(number(&after, "commits") > number(&before, "commits"));
    assert!(number(&after, "wal_bytes_written") > number(&before, "wal_bytes_written"));
    assert!(number(&after, "oakmap_cache_bytes") > 0.0);
    assert!(number(&after, "used_memory_rss") > 0.0);
    assert_eq!(number(&after, "connected_clients"), 2.0);
    assert_eq!(after["durability"], "always");
    assert_eq!(after["db0"], "keys=10,expires=0,avg_ttl=0");
    assert!(after["database_file"].ends_with("serve.oak"));
    assert_eq!(after["tcp_port"], oak.addr().port().to_string());
    oak.finish();
}

/// A `CONFIG GET` reply as pairs, in name order (Redis's order is its
/// hash table's).
fn config(c: &mut redis::Connection, args: &[&str]) -> BTreeMap<String, String> {
    let mut all = vec!["CONFIG", "GET"];
    all.extend_from_slice(args);
    let Ok(Value::Array(items)) = run(c, &all) else {
        panic!("CONFIG GET answers an array");
    };
    assert!(items.len().is_multiple_of(2), "names and values in pairs");
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).expect("text"),
        other => panic!("a bulk string, not {other:?}"),
    };
    items
        .chunks(2)
        .map(|pair| (text(&pair[0]), text(&pair[1])))
        .collect()
}

/// What `redis-benchmark` and `redis-cli` ask at start, and the forms of
/// the command.
#[test]
fn config_get() {
    on_both("config_get", |connect, who| {
        let c = &mut connect();
        assert_eq!(
            config(c, &["save"]),
            BTreeMap::from([("save".into(), String::new())])
        );
        let appendonly = &config(c, &["appendonly"])["appendonly"];
        let expected = if who == Who::Oak { "yes" } else { "no" };
        assert_eq!(appendonly, expected);
        // Names are case-blind; a name without wildcards comes back as asked.
        assert_eq!(
            config(c, &["DATABASES"]),
            BTreeMap::from([("DATABASES".into(), "16".into())])
        );
        assert!(config(c, &["nosuch"]).is_empty());
        let both = config(c, &["save", "databases"]);
        assert_eq!(both.keys().collect::<Vec<_>>(), ["databases", "save"]);
        let max = config(c, &["max*"]);
        assert!(max.contains_key("maxclients"), "{max:?}");
        assert!(max.keys().all(|k| k.starts_with("max")), "{max:?}");
        assert_eq!(
            run(c, &["CONFIG", "GET"]),
            err("ERR wrong number of arguments for 'config|get' command")
        );
        assert_eq!(
            run(c, &["CONFIG", "nosuch"]),
            err("ERR unknown subcommand 'nosuch'. Try CONFIG HELP.")
        );
    });
}

/// COMMAND lists every command with its arity, COMMAND COUNT agrees, and
/// each arity is the one the server enforces.
#[test]
fn command_lists_what_the_server_enforces() {
    on_both("command_lists", |connect, who| {
        let c = &mut connect();
        let Ok(Value::Array(list)) = run(c, &["COMMAND"]) else {
            panic!("COMMAND answers an array");
        };
        assert_eq!(run(c, &["COMMAND", "COUNT"]), int(list.len() as i64));
        let mut arities = BTreeMap::new();
        for entry in &list {
            let Value::Array(fields) = entry else {
                panic!("each command is an array: {entry:?}");
            };
            let (Value::BulkString(name), Value::Int(arity)) = (&fields[0], &fields[1]) else {
                panic!("name and arity first: {fields:?}");
            };
            arities.insert(String::from_utf8(name.clone()).unwrap(), *arity);
        }
        assert_eq!(arities["get"], 2);
        assert_eq!(arities["set"], -3);
        assert_eq!(arities["mset"], -3);
        assert_eq!(
            run(c, &["COMMAND", "nosuch"]),
            err("ERR unknown subcommand 'nosuch'. Try COMMAND HELP.")
        );
        assert_eq!(
            run(c, &["COMMAND", "COUNT", "x"]),
            err("ERR wrong number of arguments for 'command|count' command")
        );
        if who == Who::Redis {
            return;
        }
        // COMMAND DOCS documents every listed command, as a flat map whose
        // summary and group redis-cli requires; named, only those served.
        let Ok(Value::Array(docs)) = run(c, &["COMMAND", "DOCS"]) else {
            panic!("COMMAND DOCS answers an array");
        };
        let documented: BTreeMap<String, &Value> = docs
            .chunks(2)
            .map(|pair| match pair {
                [Value::BulkString(name), spec] => (String::from_utf8(name.clone()).unwrap(), spec),
                _ => panic!("name, then docs: {pair:?}"),
            })
            .collect();
        assert_eq!(
            documented.keys().collect::<Vec<_>>(),
            arities.keys().collect::<Vec<_>>(),
            "every command documented, none more"
        );
        for (name, spec) in &documented {
            let Value::Array(fields) = spec else {
                panic!("{name}: docs are a flat map: {spec:?}");
            };
            let keys: Vec<&Value> = fields.iter().step_by(2).collect();
            for required in ["summary", "since", "group"] {
                assert!(
                    keys.contains(&&Value::BulkString(required.as_bytes().to_vec())),
                    "{name} lacks {required}: {fields:?}"
                );
            }
        }
        let Ok(Value::Array(named)) = run(c, &["COMMAND", "DOCS", "RANGE", "nosuch", "get"]) else {
            panic!("COMMAND DOCS with names answers an array");
        };
        let names: Vec<&Value> = named.iter().step_by(2).collect();
        assert_eq!(
            names,
            [
                &Value::BulkString(b"range".to_vec()),
                &Value::BulkString(b"get".to_vec())
            ]
        );
        for (name, arity) in &arities {
            // One argument fewer than the arity asks for: refused as such.
            let too_few = arity.unsigned_abs() as usize - 1;
            if too_few == 0 || *name == "shutdown" || *name == "quit" {
                continue;
            }
            let mut args = vec![name.as_str()];
            args.extend(std::iter::repeat_n("x", too_few - 1));
            assert_eq!(
                run(c, &args),
                err(&format!(
                    "ERR wrong number of arguments for '{name}' command"
                )),
                "{name} with arity {arity}"
            );
        }
    });
}

#[test]
fn client_names_and_ids() {
    on_both("client_names_and_ids", |connect, who| {
        let c = &mut connect();
        assert_eq!(run(c, &["CLIENT", "GETNAME"]), nil());
        // What client libraries send on connect (Redis 7.2 on; the
        // reference here may be older).
        if matches!(who, Who::Oak) {
            assert_eq!(run(c, &["CLIENT", "SETINFO", "LIB-NAME", "redis-rs"]), ok());
        }
        assert_eq!(run(c, &["CLIENT", "SETNAME", "worker-1"]), ok());
        assert_eq!(run(c, &["client", "getname"]), bulk("worker-1"));
        for bad in ["a b", "a\nb", "é"] {
            assert_eq!(
                run(c, &["CLIENT", "SETNAME", bad]),
                err("ERR Client names cannot contain spaces, newlines or special characters."),
                "{bad:?}"
            );
        }
        assert_eq!(run(c, &["CLIENT", "GETNAME"]), bulk("worker-1"));
        assert_eq!(run(c, &["CLIENT", "SETNAME", ""]), ok());
        assert_eq!(run(c, &["CLIENT", "GETNAME"]), nil());
        let id = |c: &mut redis::Connection| match run(c, &["CLIENT", "ID"]) {
            Ok(Value::Int(id)) => id,
            other => panic!("CLIENT ID answers an integer, not {other:?}"),
        };
        let first = id(c);
        assert_eq!(id(c), first, "one connection, one id");
        let second = id(&mut connect());
        assert!(second > first, "a later connection has a larger id");
        // A name belongs to its connection.
        assert_eq!(run(c, &["CLIENT", "SETNAME", "mine"]), ok());
        assert_eq!(run(&mut connect(), &["CLIENT", "GETNAME"]), nil());
        for (args, text) in [
            (
                &["CLIENT", "SETNAME"][..],
                "ERR wrong number of arguments for 'client|setname' command",
            ),
            (
                &["CLIENT", "GETNAME", "x"],
                "ERR wrong number of arguments for 'client|getname' command",
            ),
            (
                &["CLIENT", "ID", "x"],
                "ERR wrong number of arguments for 'client|id' command",
            ),
            (
                &["CLIENT", "nosuch"],
                "ERR unknown subcommand 'nosuch'. Try CLIENT HELP.",
            ),
        ] {
            assert_eq!(run(c, args), err(text), "{args:?}");
        }
        assert_eq!(run(c, &["CLIENT", "GETNAME"]), bulk("mine"));
    });
}
