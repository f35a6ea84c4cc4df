//! Linearizable reads (ReadIndex): the leader records its commit index, confirms it still leads
//! with a heartbeat round acknowledged by a quorum (or trusts its lease), then releases the read
//! at that index. Followers forward reads to the leader.

use super::config::ReadOnlyMode;
use super::error::ReadFailure;
use super::message::MessageBody;
use super::output::RaftOutput;
use super::quorum::quorum_value;
use super::raw::Raft;
use super::types::{ReadId, Role};
use crate::ids::{LogIndex, NodeId};
use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;

#[derive(Debug)]
struct PendingRead {
    /// This member, or the follower that forwarded the read.
    requester: NodeId,
    ctx: ReadId,
    index: LogIndex,
    round: u64,
}

/// Reads in progress.
#[derive(Debug, Default)]
pub(crate) struct ReadQueue {
    /// Last heartbeat round started for reads.
    round: u64,
    /// Leader: reads waiting for their round to be acknowledged by a quorum, oldest first.
    pending: VecDeque<PendingRead>,
    /// Leader: reads waiting for the first commit of this term.
    deferred: Vec<(NodeId, ReadId)>,
    /// Follower: reads forwarded to the leader, awaiting its answer.
    forwarded: BTreeSet<ReadId>,
}

impl ReadQueue {
    /// The round the next heartbeat should carry: the newest if reads wait, else zero.
    pub fn round_to_confirm(&self) -> u64 {
        if self.pending.is_empty() {
            0
        } else {
            self.round
        }
    }
}

impl Raft {
    /// Starts a linearizable read identified by `ctx`. The answer comes as `ReadReady { ctx,
    /// index }` (serve the read once the state machine has applied `index`) or `ReadFailed`.
    /// A leader that has not committed an entry of its term yet holds the read until it has;
    /// a follower forwards it to the leader when `forward_reads` is set.
    ///
    /// May produce: `Send` (heartbeats, the forwarded read), `ReadReady`, `ReadFailed`.
    pub fn read_index(&mut self, ctx: ReadId) {
        self.check_drained();
        if self.role == Role::Leader {
            let me = self.cfg.id;
            self.leader_read(me, ctx);
            return;
        }
        if !self.cfg.forward_reads || self.leader == NodeId::NONE {
            let reason = ReadFailure::NotLeader { leader_hint: self.leader };
            self.out.push(RaftOutput::ReadFailed { ctx, reason });
            return;
        }
        if self.reads.forwarded.len() >= self.cfg.max_pending_reads
            || self.reads.forwarded.contains(&ctx)
        {
            self.out.push(RaftOutput::ReadFailed { ctx, reason: ReadFailure::TooManyPending });
            return;
        }
        self.reads.forwarded.insert(ctx);
        self.send(self.leader, MessageBody::ReadIndex { ctx });
    }

    /// A read asked of this leader by `requester` (itself or a follower).
    pub(super) fn leader_read(&mut self, requester: NodeId, ctx: ReadId) {
        let waiting = self.reads.pending.len() + self.reads.deferred.len();
        if waiting >= self.cfg.max_pending_reads {
            self.answer_read(requester, ctx, Err(ReadFailure::TooManyPending));
            return;
        }
        if self.log.term(self.log.committed) != Some(self.term) {
            // Our commit index may lag the previous leader's until we commit in our term.
            self.reads.deferred.push((requester, ctx));
            return;
        }
        self.start_read(requester, ctx);
    }

    fn start_read(&mut self, requester: NodeId, ctx: ReadId) {
        let index = self.log.committed;
        let lone_voter = self.conf.voters_outgoing.is_empty()
            && self.conf.voters.len() == 1
            && self.conf.voters.contains(&self.cfg.id);
        if lone_voter || self.cfg.read_only == ReadOnlyMode::LeaseBased {
            // Check-quorum makes a leader that lost its quorum step down within an election
            // timeout; the lease mode trusts that instead of asking.
            self.answer_read(requester, ctx, Ok(index));
            return;
        }
        self.reads.round += 1;
        let round = self.reads.round;
        self.reads.pending.push_back(PendingRead { requester, ctx, index, round });
        self.broadcast_heartbeat(round);
    }

    /// Releases every read whose round a quorum has acknowledged.
    pub(super) fn confirm_reads(&mut self) {
        let (me, current) = (self.cfg.id, self.reads.round);
        let progress = &self.progress;
        let acked = |id: NodeId| {
            if id == me {
                current
            } else {
                progress.get(&id).map_or(0, |p| p.read_round)
            }
        };
        let confirmed = quorum_value(&self.conf, &acked, &mut self.scratch);
        while self.reads.pending.front().is_some_and(|r| r.round <= confirmed) {
            let read = self.reads.pending.pop_front().expect("checked non-empty");
            self.answer_read(read.requester, read.ctx, Ok(read.index));
        }
    }

    /// The leader just committed its first entry of the term: start the reads it held.
    pub(super) fn release_deferred_reads(&mut self) {
        for (requester, ctx) in core::mem::take(&mut self.reads.deferred) {
            self.start_read(requester, ctx);
        }
    }

    fn answer_read(
        &mut self,
        requester: NodeId,
        ctx: ReadId,
        result: Result<LogIndex, ReadFailure>,
    ) {
        if requester == self.cfg.id {
            self.out.push(match result {
                Ok(index) => RaftOutput::ReadReady { ctx, index },
                Err(reason) => RaftOutput::ReadFailed { ctx, reason },
            });
        } else {
            self.send(requester, MessageBody::ReadIndexResponse { ctx, index: result.ok() });
        }
    }

    /// The leader stepped down: every read it held fails.
    pub(super) fn fail_leader_reads(&mut self) {
        let pending: Vec<(NodeId, ReadId)> =
            self.reads.pending.drain(..).map(|r| (r.requester, r.ctx)).collect();
        let deferred = core::mem::take(&mut self.reads.deferred);
        for (requester, ctx) in pending.into_iter().chain(deferred) {
            self.answer_read(requester, ctx, Err(ReadFailure::LeaderChanged));
        }
    }

    /// Our leader (or term) changed: reads forwarded to the old one will not be answered.
    pub(super) fn fail_forwarded_reads(&mut self) {
        for ctx in core::mem::take(&mut self.reads.forwarded) {
            self.out.push(RaftOutput::ReadFailed { ctx, reason: ReadFailure::LeaderChanged });
        }
    }

    pub(super) fn handle_read_index_response(
        &mut self,
        ctx: ReadId,
        index: Option<LogIndex>,
    ) -> Result<(), super::error::StepError> {
        if !self.reads.forwarded.remove(&ctx) {
            return Err(super::error::StepError::Ignored);
        }
        self.out.push(match index {
            Some(index) => RaftOutput::ReadReady { ctx, index },
            None => RaftOutput::ReadFailed { ctx, reason: ReadFailure::LeaderChanged },
        });
        Ok(())
    }
}
