//! Committed never reverts: every entry a member reports committed is recorded the first time
//! it is seen; any member that later holds a committed entry at that index must hold the same
//! one (same term, same payload). A member's commit index never goes back while its process
//! lives, never passes the end of its log, and after a restart its log still holds what was
//! committed.

use super::{entry_digest, LogView, Violation};
use oxcd_core::ids::{LogIndex, NodeId, Term};
use oxcd_core::time::Instant;
use std::collections::BTreeMap;

const CHECKER: &str = "committed never reverts";

/// A committed entry as first seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommittedEntry {
    /// Its term.
    pub term: Term,
    /// Digest of kind and payload.
    pub digest: u64,
    /// The term of the member that first reported it committed (an upper bound of the term in
    /// which it was committed).
    pub observer_term: Term,
    /// That member.
    pub seen_on: NodeId,
}

/// The cluster's committed log as observed so far.
#[derive(Debug, Default)]
pub struct CommittedLog {
    /// Index `i` at position `i - 1`; `None` where no member showed the entry (snapshots).
    entries: Vec<Option<CommittedEntry>>,
    /// Per member: (process incarnation, commit index last seen).
    seen: BTreeMap<NodeId, (u64, LogIndex)>,
}

impl CommittedLog {
    /// Nothing committed yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest index known committed.
    #[must_use]
    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.entries.len() as u64)
    }

    /// The committed entry at `index`, if seen.
    #[must_use]
    pub fn get(&self, index: LogIndex) -> Option<CommittedEntry> {
        let i = usize::try_from(index.0).ok()?.checked_sub(1)?;
        self.entries.get(i).copied().flatten()
    }

    /// Observes member `view` (in its `incarnation`-th process run) after an input.
    ///
    /// # Errors
    /// A committed entry differs from the one recorded, the commit index went back within a
    /// run, or it passed the end of the member's log.
    pub fn observe(
        &mut self,
        at: Instant,
        incarnation: u64,
        view: &dyn LogView,
    ) -> Result<(), Violation> {
        let id = view.id();
        let commit = view.commit_index();
        let from = match self.seen.get(&id) {
            Some(&(inc, prev)) if inc == incarnation => {
                if commit < prev {
                    return Err(Violation::new(
                        CHECKER,
                        at,
                        format!("member {id}: commit index went back from {prev} to {commit}"),
                    ));
                }
                prev.next()
            }
            _ => LogIndex(1),
        };
        self.seen.insert(id, (incarnation, commit));
        if commit > view.last_index() {
            return Err(Violation::new(
                CHECKER,
                at,
                format!(
                    "member {id}: commit index {commit} is past its last log index {}",
                    view.last_index()
                ),
            ));
        }
        // The compaction point's term is known and must agree too.
        let point = view.first_index().prev();
        if point.0 > 0 && point <= commit && from <= point {
            if let (Some(term), Some(known)) = (view.term_at(point), self.get(point)) {
                if term != known.term {
                    return Err(changed(at, id, point, known, term));
                }
            }
        }
        let from = from.max(view.first_index());
        if from > commit {
            return Ok(());
        }
        let entries = view.entries(from, commit);
        assert_eq!(
            entries.len() as u64,
            commit.0 - from.0 + 1,
            "LogView::entries returned a short slice"
        );
        for entry in entries {
            let digest = entry_digest(entry);
            let i = (entry.index.0 - 1) as usize;
            if self.entries.len() <= i {
                self.entries.resize(i + 1, None);
            }
            match self.entries[i] {
                None => {
                    self.entries[i] = Some(CommittedEntry {
                        term: entry.term,
                        digest,
                        observer_term: view.term(),
                        seen_on: id,
                    });
                }
                Some(known) if known.term == entry.term && known.digest == digest => {}
                Some(known) => return Err(changed(at, id, entry.index, known, entry.term)),
            }
        }
        Ok(())
    }
}

fn changed(
    at: Instant,
    id: NodeId,
    index: LogIndex,
    known: CommittedEntry,
    term: Term,
) -> Violation {
    Violation::new(
        CHECKER,
        at,
        format!(
            "member {id} holds a committed entry at index {index} (term {term}) that differs from the one member {} committed (term {})",
            known.seen_on, known.term
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::check::fake::FakeLog;

    const T: Instant = Instant::ZERO;

    #[test]
    fn agreeing_members_pass() {
        let mut c = CommittedLog::new();
        c.observe(T, 0, &FakeLog::new(1, &[1, 1, 2]).committed(3)).unwrap();
        c.observe(T, 0, &FakeLog::new(2, &[1, 1]).committed(2)).unwrap();
        c.observe(T, 0, &FakeLog::new(2, &[1, 1, 2, 2]).committed(4)).unwrap();
        assert_eq!(c.last_index(), LogIndex(4));
        assert_eq!(c.get(LogIndex(3)).unwrap().term, Term(2));
    }

    #[test]
    fn a_different_committed_entry_fails() {
        let mut c = CommittedLog::new();
        c.observe(T, 0, &FakeLog::new(1, &[1, 1, 2]).committed(3)).unwrap();
        let err = c.observe(T, 0, &FakeLog::new(2, &[1, 1, 3]).committed(3)).unwrap_err();
        assert!(err.message.contains("index 3"), "{err}");
        // Same term, different payload.
        let mut other = FakeLog::new(3, &[1, 1]);
        other.push(2, "something else");
        assert!(c.observe(T, 0, &other.committed(3)).is_err());
    }

    #[test]
    fn commit_going_back_fails_within_a_run_but_not_across_a_restart() {
        let mut c = CommittedLog::new();
        c.observe(T, 0, &FakeLog::new(1, &[1, 1, 1]).committed(3)).unwrap();
        assert!(c.observe(T, 0, &FakeLog::new(1, &[1, 1, 1]).committed(2)).is_err());
        // A restarted process may know less, but what it holds must still match.
        c.observe(T, 1, &FakeLog::new(1, &[1, 1, 1]).committed(1)).unwrap();
        assert!(c.observe(T, 2, &FakeLog::new(1, &[1, 2, 2]).committed(1)).is_ok());
        assert!(c.observe(T, 3, &FakeLog::new(1, &[1, 2, 2]).committed(2)).is_err());
    }

    #[test]
    fn commit_past_the_log_fails() {
        let mut c = CommittedLog::new();
        assert!(c.observe(T, 0, &FakeLog::new(1, &[1]).committed(2)).is_err());
    }

    #[test]
    fn compacted_logs_are_checked_from_their_first_index_and_their_snapshot_term() {
        let mut c = CommittedLog::new();
        c.observe(T, 0, &FakeLog::new(1, &[1, 1, 2, 2]).committed(4)).unwrap();
        let mut compacted = FakeLog::new(2, &[1, 1, 2, 2, 2]).committed(5);
        compacted.compact(3);
        c.observe(T, 0, &compacted).unwrap();
        let mut wrong = FakeLog::new(3, &[1, 1, 3, 3]).committed(4);
        wrong.compact(3);
        assert!(c.observe(T, 0, &wrong).is_err());
    }
}
