//! `dump --page N`: one page decoded as what it is. Pages 0 to 2 are the
//! header and the meta slots; a data page is decoded field by field, and
//! its checksum, kind and self id are judged only if the newest checkpoint
//! uses it (a free page's bytes, or those past its page count, mean
//! nothing), and a page without a header is placed in its overflow run.

use oakmap::inspect::{
    CellView, FIRST_DATA_PAGE, HeaderView, KindFields, MetaView, PageView, RawDb, ReservedContent,
    ReservedPageView, RunHolding,
};
use serde_json::{Value, json};

use super::ranges::Ranges;
use super::{Args, Failed, Out, header_out, meta_json, show};

/// Page `id`, or a usage error past the end of the file.
pub(super) fn page(db: &RawDb, id: u64, args: &Args) -> Result<Out, Failed> {
    let pages = db.file_pages();
    if id >= pages {
        let holds = match pages {
            0 => "the file holds no whole page".to_string(),
            1 => "the file has 1 page (page 0)".to_string(),
            n => format!("the file has {n} pages (0 to {})", n - 1),
        };
        return Err(Failed::Usage(format!(
            "--page {id} is past the end of the file: {holds}"
        )));
    }
    if id < FIRST_DATA_PAGE {
        return Ok(reserved_page(&db.reserved_page(id)?));
    }
    Ok(data_page(db, id, args)?)
}

/// Page 0, 1 or 2: the header or a meta slot, field by field.
fn reserved_page(v: &ReservedPageView) -> Out {
    let id = v.id;
    let (mut t, mut j) = match &v.content {
        ReservedContent::Header(h) => (
            format!(
                "page {id}: the file header (format.md section 1)\n{}",
                header_fields(h)
            ),
            json!({"page": id, "kind": "header", "header": header_out(h, "").1}),
        ),
        ReservedContent::Meta(m) => {
            let role = match (&m.meta, m.newest) {
                (Err(_), _) => "",
                (Ok(_), true) => ", the newest: the checkpoint recovery uses",
                (Ok(_), false) => ", the older of the two (recovery uses the other)",
            };
            (
                format!(
                    "page {id}: meta slot {} (format.md section 2){role}\n{}",
                    m.slot,
                    meta_fields(m)
                ),
                json!({"page": id, "kind": "meta", "meta_slot": meta_json(m)}),
            )
        }
    };
    let rest = format!("bytes {}..{}", v.used_bytes, v.bytes.len());
    t += &match v.nonzero_at {
        None => format!("  {rest:<15} zero\n"),
        Some(at) => format!(
            "  {rest:<15} not zero from byte {at} (reserved: oakmap writes zero there and reads nothing)\n"
        ),
    };
    t += &hex_view(&v.bytes);
    j["nonzero_at"] = json!(v.nonzero_at);
    j["hex"] = json!(hex_string(&v.bytes));
    Out { text: t, json: j }
}

/// The header's fields, one a line, as format.md names them.
fn header_fields(h: &HeaderView) -> String {
    let mut t = String::new();
    if let Some(hd) = &h.header {
        t += &format!(
            "  format_version  {}\n  page_bytes      {}\n  file_id         {:016x}\n",
            hd.format_version, hd.page_bytes, hd.file_id
        );
    }
    t += &match &h.problem {
        None => "  header_crc      ok\n".to_string(),
        Some(p) => format!("  DAMAGED: {p}\n"),
    };
    t
}

/// A meta slot's fields, one a line, as format.md names them.
fn meta_fields(m: &MetaView) -> String {
    let meta = match &m.meta {
        Ok(meta) => meta,
        Err(reason) => return format!("  INVALID: {reason}\n"),
    };
    format!(
        "  meta_crc        ok\n  slot            {}\n  txn_id          {}\n  page_count      {}\n  \
         catalog         root {} len {} depth {}\n  freelist_head   {}\n  free_count      {}\n  \
         wal_lsn         {}\n  wal_base        {}\n  seq             {}\n  \
         flags           {}; log file .wal{}\n",
        m.slot,
        meta.txn_id,
        meta.page_count,
        meta.catalog.root,
        meta.catalog.len,
        meta.catalog.depth,
        meta.freelist_head,
        meta.free_count,
        meta.wal_lsn,
        meta.wal_base,
        meta.seq,
        if meta.clean {
            "clean (written by a clean close: the log is not needed)"
        } else {
            "not clean (the log is needed to open)"
        },
        meta.wal_file,
    )
}

/// What a data page is to the newest checkpoint, when it is not in use:
/// its bytes then mean nothing, and whatever they fail is no damage.
fn unused_because(db: &RawDb, id: u64) -> Option<String> {
    let meta = db.newest_meta()?;
    if id >= meta.page_count {
        return Some(format!(
            "past the newest checkpoint's page_count ({}): not part of its state (written by a later commit, or one that did not complete)",
            meta.page_count
        ));
    }
    db.freelist().ids.contains(&id).then(|| {
        "free in the newest checkpoint (listed in its freelist): its bytes are a \
                  former page's, a later commit's (see --wal), or zero"
            .into()
    })
}

fn data_page(db: &RawDb, id: u64, args: &Args) -> oakmap::Result<Out> {
    let v = db.page(id)?;
    let unused = unused_because(db, id);
    // A page in use without a header is a later page of an overflow run,
    // or damaged: only a walk of the trees tells which.
    if v.kind.is_none()
        && unused.is_none()
        && let Some(run) = db.overflow_run_holding(id)?
    {
        return Ok(run_page(db, &v, &run, args));
    }
    let mut t = format!("page {id}\n");
    if let Some(why) = &unused {
        let zero = if v.bytes.iter().all(|&b| b == 0) {
            "; all zero"
        } else {
            ""
        };
        t += &format!("  role       {why}{zero}; not checked\n");
    }
    t += &header_lines(&v, unused.is_some());
    // A page in use is damaged if it does not decode (or has no kind and
    // no run holds it); an unused page's bytes mean nothing.
    if unused.is_none()
        && let Some(p) = &v.problem
    {
        let p = match v.kind {
            Some(_) => p.clone(),
            None => format!("{p}, and no overflow run of the newest checkpoint holds this page"),
        };
        t += &format!("  DAMAGED: {p}\n");
    }
    let (cells_text, cells_json) = cells_out(&v.cells, args);
    t += &cells_text;
    let mut free_ids = v.free_ids.clone();
    free_ids.sort_unstable();
    let free = Ranges::of_sorted(&free_ids);
    if !v.free_ids.is_empty() {
        t += &format!("  entries    {}\n", free.text());
    }
    t += &hex_view(&v.bytes);
    let mut j = page_json(&v);
    j["unused"] = json!(unused);
    j["cells"] = json!(cells_json);
    j["entry_ranges"] = free.json();
    Ok(Out { text: t, json: j })
}

/// A page after the first of an overflow run: value bytes, no header.
fn run_page(db: &RawDb, v: &PageView, run: &RunHolding, args: &Args) -> Out {
    let first = run.first_page;
    let run_crc = match db.page(first) {
        Ok(p) if p.crc_ok => "ok".to_string(),
        Ok(_) => format!("MISMATCH (see --page {first})"),
        Err(e) => format!("cannot be read: {e}"),
    };
    let mut t = format!(
        "page {}\n  role       page {} of the {}-page overflow run at page {first}: the value of key {} in tree {}\n  \
         header     none: value bytes only; the run's checksum, on page {first}, covers them: {run_crc}\n",
        v.id,
        v.id - first + 1,
        run.run_pages,
        show(&run.key, args.hex, args.max_bytes),
        run.tree,
    );
    t += &hex_view(&v.bytes);
    let mut j = page_json(v);
    j["overflow_run"] = json!({
        "first_page": first, "run_pages": run.run_pages, "tree": run.tree,
        "key": show(&run.key, args.hex, args.max_bytes), "run_checksum": run_crc,
    });
    Out { text: t, json: j }
}

/// A data page's header fields, one a line. Alarms are for pages in use:
/// an unused page's checksum or self id failing is no damage.
fn header_lines(v: &PageView, unused: bool) -> String {
    let h = v.header;
    let crc = match (v.crc_ok, v.kind, unused) {
        (true, _, _) => "ok".to_string(),
        (false, None, _) => "not checked: no page header".to_string(),
        (false, Some(_), true) => "does not match (unused bytes)".to_string(),
        (false, Some(_), false) => format!("MISMATCH, computed {:08x}", h.crc_computed),
    };
    let kind = match v.kind {
        Some(k) => format!("{k:?}"),
        None if unused => format!("{}: none (an unused page)", h.kind),
        None => format!("{}: no page kind", h.kind),
    };
    let not_this_page = h.page_id != v.id && v.kind.is_some() && !unused;
    let mut t = format!(
        "  page_crc   {:08x} ({crc})\n  kind       {kind}\n  count      {}\n  page_id    {}{}\n  txn_id     {}\n",
        h.page_crc,
        h.count,
        h.page_id,
        if not_this_page {
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
    t
}

/// A branch or leaf page's cells, as text lines and as JSON.
fn cells_out(cells: &[CellView], args: &Args) -> (String, Vec<Value>) {
    let sh = |b: &[u8]| show(b, args.hex, args.max_bytes);
    let mut t = String::new();
    let mut js = Vec::new();
    for (i, c) in cells.iter().enumerate() {
        let (line, j) = match c {
            CellView::Branch { key, child } => (
                format!("  cell {i:>3}: key {} -> child {child}\n", sh(key)),
                json!({"key": sh(key), "child": child}),
            ),
            CellView::Inline { key, value } => (
                format!(
                    "  cell {i:>3}: key {} value {} ({} bytes)\n",
                    sh(key),
                    sh(value),
                    value.len()
                ),
                json!({"key": sh(key), "value": sh(value), "value_len": value.len()}),
            ),
            CellView::Overflow { key, page, len } => (
                format!(
                    "  cell {i:>3}: key {} value in overflow run at page {page} ({len} bytes)\n",
                    sh(key)
                ),
                json!({"key": sh(key), "overflow_page": page, "value_len": len}),
            ),
        };
        t += &line;
        js.push(j);
    }
    (t, js)
}

/// What every data page's JSON holds: the header as stored, and the bytes.
fn page_json(v: &PageView) -> Value {
    let h = v.header;
    json!({
        "page": v.id, "page_crc": h.page_crc, "crc_ok": v.crc_ok, "kind": h.kind,
        "kind_name": v.kind.map(|k| format!("{k:?}").to_lowercase()),
        "count": h.count, "page_id": h.page_id, "txn_id": h.txn_id,
        "kind_specific": h.kind_specific, "problem": v.problem,
        "hex": hex_string(&v.bytes),
    })
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
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
