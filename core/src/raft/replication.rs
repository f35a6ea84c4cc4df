//! Log replication: appends and their answers on both sides, heartbeats, commitment and
//! snapshot-driven catch-up.

use super::error::StepError;
use super::message::{Message, MessageBody};
use super::output::RaftOutput;
use super::progress::ProgressState;
use super::quorum::quorum_value;
use super::raw::Raft;
use super::types::{Entry, Role, SnapshotMeta};
use crate::ids::{LogIndex, NodeId, Term};
use alloc::vec::Vec;

/// The outcome of streaming a snapshot, reported with [`Raft::report_snapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotStatus {
    /// The follower received the whole snapshot, which covers the log up to `index`.
    Delivered {
        /// The snapshot's index.
        index: LogIndex,
    },
    /// Streaming failed; the leader will ask again after the follower next answers.
    Failed,
}

impl Raft {
    // ---- follower side ----

    pub(super) fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: LogIndex,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: LogIndex,
        msg_term: Term,
    ) -> Result<(), StepError> {
        let mut expected = prev_index;
        let mut last_term = prev_term;
        for e in &entries {
            expected = expected.next();
            if e.index != expected || e.term < last_term || e.term > msg_term {
                return Err(StepError::Malformed(
                    "append entries not consecutive or terms out of order",
                ));
            }
            last_term = e.term;
        }
        if prev_index < self.log.committed {
            // Everything up to our commit index matches the leader's log already.
            let index = self.log.committed;
            self.send_after_persist(from, accept(index));
            return Ok(());
        }
        if !self.log.matches(prev_index, prev_term) {
            let (hint_index, hint_term) = self.log.conflict_hint(prev_index, prev_term);
            let body = MessageBody::AppendResponse {
                index: prev_index,
                reject: true,
                hint_index,
                hint_term,
            };
            self.send_after_persist(from, body);
            return Ok(());
        }
        let (last_new, replaced) =
            self.log.append_from_leader(prev_index, entries).map_err(StepError::Malformed)?;
        if let Some(at) = replaced {
            self.entries_replaced_from(at);
        }
        self.log.commit_to(commit.min(last_new));
        // The acknowledgement leaves only once the entries are durable.
        self.send_after_persist(from, accept(last_new));
        Ok(())
    }

    pub(super) fn handle_heartbeat(&mut self, from: NodeId, commit: LogIndex, read_round: u64) {
        // The leader sends at most our match index, so this never commits a divergent entry.
        self.log.commit_to(commit);
        self.send(from, MessageBody::HeartbeatResponse { read_round });
    }

    pub(super) fn handle_snapshot_message(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
    ) -> Result<(), StepError> {
        if meta.index <= self.log.committed {
            // Stale: we are already further; tell the leader where we are.
            let index = self.log.committed;
            self.send_after_persist(from, accept(index));
            return Err(StepError::Ignored);
        }
        if !meta.conf_state.contains(self.cfg.id) {
            // Removed meanwhile (or not added yet): nothing to install here.
            return Err(StepError::Ignored);
        }
        if self.log.matches(meta.index, meta.term) {
            // Our log already holds the snapshot's last entry: just learn it is committed.
            self.log.commit_to(meta.index);
            let index = self.log.committed;
            self.send_after_persist(from, accept(index));
            return Ok(());
        }
        self.entries_replaced_from(meta.index.next());
        self.log.restore(meta.index, meta.term);
        self.applied = meta.index;
        self.apply_emitted = meta.index;
        self.conf = meta.conf_state.clone();
        self.out.compact_to = None;
        self.out.install_snapshot = Some(meta.clone());
        self.snapshot_installed = true;
        self.send_after_persist(from, accept(meta.index));
        Ok(())
    }

    /// The Node has received and staged every chunk of a snapshot that leader `from` of `term`
    /// streamed; Raft decides whether to install it. Returns true if it will be installed: the
    /// next `Persist` carries `install_snapshot` (the Node installs the staged data in that
    /// same transaction); false means discard the staged data (stale or already covered by the
    /// log).
    ///
    /// May produce: `Persist` (with the acknowledgement in `then_send`), `RoleChanged`.
    ///
    /// # Errors
    /// As for [`Raft::step`] (the snapshot is then not installed).
    pub fn handle_snapshot(
        &mut self,
        from: NodeId,
        term: Term,
        meta: SnapshotMeta,
    ) -> Result<bool, StepError> {
        self.snapshot_installed = false;
        let to = self.cfg.id;
        self.step(Message { from, to, term, body: MessageBody::Snapshot { meta } })?;
        Ok(core::mem::take(&mut self.snapshot_installed))
    }

    // ---- leader side ----

    pub(super) fn step_leader(&mut self, m: Message) -> Result<(), StepError> {
        let from = m.from;
        let known = self.progress.contains_key(&from);
        match m.body {
            MessageBody::AppendResponse { index, reject, hint_index, hint_term } => {
                if !known {
                    return Err(StepError::UnknownPeer);
                }
                self.handle_append_response(from, index, reject, hint_index, hint_term)
            }
            MessageBody::HeartbeatResponse { read_round } => {
                if !known {
                    return Err(StepError::UnknownPeer);
                }
                self.handle_heartbeat_response(from, read_round)
            }
            MessageBody::Propose { data } => {
                if self.propose_as_leader(data, false).is_err() {
                    self.counters.forwarded_proposals_dropped += 1;
                }
                Ok(())
            }
            MessageBody::ReadIndex { ctx } => {
                self.leader_read(from, ctx);
                Ok(())
            }
            _ => Err(StepError::Ignored),
        }
    }

    fn handle_append_response(
        &mut self,
        from: NodeId,
        index: LogIndex,
        reject: bool,
        hint_index: LogIndex,
        hint_term: Term,
    ) -> Result<(), StepError> {
        if index > self.log.last_index() || (reject && hint_index > index) {
            return Err(StepError::Malformed("append response beyond the leader's log"));
        }
        if reject {
            // Fast backtracking: skip every entry the follower's hint shows cannot match.
            let hint = if hint_term == Term::ZERO {
                hint_index
            } else {
                self.log.conflict_hint(hint_index, hint_term).0
            };
            let pr = self.progress.get_mut(&from).expect("known peer");
            pr.recent_active = true;
            if !pr.reject(index, hint) {
                return Err(StepError::Ignored);
            }
            self.maybe_send_append(from, true);
            return Ok(());
        }
        let pr = self.progress.get_mut(&from).expect("known peer");
        pr.recent_active = true;
        let moved = pr.accept(index);
        if moved {
            match pr.state {
                ProgressState::Probe => pr.become_replicate(),
                ProgressState::Snapshot { pending } if pr.match_index >= pending => {
                    pr.become_probe();
                    pr.become_replicate();
                }
                _ => {}
            }
            if self.maybe_commit() {
                self.broadcast_append();
            } else {
                let pr = &self.progress[&from];
                if pr.sent_commit < self.log.committed.min(pr.match_index) {
                    // It holds entries it does not know are committed: tell it.
                    self.maybe_send_append(from, true);
                }
            }
            let caught_up = self.progress[&from].match_index == self.log.last_index();
            if caught_up
                && self.transferee.is_none()
                && self.handing_over()
                && self.conf.is_voter(from)
            {
                // A removed leader hands over to the first voter that has its whole log.
                self.transferee = Some(from);
            }
            if self.transferee == Some(from) && caught_up {
                self.hand_over_to(from);
                return Ok(());
            }
        } else if pr.state == ProgressState::Probe {
            // A duplicate answer: the probe in flight is answered anyway.
            pr.probe_sent = false;
        }
        while self.maybe_send_append(from, false) {}
        Ok(())
    }

    fn handle_heartbeat_response(
        &mut self,
        from: NodeId,
        read_round: u64,
    ) -> Result<(), StepError> {
        let last = self.log.last_index();
        let pr = self.progress.get_mut(&from).expect("known peer");
        pr.recent_active = true;
        if pr.state == ProgressState::Probe {
            pr.probe_sent = false;
        }
        pr.read_round = pr.read_round.max(read_round);
        pr.free_first_if_full(self.cfg.max_inflight_appends);
        let behind = pr.match_index < last || pr.state == ProgressState::Probe;
        if behind {
            self.maybe_send_append(from, true);
        }
        if read_round != 0 {
            self.confirm_reads();
        }
        Ok(())
    }

    /// Sends an append to `to` if its progress allows; asks for a snapshot if the entries it
    /// needs are compacted. Returns true if an append was sent.
    pub(super) fn maybe_send_append(&mut self, to: NodeId, send_if_empty: bool) -> bool {
        let max_inflight = self.cfg.max_inflight_appends;
        let (offset, _) = self.log.offset();
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&to) else { return false };
        if to == self.cfg.id || pr.is_paused(max_inflight) {
            return false;
        }
        if pr.next_index > last.next() {
            // Never ahead of our own log (a snapshot report can claim more than we have).
            pr.next_index = last.next();
        }
        let prev_index = pr.next_index.prev();
        if prev_index < offset {
            // The entries it needs are gone: the Node streams a snapshot instead.
            pr.become_snapshot(offset);
            self.out.push(RaftOutput::SendSnapshot { to });
            return false;
        }
        let prev_term = self.log.term(prev_index).expect("prev index within the log");
        let entries = if pr.next_index <= last {
            self.log.entries_limited(pr.next_index, last, self.cfg.max_append_bytes)
        } else {
            Vec::new()
        };
        if entries.is_empty() && !send_if_empty {
            return false;
        }
        let end = entries.last().map_or(prev_index, |e| e.index);
        pr.sent_append(end, !entries.is_empty());
        let commit = self.log.committed;
        pr.sent_commit = pr.sent_commit.max(commit);
        self.send(to, MessageBody::Append { prev_index, prev_term, entries, commit });
        true
    }

    /// Sends pending entries (or at least the commit index) to every other member.
    pub(super) fn broadcast_append(&mut self) {
        let ids: Vec<NodeId> =
            self.progress.keys().copied().filter(|id| *id != self.cfg.id).collect();
        for id in ids {
            self.maybe_send_append(id, true);
        }
    }

    /// Sends new entries to every other member that can take them (no empty appends).
    pub(super) fn broadcast_new_entries(&mut self) {
        let ids: Vec<NodeId> =
            self.progress.keys().copied().filter(|id| *id != self.cfg.id).collect();
        for id in ids {
            self.maybe_send_append(id, false);
        }
    }

    pub(super) fn broadcast_heartbeat(&mut self, read_round: u64) {
        let committed = self.log.committed;
        let me = self.cfg.id;
        let targets: Vec<(NodeId, LogIndex)> = self
            .progress
            .iter_mut()
            .filter(|(id, _)| **id != me)
            .map(|(id, pr)| {
                let commit = pr.match_index.min(committed);
                pr.sent_commit = pr.sent_commit.max(commit);
                (*id, commit)
            })
            .collect();
        for (id, commit) in targets {
            self.send(id, MessageBody::Heartbeat { commit, read_round });
        }
    }

    /// Advances the commit index to what a quorum has durably matched, if that entry is of the
    /// current term (older entries commit only with it). Returns true if it moved.
    pub(super) fn maybe_commit(&mut self) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        let progress = &self.progress;
        let matched = |id: NodeId| progress.get(&id).map_or(0, |p| p.match_index.0);
        let quorum = LogIndex(quorum_value(&self.conf, &matched, &mut self.scratch));
        if quorum <= self.log.committed || self.log.term(quorum) != Some(self.term) {
            return false;
        }
        let before = self.log.committed;
        let had_committed_in_term = self.log.term(before) == Some(self.term);
        self.log.commit_to(quorum);
        let released: u64 = self
            .log
            .slice(before.next().max(self.log.first_index()), quorum)
            .iter()
            .filter(|e| e.term == self.term)
            .map(Entry::size_bytes)
            .sum();
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(released);
        if !had_committed_in_term {
            self.release_deferred_reads();
        }
        true
    }

    /// The Node reports how streaming a snapshot to `to` ended. Delivered: replication resumes
    /// after the snapshot once the follower answers; failed: the leader asks again later.
    ///
    /// May produce: nothing directly (the next heartbeat answer resumes replication).
    pub fn report_snapshot(&mut self, to: NodeId, status: SnapshotStatus) {
        self.check_drained();
        if self.role != Role::Leader {
            return;
        }
        let Some(pr) = self.progress.get_mut(&to) else { return };
        let ProgressState::Snapshot { pending } = pr.state else { return };
        match status {
            SnapshotStatus::Delivered { index } => {
                // Never beyond our own log (the report comes from the layer above).
                let index = index.min(self.log.last_index());
                pr.state = ProgressState::Snapshot { pending: pending.max(index) };
                pr.become_probe();
            }
            SnapshotStatus::Failed => {
                pr.state = ProgressState::Probe;
                pr.become_probe();
            }
        }
        // Wait for the follower's answer (or a heartbeat answer) before probing.
        pr.probe_sent = true;
    }
}

fn accept(index: LogIndex) -> MessageBody {
    MessageBody::AppendResponse {
        index,
        reject: false,
        hint_index: LogIndex::ZERO,
        hint_term: Term::ZERO,
    }
}
