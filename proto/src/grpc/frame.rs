//! gRPC's length-prefixed message framing: a 1-byte compressed flag, a 4-byte big-endian
//! length, then the payload.

use alloc::format;
use alloc::vec::Vec;
use core::fmt;

use super::{Code, Status};

/// Bytes before each payload: the compressed flag and the length.
pub const FRAME_HEADER_BYTES: usize = 5;

/// Appends `message` as one uncompressed gRPC frame to `out`.
///
/// # Panics
/// If the encoded message is 4 GiB or larger, which no size limit of oxcd allows.
pub fn encode_message<M: prost::Message>(message: &M, out: &mut Vec<u8>) {
    let len = message.encoded_len();
    write_header(len, out);
    out.reserve(len);
    message.encode_raw(out);
}

/// Appends an already-encoded payload as one uncompressed gRPC frame to `out`.
///
/// # Panics
/// If `payload` is 4 GiB or larger.
pub fn encode_payload(payload: &[u8], out: &mut Vec<u8>) {
    write_header(payload.len(), out);
    out.extend_from_slice(payload);
}

fn write_header(len: usize, out: &mut Vec<u8>) {
    let len = u32::try_from(len).expect("gRPC message of 4 GiB or more");
    out.push(0);
    out.extend_from_slice(&len.to_be_bytes());
}

/// Why a stream of gRPC frames cannot be read on. After an error the stream must be reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The announced length is above the configured maximum.
    TooLarge {
        /// Announced payload length.
        len: u32,
        /// The configured maximum.
        max: usize,
    },
    /// The compressed flag is 1; oxcd negotiates no compression, so this is the peer's error.
    Compressed,
    /// The flag byte is neither 0 nor 1.
    BadFlag(u8),
}

impl FrameError {
    /// The status grpc-go ends the call with for this error, with its exact message.
    pub fn status(&self) -> Status {
        match *self {
            FrameError::TooLarge { len, max } => Status::new(
                Code::ResourceExhausted,
                format!("grpc: received message larger than max ({len} vs. {max})"),
            ),
            FrameError::Compressed => Status::new(
                Code::Internal,
                "grpc: compressed flag set with identity or empty encoding",
            ),
            FrameError::BadFlag(flag) => Status::new(
                Code::Internal,
                format!("grpc: received unexpected payload format {flag}"),
            ),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.status().message)
    }
}

/// Splits a byte stream, fed in chunks of any size, into gRPC message payloads.
///
/// Memory is bounded: it holds at most one payload of at most `max_message_bytes`.
#[derive(Debug)]
pub struct FrameDecoder {
    max_message_bytes: usize,
    header: [u8; FRAME_HEADER_BYTES],
    header_filled: usize,
    /// Payload length once the header is complete.
    body_len: Option<usize>,
    body: Vec<u8>,
    /// The last call returned `body`; clear it before reading on.
    delivered: bool,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder refusing payloads longer than `max_message_bytes` (grpc-go's server default is
    /// 4 MiB; etcd sets `--max-request-bytes` plus 512 KiB gRPC overhead).
    pub fn new(max_message_bytes: usize) -> FrameDecoder {
        FrameDecoder {
            max_message_bytes,
            header: [0; FRAME_HEADER_BYTES],
            header_filled: 0,
            body_len: None,
            body: Vec::new(),
            delivered: false,
            failed: None,
        }
    }

    /// The configured maximum payload size.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// Whether no partial frame is buffered (a stream may end cleanly only here).
    pub fn is_idle(&self) -> bool {
        self.delivered || (self.header_filled == 0 && self.body_len.is_none())
    }

    /// Consumes bytes from the front of `input` until one payload is complete, and returns it
    /// (valid until the next call). Returns `Ok(None)` once `input` is used up mid-frame; call
    /// again with more bytes. Call repeatedly until `input` is empty to get every payload.
    ///
    /// # Errors
    /// A [`FrameError`] when the frame is too large or compressed; the decoder then keeps
    /// returning that error.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<&[u8]>, FrameError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        if self.delivered {
            self.delivered = false;
            self.body.clear();
            self.body_len = None;
            self.header_filled = 0;
        }
        if self.body_len.is_none() {
            let take = (FRAME_HEADER_BYTES - self.header_filled).min(input.len());
            self.header[self.header_filled..self.header_filled + take]
                .copy_from_slice(&input[..take]);
            self.header_filled += take;
            *input = &input[take..];
            if self.header_filled < FRAME_HEADER_BYTES {
                return Ok(None);
            }
            let len = u32::from_be_bytes([
                self.header[1],
                self.header[2],
                self.header[3],
                self.header[4],
            ]);
            let err = match self.header[0] {
                0 if (len as usize) > self.max_message_bytes => {
                    Some(FrameError::TooLarge { len, max: self.max_message_bytes })
                }
                0 => None,
                1 => Some(FrameError::Compressed),
                flag => Some(FrameError::BadFlag(flag)),
            };
            if let Some(err) = err {
                self.failed = Some(err);
                return Err(err);
            }
            self.body_len = Some(len as usize);
            // Reserve for what is in hand, not for what the peer announced.
            self.body.reserve((len as usize).min(input.len()));
        }
        let want = self.body_len.unwrap_or(0) - self.body.len();
        let take = want.min(input.len());
        self.body.extend_from_slice(&input[..take]);
        *input = &input[take..];
        if take < want {
            return Ok(None);
        }
        self.delivered = true;
        Ok(Some(&self.body))
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::etcdserverpb::PutRequest;

    fn put() -> PutRequest {
        PutRequest { key: b"foo".to_vec(), value: b"bar".to_vec(), ..Default::default() }
    }

    fn decode_all(dec: &mut FrameDecoder, mut input: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut out = Vec::new();
        while !input.is_empty() {
            if let Some(p) = dec.decode(&mut input)? {
                out.push(p.to_vec());
            }
        }
        Ok(out)
    }

    #[test]
    fn golden_frame() {
        let mut out = vec![0xaa];
        encode_message(&put(), &mut out);
        assert_eq!(
            out,
            [0xaa, 0, 0, 0, 0, 10, 0x0a, 3, b'f', b'o', b'o', 0x12, 3, b'b', b'a', b'r']
        );
        let mut raw = Vec::new();
        encode_payload(&[], &mut raw);
        assert_eq!(raw, [0, 0, 0, 0, 0]);
    }

    #[test]
    fn any_chunking_yields_the_same_payloads() {
        let mut stream = Vec::new();
        encode_message(&put(), &mut stream);
        encode_payload(&[], &mut stream);
        encode_message(&PutRequest::default(), &mut stream);
        encode_payload(&[7; 300], &mut stream);
        let expected = decode_all(&mut FrameDecoder::new(1000), &stream).unwrap();
        assert_eq!(expected.len(), 4);
        assert_eq!(expected[0], prost::Message::encode_to_vec(&put()));
        assert_eq!(expected[3], vec![7; 300]);
        for chunk in 1..=stream.len() {
            let mut dec = FrameDecoder::new(1000);
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                got.extend(decode_all(&mut dec, piece).unwrap());
            }
            assert_eq!(got, expected, "chunk size {chunk}");
            assert!(dec.is_idle());
        }
    }

    #[test]
    fn partial_frame_is_not_idle() {
        let mut dec = FrameDecoder::new(10);
        let mut input: &[u8] = &[0, 0, 0, 0, 2, 1];
        assert_eq!(dec.decode(&mut input), Ok(None));
        assert!(input.is_empty());
        assert!(!dec.is_idle());
        let mut rest: &[u8] = &[2, 9];
        assert_eq!(dec.decode(&mut rest), Ok(Some(&[1u8, 2][..])));
        assert_eq!(rest, [9]);
    }

    #[test]
    fn too_large_is_resource_exhausted_with_grpc_go_text() {
        let mut dec = FrameDecoder::new(4);
        assert_eq!(decode_all(&mut dec, &[0, 0, 0, 0, 4, 1, 2, 3, 4]).unwrap().len(), 1);
        let err = decode_all(&mut dec, &[0, 0, 0, 0, 5]).unwrap_err();
        assert_eq!(err, FrameError::TooLarge { len: 5, max: 4 });
        let status = err.status();
        assert_eq!(status.code, Code::ResourceExhausted);
        assert_eq!(status.message, "grpc: received message larger than max (5 vs. 4)");
        // Poisoned: the stream must be reset.
        assert_eq!(dec.decode(&mut &[0u8, 0, 0, 0, 0][..]), Err(err));
    }

    #[test]
    fn compressed_and_bad_flags_are_refused() {
        let err = decode_all(&mut FrameDecoder::new(10), &[1, 0, 0, 0, 1, 0]).unwrap_err();
        assert_eq!(err, FrameError::Compressed);
        assert_eq!(err.status().code, Code::Internal);
        let err = decode_all(&mut FrameDecoder::new(10), &[2, 0, 0, 0, 1, 0]).unwrap_err();
        assert_eq!(err.status().message, "grpc: received unexpected payload format 2");
        assert_eq!(
            Status::unsupported_encoding("gzip").message,
            "grpc: Decompressor is not installed for grpc-encoding \"gzip\""
        );
    }

    #[test]
    fn huge_announced_length_does_not_allocate_it() {
        let mut dec = FrameDecoder::new(usize::MAX);
        let mut input: &[u8] = &[0, 0xff, 0xff, 0xff, 0xff, 1];
        assert_eq!(dec.decode(&mut input), Ok(None));
        assert!(dec.body.capacity() < 1024);
    }
}
