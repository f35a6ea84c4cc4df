//! The `Lease` service's messages, and the lease checkpoint replicated through Raft.

use alloc::string::String;
use alloc::vec::Vec;

use super::ResponseHeader;

/// `etcdserverpb.LeaseGrantRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseGrantRequest {
    /// `TTL = 1`: advisory time to live in seconds.
    #[prost(int64, tag = "1")]
    pub ttl: i64,
    /// `ID = 2`: requested id, 0 to let the server choose.
    #[prost(int64, tag = "2")]
    pub id: i64,
}

/// `etcdserverpb.LeaseGrantResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseGrantResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `ID = 2`.
    #[prost(int64, tag = "2")]
    pub id: i64,
    /// `TTL = 3`: the server-chosen time to live in seconds.
    #[prost(int64, tag = "3")]
    pub ttl: i64,
    /// `error = 4`.
    #[prost(string, tag = "4")]
    pub error: String,
}

/// `etcdserverpb.LeaseRevokeRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseRevokeRequest {
    /// `ID = 1`.
    #[prost(int64, tag = "1")]
    pub id: i64,
}

/// `etcdserverpb.LeaseRevokeResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseRevokeResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.LeaseCheckpoint`: a lease's remaining time, persisted so a new leader keeps it.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseCheckpoint {
    /// `ID = 1`.
    #[prost(int64, tag = "1")]
    pub id: i64,
    /// `remaining_TTL = 2`: seconds until expiry.
    #[prost(int64, tag = "2")]
    pub remaining_ttl: i64,
}

/// `etcdserverpb.LeaseCheckpointRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseCheckpointRequest {
    /// `checkpoints = 1`.
    #[prost(message, repeated, tag = "1")]
    pub checkpoints: Vec<LeaseCheckpoint>,
}

/// `etcdserverpb.LeaseCheckpointResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseCheckpointResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.LeaseKeepAliveRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseKeepAliveRequest {
    /// `ID = 1`.
    #[prost(int64, tag = "1")]
    pub id: i64,
}

/// `etcdserverpb.LeaseKeepAliveResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseKeepAliveResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `ID = 2`.
    #[prost(int64, tag = "2")]
    pub id: i64,
    /// `TTL = 3`: the renewed time to live; 0 or less when the lease is gone.
    #[prost(int64, tag = "3")]
    pub ttl: i64,
}

/// `etcdserverpb.LeaseTimeToLiveRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseTimeToLiveRequest {
    /// `ID = 1`.
    #[prost(int64, tag = "1")]
    pub id: i64,
    /// `keys = 2`: also list the attached keys.
    #[prost(bool, tag = "2")]
    pub keys: bool,
}

/// `etcdserverpb.LeaseTimeToLiveResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseTimeToLiveResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `ID = 2`.
    #[prost(int64, tag = "2")]
    pub id: i64,
    /// `TTL = 3`: remaining seconds; -1 when the lease does not exist.
    #[prost(int64, tag = "3")]
    pub ttl: i64,
    /// `grantedTTL = 4`.
    #[prost(int64, tag = "4")]
    pub granted_ttl: i64,
    /// `keys = 5`.
    #[prost(bytes = "vec", repeated, tag = "5")]
    pub keys: Vec<Vec<u8>>,
}

/// `etcdserverpb.LeaseLeasesRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseLeasesRequest {}

/// `etcdserverpb.LeaseStatus`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseStatus {
    /// `ID = 1`.
    #[prost(int64, tag = "1")]
    pub id: i64,
}

/// `etcdserverpb.LeaseLeasesResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseLeasesResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `leases = 2`.
    #[prost(message, repeated, tag = "2")]
    pub leases: Vec<LeaseStatus>,
}
