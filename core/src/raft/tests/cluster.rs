//! An in-test cluster of Raft members with the Node's duties done by hand: a disk
//! (`MemBackend` written through `storage::persist_ops`), a state machine that records what
//! it applied, a network of in-flight messages, snapshot streaming, crashes and restarts.
//! Both the scenario harness and the randomized property test drive it.

use crate::backend::MemBackend;
use crate::backend::WriteBatch;
use crate::ids::{LogIndex, NodeId, Term};
use crate::raft::storage::{persist_ops, recover};
use crate::raft::{
    ConfChange, ConfState, EntryKind, Message, PersistRequest, Raft, RaftConfig, RaftOutput,
    ReadFailure, ReadId, SnapshotMeta, SnapshotStatus,
};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The durable state machine of a test member: every entry applied, in order.
#[derive(Clone, Debug, Default)]
pub struct StateMachine {
    pub applied: LogIndex,
    pub conf: ConfState,
    /// `(index, term, data)` of every applied entry (conf changes included); after a snapshot,
    /// the leader's list up to the snapshot.
    pub entries: Vec<(LogIndex, Term, Vec<u8>)>,
}

pub struct TestNode {
    #[allow(dead_code)]
    pub id: NodeId,
    pub cfg: RaftConfig,
    pub raft: Option<Raft>,
    pub disk: MemBackend,
    pub sm: StateMachine,
    /// Persist requests emitted and not yet written.
    pub unwritten: VecDeque<PersistRequest>,
    /// Snapshots received and staged, each waiting for its `Persist`, in order.
    pub staged: VecDeque<StateMachine>,
    /// `SendSnapshot` requests not yet carried out.
    pub snapshot_requests: Vec<NodeId>,
    pub reads: Vec<(ReadId, Result<LogIndex, ReadFailure>)>,
    /// When set, `Apply` batches wait here (not yet applied) until released.
    pub hold_apply: bool,
    pub held: Vec<crate::raft::Entry>,
}

impl TestNode {
    pub fn raft(&self) -> &Raft {
        self.raft.as_ref().expect("node is up")
    }
    pub fn raft_mut(&mut self) -> &mut Raft {
        self.raft.as_mut().expect("node is up")
    }
}

/// Observer hooks the property test uses to check invariants as outputs happen.
pub trait Observer {
    fn applied(&mut self, _node: NodeId, _index: LogIndex, _term: Term, _data: &[u8]) {}
}

pub struct NoObserver;
impl Observer for NoObserver {}

pub struct Cluster {
    pub nodes: BTreeMap<NodeId, TestNode>,
    /// Messages in flight, oldest first.
    pub network: Vec<Message>,
    /// When set, messages between this group and the rest are dropped.
    pub partition: Option<BTreeSet<NodeId>>,
    /// Output lines of the last operations (scenario output).
    pub lines: Vec<String>,
    pub record: bool,
    /// Messages refused as malformed (never expected between correct members).
    pub malformed: Vec<String>,
}

impl Cluster {
    pub fn new(record: bool) -> Self {
        Cluster {
            nodes: BTreeMap::new(),
            network: Vec::new(),
            partition: None,
            lines: Vec::new(),
            record,
            malformed: Vec::new(),
        }
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    pub fn up(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.raft.is_some())
    }

    fn line(&mut self, s: String) {
        if self.record {
            self.lines.push(s);
        }
    }

    /// A founding member: bootstrapped with `founders` and brought to the point where the
    /// founding entries are durable and applied.
    pub fn add_founder(
        &mut self,
        cfg: RaftConfig,
        founders: &[ConfChange],
        obs: &mut dyn Observer,
    ) {
        let id = cfg.id;
        let raft = Raft::bootstrap(cfg.clone(), founders).expect("valid config");
        self.insert(id, cfg, raft);
        let record = self.record;
        self.record = false;
        self.drain(id, obs);
        self.persist(id, usize::MAX, obs);
        self.record = record;
    }

    /// A member restarted from a hand-made durable state (scenario set-up).
    pub fn add_recovered(&mut self, cfg: RaftConfig, recovered: crate::raft::RaftRecovered) {
        let id = cfg.id;
        let raft = Raft::new(cfg.clone(), recovered.clone()).expect("consistent recovered state");
        self.insert(id, cfg, raft);
        let n = self.nodes.get_mut(&id).expect("inserted");
        n.sm.applied = recovered.applied;
        n.sm.conf = recovered.conf_state.clone();
        let req = PersistRequest {
            seq: 0,
            hard_state: Some(recovered.hard_state),
            append: recovered.entries,
            compact_to: (recovered.compacted.0 > LogIndex::ZERO).then_some(recovered.compacted),
            ..PersistRequest::default()
        };
        let mut batch = WriteBatch::default();
        persist_ops(&req, &mut batch);
        n.disk.apply(&batch);
    }

    /// Applies the held `Apply` batches and lets the next ones through.
    pub fn release_apply(&mut self, id: NodeId, obs: &mut dyn Observer) {
        let node = self.nodes.get_mut(&id).expect("known");
        node.hold_apply = false;
        let held = core::mem::take(&mut node.held);
        if !held.is_empty() {
            self.apply_entries(id, held, obs);
        }
        self.drain(id, obs);
    }

    fn apply_entries(
        &mut self,
        id: NodeId,
        entries: Vec<crate::raft::Entry>,
        obs: &mut dyn Observer,
    ) {
        let node = self.nodes.get_mut(&id).expect("known");
        let Some(raft) = node.raft.as_mut() else { return };
        let mut last = LogIndex::ZERO;
        for e in entries {
            assert_eq!(e.index, node.sm.applied.next(), "node {id}: applied out of order");
            if e.kind == EntryKind::ConfChange {
                if let Some(cc) = ConfChange::decode(&e.data) {
                    if let Ok(cs) = raft.apply_conf_change(&cc) {
                        node.sm.conf = cs;
                    }
                }
            }
            obs.applied(id, e.index, e.term, &e.data);
            node.sm.applied = e.index;
            last = e.index;
            node.sm.entries.push((e.index, e.term, e.data.to_vec()));
        }
        raft.advance_applied(last);
    }

    /// A member joining later: empty log, empty configuration.
    pub fn add_joiner(&mut self, cfg: RaftConfig) {
        let id = cfg.id;
        let raft =
            Raft::new(cfg.clone(), crate::raft::RaftRecovered::default()).expect("valid config");
        self.insert(id, cfg, raft);
    }

    fn insert(&mut self, id: NodeId, cfg: RaftConfig, raft: Raft) {
        let node = TestNode {
            id,
            cfg,
            raft: Some(raft),
            disk: MemBackend::new(),
            sm: StateMachine::default(),
            unwritten: VecDeque::new(),
            staged: VecDeque::new(),
            snapshot_requests: Vec::new(),
            reads: Vec::new(),
            hold_apply: false,
            held: Vec::new(),
        };
        self.nodes.insert(id, node);
    }

    /// Drains every output of `id` and carries it out (apply at once; persist and messages
    /// wait for their own steps).
    pub fn drain(&mut self, id: NodeId, obs: &mut dyn Observer) {
        loop {
            let node = self.nodes.get_mut(&id).expect("known node");
            let Some(raft) = node.raft.as_mut() else { return };
            let Some(output) = raft.poll_output() else { return };
            let held = matches!(output, RaftOutput::Apply(_)) && node.hold_apply;
            let text =
                if held { format!("{id}: (held) {output}") } else { format!("{id}: {output}") };
            self.line(text);
            match output {
                RaftOutput::Send(m) => self.network.push(m),
                RaftOutput::Persist(req) => {
                    for m in &req.then_send {
                        let text = format!("   then {m}");
                        self.line(text);
                    }
                    self.nodes.get_mut(&id).expect("known").unwritten.push_back(req);
                }
                RaftOutput::Apply(entries) if self.nodes[&id].hold_apply => {
                    self.nodes.get_mut(&id).expect("known").held.extend(entries);
                }
                RaftOutput::Apply(entries) => self.apply_entries(id, entries, obs),
                RaftOutput::ReadReady { ctx, index } => {
                    self.nodes.get_mut(&id).expect("known").reads.push((ctx, Ok(index)));
                }
                RaftOutput::ReadFailed { ctx, reason } => {
                    self.nodes.get_mut(&id).expect("known").reads.push((ctx, Err(reason)));
                }
                RaftOutput::SendSnapshot { to } => {
                    self.nodes.get_mut(&id).expect("known").snapshot_requests.push(to);
                }
                RaftOutput::RoleChanged { .. } => {}
            }
        }
    }

    /// Writes up to `max` pending persist requests of `id` durably, confirms them and releases
    /// their messages.
    pub fn persist(&mut self, id: NodeId, max: usize, obs: &mut dyn Observer) -> bool {
        let node = self.nodes.get_mut(&id).expect("known node");
        if node.raft.is_none() || node.unwritten.is_empty() {
            return false;
        }
        let mut last_seq = 0;
        let mut released = Vec::new();
        let mut n = 0;
        while n < max {
            let Some(req) = node.unwritten.pop_front() else { break };
            let mut batch = WriteBatch::default();
            persist_ops(&req, &mut batch);
            node.disk.apply(&batch);
            if req.install_snapshot.is_some() {
                node.sm = node.staged.pop_front().expect("install follows a staged snapshot");
            }
            last_seq = req.seq;
            released.extend(req.then_send);
            n += 1;
        }
        node.raft_mut().handle_persisted(last_seq);
        self.network.extend(released);
        self.drain(id, obs);
        true
    }

    fn crosses_partition(&self, m: &Message) -> bool {
        self.partition.as_ref().is_some_and(|g| g.contains(&m.from) != g.contains(&m.to))
    }

    /// Steps one message into its recipient (dropped if the link is cut or the node is down).
    pub fn deliver(&mut self, m: Message, obs: &mut dyn Observer) {
        if self.crosses_partition(&m) || !self.up(m.to) {
            return;
        }
        let to = m.to;
        let text = format!("{m}");
        let result = self.nodes.get_mut(&to).expect("up").raft_mut().step(m);
        if let Err(e) = result {
            if matches!(e, crate::raft::StepError::Malformed(_)) {
                self.malformed.push(format!("{text}: {e}"));
            }
            let line = format!("{to}: step {text}: {e}");
            self.line(line);
        }
        self.drain(to, obs);
    }

    /// Delivers every in-flight message to the nodes in `to` (all when `None`), in order.
    pub fn deliver_to(&mut self, to: Option<&BTreeSet<NodeId>>, obs: &mut dyn Observer) -> bool {
        let (now, keep): (Vec<Message>, Vec<Message>) = core::mem::take(&mut self.network)
            .into_iter()
            .partition(|m| to.is_none_or(|t| t.contains(&m.to)));
        self.network = keep;
        let any = !now.is_empty();
        for m in now {
            self.deliver(m, obs);
        }
        any
    }

    /// Carries out `from`'s snapshot requests: its durable state machine goes to each target.
    pub fn deliver_snapshots(&mut self, from: NodeId, obs: &mut dyn Observer) -> bool {
        let Some(node) = self.nodes.get_mut(&from) else { return false };
        let requests = core::mem::take(&mut node.snapshot_requests);
        if node.raft.is_none() {
            return false;
        }
        let any = !requests.is_empty();
        for to in requests {
            self.send_snapshot(from, to, obs);
        }
        any
    }

    pub fn send_snapshot(&mut self, from: NodeId, to: NodeId, obs: &mut dyn Observer) {
        let leader = &self.nodes[&from];
        let raft = leader.raft();
        let sm = leader.sm.clone();
        let term = raft.term();
        let status = match raft.term_at(sm.applied) {
            Some(snap_term)
                if self.up(to)
                    && self
                        .partition
                        .as_ref()
                        .is_none_or(|g| g.contains(&from) == g.contains(&to)) =>
            {
                let meta = SnapshotMeta {
                    index: sm.applied,
                    term: snap_term,
                    conf_state: sm.conf.clone(),
                };
                let target = self.nodes.get_mut(&to).expect("up");
                let line = format!("{to}: receive snapshot from {from}: {meta}");
                let result = target.raft_mut().handle_snapshot(from, term, meta.clone());
                let installed = matches!(result, Ok(true));
                if installed {
                    target.staged.push_back(sm);
                }
                self.line(format!("{line} -> {result:?}"));
                self.drain(to, obs);
                if result.is_ok() {
                    SnapshotStatus::Delivered { index: meta.index }
                } else {
                    SnapshotStatus::Failed
                }
            }
            _ => SnapshotStatus::Failed,
        };
        self.line(format!("{from}: snapshot to {to}: {status:?}"));
        if let Some(r) = self.nodes.get_mut(&from).and_then(|n| n.raft.as_mut()) {
            r.report_snapshot(to, status);
        }
        self.drain(from, obs);
    }

    /// Loses everything not durable: the Raft state, unwritten persists, a staged snapshot.
    pub fn crash(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("known node");
        node.raft = None;
        node.unwritten.clear();
        node.staged.clear();
        node.held.clear();
        node.snapshot_requests.clear();
    }

    /// Restarts from the disk and the durable state machine.
    pub fn restart(&mut self, id: NodeId, obs: &mut dyn Observer) {
        let node = self.nodes.get_mut(&id).expect("known node");
        let log = recover(&node.disk).expect("disk readable");
        let recovered = log.into_recovered(node.sm.conf.clone(), node.sm.applied);
        node.raft =
            Some(Raft::new(node.cfg.clone(), recovered).expect("recovered state consistent"));
        self.drain(id, obs);
    }

    /// Persists, delivers and streams snapshots until nothing moves (bounded).
    pub fn stabilize(&mut self, only: Option<&BTreeSet<NodeId>>, obs: &mut dyn Observer) {
        for _ in 0..1000 {
            let mut moved = false;
            for id in self.ids() {
                if only.is_none_or(|o| o.contains(&id)) {
                    moved |= self.persist(id, usize::MAX, obs);
                    moved |= self.deliver_snapshots(id, obs);
                }
            }
            moved |= self.deliver_to(only, obs);
            if !moved {
                return;
            }
        }
        panic!("cluster did not stabilize within 1000 rounds");
    }
}
