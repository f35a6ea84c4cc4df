//! The wire and the core: gRPC methods to `oxcd_core::node::Request`s and their answers back
//! ([`grpc`]), the HTTP endpoints and the JSON gateway's paths ([`http`]), and `/metrics`
//! ([`metrics`]), and etcd v2's keys API ([`v2`]). Pure mapping: the driver does the IO.

pub mod grpc;
pub mod http;
pub mod metrics;
pub mod v2;

pub use grpc::{
    api_status, decode_unary, encode_response, method_of, stream_kind, StreamKind, UnaryCall,
};
pub use http::{route, HealthQuery, HttpRoute};
