//! Looking at the world: getters for scenarios, state probes (every member's key-value state
//! digested at its applied index and compared with other members at the same index), and the
//! history checks a scenario runs at its end.

use crate::sim::check::{digest, fnv1a, linearizability, revisions, Violation};
use crate::sim::client::{ClientError, Purpose};
use crate::sim::history::History;
use crate::sim::member::MemberState;
use crate::sim::world::Sim;
use crate::sim::Failure;
use oxcd_core::ids::{LogIndex, NodeId};
use oxcd_core::node::{Node, Request, RequestId, Response};
use oxcd_proto::etcdserverpb as pb;

impl Sim {
    /// Member `id`'s running process.
    #[must_use]
    pub fn node(&self, id: u64) -> Option<&Node> {
        self.members.get(&NodeId(id)).and_then(|s| s.node.as_ref())
    }

    /// Where member `id`'s process stands.
    #[must_use]
    pub fn member_state(&self, id: u64) -> Option<MemberState> {
        self.members.get(&NodeId(id)).map(|s| s.state)
    }

    /// Every member slot's id (including stopped and removed ones).
    #[must_use]
    pub fn member_ids(&self) -> Vec<u64> {
        self.members.keys().map(|i| i.0).collect()
    }

    /// The running member that leads in the highest term, if any.
    #[must_use]
    pub fn leader(&self) -> Option<u64> {
        self.members
            .values()
            .filter_map(|s| s.node.as_ref())
            .filter(|n| n.is_leader())
            .max_by_key(|n| n.term())
            .map(|n| n.id().0)
    }

    /// Runs until some member leads (at most `timeout`); its id.
    pub fn run_until_leader(&mut self, timeout: std::time::Duration) -> Option<u64> {
        match self.try_run_while(timeout, |s| s.leader().is_some()) {
            Ok(_) => self.leader(),
            Err(f) => panic!("{f}"),
        }
    }

    /// The client history so far.
    #[must_use]
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The incremental checkers' state.
    #[must_use]
    pub fn checks(&self) -> &crate::sim::Checks {
        &self.checks
    }

    /// Watch clients and what they saw.
    #[must_use]
    pub fn watches(&self) -> &crate::sim::Watches {
        &self.watches
    }

    /// Network counters.
    #[must_use]
    pub fn net_stats(&self) -> crate::sim::net::NetStats {
        self.net.stats()
    }

    /// Probes every running member's state and compares members at equal applied index.
    pub(crate) fn sample(&mut self) {
        if self.violation.is_some() {
            return;
        }
        let running: Vec<NodeId> =
            self.members.values().filter(|s| s.is_running()).map(|s| s.id).collect();
        for id in running {
            let Some((applied, revision, d)) = self.state_digest(id) else { continue };
            let now = self.now();
            if let Err(v) = self.checks.states.observe(now, id, applied, revision, d) {
                self.fail(v);
                return;
            }
        }
    }

    /// Member `id`'s applied index, revision and a digest of its key-value state (HashKV plus
    /// every key-value record from a serializable Range), asked synchronously.
    pub(crate) fn state_digest(&mut self, id: NodeId) -> Option<(LogIndex, i64, u64)> {
        let applied = self.node(id.0)?.applied_index();
        let hash = self.probe(id, Request::HashKv(pb::HashKVRequest { revision: 0 }))?;
        let range = self.probe(
            id,
            Request::Range(pb::RangeRequest {
                key: vec![0],
                range_end: vec![0],
                serializable: true,
                ..Default::default()
            }),
        )?;
        let (Response::HashKv(h), Response::Range(r)) = (hash, range) else { return None };
        let revision = r.header.as_ref().map_or(0, |h| h.revision);
        let mut d = digest(&h.hash.to_le_bytes());
        d = fnv1a(d, &h.compact_revision.to_le_bytes());
        for kv in &r.kvs {
            for part in [&kv.key, &kv.value] {
                d = fnv1a(d, &(part.len() as u64).to_le_bytes());
                d = fnv1a(d, part);
            }
            for n in [kv.create_revision, kv.mod_revision, kv.version, kv.lease] {
                d = fnv1a(d, &n.to_le_bytes());
            }
        }
        // The probes change nothing, but a read may have moved time-driven work along.
        if self.node(id.0)?.applied_index() != applied {
            return None;
        }
        Some((applied, revision, d))
    }

    /// Asks member `id` a local question and takes the answer synchronously.
    fn probe(&mut self, id: NodeId, request: Request) -> Option<Response> {
        self.next_request += 1;
        let rid = self.next_request;
        let now = self.now();
        self.in_flight.insert(
            rid,
            crate::sim::client::InFlight {
                member: id,
                request: None,
                purpose: Purpose::Probe,
                delivered: true,
            },
        );
        let meta = self.cfg.request_meta(false);
        let node = self.members.get_mut(&id)?.node.as_mut()?;
        node.handle_client_request(now, RequestId(rid), meta, request);
        self.drain(id);
        self.in_flight.remove(&rid);
        match self.done.remove(&rid) {
            Some(Ok(r)) => Some(r),
            Some(Err(ClientError::Api(_)) | Err(_)) | None => None,
        }
    }

    /// The checks that need the whole history: linearizability, revisions, watch events.
    /// Also compares the members' states once more.
    ///
    /// # Errors
    /// The first violation (including one found earlier while running).
    ///
    /// Returns the linearizability verdict (which may be inconclusive: the search gave up).
    pub fn check(&mut self) -> Result<linearizability::Verdict, Box<Failure>> {
        self.failure()?;
        self.sample();
        self.failure()?;
        match self.check_history() {
            Ok(verdict) => Ok(verdict),
            Err(v) => {
                self.fail(v);
                self.failure().map(|()| unreachable!("a violation was just recorded"))
            }
        }
    }

    pub(crate) fn check_history(&self) -> Result<linearizability::Verdict, Violation> {
        let now = self.now();
        let verdict =
            match linearizability::check(&self.history, linearizability::DEFAULT_STEP_BUDGET) {
                linearizability::Verdict::Violation(v) => {
                    return Err(Violation::new("linearizability", now, v.to_string()));
                }
                verdict => verdict,
            };
        revisions::check_history(now, &self.history)?;
        self.watches.checker.check_history(now, &self.history)?;
        Ok(verdict)
    }
}
