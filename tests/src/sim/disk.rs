//! A member's simulated disk: persists wait for an fsync, one fsync at a time; everything that
//! arrives while one runs is group-committed by the next. A crash loses every persist whose
//! fsync has not finished. What survives is applied, in order, to the member's `MemBackend` by
//! the world.

use crate::sim::net::draw;
use oxcd_core::rng::Rng;
use std::collections::VecDeque;
use std::time::Duration;

/// How long fsyncs take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskConfig {
    /// The shortest fsync.
    pub fsync_min: Duration,
    /// The longest ordinary fsync (drawn uniformly between min and max).
    pub fsync_max: Duration,
    /// Per mille of fsyncs that stall.
    pub stall_per_mille: u64,
    /// How much longer a stalled fsync takes, at most.
    pub stall: Duration,
}

impl DiskConfig {
    /// An SSD: 0.5–2 ms per fsync, no stalls.
    #[must_use]
    pub const fn fast() -> Self {
        DiskConfig {
            fsync_min: Duration::from_micros(500),
            fsync_max: Duration::from_millis(2),
            stall_per_mille: 0,
            stall: Duration::ZERO,
        }
    }

    /// A slow, uneven disk: 2–20 ms, and one fsync in fifty stalls up to 300 ms.
    #[must_use]
    pub const fn slow() -> Self {
        DiskConfig {
            fsync_min: Duration::from_millis(2),
            fsync_max: Duration::from_millis(20),
            stall_per_mille: 20,
            stall: Duration::from_millis(300),
        }
    }
}

impl Default for DiskConfig {
    fn default() -> Self {
        Self::fast()
    }
}

/// One member's disk queue, generic over what a write carries.
#[derive(Debug)]
pub struct Disk<W> {
    config: DiskConfig,
    rng: Rng,
    waiting: VecDeque<W>,
    syncing: Vec<W>,
    busy: bool,
    fsyncs: u64,
    lost: u64,
}

impl<W> Disk<W> {
    /// An idle disk.
    #[must_use]
    pub fn new(seed: u64, config: DiskConfig) -> Self {
        Disk {
            config,
            rng: Rng::from_seed(seed),
            waiting: VecDeque::new(),
            syncing: Vec::new(),
            busy: false,
            fsyncs: 0,
            lost: 0,
        }
    }

    /// Changes how long later fsyncs take.
    pub fn set_config(&mut self, config: DiskConfig) {
        self.config = config;
    }

    /// Queues a write. When the disk was idle an fsync starts now: the caller must report its
    /// end with [`Disk::fsync_done`] after the returned delay.
    pub fn submit(&mut self, write: W) -> Option<Duration> {
        self.waiting.push_back(write);
        if self.busy {
            return None;
        }
        Some(self.start())
    }

    /// The running fsync finished: the writes it made durable, oldest first, and the delay of
    /// the next fsync if writes are waiting.
    pub fn fsync_done(&mut self) -> (Vec<W>, Option<Duration>) {
        assert!(self.busy, "fsync_done without a running fsync");
        self.fsyncs += 1;
        let done = std::mem::take(&mut self.syncing);
        self.busy = false;
        let next = if self.waiting.is_empty() { None } else { Some(self.start()) };
        (done, next)
    }

    /// Power loss: every write not yet durable is gone; the caller must ignore the pending
    /// `fsync_done` of the running fsync.
    pub fn crash(&mut self) {
        self.lost += (self.waiting.len() + self.syncing.len()) as u64;
        self.waiting.clear();
        self.syncing.clear();
        self.busy = false;
    }

    /// Writes not yet durable.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.waiting.len() + self.syncing.len()
    }

    /// Completed fsyncs and writes lost to crashes.
    #[must_use]
    pub fn stats(&self) -> (u64, u64) {
        (self.fsyncs, self.lost)
    }

    fn start(&mut self) -> Duration {
        self.syncing.extend(self.waiting.drain(..));
        self.busy = true;
        let c = self.config;
        let mut d = c.fsync_min + draw(&mut self.rng, c.fsync_max.saturating_sub(c.fsync_min));
        if self.rng.chance(c.stall_per_mille, 1000) {
            d += draw(&mut self.rng, c.stall);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_arriving_during_an_fsync_share_the_next_one() {
        let mut disk = Disk::new(1, DiskConfig::fast());
        let d = disk.submit(1).expect("an idle disk starts an fsync");
        assert!(d >= Duration::from_micros(500) && d <= Duration::from_millis(2));
        assert_eq!(disk.submit(2), None);
        assert_eq!(disk.submit(3), None);
        let (done, next) = disk.fsync_done();
        assert_eq!(done, [1]);
        assert!(next.is_some());
        let (done, next) = disk.fsync_done();
        assert_eq!(done, [2, 3]);
        assert_eq!(next, None);
        assert!(disk.submit(4).is_some());
        assert_eq!(disk.stats(), (2, 0));
    }

    #[test]
    fn a_crash_loses_everything_not_yet_durable() {
        let mut disk = Disk::new(2, DiskConfig::slow());
        assert!(disk.submit("a").is_some());
        let _ = disk.submit("b");
        assert_eq!(disk.pending(), 2);
        disk.crash();
        assert_eq!(disk.pending(), 0);
        assert_eq!(disk.stats(), (0, 2));
        // The disk is idle again: the next write starts its own fsync.
        assert!(disk.submit("c").is_some());
        assert_eq!(disk.fsync_done().0, ["c"]);
    }

    #[test]
    fn slow_disks_stall_sometimes() {
        let mut disk = Disk::new(3, DiskConfig::slow());
        let mut longest = Duration::ZERO;
        for i in 0..2000 {
            let d = disk.submit(i).unwrap();
            longest = longest.max(d);
            let _ = disk.fsync_done();
        }
        assert!(longest > Duration::from_millis(20), "{longest:?}");
    }
}
