//! Streaming state-machine snapshots between members, in chunks, outside Raft.
//!
//! Leader side: when Raft asks for a snapshot for a follower, the Node freezes a view of its
//! durable state (`Backend::view`), reads from it which applied index and configuration it
//! covers, and streams its records in chunks with a small window of unacknowledged chunks.
//! Writes go on meanwhile; the view does not move.
//!
//! Follower side: chunks are staged in [`Table::SnapshotStaging`] (each durable before it is
//! acknowledged); once the last one is durable, Raft decides whether to install the snapshot,
//! and if so the staged records replace the state machine in the same transaction that resets
//! the log (`WriteOp::InstallStagedSnapshot`).

use super::peer::{SnapshotAck, SnapshotChunk};
use super::state::{self, SnapshotPoint};
use crate::backend::{Backend, Table, WriteBatch};
use crate::codec;
use crate::ids::{NodeId, Term};
use crate::raft::SnapshotMeta;
use crate::time::Instant;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use core::time::Duration;

/// Chunks sent and not yet acknowledged, at most.
pub(super) const WINDOW_CHUNKS: u32 = 4;

/// A transfer that hears nothing back for this long is abandoned (the leader asks again).
pub(super) const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One snapshot being streamed to a follower.
pub(super) struct Outgoing {
    pub transfer: u64,
    pub meta: SnapshotMeta,
    view: Box<dyn Backend>,
    /// Where reading resumes: index into `Table::STATE_MACHINE` and the next key.
    cursor: Option<(usize, Vec<u8>)>,
    next_seq: u32,
    acked_through: Option<u32>,
    last_seq: Option<u32>,
    pub deadline: Instant,
}

/// What happened to an outgoing transfer after an acknowledgement.
pub(super) enum AckOutcome {
    /// More chunks may go out.
    Continue,
    /// The follower has every chunk durably.
    Delivered,
    /// The follower dropped the transfer.
    Failed,
}

impl Outgoing {
    /// Freezes `backend` for a transfer; `None` when the durable state carries no
    /// snapshot point yet (nothing applied).
    pub fn start(
        transfer: u64,
        backend: &dyn Backend,
        term_at: impl Fn(crate::ids::LogIndex) -> Option<Term>,
        now: Instant,
    ) -> Option<Outgoing> {
        let view = backend.view();
        let SnapshotPoint { index, term, conf_state } = state::snapshot_point(view.as_ref())?;
        // The term recorded with the applied index is authoritative; Raft's log agrees or has
        // compacted it away.
        let term = term_at(index).unwrap_or(term);
        Some(Outgoing {
            transfer,
            meta: SnapshotMeta { index, term, conf_state },
            view,
            cursor: Some((0, Vec::new())),
            next_seq: 0,
            acked_through: None,
            last_seq: None,
            deadline: now + STALL_TIMEOUT,
        })
    }

    /// The next chunk to send, if the window allows and records remain.
    pub fn next_chunk(&mut self, term: Term, chunk_bytes: usize) -> Option<SnapshotChunk> {
        let in_flight = self.next_seq - self.acked_through.map_or(0, |a| a + 1);
        if in_flight >= WINDOW_CHUNKS || self.last_seq.is_some() {
            return None;
        }
        let mut records = Vec::new();
        let mut bytes = 0usize;
        while let Some((table_index, from)) = self.cursor.take() {
            let table = Table::STATE_MACHINE[table_index];
            let mut resume = None;
            self.view.scan(table, &from, None, &mut |key, value| {
                if bytes >= chunk_bytes && !records.is_empty() {
                    resume = Some(key.to_vec());
                    return ControlFlow::Break(());
                }
                bytes += key.len() + value.len() + 8;
                records.push((table.tag(), key.to_vec(), value.to_vec()));
                ControlFlow::Continue(())
            });
            match resume {
                Some(key) => {
                    self.cursor = Some((table_index, key));
                    break;
                }
                None if table_index + 1 < Table::STATE_MACHINE.len() => {
                    self.cursor = Some((table_index + 1, Vec::new()));
                }
                None => {}
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let last = self.cursor.is_none();
        if last {
            self.last_seq = Some(seq);
        }
        Some(SnapshotChunk {
            transfer: self.transfer,
            term,
            meta: self.meta.clone(),
            seq,
            records,
            last,
        })
    }

    /// Takes the follower's acknowledgement into account.
    pub fn handle_ack(&mut self, ack: &SnapshotAck, now: Instant) -> AckOutcome {
        if !ack.ok {
            return AckOutcome::Failed;
        }
        if ack.seq >= self.next_seq {
            return AckOutcome::Failed;
        }
        self.acked_through = Some(self.acked_through.map_or(ack.seq, |a| a.max(ack.seq)));
        self.deadline = now + STALL_TIMEOUT;
        if self.last_seq.is_some() && self.acked_through == self.last_seq {
            AckOutcome::Delivered
        } else {
            AckOutcome::Continue
        }
    }
}

/// The snapshot being received from a leader.
#[derive(Debug)]
pub(super) struct Incoming {
    pub from: NodeId,
    pub transfer: u64,
    pub term: Term,
    pub meta: SnapshotMeta,
    next_seq: u32,
}

/// What to do with a received chunk.
pub(super) enum ChunkOutcome {
    /// Write these staging ops, then send the ack (after they are durable). When `complete`,
    /// the whole snapshot is staged once the write is durable.
    Stage { batch: WriteBatch, ack: SnapshotAck, complete: bool },
    /// Refuse the chunk at once.
    Refuse(SnapshotAck),
}

/// Receiving side: at most one transfer at a time; a new transfer (chunk zero) replaces the
/// previous one.
#[derive(Debug, Default)]
pub(super) struct Receiver {
    pub current: Option<Incoming>,
}

impl Receiver {
    pub fn handle_chunk(&mut self, from: NodeId, chunk: SnapshotChunk) -> ChunkOutcome {
        let refuse = |chunk: &SnapshotChunk| {
            ChunkOutcome::Refuse(SnapshotAck {
                transfer: chunk.transfer,
                seq: chunk.seq,
                ok: false,
            })
        };
        let mut batch = WriteBatch::default();
        if chunk.seq == 0 {
            batch.delete_range(Table::SnapshotStaging, Vec::new(), None);
            self.current = Some(Incoming {
                from,
                transfer: chunk.transfer,
                term: chunk.term,
                meta: chunk.meta.clone(),
                next_seq: 0,
            });
        }
        let Some(current) = self.current.as_mut() else { return refuse(&chunk) };
        if current.from != from
            || current.transfer != chunk.transfer
            || current.next_seq != chunk.seq
        {
            return refuse(&chunk);
        }
        for (tag, key, value) in chunk.records {
            let Some(table) = Table::from_tag(tag) else {
                return refuse_current(self, chunk.transfer, chunk.seq);
            };
            if !Table::STATE_MACHINE.contains(&table) || !record_is_sound(table, &key, &value) {
                return refuse_current(self, chunk.transfer, chunk.seq);
            }
            let mut staged = vec![tag];
            staged.extend_from_slice(&key);
            batch.put(Table::SnapshotStaging, staged, value);
        }
        current.next_seq += 1;
        ChunkOutcome::Stage {
            batch,
            ack: SnapshotAck { transfer: chunk.transfer, seq: chunk.seq, ok: true },
            complete: chunk.last,
        }
    }
}

/// A state-machine record from a peer is checked before it is staged: installing a record
/// the loaders cannot read would leave the member unable to start.
fn record_is_sound(table: Table, key: &[u8], value: &[u8]) -> bool {
    use prost::Message as _;
    match table {
        Table::Kv => {
            crate::mvcc::BucketKey::decode(key).is_some()
                && oxcd_proto::mvccpb::KeyValue::decode(value).is_ok()
        }
        Table::Lease => key.len() == 8 && crate::lease::LeaseRecord::from_bytes(value).is_some(),
        Table::Auth => crate::auth::codec::check_record(key, value).is_ok(),
        Table::Members => crate::membership::record_is_sound(key, value),
        Table::Meta => {
            super::state::meta_record_is_sound(key, value)
                && (!key.starts_with(b"alarm/") || codec::decode::<(u64, i32)>(value).is_ok())
        }
        Table::RaftLog | Table::RaftState | Table::SnapshotStaging => false,
    }
}

fn refuse_current(receiver: &mut Receiver, transfer: u64, seq: u32) -> ChunkOutcome {
    receiver.current = None;
    ChunkOutcome::Refuse(SnapshotAck { transfer, seq, ok: false })
}

/// Outgoing transfers by follower: at most one per follower.
pub(super) type OutgoingByPeer = BTreeMap<NodeId, Outgoing>;
