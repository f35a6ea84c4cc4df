//! oxcd-core: the member as a state machine.
//!
//! Raft, the MVCC key-value store, watches, leases, auth, membership and the certificate identity
//! rules, with no IO at all: the driver passes inputs in (`handle_*`, each with `now`), drains
//! outputs (`poll_output`) after every change, and sleeps until `poll_timeout`. Time and the seed
//! of the random generator are inputs, so the same inputs give the same outputs byte for byte.
//!
//! `#![no_std]` + `alloc`; no clock, random source, socket, file or thread is reachable from here.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod auth;
pub mod backend;
pub mod codec;
pub mod error;
pub mod identity;
pub mod ids;
pub mod lease;
pub mod membership;
pub mod mvcc;
pub mod node;
pub mod raft;
pub mod rng;
pub mod testing;
pub mod time;
pub mod v2store;
pub mod watch;

pub use error::{ApiError, GrpcCode};
pub use ids::{LeaseId, LogIndex, NodeId, Term};
pub use time::Instant;

/// How a runtime drives the core: the loop, time, storage ordering, and a runnable example.
#[doc = include_str!("../../docs/driving-the-core.md")]
pub mod guide {}
