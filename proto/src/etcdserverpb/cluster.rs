//! The `Cluster` service's messages: membership changes and listing.

use alloc::string::String;
use alloc::vec::Vec;

use super::ResponseHeader;

/// `etcdserverpb.Member`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Member {
    /// `ID = 1`.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// `name = 2`: empty until the member has started.
    #[prost(string, tag = "2")]
    pub name: String,
    /// `peerURLs = 3`.
    #[prost(string, repeated, tag = "3")]
    pub peer_urls: Vec<String>,
    /// `clientURLs = 4`: empty until the member has started.
    #[prost(string, repeated, tag = "4")]
    pub client_urls: Vec<String>,
    /// `isLearner = 5`.
    #[prost(bool, tag = "5")]
    pub is_learner: bool,
}

/// `etcdserverpb.MemberAddRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberAddRequest {
    /// `peerURLs = 1`.
    #[prost(string, repeated, tag = "1")]
    pub peer_urls: Vec<String>,
    /// `isLearner = 2`.
    #[prost(bool, tag = "2")]
    pub is_learner: bool,
}

/// `etcdserverpb.MemberAddResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberAddResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `member = 2`: the added member.
    #[prost(message, optional, tag = "2")]
    pub member: Option<Member>,
    /// `members = 3`: all members after the change.
    #[prost(message, repeated, tag = "3")]
    pub members: Vec<Member>,
}

/// `etcdserverpb.MemberRemoveRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberRemoveRequest {
    /// `ID = 1`.
    #[prost(uint64, tag = "1")]
    pub id: u64,
}

/// `etcdserverpb.MemberRemoveResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberRemoveResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `members = 2`.
    #[prost(message, repeated, tag = "2")]
    pub members: Vec<Member>,
}

/// `etcdserverpb.MemberUpdateRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberUpdateRequest {
    /// `ID = 1`.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// `peerURLs = 2`.
    #[prost(string, repeated, tag = "2")]
    pub peer_urls: Vec<String>,
}

/// `etcdserverpb.MemberUpdateResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberUpdateResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `members = 2`.
    #[prost(message, repeated, tag = "2")]
    pub members: Vec<Member>,
}

/// `etcdserverpb.MemberListRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberListRequest {
    /// `linearizable = 1` (etcd 3.5+).
    #[prost(bool, tag = "1")]
    pub linearizable: bool,
}

/// `etcdserverpb.MemberListResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberListResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `members = 2`.
    #[prost(message, repeated, tag = "2")]
    pub members: Vec<Member>,
}

/// `etcdserverpb.MemberPromoteRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberPromoteRequest {
    /// `ID = 1`.
    #[prost(uint64, tag = "1")]
    pub id: u64,
}

/// `etcdserverpb.MemberPromoteResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberPromoteResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `members = 2`.
    #[prost(message, repeated, tag = "2")]
    pub members: Vec<Member>,
}
