//! The random client workload: a few sessions, each with one operation in flight at most,
//! issuing Put, linearizable and serializable Get, Delete and compare-and-swap Txn to random
//! members. Keys come from a window that moves along as operations are issued, so each key
//! sees a bounded number of operations (the linearizability search stays small); every value
//! written is unique.

use crate::sim::history::{KvCall, KvReturn, Outcome};
use crate::sim::member::MemberState;
use crate::sim::world::{Event, Sim};
use oxcd_core::ids::NodeId;
use std::collections::BTreeMap;
use std::time::Duration;

/// Shape of the workload.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// Concurrent client sessions.
    pub sessions: usize,
    /// Pause after each answer, drawn up to this.
    pub think_max: Duration,
    /// Keys in use at once.
    pub keys: u64,
    /// Operations after which the key window moves on by one key.
    pub ops_per_key: u64,
    /// Relative weights of put, get, serializable get, delete and compare-and-swap.
    pub mix: [u64; 5],
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            sessions: 4,
            think_max: Duration::from_millis(60),
            keys: 4,
            ops_per_key: 8,
            mix: [35, 25, 10, 10, 20],
        }
    }
}

/// The running workload.
#[derive(Debug)]
pub(crate) struct Workload {
    cfg: WorkloadConfig,
    pub active: bool,
    issued: u64,
    /// The value each key was last seen holding (by this workload's answers).
    seen: BTreeMap<String, Option<String>>,
}

impl Sim {
    /// Starts the random workload.
    pub fn start_workload(&mut self, cfg: WorkloadConfig) {
        let sessions = cfg.sessions;
        self.workload = Some(Workload { cfg, active: true, issued: 0, seen: BTreeMap::new() });
        for s in 0..sessions {
            let delay = Duration::from_millis(self.rng.range_u64(0, 50));
            self.queue.schedule_in(delay, Event::Workload { session: s });
        }
    }

    /// Stops issuing new workload operations (those in flight finish).
    pub fn stop_workload(&mut self) {
        if let Some(w) = self.workload.as_mut() {
            w.active = false;
        }
    }

    pub(crate) fn workload_step(&mut self, session: usize) {
        let Some(w) = self.workload.as_mut() else { return };
        if !w.active {
            return;
        }
        w.issued += 1;
        let cfg = w.cfg.clone();
        let base = w.issued / cfg.ops_per_key.max(1);
        let key = format!("k{:05}", base + self.rng.range_u64(0, cfg.keys.max(1)));
        let value = format!("v{}", self.history.ops().len());
        let total: u64 = cfg.mix.iter().sum();
        let mut pick = self.rng.range_u64(0, total.max(1));
        let mut kind = 0;
        for (i, weight) in cfg.mix.iter().enumerate() {
            if pick < *weight {
                kind = i;
                break;
            }
            pick -= weight;
        }
        let call = match kind {
            0 => KvCall::Put { key, value },
            1 => KvCall::Get { key },
            2 => KvCall::GetSerializable { key },
            3 => KvCall::Delete { key },
            _ => {
                let seen = self.workload.as_ref().and_then(|w| w.seen.get(&key).cloned()).flatten();
                // Mostly the value last seen; sometimes absence, to create keys.
                let expect = if self.rng.chance(3, 4) { seen } else { None };
                KvCall::Cas { key, expect, new: value }
            }
        };
        let member = self.random_member();
        self.submit_kv(session, Some(session), member, call);
    }

    /// A member that is not removed (its process may be down: the client finds out).
    fn random_member(&mut self) -> NodeId {
        let ids: Vec<NodeId> = self
            .members
            .values()
            .filter(|s| s.state != MemberState::Removed && s.state != MemberState::NotStarted)
            .map(|s| s.id)
            .collect();
        if ids.is_empty() {
            return NodeId(1);
        }
        ids[self.rng.range_u64(0, ids.len() as u64) as usize]
    }

    /// Session `session`'s operation `op` ended: remember what it saw, then think.
    pub(crate) fn workload_done(&mut self, session: usize, op: u64) {
        let learned = self.history.get(op).and_then(|o| match (&o.call, &o.outcome) {
            (KvCall::Put { key, value }, Some(Outcome::Ok(_))) => {
                Some((key.clone(), Some(value.clone())))
            }
            (KvCall::Delete { key }, Some(Outcome::Ok(_))) => Some((key.clone(), None)),
            (
                KvCall::Get { key } | KvCall::GetSerializable { key },
                Some(Outcome::Ok(KvReturn::Get { value, .. })),
            ) => Some((key.clone(), value.clone())),
            (
                KvCall::Cas { key, new, .. },
                Some(Outcome::Ok(KvReturn::Cas { succeeded, current })),
            ) => Some((key.clone(), if *succeeded { Some(new.clone()) } else { current.clone() })),
            _ => None,
        });
        let Some(w) = self.workload.as_mut() else { return };
        if let Some((key, value)) = learned {
            w.seen.insert(key, value);
        }
        if w.seen.len() > 64 {
            let oldest = w.seen.keys().next().cloned();
            if let Some(k) = oldest {
                w.seen.remove(&k);
            }
        }
        if !w.active {
            return;
        }
        let think =
            self.rng.range_u64(0, w.cfg.think_max.as_nanos().min(u128::from(u64::MAX)) as u64);
        self.queue.schedule_in(Duration::from_nanos(think), Event::Workload { session });
    }

    /// Workload operations still waiting for an answer.
    #[must_use]
    pub fn ops_in_flight(&self) -> usize {
        self.in_flight
            .values()
            .filter(|f| matches!(f.purpose, crate::sim::client::Purpose::Kv { .. }))
            .count()
    }
}
