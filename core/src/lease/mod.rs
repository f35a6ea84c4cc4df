//! Leases: time-limited grants that keys attach to, revoked (with their keys) when they
//! expire.
//!
//! - Grant, revoke and checkpoint are replicated: the Node proposes them and applies them
//!   through the key-value store on every member.
//! - Keep-alives (renewals), time-to-live and expiry detection happen on the leader only, from
//!   the `now` the Node passes in. The leader reports expired leases with
//!   [`Lessor::poll_expired`] and the Node proposes their revokes.
//! - Checkpoints (on by default, persisted): the leader periodically records each long lease's
//!   remaining TTL through Raft ([`Lessor::poll_checkpoints`]), so a new leader or a restarted
//!   cluster continues from there instead of from the full TTL.
//! - Server-chosen lease ids are picked by the Node before proposing, with
//!   [`choose_lease_id`], so every member applies the same id.

mod lessor;
mod record;
#[cfg(test)]
mod tests;

pub use lessor::{
    Checkpoint, LeaseTtl, Lessor, LessorConfig, LEASE_REVOKE_RATE, MAX_LEASE_TTL_SECS,
};
pub use record::{lease_key, LeaseRecord};

use crate::ids::LeaseId;
use crate::rng::Rng;

/// A fresh lease id for a grant that named none: positive and non-zero, as etcd's are.
/// Collisions with an existing lease make the grant fail with `LeaseExist`; the Node may then
/// retry with another id.
pub fn choose_lease_id(rng: &mut Rng) -> LeaseId {
    LeaseId(((rng.next_u64() >> 1) as i64).max(1))
}
