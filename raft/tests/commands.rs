//! The state machine applies every command as a model of the keyspace (a
//! `BTreeMap` with Redis's semantics) does, reply for reply and key for
//! key, over random commands in random batches, FLUSHDB among them.

mod common;

use std::collections::BTreeMap;

use common::{assert_clean, contents, normal, open};
use oakmap_raft::{Request, Response, SetWhen};
use openraft::storage::RaftStateMachine;

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One of 40 keys, so that commands meet each other's keys.
    fn key(&mut self) -> Vec<u8> {
        format!("k{}", self.below(40)).into_bytes()
    }

    /// A value: often a number (for INCRBY), sometimes text.
    fn value(&mut self) -> Vec<u8> {
        match self.below(3) {
            0 => format!("v{}", self.below(1000)).into_bytes(),
            _ => (self.below(200) as i64 - 100).to_string().into_bytes(),
        }
    }

    fn request(&mut self) -> Request {
        match self.below(100) {
            0..=16 => Request::Set {
                key: self.key(),
                value: self.value(),
            },
            17..=24 => Request::SetWith {
                key: self.key(),
                value: self.value(),
                when: [None, Some(SetWhen::Absent), Some(SetWhen::Present)][self.below(3) as usize],
                get: self.below(2) == 0,
            },
            25..=34 => Request::SetNx {
                key: self.key(),
                value: self.value(),
            },
            35..=42 => Request::GetSet {
                key: self.key(),
                value: self.value(),
            },
            43..=49 => Request::GetDel { key: self.key() },
            50..=53 => {
                let n = self.below(4) + 1;
                Request::MSet {
                    pairs: (0..n).map(|_| (self.key(), self.value())).collect(),
                }
            }
            54..=57 => {
                let n = self.below(3) + 1;
                Request::MSetNx {
                    pairs: (0..n).map(|_| (self.key(), self.value())).collect(),
                }
            }
            58..=67 => {
                let n = self.below(4) + 1;
                Request::Del {
                    keys: (0..n).map(|_| self.key()).collect(),
                }
            }
            68..=84 => {
                let by = match self.below(10) {
                    0 => i64::MAX,
                    1 => i64::MIN,
                    _ => self.below(21) as i64 - 10,
                };
                Request::IncrBy {
                    key: self.key(),
                    by,
                }
            }
            85..=98 => Request::Append {
                key: self.key(),
                tail: self.value(),
            },
            _ => Request::FlushDb,
        }
    }
}

/// What Redis does with each command, on a map.
fn model(map: &mut BTreeMap<Vec<u8>, Vec<u8>>, request: &Request) -> Response {
    match request {
        Request::Set { key, value } => {
            map.insert(key.clone(), value.clone());
            Response::Ok
        }
        Request::SetWith {
            key,
            value,
            when,
            get,
        } => {
            let old = map.get(key).cloned();
            let set = match when {
                None => true,
                Some(SetWhen::Absent) => old.is_none(),
                Some(SetWhen::Present) => old.is_some(),
            };
            if set {
                map.insert(key.clone(), value.clone());
            }
            match (get, set) {
                (true, _) => Response::Value(old),
                (false, true) => Response::Ok,
                (false, false) => Response::Value(None),
            }
        }
        Request::MSetNx { pairs } => {
            if pairs.iter().any(|(k, _)| map.contains_key(k)) {
                return Response::Integer(0);
            }
            for (k, v) in pairs {
                map.insert(k.clone(), v.clone());
            }
            Response::Integer(1)
        }
        Request::SetNx { key, value } => {
            if map.contains_key(key) {
                Response::Integer(0)
            } else {
                map.insert(key.clone(), value.clone());
                Response::Integer(1)
            }
        }
        Request::GetSet { key, value } => Response::Value(map.insert(key.clone(), value.clone())),
        Request::GetDel { key } => Response::Value(map.remove(key)),
        Request::MSet { pairs } => {
            for (k, v) in pairs {
                map.insert(k.clone(), v.clone());
            }
            Response::Ok
        }
        Request::Del { keys } => {
            Response::Integer(keys.iter().filter(|k| map.remove(*k).is_some()).count() as i64)
        }
        Request::IncrBy { key, by } => {
            let old = match map.get(key) {
                None => 0,
                Some(v) => match std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    // The generator writes only canonical integers.
                    Some(n) => n,
                    None => {
                        return Response::Error(
                            "ERR value is not an integer or out of range".into(),
                        );
                    }
                },
            };
            match old.checked_add(*by) {
                Some(new) => {
                    map.insert(key.clone(), new.to_string().into_bytes());
                    Response::Integer(new)
                }
                None => Response::Error("ERR increment or decrement would overflow".into()),
            }
        }
        Request::Append { key, tail } => {
            let v = map.entry(key.clone()).or_default();
            v.extend_from_slice(tail);
            Response::Integer(v.len() as i64)
        }
        Request::FlushDb => {
            map.clear();
            Response::Ok
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_apply_as_the_model_says() {
    let dir = tempfile::tempdir().expect("dir");
    let (_log, mut sm) = open(dir.path());
    let mut rng = Rng(0x0a4b_6d61_7072_6166);
    let mut map = BTreeMap::new();
    let mut index = 0;
    for batch in 0..200 {
        let n = rng.below(30) + 1;
        let requests: Vec<Request> = (0..n).map(|_| rng.request()).collect();
        let entries = requests.iter().map(|r| {
            index += 1;
            normal(1, index, r.clone())
        });
        let got = sm.apply(entries.collect::<Vec<_>>()).await.expect("apply");
        let want: Vec<Response> = requests.iter().map(|r| model(&mut map, r)).collect();
        assert_eq!(got, want, "batch {batch}: {requests:?}");
        assert_eq!(contents(&sm), map, "batch {batch}");
        let (applied, _) = sm.applied_state().await.expect("applied");
        assert_eq!(applied.map(|id| id.index), Some(index));
    }
    assert_clean(&sm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_over_the_limits_is_refused_whole() {
    let dir = tempfile::tempdir().expect("dir");
    let (_log, mut sm) = open(dir.path());
    let long_key = vec![b'k'; sm.db().key_bytes_max() + 1];
    let refused = [
        Request::Set {
            key: long_key.clone(),
            value: b"v".to_vec(),
        },
        // The first pair is fine, the second is not: neither is written.
        Request::MSet {
            pairs: vec![
                (b"fine".to_vec(), b"v".to_vec()),
                (long_key.clone(), b"v".to_vec()),
            ],
        },
        Request::Del {
            keys: vec![long_key],
        },
    ];
    let entries: Vec<_> = refused
        .iter()
        .enumerate()
        .map(|(i, r)| normal(1, i as u64 + 1, r.clone()))
        .collect();
    let got = sm.apply(entries).await.expect("apply");
    for (request, response) in refused.iter().zip(&got) {
        assert!(
            matches!(response, Response::Error(e) if e.contains("key_bytes_max")),
            "{request:?}: {response:?}"
        );
    }
    assert!(contents(&sm).is_empty());
    assert_eq!(
        sm.applied_state()
            .await
            .expect("applied")
            .0
            .map(|id| id.index),
        Some(3)
    );
    assert_clean(&sm);
}
