//! How the Node handles client requests: readiness, identity and permission checks, routing
//! (served now, after a read index, through Raft, as a membership change, or as a password
//! check), and the answers it gives from its own state.

use super::forward::{ForwardKind, ReplyTo};
use super::reads::WaitingRead;
use super::request::{Request, RequestMeta, Response};
use super::{
    route, Forwarded, Node, Output, Parked, PendingTransfer, RequestId, ETCD_SERVER_VERSION,
};
use crate::error::ApiError;
use crate::ids::NodeId;
use oxcd_proto::etcdserverpb as pb;

impl Node {
    /// Once our attributes are applied, this member is ready: serve what waited for that.
    pub(super) fn check_published(&mut self) {
        if self.published {
            return;
        }
        let up_to_date = self
            .sm
            .members()
            .get(self.cfg.id)
            .is_some_and(|m| m.name == self.cfg.name && m.client_urls == self.cfg.client_urls);
        if up_to_date {
            self.published = true;
            for p in core::mem::take(&mut self.waiting_ready) {
                self.route(p.id, &p.meta, p.request);
            }
        }
    }

    /// True once this member has published its name and client URLs through Raft and serves
    /// clients (etcd's "ready to serve client requests").
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.published
    }

    /// Re-routes parked requests whose index is applied, and refuses expired ones.
    pub(super) fn unpark(&mut self) {
        let applied = self.applied;
        if self.parked.first_key_value().is_none_or(|(i, _)| *i > applied) {
            return;
        }
        let later = self.parked.split_off(&applied.next());
        let ready = core::mem::replace(&mut self.parked, later);
        for p in ready.into_values().flatten() {
            self.route(p.id, &p.meta, p.request);
        }
    }

    pub(super) fn publish_attributes(&mut self) {
        self.check_published();
        if self.published {
            return;
        }
        if self.sm.members().get(self.cfg.id).is_none()
            || self.publish_proposed_at.is_some_and(|t| self.now < t + self.cfg.request_timeout)
        {
            return;
        }
        self.publish_proposed_at = Some(self.now);
        let attr = oxcd_proto::membershippb::ClusterMemberAttrSetRequest {
            member_id: self.cfg.id.0,
            member_attributes: Some(oxcd_proto::membershippb::Attributes {
                name: self.cfg.name.clone(),
                client_urls: self.cfg.client_urls.clone(),
            }),
        };
        let _ = self.propose(
            None,
            pb::InternalRaftRequest { cluster_member_attr_set: Some(attr), ..Default::default() },
        );
    }

    /// Routes one client request: served now, after a read index, through Raft, or forwarded.
    pub(super) fn route(&mut self, id: RequestId, meta: &RequestMeta, request: Request) {
        let ai = match self.sm.identify(self.now, meta, self.applied) {
            Ok(crate::auth::Identified::Ready(ai)) => ai,
            Ok(crate::auth::Identified::WaitForApplied(index)) => {
                let deadline = self.now + self.cfg.request_timeout;
                let parked = Parked { id, meta: meta.clone(), request, deadline };
                self.parked.entry(index).or_default().push(parked);
                return;
            }
            Err(e) => {
                self.reply(id, Err(e));
                return;
            }
        };
        if let Err(e) = self.sm.check_request(&ai, &request) {
            self.reply(id, Err(e));
            return;
        }
        match route::classify(&request, self.cfg.max_txn_ops) {
            route::Route::Invalid(e) => self.reply(id, Err(e)),
            route::Route::Local => self.serve_local(id, ai, request),
            route::Route::LinearizableRead => {
                if self.reads.len() >= self.cfg.max_pending_requests {
                    self.reply(id, Err(ApiError::TooManyRequests));
                    return;
                }
                let deadline = self.now + self.cfg.request_timeout;
                self.reads.enqueue(WaitingRead { id, request, user: ai, deadline });
            }
            route::Route::Propose => {
                if self.sm.quota_exceeded(&request) {
                    self.raise_no_space();
                    self.reply(id, Err(ApiError::NoSpace));
                    return;
                }
                match self.sm.to_internal(&mut self.rng, &ai, request) {
                    Ok(internal) => {
                        let _ = self.propose(Some(id), internal);
                    }
                    Err(e) => self.reply(id, Err(e)),
                }
            }
            route::Route::Member => self.member_request(ReplyTo::Client(id), request),
            route::Route::Verify => {
                let Request::Authenticate(r) = request else { return };
                match self.sm.auth.start_authenticate(id.0, &r.name, &r.password) {
                    Ok(verify) => self.push(Output::VerifyPassword(verify)),
                    Err(e) => self.reply(id, Err(e)),
                }
            }
        }
    }

    /// Raises the NOSPACE alarm for this member (once).
    pub(super) fn raise_no_space(&mut self) {
        if self.sm.no_space() {
            return;
        }
        let alarm = pb::AlarmRequest {
            action: pb::alarm_request::AlarmAction::Activate as i32,
            member_id: self.cfg.id.0,
            alarm: pb::AlarmType::Nospace as i32,
        };
        let _ = self
            .propose(None, pb::InternalRaftRequest { alarm: Some(alarm), ..Default::default() });
    }

    /// Requests answered by this member from its own state (or, for leases, by the leader).
    pub(super) fn serve_local(
        &mut self,
        id: RequestId,
        ai: crate::auth::AuthInfo,
        request: Request,
    ) {
        let result = match request {
            Request::Status(_) => Ok(Response::Status(self.status())),
            Request::MoveLeader(r) => {
                let target = NodeId(r.target_id);
                if !self.raft.is_leader() {
                    Err(ApiError::NotLeader)
                } else if target == self.cfg.id {
                    Ok(Response::MoveLeader(Default::default()))
                } else if self.transfer.is_some() {
                    Err(ApiError::TooManyRequests)
                } else if self.raft.transfer_leader(target).is_err() {
                    Err(ApiError::BadLeaderTransferee)
                } else {
                    // Answered when the target leads, or at the deadline.
                    let deadline = self.now + self.cfg.request_timeout;
                    self.transfer = Some(PendingTransfer { id, target, deadline });
                    return;
                }
            }
            Request::V2(r) => Ok(Response::V2(crate::v2store::get(
                self.backend.as_ref(),
                &self.overlay,
                &r.path,
                r.recursive,
                self.applied.0,
            ))),
            Request::LeaseKeepAlive(r) if !self.raft.is_leader() => {
                let lease = crate::ids::LeaseId(r.id);
                self.forward(id, Forwarded::LeaseKeepAlive { lease }, ForwardKind::Lease(lease));
                return;
            }
            Request::LeaseTimeToLive(r) if !self.raft.is_leader() => {
                let lease = crate::ids::LeaseId(r.id);
                let request = Forwarded::LeaseTimeToLive { lease, keys: r.keys };
                self.forward(id, request, ForwardKind::Lease(lease));
                return;
            }
            other => {
                self.sm.serve_local(self.now, self.backend.as_ref(), &self.overlay, &ai, other)
            }
        };
        self.reply(id, result);
    }

    pub(super) fn status(&self) -> pb::StatusResponse {
        let (db_size, db_size_in_use) = (self.sm.size_bytes, self.sm.size_in_use_bytes);
        pb::StatusResponse {
            header: Some(self.response_header()),
            version: ETCD_SERVER_VERSION.into(),
            db_size,
            leader: self.raft.leader().0,
            raft_index: self.raft.commit_index().0,
            raft_term: self.raft.term().0,
            raft_applied_index: self.applied.0,
            errors: self.sm.alarm_errors(),
            db_size_in_use,
            is_learner: self.raft.is_learner(),
            ..Default::default()
        }
    }
}
