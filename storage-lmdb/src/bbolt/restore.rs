//! [`restore_from_etcd_snapshot`]: a new oxcd data dir from an etcd snapshot (or db file).

use super::etcd::{import_record, Imported};
use super::reader::{read_bbolt, BboltFileInfo, BboltReader};
use super::BboltError;
use crate::error::SnapshotError;
use crate::layout::{create_private_dir, sync_dir, DirLock, Layout};
use crate::storage::{LmdbStorage, OpenOptions};
use crate::store::{create_dbs, open_env, Store};
use heed::RwTxn;
use oxcd_core::backend::Table;
use oxcd_core::mvcc::revision::BucketKey;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

/// Bytes restored per LMDB write transaction.
const RESTORE_TXN_BYTES: usize = 64 << 20;

/// How [`restore_from_etcd_snapshot`] treats its input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EtcdRestoreOptions {
    /// Accept a file without etcd's SHA-256 trailer, such as a copied `member/snap/db`
    /// (etcdctl's `--skip-hash-check`). A trailer that is present is always verified.
    pub skip_hash_check: bool,
}

/// What a restore read and wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdRestoreInfo {
    /// What the file's meta pages and size say (the trailer, when present, was verified).
    pub file: BboltFileInfo,
    /// The highest main revision of the `key` bucket (0 when it is empty).
    pub revision: i64,
    /// Records written per oxcd table.
    pub records: BTreeMap<Table, u64>,
    /// etcd's applied index (`meta/consistent_index`), not carried over: the new member
    /// starts a new log.
    pub consistent_index: Option<u64>,
    /// etcd 3.5's term of the applied index (`meta/term`), not carried over.
    pub term: Option<u64>,
    /// The cluster version the snapshot records (`cluster/clusterVersion`).
    pub cluster_version: Option<String>,
    /// Records oxcd has no use for, per bucket (unknown buckets, etcd 3.5's `meta/confState`).
    pub skipped: BTreeMap<String, u64>,
}

fn to_snapshot_error(e: BboltError) -> SnapshotError {
    match e {
        BboltError::Io { path, source } => SnapshotError::Io { path, source },
        other => SnapshotError::Invalid { reason: other.to_string() },
    }
}

/// Creates the store of a new member in `data_dir` from the etcd snapshot at `file` (the
/// output of `etcdctl snapshot save`, or with [`EtcdRestoreOptions::skip_hash_check`] a copied
/// etcd `member/snap/db`), and opens it: `oxcd snapshot restore` for etcd's files.
///
/// etcd's buckets become oxcd's tables (the inverse of [`super::write_bbolt_snapshot`]'s
/// mapping): keys with all their revisions and tombstones, compaction marks, leases, users,
/// roles, the auth switch and revision, alarms and the old member list. Like
/// [`crate::restore_snapshot`], the result has no identity and an empty Raft log: the caller
/// replaces `Members` and `RaftState` for the new cluster (etcd's restore likewise drops the
/// old members) and calls [`LmdbStorage::bootstrap`]. `options.create` is ignored.
///
/// The file is verified (trailer, meta checksums, every page) as it is read; on any error
/// nothing is left behind in `data_dir`.
///
/// # Errors
/// [`SnapshotError::TargetExists`] when `data_dir` already holds a member (nothing is touched);
/// [`SnapshotError::Invalid`] for a damaged or foreign file, a file without the SHA-256
/// trailer unless allowed, or records that are not what etcd writes; IO and LMDB failures.
pub fn restore_from_etcd_snapshot(
    file: &Path,
    data_dir: &Path,
    options: OpenOptions,
    restore: EtcdRestoreOptions,
) -> Result<(LmdbStorage, EtcdRestoreInfo), SnapshotError> {
    let layout = Layout::new(data_dir);
    if layout.member_dir.exists() {
        return Err(SnapshotError::TargetExists { path: layout.member_dir });
    }
    let reader = read_bbolt(file).map_err(to_snapshot_error)?;
    if reader.info().sha256_trailer.is_none() && !restore.skip_hash_check {
        return Err(SnapshotError::Invalid {
            reason: "snapshot missing hash but --skip-hash-check=false".to_owned(),
        });
    }
    let member_dir = layout.member_dir.clone();
    create_private_dir(&member_dir)
        .map_err(|source| SnapshotError::Io { path: member_dir.clone(), source })?;
    let info = match build_store(&layout, reader, &options) {
        Ok(info) => info,
        Err(e) => {
            let _ = fs::remove_dir_all(&member_dir);
            return Err(e);
        }
    };
    let storage = LmdbStorage::open(data_dir, OpenOptions { create: false, ..options })
        .map_err(SnapshotError::Open)?;
    Ok((storage, info))
}

fn build_store(
    layout: &Layout,
    mut reader: BboltReader,
    options: &OpenOptions,
) -> Result<EtcdRestoreInfo, SnapshotError> {
    let lock = Arc::new(DirLock::acquire(&layout.lock_file).map_err(SnapshotError::Open)?);
    let scratch = layout.scratch_dir();
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SnapshotError::Io { path, source }
    };
    let lmdb = |path: &Path| {
        let path = path.to_owned();
        move |source| SnapshotError::Storage { path, source }
    };
    create_private_dir(&scratch).map_err(io(&scratch))?;
    let mut info = EtcdRestoreInfo {
        file: reader.info().clone(),
        revision: 0,
        records: Table::STATE_MACHINE.iter().map(|t| (*t, 0)).collect(),
        consistent_index: None,
        term: None,
        cluster_version: None,
        skipped: BTreeMap::new(),
    };
    {
        let mut config = options.env_config(options.map_size_bytes);
        config.no_sync = true;
        let env = open_env(&scratch, config).map_err(lmdb(&scratch))?;
        let dbs = create_dbs(&env).map_err(lmdb(&scratch))?;
        let store = Store::new(env.clone(), dbs, scratch.clone(), lock, options.map_size_bytes);
        let mut wtxn: Option<RwTxn<'_>> = Some(env.write_txn().map_err(lmdb(&scratch))?);
        let mut txn_bytes = 0;
        for entry in &mut reader {
            let entry = entry.map_err(to_snapshot_error)?;
            let imported = import_record(&entry.bucket, &entry.key, &entry.value)
                .map_err(to_snapshot_error)?;
            let (table, key, value) = match imported {
                Imported::Record(table, key, value) => (table, key, value),
                Imported::ConsistentIndex(n) => {
                    info.consistent_index = Some(n);
                    continue;
                }
                Imported::Term(n) => {
                    info.term = Some(n);
                    continue;
                }
                Imported::ClusterVersion(v) => {
                    info.cluster_version = Some(v);
                    continue;
                }
                Imported::Skipped => {
                    let bucket = String::from_utf8_lossy(&entry.bucket).into_owned();
                    *info.skipped.entry(bucket).or_insert(0) += 1;
                    continue;
                }
            };
            if table == Table::Kv {
                info.revision = BucketKey::decode(&key).map_or(info.revision, |k| k.rev.main);
            }
            // Keys and leases arrive in order (the reader checked it); members and alarms are
            // keyed differently in etcd and go in wherever they belong.
            let append = matches!(table, Table::Kv | Table::Lease);
            let txn = wtxn.as_mut().expect("a write transaction is open while restoring");
            store.put(txn, table, &key, &value, append).map_err(lmdb(&scratch))?;
            *info.records.entry(table).or_insert(0) += 1;
            txn_bytes += key.len() + value.len();
            if txn_bytes >= RESTORE_TXN_BYTES {
                if let Some(full) = wtxn.take() {
                    full.commit().map_err(lmdb(&scratch))?;
                }
                wtxn = Some(env.write_txn().map_err(lmdb(&scratch))?);
                txn_bytes = 0;
            }
        }
        if let Some(last) = wtxn.take() {
            last.commit().map_err(lmdb(&scratch))?;
        }
        env.force_sync().map_err(lmdb(&scratch))?;
    }
    sync_dir(&scratch).map_err(io(&scratch))?;
    fs::rename(&scratch, &layout.db_dir).map_err(io(&layout.db_dir))?;
    sync_dir(&layout.member_dir).map_err(io(&layout.member_dir))?;
    if let Some(data_dir) = layout.member_dir.parent() {
        sync_dir(data_dir).map_err(io(data_dir))?;
    }
    Ok(info)
}
