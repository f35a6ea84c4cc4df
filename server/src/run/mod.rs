//! From a parsed [`Config`] to a running member: logging, storage, the core's configuration,
//! TLS, listeners, then the mio driver until it stops.

mod logging;

use std::path::Path;
use std::time::Duration;

use oxcd_core::identity::PeerCertRules;
use oxcd_core::membership::Member;
use oxcd_core::mvcc::auto_compact::AutoCompactionMode;
use oxcd_core::node::restore::has_member_state;
use oxcd_core::node::{InitialCluster, NodeConfig};
use oxcd_core::NodeId;
use oxcd_runtime_mio::driver::{ClientListener, Driver, DriverConfig, ListenerKind, StopReason};
use oxcd_runtime_mio::peer::http::fetch_members;
use oxcd_runtime_mio::peer::tls::SelfSignedPeerCert;
use oxcd_runtime_mio::peer::{local_source_ip, PeerHost, PeerTls, PeerTransportConfig, PeerUrl};
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

/// Who this member is and how it starts.
#[derive(Clone, Debug)]
pub struct Start {
    /// The member's id.
    pub id: NodeId,
    /// The cluster's id.
    pub cluster_id: u64,
    /// How a member with empty storage starts (ignored when the data dir holds data).
    pub initial: InitialCluster,
    /// For a joining member: the members a running peer named.
    pub join_peers: Vec<Member>,
}

/// A founding member (`--initial-cluster-state new`): ids from `--initial-cluster` and
/// `--initial-cluster-token`, as etcd derives them.
///
/// # Errors
/// This member's `--name` is not in `--initial-cluster`.
pub fn founding_start(config: &Config) -> Result<Start, RunError> {
    let derived = config.derived();
    let id = derived.local_member_id.ok_or_else(|| {
        RunError(format!(
            "couldn't find local name {:?} in the initial cluster configuration",
            config.member.name
        ))
    })?;
    let cluster_id = derived.cluster_id.map_or(0, |c| c.0);
    Ok(Start {
        id,
        cluster_id,
        initial: InitialCluster::New(initial_members(config)),
        join_peers: Vec::new(),
    })
}

/// How long a joining member tries to reach the running cluster.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A member added with `member add` and started with `--initial-cluster-state existing`:
/// asks the other members of `--initial-cluster` for the membership (their peer port's
/// `/members`, as etcd does) and finds itself in it by its advertised peer URLs.
///
/// # Errors
/// No member answers within [`JOIN_TIMEOUT`], or the cluster has no member with this
/// member's peer URLs (it was not added first), or that member already runs.
pub fn joining_start(
    config: &Config,
    urls: &PeerUrls,
    tls: Option<&PeerTls>,
) -> Result<Start, RunError> {
    let ours: Vec<String> = config
        .cluster
        .initial_advertise_peer_urls
        .iter()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .collect();
    let source_ip = local_source_ip(&urls.advertise).or_else(|| local_source_ip(&urls.listen));
    let mut others = Vec::new();
    for (name, urls) in config.cluster.initial_cluster.iter() {
        for url in urls {
            let text = url.as_str().trim_end_matches('/');
            if name != config.member.name && !ours.iter().any(|o| o == text) {
                others.push(peer_url(url)?);
            }
        }
    }
    if others.is_empty() {
        return Err(RunError(
            "--initial-cluster-state existing: --initial-cluster names no other member to join"
                .into(),
        ));
    }
    let deadline = std::time::Instant::now() + JOIN_TIMEOUT;
    let mut errors = Vec::new();
    let cluster = 'found: loop {
        errors.clear();
        for url in &others {
            match fetch_members(url, tls, source_ip, Duration::from_secs(2)) {
                Ok(cluster) => break 'found cluster,
                Err(e) => errors.push(e),
            }
        }
        if std::time::Instant::now() >= deadline {
            return Err(RunError(format!(
                "cannot fetch cluster info from peer urls: {}",
                errors.join("; ")
            )));
        }
        tracing::warn!(errors = %errors.join("; "), "cannot reach the cluster yet; retrying");
        std::thread::sleep(Duration::from_secs(1));
    };
    let same_urls = |m: &Member| {
        let mut theirs: Vec<String> =
            m.peer_urls.iter().map(|u| u.trim_end_matches('/').to_owned()).collect();
        let mut mine = ours.clone();
        theirs.sort();
        mine.sort();
        theirs == mine
    };
    let Some(me) = cluster.members.iter().find(|m| same_urls(m)) else {
        return Err(RunError(format!(
            "error validating peerURLs {{ClusterID:{:x} Members:[{}]}}: PeerURLs: no match found for existing member ({}); add this member with `etcdctl member add` first",
            cluster.cluster_id,
            cluster
                .members
                .iter()
                .map(|m| format!("&{{ID:{:x} Name:{} PeerURLs:{:?}}}", m.id.get(), m.name, m.peer_urls))
                .collect::<Vec<_>>()
                .join(" "),
            ours.join(","),
        )));
    };
    if !me.name.is_empty() && me.name != config.member.name {
        return Err(RunError(format!(
            "member with peer URLs {} is already running as {:?}",
            ours.join(","),
            me.name
        )));
    }
    tracing::info!(
        member_id = %format!("{:x}", me.id.get()),
        cluster_id = %format!("{:x}", cluster.cluster_id),
        "joining the running cluster"
    );
    Ok(Start {
        id: me.id,
        cluster_id: cluster.cluster_id,
        initial: InitialCluster::Existing,
        join_peers: cluster.members.clone(),
    })
}

/// The core's configuration from the flags, for the member `start` names.
///
/// # Errors
/// Values the core refuses.
pub fn node_config(config: &Config, start: &Start) -> Result<NodeConfig, RunError> {
    let (id, cluster_id) = (start.id, start.cluster_id);
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
    n.snapshot_catchup_entries = config.member.snapshot_catchup_entries;
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

/// etcd binds `localhost` listen URLs (its only accepted name, the default
/// `--listen-peer-urls`) on the loopback address.
fn bind_localhost(mut url: PeerUrl) -> PeerUrl {
    if matches!(&url.host, PeerHost::Name(n) if n.eq_ignore_ascii_case("localhost")) {
        url.host = PeerHost::Ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    url
}

fn read(path: &Path) -> Result<Vec<u8>, RunError> {
    std::fs::read(path).map_err(|e| RunError(format!("cannot read {}: {e}", path.display())))
}

/// This member's peer URLs, parsed.
#[derive(Clone, Debug)]
pub struct PeerUrls {
    /// `--listen-peer-urls` (`localhost` as the loopback address).
    pub listen: Vec<PeerUrl>,
    /// `--initial-advertise-peer-urls`.
    pub advertise: Vec<PeerUrl>,
}

/// `--listen-peer-urls` and `--initial-advertise-peer-urls`.
///
/// # Errors
/// A URL the peer transport cannot use.
pub fn peer_urls(config: &Config) -> Result<PeerUrls, RunError> {
    let parse = |list: &[EtcdUrl]| list.iter().map(peer_url).collect::<Result<Vec<_>, _>>();
    let listen = parse(&config.member.listen_peer_urls)?.into_iter().map(bind_localhost).collect();
    let advertise = parse(&config.cluster.initial_advertise_peer_urls)?;
    Ok(PeerUrls { listen, advertise })
}

/// The peer TLS configuration: `--peer-cert-file`/`--peer-key-file` (with the CA and client
/// certificate requirement), or `--peer-auto-tls` when some peer URL is https; `None` otherwise.
///
/// # Errors
/// TLS files that do not load.
pub fn peer_tls(config: &Config, urls: &PeerUrls) -> Result<Option<PeerTls>, RunError> {
    let t = &config.peer_tls;
    let any_tls = urls.listen.iter().chain(&urls.advertise).any(|u| u.tls)
        || config
            .cluster
            .initial_cluster
            .iter()
            .any(|(_, urls)| urls.iter().any(|u| u.scheme().is_tls()));
    Ok(match (&t.cert_file, &t.key_file) {
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
    })
}

/// The peer transport's configuration: `--listen-peer-urls`, `--initial-advertise-peer-urls`,
/// the `--peer-*` TLS flags and certificate rules.
///
/// # Errors
/// URLs the peer transport cannot use, TLS files that do not load, rules that contradict.
pub fn peer_config(config: &Config, node: &NodeConfig) -> Result<PeerTransportConfig, RunError> {
    let mut p = PeerTransportConfig::new(node.id, node.cluster_id);
    let urls = peer_urls(config)?;
    p.tls = peer_tls(config, &urls)?;
    p.listen_urls = urls.listen;
    p.advertise_urls = urls.advertise;
    p.seed = node.seed;
    let t = &config.peer_tls;
    p.cert_rules = PeerCertRules::new(t.allowed_cns.clone(), t.allowed_hostnames.clone())
        .map_err(|e| RunError(format!("{e:?}")))?
        .with_skip_san_verify(t.skip_client_san_verification);
    // Testing only (docs/flags.md): peer DNS (certificate checks, dialing named URLs) asks these
    // UDP name servers instead of the system's, /etc/hosts ignored.
    if let Some(list) = std::env::var_os("OXCD_PEER_DNS_NAMESERVERS") {
        let list = list.to_string_lossy().into_owned();
        let servers = list.split(',').map(|s| s.trim().parse::<std::net::SocketAddr>());
        let servers = servers.collect::<Result<Vec<_>, _>>().map_err(|e| {
            RunError(format!("OXCD_PEER_DNS_NAMESERVERS={list:?}: expected ip:port[,ip:port]: {e}"))
        })?;
        tracing::warn!(?servers, "peer DNS uses OXCD_PEER_DNS_NAMESERVERS (testing only)");
        p.dns = oxcd_runtime_mio::dns::DnsConfig::Nameservers(servers);
    }
    Ok(p)
}

/// Opens the data dir. A restart takes the member's identity from it (and ignores the
/// `--initial-*` flags, as etcd does) after checking that it is this member's (`--name`);
/// a first start finds out who it is with `start_of` and records it.
fn open_storage(
    config: &Config,
    start_of: impl FnOnce() -> Result<Start, RunError>,
) -> Result<(LmdbStorage, Start), RunError> {
    let dir: &Path = &config.member.data_dir;
    let exists = LmdbStorage::exists(dir);
    let options = OpenOptions {
        create: !exists,
        expected_identity: ExpectedIdentity {
            member_name: exists.then(|| config.member.name.clone()),
            ..ExpectedIdentity::default()
        },
        unsafe_no_fsync: config.member.unsafe_no_fsync,
        ..OpenOptions::default()
    };
    let start = if exists { None } else { Some(start_of()?) };
    let storage = LmdbStorage::open(dir, options).map_err(err)?;
    let start = match (start, storage.identity()) {
        (Some(start), _) => {
            let identity = MemberIdentity {
                cluster_id: start.cluster_id,
                member_id: start.id,
                member_name: config.member.name.clone(),
            };
            storage.bootstrap(&identity).map_err(err)?;
            start
        }
        (None, Some(identity)) => restart(config, &storage, identity)?,
        (None, None) => {
            return Err(RunError(format!(
                "{}: the data dir records no member identity",
                dir.display()
            )))
        }
    };
    tracing::info!(data_dir = %dir.display(), restart = exists, "opened storage");
    Ok((storage, start))
}

/// [`joining_start`] with the peer TLS of the flags.
fn join(config: &Config) -> Result<Start, RunError> {
    let urls = peer_urls(config)?;
    let tls = peer_tls(config, &urls)?;
    joining_start(config, &urls, tls.as_ref())
}

/// The member a data dir belongs to. One that has run needs nothing more; one that never
/// ran (restored from a snapshot, or stopped before its first election or before the leader's
/// state reached it) starts as the flags say, and they must name the member it was made for.
fn restart(
    config: &Config,
    storage: &LmdbStorage,
    identity: MemberIdentity,
) -> Result<Start, RunError> {
    let ran = has_member_state(storage).map_err(err)?;
    if ran {
        return Ok(Start {
            id: identity.member_id,
            cluster_id: identity.cluster_id,
            initial: InitialCluster::New(Vec::new()),
            join_peers: Vec::new(),
        });
    }
    let start = match config.cluster.initial_cluster_state {
        ClusterState::New => founding_start(config)?,
        ClusterState::Existing => join(config)?,
    };
    if (start.id, start.cluster_id) != (identity.member_id, identity.cluster_id) {
        return Err(RunError(format!(
            "{}: the data dir was made for {identity}, but --initial-cluster and --initial-cluster-token name member {:x} of cluster {:x}; start it with the flags given to `oxcd snapshot restore`",
            config.member.data_dir.display(),
            start.id.get(),
            start.cluster_id
        )));
    }
    Ok(start)
}

/// The whole driver configuration for the member `start` names.
///
/// # Errors
/// As [`node_config`], [`peer_config`] and [`client_listeners`].
pub fn driver_config(config: &Config, start: Start) -> Result<DriverConfig, RunError> {
    let node = node_config(config, &start)?;
    let peer = peer_config(config, &node)?;
    let mut d = DriverConfig::new(node, start.initial);
    d.join_peers = start.join_peers;
    d.peer = Some(peer);
    d.listeners = client_listeners(config)?;
    d.enable_gateway = config.member.enable_grpc_gateway;
    d.enable_v2 = config.member.enable_v2;
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
    let (storage, start) = open_storage(config, || match config.cluster.initial_cluster_state {
        ClusterState::New => founding_start(config),
        ClusterState::Existing => join(config),
    })?;
    let driver_config = driver_config(config, start)?;
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
