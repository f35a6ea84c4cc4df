//! The `Watch` service's messages.

use alloc::string::String;
use alloc::vec::Vec;

use super::ResponseHeader;
use crate::mvccpb::Event;

/// `etcdserverpb.WatchRequest`: one message of the client's watch stream.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct WatchRequest {
    /// `oneof request_union`.
    #[prost(oneof = "watch_request::RequestUnion", tags = "1, 2, 3")]
    pub request_union: Option<watch_request::RequestUnion>,
}

/// Types nested in `etcdserverpb.WatchRequest`.
pub mod watch_request {
    /// `WatchRequest.request_union`.
    #[derive(Clone, PartialEq, Eq, prost::Oneof)]
    pub enum RequestUnion {
        /// `create_request = 1`.
        #[prost(message, tag = "1")]
        CreateRequest(super::WatchCreateRequest),
        /// `cancel_request = 2`.
        #[prost(message, tag = "2")]
        CancelRequest(super::WatchCancelRequest),
        /// `progress_request = 3` (etcd 3.4+).
        #[prost(message, tag = "3")]
        ProgressRequest(super::WatchProgressRequest),
    }
}

/// `etcdserverpb.WatchCreateRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct WatchCreateRequest {
    /// `key = 1`.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// `range_end = 2`.
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    /// `start_revision = 3`: inclusive; 0 for "from now".
    #[prost(int64, tag = "3")]
    pub start_revision: i64,
    /// `progress_notify = 4`: send empty responses while idle.
    #[prost(bool, tag = "4")]
    pub progress_notify: bool,
    /// `filters = 5`: [`watch_create_request::FilterType`] values (packed on the wire).
    #[prost(enumeration = "watch_create_request::FilterType", repeated, tag = "5")]
    pub filters: Vec<i32>,
    /// `prev_kv = 6`.
    #[prost(bool, tag = "6")]
    pub prev_kv: bool,
    /// `watch_id = 7`: client-chosen id, 0 to let the server choose.
    #[prost(int64, tag = "7")]
    pub watch_id: i64,
    /// `fragment = 8`: allow splitting large revisions over several responses.
    #[prost(bool, tag = "8")]
    pub fragment: bool,
}

/// Types nested in `etcdserverpb.WatchCreateRequest`.
pub mod watch_create_request {
    /// `WatchCreateRequest.FilterType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum FilterType {
        /// `NOPUT = 0`: drop put events.
        Noput = 0,
        /// `NODELETE = 1`: drop delete events.
        Nodelete = 1,
    }
}

/// `etcdserverpb.WatchCancelRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct WatchCancelRequest {
    /// `watch_id = 1`.
    #[prost(int64, tag = "1")]
    pub watch_id: i64,
}

/// `etcdserverpb.WatchProgressRequest`: asks for a progress notification now.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct WatchProgressRequest {}

/// `etcdserverpb.WatchResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct WatchResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `watch_id = 2`.
    #[prost(int64, tag = "2")]
    pub watch_id: i64,
    /// `created = 3`.
    #[prost(bool, tag = "3")]
    pub created: bool,
    /// `canceled = 4`.
    #[prost(bool, tag = "4")]
    pub canceled: bool,
    /// `compact_revision = 5`: set when the start revision was compacted.
    #[prost(int64, tag = "5")]
    pub compact_revision: i64,
    /// `cancel_reason = 6`.
    #[prost(string, tag = "6")]
    pub cancel_reason: String,
    /// `fragment = 7`: more fragments of this revision follow.
    #[prost(bool, tag = "7")]
    pub fragment: bool,
    /// `events = 11`.
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<Event>,
}
