//! The values Raft persists and replicates: entries, hard state, configurations and snapshot
//! metadata. Every type here is `bincode` encodable and has a stable one-line `Display`, used by
//! the scenario files in `core/testdata/raft`.

use crate::ids::{LogIndex, NodeId, Term};
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use bincode::{Decode, Encode};
use core::fmt;

/// What an entry carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum EntryKind {
    /// An opaque state-machine command (empty data: the leader's no-op).
    Normal,
    /// A bincode-encoded [`ConfChange`]; takes effect when applied.
    ConfChange,
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Entry {
    /// The term of the leader that created it.
    pub term: Term,
    /// Its position in the log.
    pub index: LogIndex,
    /// How to read `data`.
    pub kind: EntryKind,
    /// The payload, shared: cloning an entry (into messages, persist requests and `Apply`
    /// batches) does not copy it.
    pub data: Payload,
}

/// An entry's immutable, shared payload (encoded like a `Vec<u8>`). Build one from a
/// `Vec<u8>` or a byte slice with `.into()`.
pub type Payload = alloc::sync::Arc<[u8]>;

impl Entry {
    /// Bytes this entry counts for against size limits (its payload).
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        self.data.len() as u64
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.term, self.index)?;
        match self.kind {
            EntryKind::Normal if self.data.is_empty() => f.write_str(" noop"),
            EntryKind::Normal => {
                f.write_str(" ")?;
                write_bytes(f, &self.data)
            }
            EntryKind::ConfChange => match ConfChange::decode(&self.data) {
                Some(cc) => write!(f, " conf {cc}"),
                None => f.write_str(" conf <malformed>"),
            },
        }
    }
}

/// Writes `data` as text when it is short printable ASCII, else as its length.
pub(crate) fn write_bytes(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    let printable = data.len() <= 32 && data.iter().all(|b| b.is_ascii_graphic());
    if printable {
        // Safe: every byte is ASCII.
        f.write_str(core::str::from_utf8(data).unwrap_or("?"))
    } else {
        write!(f, "<{} bytes>", data.len())
    }
}

/// What a member must persist before it acts on it: its term, its vote in that term and the
/// highest index it knows to be committed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct HardState {
    /// The current term.
    pub term: Term,
    /// The candidate voted for in `term`, or [`NodeId::NONE`].
    pub vote: NodeId,
    /// The highest index known committed.
    pub commit: LogIndex,
}

impl fmt::Display for HardState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "term={} vote={} commit={}", self.term, self.vote, self.commit)
    }
}

/// A cluster configuration: who votes and who only receives the log. In a joint configuration
/// (`voters_outgoing` non-empty) decisions need a majority of `voters` *and* of `voters_outgoing`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct ConfState {
    /// Voters of the (incoming) configuration.
    pub voters: BTreeSet<NodeId>,
    /// Members that receive the log but never vote.
    pub learners: BTreeSet<NodeId>,
    /// Voters of the outgoing configuration while joint; empty otherwise.
    pub voters_outgoing: BTreeSet<NodeId>,
    /// Outgoing voters that become learners when the joint configuration is left.
    pub learners_next: BTreeSet<NodeId>,
    /// Whether the leader leaves the joint configuration by itself once it is applied.
    pub auto_leave: bool,
}

impl ConfState {
    /// A configuration of `voters` only.
    #[must_use]
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        ConfState { voters: voters.into_iter().collect(), ..ConfState::default() }
    }

    /// True while the configuration is joint.
    #[must_use]
    pub fn is_joint(&self) -> bool {
        !self.voters_outgoing.is_empty()
    }

    /// True if `id` votes in either half of the configuration.
    #[must_use]
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.voters_outgoing.contains(&id)
    }

    /// True if `id` is a learner now or becomes one when the joint configuration is left (and
    /// is not a voter).
    #[must_use]
    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.contains(&id)
    }

    /// True if `id` is a member in any role.
    #[must_use]
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.learners.contains(&id) || self.learners_next.contains(&id)
    }

    /// Every member, voters and learners, in order.
    #[must_use]
    pub fn members(&self) -> BTreeSet<NodeId> {
        let mut all = self.voters.clone();
        all.extend(self.voters_outgoing.iter().copied());
        all.extend(self.learners.iter().copied());
        all.extend(self.learners_next.iter().copied());
        all
    }
}

fn write_set(f: &mut fmt::Formatter<'_>, set: &BTreeSet<NodeId>) -> fmt::Result {
    f.write_str("(")?;
    for (i, id) in set.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{id}")?;
    }
    f.write_str(")")
}

impl fmt::Display for ConfState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("voters=")?;
        write_set(f, &self.voters)?;
        if self.is_joint() {
            f.write_str("&&")?;
            write_set(f, &self.voters_outgoing)?;
        }
        if !self.learners.is_empty() {
            f.write_str(" learners=")?;
            write_set(f, &self.learners)?;
        }
        if !self.learners_next.is_empty() {
            f.write_str(" learners_next=")?;
            write_set(f, &self.learners_next)?;
        }
        if self.auto_leave {
            f.write_str(" autoleave")?;
        }
        Ok(())
    }
}

/// One membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SingleChange {
    /// Make the node a voter (adding it, or promoting a learner).
    AddVoter(NodeId),
    /// Make the node a learner (adding it, or demoting a voter).
    AddLearner(NodeId),
    /// Remove the node in whatever role it has.
    Remove(NodeId),
}

impl SingleChange {
    /// The node concerned.
    #[must_use]
    pub fn node(self) -> NodeId {
        match self {
            SingleChange::AddVoter(id)
            | SingleChange::AddLearner(id)
            | SingleChange::Remove(id) => id,
        }
    }
}

impl fmt::Display for SingleChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SingleChange::AddVoter(id) => write!(f, "v{id}"),
            SingleChange::AddLearner(id) => write!(f, "l{id}"),
            SingleChange::Remove(id) => write!(f, "r{id}"),
        }
    }
}

/// How a [`ConfChange`] moves between configurations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Transition {
    /// A change of at most one voter is made directly; anything larger enters a joint
    /// configuration that the leader leaves by itself.
    Auto,
    /// Always enter a joint configuration; `auto_leave: false` waits for an explicit
    /// [`Transition::LeaveJoint`] proposal.
    Joint {
        /// Whether the leader proposes leaving the joint configuration by itself.
        auto_leave: bool,
    },
    /// Leave the current joint configuration (the change list must be empty).
    LeaveJoint,
}

/// A membership change, proposed with `Raft::propose_conf_change` and carried in an entry of
/// kind [`EntryKind::ConfChange`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ConfChange {
    /// How to move to the new configuration.
    pub transition: Transition,
    /// The changes, applied in order.
    pub changes: Vec<SingleChange>,
    /// Opaque data for the layer above (member names and addresses); Raft ignores it.
    pub context: Vec<u8>,
}

impl ConfChange {
    /// A simple change adding a voter.
    #[must_use]
    pub fn add_voter(id: NodeId, context: Vec<u8>) -> Self {
        ConfChange {
            transition: Transition::Auto,
            changes: alloc::vec![SingleChange::AddVoter(id)],
            context,
        }
    }

    /// A simple change adding a learner.
    #[must_use]
    pub fn add_learner(id: NodeId, context: Vec<u8>) -> Self {
        ConfChange {
            transition: Transition::Auto,
            changes: alloc::vec![SingleChange::AddLearner(id)],
            context,
        }
    }

    /// A simple change removing a member.
    #[must_use]
    pub fn remove(id: NodeId) -> Self {
        ConfChange {
            transition: Transition::Auto,
            changes: alloc::vec![SingleChange::Remove(id)],
            context: Vec::new(),
        }
    }

    /// The change that leaves a joint configuration.
    #[must_use]
    pub fn leave_joint() -> Self {
        ConfChange { transition: Transition::LeaveJoint, changes: Vec::new(), context: Vec::new() }
    }

    /// The bytes stored in an entry's data.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        // Encoding into a Vec cannot fail for these types.
        bincode::encode_to_vec(self, crate::raft::storage::CODEC).unwrap_or_default()
    }

    /// Reads a change back from an entry's data; `None` if the bytes are not a change.
    #[must_use]
    pub fn decode(data: &[u8]) -> Option<Self> {
        match bincode::decode_from_slice::<ConfChange, _>(data, crate::raft::storage::CODEC) {
            Ok((cc, used)) if used == data.len() => Some(cc),
            _ => None,
        }
    }
}

impl fmt::Display for ConfChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transition {
            Transition::Auto => {}
            Transition::Joint { auto_leave: true } => f.write_str("joint-auto ")?,
            Transition::Joint { auto_leave: false } => f.write_str("joint ")?,
            Transition::LeaveJoint => f.write_str("leave-joint")?,
        }
        for (i, c) in self.changes.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Describes the state-machine snapshot a member installs: the last entry it covers and the
/// configuration as of that entry. The data itself travels outside Raft (the Node streams it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct SnapshotMeta {
    /// Index of the last entry the snapshot contains.
    pub index: LogIndex,
    /// Term of that entry.
    pub term: Term,
    /// Configuration as of `index`.
    pub conf_state: ConfState,
}

impl fmt::Display for SnapshotMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.term, self.index, self.conf_state)
    }
}

/// The caller's identifier for a linearizable read; echoed back in `ReadReady`/`ReadFailed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct ReadId(pub u64);

impl fmt::Display for ReadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// A member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking for pre-votes, without having raised its term.
    PreCandidate,
    /// Asking for votes in a new term.
    Candidate,
    /// Leads the current term.
    Leader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn conf_change_round_trips_and_rejects_garbage() {
        let cc = ConfChange {
            transition: Transition::Joint { auto_leave: true },
            changes: alloc::vec![
                SingleChange::AddVoter(NodeId(4)),
                SingleChange::Remove(NodeId(1))
            ],
            context: alloc::vec![1, 2, 3],
        };
        assert_eq!(ConfChange::decode(&cc.encode()), Some(cc.clone()));
        assert_eq!(cc.to_string(), "joint-auto v4,r1");
        assert_eq!(ConfChange::decode(&[0xff, 0xff, 0xff]), None);
        let mut long = cc.encode();
        long.push(0);
        assert_eq!(ConfChange::decode(&long), None);
    }

    #[test]
    fn displays_are_one_line() {
        let e = Entry {
            term: Term(2),
            index: LogIndex(5),
            kind: EntryKind::Normal,
            data: b"x"[..].into(),
        };
        assert_eq!(e.to_string(), "2/5 x");
        let cs = ConfState {
            voters: [NodeId(1), NodeId(2)].into_iter().collect(),
            voters_outgoing: [NodeId(1)].into_iter().collect(),
            learners: [NodeId(3)].into_iter().collect(),
            ..ConfState::default()
        };
        assert_eq!(cs.to_string(), "voters=(1,2)&&(1) learners=(3)");
    }
}
