//! Applying one flag's value to the configuration being built. The same code serves the command
//! line, the environment and the config file; only the value's shape (text or YAML) differs.

use super::flags::{FlagSpec, Kind, Support};
use super::model::{ClusterState, Config, Runtime};
use super::url::{join_urls, parse_url_list, EtcdUrl};
use super::values::{
    parse_bool, parse_duration, parse_int, parse_uint, split_list, yaml11_bool, yaml_expected,
    yaml_type, Value,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;
use yaml_rust2::Yaml;

/// Values kept as given until validation turns them into their final types (they depend on
/// each other or have etcd-specific error texts that belong to validation).
#[derive(Clone, Debug)]
pub(super) struct Raw {
    pub data_dir: String,
    pub wal_dir: String,
    pub heartbeat_ms: u64,
    pub election_ms: u64,
    pub quota_backend_bytes: i64,
    pub initial_cluster: String,
    pub auto_compaction_mode: String,
    pub auto_compaction_retention: String,
    pub auth_token: String,
    pub bcrypt_cost: u64,
    pub auth_token_ttl_s: u64,
    pub tls_min_version: String,
    pub tls_max_version: String,
    pub logger: String,
    pub log_level: String,
    pub debug: bool,
    pub metrics: String,
    pub proxy: String,
    /// Refused flags that were given a non-empty value.
    pub refused: BTreeMap<&'static str, String>,
}

/// The configuration while flags are applied.
#[derive(Clone, Debug)]
pub(super) struct Draft {
    pub cfg: Config,
    pub raw: Raw,
    /// Flags that were set by the source in use (command line + environment, or the file).
    pub set: BTreeSet<&'static str>,
}

impl Draft {
    /// etcd's defaults.
    pub fn new() -> Draft {
        Draft {
            cfg: Config::default(),
            raw: Raw {
                data_dir: String::new(),
                wal_dir: String::new(),
                heartbeat_ms: 100,
                election_ms: 1000,
                quota_backend_bytes: 0,
                initial_cluster: String::from("default=http://localhost:2380"),
                auto_compaction_mode: String::from("periodic"),
                auto_compaction_retention: String::from("0"),
                auth_token: String::from("simple"),
                bcrypt_cost: 10,
                auth_token_ttl_s: 300,
                tls_min_version: String::from("TLS1.2"),
                tls_max_version: String::new(),
                logger: String::from("zap"),
                log_level: String::from("info"),
                debug: false,
                metrics: String::from("basic"),
                proxy: String::from("off"),
                refused: BTreeMap::new(),
            },
            set: BTreeSet::new(),
        }
    }
}

/// Why a value was refused: `Type` for a YAML node of the wrong type, `Bad` for text that does
/// not parse (with the reason etcd gives: "parse error", "invalid value", a URL error...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ApplyError {
    Type { expected: &'static str, found: &'static str },
    Bad(String),
}

type R<T> = Result<T, ApplyError>;

fn bad<T>(why: &str) -> R<T> {
    Err(ApplyError::Bad(why.to_string()))
}

fn mismatch<T>(kind: Kind, y: &Yaml) -> R<T> {
    Err(ApplyError::Type { expected: yaml_expected(kind), found: yaml_type(y) })
}

fn text(v: Value<'_>, kind: Kind) -> R<String> {
    match v {
        Value::Text(s) => Ok(s.to_string()),
        Value::Yaml(Yaml::String(s)) => Ok(s.clone()),
        Value::Yaml(y) => mismatch(kind, y),
    }
}

fn boolean(v: Value<'_>) -> R<bool> {
    match v {
        Value::Text(s) => parse_bool(s).map_or_else(|| bad("parse error"), Ok),
        Value::Yaml(Yaml::Boolean(b)) => Ok(*b),
        Value::Yaml(y @ Yaml::String(s)) => {
            yaml11_bool(s).map_or_else(|| mismatch(Kind::Bool, y), Ok)
        }
        Value::Yaml(y) => mismatch(Kind::Bool, y),
    }
}

fn uint(v: Value<'_>) -> R<u64> {
    match v {
        Value::Text(s) => match parse_uint(s) {
            Some(n) => Ok(n),
            None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                bad("value out of range")
            }
            None => bad("parse error"),
        },
        Value::Yaml(y @ Yaml::Integer(n)) => u64::try_from(*n).or_else(|_| mismatch(Kind::Uint, y)),
        Value::Yaml(y) => mismatch(Kind::Uint, y),
    }
}

fn u32_of(v: Value<'_>) -> R<u32> {
    u32::try_from(uint(v)?).or_else(|_| bad("value out of range"))
}

fn int(v: Value<'_>) -> R<i64> {
    match v {
        Value::Text(s) => parse_int(s).map_or_else(|| bad("parse error"), Ok),
        Value::Yaml(Yaml::Integer(n)) => Ok(*n),
        Value::Yaml(y) => mismatch(Kind::Int, y),
    }
}

fn duration(v: Value<'_>) -> R<Duration> {
    match v {
        Value::Text(s) => parse_duration(s).map_or_else(|| bad("parse error"), Ok),
        // etcd's config file holds Go durations as integer nanoseconds.
        Value::Yaml(y @ Yaml::Integer(n)) => {
            u64::try_from(*n).map(Duration::from_nanos).or_else(|_| mismatch(Kind::Duration, y))
        }
        Value::Yaml(y) => mismatch(Kind::Duration, y),
    }
}

/// `None` for an empty value: etcd then keeps the previous list.
fn urls(v: Value<'_>) -> R<Option<Vec<EtcdUrl>>> {
    let dedup = matches!(v, Value::Text(_));
    let s = text(v, Kind::Urls)?;
    if s.is_empty() {
        return Ok(None);
    }
    parse_url_list(&s, dedup).map(Some).map_err(ApplyError::Bad)
}

fn list(v: Value<'_>, kind: Kind) -> R<Vec<String>> {
    match v {
        Value::Text(s) => Ok(split_list(s)),
        Value::Yaml(Yaml::Array(items)) if kind == Kind::List => items
            .iter()
            .map(|i| match i {
                Yaml::String(s) => Ok(s.clone()),
                other => mismatch(kind, other),
            })
            .collect(),
        Value::Yaml(Yaml::String(s)) if kind == Kind::CommaList => Ok(split_list(s)),
        Value::Yaml(y) => mismatch(kind, y),
    }
}

fn choice(v: Value<'_>, kind: Kind) -> R<String> {
    let s = text(v, kind)?;
    match kind {
        Kind::Choice(allowed) if !allowed.contains(&s.as_str()) => bad("invalid value"),
        _ => Ok(s),
    }
}

fn path(v: Value<'_>) -> R<Option<PathBuf>> {
    let s = text(v, Kind::Str)?;
    Ok((!s.is_empty()).then(|| PathBuf::from(s)))
}

/// The value in a canonical text form, for `Config::ignored`.
fn canonical(spec: &FlagSpec, v: Value<'_>) -> R<String> {
    Ok(match spec.kind {
        Kind::Str => text(v, spec.kind)?,
        Kind::Bool => boolean(v)?.to_string(),
        Kind::Uint => uint(v)?.to_string(),
        Kind::Int => int(v)?.to_string(),
        Kind::Duration => format!("{:?}", duration(v)?),
        Kind::Urls => urls(v)?.map(|u| join_urls(&u)).unwrap_or_default(),
        Kind::List | Kind::CommaList => list(v, spec.kind)?.join(","),
        Kind::Choice(_) => choice(v, spec.kind)?,
        Kind::Legacy => match v {
            Value::Text(s) => s.to_string(),
            Value::Yaml(y) => format!("{y:?}"),
        },
    })
}

/// Applies one value. Every name in the flag table is handled here; the table test checks it.
pub(super) fn apply(d: &mut Draft, spec: &'static FlagSpec, v: Value<'_>) -> R<()> {
    d.set.insert(spec.name);
    match spec.support {
        Support::Ignored => {
            let value = canonical(spec, v)?;
            d.cfg.ignored.insert(spec.name.to_string(), value);
            return Ok(());
        }
        Support::Refused => {
            let value = text(v, spec.kind)?;
            if !value.is_empty() {
                d.raw.refused.insert(spec.name, value);
            }
            return Ok(());
        }
        Support::Used => {}
    }
    let (c, r) = (&mut d.cfg, &mut d.raw);
    let (m, k) = (&mut c.member, spec.kind);
    match spec.name {
        "name" => m.name = text(v, k)?,
        "data-dir" => r.data_dir = text(v, k)?,
        "wal-dir" => r.wal_dir = text(v, k)?,
        "snapshot-count" => m.snapshot_count = uint(v)?,
        "heartbeat-interval" => r.heartbeat_ms = uint(v)?,
        "election-timeout" => r.election_ms = uint(v)?,
        "initial-election-tick-advance" => m.initial_election_tick_advance = boolean(v)?,
        "listen-peer-urls" => set_urls(&mut m.listen_peer_urls, v)?,
        "listen-client-urls" => set_urls(&mut m.listen_client_urls, v)?,
        "listen-client-http-urls" => set_urls(&mut m.listen_client_http_urls, v)?,
        "max-snapshots" => m.max_snapshots = u32_of(v)?,
        "max-wals" => m.max_wals = u32_of(v)?,
        "quota-backend-bytes" => r.quota_backend_bytes = int(v)?,
        "max-txn-ops" => m.max_txn_ops = u32_of(v)?,
        "max-request-bytes" => m.max_request_bytes = u32_of(v)?,
        "max-concurrent-streams" => m.max_concurrent_streams = u32_of(v)?,
        "enable-grpc-gateway" => m.enable_grpc_gateway = boolean(v)?,
        "enable-v2" => m.enable_v2 = boolean(v)?,
        "grpc-keepalive-min-time" => m.grpc_keepalive_min_time = duration(v)?,
        "grpc-keepalive-interval" => m.grpc_keepalive_interval = duration(v)?,
        "grpc-keepalive-timeout" => m.grpc_keepalive_timeout = duration(v)?,
        "socket-reuse-port" => m.socket_reuse_port = boolean(v)?,
        "socket-reuse-address" => m.socket_reuse_address = boolean(v)?,
        "raft-read-timeout" => m.raft_read_timeout = duration(v)?,
        "raft-write-timeout" => m.raft_write_timeout = duration(v)?,
        "strict-reconfig-check" => m.strict_reconfig_check = boolean(v)?,
        "pre-vote" => m.pre_vote = boolean(v)?,
        "auto-compaction-retention" => r.auto_compaction_retention = text(v, k)?,
        "auto-compaction-mode" => r.auto_compaction_mode = text(v, k)?,
        "force-new-cluster" => m.force_new_cluster = boolean(v)?,
        "unsafe-no-fsync" => m.unsafe_no_fsync = boolean(v)?,
        "experimental-snapshot-catchup-entries" => m.snapshot_catchup_entries = uint(v)?,

        "initial-advertise-peer-urls" => set_urls(&mut c.cluster.initial_advertise_peer_urls, v)?,
        "initial-cluster" => r.initial_cluster = text(v, k)?,
        "initial-cluster-state" => {
            c.cluster.initial_cluster_state = match text(v, k)?.as_str() {
                "new" => ClusterState::New,
                "existing" => ClusterState::Existing,
                // The config file is not checked while read; validation words this one.
                other if matches!(v, Value::Yaml(_)) => {
                    return Err(ApplyError::Bad(format!("unexpected clusterState {other:?}")))
                }
                _ => return bad("invalid value"),
            }
        }
        "initial-cluster-token" => c.cluster.initial_cluster_token = text(v, k)?,
        "advertise-client-urls" => set_urls(&mut c.cluster.advertise_client_urls, v)?,

        "cert-file" => c.client_tls.cert_file = path(v)?,
        "key-file" => c.client_tls.key_file = path(v)?,
        "client-cert-auth" => c.client_tls.client_cert_auth = boolean(v)?,
        "client-cert-file" => c.client_tls.client_cert_file = path(v)?,
        "client-key-file" => c.client_tls.client_key_file = path(v)?,
        "client-crl-file" => c.client_tls.crl_file = path(v)?,
        "client-cert-allowed-hostname" => c.client_tls.allowed_hostnames = list(v, k)?,
        "trusted-ca-file" => c.client_tls.trusted_ca_file = path(v)?,
        "auto-tls" => c.client_tls.auto_tls = boolean(v)?,
        "peer-cert-file" => c.peer_tls.cert_file = path(v)?,
        "peer-key-file" => c.peer_tls.key_file = path(v)?,
        "peer-client-cert-auth" => c.peer_tls.client_cert_auth = boolean(v)?,
        "peer-trusted-ca-file" => c.peer_tls.trusted_ca_file = path(v)?,
        "peer-cert-allowed-cn" => c.peer_tls.allowed_cns = list(v, k)?,
        "peer-cert-allowed-hostname" => c.peer_tls.allowed_hostnames = list(v, k)?,
        "peer-auto-tls" => c.peer_tls.auto_tls = boolean(v)?,
        "peer-client-cert-file" => c.peer_tls.client_cert_file = path(v)?,
        "peer-client-key-file" => c.peer_tls.client_key_file = path(v)?,
        "peer-crl-file" => c.peer_tls.crl_file = path(v)?,
        "experimental-peer-skip-client-san-verification" => {
            c.peer_tls.skip_client_san_verification = boolean(v)?;
        }
        "self-signed-cert-validity" => c.tls.self_signed_cert_validity_years = u32_of(v)?,
        "cipher-suites" => c.tls.cipher_suites = list(v, k)?,
        "tls-min-version" => r.tls_min_version = text(v, k)?,
        "tls-max-version" => r.tls_max_version = text(v, k)?,

        "auth-token" => r.auth_token = text(v, k)?,
        "bcrypt-cost" => r.bcrypt_cost = uint(v)?,
        "auth-token-ttl" => r.auth_token_ttl_s = uint(v)?,

        "metrics" => r.metrics = text(v, k)?,
        "listen-metrics-urls" => set_urls(&mut c.metrics.listen_urls, v)?,
        "logger" => r.logger = text(v, k)?,
        "log-outputs" => c.log.outputs = list(v, k)?,
        "log-level" => r.log_level = text(v, k)?,
        "debug" => r.debug = boolean(v)?,
        "proxy" => r.proxy = choice(v, k)?,

        "experimental-initial-corrupt-check" => c.experimental.initial_corrupt_check = boolean(v)?,
        "experimental-corrupt-check-time" => c.experimental.corrupt_check_time = duration(v)?,
        "experimental-compact-hash-check-enabled" => {
            c.experimental.compact_hash_check_enabled = boolean(v)?;
        }
        "experimental-compact-hash-check-time" => {
            c.experimental.compact_hash_check_time = duration(v)?;
        }
        "experimental-enable-lease-checkpoint" => {
            c.experimental.enable_lease_checkpoint = boolean(v)?;
        }
        "experimental-enable-lease-checkpoint-persist" => {
            c.experimental.enable_lease_checkpoint_persist = boolean(v)?;
        }
        "experimental-compaction-batch-limit" => c.experimental.compaction_batch_limit = u32_of(v)?,
        "experimental-compaction-sleep-interval" => {
            c.experimental.compaction_sleep_interval = duration(v)?;
        }
        "experimental-watch-progress-notify-interval" => {
            c.experimental.watch_progress_notify_interval = duration(v)?;
        }
        "experimental-warning-apply-duration" => {
            c.experimental.warning_apply_duration = duration(v)?;
        }
        "experimental-downgrade-check-time" => c.experimental.downgrade_check_time = duration(v)?,

        "runtime" => {
            c.runtime = match choice(v, k)?.as_str() {
                "smol" => Runtime::Smol,
                _ => Runtime::Mio,
            }
        }
        "print-config" => c.print_config = boolean(v)?,
        "config-file" => c.config_file = path(v)?,
        other => unreachable!("flag --{other} is in the table but not applied"),
    }
    Ok(())
}

fn set_urls(field: &mut Vec<EtcdUrl>, v: Value<'_>) -> R<()> {
    if let Some(list) = urls(v)? {
        *field = list;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::flags::FLAGS;
    use super::*;

    /// Applying each flag's documented default must leave etcd's defaults unchanged: the help
    /// text and `Config::default()` cannot drift apart.
    #[test]
    fn documented_defaults_match_the_default_config() {
        for spec in FLAGS.iter().filter(|s| s.support == Support::Used) {
            if spec.name == "data-dir" {
                continue; // "${name}.oxcd" is a template, resolved in validation
            }
            let mut d = Draft::new();
            let before = (d.cfg.clone(), format!("{:?}", d.raw));
            apply(&mut d, spec, Value::Text(spec.default))
                .unwrap_or_else(|e| panic!("--{}: default {:?}: {e:?}", spec.name, spec.default));
            assert_eq!(d.cfg, before.0, "--{} default differs", spec.name);
            assert_eq!(format!("{:?}", d.raw), before.1, "--{} default differs", spec.name);
        }
    }

    #[test]
    fn every_flag_is_applied_and_ignored_flags_are_kept() {
        for spec in FLAGS {
            let mut d = Draft::new();
            let sample = match spec.kind {
                Kind::Bool | Kind::Legacy => "true",
                Kind::Uint | Kind::Int => "7",
                Kind::Duration => "3s",
                Kind::Urls => "http://127.0.0.1:1",
                Kind::Choice(c) => c[0],
                Kind::Str | Kind::List | Kind::CommaList => "x",
            };
            apply(&mut d, spec, Value::Text(sample)).unwrap();
            assert!(d.set.contains(spec.name));
            if spec.support == Support::Ignored {
                assert!(d.cfg.ignored.contains_key(spec.name), "--{}", spec.name);
            }
            if spec.support == Support::Refused {
                assert_eq!(d.raw.refused.get(spec.name).map(String::as_str), Some("x"));
            }
        }
    }

    #[test]
    fn go_flag_reasons() {
        let spec = super::super::flags::spec("snapshot-count").unwrap();
        let mut d = Draft::new();
        assert_eq!(apply(&mut d, spec, Value::Text("abc")), bad("parse error"));
        let txn = super::super::flags::spec("max-txn-ops").unwrap();
        assert_eq!(apply(&mut d, txn, Value::Text("4294967296")), bad("value out of range"));
        let state = super::super::flags::spec("initial-cluster-state").unwrap();
        assert_eq!(apply(&mut d, state, Value::Text("bogus")), bad("invalid value"));
    }

    #[test]
    fn yaml_types_are_checked() {
        let hb = super::super::flags::spec("heartbeat-interval").unwrap();
        let mut d = Draft::new();
        let s = Yaml::String("100".into());
        assert_eq!(
            apply(&mut d, hb, Value::Yaml(&s)),
            Err(ApplyError::Type { expected: "a non-negative integer", found: "a string" })
        );
        let ka = super::super::flags::spec("grpc-keepalive-min-time").unwrap();
        apply(&mut d, ka, Value::Yaml(&Yaml::Integer(7_000_000_000))).unwrap();
        assert_eq!(d.cfg.member.grpc_keepalive_min_time, Duration::from_secs(7));
        let outs = super::super::flags::spec("log-outputs").unwrap();
        let arr = Yaml::Array(vec![Yaml::String("stderr".into())]);
        apply(&mut d, outs, Value::Yaml(&arr)).unwrap();
        assert_eq!(d.cfg.log.outputs, ["stderr"]);
        assert!(apply(&mut d, outs, Value::Yaml(&Yaml::String("stderr".into()))).is_err());
    }
}
