//! The storage conformance suite: behaviour every backend must share with [`MemBackend`].
//!
//! Call [`run`] with a function that opens a fresh, empty store; it panics with a description of
//! the first rule the store breaks.
//!
//! [`MemBackend`]: crate::backend::MemBackend

use crate::backend::{Backend, BackendWriter, Table, WriteBatch};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::ControlFlow;

type Record = (Vec<u8>, Vec<u8>);

fn scan<B: Backend + ?Sized>(b: &B, table: Table, from: &[u8], to: Option<&[u8]>) -> Vec<Record> {
    let mut out = Vec::new();
    b.scan(table, from, to, &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        ControlFlow::Continue(())
    });
    out
}

fn rec(k: &[u8], v: &[u8]) -> Record {
    (k.to_vec(), v.to_vec())
}

/// Runs every check against stores made by `open_empty`.
pub fn run<B, F>(mut open_empty: F)
where
    B: Backend + BackendWriter,
    F: FnMut() -> B,
{
    puts_and_deletes(&mut open_empty());
    tables_are_separate(&mut open_empty());
    scans_are_ordered_and_bounded(&mut open_empty());
    range_deletes(&mut open_empty());
    views_are_frozen(&mut open_empty());
    staged_snapshots_replace_the_state_machine(&mut open_empty());
    batches_apply_in_order(&mut open_empty());
}

fn write<B: BackendWriter>(b: &mut B, batch: &WriteBatch) {
    b.write(batch).expect("conformance: write failed");
}

fn puts_and_deletes<B: Backend + BackendWriter>(b: &mut B) {
    let mut batch = WriteBatch::default();
    batch.put(Table::Kv, b"k".to_vec(), b"v1".to_vec());
    write(b, &batch);
    assert_eq!(b.get(Table::Kv, b"k"), Some(b"v1".to_vec()), "conformance: put then get");
    let mut batch = WriteBatch::default();
    batch.put(Table::Kv, b"k".to_vec(), b"v2".to_vec());
    write(b, &batch);
    assert_eq!(b.get(Table::Kv, b"k"), Some(b"v2".to_vec()), "conformance: overwrite");
    let mut batch = WriteBatch::default();
    batch.delete(Table::Kv, b"k".to_vec());
    batch.delete(Table::Kv, b"never-there".to_vec());
    write(b, &batch);
    assert_eq!(b.get(Table::Kv, b"k"), None, "conformance: delete");
    // Empty values and empty keys are legal records.
    let mut batch = WriteBatch::default();
    batch.put(Table::Meta, b"empty".to_vec(), Vec::new());
    write(b, &batch);
    assert_eq!(b.get(Table::Meta, b"empty"), Some(Vec::new()), "conformance: empty value");
}

fn tables_are_separate<B: Backend + BackendWriter>(b: &mut B) {
    let mut batch = WriteBatch::default();
    for table in Table::ALL {
        batch.put(table, b"same".to_vec(), table.name().as_bytes().to_vec());
    }
    write(b, &batch);
    for table in Table::ALL {
        assert_eq!(
            b.get(table, b"same"),
            Some(table.name().as_bytes().to_vec()),
            "conformance: table {table} must not see other tables' records"
        );
        assert_eq!(scan(b, table, b"", None).len(), 1, "conformance: scan of {table}");
    }
}

fn scans_are_ordered_and_bounded<B: Backend + BackendWriter>(b: &mut B) {
    let mut batch = WriteBatch::default();
    for k in [&b"b"[..], b"a", b"c", b"ab", b"\xff", b"\x00"] {
        batch.put(Table::Kv, k.to_vec(), k.to_vec());
    }
    write(b, &batch);
    let all: Vec<Vec<u8>> = scan(b, Table::Kv, b"", None).into_iter().map(|(k, _)| k).collect();
    let expected: Vec<Vec<u8>> = vec![
        b"\x00".to_vec(),
        b"a".to_vec(),
        b"ab".to_vec(),
        b"b".to_vec(),
        b"c".to_vec(),
        b"\xff".to_vec(),
    ];
    assert_eq!(all, expected, "conformance: scan order is bytewise");
    assert_eq!(
        scan(b, Table::Kv, b"a", Some(b"b")),
        vec![rec(b"a", b"a"), rec(b"ab", b"ab")],
        "conformance: [from, to) bounds"
    );
    assert!(scan(b, Table::Kv, b"c", Some(b"a")).is_empty(), "conformance: inverted bounds");
    let mut first_two = Vec::new();
    b.scan(Table::Kv, b"", None, &mut |k, _| {
        first_two.push(k.to_vec());
        if first_two.len() == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!(first_two.len(), 2, "conformance: scan stops when the visitor breaks");
}

fn range_deletes<B: Backend + BackendWriter>(b: &mut B) {
    let mut batch = WriteBatch::default();
    for i in 0u64..10 {
        batch.put(Table::RaftLog, i.to_be_bytes().to_vec(), vec![i as u8]);
    }
    write(b, &batch);
    let mut batch = WriteBatch::default();
    batch.delete_range(
        Table::RaftLog,
        2u64.to_be_bytes().to_vec(),
        Some(5u64.to_be_bytes().to_vec()),
    );
    batch.delete_range(Table::RaftLog, 8u64.to_be_bytes().to_vec(), None);
    write(b, &batch);
    let left: Vec<u8> = scan(b, Table::RaftLog, b"", None).into_iter().map(|(_, v)| v[0]).collect();
    assert_eq!(left, vec![0, 1, 5, 6, 7], "conformance: range deletes");
}

fn views_are_frozen<B: Backend + BackendWriter>(b: &mut B) {
    let mut batch = WriteBatch::default();
    batch.put(Table::Kv, b"k".to_vec(), b"old".to_vec());
    write(b, &batch);
    let view = b.view();
    let mut batch = WriteBatch::default();
    batch.put(Table::Kv, b"k".to_vec(), b"new".to_vec());
    batch.put(Table::Kv, b"k2".to_vec(), b"new".to_vec());
    write(b, &batch);
    assert_eq!(view.get(Table::Kv, b"k"), Some(b"old".to_vec()), "conformance: view is frozen");
    assert_eq!(scan(view.as_ref(), Table::Kv, b"", None).len(), 1, "conformance: view scan");
    assert_eq!(b.get(Table::Kv, b"k"), Some(b"new".to_vec()), "conformance: live after view");
}

fn staged_snapshots_replace_the_state_machine<B: Backend + BackendWriter>(b: &mut B) {
    let mut batch = WriteBatch::default();
    batch.put(Table::Kv, b"old".to_vec(), b"x".to_vec());
    batch.put(Table::Lease, b"old".to_vec(), b"x".to_vec());
    batch.put(Table::RaftLog, b"log".to_vec(), b"kept".to_vec());
    write(b, &batch);
    let mut staged = WriteBatch::default();
    let staged_key = |table: Table, key: &[u8]| {
        let mut k = vec![table.tag()];
        k.extend_from_slice(key);
        k
    };
    staged.put(Table::SnapshotStaging, staged_key(Table::Kv, b"new"), b"1".to_vec());
    staged.put(Table::SnapshotStaging, staged_key(Table::Members, b"m"), b"2".to_vec());
    write(b, &staged);
    assert_eq!(b.get(Table::Kv, b"new"), None, "conformance: staged records are not live");
    let mut install = WriteBatch::default();
    install.ops.push(crate::backend::WriteOp::InstallStagedSnapshot);
    install.put(Table::Meta, b"after".to_vec(), b"y".to_vec());
    write(b, &install);
    assert_eq!(b.get(Table::Kv, b"old"), None, "conformance: install clears old state");
    assert_eq!(b.get(Table::Lease, b"old"), None, "conformance: install clears every state table");
    assert_eq!(b.get(Table::Kv, b"new"), Some(b"1".to_vec()), "conformance: install copies kv");
    assert_eq!(
        b.get(Table::Members, b"m"),
        Some(b"2".to_vec()),
        "conformance: install copies members"
    );
    assert_eq!(b.get(Table::Meta, b"after"), Some(b"y".to_vec()), "conformance: ops after install");
    assert_eq!(b.get(Table::RaftLog, b"log"), Some(b"kept".to_vec()), "conformance: log untouched");
    assert!(scan(b, Table::SnapshotStaging, b"", None).is_empty(), "conformance: staging emptied");
}

fn batches_apply_in_order<B: Backend + BackendWriter>(b: &mut B) {
    let mut batch = WriteBatch::default();
    batch.put(Table::Meta, b"k".to_vec(), b"1".to_vec());
    batch.delete(Table::Meta, b"k".to_vec());
    batch.put(Table::Meta, b"k".to_vec(), b"3".to_vec());
    batch.put(Table::Meta, b"gone".to_vec(), b"1".to_vec());
    batch.delete_range(Table::Meta, b"gone".to_vec(), Some(b"gonf".to_vec()));
    write(b, &batch);
    assert_eq!(b.get(Table::Meta, b"k"), Some(b"3".to_vec()), "conformance: ops apply in order");
    assert_eq!(b.get(Table::Meta, b"gone"), None, "conformance: range delete after put");
}
