//! The member's event loop: one thread drives the core (`oxcd_core::node::Node`), the client
//! transport, storage and timers on one `mio::Poll`.
//!
//! # One turn of the loop
//! 1. Sleep in `mio::Poll::poll` until the earliest of: the Node's `poll_timeout`, the
//!    transport's, the next storage-size report, a shutdown deadline; or until a socket, the
//!    waker (bcrypt and storage workers, the transport's own wake-ups, [`DriverHandle::stop`])
//!    or a signal (SIGTERM/SIGINT) is ready.
//! 2. Hand every ready input to the Node without draining in between (batching): decoded
//!    client requests and stream messages, finished password jobs, timer expiry.
//! 3. Drain `Node::poll_output`. Replies and watch responses go to the transport; every
//!    `Persist` of the drain is concatenated (in id order) into one batch for the storage
//!    writer thread ([`writer`]), which commits batches in order (merging those that queue
//!    while an fsync runs: one transaction, one fsync). When it reports a batch durable, the
//!    loop calls `handle_persisted(highest id)`, sends the batch's `then_send` messages and
//!    drains again. The loop never waits for the disk.
//! 4. Let the transport write what was answered; repeat 2–4 while that produced more input.
//!
//! A full disk does not stop the member: the writer retries the commit every second, the Node
//! is told (`handle_storage_full`) and refuses growing writes with NOSPACE, reads go on.
//!
//! Threads besides the loop: the storage writer, the bcrypt pool ([`passwords`]) and, while
//! they run, one thread per `Maintenance.Snapshot` and one for `Defragment` ([`workers`]).
//!
//! # Shutdown
//! SIGTERM, SIGINT, [`DriverHandle::stop`] or the Node's `Removed`: a leader first hands its
//! leadership to the most caught-up voter (MoveLeader, bounded by the request timeout), then
//! the transport stops accepting and winds connections down (open streams end with "server
//! stopped"), and the loop returns once they are closed or the drain timeout passed. Storage
//! is closed when the driver is dropped.

mod calls;
pub mod passwords;
pub mod peers;
mod workers;
mod writer;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use mio::{Events, Interest, Poll, Token, Waker};
use oxcd_core::backend::WriteBatch;
use oxcd_core::membership::Member;
use oxcd_core::node::PeerMessage;
use oxcd_core::node::{
    InitialCluster, Node, NodeConfig, NodeError, Output, PersistId, Request, RequestId, RequestMeta,
};
use oxcd_core::{Instant, NodeId};
use oxcd_proto::etcdserverpb as pb;
use oxcd_storage_lmdb::{LmdbStorage, WriteError};
use writer::{Committed, StorageWriter};

use crate::peer::{PeerTransport, PeerTransportConfig};
use crate::transport::{ClientTransport, ListenUrl, TransportConfig};
use calls::{Calls, Pending};
use passwords::{PasswordDone, PasswordPool};
use workers::Workers;

const WAKER: Token = Token(0);
const SIGNALS: Token = Token(1);
/// The client transport's tokens start here...
const CLIENT_TOKENS: usize = 1 << 20;
/// ... and the peer transport's here.
const PEER_TOKENS: usize = 1 << 28;
/// Rounds of "drain input, drain output, flush" per turn before sleeping again.
const ROUNDS_PER_TURN: usize = 8;

/// One client listener.
#[derive(Clone, Debug)]
pub struct ClientListener {
    /// `--listen-client-urls` entry.
    pub url: ListenUrl,
    /// TLS for `https://` and `unixs://`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// What it serves.
    pub kind: ListenerKind,
}

/// What a client listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerKind {
    /// gRPC and HTTP (`--listen-client-urls`).
    Client,
    /// HTTP only: endpoints and the JSON gateway (`--listen-client-http-urls`).
    HttpOnly,
    /// `/metrics` and the health endpoints only (`--listen-metrics-urls`).
    Metrics,
}

/// Everything the loop needs besides the storage.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// The member.
    pub node: NodeConfig,
    /// How a member with empty storage starts.
    pub initial: InitialCluster,
    /// Client transport limits.
    pub transport: TransportConfig,
    /// Client listeners (gRPC and HTTP on each).
    pub listeners: Vec<ClientListener>,
    /// `--enable-grpc-gateway`: serve `/v3/*` JSON.
    pub enable_gateway: bool,
    /// `--enable-v2`: serve etcd v2's keys API on `/v2/keys` (404 otherwise, as etcd 3.4).
    pub enable_v2: bool,
    /// `--client-cert-auth`: a verified client certificate's CN is the user when no token is
    /// given.
    pub client_cert_auth: bool,
    /// `--bcrypt-cost`.
    pub bcrypt_cost: u32,
    /// bcrypt worker threads.
    pub bcrypt_threads: usize,
    /// bcrypt jobs waiting at most.
    pub bcrypt_queue_max: usize,
    /// How often storage size is reported to the Node.
    pub storage_size_interval: Duration,
    /// How long a shutdown waits for connections to close.
    pub drain_timeout: Duration,
    /// Stop on SIGTERM/SIGINT (off for drivers embedded in tests).
    pub handle_signals: bool,
    /// The peer transport (listen URLs, TLS, certificate rules); `None` for a member that
    /// never talks to others. Its `token_base` is set by the driver.
    pub peer: Option<PeerTransportConfig>,
    /// For a member joining a running cluster: the members it learned from a peer's
    /// `/members`. They are its peers until the leader's first state names the membership.
    pub join_peers: Vec<Member>,
}

impl DriverConfig {
    /// A configuration with etcd's defaults around `node`.
    #[must_use]
    pub fn new(node: NodeConfig, initial: InitialCluster) -> DriverConfig {
        DriverConfig {
            node,
            initial,
            transport: TransportConfig::default(),
            listeners: Vec::new(),
            enable_gateway: true,
            enable_v2: false,
            client_cert_auth: false,
            bcrypt_cost: oxcd_core::auth::password::BCRYPT_COST_DEFAULT,
            bcrypt_threads: 2,
            bcrypt_queue_max: 1024,
            storage_size_interval: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(5),
            handle_signals: true,
            peer: None,
            join_peers: Vec::new(),
        }
    }
}

/// Why the driver could not start or stopped with an error.
#[derive(Debug)]
pub enum DriverError {
    /// The Node refused its configuration or its storage.
    Node(NodeError),
    /// A socket, listener, poll or signal setup failed.
    Io(std::io::Error),
    /// A configuration the transport refused.
    Config(String),
    /// Storage failed to persist a batch: the member stops (as etcd does).
    Storage(WriteError),
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Node(e) => write!(f, "{e}"),
            DriverError::Io(e) => write!(f, "{e}"),
            DriverError::Config(e) => write!(f, "{e}"),
            DriverError::Storage(e) => write!(f, "storage write failed: {e}"),
        }
    }
}

impl std::error::Error for DriverError {}

impl From<std::io::Error> for DriverError {
    fn from(e: std::io::Error) -> Self {
        DriverError::Io(e)
    }
}

/// Why [`Driver::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// SIGTERM or SIGINT.
    Signal,
    /// [`DriverHandle::stop`].
    Requested,
    /// The member was removed from the cluster.
    Removed,
}

/// Stops a running driver from another thread.
#[derive(Clone, Debug)]
pub struct DriverHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl DriverHandle {
    /// Asks the loop to shut down gracefully.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }
}

/// The loop's monotonic clock: the core's instants are nanoseconds since the driver started.
#[derive(Clone, Copy, Debug)]
struct Clock {
    epoch: StdInstant,
}

impl Clock {
    fn core(&self, at: StdInstant) -> Instant {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn std(&self, at: Instant) -> StdInstant {
        // Far-away instants ("never") become a day from the epoch's view of now.
        let far = StdInstant::now() + Duration::from_secs(86_400);
        self.epoch.checked_add(Duration::from_nanos(at.as_nanos())).map_or(far, |t| t.min(far))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Running,
    /// Waiting for MoveLeader to finish (or its deadline).
    Transferring {
        deadline: StdInstant,
    },
    /// The transport winds connections down.
    Draining {
        deadline: StdInstant,
    },
}

/// Counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    leader_changes: u64,
    failed_writes: u64,
    commits: u64,
    last_leader: Option<NodeId>,
    snapshots_installed: u64,
}

/// The running member. See the module docs.
pub struct Driver {
    poll: Poll,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    clock: Clock,
    node: Node,
    storage: LmdbStorage,
    client: ClientTransport,
    peer: Option<PeerTransport>,
    passwords: PasswordPool,
    workers: Workers,
    calls: Calls,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    config: DriverConfig,
    members: Vec<Member>,
    phase: Phase,
    stop_reason: Option<StopReason>,
    next_size_at: StdInstant,
    next_request: u64,
    counters: Counters,
    /// Commits persist batches off the loop.
    writer: StorageWriter,
    /// The writer found the disk full and is retrying.
    disk_full: bool,
    /// Persists handed to the writer, with the messages that wait for them, oldest first.
    unconfirmed: VecDeque<(PersistId, Vec<(NodeId, PeerMessage)>)>,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").field("node", &self.node).field("phase", &self.phase).finish()
    }
}

impl Driver {
    /// Opens the member on `storage` and binds its listeners.
    ///
    /// # Errors
    /// The Node refuses the configuration or the stored state; a listener cannot be bound.
    pub fn new(config: DriverConfig, storage: LmdbStorage) -> Result<Driver, DriverError> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let epoch = StdInstant::now();
        let clock = Clock { epoch };
        let mut transport = config.transport.clone();
        transport.max_request_bytes = config.node.max_request_bytes;
        transport.token_base = CLIENT_TOKENS;
        let mut client = ClientTransport::new(poll.registry(), waker.clone(), transport)
            .map_err(|e| DriverError::Config(e.to_string()))?;
        for l in &config.listeners {
            client.listen(&l.url, l.tls.clone())?;
        }
        let peer = match &config.peer {
            Some(p) => {
                let mut p = p.clone();
                p.token_base = PEER_TOKENS;
                let t = PeerTransport::new(poll.registry(), waker.clone(), p, clock.core(epoch))
                    .map_err(|e| DriverError::Config(e.to_string()))?;
                Some(t)
            }
            None => None,
        };
        let signals = if config.handle_signals {
            let mut s = signal_hook_mio::v1_0::Signals::new([
                signal_hook::consts::SIGTERM,
                signal_hook::consts::SIGINT,
            ])?;
            poll.registry().register(&mut s, SIGNALS, Interest::READABLE)?;
            Some(s)
        } else {
            None
        };
        let node = Node::new(
            config.node.clone(),
            Box::new(storage.clone()),
            config.initial.clone(),
            clock.core(StdInstant::now()),
        )
        .map_err(DriverError::Node)?;
        let passwords = PasswordPool::new(
            config.bcrypt_threads.max(1),
            config.bcrypt_queue_max.max(1),
            config.bcrypt_cost,
            waker.clone(),
        );
        tracing::info!(
            member_id = %format!("{:x}", node.id().get()),
            cluster_id = %format!("{:x}", config.node.cluster_id),
            name = %config.node.name,
            "starting member"
        );
        let writer = StorageWriter::start(storage.clone(), waker.clone())?;
        Ok(Driver {
            workers: Workers::new(storage.clone(), waker.clone()),
            poll,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            clock,
            node,
            storage,
            client,
            peer,
            passwords,
            calls: Calls::default(),
            signals,
            config,
            members: Vec::new(),
            phase: Phase::Running,
            writer,
            disk_full: false,
            unconfirmed: VecDeque::new(),
            stop_reason: None,
            next_size_at: epoch,
            next_request: 0,
            counters: Counters::default(),
        })
    }

    /// The bound address of each TCP client listener, in order (useful with port 0).
    #[must_use]
    pub fn client_addrs(&self) -> Vec<SocketAddr> {
        (0..self.config.listeners.len())
            .filter_map(|i| {
                self.client.local_addr(crate::transport::ListenerId(u32::try_from(i).ok()?))
            })
            .collect()
    }

    /// The bound address of each peer listener, in order.
    #[must_use]
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.peer.as_ref().map(PeerTransport::local_addrs).unwrap_or_default()
    }

    /// A handle that stops the loop from another thread.
    #[must_use]
    pub fn handle(&self) -> DriverHandle {
        DriverHandle { stop: self.stop.clone(), waker: self.waker.clone() }
    }

    /// The Node (for inspection between runs in tests).
    #[must_use]
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Runs the loop until a shutdown completes.
    ///
    /// # Errors
    /// Polling fails, or storage cannot persist a batch.
    pub fn run(mut self) -> Result<StopReason, DriverError> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = StdInstant::now();
            let wake_at = self.wake_at(now);
            let timeout = wake_at.saturating_duration_since(now);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e.into());
                }
            }
            let now = StdInstant::now();
            let mut woke = false;
            for event in &events {
                match event.token() {
                    WAKER => woke = true,
                    SIGNALS => self.on_signals(now),
                    t if self.client.owns_token(t) => self.client.handle_event(event, now),
                    t => {
                        if let Some(peer) = self.peer.as_mut().filter(|p| p.owns(t)) {
                            peer.handle_event(self.clock.core(now), event);
                        }
                    }
                }
            }
            if woke {
                self.on_wake(now);
            }
            self.turn(now)?;
            if self.finished(StdInstant::now()) {
                tracing::info!("member stopped");
                return Ok(self.stop_reason.unwrap_or(StopReason::Requested));
            }
        }
    }

    fn wake_at(&self, now: StdInstant) -> StdInstant {
        let mut at = self.clock.std(self.node.poll_timeout()).min(self.next_size_at);
        if let Some(t) = self.client.poll_timeout() {
            at = at.min(t);
        }
        if let Some(t) = self.peer.as_ref().and_then(PeerTransport::poll_timeout) {
            at = at.min(self.clock.std(t));
        }
        match self.phase {
            Phase::Running => {}
            Phase::Transferring { deadline } | Phase::Draining { deadline } => {
                at = at.min(deadline)
            }
        }
        at.max(now)
    }

    fn on_wake(&mut self, now: StdInstant) {
        self.client.handle_wake(now);
        if let Some(peer) = self.peer.as_mut() {
            peer.handle_wake(self.clock.core(now));
        }
        if self.stop.swap(false, Ordering::AcqRel) {
            tracing::info!("stop requested; shutting down");
            self.begin_shutdown(now, StopReason::Requested);
        }
        let core_now = self.clock.core(now);
        while let Some(done) = self.passwords.poll_done() {
            match done {
                PasswordDone::Hashed { id, meta, request: Ok(request) } => {
                    self.node.handle_client_request(core_now, id, meta, request);
                }
                PasswordDone::Hashed { id, request: Err(e), .. } => self.answer(id, Err(e)),
                PasswordDone::Verified { id, matches } => {
                    self.node.handle_password_verified(core_now, id, matches);
                }
            }
        }
        self.poll_workers(now);
    }

    /// Steps 2–4 of the module docs.
    fn turn(&mut self, now: StdInstant) -> Result<(), DriverError> {
        let core_now = self.clock.core(now);
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
        }
        if now >= self.next_size_at {
            self.next_size_at = now + self.config.storage_size_interval;
            let (size, in_use) = (self.storage.size_bytes(), self.storage.size_in_use_bytes());
            self.node.handle_storage_size(core_now, size, in_use);
        }
        if let Some(peer) = self.peer.as_mut() {
            if peer.poll_timeout().is_some_and(|t| t <= core_now) {
                peer.handle_timeout(core_now);
            }
        }
        if self.node.poll_timeout() <= core_now {
            self.node.handle_timeout(core_now);
        }
        for _ in 0..ROUNDS_PER_TURN {
            let handled = self.take_client_input(now) + self.take_peer_input(core_now);
            self.drain_node(now)?;
            self.client.handle_wake(now);
            if handled == 0 {
                break;
            }
        }
        self.track_leader();
        let installed = self.node.snapshots_installed();
        if installed != self.counters.snapshots_installed {
            self.counters.snapshots_installed = installed;
            tracing::info!(
                index = self.node.applied_index().0,
                "applied incoming Raft snapshot from the leader"
            );
        }
        self.advance_shutdown(now);
        Ok(())
    }

    fn next_request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    /// Step 3: every output of the Node, with one storage commit per round of persists.
    fn drain_node(&mut self, now: StdInstant) -> Result<(), DriverError> {
        loop {
            let mut batch = WriteBatch::default();
            let mut highest: Option<PersistId> = None;
            let mut then_send = Vec::new();
            while let Some(output) = self.node.poll_output() {
                match output {
                    Output::Persist { id, batch: mut b, then_send: mut sends, .. } => {
                        assert!(highest.is_none_or(|h| h < id), "persists come in id order");
                        batch.append(&mut b);
                        then_send.append(&mut sends);
                        highest = Some(id);
                    }
                    Output::Send { to, message } => self.send_peer(to, &message),
                    Output::Reply { id, result } => self.answer(id, result),
                    Output::Watch { stream, response } => self.watch_response(stream, response),
                    Output::VerifyPassword(v) => {
                        if let Some(PasswordDone::Verified { id, matches }) =
                            self.passwords.verify(v)
                        {
                            self.node.handle_password_verified(self.clock.core(now), id, matches);
                        }
                    }
                    Output::MembersChanged { members } => self.members_changed(members),
                    Output::Removed => {
                        tracing::warn!("this member was removed from the cluster; shutting down");
                        self.begin_shutdown(now, StopReason::Removed);
                    }
                }
            }
            if let Some(highest) = highest {
                // The writer thread commits it; the loop goes on meanwhile.
                self.writer.submit(highest, batch);
                self.unconfirmed.push_back((highest, then_send));
            }
            if !self.take_commits(now)? {
                return Ok(());
            }
        }
    }

    /// Confirms what the writer made durable and sends what waited for it. True when
    /// something was confirmed (the Node may have more output).
    fn take_commits(&mut self, now: StdInstant) -> Result<bool, DriverError> {
        let mut confirmed = None;
        while let Some(report) = self.writer.poll() {
            match report {
                Committed::Upto(id) => {
                    // One report per write transaction (batches queued meanwhile merge).
                    self.counters.commits += 1;
                    confirmed = Some(id);
                    if self.disk_full {
                        self.disk_full = false;
                        tracing::warn!("the disk has room again; writes resume once the NOSPACE alarm is disarmed");
                        self.node.handle_storage_full(self.clock.core(now), false);
                    }
                }
                Committed::DiskFull(e) => {
                    tracing::error!(error = %e, "disk full: refusing writes and raising the NOSPACE alarm; retrying the commit every second");
                    self.disk_full = true;
                    self.node.handle_storage_full(self.clock.core(now), true);
                }
                Committed::Failed(e) => {
                    tracing::error!(error = %e, "failed to persist; stopping the member");
                    return Err(DriverError::Storage(e));
                }
            }
        }
        let Some(upto) = confirmed else { return Ok(false) };
        // Answers given so far leave before anything else.
        self.client.handle_wake(now);
        self.node.handle_persisted(self.clock.core(StdInstant::now()), upto);
        while self.unconfirmed.front().is_some_and(|(id, _)| *id <= upto) {
            let (_, sends) = self.unconfirmed.pop_front().expect("checked");
            for (to, message) in sends {
                self.send_peer(to, &message);
            }
        }
        Ok(true)
    }

    fn send_peer(&mut self, to: NodeId, message: &oxcd_core::node::PeerMessage) {
        let now = self.clock.core(StdInstant::now());
        match self.peer.as_mut() {
            Some(peer) => peers::send(peer, now, to, message),
            None => {
                tracing::trace!(to = %format!("{:x}", to.get()), %message, "no peer transport: message dropped")
            }
        }
    }

    /// Step 2 for peer input: every received message to the Node, then connection news.
    fn take_peer_input(&mut self, now: Instant) -> usize {
        let Some(peer) = self.peer.as_mut() else { return 0 };
        let mut n = 0;
        while let Some(incoming) = peer.poll_incoming() {
            n += 1;
            if let Some(message) = peers::decode(incoming.from, &incoming.payload) {
                self.node.handle_peer_message(now, incoming.from, message);
            }
        }
        while let Some(event) = peer.poll_event() {
            peers::log_event(&event);
        }
        n
    }

    fn members_changed(&mut self, members: Vec<Member>) {
        tracing::info!(members = members.len(), "membership changed");
        // A joining member knows no membership until the leader's state arrives.
        let known = if members.is_empty() { &self.config.join_peers } else { &members };
        if let Some(peer) = self.peer.as_mut() {
            peer.set_peers(self.clock.core(StdInstant::now()), peers::address_book(known));
            peer.set_members_body(crate::peer::http::members_body(&members));
        }
        self.members = members;
    }

    fn track_leader(&mut self) {
        let leader = self.node.leader();
        let known = leader.is_some().then_some(leader);
        if known != self.counters.last_leader {
            if let Some(l) = known {
                self.counters.leader_changes += 1;
                tracing::info!(
                    "{:x} elected leader {:x} at term {}",
                    self.node.id().get(),
                    l.get(),
                    self.node.term().0
                );
            } else {
                tracing::info!("{:x} lost leader", self.node.id().get());
            }
            self.counters.last_leader = known;
        }
    }

    // ---- shutdown ----

    fn on_signals(&mut self, now: StdInstant) {
        let Some(signals) = self.signals.as_mut() else { return };
        let got: Vec<i32> = signals.pending().collect();
        for sig in got {
            let name = if sig == signal_hook::consts::SIGTERM { "terminated" } else { "interrupt" };
            if self.phase == Phase::Running {
                tracing::info!(signal = name, "received signal; shutting down");
                self.begin_shutdown(now, StopReason::Signal);
            } else {
                tracing::warn!(signal = name, "received signal again; stopping now");
                self.phase = Phase::Draining { deadline: now };
            }
        }
    }

    fn begin_shutdown(&mut self, now: StdInstant, reason: StopReason) {
        if self.phase != Phase::Running {
            return;
        }
        self.stop_reason = Some(reason);
        if reason != StopReason::Removed && self.node.is_leader() {
            if let Some(target) = self.transferee() {
                tracing::info!(
                    "leader {:x} transfers leadership to {:x} before stopping",
                    self.node.id().get(),
                    target.get()
                );
                let id = self.next_request_id();
                self.calls.pending.insert(id, Pending::Transfer);
                let request =
                    Request::MoveLeader(pb::MoveLeaderRequest { target_id: target.get() });
                self.node.handle_client_request(
                    self.clock.core(now),
                    id,
                    RequestMeta::default(),
                    request,
                );
                let deadline = now + self.config.node.request_timeout.min(Duration::from_secs(5));
                self.phase = Phase::Transferring { deadline };
                return;
            }
        }
        self.start_draining(now);
    }

    /// The connected, recently active voter (not this member) with the highest matched log
    /// index.
    fn transferee(&self) -> Option<NodeId> {
        let raft = self.node.raft();
        let me = self.node.id();
        let connected = |id: NodeId| self.peer.as_ref().is_some_and(|p| p.is_connected(id));
        raft.conf_state()
            .voters
            .iter()
            .filter(|id| **id != me && connected(**id))
            .filter_map(|id| {
                raft.progress(*id).filter(|p| p.recent_active).map(|p| (p.match_index, *id))
            })
            .max()
            .map(|(_, id)| id)
    }

    pub(crate) fn transfer_done(&mut self, now: StdInstant) {
        if matches!(self.phase, Phase::Transferring { .. }) {
            self.start_draining(now);
        }
    }

    fn start_draining(&mut self, now: StdInstant) {
        self.calls.end_streams(&mut self.client, &mut self.node, self.clock.core(now));
        self.workers.stop();
        self.client.shutdown(now);
        self.phase = Phase::Draining { deadline: now + self.config.drain_timeout };
    }

    fn advance_shutdown(&mut self, now: StdInstant) {
        if let Phase::Transferring { deadline } = self.phase {
            if now >= deadline {
                tracing::warn!("leadership transfer did not finish in time; stopping anyway");
                self.start_draining(now);
            }
        }
    }

    fn finished(&self, now: StdInstant) -> bool {
        match self.phase {
            Phase::Draining { deadline } => now >= deadline || self.client.stats().connections == 0,
            _ => false,
        }
    }

    /// Values for `/metrics`.
    fn metrics(&self) -> crate::api::metrics::MetricsSnapshot {
        crate::api::metrics::MetricsSnapshot {
            has_leader: self.node.leader().is_some(),
            is_leader: self.node.is_leader(),
            leader_changes_seen_total: self.counters.leader_changes,
            proposals_committed_total: self.node.commit_index().0,
            proposals_applied_total: self.node.applied_index().0,
            proposals_pending: self.calls.pending.values().filter(|p| p.is_write()).count() as u64,
            proposals_failed_total: self.counters.failed_writes,
            db_total_size_in_bytes: self.storage.size_bytes(),
            db_total_size_in_use_in_bytes: self.storage.size_in_use_bytes(),
            current_revision: self.node.revision(),
            client_connections: self.client.stats().connections as u64,
            watch_streams: self.calls.watch_streams() as u64,
            backend_commits_total: self.counters.commits,
            member_id: self.node.id().get(),
        }
    }
}
