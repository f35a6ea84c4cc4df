//! One LMDB environment with its named databases: one per [`Table`], `empty_keys` (LMDB refuses
//! empty keys, the tables allow them) and `format` (version and identity).

use crate::layout::DirLock;
use crate::read::Gate;
use heed::types::Bytes;
use heed::{CommitOrAbort, Env, EnvFlags, EnvOpenOptions, PutFlags, RoTxn, RwTxn, WithoutTls};
use oxcd_core::backend::{Table, WriteOp};
use std::ops::{Bound, ControlFlow};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What a scan calls for each record, until it breaks.
pub(crate) type Visitor<'a> = dyn FnMut(&[u8], &[u8]) -> ControlFlow<()> + 'a;

/// A database of raw byte keys and values.
pub(crate) type Db = heed::Database<'static, Bytes, Bytes>;

/// Name of the database holding the format version and identity.
const FORMAT_DB: &str = "format";
/// Name of the database holding each table's record with the empty key, keyed by table tag.
const EMPTY_KEYS_DB: &str = "empty_keys";
/// Named databases: the tables, `empty_keys` and `format`, with room to spare.
const MAX_DBS: u32 = 16;
/// Records copied per write transaction chunk when installing a staged snapshot.
const STAGING_CHUNK_RECORDS: usize = 4096;
/// Bytes copied per chunk when installing a staged snapshot, bounding the heap it needs.
const STAGING_CHUNK_BYTES: usize = 8 << 20;

/// How an environment is opened.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EnvConfig {
    pub map_size_bytes: usize,
    pub max_readers: u32,
    pub no_sync: bool,
}

/// The handles of every named database of one environment.
#[derive(Clone, Copy)]
pub(crate) struct Dbs {
    tables: [Db; Table::ALL.len()],
    pub empty_keys: Db,
    pub format: Db,
}

impl Dbs {
    pub fn table(&self, table: Table) -> Db {
        self.tables[table_index(table)]
    }
}

fn table_index(table: Table) -> usize {
    Table::ALL.iter().position(|t| *t == table).expect("every table is in Table::ALL")
}

/// An open environment and its databases.
pub(crate) struct Store {
    pub env: Env<WithoutTls>,
    pub dbs: Dbs,
    /// Where this environment lives now (it may have been renamed since it was opened).
    pub dir: PathBuf,
    /// Counts this environment's read transactions, so the map can be resized safely.
    pub gate: Gate,
    pub max_key_bytes: usize,
    map_size_bytes: AtomicUsize,
    /// The member's lock lives as long as any environment of it is open (views may outlive
    /// the [`crate::LmdbStorage`]).
    _lock: Arc<DirLock>,
}

/// Opens (creating if absent) the LMDB environment in `dir`.
#[allow(unsafe_code)]
pub(crate) fn open_env(dir: &Path, config: EnvConfig) -> Result<Env<WithoutTls>, heed::Error> {
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(config.map_size_bytes).max_readers(config.max_readers).max_dbs(MAX_DBS);
    if config.no_sync {
        // SAFETY: MDB_NOSYNC only skips fsync at commit; it cannot make LMDB touch memory it
        // does not own. The caller asked for it knowing a power loss may lose recent commits.
        unsafe {
            options.flags(EnvFlags::NO_SYNC);
        }
    }
    // SAFETY: LMDB requires that an environment is opened once per process and that nothing
    // else changes its files while it is open. The member LOCK file, held by the caller, keeps
    // other processes out; heed refuses a second open of the same path in this process; and
    // nothing in this crate writes to data.mdb except through LMDB.
    unsafe { options.open(dir) }
}

/// True when the environment has no named database yet (freshly created).
pub(crate) fn is_fresh(env: &Env<WithoutTls>) -> bool {
    env.unnamed_database_stat().entries == 0
}

/// Creates every named database and records the format version, in one transaction (so a
/// crash leaves either a fresh environment or a complete empty store).
pub(crate) fn create_dbs(env: &Env<WithoutTls>) -> Result<Dbs, heed::Error> {
    let wtxn = env.write_txn()?;
    let dbs = env
        .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
            let mut tables = Vec::with_capacity(Table::ALL.len());
            for table in Table::ALL {
                tables.push(opener.create_database::<Bytes, Bytes>(wtxn, Some(table.name()))?);
            }
            let empty_keys = opener.create_database::<Bytes, Bytes>(wtxn, Some(EMPTY_KEYS_DB))?;
            let format = opener.create_database::<Bytes, Bytes>(wtxn, Some(FORMAT_DB))?;
            crate::format::write_version(format, wtxn)?;
            let tables: [_; Table::ALL.len()] =
                tables.try_into().unwrap_or_else(|_| unreachable!("one database per table"));
            Ok(CommitOrAbort::<_, ()>::Commit((tables, empty_keys, format)))
        })?
        .unwrap_commit();
    let (tables, empty_keys, format) = dbs;
    Ok(Dbs { tables, empty_keys, format })
}

/// Opens every named database; `Err(name)` names the first one missing.
pub(crate) fn open_dbs(env: &Env<WithoutTls>) -> Result<Result<Dbs, &'static str>, heed::Error> {
    let rtxn = env.read_txn()?;
    let opened = env.open_databases_and_commit(rtxn, |opener, rtxn| -> Result<_, heed::Error> {
        let open = |name: &'static str| -> Result<Result<_, &'static str>, heed::Error> {
            Ok(opener.open_database::<Bytes, Bytes>(rtxn, Some(name))?.ok_or(name))
        };
        let mut tables = Vec::with_capacity(Table::ALL.len());
        for table in Table::ALL {
            match open(table.name())? {
                Ok(db) => tables.push(db),
                Err(name) => return Ok(CommitOrAbort::Abort(name)),
            }
        }
        let empty_keys = match open(EMPTY_KEYS_DB)? {
            Ok(db) => db,
            Err(name) => return Ok(CommitOrAbort::Abort(name)),
        };
        let format = match open(FORMAT_DB)? {
            Ok(db) => db,
            Err(name) => return Ok(CommitOrAbort::Abort(name)),
        };
        let tables: [_; Table::ALL.len()] =
            tables.try_into().unwrap_or_else(|_| unreachable!("one database per table"));
        Ok(CommitOrAbort::Commit((tables, empty_keys, format)))
    })?;
    Ok(match opened {
        CommitOrAbort::Commit((tables, empty_keys, format)) => {
            Ok(Dbs { tables, empty_keys, format })
        }
        CommitOrAbort::Abort(name) => Err(name),
    })
}

impl Store {
    pub fn new(
        env: Env<WithoutTls>,
        dbs: Dbs,
        dir: PathBuf,
        lock: Arc<DirLock>,
        map_size_bytes: usize,
    ) -> Store {
        let max_key_bytes = env.max_key_size();
        Store {
            env,
            dbs,
            dir,
            gate: Gate::default(),
            max_key_bytes,
            map_size_bytes: AtomicUsize::new(map_size_bytes),
            _lock: lock,
        }
    }

    pub fn map_size_bytes(&self) -> usize {
        self.map_size_bytes.load(Ordering::Relaxed)
    }

    /// Grows the map. Only with the gate closed and no write transaction open.
    #[allow(unsafe_code)]
    pub fn resize_map(&self, map_size_bytes: usize) -> Result<(), heed::Error> {
        assert!(self.gate.is_closed_and_idle(), "resizing the map with transactions open");
        // SAFETY: LMDB allows mdb_env_set_mapsize on an open environment only while this process
        // has no transaction on it. The gate is closed with no reader inside (asserted above), so
        // no read transaction exists and none can begin; the caller holds the writer lock and has
        // ended its write transaction.
        unsafe { self.env.resize(map_size_bytes)? };
        self.map_size_bytes.store(map_size_bytes, Ordering::Relaxed);
        Ok(())
    }

    /// The value of `key` in `table`, read in `txn`.
    pub fn get<'t>(
        &self,
        txn: &'t RoTxn<'_>,
        table: Table,
        key: &[u8],
    ) -> Result<Option<&'t [u8]>, heed::Error> {
        if key.is_empty() {
            self.dbs.empty_keys.get(txn, &[table.tag()])
        } else {
            self.dbs.table(table).get(txn, key)
        }
    }

    /// Visits `[from, to)` of `table` in key order until `visit` breaks.
    pub fn scan(
        &self,
        txn: &RoTxn<'_>,
        table: Table,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut Visitor<'_>,
    ) -> Result<(), heed::Error> {
        if to.is_some_and(|to| to <= from) {
            return Ok(());
        }
        if from.is_empty() {
            if let Some(value) = self.dbs.empty_keys.get(txn, &[table.tag()])? {
                if visit(b"", value).is_break() {
                    return Ok(());
                }
            }
        }
        for record in self.dbs.table(table).range(txn, &range(from, to))? {
            let (key, value) = record?;
            if visit(key, value).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Applies `ops` inside `wtxn`, in order. Key lengths are checked by the caller.
    pub fn apply(&self, wtxn: &mut RwTxn<'_>, ops: &[WriteOp]) -> Result<(), heed::Error> {
        for op in ops {
            match op {
                WriteOp::Put { table, key, value } => self.put(wtxn, *table, key, value, false)?,
                WriteOp::Delete { table, key } => {
                    if key.is_empty() {
                        self.dbs.empty_keys.delete(wtxn, &[table.tag()])?;
                    } else {
                        self.dbs.table(*table).delete(wtxn, key)?;
                    }
                }
                WriteOp::DeleteRange { table, from, to } => {
                    if to.as_ref().is_some_and(|to| to <= from) {
                        continue;
                    }
                    if from.is_empty() {
                        self.dbs.empty_keys.delete(wtxn, &[table.tag()])?;
                    }
                    self.dbs.table(*table).delete_range(wtxn, &range(from, to.as_deref()))?;
                }
                WriteOp::InstallStagedSnapshot => self.install_staged(wtxn)?,
            }
        }
        Ok(())
    }

    /// Puts one record; `append` when keys are known to arrive in order into that table.
    pub fn put(
        &self,
        wtxn: &mut RwTxn<'_>,
        table: Table,
        key: &[u8],
        value: &[u8],
        append: bool,
    ) -> Result<(), heed::Error> {
        if key.is_empty() {
            return self.dbs.empty_keys.put(wtxn, &[table.tag()], value);
        }
        let flags = if append { PutFlags::APPEND } else { PutFlags::empty() };
        self.dbs.table(table).put_with_flags(wtxn, flags, key, value)
    }

    fn install_staged(&self, wtxn: &mut RwTxn<'_>) -> Result<(), heed::Error> {
        for table in Table::STATE_MACHINE {
            self.dbs.table(table).clear(wtxn)?;
            self.dbs.empty_keys.delete(wtxn, &[table.tag()])?;
        }
        let staging = self.dbs.table(Table::SnapshotStaging);
        // Copied in bounded chunks: a staged snapshot can be larger than memory.
        let mut after: Option<Vec<u8>> = None;
        loop {
            let mut chunk: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let mut chunk_bytes = 0;
            let lower = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            for record in staging.range(wtxn, &(lower, Bound::Unbounded))? {
                let (key, value) = record?;
                chunk_bytes += key.len() + value.len();
                chunk.push((key.to_vec(), value.to_vec()));
                if chunk.len() >= STAGING_CHUNK_RECORDS || chunk_bytes >= STAGING_CHUNK_BYTES {
                    break;
                }
            }
            let Some((last, _)) = chunk.last() else { break };
            after = Some(last.clone());
            for (key, value) in &chunk {
                let Some((&tag, record_key)) = key.split_first() else { continue };
                let Some(table) = Table::from_tag(tag) else { continue };
                if Table::STATE_MACHINE.contains(&table) {
                    // Staged keys sort by tag, then key: each table receives its keys in order.
                    self.put(wtxn, table, record_key, value, true)?;
                }
            }
        }
        staging.clear(wtxn)?;
        self.dbs.empty_keys.delete(wtxn, &[Table::SnapshotStaging.tag()])?;
        Ok(())
    }

    /// Bytes of the pages the trees use (meta pages included); the rest of the file is free.
    pub fn bytes_in_use(&self, txn: &RoTxn<'_>) -> Result<u64, heed::Error> {
        let main = self.env.unnamed_database_stat();
        let mut pages = 2 + main.branch_pages + main.leaf_pages + main.overflow_pages;
        let mut dbs: Vec<Db> = Table::ALL.iter().map(|t| self.dbs.table(*t)).collect();
        dbs.push(self.dbs.empty_keys);
        dbs.push(self.dbs.format);
        for db in dbs {
            let stat = db.stat(txn)?;
            pages += stat.branch_pages + stat.leaf_pages + stat.overflow_pages;
        }
        Ok(pages as u64 * u64::from(main.page_size))
    }

    /// Size of data.mdb.
    pub fn file_bytes(&self) -> Result<u64, heed::Error> {
        self.env.real_disk_size()
    }
}

/// `[from, to)` as LMDB bounds; an empty `from` is the start (LMDB has no empty key to seek to).
fn range<'a>(from: &'a [u8], to: Option<&'a [u8]>) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    let lower = if from.is_empty() { Bound::Unbounded } else { Bound::Included(from) };
    (lower, to.map_or(Bound::Unbounded, Bound::Excluded))
}
