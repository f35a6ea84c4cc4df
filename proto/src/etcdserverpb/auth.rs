//! The `Auth` service's messages.

use alloc::string::String;
use alloc::vec::Vec;

use super::ResponseHeader;
use crate::authpb::{Permission, UserAddOptions};

/// `etcdserverpb.AuthEnableRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthEnableRequest {}

/// `etcdserverpb.AuthDisableRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthDisableRequest {}

/// `etcdserverpb.AuthStatusRequest` (etcd 3.5+).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthStatusRequest {}

/// `etcdserverpb.AuthenticateRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthenticateRequest {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `password = 2`.
    #[prost(string, tag = "2")]
    pub password: String,
}

/// `etcdserverpb.AuthUserAddRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserAddRequest {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `password = 2`.
    #[prost(string, tag = "2")]
    pub password: String,
    /// `options = 3`.
    #[prost(message, optional, tag = "3")]
    pub options: Option<UserAddOptions>,
    /// `hashedPassword = 4` (etcd 3.5+): set by the API layer, never by clients.
    #[prost(string, tag = "4")]
    pub hashed_password: String,
}

/// `etcdserverpb.AuthUserGetRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserGetRequest {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `etcdserverpb.AuthUserDeleteRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserDeleteRequest {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `etcdserverpb.AuthUserChangePasswordRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserChangePasswordRequest {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `password = 2`.
    #[prost(string, tag = "2")]
    pub password: String,
    /// `hashedPassword = 3` (etcd 3.5+): set by the API layer.
    #[prost(string, tag = "3")]
    pub hashed_password: String,
}

/// `etcdserverpb.AuthUserGrantRoleRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserGrantRoleRequest {
    /// `user = 1`.
    #[prost(string, tag = "1")]
    pub user: String,
    /// `role = 2`.
    #[prost(string, tag = "2")]
    pub role: String,
}

/// `etcdserverpb.AuthUserRevokeRoleRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserRevokeRoleRequest {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `role = 2`.
    #[prost(string, tag = "2")]
    pub role: String,
}

/// `etcdserverpb.AuthRoleAddRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleAddRequest {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `etcdserverpb.AuthRoleGetRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleGetRequest {
    /// `role = 1`.
    #[prost(string, tag = "1")]
    pub role: String,
}

/// `etcdserverpb.AuthUserListRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserListRequest {}

/// `etcdserverpb.AuthRoleListRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleListRequest {}

/// `etcdserverpb.AuthRoleDeleteRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleDeleteRequest {
    /// `role = 1`.
    #[prost(string, tag = "1")]
    pub role: String,
}

/// `etcdserverpb.AuthRoleGrantPermissionRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleGrantPermissionRequest {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `perm = 2`.
    #[prost(message, optional, tag = "2")]
    pub perm: Option<Permission>,
}

/// `etcdserverpb.AuthRoleRevokePermissionRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleRevokePermissionRequest {
    /// `role = 1`.
    #[prost(string, tag = "1")]
    pub role: String,
    /// `key = 2`.
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    /// `range_end = 3`.
    #[prost(bytes = "vec", tag = "3")]
    pub range_end: Vec<u8>,
}

/// `etcdserverpb.AuthEnableResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthEnableResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.AuthDisableResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthDisableResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.AuthStatusResponse` (etcd 3.5+).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthStatusResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `enabled = 2`.
    #[prost(bool, tag = "2")]
    pub enabled: bool,
    /// `authRevision = 3`.
    #[prost(uint64, tag = "3")]
    pub auth_revision: u64,
}

/// `etcdserverpb.AuthenticateResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthenticateResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `token = 2`: the token for the `token` metadata of later calls.
    #[prost(string, tag = "2")]
    pub token: String,
}

/// `etcdserverpb.AuthUserAddResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserAddResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.AuthUserGetResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserGetResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `roles = 2`.
    #[prost(string, repeated, tag = "2")]
    pub roles: Vec<String>,
}

/// `etcdserverpb.AuthUserDeleteResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserDeleteResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.AuthUserChangePasswordResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserChangePasswordResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.AuthUserGrantRoleResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserGrantRoleResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.AuthUserRevokeRoleResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserRevokeRoleResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.AuthRoleAddResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleAddResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.AuthRoleGetResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleGetResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `perm = 2`.
    #[prost(message, repeated, tag = "2")]
    pub perm: Vec<Permission>,
}

/// `etcdserverpb.AuthRoleListResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleListResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `roles = 2`.
    #[prost(string, repeated, tag = "2")]
    pub roles: Vec<String>,
}

/// `etcdserverpb.AuthUserListResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUserListResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// `users = 2`.
    #[prost(string, repeated, tag = "2")]
    pub users: Vec<String>,
}

/// `etcdserverpb.AuthRoleDeleteResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleDeleteResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.AuthRoleGrantPermissionResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleGrantPermissionResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.AuthRoleRevokePermissionResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRoleRevokePermissionResponse {
    /// `header = 1`.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}
