//! The storage writer: the core's persist batches are made durable on threads of their own, so
//! the event loop keeps reading, sending and applying while the disk works.
//!
//! Two stages:
//! 1. The log thread appends batches to the write-ahead log, each group that queued up while
//!    it worked as one record, and syncs it (one `fdatasync` of a preallocated file; no sync
//!    when every batch in the group is marked `sync: false` by the core). It reports them
//!    [`Committed::Logged`]: the loop confirms them to the core (`Node::handle_logged`) and
//!    sends the messages that waited for them. This is the only disk wait on a write's path.
//! 2. The store thread gathers logged batches for [`STORE_INTERVAL`] and commits them to LMDB
//!    in one transaction (two syncs of scattered pages, recording the log position reached),
//!    then reports them [`Committed::Stored`]: the core (`Node::handle_persisted`) drops its
//!    in-memory copy of the state machine's writes, and log segments LMDB holds are deleted.
//!
//! A failed write is reported once and ends the writer: the member stops. A full disk is not
//! a failure: the stage retries every second and the loop refuses growing writes meanwhile.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;
use oxcd_core::backend::WriteBatch;
use oxcd_core::node::PersistId;
use oxcd_storage_lmdb::{LmdbStorage, WalWriter, WriteError};

/// Bytes of queued batches merged into one log record or one LMDB commit at most (a larger
/// single batch still goes alone).
const GROUP_COMMIT_BYTES_MAX: usize = 64 << 20;

/// How long the store stage gathers logged batches into one LMDB commit.
const STORE_INTERVAL: Duration = Duration::from_millis(100);

/// How long a stage waits before retrying a write that found the disk full.
const DISK_FULL_RETRY: Duration = Duration::from_secs(1);

/// Which stage a report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The write-ahead log.
    Log,
    /// LMDB.
    Store,
}

/// What the writer reports.
pub(crate) enum Committed {
    /// Every batch up to this id is durable in the write-ahead log (and the log has room, if
    /// it had none).
    Logged(PersistId),
    /// Every batch up to this id is in LMDB (and LMDB has room, if it had none).
    Stored(PersistId),
    /// The disk is full for this stage: its write is retried every [`DISK_FULL_RETRY`].
    DiskFull(Stage, WriteError),
    /// A write failed for another reason; nothing after it was written.
    Failed(WriteError),
}

/// A batch handed over.
struct Job {
    id: PersistId,
    batch: WriteBatch,
    /// Sync the log before reporting it.
    sync: bool,
    /// Report it [`Committed::Logged`] (the loop may have confirmed it already).
    report: bool,
}

/// How far the writer got, for threads that need LMDB to hold everything handed over.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    submitted: AtomicU64,
    stored: Mutex<u64>,
    moved: Condvar,
}

impl Progress {
    /// Waits, at most `timeout`, until LMDB holds every batch handed over so far; true if it
    /// does.
    pub(crate) fn wait_stored(&self, timeout: Duration) -> bool {
        let target = self.submitted.load(Ordering::Acquire);
        let stored = self.stored.lock().unwrap_or_else(PoisonError::into_inner);
        let (stored, _) = self
            .moved
            .wait_timeout_while(stored, timeout, |stored| *stored < target)
            .unwrap_or_else(PoisonError::into_inner);
        *stored >= target
    }

    fn stored(&self, id: PersistId) {
        *self.stored.lock().unwrap_or_else(PoisonError::into_inner) = id.0;
        self.moved.notify_all();
    }
}

/// The loop's handle on the writer threads.
pub(crate) struct StorageWriter {
    progress: Arc<Progress>,
    jobs: Option<Sender<Job>>,
    done: Receiver<Committed>,
    threads: Vec<JoinHandle<()>>,
    /// Set when the member stops: a write waiting for disk space gives up.
    stopping: Arc<AtomicBool>,
}

/// What both stages share.
struct Context {
    report: Sender<Committed>,
    waker: Arc<Waker>,
    stopping: Arc<AtomicBool>,
}

impl Context {
    fn send(&self, report: Committed) {
        let _ = self.report.send(report);
        let _ = self.waker.wake();
    }

    /// Runs `write` until it succeeds, fails for good, or finds the disk full while the member
    /// stops; a full disk is reported once and retried every [`DISK_FULL_RETRY`].
    fn retry_while_full<T>(
        &self,
        stage: Stage,
        mut write: impl FnMut() -> Result<T, WriteError>,
    ) -> Result<T, WriteError> {
        let mut reported = false;
        loop {
            match write() {
                Err(e @ WriteError::NoSpace { .. }) if !self.stopping.load(Ordering::Acquire) => {
                    if !reported {
                        reported = true;
                        self.send(Committed::DiskFull(stage, e));
                    }
                    std::thread::sleep(DISK_FULL_RETRY);
                }
                other => return other,
            }
        }
    }
}

impl StorageWriter {
    /// Opens the write-ahead log of `storage` and starts both stages; they wake the loop with
    /// `waker`.
    ///
    /// # Errors
    /// The log cannot be opened or a thread cannot be started.
    pub(crate) fn start(storage: LmdbStorage, waker: Arc<Waker>) -> io::Result<Self> {
        let wal = storage.open_wal()?;
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (logged, store_inbox) = mpsc::channel::<Stored>();
        let (report, done) = mpsc::channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let context =
            || Context { report: report.clone(), waker: waker.clone(), stopping: stopping.clone() };
        let (log_context, store_context) = (context(), context());
        let log_storage = storage.clone();
        let log_thread = std::thread::Builder::new()
            .name("oxcd-wal".into())
            .spawn(move || log_loop(wal, &log_storage, &inbox, &logged, &log_context))?;
        let progress = Arc::new(Progress::default());
        let store_progress = progress.clone();
        let store_thread = std::thread::Builder::new()
            .name("oxcd-storage-writer".into())
            .spawn(move || store_loop(&storage, &store_inbox, &store_context, &store_progress))?;
        Ok(StorageWriter {
            progress,
            jobs: Some(jobs),
            done,
            threads: vec![log_thread, store_thread],
            stopping,
        })
    }

    /// Hands a batch over; it is written after every batch handed over before it, synced
    /// to the log first when `sync` (the core's `Persist::sync`), and reported
    /// [`Committed::Logged`] when `report`.
    pub(crate) fn submit(&mut self, id: PersistId, batch: WriteBatch, sync: bool, report: bool) {
        if let Some(jobs) = &self.jobs {
            self.progress.submitted.store(id.0, Ordering::Release);
            // A send fails only when the writer ended after a failure, which `poll` reports.
            let _ = jobs.send(Job { id, batch, sync, report });
        }
    }

    /// How far the writer got.
    pub(crate) fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// The next report, if one is waiting.
    pub(crate) fn poll(&mut self) -> Option<Committed> {
        self.done.try_recv().ok()
    }

    /// Writes what was handed over (to the log and to LMDB) and stops the threads.
    pub(crate) fn finish(&mut self) {
        self.jobs = None;
        self.stopping.store(true, Ordering::Release);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for StorageWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

fn log_loop(
    mut wal: WalWriter,
    storage: &LmdbStorage,
    inbox: &Receiver<Job>,
    logged: &Sender<Stored>,
    context: &Context,
) {
    while let Ok(first) = inbox.recv() {
        // Group commit: whatever queued up meanwhile joins this record.
        let (mut highest, mut sync, mut report) = (first.id, first.sync, first.report);
        let mut bytes = first.batch.size_bytes();
        let mut batches = vec![first.batch];
        while bytes < GROUP_COMMIT_BYTES_MAX {
            let Ok(job) = inbox.try_recv() else { break };
            bytes += job.batch.size_bytes();
            highest = job.id;
            sync |= job.sync;
            report |= job.report;
            batches.push(job.batch);
        }
        // What the core does not need synced (the state machine's writes, a new commit index)
        // is redone from the Raft log after a crash; the next synced record covers it.
        let outcome = context.retry_while_full(Stage::Log, || {
            if sync {
                wal.append_durable(&batches)
            } else {
                wal.append_unsynced(&batches)
            }
        });
        let seq = match outcome {
            Ok(seq) => seq,
            Err(e) => return context.send(Committed::Failed(e)),
        };
        if report {
            context.send(Committed::Logged(highest));
        }
        if logged.send(Stored { highest, seq, batches, bytes }).is_err() {
            return;
        }
        if let Err(e) = wal.release_through(storage.checkpoint()) {
            tracing::warn!(error = %e, "could not delete a write-ahead log segment LMDB holds");
        }
    }
}

/// Logged batches on their way to LMDB.
struct Stored {
    highest: PersistId,
    seq: u64,
    batches: Vec<WriteBatch>,
    bytes: usize,
}

fn store_loop(
    storage: &LmdbStorage,
    inbox: &Receiver<Stored>,
    context: &Context,
    progress: &Progress,
) {
    let mut open = true;
    while open {
        let Ok(Stored { mut highest, mut seq, mut batches, mut bytes }) = inbox.recv() else {
            return;
        };
        // Like etcd's backend batch interval: LMDB's two syncs of scattered pages stay off
        // the log's way, and one commit takes many batches.
        let deadline = Instant::now() + STORE_INTERVAL;
        while bytes < GROUP_COMMIT_BYTES_MAX {
            match inbox.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(mut more) => {
                    batches.append(&mut more.batches);
                    bytes += more.bytes;
                    highest = more.highest;
                    seq = more.seq;
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        match context.retry_while_full(Stage::Store, || storage.write_logged(&batches, seq)) {
            Ok(()) => {
                progress.stored(highest);
                context.send(Committed::Stored(highest));
            }
            Err(e) => return context.send(Committed::Failed(e)),
        }
    }
}
