//! Raft, as a pure state machine (the equivalent of etcd-io/raft's `RawNode`).
//!
//! [`Raft`] holds one member's Raft state: term, vote, the uncompacted log in memory, the
//! configuration in force and, on the leader, every follower's progress. It reads no clock
//! (time is [`Raft::tick`]), no random source (election timeouts come from a generator seeded
//! by [`RaftConfig::seed`]) and does no IO: everything it wants done comes out of
//! [`Raft::poll_output`] as a [`RaftOutput`].
//!
//! # The driver loop
//!
//! 1. Build it: [`Raft::new`] with what [`storage::recover`] and the state machine read back
//!    (a member joining an existing cluster passes an empty [`RaftRecovered`]), or
//!    [`Raft::bootstrap`] for a founding member of a new cluster.
//! 2. Feed it one input: [`Raft::tick`] every tick (the Node converts elapsed time into ticks),
//!    [`Raft::step`] for each message from a peer, a command ([`Raft::propose_batch`],
//!    [`Raft::read_index`], [`Raft::propose_conf_change`], [`Raft::transfer_leader`],
//!    [`Raft::campaign`], [`Raft::compact`]), or a completion ([`Raft::handle_persisted`],
//!    [`Raft::report_snapshot`], [`Raft::handle_snapshot`]).
//! 3. Drain [`Raft::poll_output`] until it returns `None`, *before* the next input (debug
//!    builds assert this; [`Raft::has_pending_output`] tells the same). The order is: messages
//!    and notifications, then one `Persist`, then one `Apply` batch.
//! 4. Carry the outputs out:
//!    - `Send(m)`: hand `m` to the transport now. The leader's appends go out before its own
//!      write: that is allowed.
//!    - `Persist(req)`: write `req` ([`storage::persist_ops`] into one [`WriteBatch`]) in `seq`
//!      order; after the fsync call [`Raft::handle_persisted`]`(req.seq)` and only then send
//!      `req.then_send` (vote grants and append acknowledgements travel there, so nothing is
//!      promised before it is durable). Consecutive requests may share one transaction and
//!      one fsync; confirm the highest `seq`.
//!    - `Apply(entries)`: apply them in order. For an entry of kind
//!      [`EntryKind::ConfChange`], decode it with [`ConfChange::decode`] and call
//!      [`Raft::apply_conf_change`] when reaching it (the new configuration takes effect
//!      there, on every member, leader included). Then call [`Raft::advance_applied`] with the
//!      last index; the next batch comes out after that. Both calls may be made while
//!      processing the batch without draining in between.
//!    - `ReadReady { ctx, index }`: serve read `ctx` once the state machine has applied
//!      `index`. `ReadFailed`: tell the client.
//!    - `SendSnapshot { to }`: stream a snapshot of the durable state machine to `to`, labelled
//!      with its applied index, [`Raft::term_at`] of it and the configuration as of it; call
//!      [`Raft::report_snapshot`] when done or failed. The receiving Node stages the chunks
//!      and then calls [`Raft::handle_snapshot`]; if that returns true, the next `Persist`
//!      carries `install_snapshot` and the Node installs the staged data in the same
//!      transaction (and drops any `Apply` batch it has not finished).
//!    - `RoleChanged`: update metrics and redirect clients.
//! 5. Call [`Raft::compact`] once the state machine up to some index is durable, to bound the
//!    log in memory and in storage.
//!
//! # Guarantees
//! Entries and hard state are relied on only once durable: the leader counts its own match
//! index from [`Raft::handle_persisted`], a candidate counts its own vote only once its term
//! and vote are durable, acknowledgements and grants leave only through `then_send`, and
//! `Apply` hands out only committed entries that are durable locally, each exactly once
//! (after a restart, from the durable applied index on).
//!
//! # Membership
//! A configuration change takes effect on each member when that member applies it (the Node
//! calls [`Raft::apply_conf_change`] as it reaches the entry), not when it is appended. The
//! leader accepts a change only when the previous one is applied and it has committed an entry
//! of its term. More than one voter changing at once goes through a joint configuration
//! (`voters_outgoing`); with `auto_leave` the leader proposes leaving it as soon as it has
//! applied it. Learners are replicated to, never counted and never campaign on their own.
//! A leader that applies its own removal (or demotion) accepts no more proposals, replicates
//! until a voter holds its whole log, sends that voter `TimeoutNow` and steps down.
//!
//! Because changes take effect on apply, a voter may still need the vote of a member that has
//! already applied its own removal or demotion — and that member may hold entries the voter
//! lacks, so it would refuse the vote forever. To avoid that deadlock, a non-voter that refuses a
//! vote *because its log is ahead* may campaign under its own configuration (never counting
//! itself); if it wins it only hands its log over as above. Safety is that of any candidate
//! using an applied configuration.
//!
//! # Entries and payloads
//! [`Entry::data`] is a [`Payload`] (`Arc<[u8]>`): the entry is cloned into appends, persist
//! requests and `Apply` batches without copying its bytes, so the steady state costs one
//! allocation per proposed entry.

mod confchange;
mod config;
mod election;
mod error;
mod leader;
mod log;
mod message;
mod output;
mod progress;
mod quorum;
mod raw;
mod read_only;
mod replication;
pub mod storage;
mod types;

#[cfg(test)]
mod tests;

pub use config::{RaftConfig, RaftConfigError, ReadOnlyMode};
pub use error::{
    CompactError, ConfChangeError, ProposeError, ReadFailure, StepError, TransferError,
};
pub use leader::Proposal;
pub use message::{Message, MessageBody};
pub use output::{PersistRequest, RaftOutput};
pub use progress::{Progress, ProgressState};
pub use raw::{Raft, RaftCounters, RaftRecovered};
pub use replication::SnapshotStatus;
pub use types::{
    ConfChange, ConfState, Entry, EntryKind, HardState, Payload, ReadId, Role, SingleChange,
    SnapshotMeta, Transition,
};

#[cfg(doc)]
use crate::backend::WriteBatch;

/// Computes the configuration a change leads to, without applying it (for validation by the
/// layer above).
///
/// # Errors
/// Why the change is not valid against `current`.
pub fn next_conf_state(current: &ConfState, cc: &ConfChange) -> Result<ConfState, ConfChangeError> {
    confchange::apply(current, cc)
}
