//! The core's storage conformance suite, and the behaviours LMDB makes special (empty keys,
//! key limits, views across threads and writes).

use oxcd_core::backend::{Backend, BackendWriter, Table, WriteBatch};
use oxcd_storage_lmdb::{LmdbStorage, OpenOptions, WriteError};
use std::ops::ControlFlow;

fn test_options() -> OpenOptions {
    // Small map so tests do not reserve 64 GiB each; durable writes as in production.
    OpenOptions { create: true, map_size_bytes: 64 << 20, ..OpenOptions::default() }
}

fn scan_all(
    b: &dyn Backend,
    table: Table,
    from: &[u8],
    to: Option<&[u8]>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    b.scan(table, from, to, &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        ControlFlow::Continue(())
    });
    out
}

#[test]
fn passes_the_backend_conformance_suite() {
    let mut dirs = Vec::new();
    oxcd_core::testing::backend_conformance::run(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = LmdbStorage::open(dir.path(), test_options()).unwrap();
        dirs.push(dir);
        store
    });
}

#[test]
fn empty_keys_are_records_that_sort_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LmdbStorage::open(dir.path(), test_options()).unwrap();
    let mut batch = WriteBatch::default();
    batch.put(Table::Kv, b"a".to_vec(), b"1".to_vec());
    batch.put(Table::Kv, Vec::new(), b"empty".to_vec());
    batch.put(Table::Lease, Vec::new(), b"lease-empty".to_vec());
    store.write(&batch).unwrap();
    assert_eq!(store.get(Table::Kv, b""), Some(b"empty".to_vec()));
    assert_eq!(
        scan_all(&store, Table::Kv, b"", None),
        vec![(Vec::new(), b"empty".to_vec()), (b"a".to_vec(), b"1".to_vec())]
    );
    assert_eq!(scan_all(&store, Table::Kv, b"a", None).len(), 1, "a non-empty from skips it");
    // Range delete from the start removes it; the other table's empty key stays.
    let mut batch = WriteBatch::default();
    batch.delete_range(Table::Kv, Vec::new(), Some(b"a".to_vec()));
    store.write(&batch).unwrap();
    assert_eq!(store.get(Table::Kv, b""), None);
    assert_eq!(store.get(Table::Kv, b"a"), Some(b"1".to_vec()));
    assert_eq!(store.get(Table::Lease, b""), Some(b"lease-empty".to_vec()));
    let mut batch = WriteBatch::default();
    batch.delete(Table::Lease, Vec::new());
    store.write(&batch).unwrap();
    assert_eq!(store.get(Table::Lease, b""), None);
}

#[test]
fn staged_empty_keys_install_and_old_ones_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LmdbStorage::open(dir.path(), test_options()).unwrap();
    let mut batch = WriteBatch::default();
    batch.put(Table::Meta, Vec::new(), b"old".to_vec());
    batch.put(Table::SnapshotStaging, vec![Table::Kv.tag()], b"staged-empty".to_vec());
    batch.put(Table::SnapshotStaging, Vec::new(), b"junk".to_vec());
    store.write(&batch).unwrap();
    let mut install = WriteBatch::default();
    install.ops.push(oxcd_core::backend::WriteOp::InstallStagedSnapshot);
    store.write(&install).unwrap();
    assert_eq!(store.get(Table::Meta, b""), None);
    assert_eq!(store.get(Table::Kv, b""), Some(b"staged-empty".to_vec()));
    assert!(scan_all(&store, Table::SnapshotStaging, b"", None).is_empty());
}

#[test]
fn install_copies_more_records_than_one_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LmdbStorage::open(dir.path(), test_options()).unwrap();
    let mut batch = WriteBatch::default();
    for i in 0u32..10_000 {
        let table = if i % 2 == 0 { Table::Kv } else { Table::Lease };
        let mut key = vec![table.tag()];
        key.extend_from_slice(&i.to_be_bytes());
        batch.put(Table::SnapshotStaging, key, i.to_be_bytes().to_vec());
    }
    batch.ops.push(oxcd_core::backend::WriteOp::InstallStagedSnapshot);
    store.write(&batch).unwrap();
    let kv = scan_all(&store, Table::Kv, b"", None);
    assert_eq!(kv.len(), 5_000);
    assert!(kv.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(scan_all(&store, Table::Lease, b"", None).len(), 5_000);
}

#[test]
fn keys_longer_than_lmdb_allows_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LmdbStorage::open(dir.path(), test_options()).unwrap();
    let max = store.max_key_bytes();
    assert!(max >= 511, "max key {max}");
    let mut batch = WriteBatch::default();
    batch.put(Table::Kv, b"first".to_vec(), b"1".to_vec());
    batch.put(Table::Auth, vec![b'k'; max], b"at the limit".to_vec());
    store.write(&batch).unwrap();
    assert_eq!(store.get(Table::Auth, &vec![b'k'; max]), Some(b"at the limit".to_vec()));
    let mut batch = WriteBatch::default();
    batch.put(Table::Kv, b"second".to_vec(), b"2".to_vec());
    batch.put(Table::Auth, vec![b'k'; max + 1], b"too long".to_vec());
    match store.write(&batch) {
        Err(WriteError::KeyTooLong { key_bytes, .. }) => assert_eq!(key_bytes, max + 1),
        other => panic!("expected KeyTooLong, got {other:?}"),
    }
    assert_eq!(store.get(Table::Kv, b"second"), None, "nothing of a refused batch is stored");
}

#[test]
fn views_read_a_frozen_state_on_another_thread_while_writes_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LmdbStorage::open(dir.path(), test_options()).unwrap();
    let mut batch = WriteBatch::default();
    for i in 0u32..1000 {
        batch.put(Table::Kv, i.to_be_bytes().to_vec(), b"before".to_vec());
    }
    store.write(&batch).unwrap();
    let view = store.view();
    let reader = {
        let store = store.clone();
        std::thread::spawn(move || {
            // A handle moved to another thread reads what is durable at the time.
            let n = scan_all(&store, Table::Kv, b"", None).len();
            assert!(n >= 1000);
        })
    };
    let mut batch = WriteBatch::default();
    for i in 0u32..1000 {
        batch.put(Table::Kv, i.to_be_bytes().to_vec(), b"after".to_vec());
    }
    batch.put(Table::Kv, b"extra".to_vec(), b"after".to_vec());
    store.write(&batch).unwrap();
    reader.join().unwrap();
    let frozen = scan_all(view.as_ref(), Table::Kv, b"", None);
    assert_eq!(frozen.len(), 1000);
    assert!(frozen.iter().all(|(_, v)| v == b"before"));
    let nested = view.view();
    assert_eq!(nested.get(Table::Kv, &0u32.to_be_bytes()), Some(b"before".to_vec()));
    // Reentrant use: reading the view inside its own scan.
    let mut inner_reads = 0;
    view.scan(Table::Kv, b"", None, &mut |k, _| {
        assert_eq!(view.get(Table::Kv, k), Some(b"before".to_vec()));
        inner_reads += 1;
        ControlFlow::Continue(())
    });
    assert_eq!(inner_reads, 1000);
    assert_eq!(store.get(Table::Kv, b"extra"), Some(b"after".to_vec()));
}

#[test]
fn the_handle_is_send_and_sync() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<LmdbStorage>();
}
