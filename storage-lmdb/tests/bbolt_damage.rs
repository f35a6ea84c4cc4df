//! Damaged, truncated, foreign and hand-crafted bbolt files: every one is an error (or, where
//! bbolt itself would recover, a correct read), never a panic, and a failed restore leaves
//! nothing behind.

mod bbolt_fixture;

use oxcd_storage_lmdb::bbolt::format::{
    meta_page, BranchElement, BucketHeader, LeafElement, Meta, PageHeader, BRANCH_PAGE,
    BUCKET_LEAF, ELEMENT_BYTES, FREELIST_PAGE, LEAF_PAGE, META_BYTES, PAGE_HEADER_BYTES, PAGE_SIZE,
};
use oxcd_storage_lmdb::bbolt::{
    bbolt_status, read_bbolt, restore_from_etcd_snapshot, write_bbolt_snapshot, BboltError,
    EtcdRestoreOptions,
};
use oxcd_storage_lmdb::{OpenOptions, SnapshotError};
use std::path::Path;

/// Reads the whole file; `Ok(number of entries)` or the first error.
fn read(path: &Path) -> Result<usize, BboltError> {
    let mut n = 0;
    for entry in read_bbolt(path)? {
        entry?;
        n += 1;
    }
    Ok(n)
}

/// Runs `f` on the file at `path` (holding `bytes`) with byte `at` xored with `flip`, written
/// in place (rewriting whole files thousands of times is slow on some disks).
fn with_flipped<T>(
    path: &Path,
    bytes: &[u8],
    at: usize,
    flip: u8,
    f: impl FnOnce(&Path) -> T,
) -> T {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(&[bytes[at] ^ flip], at as u64).unwrap();
    let out = f(path);
    file.write_all_at(&[bytes[at]], at as u64).unwrap();
    out
}

fn snapshot_bytes() -> Vec<u8> {
    let f = bbolt_fixture::fixture();
    let mut bytes = Vec::new();
    write_bbolt_snapshot(&f.backend, &mut bytes).unwrap();
    bytes
}

fn options() -> OpenOptions {
    OpenOptions { map_size_bytes: 64 << 20, ..OpenOptions::default() }
}

fn err_text(bytes: &[u8], dir: &Path) -> String {
    let path = dir.join("case.db");
    std::fs::write(&path, bytes).unwrap();
    match read(&path) {
        Ok(n) => panic!("a damaged file read as valid ({n} entries)"),
        Err(e) => e.to_string(),
    }
}

/// Page `id` of a db image.
fn page(bytes: &mut [u8], id: usize) -> &mut [u8] {
    &mut bytes[id * PAGE_SIZE..(id + 1) * PAGE_SIZE]
}

fn meta_of(bytes: &[u8], id: usize) -> Meta {
    Meta::decode(&bytes[id * PAGE_SIZE + PAGE_HEADER_BYTES..]).unwrap()
}

fn set_meta(bytes: &mut [u8], id: usize, meta: &Meta) {
    page(bytes, id).copy_from_slice(&meta_page(id as u64, meta));
}

#[test]
fn garbage_of_any_size_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x1234_5678_u64;
    for size in [0usize, 1, 100, 4095, 4096, 8192, 8224, 20_000, 65_536, 65_568] {
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 33) as u8
            })
            .collect();
        let path = dir.path().join(format!("garbage{size}"));
        std::fs::write(&path, &bytes).unwrap();
        assert!(read(&path).is_err(), "size {size}");
        assert!(bbolt_status(&path).is_err(), "size {size}");
        let data_dir = dir.path().join(format!("data{size}"));
        let restored = restore_from_etcd_snapshot(
            &path,
            &data_dir,
            options(),
            EtcdRestoreOptions { skip_hash_check: true },
        );
        assert!(matches!(restored, Err(SnapshotError::Invalid { .. })), "size {size}");
        assert!(!data_dir.join("member").exists(), "a failed restore leaves nothing");
    }
    let missing = read(&dir.path().join("no-such-file")).unwrap_err();
    assert!(matches!(missing, BboltError::Io { .. }), "{missing}");
}

#[test]
fn every_truncation_and_every_flipped_byte_of_a_snapshot_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = snapshot_bytes();
    let db = bytes.len() - 32;
    let mut cuts: Vec<usize> = (0..db).step_by(1021).collect();
    cuts.extend([db - 1, db - PAGE_SIZE, db - PAGE_SIZE + 32, 2 * PAGE_SIZE + 32]);
    for cut in cuts {
        let text = err_text(&bytes[..cut], dir.path());
        assert!(!text.is_empty(), "cut {cut}");
    }
    // Without its trailer (or with part of it) the file is a plain db file: readable, but not
    // restored unless the hash check is skipped, as etcdctl does.
    for cut in [db, db + 1, db + 31] {
        let path = dir.path().join(format!("cut{cut}.db"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let reader = read_bbolt(&path).unwrap();
        assert_eq!(reader.info().sha256_trailer, None);
        assert_eq!(reader.count(), 421);
        let data_dir = dir.path().join(format!("data{cut}"));
        let refused =
            restore_from_etcd_snapshot(&path, &data_dir, options(), EtcdRestoreOptions::default());
        match refused {
            Err(SnapshotError::Invalid { reason }) => assert!(reason.contains("missing hash")),
            other => panic!("{other:?}"),
        }
        assert!(!data_dir.join("member").exists());
        let skip = EtcdRestoreOptions { skip_hash_check: true };
        restore_from_etcd_snapshot(&path, &data_dir, options(), skip).unwrap();
    }
    let path = dir.path().join("flipped.db");
    std::fs::write(&path, &bytes).unwrap();
    for at in (0..bytes.len()).step_by(97) {
        let text = with_flipped(&path, &bytes, at, 0x5a, |p| read(p).unwrap_err().to_string());
        assert!(text.contains("SHA-256") || text.contains("meta"), "byte {at}: {text}");
    }
    // The damaged snapshot is not restored, and nothing is left behind.
    let mut damaged = bytes.clone();
    damaged[3 * PAGE_SIZE + 100] ^= 1;
    let path = dir.path().join("damaged.db");
    std::fs::write(&path, &damaged).unwrap();
    let data_dir = dir.path().join("data");
    let restored =
        restore_from_etcd_snapshot(&path, &data_dir, options(), EtcdRestoreOptions::default());
    assert!(matches!(restored, Err(SnapshotError::Invalid { .. })), "{restored:?}");
    assert!(!data_dir.join("member").exists());
}

#[test]
fn flipped_bytes_of_a_db_without_trailer_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = snapshot_bytes();
    db.truncate(db.len() - 32);
    let (mut ok, mut failed) = (0, 0);
    let path = dir.path().join("flip.db");
    std::fs::write(&path, &db).unwrap();
    for at in (0..db.len()).step_by(23) {
        for flip in [0x01u8, 0xff] {
            match with_flipped(&path, &db, at, flip, read) {
                Ok(_) => ok += 1,
                Err(_) => failed += 1,
            }
        }
    }
    // Flips in padding or inside values read fine; flips in structure are caught.
    assert!(failed > 100 && ok > 100, "ok {ok}, failed {failed}");
}

#[test]
fn broken_structure_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = snapshot_bytes();
    db.truncate(db.len() - 32);
    let pages = db.len() / PAGE_SIZE;
    let meta = meta_of(&db, 0);

    // One bad meta page: bbolt falls back to the other one, and so does the reader.
    let mut one = db.clone();
    page(&mut one, 0)[PAGE_HEADER_BYTES + 40] ^= 1;
    let path = dir.path().join("one.db");
    std::fs::write(&path, &one).unwrap();
    assert_eq!(read(&path).unwrap(), read_ok(&db, dir.path()));
    let mut both = one.clone();
    page(&mut both, 1)[PAGE_HEADER_BYTES] ^= 1;
    assert!(err_text(&both, dir.path()).contains("meta page 0: checksum mismatch"));

    let mut beyond = db.clone();
    let bad = Meta { root: BucketHeader { root: pages as u64 + 5, sequence: 0 }, ..meta };
    set_meta(&mut beyond, 0, &bad);
    set_meta(&mut beyond, 1, &Meta { txid: 0, ..bad });
    assert!(err_text(&beyond, dir.path()).contains("beyond the high-water mark"));

    let mut high = db.clone();
    let bad = Meta { hwm: pages as u64 + 1, ..meta };
    set_meta(&mut high, 0, &bad);
    set_meta(&mut high, 1, &Meta { txid: 0, ..bad });
    assert!(err_text(&high, dir.path()).contains("truncated"));

    // A page appended below a raised high-water mark is a leak bbolt's check reports.
    let mut leak = db.clone();
    leak.extend_from_slice(&vec![0; PAGE_SIZE]);
    PageHeader { id: pages as u64, flags: LEAF_PAGE, count: 0, overflow: 0 }
        .encode(page(&mut leak, pages));
    set_meta(&mut leak, 0, &Meta { hwm: pages as u64 + 1, ..meta });
    set_meta(&mut leak, 1, &Meta { hwm: pages as u64 + 1, txid: 0, ..meta });
    assert!(err_text(&leak, dir.path()).contains("neither reachable nor free"));

    // The key bucket is a tree: find a branch page and damage it.
    let branch = (3..pages)
        .find(|&id| PageHeader::decode(page(&mut db.clone(), id)).unwrap().flags == BRANCH_PAGE)
        .expect("the fixture's key bucket has a branch page");
    let mut twice = db.clone();
    let p = page(&mut twice, branch);
    let first = BranchElement::decode(p, PAGE_HEADER_BYTES);
    let second = BranchElement::decode(p, PAGE_HEADER_BYTES + ELEMENT_BYTES);
    BranchElement { child: first.child, ..second }.encode(p, PAGE_HEADER_BYTES + ELEMENT_BYTES);
    let text = err_text(&twice, dir.path());
    assert!(text.contains("referenced twice") || text.contains("out of order"), "{text}");

    let mut wrong_id = db.clone();
    PageHeader { id: 999, ..PageHeader::decode(page(&mut db.clone(), branch)).unwrap() }
        .encode(page(&mut wrong_id, branch));
    assert!(err_text(&wrong_id, dir.path()).contains("says it is page 999"));

    let mut outside = db.clone();
    let p = page(&mut outside, branch);
    let e = BranchElement::decode(p, PAGE_HEADER_BYTES);
    BranchElement { pos: 1 << 30, ..e }.encode(p, PAGE_HEADER_BYTES);
    assert!(err_text(&outside, dir.path()).contains("past the end of the page"));

    let mut as_meta = db.clone();
    let p = page(&mut as_meta, branch);
    PageHeader { flags: 0x04, ..PageHeader::decode(p).unwrap() }.encode(p);
    assert!(err_text(&as_meta, dir.path()).contains("not a tree page"));
}

fn read_ok(bytes: &[u8], dir: &Path) -> usize {
    let path = dir.join("ok.db");
    std::fs::write(&path, bytes).unwrap();
    read(&path).unwrap()
}

/// A one-leaf root bucket holding `elements` (flags, key, value), as a complete db image.
fn crafted(elements: &[(u32, &[u8], Vec<u8>)]) -> Vec<u8> {
    let meta = Meta {
        page_size: PAGE_SIZE as u32,
        flags: 0,
        root: BucketHeader { root: 3, sequence: 0 },
        freelist: 2,
        hwm: 4,
        txid: 1,
    };
    let mut db = vec![0; 4 * PAGE_SIZE];
    set_meta(&mut db, 0, &meta);
    set_meta(&mut db, 1, &Meta { txid: 0, ..meta });
    PageHeader { id: 2, flags: FREELIST_PAGE, count: 0, overflow: 0 }.encode(page(&mut db, 2));
    let p = page(&mut db, 3);
    PageHeader { id: 3, flags: LEAF_PAGE, count: elements.len() as u16, overflow: 0 }.encode(p);
    let mut data = PAGE_HEADER_BYTES + elements.len() * ELEMENT_BYTES;
    for (i, (flags, key, value)) in elements.iter().enumerate() {
        let at = PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
        LeafElement {
            flags: *flags,
            pos: (data - at) as u32,
            ksize: key.len() as u32,
            vsize: value.len() as u32,
        }
        .encode(p, at);
        p[data..data + key.len()].copy_from_slice(key);
        data += key.len();
        p[data..data + value.len()].copy_from_slice(value);
        data += value.len();
    }
    db
}

/// An inline bucket value holding `elements`.
fn inline_bucket(elements: &[(u32, &[u8], &[u8])]) -> Vec<u8> {
    let mut image = vec![0; PAGE_HEADER_BYTES + elements.len() * ELEMENT_BYTES];
    PageHeader { id: 0, flags: LEAF_PAGE, count: elements.len() as u16, overflow: 0 }
        .encode(&mut image);
    for (i, (flags, key, value)) in elements.iter().enumerate() {
        let at = PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
        let pos = (image.len() - at) as u32;
        LeafElement { flags: *flags, pos, ksize: key.len() as u32, vsize: value.len() as u32 }
            .encode(&mut image, at);
        image.extend_from_slice(key);
        image.extend_from_slice(value);
    }
    let mut value = BucketHeader::default().encode().to_vec();
    value.extend_from_slice(&image);
    value
}

#[test]
fn hand_crafted_files_read_as_bbolt_would() {
    let dir = tempfile::tempdir().unwrap();
    let good = crafted(&[(BUCKET_LEAF, b"key", inline_bucket(&[(0, b"a", b"1"), (0, b"b", b"")]))]);
    assert_eq!(read_ok(&good, dir.path()), 2);
    let empty = crafted(&[]);
    assert_eq!(read_ok(&empty, dir.path()), 0);

    let nested = crafted(&[(
        BUCKET_LEAF,
        b"key",
        inline_bucket(&[(BUCKET_LEAF, b"sub", &inline_bucket(&[]))]),
    )]);
    assert!(err_text(&nested, dir.path()).contains("nested bucket"));
    let plain = crafted(&[(0, b"loose", b"value".to_vec())]);
    assert!(err_text(&plain, dir.path()).contains("is not a bucket"));
    let unordered =
        crafted(&[(BUCKET_LEAF, b"key", inline_bucket(&[(0, b"b", b""), (0, b"a", b"")]))]);
    assert!(err_text(&unordered, dir.path()).contains("out of order"));
    let empty_key = crafted(&[(BUCKET_LEAF, b"key", inline_bucket(&[(0, b"", b"v")]))]);
    assert!(err_text(&empty_key, dir.path()).contains("empty key"));
    let short = crafted(&[(BUCKET_LEAF, b"key", vec![0; 8])]);
    assert!(err_text(&short, dir.path()).contains("truncated"));
    let mut not_leaf = inline_bucket(&[]);
    not_leaf[16 + 8] = BRANCH_PAGE as u8;
    assert!(
        err_text(&crafted(&[(BUCKET_LEAF, b"key", not_leaf)]), dir.path()).contains("not a leaf")
    );
    let self_root =
        crafted(&[(BUCKET_LEAF, b"key", BucketHeader { root: 3, sequence: 0 }.encode().to_vec())]);
    assert!(err_text(&self_root, dir.path()).contains("referenced twice"));
    let meta_root =
        crafted(&[(BUCKET_LEAF, b"key", BucketHeader { root: 1, sequence: 0 }.encode().to_vec())]);
    assert!(err_text(&meta_root, dir.path()).contains("referenced twice"));

    // Freelist: a page both free and in use, and an impossible count.
    let mut free_root = crafted(&[]);
    let p = page(&mut free_root, 2);
    PageHeader { id: 2, flags: FREELIST_PAGE, count: 1, overflow: 0 }.encode(p);
    p[PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + 8].copy_from_slice(&3u64.to_le_bytes());
    assert!(err_text(&free_root, dir.path()).contains("reachable and free"));
    let mut huge = crafted(&[]);
    let p = page(&mut huge, 2);
    PageHeader { id: 2, flags: FREELIST_PAGE, count: 0xFFFF, overflow: 0 }.encode(p);
    p[PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(err_text(&huge, dir.path()).contains("do not fit"));

    // Another format version or page size.
    let mut v1 = crafted(&[]);
    for id in 0..2 {
        let p = page(&mut v1, id);
        p[PAGE_HEADER_BYTES + 4] = 1;
    }
    assert!(err_text(&v1, dir.path()).contains("version 1"));
    let mut odd = crafted(&[]);
    let meta = meta_of(&odd, 0);
    for id in 0..2 {
        let odd_meta = Meta { page_size: 3000, txid: 1 - id as u64, ..meta }.encode();
        page(&mut odd, id)[PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + META_BYTES]
            .copy_from_slice(&odd_meta);
    }
    assert!(err_text(&odd, dir.path()).contains("page size"));
}
