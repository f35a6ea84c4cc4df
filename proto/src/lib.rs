//! oxcd-proto: etcd's v3 wire messages and the codecs around them. Bytes in, values out; no IO.
//!
//! - [`mvccpb`], [`authpb`], [`membershippb`], [`etcdserverpb`]: etcd's protobuf messages as
//!   hand-written prost structs with etcd's package names, message names and field numbers.
//! - [`service`]: the gRPC method table (paths, streaming kinds, message types).
//! - [`grpc`]: gRPC message framing, status codes and metadata helpers.
//! - [`json`] (feature `json`): etcd's grpc-gateway JSON mapping for `/v3/*`.
//! - [`peer`]: the oxcd peer protocol: handshake and length-prefixed bincode frames.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod authpb;
pub mod etcdserverpb;
pub mod grpc;
#[cfg(feature = "json")]
pub mod json;
pub mod membershippb;
pub mod mvccpb;
pub mod peer;
pub mod service;

pub use prost::Message;
