//! gRPC through the transport, driven by the real `etcd-client` crate (tonic), over plaintext
//! HTTP/2 and over TLS with client certificates.

mod transport_support;

use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use oxcd_runtime_mio::transport::TransportConfig;
use tonic::Code;
use transport_support::pki::Pki;
use transport_support::{TestServer, FLOOD_MESSAGES};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn options() -> ConnectOptions {
    ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(20))
}

fn status(e: etcd_client::Error) -> tonic::Status {
    match e {
        etcd_client::Error::GRpcStatus(s) => s,
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

/// Unary success, an error status intact, and a Watch stream both ways.
async fn exercise(client: &mut Client) {
    let r = client.get("foo", None).await.unwrap();
    assert_eq!(r.kvs().len(), 1);
    assert_eq!(r.kvs()[0].value(), b"value-of-foo");
    assert_eq!(r.header().unwrap().revision(), 42);

    let e = status(client.get("error", None).await.unwrap_err());
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(e.message(), "etcdserver: not leader");

    let mut stream = client.watch("k", None).await.unwrap();
    let created = stream.message().await.unwrap().unwrap();
    assert!(created.created());
    let id = created.watch_id();
    for rev in 1..=3 {
        let r = stream.message().await.unwrap().unwrap();
        assert_eq!(r.watch_id(), id);
        assert_eq!(r.events().len(), 1);
        assert_eq!(r.events()[0].kv().unwrap().value(), format!("v{rev}").as_bytes());
    }
    // A second watch on the same stream, then cancel the first.
    stream.watch("k2", None).await.unwrap();
    let created2 = stream.message().await.unwrap().unwrap();
    assert!(created2.created());
    assert_ne!(created2.watch_id(), id);
    for _ in 0..3 {
        assert_eq!(stream.message().await.unwrap().unwrap().watch_id(), created2.watch_id());
    }
    stream.cancel(id).await.unwrap();
    let canceled = stream.message().await.unwrap().unwrap();
    assert!(canceled.canceled());
    assert_eq!(canceled.watch_id(), id);
}

#[test]
fn etcd_client_over_plaintext_h2() {
    let server = TestServer::start(TransportConfig::default(), None);
    runtime().block_on(async {
        let mut client =
            Client::connect([format!("http://{}", server.plain)], Some(options())).await.unwrap();
        exercise(&mut client).await;
        // Several calls in flight at once on one connection.
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let mut c = client.clone();
                tokio::spawn(async move {
                    c.get(format!("key{i}"), None).await.unwrap().kvs()[0].value().to_vec()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), format!("value-of-key{i}").as_bytes());
        }
    });
    // The watch stream was dropped by the client: the service heard about it.
    server.wait_stats("calls to end", |s| s.calls == 0);
    assert!(server.shared.log_has("opened"));
    assert!(server.shared.log_has("cancelled") || server.shared.log_has("half-closed"));
}

#[test]
fn etcd_client_over_tls_with_client_certificates() {
    let pki = Pki::new("grpc");
    let server = TestServer::start(TransportConfig::default(), Some(pki.server_tls(true)));
    let url = format!("https://localhost:{}", server.tls.unwrap().port());
    runtime().block_on(async {
        let tls = TlsOptions::new()
            .domain_name("localhost")
            .ca_certificate(Certificate::from_pem(&pki.ca_pem))
            .identity(Identity::from_pem(&pki.client_cert_pem, &pki.client_key_pem));
        let endpoint = url.replace("localhost", "127.0.0.1");
        let mut client =
            Client::connect([endpoint.clone()], Some(options().with_tls(tls))).await.unwrap();
        exercise(&mut client).await;
        let r = client.get("whoami", None).await.unwrap();
        assert_eq!(r.kvs()[0].value(), b"alice");

        // Without a client certificate the handshake is refused: no call gets through.
        let tls = TlsOptions::new()
            .domain_name("localhost")
            .ca_certificate(Certificate::from_pem(&pki.ca_pem));
        let opts = options().with_tls(tls).with_timeout(Duration::from_secs(5));
        let result = match Client::connect([endpoint], Some(opts)).await {
            Ok(mut c) => c.get("foo", None).await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(result.is_err(), "a client without certificate got through");
    });
    assert!(server.shared.log_has("cn=alice"));
}

#[test]
fn token_metadata_reaches_the_service() {
    let server = TestServer::start(TransportConfig::default(), None);
    runtime().block_on(async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.plain))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let mut req = tonic::Request::new(transport_support::pb::RangeRequest {
            key: b"token".to_vec(),
            range_end: Vec::new(),
        });
        req.metadata_mut().insert("token", "secret-token".parse().unwrap());
        req.metadata_mut().insert("hasleader", "true".parse().unwrap());
        req.set_timeout(Duration::from_millis(7500));
        let path = http::uri::PathAndQuery::from_static("/etcdserverpb.KV/Range");
        let codec = tonic_prost::ProstCodec::<
            transport_support::pb::RangeRequest,
            transport_support::pb::RangeResponse,
        >::default();
        let r = grpc.unary(req, path, codec).await.unwrap().into_inner();
        assert_eq!(String::from_utf8_lossy(&r.kvs[0].value), "secret-token|true|Some(7.5s)");
    });
}

#[test]
fn oversize_message_gets_resource_exhausted_and_the_connection_stays_up() {
    let config = TransportConfig { max_request_bytes: 64 * 1024, ..TransportConfig::default() };
    let limit = config.max_recv_message_bytes();
    let server = TestServer::start(config, None);
    runtime().block_on(async {
        let mut client =
            Client::connect([format!("http://{}", server.plain)], Some(options())).await.unwrap();
        let value = vec![b'v'; limit + 1000];
        let len = prost::Message::encoded_len(&transport_support::pb::PutRequest {
            key: b"big".to_vec(),
            value: value.clone(),
        });
        let e = status(client.put("big", value, None).await.unwrap_err());
        assert_eq!(e.code(), Code::ResourceExhausted);
        assert_eq!(
            e.message(),
            format!("grpc: received message larger than max ({len} vs. {limit})")
        );
        // Same client, same connection: still served.
        client.put("small", "v", None).await.unwrap();
        assert_eq!(client.get("foo", None).await.unwrap().kvs()[0].value(), b"value-of-foo");
    });
    assert_eq!(server.shared.stats().accepted_total, 1, "the client had to reconnect");
}

#[test]
fn a_slow_stream_reader_gets_backpressure_not_unbounded_buffering() {
    let config = TransportConfig {
        max_output_bytes_per_connection: 16 * 1024,
        ..TransportConfig::default()
    };
    let server = TestServer::start(config, None);
    runtime().block_on(async {
        let mut client =
            Client::connect([format!("http://{}", server.plain)], Some(options())).await.unwrap();
        let mut stream = client.watch("flood", None).await.unwrap();
        assert!(stream.message().await.unwrap().unwrap().created());
        let mut n = 0;
        while let Some(r) = stream.message().await.unwrap() {
            let v = r.events()[0].kv().unwrap().value();
            assert_eq!(&v[..4], format!("{n:04}").as_bytes());
            n += 1;
        }
        assert_eq!(n, FLOOD_MESSAGES);
    });
    // The service was held back (Full) and resumed on Writable, and the whole flood arrived.
    assert!(server.shared.log_has("full"), "{:?}", server.shared.log.lock().unwrap());
    assert!(server.shared.log_has("writable"));
    assert!(server.shared.log_has("flood done"));
}

#[test]
fn a_client_giving_up_on_a_call_cancels_it() {
    let server = TestServer::start(TransportConfig::default(), None);
    runtime().block_on(async {
        let opts = options().with_timeout(Duration::from_millis(300));
        let mut client =
            Client::connect([format!("http://{}", server.plain)], Some(opts)).await.unwrap();
        let e = status(client.get("hold", None).await.unwrap_err());
        assert!(matches!(e.code(), Code::Cancelled | Code::DeadlineExceeded), "{e:?}");
        // The connection serves on.
        assert_eq!(client.get("foo", None).await.unwrap().kvs()[0].value(), b"value-of-foo");
    });
    server.wait_stats("the held call to go", |s| s.calls == 0);
    let log = server.shared.log.lock().unwrap().clone();
    assert!(log.iter().any(|l| l.starts_with("holding")), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("held unary cancelled")), "{log:?}");
}

#[test]
fn idle_http2_connections_get_a_goaway_and_clients_reconnect() {
    let config = TransportConfig {
        idle_timeout: Some(Duration::from_millis(200)),
        ..TransportConfig::default()
    };
    let server = TestServer::start(config, None);
    let rt = runtime();
    let mut client = rt.block_on(async {
        let mut client =
            Client::connect([format!("http://{}", server.plain)], Some(options())).await.unwrap();
        assert_eq!(client.get("a", None).await.unwrap().kvs()[0].value(), b"value-of-a");
        client
    });
    // The client stays connected but silent: the server says GOAWAY and the connection closes.
    // (The client's runtime must run meanwhile, for tonic to answer the GOAWAY.)
    rt.block_on(async {
        for _ in 0..1000 {
            if server.shared.stats().connections == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the idle connection stayed open: {:?}", server.shared.stats());
    });
    assert_eq!(server.shared.stats().accepted_total, 1);
    rt.block_on(async {
        let mut value = None;
        // tonic notices the GOAWAY and reconnects; a call racing the close may fail once.
        for _ in 0..3 {
            if let Ok(r) = client.get("b", None).await {
                value = Some(r.kvs()[0].value().to_vec());
                break;
            }
        }
        assert_eq!(value.as_deref(), Some(&b"value-of-b"[..]));
    });
    assert!(server.shared.stats().accepted_total >= 2);
}

#[test]
fn a_tiny_incoming_queue_pauses_reads_without_stalling_anyone() {
    let config = TransportConfig { max_pending_incoming: 1, ..TransportConfig::default() };
    let server = TestServer::start(config, None);
    runtime().block_on(async {
        let mut client =
            Client::connect([format!("http://{}", server.plain)], Some(options())).await.unwrap();
        exercise(&mut client).await;
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let mut c = client.clone();
                tokio::spawn(async move {
                    c.get(format!("key{i}"), None).await.unwrap().kvs()[0].value().to_vec()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), format!("value-of-key{i}").as_bytes());
        }
    });
}
