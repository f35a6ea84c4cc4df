//! Permission checks per second with 1,000 roles: `cargo bench -p oxcd-core --bench auth_perms`.
//! Prints nanoseconds per check and checks per second; compare runs on the same machine.

// A benchmark measures wall time; the core's ban on clocks is for the library.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::Instant;

use oxcd_core::auth::{base64, perms, AuthConfig, AuthInfo, AuthRequest, AuthStore, NoLeases};
use oxcd_core::backend::Overlay;
use oxcd_core::time::Instant as CoreInstant;
use oxcd_core::LogIndex;
use oxcd_proto::authpb::Permission;
use oxcd_proto::etcdserverpb as pb;

const ROLES: usize = 1000;

fn bench(name: &str, iterations: u32, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let per = start.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!("{name:<52} {per:>9.0} ns/op {:>12.0} /s", 1e9 / per);
}

struct Setup {
    store: AuthStore,
    overlay: Overlay,
    index: u64,
}

impl Setup {
    fn apply(&mut self, ai: &AuthInfo, req: AuthRequest) {
        self.index += 1;
        self.store
            .apply(&mut self.overlay, CoreInstant::ZERO, LogIndex(self.index), ai, &req)
            .unwrap();
    }
}

fn user_add(name: &str) -> AuthRequest {
    AuthRequest::UserAdd(pb::AuthUserAddRequest {
        name: name.into(),
        password: String::new(),
        options: None,
        hashed_password: base64::encode(b"$2a$10$not-a-real-hash"),
    })
}

fn grant_role(user: &str, role: &str) -> AuthRequest {
    AuthRequest::UserGrantRole(pb::AuthUserGrantRoleRequest {
        user: user.into(),
        role: role.into(),
    })
}

fn grant(role: &str, i: usize) -> AuthRequest {
    AuthRequest::RoleGrantPermission(pb::AuthRoleGrantPermissionRequest {
        name: role.into(),
        perm: Some(Permission {
            perm_type: perms::PERM_READWRITE,
            key: format!("/ns-{i:04}/").into_bytes(),
            range_end: format!("/ns-{i:04}0").into_bytes(),
        }),
    })
}

/// root; `many` holds 1,000 roles of one prefix each; 1,000 users `u{i}` hold one role each.
fn setup() -> Setup {
    let mut s =
        Setup { store: AuthStore::new(&AuthConfig::default()), overlay: Overlay::new(), index: 0 };
    let anon = AuthInfo::anonymous();
    s.apply(&anon, user_add("root"));
    s.apply(&anon, grant_role("root", "root"));
    s.apply(&anon, user_add("many"));
    for i in 0..ROLES {
        let role = format!("role-{i:04}");
        s.apply(&anon, AuthRequest::RoleAdd(pb::AuthRoleAddRequest { name: role.clone() }));
        s.apply(&anon, grant(&role, i));
        s.apply(&anon, grant_role("many", &role));
        let user = format!("u{i:04}");
        s.apply(&anon, user_add(&user));
        s.apply(&anon, grant_role(&user, &role));
    }
    s.apply(&anon, AuthRequest::Enable(pb::AuthEnableRequest {}));
    s
}

fn main() {
    let built = Instant::now();
    let mut s = setup();
    println!("setup: {ROLES} roles, {} users, {:.2?}", ROLES + 2, built.elapsed());
    let rev = s.store.revision();
    let ai = |name: &str| AuthInfo { username: name.into(), revision: rev };
    let many = ai("many");
    let single = ai("u0500");
    let root = ai("root");
    let store = &s.store;
    let n = 1_000_000;

    bench("range, key (user with 1,000 roles, hit)", n, || {
        black_box(store.check_range(&many, black_box(b"/ns-0500/pod-1"), b"")).unwrap();
    });
    bench("range, prefix (user with 1,000 roles, hit)", n, || {
        black_box(store.check_range(&many, black_box(b"/ns-0500/"), b"/ns-05000")).unwrap();
    });
    bench("range, key (user with 1,000 roles, denied)", n, || {
        black_box(store.check_range(&many, black_box(b"/other/pod-1"), b"")).unwrap_err();
    });
    bench("put (user with 1,000 roles, hit)", n, || {
        black_box(store.check_put(&many, black_box(b"/ns-0999/pod-1"))).unwrap();
    });
    bench("range, key (one of 1,000 users, one role)", n, || {
        black_box(store.check_range(&single, black_box(b"/ns-0500/pod-1"), b"")).unwrap();
    });
    bench("range, key (root)", n, || {
        black_box(store.check_range(&root, black_box(b"/anything"), b"")).unwrap();
    });
    let txn = pb::TxnRequest {
        compare: vec![pb::Compare { key: b"/ns-0001/a".to_vec(), ..Default::default() }],
        success: (0..5)
            .map(|i| pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                    key: format!("/ns-{:04}/k", i * 100).into_bytes(),
                    ..Default::default()
                })),
            })
            .collect(),
        failure: (0..5)
            .map(|i| pb::RequestOp {
                request: Some(pb::request_op::Request::RequestRange(pb::RangeRequest {
                    key: format!("/ns-{:04}/", i * 100 + 1).into_bytes(),
                    range_end: format!("/ns-{:04}0", i * 100 + 1).into_bytes(),
                    ..Default::default()
                })),
            })
            .collect(),
    };
    bench("txn, 1 compare + 10 ops (user with 1,000 roles)", n / 10, || {
        black_box(store.check_txn(&many, black_box(&txn), &NoLeases)).unwrap();
    });

    // A change rebuilds the merged permissions of the role's holders (etcd rebuilds every
    // user's): here "many" (1,000 roles) and u0000, plus the record write.
    let root = ai("root");
    let mut i = 0;
    bench("apply RoleGrantPermission (2 holders, one with 1,000 roles)", 200, || {
        i += 1;
        let req = AuthRequest::RoleGrantPermission(pb::AuthRoleGrantPermissionRequest {
            name: "role-0000".into(),
            perm: Some(Permission {
                perm_type: perms::PERM_READ,
                key: format!("/extra-{i}").into_bytes(),
                range_end: vec![],
            }),
        });
        let root = AuthInfo { revision: s.store.revision(), ..root.clone() };
        s.apply(&root, req);
    });
}
