//! `oakmap dump`: every byte of a database and its WAL, decoded where it
//! decodes and marked where it does not. Read-only, lock-free, replays
//! nothing (see `oakmap::inspect`). Field names follow format.md.
//!
//! Keys are printed as escaped text (`\xNN` for a byte that is not
//! printable ASCII, `\\`, `\n`, `\r`, `\t`, `\'`, `\"`) or, with `--hex`, as
//! hex; `--key` and `--prefix` are read back the same way, so a key can be
//! copied from the output into the next command.

mod json;
mod keys;
mod page;
mod ranges;

use std::ffi::{OsStr, OsString};
use std::ops::Bound;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::ArgGroup;
use oakmap::inspect::{
    HeaderView, LeafValue, MetaView, RawDb, RecordStatus, TreeFields, WalEnd, WalView,
};
use serde_json::{Value, json};

pub use self::json::json_text;
use self::keys::{parse_hex, prefix_end, show, unescape};
use self::ranges::Ranges;

#[derive(clap::Args)]
#[command(group(ArgGroup::new("form").args(["tree", "page", "freelist", "wal"])))]
#[command(group(ArgGroup::new("shows_keys").args(["tree", "page"])))]
pub struct Args {
    /// The database file.
    file: PathBuf,
    /// Show this tree's pages, level by level (`catalog`: the tree of
    /// trees).
    #[arg(long, value_name = "NAME")]
    tree: Option<String>,
    /// With --tree: also print every key and value.
    #[arg(long, requires = "tree", conflicts_with_all = ["key", "prefix", "page", "freelist", "wal"])]
    values: bool,
    /// With --tree: the entry with this key. Typed as dump prints keys:
    /// text with `\xNN` escapes (and `\\`, `\n`, `\r`, `\t`), or hex with
    /// --hex.
    #[arg(long, value_name = "KEY", requires = "tree", conflicts_with_all = ["prefix", "page", "freelist", "wal"])]
    key: Option<OsString>,
    /// With --tree: every entry whose key starts with PREFIX (typed like
    /// --key).
    #[arg(long, value_name = "PREFIX", requires = "tree", conflicts_with_all = ["page", "freelist", "wal"])]
    prefix: Option<OsString>,
    /// With --tree or --page: keys and values as hex instead of escaped
    /// text; --key and --prefix are then read as hex too.
    #[arg(long, requires = "shows_keys", conflicts_with_all = ["freelist", "wal"])]
    hex: bool,
    /// With --tree or --page: the longest key or value shown, in bytes;
    /// longer ones are cut and marked.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 64,
        requires = "shows_keys",
        conflicts_with_all = ["freelist", "wal"]
    )]
    max_bytes: usize,
    /// Decode page N field by field, with a hex view: 0 is the file header,
    /// 1 and 2 the meta slots, 3 and up data pages.
    #[arg(long, value_name = "N")]
    page: Option<u64>,
    /// The free pages of the newest checkpoint, as ranges.
    #[arg(long)]
    freelist: bool,
    /// Every WAL record.
    #[arg(long)]
    wal: bool,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Go on when the magic bytes do not match, as for a damaged header, and
    /// show what still decodes.
    #[arg(long)]
    force: bool,
}

/// Why `run` gave no output.
#[derive(Debug)]
pub enum Failed {
    /// The arguments ask for what the file does not hold (a page past its
    /// end, a tree it does not have) or do not parse (a key's escapes): a
    /// usage error, reported as clap reports its own.
    Usage(String),
    /// The file could not be read.
    Db(oakmap::Error),
}

impl From<oakmap::Error> for Failed {
    fn from(e: oakmap::Error) -> Failed {
        Failed::Db(e)
    }
}

/// The output `args` ask for, text or JSON.
pub fn run(args: &Args) -> Result<String, Failed> {
    let db = if args.force {
        RawDb::open_forced(&args.file)?
    } else {
        RawDb::open(&args.file)?
    };
    let out = if let Some(name) = &args.tree {
        let desc = find_tree(&db, name)?;
        match (&args.key, &args.prefix) {
            (Some(key), _) => {
                let key = parse_key(key, "--key", args.hex)?;
                lookup(&db, name, &desc, Wanted::Key(key), args)
            }
            (None, Some(prefix)) => {
                let prefix = parse_key(prefix, "--prefix", args.hex)?;
                lookup(&db, name, &desc, Wanted::Prefix(prefix), args)
            }
            (None, None) => tree(&db, name, &desc, args),
        }
    } else if let Some(id) = args.page {
        page::page(&db, id, args)?
    } else if args.freelist {
        freelist(&db)
    } else if args.wal {
        wal(&db)
    } else {
        summary(&db)
    };
    Ok(if args.json {
        json_text(&out.json)
    } else {
        out.text
    })
}

/// What to add to an error `run` returned: how to see past it, if there is
/// a way.
pub fn hint(e: &oakmap::Error) -> &'static str {
    match e {
        oakmap::Error::NotADatabase { .. } => {
            " (its magic bytes do not match; if they are damaged, --force shows what still decodes)"
        }
        _ => "",
    }
}

/// One form's output, both ways.
struct Out {
    text: String,
    json: Value,
}

/// A `file_id` as JSON: a hex string, as the text forms print it. As a
/// number it would pass 2^53, where JavaScript and jq lose digits.
fn file_id_json(id: u64) -> Value {
    Value::String(format!("{id:016x}"))
}

fn meta_json(m: &MetaView) -> Value {
    match &m.meta {
        Ok(meta) => json!({
            "slot": m.slot, "valid": true, "newest": m.newest,
            "txn_id": meta.txn_id, "page_count": meta.page_count,
            "catalog": desc_json(&meta.catalog),
            "freelist_head": meta.freelist_head, "free_count": meta.free_count,
            "wal_lsn": meta.wal_lsn, "wal_base": meta.wal_base, "wal_file": meta.wal_file,
            "seq": meta.seq, "clean": meta.clean,
        }),
        Err(reason) => json!({"slot": m.slot, "valid": false, "problem": reason}),
    }
}

fn desc_json(d: &TreeFields) -> Value {
    json!({"root": d.root, "len": d.len, "depth": d.depth})
}

/// The header as text (one line, after `lead`) and as JSON.
fn header_out(h: &HeaderView, lead: &str) -> (String, Value) {
    match (&h.header, &h.problem) {
        (Some(hd), None) => (
            format!(
                "{lead}format_version {} page_bytes {} file_id {:016x} (checksum ok)\n",
                hd.format_version, hd.page_bytes, hd.file_id
            ),
            json!({"format_version": hd.format_version, "page_bytes": hd.page_bytes,
                   "file_id": file_id_json(hd.file_id), "valid": true}),
        ),
        (Some(hd), Some(p)) => (
            format!(
                "{lead}DAMAGED: {p}: format_version {} page_bytes {} file_id {:016x}\n",
                hd.format_version, hd.page_bytes, hd.file_id
            ),
            json!({"format_version": hd.format_version, "page_bytes": hd.page_bytes,
                   "file_id": file_id_json(hd.file_id), "valid": false, "problem": p}),
        ),
        (None, p) => (
            format!("{lead}DAMAGED: {}\n", p.as_deref().unwrap_or("?")),
            json!({"valid": false, "problem": p}),
        ),
    }
}

fn meta_line(m: &MetaView) -> String {
    match &m.meta {
        Ok(meta) => format!(
            "meta slot {}{}: txn_id {} seq {} page_count {} wal_lsn {} (wal{} from {}){} freelist_head {} free_count {} catalog root {} depth {} len {}\n",
            m.slot,
            if m.newest { " (newest)" } else { "" },
            meta.txn_id,
            meta.seq,
            meta.page_count,
            meta.wal_lsn,
            meta.wal_file,
            meta.wal_base,
            if meta.clean {
                " clean: log not needed"
            } else {
                ""
            },
            meta.freelist_head,
            meta.free_count,
            meta.catalog.root,
            meta.catalog.depth,
            meta.catalog.len
        ),
        Err(reason) => format!("meta slot {}: INVALID: {reason}\n", m.slot),
    }
}

fn summary(db: &RawDb) -> Out {
    let mut t = format!(
        "file {} ({} bytes, page_bytes {})\n",
        db.path().display(),
        db.file_bytes(),
        db.page_bytes()
    );
    let (line, header_json) = header_out(db.header(), "header: ");
    t += &line;
    for m in db.metas() {
        t += &meta_line(m);
    }
    let trees_json = match db.trees() {
        Ok(trees) => {
            t += &format!("trees ({}):\n", trees.len());
            for (name, d) in &trees {
                t += &format!(
                    "  {name:<24} root {:>8} depth {:>2} len {}\n",
                    d.root, d.depth, d.len
                );
            }
            Value::Array(
                trees
                    .iter()
                    .map(|(n, d)| json!({"name": n, "tree": desc_json(d)}))
                    .collect(),
            )
        }
        Err(e) => {
            t += &format!("trees: CANNOT READ the catalog: {e}\n");
            json!({"problem": e.to_string()})
        }
    };
    let w = db.wal();
    t += &format!(
        "wal: {} records in {} files; {}\n{}\n",
        w.records.len(),
        w.files.len(),
        replay_text(&w),
        log_tail_text(&w)
    );
    Out {
        text: t,
        json: json!({
            "file": db.path().to_string_lossy(), "file_bytes": db.file_bytes(),
            "page_bytes": db.page_bytes(), "file_pages": db.file_pages(),
            "header": header_json,
            "meta_slots": db.metas().iter().map(meta_json).collect::<Vec<_>>(),
            "trees": trees_json,
            "wal": {"records": w.records.len(), "recovery": w.recovery.as_ref().ok(),
                    "recovery_error": w.recovery.as_ref().err()},
            "log_beyond_checkpoint": log_tail_json(&w),
        }),
    }
}

/// What recovery would conclude, in a few words.
pub fn replay_text(w: &WalView) -> String {
    match &w.recovery {
        Ok(n) => format!("{n} records to replay"),
        Err(e) => format!("RECOVERY WOULD FAIL: {e}"),
    }
}

/// One line on what the log holds past the newest checkpoint, and whether
/// it replays: what `check` and `stats` counted does not include it.
pub fn log_tail_text(w: &WalView) -> String {
    let tail = &w.beyond_checkpoint;
    let lead = format!("log past checkpoint txn {}: ", tail.checkpoint_txn);
    let markers = tail.records.saturating_sub(tail.commits);
    let held = match tail.commits {
        _ if tail.clean_close => {
            "nothing (the checkpoint was written by a clean close; the log is not read)".into()
        }
        0 => "no commits".to_string(),
        n => format!(
            "{n} commits (txn {} to {}) in {} records{}, {} bytes",
            tail.checkpoint_txn + 1,
            tail.last_txn(),
            tail.records,
            match markers {
                0 => String::new(),
                1 => " (1 a switch to the other log file)".into(),
                m => format!(" ({m} switches to the other log file)"),
            },
            tail.bytes
        ),
    };
    let verdict = match &w.recovery {
        Ok(_) if tail.commits == 0 => String::new(),
        Ok(_) => "; they replay cleanly (opening the database applies them)".into(),
        Err(e) if tail.commits == 0 => format!("; RECOVERY WOULD FAIL: {e}"),
        Err(e) => format!(
            " before a problem; RECOVERY WOULD FAIL: {e} (`oakmap recover --accept-log-loss` \
             keeps the commits before it)"
        ),
    };
    format!("{lead}{held}{verdict}")
}

/// [`log_tail_text`] as JSON.
pub fn log_tail_json(w: &WalView) -> Value {
    let tail = &w.beyond_checkpoint;
    json!({
        "checkpoint_txn": tail.checkpoint_txn,
        "clean_close": tail.clean_close,
        "commits": tail.commits,
        "first_txn": (tail.commits > 0).then(|| tail.checkpoint_txn + 1),
        "last_txn": tail.last_txn(),
        "records": tail.records,
        "bytes": tail.bytes,
        "replays_cleanly": w.recovery.is_ok(),
        "recovery_error": w.recovery.as_ref().err(),
    })
}

/// The tree `name` names: a named tree, or the catalog itself.
fn find_tree(db: &RawDb, name: &str) -> Result<TreeFields, Failed> {
    let trees = db.trees();
    if let Ok(trees) = &trees
        && let Some((_, d)) = trees.iter().find(|(n, _)| n == name)
    {
        return Ok(*d);
    }
    // `catalog` is the tree of trees unless a tree takes the name; it is
    // shown even when its entries do not decode.
    if name == "catalog"
        && let Some(meta) = db.newest_meta()
    {
        return Ok(meta.catalog);
    }
    let trees = trees?;
    let names: Vec<&str> = trees.iter().map(|(n, _)| n.as_str()).collect();
    let known = if names.is_empty() {
        "the database has no trees".to_string()
    } else {
        format!("the trees are: {}", names.join(", "))
    };
    Err(Failed::Usage(format!(
        "no tree named {name:?}; {known} (and `catalog`, the tree of trees)"
    )))
}

fn tree(db: &RawDb, name: &str, desc: &TreeFields, args: &Args) -> Out {
    let mut t = format!(
        "tree {name}: root {} depth {} len {}\n",
        desc.root, desc.depth, desc.len
    );
    let pages = db.tree_pages(desc);
    let mut pages_json = Vec::new();
    for p in &pages {
        let range = match (&p.first_key, &p.last_key) {
            (Some(a), Some(b)) => format!(
                "{} .. {}",
                show(a, args.hex, args.max_bytes.min(24)),
                show(b, args.hex, args.max_bytes.min(24))
            ),
            _ => "-".into(),
        };
        t += &format!(
            "{}page {:>8} {:<6} entries {:>4} fill {:>5.1}% keys {range}{}\n",
            "  ".repeat(p.level as usize + 1),
            p.id,
            if p.leaf { "leaf" } else { "branch" },
            p.count,
            p.fill * 100.0,
            p.problem
                .as_ref()
                .map(|e| format!("  DAMAGED: {e}"))
                .unwrap_or_default()
        );
        pages_json.push(json!({
            "page_id": p.id, "level": p.level, "kind": if p.leaf { "leaf" } else { "branch" },
            "count": p.count, "fill": p.fill,
            "first_key": p.first_key.as_deref().map(|k| show(k, args.hex, args.max_bytes)),
            "last_key": p.last_key.as_deref().map(|k| show(k, args.hex, args.max_bytes)),
            "problem": p.problem,
        }));
    }
    let mut entries_json = Vec::new();
    if args.values {
        t += "entries:\n";
        let walked = db.entries(desc, &mut |key, value| {
            let (line, j) = entry_out(db, key, value, args);
            t += &line;
            entries_json.push(j);
        });
        if let Err(e) = walked {
            t += &format!("  (walk stopped: {e})\n");
        }
    }
    Out {
        text: t,
        json: json!({"tree": name, "desc": desc_json(desc), "pages": pages_json, "entries": entries_json}),
    }
}

/// One entry, as a text line and as JSON; an overflow value is read.
fn entry_out(db: &RawDb, key: &[u8], value: LeafValue<'_>, args: &Args) -> (String, Value) {
    let (v, len) = match value {
        LeafValue::Inline(v) => (show(v, args.hex, args.max_bytes), v.len()),
        LeafValue::Overflow { page, len } => match db.overflow_value(page, len) {
            Ok(v) => (show(&v, args.hex, args.max_bytes), v.len()),
            Err(e) => (
                format!("(overflow run at page {page} DAMAGED: {e})"),
                len as usize,
            ),
        },
    };
    let k = show(key, args.hex, args.max_bytes);
    (
        format!("  {k} = {v}\n"),
        json!({"key": k, "value": v, "value_len": len}),
    )
}

/// What `--key` or `--prefix` asks for.
enum Wanted {
    Key(Vec<u8>),
    Prefix(Vec<u8>),
}

/// The entry with a key, or the entries under a prefix.
fn lookup(db: &RawDb, name: &str, desc: &TreeFields, wanted: Wanted, args: &Args) -> Out {
    let (what, bytes, end) = match &wanted {
        Wanted::Key(k) => ("key", k, Bound::Included(k.clone())),
        Wanted::Prefix(p) => (
            "prefix",
            p,
            prefix_end(p).map_or(Bound::Unbounded, Bound::Excluded),
        ),
    };
    let range = (
        Bound::Included(bytes.as_slice()),
        end.as_ref().map(Vec::as_slice),
    );
    let mut lines = String::new();
    let mut entries_json = Vec::new();
    let walked = db.entries_in(desc, range, &mut |key, value| {
        let (line, j) = entry_out(db, key, value, args);
        lines += &line;
        entries_json.push(j);
    });
    let shown = show(bytes, args.hex, args.max_bytes);
    let mut t = match (&wanted, entries_json.len()) {
        (Wanted::Key(_), 0) => format!("tree {name}: no entry with key {shown}\n"),
        (Wanted::Key(_), _) => format!("tree {name}: key {shown}\n"),
        (Wanted::Prefix(_), 1) => format!("tree {name}: 1 entry with prefix {shown}\n"),
        (Wanted::Prefix(_), n) => format!("tree {name}: {n} entries with prefix {shown}\n"),
    };
    t += &lines;
    if let Err(e) = &walked {
        t += &format!("  (walk stopped: {e})\n");
    }
    Out {
        text: t,
        json: json!({
            "tree": name, what: shown, "entries": entries_json,
            "problem": walked.err().map(|e| e.to_string()),
        }),
    }
}

/// A key as typed on the command line: hex with --hex, otherwise text in
/// which the escapes dump prints (`\xNN`, `\\`, `\n`, `\r`, `\t`, `\'`,
/// `\"`) stand for their bytes.
fn parse_key(typed: &OsStr, flag: &str, hex: bool) -> Result<Vec<u8>, Failed> {
    let refuse = |why: String| {
        Failed::Usage(format!(
            "{flag} {:?}: {why}",
            typed.to_string_lossy().into_owned()
        ))
    };
    let b = typed.as_bytes();
    if hex {
        return parse_hex(b).map_err(refuse);
    }
    unescape(b).map_err(refuse)
}

fn freelist(db: &RawDb) -> Out {
    let f = db.freelist();
    let chain = Ranges::of(&f.pages);
    let mut ids = f.ids.clone();
    ids.sort_unstable();
    let free = Ranges::of_sorted(&ids);
    let mut t = format!(
        "freelist: {} pages in the chain: {}\nfree pages ({}): {}\n",
        f.pages.len(),
        chain.text(),
        f.ids.len(),
        free.text()
    );
    if !free.repeated.is_empty() {
        t += &format!(
            "LISTED MORE THAN ONCE: {} (damage; `oakmap check` reports it)\n",
            Ranges::of(&free.repeated).text()
        );
    }
    t += "pending reuse: not stored in the file. Pages that live snapshots or the next\n\
          checkpoint still hold are written as free in a checkpoint's freelist, because\n\
          after a restart no snapshot is left (see format.md section 6); `Db::stats`\n\
          reports them for a running database.\n";
    if let Some(p) = &f.problem {
        t += &format!("DAMAGED: {p}\n");
    }
    Out {
        text: t,
        json: json!({
            "freelist_page_ranges": chain.json(), "freelist_pages": f.pages.len(),
            "free_page_ranges": free.json(), "free_count": f.ids.len(),
            "listed_more_than_once": free.repeated,
            "pending": Value::Null, "problem": f.problem,
        }),
    }
}

fn wal(db: &RawDb) -> Out {
    let w = db.wal();
    let mut t = String::new();
    for (i, f) in w.files.iter().enumerate() {
        t += &match f.header {
            Some((id, base)) => format!(
                "wal file {i}: {} ({} bytes) file_id {id:016x} base_lsn {base}\n",
                f.path.display(),
                f.bytes
            ),
            None => format!(
                "wal file {i}: {} ({} bytes) no valid header (recovery still finds records of ours at the position the checkpoint names)\n",
                f.path.display(),
                f.bytes
            ),
        };
        for r in w.records.iter().filter(|r| r.file == i) {
            t += &format!(
                "  offset {:>8} lsn {:>10} txn_id {:>8} synced_lsn {:>10} len {:>6} checksum ok  {}\n",
                r.offset,
                r.lsn,
                r.txn,
                r.synced_lsn,
                r.len,
                if r.status == RecordStatus::Covered {
                    "covered by the checkpoint"
                } else {
                    "to replay"
                }
            );
            for op in &r.ops {
                t += &format!("      {op}\n");
            }
        }
        t += &match &w.ends[i] {
            WalEnd::Clean => "  end of file\n".to_string(),
            WalEnd::TornTail { offset } => format!(
                "  end of records at offset {offset}: what follows does not decode (a torn write, zeros, or an earlier cycle's records) and acknowledges nothing\n"
            ),
            WalEnd::Corrupt { offset } => {
                format!("  CORRUPT RECORD at offset {offset}: acknowledged records follow it\n")
            }
        };
    }
    t += &format!("recovery: {}\n{}\n", replay_text(&w), log_tail_text(&w));
    let end_json = |e: &WalEnd| match e {
        WalEnd::Clean => json!({"end": "clean"}),
        WalEnd::TornTail { offset } => json!({"end": "torn_tail", "offset": offset}),
        WalEnd::Corrupt { offset } => json!({"end": "corrupt", "offset": offset}),
    };
    Out {
        text: t,
        json: json!({
            "files": w.files.iter().zip(&w.ends).map(|(f, e)| json!({
                "path": f.path.to_string_lossy(), "bytes": f.bytes,
                "file_id": f.header.map(|h| file_id_json(h.0)),
                "base_lsn": f.header.map(|h| h.1), "records_end": end_json(e),
            })).collect::<Vec<_>>(),
            "records": w.records.iter().map(|r| json!({
                "file": r.file, "offset": r.offset, "lsn": r.lsn, "txn_id": r.txn, "synced_lsn": r.synced_lsn,
                "len": r.len, "checksum_ok": true, "ops": r.ops,
                "status": if r.status == RecordStatus::Covered { "covered" } else { "replay" },
            })).collect::<Vec<_>>(),
            "recovery": w.recovery.as_ref().ok(), "recovery_error": w.recovery.as_ref().err(),
            "log_beyond_checkpoint": log_tail_json(&w),
        }),
    }
}
