//! [`LmdbStorage`]: opening and checking a member's store, durable batches, reads and views.

use crate::error::{is_no_space, os_error, OpenError, WriteError};
use crate::format::{self, ExpectedIdentity, MemberIdentity, FORMAT_VERSION};
use crate::layout::{create_private_dir, DirLock, Layout};
use crate::read::{read_failed, LmdbView, ReadTxn};

use crate::store::{create_dbs, is_fresh, open_dbs, open_env, EnvConfig, Store, Visitor};
use crate::wal::{self, Recovered, WalWriter};
use heed::RwTxn;
use oxcd_core::backend::{Backend, BackendWriter, Table, WriteBatch, WriteOp};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

/// How many times a batch is retried after growing a full map.
const GROW_ATTEMPTS_MAX: usize = 8;
/// Bytes of write-ahead log records replayed into LMDB per transaction at open.
const REPLAY_TXN_BYTES: usize = 64 << 20;

/// How to open a store.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Create `<data-dir>/member/` and an empty store when missing (a new member). When false, a
    /// missing store is [`OpenError::Missing`].
    pub create: bool,
    /// Refuse a store bootstrapped for another cluster or member. Unset fields are not checked,
    /// and a store not yet bootstrapped passes.
    pub expected_identity: ExpectedIdentity,
    /// Skip fsync at commit (LMDB's `MDB_NOSYNC`): a crash of the machine (not of the process)
    /// may lose acknowledged batches. For tests and benchmarks only (etcd's
    /// `--unsafe-no-fsync`).
    pub unsafe_no_fsync: bool,
    /// Virtual address space reserved for the map at open; the file grows only as data is
    /// written. A multiple of the OS page size.
    pub map_size_bytes: usize,
    /// The map doubles on `MDB_MAP_FULL` up to this size.
    pub map_size_max_bytes: usize,
    /// How long a growing write waits for open read transactions (views) to end before it
    /// gives up with [`WriteError::MapFull`].
    pub resize_wait_max: Duration,
    /// LMDB reader slots: bounds concurrent read transactions (views included).
    pub max_readers: u32,
    /// Bytes of batches a defragmentation may queue while it copies; beyond this it gives up.
    pub defrag_journal_max_bytes: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            create: false,
            expected_identity: ExpectedIdentity::default(),
            unsafe_no_fsync: false,
            map_size_bytes: 64 << 30,
            map_size_max_bytes: 1 << 40,
            resize_wait_max: Duration::from_secs(2),
            max_readers: 1024,
            defrag_journal_max_bytes: 256 << 20,
        }
    }
}

impl OpenOptions {
    fn validate(&self) -> Result<(), OpenError> {
        let page = rustix::param::page_size();
        let invalid = |reason: String| Err(OpenError::InvalidOptions { reason });
        if self.map_size_bytes == 0 || !self.map_size_bytes.is_multiple_of(page) {
            return invalid(format!("map_size_bytes must be a positive multiple of {page}"));
        }
        if self.map_size_max_bytes < self.map_size_bytes
            || !self.map_size_max_bytes.is_multiple_of(page)
        {
            return invalid(format!(
                "map_size_max_bytes must be a multiple of {page} and at least map_size_bytes"
            ));
        }
        if self.max_readers == 0 {
            return invalid("max_readers must be positive".to_owned());
        }
        Ok(())
    }

    pub(crate) fn env_config(&self, map_size_bytes: usize) -> EnvConfig {
        EnvConfig { map_size_bytes, max_readers: self.max_readers, no_sync: self.unsafe_no_fsync }
    }
}

/// Batches written while a defragmentation copies, replayed into the copy before the swap.
pub(crate) struct Journal {
    pub batches: Vec<WriteBatch>,
    pub bytes: usize,
    pub overflowed: bool,
}

pub(crate) struct WriterState {
    pub journal: Option<Journal>,
}

pub(crate) struct Shared {
    pub layout: Layout,
    pub options: OpenOptions,
    pub lock: Arc<DirLock>,
    /// The environment in use; replaced by a defragmentation.
    pub current: RwLock<Arc<Store>>,
    /// Serializes writes (LMDB has one writer) and holds the defragmentation journal.
    pub writer: Mutex<WriterState>,
    pub defragmenting: AtomicBool,
    /// The last write-ahead log record LMDB holds.
    pub checkpoint: AtomicU64,
    /// What the log held at open, until [`LmdbStorage::open_wal`] takes it.
    pub recovered: Mutex<Option<Recovered>>,
}

/// A member's LMDB store: one environment under `<data-dir>/member/db/`, one named database
/// per [`Table`]. Clones share the store; every method takes `&self` except the
/// [`BackendWriter::write`] the trait defines, and writes from any clone are serialized.
#[derive(Clone)]
pub struct LmdbStorage {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for LmdbStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmdbStorage").field("dir", &self.shared.layout.db_dir).finish()
    }
}

fn metadata_dir(path: &Path) -> Result<bool, OpenError> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) => Err(OpenError::Unusable {
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(OpenError::Unusable { path: path.to_owned(), source }),
    }
}

fn ensure_dir(path: &Path, create: bool) -> Result<(), OpenError> {
    if metadata_dir(path)? {
        return Ok(());
    }
    if !create {
        return Err(OpenError::Missing { path: path.to_owned() });
    }
    create_private_dir(path).map_err(|source| OpenError::Unusable { path: path.to_owned(), source })
}

/// Sorts an LMDB failure at open into the errors the operator reads.
pub(crate) fn open_failed(path: &Path, e: heed::Error) -> OpenError {
    use heed::MdbError as M;
    let path = path.to_owned();
    match e {
        heed::Error::Mdb(
            m
            @ (M::Invalid | M::Corrupted | M::VersionMismatch | M::PageNotFound | M::Incompatible),
        ) => OpenError::Corrupt { path, reason: m.to_string() },
        heed::Error::EnvAlreadyOpened => OpenError::Locked { path },
        heed::Error::Io(source) => OpenError::Unusable { path, source },
        e => match os_error(&e) {
            Some(source) => OpenError::Unusable { path, source },
            None => OpenError::Storage { path, source: e },
        },
    }
}

/// Sorts an LMDB failure during a write that needed about `bytes_hint` more bytes.
pub(crate) fn write_failed(store: &Store, e: heed::Error, bytes_hint: usize) -> WriteError {
    let path = store.dir.clone();
    match os_error(&e) {
        Some(source) if is_no_space(&source) => WriteError::NoSpace { path, source },
        // LMDB reports a short page write as EIO ("short write, filesystem full?"): a disk
        // that fills in the middle of a write looks like that.
        Some(source)
            if source.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error())
                && looks_full(store, bytes_hint) =>
        {
            WriteError::NoSpace { path, source }
        }
        _ => WriteError::Storage { path, source: e },
    }
}

/// True when the filesystem, or the process's file size limit, leaves less room than a write
/// of `bytes_hint` needs (with a margin for LMDB's page and tree overhead).
fn looks_full(store: &Store, bytes_hint: usize) -> bool {
    let needed = (bytes_hint as u64).saturating_mul(2).saturating_add(1 << 20);
    if let Ok(vfs) = rustix::fs::statvfs(&store.dir) {
        if vfs.f_bavail.saturating_mul(vfs.f_frsize) < needed {
            return true;
        }
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Fsize).current;
    match (limit, store.file_bytes()) {
        (Some(limit), Ok(size)) => size.saturating_add(needed) >= limit,
        _ => false,
    }
}

impl LmdbStorage {
    /// Opens the store of the member whose `--data-dir` is `data_dir`.
    ///
    /// # Errors
    /// [`OpenError::Missing`] when there is no store and `options.create` is false;
    /// [`OpenError::Locked`] when another process has it open; [`OpenError::Corrupt`],
    /// [`OpenError::UnknownFormat`] and [`OpenError::IdentityMismatch`] for data this member
    /// must not use; [`OpenError::Unusable`] for paths that cannot be read or created.
    pub fn open(data_dir: &Path, options: OpenOptions) -> Result<LmdbStorage, OpenError> {
        options.validate()?;
        let layout = Layout::new(data_dir);
        ensure_dir(&layout.member_dir, options.create)?;
        let lock = Arc::new(DirLock::acquire(&layout.lock_file)?);
        layout
            .remove_scratch()
            .map_err(|source| OpenError::Unusable { path: layout.member_dir.clone(), source })?;
        ensure_dir(&layout.db_dir, options.create)?;
        let db_dir = layout.db_dir.clone();
        let env = open_env(&db_dir, options.env_config(options.map_size_bytes))
            .map_err(|e| open_failed(&db_dir, e))?;
        let dbs = if is_fresh(&env) {
            if !options.create {
                return Err(OpenError::Corrupt {
                    path: db_dir,
                    reason: "the LMDB environment holds no oxcd tables".to_owned(),
                });
            }
            create_dbs(&env).map_err(|e| open_failed(&db_dir, e))?
        } else {
            match open_dbs(&env).map_err(|e| open_failed(&db_dir, e))? {
                Ok(dbs) => dbs,
                Err(name) => {
                    return Err(OpenError::Corrupt {
                        path: db_dir,
                        reason: format!("database {name:?} is missing"),
                    })
                }
            }
        };
        let store =
            Arc::new(Store::new(env, dbs, db_dir.clone(), lock.clone(), options.map_size_bytes));
        let checkpoint = check_format(&store, &options.expected_identity)?;
        let wal_dir = layout.wal_dir.clone();
        let recovered = wal::recover(&wal_dir, checkpoint)
            .map_err(|source| OpenError::Unusable { path: wal_dir.clone(), source })?;
        let storage = LmdbStorage {
            shared: Arc::new(Shared {
                layout,
                options,
                lock,
                current: RwLock::new(store),
                writer: Mutex::new(WriterState { journal: None }),
                defragmenting: AtomicBool::new(false),
                checkpoint: AtomicU64::new(checkpoint),
                recovered: Mutex::new(None),
            }),
        };
        storage.replay(&recovered.records).map_err(|e| OpenError::Unusable {
            path: wal_dir,
            source: io::Error::other(format!("replaying the write-ahead log: {e}")),
        })?;
        *storage.shared.recovered.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Recovered { records: Vec::new(), ..recovered });
        Ok(storage)
    }

    /// Applies the log's records that LMDB did not hold yet, in bounded transactions.
    fn replay(&self, records: &[(u64, WriteBatch)]) -> Result<(), WriteError> {
        let mut start = 0;
        while start < records.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < records.len() && (end == start || bytes < REPLAY_TXN_BYTES) {
                bytes += records[end].1.size_bytes();
                end += 1;
            }
            let chunk = &records[start..end];
            let last = chunk[chunk.len() - 1].0;
            let _writer = self.writer();
            self.commit(bytes, &mut |store, wtxn| {
                for (_, batch) in chunk {
                    store.apply(wtxn, &batch.ops)?;
                }
                format::write_checkpoint(store.dbs.format, wtxn, last)
            })?;
            self.set_checkpoint(last);
            start = end;
        }
        Ok(())
    }

    /// The write-ahead log, open for appending after what [`LmdbStorage::open`] replayed.
    /// Records appended to it are handed to [`LmdbStorage::write_logged`] in order.
    ///
    /// # Errors
    /// The log was already opened, or its directory or first segment cannot be created.
    pub fn open_wal(&self) -> io::Result<WalWriter> {
        let recovered = self
            .shared
            .recovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| io::Error::other("the write-ahead log is already open"))?;
        WalWriter::open(
            &self.shared.layout.wal_dir,
            &recovered,
            self.checkpoint(),
            self.shared.options.unsafe_no_fsync,
        )
    }

    /// The last write-ahead log record LMDB holds.
    #[must_use]
    pub fn checkpoint(&self) -> u64 {
        self.shared.checkpoint.load(Ordering::Acquire)
    }

    fn set_checkpoint(&self, seq: u64) {
        self.shared.checkpoint.fetch_max(seq, Ordering::AcqRel);
    }

    /// True when `data_dir` holds a member's store (etcd decides "new member or restart" the
    /// same way, from the data dir's contents).
    #[must_use]
    pub fn exists(data_dir: &Path) -> bool {
        Layout::new(data_dir).db_dir.join("data.mdb").is_file()
    }

    /// The paths under the data dir.
    #[must_use]
    pub fn layout(&self) -> &Layout {
        &self.shared.layout
    }

    /// The options the store was opened with.
    #[must_use]
    pub fn options(&self) -> &OpenOptions {
        &self.shared.options
    }

    pub(crate) fn current(&self) -> Arc<Store> {
        self.shared.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn writer(&self) -> MutexGuard<'_, WriterState> {
        self.shared.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn read_txn(&self) -> ReadTxn {
        let store = self.current();
        ReadTxn::begin(store.clone()).unwrap_or_else(|e| read_failed(&store, &e))
    }

    /// The identity written by [`LmdbStorage::bootstrap`], if any.
    #[must_use]
    pub fn identity(&self) -> Option<MemberIdentity> {
        let txn = self.read_txn();
        match format::read_identity(txn.store.dbs.format, txn.txn()) {
            Ok(Ok(identity)) => identity,
            Ok(Err(reason)) => panic!("identity record changed after open: {reason}"),
            Err(e) => read_failed(&txn.store, &e),
        }
    }

    /// Records whose store this is. Idempotent for the same identity.
    ///
    /// # Errors
    /// [`WriteError::AlreadyBootstrapped`] when another identity is stored; write failures.
    pub fn bootstrap(&self, identity: &MemberIdentity) -> Result<(), WriteError> {
        let _writer = self.writer();
        if let Some(stored) = self.identity() {
            if stored == *identity {
                return Ok(());
            }
            return Err(WriteError::AlreadyBootstrapped { stored: stored.to_string() });
        }
        self.commit(identity.member_name.len() + 16, &mut |store, wtxn| {
            format::write_identity(store.dbs.format, wtxn, identity)
        })
    }

    /// Longest key a [`WriteOp::Put`] may carry (1982 bytes with 4 KiB pages).
    #[must_use]
    pub fn max_key_bytes(&self) -> usize {
        self.current().max_key_bytes
    }

    /// Size of the data file on disk, in bytes (etcd's `dbSize`).
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        let store = self.current();
        store.file_bytes().unwrap_or_else(|e| read_failed(&store, &e))
    }

    /// Bytes of the pages holding data; the rest of the file is free pages LMDB reuses and
    /// [`LmdbStorage::defragment`] gives back (etcd's `dbSizeInUse`).
    #[must_use]
    pub fn size_in_use_bytes(&self) -> u64 {
        let txn = self.read_txn();
        txn.store.bytes_in_use(txn.txn()).unwrap_or_else(|e| read_failed(&txn.store, &e))
    }

    /// The current size of the memory map (address space, not disk).
    #[must_use]
    pub fn map_size_bytes(&self) -> usize {
        self.current().map_size_bytes()
    }

    /// A frozen view, like [`Backend::view`] but with its concrete type.
    #[must_use]
    pub fn snapshot_view(&self) -> LmdbView {
        LmdbView::new(self.read_txn())
    }

    /// Runs `f` in one write transaction and commits it (one fsync), growing the map and
    /// retrying when it is full. Call with the writer lock held.
    pub(crate) fn commit(
        &self,
        bytes_hint: usize,
        f: &mut dyn FnMut(&Store, &mut RwTxn<'_>) -> Result<(), heed::Error>,
    ) -> Result<(), WriteError> {
        for _ in 0..GROW_ATTEMPTS_MAX {
            let store = self.current();
            let result = store.env.write_txn().and_then(|mut wtxn| {
                f(&store, &mut wtxn)?;
                wtxn.commit()
            });
            match result {
                Ok(()) => return Ok(()),
                Err(heed::Error::Mdb(heed::MdbError::MapFull)) => self.grow(&store)?,
                Err(e) => return Err(write_failed(&store, e, bytes_hint)),
            }
        }
        let store = self.current();
        Err(WriteError::MapFull {
            map_size_bytes: store.map_size_bytes(),
            reason: format!("still full after growing {GROW_ATTEMPTS_MAX} times"),
        })
    }

    /// Doubles the map (up to the configured maximum). LMDB allows it only while this process
    /// has no transaction open, so readers are held at the gate for the moment it takes.
    fn grow(&self, store: &Store) -> Result<(), WriteError> {
        let current = store.map_size_bytes();
        let next = current.saturating_mul(2).min(self.shared.options.map_size_max_bytes);
        if next <= current {
            return Err(WriteError::MapFull {
                map_size_bytes: current,
                reason: "map_size_max_bytes reached".to_owned(),
            });
        }
        let wait_max = self.shared.options.resize_wait_max;
        if !store.gate.close(wait_max) {
            return Err(WriteError::MapFull {
                map_size_bytes: current,
                reason: format!("read transactions stayed open for {wait_max:?}; retry later"),
            });
        }
        let result = store.resize_map(next);
        store.gate.open();
        result.map_err(|e| write_failed(store, e, 0))
    }

    fn check_keys(&self, batch: &WriteBatch) -> Result<(), WriteError> {
        let max_key_bytes = self.current().max_key_bytes;
        for op in &batch.ops {
            if let WriteOp::Put { table, key, .. } = op {
                if key.len() > max_key_bytes {
                    return Err(WriteError::KeyTooLong {
                        table: *table,
                        key_bytes: key.len(),
                        max_key_bytes,
                    });
                }
            }
        }
        Ok(())
    }

    /// Applies `batch` in one transaction with one fsync; see [`BackendWriter::write`].
    ///
    /// # Errors
    /// See [`WriteError`]; none of the batch is stored after an error.
    pub fn write_batch(&self, batch: &WriteBatch) -> Result<(), WriteError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write_batches(std::slice::from_ref(batch), None)
    }

    /// Like [`LmdbStorage::write_batch`] for batches, in order, that are already durable in
    /// the write-ahead log as the records up to `seq`: one transaction applies them all and
    /// records `seq` as the checkpoint, so they are not replayed again.
    ///
    /// # Errors
    /// As [`LmdbStorage::write_batch`].
    pub fn write_logged(&self, batches: &[WriteBatch], seq: u64) -> Result<(), WriteError> {
        self.write_batches(batches, Some(seq))
    }

    /// One transaction for `batches`, recording `checkpoint` when given; journaled for a
    /// running defragmentation.
    fn write_batches(
        &self,
        batches: &[WriteBatch],
        checkpoint: Option<u64>,
    ) -> Result<(), WriteError> {
        for batch in batches {
            self.check_keys(batch)?;
        }
        let bytes = batches.iter().map(WriteBatch::size_bytes).sum();
        let mut writer = self.writer();
        self.commit(bytes, &mut |store, wtxn| {
            for batch in batches {
                store.apply(wtxn, &batch.ops)?;
            }
            match checkpoint {
                Some(seq) => format::write_checkpoint(store.dbs.format, wtxn, seq),
                None => Ok(()),
            }
        })?;
        for batch in batches {
            self.journal(&mut writer, batch);
        }
        drop(writer);
        if let Some(seq) = checkpoint {
            self.set_checkpoint(seq);
        }
        Ok(())
    }

    fn journal(&self, writer: &mut WriterState, batch: &WriteBatch) {
        if let Some(journal) = &mut writer.journal {
            if !journal.overflowed {
                journal.bytes += batch.size_bytes() + batch.ops.len() * 16;
                if journal.bytes > self.shared.options.defrag_journal_max_bytes {
                    journal.overflowed = true;
                    journal.batches = Vec::new();
                } else {
                    journal.batches.push(batch.clone());
                }
            }
        }
    }

    /// The LMDB environment directory (`<data-dir>/member/db`).
    #[must_use]
    pub fn path(&self) -> PathBuf {
        self.shared.layout.db_dir.clone()
    }
}

/// Checks version and identity; returns the write-ahead log checkpoint.
fn check_format(store: &Store, expected: &ExpectedIdentity) -> Result<u64, OpenError> {
    let path = store.dir.clone();
    let corrupt = |reason: String| OpenError::Corrupt { path: path.clone(), reason };
    let txn = store.env.read_txn().map_err(|e| open_failed(&path, e))?;
    let version =
        format::read_version(store.dbs.format, &txn).map_err(|e| open_failed(&path, e))?;
    let version = version.map_err(corrupt)?;
    if version != FORMAT_VERSION {
        return Err(OpenError::UnknownFormat { path, found: version, supported: FORMAT_VERSION });
    }
    let identity =
        format::read_identity(store.dbs.format, &txn).map_err(|e| open_failed(&path, e))?;
    if let Some(identity) = identity.map_err(corrupt)? {
        if let Some(reason) = expected.mismatch(&identity) {
            return Err(OpenError::IdentityMismatch { path, reason });
        }
    }
    let checkpoint =
        format::read_checkpoint(store.dbs.format, &txn).map_err(|e| open_failed(&path, e))?;
    checkpoint.map_err(corrupt)
}

impl Backend for LmdbStorage {
    fn get(&self, table: Table, key: &[u8]) -> Option<Vec<u8>> {
        self.read_txn().get(table, key)
    }

    fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, visit: &mut Visitor<'_>) {
        self.read_txn().scan(table, from, to, visit);
    }

    fn view(&self) -> Box<dyn Backend> {
        Box::new(self.snapshot_view())
    }
}

impl BackendWriter for LmdbStorage {
    type Error = WriteError;

    fn write(&mut self, batch: &WriteBatch) -> Result<(), WriteError> {
        self.write_batch(batch)
    }
}
