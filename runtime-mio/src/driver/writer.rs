//! The storage writer: the core's persist batches are committed on their own thread, so the
//! event loop keeps reading, sending and applying while a commit's fsync runs.
//!
//! Batches are committed in the order they were handed over; batches that queue up while a
//! commit runs are merged into the next one (group commit: one write transaction, one fsync).
//! After each commit the writer reports the highest [`PersistId`] it made durable and wakes the
//! loop, which then confirms it to the core (`Node::handle_persisted`) and sends the messages
//! that waited for it. A failed commit is reported once and ends the writer: the member stops.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::Waker;
use oxcd_core::backend::WriteBatch;
use oxcd_core::node::PersistId;
use oxcd_storage_lmdb::{LmdbStorage, WriteError};

/// Bytes of queued batches merged into one commit at most (a larger single batch still goes
/// alone).
const GROUP_COMMIT_BYTES_MAX: usize = 64 << 20;

/// What the writer reports.
pub(crate) enum Committed {
    /// Every batch up to this id is durable.
    Upto(PersistId),
    /// A commit failed; nothing after it was written.
    Failed(WriteError),
}

/// The loop's handle on the writer thread.
pub(crate) struct StorageWriter {
    jobs: Option<Sender<(PersistId, WriteBatch)>>,
    done: Receiver<Committed>,
    thread: Option<JoinHandle<()>>,
}

impl StorageWriter {
    /// Starts the writer thread for `storage`; it wakes the loop with `waker`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub(crate) fn start(storage: LmdbStorage, waker: Arc<Waker>) -> std::io::Result<Self> {
        let (jobs, inbox) = mpsc::channel::<(PersistId, WriteBatch)>();
        let (report, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("oxcd-storage-writer".into())
            .spawn(move || write_loop(&storage, &inbox, &report, &waker))?;
        Ok(StorageWriter { jobs: Some(jobs), done, thread: Some(thread) })
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
        let outcome = if batch.is_empty() { Ok(()) } else { storage.write_batch(&batch) };
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
