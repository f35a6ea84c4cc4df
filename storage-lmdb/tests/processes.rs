//! Tests that need other processes: the exclusive lock, crash recovery under SIGKILL, and a
//! disk that fills up. The binary re-invokes itself with `OXCD_LMDB_CHILD=<role>` to play the
//! child; without it, it runs the tests (harness = false, so no test can be a silent no-op).

use oxcd_core::backend::{Backend, BackendWriter, Table, WriteBatch};
use oxcd_storage_lmdb::{LmdbStorage, OpenError, OpenOptions, WriteError};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CHILD_ENV: &str = "OXCD_LMDB_CHILD";
/// Data keys per crash-test batch (plus the batch counter).
const KEYS_PER_BATCH: u32 = 40;
const CRASH_ITERATIONS: u32 = 20;
/// A crash-test child stops by itself after this many batches.
const CHILD_BATCHES_MAX: u64 = 20_000;

fn options(create: bool) -> OpenOptions {
    OpenOptions { create, map_size_bytes: 256 << 20, ..OpenOptions::default() }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Ok(role) = std::env::var(CHILD_ENV) {
        let dir = Path::new(&args[1]);
        match role.as_str() {
            "open" => child_open(dir),
            "writer" => child_writer(dir),
            "wal_writer" => child_wal_writer(dir),
            "fill" => child_fill(dir),
            other => panic!("unknown child role {other}"),
        }
        return;
    }
    let tests: [(&str, fn()); 4] = [
        ("a_second_process_is_refused", a_second_process_is_refused),
        ("acknowledged_batches_survive_sigkill_and_partial_ones_never_show", || {
            crash_recovery("writer");
        }),
        ("batches_acknowledged_by_the_write_ahead_log_survive_sigkill", || {
            crash_recovery("wal_writer");
        }),
        ("a_full_disk_fails_the_write_and_leaves_the_store_readable", disk_full),
    ];
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    let mut passed = 0;
    for (name, test) in tests {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        test();
        println!("test {name} ... ok");
        passed += 1;
    }
    println!("{passed} passed, 0 failed");
}

fn spawn(role: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .arg(dir)
        .env(CHILD_ENV, role)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn output_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "child failed: {:?}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

// ---- the lock ----

fn child_open(dir: &Path) {
    match LmdbStorage::open(dir, options(false)) {
        Ok(_) => println!("OPENED"),
        Err(OpenError::Locked { .. }) => println!("LOCKED"),
        Err(e) => println!("ERROR {e}"),
    }
}

fn a_second_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = LmdbStorage::open(dir.path(), options(true)).unwrap();
    assert_eq!(output_of(spawn("open", dir.path())).trim(), "LOCKED");
    drop(store);
    assert_eq!(output_of(spawn("open", dir.path())).trim(), "OPENED");
}

// ---- crash recovery ----

fn data_key(batch: u64, j: u32) -> Vec<u8> {
    format!("b{batch:010}-{j:03}").into_bytes()
}

fn data_value(batch: u64, j: u32) -> Vec<u8> {
    let mut v = vec![(batch as u8) ^ (j as u8); 256];
    v[..8].copy_from_slice(&batch.to_be_bytes());
    v
}

/// Batch `n` writes its data keys, deletes key 0 of batch `n - 1`, and sets `next` to `n + 1`.
fn crash_batch(n: u64) -> WriteBatch {
    let mut batch = WriteBatch::default();
    for j in 0..KEYS_PER_BATCH {
        batch.put(Table::Kv, data_key(n, j), data_value(n, j));
    }
    if n > 0 {
        batch.delete(Table::Kv, data_key(n - 1, 0));
    }
    batch.put(Table::Meta, b"next".to_vec(), (n + 1).to_be_bytes().to_vec());
    batch
}

fn next_batch(store: &LmdbStorage) -> u64 {
    store.get(Table::Meta, b"next").map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap()))
}

fn child_writer(dir: &Path) {
    use std::io::Write;
    let mut store = LmdbStorage::open(dir, options(false)).unwrap();
    let first = next_batch(&store);
    let stdout = std::io::stdout();
    for n in first..first + CHILD_BATCHES_MAX {
        store.write(&crash_batch(n)).unwrap();
        let mut out = stdout.lock();
        writeln!(out, "ACK {n}").unwrap();
        out.flush().unwrap();
    }
}

/// Batches logged between two LMDB commits in the write-ahead log child.
const LOGGED_PER_STORE: usize = 16;

/// Like [`child_writer`] through the write-ahead log, as the server writes: a batch is
/// acknowledged once logged; LMDB takes the logged batches every few batches.
fn child_wal_writer(dir: &Path) {
    use std::io::Write;
    let store = LmdbStorage::open(dir, options(false)).unwrap();
    let mut wal = store.open_wal().unwrap();
    let first = next_batch(&store);
    let stdout = std::io::stdout();
    let mut logged = Vec::new();
    for n in first..first + CHILD_BATCHES_MAX {
        let batch = crash_batch(n);
        let seq = wal.append_durable(std::slice::from_ref(&batch)).unwrap();
        logged.push(batch);
        {
            let mut out = stdout.lock();
            writeln!(out, "ACK {n}").unwrap();
            out.flush().unwrap();
        }
        if logged.len() == LOGGED_PER_STORE {
            store.write_logged(&logged, seq).unwrap();
            logged.clear();
        }
    }
}

/// A small deterministic generator seeded from the clock; the seed is printed so a failure
/// can be looked into.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// SIGKILLs a `role` child at random points and checks what the store holds after each.
fn crash_recovery(role: &str) {
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("crash test seed={seed}");
    let mut rng = XorShift(seed);
    let dir = tempfile::tempdir().unwrap();
    drop(LmdbStorage::open(dir.path(), options(true)).unwrap());
    let mut acked_max: Option<u64> = None;
    for iteration in 0..CRASH_ITERATIONS {
        let mut child = spawn(role, dir.path());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Kill after a random number of acknowledgements, plus a random sub-millisecond delay
        // so the kill lands at varied points inside the next commit.
        let acks_before_kill = 1 + rng.next() % 300;
        let mut seen = 0;
        while seen < acks_before_kill {
            let Some(line) = lines.next() else { break };
            let n: u64 = line.unwrap().strip_prefix("ACK ").unwrap().parse().unwrap();
            acked_max = Some(acked_max.map_or(n, |m| m.max(n)));
            seen += 1;
        }
        std::thread::sleep(Duration::from_micros(rng.next() % 2000));
        child.kill().unwrap();
        // Acknowledgements already in the pipe count too: they were printed after a commit.
        for line in lines {
            let n: u64 = line.unwrap().strip_prefix("ACK ").unwrap().parse().unwrap();
            acked_max = Some(acked_max.map_or(n, |m| m.max(n)));
        }
        child.wait().unwrap();

        let store = LmdbStorage::open(dir.path(), options(false)).unwrap();
        let next = next_batch(&store);
        if let Some(acked) = acked_max {
            assert!(
                acked < next,
                "iteration {iteration}: batch {acked} was acknowledged, next={next}"
            );
        }
        // Every batch below `next` is whole; nothing of a batch at or above it is visible.
        let mut records = 0u64;
        store.scan(Table::Kv, b"", None, &mut |key, value| {
            let text = std::str::from_utf8(key).unwrap();
            let batch: u64 = text[1..11].parse().unwrap();
            let j: u32 = text[12..].parse().unwrap();
            assert!(
                batch < next,
                "iteration {iteration}: partial batch {batch} visible (next={next})"
            );
            assert_eq!(value, data_value(batch, j).as_slice());
            records += 1;
            std::ops::ControlFlow::Continue(())
        });
        // Batches 0..next each leave KEYS_PER_BATCH - 1 keys, the last one all of them.
        let expected = if next == 0 { 0 } else { next * u64::from(KEYS_PER_BATCH - 1) + 1 };
        assert_eq!(records, expected, "iteration {iteration}: next={next}");
        if next > 0 {
            assert!(store.get(Table::Kv, &data_key(next - 1, 0)).is_some());
        }
    }
    assert!(acked_max.is_some(), "the children acknowledged nothing");
}

// ---- disk full ----

/// File size limit of the `ulimit` child, in 512-byte blocks (4 MiB).
const FILL_LIMIT_BLOCKS: u32 = 8192;
/// Size of the tmpfs the namespaced child fills.
const TMPFS_SIZE: &str = "4m";

fn fill_batch(n: u64) -> WriteBatch {
    let mut batch = WriteBatch::default();
    for j in 0..4u64 {
        batch.put(Table::Kv, format!("fill{n:06}-{j}").into_bytes(), vec![n as u8; 16 << 10]);
    }
    batch
}

fn check_filled(store: &LmdbStorage, acked: u64) {
    assert_eq!(store.get(Table::Meta, b"seed"), Some(b"before".to_vec()));
    for m in 0..acked {
        let first = store.get(Table::Kv, format!("fill{m:06}-0").as_bytes());
        let last = store.get(Table::Kv, format!("fill{m:06}-3").as_bytes());
        assert_eq!(first.map(|v| v[0]), Some(m as u8), "batch {m}");
        assert_eq!(last.map(|v| v[0]), Some(m as u8), "batch {m}");
    }
    for j in 0..4 {
        assert_eq!(store.get(Table::Kv, format!("fill{acked:06}-{j}").as_bytes()), None);
    }
}

/// Creates a store in `dir`, writes until the disk is full, checks the error and that every
/// acknowledged batch reads back (before and after a reopen).
fn child_fill(dir: &Path) {
    let mut store = LmdbStorage::open(dir, options(true)).unwrap();
    let mut seed = WriteBatch::default();
    seed.put(Table::Meta, b"seed".to_vec(), b"before".to_vec());
    store.write(&seed).unwrap();
    let mut acked = 0;
    let error = loop {
        assert!(acked < 10_000, "the disk never filled");
        match store.write(&fill_batch(acked)) {
            Ok(()) => acked += 1,
            Err(e) => break e,
        }
    };
    match &error {
        WriteError::NoSpace { .. } => println!("NOSPACE {error}"),
        other => println!("OTHER {other}"),
    }
    check_filled(&store, acked);
    // A second failing write changes nothing either.
    assert!(store.write(&fill_batch(acked)).is_err());
    check_filled(&store, acked);
    drop(store);
    let store = LmdbStorage::open(dir, options(false)).unwrap();
    check_filled(&store, acked);
    println!("PASS {acked}");
}

fn run_fill(shell: &str, wrapper: Option<&str>, dir: &Path) -> u64 {
    let exe = std::env::current_exe().unwrap();
    let mut command = match wrapper {
        Some(w) => {
            let mut c = Command::new(w);
            c.args(["--user", "--map-root-user", "--mount", "sh"]);
            c
        }
        None => Command::new("sh"),
    };
    let child = command
        .arg("-c")
        .arg(shell)
        .arg(exe)
        .arg(dir)
        .env(CHILD_ENV, "fill")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let text = output_of(child);
    assert!(text.contains("NOSPACE"), "{text}");
    text.lines().find_map(|l| l.strip_prefix("PASS ")).expect("child passed").parse().unwrap()
}

fn disk_full() {
    // 1. A real ENOSPC: a 4 MiB tmpfs mounted in a private user+mount namespace (no root
    //    needed where unprivileged user namespaces are allowed).
    let probe =
        Command::new("unshare").args(["--user", "--map-root-user", "--mount", "true"]).status();
    if probe.is_ok_and(|s| s.success()) {
        let dir = tempfile::tempdir().unwrap();
        let shell =
            format!("mount -t tmpfs -o size={TMPFS_SIZE} none \"$1\" && exec \"$0\" \"$1\"");
        let acked = run_fill(&shell, Some("unshare"), dir.path());
        assert!(acked > 0);
    } else {
        println!("note: user namespaces unavailable, only the file size limit variant runs");
    }
    // 2. The file size limit: `ulimit -f` caps file sizes for the child; an ignored SIGXFSZ
    //    stays ignored across exec, so writes past the cap fail instead of killing it.
    let dir = tempfile::tempdir().unwrap();
    let shell = format!("ulimit -f {FILL_LIMIT_BLOCKS}; trap '' XFSZ; exec \"$0\" \"$1\"");
    let acked = run_fill(&shell, None, dir.path());
    assert!(acked > 0);
    // Without the limit the store takes writes again and keeps everything acknowledged.
    let mut store = LmdbStorage::open(dir.path(), options(false)).unwrap();
    check_filled(&store, acked);
    store.write(&fill_batch(acked)).unwrap();
    assert!(store.get(Table::Kv, format!("fill{acked:06}-0").as_bytes()).is_some());
}
