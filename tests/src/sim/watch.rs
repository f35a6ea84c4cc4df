//! Watch clients: each watches every key through one stream to one member; responses reach it
//! in order (a stream is one connection); when the stream breaks (the member stops, or cancels
//! the watch) or the client decides to move, it resumes on a running member from the revision
//! after the last one it received. Every event goes through the `watch` checker.

use crate::sim::check::watch::{WatchChecker, WatchEvent};
use crate::sim::world::{Event, Sim};
use oxcd_core::ids::NodeId;
use oxcd_core::node::WatchStreamId;
use oxcd_core::time::Instant;
use oxcd_proto::etcdserverpb as pb;
use oxcd_proto::mvccpb::event::EventType;
use std::collections::BTreeMap;
use std::time::Duration;

/// A watch stream: which watcher it serves, on which member run.
#[derive(Debug)]
struct Stream {
    watcher: usize,
    member: NodeId,
    /// The member's run the stream was opened on (0 until the create arrives).
    incarnation: u64,
    /// When its last response reaches the client (responses keep their order).
    last_delivery: Instant,
}

/// Every watch client and stream of a world.
#[derive(Debug, Default)]
pub struct Watches {
    /// Per watcher: its current stream, if any.
    current: Vec<Option<u64>>,
    streams: BTreeMap<u64, Stream>,
    next_stream: u64,
    /// Streams opened, including resumptions.
    pub opened: u64,
    /// The checker of everything received.
    pub checker: WatchChecker,
}

impl Watches {
    /// Watch clients.
    #[must_use]
    pub fn watchers(&self) -> usize {
        self.current.len()
    }
}

impl Sim {
    /// Adds a client watching every key from `start_revision` on (1: the whole history).
    /// Returns its number.
    pub fn add_watcher(&mut self, start_revision: i64) -> usize {
        let w = self.watches.current.len();
        self.watches.current.push(None);
        self.watches.checker.start(w, start_revision);
        self.open_stream(w);
        w
    }

    /// The highest revision watcher `w` received.
    #[must_use]
    pub fn watcher_revision(&self, w: usize) -> i64 {
        self.watches.checker.last_revision(w)
    }

    /// Moves watcher `w` to another member (closing its stream), resuming where it was.
    pub fn rewatch(&mut self, w: usize) {
        self.close_stream(w);
        self.open_stream(w);
    }

    fn close_stream(&mut self, w: usize) {
        let Some(stream) = self.watches.current.get_mut(w).and_then(Option::take) else { return };
        let now = self.now();
        if let Some(s) = self.watches.streams.remove(&stream) {
            let member = s.member;
            let Some(slot) = self.members.get_mut(&member) else { return };
            if slot.incarnation == s.incarnation {
                if let Some(node) = slot.node.as_mut() {
                    node.handle_watch_closed(now, WatchStreamId(stream));
                    self.drain(member);
                }
            }
        }
    }

    fn open_stream(&mut self, w: usize) {
        let running: Vec<NodeId> =
            self.members.values().filter(|s| s.is_running()).map(|s| s.id).collect();
        if running.is_empty() {
            let delay = Duration::from_millis(500);
            self.queue.schedule_in(delay, Event::WatchReconnect { watcher: w });
            return;
        }
        let member = running[self.rng.range_u64(0, running.len() as u64) as usize];
        self.watches.next_stream += 1;
        self.watches.opened += 1;
        let stream = self.watches.next_stream;
        self.watches.current[w] = Some(stream);
        let now = self.now();
        self.watches
            .streams
            .insert(stream, Stream { watcher: w, member, incarnation: 0, last_delivery: now });
        let start = self.watches.checker.resume_revision(w);
        self.trace.record(now, || {
            format!("watcher {w} opens stream {stream} on m{member} from revision {start}")
        });
        let create = pb::WatchCreateRequest {
            key: vec![0],
            range_end: vec![0],
            start_revision: start,
            ..Default::default()
        };
        let request = pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::CreateRequest(create)),
        };
        let delay = self.client_delay();
        self.queue.schedule_in(delay, Event::WatchArrive { stream, request });
    }

    /// A watch request reaches its member.
    pub(crate) fn watch_arrive(&mut self, stream: u64, request: pb::WatchRequest) {
        let now = self.now();
        let meta = self.cfg.request_meta(true);
        let Some(s) = self.watches.streams.get_mut(&stream) else { return };
        let member = s.member;
        let watcher = s.watcher;
        let Some(slot) = self.members.get_mut(&member).filter(|s| s.is_running()) else {
            self.stream_broken(watcher, stream);
            return;
        };
        s.incarnation = slot.incarnation;
        if let Some(node) = slot.node.as_mut() {
            node.handle_watch_request(now, WatchStreamId(stream), meta, request);
        }
        self.drain(member);
    }

    /// A member emitted a watch response.
    pub(crate) fn watch_output(
        &mut self,
        member: NodeId,
        stream: WatchStreamId,
        response: pb::WatchResponse,
    ) {
        let now = self.now();
        let delay = self.client_delay();
        let Some(s) = self.watches.streams.get_mut(&stream.0) else { return };
        if s.member != member {
            return;
        }
        let at = (now + delay).max(s.last_delivery);
        s.last_delivery = at;
        self.queue.schedule_at(at, Event::WatchTraffic { stream: stream.0, response });
    }

    /// A watch response reaches its client.
    pub(crate) fn watch_traffic(&mut self, stream: u64, response: pb::WatchResponse) {
        let now = self.now();
        let Some(s) = self.watches.streams.get(&stream) else { return };
        let watcher = s.watcher;
        if self.watches.current.get(watcher).copied().flatten() != Some(stream) {
            return;
        }
        for e in &response.events {
            let Some(kv) = &e.kv else { continue };
            let event = WatchEvent {
                revision: kv.mod_revision,
                key: kv.key.clone(),
                delete: e.r#type == EventType::Delete as i32,
                value: kv.value.clone(),
            };
            if let Err(v) = self.watches.checker.observe(now, watcher, &event) {
                self.fail(v);
                return;
            }
        }
        if response.canceled {
            self.trace.record(now, || {
                format!("watcher {watcher}: stream {stream} canceled: {}", response.cancel_reason)
            });
            self.close_stream(watcher);
            self.queue.schedule_in(Duration::from_millis(100), Event::WatchReconnect { watcher });
        }
    }

    /// Watcher `w` reconnects if it has no stream.
    pub(crate) fn watch_reconnect(&mut self, w: usize) {
        if self.watches.current.get(w).copied().flatten().is_none() {
            self.open_stream(w);
        }
    }

    /// Member `id` stopped: its streams break.
    pub(crate) fn watch_member_stopped(&mut self, id: NodeId) {
        let broken: Vec<(usize, u64)> = self
            .watches
            .streams
            .iter()
            .filter(|(_, s)| s.member == id)
            .map(|(k, s)| (s.watcher, *k))
            .collect();
        for (watcher, stream) in broken {
            self.stream_broken(watcher, stream);
        }
    }

    fn stream_broken(&mut self, watcher: usize, stream: u64) {
        self.watches.streams.remove(&stream);
        if self.watches.current.get(watcher).copied().flatten() == Some(stream) {
            self.watches.current[watcher] = None;
            let delay = Duration::from_millis(100) + self.client_delay();
            self.queue.schedule_in(delay, Event::WatchReconnect { watcher });
        }
    }
}
