//! The multi-version key-value store: etcd's revision model, ranges, writes, transactions and
//! compaction, with values in the backend and only the key index in memory.
//!
//! The Node drives it through [`kv::KvStore`], which keeps the revisioned [`store::Store`],
//! the [`crate::lease::Lessor`] and the [`crate::watch::WatchHub`] consistent:
//!
//! 1. Before proposing a client request, run etcd's gRPC-layer checks:
//!    [`range::check_range_request`], [`txn::check_put_request`],
//!    [`txn::check_delete_range_request`], [`txn::check_txn_request`] (with the member's
//!    `--max-txn-ops`). Server-chosen lease ids come from [`crate::lease::choose_lease_id`].
//! 2. Apply committed entries with `KvStore::apply_put`, `apply_delete_range`, `apply_txn`,
//!    `apply_compaction`, `apply_lease_grant`, `apply_lease_revoke`,
//!    `apply_lease_checkpoint`, lending a [`StorageMut`] (the backend and the overlay); the
//!    overlay's writes go to the runtime in the Node's next batch.
//! 3. Serve reads with `KvStore::range` and `read_txn` (read-only transactions, see
//!    [`txn::is_txn_read_only`]) from a [`StorageRef`]; `hash_kv` for HashKV.
//! 4. Between inputs, bounded background work: `compaction_step(max_keys)` while
//!    `compaction_pending()`, `sync_watchers` while `watches().has_unsynced()`.
//! 5. Drain `poll_watch_output` after every change. On the leader, poll
//!    `lessor_mut().poll_expired` / `poll_checkpoints` and propose what they return; an
//!    [`auto_compact::AutoCompactor`] decides automatic compactions.
//!
//! Storage encoding (etcd's): Kv records are keyed by [`BucketKey`] (main revision, `_`, sub
//! revision, 8 bytes big-endian each, `t` for deletions) and hold the protobuf
//! `mvccpb.KeyValue`; the Meta table holds `scheduledCompactRev` and `finishedCompactRev`;
//! leases are `leasepb.Lease`-shaped records ([`crate::lease::LeaseRecord`]).

pub mod auto_compact;
pub mod crc32c;
pub mod hash;
pub mod key_index;
pub mod kv;
pub mod range;
pub mod revision;
pub mod storage;
pub mod store;
pub mod txn;

pub use auto_compact::{AutoCompactionMode, AutoCompactor};
pub use hash::KvHash;
pub use key_index::{KeyIndexTree, KeySpan};
pub use kv::{KvConfig, KvStore};
pub use revision::{BucketKey, KvRevision, Revision};
pub use storage::{StorageMut, StorageRef};
pub use store::{CompactionProgress, Store};

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod scenario_tests;
