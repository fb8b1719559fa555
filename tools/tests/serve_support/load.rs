//! Clients that remember what they were answered. Each [`Writer`] SETs and
//! INCRs keys of its own, a few pipelined at a time, applies every write
//! the server acknowledged to its model, and keeps the writes it sent but
//! was not answered for when the connection ended (in flight). After a
//! restart, [`Writer::reconcile`] holds the database to the model: every
//! acknowledged write is there, and of the writes in flight a prefix in
//! sending order and nothing else (a connection's writes commit in order;
//! a value half written, or a later write kept without an earlier one,
//! matches no prefix).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::{Raw, Resp, Rng};

/// One write, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    Set { key: String, value: Vec<u8> },
    Incr { key: String },
}

/// A writer's keys as the server has acknowledged them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Model {
    values: BTreeMap<String, Vec<u8>>,
    counters: BTreeMap<String, i64>,
}

impl Model {
    fn apply(&mut self, write: &Write) {
        match write {
            Write::Set { key, value } => {
                self.values.insert(key.clone(), value.clone());
            }
            Write::Incr { key } => *self.counters.entry(key.clone()).or_insert(0) += 1,
        }
    }

    /// What `key` holds in this model.
    fn holds(&self, key: &str) -> Option<Vec<u8>> {
        self.values
            .get(key)
            .cloned()
            .or_else(|| self.counters.get(key).map(|n| n.to_string().into_bytes()))
    }
}

/// Keys a writer SETs, and counters it INCRs.
const KEYS: usize = 24;
const COUNTERS: usize = 3;
/// Writes sent at once, at most.
const PIPELINE_MAX: u64 = 8;
/// Value sizes, to reach overflow pages as well as small cells.
const VALUE_BYTES: &[usize] = &[0, 16, 16, 16, 200, 3_000, 9_000];

/// One client and what it knows.
pub struct Writer {
    pub id: usize,
    model: Model,
    in_flight: Vec<Write>,
    seq: u64,
    rng: Rng,
    /// Writes acknowledged over the writer's life.
    pub acked: u64,
}

impl Writer {
    pub fn new(id: usize, seed: u64) -> Writer {
        Writer {
            id,
            model: Model::default(),
            in_flight: Vec::new(),
            seq: 0,
            rng: Rng::new(seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            acked: 0,
        }
    }

    fn keys(&self) -> Vec<String> {
        let sets = (0..KEYS).map(|j| format!("w{}:k{j:02}", self.id));
        let counters = (0..COUNTERS).map(|j| format!("w{}:n{j}", self.id));
        sets.chain(counters).collect()
    }

    fn next_write(&mut self) -> Write {
        self.seq += 1;
        let pick = self.rng.below((KEYS + COUNTERS) as u64) as usize;
        if pick >= KEYS {
            return Write::Incr {
                key: format!("w{}:n{}", self.id, pick - KEYS),
            };
        }
        let key = format!("w{}:k{pick:02}", self.id);
        let len = VALUE_BYTES[self.rng.below(VALUE_BYTES.len() as u64) as usize];
        let mut value = format!("{key}:s{}|", self.seq).into_bytes();
        value.extend((0..len).map(|i| (self.seq as u8).wrapping_add(i as u8)));
        Write::Set { key, value }
    }

    /// The reply an acknowledgement of `write` must be, given the model.
    fn expected(&self, write: &Write) -> Resp {
        match write {
            Write::Set { .. } => Resp::ok(),
            Write::Incr { key } => Resp::Integer(self.model.counters.get(key).unwrap_or(&0) + 1),
        }
    }

    /// Writes to the server at `addr` until the connection fails (the
    /// server was killed or stopped), keeping what was acknowledged and
    /// what was in flight. An error reply (a stopping server refuses new
    /// writes) counts as in flight, as do the writes after it.
    pub fn run(&mut self, addr: SocketAddr) {
        assert!(self.in_flight.is_empty(), "reconciled before writing again");
        let Ok(mut raw) = Raw::connect(addr) else {
            return;
        };
        loop {
            let batch: Vec<Write> = (0..self.rng.below(PIPELINE_MAX) + 1)
                .map(|_| self.next_write())
                .collect();
            let packet: Vec<u8> = batch.iter().flat_map(encode).collect();
            if raw.send(&packet).is_err() {
                self.in_flight = batch;
                return;
            }
            for (i, write) in batch.iter().enumerate() {
                match raw.reply() {
                    Ok(reply) if reply == self.expected(write) => {
                        self.model.apply(write);
                        self.acked += 1;
                    }
                    Ok(Resp::Error(_)) | Err(_) => {
                        self.in_flight = batch[i..].to_vec();
                        return;
                    }
                    Ok(other) => panic!(
                        "writer {}: {write:?} was answered {other:?}, not {:?}",
                        self.id,
                        self.expected(write)
                    ),
                }
            }
        }
    }

    /// Reads this writer's keys from a restarted server and checks them
    /// against the model: the acknowledged state plus some prefix of the
    /// writes in flight. Adopts that state and returns how many in-flight
    /// writes the server kept; or says what no prefix explains.
    pub fn reconcile(&mut self, raw: &mut Raw) -> Result<usize, String> {
        let keys = self.keys();
        let mut mget: Vec<&[u8]> = vec![b"MGET"];
        mget.extend(keys.iter().map(|k| k.as_bytes()));
        let Ok(Resp::Array(values)) = raw.command(&mget) else {
            return Err(format!("writer {}: MGET failed", self.id));
        };
        let found: Vec<Option<Vec<u8>>> = values
            .into_iter()
            .map(|v| match v {
                Resp::Bulk(b) => Some(b),
                _ => None,
            })
            .collect();
        let mut candidate = self.model.clone();
        for kept in 0..=self.in_flight.len() {
            if kept > 0 {
                candidate.apply(&self.in_flight[kept - 1]);
            }
            if keys
                .iter()
                .zip(&found)
                .all(|(k, v)| candidate.holds(k) == *v)
            {
                self.model = candidate;
                self.in_flight.clear();
                return Ok(kept);
            }
        }
        let differ: Vec<String> = keys
            .iter()
            .zip(&found)
            .filter(|(k, v)| self.model.holds(k) != **v)
            .map(|(k, v)| {
                format!(
                    "{k}: acknowledged {:?}, found {:?}",
                    short(&self.model.holds(k)),
                    short(v)
                )
            })
            .collect();
        Err(format!(
            "writer {}: no prefix of its {} writes in flight explains the state; {differ:?}",
            self.id,
            self.in_flight.len()
        ))
    }

    /// Keys this writer has written, by its model.
    pub fn keys_present(&self) -> usize {
        self.model.values.len() + self.model.counters.len()
    }
}

fn encode(write: &Write) -> Vec<u8> {
    match write {
        Write::Set { key, value } => super::raw::encode(&[b"SET", key.as_bytes(), value]),
        Write::Incr { key } => super::raw::encode(&[b"INCR", key.as_bytes()]),
    }
}

/// The start of a value, for messages.
fn short(v: &Option<Vec<u8>>) -> Option<String> {
    v.as_ref()
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(40)]).into_owned())
}
