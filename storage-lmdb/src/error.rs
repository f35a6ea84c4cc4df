//! What can go wrong, with the path and the reason in every message.

use oxcd_core::backend::Table;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a store could not be opened. Nothing here is repaired silently: the operator decides.
#[derive(Debug)]
pub enum OpenError {
    /// The data dir holds no store and the caller did not ask to create one.
    Missing {
        /// The directory that should hold the store.
        path: PathBuf,
    },
    /// Another process (or another handle in this one) holds the store's lock.
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A path exists but cannot be used: not a directory, permission denied, unreadable.
    Unusable {
        /// The path.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The files are not a valid LMDB environment, or a table is missing.
    Corrupt {
        /// The LMDB environment directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store was written by a format this build does not know.
    UnknownFormat {
        /// The LMDB environment directory.
        path: PathBuf,
        /// The version found on disk.
        found: u32,
        /// The version this build writes.
        supported: u32,
    },
    /// The store belongs to another cluster or another member.
    IdentityMismatch {
        /// The LMDB environment directory.
        path: PathBuf,
        /// Which field differs and how.
        reason: String,
    },
    /// An options value is out of range.
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
    /// Any other IO or LMDB failure.
    Storage {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: heed::Error,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Missing { path } => write!(f, "no oxcd store at {}", path.display()),
            OpenError::Locked { path } => {
                write!(f, "the store is in use by another process: cannot lock {}", path.display())
            }
            OpenError::Unusable { path, source } => {
                write!(f, "cannot use {}: {source}", path.display())
            }
            OpenError::Corrupt { path, reason } => {
                write!(f, "the store at {} is corrupt: {reason}", path.display())
            }
            OpenError::UnknownFormat { path, found, supported } => write!(
                f,
                "the store at {} has format version {found}, this build supports only {supported}",
                path.display()
            ),
            OpenError::IdentityMismatch { path, reason } => {
                write!(f, "the store at {} belongs to another member: {reason}", path.display())
            }
            OpenError::InvalidOptions { reason } => write!(f, "invalid storage options: {reason}"),
            OpenError::Storage { path, source } => {
                write!(f, "cannot open the store at {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for OpenError {}

/// Why a batch (or a bootstrap) was not written. After any of these, none of the batch is
/// stored and the store stays readable.
#[derive(Debug)]
pub enum WriteError {
    /// A key is longer than LMDB allows ([`crate::LmdbStorage::max_key_bytes`]).
    KeyTooLong {
        /// The table written.
        table: Table,
        /// The key's length.
        key_bytes: usize,
        /// The limit.
        max_key_bytes: usize,
    },
    /// The disk (or the file size limit) is full. Writes may succeed again once space is freed.
    NoSpace {
        /// The LMDB environment directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The memory map is full and could not be grown (open views held it for too long, or the
    /// configured maximum is reached).
    MapFull {
        /// The map size in force.
        map_size_bytes: usize,
        /// Why it was not grown.
        reason: String,
    },
    /// The store was already bootstrapped with another identity.
    AlreadyBootstrapped {
        /// What is stored.
        stored: String,
    },
    /// Any other IO or LMDB failure (fsync errors included: the server should stop rather than
    /// retry, since the kernel may have dropped the unsynced pages).
    Storage {
        /// The LMDB environment directory.
        path: PathBuf,
        /// The underlying error.
        source: heed::Error,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::KeyTooLong { table, key_bytes, max_key_bytes } => write!(
                f,
                "key of {key_bytes} bytes in table {table} is longer than the {max_key_bytes} bytes LMDB allows"
            ),
            WriteError::NoSpace { path, source } => {
                write!(f, "no space left for the store at {}: {source}", path.display())
            }
            WriteError::MapFull { map_size_bytes, reason } => {
                write!(f, "the LMDB map of {map_size_bytes} bytes is full: {reason}")
            }
            WriteError::AlreadyBootstrapped { stored } => {
                write!(f, "the store is already bootstrapped as {stored}")
            }
            WriteError::Storage { path, source } => {
                write!(f, "write to the store at {} failed: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for WriteError {}

/// Why a defragmentation did not complete. The store is unchanged and usable after any of these.
#[derive(Debug)]
pub enum DefragError {
    /// Writes arrived faster than the copy could catch up with them.
    WritesOutpaced {
        /// Bytes of batches written while the copy ran.
        journal_bytes: usize,
    },
    /// Another defragmentation is running.
    Busy,
    /// Creating, filling or swapping the new environment failed.
    Io {
        /// The path involved.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// LMDB failed while copying.
    Storage {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: heed::Error,
    },
}

impl fmt::Display for DefragError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefragError::WritesOutpaced { journal_bytes } => write!(
                f,
                "defragmentation abandoned: {journal_bytes} bytes were written while copying"
            ),
            DefragError::Busy => f.write_str("a defragmentation is already running"),
            DefragError::Io { path, source } => {
                write!(f, "defragmentation failed at {}: {source}", path.display())
            }
            DefragError::Storage { path, source } => {
                write!(f, "defragmentation failed at {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for DefragError {}

/// Why a snapshot file could not be written, read or restored.
#[derive(Debug)]
pub enum SnapshotError {
    /// Reading or writing the file or the new data dir failed.
    Io {
        /// The path involved (empty when writing to a caller's stream).
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file is not an oxcd snapshot, is truncated, or its SHA-256 does not match.
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The target data dir already holds a member.
    TargetExists {
        /// The existing directory.
        path: PathBuf,
    },
    /// LMDB failed.
    Storage {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: heed::Error,
    },
    /// Opening the restored store failed.
    Open(OpenError),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Io { path, source } => {
                write!(f, "snapshot IO failed at {}: {source}", path.display())
            }
            SnapshotError::Invalid { reason } => write!(f, "invalid snapshot: {reason}"),
            SnapshotError::TargetExists { path } => {
                write!(
                    f,
                    "data dir {} already holds a member; refusing to overwrite",
                    path.display()
                )
            }
            SnapshotError::Storage { path, source } => {
                write!(f, "snapshot failed at {}: {source}", path.display())
            }
            SnapshotError::Open(e) => write!(f, "cannot open the restored store: {e}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// The OS error behind an LMDB error, when there is one.
pub(crate) fn os_error(e: &heed::Error) -> Option<io::Error> {
    match e {
        heed::Error::Io(io) => io.raw_os_error().map(io::Error::from_raw_os_error),
        heed::Error::Mdb(heed::MdbError::Other(code)) => Some(io::Error::from_raw_os_error(*code)),
        _ => None,
    }
}

/// True for "disk full"-like errors: no space, quota exceeded, file size limit.
pub(crate) fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error()
        || code == rustix::io::Errno::DQUOT.raw_os_error()
        || code == rustix::io::Errno::FBIG.raw_os_error())
}
