//! Snapshot files: what `etcdctl snapshot save` receives over Maintenance.Snapshot, and what a
//! new data dir is restored from.
//!
//! The file is a stream of records from one consistent read transaction, followed by a SHA-256
//! of everything before it (etcd also appends a SHA-256 to its snapshot; the bytes before it are
//! ours, not a bbolt file). All integers are big-endian:
//!
//! ```text
//! "OXCDSNAP"  u32 version (1)
//! per record: u8 table tag (non-zero)  u32 key length  key  u32 value length  value
//! end:        u8 0  u64 record count
//! trailer:    32 bytes SHA-256 of all the bytes above
//! ```
//!
//! Records of a table are contiguous and in key order, tables in [`SNAPSHOT_TABLES`] order, so a
//! restore appends them. The Raft log and snapshot staging area are not included: a restored
//! member starts a new log.

use crate::error::SnapshotError;
use crate::layout::{create_private_dir, sync_dir, DirLock, Layout};
use crate::read::ReadTxn;
use crate::storage::{LmdbStorage, OpenOptions};
use crate::store::{create_dbs, open_env, Store};
use heed::RwTxn;
use oxcd_core::backend::Table;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The tables a snapshot file carries, in file order.
pub const SNAPSHOT_TABLES: [Table; 6] =
    [Table::RaftState, Table::Kv, Table::Lease, Table::Auth, Table::Members, Table::Meta];

const MAGIC: &[u8; 8] = b"OXCDSNAP";
const VERSION: u32 = 1;
const END_TAG: u8 = 0;
/// Longest key a reader accepts (LMDB keys are far shorter; this only bounds allocations when
/// reading a damaged file).
const KEY_BYTES_MAX: usize = 64 << 10;
/// Longest value a reader accepts.
const VALUE_BYTES_MAX: usize = 256 << 20;
/// Bytes restored per write transaction.
const RESTORE_TXN_BYTES: usize = 64 << 20;

/// Facts about a snapshot file that do not depend on what the records mean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The SHA-256 trailer (verified when read).
    pub sha256: [u8; 32],
    /// Records per table.
    pub records: BTreeMap<Table, u64>,
    /// All records.
    pub total_records: u64,
    /// Size of the file, trailer included.
    pub size_bytes: u64,
}

struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn stream_err(source: io::Error) -> SnapshotError {
    SnapshotError::Io { path: PathBuf::new(), source }
}

fn len_u32(len: usize) -> io::Result<[u8; 4]> {
    u32::try_from(len)
        .map(u32::to_be_bytes)
        .map_err(|_| io::Error::other(format!("record of {len} bytes is too long for a snapshot")))
}

impl LmdbStorage {
    /// Writes a consistent, compact copy of the store to `out`: the records of
    /// [`SNAPSHOT_TABLES`] as of one moment, then a SHA-256 trailer. Writes go on meanwhile.
    ///
    /// # Errors
    /// [`SnapshotError::Io`] when `out` fails.
    pub fn save_snapshot(&self, out: &mut dyn Write) -> Result<SnapshotInfo, SnapshotError> {
        let txn = self.read_txn();
        write_snapshot(&txn, out).map_err(stream_err)
    }
}

fn write_snapshot(txn: &ReadTxn, out: &mut dyn Write) -> io::Result<SnapshotInfo> {
    let mut w = BufWriter::with_capacity(
        256 << 10,
        HashWriter { inner: &mut *out, hasher: Sha256::new(), bytes: 0 },
    );
    w.write_all(MAGIC)?;
    w.write_all(&VERSION.to_be_bytes())?;
    let mut records = BTreeMap::new();
    let mut total_records = 0u64;
    for table in SNAPSHOT_TABLES {
        let mut count = 0u64;
        let mut failed = None;
        txn.scan(table, b"", None, &mut |key, value| {
            let written = (|| {
                w.write_all(&[table.tag()])?;
                w.write_all(&len_u32(key.len())?)?;
                w.write_all(key)?;
                w.write_all(&len_u32(value.len())?)?;
                w.write_all(value)
            })();
            match written {
                Ok(()) => {
                    count += 1;
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    failed = Some(e);
                    ControlFlow::Break(())
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        records.insert(table, count);
        total_records += count;
    }
    w.write_all(&[END_TAG])?;
    w.write_all(&total_records.to_be_bytes())?;
    let hashed = w.into_inner().map_err(io::IntoInnerError::into_error)?;
    let sha256: [u8; 32] = hashed.hasher.finalize().into();
    hashed.inner.write_all(&sha256)?;
    hashed.inner.flush()?;
    Ok(SnapshotInfo { sha256, records, total_records, size_bytes: hashed.bytes + 32 })
}

/// Reads exact byte counts, hashing what it reads.
struct HashReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashReader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), SnapshotError> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => invalid("the file ends early (truncated)"),
            _ => stream_err(e),
        })?;
        self.hasher.update(&*buf);
        self.bytes += buf.len() as u64;
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        let mut b = [0; 4];
        self.exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn bytes(&mut self, limit: usize, what: &str) -> Result<Vec<u8>, SnapshotError> {
        let len = self.u32()? as usize;
        if len > limit {
            return Err(invalid(&format!("a {what} of {len} bytes exceeds {limit}")));
        }
        let mut buf = vec![0; len];
        self.exact(&mut buf)?;
        Ok(buf)
    }
}

fn invalid(reason: &str) -> SnapshotError {
    SnapshotError::Invalid { reason: reason.to_owned() }
}

/// What reading a snapshot does with each record.
type RecordSink<'a> = dyn FnMut(Table, &[u8], &[u8]) -> Result<(), SnapshotError> + 'a;

/// Reads and verifies a snapshot stream, handing each record to `on_record`.
fn read_snapshot(
    input: impl Read,
    on_record: &mut RecordSink<'_>,
) -> Result<SnapshotInfo, SnapshotError> {
    let mut r = HashReader {
        inner: BufReader::with_capacity(256 << 10, input),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut magic = [0; 8];
    r.exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(invalid("not an oxcd snapshot (bad magic)"));
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(invalid(&format!("snapshot version {version}, this build reads {VERSION}")));
    }
    let mut records = BTreeMap::new();
    let mut total_records = 0u64;
    loop {
        let mut tag = [0; 1];
        r.exact(&mut tag)?;
        if tag[0] == END_TAG {
            break;
        }
        let table = Table::from_tag(tag[0])
            .filter(|t| SNAPSHOT_TABLES.contains(t))
            .ok_or_else(|| invalid(&format!("unknown table tag {}", tag[0])))?;
        let key = r.bytes(KEY_BYTES_MAX, "key")?;
        let value = r.bytes(VALUE_BYTES_MAX, "value")?;
        on_record(table, &key, &value)?;
        *records.entry(table).or_insert(0) += 1;
        total_records += 1;
    }
    let mut count = [0; 8];
    r.exact(&mut count)?;
    if u64::from_be_bytes(count) != total_records {
        return Err(invalid("the record count does not match the records"));
    }
    let computed: [u8; 32] = r.hasher.finalize().into();
    let mut sha256 = [0; 32];
    r.inner.read_exact(&mut sha256).map_err(|_| invalid("the SHA-256 trailer is missing"))?;
    if sha256 != computed {
        return Err(invalid("SHA-256 mismatch: the file is damaged"));
    }
    let mut extra = [0; 1];
    if r.inner.read(&mut extra).map_err(stream_err)? != 0 {
        return Err(invalid("bytes follow the SHA-256 trailer"));
    }
    for table in SNAPSHOT_TABLES {
        records.entry(table).or_insert(0);
    }
    Ok(SnapshotInfo { sha256, records, total_records, size_bytes: r.bytes + 32 })
}

/// Verifies the snapshot file at `path` and counts its records (`etcdutl snapshot status`).
///
/// # Errors
/// [`SnapshotError::Invalid`] for a damaged or foreign file; [`SnapshotError::Io`].
pub fn snapshot_status(path: &Path) -> Result<SnapshotInfo, SnapshotError> {
    let file =
        File::open(path).map_err(|source| SnapshotError::Io { path: path.to_owned(), source })?;
    read_snapshot(file, &mut |_, _, _| Ok(()))
}

/// Creates the store of a new member in `data_dir` from the snapshot file at `file`, after
/// verifying its SHA-256, and opens it (`etcdutl snapshot restore`). The restored store has the
/// snapshot's records, an empty Raft log and no identity: the caller then rewrites `Members`
/// and `RaftState` for the new cluster (with [`LmdbStorage::write_batch`]) and calls
/// [`LmdbStorage::bootstrap`]. `options.create` is ignored.
///
/// # Errors
/// [`SnapshotError::TargetExists`] when `data_dir` already holds a member (nothing is touched);
/// [`SnapshotError::Invalid`] for a damaged file (nothing is left behind); IO and LMDB failures.
pub fn restore_snapshot(
    file: &Path,
    data_dir: &Path,
    options: OpenOptions,
) -> Result<LmdbStorage, SnapshotError> {
    let layout = Layout::new(data_dir);
    if layout.member_dir.exists() {
        return Err(SnapshotError::TargetExists { path: layout.member_dir });
    }
    let input =
        File::open(file).map_err(|source| SnapshotError::Io { path: file.to_owned(), source })?;
    let member_dir = layout.member_dir.clone();
    create_private_dir(&member_dir)
        .map_err(|source| SnapshotError::Io { path: member_dir.clone(), source })?;
    let built = build_store(&layout, input, &options);
    if let Err(e) = built {
        let _ = fs::remove_dir_all(&member_dir);
        return Err(e);
    }
    LmdbStorage::open(data_dir, OpenOptions { create: false, ..options })
        .map_err(SnapshotError::Open)
}

fn build_store(layout: &Layout, input: File, options: &OpenOptions) -> Result<(), SnapshotError> {
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
    {
        let mut config = options.env_config(options.map_size_bytes);
        config.no_sync = true;
        let env = open_env(&scratch, config).map_err(lmdb(&scratch))?;
        let dbs = create_dbs(&env).map_err(lmdb(&scratch))?;
        let store = Store::new(env.clone(), dbs, scratch.clone(), lock, options.map_size_bytes);
        let mut wtxn: Option<RwTxn<'_>> = Some(env.write_txn().map_err(lmdb(&scratch))?);
        let mut txn_bytes = 0;
        let mut put = |table: Table, key: &[u8], value: &[u8]| -> Result<(), SnapshotError> {
            let txn = wtxn.as_mut().expect("a write transaction is open while restoring");
            store.put(txn, table, key, value, true).map_err(|e| match e {
                heed::Error::Mdb(heed::MdbError::KeyExist) => {
                    invalid(&format!("records of table {table} are out of order"))
                }
                e => SnapshotError::Storage { path: scratch.clone(), source: e },
            })?;
            txn_bytes += key.len() + value.len();
            if txn_bytes >= RESTORE_TXN_BYTES {
                if let Some(full) = wtxn.take() {
                    full.commit().map_err(lmdb(&scratch))?;
                }
                wtxn = Some(env.write_txn().map_err(lmdb(&scratch))?);
                txn_bytes = 0;
            }
            Ok(())
        };
        read_snapshot(input, &mut put)?;
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
    Ok(())
}
