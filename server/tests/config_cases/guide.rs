//! The command lines of the "bootstrap a TLS etcd cluster" guides, with `etcd` replaced by
//! `oxcd`, parsed into the expected configuration.

use crate::config::{
    AuthToken, AutoCompaction, ClusterId, ClusterState, LogLevel, Runtime, TlsVersion,
};
use crate::support::{parse, parse_env, urls, TempDir};
use std::path::PathBuf;
use std::time::Duration;

struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new();
        for f in ["ca.crt", "server.crt", "server.key", "peer.crt", "peer.key"] {
            dir.file(&format!("pki/{f}"), "-----BEGIN PLACEHOLDER-----\n");
        }
        Pki { dir }
    }

    fn path(&self, f: &str) -> String {
        self.dir.path().join("pki").join(f).to_str().unwrap().to_string()
    }
}

/// One member of the three-member cluster, in the style of the Kubernetes HA etcd guide.
fn member_args(pki: &Pki, name: &str, ip: &str) -> Vec<String> {
    let mut a: Vec<String> = [
        "--name",
        name,
        "--data-dir",
        "/var/lib/etcd",
        "--listen-peer-urls",
        &format!("https://{ip}:2380"),
        "--listen-client-urls",
        &format!("https://{ip}:2379,https://127.0.0.1:2379"),
        "--advertise-client-urls",
        &format!("https://{ip}:2379"),
        "--initial-advertise-peer-urls",
        &format!("https://{ip}:2380"),
        "--initial-cluster",
        "infra0=https://127.0.1.1:2380,infra1=https://127.0.1.2:2380,infra2=https://127.0.1.3:2380",
        "--initial-cluster-token",
        "etcd-cluster-1",
        "--initial-cluster-state",
        "new",
        "--client-cert-auth",
        "--peer-client-cert-auth",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (flag, file) in [
        ("--cert-file", "server.crt"),
        ("--key-file", "server.key"),
        ("--trusted-ca-file", "ca.crt"),
        ("--peer-cert-file", "peer.crt"),
        ("--peer-key-file", "peer.key"),
        ("--peer-trusted-ca-file", "ca.crt"),
    ] {
        a.push(flag.to_string());
        a.push(pki.path(file));
    }
    a
}

#[test]
fn three_member_tls_cluster_from_the_guide() {
    let pki = Pki::new();
    // Member ids and the cluster id etcd 3.4.23 printed for exactly this --initial-cluster and
    // token ("added member ... to cluster 292a09df5436b656").
    let expected = [
        ("infra0", "127.0.1.1", "eb148951535653ec"),
        ("infra1", "127.0.1.2", "90dc2295b68b2ff3"),
        ("infra2", "127.0.1.3", "492facc0192f964"),
    ];
    for (name, ip, id) in expected {
        let args = member_args(&pki, name, ip);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let c = parse(&args).unwrap_or_else(|e| panic!("{name}: {e}"));

        assert_eq!(c.member.name, name);
        assert_eq!(c.member.data_dir, PathBuf::from("/var/lib/etcd"));
        assert_eq!(urls(&c.member.listen_peer_urls), [format!("https://{ip}:2380")]);
        // Sorted as etcd sorts them.
        assert_eq!(
            urls(&c.member.listen_client_urls),
            [format!("https://{ip}:2379"), String::from("https://127.0.0.1:2379")]
                .iter()
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
        assert_eq!(urls(&c.cluster.advertise_client_urls), [format!("https://{ip}:2379")]);
        assert_eq!(urls(&c.cluster.initial_advertise_peer_urls), [format!("https://{ip}:2380")]);
        assert_eq!(c.cluster.initial_cluster.len(), 3);
        assert_eq!(
            c.cluster.initial_cluster.to_string(),
            "infra0=https://127.0.1.1:2380,infra1=https://127.0.1.2:2380,infra2=https://127.0.1.3:2380"
        );
        assert_eq!(c.cluster.initial_cluster_token, "etcd-cluster-1");
        assert_eq!(c.cluster.initial_cluster_state, ClusterState::New);

        assert_eq!(c.client_tls.cert_file, Some(PathBuf::from(pki.path("server.crt"))));
        assert_eq!(c.client_tls.key_file, Some(PathBuf::from(pki.path("server.key"))));
        assert_eq!(c.client_tls.trusted_ca_file, Some(PathBuf::from(pki.path("ca.crt"))));
        assert!(c.client_tls.client_cert_auth);
        assert!(!c.client_tls.auto_tls);
        assert_eq!(c.peer_tls.cert_file, Some(PathBuf::from(pki.path("peer.crt"))));
        assert_eq!(c.peer_tls.key_file, Some(PathBuf::from(pki.path("peer.key"))));
        assert_eq!(c.peer_tls.trusted_ca_file, Some(PathBuf::from(pki.path("ca.crt"))));
        assert!(c.peer_tls.client_cert_auth);
        assert_eq!(c.tls.min_version, TlsVersion::Tls12);

        // Everything else keeps etcd's defaults.
        assert_eq!(c.member.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(c.member.election_timeout, Duration::from_millis(1000));
        assert_eq!(c.member.snapshot_count, 100_000);
        assert_eq!(c.member.quota_backend_bytes, Some(2 * 1024 * 1024 * 1024));
        assert_eq!(c.member.max_txn_ops, 128);
        assert_eq!(c.member.max_request_bytes, 1_572_864);
        assert_eq!(c.member.auto_compaction, AutoCompaction::Disabled);
        assert_eq!(c.auth.token, AuthToken::Simple);
        assert_eq!(c.auth.bcrypt_cost, 10);
        assert_eq!(c.auth.token_ttl, Duration::from_secs(300));
        assert_eq!(c.log.level, LogLevel::Info);
        assert_eq!(c.runtime, Runtime::Mio);
        assert!(c.ignored.is_empty());
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);

        let d = c.derived();
        assert_eq!(d.local_member_id.map(|i| format!("{:x}", i.get())).as_deref(), Some(id));
        assert_eq!(d.cluster_id, Some(ClusterId(0x292a_09df_5436_b656)));
        assert_eq!(d.election_ticks, 10);
        let ids: Vec<String> =
            d.initial_members.iter().map(|m| format!("{}={:x}", m.name, m.id.get())).collect();
        assert_eq!(
            ids,
            ["infra2=492facc0192f964", "infra1=90dc2295b68b2ff3", "infra0=eb148951535653ec"]
        );
    }
}

#[test]
fn the_same_member_from_environment_variables_only() {
    // The guides' EnvironmentFile= form: every flag as ETCD_*.
    let pki = Pki::new();
    let args = member_args(&pki, "infra1", "127.0.1.2");
    let mut env: Vec<(String, String)> = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(flag) = it.next() {
        let name = flag.trim_start_matches('-');
        let key = format!("ETCD_{}", name.to_uppercase().replace('-', "_"));
        let value = if name.ends_with("cert-auth") {
            String::from("true")
        } else {
            it.next().unwrap().clone()
        };
        env.push((key, value));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let from_env = parse_env(&[], &env).unwrap();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let from_flags = parse(&args).unwrap();
    assert_eq!(from_env, from_flags);
}

#[test]
fn kubeadm_static_pod_flags() {
    // The flag set kubeadm writes into /etc/kubernetes/manifests/etcd.yaml (single member).
    let pki = Pki::new();
    let args = [
        "--advertise-client-urls=https://127.0.1.1:2379".to_string(),
        format!("--cert-file={}", pki.path("server.crt")),
        "--client-cert-auth=true".to_string(),
        "--data-dir=/var/lib/etcd".to_string(),
        "--experimental-initial-corrupt-check=true".to_string(),
        "--experimental-watch-progress-notify-interval=5s".to_string(),
        "--initial-advertise-peer-urls=https://127.0.1.1:2380".to_string(),
        "--initial-cluster=node1=https://127.0.1.1:2380".to_string(),
        format!("--key-file={}", pki.path("server.key")),
        "--listen-client-urls=https://127.0.0.1:2379,https://127.0.1.1:2379".to_string(),
        "--listen-metrics-urls=http://127.0.0.1:2381".to_string(),
        "--listen-peer-urls=https://127.0.1.1:2380".to_string(),
        "--name=node1".to_string(),
        format!("--peer-cert-file={}", pki.path("peer.crt")),
        "--peer-client-cert-auth=true".to_string(),
        format!("--peer-key-file={}", pki.path("peer.key")),
        format!("--peer-trusted-ca-file={}", pki.path("ca.crt")),
        "--snapshot-count=10000".to_string(),
        format!("--trusted-ca-file={}", pki.path("ca.crt")),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = parse(&args).unwrap();
    assert!(c.experimental.initial_corrupt_check);
    assert_eq!(c.experimental.watch_progress_notify_interval, Duration::from_secs(5));
    assert_eq!(urls(&c.metrics.listen_urls), ["http://127.0.0.1:2381"]);
    assert_eq!(c.member.snapshot_count, 10_000);
    assert!(c.derived().local_member_id.is_some());
}
