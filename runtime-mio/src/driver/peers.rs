//! The loop's side of the peer transport: core messages to bincode payloads and back, the
//! address book from the membership, connection news to the log.

use std::collections::BTreeMap;

use oxcd_core::codec;
use oxcd_core::membership::Member;
use oxcd_core::node::PeerMessage;
use oxcd_core::{Instant, NodeId};

use crate::peer::{MessageClass, PeerEvent, PeerTransport, PeerUrl, SendOutcome};

/// How a core message travels: snapshot chunks on the snapshot budget, the rest as Raft.
#[must_use]
pub fn class_of(message: &PeerMessage) -> MessageClass {
    match message {
        PeerMessage::SnapshotChunk(_) => MessageClass::Snapshot,
        _ => MessageClass::Raft,
    }
}

/// Every member's parseable peer URLs (a URL that does not parse is logged and left out).
#[must_use]
pub fn address_book(members: &[Member]) -> BTreeMap<NodeId, Vec<PeerUrl>> {
    members
        .iter()
        .map(|m| {
            let urls = m
                .peer_urls
                .iter()
                .filter_map(|u| match u.parse::<PeerUrl>() {
                    Ok(url) => Some(url),
                    Err(e) => {
                        tracing::warn!(member = %format!("{:x}", m.id.get()), url = %u, error = %e, "unusable peer URL");
                        None
                    }
                })
                .collect();
            (m.id, urls)
        })
        .collect()
}

/// Sends `message` to `to`; a full queue drops it (Raft retransmits).
pub fn send(peer: &mut PeerTransport, now: Instant, to: NodeId, message: &PeerMessage) {
    let payload = codec::encode(message);
    if let SendOutcome::Dropped(reason) = peer.send(now, to, class_of(message), payload) {
        tracing::debug!(to = %format!("{:x}", to.get()), ?reason, "peer message dropped");
    }
}

/// Decodes a received payload; garbage from a peer is logged and ignored.
#[must_use]
pub fn decode(from: NodeId, payload: &[u8]) -> Option<PeerMessage> {
    match codec::decode::<PeerMessage>(payload) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(from = %format!("{:x}", from.get()), error = ?e, "undecodable peer message dropped");
            None
        }
    }
}

/// Logs connection news as etcd does (peer became active / inactive).
pub fn log_event(event: &PeerEvent) {
    match event {
        PeerEvent::Connected { peer, direction, remote_addr, .. } => tracing::info!(
            peer = %format!("{:x}", peer.get()), ?direction, %remote_addr, "peer became active"
        ),
        PeerEvent::Disconnected { peer, direction, reason } => tracing::warn!(
            peer = %format!("{:x}", peer.get()), ?direction, reason = %reason, "peer became inactive"
        ),
        PeerEvent::Refused { peer, direction, remote_addr, reason } => tracing::warn!(
            peer = ?peer.map(|p| format!("{:x}", p.get())), ?direction, %remote_addr, reason = %reason,
            "peer connection refused"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxcd_core::node::{SnapshotAck, SnapshotChunk};

    #[test]
    fn messages_round_trip_and_garbage_is_dropped() {
        let ack = PeerMessage::SnapshotAck(SnapshotAck { transfer: 3, seq: 4, ok: true });
        assert_eq!(class_of(&ack), MessageClass::Raft);
        let bytes = codec::encode(&ack);
        assert_eq!(decode(NodeId(2), &bytes), Some(ack));
        assert_eq!(decode(NodeId(2), &[0xff, 0xff, 0xff]), None);
        let chunk = PeerMessage::SnapshotChunk(SnapshotChunk {
            transfer: 1,
            term: oxcd_core::Term(2),
            meta: Default::default(),
            seq: 0,
            records: Vec::new(),
            last: true,
        });
        assert_eq!(class_of(&chunk), MessageClass::Snapshot);
    }

    #[test]
    fn address_book_skips_bad_urls() {
        let m = |id, urls: &[&str]| Member {
            id: NodeId(id),
            name: String::new(),
            peer_urls: urls.iter().map(|s| (*s).to_owned()).collect(),
            client_urls: Vec::new(),
            is_learner: false,
        };
        let book = address_book(&[
            m(1, &["https://127.0.0.1:2380"]),
            m(2, &["nonsense", "http://10.0.0.2:2380"]),
        ]);
        assert_eq!(book[&NodeId(1)].len(), 1);
        assert_eq!(book[&NodeId(2)].len(), 1);
        assert!(book[&NodeId(1)][0].tls);
    }
}
