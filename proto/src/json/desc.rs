//! Field tables of every message the JSON gateway carries: proto names, numbers and kinds, in
//! declaration order (which grpc-gateway's output follows). The JSON codec is driven by these
//! tables and works on the protobuf bytes, the way grpc-gateway works on reflection.

/// The value kind of a field, as the JSON mapping needs it.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `int64`: a decimal string on output.
    I64,
    /// `uint64`: a decimal string on output.
    U64,
    /// `uint32`: a JSON number.
    U32,
    /// `bool`.
    Bool,
    /// `string`.
    Str,
    /// `bytes`: standard base64.
    Bytes,
    /// An enum: its value name on output.
    Enum(&'static EnumDesc),
    /// An embedded message.
    Msg(&'static MessageDesc),
}

/// Single, repeated, or a member of a oneof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// A plain proto3 field.
    Single,
    /// `repeated`.
    Repeated,
    /// A member of the named oneof.
    Oneof(&'static str),
}

/// One field of a message.
#[derive(Clone, Copy, Debug)]
pub struct FieldDesc {
    /// Field number.
    pub number: u32,
    /// The name as written in the .proto file (what `OrigName` prints).
    pub name: &'static str,
    /// Value kind.
    pub kind: Kind,
    /// Label.
    pub label: Label,
}

/// One message type.
#[derive(Debug)]
pub struct MessageDesc {
    /// Full name, e.g. `etcdserverpb.PutRequest`.
    pub name: &'static str,
    /// Fields in declaration order.
    pub fields: &'static [FieldDesc],
}

/// One enum type.
#[derive(Debug)]
pub struct EnumDesc {
    /// Full name.
    pub name: &'static str,
    /// Value names and numbers.
    pub values: &'static [(&'static str, i32)],
}

impl EnumDesc {
    /// The name of a value, if known.
    pub fn name_of(&self, value: i32) -> Option<&'static str> {
        self.values.iter().find(|(_, v)| *v == value).map(|(n, _)| *n)
    }

    /// The value of a name, if known.
    pub fn value_of(&self, name: &str) -> Option<i32> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

use Kind::*;

const fn f(number: u32, name: &'static str, kind: Kind) -> FieldDesc {
    FieldDesc { number, name, kind, label: Label::Single }
}

const fn rep(number: u32, name: &'static str, kind: Kind) -> FieldDesc {
    FieldDesc { number, name, kind, label: Label::Repeated }
}

const fn one(number: u32, name: &'static str, oneof: &'static str, kind: Kind) -> FieldDesc {
    FieldDesc { number, name, kind, label: Label::Oneof(oneof) }
}

const HEADER: FieldDesc = f(1, "header", Msg(&RESPONSE_HEADER));

macro_rules! messages {
    ($($id:ident $name:literal [$($field:expr),* $(,)?])*) => {
        $(
            #[doc = concat!("`", $name, "`.")]
            pub static $id: MessageDesc = MessageDesc { name: $name, fields: &[$($field),*] };
        )*
        /// Every described message.
        pub static ALL: &[&MessageDesc] = &[$(&$id),*];
    };
}

macro_rules! enums {
    ($($id:ident $name:literal [$($value:literal = $n:literal),* $(,)?])*) => {
        $(
            #[doc = concat!("`", $name, "`.")]
            pub static $id: EnumDesc = EnumDesc { name: $name, values: &[$(($value, $n)),*] };
        )*
    };
}

enums! {
    EVENT_TYPE "mvccpb.Event.EventType" ["PUT" = 0, "DELETE" = 1]
    PERMISSION_TYPE "authpb.Permission.Type" ["READ" = 0, "WRITE" = 1, "READWRITE" = 2]
    SORT_ORDER "etcdserverpb.RangeRequest.SortOrder" ["NONE" = 0, "ASCEND" = 1, "DESCEND" = 2]
    SORT_TARGET "etcdserverpb.RangeRequest.SortTarget"
        ["KEY" = 0, "VERSION" = 1, "CREATE" = 2, "MOD" = 3, "VALUE" = 4]
    COMPARE_RESULT "etcdserverpb.Compare.CompareResult"
        ["EQUAL" = 0, "GREATER" = 1, "LESS" = 2, "NOT_EQUAL" = 3]
    COMPARE_TARGET "etcdserverpb.Compare.CompareTarget"
        ["VERSION" = 0, "CREATE" = 1, "MOD" = 2, "VALUE" = 3, "LEASE" = 4]
    FILTER_TYPE "etcdserverpb.WatchCreateRequest.FilterType" ["NOPUT" = 0, "NODELETE" = 1]
    ALARM_TYPE "etcdserverpb.AlarmType" ["NONE" = 0, "NOSPACE" = 1, "CORRUPT" = 2]
    ALARM_ACTION "etcdserverpb.AlarmRequest.AlarmAction"
        ["GET" = 0, "ACTIVATE" = 1, "DEACTIVATE" = 2]
    DOWNGRADE_ACTION "etcdserverpb.DowngradeRequest.DowngradeAction"
        ["VALIDATE" = 0, "ENABLE" = 1, "CANCEL" = 2]
}

messages! {
    KEY_VALUE "mvccpb.KeyValue" [
        f(1, "key", Bytes), f(2, "create_revision", I64), f(3, "mod_revision", I64),
        f(4, "version", I64), f(5, "value", Bytes), f(6, "lease", I64),
    ]
    EVENT "mvccpb.Event" [
        f(1, "type", Enum(&EVENT_TYPE)), f(2, "kv", Msg(&KEY_VALUE)),
        f(3, "prev_kv", Msg(&KEY_VALUE)),
    ]
    USER_ADD_OPTIONS "authpb.UserAddOptions" [f(1, "no_password", Bool)]
    USER "authpb.User" [
        f(1, "name", Bytes), f(2, "password", Bytes), rep(3, "roles", Str),
        f(4, "options", Msg(&USER_ADD_OPTIONS)),
    ]
    PERMISSION "authpb.Permission" [
        f(1, "permType", Enum(&PERMISSION_TYPE)), f(2, "key", Bytes), f(3, "range_end", Bytes),
    ]
    ROLE "authpb.Role" [f(1, "name", Bytes), rep(2, "keyPermission", Msg(&PERMISSION))]
    RESPONSE_HEADER "etcdserverpb.ResponseHeader" [
        f(1, "cluster_id", U64), f(2, "member_id", U64), f(3, "revision", I64),
        f(4, "raft_term", U64),
    ]
    RANGE_REQUEST "etcdserverpb.RangeRequest" [
        f(1, "key", Bytes), f(2, "range_end", Bytes), f(3, "limit", I64), f(4, "revision", I64),
        f(5, "sort_order", Enum(&SORT_ORDER)), f(6, "sort_target", Enum(&SORT_TARGET)),
        f(7, "serializable", Bool), f(8, "keys_only", Bool), f(9, "count_only", Bool),
        f(10, "min_mod_revision", I64), f(11, "max_mod_revision", I64),
        f(12, "min_create_revision", I64), f(13, "max_create_revision", I64),
    ]
    RANGE_RESPONSE "etcdserverpb.RangeResponse" [
        HEADER, rep(2, "kvs", Msg(&KEY_VALUE)), f(3, "more", Bool), f(4, "count", I64),
    ]
    PUT_REQUEST "etcdserverpb.PutRequest" [
        f(1, "key", Bytes), f(2, "value", Bytes), f(3, "lease", I64), f(4, "prev_kv", Bool),
        f(5, "ignore_value", Bool), f(6, "ignore_lease", Bool),
    ]
    PUT_RESPONSE "etcdserverpb.PutResponse" [HEADER, f(2, "prev_kv", Msg(&KEY_VALUE))]
    DELETE_RANGE_REQUEST "etcdserverpb.DeleteRangeRequest" [
        f(1, "key", Bytes), f(2, "range_end", Bytes), f(3, "prev_kv", Bool),
    ]
    DELETE_RANGE_RESPONSE "etcdserverpb.DeleteRangeResponse" [
        HEADER, f(2, "deleted", I64), rep(3, "prev_kvs", Msg(&KEY_VALUE)),
    ]
    REQUEST_OP "etcdserverpb.RequestOp" [
        one(1, "request_range", "request", Msg(&RANGE_REQUEST)),
        one(2, "request_put", "request", Msg(&PUT_REQUEST)),
        one(3, "request_delete_range", "request", Msg(&DELETE_RANGE_REQUEST)),
        one(4, "request_txn", "request", Msg(&TXN_REQUEST)),
    ]
    RESPONSE_OP "etcdserverpb.ResponseOp" [
        one(1, "response_range", "response", Msg(&RANGE_RESPONSE)),
        one(2, "response_put", "response", Msg(&PUT_RESPONSE)),
        one(3, "response_delete_range", "response", Msg(&DELETE_RANGE_RESPONSE)),
        one(4, "response_txn", "response", Msg(&TXN_RESPONSE)),
    ]
    COMPARE "etcdserverpb.Compare" [
        f(1, "result", Enum(&COMPARE_RESULT)), f(2, "target", Enum(&COMPARE_TARGET)),
        f(3, "key", Bytes),
        one(4, "version", "target_union", I64),
        one(5, "create_revision", "target_union", I64),
        one(6, "mod_revision", "target_union", I64),
        one(7, "value", "target_union", Bytes),
        one(8, "lease", "target_union", I64),
        f(64, "range_end", Bytes),
    ]
    TXN_REQUEST "etcdserverpb.TxnRequest" [
        rep(1, "compare", Msg(&COMPARE)), rep(2, "success", Msg(&REQUEST_OP)),
        rep(3, "failure", Msg(&REQUEST_OP)),
    ]
    TXN_RESPONSE "etcdserverpb.TxnResponse" [
        HEADER, f(2, "succeeded", Bool), rep(3, "responses", Msg(&RESPONSE_OP)),
    ]
    COMPACTION_REQUEST "etcdserverpb.CompactionRequest" [
        f(1, "revision", I64), f(2, "physical", Bool),
    ]
    COMPACTION_RESPONSE "etcdserverpb.CompactionResponse" [HEADER]
    HASH_REQUEST "etcdserverpb.HashRequest" []
    HASH_KV_REQUEST "etcdserverpb.HashKVRequest" [f(1, "revision", I64)]
    HASH_KV_RESPONSE "etcdserverpb.HashKVResponse" [
        HEADER, f(2, "hash", U32), f(3, "compact_revision", I64), f(4, "hash_revision", I64),
    ]
    HASH_RESPONSE "etcdserverpb.HashResponse" [HEADER, f(2, "hash", U32)]
    SNAPSHOT_REQUEST "etcdserverpb.SnapshotRequest" []
    SNAPSHOT_RESPONSE "etcdserverpb.SnapshotResponse" [
        HEADER, f(2, "remaining_bytes", U64), f(3, "blob", Bytes), f(4, "version", Str),
    ]
    WATCH_REQUEST "etcdserverpb.WatchRequest" [
        one(1, "create_request", "request_union", Msg(&WATCH_CREATE_REQUEST)),
        one(2, "cancel_request", "request_union", Msg(&WATCH_CANCEL_REQUEST)),
        one(3, "progress_request", "request_union", Msg(&WATCH_PROGRESS_REQUEST)),
    ]
    WATCH_CREATE_REQUEST "etcdserverpb.WatchCreateRequest" [
        f(1, "key", Bytes), f(2, "range_end", Bytes), f(3, "start_revision", I64),
        f(4, "progress_notify", Bool), rep(5, "filters", Enum(&FILTER_TYPE)),
        f(6, "prev_kv", Bool), f(7, "watch_id", I64), f(8, "fragment", Bool),
    ]
    WATCH_CANCEL_REQUEST "etcdserverpb.WatchCancelRequest" [f(1, "watch_id", I64)]
    WATCH_PROGRESS_REQUEST "etcdserverpb.WatchProgressRequest" []
    WATCH_RESPONSE "etcdserverpb.WatchResponse" [
        HEADER, f(2, "watch_id", I64), f(3, "created", Bool), f(4, "canceled", Bool),
        f(5, "compact_revision", I64), f(6, "cancel_reason", Str), f(7, "fragment", Bool),
        rep(11, "events", Msg(&EVENT)),
    ]
    LEASE_GRANT_REQUEST "etcdserverpb.LeaseGrantRequest" [f(1, "TTL", I64), f(2, "ID", I64)]
    LEASE_GRANT_RESPONSE "etcdserverpb.LeaseGrantResponse" [
        HEADER, f(2, "ID", I64), f(3, "TTL", I64), f(4, "error", Str),
    ]
    LEASE_REVOKE_REQUEST "etcdserverpb.LeaseRevokeRequest" [f(1, "ID", I64)]
    LEASE_REVOKE_RESPONSE "etcdserverpb.LeaseRevokeResponse" [HEADER]
    LEASE_CHECKPOINT "etcdserverpb.LeaseCheckpoint" [f(1, "ID", I64), f(2, "remaining_TTL", I64)]
    LEASE_CHECKPOINT_REQUEST "etcdserverpb.LeaseCheckpointRequest" [
        rep(1, "checkpoints", Msg(&LEASE_CHECKPOINT)),
    ]
    LEASE_CHECKPOINT_RESPONSE "etcdserverpb.LeaseCheckpointResponse" [HEADER]
    LEASE_KEEP_ALIVE_REQUEST "etcdserverpb.LeaseKeepAliveRequest" [f(1, "ID", I64)]
    LEASE_KEEP_ALIVE_RESPONSE "etcdserverpb.LeaseKeepAliveResponse" [
        HEADER, f(2, "ID", I64), f(3, "TTL", I64),
    ]
    LEASE_TIME_TO_LIVE_REQUEST "etcdserverpb.LeaseTimeToLiveRequest" [
        f(1, "ID", I64), f(2, "keys", Bool),
    ]
    LEASE_TIME_TO_LIVE_RESPONSE "etcdserverpb.LeaseTimeToLiveResponse" [
        HEADER, f(2, "ID", I64), f(3, "TTL", I64), f(4, "grantedTTL", I64), rep(5, "keys", Bytes),
    ]
    LEASE_LEASES_REQUEST "etcdserverpb.LeaseLeasesRequest" []
    LEASE_STATUS "etcdserverpb.LeaseStatus" [f(1, "ID", I64)]
    LEASE_LEASES_RESPONSE "etcdserverpb.LeaseLeasesResponse" [
        HEADER, rep(2, "leases", Msg(&LEASE_STATUS)),
    ]
    MEMBER "etcdserverpb.Member" [
        f(1, "ID", U64), f(2, "name", Str), rep(3, "peerURLs", Str), rep(4, "clientURLs", Str),
        f(5, "isLearner", Bool),
    ]
    MEMBER_ADD_REQUEST "etcdserverpb.MemberAddRequest" [
        rep(1, "peerURLs", Str), f(2, "isLearner", Bool),
    ]
    MEMBER_ADD_RESPONSE "etcdserverpb.MemberAddResponse" [
        HEADER, f(2, "member", Msg(&MEMBER)), rep(3, "members", Msg(&MEMBER)),
    ]
    MEMBER_REMOVE_REQUEST "etcdserverpb.MemberRemoveRequest" [f(1, "ID", U64)]
    MEMBER_REMOVE_RESPONSE "etcdserverpb.MemberRemoveResponse" [
        HEADER, rep(2, "members", Msg(&MEMBER)),
    ]
    MEMBER_UPDATE_REQUEST "etcdserverpb.MemberUpdateRequest" [
        f(1, "ID", U64), rep(2, "peerURLs", Str),
    ]
    MEMBER_UPDATE_RESPONSE "etcdserverpb.MemberUpdateResponse" [
        HEADER, rep(2, "members", Msg(&MEMBER)),
    ]
    MEMBER_LIST_REQUEST "etcdserverpb.MemberListRequest" [f(1, "linearizable", Bool)]
    MEMBER_LIST_RESPONSE "etcdserverpb.MemberListResponse" [
        HEADER, rep(2, "members", Msg(&MEMBER)),
    ]
    MEMBER_PROMOTE_REQUEST "etcdserverpb.MemberPromoteRequest" [f(1, "ID", U64)]
    MEMBER_PROMOTE_RESPONSE "etcdserverpb.MemberPromoteResponse" [
        HEADER, rep(2, "members", Msg(&MEMBER)),
    ]
    DEFRAGMENT_REQUEST "etcdserverpb.DefragmentRequest" []
    DEFRAGMENT_RESPONSE "etcdserverpb.DefragmentResponse" [HEADER]
    MOVE_LEADER_REQUEST "etcdserverpb.MoveLeaderRequest" [f(1, "targetID", U64)]
    MOVE_LEADER_RESPONSE "etcdserverpb.MoveLeaderResponse" [HEADER]
    ALARM_REQUEST "etcdserverpb.AlarmRequest" [
        f(1, "action", Enum(&ALARM_ACTION)), f(2, "memberID", U64),
        f(3, "alarm", Enum(&ALARM_TYPE)),
    ]
    ALARM_MEMBER "etcdserverpb.AlarmMember" [
        f(1, "memberID", U64), f(2, "alarm", Enum(&ALARM_TYPE)),
    ]
    ALARM_RESPONSE "etcdserverpb.AlarmResponse" [HEADER, rep(2, "alarms", Msg(&ALARM_MEMBER))]
    DOWNGRADE_REQUEST "etcdserverpb.DowngradeRequest" [
        f(1, "action", Enum(&DOWNGRADE_ACTION)), f(2, "version", Str),
    ]
    DOWNGRADE_RESPONSE "etcdserverpb.DowngradeResponse" [HEADER, f(2, "version", Str)]
    STATUS_REQUEST "etcdserverpb.StatusRequest" []
    STATUS_RESPONSE "etcdserverpb.StatusResponse" [
        HEADER, f(2, "version", Str), f(3, "dbSize", I64), f(4, "leader", U64),
        f(5, "raftIndex", U64), f(6, "raftTerm", U64), f(7, "raftAppliedIndex", U64),
        rep(8, "errors", Str), f(9, "dbSizeInUse", I64), f(10, "isLearner", Bool),
        f(11, "storageVersion", Str), f(12, "dbSizeQuota", I64),
        f(13, "downgradeInfo", Msg(&DOWNGRADE_INFO)),
    ]
    DOWNGRADE_INFO "etcdserverpb.DowngradeInfo" [
        f(1, "enabled", Bool), f(2, "targetVersion", Str),
    ]
    AUTH_ENABLE_REQUEST "etcdserverpb.AuthEnableRequest" []
    AUTH_DISABLE_REQUEST "etcdserverpb.AuthDisableRequest" []
    AUTH_STATUS_REQUEST "etcdserverpb.AuthStatusRequest" []
    AUTHENTICATE_REQUEST "etcdserverpb.AuthenticateRequest" [
        f(1, "name", Str), f(2, "password", Str),
    ]
    AUTH_USER_ADD_REQUEST "etcdserverpb.AuthUserAddRequest" [
        f(1, "name", Str), f(2, "password", Str), f(3, "options", Msg(&USER_ADD_OPTIONS)),
        f(4, "hashedPassword", Str),
    ]
    AUTH_USER_GET_REQUEST "etcdserverpb.AuthUserGetRequest" [f(1, "name", Str)]
    AUTH_USER_DELETE_REQUEST "etcdserverpb.AuthUserDeleteRequest" [f(1, "name", Str)]
    AUTH_USER_CHANGE_PASSWORD_REQUEST "etcdserverpb.AuthUserChangePasswordRequest" [
        f(1, "name", Str), f(2, "password", Str), f(3, "hashedPassword", Str),
    ]
    AUTH_USER_GRANT_ROLE_REQUEST "etcdserverpb.AuthUserGrantRoleRequest" [
        f(1, "user", Str), f(2, "role", Str),
    ]
    AUTH_USER_REVOKE_ROLE_REQUEST "etcdserverpb.AuthUserRevokeRoleRequest" [
        f(1, "name", Str), f(2, "role", Str),
    ]
    AUTH_ROLE_ADD_REQUEST "etcdserverpb.AuthRoleAddRequest" [f(1, "name", Str)]
    AUTH_ROLE_GET_REQUEST "etcdserverpb.AuthRoleGetRequest" [f(1, "role", Str)]
    AUTH_USER_LIST_REQUEST "etcdserverpb.AuthUserListRequest" []
    AUTH_ROLE_LIST_REQUEST "etcdserverpb.AuthRoleListRequest" []
    AUTH_ROLE_DELETE_REQUEST "etcdserverpb.AuthRoleDeleteRequest" [f(1, "role", Str)]
    AUTH_ROLE_GRANT_PERMISSION_REQUEST "etcdserverpb.AuthRoleGrantPermissionRequest" [
        f(1, "name", Str), f(2, "perm", Msg(&PERMISSION)),
    ]
    AUTH_ROLE_REVOKE_PERMISSION_REQUEST "etcdserverpb.AuthRoleRevokePermissionRequest" [
        f(1, "role", Str), f(2, "key", Bytes), f(3, "range_end", Bytes),
    ]
    AUTH_ENABLE_RESPONSE "etcdserverpb.AuthEnableResponse" [HEADER]
    AUTH_DISABLE_RESPONSE "etcdserverpb.AuthDisableResponse" [HEADER]
    AUTH_STATUS_RESPONSE "etcdserverpb.AuthStatusResponse" [
        HEADER, f(2, "enabled", Bool), f(3, "authRevision", U64),
    ]
    AUTHENTICATE_RESPONSE "etcdserverpb.AuthenticateResponse" [HEADER, f(2, "token", Str)]
    AUTH_USER_ADD_RESPONSE "etcdserverpb.AuthUserAddResponse" [HEADER]
    AUTH_USER_GET_RESPONSE "etcdserverpb.AuthUserGetResponse" [HEADER, rep(2, "roles", Str)]
    AUTH_USER_DELETE_RESPONSE "etcdserverpb.AuthUserDeleteResponse" [HEADER]
    AUTH_USER_CHANGE_PASSWORD_RESPONSE "etcdserverpb.AuthUserChangePasswordResponse" [HEADER]
    AUTH_USER_GRANT_ROLE_RESPONSE "etcdserverpb.AuthUserGrantRoleResponse" [HEADER]
    AUTH_USER_REVOKE_ROLE_RESPONSE "etcdserverpb.AuthUserRevokeRoleResponse" [HEADER]
    AUTH_ROLE_ADD_RESPONSE "etcdserverpb.AuthRoleAddResponse" [HEADER]
    AUTH_ROLE_GET_RESPONSE "etcdserverpb.AuthRoleGetResponse" [
        HEADER, rep(2, "perm", Msg(&PERMISSION)),
    ]
    AUTH_ROLE_LIST_RESPONSE "etcdserverpb.AuthRoleListResponse" [HEADER, rep(2, "roles", Str)]
    AUTH_USER_LIST_RESPONSE "etcdserverpb.AuthUserListResponse" [HEADER, rep(2, "users", Str)]
    AUTH_ROLE_DELETE_RESPONSE "etcdserverpb.AuthRoleDeleteResponse" [HEADER]
    AUTH_ROLE_GRANT_PERMISSION_RESPONSE "etcdserverpb.AuthRoleGrantPermissionResponse" [HEADER]
    AUTH_ROLE_REVOKE_PERMISSION_RESPONSE "etcdserverpb.AuthRoleRevokePermissionResponse" [HEADER]
}

/// The table of a message by full name (`etcdserverpb.PutRequest`).
pub fn find(name: &str) -> Option<&'static MessageDesc> {
    ALL.iter().copied().find(|d| d.name == name)
}
