//! etcd's auth model: users, roles, range permissions, the root user and role, auth enable and
//! disable, the auth revision, simple tokens, and the permission checks of every request.
//!
//! # Replicated and member-local state
//!
//! [`AuthStore`] holds both:
//! - **replicated**: users (bcrypt hash, roles, the no-password option), roles (permissions),
//!   the enabled flag and the auth revision. They change only in [`AuthStore::apply`] (and the
//!   methods it calls), applied for committed entries in log order on every member, and are
//!   written to `Table::Auth` through the node's [`Overlay`](crate::backend::Overlay)
//!   ([`codec`] is the one place that encodes them, protobuf `authpb` records as etcd stores
//!   them). [`AuthStore::load`] reads them back on start and [`AuthStore::recover`] after a
//!   snapshot.
//! - **member-local**: simple tokens ([`tokens`]) and password checks in flight
//!   ([`password`]); nothing of them is persisted.
//!
//! # Driving it (what the node does)
//!
//! 1. Each client request: `identify(now, token, cert_cn, applied)` gives the request's
//!    [`AuthInfo`] (or asks to wait for an index, or fails with `InvalidAuthToken`). Serializable
//!    reads, watches and lease calls are checked right away with the `check_*` methods (then
//!    [`AuthStore::check_not_stale`] after a serializable read); admin calls with
//!    [`AuthStore::check_admin`]. Requests that go through Raft carry the identity's user name
//!    and auth revision in their entry header.
//! 2. `UserAdd` / `UserChangePassword`: the runtime hashes the password first
//!    ([`password`]); the node proposes the hashed request.
//! 3. `Authenticate`: after a read barrier, [`AuthStore::start_authenticate`] → output
//!    [`VerifyPassword`] → runtime bcrypt → [`AuthStore::handle_password_verified`] → propose the
//!    [`Verdict::Propose`] entry → when applied, [`AuthStore::handle_authenticate_applied`].
//! 4. Applying each committed entry: KV operations with the `check_*_request` methods and the
//!    entry header's identity; auth requests with [`AuthStore::apply`] (which runs the admin gate).
//! 5. Timers: [`AuthStore::poll_timeout`] / [`AuthStore::handle_timeout`] sweep expired tokens.
//!
//! With auth off every check passes and `identify` gives the anonymous identity.

pub mod base64;
mod checks;
pub mod codec;
pub mod password;
pub mod perms;
mod requests;
mod store;
pub mod tokens;

#[cfg(test)]
mod check_tests;
#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod tests;

pub use checks::{LeaseKeys, NoLeases};
pub use password::{Completion, Verdict, VerifyId, VerifyPassword};
pub use requests::{AuthRequest, AuthResponse};
pub use store::{AuthConfig, AuthConfigError, AuthStore, Identified, ROOT_ROLE, ROOT_USER};

use alloc::string::String;
use core::fmt;

/// The auth store's revision: counts changes to users, roles and permissions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuthRevision(pub u64);

impl fmt::Display for AuthRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who a request runs as, and the auth revision its identity was resolved at (etcd's
/// `AuthInfo`; a Raft entry carries both in `RequestHeader.username` / `auth_revision`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthInfo {
    /// The user name; empty for none.
    pub username: String,
    /// The auth revision when the identity was resolved; 0 for none.
    pub revision: AuthRevision,
}

impl AuthInfo {
    /// No identity: what a request without token or certificate gets.
    #[must_use]
    pub fn anonymous() -> Self {
        AuthInfo::default()
    }

    /// The identity a Raft entry's header carries (`RequestHeader.username`, `auth_revision`).
    #[must_use]
    pub fn from_header(username: &str, auth_revision: u64) -> Self {
        AuthInfo { username: String::from(username), revision: AuthRevision(auth_revision) }
    }

    /// True for the anonymous identity.
    #[must_use]
    pub fn is_anonymous(&self) -> bool {
        self.username.is_empty() && self.revision.0 == 0
    }
}

impl fmt::Display for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_anonymous() {
            f.write_str("anonymous")
        } else {
            write!(f, "{}@{}", self.username, self.revision)
        }
    }
}
