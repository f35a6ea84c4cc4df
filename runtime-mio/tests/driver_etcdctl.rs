//! The in-process member driven by Debian's `etcdctl` (etcd 3.4's client), over plaintext and
//! over TLS with a client certificate.

mod driver_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driver_support::{etcdctl, Pki, TestMember, TlsSetup, WAIT};

fn ok(args: &[&str]) -> Option<String> {
    let (success, out, err) = etcdctl(args)?;
    assert!(success, "etcdctl {args:?} failed: {err}");
    Some(out)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn etcdctl_plaintext() {
    let m = TestMember::start(None);
    let ep = format!("--endpoints={}", m.addr);
    let ep = ep.as_str();
    let Some(out) = ok(&[ep, "put", "foo", "bar"]) else { return };
    assert_eq!(out, "OK\n");
    assert_eq!(ok(&[ep, "get", "foo"]).unwrap(), "foo\nbar\n");
    assert_eq!(ok(&[ep, "get", "foo", "--print-value-only"]).unwrap(), "bar\n");
    assert_eq!(ok(&[ep, "del", "foo"]).unwrap(), "1\n");
    assert_eq!(ok(&[ep, "get", "foo"]).unwrap(), "");

    // A watch in the background sees the next put.
    let mut watch = Killed(
        Command::new("/usr/bin/etcdctl")
            .args([ep, "watch", "w"])
            .env("ETCDCTL_API", "3")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    // The watch is created asynchronously: put until it reports an event.
    let stdout = watch.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l == "hello") {
        assert!(start.elapsed() < WAIT, "watch saw {seen:?}");
        ok(&[ep, "put", "w", "hello"]);
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            seen.push(line);
        }
    }
    assert!(seen.starts_with(&["PUT".to_owned(), "w".to_owned(), "hello".to_owned()]), "{seen:?}");
    drop(watch);

    let grant = ok(&[ep, "lease", "grant", "60"]).unwrap();
    let id = grant.split_whitespace().nth(1).unwrap().to_owned();
    ok(&[ep, "put", "--lease", &id, "lk", "v"]);
    let ttl = ok(&[ep, "lease", "timetolive", &id, "--keys"]).unwrap();
    assert!(ttl.contains("attached keys([lk])"), "{ttl}");
    let ka = ok(&[ep, "lease", "keep-alive", "--once", &id]).unwrap();
    assert!(ka.contains("keepalived with TTL(60)"), "{ka}");
    ok(&[ep, "lease", "revoke", &id]);
    assert_eq!(ok(&[ep, "get", "lk"]).unwrap(), "");

    let members = ok(&[ep, "member", "list"]).unwrap();
    assert!(
        members.starts_with("8e9e05c52164694d, started, default, http://127.0.0.1:2380"),
        "{members}"
    );
    let status = ok(&[ep, "endpoint", "status"]).unwrap();
    assert!(status.contains("8e9e05c52164694d, 3.5.17"), "{status}");
    let (success, _, health) = etcdctl(&[ep, "endpoint", "health"]).unwrap();
    assert!(success && health.contains("is healthy"), "{health}");
    let (success, out, err) = etcdctl(&[ep, "get", "k", "--rev=999"]).unwrap();
    assert!(!success, "{out}");
    assert!(err.contains("etcdserver: mvcc: required revision is a future revision"), "{err}");
}

#[test]
fn etcdctl_over_tls_with_client_certificates() {
    let pki = Pki::new();
    let tls = TlsSetup { pki, client_cert_auth: true };
    let m = TestMember::start(Some(&tls));
    let ep = format!("--endpoints=https://{}", m.addr);
    let cacert = format!("--cacert={}", tls.pki.path("ca.pem").display());
    let cert = format!("--cert={}", tls.pki.path("root.pem").display());
    let key = format!("--key={}", tls.pki.path("root-key.pem").display());
    let args = |extra: &[&'static str]| {
        let mut a = vec![ep.clone(), cacert.clone(), cert.clone(), key.clone()];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        ok(&refs)
    };
    let Some(out) = run(&["put", "tls", "yes"]) else { return };
    assert_eq!(out, "OK\n");
    assert_eq!(run(&["get", "tls", "--print-value-only"]).unwrap(), "yes\n");
    // Without a client certificate the handshake is refused.
    let (success, _, _) =
        etcdctl(&[&ep, &cacert, "--dial-timeout=2s", "--command-timeout=3s", "get", "tls"])
            .unwrap();
    assert!(!success);
    // With auth on, the certificate's CN is the user: root may do anything; alice nothing.
    run(&["user", "add", "root:rootpw"]).unwrap();
    run(&["user", "grant-role", "root", "root"]).unwrap();
    run(&["user", "add", "alice:alicepw"]).unwrap();
    run(&["auth", "enable"]).unwrap();
    assert_eq!(run(&["get", "tls", "--print-value-only"]).unwrap(), "yes\n");
    let alice_cert = format!("--cert={}", tls.pki.path("alice.pem").display());
    let alice_key = format!("--key={}", tls.pki.path("alice-key.pem").display());
    let (success, _, err) =
        etcdctl(&[&ep, &cacert, &alice_cert, &alice_key, "get", "tls"]).unwrap();
    assert!(!success && err.contains("etcdserver: permission denied"), "{err}");
    run(&["auth", "disable"]).unwrap();
}
