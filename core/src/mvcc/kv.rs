//! The key-value state machine the Node drives: the revisioned [`Store`], the [`Lessor`] and
//! the [`WatchHub`], kept consistent with each other.
//!
//! - `apply_*` functions apply committed Raft entries. They are deterministic: the same
//!   sequence on every member gives the same state, revisions, responses and
//!   [`KvStore::hash_kv`]. Their only member-local input is `now` (lease clocks on the
//!   leader). Each writes through the overlay the Node lends; errors leave the state unchanged.
//! - `check_*` functions (in [`super::range`] and [`super::txn`]) are etcd's gRPC-layer checks
//!   the Node runs before proposing or serving.
//! - Reads (`range`, `read_txn`, `hash_kv`) take `&self` and a storage view.
//! - Lease keep-alives, time-to-live, expiry and checkpoints are the leader's, through
//!   [`KvStore::lessor_mut`] and the `lease_*` helpers here.
//! - Watches: `watch_*`, [`KvStore::sync_watchers`], [`KvStore::poll_watch_output`].

use super::hash::{hash_kv, KvHash};
use super::key_index::KeySpan;
use super::range::{check_range_request, header, serve_range};
use super::revision::Revision;
use super::storage::{StorageMut, StorageRef};
use super::store::{Change, CompactionProgress, Store};
use super::txn::{
    check_delete_range_request, check_path, check_put_request, check_txn_request, compare_path,
    delete_op, is_txn_read_only, put_op, run_path, ReadTarget,
};
use crate::error::ApiError;
use crate::ids::LeaseId;
use crate::lease::{Lessor, LessorConfig};
use crate::time::Instant;
use crate::watch::{WatchConfig, WatchHub, WatchStreamId};
use alloc::vec::Vec;
use oxcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    LeaseCheckpointRequest, LeaseCheckpointResponse, LeaseGrantRequest, LeaseGrantResponse,
    LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, LeaseStatus, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
    WatchCreateRequest, WatchResponse,
};
use oxcd_proto::mvccpb::event::EventType;

/// Configuration of the key-value state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvConfig {
    /// Lease rules.
    pub lessor: LessorConfig,
    /// Watch limits.
    pub watch: WatchConfig,
}

/// The key-value state machine: store, leases and watches.
#[derive(Debug)]
pub struct KvStore {
    store: Store,
    lessor: Lessor,
    watches: WatchHub,
}

impl KvStore {
    /// A fresh, empty state machine at revision 1.
    ///
    /// # Panics
    /// When the configuration is invalid.
    #[must_use]
    pub fn new(config: KvConfig) -> Self {
        KvStore {
            store: Store::new(),
            lessor: Lessor::new(config.lessor),
            watches: WatchHub::new(config.watch),
        }
    }

    /// The state machine stored in `storage` (restart): leases are loaded, the key index is
    /// rebuilt by scanning the Kv table, keys are re-attached to their leases, and an
    /// unfinished compaction resumes with [`KvStore::compaction_step`].
    ///
    /// # Panics
    /// When the configuration is invalid or a stored record is corrupt.
    #[must_use]
    pub fn open(config: KvConfig, storage: StorageRef<'_>) -> Self {
        let mut lessor = Lessor::open(config.lessor, storage);
        let store = Store::open(storage, &mut |key, lease| lessor.attach(LeaseId(lease), key));
        KvStore { store, lessor, watches: WatchHub::new(config.watch) }
    }

    /// Replaces the state with what `storage` holds after a snapshot was installed. Watchers
    /// stay and catch up from their next revision; lease clocks restart if this member leads.
    pub fn restore(&mut self, storage: StorageRef<'_>, now: Instant, extend: core::time::Duration) {
        let primary = self.lessor.is_primary();
        let mut lessor = Lessor::open(self.lessor.config().clone(), storage);
        self.store = Store::open(storage, &mut |key, lease| lessor.attach(LeaseId(lease), key));
        if primary {
            lessor.promote(now, extend);
        }
        self.lessor = lessor;
        self.watches.resync_all();
    }

    /// The current revision.
    #[must_use]
    pub fn current_revision(&self) -> Revision {
        Revision(self.store.current_revision())
    }

    /// The compacted revision (-1 before any compaction).
    #[must_use]
    pub fn compact_revision(&self) -> i64 {
        self.store.compact_revision()
    }

    /// The revisioned store (read only).
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The lessor (read only).
    #[must_use]
    pub fn lessor(&self) -> &Lessor {
        &self.lessor
    }

    /// The lessor, for the leader's clock work: `promote`, `demote`, `poll_expired`,
    /// `poll_checkpoints`, `poll_timeout`.
    pub fn lessor_mut(&mut self) -> &mut Lessor {
        &mut self.lessor
    }

    /// The watch hub (read only).
    #[must_use]
    pub fn watches(&self) -> &WatchHub {
        &self.watches
    }

    /// The watch hub, for stream management (`open_stream`, `close_stream`, `handle_timeout`).
    pub fn watches_mut(&mut self) -> &mut WatchHub {
        &mut self.watches
    }

    // ----- reads -----

    /// Serves a range at the current state (serializable, or linearizable after the read
    /// index was applied).
    ///
    /// # Errors
    /// `EmptyKey`, `InvalidSortOption`, `Compacted`, `FutureRev`.
    pub fn range(
        &self,
        storage: StorageRef<'_>,
        req: &RangeRequest,
    ) -> Result<RangeResponse, ApiError> {
        let cur = self.store.current_revision();
        serve_range(req, |span, rev, limit, count_only| {
            self.store.range_keys(storage, span, rev, cur, limit, count_only)
        })
    }

    /// Serves a transaction without writes (see [`super::txn::is_txn_read_only`]) from the
    /// current state.
    ///
    /// # Errors
    /// The request checks, and `Compacted` / `FutureRev` from its ranges.
    ///
    /// # Panics
    /// When `req` writes: such transactions go through Raft and [`KvStore::apply_txn`].
    pub fn read_txn(
        &self,
        storage: StorageRef<'_>,
        req: &TxnRequest,
    ) -> Result<TxnResponse, ApiError> {
        assert!(is_txn_read_only(req), "read_txn: the transaction writes");
        check_txn_request(req, usize::MAX)?;
        let mut target = ReadTarget { store: &self.store, storage };
        let mut path = Vec::new();
        compare_path(&target, req, &mut path);
        let mut resp = TxnResponse::default();
        run_path(&mut target, req, &path, &mut resp)?;
        resp.header = header(self.store.current_revision());
        Ok(resp)
    }

    /// HashKV up to `rev` (0: current); see [`super::hash`].
    ///
    /// # Errors
    /// `Compacted`, `FutureRev`.
    pub fn hash_kv(&self, storage: StorageRef<'_>, rev: i64) -> Result<KvHash, ApiError> {
        hash_kv(&self.store, storage, rev)
    }

    // ----- applied writes -----

    fn after_write(&mut self, rev: i64, changes: Vec<Change>, storage: StorageRef<'_>) {
        if !changes.is_empty() {
            for change in &changes {
                match change.kind {
                    EventType::Put if change.kv.lease != 0 => {
                        self.lessor.attach(LeaseId(change.kv.lease), &change.kv.key)
                    }
                    _ => self.lessor.detach(&change.kv.key),
                }
            }
            self.watches.notify(rev, &changes, storage);
        }
        self.store.recycle(changes);
    }

    /// Applies a put.
    ///
    /// # Errors
    /// `EmptyKey`, `ValueProvided`, `LeaseProvided`, `LeaseNotFound`, `KeyNotFound` (an
    /// `ignore_*` put of a missing key).
    pub fn apply_put(
        &mut self,
        storage: &mut StorageMut<'_>,
        req: &PutRequest,
    ) -> Result<PutResponse, ApiError> {
        check_put_request(req)?;
        if req.lease != 0 && !self.lessor.exists(LeaseId(req.lease)) {
            return Err(ApiError::LeaseNotFound);
        }
        let mut writer = self.store.write(storage);
        let resp = put_op(&mut writer, req);
        let (rev, changes) = writer.finish();
        self.after_write(rev, changes, storage.as_ref());
        resp
    }

    /// [`KvStore::apply_put`] of a request the caller gives away: a plain put (no `prev_kv`,
    /// no `ignore_*`) moves its key and value into the stored pair instead of copying them.
    ///
    /// # Errors
    /// As [`KvStore::apply_put`].
    pub fn apply_put_owned(
        &mut self,
        storage: &mut StorageMut<'_>,
        req: PutRequest,
    ) -> Result<PutResponse, ApiError> {
        if req.ignore_value || req.ignore_lease || req.prev_kv {
            return self.apply_put(storage, &req);
        }
        check_put_request(&req)?;
        if req.lease != 0 && !self.lessor.exists(LeaseId(req.lease)) {
            return Err(ApiError::LeaseNotFound);
        }
        let mut writer = self.store.write(storage);
        let rev = writer.put_owned(req.key, req.value, req.lease);
        let (new_rev, changes) = writer.finish();
        self.after_write(new_rev, changes, storage.as_ref());
        Ok(PutResponse { header: header(rev), prev_kv: None })
    }

    /// Applies a delete-range.
    ///
    /// # Errors
    /// `EmptyKey`.
    pub fn apply_delete_range(
        &mut self,
        storage: &mut StorageMut<'_>,
        req: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, ApiError> {
        check_delete_range_request(req)?;
        let mut writer = self.store.write(storage);
        let resp = delete_op(&mut writer, req);
        let (rev, changes) = writer.finish();
        self.after_write(rev, changes, storage.as_ref());
        resp
    }

    /// Applies a transaction: compares (all on the state before it), then the chosen
    /// branches' operations, all changes at one new revision (none if nothing changed).
    /// Unlike etcd's gRPC layer, the `max_txn_ops` bound is not checked here (it is a
    /// member-local setting): check it with [`super::txn::check_txn_request`] before
    /// proposing.
    ///
    /// # Errors
    /// The request checks (`EmptyKey`, `InvalidSortOption`, `ValueProvided`,
    /// `LeaseProvided`, `DuplicateKey`), then for writing transactions `KeyNotFound`,
    /// `LeaseNotFound`, `FutureRev`, `Compacted`; read-only ones report range errors.
    pub fn apply_txn(
        &mut self,
        storage: &mut StorageMut<'_>,
        req: &TxnRequest,
    ) -> Result<TxnResponse, ApiError> {
        if is_txn_read_only(req) {
            return self.read_txn(storage.as_ref(), req);
        }
        check_txn_request(req, usize::MAX)?;
        let mut path = Vec::new();
        {
            let target = ReadTarget { store: &self.store, storage: storage.as_ref() };
            compare_path(&target, req, &mut path);
            let lessor = &self.lessor;
            check_path(&target, req, &path, &|id| lessor.exists(LeaseId(id)))?;
        }
        let mut writer = self.store.write(storage);
        let mut resp = TxnResponse::default();
        let ran = run_path(&mut writer, req, &path, &mut resp);
        let (rev, changes) = writer.finish();
        // The checks above make every operation succeed; a failure here would leave a partial
        // write behind, which etcd treats as fatal too.
        assert!(ran.is_ok(), "mvcc: checked transaction failed: {ran:?}");
        resp.header = header(rev);
        self.after_write(rev, changes, storage.as_ref());
        Ok(resp)
    }

    /// Applies a compaction: reads below `req.revision` fail from now on; the removal of old
    /// records runs in [`KvStore::compaction_step`]s. Watchers still needing compacted history
    /// are canceled by their next catch-up step.
    ///
    /// # Errors
    /// `Compacted` (not above the compacted revision), `FutureRev`.
    pub fn apply_compaction(
        &mut self,
        storage: &mut StorageMut<'_>,
        req: &CompactionRequest,
    ) -> Result<CompactionResponse, ApiError> {
        self.store.compact(storage, req.revision)?;
        Ok(CompactionResponse { header: header(self.store.current_revision()) })
    }

    /// Physical compaction work for up to `max_keys` keys. Call while
    /// [`KvStore::compaction_pending`]; when it reports `Finished(rev)`, a `physical`
    /// compaction request to `rev` may be answered once the overlay batch holding this step's
    /// writes is durable.
    pub fn compaction_step(
        &mut self,
        storage: &mut StorageMut<'_>,
        max_keys: usize,
    ) -> CompactionProgress {
        self.store.compaction_step(storage, max_keys)
    }

    /// True while a physical compaction has work left.
    #[must_use]
    pub fn compaction_pending(&self) -> bool {
        self.store.compaction_pending()
    }

    /// Applies a lease grant (the id was chosen before proposing). On the leader the lease's
    /// clock starts at `now`.
    ///
    /// # Errors
    /// `LeaseNotFound` (id 0), `LeaseTtlTooLarge`, `LeaseExist`.
    pub fn apply_lease_grant(
        &mut self,
        storage: &mut StorageMut<'_>,
        req: &LeaseGrantRequest,
        now: Instant,
    ) -> Result<LeaseGrantResponse, ApiError> {
        let ttl = self.lessor.grant(storage, LeaseId(req.id), req.ttl, now)?;
        Ok(LeaseGrantResponse {
            header: header(self.store.current_revision()),
            id: req.id,
            ttl,
            error: Default::default(),
        })
    }

    /// Applies a lease revoke: the lease goes and its keys are deleted in one revision.
    ///
    /// # Errors
    /// `LeaseNotFound`.
    pub fn apply_lease_revoke(
        &mut self,
        storage: &mut StorageMut<'_>,
        req: &LeaseRevokeRequest,
    ) -> Result<LeaseRevokeResponse, ApiError> {
        let keys = self.lessor.revoke(storage, LeaseId(req.id))?;
        let mut writer = self.store.write(storage);
        for key in &keys {
            writer.delete_range(KeySpan::Single(key));
        }
        let (rev, changes) = writer.finish();
        self.after_write(rev, changes, storage.as_ref());
        Ok(LeaseRevokeResponse { header: header(rev) })
    }

    /// Applies lease checkpoints (remaining TTLs recorded by the leader).
    pub fn apply_lease_checkpoint(
        &mut self,
        storage: &mut StorageMut<'_>,
        req: &LeaseCheckpointRequest,
        now: Instant,
    ) -> LeaseCheckpointResponse {
        for cp in &req.checkpoints {
            self.lessor.checkpoint(storage, LeaseId(cp.id), cp.remaining_ttl, now);
        }
        LeaseCheckpointResponse { header: header(self.store.current_revision()) }
    }

    // ----- leases on the leader -----

    /// A keep-alive on the leader: the lease's clock restarts. An unknown or expired lease
    /// answers TTL 0, as etcd's keep-alive stream does.
    ///
    /// # Errors
    /// `NotLeader` on a follower (forward it).
    pub fn lease_keep_alive(
        &mut self,
        req: &LeaseKeepAliveRequest,
        now: Instant,
    ) -> Result<LeaseKeepAliveResponse, ApiError> {
        let ttl = match self.lessor.renew(LeaseId(req.id), now) {
            Ok(ttl) => ttl,
            Err(ApiError::LeaseNotFound) => 0,
            Err(e) => return Err(e),
        };
        Ok(LeaseKeepAliveResponse {
            header: header(self.store.current_revision()),
            id: req.id,
            ttl,
        })
    }

    /// `LeaseTimeToLive` on the leader; an unknown lease answers TTL -1, as etcd does.
    ///
    /// # Errors
    /// `NotLeader` on a follower (forward it).
    pub fn lease_time_to_live(
        &self,
        req: &LeaseTimeToLiveRequest,
        now: Instant,
    ) -> Result<LeaseTimeToLiveResponse, ApiError> {
        if !self.lessor.is_primary() {
            return Err(ApiError::NotLeader);
        }
        let hdr = header(self.store.current_revision());
        Ok(match self.lessor.time_to_live(LeaseId(req.id), now, req.keys) {
            Some(t) => LeaseTimeToLiveResponse {
                header: hdr,
                id: req.id,
                ttl: t.remaining_secs.unwrap_or(t.granted_ttl),
                granted_ttl: t.granted_ttl,
                keys: t.keys,
            },
            None => LeaseTimeToLiveResponse {
                header: hdr,
                id: req.id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            },
        })
    }

    /// `LeaseLeases`: every lease.
    #[must_use]
    pub fn lease_leases(&self) -> LeaseLeasesResponse {
        let leases = self.lessor.leases().into_iter().map(|id| LeaseStatus { id: id.0 }).collect();
        LeaseLeasesResponse { header: header(self.store.current_revision()), leases }
    }

    // ----- watches -----

    /// A `WatchCreateRequest` on `stream` (see [`WatchHub::create`]).
    pub fn watch_create(&mut self, stream: WatchStreamId, req: &WatchCreateRequest, now: Instant) {
        self.watches.create(stream, req, self.store.current_revision(), now);
    }

    /// A `WatchCancelRequest` on `stream`.
    pub fn watch_cancel(&mut self, stream: WatchStreamId, watch_id: i64) {
        self.watches.cancel(stream, watch_id, self.store.current_revision());
    }

    /// A `WatchProgressRequest` on `stream`.
    pub fn watch_progress(&mut self, stream: WatchStreamId) {
        self.watches.request_progress(stream, self.store.current_revision());
    }

    /// Periodic watch progress notifications due by `now`.
    pub fn watch_timeout(&mut self, now: Instant) {
        self.watches.handle_timeout(now, self.store.current_revision());
    }

    /// One bounded catch-up step for watchers behind the head; true while work remains.
    pub fn sync_watchers(&mut self, storage: StorageRef<'_>) -> bool {
        self.watches.sync_step(&self.store, storage)
    }

    /// The next watch response to send (see [`WatchHub::poll_output`]).
    pub fn poll_watch_output(
        &mut self,
        header: &ResponseHeader,
    ) -> Option<(WatchStreamId, WatchResponse)> {
        self.watches.poll_output(header)
    }
}

/// Checks a range request as etcd's gRPC layer does (re-exported for the Node).
///
/// # Errors
/// `EmptyKey`, `InvalidSortOption`.
pub fn check_range(req: &RangeRequest) -> Result<(), ApiError> {
    check_range_request(req)
}
