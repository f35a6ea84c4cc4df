//! Applying the auth requests of committed entries, with etcd's admin gate.

use super::{AuthInfo, AuthStore};
use crate::backend::Overlay;
use crate::error::ApiError;
use crate::time::Instant;
use crate::LogIndex;
use oxcd_proto::etcdserverpb as pb;

/// An auth request carried by a committed entry (one field of etcd's `InternalRaftRequest`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AuthRequest {
    Enable(pb::AuthEnableRequest),
    Disable(pb::AuthDisableRequest),
    Status(pb::AuthStatusRequest),
    Authenticate(pb::InternalAuthenticateRequest),
    UserAdd(pb::AuthUserAddRequest),
    UserDelete(pb::AuthUserDeleteRequest),
    UserChangePassword(pb::AuthUserChangePasswordRequest),
    UserGrantRole(pb::AuthUserGrantRoleRequest),
    UserGet(pb::AuthUserGetRequest),
    UserRevokeRole(pb::AuthUserRevokeRoleRequest),
    UserList(pb::AuthUserListRequest),
    RoleAdd(pb::AuthRoleAddRequest),
    RoleGet(pb::AuthRoleGetRequest),
    RoleList(pb::AuthRoleListRequest),
    RoleDelete(pb::AuthRoleDeleteRequest),
    RoleGrantPermission(pb::AuthRoleGrantPermissionRequest),
    RoleRevokePermission(pb::AuthRoleRevokePermissionRequest),
}

/// The answer to an [`AuthRequest`]; the caller fills in each response's `header`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AuthResponse {
    Enable(pb::AuthEnableResponse),
    Disable(pb::AuthDisableResponse),
    Status(pb::AuthStatusResponse),
    Authenticate(pb::AuthenticateResponse),
    UserAdd(pb::AuthUserAddResponse),
    UserDelete(pb::AuthUserDeleteResponse),
    UserChangePassword(pb::AuthUserChangePasswordResponse),
    UserGrantRole(pb::AuthUserGrantRoleResponse),
    UserGet(pb::AuthUserGetResponse),
    UserRevokeRole(pb::AuthUserRevokeRoleResponse),
    UserList(pb::AuthUserListResponse),
    RoleAdd(pb::AuthRoleAddResponse),
    RoleGet(pb::AuthRoleGetResponse),
    RoleList(pb::AuthRoleListResponse),
    RoleDelete(pb::AuthRoleDeleteResponse),
    RoleGrantPermission(pb::AuthRoleGrantPermissionResponse),
    RoleRevokePermission(pb::AuthRoleRevokePermissionResponse),
}

impl AuthRequest {
    /// Takes the auth request out of an entry's request, if it carries one.
    pub fn take_from(r: &mut pb::InternalRaftRequest) -> Option<AuthRequest> {
        macro_rules! take {
            ($($field:ident => $variant:ident,)*) => {
                $(if let Some(x) = r.$field.take() {
                    return Some(AuthRequest::$variant(x));
                })*
            };
        }
        take! {
            auth_enable => Enable,
            auth_disable => Disable,
            auth_status => Status,
            authenticate => Authenticate,
            auth_user_add => UserAdd,
            auth_user_delete => UserDelete,
            auth_user_change_password => UserChangePassword,
            auth_user_grant_role => UserGrantRole,
            auth_user_get => UserGet,
            auth_user_revoke_role => UserRevokeRole,
            auth_user_list => UserList,
            auth_role_add => RoleAdd,
            auth_role_get => RoleGet,
            auth_role_list => RoleList,
            auth_role_delete => RoleDelete,
            auth_role_grant_permission => RoleGrantPermission,
            auth_role_revoke_permission => RoleRevokePermission,
        }
        None
    }

    /// True for the requests only root may make (etcd's `needAdminPermission`); `UserGet` and
    /// `RoleGet` have their own rules, `Authenticate` and `Status` need nothing.
    #[must_use]
    pub fn needs_admin(&self) -> bool {
        !matches!(
            self,
            AuthRequest::Status(_)
                | AuthRequest::Authenticate(_)
                | AuthRequest::UserGet(_)
                | AuthRequest::RoleGet(_)
        )
    }
}

impl AuthStore {
    /// Applies an auth request from the entry at `index`, on behalf of `ai` (the entry header's
    /// user name and auth revision; anonymous when it has none), after etcd's admin gate. Writes
    /// its changes into `overlay`. Deterministic: every member gets the same answer and writes,
    /// except for the member-local token an `Authenticate` records (TTL from `now`).
    ///
    /// # Errors
    /// The gate's errors (`UserEmpty`, `UserNotFound`, `PermissionDenied`), then the request's
    /// own, as documented on each store method.
    pub fn apply(
        &mut self,
        overlay: &mut Overlay,
        now: Instant,
        index: LogIndex,
        ai: &AuthInfo,
        request: &AuthRequest,
    ) -> Result<AuthResponse, ApiError> {
        if request.needs_admin() {
            self.check_admin(ai)?;
        }
        Ok(match request {
            AuthRequest::Enable(_) => {
                self.auth_enable(overlay)?;
                AuthResponse::Enable(pb::AuthEnableResponse::default())
            }
            AuthRequest::Disable(_) => {
                self.auth_disable(overlay);
                AuthResponse::Disable(pb::AuthDisableResponse::default())
            }
            AuthRequest::Status(_) => AuthResponse::Status(pb::AuthStatusResponse {
                header: None,
                enabled: self.enabled,
                auth_revision: self.revision.0,
            }),
            AuthRequest::Authenticate(r) => {
                let token = self.authenticate(now, index, &r.name, &r.simple_token)?;
                AuthResponse::Authenticate(pb::AuthenticateResponse { header: None, token })
            }
            AuthRequest::UserAdd(r) => {
                self.user_add(overlay, r)?;
                AuthResponse::UserAdd(pb::AuthUserAddResponse::default())
            }
            AuthRequest::UserDelete(r) => {
                self.user_delete(overlay, &r.name)?;
                AuthResponse::UserDelete(pb::AuthUserDeleteResponse::default())
            }
            AuthRequest::UserChangePassword(r) => {
                self.user_change_password(overlay, r)?;
                AuthResponse::UserChangePassword(pb::AuthUserChangePasswordResponse::default())
            }
            AuthRequest::UserGrantRole(r) => {
                self.user_grant_role(overlay, &r.user, &r.role)?;
                AuthResponse::UserGrantRole(pb::AuthUserGrantRoleResponse::default())
            }
            AuthRequest::UserGet(r) => {
                self.check_user_get(ai, &r.name)?;
                AuthResponse::UserGet(pb::AuthUserGetResponse {
                    header: None,
                    roles: self.user_get(&r.name)?,
                })
            }
            AuthRequest::UserRevokeRole(r) => {
                self.user_revoke_role(overlay, &r.name, &r.role)?;
                AuthResponse::UserRevokeRole(pb::AuthUserRevokeRoleResponse::default())
            }
            AuthRequest::UserList(_) => AuthResponse::UserList(pb::AuthUserListResponse {
                header: None,
                users: self.user_list(),
            }),
            AuthRequest::RoleAdd(r) => {
                self.role_add(overlay, &r.name)?;
                AuthResponse::RoleAdd(pb::AuthRoleAddResponse::default())
            }
            AuthRequest::RoleGet(r) => {
                self.check_role_get(ai, &r.role)?;
                AuthResponse::RoleGet(pb::AuthRoleGetResponse {
                    header: None,
                    perm: self.role_get(&r.role)?,
                })
            }
            AuthRequest::RoleList(_) => AuthResponse::RoleList(pb::AuthRoleListResponse {
                header: None,
                roles: self.role_list(),
            }),
            AuthRequest::RoleDelete(r) => {
                self.role_delete(overlay, &r.role)?;
                AuthResponse::RoleDelete(pb::AuthRoleDeleteResponse::default())
            }
            AuthRequest::RoleGrantPermission(r) => {
                self.role_grant_permission(overlay, &r.name, r.perm.as_ref())?;
                AuthResponse::RoleGrantPermission(pb::AuthRoleGrantPermissionResponse::default())
            }
            AuthRequest::RoleRevokePermission(r) => {
                self.role_revoke_permission(overlay, &r.role, &r.key, &r.range_end)?;
                AuthResponse::RoleRevokePermission(pb::AuthRoleRevokePermissionResponse::default())
            }
        })
    }
}
