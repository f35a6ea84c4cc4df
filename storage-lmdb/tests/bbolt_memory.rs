//! The snapshot writer streams: writing a store many times larger than the heap it may use
//! keeps the heap at a few pages. A counting allocator measures the peak (bytes, not time), so
//! this binary holds this one test only.

use oxcd_core::backend::{Backend, Table, Visit};
use oxcd_core::mvcc::revision::{BucketKey, KvRevision};
use oxcd_storage_lmdb::bbolt::write_bbolt_snapshot;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same layout, as the caller promised.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A Kv table of `records` generated values of `value_bytes` each, produced while scanning:
/// the data exists nowhere in memory.
#[derive(Clone)]
struct Generated {
    records: i64,
    value_bytes: usize,
}

impl Backend for Generated {
    fn get(&self, _table: Table, _key: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, visit: &mut Visit<'_>) {
        if table != Table::Kv {
            return;
        }
        let mut value = vec![0u8; self.value_bytes];
        for rev in 2..self.records + 2 {
            let (key, len) = BucketKey { rev: KvRevision::new(rev, 0), tombstone: false }.encode();
            let key = &key[..len];
            if key < from || to.is_some_and(|to| key >= to) {
                continue;
            }
            value.fill((rev % 251) as u8);
            if visit(key, &value).is_break() {
                return;
            }
        }
    }

    fn view(&self) -> Box<dyn Backend> {
        Box::new(self.clone())
    }
}

struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn writing_a_large_store_keeps_the_heap_small() {
    const DATA_BYTES: usize = 256 << 20;
    const HEAP_BYTES_MAX: usize = 4 << 20;
    for value_bytes in [100, 3000, 20_000] {
        let store = Generated { records: (DATA_BYTES / value_bytes) as i64, value_bytes };
        let mut out = CountingSink(0);
        let before = CURRENT.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let info = write_bbolt_snapshot(&store, &mut out).unwrap();
        let peak = PEAK.load(Ordering::Relaxed) - before;
        assert_eq!(out.0, info.total_bytes);
        assert!(info.db_bytes as usize > DATA_BYTES, "{} bytes written", info.db_bytes);
        assert_eq!(info.status.total_keys, store.records as u64 + 2);
        assert!(
            peak < HEAP_BYTES_MAX,
            "values of {value_bytes} bytes: {peak} bytes of heap for {DATA_BYTES} bytes of data"
        );
        println!("values of {value_bytes} bytes: peak heap {peak} bytes");
    }
}
