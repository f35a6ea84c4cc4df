//! HTTP/1.x on one connection: requests parsed with httparse (Content-Length and chunked
//! bodies, bounded head and body), answered strictly in request order (pipelining), keep-alive
//! and `Connection: close`, streamed (chunked) responses for the JSON gateway's watch.

use std::collections::{BTreeSet, VecDeque};

use bytes::{Buf, Bytes, BytesMut};

use super::io::{lock, SharedPipes};
use super::sink::Sink;
use super::types::{CallId, HttpRequest, Incoming, SendStatus};

/// Headers parsed per request head.
const MAX_HEADERS: usize = 100;
/// Longest chunk-size line (with extensions) of a chunked body.
const MAX_CHUNK_LINE: usize = 1024;

/// Whether a path is a gRPC method, which needs HTTP/2.
fn is_grpc_request(path: &str, content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|ct| ct.starts_with(b"application/grpc"))
        || ["/etcdserverpb.", "/v3electionpb.", "/v3lockpb.", "/grpc."]
            .iter()
            .any(|p| path.starts_with(p))
}

enum Answer {
    Waiting,
    /// A whole serialized response.
    Full(Bytes),
    /// A streamed response: serialized pieces, and whether the last one is queued.
    Stream {
        pieces: VecDeque<Bytes>,
        ended: bool,
    },
}

struct Exchange {
    /// `None` for answers the transport made itself (errors before any request reached core).
    id: Option<CallId>,
    is_head: bool,
    http10: bool,
    keep_alive: bool,
    answer: Answer,
}

enum BodyState {
    Length(usize),
    Chunked(Chunked),
}

enum Chunked {
    Size,
    Data(usize),
    DataEnd,
    Trailers,
}

struct PendingBody {
    request: HttpRequest,
    exchange: Exchange,
    state: BodyState,
    body: BytesMut,
}

enum ReadState {
    Head,
    Body(Box<PendingBody>),
    /// No more requests are read (close requested, or an error answer was queued).
    Stopped,
}

pub(crate) struct Http1Conn {
    read: ReadState,
    exchanges: VecDeque<Exchange>,
    queued_bytes: usize,
    blocked: BTreeSet<CallId>,
    /// A first request head was received.
    started: bool,
    /// The connection must close once its queued output is written.
    closing: bool,
    /// Close now, dropping queued answers (a streamed answer overflowed).
    aborted: bool,
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Unknown")
}

fn head_bytes(
    status: u16,
    headers: &[(String, Vec<u8>)],
    framing: &str,
    keep_alive: bool,
) -> BytesMut {
    let mut out = BytesMut::with_capacity(128);
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "content-length" | "transfer-encoding" | "connection" | "keep-alive"
        ) {
            continue;
        }
        if name.bytes().any(|b| b <= b' ' || b == b':' || b >= 0x7f)
            || value.iter().any(|&b| b == b'\r' || b == b'\n')
        {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(framing.as_bytes());
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn full_response(
    status: u16,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
    is_head: bool,
    keep_alive: bool,
) -> Bytes {
    let no_body = is_head || status == 204 || status == 304 || (100..200).contains(&status);
    let framing = if status == 204 || status == 304 {
        String::new()
    } else {
        format!("content-length: {}\r\n", body.len())
    };
    let mut out = head_bytes(status, headers, &framing, keep_alive);
    if !no_body {
        out.extend_from_slice(body);
    }
    out.freeze()
}

fn error_response(status: u16, text: &str) -> Bytes {
    let headers = [("content-type".to_owned(), b"text/plain; charset=utf-8".to_vec())];
    full_response(status, &headers, format!("{text}\n").as_bytes(), false, false)
}

fn chunk(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 12);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// Finds `\r\n` in `buf`.
fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

impl Http1Conn {
    pub(crate) fn new() -> Self {
        Self {
            read: ReadState::Head,
            exchanges: VecDeque::new(),
            queued_bytes: 0,
            blocked: BTreeSet::new(),
            started: false,
            closing: false,
            aborted: false,
        }
    }

    /// True once a whole request head was received.
    pub(crate) fn is_established(&self) -> bool {
        self.started
    }

    pub(crate) fn has_calls(&self) -> bool {
        !self.exchanges.is_empty() || matches!(self.read, ReadState::Body(_))
    }

    pub(crate) fn call_count(&self) -> usize {
        self.exchanges.len()
    }

    /// Answer bytes queued here (not yet in the connection's output).
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// The connection should close once its output is written (or now, if aborted).
    pub(crate) fn wants_close(&self) -> bool {
        self.aborted
            || (self.closing
                && self.exchanges.is_empty()
                && !matches!(self.read, ReadState::Body(_)))
    }

    /// Stops reading requests; the connection closes after the pending answers.
    pub(crate) fn stop(&mut self) {
        self.read = ReadState::Stopped;
        self.closing = true;
    }

    /// Queues an answer made by the transport and stops reading.
    fn refuse(&mut self, status: u16, text: &str) {
        tracing::debug!(status, text, "transport: HTTP/1 request refused");
        let answer = error_response(status, text);
        self.queued_bytes += answer.len();
        self.exchanges.push_back(Exchange {
            id: None,
            is_head: false,
            http10: false,
            keep_alive: false,
            answer: Answer::Full(answer),
        });
        self.stop();
    }

    /// Parses requests from the connection's input. May emit `Http`. Returns true on progress.
    pub(crate) fn process_input(&mut self, pipes: &SharedPipes, sink: &mut Sink<'_>) -> bool {
        let mut progress = false;
        loop {
            match &mut self.read {
                ReadState::Stopped => return progress,
                ReadState::Head => {
                    if self.exchanges.len() >= sink.config.max_pipelined_requests {
                        return progress;
                    }
                    let mut p = lock(pipes);
                    if p.input.is_empty() {
                        if p.input_eof {
                            drop(p);
                            self.stop();
                        }
                        return progress;
                    }
                    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let mut req = httparse::Request::new(&mut headers);
                    match req.parse(&p.input) {
                        Ok(httparse::Status::Complete(n)) => {
                            let parsed = self.parse_head(&req, sink);
                            p.input.advance(n);
                            drop(p);
                            self.started = true;
                            progress = true;
                            if let Some(pending) = parsed {
                                if matches!(pending.state, BodyState::Length(0)) {
                                    self.complete(pending, sink);
                                } else {
                                    if pending
                                        .request
                                        .header("expect")
                                        .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"))
                                        && self.exchanges.is_empty()
                                    {
                                        lock(pipes)
                                            .output
                                            .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                                    }
                                    self.read = ReadState::Body(pending);
                                }
                            }
                        }
                        Ok(httparse::Status::Partial) => {
                            let (len, eof) = (p.input.len(), p.input_eof);
                            drop(p);
                            if len >= sink.config.max_header_bytes {
                                self.refuse(431, "request header fields too large");
                                return true;
                            }
                            if eof {
                                self.stop();
                            }
                            return progress;
                        }
                        Err(httparse::Error::TooManyHeaders) => {
                            drop(p);
                            self.refuse(431, "too many request header fields");
                            return true;
                        }
                        Err(e) => {
                            drop(p);
                            self.refuse(400, &format!("malformed HTTP/1 request: {e}"));
                            return true;
                        }
                    }
                }
                ReadState::Body(pending) => {
                    let mut p = lock(pipes);
                    match Self::read_body(pending, &mut p.input, sink.config.max_request_bytes) {
                        Ok(true) => {
                            drop(p);
                            let ReadState::Body(pending) =
                                std::mem::replace(&mut self.read, ReadState::Head)
                            else {
                                unreachable!()
                            };
                            self.complete(pending, sink);
                            progress = true;
                        }
                        Ok(false) => {
                            let eof = p.input_eof;
                            drop(p);
                            if eof {
                                self.stop();
                            }
                            return progress;
                        }
                        Err((status, text)) => {
                            drop(p);
                            self.refuse(status, text);
                            return true;
                        }
                    }
                }
            }
        }
    }

    /// Reads a request head into a pending request, or queues a refusal and returns `None`.
    fn parse_head(
        &mut self,
        req: &httparse::Request<'_, '_>,
        sink: &mut Sink<'_>,
    ) -> Option<Box<PendingBody>> {
        let method = req.method.unwrap_or("GET").to_owned();
        let target = req.path.unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let http10 = req.version == Some(0);
        let mut headers = Vec::with_capacity(req.headers.len());
        let mut keep_alive = !http10;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        for h in req.headers.iter() {
            let name = h.name.to_ascii_lowercase();
            match name.as_str() {
                "connection" => {
                    for token in h.value.split(|&b| b == b',') {
                        let t = token.trim_ascii();
                        if t.eq_ignore_ascii_case(b"close") {
                            keep_alive = false;
                        } else if t.eq_ignore_ascii_case(b"keep-alive") && http10 {
                            keep_alive = true;
                        }
                    }
                }
                "content-length" => {
                    let n = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|s| s.trim().parse::<usize>().ok());
                    match (n, length) {
                        (Some(n), None) => length = Some(n),
                        (Some(n), Some(m)) if n == m => {}
                        _ => {
                            self.refuse(400, "bad Content-Length");
                            return None;
                        }
                    }
                }
                "transfer-encoding" => {
                    let last =
                        h.value.rsplit(|&b| b == b',').next().unwrap_or_default().trim_ascii();
                    if !last.eq_ignore_ascii_case(b"chunked") {
                        self.refuse(501, "unsupported Transfer-Encoding");
                        return None;
                    }
                    chunked = true;
                }
                _ => {}
            }
            headers.push((name, h.value.to_vec()));
        }
        if chunked && length.is_some() {
            self.refuse(400, "both Transfer-Encoding and Content-Length");
            return None;
        }
        if length.is_some_and(|n| n > sink.config.max_request_bytes) {
            self.refuse(413, "request body too large");
            return None;
        }
        let content_type =
            headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.as_slice());
        if is_grpc_request(path, content_type) {
            self.refuse(
                505,
                "gRPC needs HTTP/2: use h2 (prior knowledge on http://, ALPN h2 on https://)",
            );
            return None;
        }
        let request = HttpRequest {
            id: CallId(0),
            method: method.clone(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body: Bytes::new(),
        };
        let exchange = Exchange {
            id: None,
            is_head: method == "HEAD",
            http10,
            keep_alive,
            answer: Answer::Waiting,
        };
        let state = if chunked {
            BodyState::Chunked(Chunked::Size)
        } else {
            BodyState::Length(length.unwrap_or(0))
        };
        Some(Box::new(PendingBody { request, exchange, state, body: BytesMut::new() }))
    }

    /// Consumes body bytes from `input`. `Ok(true)` once the body is complete.
    fn read_body(
        pending: &mut PendingBody,
        input: &mut BytesMut,
        max: usize,
    ) -> Result<bool, (u16, &'static str)> {
        loop {
            match &mut pending.state {
                BodyState::Length(remaining) => {
                    let n = (*remaining).min(input.len());
                    pending.body.extend_from_slice(&input[..n]);
                    input.advance(n);
                    *remaining -= n;
                    return Ok(*remaining == 0);
                }
                BodyState::Chunked(state) => match state {
                    Chunked::Size => {
                        let Some(end) = find_crlf(input) else {
                            return if input.len() > MAX_CHUNK_LINE {
                                Err((400, "bad chunk size line"))
                            } else {
                                Ok(false)
                            };
                        };
                        let line = &input[..end];
                        let hex =
                            line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
                        let size = std::str::from_utf8(hex)
                            .ok()
                            .filter(|s| !s.is_empty() && s.len() <= 16)
                            .and_then(|s| usize::from_str_radix(s, 16).ok())
                            .ok_or((400, "bad chunk size"))?;
                        input.advance(end + 2);
                        if pending.body.len().saturating_add(size) > max {
                            return Err((413, "request body too large"));
                        }
                        *state = if size == 0 { Chunked::Trailers } else { Chunked::Data(size) };
                    }
                    Chunked::Data(remaining) => {
                        let n = (*remaining).min(input.len());
                        pending.body.extend_from_slice(&input[..n]);
                        input.advance(n);
                        *remaining -= n;
                        if *remaining > 0 {
                            return Ok(false);
                        }
                        *state = Chunked::DataEnd;
                    }
                    Chunked::DataEnd => {
                        if input.len() < 2 {
                            return Ok(false);
                        }
                        if &input[..2] != b"\r\n" {
                            return Err((400, "bad chunk end"));
                        }
                        input.advance(2);
                        *state = Chunked::Size;
                    }
                    Chunked::Trailers => {
                        let Some(end) = find_crlf(input) else {
                            return if input.len() > MAX_CHUNK_LINE {
                                Err((431, "chunked trailer too large"))
                            } else {
                                Ok(false)
                            };
                        };
                        input.advance(end + 2);
                        if end == 0 {
                            return Ok(true);
                        }
                    }
                },
            }
        }
    }

    /// A whole request is in: hand it to the core.
    fn complete(&mut self, pending: Box<PendingBody>, sink: &mut Sink<'_>) {
        let PendingBody { mut request, mut exchange, body, .. } = *pending;
        let id = sink.new_call();
        request.id = id;
        request.body = body.freeze();
        exchange.id = Some(id);
        if !exchange.keep_alive {
            self.read = ReadState::Stopped;
        }
        self.exchanges.push_back(exchange);
        sink.emit(Incoming::Http { request, peer: sink.peer.clone() });
    }

    /// Moves ready answers, in request order, into the connection's output (streamed pieces only
    /// while the output is under `limit_bytes`). Returns true on progress.
    pub(crate) fn write_output(
        &mut self,
        pipes: &SharedPipes,
        limit_bytes: usize,
        sink: &mut Sink<'_>,
    ) -> bool {
        let mut progress = false;
        let mut p = lock(pipes);
        while let Some(front) = self.exchanges.front_mut() {
            let done = match &mut front.answer {
                Answer::Waiting => break,
                Answer::Full(bytes) => {
                    p.output.extend_from_slice(bytes);
                    self.queued_bytes -= bytes.len();
                    true
                }
                Answer::Stream { pieces, ended } => {
                    while p.output.len() < limit_bytes {
                        let Some(piece) = pieces.pop_front() else { break };
                        p.output.extend_from_slice(&piece);
                        self.queued_bytes -= piece.len();
                        progress = true;
                    }
                    pieces.is_empty() && *ended
                }
            };
            if !done {
                break;
            }
            progress = true;
            let ex = self.exchanges.pop_front().expect("front exists");
            if let Some(id) = ex.id {
                sink.end_call(id);
                self.blocked.remove(&id);
            }
            if !ex.keep_alive {
                self.stop();
                self.drop_pending(sink);
            }
        }
        progress
    }

    /// Drops exchanges that will never be answered on the wire (the connection is closing).
    fn drop_pending(&mut self, sink: &mut Sink<'_>) {
        for ex in self.exchanges.drain(..) {
            if let Some(id) = ex.id {
                sink.end_call(id);
                sink.emit(Incoming::CallCancelled { call: id });
            }
        }
        self.queued_bytes = 0;
        self.blocked.clear();
    }

    /// Every exchange ends with the connection; the core hears `CallCancelled` for those it had
    /// not finished answering.
    pub(crate) fn cancel_all(&mut self, sink: &mut Sink<'_>) {
        for ex in self.exchanges.drain(..) {
            let Some(id) = ex.id else { continue };
            sink.end_call(id);
            let finished = match &ex.answer {
                Answer::Waiting => false,
                Answer::Full(_) => true,
                Answer::Stream { ended, .. } => *ended,
            };
            if !finished {
                sink.emit(Incoming::CallCancelled { call: id });
            }
        }
        self.queued_bytes = 0;
        self.blocked.clear();
    }

    pub(crate) fn take_writable(
        &mut self,
        pending_bytes: usize,
        limit_bytes: usize,
    ) -> Vec<CallId> {
        if self.blocked.is_empty() || pending_bytes > limit_bytes / 2 {
            return Vec::new();
        }
        std::mem::take(&mut self.blocked).into_iter().collect()
    }

    fn waiting(&mut self, id: CallId) -> Option<&mut Exchange> {
        self.exchanges.iter_mut().find(|e| e.id == Some(id))
    }

    /// A whole response. False if the exchange is gone or already answered.
    pub(crate) fn http_reply(
        &mut self,
        id: CallId,
        status: u16,
        headers: &[(String, Vec<u8>)],
        body: &[u8],
    ) -> bool {
        let Some(ex) = self.waiting(id) else { return false };
        if !matches!(ex.answer, Answer::Waiting) {
            return false;
        }
        let bytes = full_response(status, headers, body, ex.is_head, ex.keep_alive);
        let n = bytes.len();
        ex.answer = Answer::Full(bytes);
        self.queued_bytes += n;
        true
    }

    /// The head of a streamed response (chunked; close-delimited for an HTTP/1.0 client).
    pub(crate) fn http_stream_start(
        &mut self,
        id: CallId,
        status: u16,
        headers: &[(String, Vec<u8>)],
    ) -> bool {
        let Some(ex) = self.waiting(id) else { return false };
        if !matches!(ex.answer, Answer::Waiting) {
            return false;
        }
        if ex.http10 {
            ex.keep_alive = false;
        }
        let framing = if ex.http10 { "" } else { "transfer-encoding: chunked\r\n" };
        let head = head_bytes(status, headers, framing, ex.keep_alive).freeze();
        let n = head.len();
        ex.answer = Answer::Stream { pieces: VecDeque::from([head]), ended: ex.is_head };
        self.queued_bytes += n;
        true
    }

    /// One piece of a streamed body. Overflow closes the connection: HTTP/1 cannot end one
    /// response early without confusing the client.
    pub(crate) fn http_stream_chunk(
        &mut self,
        id: CallId,
        data: &[u8],
        pending_bytes: usize,
        limit_bytes: usize,
    ) -> SendStatus {
        let Some(ex) = self.waiting(id) else { return SendStatus::Gone };
        let (http10, is_head) = (ex.http10, ex.is_head);
        let Answer::Stream { pieces, ended } = &mut ex.answer else { return SendStatus::Gone };
        if *ended {
            return SendStatus::Gone;
        }
        if pending_bytes >= limit_bytes.saturating_mul(2) {
            // The caller hears Overflow; no CallCancelled follows when the connection closes.
            *ended = true;
            self.aborted = true;
            return SendStatus::Overflow;
        }
        if data.is_empty() || is_head {
            return SendStatus::Sent;
        }
        let piece = if http10 { Bytes::copy_from_slice(data) } else { chunk(data) };
        let n = piece.len();
        pieces.push_back(piece);
        self.queued_bytes += n;
        if pending_bytes + n > limit_bytes {
            self.blocked.insert(id);
            SendStatus::Full
        } else {
            SendStatus::Sent
        }
    }

    /// Ends a streamed body.
    pub(crate) fn http_stream_end(&mut self, id: CallId) -> bool {
        let Some(ex) = self.waiting(id) else { return false };
        let (http10, is_head) = (ex.http10, ex.is_head);
        let Answer::Stream { pieces, ended } = &mut ex.answer else { return false };
        if *ended && !is_head {
            return false;
        }
        *ended = true;
        if !http10 && !is_head {
            pieces.push_back(Bytes::from_static(b"0\r\n\r\n"));
            self.queued_bytes += 5;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(
        state: BodyState,
        wire: &[u8],
        max: usize,
    ) -> Result<(bool, Vec<u8>, usize), (u16, &'static str)> {
        let request = HttpRequest {
            id: CallId(0),
            method: String::new(),
            path: String::new(),
            query: String::new(),
            headers: Vec::new(),
            body: Bytes::new(),
        };
        let exchange = Exchange {
            id: None,
            is_head: false,
            http10: false,
            keep_alive: true,
            answer: Answer::Waiting,
        };
        let mut p = PendingBody { request, exchange, state, body: BytesMut::new() };
        let mut input = BytesMut::from(wire);
        let done = Http1Conn::read_body(&mut p, &mut input, max)?;
        Ok((done, p.body.to_vec(), input.len()))
    }

    #[test]
    fn chunked_bodies_decode_and_leave_the_next_request() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\n";
        let (done, body, rest) = body_of(BodyState::Chunked(Chunked::Size), wire, 100).unwrap();
        assert!(done);
        assert_eq!(body, b"Wikipedia");
        assert_eq!(rest, b"GET / HTTP/1.1\r\n".len());
        let (done, body, _) = body_of(BodyState::Chunked(Chunked::Size), b"4\r\nWi", 100).unwrap();
        assert!(!done);
        assert_eq!(body, b"Wi");
    }

    #[test]
    fn chunked_limits_and_garbage() {
        assert_eq!(body_of(BodyState::Chunked(Chunked::Size), b"zz\r\n", 100).unwrap_err().0, 400);
        assert_eq!(body_of(BodyState::Chunked(Chunked::Size), b"65\r\n", 100).unwrap_err().0, 413);
        assert_eq!(
            body_of(BodyState::Chunked(Chunked::Size), b"1\r\nabc", 100).unwrap_err().0,
            400
        );
        assert_eq!(
            body_of(BodyState::Chunked(Chunked::Size), &[b'1'; 2000], 100).unwrap_err().0,
            400
        );
    }

    #[test]
    fn length_bodies() {
        let (done, body, rest) = body_of(BodyState::Length(3), b"abcdef", 100).unwrap();
        assert!(done);
        assert_eq!(body, b"abc");
        assert_eq!(rest, 3);
    }

    #[test]
    fn responses_are_framed() {
        let r = full_response(
            200,
            &[
                ("Content-Type".into(), b"application/json".to_vec()),
                ("Content-Length".into(), b"99".to_vec()),
            ],
            b"{}",
            false,
            true,
        );
        assert_eq!(
            &r[..],
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
        let r = full_response(404, &[], b"no", true, false);
        assert_eq!(
            &r[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(&chunk(b"hello world!!!!!!")[..], b"11\r\nhello world!!!!!!\r\n");
    }

    #[test]
    fn grpc_paths_are_recognised() {
        assert!(is_grpc_request("/etcdserverpb.KV/Range", None));
        assert!(is_grpc_request("/x", Some(b"application/grpc+proto")));
        assert!(!is_grpc_request("/v3/kv/range", Some(b"application/json")));
        assert!(!is_grpc_request("/health", None));
    }
}
