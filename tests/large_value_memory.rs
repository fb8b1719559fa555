//! Guards memory against a value too large for the log: it is written to
//! its overflow run and never copied into the transaction's WAL record, so
//! inserting it raises the process's peak memory by far less than its size.
//! One test per file: it reads this process's accounting.

mod common;

use std::time::Duration;

use common::TestDb;
use oakmap::Options;

const VALUE_BYTES: usize = 128 << 20;

/// A field of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .expect("status line");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Resets the peak resident size (`VmHWM`) to the current one.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
}

#[test]
fn a_value_too_large_for_the_log_is_not_copied_into_the_record() {
    // The integrity check runs when `db` drops, after the measurement.
    let db = TestDb::temp(
        Options::new()
            .cache_bytes(4 << 20)
            .wal_bytes_max(1 << 20)
            .checkpoint_interval(Duration::from_secs(3600)),
    );
    let value: Vec<u8> = (0..VALUE_BYTES).map(|i| (i % 251) as u8).collect();
    let mut tx = db.begin_write().unwrap();
    let mut t = tx.open_tree("t").unwrap();
    t.insert(b"small", b"logged").unwrap();
    reset_peak();
    let before = status_bytes("VmRSS:");
    t.insert(b"big", &value).unwrap();
    let grown = status_bytes("VmHWM:").saturating_sub(before);
    tx.commit().unwrap();
    eprintln!(
        "inserting a {} MiB value raised peak memory by {} MiB",
        VALUE_BYTES >> 20,
        grown >> 20
    );
    assert!(
        grown < (VALUE_BYTES / 4) as u64,
        "inserting a {} MiB value raised peak memory by {} MiB",
        VALUE_BYTES >> 20,
        grown >> 20
    );
    let rx = db.begin_read();
    let t = rx.tree("t").unwrap().unwrap();
    assert!(t.get(b"big").unwrap() == Some(&value[..]));
    assert_eq!(t.get(b"small").unwrap(), Some(&b"logged"[..]));
}
