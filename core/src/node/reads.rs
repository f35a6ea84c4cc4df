//! Linearizable reads, batched: every read that arrives while a read-index round is in flight
//! waits for the next round, so one heartbeat quorum confirms many reads (as etcd does). A read
//! is served once the state machine has applied the confirmed index.

use super::request::Request;
use super::RequestId;
use crate::auth::AuthInfo;
use crate::ids::LogIndex;
use crate::raft::ReadId;
use crate::time::Instant;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// A read waiting to be served.
#[derive(Debug)]
pub(super) struct WaitingRead {
    pub id: RequestId,
    pub request: Request,
    /// Who asked, as identified when the read arrived.
    pub user: AuthInfo,
    pub deadline: Instant,
}

/// Reads by stage.
#[derive(Debug, Default)]
pub(super) struct Reads {
    /// Not yet part of a round.
    queued: Vec<WaitingRead>,
    /// The round in flight and its reads.
    in_flight: Option<(ReadId, Vec<WaitingRead>)>,
    /// Confirmed, waiting for the state machine to reach the index.
    confirmed: BTreeMap<LogIndex, Vec<WaitingRead>>,
    next_ctx: u64,
    /// Earliest time to retry a failed round (avoids spinning while there is no leader).
    retry_at: Option<Instant>,
}

impl Reads {
    pub fn len(&self) -> usize {
        self.queued.len()
            + self.in_flight.as_ref().map_or(0, |(_, r)| r.len())
            + self.confirmed.values().map(Vec::len).sum::<usize>()
    }

    pub fn enqueue(&mut self, read: WaitingRead) {
        self.queued.push(read);
    }

    /// Starts a round if reads are queued and none is in flight; returns its id.
    pub fn start_round(&mut self, now: Instant) -> Option<ReadId> {
        if self.in_flight.is_some()
            || self.queued.is_empty()
            || self.retry_at.is_some_and(|t| now < t)
        {
            return None;
        }
        self.retry_at = None;
        self.next_ctx += 1;
        let ctx = ReadId(self.next_ctx);
        self.in_flight = Some((ctx, core::mem::take(&mut self.queued)));
        Some(ctx)
    }

    /// The round `ctx` was confirmed at `index`.
    pub fn confirmed(&mut self, ctx: ReadId, index: LogIndex) {
        if let Some((c, reads)) = self.in_flight.take() {
            if c == ctx {
                self.confirmed.entry(index).or_default().extend(reads);
            } else {
                self.in_flight = Some((c, reads));
            }
        }
    }

    /// The round `ctx` failed: its reads go back to the queue for a later round.
    pub fn failed(&mut self, ctx: ReadId, retry_at: Instant) {
        if let Some((c, mut reads)) = self.in_flight.take() {
            if c == ctx {
                reads.append(&mut self.queued);
                self.queued = reads;
                self.retry_at = Some(retry_at);
            } else {
                self.in_flight = Some((c, reads));
            }
        }
    }

    /// Reads whose confirmed index is applied.
    pub fn ready(&mut self, applied: LogIndex) -> Vec<WaitingRead> {
        let later = self.confirmed.split_off(&applied.next());
        let ready = core::mem::replace(&mut self.confirmed, later);
        ready.into_values().flatten().collect()
    }

    /// Removes and returns reads past their deadline.
    pub fn expired(&mut self, now: Instant) -> Vec<WaitingRead> {
        let mut out = Vec::new();
        let mut take = |reads: &mut Vec<WaitingRead>| {
            let (late, keep): (Vec<_>, Vec<_>) = reads.drain(..).partition(|r| r.deadline <= now);
            *reads = keep;
            out.extend(late);
        };
        take(&mut self.queued);
        if self.queued.is_empty() {
            // Nothing left to retry: a past retry time must not keep waking the driver.
            self.retry_at = None;
        }
        if let Some((_, reads)) = self.in_flight.as_mut() {
            take(reads);
        }
        for reads in self.confirmed.values_mut() {
            take(reads);
        }
        self.confirmed.retain(|_, r| !r.is_empty());
        out
    }

    /// The earliest deadline or retry time.
    pub fn next_deadline(&self) -> Option<Instant> {
        let deadlines = self
            .queued
            .iter()
            .chain(self.in_flight.iter().flat_map(|(_, r)| r.iter()))
            .chain(self.confirmed.values().flatten())
            .map(|r| r.deadline);
        let retry = self.retry_at.filter(|_| !self.queued.is_empty());
        deadlines.chain(retry).min()
    }
}
