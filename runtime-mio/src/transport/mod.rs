//! The client-facing transport: sockets to decoded requests and answers back, with no etcd
//! semantics (those live in `oxcd-core`).
//!
//! One [`ClientTransport`] serves every client listener of a member on the event loop's own
//! `mio::Poll`. It speaks gRPC over HTTP/2 (h2, driven by hand: no tokio runtime exists; h2
//! sees an in-memory `AsyncRead`/`AsyncWrite` over each connection's plaintext buffers) and
//! HTTP/1.1 (httparse) on the same port, plaintext or TLS (rustls driven by hand, ALPN `h2` and
//! `http/1.1`).
//!
//! # Driving it
//! 1. `ClientTransport::new(poll.registry(), waker, config)` with the loop's one `mio::Waker`;
//!    `listen(url, tls)` for each client URL.
//! 2. For every mio event whose token [`ClientTransport::owns_token`], call
//!    [`ClientTransport::handle_event`]; when the waker's token fires, call
//!    [`ClientTransport::handle_wake`].
//! 3. Drain [`ClientTransport::poll_incoming`] to empty and hand the requests to the core.
//! 4. Answer with `reply_unary`, `stream_send`/`stream_finish`, `http_reply`, `http_stream_*`
//!    whenever the core has answers. Answers are written on the next `handle_wake`: the
//!    transport wakes the loop itself; calling `handle_wake` right after answering saves a turn.
//! 5. Sleep at most until [`ClientTransport::poll_timeout`]; when it passes, call
//!    [`ClientTransport::handle_timeout`]. Any of steps 2, 4 and 5 may produce new incoming
//!    items: drain again (step 3).

mod config;
mod conn;
mod grpc_frame;
mod h2_shim;
mod h2conn;
mod hpack;
mod http1;
mod internals;
mod io;
mod peer;
mod sink;
mod types;
mod wake;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io as stdio;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::{Event, Source};
use mio::{Interest, Registry, Token};

pub use config::{
    ConfigError, ListenAddr, ListenUrl, Scheme, TransportConfig, DEFAULT_MAX_REQUEST_BYTES,
    ETCD_STREAMING_METHODS, GRPC_OVERHEAD_BYTES, MAX_LISTENERS,
};
pub use types::{
    CallId, ClientCert, ConnId, GrpcStatus, HttpRequest, Incoming, ListenerId, Metadata, PeerInfo,
    SendStatus, TlsPeer,
};

use conn::{Conn, Proto};
use wake::{WakeKey, WakeShared};

/// Connections accepted per listener event before other work gets a turn.
const ACCEPT_BATCH: usize = 256;
/// Rounds of the ready set per `handle_wake` before other work gets a turn.
const WAKE_ROUNDS: usize = 8;
/// Plaintext read per socket read.
const SCRATCH_BYTES: usize = 64 << 10;
/// Accepting is retried this long after the process ran out of file descriptors.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

enum ListenerSocket {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

struct Listener {
    socket: ListenerSocket,
    tls: Option<Arc<rustls::ServerConfig>>,
    local_addr: Option<SocketAddr>,
    /// Accepting stopped on an error such as EMFILE; retried at this time.
    retry_at: Option<Instant>,
}

/// A non-blocking TCP listener with `SO_REUSEADDR` (as mio and Go set) and our backlog.
fn bind_tcp(addr: SocketAddr, backlog: u32) -> stdio::Result<mio::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Counters and gauges, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Connections open now.
    pub connections: usize,
    /// Calls and HTTP exchanges open now.
    pub calls: usize,
    /// Connections accepted since start.
    pub accepted_total: u64,
    /// Connections refused since start because `max_connections` were open.
    pub refused_total: u64,
    /// Plaintext bytes buffered on input, all connections.
    pub input_bytes: usize,
    /// Answer bytes buffered on output, all connections.
    pub output_bytes: usize,
    /// Decoded requests waiting in `poll_incoming`.
    pub pending_incoming: usize,
}

/// The client-facing transport. See the [module docs](self) for the driving loop.
pub struct ClientTransport {
    config: TransportConfig,
    registry: Registry,
    wake: Arc<WakeShared>,
    listeners: Vec<Listener>,
    conns: Vec<Option<Conn>>,
    generations: Vec<u32>,
    free_slots: Vec<u32>,
    live_conns: usize,
    calls: BTreeMap<CallId, ConnId>,
    incoming: VecDeque<Incoming>,
    next_call: u64,
    deadlines: BTreeSet<(Instant, ConnId)>,
    /// Connections whose reads wait for `incoming` to drain.
    paused: BTreeSet<ConnId>,
    scratch: Box<[u8]>,
    accepted_total: u64,
    refused_total: u64,
    shutting_down: bool,
}

impl ClientTransport {
    /// A transport registering its sockets with `registry` (the loop's `Poll`) and waking the
    /// loop through `waker` (the loop's one `mio::Waker`).
    ///
    /// # Errors
    /// A bad configuration, or a registry that cannot be cloned.
    pub fn new(
        registry: &Registry,
        waker: Arc<mio::Waker>,
        config: TransportConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if config.max_header_bytes > config.max_input_bytes_per_connection {
            return Err(ConfigError(
                "max_header_bytes must not exceed max_input_bytes_per_connection".into(),
            ));
        }
        let registry = registry
            .try_clone()
            .map_err(|e| ConfigError(format!("cannot clone the mio registry: {e}")))?;
        Ok(Self {
            config,
            registry,
            wake: WakeShared::new(waker),
            listeners: Vec::new(),
            conns: Vec::new(),
            generations: Vec::new(),
            free_slots: Vec::new(),
            live_conns: 0,
            calls: BTreeMap::new(),
            incoming: VecDeque::new(),
            next_call: 0,
            deadlines: BTreeSet::new(),
            paused: BTreeSet::new(),
            scratch: vec![0; SCRATCH_BYTES].into_boxed_slice(),
            accepted_total: 0,
            refused_total: 0,
            shutting_down: false,
        })
    }

    /// Opens a listener. `tls` is required for `https`/`unixs` and refused for the others.
    ///
    /// # Errors
    /// Binding fails, the TLS argument does not fit the scheme, or [`MAX_LISTENERS`] are open.
    pub fn listen(
        &mut self,
        url: &ListenUrl,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> stdio::Result<ListenerId> {
        if url.scheme.is_tls() != tls.is_some() {
            return Err(stdio::Error::new(
                stdio::ErrorKind::InvalidInput,
                format!(
                    "listener {url:?}: a TLS config is needed exactly for https:// and unixs://"
                ),
            ));
        }
        if self.listeners.len() >= MAX_LISTENERS {
            return Err(stdio::Error::other("too many listeners"));
        }
        let id = ListenerId(u32::try_from(self.listeners.len()).expect("bounded by MAX_LISTENERS"));
        let token = Token(self.config.token_base + self.listeners.len());
        let (socket, local_addr) = match &url.addr {
            ListenAddr::Tcp(addr) => {
                let mut l = bind_tcp(*addr, self.config.listen_backlog)?;
                l.register(&self.registry, token, Interest::READABLE)?;
                let local = l.local_addr()?;
                (ListenerSocket::Tcp(l), Some(local))
            }
            ListenAddr::Unix(path) => {
                let mut l = mio::net::UnixListener::bind(path)?;
                l.register(&self.registry, token, Interest::READABLE)?;
                (ListenerSocket::Unix(l), None)
            }
        };
        tracing::info!(?url, ?local_addr, "transport: listening for clients");
        self.listeners.push(Listener { socket, tls, local_addr, retry_at: None });
        Ok(id)
    }

    /// The bound address of a TCP listener (useful with port 0).
    #[must_use]
    pub fn local_addr(&self, listener: ListenerId) -> Option<SocketAddr> {
        self.listeners.get(listener.0 as usize).and_then(|l| l.local_addr)
    }

    /// True for the tokens this transport registered: pass their events to `handle_event`.
    #[must_use]
    pub fn owns_token(&self, token: Token) -> bool {
        let base = self.config.token_base;
        token.0 >= base && token.0 < base + MAX_LISTENERS + self.config.max_connections
    }

    /// A mio event for one of this transport's tokens: accepts connections or moves a
    /// connection's bytes. May produce any [`Incoming`].
    pub fn handle_event(&mut self, event: &Event, now: Instant) {
        let Some(index) = event.token().0.checked_sub(self.config.token_base) else { return };
        if index < MAX_LISTENERS {
            self.accept(ListenerId(index as u32), now);
        } else if let Some(Some(conn)) = self.conns.get_mut(index - MAX_LISTENERS) {
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let writable = event.is_writable() || event.is_write_closed() || event.is_error();
            conn.io.set_ready(readable, writable);
            let id = conn.id;
            self.drive(id, now);
        }
        self.run_ready(now);
    }

    /// The loop's waker fired (or answers were just given): polls what h2 asked to poll and
    /// writes queued answers. May produce any [`Incoming`].
    pub fn handle_wake(&mut self, now: Instant) {
        self.run_ready(now);
    }

    /// When `handle_timeout` is next due. Changes after every `handle_*` call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn = self.deadlines.first().map(|(t, _)| *t);
        let retry = self.listeners.iter().filter_map(|l| l.retry_at).min();
        match (conn, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Closes connections past their handshake, idle or close deadlines and retries accepting
    /// after descriptor exhaustion. May produce `CallCancelled`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.listeners.len() {
            if self.listeners[i].retry_at.is_some_and(|t| t <= now) {
                self.listeners[i].retry_at = None;
                self.accept(ListenerId(i as u32), now);
            }
        }
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            let config = &self.config;
            let Some(conn) = self
                .conns
                .get_mut(id.slot as usize)
                .and_then(|c| c.as_mut())
                .filter(|c| c.id == id)
            else {
                continue;
            };
            conn.deadline = None;
            match conn.next_deadline(config) {
                Some(t) if t > now => self.set_deadline(id),
                _ => {
                    let outcome = {
                        let (conn, mut sink, scratch) = self.parts(id).expect("checked above");
                        conn.on_timeout(&mut sink, scratch, now)
                    };
                    self.after_drive(id, outcome);
                }
            }
        }
        self.run_ready(now);
    }

    /// The next decoded request or call event, in arrival order per connection.
    pub fn poll_incoming(&mut self) -> Option<Incoming> {
        let next = self.incoming.pop_front();
        if self.incoming.is_empty() && !self.paused.is_empty() {
            for id in std::mem::take(&mut self.paused) {
                self.wake.wake(WakeKey::Conn(id));
            }
        }
        next
    }

    /// Answers a unary call: a message (status OK) or an error status (a trailers-only response
    /// if nothing was sent). Returns false if the call is gone (cancelled, already answered,
    /// not a unary call).
    pub fn reply_unary(&mut self, call: CallId, result: Result<Vec<u8>, GrpcStatus>) -> bool {
        self.with_h2(call, |h| h.reply_unary(call, result)).unwrap_or(false)
    }

    /// Queues one message on a streaming call. See [`SendStatus`] for backpressure.
    pub fn stream_send(&mut self, call: CallId, message: &[u8]) -> SendStatus {
        let limit = self.config.max_output_bytes_per_connection;
        let status = self
            .with_conn(call, |conn| {
                let pending = conn.pending_output();
                match &mut conn.proto {
                    Proto::H2(h) => h.stream_send(call, message, pending, limit),
                    _ => SendStatus::Gone,
                }
            })
            .unwrap_or(SendStatus::Gone);
        self.after_send(call, status);
        status
    }

    /// Ends a streaming call with `status` after its queued messages. False if it is gone.
    pub fn stream_finish(&mut self, call: CallId, status: GrpcStatus) -> bool {
        self.with_h2(call, |h| h.stream_finish(call, &status)).unwrap_or(false)
    }

    /// True if a streamed send on `call` would be accepted without passing the connection's
    /// output limit (false also when the call is gone).
    #[must_use]
    pub fn is_writable(&self, call: CallId) -> bool {
        let Some(id) = self.calls.get(&call) else { return false };
        self.conn_ref(*id)
            .is_some_and(|c| c.pending_output() < self.config.max_output_bytes_per_connection)
    }

    /// Answers an HTTP request with a whole response (`content-length` is set; framing headers
    /// in `headers` are ignored). False if the exchange is gone or already answered.
    pub fn http_reply(
        &mut self,
        id: CallId,
        status: u16,
        headers: &[(String, Vec<u8>)],
        body: Vec<u8>,
    ) -> bool {
        self.with_conn(id, |conn| match &mut conn.proto {
            Proto::H2(h) => h.http_reply(id, status, headers, body),
            Proto::Http1(h) => h.http_reply(id, status, headers, &body),
            _ => false,
        })
        .unwrap_or(false)
    }

    /// Starts a streamed HTTP response (chunked on HTTP/1.1). False if the exchange is gone or
    /// already answered.
    pub fn http_stream_start(
        &mut self,
        id: CallId,
        status: u16,
        headers: &[(String, Vec<u8>)],
    ) -> bool {
        self.with_conn(id, |conn| match &mut conn.proto {
            Proto::H2(h) => h.http_stream_start(id, status, headers),
            Proto::Http1(h) => h.http_stream_start(id, status, headers),
            _ => false,
        })
        .unwrap_or(false)
    }

    /// Queues a piece of a streamed HTTP response. See [`SendStatus`]; on HTTP/1 an overflow
    /// closes the connection.
    pub fn http_stream_chunk(&mut self, id: CallId, data: &[u8]) -> SendStatus {
        let limit = self.config.max_output_bytes_per_connection;
        let status = self
            .with_conn(id, |conn| {
                let pending = conn.pending_output();
                match &mut conn.proto {
                    Proto::H2(h) => h.http_stream_chunk(id, data.to_vec(), pending, limit),
                    Proto::Http1(h) => h.http_stream_chunk(id, data, pending, limit),
                    _ => SendStatus::Gone,
                }
            })
            .unwrap_or(SendStatus::Gone);
        self.after_send(id, status);
        status
    }

    /// Ends a streamed HTTP response. False if the exchange is gone.
    pub fn http_stream_end(&mut self, id: CallId) -> bool {
        self.with_conn(id, |conn| match &mut conn.proto {
            Proto::H2(h) => h.http_stream_end(id),
            Proto::Http1(h) => h.http_stream_end(id),
            _ => false,
        })
        .unwrap_or(false)
    }

    /// Stops accepting and winds every connection down (GOAWAY on HTTP/2; HTTP/1 closes after
    /// its pending answers; connections close for good within `close_timeout`). Keep driving
    /// until [`ClientTransport::stats`] shows no connection.
    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        for l in &mut self.listeners {
            let _ = match &mut l.socket {
                ListenerSocket::Tcp(s) => s.deregister(&self.registry),
                ListenerSocket::Unix(s) => s.deregister(&self.registry),
            };
            l.retry_at = None;
        }
        let ids: Vec<ConnId> = self.conns.iter().flatten().map(|c| c.id).collect();
        for id in ids {
            let outcome = {
                let Some((conn, mut sink, scratch)) = self.parts(id) else { continue };
                conn.shutdown(&mut sink, scratch, now)
            };
            self.after_drive(id, outcome);
        }
        self.run_ready(now);
    }

    /// Current counters.
    #[must_use]
    pub fn stats(&self) -> TransportStats {
        let mut s = TransportStats {
            connections: self.live_conns,
            accepted_total: self.accepted_total,
            refused_total: self.refused_total,
            pending_incoming: self.incoming.len(),
            ..TransportStats::default()
        };
        for c in self.conns.iter().flatten() {
            s.calls += c.call_count();
            s.input_bytes += c.io.input_bytes();
            s.output_bytes += c.pending_output();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transport_can_move_to_the_loop_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<ClientTransport>();
        assert_send::<Incoming>();
    }

    #[test]
    fn listeners_and_tokens() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), Token(0)).unwrap());
        let config =
            TransportConfig { token_base: 10, max_connections: 5, ..TransportConfig::default() };
        let mut t = ClientTransport::new(poll.registry(), waker, config).unwrap();
        let url = ListenUrl::parse("http://127.0.0.1:0").unwrap();
        let id = t.listen(&url, None).unwrap();
        assert_ne!(t.local_addr(id).unwrap().port(), 0);
        // TLS config exactly for the TLS schemes.
        assert!(t.listen(&ListenUrl::parse("https://127.0.0.1:0").unwrap(), None).is_err());
        assert!(!t.owns_token(Token(9)));
        assert!(t.owns_token(Token(10)));
        assert!(t.owns_token(Token(10 + MAX_LISTENERS + 4)));
        assert!(!t.owns_token(Token(10 + MAX_LISTENERS + 5)));
        assert_eq!(t.poll_timeout(), None);
        assert_eq!(t.poll_incoming(), None);
        // Answers to unknown calls are refused, not panics.
        assert!(!t.reply_unary(CallId(99), Ok(Vec::new())));
        assert_eq!(t.stream_send(CallId(99), b"x"), SendStatus::Gone);
        assert!(!t.http_reply(CallId(99), 200, &[], Vec::new()));
        assert!(!t.is_writable(CallId(99)));
    }
}
