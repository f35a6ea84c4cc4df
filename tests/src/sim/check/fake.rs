//! A hand-built member log for the checkers' unit tests.

use super::LogView;
use oxcd_core::ids::{LogIndex, NodeId, Term};
use oxcd_core::raft::{Entry, EntryKind};

/// A member as the checkers see it, set up by hand.
#[derive(Clone, Debug)]
pub struct FakeLog {
    pub id: NodeId,
    pub term: Term,
    pub leader: bool,
    pub commit: LogIndex,
    pub applied: LogIndex,
    /// Index and term of the compaction point.
    pub snapshot: (LogIndex, Term),
    /// Entries after the compaction point.
    pub log: Vec<Entry>,
}

impl FakeLog {
    /// Member `id` whose log holds entries with these terms (payload "t/i"), from index 1.
    pub fn new(id: u64, terms: &[u64]) -> Self {
        let mut f = FakeLog {
            id: NodeId(id),
            term: Term(terms.last().copied().unwrap_or(0)),
            leader: false,
            commit: LogIndex(0),
            applied: LogIndex(0),
            snapshot: (LogIndex(0), Term(0)),
            log: Vec::new(),
        };
        for &t in terms {
            f.push(t, "");
        }
        f
    }

    /// Appends an entry of term `t`; payload `tag` or "t/i" when empty.
    pub fn push(&mut self, t: u64, tag: &str) {
        let index = self.last_index().next();
        let data = if tag.is_empty() { format!("{t}/{}", index.0) } else { tag.to_string() };
        self.log.push(Entry {
            term: Term(t),
            index,
            kind: EntryKind::Normal,
            data: data.into_bytes().into(),
        });
    }

    /// Drops entries from `index` on.
    pub fn truncate(&mut self, index: u64) {
        self.log.retain(|e| e.index.0 < index);
    }

    /// Compacts the log up to `index`.
    pub fn compact(&mut self, index: u64) {
        let term = self.term_at(LogIndex(index)).unwrap();
        self.log.retain(|e| e.index.0 > index);
        self.snapshot = (LogIndex(index), term);
    }

    pub fn committed(mut self, commit: u64) -> Self {
        self.commit = LogIndex(commit);
        self
    }

    pub fn leading(mut self, term: u64) -> Self {
        self.leader = true;
        self.term = Term(term);
        self
    }
}

impl LogView for FakeLog {
    fn id(&self) -> NodeId {
        self.id
    }
    fn term(&self) -> Term {
        self.term
    }
    fn is_leader(&self) -> bool {
        self.leader
    }
    fn commit_index(&self) -> LogIndex {
        self.commit
    }
    fn applied_index(&self) -> LogIndex {
        self.applied
    }
    fn first_index(&self) -> LogIndex {
        self.snapshot.0.next()
    }
    fn last_index(&self) -> LogIndex {
        self.log.last().map_or(self.snapshot.0, |e| e.index)
    }
    fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == self.snapshot.0 {
            return Some(self.snapshot.1);
        }
        self.log.iter().find(|e| e.index == index).map(|e| e.term)
    }
    fn entries(&self, from: LogIndex, to: LogIndex) -> &[Entry] {
        if from < self.first_index() || to > self.last_index() || to < from {
            return &[];
        }
        let start = (from.0 - self.first_index().0) as usize;
        let end = (to.0 - self.first_index().0) as usize + 1;
        &self.log[start..end]
    }
}
