//! The values that cross the transport's surface: ids, decoded requests, peer facts, statuses.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls_pki_types::CertificateDer;

/// One gRPC call or one HTTP exchange, unique for the transport's lifetime (never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// A listening socket opened by [`super::ClientTransport::listen`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListenerId(pub u32);

/// A connection: its slot in the transport's table and the slot's generation (slots are reused,
/// generations are not, so a stale id never reaches a newer connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl ConnId {
    pub(crate) const fn new(slot: u32, generation: u32) -> Self {
        Self { slot, generation }
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}.{}", self.slot, self.generation)
    }
}

/// A gRPC status as sent in the `grpc-status` / `grpc-message` trailers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcStatus {
    /// The wire code (0 = OK).
    pub code: u32,
    /// The message, sent percent-encoded.
    pub message: String,
}

impl GrpcStatus {
    /// Status OK with no message.
    #[must_use]
    pub fn ok() -> Self {
        Self { code: 0, message: String::new() }
    }

    /// A status with `code` and `message`.
    #[must_use]
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<oxcd_core::ApiError> for GrpcStatus {
    fn from(e: oxcd_core::ApiError) -> Self {
        Self::new(e.code().as_u32(), e.message())
    }
}

/// Request metadata of a gRPC call (HTTP/2 headers), with the fields etcd reads pulled out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The auth token: the `token` header (etcdctl, clientv3, etcd-client), else `authorization`
    /// (the JSON gateway's spelling), as sent.
    pub token: Option<String>,
    /// `hasleader: true` (clientv3's `WithRequireLeader`): fail fast when there is no leader.
    pub require_leader: bool,
    /// The client's deadline from `grpc-timeout`, if any.
    pub timeout: Option<Duration>,
    /// `user-agent`, for logs.
    pub user_agent: Option<String>,
    /// Every other header whose value is visible ASCII, in arrival order (bounded by the
    /// connection's header list limit). Pseudo-headers, binary (`-bin`) values and gRPC's own
    /// protocol headers (`te`, `content-type`, `accept-encoding`, `grpc-*`) are left out.
    pub other: Vec<(String, String)>,
}

impl Metadata {
    /// The value of header `name` (lower case) among [`Metadata::other`].
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.other.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What the transport knows about the other end of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The listener that accepted the connection.
    pub listener: ListenerId,
    /// The remote address (`None` on a unix socket).
    pub remote_addr: Option<SocketAddr>,
    /// TLS facts, on TLS listeners.
    pub tls: Option<TlsPeer>,
}

/// The TLS session of a connection, once its handshake completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPeer {
    /// The negotiated ALPN protocol (`h2`, `http/1.1`) if any.
    pub alpn: Option<Vec<u8>>,
    /// The server name the client asked for (SNI), if any.
    pub server_name: Option<String>,
    /// The client certificate. Present only when the server config requested client
    /// certificates, and then it has been verified against the trusted CAs by rustls.
    pub client_cert: Option<ClientCert>,
}

/// A verified client certificate and the identity facts read from its leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCert {
    /// The chain as sent, leaf first (DER).
    pub chain: Vec<CertificateDer<'static>>,
    /// The subject's common name (etcd's user under `--client-cert-auth`).
    pub common_name: Option<String>,
    /// DNS names of the subject alternative name extension.
    pub dns_names: Vec<String>,
    /// IP addresses of the subject alternative name extension.
    pub ip_addresses: Vec<IpAddr>,
}

/// An HTTP request (HTTP/1.x, or HTTP/2 without a gRPC content type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// Answer with [`super::ClientTransport::http_reply`] or the `http_stream_*` methods.
    pub id: CallId,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string after `?`, without it (empty if none).
    pub query: String,
    /// Headers with lower-case names, in arrival order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body (chunked bodies already decoded).
    pub body: Bytes,
}

impl HttpRequest {
    /// The first header named `name` (lower case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_slice())
    }
}

/// A decoded request or a state change, drained with [`super::ClientTransport::poll_incoming`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A unary gRPC call with its one request message. Answer with `reply_unary`.
    Unary {
        /// The call.
        call: CallId,
        /// The gRPC path, e.g. `/etcdserverpb.KV/Range`.
        method: String,
        /// Request headers.
        metadata: Metadata,
        /// One request message (protobuf bytes, gRPC framing removed).
        message: Bytes,
        /// The connection's peer.
        peer: Arc<PeerInfo>,
    },
    /// A streaming gRPC call opened (its messages follow as `StreamMessage`). Answer with
    /// `stream_send` and end it with `stream_finish`.
    StreamOpened {
        /// The call.
        call: CallId,
        /// The gRPC path, e.g. `/etcdserverpb.Watch/Watch`.
        method: String,
        /// Request headers.
        metadata: Metadata,
        /// The connection's peer.
        peer: Arc<PeerInfo>,
    },
    /// One message from the client on a streaming call.
    StreamMessage {
        /// The call.
        call: CallId,
        /// The message (protobuf bytes).
        message: Bytes,
    },
    /// The client will send no more messages on this streaming call (it may still read).
    StreamHalfClosed {
        /// The call.
        call: CallId,
    },
    /// The call or HTTP exchange is gone: client reset, disconnect, protocol error, or the
    /// transport ended it (output overflow). Answers to it are ignored from now on.
    CallCancelled {
        /// The call.
        call: CallId,
    },
    /// A call that was told [`SendStatus::Full`] may send again: its connection's buffered
    /// output fell below half the limit.
    Writable {
        /// The call.
        call: CallId,
    },
    /// An HTTP request. Answer with `http_reply` or `http_stream_start`.
    Http {
        /// The request.
        request: HttpRequest,
        /// The connection's peer.
        peer: Arc<PeerInfo>,
    },
}

/// The outcome of queueing a streamed message or chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum SendStatus {
    /// Queued; there is room for more.
    Sent,
    /// Queued, but the connection's buffered output is over its limit: hold further messages
    /// until [`Incoming::Writable`] for this call.
    Full,
    /// Not queued: the buffered output passed twice the limit, so the transport ended the call
    /// (gRPC status `RESOURCE_EXHAUSTED`, or a closed HTTP response) and reports
    /// [`Incoming::CallCancelled`].
    Overflow,
    /// Not queued: the call no longer exists (cancelled, finished, or never existed).
    Gone,
}
