//! What a replicated log entry carries: etcd's `InternalRaftRequest` (`raft_internal.proto`).
//!
//! Unlike the client messages this is not a oneof: every request kind is an optional field and
//! exactly one is set in a well-formed entry. Field numbers are etcd 3.5's.

use alloc::string::String;

use super::*;
use crate::membershippb::{
    ClusterMemberAttrSetRequest, ClusterVersionSetRequest, DowngradeInfoSetRequest,
};

/// `etcdserverpb.RequestHeader`: who proposed the request.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RequestHeader {
    /// `ID = 1`: the proposal id, unique per proposing member.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// `username = 2`: the authenticated user, empty without auth.
    #[prost(string, tag = "2")]
    pub username: String,
    /// `auth_revision = 3`: the auth store revision the permission check saw.
    #[prost(uint64, tag = "3")]
    pub auth_revision: u64,
}

/// `etcdserverpb.Request`: a v2 keys API request (etcd's field numbers; the fields oxcd does
/// not implement — TTL, compare-and-swap, wait — are left out and skipped when decoding).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct V2Request {
    /// `ID = 1`.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// `Method = 2`: `GET`, `PUT`, `POST` or `DELETE`.
    #[prost(string, tag = "2")]
    pub method: String,
    /// `Path = 3`: the key, as the client wrote it after `/v2/keys`.
    #[prost(string, tag = "3")]
    pub path: String,
    /// `Val = 4`.
    #[prost(string, tag = "4")]
    pub val: String,
    /// `Dir = 5`.
    #[prost(bool, tag = "5")]
    pub dir: bool,
    /// `Recursive = 12`.
    #[prost(bool, tag = "12")]
    pub recursive: bool,
    /// `Sorted = 13`.
    #[prost(bool, tag = "13")]
    pub sorted: bool,
}

/// `etcdserverpb.InternalAuthenticateRequest`: an authentication with the token chosen by
/// the proposing member, so every member stores the same token.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct InternalAuthenticateRequest {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `password = 2`.
    #[prost(string, tag = "2")]
    pub password: String,
    /// `simple_token = 3`.
    #[prost(string, tag = "3")]
    pub simple_token: String,
}

/// `etcdserverpb.InternalRaftRequest`: the payload of a normal Raft log entry.
///
/// Field 2 carries etcd v2's `Request` (the v2 keys API behind `--enable-v2`). Field 9900 (etcd 3.6's
/// `downgrade_version_test`, a test hook) is left out. Requests only oxcd has would take
/// numbers from 10000 up, clear of etcd's; there are none yet.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct InternalRaftRequest {
    /// `header = 100`.
    #[prost(message, optional, tag = "100")]
    pub header: Option<RequestHeader>,
    /// `ID = 1`.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// `v2 = 2`: a v2 keys API write.
    #[prost(message, optional, tag = "2")]
    pub v2: Option<V2Request>,
    /// `range = 3`: a linearizable read that went through the log.
    #[prost(message, optional, tag = "3")]
    pub range: Option<RangeRequest>,
    /// `put = 4`.
    #[prost(message, optional, tag = "4")]
    pub put: Option<PutRequest>,
    /// `delete_range = 5`.
    #[prost(message, optional, tag = "5")]
    pub delete_range: Option<DeleteRangeRequest>,
    /// `txn = 6`.
    #[prost(message, optional, tag = "6")]
    pub txn: Option<TxnRequest>,
    /// `compaction = 7`.
    #[prost(message, optional, tag = "7")]
    pub compaction: Option<CompactionRequest>,
    /// `lease_grant = 8`.
    #[prost(message, optional, tag = "8")]
    pub lease_grant: Option<LeaseGrantRequest>,
    /// `lease_revoke = 9`.
    #[prost(message, optional, tag = "9")]
    pub lease_revoke: Option<LeaseRevokeRequest>,
    /// `alarm = 10`.
    #[prost(message, optional, tag = "10")]
    pub alarm: Option<AlarmRequest>,
    /// `lease_checkpoint = 11` (etcd 3.4+).
    #[prost(message, optional, tag = "11")]
    pub lease_checkpoint: Option<LeaseCheckpointRequest>,
    /// `auth_enable = 1000`.
    #[prost(message, optional, tag = "1000")]
    pub auth_enable: Option<AuthEnableRequest>,
    /// `auth_disable = 1011`.
    #[prost(message, optional, tag = "1011")]
    pub auth_disable: Option<AuthDisableRequest>,
    /// `auth_status = 1013` (etcd 3.5+).
    #[prost(message, optional, tag = "1013")]
    pub auth_status: Option<AuthStatusRequest>,
    /// `authenticate = 1012`.
    #[prost(message, optional, tag = "1012")]
    pub authenticate: Option<InternalAuthenticateRequest>,
    /// `auth_user_add = 1100`.
    #[prost(message, optional, tag = "1100")]
    pub auth_user_add: Option<AuthUserAddRequest>,
    /// `auth_user_delete = 1101`.
    #[prost(message, optional, tag = "1101")]
    pub auth_user_delete: Option<AuthUserDeleteRequest>,
    /// `auth_user_get = 1102`.
    #[prost(message, optional, tag = "1102")]
    pub auth_user_get: Option<AuthUserGetRequest>,
    /// `auth_user_change_password = 1103`.
    #[prost(message, optional, tag = "1103")]
    pub auth_user_change_password: Option<AuthUserChangePasswordRequest>,
    /// `auth_user_grant_role = 1104`.
    #[prost(message, optional, tag = "1104")]
    pub auth_user_grant_role: Option<AuthUserGrantRoleRequest>,
    /// `auth_user_revoke_role = 1105`.
    #[prost(message, optional, tag = "1105")]
    pub auth_user_revoke_role: Option<AuthUserRevokeRoleRequest>,
    /// `auth_user_list = 1106`.
    #[prost(message, optional, tag = "1106")]
    pub auth_user_list: Option<AuthUserListRequest>,
    /// `auth_role_list = 1107`.
    #[prost(message, optional, tag = "1107")]
    pub auth_role_list: Option<AuthRoleListRequest>,
    /// `auth_role_add = 1200`.
    #[prost(message, optional, tag = "1200")]
    pub auth_role_add: Option<AuthRoleAddRequest>,
    /// `auth_role_delete = 1201`.
    #[prost(message, optional, tag = "1201")]
    pub auth_role_delete: Option<AuthRoleDeleteRequest>,
    /// `auth_role_get = 1202`.
    #[prost(message, optional, tag = "1202")]
    pub auth_role_get: Option<AuthRoleGetRequest>,
    /// `auth_role_grant_permission = 1203`.
    #[prost(message, optional, tag = "1203")]
    pub auth_role_grant_permission: Option<AuthRoleGrantPermissionRequest>,
    /// `auth_role_revoke_permission = 1204`.
    #[prost(message, optional, tag = "1204")]
    pub auth_role_revoke_permission: Option<AuthRoleRevokePermissionRequest>,
    /// `cluster_version_set = 1300` (etcd 3.5+).
    #[prost(message, optional, tag = "1300")]
    pub cluster_version_set: Option<ClusterVersionSetRequest>,
    /// `cluster_member_attr_set = 1301` (etcd 3.5+).
    #[prost(message, optional, tag = "1301")]
    pub cluster_member_attr_set: Option<ClusterMemberAttrSetRequest>,
    /// `downgrade_info_set = 1302` (etcd 3.5+).
    #[prost(message, optional, tag = "1302")]
    pub downgrade_info_set: Option<DowngradeInfoSetRequest>,
}
