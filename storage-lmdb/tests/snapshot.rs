//! Snapshot files: save, verify, count, restore; damaged files are refused.

use oxcd_core::backend::{Backend, BackendWriter, Table, WriteBatch};
use oxcd_core::NodeId;
use oxcd_storage_lmdb::{
    restore_snapshot, snapshot_status, LmdbStorage, MemberIdentity, OpenOptions, SnapshotError,
    SNAPSHOT_TABLES,
};
use std::ops::ControlFlow;
use std::path::Path;

fn options(create: bool) -> OpenOptions {
    OpenOptions { create, map_size_bytes: 32 << 20, ..OpenOptions::default() }
}

fn records(b: &dyn Backend, table: Table) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    b.scan(table, b"", None, &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        ControlFlow::Continue(())
    });
    out
}

fn filled(dir: &Path) -> LmdbStorage {
    let mut store = LmdbStorage::open(dir, options(true)).unwrap();
    store
        .bootstrap(&MemberIdentity { cluster_id: 9, member_id: NodeId(1), member_name: "a".into() })
        .unwrap();
    let mut batch = WriteBatch::default();
    for i in 0u32..3000 {
        batch.put(Table::Kv, i.to_be_bytes().to_vec(), vec![i as u8; 100]);
    }
    batch.put(Table::Kv, Vec::new(), b"empty key".to_vec());
    batch.put(Table::Lease, b"l1".to_vec(), b"lease".to_vec());
    batch.put(Table::Members, b"m1".to_vec(), b"member".to_vec());
    batch.put(Table::Meta, b"consistent_index".to_vec(), 42u64.to_be_bytes().to_vec());
    batch.put(Table::RaftState, b"hard_state".to_vec(), b"hs".to_vec());
    batch.put(Table::RaftLog, 1u64.to_be_bytes().to_vec(), b"entry".to_vec());
    batch.put(Table::SnapshotStaging, b"\x03x".to_vec(), b"staged".to_vec());
    store.write(&batch).unwrap();
    store
}

#[test]
fn a_saved_snapshot_restores_into_a_new_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = filled(dir.path());
    let file = dir.path().join("snap.db");
    let mut out = std::fs::File::create(&file).unwrap();
    // A view taken now must equal the snapshot even though writes follow.
    let info = store.save_snapshot(&mut out).unwrap();
    drop(out);
    let mut later = WriteBatch::default();
    later.put(Table::Kv, b"later".to_vec(), b"x".to_vec());
    store.write(&later).unwrap();

    let status = snapshot_status(&file).unwrap();
    assert_eq!(status, info);
    assert_eq!(status.size_bytes, std::fs::metadata(&file).unwrap().len());
    assert_eq!(status.records[&Table::Kv], 3001);
    assert_eq!(status.records[&Table::Lease], 1);
    assert_eq!(status.records[&Table::Auth], 0);
    assert_eq!(status.total_records, 3001 + 4);
    assert!(!status.records.contains_key(&Table::RaftLog));

    let restored_dir = tempfile::tempdir().unwrap();
    let mut restored = restore_snapshot(&file, restored_dir.path(), options(false)).unwrap();
    for table in SNAPSHOT_TABLES {
        let mut expected = records(&store, table);
        if table == Table::Kv {
            expected.retain(|(k, _)| k != b"later");
        }
        assert_eq!(records(&restored, table), expected, "table {table}");
    }
    assert!(records(&restored, Table::RaftLog).is_empty(), "the old Raft log is dropped");
    assert!(records(&restored, Table::SnapshotStaging).is_empty());
    assert_eq!(restored.identity(), None, "a restored member is bootstrapped anew");
    // The caller rewrites membership and Raft state for the new cluster, then bootstraps.
    let mut rewrite = WriteBatch::default();
    rewrite.delete_range(Table::Members, Vec::new(), None);
    rewrite.delete_range(Table::RaftState, Vec::new(), None);
    rewrite.put(Table::Members, b"new".to_vec(), b"member".to_vec());
    restored.write(&rewrite).unwrap();
    let identity = MemberIdentity { cluster_id: 10, member_id: NodeId(5), member_name: "b".into() };
    restored.bootstrap(&identity).unwrap();
    drop(restored);
    let reopened = LmdbStorage::open(restored_dir.path(), options(false)).unwrap();
    assert_eq!(reopened.identity(), Some(identity));
    assert_eq!(records(&reopened, Table::Members), vec![(b"new".to_vec(), b"member".to_vec())]);
    assert_eq!(reopened.get(Table::Kv, b""), Some(b"empty key".to_vec()));
}

#[test]
fn damaged_or_truncated_files_are_refused_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    let mut bytes = Vec::new();
    store.save_snapshot(&mut bytes).unwrap();
    let file = dir.path().join("snap.db");

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let truncated = bytes[..bytes.len() - 40].to_vec();
    let mut trailing = bytes.clone();
    trailing.push(0);
    let mut foreign = bytes.clone();
    foreign[0] = b'X';
    for (what, content) in [
        ("flipped", flipped),
        ("truncated", truncated),
        ("trailing", trailing),
        ("foreign", foreign),
    ] {
        std::fs::write(&file, &content).unwrap();
        match snapshot_status(&file) {
            Err(SnapshotError::Invalid { .. }) => {}
            other => panic!("{what}: expected Invalid, got {other:?}"),
        }
        let target = tempfile::tempdir().unwrap();
        match restore_snapshot(&file, target.path(), options(false)) {
            Err(SnapshotError::Invalid { .. }) => {}
            other => panic!("{what}: expected Invalid, got {other:?}"),
        }
        assert!(!target.path().join("member").exists(), "{what}: partial restore left behind");
    }
}

#[test]
fn restore_refuses_a_data_dir_that_holds_a_member() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    let file = dir.path().join("snap.db");
    store.save_snapshot(&mut std::fs::File::create(&file).unwrap()).unwrap();
    drop(store);
    match restore_snapshot(&file, dir.path(), options(false)) {
        Err(SnapshotError::TargetExists { .. }) => {}
        other => panic!("expected TargetExists, got {other:?}"),
    }
    // The existing member is untouched.
    let store = LmdbStorage::open(dir.path(), options(false)).unwrap();
    assert_eq!(store.get(Table::RaftLog, &1u64.to_be_bytes()), Some(b"entry".to_vec()));
}
