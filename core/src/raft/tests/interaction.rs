//! The scenario harness: replays `core/testdata/raft/*.txt` (datadriven; `REWRITE=1`
//! regenerates the expectations). One handler per verb:
//!
//! - `add-nodes N voters=(..) [learners=(..)] [join=(..)] [pre-vote check-quorum lease
//!   no-forward election=E heartbeat=H inflight=I max-append-bytes=B max-uncommitted=U
//!   max-pending-reads=R]`: founders (bootstrapped, founding entries durable and applied) and
//!   empty joiners; `N` is the total count.
//! - `campaign X`, `tick X.. [n=K]`, `propose X data=(a,b)` or `propose X bytes=N`,
//!   `conf-change X changes=(v4,l5,r1) [transition=auto|joint|joint-auto|leave]`,
//!   `transfer-leader X to=Y`, `read-index X ctx=N`, `compact X index=N`.
//! - `persist X [n=K]`, `deliver-msgs [X..]`, `drop-msgs [X..] [from=Y]`, `deliver-snapshots X`,
//!   `send-snapshot from=X to=Y`, `hold-apply X..`, `release-apply X..`,
//!   `add-node-with-log X terms=(..) term=T voters=(..) [commit=C]`,
//!   `stabilize [X..]`, `partition group=(..)`, `heal`, `crash X`, `restart X`.
//! - `status [X..]`, `log X`, `msgs`, `counters X`, `reads X`.

use super::cluster::{Cluster, NoObserver};
use crate::ids::{LogIndex, NodeId, Term};
use crate::raft::{
    ConfChange, ConfState, Entry, EntryKind, HardState, RaftConfig, RaftRecovered, ReadId,
    ReadOnlyMode, Role, SingleChange, Transition,
};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use datadriven::TestCase;
use std::fmt::Write as _;

fn ids(tc: &TestCase) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = tc
        .args
        .iter()
        .filter(|(_, v)| v.is_empty())
        .filter_map(|(k, _)| k.parse::<u64>().ok())
        .map(NodeId)
        .collect();
    ids.sort_unstable();
    ids
}

fn up(c: &mut Cluster, id: NodeId) -> Result<&mut crate::raft::Raft, String> {
    c.nodes
        .get_mut(&id)
        .ok_or("unknown node")?
        .raft
        .as_mut()
        .ok_or_else(|| format!("node {id} is down"))
}

fn one_id(tc: &TestCase) -> Result<NodeId, String> {
    match ids(tc).as_slice() {
        [id] => Ok(*id),
        other => Err(format!("expected one node id, got {other:?}")),
    }
}

fn arg<T: core::str::FromStr>(tc: &TestCase, name: &str) -> Result<Option<T>, String> {
    match tc.args.get(name).map(Vec::as_slice) {
        None => Ok(None),
        Some([v]) => v.parse().map(Some).map_err(|_| format!("bad value for {name}: {v}")),
        Some(vals) => Err(format!("{name} takes one value, got {vals:?}")),
    }
}

fn id_list(tc: &TestCase, name: &str) -> Result<Vec<NodeId>, String> {
    tc.args
        .get(name)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|v| v.parse::<u64>().map(NodeId).map_err(|_| format!("bad id {v}")))
        .collect()
}

fn flag(tc: &TestCase, name: &str) -> bool {
    tc.args.contains_key(name)
}

fn config(tc: &TestCase, id: NodeId) -> Result<RaftConfig, String> {
    let mut cfg = RaftConfig::new(id);
    cfg.pre_vote = flag(tc, "pre-vote");
    cfg.check_quorum = flag(tc, "check-quorum") || flag(tc, "lease");
    if flag(tc, "lease") {
        cfg.read_only = ReadOnlyMode::LeaseBased;
    }
    cfg.forward_proposals = !flag(tc, "no-forward");
    cfg.forward_reads = !flag(tc, "no-forward");
    cfg.election_ticks = arg(tc, "election")?.unwrap_or(10);
    cfg.heartbeat_ticks = arg(tc, "heartbeat")?.unwrap_or(1);
    cfg.max_inflight_appends = arg(tc, "inflight")?.unwrap_or(256);
    cfg.max_append_bytes = arg(tc, "max-append-bytes")?.unwrap_or(1 << 20);
    cfg.max_uncommitted_bytes = arg(tc, "max-uncommitted")?.unwrap_or(64 << 20);
    cfg.max_proposal_bytes = arg(tc, "max-proposal")?.unwrap_or(1 << 20);
    cfg.max_pending_reads = arg(tc, "max-pending-reads")?.unwrap_or(64);
    Ok(cfg)
}

fn parse_change(s: &str) -> Result<SingleChange, String> {
    let (kind, id) = s.split_at(1);
    let id = NodeId(id.parse().map_err(|_| format!("bad change {s}"))?);
    match kind {
        "v" => Ok(SingleChange::AddVoter(id)),
        "l" => Ok(SingleChange::AddLearner(id)),
        "r" => Ok(SingleChange::Remove(id)),
        _ => Err(format!("bad change {s} (v<id>, l<id> or r<id>)")),
    }
}

fn status_line(c: &Cluster, id: NodeId) -> String {
    let node = &c.nodes[&id];
    let Some(r) = node.raft.as_ref() else { return format!("{id}: down") };
    let mut s = format!(
        "{id}: {} term={} leader={} commit={} applied={} last={} persisted={} conf: {}",
        r.role(),
        r.term(),
        r.leader(),
        r.commit_index(),
        r.applied(),
        r.last_index(),
        r.persisted_index(),
        r.conf_state()
    );
    if r.role() == Role::Leader {
        for member in r.conf_state().members() {
            if member != id {
                if let Some(p) = r.progress(member) {
                    let _ = write!(s, "\n   {member}: {p}");
                }
            }
        }
    }
    s
}

fn handle(c: &mut Cluster, tc: &TestCase) -> Result<String, String> {
    let obs = &mut NoObserver;
    c.lines.clear();
    let mut extra = String::new();
    match tc.directive.as_str() {
        "add-nodes" => {
            let voters = id_list(tc, "voters")?;
            let learners = id_list(tc, "learners")?;
            let joiners = id_list(tc, "join")?;
            let n = one_id(tc)?.0 as usize;
            if n != voters.len() + learners.len() + joiners.len() {
                return Err("add-nodes: count does not match the ids".into());
            }
            let mut founders: Vec<ConfChange> =
                voters.iter().map(|id| ConfChange::add_voter(*id, Vec::new())).collect();
            founders.extend(learners.iter().map(|id| ConfChange::add_learner(*id, Vec::new())));
            for id in voters.iter().chain(learners.iter()) {
                c.add_founder(config(tc, *id)?, &founders, obs);
            }
            for id in &joiners {
                c.add_joiner(config(tc, *id)?);
            }
            for id in voters.iter().chain(learners.iter()).chain(joiners.iter()) {
                extra.push_str(&status_line(c, *id));
                extra.push('\n');
            }
        }
        "add-node-with-log" => {
            // add-node-with-log X terms=(1,1,2) term=T voters=(..) [commit=C] [vote=V]
            let id = one_id(tc)?;
            let terms: Vec<u64> = tc
                .args
                .get("terms")
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|t| t.parse().map_err(|_| format!("bad term {t}")))
                .collect::<Result<_, _>>()?;
            let entries: Vec<Entry> = terms
                .iter()
                .enumerate()
                .map(|(i, t)| Entry {
                    term: Term(*t),
                    index: LogIndex(i as u64 + 1),
                    kind: EntryKind::Normal,
                    data: b"v"[..].into(),
                })
                .collect();
            let commit = LogIndex(arg(tc, "commit")?.unwrap_or(0));
            let hard_state = HardState {
                term: Term(arg(tc, "term")?.ok_or("term= needed")?),
                vote: NodeId(arg(tc, "vote")?.unwrap_or(0)),
                commit,
            };
            let conf_state = ConfState::with_voters(id_list(tc, "voters")?);
            let recovered = RaftRecovered {
                hard_state,
                compacted: (LogIndex::ZERO, Term::ZERO),
                entries,
                conf_state,
                applied: commit,
            };
            c.add_recovered(config(tc, id)?, recovered);
            extra.push_str(&status_line(c, id));
            extra.push('\n');
        }
        "hold-apply" => {
            for id in ids(tc) {
                c.nodes.get_mut(&id).ok_or("unknown node")?.hold_apply = true;
            }
        }
        "release-apply" => {
            for id in ids(tc) {
                c.release_apply(id, obs);
            }
        }
        "campaign" => {
            let id = one_id(tc)?;
            let started = up(c, id)?.campaign();
            if !started {
                extra.push_str("campaign refused\n");
            }
            c.drain(id, obs);
        }
        "tick" => {
            let n: u32 = arg(tc, "n")?.unwrap_or(1);
            // Nodes tick in lockstep, one tick each per round.
            for _ in 0..n {
                for id in ids(tc) {
                    if let Some(r) = c.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
                        r.tick();
                    }
                    c.drain(id, obs);
                }
            }
        }
        "propose" => {
            let id = one_id(tc)?;
            let data: Vec<Vec<u8>> = match arg::<usize>(tc, "bytes")? {
                Some(n) => alloc::vec![alloc::vec![b'x'; n]],
                None => tc
                    .args
                    .get("data")
                    .ok_or("propose needs data= or bytes=")?
                    .iter()
                    .map(|d| d.as_bytes().to_vec())
                    .collect(),
            };
            let result = up(c, id)?.propose_batch(data.into_iter().map(Into::into).collect());
            let _ = writeln!(extra, "{result:?}");
            c.drain(id, obs);
        }
        "conf-change" => {
            let id = one_id(tc)?;
            let changes = tc
                .args
                .get("changes")
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|s| parse_change(s))
                .collect::<Result<Vec<_>, _>>()?;
            let transition = match arg::<String>(tc, "transition")?.as_deref() {
                None | Some("auto") => Transition::Auto,
                Some("joint") => Transition::Joint { auto_leave: false },
                Some("joint-auto") => Transition::Joint { auto_leave: true },
                Some("leave") => Transition::LeaveJoint,
                Some(other) => return Err(format!("bad transition {other}")),
            };
            let cc = ConfChange { transition, changes, context: Vec::new() };
            let result = up(c, id)?.propose_conf_change(&cc);
            let _ = writeln!(extra, "{result:?}");
            c.drain(id, obs);
        }
        "transfer-leader" => {
            let id = one_id(tc)?;
            let to = NodeId(arg(tc, "to")?.ok_or("to= needed")?);
            let result = up(c, id)?.transfer_leader(to);
            let _ = writeln!(extra, "{result:?}");
            c.drain(id, obs);
        }
        "read-index" => {
            let id = one_id(tc)?;
            let ctx = ReadId(arg(tc, "ctx")?.ok_or("ctx= needed")?);
            up(c, id)?.read_index(ctx);
            c.drain(id, obs);
        }
        "compact" => {
            let id = one_id(tc)?;
            let index = LogIndex(arg(tc, "index")?.ok_or("index= needed")?);
            let result = up(c, id)?.compact(index);
            let _ = writeln!(extra, "{result:?}");
            c.drain(id, obs);
        }
        "persist" => {
            let n: usize = arg(tc, "n")?.unwrap_or(usize::MAX);
            for id in ids(tc) {
                c.persist(id, n, obs);
            }
        }
        "deliver-msgs" => {
            let targets: BTreeSet<NodeId> = ids(tc).into_iter().collect();
            c.deliver_to(if targets.is_empty() { None } else { Some(&targets) }, obs);
        }
        "drop-msgs" => {
            let targets: BTreeSet<NodeId> = ids(tc).into_iter().collect();
            let from: Option<u64> = arg(tc, "from")?;
            let before = c.network.len();
            c.network.retain(|m| {
                let to_hit = targets.is_empty() || targets.contains(&m.to);
                let from_hit = from.is_none_or(|f| m.from == NodeId(f));
                !(to_hit && from_hit)
            });
            let _ = writeln!(extra, "dropped {}", before - c.network.len());
        }
        "deliver-snapshots" => {
            let id = one_id(tc)?;
            c.deliver_snapshots(id, obs);
        }
        "send-snapshot" => {
            // The Node of `from` streams its state machine to `to` unasked (a duplicate or late
            // stream): Raft on `to` decides.
            let from = NodeId(arg(tc, "from")?.ok_or("from= needed")?);
            let to = NodeId(arg(tc, "to")?.ok_or("to= needed")?);
            c.send_snapshot(from, to, obs);
        }
        "stabilize" => {
            let targets: BTreeSet<NodeId> = ids(tc).into_iter().collect();
            c.stabilize(if targets.is_empty() { None } else { Some(&targets) }, obs);
        }
        "partition" => {
            c.partition = Some(id_list(tc, "group")?.into_iter().collect());
        }
        "heal" => c.partition = None,
        "crash" => {
            let id = one_id(tc)?;
            c.crash(id);
        }
        "restart" => {
            let id = one_id(tc)?;
            c.restart(id, obs);
            extra.push_str(&status_line(c, id));
            extra.push('\n');
        }
        "status" => {
            let mut targets = ids(tc);
            if targets.is_empty() {
                targets = c.ids();
            }
            for id in targets {
                extra.push_str(&status_line(c, id));
                extra.push('\n');
            }
        }
        "log" => {
            let id = one_id(tc)?;
            let r = c.nodes[&id].raft.as_ref().ok_or("node is down")?;
            let entries = r.entries(r.first_index(), r.last_index());
            let _ = writeln!(extra, "first={} last={}", r.first_index(), r.last_index());
            for e in entries {
                let _ = writeln!(extra, "{e}");
            }
            let applied: Vec<String> =
                c.nodes[&id].sm.entries.iter().map(|(i, t, _)| format!("{t}/{i}")).collect();
            let _ = writeln!(extra, "applied: {}", applied.join(" "));
        }
        "msgs" => {
            for m in &c.network {
                let _ = writeln!(extra, "{m}");
            }
        }
        "counters" => {
            let id = one_id(tc)?;
            let _ = writeln!(extra, "{:?}", up(c, id)?.counters());
        }
        "reads" => {
            let id = one_id(tc)?;
            for (ctx, r) in &c.nodes[&id].reads {
                let _ = writeln!(extra, "{ctx}: {r:?}");
            }
        }
        other => return Err(format!("unknown verb {other}")),
    }
    let mut out = String::new();
    for l in &c.lines {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&extra);
    if out.is_empty() {
        out.push_str("ok\n");
    }
    Ok(out)
}

#[test]
fn scenarios() {
    datadriven::walk("testdata/raft", |f| {
        let mut cluster = Cluster::new(true);
        f.run(|tc| -> String {
            match handle(&mut cluster, tc) {
                Ok(s) => s,
                Err(e) => format!("error: {e}\n"),
            }
        });
    });
}

#[test]
fn harness_parses_changes() {
    assert_eq!(parse_change("v4"), Ok(SingleChange::AddVoter(NodeId(4))));
    assert!(parse_change("x4").is_err());
    let _ = "unused".to_string();
}
