//! The real `oxcd` binary on 127.0.0.1, driven by `etcdctl` and `curl` (when installed),
//! stopped with SIGTERM, restarted on its data dir.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

struct Oxcd {
    child: Child,
}

impl Drop for Oxcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(dir: &Path, port: u16, peer_port: u16) -> Oxcd {
    let url = format!("http://127.0.0.1:{port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let child = Command::new(env!("CARGO_BIN_EXE_oxcd"))
        .args(["--data-dir", dir.to_str().unwrap()])
        .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
        .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("default={peer}")])
        .args(["--heartbeat-interval", "20", "--election-timeout", "200"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = Oxcd { child };
    let start = Instant::now();
    while !curl(port, &["/health"]).1.contains("\"health\":\"true\"") {
        assert!(start.elapsed() < WAIT, "oxcd did not become healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    o
}

/// Runs a command, killed after [`WAIT`].
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

/// `curl -s` on the member: (success, body).
fn curl(port: u16, args: &[&str]) -> (bool, String) {
    let (path, rest) = args.split_first().unwrap();
    let out = run(Command::new("curl")
        .args(["-s", "-m", "5"])
        .args(rest)
        .arg(format!("http://127.0.0.1:{port}{path}")));
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn etcdctl(port: u16, args: &[&str]) -> Option<String> {
    if !Path::new("/usr/bin/etcdctl").exists() {
        eprintln!("etcdctl is not installed; skipping its part");
        return None;
    }
    let out = run(Command::new("/usr/bin/etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints=127.0.0.1:{port}"))
        .args(args));
    assert!(out.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

fn sigterm_and_wait(mut o: Oxcd) -> (std::process::ExitStatus, String) {
    let pid = o.child.id().to_string();
    assert!(run(Command::new("kill").args(["-TERM", &pid])).status.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = o.child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < WAIT, "oxcd did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    o.child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    (status, log)
}

#[test]
fn serves_stops_on_sigterm_and_restarts_with_its_data() {
    if !Path::new("/usr/bin/curl").exists() {
        eprintln!("curl is not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (port, peer_port) = (free_port(), free_port());
    let o = start(dir.path(), port, peer_port);
    let (ok, version) = curl(port, &["/version"]);
    assert!(ok);
    assert_eq!(version, "{\"etcdserver\":\"3.5.17\",\"etcdcluster\":\"3.5.0\"}");
    let (_, metrics) = curl(port, &["/metrics"]);
    assert!(metrics.contains("\netcd_server_has_leader 1\n"), "{metrics}");
    // "foo" = Zm9v, "bar" = YmFy
    let (_, put) =
        curl(port, &["/v3/kv/put", "-X", "POST", "-d", r#"{"key":"Zm9v","value":"YmFy"}"#]);
    assert!(put.contains("\"revision\":\"2\""), "{put}");
    let (_, range) = curl(port, &["/v3/kv/range", "-X", "POST", "-d", r#"{"key":"Zm9v"}"#]);
    assert!(range.contains("\"value\":\"YmFy\""), "{range}");
    if let Some(out) = etcdctl(port, &["put", "k", "v"]) {
        assert_eq!(out, "OK\n");
        assert_eq!(etcdctl(port, &["get", "foo", "--print-value-only"]).unwrap(), "bar\n");
    }

    let (status, log) = sigterm_and_wait(o);
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("received signal; shutting down"), "{log}");
    assert!(log.contains("elected leader"), "{log}");

    let o = start(dir.path(), port, peer_port);
    let (_, range) = curl(port, &["/v3/kv/range", "-X", "POST", "-d", r#"{"key":"Zm9v"}"#]);
    assert!(range.contains("\"value\":\"YmFy\""), "{range}");
    let (status, _) = sigterm_and_wait(o);
    assert!(status.success());
}

#[test]
fn refuses_what_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(Command::new(env!("CARGO_BIN_EXE_oxcd")).args([
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--runtime",
        "smol",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--runtime smol is not available yet"));
    let out = run(Command::new(env!("CARGO_BIN_EXE_oxcd")).arg("--no-such-flag"));
    assert_eq!(out.status.code(), Some(2));
    let out = run(Command::new(env!("CARGO_BIN_EXE_oxcd"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "--name", "mine"])
        .args(["--initial-cluster", "other=http://127.0.0.1:2380"]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("couldn't find local name \"mine\""), "{err}");
}

/// The README's first command: no flags at all, one member named `default` serving clients on
/// localhost:2379 (peers on localhost:2380), data in `./default.oxcd`.
#[test]
fn zero_flags_run_one_member_on_localhost_2379() {
    let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
    if !free(2379) || !free(2380) {
        eprintln!("ports 2379/2380 are in use here; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_oxcd"))
        .current_dir(dir.path())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = Oxcd { child };
    let start = Instant::now();
    while !curl(2379, &["/health"]).1.contains("\"health\":\"true\"") {
        assert!(start.elapsed() < WAIT, "oxcd without flags did not become healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(dir.path().join("default.oxcd").is_dir(), "data dir default.oxcd");
    if let Some(list) = etcdctl(2379, &["member", "list"]) {
        assert_eq!(
            list.trim(),
            "8e9e05c52164694d, started, default, http://localhost:2380, http://localhost:2379, false",
            "etcd's default member, id included"
        );
        assert_eq!(etcdctl(2379, &["put", "k", "v"]).unwrap(), "OK\n");
    }
    let (status, log) = sigterm_and_wait(o);
    assert!(status.success(), "{log}");
}
