//! Watches: streams of change events on a key, a range or a prefix, from any revision not yet
//! compacted, with etcd's stream semantics (watch ids, filters, `prev_kv`, progress
//! notifications, fragments, compaction cancels).
//!
//! The Node identifies each client watch stream by an opaque [`WatchStreamId`]. Requests go in
//! with [`WatchHub::create`], [`WatchHub::cancel`], [`WatchHub::request_progress`]; the
//! key-value store calls [`WatchHub::notify`] after every applied write; responses come out of
//! [`WatchHub::poll_output`], in order per stream.
//!
//! Watchers are *synced* (at the store's head: new events are queued as they are applied) or
//! *unsynced* (behind: a new watcher with an old start revision, or one whose stream queue was
//! full). Unsynced watchers catch up from the stored history in bounded steps
//! ([`WatchHub::sync_step`]), never blocking the apply path; a watcher whose next revision
//! was compacted away is canceled with `compact_revision` set. Every stream's queue is bounded:
//! a watcher that would overflow it falls back to unsynced and catches up later, so no event is
//! lost or duplicated and memory stays bounded.

mod fragment;
mod hub;
mod sync;
#[cfg(test)]
mod tests;

pub use hub::{WatchHub, WatchStreamId};

use core::time::Duration;

/// Cancel reason when the watch range is empty (etcd's `ErrEmptyWatcherRange`).
pub const REASON_EMPTY_RANGE: &str = "mvcc: watcher range is empty";
/// Cancel reason when a client-chosen id is taken (etcd's `ErrWatcherDuplicateID`).
pub const REASON_DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";
/// Cancel reason when a stream has its maximum of watchers (oxcd's bound; etcd has none).
pub const REASON_TOO_MANY_WATCHERS: &str = "mvcc: too many watchers on the WatchStream";

/// Limits and intervals of the watch hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchConfig {
    /// Watchers one stream may hold.
    pub max_watchers_per_stream: usize,
    /// Event responses queued per stream before its watchers fall back to catching up (etcd's
    /// per-stream channel holds 128).
    pub max_queued_responses: usize,
    /// History records one catch-up step reads at most (rounded up to a whole revision).
    pub max_events_per_sync: usize,
    /// Unsynced watchers one catch-up step serves (etcd's `maxWatchersPerSync`, 512).
    pub max_watchers_per_sync: usize,
    /// Interval of `progress_notify` responses (etcd's
    /// `--experimental-watch-progress-notify-interval`, 10 minutes).
    pub progress_notify_interval: Duration,
    /// Fragmenting threshold for watchers that asked for fragments (etcd: `--max-request-bytes`
    /// plus 512 KiB of gRPC overhead).
    pub max_response_bytes: usize,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            max_watchers_per_stream: 10_000,
            max_queued_responses: 128,
            max_events_per_sync: 1000,
            max_watchers_per_sync: 512,
            progress_notify_interval: Duration::from_secs(600),
            max_response_bytes: 1536 * 1024 + 512 * 1024,
        }
    }
}

impl WatchConfig {
    /// Checks the limits.
    ///
    /// # Errors
    /// A description of the first invalid setting.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.max_watchers_per_stream == 0 {
            return Err("watch max_watchers_per_stream must be positive");
        }
        if self.max_queued_responses == 0 {
            return Err("watch max_queued_responses must be positive");
        }
        if self.max_events_per_sync == 0 || self.max_watchers_per_sync == 0 {
            return Err("watch sync limits must be positive");
        }
        if self.progress_notify_interval.is_zero() {
            return Err("watch progress_notify_interval must be positive");
        }
        if self.max_response_bytes < 1024 {
            return Err("watch max_response_bytes must be at least 1 KiB");
        }
        Ok(())
    }
}
