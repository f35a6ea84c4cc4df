//! HTTP/1.1 and HTTP/2 (non-gRPC) through the transport, driven by curl and raw sockets.

mod transport_support;

use std::io::Write;

use oxcd_runtime_mio::transport::TransportConfig;
use transport_support::pki::Pki;
use transport_support::{curl, raw_client, read_to_end, TestServer};

#[test]
fn curl_http1_and_h2_prior_knowledge_on_plaintext() {
    let server = TestServer::start(TransportConfig::default(), None);
    let url = format!("http://{}/health", server.plain);
    let (code, out, err) = curl(&["-i", "--http1.1", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with(r#"{"health":"true","reason":""}"#), "{out}");

    let (code, out, err) = curl(&["-i", "--http2-prior-knowledge", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    assert!(out.contains("content-type: application/json"), "{out}");
    assert!(out.ends_with(r#"{"health":"true","reason":""}"#), "{out}");

    // Several requests on one kept-alive connection, HEAD included.
    let (code, out, err) = curl(&["-v", "--http1.1", &url, "-I", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Re-using existing connection") || err.contains("left intact"), "{err}");
    assert!(out.contains("content-length: 29"), "{out}");

    // Unknown path and streamed (chunked) response, on both protocols.
    let (_, out, _) = curl(&["-i", &format!("http://{}/nope", server.plain)]);
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    for proto in ["--http1.1", "--http2-prior-knowledge"] {
        let (code, out, err) = curl(&["-i", proto, &format!("http://{}/stream", server.plain)]);
        assert_eq!(code, 0, "{err}");
        assert!(out.ends_with("{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n"), "{out}");
        if proto == "--http1.1" {
            assert!(out.contains("transfer-encoding: chunked"), "{out}");
        }
    }
}

#[test]
fn request_bodies_content_length_chunked_and_too_large() {
    let config = TransportConfig { max_request_bytes: 256 * 1024, ..TransportConfig::default() };
    let server = TestServer::start(config, None);
    let url = format!("http://{}/echo", server.plain);
    let body: String = (0..100_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let dir = std::env::temp_dir().join(format!("oxcd-transport-bodies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let small = dir.join("small");
    std::fs::write(&small, &body).unwrap();
    let small_arg = format!("@{}", small.display());
    for extra in
        [&[][..], &["-H", "Transfer-Encoding: chunked"][..], &["--http2-prior-knowledge"][..]]
    {
        let mut args = vec!["--data-binary", small_arg.as_str()];
        args.extend_from_slice(extra);
        args.push(&url);
        let (code, out, err) = curl(&args);
        assert_eq!(code, 0, "{extra:?}: {err}");
        assert_eq!(out, body, "{extra:?}");
    }
    let big = dir.join("big");
    std::fs::write(&big, "z".repeat(300 * 1024)).unwrap();
    let big_arg = format!("@{}", big.display());
    for extra in
        [&[][..], &["-H", "Transfer-Encoding: chunked"][..], &["--http2-prior-knowledge"][..]]
    {
        let mut args =
            vec!["-o", "/dev/null", "-w", "%{http_code}", "--data-binary", big_arg.as_str()];
        args.extend_from_slice(extra);
        args.push(&url);
        let (_, out, _) = curl(&args);
        assert_eq!(out, "413", "{extra:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    // The server is still fine.
    let (code, _, err) = curl(&[&format!("http://{}/health", server.plain)]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn pipelined_requests_are_answered_in_order_and_close_is_honoured() {
    let server = TestServer::start(TransportConfig::default(), None);
    let mut s = raw_client(server.plain);
    // /delayed is answered by the service only after /health: the wire order must still be the
    // request order.
    s.write_all(b"GET /delayed HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let out = String::from_utf8(read_to_end(&mut s)).unwrap();
    let first = out.find("delayed").expect(&out);
    let second = out.find("health").expect(&out);
    assert!(first < second, "{out}");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    assert!(out.contains("connection: close"), "{out}");

    // HTTP/1.0 without keep-alive closes after one answer.
    let mut s = raw_client(server.plain);
    s.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    let out = String::from_utf8(read_to_end(&mut s)).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
}

#[test]
fn http1_to_a_grpc_path_gets_a_clear_error() {
    let server = TestServer::start(TransportConfig::default(), None);
    let (code, out, err) = curl(&[
        "-i",
        "--http1.1",
        "-H",
        "content-type: application/grpc",
        "--data-binary",
        "xxxxx",
        &format!("http://{}/etcdserverpb.KV/Range", server.plain),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("HTTP/1.1 505"), "{out}");
    assert!(out.contains("gRPC needs HTTP/2"), "{out}");
    let (code, _, err) = curl(&[&format!("http://{}/health", server.plain)]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn curl_over_tls_with_and_without_client_certificates() {
    let pki = Pki::new("curl");
    let server = TestServer::start(TransportConfig::default(), Some(pki.server_tls(true)));
    let addr = server.tls.unwrap();
    let ca = pki.path("ca.pem");
    let cert = pki.path("client.pem");
    let key = pki.path("client-key.pem");
    let (ca, cert, key) = (ca.to_str().unwrap(), cert.to_str().unwrap(), key.to_str().unwrap());
    for (proto, status) in [("--http1.1", "HTTP/1.1 200"), ("--http2", "HTTP/2 200")] {
        let url = format!("https://localhost:{}/whoami", addr.port());
        let resolve = format!("localhost:{}:127.0.0.1", addr.port());
        let (code, out, err) = curl(&[
            "-i",
            proto,
            "--resolve",
            &resolve,
            "--cacert",
            ca,
            "--cert",
            cert,
            "--key",
            key,
            &url,
        ]);
        assert_eq!(code, 0, "{proto}: {err}");
        assert!(out.starts_with(status), "{out}");
        assert!(out.ends_with("alice"), "{out}");
    }
    // `Connection: close` over TLS: the answer must go into TLS before close_notify, or the
    // client sees an empty reply.
    let url = format!("https://127.0.0.1:{}/health", addr.port());
    let (code, out, err) = curl(&[
        "--http1.1",
        "-H",
        "Connection: close",
        "--cacert",
        ca,
        "--cert",
        cert,
        "--key",
        key,
        &url,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("health"), "{out}");
    // No client certificate: refused at the handshake.
    let url = format!("https://127.0.0.1:{}/health", addr.port());
    let (code, out, err) = curl(&["--cacert", ca, &url]);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("health"), "{out}");
    assert!(!err.is_empty());
    // A client that does not trust our CA gives up too; the server stays up.
    let (code, _, _) = curl(&[&url]);
    assert_ne!(code, 0);
    let (code, out, err) = curl(&["--cacert", ca, "--cert", cert, "--key", key, &url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("health"));
    drop(pki);
}

#[test]
fn unix_socket_listener() {
    let path = std::env::temp_dir().join(format!("oxcd-transport-{}.sock", std::process::id()));
    let server = TestServer::start_with(TransportConfig::default(), None, Some(path.clone()));
    let (code, out, err) =
        curl(&["--unix-socket", path.to_str().unwrap(), "http://localhost/health"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"health\":\"true\""), "{out}");
    drop(server);
}
