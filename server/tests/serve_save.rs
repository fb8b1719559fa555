//! Guards `SAVE`: with a save path it answers OK once a backup of the
//! newest state (the connection's own writes before it included) is
//! durable there, replacing the last one, while other connections go on
//! writing; without one it answers an error saying how to set it.

mod harness;

use std::path::Path;

use harness::{Oak, Resp};
use oakmap::Db;

/// The keys of Redis database `n` in the copy at `path`, which must open
/// with nothing to replay and pass the check.
fn saved_keys(path: &Path, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = Db::open(path).unwrap();
    assert_eq!(db.stats().unwrap().replayed_commits, 0);
    assert!(db.check().unwrap().is_clean());
    let rx = db.begin_read();
    let Some(tree) = rx.tree(oakmap_server::tree_name(n)).unwrap() else {
        return Vec::new();
    };
    tree.iter()
        .unwrap()
        .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect()
}

#[test]
fn save_without_a_path_says_how_to_set_one() {
    let oak = Oak::start();
    let mut c = oak.raw();
    match c.cmd(&["SAVE"]) {
        Resp::Error(text) => assert!(text.contains("--save-path"), "{text}"),
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(
        c.cmd(&["SAVE", "extra"]),
        Resp::error("ERR wrong number of arguments for 'save' command")
    );
    oak.finish();
}

#[test]
fn save_writes_a_closed_copy_with_the_writes_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.oak");
    let save_path = path.clone();
    let oak = Oak::start_with(move |config| config.save_path = Some(save_path));
    let mut c = oak.raw();
    // Pipelined: the SETs are queued for the writer when SAVE arrives, and
    // the copy still holds them.
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend(harness::raw::encode(&[
            b"SET",
            format!("k{i:03}").as_bytes(),
            b"v1",
        ]));
    }
    batch.extend(harness::raw::encode(&[b"SAVE"]));
    c.send(&batch).unwrap();
    for _ in 0..100 {
        assert_eq!(c.reply().unwrap(), Resp::ok());
    }
    assert_eq!(c.reply().unwrap(), Resp::ok());
    let keys = saved_keys(&path, 0);
    assert_eq!(keys.len(), 100);
    assert!(keys.iter().all(|(_, v)| v == b"v1"));

    // A second SAVE replaces the first copy, while another connection
    // writes to database 3.
    let writer = {
        let mut w = oak.raw();
        std::thread::spawn(move || {
            assert_eq!(w.cmd(&["SELECT", "3"]), Resp::ok());
            for i in 0..300 {
                assert_eq!(w.cmd(&["SET", &format!("w{i}"), "x"]), Resp::ok());
            }
        })
    };
    assert_eq!(c.cmd(&["DEL", "k000"]), Resp::Integer(1));
    assert_eq!(c.cmd(&["SAVE"]), Resp::ok());
    writer.join().unwrap();
    let keys = saved_keys(&path, 0);
    assert_eq!(keys.len(), 99);
    assert_eq!(keys[0].0, b"k001");
    // Whatever the writer had committed when the snapshot was taken: its
    // first n keys (it sends each SET after the last one's reply).
    let mut got: Vec<Vec<u8>> = saved_keys(&path, 3).into_iter().map(|(k, _)| k).collect();
    let mut want: Vec<Vec<u8>> = (0..got.len())
        .map(|i| format!("w{i}").into_bytes())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(c.cmd(&["SAVE"]), Resp::ok());
    assert_eq!(saved_keys(&path, 3).len(), 300);
    oak.finish();
}
