//! Giving free pages back to the filesystem: a compacting copy into a fresh environment, swapped
//! in while reads go on and writes pause only for the last catch-up.
//!
//! LMDB never shrinks its file; its own compacting copy (`mdb_env_copy2`) starts its read
//! transaction at a moment the caller cannot see, so writes made during the copy could not be
//! told apart. Instead:
//! 1. Under the writer lock, a read transaction freezes the source and a journal starts
//!    recording every batch written from then on.
//! 2. The frozen records are appended, in key order, to a new environment in
//!    `member/db.tmp-*` (no fsync while copying; one sync at the end). Writes go on meanwhile.
//! 3. Catch-up rounds replay the journal into the copy outside the lock until what is left is
//!    small; the last round replays under the writer lock (the only pause), then
//!    `renameat2(RENAME_EXCHANGE)` swaps `db` and the copy atomically, so a crash at any moment
//!    leaves a complete environment at `db`.
//! 4. New reads use the new environment at once; views taken before keep reading the old one
//!    (its files are already unlinked, freed when the last view ends).

use crate::error::DefragError;
use crate::layout::{create_private_dir, exchange, sync_dir};
use crate::read::ReadTxn;
use crate::storage::{Journal, LmdbStorage};
use crate::store::{create_dbs, open_dbs, open_env, Db, Dbs, Store};
use heed::{Env, PutFlags, WithoutTls};
use oxcd_core::backend::{Table, WriteBatch};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

/// Bytes appended per write transaction while copying.
const COPY_TXN_BYTES: usize = 64 << 20;
/// The journal is replayed under the writer lock once it is at most this many batches...
const FINAL_BATCHES_MAX: usize = 256;
/// ... and at most this many bytes.
const FINAL_BYTES_MAX: usize = 4 << 20;
/// Catch-up rounds before the last one is taken under the lock whatever its size.
const CATCH_UP_ROUNDS_MAX: usize = 8;

/// What a defragmentation did.
#[derive(Clone, Debug)]
pub struct DefragReport {
    /// Size of the data file before.
    pub size_before_bytes: u64,
    /// Size of the data file after.
    pub size_after_bytes: u64,
    /// Records copied from the frozen source.
    pub records_copied: u64,
    /// Journal replays, the last one under the writer lock.
    pub catch_up_rounds: usize,
    /// How long writes waited: the last replay and the swap.
    pub write_pause: Duration,
    /// Wall time of the whole defragmentation.
    pub total: Duration,
}

struct Flag<'a>(&'a AtomicBool);

impl Drop for Flag<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DefragError + '_ {
    move |source| DefragError::Io { path: path.to_owned(), source }
}

fn lmdb_err(path: &Path) -> impl FnOnce(heed::Error) -> DefragError + '_ {
    move |source| DefragError::Storage { path: path.to_owned(), source }
}

/// Every named database of an environment, in a fixed order, `format` last.
pub(crate) fn all_dbs(dbs: &Dbs) -> Vec<Db> {
    let mut all: Vec<Db> = Table::ALL.iter().map(|t| dbs.table(*t)).collect();
    all.push(dbs.empty_keys);
    all.push(dbs.format);
    all
}

impl LmdbStorage {
    /// Rewrites the store compactly, giving free pages back to the filesystem. Reads are never
    /// interrupted; writes pause only while the last few batches are replayed and the files are
    /// swapped ([`DefragReport::write_pause`]). Needs free disk space for a copy of the live
    /// data. Safe to call from another thread (on a clone) while the store is in use.
    ///
    /// # Errors
    /// [`DefragError::Busy`] when one is running, [`DefragError::WritesOutpaced`] when writes
    /// kept coming faster than the copy, IO and LMDB failures. The store is unchanged after an
    /// error, and the scratch copy is removed.
    pub fn defragment(&self) -> Result<DefragReport, DefragError> {
        if self.shared.defragmenting.swap(true, Ordering::AcqRel) {
            return Err(DefragError::Busy);
        }
        let _running = Flag(&self.shared.defragmenting);
        let scratch = self.shared.layout.scratch_dir();
        let result = self.defragment_into(&scratch);
        if result.is_err() {
            self.writer().journal = None;
        }
        // On success the scratch name holds the old environment's files (swapped out); on
        // failure the partial copy. Either way they go; an open old view keeps its files alive.
        let _ = fs::remove_dir_all(&scratch);
        result
    }

    fn defragment_into(&self, scratch: &Path) -> Result<DefragReport, DefragError> {
        let started = Instant::now();
        let source = {
            let mut writer = self.writer();
            let source = self.read_txn();
            writer.journal = Some(Journal { batches: Vec::new(), bytes: 0, overflowed: false });
            source
        };
        let size_before_bytes = source.store.file_bytes().map_err(lmdb_err(&source.store.dir))?;
        let map_size_bytes = source.store.map_size_bytes();

        create_private_dir(scratch).map_err(io_err(scratch))?;
        let mut copy_config = self.shared.options.env_config(map_size_bytes);
        copy_config.no_sync = true;
        let records_copied = {
            let env = open_env(scratch, copy_config).map_err(lmdb_err(scratch))?;
            let dbs = create_dbs(&env).map_err(lmdb_err(scratch))?;
            let copied = copy_records(&source, &env, &dbs).map_err(lmdb_err(scratch))?;
            env.force_sync().map_err(lmdb_err(scratch))?;
            copied
        };
        drop(source);

        // Reopened with the store's own durability for the replays.
        let config = self.shared.options.env_config(map_size_bytes);
        let env = open_env(scratch, config).map_err(lmdb_err(scratch))?;
        let dbs = open_dbs(&env).map_err(lmdb_err(scratch))?.map_err(|name| DefragError::Io {
            path: scratch.to_owned(),
            source: std::io::Error::other(format!("database {name} missing in the copy")),
        })?;
        let lock = self.shared.lock.clone();
        let mut copy = Store::new(env, dbs, scratch.to_owned(), lock, map_size_bytes);

        let mut rounds = 0;
        loop {
            rounds += 1;
            let mut writer = self.writer();
            let journal =
                writer.journal.as_mut().expect("the journal runs during a defragmentation");
            if journal.overflowed {
                return Err(DefragError::WritesOutpaced { journal_bytes: journal.bytes });
            }
            let bytes = std::mem::take(&mut journal.bytes);
            let pending = std::mem::take(&mut journal.batches);
            let last = pending.len() <= FINAL_BATCHES_MAX && bytes <= FINAL_BYTES_MAX;
            if !last && rounds < CATCH_UP_ROUNDS_MAX {
                drop(writer);
                replay(&copy, &pending).map_err(lmdb_err(scratch))?;
                continue;
            }
            let paused = Instant::now();
            replay(&copy, &pending).map_err(lmdb_err(scratch))?;
            // The copy's checkpoint is the one read at the start; the journaled batches moved it.
            let live = self.read_txn();
            let checkpoint = crate::format::read_checkpoint(live.store.dbs.format, live.txn())
                .map_err(lmdb_err(&live.store.dir))?;
            drop(live);
            if let Ok(seq) = checkpoint {
                let mut wtxn = copy.env.write_txn().map_err(lmdb_err(scratch))?;
                crate::format::write_checkpoint(copy.dbs.format, &mut wtxn, seq)
                    .and_then(|()| wtxn.commit())
                    .map_err(lmdb_err(scratch))?;
            }
            let db_dir = self.shared.layout.db_dir.clone();
            sync_dir(scratch).map_err(io_err(scratch))?;
            exchange(&db_dir, scratch).map_err(io_err(&db_dir))?;
            copy.dir = db_dir;
            let size_after_bytes = copy.file_bytes().map_err(lmdb_err(&copy.dir))?;
            *self.shared.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(copy);
            writer.journal = None;
            // The rename reaches the disk with this sync at the latest; both names held
            // complete, equal environments until now, and the writer lock is still held.
            let synced = sync_dir(&self.shared.layout.member_dir);
            drop(writer);
            let write_pause = paused.elapsed();
            synced.map_err(io_err(&self.shared.layout.member_dir))?;
            return Ok(DefragReport {
                size_before_bytes,
                size_after_bytes,
                records_copied,
                catch_up_rounds: rounds,
                write_pause,
                total: started.elapsed(),
            });
        }
    }
}

/// Appends every record of `source` to the (empty) databases `dbs` of `env`, in bounded write
/// transactions; returns the number of records.
fn copy_records(source: &ReadTxn, env: &Env<WithoutTls>, dbs: &Dbs) -> Result<u64, heed::Error> {
    let mut copied = 0;
    let mut wtxn = env.write_txn()?;
    let mut txn_bytes = 0;
    let targets = all_dbs(dbs);
    let format_index = targets.len() - 1;
    for (i, (from, to)) in all_dbs(&source.store.dbs).into_iter().zip(targets).enumerate() {
        // The copy's `format` database (last) already holds a version record: no appending.
        let flags = if i == format_index { PutFlags::empty() } else { PutFlags::APPEND };
        for record in from.iter(source.txn())? {
            let (key, value) = record?;
            to.put_with_flags(&mut wtxn, flags, key, value)?;
            copied += 1;
            txn_bytes += key.len() + value.len();
            if txn_bytes >= COPY_TXN_BYTES {
                wtxn.commit()?;
                // Flushing each chunk spreads the copy's IO out, instead of one large sync
                // that would stall the live store's fsyncs behind it.
                env.force_sync()?;
                wtxn = env.write_txn()?;
                txn_bytes = 0;
            }
        }
    }
    wtxn.commit()?;
    Ok(copied)
}

/// Applies journaled batches to the copy, all in one transaction (the copy is not visible to
/// anyone until the swap, so per-batch atomicity is not needed).
fn replay(copy: &Store, batches: &[WriteBatch]) -> Result<(), heed::Error> {
    if batches.is_empty() {
        return Ok(());
    }
    let mut wtxn = copy.env.write_txn()?;
    for batch in batches {
        copy.apply(&mut wtxn, &batch.ops)?;
    }
    wtxn.commit()
}
