//! Space: the map grows without a restart, sizes are reported, defragmentation gives free pages
//! back while views and writes go on.

use oxcd_core::backend::{Backend, BackendWriter, Table, WriteBatch};
use oxcd_storage_lmdb::{LmdbStorage, OpenOptions, WriteError};
use std::ops::ControlFlow;
use std::time::Duration;

fn options() -> OpenOptions {
    OpenOptions { create: true, map_size_bytes: 1 << 20, ..OpenOptions::default() }
}

fn batch(from: u32, count: u32, value_bytes: usize) -> WriteBatch {
    let mut batch = WriteBatch::default();
    for i in from..from + count {
        batch.put(Table::Kv, i.to_be_bytes().to_vec(), vec![i as u8; value_bytes]);
    }
    batch
}

fn count(b: &dyn Backend, table: Table) -> usize {
    let mut n = 0;
    b.scan(table, b"", None, &mut |_, _| {
        n += 1;
        ControlFlow::Continue(())
    });
    n
}

#[test]
fn the_map_grows_when_full_and_the_batch_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LmdbStorage::open(dir.path(), options()).unwrap();
    assert_eq!(store.map_size_bytes(), 1 << 20);
    for round in 0..20 {
        store.write(&batch(round * 1000, 1000, 500)).unwrap();
    }
    assert!(store.map_size_bytes() >= 16 << 20, "map {}", store.map_size_bytes());
    assert_eq!(count(&store, Table::Kv), 20_000);
    assert!(store.size_bytes() >= 10_000_000, "file {}", store.size_bytes());
    assert!(store.size_in_use_bytes() <= store.size_bytes());
    drop(store);
    // Reopening with the small configured map still works: LMDB adopts the file's size.
    let store = LmdbStorage::open(dir.path(), options()).unwrap();
    assert_eq!(count(&store, Table::Kv), 20_000);
}

#[test]
fn growth_waits_for_views_then_gives_up_and_succeeds_once_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let opts = OpenOptions { resize_wait_max: Duration::from_millis(20), ..options() };
    let mut store = LmdbStorage::open(dir.path(), opts).unwrap();
    store.write(&batch(0, 10, 10)).unwrap();
    let view = store.view();
    let big = batch(1000, 4000, 500);
    match store.write(&big) {
        Err(WriteError::MapFull { .. }) => {}
        other => panic!("expected MapFull while a view is open, got {other:?}"),
    }
    assert_eq!(store.get(Table::Kv, &1000u32.to_be_bytes()), None, "nothing of the batch");
    assert_eq!(count(view.as_ref(), Table::Kv), 10);
    drop(view);
    store.write(&big).unwrap();
    assert_eq!(count(&store, Table::Kv), 4010);
}

#[test]
fn the_map_stops_at_its_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let opts = OpenOptions { map_size_max_bytes: 2 << 20, ..options() };
    let mut store = LmdbStorage::open(dir.path(), opts).unwrap();
    let result = (0..20).try_for_each(|round| store.write(&batch(round * 1000, 1000, 500)));
    match result {
        Err(WriteError::MapFull { map_size_bytes, .. }) => assert_eq!(map_size_bytes, 2 << 20),
        other => panic!("expected MapFull, got {other:?}"),
    }
    assert!(store.get(Table::Kv, &0u32.to_be_bytes()).is_some());
}

#[test]
fn defragment_gives_space_back_and_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LmdbStorage::open(dir.path(), options()).unwrap();
    for round in 0..20 {
        store.write(&batch(round * 1000, 1000, 400)).unwrap();
    }
    let mut doomed = WriteBatch::default();
    doomed.delete_range(
        Table::Kv,
        1000u32.to_be_bytes().to_vec(),
        Some(19_000u32.to_be_bytes().to_vec()),
    );
    doomed.put(Table::Meta, Vec::new(), b"empty key survives".to_vec());
    store.write(&doomed).unwrap();
    store
        .bootstrap(&oxcd_storage_lmdb::MemberIdentity {
            cluster_id: 1,
            member_id: oxcd_core::NodeId(2),
            member_name: "m".to_owned(),
        })
        .unwrap();
    let before = store.size_bytes();
    assert!(store.size_in_use_bytes() * 4 < before, "most pages are free before");
    let view_before = store.view();

    // Writes from another thread go on while the copy runs; all of them must land.
    let writer = {
        let mut store = store.clone();
        std::thread::spawn(move || {
            for round in 0..50u32 {
                store.write(&batch(100_000 + round * 10, 10, 100)).unwrap();
            }
        })
    };
    let report = store.defragment().unwrap();
    writer.join().unwrap();

    assert!(report.size_after_bytes < before / 2, "{report:?} before={before}");
    assert!(store.size_bytes() < before / 2);
    assert_eq!(count(&store, Table::Kv), 2000 + 500);
    assert_eq!(store.get(Table::Meta, b""), Some(b"empty key survives".to_vec()));
    assert_eq!(store.get(Table::Kv, &100_495u32.to_be_bytes()), Some(vec![100_495u32 as u8; 100]));
    // The view taken before still reads the old environment.
    assert_eq!(count(view_before.as_ref(), Table::Kv), 2000);
    drop(view_before);
    store.write(&batch(200_000, 5, 5)).unwrap();
    let identity = store.identity();
    assert!(identity.is_some());
    drop(store);

    let store = LmdbStorage::open(dir.path(), OpenOptions { create: false, ..options() }).unwrap();
    assert_eq!(count(&store, Table::Kv), 2505);
    assert_eq!(store.identity(), identity);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("member"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("db."))
        .collect();
    assert!(leftovers.is_empty(), "scratch left behind: {leftovers:?}");
}

#[test]
fn a_defragmented_store_can_be_defragmented_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LmdbStorage::open(dir.path(), options()).unwrap();
    store.write(&batch(0, 3000, 100)).unwrap();
    let view = store.view();
    store.defragment().unwrap();
    store.write(&batch(3000, 10, 100)).unwrap();
    store.defragment().unwrap();
    assert_eq!(count(&store, Table::Kv), 3010);
    assert_eq!(count(view.as_ref(), Table::Kv), 3000);
}
