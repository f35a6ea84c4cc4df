//! Runs the real `etcdctl` (v3 API) with bounded time and captured output.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::health::ClientTls;
use super::process::{terminate, wait_bounded, Drain, Exit};
use super::E2eError;

/// Where Debian's `etcd-client` package installs etcdctl; `OXCD_E2E_ETCDCTL_BIN` overrides.
pub const DEFAULT_ETCDCTL_BIN: &str = "/usr/bin/etcdctl";
/// Overrides the etcdctl path.
pub const ETCDCTL_BIN_ENV: &str = "OXCD_E2E_ETCDCTL_BIN";

/// What one etcdctl run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdOutput {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// How it ended.
    pub exit: Exit,
}

impl CmdOutput {
    /// Standard output as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// An etcdctl invocation template: binary, endpoints, TLS, time bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Etcdctl {
    binary: PathBuf,
    endpoints: Vec<String>,
    tls: Option<ClientTls>,
    timeout: Duration,
}

impl Etcdctl {
    /// etcdctl aimed at `endpoints` (URLs), bounded to 30 s per run.
    pub fn new(endpoints: Vec<String>) -> Self {
        let binary = std::env::var_os(ETCDCTL_BIN_ENV)
            .map_or_else(|| PathBuf::from(DEFAULT_ETCDCTL_BIN), PathBuf::from);
        Self { binary, endpoints, tls: None, timeout: Duration::from_secs(30) }
    }

    /// Adds `--cacert` (and `--cert`/`--key` when the TLS files have a client certificate).
    #[must_use]
    pub fn with_tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Replaces the endpoints.
    #[must_use]
    pub fn with_endpoints(mut self, endpoints: Vec<String>) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Bounds each run (the process is killed after it, and the run reports [`Exit::TimedOut`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The global flags put before every command: endpoints and TLS files.
    pub fn global_args(&self) -> Vec<String> {
        let mut args = vec![format!("--endpoints={}", self.endpoints.join(","))];
        if let Some(tls) = &self.tls {
            args.push(format!("--cacert={}", tls.ca.display()));
            if let Some((cert, key)) = &tls.cert {
                args.push(format!("--cert={}", cert.display()));
                args.push(format!("--key={}", key.display()));
            }
        }
        args
    }

    fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.binary);
        // Only what we set: no ETCDCTL_* from the caller's environment.
        command
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("ETCDCTL_API", "3")
            .args(self.global_args())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs `etcdctl <global flags> <args>` with `stdin` fed and then closed.
    ///
    /// # Errors
    /// When etcdctl cannot be started.
    pub fn run(&self, args: &[String], stdin: &[u8]) -> Result<CmdOutput, E2eError> {
        let mut child = self
            .command(args)
            .spawn()
            .map_err(|e| E2eError(format!("starting {}: {e}", self.binary.display())))?;
        let stdout = Drain::start(child.stdout.take().expect("piped"));
        let stderr = Drain::start(child.stderr.take().expect("piped"));
        let mut input = child.stdin.take().expect("piped");
        let bytes = stdin.to_vec();
        // A writer thread: etcdctl may not read all of stdin before it exits.
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&bytes);
        });
        let exit =
            match wait_bounded(&mut child, self.timeout).map_err(|e| E2eError(e.to_string()))? {
                Some(status) => Exit::from_status(status),
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Exit::TimedOut
                }
            };
        let _ = writer.join();
        Ok(CmdOutput { stdout: stdout.finish(), stderr: stderr.finish(), exit })
    }

    /// Convenience: `run` with `&str` arguments and no input.
    ///
    /// # Errors
    /// As [`Etcdctl::run`].
    pub fn run_args(&self, args: &[&str]) -> Result<CmdOutput, E2eError> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        self.run(&args, b"")
    }

    /// Starts a long-running etcdctl (`watch`, `lease keep-alive`) in the background with its
    /// stdin kept open. Stop it with [`Background::stop`]; it is killed on drop.
    ///
    /// # Errors
    /// When etcdctl cannot be started.
    pub fn spawn(&self, args: &[String]) -> Result<Background, E2eError> {
        let mut child = self
            .command(args)
            .spawn()
            .map_err(|e| E2eError(format!("starting {}: {e}", self.binary.display())))?;
        let stdout = Drain::start(child.stdout.take().expect("piped"));
        let stderr = Drain::start(child.stderr.take().expect("piped"));
        let stdin = child.stdin.take();
        Ok(Background { child: Some(child), stdin, stdout: Some(stdout), stderr: Some(stderr) })
    }
}

/// A background etcdctl.
#[derive(Debug)]
pub struct Background {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: Option<Drain>,
    stderr: Option<Drain>,
}

/// How long a background etcdctl gets after SIGTERM.
const BACKGROUND_STOP_GRACE: Duration = Duration::from_secs(3);

impl Background {
    /// Writes to its stdin (for `watch -i`).
    ///
    /// # Errors
    /// When the pipe is closed.
    pub fn write_stdin(&mut self, bytes: &[u8]) -> Result<(), E2eError> {
        let stdin = self.stdin.as_mut().ok_or_else(|| E2eError("stdin closed".to_owned()))?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| E2eError(format!("stdin: {e}")))
    }

    /// Standard output so far.
    pub fn stdout_so_far(&self) -> Vec<u8> {
        self.stdout.as_ref().map(Drain::snapshot).unwrap_or_default()
    }

    /// Waits until its stdout holds at least `lines` complete lines or it exits, at most
    /// `bound`. Returns whether the count was reached.
    pub fn wait_for_lines(&mut self, lines: usize, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        loop {
            let count = self.stdout_so_far().iter().filter(|&&b| b == b'\n').count();
            if count >= lines {
                return true;
            }
            let exited = self.child.as_mut().is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (unless it already exited): SIGTERM, then SIGKILL. Returns all its output; the
    /// exit is [`Exit::Signal`] when the harness stopped it.
    pub fn stop(mut self) -> CmdOutput {
        // Signal first, close stdin after: `watch -i` exits with an error of its own on EOF.
        let exit = self
            .child
            .take()
            .and_then(|mut child| terminate(&mut child, BACKGROUND_STOP_GRACE))
            .map_or(Exit::Code(-1), Exit::from_status);
        self.stdin = None;
        CmdOutput {
            stdout: self.stdout.take().map(Drain::finish).unwrap_or_default(),
            stderr: self.stderr.take().map(Drain::finish).unwrap_or_default(),
            exit,
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
