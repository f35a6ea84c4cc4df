//! The peer port's HTTP/1.1 side, as etcd has it: `GET /members` answers the membership as
//! JSON with the cluster id in `X-Etcd-Cluster-ID`, `GET /version` the version document.
//! A member started with `--initial-cluster-state existing` asks a running member's
//! `/members` for its own id and the cluster's ([`fetch_members`]).
//!
//! The listener tells the two protocols apart by the first bytes: oxcd's peer handshake starts
//! with its magic, an HTTP request with a method.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxcd_core::membership::Member;
use oxcd_core::NodeId;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use super::{PeerTls, PeerUrl};

/// The longest request head the peer port reads.
const REQUEST_HEAD_MAX: usize = 4096;
/// The longest `/members` answer [`fetch_members`] reads.
const ANSWER_MAX: usize = 4 << 20;

/// What the first bytes of an incoming peer connection are.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sniffed {
    /// Not enough bytes to tell.
    Incomplete,
    /// Not HTTP: the peer handshake.
    NotHttp,
    /// A whole HTTP request head: the method and the path.
    Request { method: String, path: String },
    /// HTTP that does not parse, or a head over the limit.
    Bad,
}

/// Looks at the bytes read so far on an accepted connection.
pub(crate) fn sniff(input: &[u8]) -> Sniffed {
    let methods: [&[u8]; 4] = [b"GET ", b"HEAD ", b"POST ", b"PUT "];
    let starts_method = methods
        .iter()
        .any(|m| input.starts_with(m) || (input.len() < m.len() && m.starts_with(input)));
    if input.is_empty() {
        return Sniffed::Incomplete;
    }
    if !starts_method {
        return Sniffed::NotHttp;
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(input) {
        Ok(httparse::Status::Complete(_)) => Sniffed::Request {
            method: request.method.unwrap_or_default().to_owned(),
            path: request.path.unwrap_or_default().to_owned(),
        },
        Ok(httparse::Status::Partial) if input.len() < REQUEST_HEAD_MAX => Sniffed::Incomplete,
        Ok(httparse::Status::Partial) | Err(_) => Sniffed::Bad,
    }
}

/// One member as `/members` shows it (etcd's JSON names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDocument {
    /// The member id in hex.
    pub id: String,
    /// Empty until the member has published its attributes.
    #[serde(default)]
    pub name: String,
    /// Peer URLs.
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    /// Client URLs (empty until published).
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
    /// Learners are marked (etcd omits the field for voters).
    #[serde(rename = "isLearner", default, skip_serializing_if = "std::ops::Not::not")]
    pub is_learner: bool,
}

impl MemberDocument {
    /// The document of one member.
    #[must_use]
    pub fn of(member: &Member) -> MemberDocument {
        MemberDocument {
            id: format!("{:x}", member.id.get()),
            name: member.name.clone(),
            peer_urls: member.peer_urls.clone(),
            client_urls: member.client_urls.clone(),
            is_learner: member.is_learner,
        }
    }

    /// Back to the core's member; `None` for an id that is not hex.
    #[must_use]
    pub fn to_member(&self) -> Option<Member> {
        let id = u64::from_str_radix(&self.id, 16).ok().filter(|&id| id != 0)?;
        Some(Member {
            id: NodeId(id),
            name: self.name.clone(),
            peer_urls: self.peer_urls.clone(),
            client_urls: self.client_urls.clone(),
            is_learner: self.is_learner,
        })
    }
}

/// The body of `/members` for `members`.
#[must_use]
pub fn members_body(members: &[Member]) -> Vec<u8> {
    let docs: Vec<MemberDocument> = members.iter().map(MemberDocument::of).collect();
    serde_json::to_vec(&docs).unwrap_or_else(|_| b"[]".to_vec())
}

/// The whole HTTP answer to a request on the peer port.
pub(crate) fn answer(method: &str, path: &str, cluster_id: u64, members: &[u8]) -> Vec<u8> {
    let path = path.split('?').next().unwrap_or_default();
    let version = crate::api::http::version_body();
    let (status, body): (&str, &[u8]) = match (method, path) {
        ("GET", "/members") => ("200 OK", members),
        ("GET", "/version") => ("200 OK", version.as_bytes()),
        (_, "/members" | "/version") => ("405 Method Not Allowed", b"Method Not Allowed\n"),
        _ => ("404 Not Found", b"404 page not found\n"),
    };
    let kind =
        if status.starts_with("200") { "application/json" } else { "text/plain; charset=utf-8" };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nX-Etcd-Cluster-ID: {cluster_id:x}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A running cluster as one of its members described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteCluster {
    /// From `X-Etcd-Cluster-ID`.
    pub cluster_id: u64,
    /// The members.
    pub members: Vec<Member>,
}

/// Asks the member at `url` for the membership (`GET /members`), with the peer TLS
/// configuration for `https://` URLs. Blocking; for the start of a joining member.
///
/// # Errors
/// The member cannot be reached in `timeout`, TLS fails, or the answer is not etcd's shape.
pub fn fetch_members(
    url: &PeerUrl,
    tls: Option<&PeerTls>,
    source_ip: Option<IpAddr>,
    timeout: Duration,
) -> Result<RemoteCluster, String> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = match url.socket_addr() {
        Some(addr) => vec![addr],
        None => url
            .authority()
            .to_socket_addrs()
            .map_err(|e| format!("resolve {}: {e}", url.authority()))?
            .collect(),
    };
    let mut last = format!("no address for {url}");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match fetch_from(addr, url, tls, source_ip, left) {
            Ok(cluster) => return Ok(cluster),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn fetch_from(
    addr: SocketAddr,
    url: &PeerUrl,
    tls: Option<&PeerTls>,
    source_ip: Option<IpAddr>,
    timeout: Duration,
) -> Result<RemoteCluster, String> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| e.to_string())?;
    if let Some(ip) = source_ip.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
        socket.bind(&SocketAddr::new(ip, 0).into()).map_err(|e| format!("bind {ip}: {e}"))?;
    }
    socket.connect_timeout(&addr.into(), timeout).map_err(|e| format!("dial {addr}: {e}"))?;
    let sock: TcpStream = socket.into();
    sock.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let request =
        format!("GET /members HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", url.authority());
    let raw = if url.tls {
        let tls = tls.ok_or_else(|| format!("{url}: https peer URL without peer TLS"))?;
        let name = url.server_name().map_err(|e| format!("{url}: {e}"))?;
        let session = rustls::ClientConnection::new(Arc::clone(&tls.client), name)
            .map_err(|e| format!("{url}: {e}"))?;
        let mut stream = rustls::StreamOwned::new(session, sock);
        exchange(&mut stream, request.as_bytes())?
    } else {
        let mut sock = sock;
        exchange(&mut sock, request.as_bytes())?
    };
    parse_members_answer(&raw).map_err(|e| format!("{url}: {e}"))
}

fn exchange(stream: &mut impl ReadWrite, request: &[u8]) -> Result<Vec<u8>, String> {
    stream.write_all(request).map_err(|e| e.to_string())?;
    stream.flush().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > ANSWER_MAX {
                    return Err("answer too large".into());
                }
            }
            // A TLS peer that closes without close_notify still sent the whole answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                return Ok(out)
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Reads a `/members` answer: status 200, `X-Etcd-Cluster-ID`, a JSON array of members.
fn parse_members_answer(raw: &[u8]) -> Result<RemoteCluster, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("truncated answer".into()),
        Err(e) => return Err(format!("not an HTTP answer: {e}")),
    };
    if response.code != Some(200) {
        return Err(format!("GET /members answered {}", response.code.unwrap_or_default()));
    }
    let cluster = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("X-Etcd-Cluster-ID"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or("the answer has no X-Etcd-Cluster-ID")?;
    let docs: Vec<MemberDocument> =
        serde_json::from_slice(&raw[head..]).map_err(|e| format!("bad /members body: {e}"))?;
    let members = docs
        .iter()
        .map(|d| d.to_member().ok_or_else(|| format!("bad member id {:?}", d.id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RemoteCluster { cluster_id: cluster, members })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, name: &str, learner: bool) -> Member {
        Member {
            id: NodeId(id),
            name: name.into(),
            peer_urls: vec![format!("https://127.0.0.{id}:2380")],
            client_urls: vec![format!("https://127.0.0.{id}:2379")],
            is_learner: learner,
        }
    }

    #[test]
    fn sniffing_tells_http_from_the_handshake() {
        assert_eq!(sniff(b""), Sniffed::Incomplete);
        assert_eq!(sniff(b"GE"), Sniffed::Incomplete);
        assert_eq!(sniff(b"GET /members HTTP/1.1\r\nHost: a"), Sniffed::Incomplete);
        assert_eq!(sniff(b"oxcdpp\x00\x01"), Sniffed::NotHttp);
        assert_eq!(sniff(b"\x16\x03\x01"), Sniffed::NotHttp);
        assert_eq!(
            sniff(b"GET /members HTTP/1.1\r\nHost: a\r\n\r\n"),
            Sniffed::Request { method: "GET".into(), path: "/members".into() }
        );
        assert_eq!(sniff(b"GET /\x01 HTTP/1.1\r\n\r\n"), Sniffed::Bad);
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(REQUEST_HEAD_MAX + 10, b'a');
        assert_eq!(sniff(&long), Sniffed::Bad);
    }

    #[test]
    fn a_members_answer_reads_back_as_the_cluster() {
        let members = vec![member(1, "m1", false), member(2, "", true)];
        let raw = answer("GET", "/members", 0xabc, &members_body(&members));
        let cluster = parse_members_answer(&raw).unwrap();
        assert_eq!(cluster, RemoteCluster { cluster_id: 0xabc, members });
        let text = String::from_utf8(raw).unwrap();
        assert!(text.contains("\"peerURLs\":[\"https://127.0.0.1:2380\"]"), "{text}");
        assert!(!text.contains("\"isLearner\":false"), "etcd omits the flag for voters: {text}");
    }

    #[test]
    fn other_paths_and_methods_are_refused() {
        let not_found = String::from_utf8(answer("GET", "/raft", 1, b"[]")).unwrap();
        assert!(not_found.starts_with("HTTP/1.1 404 "), "{not_found}");
        assert!(parse_members_answer(not_found.as_bytes()).unwrap_err().contains("404"));
        let post = String::from_utf8(answer("POST", "/members", 1, b"[]")).unwrap();
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        let version = String::from_utf8(answer("GET", "/version?x", 1, b"[]")).unwrap();
        assert!(version.ends_with(&crate::api::http::version_body()), "{version}");
    }

    #[test]
    fn answers_without_a_cluster_id_or_with_bad_ids_are_refused() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]";
        assert!(parse_members_answer(raw).unwrap_err().contains("X-Etcd-Cluster-ID"));
        let raw = b"HTTP/1.1 200 OK\r\nX-Etcd-Cluster-ID: 1\r\n\r\n[{\"id\":\"zz\"}]";
        assert!(parse_members_answer(raw).unwrap_err().contains("bad member id"));
    }
}
