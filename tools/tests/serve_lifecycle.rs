//! Guards `oakmap serve`'s life as a process: the line it logs at start
//! (address, file, durability, the commit it opened at); a second server on
//! the same file refused with a clear message; and a stop by SIGTERM (with
//! writes in flight), SIGINT or SHUTDOWN that answers what was in flight,
//! exits 0, logs its stop line and leaves a file closed cleanly, with
//! nothing for the next open to replay.

mod serve_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serve_support::load::Writer;
use serve_support::{Resp, Served, check};

const STOP_LINE: &str = "oakmap serve: stopped; database closed cleanly";

/// Asserts the file was closed cleanly: `oakmap dump --json` shows the
/// newest meta slot marked clean and no log records to replay.
fn assert_closed_cleanly(file: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .args(["dump", "--json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "oakmap dump: {out:?}");
    let dump: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let newest = dump["meta_slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["newest"] == true)
        .expect("a newest meta slot");
    assert_eq!(newest["clean"], true, "closed cleanly: {newest}");
    assert_eq!(
        dump["wal"]["recovery"], 0,
        "nothing to replay: {}",
        dump["wal"]
    );
    check(file).unwrap();
}

/// The commit number in the start line (`opened at commit N`).
fn opened_at(log: &[String]) -> u64 {
    let line = log
        .iter()
        .find(|l| l.contains("listening on"))
        .expect("a start line");
    let rest = line.split_once("opened at commit ").expect("the commit").1;
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn the_start_line_says_where_what_and_how() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.oak");
    let served = Served::start(&file, &["--durability", "group:5ms"]);
    let log = served.log();
    let line = &log[0];
    assert!(
        line.contains(&format!("listening on {}", served.addr())),
        "{line}"
    );
    assert!(line.contains(&format!("file {}", file.display())), "{line}");
    assert!(line.contains("durability group:5ms"), "{line}");
    assert_eq!(opened_at(&log), 0, "a new file: {line}");
    let mut raw = served.raw();
    for i in 0..10 {
        assert_eq!(raw.cmd(&["SET", &format!("k{i}"), "v"]), Resp::ok());
    }
    served.signal("TERM");
    served.wait();
    let served = Served::start(&file, &[]);
    let log = served.log();
    assert!(opened_at(&log) >= 10, "reopened after the writes: {log:?}");
    assert!(log[0].contains("durability always"), "{log:?}");
    assert_eq!(served.raw().cmd(&["GET", "k9"]), Resp::bulk("v"));
}

#[test]
fn a_second_server_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.oak");
    let first = Served::start(&file, &[]);
    assert_eq!(first.raw().cmd(&["SET", "k", "v"]), Resp::ok());
    let refused = Served::try_start(&file, &[])
        .err()
        .expect("the second server is refused");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let text = refused.log.join("\n");
    assert!(
        text.contains(&file.display().to_string()),
        "names the file: {text}"
    );
    assert!(
        text.contains("already open by another process"),
        "says why: {text}"
    );
    // The first goes on undisturbed.
    assert_eq!(first.raw().cmd(&["GET", "k"]), Resp::bulk("v"));
}

/// SIGTERM while eight clients write: the server exits 0 with its stop
/// line, and the file, closed cleanly, holds every answered write (and of
/// those in flight, a prefix per client).
#[test]
fn sigterm_with_writes_in_flight_keeps_every_answered_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.oak");
    let served = Served::start(&file, &[]);
    let addr = served.addr();
    let running: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let mut w = Writer::new(i, 0x0a4b);
                w.run(addr);
                w
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    served.signal("TERM");
    let (status, log) = served.wait();
    let mut writers: Vec<Writer> = running.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(status.success(), "exit 0: {status}, {log:?}");
    assert_eq!(log.last().map(String::as_str), Some(STOP_LINE), "{log:?}");
    assert_closed_cleanly(&file);
    let served = Served::start(&file, &[]);
    let mut raw = served.raw();
    for w in &mut writers {
        w.reconcile(&mut raw).unwrap();
    }
    let acked: u64 = writers.iter().map(|w| w.acked).sum();
    assert!(acked > 0, "writes were answered before the stop");
}

/// SIGINT and SHUTDOWN stop the server as SIGTERM does.
#[test]
fn sigint_and_shutdown_stop_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.oak");
    for (stops, how) in [(1, "INT"), (2, "SHUTDOWN")] {
        let served = Served::start(&file, &[]);
        let mut raw = served.raw();
        assert_eq!(raw.cmd(&["INCR", "stops"]), Resp::Integer(stops));
        if how == "SHUTDOWN" {
            raw.send(&serve_support::raw::encode(&[b"SHUTDOWN"]))
                .unwrap();
            assert_eq!(raw.read_to_end().unwrap(), b"", "no reply to SHUTDOWN");
        } else {
            served.signal(how);
        }
        let (status, log) = served.wait();
        assert!(status.success(), "{how}: exit 0: {status}, {log:?}");
        assert_eq!(
            log.last().map(String::as_str),
            Some(STOP_LINE),
            "{how}: {log:?}"
        );
        assert_closed_cleanly(&file);
    }
    let served = Served::start(&file, &[]);
    assert_eq!(served.raw().cmd(&["GET", "stops"]), Resp::bulk("2"));
}
