//! Elections: timeouts, pre-votes, votes and role transitions.

use super::error::StepError;
use super::message::{Message, MessageBody};
use super::progress::Progress;
use super::quorum::{vote_result, VoteResult};
use super::raw::Raft;
use super::types::{Entry, EntryKind, Payload, Role};
use crate::ids::{LogIndex, NodeId, Term};
use alloc::vec::Vec;

impl Raft {
    pub(super) fn tick_election(&mut self) {
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        if self.may_campaign() && self.election_elapsed >= self.randomized_timeout {
            self.election_elapsed = 0;
            self.start_campaign();
        }
    }

    pub(super) fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.cfg.election_ticks {
            self.election_elapsed = 0;
            if self.cfg.check_quorum {
                if !self.quorum_active() {
                    // Cut off from a quorum: another leader may exist; stop serving.
                    self.become_follower(self.term, NodeId::NONE);
                    return;
                }
                let me = self.cfg.id;
                for (id, pr) in &mut self.progress {
                    pr.recent_active = *id == me;
                }
            }
            // A transfer that did not finish within an election timeout is abandoned (a removed
            // leader then looks for another successor).
            self.transferee = None;
            if self.handing_over() {
                self.start_handover();
            }
        }
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
            self.heartbeat_elapsed = 0;
            let round = self.reads.round_to_confirm();
            self.broadcast_heartbeat(round);
        }
    }

    fn quorum_active(&self) -> bool {
        let me = self.cfg.id;
        let progress = &self.progress;
        let active =
            |id: NodeId| Some(id == me || progress.get(&id).is_some_and(|p| p.recent_active));
        vote_result(&self.conf, &active) == VoteResult::Won
    }

    /// Starts an election now (with a pre-vote round if configured), as if the election timeout
    /// had passed. Returns false (and does nothing) for a leader or a member that may not
    /// campaign (a learner, or not a voter of the configuration in force).
    ///
    /// May produce: `Send` (pre-votes or votes), `Persist` (new term and self-vote),
    /// `RoleChanged`.
    pub fn campaign(&mut self) -> bool {
        self.check_drained();
        if self.role == Role::Leader || !self.may_campaign() {
            return false;
        }
        self.start_campaign();
        true
    }

    /// Voters campaign. So does a non-voter (a learner, or a removed member) that refused a
    /// vote because its log is ahead of the candidate's: configurations take effect when
    /// applied, so a voter may still need the vote of a member whose own applied configuration
    /// no longer (or not yet) lets it vote, and that member's log may hold entries the voter
    /// lacks. Without help neither could ever win. The non-voter then campaigns under its own
    /// configuration, never counting itself, and if it wins only hands its log over (it refuses
    /// proposals and sends `TimeoutNow` to the first caught-up voter).
    fn may_campaign(&self) -> bool {
        self.is_promotable() || (self.caretaker && !self.conf.voters.is_empty())
    }

    fn start_campaign(&mut self) {
        if self.cfg.pre_vote {
            self.become_pre_candidate();
        } else {
            self.campaign_now(false);
        }
    }

    /// Raises the term and asks for votes (skipping the pre-vote round).
    pub(super) fn campaign_now(&mut self, transfer: bool) {
        self.become_candidate();
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for id in self.voters_except_me() {
            self.send(id, MessageBody::Vote { last_index, last_term, transfer });
        }
        // A lone voter wins as soon as its own vote is durable.
        self.count_own_vote();
    }

    fn voters_except_me(&self) -> Vec<NodeId> {
        let me = self.cfg.id;
        let mut ids: Vec<NodeId> =
            self.conf.voters.iter().chain(self.conf.voters_outgoing.iter()).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| *id != me);
        ids
    }

    fn become_pre_candidate(&mut self) {
        self.role = Role::PreCandidate;
        self.leader = NodeId::NONE;
        self.reset_common();
        self.votes.insert(self.cfg.id, true);
        self.report_soft_state();
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        let next_term = Term(self.term.0 + 1);
        for id in self.voters_except_me() {
            let msg = Message {
                from: self.cfg.id,
                to: id,
                term: next_term,
                body: MessageBody::PreVote { last_index, last_term },
            };
            self.out.push(super::output::RaftOutput::Send(msg));
        }
        self.tally();
    }

    fn become_candidate(&mut self) {
        self.term = Term(self.term.0 + 1);
        self.vote = self.cfg.id;
        self.role = Role::Candidate;
        self.leader = NodeId::NONE;
        self.reset_common();
        self.report_soft_state();
    }

    /// Becomes a follower in `term` (clearing the vote if the term rises) following `leader`.
    pub(super) fn become_follower(&mut self, term: Term, leader: NodeId) {
        let was_leader = self.role == Role::Leader;
        if term > self.term {
            self.term = term;
            self.vote = NodeId::NONE;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.reset_common();
        if was_leader {
            self.fail_leader_reads();
        }
        self.report_soft_state();
    }

    /// Sets the known leader (a follower hearing from the leader of its term).
    pub(super) fn set_leader(&mut self, leader: NodeId) {
        self.leader = leader;
        self.report_soft_state();
    }

    fn reset_common(&mut self) {
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_election_timeout();
        self.votes.clear();
        self.transferee = None;
        self.uncommitted_bytes = 0;
        self.progress.clear();
    }

    fn become_leader(&mut self) {
        self.caretaker = false;
        self.role = Role::Leader;
        self.leader = self.cfg.id;
        self.reset_common();
        let next = self.log.last_index().next();
        for id in self.conf.members() {
            let mut pr = Progress::new(next);
            // Give every member a full election timeout to answer before check-quorum counts it.
            pr.recent_active = true;
            self.progress.insert(id, pr);
        }
        let (me, persisted) = (self.cfg.id, self.persisted);
        let pr = self.progress.entry(me).or_insert_with(|| Progress::new(next));
        pr.match_index = persisted;
        pr.become_replicate();
        pr.next_index = next;
        // No configuration change until everything before this term is applied.
        self.pending_conf_index = self.log.last_index();
        self.report_soft_state();
        let noop = Entry {
            term: self.term,
            index: next,
            kind: EntryKind::Normal,
            data: Payload::from(&[][..]),
        };
        self.log.append(noop);
        self.broadcast_append();
    }

    pub(super) fn handle_vote_request(&mut self, m: Message) -> Result<(), StepError> {
        let (pre, last_index, last_term) = match m.body {
            MessageBody::PreVote { last_index, last_term } => (true, last_index, last_term),
            MessageBody::Vote { last_index, last_term, .. } => (false, last_index, last_term),
            _ => unreachable!("only vote requests come here"),
        };
        let can_vote = self.vote == m.from
            || (self.vote == NodeId::NONE && self.leader == NodeId::NONE)
            || (pre && m.term > self.term);
        let up_to_date = self.log.is_up_to_date(last_index, last_term);
        let grant = can_vote && up_to_date;
        if !up_to_date && !self.is_promotable() && self.log.last_index() > LogIndex::ZERO {
            self.caretaker = true;
        }
        if pre {
            // A pre-vote grant carries the term asked about, a refusal our own.
            let term = if grant { m.term } else { self.term };
            let reply = Message {
                from: self.cfg.id,
                to: m.from,
                term,
                body: MessageBody::PreVoteResponse { reject: !grant },
            };
            self.out.push(super::output::RaftOutput::Send(reply));
        } else if grant {
            self.vote = m.from;
            self.election_elapsed = 0;
            // The grant may only leave once the vote is durable.
            self.send_after_persist(m.from, MessageBody::VoteResponse { reject: false });
        } else {
            self.send(m.from, MessageBody::VoteResponse { reject: true });
        }
        Ok(())
    }

    pub(super) fn step_candidate(&mut self, m: Message) -> Result<(), StepError> {
        match m.body {
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::Snapshot { .. } => {
                // Someone won this term.
                self.become_follower(m.term, m.from);
                self.step_follower_after_election(m)
            }
            MessageBody::PreVoteResponse { reject } if self.role == Role::PreCandidate => {
                let expected = if reject { self.term } else { Term(self.term.0 + 1) };
                if m.term != expected {
                    return Err(StepError::Ignored);
                }
                self.record_vote(m.from, !reject)
            }
            MessageBody::VoteResponse { reject } if self.role == Role::Candidate => {
                self.record_vote(m.from, !reject)
            }
            _ => Err(StepError::Ignored),
        }
    }

    fn step_follower_after_election(&mut self, m: Message) -> Result<(), StepError> {
        match m.body {
            MessageBody::Append { prev_index, prev_term, entries, commit } => {
                self.handle_append(m.from, prev_index, prev_term, entries, commit, m.term)
            }
            MessageBody::Heartbeat { commit, read_round } => {
                self.handle_heartbeat(m.from, commit, read_round);
                Ok(())
            }
            MessageBody::Snapshot { meta } => self.handle_snapshot_message(m.from, meta),
            _ => Err(StepError::Ignored),
        }
    }

    fn record_vote(&mut self, from: NodeId, granted: bool) -> Result<(), StepError> {
        if !self.conf.is_voter(from) {
            return Err(StepError::UnknownPeer);
        }
        self.votes.entry(from).or_insert(granted);
        self.tally();
        Ok(())
    }

    /// Counts the candidate's own vote once its hard state (term and vote) is durable.
    pub(super) fn count_own_vote(&mut self) {
        let durable = self.out.durable_hard_state;
        if self.role == Role::Candidate && durable.term == self.term && durable.vote == self.cfg.id
        {
            if self.votes.contains_key(&self.cfg.id) {
                return;
            }
            self.votes.insert(self.cfg.id, true);
            self.tally();
        }
    }

    fn tally(&mut self) {
        let votes = &self.votes;
        match vote_result(&self.conf, &|id| votes.get(&id).copied()) {
            VoteResult::Won if self.role == Role::PreCandidate => self.campaign_now(false),
            VoteResult::Won => self.become_leader(),
            VoteResult::Lost => self.become_follower(self.term, NodeId::NONE),
            VoteResult::Pending => {}
        }
    }
}
