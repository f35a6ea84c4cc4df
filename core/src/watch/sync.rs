//! Catching unsynced watchers up from the stored history, one bounded step at a time.

use super::hub::{header, Queued, WatchHub, WatcherKey};
use crate::backend::Table;
use crate::mvcc::revision::{main_rev_lower_bound, BucketKey};
use crate::mvcc::store::Store;
use crate::mvcc::StorageRef;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use oxcd_proto::etcdserverpb::WatchResponse;
use oxcd_proto::mvccpb::event::EventType;
use oxcd_proto::mvccpb::{Event, KeyValue};
use prost::Message;

impl WatchHub {
    /// One catch-up step: serves up to `max_watchers_per_sync` unsynced watchers from the
    /// history in `storage`, reading at most `max_events_per_sync` records (finishing the last
    /// revision begun). Watchers that reach the head become synced; watchers whose next
    /// revision was compacted are canceled with `compact_revision`; deferred progress
    /// responses go out once their stream is synced. Returns true while unsynced watchers
    /// remain (call again, interleaved with other work).
    ///
    /// # Panics
    /// When a stored record is corrupt.
    pub fn sync_step(&mut self, store: &Store, storage: StorageRef<'_>) -> bool {
        if self.unsynced.is_empty() {
            return false;
        }
        let cur = store.current_revision();
        let compact = store.compact_revision();
        let chosen = self.choose_unsynced();
        let mut active: Vec<WatcherKey> = Vec::new();
        let mut min_rev = i64::MAX;
        for wk in chosen {
            let Some(w) = self.watchers.get(&wk) else { continue };
            let next = w.next_rev;
            if next > cur {
                self.mark_synced(wk);
            } else if next < compact {
                self.cancel_compacted(wk, compact);
            } else if self.room_for_events(wk.stream) {
                min_rev = min_rev.min(next);
                active.push(wk);
            }
        }
        if !active.is_empty() {
            self.catch_up(store, storage, &active, min_rev, cur, compact);
        }
        self.flush_deferred_progress(cur);
        !self.unsynced.is_empty()
    }

    /// The next unsynced watchers in key order after the cursor, wrapping around.
    fn choose_unsynced(&mut self) -> Vec<WatcherKey> {
        let max = self.config.max_watchers_per_sync;
        let mut chosen: Vec<WatcherKey> = match self.sync_cursor {
            Some(c) => self
                .unsynced
                .range((core::ops::Bound::Excluded(c), core::ops::Bound::Unbounded))
                .take(max)
                .copied()
                .collect(),
            None => Vec::new(),
        };
        if chosen.len() < max {
            for wk in self.unsynced.iter().take(max - chosen.len()) {
                if chosen.contains(wk) {
                    break;
                }
                chosen.push(*wk);
            }
        }
        self.sync_cursor = chosen.last().copied();
        chosen
    }

    fn cancel_compacted(&mut self, wk: WatcherKey, compact: i64) {
        if !self.room_for_events(wk.stream) {
            return; // retried on a later step
        }
        // etcd sends this response with revision 0 in its header.
        let resp = WatchResponse {
            header: header(0),
            watch_id: wk.id,
            canceled: true,
            compact_revision: compact,
            ..WatchResponse::default()
        };
        self.remove_watcher(wk);
        if let Some(s) = self.streams.get_mut(&wk.stream) {
            s.queued_events += 1;
            s.queue.push_back(Queued { resp, fragment: false, is_event: true, continued: false });
        }
    }

    fn catch_up(
        &mut self,
        store: &Store,
        storage: StorageRef<'_>,
        active: &[WatcherKey],
        min_rev: i64,
        cur: i64,
        compact: i64,
    ) {
        let max_records = self.config.max_events_per_sync;
        let mut batches: BTreeMap<WatcherKey, Vec<Event>> = BTreeMap::new();
        let mut read = 0usize;
        let mut last_main = min_rev - 1;
        let mut stopped_at: Option<i64> = None;
        let from = main_rev_lower_bound(min_rev);
        let to = main_rev_lower_bound(cur + 1);
        let watchers = &self.watchers;
        storage.scan(Table::Kv, &from, Some(&to), &mut |k, v| {
            let Some(bucket) = BucketKey::decode(k) else { return ControlFlow::Continue(()) };
            let main = bucket.rev.main;
            if read >= max_records && main != last_main {
                stopped_at = Some(main);
                return ControlFlow::Break(());
            }
            read += 1;
            last_main = main;
            let mut kv = KeyValue::decode(v)
                .unwrap_or_else(|e| panic!("mvcc: corrupt record at {}: {e}", bucket.rev));
            let kind = if bucket.tombstone {
                kv.mod_revision = main;
                EventType::Delete
            } else {
                EventType::Put
            };
            for wk in active {
                let Some(w) = watchers.get(wk) else { continue };
                if w.next_rev <= main && w.wants(kind) && w.span().contains(&kv.key) {
                    let event = Event { r#type: kind as i32, kv: Some(kv.clone()), prev_kv: None };
                    batches.entry(*wk).or_default().push(event);
                }
            }
            ControlFlow::Continue(())
        });
        // Everything up to here was read completely.
        let done_through = stopped_at.map_or(cur, |m| m - 1);
        for wk in active {
            let mut events = batches.remove(wk).unwrap_or_default();
            let Some(w) = self.watchers.get(wk) else { continue };
            if w.prev_kv {
                for ev in &mut events {
                    let Some(kv) = &ev.kv else { continue };
                    let is_create =
                        ev.r#type == EventType::Put as i32 && kv.create_revision == kv.mod_revision;
                    let prev_rev = kv.mod_revision - 1;
                    if !is_create && prev_rev >= compact {
                        ev.prev_kv = store.get_at(storage, &kv.key, prev_rev);
                    }
                }
            }
            if !events.is_empty() && !self.enqueue_events(*wk, cur, events) {
                continue;
            }
            let Some(w) = self.watchers.get_mut(wk) else { continue };
            w.next_rev = w.next_rev.max(done_through + 1);
            if w.next_rev > cur {
                self.mark_synced(*wk);
            }
        }
    }

    fn flush_deferred_progress(&mut self, cur: i64) {
        let deferred: Vec<_> =
            self.streams.iter().filter(|(_, s)| s.deferred_progress).map(|(id, _)| *id).collect();
        for stream in deferred {
            if self.send_progress_if_synced(stream, cur) {
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.deferred_progress = false;
                }
            }
        }
    }
}
