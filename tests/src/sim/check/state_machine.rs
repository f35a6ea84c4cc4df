//! State-machine safety: every member applies the same sequence of entries, each once and in
//! order (so the applied streams of any two members agree on their common part), never past
//! its commit index; and two members at the same applied index hold the same key-value state
//! (same revision, same digest of every key-value record).

use super::committed::CommittedLog;
use super::{entry_digest, LogView, Violation};
use oxcd_core::ids::{LogIndex, NodeId};
use oxcd_core::time::Instant;
use std::collections::BTreeMap;

const CHECKER: &str = "state machine safety";

/// Each member's applied stream, checked against the committed log.
#[derive(Debug, Default)]
pub struct AppliedStreams {
    /// Per member: (process incarnation, applied index last seen).
    seen: BTreeMap<NodeId, (u64, LogIndex)>,
    entries_checked: u64,
    snapshot_jumps: u64,
}

impl AppliedStreams {
    /// Nothing applied yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Observes a member after an input (after `committed` observed it).
    ///
    /// # Errors
    /// Applied past the commit index, went back, skipped entries without a snapshot, or applied
    /// an entry other than the committed one.
    pub fn observe(
        &mut self,
        at: Instant,
        incarnation: u64,
        view: &dyn LogView,
        committed: &CommittedLog,
    ) -> Result<(), Violation> {
        let id = view.id();
        let applied = view.applied_index();
        if applied > view.commit_index() {
            return Err(Violation::new(
                CHECKER,
                at,
                format!(
                    "member {id} applied {applied}, past its commit index {}",
                    view.commit_index()
                ),
            ));
        }
        let prev = match self.seen.insert(id, (incarnation, applied)) {
            Some((inc, prev)) if inc == incarnation => prev,
            // A new process starts from what its storage holds.
            _ => return Ok(()),
        };
        if applied < prev {
            return Err(Violation::new(
                CHECKER,
                at,
                format!("member {id}: applied index went back from {prev} to {applied}"),
            ));
        }
        if applied == prev {
            return Ok(());
        }
        let mut from = prev.next();
        if from < view.first_index() {
            // Jumped by installing a snapshot; the state digests compare the result.
            self.snapshot_jumps += 1;
            from = view.first_index();
            if from > applied {
                return Ok(());
            }
        }
        let entries = view.entries(from, applied);
        if entries.len() as u64 != applied.0 - from.0 + 1 {
            return Err(Violation::new(
                CHECKER,
                at,
                format!("member {id} applied {from}..={applied} but its log does not hold them"),
            ));
        }
        for entry in entries {
            self.entries_checked += 1;
            let Some(known) = committed.get(entry.index) else { continue };
            if known.term != entry.term || known.digest != entry_digest(entry) {
                return Err(Violation::new(
                    CHECKER,
                    at,
                    format!(
                        "member {id} applied term {} at index {}, but term {} was committed there",
                        entry.term, entry.index, known.term
                    ),
                ));
            }
        }
        Ok(())
    }

    /// (entries checked, snapshot installs seen).
    #[must_use]
    pub fn stats(&self) -> (u64, u64) {
        (self.entries_checked, self.snapshot_jumps)
    }
}

/// The key-value state seen at each applied index.
#[derive(Debug, Default)]
pub struct StateDigests {
    by_applied: BTreeMap<LogIndex, (NodeId, i64, u64)>,
    compared: u64,
}

impl StateDigests {
    /// Nothing seen yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Member `member`, at applied index `applied`, has key-value `revision` and `digest`.
    ///
    /// # Errors
    /// Another member at the same applied index had a different revision or digest.
    pub fn observe(
        &mut self,
        at: Instant,
        member: NodeId,
        applied: LogIndex,
        revision: i64,
        digest: u64,
    ) -> Result<(), Violation> {
        match self.by_applied.get(&applied) {
            None => {
                self.by_applied.insert(applied, (member, revision, digest));
                Ok(())
            }
            Some(&(_, r, d)) if (r, d) == (revision, digest) => {
                self.compared += 1;
                Ok(())
            }
            Some(&(other, r, d)) => Err(Violation::new(
                CHECKER,
                at,
                format!(
                    "at applied index {applied}, member {other} had revision {r} digest {d:016x} but member {member} has revision {revision} digest {digest:016x}"
                ),
            )),
        }
    }

    /// Comparisons that found equal states.
    #[must_use]
    pub fn compared(&self) -> u64 {
        self.compared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::check::fake::FakeLog;

    const T: Instant = Instant::ZERO;

    fn applied(mut f: FakeLog, commit: u64, applied: u64) -> FakeLog {
        f.commit = LogIndex(commit);
        f.applied = LogIndex(applied);
        f
    }

    #[test]
    fn applying_the_committed_entries_in_order_passes() {
        let mut c = CommittedLog::new();
        let mut s = AppliedStreams::new();
        let f = FakeLog::new(1, &[1, 1, 2]);
        for (commit, app) in [(0, 0), (2, 1), (3, 3)] {
            let f = applied(f.clone(), commit, app);
            c.observe(T, 0, &f).unwrap();
            s.observe(T, 0, &f, &c).unwrap();
        }
        assert_eq!(s.stats(), (3, 0));
    }

    #[test]
    fn applying_past_commit_or_backwards_fails() {
        let c = CommittedLog::new();
        let mut s = AppliedStreams::new();
        let f = FakeLog::new(1, &[1, 1, 2]);
        assert!(s.observe(T, 0, &applied(f.clone(), 1, 2), &c).is_err());
        s.observe(T, 1, &applied(f.clone(), 3, 3), &c).unwrap();
        assert!(s.observe(T, 1, &applied(f.clone(), 3, 2), &c).is_err());
        // A restart may start lower.
        s.observe(T, 2, &applied(f, 3, 1), &c).unwrap();
    }

    #[test]
    fn applying_an_entry_other_than_the_committed_one_fails() {
        let mut c = CommittedLog::new();
        c.observe(T, 0, &FakeLog::new(1, &[1, 1, 2]).committed(3)).unwrap();
        let mut s = AppliedStreams::new();
        let f = FakeLog::new(2, &[1, 1, 3]);
        s.observe(T, 0, &applied(f.clone(), 3, 0), &c).unwrap();
        let err = s.observe(T, 0, &applied(f, 3, 3), &c).unwrap_err();
        assert!(err.message.contains("index 3"), "{err}");
    }

    #[test]
    fn a_snapshot_jump_is_allowed_only_over_compacted_entries() {
        let c = CommittedLog::new();
        let mut s = AppliedStreams::new();
        let mut f = applied(FakeLog::new(1, &[1, 1, 1, 1, 1]), 5, 1);
        s.observe(T, 0, &f, &c).unwrap();
        f.compact(3);
        s.observe(T, 0, &applied(f.clone(), 5, 5), &c).unwrap();
        assert_eq!(s.stats(), (2, 1));
        let mut g = applied(FakeLog::new(2, &[1, 1, 1, 1, 1]), 5, 1);
        s.observe(T, 0, &g, &c).unwrap();
        g.truncate(4);
        assert!(s.observe(T, 0, &applied(g, 5, 5), &c).is_err());
    }

    #[test]
    fn equal_applied_index_needs_equal_state() {
        let mut d = StateDigests::new();
        d.observe(T, NodeId(1), LogIndex(5), 3, 0xab).unwrap();
        d.observe(T, NodeId(2), LogIndex(5), 3, 0xab).unwrap();
        d.observe(T, NodeId(2), LogIndex(6), 4, 0xcd).unwrap();
        assert!(d.observe(T, NodeId(3), LogIndex(5), 3, 0xac).is_err());
        assert!(d.observe(T, NodeId(3), LogIndex(6), 5, 0xcd).is_err());
        assert_eq!(d.compared(), 1);
    }
}
