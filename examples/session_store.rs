//! A session store shared by many threads: the scene oakmap is built for.
//!
//! Worker threads create sessions, read them back and extend them; an
//! expirer thread removes the sessions whose time is up; an auditor thread
//! reads snapshots and checks that the two trees agree. Every write is a
//! durable transaction (`Durability::Immediate`: `commit` returns once the
//! write-ahead log is fsynced, and commits from several threads share one
//! fsync). Readers never wait for a writer: each read runs on a snapshot.
//!
//! ```sh
//! cargo run --example session_store                # in a temporary directory
//! cargo run --example session_store -- sessions.oak  # in a file of yours, kept
//! ```
//!
//! The layout: tree `sessions` maps a session id (8 bytes, big-endian) to
//! its expiry time and user; tree `expiry` maps expiry time ‖ id to
//! nothing, so the sessions due by a time are one range read in order; tree
//! `meta` holds the next id. All change in the same transaction, so no
//! snapshot ever sees one without the others. (Ids are a counter to keep
//! the example free of dependencies; a real service hands out random,
//! unguessable tokens.)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oakmap::{Db, Durability, Options};

const SESSIONS: &str = "sessions";
const EXPIRY: &str = "expiry";
const META: &str = "meta";
const NEXT_ID: &[u8] = b"next_id";

/// How long a session lives after it is created or touched (short here, so
/// that the run sees sessions expire; minutes or hours in a real service).
const TTL: Duration = Duration::from_millis(150);
const WORKERS: u64 = 4;
const SESSIONS_PER_WORKER: u64 = 40;
/// The most sessions one expiry transaction removes, so that no writer
/// waits long behind it.
const EXPIRE_BATCH: usize = 100;

/// Milliseconds since the Unix epoch: expiry times survive a restart.
fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("a time in milliseconds fits in 64 bits")
}

fn ttl_ms() -> u64 {
    TTL.as_millis() as u64
}

/// A session as stored: its expiry time, then the user's name.
struct Session {
    expires_ms: u64,
    user: String,
}

impl Session {
    fn encode(&self) -> Vec<u8> {
        let mut v = self.expires_ms.to_be_bytes().to_vec();
        v.extend_from_slice(self.user.as_bytes());
        v
    }

    /// `None` for bytes this program did not write.
    fn decode(bytes: &[u8]) -> Option<Session> {
        let (expires, user) = bytes.split_first_chunk::<8>()?;
        Some(Session {
            expires_ms: u64::from_be_bytes(*expires),
            user: String::from_utf8(user.to_vec()).ok()?,
        })
    }
}

/// The key in `expiry`: expiry time, then id, both big-endian.
fn expiry_key(expires_ms: u64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&expires_ms.to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

struct SessionStore {
    db: Db,
}

impl SessionStore {
    fn open(path: &Path) -> oakmap::Result<SessionStore> {
        let db = Options::new()
            .durability(Durability::Immediate)
            .open(path)?;
        Ok(SessionStore { db })
    }

    /// Creates a session for `user`; durable when it returns. The id comes
    /// from a counter stored with the sessions, in the same transaction, so
    /// no id is handed out twice, across threads or restarts.
    fn create(&self, user: &str) -> oakmap::Result<u64> {
        let mut tx = self.db.begin_write()?;
        let [sessions, expiry, meta] = tx.open_trees([SESSIONS, EXPIRY, META])?;
        let id = match tx.tree(meta)?.get(NEXT_ID)? {
            Some(b) => u64::from_be_bytes(b.try_into().expect("an 8-byte counter")),
            None => 1,
        };
        tx.tree(meta)?.insert(NEXT_ID, &(id + 1).to_be_bytes())?;
        let session = Session {
            expires_ms: now_ms() + ttl_ms(),
            user: user.to_owned(),
        };
        tx.tree(sessions)?
            .insert(&id.to_be_bytes(), &session.encode())?;
        tx.tree(expiry)?
            .insert(&expiry_key(session.expires_ms, id), b"")?;
        tx.commit()?;
        Ok(id)
    }

    /// The user of session `id` if it is live. A snapshot read: it never
    /// waits for a writer, and sees only committed, durable sessions.
    fn user(&self, id: u64) -> oakmap::Result<Option<String>> {
        let rx = self.db.begin_read();
        let Some(sessions) = rx.tree(SESSIONS)? else {
            return Ok(None);
        };
        let now = now_ms();
        Ok(sessions
            .get(&id.to_be_bytes())?
            .and_then(Session::decode)
            .filter(|s| s.expires_ms > now)
            .map(|s| s.user))
    }

    /// Extends a live session by the TTL; false if it is gone or expired.
    /// The read and the writes are one transaction, so an expirer running
    /// at the same moment cannot remove the session between them.
    fn touch(&self, id: u64) -> oakmap::Result<bool> {
        let key = id.to_be_bytes();
        let mut tx = self.db.begin_write()?;
        let [sessions, expiry] = tx.open_trees([SESSIONS, EXPIRY])?;
        let found = tx.tree(sessions)?.get(&key)?.and_then(Session::decode);
        let now = now_ms();
        let Some(old) = found.filter(|s| s.expires_ms > now) else {
            return Ok(false); // dropping `tx` aborts it: nothing was written
        };
        let new = Session {
            expires_ms: now + ttl_ms(),
            user: old.user,
        };
        let mut expiry = tx.tree(expiry)?;
        expiry.remove(&expiry_key(old.expires_ms, id))?;
        expiry.insert(&expiry_key(new.expires_ms, id), b"")?;
        tx.tree(sessions)?.insert(&key, &new.encode())?;
        tx.commit()?;
        Ok(true)
    }

    /// Removes up to `EXPIRE_BATCH` sessions whose time is up; returns how
    /// many. The due ones are the first keys of `expiry`, read in order.
    fn expire(&self) -> oakmap::Result<usize> {
        let mut tx = self.db.begin_write()?;
        let [sessions, expiry] = tx.open_trees([SESSIONS, EXPIRY])?;
        // Keys below (now + 1) ‖ anything: every expiry time up to now.
        let end = (now_ms() + 1).to_be_bytes();
        let mut due = Vec::new();
        for entry in tx.tree(expiry)?.range(..end)?.take(EXPIRE_BATCH) {
            let (key, _) = entry?;
            due.push(key.to_vec()); // copied out: the writes below move pages
        }
        for key in &due {
            tx.tree(expiry)?.remove(key)?;
            tx.tree(sessions)?.remove(&key[8..])?;
        }
        tx.commit()?;
        Ok(due.len())
    }

    /// Checks one snapshot: every session has its expiry entry and nothing
    /// else is in `expiry`. Writers go on meanwhile; the snapshot does not
    /// move. Returns the number of sessions it saw.
    fn audit(&self) -> oakmap::Result<u64> {
        let rx = self.db.begin_read();
        let (Some(sessions), Some(expiry)) = (rx.tree(SESSIONS)?, rx.tree(EXPIRY)?) else {
            return Ok(0);
        };
        assert_eq!(sessions.len(), expiry.len(), "the trees change together");
        for entry in sessions.iter()? {
            let (id, value) = entry?;
            let s = Session::decode(value).expect("a session this program wrote");
            let id = u64::from_be_bytes(id.try_into().expect("8-byte ids"));
            let key = expiry_key(s.expires_ms, id);
            assert!(expiry.get(&key)?.is_some(), "session {id} has its expiry");
        }
        Ok(sessions.len())
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Sessions created.
    pub created: u64,
    /// Sessions extended while still live.
    pub touched: u64,
    /// Sessions removed by expiry.
    pub expired: u64,
    /// Snapshots checked while the writers ran.
    pub audits: u64,
    /// Sessions left once every one has had time to expire.
    pub left: u64,
}

/// Runs the store on the database at `path` with every thread, then lets
/// the last sessions expire and closes it cleanly.
pub fn run(path: &Path) -> oakmap::Result<Report> {
    let store = SessionStore::open(path)?;
    let done = AtomicBool::new(false);
    let mut report = Report::default();
    thread::scope(|s| -> oakmap::Result<()> {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let store = &store;
                s.spawn(move || -> oakmap::Result<(u64, u64)> {
                    let (mut created, mut touched) = (0, 0);
                    let mut mine = Vec::new();
                    for i in 0..SESSIONS_PER_WORKER {
                        let user = format!("user-{w}-{i}");
                        let before = now_ms();
                        let id = store.create(&user)?;
                        created += 1;
                        // Read-your-writes: a snapshot taken after commit
                        // returned sees the session (unless this thread
                        // was held up past its whole lifetime).
                        match store.user(id)? {
                            Some(u) => assert_eq!(u, user),
                            None => assert!(now_ms() >= before + ttl_ms(), "session {id} lost"),
                        }
                        mine.push(id);
                        // Keep every other earlier session alive a while.
                        if i % 2 == 0 && store.touch(mine[(i / 2) as usize])? {
                            touched += 1;
                        }
                        thread::sleep(Duration::from_millis(2));
                    }
                    Ok((created, touched))
                })
            })
            .collect();
        let expirer = s.spawn(|| -> oakmap::Result<u64> {
            let mut expired = 0;
            while !done.load(Ordering::Acquire) {
                expired += store.expire()? as u64;
                thread::sleep(TTL / 4);
            }
            Ok(expired)
        });
        let auditor = s.spawn(|| -> oakmap::Result<u64> {
            let mut audits = 0;
            while !done.load(Ordering::Acquire) {
                store.audit()?;
                audits += 1;
                thread::sleep(Duration::from_millis(5));
            }
            Ok(audits)
        });
        for w in workers {
            let (created, touched) = w.join().expect("a worker panicked")?;
            report.created += created;
            report.touched += touched;
        }
        done.store(true, Ordering::Release);
        report.expired += expirer.join().expect("the expirer panicked")?;
        report.audits += auditor.join().expect("the auditor panicked")?;
        Ok(())
    })?;
    // Every session still there expires within one TTL of now.
    thread::sleep(TTL + Duration::from_millis(20));
    loop {
        match store.expire()? {
            0 => break,
            n => report.expired += n as u64,
        }
    }
    report.left = store.audit()?;
    let check = store.db.check()?;
    assert!(check.is_clean(), "integrity check:\n{check}");
    store.db.close()?;
    Ok(report)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A path argument keeps the database; without one it lives in a
    // temporary directory removed at the end.
    let (_dir, path) = match std::env::args_os().nth(1) {
        Some(p) => (None, PathBuf::from(p)),
        None => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("sessions.oak");
            (Some(dir), path)
        }
    };
    let r = run(&path)?;
    println!(
        "{}: {} sessions created by {WORKERS} threads, {} touched, {} expired, \
         {} snapshots audited, {} left",
        path.display(),
        r.created,
        r.touched,
        r.expired,
        r.audits,
        r.left
    );
    Ok(())
}
