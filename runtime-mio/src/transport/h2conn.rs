//! HTTP/2 on one connection: h2's server driven by hand. Each request becomes a gRPC call
//! (content type `application/grpc*`) or a plain HTTP exchange; answers are queued per call and
//! handed to h2 only as fast as flow control lets them go, so what is buffered stays measurable.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use h2::server::{Connection, Handshake, SendResponse};
use h2::{RecvStream, SendStream};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};

use super::grpc_frame::{self, Decoder};
use super::h2_shim::{H2InputShim, H2_HEADER_TABLE_BYTES, H2_MAX_FRAME_BYTES};
use super::io::{lock, PipeIo, SharedPipes};
use super::sink::Sink;
use super::types::{CallId, GrpcStatus, HttpRequest, Incoming, Metadata, SendStatus};
use super::wake::WakeKey;
use super::TransportConfig;

/// h2's own per-stream send buffer; our queues hold the rest.
const SEND_BUFFER_BYTES: usize = 64 << 10;
/// Bound on loop rounds inside one poll, for fairness between calls.
const MAX_ROUNDS: usize = 64;

enum State {
    Handshaking(Pin<Box<Handshake<PipeIo, Bytes>>>),
    Open(Box<Connection<PipeIo, Bytes>>),
    Closed,
}

enum Kind {
    /// The metadata waits here until the request message is in (`None` once delivered).
    Unary {
        metadata: Option<Metadata>,
    },
    Stream,
    Http {
        head: Option<HttpRequest>,
        body: BytesMut,
        is_head: bool,
    },
}

enum Finish {
    Trailers(HeaderMap),
    EndStream,
}

struct H2Call {
    kind: Kind,
    method: String,
    encoding: Option<String>,
    recv: Option<RecvStream>,
    respond: Option<SendResponse<Bytes>>,
    send: Option<SendStream<Bytes>>,
    decoder: Decoder,
    outq: VecDeque<Bytes>,
    out_bytes: usize,
    /// The queue's first buffer was partly handed to h2 (must not be dropped on overflow).
    front_started: bool,
    finish: Option<Finish>,
    /// The core knows this call (it got Unary / StreamOpened / Http).
    notified: bool,
    /// The final answer is queued: core operations are refused from now on.
    answered: bool,
    /// The last frame of the answer was handed to h2: the call is over.
    complete: bool,
    waker: Waker,
}

/// What a drive of the connection found.
pub(crate) enum DriveOutcome {
    Open,
    /// The HTTP/2 connection ended (cleanly if the reason is `None`).
    Closed(Option<String>),
}

pub(crate) struct H2Conn {
    state: State,
    calls: BTreeMap<CallId, H2Call>,
    conn_waker: Waker,
    queued_bytes: usize,
    blocked: BTreeSet<CallId>,
    /// Shared with h2's `PipeIo`: where the input filter asks for a connection error.
    pipes: SharedPipes,
}

fn grpc_headers(status: StatusCode) -> Response<()> {
    let mut r = Response::new(());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    r
}

fn status_headers(status: &GrpcStatus, map: &mut HeaderMap) {
    map.insert("grpc-status", HeaderValue::from(status.code));
    if !status.message.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&grpc_frame::percent_encode(&status.message)) {
            map.insert("grpc-message", v);
        }
    }
}

fn metadata(headers: &HeaderMap) -> Metadata {
    let mut m = Metadata::default();
    let mut authorization = None;
    for (name, value) in headers {
        let Ok(v) = value.to_str() else { continue };
        match name.as_str() {
            "token" => m.token = Some(v.to_owned()),
            "authorization" => authorization = Some(v.to_owned()),
            "hasleader" => m.require_leader = v == "true",
            "grpc-timeout" => m.timeout = grpc_frame::parse_timeout(v),
            "user-agent" => m.user_agent = Some(v.to_owned()),
            // Binary values, and gRPC's own protocol headers (saved allocations per call).
            n if n.ends_with("-bin") || n.starts_with("grpc-") => {}
            "te" | "content-type" | "accept-encoding" => {}
            n => m.other.push((n.to_owned(), v.to_owned())),
        }
    }
    if m.token.is_none() {
        m.token = authorization;
    }
    m
}

impl H2Conn {
    pub(crate) fn new(pipes: SharedPipes, config: &TransportConfig, conn_waker: Waker) -> Self {
        let mut b = h2::server::Builder::new();
        b.initial_window_size(config.h2_stream_window_bytes)
            .initial_connection_window_size(config.h2_connection_window_bytes)
            .max_concurrent_streams(config.max_concurrent_streams)
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
            .max_send_buffer_size(SEND_BUFFER_BYTES)
            // The input filter relies on these two (h2's defaults, set so they stay put).
            .max_frame_size(H2_MAX_FRAME_BYTES as u32)
            .header_table_size(H2_HEADER_TABLE_BYTES as u32);
        let shim = H2InputShim::new(config.max_input_bytes_per_connection, config.max_header_bytes);
        let io = PipeIo::new(pipes.clone(), shim);
        let state = State::Handshaking(Box::pin(b.handshake(io)));
        Self {
            state,
            calls: BTreeMap::new(),
            conn_waker,
            queued_bytes: 0,
            blocked: BTreeSet::new(),
            pipes,
        }
    }

    /// True once the client's preface and settings were received.
    pub(crate) fn is_established(&self) -> bool {
        !matches!(self.state, State::Handshaking(_))
    }

    pub(crate) fn has_calls(&self) -> bool {
        !self.calls.is_empty()
    }

    pub(crate) fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Answer bytes queued in this connection's calls (not yet handed to h2).
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Sends a GOAWAY; the connection closes once its open streams are done.
    pub(crate) fn graceful_shutdown(&mut self) {
        if let State::Open(c) = &mut self.state {
            c.graceful_shutdown();
        }
    }

    /// Drives h2's connection task: reads frames, accepts new streams, writes queued frames.
    /// May emit `StreamOpened` (and, through the calls it polls, any call event).
    pub(crate) fn drive(&mut self, sink: &mut Sink<'_>) -> DriveOutcome {
        let mut cx = Context::from_waker(&self.conn_waker);
        if let State::Handshaking(fut) = &mut self.state {
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(conn)) => self.state = State::Open(Box::new(conn)),
                Poll::Ready(Err(e)) => {
                    self.state = State::Closed;
                    return DriveOutcome::Closed(Some(format!("HTTP/2 handshake failed: {e}")));
                }
                Poll::Pending => return DriveOutcome::Open,
            }
        }
        let State::Open(conn) = &mut self.state else {
            return DriveOutcome::Closed(None);
        };
        let mut accepted = Vec::new();
        let outcome = loop {
            match conn.poll_accept(&mut cx) {
                Poll::Ready(Some(Ok((req, respond)))) => accepted.push((req, respond)),
                Poll::Ready(Some(Err(e))) => {
                    let clean =
                        e.is_go_away() && e.reason() == Some(h2::Reason::NO_ERROR) || e.is_io();
                    break DriveOutcome::Closed((!clean).then(|| format!("HTTP/2 error: {e}")));
                }
                Poll::Ready(None) => break DriveOutcome::Closed(None),
                Poll::Pending => match lock(&self.pipes).h2_abort.take() {
                    // The input filter refused the client's input: h2 sends the GOAWAY.
                    Some(reason) => conn.abrupt_shutdown(reason),
                    None => break DriveOutcome::Open,
                },
            }
        };
        for (req, respond) in accepted {
            self.accept(req, respond, sink);
        }
        if matches!(outcome, DriveOutcome::Closed(_)) {
            self.state = State::Closed;
        }
        outcome
    }

    fn accept(
        &mut self,
        req: Request<RecvStream>,
        respond: SendResponse<Bytes>,
        sink: &mut Sink<'_>,
    ) {
        let (parts, recv) = req.into_parts();
        let id = sink.new_call();
        let waker = sink.wake.waker(WakeKey::Call(sink.conn, id));
        let is_grpc = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/grpc"));
        let path = parts.uri.path().to_owned();
        let (kind, notified) = if is_grpc {
            if sink.config.streaming_methods.contains(&path) {
                let metadata = metadata(&parts.headers);
                sink.emit(Incoming::StreamOpened {
                    call: id,
                    method: path.clone(),
                    metadata,
                    peer: sink.peer.clone(),
                });
                (Kind::Stream, true)
            } else {
                (Kind::Unary { metadata: Some(metadata(&parts.headers)) }, false)
            }
        } else {
            let headers = parts
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect();
            let head = HttpRequest {
                id,
                method: parts.method.as_str().to_owned(),
                path: path.clone(),
                query: parts.uri.query().unwrap_or("").to_owned(),
                headers,
                body: Bytes::new(),
            };
            let is_head = parts.method == http::Method::HEAD;
            (Kind::Http { head: Some(head), body: BytesMut::new(), is_head }, false)
        };
        let encoding =
            parts.headers.get("grpc-encoding").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let call = H2Call {
            kind,
            method: path,
            encoding,
            recv: Some(recv),
            respond: Some(respond),
            send: None,
            decoder: Decoder::new(sink.config.max_recv_message_bytes()),
            outq: VecDeque::new(),
            out_bytes: 0,
            front_started: false,
            finish: None,
            notified,
            answered: false,
            complete: false,
            waker,
        };
        self.calls.insert(id, call);
        self.poll_call(id, sink);
    }
}

/// Status for a unary call whose client half-closed without a request message.
const NO_REQUEST: (u32, &str) = (13, "grpc: the client sent no request message on a unary call");

fn trailers_only(status: &GrpcStatus) -> Response<()> {
    let mut r = grpc_headers(StatusCode::OK);
    status_headers(status, r.headers_mut());
    r
}

fn trailer_map(status: &GrpcStatus) -> HeaderMap {
    let mut m = HeaderMap::new();
    status_headers(status, &mut m);
    m
}

impl H2Call {
    /// Sends the response headers of a gRPC answer if not done yet.
    fn start_grpc(&mut self) -> bool {
        if self.send.is_some() {
            return true;
        }
        let Some(mut respond) = self.respond.take() else { return false };
        match respond.send_response(grpc_headers(StatusCode::OK), false) {
            Ok(send) => {
                self.send = Some(send);
                true
            }
            Err(_) => false,
        }
    }

    /// Ends a gRPC call with `status`: trailers after the queued messages, or a trailers-only
    /// response if nothing was sent yet.
    fn finish_grpc(&mut self, status: &GrpcStatus) {
        self.answered = true;
        if self.send.is_some() {
            self.finish = Some(Finish::Trailers(trailer_map(status)));
        } else if let Some(mut respond) = self.respond.take() {
            let _ = respond.send_response(trailers_only(status), true);
            self.complete = true;
        }
    }

    fn enqueue(&mut self, data: Bytes) -> usize {
        let n = data.len();
        if n > 0 {
            self.out_bytes += n;
            self.outq.push_back(data);
        }
        n
    }

    /// Drops queued answers except a partly sent one (whose remainder keeps the framing valid).
    /// Returns the bytes dropped.
    fn drop_queue(&mut self) -> usize {
        let keep = usize::from(self.front_started);
        let mut dropped = 0;
        while self.outq.len() > keep {
            if let Some(b) = self.outq.pop_back() {
                dropped += b.len();
            }
        }
        self.out_bytes -= dropped;
        dropped
    }

    /// Hands queued bytes to h2 as far as flow control allows, then the final frame. Returns the
    /// bytes handed over, or `Err` if the stream is gone.
    fn push_output(&mut self, cx: &mut Context<'_>) -> Result<usize, ()> {
        let Some(send) = self.send.as_mut() else { return Ok(0) };
        let mut moved = 0;
        let mut rounds = 0;
        while let Some(front) = self.outq.front_mut() {
            rounds += 1;
            if rounds > MAX_ROUNDS {
                cx.waker().wake_by_ref();
                return Ok(moved);
            }
            if send.capacity() == 0 {
                send.reserve_capacity(self.out_bytes.min(SEND_BUFFER_BYTES));
                match send.poll_capacity(cx) {
                    Poll::Ready(Some(Ok(_))) => continue,
                    Poll::Ready(Some(Err(_)) | None) => return Err(()),
                    Poll::Pending => return Ok(moved),
                }
            }
            let n = send.capacity().min(front.len());
            let chunk = front.split_to(n);
            if front.is_empty() {
                self.outq.pop_front();
                self.front_started = false;
            } else {
                self.front_started = true;
            }
            self.out_bytes -= n;
            moved += n;
            send.send_data(chunk, false).map_err(|_| ())?;
        }
        if let Some(finish) = self.finish.take() {
            let sent = match finish {
                Finish::Trailers(t) => send.send_trailers(t),
                Finish::EndStream => send.send_data(Bytes::new(), true),
            };
            sent.map_err(|_| ())?;
            self.complete = true;
        }
        Ok(moved)
    }

    /// Handles one DATA payload from the client.
    fn on_data(&mut self, id: CallId, data: &Bytes, sink: &mut Sink<'_>) {
        match &mut self.kind {
            Kind::Http { body, .. } => {
                if body.len() + data.len() > sink.config.max_request_bytes {
                    self.recv = None;
                    if let Some(mut respond) = self.respond.take() {
                        let mut r = Response::new(());
                        *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                        let _ = respond.send_response(r, true);
                    }
                    self.answered = true;
                    self.complete = true;
                } else {
                    body.extend_from_slice(data);
                }
            }
            Kind::Unary { metadata: None } => {}
            Kind::Unary { .. } | Kind::Stream => {
                self.decoder.push(data);
                loop {
                    match self.decoder.next_message() {
                        Ok(Some(message)) => match &mut self.kind {
                            Kind::Unary { metadata } => {
                                let metadata = metadata.take().unwrap_or_default();
                                sink.emit(Incoming::Unary {
                                    call: id,
                                    method: self.method.clone(),
                                    metadata,
                                    message,
                                    peer: sink.peer.clone(),
                                });
                                self.notified = true;
                                self.decoder = Decoder::new(0);
                                break;
                            }
                            _ => {
                                if !self.answered {
                                    sink.emit(Incoming::StreamMessage { call: id, message });
                                }
                            }
                        },
                        Ok(None) => break,
                        Err(e) => {
                            let (code, message) = e.status(self.encoding.as_deref());
                            tracing::debug!(%id, code, %message, "transport: gRPC message refused");
                            self.fail(id, &GrpcStatus::new(code, message), sink);
                            break;
                        }
                    }
                }
            }
        }
    }

    /// The transport ends the call with `status`; the core hears `CallCancelled` if it knew the
    /// call and had not answered.
    fn fail(&mut self, id: CallId, status: &GrpcStatus, sink: &mut Sink<'_>) {
        self.recv = None;
        if self.answered {
            return;
        }
        if self.notified {
            sink.emit(Incoming::CallCancelled { call: id });
        }
        self.finish_grpc(status);
    }

    /// The client half-closed.
    fn on_end(&mut self, id: CallId, sink: &mut Sink<'_>) {
        match &mut self.kind {
            Kind::Http { head, body, .. } => {
                if let Some(mut request) = head.take() {
                    if !self.answered {
                        request.body = std::mem::take(body).freeze();
                        sink.emit(Incoming::Http { request, peer: sink.peer.clone() });
                        self.notified = true;
                    }
                }
            }
            Kind::Unary { metadata: Some(_) } => {
                let status = if self.decoder.is_empty() {
                    GrpcStatus::new(NO_REQUEST.0, NO_REQUEST.1)
                } else {
                    GrpcStatus::new(
                        13,
                        "grpc: the client closed the stream in the middle of a message",
                    )
                };
                self.fail(id, &status, sink);
            }
            Kind::Unary { metadata: None } => {}
            Kind::Stream => {
                if !self.decoder.is_empty() {
                    let status = GrpcStatus::new(
                        13,
                        "grpc: the client closed the stream in the middle of a message",
                    );
                    self.fail(id, &status, sink);
                } else if !self.answered {
                    sink.emit(Incoming::StreamHalfClosed { call: id });
                }
            }
        }
    }
}

/// A call the core may still answer.
fn live(calls: &mut BTreeMap<CallId, H2Call>, id: CallId) -> Option<&mut H2Call> {
    calls.get_mut(&id).filter(|c| c.notified && !c.answered)
}

impl H2Conn {
    /// Polls one call: its received data, a reset by the client, and its queued answer.
    /// May emit `Unary`, `StreamMessage`, `StreamHalfClosed`, `Http` and `CallCancelled`.
    pub(crate) fn poll_call(&mut self, id: CallId, sink: &mut Sink<'_>) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let waker = call.waker.clone();
        let mut cx = Context::from_waker(&waker);
        let mut gone = false;
        let mut rounds = 0;
        while let Some(recv) = call.recv.as_mut() {
            rounds += 1;
            if rounds > MAX_ROUNDS {
                waker.wake_by_ref();
                break;
            }
            match recv.poll_data(&mut cx) {
                Poll::Ready(Some(Ok(data))) => {
                    let _ = recv.flow_control().release_capacity(data.len());
                    call.on_data(id, &data, sink);
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(%id, error = %e, "transport: stream reset");
                    gone = true;
                    break;
                }
                Poll::Ready(None) => {
                    call.recv = None;
                    call.on_end(id, sink);
                }
                Poll::Pending => break,
            }
        }
        if !gone && call.recv.is_none() && !call.complete {
            let reset = match (call.send.as_mut(), call.respond.as_mut()) {
                (Some(send), _) => send.poll_reset(&mut cx),
                (None, Some(respond)) => respond.poll_reset(&mut cx),
                (None, None) => Poll::Pending,
            };
            gone = reset.is_ready();
        }
        if !gone {
            match call.push_output(&mut cx) {
                Ok(moved) => self.queued_bytes -= moved,
                Err(()) => gone = true,
            }
        }
        if gone {
            self.remove(id, true, sink);
        } else if call.complete {
            self.remove(id, false, sink);
        }
    }

    fn remove(&mut self, id: CallId, cancelled: bool, sink: &mut Sink<'_>) {
        if let Some(call) = self.calls.remove(&id) {
            self.queued_bytes -= call.out_bytes;
            if cancelled && call.notified && !call.answered {
                sink.emit(Incoming::CallCancelled { call: id });
            }
        }
        self.blocked.remove(&id);
        sink.end_call(id);
    }

    /// Every call ends with the connection; the core hears `CallCancelled` for those it knew
    /// and had not answered.
    pub(crate) fn cancel_all(&mut self, sink: &mut Sink<'_>) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            self.remove(id, true, sink);
        }
    }

    /// Calls told `Full` that may send again, once the connection's output fell to half the limit.
    pub(crate) fn take_writable(
        &mut self,
        pending_bytes: usize,
        limit_bytes: usize,
    ) -> Vec<CallId> {
        if self.blocked.is_empty() || pending_bytes > limit_bytes / 2 {
            return Vec::new();
        }
        std::mem::take(&mut self.blocked)
            .into_iter()
            .filter(|id| self.calls.contains_key(id))
            .collect()
    }

    /// The answer of a unary call. False if the call is gone or not unary.
    pub(crate) fn reply_unary(&mut self, id: CallId, result: Result<Vec<u8>, GrpcStatus>) -> bool {
        let Some(call) = live(&mut self.calls, id) else { return false };
        if !matches!(call.kind, Kind::Unary { .. }) {
            return false;
        }
        let added = match result {
            Ok(message) => {
                if !call.start_grpc() {
                    return false;
                }
                let n = call.enqueue(grpc_frame::encode(&message));
                call.finish_grpc(&GrpcStatus::ok());
                n
            }
            Err(status) => {
                call.finish_grpc(&status);
                0
            }
        };
        self.queued_bytes += added;
        true
    }

    /// Queues one message of a streaming call.
    pub(crate) fn stream_send(
        &mut self,
        id: CallId,
        message: &[u8],
        pending_bytes: usize,
        limit_bytes: usize,
    ) -> SendStatus {
        let Some(call) = live(&mut self.calls, id) else { return SendStatus::Gone };
        if !matches!(call.kind, Kind::Stream) {
            return SendStatus::Gone;
        }
        if pending_bytes >= limit_bytes.saturating_mul(2) {
            let dropped = call.drop_queue();
            call.finish_grpc(&GrpcStatus::new(
                8,
                "oxcd: the client does not read its stream: output buffer full",
            ));
            self.queued_bytes -= dropped;
            return SendStatus::Overflow;
        }
        if !call.start_grpc() {
            return SendStatus::Gone;
        }
        let n = call.enqueue(grpc_frame::encode(message));
        self.queued_bytes += n;
        if pending_bytes + n > limit_bytes {
            self.blocked.insert(id);
            SendStatus::Full
        } else {
            SendStatus::Sent
        }
    }

    /// Ends a streaming call with `status` after its queued messages.
    pub(crate) fn stream_finish(&mut self, id: CallId, status: &GrpcStatus) -> bool {
        let Some(call) = live(&mut self.calls, id) else { return false };
        if !matches!(call.kind, Kind::Stream) {
            return false;
        }
        call.finish_grpc(status);
        true
    }

    fn http_start(
        call: &mut H2Call,
        status: u16,
        headers: &[(String, Vec<u8>)],
        length: Option<usize>,
        end: bool,
    ) -> bool {
        let Some(mut respond) = call.respond.take() else { return false };
        let mut r = Response::new(());
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in headers {
            let (Ok(n), Ok(v)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value))
            else {
                continue;
            };
            // Connection-specific headers are forbidden in HTTP/2.
            if matches!(
                n.as_str(),
                "connection" | "transfer-encoding" | "keep-alive" | "upgrade" | "content-length"
            ) {
                continue;
            }
            r.headers_mut().append(n, v);
        }
        if let Some(len) = length {
            r.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        match respond.send_response(r, end) {
            Ok(send) => {
                call.send = Some(send);
                true
            }
            Err(_) => false,
        }
    }

    /// A whole HTTP response.
    pub(crate) fn http_reply(
        &mut self,
        id: CallId,
        status: u16,
        headers: &[(String, Vec<u8>)],
        body: Vec<u8>,
    ) -> bool {
        let Some(call) = live(&mut self.calls, id) else { return false };
        let Kind::Http { is_head, .. } = call.kind else { return false };
        let end = body.is_empty() || is_head;
        if !Self::http_start(call, status, headers, Some(body.len()), end) {
            return false;
        }
        call.answered = true;
        let mut added = 0;
        if end {
            call.complete = true;
        } else {
            added = call.enqueue(Bytes::from(body));
            call.finish = Some(Finish::EndStream);
        }
        self.queued_bytes += added;
        true
    }

    /// The head of a streamed HTTP response.
    pub(crate) fn http_stream_start(
        &mut self,
        id: CallId,
        status: u16,
        headers: &[(String, Vec<u8>)],
    ) -> bool {
        let Some(call) = live(&mut self.calls, id) else { return false };
        if !matches!(call.kind, Kind::Http { .. }) || call.send.is_some() {
            return false;
        }
        Self::http_start(call, status, headers, None, false)
    }

    /// One piece of a streamed HTTP response body.
    pub(crate) fn http_stream_chunk(
        &mut self,
        id: CallId,
        data: Vec<u8>,
        pending_bytes: usize,
        limit_bytes: usize,
    ) -> SendStatus {
        let Some(call) = live(&mut self.calls, id) else { return SendStatus::Gone };
        if call.send.is_none() {
            return SendStatus::Gone;
        }
        if pending_bytes >= limit_bytes.saturating_mul(2) {
            let dropped = call.drop_queue();
            self.queued_bytes -= dropped;
            if let Some(send) = call.send.as_mut() {
                send.send_reset(h2::Reason::CANCEL);
            }
            call.answered = true;
            call.complete = true;
            return SendStatus::Overflow;
        }
        let n = call.enqueue(Bytes::from(data));
        self.queued_bytes += n;
        if pending_bytes + n > limit_bytes {
            self.blocked.insert(id);
            SendStatus::Full
        } else {
            SendStatus::Sent
        }
    }

    /// Ends a streamed HTTP response after its queued pieces.
    pub(crate) fn http_stream_end(&mut self, id: CallId) -> bool {
        let Some(call) = live(&mut self.calls, id) else { return false };
        if call.send.is_none() {
            return false;
        }
        call.answered = true;
        call.finish = Some(Finish::EndStream);
        true
    }
}
