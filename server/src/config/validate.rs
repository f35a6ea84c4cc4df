//! Turning the applied values into a validated `Config`, with etcd's checks in etcd's order and
//! its error texts (`embed.Config.Validate`, then the bootstrap checks of `VerifyBootstrap`).

use super::apply::Draft;
use super::error::ConfigError;
use super::model::{
    AuthToken, AutoCompaction, ClusterState, Config, LogLevel, TlsVersion,
    DEFAULT_QUOTA_BACKEND_BYTES, MAX_QUOTA_BACKEND_BYTES,
};
use super::url::{join_urls, EtcdUrl, InitialCluster, UrlScheme};
use super::values::{parse_duration, parse_uint};
use std::path::PathBuf;
use std::time::Duration;

/// etcd's upper bound on `--election-timeout`.
pub const MAX_ELECTION_TIMEOUT_MS: u64 = 50_000;
/// etcd's minimum for `--raft-read-timeout` / `--raft-write-timeout`.
const MIN_RAFT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_INITIAL_CLUSTER: &str = "default=http://localhost:2380";

fn err<T>(s: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::invalid(s))
}

/// Finishes the configuration. `from_file` selects etcd's config-file rules where they differ
/// from the command line's.
pub(super) fn finish(mut d: Draft, from_file: bool) -> Result<Config, ConfigError> {
    refuse_unsupported(&d)?;
    logging(&mut d)?;
    urls(&mut d)?;
    timing(&mut d, from_file)?;
    compaction(&mut d)?;
    experimental(&d)?;
    tls_versions(&mut d)?;
    storage(&mut d);
    bootstrap(&mut d)?;
    super::tls::check(&mut d.cfg)?;
    auth(&mut d)?;
    for (name, value) in &d.cfg.ignored {
        d.cfg.warnings.push(format!(
            "--{name}={value} is accepted for etcd compatibility and ignored by oxcd"
        ));
    }
    Ok(d.cfg)
}

fn refuse_unsupported(d: &Draft) -> Result<(), ConfigError> {
    if let Some((flag, value)) = d.raw.refused.iter().next() {
        return err(format!(
            "--{flag}={value}: discovery is not supported by oxcd; bootstrap with --initial-cluster"
        ));
    }
    if d.raw.proxy != "off" {
        return err(format!("--proxy={}: the v2 proxy is not supported by oxcd", d.raw.proxy));
    }
    Ok(())
}

fn logging(d: &mut Draft) -> Result<(), ConfigError> {
    match d.raw.logger.as_str() {
        "zap" => {}
        "capnslog" => d.cfg.warnings.push(String::from(
            "--logger=capnslog (etcd 3.4) is accepted; oxcd logs in one structured format",
        )),
        other => return err(format!("unknown logger option {other:?}")),
    }
    let outputs = &mut d.cfg.log.outputs;
    if outputs.is_empty() {
        outputs.push(String::from("default"));
    }
    if outputs.len() > 1 {
        if outputs.iter().any(|o| o == "default") {
            return err("multi logoutput for \"default\" is not supported yet");
        }
        if outputs.iter().any(|o| o == "systemd/journal") {
            return err(format!(
                "running with systemd/journal but other '--log-outputs' values ({outputs:?}) are configured with 'default'; override 'default' value with something else"
            ));
        }
    }
    d.cfg.log.level = match d.raw.log_level.as_str() {
        _ if d.raw.debug => LogLevel::Debug,
        "debug" => LogLevel::Debug,
        "info" | "" => LogLevel::Info,
        "warn" => LogLevel::Warn,
        "error" => LogLevel::Error,
        "dpanic" | "panic" | "fatal" => LogLevel::Fatal,
        other => {
            return err(format!(
            "unknown log level {other:?} (only supports debug, info, warn, error, panic, or fatal)"
        ))
        }
    };
    Ok(())
}

/// etcd's `checkBindURLs`: listeners need an IP address or `localhost`.
fn check_bind(urls: &[EtcdUrl]) -> Result<(), ConfigError> {
    for u in urls {
        if matches!(u.scheme(), UrlScheme::Unix | UrlScheme::Unixs) {
            continue;
        }
        if u.hostname() != Some("localhost") && u.ip().is_none() {
            return err(format!("expected IP in URL for binding ({u})"));
        }
    }
    Ok(())
}

/// etcd's `checkHostURLs`, worded as `Validate` wraps it.
fn check_host(flag: &str, urls: &[EtcdUrl]) -> Result<(), ConfigError> {
    for u in urls {
        let why = match u.hostname() {
            None => format!("address {}: missing port in address", u.authority()),
            Some("") => format!("unexpected empty host ({u})"),
            Some(_) => continue,
        };
        return err(format!("--{flag} {:?} must be \"host:port\" ({why})", join_urls(urls)));
    }
    Ok(())
}

fn urls(d: &mut Draft) -> Result<(), ConfigError> {
    let (m, c) = (&d.cfg.member, &d.cfg.cluster);
    check_bind(&m.listen_peer_urls)?;
    check_bind(&m.listen_client_urls)?;
    check_bind(&m.listen_client_http_urls)?;
    check_bind(&d.cfg.metrics.listen_urls)?;
    check_host("initial-advertise-peer-urls", &c.initial_advertise_peer_urls)?;
    check_host("advertise-client-urls", &c.advertise_client_urls)?;
    for u in &m.listen_client_http_urls {
        if m.listen_client_urls.contains(u) {
            return err(format!(
                "cannot bind both --listen-client-urls and --listen-client-http-urls on the same url {u}"
            ));
        }
    }
    d.cfg.metrics.extensive = match d.raw.metrics.as_str() {
        "extensive" => true,
        "basic" => false,
        other => {
            d.cfg
                .warnings
                .push(format!("--metrics={other:?} is not 'basic' or 'extensive'; using basic"));
            false
        }
    };
    Ok(())
}

fn timing(d: &mut Draft, from_file: bool) -> Result<(), ConfigError> {
    let (hb, el) = (d.raw.heartbeat_ms, d.raw.election_ms);
    if hb == 0 {
        return err(format!("--heartbeat-interval must be >0 (set to {hb}ms)"));
    }
    if el == 0 {
        return err(format!("--election-timeout must be >0 (set to {el}ms)"));
    }
    if hb.saturating_mul(5) > el {
        return err(format!(
            "--election-timeout[{el}ms] should be at least as 5 times as --heartbeat-interval[{hb}ms]"
        ));
    }
    if el > MAX_ELECTION_TIMEOUT_MS {
        return err(format!(
            "--election-timeout[{el}ms] is too long, and should be set less than {MAX_ELECTION_TIMEOUT_MS}ms"
        ));
    }
    d.cfg.member.heartbeat_interval = Duration::from_millis(hb);
    d.cfg.member.election_timeout = Duration::from_millis(el);
    // etcd clears the default advertise URLs when only the listen URLs were given on the
    // command line (the config file keeps them), then requires them.
    let flags_set = |n: &str| !from_file && d.set.contains(n);
    if flags_set("listen-client-urls") && !flags_set("advertise-client-urls") {
        return err(
            "--advertise-client-urls is required when --listen-client-urls is set explicitly",
        );
    }
    let m = &mut d.cfg.member;
    for (flag, t) in [
        ("raft-read-timeout", &mut m.raft_read_timeout),
        ("raft-write-timeout", &mut m.raft_write_timeout),
    ] {
        if *t < MIN_RAFT_TIMEOUT {
            *t = MIN_RAFT_TIMEOUT;
            d.cfg.warnings.push(format!("--{flag} increased to minimum value: 5s"));
        }
    }
    Ok(())
}

fn compaction(d: &mut Draft) -> Result<(), ConfigError> {
    let mode = d.raw.auto_compaction_mode.as_str();
    if !matches!(mode, "" | "periodic" | "revision") {
        return err(format!("unknown auto-compaction-mode {mode:?}"));
    }
    let retention = d.raw.auto_compaction_retention.as_str();
    let as_number = parse_uint(retention).filter(|_| retention.bytes().all(|b| b.is_ascii_digit()));
    d.cfg.member.auto_compaction = match (as_number, mode) {
        (Some(0), _) => AutoCompaction::Disabled,
        (Some(n), "revision") => AutoCompaction::Revision(n),
        (Some(hours), _) => AutoCompaction::Periodic(Duration::from_secs(hours.saturating_mul(3600))),
        (None, "revision") => {
            return err(format!(
                "error parsing CompactionRetention: revision mode needs a number of revisions, not {retention:?}"
            ))
        }
        (None, _) => match parse_duration(retention) {
            Some(d) if d.is_zero() => AutoCompaction::Disabled,
            Some(d) => AutoCompaction::Periodic(d),
            None => {
                return err(format!(
                    "error parsing CompactionRetention: time: invalid duration {retention:?}"
                ))
            }
        },
    };
    Ok(())
}

fn experimental(d: &Draft) -> Result<(), ConfigError> {
    let x = &d.cfg.experimental;
    if x.enable_lease_checkpoint_persist && !x.enable_lease_checkpoint {
        return err(
            "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint",
        );
    }
    if x.compact_hash_check_time.is_zero() {
        return err("--experimental-compact-hash-check-time must be >0 (set to 0s)");
    }
    Ok(())
}

fn tls_version(s: &str) -> Result<Option<TlsVersion>, ConfigError> {
    match s {
        "" => Ok(None),
        "TLS1.2" => Ok(Some(TlsVersion::Tls12)),
        "TLS1.3" => Ok(Some(TlsVersion::Tls13)),
        other => err(format!("unexpected TLS version {other:?} (must be one of: TLS1.2, TLS1.3)")),
    }
}

fn tls_versions(d: &mut Draft) -> Result<(), ConfigError> {
    let min = tls_version(&d.raw.tls_min_version)?;
    let max = tls_version(&d.raw.tls_max_version)?;
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            return err(format!(
                "min version ({}) is greater than max version ({})",
                d.raw.tls_min_version, d.raw.tls_max_version
            ));
        }
    }
    if min == Some(TlsVersion::Tls13) && !d.cfg.tls.cipher_suites.is_empty() {
        return err("cipher suites cannot be configured when only TLS1.3 is enabled");
    }
    d.cfg.tls.min_version = min.unwrap_or(TlsVersion::Tls12);
    d.cfg.tls.max_version = max;
    Ok(())
}

fn storage(d: &mut Draft) {
    let m = &mut d.cfg.member;
    m.data_dir = if d.raw.data_dir.is_empty() {
        PathBuf::from(format!("{}.oxcd", m.name))
    } else {
        PathBuf::from(&d.raw.data_dir)
    };
    m.wal_dir = (!d.raw.wal_dir.is_empty()).then(|| PathBuf::from(&d.raw.wal_dir));
    m.quota_backend_bytes = match d.raw.quota_backend_bytes {
        q if q < 0 => {
            d.cfg.warnings.push(String::from("disabled backend quota (--quota-backend-bytes < 0)"));
            None
        }
        0 => Some(DEFAULT_QUOTA_BACKEND_BYTES),
        q => {
            let q = q.unsigned_abs();
            if q > MAX_QUOTA_BACKEND_BYTES {
                d.cfg.warnings.push(format!(
                    "--quota-backend-bytes={q} exceeds the maximum value {MAX_QUOTA_BACKEND_BYTES}"
                ));
            }
            Some(q)
        }
    };
    if d.cfg.tls.self_signed_cert_validity_years == 0 {
        d.cfg.tls.self_signed_cert_validity_years = 1;
    }
}

/// etcd's `UpdateDefaultClusterFromName`, the initial-cluster parse and `VerifyBootstrap` /
/// `VerifyJoinExisting`. Host names are compared as written: oxcd does no DNS lookups here,
/// where etcd would resolve both sides before declaring a mismatch.
fn bootstrap(d: &mut Draft) -> Result<(), ConfigError> {
    let (name, c) = (&d.cfg.member.name, &mut d.cfg.cluster);
    let cluster = if name != "default" && d.raw.initial_cluster == DEFAULT_INITIAL_CLUSTER {
        InitialCluster::single(name, &c.initial_advertise_peer_urls)
    } else {
        InitialCluster::parse(&d.raw.initial_cluster)
            .map_err(|e| ConfigError::invalid(format!("error setting up initial cluster: {e}")))?
    };
    let Some(local) = cluster.get(name) else {
        return err(format!(
            "couldn't find local name {name:?} in the initial cluster configuration"
        ));
    };
    if c.initial_cluster_state == ClusterState::New {
        let advertised = &c.initial_advertise_peer_urls;
        let missing: Vec<String> = local
            .iter()
            .filter(|u| !advertised.contains(u))
            .map(|u| format!("{name}={u}"))
            .collect();
        if !missing.is_empty() {
            return err(format!(
                "--initial-cluster has {} but missing from --initial-advertise-peer-urls={} (resolved urls: {:?} != {:?})",
                missing.join(","),
                join_urls(advertised),
                join_urls(advertised),
                join_urls(local),
            ));
        }
        let extra: Vec<&str> =
            advertised.iter().filter(|u| !local.contains(u)).map(EtcdUrl::as_str).collect();
        if !extra.is_empty() {
            return err(format!(
                "--initial-advertise-peer-urls has {} but missing from --initial-cluster={}",
                extra.join(","),
                InitialCluster::single(name, advertised)
            ));
        }
    }
    if cluster.has_duplicate_url() {
        return err(format!("initial cluster {cluster} has duplicate url"));
    }
    c.initial_cluster = cluster;
    Ok(())
}

fn auth(d: &mut Draft) -> Result<(), ConfigError> {
    let spec = d.raw.auth_token.as_str();
    let kind = spec.split(',').next().unwrap_or("");
    d.cfg.auth.token = match kind {
        "simple" => AuthToken::Simple,
        "jwt" => {
            return err(format!(
                "--auth-token={spec}: jwt tokens are not supported yet by oxcd; use --auth-token=simple"
            ))
        }
        other => return err(format!("auth: invalid auth options (unknown token type {other:?})")),
    };
    let cost = d.raw.bcrypt_cost;
    d.cfg.auth.bcrypt_cost = if (4..=31).contains(&cost) {
        u32::try_from(cost).unwrap_or(10)
    } else {
        d.cfg.warnings.push(format!(
            "use default bcrypt cost instead of the invalid given cost {cost} (min 4, max 31, default 10)"
        ));
        10
    };
    d.cfg.auth.token_ttl = Duration::from_secs(d.raw.auth_token_ttl_s);
    Ok(())
}
