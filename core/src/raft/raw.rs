//! The Raft state machine: its state, construction, getters and the message dispatcher.
//! Elections live in `election.rs`, replication in `replication.rs`, leader commands in
//! `leader.rs`, reads in `read_only.rs` and output assembly in `output.rs`.

use super::config::{RaftConfig, RaftConfigError};
use super::error::StepError;
use super::log::RaftLog;
use super::message::{Message, MessageBody};
use super::output::{OutputQueue, RaftOutput};
use super::progress::Progress;
use super::read_only::ReadQueue;
use super::types::{ConfChange, ConfState, Entry, EntryKind, HardState, Role};
use crate::ids::{LogIndex, NodeId, Term};
use crate::rng::Rng;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// What a member read back from storage at start (see `raft::storage::recover` for the log
/// part; `conf_state` and `applied` come from the state machine).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftRecovered {
    /// The last durable hard state.
    pub hard_state: HardState,
    /// The compaction point (or installed snapshot): index and term of the last entry no longer
    /// in the log. `(0, 0)` for a log never compacted.
    pub compacted: (LogIndex, Term),
    /// The durable entries after `compacted`, consecutive.
    pub entries: Vec<Entry>,
    /// The configuration as of `applied` (from the state machine).
    pub conf_state: ConfState,
    /// The last index the durable state machine contains.
    pub applied: LogIndex,
}

/// Counts of messages `step` refused or ignored, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaftCounters {
    /// [`StepError::Misaddressed`].
    pub misaddressed: u64,
    /// [`StepError::Malformed`].
    pub malformed: u64,
    /// [`StepError::StaleTerm`].
    pub stale_term: u64,
    /// [`StepError::UnknownPeer`].
    pub unknown_peer: u64,
    /// [`StepError::Ignored`].
    pub ignored: u64,
    /// Forwarded proposals the leader refused (the follower's caller times out).
    pub forwarded_proposals_dropped: u64,
}

/// One member's Raft: a pure state machine driven by `tick`, `step` and commands, drained with
/// `poll_output`. See the module documentation for the driver loop.
#[derive(Debug)]
pub struct Raft {
    pub(super) cfg: RaftConfig,
    pub(super) rng: Rng,
    pub(super) term: Term,
    pub(super) vote: NodeId,
    pub(super) role: Role,
    pub(super) leader: NodeId,
    pub(super) log: RaftLog,
    /// Highest index the Node reported applied.
    pub(super) applied: LogIndex,
    /// Highest index handed out in `Apply`.
    pub(super) apply_emitted: LogIndex,
    /// Highest log index known durable.
    pub(super) persisted: LogIndex,
    pub(super) conf: ConfState,
    /// Leader only: every member's progress, this member's included.
    pub(super) progress: BTreeMap<NodeId, Progress>,
    /// Candidates: answers received (`true`: granted).
    pub(super) votes: BTreeMap<NodeId, bool>,
    pub(super) election_elapsed: u32,
    pub(super) heartbeat_elapsed: u32,
    pub(super) randomized_timeout: u32,
    pub(super) transferee: Option<NodeId>,
    pub(super) pending_conf_index: LogIndex,
    pub(super) uncommitted_bytes: u64,
    pub(super) reads: ReadQueue,
    pub(super) out: OutputQueue,
    pub(super) counters: RaftCounters,
    /// Set by the snapshot handler for `handle_snapshot`'s answer.
    pub(super) snapshot_installed: bool,
    /// A removed member asked to lead so the remaining voters can get its log (see
    /// `may_campaign`).
    pub(super) caretaker: bool,
    pub(super) scratch: Vec<u64>,
}

impl Raft {
    /// A member restarting from `recovered` (an empty `RaftRecovered::default()` for a member
    /// joining an existing cluster). Committed entries after `recovered.applied` come out again
    /// as `Apply`.
    ///
    /// # Errors
    /// An invalid configuration, or recovered state that contradicts itself.
    pub fn new(config: RaftConfig, recovered: RaftRecovered) -> Result<Raft, RaftConfigError> {
        config.validate()?;
        let RaftRecovered { hard_state, compacted, entries, conf_state, applied } = recovered;
        let bad = |why| Err(RaftConfigError::InconsistentRecovery(why));
        let mut expected = compacted.0;
        let mut last_term = compacted.1;
        for e in &entries {
            expected = expected.next();
            if e.index != expected {
                return bad("entries are not consecutive after the compaction point");
            }
            if e.term < last_term || e.term > hard_state.term {
                return bad("entry terms out of order");
            }
            last_term = e.term;
        }
        if applied < compacted.0 {
            return bad("applied index below the compaction point");
        }
        if applied > expected {
            return bad("applied index beyond the log");
        }
        let commit = hard_state.commit.max(applied);
        if commit > expected {
            return bad("commit index beyond the log");
        }
        let log = RaftLog::new(compacted.0, compacted.1, entries, commit);
        let persisted = log.last_index();
        let mut raft = Raft::blank(config, log, hard_state.term, hard_state.vote, conf_state);
        raft.applied = applied;
        raft.apply_emitted = applied;
        raft.persisted = persisted;
        raft.out.hard_state_written = hard_state;
        raft.out.durable_hard_state = hard_state;
        Ok(raft)
    }

    /// A founding member of a brand-new cluster: the log starts with one committed
    /// configuration-change entry per element of `founders` (term 1, indexes `1..=n`), identical
    /// on every founder, so all start from the same log. They come out as a `Persist` and, once
    /// durable, as `Apply`; the Node applies them with `apply_conf_change` like any other.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn bootstrap(config: RaftConfig, founders: &[ConfChange]) -> Result<Raft, RaftConfigError> {
        config.validate()?;
        let mut log = RaftLog::new(LogIndex::ZERO, Term::ZERO, Vec::new(), LogIndex::ZERO);
        for (i, cc) in founders.iter().enumerate() {
            log.append(Entry {
                term: Term(1),
                index: LogIndex(i as u64 + 1),
                kind: EntryKind::ConfChange,
                data: cc.encode().into(),
            });
        }
        log.committed = log.last_index();
        let term = if founders.is_empty() { Term::ZERO } else { Term(1) };
        Ok(Raft::blank(config, log, term, NodeId::NONE, ConfState::default()))
    }

    fn blank(cfg: RaftConfig, log: RaftLog, term: Term, vote: NodeId, conf: ConfState) -> Raft {
        let mut raft = Raft {
            rng: Rng::from_seed(cfg.seed),
            term,
            vote,
            role: Role::Follower,
            leader: NodeId::NONE,
            log,
            applied: LogIndex::ZERO,
            apply_emitted: LogIndex::ZERO,
            persisted: LogIndex::ZERO,
            conf,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_timeout: cfg.election_ticks,
            transferee: None,
            pending_conf_index: LogIndex::ZERO,
            uncommitted_bytes: 0,
            reads: ReadQueue::default(),
            out: OutputQueue::new(),
            counters: RaftCounters::default(),
            snapshot_installed: false,
            caretaker: false,
            scratch: Vec::new(),
            cfg,
        };
        raft.reset_election_timeout();
        raft.out.soft_state = (raft.role, raft.term, raft.leader);
        raft
    }

    // ---- getters ----

    /// This member's id.
    #[must_use]
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    /// The configuration it was built with.
    #[must_use]
    pub fn config(&self) -> &RaftConfig {
        &self.cfg
    }

    /// The current term.
    #[must_use]
    pub fn term(&self) -> Term {
        self.term
    }

    /// The vote cast in the current term.
    #[must_use]
    pub fn vote(&self) -> NodeId {
        self.vote
    }

    /// The current role.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// True if this member leads.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// The leader this member knows of, or [`NodeId::NONE`].
    #[must_use]
    pub fn leader(&self) -> NodeId {
        self.leader
    }

    /// The highest index known committed.
    #[must_use]
    pub fn commit_index(&self) -> LogIndex {
        self.log.committed
    }

    /// The index of the last entry in the log (durable or not).
    #[must_use]
    pub fn last_index(&self) -> LogIndex {
        self.log.last_index()
    }

    /// The term of the last entry in the log.
    #[must_use]
    pub fn last_term(&self) -> Term {
        self.log.last_term()
    }

    /// The first index still in the log (one past the compaction point).
    #[must_use]
    pub fn first_index(&self) -> LogIndex {
        self.log.first_index()
    }

    /// The highest index known durable in the local log.
    #[must_use]
    pub fn persisted_index(&self) -> LogIndex {
        self.persisted
    }

    /// The highest index the Node reported applied (`advance_applied`).
    #[must_use]
    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    /// The term of the entry at `index`, if still known (entries after the compaction point, and
    /// the compaction point itself). The Node uses it to label snapshots.
    #[must_use]
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        self.log.term(index)
    }

    /// The entries `from..=to` still in the log (empty if any is compacted or beyond the end).
    #[must_use]
    pub fn entries(&self, from: LogIndex, to: LogIndex) -> &[Entry] {
        if from < self.log.first_index() || to > self.log.last_index() {
            return &[];
        }
        self.log.slice(from, to)
    }

    /// The configuration in force (as of the last applied configuration change or snapshot).
    #[must_use]
    pub fn conf_state(&self) -> &ConfState {
        &self.conf
    }

    /// True if this member is a learner in the configuration in force.
    #[must_use]
    pub fn is_learner(&self) -> bool {
        self.conf.is_learner(self.cfg.id) || self.conf.learners_next.contains(&self.cfg.id)
    }

    /// True if this member may campaign: a voter of the configuration in force.
    #[must_use]
    pub fn is_promotable(&self) -> bool {
        self.conf.is_voter(self.cfg.id)
    }

    /// Leader only: replication progress of member `of` (this member included).
    #[must_use]
    pub fn progress(&self, of: NodeId) -> Option<&Progress> {
        if self.role == Role::Leader {
            self.progress.get(&of)
        } else {
            None
        }
    }

    /// Leader only: the member leadership is being transferred to.
    #[must_use]
    pub fn transferee(&self) -> Option<NodeId> {
        self.transferee
    }

    /// The hard state as it is now (durable or not).
    #[must_use]
    pub fn hard_state(&self) -> HardState {
        HardState { term: self.term, vote: self.vote, commit: self.log.committed }
    }

    /// Counts of refused and ignored inputs.
    #[must_use]
    pub fn counters(&self) -> RaftCounters {
        self.counters
    }

    /// Leader only: payload bytes appended in this term and not yet committed.
    #[must_use]
    pub fn uncommitted_bytes(&self) -> u64 {
        self.uncommitted_bytes
    }

    // ---- inputs ----

    /// Advances logical time by one tick: followers and candidates count toward their election
    /// timeout (then campaign), leaders send heartbeats, check their quorum and abort a stale
    /// leader transfer.
    ///
    /// May produce: `Send` (heartbeats, pre-votes, votes), `Persist` (a new term and vote),
    /// `RoleChanged`, `ReadFailed` (on stepping down).
    pub fn tick(&mut self) {
        self.check_drained();
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
        }
    }

    /// Processes a message from another member. Invalid or useless input is refused (counted,
    /// never a panic, no state change beyond what the message's term implies).
    ///
    /// May produce every kind of output.
    ///
    /// # Errors
    /// Why the message was refused or ignored.
    pub fn step(&mut self, msg: Message) -> Result<(), StepError> {
        self.check_drained();
        let result = self.step_inner(msg);
        if let Err(e) = result {
            match e {
                StepError::Misaddressed => self.counters.misaddressed += 1,
                StepError::Malformed(_) => self.counters.malformed += 1,
                StepError::StaleTerm => self.counters.stale_term += 1,
                StepError::UnknownPeer => self.counters.unknown_peer += 1,
                StepError::Ignored => self.counters.ignored += 1,
            }
        }
        result
    }

    fn step_inner(&mut self, m: Message) -> Result<(), StepError> {
        if m.to != self.cfg.id || !m.from.is_some() || m.from == self.cfg.id {
            return Err(StepError::Misaddressed);
        }
        if m.term == Term::ZERO {
            return Err(StepError::Malformed("term zero"));
        }
        if !within_bounds(&m) {
            return Err(StepError::Malformed("term or index out of range"));
        }
        if m.term > self.term {
            if let MessageBody::PreVote { .. } | MessageBody::Vote { transfer: false, .. } = m.body
            {
                let in_lease = self.cfg.check_quorum
                    && self.leader.is_some()
                    && self.election_elapsed < self.cfg.election_ticks;
                if in_lease {
                    // The leader lease: a leader was heard from recently, so this campaign can
                    // only be disruptive.
                    return Err(StepError::Ignored);
                }
            }
            match m.body {
                MessageBody::PreVote { .. } | MessageBody::PreVoteResponse { reject: false } => {}
                MessageBody::Append { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::Snapshot { .. } => {
                    self.become_follower(m.term, m.from);
                }
                _ => self.become_follower(m.term, NodeId::NONE),
            }
        } else if m.term < self.term {
            match m.body {
                MessageBody::Append { .. } | MessageBody::Heartbeat { .. }
                    if self.cfg.check_quorum || self.cfg.pre_vote =>
                {
                    // A stale leader (perhaps partitioned away): our higher term makes it step
                    // down instead of stalling the cluster with its lower term.
                    let body = MessageBody::AppendResponse {
                        index: LogIndex::ZERO,
                        reject: true,
                        hint_index: LogIndex::ZERO,
                        hint_term: Term::ZERO,
                    };
                    self.send(m.from, body);
                }
                MessageBody::PreVote { .. } => {
                    self.send(m.from, MessageBody::PreVoteResponse { reject: true });
                }
                _ => {}
            }
            return Err(StepError::StaleTerm);
        }
        match m.body {
            MessageBody::PreVote { .. } | MessageBody::Vote { .. } => self.handle_vote_request(m),
            _ => match self.role {
                Role::Leader => self.step_leader(m),
                Role::PreCandidate | Role::Candidate => self.step_candidate(m),
                Role::Follower => self.step_follower(m),
            },
        }
    }

    fn step_follower(&mut self, m: Message) -> Result<(), StepError> {
        match m.body {
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::Snapshot { .. } => {
                self.election_elapsed = 0;
                if self.leader != m.from {
                    self.set_leader(m.from);
                }
                match m.body {
                    MessageBody::Append { prev_index, prev_term, entries, commit } => {
                        self.handle_append(m.from, prev_index, prev_term, entries, commit, m.term)
                    }
                    MessageBody::Heartbeat { commit, read_round } => {
                        self.handle_heartbeat(m.from, commit, read_round);
                        Ok(())
                    }
                    MessageBody::Snapshot { meta } => self.handle_snapshot_message(m.from, meta),
                    _ => unreachable!("matched above"),
                }
            }
            MessageBody::TimeoutNow => {
                if self.is_promotable() {
                    self.caretaker = false;
                    self.campaign_now(true);
                    Ok(())
                } else {
                    Err(StepError::Ignored)
                }
            }
            MessageBody::ReadIndexResponse { ctx, index } => {
                self.handle_read_index_response(ctx, index)
            }
            MessageBody::ReadIndex { ctx } => {
                // Not the leader (any more): let the asker fail fast.
                self.send(m.from, MessageBody::ReadIndexResponse { ctx, index: None });
                Err(StepError::Ignored)
            }
            _ => Err(StepError::Ignored),
        }
    }

    pub(super) fn check_drained(&self) {
        debug_assert!(
            !self.has_pending_output(),
            "raft: state changed while output was left undrained: drain poll_output after every call"
        );
    }

    /// Queues a message that may leave at once.
    pub(super) fn send(&mut self, to: NodeId, body: MessageBody) {
        let msg = Message { from: self.cfg.id, to, term: self.term, body };
        self.out.push(RaftOutput::Send(msg));
    }

    /// Queues a message that may only leave once everything persisted so far is durable.
    pub(super) fn send_after_persist(&mut self, to: NodeId, body: MessageBody) {
        let msg = Message { from: self.cfg.id, to, term: self.term, body };
        self.out.then_send.push(msg);
    }

    pub(super) fn reset_election_timeout(&mut self) {
        let min = u64::from(self.cfg.election_ticks);
        self.randomized_timeout = self.rng.range_u64(min, 2 * min) as u32;
    }
}

/// Terms and indexes this far from zero cannot come from a correct member (2^62 entries or
/// elections); refusing them keeps every `+ 1` on them from overflowing.
pub(super) const MAX_SANE: u64 = 1 << 62;

fn within_bounds(m: &Message) -> bool {
    let ok_index = |i: LogIndex| i.0 < MAX_SANE;
    let ok_term = |t: Term| t.0 < MAX_SANE;
    if !ok_term(m.term) {
        return false;
    }
    // Nothing a member holds can come from a later term than the one it speaks in.
    let not_later = |t: Term| t <= m.term;
    match &m.body {
        MessageBody::PreVote { last_index, last_term }
        | MessageBody::Vote { last_index, last_term, .. } => {
            ok_index(*last_index) && not_later(*last_term)
        }
        MessageBody::Append { prev_index, prev_term, entries, commit } => {
            ok_index(*prev_index)
                && not_later(*prev_term)
                && ok_index(*commit)
                && (entries.len() as u64) < MAX_SANE - prev_index.0
                && entries.iter().all(|e| ok_index(e.index) && ok_term(e.term))
        }
        MessageBody::AppendResponse { index, hint_index, hint_term, .. } => {
            ok_index(*index) && ok_index(*hint_index) && not_later(*hint_term)
        }
        MessageBody::Heartbeat { commit, .. } => ok_index(*commit),
        MessageBody::ReadIndexResponse { index, .. } => index.is_none_or(ok_index),
        MessageBody::Snapshot { meta } => ok_index(meta.index) && not_later(meta.term),
        MessageBody::PreVoteResponse { .. }
        | MessageBody::VoteResponse { .. }
        | MessageBody::HeartbeatResponse { .. }
        | MessageBody::Propose { .. }
        | MessageBody::ReadIndex { .. }
        | MessageBody::TimeoutNow => true,
    }
}
