//! Raft throughput on one core: a three-member cluster in one process, messages delivered
//! in-process, every persist confirmed at once, the log compacted every 50,000 applied entries,
//! batches of 100-byte proposals. Reports entries
//! committed per second and heap allocations per entry (a counting global allocator).
//!
//! `cargo bench -p oxcd-core --bench raft_throughput [-- ENTRIES BATCH]`

use oxcd_core::raft::{ConfChange, EntryKind, Message, Payload, Raft, RaftConfig, RaftOutput};
use oxcd_core::{LogIndex, NodeId};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Cluster {
    nodes: Vec<Raft>,
    wire: VecDeque<Message>,
}

impl Cluster {
    fn idx(id: NodeId) -> usize {
        (id.0 - 1) as usize
    }

    /// Drains node `i`, carrying out every output at once (persist = confirmed immediately).
    fn drain(&mut self, i: usize) {
        let raft = &mut self.nodes[i];
        while let Some(output) = raft.poll_output() {
            match output {
                RaftOutput::Send(m) => self.wire.push_back(m),
                RaftOutput::Persist(req) => {
                    raft.handle_persisted(req.seq);
                    self.wire.extend(req.then_send);
                }
                RaftOutput::Apply(entries) => {
                    let mut last = LogIndex::ZERO;
                    for e in &entries {
                        if e.kind == EntryKind::ConfChange {
                            let cc = ConfChange::decode(&e.data).expect("valid change");
                            let _ = raft.apply_conf_change(&cc);
                        }
                        last = e.index;
                    }
                    raft.advance_applied(last);
                }
                _ => {}
            }
        }
    }

    fn deliver_all(&mut self) {
        while let Some(m) = self.wire.pop_front() {
            let i = Self::idx(m.to);
            let _ = self.nodes[i].step(m);
            self.drain(i);
        }
    }
}

// A benchmark measures wall-clock time; the core itself never reads a clock.
#[allow(clippy::disallowed_methods)]
fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let entries: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3_000_000);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);

    let founders: Vec<ConfChange> =
        (1..=3).map(|i| ConfChange::add_voter(NodeId(i), Vec::new())).collect();
    let nodes = (1..=3)
        .map(|i| {
            let mut cfg = RaftConfig::new(NodeId(i));
            cfg.max_proposal_bytes = 64 << 20;
            cfg.max_uncommitted_bytes = 256 << 20;
            cfg.max_append_bytes = 4 << 20;
            cfg.max_apply_bytes = 64 << 20;
            Raft::bootstrap(cfg, &founders).expect("valid config")
        })
        .collect();
    let mut c = Cluster { nodes, wire: VecDeque::new() };
    for i in 0..3 {
        c.drain(i);
    }
    assert!(c.nodes[0].campaign());
    c.drain(0);
    c.deliver_all();
    assert!(c.nodes[0].is_leader(), "node 1 leads");

    let run = |c: &mut Cluster, n: u64| {
        let target = LogIndex(c.nodes[0].commit_index().0 + n);
        while c.nodes[0].commit_index() < target {
            let data: Vec<Payload> = (0..batch).map(|_| Payload::from(&[0x5a; 100][..])).collect();
            c.nodes[0].propose_batch(data).expect("leader accepts");
            c.drain(0);
            c.deliver_all();
            // Steady state: the Node compacts once its state machine is durable.
            for i in 0..3 {
                let applied = c.nodes[i].applied();
                if applied.0 >= c.nodes[i].first_index().0 + 50_000 {
                    c.nodes[i].compact(applied).expect("applied entries compact");
                    c.drain(i);
                }
            }
        }
    };
    // Warm up (buffers reach their steady size).
    run(&mut c, entries / 10);

    let (a0, b0) = (ALLOCS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    let start = Instant::now();
    let before = c.nodes[0].commit_index();
    run(&mut c, entries);
    let elapsed = start.elapsed();
    let committed = c.nodes[0].commit_index().0 - before.0;
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    let bytes = BYTES.load(Ordering::Relaxed) - b0;
    let per_sec = committed as f64 / elapsed.as_secs_f64();
    println!(
        "raft_throughput: 3 members, batch {batch}, 100-byte entries, persist confirmed at once"
    );
    println!(
        "  committed {committed} entries in {:.3} s: {:.0} entries/s",
        elapsed.as_secs_f64(),
        per_sec
    );
    println!(
        "  allocations: {:.2} per entry ({:.0} bytes per entry), including the bench's own 100-byte proposal buffers",
        allocs as f64 / committed as f64,
        bytes as f64 / committed as f64
    );
}
