//! Expected failures of Raft's commands and inputs.

use crate::ids::{LogIndex, NodeId};
use core::fmt;

/// Why `Raft::step` refused or ignored a message. Every case is counted (see `RaftCounters`);
/// none changes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepError {
    /// Addressed to another member, from [`NodeId::NONE`] or from this member itself.
    Misaddressed,
    /// A term of zero, or a message that makes no sense (entries not consecutive, terms out of
    /// order, a conflict below the commit index, a response carrying an impossible index).
    Malformed(&'static str),
    /// From an older term (answered where that helps the sender catch up, then dropped).
    StaleTerm,
    /// A response from a member this leader does not track.
    UnknownPeer,
    /// Not meaningful in the current role or state (a late response, a duplicate); dropped.
    Ignored,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::Misaddressed => f.write_str("raft: message misaddressed"),
            StepError::Malformed(why) => write!(f, "raft: malformed message: {why}"),
            StepError::StaleTerm => f.write_str("raft: message from an older term"),
            StepError::UnknownPeer => f.write_str("raft: message from an unknown member"),
            StepError::Ignored => f.write_str("raft: message ignored"),
        }
    }
}

/// Why a proposal was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// This member is not the leader (and does not forward); `leader_hint` is the leader it
    /// knows, or [`NodeId::NONE`].
    NotLeader {
        /// The leader this member knows of.
        leader_hint: NodeId,
    },
    /// The proposal exceeds `max_proposal_bytes` (or is empty).
    TooLarge,
    /// Accepting it would exceed `max_uncommitted_bytes`.
    UncommittedBytesExceeded,
    /// A leader transfer is in progress.
    TransferInProgress,
    /// Another configuration change is still pending (proposed but not applied).
    ConfChangePending,
    /// The leader has not yet committed an entry of its term.
    LeaderNotReady,
    /// The configuration change is not valid against the current configuration.
    InvalidConfChange(ConfChangeError),
}

impl fmt::Display for ProposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposeError::NotLeader { leader_hint } => {
                write!(f, "raft: not leader (leader {leader_hint})")
            }
            ProposeError::TooLarge => f.write_str("raft: proposal too large"),
            ProposeError::UncommittedBytesExceeded => {
                f.write_str("raft: too many uncommitted bytes")
            }
            ProposeError::TransferInProgress => f.write_str("raft: leader transfer in progress"),
            ProposeError::ConfChangePending => f.write_str("raft: configuration change pending"),
            ProposeError::LeaderNotReady => {
                f.write_str("raft: leader has not committed in its term")
            }
            ProposeError::InvalidConfChange(e) => write!(f, "raft: {e}"),
        }
    }
}

/// Why a configuration change is not valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfChangeError {
    /// A change names [`NodeId::NONE`].
    ZeroId,
    /// More than one voter changes without a joint configuration.
    TooManyVoterChanges,
    /// No voter would remain.
    NoVoters,
    /// Entering a joint configuration while already joint.
    AlreadyJoint,
    /// Leaving a joint configuration that is not joint, or leaving with changes listed.
    NotJoint,
    /// A simple change while joint (leave first).
    JointRequiresLeave,
    /// A member would be a learner and a voter at once.
    LearnerIsVoter,
}

impl fmt::Display for ConfChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfChangeError::ZeroId => "conf change names node 0",
            ConfChangeError::TooManyVoterChanges => {
                "more than one voter changed without joint consensus"
            }
            ConfChangeError::NoVoters => "conf change removes all voters",
            ConfChangeError::AlreadyJoint => "configuration is already joint",
            ConfChangeError::NotJoint => {
                "configuration is not joint (or leave-joint lists changes)"
            }
            ConfChangeError::JointRequiresLeave => "joint configuration must be left first",
            ConfChangeError::LearnerIsVoter => "a member cannot be both learner and voter",
        })
    }
}

/// Why a leader transfer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferError {
    /// Only the leader transfers leadership.
    NotLeader {
        /// The leader this member knows of.
        leader_hint: NodeId,
    },
    /// The target is not a voter of the configuration (or is this member).
    InvalidTarget,
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::NotLeader { leader_hint } => {
                write!(f, "raft: not leader (leader {leader_hint})")
            }
            TransferError::InvalidTarget => {
                f.write_str("raft: transfer target is not another voter")
            }
        }
    }
}

/// Why `Raft::compact` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactError {
    /// The index is not applied yet (compaction only drops applied entries).
    NotApplied {
        /// The applied index.
        applied: LogIndex,
    },
    /// The log is already compacted to the index or beyond.
    AlreadyCompacted,
}

impl fmt::Display for CompactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompactError::NotApplied { applied } => {
                write!(f, "raft: cannot compact beyond applied {applied}")
            }
            CompactError::AlreadyCompacted => f.write_str("raft: already compacted"),
        }
    }
}

/// Why a linearizable read failed (`RaftOutput::ReadFailed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFailure {
    /// Not the leader, and forwarding is off or no leader is known.
    NotLeader {
        /// The leader this member knows of.
        leader_hint: NodeId,
    },
    /// The leader changed (or stepped down) before the read was confirmed.
    LeaderChanged,
    /// Too many reads are waiting (`max_pending_reads`).
    TooManyPending,
}

impl fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadFailure::NotLeader { leader_hint } => write!(f, "not-leader({leader_hint})"),
            ReadFailure::LeaderChanged => f.write_str("leader-changed"),
            ReadFailure::TooManyPending => f.write_str("too-many-pending"),
        }
    }
}
