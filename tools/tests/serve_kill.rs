//! Guards `oakmap serve`'s promise that a reply to a write means the write
//! is durable: clients SET and INCR with acknowledgements, pipelined, while
//! the server is SIGKILLed at random moments, 50 times (`OAKMAP_SERVE_KILLS=N`
//! for a soak), in each durability mode in turn, with a kill while it
//! opens every fifth round. After each kill `oakmap check` finds the file
//! clean and the restarted server holds every acknowledged write and, of
//! the writes in flight, a prefix: no torn value, no later write kept
//! without an earlier one, no counter below its last answer.

mod serve_support;

use std::time::{Duration, Instant};

use serve_support::load::Writer;
use serve_support::{Resp, Rng, Served, check, spawn};

const WRITERS: usize = 4;
const KILLS_DEFAULT: usize = 50;
/// `--durability` by round: a process crash loses nothing in any mode.
const DURABILITIES: [&str; 3] = ["immediate", "group:5ms", "none"];

fn kills() -> usize {
    std::env::var("OAKMAP_SERVE_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(KILLS_DEFAULT)
}

/// What the kills came to.
#[derive(Default)]
struct Tally {
    under_load: usize,
    while_opening: usize,
    in_flight_kept: usize,
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let seed = serve_support::seed("OAKMAP_SERVE_SEED");
    eprintln!("serve_kill: seed {seed} (OAKMAP_SERVE_SEED={seed} replays the choices)");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.oak");
    let mut rng = Rng::new(seed);
    let mut writers: Vec<Writer> = (0..WRITERS).map(|i| Writer::new(i, seed)).collect();
    let mut tally = Tally::default();
    let began = Instant::now();
    for round in 0..kills() {
        let fail = |what: String| -> ! { panic!("seed {seed}, round {round}: {what}") };
        // A small log bound and a short interval: checkpoints run all the
        // time, so kills land inside them too.
        let durability = [
            "--durability",
            DURABILITIES[round % DURABILITIES.len()],
            "--wal-bytes-max",
            "262144",
            "--checkpoint-interval-ms",
            "50",
        ];
        if round % 5 == 4 {
            // A kill while the server opens the file and replays its log.
            let mut child = spawn(&file, &durability);
            std::thread::sleep(Duration::from_millis(rng.below(20)));
            child.kill().unwrap();
            child.wait().unwrap();
            tally.while_opening += 1;
            check(&file).unwrap_or_else(|e| fail(format!("after a kill while opening: {e}")));
        }
        let served = Served::start(&file, &durability);
        verify(&served, &mut writers, &mut tally).unwrap_or_else(|e| fail(e));
        let addr = served.addr();
        let running: Vec<_> = writers
            .drain(..)
            .map(|mut w| {
                std::thread::spawn(move || {
                    w.run(addr);
                    w
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.below(150)));
        served.kill();
        tally.under_load += 1;
        writers = running.into_iter().map(|t| t.join().unwrap()).collect();
        check(&file).unwrap_or_else(|e| fail(format!("after the kill: {e}")));
    }
    let served = Served::start(&file, &[]);
    verify(&served, &mut writers, &mut tally)
        .unwrap_or_else(|e| panic!("seed {seed}, at the end: {e}"));
    served.signal("TERM");
    let (status, log) = served.wait();
    assert!(
        status.success(),
        "a clean stop at the end: {status}, {log:?}"
    );
    check(&file).unwrap();
    let acked: u64 = writers.iter().map(|w| w.acked).sum();
    eprintln!(
        "serve_kill: {} SIGKILLs under load and {} while opening; {acked} acknowledged writes \
         verified, {} writes in flight found kept; {:.1} s",
        tally.under_load,
        tally.while_opening,
        tally.in_flight_kept,
        began.elapsed().as_secs_f64()
    );
    assert!(
        acked >= tally.under_load as u64,
        "the writers wrote between kills"
    );
}

/// Holds a freshly started server to every writer's model, and the key
/// count to their sum.
fn verify(served: &Served, writers: &mut [Writer], tally: &mut Tally) -> Result<(), String> {
    if let Some(line) = served.log().iter().find(|l| l.contains("LOG LOSS")) {
        return Err(format!("the server accepted a loss: {line}"));
    }
    let mut raw = served.raw();
    for w in writers.iter_mut() {
        tally.in_flight_kept += w.reconcile(&mut raw)?;
    }
    let present: usize = writers.iter().map(Writer::keys_present).sum();
    match raw.cmd(&["DBSIZE"]) {
        Resp::Integer(n) if n == present as i64 => Ok(()),
        other => Err(format!(
            "DBSIZE {other:?}, but the writers wrote {present} keys"
        )),
    }
}
