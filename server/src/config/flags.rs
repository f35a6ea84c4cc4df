//! The flag table: every flag etcd 3.4/3.5 accepts (plus oxcd's own), its value kind, the default
//! shown in `--help`, its config-file key, and whether oxcd uses, ignores or refuses it.
//!
//! One table drives the clap command, the `ETCD_*` environment lookup, the config-file mapping and
//! `--help`; the typed effect of each flag lives in `apply.rs`.

/// How a flag's value is written on the command line (and typed in the config file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Any text. YAML: a string.
    Str,
    /// Go's boolean forms; on the command line only `--flag` or `--flag=value`. YAML: a boolean.
    Bool,
    /// A non-negative integer (Go's base-0 syntax). YAML: an integer.
    Uint,
    /// A signed integer. YAML: an integer.
    Int,
    /// A Go duration (`5s`, `2h`, `100ms`). YAML: an integer number of nanoseconds.
    Duration,
    /// Comma-separated URLs. YAML: a comma-separated string.
    Urls,
    /// Comma-separated words. YAML: a sequence of strings.
    List,
    /// Comma-separated words. YAML: a comma-separated string.
    CommaList,
    /// One of a fixed set of words. YAML: a string.
    Choice(&'static [&'static str]),
    /// A flag etcd dropped long ago and still swallows (any value, or none).
    Legacy,
}

/// Where a flag's value comes from in etcd's YAML config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Yaml {
    /// The top-level key is the flag name.
    Same,
    /// A different top-level key.
    Key(&'static str),
    /// A key inside `client-transport-security` / `peer-transport-security`.
    Client(&'static str),
    /// See [`Yaml::Client`].
    Peer(&'static str),
    /// A key inside `socket-options`.
    Socket(&'static str),
    /// Not settable from the config file (etcd has no key for it).
    No,
}

/// What oxcd does with a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Support {
    /// Parsed into `Config` and honoured.
    Used,
    /// Validated, kept in `Config::ignored`, and a warning logged when set.
    Ignored,
    /// Refused with an error when set to a non-empty value.
    Refused,
}

/// Sections of `--help`, in etcd's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Section {
    Member,
    Clustering,
    Security,
    Auth,
    Monitoring,
    Logging,
    Tracing,
    Proxy,
    Experimental,
    Unsafe,
    Oxcd,
    Hidden,
}

impl Section {
    pub(super) const ORDER: [Section; 11] = [
        Section::Member,
        Section::Clustering,
        Section::Security,
        Section::Auth,
        Section::Monitoring,
        Section::Logging,
        Section::Tracing,
        Section::Proxy,
        Section::Experimental,
        Section::Unsafe,
        Section::Oxcd,
    ];

    pub(super) fn title(self) -> &'static str {
        match self {
            Section::Member => "Member",
            Section::Clustering => "Clustering",
            Section::Security => "Security",
            Section::Auth => "Auth",
            Section::Monitoring => "Profiling and Monitoring",
            Section::Logging => "Logging",
            Section::Tracing => "Experimental distributed tracing (accepted, ignored)",
            Section::Proxy => "v2 Proxy (accepted, ignored; proxy modes refused)",
            Section::Experimental => "Experimental feature",
            Section::Unsafe => "Unsafe feature",
            Section::Oxcd => "oxcd",
            Section::Hidden => "",
        }
    }
}

/// One flag.
#[derive(Clone, Copy, Debug)]
pub(super) struct FlagSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// The default as `--help` shows it.
    pub default: &'static str,
    pub help: &'static str,
    pub section: Section,
    pub yaml: Yaml,
    pub support: Support,
}

const fn f(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    section: Section,
    yaml: Yaml,
    support: Support,
    help: &'static str,
) -> FlagSpec {
    FlagSpec { name, kind, default, help, section, yaml, support }
}

use Kind::*;
use Section as S;
use Support::{Ignored, Refused, Used};
use Yaml::{Client, Key, Peer, Same, Socket};

const STATES: &[&str] = &["new", "existing"];
const FALLBACKS: &[&str] = &["proxy", "exit"];
const PROXIES: &[&str] = &["off", "readonly", "on"];
const V2_DEPRECATION: &[&str] =
    &["not-yet", "write-only", "write-only-skip-check", "write-only-drop-data", "gone"];
const RUNTIMES: &[&str] = &["mio", "smol"];

/// Every flag, in `--help` order within each section.
#[rustfmt::skip]
pub(super) const FLAGS: &[FlagSpec] = &[
    // Member
    f("name", Str, "default", S::Member, Same, Used, "This member's human-readable name; it must appear in --initial-cluster."),
    f("data-dir", Str, "${name}.oxcd", S::Member, Same, Used, "Directory holding this member's data (oxcd's format, not etcd's)."),
    f("wal-dir", Str, "", S::Member, Same, Used, "Separate directory for the Raft log, e.g. on a faster disk."),
    f("snapshot-count", Uint, "100000", S::Member, Same, Used, "Applied entries between two snapshots of the state."),
    f("heartbeat-interval", Uint, "100", S::Member, Same, Used, "Leader heartbeat period in milliseconds; also the Raft tick."),
    f("election-timeout", Uint, "1000", S::Member, Same, Used, "Milliseconds without a leader before a follower campaigns (>= 5 heartbeats, <= 50000)."),
    f("initial-election-tick-advance", Bool, "true", S::Member, Same, Used, "Shorten the first election after start so a new cluster elects sooner."),
    f("listen-peer-urls", Urls, "http://localhost:2380", S::Member, Same, Used, "Addresses to accept peer connections on (IP addresses or localhost)."),
    f("listen-client-urls", Urls, "http://localhost:2379", S::Member, Same, Used, "Addresses to serve clients on: gRPC, and HTTP unless --listen-client-http-urls is set."),
    f("listen-client-http-urls", Urls, "", S::Member, Same, Used, "Addresses to serve only the HTTP endpoints on (health, metrics, JSON gateway)."),
    f("max-snapshots", Uint, "5", S::Member, Same, Used, "Snapshot files to keep (0 keeps all)."),
    f("max-wals", Uint, "5", S::Member, Same, Used, "Log files to keep (0 keeps all)."),
    f("quota-backend-bytes", Int, "0", S::Member, Same, Used, "Backend size that raises the NOSPACE alarm; 0 means 2 GiB, negative means no quota."),
    f("backend-bbolt-freelist-type", Str, "map", S::Member, Same, Ignored, "bbolt tuning; oxcd stores data in LMDB and ignores it."),
    f("backend-batch-interval", Duration, "", S::Member, Same, Ignored, "bbolt commit interval; oxcd commits once per batch of Raft work and ignores it."),
    f("backend-batch-limit", Int, "0", S::Member, Same, Ignored, "bbolt commit size; ignored like --backend-batch-interval."),
    f("max-txn-ops", Uint, "128", S::Member, Same, Used, "Most operations one transaction may hold."),
    f("max-request-bytes", Uint, "1572864", S::Member, Same, Used, "Largest client request accepted, in bytes."),
    f("max-concurrent-streams", Uint, "4294967295", S::Member, Same, Used, "Most concurrent HTTP/2 streams one client connection may open."),
    f("enable-grpc-gateway", Bool, "true", S::Member, Same, Used, "Serve the /v3/* JSON gateway on the client HTTP listeners."),
    f("grpc-keepalive-min-time", Duration, "5s", S::Member, Same, Used, "Shortest interval a client may ping the server at."),
    f("grpc-keepalive-interval", Duration, "2h", S::Member, Same, Used, "How often the server pings an idle client connection (0 disables)."),
    f("grpc-keepalive-timeout", Duration, "20s", S::Member, Same, Used, "How long to wait for a ping answer before closing (0 disables)."),
    f("socket-reuse-port", Bool, "false", S::Member, Socket("reuse-port"), Used, "Set SO_REUSEPORT on listeners."),
    f("socket-reuse-address", Bool, "false", S::Member, Socket("reuse-address"), Used, "Set SO_REUSEADDR on listeners."),
    f("raft-read-timeout", Duration, "5s", S::Member, Yaml::No, Used, "Read timeout on peer connections (at least 5s)."),
    f("raft-write-timeout", Duration, "5s", S::Member, Yaml::No, Used, "Write timeout on peer connections (at least 5s)."),
    // Clustering
    f("initial-advertise-peer-urls", Urls, "http://localhost:2380", S::Clustering, Same, Used, "This member's peer URLs as the other members should reach them."),
    f("initial-cluster", Str, "default=http://localhost:2380", S::Clustering, Same, Used, "The bootstrap member list, name=peer-url pairs; a name may repeat for several URLs."),
    f("initial-cluster-state", Choice(STATES), "new", S::Clustering, Same, Used, "'new' to bootstrap a cluster, 'existing' to join one after 'member add'."),
    f("initial-cluster-token", Str, "etcd-cluster", S::Clustering, Same, Used, "Name of the cluster, mixed into member and cluster ids so separate clusters never mix."),
    f("advertise-client-urls", Urls, "http://localhost:2379", S::Clustering, Same, Used, "This member's client URLs as clients should reach them; required with --listen-client-urls."),
    f("discovery", Str, "", S::Clustering, Same, Refused, "Discovery service URL: not supported by oxcd (use --initial-cluster)."),
    f("discovery-fallback", Choice(FALLBACKS), "proxy", S::Clustering, Same, Ignored, "What to do when discovery fails; meaningless without discovery."),
    f("discovery-proxy", Str, "", S::Clustering, Same, Refused, "HTTP proxy for the discovery service: not supported by oxcd."),
    f("discovery-srv", Str, "", S::Clustering, Same, Refused, "DNS SRV discovery domain: not supported by oxcd."),
    f("discovery-srv-name", Str, "", S::Clustering, Same, Refused, "DNS SRV name suffix: not supported by oxcd."),
    f("strict-reconfig-check", Bool, "true", S::Clustering, Same, Used, "Refuse membership changes that would leave the cluster without quorum."),
    f("pre-vote", Bool, "true", S::Clustering, Same, Used, "Run Raft's pre-vote phase before a real election."),
    f("auto-compaction-retention", Str, "0", S::Clustering, Same, Used, "History to keep when compacting automatically; 0 disables (hours or a duration in periodic mode, revisions in revision mode)."),
    f("auto-compaction-mode", Str, "periodic", S::Clustering, Same, Used, "How to read --auto-compaction-retention: 'periodic' or 'revision'."),
    f("enable-v2", Bool, "false", S::Clustering, Same, Used, "Serve etcd v2's keys API on /v2/keys (GET, PUT, POST, DELETE; no TTL, compare-and-swap or wait)."),
    f("v2-deprecation", Choice(V2_DEPRECATION), "not-yet", S::Clustering, Same, Ignored, "v2 store deprecation stage; oxcd has no v2 store."),
    f("experimental-enable-v2v3", Str, "", S::Clustering, Same, Ignored, "v2 emulation prefix; oxcd has no v2 API."),
    // Security
    f("cert-file", Str, "", S::Security, Client("cert-file"), Used, "Certificate (PEM) the client listeners present."),
    f("key-file", Str, "", S::Security, Client("key-file"), Used, "Private key for --cert-file."),
    f("client-cert-auth", Bool, "false", S::Security, Client("client-cert-auth"), Used, "Require clients to present a certificate signed by --trusted-ca-file."),
    f("client-cert-file", Str, "", S::Security, Client("client-cert-file"), Used, "Certificate for connections this member opens as a client (default: --cert-file)."),
    f("client-key-file", Str, "", S::Security, Client("client-key-file"), Used, "Key for --client-cert-file."),
    f("client-crl-file", Str, "", S::Security, Yaml::No, Used, "Revoked client certificates (PEM CRL)."),
    f("client-cert-allowed-hostname", List, "", S::Security, Client("allowed-hostname"), Used, "Comma-separated SAN host names a client certificate must carry one of."),
    f("trusted-ca-file", Str, "", S::Security, Client("trusted-ca-file"), Used, "CA bundle that client certificates are checked against."),
    f("auto-tls", Bool, "false", S::Security, Client("auto-tls"), Used, "Serve clients with a generated self-signed certificate when none is given."),
    f("peer-cert-file", Str, "", S::Security, Peer("cert-file"), Used, "Certificate (PEM) for peer connections, both directions."),
    f("peer-key-file", Str, "", S::Security, Peer("key-file"), Used, "Private key for --peer-cert-file."),
    f("peer-client-cert-auth", Bool, "false", S::Security, Peer("client-cert-auth"), Used, "Require peers to present a certificate signed by --peer-trusted-ca-file."),
    f("peer-trusted-ca-file", Str, "", S::Security, Peer("trusted-ca-file"), Used, "CA bundle that peer certificates are checked against."),
    f("peer-cert-allowed-cn", List, "", S::Security, Peer("allowed-cn"), Used, "Comma-separated common names a peer certificate must carry one of."),
    f("peer-cert-allowed-hostname", List, "", S::Security, Peer("allowed-hostname"), Used, "Comma-separated SAN host names a peer certificate must carry one of (exclusive with --peer-cert-allowed-cn)."),
    f("peer-auto-tls", Bool, "false", S::Security, Peer("auto-tls"), Used, "Use a generated self-signed peer certificate when none is given."),
    f("peer-client-cert-file", Str, "", S::Security, Peer("client-cert-file"), Used, "Certificate for outgoing peer connections (default: --peer-cert-file)."),
    f("peer-client-key-file", Str, "", S::Security, Peer("client-key-file"), Used, "Key for --peer-client-cert-file."),
    f("self-signed-cert-validity", Uint, "1", S::Security, Same, Used, "Validity in years of certificates made for --auto-tls and --peer-auto-tls."),
    f("peer-crl-file", Str, "", S::Security, Yaml::No, Used, "Revoked peer certificates (PEM CRL)."),
    f("cipher-suites", List, "", S::Security, Same, Used, "Comma-separated TLS 1.2 cipher suites in Go's names (empty: the library's choice)."),
    f("cors", CommaList, "*", S::Security, Same, Ignored, "CORS origins; oxcd's HTTP endpoints send no CORS headers and ignore it."),
    f("host-whitelist", CommaList, "*", S::Security, Same, Ignored, "Accepted Host headers on plaintext HTTP; ignored."),
    f("tls-min-version", Str, "TLS1.2", S::Security, Same, Used, "Lowest TLS version: TLS1.2 or TLS1.3."),
    f("tls-max-version", Str, "", S::Security, Same, Used, "Highest TLS version: TLS1.2 or TLS1.3 (empty: the library's choice)."),
    // Auth
    f("auth-token", Str, "simple", S::Auth, Same, Used, "Token type: 'simple' (jwt is not supported yet)."),
    f("bcrypt-cost", Uint, "10", S::Auth, Same, Used, "bcrypt cost for stored passwords, 4 to 31."),
    f("auth-token-ttl", Uint, "300", S::Auth, Same, Used, "Seconds a simple token stays valid without use."),
    // Profiling and monitoring
    f("enable-pprof", Bool, "false", S::Monitoring, Same, Ignored, "Go's profiler endpoints; oxcd has none and ignores it."),
    f("metrics", Str, "basic", S::Monitoring, Same, Used, "Metrics detail: 'basic', or 'extensive' to add histograms."),
    f("listen-metrics-urls", Urls, "", S::Monitoring, Same, Used, "Extra listeners serving only /metrics and /health."),
    // Logging
    f("logger", Str, "zap", S::Logging, Same, Used, "Logger: 'zap' (etcd 3.4's 'capnslog' is accepted and treated alike)."),
    f("log-outputs", List, "default", S::Logging, Same, Used, "Where logs go: default, stderr, stdout, systemd/journal or file paths."),
    f("log-level", Str, "info", S::Logging, Same, Used, "debug, info, warn, error, panic or fatal."),
    f("enable-log-rotation", Bool, "false", S::Logging, Same, Ignored, "Rotate a log file; ignored (use logrotate or journald)."),
    f("log-rotation-config-json", Str, "{\"maxsize\": 100, \"maxage\": 0, \"maxbackups\": 0, \"localtime\": false, \"compress\": false}", S::Logging, Same, Ignored, "Rotation settings; ignored."),
    f("debug", Bool, "false", S::Logging, Same, Used, "etcd 3.4: same as --log-level=debug."),
    f("log-package-levels", Str, "", S::Logging, Same, Ignored, "etcd 3.4 per-package levels; ignored."),
    // Distributed tracing
    f("experimental-enable-distributed-tracing", Bool, "false", S::Tracing, Same, Ignored, "OpenTelemetry tracing; ignored."),
    f("experimental-distributed-tracing-address", Str, "localhost:4317", S::Tracing, Same, Ignored, "Tracing collector address; ignored."),
    f("experimental-distributed-tracing-service-name", Str, "etcd", S::Tracing, Same, Ignored, "Tracing service name; ignored."),
    f("experimental-distributed-tracing-instance-id", Str, "", S::Tracing, Same, Ignored, "Tracing instance id; ignored."),
    f("experimental-distributed-tracing-sampling-rate", Int, "0", S::Tracing, Same, Ignored, "Samples per million spans; ignored."),
    // v2 proxy
    f("proxy", Choice(PROXIES), "off", S::Proxy, Same, Used, "v2 proxy mode: only 'off' is supported."),
    f("proxy-failure-wait", Uint, "5000", S::Proxy, Same, Ignored, "v2 proxy setting; ignored."),
    f("proxy-refresh-interval", Uint, "30000", S::Proxy, Same, Ignored, "v2 proxy setting; ignored."),
    f("proxy-dial-timeout", Uint, "1000", S::Proxy, Same, Ignored, "v2 proxy setting; ignored."),
    f("proxy-write-timeout", Uint, "5000", S::Proxy, Same, Ignored, "v2 proxy setting; ignored."),
    f("proxy-read-timeout", Uint, "0", S::Proxy, Same, Ignored, "v2 proxy setting; ignored."),
    // Experimental
    f("experimental-initial-corrupt-check", Bool, "false", S::Experimental, Same, Used, "Compare data hashes with the peers before serving."),
    f("experimental-corrupt-check-time", Duration, "0s", S::Experimental, Same, Used, "Period of the cluster-wide corruption check (0 disables)."),
    f("experimental-compact-hash-check-enabled", Bool, "false", S::Experimental, Same, Used, "Leader compares followers' hashes after compactions."),
    f("experimental-compact-hash-check-time", Duration, "1m", S::Experimental, Same, Used, "Period of the compaction hash check."),
    f("experimental-enable-lease-checkpoint", Bool, "false", S::Experimental, Same, Used, "Leader replicates leases' remaining TTL so a new leader does not reset them."),
    f("experimental-enable-lease-checkpoint-persist", Bool, "false", S::Experimental, Same, Used, "Persist lease checkpoints (needs --experimental-enable-lease-checkpoint)."),
    f("experimental-compaction-batch-limit", Uint, "1000", S::Experimental, Same, Used, "Revisions deleted per compaction step."),
    f("experimental-compaction-sleep-interval", Duration, "10ms", S::Experimental, Same, Used, "Pause between compaction steps."),
    f("experimental-peer-skip-client-san-verification", Bool, "false", S::Experimental, Yaml::No, Used, "Do not check the SAN of peers' client certificates against their address."),
    f("experimental-watch-progress-notify-interval", Duration, "10m", S::Experimental, Same, Used, "Period of progress notifications to idle watchers."),
    f("experimental-downgrade-check-time", Duration, "5s", S::Experimental, Same, Used, "Period of the downgrade status check."),
    f("experimental-memory-mlock", Bool, "false", S::Experimental, Same, Ignored, "Lock bbolt pages in RAM; ignored."),
    f("experimental-warning-apply-duration", Duration, "100ms", S::Experimental, Same, Used, "Log a warning when applying a request takes longer."),
    f("experimental-txn-mode-write-with-shared-buffer", Bool, "true", S::Experimental, Same, Ignored, "bbolt buffer sharing; ignored."),
    f("experimental-bootstrap-defrag-threshold-megabytes", Uint, "0", S::Experimental, Same, Ignored, "Defragment at start if it frees this much; ignored."),
    f("experimental-stop-grpc-service-on-defrag", Bool, "false", S::Experimental, Same, Ignored, "Report not-serving during defragmentation; ignored."),
    f("experimental-snapshot-catchup-entries", Uint, "5000", S::Experimental, Key("experimental-snapshot-catch-up-entries"), Used, "Log entries kept after a snapshot for slow followers."),
    f("experimental-backend-bbolt-freelist-type", Str, "map", S::Experimental, Same, Ignored, "etcd 3.4 name of --backend-bbolt-freelist-type; ignored."),
    // Unsafe
    f("force-new-cluster", Bool, "false", S::Unsafe, Same, Used, "Restart as a one-member cluster from the existing data (recovery only)."),
    f("unsafe-no-fsync", Bool, "false", S::Unsafe, Same, Used, "Skip fsync: faster, and loses data on a crash."),
    // oxcd
    f("runtime", Choice(RUNTIMES), "mio", S::Oxcd, Same, Used, "Event loop to run the member on: 'mio' or 'smol'."),
    f("print-config", Bool, "false", S::Oxcd, Yaml::No, Used, "Print the validated configuration and exit."),
    f("config-file", Str, "", S::Oxcd, Yaml::No, Used, "YAML file with etcd's keys; when given, all other flags and ETCD_* variables are ignored."),
    // etcd's silently swallowed flags of old releases
    f("cluster-active-size", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("cluster-remove-delay", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("cluster-sync-interval", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("config", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("force", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("max-result-buffer", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("max-retry-attempts", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("peer-heartbeat-interval", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("peer-election-timeout", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("retry-interval", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("snapshot", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("v", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
    f("vv", Legacy, "", S::Hidden, Yaml::No, Ignored, ""),
];

/// Looks a flag up by name.
pub(super) fn spec(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|s| s.name == name)
}

/// etcd's `flags.FlagToEnv`: `ETCD_` + the name upper-cased with `-` turned into `_`.
pub(super) fn env_name(flag: &str) -> String {
    format!("ETCD_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_unique_and_documented() {
        let names: BTreeSet<&str> = FLAGS.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), FLAGS.len(), "duplicate flag in the table");
        let doc = include_str!("../../../docs/flags.md");
        for s in FLAGS.iter().filter(|s| s.section != S::Hidden) {
            assert!(doc.contains(&format!("`--{}`", s.name)), "docs/flags.md lacks --{}", s.name);
            assert!(!s.help.is_empty(), "--{} has no help", s.name);
        }
    }

    #[test]
    fn env_names_follow_etcd() {
        assert_eq!(env_name("initial-cluster-token"), "ETCD_INITIAL_CLUSTER_TOKEN");
        assert_eq!(env_name("name"), "ETCD_NAME");
    }
}
