//! Passwords without bcrypt in the core.
//!
//! bcrypt is slow on purpose (tens of milliseconds at etcd's default cost 10), so the core never
//! runs it, neither to hash nor to verify:
//!
//! - **Hashing** (`UserAdd`, `UserChangePassword`): the runtime hashes the password with bcrypt
//!   at `--bcrypt-cost` *before* handing the request to the core, and stores the hash with
//!   [`set_hashed_password_for_add`] / [`set_hashed_password_for_change`] (base64 in
//!   `hashed_password`, plaintext cleared), exactly what etcd 3.5+ puts into its Raft entries.
//!   [`user_add_needs_hash`] / [`change_password_needs_hash`] say when (etcd's conditions).
//!   Applying an entry that still carries a plaintext password is refused.
//! - **Verifying** (`Authenticate`): etcd checks the password on the member that received the
//!   request (after a linearizable read barrier), then proposes an `Authenticate` entry without
//!   the password, and retries from the password check if the auth revision moved while the
//!   entry was in flight. Here: [`super::AuthStore::start_authenticate`] returns a
//!   [`VerifyPassword`] output (stored hash + candidate password); the runtime runs bcrypt off
//!   the member's loop and answers [`super::AuthStore::handle_password_verified`]; on success
//!   the core proposes the entry ([`Verdict::Propose`]); once applied,
//!   [`super::AuthStore::handle_authenticate_applied`] replies or starts over.

use super::base64;
use super::AuthRevision;
use crate::error::ApiError;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use oxcd_proto::etcdserverpb as pb;

/// etcd's default `--bcrypt-cost`.
pub const BCRYPT_COST_DEFAULT: u32 = 10;

/// True when etcd would hash the password of this `UserAdd` (every user but a no-password one).
#[must_use]
pub fn user_add_needs_hash(r: &pb::AuthUserAddRequest) -> bool {
    !r.options.as_ref().is_some_and(|o| o.no_password)
}

/// True when etcd would hash the password of this `UserChangePassword` (a non-empty password).
#[must_use]
pub fn change_password_needs_hash(r: &pb::AuthUserChangePasswordRequest) -> bool {
    !r.password.is_empty()
}

/// Stores the bcrypt `hash` of `r.password` into `r` as etcd does: base64 in `hashed_password`,
/// plaintext cleared.
pub fn set_hashed_password_for_add(r: &mut pb::AuthUserAddRequest, hash: &[u8]) {
    r.hashed_password = base64::encode(hash);
    r.password = String::new();
}

/// As [`set_hashed_password_for_add`], for `UserChangePassword`.
pub fn set_hashed_password_for_change(r: &mut pb::AuthUserChangePasswordRequest, hash: &[u8]) {
    r.hashed_password = base64::encode(hash);
    r.password = String::new();
}

/// Identifies one password check among those in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VerifyId(pub u64);

impl fmt::Display for VerifyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "verify#{}", self.0)
    }
}

/// Output: check `password` against the stored bcrypt `hash` off the member's loop, then call
/// `AuthStore::handle_password_verified(id, matches)`.
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct VerifyPassword {
    /// Echoed in the verdict.
    pub id: VerifyId,
    /// The stored hash (bcrypt's `$2a$...` text as bytes; empty for a user created without
    /// one, which never matches).
    pub hash: Vec<u8>,
    /// The password the client sent.
    pub password: String,
}

impl fmt::Debug for VerifyPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyPassword").field("id", &self.id).finish_non_exhaustive()
    }
}

impl fmt::Display for VerifyPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "verify-password {}", self.id)
    }
}

/// What to do after a password verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// The password matched: propose this `Authenticate` entry through Raft; when it is applied
    /// (or fails), call `AuthStore::handle_authenticate_applied` with the same `id`.
    Propose {
        /// The check, to pass back after apply.
        id: VerifyId,
        /// The caller's tag given to `start_authenticate`.
        tag: u64,
        /// The entry: user name, no password, a fresh token prefix.
        request: pb::InternalAuthenticateRequest,
    },
    /// Answer the client with this error.
    Fail {
        /// The caller's tag.
        tag: u64,
        /// `AuthFailed` for a wrong password.
        error: ApiError,
    },
}

/// What to do once the `Authenticate` entry was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Completion {
    /// Answer the client (the caller's tag given to `start_authenticate`).
    Reply {
        /// The caller's tag.
        tag: u64,
        /// The token, or the error.
        result: Result<pb::AuthenticateResponse, ApiError>,
    },
    /// The auth revision moved while the entry was in flight: check the password again (a new
    /// check, same tag).
    Verify(VerifyPassword),
}

#[derive(Clone)]
pub(super) struct Attempt {
    pub(super) tag: u64,
    pub(super) name: String,
    pub(super) password: String,
    pub(super) checked_revision: AuthRevision,
    pub(super) proposed: bool,
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_struct("Attempt")
            .field("tag", &self.tag)
            .field("name", &self.name)
            .field("checked_revision", &self.checked_revision)
            .field("proposed", &self.proposed)
            .finish_non_exhaustive()
    }
}

/// `Authenticate` requests in flight on this member.
#[derive(Clone, Debug)]
pub(super) struct PasswordChecks {
    max: usize,
    next_id: u64,
    pub(super) attempts: BTreeMap<VerifyId, Attempt>,
}

impl PasswordChecks {
    pub(super) fn new(max: usize) -> Self {
        PasswordChecks { max, next_id: 1, attempts: BTreeMap::new() }
    }

    pub(super) fn is_full(&self) -> bool {
        self.attempts.len() >= self.max
    }

    pub(super) fn insert(&mut self, attempt: Attempt) -> VerifyId {
        let id = VerifyId(self.next_id);
        self.next_id += 1;
        self.attempts.insert(id, attempt);
        id
    }
}

impl super::AuthStore {
    /// Starts an `Authenticate` request received by this member (etcd's `CheckPassword`, first
    /// half); `tag` is the caller's, returned with the outcome. Call it after a linearizable read
    /// barrier, as etcd does, so the stored hash is current. May produce a [`VerifyPassword`]
    /// output.
    ///
    /// # Errors
    /// `AuthNotEnabled`; `AuthFailed` for an unknown user; `NoPasswordUser` for a user without
    /// password; `TooManyRequests` when `password_checks_max` checks are in flight.
    pub fn start_authenticate(
        &mut self,
        tag: u64,
        name: &str,
        password: &str,
    ) -> Result<VerifyPassword, ApiError> {
        let hash = self.password_hash_of(name)?;
        if self.password_checks.is_full() {
            return Err(ApiError::TooManyRequests);
        }
        let attempt = Attempt {
            tag,
            name: String::from(name),
            password: String::from(password),
            checked_revision: self.revision,
            proposed: false,
        };
        let id = self.password_checks.insert(attempt);
        Ok(VerifyPassword { id, hash, password: String::from(password) })
    }

    fn password_hash_of(&self, name: &str) -> Result<Vec<u8>, ApiError> {
        if !self.enabled {
            return Err(ApiError::AuthNotEnabled);
        }
        let user = self.users.get(name).ok_or(ApiError::AuthFailed)?;
        if user.options.as_ref().is_some_and(|o| o.no_password) {
            return Err(ApiError::NoPasswordUser);
        }
        Ok(user.password.clone())
    }

    /// The runtime's bcrypt verdict for check `id`. Returns what to do next, or `None` for an
    /// unknown or already decided id. May produce a [`Verdict::Propose`] (an entry to propose,
    /// with a token prefix drawn from `rng`) or a [`Verdict::Fail`] reply.
    pub fn handle_password_verified(
        &mut self,
        id: VerifyId,
        matches: bool,
        rng: &mut crate::rng::Rng,
    ) -> Option<Verdict> {
        let attempt = self.password_checks.attempts.get_mut(&id)?;
        if attempt.proposed {
            return None;
        }
        if !matches {
            let tag = attempt.tag;
            self.password_checks.attempts.remove(&id);
            return Some(Verdict::Fail { tag, error: ApiError::AuthFailed });
        }
        attempt.proposed = true;
        let request = pb::InternalAuthenticateRequest {
            name: attempt.name.clone(),
            password: String::new(),
            simple_token: super::tokens::gen_token_prefix(rng),
        };
        Some(Verdict::Propose { id, tag: attempt.tag, request })
    }

    /// The proposed `Authenticate` entry of check `id` was applied with `result` (or failed to
    /// commit). Returns the reply, or a new [`VerifyPassword`] when the auth revision moved since
    /// the password was checked (etcd retries then); `None` for an unknown id.
    pub fn handle_authenticate_applied(
        &mut self,
        id: VerifyId,
        result: Result<pb::AuthenticateResponse, ApiError>,
    ) -> Option<Completion> {
        let attempt = self.password_checks.attempts.remove(&id)?;
        let tag = attempt.tag;
        let response = match result {
            Err(error) => return Some(Completion::Reply { tag, result: Err(error) }),
            Ok(response) => response,
        };
        if attempt.checked_revision == self.revision {
            return Some(Completion::Reply { tag, result: Ok(response) });
        }
        Some(match self.start_authenticate(tag, &attempt.name, &attempt.password) {
            Ok(verify) => Completion::Verify(verify),
            Err(error) => Completion::Reply { tag, result: Err(error) },
        })
    }

    /// Forgets check `id` (its client went away, or its proposal was dropped).
    pub fn abandon_authenticate(&mut self, id: VerifyId) {
        self.password_checks.attempts.remove(&id);
    }

    /// Password checks in flight.
    #[must_use]
    pub fn password_checks_len(&self) -> usize {
        self.password_checks.attempts.len()
    }
}
