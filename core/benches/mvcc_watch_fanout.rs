//! One put reaching 10,000 watchers of its key: the apply (with fan-out into the stream
//! queues) and the drain of all 10,000 responses.
// A benchmark measures wall time; the core it drives never reads a clock.
#![allow(clippy::disallowed_methods)]

#[path = "mvcc_common/mod.rs"]
mod common;

use oxcd_core::time::Instant as CoreInstant;
use oxcd_core::watch::{WatchConfig, WatchStreamId};
use oxcd_proto::etcdserverpb::{PutRequest, ResponseHeader, WatchCreateRequest};
use std::time::Duration;

fn run(streams: u64, per_stream: u64, prev_kv: bool) {
    // A stream holding 10,000 watchers needs room for one response per watcher.
    let watch = WatchConfig {
        max_queued_responses: 20_000,
        max_watchers_per_stream: 20_000,
        ..WatchConfig::default()
    };
    let mut b = common::Bench::new(watch);
    {
        let (mut st, kv) = b.st();
        kv.apply_put(
            &mut st,
            &PutRequest { key: b"hot".to_vec(), value: vec![b'0'; 256], ..Default::default() },
        )
        .unwrap();
    }
    b.persist();
    for s in 0..streams {
        for _ in 0..per_stream {
            let req = WatchCreateRequest { key: b"hot".to_vec(), prev_kv, ..Default::default() };
            b.kv.watch_create(WatchStreamId(s), &req, CoreInstant::ZERO);
        }
    }
    let hdr = ResponseHeader { cluster_id: 1, member_id: 2, raft_term: 3, revision: 0 };
    while b.kv.poll_watch_output(&hdr).is_some() {}
    let mut apply = Vec::new();
    let mut total = Vec::new();
    for round in 0..20 {
        let t = common::cpu_time();
        {
            let (mut st, kv) = b.st();
            let req = PutRequest {
                key: b"hot".to_vec(),
                value: vec![b'0' + (round % 10) as u8; 256],
                ..Default::default()
            };
            kv.apply_put(&mut st, &req).unwrap();
        }
        let applied = common::cpu_time() - t;
        let mut n = 0;
        while let Some((_, r)) = b.kv.poll_watch_output(&hdr) {
            n += r.events.len();
        }
        total.push(common::cpu_time() - t);
        apply.push(applied);
        assert_eq!(n as u64, streams * per_stream);
        b.persist();
    }
    apply.sort();
    total.sort();
    println!(
        "mvcc_watch_fanout: {streams} streams x {per_stream} watchers, prev_kv={prev_kv} (CPU time): apply+fan-out median {:.2} ms, with drain of every response median {:.2} ms (max {:.2} ms)",
        ms(apply[apply.len() / 2]),
        ms(total[total.len() / 2]),
        ms(total[total.len() - 1])
    );
}

fn main() {
    run(10_000, 1, false);
    run(100, 100, false);
    run(1, 10_000, true);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
