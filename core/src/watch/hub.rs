//! Streams, watchers and their queues; event fan-out for synced watchers.

use super::{WatchConfig, REASON_DUPLICATE_ID, REASON_EMPTY_RANGE, REASON_TOO_MANY_WATCHERS};
use crate::mvcc::store::{read_kv, Change};
use crate::mvcc::{KeySpan, StorageRef};
use crate::time::Instant;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use oxcd_proto::etcdserverpb::watch_create_request::FilterType;
use oxcd_proto::etcdserverpb::{ResponseHeader, WatchCreateRequest, WatchResponse};
use oxcd_proto::mvccpb::event::EventType;
use oxcd_proto::mvccpb::{Event, KeyValue};

/// A client watch stream, named by the Node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatchStreamId(pub u64);

impl fmt::Display for WatchStreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// etcd's id for responses not about one watcher (progress for the whole stream, a refused
/// create).
pub(super) const INVALID_WATCH_ID: i64 = -1;

/// A watcher's identity: its stream and its id there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct WatcherKey {
    pub stream: WatchStreamId,
    pub id: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum WatchEnd {
    Single,
    Unbounded,
    Before(Box<[u8]>),
}

#[derive(Clone, Debug)]
pub(super) struct Watcher {
    pub key: Box<[u8]>,
    pub end: WatchEnd,
    /// The next revision this watcher must see.
    pub next_rev: i64,
    pub no_put: bool,
    pub no_delete: bool,
    pub prev_kv: bool,
    pub fragment: bool,
    pub synced: bool,
}

impl Watcher {
    pub fn span(&self) -> KeySpan<'_> {
        match &self.end {
            WatchEnd::Single => KeySpan::Single(&self.key),
            WatchEnd::Unbounded => KeySpan::From(&self.key),
            WatchEnd::Before(end) => KeySpan::Range(&self.key, end),
        }
    }

    pub fn wants(&self, kind: EventType) -> bool {
        match kind {
            EventType::Put => !self.no_put,
            EventType::Delete => !self.no_delete,
        }
    }
}

/// A response waiting in a stream's queue.
#[derive(Clone, Debug)]
pub(super) struct Queued {
    pub resp: WatchResponse,
    /// The watcher asked for fragments.
    pub fragment: bool,
    /// Counts against the event queue bound.
    pub is_event: bool,
    /// What is left of a response already split into fragments.
    pub continued: bool,
}

#[derive(Debug)]
pub(super) struct Stream {
    next_id: i64,
    pub watchers: BTreeSet<i64>,
    pub queue: VecDeque<Queued>,
    pub queued_events: usize,
    /// Watchers with `progress_notify`: true when nothing was sent since the last tick.
    pub progress: BTreeMap<i64, bool>,
    pub deferred_progress: bool,
    next_progress_at: Instant,
}

/// Every watch stream of the member.
#[derive(Debug)]
pub struct WatchHub {
    pub(super) config: WatchConfig,
    pub(super) streams: BTreeMap<WatchStreamId, Stream>,
    pub(super) watchers: BTreeMap<WatcherKey, Watcher>,
    /// Synced single-key watchers by key.
    synced_keys: BTreeMap<Box<[u8]>, BTreeSet<WatcherKey>>,
    /// Synced range watchers.
    synced_ranges: BTreeSet<WatcherKey>,
    pub(super) unsynced: BTreeSet<WatcherKey>,
    /// Where the next catch-up step starts among the unsynced.
    pub(super) sync_cursor: Option<WatcherKey>,
    progress_timers: BTreeSet<(Instant, WatchStreamId)>,
    /// The stream `poll_output` served last (round robin).
    last_served: Option<WatchStreamId>,
}

pub(super) fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader { revision, ..ResponseHeader::default() })
}

impl WatchHub {
    /// An empty hub.
    ///
    /// # Panics
    /// When `config` is invalid (see [`WatchConfig::validate`]).
    #[must_use]
    pub fn new(config: WatchConfig) -> Self {
        if let Err(e) = config.validate() {
            panic!("invalid watch config: {e}");
        }
        WatchHub {
            config,
            streams: BTreeMap::new(),
            watchers: BTreeMap::new(),
            synced_keys: BTreeMap::new(),
            synced_ranges: BTreeSet::new(),
            unsynced: BTreeSet::new(),
            sync_cursor: None,
            progress_timers: BTreeSet::new(),
            last_served: None,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &WatchConfig {
        &self.config
    }

    /// Number of watchers on all streams.
    #[must_use]
    pub fn watcher_count(&self) -> usize {
        self.watchers.len()
    }

    /// True while some watcher is behind and [`WatchHub::sync_step`] has work.
    #[must_use]
    pub fn has_unsynced(&self) -> bool {
        !self.unsynced.is_empty()
    }

    /// Responses waiting on `stream` (for the Node's flow control: stop reading a client that
    /// does not read its responses).
    #[must_use]
    pub fn queued_responses(&self, stream: WatchStreamId) -> usize {
        self.streams.get(&stream).map_or(0, |s| s.queue.len())
    }

    /// A client opened a watch stream at `now` (its progress clock starts). Creating a watch
    /// on an unknown stream opens it implicitly.
    pub fn open_stream(&mut self, stream: WatchStreamId, now: Instant) {
        if self.streams.contains_key(&stream) {
            return;
        }
        let next_progress_at = now + self.config.progress_notify_interval;
        self.streams.insert(
            stream,
            Stream {
                next_id: 0,
                watchers: BTreeSet::new(),
                queue: VecDeque::new(),
                queued_events: 0,
                progress: BTreeMap::new(),
                deferred_progress: false,
                next_progress_at,
            },
        );
        self.progress_timers.insert((next_progress_at, stream));
    }

    /// The stream closed: its watchers and queued responses go.
    pub fn close_stream(&mut self, stream: WatchStreamId) {
        let Some(s) = self.streams.remove(&stream) else { return };
        self.progress_timers.remove(&(s.next_progress_at, stream));
        for id in s.watchers {
            self.remove_watcher(WatcherKey { stream, id });
        }
    }

    fn enqueue(&mut self, stream: WatchStreamId, q: Queued) {
        if let Some(s) = self.streams.get_mut(&stream) {
            if q.is_event {
                s.queued_events += 1;
            }
            s.queue.push_back(q);
        }
    }

    pub(super) fn room_for_events(&self, stream: WatchStreamId) -> bool {
        self.streams
            .get(&stream)
            .is_some_and(|s| s.queued_events < self.config.max_queued_responses)
    }

    /// Queues an event response for watcher `wk`; false when its stream is full.
    pub(super) fn enqueue_events(
        &mut self,
        wk: WatcherKey,
        revision: i64,
        events: Vec<Event>,
    ) -> bool {
        if !self.room_for_events(wk.stream) {
            return false;
        }
        let fragment = self.watchers.get(&wk).is_some_and(|w| w.fragment);
        let resp = WatchResponse {
            header: header(revision),
            watch_id: wk.id,
            events,
            ..WatchResponse::default()
        };
        self.enqueue(wk.stream, Queued { resp, fragment, is_event: true, continued: false });
        if let Some(flag) =
            self.streams.get_mut(&wk.stream).and_then(|s| s.progress.get_mut(&wk.id))
        {
            // etcd: an event response makes the next progress notification unnecessary.
            *flag = false;
        }
        true
    }

    /// Handles a `WatchCreateRequest` on `stream` with the store at `current_rev`: queues the
    /// `created` response (refused ones carry `canceled` and a reason), then the watcher's
    /// events from `start_revision` (0: from the next revision).
    pub fn create(
        &mut self,
        stream: WatchStreamId,
        req: &WatchCreateRequest,
        current_rev: i64,
        now: Instant,
    ) {
        self.open_stream(stream, now);
        let key: Box<[u8]> =
            if req.key.is_empty() { Box::from(&[0u8][..]) } else { Box::from(req.key.as_slice()) };
        let end = match req.range_end.as_slice() {
            [] => WatchEnd::Single,
            [0] => WatchEnd::Unbounded,
            end => WatchEnd::Before(Box::from(end)),
        };
        let start = if req.start_revision == 0 { current_rev + 1 } else { req.start_revision };
        let result = self.add_watcher(stream, req, key, end, start, current_rev);
        let (watch_id, reason) = match result {
            Ok(id) => (id, None),
            Err(reason) => (INVALID_WATCH_ID, Some(reason)),
        };
        let resp = WatchResponse {
            header: header(current_rev),
            watch_id,
            created: true,
            canceled: reason.is_some(),
            cancel_reason: reason.map(String::from).unwrap_or_default(),
            ..WatchResponse::default()
        };
        self.enqueue(stream, Queued { resp, fragment: false, is_event: false, continued: false });
    }

    /// Queues a refused `created` response (the Node refused the create itself, e.g. for lack
    /// of permission) with `reason` as the cancel reason.
    pub fn create_refused(
        &mut self,
        stream: WatchStreamId,
        reason: &str,
        current_rev: i64,
        now: Instant,
    ) {
        self.open_stream(stream, now);
        let resp = WatchResponse {
            header: header(current_rev),
            watch_id: INVALID_WATCH_ID,
            created: true,
            canceled: true,
            cancel_reason: String::from(reason),
            ..WatchResponse::default()
        };
        self.enqueue(stream, Queued { resp, fragment: false, is_event: false, continued: false });
    }

    fn add_watcher(
        &mut self,
        stream: WatchStreamId,
        req: &WatchCreateRequest,
        key: Box<[u8]>,
        end: WatchEnd,
        start: i64,
        current_rev: i64,
    ) -> Result<i64, &'static str> {
        if let WatchEnd::Before(e) = &end {
            if key >= *e {
                return Err(REASON_EMPTY_RANGE);
            }
        }
        let max = self.config.max_watchers_per_stream;
        let Some(s) = self.streams.get_mut(&stream) else { return Err(REASON_EMPTY_RANGE) };
        let id = if req.watch_id == 0 {
            // Auto id: the lowest free id from the stream's counter on, as etcd picks it.
            let mut id = s.next_id;
            while s.watchers.contains(&id) {
                id += 1;
            }
            id
        } else if s.watchers.contains(&req.watch_id) {
            return Err(REASON_DUPLICATE_ID);
        } else {
            req.watch_id
        };
        if s.watchers.len() >= max {
            return Err(REASON_TOO_MANY_WATCHERS);
        }
        if req.watch_id == 0 {
            s.next_id = id + 1;
        }
        s.watchers.insert(id);
        if req.progress_notify {
            s.progress.insert(id, true);
        }
        let no_put = req.filters.contains(&(FilterType::Noput as i32));
        let no_delete = req.filters.contains(&(FilterType::Nodelete as i32));
        let synced = start > current_rev;
        let w = Watcher {
            key,
            end,
            next_rev: start,
            no_put,
            no_delete,
            prev_kv: req.prev_kv,
            fragment: req.fragment,
            synced: false,
        };
        let wk = WatcherKey { stream, id };
        self.watchers.insert(wk, w);
        if synced {
            self.mark_synced(wk);
        } else {
            self.unsynced.insert(wk);
        }
        Ok(id)
    }

    pub(super) fn mark_synced(&mut self, wk: WatcherKey) {
        let Some(w) = self.watchers.get_mut(&wk) else { return };
        self.unsynced.remove(&wk);
        w.synced = true;
        if w.end == WatchEnd::Single {
            self.synced_keys.entry(w.key.clone()).or_default().insert(wk);
        } else {
            self.synced_ranges.insert(wk);
        }
    }

    pub(super) fn mark_unsynced(&mut self, wk: WatcherKey) {
        let Some(w) = self.watchers.get_mut(&wk) else { return };
        if w.synced {
            w.synced = false;
            if w.end == WatchEnd::Single {
                if let Some(set) = self.synced_keys.get_mut(&w.key) {
                    set.remove(&wk);
                    if set.is_empty() {
                        self.synced_keys.remove(&w.key);
                    }
                }
            } else {
                self.synced_ranges.remove(&wk);
            }
        }
        self.unsynced.insert(wk);
    }

    pub(super) fn remove_watcher(&mut self, wk: WatcherKey) {
        self.mark_unsynced(wk);
        self.unsynced.remove(&wk);
        self.watchers.remove(&wk);
        if let Some(s) = self.streams.get_mut(&wk.stream) {
            s.watchers.remove(&wk.id);
            s.progress.remove(&wk.id);
        }
    }

    /// Handles a `WatchCancelRequest`: an existing watcher goes and a `canceled` response is
    /// queued; an unknown id is ignored, as etcd does.
    pub fn cancel(&mut self, stream: WatchStreamId, watch_id: i64, current_rev: i64) {
        let wk = WatcherKey { stream, id: watch_id };
        if !self.watchers.contains_key(&wk) {
            return;
        }
        self.remove_watcher(wk);
        let resp = WatchResponse {
            header: header(current_rev),
            watch_id,
            canceled: true,
            ..WatchResponse::default()
        };
        self.enqueue(stream, Queued { resp, fragment: false, is_event: false, continued: false });
    }

    /// Handles a `WatchProgressRequest`: when every watcher of the stream is synced, queues a
    /// progress response (watch id -1) at `current_rev` behind every event up to it; otherwise
    /// the response is deferred until they are. A stream without watchers gets nothing (etcd).
    pub fn request_progress(&mut self, stream: WatchStreamId, current_rev: i64) {
        let Some(s) = self.streams.get(&stream) else { return };
        if s.deferred_progress {
            return;
        }
        if !self.send_progress_if_synced(stream, current_rev) {
            if let Some(s) = self.streams.get_mut(&stream) {
                s.deferred_progress = true;
            }
        }
    }

    /// Queues a stream-wide progress response if all its watchers are synced; false if not.
    pub(super) fn send_progress_if_synced(
        &mut self,
        stream: WatchStreamId,
        current_rev: i64,
    ) -> bool {
        let Some(s) = self.streams.get(&stream) else { return true };
        let all_synced = s
            .watchers
            .iter()
            .all(|id| self.watchers.get(&WatcherKey { stream, id: *id }).is_some_and(|w| w.synced));
        if !all_synced {
            return false;
        }
        if !s.watchers.is_empty() {
            let resp = WatchResponse {
                header: header(current_rev),
                watch_id: INVALID_WATCH_ID,
                ..WatchResponse::default()
            };
            self.enqueue(
                stream,
                Queued { resp, fragment: false, is_event: false, continued: false },
            );
        }
        true
    }

    /// Periodic progress notifications due by `now`, for watchers that asked for them, are
    /// synced and saw no event since the last one. Call when [`WatchHub::poll_timeout`] is due.
    pub fn handle_timeout(&mut self, now: Instant, current_rev: i64) {
        while let Some(&(at, stream)) = self.progress_timers.first() {
            if at > now {
                break;
            }
            self.progress_timers.pop_first();
            let next = now + self.config.progress_notify_interval;
            let Some(s) = self.streams.get_mut(&stream) else { continue };
            s.next_progress_at = next;
            let mut due = Vec::new();
            for (id, flag) in &mut s.progress {
                if *flag {
                    due.push(*id);
                }
                *flag = true;
            }
            // At the end of time `next` saturates to `now`: rescheduling there would loop.
            if next > now {
                self.progress_timers.insert((next, stream));
            }
            for id in due {
                let wk = WatcherKey { stream, id };
                if self.watchers.get(&wk).is_some_and(|w| w.synced) {
                    let resp = WatchResponse {
                        header: header(current_rev),
                        watch_id: id,
                        ..WatchResponse::default()
                    };
                    self.enqueue(
                        stream,
                        Queued { resp, fragment: false, is_event: false, continued: false },
                    );
                }
            }
        }
    }

    /// When [`WatchHub::handle_timeout`] next has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.progress_timers.first().map(|(t, _)| *t)
    }

    /// Fans the changes applied at revision `rev` out to synced watchers. `storage` serves
    /// `prev_kv` lookups. A watcher whose stream queue is full falls back to unsynced and gets
    /// these events by catching up.
    pub fn notify(&mut self, rev: i64, changes: &[Change], storage: StorageRef<'_>) {
        if self.synced_keys.is_empty() && self.synced_ranges.is_empty() {
            return;
        }
        // (watcher, change index) pairs, grouped by watcher with changes in order.
        let mut matched: Vec<(WatcherKey, usize)> = Vec::new();
        for (i, change) in changes.iter().enumerate() {
            if let Some(set) = self.synced_keys.get(change.kv.key.as_slice()) {
                matched.extend(set.iter().map(|wk| (*wk, i)));
            }
            for wk in &self.synced_ranges {
                if self.watchers.get(wk).is_some_and(|w| w.span().contains(&change.kv.key)) {
                    matched.push((*wk, i));
                }
            }
        }
        if changes.len() > 1 || !self.synced_ranges.is_empty() {
            matched.sort_by_key(|(wk, _)| *wk);
        }
        let mut prev_cache: Vec<Option<Option<KeyValue>>> = Vec::new();
        let mut at = 0;
        while at < matched.len() {
            let wk = matched[at].0;
            let group_end = at + matched[at..].iter().take_while(|(k, _)| *k == wk).count();
            let idxs = matched[at..group_end].iter().map(|(_, i)| *i);
            at = group_end;
            let Some(w) = self.watchers.get(&wk) else { continue };
            if w.next_rev > rev {
                continue;
            }
            let mut events = Vec::new();
            for i in idxs {
                let change = &changes[i];
                if !w.wants(change.kind) {
                    continue;
                }
                let prev_kv = if w.prev_kv {
                    if prev_cache.is_empty() {
                        prev_cache.resize(changes.len(), None);
                    }
                    prev_cache[i]
                        .get_or_insert_with(|| change.prev.map(|r| read_kv(storage, r)))
                        .clone()
                } else {
                    None
                };
                events.push(Event {
                    r#type: change.kind as i32,
                    kv: Some(change.kv.clone()),
                    prev_kv,
                });
            }
            if events.is_empty() {
                if let Some(w) = self.watchers.get_mut(&wk) {
                    w.next_rev = rev + 1;
                }
                continue;
            }
            if self.enqueue_events(wk, rev, events) {
                if let Some(w) = self.watchers.get_mut(&wk) {
                    w.next_rev = rev + 1;
                }
            } else {
                self.mark_unsynced(wk);
            }
        }
    }

    /// After a snapshot replaced the store: every watcher catches up from its next revision.
    pub fn resync_all(&mut self) {
        let keys: Vec<WatcherKey> = self.watchers.keys().copied().collect();
        for wk in keys {
            self.mark_unsynced(wk);
        }
    }

    /// The next response to send, in order per stream, streams served round robin. `header`
    /// carries the Node's cluster id, member id and term; each response keeps its own
    /// revision. Responses of watchers that asked for fragments are split when larger than
    /// `max_response_bytes`. Invalidated by every call that queues responses.
    pub fn poll_output(
        &mut self,
        header: &ResponseHeader,
    ) -> Option<(WatchStreamId, WatchResponse)> {
        let after = self.last_served;
        let pick = |s: &(&WatchStreamId, &Stream)| !s.1.queue.is_empty();
        let stream = match after {
            Some(last) => self
                .streams
                .range((core::ops::Bound::Excluded(last), core::ops::Bound::Unbounded))
                .find(pick)
                .or_else(|| self.streams.iter().find(pick)),
            None => self.streams.iter().find(pick),
        }
        .map(|(id, _)| *id)?;
        self.last_served = Some(stream);
        let max_bytes = self.config.max_response_bytes;
        let s = self.streams.get_mut(&stream)?;
        let mut q = s.queue.pop_front()?;
        let revision = q.resp.header.as_ref().map_or(0, |h| h.revision);
        q.resp.header = Some(ResponseHeader { revision, ..header.clone() });
        if q.fragment {
            if let Some(rest) = super::fragment::split_first(&mut q.resp, max_bytes, q.continued) {
                // The rest goes back in front, still counted as one queued event response.
                s.queue.push_front(Queued {
                    resp: rest,
                    fragment: true,
                    is_event: q.is_event,
                    continued: true,
                });
                return Some((stream, q.resp));
            }
        }
        if q.is_event {
            s.queued_events -= 1;
        }
        Some((stream, q.resp))
    }
}
