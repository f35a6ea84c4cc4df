//! The in-process member driven by the real `etcd-client` crate over plaintext gRPC: KV, Txn,
//! Watch, leases (unary and the keep-alive stream), Status, MemberList, Snapshot, Defragment,
//! auth, errors with etcd's codes and texts, and a restart that keeps the data.

mod driver_support;

use std::time::Duration;

use driver_support::{tokio_runtime, TestMember, MEMBER_ID, WAIT};
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, LeaseTimeToLiveOptions,
    Permission, PutOptions, Txn, TxnOp, WatchOptions,
};
use oxcd_runtime_mio::driver::StopReason;

fn options() -> ConnectOptions {
    ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(15))
}

fn status(e: etcd_client::Error) -> (tonic::Code, String) {
    match e {
        etcd_client::Error::GRpcStatus(s) => (s.code(), s.message().to_owned()),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f).await.expect("timed out")
}

#[test]
fn kv_txn_watch_lease_status_and_members() {
    let member = TestMember::start(None);
    tokio_runtime().block_on(async {
        let mut c = bounded(Client::connect([member.url()], Some(options()))).await.unwrap();

        let put = c.put("foo", "bar", None).await.unwrap();
        let rev = put.header().unwrap().revision();
        assert!(rev >= 2, "{rev}");
        assert_eq!(put.header().unwrap().member_id(), MEMBER_ID.get());
        let got = c.get("foo", None).await.unwrap();
        assert_eq!(got.kvs()[0].value(), b"bar");
        assert_eq!(got.kvs()[0].mod_revision(), rev);
        c.put("foo2", "x", None).await.unwrap();
        let prefix = c.get("foo", Some(GetOptions::new().with_prefix())).await.unwrap();
        assert_eq!(prefix.count(), 2);
        let del = c.delete("foo2", None).await.unwrap();
        assert_eq!(del.deleted(), 1);

        // Txn: the compare holds, then it does not.
        let txn = Txn::new()
            .when([Compare::value("foo", CompareOp::Equal, "bar")])
            .and_then([TxnOp::put("t", "yes", None)])
            .or_else([TxnOp::put("t", "no", None)]);
        assert!(c.txn(txn.clone()).await.unwrap().succeeded());
        c.put("foo", "changed", None).await.unwrap();
        assert!(!c.txn(txn).await.unwrap().succeeded());
        assert_eq!(c.get("t", None).await.unwrap().kvs()[0].value(), b"no");

        // Watch: created, then one event per put.
        let mut w = c.watch("w", None).await.unwrap();
        let created = bounded(w.message()).await.unwrap().unwrap();
        assert!(created.created());
        c.put("w", "1", None).await.unwrap();
        c.delete("w", None).await.unwrap();
        let mut events = Vec::new();
        while events.len() < 2 {
            let r = bounded(w.message()).await.unwrap().unwrap();
            events.extend(
                r.events().iter().map(|e| (e.event_type(), e.kv().unwrap().key().to_vec())),
            );
        }
        assert_eq!(
            events,
            vec![(EventType::Put, b"w".to_vec()), (EventType::Delete, b"w".to_vec())]
        );
        // A watch from an old revision replays history.
        let mut old =
            c.watch("foo", Some(WatchOptions::new().with_start_revision(rev))).await.unwrap();
        assert!(bounded(old.message()).await.unwrap().unwrap().created());
        let replay = bounded(old.message()).await.unwrap().unwrap();
        assert_eq!(replay.events()[0].kv().unwrap().value(), b"bar");

        // Leases: grant, attach, keep alive on the stream, time to live, revoke.
        let lease = c.lease_grant(30, None).await.unwrap();
        c.put("leased", "v", Some(PutOptions::new().with_lease(lease.id()))).await.unwrap();
        let (mut keeper, mut stream) = c.lease_keep_alive(lease.id()).await.unwrap();
        for _ in 0..2 {
            keeper.keep_alive().await.unwrap();
            let r = bounded(stream.message()).await.unwrap().unwrap();
            assert_eq!((r.id(), r.ttl()), (lease.id(), 30));
        }
        let ttl = c
            .lease_time_to_live(lease.id(), Some(LeaseTimeToLiveOptions::new().with_keys()))
            .await
            .unwrap();
        assert_eq!(ttl.keys(), [b"leased".to_vec()]);
        assert!(ttl.ttl() > 0 && ttl.ttl() <= 30);
        assert_eq!(c.leases().await.unwrap().leases().len(), 1);
        c.lease_revoke(lease.id()).await.unwrap();
        assert_eq!(c.get("leased", None).await.unwrap().count(), 0);
        // A keep-alive of a lease that is gone answers TTL 0 (not an error), as etcd does.
        keeper.keep_alive().await.unwrap();
        let r = bounded(stream.message()).await.unwrap().unwrap();
        assert_eq!(r.ttl(), 0);
        let (code, message) = status(c.lease_revoke(lease.id()).await.unwrap_err());
        assert_eq!(
            (code, message.as_str()),
            (tonic::Code::NotFound, "etcdserver: requested lease not found")
        );

        let st = c.status().await.unwrap();
        assert_eq!(st.leader(), MEMBER_ID.get());
        assert_eq!(st.version(), oxcd_core::node::ETCD_SERVER_VERSION);
        assert!(st.db_size() > 0);
        let members = c.member_list().await.unwrap();
        assert_eq!(members.members().len(), 1);
        assert_eq!(members.members()[0].id(), MEMBER_ID.get());
        assert_eq!(members.members()[0].name(), "default");

        // Errors keep etcd's codes and texts.
        let head = c.put("k", "v", None).await.unwrap().header().unwrap().revision();
        c.compact(head, None).await.unwrap();
        let (code, message) =
            status(c.get("k", Some(GetOptions::new().with_revision(head - 1))).await.unwrap_err());
        assert_eq!(code, tonic::Code::OutOfRange);
        assert_eq!(message, "etcdserver: mvcc: required revision has been compacted");
        let (code, message) = status(c.put("", "v", None).await.unwrap_err());
        assert_eq!(
            (code, message.as_str()),
            (tonic::Code::InvalidArgument, "etcdserver: key is not provided")
        );
    });
}

#[test]
fn snapshot_defragment_and_restart() {
    let member = TestMember::start(None);
    tokio_runtime().block_on(async {
        let mut c = bounded(Client::connect([member.url()], Some(options()))).await.unwrap();
        let value = vec![b'x'; 10_000];
        for i in 0..20 {
            c.put(format!("big{i}"), value.clone(), None).await.unwrap();
        }
        let mut snap = c.snapshot().await.unwrap();
        let mut bytes = Vec::new();
        let mut last_remaining = None;
        let mut messages = 0;
        while let Some(m) = bounded(snap.message()).await.unwrap() {
            assert!(m.blob().len() <= 32 * 1024);
            bytes.extend_from_slice(m.blob());
            last_remaining = Some(m.remaining_bytes());
            messages += 1;
        }
        assert!(messages > 1, "{messages} messages");
        assert_eq!(last_remaining, Some(0));
        assert!(bytes.len() > 200_000, "{} bytes", bytes.len());
        // etcd's format: a bbolt file whose `key` bucket holds the puts, then its SHA-256.
        let file = member.dir.path().join("streamed.snap");
        std::fs::write(&file, &bytes).unwrap();
        assert!(oxcd_storage_lmdb::bbolt::is_bbolt_file(&file).unwrap(), "not a bbolt file");
        let status = oxcd_storage_lmdb::bbolt::bbolt_status(&file).unwrap();
        assert_eq!(status.revision, 21, "20 puts after the first revision");
        assert!(status.total_keys > 20);
        assert_eq!(status.total_size + 32, bytes.len() as u64, "database then a SHA-256");

        for i in 0..20 {
            c.delete(format!("big{i}"), None).await.unwrap();
        }
        c.defragment().await.unwrap();
        c.put("after", "restart", None).await.unwrap();
    });
    let (reason, dir) = member.stop();
    assert_eq!(reason, StopReason::Requested);
    let member = TestMember::start_in(dir, None);
    tokio_runtime().block_on(async {
        let mut c = bounded(Client::connect([member.url()], Some(options()))).await.unwrap();
        assert_eq!(c.get("after", None).await.unwrap().kvs()[0].value(), b"restart");
        assert_eq!(c.get("big", Some(GetOptions::new().with_prefix())).await.unwrap().count(), 0);
    });
}

#[test]
fn auth_passwords_tokens_and_admin_checks() {
    let member = TestMember::start(None);
    tokio_runtime().block_on(async {
        let mut c = bounded(Client::connect([member.url()], Some(options()))).await.unwrap();
        c.user_add("root", "rootpw", None).await.unwrap();
        c.user_grant_role("root", "root").await.unwrap();
        c.user_add("alice", "alicepw", None).await.unwrap();
        c.role_add("reader").await.unwrap();
        c.role_grant_permission("reader", Permission::read("pub").with_prefix()).await.unwrap();
        c.user_grant_role("alice", "reader").await.unwrap();
        c.put("pub/a", "1", None).await.unwrap();
        c.put("secret", "s", None).await.unwrap();
        c.auth_enable().await.unwrap();

        let (code, message) = status(c.get("pub/a", None).await.unwrap_err());
        assert_eq!(code, tonic::Code::InvalidArgument, "{message}");

        let bad =
            Client::connect([member.url()], Some(options().with_user("alice", "wrong"))).await;
        let (code, message) = status(bad.err().expect("a wrong password is refused"));
        assert_eq!(code, tonic::Code::InvalidArgument);
        assert_eq!(message, "etcdserver: authentication failed, invalid user ID or password");

        let mut alice =
            Client::connect([member.url()], Some(options().with_user("alice", "alicepw")))
                .await
                .unwrap();
        assert_eq!(alice.get("pub/a", None).await.unwrap().kvs()[0].value(), b"1");
        let (code, message) = status(alice.get("secret", None).await.unwrap_err());
        assert_eq!(
            (code, message.as_str()),
            (tonic::Code::PermissionDenied, "etcdserver: permission denied")
        );
        // Snapshot and Defragment need root.
        let denied = match alice.snapshot().await {
            Err(e) => status(e),
            Ok(mut s) => status(bounded(s.message()).await.unwrap_err()),
        };
        assert_eq!(denied.0, tonic::Code::PermissionDenied);
        assert_eq!(status(alice.defragment().await.unwrap_err()).0, tonic::Code::PermissionDenied);

        let mut root = Client::connect([member.url()], Some(options().with_user("root", "rootpw")))
            .await
            .unwrap();
        root.defragment().await.unwrap();
        assert_eq!(root.get("secret", None).await.unwrap().kvs()[0].value(), b"s");
        root.user_change_password("alice", "newpw").await.unwrap();
        let mut alice2 =
            Client::connect([member.url()], Some(options().with_user("alice", "newpw")))
                .await
                .unwrap();
        assert_eq!(alice2.get("pub/a", None).await.unwrap().count(), 1);
        root.auth_disable().await.unwrap();
    });
}

#[test]
fn etcd_client_over_tls_with_client_certificate_users() {
    use driver_support::{Pki, TlsSetup};
    use etcd_client::{Certificate, Identity, TlsOptions};
    let tls = TlsSetup { pki: Pki::new(), client_cert_auth: true };
    let member = TestMember::start(Some(&tls));
    let url = format!("https://{}", member.addr);
    let tls_options = |cn: &str| {
        TlsOptions::new()
            .ca_certificate(Certificate::from_pem(tls.pki.pem("ca.pem")))
            .identity(Identity::from_pem(
                tls.pki.pem(&format!("{cn}.pem")),
                tls.pki.pem(&format!("{cn}-key.pem")),
            ))
            .domain_name("127.0.0.1")
    };
    tokio_runtime().block_on(async {
        let mut root =
            bounded(Client::connect([url.clone()], Some(options().with_tls(tls_options("root")))))
                .await
                .unwrap();
        root.put("secure", "1", None).await.unwrap();
        assert_eq!(root.get("secure", None).await.unwrap().kvs()[0].value(), b"1");
        let mut w = root.watch("secure", None).await.unwrap();
        assert!(bounded(w.message()).await.unwrap().unwrap().created());
        root.put("secure", "2", None).await.unwrap();
        let ev = bounded(w.message()).await.unwrap().unwrap();
        assert_eq!(ev.events()[0].kv().unwrap().value(), b"2");

        // With auth on, the certificate's CN names the user.
        root.user_add("root", "x", None).await.unwrap();
        root.user_grant_role("root", "root").await.unwrap();
        root.user_add("alice", "y", None).await.unwrap();
        root.auth_enable().await.unwrap();
        assert_eq!(root.get("secure", None).await.unwrap().count(), 1);
        let mut alice =
            bounded(Client::connect([url.clone()], Some(options().with_tls(tls_options("alice")))))
                .await
                .unwrap();
        let (code, _) = status(alice.get("secure", None).await.unwrap_err());
        assert_eq!(code, tonic::Code::PermissionDenied);
        root.auth_disable().await.unwrap();
        assert_eq!(alice.get("secure", None).await.unwrap().count(), 1);
    });
}
