//! Minimal gRPC message framing (length-prefixed messages) and trailer helpers.
//!
//! Private stand-in until `oxcd-proto`'s `grpc` module lands; then this file goes away.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Flag byte + 4-byte big-endian length.
pub(crate) const PREFIX_LEN: usize = 5;

/// Frames one uncompressed message.
pub(crate) fn encode(message: &[u8]) -> Bytes {
    let len = u32::try_from(message.len()).expect("gRPC message over 4 GiB");
    let mut out = BytesMut::with_capacity(PREFIX_LEN + message.len());
    out.put_u8(0);
    out.put_u32(len);
    out.put_slice(message);
    out.freeze()
}

/// A framing error: the call ends with the given status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The announced length is over the limit (gRPC `RESOURCE_EXHAUSTED`).
    TooLarge { len: u64, max: usize },
    /// The compressed flag is set: no decompressor is installed.
    Compressed,
}

impl FrameError {
    /// The status grpc-go answers with, as (code, message).
    pub(crate) fn status(&self, encoding: Option<&str>) -> (u32, String) {
        match self {
            Self::TooLarge { len, max } => {
                (8, format!("grpc: received message larger than max ({len} vs. {max})"))
            }
            Self::Compressed => match encoding {
                Some(e) if e != "identity" => {
                    (12, format!("grpc: Decompressor is not installed for grpc-encoding \"{e}\""))
                }
                _ => (13, "grpc: compressed flag set with identity or empty encoding".to_owned()),
            },
        }
    }
}

/// Splits a stream of DATA payloads into messages, refusing any over `max_bytes`.
pub(crate) struct Decoder {
    buf: BytesMut,
    max_bytes: usize,
}

impl Decoder {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self { buf: BytesMut::new(), max_bytes }
    }

    /// Appends received bytes.
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete message, `Ok(None)` if more bytes are needed. The size check happens as
    /// soon as the prefix is in, before the body is buffered.
    pub(crate) fn next_message(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buf.len() < PREFIX_LEN {
            return Ok(None);
        }
        let flag = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        if len as usize > self.max_bytes {
            return Err(FrameError::TooLarge { len: u64::from(len), max: self.max_bytes });
        }
        if flag != 0 {
            return Err(FrameError::Compressed);
        }
        if self.buf.len() < PREFIX_LEN + len as usize {
            return Ok(None);
        }
        self.buf.advance(PREFIX_LEN);
        let message = self.buf.split_to(len as usize).freeze();
        if self.buf.is_empty() {
            // Do not keep a large message's allocation alive for the next one.
            self.buf = BytesMut::new();
        }
        Ok(Some(message))
    }

    /// True when no partial message is buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Percent-encodes a `grpc-message` value as the gRPC spec asks: bytes outside 0x20..=0x7E and
/// `%` itself become `%XX`.
pub(crate) fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n).
pub(crate) fn parse_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_across_and_within_chunks() {
        let mut d = Decoder::new(100);
        let mut wire = Vec::new();
        wire.extend_from_slice(&encode(b"hello"));
        wire.extend_from_slice(&encode(b""));
        wire.extend_from_slice(&encode(b"world!"));
        // Byte by byte: each message appears exactly when its last byte arrives.
        let mut out = Vec::new();
        for b in &wire {
            d.push(std::slice::from_ref(b));
            while let Some(m) = d.next_message().unwrap() {
                out.push(m);
            }
        }
        assert_eq!(
            out,
            vec![Bytes::from_static(b"hello"), Bytes::new(), Bytes::from_static(b"world!")]
        );
        assert!(d.is_empty());
    }

    #[test]
    fn oversize_is_refused_from_the_prefix_alone() {
        let mut d = Decoder::new(4);
        d.push(&[0, 0, 0, 0, 5]);
        let e = d.next_message().unwrap_err();
        assert_eq!(e, FrameError::TooLarge { len: 5, max: 4 });
        assert_eq!(e.status(None), (8, "grpc: received message larger than max (5 vs. 4)".into()));
    }

    #[test]
    fn compressed_flag_is_refused() {
        let mut d = Decoder::new(10);
        d.push(&[1, 0, 0, 0, 1, 9]);
        let e = d.next_message().unwrap_err();
        assert_eq!(e.status(Some("gzip")).0, 12);
        assert_eq!(e.status(None).0, 13);
    }

    #[test]
    fn percent_encoding_keeps_printable_ascii() {
        assert_eq!(percent_encode("etcdserver: key not found"), "etcdserver: key not found");
        assert_eq!(percent_encode("100%\né"), "100%25%0A%C3%A9");
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_timeout("123456789S"), None);
        assert_eq!(parse_timeout("S"), None);
        assert_eq!(parse_timeout(""), None);
        assert_eq!(parse_timeout("5x"), None);
    }
}
