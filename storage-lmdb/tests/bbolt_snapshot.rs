//! bbolt snapshots without etcd: the writer's buckets and status, trees of every shape, the
//! restore into oxcd tables, and damaged files (errors, never panics).

mod bbolt_fixture;

use bbolt_fixture::{fixture, Buckets};
use oxcd_core::backend::{Backend, MemBackend, Table, WriteBatch};
use oxcd_core::codec;
use oxcd_core::lease::LeaseRecord;
use oxcd_core::mvcc::revision::{BucketKey, KvRevision};
use oxcd_proto::etcdserverpb::AlarmMember;
use oxcd_storage_lmdb::bbolt::{
    bbolt_status, is_bbolt_file, plan_bbolt_snapshot, read_bbolt, restore_from_etcd_snapshot,
    write_bbolt_snapshot, write_planned_bbolt_snapshot, BboltError, EtcdRestoreOptions,
};
use oxcd_storage_lmdb::{OpenOptions, SnapshotError};
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

fn options() -> OpenOptions {
    OpenOptions { map_size_bytes: 256 << 20, ..OpenOptions::default() }
}

fn records(b: &dyn Backend, table: Table) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    b.scan(table, b"", None, &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        ControlFlow::Continue(())
    });
    out
}

/// Every entry of the file, grouped by bucket (buckets without keys do not appear).
fn read_all(path: &Path) -> Result<Buckets, BboltError> {
    let mut out = Buckets::new();
    for entry in read_bbolt(path)? {
        let e = entry?;
        let bucket = String::from_utf8(e.bucket).unwrap();
        out.entry(bucket).or_default().insert(e.key, e.value);
    }
    Ok(out)
}

fn non_empty(buckets: &Buckets) -> Buckets {
    buckets.iter().filter(|(_, r)| !r.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn write_file(backend: &dyn Backend, path: &Path) -> oxcd_storage_lmdb::bbolt::BboltInfo {
    let mut bytes = Vec::new();
    let info = write_bbolt_snapshot(backend, &mut bytes).unwrap();
    std::fs::write(path, &bytes).unwrap();
    info
}

#[test]
fn the_writer_produces_etcds_buckets_and_status() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.db");
    let info = write_file(&f.backend, &path);
    let bytes = std::fs::read(&path).unwrap();

    assert_eq!(read_all(&path).unwrap(), non_empty(&f.buckets));
    assert_eq!(info.total_bytes, bytes.len() as u64);
    assert_eq!(info.db_bytes + 32, info.total_bytes);
    assert_eq!(info.db_bytes % 4096, 0);
    let digest: [u8; 32] = Sha256::digest(&bytes[..bytes.len() - 32]).into();
    assert_eq!(info.sha256, digest);
    assert_eq!(&bytes[bytes.len() - 32..], &digest);

    let status = bbolt_status(&path).unwrap();
    assert_eq!(status, info.status);
    assert_eq!(status.hash, f.expected_hash());
    assert_eq!(status.revision, f.revision);
    assert_eq!(status.total_keys, f.expected_keys());
    assert_eq!(status.total_size, info.db_bytes);
    for (name, records) in &f.buckets {
        assert_eq!(info.keys[name.as_str()], records.len() as u64, "bucket {name}");
    }

    let reader = read_bbolt(&path).unwrap();
    assert_eq!(reader.info().sha256_trailer, Some(digest));
    assert_eq!(reader.info().hwm * 4096, info.db_bytes);
    assert_eq!(reader.info().free_pages, 0);

    assert!(is_bbolt_file(&path).unwrap());
    let other = dir.path().join("other");
    for bytes in [&b""[..], b"OXCDSNAP\0\0\0\x01", &[0; 4096]] {
        std::fs::write(&other, bytes).unwrap();
        assert!(!is_bbolt_file(&other).unwrap());
    }
}

#[test]
fn alarms_and_an_empty_store_are_written_as_etcd_does() {
    let dir = tempfile::tempdir().unwrap();
    let empty = MemBackend::new();
    let path = dir.path().join("empty.db");
    let info = write_file(&empty, &path);
    let mut expected = Buckets::new();
    expected
        .entry("auth".into())
        .or_default()
        .insert(b"authRevision".to_vec(), vec![0, 0, 0, 0, 0, 0, 0, 1]);
    expected
        .entry("cluster".into())
        .or_default()
        .insert(b"clusterVersion".to_vec(), b"3.4.0".to_vec());
    assert_eq!(read_all(&path).unwrap(), expected);
    assert_eq!((info.status.total_keys, info.status.revision), (2, 0));
    // Ten empty inline buckets and one root leaf: metas, freelist, root.
    assert_eq!(info.db_bytes, 4 * 4096);

    let alarms = MemBackend::new();
    let mut batch = WriteBatch::default();
    let mut expected_keys = Vec::new();
    for (member, alarm) in [(300u64, 1i32), (2, 2), (2, 1)] {
        let mut key = b"alarm/".to_vec();
        key.extend_from_slice(&member.to_be_bytes());
        key.extend_from_slice(&alarm.to_be_bytes());
        batch.put(Table::Meta, key, codec::encode(&(member, alarm)));
        expected_keys.push(AlarmMember { member_id: member, alarm }.encode_to_vec());
    }
    alarms.apply(&batch);
    expected_keys.sort();
    let path = dir.path().join("alarms.db");
    write_file(&alarms, &path);
    let read = read_all(&path).unwrap();
    let keys: Vec<_> = read["alarm"].iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(keys, expected_keys.into_iter().map(|k| (k, Vec::new())).collect::<Vec<_>>());

    let restored = dir.path().join("restored");
    let (storage, _) =
        restore_from_etcd_snapshot(&path, &restored, options(), EtcdRestoreOptions::default())
            .unwrap();
    assert_eq!(records(&storage, Table::Meta), records(&alarms, Table::Meta));
}

#[test]
fn restore_gives_back_the_tables_the_snapshot_was_written_from() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.db");
    write_file(&f.backend, &path);
    let data_dir = dir.path().join("data");
    let (storage, info) =
        restore_from_etcd_snapshot(&path, &data_dir, options(), EtcdRestoreOptions::default())
            .unwrap();
    for table in [Table::Kv, Table::Lease, Table::Auth, Table::Members] {
        assert_eq!(records(&storage, table), records(&f.backend, table), "table {table}");
    }
    // The applied index is etcd's consistent_index: reported, not carried into the new log.
    let mut meta = records(&f.backend, Table::Meta);
    meta.retain(|(k, _)| k != b"node.applied");
    assert_eq!(records(&storage, Table::Meta), meta);
    assert_eq!(info.consistent_index, Some(420));
    assert_eq!(info.cluster_version.as_deref(), Some("3.4.0"));
    assert_eq!(info.revision, f.revision);
    assert_eq!(info.records[&Table::Kv], records(&f.backend, Table::Kv).len() as u64);
    assert!(info.file.sha256_trailer.is_some());
    assert_eq!(storage.identity(), None);
    assert!(records(&storage, Table::RaftLog).is_empty());

    // A second restore into the same dir is refused and changes nothing.
    let again =
        restore_from_etcd_snapshot(&path, &data_dir, options(), EtcdRestoreOptions::default());
    assert!(matches!(again, Err(SnapshotError::TargetExists { .. })), "{again:?}");
}

/// A deterministic generator (SplitMix64).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Keys and leases in numbers and sizes that make deep trees, overflow pages and page-sized
/// edge cases.
fn big_store(seed: u64, revisions: i64, leases: i64) -> MemBackend {
    let mut gen = Gen(seed);
    let backend = MemBackend::new();
    let mut batch = WriteBatch::default();
    let mut rev = 2;
    while rev < revisions + 2 {
        let subs = 1 + gen.below(3) as i64;
        for sub in 0..subs {
            let size = match gen.below(10) {
                0 => gen.below(20_000) as usize,
                1 => 4096 - 16 - 16 - 17 + gen.below(3) as usize - 1,
                _ => gen.below(300) as usize,
            };
            let kv = oxcd_proto::mvccpb::KeyValue {
                key: format!("k{}", gen.below(1000)).into_bytes(),
                create_revision: rev,
                mod_revision: rev,
                version: 1,
                value: vec![(rev % 251) as u8; size],
                lease: 0,
            };
            let tomb = gen.below(20) == 0;
            let key = BucketKey { rev: KvRevision::new(rev, sub), tombstone: tomb }.to_vec();
            batch.put(Table::Kv, key, kv.encode_to_vec());
        }
        rev += 1;
    }
    for id in 1..=leases {
        let lease = LeaseRecord { id: id * 7919, ttl: 60, remaining_ttl: 0 };
        batch.put(Table::Lease, (lease.id as u64).to_be_bytes().to_vec(), lease.to_bytes());
    }
    backend.apply(&batch);
    backend
}

#[test]
fn trees_of_every_shape_read_back_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    for (seed, revisions, leases) in
        [(1, 0, 0), (2, 3, 1), (3, 60, 70), (4, 3000, 5000), (5, 20_000, 3)]
    {
        let backend = big_store(seed, revisions, leases);
        let path = dir.path().join(format!("s{seed}.db"));
        let info = write_file(&backend, &path);
        let read = read_all(&path).unwrap();
        let kv: BTreeMap<_, _> = records(&backend, Table::Kv).into_iter().collect();
        let leases_read: BTreeMap<_, _> = records(&backend, Table::Lease).into_iter().collect();
        assert_eq!(read.get("key").cloned().unwrap_or_default(), kv, "seed {seed}");
        assert_eq!(read.get("lease").cloned().unwrap_or_default(), leases_read, "seed {seed}");
        assert_eq!(bbolt_status(&path).unwrap(), info.status);

        let data_dir = dir.path().join(format!("d{seed}"));
        let (storage, restored) =
            restore_from_etcd_snapshot(&path, &data_dir, options(), EtcdRestoreOptions::default())
                .unwrap();
        assert_eq!(records(&storage, Table::Kv), records(&backend, Table::Kv), "seed {seed}");
        assert_eq!(records(&storage, Table::Lease), records(&backend, Table::Lease));
        assert_eq!(restored.revision, info.status.revision);
    }
}

#[test]
fn a_plan_gives_the_size_first_and_catches_a_changed_view() {
    let f = fixture();
    let plan = plan_bbolt_snapshot(&f.backend).unwrap();
    let mut bytes = Vec::new();
    let info = write_planned_bbolt_snapshot(&f.backend, &plan, &mut bytes).unwrap();
    assert_eq!(plan.total_bytes(), bytes.len() as u64);
    assert_eq!((plan.db_bytes(), plan.status()), (info.db_bytes, info.status));

    let mut batch = WriteBatch::default();
    batch.put(
        Table::Kv,
        BucketKey { rev: KvRevision::new(10_000, 0), tombstone: false }.to_vec(),
        b"x".to_vec(),
    );
    f.backend.apply(&batch);
    let changed = write_planned_bbolt_snapshot(&f.backend, &plan, &mut Vec::new());
    assert!(matches!(changed, Err(BboltError::ViewChanged)), "{changed:?}");
}

#[test]
fn records_etcd_cannot_hold_are_refused() {
    for (table, key, value, what) in [
        (Table::Kv, b"not-a-revision".to_vec(), b"v".to_vec(), "revision"),
        (Table::Members, b"m\0\0\0\0\0\0\0\x01".to_vec(), vec![0xff; 3], "members"),
        (Table::Members, b"r\x01".to_vec(), Vec::new(), "removed"),
        (Table::Auth, b"role/".to_vec(), b"".to_vec(), "empty name"),
        (Table::Auth, b"enabled".to_vec(), vec![2], "enabled"),
        (Table::Meta, b"alarm/x".to_vec(), vec![0xff], "alarm"),
        (Table::Meta, b"node.applied".to_vec(), vec![0xff], "applied"),
    ] {
        let backend = MemBackend::new();
        let mut batch = WriteBatch::default();
        batch.put(table, key.clone(), value);
        backend.apply(&batch);
        let mut out = Vec::new();
        match write_bbolt_snapshot(&backend, &mut out) {
            Err(BboltError::Record { table: t, key: k, .. }) => {
                assert_eq!((t, k), (table, key), "{what}");
            }
            other => panic!("{what}: {other:?}"),
        }
        assert!(out.is_empty(), "{what}: nothing is written for a store that cannot be");
    }
}

#[test]
fn a_root_bucket_of_several_pages_reads_back() {
    let backend = bbolt_fixture::crowded();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crowded.db");
    let info = write_file(&backend, &path);
    // Metas, freelist, the root bucket's leaves and its branch: every bucket is inline.
    let pages = info.db_bytes / 4096;
    assert!((6..=8).contains(&pages), "{pages} pages");
    let read = read_all(&path).unwrap();
    assert_eq!(read.len(), 10);
    assert_eq!(read["key"].len(), 4);
    assert_eq!(read["members"].len(), 5);
    let data_dir = dir.path().join("data");
    let (storage, _) =
        restore_from_etcd_snapshot(&path, &data_dir, options(), EtcdRestoreOptions::default())
            .unwrap();
    for table in [Table::Kv, Table::Lease, Table::Auth, Table::Members] {
        assert_eq!(records(&storage, table), records(&backend, table), "table {table}");
    }
    assert_eq!(records(&storage, Table::Meta).len(), 9, "the alarms");
}
