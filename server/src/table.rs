//! The command table: every command the server serves, with its arity, key
//! positions and documentation, in one place. The parser checks arity
//! against it, and `COMMAND`, `COMMAND COUNT` and `COMMAND DOCS` answer
//! from it, so what clients are told matches what is served (a test parses
//! every listed name).
//!
//! `COMMAND DOCS` is what redis-cli (7.0 on) builds its `help` and its
//! typing hints from; it takes the reply apart with assertions, so the
//! shape here follows Redis's exactly: a flat map per command (`summary`,
//! `since`, `group`, `arguments`, `subcommands`), each argument a flat map
//! (`name`, `type`, `token`, `flags` as status replies).

use crate::resp::Reply;

/// One command (or subcommand, named `parent|sub`).
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    /// Redis's arity, the name included: positive is exact, negative is a
    /// minimum.
    pub(crate) arity: i64,
    /// The first key's position, the last's (-1: the last argument) and
    /// the step between keys; all 0 for a command without keys.
    keys: (i64, i64, i64),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    args: &'static [Arg],
    subcommands: &'static [Spec],
}

/// One argument, as `COMMAND DOCS` describes it.
pub(crate) struct Arg {
    name: &'static str,
    kind: Kind,
    token: Option<&'static str>,
    optional: bool,
    multiple: bool,
}

#[derive(Clone, Copy)]
enum Kind {
    Key,
    String,
    Integer,
    Pattern,
    /// A word typed as it is (`NX`); its name is the token.
    PureToken,
    /// One of the arguments inside.
    OneOf(&'static [Arg]),
    /// The arguments inside, in order.
    Block(&'static [Arg]),
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Pattern => "pattern",
            Kind::PureToken => "pure-token",
            Kind::OneOf(_) => "oneof",
            Kind::Block(_) => "block",
        }
    }
}

impl Arg {
    const fn new(name: &'static str, kind: Kind) -> Arg {
        Arg {
            name,
            kind,
            token: None,
            optional: false,
            multiple: false,
        }
    }
    const fn optional(self) -> Arg {
        Arg {
            optional: true,
            ..self
        }
    }
    const fn multiple(self) -> Arg {
        Arg {
            multiple: true,
            ..self
        }
    }
    /// The argument follows a word (`MATCH pattern`).
    const fn after(self, token: &'static str) -> Arg {
        Arg {
            token: Some(token),
            ..self
        }
    }
}

const fn key(name: &'static str) -> Arg {
    Arg::new(name, Kind::Key)
}
const fn string(name: &'static str) -> Arg {
    Arg::new(name, Kind::String)
}
const fn integer(name: &'static str) -> Arg {
    Arg::new(name, Kind::Integer)
}
const fn pattern(name: &'static str) -> Arg {
    Arg::new(name, Kind::Pattern)
}
const fn word(token: &'static str) -> Arg {
    Arg::new(token, Kind::PureToken).after(token)
}
const fn one_of(name: &'static str, args: &'static [Arg]) -> Arg {
    Arg::new(name, Kind::OneOf(args))
}
const fn block(name: &'static str, args: &'static [Arg]) -> Arg {
    Arg::new(name, Kind::Block(args))
}

/// A command of group `group`, with no keys and no subcommands.
const fn spec(
    name: &'static str,
    arity: i64,
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    args: &'static [Arg],
) -> Spec {
    Spec {
        name,
        arity,
        keys: (0, 0, 0),
        group,
        since,
        summary,
        args,
        subcommands: &[],
    }
}

impl Spec {
    const fn keys(self, first: i64, last: i64, step: i64) -> Spec {
        Spec {
            keys: (first, last, step),
            ..self
        }
    }
    const fn subcommands(self, subcommands: &'static [Spec]) -> Spec {
        Spec {
            subcommands,
            ..self
        }
    }
}

const OAKMAP: &str = concat!("oakmap ", env!("CARGO_PKG_VERSION"));

/// The commands, by name. `since` is the Redis version that added the
/// command (or the oakmap version, for ours).
pub(crate) const COMMANDS: &[Spec] = &[
    spec("ping", -1, "connection", "1.0.0", "Returns PONG, or the message.", &[string("message").optional()]),
    spec("echo", 2, "connection", "1.0.0", "Returns the message.", &[string("message")]),
    spec("quit", -1, "connection", "1.0.0", "Closes the connection.", &[]),
    spec("select", 2, "connection", "1.0.0", "Changes the database of the connection (0 to 15: oakmap tree db0 to db15).", &[integer("index")]),
    spec("client", -2, "connection", "2.4.0", "Names or identifies the connection.", &[]).subcommands(&[
        spec("client|setname", 3, "connection", "2.6.9", "Sets the connection's name.", &[string("connection-name")]),
        spec("client|getname", 2, "connection", "2.6.9", "Returns the connection's name.", &[]),
        spec("client|id", 2, "connection", "5.0.0", "Returns the connection's id.", &[]),
        spec("client|setinfo", 4, "connection", "7.2.0", "Accepted and ignored: a client library's name or version.", &[one_of("attr", &[string("libname").after("LIB-NAME"), string("libver").after("LIB-VER")])]),
    ]),
    spec("get", 2, "string", "1.0.0", "Returns the value of a key.", &[key("key")]).keys(1, 1, 1),
    spec("set", -3, "string", "1.0.0", "Sets the value of a key, durably; NX only if absent, XX only if present, GET returns the old value. No expiry.", &[key("key"), string("value"), one_of("condition", &[word("NX"), word("XX")]).optional(), word("GET").optional()]).keys(1, 1, 1),
    spec("setnx", 3, "string", "1.0.0", "Sets the value of a key only if it is absent: 1 if set, 0 if not.", &[key("key"), string("value")]).keys(1, 1, 1),
    spec("getset", 3, "string", "1.0.0", "Sets the value of a key and returns the old one.", &[key("key"), string("value")]).keys(1, 1, 1),
    spec("getdel", 2, "string", "6.2.0", "Returns the value of a key and deletes the key.", &[key("key")]).keys(1, 1, 1),
    spec("mget", -2, "string", "1.0.0", "Returns the values of keys, on one snapshot.", &[key("key").multiple()]).keys(1, -1, 1),
    spec("mset", -3, "string", "1.0.1", "Sets keys to values in one commit.", &[block("data", &[key("key"), string("value")]).multiple()]).keys(1, -1, 2),
    spec("msetnx", -3, "string", "1.0.1", "Sets keys to values in one commit only if none exists: 1 if set, 0 if not.", &[block("data", &[key("key"), string("value")]).multiple()]).keys(1, -1, 2),
    spec("incr", 2, "string", "1.0.0", "Adds 1 to the integer value of a key (0 if absent).", &[key("key")]).keys(1, 1, 1),
    spec("incrby", 3, "string", "1.0.0", "Adds an integer to the integer value of a key (0 if absent).", &[key("key"), integer("increment")]).keys(1, 1, 1),
    spec("decr", 2, "string", "1.0.0", "Subtracts 1 from the integer value of a key (0 if absent).", &[key("key")]).keys(1, 1, 1),
    spec("decrby", 3, "string", "1.0.0", "Subtracts an integer from the integer value of a key (0 if absent).", &[key("key"), integer("decrement")]).keys(1, 1, 1),
    spec("append", 3, "string", "2.0.0", "Appends to the value of a key; returns the new length.", &[key("key"), string("value")]).keys(1, 1, 1),
    spec("strlen", 2, "string", "2.2.0", "Returns the length of the value of a key.", &[key("key")]).keys(1, 1, 1),
    spec("del", -2, "generic", "1.0.0", "Deletes keys; returns how many existed.", &[key("key").multiple()]).keys(1, -1, 1),
    spec("exists", -2, "generic", "1.0.0", "Counts the keys that exist.", &[key("key").multiple()]).keys(1, -1, 1),
    spec("scan", -2, "generic", "2.8.0", "Iterates over keys in key order; a MATCH pattern with a literal prefix seeks to it.", &[integer("cursor"), pattern("pattern").after("MATCH").optional(), integer("count").after("COUNT").optional(), string("type").after("TYPE").optional()]),
    spec("keys", 2, "generic", "1.0.0", "Returns the keys that match a pattern, in key order.", &[pattern("pattern")]),
    spec("range", -3, "generic", OAKMAP, "Returns keys in order between two bounds: [key inclusive, (key exclusive, - the first key, + the last.", &[string("start"), string("end"), integer("count").after("LIMIT").optional(), word("REV").optional(), word("WITHVALUES").optional()]),
    spec("dbsize", 1, "server", "1.0.0", "Returns the number of keys in the database (O(1)).", &[]),
    spec("flushdb", -1, "server", "1.0.0", "Deletes every key of the database, durably.", &[one_of("flush-type", &[word("ASYNC"), word("SYNC")]).optional()]),
    spec("info", -1, "server", "1.0.0", "Returns information about the server, the engine and its files.", &[string("section").optional().multiple()]),
    spec("config", -2, "server", "2.0.0", "Reads settings.", &[]).subcommands(&[
        spec("config|get", -3, "server", "2.0.0", "Returns the settings that match the patterns.", &[pattern("parameter").multiple()]),
    ]),
    spec("command", -1, "server", "2.8.13", "Describes the commands.", &[]).subcommands(&[
        spec("command|count", 2, "server", "2.8.13", "Returns the number of commands.", &[]),
        spec("command|docs", -2, "server", "7.0.0", "Documents the commands named, or all.", &[string("command-name").optional().multiple()]),
    ]),
    spec("save", 1, "server", "1.0.0", "Writes a backup of the newest state to the server's save path (--save-path): a dense, closed oakmap database; OK once it is durable.", &[]),
    spec("shutdown", -1, "server", "1.0.0", "Stops the server: answers what is in flight, checkpoints, closes the database. Arguments are ignored.", &[one_of("save-selector", &[word("NOSAVE"), word("SAVE")]).optional()]),
];

/// The command named `name` (any case), if served.
pub(crate) fn find(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// `COMMAND`: each command as `[name, arity, flags, first key, last key,
/// step]`, enough for clients that look commands up.
pub(crate) fn list() -> Reply {
    Reply::Array(
        COMMANDS
            .iter()
            .map(|s| {
                Reply::Array(vec![
                    bulk(s.name),
                    Reply::Integer(s.arity),
                    Reply::Array(Vec::new()),
                    Reply::Integer(s.keys.0),
                    Reply::Integer(s.keys.1),
                    Reply::Integer(s.keys.2),
                ])
            })
            .collect(),
    )
}

/// `COMMAND DOCS [name ...]`: the named commands' docs (names not served
/// are left out, as Redis does), or every command's.
pub(crate) fn docs(names: &[Vec<u8>]) -> Reply {
    let mut out = Vec::new();
    let mut add = |s: &Spec| {
        out.push(bulk(s.name));
        out.push(spec_docs(s));
    };
    if names.is_empty() {
        COMMANDS.iter().for_each(&mut add);
    } else {
        for n in names {
            if let Some(s) = std::str::from_utf8(n).ok().and_then(find) {
                add(s);
            }
        }
    }
    Reply::Array(out)
}

fn spec_docs(s: &Spec) -> Reply {
    let mut m = vec![
        bulk("summary"),
        bulk(s.summary),
        bulk("since"),
        bulk(s.since),
        bulk("group"),
        bulk(s.group),
    ];
    if !s.args.is_empty() {
        m.push(bulk("arguments"));
        m.push(Reply::Array(s.args.iter().map(arg_docs).collect()));
    }
    if !s.subcommands.is_empty() {
        m.push(bulk("subcommands"));
        let mut subs = Vec::new();
        for sub in s.subcommands {
            subs.push(bulk(sub.name));
            subs.push(spec_docs(sub));
        }
        m.push(Reply::Array(subs));
    }
    Reply::Array(m)
}

fn arg_docs(a: &Arg) -> Reply {
    let mut m = vec![
        bulk("name"),
        bulk(a.name),
        bulk("type"),
        bulk(a.kind.name()),
    ];
    if let Some(t) = a.token {
        m.push(bulk("token"));
        m.push(bulk(t));
    }
    let flags: Vec<Reply> = [(a.optional, "optional"), (a.multiple, "multiple")]
        .into_iter()
        .filter(|&(on, _)| on)
        .map(|(_, f)| Reply::Simple(f.into()))
        .collect();
    if !flags.is_empty() {
        m.push(bulk("flags"));
        m.push(Reply::Array(flags));
    }
    if let Kind::OneOf(args) | Kind::Block(args) = a.kind {
        m.push(bulk("arguments"));
        m.push(Reply::Array(args.iter().map(arg_docs).collect()));
    }
    Reply::Array(m)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}
