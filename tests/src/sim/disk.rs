//! A member's simulated disk: the write-ahead log of a runtime that confirms persists in two
//! steps (`Node::handle_logged`, then `Node::handle_persisted`), and the slower store behind it.
//!
//! Writes are appended in persist order. One fsync runs at a time; everything appended while
//! it runs is group-committed by the next. A write is *logged* (its `then_send` may leave) once
//! an fsync covered it, or at once when it needs no fsync (`Persist::sync` false) and every
//! write before it is logged: such a write starts no fsync and stays lost to a crash until the
//! next synced write's fsync covers it. Logged writes reach the *store* (the member's
//! `MemBackend`, applied by the world) together, a store lag after the first of them was logged.
//! A crash loses every write neither durable in the log nor stored; the durable ones not yet
//! stored are handed back to be replayed into the store, in order.

use crate::sim::net::draw;
use oxcd_core::rng::Rng;
use std::collections::VecDeque;
use std::time::Duration;

/// The longest wait between a write being logged and the store holding it (drawn uniformly
/// from zero; the log-based driver committed to LMDB every 100 ms).
pub const STORE_LAG_MAX: Duration = Duration::from_millis(150);

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

/// What became of a submitted write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// It needs no fsync and everything before it is logged: it counts as logged now (its
    /// `then_send` may leave), though a crash loses it until the next fsync covers it.
    Logged,
    /// The disk was idle: an fsync of it starts now; the caller must report its end with
    /// [`Disk::fsync_done`] after this delay.
    Fsync(Duration),
    /// It waits for the fsync after the running one.
    Queued,
}

#[derive(Debug)]
struct Entry<W> {
    write: W,
    sync: bool,
}

/// One member's disk, generic over what a write carries. Positions count writes since the
/// disk was created; every boundary below is a position, and they only move forward.
#[derive(Debug)]
pub struct Disk<W> {
    config: DiskConfig,
    rng: Rng,
    /// Writes not yet stored, oldest first; the first is at position `stored`.
    entries: VecDeque<Entry<W>>,
    stored: u64,
    /// Writes before this position survive a crash (in the log or in the store).
    durable: u64,
    /// Writes before this position are logged.
    logged: u64,
    /// The running fsync makes the writes before this position durable.
    syncing: Option<u64>,
    fsyncs: u64,
    lost: u64,
}

impl<W> Disk<W> {
    /// An idle, empty disk.
    #[must_use]
    pub fn new(seed: u64, config: DiskConfig) -> Self {
        Disk {
            config,
            rng: Rng::from_seed(seed),
            entries: VecDeque::new(),
            stored: 0,
            durable: 0,
            logged: 0,
            syncing: None,
            fsyncs: 0,
            lost: 0,
        }
    }

    /// Changes how long later fsyncs take.
    pub fn set_config(&mut self, config: DiskConfig) {
        self.config = config;
    }

    /// Appends a write; `sync` is the persist's `sync` (false: losing it in a crash is
    /// harmless, so it starts no fsync of its own).
    pub fn submit(&mut self, write: W, sync: bool) -> Submitted {
        let all_logged = self.logged == self.end();
        self.entries.push_back(Entry { write, sync });
        if !sync && all_logged {
            self.logged += 1;
            return Submitted::Logged;
        }
        if self.syncing.is_some() {
            return Submitted::Queued;
        }
        Submitted::Fsync(self.start())
    }

    /// The running fsync finished. Returns the newest write that became logged (with it every
    /// earlier one; none when a crash or the store took them meanwhile) and the delay of the
    /// next fsync, if one starts. Unsynced writes right behind the durable ones are logged too:
    /// everything before them is durable now.
    pub fn fsync_done(&mut self) -> (Option<&W>, Option<Duration>) {
        let upto = self.syncing.take().expect("fsync_done without a running fsync");
        self.fsyncs += 1;
        self.durable = self.durable.max(upto);
        let before = self.logged;
        self.logged = self.logged.max(self.durable);
        while self.logged < self.end() && !self.entry(self.logged).sync {
            self.logged += 1;
        }
        let next = (self.logged < self.end()).then(|| self.start());
        let newest = (self.logged > before && self.logged > self.stored)
            .then(|| &self.entry(self.logged - 1).write);
        (newest, next)
    }

    /// The store takes every logged write, oldest first.
    pub fn store(&mut self) -> Vec<W> {
        let n = usize::try_from(self.logged - self.stored).expect("fits");
        self.stored = self.logged;
        self.durable = self.durable.max(self.stored);
        self.entries.drain(..n).map(|e| e.write).collect()
    }

    /// Power loss: returns the writes durable in the log but not stored, oldest first (the
    /// caller replays them into the store); every later write is gone. The caller must ignore
    /// the pending `fsync_done` of the running fsync.
    pub fn crash(&mut self) -> Vec<W> {
        let keep = usize::try_from(self.durable - self.stored).expect("fits");
        self.lost += (self.entries.len() - keep) as u64;
        self.entries.truncate(keep);
        self.stored = self.durable;
        self.logged = self.durable;
        self.syncing = None;
        self.entries.drain(..).map(|e| e.write).collect()
    }

    /// Writes a crash would lose now.
    #[must_use]
    pub fn pending(&self) -> usize {
        usize::try_from(self.end() - self.durable).expect("fits")
    }

    /// Completed fsyncs and writes lost to crashes.
    #[must_use]
    pub fn stats(&self) -> (u64, u64) {
        (self.fsyncs, self.lost)
    }

    /// How long until the store takes what is logged now.
    pub fn store_lag(&mut self) -> Duration {
        draw(&mut self.rng, STORE_LAG_MAX)
    }

    fn end(&self) -> u64 {
        self.stored + self.entries.len() as u64
    }

    fn entry(&self, position: u64) -> &Entry<W> {
        &self.entries[usize::try_from(position - self.stored).expect("fits")]
    }

    fn start(&mut self) -> Duration {
        self.syncing = Some(self.end());
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

    fn fsync(submitted: Submitted) -> Duration {
        match submitted {
            Submitted::Fsync(d) => d,
            other => panic!("expected an fsync to start, got {other:?}"),
        }
    }

    #[test]
    fn writes_arriving_during_an_fsync_share_the_next_one() {
        let mut disk = Disk::new(1, DiskConfig::fast());
        let d = fsync(disk.submit(1, true));
        assert!(d >= Duration::from_micros(500) && d <= Duration::from_millis(2));
        assert_eq!(disk.submit(2, true), Submitted::Queued);
        assert_eq!(disk.submit(3, true), Submitted::Queued);
        let (newest, next) = disk.fsync_done();
        assert_eq!(newest, Some(&1));
        assert!(next.is_some());
        assert_eq!(disk.pending(), 2);
        let (newest, next) = disk.fsync_done();
        assert_eq!(newest, Some(&3));
        assert_eq!(next, None);
        assert_eq!(disk.pending(), 0);
        assert_eq!(disk.store(), [1, 2, 3]);
        assert!(matches!(disk.submit(4, true), Submitted::Fsync(_)));
        assert_eq!(disk.stats(), (2, 0));
    }

    #[test]
    fn a_crash_loses_everything_not_yet_durable() {
        let mut disk = Disk::new(2, DiskConfig::slow());
        let _ = fsync(disk.submit("a", true));
        assert_eq!(disk.submit("b", true), Submitted::Queued);
        assert_eq!(disk.pending(), 2);
        assert!(disk.crash().is_empty());
        assert_eq!(disk.pending(), 0);
        assert_eq!(disk.stats(), (0, 2));
        // The disk is idle again: the next write starts its own fsync.
        let _ = fsync(disk.submit("c", true));
        assert_eq!(disk.fsync_done().0, Some(&"c"));
        assert_eq!(disk.store(), ["c"]);
    }

    #[test]
    fn an_unsynced_write_behind_logged_ones_is_logged_at_once_without_an_fsync() {
        let mut disk = Disk::new(4, DiskConfig::fast());
        assert_eq!(disk.submit(1, false), Submitted::Logged);
        assert_eq!(disk.submit(2, false), Submitted::Logged);
        // Logged, not durable: no fsync ran.
        assert_eq!(disk.pending(), 2);
        assert_eq!(disk.stats(), (0, 0));
    }

    #[test]
    fn an_unsynced_write_is_lost_by_a_crash_before_the_next_fsync() {
        let mut disk = Disk::new(5, DiskConfig::fast());
        let _ = fsync(disk.submit(1, true));
        let _ = disk.fsync_done();
        assert_eq!(disk.submit(2, false), Submitted::Logged);
        // The durable write not yet stored comes back for replay; the unsynced one is gone.
        assert_eq!(disk.crash(), [1]);
        assert_eq!(disk.stats(), (1, 1));
        assert_eq!(disk.pending(), 0);
        assert!(disk.store().is_empty());
    }

    #[test]
    fn an_unsynced_write_becomes_durable_with_the_next_fsync() {
        let mut disk = Disk::new(6, DiskConfig::fast());
        assert_eq!(disk.submit(1, false), Submitted::Logged);
        let _ = fsync(disk.submit(2, true));
        assert_eq!(disk.pending(), 2);
        let (newest, next) = disk.fsync_done();
        assert_eq!((newest, next), (Some(&2), None));
        assert_eq!(disk.pending(), 0);
        assert_eq!(disk.crash(), [1, 2]);
        assert_eq!(disk.stats(), (1, 0));
    }

    #[test]
    fn an_unsynced_write_behind_an_fsync_is_logged_when_it_ends() {
        let mut disk = Disk::new(7, DiskConfig::fast());
        let _ = fsync(disk.submit(1, true));
        assert_eq!(disk.submit(2, false), Submitted::Queued);
        // Everything before 2 is durable now: 2 is logged and needs no fsync of its own.
        let (newest, next) = disk.fsync_done();
        assert_eq!((newest, next), (Some(&2), None));
        assert_eq!(disk.pending(), 1);
        // A synced write behind an unsynced queued one makes the next fsync cover both.
        let _ = fsync(disk.submit(3, true));
        assert_eq!(disk.submit(4, false), Submitted::Queued);
        assert_eq!(disk.submit(5, true), Submitted::Queued);
        let (newest, next) = disk.fsync_done();
        assert_eq!(newest, Some(&4));
        assert!(next.is_some(), "5 needs an fsync");
        // 2 became durable with 3's fsync; 4 is logged but not durable, lost with 5.
        assert_eq!(disk.crash(), [1, 2, 3]);
        assert_eq!(disk.stats(), (2, 2));
    }

    #[test]
    fn the_store_takes_logged_writes_and_they_survive_crashes() {
        let mut disk = Disk::new(8, DiskConfig::fast());
        let _ = fsync(disk.submit(1, true));
        assert_eq!(disk.submit(2, true), Submitted::Queued);
        let _ = disk.fsync_done();
        // Only what is logged is stored; 2 is still inside the next fsync.
        assert_eq!(disk.store(), [1]);
        assert_eq!(disk.fsync_done().0, Some(&2));
        assert_eq!(disk.submit(3, false), Submitted::Logged);
        // The store holds the unsynced write once it took it: a crash cannot lose it any more.
        assert_eq!(disk.store(), [2, 3]);
        assert_eq!(disk.pending(), 0);
        assert!(disk.crash().is_empty());
        assert_eq!(disk.stats(), (2, 0));
        // A stale fsync end is never reported after a crash; the next write starts afresh.
        let _ = fsync(disk.submit(4, true));
        assert_eq!(disk.fsync_done().0, Some(&4));
    }

    #[test]
    fn slow_disks_stall_sometimes() {
        let mut disk = Disk::new(3, DiskConfig::slow());
        let mut longest = Duration::ZERO;
        for i in 0..2000 {
            let d = fsync(disk.submit(i, true));
            longest = longest.max(d);
            let _ = disk.fsync_done();
            let _ = disk.store();
        }
        assert!(longest > Duration::from_millis(20), "{longest:?}");
    }
}
