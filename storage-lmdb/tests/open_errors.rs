//! Opening refuses what it must not use, with the path and the reason, and never repairs.

use heed::types::Bytes;
use heed::EnvOpenOptions;
use oxcd_core::backend::{Backend, BackendWriter, Table, WriteBatch};
use oxcd_core::NodeId;
use oxcd_storage_lmdb::{
    ExpectedIdentity, LmdbStorage, MemberIdentity, OpenError, OpenOptions, WriteError,
};
use std::path::Path;

fn options(create: bool) -> OpenOptions {
    OpenOptions { create, map_size_bytes: 16 << 20, ..OpenOptions::default() }
}

fn identity() -> MemberIdentity {
    MemberIdentity { cluster_id: 0xc1, member_id: NodeId(0x1d), member_name: "infra0".to_owned() }
}

fn put(store: &mut LmdbStorage, table: Table, key: &[u8], value: &[u8]) {
    let mut batch = WriteBatch::default();
    batch.put(table, key.to_vec(), value.to_vec());
    store.write(&batch).unwrap();
}

/// Rewrites a record of the `format` database behind the store's back.
#[allow(unsafe_code)]
fn poke_format(db_dir: &Path, key: &[u8], value: &[u8]) {
    // SAFETY: the store is closed; nothing else has this environment open.
    let env = unsafe { EnvOpenOptions::new().max_dbs(16).map_size(16 << 20).open(db_dir).unwrap() };
    let db = env
        .create_databases_and_commit(env.write_txn().unwrap(), |o, w| {
            o.create_database::<Bytes, Bytes>(w, Some("format"))
                .map(heed::CommitOrAbort::<_, ()>::Commit)
        })
        .unwrap()
        .unwrap_commit();
    let mut wtxn = env.write_txn().unwrap();
    db.put(&mut wtxn, key, value).unwrap();
    wtxn.commit().unwrap();
}

#[test]
fn a_missing_store_is_refused_unless_asked_to_create() {
    let dir = tempfile::tempdir().unwrap();
    match LmdbStorage::open(dir.path(), options(false)) {
        Err(e @ OpenError::Missing { .. }) => {
            assert!(
                e.to_string().contains(&dir.path().join("member").display().to_string()),
                "{e}"
            );
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    assert!(!LmdbStorage::exists(dir.path()));
    let mut store = LmdbStorage::open(dir.path(), options(true)).unwrap();
    put(&mut store, Table::Kv, b"k", b"v");
    drop(store);
    assert!(LmdbStorage::exists(dir.path()));
    let store = LmdbStorage::open(dir.path(), options(false)).unwrap();
    assert_eq!(store.get(Table::Kv, b"k"), Some(b"v".to_vec()));
}

#[test]
fn a_second_open_is_refused_while_the_first_lives() {
    let dir = tempfile::tempdir().unwrap();
    let first = LmdbStorage::open(dir.path(), options(true)).unwrap();
    match LmdbStorage::open(dir.path(), options(false)) {
        Err(e @ OpenError::Locked { .. }) => assert!(e.to_string().contains("LOCK"), "{e}"),
        other => panic!("expected Locked, got {other:?}"),
    }
    // A view keeps the environment, and so the lock, alive after the handle is gone.
    let view = first.snapshot_view();
    drop(first);
    assert!(matches!(LmdbStorage::open(dir.path(), options(false)), Err(OpenError::Locked { .. })));
    drop(view);
    LmdbStorage::open(dir.path(), options(false)).unwrap();
}

#[test]
fn a_corrupt_data_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LmdbStorage::open(dir.path(), options(true)).unwrap();
    put(&mut store, Table::Kv, b"k", b"v");
    let data = store.path().join("data.mdb");
    drop(store);
    let mut bytes = std::fs::read(&data).unwrap();
    // Wipe both meta pages (the first two pages) of the file.
    for b in bytes.iter_mut().take(8192) {
        *b = 0x5a;
    }
    std::fs::write(&data, &bytes).unwrap();
    match LmdbStorage::open(dir.path(), options(false)) {
        Err(e @ OpenError::Corrupt { .. }) => {
            assert!(e.to_string().contains("member/db"), "{e}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Nothing was repaired: the bytes on disk are still the damaged ones.
    assert_eq!(std::fs::read(&data).unwrap(), bytes);
}

#[test]
fn an_environment_without_oxcd_tables_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("member/db");
    std::fs::create_dir_all(&db_dir).unwrap();
    poke_format(&db_dir, b"version", &1u32.to_be_bytes());
    match LmdbStorage::open(dir.path(), options(false)) {
        Err(OpenError::Corrupt { reason, .. }) => assert!(reason.contains("missing"), "{reason}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn an_unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = LmdbStorage::open(dir.path(), options(true)).unwrap();
    let db_dir = store.path();
    drop(store);
    poke_format(&db_dir, b"version", &99u32.to_be_bytes());
    match LmdbStorage::open(dir.path(), options(false)) {
        Err(OpenError::UnknownFormat { found: 99, supported: 1, .. }) => {}
        other => panic!("expected UnknownFormat, got {other:?}"),
    }
}

#[test]
fn another_members_or_clusters_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = LmdbStorage::open(dir.path(), options(true)).unwrap();
    assert_eq!(store.identity(), None);
    store.bootstrap(&identity()).unwrap();
    store.bootstrap(&identity()).unwrap();
    let other = MemberIdentity { member_name: "infra1".to_owned(), ..identity() };
    assert!(matches!(store.bootstrap(&other), Err(WriteError::AlreadyBootstrapped { .. })));
    drop(store);

    let expect = |e: ExpectedIdentity| OpenOptions { expected_identity: e, ..options(false) };
    let wrong_cluster = ExpectedIdentity { cluster_id: Some(0xc2), ..ExpectedIdentity::default() };
    match LmdbStorage::open(dir.path(), expect(wrong_cluster)) {
        Err(e @ OpenError::IdentityMismatch { .. }) => {
            assert!(e.to_string().contains("cluster id is c1, expected c2"), "{e}");
        }
        other => panic!("expected IdentityMismatch, got {other:?}"),
    }
    let wrong_member =
        ExpectedIdentity { member_id: Some(NodeId(7)), ..ExpectedIdentity::default() };
    assert!(matches!(
        LmdbStorage::open(dir.path(), expect(wrong_member)),
        Err(OpenError::IdentityMismatch { .. })
    ));
    let wrong_name =
        ExpectedIdentity { member_name: Some("infra9".to_owned()), ..ExpectedIdentity::default() };
    assert!(matches!(
        LmdbStorage::open(dir.path(), expect(wrong_name)),
        Err(OpenError::IdentityMismatch { .. })
    ));
    let all_right = ExpectedIdentity {
        cluster_id: Some(0xc1),
        member_id: Some(NodeId(0x1d)),
        member_name: Some("infra0".to_owned()),
    };
    let store = LmdbStorage::open(dir.path(), expect(all_right)).unwrap();
    assert_eq!(store.identity(), Some(identity()));
}

#[test]
fn a_malformed_identity_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = LmdbStorage::open(dir.path(), options(true)).unwrap();
    let db_dir = store.path();
    drop(store);
    poke_format(&db_dir, b"identity", b"short");
    assert!(matches!(
        LmdbStorage::open(dir.path(), options(false)),
        Err(OpenError::Corrupt { .. })
    ));
}

#[test]
fn a_file_where_the_member_dir_should_be_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("member"), b"not a dir").unwrap();
    match LmdbStorage::open(dir.path(), options(true)) {
        Err(e @ OpenError::Unusable { .. }) => assert!(e.to_string().contains("member"), "{e}"),
        other => panic!("expected Unusable, got {other:?}"),
    }
}

#[test]
fn invalid_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let odd = OpenOptions { map_size_bytes: 12345, ..options(true) };
    assert!(matches!(LmdbStorage::open(dir.path(), odd), Err(OpenError::InvalidOptions { .. })));
    let small_max = OpenOptions { map_size_max_bytes: 4096, ..options(true) };
    assert!(matches!(
        LmdbStorage::open(dir.path(), small_max),
        Err(OpenError::InvalidOptions { .. })
    ));
}
