//! Package `authpb`: users, roles and permissions as etcd stores them (`api/authpb/auth.proto`).

use alloc::string::String;
use alloc::vec::Vec;

/// `authpb.UserAddOptions`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct UserAddOptions {
    /// `no_password = 1`: the user authenticates by certificate only.
    #[prost(bool, tag = "1")]
    pub no_password: bool,
}

/// `authpb.User`: one entry of the users table.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct User {
    /// `name = 1`.
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    /// `password = 2`: the password hash (etcd: bcrypt).
    #[prost(bytes = "vec", tag = "2")]
    pub password: Vec<u8>,
    /// `roles = 3`.
    #[prost(string, repeated, tag = "3")]
    pub roles: Vec<String>,
    /// `options = 4`.
    #[prost(message, optional, tag = "4")]
    pub options: Option<UserAddOptions>,
}

/// `authpb.Permission`: access to one key or key range.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Permission {
    /// `permType = 1`: a [`permission::Type`].
    #[prost(enumeration = "permission::Type", tag = "1")]
    pub perm_type: i32,
    /// `key = 2`.
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    /// `range_end = 3`: empty for the single key `key`.
    #[prost(bytes = "vec", tag = "3")]
    pub range_end: Vec<u8>,
}

/// Types nested in `authpb.Permission`.
pub mod permission {
    /// `authpb.Permission.Type`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Type {
        /// `READ = 0`.
        Read = 0,
        /// `WRITE = 1`.
        Write = 1,
        /// `READWRITE = 2`.
        Readwrite = 2,
    }
}

/// `authpb.Role`: one entry of the roles table.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Role {
    /// `name = 1`.
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    /// `keyPermission = 2`.
    #[prost(message, repeated, tag = "2")]
    pub key_permission: Vec<Permission>,
}
