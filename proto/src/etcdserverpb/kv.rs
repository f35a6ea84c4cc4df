//! The `KV` service's messages: range, put, delete-range, txn and compaction.

use alloc::vec::Vec;

use super::ResponseHeader;
use crate::mvccpb::KeyValue;

/// `etcdserverpb.RangeRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RangeRequest {
    /// `key = 1`: first key of the range, or the only key when `range_end` is empty.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// `range_end = 2`: exclusive end; `"\0"` means every key `>= key`.
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    /// `limit = 3`: 0 for no limit.
    #[prost(int64, tag = "3")]
    pub limit: i64,
    /// `revision = 4`: read at this revision; `<= 0` for the newest.
    #[prost(int64, tag = "4")]
    pub revision: i64,
    /// `sort_order = 5`: a [`range_request::SortOrder`].
    #[prost(enumeration = "range_request::SortOrder", tag = "5")]
    pub sort_order: i32,
    /// `sort_target = 6`: a [`range_request::SortTarget`].
    #[prost(enumeration = "range_request::SortTarget", tag = "6")]
    pub sort_target: i32,
    /// `serializable = 7`: serve from the local member without a read index.
    #[prost(bool, tag = "7")]
    pub serializable: bool,
    /// `keys_only = 8`.
    #[prost(bool, tag = "8")]
    pub keys_only: bool,
    /// `count_only = 9`.
    #[prost(bool, tag = "9")]
    pub count_only: bool,
    /// `min_mod_revision = 10`.
    #[prost(int64, tag = "10")]
    pub min_mod_revision: i64,
    /// `max_mod_revision = 11`.
    #[prost(int64, tag = "11")]
    pub max_mod_revision: i64,
    /// `min_create_revision = 12`.
    #[prost(int64, tag = "12")]
    pub min_create_revision: i64,
    /// `max_create_revision = 13`.
    #[prost(int64, tag = "13")]
    pub max_create_revision: i64,
}

/// Types nested in `etcdserverpb.RangeRequest`.
pub mod range_request {
    /// `RangeRequest.SortOrder`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum SortOrder {
        /// `NONE = 0`.
        None = 0,
        /// `ASCEND = 1`.
        Ascend = 1,
        /// `DESCEND = 2`.
        Descend = 2,
    }

    /// `RangeRequest.SortTarget`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum SortTarget {
        /// `KEY = 0`.
        Key = 0,
        /// `VERSION = 1`.
        Version = 1,
        /// `CREATE = 2`.
        Create = 2,
        /// `MOD = 3`.
        Mod = 3,
        /// `VALUE = 4`.
        Value = 4,
    }
}

/// `etcdserverpb.RangeResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RangeResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `kvs = 2`.
    #[prost(message, repeated, tag = "2")]
    pub kvs: Vec<KeyValue>,
    /// `more = 3`: more keys matched than `limit` allowed.
    #[prost(bool, tag = "3")]
    pub more: bool,
    /// `count = 4`: keys in the range, regardless of limit.
    #[prost(int64, tag = "4")]
    pub count: i64,
}

/// `etcdserverpb.PutRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PutRequest {
    /// `key = 1`.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// `value = 2`.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
    /// `lease = 3`: lease to attach, 0 for none.
    #[prost(int64, tag = "3")]
    pub lease: i64,
    /// `prev_kv = 4`: return the previous pair.
    #[prost(bool, tag = "4")]
    pub prev_kv: bool,
    /// `ignore_value = 5`: keep the current value (the key must exist).
    #[prost(bool, tag = "5")]
    pub ignore_value: bool,
    /// `ignore_lease = 6`: keep the current lease (the key must exist).
    #[prost(bool, tag = "6")]
    pub ignore_lease: bool,
}

/// `etcdserverpb.PutResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PutResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `prev_kv = 2`.
    #[prost(message, optional, tag = "2")]
    pub prev_kv: Option<KeyValue>,
}

/// `etcdserverpb.DeleteRangeRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DeleteRangeRequest {
    /// `key = 1`.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// `range_end = 2`.
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    /// `prev_kv = 3`.
    #[prost(bool, tag = "3")]
    pub prev_kv: bool,
}

/// `etcdserverpb.DeleteRangeResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DeleteRangeResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `deleted = 2`: number of keys deleted.
    #[prost(int64, tag = "2")]
    pub deleted: i64,
    /// `prev_kvs = 3`.
    #[prost(message, repeated, tag = "3")]
    pub prev_kvs: Vec<KeyValue>,
}

/// `etcdserverpb.RequestOp`: one operation of a transaction branch.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RequestOp {
    /// `oneof request`.
    #[prost(oneof = "request_op::Request", tags = "1, 2, 3, 4")]
    pub request: Option<request_op::Request>,
}

/// Types nested in `etcdserverpb.RequestOp`.
pub mod request_op {
    /// `RequestOp.request`.
    #[derive(Clone, PartialEq, Eq, prost::Oneof)]
    pub enum Request {
        /// `request_range = 1`.
        #[prost(message, tag = "1")]
        RequestRange(super::RangeRequest),
        /// `request_put = 2`.
        #[prost(message, tag = "2")]
        RequestPut(super::PutRequest),
        /// `request_delete_range = 3`.
        #[prost(message, tag = "3")]
        RequestDeleteRange(super::DeleteRangeRequest),
        /// `request_txn = 4`: a nested transaction (etcd 3.3+).
        #[prost(message, tag = "4")]
        RequestTxn(super::TxnRequest),
    }
}

/// `etcdserverpb.ResponseOp`: the result of one [`RequestOp`].
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ResponseOp {
    /// `oneof response`.
    #[prost(oneof = "response_op::Response", tags = "1, 2, 3, 4")]
    pub response: Option<response_op::Response>,
}

/// Types nested in `etcdserverpb.ResponseOp`.
pub mod response_op {
    /// `ResponseOp.response`.
    #[derive(Clone, PartialEq, Eq, prost::Oneof)]
    pub enum Response {
        /// `response_range = 1`.
        #[prost(message, tag = "1")]
        ResponseRange(super::RangeResponse),
        /// `response_put = 2`.
        #[prost(message, tag = "2")]
        ResponsePut(super::PutResponse),
        /// `response_delete_range = 3`.
        #[prost(message, tag = "3")]
        ResponseDeleteRange(super::DeleteRangeResponse),
        /// `response_txn = 4`.
        #[prost(message, tag = "4")]
        ResponseTxn(super::TxnResponse),
    }
}

/// `etcdserverpb.Compare`: one guard of a transaction.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Compare {
    /// `result = 1`: a [`compare::CompareResult`].
    #[prost(enumeration = "compare::CompareResult", tag = "1")]
    pub result: i32,
    /// `target = 2`: a [`compare::CompareTarget`].
    #[prost(enumeration = "compare::CompareTarget", tag = "2")]
    pub target: i32,
    /// `key = 3`.
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
    /// `oneof target_union` (tags 4 to 8).
    #[prost(oneof = "compare::TargetUnion", tags = "4, 5, 6, 7, 8")]
    pub target_union: Option<compare::TargetUnion>,
    /// `range_end = 64`: compare every key in `[key, range_end)`.
    #[prost(bytes = "vec", tag = "64")]
    pub range_end: Vec<u8>,
}

/// Types nested in `etcdserverpb.Compare`.
pub mod compare {
    use alloc::vec::Vec;

    /// `Compare.CompareResult`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum CompareResult {
        /// `EQUAL = 0`.
        Equal = 0,
        /// `GREATER = 1`.
        Greater = 1,
        /// `LESS = 2`.
        Less = 2,
        /// `NOT_EQUAL = 3`.
        NotEqual = 3,
    }

    /// `Compare.CompareTarget`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum CompareTarget {
        /// `VERSION = 0`.
        Version = 0,
        /// `CREATE = 1`.
        Create = 1,
        /// `MOD = 2`.
        Mod = 2,
        /// `VALUE = 3`.
        Value = 3,
        /// `LEASE = 4`.
        Lease = 4,
    }

    /// `Compare.target_union`.
    #[derive(Clone, PartialEq, Eq, prost::Oneof)]
    pub enum TargetUnion {
        /// `version = 4`.
        #[prost(int64, tag = "4")]
        Version(i64),
        /// `create_revision = 5`.
        #[prost(int64, tag = "5")]
        CreateRevision(i64),
        /// `mod_revision = 6`.
        #[prost(int64, tag = "6")]
        ModRevision(i64),
        /// `value = 7`.
        #[prost(bytes = "vec", tag = "7")]
        Value(Vec<u8>),
        /// `lease = 8`.
        #[prost(int64, tag = "8")]
        Lease(i64),
    }
}

/// `etcdserverpb.TxnRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TxnRequest {
    /// `compare = 1`: all must hold for `success` to run.
    #[prost(message, repeated, tag = "1")]
    pub compare: Vec<Compare>,
    /// `success = 2`.
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
    /// `failure = 3`.
    #[prost(message, repeated, tag = "3")]
    pub failure: Vec<RequestOp>,
}

/// `etcdserverpb.TxnResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TxnResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `succeeded = 2`: whether the compares held.
    #[prost(bool, tag = "2")]
    pub succeeded: bool,
    /// `responses = 3`: one per operation of the branch that ran.
    #[prost(message, repeated, tag = "3")]
    pub responses: Vec<ResponseOp>,
}

/// `etcdserverpb.CompactionRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CompactionRequest {
    /// `revision = 1`.
    #[prost(int64, tag = "1")]
    pub revision: i64,
    /// `physical = 2`: reply only once the backend has dropped the compacted data.
    #[prost(bool, tag = "2")]
    pub physical: bool,
}

/// `etcdserverpb.CompactionResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CompactionResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}
