//! Table-driven tests of the auth rules: every error of every request, the revision, the admin
//! gate; and the environment the other auth tests share.

use super::*;
use crate::backend::{MemBackend, Overlay};
use crate::time::Instant;
use crate::{ApiError, LogIndex};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use oxcd_proto::authpb::{Permission, UserAddOptions};
use oxcd_proto::etcdserverpb as pb;

/// A store with its storage, applying requests as committed entries in order.
pub(super) struct Env {
    pub(super) store: AuthStore,
    pub(super) overlay: Overlay,
    pub(super) backend: MemBackend,
    pub(super) config: AuthConfig,
    pub(super) now: Instant,
    pub(super) index: LogIndex,
    pub(super) seq: u64,
}

impl Env {
    pub(super) fn new() -> Self {
        let config = AuthConfig::default();
        Env {
            store: AuthStore::new(&config),
            overlay: Overlay::new(),
            backend: MemBackend::new(),
            config,
            now: Instant::ZERO,
            index: LogIndex(0),
            seq: 0,
        }
    }

    pub(super) fn apply_as(
        &mut self,
        ai: &AuthInfo,
        req: AuthRequest,
    ) -> Result<AuthResponse, ApiError> {
        self.index = self.index.next();
        self.store.apply(&mut self.overlay, self.now, self.index, ai, &req)
    }

    /// Applies as root at the current revision (passes the admin gate whenever root exists).
    pub(super) fn apply(&mut self, req: AuthRequest) -> Result<AuthResponse, ApiError> {
        let ai = self.root();
        self.apply_as(&ai, req)
    }

    pub(super) fn root(&self) -> AuthInfo {
        self.user(ROOT_USER)
    }

    pub(super) fn user(&self, name: &str) -> AuthInfo {
        AuthInfo { username: name.to_string(), revision: self.store.revision() }
    }

    /// Makes every pending write durable, as the runtime would.
    pub(super) fn persist(&mut self) {
        self.seq += 1;
        let batch = self.overlay.take_batch(self.seq);
        self.backend.apply(&batch);
        self.overlay.persisted(self.seq);
    }

    /// A fresh store read back from storage (a restart: tokens are gone).
    pub(super) fn restart(&mut self) {
        self.persist();
        self.store = AuthStore::load(&self.config, &self.backend, &self.overlay).unwrap();
    }
}

pub(super) fn hashed(hash: &str) -> String {
    base64::encode(hash.as_bytes())
}

pub(super) fn user_add(name: &str) -> AuthRequest {
    AuthRequest::UserAdd(pb::AuthUserAddRequest {
        name: name.to_string(),
        password: String::new(),
        options: None,
        hashed_password: hashed("hash-of-pw"),
    })
}

pub(super) fn grant_role(user: &str, role: &str) -> AuthRequest {
    AuthRequest::UserGrantRole(pb::AuthUserGrantRoleRequest {
        user: user.to_string(),
        role: role.to_string(),
    })
}

pub(super) fn role_add(name: &str) -> AuthRequest {
    AuthRequest::RoleAdd(pb::AuthRoleAddRequest { name: name.to_string() })
}

pub(super) fn grant_perm(role: &str, perm_type: i32, key: &str, range_end: &str) -> AuthRequest {
    AuthRequest::RoleGrantPermission(pb::AuthRoleGrantPermissionRequest {
        name: role.to_string(),
        perm: Some(Permission {
            perm_type,
            key: key.as_bytes().to_vec(),
            range_end: range_end.as_bytes().to_vec(),
        }),
    })
}

pub(super) fn enable() -> AuthRequest {
    AuthRequest::Enable(pb::AuthEnableRequest {})
}

pub(super) fn disable() -> AuthRequest {
    AuthRequest::Disable(pb::AuthDisableRequest {})
}

pub(super) fn user_delete(name: &str) -> AuthRequest {
    AuthRequest::UserDelete(pb::AuthUserDeleteRequest { name: name.to_string() })
}

pub(super) fn revoke_role(name: &str, role: &str) -> AuthRequest {
    AuthRequest::UserRevokeRole(pb::AuthUserRevokeRoleRequest {
        name: name.to_string(),
        role: role.to_string(),
    })
}

pub(super) fn role_delete(role: &str) -> AuthRequest {
    AuthRequest::RoleDelete(pb::AuthRoleDeleteRequest { role: role.to_string() })
}

pub(super) fn revoke_perm(role: &str, key: &str, range_end: &str) -> AuthRequest {
    AuthRequest::RoleRevokePermission(pb::AuthRoleRevokePermissionRequest {
        role: role.to_string(),
        key: key.as_bytes().to_vec(),
        range_end: range_end.as_bytes().to_vec(),
    })
}

pub(super) fn change_password(name: &str, password: &str, hashed_password: &str) -> AuthRequest {
    AuthRequest::UserChangePassword(pb::AuthUserChangePasswordRequest {
        name: name.to_string(),
        password: password.to_string(),
        hashed_password: hashed_password.to_string(),
    })
}

/// root (with the root role) and auth on; alice with role `r` (readwrite on prefix `/a/`).
pub(super) fn enabled_env() -> Env {
    let mut env = Env::new();
    for req in [
        user_add(ROOT_USER),
        grant_role(ROOT_USER, ROOT_ROLE),
        user_add("alice"),
        role_add("r"),
        grant_perm("r", perms::PERM_READWRITE, "/a/", "/a0"),
        grant_role("alice", "r"),
        enable(),
    ] {
        env.apply(req).unwrap();
    }
    env
}

#[test]
fn enable_needs_root_with_root_role() {
    let mut env = Env::new();
    assert_eq!(env.apply(enable()), Err(ApiError::RootUserNotExist));
    env.apply(user_add(ROOT_USER)).unwrap();
    assert_eq!(env.apply(enable()), Err(ApiError::RootRoleNotExist));
    env.apply(grant_role(ROOT_USER, ROOT_ROLE)).unwrap();
    let before = env.store.revision();
    env.apply(enable()).unwrap();
    assert!(env.store.is_enabled());
    assert_eq!(env.store.revision(), before, "enabling does not bump the revision");
    env.apply(enable()).unwrap();
    assert_eq!(env.store.revision(), before);
    env.apply(disable()).unwrap();
    assert!(!env.store.is_enabled());
    assert_eq!(env.store.revision(), AuthRevision(before.0 + 1), "disabling does");
    env.apply(disable()).unwrap();
    assert_eq!(env.store.revision(), AuthRevision(before.0 + 1), "disabling twice does not");
}

#[test]
fn every_request_rule() {
    let mut env = enabled_env();
    let r = |perm_type: i32, key: &str, end: &str| grant_perm("r", perm_type, key, end);
    // (name, request, expected error or None, revision bumped)
    let cases: Vec<(&str, AuthRequest, Option<ApiError>, bool)> = vec![
        ("user add empty", user_add(""), Some(ApiError::UserEmpty), false),
        ("user add exists", user_add("alice"), Some(ApiError::UserAlreadyExist), false),
        ("user add", user_add("bob"), None, true),
        (
            "user add bad hash",
            AuthRequest::UserAdd(pb::AuthUserAddRequest {
                name: "carol".into(),
                password: String::new(),
                options: None,
                hashed_password: "not base64!".into(),
            }),
            Some(ApiError::NoPasswordUser),
            false,
        ),
        (
            "user add plaintext refused",
            AuthRequest::UserAdd(pb::AuthUserAddRequest {
                name: "carol".into(),
                password: "secret".into(),
                options: None,
                hashed_password: String::new(),
            }),
            Some(ApiError::InvalidAuthMgmt),
            false,
        ),
        (
            "user add no password",
            AuthRequest::UserAdd(pb::AuthUserAddRequest {
                name: "cert-user".into(),
                password: "ignored".into(),
                options: Some(UserAddOptions { no_password: true }),
                hashed_password: String::new(),
            }),
            None,
            true,
        ),
        ("user delete missing", user_delete("nobody"), Some(ApiError::UserNotFound), false),
        (
            "user delete root while enabled",
            user_delete(ROOT_USER),
            Some(ApiError::InvalidAuthMgmt),
            false,
        ),
        (
            "change password missing",
            change_password("nobody", "", &hashed("h")),
            Some(ApiError::UserNotFound),
            false,
        ),
        ("change password", change_password("bob", "", &hashed("h2")), None, true),
        (
            "change password plaintext",
            change_password("bob", "pw", ""),
            Some(ApiError::InvalidAuthMgmt),
            false,
        ),
        ("change password no-password user", change_password("cert-user", "pw", ""), None, true),
        ("grant role missing user", grant_role("nobody", "r"), Some(ApiError::UserNotFound), false),
        ("grant role missing role", grant_role("bob", "nope"), Some(ApiError::RoleNotFound), false),
        ("grant role", grant_role("bob", "r"), None, true),
        ("grant role again is a no-op", grant_role("bob", "r"), None, false),
        ("grant root role without record", grant_role("bob", ROOT_ROLE), None, true),
        (
            "revoke role missing user",
            revoke_role("nobody", "r"),
            Some(ApiError::UserNotFound),
            false,
        ),
        (
            "revoke role not granted",
            revoke_role("alice", "nope"),
            Some(ApiError::RoleNotGranted),
            false,
        ),
        (
            "revoke root from root while enabled",
            revoke_role(ROOT_USER, ROOT_ROLE),
            Some(ApiError::InvalidAuthMgmt),
            false,
        ),
        ("revoke role", revoke_role("bob", ROOT_ROLE), None, true),
        ("role add empty", role_add(""), Some(ApiError::RoleEmpty), false),
        ("role add exists", role_add("r"), Some(ApiError::RoleAlreadyExist), false),
        ("role add", role_add("r2"), None, true),
        (
            "grant perm missing",
            AuthRequest::RoleGrantPermission(pb::AuthRoleGrantPermissionRequest {
                name: "r".into(),
                perm: None,
            }),
            Some(ApiError::PermissionNotGiven),
            false,
        ),
        ("grant perm empty key", r(0, "", ""), Some(ApiError::InvalidAuthMgmt), false),
        ("grant perm backwards range", r(0, "b", "a"), Some(ApiError::InvalidAuthMgmt), false),
        (
            "grant perm missing role",
            grant_perm("nope", 0, "k", ""),
            Some(ApiError::RoleNotFound),
            false,
        ),
        ("grant perm", r(0, "k", ""), None, true),
        ("grant perm update type", r(2, "k", ""), None, true),
        (
            "revoke perm missing role",
            revoke_perm("nope", "k", ""),
            Some(ApiError::RoleNotFound),
            false,
        ),
        (
            "revoke perm not granted",
            revoke_perm("r", "k", "l"),
            Some(ApiError::PermissionNotGranted),
            false,
        ),
        ("revoke perm", revoke_perm("r", "k", ""), None, true),
        ("role delete missing", role_delete("nope"), Some(ApiError::RoleNotFound), false),
        (
            "role delete root while enabled",
            role_delete(ROOT_ROLE),
            Some(ApiError::InvalidAuthMgmt),
            false,
        ),
        ("role delete", role_delete("r2"), None, true),
    ];
    for (name, req, want, bumps) in cases {
        let before = env.store.revision();
        let got = env.apply(req).err();
        assert_eq!(got, want, "{name}");
        let after = env.store.revision();
        assert_eq!(after != before, bumps, "{name}: revision {before} -> {after}");
        if bumps {
            assert_eq!(after.0, before.0 + 1, "{name}");
        }
    }
    // The no-password user stores no hash, before and after a password change.
    assert!(env.store.user("cert-user").unwrap().password.is_empty());
    assert_eq!(env.store.user("bob").unwrap().password, b"h2");
}

#[test]
fn root_rules_relax_while_auth_is_off() {
    let mut env = Env::new();
    env.apply(user_add(ROOT_USER)).unwrap();
    env.apply(grant_role(ROOT_USER, ROOT_ROLE)).unwrap();
    env.apply(role_add(ROOT_ROLE)).unwrap();
    env.apply(revoke_role(ROOT_USER, ROOT_ROLE)).unwrap();
    env.apply(role_delete(ROOT_ROLE)).unwrap();
    env.apply(user_delete(ROOT_USER)).unwrap();
    assert!(env.store.user_list().is_empty() && env.store.role_list().is_empty());
}

#[test]
fn role_delete_revokes_it_from_every_user_and_get_list_answers() {
    let mut env = enabled_env();
    env.apply(user_add("bob")).unwrap();
    env.apply(grant_role("bob", "r")).unwrap();
    env.apply(role_add("a")).unwrap();
    env.apply(grant_role("bob", "a")).unwrap();
    let get = |env: &mut Env, name: &str| match env
        .apply(AuthRequest::UserGet(pb::AuthUserGetRequest { name: name.into() }))
    {
        Ok(AuthResponse::UserGet(r)) => r.roles,
        other => panic!("{other:?}"),
    };
    assert_eq!(get(&mut env, "bob"), vec!["a".to_string(), "r".to_string()], "roles stay sorted");
    env.apply(role_delete("r")).unwrap();
    assert_eq!(get(&mut env, "bob"), vec!["a".to_string()]);
    assert!(get(&mut env, "alice").is_empty());
    assert_eq!(
        env.store.check_range(&env.user("alice"), b"/a/x", b""),
        Err(ApiError::PermissionDenied)
    );
    let list = env.apply(AuthRequest::UserList(pb::AuthUserListRequest {})).unwrap();
    assert_eq!(
        list,
        AuthResponse::UserList(pb::AuthUserListResponse {
            header: None,
            users: vec!["alice".into(), "bob".into(), "root".into()]
        })
    );
    env.apply(role_add(ROOT_ROLE)).unwrap();
    let roles = env.apply(AuthRequest::RoleList(pb::AuthRoleListRequest {})).unwrap();
    assert_eq!(
        roles,
        AuthResponse::RoleList(pb::AuthRoleListResponse {
            header: None,
            roles: vec!["a".into(), "root".into()]
        })
    );
    let root_perm =
        env.apply(AuthRequest::RoleGet(pb::AuthRoleGetRequest { role: ROOT_ROLE.into() })).unwrap();
    let all = Permission { perm_type: perms::PERM_READWRITE, key: vec![], range_end: vec![0] };
    assert_eq!(
        root_perm,
        AuthResponse::RoleGet(pb::AuthRoleGetResponse { header: None, perm: vec![all] })
    );
}

#[test]
fn permissions_stay_sorted_by_key_like_etcds() {
    let mut env = enabled_env();
    env.apply(role_add("s")).unwrap();
    for (t, k, e) in [(0, "m", ""), (1, "c", "d"), (2, "x", "\0"), (0, "c", ""), (1, "m", "")] {
        env.apply(grant_perm("s", t, k, e)).unwrap();
    }
    let perms: Vec<(i32, String, String)> = env
        .store
        .role_get("s")
        .unwrap()
        .into_iter()
        .map(|p| {
            (
                p.perm_type,
                String::from_utf8(p.key).unwrap(),
                String::from_utf8(p.range_end).unwrap(),
            )
        })
        .collect();
    let want = [(1, "c", "d"), (0, "c", ""), (1, "m", ""), (2, "x", "\0")];
    let want: Vec<(i32, String, String)> =
        want.iter().map(|(t, k, e)| (*t, k.to_string(), e.to_string())).collect();
    assert_eq!(perms, want, "same key and end updates the type; new keys insert sorted, stably");
}

#[test]
fn admin_gate() {
    let mut env = enabled_env();
    let alice = env.user("alice");
    // (name, identity, request, expected)
    let cases: Vec<(&str, AuthInfo, AuthRequest, Result<(), ApiError>)> = vec![
        ("anonymous", AuthInfo::anonymous(), role_add("x"), Err(ApiError::UserEmpty)),
        (
            "unknown user",
            AuthInfo::from_header("ghost", 99),
            role_add("x"),
            Err(ApiError::UserNotFound),
        ),
        ("not root", alice.clone(), role_add("x"), Err(ApiError::PermissionDenied)),
        ("not root, disable", alice.clone(), disable(), Err(ApiError::PermissionDenied)),
        (
            "not root, list",
            alice.clone(),
            AuthRequest::UserList(pb::AuthUserListRequest {}),
            Err(ApiError::PermissionDenied),
        ),
        (
            "status needs nothing",
            AuthInfo::anonymous(),
            AuthRequest::Status(pb::AuthStatusRequest {}),
            Ok(()),
        ),
        (
            "user get self",
            alice.clone(),
            AuthRequest::UserGet(pb::AuthUserGetRequest { name: "alice".into() }),
            Ok(()),
        ),
        (
            "user get other",
            alice.clone(),
            AuthRequest::UserGet(pb::AuthUserGetRequest { name: "root".into() }),
            Err(ApiError::PermissionDenied),
        ),
        (
            "role get own",
            alice.clone(),
            AuthRequest::RoleGet(pb::AuthRoleGetRequest { role: "r".into() }),
            Ok(()),
        ),
        (
            "role get other",
            alice.clone(),
            AuthRequest::RoleGet(pb::AuthRoleGetRequest { role: "q".into() }),
            Err(ApiError::PermissionDenied),
        ),
        ("root", env.root(), role_add("x"), Ok(())),
    ];
    for (name, ai, req, want) in cases {
        assert_eq!(env.apply_as(&ai, req).map(|_| ()), want, "{name}");
    }
    // With auth off, anyone may.
    env.apply(disable()).unwrap();
    assert_eq!(env.apply_as(&AuthInfo::anonymous(), role_add("y")).map(|_| ()), Ok(()));
}
