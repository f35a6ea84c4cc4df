//! How a lease is stored: etcd's `leasepb.Lease` (ID = 1, TTL = 2, RemainingTTL = 3) as
//! protobuf, keyed by the id as 8 bytes big-endian in [`Table::Lease`](crate::backend::Table).

use crate::ids::LeaseId;
use alloc::vec::Vec;
use prost::Message;

/// One stored lease.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LeaseRecord {
    /// The lease id.
    #[prost(int64, tag = "1")]
    pub id: i64,
    /// The granted TTL in seconds (after the minimum was applied).
    #[prost(int64, tag = "2")]
    pub ttl: i64,
    /// The remaining TTL in seconds recorded by the last checkpoint; 0 for none.
    #[prost(int64, tag = "3")]
    pub remaining_ttl: i64,
}

impl LeaseRecord {
    /// The protobuf bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// Decodes stored bytes; `None` when they are not a lease record.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        LeaseRecord::decode(bytes).ok()
    }
}

/// The storage key of lease `id`.
#[must_use]
pub fn lease_key(id: LeaseId) -> Vec<u8> {
    (id.0 as u64).to_be_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_keys_sort_by_id() {
        let r = LeaseRecord { id: 7, ttl: 60, remaining_ttl: 12 };
        assert_eq!(LeaseRecord::from_bytes(&r.to_bytes()), Some(r));
        // Field numbers as leasepb: 0x08 id, 0x10 ttl, 0x18 remaining.
        assert_eq!(
            LeaseRecord { id: 1, ttl: 2, remaining_ttl: 3 }.to_bytes(),
            [8, 1, 16, 2, 24, 3]
        );
        assert!(lease_key(LeaseId(1)) < lease_key(LeaseId(256)));
        assert_eq!(lease_key(LeaseId(1)), [0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
