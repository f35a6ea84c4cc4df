//! Commands: proposals, configuration changes, leader transfer, applying and compaction.

use super::confchange;
use super::error::{CompactError, ConfChangeError, ProposeError, TransferError};
use super::message::MessageBody;
use super::progress::Progress;
use super::raw::Raft;
use super::types::{ConfChange, ConfState, Entry, EntryKind, Payload, Role};
use crate::ids::{LogIndex, NodeId, Term};
use alloc::vec::Vec;

/// Where an accepted proposal went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proposal {
    /// Appended to this leader's log at `first..=last` in `term`. The proposal is committed if
    /// an entry with this index *and term* is applied; an applied entry at that index with
    /// another term means it was lost (a new leader overwrote it).
    Appended {
        /// Index of the first entry.
        first: LogIndex,
        /// Index of the last entry.
        last: LogIndex,
        /// The leader's term.
        term: Term,
    },
    /// Forwarded to the leader `to`; no answer comes back through Raft (the Node recognises its
    /// command when applied, or times out).
    Forwarded {
        /// The leader it was sent to.
        to: NodeId,
    },
}

impl Raft {
    /// Proposes one command. See [`Raft::propose_batch`].
    ///
    /// # Errors
    /// As for [`Raft::propose_batch`].
    pub fn propose(&mut self, data: impl Into<Payload>) -> Result<Proposal, ProposeError> {
        self.propose_batch(alloc::vec![data.into()])
    }

    /// Proposes commands, all or none: the leader appends them (consecutive entries) and sends
    /// them on; a follower forwards them to its leader when `forward_proposals` is set.
    ///
    /// May produce: `Send` (appends or the forwarded proposal), `Persist` (the new entries).
    ///
    /// # Errors
    /// `NotLeader` (no forwarding, or no leader known), `TooLarge` (over `max_proposal_bytes`,
    /// or an empty batch), `UncommittedBytesExceeded`, `TransferInProgress`.
    pub fn propose_batch(&mut self, data: Vec<Payload>) -> Result<Proposal, ProposeError> {
        self.check_drained();
        let bytes: u64 = data.iter().map(|d| d.len() as u64).sum();
        if data.is_empty() || bytes > self.cfg.max_proposal_bytes {
            return Err(ProposeError::TooLarge);
        }
        if self.role == Role::Leader {
            return self.propose_as_leader(data, true);
        }
        if self.cfg.forward_proposals && self.leader.is_some() {
            let to = self.leader;
            self.send(to, MessageBody::Propose { data });
            return Ok(Proposal::Forwarded { to });
        }
        Err(ProposeError::NotLeader { leader_hint: self.leader })
    }

    pub(super) fn propose_as_leader(
        &mut self,
        data: Vec<Payload>,
        checked: bool,
    ) -> Result<Proposal, ProposeError> {
        let bytes: u64 = data.iter().map(|d| d.len() as u64).sum();
        if !checked && (data.is_empty() || bytes > self.cfg.max_proposal_bytes) {
            return Err(ProposeError::TooLarge);
        }
        if self.transferee.is_some() {
            return Err(ProposeError::TransferInProgress);
        }
        if self.uncommitted_bytes > 0
            && self.uncommitted_bytes.saturating_add(bytes) > self.cfg.max_uncommitted_bytes
        {
            return Err(ProposeError::UncommittedBytesExceeded);
        }
        let first = self.log.last_index().next();
        for d in data {
            let index = self.log.last_index().next();
            self.log.append(Entry { term: self.term, index, kind: EntryKind::Normal, data: d });
        }
        self.uncommitted_bytes += bytes;
        self.broadcast_new_entries();
        Ok(Proposal::Appended { first, last: self.log.last_index(), term: self.term })
    }

    /// Proposes a membership change (leader only; not forwarded). It takes effect on each member
    /// when that member applies it: the Node calls [`Raft::apply_conf_change`] as it reaches the
    /// entry. Only one change may be pending (proposed and not yet applied by this leader), and
    /// a new leader first commits an entry of its term.
    ///
    /// May produce: `Send`, `Persist`.
    ///
    /// # Errors
    /// `NotLeader`, `TransferInProgress`, `ConfChangePending`, `LeaderNotReady`,
    /// `InvalidConfChange`, `TooLarge`, `UncommittedBytesExceeded`.
    pub fn propose_conf_change(&mut self, cc: &ConfChange) -> Result<Proposal, ProposeError> {
        self.check_drained();
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader { leader_hint: self.leader });
        }
        if self.transferee.is_some() || self.handing_over() {
            return Err(ProposeError::TransferInProgress);
        }
        if self.pending_conf_index > self.applied {
            return Err(ProposeError::ConfChangePending);
        }
        if self.log.term(self.log.committed) != Some(self.term) {
            return Err(ProposeError::LeaderNotReady);
        }
        confchange::apply(&self.conf, cc).map_err(ProposeError::InvalidConfChange)?;
        let data = cc.encode();
        let bytes = data.len() as u64;
        if bytes > self.cfg.max_proposal_bytes {
            return Err(ProposeError::TooLarge);
        }
        if self.uncommitted_bytes > 0
            && self.uncommitted_bytes.saturating_add(bytes) > self.cfg.max_uncommitted_bytes
        {
            return Err(ProposeError::UncommittedBytesExceeded);
        }
        let index = self.append_conf_entry(data);
        Ok(Proposal::Appended { first: index, last: index, term: self.term })
    }

    fn append_conf_entry(&mut self, data: Vec<u8>) -> LogIndex {
        let index = self.log.last_index().next();
        self.uncommitted_bytes += data.len() as u64;
        self.log.append(Entry {
            term: self.term,
            index,
            kind: EntryKind::ConfChange,
            data: data.into(),
        });
        self.pending_conf_index = index;
        self.broadcast_new_entries();
        index
    }

    /// The Node applies a configuration-change entry (in log order, as it reaches it in an
    /// `Apply` batch). The configuration in force becomes the returned one: who votes, who
    /// is replicated to, whether this member may campaign. A leader no longer among the voters
    /// hands over (`TimeoutNow` to a caught-up voter) and steps down. An invalid change (the
    /// same on every member) leaves the configuration as it was.
    ///
    /// May produce: `Send`, `Persist`, `RoleChanged`, `SendSnapshot`.
    ///
    /// # Errors
    /// Why the change is invalid; the configuration is unchanged.
    ///
    /// Like [`Raft::advance_applied`], it may be called while an `Apply` batch is being
    /// processed without draining in between; drain after the batch.
    pub fn apply_conf_change(&mut self, cc: &ConfChange) -> Result<ConfState, ConfChangeError> {
        let next = confchange::apply(&self.conf, cc)?;
        self.conf = next;
        if self.role == Role::Leader {
            self.leader_config_changed();
        }
        Ok(self.conf.clone())
    }

    fn leader_config_changed(&mut self) {
        let members = self.conf.members();
        let next = self.log.last_index().next();
        self.progress.retain(|id, _| members.contains(id));
        let mut added = Vec::new();
        for id in &members {
            if !self.progress.contains_key(id) {
                let mut pr = Progress::new(next);
                pr.recent_active = true;
                self.progress.insert(*id, pr);
                added.push(*id);
            }
        }
        if self.transferee.is_some_and(|t| !self.conf.is_voter(t)) {
            self.transferee = None;
        }
        if !self.conf.is_voter(self.cfg.id) {
            self.start_handover();
            return;
        }
        // The quorum changed: the commit index may move. New members are probed at once.
        if self.maybe_commit() {
            self.broadcast_append();
        } else {
            self.broadcast_new_entries();
            for id in added {
                self.maybe_send_append(id, true);
            }
        }
    }

    /// True while this leader is no longer a voter of the configuration in force: it only
    /// finishes replicating and hands leadership to a caught-up voter.
    pub(super) fn handing_over(&self) -> bool {
        self.role == Role::Leader && !self.conf.is_voter(self.cfg.id)
    }

    /// A leader outside the configuration: let everyone learn the commit index, and if a voter
    /// already holds the whole log, tell it to campaign; otherwise the first voter to catch up
    /// is told (see `handle_append_response`). Proposals are refused meanwhile.
    pub(super) fn start_handover(&mut self) {
        self.broadcast_append();
        let last = self.log.last_index();
        let successor = self.conf.voters.iter().copied().find(|id| {
            *id != self.cfg.id && self.progress.get(id).is_some_and(|p| p.match_index == last)
        });
        self.transferee = successor;
        if let Some(to) = successor {
            self.hand_over_to(to);
        }
    }

    /// Tells `to` to campaign; a leader outside the configuration then steps down at once (the
    /// voters elect a successor even if the message is lost).
    pub(super) fn hand_over_to(&mut self, to: NodeId) {
        self.send(to, MessageBody::TimeoutNow);
        if self.handing_over() {
            self.become_follower(self.term, NodeId::NONE);
        }
    }

    /// The Node has applied every entry up to `index` (reported in order; it must not exceed
    /// the last `Apply` batch). Lets the next `Apply` batch out, allows the next configuration
    /// change, and makes a leader leave an automatic joint configuration.
    ///
    /// May produce: `Apply`, `Send`, `Persist` (a leave-joint entry).
    ///
    /// # Panics
    /// If `index` is beyond what `Apply` has handed out (a driver bug).
    pub fn advance_applied(&mut self, index: LogIndex) {
        assert!(
            index <= self.apply_emitted,
            "raft: advance_applied({index}) beyond the entries handed out"
        );
        if index <= self.applied {
            return;
        }
        self.applied = index;
        let leave = self.role == Role::Leader
            && self.conf.is_joint()
            && self.conf.auto_leave
            && self.pending_conf_index <= self.applied;
        if leave {
            let data = ConfChange::leave_joint().encode();
            self.append_conf_entry(data);
        }
    }

    /// Asks leadership to move to voter `to`: proposals are refused while it runs; `to` is
    /// caught up and then told to campaign at once (`TimeoutNow`). Abandoned if not done within
    /// an election timeout. Transferring to the current transferee again is a no-op.
    ///
    /// May produce: `Send`.
    ///
    /// # Errors
    /// `NotLeader`, `InvalidTarget` (self, or not a voter).
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<(), TransferError> {
        self.check_drained();
        if self.role != Role::Leader {
            return Err(TransferError::NotLeader { leader_hint: self.leader });
        }
        if to == self.cfg.id || !self.conf.is_voter(to) || !self.progress.contains_key(&to) {
            return Err(TransferError::InvalidTarget);
        }
        if self.transferee == Some(to) {
            return Ok(());
        }
        self.transferee = Some(to);
        self.election_elapsed = 0;
        if self.progress[&to].match_index == self.log.last_index() {
            self.send(to, MessageBody::TimeoutNow);
        } else {
            self.maybe_send_append(to, true);
        }
        Ok(())
    }

    /// Drops log entries up to `index` from memory and (through the next `Persist`) from
    /// storage. Call only once the state machine up to `index` is durable: those entries can
    /// never be replayed again, and followers that need them get a snapshot.
    ///
    /// May produce: `Persist` (`compact_to`).
    ///
    /// # Errors
    /// `NotApplied` (beyond the applied index), `AlreadyCompacted`.
    pub fn compact(&mut self, index: LogIndex) -> Result<(), CompactError> {
        self.check_drained();
        if index > self.applied {
            return Err(CompactError::NotApplied { applied: self.applied });
        }
        if index <= self.log.offset().0 {
            return Err(CompactError::AlreadyCompacted);
        }
        let term = self.log.compact(index);
        self.out.compact_to = Some((index, term));
        Ok(())
    }
}
