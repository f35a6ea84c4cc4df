//! The validated configuration: plain data, every value in its final type, defaults applied.

use super::url::{EtcdUrl, InitialCluster};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The backend size at which etcd raises the NOSPACE alarm when `--quota-backend-bytes` is 0.
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// etcd warns above this quota (8 GiB) but still applies it.
pub const MAX_QUOTA_BACKEND_BYTES: u64 = 8 * 1024 * 1024 * 1024;
/// The etcd release whose API, flags and defaults oxcd follows; `--version` prints it.
pub const ETCD_COMPAT_VERSION: &str = "3.5.0";

/// Everything `oxcd` was told by its command line, `ETCD_*` environment and `--config-file`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This member: names, directories, timing, listeners and limits.
    pub member: MemberConfig,
    /// How the cluster is bootstrapped.
    pub cluster: ClusterConfig,
    /// TLS for the client listeners (`--cert-file`, ...).
    pub client_tls: TlsConfig,
    /// TLS for the peer listeners and outgoing peer connections (`--peer-cert-file`, ...).
    pub peer_tls: TlsConfig,
    /// TLS settings shared by both sides (`--cipher-suites`, `--tls-min-version`, ...).
    pub tls: TlsCommon,
    /// Authentication (`--auth-token`, `--bcrypt-cost`, `--auth-token-ttl`).
    pub auth: AuthConfig,
    /// Logging (`--logger`, `--log-level`, `--log-outputs`).
    pub log: LogConfig,
    /// Metrics endpoints (`--metrics`, `--listen-metrics-urls`).
    pub metrics: MetricsConfig,
    /// `--experimental-*` settings that oxcd honours.
    pub experimental: ExperimentalConfig,
    /// Which event loop runs the member (`--runtime`, oxcd only).
    pub runtime: Runtime,
    /// `--print-config` (oxcd only): print this configuration and exit.
    pub print_config: bool,
    /// The `--config-file` the configuration came from; flags and environment were then ignored.
    pub config_file: Option<PathBuf>,
    /// Flags that were set but that oxcd accepts only for compatibility and ignores, with the value
    /// as given (after validation); the server logs them.
    pub ignored: BTreeMap<String, String>,
    /// Notes for the log, in the order they arose (shadowed settings, ignored flags, fallbacks).
    pub warnings: Vec<String>,
}

/// This member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberConfig {
    /// `--name`: human-readable name, also the key into `--initial-cluster`.
    pub name: String,
    /// `--data-dir`; defaults to `<name>.oxcd` (etcd's is `<name>.etcd`; our format differs).
    pub data_dir: PathBuf,
    /// `--wal-dir`: a dedicated directory for the log, if given.
    pub wal_dir: Option<PathBuf>,
    /// `--snapshot-count`: applied entries between snapshots.
    pub snapshot_count: u64,
    /// `--experimental-snapshot-catchup-entries`: entries kept after a snapshot for slow followers.
    pub snapshot_catchup_entries: u64,
    /// `--heartbeat-interval` (given in ms); also the Raft tick.
    pub heartbeat_interval: Duration,
    /// `--election-timeout` (given in ms).
    pub election_timeout: Duration,
    /// `--initial-election-tick-advance`.
    pub initial_election_tick_advance: bool,
    /// `--listen-peer-urls`, sorted and without duplicates.
    pub listen_peer_urls: Vec<EtcdUrl>,
    /// `--listen-client-urls`: gRPC and (unless split off) HTTP.
    pub listen_client_urls: Vec<EtcdUrl>,
    /// `--listen-client-http-urls`: HTTP-only client listeners.
    pub listen_client_http_urls: Vec<EtcdUrl>,
    /// `--max-snapshots` (0 = unlimited).
    pub max_snapshots: u32,
    /// `--max-wals` (0 = unlimited).
    pub max_wals: u32,
    /// `--quota-backend-bytes` after etcd's rules: 0 became 2 GiB; `None` (a negative value) means
    /// no quota.
    pub quota_backend_bytes: Option<u64>,
    /// `--max-txn-ops`.
    pub max_txn_ops: u32,
    /// `--max-request-bytes`.
    pub max_request_bytes: u32,
    /// `--max-concurrent-streams` per client connection.
    pub max_concurrent_streams: u32,
    /// `--enable-grpc-gateway`: serve the `/v3/*` JSON gateway.
    pub enable_grpc_gateway: bool,
    /// `--enable-v2`: serve etcd v2's keys API.
    pub enable_v2: bool,
    /// `--grpc-keepalive-min-time`.
    pub grpc_keepalive_min_time: Duration,
    /// `--grpc-keepalive-interval` (zero disables).
    pub grpc_keepalive_interval: Duration,
    /// `--grpc-keepalive-timeout` (zero disables).
    pub grpc_keepalive_timeout: Duration,
    /// `--socket-reuse-port`.
    pub socket_reuse_port: bool,
    /// `--socket-reuse-address`.
    pub socket_reuse_address: bool,
    /// `--raft-read-timeout` (raised to etcd's 5 s minimum).
    pub raft_read_timeout: Duration,
    /// `--raft-write-timeout` (raised to etcd's 5 s minimum).
    pub raft_write_timeout: Duration,
    /// `--strict-reconfig-check`.
    pub strict_reconfig_check: bool,
    /// `--pre-vote`.
    pub pre_vote: bool,
    /// `--auto-compaction-mode` with `--auto-compaction-retention`.
    pub auto_compaction: AutoCompaction,
    /// `--unsafe-no-fsync`.
    pub unsafe_no_fsync: bool,
    /// `--force-new-cluster`.
    pub force_new_cluster: bool,
}

/// Bootstrapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `--initial-advertise-peer-urls`.
    pub initial_advertise_peer_urls: Vec<EtcdUrl>,
    /// `--initial-cluster`, parsed.
    pub initial_cluster: InitialCluster,
    /// `--initial-cluster-state`.
    pub initial_cluster_state: ClusterState,
    /// `--initial-cluster-token`.
    pub initial_cluster_token: String,
    /// `--advertise-client-urls`.
    pub advertise_client_urls: Vec<EtcdUrl>,
}

/// `--initial-cluster-state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterState {
    /// Bootstrap a new cluster from `--initial-cluster`.
    New,
    /// Join a cluster that already runs (after `member add`).
    Existing,
}

/// One side's TLS files and rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// `--cert-file` / `--peer-cert-file`: the server certificate (PEM).
    pub cert_file: Option<PathBuf>,
    /// `--key-file` / `--peer-key-file`.
    pub key_file: Option<PathBuf>,
    /// `--client-cert-file` / `--peer-client-cert-file`: certificate for outgoing connections.
    pub client_cert_file: Option<PathBuf>,
    /// `--client-key-file` / `--peer-client-key-file`.
    pub client_key_file: Option<PathBuf>,
    /// `--client-cert-auth` / `--peer-client-cert-auth`: require and verify client certificates.
    pub client_cert_auth: bool,
    /// `--trusted-ca-file` / `--peer-trusted-ca-file`.
    pub trusted_ca_file: Option<PathBuf>,
    /// `--client-crl-file` / `--peer-crl-file`.
    pub crl_file: Option<PathBuf>,
    /// `--auto-tls` / `--peer-auto-tls`: self-signed certificates when none are given.
    pub auto_tls: bool,
    /// `--peer-cert-allowed-cn` (peer side only): accepted client certificate CNs.
    pub allowed_cns: Vec<String>,
    /// `--client-cert-allowed-hostname` / `--peer-cert-allowed-hostname`.
    pub allowed_hostnames: Vec<String>,
    /// `--experimental-peer-skip-client-san-verification` (peer side only).
    pub skip_client_san_verification: bool,
}

impl TlsConfig {
    /// True when a certificate and key were given (etcd's `TLSInfo.Empty()` negated).
    #[must_use]
    pub fn has_cert(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }
}

/// TLS settings for both sides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsCommon {
    /// `--cipher-suites`, Go's names as given (validated against Go's list); empty = library
    /// default.
    pub cipher_suites: Vec<String>,
    /// `--tls-min-version`.
    pub min_version: TlsVersion,
    /// `--tls-max-version`; `None` lets the library decide.
    pub max_version: Option<TlsVersion>,
    /// `--self-signed-cert-validity` in years, for `--auto-tls` / `--peer-auto-tls`.
    pub self_signed_cert_validity_years: u32,
}

/// A TLS protocol version as etcd names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `TLS1.2`.
    Tls12,
    /// `TLS1.3`.
    Tls13,
}

/// Authentication settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// `--auth-token`; only `simple` is supported.
    pub token: AuthToken,
    /// `--bcrypt-cost` (4..=31; out of range falls back to 10 with a warning, as etcd does).
    pub bcrypt_cost: u32,
    /// `--auth-token-ttl` (given in seconds).
    pub token_ttl: Duration,
}

/// `--auth-token`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthToken {
    /// Random opaque tokens held by the member that issued them.
    Simple,
}

/// `--logger`, `--log-level`, `--log-outputs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `--log-level` (`--debug` of etcd 3.4 sets `Debug`).
    pub level: LogLevel,
    /// `--log-outputs`: `default` (= stderr), `stderr`, `stdout`, `systemd/journal` or file paths.
    pub outputs: Vec<String>,
}

/// `--log-level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `warn`.
    Warn,
    /// `error`.
    Error,
    /// `dpanic`, `panic`, `fatal`: only the most severe messages.
    Fatal,
}

/// Metrics endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `--metrics extensive` adds histograms.
    pub extensive: bool,
    /// `--listen-metrics-urls`: extra listeners for `/metrics` and `/health`.
    pub listen_urls: Vec<EtcdUrl>,
}

/// `--experimental-*` settings that oxcd carries to the modules that honour them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExperimentalConfig {
    /// `--experimental-initial-corrupt-check`.
    pub initial_corrupt_check: bool,
    /// `--experimental-corrupt-check-time` (zero disables).
    pub corrupt_check_time: Duration,
    /// `--experimental-compact-hash-check-enabled`.
    pub compact_hash_check_enabled: bool,
    /// `--experimental-compact-hash-check-time`.
    pub compact_hash_check_time: Duration,
    /// `--experimental-enable-lease-checkpoint`.
    pub enable_lease_checkpoint: bool,
    /// `--experimental-enable-lease-checkpoint-persist`.
    pub enable_lease_checkpoint_persist: bool,
    /// `--experimental-compaction-batch-limit`: revisions removed per compaction step.
    pub compaction_batch_limit: u32,
    /// `--experimental-compaction-sleep-interval`.
    pub compaction_sleep_interval: Duration,
    /// `--experimental-watch-progress-notify-interval`.
    pub watch_progress_notify_interval: Duration,
    /// `--experimental-warning-apply-duration`: log applies slower than this.
    pub warning_apply_duration: Duration,
    /// `--experimental-downgrade-check-time`.
    pub downgrade_check_time: Duration,
}

/// `--auto-compaction-mode` + `--auto-compaction-retention`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Retention 0: no automatic compaction.
    Disabled,
    /// Keep this much history (a bare number is hours, as in etcd).
    Periodic(Duration),
    /// Keep this many revisions.
    Revision(u64),
}

/// `--runtime` (oxcd only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// The mio event loop (default).
    Mio,
    /// The smol executor.
    Smol,
}

impl Default for Config {
    /// etcd's defaults (3.5), with oxcd's data directory name.
    fn default() -> Self {
        let url = |s: &str| EtcdUrl::parse(s).expect("default URLs are valid");
        let name = String::from("default");
        Config {
            member: MemberConfig {
                data_dir: PathBuf::from(format!("{name}.oxcd")),
                name,
                wal_dir: None,
                snapshot_count: 100_000,
                snapshot_catchup_entries: 5_000,
                heartbeat_interval: Duration::from_millis(100),
                election_timeout: Duration::from_millis(1000),
                initial_election_tick_advance: true,
                listen_peer_urls: vec![url("http://localhost:2380")],
                listen_client_urls: vec![url("http://localhost:2379")],
                listen_client_http_urls: Vec::new(),
                max_snapshots: 5,
                max_wals: 5,
                quota_backend_bytes: Some(DEFAULT_QUOTA_BACKEND_BYTES),
                max_txn_ops: 128,
                max_request_bytes: 1_572_864,
                max_concurrent_streams: u32::MAX,
                enable_grpc_gateway: true,
                enable_v2: false,
                grpc_keepalive_min_time: Duration::from_secs(5),
                grpc_keepalive_interval: Duration::from_secs(2 * 3600),
                grpc_keepalive_timeout: Duration::from_secs(20),
                socket_reuse_port: false,
                socket_reuse_address: false,
                raft_read_timeout: Duration::from_secs(5),
                raft_write_timeout: Duration::from_secs(5),
                strict_reconfig_check: true,
                pre_vote: true,
                auto_compaction: AutoCompaction::Disabled,
                unsafe_no_fsync: false,
                force_new_cluster: false,
            },
            cluster: ClusterConfig {
                initial_advertise_peer_urls: vec![url("http://localhost:2380")],
                initial_cluster: InitialCluster::parse("default=http://localhost:2380")
                    .expect("the default initial cluster is valid"),
                initial_cluster_state: ClusterState::New,
                initial_cluster_token: String::from("etcd-cluster"),
                advertise_client_urls: vec![url("http://localhost:2379")],
            },
            client_tls: TlsConfig::default(),
            peer_tls: TlsConfig::default(),
            tls: TlsCommon {
                cipher_suites: Vec::new(),
                min_version: TlsVersion::Tls12,
                max_version: None,
                self_signed_cert_validity_years: 1,
            },
            auth: AuthConfig {
                token: AuthToken::Simple,
                bcrypt_cost: 10,
                token_ttl: Duration::from_secs(300),
            },
            log: LogConfig { level: LogLevel::Info, outputs: vec![String::from("default")] },
            metrics: MetricsConfig { extensive: false, listen_urls: Vec::new() },
            experimental: ExperimentalConfig {
                initial_corrupt_check: false,
                corrupt_check_time: Duration::ZERO,
                compact_hash_check_enabled: false,
                compact_hash_check_time: Duration::from_secs(60),
                enable_lease_checkpoint: false,
                enable_lease_checkpoint_persist: false,
                compaction_batch_limit: 1000,
                compaction_sleep_interval: Duration::from_millis(10),
                watch_progress_notify_interval: Duration::from_secs(600),
                warning_apply_duration: Duration::from_millis(100),
                downgrade_check_time: Duration::from_secs(5),
            },
            runtime: Runtime::Mio,
            print_config: false,
            config_file: None,
            ignored: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }
}
