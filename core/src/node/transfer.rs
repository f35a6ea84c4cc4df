//! The Node's side of snapshot transfers: starting and pacing outgoing streams, staging
//! incoming chunks, and handing a complete snapshot to Raft (see `snapshot.rs` for the
//! streams themselves).

use super::snapshot::{AckOutcome, ChunkOutcome, Outgoing};
use super::{Node, Output, PeerMessage, SnapshotAck, SnapshotChunk};
use crate::ids::{LogIndex, NodeId};
use crate::raft::SnapshotStatus;

impl Node {
    pub(super) fn start_snapshot(&mut self, to: NodeId) {
        if self.outgoing.contains_key(&to) {
            return;
        }
        self.next_transfer += 1;
        let raft = &self.raft;
        match Outgoing::start(
            self.next_transfer,
            self.backend.as_ref(),
            |i| raft.term_at(i),
            self.now,
        ) {
            Some(out) => {
                self.outgoing.insert(to, out);
                self.send_chunks(to);
            }
            None => self.raft.report_snapshot(to, SnapshotStatus::Failed),
        }
    }

    pub(super) fn send_chunks(&mut self, to: NodeId) {
        let term = self.raft.term();
        let chunk_bytes = self.cfg.snapshot_chunk_bytes;
        while let Some(chunk) =
            self.outgoing.get_mut(&to).and_then(|o| o.next_chunk(term, chunk_bytes))
        {
            self.push(Output::Send { to, message: PeerMessage::SnapshotChunk(chunk) });
        }
    }

    pub(super) fn receive_ack(&mut self, from: NodeId, ack: &SnapshotAck) {
        let now = self.now;
        let Some(out) = self.outgoing.get_mut(&from) else { return };
        if out.transfer != ack.transfer {
            return;
        }
        match out.handle_ack(ack, now) {
            AckOutcome::Continue => self.send_chunks(from),
            AckOutcome::Delivered => {
                let index = out.meta.index;
                self.outgoing.remove(&from);
                self.raft.report_snapshot(from, SnapshotStatus::Delivered { index });
            }
            AckOutcome::Failed => {
                self.outgoing.remove(&from);
                self.raft.report_snapshot(from, SnapshotStatus::Failed);
            }
        }
    }

    pub(super) fn receive_chunk(&mut self, from: NodeId, chunk: SnapshotChunk) {
        if chunk.term < self.raft.term() {
            let ack = SnapshotAck { transfer: chunk.transfer, seq: chunk.seq, ok: false };
            self.push(Output::Send { to: from, message: PeerMessage::SnapshotAck(ack) });
            return;
        }
        match self.receiver.handle_chunk(from, chunk) {
            ChunkOutcome::Stage { batch, ack, complete } => {
                self.persister.add_staging(batch, from, PeerMessage::SnapshotAck(ack), complete);
            }
            ChunkOutcome::Refuse(ack) => {
                self.push(Output::Send { to: from, message: PeerMessage::SnapshotAck(ack) });
            }
        }
    }

    /// Every chunk of the current incoming snapshot is durable: let Raft decide.
    pub(super) fn snapshot_staged(&mut self) {
        let Some(incoming) = self.receiver.current.take() else { return };
        // The staged state must say it is the snapshot the leader described.
        let staged = super::state::staged_applied(self.backend.as_ref());
        if staged != Some((incoming.meta.index, incoming.meta.term)) {
            return;
        }
        // Refused snapshots leave their records in staging; the next transfer clears them.
        let _ = self.raft.handle_snapshot(incoming.from, incoming.term, incoming.meta);
        self.pump();
    }

    /// A snapshot install is durable: the state machine is the snapshot's now.
    pub(super) fn snapshot_installed(&mut self, index: LogIndex) {
        self.overlay.clear();
        let restored =
            self.sm.restore(self.backend.as_ref(), &self.cfg, self.now, self.raft.is_leader());
        // The snapshot was validated chunk by chunk and by Raft; one that does not load is a
        // broken invariant, not bad input.
        assert!(restored.is_ok(), "installed snapshot does not load: {restored:?}");
        self.durable_applied = self.durable_applied.max(index);
        self.applied = index;
        self.snapshots_installed += 1;
        self.push(Output::MembersChanged {
            members: self.sm.members().members().cloned().collect(),
        });
    }
}
