//! Raft's configuration and its validation.

use crate::ids::NodeId;
use core::fmt;

/// How the leader confirms a linearizable read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOnlyMode {
    /// Confirm leadership with a heartbeat round acknowledged by a quorum (etcd's default).
    Safe,
    /// Trust the leader lease: answer at once. Requires `check_quorum` (a leader that lost its
    /// quorum steps down within an election timeout) and clocks that do not drift much.
    LeaseBased,
}

/// Raft's settings. Build one with [`RaftConfig::new`] and adjust fields; [`RaftConfig::validate`]
/// (called by `Raft::new`) checks them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    /// This member's id (non-zero).
    pub id: NodeId,
    /// Minimum election timeout in ticks; each timeout is drawn from
    /// `[election_ticks, 2 * election_ticks)`.
    pub election_ticks: u32,
    /// Ticks between the leader's heartbeats (less than `election_ticks`).
    pub heartbeat_ticks: u32,
    /// Ask for pre-votes before raising the term, so a member that cannot win does not disrupt.
    pub pre_vote: bool,
    /// The leader steps down when it has not heard from a quorum within an election timeout;
    /// followers ignore vote requests while they hear from a leader (the leader lease).
    pub check_quorum: bool,
    /// Maximum appends in flight to one follower in the replicate state.
    pub max_inflight_appends: usize,
    /// Maximum payload bytes of one append message (at least one entry is always sent).
    pub max_append_bytes: u64,
    /// Maximum payload bytes the leader holds appended but not committed; proposals beyond it
    /// are refused (a proposal is accepted when nothing is uncommitted, whatever its size).
    pub max_uncommitted_bytes: u64,
    /// Maximum payload bytes of one proposal batch.
    pub max_proposal_bytes: u64,
    /// Maximum payload bytes of one `Apply` output (at least one entry is always applied).
    pub max_apply_bytes: u64,
    /// Maximum linearizable reads waiting at once (local, deferred, forwarded and being
    /// confirmed for others, each counted separately); more fail with `TooManyPending`.
    pub max_pending_reads: usize,
    /// How reads are confirmed.
    pub read_only: ReadOnlyMode,
    /// Followers forward proposals to the leader instead of refusing them.
    pub forward_proposals: bool,
    /// Followers forward reads to the leader instead of failing them.
    pub forward_reads: bool,
    /// Seed of the random generator (election timeouts).
    pub seed: u64,
}

impl RaftConfig {
    /// etcd-like defaults for member `id`: 10 election ticks, 1 heartbeat tick, pre-vote and
    /// check-quorum on, 256 appends in flight, 1 MiB per append, forwarding on.
    #[must_use]
    pub fn new(id: NodeId) -> Self {
        RaftConfig {
            id,
            election_ticks: 10,
            heartbeat_ticks: 1,
            pre_vote: true,
            check_quorum: true,
            max_inflight_appends: 256,
            max_append_bytes: 1 << 20,
            max_uncommitted_bytes: 64 << 20,
            max_proposal_bytes: 1536 * 1024,
            max_apply_bytes: 4 << 20,
            max_pending_reads: 4096,
            read_only: ReadOnlyMode::Safe,
            forward_proposals: true,
            forward_reads: true,
            seed: id.0,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// The first setting found out of range.
    pub fn validate(&self) -> Result<(), RaftConfigError> {
        if !self.id.is_some() {
            return Err(RaftConfigError::ZeroId);
        }
        if self.heartbeat_ticks == 0 {
            return Err(RaftConfigError::ZeroHeartbeatTicks);
        }
        if self.election_ticks <= self.heartbeat_ticks || self.election_ticks > u32::MAX / 2 {
            return Err(RaftConfigError::ElectionTicksOutOfRange);
        }
        if self.max_inflight_appends == 0 {
            return Err(RaftConfigError::ZeroLimit("max_inflight_appends"));
        }
        if self.max_append_bytes == 0 {
            return Err(RaftConfigError::ZeroLimit("max_append_bytes"));
        }
        if self.max_uncommitted_bytes == 0 {
            return Err(RaftConfigError::ZeroLimit("max_uncommitted_bytes"));
        }
        if self.max_proposal_bytes == 0 {
            return Err(RaftConfigError::ZeroLimit("max_proposal_bytes"));
        }
        if self.max_apply_bytes == 0 {
            return Err(RaftConfigError::ZeroLimit("max_apply_bytes"));
        }
        if self.max_pending_reads == 0 {
            return Err(RaftConfigError::ZeroLimit("max_pending_reads"));
        }
        if self.read_only == ReadOnlyMode::LeaseBased && !self.check_quorum {
            return Err(RaftConfigError::LeaseWithoutCheckQuorum);
        }
        Ok(())
    }
}

/// Why a [`RaftConfig`] or the recovered state given to `Raft::new` was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RaftConfigError {
    /// `id` is zero.
    ZeroId,
    /// `heartbeat_ticks` is zero.
    ZeroHeartbeatTicks,
    /// `election_ticks` must exceed `heartbeat_ticks` (and fit when doubled).
    ElectionTicksOutOfRange,
    /// A limit that must be positive is zero.
    ZeroLimit(&'static str),
    /// `ReadOnlyMode::LeaseBased` requires `check_quorum`.
    LeaseWithoutCheckQuorum,
    /// The recovered state is inconsistent (the message says how).
    InconsistentRecovery(&'static str),
}

impl fmt::Display for RaftConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RaftConfigError::ZeroId => f.write_str("raft: id must not be zero"),
            RaftConfigError::ZeroHeartbeatTicks => {
                f.write_str("raft: heartbeat_ticks must be positive")
            }
            RaftConfigError::ElectionTicksOutOfRange => {
                f.write_str("raft: election_ticks must be greater than heartbeat_ticks")
            }
            RaftConfigError::ZeroLimit(name) => write!(f, "raft: {name} must be positive"),
            RaftConfigError::LeaseWithoutCheckQuorum => {
                f.write_str("raft: lease-based reads require check_quorum")
            }
            RaftConfigError::InconsistentRecovery(why) => write!(f, "raft: recovered state: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        let ok = RaftConfig::new(NodeId(1));
        assert_eq!(ok.validate(), Ok(()));
        let mut c = ok.clone();
        c.id = NodeId::NONE;
        assert_eq!(c.validate(), Err(RaftConfigError::ZeroId));
        let mut c = ok.clone();
        c.election_ticks = 1;
        assert_eq!(c.validate(), Err(RaftConfigError::ElectionTicksOutOfRange));
        let mut c = ok.clone();
        c.max_inflight_appends = 0;
        assert_eq!(c.validate(), Err(RaftConfigError::ZeroLimit("max_inflight_appends")));
        let mut c = ok;
        c.check_quorum = false;
        c.read_only = ReadOnlyMode::LeaseBased;
        assert_eq!(c.validate(), Err(RaftConfigError::LeaseWithoutCheckQuorum));
    }
}
