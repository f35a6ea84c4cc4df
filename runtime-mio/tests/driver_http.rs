//! The HTTP side of a client listener, over HTTP/1.1: `/health`, `/livez`, `/readyz`,
//! `/version`, `/metrics`, the `/v3/*` JSON gateway (unary, errors, streamed watch), and 404s.

mod driver_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use driver_support::{http, TestMember, WAIT};
use oxcd_core::node::{ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION};

#[test]
fn health_version_metrics() {
    let m = TestMember::start(None);
    assert_eq!(
        http(m.addr, "GET", "/health", b""),
        (200, "{\"health\":\"true\",\"reason\":\"\"}".into())
    );
    assert_eq!(http(m.addr, "GET", "/health?serializable=true", b"").0, 200);
    assert_eq!(http(m.addr, "GET", "/health?exclude=NOSPACE", b"").0, 200);
    assert_eq!(http(m.addr, "GET", "/livez", b""), (200, "ok".into()));
    assert_eq!(http(m.addr, "GET", "/readyz", b""), (200, "ok".into()));
    assert_eq!(http(m.addr, "POST", "/health", b"").0, 405);
    let (status, body) = http(m.addr, "GET", "/version", b"");
    assert_eq!(status, 200);
    assert_eq!(body, format!("{{\"etcdserver\":\"{ETCD_SERVER_VERSION}\",\"etcdcluster\":\"{ETCD_CLUSTER_VERSION}\"}}"));

    http(m.addr, "POST", "/v3/kv/put", br#"{"key":"bWs=","value":"dg=="}"#);
    let (status, text) = http(m.addr, "GET", "/metrics", b"");
    assert_eq!(status, 200);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("etcd_server_has_leader"), 1.0);
    assert_eq!(value("etcd_server_is_leader"), 1.0);
    assert_eq!(value("etcd_server_leader_changes_seen_total"), 1.0);
    assert!(value("etcd_server_proposals_committed_total") >= 2.0);
    assert!(value("etcd_server_proposals_applied_total") >= 2.0);
    assert!(value("etcd_mvcc_db_total_size_in_bytes") > 0.0);
    assert!(value("etcd_debugging_mvcc_current_revision") >= 2.0);
    assert!(text
        .contains(&format!("etcd_server_version{{server_version=\"{ETCD_SERVER_VERSION}\"}} 1")));

    // The metrics listener serves metrics and health, nothing else.
    assert_eq!(http(m.metrics_addr, "GET", "/health", b"").0, 200);
    assert!(http(m.metrics_addr, "GET", "/metrics", b"")
        .1
        .contains("\netcd_server_has_leader 1\n"));
    let r = http(m.metrics_addr, "POST", "/v3/kv/range", b"{}");
    assert_eq!(r.0, 404, "{r:?}");
    assert_eq!(http(m.metrics_addr, "GET", "/version", b"").0, 404);

    assert_eq!(http(m.addr, "GET", "/v2/keys/foo", b"").0, 404);
    assert_eq!(http(m.addr, "GET", "/nothing", b"").0, 404);
}

#[test]
fn json_gateway() {
    let m = TestMember::start(None);
    // "foo" = Zm9v, "bar" = YmFy
    let (status, body) = http(m.addr, "POST", "/v3/kv/put", br#"{"key":"Zm9v","value":"YmFy"}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("{\"header\":{\"cluster_id\":\""), "{body}");
    let (status, body) = http(m.addr, "POST", "/v3/kv/range", br#"{"key":"Zm9v"}"#);
    assert_eq!(status, 200);
    assert!(body.contains("\"kvs\":[{\"key\":\"Zm9v\""), "{body}");
    assert!(body.contains("\"value\":\"YmFy\""), "{body}");
    assert!(body.contains("\"count\":\"1\""), "{body}");
    let (_, body) =
        http(m.addr, "POST", "/v3beta/kv/range", br#"{"key":"Zm9v","count_only":true}"#);
    assert!(body.contains("\"count\":\"1\"") && !body.contains("kvs"), "{body}");
    let (status, body) = http(m.addr, "POST", "/v3/maintenance/status", b"{}");
    assert_eq!(status, 200);
    assert!(body.contains(&format!("\"version\":\"{ETCD_SERVER_VERSION}\"")), "{body}");
    let (status, body) = http(m.addr, "POST", "/v3/lease/grant", br#"{"TTL":60}"#);
    assert_eq!(status, 200);
    assert!(body.contains("\"TTL\":\"60\""), "{body}");

    // Errors: grpc-gateway's body and HTTP status.
    let (status, body) = http(m.addr, "POST", "/v3/kv/put", br#"{"value":"YmFy"}"#);
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "{\"error\":\"etcdserver: key is not provided\",\"code\":3,\"message\":\"etcdserver: key is not provided\"}"
    );
    let (status, body) = http(m.addr, "POST", "/v3/lease/revoke", br#"{"ID":"12345"}"#);
    assert_eq!(status, 404, "{body}");
    let (status, _) = http(m.addr, "POST", "/v3/kv/put", b"{not json");
    assert_eq!(status, 400);
    assert_eq!(http(m.addr, "GET", "/v3/kv/put", b"").0, 405);
}

#[test]
fn gateway_watch_streams() {
    let m = TestMember::start(None);
    let mut s = TcpStream::connect(m.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // "w" = dw==
    let body = br#"{"create_request":{"key":"dw=="}}"#;
    let head =
        format!("POST /v3/watch HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut r = BufReader::new(s);
    let mut lines = Vec::new();
    let start = Instant::now();
    let mut put_done = false;
    while lines.iter().filter(|l: &&String| l.contains("\"result\"")).count() < 2 {
        assert!(start.elapsed() < WAIT, "watch lines: {lines:?}");
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line.contains("\"created\":true") && !put_done {
            put_done = true;
            http(m.addr, "POST", "/v3/kv/put", br#"{"key":"dw==","value":"MQ=="}"#);
        }
        lines.push(line);
    }
    let results: Vec<&String> = lines.iter().filter(|l| l.contains("\"result\"")).collect();
    assert!(results[0].contains("\"created\":true"), "{results:?}");
    assert!(results[1].contains("\"events\":[{\"kv\":{\"key\":\"dw==\""), "{results:?}");
    assert!(results[1].contains("\"value\":\"MQ==\""), "{results:?}");
}
