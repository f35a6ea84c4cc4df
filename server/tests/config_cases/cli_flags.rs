//! Each flag family from the command line.

use crate::config::{
    AutoCompaction, ClusterState, Config, LogLevel, Runtime, TlsVersion, UrlScheme,
};
use crate::support::{parse, urls, TempDir};
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn no_flags_gives_etcds_defaults_with_oxcd_data_dir() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.member.name, "default");
    assert_eq!(c.member.data_dir, PathBuf::from("default.oxcd"));
    assert_eq!(urls(&c.member.listen_peer_urls), ["http://localhost:2380"]);
    assert_eq!(urls(&c.member.listen_client_urls), ["http://localhost:2379"]);
    assert_eq!(urls(&c.cluster.advertise_client_urls), ["http://localhost:2379"]);
    assert_eq!(c.cluster.initial_cluster.to_string(), "default=http://localhost:2380");
    assert_eq!(c.cluster.initial_cluster_token, "etcd-cluster");
    assert_eq!(c.member.quota_backend_bytes, Some(2 << 30));
    assert_eq!(c, Config::default());
    let ids = c.derived();
    assert_eq!(format!("{:x}", ids.local_member_id.unwrap().get()), "8e9e05c52164694d");
    assert_eq!(ids.cluster_id.unwrap().to_string(), "cdf818194e3a8c32");
}

#[test]
fn member_flags() {
    let c = parse(&[
        "--name=m1",
        "--wal-dir",
        "/wal",
        "--snapshot-count",
        "5000",
        "--heartbeat-interval",
        "50",
        "--election-timeout",
        "500",
        "--initial-election-tick-advance=false",
        "--max-snapshots",
        "0",
        "--max-wals",
        "3",
        "--quota-backend-bytes",
        "8589934592",
        "--max-txn-ops",
        "1024",
        "--max-request-bytes",
        "10485760",
        "--max-concurrent-streams",
        "100",
        "--grpc-keepalive-min-time",
        "10s",
        "--grpc-keepalive-interval",
        "1h",
        "--grpc-keepalive-timeout",
        "0",
        "--socket-reuse-port",
        "--socket-reuse-address",
        "--strict-reconfig-check=false",
        "--pre-vote=false",
        "--enable-grpc-gateway=false",
        "--unsafe-no-fsync",
        "--force-new-cluster",
        "--raft-read-timeout=10s",
        "--raft-write-timeout=1s",
    ])
    .unwrap();
    let m = &c.member;
    assert_eq!(m.data_dir, PathBuf::from("m1.oxcd"), "the default data dir follows --name");
    assert_eq!(m.wal_dir, Some(PathBuf::from("/wal")));
    assert_eq!(m.snapshot_count, 5000);
    assert_eq!(m.heartbeat_interval, Duration::from_millis(50));
    assert_eq!(m.election_timeout, Duration::from_millis(500));
    assert!(!m.initial_election_tick_advance);
    assert_eq!((m.max_snapshots, m.max_wals), (0, 3));
    assert_eq!(m.quota_backend_bytes, Some(8 << 30));
    assert_eq!(
        (m.max_txn_ops, m.max_request_bytes, m.max_concurrent_streams),
        (1024, 10 << 20, 100)
    );
    assert_eq!(m.grpc_keepalive_min_time, Duration::from_secs(10));
    assert_eq!(m.grpc_keepalive_interval, Duration::from_secs(3600));
    assert_eq!(m.grpc_keepalive_timeout, Duration::ZERO);
    assert!(m.socket_reuse_port && m.socket_reuse_address);
    assert!(!m.strict_reconfig_check && !m.pre_vote && !m.enable_grpc_gateway);
    assert!(m.unsafe_no_fsync && m.force_new_cluster);
    assert_eq!(m.raft_read_timeout, Duration::from_secs(10));
    assert_eq!(m.raft_write_timeout, Duration::from_secs(5), "raised to etcd's minimum");
    assert!(c.warnings.iter().any(|w| w.contains("--raft-write-timeout increased")));
    assert_eq!(c.derived().election_ticks, 10);
    // --name alone: the initial cluster becomes name=advertised peer URLs, as in etcd.
    assert_eq!(c.cluster.initial_cluster.to_string(), "m1=http://localhost:2380");
}

#[test]
fn quota_rules() {
    assert_eq!(
        parse(&["--quota-backend-bytes=0"]).unwrap().member.quota_backend_bytes,
        Some(2 << 30)
    );
    let negative = parse(&["--quota-backend-bytes=-1"]).unwrap();
    assert_eq!(negative.member.quota_backend_bytes, None);
    assert!(negative.warnings.iter().any(|w| w.contains("disabled backend quota")));
    let big = parse(&["--quota-backend-bytes=0x300000000"]).unwrap();
    assert_eq!(big.member.quota_backend_bytes, Some(12 << 30));
    assert!(big.warnings.iter().any(|w| w.contains("exceeds the maximum")));
}

#[test]
fn auto_compaction() {
    let c = |a: &[&str]| parse(a).unwrap().member.auto_compaction;
    assert_eq!(
        c(&["--auto-compaction-retention=1"]),
        AutoCompaction::Periodic(Duration::from_secs(3600))
    );
    assert_eq!(
        c(&["--auto-compaction-retention=30m"]),
        AutoCompaction::Periodic(Duration::from_secs(1800))
    );
    assert_eq!(
        c(&["--auto-compaction-mode=revision", "--auto-compaction-retention=1000"]),
        AutoCompaction::Revision(1000)
    );
    assert_eq!(c(&["--auto-compaction-retention=0"]), AutoCompaction::Disabled);
}

#[test]
fn clustering_flags() {
    let c = parse(&[
        "--name",
        "b",
        "--listen-peer-urls",
        "http://127.0.0.2:2380",
        "--initial-advertise-peer-urls",
        "http://127.0.0.2:2380,http://localhost:12380",
        "--initial-cluster",
        "a=http://127.0.0.1:2380,b=http://localhost:12380,b=http://127.0.0.2:2380",
        "--initial-cluster-state",
        "existing",
        "--initial-cluster-token",
        "tok",
        "--listen-client-urls",
        "http://127.0.0.2:2379",
        "--advertise-client-urls",
        "http://127.0.0.2:2379",
    ])
    .unwrap();
    assert_eq!(c.cluster.initial_cluster_state, ClusterState::Existing);
    assert_eq!(c.cluster.initial_cluster_token, "tok");
    let b: Vec<&str> =
        c.cluster.initial_cluster.get("b").unwrap().iter().map(|u| u.as_str()).collect();
    assert_eq!(b, ["http://127.0.0.2:2380", "http://localhost:12380"]);
    let d = c.derived();
    assert_eq!(d.initial_members.len(), 2);
    assert_eq!(d.local_member_id, None, "joining members learn their id from the cluster");
    assert_eq!(d.cluster_id, None);
}

#[test]
fn security_flags() {
    let dir = TempDir::new();
    let f = |n: &str| dir.file(n, "x");
    let (cert, key, ca, crl, ccert, ckey) =
        (f("c.crt"), f("c.key"), f("ca.crt"), f("crl.pem"), f("cc.crt"), f("cc.key"));
    let c = parse(&[
        "--listen-client-urls",
        "https://127.0.0.1:2379,unixs://localhost:23790",
        "--advertise-client-urls",
        "https://127.0.0.1:2379",
        "--listen-peer-urls",
        "https://127.0.0.1:2380",
        "--initial-advertise-peer-urls",
        "https://127.0.0.1:2380",
        "--initial-cluster",
        "default=https://127.0.0.1:2380",
        "--cert-file",
        &cert,
        "--key-file",
        &key,
        "--client-cert-file",
        &ccert,
        "--client-key-file",
        &ckey,
        "--client-cert-auth=true",
        "--trusted-ca-file",
        &ca,
        "--client-crl-file",
        &crl,
        "--client-cert-allowed-hostname",
        "client.example",
        "--peer-auto-tls",
        "--peer-client-cert-auth",
        "--peer-cert-allowed-cn",
        "etcd-peer,other",
        "--self-signed-cert-validity",
        "3",
        "--cipher-suites",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "--tls-min-version",
        "TLS1.2",
        "--tls-max-version",
        "TLS1.3",
        "--experimental-peer-skip-client-san-verification",
    ])
    .unwrap();
    assert_eq!(c.client_tls.cert_file, Some(PathBuf::from(&cert)));
    assert_eq!(c.client_tls.client_cert_file, Some(PathBuf::from(&ccert)));
    assert_eq!(c.client_tls.crl_file, Some(PathBuf::from(&crl)));
    assert_eq!(c.client_tls.allowed_hostnames, ["client.example"]);
    assert!(
        c.peer_tls.auto_tls
            && c.peer_tls.client_cert_auth
            && c.peer_tls.skip_client_san_verification
    );
    assert_eq!(c.peer_tls.allowed_cns, ["etcd-peer", "other"]);
    assert_eq!(c.tls.self_signed_cert_validity_years, 3);
    assert_eq!(c.tls.cipher_suites.len(), 2);
    assert_eq!(
        (c.tls.min_version, c.tls.max_version),
        (TlsVersion::Tls12, Some(TlsVersion::Tls13))
    );
    assert_eq!(c.member.listen_client_urls[1].scheme(), UrlScheme::Unixs);
}

#[test]
fn auto_tls_yields_to_given_certificates() {
    let dir = TempDir::new();
    let (cert, key) = (dir.file("c.crt", "x"), dir.file("c.key", "x"));
    let c = parse(&["--auto-tls", "--cert-file", &cert, "--key-file", &key]).unwrap();
    assert!(!c.client_tls.auto_tls);
    assert!(c.warnings.iter().any(|w| w == "ignoring client auto TLS since certs given"));
    // Certificates on an http listener are ignored with etcd's warning.
    assert!(c
        .warnings
        .iter()
        .any(|w| w.starts_with("scheme is HTTP while key and cert files are present")));
}

#[test]
fn auth_flags() {
    let c = parse(&["--auth-token", "simple", "--bcrypt-cost", "12", "--auth-token-ttl", "600"])
        .unwrap();
    assert_eq!(c.auth.bcrypt_cost, 12);
    assert_eq!(c.auth.token_ttl, Duration::from_secs(600));
    let low = parse(&["--bcrypt-cost=3"]).unwrap();
    assert_eq!(low.auth.bcrypt_cost, 10, "etcd falls back to the default cost");
    assert!(low.warnings.iter().any(|w| w.contains("invalid given cost 3")));
}

#[test]
fn logging_monitoring_and_oxcd_flags() {
    let c = parse(&[
        "--log-level",
        "warn",
        "--logger",
        "zap",
        "--log-outputs",
        "stderr,/var/log/oxcd.log",
        "--metrics",
        "extensive",
        "--listen-metrics-urls",
        "http://127.0.0.1:2381",
        "--runtime",
        "smol",
        "--print-config",
    ])
    .unwrap();
    assert_eq!(c.log.level, LogLevel::Warn);
    assert_eq!(c.log.outputs, ["stderr", "/var/log/oxcd.log"]);
    assert!(c.metrics.extensive);
    assert_eq!(urls(&c.metrics.listen_urls), ["http://127.0.0.1:2381"]);
    assert_eq!(c.runtime, Runtime::Smol);
    assert!(c.print_config);
    assert_eq!(parse(&["--debug"]).unwrap().log.level, LogLevel::Debug);
    let capnslog = parse(&["--logger=capnslog"]).unwrap();
    assert!(capnslog.warnings.iter().any(|w| w.contains("capnslog")));
}

#[test]
fn experimental_flags_kept_and_honoured() {
    let c = parse(&[
        "--experimental-initial-corrupt-check",
        "--experimental-corrupt-check-time=5m",
        "--experimental-compact-hash-check-enabled",
        "--experimental-compact-hash-check-time=2m",
        "--experimental-enable-lease-checkpoint",
        "--experimental-enable-lease-checkpoint-persist",
        "--experimental-compaction-batch-limit=200",
        "--experimental-compaction-sleep-interval=1ms",
        "--experimental-watch-progress-notify-interval=5s",
        "--experimental-warning-apply-duration=200ms",
        "--experimental-downgrade-check-time=10s",
        "--experimental-snapshot-catchup-entries=100",
    ])
    .unwrap();
    let x = &c.experimental;
    assert!(x.initial_corrupt_check && x.compact_hash_check_enabled);
    assert!(x.enable_lease_checkpoint && x.enable_lease_checkpoint_persist);
    assert_eq!(x.corrupt_check_time, Duration::from_secs(300));
    assert_eq!(x.compact_hash_check_time, Duration::from_secs(120));
    assert_eq!(x.compaction_batch_limit, 200);
    assert_eq!(x.compaction_sleep_interval, Duration::from_millis(1));
    assert_eq!(x.watch_progress_notify_interval, Duration::from_secs(5));
    assert_eq!(x.warning_apply_duration, Duration::from_millis(200));
    assert_eq!(x.downgrade_check_time, Duration::from_secs(10));
    assert_eq!(c.member.snapshot_catchup_entries, 100);
}

#[test]
fn ignored_flags_are_kept_with_a_warning() {
    let c = parse(&[
        "--enable-v2=true",
        "--enable-pprof",
        "--backend-batch-interval=10ms",
        "--experimental-memory-mlock",
        "--cors=https://a.example,https://b.example",
        "--experimental-backend-bbolt-freelist-type=array",
        "--v",
    ])
    .unwrap();
    // --enable-v2 is used: it serves the v2 keys API.
    assert!(c.member.enable_v2 && !c.ignored.contains_key("enable-v2"));
    assert_eq!(c.ignored.get("backend-batch-interval").map(String::as_str), Some("10ms"));
    assert_eq!(
        c.ignored.get("cors").map(String::as_str),
        Some("https://a.example,https://b.example")
    );
    assert_eq!(c.ignored.len(), 6);
    assert!(
        c.warnings
            .iter()
            .any(|w| w
                == "--enable-pprof=true is accepted for etcd compatibility and ignored by oxcd")
    );
    // Ignored values are still checked.
    assert!(parse(&["--backend-batch-interval=10"]).is_err());
}

#[test]
fn single_dash_and_repeated_flags_as_go_parses_them() {
    let c = parse(&[
        "-name",
        "x",
        "-name=y",
        "--heartbeat-interval",
        "0x32",
        "-election-timeout=010000",
    ])
    .unwrap();
    assert_eq!(c.member.name, "y");
    assert_eq!(c.member.heartbeat_interval, Duration::from_millis(50));
    assert_eq!(
        c.member.election_timeout,
        Duration::from_millis(4096),
        "Go reads a leading 0 as octal"
    );
}
