//! Membership changes requested by clients, with etcd's `--strict-reconfig-check` rules: a
//! change that would leave the cluster without a quorum of started, connected members is
//! refused before it is proposed.
//!
//! "Connected since" follows etcd's transport notion: a peer counts as connected from the first
//! message heard after a silence longer than an election timeout, and stops counting once it
//! has been silent that long.

use super::forward::{member_op, ReplyTo};
use super::request::Request;
use super::{propose_error, Forwarded, Node, PendingWrite};
use crate::codec;
use crate::error::ApiError;
use crate::ids::NodeId;
use crate::membership::Member;
use crate::time::Instant;
use core::time::Duration;

/// etcd's `HealthInterval`: members must have been connected this long before a
/// reconfiguration that counts on them.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// When each peer was last heard from, and since when it has been heard continuously.
#[derive(Debug, Default)]
pub(super) struct PeerActivity {
    last_heard: alloc::collections::BTreeMap<NodeId, (Instant, Instant)>,
}

impl PeerActivity {
    /// A message from `from` arrived at `now`.
    pub fn heard(&mut self, from: NodeId, now: Instant, silence: Duration) {
        let entry = self.last_heard.entry(from).or_insert((now, now));
        if now.saturating_duration_since(entry.1) > silence {
            entry.0 = now;
        }
        entry.1 = now;
    }

    /// True when `id` has been connected continuously since `since` (and still is at `now`).
    pub fn connected_since(
        &self,
        id: NodeId,
        since: Instant,
        now: Instant,
        silence: Duration,
    ) -> bool {
        self.last_heard.get(&id).is_some_and(|(active_since, last)| {
            *active_since <= since && now.saturating_duration_since(*last) <= silence
        })
    }

    /// True when `id` is connected now.
    pub fn is_connected(&self, id: NodeId, now: Instant, silence: Duration) -> bool {
        self.connected_since(id, now, now, silence)
    }
}

impl Node {
    /// A Cluster request (MemberAdd/Remove/Update/Promote): checked, then proposed as a
    /// configuration change by the leader; followers forward it.
    pub(super) fn member_request(&mut self, to: ReplyTo, request: Request) {
        if !self.raft.is_leader() {
            match (to, member_op(&request)) {
                (ReplyTo::Client(id), Some((op, kind))) => {
                    self.forward(id, Forwarded::Member(op), kind)
                }
                (to, _) => self.send_answer(to, Err(ApiError::NotLeader)),
            }
            return;
        }
        if let Err(e) = self.check_reconfig(&request) {
            self.send_answer(to, Err(e));
            return;
        }
        let (change, mut cc) = match self.sm.member_change(&mut self.rng, &self.raft, &request) {
            Ok(x) => x,
            Err(e) => {
                self.send_answer(to, Err(e));
                return;
            }
        };
        let internal = self.next_internal_id();
        cc.context = codec::encode(&(internal, change));
        match self.raft.propose_conf_change(&cc) {
            Ok(_) => {
                let deadline = self.now + self.cfg.request_timeout;
                self.pending.insert(internal, PendingWrite { to, deadline });
                self.deadlines.insert((deadline, internal));
            }
            Err(e) => self.send_answer(to, Err(propose_error(e))),
        }
    }

    fn silence(&self) -> Duration {
        self.cfg.election_timeout
    }

    /// etcd's `mayAddMember` / `mayRemoveMember`.
    fn check_reconfig(&self, request: &Request) -> Result<(), ApiError> {
        if !self.cfg.strict_reconfig_check {
            return Ok(());
        }
        let members = self.sm.members();
        let started = |m: &Member| !m.name.is_empty();
        let since = Instant::from_nanos(
            self.now.as_nanos().saturating_sub(HEALTH_INTERVAL.as_nanos() as u64),
        );
        let connected_since = |id: NodeId| {
            id == self.cfg.id || self.peers.connected_since(id, since, self.now, self.silence())
        };
        match request {
            Request::MemberAdd(r) => {
                if !r.is_learner {
                    // Ready to add a voter: a quorum of the grown voter set has started (or the
                    // one-member cluster that is being grown to two).
                    let voters = members.members().filter(|m| !m.is_learner);
                    let (mut total, mut up) = (1usize, 0usize);
                    for m in voters {
                        total += 1;
                        up += usize::from(started(m));
                    }
                    if !(up == 1 && total == 2) && up < total / 2 + 1 {
                        return Err(ApiError::MemberNotEnoughStarted);
                    }
                }
                // etcd 3.4 wants every member connected for the health interval.
                if !members.members().all(|m| connected_since(m.id)) {
                    return Err(ApiError::Unhealthy);
                }
                Ok(())
            }
            Request::MemberRemove(r) => {
                let id = NodeId(r.id);
                let Some(target) = members.get(id) else { return Ok(()) };
                if target.is_learner {
                    return Ok(());
                }
                let others: alloc::vec::Vec<&Member> =
                    members.members().filter(|m| !m.is_learner && m.id != id).collect();
                let up = others.iter().filter(|m| started(m)).count();
                if up < others.len() / 2 + 1 {
                    return Err(ApiError::MemberNotEnoughStarted);
                }
                // A member that is down is not part of the active quorum: safe to remove.
                if id != self.cfg.id && !self.peers.is_connected(id, self.now, self.silence()) {
                    return Ok(());
                }
                let voters: alloc::vec::Vec<&Member> =
                    members.members().filter(|m| !m.is_learner).collect();
                let active = voters.iter().filter(|m| connected_since(m.id)).count();
                if active.saturating_sub(1) < 1 + (voters.len().saturating_sub(1)) / 2 {
                    return Err(ApiError::Unhealthy);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
