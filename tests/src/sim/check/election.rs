//! Election safety: at most one leader per term.

use super::{LogView, Violation};
use oxcd_core::ids::{NodeId, Term};
use oxcd_core::time::Instant;
use std::collections::BTreeMap;

/// Remembers the leader of every term seen.
#[derive(Debug, Default)]
pub struct ElectionSafety {
    leaders: BTreeMap<Term, NodeId>,
}

impl ElectionSafety {
    /// Nothing seen yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Observes a member after an input. Returns true when this is the first sight of it
    /// leading its term (a new leader).
    ///
    /// # Errors
    /// Another member led the same term.
    pub fn observe(&mut self, at: Instant, member: &dyn LogView) -> Result<bool, Violation> {
        if !member.is_leader() {
            return Ok(false);
        }
        let term = member.term();
        match self.leaders.get(&term) {
            None => {
                self.leaders.insert(term, member.id());
                Ok(true)
            }
            Some(&leader) if leader == member.id() => Ok(false),
            Some(&leader) => Err(Violation::new(
                "election safety",
                at,
                format!("members {leader} and {} both lead term {term}", member.id()),
            )),
        }
    }

    /// Terms that had a leader.
    #[must_use]
    pub fn terms_with_leader(&self) -> usize {
        self.leaders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::check::fake::FakeLog;

    #[test]
    fn one_leader_per_term_passes_and_a_second_one_fails() {
        let mut e = ElectionSafety::new();
        let at = Instant::ZERO;
        assert!(e.observe(at, &FakeLog::new(1, &[1]).leading(1)).unwrap());
        assert!(!e.observe(at, &FakeLog::new(1, &[1]).leading(1)).unwrap());
        assert!(!e.observe(at, &FakeLog::new(2, &[1])).unwrap());
        assert!(e.observe(at, &FakeLog::new(2, &[1]).leading(2)).unwrap());
        let err = e.observe(at, &FakeLog::new(3, &[1]).leading(2)).unwrap_err();
        assert!(err.message.contains("both lead term 2"), "{err}");
        assert_eq!(e.terms_with_leader(), 2);
    }
}
