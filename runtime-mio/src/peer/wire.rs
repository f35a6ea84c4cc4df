//! The bytes on a peer connection: length-prefixed frames and the handshake.
//!
//! A private, minimal codec until `oxcd-proto`'s peer codec (`encode_frame`, `PeerFrameDecoder`,
//! the handshake header) lands on main; the transport only calls [`encode_frame`],
//! [`FrameDecoder`], [`Hello`] and [`Reply`], so switching is local to this file.
//!
//! Frame: `u32` big-endian length of what follows, one kind byte, the payload. After TLS (or
//! TCP for `http://` URLs) the dialer sends one [`Hello`] frame, the acceptor answers one
//! [`Reply`] frame, then only the dialer sends: [`FrameKind::Raft`] messages and snapshot
//! payloads cut into [`FrameKind::SnapshotMore`]…[`FrameKind::SnapshotLast`] pieces.

use oxcd_core::NodeId;

/// The first bytes of every handshake frame.
pub(crate) const MAGIC: [u8; 8] = *b"OXCDPEER";
/// The one protocol version spoken here.
pub(crate) const VERSION: u16 = 1;
/// Bytes before a frame's payload: length and kind.
#[cfg(test)]
pub(crate) const FRAME_OVERHEAD: usize = 5;
/// The longest refusal reason sent or accepted.
pub(crate) const REASON_BYTES_MAX: usize = 1024;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// One whole Raft message.
    Raft = 0,
    /// A piece of a snapshot payload; more pieces follow.
    SnapshotMore = 1,
    /// The last piece of a snapshot payload.
    SnapshotLast = 2,
    /// The dialer's [`Hello`].
    Hello = 16,
    /// The acceptor's [`Reply`].
    Reply = 17,
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<FrameKind> {
        Some(match b {
            0 => FrameKind::Raft,
            1 => FrameKind::SnapshotMore,
            2 => FrameKind::SnapshotLast,
            16 => FrameKind::Hello,
            17 => FrameKind::Reply,
            _ => return None,
        })
    }
}

/// Why bytes from a peer were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WireError {
    /// A frame longer than the configured maximum.
    TooLarge { len: usize, max: usize },
    /// An unknown kind byte or an empty frame.
    BadKind(Option<u8>),
    /// A handshake frame that does not parse.
    BadHandshake(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::TooLarge { len, max } => {
                write!(f, "peer frame of {len} bytes exceeds the limit of {max} bytes")
            }
            WireError::BadKind(Some(k)) => write!(f, "unknown peer frame kind {k}"),
            WireError::BadKind(None) => f.write_str("empty peer frame"),
            WireError::BadHandshake(what) => write!(f, "malformed peer handshake: {what}"),
        }
    }
}

/// Appends one frame to `out`.
pub(crate) fn encode_frame(out: &mut Vec<u8>, kind: FrameKind, payload: &[u8]) {
    let len = u32::try_from(payload.len() + 1).expect("frame sizes are bounded far below 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.push(kind as u8);
    out.extend_from_slice(payload);
}

/// Splits a byte stream into frames, holding at most one partial frame.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    /// Largest payload accepted (kind byte not counted).
    payload_bytes_max: usize,
}

impl FrameDecoder {
    pub(crate) fn new(payload_bytes_max: usize) -> Self {
        FrameDecoder { buf: Vec::new(), start: 0, payload_bytes_max }
    }

    /// Adds bytes read from the connection.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet returned as frames.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole frame, `None` until one is complete.
    pub(crate) fn next_frame(&mut self) -> Result<Option<(FrameKind, Vec<u8>)>, WireError> {
        let rest = &self.buf[self.start..];
        if rest.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len == 0 {
            return Err(WireError::BadKind(None));
        }
        if len - 1 > self.payload_bytes_max {
            return Err(WireError::TooLarge { len: len - 1, max: self.payload_bytes_max });
        }
        if rest.len() < 4 + len {
            return Ok(None);
        }
        let kind = FrameKind::from_byte(rest[4]).ok_or(WireError::BadKind(Some(rest[4])))?;
        let payload = rest[5..4 + len].to_vec();
        self.start += 4 + len;
        Ok(Some((kind, payload)))
    }
}

/// The dialer's first frame: who it is, whom it wants, which cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) version: u16,
    pub(crate) cluster_id: u64,
    pub(crate) from: NodeId,
    pub(crate) to: NodeId,
}

const HELLO_BYTES: usize = 8 + 2 + 8 + 8 + 8;

impl Hello {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut payload = Vec::with_capacity(HELLO_BYTES);
        payload.extend_from_slice(&MAGIC);
        payload.extend_from_slice(&self.version.to_be_bytes());
        payload.extend_from_slice(&self.cluster_id.to_be_bytes());
        payload.extend_from_slice(&self.from.get().to_be_bytes());
        payload.extend_from_slice(&self.to.get().to_be_bytes());
        encode_frame(out, FrameKind::Hello, &payload);
    }

    pub(crate) fn decode(payload: &[u8]) -> Result<Hello, WireError> {
        if payload.len() != HELLO_BYTES {
            return Err(WireError::BadHandshake("hello length"));
        }
        if payload[..8] != MAGIC {
            return Err(WireError::BadHandshake("not an oxcd peer"));
        }
        Ok(Hello {
            version: u16::from_be_bytes([payload[8], payload[9]]),
            cluster_id: be_u64(&payload[10..18]),
            from: NodeId(be_u64(&payload[18..26])),
            to: NodeId(be_u64(&payload[26..34])),
        })
    }
}

/// The acceptor's answer to a [`Hello`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) version: u16,
    pub(crate) cluster_id: u64,
    /// The acceptor's own member id.
    pub(crate) member: NodeId,
    /// `None` when accepted, the reason otherwise.
    pub(crate) refusal: Option<String>,
}

const REPLY_FIXED_BYTES: usize = 8 + 2 + 8 + 8 + 1;

impl Reply {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut payload = Vec::with_capacity(REPLY_FIXED_BYTES);
        payload.extend_from_slice(&MAGIC);
        payload.extend_from_slice(&self.version.to_be_bytes());
        payload.extend_from_slice(&self.cluster_id.to_be_bytes());
        payload.extend_from_slice(&self.member.get().to_be_bytes());
        match &self.refusal {
            None => payload.push(0),
            Some(reason) => {
                payload.push(1);
                let mut end = reason.len().min(REASON_BYTES_MAX);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                payload.extend_from_slice(&reason.as_bytes()[..end]);
            }
        }
        encode_frame(out, FrameKind::Reply, &payload);
    }

    pub(crate) fn decode(payload: &[u8]) -> Result<Reply, WireError> {
        if payload.len() < REPLY_FIXED_BYTES || payload.len() > REPLY_FIXED_BYTES + REASON_BYTES_MAX
        {
            return Err(WireError::BadHandshake("reply length"));
        }
        if payload[..8] != MAGIC {
            return Err(WireError::BadHandshake("not an oxcd peer"));
        }
        let refusal = match payload[26] {
            0 if payload.len() == REPLY_FIXED_BYTES => None,
            1 => Some(String::from_utf8_lossy(&payload[REPLY_FIXED_BYTES..]).into_owned()),
            _ => return Err(WireError::BadHandshake("reply status")),
        };
        Ok(Reply {
            version: u16::from_be_bytes([payload[8], payload[9]]),
            cluster_id: be_u64(&payload[10..18]),
            member: NodeId(be_u64(&payload[18..26])),
            refusal,
        })
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_at_any_byte() {
        let mut wire = Vec::new();
        encode_frame(&mut wire, FrameKind::Raft, b"hello");
        encode_frame(&mut wire, FrameKind::SnapshotLast, b"");
        let mut decoder = FrameDecoder::new(16);
        let mut got = Vec::new();
        for b in &wire {
            decoder.extend(std::slice::from_ref(b));
            while let Some(frame) = decoder.next_frame().unwrap() {
                got.push(frame);
            }
        }
        assert_eq!(
            got,
            vec![(FrameKind::Raft, b"hello".to_vec()), (FrameKind::SnapshotLast, Vec::new())]
        );
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn oversized_empty_and_unknown_frames_are_refused() {
        let mut wire = Vec::new();
        encode_frame(&mut wire, FrameKind::Raft, &[0u8; 17]);
        let mut decoder = FrameDecoder::new(16);
        decoder.extend(&wire[..4]); // the length alone is enough to refuse
        assert_eq!(decoder.next_frame(), Err(WireError::TooLarge { len: 17, max: 16 }));

        let mut decoder = FrameDecoder::new(16);
        decoder.extend(&[0, 0, 0, 0]);
        assert_eq!(decoder.next_frame(), Err(WireError::BadKind(None)));

        let mut decoder = FrameDecoder::new(16);
        decoder.extend(&[0, 0, 0, 1, 99]);
        assert_eq!(decoder.next_frame(), Err(WireError::BadKind(Some(99))));

        // An HTTP request sent to the peer port reads as a huge length.
        let mut decoder = FrameDecoder::new(1 << 20);
        decoder.extend(b"GET / HTTP/1.1\r\n");
        assert!(matches!(decoder.next_frame(), Err(WireError::TooLarge { .. })));
    }

    #[test]
    fn handshake_round_trips_and_refuses_strangers() {
        let hello = Hello { version: VERSION, cluster_id: 7, from: NodeId(1), to: NodeId(2) };
        let mut wire = Vec::new();
        hello.encode(&mut wire);
        let mut decoder = FrameDecoder::new(64);
        decoder.extend(&wire);
        let (kind, payload) = decoder.next_frame().unwrap().unwrap();
        assert_eq!(kind, FrameKind::Hello);
        assert_eq!(Hello::decode(&payload), Ok(hello));
        let mut bad = payload.clone();
        bad[0] = b'X';
        assert!(Hello::decode(&bad).is_err());
        assert!(Hello::decode(&payload[1..]).is_err());

        for refusal in [None, Some("cluster ID mismatch".to_string())] {
            let reply = Reply { version: VERSION, cluster_id: 9, member: NodeId(3), refusal };
            let mut wire = Vec::new();
            reply.encode(&mut wire);
            let mut decoder = FrameDecoder::new(2048);
            decoder.extend(&wire);
            let (kind, payload) = decoder.next_frame().unwrap().unwrap();
            assert_eq!(kind, FrameKind::Reply);
            assert_eq!(Reply::decode(&payload), Ok(reply));
        }
        let long = Reply {
            version: VERSION,
            cluster_id: 9,
            member: NodeId(3),
            refusal: Some("é".repeat(REASON_BYTES_MAX)),
        };
        let mut wire = Vec::new();
        long.encode(&mut wire);
        let decoded = Reply::decode(&wire[FRAME_OVERHEAD..]).unwrap();
        assert!(decoded.refusal.unwrap().len() <= REASON_BYTES_MAX);
    }
}
