//! etcd v2's keys API on a member started with `--enable-v2`: etcd's JSON bodies, status
//! codes and headers, a key space separate from v3, persistence across a restart, and 404
//! without the flag.

mod driver_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use driver_support::{http, TestMember};

/// One form-encoded request; the status, the head (lower-cased) and the body.
fn v2(addr: SocketAddr, method: &str, path: &str, form: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn header(head: &str, name: &str) -> u64 {
    let line = head.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap();
    line.trim().parse().unwrap()
}

/// The `modifiedIndex` of a `{"action":…,"node":{…}}` body.
fn modified(body: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["node"]["modifiedIndex"].as_u64().unwrap()
}

#[test]
fn keys_api_with_enable_v2() {
    let m = TestMember::start_with(tempfile::tempdir().unwrap(), None, true);
    let a = m.addr;

    let (status, head, body) = v2(a, "GET", "/v2/keys/foo", "");
    assert_eq!(status, 404);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("x-etcd-cluster-id: "), "{head}");
    let index = header(&head, "x-etcd-index");
    assert_eq!(
        body,
        format!("{{\"errorCode\":100,\"message\":\"Key not found\",\"cause\":\"/foo\",\"index\":{index}}}\n")
    );

    let (status, head, body) = v2(a, "PUT", "/v2/keys/foo", "value=bar");
    assert_eq!(status, 201, "{body}");
    let i1 = modified(&body);
    assert_eq!(
        body,
        format!("{{\"action\":\"set\",\"node\":{{\"key\":\"/foo\",\"value\":\"bar\",\"modifiedIndex\":{i1},\"createdIndex\":{i1}}}}}\n")
    );
    assert_eq!(header(&head, "x-etcd-index"), i1);
    assert_eq!(header(&head, "x-raft-index"), i1);
    assert!(header(&head, "x-raft-term") >= 1);

    let (status, _, body) = v2(a, "PUT", "/v2/keys/foo", "value=baz");
    assert_eq!(status, 200);
    let i2 = modified(&body);
    assert!(i2 > i1);
    assert_eq!(
        body,
        format!("{{\"action\":\"set\",\"node\":{{\"key\":\"/foo\",\"value\":\"baz\",\"modifiedIndex\":{i2},\"createdIndex\":{i2}}},\"prevNode\":{{\"key\":\"/foo\",\"value\":\"bar\",\"modifiedIndex\":{i1},\"createdIndex\":{i1}}}}}\n")
    );

    let (status, _, body) = v2(a, "PUT", "/v2/keys/dir", "dir=true");
    assert_eq!(status, 201, "{body}");
    let d = modified(&body);
    v2(a, "PUT", "/v2/keys/dir/a", "value=1");
    let (_, _, body) = v2(a, "GET", "/v2/keys/dir", "");
    assert!(body.starts_with(
        "{\"action\":\"get\",\"node\":{\"key\":\"/dir\",\"dir\":true,\"nodes\":[{\"key\":\"/dir/a\",\"value\":\"1\""
    ), "{body}");
    assert!(
        body.ends_with(&format!("}}],\"modifiedIndex\":{d},\"createdIndex\":{d}}}}}\n")),
        "{body}"
    );
    let (status, _, body) = v2(a, "GET", "/v2/keys/?recursive=true", "");
    assert_eq!(status, 200);
    assert!(
        body.starts_with("{\"action\":\"get\",\"node\":{\"dir\":true,\"nodes\":[{\"key\":\"/dir\""),
        "{body}"
    );

    let (status, _, body) = v2(a, "PUT", "/v2/keys/dir", "value=x");
    assert_eq!(status, 403);
    assert!(
        body.starts_with("{\"errorCode\":102,\"message\":\"Not a file\",\"cause\":\"/dir\""),
        "{body}"
    );
    let (status, _, body) = v2(a, "GET", "/v2/keys/foo/x", "");
    assert_eq!(status, 400);
    assert!(
        body.starts_with("{\"errorCode\":104,\"message\":\"Not a directory\",\"cause\":\"/foo\""),
        "{body}"
    );
    let (status, _, body) = v2(a, "PUT", "/v2/keys/y?ttl=5", "value=1");
    assert_eq!((status, body.contains("\"errorCode\":209")), (400, true), "{body}");
    assert_eq!(v2(a, "PATCH", "/v2/keys/foo", "").0, 405);

    // The v3 key space does not see v2 keys, and v2 does not see v3 keys.
    let (_, body) = http(a, "POST", "/v3/kv/range", br#"{"key":"AA==","range_end":"AA=="}"#);
    assert!(!body.contains("kvs"), "{body}");
    http(a, "POST", "/v3/kv/put", br#"{"key":"L3Yz","value":"dg=="}"#); // "/v3"
    assert_eq!(v2(a, "GET", "/v2/keys/v3", "").0, 404);

    let (status, _, body) = v2(a, "DELETE", "/v2/keys/foo", "");
    assert_eq!(status, 200);
    assert!(
        body.starts_with("{\"action\":\"delete\",\"node\":{\"key\":\"/foo\",\"modifiedIndex\":"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "\"prevNode\":{{\"key\":\"/foo\",\"value\":\"baz\",\"modifiedIndex\":{i2}"
        )),
        "{body}"
    );

    // The v2 store survives a restart.
    let (_, dir) = m.stop();
    let m = TestMember::start_with(dir, None, true);
    let (status, _, body) = v2(m.addr, "GET", "/v2/keys/dir/a", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(v2(m.addr, "GET", "/v2/keys/foo", "").0, 404);
}

#[test]
fn without_enable_v2_the_keys_api_is_not_found() {
    let m = TestMember::start(None);
    for method in ["GET", "PUT", "DELETE"] {
        let (status, head, body) = v2(m.addr, method, "/v2/keys/foo", "value=1");
        assert_eq!((status, body.as_str()), (404, "404 page not found\n"));
        assert!(head.contains("content-type: text/plain"), "{head}");
    }
}
