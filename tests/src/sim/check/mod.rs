//! Invariant checkers, one per file. Each keeps what it needs from earlier observations and
//! returns a [`Violation`] the moment an invariant breaks.
//!
//! | checker | invariant |
//! |---|---|
//! | [`election`] | at most one leader per term |
//! | [`committed`] | an entry once committed never changes or disappears, on any member; a member's commit index never goes back (within one run of its process) and never passes its log |
//! | [`leader_completeness`] | a new leader holds every entry committed in earlier terms |
//! | [`log_matching`] | two logs with an entry of equal index and term are identical up to it |
//! | [`state_machine`] | members apply the committed entries, each once, in order; equal applied index means equal key-value state |
//! | [`revisions`] | revisions never go back on a member; a response never shows a revision older than a write that finished before it was sent; each value has one mod revision |
//! | [`linearizability`] | the client history has a linearization (per key) |
//! | [`liveness`] | after healing, members converge and a write commits within a bound |
//!
//! The Raft checkers read members through [`LogView`], which `oxcd_core::raft::Raft` implements.

pub mod committed;
pub mod election;
pub mod leader_completeness;
pub mod linearizability;

pub mod log_matching;
pub mod revisions;
pub mod state_machine;
pub mod watch;

use oxcd_core::ids::{LogIndex, NodeId, Term};
use oxcd_core::raft::{Entry, EntryKind, Raft};
use oxcd_core::time::Instant;
use std::fmt;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The checker that found it.
    pub checker: &'static str,
    /// Virtual time of the observation.
    pub at: Instant,
    /// What is wrong, with the facts that show it.
    pub message: String,
}

impl Violation {
    /// A violation found by `checker` at `at`.
    #[must_use]
    pub fn new(checker: &'static str, at: Instant, message: impl Into<String>) -> Self {
        Violation { checker, at, message: message.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] at {}: {}", self.checker, self.at, self.message)
    }
}

impl std::error::Error for Violation {}

/// What the Raft checkers read from a member.
pub trait LogView {
    /// The member's id.
    fn id(&self) -> NodeId;
    /// Its current term.
    fn term(&self) -> Term;
    /// True while it leads.
    fn is_leader(&self) -> bool;
    /// Its commit index.
    fn commit_index(&self) -> LogIndex;
    /// Its applied index.
    fn applied_index(&self) -> LogIndex;
    /// The first index still in its log.
    fn first_index(&self) -> LogIndex;
    /// The last index in its log.
    fn last_index(&self) -> LogIndex;
    /// The term at `index` (entries in the log and the compaction point).
    fn term_at(&self, index: LogIndex) -> Option<Term>;
    /// Entries `from..=to`, or empty when any is not in the log.
    fn entries(&self, from: LogIndex, to: LogIndex) -> &[Entry];
}

impl LogView for Raft {
    fn id(&self) -> NodeId {
        Raft::id(self)
    }
    fn term(&self) -> Term {
        Raft::term(self)
    }
    fn is_leader(&self) -> bool {
        Raft::is_leader(self)
    }
    fn commit_index(&self) -> LogIndex {
        Raft::commit_index(self)
    }
    fn applied_index(&self) -> LogIndex {
        Raft::applied(self)
    }
    fn first_index(&self) -> LogIndex {
        Raft::first_index(self)
    }
    fn last_index(&self) -> LogIndex {
        Raft::last_index(self)
    }
    fn term_at(&self, index: LogIndex) -> Option<Term> {
        Raft::term_at(self, index)
    }
    fn entries(&self, from: LogIndex, to: LogIndex) -> &[Entry] {
        Raft::entries(self, from, to)
    }
}

/// A 64-bit digest of an entry's kind and payload (FNV-1a), so the checkers keep a number per
/// committed entry instead of its bytes.
#[must_use]
pub fn entry_digest(entry: &Entry) -> u64 {
    let kind = match entry.kind {
        EntryKind::Normal => 1u8,
        EntryKind::ConfChange => 2u8,
    };
    fnv1a(fnv1a(FNV_OFFSET, &[kind]), &entry.data)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Continues an FNV-1a hash over `bytes`.
#[must_use]
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// FNV-1a of `bytes` from the standard offset.
#[must_use]
pub fn digest(bytes: &[u8]) -> u64 {
    fnv1a(FNV_OFFSET, bytes)
}

#[cfg(test)]
pub(crate) mod fake;
