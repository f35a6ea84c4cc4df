//! The write-ahead log in front of LMDB: what it made durable survives even when LMDB never
//! took it, and what LMDB took is not applied again.

use oxcd_core::backend::{Backend, Table, WriteBatch};
use oxcd_storage_lmdb::{LmdbStorage, OpenOptions};
use std::path::Path;

fn open(dir: &Path) -> LmdbStorage {
    let options = OpenOptions { create: true, map_size_bytes: 256 << 20, ..OpenOptions::default() };
    LmdbStorage::open(dir, options).unwrap()
}

fn put(key: &[u8], value: &[u8]) -> WriteBatch {
    let mut batch = WriteBatch::default();
    batch.put(Table::Kv, key.to_vec(), value.to_vec());
    batch
}

fn get(storage: &LmdbStorage, key: &[u8]) -> Option<Vec<u8>> {
    storage.get(Table::Kv, key)
}

#[test]
fn a_logged_batch_survives_when_lmdb_never_took_it() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let mut wal = storage.open_wal().unwrap();
    let first = wal.append_durable(&[put(b"a", b"1")]).unwrap();
    // Unsynced records are made durable by the next synced one.
    wal.append_unsynced(&[put(b"b", b"2")]).unwrap();
    let last = wal.append_durable(&[put(b"a", b"3")]).unwrap();
    assert_eq!(last, first + 2);
    assert_eq!(get(&storage, b"a"), None, "LMDB has not taken anything yet");
    drop(wal);
    drop(storage);

    let storage = open(dir.path());
    assert_eq!(get(&storage, b"a").as_deref(), Some(&b"3"[..]));
    assert_eq!(get(&storage, b"b").as_deref(), Some(&b"2"[..]));
    assert_eq!(storage.checkpoint(), last);
    // Appending goes on after the replayed records.
    let mut wal = storage.open_wal().unwrap();
    assert_eq!(wal.append_durable(&[put(b"c", b"4")]).unwrap(), last + 1);
    assert!(storage.open_wal().is_err(), "the log has one writer");
}

#[test]
fn records_lmdb_holds_are_not_applied_again() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let mut wal = storage.open_wal().unwrap();
    let batch = put(b"k", b"logged");
    let seq = wal.append_durable(std::slice::from_ref(&batch)).unwrap();
    storage.write_logged(std::slice::from_ref(&batch), seq).unwrap();
    assert_eq!(storage.checkpoint(), seq);
    // A later write straight to LMDB: replaying the record would undo it.
    storage.write_batch(&put(b"k", b"later")).unwrap();
    drop(wal);
    drop(storage);

    let storage = open(dir.path());
    assert_eq!(get(&storage, b"k").as_deref(), Some(&b"later"[..]));
    assert_eq!(storage.checkpoint(), seq);
}

#[test]
fn a_defragmented_store_keeps_the_checkpoint_of_writes_made_during_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let mut wal = storage.open_wal().unwrap();
    let mut big = WriteBatch::default();
    for i in 0..150_000u32 {
        big.put(Table::Kv, i.to_be_bytes().to_vec(), vec![7; 200]);
    }
    storage.write_batch(&big).unwrap();
    let defrag = {
        let storage = storage.clone();
        std::thread::spawn(move || storage.defragment().unwrap())
    };
    // Logged writes while the copy runs land in the defragmentation's journal.
    let mut written = 0u32;
    while !defrag.is_finished() && written < 100_000 {
        let batch = put(b"during", &written.to_be_bytes());
        let seq = wal.append_durable(std::slice::from_ref(&batch)).unwrap();
        storage.write_logged(std::slice::from_ref(&batch), seq).unwrap();
        written += 1;
    }
    defrag.join().unwrap();
    let checkpoint = storage.checkpoint();
    // Replaying any record of the copy again would undo this write.
    storage.write_batch(&put(b"during", b"direct")).unwrap();
    drop(wal);
    drop(storage);

    let storage = open(dir.path());
    assert_eq!(storage.checkpoint(), checkpoint);
    assert_eq!(get(&storage, b"during").as_deref(), Some(&b"direct"[..]), "{written} written");
}
