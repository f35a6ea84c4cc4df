//! One member slot of the simulated cluster: its process (a `Node`, absent while crashed), its
//! storage (a `MemBackend` that survives crashes) and its disk (a log whose unsynced tail does
//! not).

use crate::sim::disk::{Disk, DiskConfig};
use oxcd_core::backend::{MemBackend, WriteBatch};
use oxcd_core::ids::NodeId;
use oxcd_core::node::{InitialCluster, Node, NodeConfig, PeerMessage, PersistId};
use oxcd_core::time::Instant;
use std::collections::VecDeque;

/// A `Persist` on its way to the member's `MemBackend`.
pub(crate) type PendingWrite = (PersistId, WriteBatch);

/// Messages of a `Persist` not yet logged, waiting for it.
pub(crate) type Waiting = (PersistId, Vec<(NodeId, PeerMessage)>);

/// Where a member's process stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// Added to the cluster, process not started yet.
    NotStarted,
    /// The process runs.
    Running,
    /// The process crashed (or was stopped); storage survives.
    Crashed,
    /// Removed from the cluster; the process exited for good.
    Removed,
}

/// A member slot.
pub(crate) struct Slot {
    pub id: NodeId,
    /// Configuration of every run (the seed is redrawn per run).
    pub config: NodeConfig,
    /// How the member starts on empty storage.
    pub initial: InitialCluster,
    /// The store: what the disk stored, and what a restart replayed from its log.
    pub backend: MemBackend,
    pub disk: Disk<PendingWrite>,
    /// The `then_send` of persists not yet logged, oldest first.
    pub unlogged: VecDeque<Waiting>,
    /// An `Event::Stored` is scheduled for this run.
    pub store_scheduled: bool,
    /// Persists that install a snapshot, not yet stored, oldest first (see
    /// `SimConfig::confirm_installs_when_logged`).
    pub installs: VecDeque<PersistId>,
    pub node: Option<Node>,
    pub state: MemberState,
    /// Counts process runs; events addressed to an earlier run are dropped.
    pub incarnation: u64,
    /// The wake-up currently scheduled for this run.
    pub timer_at: Instant,
    /// Timer firings in a row at one instant (a `poll_timeout` that never moves on).
    pub timers_at_same_instant: u32,
    pub crashes: u64,
    /// When the slot was created (member lists read earlier do not know it).
    pub added_at: Instant,
    /// Crash right after the next `Persist` is handed to the disk (before it is durable).
    pub crash_on_persist: bool,
}

impl Slot {
    pub fn new(
        id: NodeId,
        config: NodeConfig,
        initial: InitialCluster,
        disk_seed: u64,
        disk: DiskConfig,
    ) -> Self {
        Slot {
            id,
            config,
            initial,
            backend: MemBackend::new(),
            disk: Disk::new(disk_seed, disk),
            unlogged: VecDeque::new(),
            store_scheduled: false,
            installs: VecDeque::new(),
            node: None,
            state: MemberState::NotStarted,
            incarnation: 0,
            timer_at: Instant::MAX,
            timers_at_same_instant: 0,
            crashes: 0,
            added_at: Instant::ZERO,
            crash_on_persist: false,
        }
    }

    pub fn is_running(&self) -> bool {
        self.state == MemberState::Running && self.node.is_some()
    }
}
