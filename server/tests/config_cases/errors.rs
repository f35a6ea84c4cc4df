//! Every error, with its message and exit code. Where etcd has a message, it is etcd's
//! (checked against etcd 3.4.23 or read from etcd 3.5's source).

use crate::support::{fails, parse, TempDir};

#[test]
fn parse_errors_exit_2_with_go_flag_wording() {
    assert_eq!(fails(&["--bogus"], 2), "flag provided but not defined: -bogus");
    assert_eq!(fails(&["--name"], 2), "flag needs an argument: -name");
    assert_eq!(
        fails(&["--snapshot-count", "abc"], 2),
        "invalid value \"abc\" for flag -snapshot-count: parse error"
    );
    assert_eq!(
        fails(&["--max-txn-ops=99999999999"], 2),
        "invalid value \"99999999999\" for flag -max-txn-ops: value out of range"
    );
    assert_eq!(
        fails(&["--initial-cluster-state", "bogus"], 2),
        "invalid value \"bogus\" for flag -initial-cluster-state: invalid value"
    );
    assert_eq!(
        fails(&["--client-cert-auth=yes"], 2),
        "invalid boolean value \"yes\" for -client-cert-auth: parse error"
    );
    assert_eq!(
        fails(&["--grpc-keepalive-min-time=5"], 2),
        "invalid value \"5\" for flag -grpc-keepalive-min-time: parse error"
    );
    assert_eq!(
        fails(&["--runtime=tokio"], 2),
        "invalid value \"tokio\" for flag -runtime: invalid value"
    );
}

#[test]
fn bad_urls_exit_2_with_etcds_wording() {
    let cases = [
        ("foo", "URL scheme must be http, https, unix, or unixs: foo"),
        ("http://localhost", "URL address does not have the form \"host:port\": http://localhost"),
        ("http://localhost:2379/path", "URL must not contain a path: http://localhost:2379/path"),
        (
            "127.0.0.1:2379",
            "parse \"127.0.0.1:2379\": first path segment in URL cannot contain colon",
        ),
        ("http://host:abc", "parse \"http://host:abc\": invalid port \":abc\" after host"),
    ];
    for (url, why) in cases {
        assert_eq!(
            fails(&["--listen-client-urls", url], 2),
            format!("invalid value {url:?} for flag -listen-client-urls: {why}")
        );
    }
}

#[test]
fn stray_arguments_exit_1() {
    assert_eq!(fails(&["--client-cert-auth", "true"], 1), "'true' is not a valid flag");
    assert_eq!(
        fails(&["gateway"], 1),
        "'oxcd gateway' is not supported: oxcd runs only as a member"
    );
}

#[test]
fn timing_errors() {
    assert_eq!(
        fails(&["--election-timeout", "400"], 1),
        "--election-timeout[400ms] should be at least as 5 times as --heartbeat-interval[100ms]"
    );
    assert_eq!(
        fails(&["--election-timeout", "60000"], 1),
        "--election-timeout[60000ms] is too long, and should be set less than 50000ms"
    );
    assert_eq!(
        fails(&["--heartbeat-interval", "0"], 1),
        "--heartbeat-interval must be >0 (set to 0ms)"
    );
    assert_eq!(
        fails(&["--election-timeout", "0"], 1),
        "--election-timeout must be >0 (set to 0ms)"
    );
    // The ratio is checked before the upper bound, as etcd does.
    assert_eq!(
        fails(&["--election-timeout", "50001", "--heartbeat-interval", "10001"], 1),
        "--election-timeout[50001ms] should be at least as 5 times as --heartbeat-interval[10001ms]"
    );
    assert!(parse(&["--election-timeout", "50000", "--heartbeat-interval", "10000"]).is_ok());
}

#[test]
fn url_role_errors() {
    assert_eq!(
        fails(&["--listen-client-urls", "http://127.0.0.1:2379"], 1),
        "--advertise-client-urls is required when --listen-client-urls is set explicitly"
    );
    assert_eq!(
        fails(&["--listen-peer-urls", "http://example.com:2380"], 1),
        "expected IP in URL for binding (http://example.com:2380)"
    );
    assert_eq!(
        fails(&["--initial-advertise-peer-urls", "http://:2380", "--initial-cluster", "default=http://:2380"], 1),
        "--initial-advertise-peer-urls \"http://:2380\" must be \"host:port\" (unexpected empty host (http://:2380))"
    );
    assert_eq!(
        fails(&["--listen-client-urls", "http://127.0.0.1:1", "--advertise-client-urls", "http://127.0.0.1:1", "--listen-client-http-urls", "http://127.0.0.1:1"], 1),
        "cannot bind both --listen-client-urls and --listen-client-http-urls on the same url http://127.0.0.1:1"
    );
}

#[test]
fn bootstrap_errors() {
    assert_eq!(
        fails(&["--name", "infra9", "--initial-cluster", "infra0=http://localhost:2380"], 1),
        "couldn't find local name \"infra9\" in the initial cluster configuration"
    );
    assert_eq!(
        fails(&["--name", "infra0", "--initial-cluster", "infra0=http://10.0.0.1:2380", "--initial-advertise-peer-urls", "http://localhost:2380"], 1),
        "--initial-cluster has infra0=http://10.0.0.1:2380 but missing from --initial-advertise-peer-urls=http://localhost:2380 (resolved urls: \"http://localhost:2380\" != \"http://10.0.0.1:2380\")"
    );
    assert_eq!(
        fails(&["--initial-advertise-peer-urls", "http://localhost:2380,http://127.0.0.1:2380"], 1),
        "--initial-advertise-peer-urls has http://127.0.0.1:2380 but missing from --initial-cluster=default=http://127.0.0.1:2380,default=http://localhost:2380"
    );
    assert_eq!(
        fails(&["--initial-cluster", "default=http://localhost:2380,other=http://localhost:2380"], 1),
        "initial cluster default=http://localhost:2380,other=http://localhost:2380 has duplicate url"
    );
    assert_eq!(
        fails(&["--initial-cluster", "default=ftp://x:1"], 1),
        "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: ftp://x:1"
    );
    // Joining an existing cluster needs the name, not matching advertise URLs.
    assert!(parse(&[
        "--initial-cluster-state=existing",
        "--initial-cluster",
        "default=http://127.0.0.9:2380"
    ])
    .is_ok());
    assert_eq!(
        fails(
            &["--initial-cluster-state=existing", "--initial-cluster", "x=http://127.0.0.9:2380"],
            1
        ),
        "couldn't find local name \"default\" in the initial cluster configuration"
    );
}

#[test]
fn unsupported_features_are_refused_clearly() {
    assert_eq!(
        fails(&["--discovery", "https://discovery.etcd.io/abc"], 1),
        "--discovery=https://discovery.etcd.io/abc: discovery is not supported by oxcd; bootstrap with --initial-cluster"
    );
    assert_eq!(
        fails(&["--discovery-srv", "example.com"], 1),
        "--discovery-srv=example.com: discovery is not supported by oxcd; bootstrap with --initial-cluster"
    );
    assert!(parse(&["--discovery="]).is_ok(), "an empty discovery flag is harmless");
    assert_eq!(
        fails(&["--auth-token", "jwt,pub-key=a.pub,priv-key=a.key,sign-method=RS256"], 1),
        "--auth-token=jwt,pub-key=a.pub,priv-key=a.key,sign-method=RS256: jwt tokens are not supported yet by oxcd; use --auth-token=simple"
    );
    assert_eq!(
        fails(&["--auth-token", "magic"], 1),
        "auth: invalid auth options (unknown token type \"magic\")"
    );
    assert_eq!(fails(&["--proxy", "on"], 1), "--proxy=on: the v2 proxy is not supported by oxcd");
}

#[test]
fn option_errors() {
    assert_eq!(
        fails(&["--auto-compaction-mode", "foo"], 1),
        "unknown auto-compaction-mode \"foo\""
    );
    assert_eq!(
        fails(&["--auto-compaction-retention", "soon"], 1),
        "error parsing CompactionRetention: time: invalid duration \"soon\""
    );
    assert_eq!(
        fails(&["--log-level", "loud"], 1),
        "unknown log level \"loud\" (only supports debug, info, warn, error, panic, or fatal)"
    );
    assert_eq!(fails(&["--logger", "glog"], 1), "unknown logger option \"glog\"");
    assert_eq!(
        fails(&["--log-outputs", "default,stderr"], 1),
        "multi logoutput for \"default\" is not supported yet"
    );
    assert_eq!(
        fails(&["--experimental-enable-lease-checkpoint-persist"], 1),
        "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint"
    );
    assert_eq!(
        fails(&["--experimental-compact-hash-check-time=0"], 1),
        "--experimental-compact-hash-check-time must be >0 (set to 0s)"
    );
}

#[test]
fn tls_errors() {
    assert_eq!(
        fails(&["--tls-min-version", "TLS1.1"], 1),
        "unexpected TLS version \"TLS1.1\" (must be one of: TLS1.2, TLS1.3)"
    );
    assert_eq!(
        fails(&["--tls-min-version", "TLS1.3", "--tls-max-version", "TLS1.2"], 1),
        "min version (TLS1.3) is greater than max version (TLS1.2)"
    );
    assert_eq!(
        fails(
            &[
                "--tls-min-version",
                "TLS1.3",
                "--cipher-suites",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ],
            1
        ),
        "cipher suites cannot be configured when only TLS1.3 is enabled"
    );
    assert_eq!(
        fails(&["--cipher-suites", "TLS_NOPE"], 1),
        "unexpected TLS cipher suite \"TLS_NOPE\""
    );
    assert_eq!(
        fails(&["--listen-client-urls", "https://127.0.0.1:2379", "--advertise-client-urls", "https://127.0.0.1:2379"], 1),
        "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme"
    );
    assert_eq!(
        fails(&["--listen-peer-urls", "https://127.0.0.1:2380"], 1),
        "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url https://127.0.0.1:2380 with HTTPS scheme"
    );
    assert_eq!(
        fails(&["--listen-metrics-urls", "https://127.0.0.1:2381"], 1),
        "client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url"
    );
    assert_eq!(
        fails(&["--peer-cert-allowed-cn", "a", "--peer-cert-allowed-hostname", "b,c"], 1),
        "--peer-cert-allowed-cn and --peer-cert-allowed-hostname are mutually exclusive (cns=[\"a\"], hostnames=[\"b\", \"c\"])"
    );
    assert_eq!(
        fails(&["--cert-file", "/x.crt"], 1),
        "--cert-file and --key-file must be given together"
    );
    assert_eq!(
        fails(&["--peer-client-key-file", "/x.key"], 1),
        "--peer-client-cert-file and --peer-client-key-file must be given together"
    );
}

#[test]
fn missing_tls_files_name_the_flag_and_path() {
    let dir = TempDir::new();
    let cert = dir.file("server.crt", "x");
    let key = dir.path().join("server.key");
    let key = key.to_str().unwrap();
    assert_eq!(
        fails(&["--cert-file", &cert, "--key-file", key], 1),
        format!("--key-file: open {key}: no such file or directory")
    );
    let ca_dir = dir.path().to_str().unwrap();
    assert_eq!(
        fails(&["--peer-trusted-ca-file", ca_dir], 1),
        format!("--peer-trusted-ca-file: read {ca_dir}: is a directory")
    );
    assert_eq!(
        fails(&["--client-crl-file", "/nonexistent/crl.pem"], 1),
        "--client-crl-file: open /nonexistent/crl.pem: no such file or directory"
    );
}
