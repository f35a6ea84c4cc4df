//! A member driven in-process on its own thread, on 127.0.0.1 with an ephemeral port, plus
//! test certificates, a tiny HTTP/1.1 client and a bounded `etcdctl` runner.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxcd_core::membership::Member;
use oxcd_core::node::{InitialCluster, NodeConfig};
use oxcd_core::NodeId;
use oxcd_runtime_mio::driver::{
    ClientListener, Driver, DriverConfig, DriverHandle, ListenerKind, StopReason,
};
use oxcd_runtime_mio::tls::{server_config, ServerTlsOptions};
use oxcd_runtime_mio::transport::ListenUrl;
use oxcd_storage_lmdb::{LmdbStorage, MemberIdentity, OpenOptions};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

pub const MEMBER_ID: NodeId = NodeId(0x8e9e_05c5_2164_694d);
pub const CLUSTER_ID: u64 = 0xcdf8_1819_4e3a_8c32;

/// How long any wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct TestMember {
    pub addr: SocketAddr,
    /// A `--listen-metrics-urls` listener.
    pub metrics_addr: SocketAddr,
    pub dir: tempfile::TempDir,
    handle: DriverHandle,
    done: mpsc::Receiver<Result<StopReason, String>>,
    stopped: bool,
}

pub struct TlsSetup {
    pub pki: Pki,
    pub client_cert_auth: bool,
}

fn node_config() -> NodeConfig {
    let mut n = NodeConfig::new(MEMBER_ID, CLUSTER_ID, "default");
    n.peer_urls = vec!["http://127.0.0.1:2380".into()];
    n.heartbeat_interval = Duration::from_millis(20);
    n.election_timeout = Duration::from_millis(200);
    n.seed = 7;
    n
}

impl TestMember {
    pub fn start(tls: Option<&TlsSetup>) -> TestMember {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, tls)
    }

    /// Starts (or restarts) a member whose data dir is `dir`.
    pub fn start_in(dir: tempfile::TempDir, tls: Option<&TlsSetup>) -> TestMember {
        Self::start_with(dir, tls, false)
    }

    /// Like [`TestMember::start_in`], with `--enable-v2` as given.
    pub fn start_with(
        dir: tempfile::TempDir,
        tls: Option<&TlsSetup>,
        enable_v2: bool,
    ) -> TestMember {
        let exists = LmdbStorage::exists(dir.path());
        let storage = LmdbStorage::open(
            dir.path(),
            OpenOptions { create: !exists, map_size_bytes: 1 << 30, ..OpenOptions::default() },
        )
        .unwrap();
        if !exists {
            storage
                .bootstrap(&MemberIdentity {
                    cluster_id: CLUSTER_ID,
                    member_id: MEMBER_ID,
                    member_name: "default".into(),
                })
                .unwrap();
        }
        let node = node_config();
        let founders = vec![Member {
            id: MEMBER_ID,
            name: "default".into(),
            peer_urls: node.peer_urls.clone(),
            client_urls: Vec::new(),
            is_learner: false,
        }];
        let mut config = DriverConfig::new(node, InitialCluster::New(founders));
        config.handle_signals = false;
        config.bcrypt_cost = 4;
        config.enable_v2 = enable_v2;
        config.drain_timeout = Duration::from_secs(2);
        let (url, server_tls) = match tls {
            Some(t) => ("https://127.0.0.1:0", Some(t.pki.server_tls(t.client_cert_auth))),
            None => ("http://127.0.0.1:0", None),
        };
        config.client_cert_auth = tls.is_some_and(|t| t.client_cert_auth);
        config.listeners = vec![
            ClientListener {
                url: ListenUrl::parse(url).unwrap(),
                tls: server_tls,
                kind: ListenerKind::Client,
            },
            ClientListener {
                url: ListenUrl::parse("http://127.0.0.1:0").unwrap(),
                tls: None,
                kind: ListenerKind::Metrics,
            },
        ];
        // The Node holds a non-Send backend: the driver is built on its own thread.
        let (tx, done) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        std::thread::Builder::new()
            .name("oxcd-test-member".into())
            .spawn(move || {
                let driver = Driver::new(config, storage).unwrap();
                let addrs = driver.client_addrs();
                let _ = ready_tx.send((addrs[0], addrs[1], driver.handle()));
                let _ = tx.send(driver.run().map_err(|e| e.to_string()));
            })
            .unwrap();
        let (addr, metrics_addr, handle) =
            ready.recv_timeout(WAIT).expect("the member did not start");
        let m = TestMember { addr, metrics_addr, dir, handle, done, stopped: false };
        m.wait_for_leader(tls.map(|t| &t.pki));
        m
    }

    /// Polls `/health` until the member has elected itself.
    pub fn wait_for_leader(&self, pki: Option<&Pki>) {
        let start = Instant::now();
        loop {
            let answer = match pki {
                Some(pki) => try_https(self.addr, pki, "/health"),
                None => try_http(self.addr, "GET", "/health", b""),
            };
            if let Ok((200, _)) = answer {
                return;
            }
            assert!(start.elapsed() < WAIT, "no leader within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the member gracefully and returns why it stopped, keeping the data dir.
    pub fn stop(mut self) -> (StopReason, tempfile::TempDir) {
        let reason = self.stop_inner();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (reason, dir)
    }

    fn stop_inner(&mut self) -> StopReason {
        self.stopped = true;
        self.handle.stop();
        self.done.recv_timeout(WAIT).expect("the member did not stop in time").expect("clean stop")
    }
}

impl Drop for TestMember {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            self.handle.stop();
            let _ = self.done.recv_timeout(WAIT);
        }
    }
}

/// One HTTP/1.1 request on a fresh connection; the answer's status and body.
pub fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no head"))?;
    let head = String::from_utf8_lossy(&raw[..text_end]).to_string();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let mut body = raw[text_end + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok((status, body))
}

pub fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let (status, body) = try_http(addr, method, path, body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

/// `GET path` over TLS with the `root` client certificate.
pub fn try_https(addr: SocketAddr, pki: &Pki, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(pki.path("root.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(pki.path("root-key.pem")).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
    let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // A keep-alive request, read up to its Content-Length.
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    tls.write_all(head.as_bytes())?;
    tls.flush()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + len {
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| std::io::Error::other("no status"))?;
                return Ok((status, raw[end + 4..end + 4 + len].to_vec()));
            }
        }
        let n = tls.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the answer"));
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

/// Runs `etcdctl` (API v3) with `args`, killed after [`WAIT`]. `None` when it is not installed.
pub fn etcdctl(args: &[&str]) -> Option<(bool, String, String)> {
    let bin = Path::new("/usr/bin/etcdctl");
    if !bin.exists() {
        eprintln!("etcdctl is not installed; skipping its part");
        return None;
    }
    let mut child = Command::new(bin)
        .args(args)
        .env("ETCDCTL_API", "3")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            let mut err = String::new();
            child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return Some((status.success(), out, err));
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("etcdctl {args:?} did not finish within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A CA, a server certificate for 127.0.0.1/localhost and client certificates (CN root and
/// alice), as PEM files in a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "oxcd driver test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let write = |name: &str, body: String| std::fs::write(dir.path().join(name), body).unwrap();
        write("ca.pem", ca_cert.pem());
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        server.distinguished_name.push(DnType::CommonName, "oxcd server");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        write("server.pem", server.signed_by(&key, &issuer).unwrap().pem());
        write("server-key.pem", key.serialize_pem());
        for cn in ["root", "alice"] {
            let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
            client.distinguished_name.push(DnType::CommonName, cn);
            client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let key = KeyPair::generate().unwrap();
            write(&format!("{cn}.pem"), client.signed_by(&key, &issuer).unwrap().pem());
            write(&format!("{cn}-key.pem"), key.serialize_pem());
        }
        Pki { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pem(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    pub fn server_tls(&self, client_cert_auth: bool) -> Arc<rustls::ServerConfig> {
        server_config(&ServerTlsOptions {
            cert_file: Some(self.path("server.pem")),
            key_file: Some(self.path("server-key.pem")),
            trusted_ca_file: Some(self.path("ca.pem")),
            client_cert_auth,
            ..ServerTlsOptions::default()
        })
        .unwrap()
    }
}
