//! etcd's snapshot format: bbolt database files in etcd 3.4's bucket layout.
//!
//! `etcdctl snapshot save` stores whatever Maintenance.Snapshot streams; etcd streams its bbolt
//! database followed by a SHA-256 of it, and `etcdctl snapshot status` / `restore` open the file
//! as bbolt. This module lets oxcd speak that format both ways:
//!
//! - [`write_bbolt_snapshot`] turns a frozen view of oxcd's state-machine tables into such a
//!   stream (bbolt file + SHA-256 trailer), in bounded memory, for Maintenance.Snapshot;
//! - [`read_bbolt`] reads etcd 3.4/3.5 snapshots and db files, validating every page;
//! - [`restore_from_etcd_snapshot`] builds a new oxcd data dir from an etcd snapshot (the
//!   inverse mapping), so `oxcd snapshot restore` can migrate an etcd cluster's data;
//! - [`bbolt_status`] computes what `etcdctl snapshot status` prints.
//!
//! The layout and its compatibility are described in `docs/snapshots.md`.

mod etcd;
mod export;
pub mod format;
mod reader;
mod restore;
mod status;
mod writer;

pub use etcd::{BUCKETS, CLUSTER_VERSION};
pub use export::{
    plan_bbolt_snapshot, write_bbolt_snapshot, write_planned_bbolt_snapshot, BboltInfo, BboltPlan,
};
pub use reader::{is_bbolt_file, read_bbolt, BboltEntry, BboltFileInfo, BboltReader};
pub use restore::{restore_from_etcd_snapshot, EtcdRestoreInfo, EtcdRestoreOptions};
pub use status::{bbolt_status, BboltStatus};

use oxcd_core::backend::Table;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a bbolt file could not be written or read.
#[derive(Debug)]
pub enum BboltError {
    /// Reading the file or writing the stream failed.
    Io {
        /// The file involved (empty when writing to a caller's stream).
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file is not a valid bbolt database: truncated, damaged, or not bbolt at all.
    Corrupt {
        /// What is wrong, and where.
        reason: String,
    },
    /// A valid bbolt file that uses something etcd never writes (nested buckets).
    Unsupported {
        /// What was found.
        reason: String,
    },
    /// A record that has no etcd encoding (in either direction): a malformed record of an
    /// oxcd table, or an etcd record oxcd cannot store.
    Record {
        /// The oxcd table the record belongs to.
        table: Table,
        /// The record's key.
        key: Vec<u8>,
        /// What is wrong with it.
        reason: String,
    },
    /// The view changed between the two passes of the writer (it must be frozen).
    ViewChanged,
}

impl fmt::Display for BboltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BboltError::Io { path, source } if path.as_os_str().is_empty() => {
                write!(f, "bbolt snapshot stream failed: {source}")
            }
            BboltError::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            BboltError::Corrupt { reason } => write!(f, "invalid bbolt file: {reason}"),
            BboltError::Unsupported { reason } => write!(f, "unsupported bbolt file: {reason}"),
            BboltError::Record { table, key, reason } => write!(
                f,
                "record {:?} of table {table} cannot be converted: {reason}",
                String::from_utf8_lossy(key)
            ),
            BboltError::ViewChanged => {
                f.write_str("the storage view changed while the snapshot was written")
            }
        }
    }
}

impl std::error::Error for BboltError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BboltError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
