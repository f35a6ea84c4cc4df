//! `ETCD_*` variables, `--config-file`, and which source wins.

use crate::config::{AutoCompaction, ClusterState, LogLevel};
use crate::support::{parse, parse_env, urls, TempDir};
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn every_flag_can_come_from_the_environment() {
    let c = parse_env(
        &[],
        &[
            ("ETCD_NAME", "e1"),
            ("ETCD_HEARTBEAT_INTERVAL", "200"),
            ("ETCD_ELECTION_TIMEOUT", "2000"),
            ("ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:2379"),
            ("ETCD_ADVERTISE_CLIENT_URLS", "http://127.0.0.1:2379"),
            ("ETCD_CLIENT_CERT_AUTH", "true"),
            ("ETCD_GRPC_KEEPALIVE_MIN_TIME", "1s"),
            ("ETCD_LOG_OUTPUTS", "stdout"),
            ("ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT", "1"),
            ("ETCD_RUNTIME", "smol"),
            ("ETCD_DATA_DIR", ""), // empty values are skipped, as in etcd
        ],
    )
    .unwrap();
    assert_eq!(c.member.name, "e1");
    assert_eq!(c.member.data_dir, PathBuf::from("e1.oxcd"));
    assert_eq!(c.member.heartbeat_interval, Duration::from_millis(200));
    assert_eq!(urls(&c.member.listen_client_urls), ["http://127.0.0.1:2379"]);
    assert!(c.client_tls.client_cert_auth);
    assert_eq!(c.member.grpc_keepalive_min_time, Duration::from_secs(1));
    assert_eq!(c.log.outputs, ["stdout"]);
    assert!(c.experimental.enable_lease_checkpoint);
    assert_eq!(c.runtime, crate::config::Runtime::Smol);
}

#[test]
fn flags_and_environment_combine() {
    let c = parse_env(&["--name", "flag"], &[("ETCD_SNAPSHOT_COUNT", "7")]).unwrap();
    assert_eq!((c.member.name.as_str(), c.member.snapshot_count), ("flag", 7));
}

#[test]
fn a_flag_and_its_variable_together_are_refused_like_etcd() {
    // etcd 3.4.23 and 3.5 stop with this text (exit 1) rather than let the flag win silently.
    let e = parse_env(&["--name", "flag"], &[("ETCD_NAME", "env")]).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.message(),
        "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
    );
}

#[test]
fn bad_environment_values_name_the_variable() {
    let e = parse_env(&[], &[("ETCD_SNAPSHOT_COUNT", "many")]).unwrap_err();
    assert_eq!(e.message(), "invalid value \"many\" for ETCD_SNAPSHOT_COUNT: parse error");
    assert_eq!(e.exit_code(), 1);
    let e = parse_env(&[], &[("ETCD_LISTEN_PEER_URLS", "localhost:2380")]).unwrap_err();
    assert_eq!(
        e.message(),
        "invalid value \"localhost:2380\" for ETCD_LISTEN_PEER_URLS: URL scheme must be http, https, unix, or unixs: localhost:2380"
    );
}

const FULL_FILE: &str = r#"
# A member configured the way etcd's sample configuration file does it.
name: 'infra0'
data-dir: /var/lib/oxcd
wal-dir:
snapshot-count: 10000
heartbeat-interval: 150
election-timeout: 1500
quota-backend-bytes: 0
listen-peer-urls: https://127.0.1.1:2380
listen-client-urls: https://127.0.1.1:2379,https://127.0.0.1:2379
max-snapshots: 5
max-wals: 5
cors:
initial-advertise-peer-urls: https://127.0.1.1:2380
advertise-client-urls: https://127.0.1.1:2379
discovery:
discovery-fallback: 'proxy'
discovery-proxy:
discovery-srv:
initial-cluster: infra0=https://127.0.1.1:2380,infra1=https://127.0.1.2:2380,infra2=https://127.0.1.3:2380
initial-cluster-token: 'etcd-cluster-1'
initial-cluster-state: 'new'
strict-reconfig-check: false
enable-v2: false
enable-pprof: false
proxy: 'off'
proxy-failure-wait: 5000
client-transport-security:
  cert-file: CERT
  key-file: KEY
  client-cert-auth: true
  trusted-ca-file: CA
  auto-tls: false
peer-transport-security:
  cert-file: CERT
  key-file: KEY
  client-cert-auth: true
  trusted-ca-file: CA
  auto-tls: false
  allowed-cn:
  allowed-hostname: [peer.example]
socket-options:
  reuse-address: true
self-signed-cert-validity: 1
log-level: debug
logger: zap
log-outputs: [stderr]
force-new-cluster: false
auto-compaction-mode: periodic
auto-compaction-retention: "1"
grpc-keepalive-min-time: 7000000000
experimental-snapshot-catch-up-entries: 300
runtime: smol
some-future-key: 1
"#;

fn full_file(dir: &TempDir) -> String {
    let cert = dir.file("pki/server.crt", "x");
    let key = dir.file("pki/server.key", "x");
    let ca = dir.file("pki/ca.crt", "x");
    let text = FULL_FILE.replace("CERT", &cert).replace("KEY", &key).replace("CA", &ca);
    dir.file("oxcd.conf.yml", &text)
}

#[test]
fn config_file_with_etcds_keys() {
    let dir = TempDir::new();
    let path = full_file(&dir);
    let c = parse(&["--config-file", &path]).unwrap();
    assert_eq!(c.config_file, Some(PathBuf::from(&path)));
    assert_eq!(c.member.name, "infra0");
    assert_eq!(c.member.data_dir, PathBuf::from("/var/lib/oxcd"));
    assert_eq!(c.member.wal_dir, None, "null keeps the default");
    assert_eq!(c.member.snapshot_count, 10_000);
    assert_eq!(c.member.heartbeat_interval, Duration::from_millis(150));
    assert_eq!(c.member.election_timeout, Duration::from_millis(1500));
    assert_eq!(
        urls(&c.member.listen_client_urls),
        ["https://127.0.0.1:2379", "https://127.0.1.1:2379"]
    );
    assert_eq!(c.cluster.initial_cluster.len(), 3);
    assert_eq!(c.cluster.initial_cluster_state, ClusterState::New);
    assert!(!c.member.strict_reconfig_check);
    assert!(c.client_tls.client_cert_auth && c.peer_tls.client_cert_auth);
    assert_eq!(c.client_tls.cert_file, Some(dir.path().join("pki/server.crt")));
    assert_eq!(c.peer_tls.trusted_ca_file, Some(dir.path().join("pki/ca.crt")));
    assert_eq!(c.peer_tls.allowed_hostnames, ["peer.example"]);
    assert!(c.peer_tls.allowed_cns.is_empty());
    assert!(c.member.socket_reuse_address && !c.member.socket_reuse_port);
    assert_eq!(c.log.level, LogLevel::Debug);
    assert_eq!(c.log.outputs, ["stderr"]);
    assert_eq!(c.member.auto_compaction, AutoCompaction::Periodic(Duration::from_secs(3600)));
    assert_eq!(
        c.member.grpc_keepalive_min_time,
        Duration::from_secs(7),
        "durations are nanoseconds"
    );
    assert_eq!(c.member.snapshot_catchup_entries, 300);
    assert_eq!(c.runtime, crate::config::Runtime::Smol);
    assert!(c.warnings.iter().any(|w| w.contains("unknown key \"some-future-key\" ignored")));
    assert_eq!(
        format!("{:x}", c.derived().local_member_id.unwrap().get()),
        "eb148951535653ec",
        "the same ids as the flag form of this member"
    );
}

#[test]
fn with_a_config_file_other_flags_and_variables_are_ignored() {
    // etcd 3.4.23 checked: `--config-file f --name flagname` and `ETCD_NAME=envname` both
    // start a member named after the file.
    let dir = TempDir::new();
    let path = full_file(&dir);
    let c = parse_env(
        &["--name", "flagname", "--config-file", &path, "--snapshot-count=1"],
        &[("ETCD_NAME", "envname"), ("ETCD_HEARTBEAT_INTERVAL", "1")],
    )
    .unwrap();
    assert_eq!(c.member.name, "infra0");
    assert_eq!(c.member.snapshot_count, 10_000);
    assert_eq!(c.member.heartbeat_interval, Duration::from_millis(150));
    assert!(c
        .warnings
        .iter()
        .any(|w| w.ends_with("command line flags ignored: --name --snapshot-count")));
    // Command-line values are still parsed (etcd's flag parser runs first).
    let e = parse(&["--config-file", &path, "--snapshot-count=x"]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn etcd_config_file_variable_wins_over_flags() {
    let dir = TempDir::new();
    let path = full_file(&dir);
    let c = parse_env(&["--name", "flagname"], &[("ETCD_CONFIG_FILE", &path)]).unwrap();
    assert_eq!(c.member.name, "infra0");
    assert_eq!(c.config_file, Some(PathBuf::from(&path)));
}

#[test]
fn minimal_and_empty_files() {
    let dir = TempDir::new();
    let empty = dir.file("empty.yml", "");
    assert_eq!(parse(&["--config-file", &empty]).unwrap().member.name, "default");
    // Only the name: the initial cluster follows it and the data dir too, as with flags.
    let named = dir.file("named.yml", "name: solo\n");
    let c = parse(&["--config-file", &named]).unwrap();
    assert_eq!(c.cluster.initial_cluster.to_string(), "solo=http://localhost:2380");
    assert_eq!(c.member.data_dir, PathBuf::from("solo.oxcd"));
    // Unlike the flags, listen-client-urls alone keeps the default advertise URL in a file.
    let listen = dir.file("listen.yml", "listen-client-urls: http://127.0.0.1:2379\n");
    let c = parse(&["--config-file", &listen]).unwrap();
    assert_eq!(urls(&c.cluster.advertise_client_urls), ["http://localhost:2379"]);
}

#[test]
fn config_file_type_errors() {
    // Each of these was refused by etcd 3.4.23 too (Go's JSON typing of its config struct).
    let dir = TempDir::new();
    let cases = [
        (
            "grpc-keepalive-min-time: 5s\n",
            "grpc-keepalive-min-time must be an integer number of nanoseconds, not a string",
        ),
        (
            "heartbeat-interval: \"100\"\n",
            "heartbeat-interval must be a non-negative integer, not a string",
        ),
        (
            "auto-compaction-retention: 1\n",
            "auto-compaction-retention must be a string, not an integer",
        ),
        ("log-outputs: stderr\n", "log-outputs must be a list of strings, not a string"),
        (
            "listen-client-urls: [http://localhost:2379]\n",
            "listen-client-urls must be a string, not a list",
        ),
        (
            "client-transport-security: yes\n",
            "client-transport-security must be a mapping, not a string",
        ),
    ];
    for (i, (yaml, want)) in cases.into_iter().enumerate() {
        let path = dir.file(&format!("bad{i}.yml"), yaml);
        let e = parse(&["--config-file", &path]).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.message(), format!("config file {path}: {want}"), "{yaml}");
    }
    let url = dir.file("url.yml", "listen-peer-urls: ftp://localhost:2380\n");
    assert_eq!(
        parse(&["--config-file", &url]).unwrap_err().message(),
        "unexpected error setting up listen-peer-urls: URL scheme must be http, https, unix, or unixs: ftp://localhost:2380"
    );
    let broken = dir.file("broken.yml", "name: [unclosed\n");
    assert!(parse(&["--config-file", &broken]).unwrap_err().message().contains("not valid YAML"));
    let missing = dir.path().join("nope.yml");
    assert_eq!(
        parse(&["--config-file", missing.to_str().unwrap()]).unwrap_err().message(),
        format!("open {}: no such file or directory", missing.display())
    );
}
