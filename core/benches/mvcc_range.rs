//! A 1,000-key prefix range over a store of 1,000,000 keys (values in the in-memory backend).
// A benchmark measures wall time; the core it drives never reads a clock.
#![allow(clippy::disallowed_methods)]

#[path = "mvcc_common/mod.rs"]
mod common;

use oxcd_core::watch::WatchConfig;
use oxcd_proto::etcdserverpb::{PutRequest, RangeRequest};
use std::time::{Duration, Instant};

fn main() {
    let mut b = common::Bench::new(WatchConfig::default());
    let value = vec![b'v'; 256];
    for p in 0..1000 {
        {
            let (mut st, kv) = b.st();
            for k in 0..1000 {
                let req = PutRequest {
                    key: format!("/registry/p{p:04}/k{k:04}").into_bytes(),
                    value: value.clone(),
                    ..Default::default()
                };
                kv.apply_put(&mut st, &req).expect("put");
            }
        }
        b.persist();
    }
    let mut times: Vec<Duration> = Vec::new();
    for i in 0..200 {
        let p = (i * 37) % 1000;
        let key = format!("/registry/p{p:04}/").into_bytes();
        let mut end = key.clone();
        *end.last_mut().unwrap() += 1;
        let req = RangeRequest { key, range_end: end, ..Default::default() };
        let t = common::cpu_time();
        let resp = b.kv.range(b.view(), &req).expect("range");
        times.push(common::cpu_time() - t);
        assert_eq!(resp.kvs.len(), 1000);
    }
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    println!("mvcc_range: 1,000-key prefix range over 1,000,000 keys (256-byte values), CPU time");
    println!("  median {:.3} ms, p99 {:.3} ms, min {:.3} ms", ms(median), ms(p99), ms(times[0]));
    // Count-only and keys-only variants.
    let req = RangeRequest {
        key: b"/registry/p0500/".to_vec(),
        range_end: b"/registry/p05000".to_vec(),
        count_only: true,
        ..Default::default()
    };
    let t = Instant::now();
    let resp = b.kv.range(b.view(), &req).expect("range");
    println!("  count-only over the same prefix: {:.3} ms (count {})", ms(t.elapsed()), resp.count);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
