//! Peer URLs as etcd takes them: `https://host:port` or `http://host:port`, the port required.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// A peer URL from `--listen-peer-urls`, `--initial-advertise-peer-urls` or the membership.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerUrl {
    /// `https` (TLS) or `http` (plain TCP).
    pub tls: bool,
    /// The host: an address or a name.
    pub host: PeerHost,
    /// The TCP port.
    pub port: u16,
}

/// The host part of a [`PeerUrl`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerHost {
    /// An address literal (`127.0.0.11`, `[::1]`).
    Ip(IpAddr),
    /// A DNS name, looked up off the event loop before dialing.
    Name(String),
}

/// A peer URL that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerUrlError(pub String);

impl fmt::Display for PeerUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerUrlError {}

impl PeerUrl {
    /// The TLS server name the peer's certificate is checked against: the URL's host.
    ///
    /// # Errors
    /// A host name rustls does not take as a DNS name.
    pub fn server_name(&self) -> Result<rustls_pki_types::ServerName<'static>, String> {
        match &self.host {
            PeerHost::Ip(ip) => Ok(rustls_pki_types::ServerName::IpAddress((*ip).into())),
            PeerHost::Name(name) => {
                rustls_pki_types::ServerName::try_from(name.clone()).map_err(|e| e.to_string())
            }
        }
    }

    /// `host:port` as an HTTP `Host` header writes it (IPv6 in brackets).
    #[must_use]
    pub fn authority(&self) -> String {
        match &self.host {
            PeerHost::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            PeerHost::Ip(ip) => format!("{ip}:{}", self.port),
            PeerHost::Name(name) => format!("{name}:{}", self.port),
        }
    }

    /// The socket address when the host is an address literal.
    #[must_use]
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match &self.host {
            PeerHost::Ip(ip) => Some(SocketAddr::new(*ip, self.port)),
            PeerHost::Name(_) => None,
        }
    }
}

impl FromStr for PeerUrl {
    type Err = PeerUrlError;

    fn from_str(s: &str) -> Result<PeerUrl, PeerUrlError> {
        let bad = |why: &str| PeerUrlError(format!("invalid peer URL {s:?}: {why}"));
        let (tls, rest) = if let Some(rest) = s.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = s.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad("scheme must be http or https"));
        };
        // A trailing slash is tolerated (etcd prints URLs without one, users add it).
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('#') || rest.contains('@') {
            return Err(bad("a peer URL is scheme://host:port only"));
        }
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (addr, port) = inner.split_once("]:").ok_or_else(|| bad("expected [addr]:port"))?;
            let ip: IpAddr = addr.parse().map_err(|_| bad("bad IPv6 address"))?;
            (PeerHost::Ip(ip), port)
        } else {
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("the port is missing"))?;
            if host.is_empty() || host.contains(':') {
                return Err(bad("bad host"));
            }
            match host.parse::<IpAddr>() {
                Ok(ip) => (PeerHost::Ip(ip), port),
                Err(_) => (PeerHost::Name(host.to_ascii_lowercase()), port),
            }
        };
        let port = port.parse().map_err(|_| bad("bad port"))?;
        Ok(PeerUrl { tls, host, port })
    }
}

impl fmt::Display for PeerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_etcd_accepts_and_prints_it_back() {
        for s in ["https://127.0.0.11:2380", "http://[::1]:2380", "https://m1.example:2380"] {
            let url: PeerUrl = s.parse().unwrap();
            assert_eq!(url.to_string(), s);
        }
        let url: PeerUrl = "https://127.0.0.11:2380/".parse().unwrap();
        assert!(url.tls);
        assert_eq!(url.socket_addr(), Some("127.0.0.11:2380".parse().unwrap()));
        let named: PeerUrl = "http://M1.Example:1".parse().unwrap();
        assert_eq!(named.host, PeerHost::Name("m1.example".into()));
        assert_eq!(named.socket_addr(), None);
    }

    #[test]
    fn refuses_what_is_not_a_peer_url() {
        for s in [
            "127.0.0.1:2380",
            "unix://x:1",
            "https://127.0.0.1",
            "https://:2380",
            "https://[::1:2380",
            "https://h:99999",
            "https://h:2380/path",
            "https://user@h:1",
        ] {
            assert!(s.parse::<PeerUrl>().is_err(), "{s}");
        }
    }
}
