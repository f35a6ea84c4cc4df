//! The leader's view of each follower's log: how far it matches, what to send next, and how
//! (probing one append at a time, pipelining, or waiting for a snapshot).

use crate::ids::LogIndex;
use alloc::collections::VecDeque;
use core::fmt;

/// How the leader replicates to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// Where the logs match is unknown: one append at a time, waiting for the answer.
    Probe,
    /// The logs match up to `match_index`: appends are pipelined, up to the in-flight window.
    Replicate,
    /// The follower needs a snapshot; the Node is streaming one (`pending` is the log index
    /// the leader could offer when it asked).
    Snapshot {
        /// Compaction point of the leader's log when the snapshot was requested.
        pending: LogIndex,
    },
}

impl fmt::Display for ProgressState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgressState::Probe => f.write_str("probe"),
            ProgressState::Replicate => f.write_str("replicate"),
            ProgressState::Snapshot { pending } => write!(f, "snapshot({pending})"),
        }
    }
}

/// One follower's replication progress, as the leader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Highest index known to match the leader's log (and be durable there).
    pub match_index: LogIndex,
    /// Next index to send.
    pub next_index: LogIndex,
    /// The replication state.
    pub state: ProgressState,
    /// Probe state: an append was sent and no answer or heartbeat answer came back since.
    pub probe_sent: bool,
    /// Heard from within the current election timeout (check-quorum).
    pub recent_active: bool,
    /// Highest read round this member acknowledged.
    pub read_round: u64,
    /// Highest commit index sent to it (in appends and heartbeats).
    pub sent_commit: LogIndex,
    /// Last indexes of the appends in flight (replicate state), oldest first.
    inflight: VecDeque<LogIndex>,
}

impl Progress {
    pub(crate) fn new(next_index: LogIndex) -> Self {
        Progress {
            match_index: LogIndex::ZERO,
            next_index,
            state: ProgressState::Probe,
            probe_sent: false,
            recent_active: false,
            read_round: 0,
            sent_commit: LogIndex::ZERO,
            inflight: VecDeque::new(),
        }
    }

    /// Number of appends in flight.
    #[must_use]
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    pub(crate) fn become_probe(&mut self) {
        if let ProgressState::Snapshot { pending } = self.state {
            self.next_index = self.match_index.next().max(pending.next());
        } else {
            self.next_index = self.match_index.next();
        }
        self.state = ProgressState::Probe;
        self.probe_sent = false;
        self.inflight.clear();
    }

    pub(crate) fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next_index = self.match_index.next();
        self.probe_sent = false;
        self.inflight.clear();
    }

    pub(crate) fn become_snapshot(&mut self, pending: LogIndex) {
        self.state = ProgressState::Snapshot { pending };
        self.probe_sent = false;
        self.inflight.clear();
    }

    /// True while no append should be sent.
    pub(crate) fn is_paused(&self, max_inflight: usize) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflight.len() >= max_inflight,
            ProgressState::Snapshot { .. } => true,
        }
    }

    /// Forgets the oldest append in flight when the window is full: called on a heartbeat answer,
    /// so a lost append cannot stall the pipeline (the next append then exposes the gap).
    pub(crate) fn free_first_if_full(&mut self, max_inflight: usize) {
        if self.state == ProgressState::Replicate && self.inflight.len() >= max_inflight {
            self.inflight.pop_front();
        }
    }

    /// Records an append ending at `last` as sent.
    pub(crate) fn sent_append(&mut self, last: LogIndex, with_entries: bool) {
        match self.state {
            ProgressState::Replicate if with_entries => {
                self.next_index = last.next();
                self.inflight.push_back(last);
            }
            ProgressState::Probe => self.probe_sent = true,
            _ => {}
        }
    }

    /// An acceptance up to `index`: returns true if it moved the match index.
    pub(crate) fn accept(&mut self, index: LogIndex) -> bool {
        while self.inflight.front().is_some_and(|last| *last <= index) {
            self.inflight.pop_front();
        }
        if index > self.match_index {
            self.match_index = index;
            self.next_index = self.next_index.max(index.next());
            self.probe_sent = false;
            true
        } else {
            self.next_index = self.next_index.max(index.next());
            false
        }
    }

    /// A rejection of the append at `rejected`, with the leader's own estimate `hint` of the last
    /// index that may match. Returns false if the rejection is stale.
    pub(crate) fn reject(&mut self, rejected: LogIndex, hint: LogIndex) -> bool {
        if self.state == ProgressState::Replicate {
            if rejected <= self.match_index {
                return false;
            }
            // Pipelined appends went astray: fall back to probing right after the match.
            self.become_probe();
            return true;
        }
        if self.next_index.prev() != rejected {
            return false;
        }
        self.next_index = hint.next().min(rejected).max(self.match_index.next());
        self.probe_sent = false;
        true
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} match={} next={}", self.state, self.match_index, self.next_index)?;
        if !self.inflight.is_empty() {
            write!(f, " inflight={}", self.inflight.len())?;
        }
        if self.probe_sent {
            f.write_str(" paused")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicate_pipelines_up_to_the_window() {
        let mut p = Progress::new(LogIndex(5));
        assert!(p.accept(LogIndex(4)));
        p.become_replicate();
        p.sent_append(LogIndex(6), true);
        p.sent_append(LogIndex(8), true);
        assert!(p.is_paused(2));
        assert_eq!(p.next_index, LogIndex(9));
        assert!(p.accept(LogIndex(6)));
        assert!(!p.is_paused(2));
        // A stale rejection (at or below the match) changes nothing.
        assert!(!p.reject(LogIndex(5), LogIndex(0)));
        assert!(p.reject(LogIndex(8), LogIndex(0)));
        assert_eq!((p.state, p.next_index), (ProgressState::Probe, LogIndex(7)));
    }

    #[test]
    fn probe_backtracks_to_the_hint_but_not_below_match() {
        let mut p = Progress::new(LogIndex(10));
        p.sent_append(LogIndex(9), false);
        assert!(p.is_paused(8));
        assert!(!p.reject(LogIndex(7), LogIndex(3)), "not the probe in flight");
        assert!(p.reject(LogIndex(9), LogIndex(3)));
        assert_eq!(p.next_index, LogIndex(4));
        p.match_index = LogIndex(5);
        p.next_index = LogIndex(9);
        assert!(p.reject(LogIndex(8), LogIndex(2)));
        assert_eq!(p.next_index, LogIndex(6));
    }

    #[test]
    fn snapshot_then_probe_resumes_after_the_snapshot() {
        let mut p = Progress::new(LogIndex(3));
        p.become_snapshot(LogIndex(20));
        assert!(p.is_paused(100));
        p.become_probe();
        assert_eq!(p.next_index, LogIndex(21));
    }
}
