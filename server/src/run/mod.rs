//! From a parsed [`Config`] to a running member: logging, storage, the core's configuration,
//! TLS, listeners, then the mio driver until it stops.

mod logging;

use std::path::Path;

use oxcd_core::identity::PeerCertRules;
use oxcd_core::membership::Member;
use oxcd_core::mvcc::auto_compact::AutoCompactionMode;
use oxcd_core::node::{InitialCluster, NodeConfig};
use oxcd_runtime_mio::driver::{ClientListener, Driver, DriverConfig, ListenerKind, StopReason};
use oxcd_runtime_mio::peer::tls::SelfSignedPeerCert;
use oxcd_runtime_mio::peer::{PeerTls, PeerTransportConfig, PeerUrl};
use oxcd_runtime_mio::tls::{auto_tls_hosts, server_config, ServerTlsOptions};
use oxcd_runtime_mio::transport::{ListenUrl, TransportConfig};
use oxcd_storage_lmdb::{ExpectedIdentity, LmdbStorage, MemberIdentity, OpenOptions};

use crate::config::{AutoCompaction, ClusterState, Config, EtcdUrl, Runtime};

pub use logging::init_logging;

/// Why the member could not start or stopped with an error.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(e: impl std::fmt::Display) -> RunError {
    RunError(e.to_string())
}

/// A seed for the member's random generator, from the OS.
fn os_seed() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if std::io::Read::read_exact(&mut f, &mut b).is_ok() {
            return u64::from_le_bytes(b);
        }
    }
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}

/// The core's configuration from the flags.
///
/// # Errors
/// Joining an existing cluster (the member learns its id from its peers, which needs the peer
/// transport), or a member not named in `--initial-cluster`.
pub fn node_config(config: &Config) -> Result<NodeConfig, RunError> {
    let derived = config.derived();
    if config.cluster.initial_cluster_state == ClusterState::Existing {
        return Err(RunError(
            "--initial-cluster-state existing is not supported yet: joining a running cluster needs the peer transport".into(),
        ));
    }
    let id = derived.local_member_id.ok_or_else(|| {
        RunError(format!(
            "couldn't find local name {:?} in the initial cluster configuration",
            config.member.name
        ))
    })?;
    let cluster_id = derived.cluster_id.map_or(0, |c| c.0);
    let urls = |u: &[EtcdUrl]| u.iter().map(|u| u.as_str().to_owned()).collect::<Vec<_>>();
    let mut n = NodeConfig::new(id, cluster_id, &config.member.name);
    n.peer_urls = urls(&config.cluster.initial_advertise_peer_urls);
    n.client_urls = urls(&config.cluster.advertise_client_urls);
    n.heartbeat_interval = config.member.heartbeat_interval;
    n.election_timeout = config.member.election_timeout;
    n.pre_vote = config.member.pre_vote;
    n.seed = os_seed();
    n.max_request_bytes = config.member.max_request_bytes as usize;
    n.max_txn_ops = config.member.max_txn_ops as usize;
    n.quota_backend_bytes = config.member.quota_backend_bytes.unwrap_or(u64::MAX);
    n.snapshot_count = config.member.snapshot_count.max(1);
    n.auth_token_ttl = config.auth.token_ttl;
    n.strict_reconfig_check = config.member.strict_reconfig_check;
    n.watch_progress_notify_interval = config.experimental.watch_progress_notify_interval;
    n.auto_compaction = match config.member.auto_compaction {
        AutoCompaction::Disabled => None,
        AutoCompaction::Periodic(retention) => Some(AutoCompactionMode::Periodic { retention }),
        AutoCompaction::Revision(r) => {
            Some(AutoCompactionMode::Revision { retention: i64::try_from(r).unwrap_or(i64::MAX) })
        }
    };
    n.validate().map_err(|e| RunError(format!("invalid member configuration: {e}")))?;
    Ok(n)
}

/// The founding members of `--initial-cluster` (names only for this member: the others publish
/// theirs when they start).
#[must_use]
pub fn initial_members(config: &Config) -> Vec<Member> {
    config
        .derived()
        .initial_members
        .into_iter()
        .map(|m| Member {
            id: m.id,
            name: m.name,
            peer_urls: m.peer_urls,
            client_urls: Vec::new(),
            is_learner: false,
        })
        .collect()
}

fn listen_url(url: &EtcdUrl) -> Result<ListenUrl, RunError> {
    ListenUrl::parse(url.as_str()).map_err(RunError)
}

/// The client listeners with their TLS configuration.
///
/// # Errors
/// A URL the transport cannot bind to, or TLS files that do not load.
pub fn client_listeners(config: &Config) -> Result<Vec<ClientListener>, RunError> {
    let mut urls: Vec<(ListenUrl, ListenerKind)> = Vec::new();
    for (list, kind) in [
        (&config.member.listen_client_urls, ListenerKind::Client),
        (&config.member.listen_client_http_urls, ListenerKind::HttpOnly),
        (&config.metrics.listen_urls, ListenerKind::Metrics),
    ] {
        for url in list {
            urls.push((listen_url(url)?, kind));
        }
    }
    let needs_tls = urls.iter().any(|(u, _)| u.scheme.is_tls());
    let tls = if needs_tls {
        let t = &config.client_tls;
        let plain: Vec<ListenUrl> = urls.iter().map(|(u, _)| u.clone()).collect();
        let opts = ServerTlsOptions {
            cert_file: t.cert_file.clone(),
            key_file: t.key_file.clone(),
            trusted_ca_file: t.trusted_ca_file.clone(),
            client_cert_auth: t.client_cert_auth,
            auto_tls: t.auto_tls,
            auto_tls_hosts: auto_tls_hosts(&plain),
            self_signed_cert_validity_years: config.tls.self_signed_cert_validity_years,
        };
        Some(server_config(&opts).map_err(err)?)
    } else {
        None
    };
    Ok(urls
        .into_iter()
        .map(|(url, kind)| {
            let tls = if url.scheme.is_tls() { tls.clone() } else { None };
            ClientListener { url, tls, kind }
        })
        .collect())
}

fn peer_url(url: &EtcdUrl) -> Result<PeerUrl, RunError> {
    url.as_str().parse::<PeerUrl>().map_err(|e| RunError(format!("peer URL {url}: {e}")))
}

fn read(path: &Path) -> Result<Vec<u8>, RunError> {
    std::fs::read(path).map_err(|e| RunError(format!("cannot read {}: {e}", path.display())))
}

/// The peer transport's configuration: `--listen-peer-urls`, `--initial-advertise-peer-urls`,
/// the `--peer-*` TLS flags and certificate rules.
///
/// # Errors
/// URLs the peer transport cannot use, TLS files that do not load, rules that contradict.
pub fn peer_config(config: &Config, node: &NodeConfig) -> Result<PeerTransportConfig, RunError> {
    let mut p = PeerTransportConfig::new(node.id, node.cluster_id);
    p.listen_urls =
        config.member.listen_peer_urls.iter().map(peer_url).collect::<Result<_, _>>()?;
    p.advertise_urls = config
        .cluster
        .initial_advertise_peer_urls
        .iter()
        .map(peer_url)
        .collect::<Result<_, _>>()?;
    p.seed = node.seed;
    let t = &config.peer_tls;
    let any_tls = p.listen_urls.iter().chain(&p.advertise_urls).any(|u| u.tls)
        || config
            .cluster
            .initial_cluster
            .iter()
            .any(|(_, urls)| urls.iter().any(|u| u.scheme().is_tls()));
    p.tls = match (&t.cert_file, &t.key_file) {
        (Some(cert), Some(key)) => {
            let ca = t.trusted_ca_file.as_deref().map(read).transpose()?;
            Some(
                PeerTls::from_pem(&read(cert)?, &read(key)?, ca.as_deref(), t.client_cert_auth)
                    .map_err(err)?,
            )
        }
        _ if t.auto_tls && any_tls => {
            let hosts: Vec<String> = config
                .member
                .listen_peer_urls
                .iter()
                .filter_map(|u| u.hostname().map(str::to_owned))
                .collect();
            let cert = SelfSignedPeerCert::generate(&hosts).map_err(err)?;
            Some(PeerTls::auto(&cert).map_err(err)?)
        }
        _ => None,
    };
    p.cert_rules = PeerCertRules::new(t.allowed_cns.clone(), t.allowed_hostnames.clone())
        .map_err(|e| RunError(format!("{e:?}")))?
        .with_skip_san_verify(t.skip_client_san_verification);
    Ok(p)
}

fn open_storage(config: &Config, node: &NodeConfig) -> Result<LmdbStorage, RunError> {
    let dir: &Path = &config.member.data_dir;
    let exists = LmdbStorage::exists(dir);
    let options = OpenOptions {
        create: !exists,
        expected_identity: ExpectedIdentity {
            cluster_id: Some(node.cluster_id),
            member_id: Some(node.id),
            member_name: None,
        },
        unsafe_no_fsync: config.member.unsafe_no_fsync,
        ..OpenOptions::default()
    };
    let storage = LmdbStorage::open(dir, options).map_err(err)?;
    if !exists {
        let identity = MemberIdentity {
            cluster_id: node.cluster_id,
            member_id: node.id,
            member_name: node.name.clone(),
        };
        storage.bootstrap(&identity).map_err(err)?;
    }
    tracing::info!(data_dir = %dir.display(), restart = exists, "opened storage");
    Ok(storage)
}

/// The whole driver configuration.
///
/// # Errors
/// As [`node_config`] and [`client_listeners`].
pub fn driver_config(config: &Config) -> Result<DriverConfig, RunError> {
    let node = node_config(config)?;
    let members = initial_members(config);
    let peer = peer_config(config, &node)?;
    let mut d = DriverConfig::new(node, InitialCluster::New(members));
    d.peer = Some(peer);
    d.listeners = client_listeners(config)?;
    d.enable_gateway = config.member.enable_grpc_gateway;
    d.client_cert_auth = config.client_tls.client_cert_auth;
    d.bcrypt_cost = config.auth.bcrypt_cost;
    d.transport = TransportConfig {
        max_concurrent_streams: config.member.max_concurrent_streams.min(1 << 16),
        ..TransportConfig::default()
    };
    Ok(d)
}

/// Runs the member until it stops.
///
/// # Errors
/// Anything that keeps it from starting, or a storage failure while running.
pub fn run(config: &Config) -> Result<StopReason, RunError> {
    if config.runtime == Runtime::Smol {
        return Err(RunError("--runtime smol is not available yet; use --runtime mio".into()));
    }
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    for (flag, value) in &config.ignored {
        tracing::warn!(flag = %flag, value = %value, "flag accepted for compatibility and ignored");
    }
    let driver_config = driver_config(config)?;
    let storage = open_storage(config, &driver_config.node)?;
    let driver = Driver::new(driver_config, storage).map_err(err)?;
    for addr in driver.client_addrs() {
        tracing::info!(%addr, "serving client traffic");
    }
    for addr in driver.peer_addrs() {
        tracing::info!(%addr, "serving peer traffic");
    }
    let reason = driver.run().map_err(err)?;
    Ok(reason)
}
