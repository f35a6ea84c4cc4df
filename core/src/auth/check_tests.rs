//! Table-driven tests of the permission checks: plain, transactions, leases, watches.

use super::tests::*;
use super::*;
use crate::{ApiError, LeaseId};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use oxcd_proto::etcdserverpb as pb;

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
