//! Peer facts of a connection: the TLS session's ALPN, SNI and the client certificate's identity.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

use super::types::{ClientCert, TlsPeer};

/// The TLS facts of a session whose handshake is complete.
pub(crate) fn tls_peer(tls: &rustls::ServerConnection) -> TlsPeer {
    let client_cert = tls.peer_certificates().and_then(|chain| {
        let chain: Vec<CertificateDer<'static>> =
            chain.iter().map(|c| c.clone().into_owned()).collect();
        let leaf = chain.first()?.clone();
        Some(client_cert(chain, &leaf))
    });
    TlsPeer {
        alpn: tls.alpn_protocol().map(<[u8]>::to_vec),
        server_name: tls.server_name().map(str::to_owned),
        client_cert,
    }
}

/// Reads the identity facts of `leaf` (the chain's first certificate). A leaf that rustls
/// verified but x509-parser cannot read yields a certificate with no identity facts.
pub(crate) fn client_cert(
    chain: Vec<CertificateDer<'static>>,
    leaf: &CertificateDer<'_>,
) -> ClientCert {
    let mut cert =
        ClientCert { chain, common_name: None, dns_names: Vec::new(), ip_addresses: Vec::new() };
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        tracing::warn!("transport: verified client certificate could not be parsed for identity");
        return cert;
    };
    cert.common_name = parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => cert.dns_names.push((*d).to_owned()),
                GeneralName::IPAddress(raw) => {
                    if let Some(ip) = ip_from_bytes(raw) {
                        cert.ip_addresses.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    cert
}

fn ip_from_bytes(raw: &[u8]) -> Option<IpAddr> {
    match raw.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))),
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(raw);
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cn_and_sans() {
        let mut params = rcgen::CertificateParams::new(vec!["node1.example".to_owned()]).unwrap();
        params.subject_alt_names.push(rcgen::SanType::IpAddress("10.0.0.7".parse().unwrap()));
        params.subject_alt_names.push(rcgen::SanType::IpAddress("::1".parse().unwrap()));
        params.distinguished_name.push(rcgen::DnType::CommonName, "alice");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().clone();
        let c = client_cert(vec![der.clone()], &der);
        assert_eq!(c.common_name.as_deref(), Some("alice"));
        assert_eq!(c.dns_names, vec!["node1.example".to_owned()]);
        assert_eq!(
            c.ip_addresses,
            vec!["10.0.0.7".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
        );
    }

    #[test]
    fn garbage_leaf_has_no_identity() {
        let der = CertificateDer::from(vec![0x30, 0x03, 1, 2, 3]);
        let c = client_cert(vec![der.clone()], &der);
        assert_eq!(c.common_name, None);
        assert!(c.dns_names.is_empty());
    }
}
