//! The auth records in [`Table::Auth`], in one place.
//!
//! | key | value |
//! |---|---|
//! | `enabled` | one byte, 1 or 0 (etcd's `authEnabled`) |
//! | `revision` | the auth revision, 8 bytes big-endian (etcd's `authRevision`) |
//! | `user/<name>` | `authpb.User`, protobuf (etcd's `authUsers` bucket) |
//! | `role/<name>` | `authpb.Role`, protobuf (etcd's `authRoles` bucket) |
//!
//! A missing `revision` reads as 1: etcd writes revision 1 when it first opens an empty auth
//! store, here the first change writes it.

use crate::backend::{Backend, Overlay, Table};
use crate::codec::DecodeError;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use oxcd_proto::authpb::{Role, User};
use prost::Message;

const ENABLED_KEY: &[u8] = b"enabled";
const REVISION_KEY: &[u8] = b"revision";
const USER_PREFIX: &[u8] = b"user/";
const ROLE_PREFIX: &[u8] = b"role/";

fn prefixed(prefix: &[u8], name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + name.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(name.as_bytes());
    key
}

/// Writes the enabled flag.
pub fn put_enabled(overlay: &mut Overlay, enabled: bool) {
    overlay.put(Table::Auth, ENABLED_KEY.to_vec(), alloc::vec![u8::from(enabled)]);
}

/// Writes the auth revision.
pub fn put_revision(overlay: &mut Overlay, revision: u64) {
    overlay.put(Table::Auth, REVISION_KEY.to_vec(), revision.to_be_bytes().to_vec());
}

/// Writes a user record.
pub fn put_user(overlay: &mut Overlay, name: &str, user: &User) {
    overlay.put(Table::Auth, prefixed(USER_PREFIX, name), user.encode_to_vec());
}

/// Deletes a user record.
pub fn delete_user(overlay: &mut Overlay, name: &str) {
    overlay.delete(Table::Auth, prefixed(USER_PREFIX, name));
}

/// Writes a role record.
pub fn put_role(overlay: &mut Overlay, name: &str, role: &Role) {
    overlay.put(Table::Auth, prefixed(ROLE_PREFIX, name), role.encode_to_vec());
}

/// Deletes a role record.
pub fn delete_role(overlay: &mut Overlay, name: &str) {
    overlay.delete(Table::Auth, prefixed(ROLE_PREFIX, name));
}

/// Everything the auth table holds.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The enabled flag.
    pub enabled: bool,
    /// The auth revision.
    pub revision: u64,
    /// Users by name.
    pub users: BTreeMap<String, User>,
    /// Roles by name.
    pub roles: BTreeMap<String, Role>,
}

fn err(what: &str, key: &[u8]) -> DecodeError {
    DecodeError(alloc::format!("auth {what} at key {:?}", String::from_utf8_lossy(key)))
}

fn name_of(key: &[u8], prefix: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(key[prefix.len()..].to_vec()).map_err(|_| err("name is not UTF-8", key))
}

fn decode_record(loaded: &mut Loaded, key: &[u8], value: &[u8]) -> Result<(), DecodeError> {
    if key == ENABLED_KEY {
        loaded.enabled = match value {
            [0] => false,
            [1] => true,
            _ => return Err(err("enabled flag is malformed", key)),
        };
    } else if key == REVISION_KEY {
        let bytes: [u8; 8] = value.try_into().map_err(|_| err("revision is malformed", key))?;
        // etcd never runs at revision 0: opening an empty store commits revision 1.
        loaded.revision = u64::from_be_bytes(bytes).max(1);
    } else if key.starts_with(USER_PREFIX) {
        let name = name_of(key, USER_PREFIX)?;
        let user = User::decode(value).map_err(|_| err("user does not decode", key))?;
        if user.name != name.as_bytes() {
            return Err(err("user name differs from its key", key));
        }
        loaded.users.insert(name, user);
    } else if key.starts_with(ROLE_PREFIX) {
        let name = name_of(key, ROLE_PREFIX)?;
        let role = Role::decode(value).map_err(|_| err("role does not decode", key))?;
        if role.name != name.as_bytes() {
            return Err(err("role name differs from its key", key));
        }
        loaded.roles.insert(name, role);
    } else {
        return Err(err("unknown record", key));
    }
    Ok(())
}

/// Checks that one auth record decodes (for records arriving in a snapshot).
///
/// # Errors
/// The record does not decode.
pub fn check_record(key: &[u8], value: &[u8]) -> Result<(), DecodeError> {
    decode_record(&mut Loaded::default(), key, value)
}

/// Reads the whole auth table (durable contents merged with `overlay`'s pending writes).
///
/// # Errors
/// A record that does not decode: the data is corrupt.
pub fn load(backend: &dyn Backend, overlay: &Overlay) -> Result<Loaded, DecodeError> {
    let mut loaded = Loaded { revision: 1, ..Loaded::default() };
    let mut failure = None;
    overlay.scan(backend, Table::Auth, &[], None, &mut |key, value| match decode_record(
        &mut loaded,
        key,
        value,
    ) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            failure = Some(e);
            ControlFlow::Break(())
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(loaded),
    }
}
