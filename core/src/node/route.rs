//! How each client request is handled: checked (etcd's gRPC-layer rules and permissions),
//! then served from local state, served after a read index, proposed through Raft as etcd's
//! `InternalRaftRequest`, proposed as a membership change, or started as a password check.

use super::apply::StateMachine;
use super::peer::{Forwarded, ForwardedReply};
use super::request::{Request, RequestMeta, Response};
use crate::auth::{AuthInfo, Identified};
use crate::backend::{Backend, Overlay};
use crate::error::ApiError;
use crate::ids::{LeaseId, LogIndex, NodeId};
use crate::lease::choose_lease_id;
use crate::membership::{Member, MemberChange};
use crate::mvcc::kv::check_range;
use crate::mvcc::txn::{
    check_delete_range_request, check_put_request, check_txn_request, is_txn_read_only,
};
use crate::mvcc::StorageRef;
use crate::raft::{ConfChange, Raft};
use crate::rng::Rng;
use crate::time::Instant;
use crate::watch::WatchStreamId;
use alloc::string::String;
use alloc::vec::Vec;
use oxcd_proto::etcdserverpb as pb;

/// A learner may be promoted once its log reaches this share of the leader's (etcd's rule).
const LEARNER_READY_PERCENT: u64 = 90;

/// Where a request goes.
pub(super) enum Route {
    /// Refused by etcd's request checks.
    Invalid(ApiError),
    /// Served by this member from its own state.
    Local,
    /// Served after a read index confirms this member is current.
    LinearizableRead,
    /// Proposed as an entry.
    Propose,
    /// Proposed as a membership change.
    Member,
    /// Authenticate: a password check first.
    Verify,
}

/// Classifies `request` and runs etcd's stateless request checks.
pub(super) fn classify(request: &Request, max_txn_ops: usize) -> Route {
    let checked = match request {
        Request::Range(r) => check_range(r),
        Request::Put(r) => check_put_request(r),
        Request::DeleteRange(r) => check_delete_range_request(r),
        Request::Txn(r) => check_txn_request(r, max_txn_ops),
        _ => Ok(()),
    };
    if let Err(e) = checked {
        return Route::Invalid(e);
    }
    match request {
        Request::Range(r) if r.serializable => Route::Local,
        Request::Range(_) => Route::LinearizableRead,
        Request::Txn(r) if is_txn_read_only(r) => {
            if txn_serializable(r) {
                Route::Local
            } else {
                Route::LinearizableRead
            }
        }
        Request::MemberList(r) if r.linearizable => Route::LinearizableRead,
        Request::V2(r) => match r.method.as_str() {
            "GET" => Route::Local,
            "PUT" | "POST" | "DELETE" => Route::Propose,
            _ => Route::Invalid(ApiError::NotCapable),
        },
        Request::Put(_)
        | Request::DeleteRange(_)
        | Request::Txn(_)
        | Request::Compact(_)
        | Request::LeaseGrant(_)
        | Request::LeaseRevoke(_)
        | Request::Alarm(_)
        | Request::AuthEnable(_)
        | Request::AuthDisable(_)
        | Request::AuthStatus(_)
        | Request::UserAdd(_)
        | Request::UserGet(_)
        | Request::UserList(_)
        | Request::UserDelete(_)
        | Request::UserChangePassword(_)
        | Request::UserGrantRole(_)
        | Request::UserRevokeRole(_)
        | Request::RoleAdd(_)
        | Request::RoleGet(_)
        | Request::RoleList(_)
        | Request::RoleDelete(_)
        | Request::RoleGrantPermission(_)
        | Request::RoleRevokePermission(_) => Route::Propose,
        Request::MemberAdd(_)
        | Request::MemberRemove(_)
        | Request::MemberUpdate(_)
        | Request::MemberPromote(_) => Route::Member,
        Request::Authenticate(_) => Route::Verify,
        Request::MemberList(_)
        | Request::LeaseKeepAlive(_)
        | Request::LeaseTimeToLive(_)
        | Request::LeaseLeases(_)
        | Request::Status(_)
        | Request::Hash(_)
        | Request::HashKv(_)
        | Request::MoveLeader(_) => Route::Local,
    }
}

/// etcd serves a read-only transaction locally when every range in it is serializable.
fn txn_serializable(r: &pb::TxnRequest) -> bool {
    use pb::request_op::Request as Op;
    r.success.iter().chain(r.failure.iter()).all(|op| match &op.request {
        Some(Op::RequestRange(range)) => range.serializable,
        Some(Op::RequestTxn(t)) => txn_serializable(t),
        _ => true,
    })
}

/// Bytes per written key that etcd's quota adds for bookkeeping.
const QUOTA_OVERHEAD_BYTES: usize = 256;

/// What a write adds to the store as etcd's quota counts it; `None` for requests that do not
/// grow it (deletes, reads, compaction).
fn quota_cost(request: &Request) -> Option<usize> {
    match request {
        Request::Put(r) => Some(r.key.len() + r.value.len() + QUOTA_OVERHEAD_BYTES),
        Request::Txn(r) => {
            let cost = txn_put_bytes(r);
            (cost > 0).then_some(cost)
        }
        Request::LeaseGrant(_) => Some(QUOTA_OVERHEAD_BYTES),
        Request::V2(r) if r.method != "DELETE" => {
            Some(r.path.len() + r.val.len() + QUOTA_OVERHEAD_BYTES)
        }
        _ => None,
    }
}

fn txn_put_bytes(r: &pb::TxnRequest) -> usize {
    use pb::request_op::Request as Op;
    r.success
        .iter()
        .chain(r.failure.iter())
        .map(|op| match &op.request {
            Some(Op::RequestPut(p)) => p.key.len() + p.value.len() + QUOTA_OVERHEAD_BYTES,
            Some(Op::RequestTxn(t)) => txn_put_bytes(t),
            _ => 0,
        })
        .sum()
}

impl StateMachine {
    /// Resolves who sends a request (token, else certificate name, else anonymous).
    pub fn identify(
        &mut self,
        now: Instant,
        meta: &RequestMeta,
        applied: LogIndex,
    ) -> Result<Identified, ApiError> {
        self.auth.identify(now, meta.token.as_deref(), meta.cert_common_name.as_deref(), applied)
    }

    /// True when this write would go over the space quota (the member raises NOSPACE then).
    pub fn quota_exceeded(&self, request: &Request) -> bool {
        quota_cost(request).is_some_and(|cost| self.no_space() || self.over_quota(cost))
    }

    /// The permission checks etcd makes before serving or proposing.
    pub fn check_request(&self, ai: &AuthInfo, request: &Request) -> Result<(), ApiError> {
        let auth = &self.auth;
        let leases = self.kv.lessor();
        match request {
            Request::Range(r) => auth.check_range_request(ai, r),
            Request::Put(r) => auth.check_put_request(ai, r, leases),
            Request::DeleteRange(r) => auth.check_delete_range_request(ai, r),
            Request::Txn(r) => auth.check_txn(ai, r, leases),
            Request::LeaseRevoke(r) => auth.check_lease_revoke(ai, LeaseId(r.id), leases),
            Request::LeaseKeepAlive(r) => auth.check_lease_keep_alive(ai, LeaseId(r.id), leases),
            Request::LeaseTimeToLive(r) => auth.check_lease_time_to_live(ai, LeaseId(r.id), leases),
            Request::LeaseLeases(_) => auth.check_lease_leases(ai, leases.leases(), leases),
            Request::MemberAdd(_)
            | Request::MemberRemove(_)
            | Request::MemberUpdate(_)
            | Request::MemberPromote(_)
            | Request::Hash(_)
            | Request::HashKv(_) => auth.check_admin(ai),
            Request::UserGet(r) => auth.check_user_get(ai, &r.name),
            Request::RoleGet(r) => auth.check_role_get(ai, &r.role),
            _ => Ok(()),
        }
    }

    /// The entry that carries `request` through Raft, stamped with the caller's identity.
    pub fn to_internal(
        &self,
        rng: &mut Rng,
        ai: &AuthInfo,
        request: Request,
    ) -> Result<pb::InternalRaftRequest, ApiError> {
        let mut internal = pb::InternalRaftRequest {
            header: Some(pb::RequestHeader {
                id: 0,
                username: ai.username.clone(),
                auth_revision: ai.revision.0,
            }),
            ..Default::default()
        };
        match request {
            Request::Put(r) => internal.put = Some(r),
            Request::DeleteRange(r) => internal.delete_range = Some(r),
            Request::Txn(r) => internal.txn = Some(r),
            Request::Compact(r) => internal.compaction = Some(r),
            Request::LeaseGrant(mut r) => {
                if r.id == 0 {
                    // The id is chosen before proposing, so every member applies the same one.
                    r.id = loop {
                        let id = choose_lease_id(rng);
                        if !self.kv.lessor().exists(id) {
                            break id.0;
                        }
                    };
                }
                internal.lease_grant = Some(r);
            }
            Request::LeaseRevoke(r) => internal.lease_revoke = Some(r),
            Request::Alarm(r) => internal.alarm = Some(r),
            Request::V2(r) => internal.v2 = Some(r),
            Request::AuthEnable(r) => internal.auth_enable = Some(r),
            Request::AuthDisable(r) => internal.auth_disable = Some(r),
            Request::AuthStatus(r) => internal.auth_status = Some(r),
            Request::UserAdd(r) => internal.auth_user_add = Some(r),
            Request::UserGet(r) => internal.auth_user_get = Some(r),
            Request::UserList(r) => internal.auth_user_list = Some(r),
            Request::UserDelete(r) => internal.auth_user_delete = Some(r),
            Request::UserChangePassword(r) => internal.auth_user_change_password = Some(r),
            Request::UserGrantRole(r) => internal.auth_user_grant_role = Some(r),
            Request::UserRevokeRole(r) => internal.auth_user_revoke_role = Some(r),
            Request::RoleAdd(r) => internal.auth_role_add = Some(r),
            Request::RoleGet(r) => internal.auth_role_get = Some(r),
            Request::RoleList(r) => internal.auth_role_list = Some(r),
            Request::RoleDelete(r) => internal.auth_role_delete = Some(r),
            Request::RoleGrantPermission(r) => internal.auth_role_grant_permission = Some(r),
            Request::RoleRevokePermission(r) => internal.auth_role_revoke_permission = Some(r),
            _ => return Err(ApiError::NotCapable),
        }
        Ok(internal)
    }

    /// Serves a read from the current state (after its read index, for linearizable reads).
    pub fn serve_read(
        &self,
        backend: &dyn Backend,
        overlay: &Overlay,
        ai: &AuthInfo,
        request: &Request,
    ) -> Result<Response, ApiError> {
        let storage = StorageRef::new(backend, overlay);
        // A read confirmed after an auth change must be checked against the new rules.
        self.auth.check_not_stale(ai)?;
        match request {
            Request::Range(r) => self.kv.range(storage, r).map(Response::Range),
            Request::Txn(r) => self.kv.read_txn(storage, r).map(Response::Txn),
            Request::MemberList(_) => Ok(Response::MemberList(pb::MemberListResponse {
                header: None,
                members: self.member_list(),
            })),
            _ => Err(ApiError::NotCapable),
        }
    }

    /// Requests this member answers from its own state. Lease keep-alives and time-to-live
    /// reach here only on the leader.
    pub fn serve_local(
        &mut self,
        now: Instant,
        backend: &dyn Backend,
        overlay: &Overlay,
        ai: &AuthInfo,
        request: Request,
    ) -> Result<Response, ApiError> {
        let storage = StorageRef::new(backend, overlay);
        match request {
            Request::Range(_) | Request::Txn(_) | Request::MemberList(_) => {
                self.serve_read(backend, overlay, ai, &request)
            }
            Request::LeaseKeepAlive(r) => {
                self.kv.lease_keep_alive(&r, now).map(Response::LeaseKeepAlive)
            }
            Request::LeaseTimeToLive(r) => {
                self.kv.lease_time_to_live(&r, now).map(Response::LeaseTimeToLive)
            }
            Request::LeaseLeases(_) => Ok(Response::LeaseLeases(self.kv.lease_leases())),
            Request::Hash(_) => {
                let hash = self.kv.hash_kv(storage, 0)?;
                Ok(Response::Hash(pb::HashResponse { header: None, hash: hash.hash }))
            }
            Request::HashKv(r) => {
                let hash = self.kv.hash_kv(storage, r.revision)?;
                Ok(Response::HashKv(pb::HashKVResponse {
                    header: None,
                    hash: hash.hash,
                    compact_revision: hash.compact_revision,
                    hash_revision: hash.hash_revision,
                }))
            }
            _ => Err(ApiError::NotCapable),
        }
    }

    /// The leader answers a request a follower forwarded.
    pub fn answer_forwarded(&mut self, now: Instant, request: &Forwarded) -> ForwardedReply {
        match request {
            Forwarded::LeaseKeepAlive { lease } => {
                let r = pb::LeaseKeepAliveRequest { id: lease.0 };
                match self.kv.lease_keep_alive(&r, now) {
                    Ok(resp) => ForwardedReply::LeaseKeepAlive { ttl_seconds: resp.ttl },
                    Err(_) => ForwardedReply::NotLeader,
                }
            }
            Forwarded::LeaseTimeToLive { lease, keys } => {
                let r = pb::LeaseTimeToLiveRequest { id: lease.0, keys: *keys };
                match self.kv.lease_time_to_live(&r, now) {
                    Ok(resp) if resp.ttl == -1 && resp.granted_ttl == 0 => {
                        ForwardedReply::LeaseNotFound
                    }
                    Ok(resp) => ForwardedReply::LeaseTimeToLive {
                        ttl_seconds: resp.ttl,
                        granted_ttl_seconds: resp.granted_ttl,
                        keys: resp.keys,
                    },
                    Err(_) => ForwardedReply::NotLeader,
                }
            }
            // Membership changes are proposed by the Node itself, not answered from state.
            Forwarded::Member(_) => ForwardedReply::NotLeader,
        }
    }

    /// Builds the membership change a Cluster request asks for, validated against the current
    /// members (and, for promotion, against the learner's progress on this leader).
    pub fn member_change(
        &self,
        rng: &mut Rng,
        raft: &Raft,
        request: &Request,
    ) -> Result<(MemberChange, ConfChange), ApiError> {
        let (change, cc) = match request {
            Request::MemberAdd(r) => {
                let id = loop {
                    let id = NodeId(rng.next_u64());
                    if id.is_some()
                        && self.members().get(id).is_none()
                        && !self.members().is_removed(id)
                    {
                        break id;
                    }
                };
                let member = Member {
                    id,
                    name: String::new(),
                    peer_urls: r.peer_urls.clone(),
                    client_urls: Vec::new(),
                    is_learner: r.is_learner,
                };
                let cc = if r.is_learner {
                    ConfChange::add_learner(id, Vec::new())
                } else {
                    ConfChange::add_voter(id, Vec::new())
                };
                (MemberChange::Add(member), cc)
            }
            Request::MemberRemove(r) => {
                (MemberChange::Remove(NodeId(r.id)), ConfChange::remove(NodeId(r.id)))
            }
            Request::MemberUpdate(r) => {
                let change = MemberChange::UpdatePeerUrls {
                    id: NodeId(r.id),
                    peer_urls: r.peer_urls.clone(),
                };
                // No Raft configuration change: an empty change carries the new URLs.
                (change, ConfChange { changes: Vec::new(), ..ConfChange::remove(NodeId(r.id)) })
            }
            Request::MemberPromote(r) => {
                let id = NodeId(r.id);
                self.members().validate(&MemberChange::Promote(id)).map_err(ApiError::from)?;
                if !raft.is_leader() {
                    return Err(ApiError::NotLeader);
                }
                let leader_last = raft.last_index().0;
                let learner_match = raft.progress(id).map_or(0, |p| p.match_index.0);
                if learner_match * 100 < leader_last * LEARNER_READY_PERCENT {
                    return Err(ApiError::LearnerNotReady);
                }
                (MemberChange::Promote(id), ConfChange::add_voter(id, Vec::new()))
            }
            _ => return Err(ApiError::NotCapable),
        };
        self.members().validate(&change).map_err(ApiError::from)?;
        Ok((change, cc))
    }

    /// A message on a Watch stream.
    pub fn watch_request(
        &mut self,
        now: Instant,
        stream: WatchStreamId,
        ai: &AuthInfo,
        request: pb::WatchRequest,
    ) {
        use pb::watch_request::RequestUnion;
        let rev = self.kv.current_revision().0;
        match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => match self.auth.check_watch(ai, &create) {
                Ok(()) => self.kv.watch_create(stream, &create, now),
                Err(e) => {
                    // etcd puts the whole gRPC error text in the cancel reason.
                    let reason = e.rpc_error_text();
                    self.kv.watches_mut().create_refused(stream, &reason, rev, now);
                }
            },
            Some(RequestUnion::CancelRequest(cancel)) => {
                self.kv.watch_cancel(stream, cancel.watch_id)
            }
            Some(RequestUnion::ProgressRequest(_)) => self.kv.watch_progress(stream),
            None => self.kv.watches_mut().open_stream(stream, now),
        }
    }
}

/// The client's answer to a forwarded lease request.
pub(super) fn forwarded_response(
    lease: LeaseId,
    reply: ForwardedReply,
) -> Result<Response, ApiError> {
    match reply {
        ForwardedReply::LeaseKeepAlive { ttl_seconds } => {
            Ok(Response::LeaseKeepAlive(pb::LeaseKeepAliveResponse {
                header: None,
                id: lease.0,
                ttl: ttl_seconds,
            }))
        }
        ForwardedReply::LeaseTimeToLive { ttl_seconds, granted_ttl_seconds, keys } => {
            Ok(Response::LeaseTimeToLive(pb::LeaseTimeToLiveResponse {
                header: None,
                id: lease.0,
                ttl: ttl_seconds,
                granted_ttl: granted_ttl_seconds,
                keys,
            }))
        }
        ForwardedReply::LeaseNotFound => {
            Ok(Response::LeaseTimeToLive(pb::LeaseTimeToLiveResponse {
                header: None,
                id: lease.0,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            }))
        }
        ForwardedReply::NotLeader => Err(ApiError::NotLeader),
        ForwardedReply::Error(index) => {
            Err(ApiError::ALL.get(usize::from(index)).copied().unwrap_or(ApiError::NotCapable))
        }
        ForwardedReply::Member { .. } => Err(ApiError::NotCapable),
    }
}
