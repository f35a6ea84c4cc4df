//! The storage writer: the core's persist batches are committed on their own thread, so the
//! event loop keeps reading, sending and applying while a commit's fsync runs.
//!
//! Batches are committed in the order they were handed over; batches that queue up while a
//! commit runs are merged into the next one (group commit: one write transaction, one fsync).
//! After each commit the writer reports the highest [`PersistId`] it made durable and wakes the
//! loop, which then confirms it to the core (`Node::handle_persisted`) and sends the messages
//! that waited for it. A failed commit is reported once and ends the writer: the member stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::Waker;
use oxcd_core::backend::WriteBatch;
use oxcd_core::node::PersistId;
use oxcd_storage_lmdb::{LmdbStorage, WriteError};

/// Bytes of queued batches merged into one commit at most (a larger single batch still goes
/// alone).
const GROUP_COMMIT_BYTES_MAX: usize = 64 << 20;

/// How long the writer waits before retrying a commit that found the disk full.
const DISK_FULL_RETRY: Duration = Duration::from_secs(1);

/// What the writer reports.
pub(crate) enum Committed {
    /// Every batch up to this id is durable (and the disk has room, if it had none).
    Upto(PersistId),
    /// The disk is full: the commit is retried every [`DISK_FULL_RETRY`] until it fits.
    DiskFull(WriteError),
    /// A commit failed for another reason; nothing after it was written.
    Failed(WriteError),
}

/// The loop's handle on the writer thread.
pub(crate) struct StorageWriter {
    jobs: Option<Sender<(PersistId, WriteBatch)>>,
    done: Receiver<Committed>,
    thread: Option<JoinHandle<()>>,
    /// Set when the member stops: a commit waiting for disk space gives up.
    stopping: Arc<AtomicBool>,
}

impl StorageWriter {
    /// Starts the writer thread for `storage`; it wakes the loop with `waker`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub(crate) fn start(storage: LmdbStorage, waker: Arc<Waker>) -> std::io::Result<Self> {
        let (jobs, inbox) = mpsc::channel::<(PersistId, WriteBatch)>();
        let (report, done) = mpsc::channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let thread = std::thread::Builder::new()
            .name("oxcd-storage-writer".into())
            .spawn(move || write_loop(&storage, &inbox, &report, &waker, &stop))?;
        Ok(StorageWriter { jobs: Some(jobs), done, thread: Some(thread), stopping })
    }

    /// Hands a batch over; it is committed after every batch handed over before it.
    pub(crate) fn submit(&mut self, id: PersistId, batch: WriteBatch) {
        if let Some(jobs) = &self.jobs {
            // A send fails only when the writer ended after a failure, which `poll` reports.
            let _ = jobs.send((id, batch));
        }
    }

    /// The next report, if one is waiting.
    pub(crate) fn poll(&mut self) -> Option<Committed> {
        self.done.try_recv().ok()
    }

    /// Commits what was handed over and stops the thread.
    pub(crate) fn finish(&mut self) {
        self.jobs = None;
        self.stopping.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for StorageWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

fn write_loop(
    storage: &LmdbStorage,
    inbox: &Receiver<(PersistId, WriteBatch)>,
    report: &mpsc::Sender<Committed>,
    waker: &Waker,
    stopping: &AtomicBool,
) {
    while let Ok((mut highest, mut batch)) = inbox.recv() {
        // Group commit: whatever queued up meanwhile joins this transaction.
        let mut bytes = batch.size_bytes();
        while bytes < GROUP_COMMIT_BYTES_MAX {
            match inbox.try_recv() {
                Ok((id, mut more)) => {
                    bytes += more.size_bytes();
                    batch.append(&mut more);
                    highest = id;
                }
                Err(_) => break,
            }
        }
        let mut reported_full = false;
        let outcome = loop {
            let outcome = if batch.is_empty() { Ok(()) } else { storage.write_batch(&batch) };
            match outcome {
                // A full disk is not the end: the member refuses writes and this batch waits
                // until an operator makes room (nothing of it was written).
                Err(e @ WriteError::NoSpace { .. }) if !stopping.load(Ordering::Acquire) => {
                    if !reported_full {
                        reported_full = true;
                        let _ = report.send(Committed::DiskFull(e));
                        let _ = waker.wake();
                    }
                    std::thread::sleep(DISK_FULL_RETRY);
                }
                other => break other,
            }
        };
        let failed = outcome.is_err();
        let _ = report.send(match outcome {
            Ok(()) => Committed::Upto(highest),
            Err(e) => Committed::Failed(e),
        });
        let _ = waker.wake();
        if failed {
            return;
        }
    }
}
