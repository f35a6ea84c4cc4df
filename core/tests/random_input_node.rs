//! Randomized input for whole members: 1- and 3-member clusters of real `Node`s, driven by an
//! in-test runtime (instant disk, in-order network, virtual time), are fed seeded sequences of
//! hostile input, and must neither panic nor lose consistency.
//!
//! Each seed runs three phases:
//! 1. **Start**: elect a leader, write a few keys.
//! 2. **Chaos**: a few hundred random steps, each one of: adversarial peer messages (unknown
//!    senders, senders claiming to be the receiver, mismatched `from`, stale terms, snapshot
//!    chunks with garbage records, forged snapshot acks and forward replies), byte garbage and
//!    mutated frames through `PeerFrameDecoder`, dropped / duplicated / replayed real messages,
//!    random client requests of every `Request` variant, random watch traffic, spurious persist
//!    confirmations, random password verdicts, random storage sizes, time jumps (backwards,
//!    forwards, by years), and ordinary ticks in between.
//! 3. **Heal**: stop the chaos, let time run, then check that every member still in the cluster
//!    agrees on applied index, revision and KV hash, and that a Put then a Range works.
//!
//! "Byzantine" input (forged Raft messages from real members, with any term) is outside Raft's
//! fault model and can legitimately break consistency; the `byzantine_*` test only checks that
//! no member panics on it.
//!
//! Knobs (environment): `OXCD_FUZZ_ITERS=N` seeds per test (default small, a few seconds in
//! `cargo test --release`), `OXCD_FUZZ_SEED=S` replays one seed. A failure prints its seed.

#[path = "random_input_gen.rs"]
mod gen;

use gen::Gen;
use oxcd_core::backend::MemBackend;
use oxcd_core::membership::Member as ClusterMember;
use oxcd_core::node::{
    InitialCluster, Node, NodeConfig, Output, PeerMessage, PersistId, Request, RequestId,
    RequestMeta, Response, VerifyId,
};
use oxcd_core::watch::WatchStreamId;
use oxcd_core::{ApiError, Instant, NodeId};
use oxcd_proto::etcdserverpb as pb;
use oxcd_proto::peer::{encode_frame, PeerFrameDecoder};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

const CLUSTER_ID: u64 = 0xc1;
/// Peer frames larger than this are refused by the decoder (the runtimes use a similar bound).
const MAX_FRAME_BYTES: usize = 4 << 20;

/// A persist the driver has not written yet.
type Sealed = (PersistId, oxcd_core::backend::WriteBatch, Vec<(NodeId, PeerMessage)>);

/// Every member's (term, commit index).
type Positions = Vec<(oxcd_core::Term, oxcd_core::LogIndex)>;

struct Member {
    node: Node,
    disk: MemBackend,
    /// Sealed persists not yet written, in id order (the driver may delay them).
    unwritten: VecDeque<Sealed>,
    /// Highest persist id written and confirmed.
    written: u64,
}

/// The in-test runtime.
struct Cluster {
    members: BTreeMap<NodeId, Member>,
    now: Instant,
    net: VecDeque<(NodeId, NodeId, PeerMessage)>,
    /// Real messages seen, for replays (bounded).
    seen: VecDeque<(NodeId, NodeId, PeerMessage)>,
    replies: BTreeMap<u64, Result<Response, ApiError>>,
    verify: Vec<(NodeId, VerifyId)>,
    next_request: u64,
    /// Answer password checks with "matches" (the heal phase); random otherwise.
    passwords_match: Option<bool>,
    /// Delay persists (group commit); otherwise each is written when it comes out.
    delay_persists: bool,
    /// Print every output and delivery (`OXCD_FUZZ_TRACE=1`, heal phase only).
    trace: bool,
    /// Fail when a timer stays due (`OXCD_FUZZ_STRICT_TIMERS=1`); see [`Cluster::tick`].
    strict_timers: bool,
    /// A timer stayed due once already (not strict): stop re-firing, just move time on.
    stale_timer_seen: bool,
}

fn config(id: u64, seed: u64) -> NodeConfig {
    let mut cfg = NodeConfig::new(NodeId(id), CLUSTER_ID, &format!("m{id}"));
    cfg.peer_urls = vec![format!("http://10.0.0.{id}:2380")];
    cfg.client_urls = vec![format!("http://10.0.0.{id}:2379")];
    cfg.snapshot_count = 20;
    cfg.snapshot_chunk_bytes = 512;
    cfg.seed = seed ^ id;
    cfg.max_pending_requests = 1_000;
    cfg
}

fn founders(n: u64) -> Vec<ClusterMember> {
    (1..=n)
        .map(|id| ClusterMember {
            id: NodeId(id),
            name: format!("m{id}"),
            peer_urls: vec![format!("http://10.0.0.{id}:2380")],
            client_urls: vec![],
            is_learner: false,
        })
        .collect()
}

impl Cluster {
    fn new(n: u64, seed: u64) -> Cluster {
        let now = Instant::from_nanos(1_000_000_000);
        let members = (1..=n)
            .map(|id| {
                let disk = MemBackend::new();
                let node = Node::new(
                    config(id, seed),
                    Box::new(disk.clone()),
                    InitialCluster::New(founders(n)),
                    now,
                )
                .expect("valid configuration");
                (NodeId(id), Member { node, disk, unwritten: VecDeque::new(), written: 0 })
            })
            .collect();
        Cluster {
            members,
            now,
            net: VecDeque::new(),
            seen: VecDeque::new(),
            replies: BTreeMap::new(),
            verify: Vec::new(),
            next_request: 0,
            passwords_match: Some(true),
            delay_persists: false,
            trace: false,
            strict_timers: env_u64("OXCD_FUZZ_STRICT_TIMERS").is_some(),
            stale_timer_seen: false,
        }
    }

    fn ids(&self) -> Vec<NodeId> {
        self.members.keys().copied().collect()
    }

    /// Writes and confirms `m`'s unwritten persists, in order, and releases their messages.
    fn write_persists(
        m: &mut Member,
        now: Instant,
        net: &mut VecDeque<(NodeId, NodeId, PeerMessage)>,
        id: NodeId,
    ) {
        let mut last = None;
        let mut sends = Vec::new();
        while let Some((pid, batch, then_send)) = m.unwritten.pop_front() {
            m.disk.apply(&batch);
            last = Some(pid);
            sends.extend(then_send);
        }
        if let Some(pid) = last {
            m.written = pid.0;
            m.node.handle_persisted(now, pid);
            for (to, message) in sends {
                net.push_back((id, to, message));
            }
        }
    }

    /// Drains every member and delivers every message once; true if anything happened.
    fn settle_once(&mut self, g: &mut Gen) -> bool {
        let mut busy = false;
        for id in self.ids() {
            let m = self.members.get_mut(&id).expect("member");
            loop {
                let Some(out) = m.node.poll_output() else {
                    if m.unwritten.is_empty() {
                        break;
                    }
                    Self::write_persists(m, self.now, &mut self.net, id);
                    busy = true;
                    continue;
                };
                busy = true;
                if self.trace {
                    eprintln!("{} out {id}: {out}", self.now);
                }
                match out {
                    Output::Send { to, message } => self.net.push_back((id, to, message)),
                    Output::Persist { id: pid, batch, then_send, .. } => {
                        m.unwritten.push_back((pid, batch, then_send));
                        if !self.delay_persists || g.chance(1, 2) {
                            Self::write_persists(m, self.now, &mut self.net, id);
                        }
                    }
                    Output::Reply { id: rid, result } => {
                        self.replies.insert(rid.0, result);
                    }
                    Output::VerifyPassword(v) => self.verify.push((id, v.id)),
                    Output::Watch { .. } | Output::MembersChanged { .. } | Output::Removed => {}
                }
            }
        }
        for (on, vid) in std::mem::take(&mut self.verify) {
            let matches = self.passwords_match.unwrap_or_else(|| g.chance(1, 2));
            let now = self.now;
            if let Some(m) = self.members.get_mut(&on) {
                m.node.handle_password_verified(now, vid, matches);
            }
            busy = true;
        }
        while let Some((from, to, message)) = self.net.pop_front() {
            busy = true;
            if self.seen.len() >= 256 {
                self.seen.pop_front();
            }
            self.seen.push_back((from, to, message.clone()));
            if self.trace {
                eprintln!("{} deliver {from}->{to}: {message}", self.now);
            }
            if let Some(m) = self.members.get_mut(&to) {
                m.node.handle_peer_message(self.now, from, message);
            }
        }
        busy
    }

    fn settle(&mut self, g: &mut Gen) {
        for _ in 0..2_000 {
            if !self.settle_once(g) {
                return;
            }
        }
        panic!("cluster did not settle");
    }

    /// Advances virtual time to the next timer (at most `max` ahead) and fires it. A timer
    /// still due after 1000 more calls at the same instant would make a real runtime spin:
    /// with `OXCD_FUZZ_STRICT_TIMERS=1` that fails the run, otherwise time moves on by 1 ms.
    fn tick(&mut self, g: &mut Gen, max: Duration) {
        let next = self.next_timer();
        self.now = next.min(self.now + max).max(self.now);
        let now = self.now;
        for m in self.members.values_mut() {
            m.node.handle_timeout(now);
        }
        self.settle(g);
        // Incremental work (physical compaction, watcher catch-up) may ask to be called again
        // at once; it must finish in a bounded number of calls.
        let refires = match (self.strict_timers, self.stale_timer_seen) {
            (true, _) => 1_000,
            (false, false) => 20,
            (false, true) => 0,
        };
        for _ in 0..refires {
            if self.next_timer() > self.now {
                break;
            }
            let now = self.now;
            for m in self.members.values_mut() {
                m.node.handle_timeout(now);
            }
            self.settle(g);
        }
        if self.next_timer() <= self.now {
            assert!(
                !self.strict_timers,
                "poll_timeout is still due after {refires} more handle_timeout({}): {:?}",
                self.now,
                self.members.values().map(|m| (&m.node, m.node.poll_timeout())).collect::<Vec<_>>()
            );
            self.stale_timer_seen = true;
            self.now += max.min(Duration::from_millis(1));
        }
    }

    /// Each member's view, for failure messages.
    fn describe(&self) -> String {
        let mut out = String::new();
        for (id, m) in &self.members {
            let n = &m.node;
            let members: Vec<(u64, bool)> = n.members().map(|m| (m.id.0, m.is_learner)).collect();
            out += &format!(
                "\n  {id}: {n:?} commit={} leader={} removed={} rev={} members={members:?} conf={:?}",
                n.commit_index(),
                n.leader(),
                n.is_removed(),
                n.revision(),
                n.raft().conf_state(),
            );
        }
        out
    }

    fn next_timer(&self) -> Instant {
        self.members.values().map(|m| m.node.poll_timeout()).min().unwrap_or(Instant::MAX)
    }

    fn run_for(&mut self, g: &mut Gen, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            if self.now >= end {
                return;
            }
            self.tick(g, end - self.now);
        }
        let timers: Vec<String> = self
            .members
            .iter()
            .map(|(id, m)| format!("{id}: {:?} {}", m.node, m.node.poll_timeout()))
            .collect();
        panic!("time did not advance past {}: {timers:?}", self.now);
    }

    /// Members serving: not removed, and in the leader's view of the cluster.
    fn live(&self) -> Vec<NodeId> {
        self.members.iter().filter(|(_, m)| !m.node.is_removed()).map(|(id, _)| *id).collect()
    }

    fn leader(&self) -> Option<NodeId> {
        self.live().into_iter().find(|id| self.members[id].node.is_leader())
    }

    fn elect(&mut self, g: &mut Gen) -> NodeId {
        for _ in 0..100 {
            if let Some(l) = self.leader() {
                return l;
            }
            self.run_for(g, Duration::from_millis(200));
        }
        panic!("no leader elected: {}", self.describe());
    }

    fn submit(&mut self, on: NodeId, meta: RequestMeta, request: Request) -> u64 {
        self.next_request += 1;
        let rid = self.next_request;
        let now = self.now;
        if let Some(m) = self.members.get_mut(&on) {
            m.node.handle_client_request(now, RequestId(rid), meta, request);
        }
        rid
    }

    fn request_as(
        &mut self,
        g: &mut Gen,
        on: NodeId,
        meta: RequestMeta,
        request: Request,
    ) -> Result<Response, ApiError> {
        let rid = self.submit(on, meta, request);
        self.settle(g);
        for _ in 0..400 {
            if let Some(r) = self.replies.remove(&rid) {
                return r;
            }
            self.tick(g, Duration::from_millis(50));
        }
        panic!("no reply to request {rid}");
    }
}

fn put(key: &[u8], value: &[u8]) -> Request {
    Request::Put(pb::PutRequest { key: key.to_vec(), value: value.to_vec(), ..Default::default() })
}

fn get(key: &[u8]) -> Request {
    Request::Range(pb::RangeRequest { key: key.to_vec(), ..Default::default() })
}

/// Which kinds of chaos a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Faults Raft's model allows plus everything a client or a stranger can send.
    Faithful,
    /// Also forged Raft traffic from real members: only "no panic" is checked.
    Byzantine,
}

/// One chaos step.
fn chaos_step(c: &mut Cluster, g: &mut Gen, mode: Mode) {
    let ids = c.ids();
    let target = *g.pick(&ids);
    let now = c.now;
    match g.below(100) {
        0..=14 => {
            // A forged peer message, from someone who is not a voting member in good standing.
            let from = if mode == Mode::Byzantine && g.chance(2, 3) {
                *g.pick(&ids)
            } else {
                gen::stranger(g, target)
            };
            let term = c.members[&target].node.term();
            let message =
                gen::peer_message(g, from, target, term, mode == Mode::Byzantine, known());
            let claimed = if g.chance(1, 8) { gen::node_id(g) } else { from };
            if mode == Mode::Faithful && claimed != from {
                // The runtime names the sender from its certificate; a mismatch is dropped.
            }
            c.members
                .get_mut(&target)
                .expect("member")
                .node
                .handle_peer_message(now, claimed, message);
        }
        15..=24 => {
            // Bytes through the peer frame decoder, then whatever decodes into the member.
            let bytes = frame_bytes(c, g);
            let mut decoder = PeerFrameDecoder::<PeerMessage>::new(MAX_FRAME_BYTES);
            let mut input = &bytes[..];
            let from =
                if mode == Mode::Byzantine { *g.pick(&ids) } else { gen::stranger(g, target) };
            for _ in 0..64 {
                match decoder.decode(&mut input) {
                    Ok(Some(message)) => {
                        c.members
                            .get_mut(&target)
                            .expect("member")
                            .node
                            .handle_peer_message(now, from, message);
                    }
                    Ok(None) | Err(_) => break,
                }
                if input.is_empty() {
                    break;
                }
            }
        }
        25..=32 => {
            // The network misbehaves within Raft's model: drop, duplicate, replay old messages.
            match g.below(3) {
                0 => {
                    c.net.pop_front();
                }
                1 => {
                    if let Some(m) = c.net.front().cloned() {
                        c.net.push_back(m);
                    }
                }
                _ => {
                    if !c.seen.is_empty() {
                        let i = g.below(c.seen.len());
                        let (from, to, message) = c.seen[i].clone();
                        if let Some(m) = c.members.get_mut(&to) {
                            m.node.handle_peer_message(now, from, message);
                        }
                    }
                }
            }
        }
        33..=54 => {
            let mut request = gen::request(g, 0);
            if let (Request::MemberAdd(add), 1) = (&mut request, ids.len()) {
                // etcd lets a lone member add a second voter (to restore a cluster from one
                // member): quorum is then lost until that member starts, by design.
                add.is_learner = true;
            }
            let meta = gen::meta(g);
            c.submit(target, meta, request);
        }
        55..=64 => {
            let stream = WatchStreamId(g.below(6) as u64);
            let m = c.members.get_mut(&target).expect("member");
            if g.chance(1, 10) {
                m.node.handle_watch_closed(now, stream);
            } else {
                m.node.handle_watch_request(now, stream, gen::meta(g), gen::watch_request(g));
            }
        }
        65..=69 => {
            // Spurious persist confirmations: repeated, out of order, or never issued (only
            // once everything issued is written: confirming an unwritten batch is a driver bug,
            // not network input).
            let m = c.members.get_mut(&target).expect("member");
            let id = match g.below(3) {
                0 => g.below(m.written as usize + 1) as u64,
                1 => m.written,
                _ if m.unwritten.is_empty() => m.written + 1 + g.interesting_u64() % 1000,
                _ => m.written,
            };
            m.node.handle_persisted(now, PersistId(id));
        }
        70..=72 => {
            let m = c.members.get_mut(&target).expect("member");
            m.node.handle_password_verified(now, VerifyId(g.interesting_u64()), g.chance(1, 2));
        }
        73..=74 => {
            let m = c.members.get_mut(&target).expect("member");
            let (size, used) = (g.interesting_u64(), g.interesting_u64());
            m.node.handle_storage_size(now, size, used);
        }
        75..=79 => {
            // Time jumps; the core treats a backwards `now` as "no time passed".
            let at = match g.below(4) {
                0 => Instant::from_nanos(
                    c.now.as_nanos().saturating_sub(g.next_u64() % 10_000_000_000),
                ),
                1 => c.now + Duration::from_millis(g.next_u64() % 60_000),
                2 => c.now + Duration::from_secs(g.next_u64() % (3600 * 24 * 365)),
                // Years at a time, but the clock stays below 2^62 ns (146 years): a
                // monotonic clock near `Instant::MAX` is covered by its own test.
                _ if c.now.as_nanos() < 1 << 61 => {
                    c.now + Duration::from_nanos(g.next_u64() % (1 << 60))
                }
                _ => c.now + Duration::from_secs(1),
            };
            if at > c.now {
                c.now = at;
            }
            for m in c.members.values_mut() {
                m.node.handle_timeout(at);
            }
        }
        80..=81 => c.members.get_mut(&target).expect("member").node.campaign(now),
        _ => {
            let d = Duration::from_millis(g.next_u64() % 400);
            c.tick(g, d);
            return;
        }
    }
    // Drain what the input produced, as a runtime does, but do not always deliver everything.
    if g.chance(3, 4) {
        c.settle_once(g);
    }
}

/// Peer bytes: pure garbage, or a real encoded message with a few bytes mutated.
fn frame_bytes(c: &Cluster, g: &mut Gen) -> Vec<u8> {
    match g.below(3) {
        0 => g.bytes(256),
        1 => {
            let mut out = Vec::new();
            let len = g.below(64) as u32;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend(g.bytes(len as usize + 4));
            out
        }
        _ => {
            let mut out = Vec::new();
            let message = match c.seen.back() {
                Some((_, _, m)) if g.chance(1, 2) => m.clone(),
                _ => gen::peer_message(g, NodeId(99), NodeId(1), oxcd_core::Term(1), true, known()),
            };
            if encode_frame(&message, &mut out).is_err() {
                return out;
            }
            g.mutate(&mut out);
            out
        }
    }
}

/// Runs one seed; returns normally if every check passed.
fn run_seed(seed: u64, n: u64, mode: Mode, steps: usize) {
    run_seed_with(seed, n, mode, steps, false);
}

fn run_seed_with(seed: u64, n: u64, mode: Mode, steps: usize, strict_timers: bool) {
    let mut g = Gen::new(seed);
    let mut c = Cluster::new(n, seed);
    c.strict_timers |= strict_timers;
    let leader = c.elect(&mut g);
    for i in 0..5u8 {
        let r = c.request_as(&mut g, leader, RequestMeta::default(), put(&[b'k', i], b"v"));
        assert!(r.is_ok(), "seed={seed}: a put before the chaos failed: {r:?}");
    }
    c.passwords_match = None;
    c.delay_persists = g.chance(1, 2);
    for _ in 0..steps {
        chaos_step(&mut c, &mut g, mode);
    }
    if env_u64("OXCD_FUZZ_VERBOSE").is_some() {
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        for r in c.replies.values() {
            let k = match r {
                Ok(resp) => format!("ok {}", resp_name(resp)),
                Err(e) => format!("err {e:?}"),
            };
            *outcomes.entry(k).or_default() += 1;
        }
        eprintln!("seed={seed}: {} replies {outcomes:?}\n{}", c.replies.len(), c.describe());
    }
    heal(&mut c, &mut g, seed, mode);
}

fn resp_name(r: &Response) -> String {
    let s = format!("{r:?}");
    s.split('(').next().unwrap_or_default().to_string()
}

/// Stops the chaos, lets the cluster recover, and checks it.
fn heal(c: &mut Cluster, g: &mut Gen, seed: u64, mode: Mode) {
    c.passwords_match = Some(true);
    c.delay_persists = false;
    c.trace = env_u64("OXCD_FUZZ_TRACE").is_some();
    c.settle(g);
    for m in c.members.values_mut() {
        m.node.handle_storage_size(c.now, 0, 0);
    }
    c.run_for(g, Duration::from_secs(5));
    if mode == Mode::Byzantine {
        // Nothing more is promised after forged Raft traffic; exercise the member once more.
        if let Some(l) = c.leader() {
            let _ = c.submit(l, RequestMeta::default(), put(b"after", b"x"));
            c.run_for(g, Duration::from_secs(1));
        }
        return;
    }
    let leader = c.elect(g);
    let meta = root_meta(c, g, leader, seed);
    // Alarms raised by the chaos (for any member id) would refuse the check's writes.
    let list = Request::Alarm(pb::AlarmRequest::default());
    if let Ok(Response::Alarm(alarms)) = c.request_as(g, leader, meta.clone(), list) {
        for a in alarms.alarms {
            let disarm = Request::Alarm(pb::AlarmRequest {
                action: pb::alarm_request::AlarmAction::Deactivate as i32,
                member_id: a.member_id,
                alarm: a.alarm,
            });
            let _ = c.request_as(g, leader, meta.clone(), disarm);
        }
    }
    let written = c.request_as(g, leader, meta.clone(), put(b"after-heal", b"ok"));
    assert!(written.is_ok(), "seed={seed}: a put after healing failed: {written:?}");
    c.run_for(g, Duration::from_secs(2));
    let live = c.live();
    let l = &c.members[&leader].node;
    let (applied, revision) = (l.applied_index(), l.revision());
    for id in &live {
        let node = &c.members[id].node;
        assert_eq!(node.applied_index(), applied, "seed={seed}: member {id} did not converge");
        assert_eq!(node.revision(), revision, "seed={seed}: member {id} has another revision");
    }
    let mut hashes = BTreeSet::new();
    for id in live {
        let meta =
            if c.members[&id].node.is_leader() { meta.clone() } else { root_meta(c, g, id, seed) };
        let hash =
            c.request_as(g, id, meta.clone(), Request::HashKv(pb::HashKVRequest { revision: 0 }));
        match hash {
            Ok(Response::HashKv(h)) => {
                hashes.insert((h.hash, h.hash_revision));
            }
            other => panic!("seed={seed}: HashKV on {id} failed: {other:?}"),
        }
        let read = c.request_as(g, id, meta, get(b"after-heal"));
        match read {
            Ok(Response::Range(r)) => {
                assert_eq!(r.kvs.len(), 1, "seed={seed}: member {id} lost the healed write");
                assert_eq!(r.kvs[0].value, b"ok");
            }
            other => panic!("seed={seed}: range on {id} failed: {other:?}"),
        }
    }
    assert_eq!(hashes.len(), 1, "seed={seed}: members disagree on the KV hash: {hashes:?}");
}

/// Request metadata that passes auth: none while auth is off, root's token while it is on.
fn root_meta(c: &mut Cluster, g: &mut Gen, on: NodeId, seed: u64) -> RequestMeta {
    let status =
        c.request_as(g, on, RequestMeta::default(), Request::AuthStatus(Default::default()));
    match status {
        Ok(Response::AuthStatus(s)) if !s.enabled => RequestMeta::default(),
        Err(ApiError::UserEmpty)
        | Err(ApiError::InvalidAuthToken)
        | Err(ApiError::PermissionDenied)
        | Ok(_) => {
            let auth = Request::Authenticate(pb::AuthenticateRequest {
                name: "root".into(),
                password: "pw".into(),
            });
            match c.request_as(g, on, RequestMeta::default(), auth) {
                Ok(Response::Authenticate(a)) => {
                    RequestMeta { token: Some(a.token), ..Default::default() }
                }
                // Root was created without a password: it authenticates by certificate.
                Err(ApiError::NoPasswordUser) => {
                    RequestMeta { cert_common_name: Some("root".into()), ..Default::default() }
                }
                other => panic!("seed={seed}: auth is on but root cannot authenticate: {other:?}"),
            }
        }
        Err(e) => {
            let mut again = Vec::new();
            for id in c.ids() {
                again.push((
                    id,
                    c.request_as(
                        g,
                        id,
                        RequestMeta::default(),
                        Request::AuthStatus(Default::default()),
                    ),
                ));
                again.push((id, c.request_as(g, id, RequestMeta::default(), put(b"x", b"y"))));
            }
            panic!(
                "seed={seed}: AuthStatus on {on} failed: {e:?}; {}\nthen: {again:?}",
                c.describe()
            )
        }
    }
}

/// `OXCD_FUZZ_KNOWN=1`: also generate the input shapes of known, not yet fixed findings (each
/// has an ignored targeted test below); for checking a fix.
fn known() -> bool {
    env_u64("OXCD_FUZZ_KNOWN").is_some()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs `iters` seeds from `base` (or the one in `OXCD_FUZZ_SEED`), reporting the first failure
/// with its seed and a replay command.
fn run_many(test: &str, base: u64, default_iters: u64, n: u64, mode: Mode, steps: usize) {
    let seeds: Vec<u64> = match env_u64("OXCD_FUZZ_SEED") {
        Some(s) => vec![s],
        None => {
            let iters = env_u64("OXCD_FUZZ_ITERS").unwrap_or(default_iters);
            (0..iters).map(|i| base.wrapping_add(i)).collect()
        }
    };
    for seed in seeds {
        if env_u64("OXCD_FUZZ_VERBOSE").is_some() {
            eprintln!("{test}: seed={seed}");
        }
        let result = panic::catch_unwind(AssertUnwindSafe(|| run_seed(seed, n, mode, steps)));
        if let Err(e) = result {
            eprintln!(
                "FAILED seed={seed} (replay: OXCD_FUZZ_SEED={seed} cargo test -p oxcd-core \
                 --release --test random_input_node -- {test} --exact --nocapture)"
            );
            panic::resume_unwind(e);
        }
    }
}

#[test]
fn one_member_survives_random_input() {
    run_many("one_member_survives_random_input", 0x1000, 200, 1, Mode::Faithful, 400);
}

#[test]
fn three_members_survive_random_input_and_converge() {
    run_many(
        "three_members_survive_random_input_and_converge",
        0x3000,
        150,
        3,
        Mode::Faithful,
        400,
    );
}

#[test]
fn byzantine_peer_messages_do_not_panic() {
    run_many("byzantine_peer_messages_do_not_panic", 0xb000, 100, 3, Mode::Byzantine, 300);
}

// ---- Targeted cases: each finding of the randomized runs, reduced to a few inputs ----

/// A 3-member cluster with a leader and a few keys, plus a follower's id.
fn three_with_leader() -> (Cluster, Gen, NodeId, NodeId) {
    let mut g = Gen::new(1);
    let mut c = Cluster::new(3, 1);
    let leader = c.elect(&mut g);
    for i in 0..3u8 {
        c.request_as(&mut g, leader, RequestMeta::default(), put(&[b'k', i], b"v")).expect("put");
    }
    let follower = c.ids().into_iter().find(|id| *id != leader).expect("a follower");
    (c, g, leader, follower)
}

fn raft_message(from: NodeId, to: NodeId, term: oxcd_core::Term, body: MessageBody) -> PeerMessage {
    PeerMessage::Raft(oxcd_core::raft::Message { from, to, term, body })
}

use oxcd_core::raft::MessageBody;

/// Sends `body` at a term 5 above the current one from `from` to `to`; returns every
/// member's (term, commit) before and after.
fn forge(from: NodeId, to_leader: bool, body: MessageBody) -> (Positions, Positions) {
    forge_after(to_leader, body, |_, _, _, to| if from == NodeId(u64::MAX) { to } else { from })
}

/// Like [`forge`], with the sender chosen by `setup`, which may change the cluster first
/// (given the leader's id and the receiver's).
fn forge_after(
    to_leader: bool,
    body: MessageBody,
    setup: impl FnOnce(&mut Cluster, &mut Gen, NodeId, NodeId) -> NodeId,
) -> (Positions, Positions) {
    let (mut c, mut g, leader, follower) = three_with_leader();
    let to = if to_leader { leader } else { follower };
    let from = setup(&mut c, &mut g, leader, to);
    let state = |c: &Cluster| {
        c.members
            .iter()
            .filter(|(id, _)| **id == leader || **id == follower)
            .map(|(_, m)| (m.node.term(), m.node.commit_index()))
            .collect::<Vec<_>>()
    };
    let before = state(&c);
    let high = oxcd_core::Term(c.members[&to].node.term().0 + 5);
    let now = c.now;
    c.members.get_mut(&to).expect("member").node.handle_peer_message(
        now,
        from,
        raft_message(from, to, high, body),
    );
    c.settle(&mut g);
    (before, state(&c))
}

fn forged_bodies() -> Vec<MessageBody> {
    let big = oxcd_core::LogIndex(1 << 40);
    vec![
        MessageBody::Vote { last_index: big, last_term: oxcd_core::Term(1 << 40), transfer: true },
        MessageBody::Heartbeat { commit: big, read_round: 1 },
        MessageBody::TimeoutNow,
        MessageBody::AppendResponse {
            index: big,
            reject: false,
            hint_index: oxcd_core::LogIndex(0),
            hint_term: oxcd_core::Term(1),
        },
    ]
}

#[test]
fn raft_messages_claiming_to_be_from_self_or_from_no_one_change_nothing() {
    for from in [NodeId(0), NodeId(u64::MAX) /* the receiver itself */] {
        for body in forged_bodies() {
            for to_leader in [true, false] {
                let kind = body.kind();
                let (before, after) = forge(from, to_leader, body.clone());
                assert_eq!(
                    before, after,
                    "{kind} from {from} (to leader: {to_leader}) moved term or commit"
                );
            }
        }
    }
}

/// A removed member never comes back (etcd's rule). A sender that is merely unknown is heard:
/// it may be a member added while the receiver was down, now leading.
#[test]
fn raft_messages_from_a_removed_member_change_nothing() {
    for body in forged_bodies() {
        for to_leader in [true, false] {
            let kind = body.kind();
            let (before, after) = forge_after(to_leader, body.clone(), |c, g, leader, to| {
                let follower = c.ids().into_iter().find(|id| *id != leader && *id != to);
                let gone = follower.expect("a third member");
                // The leader refuses a removal until it has heard from every member lately.
                c.run_for(g, Duration::from_secs(10));
                let remove = Request::MemberRemove(pb::MemberRemoveRequest { id: gone.0 });
                c.request_as(g, leader, RequestMeta::default(), remove).expect("removed");
                c.settle(g);
                gone
            });
            assert_eq!(
                before, after,
                "{kind} from a removed member (to leader: {to_leader}) moved term or commit"
            );
        }
    }
}

#[test]
fn a_read_that_timed_out_leaves_no_timer_behind() {
    // Member 1 of a 3-member cluster whose peers never answer: no leader, so every read
    // round fails and is retried until the read's deadline.
    let disk = MemBackend::new();
    let now = Instant::from_nanos(1_000_000_000);
    let mut node =
        Node::new(config(1, 1), Box::new(disk.clone()), InitialCluster::New(founders(3)), now)
            .expect("node");
    let drain = |node: &mut Node, now: Instant| {
        let mut replies = Vec::new();
        while let Some(out) = node.poll_output() {
            match out {
                Output::Persist { id, batch, .. } => {
                    disk.apply(&batch);
                    node.handle_persisted(now, id);
                }
                Output::Reply { result, .. } => replies.push(result),
                _ => {}
            }
        }
        replies
    };
    drain(&mut node, now);
    node.handle_client_request(now, RequestId(1), RequestMeta::default(), get(b"k"));
    let mut now = now;
    let mut answered = Vec::new();
    for _ in 0..1_000 {
        now = node.poll_timeout().max(now + Duration::from_millis(1));
        node.handle_timeout(now);
        answered.extend(drain(&mut node, now));
        if !answered.is_empty() {
            break;
        }
    }
    assert_eq!(answered, vec![Err(ApiError::Timeout)], "the read times out");
    node.handle_timeout(now);
    drain(&mut node, now);
    assert!(
        node.poll_timeout() > now,
        "poll_timeout {} is not after now {now} right after handle_timeout: a runtime would spin",
        node.poll_timeout()
    );
}

#[test]
fn no_timer_stays_due_after_byzantine_seed_45063() {
    run_seed_with(45063, 3, Mode::Byzantine, 300, true);
}

#[test]
fn handle_timeout_near_the_end_of_time_returns() {
    // The loop also allocates without bound: run it in a child process with a memory cap
    // and a time limit.
    let exe = std::env::current_exe().expect("test binary");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000; exec timeout 20 \"$0\" --ignored --exact end_of_time_child")
        .arg(exe)
        .env("OXCD_FUZZ_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run the child");
    assert!(status.success(), "handle_timeout(Instant::MAX) did not return normally: {status}");
}

#[test]
#[ignore = "helper of handle_timeout_near_the_end_of_time_returns"]
fn end_of_time_child() {
    if env_u64("OXCD_FUZZ_CHILD").is_none() {
        return;
    }
    let mut g = Gen::new(2);
    let mut c = Cluster::new(1, 2);
    let leader = c.elect(&mut g);
    let create = pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: b"w".to_vec(),
                progress_notify: true,
                ..Default::default()
            },
        )),
    };
    let now = c.now;
    let node = &mut c.members.get_mut(&leader).expect("leader").node;
    node.handle_watch_request(now, WatchStreamId(1), RequestMeta::default(), create);
    node.handle_timeout(Instant::MAX);
}

#[test]
fn a_peer_term_at_u64_max_does_not_overflow() {
    let (mut c, mut g, leader, follower) = three_with_leader();
    let now = c.now;
    let body = MessageBody::Heartbeat { commit: oxcd_core::LogIndex(0), read_round: 0 };
    let forged = raft_message(leader, follower, oxcd_core::Term(u64::MAX), body);
    c.members.get_mut(&follower).expect("follower").node.handle_peer_message(now, leader, forged);
    c.settle(&mut g);
    // The follower now sits in term u64::MAX; with the real leader's messages refused as
    // stale, it campaigns, computing term + 1.
    c.run_for(&mut g, Duration::from_secs(5));
}

#[test]
fn an_append_after_the_last_index_is_refused() {
    let (mut c, mut g, leader, follower) = three_with_leader();
    let term = c.members[&follower].node.term();
    let entry = oxcd_core::raft::Entry {
        term,
        index: oxcd_core::LogIndex(0),
        kind: oxcd_core::raft::EntryKind::Normal,
        data: Vec::new().into(),
    };
    let body = MessageBody::Append {
        prev_index: oxcd_core::LogIndex(u64::MAX),
        prev_term: term,
        entries: vec![entry],
        commit: oxcd_core::LogIndex(0),
    };
    let now = c.now;
    let forged = raft_message(leader, follower, term, body);
    c.members.get_mut(&follower).expect("follower").node.handle_peer_message(now, leader, forged);
    c.settle(&mut g);
}

#[test]
fn reconfiguration_never_loses_the_started_quorum() {
    let (mut c, mut g, leader, follower) = three_with_leader();
    c.run_for(&mut g, Duration::from_secs(10));
    // Voters that never start: etcd accepts them only while the started members stay a
    // quorum (and the leader has heard from every voter lately).
    for i in 1..=3u8 {
        let add = Request::MemberAdd(pb::MemberAddRequest {
            peer_urls: vec![format!("http://10.0.9.{i}:2380")],
            is_learner: false,
        });
        let _ = c.request_as(&mut g, leader, RequestMeta::default(), add);
        c.run_for(&mut g, Duration::from_secs(1));
    }
    let remove = Request::MemberRemove(pb::MemberRemoveRequest { id: follower.0 });
    let _ = c.request_as(&mut g, leader, RequestMeta::default(), remove);
    c.run_for(&mut g, Duration::from_secs(2));
    let voters = c.members[&leader].node.raft().conf_state().voters.clone();
    let started = voters.iter().filter(|id| c.members.contains_key(id)).count();
    assert!(started > voters.len() / 2, "{started} started of voters {voters:?}: quorum lost");
    let leader = c.elect(&mut g);
    let r = c.request_as(&mut g, leader, RequestMeta::default(), put(b"still", b"ok"));
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn a_raft_snapshot_message_from_the_network_does_not_install_anything() {
    for sender in ["leader", "non-member"] {
        let (mut c, mut g, leader, follower) = three_with_leader();
        let from = if sender == "leader" { leader } else { NodeId(7) };
        let node = &c.members[&follower].node;
        let (term, commit) = (node.term(), node.commit_index());
        let revision = node.revision();
        let meta = oxcd_core::raft::SnapshotMeta {
            index: oxcd_core::LogIndex(commit.0 + 100),
            term,
            conf_state: node.raft().conf_state().clone(),
        };
        let now = c.now;
        let forged = raft_message(from, follower, term, MessageBody::Snapshot { meta });
        c.members.get_mut(&follower).expect("follower").node.handle_peer_message(now, from, forged);
        c.settle(&mut g);
        let node = &c.members[&follower].node;
        assert_eq!(
            node.revision(),
            revision,
            "a bare Snapshot message from the {sender} replaced the state machine"
        );
    }
}

#[test]
fn a_garbage_snapshot_chunk_from_the_leader_is_refused() {
    let (mut c, mut g, leader, follower) = three_with_leader();
    let node = &c.members[&follower].node;
    let (term, commit) = (node.term(), node.commit_index());
    let meta = oxcd_core::raft::SnapshotMeta {
        index: oxcd_core::LogIndex(commit.0 + 100),
        term,
        conf_state: node.raft().conf_state().clone(),
    };
    // A Kv record whose key and value are not what the store writes, and a lease record too.
    let records = vec![(3, vec![1, 2, 3], vec![0xff; 7]), (4, vec![9], vec![0xee; 3])];
    let chunk =
        oxcd_core::node::SnapshotChunk { transfer: 77, term, meta, seq: 0, records, last: true };
    let now = c.now;
    c.members.get_mut(&follower).expect("follower").node.handle_peer_message(
        now,
        leader,
        PeerMessage::SnapshotChunk(chunk),
    );
    c.settle(&mut g);
    c.run_for(&mut g, Duration::from_secs(2));
    let r = c.request_as(&mut g, follower, RequestMeta::default(), get(b"k\x01"));
    assert!(
        matches!(r, Ok(Response::Range(ref r)) if r.kvs.len() == 1),
        "follower lost data: {r:?}"
    );
}
