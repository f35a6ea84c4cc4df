//! bbolt snapshots against the real etcd 3.4 (`/usr/bin/etcd`, `/usr/bin/etcdctl`): etcdctl's
//! status and restore accept oxcd's snapshot and etcd serves the restored data; a snapshot that
//! etcd saved restores into oxcd tables that oxcd's own loaders read. Each etcd runs on
//! 127.0.0.1 with ports of its own and is killed when its test ends.

mod bbolt_fixture;

use bbolt_fixture::{
    big_value, fixture, ALICE_PASSWORD, BULK_KEYS, COMPACTED_AT, LEASE_ID, ROOT_PASSWORD,
};
use oxcd_core::auth::base64;
use oxcd_core::backend::{Backend, Overlay, Table};
use oxcd_core::lease::LessorConfig;
use oxcd_core::membership::Membership;
use oxcd_core::mvcc::kv::{KvConfig, KvStore};
use oxcd_core::mvcc::storage::StorageRef;
use oxcd_core::watch::WatchConfig;
use oxcd_core::LeaseId;
use oxcd_proto::etcdserverpb::RangeRequest;
use oxcd_storage_lmdb::bbolt::{
    bbolt_status, read_bbolt, restore_from_etcd_snapshot, write_bbolt_snapshot, EtcdRestoreOptions,
};
use oxcd_storage_lmdb::OpenOptions;
use serde_json::Value;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const ETCD: &str = "/usr/bin/etcd";
const ETCDCTL: &str = "/usr/bin/etcdctl";
/// Readiness probes before giving up on an etcd (100 ms apart).
const READY_PROBES_MAX: usize = 300;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn etcdctl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(ETCDCTL);
    cmd.args(["--dial-timeout=3s", "--command-timeout=10s"])
        .args(args)
        .env("ETCDCTL_API", "3")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{ETCDCTL} must be installed: {e}"));
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "etcdctl failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn b64(v: &Value) -> Vec<u8> {
    base64::decode(v.as_str().unwrap()).unwrap()
}

/// One etcd 3.4 member, killed when dropped.
struct Etcd {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Etcd {
    /// Starts `etcd` on `data_dir`; `peer_port` must match what a restore was given.
    fn start(data_dir: &Path, peer_port: u16, user: Option<&str>) -> Etcd {
        let client = format!("http://127.0.0.1:{}", free_port());
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = data_dir.with_extension("log");
        let child = Command::new(ETCD)
            .args(["--name", "n1", "--data-dir"])
            .arg(data_dir)
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("n1={peer}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{ETCD} must be installed: {e}"));
        let mut etcd = Etcd { child, url: client, log };
        for _ in 0..READY_PROBES_MAX {
            if let Some(status) = etcd.child.try_wait().unwrap() {
                panic!("etcd exited ({status}): {}", std::fs::read_to_string(&etcd.log).unwrap());
            }
            let mut args = vec!["--endpoints", &etcd.url, "endpoint", "health"];
            if let Some(user) = user {
                args.extend(["--user", user]);
            }
            if etcdctl(&args, None).status.success() {
                return etcd;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("etcd did not become healthy: {}", std::fs::read_to_string(&etcd.log).unwrap());
    }

    fn ctl(&self, user: Option<&str>, args: &[&str]) -> Output {
        let mut all = vec!["--endpoints", &self.url];
        if let Some(user) = user {
            all.extend(["--user", user]);
        }
        all.extend_from_slice(args);
        etcdctl(&all, None)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn etcdctl_status_restore_and_etcd_serve_an_oxcd_snapshot() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("oxcd.db");
    let info =
        write_bbolt_snapshot(&f.backend, &mut std::fs::File::create(&snap).unwrap()).unwrap();

    let status =
        json(&ok(etcdctl(&["snapshot", "status", snap.to_str().unwrap(), "-w", "json"], None)));
    assert_eq!(status["hash"].as_u64(), Some(u64::from(f.expected_hash())), "{status}");
    assert_eq!(status["revision"].as_i64(), Some(f.revision));
    assert_eq!(status["totalKey"].as_u64(), Some(f.expected_keys()));
    assert_eq!(status["totalSize"].as_u64(), Some(info.db_bytes));

    let peer_port = free_port();
    let data_dir = dir.path().join("etcd-data");
    let peer = format!("http://127.0.0.1:{peer_port}");
    ok(etcdctl(
        &[
            "snapshot",
            "restore",
            snap.to_str().unwrap(),
            "--name",
            "n1",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--initial-cluster",
            &format!("n1={peer}"),
            "--initial-advertise-peer-urls",
            &peer,
        ],
        None,
    ));
    let root = format!("root:{ROOT_PASSWORD}");
    let root = Some(root.as_str());
    let etcd = Etcd::start(&data_dir, peer_port, root);

    let foo = json(&ok(etcd.ctl(root, &["get", "foo", "-w", "json"])));
    let kv = &foo["kvs"][0];
    assert_eq!(b64(&kv["value"]), b"baz");
    assert_eq!((kv["create_revision"].as_i64(), kv["mod_revision"].as_i64()), (Some(2), Some(3)));
    assert_eq!(kv["version"].as_i64(), Some(2));
    assert_eq!(foo["header"]["revision"].as_i64(), Some(f.revision));
    assert_eq!(json(&ok(etcd.ctl(root, &["get", "k2", "-w", "json"])))["count"].as_i64(), None);
    let big = ok(etcd.ctl(root, &["get", "big", "--print-value-only"]));
    assert_eq!(big.trim_end().as_bytes(), big_value().as_slice());
    let bulk =
        json(&ok(etcd.ctl(root, &["get", "bulk/", "--prefix", "--keys-only", "-w", "json"])));
    assert_eq!(bulk["count"].as_i64(), Some(BULK_KEYS));
    let compacted = etcd.ctl(root, &["get", "foo", &format!("--rev={}", COMPACTED_AT - 1)]);
    assert!(
        String::from_utf8_lossy(&compacted.stderr).contains("required revision has been compacted")
    );

    let leased = json(&ok(etcd.ctl(root, &["get", "leased", "-w", "json"])));
    assert_eq!(leased["kvs"][0]["lease"].as_i64(), Some(LEASE_ID));
    let ttl = json(&ok(
        etcd.ctl(root, &["lease", "timetolive", &format!("{LEASE_ID:x}"), "--keys", "-w", "json"])
    ));
    assert!(ttl["ttl"].as_i64().unwrap() > 0, "{ttl}");
    assert_eq!(ttl["granted-ttl"].as_i64(), Some(600));
    assert_eq!(b64(&ttl["keys"][0]), b"leased");

    assert_eq!(ok(etcd.ctl(root, &["user", "list"])), "alice\nroot\n");
    assert!(ok(etcd.ctl(root, &["role", "get", "r1"])).contains("[/a, /b)"));
    let alice = format!("alice:{ALICE_PASSWORD}");
    let alice = Some(alice.as_str());
    assert_eq!(ok(etcd.ctl(alice, &["get", "/a1", "--print-value-only"])), "in-range\n");
    let denied = etcd.ctl(alice, &["get", "/z"]);
    assert!(String::from_utf8_lossy(&denied.stderr).contains("permission denied"));
    let wrong = etcd.ctl(Some("alice:nope"), &["get", "/a1"]);
    assert!(!wrong.status.success());

    // The restored member goes on from the snapshot's revision.
    ok(etcd.ctl(root, &["put", "after", "1"]));
    let after = json(&ok(etcd.ctl(root, &["get", "after", "-w", "json"])));
    assert_eq!(after["kvs"][0]["mod_revision"].as_i64(), Some(f.revision + 1));
}

fn table(b: &dyn Backend, table: Table) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    b.scan(table, b"", None, &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        ControlFlow::Continue(())
    });
    out
}

#[test]
fn an_etcd_snapshot_restores_into_oxcd_tables() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("etcd-data");
    let etcd = Etcd::start(&data_dir, free_port(), None);
    let none = None;
    ok(etcd.ctl(none, &["put", "foo", "bar"]));
    ok(etcd.ctl(none, &["put", "foo", "baz"]));
    ok(etcd.ctl(none, &["put", "gone", "x"]));
    ok(etcd.ctl(none, &["del", "gone"]));
    let grant = ok(etcd.ctl(none, &["lease", "grant", "600"]));
    let lease_hex = grant.split_whitespace().nth(1).unwrap().to_owned();
    let lease = i64::from_str_radix(&lease_hex, 16).unwrap();
    ok(etcd.ctl(none, &["put", "leased", "v", &format!("--lease={lease_hex}")]));
    let big = big_value();
    ok(etcd.ctl(none, &["put", "big", std::str::from_utf8(&big).unwrap()]));
    let txn = |ops: &mut dyn Iterator<Item = String>| {
        let script: String =
            std::iter::once("\n".to_owned()).chain(ops).chain(["\n\n".to_owned()]).collect();
        let out = etcdctl(&["--endpoints", &etcd.url, "txn"], Some(&script));
        assert!(ok(out).starts_with("SUCCESS"));
    };
    // Three transactions of 100 puts: trees with branch pages, sub-revisions 0..99.
    for t in 0..3 {
        txn(&mut (0..100).map(|i| format!("put bulk/{t}/{i:03} {}\n", "v".repeat(200))));
    }
    // Churn: puts and deletes all over a key space, so bbolt splits, merges and frees pages
    // and compaction removes old revisions from the middle of the tree.
    let mut seed = 7u64;
    let mut pick = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    for t in 0..25 {
        let mut keys = std::collections::BTreeSet::new();
        while keys.len() < 100 {
            keys.insert(pick(1000));
        }
        let size = 1 + pick(500) as usize;
        if t % 5 == 4 {
            txn(&mut keys.into_iter().map(|k| format!("del churn/{k:04}\n")));
        } else {
            txn(&mut keys.into_iter().map(|k| format!("put churn/{k:04} {}\n", "c".repeat(size))));
        }
    }
    let endpoint = json(&ok(etcd.ctl(none, &["endpoint", "status", "-w", "json"])));
    let compacted = endpoint[0]["Status"]["header"]["revision"].as_i64().unwrap() - 5;
    ok(etcd.ctl(none, &["compact", &compacted.to_string()]));
    let churn =
        json(&ok(etcd.ctl(none, &["get", "churn/", "--prefix", "--keys-only", "-w", "json"])));
    let churn_keys = churn["count"].as_i64().unwrap();
    for args in [
        &["user", "add", "root", &format!("--new-user-password={ROOT_PASSWORD}")][..],
        &["role", "add", "root"],
        &["user", "grant-role", "root", "root"],
        &["role", "add", "r1"],
        &["role", "grant-permission", "r1", "readwrite", "/a", "/b"],
        &["user", "add", "alice", &format!("--new-user-password={ALICE_PASSWORD}")],
        &["user", "grant-role", "alice", "r1"],
        &["auth", "enable"],
    ] {
        ok(etcd.ctl(none, args));
    }
    let root = format!("root:{ROOT_PASSWORD}");
    let snap = dir.path().join("etcd.db");
    ok(etcd.ctl(Some(&root), &["snapshot", "save", snap.to_str().unwrap()]));
    let endpoint = json(&ok(etcd.ctl(Some(&root), &["endpoint", "status", "-w", "json"])));
    let revision = endpoint[0]["Status"]["header"]["revision"].as_i64().unwrap();
    drop(etcd);

    // Our reader sees what etcdctl sees.
    let status =
        json(&ok(etcdctl(&["snapshot", "status", snap.to_str().unwrap(), "-w", "json"], None)));
    let ours = bbolt_status(&snap).unwrap();
    assert_eq!(Some(u64::from(ours.hash)), status["hash"].as_u64());
    assert_eq!(Some(ours.revision), status["revision"].as_i64());
    assert_eq!(Some(ours.total_keys), status["totalKey"].as_u64());
    assert_eq!(Some(ours.total_size), status["totalSize"].as_u64());
    assert_eq!(ours.revision, revision);
    let etcd_keys: Vec<_> = read_bbolt(&snap)
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.bucket == b"key")
        .map(|e| (e.key, e.value))
        .collect();

    let oxcd_dir = dir.path().join("oxcd-data");
    let options = OpenOptions { map_size_bytes: 64 << 20, ..OpenOptions::default() };
    let (storage, info) = restore_from_etcd_snapshot(
        &snap,
        &oxcd_dir,
        options.clone(),
        EtcdRestoreOptions::default(),
    )
    .unwrap();
    assert_eq!(table(&storage, Table::Kv), etcd_keys);
    assert_eq!(info.revision, revision);
    assert_eq!(info.cluster_version.as_deref(), Some("3.4.0"));
    assert!(info.consistent_index.unwrap() > 0);

    // oxcd's own loaders read the restored tables.
    let overlay = Overlay::new();
    let reads = StorageRef::new(&storage, &overlay);
    let config = KvConfig {
        lessor: LessorConfig::for_election_timeout(Duration::from_secs(1)),
        watch: WatchConfig::default(),
    };
    let kv = KvStore::open(config, reads);
    assert_eq!(kv.current_revision().get(), revision);
    assert_eq!(kv.compact_revision(), compacted);
    let get = |key: &[u8]| {
        let req = RangeRequest { key: key.to_vec(), ..RangeRequest::default() };
        kv.range(reads, &req).unwrap().kvs
    };
    assert_eq!(get(b"foo")[0].value, b"baz");
    assert!(get(b"gone").is_empty());
    assert_eq!(get(b"big")[0].value, big);
    assert_eq!(get(b"leased")[0].lease, lease);
    let bulk = RangeRequest {
        key: b"bulk/".to_vec(),
        range_end: b"bulk0".to_vec(),
        count_only: true,
        ..RangeRequest::default()
    };
    assert_eq!(kv.range(reads, &bulk).unwrap().count, 300);
    let churn = RangeRequest {
        key: b"churn/".to_vec(),
        range_end: b"churn0".to_vec(),
        count_only: true,
        ..RangeRequest::default()
    };
    assert_eq!(kv.range(reads, &churn).unwrap().count, churn_keys);
    let keys: Vec<_> = kv.lessor().keys(LeaseId(lease)).unwrap().map(<[u8]>::to_vec).collect();
    assert_eq!(keys, vec![b"leased".to_vec()]);

    let auth = oxcd_core::auth::codec::load(&storage, &overlay).unwrap();
    assert!(auth.enabled);
    assert_eq!(auth.users.keys().collect::<Vec<_>>(), ["alice", "root"]);
    assert_eq!(auth.users["alice"].roles, ["r1"]);
    assert!(bcrypt::verify(
        ALICE_PASSWORD,
        std::str::from_utf8(&auth.users["alice"].password).unwrap()
    )
    .unwrap());
    assert_eq!(auth.roles["r1"].key_permission[0].key, b"/a");
    let members = Membership::load(&storage).unwrap();
    let member = members.members().next().unwrap();
    assert_eq!((members.len(), member.name.as_str()), (1, "n1"));
    assert!(member.client_urls[0].starts_with("http://127.0.0.1:"));

    // etcd's own db file (no trailer) restores the same data when the hash check is skipped.
    let db_dir = dir.path().join("from-db");
    let db = data_dir.join("member/snap/db");
    assert!(restore_from_etcd_snapshot(
        &db,
        &db_dir,
        options.clone(),
        EtcdRestoreOptions::default()
    )
    .is_err());
    let skip = EtcdRestoreOptions { skip_hash_check: true };
    let (from_db, _) = restore_from_etcd_snapshot(&db, &db_dir, options, skip).unwrap();
    assert_eq!(table(&from_db, Table::Kv), etcd_keys);
}

#[test]
fn etcdctl_accepts_a_root_bucket_of_several_pages() {
    let backend = bbolt_fixture::crowded();
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("crowded.db");
    write_bbolt_snapshot(&backend, &mut std::fs::File::create(&snap).unwrap()).unwrap();
    let ours = bbolt_status(&snap).unwrap();
    let status =
        json(&ok(etcdctl(&["snapshot", "status", snap.to_str().unwrap(), "-w", "json"], None)));
    assert_eq!(status["hash"].as_u64(), Some(u64::from(ours.hash)));
    assert_eq!(status["totalKey"].as_u64(), Some(ours.total_keys));
    assert_eq!(status["totalSize"].as_u64(), Some(ours.total_size));
    assert_eq!(status["revision"].as_i64(), Some(5));
}
