//! One client connection: its bytes ([`ConnIo`]), which protocol it speaks (found by TLS ALPN
//! or by sniffing the HTTP/2 preface), and its life from accept to close.

use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use super::config::TransportConfig;
use super::h2conn::{DriveOutcome, H2Conn};
use super::http1::Http1Conn;
use super::io::{lock, ConnIo, IoFailure};
use super::peer;
use super::sink::Sink;
use super::types::{CallId, ConnId, Incoming, PeerInfo};
use super::wake::WakeKey;

/// The client connection preface of HTTP/2.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Rounds of read / process / write per drive before yielding to other connections.
const MAX_ROUNDS: usize = 16;

pub(crate) enum Proto {
    /// TLS handshake under way.
    Tls,
    /// Plaintext: waiting for enough bytes to tell HTTP/2 from HTTP/1.
    Sniff,
    Http1(Http1Conn),
    H2(Box<H2Conn>),
    /// Flushing the last bytes, then lingering until the peer closes or the timeout.
    Closing,
}

/// What a drive left the connection in.
pub(crate) enum Outcome {
    Open,
    /// Drop the connection now.
    Dead,
}

pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) io: ConnIo,
    pub(crate) proto: Proto,
    pub(crate) peer: Arc<PeerInfo>,
    pub(crate) accepted_at: Instant,
    pub(crate) last_input_at: Instant,
    /// A graceful shutdown (GOAWAY) started.
    pub(crate) draining_since: Option<Instant>,
    /// Closing started: the protocol is gone, bytes are being flushed.
    pub(crate) closing_since: Option<Instant>,
    write_shut: bool,
    /// TLS close_notify queued (only after every plaintext byte went into TLS: rustls drops
    /// plaintext written after it).
    close_notify_sent: bool,
    /// The deadline registered in the transport's timer set.
    pub(crate) deadline: Option<Instant>,
    pub(crate) conn_waker: Waker,
}

impl Conn {
    pub(crate) fn new(
        id: ConnId,
        io: ConnIo,
        peer: Arc<PeerInfo>,
        now: Instant,
        conn_waker: Waker,
    ) -> Self {
        let proto = if io.tls.is_some() { Proto::Tls } else { Proto::Sniff };
        Self {
            id,
            io,
            proto,
            peer,
            accepted_at: now,
            last_input_at: now,
            draining_since: None,
            closing_since: None,
            write_shut: false,
            close_notify_sent: false,
            deadline: None,
            conn_waker,
        }
    }

    /// True once the TLS handshake is done and a first request (HTTP/1 head, HTTP/2 preface and
    /// settings) arrived.
    fn is_established(&self) -> bool {
        match &self.proto {
            Proto::Tls | Proto::Sniff => false,
            Proto::Http1(h) => h.is_established(),
            Proto::H2(h) => h.is_established(),
            Proto::Closing => true,
        }
    }

    fn has_calls(&self) -> bool {
        match &self.proto {
            Proto::Http1(h) => h.has_calls(),
            Proto::H2(h) => h.has_calls(),
            _ => false,
        }
    }

    pub(crate) fn call_count(&self) -> usize {
        match &self.proto {
            Proto::Http1(h) => h.call_count(),
            Proto::H2(h) => h.call_count(),
            _ => 0,
        }
    }

    /// Answer bytes buffered for this connection and not yet written to the socket.
    pub(crate) fn pending_output(&self) -> usize {
        let queued = match &self.proto {
            Proto::Http1(h) => h.queued_bytes(),
            Proto::H2(h) => h.queued_bytes(),
            _ => 0,
        };
        queued + self.io.output_bytes()
    }

    /// When this connection next needs `on_timeout`.
    pub(crate) fn next_deadline(&self, config: &TransportConfig) -> Option<Instant> {
        if let Some(t) = self.closing_since.or(self.draining_since) {
            return Some(t + config.close_timeout);
        }
        if !self.is_established() {
            return Some(self.accepted_at + config.handshake_timeout);
        }
        match config.idle_timeout {
            Some(idle) if !self.has_calls() => Some(self.last_input_at + idle),
            _ => None,
        }
    }

    /// Reads, runs the protocol and writes until nothing moves (bounded). May emit any
    /// `Incoming` of this connection's calls.
    pub(crate) fn drive(
        &mut self,
        sink: &mut Sink<'_>,
        scratch: &mut [u8],
        now: Instant,
        read_allowed: bool,
    ) -> Outcome {
        if self.closing_since.is_some() {
            return self.drive_closing(scratch);
        }
        for _ in 0..MAX_ROUNDS {
            let mut progress = false;
            if read_allowed && self.io.can_fill() {
                match self.io.fill(scratch) {
                    Ok(n) if n > 0 => {
                        progress = true;
                        self.last_input_at = now;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // A TLS failure leaves an alert to send; try once.
                        let _ = self.io.flush();
                        if matches!(e, IoFailure::Tls(_)) {
                            // As etcd logs "rejected connection": operators look for these.
                            tracing::info!(conn = %self.id, peer = ?self.peer.remote_addr, error = %e, "transport: rejected connection");
                        } else {
                            tracing::debug!(conn = %self.id, peer = ?self.peer.remote_addr, error = %e, "transport: connection failed");
                        }
                        self.cancel_calls(sink);
                        return Outcome::Dead;
                    }
                }
            }
            match self.advance(sink) {
                Ok(p) => progress |= p,
                Err(reason) => return self.begin_close(&reason, sink, scratch, now),
            }
            match self.io.flush() {
                Ok(n) => progress |= n > 0,
                Err(e) => {
                    tracing::debug!(conn = %self.id, error = %e, "transport: write failed");
                    self.cancel_calls(sink);
                    return Outcome::Dead;
                }
            }
            if !progress {
                self.notify_writable(sink);
                self.io.trim();
                return Outcome::Open;
            }
        }
        // Still busy: come back after other work.
        sink.wake.wake(WakeKey::Conn(self.id));
        self.notify_writable(sink);
        Outcome::Open
    }

    /// Polls one h2 call (woken by h2), then the connection so its frames get written.
    pub(crate) fn poll_call(&mut self, call: CallId, sink: &mut Sink<'_>) {
        if let Proto::H2(h) = &mut self.proto {
            h.poll_call(call, sink);
        }
    }

    fn notify_writable(&mut self, sink: &mut Sink<'_>) {
        let pending = self.pending_output();
        let limit = sink.config.max_output_bytes_per_connection;
        let ids = match &mut self.proto {
            Proto::H2(h) => h.take_writable(pending, limit),
            Proto::Http1(h) => h.take_writable(pending, limit),
            _ => Vec::new(),
        };
        for call in ids {
            sink.emit(Incoming::Writable { call });
        }
    }

    /// Runs the protocol over the buffered bytes. `Err` carries the reason to close.
    fn advance(&mut self, sink: &mut Sink<'_>) -> Result<bool, String> {
        match &mut self.proto {
            Proto::Tls => {
                let Some(tls) = self.io.tls.as_deref() else {
                    return Err("TLS session missing".into());
                };
                if tls.is_handshaking() {
                    return if lock(&self.io.pipes).input_eof {
                        Err("closed during the TLS handshake".into())
                    } else {
                        Ok(false)
                    };
                }
                let tls_peer = peer::tls_peer(tls);
                let alpn = tls_peer.alpn.clone();
                self.peer = Arc::new(PeerInfo { tls: Some(tls_peer), ..(*self.peer).clone() });
                sink.peer = self.peer.clone();
                self.proto = match alpn.as_deref() {
                    Some(b"h2") => Proto::H2(Box::new(H2Conn::new(
                        self.io.pipes.clone(),
                        sink.config,
                        self.conn_waker.clone(),
                    ))),
                    Some(b"http/1.1") => Proto::Http1(Http1Conn::new()),
                    _ => Proto::Sniff,
                };
                Ok(true)
            }
            Proto::Sniff => {
                let p = lock(&self.io.pipes);
                let n = p.input.len().min(H2_PREFACE.len());
                let next = if p.input[..n] != H2_PREFACE[..n] {
                    Proto::Http1(Http1Conn::new())
                } else if n == H2_PREFACE.len() {
                    Proto::H2(Box::new(H2Conn::new(
                        self.io.pipes.clone(),
                        sink.config,
                        self.conn_waker.clone(),
                    )))
                } else if p.input_eof {
                    return Err("closed before sending a request".into());
                } else {
                    return Ok(false);
                };
                drop(p);
                self.proto = next;
                Ok(true)
            }
            Proto::Http1(h) => {
                let mut progress = h.process_input(&self.io.pipes, sink);
                progress |= h.write_output(
                    &self.io.pipes,
                    sink.config.max_output_bytes_per_connection,
                    sink,
                );
                if h.wants_close() {
                    return Err("HTTP/1 connection done".into());
                }
                Ok(progress)
            }
            Proto::H2(h) => {
                let before = (self.io.input_bytes(), self.io.output_bytes(), sink.incoming.len());
                match h.drive(sink) {
                    DriveOutcome::Open => {}
                    DriveOutcome::Closed(None) => return Err("HTTP/2 connection done".into()),
                    DriveOutcome::Closed(Some(e)) => return Err(e),
                }
                Ok(before != (self.io.input_bytes(), self.io.output_bytes(), sink.incoming.len()))
            }
            Proto::Closing => Ok(false),
        }
    }

    pub(crate) fn cancel_calls(&mut self, sink: &mut Sink<'_>) {
        match &mut self.proto {
            Proto::H2(h) => h.cancel_all(sink),
            Proto::Http1(h) => h.cancel_all(sink),
            _ => {}
        }
    }

    /// Starts closing: calls end, the output is flushed (TLS close_notify last), the write side
    /// is shut, and the input drained until the peer closes (so our last bytes are not lost to
    /// a reset) or the close timeout.
    pub(crate) fn begin_close(
        &mut self,
        reason: &str,
        sink: &mut Sink<'_>,
        scratch: &mut [u8],
        now: Instant,
    ) -> Outcome {
        tracing::debug!(conn = %self.id, peer = ?self.peer.remote_addr, reason, "transport: closing connection");
        // Whatever HTTP/1 or h2 left in the output (an error answer, a GOAWAY) still goes out.
        if let Proto::Http1(h) = &mut self.proto {
            h.write_output(&self.io.pipes, usize::MAX, sink);
        }
        self.cancel_calls(sink);
        self.proto = Proto::Closing;
        self.closing_since = Some(now);
        self.drive_closing(scratch)
    }

    fn drive_closing(&mut self, scratch: &mut [u8]) -> Outcome {
        if self.io.flush().is_err() {
            return Outcome::Dead;
        }
        if !self.close_notify_sent && self.io.output_bytes() == 0 {
            self.io.send_close_notify();
            self.close_notify_sent = true;
            if self.io.flush().is_err() {
                return Outcome::Dead;
            }
        }
        if self.io.has_output() {
            return Outcome::Open;
        }
        if !self.write_shut {
            self.io.socket.shutdown_write();
            self.write_shut = true;
        }
        loop {
            lock(&self.io.pipes).input.clear();
            match self.io.fill(scratch) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => return Outcome::Dead,
            }
        }
        if lock(&self.io.pipes).input_eof {
            Outcome::Dead
        } else {
            Outcome::Open
        }
    }

    /// The deadline passed: close a connection that never got going or idled, finish a close.
    pub(crate) fn on_timeout(
        &mut self,
        sink: &mut Sink<'_>,
        scratch: &mut [u8],
        now: Instant,
    ) -> Outcome {
        if self.closing_since.is_some() {
            return Outcome::Dead;
        }
        if self.draining_since.is_some() {
            return self.begin_close("graceful shutdown timed out", sink, scratch, now);
        }
        if !self.is_established() {
            return self.begin_close("no request within the handshake timeout", sink, scratch, now);
        }
        if let Proto::H2(h) = &mut self.proto {
            h.graceful_shutdown();
            self.draining_since = Some(now);
            return self.drive(sink, scratch, now, true);
        }
        self.begin_close("idle timeout", sink, scratch, now)
    }

    /// Stops taking requests: GOAWAY on HTTP/2, close after the pending answers on HTTP/1.
    pub(crate) fn shutdown(
        &mut self,
        sink: &mut Sink<'_>,
        scratch: &mut [u8],
        now: Instant,
    ) -> Outcome {
        match &mut self.proto {
            Proto::H2(h) => {
                h.graceful_shutdown();
                self.draining_since.get_or_insert(now);
                self.drive(sink, scratch, now, true)
            }
            Proto::Http1(h) => {
                h.stop();
                self.draining_since.get_or_insert(now);
                self.drive(sink, scratch, now, true)
            }
            Proto::Closing => Outcome::Open,
            Proto::Tls | Proto::Sniff => {
                self.begin_close("transport shutting down", sink, scratch, now)
            }
        }
    }
}
