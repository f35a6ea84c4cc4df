//! Storage benchmarks (release, `harness = false`):
//!
//! ```text
//! cargo bench -p oxcd-storage-lmdb --bench storage -- puts    # durable group-commit puts, size, open time
//! cargo bench -p oxcd-storage-lmdb --bench storage -- reads   # get through the handle vs through a view
//! cargo bench -p oxcd-storage-lmdb --bench storage -- defrag  # pause of a ~1 GiB defragmentation
//! ```
//! `OXCD_BENCH_DIR` picks the directory (default: a temp dir under /tmp); `OXCD_BENCH_KEYS`
//! the key count of `puts`/`reads` (default 1,000,000).

use oxcd_core::backend::{Backend, BackendWriter, Table, WriteBatch};
use oxcd_storage_lmdb::{LmdbStorage, OpenOptions};
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const VALUE_BYTES: usize = 256;

/// etcd-like revision keys: main revision and sub revision, big-endian.
fn key(i: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.extend_from_slice(&i.to_be_bytes());
    k.push(b'_');
    k.extend_from_slice(&0u64.to_be_bytes());
    k
}

fn value(i: u64) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; VALUE_BYTES];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

fn options(create: bool, no_fsync: bool) -> OpenOptions {
    OpenOptions { create, unsafe_no_fsync: no_fsync, ..OpenOptions::default() }
}

fn fill(store: &mut LmdbStorage, from: u64, count: u64, batch_ops: u64) -> Duration {
    let started = Instant::now();
    let mut i = from;
    while i < from + count {
        let mut batch = WriteBatch::default();
        for j in i..(i + batch_ops).min(from + count) {
            batch.put(Table::Kv, key(j), value(j));
        }
        store.write(&batch).unwrap();
        i += batch_ops;
    }
    started.elapsed()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn puts(root: &Path, keys: u64) {
    for batch_ops in [100u64, 1000] {
        let dir = root.join(format!("puts-{batch_ops}"));
        let mut store = LmdbStorage::open(&dir, options(true, false)).unwrap();
        let elapsed = fill(&mut store, 0, keys, batch_ops);
        let rate = keys as f64 / elapsed.as_secs_f64();
        println!(
            "puts: {keys} keys x {VALUE_BYTES} B, batches of {batch_ops}, fsync per batch: {:.2} s, {rate:.0} puts/s, {:.0} batches/s",
            elapsed.as_secs_f64(),
            rate / batch_ops as f64
        );
        let size = store.size_bytes();
        println!(
            "size: file {:.1} MiB ({:.1} B/key), in use {:.1} MiB",
            mib(size),
            size as f64 / keys as f64,
            mib(store.size_in_use_bytes())
        );
        drop(store);
        // Drop the page cache's say in it as far as we can without root: just reopen.
        let started = Instant::now();
        let store = LmdbStorage::open(&dir, options(false, false)).unwrap();
        let first = store.get(Table::Kv, &key(keys / 2));
        let open = started.elapsed();
        assert!(first.is_some());
        println!("open-to-ready ({keys} keys): {:.2} ms", open.as_secs_f64() * 1e3);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

fn reads(root: &Path, keys: u64) {
    let dir = root.join("reads");
    let mut store = LmdbStorage::open(&dir, options(true, true)).unwrap();
    fill(&mut store, 0, keys, 10_000);
    let lookups = 1_000_000u64;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % keys
    };
    let started = Instant::now();
    for _ in 0..lookups {
        black_box(store.get(Table::Kv, &key(next())));
    }
    let per_handle = started.elapsed().as_nanos() as f64 / lookups as f64;
    let view = store.snapshot_view();
    let started = Instant::now();
    for _ in 0..lookups {
        black_box(view.get(Table::Kv, &key(next())));
    }
    let per_view = started.elapsed().as_nanos() as f64 / lookups as f64;
    println!(
        "get ({keys} keys, random): {per_handle:.0} ns through the handle (read txn per call), {per_view:.0} ns through a view (one txn)"
    );
    let started = Instant::now();
    let mut n = 0u64;
    store.scan(Table::Kv, b"", None, &mut |_, v| {
        n += v.len() as u64;
        std::ops::ControlFlow::Continue(())
    });
    println!("scan of {keys} keys: {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
    drop((view, store));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn defrag(root: &Path) {
    let dir = root.join("defrag");
    let keys = 4_000_000u64; // 4M x 256 B: about 1.3 GiB on disk
    let mut store = LmdbStorage::open(&dir, options(true, true)).unwrap();
    let fill_time = fill(&mut store, 0, keys, 10_000);
    // Delete every other key: pages stay half full, half the file is dead weight.
    let mut i = 0;
    while i < keys {
        let mut batch = WriteBatch::default();
        for j in (i..(i + 20_000).min(keys)).step_by(2) {
            batch.delete(Table::Kv, key(j));
        }
        store.write(&batch).unwrap();
        i += 20_000;
    }
    drop(store);
    println!("defrag: filled {keys} keys in {:.1} s, deleted half", fill_time.as_secs_f64());
    // Reopen durable, as a server runs.
    let store = LmdbStorage::open(&dir, options(false, false)).unwrap();
    println!(
        "defrag: before: file {:.0} MiB, in use {:.0} MiB",
        mib(store.size_bytes()),
        mib(store.size_in_use_bytes())
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let mut store = store.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut batches = 0u64;
            let mut next = keys;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                fill(&mut store, next, 100, 100);
                worst = worst.max(started.elapsed());
                next += 100;
                batches += 1;
            }
            (batches, worst)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let report = store.defragment().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let (batches, worst) = writer.join().unwrap();
    println!(
        "defrag: {:.0} MiB -> {:.0} MiB, {} records copied, {} catch-up rounds, total {:.2} s, write pause {:.1} ms",
        mib(report.size_before_bytes),
        mib(report.size_after_bytes),
        report.records_copied,
        report.catch_up_rounds,
        report.total.as_secs_f64(),
        report.write_pause.as_secs_f64() * 1e3
    );
    println!(
        "defrag: a concurrent writer committed {batches} durable batches of 100; its slowest batch took {:.1} ms",
        worst.as_secs_f64() * 1e3
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let keys: u64 = std::env::var("OXCD_BENCH_KEYS").map_or(1_000_000, |k| k.parse().unwrap());
    let tmp;
    let root = match std::env::var("OXCD_BENCH_DIR") {
        Ok(d) => std::path::PathBuf::from(d),
        Err(_) => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_owned()
        }
    };
    let all = args.is_empty();
    if all || args.iter().any(|a| a == "puts") {
        puts(&root, keys);
    }
    if all || args.iter().any(|a| a == "reads") {
        reads(&root, keys);
    }
    if args.iter().any(|a| a == "defrag") {
        defrag(&root);
    }
}
