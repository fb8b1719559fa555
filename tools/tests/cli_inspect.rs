//! Guards `oakmap dump`, `check` and `stats` as a newcomer meets them: the
//! header and meta pages decode without false alarms, a page past the end
//! or an unknown tree is a usage error that says what exists, flags that do
//! not combine are refused, `--max-bytes` holds for `--page`, the freelist
//! prints as ranges, `--key` and `--prefix` find entries (binary keys
//! typed as dump prints them), every `--json` form parses with `file_id` a
//! string, and `check` and `stats` on a database that is open say which
//! checkpoint they describe and what the log holds past it.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use oakmap::Options;
use serde_json::Value;

mod common;

use common::{TestDb, oakmap};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `oakmap args FILE`, which must succeed; its stdout.
fn ok(args: &[&str], file: &Path) -> String {
    let out = oakmap(args, file);
    assert!(
        out.status.success(),
        "oakmap {args:?}: {:?}\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// `oakmap args FILE` with `--json`, parsed.
fn json(args: &[&str], file: &Path) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let text = ok(&args, file);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("oakmap {args:?}: {e}\n{text}"))
}

/// `oakmap args FILE`, which must fail as a usage error: exit 2, nothing on
/// stdout, a message and clap's usage line on stderr. Returns stderr.
fn usage_error(args: &[&str], file: &Path) -> String {
    let out = oakmap(args, file);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "oakmap {args:?}: {err}");
    assert!(out.stdout.is_empty(), "oakmap {args:?}: {}", stdout(&out));
    assert!(
        err.contains("error: ") && err.contains("Usage: oakmap dump"),
        "{err}"
    );
    err
}

/// Options under which no checkpoint starts on its own during a test.
fn no_auto_checkpoint() -> Options {
    Options::new().checkpoint_interval(Duration::from_secs(3600))
}

/// A closed database: a `users` tree of 2,000 entries (one with a binary
/// key), a `blobs` tree with a value in a 5-page overflow run, and free
/// pages left by a deleted `scratch` tree.
fn build(dir: &Path) -> PathBuf {
    let path = dir.join("db.oak");
    let db = TestDb::with_options(no_auto_checkpoint(), &path);
    let mut tx = db.begin_write().unwrap();
    {
        let mut users = tx.open_tree("users").unwrap();
        for i in 0..2000u32 {
            users
                .insert(format!("user{i:05}").as_bytes(), b"{\"name\":\"x\"}")
                .unwrap();
        }
        users.insert(b"bin\x00\xff\\", b"binary").unwrap();
        let mut scratch = tx.open_tree("scratch").unwrap();
        for i in 0..1500u32 {
            scratch.insert(&i.to_be_bytes(), &[1u8; 400]).unwrap();
        }
    }
    tx.commit().unwrap();
    db.insert("blobs", b"big", &vec![7u8; 20_000]).unwrap();
    let mut tx = db.begin_write().unwrap();
    tx.delete_tree("scratch").unwrap();
    tx.commit().unwrap();
    db.close().unwrap();
    path
}

/// The text forms' alarm words, none of which a healthy file may show.
const ALARMS: [&str; 6] = [
    "MISMATCH",
    "NOT THIS PAGE",
    "DAMAGED",
    "INVALID",
    "no page kind",
    "kind unknown",
];

fn assert_no_alarm(text: &str, what: &str) {
    for alarm in ALARMS {
        assert!(!text.contains(alarm), "{what}: {alarm:?} in\n{text}");
    }
}

#[test]
fn header_and_meta_pages_decode_as_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let summary = json(&["dump"], &path);
    let file_id = summary["header"]["file_id"].as_str().unwrap().to_string();

    let header = ok(&["dump", "--page", "0"], &path);
    assert_no_alarm(&header, "page 0");
    assert!(header.contains("the file header"), "{header}");
    assert!(header.contains("format_version  2"), "{header}");
    assert!(header.contains("page_bytes      4096"), "{header}");
    assert!(
        header.contains(&format!("file_id         {file_id}")),
        "{header}"
    );
    assert!(header.contains("header_crc      ok"), "{header}");
    assert!(header.contains("bytes 64..4096  zero"), "{header}");

    let newest = summary["meta_slots"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["newest"] == true)
        .unwrap();
    for slot in 0..2usize {
        let page = (slot + 1).to_string();
        let text = ok(&["dump", "--page", &page], &path);
        assert_no_alarm(&text, &format!("page {page}"));
        let m = &summary["meta_slots"][slot];
        assert!(text.contains(&format!("meta slot {slot}")), "{text}");
        assert!(text.contains("meta_crc        ok"), "{text}");
        assert!(
            text.contains(&format!("txn_id          {}\n", m["txn_id"])),
            "{text}"
        );
        assert!(
            text.contains(&format!("page_count      {}\n", m["page_count"])),
            "{text}"
        );
        assert_eq!(text.contains(", the newest: "), slot == newest, "{text}");
        assert_eq!(text.contains(", the older "), slot != newest, "{text}");
        let j = json(&["dump", "--page", &page], &path);
        assert_eq!(j["kind"], "meta");
        assert_eq!(j["meta_slot"]["txn_id"], m["txn_id"]);
        assert_eq!(j["meta_slot"]["valid"], true);
    }
    let j = json(&["dump", "--page", "0"], &path);
    assert_eq!(j["kind"], "header");
    assert_eq!(j["header"]["file_id"].as_str(), Some(file_id.as_str()));

    // Every page of the healthy file: data pages in use, free pages, and
    // the later pages of the overflow run, which carry no header.
    let pages = summary["file_pages"].as_u64().unwrap();
    let mut run_pages = 0;
    for id in 3..pages {
        let text = ok(&["dump", "--page", &id.to_string()], &path);
        assert_no_alarm(&text, &format!("page {id}"));
        if text.contains("of the 5-page overflow run at page") {
            assert!(
                text.contains("the value of key big in tree blobs")
                    && text.contains("covers them: ok"),
                "{text}"
            );
            run_pages += 1;
        }
    }
    assert_eq!(run_pages, 4, "the 5-page run's pages after its first");
}

#[test]
fn page_past_the_end_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let pages = std::fs::metadata(&path).unwrap().len() / 4096;
    for id in [pages, 99_999_999, u64::MAX] {
        let err = usage_error(&["dump", "--page", &id.to_string()], &path);
        assert!(
            err.contains(&format!("--page {id} is past the end of the file"))
                && err.contains(&format!("the file has {pages} pages (0 to {})", pages - 1)),
            "{err}"
        );
        assert!(!err.contains("orrupt"), "{err}");
        usage_error(&["dump", "--json", "--page", &id.to_string()], &path);
    }
    // The last page is still there.
    ok(&["dump", "--page", &(pages - 1).to_string()], &path);
}

#[test]
fn unknown_tree_is_refused_with_the_trees_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    for args in [
        &["dump", "--tree", "nosuch"][..],
        &["dump", "--tree", "nosuch", "--values"],
        &["dump", "--tree", "nosuch", "--key", "a", "--json"],
    ] {
        let err = usage_error(args, &path);
        assert!(
            err.contains(r#"no tree named "nosuch""#)
                && err.contains("the trees are: blobs, users")
                && err.contains("catalog"),
            "{args:?}: {err}"
        );
    }
    // `catalog` is the tree of trees.
    let catalog = ok(&["dump", "--tree", "catalog", "--values"], &path);
    assert!(
        catalog.contains("blobs = ") && catalog.contains("users = "),
        "{catalog}"
    );
}

#[test]
fn flags_that_do_not_combine_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let conflict = "cannot be used with";
    let missing = "required arguments were not provided";
    for (args, why) in [
        (&["--values"][..], missing),
        (&["--key", "a"], missing),
        (&["--prefix", "a"], missing),
        (&["--hex"], missing),
        (&["--max-bytes", "8"], missing),
        (&["--tree", "users", "--page", "3"], conflict),
        (&["--wal", "--freelist"], conflict),
        (&["--page", "3", "--wal"], conflict),
        (&["--page", "3", "--freelist"], conflict),
        (&["--tree", "users", "--wal"], conflict),
        (&["--tree", "users", "--freelist"], conflict),
        (
            &["--tree", "users", "--key", "a", "--prefix", "a"],
            conflict,
        ),
        (&["--tree", "users", "--values", "--key", "a"], conflict),
        (&["--tree", "users", "--values", "--prefix", "a"], conflict),
        // Requirements met by a flag of another form are still refused.
        (&["--values", "--page", "3"], conflict),
        (&["--key", "a", "--page", "3"], conflict),
        (&["--prefix", "a", "--wal"], conflict),
        (&["--values", "--freelist"], conflict),
        (&["--hex", "--wal"], conflict),
        (&["--hex", "--freelist"], conflict),
        (&["--max-bytes", "8", "--wal"], conflict),
        (&["--max-bytes", "8", "--freelist"], conflict),
    ] {
        let mut full = vec!["dump"];
        full.extend_from_slice(args);
        let err = usage_error(&full, &path);
        assert!(err.contains(why), "{args:?}: {err}");
    }
}

/// The leaf pages of `tree` and their first and last keys, from
/// `dump --tree --json`.
fn leaves(path: &Path, tree: &str) -> Vec<(u64, String, String)> {
    let j = json(&["dump", "--tree", tree], path);
    j["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "leaf")
        .map(|p| {
            (
                p["page_id"].as_u64().unwrap(),
                p["first_key"].as_str().unwrap().to_string(),
                p["last_key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn max_bytes_holds_for_page() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let (leaf, first, _) = leaves(&path, "users")
        .into_iter()
        .find(|(_, first, _)| first.starts_with("user"))
        .unwrap();
    let id = leaf.to_string();
    let full = ok(&["dump", "--page", &id], &path);
    assert!(full.contains(&format!("key {first} value")), "{full}");
    let cut = ok(&["dump", "--page", &id, "--max-bytes", "4"], &path);
    assert!(
        cut.contains("key user...(+5 bytes) value {\\\"na...(+8 bytes) (12 bytes)"),
        "{cut}"
    );
    let j = json(&["dump", "--page", &id, "--max-bytes", "4"], &path);
    assert_eq!(j["cells"][0]["key"], "user...(+5 bytes)");
    let hex = ok(&["dump", "--page", &id, "--max-bytes", "2", "--hex"], &path);
    assert!(hex.contains("key 7573...(+7 bytes)"), "{hex}");
}

/// `7-12 15` as `[(7, 12), (15, 15)]`.
fn parse_ranges(text: &str) -> Vec<(u64, u64)> {
    text.split(' ')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
            None => (r.parse().unwrap(), r.parse().unwrap()),
        })
        .collect()
}

#[test]
fn freelist_prints_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let text = ok(&["dump", "--freelist"], &path);
    let line = text
        .lines()
        .find(|l| l.starts_with("free pages ("))
        .unwrap_or_else(|| panic!("{text}"));
    let (count, ranges) = line
        .strip_prefix("free pages (")
        .and_then(|l| l.split_once("): "))
        .unwrap();
    let count: u64 = count.parse().unwrap();
    let ranges = parse_ranges(ranges);
    assert!(count >= 100, "the deleted tree freed {count} pages: {text}");
    assert!(
        ranges.len() * 4 < count as usize && line.len() < 200,
        "{line}"
    );
    // The ranges are sorted, apart, and add up to the count.
    assert!(ranges.windows(2).all(|w| w[0].1 + 1 < w[1].0), "{ranges:?}");
    assert!(ranges.iter().all(|(a, b)| a <= b), "{ranges:?}");
    assert_eq!(ranges.iter().map(|(a, b)| b - a + 1).sum::<u64>(), count);

    let j = json(&["dump", "--freelist"], &path);
    assert_eq!(j["free_count"], count);
    let json_ranges: Vec<(u64, u64)> = j["free_page_ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
        .collect();
    assert_eq!(json_ranges, ranges);
    // Small in JSON too: a line per range, not per id.
    let lines = ok(&["dump", "--freelist", "--json"], &path).lines().count();
    assert!(lines < ranges.len() + 20, "{lines} lines");
    // The pages themselves are free, so dumping one raises no alarm.
    let free_page = ok(&["dump", "--page", &ranges[0].0.to_string()], &path);
    assert!(free_page.contains("role       free"), "{free_page}");
    assert_no_alarm(&free_page, "a free page");
}

#[test]
fn key_and_prefix_find_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let one = ok(&["dump", "--tree", "users", "--key", "user01234"], &path);
    assert_eq!(
        one,
        "tree users: key user01234\n  user01234 = {\\\"name\\\":\\\"x\\\"}\n"
    );
    let none = ok(&["dump", "--tree", "users", "--key", "user99999"], &path);
    assert_eq!(none, "tree users: no entry with key user99999\n");

    // A binary key, typed as dump prints it, or in hex.
    let listed = ok(&["dump", "--tree", "users", "--prefix", "bin"], &path);
    assert!(
        listed.contains("  bin\\x00\\xff\\\\ = binary\n"),
        "{listed}"
    );
    let escaped = ok(
        &["dump", "--tree", "users", "--key", r"bin\x00\xff\\"],
        &path,
    );
    assert!(escaped.contains("= binary"), "{escaped}");
    let hex = ok(
        &["dump", "--tree", "users", "--hex", "--key", "62696e00ff5c"],
        &path,
    );
    assert!(hex.contains("  62696e00ff5c = 62696e617279\n"), "{hex}");
    let by_hex_prefix = ok(
        &["dump", "--tree", "users", "--hex", "--prefix", "62"],
        &path,
    );
    assert!(by_hex_prefix.starts_with("tree users: 1 entry with prefix 62\n"));

    let prefix = ok(&["dump", "--tree", "users", "--prefix", "user012"], &path);
    assert!(
        prefix.starts_with("tree users: 100 entries with prefix user012\n"),
        "{prefix}"
    );
    assert!(
        prefix.contains("  user01200 = ") && prefix.contains("  user01299 = "),
        "{prefix}"
    );
    assert!(
        !prefix.contains("user01199") && !prefix.contains("user01300"),
        "{prefix}"
    );
    let all = ok(&["dump", "--tree", "users", "--prefix", ""], &path);
    assert!(all.starts_with("tree users: 2001 entries"), "{all}");
    // A value in an overflow run is read, and cut at --max-bytes.
    let big = ok(
        &[
            "dump",
            "--tree",
            "blobs",
            "--key",
            "big",
            "--max-bytes",
            "3",
        ],
        &path,
    );
    assert!(
        big.contains("big = \\x07\\x07\\x07...(+19997 bytes)"),
        "{big}"
    );

    let j = json(&["dump", "--tree", "users", "--key", "user01234"], &path);
    assert_eq!(j["entries"].as_array().unwrap().len(), 1);
    assert_eq!(j["entries"][0]["value_len"], 12);
    let j = json(&["dump", "--tree", "users", "--prefix", "user012"], &path);
    assert_eq!(j["entries"].as_array().unwrap().len(), 100);

    for (args, what) in [
        (&["--key", r"bin\x0"][..], "not followed by two hex digits"),
        (&["--key", r"a\qb"], "unknown escape"),
        (&["--hex", "--key", "abc"], "even number of hex digits"),
        (&["--hex", "--prefix", "zz"], "not a hex byte"),
    ] {
        let mut full = vec!["dump", "--tree", "users"];
        full.extend_from_slice(args);
        let err = usage_error(&full, &path);
        assert!(err.contains(what), "{args:?}: {err}");
    }
}

#[test]
fn key_lookup_reads_only_the_pages_on_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let leaves = leaves(&path, "users");
    assert!(leaves.len() > 3, "{leaves:?}");
    // Damage the last leaf (the page id it gives itself): a walk of every
    // entry stops there, a lookup in the first leaf never reads it.
    let (last, _, _) = leaves.last().unwrap();
    let (_, first_key, _) = &leaves[0];
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[*last as usize * 4096 + 8] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let all = ok(&["dump", "--tree", "users", "--values"], &path);
    assert!(all.contains("walk stopped"), "{all}");
    let one = ok(&["dump", "--tree", "users", "--key", first_key], &path);
    assert!(
        one.contains(&format!("tree users: key {first_key}\n")) && !one.contains("walk stopped"),
        "{one}"
    );
    // Its page, in use, is reported.
    let page = ok(&["dump", "--page", &last.to_string()], &path);
    assert!(
        page.contains("MISMATCH") && page.contains("NOT THIS PAGE"),
        "{page}"
    );
}

/// Every number in `v`, with where it is.
fn numbers(v: &Value, at: &str, out: &mut Vec<(String, u64)>) {
    match v {
        Value::Number(n) => out.push((at.to_string(), n.as_u64().unwrap_or(0))),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| numbers(x, &format!("{at}[{i}]"), out)),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| numbers(x, &format!("{at}.{k}"), out)),
        _ => {}
    }
}

#[test]
fn every_json_form_parses_with_file_id_a_string() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    // A log to show: a commit after the checkpoint, copied while open.
    let copy = dir.path().join("copy.oak");
    let db = TestDb::with_options(no_auto_checkpoint(), &path);
    db.insert("users", b"late", b"in the log only").unwrap();
    for suffix in ["", ".wal0", ".wal1"] {
        std::fs::copy(
            format!("{}{suffix}", path.display()),
            format!("{}{suffix}", copy.display()),
        )
        .unwrap();
    }
    drop(db);

    let summary = json(&["dump"], &copy);
    let file_id = summary["header"]["file_id"].as_str().unwrap().to_string();
    assert_eq!(file_id.len(), 16, "{file_id}");
    assert!(u64::from_str_radix(&file_id, 16).is_ok(), "{file_id}");
    let leaf = leaves(&copy, "users")[0].0.to_string();
    let forms: Vec<Vec<&str>> = vec![
        vec!["dump"],
        vec!["dump", "--tree", "users"],
        vec!["dump", "--tree", "users", "--values"],
        vec!["dump", "--tree", "users", "--key", "user00007"],
        vec!["dump", "--tree", "users", "--prefix", "user000"],
        vec!["dump", "--tree", "catalog"],
        vec!["dump", "--page", "0"],
        vec!["dump", "--page", "1"],
        vec!["dump", "--page", "2"],
        vec!["dump", "--page", &leaf],
        vec!["dump", "--freelist"],
        vec!["dump", "--wal"],
        vec!["stats"],
    ];
    for form in &forms {
        let v = json(form, &copy);
        assert!(v.is_object(), "{form:?}");
        // No number a JavaScript reader would round: file_id is not one.
        let mut found = Vec::new();
        numbers(&v, "", &mut found);
        for (at, n) in found {
            assert!(n < 1 << 53, "{form:?}: {at} = {n}");
            assert!(!at.ends_with("file_id"), "{form:?}: {at} is a number");
        }
    }
    let wal = json(&["dump", "--wal"], &copy);
    // A file with a header repeats the data file's id (the other may be
    // empty: the log had not switched files).
    let ids: Vec<&Value> = wal["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["file_id"])
        .filter(|id| !id.is_null())
        .collect();
    assert!(!ids.is_empty(), "{wal}");
    for id in ids {
        assert_eq!(id.as_str(), Some(file_id.as_str()), "{wal}");
    }
    assert!(
        wal["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == "replay"),
        "{wal}"
    );
    let stats = json(&["stats"], &copy);
    assert_eq!(stats["file_id"].as_str(), Some(file_id.as_str()));
    assert_eq!(stats["trees"].as_array().unwrap().len(), 2);
    assert_eq!(stats["log_beyond_checkpoint"]["commits"], 1);
    let page0 = json(&["dump", "--page", "0"], &copy);
    assert_eq!(page0["header"]["file_id"].as_str(), Some(file_id.as_str()));
}

/// The txn id of the newest checkpoint, from `stats --json`.
fn checkpoint_txn(path: &Path) -> u64 {
    json(&["stats"], path)["checkpoint"]["txn_id"]
        .as_u64()
        .unwrap()
}

#[test]
fn check_and_stats_report_the_log_past_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.oak");
    // Open, as a server holds it, with commits since its checkpoint.
    let db = TestDb::with_options(no_auto_checkpoint(), &path);
    db.insert("users", b"first", b"x").unwrap();
    db.checkpoint().unwrap();
    let txn = checkpoint_txn(&path);
    for i in 0..120u32 {
        db.insert("users", format!("k{i:04}").as_bytes(), b"v")
            .unwrap();
    }
    let tail = format!(
        "log past checkpoint txn {txn}: 120 commits (txn {} to {}) in 120 records",
        txn + 1,
        txn + 120
    );

    let check = oakmap(&["check"], &path);
    let text = stdout(&check);
    assert_eq!(check.status.code(), Some(0), "{text}{}", stderr(&check));
    assert!(
        text.starts_with(&format!("checkpoint txn {txn} (meta slot ")),
        "{text}"
    );
    assert!(text.contains(&tail), "{text}");
    assert!(text.contains("they replay cleanly"), "{text}");
    assert!(
        text.contains("they do not include the log's commits"),
        "{text}"
    );

    let stats = ok(&["stats"], &path);
    assert!(
        stats.contains(&format!("checkpoint txn {txn} (meta slot ")),
        "{stats}"
    );
    assert!(
        stats.contains(&tail) && stats.contains("they replay cleanly"),
        "{stats}"
    );
    let j = json(&["stats"], &path);
    let log = &j["log_beyond_checkpoint"];
    assert_eq!(log["checkpoint_txn"], txn);
    assert_eq!(log["commits"], 120);
    assert_eq!(log["first_txn"], txn + 1);
    assert_eq!(log["last_txn"], txn + 120);
    assert_eq!(log["replays_cleanly"], true);
    assert!(log["bytes"].as_u64().unwrap() > 120 * 10, "{log}");
    let summary = ok(&["dump"], &path);
    assert!(summary.contains(&tail), "{summary}");

    // Damage the tenth record past the checkpoint in a copy: the nine
    // before it still replay, recovery as a whole would fail.
    let copy = dir.path().join("copy.oak");
    for suffix in ["", ".wal0", ".wal1"] {
        std::fs::copy(
            format!("{}{suffix}", path.display()),
            format!("{}{suffix}", copy.display()),
        )
        .unwrap();
    }
    db.close().unwrap();
    let wal = json(&["dump", "--wal"], &copy);
    let replay: Vec<&Value> = wal["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "replay")
        .collect();
    assert_eq!(replay.len(), 120);
    let tenth = replay[9];
    let wal_path = wal["files"][tenth["file"].as_u64().unwrap() as usize]["path"]
        .as_str()
        .unwrap()
        .replace("live.oak", "copy.oak");
    let mut bytes = std::fs::read(&wal_path).unwrap();
    let at = tenth["offset"].as_u64().unwrap() + tenth["len"].as_u64().unwrap() / 2;
    bytes[at as usize] ^= 0xff;
    std::fs::write(&wal_path, &bytes).unwrap();

    let check = oakmap(&["check"], &copy);
    let text = stdout(&check);
    assert_eq!(check.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "log past checkpoint txn {txn}: 9 commits (txn {} to {})",
            txn + 1,
            txn + 9
        )) && text.contains("before a problem; RECOVERY WOULD FAIL"),
        "{text}"
    );
    let j = json(&["stats"], &copy);
    assert_eq!(j["log_beyond_checkpoint"]["commits"], 9);
    assert_eq!(j["log_beyond_checkpoint"]["replays_cleanly"], false);

    // After a clean close, the log holds nothing past the checkpoint.
    let closed = ok(&["check"], &path);
    assert!(
        closed.contains("nothing (the checkpoint was written by a clean close"),
        "{closed}"
    );
    assert!(!closed.contains("do not include"), "{closed}");
}
