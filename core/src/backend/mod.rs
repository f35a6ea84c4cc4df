//! What a member persists, as ordered byte tables, and how the core reads it back.
//!
//! The core never writes to storage itself: it emits [`WriteBatch`]es inside `Persist` outputs and
//! the runtime applies each batch atomically (one transaction, one fsync). The core reads what is
//! already durable through the narrow [`Backend`] trait, and what it wrote but the runtime has not
//! yet confirmed through an [`Overlay`] kept in memory until the confirmation arrives.
//!
//! Every storage implementation (the in-memory [`MemBackend`] here, LMDB in `oxcd-storage-lmdb`)
//! passes the same conformance suite in `crate::testing::backend_conformance`.

mod memory;
mod overlay;

pub use memory::MemBackend;
pub use overlay::Overlay;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::ops::ControlFlow;

/// The tables of a member's storage. Each is an ordered map from byte keys to byte values; the
/// core owns the encoding of keys and values (see `crate::codec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Raft log entries, keyed by big-endian index.
    RaftLog,
    /// Raft's hard state, snapshot metadata and the member's identity.
    RaftState,
    /// MVCC key-value revisions, keyed by revision (etcd's "key" bucket).
    Kv,
    /// Leases (etcd's "lease" bucket).
    Lease,
    /// Users, roles and the auth switch (etcd's "auth*" buckets).
    Auth,
    /// Cluster members (etcd's "members" bucket).
    Members,
    /// State-machine metadata: applied index, compaction marks, alarms (etcd's "meta").
    Meta,
    /// Records of a snapshot being received, not yet installed.
    SnapshotStaging,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 8] = [
        Table::RaftLog,
        Table::RaftState,
        Table::Kv,
        Table::Lease,
        Table::Auth,
        Table::Members,
        Table::Meta,
        Table::SnapshotStaging,
    ];

    /// The tables that make up the replicated state machine: what a Raft snapshot carries and
    /// what installing one replaces.
    pub const STATE_MACHINE: [Table; 5] =
        [Table::Kv, Table::Lease, Table::Auth, Table::Members, Table::Meta];

    /// A stable name, used as the table's name in storage engines.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Table::RaftLog => "raft_log",
            Table::RaftState => "raft_state",
            Table::Kv => "kv",
            Table::Lease => "lease",
            Table::Auth => "auth",
            Table::Members => "members",
            Table::Meta => "meta",
            Table::SnapshotStaging => "snapshot_staging",
        }
    }

    /// A stable one-byte tag, used when records of several tables share one stream.
    #[must_use]
    pub const fn tag(self) -> u8 {
        match self {
            Table::RaftLog => 1,
            Table::RaftState => 2,
            Table::Kv => 3,
            Table::Lease => 4,
            Table::Auth => 5,
            Table::Members => 6,
            Table::Meta => 7,
            Table::SnapshotStaging => 8,
        }
    }

    /// The table with this [`Table::tag`].
    #[must_use]
    pub fn from_tag(tag: u8) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.tag() == tag)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One change to storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Set `key` to `value` in `table`.
    Put {
        /// The table written.
        table: Table,
        /// The key.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove `key` from `table` (a missing key is not an error).
    Delete {
        /// The table written.
        table: Table,
        /// The key.
        key: Vec<u8>,
    },
    /// Remove every key in `[from, to)` from `table`; `to: None` means to the end.
    DeleteRange {
        /// The table written.
        table: Table,
        /// First key removed.
        from: Vec<u8>,
        /// First key kept, or the end of the table.
        to: Option<Vec<u8>>,
    },
    /// Replace the contents of every [`Table::STATE_MACHINE`] table with the records staged in
    /// [`Table::SnapshotStaging`] (each staged key is a table tag byte followed by the record's
    /// key), then empty the staging table. Atomic with the rest of its batch.
    InstallStagedSnapshot,
}

/// Changes applied atomically and durably, in order, by one storage transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The changes, applied in this order.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// True when the batch changes nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Appends a put.
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(WriteOp::Put { table, key, value });
    }

    /// Appends a delete.
    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.ops.push(WriteOp::Delete { table, key });
    }

    /// Appends a range delete.
    pub fn delete_range(&mut self, table: Table, from: Vec<u8>, to: Option<Vec<u8>>) {
        self.ops.push(WriteOp::DeleteRange { table, from, to });
    }

    /// Moves every op of `other` to the end of this batch.
    pub fn append(&mut self, other: &mut WriteBatch) {
        self.ops.append(&mut other.ops);
    }

    /// Approximate bytes this batch writes, for batching limits.
    #[must_use]
    pub fn size_bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { key, value, .. } => key.len() + value.len(),
                WriteOp::Delete { key, .. } => key.len(),
                WriteOp::DeleteRange { from, to, .. } => {
                    from.len() + to.as_ref().map_or(0, Vec::len)
                }
                WriteOp::InstallStagedSnapshot => 0,
            })
            .sum()
    }
}

/// A scan's callback: gets each record's key and value, breaks to stop the scan.
pub type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> ControlFlow<()> + 'a;

/// Read access to what storage holds durably. Implementations see every batch the runtime has
/// applied, and nothing else.
pub trait Backend {
    /// The value of `key` in `table`.
    fn get(&self, table: Table, key: &[u8]) -> Option<Vec<u8>>;

    /// Visits the records of `table` with keys in `[from, to)` (`to: None`: to the end), in key
    /// order, until `visit` breaks.
    fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, visit: &mut Visit<'_>);

    /// A consistent, frozen view of the current contents: later batches do not change it. Used
    /// to stream Raft snapshots while writes go on.
    fn view(&self) -> Box<dyn Backend>;
}

/// Durable writes: what a runtime's storage does with the batches the core emits.
pub trait BackendWriter {
    /// The error a failed write reports.
    type Error: fmt::Debug;

    /// Applies `batch` atomically and durably: after `Ok`, a crash keeps all of it; after `Err`
    /// or a crash during the call, none of it.
    ///
    /// # Errors
    /// When the storage cannot apply the batch (out of space, IO failure).
    fn write(&mut self, batch: &WriteBatch) -> Result<(), Self::Error>;
}
