//! The lessor: leases, the keys attached to them, and (on the leader) their expiry clock.
//!
//! Grant, revoke and checkpoint are applied from the Raft log on every member, so they change
//! the replicated state identically everywhere. Expiry is local: only the leader (the
//! *primary*) runs lease clocks; followers hold every lease "forever" until they are promoted,
//! at which point each lease gets its remaining TTL plus an election timeout, as in etcd.

use super::record::{lease_key, LeaseRecord};
use crate::backend::Table;
use crate::error::ApiError;
use crate::ids::LeaseId;
use crate::mvcc::{StorageMut, StorageRef};
use crate::time::Instant;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::ops::ControlFlow;
use core::time::Duration;

/// etcd's largest lease TTL, in seconds (`MaxLeaseTTL`).
pub const MAX_LEASE_TTL_SECS: i64 = 9_000_000_000;
/// etcd's lease revoke rate limit per second (`leaseRevokeRate`), used to spread expiries on
/// promotion.
pub const LEASE_REVOKE_RATE: usize = 1000;
const NANOS_PER_SEC: i128 = 1_000_000_000;

/// How the lessor behaves; the same on every member for the replicated parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessorConfig {
    /// The smallest TTL a lease gets, in seconds. etcd: `ceil(1.5 × election timeout)`
    /// (`(3 * election_ticks / 2) * heartbeat`, rounded up to whole seconds).
    pub min_ttl_secs: i64,
    /// How often the leader records a lease's remaining TTL through Raft so that a new leader
    /// does not restart it from the full TTL; `None` disables checkpoints. oxcd enables them by
    /// default (etcd: `--experimental-enable-lease-checkpoint`, 5 minutes) and always persists
    /// them (etcd's `LeaseCheckpointPersist`), so remaining TTLs survive restarts too.
    pub checkpoint_interval: Option<Duration>,
    /// How long after reporting an expired lease the leader reports it again if it still
    /// exists (the revoke proposal was lost). etcd: the request timeout, 5 s + 2 × election
    /// timeout.
    pub expired_retry: Duration,
}

impl LessorConfig {
    /// etcd's settings for a member with this election timeout.
    #[must_use]
    pub fn for_election_timeout(election_timeout: Duration) -> Self {
        let min_nanos = election_timeout.as_nanos() * 3 / 2;
        let min_ttl_secs = min_nanos.div_ceil(NANOS_PER_SEC as u128).max(1) as i64;
        LessorConfig {
            min_ttl_secs,
            checkpoint_interval: Some(Duration::from_secs(300)),
            expired_retry: Duration::from_secs(5) + election_timeout * 2,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// A description of the first invalid setting.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.min_ttl_secs < 1 || self.min_ttl_secs > MAX_LEASE_TTL_SECS {
            return Err("lease min_ttl_secs must be in 1..=9000000000");
        }
        if self.checkpoint_interval.is_some_and(|d| d < Duration::from_secs(1)) {
            return Err("lease checkpoint_interval must be at least 1s");
        }
        if self.expired_retry.is_zero() {
            return Err("lease expired_retry must be positive");
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct Lease {
    ttl: i64,
    remaining_ttl: i64,
    /// `None`: no clock runs (a follower's view, "forever").
    expiry: Option<Instant>,
    /// This lease's entry in the expiry queue.
    queued_at: Option<Instant>,
    keys: BTreeSet<Box<[u8]>>,
}

impl Lease {
    /// etcd's `getRemainingTTL`: the checkpointed remainder if any, else the full TTL.
    fn remaining_or_ttl(&self) -> i64 {
        if self.remaining_ttl > 0 {
            self.remaining_ttl
        } else {
            self.ttl
        }
    }

    fn record(&self, id: LeaseId) -> LeaseRecord {
        LeaseRecord { id: id.0, ttl: self.ttl, remaining_ttl: self.remaining_ttl }
    }

    fn remaining_nanos(&self, now: Instant) -> Option<i128> {
        self.expiry.map(|e| i128::from(e.as_nanos()) - i128::from(now.as_nanos()))
    }
}

/// A lease as `LeaseTimeToLive` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseTtl {
    /// Remaining seconds (truncated, negative once expired); `None` when no clock runs here
    /// (not the leader: ask the leader).
    pub remaining_secs: Option<i64>,
    /// The granted TTL.
    pub granted_ttl: i64,
    /// Attached keys in key order (when asked for).
    pub keys: Vec<Vec<u8>>,
}

/// A checkpoint the leader wants proposed: lease `id` has `remaining_ttl` seconds left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The lease.
    pub id: LeaseId,
    /// Seconds left (0 clears an earlier checkpoint).
    pub remaining_ttl: i64,
}

/// Leases and their attached keys.
#[derive(Debug)]
pub struct Lessor {
    config: LessorConfig,
    leases: BTreeMap<LeaseId, Lease>,
    key_leases: BTreeMap<Box<[u8]>, LeaseId>,
    primary: bool,
    /// Leader only: when to look at each lease again, soonest first.
    expiry_queue: BTreeSet<(Instant, LeaseId)>,
    /// Leader only: when each lease's next checkpoint is due.
    checkpoint_queue: BTreeSet<(Instant, LeaseId)>,
    /// Leader only: checkpoints to propose now (renewals clearing a checkpointed remainder).
    urgent_checkpoints: BTreeMap<LeaseId, i64>,
}

impl Lessor {
    /// A lessor with no leases (a fresh member).
    ///
    /// # Panics
    /// When `config` is invalid (see [`LessorConfig::validate`]).
    #[must_use]
    pub fn new(config: LessorConfig) -> Self {
        if let Err(e) = config.validate() {
            panic!("invalid lessor config: {e}");
        }
        Lessor {
            config,
            leases: BTreeMap::new(),
            key_leases: BTreeMap::new(),
            primary: false,
            expiry_queue: BTreeSet::new(),
            checkpoint_queue: BTreeSet::new(),
            urgent_checkpoints: BTreeMap::new(),
        }
    }

    /// Loads the leases stored in `storage` (after a restart or a snapshot install). Keys are
    /// attached afterwards by the key-value store as it rebuilds its index. Every lease starts
    /// without a clock; the leader starts the clocks with [`Lessor::promote`].
    ///
    /// # Panics
    /// When `config` is invalid.
    #[must_use]
    pub fn open(config: LessorConfig, storage: StorageRef<'_>) -> Self {
        let mut lessor = Lessor::new(config);
        storage.scan(Table::Lease, &[], None, &mut |_, value| {
            // A record that does not decode is skipped rather than trusted.
            if let Some(r) = LeaseRecord::from_bytes(value) {
                let lease = Lease {
                    ttl: r.ttl,
                    remaining_ttl: r.remaining_ttl,
                    expiry: None,
                    queued_at: None,
                    keys: BTreeSet::new(),
                };
                lessor.leases.insert(LeaseId(r.id), lease);
            }
            ControlFlow::Continue(())
        });
        lessor
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &LessorConfig {
        &self.config
    }

    /// True while this member runs lease clocks (it is the leader).
    #[must_use]
    pub fn is_primary(&self) -> bool {
        self.primary
    }

    /// True when lease `id` exists.
    #[must_use]
    pub fn exists(&self, id: LeaseId) -> bool {
        self.leases.contains_key(&id)
    }

    /// Number of leases.
    #[must_use]
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// True when there is no lease.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// The keys attached to lease `id`, in key order; `None` when the lease does not exist.
    pub fn keys(&self, id: LeaseId) -> Option<impl Iterator<Item = &[u8]>> {
        self.leases.get(&id).map(|lease| lease.keys.iter().map(|k| &**k))
    }

    /// The lease `key` is attached to.
    #[must_use]
    pub fn lease_of(&self, key: &[u8]) -> Option<LeaseId> {
        self.key_leases.get(key).copied()
    }

    /// Attaches `key` to lease `id` (which must exist; unknown leases are ignored, as etcd does
    /// when a stored key names a lease that is gone), detaching it from any other lease.
    pub fn attach(&mut self, id: LeaseId, key: &[u8]) {
        if id == LeaseId::NONE || !self.leases.contains_key(&id) {
            self.detach(key);
            return;
        }
        if self.lease_of(key) == Some(id) {
            return;
        }
        self.detach(key);
        let boxed: Box<[u8]> = Box::from(key);
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keys.insert(boxed.clone());
        }
        self.key_leases.insert(boxed, id);
    }

    /// Detaches `key` from its lease, if any.
    pub fn detach(&mut self, key: &[u8]) {
        if let Some(id) = self.key_leases.remove(key) {
            if let Some(lease) = self.leases.get_mut(&id) {
                lease.keys.remove(key);
            }
        }
    }

    /// Applies a grant (from the Raft log). Returns the TTL granted: `ttl` raised to the
    /// minimum. On the leader the lease's clock starts at `now`.
    ///
    /// # Errors
    /// `LeaseNotFound` for id 0, `LeaseTtlTooLarge`, `LeaseExist`.
    pub fn grant(
        &mut self,
        storage: &mut StorageMut<'_>,
        id: LeaseId,
        ttl: i64,
        now: Instant,
    ) -> Result<i64, ApiError> {
        if id == LeaseId::NONE {
            return Err(ApiError::LeaseNotFound);
        }
        if ttl > MAX_LEASE_TTL_SECS {
            return Err(ApiError::LeaseTtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(ApiError::LeaseExist);
        }
        let ttl = ttl.max(self.config.min_ttl_secs);
        let lease =
            Lease { ttl, remaining_ttl: 0, expiry: None, queued_at: None, keys: BTreeSet::new() };
        storage.put(Table::Lease, lease_key(id), lease.record(id).to_bytes());
        self.leases.insert(id, lease);
        if self.primary {
            self.refresh(id, now, Duration::ZERO);
            self.schedule_checkpoint(id, now);
        }
        Ok(ttl)
    }

    /// Applies a revoke: removes the lease and returns its keys in key order, which the caller
    /// deletes in one revision.
    ///
    /// # Errors
    /// `LeaseNotFound`.
    pub fn revoke(
        &mut self,
        storage: &mut StorageMut<'_>,
        id: LeaseId,
    ) -> Result<Vec<Box<[u8]>>, ApiError> {
        let lease = self.leases.remove(&id).ok_or(ApiError::LeaseNotFound)?;
        storage.delete(Table::Lease, lease_key(id));
        if let Some(at) = lease.queued_at {
            self.expiry_queue.remove(&(at, id));
        }
        self.urgent_checkpoints.remove(&id);
        let keys: Vec<Box<[u8]>> = lease.keys.into_iter().collect();
        for key in &keys {
            self.key_leases.remove(key);
        }
        Ok(keys)
    }

    /// Applies a checkpoint: records `remaining_ttl` for lease `id` (unknown leases are
    /// ignored, as etcd does).
    pub fn checkpoint(
        &mut self,
        storage: &mut StorageMut<'_>,
        id: LeaseId,
        remaining_ttl: i64,
        now: Instant,
    ) {
        let Some(lease) = self.leases.get_mut(&id) else { return };
        lease.remaining_ttl = remaining_ttl;
        storage.put(Table::Lease, lease_key(id), lease.record(id).to_bytes());
        if self.primary {
            self.schedule_checkpoint(id, now);
        }
    }

    /// Renews lease `id` (a keep-alive, handled by the leader without Raft): its clock restarts
    /// from the full TTL. Returns the TTL. When the lease carried a checkpointed remainder, a
    /// checkpoint clearing it is queued for [`Lessor::poll_checkpoints`].
    ///
    /// # Errors
    /// `NotLeader` on a follower (forward to the leader); `LeaseNotFound` for an unknown lease
    /// or one already expired (its revoke is on its way).
    pub fn renew(&mut self, id: LeaseId, now: Instant) -> Result<i64, ApiError> {
        if !self.primary {
            return Err(ApiError::NotLeader);
        }
        let lease = self.leases.get_mut(&id).ok_or(ApiError::LeaseNotFound)?;
        if lease.remaining_nanos(now).is_some_and(|r| r <= 0) {
            return Err(ApiError::LeaseNotFound);
        }
        if lease.remaining_ttl > 0 {
            lease.remaining_ttl = 0;
            if self.config.checkpoint_interval.is_some() {
                self.urgent_checkpoints.insert(id, 0);
            }
        }
        let ttl = lease.ttl;
        self.refresh(id, now, Duration::ZERO);
        Ok(ttl)
    }

    /// What `LeaseTimeToLive` reports for lease `id`, `None` when it does not exist.
    #[must_use]
    pub fn time_to_live(&self, id: LeaseId, now: Instant, with_keys: bool) -> Option<LeaseTtl> {
        let lease = self.leases.get(&id)?;
        let remaining_secs = lease.remaining_nanos(now).map(|n| (n / NANOS_PER_SEC) as i64);
        let keys =
            if with_keys { lease.keys.iter().map(|k| k.to_vec()).collect() } else { Vec::new() };
        Some(LeaseTtl { remaining_secs, granted_ttl: lease.ttl, keys })
    }

    /// Every lease id, soonest expiry first (ties and followers: by id).
    #[must_use]
    pub fn leases(&self) -> Vec<LeaseId> {
        let mut all: Vec<(Option<Instant>, LeaseId)> =
            self.leases.iter().map(|(id, l)| (l.expiry, *id)).collect();
        all.sort();
        all.into_iter().map(|(_, id)| id).collect()
    }

    /// This member became leader: every lease's clock starts at `now` with its remaining TTL
    /// plus `extend` (etcd passes the election timeout), and expiries that would pile up are
    /// spread so at most ~750 leases expire per second.
    pub fn promote(&mut self, now: Instant, extend: Duration) {
        self.primary = true;
        let ids: Vec<LeaseId> = self.leases.keys().copied().collect();
        for &id in &ids {
            self.refresh(id, now, extend);
            self.schedule_checkpoint(id, now);
        }
        if ids.len() < LEASE_REVOKE_RATE {
            return;
        }
        let mut by_expiry: Vec<(i128, LeaseId)> =
            ids.iter().map(|id| (self.leases[id].remaining_nanos(now).unwrap_or(0), *id)).collect();
        by_expiry.sort();
        let target_per_sec = (3 * LEASE_REVOKE_RATE / 4) as i128;
        let mut base = by_expiry[0].0;
        let mut next_window = base + NANOS_PER_SEC;
        let mut expires: i128 = 0;
        for (remaining, id) in by_expiry {
            if remaining > next_window {
                base = remaining;
                next_window = base + NANOS_PER_SEC;
                expires = 1;
                continue;
            }
            expires += 1;
            if expires <= target_per_sec {
                continue;
            }
            let delay = (NANOS_PER_SEC * expires / target_per_sec - (remaining - base)).max(0);
            next_window = base + delay;
            self.refresh(id, now, extend + Duration::from_nanos(delay as u64));
            self.schedule_checkpoint(id, now);
        }
    }

    /// This member is no longer leader: clocks stop, pending work is dropped.
    pub fn demote(&mut self) {
        self.primary = false;
        for lease in self.leases.values_mut() {
            lease.expiry = None;
            lease.queued_at = None;
        }
        self.expiry_queue.clear();
        self.checkpoint_queue.clear();
        self.urgent_checkpoints.clear();
    }

    /// Leader only: up to `max` leases that have expired by `now`, for the Node to propose
    /// revokes. A reported lease is reported again after `expired_retry` if it still exists.
    pub fn poll_expired(&mut self, now: Instant, max: usize) -> Vec<LeaseId> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(&(at, id)) = self.expiry_queue.first() else { break };
            if at > now {
                break;
            }
            self.expiry_queue.pop_first();
            let retry = now + self.config.expired_retry;
            let Some(lease) = self.leases.get_mut(&id) else { continue };
            lease.queued_at = Some(retry);
            self.expiry_queue.insert((retry, id));
            out.push(id);
        }
        out
    }

    /// Leader only: up to `max` checkpoints due by `now`, for the Node to propose in one
    /// `LeaseCheckpointRequest`.
    pub fn poll_checkpoints(&mut self, now: Instant, max: usize) -> Vec<Checkpoint> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some((id, remaining_ttl)) = self.urgent_checkpoints.pop_first() else { break };
            out.push(Checkpoint { id, remaining_ttl });
        }
        while out.len() < max {
            let Some(&(at, id)) = self.checkpoint_queue.first() else { break };
            if at > now {
                break;
            }
            self.checkpoint_queue.pop_first();
            let Some(lease) = self.leases.get(&id) else { continue };
            let Some(remaining) = lease.remaining_nanos(now) else { continue };
            if remaining <= 0 {
                continue;
            }
            let secs = ((remaining + NANOS_PER_SEC - 1) / NANOS_PER_SEC) as i64;
            if secs >= lease.ttl {
                continue;
            }
            out.push(Checkpoint { id, remaining_ttl: secs });
        }
        out
    }

    /// When [`Lessor::poll_expired`] or [`Lessor::poll_checkpoints`] next has something to
    /// report; `None` when nothing is scheduled. Changed by grants, renewals, checkpoints,
    /// promotion and demotion.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.urgent_checkpoints.is_empty() {
            return Some(Instant::ZERO);
        }
        let a = self.expiry_queue.first().map(|(t, _)| *t);
        let b = self.checkpoint_queue.first().map(|(t, _)| *t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Restarts lease `id`'s clock: it expires `remaining_or_ttl + extend` after `now`.
    fn refresh(&mut self, id: LeaseId, now: Instant, extend: Duration) {
        let Some(lease) = self.leases.get_mut(&id) else { return };
        let secs = u64::try_from(lease.remaining_or_ttl()).unwrap_or(0);
        let expiry = now + extend + Duration::from_secs(secs);
        lease.expiry = Some(expiry);
        if let Some(old) = lease.queued_at.replace(expiry) {
            self.expiry_queue.remove(&(old, id));
        }
        self.expiry_queue.insert((expiry, id));
    }

    fn schedule_checkpoint(&mut self, id: LeaseId, now: Instant) {
        let Some(interval) = self.config.checkpoint_interval else { return };
        let Some(lease) = self.leases.get(&id) else { return };
        if u128::try_from(lease.remaining_or_ttl()).unwrap_or(0) > u128::from(interval.as_secs()) {
            self.checkpoint_queue.insert((now + interval, id));
        }
    }
}

impl crate::auth::LeaseKeys for Lessor {
    fn for_each_key(
        &self,
        lease: LeaseId,
        visit: &mut dyn FnMut(&[u8]) -> core::ops::ControlFlow<()>,
    ) -> bool {
        let Some(keys) = self.keys(lease) else { return false };
        for key in keys {
            if visit(key).is_break() {
                break;
            }
        }
        true
    }
}
