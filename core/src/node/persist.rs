//! Assembling and tracking `Persist` outputs.
//!
//! Everything the Node wants written between two drains goes into one open batch: Raft's
//! persist requests (log entries, hard state, snapshot installs), snapshot chunks being staged,
//! and the state machine's own writes (taken from the [`Overlay`]). Sealing it produces one
//! [`Output::Persist`]; the runtime confirms ids in order, and the confirmation releases each
//! part: Raft's `handle_persisted`, the overlay's memory, staged-snapshot completion and the
//! durable applied index that bounds log compaction.
//!
//! [`Output::Persist`]: super::Output::Persist

use super::peer::PeerMessage;
use super::PersistId;
use crate::backend::{Overlay, WriteBatch, WriteOp};
use crate::ids::{LogIndex, NodeId};
use crate::raft::{storage, PersistRequest, SnapshotMeta};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Messages to send once a batch is durable.
pub(super) type OutgoingMessages = Vec<(NodeId, PeerMessage)>;

/// What a sealed batch carried that matters once it is durable.
#[derive(Debug)]
pub(super) struct Sealed {
    pub id: PersistId,
    pub raft_seq: Option<u64>,
    pub overlay_seq: u64,
    pub applied: LogIndex,
    /// The last chunk of a received snapshot is staged by this batch.
    pub snapshot_staged: bool,
    /// This batch installs a snapshot.
    pub installs_snapshot: Option<SnapshotMeta>,
}

/// Collected writes not yet handed out, and handed-out batches not yet confirmed.
#[derive(Debug, Default)]
pub(super) struct Persister {
    batch: WriteBatch,
    then_send: Vec<(NodeId, PeerMessage)>,
    raft_seq: Option<u64>,
    /// Something in the open batch must be durable before it is confirmed.
    sync: bool,
    snapshot_staged: bool,
    installs_snapshot: Option<SnapshotMeta>,
    next_id: u64,
    in_flight: VecDeque<Sealed>,
}

impl Persister {
    /// Adds Raft's request. A snapshot install replaces the state-machine tables with the
    /// staged records in the same transaction, before Raft's own ops (which reset the log).
    pub fn add_raft(&mut self, req: &PersistRequest) {
        if let Some(meta) = &req.install_snapshot {
            self.batch.ops.push(WriteOp::InstallStagedSnapshot);
            self.installs_snapshot = Some(meta.clone());
        }
        storage::persist_ops(req, &mut self.batch);
        self.raft_seq = Some(req.seq);
        self.sync |= req.sync;
        self.then_send.extend(req.then_send.iter().map(|m| (m.to, PeerMessage::Raft(m.clone()))));
    }

    /// Adds staging writes of a snapshot chunk and the acknowledgement that must wait for them.
    pub fn add_staging(
        &mut self,
        mut batch: WriteBatch,
        ack_to: NodeId,
        ack: PeerMessage,
        complete: bool,
    ) {
        self.batch.append(&mut batch);
        self.then_send.push((ack_to, ack));
        self.snapshot_staged |= complete;
        self.sync = true;
    }

    /// True when something waits to be sealed (besides the overlay).
    pub fn has_open(&self) -> bool {
        !self.batch.is_empty() || !self.then_send.is_empty()
    }

    /// Seals everything collected plus the overlay's untaken writes into one batch, or returns
    /// `None` when there is nothing to write. `applied` is the state machine's applied index
    /// as of these writes. Also says whether the batch must be synced (see
    /// [`super::Output::Persist`]).
    pub fn seal(
        &mut self,
        overlay: &mut Overlay,
        applied: LogIndex,
    ) -> Option<(PersistId, WriteBatch, OutgoingMessages, bool)> {
        if !self.has_open() && !overlay.has_untaken() {
            return None;
        }
        self.next_id += 1;
        let id = PersistId(self.next_id);
        // State-machine writes go first: the batch is one transaction, so the order only
        // matters for a snapshot install, which must replace them rather than be overwritten
        // by them (they describe entries the snapshot already covers).
        let mut batch = overlay.take_batch(self.next_id);
        batch.append(&mut self.batch);
        self.in_flight.push_back(Sealed {
            id,
            raft_seq: self.raft_seq.take(),
            overlay_seq: self.next_id,
            applied,
            snapshot_staged: core::mem::take(&mut self.snapshot_staged),
            installs_snapshot: self.installs_snapshot.take(),
        });
        let sync = core::mem::take(&mut self.sync);
        Some((id, batch, core::mem::take(&mut self.then_send), sync))
    }

    /// Every batch up to `id` is durable in the runtime's log but not yet in the backend: the
    /// Raft requests they carried, oldest first, each handed out once.
    ///
    /// Stops at a batch that installs a snapshot: Raft would apply the entries after the
    /// snapshot at once, onto a state machine that is replaced only when the backend holds the
    /// install ([`Persister::confirm`]).
    pub fn logged(&mut self, id: PersistId) -> Vec<u64> {
        self.in_flight
            .iter_mut()
            .take_while(|s| s.id <= id && s.installs_snapshot.is_none())
            .filter_map(|s| s.raft_seq.take())
            .collect()
    }

    /// The runtime confirmed every batch up to `id`: the sealed records, oldest first.
    pub fn confirm(&mut self, id: PersistId) -> Vec<Sealed> {
        let mut done = Vec::new();
        while self.in_flight.front().is_some_and(|s| s.id <= id) {
            if let Some(s) = self.in_flight.pop_front() {
                done.push(s);
            }
        }
        done
    }
}
