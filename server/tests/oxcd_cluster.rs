//! Three real `oxcd` processes on 127.0.0.1 forming a cluster over the peer transport, driven
//! by `etcdctl`: replication, a leader stopped with SIGTERM hands leadership over, a restarted
//! member catches up.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(40);

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(cmd: &mut Command) -> Output {
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            panic!("{cmd:?} did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn etcdctl(endpoints: &str, args: &[&str]) -> Output {
    run(Command::new("/usr/bin/etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .args(["--dial-timeout=2s", "--command-timeout=5s"])
        .args(args))
}

/// Retries `etcdctl` until it succeeds with `want` on stdout.
fn eventually(endpoints: &str, args: &[&str], want: &str) {
    let start = Instant::now();
    loop {
        let out = etcdctl(endpoints, args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && stdout == want {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "etcdctl {args:?} on {endpoints}: {stdout:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Cluster {
    dir: tempfile::TempDir,
    client: Vec<u16>,
    peer: Vec<u16>,
    procs: Vec<Option<Proc>>,
}

impl Cluster {
    fn initial_cluster(&self) -> String {
        (0..3)
            .map(|i| format!("m{i}=http://127.0.0.1:{}", self.peer[i]))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn start(&mut self, i: usize) {
        let client = format!("http://127.0.0.1:{}", self.client[i]);
        let peer = format!("http://127.0.0.1:{}", self.peer[i]);
        let child = Command::new(env!("CARGO_BIN_EXE_oxcd"))
            .args(["--name", &format!("m{i}")])
            .args(["--data-dir", self.dir.path().join(format!("m{i}")).to_str().unwrap()])
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args([
                "--initial-cluster",
                &self.initial_cluster(),
                "--initial-cluster-token",
                "test-cluster",
            ])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.procs[i] = Some(Proc(child));
    }

    fn endpoint(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.client[i])
    }

    /// The member that reports itself leader in `endpoint status`.
    fn leader(&self) -> usize {
        let start = Instant::now();
        loop {
            for i in 0..3 {
                if self.procs[i].is_none() {
                    continue;
                }
                let out = etcdctl(&self.endpoint(i), &["endpoint", "status"]);
                // "addr, id, version, size, is_leader, ..."
                let text = String::from_utf8_lossy(&out.stdout);
                if text.split(", ").nth(4) == Some("true") {
                    return i;
                }
            }
            assert!(start.elapsed() < WAIT, "no leader");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn sigterm(&mut self, i: usize) {
        let mut p = self.procs[i].take().unwrap();
        assert!(run(Command::new("kill").args(["-TERM", &p.0.id().to_string()])).status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = p.0.try_wait().unwrap() {
                assert!(status.success(), "{status:?}");
                return;
            }
            assert!(start.elapsed() < WAIT, "member {i} did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn three_members_replicate_hand_over_and_catch_up() {
    if !Path::new("/usr/bin/etcdctl").exists() {
        eprintln!("etcdctl is not installed; skipping");
        return;
    }
    let mut c = Cluster {
        dir: tempfile::tempdir().unwrap(),
        client: (0..3).map(|_| free_port()).collect(),
        peer: (0..3).map(|_| free_port()).collect(),
        procs: vec![None, None, None],
    };
    for i in 0..3 {
        c.start(i);
    }
    let all = (0..3).map(|i| c.endpoint(i)).collect::<Vec<_>>().join(",");
    eventually(&c.endpoint(0), &["put", "k1", "v1"], "OK\n");
    for i in 0..3 {
        eventually(&c.endpoint(i), &["get", "k1", "--print-value-only"], "v1\n");
    }
    let members = String::from_utf8(etcdctl(&all, &["member", "list"]).stdout).unwrap();
    assert_eq!(members.lines().count(), 3, "{members}");
    assert!(members.lines().all(|l| l.contains(", started, m")), "{members}");

    // The leader stops gracefully: another member leads and writes go on.
    let leader = c.leader();
    c.sigterm(leader);
    let other = (leader + 1) % 3;
    eventually(&c.endpoint(other), &["put", "k2", "v2"], "OK\n");
    let new_leader = c.leader();
    assert_ne!(new_leader, leader);

    // The stopped member comes back and catches up.
    c.start(leader);
    eventually(
        &c.endpoint(leader),
        &["get", "k2", "--print-value-only", "--consistency=s"],
        "v2\n",
    );
    eventually(&c.endpoint(leader), &["get", "k1", "--print-value-only"], "v1\n");
    for i in 0..3 {
        c.sigterm(i);
    }
}
