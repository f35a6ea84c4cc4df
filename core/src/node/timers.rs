//! Time-driven work: request deadlines, lease expiry and checkpoints, automatic and physical
//! compaction, watch progress, token expiry, publishing attributes, Raft log compaction.

use super::Node;
use crate::error::ApiError;
use crate::ids::{LogIndex, NodeId};
use crate::raft::SnapshotStatus;
use crate::time::Instant;
use alloc::vec::Vec;
use oxcd_proto::etcdserverpb as pb;

impl Node {
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, internal)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(p) = self.pending.remove(&internal) {
                let error = if self.raft.leader().is_some() {
                    ApiError::Timeout
                } else {
                    ApiError::TimeoutDueToLeaderFail
                };
                self.send_answer(p.to, Err(error));
            }
        }
        for read in self.reads.expired(now) {
            self.reply(read.id, Err(ApiError::Timeout));
        }
        let (late_ready, waiting): (Vec<_>, Vec<_>) =
            core::mem::take(&mut self.waiting_ready).into_iter().partition(|p| p.deadline <= now);
        self.waiting_ready = waiting;
        let mut late = late_ready;
        for waiting in self.parked.values_mut() {
            let (gone, keep): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|p| p.deadline <= now);
            *waiting = keep;
            late.extend(gone);
        }
        self.parked.retain(|_, w| !w.is_empty());
        for p in late {
            self.reply(p.id, Err(ApiError::Timeout));
        }
        let late: Vec<u64> =
            self.forwards.iter().filter(|(_, f)| f.deadline <= now).map(|(k, _)| *k).collect();
        for key in late {
            if let Some(f) = self.forwards.remove(&key) {
                self.reply(f.id, Err(ApiError::Timeout));
            }
        }
        if self.transfer.as_ref().is_some_and(|t| t.deadline <= now) {
            if let Some(t) = self.transfer.take() {
                self.reply(t.id, Err(ApiError::Timeout));
            }
        }
        let stalled: Vec<NodeId> =
            self.outgoing.iter().filter(|(_, o)| o.deadline <= now).map(|(k, _)| *k).collect();
        for to in stalled {
            self.outgoing.remove(&to);
            self.raft.report_snapshot(to, SnapshotStatus::Failed);
            self.pump();
        }
    }

    /// Time-driven work of the state machine: lease expiry and checkpoints and automatic
    /// compaction (leader), physical compaction steps, token expiry, watch progress, publishing
    /// our attributes.
    pub(super) fn periodic(&mut self, now: Instant) {
        if self.raft.is_leader() {
            for request in self.sm.lease_proposals(now) {
                let _ = self.propose(None, request);
            }
            let current = self.sm.kv.current_revision();
            let compact_to = self.sm.auto_compactor.as_mut().and_then(|c| c.poll(now, current));
            if let Some(rev) = compact_to {
                let request = pb::CompactionRequest { revision: rev.0, physical: false };
                let _ = self.propose(
                    None,
                    pb::InternalRaftRequest { compaction: Some(request), ..Default::default() },
                );
            }
        }
        self.sm.compaction_step(self.backend.as_ref(), &mut self.overlay);
        let storage = crate::mvcc::StorageRef::new(self.backend.as_ref(), &self.overlay);
        self.sm.kv.sync_watchers(storage);
        self.sm.kv.watch_timeout(now);
        self.sm.auth.handle_timeout(now);
        if !self.published && self.raft.leader().is_some() {
            self.publish_attributes();
        }
    }

    /// Compacts the Raft log once enough of it is covered by the durable state machine.
    pub(super) fn compact_log(&mut self) {
        let first = self.raft.first_index().0;
        let durable = self.durable_applied.0;
        let keep = self.cfg.snapshot_catchup_entries;
        if durable >= first + self.cfg.snapshot_count + keep {
            let _ = self.raft.compact(LogIndex(durable - keep));
            self.pump();
        }
    }
}
