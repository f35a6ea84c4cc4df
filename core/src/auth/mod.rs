//! etcd's auth model (in progress: the store lands with the protobuf types).

pub mod base64;
pub mod perms;
pub mod tokens;
