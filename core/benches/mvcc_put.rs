//! Puts of 256-byte values applied on one core: the key-value apply path alone, and with the
//! runtime's share (taking each 1000-put batch and writing it into the in-memory backend).
// A benchmark measures wall time; the core it drives never reads a clock.
#![allow(clippy::disallowed_methods)]

#[path = "mvcc_common/mod.rs"]
mod common;

use oxcd_core::watch::WatchConfig;
use oxcd_proto::etcdserverpb::PutRequest;
use std::time::Instant;

const N: usize = 1_000_000;
const BATCH: usize = 1000;

fn main() {
    let value = vec![b'v'; 256];
    let requests: Vec<PutRequest> = (0..N)
        .map(|i| PutRequest {
            key: format!("key-{:08}", (i * 7919) % N).into_bytes(),
            value: value.clone(),
            ..Default::default()
        })
        .collect();
    let mut b = common::Bench::new(WatchConfig::default());
    let mut apply_time = std::time::Duration::ZERO;
    let start = Instant::now();
    for chunk in requests.chunks(BATCH) {
        let t = Instant::now();
        {
            let (mut st, kv) = b.st();
            for req in chunk {
                kv.apply_put(&mut st, req).expect("put");
            }
        }
        apply_time += t.elapsed();
        b.persist();
    }
    let total = start.elapsed();
    assert_eq!(b.kv.current_revision().0, N as i64 + 1);
    println!("mvcc_put: {N} puts of 256-byte values over {N} distinct keys");
    println!(
        "  apply only:             {:>10.0} puts/s ({:.2} s)",
        N as f64 / apply_time.as_secs_f64(),
        apply_time.as_secs_f64()
    );
    println!(
        "  apply + backend writes: {:>10.0} puts/s ({:.2} s)",
        N as f64 / total.as_secs_f64(),
        total.as_secs_f64()
    );

    // Overwrites of a hot set of 10,000 keys (the index grows by one revision per put).
    let mut apply_time = std::time::Duration::ZERO;
    let start = Instant::now();
    for chunk in requests.chunks(BATCH) {
        let t = Instant::now();
        {
            let (mut st, kv) = b.st();
            for (i, req) in chunk.iter().enumerate() {
                let req =
                    PutRequest { key: format!("hot-{:05}", i * 10).into_bytes(), ..req.clone() };
                kv.apply_put(&mut st, &req).expect("put");
            }
        }
        apply_time += t.elapsed();
        b.persist();
    }
    let total = start.elapsed();
    println!("mvcc_put: {N} overwrites of 10,000 hot keys (includes building each request)");
    println!("  apply only:             {:>10.0} puts/s", N as f64 / apply_time.as_secs_f64());
    println!("  apply + backend writes: {:>10.0} puts/s", N as f64 / total.as_secs_f64());
}
