//! The checkers of one world, fed after every input and at every sample.

use crate::sim::check::committed::CommittedLog;
use crate::sim::check::election::ElectionSafety;
use crate::sim::check::revisions::MemberRevisions;
use crate::sim::check::state_machine::{AppliedStreams, StateDigests};
use crate::sim::check::{leader_completeness, log_matching, Violation};
use oxcd_core::node::Node;
use oxcd_core::time::Instant;

/// Every incremental checker's state.
#[derive(Debug, Default)]
pub struct Checks {
    /// At most one leader per term.
    pub election: ElectionSafety,
    /// The committed log as observed.
    pub committed: CommittedLog,
    /// Applied streams.
    pub applied: AppliedStreams,
    /// Key-value state per applied index.
    pub states: StateDigests,
    /// Revisions per member.
    pub revisions: MemberRevisions,
    /// New leaders checked for completeness.
    pub leaders_checked: u64,
    /// Log pairs compared.
    pub pairs_compared: u64,
}

impl Checks {
    /// Checks member `node` (in its `incarnation`-th run) after an input, against `others`.
    ///
    /// # Errors
    /// The first invariant found broken.
    pub fn after_input<'a>(
        &mut self,
        at: Instant,
        incarnation: u64,
        node: &Node,
        others: impl Iterator<Item = &'a Node>,
    ) -> Result<(), Violation> {
        let raft = node.raft();
        self.committed.observe(at, incarnation, raft)?;
        if self.election.observe(at, raft)? {
            self.leaders_checked += 1;
            leader_completeness::check_new_leader(at, &self.committed, raft)?;
        }
        self.applied.observe(at, incarnation, raft, &self.committed)?;
        self.revisions.observe(at, node.id(), incarnation, node.revision())?;
        for other in others {
            self.pairs_compared += 1;
            log_matching::check_pair(at, raft, other.raft())?;
        }
        Ok(())
    }
}
