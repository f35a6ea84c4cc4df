//! Starting a new cluster from a copied state machine, as `etcdutl snapshot restore` does: the
//! keys, leases, auth and alarms of the snapshot stay; its membership, Raft state and applied
//! point go, and the new founders are then bootstrapped on top by [`Node::new`](super::Node::new)
//! with [`InitialCluster::New`](super::InitialCluster::New).

use crate::backend::{Backend, Table, WriteBatch};
use crate::ids::LogIndex;
use crate::raft;

use super::{state, NodeError};

/// True when `backend` holds what a member that has run leaves: Raft state, log entries or an
/// applied point. A store without it (new, or restored from a snapshot) is bootstrapped from
/// the initial cluster when the member starts.
///
/// # Errors
/// Records that do not decode.
pub fn has_member_state(backend: &dyn Backend) -> Result<bool, NodeError> {
    let log =
        raft::storage::recover(backend).map_err(|e| NodeError::Corrupt(alloc::format!("{e:?}")))?;
    let point = state::load_point(backend).map_err(|e| NodeError::Corrupt(e.0))?;
    Ok(log.hard_state != Default::default()
        || !log.entries.is_empty()
        || log.snapshot.is_some()
        || point.index > LogIndex::ZERO)
}

/// The writes that turn a restored state machine into the start of a new cluster: every
/// member record, the Raft log and state, and the applied point and configuration deleted.
#[must_use]
pub fn reset_for_new_cluster() -> WriteBatch {
    let mut batch = WriteBatch::default();
    for table in [Table::Members, Table::RaftLog, Table::RaftState, Table::SnapshotStaging] {
        batch.delete_range(table, alloc::vec::Vec::new(), None);
    }
    for key in state::NODE_KEYS {
        batch.delete(Table::Meta, key.to_vec());
    }
    batch
}
