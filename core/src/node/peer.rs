//! What members say to each other, above Raft: Raft's own messages, snapshot chunks, and
//! requests a follower forwards to the leader (lease keep-alives and time-to-live, which only
//! the leader can answer). Encoded with bincode by the peer codec.

use crate::ids::{LeaseId, NodeId, Term};
use crate::membership::Member;
use crate::raft::{Message, SnapshotMeta};
use alloc::string::String;
use alloc::vec::Vec;
use bincode::{Decode, Encode};
use core::fmt;

/// A message between members.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum PeerMessage {
    /// A Raft message.
    Raft(Message),
    /// Part of a state-machine snapshot, leader to follower.
    SnapshotChunk(SnapshotChunk),
    /// A follower's answer to a chunk.
    SnapshotAck(SnapshotAck),
    /// A request only the leader can answer.
    Forward {
        /// The follower's id for matching the reply.
        id: u64,
        /// The request.
        request: Forwarded,
    },
    /// The leader's answer to a [`PeerMessage::Forward`].
    ForwardReply {
        /// The follower's id from the request.
        id: u64,
        /// The answer.
        reply: ForwardedReply,
    },
}

/// A membership change a follower forwards (only the leader proposes them).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum MemberOp {
    /// MemberAdd.
    Add {
        /// The new member's peer URLs.
        peer_urls: Vec<String>,
        /// Add it as a learner.
        is_learner: bool,
    },
    /// MemberRemove.
    Remove {
        /// The member removed.
        id: NodeId,
    },
    /// MemberUpdate.
    Update {
        /// The member updated.
        id: NodeId,
        /// Its new peer URLs.
        peer_urls: Vec<String>,
    },
    /// MemberPromote.
    Promote {
        /// The learner promoted.
        id: NodeId,
    },
}

/// Requests a follower forwards to the leader.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Forwarded {
    /// A membership change.
    Member(MemberOp),
    /// Renew a lease.
    LeaseKeepAlive {
        /// The lease.
        lease: LeaseId,
    },
    /// A lease's remaining time, as the leader sees it.
    LeaseTimeToLive {
        /// The lease.
        lease: LeaseId,
        /// Also list the attached keys.
        keys: bool,
    },
}

/// The leader's answers to [`Forwarded`] requests.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ForwardedReply {
    /// The lease was renewed to this TTL (seconds).
    LeaseKeepAlive {
        /// The lease's TTL after renewal.
        ttl_seconds: i64,
    },
    /// A lease's remaining and granted TTL, and keys if asked.
    LeaseTimeToLive {
        /// Remaining seconds.
        ttl_seconds: i64,
        /// Granted seconds.
        granted_ttl_seconds: i64,
        /// Attached keys.
        keys: Vec<Vec<u8>>,
    },
    /// The lease does not exist.
    LeaseNotFound,
    /// A membership change was applied.
    Member {
        /// The member added, for MemberAdd.
        member: Option<Member>,
        /// Every member after the change.
        members: Vec<Member>,
    },
    /// The request failed with this error (an index into `ApiError::ALL`).
    Error(u16),
    /// The recipient is not the leader (any more).
    NotLeader,
}

/// Part of a snapshot. Chunks of one snapshot are numbered from zero; `records` is a sequence
/// of `(table tag, key, value)` triples of the state-machine tables.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SnapshotChunk {
    /// The leader's id for this transfer.
    pub transfer: u64,
    /// The leader's term.
    pub term: Term,
    /// What the snapshot covers.
    pub meta: SnapshotMeta,
    /// Position of this chunk in the transfer.
    pub seq: u32,
    /// The records.
    pub records: Vec<(u8, Vec<u8>, Vec<u8>)>,
    /// True on the last chunk.
    pub last: bool,
}

/// A follower's answer to a chunk.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SnapshotAck {
    /// The transfer.
    pub transfer: u64,
    /// The chunk acknowledged.
    pub seq: u32,
    /// False: the follower dropped the transfer (out-of-order chunk, stale term, refused).
    pub ok: bool,
}

impl fmt::Display for PeerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerMessage::Raft(m) => write!(f, "{m}"),
            PeerMessage::SnapshotChunk(c) => write!(
                f,
                "snapshot-chunk transfer={} seq={} records={} last={}",
                c.transfer,
                c.seq,
                c.records.len(),
                c.last
            ),
            PeerMessage::SnapshotAck(a) => {
                write!(f, "snapshot-ack transfer={} seq={} ok={}", a.transfer, a.seq, a.ok)
            }
            PeerMessage::Forward { id, request } => write!(f, "forward id={id} {request:?}"),
            PeerMessage::ForwardReply { id, reply } => write!(f, "forward-reply id={id} {reply:?}"),
        }
    }
}
