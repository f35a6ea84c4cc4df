//! Structure-aware sequences of member inputs (`arbitrary`): client requests, watch traffic,
//! Raft messages with fuzzer-chosen fields, snapshot chunks and acks, forwarded requests,
//! spurious persist confirmations and password verdicts, storage sizes and time moving
//! forwards, far forwards and backwards, against a 1- or 3-member cluster. No panic; shapes of
//! known findings are dropped unless `OXCD_FUZZ_KNOWN=1`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use oxcd_core::ids::LogIndex;
use oxcd_core::node::{PeerMessage, PersistId, SnapshotAck, SnapshotChunk, VerifyId};
use oxcd_core::raft::{Entry, EntryKind, Message, MessageBody, ReadId, SnapshotMeta};
use oxcd_core::{Instant, NodeId, Term};
use oxcd_fuzz::gen::{self, Gen};
use oxcd_fuzz::{is_known_finding, known, Cluster};
use std::time::Duration;

#[derive(Arbitrary, Debug)]
struct Input {
    three: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A client request of any variant, its fields drawn from `seed`.
    Client {
        on: u8,
        seed: u64,
    },
    Watch {
        on: u8,
        stream: u8,
        seed: u64,
    },
    WatchClosed {
        on: u8,
        stream: u8,
    },
    Raft {
        from: u8,
        to: u8,
        term: TermPick,
        body: Body,
    },
    /// Any peer message, drawn from `seed`.
    Peer {
        from: u8,
        to: u8,
        seed: u64,
    },
    Chunk {
        from: u8,
        to: u8,
        transfer: u8,
        seq: u8,
        term: TermPick,
        records: Vec<(u8, Vec<u8>, Vec<u8>)>,
        last: bool,
        index: u64,
    },
    Ack {
        from: u8,
        to: u8,
        transfer: u8,
        seq: u8,
        ok: bool,
    },
    Persisted {
        on: u8,
        id: u64,
    },
    Password {
        on: u8,
        id: u64,
        matches: bool,
    },
    StorageSize {
        on: u8,
        size: u64,
        used: u64,
    },
    Advance {
        millis: u16,
    },
    Jump {
        hours: u16,
    },
    Back {
        millis: u32,
    },
    Campaign {
        on: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum TermPick {
    Current,
    Behind(u8),
    Ahead(u8),
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum Body {
    PreVote { last_index: u64, last_term: u64 },
    PreVoteResponse { reject: bool },
    Vote { last_index: u64, last_term: u64, transfer: bool },
    VoteResponse { reject: bool },
    Append { prev_index: u64, prev_term: u64, entries: Vec<(u64, bool, Vec<u8>)>, commit: u64 },
    AppendResponse { index: u64, reject: bool, hint_index: u64, hint_term: u64 },
    Heartbeat { commit: u64, read_round: u64 },
    HeartbeatResponse { read_round: u64 },
    Propose { data: Vec<Vec<u8>> },
    ReadIndex { ctx: u64 },
    ReadIndexResponse { ctx: u64, index: Option<u64> },
    TimeoutNow,
    Snapshot { index: u64, term: u64 },
}

fn member(c: &Cluster, pick: u8) -> NodeId {
    // One value in eight names no member (0 or a stranger).
    match pick % 8 {
        7 => NodeId(u64::from(pick)),
        p => {
            let ids = c.ids();
            ids[usize::from(p) % ids.len()]
        }
    }
}

fn term(c: &Cluster, to: NodeId, pick: &TermPick) -> Term {
    let current = c.members.get(&to).map_or(0, |(n, _)| n.term().0);
    Term(match pick {
        TermPick::Current => current,
        TermPick::Behind(d) => current.saturating_sub(u64::from(*d)),
        TermPick::Ahead(d) => current.saturating_add(u64::from(*d)),
        TermPick::Raw(t) => *t,
    })
}

fn body(c: &Cluster, to: NodeId, b: Body) -> MessageBody {
    match b {
        Body::PreVote { last_index, last_term } => {
            MessageBody::PreVote { last_index: LogIndex(last_index), last_term: Term(last_term) }
        }
        Body::PreVoteResponse { reject } => MessageBody::PreVoteResponse { reject },
        Body::Vote { last_index, last_term, transfer } => MessageBody::Vote {
            last_index: LogIndex(last_index),
            last_term: Term(last_term),
            transfer,
        },
        Body::VoteResponse { reject } => MessageBody::VoteResponse { reject },
        Body::Append { prev_index, prev_term, entries, commit } => {
            let entries = entries
                .into_iter()
                .enumerate()
                .map(|(i, (term, conf, data))| Entry {
                    term: Term(term),
                    index: LogIndex(prev_index.wrapping_add(1 + i as u64)),
                    kind: if conf { EntryKind::ConfChange } else { EntryKind::Normal },
                    data: data.into(),
                })
                .collect();
            MessageBody::Append {
                prev_index: LogIndex(prev_index),
                prev_term: Term(prev_term),
                entries,
                commit: LogIndex(commit),
            }
        }
        Body::AppendResponse { index, reject, hint_index, hint_term } => {
            MessageBody::AppendResponse {
                index: LogIndex(index),
                reject,
                hint_index: LogIndex(hint_index),
                hint_term: Term(hint_term),
            }
        }
        Body::Heartbeat { commit, read_round } => {
            MessageBody::Heartbeat { commit: LogIndex(commit), read_round }
        }
        Body::HeartbeatResponse { read_round } => MessageBody::HeartbeatResponse { read_round },
        Body::Propose { data } => {
            MessageBody::Propose { data: data.into_iter().map(Into::into).collect() }
        }
        Body::ReadIndex { ctx } => MessageBody::ReadIndex { ctx: ReadId(ctx) },
        Body::ReadIndexResponse { ctx, index } => {
            MessageBody::ReadIndexResponse { ctx: ReadId(ctx), index: index.map(LogIndex) }
        }
        Body::TimeoutNow => MessageBody::TimeoutNow,
        Body::Snapshot { index, term } => {
            let conf_state =
                c.members.get(&to).map(|(n, _)| n.raft().conf_state().clone()).unwrap_or_default();
            MessageBody::Snapshot {
                meta: SnapshotMeta { index: LogIndex(index), term: Term(term), conf_state },
            }
        }
    }
}

fn send(c: &mut Cluster, from: NodeId, to: NodeId, m: PeerMessage) {
    if !known() && is_known_finding(&m) {
        return;
    }
    c.peer(from, to, m);
}

fuzz_target!(|input: Input| {
    let mut c = Cluster::new(if input.three { 3 } else { 1 });
    for op in input.ops.into_iter().take(64) {
        let now = c.now;
        match op {
            Op::Client { on, seed } => {
                let mut g = Gen::new(seed);
                let (request, meta) = (gen::request(&mut g, 0), gen::meta(&mut g));
                c.client(member(&c, on), meta, request);
            }
            Op::Watch { on, stream, seed } => {
                let mut g = Gen::new(seed);
                let (request, meta) = (gen::watch_request(&mut g), gen::meta(&mut g));
                c.watch(member(&c, on), u64::from(stream % 4), meta, request);
            }
            Op::WatchClosed { on, stream } => {
                if let Some((n, _)) = c.members.get_mut(&member(&c, on)) {
                    n.handle_watch_closed(
                        now,
                        oxcd_core::watch::WatchStreamId(u64::from(stream % 4)),
                    );
                }
            }
            Op::Raft { from, to, term: t, body: b } => {
                let (from, to) = (member(&c, from), member(&c, to));
                let m = Message { from, to, term: term(&c, to, &t), body: body(&c, to, b) };
                send(&mut c, from, to, PeerMessage::Raft(m));
            }
            Op::Peer { from, to, seed } => {
                let (from, to) = (member(&c, from), member(&c, to));
                let current = c.members.get(&to).map_or(Term(0), |(n, _)| n.term());
                let m = gen::peer_message(&mut Gen::new(seed), from, to, current, true, true);
                send(&mut c, from, to, m);
            }
            Op::Chunk { from, to, transfer, seq, term: t, records, last, index } => {
                let (from, to) = (member(&c, from), member(&c, to));
                let conf_state = c
                    .members
                    .get(&to)
                    .map(|(n, _)| n.raft().conf_state().clone())
                    .unwrap_or_default();
                let term = term(&c, to, &t);
                let chunk = SnapshotChunk {
                    transfer: u64::from(transfer),
                    term,
                    meta: SnapshotMeta { index: LogIndex(index), term, conf_state },
                    seq: u32::from(seq),
                    records: records.into_iter().take(16).collect(),
                    last,
                };
                send(&mut c, from, to, PeerMessage::SnapshotChunk(chunk));
            }
            Op::Ack { from, to, transfer, seq, ok } => {
                let (from, to) = (member(&c, from), member(&c, to));
                let ack = SnapshotAck { transfer: u64::from(transfer), seq: u32::from(seq), ok };
                send(&mut c, from, to, PeerMessage::SnapshotAck(ack));
            }
            Op::Persisted { on, id } => {
                // The driver writes every persist as it comes out, so any id here is either
                // confirmed already or was never issued.
                if let Some((n, _)) = c.members.get_mut(&member(&c, on)) {
                    n.handle_persisted(now, PersistId(id));
                }
                c.settle();
            }
            Op::Password { on, id, matches } => {
                if let Some((n, _)) = c.members.get_mut(&member(&c, on)) {
                    n.handle_password_verified(now, VerifyId(id), matches);
                }
                c.settle();
            }
            Op::StorageSize { on, size, used } => {
                if let Some((n, _)) = c.members.get_mut(&member(&c, on)) {
                    n.handle_storage_size(now, size, used);
                }
            }
            Op::Advance { millis } => c.run_for(Duration::from_millis(u64::from(millis))),
            Op::Jump { hours } => {
                c.now = c.now + Duration::from_secs(u64::from(hours) * 3600);
                c.run_for(Duration::from_millis(1));
            }
            Op::Back { millis } => {
                let then = Instant::from_nanos(
                    now.as_nanos().saturating_sub(u64::from(millis) * 1_000_000),
                );
                for (n, _) in c.members.values_mut() {
                    n.handle_timeout(then);
                }
                c.settle();
            }
            Op::Campaign { on } => {
                if let Some((n, _)) = c.members.get_mut(&member(&c, on)) {
                    n.campaign(now);
                }
                c.settle();
            }
        }
    }
    c.run_for(Duration::from_secs(2));
});
