//! A minimal HTTP/1.1 GET over plain TCP or rustls, for `/health` and `/version` probes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Files a TLS client presents and trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTls {
    /// The CA that signed the server's certificate (`--cacert`).
    pub ca: PathBuf,
    /// The client certificate and key (`--cert`, `--key`), when the server asks for one.
    pub cert: Option<(PathBuf, PathBuf)>,
}

/// The largest response body a probe reads.
const RESPONSE_BYTES_MAX: u64 = 1 << 20;

/// GETs `path` from `addr` (TLS when `tls` is set) and returns (status code, body).
///
/// # Errors
/// A connection, TLS or parse failure, as text.
pub fn http_get(
    addr: SocketAddr,
    path: &str,
    tls: Option<&ClientTls>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let tcp =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut raw = Vec::new();
    match tls {
        None => {
            let mut tcp = tcp;
            tcp.write_all(request.as_bytes()).map_err(|e| format!("write: {e}"))?;
            let _ = tcp.take(RESPONSE_BYTES_MAX).read_to_end(&mut raw);
        }
        Some(tls) => {
            let config = client_config(tls)?;
            let name = ServerName::IpAddress(addr.ip().into());
            let conn = rustls::ClientConnection::new(Arc::new(config), name)
                .map_err(|e| format!("tls: {e}"))?;
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            stream.write_all(request.as_bytes()).map_err(|e| format!("tls write: {e}"))?;
            // Servers may close without close_notify; keep what arrived.
            let _ = stream.take(RESPONSE_BYTES_MAX).read_to_end(&mut raw);
        }
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) =
        text.split_once("\r\n\r\n").ok_or_else(|| format!("no HTTP response: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line: {head:?}"))?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A rustls client configuration trusting `tls.ca` and presenting `tls.cert`.
///
/// # Errors
/// When a file cannot be read or parsed.
pub fn client_config(tls: &ClientTls) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(&tls.ca)? {
        roots.add(cert).map_err(|e| format!("{}: {e}", tls.ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match &tls.cert {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            builder.with_client_auth_cert(read_certs(cert)?, key).map_err(|e| e.to_string())
        }
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"health\":\"true\"}";
        assert_eq!(parse_response(plain).unwrap(), (200, "{\"health\":\"true\"}".to_owned()));
        let chunked = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (503, "abcdef".to_owned()));
        assert!(parse_response(b"garbage").is_err());
    }
}
