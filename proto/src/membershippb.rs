//! Package `membershippb`: the membership requests etcd 3.5 replicates through Raft
//! (`api/membershippb/membership.proto`), carried inside `InternalRaftRequest`.

use alloc::string::String;
use alloc::vec::Vec;

/// `membershippb.RaftAttributes`: what Raft needs to know of a member.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RaftAttributes {
    /// `peer_urls = 1`.
    #[prost(string, repeated, tag = "1")]
    pub peer_urls: Vec<String>,
    /// `is_learner = 2`.
    #[prost(bool, tag = "2")]
    pub is_learner: bool,
}

/// `membershippb.Attributes`: the member attributes Raft does not use.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Attributes {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `client_urls = 2`.
    #[prost(string, repeated, tag = "2")]
    pub client_urls: Vec<String>,
}

/// `membershippb.Member`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Member {
    /// `ID = 1`.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// `raft_attributes = 2`.
    #[prost(message, optional, tag = "2")]
    pub raft_attributes: Option<RaftAttributes>,
    /// `member_attributes = 3`.
    #[prost(message, optional, tag = "3")]
    pub member_attributes: Option<Attributes>,
}

/// `membershippb.ClusterVersionSetRequest`: sets the cluster version.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ClusterVersionSetRequest {
    /// `ver = 1`: for example `"3.5.0"`.
    #[prost(string, tag = "1")]
    pub ver: String,
}

/// `membershippb.ClusterMemberAttrSetRequest`: publishes a member's name and client URLs.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ClusterMemberAttrSetRequest {
    /// `member_ID = 1`.
    #[prost(uint64, tag = "1")]
    pub member_id: u64,
    /// `member_attributes = 2`.
    #[prost(message, optional, tag = "2")]
    pub member_attributes: Option<Attributes>,
}

/// `membershippb.DowngradeInfoSetRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DowngradeInfoSetRequest {
    /// `enabled = 1`.
    #[prost(bool, tag = "1")]
    pub enabled: bool,
    /// `ver = 2`: the target version.
    #[prost(string, tag = "2")]
    pub ver: String,
}
