//! Arbitrary input never panics a member: seeded random (often malformed) messages, snapshot
//! offers and snapshot reports are mixed into a live three-member cluster, together with the
//! ordinary commands. The member must refuse or absorb every one, and the cluster harness
//! checks that what comes out stays well-formed (applied in order, exactly once).
//!
//! `OXCD_FUZZ_SEEDS=N` runs N seeds (default 200).

use super::cluster::{Cluster, NoObserver, StateMachine};
use crate::ids::{LogIndex, NodeId, Term};
use crate::raft::{
    ConfChange, ConfState, Entry, EntryKind, Message, MessageBody, RaftConfig, ReadId,
    SnapshotMeta, SnapshotStatus,
};
use crate::rng::Rng;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

const INPUTS: usize = 1500;

fn near(rng: &mut Rng, around: u64) -> u64 {
    match rng.range_u64(0, 10) {
        0 => rng.next_u64(),
        1 => u64::MAX - rng.range_u64(0, 3),
        2 => 0,
        _ => around.saturating_add(rng.range_u64(0, 8)).saturating_sub(4),
    }
}

fn random_entries(rng: &mut Rng, prev: u64, term: u64) -> Vec<Entry> {
    let n = rng.range_u64(0, 4);
    let consecutive = rng.chance(4, 5);
    (0..n)
        .map(|i| {
            let index = if consecutive { prev.wrapping_add(i + 1) } else { near(rng, prev) };
            let kind = if rng.chance(1, 5) { EntryKind::ConfChange } else { EntryKind::Normal };
            let data = if kind == EntryKind::ConfChange && rng.chance(1, 2) {
                ConfChange::add_voter(NodeId(rng.range_u64(0, 6)), Vec::new()).encode()
            } else {
                (0..rng.range_u64(0, 6)).map(|_| rng.next_u64() as u8).collect()
            };
            Entry { term: Term(near(rng, term)), index: LogIndex(index), kind, data: data.into() }
        })
        .collect()
}

fn random_message(rng: &mut Rng, c: &Cluster, target: NodeId) -> Message {
    let (term, last) =
        c.nodes[&target].raft.as_ref().map_or((1, 1), |r| (r.term().0, r.last_index().0));
    let from = NodeId([0, 1, 2, 3, 4, 9][rng.range_u64(0, 6) as usize]);
    let to = if rng.chance(9, 10) { target } else { NodeId(rng.range_u64(0, 5)) };
    let body = match rng.range_u64(0, 13) {
        0 => MessageBody::PreVote {
            last_index: LogIndex(near(rng, last)),
            last_term: Term(near(rng, term)),
        },
        1 => MessageBody::PreVoteResponse { reject: rng.chance(1, 2) },
        2 => MessageBody::Vote {
            last_index: LogIndex(near(rng, last)),
            last_term: Term(near(rng, term)),
            transfer: rng.chance(1, 4),
        },
        3 => MessageBody::VoteResponse { reject: rng.chance(1, 2) },
        4 => {
            let prev = near(rng, last);
            MessageBody::Append {
                prev_index: LogIndex(prev),
                prev_term: Term(near(rng, term)),
                entries: random_entries(rng, prev, term),
                commit: LogIndex(near(rng, last)),
            }
        }
        5 => MessageBody::AppendResponse {
            index: LogIndex(near(rng, last)),
            reject: rng.chance(1, 2),
            hint_index: LogIndex(near(rng, last)),
            hint_term: Term(near(rng, term)),
        },
        6 => MessageBody::Heartbeat {
            commit: LogIndex(near(rng, last)),
            read_round: rng.range_u64(0, 5),
        },
        7 => MessageBody::HeartbeatResponse { read_round: near(rng, 3) },
        8 => MessageBody::Propose {
            data: (0..rng.range_u64(0, 3)).map(|i| alloc::vec![i as u8; 3].into()).collect(),
        },
        9 => MessageBody::ReadIndex { ctx: ReadId(rng.range_u64(0, 5)) },
        10 => MessageBody::ReadIndexResponse {
            ctx: ReadId(rng.range_u64(0, 5)),
            index: rng.chance(1, 2).then(|| LogIndex(near(rng, last))),
        },
        11 => MessageBody::TimeoutNow,
        _ => MessageBody::Snapshot { meta: random_meta(rng, last, term) },
    };
    Message { from, to, term: Term(near(rng, term)), body }
}

fn random_meta(rng: &mut Rng, last: u64, term: u64) -> SnapshotMeta {
    let voters: Vec<NodeId> = (1..=3).filter(|_| rng.chance(2, 3)).map(NodeId).collect();
    SnapshotMeta {
        index: LogIndex(near(rng, last)),
        term: Term(near(rng, term)),
        conf_state: ConfState::with_voters(voters),
    }
}

/// Steps `m` into `target`; a snapshot goes through `handle_snapshot`, with a state machine
/// staged as the Node would (labelled with the snapshot's index and configuration).
fn offer(c: &mut Cluster, target: NodeId, m: Message) {
    let Some(r) = c.nodes.get_mut(&target).and_then(|n| n.raft.as_mut()) else { return };
    match m.body {
        MessageBody::Snapshot { meta } => {
            if let Ok(true) = r.handle_snapshot(m.from, m.term, meta.clone()) {
                let staged = StateMachine {
                    applied: meta.index,
                    conf: meta.conf_state,
                    entries: Vec::new(),
                };
                c.nodes.get_mut(&target).expect("known").staged.push_back(staged);
            }
        }
        _ => {
            let _ = r.step(m);
        }
    }
    c.drain(target, &mut NoObserver);
}

fn run_seed(seed: u64) {
    let mut rng = Rng::from_seed(seed);
    let obs = &mut NoObserver;
    let mut c = Cluster::new(false);
    let founders: Vec<ConfChange> =
        (1..=3).map(|i| ConfChange::add_voter(NodeId(i), Vec::new())).collect();
    for i in 1..=3 {
        let mut cfg = RaftConfig::new(NodeId(i));
        cfg.pre_vote = rng.chance(1, 2);
        cfg.check_quorum = rng.chance(1, 2);
        cfg.max_inflight_appends = 2;
        cfg.max_pending_reads = 4;
        c.add_founder(cfg, &founders, obs);
    }
    let target = NodeId(rng.range_u64(1, 4));
    for _ in 0..INPUTS {
        let ids = c.ids();
        let id = ids[rng.range_u64(0, ids.len() as u64) as usize];
        match rng.range_u64(0, 20) {
            0..=7 => {
                let m = random_message(&mut rng, &c, target);
                offer(&mut c, target, m);
            }
            8..=10 => {
                if !c.network.is_empty() {
                    let i = rng.range_u64(0, c.network.len() as u64) as usize;
                    let m = c.network.remove(i);
                    c.deliver(m, obs);
                }
            }
            11..=12 => {
                c.persist(id, usize::MAX, obs);
            }
            13 => {
                if let Some(r) = c.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
                    r.tick();
                }
                c.drain(id, obs);
            }
            14 => {
                if let Some(r) = c.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
                    if rng.chance(1, 2) {
                        let _ = r.propose(alloc::vec![1, 2, 3]);
                    } else {
                        r.read_index(ReadId(rng.range_u64(0, 5)));
                    }
                }
                c.drain(id, obs);
            }
            15 => {
                let (last, term) = c.nodes[&target]
                    .raft
                    .as_ref()
                    .map_or((1, 1), |r| (r.last_index().0, r.term().0));
                let meta = random_meta(&mut rng, last, term);
                let from = NodeId(rng.range_u64(0, 5));
                let m = Message {
                    from,
                    to: target,
                    term: Term(near(&mut rng, term)),
                    body: MessageBody::Snapshot { meta },
                };
                offer(&mut c, target, m);
            }
            16 => {
                let status = if rng.chance(1, 2) {
                    SnapshotStatus::Delivered { index: LogIndex(near(&mut rng, 10)) }
                } else {
                    SnapshotStatus::Failed
                };
                if let Some(r) = c.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
                    if rng.chance(1, 2) {
                        r.report_snapshot(NodeId(rng.range_u64(0, 5)), status);
                    } else {
                        let _ = r.transfer_leader(NodeId(rng.range_u64(0, 5)));
                    }
                }
                c.drain(id, obs);
            }
            17 => {
                if let Some(r) = c.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
                    let at = LogIndex(rng.range_u64(0, r.applied().0.saturating_add(3)));
                    if rng.chance(1, 2) {
                        let _ = r.compact(at);
                    } else {
                        let _ = r.campaign();
                    }
                }
                c.drain(id, obs);
            }
            18 => {
                c.deliver_snapshots(id, obs);
            }
            _ => {
                if rng.chance(1, 4) {
                    c.crash(id);
                    c.restart(id, obs);
                }
            }
        }
    }
}

#[test]
fn arbitrary_messages_never_panic_a_member() {
    let n: u64 = std::env::var("OXCD_FUZZ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let mut failures: Vec<String> = Vec::new();
    for seed in 0..n {
        if std::panic::catch_unwind(|| run_seed(seed)).is_err() {
            failures.push(format!("seed={seed}"));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    assert!(failures.is_empty(), "panicked: {}", failures.join(", "));
}
