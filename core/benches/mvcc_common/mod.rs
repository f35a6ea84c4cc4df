//! Helpers shared by the mvcc benchmarks (included with `#[path]`).
#![allow(dead_code)]

use oxcd_core::backend::{MemBackend, Overlay};
use oxcd_core::lease::LessorConfig;
use oxcd_core::mvcc::kv::{KvConfig, KvStore};
use oxcd_core::mvcc::{StorageMut, StorageRef};
use oxcd_core::watch::WatchConfig;
use std::time::Duration;

pub struct Bench {
    pub backend: MemBackend,
    pub overlay: Overlay,
    pub kv: KvStore,
    seq: u64,
}

impl Bench {
    pub fn new(watch: WatchConfig) -> Self {
        let config =
            KvConfig { lessor: LessorConfig::for_election_timeout(Duration::from_secs(1)), watch };
        Bench {
            backend: MemBackend::new(),
            overlay: Overlay::new(),
            kv: KvStore::new(config),
            seq: 0,
        }
    }

    /// What the runtime does with a group commit: take the batch, write it, confirm it.
    pub fn persist(&mut self) {
        self.seq += 1;
        let batch = self.overlay.take_batch(self.seq);
        self.backend.apply(&batch);
        self.overlay.persisted(self.seq);
    }

    pub fn st(&mut self) -> (StorageMut<'_>, &mut KvStore) {
        (StorageMut::new(&self.backend, &mut self.overlay), &mut self.kv)
    }

    pub fn view(&self) -> StorageRef<'_> {
        StorageRef::new(&self.backend, &self.overlay)
    }
}

/// CPU time this thread has run, so figures do not depend on how busy the shared machine is.
pub fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
