//! The process harness itself, driven against the selected server (`OXCD_E2E_SERVER`): a
//! 3-member TLS cluster on 127.0.0.11-13, member crash and restart, client-certificate checks.
//!
//! ```sh
//! OXCD_E2E_SERVER=etcd cargo test -p oxcd-tests --test etcdctl_harness -- --ignored
//! ```

use std::time::Duration;

use oxcd_tests::e2e::health::http_get;
use oxcd_tests::e2e::{ClientTls, Cluster, ClusterConfig, Exit, ServerBinary};

fn binary() -> ServerBinary {
    ServerBinary::from_env().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn three_tls_members_serve_survive_a_crash_and_rejoin() {
    let mut cluster =
        Cluster::start(&binary(), ClusterConfig::three_tls()).unwrap_or_else(|e| panic!("{e}"));
    let urls = cluster.client_urls();
    assert_eq!(urls.len(), 3);
    for (i, url) in urls.iter().enumerate() {
        assert_eq!(
            url,
            &format!("https://127.0.0.{}:{}", 11 + i, cluster.members()[i].spec().client_port)
        );
    }
    let etcdctl = cluster.etcdctl();
    let put = etcdctl.run_args(&["put", "k", "v1"]).unwrap();
    assert_eq!(
        (put.stdout_text().as_str(), put.exit),
        ("OK\n", Exit::Code(0)),
        "{}",
        put.stderr_text()
    );

    // Each member answers for itself.
    for url in &urls {
        let get = etcdctl
            .clone()
            .with_endpoints(vec![url.clone()])
            .run_args(&["get", "k", "--print-value-only"])
            .unwrap();
        assert_eq!(get.stdout_text(), "v1\n", "{url}: {}", get.stderr_text());
    }

    // A crash of one member keeps the cluster writable; the member catches up after a restart.
    assert!(matches!(cluster.member_mut(2).kill(), Some(Exit::Signal(9))));
    assert!(!cluster.member_mut(2).is_running());
    let two = etcdctl.clone().with_endpoints(urls[..2].to_vec());
    // If the killed member led, a proposal in flight to it is lost: retry (bounded) while the
    // others elect a new leader.
    let mut put = two.run_args(&["put", "k", "v2"]).unwrap();
    for _ in 0..5 {
        if put.exit.success() {
            break;
        }
        put = two.run_args(&["put", "k", "v2"]).unwrap();
    }
    assert!(put.exit.success(), "{}", put.stderr_text());
    cluster.member_mut(2).start().unwrap();
    cluster.wait_ready().unwrap();
    let third = etcdctl.clone().with_endpoints(vec![urls[2].clone()]);
    let get = third.run_args(&["get", "k", "--print-value-only"]).unwrap();
    assert_eq!(get.stdout_text(), "v2\n", "{}", get.stderr_text());

    // The log file captured the member's output across both runs.
    assert!(cluster.members()[2].log_text().len() > 100);

    // A graceful stop ends the process within the bound.
    let exit = cluster.member_mut(1).stop();
    assert!(exit.is_some());
    assert!(!cluster.member_mut(1).is_running());
}

#[test]
fn client_certificates_are_required_and_checked() {
    let cluster = Cluster::start(&binary(), ClusterConfig::new(1).with_tls())
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = cluster.members()[0].spec().client_addr();
    let tls = cluster.client_tls().unwrap();

    let (status, body) = http_get(addr, "/health", Some(&tls), Duration::from_secs(5)).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"health\":\"true\""), "{body}");

    // No client certificate: the handshake or the request fails.
    let anonymous = ClientTls { ca: tls.ca.clone(), cert: None };
    assert!(http_get(addr, "/health", Some(&anonymous), Duration::from_secs(5)).is_err());

    // A certificate from another CA is refused too.
    let other_dir = tempfile::tempdir().unwrap();
    let other_ca = oxcd_tests::e2e::TestCa::new(other_dir.path(), "other").unwrap();
    let stranger = other_ca.client_cert("stranger", "root").unwrap();
    let forged = ClientTls { ca: tls.ca.clone(), cert: Some((stranger.cert, stranger.key)) };
    assert!(http_get(addr, "/health", Some(&forged), Duration::from_secs(5)).is_err());

    // Plain HTTP to a TLS port gets no health answer.
    assert!(!matches!(http_get(addr, "/health", None, Duration::from_secs(5)), Ok((200, _))));

    let out = cluster.etcdctl().run_args(&["endpoint", "health"]).unwrap();
    assert!(out.exit.success(), "{}", out.stderr_text());
}
