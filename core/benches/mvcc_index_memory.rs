//! Heap bytes the key index uses per key, measured with a counting allocator: keys with one
//! revision, keys with two (one update), and keys after a compaction back to one.

use oxcd_core::mvcc::{KeyIndexTree, KvRevision};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 1_000_000;

fn main() {
    for (label, order) in [("sequential keys", false), ("random-order keys", true)] {
        let keys: Vec<Vec<u8>> = (0..N)
            .map(|i| {
                let j = if order { (i.wrapping_mul(2_654_435_761)) % N } else { i };
                format!("/registry/pods/ns-{:03}/pod-{j:08}", j % 1000).into_bytes()
            })
            .collect();
        let key_bytes: usize = keys.iter().map(Vec::len).sum();
        let before = ALLOCATED.load(Ordering::Relaxed);
        let mut index = KeyIndexTree::new();
        for (i, k) in keys.iter().enumerate() {
            index.put(k, KvRevision::new(i as i64 + 2, 0));
        }
        let one = ALLOCATED.load(Ordering::Relaxed) - before;
        report(label, "1 revision", one, key_bytes);
        for (i, k) in keys.iter().enumerate() {
            index.put(k, KvRevision::new((N + i) as i64 + 2, 0));
        }
        let two = ALLOCATED.load(Ordering::Relaxed) - before;
        report(label, "2 revisions", two, key_bytes);
        let mut removed = Vec::new();
        let mut cursor: Option<Box<[u8]>> = None;
        for _ in 0..100_000 {
            removed.clear();
            cursor = index.compact_step(cursor.as_deref(), 2 * N as i64 + 2, 10_000, &mut removed);
            if cursor.is_none() {
                break;
            }
        }
        drop(removed);
        let compacted = ALLOCATED.load(Ordering::Relaxed) - before;
        report(label, "compacted to 1", compacted, key_bytes);
        assert_eq!(index.len(), N);
        drop(index);
    }
}

fn report(label: &str, what: &str, bytes: isize, key_bytes: usize) {
    let per_key = bytes as f64 / N as f64;
    let overhead = (bytes as f64 - key_bytes as f64) / N as f64;
    println!(
        "mvcc_index_memory: {label}, {what}: {per_key:.1} bytes/key = key length ({:.1}) + {overhead:.1}",
        key_bytes as f64 / N as f64
    );
}
