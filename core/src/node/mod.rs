//! The member: Raft plus etcd's state machine behind one driving surface.
//!
//! # The driver loop
//!
//! 1. Open the storage, then build the member with [`Node::new`] (it reads what it needs back
//!    from the [`Backend`]; an empty backend plus [`InitialCluster`] starts a new member).
//! 2. Feed it inputs as they happen, each with the current monotonic time: client requests
//!    ([`Node::handle_client_request`]), Watch stream traffic ([`Node::handle_watch_request`],
//!    [`Node::handle_watch_closed`]), peer messages ([`Node::handle_peer_message`]),
//!    completions ([`Node::handle_persisted`], [`Node::handle_password_verified`]) and timer
//!    expiry ([`Node::handle_timeout`]). Several inputs may be fed before draining: that is how
//!    a runtime batches many requests into one proposal and one fsync.
//! 3. Drain [`Node::poll_output`] until it returns `None`, and carry each [`Output`] out: sends
//!    now, persists in id order (one transaction and one fsync may cover several consecutive
//!    persists; then confirm the highest id with [`Node::handle_persisted`] and send their
//!    `then_send` messages), replies and watch responses to their clients, password checks off
//!    the loop. A runtime with a write-ahead log in front of its backend may confirm in two
//!    steps: [`Node::handle_logged`] once a batch is durable in the log (its `then_send` may
//!    leave then), [`Node::handle_persisted`] once the backend holds it.
//! 4. Sleep until [`Node::poll_timeout`] at the latest, or until the next input arrives; on
//!    waking at or after that instant, call [`Node::handle_timeout`].
//!
//! A driver that keeps feeding inputs without draining is detected: the output queue is
//! bounded and overflowing it fails a debug assertion.

mod apply;
mod client;
mod config;
mod forward;
mod output;
mod peer;
mod persist;
mod reads;
mod reconfig;
mod request;
pub mod restore;
mod route;
mod snapshot;
mod state;
mod timers;
mod transfer;

pub use crate::auth::{VerifyId, VerifyPassword};
pub use crate::watch::WatchStreamId;
pub use config::{ConfigError, NodeConfig};
pub use output::{Output, PersistId, RequestId};
pub use peer::{Forwarded, ForwardedReply, MemberOp, PeerMessage, SnapshotAck, SnapshotChunk};
pub use request::{Request, RequestMeta, Response};

use crate::backend::{Backend, Overlay};
use crate::codec;
use crate::error::ApiError;
use crate::ids::{LogIndex, NodeId, Term};
use crate::membership::{Member, MemberChange};
use crate::raft::{self, ConfChange, EntryKind, Raft, RaftConfig, RaftOutput, Role};
use crate::rng::Rng;
use crate::time::Instant;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use apply::StateMachine;
use core::fmt;
use core::time::Duration;
use forward::{PendingForward, ReplyTo};
use oxcd_proto::etcdserverpb as pb;
use persist::Persister;
use reads::Reads;
use reconfig::PeerActivity;
use snapshot::{OutgoingByPeer, Receiver};

/// The etcd server version oxcd reports (kube-apiserver enables features by it).
pub const ETCD_SERVER_VERSION: &str = "3.5.17";
/// The cluster version oxcd reports.
pub const ETCD_CLUSTER_VERSION: &str = "3.5.0";

/// Outputs queued at most before the driver is considered not to drain.
const MAX_QUEUED_OUTPUTS: usize = 1 << 20;
/// Ticks caught up at most per `handle_timeout` (after a long pause the rest are skipped).
const MAX_TICKS_PER_CALL: u32 = 64;

/// How a member with empty storage starts.
#[derive(Clone, Debug)]
pub enum InitialCluster {
    /// A founding member of a new cluster; these are all the founders (this member included).
    New(Vec<Member>),
    /// A member added to a running cluster (`--initial-cluster-state existing`): it starts empty
    /// and learns the state from the leader.
    Existing,
}

/// Why a member cannot start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeError {
    /// The configuration is invalid.
    Config(String),
    /// Storage holds something that does not decode.
    Corrupt(String),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Config(e) => write!(f, "invalid configuration: {e}"),
            NodeError::Corrupt(e) => write!(f, "corrupt storage: {e}"),
        }
    }
}

/// A write waiting for its entry to be applied.
#[derive(Debug)]
struct PendingWrite {
    to: ReplyTo,
    deadline: Instant,
}

/// A request waiting until this member has applied the index its token was issued at.
#[derive(Debug)]
struct Parked {
    id: RequestId,
    meta: RequestMeta,
    request: Request,
    deadline: Instant,
}

/// A leader transfer a client asked for (MoveLeader).
#[derive(Debug)]
struct PendingTransfer {
    id: RequestId,
    target: NodeId,
    deadline: Instant,
}

/// One member of an etcd-compatible cluster, as a state machine. See the module docs for the
/// driver loop.
pub struct Node {
    cfg: NodeConfig,
    raft: Raft,
    backend: Box<dyn Backend>,
    overlay: Overlay,
    sm: StateMachine,
    rng: Rng,
    now: Instant,
    tick: Duration,
    next_tick_at: Instant,
    outputs: VecDeque<Output>,
    persister: Persister,
    durable_applied: LogIndex,
    /// The last entry the state machine reflects (Raft's applied index can run ahead of it
    /// while a received snapshot is being installed).
    applied: LogIndex,
    /// Proposals collected since the last drain, proposed together, with their request ids.
    queued: Vec<(u64, raft::Payload)>,
    /// Authenticate entries in flight: internal id -> password check.
    authenticating: BTreeMap<u64, VerifyId>,
    /// Requests whose token names an index not applied yet.
    parked: BTreeMap<LogIndex, Vec<Parked>>,
    /// Requests that arrived before this member published its attributes (etcd serves no
    /// client before then).
    waiting_ready: Vec<Parked>,
    /// Writes by internal request id.
    pending: BTreeMap<u64, PendingWrite>,
    deadlines: BTreeSet<(Instant, u64)>,
    reads: Reads,
    outgoing: OutgoingByPeer,
    receiver: Receiver,
    next_transfer: u64,
    forwards: BTreeMap<u64, PendingForward>,
    peers: PeerActivity,
    transfer: Option<PendingTransfer>,
    id_prefix: u64,
    next_internal: u64,
    /// Our own attributes are published (name and client URLs through Raft).
    published: bool,
    /// When publishing was last proposed (it is retried after a request timeout).
    publish_proposed_at: Option<Instant>,
    removed: bool,
    /// Snapshots installed since start (for logs and metrics).
    snapshots_installed: u64,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.cfg.id)
            .field("role", &self.raft.role())
            .field("term", &self.raft.term())
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Opens a member on `backend`. With data in the backend, the member restarts from it and
    /// `initial` is ignored (as etcd ignores `--initial-*` flags); with an empty backend it
    /// starts as `initial` says.
    ///
    /// # Errors
    /// An invalid configuration, or storage that does not decode.
    pub fn new(
        cfg: NodeConfig,
        backend: Box<dyn Backend>,
        initial: InitialCluster,
        now: Instant,
    ) -> Result<Node, NodeError> {
        cfg.validate().map_err(|e| NodeError::Config(e.0.into()))?;
        let raft_cfg = raft_config(&cfg);
        let log = raft::storage::recover(backend.as_ref())
            .map_err(|e| NodeError::Corrupt(alloc::format!("{e:?}")))?;
        let point = state::load_point(backend.as_ref()).map_err(|e| NodeError::Corrupt(e.0))?;
        let has_data = log.hard_state != Default::default() || point.index > LogIndex::ZERO;
        let raft = if has_data {
            Raft::new(raft_cfg, log.into_recovered(point.conf_state.clone(), point.index))
        } else {
            match &initial {
                InitialCluster::New(founders) => {
                    let changes: Vec<ConfChange> = founders
                        .iter()
                        .map(|m| {
                            let context = codec::encode(&(0u64, MemberChange::Add(m.clone())));
                            ConfChange::add_voter(m.id, context)
                        })
                        .collect();
                    Raft::bootstrap(raft_cfg, &changes)
                }
                InitialCluster::Existing => Raft::new(raft_cfg, Default::default()),
            }
        }
        .map_err(|e| NodeError::Config(alloc::format!("{e:?}")))?;
        let sm = StateMachine::open(backend.as_ref(), &cfg, now)?;
        let mut rng = Rng::from_seed(cfg.seed ^ 0x6f78_6364);
        let next_internal = rng.next_u64() & ((1 << 40) - 1);
        let tick = cfg.heartbeat_interval;
        let mut node = Node {
            id_prefix: (cfg.id.0 & 0xffff) << 48,
            next_internal,
            raft,
            backend,
            overlay: Overlay::new(),
            sm,
            rng,
            now,
            tick,
            next_tick_at: now + tick,
            outputs: VecDeque::new(),
            persister: Persister::default(),
            durable_applied: point.index,
            applied: point.index,
            queued: Vec::new(),
            authenticating: BTreeMap::new(),
            parked: BTreeMap::new(),
            waiting_ready: Vec::new(),
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            reads: Reads::default(),
            outgoing: BTreeMap::new(),
            receiver: Receiver::default(),
            next_transfer: 0,
            forwards: BTreeMap::new(),
            peers: PeerActivity::default(),
            transfer: None,
            published: false,
            publish_proposed_at: None,
            removed: false,
            snapshots_installed: 0,
            cfg,
        };
        node.outputs.push_back(Output::MembersChanged {
            members: node.sm.members().members().cloned().collect(),
        });
        node.pump();
        Ok(node)
    }

    // ---- getters ----

    /// This member's id.
    #[must_use]
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// True while this member leads.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// The leader as far as this member knows, or [`NodeId::NONE`].
    #[must_use]
    pub fn leader(&self) -> NodeId {
        self.raft.leader()
    }

    /// The current Raft term.
    #[must_use]
    pub fn term(&self) -> Term {
        self.raft.term()
    }

    /// How many snapshots from a leader this member has installed since it started.
    #[must_use]
    pub fn snapshots_installed(&self) -> u64 {
        self.snapshots_installed
    }

    /// The last applied log index.
    #[must_use]
    pub fn applied_index(&self) -> LogIndex {
        self.applied
    }

    /// The commit index.
    #[must_use]
    pub fn commit_index(&self) -> LogIndex {
        self.raft.commit_index()
    }

    /// The Raft layer, for inspection (metrics, tests, simulation checkers).
    #[must_use]
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Every member of the cluster.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.sm.members().members()
    }

    /// True once this member has been removed from the cluster.
    #[must_use]
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// The current key-value revision.
    #[must_use]
    pub fn revision(&self) -> i64 {
        self.sm.revision()
    }

    /// A header for responses from this member.
    #[must_use]
    pub fn response_header(&self) -> pb::ResponseHeader {
        pb::ResponseHeader {
            cluster_id: self.cfg.cluster_id,
            member_id: self.cfg.id.0,
            revision: self.sm.revision(),
            raft_term: self.raft.term().0,
        }
    }

    // ---- outputs ----

    /// The next effect to carry out, or `None` when everything is drained. Collected
    /// proposals are handed to Raft and collected writes sealed into one `Persist` here.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.flush();
        if let Some(output) = self.outputs.pop_front() {
            return Some(output);
        }
        let applied = self.applied;
        let (id, batch, then_send, sync) = self.persister.seal(&mut self.overlay, applied)?;
        Some(Output::Persist { id, batch, then_send, sync })
    }

    /// When to call [`Node::handle_timeout`] at the latest. Invalidated by every input.
    #[must_use]
    pub fn poll_timeout(&self) -> Instant {
        let mut at = self.next_tick_at;
        if let Some((deadline, _)) = self.deadlines.first() {
            at = at.min(*deadline);
        }
        for t in [self.reads.next_deadline(), self.sm.poll_timeout(self.now, self.raft.is_leader())]
            .into_iter()
            .flatten()
        {
            at = at.min(t);
        }
        for f in self.forwards.values() {
            at = at.min(f.deadline);
        }
        for p in self.parked.values().flatten().chain(self.waiting_ready.iter()) {
            at = at.min(p.deadline);
        }
        for o in self.outgoing.values() {
            at = at.min(o.deadline);
        }
        if let Some(t) = &self.transfer {
            at = at.min(t.deadline);
        }
        at
    }

    // ---- inputs ----

    /// Time passed: Raft ticks, deadlines, lease expiry, compaction.
    ///
    /// May produce: any output.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.set_now(now);
        let mut ticks = 0;
        while self.next_tick_at <= now && ticks < MAX_TICKS_PER_CALL {
            self.raft.tick();
            self.pump();
            self.next_tick_at += self.tick;
            ticks += 1;
        }
        if self.next_tick_at <= now {
            self.next_tick_at = now + self.tick;
        }
        self.expire(now);
        self.periodic(now);
        self.pump();
    }

    /// A message from member `from`.
    ///
    /// May produce: `Send`, `Persist`, `Reply` (applied writes, served reads), `Watch`.
    pub fn handle_peer_message(&mut self, now: Instant, from: NodeId, message: PeerMessage) {
        self.set_now(now);
        // A removed member never comes back. A sender this member does not know yet is one
        // added while it was down or before it joined (as etcd's Raft, it is heard: the log it
        // sends carries the change that adds it).
        if from == self.cfg.id || self.sm.members().is_removed(from) {
            return;
        }
        self.peers.heard(from, self.now, self.cfg.election_timeout);
        match message {
            // A snapshot is installed only from chunks the Node staged, never on a peer's say.
            PeerMessage::Raft(m) if matches!(m.body, raft::MessageBody::Snapshot { .. }) => {}
            PeerMessage::Raft(m) => {
                if m.from == from {
                    // Refusals are counted by Raft; a peer's bad message changes nothing.
                    let _ = self.raft.step(m);
                }
            }
            PeerMessage::SnapshotChunk(chunk) => self.receive_chunk(from, chunk),
            PeerMessage::SnapshotAck(ack) => self.receive_ack(from, &ack),
            PeerMessage::Forward { id, request } => self.answer_forward(from, id, request),
            PeerMessage::ForwardReply { id, reply } => self.complete_forward(id, reply),
        }
        self.pump();
    }

    /// Every persist up to `id` is durable, but in a log of the runtime's that it replays into
    /// the [`Backend`] on restart, not yet in the backend itself (a write-ahead log in front of
    /// a slower store). Raft may count it; the state machine's writes stay in memory until
    /// [`Node::handle_persisted`] confirms the same ids. Optional: a runtime without such a
    /// log calls only `handle_persisted`.
    ///
    /// May produce: `Send`, `Persist`, `Reply`, `Watch`, `MembersChanged`.
    pub fn handle_logged(&mut self, now: Instant, id: PersistId) {
        self.set_now(now);
        for seq in self.persister.logged(id) {
            self.raft.handle_persisted(seq);
            self.pump();
        }
    }

    /// The runtime made every persist up to `id` durable in the backend.
    ///
    /// May produce: `Send`, `Persist`, `Reply`, `Watch`, `MembersChanged`.
    pub fn handle_persisted(&mut self, now: Instant, id: PersistId) {
        self.set_now(now);
        for sealed in self.persister.confirm(id) {
            if let Some(seq) = sealed.raft_seq {
                self.raft.handle_persisted(seq);
                self.pump();
            }
            self.overlay.persisted(sealed.overlay_seq);
            self.durable_applied = self.durable_applied.max(sealed.applied);
            if let Some(meta) = sealed.installs_snapshot {
                self.snapshot_installed(meta.index);
            }
            if sealed.snapshot_staged {
                self.snapshot_staged();
            }
        }
        self.compact_log();
        self.pump();
    }

    /// A client request. `meta` says who asks (token, certificate name) and how.
    ///
    /// May produce: `Reply` (now or later), `VerifyPassword`, and through Raft any output.
    pub fn handle_client_request(
        &mut self,
        now: Instant,
        id: RequestId,
        meta: RequestMeta,
        request: Request,
    ) {
        self.set_now(now);
        if self.removed {
            self.reply(id, Err(ApiError::Stopped));
            return;
        }
        if meta.require_leader && !self.raft.leader().is_some() {
            self.reply(id, Err(ApiError::NoLeader));
            return;
        }
        if !self.published {
            let deadline = self.now + self.cfg.request_timeout;
            self.waiting_ready.push(Parked { id, meta, request, deadline });
            return;
        }
        self.route(id, &meta, request);
        self.pump();
    }

    /// The result of a [`Output::VerifyPassword`].
    ///
    /// May produce: `Reply`, and through Raft any output.
    pub fn handle_password_verified(&mut self, now: Instant, id: VerifyId, matches: bool) {
        self.set_now(now);
        match self.sm.auth.handle_password_verified(id, matches, &mut self.rng) {
            Some(crate::auth::Verdict::Propose { id: check, tag: _, request }) => {
                let internal = self.propose(
                    None,
                    pb::InternalRaftRequest { authenticate: Some(request), ..Default::default() },
                );
                match internal {
                    Some(internal) => {
                        self.authenticating.insert(internal, check);
                    }
                    None => self.sm.auth.abandon_authenticate(check),
                }
            }
            Some(crate::auth::Verdict::Fail { tag, error }) => {
                self.reply(RequestId(tag), Err(error))
            }
            None => {}
        }
        self.pump();
    }

    /// A message on Watch stream `stream` (opened implicitly by its first message).
    ///
    /// May produce: `Watch`.
    pub fn handle_watch_request(
        &mut self,
        now: Instant,
        stream: WatchStreamId,
        meta: RequestMeta,
        request: pb::WatchRequest,
    ) {
        self.set_now(now);
        let applied = self.applied;
        let ai = match self.sm.identify(now, &meta, applied) {
            Ok(crate::auth::Identified::Ready(ai)) => ai,
            // A token from a member ahead of us, or an invalid one: refuse this create.
            Ok(crate::auth::Identified::WaitForApplied(_)) | Err(_) => {
                let rev = self.sm.revision();
                let reason = ApiError::InvalidAuthToken.rpc_error_text();
                self.sm.kv.watches_mut().create_refused(stream, &reason, rev, now);
                self.pump();
                return;
            }
        };
        self.sm.watch_request(now, stream, &ai, request);
        self.pump();
    }

    /// Watch stream `stream` ended: its watchers go.
    pub fn handle_watch_closed(&mut self, now: Instant, stream: WatchStreamId) {
        self.set_now(now);
        self.sm.kv.watches_mut().close_stream(stream);
    }

    /// Storage reports its size (for Status and the space quota).
    pub fn handle_storage_size(&mut self, now: Instant, size_bytes: u64, in_use_bytes: u64) {
        self.set_now(now);
        self.sm.size_bytes = i64::try_from(size_bytes).unwrap_or(i64::MAX);
        self.sm.size_in_use_bytes = i64::try_from(in_use_bytes).unwrap_or(i64::MAX);
    }

    /// The runtime's storage ran out of disk space (`full`), or has space again. While full,
    /// writes that grow the store are refused with etcd's "database space exceeded" and the
    /// NOSPACE alarm is proposed (it is committed once storage can write again, and stays
    /// until an operator disarms it, as with the quota).
    ///
    /// May produce: through the alarm's proposal, any output Raft does.
    pub fn handle_storage_full(&mut self, now: Instant, full: bool) {
        self.set_now(now);
        self.sm.disk_full = full;
        if full {
            self.raise_no_space();
        }
        self.pump();
    }

    // ---- commands ----

    /// Starts an election now (tests and operators).
    pub fn campaign(&mut self, now: Instant) {
        self.set_now(now);
        self.raft.campaign();
        self.pump();
    }

    // ---- internals ----

    fn set_now(&mut self, now: Instant) {
        // Time never goes backwards for the core, whatever the driver passes.
        self.now = self.now.max(now);
    }

    fn push(&mut self, output: Output) {
        debug_assert!(
            self.outputs.len() < MAX_QUEUED_OUTPUTS,
            "the driver is not draining Node::poll_output"
        );
        self.outputs.push_back(output);
    }

    fn reply(&mut self, id: RequestId, mut result: Result<Response, ApiError>) {
        if let Ok(response) = &mut result {
            fill_header(response, &self.response_header());
        }
        self.push(Output::Reply { id, result });
    }

    fn next_internal_id(&mut self) -> u64 {
        self.next_internal = (self.next_internal + 1) & ((1 << 48) - 1);
        self.id_prefix | self.next_internal
    }

    /// Hands collected proposals to Raft.
    fn flush(&mut self) {
        if !self.queued.is_empty() {
            let (ids, batch): (Vec<u64>, Vec<raft::Payload>) =
                core::mem::take(&mut self.queued).into_iter().unzip();
            if let Err(e) = self.raft.propose_batch(batch) {
                let error = propose_error(e);
                for internal in ids {
                    self.answer(internal, Err(error));
                }
            }
            self.pump();
        }
        if let Some(ctx) = self.reads.start_round(self.now) {
            self.raft.read_index(ctx);
            self.pump();
        }
    }

    /// Queues an internal request for proposal; `client` is answered when it is applied.
    /// Returns the request's internal id, or `None` when it was refused at once.
    fn propose(
        &mut self,
        client: Option<RequestId>,
        mut request: pb::InternalRaftRequest,
    ) -> Option<u64> {
        let internal = self.next_internal_id();
        let header = request.header.get_or_insert_with(Default::default);
        header.id = internal;
        let len = prost::Message::encoded_len(&request);
        if len > self.cfg.max_request_bytes {
            if let Some(id) = client {
                self.reply(id, Err(ApiError::RequestTooLarge));
            }
            return None;
        }
        if let Some(id) = client {
            if self.pending.len() >= self.cfg.max_pending_requests {
                self.reply(id, Err(ApiError::TooManyRequests));
                return None;
            }
            let deadline = self.now + self.cfg.request_timeout;
            self.pending.insert(internal, PendingWrite { to: ReplyTo::Client(id), deadline });
            self.deadlines.insert((deadline, internal));
        }
        self.queued.push((internal, encode_payload(&request, len)));
        Some(internal)
    }

    /// Drains Raft and acts on each output.
    fn pump(&mut self) {
        while let Some(output) = self.raft.poll_output() {
            match output {
                RaftOutput::Send(m) => {
                    let to = m.to;
                    self.push(Output::Send { to, message: PeerMessage::Raft(m) });
                }
                RaftOutput::Persist(req) => self.persister.add_raft(&req),
                RaftOutput::Apply(entries) => self.apply_entries(entries),
                RaftOutput::ReadReady { ctx, index } => self.reads.confirmed(ctx, index),
                RaftOutput::ReadFailed { ctx, reason: _ } => {
                    // Whatever the reason (no leader yet, leader changed, too many pending),
                    // the reads wait for a later round until their deadline.
                    let retry_at = self.now + self.tick;
                    self.reads.failed(ctx, retry_at);
                }
                RaftOutput::SendSnapshot { to } => self.start_snapshot(to),
                RaftOutput::RoleChanged { role, term: _, leader } => {
                    self.role_changed(role, leader)
                }
            }
        }
        self.serve_ready_reads();
        self.check_published();
        self.unpark();
        for (internal, result) in core::mem::take(&mut self.sm.late_answers) {
            self.answer(internal, result);
        }
        let header = self.response_header();
        while let Some((stream, response)) = self.sm.kv.poll_watch_output(&header) {
            self.push(Output::Watch { stream, response });
        }
    }

    fn apply_entries(&mut self, entries: Vec<raft::Entry>) {
        let Some(last) = entries.last().map(|e| (e.index, e.term)) else { return };
        for entry in entries {
            match entry.kind {
                EntryKind::Normal if entry.data.is_empty() => {}
                EntryKind::Normal => {
                    let applied = self.sm.apply_request(
                        apply::ApplyEnv {
                            backend: self.backend.as_ref(),
                            overlay: &mut self.overlay,
                            now: self.now,
                        },
                        entry.index,
                        &entry.data,
                    );
                    if let Some((internal, result)) = applied {
                        self.answer(internal, result);
                    }
                }
                EntryKind::ConfChange => self.apply_conf_change(&entry),
            }
        }
        state::record_applied(&mut self.overlay, last.0, last.1);
        self.applied = last.0;
        self.raft.advance_applied(last.0);
    }

    fn answer(&mut self, internal: u64, result: Result<Response, ApiError>) {
        if let Some(p) = self.pending.remove(&internal) {
            self.deadlines.remove(&(p.deadline, internal));
            self.send_answer(p.to, result);
        } else if let Some(check) = self.authenticating.remove(&internal) {
            let result = match result {
                Ok(Response::Authenticate(r)) => Ok(r),
                Ok(_) => Err(ApiError::AuthFailed),
                Err(e) => Err(e),
            };
            match self.sm.auth.handle_authenticate_applied(check, result) {
                Some(crate::auth::Completion::Reply { tag, result }) => {
                    self.reply(RequestId(tag), result.map(Response::Authenticate));
                }
                Some(crate::auth::Completion::Verify(verify)) => {
                    self.push(Output::VerifyPassword(verify));
                }
                None => {}
            }
        }
    }

    fn apply_conf_change(&mut self, entry: &raft::Entry) {
        let Some(cc) = ConfChange::decode(&entry.data) else { return };
        let Ok((internal, change)) = codec::decode::<(u64, MemberChange)>(&cc.context) else {
            // Raft-level changes without a member change (leaving a joint configuration).
            if let Ok(conf) = self.raft.apply_conf_change(&cc) {
                state::record_conf_state(&mut self.overlay, &conf);
            }
            return;
        };
        let verdict = self.sm.members().validate(&change);
        let result = match verdict {
            Ok(()) => match self.raft.apply_conf_change(&cc) {
                Ok(conf) => {
                    state::record_conf_state(&mut self.overlay, &conf);
                    let _ = self.sm.apply_member_change(&change, &mut self.overlay);
                    self.push(Output::MembersChanged {
                        members: self.sm.members().members().cloned().collect(),
                    });
                    if let MemberChange::Remove(id) = change {
                        if id == self.cfg.id {
                            let members: Vec<Member> =
                                self.sm.members().members().cloned().collect();
                            self.complete_own_removal(&members);
                            self.removed = true;
                            self.push(Output::Removed);
                        }
                    }
                    Ok(())
                }
                Err(_) => Err(ApiError::MemberBadUrls),
            },
            Err(e) => Err(ApiError::from(e)),
        };
        if internal != 0 {
            let response = result.map(|()| self.sm.member_response(&change));
            self.answer(internal, response);
        }
    }

    fn serve_ready_reads(&mut self) {
        let ready = self.reads.ready(self.applied);
        for read in ready {
            let result =
                self.sm.serve_read(self.backend.as_ref(), &self.overlay, &read.user, &read.request);
            self.reply(read.id, result);
        }
    }

    fn role_changed(&mut self, role: Role, leader: NodeId) {
        if role == Role::Leader {
            self.sm.kv.lessor_mut().promote(self.now, self.cfg.election_timeout);
            if let Some(c) = self.sm.auto_compactor.as_mut() {
                c.resume();
            }
        } else {
            self.sm.kv.lessor_mut().demote();
            if let Some(c) = self.sm.auto_compactor.as_mut() {
                c.pause();
            }
        }
        if role != Role::Leader {
            // Snapshot transfers to followers stop; a new leader starts its own.
            self.outgoing.clear();
        }
        if let Some(t) = &self.transfer {
            if leader == t.target {
                let id = t.id;
                self.transfer = None;
                self.reply(id, Ok(Response::MoveLeader(Default::default())));
            }
        }
    }
}

/// Fills a response's header as etcd does: cluster, member and term always; the revision only
/// where etcd sets one (the KV store's, unless the response already carries its own). Alarm
/// responses have no header; membership responses have no revision.
fn fill_header(response: &mut Response, header: &pb::ResponseHeader) {
    let keeps_revision = !matches!(
        response,
        Response::MemberAdd(_)
            | Response::MemberRemove(_)
            | Response::MemberUpdate(_)
            | Response::MemberList(_)
            | Response::MemberPromote(_)
    );
    if let Response::Alarm(alarm) = response {
        alarm.header = None;
        return;
    }
    let h = response.header_mut();
    h.cluster_id = header.cluster_id;
    h.member_id = header.member_id;
    h.raft_term = header.raft_term;
    if !keeps_revision {
        h.revision = 0;
    } else if h.revision == 0 {
        h.revision = header.revision;
    }
}

fn raft_config(cfg: &NodeConfig) -> RaftConfig {
    let mut r = RaftConfig::new(cfg.id);
    r.election_ticks = cfg.election_ticks();
    r.heartbeat_ticks = 1;
    r.pre_vote = cfg.pre_vote;
    r.check_quorum = true;
    // A batch of proposals may hold many requests of up to max_request_bytes each.
    r.max_proposal_bytes = (cfg.max_request_bytes as u64).saturating_mul(64);
    r.read_only =
        if cfg.lease_reads { raft::ReadOnlyMode::LeaseBased } else { raft::ReadOnlyMode::Safe };
    r.seed = cfg.seed;
    r
}

/// Encodes `request` (`len` bytes) straight into a shared payload: one allocation, no copy.
fn encode_payload(request: &pb::InternalRaftRequest, len: usize) -> raft::Payload {
    let mut payload: raft::Payload = core::iter::repeat_n(0u8, len).collect();
    let mut out: &mut [u8] = alloc::sync::Arc::get_mut(&mut payload).expect("a new payload");
    prost::Message::encode(request, &mut out).expect("the payload has the encoded length");
    payload
}

fn propose_error(e: raft::ProposeError) -> ApiError {
    use raft::ProposeError as P;
    match e {
        P::NotLeader { .. } => ApiError::NoLeader,
        P::TooLarge => ApiError::RequestTooLarge,
        P::UncommittedBytesExceeded => ApiError::TooManyRequests,
        P::TransferInProgress | P::LeaderNotReady => ApiError::LeaderChanged,
        P::ConfChangePending => ApiError::Unhealthy,
        P::InvalidConfChange(_) => ApiError::MemberBadUrls,
    }
}

#[cfg(test)]
mod tests;
