use super::*;
use crate::backend::{MemBackend, Overlay};
use crate::lease::LessorConfig;
use crate::mvcc::kv::{KvConfig, KvStore};
use crate::mvcc::StorageMut;
use crate::time::Instant;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;
use oxcd_proto::etcdserverpb::request_op::Request;
use oxcd_proto::etcdserverpb::{
    PutRequest, RequestOp, ResponseHeader, TxnRequest, WatchCreateRequest,
};

fn store(watch: WatchConfig) -> KvStore {
    KvStore::new(KvConfig {
        lessor: LessorConfig::for_election_timeout(Duration::from_secs(1)),
        watch,
    })
}

#[test]
fn large_responses_fragment_only_for_watchers_that_ask() {
    let backend = MemBackend::new();
    let mut overlay = Overlay::new();
    let mut kv = store(WatchConfig { max_response_bytes: 2048, ..WatchConfig::default() });
    let s = WatchStreamId(1);
    let fragmenting = WatchCreateRequest {
        key: b"k".to_vec(),
        range_end: b"l".to_vec(),
        fragment: true,
        ..Default::default()
    };
    let whole =
        WatchCreateRequest { key: b"k".to_vec(), range_end: b"l".to_vec(), ..Default::default() };
    kv.watch_create(s, &fragmenting, Instant::ZERO);
    kv.watch_create(s, &whole, Instant::ZERO);
    let success = (0..10)
        .map(|i| RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: alloc::format!("k{i}").into_bytes(),
                value: vec![b'x'; 500],
                ..Default::default()
            })),
        })
        .collect();
    kv.apply_txn(
        &mut StorageMut::new(&backend, &mut overlay),
        &TxnRequest { success, ..Default::default() },
    )
    .unwrap();
    let hdr = ResponseHeader::default();
    let mut by_watch: Vec<(i64, usize, bool)> = Vec::new();
    while let Some((_, r)) = kv.poll_watch_output(&hdr) {
        if !r.events.is_empty() {
            by_watch.push((r.watch_id, r.events.len(), r.fragment));
        }
    }
    let fragments: Vec<_> = by_watch.iter().filter(|(id, ..)| *id == 0).collect();
    assert!(fragments.len() >= 3, "{by_watch:?}");
    assert_eq!(fragments.iter().map(|(_, n, _)| n).sum::<usize>(), 10);
    assert!(fragments[..fragments.len() - 1].iter().all(|(.., f)| *f));
    assert!(!fragments[fragments.len() - 1].2);
    assert_eq!(by_watch.iter().filter(|(id, ..)| *id == 1).collect::<Vec<_>>(), [&(1, 10, false)]);
}

#[test]
fn a_stream_holds_a_bounded_number_of_watchers() {
    let mut kv = store(WatchConfig { max_watchers_per_stream: 2, ..WatchConfig::default() });
    let s = WatchStreamId(9);
    let req = WatchCreateRequest { key: b"a".to_vec(), ..Default::default() };
    for _ in 0..3 {
        kv.watch_create(s, &req, Instant::ZERO);
    }
    let hdr = ResponseHeader::default();
    let mut out = Vec::new();
    while let Some((_, r)) = kv.poll_watch_output(&hdr) {
        out.push((r.watch_id, r.canceled, r.cancel_reason));
    }
    assert_eq!(out[0], (0, false, Default::default()));
    assert_eq!(out[1], (1, false, Default::default()));
    assert_eq!(out[2], (-1, true, REASON_TOO_MANY_WATCHERS.into()));
    // Closing the stream frees everything.
    kv.watches_mut().close_stream(s);
    assert_eq!(kv.watches().watcher_count(), 0);
}

#[test]
fn config_is_validated() {
    assert!(WatchConfig::default().validate().is_ok());
    assert!(WatchConfig { max_queued_responses: 0, ..WatchConfig::default() }.validate().is_err());
    assert!(WatchConfig { progress_notify_interval: Duration::ZERO, ..WatchConfig::default() }
        .validate()
        .is_err());
}
