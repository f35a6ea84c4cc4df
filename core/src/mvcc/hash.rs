//! HashKV: a checksum of the key-value history up to a revision, for comparing members.
//!
//! Definition (etcd's, with one difference): CRC-32C over the bytes `"key"` (etcd's bucket
//! name), then, for every Kv record in revision order with main revision `<= rev`, its storage
//! key and value; records at or below the compacted revision count only if they hold a key
//! that is live at `rev` (what compaction keeps). etcd skips that filter when no key is live at
//! `rev`; oxcd always applies it, so the hash never depends on how far a running physical
//! compaction has got. With the same records, the value equals etcd's.

use super::crc32c::Crc32c;
use super::revision::{main_rev_lower_bound, BucketKey};
use super::storage::StorageRef;
use super::store::Store;
use crate::backend::Table;
use crate::error::ApiError;
use core::ops::ControlFlow;
use oxcd_proto::mvccpb::KeyValue;
use prost::Message;

/// A HashKV answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvHash {
    /// The checksum.
    pub hash: u32,
    /// The compacted revision the hash was taken with (-1 before any compaction).
    pub compact_revision: i64,
    /// The revision hashed up to.
    pub hash_revision: i64,
}

/// Hashes the history up to `rev` (`0`: the current revision).
///
/// # Errors
/// `Compacted` when `rev` is below the compacted revision, `FutureRev` above the current one.
///
/// # Panics
/// When a Kv record is corrupt.
pub fn hash_kv(store: &Store, storage: StorageRef<'_>, rev: i64) -> Result<KvHash, ApiError> {
    let compact = store.compact_revision();
    if rev > 0 && rev < compact {
        return Err(ApiError::Compacted);
    }
    if rev > store.current_revision() {
        return Err(ApiError::FutureRev);
    }
    let rev = if rev <= 0 { store.current_revision() } else { rev };
    let mut crc = Crc32c::new();
    crc.update(b"key");
    let upper = main_rev_lower_bound(rev.saturating_add(1));
    storage.scan(Table::Kv, &[], Some(&upper), &mut |k, v| {
        let Some(bucket) = BucketKey::decode(k) else { return ControlFlow::Continue(()) };
        if bucket.rev.main <= compact {
            if bucket.tombstone {
                return ControlFlow::Continue(());
            }
            let kv = KeyValue::decode(v)
                .unwrap_or_else(|e| panic!("mvcc: corrupt record at {}: {e}", bucket.rev));
            if store.index().get(&kv.key, rev) != Some(bucket.rev) {
                return ControlFlow::Continue(());
            }
        }
        crc.update(k);
        crc.update(v);
        ControlFlow::Continue(())
    });
    Ok(KvHash { hash: crc.finish(), compact_revision: compact, hash_revision: rev })
}
