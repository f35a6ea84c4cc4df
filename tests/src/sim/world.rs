//! The world: a virtual clock and event queue driving every member's `Node`, the network, the
//! disks and the clients. The simulator is the runtime: after each input it drains the node's
//! outputs and schedules their effects (sends after network delay; persists go to the disk's
//! log, and once logged — after an fsync, or at once for an unsynced one behind logged ones —
//! `handle_logged` and their `then_send` follow, and after a store lag they are applied to the
//! member's `MemBackend` and `handle_persisted` follows; replies back to the client; the next
//! wake-up from `poll_timeout`).

use crate::sim::check::Violation;
use crate::sim::checks::Checks;
use crate::sim::client::{ClientError, InFlight, Purpose};
use crate::sim::disk::DiskConfig;
use crate::sim::history::History;
use crate::sim::member::{MemberState, Slot};
use crate::sim::net::{LinkConfig, Network};
use crate::sim::queue::EventQueue;
use crate::sim::trace::Trace;
use crate::sim::{Failure, SimConfig};
use oxcd_core::ids::NodeId;
use oxcd_core::membership::Member;
use oxcd_core::node::{InitialCluster, Node, NodeConfig, Output, PeerMessage, RequestId, Response};
use oxcd_core::rng::Rng;
use oxcd_core::time::Instant;
use std::collections::BTreeMap;
use std::time::Duration;

/// Something that happens at an instant.
#[derive(Debug)]
pub(crate) enum Event {
    /// A peer message reaches `to` (dropped if `to` restarted since it was sent).
    Deliver { from: NodeId, to: NodeId, incarnation: u64, message: PeerMessage },
    /// The running fsync of `member` finished.
    Fsync { member: NodeId, incarnation: u64 },
    /// `member`'s store takes what its disk logged.
    Stored { member: NodeId, incarnation: u64 },
    /// The wake-up `member` asked for.
    Timer { member: NodeId, incarnation: u64, at: Instant },
    /// A client request reaches its member.
    Arrive { request: u64 },
    /// A member's answer reaches the client.
    Answer { request: u64, result: Result<Response, oxcd_core::ApiError> },
    /// The client stops waiting.
    ClientTimeout { request: u64 },
    /// A workload session issues its next operation.
    Workload { session: usize },
    /// The fault injector acts.
    Nemesis,
    /// Periodic state comparison across members.
    Sample,
    /// A watch request reaches its member.
    WatchArrive { stream: u64, request: oxcd_proto::etcdserverpb::WatchRequest },
    /// A watch response reaches its client.
    WatchTraffic { stream: u64, response: oxcd_proto::etcdserverpb::WatchResponse },
    /// A watcher without a stream opens one.
    WatchReconnect { watcher: usize },
    /// An added member's process starts.
    Start { member: NodeId },
    /// A removed member that did not stop by itself is stopped by its operator.
    Retire { member: NodeId },
    /// Member `member`'s run `incarnation` crashes (armed by [`Sim::crash_on_next_persist`]).
    Crash { member: NodeId, incarnation: u64 },
}

/// A simulated cluster. See the module docs of [`crate::sim`] for a tour.
pub struct Sim {
    pub(crate) seed: u64,
    pub(crate) cfg: SimConfig,
    pub(crate) queue: EventQueue<Event>,
    pub(crate) net: Network,
    pub(crate) members: BTreeMap<NodeId, Slot>,
    /// Client-side randomness (latency, workload choices).
    pub(crate) rng: Rng,
    pub(crate) history: History,
    pub(crate) in_flight: BTreeMap<u64, InFlight>,
    /// Answers of requests someone waits for synchronously.
    pub(crate) done: BTreeMap<u64, Result<Response, ClientError>>,
    pub(crate) next_request: u64,
    pub(crate) checks: Checks,
    pub(crate) trace: Trace,
    pub(crate) violation: Option<Violation>,
    /// The next host number for an added member.
    pub(crate) next_host: u64,
    /// Rotates the members the scenario client starts with.
    pub(crate) client_cursor: u64,
    pub(crate) events: u64,
    pub(crate) workload: Option<crate::sim::workload::Workload>,
    pub(crate) nemesis: Option<crate::sim::nemesis::Nemesis>,
    pub(crate) watches: crate::sim::watch::Watches,
    /// Report violations through results only (seed runs), never by panicking.
    pub(crate) quiet: bool,
    /// Wake-ups postponed because `poll_timeout` stayed in the past (see
    /// [`SimConfig::strict_timers`]).
    pub(crate) stuck_timers: u64,
}

/// The cluster id every simulated member carries.
pub const CLUSTER_ID: u64 = 0x0c1d_5e1d;

/// Mixes a seed with a stream number into an independent seed.
#[must_use]
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    Rng::from_seed(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)).next_u64()
}

impl Sim {
    /// A cluster of `members` founders (ids 1..=members), all started, with default settings.
    #[must_use]
    pub fn new(seed: u64, members: u64) -> Sim {
        Sim::with_config(seed, SimConfig { members, ..SimConfig::default() })
    }

    /// A cluster as `cfg` describes, all founders started.
    #[must_use]
    pub fn with_config(seed: u64, cfg: SimConfig) -> Sim {
        let mut sim = Sim {
            seed,
            queue: EventQueue::new(),
            net: Network::new(derive_seed(seed, 1), cfg.link),
            members: BTreeMap::new(),
            rng: Rng::from_seed(derive_seed(seed, 2)),
            history: History::new(),
            in_flight: BTreeMap::new(),
            done: BTreeMap::new(),
            next_request: 0,
            checks: Checks::default(),
            trace: Trace::new(cfg.trace_events),
            violation: None,
            next_host: cfg.members + 1,
            client_cursor: 0,
            events: 0,
            workload: None,
            nemesis: None,
            watches: crate::sim::watch::Watches::default(),
            quiet: false,
            stuck_timers: 0,
            cfg,
        };
        let founders: Vec<Member> =
            (1..=sim.cfg.members).map(|i| member_of(&sim.member_config(NodeId(i), i))).collect();
        for m in &founders {
            let config = sim.member_config(m.id, m.id.0);
            sim.insert_slot(m.id, config, InitialCluster::New(founders.clone()));
        }
        for m in founders {
            sim.start(m.id);
        }
        sim.schedule_sample();
        sim
    }

    /// The configuration of member `id`, reached at host `member-{host}`.
    pub(crate) fn member_config(&self, id: NodeId, host: u64) -> NodeConfig {
        let mut c = NodeConfig::new(id, CLUSTER_ID, &format!("m{host}"));
        c.peer_urls = vec![peer_url(host)];
        c.client_urls = vec![format!("http://member-{host}:2379")];
        c.heartbeat_interval = self.cfg.heartbeat;
        c.election_timeout = self.cfg.election_timeout;
        c.request_timeout = self.cfg.request_timeout;
        (self.cfg.tune)(&mut c);
        c
    }

    pub(crate) fn insert_slot(&mut self, id: NodeId, config: NodeConfig, initial: InitialCluster) {
        let disk_seed = derive_seed(self.seed, 1000 + id.0);
        self.members.insert(id, Slot::new(id, config, initial, disk_seed, self.cfg.disk));
    }

    // ---- the loop ----

    /// The seed this world was built from.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time now.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.queue.now()
    }

    /// Events processed so far.
    #[must_use]
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Wake-ups postponed because a member's `poll_timeout` stayed in the past after
    /// `handle_timeout` (only without [`SimConfig::strict_timers`]).
    #[must_use]
    pub fn stuck_timers(&self) -> u64 {
        self.stuck_timers
    }

    /// The first invariant violation found, if any (the world stops at it).
    #[must_use]
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// Runs every event up to `until`.
    ///
    /// # Errors
    /// An invariant broke.
    pub fn try_run_until(&mut self, until: Instant) -> Result<(), Box<Failure>> {
        while self.violation.is_none() {
            let Some((_, event)) = self.queue.pop_until(until) else { break };
            self.handle(event);
        }
        self.failure()
    }

    /// Runs for `d` of virtual time.
    ///
    /// # Errors
    /// An invariant broke.
    pub fn try_run_for(&mut self, d: Duration) -> Result<(), Box<Failure>> {
        let until = self.now() + d;
        self.try_run_until(until)
    }

    /// Runs until `done` holds (checked after every event) or `timeout` passes; true if it held.
    ///
    /// # Errors
    /// An invariant broke.
    pub fn try_run_while(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Result<bool, Box<Failure>> {
        let until = self.now() + timeout;
        loop {
            if done(self) {
                return Ok(true);
            }
            if self.violation.is_some() {
                return self.failure().map(|()| false);
            }
            match self.queue.pop_until(until) {
                Some((_, event)) => self.handle(event),
                None => return self.failure().map(|()| done(self)),
            }
        }
    }

    /// Runs for `d`; panics with a report if an invariant breaks.
    pub fn run_for(&mut self, d: Duration) -> &mut Self {
        if let Err(f) = self.try_run_for(d) {
            panic!("{f}");
        }
        self
    }

    /// The failure report, if an invariant broke.
    pub(crate) fn failure(&self) -> Result<(), Box<Failure>> {
        match &self.violation {
            None => Ok(()),
            Some(v) => Err(Box::new(Failure {
                seed: self.seed,
                violation: v.clone(),
                trace: self.trace.to_string(),
                replay: None,
            })),
        }
    }

    pub(crate) fn fail(&mut self, v: Violation) {
        if self.violation.is_none() {
            let at = self.now();
            self.trace.record(at, || format!("VIOLATION {v}"));
            self.violation = Some(v);
        }
    }

    fn handle(&mut self, event: Event) {
        self.events += 1;
        let now = self.now();
        match event {
            Event::Deliver { from, to, incarnation, message } => {
                let Some(slot) = self.members.get_mut(&to) else { return };
                if slot.incarnation != incarnation || !slot.is_running() {
                    return;
                }
                self.trace.record(now, || format!("deliver {from}→{to} {message}"));
                if let Some(node) = slot.node.as_mut() {
                    node.handle_peer_message(now, from, message);
                }
                self.drain(to);
            }
            Event::Fsync { member, incarnation } => self.fsync_done(member, incarnation),
            Event::Stored { member, incarnation } => self.stored(member, incarnation),
            Event::Timer { member, incarnation, at } => {
                let Some(slot) = self.members.get_mut(&member) else { return };
                if slot.incarnation != incarnation || slot.timer_at != at || !slot.is_running() {
                    return;
                }
                slot.timer_at = Instant::MAX;
                if let Some(node) = slot.node.as_mut() {
                    node.handle_timeout(now);
                }
                self.drain(member);
            }
            Event::Arrive { request } => self.arrive(request),
            Event::Answer { request, result } => {
                self.finish(request, result.map_err(ClientError::Api))
            }
            Event::ClientTimeout { request } => {
                if self.in_flight.contains_key(&request) {
                    self.trace.record(now, || format!("client gives up on request {request}"));
                    self.finish(request, Err(ClientError::TimedOut));
                }
            }
            Event::Workload { session } => self.workload_step(session),
            Event::Nemesis => self.nemesis_step(),
            Event::Sample => {
                self.sample();
                self.schedule_sample();
            }
            Event::WatchArrive { stream, request } => self.watch_arrive(stream, request),
            Event::WatchTraffic { stream, response } => self.watch_traffic(stream, response),
            Event::WatchReconnect { watcher } => self.watch_reconnect(watcher),
            Event::Start { member } => self.start(member),
            Event::Crash { member, incarnation } => {
                if self.members.get(&member).is_some_and(|s| s.incarnation == incarnation) {
                    self.trace.record(now, || format!("m{member} crashes with writes in flight"));
                    self.stop(member, MemberState::Crashed);
                }
            }
            Event::Retire { member } => {
                if self.members.get(&member).is_some_and(|s| s.state != MemberState::Removed) {
                    self.trace.record(now, || format!("m{member} retired by its operator"));
                    self.stop(member, MemberState::Removed);
                }
            }
        }
    }

    fn schedule_sample(&mut self) {
        if !self.cfg.sample_interval.is_zero() {
            self.queue.schedule_in(self.cfg.sample_interval, Event::Sample);
        }
    }

    // ---- member inputs and outputs ----

    /// Drains `id`'s outputs, carries them out, checks invariants, reschedules its timer.
    pub(crate) fn drain(&mut self, id: NodeId) {
        let now = self.now();
        let mut removed = false;
        loop {
            let mut outputs = Vec::new();
            {
                let Some(node) = self.members.get_mut(&id).and_then(|s| s.node.as_mut()) else {
                    break;
                };
                while let Some(out) = node.poll_output() {
                    outputs.push(out);
                }
            }
            if outputs.is_empty() {
                break;
            }
            for out in outputs {
                removed |= self.carry_out(id, out);
            }
        }
        self.observe(id);
        if removed {
            self.trace.record(now, || format!("m{id} removed from the cluster: process exits"));
            self.stop(id, MemberState::Removed);
            return;
        }
        self.reschedule_timer(id);
    }

    /// Carries out one output of member `id`; true for `Removed`.
    fn carry_out(&mut self, id: NodeId, out: Output) -> bool {
        let now = self.now();
        match out {
            Output::Send { to, message } => self.send(id, to, message),
            Output::Persist { id: pid, batch, then_send, sync } => {
                self.persist(id, pid, batch, then_send, sync);
            }
            Output::Reply { id: rid, result } => self.member_replied(id, rid, result),
            Output::Watch { stream, response } => self.watch_output(id, stream, response),
            Output::VerifyPassword(v) => {
                // The simulated clients never authenticate; a check that shows up anyway fails,
                // as a wrong password would (the drain loop picks up what it produces).
                if let Some(node) = self.members.get_mut(&id).and_then(|s| s.node.as_mut()) {
                    node.handle_password_verified(now, v.id, false);
                }
            }
            Output::MembersChanged { members } => {
                self.trace.record(now, || {
                    let ids: Vec<String> = members
                        .iter()
                        .map(|m| format!("{}{}", m.id, if m.is_learner { "(learner)" } else { "" }))
                        .collect();
                    format!("m{id} members now [{}]", ids.join(", "))
                });
            }
            Output::Removed => return true,
        }
        false
    }

    fn reschedule_timer(&mut self, id: NodeId) {
        let now = self.now();
        let Some(slot) = self.members.get_mut(&id) else { return };
        let Some(node) = slot.node.as_ref() else { return };
        let at = node.poll_timeout();
        if at == slot.timer_at {
            return;
        }
        let mut at = at;
        if at <= now {
            slot.timers_at_same_instant += 1;
            if slot.timers_at_same_instant > 3 && !self.cfg.strict_timers {
                // A runtime that sleeps at least 10 ms.
                self.stuck_timers += 1;
                slot.timers_at_same_instant = 0;
                at = now + Duration::from_millis(10);
            } else if slot.timers_at_same_instant > 1000 {
                let v = Violation::new(
                    "driver contract",
                    now,
                    format!("member {id}: poll_timeout stays at {at} after 1000 handle_timeout calls at {now}"),
                );
                self.fail(v);
                return;
            }
        } else {
            slot.timers_at_same_instant = 0;
        }
        slot.timer_at = at;
        if at != Instant::MAX {
            let incarnation = slot.incarnation;
            self.queue.schedule_at(at, Event::Timer { member: id, incarnation, at });
        }
    }

    pub(crate) fn send(&mut self, from: NodeId, to: NodeId, message: PeerMessage) {
        let now = self.now();
        let Some(target) = self.members.get(&to) else {
            self.trace.record(now, || format!("drop {from}→{to} (no such member) {message}"));
            return;
        };
        let incarnation = target.incarnation;
        let forwarded_proposal = matches!(
            &message,
            PeerMessage::Raft(m) if matches!(m.body, oxcd_core::raft::MessageBody::Propose { .. })
        );
        let fates = self.net.route(from, to, !forwarded_proposal);
        if fates == [None, None] {
            self.trace.record(now, || format!("lost {from}→{to} {message}"));
            return;
        }
        match fates {
            [Some(d), None] | [None, Some(d)] => {
                self.queue.schedule_in(d, Event::Deliver { from, to, incarnation, message });
            }
            [Some(a), Some(b)] => {
                self.queue.schedule_in(
                    a,
                    Event::Deliver { from, to, incarnation, message: message.clone() },
                );
                self.queue.schedule_in(b, Event::Deliver { from, to, incarnation, message });
            }
            [None, None] => {}
        }
    }

    fn observe(&mut self, id: NodeId) {
        if self.violation.is_some() {
            return;
        }
        let now = self.now();
        let Some(slot) = self.members.get(&id) else { return };
        let Some(node) = slot.node.as_ref() else { return };
        let others = self.members.values().filter(|s| s.id != id).filter_map(|s| s.node.as_ref());
        if let Err(v) = self.checks.after_input(now, slot.incarnation, node, others) {
            self.fail(v);
        }
    }

    // ---- member lifecycle ----

    /// Starts (or restarts) member `id`'s process on its surviving storage.
    pub(crate) fn start(&mut self, id: NodeId) {
        let now = self.now();
        let seed = self.seed;
        let Some(slot) = self.members.get_mut(&id) else { return };
        if matches!(slot.state, MemberState::Running | MemberState::Removed) {
            return;
        }
        slot.incarnation += 1;
        let mut config = slot.config.clone();
        config.seed = derive_seed(seed, (id.0 << 20) ^ slot.incarnation);
        let backend = Box::new(slot.backend.clone());
        match Node::new(config, backend, slot.initial.clone(), now) {
            Ok(node) => {
                slot.node = Some(node);
                slot.state = MemberState::Running;
                slot.timer_at = Instant::MAX;
                slot.timers_at_same_instant = 0;
                let inc = slot.incarnation;
                self.trace.record(now, || format!("m{id} starts (run {inc})"));
                self.drain(id);
            }
            Err(e) => {
                let v = Violation::new(
                    "restart",
                    now,
                    format!("member {id} cannot start from its storage: {e}"),
                );
                self.fail(v);
            }
        }
    }

    /// Stops member `id`'s process: its memory and every write not yet durable are lost; what
    /// its log holds durably is replayed into its store.
    pub(crate) fn stop(&mut self, id: NodeId, state: MemberState) {
        let now = self.now();
        let Some(slot) = self.members.get_mut(&id) else { return };
        if slot.node.is_none() && slot.state == state {
            return;
        }
        slot.node = None;
        slot.crash_on_persist = false;
        // What the log holds durably and the store does not yet is replayed into the store
        // (before any restart reads it); the rest is gone.
        let replayed = slot.disk.crash();
        let replayed_upto = replayed.last().map(|(pid, _)| pid.0);
        for (_, batch) in replayed {
            slot.backend.apply(&batch);
        }
        slot.unlogged.clear();
        slot.installs.clear();
        slot.store_scheduled = false;
        slot.incarnation += 1;
        slot.timer_at = Instant::MAX;
        slot.state = state;
        if state == MemberState::Crashed {
            slot.crashes += 1;
        }
        self.trace.record(now, || match replayed_upto {
            Some(upto) => {
                format!("m{id} stops ({state:?}); its log is replayed up to persist {upto}")
            }
            None => format!("m{id} stops ({state:?})"),
        });
        // Clients connected to it lose their connections.
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.member == id && f.delivered)
            .map(|(r, _)| *r)
            .collect();
        for request in lost {
            self.finish(request, Err(ClientError::ConnectionLost));
        }
        self.watch_member_stopped(id);
    }

    // ---- clients ----

    /// Sends `request` to `member` on behalf of a client; returns the request id.
    pub(crate) fn submit(
        &mut self,
        member: NodeId,
        request: oxcd_core::node::Request,
        purpose: Purpose,
    ) -> u64 {
        self.next_request += 1;
        let rid = self.next_request;
        let now = self.now();
        self.trace.record(now, || format!("client request {rid} → m{member}: {}", request.name()));
        let delay = self.client_delay();
        self.in_flight
            .insert(rid, InFlight { member, request: Some(request), purpose, delivered: false });
        self.queue.schedule_in(delay, Event::Arrive { request: rid });
        self.queue.schedule_in(self.cfg.client_timeout, Event::ClientTimeout { request: rid });
        rid
    }

    pub(crate) fn client_delay(&mut self) -> Duration {
        let jitter = crate::sim::net::draw(&mut self.rng, self.cfg.client_latency);
        self.cfg.client_latency + jitter
    }

    fn arrive(&mut self, rid: u64) {
        let now = self.now();
        let Some(f) = self.in_flight.get_mut(&rid) else { return };
        let member = f.member;
        let running = self.members.get(&member).is_some_and(Slot::is_running);
        if !running {
            self.finish(rid, Err(ClientError::Refused));
            return;
        }
        f.delivered = true;
        let Some(request) = f.request.take() else { return };
        let meta = self.cfg.request_meta(matches!(f.purpose, Purpose::Kv { .. }));
        self.trace.record(now, || format!("m{member} gets client request {rid}"));
        if let Some(node) = self.members.get_mut(&member).and_then(|s| s.node.as_mut()) {
            node.handle_client_request(now, RequestId(rid), meta, request);
        }
        self.drain(member);
    }

    fn member_replied(
        &mut self,
        member: NodeId,
        rid: RequestId,
        result: Result<Response, oxcd_core::ApiError>,
    ) {
        let now = self.now();
        // Responses of the KV service carry the revision they saw (etcd leaves it out of the
        // cluster service's, for one).
        let kv = matches!(
            result,
            Ok(Response::Range(_) | Response::Put(_) | Response::DeleteRange(_) | Response::Txn(_))
        );
        if let (Ok(r), Some(slot), true) = (&result, self.members.get(&member), kv) {
            if let (Some(h), Some(node)) = (r.header(), slot.node.as_ref()) {
                let checked = self.checks.revisions.observe_reply(
                    now,
                    member,
                    slot.incarnation,
                    h.revision,
                    node.revision(),
                );
                if let Err(v) = checked {
                    self.fail(v);
                }
            }
        }
        let probe = self.in_flight.get(&rid.0).is_some_and(|f| matches!(f.purpose, Purpose::Probe));
        if probe {
            self.finish(rid.0, result.map_err(ClientError::Api));
            return;
        }
        self.trace.record(now, || match &result {
            Ok(r) => format!(
                "m{member} answers request {} ok rev={}",
                rid.0,
                r.header().map_or(0, |h| h.revision)
            ),
            Err(e) => format!("m{member} answers request {} error: {e}", rid.0),
        });
        let delay = self.client_delay();
        self.queue.schedule_in(delay, Event::Answer { request: rid.0, result });
    }

    // ---- network and disk controls ----

    /// Cuts both directions between every member of `a` and every member of `b`.
    pub fn partition(&mut self, a: &[u64], b: &[u64]) -> &mut Self {
        let (a, b) = (ids(a), ids(b));
        self.trace.record(self.now(), || format!("partition {a:?} | {b:?}"));
        self.net.partition(&a, &b);
        self
    }

    /// Cuts `member` off from every other member.
    pub fn isolate(&mut self, member: u64) -> &mut Self {
        let others: Vec<u64> = self.members.keys().map(|i| i.0).filter(|&i| i != member).collect();
        self.partition(&[member], &others)
    }

    /// Cuts only the directions from `from` to `to` (`to` stops hearing `from`).
    pub fn cut_one_way(&mut self, from: &[u64], to: &[u64]) -> &mut Self {
        let (f, t) = (ids(from), ids(to));
        self.trace.record(self.now(), || format!("cut one way {f:?} → {t:?}"));
        self.net.cut_one_way(&f, &t);
        self
    }

    /// Repairs every cut and puts every link back to the configured default.
    pub fn heal(&mut self) -> &mut Self {
        self.trace.record(self.now(), || "heal the network".to_string());
        self.net.heal();
        self.net.reset_links();
        self.net.set_default(self.cfg.link);
        self
    }

    /// Sets how every link behaves from now on (until `heal`).
    pub fn set_network(&mut self, link: LinkConfig) -> &mut Self {
        self.net.set_default(link);
        self
    }

    /// Sets how the direction `from → to` behaves (until `heal`).
    pub fn set_link(&mut self, from: u64, to: u64, link: LinkConfig) -> &mut Self {
        self.net.set_link(NodeId(from), NodeId(to), link);
        self
    }

    /// Sets how `member`'s disk behaves from now on.
    pub fn set_disk(&mut self, member: u64, disk: DiskConfig) -> &mut Self {
        if let Some(slot) = self.members.get_mut(&NodeId(member)) {
            slot.disk.set_config(disk);
        }
        self
    }

    /// Crashes `member`: its process and every write not yet durable are gone.
    pub fn crash(&mut self, member: u64) -> &mut Self {
        self.stop(NodeId(member), MemberState::Crashed);
        self
    }

    /// Crashes `member` right after it next hands a `Persist` to its disk: inside the window
    /// where what it sent is out but what it wrote is not durable.
    pub fn crash_on_next_persist(&mut self, member: u64) -> &mut Self {
        if let Some(slot) = self.members.get_mut(&NodeId(member)) {
            slot.crash_on_persist = true;
        }
        self
    }

    /// Restarts a crashed `member` on what its storage kept.
    pub fn restart(&mut self, member: u64) -> &mut Self {
        self.start(NodeId(member));
        self
    }
}

fn ids(v: &[u64]) -> Vec<NodeId> {
    v.iter().map(|&i| NodeId(i)).collect()
}

/// The peer URL of host `member-{host}`.
#[must_use]
pub fn peer_url(host: u64) -> String {
    format!("http://member-{host}:2380")
}

pub(crate) fn member_of(c: &NodeConfig) -> Member {
    Member {
        id: c.id,
        name: c.name.clone(),
        peer_urls: c.peer_urls.clone(),
        client_urls: c.client_urls.clone(),
        is_learner: false,
    }
}
