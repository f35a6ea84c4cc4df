//! Permission checks, as etcd runs them: at the API layer for serializable reads, watches,
//! leases and admin calls, and again when applying each committed entry with the identity and
//! auth revision the entry carries. With auth off every check passes.

use super::store::has_root_role;
use super::{AuthInfo, AuthStore};
use crate::error::ApiError;
use crate::LeaseId;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use oxcd_proto::etcdserverpb as pb;
use oxcd_proto::etcdserverpb::request_op::Request;

/// The keys attached to leases, as the lease module knows them.
pub trait LeaseKeys {
    /// Visits every key attached to `lease` until `visit` breaks; returns false when the lease
    /// does not exist.
    fn for_each_key(&self, lease: LeaseId, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>)
        -> bool;
}

/// No leases at all.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLeases;

impl LeaseKeys for NoLeases {
    fn for_each_key(&self, _: LeaseId, _: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> bool {
        false
    }
}

impl LeaseKeys for BTreeMap<LeaseId, Vec<Vec<u8>>> {
    fn for_each_key(
        &self,
        lease: LeaseId,
        visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) -> bool {
        let Some(keys) = self.get(&lease) else { return false };
        for key in keys {
            if visit(key).is_break() {
                break;
            }
        }
        true
    }
}

impl AuthStore {
    fn is_op_permitted(
        &self,
        ai: &AuthInfo,
        key: &[u8],
        range_end: &[u8],
        write: bool,
    ) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        // Revision 0 only comes with no identity at all.
        if ai.revision.0 == 0 {
            return Err(ApiError::UserEmpty);
        }
        if ai.revision < self.revision {
            return Err(ApiError::AuthOldRevision);
        }
        // One entry per existing user: a missing one is an unknown user.
        let access = self.access.get(&ai.username).ok_or(ApiError::PermissionDenied)?;
        if access.root {
            return Ok(());
        }
        let set = if write { &access.perms.write } else { &access.perms.read };
        if set.permits(key, range_end) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied)
        }
    }

    /// Read access to `[key, range_end)` (etcd's `IsRangePermitted`; see [`super::perms`] for
    /// the encoding of `range_end`).
    ///
    /// # Errors
    /// `UserEmpty` without identity, `AuthOldRevision` when `ai` predates the current auth
    /// revision, `PermissionDenied`.
    pub fn check_range(&self, ai: &AuthInfo, key: &[u8], range_end: &[u8]) -> Result<(), ApiError> {
        self.is_op_permitted(ai, key, range_end, false)
    }

    /// Write access to `key` (etcd's `IsPutPermitted`).
    ///
    /// # Errors
    /// As [`AuthStore::check_range`].
    pub fn check_put(&self, ai: &AuthInfo, key: &[u8]) -> Result<(), ApiError> {
        self.is_op_permitted(ai, key, &[], true)
    }

    /// Write access to `[key, range_end)` (etcd's `IsDeleteRangePermitted`).
    ///
    /// # Errors
    /// As [`AuthStore::check_range`].
    pub fn check_delete_range(
        &self,
        ai: &AuthInfo,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), ApiError> {
        self.is_op_permitted(ai, key, range_end, true)
    }

    /// Root-only operations (etcd's `IsAdminPermitted`): every auth-changing request, compaction,
    /// defragment, snapshot, hash, hash-KV, alarm activate/deactivate, move-leader, downgrade and
    /// membership changes. The auth revision is not checked here, as in etcd.
    ///
    /// # Errors
    /// `UserEmpty` without identity, `UserNotFound`, `PermissionDenied` without the root role.
    pub fn check_admin(&self, ai: &AuthInfo) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        if ai.username.is_empty() {
            return Err(ApiError::UserEmpty);
        }
        let user = self.users.get(&ai.username).ok_or(ApiError::UserNotFound)?;
        if has_root_role(user) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied)
        }
    }

    /// Calls that only need some identity while auth is on (etcd's `requireAuthInfo`):
    /// maintenance status, alarm list, lease time-to-live.
    ///
    /// # Errors
    /// `UserEmpty` without identity.
    pub fn require_auth_info(&self, ai: &AuthInfo) -> Result<(), ApiError> {
        if self.enabled && ai.is_anonymous() {
            return Err(ApiError::UserEmpty);
        }
        Ok(())
    }

    /// After a serializable read was served from this member's state: the read fails with
    /// `AuthOldRevision` if the auth revision moved since `ai` was resolved (etcd's
    /// `doSerialize` post-check).
    ///
    /// # Errors
    /// `AuthOldRevision`.
    pub fn check_not_stale(&self, ai: &AuthInfo) -> Result<(), ApiError> {
        if ai.revision.0 != 0 && ai.revision != self.revision {
            return Err(ApiError::AuthOldRevision);
        }
        Ok(())
    }

    /// A `Range` request.
    ///
    /// # Errors
    /// As [`AuthStore::check_range`].
    pub fn check_range_request(&self, ai: &AuthInfo, r: &pb::RangeRequest) -> Result<(), ApiError> {
        self.check_range(ai, &r.key, &r.range_end)
    }

    /// A `Put` request: write on the key, write on every key already attached to the request's
    /// lease (a user who could not revoke the lease may not attach to it), read on the key when
    /// the previous value is asked for.
    ///
    /// # Errors
    /// As [`AuthStore::check_range`].
    pub fn check_put_request(
        &self,
        ai: &AuthInfo,
        r: &pb::PutRequest,
        leases: &dyn LeaseKeys,
    ) -> Result<(), ApiError> {
        self.check_put(ai, &r.key)?;
        self.check_lease_puts(ai, LeaseId(r.lease), leases)?;
        if r.prev_kv {
            self.check_range(ai, &r.key, &[])?;
        }
        Ok(())
    }

    /// A `DeleteRange` request: write on the range, read too when previous values are asked for.
    ///
    /// # Errors
    /// As [`AuthStore::check_range`].
    pub fn check_delete_range_request(
        &self,
        ai: &AuthInfo,
        r: &pb::DeleteRangeRequest,
    ) -> Result<(), ApiError> {
        self.check_delete_range(ai, &r.key, &r.range_end)?;
        if r.prev_kv {
            self.check_range(ai, &r.key, &r.range_end)?;
        }
        Ok(())
    }

    /// A `Txn` request: read on every compared range, then every operation of both branches
    /// (nested transactions included), whichever branch will run.
    ///
    /// # Errors
    /// As [`AuthStore::check_range`].
    pub fn check_txn(
        &self,
        ai: &AuthInfo,
        r: &pb::TxnRequest,
        leases: &dyn LeaseKeys,
    ) -> Result<(), ApiError> {
        for c in &r.compare {
            self.check_range(ai, &c.key, &c.range_end)?;
        }
        self.check_ops(ai, &r.success, leases)?;
        self.check_ops(ai, &r.failure, leases)
    }

    fn check_ops(
        &self,
        ai: &AuthInfo,
        ops: &[pb::RequestOp],
        leases: &dyn LeaseKeys,
    ) -> Result<(), ApiError> {
        for op in ops {
            match &op.request {
                None => {}
                Some(Request::RequestRange(r)) => self.check_range(ai, &r.key, &r.range_end)?,
                Some(Request::RequestPut(r)) => self.check_put_request(ai, r, leases)?,
                Some(Request::RequestDeleteRange(r)) => {
                    // Inside a transaction etcd checks the read first.
                    if r.prev_kv {
                        self.check_range(ai, &r.key, &r.range_end)?;
                    }
                    self.check_delete_range(ai, &r.key, &r.range_end)?;
                }
                Some(Request::RequestTxn(t)) => self.check_txn(ai, t, leases)?,
            }
        }
        Ok(())
    }

    /// Creating a watch: read on the watched range.
    ///
    /// # Errors
    /// As [`AuthStore::check_range`].
    pub fn check_watch(&self, ai: &AuthInfo, r: &pb::WatchCreateRequest) -> Result<(), ApiError> {
        self.check_range(ai, &r.key, &r.range_end)
    }

    /// etcd's `checkLeasePuts`: nothing to check for a lease that does not exist; a root user
    /// may; anyone else needs write access to every key attached.
    fn check_lease_puts(
        &self,
        ai: &AuthInfo,
        lease: LeaseId,
        leases: &dyn LeaseKeys,
    ) -> Result<(), ApiError> {
        if lease == LeaseId::NONE {
            return Ok(());
        }
        let mut admin: Option<bool> = None;
        let mut result = Ok(());
        leases.for_each_key(lease, &mut |key| {
            if *admin.get_or_insert_with(|| self.check_admin(ai).is_ok()) {
                return ControlFlow::Break(());
            }
            match self.check_put(ai, key) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    result = Err(e);
                    ControlFlow::Break(())
                }
            }
        });
        result
    }

    /// `LeaseRevoke` (checked when applied): as attaching, the user needs write access to every
    /// key attached, unless root.
    ///
    /// # Errors
    /// As [`AuthStore::check_range`].
    pub fn check_lease_revoke(
        &self,
        ai: &AuthInfo,
        lease: LeaseId,
        leases: &dyn LeaseKeys,
    ) -> Result<(), ApiError> {
        self.check_lease_puts(ai, lease, leases)
    }

    /// `LeaseKeepAlive` (etcd's `checkLeaseRenew`): an identity is needed; root may; anyone else
    /// needs write access to every key attached.
    ///
    /// # Errors
    /// `UserEmpty` without identity, else as [`AuthStore::check_range`].
    pub fn check_lease_keep_alive(
        &self,
        ai: &AuthInfo,
        lease: LeaseId,
        leases: &dyn LeaseKeys,
    ) -> Result<(), ApiError> {
        self.check_lease_keys(ai, lease, leases, true)
    }

    /// `LeaseTimeToLive` with `keys: true` (etcd checks nothing else): root may; anyone else
    /// needs read access to every key attached.
    ///
    /// # Errors
    /// `UserEmpty` without identity, else as [`AuthStore::check_range`].
    pub fn check_lease_time_to_live(
        &self,
        ai: &AuthInfo,
        lease: LeaseId,
        leases: &dyn LeaseKeys,
    ) -> Result<(), ApiError> {
        self.check_lease_keys(ai, lease, leases, false)
    }

    /// `LeaseLeases`: root may; anyone else needs read access to every key of every lease.
    ///
    /// # Errors
    /// `UserEmpty` without identity, else as [`AuthStore::check_range`].
    pub fn check_lease_leases(
        &self,
        ai: &AuthInfo,
        ids: impl IntoIterator<Item = LeaseId>,
        leases: &dyn LeaseKeys,
    ) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        self.require_auth_info(ai)?;
        if self.check_admin(ai).is_ok() {
            return Ok(());
        }
        for id in ids {
            self.visit_lease_keys(ai, id, leases, false)?;
        }
        Ok(())
    }

    fn check_lease_keys(
        &self,
        ai: &AuthInfo,
        lease: LeaseId,
        leases: &dyn LeaseKeys,
        write: bool,
    ) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        self.require_auth_info(ai)?;
        if self.check_admin(ai).is_ok() {
            return Ok(());
        }
        self.visit_lease_keys(ai, lease, leases, write)
    }

    fn visit_lease_keys(
        &self,
        ai: &AuthInfo,
        lease: LeaseId,
        leases: &dyn LeaseKeys,
        write: bool,
    ) -> Result<(), ApiError> {
        let mut result = Ok(());
        leases.for_each_key(lease, &mut |key| {
            let check =
                if write { self.check_put(ai, key) } else { self.check_range(ai, key, &[]) };
            match check {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    result = Err(e);
                    ControlFlow::Break(())
                }
            }
        });
        result
    }

    /// `UserGet` when applied: root, or the user asking about itself.
    ///
    /// # Errors
    /// The error of [`AuthStore::check_admin`] otherwise.
    pub fn check_user_get(&self, ai: &AuthInfo, name: &str) -> Result<(), ApiError> {
        match self.check_admin(ai) {
            Err(e) if name != ai.username => Err(e),
            _ => Ok(()),
        }
    }

    /// `RoleGet` when applied: root, or a user holding that role.
    ///
    /// # Errors
    /// The error of [`AuthStore::check_admin`] otherwise.
    pub fn check_role_get(&self, ai: &AuthInfo, role: &str) -> Result<(), ApiError> {
        match self.check_admin(ai) {
            Err(e) if !self.has_role(&ai.username, role) => Err(e),
            _ => Ok(()),
        }
    }
}
