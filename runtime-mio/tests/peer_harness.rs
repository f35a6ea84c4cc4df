//! Shared by the peer tests (included with `#[path]`): members on 127.0.0.x, each with its own
//! mio `Poll` driven in turn from the test thread, and certificates made with rcgen.
#![allow(dead_code, clippy::new_without_default)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Poll, Token, Waker};
use oxcd_core::{Instant, NodeId};
use oxcd_runtime_mio::peer::{
    PeerEvent, PeerIncoming, PeerTls, PeerTransport, PeerTransportConfig, PeerUrl,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

const WAKE: Token = Token(0);
/// The longest a member's loop sleeps per turn.
const TURN: Duration = Duration::from_millis(2);
/// Turns before `run_until` gives up (about 20 s with three members).
pub const TURNS_MAX: usize = 3000;

/// The test clock: nanoseconds since the test started.
#[derive(Clone, Copy)]
pub struct Clock(std::time::Instant);

impl Clock {
    pub fn new() -> Clock {
        Clock(std::time::Instant::now())
    }

    pub fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.0.elapsed().as_nanos()).unwrap())
    }
}

/// One member: its loop, its transport, and everything it received.
pub struct Member {
    pub id: NodeId,
    poll: Poll,
    events_buf: Events,
    pub transport: PeerTransport,
    pub received: Vec<PeerIncoming>,
    pub events: Vec<PeerEvent>,
}

impl Member {
    pub fn start(config: PeerTransportConfig, clock: Clock) -> Member {
        let poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), WAKE).unwrap());
        let id = config.member_id;
        let transport = PeerTransport::new(poll.registry(), waker, config, clock.now()).unwrap();
        Member {
            id,
            poll,
            events_buf: Events::with_capacity(64),
            transport,
            received: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The actual listen URL (port filled in).
    pub fn url(&self, tls: bool) -> PeerUrl {
        let addr = self.transport.local_addrs()[0];
        format!("{}://{addr}", if tls { "https" } else { "http" }).parse().unwrap()
    }

    /// One turn of the event loop, as the server's loop runs it.
    pub fn turn(&mut self, clock: Clock) {
        let now = clock.now();
        let timeout = match self.transport.poll_timeout() {
            Some(at) => (at - now).min(TURN),
            None => TURN,
        };
        self.poll.poll(&mut self.events_buf, Some(timeout)).unwrap();
        for event in self.events_buf.iter() {
            if event.token() == WAKE {
                self.transport.handle_wake(clock.now());
            } else {
                assert!(self.transport.owns(event.token()));
                self.transport.handle_event(clock.now(), event);
            }
        }
        let now = clock.now();
        if self.transport.poll_timeout().is_some_and(|at| at <= now) {
            self.transport.handle_timeout(now);
        }
        self.drain();
    }

    pub fn drain(&mut self) {
        while let Some(message) = self.transport.poll_incoming() {
            self.received.push(message);
        }
        while let Some(event) = self.transport.poll_event() {
            self.events.push(event);
        }
    }

    pub fn received_from(&self, from: u64) -> Vec<&[u8]> {
        self.received
            .iter()
            .filter(|m| m.from == NodeId(from))
            .map(|m| m.payload.as_slice())
            .collect()
    }

    pub fn refusals(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                PeerEvent::Refused { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Runs every member's loop in turn until `done` holds; false if it never did.
pub fn run_until(
    members: &mut [Member],
    clock: Clock,
    mut done: impl FnMut(&[Member]) -> bool,
) -> bool {
    for _ in 0..TURNS_MAX {
        for member in members.iter_mut() {
            member.turn(clock);
        }
        if done(members) {
            return true;
        }
    }
    false
}

/// Tells every member about all the others at their bound URLs.
pub fn introduce(members: &mut [Member], clock: Clock, tls: bool) {
    let map: BTreeMap<NodeId, Vec<PeerUrl>> =
        members.iter().map(|m| (m.id, vec![m.url(tls)])).collect();
    for member in members.iter_mut() {
        member.transport.set_peers(clock.now(), map.clone());
    }
}

/// A member listening (and advertising) on `ip`, port chosen by the OS.
pub fn config(id: u64, cluster: u64, ip: &str, tls: Option<PeerTls>) -> PeerTransportConfig {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url: PeerUrl = format!("{scheme}://{ip}:0").parse().unwrap();
    let mut config = PeerTransportConfig::new(NodeId(id), cluster);
    config.listen_urls = vec![url.clone()];
    config.advertise_urls = vec![url];
    config.tls = tls;
    config.token_base = 1;
    config.dial_backoff_min = Duration::from_millis(20);
    config.dial_backoff_max = Duration::from_millis(200);
    config
}

/// A CA that issues member certificates.
pub struct TestCa {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "oxcd test CA");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert_pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// A certificate for `sans` (addresses become IP SANs, names DNS SANs), usable both as
    /// server and client certificate, with PEM key.
    pub fn issue(&self, common_name: &str, sans: &[&str]) -> (String, String) {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Peer TLS with `--peer-client-cert-auth` and this CA as `--peer-trusted-ca-file`.
    pub fn peer_tls(&self, common_name: &str, sans: &[&str]) -> PeerTls {
        let (cert, key) = self.issue(common_name, sans);
        PeerTls::from_pem(cert.as_bytes(), key.as_bytes(), Some(self.cert_pem.as_bytes()), true)
            .unwrap()
    }
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
