//! Table-driven tests of the auth rules: every error of every request, the revision, the checks,
//! tokens through the store, persistence and the password flow.

use super::*;
use crate::backend::{MemBackend, Overlay};
use crate::rng::Rng;
use crate::time::Instant;
use crate::{ApiError, LeaseId, LogIndex};
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;
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

fn enable() -> AuthRequest {
    AuthRequest::Enable(pb::AuthEnableRequest {})
}

fn disable() -> AuthRequest {
    AuthRequest::Disable(pb::AuthDisableRequest {})
}

fn user_delete(name: &str) -> AuthRequest {
    AuthRequest::UserDelete(pb::AuthUserDeleteRequest { name: name.to_string() })
}

fn revoke_role(name: &str, role: &str) -> AuthRequest {
    AuthRequest::UserRevokeRole(pb::AuthUserRevokeRoleRequest {
        name: name.to_string(),
        role: role.to_string(),
    })
}

fn role_delete(role: &str) -> AuthRequest {
    AuthRequest::RoleDelete(pb::AuthRoleDeleteRequest { role: role.to_string() })
}

fn revoke_perm(role: &str, key: &str, range_end: &str) -> AuthRequest {
    AuthRequest::RoleRevokePermission(pb::AuthRoleRevokePermissionRequest {
        role: role.to_string(),
        key: key.as_bytes().to_vec(),
        range_end: range_end.as_bytes().to_vec(),
    })
}

fn change_password(name: &str, password: &str, hashed_password: &str) -> AuthRequest {
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

/// (name, result, expected)
type Check<'a> = (&'a str, Result<(), ApiError>, Result<(), ApiError>);

#[test]
fn check_table() {
    let mut env = enabled_env();
    env.apply(role_add("ro")).unwrap();
    env.apply(grant_perm("ro", perms::PERM_READ, "/r/", "/r0")).unwrap();
    env.apply(user_add("bob")).unwrap();
    env.apply(grant_role("bob", "ro")).unwrap();
    let alice = env.user("alice");
    let bob = env.user("bob");
    let stale =
        AuthInfo { username: "alice".into(), revision: AuthRevision(env.store.revision().0 - 1) };
    let ghost = env.user("ghost");
    let root = env.root();
    let anon = AuthInfo::anonymous();
    let s = &env.store;
    // (name, result, expected)
    let cases: Vec<Check<'_>> = vec![
        ("range in prefix", s.check_range(&alice, b"/a/x", b""), Ok(())),
        ("range whole prefix", s.check_range(&alice, b"/a/", b"/a0"), Ok(())),
        (
            "range past prefix",
            s.check_range(&alice, b"/a/", b"/b"),
            Err(ApiError::PermissionDenied),
        ),
        ("range outside", s.check_range(&alice, b"/b", b""), Err(ApiError::PermissionDenied)),
        ("put in prefix", s.check_put(&alice, b"/a/x"), Ok(())),
        ("delete range in prefix", s.check_delete_range(&alice, b"/a/", b"/a0"), Ok(())),
        ("read-only user reads", s.check_range(&bob, b"/r/1", b""), Ok(())),
        ("read-only user cannot put", s.check_put(&bob, b"/r/1"), Err(ApiError::PermissionDenied)),
        (
            "read-only user cannot delete",
            s.check_delete_range(&bob, b"/r/", b"/r0"),
            Err(ApiError::PermissionDenied),
        ),
        ("anonymous", s.check_range(&anon, b"/a/x", b""), Err(ApiError::UserEmpty)),
        ("stale revision", s.check_range(&stale, b"/a/x", b""), Err(ApiError::AuthOldRevision)),
        ("unknown user", s.check_range(&ghost, b"/a/x", b""), Err(ApiError::PermissionDenied)),
        ("root reads anything", s.check_range(&root, b"\0", b"\0"), Ok(())),
        ("root writes anything", s.check_delete_range(&root, b"\0", b"\0"), Ok(())),
        ("admin root", s.check_admin(&root), Ok(())),
        ("admin non-root", s.check_admin(&alice), Err(ApiError::PermissionDenied)),
        ("admin anonymous", s.check_admin(&anon), Err(ApiError::UserEmpty)),
        ("admin unknown", s.check_admin(&ghost), Err(ApiError::UserNotFound)),
        ("require identity", s.require_auth_info(&anon), Err(ApiError::UserEmpty)),
        ("require identity ok", s.require_auth_info(&alice), Ok(())),
        ("cert CN identity", s.check_range(&s.auth_info_from_cert("alice"), b"/a/1", b""), Ok(())),
        ("not stale", s.check_not_stale(&alice), Ok(())),
        ("stale after the fact", s.check_not_stale(&stale), Err(ApiError::AuthOldRevision)),
        ("anonymous is never stale", s.check_not_stale(&anon), Ok(())),
        (
            "watch",
            s.check_watch(
                &bob,
                &pb::WatchCreateRequest {
                    key: b"/r/".to_vec(),
                    range_end: b"/r0".to_vec(),
                    ..Default::default()
                },
            ),
            Ok(()),
        ),
        (
            "watch outside",
            s.check_watch(
                &bob,
                &pb::WatchCreateRequest { key: b"/a/".to_vec(), ..Default::default() },
            ),
            Err(ApiError::PermissionDenied),
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
    // With auth off every check passes, even for nobody.
    env.apply(disable()).unwrap();
    let s = &env.store;
    assert_eq!(s.check_put(&anon, b"/x"), Ok(()));
    assert_eq!(s.check_admin(&anon), Ok(()));
    assert_eq!(s.check_lease_keep_alive(&anon, LeaseId(1), &NoLeases), Ok(()));
}

fn put(key: &str, lease: i64, prev_kv: bool) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
            key: key.as_bytes().to_vec(),
            lease,
            prev_kv,
            ..Default::default()
        })),
    }
}

fn range(key: &str, end: &str) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestRange(pb::RangeRequest {
            key: key.as_bytes().to_vec(),
            range_end: end.as_bytes().to_vec(),
            ..Default::default()
        })),
    }
}

fn delete(key: &str, end: &str, prev_kv: bool) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestDeleteRange(pb::DeleteRangeRequest {
            key: key.as_bytes().to_vec(),
            range_end: end.as_bytes().to_vec(),
            prev_kv,
        })),
    }
}

fn txn(
    compare: &[&str],
    success: Vec<pb::RequestOp>,
    failure: Vec<pb::RequestOp>,
) -> pb::TxnRequest {
    pb::TxnRequest {
        compare: compare
            .iter()
            .map(|k| pb::Compare { key: k.as_bytes().to_vec(), ..Default::default() })
            .collect(),
        success,
        failure,
    }
}

#[test]
fn txn_lease_and_request_checks() {
    let mut env = enabled_env();
    // bob may write /w/ only (no read), alice reads and writes /a/.
    env.apply(role_add("wo")).unwrap();
    env.apply(grant_perm("wo", perms::PERM_WRITE, "/w/", "/w0")).unwrap();
    env.apply(user_add("bob")).unwrap();
    env.apply(grant_role("bob", "wo")).unwrap();
    let alice = env.user("alice");
    let bob = env.user("bob");
    let root = env.root();
    let mut leases: BTreeMap<LeaseId, Vec<Vec<u8>>> = BTreeMap::new();
    leases.insert(LeaseId(7), vec![b"/a/1".to_vec(), b"/a/2".to_vec()]);
    leases.insert(LeaseId(8), vec![b"/a/1".to_vec(), b"/secret".to_vec()]);
    leases.insert(LeaseId(9), vec![]);
    let s = &env.store;
    let denied = Err(ApiError::PermissionDenied);
    let nested = |inner: pb::TxnRequest| pb::RequestOp {
        request: Some(pb::request_op::Request::RequestTxn(inner)),
    };
    // (name, result, expected)
    let cases: Vec<Check<'_>> = vec![
        (
            "txn all inside",
            s.check_txn(
                &alice,
                &txn(&["/a/c"], vec![put("/a/1", 0, true)], vec![range("/a/", "/a0")]),
                &leases,
            ),
            Ok(()),
        ),
        (
            "txn compare outside",
            s.check_txn(&alice, &txn(&["/b"], vec![], vec![]), &leases),
            denied,
        ),
        (
            "txn failure branch outside",
            s.check_txn(
                &alice,
                &txn(&[], vec![put("/a/1", 0, false)], vec![put("/b", 0, false)]),
                &leases,
            ),
            denied,
        ),
        (
            "txn nested outside",
            s.check_txn(
                &alice,
                &txn(&[], vec![nested(txn(&[], vec![], vec![delete("/z", "", false)]))], vec![]),
                &leases,
            ),
            denied,
        ),
        (
            "txn empty op",
            s.check_txn(&alice, &txn(&[], vec![pb::RequestOp { request: None }], vec![]), &leases),
            Ok(()),
        ),
        (
            "write-only put",
            s.check_txn(&bob, &txn(&[], vec![put("/w/1", 0, false)], vec![]), &leases),
            Ok(()),
        ),
        (
            "write-only put prev_kv",
            s.check_txn(&bob, &txn(&[], vec![put("/w/1", 0, true)], vec![]), &leases),
            denied,
        ),
        (
            "write-only delete",
            s.check_txn(&bob, &txn(&[], vec![delete("/w/", "/w0", false)], vec![]), &leases),
            Ok(()),
        ),
        (
            "write-only delete prev_kv",
            s.check_txn(&bob, &txn(&[], vec![delete("/w/", "/w0", true)], vec![]), &leases),
            denied,
        ),
        (
            "put onto lease with writable keys",
            s.check_txn(&alice, &txn(&[], vec![put("/a/3", 7, false)], vec![]), &leases),
            Ok(()),
        ),
        (
            "put onto lease with a foreign key",
            s.check_txn(&alice, &txn(&[], vec![put("/a/3", 8, false)], vec![]), &leases),
            denied,
        ),
        (
            "root puts onto any lease",
            s.check_txn(&root, &txn(&[], vec![put("/a/3", 8, false)], vec![]), &leases),
            Ok(()),
        ),
        (
            "unknown lease is the lessor's business",
            s.check_txn(&alice, &txn(&[], vec![put("/a/3", 99, false)], vec![]), &leases),
            Ok(()),
        ),
        ("lease revoke", s.check_lease_revoke(&alice, LeaseId(7), &leases), Ok(())),
        (
            "lease revoke with a foreign key",
            s.check_lease_revoke(&alice, LeaseId(8), &leases),
            denied,
        ),
        ("lease revoke by root", s.check_lease_revoke(&root, LeaseId(8), &leases), Ok(())),
        ("lease revoke empty lease", s.check_lease_revoke(&bob, LeaseId(9), &leases), Ok(())),
        (
            "keep-alive anonymous",
            s.check_lease_keep_alive(&AuthInfo::anonymous(), LeaseId(9), &leases),
            Err(ApiError::UserEmpty),
        ),
        ("keep-alive", s.check_lease_keep_alive(&alice, LeaseId(7), &leases), Ok(())),
        ("keep-alive foreign", s.check_lease_keep_alive(&alice, LeaseId(8), &leases), denied),
        (
            "time-to-live keys need read",
            s.check_lease_time_to_live(&bob, LeaseId(7), &leases),
            denied,
        ),
        ("time-to-live keys", s.check_lease_time_to_live(&alice, LeaseId(7), &leases), Ok(())),
        ("leases list", s.check_lease_leases(&alice, [LeaseId(7), LeaseId(9)], &leases), Ok(())),
        (
            "leases list foreign",
            s.check_lease_leases(&alice, [LeaseId(7), LeaseId(8)], &leases),
            denied,
        ),
        ("leases list root", s.check_lease_leases(&root, [LeaseId(8)], &leases), Ok(())),
        (
            "put request prev_kv",
            s.check_put_request(
                &bob,
                &pb::PutRequest { key: b"/w/1".to_vec(), prev_kv: true, ..Default::default() },
                &NoLeases,
            ),
            denied,
        ),
        (
            "delete request prev_kv",
            s.check_delete_range_request(
                &bob,
                &pb::DeleteRangeRequest { key: b"/w/1".to_vec(), range_end: vec![], prev_kv: true },
            ),
            denied,
        ),
        (
            "range request",
            s.check_range_request(
                &alice,
                &pb::RangeRequest {
                    key: b"/a/".to_vec(),
                    range_end: b"/a0".to_vec(),
                    ..Default::default()
                },
            ),
            Ok(()),
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn token_cases_through_the_store() {
    let mut env = enabled_env();
    let applied = LogIndex(1000);
    let token = env.store.authenticate(env.now, LogIndex(20), "alice", "abcdefghijklmnop").unwrap();
    assert_eq!(token, "abcdefghijklmnop.20");
    let identify =
        |env: &mut Env, token: &str| env.store.identify(env.now, Some(token), None, applied);
    // Valid token.
    assert_eq!(identify(&mut env, &token), Ok(Identified::Ready(env.user("alice"))));
    // A role change bumps the revision: the token stays valid and reports the new revision; an
    // identity resolved before the change is refused as stale.
    let before = env.user("alice");
    env.apply(role_add("other")).unwrap();
    assert_eq!(identify(&mut env, &token), Ok(Identified::Ready(env.user("alice"))));
    assert_eq!(env.store.check_range(&before, b"/a/1", b""), Err(ApiError::AuthOldRevision));
    // Expiry.
    env.now += Duration::from_secs(301);
    assert_eq!(identify(&mut env, &token), Err(ApiError::InvalidAuthToken));
    // A password change or deleting the user drops the tokens.
    let t2 = env.store.authenticate(env.now, LogIndex(21), "alice", "bbbbbbbbbbbbbbbb").unwrap();
    env.apply(change_password("alice", "", &hashed("new"))).unwrap();
    assert_eq!(identify(&mut env, &t2), Err(ApiError::InvalidAuthToken));
    let t3 = env.store.authenticate(env.now, LogIndex(22), "alice", "cccccccccccccccc").unwrap();
    env.apply(user_delete("alice")).unwrap();
    assert_eq!(identify(&mut env, &t3), Err(ApiError::InvalidAuthToken));
    // A token another member made at an index not applied here yet: wait for it.
    assert_eq!(
        env.store.identify(env.now, Some("dddddddddddddddd.1001"), None, applied),
        Ok(Identified::WaitForApplied(LogIndex(1001)))
    );
    // Disable drops every token; while off, tokens are not even looked at.
    let t4 = env.store.authenticate(env.now, LogIndex(23), ROOT_USER, "eeeeeeeeeeeeeeee").unwrap();
    env.apply(disable()).unwrap();
    assert_eq!(env.store.tokens_len(), 0);
    assert_eq!(identify(&mut env, &t4), Ok(Identified::Ready(AuthInfo::anonymous())));
    env.apply(enable()).unwrap();
    assert_eq!(identify(&mut env, &t4), Err(ApiError::InvalidAuthToken));
    // Certificates: the CN is the user; no credential at all is anonymous.
    let cn = env.store.identify(env.now, None, Some("root"), applied);
    assert_eq!(cn, Ok(Identified::Ready(env.root())));
    assert_eq!(
        env.store.identify(env.now, None, None, applied),
        Ok(Identified::Ready(AuthInfo::anonymous()))
    );
    // Authenticate's own rules.
    assert_eq!(
        env.store.authenticate(env.now, LogIndex(30), "ghost", "p"),
        Err(ApiError::AuthFailed)
    );
    env.apply(disable()).unwrap();
    assert_eq!(
        env.store.authenticate(env.now, LogIndex(31), ROOT_USER, "p"),
        Err(ApiError::AuthNotEnabled)
    );
}

#[test]
fn token_sweeping_through_the_store() {
    let mut env = enabled_env();
    assert_eq!(env.store.poll_timeout(), None);
    env.store.authenticate(Instant::ZERO, LogIndex(5), "alice", "abcdefghijklmnop").unwrap();
    let at = env.store.poll_timeout().unwrap();
    assert_eq!(at, Instant::ZERO + SimpleTokensTtl::DEFAULT);
    env.store.handle_timeout(at);
    assert_eq!(env.store.tokens_len(), 1);
    env.store.handle_timeout(at + Duration::from_nanos(1));
    assert_eq!(env.store.tokens_len(), 0);
}

struct SimpleTokensTtl;
impl SimpleTokensTtl {
    const DEFAULT: Duration = tokens::SimpleTokens::TTL_DEFAULT;
}

#[test]
fn persistence_round_trips_and_is_deterministic() {
    let mut a = enabled_env();
    let mut b = enabled_env();
    for env in [&mut a, &mut b] {
        env.apply(user_add("bob")).unwrap();
        env.apply(grant_perm("r", perms::PERM_READ, "/q", "\0")).unwrap();
        env.apply(grant_role("bob", "r")).unwrap();
        env.apply(revoke_role("alice", "r")).unwrap();
    }
    // Two members applying the same entries write the same bytes.
    let batch_a = a.overlay.take_batch(1);
    let batch_b = b.overlay.take_batch(1);
    assert_eq!(batch_a, batch_b);
    a.backend.apply(&batch_a);
    a.overlay.persisted(1);
    a.seq = 1;
    let (users, roles, revision) =
        (a.store.users.clone(), a.store.roles.clone(), a.store.revision());
    a.restart();
    assert!(a.store.is_enabled());
    assert_eq!(a.store.revision(), revision);
    assert_eq!(a.store.users, users);
    assert_eq!(a.store.roles, roles);
    assert_eq!(a.store.check_range(&a.user("bob"), b"/qq", b""), Ok(()));
    assert_eq!(
        a.store.check_range(&a.user("alice"), b"/a/1", b""),
        Err(ApiError::PermissionDenied)
    );
    // An empty table reads as a fresh store at revision 1.
    let fresh =
        AuthStore::load(&AuthConfig::default(), &MemBackend::new(), &Overlay::new()).unwrap();
    assert_eq!(fresh.revision(), AuthRevision(1));
    assert!(!fresh.is_enabled());
}

#[test]
fn corrupt_records_are_reported() {
    for (key, value) in [
        (&b"enabled"[..], &[7u8][..]),
        (b"revision", &[1, 2, 3]),
        (b"user/x", &[0xff, 0xff]),
        (b"role/x", b"\x0a\x01y"),
        (b"junk", b""),
    ] {
        let backend = MemBackend::new();
        let mut overlay = Overlay::new();
        overlay.put(crate::backend::Table::Auth, key.to_vec(), value.to_vec());
        let got = AuthStore::load(&AuthConfig::default(), &backend, &overlay);
        assert!(got.is_err(), "{key:?}");
    }
}

#[test]
fn password_flow() {
    let mut env = enabled_env();
    let mut rng = Rng::from_seed(42);
    // Wrong password.
    let v = env.store.start_authenticate(1, "alice", "wrong").unwrap();
    assert_eq!(v.hash, b"hash-of-pw");
    assert_eq!(v.password, "wrong");
    assert!(!alloc::format!("{v:?}").contains("wrong"), "Debug must not show the password");
    assert_eq!(
        env.store.handle_password_verified(v.id, false, &mut rng),
        Some(Verdict::Fail { tag: 1, error: ApiError::AuthFailed })
    );
    assert_eq!(env.store.handle_password_verified(v.id, true, &mut rng), None, "decided");
    // Right password: propose, apply, reply.
    let v = env.store.start_authenticate(2, "alice", "pw").unwrap();
    let Some(Verdict::Propose { id, tag: 2, request }) =
        env.store.handle_password_verified(v.id, true, &mut rng)
    else {
        panic!()
    };
    assert!(request.password.is_empty());
    assert_eq!(request.simple_token.len(), tokens::TOKEN_PREFIX_LEN);
    let applied =
        env.apply_as(&AuthInfo::anonymous(), AuthRequest::Authenticate(request.clone())).unwrap();
    let AuthResponse::Authenticate(resp) = applied else { panic!() };
    assert_eq!(resp.token, alloc::format!("{}.{}", request.simple_token, env.index));
    assert_eq!(
        env.store.handle_authenticate_applied(id, Ok(resp.clone())),
        Some(Completion::Reply { tag: 2, result: Ok(resp) })
    );
    assert_eq!(env.store.password_checks_len(), 0);
    // The revision moves while the entry is in flight: check the password again.
    let v = env.store.start_authenticate(3, "alice", "pw").unwrap();
    let Some(Verdict::Propose { id, .. }) =
        env.store.handle_password_verified(v.id, true, &mut rng)
    else {
        panic!()
    };
    env.apply(role_add("moved")).unwrap();
    let resp = pb::AuthenticateResponse { header: None, token: "t.1".into() };
    let Some(Completion::Verify(again)) = env.store.handle_authenticate_applied(id, Ok(resp))
    else {
        panic!()
    };
    assert_ne!(again.id, v.id);
    assert_eq!(again.password, "pw");
    // A failed apply is the answer.
    let Some(Verdict::Propose { id, .. }) =
        env.store.handle_password_verified(again.id, true, &mut rng)
    else {
        panic!()
    };
    assert_eq!(
        env.store.handle_authenticate_applied(id, Err(ApiError::AuthFailed)),
        Some(Completion::Reply { tag: 3, result: Err(ApiError::AuthFailed) })
    );
    assert_eq!(
        env.store.handle_authenticate_applied(id, Err(ApiError::AuthFailed)),
        None,
        "unknown id"
    );
    // Refusals before any bcrypt.
    env.apply(AuthRequest::UserAdd(pb::AuthUserAddRequest {
        name: "cert".into(),
        password: String::new(),
        options: Some(UserAddOptions { no_password: true }),
        hashed_password: String::new(),
    }))
    .unwrap();
    assert_eq!(env.store.start_authenticate(4, "ghost", "pw"), Err(ApiError::AuthFailed));
    assert_eq!(env.store.start_authenticate(4, "cert", "pw"), Err(ApiError::NoPasswordUser));
    // A no-password user cannot get a token even through a forged entry.
    assert_eq!(
        env.store.authenticate(env.now, LogIndex(99), "cert", "abcdefghijklmnop"),
        Err(ApiError::AuthFailed)
    );
    // Bounded.
    let mut small = Env::new();
    small.config.password_checks_max = 1;
    small.store = AuthStore::new(&small.config);
    for req in [user_add(ROOT_USER), grant_role(ROOT_USER, ROOT_ROLE), enable()] {
        small.apply(req).unwrap();
    }
    let first = small.store.start_authenticate(5, ROOT_USER, "pw").unwrap();
    assert_eq!(small.store.start_authenticate(6, ROOT_USER, "pw"), Err(ApiError::TooManyRequests));
    small.store.abandon_authenticate(first.id);
    assert!(small.store.start_authenticate(6, ROOT_USER, "pw").is_ok());
    // Auth off.
    small.apply(disable()).unwrap();
    assert_eq!(small.store.start_authenticate(7, ROOT_USER, "pw"), Err(ApiError::AuthNotEnabled));
}

#[test]
fn hashing_helpers_follow_etcds_conditions() {
    let mut add = pb::AuthUserAddRequest {
        name: "u".into(),
        password: "pw".into(),
        options: None,
        hashed_password: String::new(),
    };
    assert!(password::user_add_needs_hash(&add));
    password::set_hashed_password_for_add(&mut add, b"$2a$10$xyz");
    assert!(add.password.is_empty());
    assert_eq!(base64::decode(&add.hashed_password).unwrap(), b"$2a$10$xyz");
    add.options = Some(UserAddOptions { no_password: true });
    assert!(!password::user_add_needs_hash(&add));
    let mut change = pb::AuthUserChangePasswordRequest {
        name: "u".into(),
        password: String::new(),
        hashed_password: String::new(),
    };
    assert!(!password::change_password_needs_hash(&change));
    change.password = "pw".into();
    assert!(password::change_password_needs_hash(&change));
    password::set_hashed_password_for_change(&mut change, b"h");
    assert!(change.password.is_empty() && change.hashed_password == "aA==");
}

#[test]
fn take_from_internal_request() {
    let mut r = pb::InternalRaftRequest {
        auth_role_add: Some(pb::AuthRoleAddRequest { name: "x".into() }),
        ..Default::default()
    };
    assert_eq!(
        AuthRequest::take_from(&mut r),
        Some(AuthRequest::RoleAdd(pb::AuthRoleAddRequest { name: "x".into() }))
    );
    assert_eq!(r.auth_role_add, None);
    assert_eq!(AuthRequest::take_from(&mut r), None);
    assert!(AuthRequest::Enable(pb::AuthEnableRequest {}).needs_admin());
    assert!(!AuthRequest::Status(pb::AuthStatusRequest {}).needs_admin());
}

#[test]
fn config_is_validated() {
    let mut c = AuthConfig::default();
    assert_eq!(c.validate(), Ok(()));
    c.tokens_max = 0;
    assert_eq!(c.validate(), Err(AuthConfigError::NoTokens));
    c.tokens_max = 1;
    c.password_checks_max = 0;
    assert_eq!(c.validate(), Err(AuthConfigError::NoPasswordChecks));
}
