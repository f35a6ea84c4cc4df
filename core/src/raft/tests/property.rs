//! Randomized, seeded cluster runs: message loss, duplication and reordering, partitions,
//! crashes that lose unpersisted state, restarts, compaction and snapshots, random proposals,
//! reads, leader transfers and membership changes; then a healing phase. Checked throughout:
//! election safety, log matching, leader completeness, state-machine safety, no malformed
//! traffic between correct members; after healing: a leader commits and every voter applies.
//!
//! `OXCD_SIM_SEEDS=N` runs N seeds (default 300); `OXCD_SIM_SEED=S` replays one.

use super::cluster::{Cluster, Observer};
use crate::ids::{LogIndex, NodeId, Term};
use crate::raft::{ConfChange, RaftConfig, ReadId, ReadOnlyMode, Role, SingleChange, Transition};
use crate::rng::Rng;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

const POOL: u64 = 5;
const FAULT_STEPS: usize = 3000;
const HEAL_ROUNDS: usize = 400;

/// Global facts every member must agree with.
#[derive(Default)]
struct Checker {
    /// The leader seen in each term.
    leaders: BTreeMap<Term, NodeId>,
    /// Every entry some member applied: index -> (term, data).
    applied: BTreeMap<LogIndex, (Term, Vec<u8>)>,
    /// For each applied index, a term its commitment happened in or before (the highest term
    /// any member had when it was first applied).
    committed_by: BTreeMap<LogIndex, Term>,
    /// Highest term any member has reached.
    max_term: Term,
    /// Members already checked for leader completeness in their term.
    checked_leaders: BTreeSet<(Term, NodeId)>,
    failure: Option<String>,
}

impl Observer for Checker {
    fn applied(&mut self, node: NodeId, index: LogIndex, term: Term, data: &[u8]) {
        match self.applied.get(&index) {
            Some((t, d)) if *t != term || d.as_slice() != data => {
                self.fail(format!("state-machine safety: node {node} applied {term}/{index}, another applied {t}/{index}"));
            }
            Some(_) => {}
            None => {
                self.applied.insert(index, (term, data.to_vec()));
                self.committed_by.insert(index, self.max_term.max(term));
            }
        }
    }
}

impl Checker {
    fn fail(&mut self, why: String) {
        if self.failure.is_none() {
            self.failure = Some(why);
        }
    }

    fn check(&mut self, c: &Cluster, full: bool) {
        for r in c.nodes.values().filter_map(|n| n.raft.as_ref()) {
            self.max_term = self.max_term.max(r.term());
        }
        for (id, node) in &c.nodes {
            let Some(r) = node.raft.as_ref() else { continue };
            if r.counters().malformed != 0 {
                self.fail(format!(
                    "node {id} refused a message from a correct member as malformed: {:?}",
                    c.malformed
                ));
            }
            if r.commit_index() > r.last_index() {
                self.fail(format!(
                    "node {id} commit {} beyond last {}",
                    r.commit_index(),
                    r.last_index()
                ));
            }
            if r.role() != Role::Leader {
                continue;
            }
            match self.leaders.get(&r.term()) {
                Some(other) if other != id => {
                    self.fail(format!(
                        "election safety: {other} and {id} both lead term {}",
                        r.term()
                    ));
                }
                Some(_) => {}
                None => {
                    self.leaders.insert(r.term(), *id);
                }
            }
            if self.checked_leaders.insert((r.term(), *id)) {
                // Leader completeness: every entry committed in an earlier term is in the new
                // leader's log.
                let first = r.first_index();
                for (index, (term, _)) in self.applied.range(first..) {
                    if self.committed_by[index] < r.term() && r.term_at(*index) != Some(*term) {
                        self.fail(format!(
                            "leader completeness: leader {id} of term {} lacks {term}/{index}",
                            r.term()
                        ));
                        break;
                    }
                }
            }
        }
        if full {
            self.check_log_matching(c);
        }
    }

    fn check_log_matching(&mut self, c: &Cluster) {
        let up: Vec<_> =
            c.nodes.iter().filter_map(|(id, n)| n.raft.as_ref().map(|r| (*id, r))).collect();
        for (i, (a_id, a)) in up.iter().enumerate() {
            for (b_id, b) in &up[i + 1..] {
                let lo = a.first_index().max(b.first_index());
                let hi = a.last_index().min(b.last_index());
                if lo > hi {
                    continue;
                }
                let mut top = None;
                let mut k = hi;
                while k >= lo {
                    if a.term_at(k) == b.term_at(k) {
                        top = Some(k);
                        break;
                    }
                    k = k.prev();
                }
                let Some(top) = top else { continue };
                if a.entries(lo, top) != b.entries(lo, top) {
                    self.fail(format!("log matching: nodes {a_id} and {b_id} agree on the term at {top} but differ below"));
                }
            }
        }
    }
}

struct Sim {
    rng: Rng,
    c: Cluster,
    chk: Checker,
    next_data: u64,
    next_read: u64,
    down: BTreeSet<NodeId>,
    retired: BTreeSet<NodeId>,
    cfg_template: RaftConfig,
    /// Message loss, in twentieths.
    loss: u64,
    /// Extra weight of spontaneous campaigns (election churn).
    churn: u64,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng::from_seed(seed);
        let mut cfg = RaftConfig::new(NodeId(1));
        cfg.election_ticks = 6;
        cfg.heartbeat_ticks = 2;
        cfg.pre_vote = rng.chance(1, 2);
        cfg.check_quorum = rng.chance(1, 2);
        if cfg.check_quorum && rng.chance(1, 3) {
            cfg.read_only = ReadOnlyMode::LeaseBased;
        }
        cfg.max_inflight_appends = rng.range_u64(1, 5) as usize;
        cfg.max_append_bytes = rng.range_u64(1, 64);
        cfg.max_apply_bytes = rng.range_u64(1, 64);
        cfg.max_uncommitted_bytes = 256;
        cfg.forward_proposals = rng.chance(1, 2);
        cfg.forward_reads = rng.chance(1, 2);
        cfg.max_pending_reads = 8;
        let voters = rng.range_u64(1, 4);
        let founders: Vec<ConfChange> =
            (1..=voters).map(|i| ConfChange::add_voter(NodeId(i), Vec::new())).collect();
        let mut sim = Sim {
            rng,
            c: Cluster::new(false),
            chk: Checker::default(),
            next_data: 0,
            next_read: 0,
            down: BTreeSet::new(),
            retired: BTreeSet::new(),
            cfg_template: cfg,
            loss: 0,
            churn: 0,
        };
        sim.loss = sim.rng.range_u64(1, 6);
        sim.churn = sim.rng.range_u64(0, 8);
        for i in 1..=voters {
            let cfg = sim.node_config(NodeId(i), seed);
            sim.c.add_founder(cfg, &founders, &mut sim.chk);
        }
        sim
    }

    fn node_config(&self, id: NodeId, seed: u64) -> RaftConfig {
        let mut cfg = self.cfg_template.clone();
        cfg.id = id;
        cfg.seed = seed.wrapping_mul(31).wrapping_add(id.0);
        cfg
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.rng.range_u64(0, items.len() as u64) as usize])
        }
    }

    fn live(&self) -> Vec<NodeId> {
        self.c.nodes.iter().filter(|(_, n)| n.raft.is_some()).map(|(id, _)| *id).collect()
    }

    fn leader(&self) -> Option<NodeId> {
        let mut best: Option<(Term, NodeId)> = None;
        for (id, n) in &self.c.nodes {
            if let Some(r) = n.raft.as_ref().filter(|r| r.role() == Role::Leader) {
                if best.is_none_or(|(t, _)| r.term() > t) {
                    best = Some((r.term(), *id));
                }
            }
        }
        best.map(|(_, id)| id)
    }

    fn propose(&mut self, id: NodeId) {
        self.next_data += 1;
        let data = format!("d{}", self.next_data).into_bytes();
        let batch =
            if self.rng.chance(1, 4) { alloc::vec![data.clone(), data] } else { alloc::vec![data] };
        if let Some(r) = self.c.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
            let _ = r.propose_batch(batch.into_iter().map(Into::into).collect());
        }
        self.c.drain(id, &mut self.chk);
    }

    fn conf_change(&mut self, seed: u64) {
        let Some(leader) = self.leader() else { return };
        let conf = self.c.nodes[&leader].raft().conf_state().clone();
        let cc = if conf.is_joint() {
            ConfChange::leave_joint()
        } else {
            let mut changes = Vec::new();
            let n = if self.rng.chance(1, 3) { 2 } else { 1 };
            for _ in 0..n {
                let id = NodeId(self.rng.range_u64(1, POOL + 1));
                if self.retired.contains(&id) {
                    continue;
                }
                let change = match self.rng.range_u64(0, 3) {
                    0 => SingleChange::AddVoter(id),
                    1 => SingleChange::AddLearner(id),
                    _ => SingleChange::Remove(id),
                };
                changes.push(change);
            }
            let transition = match self.rng.range_u64(0, 3) {
                0 => Transition::Auto,
                1 => Transition::Joint { auto_leave: true },
                _ => Transition::Joint { auto_leave: false },
            };
            ConfChange { transition, changes, context: Vec::new() }
        };
        for change in &cc.changes {
            let id = change.node();
            if !self.c.nodes.contains_key(&id) {
                let cfg = self.node_config(id, seed);
                self.c.add_joiner(cfg);
            }
        }
        let _ = self.c.nodes.get_mut(&leader).expect("leader").raft_mut().propose_conf_change(&cc);
        self.c.drain(leader, &mut self.chk);
    }

    fn step(&mut self, seed: u64, faults: bool) {
        let live = self.live();
        let all = self.c.ids();
        match self.rng.range_u64(0, 100 + self.churn) {
            0..=39 => {
                if self.c.network.is_empty() {
                    return;
                }
                let i = if faults {
                    self.rng.range_u64(0, self.c.network.len() as u64) as usize
                } else {
                    0
                };
                let m = if faults && self.rng.chance(1, 20) {
                    self.c.network[i].clone()
                } else {
                    self.c.network.remove(i)
                };
                if faults && self.rng.chance(self.loss, 20) {
                    return; // lost
                }
                self.c.deliver(m, &mut self.chk);
            }
            40..=59 => {
                if let Some(id) = self.pick(&live) {
                    let n = if faults { self.rng.range_u64(1, 4) as usize } else { usize::MAX };
                    self.c.persist(id, n, &mut self.chk);
                }
            }
            60..=71 => {
                if let Some(id) = self.pick(&live) {
                    self.c.nodes.get_mut(&id).expect("live").raft_mut().tick();
                    self.c.drain(id, &mut self.chk);
                }
            }
            72..=79 => {
                let target = match self.leader() {
                    Some(l) if self.rng.chance(3, 4) => Some(l),
                    _ => self.pick(&live),
                };
                if let Some(id) = target {
                    self.propose(id);
                }
            }
            80..=81 => self.conf_change(seed),
            82..=83 => {
                if let Some(id) = self.pick(&live) {
                    self.next_read += 1;
                    self.c
                        .nodes
                        .get_mut(&id)
                        .expect("live")
                        .raft_mut()
                        .read_index(ReadId(self.next_read));
                    self.c.drain(id, &mut self.chk);
                }
            }
            84..=86 => {
                if let Some(id) = self.pick(&all) {
                    self.c.deliver_snapshots(id, &mut self.chk);
                }
            }
            87..=88 => {
                if let Some(id) = self.pick(&live) {
                    let applied = self.c.nodes[&id].sm.applied;
                    let at = LogIndex(self.rng.range_u64(0, applied.0 + 1));
                    let _ = self.c.nodes.get_mut(&id).expect("live").raft_mut().compact(at);
                    self.c.drain(id, &mut self.chk);
                }
            }
            89 => {
                if let (Some(leader), Some(to)) = (self.leader(), self.pick(&all)) {
                    let _ = self
                        .c
                        .nodes
                        .get_mut(&leader)
                        .expect("leader")
                        .raft_mut()
                        .transfer_leader(to);
                    self.c.drain(leader, &mut self.chk);
                }
            }
            90 if faults => {
                if let Some(id) = self.pick(&live) {
                    self.c.crash(id);
                    self.down.insert(id);
                }
            }
            91..=95 if faults => {
                let down: Vec<NodeId> = self.down.iter().copied().collect();
                if let Some(id) = self.pick(&down) {
                    self.down.remove(&id);
                    self.c.restart(id, &mut self.chk);
                }
            }
            96 if faults && self.rng.chance(1, 2) => {
                let group: BTreeSet<NodeId> =
                    all.iter().copied().filter(|_| self.rng.chance(1, 2)).collect();
                self.c.partition = Some(group);
            }
            97..=98 if faults => self.c.partition = None,
            _ => {
                if let Some(id) = self.pick(&live) {
                    let _ = self.c.nodes.get_mut(&id).expect("live").raft_mut().campaign();
                    self.c.drain(id, &mut self.chk);
                }
            }
        }
    }

    /// Heals everything, retires members no longer in the configuration, and waits for a
    /// leader to commit a fresh entry that every voter applies.
    fn heal(&mut self) -> Result<(), String> {
        self.c.partition = None;
        for id in core::mem::take(&mut self.down) {
            self.c.restart(id, &mut self.chk);
        }
        let mut marker: Option<Vec<u8>> = None;
        let trace = std::env::var("OXCD_SIM_TRACE").is_ok();
        for round in 0..HEAL_ROUNDS {
            if trace && round == 0 {
                self.c.record = true;
            }
            // Members no live member counts in its configuration are shut down, as an
            // operator would; members someone counts are (re)started.
            for id in self.c.ids() {
                let wanted = self
                    .c
                    .nodes
                    .values()
                    .any(|n| n.raft.as_ref().is_some_and(|r| r.conf_state().contains(id)));
                let up = self.c.up(id);
                if !wanted && up && round > 0 {
                    self.c.crash(id);
                    self.retired.insert(id);
                } else if wanted && !up {
                    self.retired.remove(&id);
                    self.c.restart(id, &mut self.chk);
                }
            }
            self.c.stabilize(None, &mut self.chk);
            for id in self.live() {
                self.c.nodes.get_mut(&id).expect("live").raft_mut().tick();
                self.c.drain(id, &mut self.chk);
            }
            self.c.stabilize(None, &mut self.chk);
            self.chk.check(&self.c, false);
            if let Some(f) = &self.chk.failure {
                return Err(f.clone());
            }
            let Some(leader) = self.leader() else { continue };
            let conf = self.c.nodes[&leader].raft().conf_state().clone();
            let want = marker.get_or_insert_with(|| b"final".to_vec()).clone();
            let done = conf.members().iter().all(|id| {
                self.c
                    .nodes
                    .get(id)
                    .is_some_and(|n| n.sm.entries.iter().any(|(_, _, d)| *d == want))
            });
            if done && !conf.is_joint() {
                return Ok(());
            }
            if conf.is_joint() && !conf.auto_leave && round % 10 == 5 {
                let r = self.c.nodes.get_mut(&leader).expect("leader").raft_mut();
                let _ = r.propose_conf_change(&ConfChange::leave_joint());
                self.c.drain(leader, &mut self.chk);
            }
            let committed = self.c.nodes[&leader].sm.entries.iter().any(|(_, _, d)| *d == want);
            if !committed && round % 10 == 0 {
                let r = self.c.nodes.get_mut(&leader).expect("leader").raft_mut();
                let _ = r.propose(want);
                self.c.drain(leader, &mut self.chk);
            }
        }
        let mut dump = String::from(
            "liveness: no leader committed and replicated a fresh entry after healing",
        );
        for l in self.c.lines.iter().rev().take(60).rev() {
            dump.push_str("\n    ");
            dump.push_str(l);
        }
        for (id, n) in &self.c.nodes {
            match n.raft.as_ref() {
                Some(r) => dump.push_str(&format!(
                    "\n  {id}: [el={} rt={} ct={}] {} t{} lead={} commit={} applied={} last={} first={} conf={} counters={:?}",
                    r.election_elapsed, r.randomized_timeout, r.caretaker, r.role(), r.term(), r.leader(), r.commit_index(), r.applied(), r.last_index(), r.first_index(), r.conf_state(), r.counters()
                )),
                None => dump.push_str(&format!("\n  {id}: down (retired: {})", self.retired.contains(id))),
            }
            if let Some(r) = n.raft.as_ref().filter(|r| r.role() == Role::Leader) {
                for m in r.conf_state().members() {
                    if let Some(p) = r.progress(m) {
                        dump.push_str(&format!("\n     {m}: {p}"));
                    }
                }
            }
        }
        Err(dump)
    }
}

fn run_seed(seed: u64) -> Result<(), String> {
    let mut sim = Sim::new(seed);
    for step in 0..FAULT_STEPS {
        sim.step(seed, true);
        sim.chk.check(&sim.c, step % 50 == 0);
        if let Some(f) = &sim.chk.failure {
            return Err(format!("step {step}: {f}"));
        }
    }
    sim.heal()?;
    sim.chk.check(&sim.c, true);
    if std::env::var("OXCD_SIM_VERBOSE").is_ok() {
        std::println!(
            "seed={seed}: {} terms with a leader, {} entries applied, {} members",
            sim.chk.leaders.len(),
            sim.chk.applied.len(),
            sim.c.nodes.len()
        );
    }
    if let Some(f) = &sim.chk.failure {
        return Err(f.clone());
    }
    Ok(())
}

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("OXCD_SIM_SEED") {
        return alloc::vec![s.parse().expect("OXCD_SIM_SEED is a number")];
    }
    let n = std::env::var("OXCD_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300u64);
    (0..n).collect()
}

#[test]
fn randomized_clusters_keep_raft_safety_and_heal() {
    let mut failures = Vec::new();
    for seed in seeds() {
        let result = std::panic::catch_unwind(|| run_seed(seed));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("seed={seed}: {why}")),
            Err(_) => failures.push(format!("seed={seed}: panicked")),
        }
        if failures.len() >= 5 {
            break;
        }
    }
    assert!(failures.is_empty(), "replay with OXCD_SIM_SEED=<seed>:\n{}", failures.join("\n"));
}
