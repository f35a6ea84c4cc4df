//! Generators of hostile input for a member: peer messages, client requests of every variant,
//! watch requests, request metadata, bytes. Shared by `random_input_node.rs` (included as a
//! module); compiled alone, this file checks that the generators are deterministic and reach
//! every variant they claim to.

#![allow(dead_code)]

use oxcd_core::ids::LogIndex;
use oxcd_core::node::{
    Forwarded, ForwardedReply, PeerMessage, Request, RequestMeta, SnapshotAck, SnapshotChunk,
};
use oxcd_core::raft::{ConfState, Entry, EntryKind, Message, MessageBody, ReadId, SnapshotMeta};
use oxcd_core::{LeaseId, NodeId, Term};
use oxcd_proto::etcdserverpb as pb;
use oxcd_proto::{authpb, Message as _};
use std::collections::BTreeSet;

/// splitmix64: deterministic, no dependency.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.next_u64() % denominator < numerator
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bool(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    pub fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// Values near the edges of u64, small values, and random ones.
    pub fn interesting_u64(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => 1 + self.next_u64() % 8,
            2 => u64::MAX - self.next_u64() % 4,
            3 => i64::MAX as u64 - self.next_u64() % 2,
            4 => 1 << self.below(64),
            5 => u32::MAX as u64 + self.next_u64() % 2,
            _ => self.next_u64(),
        }
    }

    /// Values near the edges of i64, negatives, small values, and random ones.
    pub fn interesting_i64(&mut self) -> i64 {
        match self.below(9) {
            0 => 0,
            1 => 1 + (self.next_u64() % 16) as i64,
            2 => -1 - (self.next_u64() % 4) as i64,
            3 => i64::MAX - (self.next_u64() % 2) as i64,
            4 => i64::MIN + (self.next_u64() % 2) as i64,
            5 => i32::MAX as i64 + 1,
            6 => (self.next_u64() % 100) as i64,
            _ => self.next_u64() as i64,
        }
    }

    pub fn interesting_i32(&mut self) -> i32 {
        match self.below(5) {
            0 => 0,
            1 => 1 + self.below(4) as i32,
            2 => -1,
            3 => i32::MAX,
            _ => self.next_u64() as i32,
        }
    }

    /// A few bytes flipped, cut or inserted.
    pub fn mutate(&mut self, out: &mut Vec<u8>) {
        for _ in 0..1 + self.below(4) {
            match self.below(4) {
                0 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] = self.next_u64() as u8;
                }
                1 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out.truncate(i);
                }
                2 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] ^= 1 << self.below(8);
                }
                _ => {
                    let i = self.below(out.len() + 1);
                    out.insert(i, self.next_u64() as u8);
                }
            }
        }
    }
}

/// A key: empty, NUL, `\xff` runs, a small shared pool (so requests collide), or random bytes.
pub fn key(g: &mut Gen) -> Vec<u8> {
    match g.below(8) {
        0 => Vec::new(),
        1 => vec![0],
        2 => vec![0xff; 1 + g.below(3)],
        3 => b"a\0b".to_vec(),
        4 => g.bytes(40),
        5 => vec![b'k'; 1 + g.below(2000)],
        _ => vec![b'k', g.below(8) as u8],
    }
}

fn range_end(g: &mut Gen) -> Vec<u8> {
    match g.below(5) {
        0 | 1 => Vec::new(),
        2 => vec![0],
        _ => key(g),
    }
}

fn name(g: &mut Gen) -> String {
    match g.below(6) {
        0 => String::new(),
        1 => "root".into(),
        2 => "\0".into(),
        3 => "x".repeat(1 + g.below(300)),
        _ => format!("u{}", g.below(4)),
    }
}

fn lease_id(g: &mut Gen) -> i64 {
    match g.below(3) {
        0 => (g.next_u64() % 4) as i64,
        _ => g.interesting_i64(),
    }
}

fn range_request(g: &mut Gen) -> pb::RangeRequest {
    pb::RangeRequest {
        key: key(g),
        range_end: range_end(g),
        limit: g.interesting_i64(),
        revision: g.interesting_i64(),
        sort_order: g.interesting_i32(),
        sort_target: g.interesting_i32(),
        serializable: g.bool(),
        keys_only: g.bool(),
        count_only: g.bool(),
        min_mod_revision: if g.bool() { 0 } else { g.interesting_i64() },
        max_mod_revision: if g.bool() { 0 } else { g.interesting_i64() },
        min_create_revision: if g.bool() { 0 } else { g.interesting_i64() },
        max_create_revision: if g.bool() { 0 } else { g.interesting_i64() },
    }
}

fn put_request(g: &mut Gen) -> pb::PutRequest {
    pb::PutRequest {
        key: key(g),
        value: if g.chance(1, 100) { vec![7; 1 << (10 + g.below(12))] } else { g.bytes(32) },
        lease: if g.bool() { 0 } else { lease_id(g) },
        prev_kv: g.bool(),
        ignore_value: g.chance(1, 5),
        ignore_lease: g.chance(1, 5),
    }
}

fn delete_request(g: &mut Gen) -> pb::DeleteRangeRequest {
    pb::DeleteRangeRequest { key: key(g), range_end: range_end(g), prev_kv: g.bool() }
}

/// A Txn of at most about 300 operations in all; nesting goes down to depth 24 (prost's
/// decoder stops a wire message at 100 levels, and a chain is the deep shape).
pub fn txn(g: &mut Gen, depth: u32) -> pb::TxnRequest {
    let mut budget = 300;
    txn_within(g, depth, &mut budget)
}

fn txn_within(g: &mut Gen, depth: u32, budget: &mut usize) -> pb::TxnRequest {
    use pb::compare::TargetUnion;
    let ops = |g: &mut Gen, budget: &mut usize| -> Vec<pb::RequestOp> {
        let n = if g.chance(1, 20) { 200 } else { g.below(4) };
        let mut out = Vec::new();
        for _ in 0..n {
            if *budget == 0 {
                break;
            }
            *budget -= 1;
            use pb::request_op::Request as Op;
            let op = match g.below(if depth < 24 { 6 } else { 4 }) {
                0 => Some(Op::RequestRange(range_request(g))),
                1 => Some(Op::RequestPut(put_request(g))),
                2 => Some(Op::RequestDeleteRange(delete_request(g))),
                3 => None,
                _ => Some(Op::RequestTxn(txn_within(g, depth + 1, budget))),
            };
            out.push(pb::RequestOp { request: op });
        }
        out
    };
    let success = ops(g, budget);
    let failure = ops(g, budget);
    let compare = (0..g.below(4))
        .map(|_| pb::Compare {
            result: g.interesting_i32(),
            target: g.interesting_i32(),
            key: key(g),
            target_union: match g.below(6) {
                0 => Some(TargetUnion::Version(g.interesting_i64())),
                1 => Some(TargetUnion::CreateRevision(g.interesting_i64())),
                2 => Some(TargetUnion::ModRevision(g.interesting_i64())),
                3 => Some(TargetUnion::Value(g.bytes(8))),
                4 => Some(TargetUnion::Lease(lease_id(g))),
                _ => None,
            },
            range_end: range_end(g),
        })
        .collect();
    pb::TxnRequest { compare, success, failure }
}

fn permission(g: &mut Gen) -> Option<authpb::Permission> {
    g.chance(4, 5).then(|| authpb::Permission {
        perm_type: g.interesting_i32(),
        key: key(g),
        range_end: range_end(g),
    })
}

fn urls(g: &mut Gen) -> Vec<String> {
    (0..g.below(3))
        .map(|_| match g.below(5) {
            0 => String::new(),
            1 => "not a url".into(),
            2 => "http://10.0.0.1:2380".into(),
            3 => format!("http://10.0.9.{}:2380", g.below(4)),
            _ => format!("https://[::1]:{}", g.next_u64() % 70_000),
        })
        .collect()
}

fn member_id(g: &mut Gen) -> u64 {
    match g.below(3) {
        0 => 1 + g.next_u64() % 3,
        _ => g.interesting_u64(),
    }
}

/// Number of `Request` variants [`request`] produces.
pub const REQUEST_VARIANTS: usize = 37;

/// A client request of any variant with random fields.
pub fn request(g: &mut Gen, _depth: u32) -> Request {
    use Request as R;
    match g.below(REQUEST_VARIANTS) {
        0 => R::Range(range_request(g)),
        1 => R::Put(put_request(g)),
        2 => R::DeleteRange(delete_request(g)),
        3 => R::Txn(txn(g, 0)),
        4 => {
            R::Compact(pb::CompactionRequest { revision: g.interesting_i64(), physical: g.bool() })
        }
        5 => R::LeaseGrant(pb::LeaseGrantRequest { ttl: g.interesting_i64(), id: lease_id(g) }),
        6 => R::LeaseRevoke(pb::LeaseRevokeRequest { id: lease_id(g) }),
        7 => R::LeaseKeepAlive(pb::LeaseKeepAliveRequest { id: lease_id(g) }),
        8 => R::LeaseTimeToLive(pb::LeaseTimeToLiveRequest { id: lease_id(g), keys: g.bool() }),
        9 => R::LeaseLeases(pb::LeaseLeasesRequest {}),
        10 => R::MemberAdd(pb::MemberAddRequest { peer_urls: urls(g), is_learner: g.bool() }),
        11 => R::MemberRemove(pb::MemberRemoveRequest { id: member_id(g) }),
        12 => R::MemberUpdate(pb::MemberUpdateRequest { id: member_id(g), peer_urls: urls(g) }),
        13 => R::MemberList(pb::MemberListRequest { linearizable: g.bool() }),
        14 => R::MemberPromote(pb::MemberPromoteRequest { id: member_id(g) }),
        15 => R::Alarm(pb::AlarmRequest {
            action: g.interesting_i32(),
            member_id: member_id(g),
            alarm: g.interesting_i32(),
        }),
        16 => R::Status(pb::StatusRequest {}),
        17 => R::Hash(pb::HashRequest {}),
        18 => R::HashKv(pb::HashKVRequest { revision: g.interesting_i64() }),
        19 => R::MoveLeader(pb::MoveLeaderRequest { target_id: member_id(g) }),
        20 => R::AuthEnable(pb::AuthEnableRequest {}),
        21 => R::AuthDisable(pb::AuthDisableRequest {}),
        22 => R::AuthStatus(pb::AuthStatusRequest {}),
        23 => R::Authenticate(pb::AuthenticateRequest { name: name(g), password: name(g) }),
        24 => R::UserAdd(pb::AuthUserAddRequest {
            name: name(g),
            password: name(g),
            options: g.bool().then(|| authpb::UserAddOptions { no_password: g.bool() }),
            hashed_password: if g.bool() { String::new() } else { name(g) },
        }),
        25 => R::UserGet(pb::AuthUserGetRequest { name: name(g) }),
        26 => R::UserList(pb::AuthUserListRequest {}),
        27 => R::UserDelete(pb::AuthUserDeleteRequest { name: name(g) }),
        28 => R::UserChangePassword(pb::AuthUserChangePasswordRequest {
            name: name(g),
            password: name(g),
            hashed_password: if g.bool() { String::new() } else { name(g) },
        }),
        29 => R::UserGrantRole(pb::AuthUserGrantRoleRequest { user: name(g), role: name(g) }),
        30 => R::UserRevokeRole(pb::AuthUserRevokeRoleRequest { name: name(g), role: name(g) }),
        31 => R::RoleAdd(pb::AuthRoleAddRequest { name: name(g) }),
        32 => R::RoleGet(pb::AuthRoleGetRequest { role: name(g) }),
        33 => R::RoleList(pb::AuthRoleListRequest {}),
        34 => R::RoleDelete(pb::AuthRoleDeleteRequest { role: name(g) }),
        35 => R::RoleGrantPermission(pb::AuthRoleGrantPermissionRequest {
            name: name(g),
            perm: permission(g),
        }),
        _ => R::RoleRevokePermission(pb::AuthRoleRevokePermissionRequest {
            role: name(g),
            key: key(g),
            range_end: range_end(g),
        }),
    }
}

/// Request metadata: mostly anonymous, sometimes a garbage or a stolen-looking token.
pub fn meta(g: &mut Gen) -> RequestMeta {
    RequestMeta {
        token: match g.below(6) {
            0 => Some(String::new()),
            1 => Some(String::from_utf8_lossy(&g.bytes(40)).into_owned()),
            2 => Some(format!("root.{}", g.next_u64() % 100)),
            _ => None,
        },
        cert_common_name: g.chance(1, 8).then(|| name(g)),
        require_leader: g.chance(1, 4),
    }
}

/// A watch request: create (random ids, ranges, revisions, filters, fragment), cancel,
/// progress, or none at all.
pub fn watch_request(g: &mut Gen) -> pb::WatchRequest {
    use pb::watch_request::RequestUnion as U;
    let union = match g.below(7) {
        0..=3 => Some(U::CreateRequest(pb::WatchCreateRequest {
            key: key(g),
            range_end: range_end(g),
            start_revision: if g.bool() { 0 } else { g.interesting_i64() },
            progress_notify: g.bool(),
            filters: (0..g.below(4)).map(|_| g.interesting_i32()).collect(),
            prev_kv: g.bool(),
            watch_id: if g.bool() { 0 } else { g.interesting_i64() },
            fragment: g.bool(),
        })),
        4 => Some(U::CancelRequest(pb::WatchCancelRequest {
            watch_id: if g.bool() { g.below(4) as i64 } else { g.interesting_i64() },
        })),
        5 => Some(U::ProgressRequest(pb::WatchProgressRequest {})),
        _ => None,
    };
    pb::WatchRequest { request_union: union }
}

/// A random member id, often near the edges.
pub fn node_id(g: &mut Gen) -> NodeId {
    NodeId(g.interesting_u64())
}

/// A sender that is not a voting member in good standing of a cluster of ids 1..=3 (unless the
/// receiver itself: a message claiming to be from ourselves).
pub fn stranger(g: &mut Gen, receiver: NodeId) -> NodeId {
    match g.below(4) {
        0 => receiver,
        1 => NodeId(0),
        _ => NodeId(4 + g.next_u64() % 1000),
    }
}

fn term_near(g: &mut Gen, current: Term, may_exceed: bool) -> Term {
    let t = current.0;
    match g.below(if may_exceed { 6 } else { 3 }) {
        0 => Term(0),
        1 => Term(t.saturating_sub(1)),
        2 => Term(t.saturating_sub(g.next_u64() % t.saturating_add(1))),
        3 => Term(t),
        4 => Term(t.saturating_add(1 + g.next_u64() % 3)),
        _ => Term(g.interesting_u64()),
    }
}

fn index(g: &mut Gen) -> LogIndex {
    LogIndex(match g.below(3) {
        0 => g.next_u64() % 64,
        _ => g.interesting_u64(),
    })
}

fn entries(g: &mut Gen, prev: LogIndex) -> Vec<Entry> {
    let n = g.below(4);
    (0..n as u64)
        .map(|i| Entry {
            term: Term(g.next_u64() % 8),
            index: if g.chance(9, 10) { LogIndex(prev.0.wrapping_add(1 + i)) } else { index(g) },
            kind: if g.chance(1, 5) { EntryKind::ConfChange } else { EntryKind::Normal },
            data: match g.below(3) {
                0 => Vec::new().into(),
                1 => g.bytes(64).into(),
                _ => {
                    let req =
                        pb::InternalRaftRequest { put: Some(put_request(g)), ..Default::default() };
                    req.encode_to_vec().into()
                }
            },
        })
        .collect()
}

fn conf_state(g: &mut Gen) -> ConfState {
    let ids = |g: &mut Gen| -> BTreeSet<NodeId> {
        (0..g.below(4)).map(|_| NodeId(g.next_u64() % 6)).collect()
    };
    ConfState {
        voters: ids(g),
        learners: ids(g),
        voters_outgoing: if g.chance(1, 4) { ids(g) } else { BTreeSet::new() },
        learners_next: BTreeSet::new(),
        auto_leave: g.bool(),
    }
}

fn snapshot_meta(g: &mut Gen) -> SnapshotMeta {
    SnapshotMeta { index: index(g), term: Term(g.interesting_u64()), conf_state: conf_state(g) }
}

/// A well-formed peer message from `from` to `to` with adversarial contents. Terms stay at or
/// below `current` unless `may_exceed` (a forged message from a real member). Unless `known`,
/// shapes that trigger known findings are left out (see the ignored tests in
/// `random_input_node.rs`): bare Raft `Snapshot` messages and snapshot transfers that
/// complete (a single last chunk).
pub fn peer_message(
    g: &mut Gen,
    from: NodeId,
    to: NodeId,
    current: Term,
    may_exceed: bool,
    known: bool,
) -> PeerMessage {
    match g.below(10) {
        0..=5 => {
            let body = match g.below(if known { 13 } else { 12 }) {
                0 => MessageBody::PreVote {
                    last_index: index(g),
                    last_term: Term(g.interesting_u64()),
                },
                1 => MessageBody::PreVoteResponse { reject: g.bool() },
                2 => MessageBody::Vote {
                    last_index: index(g),
                    last_term: Term(g.interesting_u64()),
                    transfer: g.bool(),
                },
                3 => MessageBody::VoteResponse { reject: g.bool() },
                4 => {
                    let prev_index = index(g);
                    MessageBody::Append {
                        prev_index,
                        prev_term: Term(g.interesting_u64()),
                        entries: entries(g, prev_index),
                        commit: index(g),
                    }
                }
                5 => MessageBody::AppendResponse {
                    index: index(g),
                    reject: g.bool(),
                    hint_index: index(g),
                    hint_term: Term(g.interesting_u64()),
                },
                6 => MessageBody::Heartbeat { commit: index(g), read_round: g.interesting_u64() },
                7 => MessageBody::HeartbeatResponse { read_round: g.interesting_u64() },
                8 => MessageBody::Propose {
                    data: (0..g.below(3)).map(|_| g.bytes(32).into()).collect(),
                },
                9 => MessageBody::ReadIndex { ctx: ReadId(g.interesting_u64()) },
                10 => MessageBody::ReadIndexResponse {
                    ctx: ReadId(g.interesting_u64()),
                    index: g.bool().then(|| index(g)),
                },
                11 => MessageBody::TimeoutNow,
                _ => MessageBody::Snapshot { meta: snapshot_meta(g) },
            };
            let to = if g.chance(1, 10) { node_id(g) } else { to };
            PeerMessage::Raft(Message { from, to, term: term_near(g, current, may_exceed), body })
        }
        6 | 7 => {
            let records = (0..g.below(6))
                .map(|_| {
                    let tag =
                        if g.chance(4, 5) { 3 + g.below(5) as u8 } else { g.next_u64() as u8 };
                    (tag, g.bytes(24), g.bytes(48))
                })
                .collect();
            PeerMessage::SnapshotChunk(SnapshotChunk {
                transfer: g.interesting_u64(),
                term: term_near(g, current, may_exceed),
                meta: snapshot_meta(g),
                seq: if g.bool() { g.below(3) as u32 } else { g.next_u64() as u32 },
                records,
                last: known && g.bool(),
            })
        }
        8 => PeerMessage::SnapshotAck(SnapshotAck {
            transfer: if g.bool() { g.below(4) as u64 } else { g.interesting_u64() },
            seq: if g.bool() { g.below(4) as u32 } else { g.next_u64() as u32 },
            ok: g.bool(),
        }),
        _ => {
            let id = g.interesting_u64();
            let lease = LeaseId(lease_id(g));
            if g.bool() {
                let request = if g.bool() {
                    Forwarded::LeaseKeepAlive { lease }
                } else {
                    Forwarded::LeaseTimeToLive { lease, keys: g.bool() }
                };
                PeerMessage::Forward { id, request }
            } else {
                let reply = match g.below(4) {
                    0 => ForwardedReply::LeaseKeepAlive { ttl_seconds: g.interesting_i64() },
                    1 => ForwardedReply::LeaseTimeToLive {
                        ttl_seconds: g.interesting_i64(),
                        granted_ttl_seconds: g.interesting_i64(),
                        keys: (0..g.below(3)).map(|_| key(g)).collect(),
                    },
                    2 => ForwardedReply::LeaseNotFound,
                    _ => ForwardedReply::NotLeader,
                };
                PeerMessage::ForwardReply { id, reply }
            }
        }
    }
}

#[test]
fn generators_are_deterministic_and_reach_every_request_variant() {
    let mut names = BTreeSet::new();
    let (mut a, mut b) = (Gen::new(7), Gen::new(7));
    for _ in 0..5_000 {
        let (ra, rb) = (request(&mut a, 0), request(&mut b, 0));
        assert_eq!(ra, rb, "same seed, same request");
        names.insert(ra.name());
    }
    assert_eq!(names.len(), REQUEST_VARIANTS, "variants reached: {names:?}");
    let mut kinds = BTreeSet::new();
    for _ in 0..5_000 {
        if let PeerMessage::Raft(m) =
            peer_message(&mut a, NodeId(9), NodeId(1), Term(3), true, true)
        {
            kinds.insert(m.body.kind());
        }
    }
    assert_eq!(kinds.len(), 13, "Raft message kinds reached: {kinds:?}");
}
