//! Requests whose HTTP/2 `:authority` is a URL (`http://127.0.0.1:2379`), as grpc-go 1.26
//! (etcdctl 3.4) sends for endpoints with a scheme: h2 alone refuses them, etcd serves them,
//! and so must we. Driven by a hand-written HTTP/2 client and by the real `etcdctl`.

mod driver_support;
mod transport_support;

use std::io::{Read, Write};
use std::net::TcpStream;

use oxcd_runtime_mio::transport::TransportConfig;
use prost::Message;
use transport_support::{pb, raw_client, TestServer};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;
const ACK: u8 = 1;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK string literal without Huffman coding (< 127 bytes).
fn string(out: &mut Vec<u8>, s: &str) {
    assert!(s.len() < 127);
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// The first request's header block: everything added to the client's dynamic table, as
/// grpc-go's encoder does. `static_name` is a static table index, or 0 for a literal name.
fn first_block(authority: &str) -> Vec<u8> {
    let mut b = vec![0x83, 0x86]; // :method POST, :scheme http
    for (static_name, name, value) in [
        (4u8, "", "/etcdserverpb.KV/Range"),
        (1, "", authority),
        (31, "", "application/grpc"),
        (0, "te", "trailers"),
        (0, "token", "tok-123"),
    ] {
        b.push(0x40 | static_name);
        if static_name == 0 {
            string(&mut b, name);
        }
        string(&mut b, value);
    }
    b
}

/// The same request again, all from the dynamic table (newest entry is 62).
fn second_block() -> Vec<u8> {
    vec![0x83, 0x86, 0x80 | 66, 0x80 | 65, 0x80 | 64, 0x80 | 63, 0x80 | 62]
}

fn grpc_message(key: &[u8]) -> Vec<u8> {
    let msg = pb::RangeRequest { key: key.to_vec(), ..Default::default() }.encode_to_vec();
    let mut out = vec![0];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend_from_slice(&msg);
    out
}

fn read_frame(s: &mut TcpStream) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).expect("a frame (or the read timeout)");
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0; len];
    s.read_exact(&mut payload).unwrap();
    (head[3], head[4], stream, payload)
}

/// Sends two Range calls for key `token` on one connection, the first with `authority`; returns
/// each stream's response messages (gRPC frames with their 5-byte prefix).
fn two_calls(server: &TestServer, authority: &str) -> [Vec<u8>; 2] {
    let mut s = raw_client(server.plain);
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out.extend(frame(HEADERS, END_HEADERS, 1, &first_block(authority)));
    out.extend(frame(DATA, END_STREAM, 1, &grpc_message(b"token")));
    out.extend(frame(HEADERS, END_HEADERS, 3, &second_block()));
    out.extend(frame(DATA, END_STREAM, 3, &grpc_message(b"token")));
    s.write_all(&out).unwrap();
    let mut bodies = [Vec::new(), Vec::new()];
    let mut ended = [false, false];
    // Bounded: the server sends a handful of frames per call.
    for _ in 0..64 {
        if ended == [true, true] {
            return bodies;
        }
        let (kind, flags, stream, payload) = read_frame(&mut s);
        match kind {
            SETTINGS if flags & ACK == 0 => s.write_all(&frame(SETTINGS, ACK, 0, &[])).unwrap(),
            RST_STREAM | GOAWAY => panic!("refused: frame type {kind} payload {payload:x?}"),
            DATA | HEADERS if stream == 1 || stream == 3 => {
                let i = (stream / 2) as usize;
                if kind == DATA {
                    bodies[i].extend_from_slice(&payload);
                }
                if flags & END_STREAM != 0 {
                    ended[i] = true;
                }
            }
            _ => {}
        }
    }
    panic!("the calls did not end: {ended:?}");
}

fn value_of(body: &[u8]) -> String {
    assert!(body.len() > 5, "no response message: {body:x?}");
    let r = pb::RangeResponse::decode(&body[5..]).unwrap();
    String::from_utf8(r.kvs[0].value.clone()).unwrap()
}

#[test]
fn a_url_authority_is_served_with_its_metadata_intact() {
    let server = TestServer::start(TransportConfig::default(), None);
    let authority = format!("http://{}", server.plain);
    let [first, second] = two_calls(&server, &authority);
    // The token came through on both calls: the second one's fields came from the client's
    // dynamic table, which the repaired first block had filled.
    assert!(value_of(&first).starts_with("tok-123|"), "{}", value_of(&first));
    assert!(value_of(&second).starts_with("tok-123|"), "{}", value_of(&second));
}

#[test]
fn well_formed_and_unrepairable_authorities() {
    let server = TestServer::start(TransportConfig::default(), None);
    for authority in [server.plain.to_string(), "unix:///tmp/x.sock".to_owned()] {
        let [first, second] = two_calls(&server, &authority);
        assert!(value_of(&first).starts_with("tok-123|"), "{authority}");
        assert!(value_of(&second).starts_with("tok-123|"), "{authority}");
    }
}

/// The connection error a client gets for an undecodable header block (index 0), sent after
/// a first request with `authority`: (GOAWAY error code, whether the first call was answered).
fn goaway_after(server: &TestServer, authority: &str) -> (u32, bool) {
    let mut s = raw_client(server.plain);
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out.extend(frame(HEADERS, END_HEADERS, 1, &first_block(authority)));
    out.extend(frame(DATA, END_STREAM, 1, &grpc_message(b"k")));
    s.write_all(&out).unwrap();
    let mut answered = false;
    for _ in 0..64 {
        let (kind, flags, stream, payload) = read_frame(&mut s);
        match kind {
            SETTINGS if flags & ACK == 0 => {
                s.write_all(&frame(SETTINGS, ACK, 0, &[])).unwrap();
            }
            DATA if stream == 1 => answered = true,
            // The first call is over: now the bad block.
            HEADERS if stream == 1 && flags & END_STREAM != 0 => {
                s.write_all(&frame(HEADERS, END_HEADERS, 3, &[0x80])).unwrap();
            }
            GOAWAY => {
                let code = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
                return (code, answered);
            }
            RST_STREAM => panic!("stream {stream} reset: {payload:x?}"),
            _ => {}
        }
    }
    panic!("no GOAWAY");
}

#[test]
fn broken_header_blocks_end_the_connection_as_h2_would() {
    const PROTOCOL_ERROR: u32 = 1;
    let server = TestServer::start(TransportConfig::default(), None);
    // Without a repair, h2 judges the client's bytes itself; after one, the filter asks h2
    // for the same GOAWAY.
    assert_eq!(goaway_after(&server, &server.plain.to_string()), (PROTOCOL_ERROR, true));
    assert_eq!(goaway_after(&server, &format!("http://{}", server.plain)), (PROTOCOL_ERROR, true));
    server.wait_stats("connections to close", |s| s.connections == 0);
}

/// etcdctl 3.4's per-endpoint commands with a scheme in the endpoint, against a real member.
#[test]
fn etcdctl_endpoint_commands_with_a_url_endpoint() {
    use driver_support::{etcdctl, TestMember};
    let m = TestMember::start(None);
    let ep = format!("--endpoints=http://{}", m.addr);
    let run = |args: &[&str]| {
        let mut all = vec![ep.as_str(), "--command-timeout=10s"];
        all.extend_from_slice(args);
        etcdctl(&all).map(|(ok, out, err)| {
            assert!(ok, "etcdctl {args:?} failed: {err}");
            out
        })
    };
    let Some(status) = run(&["endpoint", "status"]) else { return };
    assert!(status.starts_with(&format!("http://{}, 8e9e05c52164694d, ", m.addr)), "{status}");
    assert!(run(&["put", "k", "v"]).unwrap().contains("OK"));
    let health = etcdctl(&[&ep, "endpoint", "health"]).unwrap();
    assert!(health.0 && health.2.contains("is healthy"), "{health:?}");
    let hash = run(&["endpoint", "hashkv"]).unwrap();
    assert!(hash.starts_with(&format!("http://{}, ", m.addr)), "{hash}");
    let defrag = run(&["defrag"]).unwrap();
    assert!(defrag.contains("Finished defragmenting etcd member"), "{defrag}");
    // The snapshot stream is served to the end. (Whether etcdctl accepts the snapshot's
    // contents is the snapshot format's business, not the transport's.)
    let path = m.dir.path().join("snap.db");
    let (_, _, err) = etcdctl(&[&ep, "snapshot", "save", path.to_str().unwrap()]).unwrap();
    assert!(err.contains("completed snapshot read"), "{err}");
    assert!(!err.contains("RST_STREAM"), "{err}");
}

/// The same over TLS: the filter works on the decrypted bytes.
#[test]
fn etcdctl_endpoint_status_with_an_https_url_endpoint() {
    use driver_support::{etcdctl, Pki, TestMember, TlsSetup};
    let tls = TlsSetup { pki: Pki::new(), client_cert_auth: false };
    let m = TestMember::start(Some(&tls));
    let ep = format!("--endpoints=https://{}", m.addr);
    let cacert = format!("--cacert={}", tls.pki.path("ca.pem").display());
    let Some((ok, out, err)) = etcdctl(&[&ep, &cacert, "endpoint", "status"]) else { return };
    assert!(ok, "{err}");
    assert!(out.starts_with(&format!("https://{}, 8e9e05c52164694d, ", m.addr)), "{out}");
}
