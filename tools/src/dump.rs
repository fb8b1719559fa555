//! `oakmap dump`: every byte of a database and its WAL, decoded where it
//! decodes and marked where it does not. Read-only, lock-free, replays
//! nothing (see `oakmap::inspect`). Field names follow format.md.

use std::path::PathBuf;

use oakmap::inspect::{
    CellView, KindFields, LeafValue, MetaView, RawDb, RecordStatus, TreeFields, WalEnd,
};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    file: PathBuf,
    /// Show this tree's structure page by page.
    #[arg(long)]
    tree: Option<String>,
    /// With --tree: also print every key and value.
    #[arg(long)]
    values: bool,
    /// Print keys and values as hex instead of escaped text.
    #[arg(long)]
    hex: bool,
    /// Longest key or value shown, in bytes; longer ones are cut and marked.
    #[arg(long, default_value_t = 64)]
    max_bytes: usize,
    /// Decode one page field by field, with a hex view.
    #[arg(long)]
    page: Option<u64>,
    /// The free pages of the newest checkpoint.
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

pub fn run(args: &Args) -> oakmap::Result<()> {
    let db = if args.force {
        RawDb::open_forced(&args.file)?
    } else {
        RawDb::open(&args.file)?
    };
    let out = if let Some(name) = &args.tree {
        tree(&db, name, args)?
    } else if let Some(id) = args.page {
        page(&db, id)?
    } else if args.freelist {
        freelist(&db)
    } else if args.wal {
        wal(&db)
    } else {
        summary(&db)
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out.json).expect("JSON"));
    } else {
        print!("{}", out.text);
    }
    Ok(())
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

fn show(bytes: &[u8], args_hex: bool, max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let mut s = if args_hex {
        cut.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        cut.escape_ascii().to_string()
    };
    if bytes.len() > max {
        s.push_str(&format!("...(+{} bytes)", bytes.len() - max));
    }
    s
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

fn summary(db: &RawDb) -> Out {
    let mut t = String::new();
    let h = db.header();
    t += &format!(
        "file {} ({} bytes, page_bytes {})\n",
        db.path().display(),
        db.file_bytes(),
        db.page_bytes()
    );
    let header_json = match (&h.header, &h.problem) {
        (Some(hd), None) => {
            t += &format!(
                "header: format_version {} page_bytes {} file_id {:016x} (checksum ok)\n",
                hd.format_version, hd.page_bytes, hd.file_id
            );
            json!({"format_version": hd.format_version, "page_bytes": hd.page_bytes, "file_id": hd.file_id, "valid": true})
        }
        (Some(hd), Some(p)) => {
            t += &format!(
                "header: DAMAGED: {p}: format_version {} page_bytes {} file_id {:016x}\n",
                hd.format_version, hd.page_bytes, hd.file_id
            );
            json!({"format_version": hd.format_version, "page_bytes": hd.page_bytes, "file_id": hd.file_id, "valid": false, "problem": p})
        }
        (None, p) => {
            t += &format!("header: DAMAGED: {}\n", p.as_deref().unwrap_or("?"));
            json!({"valid": false, "problem": p})
        }
    };
    for m in db.metas() {
        t += &match &m.meta {
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
        };
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
    let replay = match &w.recovery {
        Ok(n) => format!("{n} records to replay"),
        Err(e) => format!("RECOVERY WOULD FAIL: {e}"),
    };
    t += &format!(
        "wal: {} records in {} files; {replay}\n",
        w.records.len(),
        w.files.len()
    );
    Out {
        text: t,
        json: json!({
            "file": db.path(), "file_bytes": db.file_bytes(), "page_bytes": db.page_bytes(),
            "header": header_json,
            "meta_slots": db.metas().iter().map(meta_json).collect::<Vec<_>>(),
            "trees": trees_json,
            "wal": {"records": w.records.len(), "recovery": w.recovery.as_ref().map_err(|e| e.clone()).ok(), "recovery_error": w.recovery.err()},
        }),
    }
}

fn tree(db: &RawDb, name: &str, args: &Args) -> oakmap::Result<Out> {
    let trees = db.trees()?;
    let desc = if name == "catalog" && !trees.iter().any(|(n, _)| n == name) {
        db.newest_meta().map(|m| m.catalog).unwrap_or_default()
    } else {
        match trees.iter().find(|(n, _)| n == name) {
            Some((_, d)) => *d,
            None => {
                return Ok(Out {
                    text: format!("no tree named {name:?}\n"),
                    json: json!({"problem": format!("no tree named {name:?}")}),
                });
            }
        }
    };
    let mut t = format!(
        "tree {name}: root {} depth {} len {}\n",
        desc.root, desc.depth, desc.len
    );
    let pages = db.tree_pages(&desc);
    let mut pages_json = Vec::new();
    for p in &pages {
        let range = match (&p.first_key, &p.last_key) {
            (Some(a), Some(b)) => format!("{} .. {}", show(a, args.hex, 24), show(b, args.hex, 24)),
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
        let walked = db.entries(&desc, &mut |key, value| {
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
            t += &format!("  {k} = {v}\n");
            entries_json.push(json!({"key": k, "value": v, "value_len": len}));
        });
        if let Err(e) = walked {
            t += &format!("  (walk stopped: {e})\n");
        }
    }
    Ok(Out {
        text: t,
        json: json!({"tree": name, "desc": desc_json(&desc), "pages": pages_json, "entries": entries_json}),
    })
}

fn page(db: &RawDb, id: u64) -> oakmap::Result<Out> {
    let v = db.page(id)?;
    let h = v.header;
    let kind = v
        .kind
        .map_or_else(|| format!("unknown ({})", h.kind), |k| format!("{k:?}"));
    let mut t = format!(
        "page {id}\n  page_crc   {:08x} ({})\n  kind       {kind}\n  count      {}\n  page_id    {}{}\n  txn_id     {}\n",
        h.page_crc,
        if v.crc_ok {
            "ok".to_string()
        } else {
            format!("MISMATCH, computed {:08x}", h.crc_computed)
        },
        h.count,
        h.page_id,
        if h.page_id != id {
            "  (NOT THIS PAGE)"
        } else {
            ""
        },
        h.txn_id,
    );
    t += &match v.kind_fields {
        Some(KindFields::Node { data_start }) => {
            format!("  data_start {data_start}\n  used_bytes {}\n", v.used_bytes)
        }
        Some(KindFields::Overflow {
            run_pages,
            value_len,
        }) => format!("  run_pages  {run_pages}\n  value_len  {value_len}\n"),
        Some(KindFields::Freelist { next }) => format!("  next       {next}\n"),
        None => String::new(),
    };
    if let Some(p) = &v.problem {
        t += &format!("  DAMAGED: {p}\n");
    }
    let mut cells_json = Vec::new();
    for (i, c) in v.cells.iter().enumerate() {
        let (line, j) = match c {
            CellView::Branch { key, child } => (
                format!(
                    "  cell {i:>3}: key {} -> child {child}\n",
                    show(key, false, 48)
                ),
                json!({"key": show(key, false, 256), "child": child}),
            ),
            CellView::Inline { key, value } => (
                format!(
                    "  cell {i:>3}: key {} value {} ({} bytes)\n",
                    show(key, false, 48),
                    show(value, false, 32),
                    value.len()
                ),
                json!({"key": show(key, false, 256), "value": show(value, false, 256), "value_len": value.len()}),
            ),
            CellView::Overflow { key, page, len } => (
                format!(
                    "  cell {i:>3}: key {} value in overflow run at page {page} ({len} bytes)\n",
                    show(key, false, 48)
                ),
                json!({"key": show(key, false, 256), "overflow_page": page, "value_len": len}),
            ),
        };
        t += &line;
        cells_json.push(j);
    }
    if !v.free_ids.is_empty() {
        t += &format!("  entries    {:?}\n", v.free_ids);
    }
    t += &hex_view(&v.bytes);
    Ok(Out {
        text: t,
        json: json!({
            "page": id, "page_crc": h.page_crc, "crc_ok": v.crc_ok, "kind": h.kind, "count": h.count,
            "page_id": h.page_id, "txn_id": h.txn_id, "kind_specific": h.kind_specific,
            "cells": cells_json, "entries": v.free_ids, "problem": v.problem,
            "hex": v.bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        }),
    })
}

/// 16 bytes a line, offset, hex and text; runs of zero lines folded.
fn hex_view(b: &[u8]) -> String {
    let mut t = String::from("  hex:\n");
    let mut zeros = 0;
    for (i, chunk) in b.chunks(16).enumerate() {
        if chunk.iter().all(|&x| x == 0) && i > 0 {
            zeros += 1;
            continue;
        }
        if zeros > 0 {
            t += &format!("    ... {zeros} zero lines\n");
            zeros = 0;
        }
        let hex: Vec<String> = chunk.iter().map(|x| format!("{x:02x}")).collect();
        let text: String = chunk
            .iter()
            .map(|&x| if x.is_ascii_graphic() { x as char } else { '.' })
            .collect();
        t += &format!("    {:06x}  {:<47}  {text}\n", i * 16, hex.join(" "));
    }
    if zeros > 0 {
        t += &format!("    ... {zeros} zero lines\n");
    }
    t
}

fn freelist(db: &RawDb) -> Out {
    let f = db.freelist();
    let mut t = format!(
        "freelist: {} pages in the chain {:?}\nfree pages ({}): {:?}\n",
        f.pages.len(),
        f.pages,
        f.ids.len(),
        f.ids
    );
    t += "pending reuse: not stored in the file. Pages that live snapshots or the next\n\
          checkpoint still hold are written as free in a checkpoint's freelist, because\n\
          after a restart no snapshot is left (see format.md section 6); `Db::stats`\n\
          reports them for a running database.\n";
    if let Some(p) = &f.problem {
        t += &format!("DAMAGED: {p}\n");
    }
    Out {
        text: t,
        json: json!({"freelist_pages": f.pages, "free_pages": f.ids, "pending": Value::Null, "problem": f.problem}),
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
    t += &match &w.recovery {
        Ok(n) => format!("recovery would replay {n} records\n"),
        Err(e) => format!("RECOVERY WOULD FAIL: {e}\n"),
    };
    let end_json = |e: &WalEnd| match e {
        WalEnd::Clean => json!({"end": "clean"}),
        WalEnd::TornTail { offset } => json!({"end": "torn_tail", "offset": offset}),
        WalEnd::Corrupt { offset } => json!({"end": "corrupt", "offset": offset}),
    };
    Out {
        text: t,
        json: json!({
            "files": w.files.iter().zip(&w.ends).map(|(f, e)| json!({
                "path": f.path, "bytes": f.bytes,
                "file_id": f.header.map(|h| h.0), "base_lsn": f.header.map(|h| h.1), "records_end": end_json(e),
            })).collect::<Vec<_>>(),
            "records": w.records.iter().map(|r| json!({
                "file": r.file, "offset": r.offset, "lsn": r.lsn, "txn_id": r.txn, "synced_lsn": r.synced_lsn,
                "len": r.len, "checksum_ok": true, "ops": r.ops,
                "status": if r.status == RecordStatus::Covered { "covered" } else { "replay" },
            })).collect::<Vec<_>>(),
            "recovery": w.recovery.as_ref().ok(), "recovery_error": w.recovery.as_ref().err(),
        }),
    }
}
