//! A tiny service on the transport, run on its own thread with its own mio Poll, for the
//! transport tests. It answers:
//! - unary `/etcdserverpb.KV/Range`: key `error` → FailedPrecondition "etcdserver: not leader";
//!   `whoami` → the client certificate's CN; `token` → the auth token, require-leader flag and deadline; `hold` → never answered;
//!   others → `value-of-KEY`;
//! - unary `/etcdserverpb.KV/Put` → an empty PutResponse;
//! - `/etcdserverpb.Watch/Watch`: a create answers `created` then three PUT events; key
//!   `flood` sends 64 numbered events of 4 KiB as fast as backpressure allows; a cancel answers
//!   `canceled`; a half-close finishes the call;
//! - HTTP: `GET /health` → 200 JSON, `POST /echo` → the body, `GET /stream` → three chunks,
//!   `GET /delayed` → answered only after the next request on the service (for pipelining).

#![allow(dead_code)]

pub mod pb;
pub mod pki;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token, Waker};
use oxcd_runtime_mio::transport::{
    CallId, ClientTransport, GrpcStatus, Incoming, ListenAddr, ListenUrl, PeerInfo, Scheme,
    SendStatus, TransportConfig, TransportStats,
};
use prost::Message;

const WAKER: Token = Token(0);
pub const FLOOD_MESSAGES: usize = 64;
const FLOOD_VALUE_BYTES: usize = 4096;

pub struct Shared {
    stop: AtomicBool,
    pub stats: Mutex<TransportStats>,
    /// The most connections seen open at once.
    pub peak_connections: Mutex<usize>,
    /// What the service saw, one line per notable event.
    pub log: Mutex<Vec<String>>,
}

impl Shared {
    pub fn log_has(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    pub fn stats(&self) -> TransportStats {
        *self.stats.lock().unwrap()
    }
}

pub struct TestServer {
    pub plain: SocketAddr,
    pub tls: Option<SocketAddr>,
    pub unix: Option<PathBuf>,
    pub shared: Arc<Shared>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread panicked");
        }
        if let Some(p) = &self.unix {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl TestServer {
    pub fn start(config: TransportConfig, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        Self::start_with(config, tls, None)
    }

    /// Plain TCP, optional TLS TCP, optional plain unix socket listeners.
    pub fn start_with(
        config: TransportConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
        unix: Option<PathBuf>,
    ) -> Self {
        let poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).unwrap());
        let mut transport = ClientTransport::new(poll.registry(), waker.clone(), config).unwrap();
        let any = "127.0.0.1:0".parse().unwrap();
        let plain_id = transport
            .listen(&ListenUrl { scheme: Scheme::Http, addr: ListenAddr::Tcp(any) }, None)
            .unwrap();
        let plain = transport.local_addr(plain_id).unwrap();
        let tls_addr = tls.map(|cfg| {
            let id = transport
                .listen(&ListenUrl { scheme: Scheme::Https, addr: ListenAddr::Tcp(any) }, Some(cfg))
                .unwrap();
            transport.local_addr(id).unwrap()
        });
        if let Some(path) = &unix {
            let _ = std::fs::remove_file(path);
            transport
                .listen(
                    &ListenUrl { scheme: Scheme::Unix, addr: ListenAddr::Unix(path.clone()) },
                    None,
                )
                .unwrap();
        }
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            stats: Mutex::default(),
            peak_connections: Mutex::default(),
            log: Mutex::default(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::spawn(move || run(poll, transport, &thread_shared));
        Self { plain, tls: tls_addr, unix, shared, waker, thread: Some(thread) }
    }

    /// Waits (bounded) until `cond` holds for the transport's stats.
    pub fn wait_stats(&self, what: &str, cond: impl Fn(&TransportStats) -> bool) -> TransportStats {
        for _ in 0..1000 {
            let s = self.shared.stats();
            if cond(&s) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("timed out waiting for {what}: {:?}", self.shared.stats());
    }
}

fn run(mut poll: Poll, mut transport: ClientTransport, shared: &Shared) {
    let mut events = Events::with_capacity(1024);
    let mut service = Service::default();
    while !shared.stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let timeout = transport
            .poll_timeout()
            .map_or(Duration::from_millis(100), |t| t.saturating_duration_since(now))
            .min(Duration::from_millis(100));
        poll.poll(&mut events, Some(timeout)).unwrap();
        let now = Instant::now();
        for ev in events.iter() {
            if ev.token() == WAKER {
                transport.handle_wake(now);
            } else if transport.owns_token(ev.token()) {
                transport.handle_event(ev, now);
            } else {
                panic!("unexpected token {:?}", ev.token());
            }
        }
        if transport.poll_timeout().is_some_and(|t| t <= now) {
            transport.handle_timeout(now);
        }
        for _ in 0..4 {
            let mut any = false;
            while let Some(incoming) = transport.poll_incoming() {
                any = true;
                service.handle(incoming, &mut transport, shared);
            }
            transport.handle_wake(now);
            if !any {
                break;
            }
        }
        let stats = transport.stats();
        let mut peak = shared.peak_connections.lock().unwrap();
        *peak = (*peak).max(stats.connections);
        *shared.stats.lock().unwrap() = stats;
    }
}

#[derive(Default)]
struct WatchCall {
    next_watch_id: i64,
    /// A flood in progress: (watch id, events sent).
    flood: Option<(i64, usize)>,
}

#[derive(Default)]
struct Service {
    watches: BTreeMap<CallId, WatchCall>,
    /// Unary calls never answered (until cancelled).
    held_unary: Vec<CallId>,
    held: Option<CallId>,
}

fn log(shared: &Shared, line: String) {
    shared.log.lock().unwrap().push(line);
}

fn cn(peer: &PeerInfo) -> String {
    peer.tls
        .as_ref()
        .and_then(|t| t.client_cert.as_ref())
        .and_then(|c| c.common_name.clone())
        .unwrap_or_else(|| "anonymous".to_owned())
}

fn event(key: &[u8], value: Vec<u8>, revision: i64) -> pb::Event {
    pb::Event {
        r#type: 0,
        kv: Some(pb::KeyValue {
            key: key.to_vec(),
            create_revision: 1,
            mod_revision: revision,
            version: revision,
            value,
        }),
    }
}

impl Service {
    fn handle(&mut self, incoming: Incoming, t: &mut ClientTransport, shared: &Shared) {
        match incoming {
            Incoming::Unary { call, method, metadata, message, peer } => {
                let result = match method.as_str() {
                    "/etcdserverpb.KV/Range" => match pb::RangeRequest::decode(message) {
                        Ok(req) => {
                            let value = match req.key.as_slice() {
                                b"error" => {
                                    let _ = t.reply_unary(
                                        call,
                                        Err(oxcd_core::ApiError::NotLeader.into()),
                                    );
                                    return;
                                }
                                b"whoami" => cn(&peer).into_bytes(),
                                b"hold" => {
                                    log(
                                        shared,
                                        format!("holding {call} timeout={:?}", metadata.timeout),
                                    );
                                    self.held_unary.push(call);
                                    return;
                                }
                                b"token" => format!(
                                    "{}|{}|{:?}",
                                    metadata.token.clone().unwrap_or_default(),
                                    metadata.require_leader,
                                    metadata.timeout
                                )
                                .into_bytes(),
                                k => [b"value-of-".as_slice(), k].concat(),
                            };
                            let kv = pb::KeyValue {
                                key: req.key,
                                create_revision: 1,
                                mod_revision: 42,
                                version: 1,
                                value,
                            };
                            Ok(pb::RangeResponse {
                                header: pb::header(),
                                kvs: vec![kv],
                                more: false,
                                count: 1,
                            }
                            .encode_to_vec())
                        }
                        Err(e) => Err(GrpcStatus::new(3, format!("bad request: {e}"))),
                    },
                    "/etcdserverpb.KV/Put" => {
                        Ok(pb::PutResponse { header: pb::header() }.encode_to_vec())
                    }
                    other => Err(GrpcStatus::new(12, format!("unknown method {other}"))),
                };
                assert!(t.reply_unary(call, result));
            }
            Incoming::StreamOpened { call, method, peer, .. } => {
                log(shared, format!("opened {call} {method} cn={}", cn(&peer)));
                self.watches.insert(call, WatchCall::default());
            }
            Incoming::StreamMessage { call, message } => {
                self.watch_message(call, &message, t, shared)
            }
            Incoming::StreamHalfClosed { call } => {
                log(shared, format!("half-closed {call}"));
                self.watches.remove(&call);
                let _ = t.stream_finish(call, GrpcStatus::ok());
            }
            Incoming::CallCancelled { call } => {
                log(shared, format!("cancelled {call}"));
                if self.held_unary.contains(&call) {
                    log(shared, format!("held unary cancelled {call}"));
                    // The transport ignores answers to cancelled calls.
                    assert!(!t.reply_unary(call, Ok(Vec::new())));
                }
                self.watches.remove(&call);
                if self.held == Some(call) {
                    self.held = None;
                }
            }
            Incoming::Writable { call } => {
                log(shared, format!("writable {call}"));
                self.flood(call, t, shared);
            }
            Incoming::Http { request, peer } => {
                let id = request.id;
                let json = [("content-type".to_owned(), b"application/json".to_vec())];
                match (request.method.as_str(), request.path.as_str()) {
                    ("GET", "/health") | ("HEAD", "/health") => {
                        assert!(t.http_reply(
                            id,
                            200,
                            &json,
                            br#"{"health":"true","reason":""}"#.to_vec()
                        ));
                    }
                    ("POST", "/echo") => {
                        let body = request.body.to_vec();
                        assert!(t.http_reply(id, 200, &[], body));
                    }
                    ("GET", "/whoami") => {
                        assert!(t.http_reply(id, 200, &[], cn(&peer).into_bytes()));
                    }
                    ("GET", "/stream") => {
                        assert!(t.http_stream_start(id, 200, &json));
                        for i in 0..3 {
                            assert_eq!(
                                t.http_stream_chunk(id, format!("{{\"n\":{i}}}\n").as_bytes()),
                                SendStatus::Sent
                            );
                        }
                        assert!(t.http_stream_end(id));
                    }
                    ("GET", "/delayed") => {
                        assert!(self.held.is_none());
                        self.held = Some(id);
                        return;
                    }
                    _ => {
                        assert!(t.http_reply(id, 404, &[], b"not found".to_vec()));
                    }
                }
                if let Some(held) = self.held.take() {
                    assert!(t.http_reply(held, 200, &[], b"delayed".to_vec()));
                }
            }
        }
    }

    fn watch_message(
        &mut self,
        call: CallId,
        message: &[u8],
        t: &mut ClientTransport,
        shared: &Shared,
    ) {
        let Some(w) = self.watches.get_mut(&call) else { return };
        let req = pb::WatchRequest::decode(message).expect("watch request");
        match req.request_union {
            Some(pb::RequestUnion::Create(c)) => {
                let id = w.next_watch_id;
                w.next_watch_id += 1;
                let created = pb::WatchResponse {
                    header: pb::header(),
                    watch_id: id,
                    created: true,
                    ..Default::default()
                };
                let _ = t.stream_send(call, &created.encode_to_vec());
                if c.key == b"flood" {
                    w.flood = Some((id, 0));
                    self.flood(call, t, shared);
                    return;
                }
                for rev in 1..=3 {
                    let ev = event(&c.key, format!("v{rev}").into_bytes(), rev);
                    let r = pb::WatchResponse {
                        header: pb::header(),
                        watch_id: id,
                        events: vec![ev],
                        ..Default::default()
                    };
                    let _ = t.stream_send(call, &r.encode_to_vec());
                }
            }
            Some(pb::RequestUnion::Cancel(c)) => {
                let r = pb::WatchResponse {
                    header: pb::header(),
                    watch_id: c.watch_id,
                    canceled: true,
                    ..Default::default()
                };
                let _ = t.stream_send(call, &r.encode_to_vec());
            }
            None => {}
        }
    }

    /// Sends flood events until the transport says Full (then waits for Writable) or all are sent.
    fn flood(&mut self, call: CallId, t: &mut ClientTransport, shared: &Shared) {
        let Some(w) = self.watches.get_mut(&call) else { return };
        let Some((id, sent)) = w.flood.as_mut() else { return };
        while *sent < FLOOD_MESSAGES {
            let mut value = format!("{:04}", *sent).into_bytes();
            value.resize(FLOOD_VALUE_BYTES, b'x');
            let r = pb::WatchResponse {
                header: pb::header(),
                watch_id: *id,
                events: vec![event(b"flood", value, *sent as i64 + 1)],
                ..Default::default()
            };
            *sent += 1;
            match t.stream_send(call, &r.encode_to_vec()) {
                SendStatus::Sent => {}
                SendStatus::Full => {
                    log(shared, format!("full {call} after {sent}"));
                    return;
                }
                other => panic!("flood send: {other:?}"),
            }
        }
        w.flood = None;
        log(shared, format!("flood done {call}"));
        assert!(t.stream_finish(call, GrpcStatus::ok()));
    }
}

/// Runs curl with `args`; returns (exit code, stdout, stderr).
pub fn curl(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl is installed");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A blocking TCP client with a read timeout, for raw HTTP/1 tests.
pub fn raw_client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads until EOF (or the read timeout, which fails the test).
pub fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(s, &mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "read failed after {} bytes: {e}: {:?}",
                out.len(),
                String::from_utf8_lossy(&out)
            ),
        }
    }
}
