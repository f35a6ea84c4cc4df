//! Whole-member throughput on one core: real `Node`s (Raft plus the etcd state machine) in one
//! process, messages delivered in-process, every `Persist` written into the member's
//! `MemBackend` and confirmed at once. Clients issue many `handle_client_request` calls before
//! the cluster is drained, as a runtime batches the requests ready on its sockets.
//!
//! Variants (run all, or name one):
//! - `put3-100`, `put3-256`: a 3-member cluster, Puts of new keys with 100- / 256-byte values;
//! - `hot3-256`: the same, overwriting 10,000 keys;
//! - `put1-256`: a single member;
//! - `range3`: linearizable single-key Ranges on a 3-member cluster holding 100,000 keys.
//!
//! Rates are per CPU second of this thread (the machine is shared; wall time alongside) and
//! count only the cluster's work: each batch of requests is built before its clock starts, and
//! allocations are counted by a global allocator over the same timed sections.
//!
//! `cargo bench -p oxcd-core --bench node_throughput [-- VARIANT [REQUESTS [BATCH]]]`
// A benchmark measures time; the core it drives never reads a clock.
#![allow(clippy::disallowed_methods)]

use oxcd_core::backend::MemBackend;
use oxcd_core::membership::Member;
use oxcd_core::node::{
    InitialCluster, Node, NodeConfig, Output, PeerMessage, Request, RequestId, RequestMeta,
};
use oxcd_core::time::Instant as CoreInstant;
use oxcd_core::NodeId;
use oxcd_proto::etcdserverpb::{PutRequest, RangeRequest};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// CPU time this thread has run, so figures do not depend on how busy the shared machine is.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Drain rounds allowed per settle before the cluster is declared stuck.
const MAX_ROUNDS: usize = 10_000;

struct Cluster {
    nodes: Vec<Node>,
    disks: Vec<MemBackend>,
    net: VecDeque<(NodeId, NodeId, PeerMessage)>,
    now: CoreInstant,
    ok: u64,
    next_request: u64,
    /// CPU time spent writing persists into the in-memory disks (the runtime's share).
    disk_cpu: Duration,
}

impl Cluster {
    fn new(n: u64) -> Cluster {
        let now = CoreInstant::from_nanos(1_000_000_000);
        let founders: Vec<Member> = (1..=n)
            .map(|id| Member {
                id: NodeId(id),
                name: format!("m{id}"),
                peer_urls: vec![format!("http://127.0.0.{id}:2380")],
                client_urls: vec![format!("http://127.0.0.{id}:2379")],
                is_learner: false,
            })
            .collect();
        let mut nodes = Vec::new();
        let mut disks = Vec::new();
        for id in 1..=n {
            let mut cfg = NodeConfig::new(NodeId(id), 0xbe7c, &format!("m{id}"));
            cfg.peer_urls = vec![format!("http://127.0.0.{id}:2380")];
            cfg.client_urls = vec![format!("http://127.0.0.{id}:2379")];
            // The Raft bench compacts every 50,000 entries; the Node keeps 5,000 more.
            cfg.snapshot_count = 45_000;
            let disk = MemBackend::new();
            let node =
                Node::new(cfg, Box::new(disk.clone()), InitialCluster::New(founders.clone()), now)
                    .expect("valid member");
            nodes.push(node);
            disks.push(disk);
        }
        let mut c = Cluster {
            nodes,
            disks,
            net: VecDeque::new(),
            now,
            ok: 0,
            next_request: 0,
            disk_cpu: Duration::ZERO,
        };
        c.settle();
        c.nodes[0].campaign(now);
        c.settle();
        assert!(c.nodes[0].is_leader(), "member 1 leads");
        c
    }

    /// Drains every member and delivers every message until nothing moves.
    fn settle(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let mut busy = false;
            for i in 0..self.nodes.len() {
                let from = NodeId(i as u64 + 1);
                let node = &mut self.nodes[i];
                while let Some(out) = node.poll_output() {
                    busy = true;
                    match out {
                        Output::Send { to, message } => self.net.push_back((from, to, message)),
                        Output::Persist { id, batch, then_send, .. } => {
                            let t = cpu_time();
                            self.disks[i].apply(&batch);
                            self.disk_cpu += cpu_time() - t;
                            node.handle_persisted(self.now, id);
                            for (to, message) in then_send {
                                self.net.push_back((from, to, message));
                            }
                        }
                        Output::Reply { id, result } => match result {
                            Ok(_) => self.ok += 1,
                            Err(e) => panic!("request {} failed: {e}", id.0),
                        },
                        Output::Watch { .. }
                        | Output::VerifyPassword(_)
                        | Output::MembersChanged { .. }
                        | Output::Removed => {}
                    }
                }
            }
            while let Some((from, to, message)) = self.net.pop_front() {
                busy = true;
                let now = self.now;
                self.nodes[(to.0 - 1) as usize].handle_peer_message(now, from, message);
            }
            if !busy {
                return;
            }
        }
        panic!("the cluster did not settle");
    }

    /// Feeds `requests` to the leader, then drains the cluster.
    fn submit(&mut self, requests: Vec<Request>) {
        let now = self.now;
        for request in requests {
            self.next_request += 1;
            let id = RequestId(self.next_request);
            self.nodes[0].handle_client_request(now, id, RequestMeta::default(), request);
        }
        self.settle();
    }

    fn check_converged(&self) {
        let applied = self.nodes[0].applied_index();
        let rev = self.nodes[0].revision();
        for n in &self.nodes {
            assert_eq!(n.applied_index(), applied, "every member applied everything");
            assert_eq!(n.revision(), rev, "every member is at the same revision");
        }
    }
}

/// What one timed run measured.
struct Measured {
    done: u64,
    cpu: Duration,
    wall: Duration,
    allocs: u64,
    bytes: u64,
    disk_cpu: Duration,
}

impl Measured {
    fn print(&self, what: &str) {
        let n = self.done as f64;
        println!(
            "  {:>9.0} {what} per CPU second ({:.0} per wall second; {} in {:.3} CPU s)",
            n / self.cpu.as_secs_f64(),
            n / self.wall.as_secs_f64(),
            self.done,
            self.cpu.as_secs_f64()
        );
        println!(
            "  of which writing persists into the in-memory disks: {:.0}% of the CPU time",
            100.0 * self.disk_cpu.as_secs_f64() / self.cpu.as_secs_f64()
        );
        println!(
            "  allocations: {:.2} per request ({:.0} bytes per request)",
            self.allocs as f64 / n,
            self.bytes as f64 / n
        );
    }
}

/// Runs `count` requests in batches of `batch`, each built by `make(i)` before the clock starts.
fn run(c: &mut Cluster, count: u64, batch: u64, make: &mut dyn FnMut(u64) -> Request) -> Measured {
    let mut m = Measured {
        done: 0,
        cpu: Duration::ZERO,
        wall: Duration::ZERO,
        allocs: 0,
        bytes: 0,
        disk_cpu: Duration::ZERO,
    };
    let mut i = 0;
    while i < count {
        let n = batch.min(count - i);
        let requests: Vec<Request> = (i..i + n).map(&mut *make).collect();
        i += n;
        let ok_before = c.ok;
        let (a0, b0) = (ALLOCS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
        let (cpu0, wall0, disk0) = (cpu_time(), Instant::now(), c.disk_cpu);
        c.submit(requests);
        m.disk_cpu += c.disk_cpu - disk0;
        m.cpu += cpu_time() - cpu0;
        m.wall += wall0.elapsed();
        m.allocs += ALLOCS.load(Ordering::Relaxed) - a0;
        m.bytes += BYTES.load(Ordering::Relaxed) - b0;
        assert_eq!(c.ok - ok_before, n, "every request of the batch was answered");
        m.done += n;
    }
    c.check_converged();
    m
}

fn put(key: String, value_bytes: usize) -> Request {
    Request::Put(PutRequest {
        key: key.into_bytes(),
        value: vec![b'v'; value_bytes],
        ..Default::default()
    })
}

/// Puts on an `members`-member cluster; `key_space` 0: every key new.
fn puts(members: u64, value_bytes: usize, key_space: u64, count: u64, batch: u64) {
    let mut c = Cluster::new(members);
    let key = |i: u64| {
        if key_space == 0 {
            format!("key-{:010}", i.wrapping_mul(0x9e37_79b9) % 10_000_000_000)
        } else {
            format!("hot-{:06}", i.wrapping_mul(7919) % key_space)
        }
    };
    // Warm up: buffers reach their steady size, the log is compacted once.
    let warm = count / 5;
    run(&mut c, warm, batch, &mut |i| put(key(i), value_bytes));
    let m = run(&mut c, count, batch, &mut |i| put(key(warm + i), value_bytes));
    let keys = if key_space == 0 { "new keys".to_string() } else { format!("{key_space} keys") };
    println!(
        "node_throughput: {members} member(s), Puts of {value_bytes}-byte values to {keys}, batch {batch}"
    );
    m.print("committed+applied Puts");
}

/// Linearizable single-key Ranges on a 3-member cluster holding `keys` keys.
fn ranges(keys: u64, count: u64, batch: u64) {
    let mut c = Cluster::new(3);
    let key = |i: u64| format!("key-{:08}", i.wrapping_mul(7919) % keys);
    run(&mut c, keys, 1000, &mut |i| put(format!("key-{i:08}"), 256));
    let mut range =
        |i: u64| Request::Range(RangeRequest { key: key(i).into_bytes(), ..Default::default() });
    run(&mut c, count / 5, batch, &mut range);
    let m = run(&mut c, count, batch, &mut range);
    println!(
        "node_throughput: 3 members, linearizable Ranges of one 256-byte key among {keys}, batch {batch}"
    );
    m.print("Ranges");
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let only = args.next().unwrap_or_else(|| "all".into());
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(300_000);
    let batch: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let want = |name: &str| only == "all" || only == name;
    if want("put3-100") {
        puts(3, 100, 0, count, batch);
    }
    if want("put3-256") {
        puts(3, 256, 0, count, batch);
    }
    if want("hot3-256") {
        puts(3, 256, 10_000, count, batch);
    }
    if want("put1-256") {
        puts(1, 256, 0, count, batch);
    }
    if want("range3") {
        ranges(100_000, count, batch);
    }
}
