//! Named failure points, for tests that make I/O fail on purpose.
//!
//! Every write and fsync of the data file and the WAL passes a named point
//! (see [`FailPoints::POINTS`]); a test arms a point to fail its Nth pass,
//! once or from then on, with an `EIO`-like error, or holds a point so that
//! threads passing it wait (an fsync that takes as long as the test likes).
//! Production code passes `None` and pays one branch.

use std::collections::{HashMap, HashSet};
use std::io;

use parking_lot::{Condvar, Mutex};

use crate::io::{IoFile, IoHook, IoOp};

#[derive(Debug, Clone, Copy)]
struct Rule {
    /// Passes left before the point fails.
    countdown: u64,
    /// Keep failing after the first failure.
    persistent: bool,
    fired: bool,
}

/// A set of armed failure points, shared with a `Db` through
/// `Options::fail_points`. For tests.
#[derive(Debug, Default)]
pub struct FailPoints {
    rules: Mutex<HashMap<&'static str, Rule>>,
    passes: Mutex<HashMap<&'static str, u64>>,
    /// Held points, and how many threads wait at each.
    held: Mutex<(HashSet<&'static str>, HashMap<&'static str, u64>)>,
    unheld: Condvar,
}

impl FailPoints {
    /// Every point a commit and a checkpoint pass, in that order.
    pub const POINTS: &'static [&'static str] = &[
        "data.write",
        "data.grow",
        "wal.write",
        "wal.sync",
        "checkpoint.data.sync",
        "meta.write",
        "meta.sync",
    ];
    /// Points passed only when a `Db` closes cleanly (after its checkpoint).
    pub const CLOSE_POINTS: &'static [&'static str] = &["data.trim"];
    /// Points passed at open and now and then: a zero-length file's first
    /// pages synced (`create.sync`); a WAL file cut (`wal.truncate`: a torn
    /// tail at recovery, a file started afresh, one cut back when reset);
    /// an online backup's copy written and synced (`backup.write`,
    /// `backup.sync`).
    pub const OTHER_POINTS: &'static [&'static str] =
        &["create.sync", "wal.truncate", "backup.write", "backup.sync"];

    /// An empty set: nothing fails.
    pub fn new() -> FailPoints {
        FailPoints::default()
    }

    /// Makes the `nth` pass (0-based, counted from now) of `point` fail; with
    /// `persistent`, every pass after it fails too.
    pub fn arm(&self, point: &'static str, nth: u64, persistent: bool) {
        assert!(
            [Self::POINTS, Self::CLOSE_POINTS, Self::OTHER_POINTS]
                .iter()
                .any(|points| points.contains(&point)),
            "unknown failure point {point}"
        );
        self.rules.lock().insert(
            point,
            Rule {
                countdown: nth,
                persistent,
                fired: false,
            },
        );
    }

    /// Disarms every point.
    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    /// Makes every thread that passes `point` wait until [`FailPoints::release`].
    pub fn hold(&self, point: &'static str) {
        assert!(
            [Self::POINTS, Self::CLOSE_POINTS, Self::OTHER_POINTS]
                .iter()
                .any(|points| points.contains(&point)),
            "unknown failure point {point}"
        );
        self.held.lock().0.insert(point);
    }

    /// Lets the threads waiting at `point` go on.
    pub fn release(&self, point: &'static str) {
        self.held.lock().0.remove(point);
        self.unheld.notify_all();
    }

    /// Threads waiting at `point` now.
    pub fn waiting(&self, point: &str) -> u64 {
        self.held.lock().1.get(point).copied().unwrap_or(0)
    }

    /// How many times `point` has been passed (failed passes included).
    pub fn passes(&self, point: &str) -> u64 {
        self.passes.lock().get(point).copied().unwrap_or(0)
    }

    /// Whether any armed point has failed.
    pub fn any_fired(&self) -> bool {
        self.rules.lock().values().any(|r| r.fired)
    }

    fn pass(&self, point: &'static str) -> io::Result<()> {
        *self.passes.lock().entry(point).or_default() += 1;
        let mut held = self.held.lock();
        if held.0.contains(point) {
            *held.1.entry(point).or_default() += 1;
            while held.0.contains(point) {
                self.unheld.wait(&mut held);
            }
            *held.1.entry(point).or_default() -= 1;
        }
        drop(held);
        let mut rules = self.rules.lock();
        let Some(rule) = rules.get_mut(point) else {
            return Ok(());
        };
        if rule.fired && rule.persistent {
            return Err(injected(point));
        }
        if rule.fired {
            return Ok(());
        }
        if rule.countdown == 0 {
            rule.fired = true;
            return Err(injected(point));
        }
        rule.countdown -= 1;
        Ok(())
    }
}

fn injected(point: &str) -> io::Error {
    io::Error::other(format!("injected failure at {point}"))
}

impl IoHook for FailPoints {
    fn before(&self, _file: IoFile, _op: &IoOp<'_>, point: &'static str) -> io::Result<()> {
        self.pass(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_pass_fails_once_or_always() {
        let f = FailPoints::new();
        f.arm("wal.sync", 2, false);
        assert!(f.pass("data.grow").is_ok());
        assert!(f.pass("wal.sync").is_ok());
        assert!(f.pass("wal.sync").is_ok());
        assert!(f.pass("wal.sync").is_err());
        assert!(f.pass("wal.sync").is_ok());
        f.arm("meta.write", 0, true);
        assert!(f.pass("meta.write").is_err());
        assert!(f.pass("meta.write").is_err());
        assert_eq!(f.passes("wal.sync"), 4);
        assert!(f.any_fired());
    }
}
