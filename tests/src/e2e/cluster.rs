//! Clusters of N members bootstrapped with `--initial-cluster`, optionally over TLS.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::etcdctl::Etcdctl;
use super::health::ClientTls;
use super::member::{ListenerTls, Member, MemberSpec};
use super::pki::{CertFiles, Sans, TestCa};
use super::ports::free_port;
use super::server::{ServerBinary, ServerKind};
use super::E2eError;

/// Set to keep a cluster's directory (data, logs, certificates) after the test; its path is
/// printed on stderr.
pub const KEEP_DIR_ENV: &str = "OXCD_E2E_KEEP";

/// How many times a cluster start is retried when a member finds its port taken.
const START_ATTEMPTS_MAX: usize = 3;

/// The shape of a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The members' loopback addresses; member i listens on `ips[i % ips.len()]`.
    pub ips: Vec<IpAddr>,
    /// Number of members.
    pub size: usize,
    /// https client URLs.
    pub client_tls: bool,
    /// Require client certificates (`--client-cert-auth`); needs `client_tls`.
    pub client_cert_auth: bool,
    /// https peer URLs with `--peer-client-cert-auth`.
    pub peer_tls: bool,
    /// `--initial-cluster-token`.
    pub token: String,
    /// Flags appended to every member's command line.
    pub extra_args: Vec<String>,
    /// How long the members get to become healthy.
    pub ready_timeout: Duration,
    /// A snapshot file (`etcdctl snapshot save`) every member's data dir is restored from
    /// before it starts: `oxcd snapshot restore` for oxcd, `etcdctl snapshot restore` for etcd.
    pub restore_from: Option<PathBuf>,
    /// When set (with `peer_tls`), member `<name>`'s peer certificate carries one SAN, the DNS
    /// name `<name>.<domain>` (no IP SAN), and the member advertises a peer URL with that name
    /// next to its address URL (see [`MemberSpec::peer_urls`]). The names must resolve through
    /// the members' peer DNS: serve them with a [`super::dns::DnsServer`] passed in `env`.
    pub peer_dns_domain: Option<String>,
    /// Environment variables of every member process (besides `PATH`, `RUST_LOG`,
    /// `RUST_BACKTRACE`).
    pub env: Vec<(String, String)>,
}

impl ClusterConfig {
    /// `size` plaintext members on 127.0.0.1.
    pub fn new(size: usize) -> Self {
        Self {
            ips: vec![IpAddr::from([127, 0, 0, 1])],
            size,
            client_tls: false,
            client_cert_auth: false,
            peer_tls: false,
            token: "oxcd-e2e".to_owned(),
            extra_args: Vec::new(),
            ready_timeout: Duration::from_secs(30),
            restore_from: None,
            peer_dns_domain: None,
            env: Vec::new(),
        }
    }

    /// Three members on 127.0.0.11-13, client and peer TLS with client certificates required
    /// on both (the shape of the "bootstrapping a TLS cluster" guide).
    pub fn three_tls() -> Self {
        Self {
            ips: (11..=13).map(|i| IpAddr::from([127, 0, 0, i])).collect(),
            size: 3,
            client_tls: true,
            client_cert_auth: true,
            peer_tls: true,
            ..Self::new(3)
        }
    }

    /// Client and peer TLS (client certificates required) on every member.
    #[must_use]
    pub fn with_tls(mut self) -> Self {
        self.client_tls = true;
        self.client_cert_auth = true;
        self.peer_tls = true;
        self
    }

    /// Restores every member's data dir from `snapshot` before it starts.
    #[must_use]
    pub fn restored_from(mut self, snapshot: &Path) -> Self {
        self.restore_from = Some(snapshot.to_owned());
        self
    }

    /// Peer certificates with the DNS SAN `<member name>.<domain>` only, advertised as peer
    /// URLs (see [`ClusterConfig::peer_dns_domain`]).
    #[must_use]
    pub fn with_peer_dns_domain(mut self, domain: &str) -> Self {
        self.peer_dns_domain = Some(domain.to_owned());
        self
    }

    /// Sets an environment variable of every member.
    #[must_use]
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds flags to every member.
    #[must_use]
    pub fn with_args(mut self, args: &[&str]) -> Self {
        self.extra_args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }
}

/// Test PKI of a TLS cluster.
#[derive(Debug)]
pub struct ClusterPki {
    /// The CA that signs everything.
    pub ca: TestCa,
    /// A client certificate with CN `root`, used by [`Cluster::etcdctl`] and the probes.
    pub client: CertFiles,
}

/// A running cluster; members stop when it drops.
#[derive(Debug)]
pub struct Cluster {
    binary: ServerBinary,
    config: ClusterConfig,
    members: Vec<Member>,
    pki: Option<ClusterPki>,
    // Dropped after the members (fields drop in order).
    dir: ClusterDir,
}

#[derive(Debug)]
enum ClusterDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl ClusterDir {
    fn path(&self) -> &Path {
        match self {
            Self::Temp(dir) => dir.path(),
            Self::Kept(path) => path,
        }
    }
}

impl Cluster {
    /// Starts `config.size` members of `binary` and waits until each is healthy.
    ///
    /// # Errors
    /// When a member cannot start or does not become healthy in time (the message holds its
    /// log's tail).
    pub fn start(binary: &ServerBinary, config: ClusterConfig) -> Result<Self, E2eError> {
        assert!(config.size > 0 && !config.ips.is_empty(), "a cluster needs members and addresses");
        assert!(!config.client_cert_auth || config.client_tls, "client-cert-auth needs client TLS");
        assert!(
            config.peer_dns_domain.is_none() || config.peer_tls,
            "peer DNS names are certificate names: they need peer TLS"
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(binary, &config) {
                Ok(cluster) => return Ok(cluster),
                Err(e)
                    if attempt < START_ATTEMPTS_MAX && e.0.contains("address already in use") => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn start_once(binary: &ServerBinary, config: &ClusterConfig) -> Result<Self, E2eError> {
        let temp = tempfile::Builder::new()
            .prefix("oxcd-e2e-")
            .tempdir()
            .map_err(|e| E2eError(format!("temp dir: {e}")))?;
        let dir = if std::env::var_os(KEEP_DIR_ENV).is_some() {
            let path = temp.keep();
            eprintln!("oxcd e2e: keeping cluster directory {}", path.display());
            ClusterDir::Kept(path)
        } else {
            ClusterDir::Temp(temp)
        };
        let pki = if config.client_tls || config.peer_tls {
            let ca = TestCa::new(dir.path(), "oxcd e2e ca").map_err(pki_error)?;
            let client = ca.client_cert("client-root", "root").map_err(pki_error)?;
            Some(ClusterPki { ca, client })
        } else {
            None
        };
        let mut cluster =
            Self { binary: binary.clone(), config: config.clone(), members: Vec::new(), pki, dir };
        let specs: Vec<MemberSpec> = (0..config.size)
            .map(|i| {
                cluster.new_member_spec(&format!("m{}", i + 1), config.ips[i % config.ips.len()])
            })
            .collect::<Result<_, _>>()?;
        let initial: Vec<String> =
            specs.iter().flat_map(MemberSpec::initial_cluster_entries).collect();
        let cluster_args = vec![
            format!("--initial-cluster={}", initial.join(",")),
            "--initial-cluster-state=new".to_owned(),
            format!("--initial-cluster-token={}", config.token),
        ];
        for spec in specs {
            if let Some(snapshot) = &config.restore_from {
                restore(binary, snapshot, &spec, cluster.dir.path(), &initial, &config.token)?;
            }
            let member = Member::launch(
                binary,
                spec,
                cluster.dir.path(),
                &cluster_args,
                &config.extra_args,
            )?;
            cluster.members.push(member);
        }
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// Waits until every running member is healthy.
    ///
    /// # Errors
    /// As [`Member::wait_ready`].
    pub fn wait_ready(&mut self) -> Result<(), E2eError> {
        let probe = self.client_tls();
        let bound = self.config.ready_timeout;
        for member in &mut self.members {
            if member.is_running() {
                member.wait_ready(probe.as_ref(), bound)?;
            }
        }
        Ok(())
    }

    /// A spec for a new member named `name` on `ip`: fresh ports, the cluster's member
    /// environment and, for a TLS cluster, a certificate for `ip`, 127.0.0.1 and localhost
    /// (for the peer side, with [`ClusterConfig::peer_dns_domain`], one for
    /// `<name>.<domain>` only).
    ///
    /// # Errors
    /// When no port can be found or the certificate cannot be written.
    pub fn new_member_spec(&self, name: &str, ip: IpAddr) -> Result<MemberSpec, E2eError> {
        let port = |ip| free_port(ip).map_err(|e| E2eError(format!("free port on {ip}: {e}")));
        let cert = match &self.pki {
            Some(pki) => {
                let sans = Sans::ips(&[ip, IpAddr::from([127, 0, 0, 1])]).with_dns("localhost");
                Some(pki.ca.server_cert(name, &sans).map_err(pki_error)?)
            }
            None => None,
        };
        let peer_name =
            self.config.peer_dns_domain.as_ref().map(|domain| format!("{name}.{domain}"));
        let peer_cert = match (&self.pki, &peer_name) {
            (Some(pki), Some(peer_name)) => {
                let sans = Sans { ips: Vec::new(), dns: vec![peer_name.clone()] };
                Some(pki.ca.peer_cert(&format!("{name}-peer"), &sans).map_err(pki_error)?)
            }
            _ => cert.clone(),
        };
        let listener_tls =
            |cert: &Option<CertFiles>, on: bool, verify: bool| match (cert, &self.pki) {
                (Some(cert), Some(pki)) if on => Some(ListenerTls {
                    cert: cert.clone(),
                    ca: pki.ca.cert_path().to_owned(),
                    verify_other_side: verify,
                }),
                _ => None,
            };
        Ok(MemberSpec {
            name: name.to_owned(),
            ip,
            client_port: port(ip)?,
            peer_port: port(ip)?,
            client_tls: listener_tls(&cert, self.config.client_tls, self.config.client_cert_auth),
            peer_tls: listener_tls(&peer_cert, self.config.peer_tls, true),
            peer_name,
            env: self.config.env.clone(),
        })
    }

    /// Starts a member that was added to the running cluster (`member add`), with
    /// `--initial-cluster-state=existing` and `initial_cluster` as `--initial-cluster`. It joins
    /// the cluster's members list; use [`Cluster::wait_ready`] or [`Member::wait_ready`].
    ///
    /// # Errors
    /// When the process cannot start.
    pub fn launch_added_member(
        &mut self,
        spec: MemberSpec,
        initial_cluster: &str,
    ) -> Result<&mut Member, E2eError> {
        let cluster_args = vec![
            format!("--initial-cluster={initial_cluster}"),
            "--initial-cluster-state=existing".to_owned(),
            format!("--initial-cluster-token={}", self.config.token),
        ];
        let member = Member::launch(
            &self.binary,
            spec,
            self.dir.path(),
            &cluster_args,
            &self.config.extra_args,
        )?;
        self.members.push(member);
        Ok(self.members.last_mut().expect("just pushed"))
    }

    /// The members, in start order (m1, m2, …).
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// One member, mutably (to stop, kill or restart it).
    pub fn member_mut(&mut self, index: usize) -> &mut Member {
        &mut self.members[index]
    }

    /// Client URLs of all members, in order (stopped ones included).
    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(|m| m.spec().client_url()).collect()
    }

    /// The TLS files a client uses (CA and the `root` client certificate), for a TLS cluster.
    pub fn client_tls(&self) -> Option<ClientTls> {
        let pki = self.pki.as_ref()?;
        if !self.config.client_tls {
            return None;
        }
        Some(ClientTls {
            ca: pki.ca.cert_path().to_owned(),
            cert: Some((pki.client.cert.clone(), pki.client.key.clone())),
        })
    }

    /// The PKI of a TLS cluster.
    pub fn pki(&self) -> Option<&ClusterPki> {
        self.pki.as_ref()
    }

    /// An etcdctl runner aimed at every member, with the cluster's client TLS.
    pub fn etcdctl(&self) -> Etcdctl {
        let mut etcdctl = Etcdctl::new(self.client_urls());
        if let Some(tls) = self.client_tls() {
            etcdctl = etcdctl.with_tls(tls);
        }
        etcdctl
    }

    /// The cluster's directory (data dirs, logs, certificates).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The binary the members run.
    pub fn binary(&self) -> &ServerBinary {
        &self.binary
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }
}

/// Makes `spec`'s data dir from `snapshot` as the binary's documentation says, with the
/// bootstrap flags the member then starts with.
fn restore(
    binary: &ServerBinary,
    snapshot: &Path,
    spec: &MemberSpec,
    dir: &Path,
    initial: &[String],
    token: &str,
) -> Result<(), E2eError> {
    let mut command = match binary.kind {
        ServerKind::Etcd => {
            let mut c = std::process::Command::new("etcdctl");
            c.env("ETCDCTL_API", "3").arg("snapshot");
            c
        }
        _ => {
            let mut c = std::process::Command::new(&binary.path);
            c.arg("snapshot");
            c
        }
    };
    command.arg("restore").arg(snapshot).args([
        format!("--name={}", spec.name),
        format!("--data-dir={}", Member::data_dir(dir, &spec.name).display()),
        format!("--initial-cluster={}", initial.join(",")),
        format!("--initial-cluster-token={token}"),
        format!("--initial-advertise-peer-urls={}", spec.peer_urls().join(",")),
    ]);
    let out = command.output().map_err(|e| E2eError(format!("snapshot restore: {e}")))?;
    if !out.status.success() {
        return Err(E2eError(format!(
            "snapshot restore for {} failed: {}",
            spec.name,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Last member first: the others still have quorum while it leaves.
        while let Some(mut member) = self.members.pop() {
            member.stop();
        }
    }
}

fn pki_error(e: super::pki::PkiError) -> E2eError {
    E2eError(e.to_string())
}
