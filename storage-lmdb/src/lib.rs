//! oxcd-storage-lmdb: a member's storage in LMDB (through heed), behind the core's
//! [`Backend`](oxcd_core::backend::Backend) and [`BackendWriter`](oxcd_core::backend::BackendWriter)
//! traits, shared by both runtimes.
//!
//! - [`LmdbStorage::open`] opens `<data-dir>/member/db/` (see [`Layout`]) under an exclusive lock,
//!   refusing a missing, locked, corrupt, unknown-format or foreign store with a clear error.
//! - [`BackendWriter::write`](oxcd_core::backend::BackendWriter::write) applies a batch in one
//!   LMDB write transaction with one fsync; reads never wait for it, and
//!   [`Backend::view`](oxcd_core::backend::Backend::view) is a long-lived LMDB read transaction.
//! - The map reserves address space up front ([`OpenOptions::map_size_bytes`]) and doubles on
//!   `MDB_MAP_FULL`, retrying the batch; disk-full errors leave the store readable.
//! - [`LmdbStorage::defragment`] copies live records into a fresh environment and swaps it in,
//!   pausing writes only to replay what was written during the copy.
//! - [`LmdbStorage::save_snapshot`], [`restore_snapshot`] and [`snapshot_status`] handle the
//!   snapshot files of `etcdctl snapshot save` (records plus a SHA-256 trailer).

//!
//! # For the server
//! - New member or restart: [`LmdbStorage::exists`]`(data_dir)`; open with
//!   `OpenOptions { create: true, .. }` only for a new member, then [`LmdbStorage::bootstrap`].
//!   On restart pass [`OpenOptions::expected_identity`] so another member's data dir is refused.
//! - `--unsafe-no-fsync` maps to [`OpenOptions::unsafe_no_fsync`]. Reserve a map well above
//!   `--quota-backend-bytes` ([`OpenOptions::map_size_bytes`], 64 GiB by default): growing it
//!   has to wait for open views.
//! - [`WriteError::NoSpace`] and [`WriteError::MapFull`] leave the store readable and may be
//!   retried later (etcd raises the NOSPACE alarm); [`WriteError::Storage`] (fsync or IO
//!   failure) should stop the member.
//! - Reads panic if LMDB cannot serve them (reader table full, fatal environment): the
//!   [`Backend`](oxcd_core::backend::Backend) trait has no error channel.
//! - LMDB commits fsync twice (data pages, then the meta page). A runtime that wants a write
//!   durable sooner appends it to the write-ahead log ([`LmdbStorage::open_wal`], one
//!   `fdatasync`) and hands it to [`LmdbStorage::write_logged`] later; [`LmdbStorage::open`]
//!   replays what LMDB had not taken yet.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bbolt;
mod defrag;
mod error;
mod format;
mod layout;
mod read;
mod snapshot;
mod storage;
mod store;
mod wal;

pub use defrag::DefragReport;
pub use error::{DefragError, OpenError, SnapshotError, WriteError};
pub use format::{ExpectedIdentity, MemberIdentity, FORMAT_VERSION};
pub use layout::Layout;
pub use read::LmdbView;
pub use snapshot::{restore_snapshot, snapshot_status, SnapshotInfo, SNAPSHOT_TABLES};
pub use storage::{LmdbStorage, OpenOptions};
pub use wal::WalWriter;
