//! Tests of tokens through the store, persistence, and the password flow.

use super::tests::*;
use super::*;
use crate::backend::{MemBackend, Overlay};
use crate::rng::Rng;
use crate::time::Instant;
use crate::{ApiError, LogIndex};
use alloc::string::String;
use core::time::Duration;
use oxcd_proto::authpb::UserAddOptions;
use oxcd_proto::etcdserverpb as pb;

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

#[test]
fn debug_output_shows_no_secrets() {
    let mut env = enabled_env();
    let token = env.store.authenticate(env.now, LogIndex(50), "alice", "abcdefghijklmnop").unwrap();
    let _pending = env.store.start_authenticate(1, "alice", "hunter2").unwrap();
    let shown = alloc::format!("{:?}", env.store);
    assert!(shown.contains("alice"));
    for secret in [token.as_str(), "hunter2", "hash-of-pw"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}
