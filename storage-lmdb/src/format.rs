//! The `format` database: the on-disk format version and the member's identity.
//!
//! Keys and encodings (stable across releases; a change bumps [`FORMAT_VERSION`]):
//! - `version`: the format version, `u32` big-endian.
//! - `identity`: cluster id (`u64` BE), member id (`u64` BE), then the member name (UTF-8).
//! - `wal_checkpoint`: the last write-ahead log record applied (`u64` BE); absent means none.

use crate::store::Db;
use heed::{RoTxn, RwTxn};
use oxcd_core::NodeId;
use std::fmt;

/// The on-disk format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

const VERSION_KEY: &[u8] = b"version";
const IDENTITY_KEY: &[u8] = b"identity";
const CHECKPOINT_KEY: &[u8] = b"wal_checkpoint";

/// Whose data a store holds, written once at bootstrap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberIdentity {
    /// The cluster id (derived from `--initial-cluster-token` and the initial membership).
    pub cluster_id: u64,
    /// This member's id.
    pub member_id: NodeId,
    /// This member's `--name`.
    pub member_name: String,
}

impl fmt::Display for MemberIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "member {:x} ({:?}) of cluster {:x}",
            self.member_id.get(),
            self.member_name,
            self.cluster_id
        )
    }
}

/// What the caller expects the store to belong to; `None` fields are not checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedIdentity {
    /// The cluster id the store must carry.
    pub cluster_id: Option<u64>,
    /// The member id the store must carry.
    pub member_id: Option<NodeId>,
    /// The member name the store must carry.
    pub member_name: Option<String>,
}

impl ExpectedIdentity {
    /// Why `stored` is not what is expected, if it is not.
    pub(crate) fn mismatch(&self, stored: &MemberIdentity) -> Option<String> {
        if let Some(cluster_id) = self.cluster_id {
            if cluster_id != stored.cluster_id {
                return Some(format!(
                    "cluster id is {:x}, expected {cluster_id:x}",
                    stored.cluster_id
                ));
            }
        }
        if let Some(member_id) = self.member_id {
            if member_id != stored.member_id {
                return Some(format!(
                    "member id is {:x}, expected {:x}",
                    stored.member_id.get(),
                    member_id.get()
                ));
            }
        }
        if let Some(name) = &self.member_name {
            if *name != stored.member_name {
                return Some(format!("member name is {:?}, expected {name:?}", stored.member_name));
            }
        }
        None
    }
}

pub(crate) fn write_version(
    format: heed::Database<'_, heed::types::Bytes, heed::types::Bytes>,
    wtxn: &mut RwTxn<'_>,
) -> Result<(), heed::Error> {
    format.put(wtxn, VERSION_KEY, &FORMAT_VERSION.to_be_bytes())
}

/// The stored version; `Err` describes a malformed record.
pub(crate) fn read_version(
    format: Db,
    txn: &RoTxn<'_>,
) -> Result<Result<u32, String>, heed::Error> {
    Ok(match format.get(txn, VERSION_KEY)? {
        None => Err("the format version record is missing".to_owned()),
        Some(bytes) => match <[u8; 4]>::try_from(bytes) {
            Ok(raw) => Ok(u32::from_be_bytes(raw)),
            Err(_) => Err(format!("the format version record has {} bytes, not 4", bytes.len())),
        },
    })
}

pub(crate) fn write_identity(
    format: Db,
    wtxn: &mut RwTxn<'_>,
    identity: &MemberIdentity,
) -> Result<(), heed::Error> {
    let mut bytes = Vec::with_capacity(16 + identity.member_name.len());
    bytes.extend_from_slice(&identity.cluster_id.to_be_bytes());
    bytes.extend_from_slice(&identity.member_id.get().to_be_bytes());
    bytes.extend_from_slice(identity.member_name.as_bytes());
    format.put(wtxn, IDENTITY_KEY, &bytes)
}

/// The stored identity (`None` before bootstrap); `Err` describes a malformed record.
pub(crate) fn read_identity(
    format: Db,
    txn: &RoTxn<'_>,
) -> Result<Result<Option<MemberIdentity>, String>, heed::Error> {
    let Some(bytes) = format.get(txn, IDENTITY_KEY)? else { return Ok(Ok(None)) };
    if bytes.len() < 16 {
        return Ok(Err(format!("the identity record has {} bytes, fewer than 16", bytes.len())));
    }
    let (ids, name) = bytes.split_at(16);
    let cluster_id = u64::from_be_bytes(ids[..8].try_into().expect("8 bytes"));
    let member_id = NodeId(u64::from_be_bytes(ids[8..].try_into().expect("8 bytes")));
    Ok(match std::str::from_utf8(name) {
        Ok(name) => {
            Ok(Some(MemberIdentity { cluster_id, member_id, member_name: name.to_owned() }))
        }
        Err(_) => Err("the member name in the identity record is not UTF-8".to_owned()),
    })
}

pub(crate) fn write_checkpoint(
    format: Db,
    wtxn: &mut RwTxn<'_>,
    seq: u64,
) -> Result<(), heed::Error> {
    format.put(wtxn, CHECKPOINT_KEY, &seq.to_be_bytes())
}

/// The last write-ahead log record applied (0 when none); `Err` describes a malformed record.
pub(crate) fn read_checkpoint(
    format: Db,
    txn: &RoTxn<'_>,
) -> Result<Result<u64, String>, heed::Error> {
    Ok(match format.get(txn, CHECKPOINT_KEY)? {
        None => Ok(0),
        Some(bytes) => match <[u8; 8]>::try_from(bytes) {
            Ok(raw) => Ok(u64::from_be_bytes(raw)),
            Err(_) => Err(format!("the wal checkpoint record has {} bytes, not 8", bytes.len())),
        },
    })
}
