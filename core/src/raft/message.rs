//! Messages between Raft members. The layer above carries them (the peer codec encodes them with
//! bincode); Raft only creates and steps them.

use super::types::{write_bytes, Entry, Payload, ReadId, SnapshotMeta};
use crate::ids::{LogIndex, NodeId, Term};
use alloc::vec::Vec;
use bincode::{Decode, Encode};
use core::fmt;

/// A message from one member to another.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Message {
    /// The sender.
    pub from: NodeId,
    /// The recipient.
    pub to: NodeId,
    /// The sender's term (for pre-votes: the term it would campaign in).
    pub term: Term,
    /// What the message says.
    pub body: MessageBody,
}

/// The kinds of messages.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum MessageBody {
    /// "Would you vote for me in `term`?", asked without raising the sender's term.
    PreVote {
        /// Index of the sender's last entry.
        last_index: LogIndex,
        /// Term of the sender's last entry.
        last_term: Term,
    },
    /// Answer to [`MessageBody::PreVote`].
    PreVoteResponse {
        /// True if refused.
        reject: bool,
    },
    /// "Vote for me in `term`".
    Vote {
        /// Index of the sender's last entry.
        last_index: LogIndex,
        /// Term of the sender's last entry.
        last_term: Term,
        /// A campaign started by a leader transfer: it bypasses the recipients' leader lease.
        transfer: bool,
    },
    /// Answer to [`MessageBody::Vote`]; a grant leaves only after the vote is durable.
    VoteResponse {
        /// True if refused.
        reject: bool,
    },
    /// Log entries following `(prev_index, prev_term)`, and the leader's commit index.
    Append {
        /// Index of the entry before `entries`.
        prev_index: LogIndex,
        /// Term of that entry.
        prev_term: Term,
        /// The entries, consecutive from `prev_index + 1`.
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: LogIndex,
    },
    /// Answer to [`MessageBody::Append`] (or to a snapshot); an acceptance leaves only after the
    /// entries are durable.
    AppendResponse {
        /// Accepted: the follower's log matches the leader's up to `index`. Rejected: `index` is
        /// the `prev_index` that did not match.
        index: LogIndex,
        /// True if the append did not match.
        reject: bool,
        /// On rejection, the follower's best guess of where the logs might match: the largest
        /// index at or below `index` whose term is at most the leader's `prev_term` ...
        hint_index: LogIndex,
        /// ... and that entry's term (fast backtracking).
        hint_term: Term,
    },
    /// The leader's periodic "I am alive", carrying the commit index the recipient can safely
    /// use and the current read round.
    Heartbeat {
        /// `min(commit, recipient's match)`.
        commit: LogIndex,
        /// Read round being confirmed (zero: none).
        read_round: u64,
    },
    /// Answer to [`MessageBody::Heartbeat`].
    HeartbeatResponse {
        /// The read round echoed back.
        read_round: u64,
    },
    /// Proposals forwarded by a follower to its leader.
    Propose {
        /// The commands, in order.
        data: Vec<Payload>,
    },
    /// A linearizable read forwarded by a follower to its leader.
    ReadIndex {
        /// The follower's read identifier.
        ctx: ReadId,
    },
    /// The leader's answer to [`MessageBody::ReadIndex`].
    ReadIndexResponse {
        /// The follower's read identifier.
        ctx: ReadId,
        /// The index to wait for before reading; `None` if the read failed.
        index: Option<LogIndex>,
    },
    /// "Campaign now": the last step of a leader transfer.
    TimeoutNow,
    /// A snapshot has been streamed to the recipient; this is its metadata. Created by the Node
    /// (see `Raft::handle_snapshot`), never by Raft.
    Snapshot {
        /// What the snapshot covers.
        meta: SnapshotMeta,
    },
}

impl MessageBody {
    /// A short stable name of the message kind.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            MessageBody::PreVote { .. } => "PreVote",
            MessageBody::PreVoteResponse { .. } => "PreVoteResp",
            MessageBody::Vote { .. } => "Vote",
            MessageBody::VoteResponse { .. } => "VoteResp",
            MessageBody::Append { .. } => "App",
            MessageBody::AppendResponse { .. } => "AppResp",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResponse { .. } => "HeartbeatResp",
            MessageBody::Propose { .. } => "Propose",
            MessageBody::ReadIndex { .. } => "ReadIndex",
            MessageBody::ReadIndexResponse { .. } => "ReadIndexResp",
            MessageBody::TimeoutNow => "TimeoutNow",
            MessageBody::Snapshot { .. } => "Snapshot",
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{} {} t{}", self.from, self.to, self.body.kind(), self.term)?;
        match &self.body {
            MessageBody::PreVote { last_index, last_term }
            | MessageBody::Vote { last_index, last_term, transfer: false } => {
                write!(f, " last={last_term}/{last_index}")
            }
            MessageBody::Vote { last_index, last_term, transfer: true } => {
                write!(f, " last={last_term}/{last_index} transfer")
            }
            MessageBody::PreVoteResponse { reject } | MessageBody::VoteResponse { reject } => {
                f.write_str(if *reject { " reject" } else { " grant" })
            }
            MessageBody::Append { prev_index, prev_term, entries, commit } => {
                write!(f, " prev={prev_term}/{prev_index} commit={commit}")?;
                if !entries.is_empty() {
                    f.write_str(" [")?;
                    for (i, e) in entries.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{e}")?;
                    }
                    f.write_str("]")?;
                }
                Ok(())
            }
            MessageBody::AppendResponse { index, reject: false, .. } => write!(f, " ok={index}"),
            MessageBody::AppendResponse { index, reject: true, hint_index, hint_term } => {
                write!(f, " reject={index} hint={hint_term}/{hint_index}")
            }
            MessageBody::Heartbeat { commit, read_round } => {
                write!(f, " commit={commit}")?;
                if *read_round != 0 {
                    write!(f, " round={read_round}")?;
                }
                Ok(())
            }
            MessageBody::HeartbeatResponse { read_round } => {
                if *read_round != 0 {
                    write!(f, " round={read_round}")?;
                }
                Ok(())
            }
            MessageBody::Propose { data } => {
                f.write_str(" [")?;
                for (i, d) in data.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_bytes(f, d)?;
                }
                f.write_str("]")
            }
            MessageBody::ReadIndex { ctx } => write!(f, " {ctx}"),
            MessageBody::ReadIndexResponse { ctx, index: Some(index) } => {
                write!(f, " {ctx} index={index}")
            }
            MessageBody::ReadIndexResponse { ctx, index: None } => write!(f, " {ctx} failed"),
            MessageBody::TimeoutNow => Ok(()),
            MessageBody::Snapshot { meta } => write!(f, " {meta}"),
        }
    }
}
