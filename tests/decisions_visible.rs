//! A one-call write that changes nothing still answers from a state: the
//! value `get_or_insert` found, the conflict `compare_and_swap` reports,
//! the absence `remove` reports. That state may belong to a commit still
//! waiting for its fsync; the answer must not come before that commit is
//! published, or a read right after it contradicts it (and under
//! `Immediate`, a crash could take the commit back).

mod common;

use std::sync::Barrier;

use common::TestDb;
use oakmap::{Durability, Options};

const ROUNDS: u32 = 300;

fn db() -> TestDb {
    TestDb::temp(Options::new().durability(Durability::Immediate))
}

#[test]
fn a_value_get_or_insert_found_is_visible_when_it_returns() {
    let db = db();
    let barrier = Barrier::new(2);
    let mut violations = Vec::new();
    std::thread::scope(|s| {
        let racers: Vec<_> = (0..2u8)
            .map(|who| {
                let (db, barrier) = (&db, &barrier);
                s.spawn(move || {
                    let mut seen_none = Vec::new();
                    for round in 0..ROUNDS {
                        let key = round.to_be_bytes();
                        barrier.wait();
                        let r = db.get_or_insert("t", &key, &[who]).unwrap();
                        if !r.inserted
                            && db.get("t", &key).unwrap().as_deref() != Some(&r.value[..])
                        {
                            seen_none.push(round);
                        }
                    }
                    seen_none
                })
            })
            .collect();
        for r in racers {
            violations.extend(r.join().unwrap());
        }
    });
    assert!(
        violations.is_empty(),
        "{} of {ROUNDS} losers could not read the value they were given (rounds {:?}...)",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
}

#[test]
fn a_conflict_compare_and_swap_reports_is_visible_when_it_returns() {
    let db = db();
    let barrier = Barrier::new(2);
    let mut violations = 0;
    std::thread::scope(|s| {
        let racers: Vec<_> = (0..2u8)
            .map(|who| {
                let (db, barrier) = (&db, &barrier);
                s.spawn(move || {
                    let mut bad = 0;
                    for round in 0..ROUNDS {
                        let key = round.to_be_bytes();
                        barrier.wait();
                        if let Err(conflict) =
                            db.compare_and_swap("t", &key, None, Some(&[who])).unwrap()
                            && db.get("t", &key).unwrap() != conflict.current
                        {
                            bad += 1;
                        }
                    }
                    bad
                })
            })
            .collect();
        for r in racers {
            violations += r.join().unwrap();
        }
    });
    assert_eq!(
        violations, 0,
        "losers read other than the conflict they were told of"
    );
}
