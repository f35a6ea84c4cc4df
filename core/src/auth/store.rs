//! The auth store: users, roles, the enabled flag and the auth revision (replicated: changed only
//! by applying committed entries, identically on every member), plus this member's simple tokens
//! and password checks in flight (member-local).

use super::codec;
use super::password::PasswordChecks;
use super::perms::{is_valid_permission_range, UserPerms, PERM_READWRITE};
use super::tokens::{SimpleTokens, TokenLookup};
use super::{base64, AuthInfo, AuthRevision};
use crate::backend::{Backend, Overlay};
use crate::codec::DecodeError;
use crate::error::ApiError;
use crate::time::Instant;
use crate::LogIndex;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;
use oxcd_proto::authpb::{Permission, Role, User, UserAddOptions};
use oxcd_proto::etcdserverpb as pb;

/// The user that always has every right once auth is on.
pub const ROOT_USER: &str = "root";
/// The role that grants every right; it needs no role record.
pub const ROOT_ROLE: &str = "root";

/// The member-local limits of the auth store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// etcd's `--auth-token-ttl` (zero: the default, 300 s).
    pub token_ttl: Duration,
    /// Simple tokens kept at most; when full, the one closest to expiry is dropped.
    pub tokens_max: usize,
    /// `Authenticate` requests whose password check is in flight, at most.
    pub password_checks_max: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_ttl: SimpleTokens::TTL_DEFAULT,
            tokens_max: 100_000,
            password_checks_max: 1024,
        }
    }
}

/// A configuration that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthConfigError {
    /// `tokens_max` is zero.
    NoTokens,
    /// `password_checks_max` is zero.
    NoPasswordChecks,
}

impl AuthConfig {
    /// Checks the limits.
    ///
    /// # Errors
    /// A zero limit.
    pub fn validate(&self) -> Result<(), AuthConfigError> {
        if self.tokens_max == 0 {
            return Err(AuthConfigError::NoTokens);
        }
        if self.password_checks_max == 0 {
            return Err(AuthConfigError::NoPasswordChecks);
        }
        Ok(())
    }
}

/// The result of resolving a request's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identified {
    /// The request runs as this identity ([`AuthInfo::anonymous`] when auth is off or no
    /// credential was given).
    Ready(AuthInfo),
    /// The token names a log index this member has not applied yet: resolve again once it has
    /// (etcd blocks the request until then, or until its deadline).
    WaitForApplied(LogIndex),
}

/// This member's auth state.
pub struct AuthStore {
    pub(super) enabled: bool,
    pub(super) revision: AuthRevision,
    pub(super) users: BTreeMap<String, User>,
    pub(super) roles: BTreeMap<String, Role>,
    /// Per user: the root role, and the merged permissions (etcd's `rangePermCache`).
    pub(super) access: BTreeMap<String, UserAccess>,
    pub(super) tokens: SimpleTokens,
    pub(super) password_checks: PasswordChecks,
}

impl fmt::Debug for AuthStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names and counts only: no password hashes, no tokens.
        f.debug_struct("AuthStore")
            .field("enabled", &self.enabled)
            .field("revision", &self.revision)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("roles", &self.roles.keys().collect::<Vec<_>>())
            .field("tokens", &self.tokens.len())
            .field("password_checks", &self.password_checks.attempts.len())
            .finish()
    }
}

impl AuthStore {
    /// An empty store: auth off, revision 1, no users or roles.
    ///
    /// # Panics
    /// When `config` does not validate.
    #[must_use]
    pub fn new(config: &AuthConfig) -> Self {
        assert_eq!(config.validate(), Ok(()), "invalid auth configuration");
        AuthStore {
            enabled: false,
            revision: AuthRevision(1),
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
            access: BTreeMap::new(),
            tokens: SimpleTokens::new(config.token_ttl, config.tokens_max),
            password_checks: PasswordChecks::new(config.password_checks_max),
        }
    }

    /// The store as storage (plus the overlay's pending writes) holds it.
    ///
    /// # Errors
    /// A record that does not decode: the data is corrupt.
    ///
    /// # Panics
    /// When `config` does not validate.
    pub fn load(
        config: &AuthConfig,
        backend: &dyn Backend,
        overlay: &Overlay,
    ) -> Result<Self, DecodeError> {
        let mut store = AuthStore::new(config);
        store.recover(backend, overlay)?;
        Ok(store)
    }

    /// Replaces the replicated state with what storage holds, after a snapshot was installed.
    /// Tokens survive when auth stays on, as in etcd, and are dropped when it is off.
    ///
    /// # Errors
    /// A record that does not decode; the store is then unchanged.
    pub fn recover(&mut self, backend: &dyn Backend, overlay: &Overlay) -> Result<(), DecodeError> {
        let loaded = codec::load(backend, overlay)?;
        self.enabled = loaded.enabled;
        self.revision = AuthRevision(loaded.revision);
        self.users = loaded.users;
        self.roles = loaded.roles;
        self.refresh_all();
        if !self.enabled {
            self.tokens.clear();
        }
        Ok(())
    }

    /// True when auth is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The auth revision: bumped by every change to users, roles or permissions and by auth
    /// disable (not by auth enable, as in etcd). Requests carry the revision they were admitted
    /// at (the Raft entry's `RequestHeader.auth_revision`); applying them under a newer one
    /// fails with `AuthOldRevision`.
    #[must_use]
    pub fn revision(&self) -> AuthRevision {
        self.revision
    }

    /// A user by name.
    #[must_use]
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// A role by name.
    #[must_use]
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// True when `user` exists and has `role` (etcd's `HasRole`).
    #[must_use]
    pub fn has_role(&self, user: &str, role: &str) -> bool {
        self.users.get(user).is_some_and(|u| u.roles.iter().any(|r| r == role))
    }

    /// The identity of a request, from its token or else its client certificate. `cert_cn` is
    /// the verified client certificate's Common Name, to be passed only when client-certificate
    /// auth is on (`--client-cert-auth`) and the request did not come through the JSON gateway
    /// (etcd ignores the CN there). `applied` is this member's applied index. A token that is
    /// valid restarts its TTL.
    ///
    /// # Errors
    /// `InvalidAuthToken` for a token that is unknown, expired or malformed.
    pub fn identify(
        &mut self,
        now: Instant,
        token: Option<&str>,
        cert_cn: Option<&str>,
        applied: LogIndex,
    ) -> Result<Identified, ApiError> {
        if !self.enabled {
            return Ok(Identified::Ready(AuthInfo::anonymous()));
        }
        if let Some(token) = token {
            let revision = self.revision;
            return match self.tokens.lookup(now, token, applied) {
                TokenLookup::Valid(user) => {
                    Ok(Identified::Ready(AuthInfo { username: String::from(user), revision }))
                }
                TokenLookup::Invalid => Err(ApiError::InvalidAuthToken),
                TokenLookup::WaitForApplied(index) => Ok(Identified::WaitForApplied(index)),
            };
        }
        Ok(Identified::Ready(match cert_cn {
            Some(cn) => self.auth_info_from_cert(cn),
            None => AuthInfo::anonymous(),
        }))
    }

    /// The identity a verified client certificate gives (etcd: its Common Name is the user name,
    /// at the current auth revision). Call only when client-certificate auth is on and no token
    /// was sent.
    #[must_use]
    pub fn auth_info_from_cert(&self, common_name: &str) -> AuthInfo {
        AuthInfo { username: String::from(common_name), revision: self.revision }
    }

    /// Drops the tokens expired at `now` (the driver calls this at [`AuthStore::poll_timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tokens.expire(now);
    }

    /// When the next token expires; `None` without tokens. Invalidated by every call that can
    /// create or use a token.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tokens.next_expiry()
    }

    /// Number of tokens this member holds.
    #[must_use]
    pub fn tokens_len(&self) -> usize {
        self.tokens.len()
    }

    fn commit_revision(&mut self, overlay: &mut Overlay) {
        self.revision = AuthRevision(self.revision.0 + 1);
        codec::put_revision(overlay, self.revision.0);
    }

    /// Rebuilds every user's merged permissions (etcd rebuilds them all on every change; here
    /// only after loading and enabling, and per affected user otherwise, with the same result).
    pub(super) fn refresh_all(&mut self) {
        let names: Vec<String> = self.users.keys().cloned().collect();
        self.access = BTreeMap::new();
        for name in names {
            self.refresh_user(&name);
        }
    }

    /// Rebuilds one user's merged permissions (drops them when the user is gone).
    fn refresh_user(&mut self, name: &str) {
        let Some(user) = self.users.get(name) else {
            self.access.remove(name);
            return;
        };
        let roles = user.roles.iter().filter_map(|r| self.roles.get(r));
        let perms = UserPerms::merge(
            roles
                .flat_map(|role| role.key_permission.iter())
                .map(|p| (p.perm_type, &p.key[..], &p.range_end[..])),
        );
        let access = UserAccess { root: has_root_role(user), perms };
        self.access.insert(String::from(name), access);
    }

    fn holders_of(&self, role: &str) -> Vec<String> {
        self.users.iter().filter(|(_, u)| holds(u, role)).map(|(n, _)| n.clone()).collect()
    }

    fn refresh_holders(&mut self, holders: &[String]) {
        for name in holders {
            self.refresh_user(name);
        }
    }

    fn put_user(&mut self, overlay: &mut Overlay, name: &str, user: User) {
        codec::put_user(overlay, name, &user);
        self.users.insert(String::from(name), user);
    }

    fn put_role(&mut self, overlay: &mut Overlay, name: &str, role: Role) {
        codec::put_role(overlay, name, &role);
        self.roles.insert(String::from(name), role);
    }

    /// `AuthEnable`: needs the root user holding the root role. Enabling twice is a no-op; the
    /// revision does not change.
    ///
    /// # Errors
    /// `RootUserNotExist`, `RootRoleNotExist`.
    pub fn auth_enable(&mut self, overlay: &mut Overlay) -> Result<(), ApiError> {
        if self.enabled {
            return Ok(());
        }
        let root = self.users.get(ROOT_USER).ok_or(ApiError::RootUserNotExist)?;
        if !has_root_role(root) {
            return Err(ApiError::RootRoleNotExist);
        }
        codec::put_enabled(overlay, true);
        self.enabled = true;
        self.refresh_all();
        Ok(())
    }

    /// `AuthDisable`: bumps the revision and drops every token. A no-op when already off.
    pub fn auth_disable(&mut self, overlay: &mut Overlay) {
        if !self.enabled {
            return;
        }
        codec::put_enabled(overlay, false);
        self.commit_revision(overlay);
        self.enabled = false;
        self.tokens.clear();
    }

    /// Applies an `Authenticate` entry (index `index`, token prefix `prefix` chosen by the
    /// proposer): records the token `<prefix>.<index>` on this member and returns it.
    ///
    /// # Errors
    /// `AuthNotEnabled`; `AuthFailed` for an unknown user or a user without password.
    pub fn authenticate(
        &mut self,
        now: Instant,
        index: LogIndex,
        name: &str,
        prefix: &str,
    ) -> Result<String, ApiError> {
        if !self.enabled {
            return Err(ApiError::AuthNotEnabled);
        }
        let user = self.users.get(name).ok_or(ApiError::AuthFailed)?;
        if is_no_password(user) {
            return Err(ApiError::AuthFailed);
        }
        Ok(self.tokens.assign(now, prefix, index, name))
    }

    /// `UserAdd`. The password must arrive hashed (`hashed_password`, base64 of the bcrypt hash,
    /// set by the runtime before proposing; see [`super::password`]).
    ///
    /// # Errors
    /// `UserEmpty`, `UserAlreadyExist`; `NoPasswordUser` when `hashed_password` is not base64
    /// (etcd's answer); `InvalidAuthMgmt` when a plaintext password reached the log.
    pub fn user_add(
        &mut self,
        overlay: &mut Overlay,
        r: &pb::AuthUserAddRequest,
    ) -> Result<(), ApiError> {
        if r.name.is_empty() {
            return Err(ApiError::UserEmpty);
        }
        if self.users.contains_key(&r.name) {
            return Err(ApiError::UserAlreadyExist);
        }
        let options = r.options.clone().unwrap_or(UserAddOptions { no_password: false });
        let password = if options.no_password {
            Vec::new()
        } else {
            select_password(&r.password, &r.hashed_password)?
        };
        let user = User {
            name: r.name.clone().into_bytes(),
            password,
            roles: Vec::new(),
            options: Some(options),
        };
        self.put_user(overlay, &r.name, user);
        self.commit_revision(overlay);
        self.refresh_user(&r.name);
        Ok(())
    }

    /// `UserDelete`; drops the user's tokens.
    ///
    /// # Errors
    /// `InvalidAuthMgmt` for root while auth is on; `UserNotFound`.
    pub fn user_delete(&mut self, overlay: &mut Overlay, name: &str) -> Result<(), ApiError> {
        if self.enabled && name == ROOT_USER {
            return Err(ApiError::InvalidAuthMgmt);
        }
        if self.users.remove(name).is_none() {
            return Err(ApiError::UserNotFound);
        }
        codec::delete_user(overlay, name);
        self.commit_revision(overlay);
        self.refresh_user(name);
        self.tokens.invalidate_user(name);
        Ok(())
    }

    /// `UserChangePassword` (hashed, as [`AuthStore::user_add`]); a user without password keeps
    /// none. Drops the user's tokens.
    ///
    /// # Errors
    /// `UserNotFound`, `NoPasswordUser`, `InvalidAuthMgmt` as for [`AuthStore::user_add`].
    pub fn user_change_password(
        &mut self,
        overlay: &mut Overlay,
        r: &pb::AuthUserChangePasswordRequest,
    ) -> Result<(), ApiError> {
        let user = self.users.get(&r.name).ok_or(ApiError::UserNotFound)?;
        let password = if is_no_password(user) {
            Vec::new()
        } else {
            select_password(&r.password, &r.hashed_password)?
        };
        let updated = User { password, ..user.clone() };
        // Roles are unchanged, and so are the merged permissions.
        self.put_user(overlay, &r.name, updated);
        self.commit_revision(overlay);
        self.tokens.invalidate_user(&r.name);
        Ok(())
    }

    /// `UserGrantRole`. The root role needs no role record; granting a role the user already has
    /// changes nothing (not even the revision).
    ///
    /// # Errors
    /// `UserNotFound`, `RoleNotFound`.
    pub fn user_grant_role(
        &mut self,
        overlay: &mut Overlay,
        user: &str,
        role: &str,
    ) -> Result<(), ApiError> {
        let mut updated = self.users.get(user).ok_or(ApiError::UserNotFound)?.clone();
        if role != ROOT_ROLE && !self.roles.contains_key(role) {
            return Err(ApiError::RoleNotFound);
        }
        // Roles are kept sorted, as etcd keeps them.
        let at = updated.roles.partition_point(|r| r.as_str() < role);
        if updated.roles.get(at).is_some_and(|r| r == role) {
            return Ok(());
        }
        updated.roles.insert(at, String::from(role));
        self.put_user(overlay, user, updated);
        self.commit_revision(overlay);
        self.refresh_user(user);
        Ok(())
    }

    /// `UserGet`: the user's roles.
    ///
    /// # Errors
    /// `UserNotFound`.
    pub fn user_get(&self, name: &str) -> Result<Vec<String>, ApiError> {
        self.users.get(name).map(|u| u.roles.clone()).ok_or(ApiError::UserNotFound)
    }

    /// `UserList`: every user name, in byte order.
    #[must_use]
    pub fn user_list(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// `UserRevokeRole`.
    ///
    /// # Errors
    /// `InvalidAuthMgmt` for root's root role while auth is on; `UserNotFound`; `RoleNotGranted`.
    pub fn user_revoke_role(
        &mut self,
        overlay: &mut Overlay,
        name: &str,
        role: &str,
    ) -> Result<(), ApiError> {
        if self.enabled && name == ROOT_USER && role == ROOT_ROLE {
            return Err(ApiError::InvalidAuthMgmt);
        }
        let mut updated = self.users.get(name).ok_or(ApiError::UserNotFound)?.clone();
        let before = updated.roles.len();
        updated.roles.retain(|r| r != role);
        if updated.roles.len() == before {
            return Err(ApiError::RoleNotGranted);
        }
        self.put_user(overlay, name, updated);
        self.commit_revision(overlay);
        self.refresh_user(name);
        Ok(())
    }

    /// `RoleAdd`.
    ///
    /// # Errors
    /// `RoleEmpty`, `RoleAlreadyExist`.
    pub fn role_add(&mut self, overlay: &mut Overlay, name: &str) -> Result<(), ApiError> {
        if name.is_empty() {
            return Err(ApiError::RoleEmpty);
        }
        if self.roles.contains_key(name) {
            return Err(ApiError::RoleAlreadyExist);
        }
        self.put_role(
            overlay,
            name,
            Role { name: name.as_bytes().to_vec(), key_permission: Vec::new() },
        );
        self.commit_revision(overlay);
        Ok(())
    }

    /// `RoleGet`: the role's permissions; the root role reports read-write on every key.
    ///
    /// # Errors
    /// `RoleNotFound` (also for root when no root role record exists, as etcd).
    pub fn role_get(&self, name: &str) -> Result<Vec<Permission>, ApiError> {
        let role = self.roles.get(name).ok_or(ApiError::RoleNotFound)?;
        if name == ROOT_ROLE {
            return Ok(alloc::vec![Permission {
                perm_type: PERM_READWRITE,
                key: Vec::new(),
                range_end: alloc::vec![0]
            }]);
        }
        Ok(role.key_permission.clone())
    }

    /// `RoleList`: every role name, in byte order.
    #[must_use]
    pub fn role_list(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    /// `RoleDelete`: also revokes the role from every user holding it.
    ///
    /// # Errors
    /// `InvalidAuthMgmt` for root while auth is on; `RoleNotFound`.
    pub fn role_delete(&mut self, overlay: &mut Overlay, name: &str) -> Result<(), ApiError> {
        if self.enabled && name == ROOT_ROLE {
            return Err(ApiError::InvalidAuthMgmt);
        }
        if self.roles.remove(name).is_none() {
            return Err(ApiError::RoleNotFound);
        }
        codec::delete_role(overlay, name);
        let holders = self.holders_of(name);
        for holder in &holders {
            if let Some(mut user) = self.users.get(holder).cloned() {
                user.roles.retain(|r| r != name);
                self.put_user(overlay, holder, user);
            }
        }
        self.commit_revision(overlay);
        self.refresh_holders(&holders);
        Ok(())
    }

    /// `RoleGrantPermission`: adds the permission, or changes the type of the one with the same
    /// key and range end. Like etcd, only the first permission whose key is not below the new
    /// one's is compared, and the list is kept sorted by key (stably).
    ///
    /// # Errors
    /// `PermissionNotGiven`; `InvalidAuthMgmt` for an empty key or a range end not after the key
    /// (other than `[0]`, open-ended); `RoleNotFound`.
    pub fn role_grant_permission(
        &mut self,
        overlay: &mut Overlay,
        name: &str,
        perm: Option<&Permission>,
    ) -> Result<(), ApiError> {
        let perm = perm.ok_or(ApiError::PermissionNotGiven)?;
        if !is_valid_permission_range(&perm.key, &perm.range_end) {
            return Err(ApiError::InvalidAuthMgmt);
        }
        let mut role = self.roles.get(name).ok_or(ApiError::RoleNotFound)?.clone();
        let at = role.key_permission.partition_point(|p| p.key < perm.key);
        match role.key_permission.get_mut(at) {
            Some(existing) if existing.key == perm.key && existing.range_end == perm.range_end => {
                existing.perm_type = perm.perm_type;
            }
            _ => {
                role.key_permission.push(perm.clone());
                role.key_permission.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        self.put_role(overlay, name, role);
        self.commit_revision(overlay);
        self.refresh_holders(&self.holders_of(name));
        Ok(())
    }

    /// `RoleRevokePermission`: removes every permission with exactly this key and range end.
    ///
    /// # Errors
    /// `RoleNotFound`, `PermissionNotGranted`.
    pub fn role_revoke_permission(
        &mut self,
        overlay: &mut Overlay,
        name: &str,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), ApiError> {
        let mut role = self.roles.get(name).ok_or(ApiError::RoleNotFound)?.clone();
        let before = role.key_permission.len();
        role.key_permission.retain(|p| p.key != key || p.range_end != range_end);
        if role.key_permission.len() == before {
            return Err(ApiError::PermissionNotGranted);
        }
        self.put_role(overlay, name, role);
        self.commit_revision(overlay);
        self.refresh_holders(&self.holders_of(name));
        Ok(())
    }
}

/// What the checks need of one user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct UserAccess {
    /// Holds the root role: every check passes.
    pub(super) root: bool,
    /// The merged permissions of all its roles.
    pub(super) perms: UserPerms,
}

/// True when `user` holds `role`; roles are kept sorted (etcd searches them the same way).
fn holds(user: &User, role: &str) -> bool {
    user.roles.binary_search_by(|r| r.as_str().cmp(role)).is_ok()
}

pub(super) fn has_root_role(user: &User) -> bool {
    holds(user, ROOT_ROLE)
}

fn is_no_password(user: &User) -> bool {
    user.options.as_ref().is_some_and(|o| o.no_password)
}

/// etcd's `selectPassword`, without the bcrypt branch: oxcd never proposes plaintext.
fn select_password(password: &str, hashed: &str) -> Result<Vec<u8>, ApiError> {
    if !password.is_empty() && hashed.is_empty() {
        return Err(ApiError::InvalidAuthMgmt);
    }
    base64::decode(hashed).ok_or(ApiError::NoPasswordUser)
}
