//! The bytes on a peer connection, on top of `oxcd_proto::peer`: its 32-byte [`Handshake`]
//! (magic, version, cluster id, sender, receiver) and its length-prefixed bincode frames.
//!
//! 1. The dialer writes its `Handshake` (after TLS, or at once for `http://` URLs).
//! 2. The acceptor checks it (same cluster, addressed to this member, a known member) and writes
//!    its own `Handshake` followed by one [`Frame::Accepted`] or [`Frame::Refused`] (with the
//!    reason, also written when the refusal came from the certificate check).
//! 3. From then on only the dialer writes: [`Frame::Raft`] messages, and snapshot payloads cut
//!    into [`Frame::SnapshotMore`] … [`Frame::SnapshotLast`] pieces.

use bincode::{Decode, Encode};
pub(crate) use oxcd_proto::peer::{
    Handshake, HandshakeError, PeerError, PeerFrameDecoder, HANDSHAKE_BYTES,
};

/// The longest refusal reason sent.
pub(crate) const REASON_BYTES_MAX: usize = 1024;
/// Frame bytes beyond the payload: the variant and the payload's length, as bincode varints.
const FRAME_OVERHEAD_MAX: usize = 16;

/// What the transport's queue writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameKind {
    Raft,
    SnapshotMore,
    SnapshotLast,
}

/// A frame as read. [`FrameRef`] writes the same encoding without copying payloads.
#[derive(Clone, Debug, PartialEq, Eq, Decode)]
pub(crate) enum Frame {
    Raft(Vec<u8>),
    SnapshotMore(Vec<u8>),
    SnapshotLast(Vec<u8>),
    Accepted,
    Refused(String),
}

#[derive(Encode)]
enum FrameRef<'a> {
    Raft(&'a [u8]),
    SnapshotMore(&'a [u8]),
    SnapshotLast(&'a [u8]),
    Accepted,
    Refused(&'a str),
}

fn encode(out: &mut Vec<u8>, frame: &FrameRef<'_>) {
    // Payloads are bounded by the configuration far below the 4 GiB a frame length can say,
    // and these types always encode.
    oxcd_proto::peer::encode_frame(frame, out).expect("peer frames are bounded and encodable");
}

/// Appends one data frame.
pub(crate) fn encode_frame(out: &mut Vec<u8>, kind: FrameKind, payload: &[u8]) {
    let frame = match kind {
        FrameKind::Raft => FrameRef::Raft(payload),
        FrameKind::SnapshotMore => FrameRef::SnapshotMore(payload),
        FrameKind::SnapshotLast => FrameRef::SnapshotLast(payload),
    };
    encode(out, &frame);
}

/// Appends the acceptor's answer: its handshake, then the verdict.
pub(crate) fn encode_answer(out: &mut Vec<u8>, handshake: Handshake, refusal: Option<&str>) {
    handshake.encode(out);
    match refusal {
        None => encode(out, &FrameRef::Accepted),
        Some(reason) => {
            let mut end = reason.len().min(REASON_BYTES_MAX);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            encode(out, &FrameRef::Refused(&reason[..end]));
        }
    }
}

/// A decoder for frames carrying payloads of at most `payload_bytes_max`.
pub(crate) fn decoder(payload_bytes_max: usize) -> PeerFrameDecoder<Frame> {
    PeerFrameDecoder::new(payload_bytes_max.saturating_add(FRAME_OVERHEAD_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], max: usize) -> Result<Vec<Frame>, PeerError> {
        let mut decoder = decoder(max);
        let mut input = bytes;
        let mut frames = Vec::new();
        while !input.is_empty() {
            if let Some(frame) = decoder.decode(&mut input)? {
                frames.push(frame);
            }
        }
        Ok(frames)
    }

    #[test]
    fn borrowed_frames_decode_as_owned_ones() {
        let mut out = Vec::new();
        encode_frame(&mut out, FrameKind::Raft, b"hello");
        encode_frame(&mut out, FrameKind::SnapshotMore, &[7; 300]);
        encode_frame(&mut out, FrameKind::SnapshotLast, b"");
        assert_eq!(
            decode_all(&out, 300).unwrap(),
            vec![
                Frame::Raft(b"hello".to_vec()),
                Frame::SnapshotMore(vec![7; 300]),
                Frame::SnapshotLast(vec![])
            ]
        );
        // A frame over the maximum (payload plus its few bytes of encoding) is refused from its
        // length alone.
        assert!(matches!(
            decode_all(&out, 300 - FRAME_OVERHEAD_MAX),
            Err(PeerError::TooLarge { .. })
        ));
    }

    #[test]
    fn answers_carry_the_handshake_and_a_bounded_reason() {
        let mut out = Vec::new();
        encode_answer(&mut out, Handshake::new(7, 2, 1), None);
        assert_eq!(Handshake::decode(&out), Ok(Some(Handshake::new(7, 2, 1))));
        assert_eq!(decode_all(&out[HANDSHAKE_BYTES..], 16).unwrap(), vec![Frame::Accepted]);

        let mut out = Vec::new();
        let long = "é".repeat(REASON_BYTES_MAX);
        encode_answer(&mut out, Handshake::new(7, 2, 0), Some(&long));
        let frames = decode_all(&out[HANDSHAKE_BYTES..], REASON_BYTES_MAX).unwrap();
        let [Frame::Refused(reason)] = &frames[..] else { panic!("{frames:?}") };
        assert!(reason.len() <= REASON_BYTES_MAX && long.starts_with(reason.as_str()));
    }
}
