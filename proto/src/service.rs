//! The gRPC method table: every RPC of etcd's KV, Watch, Lease, Cluster, Maintenance and Auth
//! services, with its path, streaming kind, message types and grpc-gateway JSON path.

/// How requests and responses flow in one RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// A stream of requests, one response (etcd has none; kept for completeness).
    ClientStreaming,
    /// One request, a stream of responses (`Maintenance/Snapshot`).
    ServerStreaming,
    /// Streams both ways (`Watch/Watch`, `Lease/LeaseKeepAlive`).
    BidiStreaming,
}

impl MethodKind {
    /// Whether the client may send more than one message.
    pub fn client_streams(self) -> bool {
        matches!(self, Self::ClientStreaming | Self::BidiStreaming)
    }

    /// Whether the server may send more than one message.
    pub fn server_streams(self) -> bool {
        matches!(self, Self::ServerStreaming | Self::BidiStreaming)
    }
}

/// Everything known about one RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodInfo {
    /// The HTTP/2 `:path`, e.g. `/etcdserverpb.KV/Range`.
    pub path: &'static str,
    /// The service name inside `etcdserverpb`, e.g. `KV`.
    pub service: &'static str,
    /// The RPC name, e.g. `Range`.
    pub name: &'static str,
    /// Streaming kind.
    pub kind: MethodKind,
    /// Full protobuf name of the request message, e.g. `etcdserverpb.RangeRequest`.
    pub request_type: &'static str,
    /// Full protobuf name of the response message.
    pub response_type: &'static str,
    /// The grpc-gateway JSON path (`POST`), e.g. `/v3/kv/range`.
    pub gateway_path: &'static str,
}

macro_rules! methods {
    ($($variant:ident: $service:literal $name:literal $kind:ident
        $req:literal -> $resp:literal, $gw:literal;)*) => {
        /// One RPC of etcd's v3 API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Method {
            $(
                #[doc = concat!("`/etcdserverpb.", $service, "/", $name, "`.")]
                $variant,
            )*
        }

        impl Method {
            /// Every method, in the order of etcd's `rpc.proto`.
            pub const ALL: &'static [Method] = &[$(Method::$variant),*];

            /// The facts about this method.
            pub fn info(self) -> &'static MethodInfo {
                match self {
                    $(Method::$variant => &MethodInfo {
                        path: concat!("/etcdserverpb.", $service, "/", $name),
                        service: $service,
                        name: $name,
                        kind: MethodKind::$kind,
                        request_type: concat!("etcdserverpb.", $req),
                        response_type: concat!("etcdserverpb.", $resp),
                        gateway_path: $gw,
                    },)*
                }
            }
        }
    };
}

methods! {
    Range: "KV" "Range" Unary "RangeRequest" -> "RangeResponse", "/v3/kv/range";
    Put: "KV" "Put" Unary "PutRequest" -> "PutResponse", "/v3/kv/put";
    DeleteRange: "KV" "DeleteRange" Unary
        "DeleteRangeRequest" -> "DeleteRangeResponse", "/v3/kv/deleterange";
    Txn: "KV" "Txn" Unary "TxnRequest" -> "TxnResponse", "/v3/kv/txn";
    Compact: "KV" "Compact" Unary "CompactionRequest" -> "CompactionResponse", "/v3/kv/compaction";
    Watch: "Watch" "Watch" BidiStreaming "WatchRequest" -> "WatchResponse", "/v3/watch";
    LeaseGrant: "Lease" "LeaseGrant" Unary
        "LeaseGrantRequest" -> "LeaseGrantResponse", "/v3/lease/grant";
    LeaseRevoke: "Lease" "LeaseRevoke" Unary
        "LeaseRevokeRequest" -> "LeaseRevokeResponse", "/v3/lease/revoke";
    LeaseKeepAlive: "Lease" "LeaseKeepAlive" BidiStreaming
        "LeaseKeepAliveRequest" -> "LeaseKeepAliveResponse", "/v3/lease/keepalive";
    LeaseTimeToLive: "Lease" "LeaseTimeToLive" Unary
        "LeaseTimeToLiveRequest" -> "LeaseTimeToLiveResponse", "/v3/lease/timetolive";
    LeaseLeases: "Lease" "LeaseLeases" Unary
        "LeaseLeasesRequest" -> "LeaseLeasesResponse", "/v3/lease/leases";
    MemberAdd: "Cluster" "MemberAdd" Unary
        "MemberAddRequest" -> "MemberAddResponse", "/v3/cluster/member/add";
    MemberRemove: "Cluster" "MemberRemove" Unary
        "MemberRemoveRequest" -> "MemberRemoveResponse", "/v3/cluster/member/remove";
    MemberUpdate: "Cluster" "MemberUpdate" Unary
        "MemberUpdateRequest" -> "MemberUpdateResponse", "/v3/cluster/member/update";
    MemberList: "Cluster" "MemberList" Unary
        "MemberListRequest" -> "MemberListResponse", "/v3/cluster/member/list";
    MemberPromote: "Cluster" "MemberPromote" Unary
        "MemberPromoteRequest" -> "MemberPromoteResponse", "/v3/cluster/member/promote";
    Alarm: "Maintenance" "Alarm" Unary "AlarmRequest" -> "AlarmResponse", "/v3/maintenance/alarm";
    Status: "Maintenance" "Status" Unary
        "StatusRequest" -> "StatusResponse", "/v3/maintenance/status";
    Defragment: "Maintenance" "Defragment" Unary
        "DefragmentRequest" -> "DefragmentResponse", "/v3/maintenance/defragment";
    Hash: "Maintenance" "Hash" Unary "HashRequest" -> "HashResponse", "/v3/maintenance/hash";
    HashKV: "Maintenance" "HashKV" Unary
        "HashKVRequest" -> "HashKVResponse", "/v3/maintenance/hashkv";
    Snapshot: "Maintenance" "Snapshot" ServerStreaming
        "SnapshotRequest" -> "SnapshotResponse", "/v3/maintenance/snapshot";
    MoveLeader: "Maintenance" "MoveLeader" Unary
        "MoveLeaderRequest" -> "MoveLeaderResponse", "/v3/maintenance/transfer-leadership";
    Downgrade: "Maintenance" "Downgrade" Unary
        "DowngradeRequest" -> "DowngradeResponse", "/v3/maintenance/downgrade";
    AuthEnable: "Auth" "AuthEnable" Unary
        "AuthEnableRequest" -> "AuthEnableResponse", "/v3/auth/enable";
    AuthDisable: "Auth" "AuthDisable" Unary
        "AuthDisableRequest" -> "AuthDisableResponse", "/v3/auth/disable";
    AuthStatus: "Auth" "AuthStatus" Unary
        "AuthStatusRequest" -> "AuthStatusResponse", "/v3/auth/status";
    Authenticate: "Auth" "Authenticate" Unary
        "AuthenticateRequest" -> "AuthenticateResponse", "/v3/auth/authenticate";
    UserAdd: "Auth" "UserAdd" Unary
        "AuthUserAddRequest" -> "AuthUserAddResponse", "/v3/auth/user/add";
    UserGet: "Auth" "UserGet" Unary
        "AuthUserGetRequest" -> "AuthUserGetResponse", "/v3/auth/user/get";
    UserList: "Auth" "UserList" Unary
        "AuthUserListRequest" -> "AuthUserListResponse", "/v3/auth/user/list";
    UserDelete: "Auth" "UserDelete" Unary
        "AuthUserDeleteRequest" -> "AuthUserDeleteResponse", "/v3/auth/user/delete";
    UserChangePassword: "Auth" "UserChangePassword" Unary
        "AuthUserChangePasswordRequest" -> "AuthUserChangePasswordResponse",
        "/v3/auth/user/changepw";
    UserGrantRole: "Auth" "UserGrantRole" Unary
        "AuthUserGrantRoleRequest" -> "AuthUserGrantRoleResponse", "/v3/auth/user/grant";
    UserRevokeRole: "Auth" "UserRevokeRole" Unary
        "AuthUserRevokeRoleRequest" -> "AuthUserRevokeRoleResponse", "/v3/auth/user/revoke";
    RoleAdd: "Auth" "RoleAdd" Unary
        "AuthRoleAddRequest" -> "AuthRoleAddResponse", "/v3/auth/role/add";
    RoleGet: "Auth" "RoleGet" Unary
        "AuthRoleGetRequest" -> "AuthRoleGetResponse", "/v3/auth/role/get";
    RoleList: "Auth" "RoleList" Unary
        "AuthRoleListRequest" -> "AuthRoleListResponse", "/v3/auth/role/list";
    RoleDelete: "Auth" "RoleDelete" Unary
        "AuthRoleDeleteRequest" -> "AuthRoleDeleteResponse", "/v3/auth/role/delete";
    RoleGrantPermission: "Auth" "RoleGrantPermission" Unary
        "AuthRoleGrantPermissionRequest" -> "AuthRoleGrantPermissionResponse",
        "/v3/auth/role/grant";
    RoleRevokePermission: "Auth" "RoleRevokePermission" Unary
        "AuthRoleRevokePermissionRequest" -> "AuthRoleRevokePermissionResponse",
        "/v3/auth/role/revoke";
}

impl Method {
    /// The HTTP/2 `:path` of this method.
    pub fn path(self) -> &'static str {
        self.info().path
    }

    /// The streaming kind of this method.
    pub fn kind(self) -> MethodKind {
        self.info().kind
    }
}

/// The method served at a gRPC `:path`, such as `/etcdserverpb.KV/Put`.
pub fn method(path: &str) -> Option<Method> {
    Method::ALL.iter().copied().find(|m| m.path() == path)
}

/// The method served at a grpc-gateway JSON path (`POST`), such as `/v3/kv/put`.
///
/// Accepts etcd's older `/v3beta/` and `/v3alpha/` prefixes, which etcd 3.4 still rewrote to
/// `/v3/`, and the `/v3/kv/lease/*` aliases of `revoke`, `timetolive` and `leases`.
pub fn gateway_method(path: &str) -> Option<Method> {
    let rest = path
        .strip_prefix("/v3/")
        .or_else(|| path.strip_prefix("/v3beta/"))
        .or_else(|| path.strip_prefix("/v3alpha/"))?;
    let rest = match rest {
        "kv/lease/revoke" => "lease/revoke",
        "kv/lease/timetolive" => "lease/timetolive",
        "kv/lease/leases" => "lease/leases",
        other => other,
    };
    Method::ALL.iter().copied().find(|m| m.info().gateway_path.strip_prefix("/v3/") == Some(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_unique_and_found() {
        assert_eq!(Method::ALL.len(), 41);
        for (i, m) in Method::ALL.iter().enumerate() {
            assert_eq!(method(m.path()), Some(*m));
            assert_eq!(gateway_method(m.info().gateway_path), Some(*m));
            for other in &Method::ALL[i + 1..] {
                assert_ne!(m.path(), other.path());
                assert_ne!(m.info().gateway_path, other.info().gateway_path);
            }
        }
    }

    #[test]
    fn known_paths_and_kinds() {
        assert_eq!(method("/etcdserverpb.KV/Range"), Some(Method::Range));
        assert_eq!(method("/etcdserverpb.KV/Compact"), Some(Method::Compact));
        assert_eq!(method("/etcdserverpb.Maintenance/HashKV"), Some(Method::HashKV));
        assert_eq!(
            method("/etcdserverpb.Auth/UserChangePassword"),
            Some(Method::UserChangePassword)
        );
        assert_eq!(method("/etcdserverpb.KV/range"), None);
        assert_eq!(method(""), None);
        assert_eq!(Method::Watch.kind(), MethodKind::BidiStreaming);
        assert_eq!(Method::LeaseKeepAlive.kind(), MethodKind::BidiStreaming);
        assert_eq!(Method::Snapshot.kind(), MethodKind::ServerStreaming);
        assert!(Method::Snapshot.kind().server_streams());
        assert!(!Method::Snapshot.kind().client_streams());
        assert_eq!(Method::Put.kind(), MethodKind::Unary);
        let info = Method::Compact.info();
        assert_eq!(info.request_type, "etcdserverpb.CompactionRequest");
        assert_eq!(info.response_type, "etcdserverpb.CompactionResponse");
        assert_eq!(Method::UserAdd.info().request_type, "etcdserverpb.AuthUserAddRequest");
    }

    #[test]
    fn gateway_aliases() {
        assert_eq!(gateway_method("/v3/kv/lease/revoke"), Some(Method::LeaseRevoke));
        assert_eq!(gateway_method("/v3/kv/lease/timetolive"), Some(Method::LeaseTimeToLive));
        assert_eq!(gateway_method("/v3beta/kv/put"), Some(Method::Put));
        assert_eq!(gateway_method("/v3/maintenance/transfer-leadership"), Some(Method::MoveLeader));
        assert_eq!(gateway_method("/v3/auth/user/changepw"), Some(Method::UserChangePassword));
        assert_eq!(gateway_method("/v4/kv/put"), None);
        assert_eq!(gateway_method("/v3/kv/lease/grant"), None);
    }
}
