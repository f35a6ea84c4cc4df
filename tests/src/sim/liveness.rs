//! The healing phase: every fault is repaired (network healed and reliable, disks fast,
//! crashed members restarted, added members started, the member list reconciled), then
//! liveness is checked within a bound of virtual time: a leader exists and a write commits,
//! every member of the configuration applies everything the leader committed and holds the
//! same key-value state, and every watcher catches up with the last revision.

use crate::sim::check::Violation;
use crate::sim::member::MemberState;
use crate::sim::world::Sim;
use crate::sim::Failure;
use oxcd_core::ids::NodeId;
use oxcd_core::node::{Request, Response};
use oxcd_core::time::Instant;
use oxcd_proto::etcdserverpb as pb;
use std::time::Duration;

const CHECKER: &str = "liveness";

/// How long each step of the healing phase took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivenessReport {
    /// When healing began.
    pub healed_at: Instant,
    /// From healing until a write committed.
    pub write_after: Duration,
    /// From healing until all members converged.
    pub converged_after: Duration,
    /// Members in the final configuration.
    pub members: usize,
}

impl Sim {
    /// Repairs every fault, then checks liveness within `bound` of virtual time.
    ///
    /// # Errors
    /// A liveness failure (no write, no convergence) or any invariant broken meanwhile.
    pub fn heal_and_converge(&mut self, bound: Duration) -> Result<LivenessReport, Box<Failure>> {
        let healed_at = self.now();
        let deadline = healed_at + bound;
        self.stop_workload();
        self.stop_nemesis();
        self.heal();
        let disk = self.cfg.disk;
        for slot in self.members.values_mut() {
            slot.disk.set_config(disk);
            slot.crash_on_persist = false;
        }
        let stopped: Vec<NodeId> = self
            .members
            .values()
            .filter(|s| matches!(s.state, MemberState::Crashed | MemberState::NotStarted))
            .map(|s| s.id)
            .collect();
        for id in stopped {
            self.start(id);
        }
        self.failure()?;

        // A leader, then the member list it commits to (members added or removed with an
        // unknown outcome are found there).
        let mut listed = false;
        while !listed && self.now() < deadline {
            let Some(leader) = self.wait_for_leader(deadline)? else { break };
            let sent = self.now();
            let list = Request::MemberList(pb::MemberListRequest { linearizable: true });
            match self.request(leader, list) {
                Ok(Response::MemberList(r)) => {
                    self.reconcile(sent, &r.members);
                    listed = true;
                }
                _ => self.try_run_for(Duration::from_millis(200))?,
            }
            self.failure()?;
        }
        // Retirements and starts the reconciliation scheduled.
        self.try_run_for(Duration::from_millis(1))?;
        let stopped: Vec<NodeId> = self
            .members
            .values()
            .filter(|s| s.state == MemberState::NotStarted)
            .map(|s| s.id)
            .collect();
        for id in stopped {
            self.start(id);
        }

        // A write commits.
        let mut written = None;
        let mut attempt = 0;
        while written.is_none() && self.now() < deadline {
            let member = self.pick_member(attempt);
            attempt += 1;
            let call = crate::sim::history::KvCall::Put {
                key: format!("liveness/{attempt}"),
                value: format!("after-healing-{}", self.seed),
            };
            let rid = self.submit_kv(usize::MAX - 1, None, member, call);
            if let Ok(r) = self.wait(rid) {
                written = Some(r.header().map_or(0, |h| h.revision));
            }
            self.failure()?;
        }
        let Some(_revision) = written else {
            return Err(
                self.liveness_failure(format!("no write committed within {bound:?} of healing"))
            );
        };
        let write_after = self.now() - healed_at;

        // Every member of the configuration converges.
        let remaining = deadline - self.now();
        if !self.try_run_while(remaining, Sim::converged)? {
            return Err(self.liveness_failure(format!(
                "members did not converge within {bound:?} of healing"
            )));
        }
        let converged_after = self.now() - healed_at;
        self.sample();
        self.failure()?;

        // Every watcher catches up.
        let remaining = deadline - self.now();
        let caught_up = |s: &Sim| {
            let head = s.leader().and_then(|l| s.node(l)).map_or(0, |n| n.revision());
            (0..s.watches.watchers()).all(|w| s.watcher_revision(w) >= head)
        };
        if !self.try_run_while(remaining, caught_up)? {
            return Err(self.liveness_failure(format!(
                "watchers did not catch up within {bound:?} of healing"
            )));
        }
        // Workload operations still in flight end (answered or timed out).
        let drain = self.cfg.client_timeout + Duration::from_secs(1);
        self.try_run_while(drain, |s| s.ops_in_flight() == 0)?;
        let members = self.leader().and_then(|l| self.node(l)).map_or(0, |n| n.members().count());
        Ok(LivenessReport { healed_at, write_after, converged_after, members })
    }

    fn wait_for_leader(&mut self, deadline: Instant) -> Result<Option<u64>, Box<Failure>> {
        let remaining = deadline - self.now();
        self.try_run_while(remaining, |s| s.leader().is_some())?;
        Ok(self.leader())
    }

    /// True when some member leads and every member of its configuration runs and has
    /// applied and committed exactly what the leader committed.
    #[must_use]
    pub fn converged(&self) -> bool {
        let Some(leader) = self.leader().and_then(|l| self.node(l)) else { return false };
        let commit = leader.commit_index();
        leader.applied_index() == commit
            && leader.members().all(|m| {
                self.node(m.id.0)
                    .is_some_and(|n| n.applied_index() == commit && n.commit_index() == commit)
            })
    }

    fn liveness_failure(&mut self, what: String) -> Box<Failure> {
        let mut message = what;
        for slot in self.members.values() {
            let status = match slot.node.as_ref() {
                Some(n) => format!(
                    "{} term {} commit {} applied {} revision {}",
                    n.raft().role(),
                    n.term(),
                    n.commit_index(),
                    n.applied_index(),
                    n.revision()
                ),
                None => format!("{:?}", slot.state),
            };
            message.push_str(&format!("\n    member {}: {status}", slot.id));
        }
        for w in 0..self.watches.watchers() {
            message
                .push_str(&format!("\n    watcher {w}: at revision {}", self.watcher_revision(w)));
        }
        let v = Violation::new(CHECKER, self.now(), message);
        self.fail(v);
        match self.failure() {
            Err(f) => f,
            Ok(()) => unreachable!("a violation was just recorded"),
        }
    }
}
