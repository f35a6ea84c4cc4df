//! Puts of 256-byte values applied on one core: the key-value apply path alone, and with the
//! runtime's share (taking each 1000-put batch and writing it into the in-memory backend).
//! Rates are per CPU second of this thread (the machine is shared), wall time alongside.
// A benchmark measures time; the core it drives never reads a clock.
#![allow(clippy::disallowed_methods)]

#[path = "mvcc_common/mod.rs"]
mod common;

use common::cpu_time;
use oxcd_core::watch::WatchConfig;
use oxcd_proto::etcdserverpb::PutRequest;
use std::time::{Duration, Instant};

const N: usize = 1_000_000;
const BATCH: usize = 1000;

fn run(label: &str, b: &mut common::Bench, requests: &[PutRequest]) {
    let mut apply_cpu = Duration::ZERO;
    let cpu_start = cpu_time();
    let wall_start = Instant::now();
    for chunk in requests.chunks(BATCH) {
        let t = cpu_time();
        {
            let (mut st, kv) = b.st();
            for req in chunk {
                kv.apply_put(&mut st, req).expect("put");
            }
        }
        apply_cpu += cpu_time() - t;
        b.persist();
    }
    let total_cpu = cpu_time() - cpu_start;
    let wall = wall_start.elapsed();
    let n = requests.len() as f64;
    println!("mvcc_put: {label}");
    println!("  apply only:             {:>9.0} puts per CPU second", n / apply_cpu.as_secs_f64());
    println!(
        "  apply + backend writes: {:>9.0} puts per CPU second ({:.0} per wall second)",
        n / total_cpu.as_secs_f64(),
        n / wall.as_secs_f64()
    );
}

fn main() {
    let value = vec![b'v'; 256];
    let fresh: Vec<PutRequest> = (0..N)
        .map(|i| PutRequest {
            key: format!("key-{:08}", (i * 7919) % N).into_bytes(),
            value: value.clone(),
            ..Default::default()
        })
        .collect();
    let mut b = common::Bench::new(WatchConfig::default());
    run("1,000,000 puts creating 1,000,000 keys (random order)", &mut b, &fresh);
    assert_eq!(b.kv.current_revision().0, N as i64 + 1);
    drop(fresh);

    let hot: Vec<PutRequest> = (0..N)
        .map(|i| PutRequest {
            key: format!("hot-{:05}", (i * 7919) % 10_000).into_bytes(),
            value: value.clone(),
            ..Default::default()
        })
        .collect();
    let mut b = common::Bench::new(WatchConfig::default());
    run("1,000,000 overwrites of 10,000 keys", &mut b, &hot);
}
