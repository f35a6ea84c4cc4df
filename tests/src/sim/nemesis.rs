//! The fault injector: at random intervals it partitions the network (symmetric, one-way, the
//! leader alone), degrades links (loss, duplication, reordering) and disks (slow fsyncs),
//! crashes members (at random, or inside the window between handing a write to the disk and
//! its fsync) and restarts them, moves the leadership, and changes the membership (adds a
//! learner and starts it, promotes learners, removes members) — all of it while faults are in
//! force. Only faults the protocol claims to survive: a crash loses unsynced writes, never
//! synced ones.

use crate::sim::client::{ClientError, Purpose};
use crate::sim::disk::DiskConfig;
use crate::sim::member::MemberState;
use crate::sim::net::LinkConfig;
use crate::sim::world::{peer_url, Event, Sim};
use oxcd_core::ids::NodeId;
use oxcd_core::node::{InitialCluster, Request, Response};
use oxcd_core::time::Instant;
use oxcd_proto::etcdserverpb as pb;
use std::collections::BTreeMap;
use std::time::Duration;

/// Which faults, how often.
#[derive(Clone, Debug)]
pub struct NemesisConfig {
    /// Shortest pause between two actions.
    pub interval_min: Duration,
    /// Longest pause between two actions.
    pub interval_max: Duration,
    /// Partitions, one-way cuts, isolating the leader.
    pub partitions: bool,
    /// Process crashes and restarts.
    pub crashes: bool,
    /// Lossy, duplicating, reordering links.
    pub network_faults: bool,
    /// Slow and stalling disks.
    pub disk_faults: bool,
    /// Adding, promoting and removing members.
    pub membership: bool,
    /// MoveLeader requests.
    pub leader_transfers: bool,
    /// Watchers moving to another member.
    pub rewatch: bool,
    /// Members (voters and learners) at most.
    pub max_members: usize,
    /// Voters at least (removals stop there).
    pub min_voters: usize,
}

impl Default for NemesisConfig {
    fn default() -> Self {
        NemesisConfig {
            interval_min: Duration::from_millis(200),
            interval_max: Duration::from_millis(1500),
            partitions: true,
            crashes: true,
            network_faults: true,
            disk_faults: true,
            membership: true,
            leader_transfers: true,
            rewatch: true,
            max_members: 5,
            min_voters: 3,
        }
    }
}

/// What a fault-injector request was for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Tag {
    Add { host: u64 },
    Promote,
    Remove(NodeId),
    MoveLeader,
    List { sent: Instant },
}

/// The fault injector's state.
#[derive(Debug)]
pub(crate) struct Nemesis {
    cfg: NemesisConfig,
    pub active: bool,
    /// Hosts added with an unknown outcome: found later through a member list.
    pending_hosts: Vec<u64>,
    /// Actions taken, by name.
    pub actions: BTreeMap<&'static str, u64>,
}

impl Sim {
    /// Starts injecting faults.
    pub fn start_nemesis(&mut self, cfg: NemesisConfig) {
        let first = cfg.interval_max;
        self.nemesis = Some(Nemesis {
            cfg,
            active: true,
            pending_hosts: Vec::new(),
            actions: BTreeMap::new(),
        });
        self.queue.schedule_in(first, Event::Nemesis);
    }

    /// Stops injecting faults (the faults in force stay until healed).
    pub fn stop_nemesis(&mut self) {
        if let Some(n) = self.nemesis.as_mut() {
            n.active = false;
        }
    }

    /// Actions the fault injector took, by name.
    #[must_use]
    pub fn nemesis_actions(&self) -> BTreeMap<&'static str, u64> {
        self.nemesis.as_ref().map(|n| n.actions.clone()).unwrap_or_default()
    }

    pub(crate) fn nemesis_step(&mut self) {
        let Some(n) = self.nemesis.as_ref() else { return };
        if !n.active {
            return;
        }
        let cfg = n.cfg.clone();
        let mut menu: Vec<(&'static str, u64)> = Vec::new();
        if cfg.partitions {
            menu.extend([("partition", 3), ("isolate-leader", 2), ("cut-one-way", 2), ("heal", 4)]);
        }
        if cfg.crashes {
            menu.extend([("crash", 2), ("crash-mid-fsync", 2), ("restart", 4)]);
        }
        if cfg.network_faults {
            menu.extend([("lossy-network", 2), ("reliable-network", 2)]);
        }
        if cfg.disk_faults {
            menu.extend([("slow-disk", 2), ("fast-disks", 1)]);
        }
        if cfg.membership {
            menu.extend([("add-learner", 2), ("promote", 2), ("remove", 1), ("member-list", 1)]);
        }
        if cfg.leader_transfers {
            menu.push(("move-leader", 2));
        }
        if cfg.rewatch && self.watches.watchers() > 0 {
            menu.push(("rewatch", 1));
        }
        let total: u64 = menu.iter().map(|(_, w)| w).sum();
        if total > 0 {
            let mut pick = self.rng.range_u64(0, total);
            let mut chosen = menu[0].0;
            for (name, w) in &menu {
                if pick < *w {
                    chosen = name;
                    break;
                }
                pick -= w;
            }
            if self.act(chosen, &cfg) {
                if let Some(n) = self.nemesis.as_mut() {
                    *n.actions.entry(chosen).or_default() += 1;
                }
            }
        }
        let span = cfg.interval_max.saturating_sub(cfg.interval_min);
        let delay = cfg.interval_min + crate::sim::net::draw(&mut self.rng, span);
        self.queue.schedule_in(delay, Event::Nemesis);
    }

    /// Carries out one action; false when it did not apply (nothing to restart, ...).
    fn act(&mut self, action: &str, cfg: &NemesisConfig) -> bool {
        let now = self.now();
        let live = self.live_ids();
        let running: Vec<NodeId> =
            self.members.values().filter(|s| s.is_running()).map(|s| s.id).collect();
        let crashed: Vec<NodeId> = self
            .members
            .values()
            .filter(|s| s.state == MemberState::Crashed)
            .map(|s| s.id)
            .collect();
        let leader = self.leader().map(NodeId);
        match action {
            "partition" | "cut-one-way" if live.len() >= 2 => {
                let mut shuffled = live.clone();
                self.shuffle(&mut shuffled);
                let k = self.rng.range_u64(1, shuffled.len() as u64) as usize;
                let (a, b) = shuffled.split_at(k);
                let (a, b): (Vec<u64>, Vec<u64>) =
                    (a.iter().map(|i| i.0).collect(), b.iter().map(|i| i.0).collect());
                if action == "partition" {
                    self.partition(&a, &b);
                } else {
                    self.cut_one_way(&a, &b);
                }
                true
            }
            "isolate-leader" => match leader {
                Some(l) => {
                    self.isolate(l.0);
                    true
                }
                None => false,
            },
            "heal" => {
                self.trace.record(now, || "nemesis heals the network".into());
                self.net.heal();
                true
            }
            "crash" if !running.is_empty() => {
                let id = running[self.rng.range_u64(0, running.len() as u64) as usize];
                self.crash(id.0);
                true
            }
            "crash-mid-fsync" if !running.is_empty() => {
                let id = running[self.rng.range_u64(0, running.len() as u64) as usize];
                self.crash_on_next_persist(id.0);
                true
            }
            "restart" if !crashed.is_empty() => {
                let id = crashed[self.rng.range_u64(0, crashed.len() as u64) as usize];
                self.restart(id.0);
                true
            }
            "lossy-network" => {
                self.trace.record(now, || "links turn lossy".into());
                self.net.set_default(LinkConfig::lossy());
                true
            }
            "reliable-network" => {
                self.net.set_default(self.cfg.link);
                true
            }
            "slow-disk" if !live.is_empty() => {
                let id = live[self.rng.range_u64(0, live.len() as u64) as usize];
                self.trace.record(now, || format!("m{id}'s disk turns slow"));
                self.set_disk(id.0, DiskConfig::slow());
                true
            }
            "fast-disks" => {
                let disk = self.cfg.disk;
                for slot in self.members.values_mut() {
                    slot.disk.set_config(disk);
                }
                true
            }
            "add-learner" => {
                let members =
                    self.members.values().filter(|s| s.state != MemberState::Removed).count();
                let learners = self.learner_ids().len();
                if members >= cfg.max_members || learners > 0 {
                    return false;
                }
                let host = self.next_host;
                self.next_host += 1;
                let request = Request::MemberAdd(pb::MemberAddRequest {
                    peer_urls: vec![peer_url(host)],
                    is_learner: true,
                });
                self.nemesis_request(request, Tag::Add { host });
                true
            }
            "promote" => {
                let learners = self.learner_ids();
                let Some(&id) = learners.first() else { return false };
                self.nemesis_request(
                    Request::MemberPromote(pb::MemberPromoteRequest { id: id.0 }),
                    Tag::Promote,
                );
                true
            }
            "remove" => {
                let voters = self.voter_ids();
                let learners = self.learner_ids();
                let pool: Vec<NodeId> = if voters.len() > cfg.min_voters {
                    voters.into_iter().chain(learners).collect()
                } else {
                    learners
                };
                if pool.is_empty() {
                    return false;
                }
                let id = pool[self.rng.range_u64(0, pool.len() as u64) as usize];
                self.nemesis_request(
                    Request::MemberRemove(pb::MemberRemoveRequest { id: id.0 }),
                    Tag::Remove(id),
                );
                true
            }
            "member-list" => {
                self.nemesis_request(
                    Request::MemberList(pb::MemberListRequest { linearizable: true }),
                    Tag::List { sent: now },
                );
                true
            }
            "move-leader" => {
                let voters = self.voter_ids();
                let (Some(l), false) = (leader, voters.is_empty()) else { return false };
                let target = voters[self.rng.range_u64(0, voters.len() as u64) as usize];
                let request = Request::MoveLeader(pb::MoveLeaderRequest { target_id: target.0 });
                self.submit(l, request, Purpose::Nemesis(Tag::MoveLeader));
                true
            }
            "rewatch" => {
                let n = self.watches.watchers() as u64;
                let w = self.rng.range_u64(0, n) as usize;
                self.rewatch(w);
                true
            }
            _ => false,
        }
    }

    /// Sends an admin request to the leader, or to a random running member without one.
    fn nemesis_request(&mut self, request: Request, tag: Tag) {
        let target = self.leader().map(NodeId).or_else(|| {
            let running: Vec<NodeId> =
                self.members.values().filter(|s| s.is_running()).map(|s| s.id).collect();
            (!running.is_empty())
                .then(|| running[self.rng.range_u64(0, running.len() as u64) as usize])
        });
        if let Some(to) = target {
            self.submit(to, request, Purpose::Nemesis(tag));
        }
    }

    pub(crate) fn nemesis_answer(&mut self, tag: Tag, result: Result<Response, ClientError>) {
        let now = self.now();
        match (tag, result) {
            (Tag::Add { host }, Ok(Response::MemberAdd(r))) => {
                if let Some(m) = r.member {
                    self.adopt_member(NodeId(m.id), host);
                }
            }
            (Tag::Add { host }, Err(e)) if !e.is_definite() => {
                if let Some(n) = self.nemesis.as_mut() {
                    n.pending_hosts.push(host);
                }
            }
            (Tag::Remove(id), Ok(_)) => {
                // A removed member stops by itself once it applies its removal; one that never
                // hears of it is stopped by its operator.
                self.queue.schedule_in(Duration::from_secs(2), Event::Retire { member: id });
            }
            (Tag::List { sent }, Ok(Response::MemberList(r))) => self.reconcile(sent, &r.members),
            (tag, result) => {
                self.trace.record(now, || format!("nemesis {tag:?}: {:?}", result.as_ref().err()));
            }
        }
    }

    /// A member the cluster knows at `host`: give it a slot and start it soon.
    pub(crate) fn adopt_member(&mut self, id: NodeId, host: u64) {
        if self.members.contains_key(&id) {
            return;
        }
        let now = self.now();
        self.trace.record(now, || format!("member {id} added at host {host}"));
        let config = self.member_config(id, host);
        self.insert_slot(id, config, InitialCluster::Existing);
        if let Some(slot) = self.members.get_mut(&id) {
            slot.added_at = now;
        }
        if let Some(n) = self.nemesis.as_mut() {
            n.pending_hosts.retain(|h| *h != host);
        }
        let delay = Duration::from_millis(self.rng.range_u64(0, 1000));
        self.queue.schedule_in(delay, Event::Start { member: id });
    }

    /// Aligns the slots with a member list read at `sent`: unknown members with our hosts get
    /// started; slots the list lacks (and that existed when it was read) are retired.
    pub(crate) fn reconcile(&mut self, sent: Instant, members: &[pb::Member]) {
        for m in members {
            let host = m.peer_urls.iter().find_map(|u| {
                u.strip_prefix("http://member-")
                    .and_then(|r| r.strip_suffix(":2380"))
                    .and_then(|h| h.parse().ok())
            });
            if let Some(host) = host {
                self.adopt_member(NodeId(m.id), host);
            }
        }
        let listed: Vec<u64> = members.iter().map(|m| m.id).collect();
        let gone: Vec<NodeId> = self
            .members
            .values()
            .filter(|s| {
                s.state != MemberState::Removed && s.added_at <= sent && !listed.contains(&s.id.0)
            })
            .map(|s| s.id)
            .collect();
        for id in gone {
            self.queue.schedule_in(Duration::ZERO, Event::Retire { member: id });
        }
    }

    /// Members not removed, running or not.
    fn live_ids(&self) -> Vec<NodeId> {
        self.members.values().filter(|s| s.state != MemberState::Removed).map(|s| s.id).collect()
    }

    /// Voters of the configuration the leader (or any running member) knows.
    pub(crate) fn voter_ids(&self) -> Vec<NodeId> {
        self.conf_members().into_iter().filter(|(_, learner)| !learner).map(|(id, _)| id).collect()
    }

    /// Learners of that configuration.
    pub(crate) fn learner_ids(&self) -> Vec<NodeId> {
        self.conf_members().into_iter().filter(|(_, learner)| *learner).map(|(id, _)| id).collect()
    }

    fn conf_members(&self) -> Vec<(NodeId, bool)> {
        let node = self
            .leader()
            .and_then(|l| self.node(l))
            .or_else(|| self.members.values().find_map(|s| s.node.as_ref()));
        node.map(|n| n.members().map(|m| (m.id, m.is_learner)).collect()).unwrap_or_default()
    }

    fn shuffle(&mut self, v: &mut [NodeId]) {
        for i in (1..v.len()).rev() {
            let j = self.rng.range_u64(0, i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}
