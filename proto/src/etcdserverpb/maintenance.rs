//! The `Maintenance` service's messages.

use alloc::string::String;
use alloc::vec::Vec;

use super::ResponseHeader;

/// `etcdserverpb.AlarmType` (a top-level enum of the package).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AlarmType {
    /// `NONE = 0`: in a request, "any alarm".
    None = 0,
    /// `NOSPACE = 1`: the space quota is exhausted.
    Nospace = 1,
    /// `CORRUPT = 2`: the store is corrupt.
    Corrupt = 2,
}

/// `etcdserverpb.AlarmRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AlarmRequest {
    /// `action = 1`: an [`alarm_request::AlarmAction`].
    #[prost(enumeration = "alarm_request::AlarmAction", tag = "1")]
    pub action: i32,
    /// `memberID = 2`: 0 for all members.
    #[prost(uint64, tag = "2")]
    pub member_id: u64,
    /// `alarm = 3`: an [`AlarmType`].
    #[prost(enumeration = "AlarmType", tag = "3")]
    pub alarm: i32,
}

/// Types nested in `etcdserverpb.AlarmRequest`.
pub mod alarm_request {
    /// `AlarmRequest.AlarmAction`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum AlarmAction {
        /// `GET = 0`.
        Get = 0,
        /// `ACTIVATE = 1`.
        Activate = 1,
        /// `DEACTIVATE = 2`.
        Deactivate = 2,
    }
}

/// `etcdserverpb.AlarmMember`: one raised alarm.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AlarmMember {
    /// `memberID = 1`.
    #[prost(uint64, tag = "1")]
    pub member_id: u64,
    /// `alarm = 2`: an [`AlarmType`].
    #[prost(enumeration = "AlarmType", tag = "2")]
    pub alarm: i32,
}

/// `etcdserverpb.AlarmResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AlarmResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `alarms = 2`.
    #[prost(message, repeated, tag = "2")]
    pub alarms: Vec<AlarmMember>,
}

/// `etcdserverpb.StatusRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StatusRequest {}

/// `etcdserverpb.StatusResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StatusResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `version = 2`: the member's server version, such as `"3.5.0"`.
    #[prost(string, tag = "2")]
    pub version: String,
    /// `dbSize = 3`: bytes allocated by the backend.
    #[prost(int64, tag = "3")]
    pub db_size: i64,
    /// `leader = 4`: the leader's member id as this member sees it.
    #[prost(uint64, tag = "4")]
    pub leader: u64,
    /// `raftIndex = 5`: committed index.
    #[prost(uint64, tag = "5")]
    pub raft_index: u64,
    /// `raftTerm = 6`.
    #[prost(uint64, tag = "6")]
    pub raft_term: u64,
    /// `raftAppliedIndex = 7`.
    #[prost(uint64, tag = "7")]
    pub raft_applied_index: u64,
    /// `errors = 8`: alarms and health problems.
    #[prost(string, repeated, tag = "8")]
    pub errors: Vec<String>,
    /// `dbSizeInUse = 9`: bytes logically in use.
    #[prost(int64, tag = "9")]
    pub db_size_in_use: i64,
    /// `isLearner = 10`.
    #[prost(bool, tag = "10")]
    pub is_learner: bool,
    /// `storageVersion = 11` (etcd 3.6; left empty for a 3.5 look).
    #[prost(string, tag = "11")]
    pub storage_version: String,
    /// `dbSizeQuota = 12` (etcd 3.6).
    #[prost(int64, tag = "12")]
    pub db_size_quota: i64,
    /// `downgradeInfo = 13` (etcd 3.6).
    #[prost(message, optional, tag = "13")]
    pub downgrade_info: Option<DowngradeInfo>,
}

/// `etcdserverpb.DowngradeInfo` (etcd 3.6, used by [`StatusResponse`]).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DowngradeInfo {
    /// `enabled = 1`.
    #[prost(bool, tag = "1")]
    pub enabled: bool,
    /// `targetVersion = 2`.
    #[prost(string, tag = "2")]
    pub target_version: String,
}

/// `etcdserverpb.DefragmentRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DefragmentRequest {}

/// `etcdserverpb.DefragmentResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DefragmentResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.HashRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct HashRequest {}

/// `etcdserverpb.HashResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct HashResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `hash = 2`: a `uint32` (a JSON number, unlike the 64-bit fields).
    #[prost(uint32, tag = "2")]
    pub hash: u32,
}

/// `etcdserverpb.HashKVRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct HashKVRequest {
    /// `revision = 1`: hash up to this revision; 0 for the newest.
    #[prost(int64, tag = "1")]
    pub revision: i64,
}

/// `etcdserverpb.HashKVResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct HashKVResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `hash = 2`.
    #[prost(uint32, tag = "2")]
    pub hash: u32,
    /// `compact_revision = 3`.
    #[prost(int64, tag = "3")]
    pub compact_revision: i64,
    /// `hash_revision = 4` (etcd 3.6).
    #[prost(int64, tag = "4")]
    pub hash_revision: i64,
}

/// `etcdserverpb.SnapshotRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SnapshotRequest {}

/// `etcdserverpb.SnapshotResponse`: one chunk of the streamed backend snapshot.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SnapshotResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `remaining_bytes = 2`: blob bytes still to come after this chunk.
    #[prost(uint64, tag = "2")]
    pub remaining_bytes: u64,
    /// `blob = 3`.
    #[prost(bytes = "vec", tag = "3")]
    pub blob: Vec<u8>,
    /// `version = 4` (etcd 3.6): server version that made the snapshot.
    #[prost(string, tag = "4")]
    pub version: String,
}

/// `etcdserverpb.MoveLeaderRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MoveLeaderRequest {
    /// `targetID = 1`.
    #[prost(uint64, tag = "1")]
    pub target_id: u64,
}

/// `etcdserverpb.MoveLeaderResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MoveLeaderResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.DowngradeRequest` (etcd 3.5+).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DowngradeRequest {
    /// `action = 1`: a [`downgrade_request::DowngradeAction`].
    #[prost(enumeration = "downgrade_request::DowngradeAction", tag = "1")]
    pub action: i32,
    /// `version = 2`: the target version.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// Types nested in `etcdserverpb.DowngradeRequest`.
pub mod downgrade_request {
    /// `DowngradeRequest.DowngradeAction`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum DowngradeAction {
        /// `VALIDATE = 0`.
        Validate = 0,
        /// `ENABLE = 1`.
        Enable = 1,
        /// `CANCEL = 2`.
        Cancel = 2,
    }
}

/// `etcdserverpb.DowngradeResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DowngradeResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `version = 2`: the current cluster version.
    #[prost(string, tag = "2")]
    pub version: String,
}
