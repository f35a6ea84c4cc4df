//! The oxcd-to-oxcd peer protocol's bytes: a handshake on first contact, then length-prefixed
//! frames (4-byte big-endian length, then a value in bincode 2's standard configuration).
//!
//! The frame carries whatever message type the core defines (`T: bincode::Encode` /
//! `bincode::Decode<()>`); this module knows nothing of Raft.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use bincode::config::{self, Config};

/// Bytes before each frame's payload: its big-endian length.
pub const FRAME_LENGTH_BYTES: usize = 4;

/// The first 6 bytes each side writes on a new peer connection.
pub const HANDSHAKE_MAGIC: [u8; 6] = *b"oxcdpp";
/// The peer protocol version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// Size of an encoded [`Handshake`]: magic and version (8), cluster id, sender id, receiver id.
pub const HANDSHAKE_BYTES: usize = 32;

/// Why a peer frame could not be written or read. Reading stops at the first error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// The frame's announced length is above the decoder's maximum.
    TooLarge {
        /// Announced (or, when encoding, actual) payload length.
        len: u64,
        /// The maximum.
        max: u64,
    },
    /// The payload is not a valid encoding of the expected type (bincode's reason attached),
    /// or it decodes without using all of its bytes.
    Corrupt(String),
    /// The value could not be encoded (a custom `Encode` impl failed).
    Encode(String),
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::TooLarge { len, max } => {
                write!(f, "peer frame of {len} bytes exceeds the maximum of {max}")
            }
            PeerError::Corrupt(why) => write!(f, "corrupt peer frame: {why}"),
            PeerError::Encode(why) => write!(f, "cannot encode peer frame: {why}"),
        }
    }
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for VecWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Appends `value` as one frame to `out` and returns the payload length. On error `out` is left
/// as it was.
///
/// # Errors
/// [`PeerError::Encode`] if the value's `Encode` impl fails; [`PeerError::TooLarge`] if the
/// payload does not fit the 4-byte length.
pub fn encode_frame<T: bincode::Encode>(value: &T, out: &mut Vec<u8>) -> Result<usize, PeerError> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_LENGTH_BYTES]);
    if let Err(e) = bincode::encode_into_writer(value, VecWriter(out), config::standard()) {
        out.truncate(start);
        return Err(PeerError::Encode(e.to_string()));
    }
    let len = out.len() - start - FRAME_LENGTH_BYTES;
    let Ok(len32) = u32::try_from(len) else {
        out.truncate(start);
        return Err(PeerError::TooLarge { len: len as u64, max: u64::from(u32::MAX) });
    };
    out[start..start + FRAME_LENGTH_BYTES].copy_from_slice(&len32.to_be_bytes());
    Ok(len)
}

/// Decodes one payload, allowing containers to claim at most `LIMIT` bytes of memory, so a
/// forged length inside a small frame cannot make bincode allocate gigabytes.
fn decode_limited<T: bincode::Decode<()>, const LIMIT: usize>(
    payload: &[u8],
) -> Result<T, PeerError> {
    let cfg = config::standard().with_limit::<LIMIT>();
    decode_with(payload, cfg)
}

fn decode_with<T: bincode::Decode<()>, C: Config>(payload: &[u8], cfg: C) -> Result<T, PeerError> {
    match bincode::decode_from_slice::<T, C>(payload, cfg) {
        Ok((value, used)) if used == payload.len() => Ok(value),
        Ok((_, used)) => Err(PeerError::Corrupt(alloc::format!(
            "{} trailing bytes after the value",
            payload.len() - used
        ))),
        Err(e) => Err(PeerError::Corrupt(e.to_string())),
    }
}

/// Decoded values may take more memory than their encoding (varints); allow this many times
/// the frame size before calling a frame corrupt.
const MEMORY_PER_FRAME_BYTE: usize = 8;

fn decode_payload<T: bincode::Decode<()>>(
    payload: &[u8],
    memory_max: usize,
) -> Result<T, PeerError> {
    const MIB: usize = 1 << 20;
    if memory_max <= MIB {
        decode_limited::<T, MIB>(payload)
    } else if memory_max <= 16 * MIB {
        decode_limited::<T, { 16 * MIB }>(payload)
    } else if memory_max <= 128 * MIB {
        decode_limited::<T, { 128 * MIB }>(payload)
    } else {
        decode_limited::<T, { 1024 * MIB }>(payload)
    }
}

/// Splits a peer byte stream, fed in chunks of any size, into decoded values of type `T`.
///
/// Memory is bounded: one payload of at most `max_frame_bytes`, and what decoding it may
/// claim (at most 8 times that, rounded up to 1 MiB, 16 MiB, 128 MiB or at most 1 GiB).
#[derive(Debug)]
pub struct PeerFrameDecoder<T> {
    max_frame_bytes: usize,
    len_buf: [u8; FRAME_LENGTH_BYTES],
    len_filled: usize,
    body_len: Option<usize>,
    body: Vec<u8>,
    failed: Option<PeerError>,
    _value: PhantomData<fn() -> T>,
}

impl<T: bincode::Decode<()>> PeerFrameDecoder<T> {
    /// A decoder refusing frames whose payload is longer than `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        PeerFrameDecoder {
            max_frame_bytes,
            len_buf: [0; FRAME_LENGTH_BYTES],
            len_filled: 0,
            body_len: None,
            body: Vec::new(),
            failed: None,
            _value: PhantomData,
        }
    }

    /// Whether no partial frame is buffered.
    pub fn is_idle(&self) -> bool {
        self.len_filled == 0 && self.body_len.is_none()
    }

    /// Consumes bytes from the front of `input` until one frame is complete and returns its
    /// value; `Ok(None)` once `input` is used up mid-frame. Call until `input` is empty.
    ///
    /// # Errors
    /// [`PeerError::TooLarge`] or [`PeerError::Corrupt`]; the decoder then keeps returning that
    /// error and the connection should be closed.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<T>, PeerError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.step(input);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    fn step(&mut self, input: &mut &[u8]) -> Result<Option<T>, PeerError> {
        if self.body_len.is_none() {
            let take = (FRAME_LENGTH_BYTES - self.len_filled).min(input.len());
            self.len_buf[self.len_filled..self.len_filled + take].copy_from_slice(&input[..take]);
            self.len_filled += take;
            *input = &input[take..];
            if self.len_filled < FRAME_LENGTH_BYTES {
                return Ok(None);
            }
            let len = u32::from_be_bytes(self.len_buf) as usize;
            if len > self.max_frame_bytes {
                return Err(PeerError::TooLarge {
                    len: len as u64,
                    max: self.max_frame_bytes as u64,
                });
            }
            self.body_len = Some(len);
            self.body.clear();
            self.body.reserve(len.min(input.len()));
        }
        let want = self.body_len.unwrap_or(0) - self.body.len();
        let take = want.min(input.len());
        self.body.extend_from_slice(&input[..take]);
        *input = &input[take..];
        if take < want {
            return Ok(None);
        }
        self.body_len = None;
        self.len_filled = 0;
        let memory_max = self.max_frame_bytes.saturating_mul(MEMORY_PER_FRAME_BYTE);
        decode_payload(&self.body, memory_max).map(Some)
    }
}

/// The first bytes each side of a peer connection sends: who it is and which cluster it
/// belongs to. A receiver refuses a connection from another cluster, or meant for another
/// member, before reading any frame.
///
/// Layout (32 bytes, big-endian): `"oxcdpp"`, version (u16), cluster id (u64), sender member
/// id (u64), receiver member id (u64; 0 when the dialer does not know it yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// Peer protocol version; [`PROTOCOL_VERSION`] when sending.
    pub version: u16,
    /// The cluster id (derived from `--initial-cluster-token`).
    pub cluster_id: u64,
    /// The sending member.
    pub from_member_id: u64,
    /// The member the sender means to reach, 0 if unknown.
    pub to_member_id: u64,
}

/// Why a handshake was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// The first six bytes are not `"oxcdpp"`: not an oxcd peer.
    BadMagic,
    /// A protocol version this build does not speak.
    UnsupportedVersion(u16),
    /// The peer belongs to another cluster.
    ClusterMismatch {
        /// Our cluster id.
        local: u64,
        /// The peer's.
        remote: u64,
    },
    /// The peer meant to reach another member.
    WrongMember {
        /// Our member id.
        local: u64,
        /// The id the peer asked for.
        requested: u64,
    },
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::BadMagic => f.write_str("not an oxcd peer (bad handshake magic)"),
            HandshakeError::UnsupportedVersion(v) => {
                write!(f, "unsupported peer protocol version {v}")
            }
            HandshakeError::ClusterMismatch { local, remote } => {
                write!(f, "request cluster ID mismatch (got {remote:x} want {local:x})")
            }
            HandshakeError::WrongMember { local, requested } => {
                write!(f, "peer meant member {requested:x}, this is {local:x}")
            }
        }
    }
}

impl Handshake {
    /// Our handshake for version [`PROTOCOL_VERSION`].
    pub fn new(cluster_id: u64, from_member_id: u64, to_member_id: u64) -> Handshake {
        Handshake { version: PROTOCOL_VERSION, cluster_id, from_member_id, to_member_id }
    }

    /// Appends the 32 handshake bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&HANDSHAKE_MAGIC);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.cluster_id.to_be_bytes());
        out.extend_from_slice(&self.from_member_id.to_be_bytes());
        out.extend_from_slice(&self.to_member_id.to_be_bytes());
    }

    /// Reads a handshake from the start of `input`: `Ok(None)` until [`HANDSHAKE_BYTES`] are
    /// there. The magic is checked as soon as its bytes arrive, so a stranger is refused early.
    ///
    /// # Errors
    /// [`HandshakeError::BadMagic`] or [`HandshakeError::UnsupportedVersion`].
    pub fn decode(input: &[u8]) -> Result<Option<Handshake>, HandshakeError> {
        let seen = input.len().min(HANDSHAKE_MAGIC.len());
        if input[..seen] != HANDSHAKE_MAGIC[..seen] {
            return Err(HandshakeError::BadMagic);
        }
        if input.len() < HANDSHAKE_BYTES {
            return Ok(None);
        }
        let u64_at = |i: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&input[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let version = u16::from_be_bytes([input[6], input[7]]);
        if version != PROTOCOL_VERSION {
            return Err(HandshakeError::UnsupportedVersion(version));
        }
        Ok(Some(Handshake {
            version,
            cluster_id: u64_at(8),
            from_member_id: u64_at(16),
            to_member_id: u64_at(24),
        }))
    }

    /// Checks a received handshake against this member: same cluster, and addressed to us (or
    /// to nobody in particular).
    ///
    /// # Errors
    /// [`HandshakeError::ClusterMismatch`] or [`HandshakeError::WrongMember`].
    pub fn check(&self, local_cluster_id: u64, local_member_id: u64) -> Result<(), HandshakeError> {
        if self.cluster_id != local_cluster_id {
            return Err(HandshakeError::ClusterMismatch {
                local: local_cluster_id,
                remote: self.cluster_id,
            });
        }
        if self.to_member_id != 0 && self.to_member_id != local_member_id {
            return Err(HandshakeError::WrongMember {
                local: local_member_id,
                requested: self.to_member_id,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    #[derive(Debug, PartialEq, bincode::Encode, bincode::Decode)]
    enum Msg {
        Ping { term: u64 },
        Append { entries: Vec<Vec<u8>>, commit: u64 },
    }

    fn drain(dec: &mut PeerFrameDecoder<Msg>, mut input: &[u8]) -> Result<Vec<Msg>, PeerError> {
        let mut out = Vec::new();
        while !input.is_empty() {
            if let Some(m) = dec.decode(&mut input)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    #[test]
    fn golden_frame_and_chunked_round_trip() {
        let mut out = vec![];
        assert_eq!(encode_frame(&Msg::Ping { term: 300 }, &mut out), Ok(4));
        // Variant 0, then 300 as bincode's varint (0xfb + u16 little endian).
        assert_eq!(out, [0, 0, 0, 4, 0, 0xfb, 0x2c, 0x01]);
        let msgs = vec![
            Msg::Ping { term: 1 },
            Msg::Append { entries: vec![vec![1, 2, 3], vec![]], commit: u64::MAX },
            Msg::Append { entries: vec![vec![9; 500]], commit: 0 },
        ];
        let mut stream = Vec::new();
        for m in &msgs {
            encode_frame(m, &mut stream).unwrap();
        }
        for chunk in 1..=stream.len() {
            let mut dec = PeerFrameDecoder::new(1024);
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                got.extend(drain(&mut dec, piece).unwrap());
            }
            assert_eq!(got, msgs, "chunk size {chunk}");
            assert!(dec.is_idle());
        }
    }

    #[test]
    fn oversized_and_corrupt_frames_are_errors() {
        let mut stream = Vec::new();
        encode_frame(&Msg::Append { entries: vec![vec![0; 100]], commit: 1 }, &mut stream).unwrap();
        let mut dec = PeerFrameDecoder::<Msg>::new(50);
        assert!(matches!(drain(&mut dec, &stream), Err(PeerError::TooLarge { max: 50, .. })));
        // Poisoned afterwards.
        assert!(dec.decode(&mut &[0u8, 0, 0, 0][..]).is_err());

        // Unknown enum variant.
        let err = drain(&mut PeerFrameDecoder::<Msg>::new(50), &[0, 0, 0, 2, 7, 0]).unwrap_err();
        assert!(matches!(err, PeerError::Corrupt(_)), "{err:?}");
        // Trailing garbage inside the frame.
        let err = drain(&mut PeerFrameDecoder::<Msg>::new(50), &[0, 0, 0, 3, 0, 1, 9]).unwrap_err();
        assert_eq!(err, PeerError::Corrupt("1 trailing bytes after the value".into()));
        // A frame that ends inside the value.
        let err = drain(&mut PeerFrameDecoder::<Msg>::new(50), &[0, 0, 0, 1, 0]).unwrap_err();
        assert!(matches!(err, PeerError::Corrupt(_)));
    }

    #[test]
    fn forged_container_length_does_not_allocate() {
        // Append with entries.len() = u64::MAX - 1 (0xfd + u64 LE) in a 12-byte frame.
        let mut payload = vec![1, 0xfd];
        payload.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
        payload.extend_from_slice(&[0, 0]);
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        let err = drain(&mut PeerFrameDecoder::<Msg>::new(64), &frame).unwrap_err();
        assert!(matches!(err, PeerError::Corrupt(_)), "{err:?}");
    }

    #[test]
    fn handshake_round_trip_and_checks() {
        let hs = Handshake::new(0xdead_beef, 1, 2);
        let mut out = Vec::new();
        hs.encode(&mut out);
        assert_eq!(out.len(), HANDSHAKE_BYTES);
        assert_eq!(&out[..8], b"oxcdpp\x00\x01");
        assert_eq!(&out[8..16], &0xdead_beef_u64.to_be_bytes());
        for n in 0..HANDSHAKE_BYTES {
            assert_eq!(Handshake::decode(&out[..n]), Ok(None));
        }
        let got = Handshake::decode(&out).unwrap().unwrap();
        assert_eq!(got, hs);
        assert_eq!(got.check(0xdead_beef, 2), Ok(()));
        assert_eq!(
            got.check(7, 2),
            Err(HandshakeError::ClusterMismatch { local: 7, remote: 0xdead_beef })
        );
        assert_eq!(
            got.check(0xdead_beef, 3),
            Err(HandshakeError::WrongMember { local: 3, requested: 2 })
        );
        assert_eq!(Handshake::new(5, 1, 0).check(5, 9), Ok(()));
        assert_eq!(Handshake::decode(b"GET / HTTP/1.1"), Err(HandshakeError::BadMagic));
        assert_eq!(Handshake::decode(b"ox!"), Err(HandshakeError::BadMagic));
        out[7] = 2;
        assert_eq!(Handshake::decode(&out), Err(HandshakeError::UnsupportedVersion(2)));
    }
}
