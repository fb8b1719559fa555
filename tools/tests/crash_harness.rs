//! Guards the kill harness: `oakmap crash-test` runs 1,000 kills of a child
//! (one or four writer threads, every durability mode; some kills during
//! checkpoints, some during recovery, some in the middle of a compaction)
//! in CI and finds no violation.
//! `OAKMAP_CRASH_KILLS=N` runs more (soak).

use std::process::Command;

#[test]
fn a_thousand_kills_without_a_violation() {
    let kills: u64 = std::env::var("OAKMAP_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .args([
            "crash-test",
            "--iterations",
            &kills.to_string(),
            "--seed",
            "7",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // The harness keeps the violating database in `dir`: keep `dir`
        // too, or the image is gone with the test's temporary directory.
        let kept = dir.keep();
        panic!(
            "crash-test failed (its directory kept: {}):\n{stdout}\n{stderr}",
            kept.display()
        );
    }
    assert!(stdout.contains(&format!("{kills} kills")), "{stdout}");
    assert!(stdout.contains(" 0 violations"), "{stdout}");
    let compacting: u64 = stdout
        .split(" during a compaction")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        compacting * 20 >= kills,
        "few kills landed during a compaction: {stdout}"
    );
    eprintln!("{stdout}");
}
