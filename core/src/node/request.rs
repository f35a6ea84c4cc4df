//! What clients ask a member, and what it answers: etcd's v3 request and response messages,
//! one variant per unary RPC (a LeaseKeepAlive stream is one request per message; Watch streams
//! have their own inputs). The runtimes map gRPC methods and gateway paths onto these.

use alloc::string::String;
use oxcd_proto::etcdserverpb as pb;

macro_rules! rpcs {
    ($( $(#[$meta:meta])* $name:ident($req:ident, $resp:ident), )*) => {
        /// A client request, decoded.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Request {
            $( $(#[$meta])* #[doc = concat!("`", stringify!($req), "`")] $name(pb::$req), )*
            /// etcd v2's keys API (`--enable-v2`): a GET is served locally, writes go through Raft.
            V2(pb::V2Request),
        }

        /// The answer to a [`Request`] of the same variant.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Response {
            $( $(#[$meta])* #[doc = concat!("`", stringify!($resp), "`")] $name(pb::$resp), )*
            /// The answer to a v2 keys API request (a v2 error is an answer too).
            V2(crate::v2store::V2Response),
        }

        impl Request {
            /// The RPC's name, as in etcd's service definitions (for logs and metrics).
            #[must_use]
            pub const fn name(&self) -> &'static str {
                match self { $( Request::$name(_) => stringify!($name), )* Request::V2(_) => "V2" }
            }
        }

        impl Response {
            /// The response header, which every etcd response carries.
            pub fn header_mut(&mut self) -> &mut pb::ResponseHeader {
                match self {
                    $( Response::$name(r) => r.header.get_or_insert_with(Default::default), )*
                    Response::V2(r) => r.header.get_or_insert_with(Default::default),
                }
            }

            /// The response header, if set.
            #[must_use]
            pub fn header(&self) -> Option<&pb::ResponseHeader> {
                match self {
                    $( Response::$name(r) => r.header.as_ref(), )*
                    Response::V2(r) => r.header.as_ref(),
                }
            }
        }
    };
}

rpcs! {
    Range(RangeRequest, RangeResponse),
    Put(PutRequest, PutResponse),
    DeleteRange(DeleteRangeRequest, DeleteRangeResponse),
    Txn(TxnRequest, TxnResponse),
    Compact(CompactionRequest, CompactionResponse),

    LeaseGrant(LeaseGrantRequest, LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeRequest, LeaseRevokeResponse),
    LeaseKeepAlive(LeaseKeepAliveRequest, LeaseKeepAliveResponse),
    LeaseTimeToLive(LeaseTimeToLiveRequest, LeaseTimeToLiveResponse),
    LeaseLeases(LeaseLeasesRequest, LeaseLeasesResponse),

    MemberAdd(MemberAddRequest, MemberAddResponse),
    MemberRemove(MemberRemoveRequest, MemberRemoveResponse),
    MemberUpdate(MemberUpdateRequest, MemberUpdateResponse),
    MemberList(MemberListRequest, MemberListResponse),
    MemberPromote(MemberPromoteRequest, MemberPromoteResponse),

    Alarm(AlarmRequest, AlarmResponse),
    Status(StatusRequest, StatusResponse),
    Hash(HashRequest, HashResponse),
    HashKv(HashKVRequest, HashKVResponse),
    MoveLeader(MoveLeaderRequest, MoveLeaderResponse),

    AuthEnable(AuthEnableRequest, AuthEnableResponse),
    AuthDisable(AuthDisableRequest, AuthDisableResponse),
    AuthStatus(AuthStatusRequest, AuthStatusResponse),
    Authenticate(AuthenticateRequest, AuthenticateResponse),
    UserAdd(AuthUserAddRequest, AuthUserAddResponse),
    UserGet(AuthUserGetRequest, AuthUserGetResponse),
    UserList(AuthUserListRequest, AuthUserListResponse),
    UserDelete(AuthUserDeleteRequest, AuthUserDeleteResponse),
    UserChangePassword(AuthUserChangePasswordRequest, AuthUserChangePasswordResponse),
    UserGrantRole(AuthUserGrantRoleRequest, AuthUserGrantRoleResponse),
    UserRevokeRole(AuthUserRevokeRoleRequest, AuthUserRevokeRoleResponse),
    RoleAdd(AuthRoleAddRequest, AuthRoleAddResponse),
    RoleGet(AuthRoleGetRequest, AuthRoleGetResponse),
    RoleList(AuthRoleListRequest, AuthRoleListResponse),
    RoleDelete(AuthRoleDeleteRequest, AuthRoleDeleteResponse),
    RoleGrantPermission(AuthRoleGrantPermissionRequest, AuthRoleGrantPermissionResponse),
    RoleRevokePermission(AuthRoleRevokePermissionRequest, AuthRoleRevokePermissionResponse),
}

/// Who is asking, and how: what the runtime learned from the connection and the metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The auth token from the `token`/`authorization` metadata, if any.
    pub token: Option<String>,
    /// The verified client certificate's Common Name, when client certificate auth is on.
    pub cert_common_name: Option<String>,
    /// `hasleader=true` metadata: fail with "no leader" instead of waiting when there is none.
    pub require_leader: bool,
}
