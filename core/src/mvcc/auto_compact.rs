//! Auto-compaction decisions, as etcd's `--auto-compaction-mode` / `--auto-compaction-retention`
//! make them, driven by `now` and the current revision.
//!
//! Only the leader runs it (the Node calls [`AutoCompactor::pause`] on losing leadership and
//! [`AutoCompactor::resume`] on winning it); each decision is a revision the Node proposes as a
//! `CompactionRequest`.
//!
//! - Periodic mode (retention `period`): the current revision is sampled every
//!   `min(period, 1h) / 10`; the first compaction happens `period` after start, then every
//!   `min(period, 1h)`, each to the revision sampled about `period` ago.
//! - Revision mode (retention `n`): every 5 minutes, compact to `current - n` when that is
//!   positive and new.

use super::revision::Revision;
use crate::time::Instant;
use alloc::collections::VecDeque;
use core::time::Duration;

/// etcd's revision-mode check interval.
pub const REVISION_MODE_INTERVAL: Duration = Duration::from_secs(300);
const HOUR: Duration = Duration::from_secs(3600);

/// `--auto-compaction-mode` with its retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompactionMode {
    /// Keep `retention` worth of history.
    Periodic {
        /// How far back history is kept.
        retention: Duration,
    },
    /// Keep the last `retention` revisions.
    Revision {
        /// How many revisions are kept.
        retention: i64,
    },
}

/// Decides when to compact and to which revision.
#[derive(Clone, Debug)]
pub struct AutoCompactor {
    mode: AutoCompactionMode,
    paused: bool,
    next_check: Instant,
    /// Periodic: revisions sampled at each check, oldest first.
    samples: VecDeque<i64>,
    last_success: Instant,
    /// Periodic: wait this long after the last compaction (`period` before the first).
    base_interval: Duration,
    last_revision: i64,
}

impl AutoCompactor {
    /// Starts the schedule at `now` with the store at `current`.
    ///
    /// # Panics
    /// A zero period or a non-positive revision retention (etcd disables auto-compaction
    /// instead: then do not build one).
    #[must_use]
    pub fn new(mode: AutoCompactionMode, now: Instant, current: Revision) -> Self {
        let (interval, base_interval) = match mode {
            AutoCompactionMode::Periodic { retention } => {
                assert!(!retention.is_zero(), "periodic auto-compaction needs a retention");
                (retry_interval(retention), retention)
            }
            AutoCompactionMode::Revision { retention } => {
                assert!(retention > 0, "revision auto-compaction needs a positive retention");
                (REVISION_MODE_INTERVAL, Duration::ZERO)
            }
        };
        let mut samples = VecDeque::new();
        samples.push_back(current.0);
        AutoCompactor {
            mode,
            paused: false,
            next_check: now + interval,
            samples,
            last_success: now,
            base_interval,
            last_revision: 0,
        }
    }

    /// Stop deciding (this member is not the leader).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Decide again (this member became leader).
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// When [`AutoCompactor::poll`] next needs to run.
    #[must_use]
    pub fn poll_timeout(&self) -> Instant {
        self.next_check
    }

    /// Runs the schedule up to `now`: returns a revision to compact to, if one is due. The
    /// Node proposes it; a `Compacted` answer counts as success, as in etcd.
    pub fn poll(&mut self, now: Instant, current: Revision) -> Option<Revision> {
        if now < self.next_check {
            return None;
        }
        match self.mode {
            AutoCompactionMode::Revision { retention } => {
                self.next_check = now + REVISION_MODE_INTERVAL;
                if self.paused {
                    return None;
                }
                let rev = current.0 - retention;
                if rev <= 0 || rev == self.last_revision {
                    return None;
                }
                self.last_revision = rev;
                Some(Revision(rev))
            }
            AutoCompactionMode::Periodic { retention } => {
                self.next_check = now + retry_interval(retention);
                let decision = self.periodic_decision(now, retention);
                // Sample for the next check, keeping `period / retry + 1` samples.
                self.samples.push_back(current.0);
                let keep =
                    (retention.as_nanos() / retry_interval(retention).as_nanos()) as usize + 1;
                while self.samples.len() > keep {
                    self.samples.pop_front();
                }
                decision
            }
        }
    }

    fn periodic_decision(&mut self, now: Instant, retention: Duration) -> Option<Revision> {
        if self.paused || now - self.last_success < self.base_interval {
            return None;
        }
        self.base_interval = retention.min(HOUR);
        let rev = *self.samples.front()?;
        if rev <= self.last_revision {
            return None;
        }
        self.last_success = now;
        self.last_revision = rev;
        Some(Revision(rev))
    }
}

fn retry_interval(period: Duration) -> Duration {
    (period.min(HOUR) / 10).max(Duration::from_nanos(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn at(secs: u64) -> Instant {
        Instant::from_nanos(secs * 1_000_000_000)
    }

    #[test]
    fn revision_mode_compacts_every_five_minutes_to_current_minus_retention() {
        let mut c =
            AutoCompactor::new(AutoCompactionMode::Revision { retention: 100 }, at(0), Revision(1));
        assert_eq!(c.poll_timeout(), at(300));
        assert_eq!(c.poll(at(299), Revision(500)), None);
        assert_eq!(c.poll(at(300), Revision(50)), None, "not positive");
        assert_eq!(c.poll(at(600), Revision(500)), Some(Revision(400)));
        assert_eq!(c.poll(at(900), Revision(500)), None, "same revision again");
        c.pause();
        assert_eq!(c.poll(at(1200), Revision(900)), None);
        c.resume();
        assert_eq!(c.poll(at(1500), Revision(900)), Some(Revision(800)));
    }

    #[test]
    fn periodic_mode_keeps_one_period_of_history() {
        // Retention 10 minutes: sample every minute, first compaction after 10 minutes, to the
        // revision sampled 10 minutes earlier; then every 10 minutes.
        let mut c = AutoCompactor::new(
            AutoCompactionMode::Periodic { retention: Duration::from_secs(600) },
            at(0),
            Revision(1),
        );
        let mut decisions = Vec::new();
        for minute in 1..=25u64 {
            // The store gains 10 revisions a minute.
            let current = Revision(1 + 10 * minute as i64);
            if let Some(rev) = c.poll(at(minute * 60), current) {
                decisions.push((minute, rev.0));
            }
        }
        assert_eq!(decisions, [(10, 1), (20, 91)]);
    }

    #[test]
    fn periodic_mode_with_long_retention_compacts_hourly() {
        let mut c = AutoCompactor::new(
            AutoCompactionMode::Periodic { retention: Duration::from_secs(7200) },
            at(0),
            Revision(1),
        );
        let mut decisions = Vec::new();
        let mut t = 0;
        for _ in 0..60 {
            t += 360; // the retry interval: 6 minutes
            if let Some(rev) = c.poll(at(t), Revision(t as i64)) {
                decisions.push((t, rev.0));
            }
        }
        assert_eq!(decisions[0], (7200, 1));
        assert_eq!(decisions[1].0, 7200 + 3600);
        // etcd keeps period / retry + 1 = 21 samples, the newest one retry-interval old: the
        // oldest was taken 21 x 6 minutes before the decision.
        assert_eq!(decisions[1].1, 10800 - 21 * 360);
    }
}
