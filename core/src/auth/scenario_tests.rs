//! Scenario files in `core/testdata/auth/`, replayed with the `datadriven` crate
//! (`REWRITE=1 cargo test -p oxcd-core auth::scenario` regenerates the expectations).
//!
//! Verbs (identity: `as=<user>` at the current auth revision, `token=<token>`, `cert=<CN>`;
//! anonymous otherwise; ranges: `end=<key>`, `prefix` or `from-key`):
//! - `enable`, `disable`, `status`
//! - `user-add [name=] [password=] [no-password]` (no name: the empty name), `user-delete name=`, `passwd name= password=`,
//!   `user-get name=`, `user-list`, `grant-role user= role=`, `revoke-role user= role=`
//! - `role-add [name=]`, `role-get name=`, `role-list`, `role-delete name=`,
//!   `grant-perm role= type=read|write|readwrite key= [range]`, `revoke-perm role= key= [range]`
//! - `authenticate name= password=`: the whole flow, with real bcrypt standing in for the runtime
//! - `check op=range|put|delete|watch|admin key= [range]`
//! - `advance-time secs=`, `restart`, `tokens`

use super::tests::Env;
use super::*;
use crate::rng::Rng;
use crate::{ApiError, LogIndex};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;
use core::time::Duration;
use datadriven::TestCase;
use oxcd_proto::authpb::{Permission, UserAddOptions};
use oxcd_proto::etcdserverpb as pb;

struct Scenario {
    env: Env,
    rng: Rng,
    next_tag: u64,
}

fn arg(tc: &mut TestCase, name: &str) -> String {
    tc.take_arg::<String>(name).unwrap_or_else(|e| panic!("{}: {e}", tc.directive))
}

/// etcd's `GetPrefixRangeEnd`.
fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    alloc::vec![0]
}

fn range_end(tc: &mut TestCase, key: &[u8]) -> Vec<u8> {
    if tc.take_flag("prefix").unwrap() {
        return prefix_end(key);
    }
    if tc.take_flag("from-key").unwrap() {
        return alloc::vec![0];
    }
    tc.try_take_arg::<String>("end").unwrap().map(String::into_bytes).unwrap_or_default()
}

fn show_bytes(b: &[u8]) -> String {
    let mut s = String::new();
    for c in b {
        if c.is_ascii_graphic() {
            s.push(char::from(*c));
        } else {
            let _ = write!(s, "\\x{c:02x}");
        }
    }
    s
}

fn show_error(e: ApiError) -> String {
    alloc::format!("error: {} ({:?})\n", e.message(), e.code())
}

fn hash(password: &str) -> Vec<u8> {
    bcrypt::hash(password, 4).unwrap().into_bytes()
}

impl Scenario {
    fn new() -> Self {
        Scenario { env: Env::new(), rng: Rng::from_seed(7), next_tag: 1 }
    }

    /// The identity the test case names.
    fn identity(&mut self, tc: &mut TestCase) -> Result<AuthInfo, String> {
        let applied = self.env.index;
        let token = tc.try_take_arg::<String>("token").unwrap();
        let cert = tc.try_take_arg::<String>("cert").unwrap();
        if let Some(user) = tc.try_take_arg::<String>("as").unwrap() {
            return Ok(self.env.user(&user));
        }
        match self.env.store.identify(self.env.now, token.as_deref(), cert.as_deref(), applied) {
            Ok(Identified::Ready(ai)) => Ok(ai),
            Ok(Identified::WaitForApplied(index)) => {
                Err(alloc::format!("wait for applied index {index}\n"))
            }
            Err(e) => Err(show_error(e)),
        }
    }

    fn apply(&mut self, tc: &mut TestCase, req: AuthRequest) -> String {
        let ai = match self.identity(tc) {
            Ok(ai) => ai,
            Err(out) => return out,
        };
        match self.env.apply_as(&ai, req) {
            Err(e) => show_error(e),
            Ok(resp) => self.show_response(resp),
        }
    }

    fn show_response(&self, resp: AuthResponse) -> String {
        let rev = self.env.store.revision();
        match resp {
            AuthResponse::Status(s) => {
                alloc::format!("enabled={} auth-revision={}\n", s.enabled, s.auth_revision)
            }
            AuthResponse::UserGet(u) => alloc::format!("roles: {:?}\n", u.roles),
            AuthResponse::UserList(u) => alloc::format!("users: {:?}\n", u.users),
            AuthResponse::RoleList(r) => alloc::format!("roles: {:?}\n", r.roles),
            AuthResponse::RoleGet(r) => {
                let mut s = String::new();
                for p in r.perm {
                    let t = match p.perm_type {
                        perms::PERM_READ => "read",
                        perms::PERM_WRITE => "write",
                        _ => "readwrite",
                    };
                    let _ = writeln!(
                        s,
                        "{t} key={} end={}",
                        show_bytes(&p.key),
                        show_bytes(&p.range_end)
                    );
                }
                if s.is_empty() {
                    s.push_str("no permissions\n");
                }
                s
            }
            AuthResponse::Authenticate(a) => alloc::format!("token: {}\n", a.token),
            _ => alloc::format!("ok (auth revision {rev})\n"),
        }
    }

    /// Authenticate as a member does: check the password (bcrypt, as the runtime), propose,
    /// apply, and retry while the revision moves (bounded).
    fn authenticate(&mut self, tc: &mut TestCase) -> String {
        let name = arg(tc, "name");
        let password = arg(tc, "password");
        let tag = self.next_tag;
        self.next_tag += 1;
        let mut verify = match self.env.store.start_authenticate(tag, &name, &password) {
            Ok(v) => v,
            Err(e) => return show_error(e),
        };
        for _ in 0..3 {
            let hash = String::from_utf8_lossy(&verify.hash).into_owned();
            let matches = bcrypt::verify(&verify.password, &hash).unwrap_or(false);
            let (id, request) =
                match self.env.store.handle_password_verified(verify.id, matches, &mut self.rng) {
                    Some(Verdict::Propose { id, tag: t, request }) if t == tag => (id, request),
                    Some(Verdict::Fail { error, .. }) => return show_error(error),
                    other => panic!("unexpected verdict {other:?}"),
                };
            let applied =
                self.env.apply_as(&AuthInfo::anonymous(), AuthRequest::Authenticate(request));
            let result = applied.map(|r| match r {
                AuthResponse::Authenticate(a) => a,
                other => panic!("{other:?}"),
            });
            match self.env.store.handle_authenticate_applied(id, result) {
                Some(Completion::Reply { result: Ok(resp), .. }) => {
                    return alloc::format!("token: {}\n", resp.token)
                }
                Some(Completion::Reply { result: Err(e), .. }) => return show_error(e),
                Some(Completion::Verify(again)) => verify = again,
                None => panic!("lost authentication {id}"),
            }
        }
        "error: gave up retrying\n".to_string()
    }

    fn check(&mut self, tc: &mut TestCase) -> String {
        let op = arg(tc, "op");
        let key = tc.try_take_arg::<String>("key").unwrap().unwrap_or_default().into_bytes();
        let end = range_end(tc, &key);
        let ai = match self.identity(tc) {
            Ok(ai) => ai,
            Err(out) => return out,
        };
        let s = &self.env.store;
        let result = match op.as_str() {
            "range" => s.check_range(&ai, &key, &end),
            "put" => s.check_put(&ai, &key),
            "delete" => s.check_delete_range(&ai, &key, &end),
            "watch" => s.check_watch(
                &ai,
                &pb::WatchCreateRequest { key, range_end: end, ..Default::default() },
            ),
            "admin" => s.check_admin(&ai),
            other => panic!("unknown op {other}"),
        };
        match result {
            Ok(()) => alloc::format!("ok ({ai})\n"),
            Err(e) => show_error(e),
        }
    }

    fn run(&mut self, tc: &mut TestCase) -> String {
        let out = match tc.directive.as_str() {
            "enable" => self.apply(tc, AuthRequest::Enable(pb::AuthEnableRequest {})),
            "disable" => self.apply(tc, AuthRequest::Disable(pb::AuthDisableRequest {})),
            "status" => self.apply(tc, AuthRequest::Status(pb::AuthStatusRequest {})),
            "user-add" => {
                let name = tc.try_take_arg::<String>("name").unwrap().unwrap_or_default();
                let no_password = tc.take_flag("no-password").unwrap();
                let password = tc.try_take_arg::<String>("password").unwrap().unwrap_or_default();
                let mut r = pb::AuthUserAddRequest {
                    name,
                    password: password.clone(),
                    options: Some(UserAddOptions { no_password }),
                    hashed_password: String::new(),
                };
                if password::user_add_needs_hash(&r) {
                    password::set_hashed_password_for_add(&mut r, &hash(&password));
                }
                self.apply(tc, AuthRequest::UserAdd(r))
            }
            "passwd" => {
                let mut r = pb::AuthUserChangePasswordRequest {
                    name: arg(tc, "name"),
                    password: arg(tc, "password"),
                    hashed_password: String::new(),
                };
                if password::change_password_needs_hash(&r) {
                    let h = hash(&r.password);
                    password::set_hashed_password_for_change(&mut r, &h);
                }
                self.apply(tc, AuthRequest::UserChangePassword(r))
            }
            "user-delete" => {
                let name = arg(tc, "name");
                self.apply(tc, AuthRequest::UserDelete(pb::AuthUserDeleteRequest { name }))
            }
            "user-get" => {
                let name = arg(tc, "name");
                self.apply(tc, AuthRequest::UserGet(pb::AuthUserGetRequest { name }))
            }
            "user-list" => self.apply(tc, AuthRequest::UserList(pb::AuthUserListRequest {})),
            "grant-role" => {
                let (user, role) = (arg(tc, "user"), arg(tc, "role"));
                self.apply(
                    tc,
                    AuthRequest::UserGrantRole(pb::AuthUserGrantRoleRequest { user, role }),
                )
            }
            "revoke-role" => {
                let (name, role) = (arg(tc, "user"), arg(tc, "role"));
                self.apply(
                    tc,
                    AuthRequest::UserRevokeRole(pb::AuthUserRevokeRoleRequest { name, role }),
                )
            }
            "role-add" => {
                let name = tc.try_take_arg::<String>("name").unwrap().unwrap_or_default();
                self.apply(tc, AuthRequest::RoleAdd(pb::AuthRoleAddRequest { name }))
            }
            "role-get" => {
                let role = arg(tc, "name");
                self.apply(tc, AuthRequest::RoleGet(pb::AuthRoleGetRequest { role }))
            }
            "role-list" => self.apply(tc, AuthRequest::RoleList(pb::AuthRoleListRequest {})),
            "role-delete" => {
                let role = arg(tc, "name");
                self.apply(tc, AuthRequest::RoleDelete(pb::AuthRoleDeleteRequest { role }))
            }
            "grant-perm" => {
                let name = arg(tc, "role");
                let perm_type = match arg(tc, "type").as_str() {
                    "read" => perms::PERM_READ,
                    "write" => perms::PERM_WRITE,
                    "readwrite" => perms::PERM_READWRITE,
                    other => panic!("unknown type {other}"),
                };
                let key =
                    tc.try_take_arg::<String>("key").unwrap().unwrap_or_default().into_bytes();
                let range_end = range_end(tc, &key);
                let perm = Some(Permission { perm_type, key, range_end });
                self.apply(
                    tc,
                    AuthRequest::RoleGrantPermission(pb::AuthRoleGrantPermissionRequest {
                        name,
                        perm,
                    }),
                )
            }
            "revoke-perm" => {
                let role = arg(tc, "role");
                let key = arg(tc, "key").into_bytes();
                let range_end = range_end(tc, &key);
                self.apply(
                    tc,
                    AuthRequest::RoleRevokePermission(pb::AuthRoleRevokePermissionRequest {
                        role,
                        key,
                        range_end,
                    }),
                )
            }
            "authenticate" => self.authenticate(tc),
            "check" => self.check(tc),
            "advance-time" => {
                let secs: u64 = tc.take_arg("secs").unwrap();
                self.env.now += Duration::from_secs(secs);
                self.env.store.handle_timeout(self.env.now);
                alloc::format!("now {}\n", self.env.now)
            }
            "restart" => {
                self.env.restart();
                alloc::format!(
                    "enabled={} auth-revision={} users={:?} roles={:?}\n",
                    self.env.store.is_enabled(),
                    self.env.store.revision(),
                    self.env.store.user_list(),
                    self.env.store.role_list()
                )
            }
            "tokens" => alloc::format!("{} tokens\n", self.env.store.tokens_len()),
            other => panic!("unknown directive {other}"),
        };
        assert!(self.env.index < LogIndex(u64::MAX));
        out
    }
}

#[test]
fn scenarios() {
    datadriven::walk("testdata/auth", |f| {
        let mut scenario = Scenario::new();
        f.run(|tc| scenario.run(tc));
    });
}
