//! The Node driven by a tiny in-test runtime: instant network, instant disk, virtual time.
//! (The full simulator with faults lives in `oxcd-tests`.)

use super::*;
use crate::backend::MemBackend;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec;
use oxcd_proto::mvccpb;

struct Member {
    node: Node,
    disk: MemBackend,
}

struct Cluster {
    members: BTreeMap<NodeId, Member>,
    down: BTreeSet<NodeId>,
    now: Instant,
    net: VecDeque<(NodeId, NodeId, PeerMessage)>,
    replies: BTreeMap<u64, Result<Response, ApiError>>,
    watch: Vec<(WatchStreamId, pb::WatchResponse)>,
    next_request: u64,
}

fn config(id: u64) -> NodeConfig {
    let mut cfg = NodeConfig::new(NodeId(id), 0xc1, &format!("m{id}"));
    cfg.peer_urls = vec![format!("http://10.0.0.{id}:2380")];
    cfg.client_urls = vec![format!("http://10.0.0.{id}:2379")];
    cfg.snapshot_count = 50;
    cfg
}

fn founders(n: u64) -> Vec<Member_> {
    (1..=n)
        .map(|id| Member_ {
            id: NodeId(id),
            name: format!("m{id}"),
            peer_urls: vec![format!("http://10.0.0.{id}:2380")],
            client_urls: vec![],
            is_learner: false,
        })
        .collect()
}

use crate::membership::Member as Member_;

impl Cluster {
    fn new(n: u64) -> Cluster {
        let now = Instant::from_nanos(1_000_000_000);
        let mut members = BTreeMap::new();
        for id in 1..=n {
            let disk = MemBackend::new();
            let node = Node::new(
                config(id),
                Box::new(disk.clone()),
                InitialCluster::New(founders(n)),
                now,
            )
            .unwrap();
            members.insert(NodeId(id), Member { node, disk });
        }
        Cluster {
            members,
            down: BTreeSet::new(),
            now,
            net: VecDeque::new(),
            replies: BTreeMap::new(),
            watch: Vec::new(),
            next_request: 0,
        }
    }

    /// Drains every member, delivers every message; returns true if anything happened.
    fn settle_once(&mut self) -> bool {
        let mut busy = false;
        let ids: Vec<NodeId> = self.members.keys().copied().collect();
        for id in &ids {
            if self.down.contains(id) {
                continue;
            }
            let m = self.members.get_mut(id).unwrap();
            while let Some(out) = m.node.poll_output() {
                busy = true;
                match out {
                    Output::Send { to, message } => self.net.push_back((*id, to, message)),
                    Output::Persist { id: pid, batch, then_send, .. } => {
                        m.disk.apply(&batch);
                        m.node.handle_persisted(self.now, pid);
                        for (to, message) in then_send {
                            self.net.push_back((*id, to, message));
                        }
                    }
                    Output::Reply { id: rid, result } => {
                        self.replies.insert(rid.0, result);
                    }
                    Output::Watch { stream, response } => self.watch.push((stream, response)),
                    Output::VerifyPassword(_) | Output::MembersChanged { .. } | Output::Removed => {
                    }
                }
            }
        }
        while let Some((from, to, message)) = self.net.pop_front() {
            busy = true;
            if self.down.contains(&to) || self.down.contains(&from) {
                continue;
            }
            if let Some(m) = self.members.get_mut(&to) {
                m.node.handle_peer_message(self.now, from, message);
            }
        }
        busy
    }

    fn settle(&mut self) {
        for _ in 0..10_000 {
            if !self.settle_once() {
                return;
            }
        }
        panic!("cluster did not settle");
    }

    /// Advances virtual time to the next timer (at most `max`), firing it.
    fn tick(&mut self, max: Duration) {
        let next = self
            .members
            .iter()
            .filter(|(id, _)| !self.down.contains(id))
            .map(|(_, m)| m.node.poll_timeout())
            .min()
            .unwrap_or(Instant::MAX);
        self.now = next.min(self.now + max).max(self.now);
        let now = self.now;
        for (id, m) in &mut self.members {
            if !self.down.contains(id) {
                m.node.handle_timeout(now);
            }
        }
        self.settle();
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.tick(end - self.now);
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.members
            .iter()
            .find(|(id, m)| !self.down.contains(id) && m.node.is_leader())
            .map(|(id, _)| *id)
    }

    fn elect(&mut self) -> NodeId {
        for _ in 0..100 {
            if let Some(l) = self.leader() {
                return l;
            }
            self.run_for(Duration::from_millis(200));
        }
        panic!("no leader elected");
    }

    fn request(&mut self, on: NodeId, request: Request) -> Result<Response, ApiError> {
        self.request_as(on, RequestMeta::default(), request)
    }

    fn request_as(
        &mut self,
        on: NodeId,
        meta: RequestMeta,
        request: Request,
    ) -> Result<Response, ApiError> {
        self.next_request += 1;
        let rid = self.next_request;
        let now = self.now;
        self.members.get_mut(&on).unwrap().node.handle_client_request(
            now,
            RequestId(rid),
            meta,
            request,
        );
        self.settle();
        for _ in 0..200 {
            if let Some(r) = self.replies.remove(&rid) {
                return r;
            }
            self.tick(Duration::from_millis(50));
        }
        panic!("no reply to request {rid}");
    }
}

fn put(key: &str, value: &str) -> Request {
    Request::Put(pb::PutRequest { key: key.into(), value: value.into(), ..Default::default() })
}

fn get(key: &str) -> Request {
    Request::Range(pb::RangeRequest { key: key.into(), ..Default::default() })
}

fn range_of(r: Result<Response, ApiError>) -> pb::RangeResponse {
    match r {
        Ok(Response::Range(r)) => r,
        other => panic!("expected a range response, got {other:?}"),
    }
}

#[test]
fn a_single_member_elects_itself_and_serves_writes_and_reads() {
    let mut c = Cluster::new(1);
    let leader = c.elect();
    assert_eq!(leader, NodeId(1));
    let resp = c.request(leader, put("foo", "bar")).unwrap();
    let header = resp.header().unwrap();
    assert_eq!(header.revision, 2, "the first put makes revision 2, as in etcd");
    assert_eq!(header.cluster_id, 0xc1);
    assert_eq!(header.member_id, 1);
    let range = range_of(c.request(leader, get("foo")));
    assert_eq!(range.kvs.len(), 1);
    assert_eq!(range.kvs[0].value, b"bar");
    assert_eq!(range.kvs[0].create_revision, 2);
    assert_eq!(range.kvs[0].version, 1);
}

#[test]
fn three_members_replicate_and_any_member_serves_linearizable_reads() {
    let mut c = Cluster::new(3);
    let leader = c.elect();
    let follower = *c.members.keys().find(|id| **id != leader).unwrap();
    // A write sent to a follower is forwarded to the leader and answered by the follower.
    let resp = c.request(follower, put("k", "v1")).unwrap();
    assert_eq!(resp.header().unwrap().member_id, follower.0);
    c.request(leader, put("k", "v2")).unwrap();
    for id in [NodeId(1), NodeId(2), NodeId(3)] {
        let range = range_of(c.request(id, get("k")));
        assert_eq!(range.kvs[0].value, b"v2", "member {id} read a stale value");
        assert_eq!(range.header.unwrap().revision, 3);
    }
}

#[test]
fn empty_keys_and_bad_requests_get_etcds_errors() {
    let mut c = Cluster::new(1);
    let leader = c.elect();
    assert_eq!(c.request(leader, put("", "v")), Err(ApiError::EmptyKey));
    let lease_missing =
        Request::Put(pb::PutRequest { key: "k".into(), lease: 42, ..Default::default() });
    assert_eq!(c.request(leader, lease_missing), Err(ApiError::LeaseNotFound));
    let future =
        Request::Range(pb::RangeRequest { key: "k".into(), revision: 99, ..Default::default() });
    assert_eq!(c.request(leader, future), Err(ApiError::FutureRev));
    assert_eq!(c.members[&leader].node.revision(), 1, "refused requests change nothing");
}

#[test]
fn a_member_restarts_from_its_disk_with_every_acknowledged_write() {
    let mut c = Cluster::new(1);
    let leader = c.elect();
    for i in 0..20 {
        c.request(leader, put(&format!("k{i}"), "v")).unwrap();
    }
    let disk = c.members[&leader].disk.clone();
    let node =
        Node::new(config(1), Box::new(disk.clone()), InitialCluster::Existing, c.now).unwrap();
    c.members.insert(leader, Member { node, disk });
    c.settle();
    let leader = c.elect();
    let all = Request::Range(pb::RangeRequest {
        key: vec![0],
        range_end: vec![0],
        count_only: true,
        ..Default::default()
    });
    let range = range_of(c.request(leader, all));
    assert_eq!(range.count, 20);
    assert_eq!(range.header.unwrap().revision, 21);
}

#[test]
fn a_restored_store_starts_a_new_cluster_with_the_old_keys() {
    let mut c = Cluster::new(1);
    let leader = c.elect();
    for i in 0..20 {
        c.request(leader, put(&format!("k{i}"), "v")).unwrap();
    }
    let disk = c.members[&leader].disk.clone();
    assert!(super::restore::has_member_state(&disk).unwrap());
    disk.apply(&super::restore::reset_for_new_cluster());
    assert!(!super::restore::has_member_state(&disk).unwrap());
    assert_eq!(disk.len(crate::backend::Table::Members), 0);
    // The new cluster's one founder: another id, name and URL.
    let mut cfg = config(9);
    cfg.cluster_id = 0xc2;
    let founder = Member_ {
        id: NodeId(9),
        name: "m9".into(),
        peer_urls: vec!["http://10.0.0.9:2380".into()],
        client_urls: vec![],
        is_learner: false,
    };
    let node =
        Node::new(cfg, Box::new(disk.clone()), InitialCluster::New(vec![founder]), c.now).unwrap();
    c.members.clear();
    c.members.insert(NodeId(9), Member { node, disk });
    c.settle();
    let leader = c.elect();
    assert_eq!(leader, NodeId(9));
    let names: Vec<String> = c.members[&leader].node.members().map(|m| m.name.clone()).collect();
    assert_eq!(names, vec![String::from("m9")]);
    let all = Request::Range(pb::RangeRequest {
        key: vec![0],
        range_end: vec![0],
        count_only: true,
        ..Default::default()
    });
    let range = range_of(c.request(leader, all));
    assert_eq!(range.count, 20, "the keys survive the restore");
    assert_eq!(range.header.unwrap().revision, 21, "and so does the revision");
    c.request(leader, put("after", "restore")).unwrap();
    assert_eq!(c.members[&leader].node.revision(), 22);
}

#[test]
fn a_full_disk_refuses_writes_raises_nospace_and_keeps_serving_reads() {
    let mut c = Cluster::new(1);
    let leader = c.elect();
    c.request(leader, put("k", "v")).unwrap();
    let now = c.now;
    c.members.get_mut(&leader).unwrap().node.handle_storage_full(now, true);
    c.settle();
    assert_eq!(c.request(leader, put("k2", "v")), Err(ApiError::NoSpace));
    assert_eq!(range_of(c.request(leader, get("k"))).kvs.len(), 1, "reads are served");
    // Room again: the alarm stays until it is disarmed, as with the quota.
    c.members.get_mut(&leader).unwrap().node.handle_storage_full(now, false);
    c.settle();
    assert_eq!(c.request(leader, put("k2", "v")), Err(ApiError::NoSpace));
    let disarm = Request::Alarm(pb::AlarmRequest {
        action: pb::alarm_request::AlarmAction::Deactivate as i32,
        member_id: leader.0,
        alarm: pb::AlarmType::Nospace as i32,
    });
    c.request(leader, disarm).unwrap();
    c.request(leader, put("k2", "v")).unwrap();
}

#[test]
fn a_lagging_follower_catches_up_by_snapshot_after_compaction() {
    let mut c = Cluster::new(3);
    let leader = c.elect();
    let lagging = *c.members.keys().find(|id| **id != leader).unwrap();
    c.down.insert(lagging);
    // Enough writes for the log to be compacted past what the lagging member has.
    for i in 0..(50 + NodeConfig::new(NodeId(1), 0, "").snapshot_catchup_entries + 100) {
        let id = c.next_request + 1;
        c.next_request = id;
        let now = c.now;
        let m = c.members.get_mut(&leader).unwrap();
        m.node.handle_client_request(
            now,
            RequestId(id),
            RequestMeta::default(),
            put(&format!("k{}", i % 100), "v"),
        );
        if i % 500 == 0 {
            c.settle();
        }
    }
    c.settle();
    c.run_for(Duration::from_secs(1));
    assert!(
        c.members[&leader].node.raft().first_index() > LogIndex(10),
        "the leader should have compacted its log"
    );
    c.down.remove(&lagging);
    c.run_for(Duration::from_secs(5));
    let l = &c.members[&leader].node;
    let f = &c.members[&lagging].node;
    assert_eq!(f.applied_index(), l.applied_index(), "the follower caught up");
    assert_eq!(f.revision(), l.revision());
    let range = range_of(c.request(lagging, get("k7")));
    assert_eq!(range.kvs.len(), 1);
}

#[test]
fn watchers_see_events_in_order() {
    let mut c = Cluster::new(1);
    let leader = c.elect();
    let create = pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest { key: "w".into(), ..Default::default() },
        )),
    };
    let now = c.now;
    c.members.get_mut(&leader).unwrap().node.handle_watch_request(
        now,
        WatchStreamId(7),
        RequestMeta::default(),
        create,
    );
    c.settle();
    c.request(leader, put("w", "1")).unwrap();
    c.request(leader, put("w", "2")).unwrap();
    c.request(
        leader,
        Request::DeleteRange(pb::DeleteRangeRequest { key: "w".into(), ..Default::default() }),
    )
    .unwrap();
    c.run_for(Duration::from_millis(100));
    let events: Vec<(i32, i64)> = c
        .watch
        .iter()
        .flat_map(|(_, r)| r.events.iter())
        .map(|e| (e.r#type, e.kv.as_ref().map_or(0, |kv| kv.mod_revision)))
        .collect();
    let put = mvccpb::event::EventType::Put as i32;
    let del = mvccpb::event::EventType::Delete as i32;
    assert_eq!(events, vec![(put, 2), (put, 3), (del, 4)]);
    assert!(c.watch[0].1.created);
}

#[test]
fn leases_expire_through_the_leader_and_take_their_keys() {
    let mut c = Cluster::new(3);
    let leader = c.elect();
    let grant =
        c.request(leader, Request::LeaseGrant(pb::LeaseGrantRequest { ttl: 5, id: 0 })).unwrap();
    let Response::LeaseGrant(grant) = grant else { panic!() };
    assert_ne!(grant.id, 0);
    let follower = *c.members.keys().find(|id| **id != leader).unwrap();
    let attached = Request::Put(pb::PutRequest {
        key: "l".into(),
        value: "v".into(),
        lease: grant.id,
        ..Default::default()
    });
    c.request(follower, attached).unwrap();
    // A keep-alive on a follower is forwarded to the leader.
    let ka = c
        .request(follower, Request::LeaseKeepAlive(pb::LeaseKeepAliveRequest { id: grant.id }))
        .unwrap();
    let Response::LeaseKeepAlive(ka) = ka else { panic!() };
    assert_eq!(ka.ttl, 5);
    c.run_for(Duration::from_secs(8));
    let range = range_of(c.request(follower, get("l")));
    assert!(range.kvs.is_empty(), "the key went with its lease");
}

#[test]
fn members_can_be_added_and_removed() {
    let mut c = Cluster::new(3);
    let leader = c.elect();
    // etcd wants every member connected for its health interval before a reconfiguration.
    let add_learner = || {
        Request::MemberAdd(pb::MemberAddRequest {
            peer_urls: vec!["http://10.0.0.9:2380".into()],
            is_learner: true,
        })
    };
    assert_eq!(c.request(leader, add_learner()), Err(ApiError::Unhealthy));
    c.run_for(Duration::from_secs(6));
    let add = Request::MemberAdd(pb::MemberAddRequest {
        peer_urls: vec!["http://10.0.0.9:2380".into()],
        is_learner: true,
    });
    // Asked on a follower, the change is forwarded to the leader.
    let follower = *c.members.keys().find(|id| **id != leader).unwrap();
    let Response::MemberAdd(added) = c.request(follower, add).unwrap() else { panic!() };
    assert_eq!(added.members.len(), 4);
    assert_eq!(added.header.as_ref().unwrap().revision, 0, "member responses carry no revision");
    // An unstarted member is never connected: further additions are refused until it goes.
    assert_eq!(c.request(leader, add_learner()), Err(ApiError::Unhealthy));
    assert!(added.member.as_ref().unwrap().is_learner);
    let id = added.member.unwrap().id;
    let remove = Request::MemberRemove(pb::MemberRemoveRequest { id });
    let Response::MemberRemove(removed) = c.request(leader, remove).unwrap() else { panic!() };
    assert_eq!(removed.members.len(), 3);
    let again = Request::MemberRemove(pb::MemberRemoveRequest { id });
    assert_eq!(c.request(follower, again), Err(ApiError::MemberNotFound));
    let dup = Request::MemberAdd(pb::MemberAddRequest {
        peer_urls: vec!["http://10.0.0.1:2380".into()],
        is_learner: true,
    });
    assert_eq!(c.request(leader, dup), Err(ApiError::PeerUrlExist));
}

#[test]
fn the_only_member_cannot_be_removed() {
    let mut c = Cluster::new(1);
    let leader = c.elect();
    c.run_for(Duration::from_secs(1));
    let remove = Request::MemberRemove(pb::MemberRemoveRequest { id: leader.0 });
    assert_eq!(c.request(leader, remove), Err(ApiError::MemberNotEnoughStarted));
}

#[test]
fn the_same_seed_and_inputs_give_the_same_outputs() {
    fn trace() -> Vec<String> {
        let mut c = Cluster::new(3);
        let leader = c.elect();
        c.request(leader, put("a", "1")).unwrap();
        let mut out = Vec::new();
        for m in c.members.values_mut() {
            m.node.handle_timeout(c.now + Duration::from_secs(1));
            while let Some(o) = m.node.poll_output() {
                out.push(format!("{o}"));
            }
        }
        out
    }
    assert_eq!(trace(), trace());
}
