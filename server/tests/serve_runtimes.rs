//! Guards embedding: `Server::run` serves every command on whichever Tokio
//! runtime the embedding program has, a current-thread one included
//! (what `#[tokio::main(flavor = "current_thread")]` gives).

mod harness;

use std::sync::Arc;

use harness::{Raw, Resp};
use oakmap_server::{Config, Server};

/// Serves on a current-thread runtime and runs `check` against it.
fn on_current_thread(check: impl FnOnce(&mut Raw)) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(oakmap::Db::open(dir.path().join("serve.oak")).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, started) = std::sync::mpsc::channel();
    let server_db = db.clone();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let config = Config::new("127.0.0.1:0".parse().unwrap());
            let server = Server::bind(server_db, config).await.unwrap();
            ready.send(server.local_addr()).unwrap();
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
    });
    let mut raw = Raw::connect(started.recv().unwrap()).unwrap();
    check(&mut raw);
    drop(stop);
    server.join().unwrap();
    let db = Arc::into_inner(db).unwrap();
    assert!(db.check().unwrap().is_clean());
    db.close().unwrap();
}

#[test]
fn short_commands_are_served_on_a_current_thread_runtime() {
    on_current_thread(|raw| {
        assert_eq!(raw.cmd(&["SET", "k", "v"]), Resp::ok());
        assert_eq!(raw.cmd(&["GET", "k"]), Resp::bulk("v"));
        assert_eq!(
            raw.cmd(&["RANGE", "-", "+", "LIMIT", "10"]),
            Resp::bulks(["k"])
        );
    });
}

/// The reads that may walk much of the keyspace (KEYS, SCAN with a large
/// COUNT, RANGE without a small LIMIT) are served too.
#[test]
fn long_reads_are_served_on_a_current_thread_runtime() {
    on_current_thread(|raw| {
        assert_eq!(raw.cmd(&["SET", "k", "v"]), Resp::ok());
        assert_eq!(raw.cmd(&["KEYS", "*"]), Resp::bulks(["k"]));
        assert_eq!(raw.cmd(&["RANGE", "-", "+"]), Resp::bulks(["k"]));
        assert_eq!(
            raw.cmd(&["SCAN", "0", "COUNT", "5000"]),
            Resp::Array(vec![Resp::bulk("0"), Resp::bulks(["k"])])
        );
    });
}
