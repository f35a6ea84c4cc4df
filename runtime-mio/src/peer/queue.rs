//! The bounded send queue of one peer: Raft messages before snapshot pieces.
//!
//! Snapshot payloads are cut into pieces of `piece_bytes`, and a Raft message waiting is always
//! written before the next piece, so a large snapshot delays a heartbeat by one piece at most.

use std::collections::VecDeque;

use super::wire::{encode_frame, FrameKind};
use super::MessageClass;

/// Why a message was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The peer's queue for this class of message holds its maximum of bytes.
    QueueFull,
    /// The message alone is larger than the configured maximum.
    TooLarge,
    /// The destination is not a known peer.
    UnknownPeer,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DropReason::QueueFull => "sending buffer is full",
            DropReason::TooLarge => "message too large",
            DropReason::UnknownPeer => "unknown peer",
        })
    }
}

#[derive(Debug)]
pub(crate) struct SendQueue {
    raft: VecDeque<Vec<u8>>,
    raft_bytes: usize,
    raft_bytes_max: usize,
    snapshots: VecDeque<Vec<u8>>,
    /// Bytes of queued snapshot payloads, the unsent part of the current one included.
    snapshot_bytes: usize,
    snapshot_bytes_max: usize,
    /// The snapshot payload being sent and how much of it is already out.
    current: Option<(Vec<u8>, usize)>,
    piece_bytes: usize,
}

impl SendQueue {
    pub(crate) fn new(
        raft_bytes_max: usize,
        snapshot_bytes_max: usize,
        piece_bytes: usize,
    ) -> Self {
        assert!(piece_bytes > 0);
        SendQueue {
            raft: VecDeque::new(),
            raft_bytes: 0,
            raft_bytes_max,
            snapshots: VecDeque::new(),
            snapshot_bytes: 0,
            snapshot_bytes_max,
            current: None,
            piece_bytes,
        }
    }

    /// Queues `payload`, or says why not.
    pub(crate) fn push(&mut self, class: MessageClass, payload: Vec<u8>) -> Result<(), DropReason> {
        let (bytes, max) = match class {
            MessageClass::Raft => (&mut self.raft_bytes, self.raft_bytes_max),
            MessageClass::Snapshot => (&mut self.snapshot_bytes, self.snapshot_bytes_max),
        };
        if payload.len() > max {
            return Err(DropReason::TooLarge);
        }
        if *bytes + payload.len() > max {
            return Err(DropReason::QueueFull);
        }
        *bytes += payload.len();
        match class {
            MessageClass::Raft => self.raft.push_back(payload),
            MessageClass::Snapshot => self.snapshots.push_back(payload),
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.raft.is_empty() && self.snapshots.is_empty() && self.current.is_none()
    }

    /// Encodes the next frame into `out`. Returns the message that frame completes, if any
    /// (a Raft message, or the last piece of a snapshot), for the counters; `None` when the
    /// queue is empty.
    pub(crate) fn next_frame(&mut self, out: &mut Vec<u8>) -> Option<Written> {
        if let Some(message) = self.raft.pop_front() {
            self.raft_bytes -= message.len();
            encode_frame(out, FrameKind::Raft, &message);
            return Some(Written::Message(message.len()));
        }
        if self.current.is_none() {
            self.current = Some((self.snapshots.pop_front()?, 0));
        }
        let (payload, sent) = self.current.as_mut().expect("set just above");
        let end = (*sent + self.piece_bytes).min(payload.len());
        let last = end == payload.len();
        let kind = if last { FrameKind::SnapshotLast } else { FrameKind::SnapshotMore };
        encode_frame(out, kind, &payload[*sent..end]);
        self.snapshot_bytes -= end - *sent;
        *sent = end;
        if last {
            let total = payload.len();
            self.current = None;
            Some(Written::Message(total))
        } else {
            Some(Written::Piece)
        }
    }

    /// Forgets a snapshot payload that was partly sent on a connection that is gone: the
    /// receiver dropped its first pieces. True if there was one.
    pub(crate) fn abort_partial(&mut self) -> bool {
        match self.current.take() {
            Some((payload, sent)) => {
                self.snapshot_bytes -= payload.len() - sent;
                true
            }
            None => false,
        }
    }

    /// Messages queued (a partly sent snapshot counts as one).
    pub(crate) fn len(&self) -> usize {
        self.raft.len() + self.snapshots.len() + usize::from(self.current.is_some())
    }
}

/// What one frame from [`SendQueue::next_frame`] finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// A whole message of that many payload bytes.
    Message(usize),
    /// A snapshot piece that is not the last.
    Piece,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::wire::{self, Frame};

    fn decode(bytes: &[u8]) -> Vec<Frame> {
        let mut decoder = wire::decoder(1 << 20);
        let mut input = bytes;
        let mut got = Vec::new();
        while !input.is_empty() {
            if let Some(frame) = decoder.decode(&mut input).unwrap() {
                got.push(frame);
            }
        }
        got
    }

    fn frames(queue: &mut SendQueue) -> Vec<Frame> {
        let mut out = Vec::new();
        while queue.next_frame(&mut out).is_some() {}
        decode(&out)
    }

    #[test]
    fn raft_messages_overtake_snapshot_pieces() {
        let mut queue = SendQueue::new(100, 100, 4);
        queue.push(MessageClass::Snapshot, b"0123456789".to_vec()).unwrap();
        queue.push(MessageClass::Raft, b"a".to_vec()).unwrap();
        let mut out = Vec::new();
        assert_eq!(queue.next_frame(&mut out), Some(Written::Message(1)));
        assert_eq!(queue.next_frame(&mut out), Some(Written::Piece));
        // A heartbeat queued mid-snapshot goes before the next piece.
        queue.push(MessageClass::Raft, b"b".to_vec()).unwrap();
        assert_eq!(queue.next_frame(&mut out), Some(Written::Message(1)));
        assert_eq!(queue.next_frame(&mut out), Some(Written::Piece));
        assert_eq!(queue.next_frame(&mut out), Some(Written::Message(10)));
        assert_eq!(queue.next_frame(&mut out), None);
        assert!(queue.is_empty());
        use Frame::*;
        assert_eq!(
            decode(&out),
            vec![
                Raft(b"a".to_vec()),
                SnapshotMore(b"0123".to_vec()),
                Raft(b"b".to_vec()),
                SnapshotMore(b"4567".to_vec()),
                SnapshotLast(b"89".to_vec())
            ]
        );
    }

    #[test]
    fn full_queues_drop_and_free_room_as_they_drain() {
        let mut queue = SendQueue::new(4, 8, 3);
        assert_eq!(queue.push(MessageClass::Raft, vec![0; 5]), Err(DropReason::TooLarge));
        queue.push(MessageClass::Raft, vec![0; 3]).unwrap();
        assert_eq!(queue.push(MessageClass::Raft, vec![0; 2]), Err(DropReason::QueueFull));
        // The snapshot class has its own budget.
        queue.push(MessageClass::Snapshot, vec![1; 8]).unwrap();
        assert_eq!(queue.push(MessageClass::Snapshot, vec![1; 1]), Err(DropReason::QueueFull));
        assert_eq!(frames(&mut queue).len(), 1 + 3);
        queue.push(MessageClass::Raft, vec![0; 4]).unwrap();
        queue.push(MessageClass::Snapshot, vec![1; 8]).unwrap();
    }

    #[test]
    fn an_aborted_snapshot_gives_its_room_back_and_the_next_starts_whole() {
        let mut queue = SendQueue::new(4, 10, 3);
        queue.push(MessageClass::Snapshot, vec![1; 6]).unwrap();
        queue.push(MessageClass::Snapshot, vec![2; 4]).unwrap();
        let mut out = Vec::new();
        assert_eq!(queue.next_frame(&mut out), Some(Written::Piece));
        assert!(queue.abort_partial());
        assert!(!queue.abort_partial());
        assert_eq!(queue.len(), 1);
        queue.push(MessageClass::Snapshot, vec![3; 6]).unwrap();
        let got = frames(&mut queue);
        assert_eq!(got[0], Frame::SnapshotMore(vec![2; 3]));
        assert_eq!(got[1], Frame::SnapshotLast(vec![2; 1]));
        assert_eq!(got.len(), 4);
    }
}
