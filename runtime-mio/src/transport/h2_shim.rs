//! A filter on a connection's HTTP/2 input, between the plaintext and h2, that repairs
//! `:authority` values h2 refuses but etcd (Go's HTTP/2 server) accepts.
//!
//! grpc-go 1.26 (etcdctl 3.4) dials an endpoint `http://127.0.0.1:2379` with the target
//! `passthrough:///http://127.0.0.1:2379` and sends the whole URL as `:authority`. h2 parses
//! `:authority` as a URI authority and resets such streams (PROTOCOL_ERROR); etcd serves them.
//! The filter reads the client's frames: every frame but header blocks passes through untouched
//! and uncopied (h2 reads it straight from the input buffer). A header block (HEADERS and its
//! CONTINUATIONs) is held until complete and decoded with an HPACK decoder that mirrors the
//! client's dynamic table. A block whose `:authority` is not an authority is re-encoded: the
//! scheme and any path are cut off (`http://h:p/x` → `h:p`), or, if that is still not an
//! authority, the field is dropped (it is optional).
//!
//! Re-encoding writes literals without indexing, which never touch h2's dynamic table. From the
//! first re-encoded block on, h2's table no longer follows the client's, so every later block
//! on that connection is re-encoded too ([`Mode::Diverged`]). Until then blocks pass unchanged
//! ([`Mode::Tracking`]): well-behaved clients cost one HPACK decode per request and no copy.
//!
//! Anything malformed is left for h2 to judge while h2 still sees the client's own bytes: the
//! filter stops filtering ([`Mode::Raw`]) and h2 answers as it always does. Once diverged, the
//! filter itself asks for the connection error h2 would send ([`Pipes::h2_abort`]).

use std::io;
use std::task::Poll;

use bytes::Buf;
use h2::Reason;
use tokio::io::ReadBuf;

use super::hpack::{self, Field};
use super::io::Pipes;

/// h2's `SETTINGS_MAX_FRAME_SIZE`, set explicitly on its builder. Frames the filter writes are
/// at most this long; longer header frames from the client are h2's FRAME_SIZE_ERROR.
pub(crate) const H2_MAX_FRAME_BYTES: usize = 16_384;
/// h2's `SETTINGS_HEADER_TABLE_SIZE`, set explicitly on its builder: the client's dynamic table
/// may not grow beyond it.
pub(crate) const H2_HEADER_TABLE_BYTES: usize = 4096;

/// The client connection preface, passed through unchanged.
const PREFACE_BYTES: usize = 24;
const FRAME_HEADER_BYTES: usize = 9;
const PRIORITY_FIELDS_BYTES: usize = 5;

const TYPE_HEADERS: u8 = 0x1;
const TYPE_PUSH_PROMISE: u8 = 0x5;
const TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;

/// A header list that h2 refuses outright (its abuse limit is 4× `max_header_list_size`).
const ABUSE_MULTIPLIER: usize = 4;
/// The field that keeps an over-long header list over h2's limit after re-encoding.
const OVERSIZE_FIELD: &[u8] = b"x-oxcd-header-list-over-limit";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// h2's HPACK table matches the client's: blocks pass unchanged unless one needs repair.
    Tracking,
    /// A block was re-encoded: every later block is re-encoded.
    Diverged,
    /// The client broke the protocol before any repair: h2 gets its bytes unchanged.
    Raw,
    /// A connection error was asked of h2; the input is dropped.
    Failed,
}

#[derive(Clone, Copy)]
struct FrameHead {
    len: usize,
    kind: u8,
    flags: u8,
    stream: u32,
}

fn frame_head(b: &[u8]) -> FrameHead {
    FrameHead {
        len: usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]),
        kind: b[3],
        flags: b[4],
        stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
    }
}

fn put_frame_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// What to do with a `:authority` value.
#[derive(Debug, PartialEq, Eq)]
enum Repair<'a> {
    Keep,
    Replace(&'a [u8]),
    Drop,
}

fn is_authority(v: &[u8]) -> bool {
    http::uri::Authority::try_from(v).is_ok()
}

/// `http://127.0.0.1:2379/x` → `127.0.0.1:2379`; Drop if no authority can be found.
fn repair_authority(v: &[u8]) -> Repair<'_> {
    if is_authority(v) {
        return Repair::Keep;
    }
    let mut rest = v;
    if let Some(at) = v.windows(3).position(|w| w == b"://") {
        let scheme = &v[..at];
        let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme.iter().all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c));
        if scheme_ok {
            rest = &v[at + 3..];
        }
    }
    let end = rest.iter().position(|c| b"/?#".contains(c)).unwrap_or(rest.len());
    let rest = &rest[..end];
    if is_authority(rest) {
        Repair::Replace(rest)
    } else {
        Repair::Drop
    }
}

/// Where a complete header block ends, or why it cannot be taken.
enum Scan {
    /// More input is needed.
    Incomplete,
    /// The block's frames end at this offset of the input.
    Complete(usize),
    /// A protocol violation h2 answers with this connection error.
    Broken(Reason),
}

/// The decoded fields of one block, stored in one buffer.
#[derive(Default)]
struct FieldList {
    bytes: Vec<u8>,
    /// (name end, value end, never indexed), offsets into `bytes`.
    fields: Vec<(usize, usize, bool)>,
    /// The whole list's size as header list limits count it, kept or not.
    total_size: usize,
    /// Sizes of the kept fields (those before the list passed the limit).
    kept_size: usize,
    over_limit: bool,
    bad_authority: bool,
}

impl FieldList {
    fn clear(&mut self) {
        self.bytes.clear();
        self.fields.clear();
        self.total_size = 0;
        self.kept_size = 0;
        self.over_limit = false;
        self.bad_authority = false;
    }

    fn push(&mut self, f: Field<'_>, limit: usize) {
        self.total_size = self.total_size.saturating_add(f.size());
        if f.name == b":authority" && !is_authority(f.value) {
            self.bad_authority = true;
        }
        if self.over_limit || self.total_size >= limit {
            self.over_limit = true;
            return;
        }
        self.kept_size = self.total_size;
        self.bytes.extend_from_slice(f.name);
        let name_end = self.bytes.len();
        self.bytes.extend_from_slice(f.value);
        self.fields.push((name_end, self.bytes.len(), f.never_indexed));
    }

    fn iter(&self) -> impl Iterator<Item = Field<'_>> {
        let mut start = 0;
        self.fields.iter().map(move |&(name_end, value_end, never_indexed)| {
            let f = Field {
                name: &self.bytes[start..name_end],
                value: &self.bytes[name_end..value_end],
                never_indexed,
            };
            start = value_end;
            f
        })
    }
}

/// The input filter of one HTTP/2 connection. See the [module docs](self).
pub(crate) struct H2InputShim {
    mode: Mode,
    /// Bytes at the front of the input that go to h2 unchanged.
    forward: usize,
    /// Re-encoded frames, handed to h2 before anything more of the input.
    rewritten: Vec<u8>,
    rewritten_sent: usize,
    /// Complete frames of the header block being gathered at the front of the input.
    scanned: usize,
    decoder: hpack::Decoder,
    /// Scratch: the block's fragments joined, the decoded fields, the re-encoded block.
    fragments: Vec<u8>,
    fields: FieldList,
    encoded: Vec<u8>,
    /// A header block larger than this is refused (it must fit in the input buffer).
    max_block_bytes: usize,
    /// h2's `max_header_list_size`.
    max_list_bytes: usize,
    repaired_blocks: u64,
}

impl H2InputShim {
    /// A filter for a connection whose input buffer holds `max_block_bytes` and whose h2 is
    /// built with `max_header_list_size = max_list_bytes` and this module's settings.
    pub(crate) fn new(max_block_bytes: usize, max_list_bytes: usize) -> Self {
        Self {
            mode: Mode::Tracking,
            forward: PREFACE_BYTES,
            rewritten: Vec::new(),
            rewritten_sent: 0,
            scanned: 0,
            decoder: hpack::Decoder::new(H2_HEADER_TABLE_BYTES),
            fragments: Vec::new(),
            fields: FieldList::default(),
            encoded: Vec::new(),
            max_block_bytes,
            max_list_bytes,
            repaired_blocks: 0,
        }
    }

    /// Header blocks re-encoded so far.
    #[cfg(test)]
    pub(crate) fn repaired_blocks(&self) -> u64 {
        self.repaired_blocks
    }

    /// h2's read: fills `buf` from the input (through the filter). `Pending` when more input is
    /// needed; an empty `Ready` only at the end of the input.
    pub(crate) fn poll_read(
        &mut self,
        p: &mut Pipes,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // Each pass either hands over bytes, waits, or moves to a state that does (≤ 3 passes).
        loop {
            if self.rewritten_sent < self.rewritten.len() {
                let n = buf.remaining().min(self.rewritten.len() - self.rewritten_sent);
                buf.put_slice(&self.rewritten[self.rewritten_sent..self.rewritten_sent + n]);
                self.rewritten_sent += n;
                if self.rewritten_sent == self.rewritten.len() {
                    self.rewritten.clear();
                    self.rewritten_sent = 0;
                    if self.rewritten.capacity() > 2 * H2_MAX_FRAME_BYTES {
                        self.rewritten = Vec::new();
                    }
                }
                return Poll::Ready(Ok(()));
            }
            if self.mode == Mode::Failed {
                p.input.clear();
                return if p.input_eof { Poll::Ready(Ok(())) } else { Poll::Pending };
            }
            if self.forward > 0 || self.mode == Mode::Raw {
                let mut n = p.input.len().min(buf.remaining());
                if self.mode != Mode::Raw {
                    n = n.min(self.forward);
                    self.forward -= n;
                }
                if n == 0 {
                    return if p.input_eof { Poll::Ready(Ok(())) } else { Poll::Pending };
                }
                buf.put_slice(&p.input[..n]);
                p.input.advance(n);
                return Poll::Ready(Ok(()));
            }
            match self.scan(&p.input) {
                Ok(None) => {
                    if !p.input_eof {
                        return Poll::Pending;
                    }
                    // Ends inside a frame: h2 sees the truncation as it would have.
                    if self.mode == Mode::Tracking {
                        self.mode = Mode::Raw;
                    } else {
                        p.input.clear();
                        return Poll::Ready(Ok(()));
                    }
                }
                Ok(Some(Step::Forward(n))) => self.forward = n,
                Ok(Some(Step::Block(end))) => self.take_block(p, end),
                Err(reason) => self.broken(p, reason),
            }
        }
    }

    /// Looks at the frame at the front of the input: `None` until enough of it is there.
    fn scan(&mut self, input: &[u8]) -> Result<Option<Step>, Reason> {
        if input.len() < FRAME_HEADER_BYTES {
            return Ok(None);
        }
        let head = frame_head(input);
        if self.scanned == 0 {
            match head.kind {
                TYPE_HEADERS if head.stream == 0 => return Err(Reason::PROTOCOL_ERROR),
                TYPE_HEADERS => {}
                // A server never accepts PUSH_PROMISE; a CONTINUATION must follow a HEADERS.
                TYPE_PUSH_PROMISE | TYPE_CONTINUATION => return Err(Reason::PROTOCOL_ERROR),
                _ => return Ok(Some(Step::Forward(FRAME_HEADER_BYTES + head.len))),
            }
        }
        match self.scan_block(input, head.stream) {
            Scan::Incomplete => Ok(None),
            Scan::Complete(end) => {
                self.scanned = 0;
                Ok(Some(Step::Block(end)))
            }
            Scan::Broken(reason) => {
                self.scanned = 0;
                Err(reason)
            }
        }
    }

    /// Walks the header block's frames from where the last call stopped.
    fn scan_block(&mut self, input: &[u8], stream: u32) -> Scan {
        loop {
            let at = self.scanned;
            let Some(header) = input.get(at..at + FRAME_HEADER_BYTES) else {
                return self.incomplete(at + FRAME_HEADER_BYTES);
            };
            let head = frame_head(header);
            if at > 0 && (head.kind != TYPE_CONTINUATION || head.stream != stream) {
                return Scan::Broken(Reason::PROTOCOL_ERROR);
            }
            if head.len > H2_MAX_FRAME_BYTES {
                return Scan::Broken(Reason::FRAME_SIZE_ERROR);
            }
            let end = at + FRAME_HEADER_BYTES + head.len;
            if input.len() < end {
                return self.incomplete(end);
            }
            self.scanned = end;
            if head.flags & FLAG_END_HEADERS != 0 {
                return Scan::Complete(end);
            }
        }
    }

    fn incomplete(&self, needed: usize) -> Scan {
        if needed > self.max_block_bytes {
            // As h2 answers a header block over its limits.
            Scan::Broken(Reason::ENHANCE_YOUR_CALM)
        } else {
            Scan::Incomplete
        }
    }

    /// The client broke the protocol: h2 judges its bytes, or (diverged) is told to go away.
    fn broken(&mut self, p: &mut Pipes, reason: Reason) {
        if self.mode == Mode::Tracking {
            self.mode = Mode::Raw;
        } else {
            self.fail(p, reason);
        }
    }

    fn fail(&mut self, p: &mut Pipes, reason: Reason) {
        tracing::debug!(%reason, "transport: HTTP/2 input refused after an :authority repair");
        self.mode = Mode::Failed;
        p.h2_abort = Some(reason);
        p.input.clear();
    }

    /// A whole header block is `input[..end]`: passes it on, re-encoded if need be.
    fn take_block(&mut self, p: &mut Pipes, end: usize) {
        let block = &p.input[..end];
        let first = frame_head(block);
        // The HEADERS frame's padding and priority fields around its fragment.
        let payload = &block[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + first.len];
        let (pad, rest) = if first.flags & FLAG_PADDED != 0 {
            match payload.split_first() {
                Some((&pad, rest)) if usize::from(pad) <= rest.len() => (usize::from(pad), rest),
                _ => return self.broken(p, Reason::PROTOCOL_ERROR),
            }
        } else {
            (0, payload)
        };
        let rest = &rest[..rest.len() - pad];
        let (priority, fragment) = if first.flags & FLAG_PRIORITY != 0 {
            if rest.len() < PRIORITY_FIELDS_BYTES {
                return self.broken(p, Reason::PROTOCOL_ERROR);
            }
            let (fields, fragment) = rest.split_at(PRIORITY_FIELDS_BYTES);
            let dependency = u32::from_be_bytes([fields[0], fields[1], fields[2], fields[3]]);
            if dependency & 0x7fff_ffff == first.stream && self.mode == Mode::Tracking {
                // h2 resets the stream without decoding its block: leave it all to h2.
                return self.broken(p, Reason::PROTOCOL_ERROR);
            }
            (Some(<[u8; PRIORITY_FIELDS_BYTES]>::try_from(fields).expect("5 bytes")), fragment)
        } else {
            (None, rest)
        };
        self.fragments.clear();
        self.fragments.extend_from_slice(fragment);
        let mut at = FRAME_HEADER_BYTES + first.len;
        while at < end {
            let head = frame_head(&block[at..]);
            let start = at + FRAME_HEADER_BYTES;
            self.fragments.extend_from_slice(&block[start..start + head.len]);
            at = start + head.len;
        }

        self.fields.clear();
        let (fields, limit) = (&mut self.fields, self.max_list_bytes);
        if let Err(e) = self.decoder.decode(&self.fragments, |f| fields.push(f, limit)) {
            tracing::debug!(error = ?e, "transport: undecodable HTTP/2 header block");
            // h2 answers these with PROTOCOL_ERROR (RFC 7540 says COMPRESSION_ERROR): a client
            // sees the same error whether or not one of its blocks was repaired.
            return self.broken(p, Reason::PROTOCOL_ERROR);
        }
        if self.mode == Mode::Tracking && !self.fields.bad_authority {
            self.forward = end;
            return;
        }
        if self.fields.total_size > self.max_list_bytes.saturating_mul(ABUSE_MULTIPLIER) {
            return self.fail(p, Reason::ENHANCE_YOUR_CALM);
        }
        if self.mode == Mode::Tracking {
            tracing::debug!(
                "transport: a client sent an :authority that is not an authority (as grpc-go \
                 does for endpoints with a scheme); repairing this connection's requests"
            );
            self.mode = Mode::Diverged;
        }
        self.reencode(first, priority);
        p.input.advance(end);
    }

    /// Writes the kept fields (authority repaired) as HEADERS + CONTINUATION frames.
    fn reencode(&mut self, first: FrameHead, priority: Option<[u8; PRIORITY_FIELDS_BYTES]>) {
        self.repaired_blocks += 1;
        self.encoded.clear();
        let mut size = 0;
        for f in self.fields.iter() {
            let f = if f.name == b":authority" {
                match repair_authority(f.value) {
                    Repair::Keep => f,
                    Repair::Replace(value) => Field { value, ..f },
                    Repair::Drop => continue,
                }
            } else {
                f
            };
            size += f.size();
            hpack::encode_field(&mut self.encoded, f);
        }
        if self.fields.over_limit {
            // h2 must still see a list over its limit, and answer as it does for one.
            let pad = self.max_list_bytes.saturating_sub(size).max(1);
            let value = vec![b'a'; pad];
            hpack::encode_field(
                &mut self.encoded,
                Field { name: OVERSIZE_FIELD, value: &value, never_indexed: false },
            );
        }
        debug_assert!(self.rewritten.is_empty());
        let mut rest = &self.encoded[..];
        let room = H2_MAX_FRAME_BYTES - priority.map_or(0, |p| p.len());
        let (chunk, tail) = rest.split_at(rest.len().min(room));
        rest = tail;
        let mut flags = first.flags & FLAG_END_STREAM;
        if priority.is_some() {
            flags |= FLAG_PRIORITY;
        }
        if rest.is_empty() {
            flags |= FLAG_END_HEADERS;
        }
        let len = chunk.len() + priority.map_or(0, |p| p.len());
        put_frame_head(&mut self.rewritten, len, TYPE_HEADERS, flags, first.stream);
        if let Some(p) = priority {
            self.rewritten.extend_from_slice(&p);
        }
        self.rewritten.extend_from_slice(chunk);
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(H2_MAX_FRAME_BYTES));
            rest = tail;
            let flags = if rest.is_empty() { FLAG_END_HEADERS } else { 0 };
            put_frame_head(
                &mut self.rewritten,
                chunk.len(),
                TYPE_CONTINUATION,
                flags,
                first.stream,
            );
            self.rewritten.extend_from_slice(chunk);
        }
        if self.encoded.capacity() > 2 * H2_MAX_FRAME_BYTES {
            self.encoded = Vec::new();
        }
    }
}

enum Step {
    /// The next frame, this long, passes unchanged.
    Forward(usize),
    /// A complete header block ends here.
    Block(usize),
}

#[cfg(test)]
mod tests;
