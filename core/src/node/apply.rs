//! etcd's state machine as the Node drives it: the key-value store (with leases and watches),
//! auth, membership and alarms, and how committed entries change them.
//!
//! Entries carry etcd's `InternalRaftRequest` (protobuf, as etcd stores them). Applying one is
//! deterministic: every member reaches the same state, revisions and responses. The proposing
//! member recognises its own requests by the id in the entry's header and answers its client.

use super::config::NodeConfig;
use super::request::Response;
use super::NodeError;
use crate::auth::{AuthConfig, AuthInfo, AuthRequest, AuthResponse, AuthStore};
use crate::backend::{Backend, Overlay, Table};
use crate::codec;
use crate::error::ApiError;
use crate::ids::{LogIndex, NodeId};
use crate::lease::LessorConfig;
use crate::membership::{MemberChange, Membership, MembershipError};
use crate::mvcc::auto_compact::AutoCompactor;
use crate::mvcc::kv::{KvConfig, KvStore};
use crate::mvcc::store::CompactionProgress;
use crate::mvcc::{StorageMut, StorageRef};
use crate::time::Instant;
use crate::watch::WatchConfig;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use oxcd_proto::etcdserverpb as pb;
use prost::Message as _;

/// Keys whose physical compaction runs per step (bounded work per input).
const COMPACTION_KEYS_PER_STEP: usize = 1_000;
/// Expired leases revoked per step, at most.
const EXPIRED_LEASES_PER_STEP: usize = 500;
/// Lease checkpoints proposed per step, at most.
const CHECKPOINTS_PER_STEP: usize = 500;

const ALARM_PREFIX: &[u8] = b"alarm/";

/// What applying needs from the Node.
pub(super) struct ApplyEnv<'a> {
    pub backend: &'a dyn Backend,
    pub overlay: &'a mut Overlay,
    pub now: Instant,
}

/// etcd's replicated state, plus this member's view of storage size.
pub(super) struct StateMachine {
    pub(super) kv: KvStore,
    pub(super) auth: AuthStore,
    members: Membership,
    /// Active alarms: (member, alarm type).
    alarms: BTreeSet<(u64, i32)>,
    pub(super) size_bytes: i64,
    pub(super) size_in_use_bytes: i64,
    quota_bytes: u64,
    /// The runtime reported that the disk is full: writes that grow the store are refused
    /// until it reports otherwise.
    pub(super) disk_full: bool,
    pub(super) auto_compactor: Option<AutoCompactor>,
    /// Physical compactions whose requester waits for the removal to finish.
    physical_waiters: Vec<(i64, u64)>,
    /// Answers produced outside of an entry's own reply (physical compaction completions).
    pub(super) late_answers: Vec<(u64, Result<Response, ApiError>)>,
}

impl StateMachine {
    /// The state machine as `backend` holds it.
    pub fn open(backend: &dyn Backend, cfg: &NodeConfig, now: Instant) -> Result<Self, NodeError> {
        let overlay = Overlay::new();
        let storage = StorageRef::new(backend, &overlay);
        let kv = KvStore::open(kv_config(cfg), storage);
        let auth_config = AuthConfig { token_ttl: cfg.auth_token_ttl, ..AuthConfig::default() };
        let auth = AuthStore::load(&auth_config, backend, &overlay)
            .map_err(|e| NodeError::Corrupt(alloc::format!("auth: {e}")))?;
        let members = Membership::load(backend).map_err(|e| NodeError::Corrupt(e.0))?;
        let mut alarms = BTreeSet::new();
        let mut corrupt = false;
        backend.scan(Table::Meta, ALARM_PREFIX, Some(b"alarm0"), &mut |_, value| {
            match codec::decode::<(u64, i32)>(value) {
                Ok(alarm) => {
                    alarms.insert(alarm);
                }
                Err(_) => corrupt = true,
            }
            ControlFlow::Continue(())
        });
        if corrupt {
            return Err(NodeError::Corrupt("alarm record".into()));
        }
        let auto_compactor =
            cfg.auto_compaction.map(|mode| AutoCompactor::new(mode, now, kv.current_revision()));
        Ok(StateMachine {
            kv,
            auth,
            members,
            alarms,
            size_bytes: 0,
            size_in_use_bytes: 0,
            quota_bytes: cfg.quota_backend_bytes,
            disk_full: false,
            auto_compactor,
            physical_waiters: Vec::new(),
            late_answers: Vec::new(),
        })
    }

    /// Replaces the state with what `backend` holds after a snapshot install. Watch streams
    /// stay and catch up from their next revision.
    pub fn restore(
        &mut self,
        backend: &dyn Backend,
        cfg: &NodeConfig,
        now: Instant,
        is_leader: bool,
    ) -> Result<(), NodeError> {
        let fresh = StateMachine::open(backend, cfg, now)?;
        let overlay = Overlay::new();
        let extend = if is_leader { cfg.election_timeout } else { core::time::Duration::ZERO };
        self.kv.restore(StorageRef::new(backend, &overlay), now, extend);
        self.auth = fresh.auth;
        self.members = fresh.members;
        self.alarms = fresh.alarms;
        self.physical_waiters.clear();
        Ok(())
    }

    /// When the state machine next needs `handle_timeout`: lease clocks (leader), token
    /// expiry, watch progress, automatic compaction, unfinished compaction or watcher catch-up
    /// (at once).
    pub fn poll_timeout(&self, now: Instant, is_leader: bool) -> Option<Instant> {
        if self.kv.compaction_pending() || self.kv.watches().has_unsynced() {
            return Some(now);
        }
        let mut at: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        if is_leader {
            consider(self.kv.lessor().poll_timeout());
            consider(self.auto_compactor.as_ref().map(AutoCompactor::poll_timeout));
        }
        consider(self.auth.poll_timeout());
        consider(self.kv.watches().poll_timeout());
        at
    }

    pub fn members(&self) -> &Membership {
        &self.members
    }

    pub fn revision(&self) -> i64 {
        self.kv.current_revision().0
    }

    /// Alarms in force, as etcd's `Status.errors` strings: the protobuf text form of the alarm,
    /// trailing space included ("memberID:… alarm:NOSPACE ").
    pub fn alarm_errors(&self) -> Vec<alloc::string::String> {
        self.alarms
            .iter()
            .map(|(member, alarm)| {
                alloc::format!("memberID:{member} alarm:{} ", alarm_name(*alarm))
            })
            .collect()
    }

    /// True when the NOSPACE alarm is raised anywhere: writes that grow the store are refused.
    pub fn no_space(&self) -> bool {
        self.alarms.iter().any(|(_, a)| *a == pb::AlarmType::Nospace as i32)
    }

    /// Would this write push storage over the quota?
    pub fn over_quota(&self, request_bytes: usize) -> bool {
        let used = u64::try_from(self.size_bytes).unwrap_or(0);
        self.disk_full || used.saturating_add(request_bytes as u64) > self.quota_bytes
    }

    /// Applies the entry at `index` carrying `data`. Returns the request's id and its answer.
    pub fn apply_request(
        &mut self,
        env: ApplyEnv<'_>,
        index: LogIndex,
        data: &crate::raft::Payload,
    ) -> Option<(u64, Result<Response, ApiError>)> {
        // A malformed entry cannot come from an oxcd member; it is skipped the same way on
        // every member. Decoding from shared bytes copies each field once (from a plain slice,
        // prost copies byte fields twice).
        let shared = prost::bytes::Bytes::from_owner(data.clone());
        let mut request = pb::InternalRaftRequest::decode(shared).ok()?;
        let header = request.header.take().unwrap_or_default();
        let id = if header.id != 0 { header.id } else { request.id };
        let ai = if header.username.is_empty() {
            AuthInfo::anonymous()
        } else {
            AuthInfo::from_header(&header.username, header.auth_revision)
        };
        let result = self.dispatch(env, index, &ai, id, request);
        result.map(|r| (id, r))
    }

    fn dispatch(
        &mut self,
        env: ApplyEnv<'_>,
        index: LogIndex,
        ai: &AuthInfo,
        id: u64,
        mut request: pb::InternalRaftRequest,
    ) -> Option<Result<Response, ApiError>> {
        if let Some(auth_request) = AuthRequest::take_from(&mut request) {
            let result = self.auth.apply(env.overlay, env.now, index, ai, &auth_request);
            return Some(result.map(auth_response));
        }
        let ApplyEnv { backend, overlay, now } = env;
        let mut storage = StorageMut::new(backend, overlay);
        if let Some(r) = request.put {
            return Some(self.apply_put(&mut storage, ai, r));
        }
        if let Some(r) = request.delete_range {
            let checked = self
                .auth
                .check_not_stale(ai)
                .and_then(|()| self.auth.check_delete_range_request(ai, &r));
            return Some(checked.and_then(|()| {
                self.kv.apply_delete_range(&mut storage, &r).map(Response::DeleteRange)
            }));
        }
        if let Some(r) = request.v2 {
            if self.no_space() && r.method != "DELETE" {
                return Some(Err(ApiError::NoSpace));
            }
            let answer = crate::v2store::apply(storage.backend, storage.overlay, index.0, &r);
            return Some(Ok(Response::V2(answer)));
        }
        if let Some(r) = request.txn {
            return Some(self.apply_txn(&mut storage, ai, &r));
        }
        if let Some(r) = request.compaction {
            let result = self.kv.apply_compaction(&mut storage, &r);
            if r.physical && result.is_ok() && self.kv.compaction_pending() {
                self.physical_waiters.push((r.revision, id));
                // Answered when the removal finishes (see `compaction_step`).
                return None;
            }
            return Some(result.map(Response::Compact));
        }
        if let Some(r) = request.lease_grant {
            if self.no_space() {
                return Some(Err(ApiError::NoSpace));
            }
            return Some(
                self.kv.apply_lease_grant(&mut storage, &r, now).map(Response::LeaseGrant),
            );
        }
        if let Some(r) = request.lease_revoke {
            let checked = self.auth.check_not_stale(ai).and_then(|()| {
                self.auth.check_lease_revoke(ai, crate::ids::LeaseId(r.id), self.kv.lessor())
            });
            return Some(checked.and_then(|()| {
                self.kv.apply_lease_revoke(&mut storage, &r).map(Response::LeaseRevoke)
            }));
        }
        if let Some(r) = request.lease_checkpoint {
            let _ = self.kv.apply_lease_checkpoint(&mut storage, &r, now);
            return None;
        }
        if let Some(r) = request.alarm {
            return Some(self.apply_alarm(storage.overlay, &r));
        }
        if let Some(r) = request.cluster_member_attr_set {
            if let Some(attr) = r.member_attributes {
                self.members.publish_attributes(
                    NodeId(r.member_id),
                    &attr.name,
                    &attr.client_urls,
                    storage.overlay,
                );
            }
            return None;
        }
        // Requests oxcd never proposes (cluster version, downgrade): nothing to do.
        None
    }

    fn apply_put(
        &mut self,
        storage: &mut StorageMut<'_>,
        ai: &AuthInfo,
        r: pb::PutRequest,
    ) -> Result<Response, ApiError> {
        if self.no_space() {
            return Err(ApiError::NoSpace);
        }
        self.auth.check_not_stale(ai)?;
        self.auth.check_put_request(ai, &r, self.kv.lessor())?;
        self.kv.apply_put_owned(storage, r).map(Response::Put)
    }

    fn apply_txn(
        &mut self,
        storage: &mut StorageMut<'_>,
        ai: &AuthInfo,
        r: &pb::TxnRequest,
    ) -> Result<Response, ApiError> {
        if self.no_space() && txn_has_put(r) {
            return Err(ApiError::NoSpace);
        }
        self.auth.check_not_stale(ai)?;
        self.auth.check_txn(ai, r, self.kv.lessor())?;
        self.kv.apply_txn(storage, r).map(Response::Txn)
    }

    fn apply_alarm(
        &mut self,
        overlay: &mut Overlay,
        r: &pb::AlarmRequest,
    ) -> Result<Response, ApiError> {
        use pb::alarm_request::AlarmAction;
        let mut response = pb::AlarmResponse::default();
        let key = |member: u64, alarm: i32| {
            let mut k = ALARM_PREFIX.to_vec();
            k.extend_from_slice(&member.to_be_bytes());
            k.extend_from_slice(&alarm.to_be_bytes());
            k
        };
        match AlarmAction::try_from(r.action) {
            Ok(AlarmAction::Get) => {
                response.alarms = self
                    .alarms
                    .iter()
                    .filter(|(m, a)| {
                        (r.member_id == 0 || *m == r.member_id)
                            && (r.alarm == pb::AlarmType::None as i32 || *a == r.alarm)
                    })
                    .map(|(m, a)| pb::AlarmMember { member_id: *m, alarm: *a })
                    .collect();
            }
            Ok(AlarmAction::Activate) => {
                if r.alarm != pb::AlarmType::None as i32
                    && self.alarms.insert((r.member_id, r.alarm))
                {
                    overlay.put(
                        Table::Meta,
                        key(r.member_id, r.alarm),
                        codec::encode(&(r.member_id, r.alarm)),
                    );
                }
                response.alarms =
                    alloc::vec![pb::AlarmMember { member_id: r.member_id, alarm: r.alarm }];
            }
            Ok(AlarmAction::Deactivate) => {
                if self.alarms.remove(&(r.member_id, r.alarm)) {
                    overlay.delete(Table::Meta, key(r.member_id, r.alarm));
                    response.alarms =
                        alloc::vec![pb::AlarmMember { member_id: r.member_id, alarm: r.alarm }];
                }
            }
            Err(_) => {}
        }
        Ok(Response::Alarm(response))
    }

    /// Applies a validated membership change.
    pub fn apply_member_change(
        &mut self,
        change: &MemberChange,
        overlay: &mut Overlay,
    ) -> Result<(), MembershipError> {
        self.members.apply(change, overlay)
    }

    /// The response to a member change request, after it was applied.
    pub fn member_response(&self, change: &MemberChange) -> Response {
        let members = self.member_list();
        match change {
            MemberChange::Add(m) => Response::MemberAdd(pb::MemberAddResponse {
                header: None,
                member: self.members.get(m.id).map(to_pb_member),
                members,
            }),
            MemberChange::Remove(_) => {
                Response::MemberRemove(pb::MemberRemoveResponse { header: None, members })
            }
            MemberChange::UpdatePeerUrls { .. } => {
                Response::MemberUpdate(pb::MemberUpdateResponse { header: None, members })
            }
            MemberChange::Promote(_) => {
                Response::MemberPromote(pb::MemberPromoteResponse { header: None, members })
            }
        }
    }

    /// Every member in etcd's message form.
    pub fn member_list(&self) -> Vec<pb::Member> {
        self.members.members().map(to_pb_member).collect()
    }

    /// One bounded step of physical compaction; answers physical waiters when it finishes.
    pub fn compaction_step(&mut self, backend: &dyn Backend, overlay: &mut Overlay) {
        if !self.kv.compaction_pending() {
            return;
        }
        let mut storage = StorageMut::new(backend, overlay);
        if let CompactionProgress::Finished(rev) =
            self.kv.compaction_step(&mut storage, COMPACTION_KEYS_PER_STEP)
        {
            let header = self.kv.current_revision().0;
            let (done, waiting): (Vec<_>, Vec<_>) =
                self.physical_waiters.drain(..).partition(|(r, _)| *r <= rev);
            self.physical_waiters = waiting;
            for (_, id) in done {
                let response =
                    pb::CompactionResponse { header: crate::mvcc::range::header(header) };
                self.late_answers.push((id, Ok(Response::Compact(response))));
            }
        }
    }

    /// The leader's periodic work: revoke expired leases and propose checkpoints.
    pub fn lease_proposals(&mut self, now: Instant) -> Vec<pb::InternalRaftRequest> {
        let mut out = Vec::new();
        let lessor = self.kv.lessor_mut();
        for id in lessor.poll_expired(now, EXPIRED_LEASES_PER_STEP) {
            out.push(pb::InternalRaftRequest {
                lease_revoke: Some(pb::LeaseRevokeRequest { id: id.0 }),
                ..Default::default()
            });
        }
        let checkpoints = lessor.poll_checkpoints(now, CHECKPOINTS_PER_STEP);
        if !checkpoints.is_empty() {
            let checkpoints = checkpoints
                .into_iter()
                .map(|c| pb::LeaseCheckpoint { id: c.id.0, remaining_ttl: c.remaining_ttl })
                .collect();
            out.push(pb::InternalRaftRequest {
                lease_checkpoint: Some(pb::LeaseCheckpointRequest { checkpoints }),
                ..Default::default()
            });
        }
        out
    }
}

fn kv_config(cfg: &NodeConfig) -> KvConfig {
    let watch = WatchConfig {
        progress_notify_interval: cfg.watch_progress_notify_interval,
        max_response_bytes: cfg.max_request_bytes,
        ..WatchConfig::default()
    };
    KvConfig { lessor: LessorConfig::for_election_timeout(cfg.election_timeout), watch }
}

fn txn_has_put(r: &pb::TxnRequest) -> bool {
    use pb::request_op::Request as Op;
    r.success.iter().chain(r.failure.iter()).any(|op| match &op.request {
        Some(Op::RequestPut(_)) => true,
        Some(Op::RequestTxn(t)) => txn_has_put(t),
        _ => false,
    })
}

pub(super) fn to_pb_member(m: &crate::membership::Member) -> pb::Member {
    pb::Member {
        id: m.id.0,
        name: m.name.clone(),
        peer_urls: m.peer_urls.clone(),
        client_urls: m.client_urls.clone(),
        is_learner: m.is_learner,
    }
}

fn alarm_name(alarm: i32) -> &'static str {
    match pb::AlarmType::try_from(alarm) {
        Ok(pb::AlarmType::Nospace) => "NOSPACE",
        Ok(pb::AlarmType::Corrupt) => "CORRUPT",
        _ => "NONE",
    }
}

fn auth_response(r: AuthResponse) -> Response {
    match r {
        AuthResponse::Enable(r) => Response::AuthEnable(r),
        AuthResponse::Disable(r) => Response::AuthDisable(r),
        AuthResponse::Status(r) => Response::AuthStatus(r),
        AuthResponse::Authenticate(r) => Response::Authenticate(r),
        AuthResponse::UserAdd(r) => Response::UserAdd(r),
        AuthResponse::UserDelete(r) => Response::UserDelete(r),
        AuthResponse::UserChangePassword(r) => Response::UserChangePassword(r),
        AuthResponse::UserGrantRole(r) => Response::UserGrantRole(r),
        AuthResponse::UserGet(r) => Response::UserGet(r),
        AuthResponse::UserRevokeRole(r) => Response::UserRevokeRole(r),
        AuthResponse::UserList(r) => Response::UserList(r),
        AuthResponse::RoleAdd(r) => Response::RoleAdd(r),
        AuthResponse::RoleGet(r) => Response::RoleGet(r),
        AuthResponse::RoleList(r) => Response::RoleList(r),
        AuthResponse::RoleDelete(r) => Response::RoleDelete(r),
        AuthResponse::RoleGrantPermission(r) => Response::RoleGrantPermission(r),
        AuthResponse::RoleRevokePermission(r) => Response::RoleRevokePermission(r),
    }
}
