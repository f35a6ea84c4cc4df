//! The in-memory Raft log: every entry after the compaction point, the commit index, and which
//! entries still have to be handed to storage.
//!
//! The whole uncompacted log is kept in memory (the Node bounds it by compacting once the state
//! machine is durable); storage is written only through `PersistRequest`s.

use super::types::Entry;
use crate::ids::{LogIndex, Term};
use alloc::vec::Vec;

#[derive(Debug)]
pub(crate) struct RaftLog {
    /// Index of the last compacted entry (or of the installed snapshot); entries start after it.
    offset: LogIndex,
    /// Term of the entry at `offset`.
    offset_term: Term,
    entries: Vec<Entry>,
    /// Highest index known committed.
    pub committed: LogIndex,
    /// First index not yet handed to storage.
    unstable_from: LogIndex,
    /// Lowest index storage must delete from before writing the unstable entries.
    truncate_from: Option<LogIndex>,
}

impl RaftLog {
    /// A log whose entries `1..=offset` are compacted; `entries` follow it and are durable.
    pub fn new(
        offset: LogIndex,
        offset_term: Term,
        entries: Vec<Entry>,
        committed: LogIndex,
    ) -> Self {
        let unstable_from = LogIndex(offset.0 + entries.len() as u64 + 1);
        RaftLog { offset, offset_term, entries, committed, unstable_from, truncate_from: None }
    }

    pub fn offset(&self) -> (LogIndex, Term) {
        (self.offset, self.offset_term)
    }

    pub fn first_index(&self) -> LogIndex {
        self.offset.next()
    }

    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.offset.0 + self.entries.len() as u64)
    }

    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.offset_term, |e| e.term)
    }

    /// The term of the entry at `index`, if known (compacted entries are not, except the
    /// compaction point itself).
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.offset {
            return Some(self.offset_term);
        }
        if index < self.offset || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index.0 - self.offset.0 - 1) as usize].term)
    }

    pub fn matches(&self, index: LogIndex, term: Term) -> bool {
        self.term(index) == Some(term)
    }

    /// True if a log ending at `(last_index, last_term)` is at least as up to date as this one.
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Entries `from..=to`; `from` must be at least `first_index`.
    pub fn slice(&self, from: LogIndex, to: LogIndex) -> &[Entry] {
        if from > to {
            return &[];
        }
        let lo = (from.0 - self.offset.0 - 1) as usize;
        let hi = (to.0 - self.offset.0) as usize;
        &self.entries[lo..hi]
    }

    /// Clones of the entries from `from` up to `to` holding at most `max_bytes` of payload (at
    /// least one entry).
    pub fn entries_limited(&self, from: LogIndex, to: LogIndex, max_bytes: u64) -> Vec<Entry> {
        let slice = self.slice(from, to);
        let mut bytes = 0u64;
        let mut n = 0;
        for e in slice {
            // Stop once the budget is used up or would be exceeded (at least one entry).
            if n > 0 && (bytes >= max_bytes || bytes + e.size_bytes() > max_bytes) {
                break;
            }
            bytes += e.size_bytes();
            n += 1;
        }
        slice[..n].to_vec()
    }

    /// Appends entries the leader created (consecutive after the last index).
    pub fn append(&mut self, entry: Entry) {
        assert_eq!(entry.index, self.last_index().next(), "appended entry out of order");
        self.entries.push(entry);
    }

    /// The largest index at or below `index` whose term is at most `term` (fast backtracking):
    /// entries after it cannot match a log whose entry at `index` has term `term`.
    pub fn conflict_hint(&self, index: LogIndex, term: Term) -> (LogIndex, Term) {
        let mut i = index.min(self.last_index());
        loop {
            match self.term(i) {
                Some(t) if t <= term => return (i, t),
                Some(_) if i > self.offset => i = i.prev(),
                // Compacted or at the compaction point: nothing more precise to offer.
                _ => return (self.offset, Term::ZERO),
            }
        }
    }

    /// Follower side of an append whose `(prev_index, prev_term)` matches: keeps the matching
    /// prefix of `entries`, truncates a conflicting suffix and appends the rest. Returns the
    /// index of the last entry of the message and, if entries were replaced, the first index
    /// replaced.
    ///
    /// # Errors
    /// A conflict at or below the commit index (the sender is broken).
    pub fn append_from_leader(
        &mut self,
        prev_index: LogIndex,
        entries: Vec<Entry>,
    ) -> Result<(LogIndex, Option<LogIndex>), &'static str> {
        let last_new = LogIndex(prev_index.0 + entries.len() as u64);
        let mut conflict = None;
        for (i, e) in entries.iter().enumerate() {
            // Entries at or below the compaction point are committed, hence matching.
            if e.index > self.offset && self.term(e.index) != Some(e.term) {
                conflict = Some(i);
                break;
            }
        }
        let Some(start) = conflict else { return Ok((last_new, None)) };
        let at = entries[start].index;
        if at <= self.committed {
            return Err("append conflicts with committed entries");
        }
        let mut replaced = None;
        if at <= self.last_index() {
            self.entries.truncate((at.0 - self.offset.0 - 1) as usize);
            self.truncate_from = Some(self.truncate_from.map_or(at, |t| t.min(at)));
            self.unstable_from = self.unstable_from.min(at);
            replaced = Some(at);
        }
        self.entries.extend(entries.into_iter().skip(start));
        Ok((last_new, replaced))
    }

    pub fn commit_to(&mut self, index: LogIndex) -> bool {
        let index = index.min(self.last_index());
        if index > self.committed {
            self.committed = index;
            true
        } else {
            false
        }
    }

    /// Replaces the whole log by a snapshot point.
    pub fn restore(&mut self, index: LogIndex, term: Term) {
        self.entries.clear();
        self.offset = index;
        self.offset_term = term;
        self.committed = index;
        self.unstable_from = index.next();
        self.truncate_from = None;
    }

    /// Drops entries up to `index` (which must be in the log).
    pub fn compact(&mut self, index: LogIndex) -> Term {
        let term = self.term(index).expect("compaction point inside the log");
        let n = (index.0 - self.offset.0) as usize;
        self.entries.drain(..n);
        self.offset = index;
        self.offset_term = term;
        term
    }

    /// True when entries or a truncation wait to be handed to storage.
    pub fn has_unstable(&self) -> bool {
        self.truncate_from.is_some() || self.unstable_from <= self.last_index()
    }

    /// Hands the unstable part to storage: where to truncate from, and the entries to write.
    pub fn take_unstable(&mut self) -> (Option<LogIndex>, Vec<Entry>) {
        let truncate = self.truncate_from.take();
        let from = self.unstable_from.max(self.first_index());
        let entries = self.slice(from, self.last_index()).to_vec();
        self.unstable_from = self.last_index().next();
        (truncate, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::EntryKind;
    use alloc::vec;

    fn e(term: u64, index: u64) -> Entry {
        Entry {
            term: Term(term),
            index: LogIndex(index),
            kind: EntryKind::Normal,
            data: alloc::vec::Vec::new().into(),
        }
    }

    #[test]
    fn terms_and_bounds() {
        let log = RaftLog::new(LogIndex(3), Term(2), vec![e(2, 4), e(3, 5)], LogIndex(4));
        assert_eq!(log.term(LogIndex(2)), None);
        assert_eq!(log.term(LogIndex(3)), Some(Term(2)));
        assert_eq!(log.term(LogIndex(5)), Some(Term(3)));
        assert_eq!(log.term(LogIndex(6)), None);
        assert_eq!(
            (log.first_index(), log.last_index(), log.last_term()),
            (LogIndex(4), LogIndex(5), Term(3))
        );
        assert!(log.is_up_to_date(LogIndex(1), Term(4)));
        assert!(!log.is_up_to_date(LogIndex(9), Term(2)));
    }

    #[test]
    fn conflicting_suffix_is_replaced_and_reported_for_truncation() {
        let mut log =
            RaftLog::new(LogIndex(0), Term(0), vec![e(1, 1), e(1, 2), e(1, 3)], LogIndex(1));
        assert!(!log.has_unstable());
        // A duplicate of what is there changes nothing.
        assert_eq!(log.append_from_leader(LogIndex(1), vec![e(1, 2)]), Ok((LogIndex(2), None)));
        assert_eq!(log.last_index(), LogIndex(3));
        assert_eq!(
            log.append_from_leader(LogIndex(1), vec![e(1, 2), e(2, 3), e(2, 4)]),
            Ok((LogIndex(4), Some(LogIndex(3))))
        );
        assert_eq!(log.take_unstable(), (Some(LogIndex(3)), vec![e(2, 3), e(2, 4)]));
        assert_eq!(
            log.append_from_leader(LogIndex(0), vec![e(3, 1)]),
            Err("append conflicts with committed entries")
        );
    }

    #[test]
    fn conflict_hint_skips_whole_terms() {
        let log = RaftLog::new(
            LogIndex(0),
            Term(0),
            vec![e(1, 1), e(1, 2), e(4, 3), e(4, 4), e(4, 5)],
            LogIndex(0),
        );
        assert_eq!(log.conflict_hint(LogIndex(5), Term(2)), (LogIndex(2), Term(1)));
        assert_eq!(log.conflict_hint(LogIndex(9), Term(4)), (LogIndex(5), Term(4)));
        assert_eq!(log.conflict_hint(LogIndex(5), Term(0)), (LogIndex(0), Term(0)));
    }

    #[test]
    fn compaction_keeps_the_boundary_term() {
        let mut log =
            RaftLog::new(LogIndex(0), Term(0), vec![e(1, 1), e(2, 2), e(2, 3)], LogIndex(3));
        assert_eq!(log.compact(LogIndex(2)), Term(2));
        assert_eq!(log.term(LogIndex(2)), Some(Term(2)));
        assert_eq!(log.term(LogIndex(1)), None);
        assert_eq!(log.slice(LogIndex(3), LogIndex(3)), &[e(2, 3)]);
        assert_eq!(log.entries_limited(LogIndex(3), LogIndex(3), 0), vec![e(2, 3)]);
    }
}
