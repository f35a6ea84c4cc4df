//! The peer transport: oxcd members talking to each other, as a library the event loop drives.
//!
//! # Shape
//! Each member dials every peer it knows and sends its own messages (Raft messages and snapshot
//! payloads) on that connection; what it receives arrives on the connections its peers dialed.
//! A pair of members therefore holds two long-lived TCP connections, each carrying one
//! direction after the handshake (etcd's stream model). Nothing races when both sides dial at
//! once, so no tie-break is needed, and each side authenticates the traffic it receives with
//! the check that fits: the acceptor checks the dialer's client certificate (CA, then etcd's
//! SAN rules against the TCP source address), the dialer checks the server certificate
//! against the URL host.
//!
//! Per peer, one bounded queue with two budgets: Raft messages, and snapshot payloads. Snapshot
//! payloads go out in pieces of `snapshot_piece_bytes`, and a queued Raft message always goes
//! before the next piece, so a snapshot delays a heartbeat by one piece at most.
//!
//! Handshake (`oxcd_proto::peer`, see `wire.rs`): after TLS (none for `http://` URLs) the
//! dialer sends its `Handshake { version, cluster id, from, to }`; the acceptor answers with its
//! own `Handshake` and an `Accepted` or `Refused(reason)` frame. A member of another cluster
//! (another `--initial-cluster-token`), an unknown member id or a handshake meant for another
//! member is refused on first contact, and so is a certificate the identity rules refuse; both
//! ends log the reason and report [`PeerEvent::Refused`].
//!
//! # Driving it (one mio `Poll`, one `Waker` shared by the loop's components)
//! 1. `PeerTransport::new(registry, waker, config, now)`: binds the listen URLs, registering
//!    tokens `token_base ..= token_base + listeners + connections_max - 1`.
//! 2. [`set_peers`](PeerTransport::set_peers) with the membership's peer URLs (again at every
//!    membership change); dialing starts.
//! 3. In the loop: for each event whose token [`owns`](PeerTransport::owns) says is ours,
//!    [`handle_event`](PeerTransport::handle_event); on the waker's token,
//!    [`handle_wake`](PeerTransport::handle_wake); when the time from
//!    [`poll_timeout`](PeerTransport::poll_timeout) has come,
//!    [`handle_timeout`](PeerTransport::handle_timeout).
//! 4. After each of those calls, drain [`poll_incoming`](PeerTransport::poll_incoming) (hand
//!    the payloads to the core) and [`poll_event`](PeerTransport::poll_event) (metrics, logs).
//! 5. [`send`](PeerTransport::send) whenever the core emits a message: it never blocks; a full
//!    queue drops the message and counts it (Raft tolerates loss).
//! 6. Sleep at most until `poll_timeout`; it changes after every call above.
//!
//! Time is the core's [`Instant`], passed in by the driver; jitter comes from a generator
//! seeded by `config.seed`. Certificate checks that need DNS ask the helper thread of
//! [`crate::dns`] and resume when the answer wakes the loop.

mod accept;
mod backoff;
pub mod check;
mod config;
mod conn;
mod dial;
pub mod http;
mod queue;
pub mod tls;
mod url;
mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpListener;
use mio::{Interest, Registry, Token, Waker};
use oxcd_core::rng::Rng;
use oxcd_core::{Instant, NodeId};
use tracing::{debug, info, warn};

use crate::dns::{DnsConfig, DnsWorker, LookupId, LookupRequest, LookupResult};
use backoff::Backoff;
use check::{CertCheck, Direction};
use conn::Stream;
use oxcd_core::identity::{self, LookupIds, PeerCertRules};
use queue::SendQueue;

pub use config::{PeerTransportConfig, PeerTransportError};
pub use queue::DropReason;
pub use tls::PeerTls;
pub use url::{PeerHost, PeerUrl, PeerUrlError};

/// Which budget and priority a message uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageClass {
    /// A Raft message: sent first, whole.
    Raft,
    /// A snapshot payload (or chunk): sent in pieces between Raft messages.
    Snapshot,
}

/// A message received from a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIncoming {
    /// The member that sent it (its id checked by the handshake, its certificate by TLS and the
    /// certificate rules).
    pub from: NodeId,
    /// How it was sent.
    pub class: MessageClass,
    /// The bytes given to [`PeerTransport::send`] on the other side.
    pub payload: Vec<u8>,
}

/// Connection news, for metrics and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// A connection finished its handshake and carries messages.
    Connected {
        /// The peer.
        peer: NodeId,
        /// Who dialed.
        direction: Direction,
        /// The peer's address as this side sees it.
        remote_addr: SocketAddr,
        /// This side's address.
        local_addr: SocketAddr,
    },
    /// An established connection ended.
    Disconnected {
        /// The peer.
        peer: NodeId,
        /// Who had dialed.
        direction: Direction,
        /// Why.
        reason: String,
    },
    /// A connection was refused during its handshake (certificate, cluster id, member id).
    Refused {
        /// The peer, when known (always for outgoing, after its handshake for incoming).
        peer: Option<NodeId>,
        /// Who dialed.
        direction: Direction,
        /// The other side's address.
        remote_addr: SocketAddr,
        /// etcd-style reason, also logged.
        reason: String,
    },
}

/// What [`PeerTransport::send`] did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum SendOutcome {
    /// Queued; it goes out when the connection allows.
    Queued,
    /// Dropped and counted; the reason says which limit.
    Dropped(DropReason),
}

/// Counters of one peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Messages written to the connection.
    pub messages_sent: u64,
    /// Their payload bytes.
    pub bytes_sent: u64,
    /// Messages dropped by [`PeerTransport::send`] (queue full, too large).
    pub messages_dropped: u64,
    /// Messages received from this peer.
    pub messages_received: u64,
    /// Their payload bytes.
    pub bytes_received: u64,
    /// Messages waiting in the queue now.
    pub messages_queued: u64,
}

/// Counters of the whole transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Incoming connections accepted by a listener.
    pub connections_accepted: u64,
    /// Connections refused during their handshake (both directions).
    pub connections_refused: u64,
    /// Incoming connections closed at once because a limit was reached.
    pub connections_shed: u64,
    /// Dial attempts that did not reach a peer.
    pub dials_failed: u64,
    /// Messages sent to members not in the peer set.
    pub messages_unroutable: u64,
    /// Events dropped because the driver did not drain [`PeerTransport::poll_event`].
    pub events_dropped: u64,
}

struct Listener {
    sock: TcpListener,
    url: PeerUrl,
    addr: SocketAddr,
}

/// One peer as seen by the dialing side.
struct Peer {
    urls: Vec<PeerUrl>,
    queue: SendQueue,
    link: Link,
    backoff: Backoff,
    stats: PeerStats,
}

/// Where the dialing side of a peer stands.
enum Link {
    /// Not connected; dial again at `retry_at` (`Instant::MAX`: no URL to dial).
    Idle { retry_at: Instant },
    /// Waiting for the addresses of a named URL.
    Resolving { cursor: dial::Cursor, lookup: LookupId },
    /// A connection in its handshake.
    Dialing { slot: usize, cursor: dial::Cursor },
    /// The handshake is done; the queue drains into `slot`.
    Ready { slot: usize },
}

struct Conn {
    /// Distinguishes this connection from later ones in the same slot.
    serial: u64,
    stream: Stream,
    /// Handshake (or closing) deadline.
    deadline: Option<Instant>,
    /// Since when queued output made no progress.
    stalled_since: Option<Instant>,
    /// Close once the output is flushed (a refusal is on its way).
    closing: bool,
    side: Side,
}

enum Side {
    Out { peer: NodeId, url: PeerUrl, phase: OutPhase },
    In { phase: InPhase },
}

enum OutPhase {
    Connecting,
    Tls,
    Checking(Box<CertCheck>),
    AwaitReply,
    Ready,
}

enum InPhase {
    Tls,
    Checking(Box<CertCheck>),
    AwaitHello,
    Ready { from: NodeId, snapshot: Vec<u8> },
}

enum LookupOwner {
    Check { slot: usize, serial: u64, id: identity::LookupId },
    Dial { peer: NodeId },
}

/// Frames written to a connection per batch before flushing; bounds what sits in the TLS
/// buffer, so a newly queued Raft message waits for this much at most.
const WRITE_BATCH_BYTES: usize = 64 * 1024;
/// How long a refused connection may take to flush its refusal before it is dropped.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// Bytes an unauthenticated connection may send before its handshake step allows frames.
const PREHANDSHAKE_BYTES_MAX: usize = 4096;

/// The peer transport. See the module documentation for the driving loop.
pub struct PeerTransport {
    member_id: NodeId,
    cluster_id: u64,
    tls: Option<PeerTls>,
    /// Rules for client certificates of incoming connections.
    rules_incoming: PeerCertRules,
    /// The same allow lists for server certificates we dial, without the SAN check.
    rules_outgoing: PeerCertRules,
    lookup_ids: LookupIds,
    dns_config: DnsConfig,
    limits: Limits,
    registry: Registry,
    waker: Arc<Waker>,
    rng: Rng,
    source_ip: Option<IpAddr>,
    token_base: usize,
    listeners: Vec<Listener>,
    slots: Vec<Option<Conn>>,
    next_serial: u64,
    peers: BTreeMap<NodeId, Peer>,
    lookups: BTreeMap<LookupId, LookupOwner>,
    next_lookup: u64,
    dns: Option<DnsWorker>,
    incoming: VecDeque<PeerIncoming>,
    incoming_bytes: usize,
    /// Connections whose reading stopped because `incoming` was full.
    paused: BTreeSet<usize>,
    events: VecDeque<PeerEvent>,
    stats: TransportStats,
    scratch: Vec<u8>,
    /// What `GET /members` on the peer port answers (see [`http`]).
    members_body: Vec<u8>,
}

#[derive(Clone, Copy)]
struct Limits {
    frame_bytes_max: usize,
    snapshot_bytes_max: usize,
    snapshot_piece_bytes: usize,
    send_queue_bytes_max: usize,
    snapshot_queue_bytes_max: usize,
    incoming_bytes_max: usize,
    handshakes_pending_max: usize,
    lookups_pending_max: usize,
    events_max: usize,
    dial_backoff_min: Duration,
    dial_backoff_max: Duration,
    handshake_timeout: Duration,
    write_timeout: Duration,
}

impl std::fmt::Debug for PeerTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTransport")
            .field("member_id", &self.member_id)
            .field("peers", &self.peers.keys().collect::<Vec<_>>())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl PeerTransport {
    /// Binds the listen URLs and registers them with `registry`. `waker` is the loop's waker;
    /// the DNS helper thread (started on the first lookup) wakes the loop with it.
    ///
    /// # Errors
    /// An invalid configuration, or a listen address that cannot be bound.
    pub fn new(
        registry: &Registry,
        waker: Arc<Waker>,
        config: PeerTransportConfig,
        now: Instant,
    ) -> Result<PeerTransport, PeerTransportError> {
        let _ = now;
        config.validate().map_err(PeerTransportError::Config)?;
        let registry = registry.try_clone().map_err(PeerTransportError::Io)?;
        let mut listeners = Vec::new();
        for (i, url) in config.listen_urls.iter().enumerate() {
            let addr = url.socket_addr().expect("validated");
            let mut sock = TcpListener::bind(addr).map_err(|e| {
                PeerTransportError::Io(std::io::Error::new(
                    e.kind(),
                    format!("listen on {url}: {e}"),
                ))
            })?;
            registry
                .register(&mut sock, Token(config.token_base + i), Interest::READABLE)
                .map_err(PeerTransportError::Io)?;
            let addr = sock.local_addr().map_err(PeerTransportError::Io)?;
            info!(url = %url, %addr, "listening for peers");
            listeners.push(Listener { sock, url: url.clone(), addr });
        }
        // Advertised names only: the listen address says which of this host's addresses is
        // the member's.
        let source_ip = local_source_ip(&config.advertise_urls)
            .or_else(|| local_source_ip(&config.listen_urls));
        if let Some(ip) = source_ip {
            debug!(%ip, "outgoing peer connections leave from the advertised address");
        }
        let limits = Limits {
            frame_bytes_max: config.frame_bytes_max,
            snapshot_bytes_max: config.snapshot_bytes_max,
            snapshot_piece_bytes: config.snapshot_piece_bytes,
            send_queue_bytes_max: config.send_queue_bytes_max,
            snapshot_queue_bytes_max: config.snapshot_queue_bytes_max,
            incoming_bytes_max: config.incoming_bytes_max,
            handshakes_pending_max: config.handshakes_pending_max,
            lookups_pending_max: config.lookups_pending_max,
            events_max: config.events_max,
            dial_backoff_min: config.dial_backoff_min,
            dial_backoff_max: config.dial_backoff_max,
            handshake_timeout: config.handshake_timeout,
            write_timeout: config.write_timeout,
        };
        Ok(PeerTransport {
            member_id: config.member_id,
            cluster_id: config.cluster_id,
            tls: config.tls,
            rules_outgoing: config.cert_rules.clone().with_skip_san_verify(true),
            rules_incoming: config.cert_rules,
            lookup_ids: LookupIds::new(),
            dns_config: config.dns,
            limits,
            registry,
            waker,
            rng: Rng::from_seed(config.seed),
            source_ip,
            token_base: config.token_base,
            listeners,
            slots: (0..config.connections_max).map(|_| None).collect(),
            next_serial: 0,
            peers: BTreeMap::new(),
            lookups: BTreeMap::new(),
            next_lookup: 0,
            dns: None,
            incoming: VecDeque::new(),
            incoming_bytes: 0,
            paused: BTreeSet::new(),
            events: VecDeque::new(),
            stats: TransportStats::default(),
            scratch: Vec::new(),
            members_body: b"[]".to_vec(),
        })
    }

    /// The bound address of each listen URL, in order (useful with port 0).
    #[must_use]
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.addr).collect()
    }

    /// The address outgoing connections are bound to, if the advertised one is local.
    #[must_use]
    pub fn source_ip(&self) -> Option<IpAddr> {
        self.source_ip
    }

    /// True when `token` belongs to this transport.
    #[must_use]
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.token_base
            && token.0 < self.token_base + self.listeners.len() + self.slots.len()
    }

    /// Sets what `GET /members` on the peer port answers ([`http::members_body`]); members
    /// joining with `--initial-cluster-state existing` read it.
    pub fn set_members_body(&mut self, body: Vec<u8>) {
        self.members_body = body;
    }

    /// Replaces the set of peers (member id → peer URLs). This member's own id is ignored.
    /// New peers are dialed at once; removed peers lose their queue and connections (both
    /// directions); a peer whose URLs changed is redialed if its connection used a URL that is
    /// gone. May produce [`PeerEvent`]s.
    pub fn set_peers(&mut self, now: Instant, peers: BTreeMap<NodeId, Vec<PeerUrl>>) {
        let me = self.member_id;
        let removed: Vec<NodeId> =
            self.peers.keys().filter(|id| !peers.contains_key(id)).copied().collect();
        for id in removed {
            info!(peer = %hex(id), "peer removed");
            if let Some(slot) = self.peers.get(&id).and_then(|p| p.link.slot()) {
                self.close(now, slot, "peer removed from the membership", dial::After::Backoff);
            }
            self.peers.remove(&id);
        }
        for (id, urls) in peers {
            if id == me || !id.is_some() {
                continue;
            }
            match self.peers.get_mut(&id) {
                Some(peer) if peer.urls == urls => {}
                Some(peer) => {
                    info!(peer = %hex(id), ?urls, "peer URLs changed");
                    peer.urls = urls.clone();
                    let stale = match &peer.link {
                        Link::Idle { .. } => {
                            peer.link = Link::Idle { retry_at: now };
                            None
                        }
                        Link::Resolving { .. } => {
                            peer.link = Link::Idle { retry_at: now };
                            None
                        }
                        Link::Dialing { slot, .. } | Link::Ready { slot } => Some(*slot),
                    };
                    if let Some(slot) = stale {
                        let url_kept = match self.slots[slot].as_ref().map(|c| &c.side) {
                            Some(Side::Out { url, .. }) => urls.contains(url),
                            _ => false,
                        };
                        if !url_kept {
                            self.close(now, slot, "peer URL removed", dial::After::Backoff);
                            if let Some(peer) = self.peers.get_mut(&id) {
                                peer.backoff.reset();
                                peer.link = Link::Idle { retry_at: now };
                            }
                        }
                    }
                }
                None => {
                    info!(peer = %hex(id), ?urls, "peer added");
                    let peer = Peer {
                        urls,
                        queue: SendQueue::new(
                            self.limits.send_queue_bytes_max,
                            self.limits.snapshot_queue_bytes_max,
                            self.limits.snapshot_piece_bytes,
                        ),
                        link: Link::Idle { retry_at: now },
                        backoff: Backoff::new(
                            self.limits.dial_backoff_min,
                            self.limits.dial_backoff_max,
                        ),
                        stats: PeerStats::default(),
                    };
                    self.peers.insert(id, peer);
                }
            }
        }
        // Incoming connections from members that are gone.
        for slot in 0..self.slots.len() {
            if let Some(Conn { side: Side::In { phase: InPhase::Ready { from, .. } }, .. }) =
                &self.slots[slot]
            {
                if !self.peers.contains_key(from) {
                    self.close(now, slot, "peer removed from the membership", dial::After::Backoff);
                }
            }
        }
        self.dial_due(now);
    }

    /// Queues `payload` for `to` without blocking. A full queue, an oversized payload or an
    /// unknown peer drops it and counts it. May write to the socket at once; may produce
    /// [`PeerEvent::Disconnected`] if that write fails.
    pub fn send(
        &mut self,
        now: Instant,
        to: NodeId,
        class: MessageClass,
        payload: Vec<u8>,
    ) -> SendOutcome {
        let too_large = match class {
            MessageClass::Raft => payload.len() > self.limits.frame_bytes_max,
            MessageClass::Snapshot => payload.len() > self.limits.snapshot_bytes_max,
        };
        let Some(peer) = self.peers.get_mut(&to) else {
            self.stats.messages_unroutable += 1;
            return SendOutcome::Dropped(DropReason::UnknownPeer);
        };
        let pushed =
            if too_large { Err(DropReason::TooLarge) } else { peer.queue.push(class, payload) };
        if let Err(reason) = pushed {
            peer.stats.messages_dropped += 1;
            if peer.stats.messages_dropped.is_power_of_two() {
                warn!(peer = %hex(to), dropped = peer.stats.messages_dropped, "dropped internal Raft message since {reason}");
            }
            return SendOutcome::Dropped(reason);
        }
        if let Link::Ready { slot } = peer.link {
            self.pump_writes(now, slot);
        }
        SendOutcome::Queued
    }

    /// Handles readiness of one of this transport's tokens (see [`owns`](Self::owns)); others
    /// are ignored. May produce incoming messages and events, and ask DNS lookups.
    pub fn handle_event(&mut self, now: Instant, event: &mio::event::Event) {
        let token = event.token().0;
        if !self.owns(event.token()) {
            return;
        }
        let index = token - self.token_base;
        if index < self.listeners.len() {
            self.accept_ready(now, index);
        } else {
            self.service(now, index - self.listeners.len());
        }
    }

    /// Collects DNS answers after the loop's waker fired, and resumes the checks and dials that
    /// waited for them. May produce incoming messages and events.
    pub fn handle_wake(&mut self, now: Instant) {
        let mut answers = Vec::new();
        if let Some(dns) = &self.dns {
            while let Some(answer) = dns.poll_answer() {
                answers.push(answer);
            }
        }
        for (id, _request, result) in answers {
            self.lookup_answered(now, id, result);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next: a dial to retry, a
    /// handshake or write deadline, or at once (`Instant::ZERO`) when reading paused for a full
    /// incoming queue can resume. Invalidated by every other call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if !self.paused.is_empty() && self.incoming_bytes < self.limits.incoming_bytes_max {
            consider(Instant::ZERO);
        }
        for peer in self.peers.values() {
            if let Link::Idle { retry_at } = peer.link {
                if retry_at != Instant::MAX {
                    consider(retry_at);
                }
            }
        }
        for conn in self.slots.iter().flatten() {
            if let Some(deadline) = conn.deadline {
                consider(deadline);
            }
            if let Some(since) = conn.stalled_since {
                consider(since + self.limits.write_timeout);
            }
        }
        next
    }

    /// Fires what is due at `now`: dial retries, handshake and write timeouts, paused reads.
    /// May produce incoming messages and events.
    pub fn handle_timeout(&mut self, now: Instant) {
        for slot in 0..self.slots.len() {
            let Some(conn) = &self.slots[slot] else { continue };
            if conn.deadline.is_some_and(|d| d <= now) {
                let why = if conn.closing { "closing" } else { "handshake timed out" };
                self.close(now, slot, why, dial::After::NextTarget);
            } else if conn.stalled_since.is_some_and(|s| s + self.limits.write_timeout <= now) {
                self.close(now, slot, "write timed out", dial::After::Backoff);
            }
        }
        self.resume_paused(now);
        self.dial_due(now);
    }

    /// The next message received, oldest first. Drain after every `handle_*` call.
    #[must_use]
    pub fn poll_incoming(&mut self) -> Option<PeerIncoming> {
        let message = self.incoming.pop_front()?;
        self.incoming_bytes -= message.payload.len();
        Some(message)
    }

    /// The next connection event, oldest first. At most `events_max` are kept.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// Whether messages to `peer` currently flow (its outgoing connection is established).
    #[must_use]
    pub fn is_connected(&self, peer: NodeId) -> bool {
        self.peers.get(&peer).is_some_and(|p| matches!(p.link, Link::Ready { .. }))
    }

    /// Counters of one peer.
    #[must_use]
    pub fn peer_stats(&self, peer: NodeId) -> Option<PeerStats> {
        self.peers
            .get(&peer)
            .map(|p| PeerStats { messages_queued: p.queue.len() as u64, ..p.stats })
    }

    /// Counters of the whole transport.
    #[must_use]
    pub fn stats(&self) -> TransportStats {
        self.stats
    }

    fn push_event(&mut self, event: PeerEvent) {
        if self.events.len() >= self.limits.events_max {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(event);
        }
    }

    fn free_slot(&self) -> Option<usize> {
        self.slots.iter().position(Option::is_none)
    }

    fn token(&self, slot: usize) -> Token {
        Token(self.token_base + self.listeners.len() + slot)
    }

    fn next_serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
    }

    /// Asks the DNS helper for `request`; on failure returns the error to feed back at once.
    fn start_lookup(
        &mut self,
        owner: LookupOwner,
        request: LookupRequest,
    ) -> Result<LookupId, (LookupRequest, String)> {
        if self.lookups.len() >= self.limits.lookups_pending_max {
            return Err((request, "too many DNS lookups in flight".into()));
        }
        if self.dns.is_none() {
            let waker = self.waker.clone();
            let wake = Arc::new(move || {
                let _ = waker.wake();
            });
            match DnsWorker::spawn(self.dns_config.clone(), wake, self.limits.lookups_pending_max) {
                Ok(worker) => self.dns = Some(worker),
                Err(e) => return Err((request, format!("DNS unavailable: {e}"))),
            }
        }
        self.next_lookup += 1;
        let id = LookupId(self.next_lookup);
        let dns = self.dns.as_ref().expect("started above");
        match dns.request(id, request) {
            Ok(()) => {
                self.lookups.insert(id, owner);
                Ok(id)
            }
            Err(request) => Err((request, "DNS lookup queue full".into())),
        }
    }

    fn lookup_answered(&mut self, now: Instant, id: LookupId, result: LookupResult) {
        match self.lookups.remove(&id) {
            Some(LookupOwner::Check { slot, serial, id: check_id }) => {
                let Some(conn) = self.slots[slot].as_mut().filter(|c| c.serial == serial) else {
                    return;
                };
                let check = match &mut conn.side {
                    Side::Out { phase: OutPhase::Checking(check), .. } => check,
                    Side::In { phase: InPhase::Checking(check) } => check,
                    _ => return,
                };
                check.handle_answer(check_id, result);
                self.service(now, slot);
            }
            Some(LookupOwner::Dial { peer }) => self.dial_resolved(now, peer, id, result),
            None => {}
        }
    }

    fn resume_paused(&mut self, now: Instant) {
        while self.incoming_bytes < self.limits.incoming_bytes_max {
            let Some(slot) = self.paused.pop_first() else { break };
            self.service(now, slot);
        }
    }

    /// Reads, advances the handshake, takes frames and writes, as far as the connection allows.
    fn service(&mut self, now: Instant, slot: usize) {
        if self.slots[slot].is_none() || !self.finish_connect(now, slot) {
            return;
        }
        self.paused.remove(&slot);
        loop {
            let conn = self.slots[slot].as_mut().expect("checked above");
            let read = conn.stream.read();
            let state = match read {
                Ok(state) => state,
                Err(e) => {
                    // A TLS alert may be waiting to tell the peer why.
                    let _ = conn.stream.flush();
                    self.conn_failed(now, slot, &e);
                    return;
                }
            };
            if !self.advance(now, slot) || !self.take_frames(now, slot) {
                return;
            }
            match state {
                conn::ReadState::Closed => {
                    self.close(now, slot, "connection closed by peer", dial::After::NextTarget);
                    return;
                }
                conn::ReadState::Drained => break,
                conn::ReadState::More => {
                    if self.incoming_bytes >= self.limits.incoming_bytes_max {
                        self.paused.insert(slot);
                        break;
                    }
                }
            }
        }
        self.pump_writes(now, slot);
    }

    /// Flushes, then (outgoing, established) refills from the peer's queue in batches.
    fn pump_writes(&mut self, now: Instant, slot: usize) {
        loop {
            let Some(conn) = self.slots[slot].as_mut() else { return };
            match conn.stream.flush() {
                Err(e) => {
                    let why = format!("write failed: {e}");
                    self.close(now, slot, &why, dial::After::Backoff);
                    return;
                }
                Ok((false, written)) => {
                    if written > 0 || conn.stalled_since.is_none() {
                        conn.stalled_since = Some(now);
                    }
                    return;
                }
                Ok((true, _)) => conn.stalled_since = None,
            }
            if conn.closing {
                self.close(now, slot, "refused", dial::After::Backoff);
                return;
            }
            let Side::Out { peer: id, phase: OutPhase::Ready, .. } = &conn.side else { return };
            let Some(peer) = self.peers.get_mut(id) else { return };
            self.scratch.clear();
            while self.scratch.len() < WRITE_BATCH_BYTES {
                match peer.queue.next_frame(&mut self.scratch) {
                    Some(queue::Written::Message(bytes)) => {
                        peer.stats.messages_sent += 1;
                        peer.stats.bytes_sent += bytes as u64;
                    }
                    Some(queue::Written::Piece) => {}
                    None => break,
                }
            }
            if self.scratch.is_empty() {
                return;
            }
            conn.stream.queue(&self.scratch);
        }
    }

    /// Drops a connection and updates whoever used it.
    fn close(&mut self, now: Instant, slot: usize, reason: &str, after: dial::After) {
        let Some(mut conn) = self.slots[slot].take() else { return };
        self.paused.remove(&slot);
        conn.stream.close_gracefully();
        let _ = self.registry.deregister(&mut conn.stream.sock);
        self.lookups
            .retain(|_, owner| !matches!(owner, LookupOwner::Check { slot: s, .. } if *s == slot));
        match conn.side {
            Side::Out { peer, url, phase } => {
                self.out_closed(now, peer, &url, &phase, reason, after)
            }
            Side::In { phase: InPhase::Ready { from, .. } } => {
                info!(peer = %hex(from), remote_addr = %conn.stream.remote, reason, "peer stream from member closed");
                self.push_event(PeerEvent::Disconnected {
                    peer: from,
                    direction: Direction::Incoming,
                    reason: reason.to_string(),
                });
            }
            Side::In { .. } => {
                debug!(remote_addr = %conn.stream.remote, reason, "incoming peer connection closed during its handshake")
            }
        }
    }

    /// A socket or TLS error: TLS errors are refusals worth a warning, the rest is routine.
    fn conn_failed(&mut self, now: Instant, slot: usize, e: &std::io::Error) {
        let Some(conn) = &self.slots[slot] else { return };
        let tls_error = e.kind() == std::io::ErrorKind::InvalidData;
        if tls_error {
            let (peer, direction) = match &conn.side {
                Side::Out { peer, .. } => (Some(*peer), Direction::Outgoing),
                Side::In { .. } => (None, Direction::Incoming),
            };
            let remote_addr = conn.stream.remote;
            let reason = format!("tls: {e}");
            warn!(%remote_addr, %direction, peer = ?peer.map(hex), error = %reason, "rejected connection");
            self.stats.connections_refused += 1;
            self.push_event(PeerEvent::Refused {
                peer,
                direction,
                remote_addr,
                reason: reason.clone(),
            });
            self.close(now, slot, &reason, dial::After::NextTarget);
        } else {
            self.close(now, slot, &format!("{e}"), dial::After::NextTarget);
        }
    }
}

impl Link {
    fn slot(&self) -> Option<usize> {
        match self {
            Link::Dialing { slot, .. } | Link::Ready { slot } => Some(*slot),
            Link::Idle { .. } | Link::Resolving { .. } => None,
        }
    }
}

/// Member ids print in hex, as etcd prints them.
fn hex(id: NodeId) -> String {
    format!("{:x}", id.get())
}

/// The first advertised address literal that can be bound here: outgoing peer connections
/// leave from it, so the receiver's SAN check sees the member's own address.
#[must_use]
pub fn local_source_ip(advertise: &[PeerUrl]) -> Option<IpAddr> {
    advertise.iter().find_map(|url| match url.host {
        PeerHost::Ip(ip) if !ip.is_unspecified() => {
            std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).ok().map(|_| ip)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_address_is_the_first_local_advertised_one() {
        let urls: Vec<PeerUrl> =
            ["https://m1.test:1", "https://192.0.2.1:1", "https://127.0.0.11:1"]
                .iter()
                .map(|s| s.parse().unwrap())
                .collect();
        // 192.0.2.1 (TEST-NET-1) is not configured here; all of 127/8 is local on Linux.
        assert_eq!(local_source_ip(&urls), Some("127.0.0.11".parse().unwrap()));
        assert_eq!(local_source_ip(&urls[..2]), None);
        let any: PeerUrl = "https://0.0.0.0:1".parse().unwrap();
        assert_eq!(local_source_ip(&[any]), None, "a wildcard listen address says nothing");
    }
}
