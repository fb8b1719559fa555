//! Background I/O giving way to durable commits.
//!
//! A commit's log fsync must also flush whatever else was written to the
//! disk before it, so background work that writes in bulk (a backup's
//! copy, a checkpoint's data writeback) makes commits pay for its
//! bandwidth, not only for its place in the queue. [`GiveWay`] paces such
//! work: after each piece it writes, if the log was fsynced for commits
//! since the last look, it waits a multiple of the time the piece took.
//! With no commit under way the work goes at full speed.

use std::time::Duration;

/// A pacer for background writes (see the module comment).
pub(crate) struct GiveWay<'a> {
    /// The log's fsyncs for commits so far (`CommitLog::led_fsyncs`).
    fsyncs: &'a dyn Fn() -> u64,
    /// Pause after a piece, as a multiple of the piece's time.
    factor: u32,
    /// The fsyncs at the last look.
    seen: u64,
    /// Time paused so far.
    pub(crate) yielded: Duration,
}

impl<'a> GiveWay<'a> {
    pub(crate) fn new(fsyncs: &'a dyn Fn() -> u64, factor: u32) -> GiveWay<'a> {
        GiveWay {
            fsyncs,
            factor,
            seen: fsyncs(),
            yielded: Duration::ZERO,
        }
    }

    /// After a piece that took `took` to write: if the log was fsynced
    /// since the last look, waits `factor` times as long. While commits go
    /// on, every piece is followed by a pause; once they stop, the next
    /// look sees no new fsync and the work goes at full speed. The work
    /// then holds the disk at most 1 / (1 + `factor`) of the time.
    pub(crate) fn after(&mut self, took: Duration) {
        if self.factor == 0 {
            return;
        }
        let now = (self.fsyncs)();
        if now != self.seen {
            self.seen = now;
            let pause = took * self.factor;
            std::thread::sleep(pause);
            self.yielded += pause;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn pauses_only_after_commit_fsyncs() {
        let fsyncs = Cell::new(5u64);
        let look = || fsyncs.get();
        let mut g = GiveWay::new(&look, 3);
        let piece = Duration::from_millis(1);
        // No fsync since it began: no pause.
        g.after(piece);
        assert_eq!(g.yielded, Duration::ZERO);
        // An fsync since the last look: three times the piece.
        fsyncs.set(6);
        g.after(piece);
        assert_eq!(g.yielded, piece * 3);
        // None since that look: no pause again.
        g.after(piece);
        assert_eq!(g.yielded, piece * 3);
        // A factor of 0 never pauses.
        let mut full = GiveWay::new(&look, 0);
        fsyncs.set(7);
        full.after(piece);
        assert_eq!(full.yielded, Duration::ZERO);
    }
}
