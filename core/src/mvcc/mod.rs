//! The multi-version key-value store: etcd's revision model, ranges, writes, transactions and
//! compaction, with values in the backend and only the key index in memory.

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

pub use key_index::{KeyIndexTree, KeySpan};
pub use revision::{BucketKey, KvRevision, Revision};
pub use storage::{StorageMut, StorageRef};
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod scenario_tests;
