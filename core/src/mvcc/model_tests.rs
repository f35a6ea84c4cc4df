//! Model-based randomized tests: random puts, deletes, transactions, compactions and ranges
//! against the store and a reference model that keeps a full snapshot per revision; watchers
//! checked against the model's history (in order, nothing lost or duplicated, resumable from
//! any revision not compacted). Seeds are fixed, so a failure replays exactly.

use super::kv::{KvConfig, KvStore};
use super::{StorageMut, StorageRef};
use crate::backend::{MemBackend, Overlay};
use crate::error::ApiError;
use crate::lease::LessorConfig;
use crate::rng::Rng;
use crate::time::Instant;
use crate::watch::{WatchConfig, WatchStreamId};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;
use oxcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd_proto::etcdserverpb::request_op::Request;
use oxcd_proto::etcdserverpb::response_op::Response;
use oxcd_proto::etcdserverpb::*;
use oxcd_proto::mvccpb::event::EventType;
use oxcd_proto::mvccpb::KeyValue;

type Snapshot = BTreeMap<Vec<u8>, KeyValue>;
/// Per watch id: (mod revision, kind, key) of every event received.
type Received = BTreeMap<i64, Vec<(i64, EventType, Vec<u8>)>>;

/// The reference: every revision's full contents, and every revision's events.
struct Model {
    snapshots: Vec<Snapshot>, // index = revision; 0 unused
    events: Vec<Vec<(EventType, KeyValue)>>,
    compact: i64,
}

impl Model {
    fn new() -> Self {
        Model {
            snapshots: vec![Snapshot::new(), Snapshot::new()],
            events: vec![vec![], vec![]],
            compact: -1,
        }
    }
    fn rev(&self) -> i64 {
        self.snapshots.len() as i64 - 1
    }
    fn head(&self) -> &Snapshot {
        self.snapshots.last().unwrap()
    }
    fn in_span(key: &[u8], start: &[u8], end: &[u8]) -> bool {
        match end {
            [] => key == start,
            [0] => key >= start,
            e => key >= start && key < e,
        }
    }
    /// Applies a list of writes as one revision (if any changes).
    fn write(&mut self, ops: &[ModelOp]) -> i64 {
        let rev = self.rev() + 1;
        let mut snap = self.head().clone();
        let mut evs = Vec::new();
        for (is_put, key, end_or_value, _) in ops {
            if *is_put {
                let kv = match snap.get(key) {
                    Some(old) => KeyValue {
                        key: key.clone(),
                        create_revision: old.create_revision,
                        mod_revision: rev,
                        version: old.version + 1,
                        value: end_or_value.clone(),
                        lease: 0,
                    },
                    None => KeyValue {
                        key: key.clone(),
                        create_revision: rev,
                        mod_revision: rev,
                        version: 1,
                        value: end_or_value.clone(),
                        lease: 0,
                    },
                };
                evs.push((EventType::Put, kv.clone()));
                snap.insert(key.clone(), kv);
            } else {
                let doomed: Vec<Vec<u8>> =
                    snap.keys().filter(|k| Model::in_span(k, key, end_or_value)).cloned().collect();
                for k in doomed {
                    snap.remove(&k);
                    evs.push((
                        EventType::Delete,
                        KeyValue { key: k, mod_revision: rev, ..KeyValue::default() },
                    ));
                }
            }
        }
        if evs.is_empty() {
            return rev - 1;
        }
        self.snapshots.push(snap);
        self.events.push(evs);
        rev
    }
    fn range(
        &self,
        key: &[u8],
        end: &[u8],
        rev: i64,
        limit: i64,
    ) -> Result<(Vec<KeyValue>, i64, bool), ApiError> {
        if rev > self.rev() {
            return Err(ApiError::FutureRev);
        }
        let at = if rev <= 0 { self.rev() } else { rev };
        if at < self.compact {
            return Err(ApiError::Compacted);
        }
        let all: Vec<KeyValue> = self.snapshots[at as usize]
            .values()
            .filter(|kv| Model::in_span(&kv.key, key, end))
            .cloned()
            .collect();
        let count = all.len() as i64;
        let mut kvs = all;
        let mut more = false;
        if limit > 0 && kvs.len() as i64 > limit {
            kvs.truncate(limit as usize);
            more = true;
        }
        Ok((kvs, count, more))
    }
}

const KEYS: [&[u8]; 6] = [b"a", b"ab", b"b", b"ba", b"c", b"d"];

fn key(rng: &mut Rng) -> Vec<u8> {
    KEYS[rng.range_u64(0, KEYS.len() as u64) as usize].to_vec()
}

fn end(rng: &mut Rng, k: &[u8]) -> Vec<u8> {
    match rng.range_u64(0, 4) {
        0 | 1 => Vec::new(),
        2 => vec![0],
        _ => {
            let mut e = k.to_vec();
            e.push(b'z');
            e
        }
    }
}

struct World {
    backend: MemBackend,
    overlay: Overlay,
    kv: KvStore,
    seq: u64,
}

impl World {
    fn new(watch: WatchConfig) -> Self {
        World {
            backend: MemBackend::new(),
            overlay: Overlay::new(),
            kv: KvStore::new(kv_config(watch)),
            seq: 0,
        }
    }
    fn persist(&mut self) {
        self.seq += 1;
        let batch = self.overlay.take_batch(self.seq);
        self.backend.apply(&batch);
        self.overlay.persisted(self.seq);
    }
    fn with<R>(&mut self, f: impl FnOnce(&mut KvStore, &mut StorageMut<'_>) -> R) -> R {
        let mut st = StorageMut::new(&self.backend, &mut self.overlay);
        f(&mut self.kv, &mut st)
    }
}

fn rev_of(h: &Option<ResponseHeader>) -> i64 {
    h.as_ref().map_or(0, |h| h.revision)
}

type ModelOp = (bool, Vec<u8>, Vec<u8>, Vec<u8>);

/// A generated request, with what the model needs to predict its outcome.
enum Op {
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Txn(TxnRequest, Vec<ModelOp>, Vec<ModelOp>),
    Compact(i64),
    CompactionStep(usize),
    Range(RangeRequest),
}

fn gen_branch(rng: &mut Rng) -> (Vec<RequestOp>, Vec<ModelOp>) {
    let mut used: Vec<Vec<u8>> = Vec::new();
    let mut ops = Vec::new();
    let mut model_ops = Vec::new();
    for _ in 0..rng.range_u64(0, 4) {
        let k = key(rng);
        if used.contains(&k) {
            continue;
        }
        used.push(k.clone());
        if rng.chance(3, 4) {
            let v = alloc::format!("t{}", rng.range_u64(0, 100)).into_bytes();
            let put = PutRequest { key: k.clone(), value: v.clone(), ..Default::default() };
            ops.push(RequestOp { request: Some(Request::RequestPut(put)) });
            model_ops.push((true, k, v, vec![]));
        } else {
            let del = DeleteRangeRequest { key: k.clone(), ..Default::default() };
            ops.push(RequestOp { request: Some(Request::RequestDeleteRange(del)) });
            model_ops.push((false, k, vec![], vec![]));
        }
    }
    let all = RangeRequest { key: b"a".to_vec(), range_end: vec![0], ..Default::default() };
    ops.push(RequestOp { request: Some(Request::RequestRange(all)) });
    (ops, model_ops)
}

fn gen(rng: &mut Rng, current: i64) -> Op {
    match rng.range_u64(0, 10) {
        0..=2 => {
            let v = alloc::format!("v{}", rng.range_u64(0, 100)).into_bytes();
            Op::Put(PutRequest { key: key(rng), value: v, ..Default::default() })
        }
        3 => {
            let k = key(rng);
            let e = end(rng, &k);
            Op::Delete(DeleteRangeRequest { key: k, range_end: e, prev_kv: true })
        }
        4 | 5 => {
            let cmp = Compare {
                result: CompareResult::Equal as i32,
                target: CompareTarget::Version as i32,
                key: key(rng),
                target_union: Some(TargetUnion::Version(rng.range_u64(0, 3) as i64)),
                range_end: vec![],
            };
            let (success, s_ops) = gen_branch(rng);
            let (failure, f_ops) = gen_branch(rng);
            Op::Txn(TxnRequest { compare: vec![cmp], success, failure }, s_ops, f_ops)
        }
        6 => Op::Compact(rng.range_u64(0, current as u64 + 3) as i64),
        7 => Op::CompactionStep(rng.range_u64(1, 4) as usize),
        _ => {
            let k = key(rng);
            let e = end(rng, &k);
            let revision = rng.range_u64(0, current as u64 + 2) as i64;
            let limit = rng.range_u64(0, 3) as i64;
            Op::Range(RangeRequest { key: k, range_end: e, revision, limit, ..Default::default() })
        }
    }
}

/// Applies `op` without checking (another member; puts take the owned path the Node uses).
fn apply_blind(op: &Op, w: &mut World) {
    match op {
        Op::Put(r) => drop(w.with(|kv, st| kv.apply_put_owned(st, r.clone()))),
        Op::Delete(r) => drop(w.with(|kv, st| kv.apply_delete_range(st, r))),
        Op::Txn(r, ..) => drop(w.with(|kv, st| kv.apply_txn(st, r))),
        Op::Compact(rev) => drop(w.with(|kv, st| {
            kv.apply_compaction(st, &CompactionRequest { revision: *rev, physical: false })
        })),
        Op::CompactionStep(_) | Op::Range(_) => {}
    }
}

/// Applies `op` to the store and the model; panics on any difference.
fn apply_checked(op: &Op, w: &mut World, m: &mut Model) {
    match op {
        Op::Put(req) => {
            let r = w.with(|kv, st| kv.apply_put(st, req)).unwrap();
            let rev = m.write(&[(true, req.key.clone(), req.value.clone(), vec![])]);
            assert_eq!(rev_of(&r.header), rev);
        }
        Op::Delete(req) => {
            let before = m.range(&req.key, &req.range_end, 0, 0).unwrap().0;
            let r = w.with(|kv, st| kv.apply_delete_range(st, req)).unwrap();
            let rev = m.write(&[(false, req.key.clone(), req.range_end.clone(), vec![])]);
            assert_eq!(rev_of(&r.header), rev);
            assert_eq!(r.prev_kvs, before);
            assert_eq!(r.deleted, before.len() as i64);
        }
        Op::Txn(req, s_ops, f_ops) => {
            let c = &req.compare[0];
            let Some(TargetUnion::Version(want)) = c.target_union else { panic!() };
            let holds = m.head().get(&c.key).map_or(0, |kv| kv.version) == want;
            let r = w.with(|kv, st| kv.apply_txn(st, req)).unwrap();
            assert_eq!(r.succeeded, holds);
            let rev = m.write(if holds { s_ops } else { f_ops });
            assert_eq!(rev_of(&r.header), rev);
            let Some(Response::ResponseRange(last)) = &r.responses.last().unwrap().response else {
                panic!()
            };
            assert_eq!(
                last.kvs,
                m.range(b"a", &[0], 0, 0).unwrap().0,
                "a range inside a txn sees its writes"
            );
        }
        Op::Compact(rev) => {
            let r = w.with(|kv, st| {
                kv.apply_compaction(st, &CompactionRequest { revision: *rev, physical: false })
            });
            let expected = if *rev <= m.compact {
                Err(ApiError::Compacted)
            } else if *rev > m.rev() {
                Err(ApiError::FutureRev)
            } else {
                m.compact = *rev;
                Ok(())
            };
            assert_eq!(r.map(|_| ()), expected);
        }
        Op::CompactionStep(max) => drop(w.with(|kv, st| kv.compaction_step(st, *max))),
        Op::Range(req) => {
            let got =
                w.kv.range(StorageRef::new(&w.backend, &w.overlay), req)
                    .map(|r| (r.kvs, r.count, r.more));
            assert_eq!(
                got,
                m.range(&req.key, &req.range_end, req.revision, req.limit),
                "range {req:?}"
            );
        }
    }
}

fn step(rng: &mut Rng, w: &mut World, m: &mut Model) {
    let op = gen(rng, m.rev());
    apply_checked(&op, w, m);
    if rng.chance(1, 3) {
        w.persist();
    }
}

fn kv_config(watch: WatchConfig) -> KvConfig {
    KvConfig { lessor: LessorConfig::for_election_timeout(Duration::from_secs(1)), watch }
}

#[test]
fn store_matches_the_model() {
    for seed in 0..40 {
        let mut rng = Rng::from_seed(seed);
        let mut w = World::new(WatchConfig::default());
        let mut m = Model::new();
        for i in 0..300 {
            step(&mut rng, &mut w, &mut m);
            if i % 97 == 96 {
                // Restart from storage: same state and hash afterwards.
                w.persist();
                let before = w.kv.hash_kv(StorageRef::new(&w.backend, &w.overlay), 0).unwrap();
                w.kv = KvStore::open(
                    kv_config(WatchConfig::default()),
                    StorageRef::new(&w.backend, &w.overlay),
                );
                let after = w.kv.hash_kv(StorageRef::new(&w.backend, &w.overlay), 0).unwrap();
                assert_eq!(before, after, "seed {seed}: hash across restart");
                assert_eq!(w.kv.current_revision().0, m.rev(), "seed {seed}");
            }
        }
    }
}

#[test]
fn members_applying_the_same_requests_agree_on_the_hash() {
    for seed in 0..20 {
        // Two members, the same requests; compaction steps and persistence at other times.
        let mut rng = Rng::from_seed(1000 + seed);
        let mut other = Rng::from_seed(seed);
        let mut a = World::new(WatchConfig::default());
        let mut b = World::new(WatchConfig::default());
        let mut m = Model::new();
        for _ in 0..200 {
            let op = gen(&mut rng, m.rev());
            apply_checked(&op, &mut a, &mut m);
            apply_blind(&op, &mut b);
            if other.chance(1, 2) {
                b.with(|kv, st| kv.compaction_step(st, 1));
            }
            if other.chance(1, 2) {
                b.persist();
            }
            let ha = a.kv.hash_kv(StorageRef::new(&a.backend, &a.overlay), 0).unwrap();
            let hb = b.kv.hash_kv(StorageRef::new(&b.backend, &b.overlay), 0).unwrap();
            assert_eq!(ha, hb, "seed {seed}");
        }
    }
}

/// Watch checker: watchers on random spans from random revisions, small queues so slow
/// watchers fall back to catching up; every watcher's events must be exactly the model's
/// history for its span from its start revision.
#[test]
fn watchers_see_history_in_order_without_loss_or_duplicates() {
    for seed in 0..30 {
        let mut rng = Rng::from_seed(5000 + seed);
        let watch = WatchConfig {
            max_queued_responses: 2,
            max_events_per_sync: 4,
            max_watchers_per_sync: 3,
            ..WatchConfig::default()
        };
        let mut w = World::new(watch);
        let mut m = Model::new();
        let mut watchers: Vec<(i64, Vec<u8>, Vec<u8>, i64)> = Vec::new(); // id, key, end, start
        let mut received: Received = BTreeMap::new();
        let mut compacted: BTreeMap<i64, i64> = BTreeMap::new();
        let stream = WatchStreamId(1);
        let hdr = ResponseHeader::default();
        for i in 0..250 {
            if rng.chance(1, 12) {
                let k = key(&mut rng);
                let e = end(&mut rng, &k);
                let start = rng.range_u64(0, m.rev() as u64 + 3) as i64;
                let id = 100 + i;
                let req = WatchCreateRequest {
                    key: k.clone(),
                    range_end: e.clone(),
                    start_revision: start,
                    watch_id: id,
                    ..Default::default()
                };
                w.kv.watch_create(stream, &req, Instant::ZERO);
                let start = if start == 0 { m.rev() + 1 } else { start };
                watchers.push((id, k, e, start));
            }
            // Compaction would cancel watchers: that is checked in the scenarios.
            let op = gen(&mut rng, m.rev());
            if !matches!(op, Op::Compact(_)) {
                apply_checked(&op, &mut w, &mut m);
            }
            if rng.chance(1, 3) {
                w.persist();
            }
            if rng.chance(1, 3) {
                w.kv.sync_watchers(StorageRef::new(&w.backend, &w.overlay));
            }
            // Drain sometimes only, so queues fill up.
            if rng.chance(1, 4) {
                drain(&mut w, &hdr, &mut received, &mut compacted);
            }
        }
        for _ in 0..10_000 {
            drain(&mut w, &hdr, &mut received, &mut compacted);
            if !w.kv.sync_watchers(StorageRef::new(&w.backend, &w.overlay)) {
                drain(&mut w, &hdr, &mut received, &mut compacted);
                break;
            }
        }
        assert!(!w.kv.watches().has_unsynced(), "seed {seed}: catch-up did not finish");
        for (id, k, e, start) in &watchers {
            let mut expected = Vec::new();
            for rev in (*start).max(1)..=m.rev() {
                for (kind, kv) in &m.events[rev as usize] {
                    if Model::in_span(&kv.key, if k.is_empty() { &[0] } else { k }, e) {
                        expected.push((rev, *kind, kv.key.clone()));
                    }
                }
            }
            let got = received.get(id).cloned().unwrap_or_default();
            assert_eq!(got, expected, "seed {seed} watcher {id} span {k:?}..{e:?} from {start}");
        }
    }
}

fn drain(
    w: &mut World,
    hdr: &ResponseHeader,
    received: &mut Received,
    compacted: &mut BTreeMap<i64, i64>,
) {
    for _ in 0..100_000 {
        let Some((_, r)) = w.kv.poll_watch_output(hdr) else { return };
        if r.compact_revision != 0 {
            compacted.insert(r.watch_id, r.compact_revision);
        }
        for ev in r.events {
            let kv = ev.kv.unwrap();
            let kind = if ev.r#type == 0 { EventType::Put } else { EventType::Delete };
            received.entry(r.watch_id).or_default().push((kv.mod_revision, kind, kv.key));
        }
    }
}

fn junk_bytes(rng: &mut Rng) -> Vec<u8> {
    match rng.range_u64(0, 5) {
        0 => Vec::new(),
        1 => vec![0],
        2 => key(rng),
        _ => (0..rng.range_u64(0, 6)).map(|_| rng.next_u64() as u8).collect(),
    }
}

fn junk_i64(rng: &mut Rng) -> i64 {
    match rng.range_u64(0, 6) {
        0 => 0,
        1 => -1 - rng.range_u64(0, 5) as i64,
        2 => i64::MAX,
        3 => i64::MIN,
        _ => rng.range_u64(0, 12) as i64,
    }
}

fn junk_range(rng: &mut Rng) -> RangeRequest {
    RangeRequest {
        key: junk_bytes(rng),
        range_end: junk_bytes(rng),
        limit: junk_i64(rng),
        revision: junk_i64(rng),
        sort_order: junk_i64(rng) as i32,
        sort_target: junk_i64(rng) as i32,
        serializable: rng.chance(1, 2),
        keys_only: rng.chance(1, 2),
        count_only: rng.chance(1, 2),
        min_mod_revision: junk_i64(rng),
        max_mod_revision: junk_i64(rng),
        min_create_revision: junk_i64(rng),
        max_create_revision: junk_i64(rng),
    }
}

fn junk_put(rng: &mut Rng) -> PutRequest {
    PutRequest {
        key: junk_bytes(rng),
        value: junk_bytes(rng),
        lease: if rng.chance(1, 2) { 0 } else { junk_i64(rng) },
        prev_kv: rng.chance(1, 2),
        ignore_value: rng.chance(1, 3),
        ignore_lease: rng.chance(1, 3),
    }
}

fn junk_txn(rng: &mut Rng, depth: u32) -> TxnRequest {
    let ops = |rng: &mut Rng| -> Vec<RequestOp> {
        (0..rng.range_u64(0, 4))
            .map(|_| {
                let request = match rng.range_u64(0, 5) {
                    0 => Some(Request::RequestRange(junk_range(rng))),
                    1 => Some(Request::RequestPut(junk_put(rng))),
                    2 => Some(Request::RequestDeleteRange(DeleteRangeRequest {
                        key: junk_bytes(rng),
                        range_end: junk_bytes(rng),
                        prev_kv: rng.chance(1, 2),
                    })),
                    3 if depth < 3 => Some(Request::RequestTxn(junk_txn(rng, depth + 1))),
                    _ => None,
                };
                RequestOp { request }
            })
            .collect()
    };
    let compare = (0..rng.range_u64(0, 3))
        .map(|_| Compare {
            result: junk_i64(rng) as i32,
            target: junk_i64(rng) as i32,
            key: junk_bytes(rng),
            target_union: match rng.range_u64(0, 6) {
                0 => None,
                1 => Some(TargetUnion::Value(junk_bytes(rng))),
                2 => Some(TargetUnion::Version(junk_i64(rng))),
                3 => Some(TargetUnion::ModRevision(junk_i64(rng))),
                4 => Some(TargetUnion::CreateRevision(junk_i64(rng))),
                _ => Some(TargetUnion::Lease(junk_i64(rng))),
            },
            range_end: junk_bytes(rng),
        })
        .collect();
    let success = ops(rng);
    let failure = ops(rng);
    TxnRequest { compare, success, failure }
}

/// Bad input: random, often invalid requests never panic, and a request answered with an
/// error leaves the state (revision, hash, pending writes) unchanged.
#[test]
fn bad_input_never_panics_and_errors_change_nothing() {
    for seed in 0..30 {
        let mut rng = Rng::from_seed(9000 + seed);
        let mut w = World::new(WatchConfig::default());
        let mut m = Model::new();
        for _ in 0..50 {
            step(&mut rng, &mut w, &mut m);
        }
        w.with(|kv, st| {
            kv.apply_lease_grant(st, &LeaseGrantRequest { id: 3, ttl: 100 }, Instant::ZERO)
        })
        .unwrap();
        for _ in 0..400 {
            w.persist();
            let view_hash =
                |w: &World| w.kv.hash_kv(StorageRef::new(&w.backend, &w.overlay), 0).unwrap();
            let before = (w.kv.current_revision(), view_hash(&w));
            let failed = match rng.range_u64(0, 6) {
                0 => {
                    let req = junk_range(&mut rng);
                    w.kv.range(StorageRef::new(&w.backend, &w.overlay), &req).is_err()
                }
                1 => {
                    let req = junk_put(&mut rng);
                    w.with(|kv, st| kv.apply_put(st, &req)).is_err()
                }
                2 => {
                    let req = DeleteRangeRequest {
                        key: junk_bytes(&mut rng),
                        range_end: junk_bytes(&mut rng),
                        prev_kv: true,
                    };
                    w.with(|kv, st| kv.apply_delete_range(st, &req)).is_err()
                }
                3 => {
                    let req = junk_txn(&mut rng, 0);
                    let _ = super::txn::check_txn_request(&req, 128);
                    w.with(|kv, st| kv.apply_txn(st, &req)).is_err()
                }
                4 => {
                    let req = CompactionRequest { revision: junk_i64(&mut rng), physical: false };
                    w.with(|kv, st| kv.apply_compaction(st, &req)).is_err()
                }
                _ => {
                    let req = LeaseRevokeRequest { id: junk_i64(&mut rng) };
                    w.with(|kv, st| kv.apply_lease_revoke(st, &req)).is_err()
                }
            };
            if failed {
                assert!(!w.overlay.has_untaken(), "seed {seed}: an error wrote something");
                assert_eq!((w.kv.current_revision(), view_hash(&w)), before, "seed {seed}");
            }
            w.with(|kv, st| kv.compaction_step(st, 2));
        }
    }
}
