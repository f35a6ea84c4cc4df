//! Package `etcdserverpb`: the v3 API's requests and responses (etcd's `rpc.proto`) and the
//! internal Raft request (`raft_internal.proto`).
//!
//! Every message lives at the package root, as in etcd; types nested in a message live in the
//! snake-case module of that message (`range_request::SortOrder`, `request_op::Request`), as
//! prost-build would lay them out. Rust field names are snake case (`peerURLs` is `peer_urls`);
//! each field's doc gives the proto name and number.

mod auth;
mod cluster;
mod kv;
mod lease;
mod maintenance;
mod raft_internal;
#[cfg(test)]
mod tests;
mod watch;

pub use auth::*;
pub use cluster::*;
pub use kv::*;
pub use lease::*;
pub use maintenance::*;
pub use raft_internal::*;
pub use watch::*;

/// `etcdserverpb.ResponseHeader`: sent with every response.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ResponseHeader {
    /// `cluster_id = 1`.
    #[prost(uint64, tag = "1")]
    pub cluster_id: u64,
    /// `member_id = 2`: the responding member.
    #[prost(uint64, tag = "2")]
    pub member_id: u64,
    /// `revision = 3`: the store revision when the request was applied.
    #[prost(int64, tag = "3")]
    pub revision: i64,
    /// `raft_term = 4`.
    #[prost(uint64, tag = "4")]
    pub raft_term: u64,
}
