//! What Raft asks its driver to do, and how the `Persist` requests are assembled and confirmed.

use super::error::ReadFailure;
use super::message::Message;
use super::raw::Raft;
use super::types::{Entry, HardState, ReadId, Role, SnapshotMeta};
use crate::ids::{LogIndex, NodeId, Term};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

/// One effect for the driver to carry out. Drain them with `Raft::poll_output` after every call.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RaftOutput {
    /// Send this message; it does not depend on local persistence and may leave at once.
    Send(Message),
    /// Write this to storage atomically and durably, then call `Raft::handle_persisted(seq)`
    /// and send `then_send`. Requests must be written in `seq` order.
    Persist(PersistRequest),
    /// Apply these committed entries to the state machine, in order (each index exactly once,
    /// also across restarts from the durable applied index); then call
    /// `Raft::advance_applied` (and `Raft::apply_conf_change` for configuration changes, in log
    /// order). The next batch comes after `advance_applied` reaches the end of this one.
    Apply(Vec<Entry>),
    /// The read `ctx` is linearizable once the state machine has applied `index`.
    ReadReady {
        /// The caller's identifier.
        ctx: ReadId,
        /// The index to wait for.
        index: LogIndex,
    },
    /// The read `ctx` could not be confirmed; the caller may retry.
    ReadFailed {
        /// The caller's identifier.
        ctx: ReadId,
        /// Why.
        reason: ReadFailure,
    },
    /// Stream a state-machine snapshot to `to` (its log is behind the compaction point), then
    /// report the outcome with `Raft::report_snapshot`.
    SendSnapshot {
        /// The member to catch up.
        to: NodeId,
    },
    /// The role, term or known leader changed.
    RoleChanged {
        /// The new role.
        role: Role,
        /// The term.
        term: Term,
        /// The known leader, or [`NodeId::NONE`].
        leader: NodeId,
    },
}

/// A write for storage. Apply its parts in this order, in one atomic transaction:
/// `install_snapshot`, `truncate_from`, `append`, `compact_to`, `hard_state`
/// (`raft::storage::persist_ops` does exactly that). A request that writes nothing still orders
/// its `then_send` after every earlier request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersistRequest {
    /// Increasing; confirm with `Raft::handle_persisted(seq)` (confirms all lower ones too).
    pub seq: u64,
    /// The new hard state, if it changed.
    pub hard_state: Option<HardState>,
    /// A snapshot was accepted: delete the whole log, record `(index, term)` as the compaction
    /// point, and (the Node's part) replace the state machine with the staged snapshot in the
    /// same transaction.
    pub install_snapshot: Option<SnapshotMeta>,
    /// Delete every entry at or after this index (a conflicting suffix) before appending.
    pub truncate_from: Option<LogIndex>,
    /// Entries to write, consecutive.
    pub append: Vec<Entry>,
    /// Delete entries up to this index and record it (with its term) as the compaction point.
    pub compact_to: Option<(LogIndex, Term)>,
    /// Messages that may only leave once this request is durable (vote grants, append
    /// acknowledgements).
    pub then_send: Vec<Message>,
    /// False when losing this request in a crash is harmless: it writes only a new commit
    /// index or a compaction (etcd's `MustSync` is false). A runtime may then skip the fsync
    /// for it (a later synced write covers it), but still confirms it in order: `then_send`
    /// relies only on the *earlier* requests being durable.
    pub sync: bool,
}

impl fmt::Display for PersistRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq={}", self.seq)?;
        if let Some(hs) = &self.hard_state {
            write!(f, " hs=({hs})")?;
        }
        if let Some(meta) = &self.install_snapshot {
            write!(f, " snapshot=({meta})")?;
        }
        if let Some(t) = self.truncate_from {
            write!(f, " truncate>={t}")?;
        }
        if !self.append.is_empty() {
            f.write_str(" append=[")?;
            for (i, e) in self.append.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{e}")?;
            }
            f.write_str("]")?;
        }
        if let Some((index, term)) = self.compact_to {
            write!(f, " compact={term}/{index}")?;
        }
        if !self.then_send.is_empty() {
            write!(f, " then_send={}", self.then_send.len())?;
        }
        Ok(())
    }
}

impl fmt::Display for RaftOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RaftOutput::Send(m) => write!(f, "send {m}"),
            RaftOutput::Persist(p) => write!(f, "persist {p}"),
            RaftOutput::Apply(entries) => {
                f.write_str("apply [")?;
                for (i, e) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
            RaftOutput::ReadReady { ctx, index } => write!(f, "read-ready {ctx} index={index}"),
            RaftOutput::ReadFailed { ctx, reason } => write!(f, "read-failed {ctx} {reason}"),
            RaftOutput::SendSnapshot { to } => write!(f, "send-snapshot to={to}"),
            RaftOutput::RoleChanged { role, term, leader } => {
                write!(f, "role {role} term={term} leader={leader}")
            }
        }
    }
}

/// A persist request handed out and not yet confirmed.
#[derive(Debug)]
struct InFlight {
    seq: u64,
    /// Log entries up to here are durable once confirmed (lowered when a later request
    /// truncates below it).
    durable_upto: LogIndex,
    hard_state: Option<HardState>,
}

/// Raft's outgoing side: queued outputs and the persist request being assembled.
#[derive(Debug)]
pub(crate) struct OutputQueue {
    queue: VecDeque<RaftOutput>,
    pub then_send: Vec<Message>,
    pub install_snapshot: Option<SnapshotMeta>,
    pub compact_to: Option<(LogIndex, Term)>,
    pub hard_state_written: HardState,
    pub durable_hard_state: HardState,
    pub soft_state: (Role, Term, NodeId),
    next_seq: u64,
    in_flight: VecDeque<InFlight>,
}

impl OutputQueue {
    pub fn new() -> Self {
        OutputQueue {
            queue: VecDeque::new(),
            then_send: Vec::new(),
            install_snapshot: None,
            compact_to: None,
            hard_state_written: HardState::default(),
            durable_hard_state: HardState::default(),
            soft_state: (Role::Follower, Term::ZERO, NodeId::NONE),
            next_seq: 1,
            in_flight: VecDeque::new(),
        }
    }

    pub fn push(&mut self, output: RaftOutput) {
        self.queue.push_back(output);
    }

    /// A truncation (or snapshot) at `from` makes entries at or after it non-durable.
    pub fn lower_durable(&mut self, below: LogIndex) {
        for f in &mut self.in_flight {
            f.durable_upto = f.durable_upto.min(below);
        }
    }
}

impl Raft {
    /// The next effect to carry out, or `None` when drained. Sends and notifications come
    /// first, then the assembled `Persist`, then an `Apply` batch. Any input or command may
    /// make it return `Some` again.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<RaftOutput> {
        if let Some(o) = self.out.queue.pop_front() {
            return Some(o);
        }
        if let Some(p) = self.take_persist() {
            return Some(RaftOutput::Persist(p));
        }
        self.take_apply().map(RaftOutput::Apply)
    }

    /// True if `poll_output` has something other than an `Apply` batch to return (the state the
    /// debug-build drain check looks at).
    #[must_use]
    pub fn has_pending_output(&self) -> bool {
        !self.out.queue.is_empty() || self.persist_pending()
    }

    fn persist_pending(&self) -> bool {
        self.hard_state() != self.out.hard_state_written
            || self.log.has_unstable()
            || self.out.install_snapshot.is_some()
            || self.out.compact_to.is_some()
            || !self.out.then_send.is_empty()
    }

    fn take_persist(&mut self) -> Option<PersistRequest> {
        if !self.persist_pending() {
            return None;
        }
        let hs = self.hard_state();
        let hard_state = (hs != self.out.hard_state_written).then_some(hs);
        let vote_changed = hs.term != self.out.hard_state_written.term
            || hs.vote != self.out.hard_state_written.vote;
        self.out.hard_state_written = hs;
        let (truncate_from, append) = self.log.take_unstable();
        let sync = vote_changed
            || truncate_from.is_some()
            || !append.is_empty()
            || self.out.install_snapshot.is_some();
        let seq = self.out.next_seq;
        self.out.next_seq += 1;
        self.out.in_flight.push_back(InFlight {
            seq,
            durable_upto: self.log.last_index(),
            hard_state,
        });
        Some(PersistRequest {
            seq,
            hard_state,
            install_snapshot: self.out.install_snapshot.take(),
            truncate_from,
            append,
            compact_to: self.out.compact_to.take(),
            then_send: core::mem::take(&mut self.out.then_send),
            sync,
        })
    }

    fn take_apply(&mut self) -> Option<Vec<Entry>> {
        if self.apply_emitted != self.applied {
            return None;
        }
        let upto = self.log.committed.min(self.persisted);
        if upto <= self.apply_emitted {
            return None;
        }
        let entries =
            self.log.entries_limited(self.apply_emitted.next(), upto, self.cfg.max_apply_bytes);
        self.apply_emitted = entries.last().map_or(self.apply_emitted, |e| e.index);
        Some(entries)
    }

    /// Storage confirms that every persist request up to `seq` is durable. Entries count toward
    /// the leader's own match index, a candidate's own vote counts, and committed durable entries
    /// become appliable.
    ///
    /// May produce: `Send` (appends carrying a new commit index), `Persist` (the new commit
    /// index), `Apply`, `RoleChanged` (a candidate wins), `ReadReady`.
    pub fn handle_persisted(&mut self, seq: u64) {
        self.check_drained();
        while self.out.in_flight.front().is_some_and(|f| f.seq <= seq) {
            let done = self.out.in_flight.pop_front().expect("checked non-empty");
            self.persisted = self.persisted.max(done.durable_upto);
            if let Some(hs) = done.hard_state {
                self.out.durable_hard_state = hs;
            }
        }
        match self.role {
            Role::Leader => {
                let persisted = self.persisted;
                if let Some(pr) = self.progress.get_mut(&self.cfg.id) {
                    pr.match_index = pr.match_index.max(persisted);
                    pr.next_index = pr.next_index.max(persisted.next());
                }
                if self.maybe_commit() {
                    self.broadcast_append();
                }
            }
            Role::Candidate => self.count_own_vote(),
            _ => {}
        }
    }

    /// Lowers the durable mark: entries at or after `from` are being replaced.
    pub(super) fn entries_replaced_from(&mut self, from: LogIndex) {
        let below = from.prev();
        self.persisted = self.persisted.min(below);
        self.out.lower_durable(below);
    }

    /// Emits `RoleChanged` if role, term or leader differ from the last report, and fails
    /// reads forwarded to a leader that is no longer ours.
    pub(super) fn report_soft_state(&mut self) {
        let now = (self.role, self.term, self.leader);
        let before = self.out.soft_state;
        if now != before {
            self.out.soft_state = now;
            self.out.push(RaftOutput::RoleChanged {
                role: self.role,
                term: self.term,
                leader: self.leader,
            });
            if before.1 != now.1 || before.2 != now.2 {
                self.fail_forwarded_reads();
            }
        }
    }
}
