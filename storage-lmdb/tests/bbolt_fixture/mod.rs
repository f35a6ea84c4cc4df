//! A member's state machine with a bit of everything, and the etcd buckets it must become.

#![allow(dead_code)]

use oxcd_core::backend::{MemBackend, Table, WriteBatch};
use oxcd_core::codec;
use oxcd_core::ids::{LogIndex, NodeId, Term};
use oxcd_core::lease::LeaseRecord;
use oxcd_core::membership::Member;
use oxcd_core::mvcc::crc32c::Crc32c;
use oxcd_core::mvcc::revision::{BucketKey, KvRevision};
use oxcd_proto::authpb::{permission, Permission, Role, User};
use oxcd_proto::mvccpb::KeyValue;
use prost::Message;
use std::collections::BTreeMap;

pub const ROOT_PASSWORD: &str = "rootpw";
pub const ALICE_PASSWORD: &str = "alicepw";
pub const LEASE_ID: i64 = 0x1234_5678;
/// Keys `bulk/0000`.. written one per revision: enough for multi-page trees.
pub const BULK_KEYS: i64 = 400;
/// A value larger than a page: an overflow page.
pub const BIG_VALUE_BYTES: usize = 10_000;
pub const COMPACTED_AT: i64 = 3;

/// etcd's buckets as (name → key → value).
pub type Buckets = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

pub struct Fixture {
    pub backend: MemBackend,
    /// What the bbolt file must hold, every bucket listed (empty ones too).
    pub buckets: Buckets,
    /// The last revision.
    pub revision: i64,
}

pub fn bcrypt_hash(password: &str) -> Vec<u8> {
    bcrypt::hash_with_result(password, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA)
        .into_bytes()
}

fn kv(key: &[u8], create: i64, modified: i64, version: i64, value: &[u8], lease: i64) -> KeyValue {
    KeyValue {
        key: key.to_vec(),
        create_revision: create,
        mod_revision: modified,
        version,
        value: value.to_vec(),
        lease,
    }
}

pub fn big_value() -> Vec<u8> {
    (0..BIG_VALUE_BYTES).map(|i| b'a' + (i % 26) as u8).collect()
}

impl Fixture {
    fn put(&mut self, batch: &mut WriteBatch, rev: (i64, i64), tomb: bool, kv: &KeyValue) {
        let key = BucketKey { rev: KvRevision::new(rev.0, rev.1), tombstone: tomb }.to_vec();
        let value = kv.encode_to_vec();
        batch.put(Table::Kv, key.clone(), value.clone());
        self.bucket("key").insert(key, value);
    }

    pub fn bucket(&mut self, name: &str) -> &mut BTreeMap<Vec<u8>, Vec<u8>> {
        self.buckets.get_mut(name).unwrap()
    }

    /// etcdctl's snapshot status hash over [`Fixture::buckets`].
    pub fn expected_hash(&self) -> u32 {
        let mut crc = Crc32c::new();
        for (name, records) in &self.buckets {
            crc.update(name.as_bytes());
            for (k, v) in records {
                crc.update(k);
                crc.update(v);
            }
        }
        crc.finish()
    }

    pub fn expected_keys(&self) -> u64 {
        self.buckets.values().map(|b| b.len() as u64).sum()
    }
}

/// The store: keys with history, a tombstone, a compaction at 3, a two-change transaction, a
/// leased key, a big value, many small keys; a lease; auth on with root and alice; two members
/// and a removed one; the applied index.
pub fn fixture() -> Fixture {
    let names = [
        "alarm",
        "auth",
        "authRoles",
        "authUsers",
        "cluster",
        "key",
        "lease",
        "members",
        "members_removed",
        "meta",
    ];
    let mut f = Fixture {
        backend: MemBackend::new(),
        buckets: names.iter().map(|n| ((*n).to_owned(), BTreeMap::new())).collect(),
        revision: 0,
    };
    let mut b = WriteBatch::default();
    // Revision 2 (foo=bar) was compacted away; 3 overwrote it.
    f.put(&mut b, (3, 0), false, &kv(b"foo", 2, 3, 2, b"baz", 0));
    f.put(&mut b, (4, 0), false, &kv(b"k2", 4, 4, 1, b"v2", 0));
    // etcd stores a tombstone as the key alone.
    f.put(&mut b, (5, 0), true, &kv(b"k2", 0, 0, 0, b"", 0));
    f.put(&mut b, (6, 0), false, &kv(b"leased", 6, 6, 1, b"x", LEASE_ID));
    f.put(&mut b, (7, 0), false, &kv(b"/a1", 7, 7, 1, b"in-range", 0));
    f.put(&mut b, (7, 1), false, &kv(b"/z", 7, 7, 1, b"out-of-range", 0));
    f.put(&mut b, (8, 0), false, &kv(b"big", 8, 8, 1, &big_value(), 0));
    for i in 0..BULK_KEYS {
        let rev = 9 + i;
        let key = format!("bulk/{i:04}");
        f.put(&mut b, (rev, 0), false, &kv(key.as_bytes(), rev, rev, 1, &[b'v'; 100], 0));
    }
    f.revision = 8 + BULK_KEYS;
    let mark = BucketKey { rev: KvRevision::new(COMPACTED_AT, 0), tombstone: false }.to_vec();
    for key in [&b"finishedCompactRev"[..], b"scheduledCompactRev"] {
        b.put(Table::Meta, key.to_vec(), mark.clone());
        f.bucket("meta").insert(key.to_vec(), mark.clone());
    }
    b.put(Table::Meta, b"node.applied".to_vec(), codec::encode(&(LogIndex(420), Term(3))));
    f.bucket("meta").insert(b"consistent_index".to_vec(), 420u64.to_be_bytes().to_vec());

    let lease = LeaseRecord { id: LEASE_ID, ttl: 600, remaining_ttl: 0 }.to_bytes();
    let lease_key = (LEASE_ID as u64).to_be_bytes().to_vec();
    b.put(Table::Lease, lease_key.clone(), lease.clone());
    f.bucket("lease").insert(lease_key, lease);

    let r1 = Role {
        name: b"r1".to_vec(),
        key_permission: vec![Permission {
            perm_type: permission::Type::Readwrite as i32,
            key: b"/a".to_vec(),
            range_end: b"/b".to_vec(),
        }],
    };
    let root_role = Role { name: b"root".to_vec(), key_permission: Vec::new() };
    let root = User {
        name: b"root".to_vec(),
        password: bcrypt_hash(ROOT_PASSWORD),
        roles: vec!["root".into()],
        options: None,
    };
    let alice = User {
        name: b"alice".to_vec(),
        password: bcrypt_hash(ALICE_PASSWORD),
        roles: vec!["r1".into()],
        options: None,
    };
    for (prefix, bucket, name, value) in [
        ("role/", "authRoles", "r1", r1.encode_to_vec()),
        ("role/", "authRoles", "root", root_role.encode_to_vec()),
        ("user/", "authUsers", "alice", alice.encode_to_vec()),
        ("user/", "authUsers", "root", root.encode_to_vec()),
    ] {
        b.put(Table::Auth, format!("{prefix}{name}").into_bytes(), value.clone());
        f.bucket(bucket).insert(name.as_bytes().to_vec(), value);
    }
    b.put(Table::Auth, b"enabled".to_vec(), vec![1]);
    b.put(Table::Auth, b"revision".to_vec(), 9u64.to_be_bytes().to_vec());
    f.bucket("auth").insert(b"authEnabled".to_vec(), vec![1]);
    f.bucket("auth").insert(b"authRevision".to_vec(), 9u64.to_be_bytes().to_vec());

    let members = [
        (
            Member {
                id: NodeId(0x9),
                name: "n9".into(),
                peer_urls: vec!["https://10.0.0.9:2380".into()],
                client_urls: vec!["https://10.0.0.9:2379".into()],
                is_learner: false,
            },
            r#"{"id":9,"peerURLs":["https://10.0.0.9:2380"],"name":"n9","clientURLs":["https://10.0.0.9:2379"]}"#,
        ),
        (
            Member {
                id: NodeId(0x10),
                name: String::new(),
                peer_urls: vec!["https://10.0.0.16:2380".into()],
                client_urls: Vec::new(),
                is_learner: true,
            },
            r#"{"id":16,"peerURLs":["https://10.0.0.16:2380"],"isLearner":true}"#,
        ),
    ];
    for (m, json) in members {
        let mut key = vec![b'm'];
        key.extend_from_slice(&m.id.0.to_be_bytes());
        b.put(Table::Members, key, codec::encode(&m));
        // Hex keys sort "10" before "9".
        f.bucket("members").insert(format!("{:x}", m.id.0).into_bytes(), json.as_bytes().to_vec());
    }
    let mut removed = vec![b'r'];
    removed.extend_from_slice(&0xabcu64.to_be_bytes());
    b.put(Table::Members, removed, Vec::new());
    f.bucket("members_removed").insert(b"abc".to_vec(), b"removed".to_vec());
    f.bucket("cluster").insert(b"clusterVersion".to_vec(), b"3.4.0".to_vec());
    f.backend.apply(&b);
    f
}

/// Every bucket inline and close to the 1 KiB inline limit, so that the root bucket's leaf
/// spans several pages (a root branch) and each bucket stays inline.
pub fn crowded() -> MemBackend {
    let backend = MemBackend::new();
    let mut b = WriteBatch::default();
    for i in 0..9u64 {
        let mut key = b"alarm/".to_vec();
        key.extend_from_slice(&(1000 + i).to_be_bytes());
        key.extend_from_slice(&1i32.to_be_bytes());
        b.put(Table::Meta, key, codec::encode(&(1000 + i, 1i32)));
    }
    for i in 0..4 {
        let role = Role { name: format!("role{i}").into_bytes(), key_permission: Vec::new() };
        let mut role = role;
        role.key_permission.push(Permission {
            perm_type: 0,
            key: vec![b'k'; 180],
            range_end: Vec::new(),
        });
        b.put(Table::Auth, format!("role/role{i}").into_bytes(), role.encode_to_vec());
        let user = User {
            name: format!("user{i}").into_bytes(),
            password: vec![b'p'; 180],
            roles: Vec::new(),
            options: None,
        };
        b.put(Table::Auth, format!("user/user{i}").into_bytes(), user.encode_to_vec());
    }
    for i in 0..4 {
        let k = kv(format!("key{i}").as_bytes(), i + 2, i + 2, 1, &[b'x'; 170], 0);
        b.put(
            Table::Kv,
            BucketKey { rev: KvRevision::new(i + 2, 0), tombstone: false }.to_vec(),
            k.encode_to_vec(),
        );
        let lease = LeaseRecord { id: 100 + i, ttl: 60, remaining_ttl: 0 };
        b.put(Table::Lease, (lease.id as u64).to_be_bytes().to_vec(), lease.to_bytes());
    }
    for i in 0..5u64 {
        let m = Member {
            id: NodeId(0x100 + i),
            name: format!("member-{i}"),
            peer_urls: vec![
                format!("https://10.0.0.{i}:2380"),
                format!("https://[fd00::{i}]:2380"),
            ],
            client_urls: vec![format!("https://10.0.0.{i}:2379")],
            is_learner: false,
        };
        let mut key = vec![b'm'];
        key.extend_from_slice(&m.id.0.to_be_bytes());
        b.put(Table::Members, key, codec::encode(&m));
        let mut removed = vec![b'r'];
        removed.extend_from_slice(&(0x1000 + i).to_be_bytes());
        b.put(Table::Members, removed, Vec::new());
    }
    b.put(Table::Meta, b"node.applied".to_vec(), codec::encode(&(LogIndex(7), Term(1))));
    b.put(Table::Auth, b"revision".to_vec(), 1u64.to_be_bytes().to_vec());
    backend.apply(&b);
    backend
}
