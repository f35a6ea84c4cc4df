//! One member process started with etcd's flags, logging to a file, stopped on drop.

use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::health::{http_get, ClientTls};
use super::pki::CertFiles;
use super::process::{terminate, Exit};
use super::server::ServerBinary;
use super::E2eError;

/// How long a member gets to exit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// TLS material of one listener (client or peer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerTls {
    /// The member's certificate and key.
    pub cert: CertFiles,
    /// The CA it trusts for the other side's certificates.
    pub ca: PathBuf,
    /// Whether the other side must present a certificate (`--client-cert-auth`,
    /// `--peer-client-cert-auth`).
    pub verify_other_side: bool,
}

/// Where and how one member listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpec {
    /// `--name`.
    pub name: String,
    /// The loopback address it listens on (127.0.0.x).
    pub ip: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Peer port.
    pub peer_port: u16,
    /// Client-side TLS (https client URLs) when set.
    pub client_tls: Option<ListenerTls>,
    /// Peer-side TLS (https peer URLs) when set.
    pub peer_tls: Option<ListenerTls>,
    /// A DNS name the member advertises its peer URL under, ahead of the address URL (see
    /// [`MemberSpec::peer_urls`]).
    pub peer_name: Option<String>,
    /// Environment variables of the process, besides `PATH`, `RUST_LOG` and `RUST_BACKTRACE`.
    pub env: Vec<(String, String)>,
}

impl MemberSpec {
    /// The client URL (`http://ip:port` or `https://…`).
    pub fn client_url(&self) -> String {
        let scheme = if self.client_tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", SocketAddr::new(self.ip, self.client_port))
    }

    /// The peer URL.
    pub fn peer_url(&self) -> String {
        let scheme = if self.peer_tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", SocketAddr::new(self.ip, self.peer_port))
    }

    /// The advertised peer URLs (`--initial-advertise-peer-urls`, and this member's entries in
    /// `--initial-cluster`): [`MemberSpec::peer_url`], preceded by `<scheme>://<peer_name>:<port>`
    /// when the member has a peer name. The address URL stays because oxcd binds its outgoing
    /// peer connections to the first advertised address literal that is local; without one,
    /// every member on 127.0.0.x would dial from 127.0.0.1, the address the other members'
    /// certificate checks would then see.
    pub fn peer_urls(&self) -> Vec<String> {
        let by_address = self.peer_url();
        match &self.peer_name {
            Some(name) => {
                let scheme = if self.peer_tls.is_some() { "https" } else { "http" };
                vec![format!("{scheme}://{name}:{}", self.peer_port), by_address]
            }
            None => vec![by_address],
        }
    }

    /// This member's `name=url` entries of `--initial-cluster`.
    pub fn initial_cluster_entries(&self) -> Vec<String> {
        self.peer_urls().iter().map(|url| format!("{}={url}", self.name)).collect()
    }

    /// The client socket address.
    pub fn client_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.client_port)
    }

    /// The etcd flags that start this member (without cluster bootstrap flags).
    pub fn listen_args(&self, data_dir: &Path) -> Vec<String> {
        let mut args = vec![
            format!("--name={}", self.name),
            format!("--data-dir={}", data_dir.display()),
            format!("--listen-client-urls={}", self.client_url()),
            format!("--advertise-client-urls={}", self.client_url()),
            format!("--listen-peer-urls={}", self.peer_url()),
            format!("--initial-advertise-peer-urls={}", self.peer_urls().join(",")),
        ];
        if let Some(tls) = &self.client_tls {
            args.push(format!("--cert-file={}", tls.cert.cert.display()));
            args.push(format!("--key-file={}", tls.cert.key.display()));
            args.push(format!("--trusted-ca-file={}", tls.ca.display()));
            if tls.verify_other_side {
                args.push("--client-cert-auth".to_owned());
            }
        }
        if let Some(tls) = &self.peer_tls {
            args.push(format!("--peer-cert-file={}", tls.cert.cert.display()));
            args.push(format!("--peer-key-file={}", tls.cert.key.display()));
            args.push(format!("--peer-trusted-ca-file={}", tls.ca.display()));
            if tls.verify_other_side {
                args.push("--peer-client-cert-auth".to_owned());
            }
        }
        args
    }
}

/// A running (or stopped) member process.
#[derive(Debug)]
pub struct Member {
    spec: MemberSpec,
    binary: ServerBinary,
    args: Vec<String>,
    log_path: PathBuf,
    child: Option<Child>,
    last_exit: Option<Exit>,
}

impl Member {
    /// Starts `binary` with `spec`'s listeners, bootstrap flags `cluster_args` and `extra_args`;
    /// data goes to `dir/<name>.data`, stdout and stderr to `dir/<name>.log` (appended across
    /// restarts). It does not wait for readiness: see [`Member::wait_ready`].
    ///
    /// # Errors
    /// When the log file cannot be created or the binary cannot be started.
    pub fn launch(
        binary: &ServerBinary,
        spec: MemberSpec,
        dir: &Path,
        cluster_args: &[String],
        extra_args: &[String],
    ) -> Result<Self, E2eError> {
        let data_dir = Self::data_dir(dir, &spec.name);
        let mut args = spec.listen_args(&data_dir);
        args.extend_from_slice(cluster_args);
        args.extend_from_slice(extra_args);
        let log_path = dir.join(format!("{}.log", spec.name));
        let mut member =
            Self { spec, binary: binary.clone(), args, log_path, child: None, last_exit: None };
        member.start()?;
        Ok(member)
    }

    /// Where member `name` of a cluster in `dir` keeps its data.
    pub fn data_dir(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.data"))
    }

    /// Starts the process again with the same flags (after [`Member::stop`] or [`Member::kill`]).
    ///
    /// # Errors
    /// When it is already running or cannot be started.
    pub fn start(&mut self) -> Result<(), E2eError> {
        if self.child.is_some() {
            return Err(E2eError(format!("member {} is already running", self.spec.name)));
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| E2eError(format!("{}: {e}", self.log_path.display())))?;
        let log_err = log.try_clone().map_err(|e| E2eError(e.to_string()))?;
        let mut command = Command::new(&self.binary.path);
        // No ETCD_* or ETCDCTL_* leaks in from the caller's environment; logging knobs do.
        command.args(&self.args).env_clear().env("PATH", "/usr/bin:/bin");
        for name in ["RUST_LOG", "RUST_BACKTRACE"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command.envs(self.spec.env.iter().map(|(name, value)| (name, value)));
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| E2eError(format!("starting {}: {e}", self.binary.path.display())))?;
        self.child = Some(child);
        self.last_exit = None;
        Ok(())
    }

    /// Waits until `/health` answers `"health":"true"` (the member has a leader and serves),
    /// for at most `bound`.
    ///
    /// # Errors
    /// When the process exits first or the bound passes; the message holds the log's tail.
    pub fn wait_ready(
        &mut self,
        probe_tls: Option<&ClientTls>,
        bound: Duration,
    ) -> Result<(), E2eError> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(exit) = self.poll_exit() {
                return Err(E2eError(format!(
                    "member {} ({}) exited ({exit}) before serving; {}",
                    self.spec.name,
                    self.binary.path.display(),
                    self.log_tail_message()
                )));
            }
            let last = match http_get(
                self.spec.client_addr(),
                "/health",
                probe_tls,
                Duration::from_secs(2),
            ) {
                Ok((200, body)) if body.contains("\"health\":\"true\"") => return Ok(()),
                Ok((status, body)) => format!("HTTP {status}: {}", body.trim()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(E2eError(format!(
                    "member {} not healthy after {bound:?} (last probe: {last}); {}",
                    self.spec.name,
                    self.log_tail_message()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the process has exited (reaping it), and how.
    pub fn poll_exit(&mut self) -> Option<Exit> {
        if let Some(child) = &mut self.child {
            if let Ok(Some(status)) = child.try_wait() {
                self.last_exit = Some(Exit::from_status(status));
                self.child = None;
            }
        }
        if self.child.is_none() {
            self.last_exit
        } else {
            None
        }
    }

    /// The process id while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.poll_exit();
        self.child.is_some()
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`]; waits for the exit.
    pub fn stop(&mut self) -> Option<Exit> {
        if let Some(mut child) = self.child.take() {
            self.last_exit = terminate(&mut child, STOP_GRACE).map(Exit::from_status);
        }
        self.last_exit
    }

    /// SIGKILL at once (a crash); waits for the exit.
    pub fn kill(&mut self) -> Option<Exit> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            self.last_exit = child.wait().ok().map(Exit::from_status);
        }
        self.last_exit
    }

    /// Its listeners and name.
    pub fn spec(&self) -> &MemberSpec {
        &self.spec
    }

    /// The command-line flags it runs with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The whole log so far (lossy UTF-8; empty when unreadable).
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn log_tail_message(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("log {}:\n{tail}", self.log_path.display())
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop();
    }
}
