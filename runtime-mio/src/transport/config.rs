//! Transport configuration and listen URLs.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Tokens reserved for listeners, from [`TransportConfig::token_base`] on.
pub const MAX_LISTENERS: usize = 64;

/// etcd's default `--max-request-bytes` (1.5 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1536 * 1024;

/// What etcd adds to `--max-request-bytes` for the gRPC server's receive limit.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// The gRPC paths whose calls are streams (etcd's v3 API and its election service); every other
/// gRPC path is a unary call. The shape of a call is part of the API schema, not a decision: this
/// list moves to `oxcd-proto` with its service tables.
pub const ETCD_STREAMING_METHODS: &[&str] = &[
    "/etcdserverpb.Watch/Watch",
    "/etcdserverpb.Lease/LeaseKeepAlive",
    "/etcdserverpb.Maintenance/Snapshot",
    "/v3electionpb.Election/Observe",
];

/// Limits and timeouts of a [`super::ClientTransport`]. Validated by [`TransportConfig::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportConfig {
    /// The transport's mio tokens are `token_base .. token_base + MAX_LISTENERS + max_connections`
    /// (see [`super::ClientTransport::owns_token`]); the loop keeps its other tokens outside.
    pub token_base: usize,
    /// etcd's `--max-request-bytes`: the largest request body. A gRPC message may be
    /// [`GRPC_OVERHEAD_BYTES`] larger (as in etcd); an HTTP body may be as large.
    pub max_request_bytes: usize,
    /// Connections open at once; connections accepted beyond it are closed at once.
    pub max_connections: usize,
    /// The TCP accept backlog (the kernel caps it at `net.core.somaxconn`, as Go's listeners
    /// ask for). std's 128 drops connection bursts.
    pub listen_backlog: u32,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` per connection.
    pub max_concurrent_streams: u32,
    /// Buffered output per connection (queued messages and unsent bytes) above which streamed
    /// sends report [`super::SendStatus::Full`]; at twice this, they end the call.
    pub max_output_bytes_per_connection: usize,
    /// Received plaintext buffered per connection before reading from the socket pauses.
    pub max_input_bytes_per_connection: usize,
    /// Largest HTTP/1 request head (431 beyond) and HTTP/2 header list.
    pub max_header_bytes: usize,
    /// HTTP/1 requests read ahead of their answers on one connection.
    pub max_pipelined_requests: usize,
    /// Decoded requests waiting in [`super::ClientTransport::poll_incoming`] above which reading
    /// from sockets pauses (the loop normally drains them every turn).
    pub max_pending_incoming: usize,
    /// HTTP/2 receive window of a stream and of a connection.
    pub h2_stream_window_bytes: u32,
    /// See `h2_stream_window_bytes`.
    pub h2_connection_window_bytes: u32,
    /// A connection must finish its TLS handshake and present its first request (HTTP/1 head,
    /// HTTP/2 preface) within this time.
    pub handshake_timeout: Duration,
    /// Connections with no open call and nothing received for this long are closed (HTTP/2 with
    /// a GOAWAY first). `None`: never (etcd's and grpc-go's default).
    pub idle_timeout: Option<Duration>,
    /// A closing connection gets this long to flush its output before the socket is dropped.
    pub close_timeout: Duration,
    /// gRPC paths served as streaming calls; the others are unary.
    pub streaming_methods: Vec<String>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            token_base: 1 << 20,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_connections: 10_000,
            listen_backlog: 4096,
            max_concurrent_streams: 4096,
            max_output_bytes_per_connection: 4 << 20,
            max_input_bytes_per_connection: 64 << 10,
            max_header_bytes: 64 << 10,
            max_pipelined_requests: 16,
            max_pending_incoming: 4096,
            h2_stream_window_bytes: 1 << 20,
            h2_connection_window_bytes: 4 << 20,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: None,
            close_timeout: Duration::from_secs(5),
            streaming_methods: ETCD_STREAMING_METHODS.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// A configuration value out of range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid transport configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl TransportConfig {
    /// The largest gRPC message accepted: `max_request_bytes` + [`GRPC_OVERHEAD_BYTES`].
    #[must_use]
    pub fn max_recv_message_bytes(&self) -> usize {
        self.max_request_bytes.saturating_add(GRPC_OVERHEAD_BYTES)
    }

    /// Checks every limit.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |s: &str| Err(ConfigError(s.to_owned()));
        if self.max_request_bytes == 0 || self.max_request_bytes > (1 << 30) {
            return err("max_request_bytes must be in 1 ..= 1 GiB");
        }
        if self.max_connections == 0 || self.max_connections > (1 << 24) {
            return err("max_connections must be in 1 ..= 2^24");
        }
        if self.token_base.checked_add(MAX_LISTENERS + self.max_connections).is_none() {
            return err("token_base leaves no room for the transport's tokens");
        }
        if self.listen_backlog == 0 || self.listen_backlog > 65_535 {
            return err("listen_backlog must be in 1 ..= 65535");
        }
        if self.max_concurrent_streams == 0 {
            return err("max_concurrent_streams must be positive");
        }
        if self.max_output_bytes_per_connection < 1024 {
            return err("max_output_bytes_per_connection must be at least 1 KiB");
        }
        if self.max_input_bytes_per_connection < 16 << 10 {
            return err("max_input_bytes_per_connection must be at least 16 KiB");
        }
        if self.max_header_bytes < 1024 || self.max_header_bytes > (16 << 20) {
            return err("max_header_bytes must be in 1 KiB ..= 16 MiB");
        }
        if self.max_pipelined_requests == 0 {
            return err("max_pipelined_requests must be positive");
        }
        if self.max_pending_incoming == 0 {
            return err("max_pending_incoming must be positive");
        }
        let window_ok = |w: u32| (65_535..=(1 << 31) - 1).contains(&w);
        if !window_ok(self.h2_stream_window_bytes) || !window_ok(self.h2_connection_window_bytes) {
            return err("HTTP/2 windows must be in 65535 ..= 2^31-1");
        }
        if self.handshake_timeout.is_zero() || self.close_timeout.is_zero() {
            return err("handshake_timeout and close_timeout must be positive");
        }
        if self.idle_timeout.is_some_and(|d| d.is_zero()) {
            return err("idle_timeout must be positive when set");
        }
        Ok(())
    }
}

/// The scheme of a listen URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`: plaintext; HTTP/2 with prior knowledge and HTTP/1.1 on one port.
    Http,
    /// `https://`: TLS with ALPN `h2` / `http/1.1`.
    Https,
    /// `unix://`: plaintext on a unix socket.
    Unix,
    /// `unixs://`: TLS on a unix socket.
    Unixs,
}

impl Scheme {
    /// True for the TLS schemes.
    #[must_use]
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Https | Self::Unixs)
    }
}

/// Where a listener binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address (port 0 picks a free port; see `ClientTransport::local_addr`).
    Tcp(SocketAddr),
    /// A unix socket path.
    Unix(PathBuf),
}

/// A parsed `--listen-client-urls` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenUrl {
    /// The scheme.
    pub scheme: Scheme,
    /// The address.
    pub addr: ListenAddr,
}

impl ListenUrl {
    /// Parses `http://IP:PORT`, `https://IP:PORT` (IPv6 in brackets, `localhost` as 127.0.0.1),
    /// `unix://PATH` and `unixs://PATH` (PATH as written, like etcd's `unix://localhost:2379`).
    ///
    /// # Errors
    /// A message saying what is wrong with `url`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) =
            url.split_once("://").ok_or_else(|| format!("listen URL {url:?} has no scheme"))?;
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "unix" => Scheme::Unix,
            "unixs" => Scheme::Unixs,
            other => return Err(format!("listen URL {url:?}: unsupported scheme {other:?}")),
        };
        if matches!(scheme, Scheme::Unix | Scheme::Unixs) {
            if rest.is_empty() {
                return Err(format!("listen URL {url:?} has no socket path"));
            }
            return Ok(Self { scheme, addr: ListenAddr::Unix(PathBuf::from(rest)) });
        }
        let hostport = rest.strip_suffix('/').unwrap_or(rest);
        if hostport.contains('/') {
            return Err(format!("listen URL {url:?} must not have a path"));
        }
        let (host, port) =
            hostport.rsplit_once(':').ok_or_else(|| format!("listen URL {url:?} has no port"))?;
        let port: u16 = port.parse().map_err(|_| format!("listen URL {url:?} has a bad port"))?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let ip: IpAddr = if host == "localhost" {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse().map_err(|_| format!("listen URL {url:?}: host must be an IP address"))?
        };
        Ok(Self { scheme, addr: ListenAddr::Tcp(SocketAddr::new(ip, port)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_urls() {
        let u = ListenUrl::parse("https://127.0.0.1:2379").unwrap();
        assert_eq!(u.scheme, Scheme::Https);
        assert_eq!(u.addr, ListenAddr::Tcp("127.0.0.1:2379".parse().unwrap()));
        let u = ListenUrl::parse("http://[::1]:0/").unwrap();
        assert_eq!(u.addr, ListenAddr::Tcp("[::1]:0".parse().unwrap()));
        let u = ListenUrl::parse("http://localhost:2379").unwrap();
        assert_eq!(u.addr, ListenAddr::Tcp("127.0.0.1:2379".parse().unwrap()));
        let u = ListenUrl::parse("unixs://localhost:2379").unwrap();
        assert_eq!((u.scheme, u.addr), (Scheme::Unixs, ListenAddr::Unix("localhost:2379".into())));
        for bad in [
            "127.0.0.1:2379",
            "ftp://1.2.3.4:1",
            "http://example.com:1",
            "http://1.2.3.4",
            "http://1.2.3.4:1/x",
            "unix://",
        ] {
            assert!(ListenUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_config_is_valid_and_checked() {
        let c = TransportConfig::default();
        c.validate().unwrap();
        assert_eq!(c.max_recv_message_bytes(), 2 << 20);
        let bad = TransportConfig { max_connections: 0, ..TransportConfig::default() };
        assert!(bad.validate().is_err());
        let bad = TransportConfig { h2_stream_window_bytes: 10, ..TransportConfig::default() };
        assert!(bad.validate().is_err());
    }
}
