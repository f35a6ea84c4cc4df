//! Child processes: bounded waits, SIGTERM then SIGKILL, pipes read on helper threads.

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it (the harness's own SIGTERM/SIGKILL included).
    Signal(i32),
    /// It ran past its time bound and the harness killed it.
    TimedOut,
}

impl Exit {
    /// From a wait status.
    pub fn from_status(status: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Code(code),
            (None, Some(signal)) => Self::Signal(signal),
            (None, None) => Self::Code(-1),
        }
    }

    /// True for exit code 0.
    pub fn success(self) -> bool {
        self == Self::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(code) => write!(f, "exit code {code}"),
            Self::Signal(signal) => write!(f, "killed by signal {signal}"),
            Self::TimedOut => write!(f, "timed out"),
        }
    }
}

/// Polls `child` until it exits or `bound` passes.
///
/// # Errors
/// When waiting on the child fails.
pub fn wait_bounded(child: &mut Child, bound: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` to the child if it still runs (errors are ignored: it may have just exited).
pub fn signal(child: &Child, signal: Signal) {
    if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, signal);
    }
}

/// SIGTERM, then SIGKILL if it has not exited within `grace`; always reaps the child.
pub fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    signal(child, Signal::TERM);
    if let Ok(Some(status)) = wait_bounded(child, grace) {
        return Some(status);
    }
    let _ = child.kill();
    child.wait().ok()
}

/// A pipe drained into a shared buffer by a helper thread.
#[derive(Debug)]
pub struct Drain {
    buffer: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Drain {
    /// Starts draining `reader`.
    pub fn start(mut reader: impl Read + Send + 'static) -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&buffer);
        let thread = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => shared.lock().expect("drain buffer").extend_from_slice(&chunk[..n]),
                }
            }
        });
        Self { buffer, thread: Some(thread) }
    }

    /// What has been read so far.
    pub fn snapshot(&self) -> Vec<u8> {
        self.buffer.lock().expect("drain buffer").clone()
    }

    /// Waits for the end of the pipe (the process has exited, so it comes) and returns all.
    pub fn finish(mut self) -> Vec<u8> {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.snapshot()
    }
}
