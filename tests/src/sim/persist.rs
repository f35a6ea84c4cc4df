//! How the world carries out a member's `Persist` outputs through its disk (see
//! [`crate::sim::disk`]): logged (then `handle_logged` and the `then_send` messages), stored
//! into the member's `MemBackend` after a store lag (then `handle_persisted`).

use crate::sim::disk::Submitted;
use crate::sim::world::{Event, Sim};
use oxcd_core::backend::{WriteBatch, WriteOp};
use oxcd_core::ids::NodeId;
use oxcd_core::node::{PeerMessage, PersistId};
use std::time::Duration;

impl Sim {
    /// Hands member `id`'s persist `pid` to its disk.
    pub(crate) fn persist(
        &mut self,
        id: NodeId,
        pid: PersistId,
        batch: WriteBatch,
        then_send: Vec<(NodeId, PeerMessage)>,
        sync: bool,
    ) {
        let now = self.now();
        self.trace.record(now, || {
            format!(
                "m{id} persist {} ops={} then_send={}{}",
                pid.0,
                batch.ops.len(),
                then_send.len(),
                if sync { "" } else { " unsynced" }
            )
        });
        let installs = !self.cfg.confirm_installs_when_logged
            && batch.ops.iter().any(|op| matches!(op, WriteOp::InstallStagedSnapshot));
        let slot = self.members.get_mut(&id).expect("slot");
        let incarnation = slot.incarnation;
        if installs {
            slot.installs.push_back(pid);
        }
        let held = slot.installs.front().is_some_and(|&install| install <= pid);
        match slot.disk.submit((pid, batch), sync) {
            Submitted::Logged if held => {
                slot.unlogged.push_back((pid, then_send));
                self.schedule_store(id);
            }
            Submitted::Logged => {
                // As a log-based runtime may: nothing before it waits for the log, so it
                // counts as logged now; the next synced write's fsync covers it.
                self.trace.record(now, || format!("m{id} logged persist {} unsynced", pid.0));
                if let Some(node) = slot.node.as_mut() {
                    node.handle_logged(now, pid);
                }
                self.schedule_store(id);
                for (to, message) in then_send {
                    self.send(id, to, message);
                }
            }
            Submitted::Fsync(delay) => {
                slot.unlogged.push_back((pid, then_send));
                self.queue.schedule_in(delay, Event::Fsync { member: id, incarnation });
            }
            Submitted::Queued => slot.unlogged.push_back((pid, then_send)),
        }
        let slot = self.members.get_mut(&id).expect("slot");
        if std::mem::take(&mut slot.crash_on_persist) {
            // Right after this input: whatever it sent is out, its writes are not durable.
            self.queue.schedule_in(Duration::ZERO, Event::Crash { member: id, incarnation });
        }
    }

    /// Member `id`'s running fsync finished: what it logged is confirmed with `handle_logged`
    /// and its messages leave.
    pub(crate) fn fsync_done(&mut self, id: NodeId, incarnation: u64) {
        let now = self.now();
        let (logged, next) = {
            let Some(slot) = self.members.get_mut(&id) else { return };
            if slot.incarnation != incarnation || slot.node.is_none() {
                return;
            }
            let (newest, next) = slot.disk.fsync_done();
            (newest.map(|(pid, _)| *pid), next)
        };
        if let Some(delay) = next {
            self.queue.schedule_in(delay, Event::Fsync { member: id, incarnation });
        }
        let Some(last) = logged else { return };
        let mut sends = Vec::new();
        {
            let slot = self.members.get_mut(&id).expect("slot");
            // A snapshot install not yet stored holds itself and what follows back (see
            // `SimConfig::confirm_installs_when_logged`).
            let upto = match slot.installs.front() {
                Some(&install) if install <= last => PersistId(install.0 - 1),
                _ => last,
            };
            while slot.unlogged.front().is_some_and(|(pid, _)| *pid <= upto) {
                let (_, then_send) = slot.unlogged.pop_front().expect("checked");
                sends.extend(then_send);
            }
            self.trace.record(now, || {
                let held =
                    if upto == last { String::new() } else { format!(" (held after {})", upto.0) };
                format!("m{id} fsync done, logged up to persist {}{held}", last.0)
            });
            if let (Some(node), true) = (slot.node.as_mut(), upto.0 > 0) {
                node.handle_logged(now, upto);
            }
        }
        self.schedule_store(id);
        for (to, message) in sends {
            self.send(id, to, message);
        }
        self.drain(id);
    }

    /// Makes `id`'s store take what its disk logs, after a store lag, unless that is planned.
    fn schedule_store(&mut self, id: NodeId) {
        let Some(slot) = self.members.get_mut(&id) else { return };
        if std::mem::replace(&mut slot.store_scheduled, true) {
            return;
        }
        let lag = slot.disk.store_lag();
        let incarnation = slot.incarnation;
        self.queue.schedule_in(lag, Event::Stored { member: id, incarnation });
    }

    /// `id`'s store takes every logged write, in persist order: applied to its `MemBackend`,
    /// then confirmed with `handle_persisted`.
    pub(crate) fn stored(&mut self, id: NodeId, incarnation: u64) {
        let now = self.now();
        let mut sends = Vec::new();
        {
            let Some(slot) = self.members.get_mut(&id) else { return };
            if slot.incarnation != incarnation || slot.node.is_none() {
                return;
            }
            slot.store_scheduled = false;
            let writes = slot.disk.store();
            let Some(last) = writes.last().map(|(pid, _)| *pid) else { return };
            for (_, batch) in writes {
                slot.backend.apply(&batch);
            }
            self.trace.record(now, || format!("m{id} stored up to persist {}", last.0));
            if let Some(node) = slot.node.as_mut() {
                node.handle_persisted(now, last);
            }
            // Persists held back behind a snapshot install: confirmed in both steps now.
            while slot.installs.front().is_some_and(|&install| install <= last) {
                slot.installs.pop_front();
            }
            while slot.unlogged.front().is_some_and(|(pid, _)| *pid <= last) {
                let (_, then_send) = slot.unlogged.pop_front().expect("checked");
                sends.extend(then_send);
            }
        }
        for (to, message) in sends {
            self.send(id, to, message);
        }
        self.drain(id);
    }
}
